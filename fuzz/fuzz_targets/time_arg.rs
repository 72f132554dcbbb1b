#![no_main]
//! `pverec::fuzzing::time_arg` on arbitrary bytes.

libfuzzer_sys::fuzz_target!(|data: &[u8]| pverec::fuzzing::time_arg(data));
