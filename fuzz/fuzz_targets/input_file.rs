#![no_main]
//! `pverec::fuzzing::input_file` on arbitrary file contents (plain or gzip).

use std::io::Write;

thread_local! {
    static DIR: tempfile::TempDir = tempfile::tempdir().expect("a temporary directory");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    DIR.with(|dir| {
        let path = dir.path().join("access.log");
        let mut file = std::fs::File::create(&path).expect("the input file");
        file.write_all(data).expect("the input written");
        drop(file);
        pverec::fuzzing::input_file(&path);
    });
});
