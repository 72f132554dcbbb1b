//! Another node's sources, over SSH: its access.log (and rotated generations), its task index
//! and its journal, copied into a private directory for the cluster read ([`crate::cluster`]).
//!
//! # Why this way
//!
//! A PVE cluster's nodes already trust each other's root key (`pvecm` sets it up; pvesh itself
//! reaches other nodes over SSH: `../shared/docs/pve-sources.md` §6), and nothing is to be
//! installed on them. So pverec runs the system's OpenSSH client (`/usr/bin/ssh`, never through
//! `PATH`), with argv, `BatchMode=yes` (no prompt can hang a run) and the system's host key
//! checking, and asks the node for its files with a fixed POSIX shell script made only of
//! standard tools (`uname`, `ls`, `grep`, `wc`, `head`, `journalctl`). The script holds no value
//! from a log or from the cluster: its only variable parts are journalctl's arguments, which
//! pverec makes (`--since=@N`, program names), and they are single-quoted ([`sh_quote`]) all
//! the same.
//!
//! The answer is a stream of frames, `KIND NAME SIZE\n` then exactly SIZE bytes (a file that
//! shrinks while it is sent is padded with NULs, so the stream never loses its place), then the
//! journal as `journalctl -o json` lines to the end. Everything in it comes from a node that
//! may be compromised: a frame's name must be one of the names asked for, sizes are bounded,
//! files are written under names pverec chooses, in a directory only its user can read, and the
//! contents are then read by the same parsers as any local log.
//!
//! A node that does not answer costs at most [`Ssh::timeout`] without data: ssh's own
//! `ConnectTimeout` and `ServerAliveInterval` are set from it, and a watchdog kills an ssh that
//! has received nothing for that long (a node whose sshd accepts but never speaks). Each ssh
//! is its own process group, killed whole, and dies with pverec (`PR_SET_PDEATHSIG`), so no
//! ssh outlives a run, even one ended by SIGKILL.

use std::ffi::OsString;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::source::etc_pve::members::valid_node_name;
use crate::source::journal;

/// Where ssh is looked for: the system's directories only (as journalctl).
const SSH: &[&str] = &["/usr/bin/ssh", "/bin/ssh"];

/// A file's frame may not announce more than this (a week of a busy node's access.log is a few
/// GiB; more is a node trying to fill the disk).
const MAX_FILE: u64 = 16 << 30;
/// The journal's JSON may not run longer than this.
const MAX_JOURNAL: u64 = 8 << 30;
/// `.members` lists a few hundred nodes at most.
const MAX_MEMBERS: u64 = 1 << 20;
/// A frame header is short; a longer line is not one.
const MAX_HEADER: usize = 256;

/// How a node is reached, from `--host` or `.members`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Host {
    /// The node's name, when known (a `user@address` host is named by its answer).
    pub(crate) name: Option<String>,
    /// The ssh destination: `[user@]address-or-name`.
    pub(crate) dest: String,
    /// The address, when one was given (also the client address of its proxied hops).
    pub(crate) addr: Option<std::net::IpAddr>,
}

impl Host {
    /// How messages name the node: `pve2`, `pve2 (10.0.0.2)` or `root@10.0.0.2`.
    pub(crate) fn label(&self) -> String {
        match (&self.name, &self.addr) {
            (Some(name), Some(addr)) => format!("{name} ({addr})"),
            (Some(name), None) => name.clone(),
            (None, _) => self.dest.clone(),
        }
    }
}

/// Whether `user` is a login name ssh can be given (POSIX portable user names).
fn valid_user(user: &str) -> bool {
    !user.is_empty()
        && user.len() <= 32
        && !user.starts_with('-')
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Parses a `--host` value: `NODE`, `NODE=ADDRESS`, `user@ADDRESS` or `NODE=user@ADDRESS`.
/// Every part is checked, so that nothing in it can be an ssh option or reach a shell.
pub(crate) fn parse_host(spec: &str) -> Result<Host, String> {
    let (name, target) = match spec.split_once('=') {
        Some((name, target)) => (Some(name), target),
        None if spec.contains('@') => (None, spec),
        None => (Some(spec), spec),
    };
    if let Some(name) = name {
        if !valid_node_name(name) {
            return Err(format!(
                "{:?} is not a node name (letters, digits, inner hyphens and dots)",
                name.escape_debug().to_string()
            ));
        }
    }
    let (user, address) = match target.split_once('@') {
        Some((user, address)) => {
            if !valid_user(user) {
                return Err(format!(
                    "{:?} is not a user name",
                    user.escape_debug().to_string()
                ));
            }
            (Some(user), address)
        }
        None => (None, target),
    };
    let addr = address.parse::<std::net::IpAddr>().ok();
    if addr.is_none() && !valid_node_name(address) {
        return Err(format!(
            "{:?} is neither an address nor a host name",
            address.escape_debug().to_string()
        ));
    }
    let dest = match (user, addr) {
        (Some(user), _) => format!("{user}@{address}"),
        (None, _) => address.to_string(),
    };
    Ok(Host {
        name: name.map(str::to_string),
        dest,
        addr,
    })
}

/// How ssh is run.
#[derive(Debug, Clone)]
pub(crate) struct Ssh {
    /// `-F FILE`, when given.
    pub(crate) config: Option<PathBuf>,
    /// More `-o` options, as the user gave them (`StrictHostKeyChecking=accept-new` is the
    /// user's choice to make, never pverec's).
    pub(crate) options: Vec<String>,
    /// How long a node may send nothing before it is given up.
    pub(crate) timeout: Duration,
}

/// What to ask a node for.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ask {
    /// Every generation of access.log, not only the current one.
    pub(crate) rotated: bool,
    /// The journal, with this range; none: no journal.
    pub(crate) journal: Option<journal::Query>,
    /// The node's pverec, used when it is there (`pverec node-export`); none: never.
    pub(crate) pverec: Option<String>,
    /// The classes the reading side can show (its `node-export` sends only their lines); none:
    /// every line is wanted.
    pub(crate) classes: Option<Vec<crate::request::Class>>,
}

/// What a node sent, in its directory.
#[derive(Debug)]
pub(crate) struct Fetched {
    /// The node's name as it says it (`uname -n`, short), when it is a valid one.
    pub(crate) said_name: Option<String>,
    /// `DIR/pveproxy/access.log`, when the node has one.
    pub(crate) access_log: Option<PathBuf>,
    /// `DIR/tasks`, when the node sent any task file.
    pub(crate) tasks: Option<PathBuf>,
    /// `DIR/journal.json`, when the journal was asked for and came.
    pub(crate) journal: Option<PathBuf>,
    /// Why the journal did not come, when it was asked for.
    pub(crate) journal_missing: Option<String>,
    /// Its `/etc/pve/.members`: the cluster's addresses as that node knows them (a hop's
    /// client may be a node that is not read).
    pub(crate) members: Option<crate::source::etc_pve::members::Members>,
    /// Files the node has but did not send, and why: a symbolic link (not followed), or one
    /// it cannot read.
    pub(crate) skipped: Vec<(String, &'static str)>,
    pub(crate) bytes: u64,
}

/// Single-quotes `word` for a POSIX shell: `'…'`, each `'` as `'\''`. Every byte but NUL
/// stands for itself between single quotes (POSIX.1-2024 XCU 2.2.2).
pub(crate) fn sh_quote(word: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(word.len() + 2);
    out.push(b'\'');
    for &b in word {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    out
}

/// The script the node runs: see the module docs. Its output is parsed by [`receive`].
pub(crate) fn script(ask: &Ask) -> Vec<u8> {
    let mut s = Vec::new();
    if let Some(program) = &ask.pverec {
        // pverec installed there answers itself, with less ([`export`]).
        let program = sh_quote(program.as_bytes());
        s.extend_from_slice(b"if command -v ");
        s.extend_from_slice(&program);
        s.extend_from_slice(b" >/dev/null 2>&1 && ");
        s.extend_from_slice(&program);
        s.extend_from_slice(
            format!(
                " node-export --probe {} >/dev/null 2>&1; then\n  exec ",
                export::PROTOCOL
            )
            .as_bytes(),
        );
        s.extend_from_slice(&program);
        s.extend_from_slice(b" node-export");
        let mut words: Vec<String> = vec![format!("--protocol={}", export::PROTOCOL)];
        if ask.rotated {
            words.push("--rotated".into());
        }
        if let Some(classes) = &ask.classes {
            let names: Vec<&str> = classes.iter().map(|c| c.name()).collect();
            words.push(format!("--class={}", names.join(",")));
        }
        match &ask.journal {
            Some(query) => {
                if let Some(since) = query.since {
                    words.push(format!("--since=@{}", since.as_second()));
                }
                if let Some(until) = query.until {
                    words.push(format!("--until=@{}", until.as_second()));
                }
            }
            None => words.push("--no-journal".into()),
        }
        for word in words {
            s.push(b' ');
            s.extend_from_slice(&sh_quote(word.as_bytes()));
        }
        s.extend_from_slice(b"\nfi\n");
    }
    s.extend_from_slice(
        b"LC_ALL=C; export LC_ALL\n\
          printf 'pverec-node 1 %s\\n' \"$(uname -n)\"\n\
          send() {\n\
          \x20 if [ -L \"$2/$3\" ]; then printf 'skipped %s link\\n' \"$3\"; return 0; fi\n\
          \x20 if [ -f \"$2/$3\" ]; then\n\
          \x20   s=$(wc -c < \"$2/$3\" 2>/dev/null) || { printf 'skipped %s unreadable\\n' \"$3\"; return 0; }\n\
          \x20   s=$((s + 0))\n\
          \x20   printf '%s %s %s\\n' \"$1\" \"$3\" \"$s\"\n\
          \x20   { head -c \"$s\" \"$2/$3\"; head -c \"$s\" /dev/zero; } | head -c \"$s\"\n\
          \x20 fi\n\
          }\n",
    );
    if ask.rotated {
        s.extend_from_slice(
            b"for n in $(ls -1 /var/log/pveproxy 2>/dev/null | grep -E '^access\\.log(\\.[0-9]{1,4}(\\.gz)?)?$'); do\n\
              \x20 send log /var/log/pveproxy \"$n\"\n\
              done\n",
        );
    } else {
        s.extend_from_slice(b"send log /var/log/pveproxy access.log\n");
    }
    s.extend_from_slice(
        b"for n in index.1 index active; do send task /var/log/pve/tasks \"$n\"; done\n\
          send members /etc/pve .members\n",
    );
    match &ask.journal {
        Some(query) => {
            s.extend_from_slice(
                b"if command -v journalctl >/dev/null 2>&1; then\n\
                  \x20 echo journal\n\
                  \x20 exec journalctl",
            );
            for arg in journal::journalctl_args(query) {
                s.push(b' ');
                s.extend_from_slice(&sh_quote(arg.as_encoded_bytes()));
            }
            s.extend_from_slice(b"\nelse\n  echo nojournal\nfi\n");
        }
        None => s.extend_from_slice(b"echo end\n"),
    }
    s
}

/// The ssh program, found in the system's directories.
pub(crate) fn ssh_program() -> Option<PathBuf> {
    SSH.iter().map(PathBuf::from).find(|p| p.is_file())
}

/// ssh's argv (without the program) to run `remote` on `host`.
pub(crate) fn ssh_args(host: &Host, ssh: &Ssh, remote: &[u8]) -> Vec<OsString> {
    let secs = ssh.timeout.as_secs().max(1);
    let mut args: Vec<OsString> = Vec::new();
    if let Some(config) = &ssh.config {
        args.push("-F".into());
        args.push(config.into());
    }
    // Given first, these win over any config file (ssh takes the first value it meets).
    for option in [
        "BatchMode=yes".to_string(),
        "LogLevel=ERROR".to_string(),
        format!("ConnectTimeout={secs}"),
        format!("ServerAliveInterval={}", secs.div_ceil(3).max(1)),
        "ServerAliveCountMax=3".to_string(),
    ] {
        args.push("-o".into());
        args.push(option.into());
    }
    for option in &ssh.options {
        args.push("-o".into());
        args.push(option.into());
    }
    args.push("-T".into());
    args.push("--".into());
    args.push(host.dest.clone().into());
    args.push(os(remote));
    args
}

fn os(bytes: &[u8]) -> OsString {
    use std::os::unix::ffi::OsStringExt;
    OsString::from_vec(bytes.to_vec())
}

/// Starts ssh for `host`: its own process group, killed with pverec. Must be called on the
/// thread that outlives it (the death signal follows the thread that forked).
pub(crate) fn spawn_ssh(program: &Path, args: &[OsString]) -> io::Result<Child> {
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: only async-signal-safe calls between fork and exec (prctl, getppid, _exit).
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before the prctl: then nobody would kill this ssh.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    command.spawn()
}

/// Kills a child's whole process group (ssh and anything its config started: a
/// ProxyCommand).
pub(crate) fn kill_group(pid: u32) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) with a negative pid signals the group; no memory is touched.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

/// A node being read.
struct Reading {
    child: Child,
    /// Milliseconds since `start` of the last byte received.
    progress: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<Result<Fetched, String>>>,
    stderr: Option<std::thread::JoinHandle<Vec<u8>>>,
    timed_out: bool,
}

/// Reads every host in parallel into `dir/<i>/`; one result per host, in order. A failure is
/// a sentence naming what failed (the caller names the node).
/// `stop` set (a signal) ends every ssh at once.
pub(crate) fn fetch_all(
    hosts: &[Host],
    ssh: &Ssh,
    ask: &Ask,
    dir: &Path,
    stop: &std::sync::atomic::AtomicUsize,
) -> Vec<Result<Fetched, String>> {
    let Some(program) = ssh_program() else {
        return hosts
            .iter()
            .map(|_| {
                Err("ssh is not installed (/usr/bin/ssh): apt install openssh-client".to_string())
            })
            .collect();
    };
    let remote = script(ask);
    let start = Instant::now();
    let mut readings: Vec<Result<Reading, String>> = Vec::new();
    for (i, host) in hosts.iter().enumerate() {
        let node_dir = dir.join(i.to_string());
        if let Err(e) = std::fs::DirBuilder::new().mode(0o700).create(&node_dir) {
            readings.push(Err(format!("{}: {e}", node_dir.display())));
            continue;
        }
        let args = ssh_args(host, ssh, &remote);
        let mut child = match spawn_ssh(&program, &args) {
            Ok(child) => child,
            Err(e) => {
                readings.push(Err(format!("{} could not be run: {e}", program.display())));
                continue;
            }
        };
        let progress = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let handle = {
            let progress = Arc::clone(&progress);
            let done = Arc::clone(&done);
            let ask = ask.clone();
            std::thread::spawn(move || {
                let result = match stdout {
                    Some(out) => {
                        let mut counting = Counting {
                            inner: out,
                            progress,
                            start,
                        };
                        receive(&mut counting, &node_dir, &ask)
                    }
                    None => Err("ssh gave no output".to_string()),
                };
                done.store(true, Ordering::Release);
                result
            })
        };
        let stderr = stderr.map(|mut err| {
            std::thread::spawn(move || {
                let mut kept = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if kept.len() < 4096 {
                        kept.extend_from_slice(&buf[..n.min(4096 - kept.len())]);
                    }
                }
                kept
            })
        });
        readings.push(Ok(Reading {
            child,
            progress,
            done,
            handle: Some(handle),
            stderr,
            timed_out: false,
        }));
    }
    // The watchdog: every node has `timeout` to send its next byte.
    let timeout_ms = u64::try_from(ssh.timeout.as_millis()).unwrap_or(u64::MAX);
    loop {
        let mut running = false;
        let now = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        for reading in readings.iter_mut().flatten() {
            if reading.done.load(Ordering::Acquire) {
                continue;
            }
            running = true;
            if stop.load(Ordering::Relaxed) != 0 {
                kill_group(reading.child.id());
                continue;
            }
            if !reading.timed_out
                && now.saturating_sub(reading.progress.load(Ordering::Relaxed)) > timeout_ms
            {
                reading.timed_out = true;
                kill_group(reading.child.id());
            }
        }
        if !running {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    readings
        .into_iter()
        .map(|reading| {
            let mut reading = reading?;
            let received = reading
                .handle
                .take()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("the reader failed".to_string()))
                })
                .unwrap_or_else(|| Err("not read".to_string()));
            // The output ended: ssh ends too (or is ended), and is reaped here.
            let status = match reading.child.try_wait() {
                Ok(Some(status)) => Some(status),
                _ => {
                    let deadline = Instant::now() + Duration::from_secs(2);
                    loop {
                        match reading.child.try_wait() {
                            Ok(Some(status)) => break Some(status),
                            Ok(None) if Instant::now() < deadline => {
                                std::thread::sleep(Duration::from_millis(10));
                            }
                            _ => {
                                kill_group(reading.child.id());
                                break reading.child.wait().ok();
                            }
                        }
                    }
                }
            };
            let said = reading
                .stderr
                .take()
                .and_then(|h| h.join().ok())
                .unwrap_or_default();
            let said = first_words(&said);
            if reading.timed_out {
                return Err(format!(
                    "sent nothing for {} s, given up (its sshd or disk hangs?){}",
                    ssh.timeout.as_secs(),
                    said.map(|s| format!("; ssh said: {s}")).unwrap_or_default()
                ));
            }
            let ok = status.is_some_and(|s| s.success());
            match (received, ok) {
                (Ok(fetched), true) => Ok(fetched),
                (Ok(mut fetched), false) if fetched.journal.is_some() => {
                    // The files came; journalctl failed on the node.
                    fetched.journal = None;
                    fetched.journal_missing = Some(format!(
                        "journalctl failed on the node{}",
                        said.map(|s| format!(": {s}")).unwrap_or_default()
                    ));
                    Ok(fetched)
                }
                (Ok(_), false) | (Err(_), _) if said.is_some() => {
                    let said = said.unwrap_or_default();
                    Err(format!("ssh failed: {said}{}", hint(&said)))
                }
                (Err(e), _) => Err(e),
                (Ok(_), false) => Err(format!(
                    "ssh failed ({})",
                    status.map_or_else(|| "no status".to_string(), |s| s.to_string())
                )),
            }
        })
        .collect()
}

/// The first line of what ssh said on stderr, printable.
fn first_words(said: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(said);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let mut out = Vec::new();
    crate::render::quote::push_comment_text(&mut out, line.as_bytes());
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// What usually cures an ssh failure, for the messages (convert's and follow's).
pub(crate) fn hint(said: &str) -> &'static str {
    if said.contains("Host key verification failed") || said.contains("No ED25519 host key") {
        " (the node's host key is not in the known hosts: on a PVE node /etc/ssh/ssh_known_hosts \
         holds the cluster's, pvecm updatecerts renews it; elsewhere ssh to it once by hand, or \
         give --ssh-option StrictHostKeyChecking=accept-new if you accept the risk)"
    } else if said.contains("Permission denied") {
        " (pverec runs ssh with BatchMode: the key of the user running pverec must be in the \
         node's authorized_keys, as root's is between the nodes of a PVE cluster)"
    } else if said.contains("Could not resolve hostname") {
        " (give its address: --host NAME=ADDRESS)"
    } else if said.contains("not found") {
        " (pverec needs sh, stat, wc, tail, head, sleep and journalctl there: a PVE node has them)"
    } else {
        ""
    }
}

/// A reader that notes when it last received something.
struct Counting<R> {
    inner: R,
    progress: Arc<AtomicU64>,
    start: Instant,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
            self.progress.store(now, Ordering::Relaxed);
        }
        Ok(n)
    }
}

/// Whether `name` is one a `log` frame may carry: `access.log`, `access.log.N`, `access.log.N.gz`.
fn log_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("access.log") else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    let Some(rest) = rest.strip_prefix('.') else {
        return false;
    };
    let digits = rest.strip_suffix(".gz").unwrap_or(rest);
    !digits.is_empty() && digits.len() <= 4 && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Creates `path` for pverec's user only, never through a link or over another file.
fn create_private(path: &Path) -> io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Creates the copy of a node's file `name` in `dir` (made 0700 if it is not there yet).
fn create_copy(dir: &Path, name: &str) -> Result<std::fs::File, String> {
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let path = dir.join(name);
    create_private(&path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses a node's answer into `dir` (see the module docs).
pub(crate) fn receive(input: &mut dyn Read, dir: &Path, ask: &Ask) -> Result<Fetched, String> {
    let mut reader = BufReader::with_capacity(1 << 16, input);
    let mut fetched = Fetched {
        said_name: None,
        access_log: None,
        tasks: None,
        journal: None,
        journal_missing: None,
        members: None,
        skipped: Vec::new(),
        bytes: 0,
    };
    let first = header(&mut reader)?.ok_or("it answered nothing")?;
    let name = first
        .strip_prefix("pverec-node 1 ")
        .ok_or_else(|| format!("its answer is not pverec's: {}", printable(&first)))?;
    let short = name.split('.').next().unwrap_or(name);
    fetched.said_name = valid_node_name(short).then(|| short.to_string());
    let logs = dir.join("pveproxy");
    let tasks = dir.join("tasks");
    let mut seen: Vec<String> = Vec::new();
    loop {
        let Some(line) = header(&mut reader)? else {
            return Err("its answer ended early (the connection was lost?)".to_string());
        };
        let words: Vec<&str> = line.split_ascii_whitespace().collect();
        match words.as_slice() {
            ["end"] => return Ok(fetched),
            ["nojournal"] => {
                fetched.journal_missing = Some("journalctl is not installed there".to_string());
                return Ok(fetched);
            }
            ["journal"] if ask.journal.is_some() => {
                let path = dir.join("journal.json");
                let mut file =
                    create_private(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                let n = io::copy(&mut (&mut reader).take(MAX_JOURNAL), &mut file)
                    .map_err(|e| format!("reading its journal: {e}"))?;
                fetched.bytes += n;
                if n == MAX_JOURNAL {
                    return Err(format!(
                        "its journal is longer than {} GiB: not read",
                        MAX_JOURNAL >> 30
                    ));
                }
                fetched.journal = Some(path);
                return Ok(fetched);
            }
            ["skipped", name, why @ ("link" | "unreadable")] => {
                let known =
                    log_name(name) || matches!(*name, "index" | "index.1" | "active" | ".members");
                if !known {
                    return Err(format!("its answer is garbled: {}", printable(&line)));
                }
                let why = if *why == "link" {
                    "a symbolic link, not followed"
                } else {
                    "not readable there"
                };
                fetched.skipped.push((name.to_string(), why));
            }
            ["members", ".members", size] => {
                let size: u64 = size
                    .parse()
                    .map_err(|_| format!("its answer is garbled: {}", printable(&line)))?;
                if size > MAX_MEMBERS || fetched.members.is_some() {
                    return Err(format!("it sent a .members of {size} bytes: not read"));
                }
                let mut text = Vec::new();
                (&mut reader)
                    .take(size)
                    .read_to_end(&mut text)
                    .map_err(|e| format!("reading its .members: {e}"))?;
                if text.len() as u64 != size {
                    return Err("its answer ended early (the connection was lost?)".to_string());
                }
                // A node outside a cluster, or a .members pverec cannot read: no addresses.
                let members = crate::source::etc_pve::members::parse(&text).unwrap_or_default();
                fetched.members = Some(members);
            }
            ["log", name, "chunked"]
                if log_name(name) && (ask.rotated || *name == "access.log") =>
            {
                let key = format!("log {name}");
                if seen.contains(&key) {
                    return Err(format!(
                        "it sent a file not asked for: {}",
                        printable(&line)
                    ));
                }
                seen.push(key);
                let mut file = create_copy(&logs, name)?;
                let mut total = 0u64;
                loop {
                    let size = header(&mut reader)?
                        .and_then(|h| h.parse::<u64>().ok())
                        .ok_or_else(|| {
                            format!("its {name} is garbled (a chunk without its size)")
                        })?;
                    if size == 0 {
                        break;
                    }
                    total += size;
                    if size > 1 << 24 || total > MAX_FILE {
                        return Err(format!(
                            "it sent {name} of more than {total} bytes: not read"
                        ));
                    }
                    let n = io::copy(&mut (&mut reader).take(size), &mut file)
                        .map_err(|e| format!("reading its {name}: {e}"))?;
                    if n != size {
                        return Err(format!("its {name} ended early (the connection was lost?)"));
                    }
                }
                fetched.bytes += total;
                if *name == "access.log" || fetched.access_log.is_none() {
                    fetched.access_log = Some(logs.join("access.log"));
                }
            }
            [kind @ ("log" | "task"), name, size] => {
                let wanted = match *kind {
                    "log" => log_name(name) && (ask.rotated || *name == "access.log"),
                    _ => matches!(*name, "index" | "index.1" | "active"),
                };
                let key = format!("{kind} {name}");
                if !wanted || seen.contains(&key) {
                    return Err(format!(
                        "it sent a file not asked for: {}",
                        printable(&line)
                    ));
                }
                seen.push(key);
                let size: u64 = size
                    .parse()
                    .map_err(|_| format!("its answer is garbled: {}", printable(&line)))?;
                if size > MAX_FILE {
                    return Err(format!("it announced {name} of {size} bytes: not read"));
                }
                let into = if *kind == "log" { &logs } else { &tasks };
                let path = into.join(name);
                let mut file = create_copy(into, name)?;
                let n = io::copy(&mut (&mut reader).take(size), &mut file)
                    .map_err(|e| format!("reading its {name}: {e}"))?;
                if n != size {
                    return Err(format!(
                        "its {name} ended after {n} of {size} bytes (the connection was lost?)"
                    ));
                }
                file.flush()
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                fetched.bytes += n;
                if *kind == "log" {
                    if *name == "access.log" || fetched.access_log.is_none() {
                        fetched.access_log = Some(logs.join("access.log"));
                    }
                } else {
                    fetched.tasks = Some(tasks.clone());
                }
            }
            _ => return Err(format!("its answer is garbled: {}", printable(&line))),
        }
    }
}

/// One header line, without its newline; `None` at the end.
fn header(reader: &mut impl BufRead) -> Result<Option<String>, String> {
    let mut line = Vec::new();
    let n = reader
        .take(MAX_HEADER as u64 + 1)
        .read_until(b'\n', &mut line)
        .map_err(|e| format!("reading its answer: {e}"))?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(format!(
            "its answer is garbled: {}",
            printable(&String::from_utf8_lossy(&line))
        ));
    }
    line.pop();
    Ok(Some(String::from_utf8_lossy(&line).into_owned()))
}

/// Text from a node, made printable and short for a message.
fn printable(text: &str) -> String {
    let short: String = text.chars().take(80).collect();
    let mut out = Vec::new();
    crate::render::quote::push_comment_text(&mut out, short.as_bytes());
    String::from_utf8_lossy(&out).into_owned()
}

/// The node's side of the cluster read, when pverec is installed there (`pverec node-export`,
/// run by the script's first lines): the same frames the shell script sends, but access.log's
/// lines that the reading side's `--class` cannot want are sent as empty lines (so every line
/// keeps its number), and gzip generations are sent decompressed that way. On the default
/// selection (writes), that is a few percent of the bytes. Lines that are not access.log lines
/// are kept, so the reading side still reports them.
pub(crate) mod export {
    use std::io::{self, Write};
    use std::path::Path;

    use crate::input::{Lines, Source};
    use crate::request::{self, Class, ClassSet};
    use crate::source::{access, journal};

    /// The protocol `--probe` answers for.
    pub(crate) const PROTOCOL: u32 = 1;
    /// A chunk of a filtered file.
    const CHUNK: usize = 1 << 16;

    /// What the reading side asked for.
    pub(crate) struct Export {
        pub(crate) rotated: bool,
        /// The classes wanted; none: every line.
        pub(crate) classes: Option<Vec<Class>>,
        pub(crate) journal: Option<journal::Query>,
    }

    fn hostname() -> String {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default()
    }

    /// Writes the answer on `out`; the journal last, from journalctl.
    pub(crate) fn run(export: &Export, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "pverec-node 1 {}", hostname())?;
        let logs = Path::new("/var/log/pveproxy");
        let mut names: Vec<String> = Vec::new();
        if export.rotated {
            if let Ok(entries) = std::fs::read_dir(logs) {
                for entry in entries.flatten() {
                    if let Some(name) = entry.file_name().to_str() {
                        if super::log_name(name) {
                            names.push(name.to_string());
                        }
                    }
                }
            }
            names.sort();
        } else {
            names.push("access.log".to_string());
        }
        let wanted = export.classes.as_ref().map(|classes| {
            let mut set = ClassSet::default();
            for class in classes {
                set.insert(*class);
            }
            set
        });
        for name in names {
            let path = logs.join(&name);
            if !is_plain_file(out, &path)? {
                continue;
            }
            match wanted {
                Some(set) => send_filtered(out, &name, &path, set)?,
                None => send_whole(out, "log", &name, &path)?,
            }
        }
        for name in ["index.1", "index", "active"] {
            let path = Path::new("/var/log/pve/tasks").join(name);
            if is_plain_file(out, &path)? {
                send_whole(out, "task", name, &path)?;
            }
        }
        let members = Path::new("/etc/pve/.members");
        if is_plain_file(out, members)? {
            send_whole(out, "members", ".members", members)?;
        }
        match &export.journal {
            None => writeln!(out, "end")?,
            Some(query) => match journal::journalctl() {
                None => writeln!(out, "nojournal")?,
                Some(program) => {
                    writeln!(out, "journal")?;
                    out.flush()?;
                    let mut child = std::process::Command::new(program)
                        .args(journal::journalctl_args(query))
                        .stdin(std::process::Stdio::null())
                        .stdout(std::process::Stdio::piped())
                        .spawn()?;
                    if let Some(mut stdout) = child.stdout.take() {
                        io::copy(&mut stdout, out)?;
                    }
                    let status = child.wait()?;
                    out.flush()?;
                    if !status.success() {
                        return Err(io::Error::other(format!("journalctl: {status}")));
                    }
                }
            },
        }
        out.flush()
    }

    /// Whether to send `path`: a regular file. A link is not followed and said to be skipped,
    /// as the script says it (`skipped NAME link`).
    fn is_plain_file(out: &mut dyn Write, path: &Path) -> io::Result<bool> {
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default();
                writeln!(out, "skipped {name} link")?;
                Ok(false)
            }
            Ok(m) => Ok(m.file_type().is_file()),
            Err(_) => Ok(false),
        }
    }

    /// `skipped NAME unreadable`: the file is there, but cannot be read.
    fn unreadable(out: &mut dyn Write, name: &str) -> io::Result<()> {
        writeln!(out, "skipped {name} unreadable")
    }

    /// `KIND NAME SIZE` and the file's bytes as they are now (a file that grows meanwhile is
    /// sent up to the size announced).
    fn send_whole(out: &mut dyn Write, kind: &str, name: &str, path: &Path) -> io::Result<()> {
        let Ok(file) = crate::input::open_regular(path) else {
            return unreadable(out, name);
        };
        let size = file.metadata()?.len();
        writeln!(out, "{kind} {name} {size}")?;
        let copied = io::copy(&mut io::Read::take(&file, size), out)?;
        // Shrunk meanwhile: padded, so the stream keeps its place.
        io::copy(&mut io::Read::take(io::repeat(0), size - copied), out)?;
        Ok(())
    }

    /// `log NAME chunked`, then chunks `SIZE\n` and bytes, then `0\n`: the lines, decompressed,
    /// those that `wanted` cannot want left empty.
    fn send_filtered(
        out: &mut dyn Write,
        name: &str,
        path: &Path,
        wanted: ClassSet,
    ) -> io::Result<()> {
        let source = Source::found(path.to_path_buf());
        let Ok(mut lines) = Lines::open(&source, Default::default()) else {
            return unreadable(out, name);
        };
        writeln!(out, "log {name} chunked")?;
        let mut chunk: Vec<u8> = Vec::with_capacity(CHUNK + 4096);
        let flush = |out: &mut dyn Write, chunk: &mut Vec<u8>| -> io::Result<()> {
            if !chunk.is_empty() {
                writeln!(out, "{}", chunk.len())?;
                out.write_all(chunk)?;
                chunk.clear();
            }
            Ok(())
        };
        while lines.advance()? {
            let line = lines.line();
            let keep = match access::parse(line) {
                Ok(parsed) => wanted.intersects(request::possible_classes(parsed.request)),
                // Not an access.log line: the reading side reports it.
                Err(_) => !line.is_empty(),
            };
            if keep {
                chunk.extend_from_slice(line);
            }
            chunk.push(b'\n');
            if chunk.len() >= CHUNK {
                flush(out, &mut chunk)?;
            }
        }
        flush(out, &mut chunk)?;
        writeln!(out, "0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn host_forms() {
        let h = parse_host("pve2").unwrap();
        assert_eq!(
            (h.name.as_deref(), h.dest.as_str(), h.addr),
            (Some("pve2"), "pve2", None)
        );
        let h = parse_host("pve2=10.0.0.2").unwrap();
        assert_eq!(h.name.as_deref(), Some("pve2"));
        assert_eq!(h.dest, "10.0.0.2");
        assert_eq!(h.addr, Some("10.0.0.2".parse().unwrap()));
        let h = parse_host("root@fd00::2").unwrap();
        assert_eq!((h.name.as_deref(), h.dest.as_str()), (None, "root@fd00::2"));
        let h = parse_host("pve3=admin@pve3.example.com").unwrap();
        assert_eq!(h.dest, "admin@pve3.example.com");
        assert_eq!(h.label(), "pve3");
    }

    #[test]
    fn hosts_that_could_be_options_or_shell_are_refused() {
        for bad in [
            "-oProxyCommand=touch /tmp/x",
            "pve1=-oProxyCommand=x",
            "pve1;id",
            "pve1=10.0.0.1;id",
            "$(id)@10.0.0.1",
            "-l@10.0.0.1",
            "pve1=root@",
            "",
            "pve\u{1b}]0;x",
        ] {
            assert!(parse_host(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_script_asks_for_what_is_wanted() {
        let plain = String::from_utf8(script(&Ask::default())).unwrap();
        assert!(plain.contains("send log /var/log/pveproxy access.log\n"));
        assert!(plain.ends_with("echo end\n"));
        let query = journal::Query {
            since: Some(jiff::Timestamp::from_second(100).unwrap()),
            ..journal::Query::default()
        };
        let full = String::from_utf8(script(&Ask {
            rotated: true,
            journal: Some(query),
            ..Ask::default()
        }))
        .unwrap();
        assert!(full.contains("grep -E '^access"));
        assert!(full.contains("exec journalctl '-o' 'json'") || full.contains("exec journalctl '"));
        assert!(full.contains("'--since=@100'"));
    }

    /// The script really runs under a POSIX shell and its answer parses: dash if there is
    /// one (Debian's /bin/sh), with the node's paths swapped for a test directory.
    #[test]
    fn the_script_answers_in_frames_that_receive_reads() {
        let root = tempfile::tempdir().unwrap();
        let logs = root.path().join("var/log/pveproxy");
        let tasks = root.path().join("var/log/pve/tasks");
        std::fs::create_dir_all(&logs).unwrap();
        std::fs::create_dir_all(&tasks).unwrap();
        std::fs::write(logs.join("access.log"), b"line one\nline two\n").unwrap();
        std::fs::write(logs.join("access.log.1"), b"older\n").unwrap();
        std::fs::write(logs.join("access.log.2.gz"), [0x1f, 0x8b, 0, 1, 2]).unwrap();
        std::fs::write(logs.join("evil;name"), b"x").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", logs.join("access.log.3")).unwrap();
        std::fs::write(tasks.join("index"), b"task line\n").unwrap();
        let ask = Ask {
            rotated: true,
            ..Ask::default()
        };
        let text = String::from_utf8(script(&ask))
            .unwrap()
            .replace("/var/log/", &format!("{}/var/log/", root.path().display()));
        let out = Command::new("sh").arg("-c").arg(&text).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let into = tempfile::tempdir().unwrap();
        let fetched = receive(&mut out.stdout.as_slice(), into.path(), &ask).unwrap();
        assert!(fetched.said_name.is_some());
        let got = |p: &str| std::fs::read(into.path().join(p)).unwrap();
        assert_eq!(got("pveproxy/access.log"), b"line one\nline two\n");
        assert_eq!(got("pveproxy/access.log.1"), b"older\n");
        assert_eq!(got("pveproxy/access.log.2.gz"), [0x1f, 0x8b, 0, 1, 2]);
        assert!(
            !into.path().join("pveproxy/access.log.3").exists(),
            "a symlink is not sent"
        );
        assert_eq!(
            fetched.skipped,
            [("access.log.3".to_string(), "a symbolic link, not followed")],
            "and it is said"
        );
        assert_eq!(got("tasks/index"), b"task line\n");
        assert_eq!(
            fetched.tasks.as_deref(),
            Some(into.path().join("tasks").as_path())
        );
        let mode = std::fs::metadata(into.path().join("tasks/index")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn a_hostile_answer_is_refused_not_followed() {
        let ask = Ask::default();
        for (answer, why) in [
            (&b"hello\n"[..], "not pverec's"),
            (
                b"pverec-node 1 pve2\nlog ../../etc/cron.d/x 3\nabc",
                "not asked for",
            ),
            (
                b"pverec-node 1 pve2\nlog access.log.1 3\nabc",
                "not asked for",
            ),
            (
                b"pverec-node 1 pve2\ntask index 3\nabctask index 1\nx",
                "not asked for",
            ),
            (
                b"pverec-node 1 pve2\nlog access.log 99999999999999999\n",
                "not read",
            ),
            (
                b"pverec-node 1 pve2\nlog access.log 10\nabc",
                "ended after 3 of 10",
            ),
            (b"pverec-node 1 pve2\njournal\n{}", "garbled"),
            (b"pverec-node 1 pve2\n", "ended early"),
        ] {
            let into = tempfile::tempdir().unwrap();
            let err = receive(&mut &answer[..], into.path(), &ask).unwrap_err();
            assert!(
                err.contains(why),
                "{err} for {:?}",
                String::from_utf8_lossy(answer)
            );
        }
    }

    #[test]
    fn a_node_name_with_control_bytes_is_not_taken() {
        let into = tempfile::tempdir().unwrap();
        let fetched = receive(
            &mut &b"pverec-node 1 pve\x1b]0;x\x07\nend\n"[..],
            into.path(),
            &Ask::default(),
        )
        .unwrap();
        assert_eq!(fetched.said_name, None);
    }

    #[test]
    fn ssh_gets_batch_mode_and_the_destination_after_the_options() {
        let host = parse_host("pve2=10.0.0.2").unwrap();
        let ssh = Ssh {
            config: Some("/etc/cfg".into()),
            options: vec!["StrictHostKeyChecking=accept-new".into()],
            timeout: Duration::from_secs(9),
        };
        let args: Vec<String> = ssh_args(&host, &ssh, b"echo")
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        assert_eq!(&args[..2], ["-F", "/etc/cfg"]);
        assert!(args.windows(2).any(|w| w == ["-o", "BatchMode=yes"]));
        assert!(args.windows(2).any(|w| w == ["-o", "ConnectTimeout=9"]));
        assert!(!args.iter().any(|a| a.contains("StrictHostKeyChecking=no")));
        let n = args.len();
        assert_eq!(&args[n - 3..], ["--", "10.0.0.2", "echo"]);
    }

    proptest! {
        /// sh reads a quoted word back as exactly its bytes.
        #[test]
        fn sh_quote_round_trips(word in proptest::collection::vec(1u8..=255, 0..40)) {
            let mut script = b"printf '%s' ".to_vec();
            script.extend_from_slice(&sh_quote(&word));
            let out = Command::new("sh")
                .arg("-c")
                .arg(os(&script))
                .output()
                .unwrap();
            prop_assert_eq!(out.stdout, word);
        }

        #[test]
        fn receive_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let into = tempfile::tempdir().unwrap();
            let mut answer = b"pverec-node 1 pve2\n".to_vec();
            answer.extend_from_slice(&bytes);
            let _ = receive(&mut answer.as_slice(), into.path(), &Ask::default());
        }

        #[test]
        fn parse_host_never_yields_an_option(spec in "\\PC{0,30}") {
            if let Ok(host) = parse_host(&spec) {
                prop_assert!(!host.dest.starts_with('-'));
                prop_assert!(host.dest.bytes().all(|b| b.is_ascii_alphanumeric() || b"@.:-_".contains(&b)));
            }
        }
    }
}
