//! Issue 11, findings 7 and 8: no hang on planted files or a blocked standard output, and a
//! state file that is believed only when this user wrote it.
//!
//! /var/log/pveproxy belongs to www-data, so whoever runs as www-data can plant a FIFO as a
//! rotated generation; a FIFO opened for reading blocks until a writer comes. And a pager that
//! stopped reading leaves follow in write(2). Each case runs the real binary under a deadline.

use std::ffi::CString;
use std::fs;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use super::follower::{BACKENDS, DEADLINE, Follower, Scene, append, command, commands, lines};
use super::util::{gzip, pverec};

/// Makes a FIFO at `path`.
fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: mkfifo(3) with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
}

fn s(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// `path` with `suffix` appended to its name.
fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// A log with rotated generations and a FIFO planted as `access.log.2.gz`:
/// `.3.gz` holds 0..2, `.1` 2..4, the log 4..6.
fn planted(log: &Path) -> PathBuf {
    fs::write(suffixed(log, ".3.gz"), gzip(lines(0..2).as_bytes())).unwrap();
    let fifo = suffixed(log, ".2.gz");
    mkfifo(&fifo);
    fs::write(suffixed(log, ".1"), lines(2..4)).unwrap();
    fs::write(log, lines(4..6)).unwrap();
    fifo
}

/// `convert --rotated` (and `convert --since` on the node's own log, which reaches into the
/// generations by itself) finish, read every regular generation, name the FIFO once, and exit 2
/// as for any input that could not be read. Before, both blocked in open(2) for good.
#[test]
fn fifo_generation_does_not_block_convert() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("var/log/pveproxy");
    fs::create_dir_all(&dir).unwrap();
    let log = dir.join("access.log");
    let fifo = planted(&log);
    let runs: [(&str, Vec<&str>); 2] = [
        ("--rotated", vec!["--rotated", s(&log)]),
        (
            "--since on the node's log",
            vec!["--since", "2000-01-01", s(&log)],
        ),
    ];
    for (what, args) in runs {
        eprintln!("{what}");
        let out = pverec()
            .env("PVEREC_SYSROOT", root.path())
            .args(["convert", "--no-comments", "--no-tasks"])
            .args(&args)
            .timeout(DEADLINE)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let got: Vec<&str> = stdout.lines().collect();
        assert_eq!(got, commands(0..6), "{what}: {stderr}");
        assert_eq!(
            stderr.matches(s(&fifo)).count(),
            1,
            "{what}: the FIFO is named once: {stderr}"
        );
        assert!(stderr.contains("a FIFO, not a regular file"), "{stderr}");
    }
}

/// A FIFO named as FILE is the user's choice and is read; convert leaves signals at their
/// defaults, so SIGTERM still ends it while it waits for a writer.
#[test]
fn convert_of_a_named_fifo_dies_on_sigterm() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("access.log");
    mkfifo(&fifo);
    let mut child = std::process::Command::new(super::util::bin())
        .args(["convert", s(&fifo)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    // In open(2) of the FIFO, waiting for a writer.
    let waiting = |pid: u32| {
        fs::read_to_string(format!("/proc/{pid}/wchan")).is_ok_and(|w| {
            w.contains("wait_for_partner") || w.contains("fifo") || w.contains("pipe")
        })
    };
    while !waiting(child.id()) && start.elapsed() < DEADLINE {
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: kill(2) on the pid of a child we own and have not reaped yet.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let mut status = None;
    while status.is_none() && start.elapsed() < 2 * DEADLINE {
        status = child.try_wait().unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    if status.is_none() {
        let _ = child.kill();
    }
    let status = status.or_else(|| child.wait().ok());
    assert_eq!(status.and_then(|s| s.signal()), Some(libc::SIGTERM));
}

/// `follow --since` reads the regular generations, names the FIFO, goes live, and SIGTERM
/// stops it with status 0. Before, it blocked opening the FIFO, where SIGTERM only set a flag.
#[test]
fn fifo_generation_does_not_block_follow_since() {
    for backend in BACKENDS {
        let Scene { dir, log, .. } = Scene::new(backend);
        let fifo = planted(&log);
        let mut f = Follower::spawn(dir.path(), &log, backend, &["--since", "2000-01-01"]);
        f.expect_output(&commands(0..6));
        f.wait_stderr("a FIFO, not a regular file");
        append(&log, &lines(6..7));
        f.expect_output(&commands(0..7));
        let status = f.stop_within(libc::SIGTERM, DEADLINE);
        assert_eq!(status.and_then(|s| s.code()), Some(0), "{}", f.stderr());
        assert_eq!(f.stderr().matches(s(&fifo)).count(), 1, "{}", f.stderr());
    }
}

/// A pipe: (read end, write end).
fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2(2) fills the two-element array with two new descriptors we then own.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both descriptors are fresh and owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Bytes waiting in the pipe `fd`, and its capacity.
fn pipe_fill(fd: &OwnedFd) -> (usize, usize) {
    let mut queued: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int to the pointer given; F_GETPIPE_SZ takes no argument.
    let capacity = unsafe {
        libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut queued);
        libc::fcntl(fd.as_raw_fd(), libc::F_GETPIPE_SZ)
    };
    (queued as usize, capacity as usize)
}

/// Follow with its standard output a pipe nobody reads (a pager that stopped): once the pipe is
/// full, SIGTERM (status 0) and SIGINT (130) still stop it, within a deadline; the state covers
/// no more than what reached the pipe. Before, follow slept in write(2) for good.
#[test]
fn blocked_stdout_does_not_outlast_a_signal() {
    for backend in BACKENDS {
        for (signal, code) in [(libc::SIGTERM, 0), (libc::SIGINT, 130)] {
            eprintln!("signal {signal}");
            let Scene { dir, log, state } = Scene::new(backend);
            fs::write(&log, "").unwrap();
            let (read, write) = pipe();
            let mut f =
                Follower::spawn_with(dir.path(), &log, backend, &["--state", s(&state)], |cmd| {
                    cmd.stdout(Stdio::from(write));
                });
            f.wait_ready();
            // Far more output than a pipe holds (about 40 bytes a command).
            let total = 20_000;
            append(&log, &lines(0..total));
            f.wait_until("the pipe to fill up", || {
                let (queued, capacity) = pipe_fill(&read);
                queued + libc::PIPE_BUF >= capacity
            });
            let status = f.stop_within(signal, Duration::from_secs(10));
            let Some(status) = status else {
                panic!("pverec did not exit after signal {signal} with stdout blocked");
            };
            assert_eq!(status.code(), Some(code), "{}", f.stderr());
            let mut out = Vec::new();
            fs::File::from(read).read_to_end(&mut out).unwrap();
            let text = String::from_utf8_lossy(&out);
            let written = text.lines().filter(|l| l.starts_with("pvesh ")).count();
            assert!(written < total, "not everything fits in the pipe");
            let json: Value = serde_json::from_slice(&fs::read(&state).unwrap()).unwrap();
            let saved = json["files"][0]["line"].as_u64().unwrap_or(0) as usize;
            assert!(
                saved <= written,
                "the state ({saved} lines) covers only what was written ({written})"
            );
        }
    }
}

/// Bytes a process has read so far (`rchar` of /proc/PID/io: pread(2) counts too).
fn bytes_read(pid: u32) -> u64 {
    let io = fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
    io.lines()
        .find_map(|l| l.strip_prefix("rchar: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Fills the pipe whose write end is `fd` to the brim (O_NONBLOCK only while filling).
fn fill_pipe(fd: &OwnedFd) {
    let raw = fd.as_raw_fd();
    // SAFETY: fcntl(2) and write(2) on a descriptor we own, from a buffer that outlives them.
    unsafe {
        let flags = libc::fcntl(raw, libc::F_GETFL);
        libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK);
        let chunk = [b'x'; 4096];
        while libc::write(raw, chunk.as_ptr().cast(), chunk.len()) > 0 {}
        while libc::write(raw, chunk.as_ptr().cast(), 1) > 0 {}
        libc::fcntl(raw, libc::F_SETFL, flags);
    }
}

/// The same with standard error a full pipe nobody reads (`2>&1 | less` stopped): follow reads
/// a malformed line, sleeps in the message about it, and SIGTERM still stops it. Before, the
/// message's write(2) ended with EINTR and was tried again, for good.
#[test]
fn blocked_stderr_does_not_outlast_a_signal() {
    for backend in BACKENDS {
        let Scene { dir, log, .. } = Scene::new(backend);
        fs::write(&log, "").unwrap();
        let (_read, write) = pipe();
        fill_pipe(&write);
        let mut f = Follower::spawn_with(dir.path(), &log, backend, &[], |cmd| {
            cmd.stderr(Stdio::from(write));
        });
        f.wait_ready();
        let read_before = bytes_read(f.pid());
        let malformed = "this is not an access.log line\n";
        append(&log, malformed);
        f.wait_until("pverec to read the line and block in its message", || {
            bytes_read(f.pid()) >= read_before + malformed.len() as u64 && f.is_sleeping()
        });
        let status = f.stop_within(libc::SIGTERM, Duration::from_secs(10));
        let Some(status) = status else {
            panic!("pverec did not exit after SIGTERM with stderr blocked ({backend:?})");
        };
        assert!(status.code().is_some(), "exited, not killed: {status:?}");
    }
}

/// Runs follow with a state once, over lines 2..4 (0..2 were there before), then appends 4..6
/// while it is stopped: a restart that believes the state outputs 4..6 first.
fn checkpointed(scene: &Scene) {
    let Scene { dir, log, state } = scene;
    append(log, &lines(0..2));
    let mut f = Follower::start(dir.path(), log, BACKENDS[0], &["--state", s(state)]);
    append(log, &lines(2..4));
    f.expect_output(&commands(2..4));
    f.wait_until("a checkpoint", || {
        fs::read(state)
            .ok()
            .and_then(|t| serde_json::from_slice::<Value>(&t).ok())
            .is_some_and(|j| j["files"][0]["line"].as_u64() == Some(4))
    });
    f.stop();
    append(log, &lines(4..6));
}

/// Restarts follow on the checkpointed scene and checks a fresh start: a warning naming the
/// state file and `reason`, then only what is logged from now on.
fn expect_fresh_start(scene: &Scene, reason: &str) {
    let Scene { dir, log, state } = scene;
    let mut f = Follower::start(dir.path(), log, BACKENDS[0], &["--state", s(state)]);
    f.wait_stderr(reason);
    let said = f.stderr();
    let line = said
        .lines()
        .find(|l| l.contains(reason))
        .unwrap_or_default();
    assert!(
        line.starts_with(&format!("pverec: {}: ", state.display()))
            && line.ends_with("; starting afresh"),
        "the warning names the state file and says what follows: {said}"
    );
    append(log, &lines(6..7));
    f.expect_output(&[command(6)]);
    let status = f.stop_within(libc::SIGTERM, DEADLINE);
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{}", f.stderr());
    // The next save replaced whatever was there with a state of our own.
    let meta = fs::symlink_metadata(state).unwrap();
    assert!(
        meta.is_file(),
        "{reason}: the state is a regular file again"
    );
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
}

/// Rewrites the first entry of the state file with `edit`.
fn edit_state(state: &Path, edit: impl FnOnce(&mut Value)) {
    let mut json: Value = serde_json::from_slice(&fs::read(state).unwrap()).unwrap();
    edit(&mut json["files"][0]);
    fs::write(state, serde_json::to_vec(&json).unwrap()).unwrap();
}

/// The reference for the rejections below: an intact state is resumed from (4..6 come out
/// first).
#[test]
fn intact_state_file_is_resumed_from() {
    let scene = Scene::new(BACKENDS[0]);
    checkpointed(&scene);
    let mut f = Follower::start(
        scene.dir.path(),
        &scene.log,
        BACKENDS[0],
        &["--state", s(&scene.state)],
    );
    f.expect_output(&commands(4..6));
    f.stop();
}

/// Checkpoints, tampers with the state file, and expects the restart to refuse it for
/// `reason` and start afresh.
fn refused(reason: &str, tamper: impl FnOnce(&Scene)) -> Scene {
    let scene = Scene::new(BACKENDS[0]);
    checkpointed(&scene);
    tamper(&scene);
    expect_fresh_start(&scene, reason);
    scene
}

/// A symlink is not followed (the link's target, a good state elsewhere, is neither believed
/// nor written).
#[test]
fn state_file_symlink_is_refused() {
    let scene = refused("a symbolic link, not a regular file", |scene| {
        let elsewhere = scene.dir.path().join("elsewhere.json");
        fs::rename(&scene.state, &elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &scene.state).unwrap();
    });
    let target = fs::read(scene.dir.path().join("elsewhere.json")).unwrap();
    let json: Value = serde_json::from_slice(&target).unwrap();
    assert_eq!(json["files"][0]["line"].as_u64(), Some(4));
}

/// A FIFO does not block the start.
#[test]
fn state_file_fifo_is_refused_without_blocking() {
    refused("a FIFO, not a regular file", |scene| {
        fs::remove_file(&scene.state).unwrap();
        mkfifo(&scene.state);
    });
}

/// A state of another owner (here nobody's, as the tests run as root) is not believed.
#[test]
fn state_file_of_another_owner_is_refused() {
    refused(
        "owned by uid 65534, not by the user running pverec",
        |scene| {
            let c = CString::new(scene.state.as_os_str().as_bytes()).unwrap();
            // SAFETY: chown(2) with a valid NUL-terminated path (the tests run as root).
            assert_eq!(unsafe { libc::chown(c.as_ptr(), 65534, 65534) }, 0);
        },
    );
}

/// A state others may have written is not believed.
#[test]
fn group_writable_state_file_is_refused() {
    refused("writable by others than its owner (mode 0620)", |scene| {
        fs::set_permissions(&scene.state, fs::Permissions::from_mode(0o620)).unwrap();
    });
}

/// A state over 1 MiB (here a good one padded with blanks) is not read.
#[test]
fn oversized_state_file_is_refused() {
    refused("bytes, larger than a state file can be", |scene| {
        let mut text = fs::read(&scene.state).unwrap();
        text.extend(std::iter::repeat_n(b' ', 17 << 20));
        fs::write(&scene.state, text).unwrap();
    });
}

/// A huge `head_len` made every restart abort ("capacity overflow") when a compressed
/// generation was there to look for the file's head in.
#[test]
fn huge_head_len_is_refused() {
    refused("not a state pverec wrote (head_len", |scene| {
        fs::write(suffixed(&scene.log, ".2.gz"), gzip(b"old\n")).unwrap();
        edit_state(&scene.state, |e| e["head_len"] = Value::from(u64::MAX));
    });
}

/// Other numbers are range-checked too.
#[test]
fn out_of_range_mark_len_is_refused() {
    refused("not a state pverec wrote (mark_len", |scene| {
        edit_state(&scene.state, |e| e["mark_len"] = Value::from(1u64 << 40));
    });
}

/// A symlink planted at STATE.tmp is not written through by a save.
#[test]
fn planted_tmp_symlink_is_not_written_through() {
    let scene = Scene::new(BACKENDS[0]);
    let victim = scene.dir.path().join("victim");
    fs::write(&victim, b"keep").unwrap();
    std::os::unix::fs::symlink(&victim, suffixed(&scene.state, ".tmp")).unwrap();
    checkpointed(&scene);
    assert_eq!(fs::read(&victim).unwrap(), b"keep");
    assert!(fs::symlink_metadata(&scene.state).unwrap().is_file());
}
