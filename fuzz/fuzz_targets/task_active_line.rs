#![no_main]
//! `pverec::fuzzing::task_active_line` on arbitrary bytes.

libfuzzer_sys::fuzz_target!(|data: &[u8]| pverec::fuzzing::task_active_line(data));
