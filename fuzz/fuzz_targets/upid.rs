#![no_main]
//! `pverec::fuzzing::upid` on arbitrary bytes.

libfuzzer_sys::fuzz_target!(|data: &[u8]| pverec::fuzzing::upid(data));
