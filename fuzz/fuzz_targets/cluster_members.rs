#![no_main]
//! `pverec::fuzzing::cluster_members` on arbitrary bytes.

libfuzzer_sys::fuzz_target!(|data: &[u8]| pverec::fuzzing::cluster_members(data));
