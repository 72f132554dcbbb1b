#![no_main]
//! `pverec::fuzzing::request_line` on arbitrary bytes.

libfuzzer_sys::fuzz_target!(|data: &[u8]| pverec::fuzzing::request_line(data));
