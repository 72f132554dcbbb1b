#![no_main]
//! `pverec::fuzzing::access_line` on arbitrary bytes.

libfuzzer_sys::fuzz_target!(|data: &[u8]| pverec::fuzzing::access_line(data));
