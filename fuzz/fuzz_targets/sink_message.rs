#![no_main]
//! `pverec::fuzzing::sink_message` on arbitrary bytes.

libfuzzer_sys::fuzz_target!(|data: &[u8]| pverec::fuzzing::sink_message(data));
