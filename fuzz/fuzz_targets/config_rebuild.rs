#![no_main]
//! `pverec::fuzzing::config_rebuild` on arbitrary bytes.

libfuzzer_sys::fuzz_target!(|data: &[u8]| pverec::fuzzing::config_rebuild(data));
