#![no_main]
//! `pverec::fuzzing::user_id` on arbitrary bytes.

libfuzzer_sys::fuzz_target!(|data: &[u8]| pverec::fuzzing::user_id(data));
