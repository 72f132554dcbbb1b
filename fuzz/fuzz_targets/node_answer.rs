#![no_main]
//! `pverec::fuzzing::node_answer` on arbitrary bytes.

libfuzzer_sys::fuzz_target!(|data: &[u8]| pverec::fuzzing::node_answer(data));
