//! Issue 11, findings 1 and 5: what pverec prints parses to the intended argv in every locale
//! bash runs in (the CJK double-byte charsets included), and no invisible or format character,
//! from a log or from the command line, reaches the terminal raw.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::util::*;

/// The locales pverec's output is run in: UTF-8, and the glibc charsets in which a byte
/// ≥ 0x80 takes a following `\` (0x5C) as its trail byte. `(source, charmap, name)`.
const CJK_LOCALES: &[(&str, &str, &str)] = &[
    ("zh_CN", "GBK", "zh_CN.GBK"),
    ("zh_CN", "GB18030", "zh_CN.GB18030"),
    ("zh_TW", "BIG5", "zh_TW.BIG5"),
    ("zh_HK", "BIG5-HKSCS", "zh_HK.BIG5-HKSCS"),
    ("ja_JP", "SHIFT_JIS", "ja_JP.SJIS"),
];

/// C.UTF-8 and every locale of [`CJK_LOCALES`], for `LC_ALL` with `LOCPATH` = [`locpath`].
pub(crate) fn locales() -> impl Iterator<Item = &'static str> {
    std::iter::once("C.UTF-8").chain(CJK_LOCALES.iter().map(|&(_, _, name)| name))
}

/// A `LOCPATH` with [`CJK_LOCALES`] compiled by `localedef` (Debian package `locales`), once per
/// test run: nextest runs each test in its own process, so they go to one directory of the
/// target dir, each renamed into place when complete. Each is checked to load. Fails, never
/// skips.
pub(crate) fn locpath() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cjk-locales-1");
        std::fs::create_dir_all(&dir).unwrap();
        let localedef = require_tool("localedef");
        std::thread::scope(|s| {
            for &(source, charmap, name) in CJK_LOCALES {
                let (dir, localedef) = (&dir, &localedef);
                s.spawn(move || {
                    let done = dir.join(name);
                    if !done.exists() {
                        let tmp = dir.join(format!(".{name}.{}", std::process::id()));
                        // Shift-JIS is not ASCII compatible (0x5C is YEN SIGN): a warning.
                        let out = Command::new(localedef)
                            .args(["--no-warnings=ascii", "-i", source, "-f", charmap])
                            .arg(&tmp)
                            .output()
                            .unwrap();
                        assert!(
                            out.status.success(),
                            "localedef -i {source} -f {charmap} (apt-get install locales): {}",
                            String::from_utf8_lossy(&out.stderr)
                        );
                        // Another test process may have been first: either copy will do.
                        if std::fs::rename(&tmp, &done).is_err() {
                            let _ = std::fs::remove_dir_all(&tmp);
                        }
                    }
                    let out = Command::new("locale")
                        .arg("charmap")
                        .env("LOCPATH", dir)
                        .env("LC_ALL", name)
                        .output()
                        .unwrap();
                    assert_eq!(
                        String::from_utf8_lossy(&out.stdout).trim(),
                        charmap,
                        "{name} does not load"
                    );
                });
            }
        });
        dir
    })
}

/// A directory with a `pvesh` that prints its arguments, each followed by a NUL.
fn fake_pvesh(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let pvesh = bin.join("pvesh");
    std::fs::write(&pvesh, "#!/bin/sh\nprintf '%s\\0' \"$@\"\n").unwrap();
    std::fs::set_permissions(&pvesh, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// Runs `script` with bash in `locale`, the fake pvesh first on PATH; its stdout.
fn run_in_bash(script: &[u8], locale: &str, bin: &Path, cwd: &Path) -> Vec<u8> {
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let out = Command::new("bash")
        .arg("-c")
        .arg(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(script))
        .current_dir(cwd)
        .env_clear()
        .env("PATH", path)
        .env("LOCPATH", locpath())
        .env("LC_ALL", locale)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "bash in {locale}: {:?}\n{}\nscript: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(script)
    );
    out.stdout
}

/// The reproduction of finding 1: under GBK, `\xe3\x81` is one character and `\x81\x5c` another,
/// so a raw `\xe3\x81\x81` before `\'` ate the backslash, ended the `$'…'` word and ran
/// `echo INJECTED`. The pvesh line and the script must give pvesh exactly the logged argv in
/// every locale, and run nothing else.
#[test]
fn cjk_lead_byte_in_a_query_does_not_inject() {
    let dir = tempfile::tempdir().unwrap();
    let bin = fake_pvesh(dir.path());
    // The issue's query, and one whose tail is a comment, so that the injected command runs
    // without a syntax error after it.
    for (query, digest) in [
        (
            "%01%E3%81%81%27%3B%20echo%20INJECTED",
            &b"\x01\xe3\x81\x81'; echo INJECTED"[..],
        ),
        (
            "%01%E3%81%81%27%3B%20echo%20INJECTED%20%23",
            b"\x01\xe3\x81\x81'; echo INJECTED #",
        ),
    ] {
        let log = dir.path().join("access.log");
        std::fs::write(
            &log,
            format!(
                "::1 - root@pam [24/06/2026:14:00:00 +0200] \"DELETE \
                 /api2/json/cluster/firewall/ipset/fuzz/1.2.3.4?digest={query} HTTP/1.1\" 200 5\n"
            ),
        )
        .unwrap();
        let want: Vec<&[u8]> = vec![
            b"delete",
            b"/cluster/firewall/ipset/fuzz/1.2.3.4",
            b"--digest",
            digest,
        ];
        let want: Vec<u8> = want
            .iter()
            .flat_map(|w| w.iter().copied().chain([0]))
            .collect();
        for format in ["pvesh", "script"] {
            let out = pverec()
                .args(["convert", "--all", "-f", format])
                .arg(&log)
                .output()
                .unwrap();
            assert!(out.status.success(), "{format}");
            for locale in locales() {
                let got = run_in_bash(&out.stdout, locale, &bin, dir.path());
                assert_eq!(
                    String::from_utf8_lossy(&got),
                    String::from_utf8_lossy(&want),
                    "{format} of {query} in {locale}"
                );
            }
            // Nothing in it that a charset could read differently.
            assert!(
                out.stdout.is_ascii(),
                "{format}: {:?}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }
}

/// Characters a terminal shows as nothing, or that reorder or hide what is around them: from
/// each range of Cf, Zl, Zp and Default_Ignorable_Code_Point that the old hand-made list missed,
/// and from the ones it had.
const INVISIBLE: &[char] = &[
    '\u{ad}',
    '\u{34f}',
    '\u{61c}',
    '\u{115f}',
    '\u{1160}',
    '\u{17b4}',
    '\u{180e}',
    '\u{200b}',
    '\u{2028}',
    '\u{2029}',
    '\u{202e}',
    '\u{2064}',
    '\u{206f}',
    '\u{3164}',
    '\u{fe00}',
    '\u{fe0f}',
    '\u{feff}',
    '\u{ffa0}',
    '\u{fff0}',
    '\u{fff9}',
    '\u{fffb}',
    '\u{1bca0}',
    '\u{1d173}',
    '\u{e0001}',
    '\u{e0100}',
    '\u{e0fff}',
    '\u{600}',
    '\u{110bd}',
];

/// `%XX` of every UTF-8 byte of `c`.
fn percent(c: char) -> String {
    c.to_string().bytes().map(|b| format!("%{b:02X}")).collect()
}

/// Whether `out` holds one of [`INVISIBLE`] raw.
fn raw_invisible(out: &[u8]) -> Option<char> {
    String::from_utf8_lossy(out)
        .chars()
        .find(|c| INVISIBLE.contains(c))
}

/// Every string in `value`, appended to `out`.
fn all_strings(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::String(s) => out.push_str(s),
        serde_json::Value::Array(items) => items.iter().for_each(|v| all_strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| all_strings(v, out)),
        _ => {}
    }
}

/// Finding 5: every character of [`INVISIBLE`], in an API call's path and query, in a line that
/// is no API call (shown as a comment) and in a file name in a message, comes out escaped in
/// every format.
#[test]
fn invisible_characters_are_escaped_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let mut text = String::new();
    for &c in INVISIBLE {
        let p = percent(c);
        text.push_str(&format!(
            "::1 - root@pam [24/06/2026:14:00:00 +0200] \"PUT \
             /api2/json/nodes/pve1/qemu/100/config?description=a{p}b HTTP/1.1\" 200 5\n\
             ::1 - root@pam [24/06/2026:14:00:00 +0200] \"DELETE \
             /api2/json/cluster/firewall/ipset/x{p}/1.2.3.4 HTTP/1.1\" 200 5\n"
        ));
        // Raw in the line: not an API call, so shown whole in a comment.
        text.push_str(&format!(
            "::1 - root@pam [24/06/2026:14:00:00 +0200] \"GET /x{c}y HTTP/1.1\" 200 5\n"
        ));
    }
    std::fs::write(&log, &text).unwrap();
    for format in ["pvesh", "script", "json", "json-pretty"] {
        let out = pverec()
            .args(["convert", "--all", "--show-secrets", "-f", format])
            .arg(&log)
            .output()
            .unwrap();
        assert!(out.status.success(), "{format}");
        assert!(
            out.stdout.len() > 3 * INVISIBLE.len() * 20,
            "{format}: every line printed"
        );
        assert_eq!(raw_invisible(&out.stdout), None, "{format}");
        assert_eq!(raw_invisible(&out.stderr), None, "{format} stderr");
        if format.starts_with("json") {
            // The same values: JSON readers decode the `\uHHHH` escapes back.
            let records: Vec<serde_json::Value> = serde_json::Deserializer::from_slice(&out.stdout)
                .into_iter()
                .collect::<Result<_, _>>()
                .unwrap();
            let mut decoded = String::new();
            records.iter().for_each(|r| all_strings(r, &mut decoded));
            for &c in INVISIBLE {
                assert!(decoded.contains(c), "{c:?} decoded back in {format}");
            }
        }
    }

    // A message naming a file whose name holds them.
    let name: String = INVISIBLE.iter().flat_map(|&c| [c, 'x']).collect();
    let out = pverec()
        .args(["convert", "--all"])
        .arg(dir.path().join(&name))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!out.stderr.is_empty());
    assert_eq!(
        raw_invisible(&out.stderr),
        None,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Finding 5, clap: a usage error quotes the argument that was wrong; it is escaped as every
/// other message, exit status 2. Help and version are as clap prints them, exit status 0.
#[test]
fn usage_errors_do_not_echo_raw_arguments() {
    for args in [
        &["convert", "--since", "\x1b]0;pwned\x07\u{202e}x"][..],
        &["convert", "--\x1b[2Jbogus"],
        &["follow", "--format", "\u{2066}\x1b[31mred"],
        &["convert", "--class", "write,\u{ad}\x1b[8m"],
        &["convert", "--since", "2h", "--until", "\u{fff9}\u{9b}1m"],
        // pverec's own check after clap's.
        &["convert", "--since", "2h", "--until", "3h"],
    ] {
        let out = pverec().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(
            !stderr
                .chars()
                .any(|c| (c.is_control() && c != '\n') || INVISIBLE.contains(&c)),
            "{args:?}: {stderr:?}"
        );
    }
    // The escapes name the bytes.
    let out = pverec()
        .args(["convert", "--since", "\x1b]0;x"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(r"\x1b]0;x"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (args, stream) in [(&["--help"][..], "Usage:"), (&["--version"], "pverec ")] {
        let out = pverec().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(stream),
            "{args:?}"
        );
    }
}
