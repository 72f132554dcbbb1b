#![no_main]
//! `pverec::fuzzing::said_message` on arbitrary bytes.

libfuzzer_sys::fuzz_target!(|data: &[u8]| pverec::fuzzing::said_message(data));
