//! The harness for `pverec follow`: a running follower whose output is polled with a deadline
//! (never a fixed sleep as an assertion), and writers of real-format log lines.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::util::bin;

/// How long a test waits for an expected output before failing.
pub(crate) const DEADLINE: Duration = Duration::from_secs(15);

/// The two wake-up backends every scenario runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Inotify,
    Poll,
}

/// Whether `--no-comments` goes with `args`: only in the pvesh format (with another format it
/// is a usage error).
fn takes_no_comments(args: &[&str]) -> bool {
    let format = args
        .windows(2)
        .find_map(|w| matches!(w[0], "-f" | "--format" | "-o" | "--output-format").then_some(w[1]));
    let inline = args.iter().find_map(|a| {
        a.strip_prefix("--format=")
            .or_else(|| a.strip_prefix("--output-format="))
    });
    format.or(inline).is_none_or(|f| f == "pvesh")
}

pub(crate) const BACKENDS: [Backend; 2] = [Backend::Inotify, Backend::Poll];

/// An access.log line for request number `n`: a VM start by alice, rendered by pverec as
/// `pvesh create /nodes/pve1/qemu/<n>/status/start`. Its length is that of the answer
/// carrying the task's UPID, which grows with the digits of the VM id (a shorter one is an
/// error answer, a failure, shown commented out even with `--no-comments`).
pub(crate) fn line(n: usize) -> String {
    let length = 81.max(80 + n.to_string().len());
    format!(
        "::ffff:192.168.10.23 - alice@pve [24/06/2026:14:03:14 +0200] \
         \"POST /api2/extjs/nodes/pve1/qemu/{n}/status/start HTTP/1.1\" 200 {length}\n"
    )
}

/// What pverec prints (pvesh format, `--no-comments`) for [`line`]`(n)`.
pub(crate) fn command(n: usize) -> String {
    format!("pvesh create /nodes/pve1/qemu/{n}/status/start")
}

/// The commands for lines `range`, in order.
pub(crate) fn commands(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(command).collect()
}

/// The lines `range`, concatenated.
pub(crate) fn lines(range: std::ops::Range<usize>) -> String {
    range.map(line).collect()
}

/// Appends `text` to `path` (creating it), as pveproxy does: O_APPEND, one write.
pub(crate) fn append(path: &Path, text: &str) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// A writer that keeps its file open across renames, like a pveproxy worker.
pub(crate) fn writer(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

/// One run of a scenario: a temporary directory holding the log's path (`access.log`) and a
/// state file's path (`state.json`); the backend is named on stderr, so that a failure says
/// which one it was.
pub(crate) struct Scene {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) log: PathBuf,
    pub(crate) state: PathBuf,
}

impl Scene {
    pub(crate) fn new(backend: Backend) -> Scene {
        eprintln!("backend: {backend:?}");
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("access.log");
        let state = dir.path().join("state.json");
        Scene { dir, log, state }
    }
}

/// A running `pverec follow`.
pub(crate) struct Follower {
    child: Option<Child>,
    out: PathBuf,
    err: PathBuf,
    log: PathBuf,
}

impl Follower {
    /// Starts `pverec follow --access-log LOG --no-comments ARGS` (plus `--poll` for the polling
    /// backend), output to files in `dir`, and waits until it has the log open (or has said
    /// that the log is missing).
    pub(crate) fn start(dir: &Path, log: &Path, backend: Backend, args: &[&str]) -> Follower {
        let f = Follower::spawn(dir, log, backend, args);
        f.wait_ready();
        f
    }

    /// Like [`Follower::start`] without waiting for readiness.
    pub(crate) fn spawn(dir: &Path, log: &Path, backend: Backend, args: &[&str]) -> Follower {
        Follower::spawn_with(dir, log, backend, args, |_| {})
    }

    /// Like [`Follower::spawn`], with `setup` applied to the command before it is spawned (a
    /// `pre_exec` hook, for instance).
    pub(crate) fn spawn_with(
        dir: &Path,
        log: &Path,
        backend: Backend,
        args: &[&str],
        setup: impl FnOnce(&mut std::process::Command),
    ) -> Follower {
        let n = fs::read_dir(dir).map(|d| d.count()).unwrap_or(0);
        let out = dir.join(format!("follow-{n}.out"));
        let err = dir.join(format!("follow-{n}.err"));
        let mut cmd = std::process::Command::new(bin());
        cmd.env("TZ", "UTC")
            .env("LC_ALL", "C")
            .arg("follow")
            .arg("--access-log")
            .arg(log)
            .args(takes_no_comments(args).then_some("--no-comments"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(File::create(&out).unwrap())
            .stderr(File::create(&err).unwrap());
        if backend == Backend::Poll {
            cmd.arg("--poll");
        }
        setup(&mut cmd);
        let child = cmd.spawn().expect("pverec starts");
        Follower {
            child: Some(child),
            out,
            err,
            log: log.to_path_buf(),
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Waits until pverec has the log open (or has reported it missing or unreadable) and
    /// sleeps waiting for changes: its start point is fixed then.
    pub(crate) fn wait_ready(&self) {
        self.wait_until("pverec to open the log and wait", || {
            (self.has_open(&self.log) || self.stderr().contains("waiting for it"))
                && self.is_sleeping()
        });
    }

    /// Whether the process sleeps (in its wait for changes, once it is running).
    pub(crate) fn is_sleeping(&self) -> bool {
        self.state() == Some('S')
    }

    /// Whether pverec holds `path` (as it is named now) open.
    pub(crate) fn has_open(&self, path: &Path) -> bool {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(path).is_ok_and(|want| self.has_open_id(want.dev(), want.ino()))
    }

    /// Whether pverec holds the file `(dev, ino)` open, whatever its name is now.
    pub(crate) fn has_open_id(&self, dev: u64, ino: u64) -> bool {
        use std::os::unix::fs::MetadataExt;
        let Ok(fds) = fs::read_dir(format!("/proc/{}/fd", self.pid())) else {
            return false;
        };
        fds.flatten()
            .any(|fd| fs::metadata(fd.path()).is_ok_and(|m| m.ino() == ino && m.dev() == dev))
    }

    /// Whether pverec is still running (it has not exited).
    pub(crate) fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().expect("waitpid works").is_none())
    }

    /// Standard output so far, line by line.
    pub(crate) fn output(&self) -> Vec<String> {
        fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Standard error so far.
    pub(crate) fn stderr(&self) -> String {
        fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// Standard output so far, as raw bytes (for checks on bytes that are not UTF-8).
    pub(crate) fn stdout_bytes(&self) -> Vec<u8> {
        fs::read(&self.out).unwrap_or_default()
    }

    /// Standard error so far, as raw bytes.
    pub(crate) fn stderr_bytes(&self) -> Vec<u8> {
        fs::read(&self.err).unwrap_or_default()
    }

    /// Polls `done` with back-off until it holds or [`DEADLINE`] passes (then panics, showing
    /// the output so far).
    pub(crate) fn wait_until(&self, what: &str, mut done: impl FnMut() -> bool) {
        let start = Instant::now();
        let mut delay = Duration::from_millis(2);
        while !done() {
            if start.elapsed() > DEADLINE {
                panic!(
                    "timed out waiting for {what}\nstdout:\n{}\nstderr:\n{}",
                    self.output().join("\n"),
                    self.stderr()
                );
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(100));
        }
    }

    /// Waits until the output has at least `n` lines and returns it.
    pub(crate) fn wait_lines(&self, n: usize) -> Vec<String> {
        self.wait_until(&format!("{n} lines of output"), || self.output().len() >= n);
        self.output()
    }

    /// Waits until the output is exactly `expected`, failing at once if it grows past it or
    /// differs from it.
    pub(crate) fn expect_output(&self, expected: &[String]) {
        self.wait_lines(expected.len());
        assert_eq!(self.output(), expected, "stderr:\n{}", self.stderr());
    }

    /// Waits until stderr contains `needle`.
    pub(crate) fn wait_stderr(&self, needle: &str) {
        self.wait_until(&format!("stderr to say {needle:?}"), || {
            self.stderr().contains(needle)
        });
    }

    /// Sends `signal` and waits for the exit.
    pub(crate) fn stop_with(&mut self, signal: i32) -> ExitStatus {
        let mut child = self.child.take().expect("still running");
        // SAFETY: kill(2) on the pid of a child we own and have not reaped yet.
        unsafe { libc::kill(child.id() as i32, signal) };
        child.wait().expect("pverec exits")
    }

    /// Sends `signal` and waits for the exit, at most `within`; `None` if pverec is still
    /// running then (it is killed when the follower is dropped).
    pub(crate) fn stop_within(&mut self, signal: i32, within: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut().expect("still running");
        // SAFETY: kill(2) on the pid of a child we own and have not reaped yet.
        unsafe { libc::kill(child.id() as i32, signal) };
        let start = Instant::now();
        let mut delay = Duration::from_millis(2);
        while start.elapsed() < within {
            if let Some(status) = child.try_wait().expect("waitpid works") {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(50));
        }
        None
    }

    /// SIGTERM, then the exit status must be 0.
    pub(crate) fn stop(&mut self) {
        let status = self.stop_with(libc::SIGTERM);
        assert!(
            status.success(),
            "exit after SIGTERM: {status:?}\n{}",
            self.stderr()
        );
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Helpers for the rotation scenarios: a piped standard output, stopping the process at a known
/// point, and counting what it holds.
impl Follower {
    /// Like [`Follower::start`], but standard output is a pipe (as in `pverec follow | logger`);
    /// a thread copies what comes through it to the output file as soon as it arrives.
    pub(crate) fn start_piped(dir: &Path, log: &Path, backend: Backend, args: &[&str]) -> Follower {
        let mut f = Follower::spawn_with(dir, log, backend, args, |cmd| {
            cmd.stdout(Stdio::piped());
        });
        let child = f.child.as_mut().expect("just spawned");
        let mut pipe = child.stdout.take().expect("stdout is piped");
        let mut copy = File::create(&f.out).unwrap();
        std::thread::spawn(move || std::io::copy(&mut pipe, &mut copy));
        f.wait_ready();
        f
    }

    /// The process state letter of /proc/PID/stat (`S` sleeping, `T` stopped, …).
    fn state(&self) -> Option<char> {
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.pid())).ok()?;
        let (_, rest) = stat.rsplit_once(')')?;
        rest.trim_start().chars().next()
    }

    /// SIGSTOP, and waits until the process is stopped: whatever is done to the files now
    /// happens, as far as pverec can tell, between two of its looks.
    pub(crate) fn pause(&self) {
        // SAFETY: kill(2) on the pid of a child we own and have not reaped yet.
        unsafe { libc::kill(self.pid() as i32, libc::SIGSTOP) };
        self.wait_until("pverec to stop", || self.state() == Some('T'));
    }

    /// SIGCONT after [`Follower::pause`].
    pub(crate) fn resume(&self) {
        // SAFETY: as in `pause`.
        unsafe { libc::kill(self.pid() as i32, libc::SIGCONT) };
    }

    /// Stops the process while it waits for changes (in poll(2)), never in the middle of a
    /// look: a change made now is seen whole by the next look.
    pub(crate) fn pause_waiting(&self) {
        for _ in 0..1000 {
            self.wait_until("pverec to wait", || self.is_sleeping());
            self.pause();
            if self.in_poll() {
                return;
            }
            self.resume();
            std::thread::sleep(Duration::from_millis(1));
        }
        panic!("pverec was never stopped in its wait");
    }

    /// Whether the process is in (or stopped in) poll(2) or ppoll(2).
    fn in_poll(&self) -> bool {
        let Ok(text) = fs::read_to_string(format!("/proc/{}/syscall", self.pid())) else {
            return false;
        };
        let nr: i64 = text
            .split_whitespace()
            .next()
            .and_then(|t| t.parse().ok())
            .unwrap_or(-1);
        #[cfg(target_arch = "x86_64")]
        if nr == libc::SYS_poll {
            return true;
        }
        nr == libc::SYS_ppoll
    }

    /// How many file descriptors the process has open.
    pub(crate) fn fd_count(&self) -> usize {
        fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// How many inotify watches the process has (`None`: no inotify instance).
    pub(crate) fn inotify_watches(&self) -> Option<usize> {
        let pid = self.pid();
        let fds = fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
        for fd in fds.flatten() {
            let is_inotify = fs::read_link(fd.path())
                .is_ok_and(|target| target.as_os_str() == "anon_inode:inotify");
            if !is_inotify {
                continue;
            }
            let info = fs::read_to_string(format!(
                "/proc/{pid}/fdinfo/{}",
                fd.file_name().to_string_lossy()
            ))
            .ok()?;
            return Some(
                info.lines()
                    .filter(|l| l.starts_with("inotify wd:"))
                    .count(),
            );
        }
        None
    }
}
