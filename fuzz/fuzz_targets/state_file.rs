#![no_main]
//! `pverec::fuzzing::state_file` on arbitrary state-file contents, beside a small access.log and
//! its rotated generation. The log is at a fixed path, `fuzz/state-dir/access.log` of this checkout,
//! the one the seed state (made by `scripts/fuzz.py` with a real `pverec follow --state`) names.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Where the log is; the same in `scripts/fuzz.py`.
const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/state-dir");

/// One line of the log, and of its rotation; the same in `scripts/fuzz.py`.
const LINE: &str =
    "::1 - root@pam [24/06/2026:14:00:00 +0200] \"GET /api2/json/version HTTP/1.1\" 200 80\n";

fn dir() -> &'static Path {
    static MADE: std::sync::Once = std::sync::Once::new();
    MADE.call_once(|| {
        std::fs::create_dir_all(DIR).expect("the log directory");
        let log = Path::new(DIR).join("access.log");
        if !log.exists() {
            std::fs::write(&log, LINE.repeat(3)).expect("the log");
            std::fs::write(Path::new(DIR).join("access.log.1"), LINE.repeat(2))
                .expect("its rotation");
        }
    });
    Path::new(DIR)
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    {
        let dir = dir();
        let state = dir.join(format!("state-{}", std::process::id()));
        let _ = std::fs::remove_file(&state);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&state)
            .expect("the state file");
        file.write_all(data).expect("the state written");
        drop(file);
        pverec::fuzzing::state_file(&state, &dir.join("access.log"));
    }
});
