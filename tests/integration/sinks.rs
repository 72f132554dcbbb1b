//! `--to journal` and `--to syslog+udp|tcp://`: the records reach a real rsyslog over TCP across
//! its restart and a `kill -9` of pverec, a datagram socket the test binds decodes journald's
//! native protocol (a large entry comes in a sealed memfd), and a real systemd-journald in a
//! mount namespace of its own stores the entries with their fields.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::follower::{Backend, DEADLINE, Follower, Scene, append, line, lines};
use super::util::{data, pverec, require_tool};

/// A port on loopback that nothing listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `done` until it holds, or panics after [`DEADLINE`] saying `what`.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    let mut delay = Duration::from_millis(5);
    while !done() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(100));
    }
}

/// A real rsyslogd (Debian's rsyslog) with imtcp on 127.0.0.1:`port`, writing each message as
/// `MSGID STRUCTURED-DATA MSG` to `out`.
struct Rsyslog {
    child: Option<Child>,
    dir: PathBuf,
    port: u16,
    out: PathBuf,
}

impl Rsyslog {
    fn start(dir: &Path, port: u16) -> Rsyslog {
        let rsyslogd = require_tool("rsyslogd");
        let out = dir.join("collected.log");
        let work = dir.join("rsyslog-work");
        fs::create_dir_all(&work).unwrap();
        let conf = dir.join("rsyslog.conf");
        fs::write(
            &conf,
            format!(
                "global(workDirectory=\"{work}\" maxMessageSize=\"1m\")\n\
                 main_queue(queue.type=\"Direct\")\n\
                 module(load=\"imtcp\")\n\
                 input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{port}\")\n\
                 template(name=\"rec\" type=\"string\" \
                   string=\"%hostname% %app-name% %msgid% %structured-data% %msg%\\n\")\n\
                 action(type=\"omfile\" file=\"{out}\" template=\"rec\")\n",
                work = work.display(),
                out = out.display()
            ),
        )
        .unwrap();
        let n = fs::read_dir(dir).unwrap().count();
        let child = Command::new(rsyslogd)
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(dir.join("rsyslog.pid"))
            .stdin(Stdio::null())
            .stdout(fs::File::create(dir.join(format!("rsyslog-{n}.out"))).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("rsyslogd starts");
        let r = Rsyslog {
            child: Some(child),
            dir: dir.to_path_buf(),
            port,
            out,
        };
        // Listening: a connection is accepted (and closed again at once: rsyslog takes it as an
        // empty session).
        wait_for("rsyslog to listen", || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        r
    }

    /// SIGTERM, and the exit.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on a child we own and have not reaped.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            child.wait().unwrap();
        }
    }

    /// The messages collected: (msgid, structured data, message).
    fn messages(&self) -> Vec<(String, String, String)> {
        let text = fs::read_to_string(&self.out).unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let (_host, rest) = l.split_once(' ')?;
                let (app, rest) = rest.split_once(' ')?;
                assert_eq!(app, "pverec", "{l}");
                let (msgid, rest) = rest.split_once(' ')?;
                let end = rest.find("] ")?;
                Some((
                    msgid.to_string(),
                    rest[..=end].to_string(),
                    rest[end + 2..].to_string(),
                ))
            })
            .collect()
    }

    /// How many times each VM's start arrived (by the record's object).
    fn starts(&self) -> BTreeMap<u64, usize> {
        let mut count = BTreeMap::new();
        for (msgid, sd, msg) in self.messages() {
            assert_eq!(msgid, "request");
            let record: Value = serde_json::from_str(&msg).expect("the message is the JSON record");
            let id: u64 = record["object"]["id"].as_str().unwrap().parse().unwrap();
            assert!(
                sd.contains(&format!("object=\"qemu/{id}\"")) && sd.contains("user=\"alice@pve\""),
                "{sd}"
            );
            *count.entry(id).or_insert(0) += 1;
        }
        count
    }

    fn wait_starts(&self, ids: std::ops::Range<u64>) -> BTreeMap<u64, usize> {
        wait_for(&format!("rsyslog to collect VMs {ids:?}"), || {
            let got = self.starts();
            ids.clone().all(|id| got.contains_key(&id))
        });
        self.starts()
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = (&self.dir, self.port);
    }
}

fn to_tcp(port: u16) -> String {
    format!("syslog+tcp://127.0.0.1:{port}")
}

#[test]
fn a_real_rsyslog_gets_every_record_once_across_its_restart_and_none_is_lost_to_a_kill_9() {
    let scene = Scene::new(Backend::Inotify);
    let dir = scene.dir.path();
    let port = free_port();
    let to = to_tcp(port);
    let state = scene.state.to_str().unwrap();
    let args = ["-f", "json", "--to", to.as_str(), "--state", state];
    fs::write(&scene.log, "").unwrap();
    let mut rsyslog = Rsyslog::start(dir, port);
    let mut f = Follower::start(dir, &scene.log, Backend::Inotify, &args);

    append(&scene.log, &lines(1..6));
    rsyslog.wait_starts(1..6);

    // The collector restarts mid-stream: the lines logged while it is down wait in pverec.
    rsyslog.stop();
    append(&scene.log, &lines(6..11));
    f.wait_stderr(&format!("{to}: "));
    assert!(f.stderr().contains("records wait for it"), "{}", f.stderr());
    let mut rsyslog = Rsyslog::start(dir, port);
    append(&scene.log, &lines(11..16));
    let got = rsyslog.wait_starts(1..16);
    assert!(
        got.values().all(|n| *n == 1),
        "every record once across the restart: {got:?}"
    );
    f.wait_stderr(&format!("{to}: back after"));
    assert!(f.output().is_empty(), "nothing on stdout: {:?}", f.output());

    // kill -9 while the collector is down: the records not taken are read again on restart,
    // because the state did not move past them.
    rsyslog.stop();
    append(&scene.log, &lines(16..19));
    // Said again for this second time away: line 16 waits in pverec, not taken.
    f.wait_until("pverec to find the collector away again", || {
        f.stderr().matches("records wait for it").count() == 2
    });
    // Its round done (it sleeps until the next try): a state saved in it would be on disk.
    f.wait_until("pverec to wait", || f.is_sleeping());
    f.stop_with(libc::SIGKILL);
    let rsyslog = Rsyslog::start(dir, port);
    let f = Follower::start(dir, &scene.log, Backend::Inotify, &args);
    append(&scene.log, &lines(19..21));
    let got = rsyslog.wait_starts(1..21);
    assert!(
        (1..16).all(|id| got[&id] == 1),
        "what was taken before the kill is not sent again: {got:?}"
    );
    assert!(got.keys().copied().eq(1..21), "none lost: {got:?}");
    drop(f);
}

#[test]
fn a_collector_away_longer_than_the_buffer_holds_drops_the_oldest_and_says_how_many_and_when() {
    let scene = Scene::new(Backend::Inotify);
    let dir = scene.dir.path();
    let port = free_port();
    let to = to_tcp(port);
    fs::write(&scene.log, "").unwrap();
    let args = ["-f", "json", "--to", to.as_str(), "--sink-buffer", "3"];
    let f = Follower::start(dir, &scene.log, Backend::Inotify, &args);
    // Ten lines an hour apart while nothing listens.
    let text: String = (1..11)
        .map(|n| {
            line(n).replace(
                "24/06/2026:14:03:14",
                &format!("24/06/2026:{:02}:00:00", n + 5),
            )
        })
        .collect();
    append(&scene.log, &text);
    f.wait_stderr("records wait for it");
    // Said as soon as the buffer is full, not only once the collector is back.
    f.wait_stderr(&format!(
        "{to}: 3 records wait for it, as many as --sink-buffer holds; the oldest are dropped"
    ));
    let rsyslog = Rsyslog::start(dir, port);
    let got = rsyslog.wait_starts(8..11);
    assert_eq!(got.keys().copied().collect::<Vec<_>>(), vec![8, 9, 10]);
    // Times are +0200 in the log: 06:00 is 04:00Z.
    f.wait_stderr(&format!(
        "{to}: 7 records dropped for want of room (--sink-buffer) while it was away, logged \
         from 2026-06-24T04:00:00Z to 2026-06-24T10:00:00Z"
    ));
}

/// The RFC 5424 parts of a message: (PRI, version, timestamp, hostname, app, procid, msgid,
/// structured data, message).
fn rfc5424(message: &str) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    let mut rest = message;
    let (pri, after) = rest[1..].split_once('>').unwrap();
    parts.push(pri.to_string());
    rest = after;
    for _ in 0..6 {
        let (word, after) = rest.split_once(' ').unwrap();
        parts.push(word.to_string());
        rest = after;
    }
    if let Some(after) = rest.strip_prefix("- ") {
        parts.push("-".into());
        rest = after;
    } else {
        let end = rest.find("] ").unwrap();
        parts.push(rest[..=end].to_string());
        rest = &rest[end + 2..];
    }
    parts.push(rest.to_string());
    parts
}

/// `pverec ARGS --to TO LOG`, which must succeed with nothing on stdout: the datagrams
/// `socket` received.
fn udp_run(socket: &UdpSocket, args: &[&str], to: &str, log: &Path) -> Vec<String> {
    let out = pverec()
        .args(args)
        .args(["--to", to])
        .arg(log)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "nothing on stdout");
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Ok(n) = socket.recv(&mut buf) {
        got.push(String::from_utf8(buf[..n].to_vec()).unwrap());
    }
    got
}

#[test]
fn convert_sends_one_rfc5424_datagram_per_record_over_udp_in_ecs_and_ocsf() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let port = socket.local_addr().unwrap().port();
    let dir = data("tasks");
    let base = [
        "convert",
        "--node",
        "pve1",
        "--tasks",
        dir.to_str().unwrap(),
        "-f",
        "ecs",
    ];
    let log = dir.join("access.log");
    let expected = super::util::stdout_of(pverec().args(base).arg(&log));
    let to = format!("syslog+udp://127.0.0.1:{port}");
    let got = udp_run(&socket, &base, &to, &log);
    let lines: Vec<&str> = expected.lines().collect();
    assert_eq!(got.len(), lines.len());
    for (message, line) in got.iter().zip(lines) {
        let parts = rfc5424(message);
        let doc: Value = serde_json::from_str(line).unwrap();
        // The record's own outcome (pending, unknown …), which ECS folds into its three.
        let outcome = doc["proxmox"]["outcome"].as_str().unwrap();
        // authpriv (10) × 8 + notice (5) for a failure, info (6) otherwise.
        assert_eq!(parts[0], if outcome == "failure" { "85" } else { "86" });
        assert_eq!(parts[1], "1");
        assert_eq!(parts[2], doc["@timestamp"].as_str().unwrap());
        assert_eq!(parts[3], "pve1");
        assert_eq!(parts[4], "pverec");
        assert_eq!(parts[6], "request");
        assert!(
            parts[7].starts_with("[pverec@32473 user=\"")
                && parts[7].contains(&format!("outcome=\"{outcome}\"")),
            "{}",
            parts[7]
        );
        assert_eq!(parts[8], line, "the message is the ECS line");
    }
    // OCSF: the record is found under unmapped.proxmox for the structured data.
    let ocsf_base = [&base[..base.len() - 1], &["ocsf"]].concat();
    let expected = super::util::stdout_of(pverec().args(&ocsf_base).arg(&log));
    let got = udp_run(&socket, &ocsf_base, &to, &log);
    assert_eq!(got.len(), expected.lines().count());
    for (message, line) in got.iter().zip(expected.lines()) {
        let parts = rfc5424(message);
        let event: Value = serde_json::from_str(line).unwrap();
        let record = &event["unmapped"]["proxmox"];
        let user = record["user"].as_str().unwrap();
        assert!(
            parts[7].contains(&format!("user=\"{user}\"")),
            "{}",
            parts[7]
        );
        assert_eq!(parts[2], record["time"].as_str().unwrap());
        assert_eq!(parts[8], line, "the message is the OCSF line");
    }
}

#[test]
fn convert_to_a_collector_that_never_answers_fails_naming_it() {
    let port = free_port();
    let to = to_tcp(port);
    let dir = data("tasks");
    let out = pverec()
        .args(["convert", "--node", "pve1", "-f", "json", "--to", &to])
        .arg(dir.join("access.log"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{to}: took nothing for 10 s")),
        "{err}"
    );
    assert!(err.contains("records not delivered"), "{err}");
}

#[test]
fn a_sink_takes_only_the_formats_of_one_record_per_line_and_names_must_be_sinks() {
    let log = data("access.log");
    for (args, needle) in [
        (
            vec!["--to", "journal"],
            "cannot be used with '--format pvesh'",
        ),
        (
            vec!["--to", "syslog+tcp://h:1", "-f", "script"],
            "cannot be used with '--format script'",
        ),
        (vec!["--to", "syslog+tcp://h"], "needs a port"),
        (vec!["--to", "file.json"], "not a sink"),
        (vec!["--to", "journal:rel"], "absolute path"),
    ] {
        let out = pverec()
            .arg("convert")
            .args(&args)
            .arg(&log)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

/// One native-protocol entry as journald reads it (`journald-native.c`): `NAME=value` lines,
/// or `NAME`, a little-endian u64 length, the value and a newline.
fn decode_entry(mut entry: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut fields = BTreeMap::new();
    while !entry.is_empty() {
        let end = entry
            .iter()
            .position(|b| *b == b'\n')
            .expect("a field ends");
        let head = &entry[..end];
        match head.iter().position(|b| *b == b'=') {
            Some(eq) => {
                fields.insert(
                    String::from_utf8(head[..eq].to_vec()).unwrap(),
                    head[eq + 1..].to_vec(),
                );
                entry = &entry[end + 1..];
            }
            None => {
                let len = u64::from_le_bytes(entry[end + 1..end + 9].try_into().unwrap()) as usize;
                assert_eq!(entry[end + 9 + len], b'\n');
                fields.insert(
                    String::from_utf8(head.to_vec()).unwrap(),
                    entry[end + 9..end + 9 + len].to_vec(),
                );
                entry = &entry[end + 10 + len..];
            }
        }
    }
    fields
}

/// Receives one datagram with any descriptor passed alongside it: (payload, the descriptor).
fn recv_with_fd(socket: &UnixDatagram) -> Option<(Vec<u8>, Option<OwnedFd>)> {
    use std::os::fd::AsRawFd;
    let mut buf = vec![0u8; 1 << 20];
    let mut control = [0u64; 8];
    // SAFETY: msghdr with one iovec over `buf` and a control buffer, both alive across the
    // call; the returned control messages are read with the CMSG macros within `control`.
    unsafe {
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        let n = libc::recvmsg(socket.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC);
        if n < 0 {
            return None;
        }
        let mut fd = None;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if !cmsg.is_null()
            && (*cmsg).cmsg_level == libc::SOL_SOCKET
            && (*cmsg).cmsg_type == libc::SCM_RIGHTS
        {
            let mut raw: libc::c_int = -1;
            std::ptr::copy_nonoverlapping(
                libc::CMSG_DATA(cmsg),
                (&raw mut raw).cast::<u8>(),
                std::mem::size_of::<libc::c_int>(),
            );
            fd = Some(OwnedFd::from_raw_fd(raw));
        }
        buf.truncate(n as usize);
        Some((buf, fd))
    }
}

/// A GET whose query is `size` bytes: its record is larger than a datagram may be.
fn huge_line(size: usize) -> String {
    let filler = "a".repeat(size);
    format!(
        "::ffff:192.168.10.23 - alice@pve [24/06/2026:14:03:15 +0200] \
         \"GET /api2/json/nodes/pve1/qemu/100/config?note={filler} HTTP/1.1\" 200 1000\n"
    )
}

/// A datagram socket standing for journald's, in a directory of its own.
struct JournalSocket {
    _dir: tempfile::TempDir,
    path: PathBuf,
    socket: UnixDatagram,
}

impl JournalSocket {
    fn new() -> JournalSocket {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        JournalSocket {
            _dir: dir,
            path,
            socket,
        }
    }

    /// Runs pverec with `args` and `--to journal:SOCKET`, receiving while it sends (as journald
    /// does: a datagram socket queues only a few): the datagrams, each with any descriptor
    /// passed, and the run's output. It must succeed and print nothing on stdout.
    fn run(&self, dir: &Path, args: &[&str]) -> Vec<(Vec<u8>, Option<OwnedFd>)> {
        let child = Command::new(super::util::bin())
            .current_dir(dir)
            .args(args)
            .arg("--to")
            .arg(format!("journal:{}", self.path.display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut received = Vec::new();
        while let Some(datagram) = recv_with_fd(&self.socket) {
            received.push(datagram);
        }
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stdout.is_empty(),
            "records go to the journal, not stdout"
        );
        received
    }
}

#[test]
fn journal_entries_decode_with_their_fields_and_a_large_one_comes_sealed_in_a_memfd() {
    let journal = JournalSocket::new();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let mut text = fs::read_to_string(data("tasks").join("access.log")).unwrap();
    text.push_str(&huge_line(400_000));
    fs::write(&log, text).unwrap();
    let tasks = data("tasks");
    let args = [
        "convert",
        "--all",
        "--node",
        "pve1",
        "--tasks",
        tasks.to_str().unwrap(),
        "-f",
        "json",
        log.to_str().unwrap(),
    ];
    let expected = super::util::stdout_of(pverec().args(args));
    let received = journal.run(dir.path(), &args);
    let mut entries = Vec::new();
    let mut by_memfd = 0;
    for (payload, fd) in received {
        let bytes = match fd {
            None => payload,
            Some(fd) => {
                assert!(payload.is_empty(), "a memfd comes alone");
                use std::os::fd::AsRawFd;
                // SAFETY: fcntl(2) F_GET_SEALS on a descriptor we own.
                let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
                let wanted = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
                assert_eq!(seals & wanted, wanted, "sealed as journald requires");
                let mut file = fs::File::from(fd);
                // The descriptor shares pverec's file offset (at the end): read from the start,
                // as journald does (it maps the file).
                std::io::Seek::rewind(&mut file).unwrap();
                let mut bytes = Vec::new();
                file.read_to_end(&mut bytes).unwrap();
                by_memfd += 1;
                assert!(bytes.len() > 400_000);
                bytes
            }
        };
        entries.push(decode_entry(&bytes));
    }
    assert_eq!(by_memfd, 1, "the large entry, and only it, in a memfd");
    let lines: Vec<&str> = expected.lines().collect();
    assert_eq!(entries.len(), lines.len());
    for (entry, line) in entries.iter().zip(&lines) {
        assert_eq!(
            entry["MESSAGE"],
            line.as_bytes(),
            "MESSAGE is the record's line"
        );
        assert_eq!(entry["SYSLOG_IDENTIFIER"], b"pverec");
        let record: Value = serde_json::from_str(line).unwrap();
        let field = |name: &str| {
            entry
                .get(name)
                .map(|v| String::from_utf8(v.clone()).unwrap())
        };
        assert_eq!(field("PVEREC_USER").as_deref(), record["user"].as_str());
        assert_eq!(field("PVEREC_EVENT").as_deref(), record["event"].as_str());
        assert_eq!(field("PVEREC_NODE").as_deref(), Some("pve1"));
        assert_eq!(
            field("PVEREC_OUTCOME").as_deref(),
            record["outcome"].as_str()
        );
        assert_eq!(
            field("PVEREC_CLIENT").as_deref(),
            record["source_ip"].as_str()
        );
        if let Some(action) = record["action"].as_str() {
            assert_eq!(field("PVEREC_ACTION").as_deref(), Some(action));
        }
        if let Some(id) = record["object"]["id"].as_str() {
            let kind = record["object"]["type"].as_str().unwrap();
            assert_eq!(field("PVEREC_OBJECT"), Some(format!("{kind}/{id}")));
        }
        let priority = if record["outcome"] == "failure" {
            "5"
        } else {
            "6"
        };
        assert_eq!(field("PRIORITY").as_deref(), Some(priority));
    }
}

#[test]
fn follow_waits_for_a_journal_that_is_away_and_moves_the_state_only_once_it_took_the_records() {
    let scene = Scene::new(Backend::Inotify);
    let dir = scene.dir.path();
    let sock = dir.join("journal.sock");
    let to = format!("journal:{}", sock.display());
    let state = scene.state.to_str().unwrap();
    fs::write(&scene.log, "").unwrap();
    let args = ["-f", "json", "--to", to.as_str(), "--state", state];
    let mut f = Follower::start(dir, &scene.log, Backend::Inotify, &args);
    let saved = || fs::read_to_string(&scene.state).unwrap_or_default();
    f.wait_until("the first state", || !saved().is_empty());
    let before = saved();
    append(&scene.log, &lines(1..4));
    f.wait_stderr(&format!("the journal ({}): ", sock.display()));
    assert!(f.stderr().contains("records wait for it"), "{}", f.stderr());
    // Away: the state stays where everything was taken, however often pverec looks.
    let tries = Instant::now();
    f.wait_until("a few retries", || {
        tries.elapsed() > Duration::from_millis(600)
    });
    assert_eq!(
        saved(),
        before,
        "the state did not move past records not taken"
    );
    let socket = UnixDatagram::bind(&sock).unwrap();
    socket.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut got = Vec::new();
    while got.len() < 3 {
        let (payload, _) = recv_with_fd(&socket).expect("the records arrive");
        let entry = decode_entry(&payload);
        let record: Value = serde_json::from_slice(&entry["MESSAGE"]).unwrap();
        got.push(record["object"]["id"].as_str().unwrap().to_string());
    }
    assert_eq!(got, ["1", "2", "3"]);
    f.wait_until("the state to move on", || saved() != before);
    f.wait_stderr("back after");
    f.stop();
}

#[test]
fn a_real_journald_stores_the_entries_with_their_fields() {
    let journald = [
        "/lib/systemd/systemd-journald",
        "/usr/lib/systemd/systemd-journald",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
    .unwrap_or_else(|| require_tool("systemd-journald"));
    let unshare = require_tool("unshare");
    let journalctl = require_tool("journalctl");
    // journald binds /run/systemd/journal/socket and writes /run/log/journal: a tmpfs on /run
    // in a mount namespace of its own keeps it off this machine's (or a real journald's).
    let mut child = Command::new(unshare)
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "mount -t tmpfs -o mode=0755 tmpfs /run && mkdir -p /run/systemd/journal \
             /run/log/journal && exec {} ",
            journald.display()
        ))
        .env("SYSTEMD_LOG_TARGET", "console")
        .env("SYSTEMD_LOG_LEVEL", "warning")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("journald starts");
    struct Kill<'a>(&'a mut Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let pid = child.id();
    let guard = Kill(&mut child);
    let root = PathBuf::from(format!("/proc/{pid}/root"));
    let sock = root.join("run/systemd/journal/socket");
    wait_for("journald's socket", || sock.exists());
    let tasks = data("tasks");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let mut text = fs::read_to_string(tasks.join("access.log")).unwrap();
    text.push_str(&huge_line(400_000));
    fs::write(&log, text).unwrap();
    let out = pverec()
        .args([
            "convert",
            "--all",
            "--node",
            "pve1",
            "--tasks",
            tasks.to_str().unwrap(),
        ])
        .args(["-f", "ecs", "--to", &format!("journal:{}", sock.display())])
        .arg(&log)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let journal = root.join("run/log/journal");
    let query = |args: &[&str]| {
        let out = Command::new(&journalctl)
            .arg("--directory")
            .arg(&journal)
            .args(["-o", "json", "--all", "--no-pager"])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let mut entries: Vec<Value> = Vec::new();
    wait_for("journald to store the failed start", || {
        entries = query(&["SYSLOG_IDENTIFIER=pverec", "PVEREC_OUTCOME=failure"])
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        !entries.is_empty()
    });
    let entry = &entries[0];
    assert_eq!(entry["PVEREC_USER"], "alice@pve");
    assert_eq!(entry["PVEREC_ACTION"], "vm_start");
    assert_eq!(entry["PVEREC_OBJECT"], "qemu/104");
    assert_eq!(entry["PRIORITY"], "5");
    let doc: Value = serde_json::from_str(entry["MESSAGE"].as_str().unwrap()).unwrap();
    assert_eq!(doc["event"]["outcome"], "failure");
    assert_eq!(doc["proxmox"]["object"]["id"], "104");
    // The entry too large for a datagram came through the memfd, whole.
    let big: Vec<Value> = query(&[
        "SYSLOG_IDENTIFIER=pverec",
        "PVEREC_TIME=2026-06-24T12:03:15Z",
    ])
    .lines()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect();
    assert_eq!(big.len(), 1, "the large entry is stored once");
    let message = big[0]["MESSAGE"].as_str().expect("stored as text");
    assert!(message.len() > 400_000);
    let doc: Value = serde_json::from_str(message).unwrap();
    assert_eq!(doc["http"]["request"]["method"], "GET");
    drop(guard);
}

#[test]
fn sessions_go_to_the_journal_one_entry_each() {
    let journal = JournalSocket::new();
    let sessions = data("sessions");
    let args = [
        "sessions",
        "--tasks",
        "tasks",
        "--journal-file",
        "entries.json",
        "--etc-pve",
        "etc-pve",
        "-f",
        "json",
        "access.log",
    ];
    let expected = super::util::stdout_of(pverec().current_dir(&sessions).args(args));
    let entries: Vec<_> = journal
        .run(&sessions, &args)
        .iter()
        .map(|(payload, _)| decode_entry(payload))
        .collect();
    let lines: Vec<&str> = expected.lines().collect();
    assert!(lines.len() > 5);
    assert_eq!(entries.len(), lines.len());
    for (entry, line) in entries.iter().zip(lines) {
        assert_eq!(entry["MESSAGE"], line.as_bytes());
        let record: Value = serde_json::from_str(line).unwrap();
        assert_eq!(
            entry
                .get("PVEREC_USER")
                .map(|u| String::from_utf8(u.clone()).unwrap()),
            record["user"].as_str().map(str::to_string)
        );
    }
}
