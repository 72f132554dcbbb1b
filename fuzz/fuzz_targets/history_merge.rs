#![no_main]
//! `pverec::fuzzing::history_merge` on arbitrary bytes, split at NUL bytes into up to five
//! generations of a rotated log (every other one gzip).

use std::io::Write;

thread_local! {
    static DIR: tempfile::TempDir = tempfile::tempdir().expect("a temporary directory");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    DIR.with(|dir| {
        let mut paths = Vec::new();
        for (i, part) in data.split(|&b| b == 0).take(5).enumerate() {
            let path = dir.path().join(format!("access.log.{i}"));
            let file = std::fs::File::create(&path).expect("a generation");
            if i % 2 == 1 {
                let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
                gz.write_all(part).expect("written");
                gz.finish().expect("finished");
            } else {
                let mut file = file;
                file.write_all(part).expect("written");
            }
            paths.push(path);
        }
        pverec::fuzzing::history_merge(&paths);
    });
});
