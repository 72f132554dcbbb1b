//! `--to journal`: journald's native protocol, written by pverec itself (no libsystemd, so the
//! binary stays static).
//!
//! An entry is one datagram on `/run/systemd/journal/socket` of `NAME=value\n` fields; a value
//! holding a newline is written as `NAME\n`, its length as a little-endian u64, the bytes and
//! `\n`. An entry too large for a datagram (`EMSGSIZE`, or `ENOBUFS` for want of buffer) goes the
//! way `sd_journal_sendv` sends it: written into a sealed memfd whose descriptor is passed alone
//! with `SCM_RIGHTS` (systemd `src/libsystemd/sd-journal/journal-send.c`; journald reads it in
//! `src/journal/journald-native.c`, `server_process_native_file`, and takes only a memfd that is
//! sealed against writes and resizing).
//!
//! Each entry has `MESSAGE` (the record's line, as standard output would have it), `PRIORITY`,
//! `SYSLOG_FACILITY`, `SYSLOG_IDENTIFIER=pverec`, and `PVEREC_*` fields a collector or
//! `journalctl PVEREC_USER=alice@pve` can match: EVENT, TIME, USER, ACTION, OUTCOME, OBJECT, NODE,
//! CLIENT. Their values come from logs an attacker writes to, so they are made printable the
//! way every message is (`\xHH` for control and invisible bytes).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

use super::{FACILITY, Record, Sent, Transport};
use crate::render::quote;

pub(crate) struct Journal {
    path: PathBuf,
    socket: Option<UnixDatagram>,
}

impl Journal {
    pub(crate) fn new(path: PathBuf) -> Journal {
        Journal { path, socket: None }
    }
}

/// Appends one field of an entry.
pub(crate) fn push_field(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    if value.contains(&b'\n') {
        out.push(b'\n');
        out.extend_from_slice(&(value.len() as u64).to_le_bytes());
        out.extend_from_slice(value);
    } else {
        out.push(b'=');
        out.extend_from_slice(value);
    }
    out.push(b'\n');
}

/// The entry of one record line.
pub(crate) fn entry(line: &[u8], record: &Record) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len() + 256);
    push_field(&mut out, "MESSAGE", line);
    push_field(
        &mut out,
        "PRIORITY",
        record.severity().to_string().as_bytes(),
    );
    push_field(&mut out, "SYSLOG_FACILITY", FACILITY.to_string().as_bytes());
    push_field(&mut out, "SYSLOG_IDENTIFIER", b"pverec");
    let time = record.time.map(|t| t.to_string());
    let fields = [
        ("PVEREC_EVENT", record.event.as_deref()),
        ("PVEREC_TIME", time.as_deref()),
        ("PVEREC_USER", record.user.as_deref()),
        ("PVEREC_ACTION", record.action.as_deref()),
        ("PVEREC_OUTCOME", record.outcome.as_deref()),
        ("PVEREC_OBJECT", record.object.as_deref()),
        ("PVEREC_NODE", record.node.as_deref()),
        ("PVEREC_CLIENT", record.client.as_deref()),
    ];
    let mut value = Vec::new();
    for (name, text) in fields {
        if let Some(text) = text {
            value.clear();
            quote::push_comment_text(&mut value, text.as_bytes());
            push_field(&mut out, name, &value);
        }
    }
    out
}

/// Reads an entry back the way journald does (`journald-native.c`): the fields in order, or
/// `None` where it is not well formed. The tests and the fuzz target check [`entry`] with it.
pub(crate) fn read_entry(mut entry: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    while !entry.is_empty() {
        let end = memchr::memchr(b'\n', entry)?;
        let head = &entry[..end];
        if let Some(eq) = memchr::memchr(b'=', head) {
            out.push((
                String::from_utf8(head[..eq].to_vec()).ok()?,
                head[eq + 1..].to_vec(),
            ));
            entry = &entry[end + 1..];
        } else {
            let size = entry.get(end + 1..end + 9)?;
            let len = usize::try_from(u64::from_le_bytes(size.try_into().ok()?)).ok()?;
            let value = entry.get(end + 9..end.checked_add(9)?.checked_add(len)?)?;
            if entry.get(end + 9 + len) != Some(&b'\n') {
                return None;
            }
            out.push((String::from_utf8(head.to_vec()).ok()?, value.to_vec()));
            entry = &entry[end + 10 + len..];
        }
    }
    Some(out)
}

impl Transport for Journal {
    fn open(&mut self) -> io::Result<()> {
        let socket = UnixDatagram::unbound()?;
        socket.connect(&self.path)?;
        // A journald whose queue is full makes a send fail with EAGAIN instead of putting
        // follow to sleep: the record waits and is tried again.
        socket.set_nonblocking(true)?;
        self.socket = Some(socket);
        Ok(())
    }

    fn is_open(&mut self) -> bool {
        self.socket.is_some()
    }

    fn close(&mut self) {
        self.socket = None;
    }

    fn frame(&self, line: &[u8], record: &Record) -> Vec<u8> {
        entry(line, record)
    }

    fn send(&mut self, bytes: &[u8]) -> io::Result<Sent> {
        let Some(socket) = &self.socket else {
            return Err(io::Error::from(io::ErrorKind::NotConnected));
        };
        match socket.send(bytes) {
            Ok(_) => Ok(Sent::Whole),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EMSGSIZE | libc::ENOBUFS)) => {
                match send_memfd(socket, bytes) {
                    Ok(()) => Ok(Sent::Whole),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Sent::Later),
                    Err(e) => Err(e),
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(Sent::Later)
            }
            Err(e) => Err(e),
        }
    }
}

/// Sends an entry too large for a datagram as journal-send.c does: in a sealed memfd.
fn send_memfd(socket: &UnixDatagram, bytes: &[u8]) -> io::Result<()> {
    // SAFETY: the name is a NUL-terminated C string; memfd_create(2) returns a new descriptor
    // or -1, and a new descriptor is owned by nobody else.
    let fd = unsafe {
        libc::memfd_create(
            c"pverec-journal".as_ptr(),
            libc::MFD_ALLOW_SEALING | libc::MFD_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just created and is not owned elsewhere.
    let memfd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut file = std::fs::File::from(memfd);
    io::Write::write_all(&mut file, bytes)?;
    let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE | libc::F_SEAL_SEAL;
    // SAFETY: fcntl(2) F_ADD_SEALS on a descriptor this function owns.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
        return Err(io::Error::last_os_error());
    }
    send_fd(socket, file.as_raw_fd())
}

/// sendmsg(2) with no payload and `fd` in one `SCM_RIGHTS` control message.
fn send_fd(socket: &UnixDatagram, fd: libc::c_int) -> io::Result<()> {
    let fd_size = std::mem::size_of::<libc::c_int>() as libc::c_uint;
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(fd_size) } as usize;
    // u64 words keep the control buffer aligned for cmsghdr.
    let mut control = vec![0u64; space.div_ceil(8)];
    // SAFETY: a zeroed msghdr is valid (no name, no iov); the control buffer lives across the
    // call and is `space` bytes, enough for one cmsghdr holding one int (CMSG_SPACE); CMSG_FIRSTHDR
    // of that msghdr points into it, and CMSG_DATA of that header has room for the int.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null() {
            return Err(io::Error::other("no room for the control message"));
        }
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(fd_size) as _;
        std::ptr::copy_nonoverlapping(
            (&raw const fd).cast::<u8>(),
            libc::CMSG_DATA(cmsg),
            fd_size as usize,
        );
        loop {
            let n = libc::sendmsg(socket.as_raw_fd(), &msg, libc::MSG_NOSIGNAL);
            if n >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(entry: &[u8]) -> Vec<(String, Vec<u8>)> {
        read_entry(entry).expect("the entry reads back")
    }

    #[test]
    fn an_entry_has_its_fields_and_a_hostile_user_stays_printable() {
        let record = Record {
            event: Some("request".into()),
            user: Some("eve\n\u{1b}]0;x\u{7}@pve".into()),
            outcome: Some("failure".into()),
            ..Record::default()
        };
        let entry = entry(b"{\"a\":1}", &record);
        let fields = fields(&entry);
        let get = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(get("MESSAGE").unwrap(), b"{\"a\":1}");
        assert_eq!(get("PRIORITY").unwrap(), b"5");
        assert_eq!(get("SYSLOG_IDENTIFIER").unwrap(), b"pverec");
        assert_eq!(get("PVEREC_USER").unwrap(), b"eve\\x0a\\x1b]0;x\\x07@pve");
        assert!(get("PVEREC_ACTION").is_none());
    }

    #[test]
    fn a_value_with_a_newline_is_written_with_its_length() {
        let mut out = Vec::new();
        push_field(&mut out, "MESSAGE", b"two\nlines");
        assert_eq!(
            fields(&out),
            vec![("MESSAGE".into(), b"two\nlines".to_vec())]
        );
        assert_eq!(&out[..8], b"MESSAGE\n");
        assert_eq!(&out[8..16], &9u64.to_le_bytes());
    }
}
