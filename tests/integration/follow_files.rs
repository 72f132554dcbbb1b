//! `pverec follow` against what happens to the log's file and directory: follow-scenarios.md
//! 9 and 14–23 (real logrotate, deletion, inode reuse, missing file or directory, untailable
//! path, symlinks, permissions, inotify unavailable, inotify overflow, idleness), each with the
//! inotify and the polling backend where both apply.

use std::ffi::CStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::follower::{
    BACKENDS, Backend, Follower, Scene, append, command, commands, line, lines, writer,
};
use super::util::{data, require_tool};

/// The request number of the line that closes a test: once its command is out, every line
/// written before it has been looked at, so a duplicate would show.
const SENTINEL: usize = 999_999;

/// Appends the sentinel line to `log` and waits for the output to be exactly `expected` plus its
/// command: nothing was lost, and nothing came out twice.
fn settle(f: &Follower, log: &Path, expected: &mut Vec<String>) {
    append(log, &line(SENTINEL));
    expected.push(command(SENTINEL));
    f.expect_output(expected);
}

/// Writes lines `range` through `w` in one write, and records their commands in `expected`.
fn put(w: &mut File, range: std::ops::Range<usize>, expected: &mut Vec<String>) {
    w.write_all(lines(range.clone()).as_bytes()).unwrap();
    expected.extend(commands(range));
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn inode(path: &Path) -> (u64, u64) {
    let meta = fs::metadata(path).unwrap();
    (meta.dev(), meta.ino())
}

fn is_root() -> bool {
    // SAFETY: geteuid(2) cannot fail and has no side effects.
    unsafe { libc::geteuid() == 0 }
}

/// How often `text` occurs in `haystack`.
fn count(haystack: &str, text: &str) -> usize {
    haystack.matches(text).count()
}

/// Fields of `/proc/PID/stat` after the command name (field 3, the state, is the first).
fn proc_stat(pid: u32) -> Vec<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let (_, rest) = stat.rsplit_once(')').unwrap();
    rest.split_whitespace().map(str::to_string).collect()
}

/// The process state letter (`S` sleeping, `T` stopped, `R` running, …).
fn proc_state(pid: u32) -> String {
    proc_stat(pid)[0].clone()
}

/// CPU time used so far, user plus system, in clock ticks (fields 14 and 15).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = proc_stat(pid);
    stat[11].parse::<u64>().unwrap() + stat[12].parse::<u64>().unwrap()
}

/// How many times the process went to sleep of its own accord (each wake-up ends one).
fn voluntary_switches(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Whether the process holds an inotify instance.
fn has_inotify(pid: u32) -> bool {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .any(|fd| fs::read_link(fd.path()).is_ok_and(|t| t == Path::new("anon_inode:inotify")))
}

/// Inode numbers of everything the process's inotify instances watch (from fdinfo).
fn watched_inodes(pid: u32) -> Vec<u64> {
    let mut found = Vec::new();
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return found;
    };
    for fd in fds.flatten() {
        let Ok(info) = fs::read_to_string(fd.path()) else {
            continue;
        };
        for l in info.lines().filter(|l| l.starts_with("inotify wd:")) {
            let ino = l
                .split_whitespace()
                .find_map(|w| w.strip_prefix("ino:"))
                .unwrap();
            found.push(u64::from_str_radix(ino, 16).unwrap());
        }
    }
    found
}

/// Creates scratch files in `dir` until one gets inode number `ino`, freed just before: ext4
/// hands a freed inode out again at once (unless another file takes it first). `None` if it
/// never comes.
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

/// Writes `data` to a file under /proc, with system calls only (runs between fork and exec).
fn write_proc(path: &CStr, data: &[u8]) -> io::Result<()> {
    // SAFETY: plain system calls on a NUL-terminated path and a valid buffer; the fd is closed.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = libc::write(fd, data.as_ptr().cast(), data.len());
        let e = io::Error::last_os_error();
        libc::close(fd);
        if n != data.len() as isize {
            return Err(e);
        }
    }
    Ok(())
}

/// Runs the command in a new user namespace (its user mapped to root there, as `unshare -U -r`
/// does) in which the inotify limit `sysctl` (under /proc/sys/user) is 0. The namespace's
/// limits apply on top of the host's, so inotify really fails for pverec and only for it:
/// `max_inotify_instances` makes `inotify_init1` fail (EMFILE), `max_inotify_watches` makes
/// `inotify_add_watch` fail (ENOSPC).
fn with_inotify_limit_zero(cmd: &mut Command, sysctl: &'static CStr) {
    // SAFETY: geteuid/getegid cannot fail.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    // Formatted before the fork: the hook itself only makes system calls.
    let uid_map = format!("0 {uid} 1\n").into_bytes();
    let gid_map = format!("0 {gid} 1\n").into_bytes();
    // SAFETY: the hook makes only async-signal-safe system calls (no allocation, no locks).
    unsafe {
        cmd.pre_exec(move || {
            if libc::unshare(libc::CLONE_NEWUSER) != 0 {
                return Err(io::Error::last_os_error());
            }
            write_proc(c"/proc/self/setgroups", b"deny")?;
            write_proc(c"/proc/self/uid_map", &uid_map)?;
            write_proc(c"/proc/self/gid_map", &gid_map)?;
            write_proc(sysctl, b"0")
        });
    }
}

/// Runs the command as the unprivileged user nobody (uid and gid 65534), for which file
/// permissions apply (they do not stop root).
fn as_nobody(cmd: &mut Command) {
    // SAFETY: the hook makes only async-signal-safe system calls.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setgid(65534) != 0
                || libc::setuid(65534) != 0
            {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// The user and group names of this process (numbers when they have no name), for logrotate's
/// `create` line.
pub(crate) fn user_and_group() -> (String, String) {
    // SAFETY: getpwuid/getgrgid return NULL or a pointer to static storage that stays valid
    // until the next call; the name is copied out at once (tests in this binary do not call
    // them concurrently).
    unsafe {
        let (uid, gid) = (libc::geteuid(), libc::getegid());
        let pw = libc::getpwuid(uid);
        let user = if pw.is_null() {
            uid.to_string()
        } else {
            CStr::from_ptr((*pw).pw_name).to_string_lossy().into_owned()
        };
        let gr = libc::getgrgid(gid);
        let group = if gr.is_null() {
            gid.to_string()
        } else {
            CStr::from_ptr((*gr).gr_name).to_string_lossy().into_owned()
        };
        (user, group)
    }
}

/// The PVE stanza (tests/data/pve.logrotate, pve-formats.md 1.5) for `log`: owned by this user,
/// and with the service reload of its postrotate replaced by a line appended to `reloads`,
/// which the test reads as its "reload" signal.
fn pve_logrotate(log: &Path, reloads: &Path) -> String {
    let stanza = fs::read_to_string(data("pve.logrotate")).unwrap();
    let (user, group) = user_and_group();
    let mut conf = String::new();
    let mut in_script = false;
    for l in stanza.lines() {
        if l.trim() == "endscript" {
            in_script = false;
        }
        if in_script {
            // The two `systemctl try-reload-or-restart` lines become one signal.
            if l.contains("pveproxy.service") {
                conf.push_str(&format!(
                    "                echo reload >> '{}'\n",
                    reloads.display()
                ));
            }
            continue;
        }
        if l.trim() == "postrotate" {
            in_script = true;
        }
        let l = l
            .replace("/var/log/pveproxy/access.log", &log.display().to_string())
            .replace("www-data www-data", &format!("{user} {group}"));
        conf.push_str(&l);
        conf.push('\n');
    }
    assert!(conf.contains(&format!("{} {{", log.display())), "{conf}");
    assert!(
        conf.contains(&format!("create 640 {user} {group}")),
        "{conf}"
    );
    assert!(
        conf.contains("echo reload") && !conf.contains("systemctl"),
        "{conf}"
    );
    conf
}

fn logrotate_bin() -> PathBuf {
    require_tool("logrotate")
}

fn gunzip(path: &Path) -> String {
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(File::open(path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    text
}

fn starts_with_gzip_magic(path: &Path) -> bool {
    fs::read(path).unwrap().starts_with(&[0x1f, 0x8b])
}

/// Scenario 9: real `logrotate -f` with the PVE stanza (rename + `create 640`, `compress`,
/// `delaycompress`, `notifempty`), over several cycles, with lines written just before each
/// rotation, late writes of an old worker through its old fd after it, and the writer reopening
/// the new file on the "reload" the postrotate script signals. Every line comes out exactly
/// once, in order; `.1` stays plain and `.2.gz` is gzip.
#[test]
fn real_logrotate_with_the_pve_stanza() {
    for backend in BACKENDS {
        let Scene { dir, log, .. } = Scene::new(backend);
        let reloads = dir.path().join("reloads");
        let conf = dir.path().join("pve.logrotate");
        let state = dir.path().join("logrotate.state");
        fs::write(&conf, pve_logrotate(&log, &reloads)).unwrap();
        chmod(&conf, 0o644);
        append(&log, &lines(0..2));
        let f = Follower::start(dir.path(), &log, backend, &[]);
        let mut w = writer(&log);
        let mut expected = Vec::new();
        // What each file holds, to check the rotated generations at the end.
        let mut current = lines(0..2);
        let mut rotated: Vec<String> = Vec::new();
        let mut n = 2;
        for cycle in 1..=4 {
            // Written just before the rotation: pverec may read them before or after it.
            put(&mut w, n..n + 3, &mut expected);
            current += &lines(n..n + 3);
            n += 3;
            let out = Command::new(logrotate_bin())
                .arg("-f")
                .arg("-s")
                .arg(&state)
                .arg(&conf)
                .output()
                .expect("logrotate runs");
            assert!(
                out.status.success(),
                "logrotate failed: {:?}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                fs::read_to_string(&reloads).unwrap().lines().count(),
                cycle,
                "postrotate ran once per rotation"
            );
            let meta = fs::metadata(&log).unwrap();
            assert_eq!(
                meta.permissions().mode() & 0o777,
                0o640,
                "logrotate created it"
            );
            assert_eq!(meta.len(), 0);
            rotated.push(std::mem::take(&mut current));
            // An old worker still logs through its old fd, into what is access.log.1 now.
            put(&mut w, n..n + 2, &mut expected);
            *rotated.last_mut().unwrap() += &lines(n..n + 2);
            n += 2;
            // The reload: new workers open the new file.
            w = writer(&log);
            put(&mut w, n..n + 2, &mut expected);
            current += &lines(n..n + 2);
            n += 2;
            f.expect_output(&expected);
        }
        settle(&f, &log, &mut expected);

        let one = dir.path().join("access.log.1");
        let two = dir.path().join("access.log.2.gz");
        assert!(!starts_with_gzip_magic(&one), "access.log.1 stays plain");
        assert_eq!(fs::read_to_string(&one).unwrap(), rotated[3]);
        assert!(starts_with_gzip_magic(&two), "access.log.2.gz is gzip");
        assert_eq!(gunzip(&two), rotated[2]);
        assert!(!dir.path().join("access.log.2").exists());
        assert!(starts_with_gzip_magic(&dir.path().join("access.log.4.gz")));
    }
}

/// Scenario 14: the log is deleted and not recreated. What is written through the open fd is
/// still read, pverec keeps running (follow by name does not exit), and when the path
/// reappears the new file is read from its first byte.
#[test]
fn delete_without_recreate() {
    for backend in BACKENDS {
        let Scene { dir, log, .. } = Scene::new(backend);
        append(&log, &lines(0..2));
        let mut f = Follower::start(dir.path(), &log, backend, &[]);
        let mut w = writer(&log);
        let mut expected = Vec::new();
        put(&mut w, 2..4, &mut expected);
        fs::remove_file(&log).unwrap();
        // The rest of the open fd is drained…
        put(&mut w, 4..6, &mut expected);
        f.expect_output(&expected);
        // …for as long as it is written to; pverec waits on.
        put(&mut w, 6..8, &mut expected);
        f.expect_output(&expected);
        assert!(f.running(), "pverec exited:\n{}", f.stderr());
        // The path reappears: its first line is not skipped.
        append(&log, &lines(8..11));
        expected.extend(commands(8..11));
        f.expect_output(&expected);
        settle(&f, &log, &mut expected);
    }
}

/// Scenario 15: the log is deleted and recreated with the inode number it had, live and across
/// a restart with `--state`. The new file is read from 0; no offset of the old one is applied.
///
/// While pverec holds a file open its inode cannot be reused, so the live case lets the old file
/// go first (`--rotate-wait 0`) and waits until pverec has closed it. The test runs under
/// CARGO_TARGET_TMPDIR, on the disk's filesystem, which hands a freed inode out again (ext4);
/// a tmpfs /tmp never does. If the filesystem does not reuse it, the test says so on stderr and
/// still checks the plain delete + recreate.
#[test]
fn delete_and_recreate_with_the_same_inode() {
    for backend in BACKENDS {
        eprintln!("backend: {backend:?}");
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let logs = dir.path().join("logs");
        fs::create_dir(&logs).unwrap();
        let log = logs.join("access.log");
        append(&log, &lines(0..2));
        // No state file here: writing it takes inodes, maybe the very one to be reused.
        let mut f = Follower::start(dir.path(), &log, backend, &["--rotate-wait", "0"]);
        let mut expected = Vec::new();
        let mut w = writer(&log);
        put(&mut w, 2..8, &mut expected);
        drop(w);
        f.expect_output(&expected);

        // Live: delete, recreate (another inode, the old one is still open), let the old go.
        let (dev, first) = inode(&log);
        fs::remove_file(&log).unwrap();
        append(&log, &lines(100..102));
        expected.extend(commands(100..102));
        f.expect_output(&expected);
        f.wait_until("pverec to close the deleted file", || {
            !f.has_open_id(dev, first)
        });
        // Delete again and recreate with the first file's inode number, longer than the first
        // file's offset: a stale offset would skip its first lines.
        fs::remove_file(&log).unwrap();
        let reused = file_with_inode(&logs, first);
        match &reused {
            Some(path) => {
                fs::write(path, lines(200..210)).unwrap();
                fs::rename(path, &log).unwrap();
                assert_eq!(inode(&log), (dev, first));
            }
            None => {
                eprintln!("note: this filesystem did not reuse inode {first}; plain recreate");
                fs::write(&log, lines(200..210)).unwrap();
            }
        }
        expected.extend(commands(200..210));
        f.expect_output(&expected);
        settle(&f, &log, &mut expected);

        f.stop();

        // Across a restart: the checkpoint records this file's inode and offset.
        let state = dir.path().join("state");
        let args = ["--state", state.to_str().unwrap()];
        let mut f = Follower::start(dir.path(), &log, backend, &args);
        let mut w = writer(&log);
        let mut expected = Vec::new();
        put(&mut w, 210..215, &mut expected);
        drop(w);
        f.expect_output(&expected);
        f.stop();
        let (dev, last) = inode(&log);
        fs::remove_file(&log).unwrap();
        let reused_again = file_with_inode(&logs, last);
        match &reused_again {
            Some(path) => {
                fs::write(path, lines(300..320)).unwrap();
                fs::rename(path, &log).unwrap();
                assert_eq!(inode(&log), (dev, last));
            }
            None => {
                eprintln!("note: this filesystem did not reuse inode {last}; plain recreate");
                fs::write(&log, lines(300..320)).unwrap();
            }
        }
        let f = Follower::start(dir.path(), &log, backend, &args);
        let mut expected = commands(300..320);
        f.expect_output(&expected);
        if reused_again.is_some() {
            assert!(
                f.stderr()
                    .contains("not the file of the checkpoint any more"),
                "{}",
                f.stderr()
            );
        }
        settle(&f, &log, &mut expected);
    }
}

/// Scenario 16: the log does not exist at start. pverec says so, waits, reads the file from
/// offset 0 when it appears (whether it is seen empty or already written), and says that it
/// has appeared.
#[test]
fn file_missing_at_start() {
    for backend in BACKENDS {
        let Scene { dir, log, .. } = Scene::new(backend);
        let mut f = Follower::start(dir.path(), &log, backend, &[]);
        assert!(
            f.stderr()
                .contains("access.log: does not exist; waiting for it"),
            "{}",
            f.stderr()
        );
        assert!(f.running());
        let mut expected = Vec::new();
        // Created, then written at once: pverec may open it before or after the write.
        let mut w = writer(&log);
        put(&mut w, 0..3, &mut expected);
        f.expect_output(&expected);
        f.wait_stderr("access.log has appeared; following it");
        put(&mut w, 3..5, &mut expected);
        f.expect_output(&expected);
        settle(&f, &log, &mut expected);
        assert_eq!(count(&f.stderr(), "does not exist"), 1, "{}", f.stderr());
    }
}

/// Scenario 17: the log's directory does not exist at start, then is created; later it is
/// removed and recreated while followed. The file is picked up each time from its first byte,
/// and with inotify the new directory is watched again (while it is missing, pverec polls).
#[test]
fn parent_directory_missing_then_removed_and_recreated() {
    for backend in BACKENDS {
        eprintln!("backend: {backend:?}");
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("pveproxy");
        let log = sub.join("access.log");
        let f = Follower::start(dir.path(), &log, backend, &[]);
        f.wait_stderr("access.log: does not exist; waiting for it");
        let mut expected = Vec::new();
        fs::create_dir(&sub).unwrap();
        append(&log, &lines(0..3));
        expected.extend(commands(0..3));
        f.expect_output(&expected);
        f.wait_stderr("has appeared; following it");
        if backend == Backend::Inotify {
            let ino = inode(&sub).1;
            f.wait_until("the directory to be watched", || {
                watched_inodes(f.pid()).contains(&ino)
            });
        }

        // Removed while followed: what the open file gets is still read.
        let mut w = writer(&log);
        fs::remove_dir_all(&sub).unwrap();
        put(&mut w, 3..5, &mut expected);
        f.expect_output(&expected);
        // Give pverec time to find the directory gone (it polls then) before it comes back;
        // this sleep only sets the situation up.
        std::thread::sleep(Duration::from_millis(300));
        fs::create_dir(&sub).unwrap();
        append(&log, &lines(5..8));
        expected.extend(commands(5..8));
        f.expect_output(&expected);
        if backend == Backend::Inotify {
            let ino = inode(&sub).1;
            f.wait_until("the new directory to be watched", || {
                watched_inodes(f.pid()).contains(&ino)
            });
        }
        // The new directory and file go on being followed.
        append(&log, &lines(8..10));
        expected.extend(commands(8..10));
        f.expect_output(&expected);

        // Removed again, then recreated with the log in it while pverec is busy with a burst
        // written to the file it still has open. The new directory gets its watch after that
        // look, too late for the event of the file created in it: pverec must look again.
        let mut w = writer(&log);
        fs::remove_dir_all(&sub).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let written = fs::metadata(format!("/proc/{}/fd/1", f.pid()))
            .unwrap()
            .len();
        put(&mut w, 10_000..30_000, &mut expected);
        f.wait_until("pverec to work on the burst", || {
            fs::metadata(format!("/proc/{}/fd/1", f.pid()))
                .unwrap()
                .len()
                > written
        });
        fs::create_dir(&sub).unwrap();
        append(&log, &lines(30..32));
        expected.extend(commands(30..32));
        f.expect_output(&expected);
        settle(&f, &log, &mut expected);
    }
}

/// Scenario 18: the path is replaced by a directory, or by a FIFO. Documented policy: pverec
/// keeps following by name, says once that the path is not a regular file, goes on reading
/// the file it has open, never blocks on the FIFO, and picks a regular file up again from its
/// first byte when one comes back.
#[test]
fn path_replaced_by_a_directory_or_fifo() {
    for backend in BACKENDS {
        eprintln!("backend: {backend:?}");
        for fifo in [false, true] {
            eprintln!("replaced by a {}", if fifo { "FIFO" } else { "directory" });
            let Scene { dir, log, .. } = Scene::new(backend);
            append(&log, &lines(0..2));
            let mut f = Follower::start(dir.path(), &log, backend, &[]);
            let mut w = writer(&log);
            let mut expected = Vec::new();
            fs::remove_file(&log).unwrap();
            if fifo {
                let path = std::ffi::CString::new(log.to_str().unwrap()).unwrap();
                // SAFETY: mkfifo(3) with a valid NUL-terminated path.
                assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o644) }, 0);
            } else {
                fs::create_dir(&log).unwrap();
            }
            let notice = "access.log: is not a regular file; waiting for it";
            f.wait_stderr(notice);
            // Each write to the open file is a look at the path: one diagnostic for all.
            for n in 2..5 {
                put(&mut w, n..n + 1, &mut expected);
                f.expect_output(&expected);
            }
            assert!(f.running(), "pverec exited:\n{}", f.stderr());
            if fifo {
                fs::remove_file(&log).unwrap();
            } else {
                fs::remove_dir(&log).unwrap();
            }
            append(&log, &lines(10..13));
            expected.extend(commands(10..13));
            f.expect_output(&expected);
            f.wait_stderr("access.log has appeared; following it");
            settle(&f, &log, &mut expected);
            assert_eq!(count(&f.stderr(), notice), 1, "{}", f.stderr());
        }
    }
}

/// Scenario 19: the log is a symlink, retargeted (`ln -nsf`, i.e. a new link renamed over the
/// old one) to a file in another directory than the link's. The new target is read from its
/// first byte and followed (with inotify, through its own watch: the link's directory does not
/// see its writes); the old target is still read for `--rotate-wait`.
#[test]
fn symlink_retargeted() {
    for backend in BACKENDS {
        eprintln!("backend: {backend:?}");
        let dir = tempfile::tempdir().unwrap();
        let targets = dir.path().join("targets");
        fs::create_dir(&targets).unwrap();
        let (a, b) = (targets.join("a.log"), targets.join("b.log"));
        let log = dir.path().join("access.log");
        append(&a, &lines(0..2));
        std::os::unix::fs::symlink(&a, &log).unwrap();
        let f = Follower::start(dir.path(), &log, backend, &[]);
        let mut expected = Vec::new();
        append(&a, &lines(2..4));
        expected.extend(commands(2..4));
        f.expect_output(&expected);

        append(&b, &lines(10..12));
        let tmp = dir.path().join("access.log.tmp");
        std::os::unix::fs::symlink(&b, &tmp).unwrap();
        fs::rename(&tmp, &log).unwrap();
        expected.extend(commands(10..12));
        f.expect_output(&expected);
        // A late write to the old target, then more to the new one.
        append(&a, &lines(4..5));
        expected.extend(commands(4..5));
        append(&b, &lines(12..14));
        expected.extend(commands(12..14));
        f.expect_output(&expected);
        // Through the link, i.e. to b.log.
        settle(&f, &log, &mut expected);
        assert!(fs::read_to_string(&b).unwrap().ends_with(&line(SENTINEL)));
    }
}

/// Scenario 20: the log cannot be read at start, then can; later a rotation creates a new log
/// that cannot be read, then can. Each time pverec says why it waits, goes on reading what it
/// has open, and picks the file up from its first byte once the permissions are restored.
///
/// Permissions do not stop root: when the tests run as root, pverec is run as the unprivileged
/// user nobody for this part (the real thing, not a simulation), and in addition as root, where
/// a file with mode 000 is simply followed.
#[test]
fn unreadable_then_readable() {
    let root = is_root();
    for backend in BACKENDS {
        eprintln!("backend: {backend:?}");
        let dir = tempfile::tempdir().unwrap();
        if root {
            // nobody must reach the log: the temp dir and every directory above it.
            chmod(dir.path(), 0o755);
            for up in dir.path().ancestors().skip(1) {
                let mode = fs::metadata(up).unwrap().mode();
                assert!(
                    mode & 0o001 != 0,
                    "{} is not searchable by nobody",
                    up.display()
                );
            }
        }
        let log = dir.path().join("access.log");
        append(&log, &lines(0..3));
        chmod(&log, 0o000);
        let f = Follower::spawn_with(dir.path(), &log, backend, &[], |cmd| {
            if root {
                as_nobody(cmd);
            }
        });
        f.wait_ready();
        let denied = "access.log: cannot be read (Permission denied";
        f.wait_stderr(denied);
        chmod(&log, 0o644);
        // Never read before: read from its first byte.
        let mut expected = commands(0..3);
        f.expect_output(&expected);
        f.wait_stderr("access.log has appeared; following it");

        // Rotation to a new file that cannot be read yet.
        let one = dir.path().join("access.log.1");
        fs::rename(&log, &one).unwrap();
        let mut new = OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o000)
            .open(&log)
            .unwrap();
        chmod(&log, 0o000);
        new.write_all(lines(10..12).as_bytes()).unwrap();
        f.wait_until("a second permission diagnostic", || {
            count(&f.stderr(), denied) == 2
        });
        // The rotated file is still read meanwhile.
        append(&one, &lines(3..4));
        expected.extend(commands(3..4));
        f.expect_output(&expected);
        chmod(&log, 0o644);
        expected.extend(commands(10..12));
        f.expect_output(&expected);
        settle(&f, &log, &mut expected);
        assert_eq!(count(&f.stderr(), denied), 2, "{}", f.stderr());
    }
    if root {
        // As root, mode 000 stops nothing: the log is followed, no diagnostic.
        for backend in BACKENDS {
            eprintln!("backend: {backend:?} (as root)");
            let Scene { dir, log, .. } = Scene::new(backend);
            append(&log, &lines(0..1));
            chmod(&log, 0o000);
            let f = Follower::start(dir.path(), &log, backend, &[]);
            append(&log, &lines(1..3));
            let mut expected = commands(1..3);
            f.expect_output(&expected);
            chmod(&log, 0o644);
            settle(&f, &log, &mut expected);
            assert!(!f.stderr().contains("cannot be read"), "{}", f.stderr());
        }
    }
}

/// Scenario 21: inotify unavailable (no instance can be created) or exhausted (no watch can be
/// added). pverec warns once and falls back to polling: no inotify instance is left open, and
/// appends and a rename + create rotation are followed.
///
/// Made real with a user namespace whose inotify limit is 0 (see [`with_inotify_limit_zero`]);
/// pverec is not given `--poll`.
#[test]
fn inotify_unavailable_falls_back_to_polling() {
    for sysctl in [
        c"/proc/sys/user/max_inotify_instances",
        c"/proc/sys/user/max_inotify_watches",
    ] {
        eprintln!("{sysctl:?} = 0");
        let Scene { dir, log, .. } = Scene::new(Backend::Inotify);
        append(&log, &lines(0..2));
        let f = Follower::spawn_with(dir.path(), &log, Backend::Inotify, &[], |cmd| {
            with_inotify_limit_zero(cmd, sysctl)
        });
        f.wait_ready();
        f.wait_stderr("inotify is not available");
        assert!(
            f.stderr().contains("checking the log every 200 ms instead"),
            "{}",
            f.stderr()
        );
        assert!(
            !has_inotify(f.pid()),
            "{sysctl:?}: an inotify instance is still open"
        );
        let mut expected = Vec::new();
        let mut w = writer(&log);
        put(&mut w, 2..5, &mut expected);
        f.expect_output(&expected);
        // Rename + create rotation, with a late write to the old file before the new one is
        // written (so the order is fixed).
        fs::rename(&log, dir.path().join("access.log.1")).unwrap();
        put(&mut w, 5..6, &mut expected);
        append(&log, &lines(10..12));
        expected.extend(commands(10..12));
        f.expect_output(&expected);
        settle(&f, &log, &mut expected);
        assert_eq!(count(&f.stderr(), "inotify is not available"), 1);
    }
}

/// Scenario 22: inotify queue overflow. pverec is stopped (SIGSTOP) while more distinct events
/// than `fs.inotify.max_queued_events` happen in the log's directory (chmod of two scratch
/// files in turn, which the kernel cannot merge), with log lines appended in between; after SIGCONT it reports the
/// overflow, looks at everything again, and every line comes out exactly once. The polling
/// backend gets the same treatment (nothing to overflow, nothing lost).
#[test]
fn inotify_queue_overflow() {
    let max: usize = fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    for backend in BACKENDS {
        let Scene { dir, log, .. } = Scene::new(backend);
        append(&log, &lines(0..1));
        let f = Follower::start(dir.path(), &log, backend, &[]);
        let pid = f.pid();
        // SAFETY: kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGSTOP) }, 0);
        f.wait_until("pverec to stop", || proc_state(pid) == "T");
        let mut w = writer(&log);
        let scratch = [
            writer(&dir.path().join("scratch-a")),
            writer(&dir.path().join("scratch-b")),
        ];
        let mut expected = Vec::new();
        let mut n = 1;
        for i in 0..max + 500 {
            // A chmod of one scratch file, then of the other: each a new ATTRIB event of the
            // directory watch (only an event identical to the last one queued is merged).
            let mode = if i % 4 < 2 { 0o640 } else { 0o644 };
            scratch[i % 2]
                .set_permissions(fs::Permissions::from_mode(mode))
                .unwrap();
            if i % 1000 == 0 {
                put(&mut w, n..n + 1, &mut expected);
                n += 1;
            }
        }
        put(&mut w, n..n + 1, &mut expected);
        // SAFETY: as above.
        assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGCONT) }, 0);
        f.expect_output(&expected);
        if backend == Backend::Inotify {
            f.wait_stderr("inotify event queue overflowed; looking at every file again");
        }
        settle(&f, &log, &mut expected);
    }
}

/// Scenario 23: idle. Over 1.5 s with nothing written, the inotify backend is not woken at all
/// (no voluntary context switch) and uses no CPU time; the polling backend wakes about every
/// 200 ms and its CPU time stays about 0.
#[test]
fn idle_without_busy_waiting() {
    for backend in BACKENDS {
        eprintln!("backend: {backend:?}");
        let dir = tempfile::tempdir().unwrap();
        // Apart from the follower's output files, whose writes the log's directory watch would
        // otherwise see.
        let logs = dir.path().join("logs");
        fs::create_dir(&logs).unwrap();
        let log = logs.join("access.log");
        append(&log, &lines(0..1));
        let f = Follower::start(dir.path(), &log, backend, &[]);
        append(&log, &lines(1..3));
        f.expect_output(&commands(1..3));
        let pid = f.pid();
        f.wait_until("pverec to sleep", || f.is_sleeping());
        // Let the last wake-up end; then measure an idle period (the sleep is what is measured).
        std::thread::sleep(Duration::from_millis(100));
        let (switches, cpu) = (voluntary_switches(pid), cpu_ticks(pid));
        std::thread::sleep(Duration::from_millis(1500));
        let (woken, used) = (voluntary_switches(pid) - switches, cpu_ticks(pid) - cpu);
        match backend {
            Backend::Inotify => {
                assert_eq!(woken, 0, "woken while idle");
                assert_eq!(used, 0, "CPU ticks used while idle");
            }
            Backend::Poll => {
                assert!((1..=15).contains(&woken), "{woken} wake-ups in 1.5 s");
                // 5 ticks (50 ms at USER_HZ 100) would be 3 % of the period.
                assert!(used <= 5, "{used} CPU ticks in 1.5 s");
            }
        }
        let mut expected = commands(1..3);
        settle(&f, &log, &mut expected);
    }
}
