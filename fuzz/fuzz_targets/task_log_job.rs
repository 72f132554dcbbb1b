#![no_main]
//! `pverec::fuzzing::task_log_job` on arbitrary bytes.

libfuzzer_sys::fuzz_target!(|data: &[u8]| pverec::fuzzing::task_log_job(data));
