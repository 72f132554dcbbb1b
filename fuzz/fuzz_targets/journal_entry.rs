#![no_main]
//! `pverec::fuzzing::journal_entry` on arbitrary bytes.

libfuzzer_sys::fuzz_target!(|data: &[u8]| pverec::fuzzing::journal_entry(data));
