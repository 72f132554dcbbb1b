#![no_main]
//! `pverec::fuzzing::session_lines` on arbitrary bytes.

libfuzzer_sys::fuzz_target!(|data: &[u8]| pverec::fuzzing::session_lines(data));
