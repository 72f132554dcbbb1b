#![no_main]
//! `pverec::fuzzing::query` on arbitrary bytes.

libfuzzer_sys::fuzz_target!(|data: &[u8]| pverec::fuzzing::query(data));
