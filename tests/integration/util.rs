//! The harness: a `pverec` command with a fixed environment, fixture paths, temp dirs.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// `pverec` with a fixed time zone (the log times in the fixtures carry their own offset; only
/// `--since` with a local time depends on it).
pub(crate) fn pverec() -> Command {
    let mut cmd = Command::cargo_bin("pverec").expect("the pverec binary is built");
    cmd.env("TZ", "UTC")
        .env("LC_ALL", "C")
        .env_remove("NO_COLOR");
    cmd
}

pub(crate) fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("pverec")
}

/// A file under `tests/data/`.
pub(crate) fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Copies a fixture directory (an `/etc/pve` tree) to change it in a test.
pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Standard output of a successful run, as text.
pub(crate) fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().expect("pverec runs");
    assert!(
        out.status.success(),
        "pverec failed: {:?}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("output is UTF-8")
}

/// Runs `pverec ARGS` on a log made of `lines` and returns its stdout lines.
pub(crate) fn convert_lines(lines: &[&str], args: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let text = stdout_of(pverec().arg("convert").args(args).arg(&log));
    text.lines().map(str::to_string).collect()
}

/// JSON records of `pverec convert -f json --all` on `lines`.
pub(crate) fn records(lines: &[&str], args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["-f", "json"];
    all.extend_from_slice(args);
    convert_lines(lines, &all)
        .iter()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

/// Writes a gzip member of `data`.
pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// The path of `program`, a tool a test runs (logrotate, script, groff, …), looked up in PATH
/// and in /usr/sbin and /sbin, where Debian puts logrotate and a user's PATH does not reach.
/// A missing tool fails the test with what to do, never a bare "No such file" panic: the tests'
/// tools are listed and installed by `make test-deps` (scripts/test-deps.sh).
pub(crate) fn require_tool(program: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain(["/usr/sbin".into(), "/sbin".into()]);
    for dir in dirs {
        let candidate = dir.join(program);
        let executable = std::fs::metadata(&candidate).is_ok_and(|m| {
            use std::os::unix::fs::PermissionsExt;
            m.is_file() && m.permissions().mode() & 0o111 != 0
        });
        if executable {
            return candidate;
        }
    }
    panic!(
        "{program} is not installed, and this test runs it: run `make test-deps` \
         (scripts/test-deps.sh installs what the tests need, or names it)"
    );
}

/// Whether `line` is one of the pvesh format's "who and when" lines:
/// `# 2026-06-24 14:03:14+02:00 alice@pve from 192.168.10.23`.
pub(crate) fn is_who_line(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("# ") else {
        return false;
    };
    let shape = b"dddd-dd-dd dd:dd:dd+dd:dd ";
    rest.len() > shape.len()
        && rest.bytes().zip(shape).all(|(b, &s)| match s {
            b'd' => b.is_ascii_digit(),
            b'+' => b == b'+' || b == b'-',
            _ => b == s,
        })
}

/// The lines of pvesh-format output without its "who and when" lines, for tests about the
/// other lines.
pub(crate) fn without_who(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !is_who_line(l))
        .map(str::to_string)
        .collect()
}

/// Every byte but letters and digits as `%XX`: a value as the UI's requests may carry it.
pub(crate) fn percent_encode_all(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
