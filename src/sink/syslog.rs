//! `--to syslog+udp://HOST:PORT` and `syslog+tcp://HOST:PORT`: RFC 5424 messages for a
//! collector (rsyslog, syslog-ng, a SIEM's syslog input), one per record.
//!
//! `<PRI>1 TIMESTAMP HOSTNAME pverec PID EVENT [pverec@32473 user="…" action="…" …] JSON`:
//! facility authpriv, severity notice for a failure and info otherwise; the timestamp is the
//! record's (when it was done, not when it was sent), the host the node it was done on; the
//! structured data holds the fields a collector filters on, and the message is the record's
//! line as standard output would have it. 32473 is the enterprise number RFC 5612 reserves for
//! documentation and examples: pverec has none of its own.
//!
//! Over UDP one datagram is one message (RFC 5426); over TCP each message is octet-counted,
//! `LEN SP MESSAGE` (RFC 6587 §3.4.1), so a record is never split or joined by a newline.
//! A TCP collector that closed its end is noticed before the next message is written (the
//! socket polls readable and reads nothing), so a restart of the collector loses no record
//! into a connection that is already gone.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::mpsc;
use std::time::Duration;

use super::{FACILITY, Record, Sent, Transport};
use crate::render::quote;

/// How long a TCP connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The SD-ID of the structured data (an enterprise number reserved for documentation).
const SD_ID: &str = "pverec@32473";

pub(crate) struct Syslog {
    tcp: bool,
    host: String,
    port: u16,
    stream: Option<TcpStream>,
    /// A connection being opened (name lookup and connect, in a thread of its own: follow reads
    /// on meanwhile, however long an unreachable collector takes to time out).
    connecting: Option<mpsc::Receiver<io::Result<TcpStream>>>,
    datagram: Option<UdpSocket>,
    /// HOSTNAME of a record without a node: this host's name.
    this_host: String,
    pid: u32,
}

impl Syslog {
    pub(crate) fn new(tcp: bool, host: String, port: u16) -> Syslog {
        let this_host = crate::this_node()
            .map(|n| header_word(&n, 255))
            .unwrap_or_else(|| "-".into());
        Syslog {
            tcp,
            host,
            port,
            stream: None,
            connecting: None,
            datagram: None,
            this_host,
            pid: std::process::id(),
        }
    }
}

/// A header field: printable US-ASCII without spaces, at most `max` long, else `-` (RFC 5424
/// §6: HOSTNAME, APP-NAME and MSGID are PRINTUSASCII, 33..=126).
fn header_word(text: &str, max: usize) -> String {
    if !text.is_empty() && text.len() <= max && text.bytes().all(|b| (33..=126).contains(&b)) {
        text.to_string()
    } else {
        "-".to_string()
    }
}

/// Appends a PARAM-VALUE: made printable (control and invisible bytes as `\xHH`, `\` doubled,
/// as in every message), then `"`, `\` and `]` escaped with a backslash (RFC 5424 §6.3.3), so a
/// collector that unescapes gets the printable form back, in which an escaped control byte and
/// the same text typed by an attacker differ.
fn push_param_value(out: &mut Vec<u8>, text: &str) {
    let mut printable = Vec::with_capacity(text.len());
    quote::push_comment_text(&mut printable, text.as_bytes());
    for b in printable {
        if b == b'"' || b == b']' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
}

/// The RFC 5424 message of one record line.
pub(crate) fn message(line: &[u8], record: &Record, this_host: &str, pid: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len() + 256);
    let pri = u16::from(FACILITY) * 8 + u16::from(record.severity());
    let time = record
        .time
        .unwrap_or_else(jiff::Timestamp::now)
        .round(jiff::Unit::Microsecond)
        .unwrap_or_else(|_| jiff::Timestamp::now());
    let host = record
        .node
        .as_deref()
        .map(|n| header_word(n, 255))
        .filter(|n| n != "-")
        .unwrap_or_else(|| this_host.to_string());
    let msgid = header_word(record.event.as_deref().unwrap_or(""), 32);
    out.extend_from_slice(format!("<{pri}>1 {time} {host} pverec {pid} {msgid} ").as_bytes());
    let params = [
        ("user", record.user.as_deref()),
        ("action", record.action.as_deref()),
        ("outcome", record.outcome.as_deref()),
        ("object", record.object.as_deref()),
        ("node", record.node.as_deref()),
        ("client", record.client.as_deref()),
    ];
    if params.iter().all(|(_, v)| v.is_none()) {
        out.push(b'-');
    } else {
        out.push(b'[');
        out.extend_from_slice(SD_ID.as_bytes());
        for (name, value) in params {
            if let Some(value) = value {
                out.push(b' ');
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b"=\"");
                push_param_value(&mut out, value);
                out.push(b'"');
            }
        }
        out.push(b']');
    }
    out.push(b' ');
    out.extend_from_slice(line);
    out
}

/// The addresses of `host`, with the error to give if none can be reached.
fn resolve(host: &str, port: u16) -> io::Result<(Vec<std::net::SocketAddr>, io::Error)> {
    let addrs: Vec<_> = (host, port).to_socket_addrs()?.collect();
    let none = io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address"));
    Ok((addrs, none))
}

/// A TCP connection to the first address of `host` that answers.
fn connect(host: &str, port: u16) -> io::Result<TcpStream> {
    let (addrs, mut last) = resolve(host, port)?;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(last)
}

impl Transport for Syslog {
    fn open(&mut self) -> io::Result<()> {
        if !self.tcp {
            let (addrs, mut last) = resolve(&self.host, self.port)?;
            for addr in addrs {
                let local = if addr.is_ipv6() {
                    "[::]:0"
                } else {
                    "0.0.0.0:0"
                };
                let socket = UdpSocket::bind(local)?;
                match socket.connect(addr) {
                    Ok(()) => {
                        self.datagram = Some(socket);
                        return Ok(());
                    }
                    Err(e) => last = e,
                }
            }
            return Err(last);
        }
        let pending = match self.connecting.take() {
            Some(pending) => pending,
            None => {
                let (tx, rx) = mpsc::channel();
                let (host, port) = (self.host.clone(), self.port);
                std::thread::Builder::new()
                    .name("syslog-connect".into())
                    .spawn(move || {
                        let _ = tx.send(connect(&host, port));
                    })?;
                rx
            }
        };
        match pending.try_recv() {
            Ok(Ok(stream)) => {
                stream.set_nodelay(true)?;
                stream.set_nonblocking(true)?;
                self.stream = Some(stream);
                Ok(())
            }
            Ok(Err(e)) => Err(e),
            Err(mpsc::TryRecvError::Empty) => {
                self.connecting = Some(pending);
                Err(io::Error::from(io::ErrorKind::WouldBlock))
            }
            Err(mpsc::TryRecvError::Disconnected) => Err(io::Error::other(
                "the connecting thread ended without a word",
            )),
        }
    }

    fn is_open(&mut self) -> bool {
        if !self.tcp {
            return self.datagram.is_some();
        }
        let Some(stream) = &mut self.stream else {
            return false;
        };
        let mut fd = libc::pollfd {
            fd: stream.as_raw_fd(),
            events: libc::POLLIN | libc::POLLRDHUP,
            revents: 0,
        };
        // SAFETY: one valid pollfd that lives across the call; a zero timeout never sleeps.
        let n = unsafe { libc::poll(&mut fd, 1, 0) };
        if n <= 0 {
            return n == 0;
        }
        if fd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLRDHUP) != 0 {
            return false;
        }
        // Readable: a collector sends nothing on a syslog connection, so this is its end (a read
        // of 0) or bytes to throw away.
        let mut sink = [0u8; 512];
        match stream.read(&mut sink) {
            Ok(0) => false,
            Ok(_) => true,
            Err(e) => e.kind() == io::ErrorKind::WouldBlock,
        }
    }

    fn close(&mut self) {
        self.stream = None;
        self.datagram = None;
    }

    fn is_opening(&self) -> bool {
        self.connecting.is_some()
    }

    fn frame(&self, line: &[u8], record: &Record) -> Vec<u8> {
        let message = message(line, record, &self.this_host, self.pid);
        if self.tcp {
            let mut framed = format!("{} ", message.len()).into_bytes();
            framed.extend_from_slice(&message);
            framed
        } else {
            message
        }
    }

    fn send(&mut self, bytes: &[u8]) -> io::Result<Sent> {
        if let Some(socket) = &self.datagram {
            return socket.send(bytes).map(|_| Sent::Whole);
        }
        let Some(stream) = &mut self.stream else {
            return Err(io::Error::from(io::ErrorKind::NotConnected));
        };
        match stream.write(bytes) {
            Ok(0) => Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) if n == bytes.len() => Ok(Sent::Whole),
            Ok(n) => Ok(Sent::Part(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Sent::Part(0)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(Sent::Part(0)),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_rfc5424_with_its_structured_data() {
        let record = Record {
            event: Some("request".into()),
            time: Some("2026-06-24T12:00:05Z".parse().unwrap()),
            user: Some("alice@pve".into()),
            action: Some("vm_start".into()),
            outcome: Some("success".into()),
            object: Some("qemu/100".into()),
            node: Some("pve1".into()),
            client: Some("192.0.2.10".into()),
        };
        let m = message(b"{\"x\":1}", &record, "here", 42);
        assert_eq!(
            String::from_utf8(m).unwrap(),
            "<86>1 2026-06-24T12:00:05Z pve1 pverec 42 request [pverec@32473 user=\"alice@pve\" \
             action=\"vm_start\" outcome=\"success\" object=\"qemu/100\" node=\"pve1\" \
             client=\"192.0.2.10\"] {\"x\":1}"
        );
    }

    #[test]
    fn hostile_values_cannot_end_the_structured_data_or_reach_a_terminal() {
        let record = Record {
            user: Some("e\"v]e\\\u{1b}[31m\n@pve".into()),
            node: Some("bad host".into()),
            outcome: Some("failure".into()),
            ..Record::default()
        };
        let m = String::from_utf8(message(b"{}", &record, "here", 1)).unwrap();
        assert!(m.starts_with("<85>1 "), "{m}");
        assert!(m.contains(" here pverec 1 - [pverec@32473 "), "{m}");
        assert!(m.contains(r#"user="e\"v\]e\\\\\\x1b[31m\\x0a@pve""#), "{m}");
        assert!(!m.bytes().any(|b| b < 0x20), "{m:?}");
    }

    /// Reads the first PARAM-VALUE of the structured data back (RFC 5424 §6.3.3 escapes). The
    /// six header fields before it are words without spaces, which may hold `="` themselves (a
    /// node named so): the search starts after them.
    fn first_value(message: &str) -> String {
        let data = message.splitn(7, ' ').nth(6).unwrap();
        let start = data.find("=\"").unwrap() + 2;
        let mut out = String::new();
        let mut chars = data[start..].chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    let next = chars.next().unwrap();
                    if !matches!(next, '"' | '\\' | ']') {
                        out.push('\\');
                    }
                    out.push(next);
                }
                '"' => return out,
                c => out.push(c),
            }
        }
        panic!("the value does not end: {message}");
    }

    proptest::proptest! {
        #[test]
        fn any_user_and_node_keep_one_printable_message_whose_value_reads_back(
            user in proptest::prelude::any::<String>(),
            node in proptest::prelude::any::<String>(),
        ) {
            let record = Record {
                user: Some(user.clone()),
                node: Some(node),
                ..Record::default()
            };
            let m = String::from_utf8(message(b"{}", &record, "here", 1)).unwrap();
            proptest::prop_assert!(!m.chars().any(quote::is_invisible), "{:?}", m);
            let mut printable = Vec::new();
            quote::push_comment_text(&mut printable, user.as_bytes());
            proptest::prop_assert_eq!(first_value(&m), String::from_utf8(printable).unwrap());
            proptest::prop_assert!(m.ends_with("] {}"), "{}", m);
        }
    }

    #[test]
    fn a_node_named_like_a_parameter_stays_in_the_header() {
        let record = Record {
            user: Some("alice@pve".into()),
            node: Some("=\"".into()),
            ..Record::default()
        };
        let m = String::from_utf8(message(b"{}", &record, "here", 1)).unwrap();
        assert!(m.contains(" =\" pverec 1 "), "{m}");
        assert_eq!(first_value(&m), "alice@pve", "{m}");
    }

    #[test]
    fn tcp_frames_are_octet_counted() {
        let s = Syslog {
            tcp: true,
            host: "h".into(),
            port: 1,
            stream: None,
            connecting: None,
            datagram: None,
            this_host: "me".into(),
            pid: 7,
        };
        let framed = s.frame(b"{}", &Record::default());
        let text = String::from_utf8(framed).unwrap();
        let (len, rest) = text.split_once(' ').unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), rest.len());
        assert!(rest.ends_with(" - {}"), "{rest}");
    }
}
