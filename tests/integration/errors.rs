//! Bad input and hostile conditions: malformed lines, unreadable files, corrupt gzip, a closed
//! stdout, arbitrary bytes. Exit codes scripts can trust; no panic; nothing lost.

use std::io::Read;
use std::process::{Command, Stdio};

use proptest::prelude::*;

use crate::util::*;

fn write_line(vmid: u32) -> String {
    format!(
        r#"::1 - root@pam [24/06/2026:14:00:00 +0200] "PUT /api2/json/nodes/pve1/qemu/{vmid}/config HTTP/1.1" 200 5"#
    )
}

#[test]
fn malformed_lines_are_reported_with_file_and_line_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let mut text = write_line(1) + "\n";
    for _ in 0..12 {
        text.push_str("garbage\n");
    }
    text.push_str(&(write_line(2) + "\n"));
    std::fs::write(&log, text).unwrap();
    let out = pverec()
        .args(["convert", "--no-comments"])
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "malformed lines do not fail the run"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "pvesh set /nodes/pve1/qemu/1/config\npvesh set /nodes/pve1/qemu/2/config\n"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 11, "{err}");
    let name = log.display().to_string();
    assert_eq!(
        lines[0],
        format!(
            "pverec: {name}:2: not an access.log line (CLIENT - USER [TIME] \"REQUEST\" STATUS LENGTH) (line skipped)"
        )
    );
    assert!(lines[9].starts_with(&format!("pverec: {name}:11: ")));
    assert_eq!(
        lines[10],
        "pverec: 12 malformed lines skipped in all, 2 more than shown above"
    );
}

#[test]
fn unreadable_file_is_reported_the_rest_converted_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.log");
    std::fs::write(&good, write_line(7) + "\n").unwrap();
    let missing = dir.path().join("missing.log");
    let out = pverec()
        .args(["convert", "--no-comments"])
        .arg(&missing)
        .arg(&good)
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "pvesh set /nodes/pve1/qemu/7/config\n"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "pverec: {}: No such file or directory",
            missing.display()
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("pverec: {}: is a directory", dir.path().display())),
        "{err}"
    );
}

#[test]
fn default_log_missing_is_named() {
    if std::path::Path::new("/var/log/pveproxy/access.log").exists() {
        return; // on a PVE node the default log exists; covered by the temp-file tests
    }
    // Standard input must not be a pipe: it would be read instead.
    let out = Command::new(bin())
        .arg("convert")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("/var/log/pveproxy/access.log: No such file or directory")
    );
}

#[test]
fn corrupt_gzip_keeps_what_was_read_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let mut body = String::new();
    for vmid in 0..2000 {
        body.push_str(&(write_line(vmid) + "\n"));
    }
    let mut data = gzip(body.as_bytes());
    let cut = data.len() - 20;
    data.truncate(cut);
    data.extend_from_slice(b"not gzip at all");
    let file = dir.path().join("broken.gz");
    std::fs::write(&file, data).unwrap();
    let other = dir.path().join("after.log");
    std::fs::write(&other, write_line(99999) + "\n").unwrap();
    let out = pverec()
        .args(["convert", "--no-comments"])
        .arg(&file)
        .arg(&other)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().count() > 1000,
        "what decompressed is converted"
    );
    assert!(
        text.ends_with("pvesh set /nodes/pve1/qemu/99999/config\n"),
        "the next file is still read"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "pverec: {}: read error after line",
            file.display()
        )),
        "{err}"
    );
}

#[test]
fn closed_stdout_exits_0_silently() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let mut body = String::new();
    for vmid in 0..200_000 {
        body.push_str(&(write_line(vmid) + "\n"));
    }
    std::fs::write(&log, body).unwrap();
    let mut child = Command::new(bin())
        .arg("convert")
        .arg(&log)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    drop(child.stdout.take()); // like `| head -1`
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(err, "");
}

#[test]
fn progress_only_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("big.log");
    let line = write_line(1) + "\n";
    let body = line.repeat((80 << 20) / line.len());
    std::fs::write(&log, body).unwrap();
    // stderr not a terminal: nothing on stderr.
    let out = Command::new(bin())
        .arg("convert")
        .arg(&log)
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    // stderr a terminal (script(1) gives a pty), stdout a file: a progress display.
    let cmd = format!("{} convert {} > /dev/null", bin().display(), log.display());
    let out = Command::new(require_tool("script"))
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let tty = String::from_utf8_lossy(&out.stdout);
    assert!(tty.contains("pverec: ") && tty.contains("MiB"), "{tty:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Arbitrary bytes never panic pverec; every well-formed line still comes out.
    #[test]
    fn arbitrary_bytes_never_panic(noise in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..120), 0..40)) {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("access.log");
        let mut data = Vec::new();
        for (i, n) in noise.iter().enumerate() {
            data.extend_from_slice(n);
            data.push(b'\n');
            data.extend_from_slice(write_line(i as u32).as_bytes());
            data.push(b'\n');
        }
        std::fs::write(&log, &data).unwrap();
        for format in ["pvesh", "json", "script"] {
            let out = pverec().args(["convert", "--all", "-f", format]).arg(&log).output().unwrap();
            prop_assert_eq!(out.status.code(), Some(0));
            let err = String::from_utf8_lossy(&out.stderr);
            prop_assert!(!err.contains("panicked"));
            let text = String::from_utf8_lossy(&out.stdout);
            for i in 0..noise.len() {
                let want = format!("/nodes/pve1/qemu/{i}/config");
                prop_assert!(text.contains(&want), "{} missing", want);
            }
        }
    }
}
