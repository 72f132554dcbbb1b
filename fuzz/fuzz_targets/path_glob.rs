#![no_main]
//! `pverec::fuzzing::path_glob` on arbitrary bytes.

libfuzzer_sys::fuzz_target!(|data: &[u8]| pverec::fuzzing::path_glob(data));
