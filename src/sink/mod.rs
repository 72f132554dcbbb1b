//! Where the rendered records go: standard output (the default), the systemd journal, or a
//! syslog collector. Renderers append to one buffer ([`Output`]); a sink decides when and how
//! it leaves.
//!
//! The journal and syslog sinks take the JSON formats only (`json`, `ecs`, `ocsf`): one line
//! is one record is one journal entry or syslog message, and each carries fields a collector
//! can match on without parsing JSON (who, what, outcome, object, node, client), read from the
//! pverec record inside the line ([`Record`]).
//!
//! What an audit trail needs from a sink is that a record is never lost in silence. So each
//! record waits in a [`Queue`] until the transport took it (a datagram sent, every byte written
//! to the TCP connection). In follow, a sink that is away (journald restarting, a collector
//! down) is retried with back-off while reading goes on; the records wait, at most
//! `--sink-buffer` of them, and those dropped for room are counted and reported with the time
//! span they cover. `--state` is saved only while nothing waits ([`Output::delivered`]), so a
//! restart reads again whatever was not taken: at least once, as for standard output. convert
//! waits instead of dropping, and fails when the sink takes nothing for [`PATIENCE`].

pub(crate) mod journal;
mod stdout;
pub(crate) mod syslog;

use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::messages;
pub(crate) use stdout::{Output, is_stopped, stderr_interruptible, write_stderr};

/// journald's socket for native-protocol datagrams (systemd `journald-native.c`).
pub(crate) const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// How long convert waits for a sink that takes nothing before it gives up.
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

/// The first wait before a sink that failed is tried again; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// `--to`: where records go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Stdout,
    /// journald's native protocol on this socket.
    Journal(PathBuf),
    /// RFC 5424 over UDP (RFC 5426) or TCP with octet counting (RFC 6587).
    Syslog {
        tcp: bool,
        host: String,
        port: u16,
    },
}

impl Target {
    /// Parses a `--to` value: `stdout`, `journal`, `journal:/PATH`, `syslog+udp://HOST:PORT`,
    /// `syslog+tcp://HOST:PORT` (an IPv6 address in brackets).
    pub(crate) fn parse(text: &str) -> Result<Target, String> {
        if text == "stdout" || text == "-" {
            return Ok(Target::Stdout);
        }
        if text == "journal" {
            return Ok(Target::Journal(PathBuf::from(JOURNAL_SOCKET)));
        }
        if let Some(path) = text.strip_prefix("journal:") {
            if !path.starts_with('/') {
                return Err(format!(
                    "journal:{path}: the socket must be an absolute path"
                ));
            }
            return Ok(Target::Journal(PathBuf::from(path)));
        }
        let (tcp, rest) = if let Some(rest) = text.strip_prefix("syslog+tcp://") {
            (true, rest)
        } else if let Some(rest) = text.strip_prefix("syslog+udp://") {
            (false, rest)
        } else {
            return Err(format!(
                "{text}: not a sink: stdout, journal, journal:/SOCKET, \
                 syslog+udp://HOST:PORT or syslog+tcp://HOST:PORT"
            ));
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = match rest.strip_prefix('[') {
            Some(v6) => {
                let (addr, port) = v6
                    .split_once("]:")
                    .ok_or_else(|| format!("{text}: write an IPv6 address as [ADDRESS]:PORT"))?;
                addr.parse::<std::net::Ipv6Addr>()
                    .map_err(|_| format!("{text}: {addr} is not an IPv6 address"))?;
                (addr, port)
            }
            None => rest
                .rsplit_once(':')
                .ok_or_else(|| format!("{text}: the collector needs a port: HOST:PORT"))?,
        };
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("{text}: {port} is not a port"))?;
        let name_ok = !host.is_empty()
            && host.len() <= 253
            && (host.parse::<std::net::IpAddr>().is_ok()
                || host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'));
        if !name_ok {
            return Err(format!("{text}: {host:?} is not a host name or address"));
        }
        Ok(Target::Syslog {
            tcp,
            host: host.to_string(),
            port,
        })
    }

    /// How messages name it: `the journal (/run/systemd/journal/socket)`, `syslog+tcp://h:p`.
    pub(crate) fn name(&self) -> String {
        match self {
            Target::Stdout => "standard output".into(),
            Target::Journal(path) => format!("the journal ({})", path.display()),
            Target::Syslog { .. } => self.value(),
        }
    }

    /// The `--to` value that names it.
    pub(crate) fn value(&self) -> String {
        match self {
            Target::Stdout => "stdout".into(),
            Target::Journal(path) if path.as_os_str() == JOURNAL_SOCKET => "journal".into(),
            Target::Journal(path) => format!("journal:{}", path.display()),
            Target::Syslog { tcp, host, port } => {
                let proto = if *tcp { "tcp" } else { "udp" };
                if host.contains(':') {
                    format!("syslog+{proto}://[{host}]:{port}")
                } else {
                    format!("syslog+{proto}://{host}:{port}")
                }
            }
        }
    }
}

/// What a journal entry or a syslog message says of a record beside its line: read from the
/// pverec record inside the line (the line itself for `-f json`, `proxmox` for ECS,
/// `unmapped.proxmox` for OCSF).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) event: Option<String>,
    pub(crate) time: Option<jiff::Timestamp>,
    pub(crate) user: Option<String>,
    pub(crate) action: Option<String>,
    pub(crate) outcome: Option<String>,
    pub(crate) object: Option<String>,
    pub(crate) node: Option<String>,
    pub(crate) client: Option<String>,
}

impl Record {
    /// The fields of one output line; all empty when it holds no pverec record.
    pub(crate) fn of_line(line: &[u8]) -> Record {
        let Ok(Value::Object(doc)) = serde_json::from_slice::<Value>(line) else {
            return Record::default();
        };
        let record = match (doc.get("proxmox"), doc.get("unmapped")) {
            (Some(Value::Object(r)), _) => r,
            (_, Some(Value::Object(u))) => match u.get("proxmox") {
                Some(Value::Object(r)) => r,
                _ => &doc,
            },
            _ => &doc,
        };
        let text = |key: &str| record.get(key).and_then(Value::as_str).map(str::to_string);
        let object = record.get("object").and_then(|o| {
            let kind = o.get("type").and_then(Value::as_str)?;
            Some(match o.get("id").and_then(Value::as_str) {
                Some(id) => format!("{kind}/{id}"),
                None => kind.to_string(),
            })
        });
        let time = text("time")
            .or_else(|| text("opened"))
            .and_then(|t| t.parse::<jiff::Timestamp>().ok());
        Record {
            event: text("event"),
            time,
            user: text("user"),
            action: crate::render::ecs::action(record),
            outcome: text("outcome"),
            object,
            node: text("node"),
            client: text("source_ip").or_else(|| text("client")),
        }
    }

    /// syslog severity and journal `PRIORITY`: notice for a failure, info otherwise.
    pub(crate) fn severity(&self) -> u8 {
        if self.outcome.as_deref() == Some("failure") {
            5
        } else {
            6
        }
    }
}

/// The syslog facility of every record: authpriv (10), where Debian's rsyslog files
/// security and authorization messages (`/var/log/auth.log`), and which is kept private.
pub(crate) const FACILITY: u8 = 10;

/// One message as its transport sends it, with what a report about it needs.
struct Message {
    bytes: Vec<u8>,
    time: Option<jiff::Timestamp>,
}

/// How a transport answered one message.
pub(crate) enum Sent {
    /// All of it was taken.
    Whole,
    /// This many bytes were taken (a stream that is full for now); the rest goes later.
    Part(usize),
    /// Nothing now, try again later (journald's queue is full).
    Later,
}

/// A way to a journal or a collector: connects, frames and sends.
pub(crate) trait Transport {
    /// Opens the way (a socket, a connection); an error says why it is away.
    fn open(&mut self) -> io::Result<()>;
    /// Whether the way is open and, as far as can be told without sending, still usable (a
    /// collector that closed its end is noticed here, before a message is written into the
    /// void).
    fn is_open(&mut self) -> bool;
    fn close(&mut self);
    /// Whether an [`Transport::open`] that answered `WouldBlock` is still under way.
    fn is_opening(&self) -> bool {
        false
    }
    /// The bytes one record goes out as.
    fn frame(&self, line: &[u8], record: &Record) -> Vec<u8>;
    /// Sends `bytes` (or the rest of them, for a stream), whole or in part. A message partly
    /// sent on a connection that failed is sent again whole on the next one.
    fn send(&mut self, bytes: &[u8]) -> io::Result<Sent>;
}

/// Records dropped for room while a sink was away: how many and which time span.
#[derive(Default)]
struct Dropped {
    count: u64,
    first: Option<jiff::Timestamp>,
    last: Option<jiff::Timestamp>,
}

impl Dropped {
    fn add(&mut self, time: Option<jiff::Timestamp>) {
        self.count += 1;
        if let Some(t) = time {
            self.first = Some(self.first.map_or(t, |f| f.min(t)));
            self.last = Some(self.last.map_or(t, |l| l.max(t)));
        }
    }

    fn report(&mut self, name: &str) {
        if self.count == 0 {
            return;
        }
        let span = match (self.first, self.last) {
            (Some(first), Some(last)) => format!(", logged from {first} to {last}"),
            _ => String::new(),
        };
        messages::input_error(&format!(
            "{name}: {} records dropped for want of room (--sink-buffer) while it was away{span}",
            self.count
        ));
        *self = Dropped::default();
    }
}

/// The records not yet taken by a transport, and how it is retried.
pub(crate) struct Queue {
    name: String,
    transport: Box<dyn Transport>,
    waiting: VecDeque<Message>,
    /// Bytes of the first message already taken (a stream).
    sent: usize,
    capacity: usize,
    /// convert: wait (up to [`PATIENCE`]) instead of dropping, and fail rather than lose.
    blocking: bool,
    retry_at: Option<Instant>,
    backoff: Duration,
    /// Since when it is away, said once, with the error.
    away: Option<Instant>,
    dropped: Dropped,
}

impl Queue {
    pub(crate) fn new(target: &Target, capacity: usize, blocking: bool) -> Option<Queue> {
        let transport: Box<dyn Transport> = match target {
            Target::Stdout => return None,
            Target::Journal(path) => Box::new(journal::Journal::new(path.clone())),
            Target::Syslog { tcp, host, port } => {
                Box::new(syslog::Syslog::new(*tcp, host.clone(), *port))
            }
        };
        Some(Queue {
            name: target.name(),
            transport,
            waiting: VecDeque::new(),
            sent: 0,
            capacity: capacity.max(1),
            blocking,
            retry_at: None,
            backoff: FIRST_BACKOFF,
            away: None,
            dropped: Dropped::default(),
        })
    }

    /// Takes one output line (a record) and sends what can be sent.
    pub(crate) fn take(&mut self, line: &[u8]) -> io::Result<()> {
        let record = Record::of_line(line);
        let bytes = self.transport.frame(line, &record);
        if !self.blocking && self.waiting.len() >= self.capacity {
            // The oldest that is not partly sent makes room.
            let at = usize::from(self.sent > 0);
            if let Some(old) = self.waiting.remove(at) {
                if self.dropped.count == 0 {
                    // Said when it starts, not only once it is over: a collector that takes
                    // nothing may never come back.
                    messages::input_error(&format!(
                        "{}: {} records wait for it, as many as --sink-buffer holds; the oldest \
                         are dropped until it takes them",
                        self.name, self.capacity
                    ));
                }
                self.dropped.add(old.time);
            }
        }
        self.waiting.push_back(Message {
            bytes,
            time: record.time,
        });
        self.pump()
    }

    /// Whether every record was taken.
    pub(crate) fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// When the sink should be tried again, if records wait.
    pub(crate) fn retry_at(&self) -> Option<Instant> {
        if self.waiting.is_empty() {
            return None;
        }
        Some(
            self.retry_at
                .unwrap_or_else(|| Instant::now() + Duration::from_millis(50)),
        )
    }

    /// Sends what waits, as far as the transport takes it. Blocking (convert): until all is
    /// taken, or fails after [`PATIENCE`] without progress.
    pub(crate) fn pump(&mut self) -> io::Result<()> {
        let mut progress = Instant::now();
        loop {
            let before = self.waiting.len();
            self.try_send();
            if !self.blocking || self.waiting.is_empty() {
                return Ok(());
            }
            if self.waiting.len() < before {
                progress = Instant::now();
            } else if progress.elapsed() >= PATIENCE {
                return Err(io::Error::other(format!(
                    "{}: took nothing for {} s; {} records not delivered",
                    self.name,
                    PATIENCE.as_secs(),
                    self.waiting.len()
                )));
            }
            let wait = self
                .retry_at
                .map_or(Duration::from_millis(10), |at| {
                    at.saturating_duration_since(Instant::now())
                })
                .min(Duration::from_millis(500));
            std::thread::sleep(wait.max(Duration::from_millis(1)));
        }
    }

    /// One round: open the way if it is time, then send until it takes no more.
    fn try_send(&mut self) {
        if self.waiting.is_empty() {
            return;
        }
        if let Some(at) = self.retry_at {
            if Instant::now() < at {
                return;
            }
        }
        if !self.transport.is_open() {
            if !self.transport.is_opening() {
                self.transport.close();
            }
            self.sent = 0;
            match self.transport.open() {
                Ok(()) => {}
                // Opening takes its time (a connection in a thread): look again soon.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.retry_at = Some(Instant::now() + Duration::from_millis(20));
                    return;
                }
                Err(e) => {
                    self.lost(&e);
                    return;
                }
            }
        }
        while let Some(first) = self.waiting.front() {
            match self.transport.send(&first.bytes[self.sent..]) {
                Ok(Sent::Whole) => {
                    self.waiting.pop_front();
                    self.sent = 0;
                }
                Ok(Sent::Part(n)) => {
                    self.sent += n;
                    if self.sent >= first.bytes.len() {
                        self.waiting.pop_front();
                        self.sent = 0;
                    } else {
                        self.retry_at = Some(Instant::now() + Duration::from_millis(20));
                        return;
                    }
                }
                Ok(Sent::Later) => {
                    self.retry_at = Some(Instant::now() + Duration::from_millis(50));
                    return;
                }
                Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => {
                    // Larger than the way takes at all (a UDP datagram): said, not sent, never
                    // retried for ever.
                    let len = first.bytes.len();
                    let time = first.time;
                    self.waiting.pop_front();
                    let when = time.map(|t| format!(" (logged {t})")).unwrap_or_default();
                    messages::input_error(&format!(
                        "{}: a record of {len} bytes is too large for it and was not sent{when}; \
                         syslog+tcp:// or the journal take it",
                        self.name
                    ));
                }
                Err(e) => {
                    self.transport.close();
                    self.sent = 0;
                    self.lost(&e);
                    return;
                }
            }
        }
        self.back();
    }

    /// The way failed: said once, then retried with back-off.
    fn lost(&mut self, err: &io::Error) {
        if self.away.is_none() {
            self.away = Some(Instant::now());
            let what = if self.blocking {
                "retrying"
            } else {
                "records wait for it (--sink-buffer) and it is retried"
            };
            messages::message(&format!("{}: {err}; {what}", self.name));
        }
        self.retry_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    /// Everything waiting was taken: a sink that was away is back.
    fn back(&mut self) {
        self.retry_at = None;
        self.backoff = FIRST_BACKOFF;
        if let Some(since) = self.away.take() {
            messages::message(&format!(
                "{}: back after {} s",
                self.name,
                since.elapsed().as_secs()
            ));
        }
        self.dropped.report(&self.name);
    }

    /// At the end: what was dropped, and what was never taken.
    pub(crate) fn finish(&mut self) {
        self.dropped.report(&self.name);
        if !self.waiting.is_empty() {
            messages::input_error(&format!(
                "{}: {} records were not delivered; with --state they are read again on the \
                 next start",
                self.name,
                self.waiting.len()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_bad_ones_are_refused() {
        assert_eq!(Target::parse("stdout"), Ok(Target::Stdout));
        assert_eq!(
            Target::parse("journal"),
            Ok(Target::Journal(PathBuf::from(JOURNAL_SOCKET)))
        );
        assert_eq!(
            Target::parse("journal:/tmp/j.sock"),
            Ok(Target::Journal(PathBuf::from("/tmp/j.sock")))
        );
        assert_eq!(
            Target::parse("syslog+tcp://collector.example:6514"),
            Ok(Target::Syslog {
                tcp: true,
                host: "collector.example".into(),
                port: 6514
            })
        );
        assert_eq!(
            Target::parse("syslog+udp://[2001:db8::1]:514"),
            Ok(Target::Syslog {
                tcp: false,
                host: "2001:db8::1".into(),
                port: 514
            })
        );
        for bad in [
            "file",
            "journal:relative",
            "syslog+tcp://host",
            "syslog+tcp://host:0",
            "syslog+tcp://host:99999",
            "syslog+tcp://-oProxyCommand=x:1",
            "syslog+tcp://a b:1",
            "syslog+udp://[::1:514",
            "syslog://host:514",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    proptest::proptest! {
        #[test]
        fn a_target_that_parses_names_itself(text in "(syslog\\+(tcp|udp)://|journal:?)?[a-z0-9.:\\[\\]/-]{0,20}") {
            if let Ok(target) = Target::parse(&text) {
                proptest::prop_assert_eq!(Target::parse(&target.value()), Ok(target));
            }
        }
    }

    #[test]
    fn a_record_is_found_in_each_json_format() {
        let record = r#"{"event":"request","time":"2026-06-24T12:00:05Z","node":"pve1","source_ip":"192.0.2.10","user":"alice@pve","action":"vm_start","outcome":"failure","object":{"type":"qemu","id":"100","name":null}}"#;
        let ecs = format!(r#"{{"@timestamp":"x","proxmox":{record}}}"#);
        let ocsf = format!(r#"{{"class_uid":6003,"unmapped":{{"proxmox":{record}}}}}"#);
        for line in [record.to_string(), ecs, ocsf] {
            let r = Record::of_line(line.as_bytes());
            assert_eq!(r.user.as_deref(), Some("alice@pve"), "{line}");
            assert_eq!(r.action.as_deref(), Some("vm_start"));
            assert_eq!(r.object.as_deref(), Some("qemu/100"));
            assert_eq!(r.client.as_deref(), Some("192.0.2.10"));
            assert_eq!(r.node.as_deref(), Some("pve1"));
            assert_eq!(r.severity(), 5);
            assert_eq!(
                r.time,
                Some("2026-06-24T12:00:05Z".parse::<jiff::Timestamp>().unwrap())
            );
        }
        assert_eq!(Record::of_line(b"not json"), Record::default());
    }
}
