#![no_main]
//! `pverec::fuzzing::task_index_line` on arbitrary bytes.

libfuzzer_sys::fuzz_target!(|data: &[u8]| pverec::fuzzing::task_index_line(data));
