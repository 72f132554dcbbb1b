#![no_main]
//! The quoting round trip: a word pverec writes (`pverec::fuzzing::quote_word`) is read back
//! by bash as exactly its bytes, in one argument, under UTF-8 and under GBK, whose two-byte
//! characters may end in `\` (issue 11, finding 1). The GBK locale is compiled once with
//! glibc's `localedef` (package `locales`) into `fuzz/state-dir/locales`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn locales() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("state-dir/locales");
        std::fs::create_dir_all(&dir).expect("the locale directory");
        if !dir.join("zh_CN.GBK").exists() {
            let made = Command::new("localedef")
                .args(["-i", "zh_CN", "-f", "GBK"])
                .arg(dir.join("zh_CN.GBK"))
                .status()
                .expect("localedef runs (package locales)");
            assert!(made.success(), "localedef -i zh_CN -f GBK failed");
        }
        dir
    })
}

/// What bash makes of `line` (`printf %s` of its one argument), in `locale`.
fn bash_reads(line: &[u8], locale: &str) -> Vec<u8> {
    let script = [b"printf %s ".as_slice(), line].concat();
    let out = Command::new("bash")
        .arg("-c")
        .arg(std::ffi::OsStr::from_encoded_bytes_unchecked_safe(&script))
        .env_clear()
        .env("LOCPATH", locales())
        .env("LC_ALL", locale)
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "bash failed on {:?}",
        String::from_utf8_lossy(line)
    );
    out.stdout
}

trait FromBytes {
    fn from_encoded_bytes_unchecked_safe(bytes: &[u8]) -> std::ffi::OsString;
}

impl FromBytes for std::ffi::OsStr {
    fn from_encoded_bytes_unchecked_safe(bytes: &[u8]) -> std::ffi::OsString {
        use std::os::unix::ffi::OsStringExt;
        std::ffi::OsString::from_vec(bytes.to_vec())
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.contains(&0) || data.len() > 256 {
        return;
    }
    let word = pverec::fuzzing::quote_word(data);
    for locale in ["C.UTF-8", "zh_CN.GBK"] {
        assert_eq!(bash_reads(&word, locale), data, "read back in {locale}");
    }
});
