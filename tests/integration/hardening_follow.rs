//! Issue 11, finding 9: follow identifies generations by their content, so that neither a
//! checkpoint of an empty log nor copytruncate repeats or loses lines.
//!
//! (a) A state saved while the log was empty once matched every compressed generation at the
//! restart (an empty head is a prefix of every file), and the oldest was replayed whole.
//! (b) copytruncate as logrotate does it (shift `.1` to `.2`, copy the log to `.1`, truncate
//! it) made follow read the copy as an unseen generation (every line again), and lose the lines
//! written to the truncated log when the log was also replaced before the next look.
//!
//! Every scenario runs with the inotify and the polling backend, and ends with a sentinel line
//! whose command must come out last: a late duplicate would show before it.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::follower::{BACKENDS, Follower, Scene, append, command, commands, line, lines, writer};
use super::util::{gzip, require_tool};

/// The request number of the line that closes a test.
const SENTINEL: usize = 999_999;

/// `log` with `suffix` appended: `access.log.1`, `access.log.2.gz`.
fn suffixed(log: &Path, suffix: &str) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// `path` as a `&str` argument.
fn s(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// Writes lines `range` through `w` in one write, and records their commands in `expected`.
fn put(w: &mut File, range: std::ops::Range<usize>, expected: &mut Vec<String>) {
    w.write_all(lines(range.clone()).as_bytes()).unwrap();
    expected.extend(commands(range));
}

/// Appends the sentinel line to `log` and waits for the output to be exactly `expected` plus its
/// command: nothing was lost, and nothing came out twice.
fn settle(f: &Follower, log: &Path, expected: &mut Vec<String>) {
    append(log, &line(SENTINEL));
    expected.push(command(SENTINEL));
    f.expect_output(expected);
}

/// Truncates `path` to nothing, in place (same inode), as copytruncate does.
fn truncate(path: &Path) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(0)
        .unwrap();
}

/// Rotation as PVE's logrotate stanza does it (`compress`, `delaycompress`, `rotate 7`):
/// `.N.gz` -> `.N+1.gz`, `.1` compressed to `.2.gz`, `access.log` -> `.1`. The new log is
/// created by the next write. The compressed file is a new inode (the old `.1` is unlinked).
fn rotate_compressing(log: &Path) {
    for n in (2..7).rev() {
        let from = suffixed(log, &format!(".{n}.gz"));
        if from.exists() {
            fs::rename(&from, suffixed(log, &format!(".{}.gz", n + 1))).unwrap();
        }
    }
    let one = suffixed(log, ".1");
    if one.exists() {
        let text = fs::read(&one).unwrap();
        fs::write(suffixed(log, ".2.gz"), gzip(&text)).unwrap();
        fs::remove_file(&one).unwrap();
    }
    fs::rename(log, &one).unwrap();
}

/// Finding 9 (a): the state is saved while the log is empty (the old generations beside it,
/// compressed and plain, were converted long ago); while pverec is stopped, lines are logged
/// and the log is rotated twice, with compression. The restart converts exactly the lines
/// logged while it was stopped, in order: no generation is replayed whole, nothing is lost.
/// Also when there was no generation at all at the save (every generation found at the restart
/// is new), and when nothing was rotated meanwhile.
#[test]
fn state_saved_while_the_log_was_empty() {
    for backend in BACKENDS {
        // `pin`: a hard link keeps the inode of the log saved empty from being reused by the
        // new log (the checkpointed file is then found nowhere by its inode); without it, the
        // file system may give that inode to the new log.
        for (history, pin) in [(true, true), (true, false), (false, false)] {
            let Scene { dir, log, state } = Scene::new(backend);
            eprintln!("old generations at the save: {history}, inode pinned: {pin}");
            if history {
                fs::write(suffixed(&log, ".3.gz"), gzip(lines(0..3).as_bytes())).unwrap();
                fs::write(suffixed(&log, ".2.gz"), gzip(lines(3..6).as_bytes())).unwrap();
                fs::write(suffixed(&log, ".1"), lines(6..9)).unwrap();
            }
            File::create(&log).unwrap();
            let args = ["--state", s(&state), "--rotate-wait", "0"];
            let mut f = Follower::start(dir.path(), &log, backend, &args);
            f.wait_until("the state file", || state.exists());
            f.stop();
            assert_eq!(f.output(), Vec::<String>::new());
            let saved = fs::read_to_string(&state).unwrap();
            assert!(saved.contains("\"head_len\": 0"), "{saved}");
            if pin {
                fs::hard_link(&log, dir.path().join("pinned")).unwrap();
            }

            // Stopped: a day of logging and two rotations.
            append(&log, &lines(100..103));
            rotate_compressing(&log);
            append(&log, &lines(103..106));
            rotate_compressing(&log);
            append(&log, &lines(106..108));

            let f = Follower::start(dir.path(), &log, backend, &args);
            let mut expected = commands(100..108);
            f.expect_output(&expected);
            settle(&f, &log, &mut expected);
            drop(f);

            // And a restart with nothing rotated: the log, empty at the save, is read whole.
            let mut f = Follower::start(dir.path(), &log, backend, &args);
            f.stop();
            fs::rename(&log, suffixed(&log, ".1")).unwrap();
            File::create(&log).unwrap();
            let mut f = Follower::start(dir.path(), &log, backend, &args);
            f.wait_until("the state file to name the new log", || {
                fs::read_to_string(&state).is_ok_and(|t| t.contains("\"head_len\": 0"))
            });
            f.stop();
            append(&log, &lines(200..202));
            let f = Follower::start(dir.path(), &log, backend, &args);
            let mut expected = commands(200..202);
            f.expect_output(&expected);
            settle(&f, &log, &mut expected);
        }
    }
}

/// A logrotate configuration for `log` with copytruncate; `delaycompress` or not.
fn copytruncate_conf(log: &Path, delaycompress: bool) -> String {
    format!(
        "{} {{\n    rotate 5\n    copytruncate\n    compress\n{}    missingok\n    notifempty\n}}\n",
        log.display(),
        if delaycompress {
            "    delaycompress\n"
        } else {
            ""
        }
    )
}

/// Finding 9 (b) with real `logrotate -f` and `copytruncate` (with `delaycompress`, the copy
/// `.1` stays plain; without, it is compressed to `.1.gz` at once). pverec is stopped in its
/// wait while lines are logged, logrotate copies and truncates, and the writer (O_APPEND, like
/// pveproxy) goes on in the truncated log: the lines logged before the copy come out of the
/// copy, the ones after from the truncated log, each exactly once, over several cycles.
#[test]
fn real_logrotate_copytruncate() {
    let logrotate = require_tool("logrotate");
    for backend in BACKENDS {
        for delaycompress in [true, false] {
            let Scene { dir, log, .. } = Scene::new(backend);
            eprintln!("delaycompress: {delaycompress}");
            let conf = dir.path().join("copytruncate.logrotate");
            let lr_state = dir.path().join("logrotate.state");
            fs::write(&conf, copytruncate_conf(&log, delaycompress)).unwrap();
            fs::set_permissions(&conf, fs::Permissions::from_mode(0o644)).unwrap();
            let mut w = writer(&log);
            w.write_all(lines(0..2).as_bytes()).unwrap();
            let f = Follower::start(dir.path(), &log, backend, &[]);
            let mut expected = Vec::new();
            let mut n = 2;
            put(&mut w, n..n + 2, &mut expected);
            n += 2;
            f.expect_output(&expected);
            for cycle in 1..=4 {
                f.pause_waiting();
                // Logged after pverec's last look, before the copy.
                put(&mut w, n..n + 3, &mut expected);
                n += 3;
                let out = Command::new(&logrotate)
                    .arg("-f")
                    .arg("-s")
                    .arg(&lr_state)
                    .arg(&conf)
                    .output()
                    .expect("logrotate runs");
                assert!(
                    out.status.success(),
                    "logrotate failed: {:?}\n{}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                );
                assert_eq!(fs::metadata(&log).unwrap().len(), 0, "cycle {cycle}");
                let copy = if delaycompress { ".1" } else { ".1.gz" };
                assert!(suffixed(&log, copy).exists(), "cycle {cycle}: no {copy}");
                // Logged into the truncated log, before pverec looks again.
                put(&mut w, n..n + 2, &mut expected);
                n += 2;
                f.resume();
                f.expect_output(&expected);
            }
            settle(&f, &log, &mut expected);
            assert!(f.stderr().contains("copytruncate"), "{}", f.stderr());
        }
    }
}

/// Finding 9 (b), the race by hand: while pverec waits, lines are logged, `.1` is shifted to
/// `.2`, the log is copied to `.1` and truncated, the writer logs on into the truncated log,
/// and the log is then replaced by a new file (deleted and created again) before pverec looks:
/// the lines before the copy come from the copy, the ones written to the truncated log from
/// the file pverec still has open, the new log's from the new log; each exactly once, over
/// three rounds (the second and third with a `.1` to shift).
#[test]
fn copytruncate_then_replaced_before_the_next_look() {
    for backend in BACKENDS {
        let Scene { dir, log, .. } = Scene::new(backend);
        let mut w = writer(&log);
        w.write_all(lines(0..2).as_bytes()).unwrap();
        let f = Follower::start(dir.path(), &log, backend, &[]);
        let mut expected = Vec::new();
        let mut n = 10;
        put(&mut w, n..n + 2, &mut expected);
        n += 2;
        f.expect_output(&expected);
        for round in 0..3 {
            eprintln!("round {round}");
            f.pause_waiting();
            put(&mut w, n..n + 2, &mut expected);
            n += 2;
            let one = suffixed(&log, ".1");
            if one.exists() {
                fs::rename(&one, suffixed(&log, ".2")).unwrap();
            }
            fs::copy(&log, &one).unwrap();
            truncate(&log);
            // Into the truncated log, through the writer's O_APPEND fd.
            put(&mut w, n..n + 3, &mut expected);
            n += 3;
            // Replaced: the old file is only in pverec's (and the old writer's) hands now.
            fs::remove_file(&log).unwrap();
            w = writer(&log);
            put(&mut w, n..n + 2, &mut expected);
            n += 2;
            f.resume();
            f.expect_output(&expected);
        }
        settle(&f, &log, &mut expected);
    }
}

/// Finding 9 (b), shrink and marker checked for every open file: a rotated file still being
/// read (`access.log.1` after a rename rotation, an old worker still writing to it) is copied
/// to `.2` and truncated, and the worker goes on; the lines it logged before the copy come
/// from the copy, the ones after from `.1` read again, each once.
#[test]
fn copytruncate_of_a_rotated_file_still_read() {
    for backend in BACKENDS {
        let Scene { dir, log, .. } = Scene::new(backend);
        let mut old_worker = writer(&log);
        old_worker.write_all(lines(0..2).as_bytes()).unwrap();
        let f = Follower::start(dir.path(), &log, backend, &[]);
        let mut expected = Vec::new();
        put(&mut old_worker, 10..12, &mut expected);
        f.expect_output(&expected);
        let one = suffixed(&log, ".1");
        fs::rename(&log, &one).unwrap();
        let mut new_worker = writer(&log);
        put(&mut new_worker, 12..14, &mut expected);
        put(&mut old_worker, 14..16, &mut expected);
        f.wait_until("the late lines", || f.output().len() == expected.len());
        let mut got = f.output();
        got.sort();
        let mut want = expected.clone();
        want.sort();
        assert_eq!(got, want);
        expected = f.output();

        f.pause_waiting();
        put(&mut old_worker, 16..18, &mut expected);
        fs::copy(&one, suffixed(&log, ".2")).unwrap();
        truncate(&one);
        put(&mut old_worker, 18..20, &mut expected);
        f.resume();
        f.expect_output(&expected);
        settle(&f, &log, &mut expected);
    }
}

/// Finding 9 (b) across a restart: pverec is stopped, lines are logged, logrotate's
/// copytruncate runs (`.1` shifted to `.2`, the log copied to `.1`, truncated) and more lines
/// are logged. The restart reads the copy on from the checkpoint (not whole, not at all), then
/// the truncated log from its start.
#[test]
fn copytruncate_while_stopped_reads_the_copy_on() {
    for backend in BACKENDS {
        let Scene { dir, log, state } = Scene::new(backend);
        fs::write(suffixed(&log, ".1"), lines(0..3)).unwrap();
        let mut w = writer(&log);
        w.write_all(lines(10..12).as_bytes()).unwrap();
        let args = ["--state", s(&state)];
        let mut f = Follower::start(dir.path(), &log, backend, &args);
        let mut expected = Vec::new();
        put(&mut w, 12..14, &mut expected);
        f.expect_output(&expected);
        f.stop();

        let mut expected = Vec::new();
        put(&mut w, 14..16, &mut expected);
        fs::rename(suffixed(&log, ".1"), suffixed(&log, ".2")).unwrap();
        fs::copy(&log, suffixed(&log, ".1")).unwrap();
        truncate(&log);
        put(&mut w, 16..19, &mut expected);
        let f = Follower::start(dir.path(), &log, backend, &args);
        f.expect_output(&expected);
        settle(&f, &log, &mut expected);
    }
}
