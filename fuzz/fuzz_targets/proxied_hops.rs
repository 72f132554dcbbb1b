#![no_main]
//! `pverec::fuzzing::proxied_hops` on arbitrary bytes.

libfuzzer_sys::fuzz_target!(|data: &[u8]| pverec::fuzzing::proxied_hops(data));
