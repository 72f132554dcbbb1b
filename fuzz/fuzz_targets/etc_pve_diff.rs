#![no_main]
//! `pverec::fuzzing::etc_pve_diff` on arbitrary bytes: two versions of a file, its halves.

libfuzzer_sys::fuzz_target!(|data: &[u8]| pverec::fuzzing::etc_pve_diff(data));
