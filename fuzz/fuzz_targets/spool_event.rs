#![no_main]
//! `pverec::fuzzing::spool_event` on arbitrary bytes.

libfuzzer_sys::fuzz_target!(|data: &[u8]| pverec::fuzzing::spool_event(data));
