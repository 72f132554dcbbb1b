//! `pverec follow`: restart and checkpoint (`--state`), line handling, `--since`, and exit
//! statuses. Scenarios 24–36 of follow-scenarios.md, each with inotify and with --poll.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;

use super::follower::{BACKENDS, Follower, Scene, append, command, commands, line, lines, writer};
use super::util::gzip;

/// `path` as a `&str` argument.
fn s(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// `--state STATE` plus `extra`.
fn with_state<'a>(state: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--state", s(state)];
    args.extend_from_slice(extra);
    args
}

/// [`line`]`(n)` logged at `time` (`24/06/2026:10:00:00 +0200` form) instead of its fixed time.
fn at(n: usize, time: &str) -> String {
    line(n).replace("24/06/2026:14:03:14 +0200", time)
}

/// The log time of 24/06/2026 `hour:minute`:00 +0200, for [`at`].
fn at_time(hour: u32, minute: u32) -> String {
    format!("24/06/2026:{hour:02}:{minute:02}:00 +0200")
}

/// The state file as JSON, if it exists and parses.
fn state_json(state: &Path) -> Option<Value> {
    let text = fs::read(state).ok()?;
    serde_json::from_slice(&text).ok()
}

/// One entry of the state file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    ino: u64,
    offset: u64,
    line: u64,
    current: bool,
}

/// The entries of the state file (empty when there is none yet).
fn entries(state: &Path) -> Vec<Entry> {
    let Some(json) = state_json(state) else {
        return Vec::new();
    };
    json["files"]
        .as_array()
        .expect("files is an array")
        .iter()
        .map(|e| Entry {
            ino: e["ino"].as_u64().expect("ino"),
            offset: e["offset"].as_u64().expect("offset"),
            line: e["line"].as_u64().expect("line"),
            current: e["current"].as_bool().expect("current"),
        })
        .collect()
}

fn ino(path: &Path) -> u64 {
    fs::metadata(path).unwrap().ino()
}

fn size(path: &Path) -> u64 {
    fs::metadata(path).unwrap().len()
}

/// `path` with `suffix` appended to its name (`access.log` → `access.log.1`).
fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Writes raw bytes to the end of `path`, in one write.
fn append_bytes(path: &Path, bytes: &[u8]) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(bytes).unwrap();
}

/// Waits until the state file says that the log (as named now) was read to `offset`.
fn wait_checkpoint(f: &Follower, state: &Path, log: &Path, offset: u64) {
    let want = ino(log);
    f.wait_until(&format!("a checkpoint at offset {offset}"), || {
        entries(state)
            .iter()
            .any(|e| e.current && e.ino == want && e.offset == offset)
    });
}

/// Scenario 24, resume: run, SIGTERM, append, run again: only the new lines come out.
#[test]
fn resume_after_restart() {
    for backend in BACKENDS {
        let Scene { dir, log, state } = Scene::new(backend);
        let args = with_state(&state, &[]);
        append(&log, &lines(0..3));
        let mut f = Follower::start(dir.path(), &log, backend, &args);
        append(&log, &lines(3..6));
        f.expect_output(&commands(3..6));
        f.stop();

        append(&log, &lines(6..9));
        let mut f = Follower::start(dir.path(), &log, backend, &args);
        f.expect_output(&commands(6..9));
        append(&log, &lines(9..10));
        f.expect_output(&commands(6..10));
        f.stop();
    }
}

/// Scenario 25, rotation while stopped: the rest of `access.log.1` after the checkpoint comes
/// out (including a late write to it), it is not read again under its new name, and the new
/// `access.log` is read from its first byte.
#[test]
fn rotation_while_stopped() {
    for backend in BACKENDS {
        let Scene { dir, log, .. } = Scene::new(backend);
        let rotated = suffixed(&log, ".1");
        let state = dir.path().join("state.json");
        let args = with_state(&state, &[]);
        append(&log, &lines(0..2));
        let mut f = Follower::start(dir.path(), &log, backend, &args);
        append(&log, &lines(2..4));
        f.expect_output(&commands(2..4));
        f.stop();

        append(&log, &lines(4..6)); // after the checkpoint, before the rotation
        fs::rename(&log, &rotated).unwrap();
        append(&log, &lines(6..8)); // the new file
        append(&rotated, &lines(8..9)); // a late write by an old worker
        let mut f = Follower::start(dir.path(), &log, backend, &args);
        let mut want = commands(4..6);
        want.push(command(8));
        want.extend(commands(6..8));
        f.expect_output(&want);
        append(&log, &lines(9..10));
        want.push(command(9));
        f.expect_output(&want);
        f.stop();
    }
}

/// Scenario 26, copytruncate while stopped: noticed through `offset > size` (a shorter file
/// with the same first bytes) or through the bytes before the offset (the same first bytes,
/// regrown past the offset); either way only the new content is read, from 0.
#[test]
fn copytruncate_while_stopped() {
    for backend in BACKENDS {
        let Scene { dir, log, state } = Scene::new(backend);
        let args = with_state(&state, &[]);
        append(&log, &lines(0..2));
        let mut f = Follower::start(dir.path(), &log, backend, &args);
        append(&log, &lines(2..6));
        f.expect_output(&commands(2..6));
        f.stop();

        // Shorter than the checkpoint's offset; same first 256 bytes.
        let inode = ino(&log);
        fs::copy(&log, suffixed(&log, ".1")).unwrap();
        fs::write(&log, lines(0..3)).unwrap(); // truncates in place: same inode
        assert_eq!(ino(&log), inode);
        let mut f = Follower::start(dir.path(), &log, backend, &args);
        f.expect_output(&commands(0..3));
        f.wait_stderr("truncated or rewritten since the checkpoint");
        append(&log, &lines(3..4));
        f.expect_output(&commands(0..4));
        f.stop();

        // Regrown past the offset with the same first bytes: the bytes before it differ.
        fs::copy(&log, suffixed(&log, ".1")).unwrap();
        let mut text = lines(0..3);
        text.push_str(&lines(20..30));
        fs::write(&log, text).unwrap();
        assert_eq!(ino(&log), inode);
        let mut f = Follower::start(dir.path(), &log, backend, &args);
        let mut want = commands(0..3);
        want.extend(commands(20..30));
        f.expect_output(&want);
        f.wait_stderr("truncated or rewritten since the checkpoint");
        append(&log, &lines(30..31));
        want.push(command(30));
        f.expect_output(&want);
        f.stop();
    }
}

/// Scenario 27, partial line across restart: a line written in three parts (while running,
/// while stopped, after the restart) comes out exactly once, and the checkpoint never points
/// inside it.
#[test]
fn partial_line_across_restart() {
    for backend in BACKENDS {
        let Scene { dir, log, state } = Scene::new(backend);
        let args = with_state(&state, &[]);
        fs::write(&log, "").unwrap();
        let whole = line(2);
        let (first, rest) = whole.split_at(40);
        let (second, third) = rest.split_at(40);

        let mut f = Follower::start(dir.path(), &log, backend, &args);
        append(&log, &(lines(0..2) + first));
        f.expect_output(&commands(0..2));
        let end_of_line_1 = lines(0..2).len() as u64;
        wait_checkpoint(&f, &state, &log, end_of_line_1);
        f.stop();
        let saved = entries(&state);
        assert_eq!(saved.len(), 1, "{saved:?}");
        assert_eq!((saved[0].offset, saved[0].line), (end_of_line_1, 2));

        append(&log, second); // still no newline, pverec stopped
        let mut f = Follower::start(dir.path(), &log, backend, &args);
        append(&log, &(third.to_string() + &line(3)));
        f.expect_output(&commands(2..4));
        f.stop();
    }
}

/// A thread that appends [`line`]s `0, 1, …` to a log in batches, like a busy pveproxy, until
/// told to stop.
struct Appender {
    written: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Appender {
    const BATCH: usize = 10;
    /// A bound, in case the test never says stop.
    const MAX: usize = 50_000;

    fn start(log: &Path) -> Appender {
        let written = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let mut w = writer(log);
        let (count, halt) = (Arc::clone(&written), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let mut n = 0;
            while !halt.load(Ordering::SeqCst) && n < Appender::MAX {
                w.write_all(lines(n..n + Appender::BATCH).as_bytes())
                    .unwrap();
                n += Appender::BATCH;
                count.store(n, Ordering::SeqCst);
                std::thread::sleep(Duration::from_micros(300));
            }
        });
        Appender {
            written,
            stop,
            thread: Some(thread),
        }
    }

    fn written(&self) -> usize {
        self.written.load(Ordering::SeqCst)
    }

    /// Lets `more` lines be written yet, then stops; returns how many lines were written.
    fn finish_after(mut self, f: &Follower, more: usize) -> usize {
        let target = self.written() + more;
        f.wait_until("the writer to go on", || self.written() >= target);
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        self.written()
    }
}

impl Drop for Appender {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Output lines that were written whole (a kill may cut the last one).
fn complete_lines(out: &[u8]) -> Vec<String> {
    let text = String::from_utf8(out.to_vec()).unwrap();
    let complete = text.rfind('\n').map_or("", |i| &text[..=i]);
    complete.lines().map(str::to_string).collect()
}

/// Scenario 28, kill -9 while a writer appends (before and after the kill): after the restart
/// no line is lost, and the lines that come out twice are one contiguous run at the seam, those
/// output after the last checkpoint (the restart resumes exactly at the checkpoint, which never
/// covers more than was output).
#[test]
fn kill_9_mid_stream() {
    for backend in BACKENDS {
        let Scene { dir, log, state } = Scene::new(backend);
        let args = with_state(&state, &[]);
        fs::write(&log, "").unwrap();
        let mut f = Follower::start(dir.path(), &log, backend, &args);
        let appender = Appender::start(&log);
        // Killed once a checkpoint past the start exists: while pverec waits (then nothing
        // comes out twice) or between a flush and the save after it (a batch comes out twice).
        f.wait_until("output and a checkpoint before the kill", || {
            entries(&state).first().is_some_and(|e| e.line > 0) && f.output().len() >= 100
        });
        let status = f.stop_with(libc::SIGKILL);
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        let total = appender.finish_after(&f, 100);

        let before = complete_lines(&f.stdout_bytes());
        let k = before.len();
        eprintln!("output before the kill: {k} lines");
        assert_eq!(before, commands(0..k), "output before the kill is in order");
        let checkpoint = entries(&state);
        assert_eq!(checkpoint.len(), 1, "{checkpoint:?}");
        let resumed_at = checkpoint[0].line as usize;
        eprintln!("checkpoint at line {resumed_at}, {total} lines written");
        assert!(
            resumed_at <= k,
            "the checkpoint ({resumed_at}) covers more than was output ({k})"
        );

        let mut f = Follower::start(dir.path(), &log, backend, &args);
        append(&log, &line(total));
        f.wait_until("the sentinel line", || {
            f.output().last() == Some(&command(total))
        });
        let after = f.output();
        // No loss: the second run starts at the checkpoint, at or before where the first one
        // ended, and runs on without a gap; the duplicates are before[resumed_at..k].
        assert_eq!(
            after,
            commands(resumed_at..total + 1),
            "stderr:\n{}",
            f.stderr()
        );
        assert_eq!(after[..k - resumed_at], before[resumed_at..]);
        f.stop();
    }
}

/// Scenario 29, a crash while saving the checkpoint: an empty, truncated, garbage or foreign
/// state file gives a warning and a fresh start (as without a state: from the end of the log);
/// a leftover `STATE.tmp` is reported and replaced, and the last good state (if any) is used.
/// Never a panic, and a clean exit.
#[test]
fn bad_state_file_gives_a_fresh_start() {
    let foreign = r#"{"version":1,"log":"/elsewhere/access.log","files":[]}"#;
    let cases: [(&str, &[u8]); 6] = [
        ("empty", b""),
        (
            "truncated",
            br#"{"version":1,"log":"/x","files":[{"name":"/x","dev":"#,
        ),
        ("garbage", b"\0\xff\x1b[31m garbage \0"),
        ("not an object", b"[]"),
        ("wrong version", br#"{"version":99,"log":"/x","files":[]}"#),
        ("foreign", foreign.as_bytes()),
    ];
    for backend in BACKENDS {
        eprintln!("backend: {backend:?}");
        for (what, content) in cases {
            let Scene { dir, log, .. } = Scene::new(backend);
            let state = dir.path().join("state.json");
            let args = with_state(&state, &[]);
            append(&log, &lines(0..2));
            fs::write(&state, content).unwrap();
            let mut f = Follower::start(dir.path(), &log, backend, &args);
            f.wait_stderr("starting afresh");
            append(&log, &lines(2..4));
            f.expect_output(&commands(2..4));
            wait_checkpoint(&f, &state, &log, size(&log));
            f.stop();
            assert_eq!(
                entries(&state).len(),
                1,
                "{what}: the state is usable again"
            );
        }

        // A leftover STATE.tmp (interrupted save) beside a good state: reported, replaced,
        // and the good state is resumed from.
        let Scene { dir, log, .. } = Scene::new(backend);
        let state = dir.path().join("state.json");
        let tmp = suffixed(&state, ".tmp");
        let args = with_state(&state, &[]);
        append(&log, &lines(0..2));
        let mut f = Follower::start(dir.path(), &log, backend, &args);
        f.stop();
        fs::write(&tmp, br#"{"version":1,"log":"#).unwrap();
        append(&log, &lines(2..4));
        let mut f = Follower::start(dir.path(), &log, backend, &args);
        f.expect_output(&commands(2..4));
        f.wait_stderr("interrupted save");
        append(&log, &lines(4..5));
        f.expect_output(&commands(2..5));
        wait_checkpoint(&f, &state, &log, size(&log));
        f.stop();
        assert!(!tmp.exists(), "STATE.tmp is replaced");

        // A leftover STATE.tmp and no state: a fresh start.
        fs::remove_file(&state).unwrap();
        fs::write(&tmp, b"").unwrap();
        let mut f = Follower::start(dir.path(), &log, backend, &args);
        f.wait_stderr("interrupted save");
        append(&log, &lines(5..6));
        f.expect_output(&commands(5..6));
        wait_checkpoint(&f, &state, &log, size(&log));
        f.stop();
        assert!(!tmp.exists(), "STATE.tmp is replaced");
    }
}

/// Scenario 30, a stale checkpoint for another file: the log deleted and recreated shorter
/// (the inode may be reused), or a checkpoint whose offset is past the end of the file. The file
/// is read as new, from 0: pverec neither seeks past the end nor waits there.
#[test]
fn stale_checkpoint_is_not_applied() {
    for backend in BACKENDS {
        let Scene { dir, log, state } = Scene::new(backend);
        let args = with_state(&state, &[]);
        fs::write(&log, "").unwrap();
        let mut f = Follower::start(dir.path(), &log, backend, &args);
        append(&log, &lines(0..20));
        f.expect_output(&commands(0..20));
        f.stop();

        let before = ino(&log);
        fs::remove_file(&log).unwrap();
        fs::write(&log, lines(50..52)).unwrap();
        eprintln!("inode reused: {}", before == ino(&log));
        let mut f = Follower::start(dir.path(), &log, backend, &args);
        f.expect_output(&commands(50..52));
        append(&log, &lines(52..53));
        f.expect_output(&commands(50..53));
        f.stop();

        // The checkpoint of this very file, with an offset past its end.
        let mut json = state_json(&state).expect("a state");
        let entry = &mut json["files"][0];
        assert_eq!(entry["ino"].as_u64(), Some(ino(&log)));
        entry["offset"] = Value::from(size(&log) + 4096);
        entry["line"] = Value::from(1000);
        fs::write(&state, serde_json::to_vec(&json).unwrap()).unwrap();
        let mut f = Follower::start(dir.path(), &log, backend, &args);
        f.expect_output(&commands(50..53));
        f.wait_stderr("reading it from the start");
        append(&log, &lines(53..54));
        f.expect_output(&commands(50..54));
        f.stop();
    }
}

/// Scenario 31, state GC: the state lists only the files still being read. A rotated file
/// leaves it when it is let go after `--rotate-wait`, or when it is gone at a restart; with
/// nothing left to read the state lists no file.
#[test]
fn state_lists_only_files_still_read() {
    for backend in BACKENDS {
        let Scene { dir, log, .. } = Scene::new(backend);
        let rotated = suffixed(&log, ".1");
        let state = dir.path().join("state.json");
        fs::write(&log, "").unwrap();

        // Live: the rotated file is listed while it is read, then dropped.
        let args = with_state(&state, &["--rotate-wait", "1s"]);
        let mut f = Follower::start(dir.path(), &log, backend, &args);
        append(&log, &lines(0..2));
        f.expect_output(&commands(0..2));
        let old = ino(&log);
        fs::rename(&log, &rotated).unwrap();
        append(&log, &lines(2..4));
        f.expect_output(&commands(0..4));
        let new = ino(&log);
        f.wait_until("the rotated file to be dropped from the state", || {
            let e = entries(&state);
            e.len() == 1 && e[0].current && e[0].ino == new && e[0].offset == size(&log)
        });
        assert!(!f.has_open(&rotated), "the rotated file is closed");
        f.stop();
        assert!(entries(&state).iter().all(|e| e.ino != old));

        // Across a restart: the rotated file, gone meanwhile, is dropped.
        let args = with_state(&state, &["--rotate-wait", "5m"]);
        let mut f = Follower::start(dir.path(), &log, backend, &args);
        fs::rename(&log, &rotated).unwrap();
        append(&log, &lines(4..5));
        f.expect_output(&commands(4..5));
        let newest = ino(&log);
        f.wait_until("both files in the state", || {
            let e = entries(&state);
            e.len() == 2
                && e.iter().any(|e| !e.current && e.ino == new)
                && e.iter().any(|e| e.current && e.ino == newest)
        });
        f.stop();
        fs::remove_file(&rotated).unwrap();
        let mut f = Follower::start(dir.path(), &log, backend, &args);
        f.wait_until("only the log in the state", || {
            let e = entries(&state);
            e.len() == 1 && e[0].current && e[0].ino == newest
        });
        f.stop();

        // Nothing left: the log is gone too.
        fs::remove_file(&log).unwrap();
        let mut f = Follower::start(dir.path(), &log, backend, &args);
        f.wait_until("an empty state", || {
            state_json(&state).is_some_and(|j| j["files"].as_array().is_some_and(Vec::is_empty))
        });
        f.stop();
    }
}

/// Scenario 32, a partial last line live: written in three parts, with pauses longer than the
/// poll interval between them, it comes out once, whole.
#[test]
fn partial_line_live() {
    for backend in BACKENDS {
        let Scene { dir, log, .. } = Scene::new(backend);
        fs::write(&log, "").unwrap();
        let f = Follower::start(dir.path(), &log, backend, &[]);
        let whole = line(0);
        let (first, rest) = whole.split_at(30);
        let (second, third) = rest.split_at(50);
        for part in [first, second] {
            append(&log, part);
            // Setup, not an assertion: let pverec look at the partial line (0.2 s poll).
            std::thread::sleep(Duration::from_millis(500));
        }
        append(&log, third);
        f.expect_output(&commands(0..1));
        append(&log, &lines(1..2));
        f.expect_output(&commands(0..2));
    }
}

/// Scenario 33, a partial line at the end of a rotated file: when the file is let go after
/// `--rotate-wait`, its incomplete last line is converted as it is, with a warning naming it.
#[test]
fn partial_line_at_end_of_rotated_file() {
    for backend in BACKENDS {
        let Scene { dir, log, .. } = Scene::new(backend);
        let rotated = suffixed(&log, ".1");
        let fresh = dir.path().join("fresh");
        fs::write(&log, "").unwrap();
        let mut f = Follower::start(dir.path(), &log, backend, &["--rotate-wait", "1s"]);
        let partial = line(1);
        append(&log, &(line(0) + partial.trim_end_matches('\n')));
        f.expect_output(&commands(0..1));
        // The new file appears with its content already in it.
        fs::write(&fresh, line(2)).unwrap();
        fs::rename(&log, &rotated).unwrap();
        fs::rename(&fresh, &log).unwrap();
        f.expect_output(&[command(0), command(2), command(1)]);
        f.wait_stderr(&format!(
            "{}:2: last line has no newline; converted as it is",
            rotated.display()
        ));
        append(&log, &lines(3..4));
        f.expect_output(&[command(0), command(2), command(1), command(3)]);
        f.stop();
    }
}

/// Scenario 34, a line over 1 MiB: skipped with `FILE:LINE: line longer than 1048576 bytes`, the next
/// lines convert, and the checkpoint is past the whole line (a restart does not see it again).
#[test]
fn overlong_line_is_skipped_whole() {
    for backend in BACKENDS {
        let Scene { dir, log, state } = Scene::new(backend);
        let args = with_state(&state, &[]);
        fs::write(&log, "").unwrap();
        let mut f = Follower::start(dir.path(), &log, backend, &args);
        let long = at(7, &at_time(14, 0)).replace(
            "/status/start",
            &format!("/status/start?x={}", "A".repeat(1 << 20)),
        );
        assert!(long.len() > 1 << 20);
        append(&log, &line(0));
        append(&log, &long);
        append(&log, &lines(1..3));
        f.expect_output(&commands(0..3));
        f.wait_stderr(&format!(
            "{}:2: line longer than 1048576 bytes",
            log.display()
        ));
        wait_checkpoint(&f, &state, &log, size(&log));
        f.stop();
        let saved = entries(&state);
        assert_eq!((saved[0].offset, saved[0].line), (size(&log), 4));

        let mut f = Follower::start(dir.path(), &log, backend, &args);
        append(&log, &lines(3..4));
        f.expect_output(&commands(3..4));
        f.stop();
        assert!(!f.stderr().contains("longer than"), "{}", f.stderr());
    }
}

/// A directory with a fake `pvesh` that records its arguments (NUL-terminated, each call
/// ended by `END\0`) in the file `args`.
fn fake_pvesh(dir: &Path) -> (PathBuf, PathBuf) {
    let bin = dir.join("bin");
    fs::create_dir(&bin).unwrap();
    let pvesh = bin.join("pvesh");
    fs::write(
        &pvesh,
        "#!/bin/bash\nprintf '%s\\0' \"$@\" >> \"$PVESH_ARGS\"\nprintf 'END\\0' >> \"$PVESH_ARGS\"\n",
    )
    .unwrap();
    fs::set_permissions(&pvesh, fs::Permissions::from_mode(0o755)).unwrap();
    (bin, dir.join("args"))
}

/// Checks `script` with `bash -n`, then runs it with the fake pvesh in an empty directory;
/// returns the recorded arguments. Nothing but pvesh may run: no file appears there.
fn run_script(dir: &Path, script: &[u8]) -> Vec<u8> {
    let (bin, args) = fake_pvesh(dir);
    let file = dir.join("script.sh");
    fs::write(&file, script).unwrap();
    let check = Command::new("bash").arg("-n").arg(&file).output().unwrap();
    assert!(
        check.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let work = dir.join("work");
    fs::create_dir(&work).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let run = Command::new("bash")
        .arg(&file)
        .current_dir(&work)
        .env("PATH", path)
        .env("PVESH_ARGS", &args)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "script: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(
        fs::read_dir(&work).unwrap().count(),
        0,
        "the script ran something else than pvesh"
    );
    fs::read(&args).unwrap_or_default()
}

/// The recorded arguments of one pvesh call.
fn call(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for a in args {
        out.extend_from_slice(a);
        out.push(0);
    }
    out.extend_from_slice(b"END\0");
    out
}

/// Scenario 35, hostile bytes in the request line (invalid UTF-8, `ESC [`, `$()`, backticks,
/// quotes, NUL): pverec keeps going, its commands are quoted so that bash runs pvesh with those
/// exact bytes as arguments and nothing else (NUL: not replayable, so no command), and its
/// stderr diagnostics carry no raw control byte, even for a hostile file name.
#[test]
fn hostile_bytes_are_quoted() {
    let hostile_value: &[u8] = b"$(touch pwned) `touch pwned2` ';touch x;' \"q\" \x1b[31m\xff\xfe";
    // No white space in the vmid: pveproxy would not read a raw space as part of the target,
    // and `{vmid}` matches `\S+` only.
    let hostile_vmid: &[u8] = b"1$(touch${IFS}p)`touch${IFS}q`\x1b[2J";
    let request = |target: &[u8]| -> Vec<u8> {
        let mut l =
            b"::ffff:192.168.10.23 - alice@pve [24/06/2026:14:03:14 +0200] \"POST ".to_vec();
        l.extend_from_slice(target);
        l.extend_from_slice(b" HTTP/1.1\" 200 81\n");
        l
    };
    let mut hostile = request(
        &[
            &b"/api2/json/nodes/pve1/qemu/100/config?description="[..],
            // Spaces go as `%20` (a raw one would end the target for pveproxy), `;` as `%3B`
            // (it separates query pairs like `&`).
            &hostile_value
                .iter()
                .flat_map(|&b| match b {
                    b' ' => b"%20".to_vec(),
                    b';' => b"%3B".to_vec(),
                    _ => vec![b],
                })
                .collect::<Vec<u8>>(),
        ]
        .concat(),
    );
    hostile.extend(request(
        &[
            &b"/api2/json/nodes/pve1/qemu/"[..],
            hostile_vmid,
            b"/status/start",
        ]
        .concat(),
    ));
    hostile.extend(request(
        b"/api2/json/nodes/pve1/qemu/100/status/start?a=b\0c",
    ));
    let mut vmid_path = b"/nodes/pve1/qemu/".to_vec();
    vmid_path.extend_from_slice(hostile_vmid);
    vmid_path.extend_from_slice(b"/status/start");
    let mut expected = call(&[
        b"create",
        b"/nodes/pve1/qemu/100/config",
        b"--description",
        hostile_value,
    ]);
    expected.extend(call(&[b"create", &vmid_path]));
    expected.extend(call(&[b"create", b"/nodes/pve1/qemu/0/status/start"]));

    for backend in BACKENDS {
        eprintln!("backend: {backend:?}");
        for format in ["pvesh", "script"] {
            let Scene { dir, log, .. } = Scene::new(backend);
            fs::write(&log, "").unwrap();
            let mut f = Follower::start(dir.path(), &log, backend, &["-f", format]);
            append_bytes(&log, &hostile);
            append(&log, &line(0));
            f.wait_until("the sentinel command", || {
                f.output().last() == Some(&command(0))
            });
            f.stop();
            let out = f.stdout_bytes();
            assert!(
                !out.iter().any(|&b| b == 0x1b || b == 0),
                "raw control bytes in {format} output: {}",
                String::from_utf8_lossy(&out)
            );
            if format == "pvesh" {
                assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 3);
            }
            let run = tempfile::tempdir().unwrap();
            assert_eq!(
                run_script(run.path(), &out),
                expected,
                "{format} output:\n{}",
                String::from_utf8_lossy(&out)
            );
        }

        // A hostile file name, in a diagnostic about a hostile line.
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("access\x1b[31m\n.log");
        fs::write(&log, "").unwrap();
        let mut f = Follower::start(dir.path(), &log, backend, &[]);
        append_bytes(&log, b"garbage \x1b[2J $(id) \xff\n");
        append(&log, &line(0));
        f.expect_output(&commands(0..1));
        f.wait_stderr(":1:");
        f.stop();
        let err = f.stderr_bytes();
        assert!(
            err.iter().all(|&b| b == b'\n' || (b' '..0x7f).contains(&b)),
            "raw control or non-ASCII bytes on stderr: {:?}",
            String::from_utf8_lossy(&err)
        );
        for l in err.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            assert!(
                l.starts_with(b"pverec: "),
                "{:?}",
                String::from_utf8_lossy(l)
            );
        }
    }
}

/// Scenario 36, CRLF line ends, empty lines and a UTF-8 BOM at the file start: all convert
/// without a report, and no CR reaches the output. Also for a file that appears with a BOM.
#[test]
fn crlf_empty_lines_and_bom() {
    let text = |a: usize| {
        format!(
            "\u{feff}{}\r\n\n\r\n\n{}\r\n{}",
            line(a).trim_end(),
            line(a + 1).trim_end(),
            line(a + 2)
        )
    };
    for backend in BACKENDS {
        let Scene { dir, log, .. } = Scene::new(backend);
        fs::write(&log, "").unwrap();
        let f = Follower::start(dir.path(), &log, backend, &[]);
        append(&log, &text(0));
        f.expect_output(&commands(0..3));
        fs::remove_file(&log).unwrap();
        fs::write(&log, text(3)).unwrap();
        f.expect_output(&commands(0..6));
        append(&log, &lines(6..7));
        f.expect_output(&commands(0..7));
        assert!(!f.stdout_bytes().contains(&b'\r'));
        assert!(!f.stderr().contains("skipped"), "{}", f.stderr());
    }
}

/// `--since`: history first (the part of `access.log.2.gz` at or after TIME, all of
/// `access.log.1`, all of `access.log`), then live, with no gap or duplicate at the seam even
/// with a writer appending during start-up; `access.log.1` is still read for late writes.
#[test]
fn since_replays_history_then_goes_live() {
    for backend in BACKENDS {
        let Scene { dir, log, .. } = Scene::new(backend);
        let first = suffixed(&log, ".1");
        let oldest: String = (0..4).map(|n| at(n, &at_time(9, n as u32))).collect();
        fs::write(suffixed(&log, ".2.gz"), gzip(oldest.as_bytes())).unwrap();
        let older: String = (4..8).map(|n| at(n, &at_time(10, n as u32))).collect();
        fs::write(&first, older).unwrap();
        let current: String = (8..11).map(|n| at(n, &at_time(11, n as u32))).collect();
        fs::write(&log, current).unwrap();

        // 09:02 +0200: the end of access.log.2.gz.
        let mut f = Follower::spawn(
            dir.path(),
            &log,
            backend,
            &["--since", "2026-06-24T07:02:00Z"],
        );
        let mut w = writer(&log);
        for n in 11..60 {
            w.write_all(line(n).as_bytes()).unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
        f.expect_output(&commands(2..60));
        append(&first, &lines(60..61)); // a late write to access.log.1
        f.expect_output(&commands(2..61));
        append(&log, &lines(61..62));
        f.expect_output(&commands(2..62));
        f.stop();

        // 11:09 +0200, a TIME inside access.log: the older files are not replayed.
        let f = Follower::spawn(
            dir.path(),
            &log,
            backend,
            &["--since", "2026-06-24T09:09:00Z"],
        );
        let mut want = commands(9..60);
        want.extend(commands(61..62));
        f.expect_output(&want);
        append(&log, &lines(62..63));
        want.push(command(62));
        f.expect_output(&want);
    }
}

/// SIGTERM exits 0 and SIGINT 130; both flush the output and save a state that covers exactly
/// what was output, even with a writer appending while the signal comes: a restart goes on
/// with the next line, nothing lost or repeated.
#[test]
fn signals_flush_save_and_set_the_exit_status() {
    for backend in BACKENDS {
        eprintln!("backend: {backend:?}");
        for (signal, code) in [(libc::SIGTERM, 0), (libc::SIGINT, 130)] {
            eprintln!("signal {signal}");
            let Scene { dir, log, .. } = Scene::new(backend);
            let state = dir.path().join("state.json");
            let args = with_state(&state, &[]);
            fs::write(&log, "").unwrap();
            let mut f = Follower::start(dir.path(), &log, backend, &args);
            let appender = Appender::start(&log);
            f.wait_lines(100);
            let status = f.stop_with(signal);
            assert_eq!(status.code(), Some(code), "{}", f.stderr());
            let total = appender.finish_after(&f, 100);
            let out = f.output();
            let k = out.len();
            eprintln!("output before the exit: {k} lines of {total}");
            assert_eq!(out, commands(0..k));
            let saved = entries(&state);
            assert_eq!(saved.len(), 1, "{saved:?}");
            assert_eq!(
                saved[0].line as usize, k,
                "the state covers what was output"
            );
            assert_eq!(saved[0].offset, lines(0..k).len() as u64);

            let mut f = Follower::start(dir.path(), &log, backend, &args);
            append(&log, &line(total));
            f.expect_output(&commands(k..total + 1));
            f.stop();
        }
    }
}

/// The state file is mode 0600: when created, and when it replaces a readable one.
#[test]
fn state_file_is_private() {
    for backend in BACKENDS {
        eprintln!("backend: {backend:?}");
        for existing in [None, Some(&b"garbage"[..]), Some(&b"{}"[..])] {
            let Scene { dir, log, .. } = Scene::new(backend);
            let state = dir.path().join("state.json");
            append(&log, &lines(0..1));
            if let Some(content) = existing {
                fs::write(&state, content).unwrap();
                fs::set_permissions(&state, fs::Permissions::from_mode(0o644)).unwrap();
            }
            let mut f = Follower::start(dir.path(), &log, backend, &with_state(&state, &[]));
            wait_checkpoint(&f, &state, &log, size(&log));
            f.stop();
            let mode = fs::metadata(&state).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{existing:?}");
        }
    }
}
