#![no_main]
//! `pverec::fuzzing::etc_pve_files` on arbitrary bytes.

libfuzzer_sys::fuzz_target!(|data: &[u8]| pverec::fuzzing::etc_pve_files(data));
