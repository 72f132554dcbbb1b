//! Issue 10, `pverec follow` on day one: replayed history joined as convert joins it (item 1),
//! `follow FILE`, `-n N` and SIGHUP as for `tail -F` (item 11), a restart after a rotation
//! (item 14), a `--state` in a directory not made yet (item 15), and the same line lengths as
//! convert (item 18).
//!
//! The follower here is started with exactly the arguments a user types (no `--access-log` or
//! `--no-comments` added, unlike [`super::follower::Follower`]), so that outcome notes, which
//! are comments, are compared too.

use std::fs::{self, File};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime};

use super::follower::{DEADLINE, append, command, line, lines};
use super::util::{bin, data, pverec, stdout_of};

/// A running `pverec follow ARGS` in `dir`, its output going to files there.
struct Run {
    child: Option<Child>,
    out: PathBuf,
    err: PathBuf,
}

impl Run {
    fn start(dir: &Path, args: &[&str]) -> Run {
        Run::start_with(dir, args, |_| {})
    }

    /// Like [`Run::start`], with `setup` applied to the command before it is spawned.
    fn start_with(
        dir: &Path,
        args: &[&str],
        setup: impl FnOnce(&mut std::process::Command),
    ) -> Run {
        let n = (0..)
            .find(|n| !dir.join(format!("run-{n}.out")).exists())
            .unwrap_or(0);
        let out = dir.join(format!("run-{n}.out"));
        let err = dir.join(format!("run-{n}.err"));
        let mut cmd = std::process::Command::new(bin());
        cmd.current_dir(dir)
            .env("TZ", "UTC")
            .env("LC_ALL", "C")
            .arg("follow")
            .args(args)
            .stdin(Stdio::null())
            .stdout(File::create(&out).unwrap())
            .stderr(File::create(&err).unwrap());
        setup(&mut cmd);
        let child = cmd.spawn().expect("pverec starts");
        Run {
            child: Some(child),
            out,
            err,
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    fn output(&self) -> Vec<String> {
        fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn stderr(&self) -> String {
        fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// Polls `done` until it holds, failing after [`DEADLINE`] with the output so far.
    fn wait_until(&self, what: &str, mut done: impl FnMut() -> bool) {
        let start = Instant::now();
        let mut delay = Duration::from_millis(2);
        while !done() {
            assert!(
                start.elapsed() < DEADLINE,
                "timed out waiting for {what}\nstdout:\n{}\nstderr:\n{}",
                self.output().join("\n"),
                self.stderr()
            );
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(100));
        }
    }

    /// Whether the process sleeps (in its wait for changes, once it has started).
    fn sleeping(&self) -> bool {
        let Ok(stat) = fs::read_to_string(format!("/proc/{}/stat", self.pid())) else {
            return false;
        };
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('S'))
    }

    /// Whether pverec has `path` open.
    fn has_open(&self, path: &Path) -> bool {
        let Ok(want) = fs::metadata(path) else {
            return false;
        };
        let Ok(fds) = fs::read_dir(format!("/proc/{}/fd", self.pid())) else {
            return false;
        };
        fds.flatten().any(|fd| {
            fs::metadata(fd.path()).is_ok_and(|m| m.ino() == want.ino() && m.dev() == want.dev())
        })
    }

    /// Waits until pverec follows `log` and sleeps waiting for changes.
    fn wait_ready(&self, log: &Path) {
        self.wait_until("pverec to open the log and wait", || {
            self.has_open(log) && self.sleeping()
        });
    }

    /// Waits until the output has `n` lines (and pverec waits for more), then stops it with
    /// SIGTERM, which must end it with status 0; returns the whole output.
    fn output_of(&mut self, n: usize) -> Vec<String> {
        self.wait_until(&format!("{n} lines of output"), || {
            self.output().len() >= n && self.sleeping()
        });
        let status = self.stop_with(libc::SIGTERM);
        assert!(status.success(), "{status:?}\n{}", self.stderr());
        self.output()
    }

    fn stop_with(&mut self, signal: i32) -> ExitStatus {
        let mut child = self.child.take().expect("still running");
        // SAFETY: kill(2) on the pid of a child we own and have not reaped yet.
        unsafe { libc::kill(child.id() as i32, signal) };
        child.wait().expect("pverec exits")
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn s(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// A copy of tests/data/tasks (task index, access.log, spool events) in a temporary directory.
fn tasks_fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in fs::read_dir(data("tasks")).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

/// `pverec convert --node pve1 --tasks DIR EXTRA FILE` in `dir`.
fn convert(dir: &Path, file: &str, extra: &[&str]) -> Vec<String> {
    let text = stdout_of(
        pverec()
            .current_dir(dir)
            .args(["convert", "--node", "pve1", "--tasks", "."])
            .args(extra)
            .arg(file),
    );
    text.lines().map(str::to_string).collect()
}

/// Item 1, the reproduction of the issue: `follow --since` replays access.log and shows what
/// convert shows of it: the same commands, the same task outcomes (`failed: start failed: QEMU
/// exited with code 1`), and, with `--all`, the same tasks without a request, once.
#[test]
fn since_history_is_joined_as_convert_joins_it() {
    for extra in [&[][..], &["--all"][..]] {
        let dir = tasks_fixture();
        let expected = convert(dir.path(), "access.log", extra);
        assert!(
            expected
                .iter()
                .any(|l| l.ends_with("failed: start failed: QEMU exited with code 1")),
            "{expected:#?}"
        );
        let mut args = vec![
            "--node",
            "pve1",
            "--tasks",
            ".",
            "--access-log",
            "access.log",
        ];
        args.extend_from_slice(&["--since", "2026-06-01"]);
        args.extend_from_slice(extra);
        let mut run = Run::start(dir.path(), &args);
        let got = run.output_of(expected.len());
        assert_eq!(got, expected, "with {extra:?}");
    }
}

/// Item 1, the same after a restart from `--state` that was stopped for over a minute: what was
/// logged meanwhile comes out as convert shows those lines, outcomes and lone tasks included.
#[test]
fn restart_history_is_joined_as_convert_joins_it() {
    for extra in [&[][..], &["--all"][..]] {
        let dir = tasks_fixture();
        let whole = fs::read_to_string(dir.path().join("access.log")).unwrap();
        let (before, after): (Vec<&str>, Vec<&str>) = {
            let all: Vec<&str> = whole.lines().collect();
            (all[..6].to_vec(), all[6..].to_vec())
        };
        let log = dir.path().join("access.log");
        fs::write(&log, before.join("\n") + "\n").unwrap();
        fs::write(dir.path().join("later.log"), after.join("\n") + "\n").unwrap();
        let expected = convert(dir.path(), "later.log", extra);
        assert!(
            expected
                .iter()
                .any(|l| l.ends_with("failed: CT 300 already running")),
            "{expected:#?}"
        );

        let mut args = vec![
            "--node",
            "pve1",
            "--tasks",
            ".",
            "--access-log",
            "access.log",
        ];
        args.extend_from_slice(&["--state", "state"]);
        args.extend_from_slice(extra);
        let mut first = Run::start(dir.path(), &args);
        first.wait_ready(&log);
        let state = dir.path().join("state");
        first.wait_until("the state file", || state.exists());
        assert!(first.output_of(0).is_empty());

        append(&log, &(after.join("\n") + "\n"));
        // Stopped for two minutes, as far as the state file can tell.
        File::options()
            .write(true)
            .open(&state)
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(120))
            .unwrap();
        let mut run = Run::start(dir.path(), &args);
        let got = run.output_of(expected.len());
        assert_eq!(got, expected, "with {extra:?}");
    }
}

/// Item 11: `pverec follow FILE` follows FILE, like `--access-log FILE`; both at once is a usage
/// error.
#[test]
fn file_operand_is_the_log_to_follow() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    append(&log, &lines(0..2));
    let mut run = Run::start(dir.path(), &["--no-comments", s(&log)]);
    run.wait_ready(&log);
    append(&log, &lines(2..4));
    assert_eq!(run.output_of(2), [command(2), command(3)]);

    let out = pverec()
        .args(["follow", "--access-log", s(&log), s(&log)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot be used with"), "{err}");
}

/// A read (GET) by alice: not selected by default, so not counted by `-n`.
fn read_line(n: usize) -> String {
    line(n).replace(
        &format!("POST /api2/extjs/nodes/pve1/qemu/{n}/status/start"),
        "GET /api2/json/cluster/resources",
    )
}

/// Item 11: `-n N` shows the last N selected events of the log (reads between them are not
/// counted), then goes on live; without it nothing of the log as it was is shown.
#[test]
fn last_n_selected_events_then_live() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let mut text = String::new();
    for n in 0..5 {
        text += &line(n);
        text += &read_line(100 + n);
    }
    append(&log, &text);

    let mut run = Run::start(dir.path(), &["--no-comments", "-n", "2", s(&log)]);
    run.wait_ready(&log);
    run.wait_until("the last two events", || run.output().len() >= 2);
    append(&log, &line(5));
    assert_eq!(run.output_of(3), [command(3), command(4), command(5)]);

    let mut run = Run::start(dir.path(), &["--no-comments", "--lines", "9", s(&log)]);
    assert_eq!(run.output_of(6), (0..6).map(command).collect::<Vec<_>>());

    let mut run = Run::start(dir.path(), &["--no-comments", s(&log)]);
    run.wait_ready(&log);
    append(&log, &line(6));
    assert_eq!(run.output_of(1), [command(6)]);

    // Just after a rotation the last events are in access.log.1: -n reaches into it.
    fs::rename(&log, dir.path().join("access.log.1")).unwrap();
    append(&log, &line(7));
    let mut run = Run::start(dir.path(), &["--no-comments", "-n", "3", s(&log)]);
    run.wait_ready(&log);
    run.wait_until("the last three events", || run.output().len() >= 3);
    append(&log, &line(8));
    assert_eq!(
        run.output_of(4),
        [command(5), command(6), command(7), command(8)]
    );
}

/// Item 11: SIGHUP ends follow as SIGTERM does: what is there is read and flushed, the state
/// saved, exit status 0.
#[test]
fn sighup_ends_follow_like_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let state = dir.path().join("state");
    append(&log, &lines(0..1));
    let args = [
        "--no-comments",
        "--state",
        s(&state),
        "--access-log",
        s(&log),
    ];
    let mut run = Run::start_with(dir.path(), &args, |cmd| {
        use std::os::unix::process::CommandExt;
        // SAFETY: only signal(2), async-signal-safe, between fork and exec: SIGHUP back to its
        // default action, in case the test itself runs under nohup (pverec leaves an ignored
        // SIGHUP ignored).
        unsafe {
            cmd.pre_exec(|| {
                libc::signal(libc::SIGHUP, libc::SIG_DFL);
                Ok(())
            });
        }
    });
    run.wait_ready(&log);
    append(&log, &lines(1..3));
    run.wait_until("two lines", || run.output().len() >= 2 && run.sleeping());
    let status = run.stop_with(libc::SIGHUP);
    assert!(
        status.success(),
        "exit after SIGHUP: {status:?} (signal {:?})\n{}",
        status.signal(),
        run.stderr()
    );
    assert_eq!(run.output(), [command(1), command(2)]);
    let saved: serde_json::Value = serde_json::from_slice(&fs::read(&state).unwrap()).unwrap();
    let offset = fs::metadata(&log).unwrap().len();
    assert_eq!(
        saved["files"][0]["offset"].as_u64(),
        Some(offset),
        "{saved}"
    );
}

/// A file in `dir` with inode `ino`, if the file system hands it out again within a few
/// thousand creations (ext4 and tmpfs reuse a freed inode at once).
fn file_with_inode(dir: &Path, ino: u64) -> Option<PathBuf> {
    for i in 0..2_000 {
        let path = dir.join(format!("scratch-{i}"));
        File::create(&path).unwrap();
        if fs::metadata(&path).unwrap().ino() == ino {
            return Some(path);
        }
    }
    None
}

/// Item 14: a restart after a normal rotation (access.log renamed to access.log.1, a new
/// access.log) says "resuming after a rotation", never "rewritten or replaced", and what was
/// logged after the checkpoint comes out once.
#[test]
fn restart_after_rotation_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let one = dir.path().join("access.log.1");
    let args = [
        "--no-comments",
        "--state",
        "state",
        "--access-log",
        "access.log",
    ];
    append(&log, &lines(0..1));
    let mut run = Run::start(dir.path(), &args);
    run.wait_ready(&log);
    append(&log, &lines(1..2));
    assert_eq!(run.output_of(1), [command(1)]);

    // Rotated while pverec was stopped: a late line into the old file, then the new log.
    fs::rename(&log, &one).unwrap();
    append(&one, &lines(2..3));
    append(&log, &lines(3..4));
    let mut run = Run::start(dir.path(), &args);
    run.wait_ready(&log);
    append(&log, &lines(4..5));
    assert_eq!(run.output_of(3), [command(2), command(3), command(4)]);
    let err = run.stderr();
    assert!(
        err.contains("access.log: resuming after a rotation"),
        "{err}"
    );
    assert!(!err.contains("rewritten or replaced"), "{err}");
}

/// Item 14, as logrotate's `delaycompress` does it (seen with the PVE stanza): the state holds
/// the log and the `.1` still read after a rotation; while pverec is stopped, `.1` is
/// compressed to `.2.gz` and removed, the log becomes `.1`, and the new log gets the inode the
/// old `.1` had. That is a rotation too, not a log "rewritten or replaced".
#[test]
fn restart_after_delaycompress_rotation_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let one = dir.path().join("access.log.1");
    let args = [
        "--no-comments",
        "--state",
        "state",
        "--access-log",
        "access.log",
    ];
    append(&log, &lines(0..1));
    let mut run = Run::start(dir.path(), &args);
    run.wait_ready(&log);
    append(&log, &lines(1..2));
    fs::rename(&log, &one).unwrap();
    append(&log, &lines(2..3));
    run.wait_until("the new log open", || {
        run.has_open(&log) && run.output().len() >= 2
    });
    assert_eq!(run.output_of(2), [command(1), command(2)]);

    let old_one = fs::metadata(&one).unwrap().ino();
    fs::write(
        dir.path().join("access.log.2.gz"),
        super::util::gzip(&fs::read(&one).unwrap()),
    )
    .unwrap();
    fs::remove_file(&one).unwrap();
    fs::rename(&log, &one).unwrap();
    append(&one, &lines(3..4));
    match file_with_inode(dir.path(), old_one) {
        Some(reused) => {
            fs::write(&reused, lines(4..5)).unwrap();
            fs::rename(&reused, &log).unwrap();
        }
        None => {
            eprintln!("note: inode {old_one} was not reused; a plain new log");
            fs::write(&log, lines(4..5)).unwrap();
        }
    }
    let mut run = Run::start(dir.path(), &args);
    assert_eq!(run.output_of(2), [command(3), command(4)]);
    let err = run.stderr();
    assert!(
        err.contains("access.log: resuming after a rotation"),
        "{err}"
    );
    assert!(!err.contains("rewritten or replaced"), "{err}");
}

/// Item 15: `--state FILE` in directories that do not exist yet (the --help example
/// `--state /var/lib/pverec/state` on a fresh node): they are made, mode 0700.
#[test]
fn state_directories_are_made_private() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    append(&log, &lines(0..1));
    let state = dir.path().join("var/lib/pverec/state");
    let mut run = Run::start(dir.path(), &["--state", s(&state), "--access-log", s(&log)]);
    run.wait_ready(&log);
    run.wait_until("the state file", || state.exists());
    assert!(run.output_of(0).is_empty());
    for made in ["var", "var/lib", "var/lib/pverec"] {
        let mode = fs::metadata(dir.path().join(made))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "{made}");
    }
    let mode = fs::metadata(&state).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// A valid write request (a VM config PUT with a description) of exactly `len` bytes.
fn long_line(len: usize, fill: char) -> String {
    let head = "::ffff:192.168.10.23 - alice@pve [24/06/2026:14:03:14 +0200] \
                \"PUT /api2/json/nodes/pve1/qemu/100/config?description=";
    let tail = " HTTP/1.1\" 200 25";
    let fill = fill.to_string().repeat(len - head.len() - tail.len());
    let line = format!("{head}{fill}{tail}");
    assert_eq!(line.len(), len);
    line
}

/// Item 18: convert (a mapped file, a stream, a gzip file) and follow accept the same line
/// lengths: a 1 MiB line converts in both, a longer one is skipped by both with the same
/// `FILE:LINE:` report.
#[test]
fn convert_and_follow_accept_the_same_line_lengths() {
    const MIB: usize = 1 << 20;
    let dir = tempfile::tempdir().unwrap();
    let text = [long_line(MIB, 'a'), long_line(MIB + 1, 'b'), line(7)].join("\n") + "\n";
    let file = dir.path().join("long.log");
    fs::write(&file, &text).unwrap();
    fs::write(
        dir.path().join("long.log.gz"),
        super::util::gzip(text.as_bytes()),
    )
    .unwrap();
    let report = |name: &str| format!("{name}:2: line longer than 1048576 bytes");

    let mut converted = Vec::new();
    for (input, name) in [
        ("long.log", "long.log"),
        ("long.log.gz", "long.log.gz"),
        ("-", "-"),
    ] {
        let mut cmd = pverec();
        cmd.current_dir(dir.path())
            .args(["convert", "--no-comments", input]);
        if input == "-" {
            cmd.write_stdin(text.clone());
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&report(name)), "{input}: {err}");
        let got: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        assert_eq!(got.len(), 2, "{input}");
        assert!(got[0].len() > MIB - 200 && got[0].contains("--description aaaa"));
        assert_eq!(got[1], command(7));
        converted.push(got);
    }
    assert!(converted.windows(2).all(|w| w[0] == w[1]));

    let log = dir.path().join("access.log");
    fs::write(&log, "").unwrap();
    let mut run = Run::start(dir.path(), &["--no-comments", "--access-log", "access.log"]);
    run.wait_ready(&log);
    append(&log, &text);
    assert_eq!(run.output_of(2), converted[0]);
    let err = run.stderr();
    assert!(err.contains(&report("access.log")), "{err}");
}
