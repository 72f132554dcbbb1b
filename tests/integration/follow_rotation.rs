//! `pverec follow` through appends, rotations, truncations and rewrites: scenarios 1–8 and
//! 10–13 of follow-scenarios.md, each with the inotify and the polling backend.
//!
//! Every log line is [`line`]`(n)` and comes out as [`command`]`(n)`, so the number tells which
//! file a command came from. Outputs are compared whole, and after the last expected line one
//! more (a sentinel) is written and waited for, so that a late duplicate would show before the
//! assertion.

use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::follower::{
    BACKENDS, Backend, DEADLINE, Follower, append, command, commands, line, lines, writer,
};

/// `log` with `.n` appended: `access.log.1`.
fn generation(log: &Path, n: usize) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// Rotation as logrotate does it with `rotate keep`: `log.(keep-1)` … `log.1` move up by one
/// (the oldest is overwritten), then `log` becomes `log.1`. The new `log` is created by the next
/// write.
fn rotate(log: &Path, keep: usize) {
    for n in (1..keep).rev() {
        let from = generation(log, n);
        if from.exists() {
            fs::rename(&from, generation(log, n + 1)).unwrap();
        }
    }
    fs::rename(log, generation(log, 1)).unwrap();
}

/// The request number in a command made by [`command`].
fn number(cmd: &str) -> usize {
    cmd.strip_prefix("pvesh create /nodes/pve1/qemu/")
        .and_then(|rest| rest.strip_suffix("/status/start"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a command of the harness: {cmd:?}"))
}

/// Waits until the output contains `cmd`.
fn wait_for(f: &Follower, cmd: &str) {
    f.wait_until(&format!("{cmd:?} in the output"), || {
        f.output().iter().any(|l| l == cmd)
    });
}

/// Waits until `path` exists (spinning: the point is to act as soon as it does).
fn spin_until_exists(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < DEADLINE,
            "{} never appeared",
            path.display()
        );
        std::hint::spin_loop();
    }
}

/// No output line holds a NUL byte or is anything but a command of the harness.
fn assert_clean(f: &Follower) {
    assert!(!f.stdout_bytes().contains(&0), "NUL bytes in the output");
    for l in f.output() {
        number(&l);
    }
    assert!(
        !f.stderr().contains("not an access.log line"),
        "garbage was read as log lines:\n{}",
        f.stderr()
    );
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Scenario 1, basic append: 300 lines appended in writes of varying size, some through one
/// long-lived writer, come out as 300 commands, once each, in order.
#[test]
fn basic_append() {
    for backend in BACKENDS {
        let dir = tempdir();
        let log = dir.path().join("access.log");
        append(&log, &lines(0..5));
        let f = Follower::start(dir.path(), &log, backend, &[]);
        let mut w = writer(&log);
        let mut n = 5;
        for (i, size) in [1, 2, 3, 7, 50, 1, 100, 13, 64, 59].into_iter().enumerate() {
            let text = lines(n..n + size);
            if i % 2 == 0 {
                append(&log, &text);
            } else {
                w.write_all(text.as_bytes()).unwrap();
            }
            n += size;
        }
        assert_eq!(n, 305);
        f.expect_output(&commands(5..305));
        append(&log, &line(305));
        f.expect_output(&commands(5..306));
    }
}

/// Scenario 2, flush before blocking: with standard output a file and a pipe, what pverec has
/// converted shows up while it sleeps waiting for more, both the replayed history (`--since`)
/// and a single live line, far below any buffer size.
#[test]
fn flush_before_blocking() {
    for backend in BACKENDS {
        for piped in [false, true] {
            let dir = tempdir();
            let log = dir.path().join("access.log");
            append(&log, &lines(0..3));
            let args = ["--since", "2026-01-01"];
            let f = if piped {
                Follower::start_piped(dir.path(), &log, backend, &args)
            } else {
                Follower::start(dir.path(), &log, backend, &args)
            };
            // Nothing more is written: the history must come out on its own.
            f.expect_output(&commands(0..3));
            f.wait_until("pverec to wait", || f.is_sleeping());
            assert_eq!(f.output(), commands(0..3), "piped: {piped}");
            append(&log, &line(3));
            f.expect_output(&commands(0..4));
            f.wait_until("pverec to wait again", || f.is_sleeping());
            assert_eq!(f.output(), commands(0..4), "piped: {piped}");
        }
    }
}

/// How often the deterministic start-up race is run with inotify (it shows, on stderr with
/// `--no-capture`, how often the append landed before the log's own watch was added); polling
/// has no watch to race with.
fn race_attempts(backend: Backend) -> usize {
    if backend == Backend::Inotify { 8 } else { 2 }
}

/// Starts pverec with a state file and stops it as soon as the state file exists: its first
/// look (open, read to the end) is done then, and its watch on the log may not be added yet.
/// Returns the follower (stopped) and whether the log's watch was missing.
fn stopped_after_first_look(dir: &Path, log: &Path, backend: Backend) -> (Follower, bool) {
    let state = dir.join("state");
    let state_arg = state.to_string_lossy().into_owned();
    let f = Follower::spawn(dir, log, backend, &["--state", &state_arg]);
    spin_until_exists(&state);
    f.pause();
    // Only the directory's watch: between the initial read and the log's watch.
    let window = f.inotify_watches() == Some(1);
    (f, window)
}

/// Scenario 3, start-up race, append: a line appended after the initial read to the end
/// (stopped right after it, often before the log's watch is in place) is emitted, once. Also
/// with the append made at once after spawning, where either the line was there before the
/// start point (not emitted) or after it (emitted): never lost past the start, never twice.
#[test]
fn startup_race_append() {
    for backend in BACKENDS {
        let mut in_window = 0;
        let attempts = race_attempts(backend);
        for _ in 0..attempts {
            let dir = tempdir();
            let log = dir.path().join("access.log");
            append(&log, &lines(0..3));
            let (f, window) = stopped_after_first_look(dir.path(), &log, backend);
            in_window += usize::from(window);
            append(&log, &line(3));
            f.resume();
            f.expect_output(&commands(3..4));
            append(&log, &line(4));
            f.expect_output(&commands(3..5));
        }
        if backend == Backend::Inotify {
            eprintln!("{in_window}/{attempts} appends before the log's own watch was added");
        }

        for _ in 0..2 {
            let dir = tempdir();
            let log = dir.path().join("access.log");
            append(&log, &lines(0..3));
            let f = Follower::spawn(dir.path(), &log, backend, &[]);
            append(&log, &line(3));
            f.wait_ready();
            append(&log, &line(4));
            wait_for(&f, &command(4));
            append(&log, &line(5));
            wait_for(&f, &command(5));
            let out = f.output();
            assert!(
                out == commands(3..6) || out == commands(4..6),
                "{out:?}\n{}",
                f.stderr()
            );
        }
    }
}

/// Scenario 4, start-up race, replace: a file renamed over the log right after the initial read
/// is followed, from its first byte. With the rename made at once after spawning, the new file
/// is followed too (its content is before the start point or comes out whole).
#[test]
fn startup_race_replace() {
    for backend in BACKENDS {
        for _ in 0..race_attempts(backend) / 2 {
            let dir = tempdir();
            let log = dir.path().join("access.log");
            append(&log, &lines(0..3));
            let (f, _) = stopped_after_first_look(dir.path(), &log, backend);
            let tmp = dir.path().join("access.log.tmp");
            append(&tmp, &lines(10..13));
            fs::rename(&tmp, &log).unwrap();
            f.resume();
            f.expect_output(&commands(10..13));
            append(&log, &line(13));
            f.expect_output(&commands(10..14));
            assert!(f.has_open(&log), "the new file is not open");
        }

        for _ in 0..2 {
            let dir = tempdir();
            let log = dir.path().join("access.log");
            append(&log, &lines(0..3));
            let tmp = dir.path().join("access.log.tmp");
            append(&tmp, &lines(10..13));
            let f = Follower::spawn(dir.path(), &log, backend, &[]);
            fs::rename(&tmp, &log).unwrap();
            // Ready means: the file the path names now is open.
            f.wait_ready();
            append(&log, &line(13));
            wait_for(&f, &command(13));
            append(&log, &line(14));
            wait_for(&f, &command(14));
            let out = f.output();
            assert!(
                out == commands(10..15) || out == commands(13..15),
                "{out:?}\n{}",
                f.stderr()
            );
        }
    }
}

/// Scenario 5, rename + create rotation, 50 times: lines written before each rotation (to the
/// file about to be renamed) and after it (to the new file) all come out once, in order. With
/// inotify every rotation is waited for; polling sees at most two rotations per look (the
/// second one leaves the first new file as `access.log.1`, which pverec never had open).
#[test]
fn rename_create_rotation() {
    for backend in BACKENDS {
        let dir = tempdir();
        let log = dir.path().join("access.log");
        append(&log, &lines(0..2));
        let f = Follower::start(dir.path(), &log, backend, &[]);
        let per_look = if backend == Backend::Poll { 2 } else { 1 };
        let mut n = 2;
        for i in 0..50 {
            append(&log, &line(n));
            fs::rename(&log, generation(&log, 1)).unwrap();
            File::create(&log).unwrap();
            append(&log, &line(n + 1));
            n += 2;
            if (i + 1) % per_look == 0 {
                f.expect_output(&commands(2..n));
            }
        }
        append(&log, &line(n));
        f.expect_output(&commands(2..n + 1));
    }
}

/// Scenario 6, late writes to the old inode: after `mv access.log access.log.1` a writer keeps
/// appending through its old descriptor while the new file gets lines too. Both sets come out,
/// each exactly once and in its file's order, and the old file stays open.
#[test]
fn late_writes_to_old_inode() {
    for backend in BACKENDS {
        let dir = tempdir();
        let log = dir.path().join("access.log");
        let old_path = generation(&log, 1);
        let mut worker = writer(&log);
        let f = Follower::start(dir.path(), &log, backend, &[]);
        worker.write_all(lines(0..3).as_bytes()).unwrap();
        f.expect_output(&commands(0..3));

        fs::rename(&log, &old_path).unwrap();
        append(&log, &lines(100..102));
        worker.write_all(lines(3..5).as_bytes()).unwrap();
        append(&log, &lines(102..104));
        worker.write_all(lines(5..6).as_bytes()).unwrap();
        // Sentinels, one per file.
        worker.write_all(line(6).as_bytes()).unwrap();
        append(&log, &line(104));
        wait_for(&f, &command(6));
        wait_for(&f, &command(104));

        let out = f.output();
        let old: Vec<String> = out.iter().filter(|c| number(c) < 100).cloned().collect();
        let new: Vec<String> = out.iter().filter(|c| number(c) >= 100).cloned().collect();
        assert_eq!(old, commands(0..7), "old inode; all: {out:?}");
        assert_eq!(new, commands(100..105), "new file; all: {out:?}");
        assert_eq!(out.len(), 12);
        assert!(f.has_open(&old_path), "the rotated file was let go early");
        assert!(f.has_open(&log));
    }
}

/// Scenario 7, grace-period expiry: over 100 rotations with `--rotate-wait 0`, the number of
/// open descriptors and of inotify watches stays bounded (by what one look can find, not by the
/// number of rotations), every line of the new files comes out once (late lines of an old worker
/// at most once), and at the end only the log itself is held.
#[test]
fn grace_period_expiry() {
    const KEEP: usize = 7;
    for backend in BACKENDS {
        let dir = tempdir();
        let log = dir.path().join("access.log");
        append(&log, &lines(0..1));
        let mut f = Follower::start(dir.path(), &log, backend, &["--rotate-wait", "0"]);
        let (fds, watches) = (f.fd_count(), f.inotify_watches());
        assert_eq!(watches.is_some(), backend == Backend::Inotify);
        // Polling looks every 200 ms: several rotations per look keep the test short (a look
        // finds the files rotated since the last one as `access.log.1` … `.6`).
        let per_look = if backend == Backend::Poll {
            KEEP - 1
        } else {
            1
        };
        let (mut max_fds, mut max_watches) = (fds, watches);
        let mut worker = writer(&log);
        for i in 1..=100 {
            rotate(&log, KEEP);
            // An old worker writing to the rotated file right after the rotation: caught or
            // not (writes after expiry are not required), it must not keep anything open.
            worker.write_all(line(10_000 + i).as_bytes()).unwrap();
            worker = writer(&log);
            worker.write_all(line(i).as_bytes()).unwrap();
            if i % per_look == 0 {
                wait_for(&f, &command(i));
                max_fds = max_fds.max(f.fd_count());
                max_watches = max_watches.max(f.inotify_watches());
            }
        }
        wait_for(&f, &command(100));
        drop(worker);
        assert!(
            max_fds <= fds + per_look,
            "{max_fds} descriptors open at most, {fds} at the start"
        );
        if let (Some(max), Some(start)) = (max_watches, watches) {
            assert!(
                max <= start + per_look,
                "{max} watches at most, {start} at the start"
            );
        }
        f.wait_until("the rotated files to be let go", || {
            f.fd_count() == fds && f.inotify_watches() == watches
        });
        append(&log, &line(101));
        wait_for(&f, &command(101));
        let (late, out): (Vec<String>, Vec<String>) =
            f.output().into_iter().partition(|c| number(c) >= 10_000);
        assert_eq!(out, commands(1..102));
        // Late lines may be missed, never repeated.
        let late: Vec<usize> = late.iter().map(|c| number(c)).collect();
        assert!(late.windows(2).all(|w| w[0] < w[1]), "late lines: {late:?}");
        f.stop();
    }
}

/// Scenario 8, rapid double rotation: two rotations while pverec is stopped in its wait lose
/// nothing and repeat nothing: logrotate's shift (`.1` -> `.2`, `access.log` -> `.1`) twice,
/// then twice `mv access.log access.log.1` over each other (the first rotated file is unlinked;
/// the `.2` left by the shift is no unseen rotation). With the default `--rotate-wait` (the
/// rotated files still open) and with 0 (already let go).
#[test]
fn rapid_double_rotation() {
    for backend in BACKENDS {
        for rotate_wait in ["5m", "0"] {
            let dir = tempdir();
            let log = dir.path().join("access.log");
            append(&log, &lines(0..1));
            let f = Follower::start(dir.path(), &log, backend, &["--rotate-wait", rotate_wait]);
            append(&log, &lines(1..3));
            f.expect_output(&commands(1..3));

            f.pause_waiting();
            append(&log, &lines(3..5));
            rotate(&log, 7);
            append(&log, &lines(5..7));
            rotate(&log, 7);
            append(&log, &lines(7..9));
            f.resume();
            f.expect_output(&commands(1..9));

            f.pause_waiting();
            append(&log, &lines(9..11));
            fs::rename(&log, generation(&log, 1)).unwrap();
            append(&log, &lines(11..13));
            fs::rename(&log, generation(&log, 1)).unwrap();
            append(&log, &lines(13..15));
            f.resume();
            f.expect_output(&commands(1..15));

            append(&log, &line(15));
            f.expect_output(&commands(1..16));
        }
    }
}

/// Scenario 10, copytruncate with a stale O_APPEND writer: `cp f f.1; truncate -s0 f`, three
/// times, while the writer goes on. Lines after each truncation come out, nothing from before is
/// repeated, and no NUL byte or garbage appears.
#[test]
fn copytruncate_with_stale_writer() {
    for backend in BACKENDS {
        let dir = tempdir();
        let log = dir.path().join("access.log");
        let mut worker = writer(&log);
        let f = Follower::start(dir.path(), &log, backend, &[]);
        worker.write_all(lines(0..6).as_bytes()).unwrap();
        f.expect_output(&commands(0..6));
        let mut n = 6;
        for round in 0..3 {
            fs::copy(&log, generation(&log, 1)).unwrap();
            OpenOptions::new()
                .write(true)
                .open(&log)
                .unwrap()
                .set_len(0)
                .unwrap();
            // Fewer bytes than before the truncation, then more.
            worker.write_all(lines(n..n + 2).as_bytes()).unwrap();
            f.expect_output(&commands(0..n + 2));
            worker.write_all(lines(n + 2..n + 5).as_bytes()).unwrap();
            n += 5;
            f.expect_output(&commands(0..n));
            assert!(
                f.stderr().contains("truncated"),
                "round {round}: {}",
                f.stderr()
            );
        }
        worker.write_all(line(n).as_bytes()).unwrap();
        f.expect_output(&commands(0..n + 1));
        assert_clean(&f);
    }
}

/// Scenario 11, shorter rewrite: `seq 10 > f; seq 11 15 > f` gives 1–10, then 11–15.
#[test]
fn shorter_rewrite() {
    for backend in BACKENDS {
        let dir = tempdir();
        let log = dir.path().join("access.log");
        File::create(&log).unwrap();
        let f = Follower::start(dir.path(), &log, backend, &[]);
        fs::write(&log, lines(1..11)).unwrap();
        f.expect_output(&commands(1..11));
        fs::write(&log, lines(11..16)).unwrap();
        f.expect_output(&commands(1..16));
        append(&log, &line(16));
        f.expect_output(&commands(1..17));
        assert_clean(&f);
    }
}

/// Scenario 12, truncate then regrow past (and exactly to) the old offset between two looks:
/// pverec is stopped in its wait while the file is rewritten, so the size alone cannot tell.
/// The bytes before the old offset changed, so the new content is read from its first byte,
/// never from the middle.
#[test]
fn truncate_and_regrow_between_looks() {
    for backend in BACKENDS {
        let dir = tempdir();
        let log = dir.path().join("access.log");
        File::create(&log).unwrap();
        let f = Follower::start(dir.path(), &log, backend, &[]);
        append(&log, &lines(0..3));
        f.expect_output(&commands(0..3));

        // Longer: ten lines of two-digit numbers over three of one digit.
        f.pause_waiting();
        fs::write(&log, lines(10..20)).unwrap();
        f.resume();
        f.expect_output(&[commands(0..3), commands(10..20)].concat());

        // The same size exactly: only the bytes tell.
        let before = fs::metadata(&log).unwrap().len();
        f.pause_waiting();
        fs::write(&log, lines(20..30)).unwrap();
        assert_eq!(fs::metadata(&log).unwrap().len(), before);
        f.resume();
        f.expect_output(&[commands(0..3), commands(10..30)].concat());

        append(&log, &line(30));
        f.expect_output(&[commands(0..3), commands(10..31)].concat());
        assert_clean(&f);
        let notices = f.stderr().matches("truncated or rewritten").count();
        assert_eq!(notices, 2, "{}", f.stderr());
    }
}

/// Scenario 13, a writer without O_APPEND after a truncation: it writes at its old offset and
/// leaves a hole of NUL bytes; the lines after it come out, the NUL bytes never do, not even
/// with `--all`, and not as part of a record: in JSON (a second follower on the same log) no
/// field holds one.
#[test]
fn sparse_hole_after_truncate() {
    for backend in BACKENDS {
        let dir = tempdir();
        let log = dir.path().join("access.log");
        let mut worker = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&log)
            .unwrap();
        worker.seek(SeekFrom::End(0)).unwrap();
        let f = Follower::start(dir.path(), &log, backend, &["--all"]);
        let json = Follower::start(dir.path(), &log, backend, &["--all", "-f", "json"]);
        worker.write_all(lines(0..4).as_bytes()).unwrap();
        f.expect_output(&commands(0..4));
        let mut n = 4;
        for _ in 0..2 {
            // Both followers have read what the truncation throws away (what a follower had
            // not read by then is gone, and rightly not shown).
            json.wait_lines(n);
            OpenOptions::new()
                .write(true)
                .open(&log)
                .unwrap()
                .set_len(0)
                .unwrap();
            worker.write_all(lines(n..n + 2).as_bytes()).unwrap();
            n += 2;
            f.expect_output(&commands(0..n));
        }
        // The hole is there: the file starts with NUL bytes.
        assert_eq!(fs::read(&log).unwrap()[0], 0);
        worker.write_all(line(n).as_bytes()).unwrap();
        f.expect_output(&commands(0..n + 1));
        assert_clean(&f);

        let records = json.wait_lines(n + 1);
        assert_eq!(records.len(), n + 1, "{records:#?}");
        for (k, record) in records.iter().enumerate() {
            assert!(
                record.contains(&format!("\"path\":\"/nodes/pve1/qemu/{k}/status/start\"")),
                "record {k}: {record}"
            );
            assert!(!record.contains("\\u0000"), "NUL in a record: {record}");
        }
        assert!(
            !json.stdout_bytes().contains(&0),
            "NUL bytes in the JSON output"
        );
    }
}

/// Standard output of pverec as a pipe that the test reads only when it says so. The pipe is
/// made as small as Linux allows (one page), so a look with more to say than that page and
/// pverec's own output buffer blocks in its write, in the middle of the look, until the test
/// reads: a long look, at a place and for a time the test chooses.
struct HeldOutput {
    pipe: File,
    got: Vec<u8>,
}

impl HeldOutput {
    /// The read end (non-blocking), and the write end for the child's standard output.
    fn new() -> (HeldOutput, std::process::Stdio) {
        use std::os::fd::{FromRawFd, OwnedFd};
        let mut fds = [0; 2];
        // SAFETY: pipe2(2) writes two new descriptors into `fds`, which lives across the call.
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
        assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors were just created and are owned by nobody else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: fcntl(2) on a descriptor we own; F_SETPIPE_SZ and F_SETFL take an int.
        unsafe {
            assert!(libc::fcntl(fds[1], libc::F_SETPIPE_SZ, 4096) > 0);
            assert_eq!(libc::fcntl(fds[0], libc::F_SETFL, libc::O_NONBLOCK), 0);
        }
        let held = HeldOutput {
            pipe: File::from(read),
            got: Vec::new(),
        };
        (held, std::process::Stdio::from(write))
    }

    /// Waits at most `within` for the pipe to hold something to read.
    fn readable(&self, within: std::time::Duration) -> bool {
        use std::os::fd::AsRawFd;
        let mut fd = libc::pollfd {
            fd: self.pipe.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = within.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd that lives across the call.
        unsafe { libc::poll(&mut fd, 1, ms) > 0 }
    }

    /// Reads what the pipe holds, never more than `limit` bytes in all; whether pverec has
    /// closed its end.
    fn read_some(&mut self, limit: usize) -> bool {
        use std::io::Read;
        let mut buf = vec![0; 64 * 1024];
        while self.got.len() < limit {
            let room = (limit - self.got.len()).min(buf.len());
            match self.pipe.read(&mut buf[..room]) {
                Ok(0) => return true,
                Ok(n) => self.got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => panic!("reading pverec's output: {e}"),
            }
        }
        false
    }

    /// Reads until the output is `want` (what came so far included), and not a byte more: the
    /// next byte in the pipe is then the first of pverec's next write.
    fn read_exactly(&mut self, f: &Follower, want: &[String]) {
        let size: usize = want.iter().map(|l| l.len() + 1).sum();
        let start = Instant::now();
        while self.got.len() < size {
            if start.elapsed() > DEADLINE {
                let got = self.lines();
                let missing: Vec<&String> = want.iter().filter(|w| !got.contains(w)).collect();
                panic!(
                    "timed out waiting for {} commands: {} came, {} never did: {:?}\nstderr:\n{}",
                    want.len(),
                    got.len(),
                    missing.len(),
                    &missing[..missing.len().min(20)],
                    f.stderr()
                );
            }
            self.readable(std::time::Duration::from_millis(20));
            if self.read_some(size) {
                break;
            }
        }
        assert_eq!(self.lines(), want, "stderr:\n{}", f.stderr());
    }

    fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.got)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// Scenario 8 when a look takes long (a backlog read by a debug build on a loaded machine, an
/// output that blocks): two rotations while pverec stands still, then two more while the look
/// that finds the first two is still writing out the unseen generation `.1`. The next look
/// finds the path naming a file two rotations on again, and the generation in between, rotated
/// away unseen, must be read. It once was not: the time the path was last seen naming the
/// current file was taken when the long look ended, not when it looked at the path, and the
/// scan for unseen generations passed over every file whose last change (the rename of the
/// rotation) was more than a second older than that; the soak test (follow_soak.rs) lost a
/// whole generation so.
#[test]
fn rotations_while_a_look_is_blocked() {
    use std::os::unix::fs::MetadataExt;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};
    /// Lines of the generation the blocked look writes out: far more output than the pipe and
    /// pverec's 64 KiB buffer take.
    const BIG: usize = 4000;
    for backend in BACKENDS {
        let dir = tempdir();
        let log = dir.path().join("access.log");
        append(&log, &lines(0..1));
        let (mut out, stdout) = HeldOutput::new();
        let f = Follower::spawn_with(dir.path(), &log, backend, &["--rotate-wait", "5m"], |cmd| {
            cmd.stdout(stdout);
        });
        f.wait_ready();
        append(&log, &lines(1..3));
        out.read_exactly(&f, &commands(1..3));

        // Two rotations between two looks: B (`.1` then) holds BIG lines, C is the log.
        f.pause_waiting();
        let b = 3..3 + BIG;
        let c = b.end..b.end + 10;
        rotate(&log, 9);
        append(&log, &lines(b.clone()));
        rotate(&log, 9);
        append(&log, &lines(c.clone()));
        f.resume();
        // The look that found C (after looking at the path) reads B, the unseen generation,
        // and writes it out: a first byte of it shows in the pipe, and the look cannot end
        // until the test reads on.
        assert!(
            out.readable(DEADLINE),
            "pverec wrote nothing after the rotations\nstderr:\n{}",
            f.stderr()
        );
        // Two more rotations meanwhile: D is rotated away before any look can see it.
        let d = c.end..c.end + 10;
        let e = d.end..d.end + 10;
        rotate(&log, 9);
        append(&log, &lines(d.clone()));
        rotate(&log, 9);
        append(&log, &lines(e.clone()));
        // The blocked look goes on once D's last change (its rename to `.1`) is more than a
        // second old, the margin the scan allows: the time itself is the condition here.
        let meta = fs::metadata(generation(&log, 1)).unwrap();
        let changed = UNIX_EPOCH + Duration::new(meta.ctime() as u64, meta.ctime_nsec() as u32);
        while SystemTime::now() < changed + Duration::from_millis(1500) {
            std::thread::sleep(Duration::from_millis(10));
        }
        out.read_exactly(&f, &commands(1..e.end));
        append(&log, &line(e.end));
        out.read_exactly(&f, &commands(1..e.end + 1));
    }
}
