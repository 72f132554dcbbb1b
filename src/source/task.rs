//! The Proxmox VE task list: UPIDs and the files of `/var/log/pve/tasks` (pve-formats.md §2).
//!
//! access.log says that a call was made and what HTTP status it got, but a call that starts a
//! task (start a VM, make a backup, destroy a guest) answers 200 with a UPID as soon as the
//! worker is forked; whether the work then succeeded is only in the task list. This module reads
//! that list so the requests can be joined with the tasks they started and given their real
//! outcome, and so tasks no logged request started (CLI, scheduler, HA) can be shown too.
//!
//! PVE keeps the list in three files, each with its own way of changing, and [`TaskDir`] follows
//! each the way it changes:
//!
//! - `index` is append-only and renamed to `index.1` once it is past 50,000 bytes, so it is
//!   followed by identity and offset like a rotated log: the open file is read to its end after
//!   a rename, then the new `index` from its first byte;
//! - `index.1` is the previous generation, complete once it has that name: read once, whole;
//! - `active` is replaced as a whole by a rename, so it is read again, whole, when it changed.
//!
//! The parsers follow PVE's own readers (the regexes quoted in §2.1–2.3) rather than its
//! writers: a line PVE would list is accepted, a line PVE would skip is reported as malformed.

use std::collections::HashSet;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::input::{Identity, LineSplitter};
use crate::messages;

/// Lines longer than this are skipped as malformed (a task line is a few hundred bytes), so a
/// file without newlines cannot make the unfinished line grow without bound.
const MAX_LINE: usize = 64 * 1024;
/// How much is read at a time from `index`.
const CHUNK: usize = 64 * 1024;

/// A decoded UPID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Upid {
    /// The whole UPID as written, trailing colon included.
    pub(crate) text: String,
    /// The node's short hostname.
    pub(crate) node: String,
    /// The worker's pid.
    pub(crate) pid: u32,
    /// The worker's start in clock ticks since boot (8 hex digits, 9 after ~497 days of uptime).
    pub(crate) pstart: u64,
    /// When the task started, Unix seconds.
    pub(crate) start: i64,
    /// The task type, e.g. `qmstart`.
    pub(crate) kind: String,
    /// The task's object; may be empty. Forms like `100`, `sda`, `100-scsi0>101-scsi1`,
    /// `100@local`.
    pub(crate) id: String,
    /// Who started it: `root@pam`, or `alice@pve!ci` for a token.
    pub(crate) user: String,
}

/// Where a task is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum State {
    Running,
    /// `end` is when PVE noticed the end; `status` is `OK`, `WARNINGS: N` or an error text.
    Finished {
        end: Option<i64>,
        status: Option<String>,
    },
}

/// A task as one line of `index`, `index.1` or `active` tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Task {
    pub(crate) upid: Upid,
    pub(crate) state: State,
}

/// Why a line is not a task line (or a string not a UPID). Shown as `FILE:LINE: reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Malformed {
    NotUtf8,
    NotUpid,
    BadNode,
    BadPid,
    BadPstart,
    BadStart,
    BadType,
    BadId,
    BadUser,
    BadEndTime,
    BadStatus,
    BadSaved,
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Malformed::NotUtf8 => "not UTF-8",
            Malformed::NotUpid => {
                "not a UPID (UPID:NODE:PID:PSTART:STARTTIME:TYPE:ID:USER: with a trailing colon)"
            }
            Malformed::BadNode => "not a UPID: bad node name",
            Malformed::BadPid => "not a UPID: the pid is not 8 hex digits",
            Malformed::BadPstart => "not a UPID: the process start is not 8 or 9 hex digits",
            Malformed::BadStart => "not a UPID: the start time is not 8 hex digits",
            Malformed::BadType => "not a UPID: bad task type",
            Malformed::BadId => "not a UPID: bad task id",
            Malformed::BadUser => "not a UPID: bad user",
            Malformed::BadEndTime => "bad end time (not 8 hex digits)",
            Malformed::BadStatus => "bad status after the end time",
            Malformed::BadSaved => "bad saved flag (not 0 or 1)",
        })
    }
}

/// Perl's `\s` on the bytes PVE reads: space, tab, newline, vertical tab, form feed, return.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Exactly `min..=max` hex digits (no sign, unlike `from_str_radix`).
fn hex(digits: &[u8], min: usize, max: usize) -> Option<u64> {
    if digits.len() < min || digits.len() > max {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        let d = (b as char).to_digit(16)?;
        Some(n << 4 | u64::from(d))
    })
}

/// `[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?`
fn valid_node(node: &[u8]) -> bool {
    match (node.first(), node.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && node.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-')
        }
        _ => false,
    }
}

/// `[^:\s/]*`
fn valid_part(part: &[u8]) -> bool {
    part.iter().all(|&b| b != b':' && b != b'/' && !is_space(b))
}

/// Decodes a UPID as pve-common's `upid_decode` does:
/// `^UPID:NODE:PID{8}:PSTART{8,9}:STARTTIME{8}:TYPE:ID:USER:$`, nothing after the last colon.
pub(crate) fn parse_upid(s: &str) -> Result<Upid, Malformed> {
    let body = s
        .strip_prefix("UPID:")
        .and_then(|rest| rest.strip_suffix(':'))
        .ok_or(Malformed::NotUpid)?;
    // No field may hold a colon, so splitting on colons is exact.
    let mut fields = body.split(':');
    let mut next = || fields.next().ok_or(Malformed::NotUpid);
    let [node, pid, pstart, start, kind, id, user] = [
        next()?,
        next()?,
        next()?,
        next()?,
        next()?,
        next()?,
        next()?,
    ];
    if fields.next().is_some() {
        // A PBS-style UPID (one more field), or a colon in some field.
        return Err(Malformed::NotUpid);
    }
    if !valid_node(node.as_bytes()) {
        return Err(Malformed::BadNode);
    }
    let pid = hex(pid.as_bytes(), 8, 8).ok_or(Malformed::BadPid)?;
    let pstart = hex(pstart.as_bytes(), 8, 9).ok_or(Malformed::BadPstart)?;
    let start = hex(start.as_bytes(), 8, 8).ok_or(Malformed::BadStart)?;
    if kind.is_empty() || !valid_part(kind.as_bytes()) {
        return Err(Malformed::BadType);
    }
    if !valid_part(id.as_bytes()) {
        return Err(Malformed::BadId);
    }
    if user.is_empty() || !valid_part(user.as_bytes()) {
        return Err(Malformed::BadUser);
    }
    Ok(Upid {
        text: s.to_string(),
        node: node.to_string(),
        pid: u32::try_from(pid).map_err(|_| Malformed::BadPid)?,
        pstart,
        start: i64::try_from(start).map_err(|_| Malformed::BadStart)?,
        kind: kind.to_string(),
        id: id.to_string(),
        user: user.to_string(),
    })
}

/// PVE's `status_is_error`: everything but `OK` and `WARNINGS: <digits>` is an error.
pub(crate) fn status_is_error(status: &str) -> bool {
    // `/^WARNINGS: \d+$/`: Perl's `$` also matches before a final newline.
    let warnings = status.strip_suffix('\n').unwrap_or(status);
    let warnings = warnings
        .strip_prefix("WARNINGS: ")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    !(status == "OK" || warnings)
}

/// Splits off the leading UPID (`^(\S+)`) and decodes it; the rest starts with a space or is
/// empty. A final newline is dropped first, as Perl's `$` allows one.
fn leading_upid(line: &[u8]) -> Result<(Upid, &[u8]), Malformed> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let end = line.iter().position(|&b| is_space(b)).unwrap_or(line.len());
    let upid = std::str::from_utf8(&line[..end]).map_err(|_| Malformed::NotUtf8)?;
    Ok((parse_upid(upid)?, &line[end..]))
}

/// `\s([0-9A-Za-z]{8})` followed by the end or a space: the end time, and what follows it. The
/// reader takes any 8 letters or digits and `hex()`es them; the writer only writes `%08X`, so
/// anything but hex digits is taken as a damaged line.
fn end_time(rest: &[u8]) -> Result<(i64, &[u8]), Malformed> {
    let rest = match rest.split_first() {
        Some((&b, rest)) if is_space(b) => rest,
        _ => return Err(Malformed::BadEndTime),
    };
    let (digits, after) = rest.split_at_checked(8).ok_or(Malformed::BadEndTime)?;
    if after.first().is_some_and(|&b| !is_space(b)) {
        return Err(Malformed::BadEndTime);
    }
    let end = hex(digits, 8, 8).ok_or(Malformed::BadEndTime)?;
    Ok((
        i64::try_from(end).map_err(|_| Malformed::BadEndTime)?,
        after,
    ))
}

/// The status text: the bytes PVE wrote, made valid UTF-8 if they are not (a damaged byte in an
/// error message does not make the task unknown; it is an error status either way).
fn status_text(status: &[u8]) -> String {
    String::from_utf8_lossy(status).into_owned()
}

/// One line of `index` or `index.1`: `<UPID> <ENDTIME %08X> <status>`, where the end time and
/// the status may be missing and the status is the rest of the line (pve-manager's reader
/// `m/^(\S+)(\s([0-9A-Za-z]{8})(\s(\S.*))?)?$/`). Always [`State::Finished`].
pub(crate) fn parse_index_line(line: &[u8]) -> Result<Task, Malformed> {
    let (upid, rest) = leading_upid(line)?;
    let (end, status) = if rest.is_empty() {
        (None, None)
    } else {
        let (end, rest) = end_time(rest)?;
        let status = match rest.split_first() {
            None => None,
            // `\s(\S.*)`: one space, then a status that starts with something visible.
            Some((_, status))
                if status.first().is_some_and(|&b| !is_space(b))
                    && memchr::memchr(b'\n', status).is_none() =>
            {
                Some(status_text(status))
            }
            Some(_) => return Err(Malformed::BadStatus),
        };
        (Some(end), status)
    };
    Ok(Task {
        upid,
        state: State::Finished { end, status },
    })
}

/// One line of `active`: `<UPID> <0|1>[ <ENDTIME>[ <status>]]` (pve-common's reader
/// `m/^(\S+)\s(0|1)(\s([0-9A-Za-z]{8})(\s(\s*\S.*))?)?$/`). Returns the task and its `saved`
/// flag (1: already in `index`). Without an end time the task is running.
pub(crate) fn parse_active_line(line: &[u8]) -> Result<(Task, bool), Malformed> {
    let (upid, rest) = leading_upid(line)?;
    let (saved, rest) = match rest {
        [sp, flag @ (b'0' | b'1'), rest @ ..]
            if is_space(*sp) && rest.first().is_none_or(|&b| is_space(b)) =>
        {
            (*flag == b'1', rest)
        }
        _ => return Err(Malformed::BadSaved),
    };
    if rest.is_empty() {
        let task = Task {
            upid,
            state: State::Running,
        };
        return Ok((task, saved));
    }
    let (end, rest) = end_time(rest)?;
    let status = match rest.split_first() {
        None => None,
        // `\s(\s*\S.*)`: one space, then a status that may start with more spaces but is not
        // only spaces; the spaces are part of it.
        Some((_, status)) => {
            let visible = status.iter().position(|&b| !is_space(b));
            match visible {
                Some(i) if memchr::memchr(b'\n', &status[i..]).is_none() => {
                    Some(status_text(status))
                }
                _ => return Err(Malformed::BadStatus),
            }
        }
    };
    let task = Task {
        upid,
        state: State::Finished {
            end: Some(end),
            status,
        },
    };
    Ok((task, saved))
}

/// What [`TaskDir::refresh`] found new.
#[derive(Debug, Default)]
pub(crate) struct Update {
    /// Finished tasks newly read from index.1/index, plus the finished entries of `active`
    /// (saved or not).
    pub(crate) finished: Vec<Task>,
    /// Entries of `active` that are still running.
    pub(crate) running: Vec<Task>,
    /// The first look: what `index.1` and `index` held then, known by start time and place
    /// only, to be read back as the log reaches them.
    pub(crate) archive: Option<Archive>,
}

/// The bits of [`Spot::at`] that hold the offset; the file's number is above them.
const OFFSET_BITS: u32 = 48;

/// Where one task line of the first look is, and when its task started: 24 bytes, where the
/// task itself takes about a kilobyte once parsed.
#[derive(Debug, Clone, Copy)]
struct Spot {
    start: i64,
    pid: u32,
    len: u32,
    /// The file's number in [`Archive::files`] above [`OFFSET_BITS`], the line's offset below.
    at: u64,
}

/// The finished tasks that `index.1` and `index` held at the first look, in start order, read
/// back from their files when the log gets to their time.
///
/// A node's index is small (PVE renames it at 50,000 bytes and keeps one old generation), but
/// nothing stops a directory from holding half a million lines, and a parsed task costs a
/// kilobyte. Only where each line is and when its task started is kept (24 bytes a task, the
/// files stay open), so that a join holds tasks for its time window only
/// ([`crate::join::tasks::Correlator`]) and memory stays small however long the index is.
/// Both files are stable under an open handle: PVE only appends to `index` and renames it to
/// `index.1`; a line that reads back otherwise than it did is reported and passed over.
#[derive(Debug, Default)]
pub(crate) struct Archive {
    /// The files the lines are in, with the names messages give them.
    files: Vec<(File, String)>,
    /// In start order (then pid: fork order); [`Self::next`] is the first one not yet taken.
    spots: Vec<Spot>,
    next: usize,
    /// Whether a line that read back wrong was reported (once is enough).
    told_changed: bool,
    /// Tasks of a file that could not be kept open to be read back (no descriptor left).
    parsed: Vec<Task>,
    /// The earliest end among the tasks of the first look: every task that ended since is in
    /// the files (PVE appends a task to `index` when it ends and drops only whole old
    /// generations), so a task-starting request after it whose task is not there started none.
    pub(crate) oldest_end: Option<i64>,
    /// The only node whose tasks are taken (a cluster read's other nodes), when one is.
    only: Option<String>,
}

impl Archive {
    /// Adds a file; its number for [`Spot::at`], none when there are too many (never: two).
    fn add_file(&mut self, file: &File, name: &str) -> Option<u64> {
        let number = self.files.len() as u64;
        if number >= 1 << (64 - OFFSET_BITS) {
            return None;
        }
        let file = file.try_clone().ok()?;
        self.files.push((file, name.to_string()));
        Some(number)
    }

    fn add(&mut self, file: u64, offset: u64, line: &[u8], task: &Task) {
        self.note_end(task);
        if offset >= 1 << OFFSET_BITS {
            return;
        }
        self.spots.push(Spot {
            start: task.upid.start,
            pid: task.upid.pid,
            len: line.len() as u32,
            at: file << OFFSET_BITS | offset,
        });
    }

    fn note_end(&mut self, task: &Task) {
        if let State::Finished { end: Some(end), .. } = task.state {
            self.oldest_end = Some(self.oldest_end.map_or(end, |o| o.min(end)));
        }
    }

    /// Puts the spots in start order, once everything of the first look is in.
    fn sort(&mut self) {
        self.spots.sort_by_key(|s| (s.start, s.pid));
    }

    /// Takes in another directory's first look (a cluster read joins every node's tasks):
    /// its files after this one's, its spots merged in start order. Into an empty archive,
    /// the other one as it is.
    /// Whether a task may be in this archive: a node's index holds that node's tasks only (a
    /// cluster read takes in every node's; one that lists another's would take its requests).
    fn is_own(&self, task: &Task) -> bool {
        self.only
            .as_deref()
            .is_none_or(|node| task.upid.node == node)
    }

    pub(crate) fn absorb(&mut self, other: Archive) {
        if self.files.is_empty() && self.spots.is_empty() && self.parsed.is_empty() {
            *self = other;
            return;
        }
        let base = self.files.len() as u64;
        if base + other.files.len() as u64 >= 1 << (64 - OFFSET_BITS) {
            return;
        }
        let mask = (1u64 << OFFSET_BITS) - 1;
        // The spots already taken are gone; what is left of both is merged.
        let mut spots: Vec<Spot> = self.spots.split_off(self.next);
        spots.extend(other.spots[other.next..].iter().map(|spot| Spot {
            at: ((spot.at >> OFFSET_BITS) + base) << OFFSET_BITS | (spot.at & mask),
            ..*spot
        }));
        spots.sort_by_key(|s| (s.start, s.pid));
        self.spots = spots;
        self.next = 0;
        self.files.extend(other.files);
        self.parsed.extend(other.parsed);
        self.oldest_end = match (self.oldest_end, other.oldest_end) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }

    /// When the next task not yet taken started.
    pub(crate) fn next_start(&self) -> Option<i64> {
        self.spots.get(self.next).map(|s| s.start)
    }

    /// The next task, read back from its file, if it started at or before `until`.
    pub(crate) fn take(&mut self, until: i64) -> Option<Task> {
        while let Some(&spot) = self.spots.get(self.next).filter(|s| s.start <= until) {
            self.next += 1;
            if self.next == self.spots.len() {
                // All taken: the files and the spots are let go.
                self.spots = Vec::new();
                self.next = 0;
            }
            match self.read_back(spot) {
                Some(task) => return Some(task),
                None if !self.told_changed => {
                    self.told_changed = true;
                    let number = (spot.at >> OFFSET_BITS) as usize;
                    let name = self.files.get(number).map_or("index", |(_, n)| n.as_str());
                    messages::input_error(&format!(
                        "{name}: changed while it was read; tasks of it may be missing"
                    ));
                }
                None => {}
            }
        }
        if self.spots.is_empty() {
            self.files = Vec::new();
        }
        None
    }

    fn read_back(&self, spot: Spot) -> Option<Task> {
        let (file, _) = self.files.get((spot.at >> OFFSET_BITS) as usize)?;
        let mut line = vec![0; spot.len as usize];
        file.read_exact_at(&mut line, spot.at & ((1 << OFFSET_BITS) - 1))
            .ok()?;
        let task = parse_index_line(&line).ok()?;
        (task.upid.start == spot.start && task.upid.pid == spot.pid).then_some(task)
    }
}

/// Where an index reader hands its tasks: parsed, or as places in the archive.
enum Sink<'a> {
    Tasks(&'a mut Vec<Task>),
    Archive(&'a mut Archive),
}

/// Which of the three files, for reporting each failure once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Which {
    Index1,
    Index,
    Active,
}

/// A way a file could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Failure {
    Open(io::ErrorKind),
    Read(io::ErrorKind),
    NotRegular,
}

/// The failures already reported, so that a lasting one is said once, not at every refresh.
#[derive(Debug, Default)]
struct Reported(HashSet<(Which, Failure)>);

impl Reported {
    fn report(&mut self, which: Which, failure: Failure, text: &str) {
        if self.0.insert((which, failure)) {
            messages::input_error(text);
        }
    }

    /// The file was read again: a failure that comes back is news.
    fn clear(&mut self, which: Which) {
        self.0.retain(|&(w, _)| w != which);
    }
}

/// What `active` was when last read: a rename or a rewrite changes at least one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    id: Identity,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
}

impl Stamp {
    fn of(meta: &Metadata) -> Stamp {
        Stamp {
            id: Identity::of(meta),
            size: meta.len(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
        }
    }
}

/// The result of opening one of the files.
enum Opened {
    File(File, Metadata),
    Missing,
    Failed(Failure, String),
}

/// Opens `path` read-only, if it is a regular file.
fn open_regular(path: &Path) -> Opened {
    // O_NONBLOCK: a FIFO put there must not block the open (on a regular file the flag changes
    // nothing); what was opened is then checked to be a regular file.
    let opened = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path);
    match opened {
        Ok(file) => match file.metadata() {
            Ok(meta) if meta.is_file() => Opened::File(file, meta),
            Ok(_) => Opened::Failed(Failure::NotRegular, "not a regular file".to_string()),
            Err(e) => Opened::Failed(Failure::Read(e.kind()), e.to_string()),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => Opened::Missing,
        Err(e) => Opened::Failed(Failure::Open(e.kind()), e.to_string()),
    }
}

/// An index file open for reading, and how far it has been read.
struct IndexReader {
    file: File,
    id: Identity,
    /// How messages name it.
    name: String,
    which: Which,
    /// How far the file has been read, the unfinished line included.
    read_pos: u64,
    lines: LineSplitter,
    /// Its number in the archive, once it gave lines to one.
    archived: Option<u64>,
}

impl IndexReader {
    fn new(file: File, meta: &Metadata, name: String, which: Which) -> IndexReader {
        IndexReader {
            file,
            id: Identity::of(meta),
            name,
            which,
            read_pos: 0,
            lines: LineSplitter::new(MAX_LINE),
            archived: None,
        }
    }

    /// Reads what the file has gained; its complete lines go to `out`. `false` on a read error
    /// (reported; the next call tries again from where this one stopped).
    fn pump(&mut self, buf: &mut [u8], reported: &mut Reported, out: &mut Sink<'_>) -> bool {
        if let Sink::Archive(archive) = out {
            if self.archived.is_none() {
                self.archived = archive.add_file(&self.file, &self.name);
            }
        }
        loop {
            match self.file.read_at(buf, self.read_pos) {
                Ok(0) => return true,
                Ok(n) => {
                    self.read_pos += n as u64;
                    let (name, archived) = (&self.name, self.archived);
                    self.lines.feed_at(&buf[..n], &mut |number, at, line| {
                        take_line(name, (number, at), line, archived, out)
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let text = format!("{}: read error: {e}", self.name);
                    reported.report(self.which, Failure::Read(e.kind()), &text);
                    return false;
                }
            }
        }
    }

    /// Reads the file to its end, an unfinished last line included: it will not grow any more
    /// (PVE only appends to the file named `index`, and writes whole lines under a lock, so such
    /// a line is a damaged one and says so if it is).
    fn finish(mut self, buf: &mut [u8], reported: &mut Reported, out: &mut Sink<'_>) {
        if self.pump(buf, reported, out) {
            let (name, archived) = (&self.name, self.archived);
            self.lines.finish_at(&mut |number, at, line| {
                take_line(name, (number, at), line, archived, out)
            });
        }
    }

    /// Forgets everything read: the file is read again from its first byte (as new tasks: the
    /// places archived in it are not its lines any more, and read back as changed).
    fn restart(&mut self) {
        self.read_pos = 0;
        self.lines = LineSplitter::new(MAX_LINE);
        self.archived = None;
    }
}

/// One complete line of an index file (`None`: longer than [`MAX_LINE`]) at `(number, offset)`;
/// empty lines are passed over. Into the archive it goes by its place (`archived`: the file's
/// number there), or parsed when the file could not be added to it.
fn take_line(
    name: &str,
    (number, at): (u64, u64),
    line: Option<&[u8]>,
    archived: Option<u64>,
    out: &mut Sink<'_>,
) {
    match line {
        Some([]) => {}
        Some(line) => match (parse_index_line(line), out, archived) {
            (Ok(task), Sink::Archive(archive), _) if !archive.is_own(&task) => {
                messages::malformed(
                    name,
                    number,
                    &format_args!("a task of another node ({})", task.upid.node),
                );
            }
            (Ok(task), Sink::Archive(archive), Some(file)) => archive.add(file, at, line, &task),
            // No descriptor left to read it back with: kept parsed, as later lines are.
            (Ok(task), Sink::Archive(archive), None) => {
                archive.note_end(&task);
                archive.parsed.push(task);
            }
            (Ok(task), Sink::Tasks(tasks), _) => tasks.push(task),
            (Err(reason), _, _) => messages::malformed(name, number, &reason),
        },
        None => messages::malformed(
            name,
            number,
            &format_args!("line longer than {MAX_LINE} bytes"),
        ),
    }
}

/// The task directory's files (`index.1`, `index`, `active`), read incrementally.
pub(crate) struct TaskDir {
    dir: PathBuf,
    /// Whether `index.1` has been read (only the first refresh does).
    started: bool,
    /// The file `index` named when last looked at, open, and how far it is read.
    index: Option<IndexReader>,
    /// What `active` was when last read; `None` when it was missing or not read.
    active: Option<Stamp>,
    reported: Reported,
    /// The node whose directory this is, when its tasks must be that node's.
    only: Option<String>,
}

impl TaskDir {
    /// Fails when `dir` is not a readable directory. Nothing is read yet.
    pub(crate) fn open(dir: &Path) -> io::Result<TaskDir> {
        fs::read_dir(dir)?;
        Ok(TaskDir {
            dir: dir.to_path_buf(),
            started: false,
            index: None,
            active: None,
            reported: Reported::default(),
            only: None,
        })
    }

    /// Takes only `node`'s tasks (another node's directory in a cluster read): a line of
    /// another node's task is reported and passed over.
    pub(crate) fn only_node(&mut self, node: &str) {
        self.only = Some(node.to_string());
    }

    /// The directory, which is what is worth watching for changes.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// One task as the files hold it now (`active` first: a finished task may still be listed
    /// there, with its status), for a session a restart knows only by its UPID. Reads the
    /// files whole, so it is for a handful of lookups, never per line.
    pub(crate) fn find(&self, upid: &str) -> Option<Task> {
        for file in ["active", "index", "index.1"] {
            let Opened::File(mut f, _) = open_regular(&self.dir.join(file)) else {
                continue;
            };
            let mut text = Vec::new();
            if std::io::Read::read_to_end(&mut f, &mut text).is_err() {
                continue;
            }
            for line in text.split(|&b| b == b'\n') {
                if !line.starts_with(upid.as_bytes()) {
                    continue;
                }
                let task = if file == "active" {
                    parse_active_line(line).ok().map(|(task, _)| task)
                } else {
                    parse_index_line(line).ok()
                };
                if let Some(task) = task.filter(|t| t.upid.text == upid) {
                    return Some(task);
                }
            }
        }
        None
    }

    /// How messages name a file of the directory.
    fn name(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }

    /// Opens one of the files; a failure other than its absence is reported (once).
    fn open_file(&mut self, file: &str, which: Which) -> Option<(File, Metadata)> {
        match open_regular(&self.dir.join(file)) {
            Opened::File(f, meta) => Some((f, meta)),
            Opened::Missing => None,
            Opened::Failed(failure, text) => {
                let text = format!("{}: {text}", self.name(file));
                self.reported.report(which, failure, &text);
                None
            }
        }
    }

    /// Reads what changed since the last call (the first call: `index.1`, `index`, then
    /// `active`, all whole). Missing files are normal and give nothing; other failures are
    /// reported once each and the rest is read on; malformed lines are reported and skipped.
    pub(crate) fn refresh(&mut self) -> Update {
        let mut update = Update::default();
        let mut buf = vec![0; CHUNK];
        if self.started {
            self.refresh_index(&mut buf, &mut Sink::Tasks(&mut update.finished));
        } else {
            self.started = true;
            let mut archive = Archive {
                only: self.only.clone(),
                ..Archive::default()
            };
            let mut sink = Sink::Archive(&mut archive);
            self.first_index(&mut buf, &mut sink);
            self.refresh_index(&mut buf, &mut sink);
            archive.sort();
            update.finished = std::mem::take(&mut archive.parsed);
            update.archive = Some(archive);
        }
        self.refresh_active(&mut update);
        if let Some(node) = &self.only {
            let name = self.dir.display().to_string();
            let own = |task: &Task| {
                let ok = task.upid.node == *node;
                if !ok {
                    messages::malformed(
                        &name,
                        0,
                        &format_args!("a task of another node ({})", task.upid.node),
                    );
                }
                ok
            };
            update.finished.retain(own);
            update.running.retain(own);
        }
        update
    }

    /// The first look: `index.1`, then `index` is taken as the file to follow (read by
    /// [`Self::refresh_index`] right after). `index` is opened first: should PVE rename it to
    /// `index.1` in between, it is the same file and is read once, under its open handle.
    fn first_index(&mut self, buf: &mut [u8], out: &mut Sink<'_>) {
        let index = self.open_file("index", Which::Index);
        if let Some((file, meta)) = self.open_file("index.1", Which::Index1) {
            let id = Identity::of(&meta);
            if index.as_ref().is_none_or(|(_, m)| Identity::of(m) != id) {
                let reader = IndexReader::new(file, &meta, self.name("index.1"), Which::Index1);
                reader.finish(buf, &mut self.reported, out);
            }
        }
        if let Some((file, meta)) = index {
            self.index = Some(IndexReader::new(
                file,
                &meta,
                self.name("index"),
                Which::Index,
            ));
        }
    }

    /// Reads on in `index`; after a rename, the rest of the old file, then the new one.
    fn refresh_index(&mut self, buf: &mut [u8], out: &mut Sink<'_>) {
        let (file, meta) = match open_regular(&self.dir.join("index")) {
            Opened::File(file, meta) => (file, meta),
            Opened::Missing => {
                // Renamed to index.1, and no task has finished since to create a new one.
                if let Some(old) = self.index.take() {
                    self.let_go(old, buf, out);
                }
                return;
            }
            Opened::Failed(failure, text) => {
                let text = format!("{}: {text}", self.name("index"));
                self.reported.report(Which::Index, failure, &text);
                // What is open may still be what the name stands for: read on in it.
                if let Some(current) = &mut self.index {
                    current.pump(buf, &mut self.reported, out);
                }
                return;
            }
        };
        if let Some(current) = &mut self.index {
            if current.id == Identity::of(&meta) {
                if meta.len() < current.read_pos {
                    current.restart();
                }
                if current.pump(buf, &mut self.reported, out) {
                    self.reported.clear(Which::Index);
                }
                return;
            }
        }
        // Another file: PVE renamed the old one to index.1 (complete once the new one exists:
        // appends and the rename happen under one lock) and appended to a new index.
        if let Some(old) = self.index.take() {
            self.let_go(old, buf, out);
        }
        let mut current = IndexReader::new(file, &meta, self.name("index"), Which::Index);
        if current.pump(buf, &mut self.reported, out) {
            self.reported.clear(Which::Index);
        }
        self.index = Some(current);
    }

    /// Reads an index that PVE renamed away to its end, naming it where it is now.
    fn let_go(&mut self, mut old: IndexReader, buf: &mut [u8], out: &mut Sink<'_>) {
        let moved =
            fs::metadata(self.dir.join("index.1")).is_ok_and(|meta| Identity::of(&meta) == old.id);
        if moved {
            old.name = self.name("index.1");
        }
        old.finish(buf, &mut self.reported, out);
    }

    /// Reads `active` again, whole, when it is another file or was rewritten.
    fn refresh_active(&mut self, update: &mut Update) {
        let Some((mut file, meta)) = self.open_file("active", Which::Active) else {
            self.active = None;
            return;
        };
        // The stamp is taken before reading: a rewrite while it is read changes it again, and
        // the next refresh reads the file once more.
        let stamp = Stamp::of(&meta);
        if self.active == Some(stamp) {
            return;
        }
        let mut data = Vec::new();
        if let Err(e) = file.read_to_end(&mut data) {
            let text = format!("{}: read error: {e}", self.name("active"));
            self.reported
                .report(Which::Active, Failure::Read(e.kind()), &text);
            self.active = None;
            return;
        }
        self.active = Some(stamp);
        self.reported.clear(Which::Active);
        let name = self.name("active");
        let data = data.strip_suffix(b"\n").unwrap_or(&data);
        if data.is_empty() {
            return;
        }
        for (i, line) in data.split(|&b| b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            match parse_active_line(line) {
                Ok((task, _saved)) => match task.state {
                    State::Running => update.running.push(task),
                    State::Finished { .. } => update.finished.push(task),
                },
                Err(reason) => messages::malformed(&name, i as u64 + 1, &reason),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::Config;
    use std::io::Write;

    /// A refresh, with the archive of the first look read back into `finished` (before the
    /// finished entries of `active`).
    fn refresh(dir: &mut TaskDir) -> Update {
        let mut update = dir.refresh();
        if let Some(mut archive) = update.archive.take() {
            let mut all = Vec::new();
            while let Some(task) = archive.take(i64::MAX) {
                all.push(task);
            }
            all.append(&mut update.finished);
            update.finished = all;
        }
        update
    }

    fn upid(s: &str) -> Upid {
        parse_upid(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn index(line: &str) -> Task {
        parse_index_line(line.as_bytes()).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    fn active(line: &str) -> (Task, bool) {
        parse_active_line(line.as_bytes()).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    fn finished(end: i64, status: Option<&str>) -> State {
        State::Finished {
            end: Some(end),
            status: status.map(str::to_string),
        }
    }

    const QMSTART: &str = "UPID:pve1:000F4A2C:01A2B3C4:6A3BC782:qmstart:100:root@pam:";

    #[test]
    fn upid_doc_examples() {
        assert_eq!(
            upid(QMSTART),
            Upid {
                text: QMSTART.to_string(),
                node: "pve1".to_string(),
                pid: 0x000F_4A2C,
                pstart: 0x01A2_B3C4,
                start: 0x6A3B_C782,
                kind: "qmstart".to_string(),
                id: "100".to_string(),
                user: "root@pam".to_string(),
            }
        );
        let u = upid("UPID:pve1:000F4D77:01A2C5B1:6A3BCA00:aptupdate::root@pam:");
        assert_eq!((u.kind.as_str(), u.id.as_str()), ("aptupdate", ""));
        assert_eq!(u.start, 0x6A3B_CA00);
        let u = upid("UPID:example-node:0000C346:165A0CE4:68D7279C:task-ok::root@pam:");
        assert_eq!(u.node, "example-node");
        assert_eq!(u.pid, 0xC346);
        assert_eq!(u.pstart, 0x165A_0CE4);
        assert_eq!(u.start, 0x68D7_279C);
        assert_eq!(u.kind, "task-ok");
        assert_eq!(u.id, "");
        assert_eq!(u.user, "root@pam");
    }

    #[test]
    fn upid_nine_digit_pstart() {
        let u = upid("UPID:pve1:000F4A2C:1A2B3C4D5:6A3BC782:qmstart:100:root@pam:");
        assert_eq!(u.pstart, 0x1_A2B3_C4D5);
    }

    #[test]
    fn upid_largest_fields() {
        let u = upid("UPID:pve1:FFFFFFFF:FFFFFFFFF:FFFFFFFF:qmstart:100:root@pam:");
        assert_eq!(u.pid, u32::MAX);
        assert_eq!(u.pstart, 0xF_FFFF_FFFF);
        assert_eq!(u.start, 0xFFFF_FFFF);
        // The decode regex takes lowercase hex too.
        let u = upid("UPID:pve1:000f4a2c:01a2b3c4:6a3bc782:qmstart:100:root@pam:");
        assert_eq!((u.pid, u.start), (0x000F_4A2C, 0x6A3B_C782));
    }

    #[test]
    fn upid_id_forms() {
        for id in [
            "sda",
            "100-scsi0>101-scsi1",
            "100@local",
            "networking",
            "100",
        ] {
            let text = format!("UPID:pve1:000F4A2C:01A2B3C4:6A3BC782:qmmove:{id}:root@pam:");
            assert_eq!(upid(&text).id, id);
        }
    }

    #[test]
    fn upid_token_user() {
        let u = upid("UPID:pve1:000F4C01:01A2C0AA:6A3BC8F0:qmdestroy:105:automation@pve!ci:");
        assert_eq!(u.user, "automation@pve!ci");
        assert_eq!(u.id, "105");
    }

    #[test]
    fn upid_node_forms() {
        for node in ["example-node", "pve-1", "a", "PVE01", "a-b-c", "1"] {
            let text = format!("UPID:{node}:000F4A2C:01A2B3C4:6A3BC782:qmstart:100:root@pam:");
            assert_eq!(upid(&text).node, node);
        }
    }

    fn rejected(s: &str) -> Malformed {
        match parse_upid(s) {
            Ok(u) => panic!("{s} accepted: {u:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn upid_rejects_missing_trailing_colon() {
        assert_eq!(
            rejected("UPID:pve1:000F4A2C:01A2B3C4:6A3BC782:qmstart:100:root@pam"),
            Malformed::NotUpid
        );
    }

    #[test]
    fn upid_rejects_bad_nodes() {
        for node in [
            "-pve1",
            "pve1-",
            "-",
            "",
            "pve_1",
            "pve.example.com",
            "pve 1",
        ] {
            let text = format!("UPID:{node}:000F4A2C:01A2B3C4:6A3BC782:qmstart:100:root@pam:");
            assert_eq!(rejected(&text), Malformed::BadNode, "{text}");
        }
    }

    #[test]
    fn upid_rejects_bad_hex_fields() {
        let cases = [
            (
                "UPID:pve1:0F4A2C1:01A2B3C4:6A3BC782:qmstart:100:root@pam:",
                Malformed::BadPid,
            ),
            (
                "UPID:pve1:000F4A2C0:01A2B3C4:6A3BC782:qmstart:100:root@pam:",
                Malformed::BadPid,
            ),
            (
                "UPID:pve1:+00F4A2C:01A2B3C4:6A3BC782:qmstart:100:root@pam:",
                Malformed::BadPid,
            ),
            (
                "UPID:pve1:000G4A2C:01A2B3C4:6A3BC782:qmstart:100:root@pam:",
                Malformed::BadPid,
            ),
            (
                "UPID:pve1:000F4A2C:1A2B3C4:6A3BC782:qmstart:100:root@pam:",
                Malformed::BadPstart,
            ),
            (
                "UPID:pve1:000F4A2C:01A2B3C4AB:6A3BC782:qmstart:100:root@pam:",
                Malformed::BadPstart,
            ),
            (
                "UPID:pve1:000F4A2C:01A2B3C4:6A3BC78:qmstart:100:root@pam:",
                Malformed::BadStart,
            ),
            (
                "UPID:pve1:000F4A2C:01A2B3C4:6A3BC7821:qmstart:100:root@pam:",
                Malformed::BadStart,
            ),
        ];
        for (text, reason) in cases {
            assert_eq!(rejected(text), reason, "{text}");
        }
    }

    #[test]
    fn upid_rejects_slashes_spaces_and_empty_parts() {
        let cases = [
            (
                "UPID:pve1:000F4A2C:01A2B3C4:6A3BC782:qmstart:100/1:root@pam:",
                Malformed::BadId,
            ),
            (
                "UPID:pve1:000F4A2C:01A2B3C4:6A3BC782:qmstart:1 0:root@pam:",
                Malformed::BadId,
            ),
            (
                "UPID:pve1:000F4A2C:01A2B3C4:6A3BC782:qm/start:100:root@pam:",
                Malformed::BadType,
            ),
            (
                "UPID:pve1:000F4A2C:01A2B3C4:6A3BC782::100:root@pam:",
                Malformed::BadType,
            ),
            (
                "UPID:pve1:000F4A2C:01A2B3C4:6A3BC782:qmstart:100::",
                Malformed::BadUser,
            ),
            (
                "UPID:pve1:000F4A2C:01A2B3C4:6A3BC782:qmstart:100:root\t@pam:",
                Malformed::BadUser,
            ),
            (
                "UPID:pve1:000F4A2C:01A2B3C4:6A3BC782:qmstart:100:ro/ot@pam:",
                Malformed::BadUser,
            ),
        ];
        for (text, reason) in cases {
            assert_eq!(rejected(text), reason, "{text}");
        }
    }

    #[test]
    fn upid_rejects_other_shapes() {
        for text in [
            // PBS-style: one more field.
            "UPID:pbs1:000F4A2C:01A2B3C4:00000000:6A3BC782:backup:store1:root@pam:",
            "UPID:pve1:000F4A2C:01A2B3C4:6A3BC782:qmstart:100:root@pam::",
            "UPID:pve1:000F4A2C:01A2B3C4:6A3BC782:qmstart:100:root@pam:\n",
            "UPID:pve1:000F4A2C:01A2B3C4:6A3BC782:qmstart:100:root@pam: ",
            "UPID:pve1:000F4A2C:01A2B3C4:6A3BC782:qmstart:100:root@pam:x",
            "upid:pve1:000F4A2C:01A2B3C4:6A3BC782:qmstart:100:root@pam:",
            " UPID:pve1:000F4A2C:01A2B3C4:6A3BC782:qmstart:100:root@pam:",
            "UPID:pve1:000F4A2C:01A2B3C4:6A3BC782:qmstart:root@pam:",
            "UPID:",
            "UPID::",
            "",
            "hello",
        ] {
            assert!(parse_upid(text).is_err(), "{text:?} accepted");
        }
    }

    #[test]
    fn index_line_ok_and_warnings() {
        let t = index(&format!("{QMSTART} 6A3BC785 OK"));
        assert_eq!(t.upid, upid(QMSTART));
        assert_eq!(t.state, finished(0x6A3B_C785, Some("OK")));
        let t =
            index("UPID:pve1:000F4B10:01A2B9F0:6A3BC7AC:vzdump:105:root@pam: 6A3BC9D0 WARNINGS: 2");
        assert_eq!(t.state, finished(0x6A3B_C9D0, Some("WARNINGS: 2")));
    }

    #[test]
    fn index_line_error_with_spaces() {
        let t = index(
            "UPID:pve1:000F4C01:01A2C0AA:6A3BC8F0:qmdestroy:105:automation@pve!ci: 6A3BC8F2 VM 105 is running - destroy failed",
        );
        assert_eq!(t.upid.user, "automation@pve!ci");
        assert_eq!(
            t.state,
            finished(0x6A3B_C8F2, Some("VM 105 is running - destroy failed"))
        );
        let t = index(&format!("{QMSTART} 6A3BC785 unexpected status"));
        assert_eq!(t.state, finished(0x6A3B_C785, Some("unexpected status")));
        // Trailing spaces belong to the status (`.*`).
        let t = index(&format!("{QMSTART} 6A3BC785 job errors  "));
        assert_eq!(t.state, finished(0x6A3B_C785, Some("job errors  ")));
    }

    #[test]
    fn index_line_upid_only_and_no_status() {
        let t = index(QMSTART);
        assert_eq!(
            t.state,
            State::Finished {
                end: None,
                status: None
            }
        );
        assert_eq!(
            index(&format!("{QMSTART} 6A3BC785")).state,
            finished(0x6A3B_C785, None)
        );
        assert_eq!(
            index(&format!("{QMSTART} 6A3BC785\n")).state,
            finished(0x6A3B_C785, None)
        );
    }

    #[test]
    fn index_line_other_spaces_are_separators() {
        let t = index(&format!("{QMSTART}\t6A3BC785\tOK"));
        assert_eq!(t.state, finished(0x6A3B_C785, Some("OK")));
    }

    #[test]
    fn index_line_status_not_utf8_is_kept_lossy() {
        let mut line = format!("{QMSTART} 6A3BC785 caf").into_bytes();
        line.extend_from_slice(b"\xe9 failed");
        let t = parse_index_line(&line).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.state, finished(0x6A3B_C785, Some("caf\u{fffd} failed")));
    }

    #[test]
    fn index_line_rejects() {
        let cases: [(&[u8], Malformed); 10] = [
            (b"", Malformed::NotUpid),
            (b"hello world", Malformed::NotUpid),
            (
                b" UPID:pve1:000F4A2C:01A2B3C4:6A3BC782:qmstart:100:root@pam: 6A3BC785 OK",
                Malformed::NotUpid,
            ),
            (
                b"UPID:pve1:000F4A2C:01A2B3C4:6A3BC782:qmstart:\xff:root@pam: 6A3BC785 OK",
                Malformed::NotUtf8,
            ),
            (
                b"UPID:pve1:000F4A2C:01A2B3C4:6A3BC782:qmstart:100:root@pam: 6A3BC78 OK",
                Malformed::BadEndTime,
            ),
            (
                b"UPID:pve1:000F4A2C:01A2B3C4:6A3BC782:qmstart:100:root@pam: 6A3BC7851 OK",
                Malformed::BadEndTime,
            ),
            (
                b"UPID:pve1:000F4A2C:01A2B3C4:6A3BC782:qmstart:100:root@pam: 6A3BC78Z OK",
                Malformed::BadEndTime,
            ),
            (
                b"UPID:pve1:000F4A2C:01A2B3C4:6A3BC782:qmstart:100:root@pam: ",
                Malformed::BadEndTime,
            ),
            (
                b"UPID:pve1:000F4A2C:01A2B3C4:6A3BC782:qmstart:100:root@pam: 6A3BC785 ",
                Malformed::BadStatus,
            ),
            (
                b"UPID:pve1:000F4A2C:01A2B3C4:6A3BC782:qmstart:100:root@pam: 6A3BC785  OK",
                Malformed::BadStatus,
            ),
        ];
        for (line, reason) in cases {
            assert_eq!(
                parse_index_line(line).err(),
                Some(reason),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn active_line_running() {
        let (t, saved) = active("UPID:pve1:000F4E02:01A2C9C0:6A3BCB10:vncproxy:100:root@pam: 0");
        assert_eq!(t.state, State::Running);
        assert_eq!(t.upid.kind, "vncproxy");
        assert!(!saved);
        let (t, saved) = active(&format!("{QMSTART} 1"));
        assert_eq!(t.state, State::Running);
        assert!(saved);
    }

    #[test]
    fn active_line_finished() {
        let (t, saved) = active(&format!("{QMSTART} 1 6A3BC785 OK"));
        assert_eq!(t.state, finished(0x6A3B_C785, Some("OK")));
        assert!(saved);
        let (t, saved) = active(&format!(
            "{QMSTART} 0 6A3BC785 VM 105 is running - destroy failed"
        ));
        assert_eq!(
            t.state,
            finished(0x6A3B_C785, Some("VM 105 is running - destroy failed"))
        );
        assert!(!saved);
        let (t, saved) = active(&format!("{QMSTART} 0 6A3BC785"));
        assert_eq!(t.state, finished(0x6A3B_C785, None));
        assert!(!saved);
        let (t, _) = active(&format!("{QMSTART} 1 6A3BC785"));
        assert_eq!(t.state, finished(0x6A3B_C785, None));
        // `\s(\s*\S.*)`: extra leading spaces are part of the status.
        let (t, _) = active(&format!("{QMSTART} 1 6A3BC785   OK"));
        assert_eq!(t.state, finished(0x6A3B_C785, Some("  OK")));
    }

    #[test]
    fn active_line_rejects() {
        let cases = [
            (QMSTART.to_string(), Malformed::BadSaved),
            (format!("{QMSTART} "), Malformed::BadSaved),
            (format!("{QMSTART} 2"), Malformed::BadSaved),
            (format!("{QMSTART} 01"), Malformed::BadSaved),
            (format!("{QMSTART}  1"), Malformed::BadSaved),
            (format!("{QMSTART} 1 "), Malformed::BadEndTime),
            (format!("{QMSTART} 1 6A3BC78"), Malformed::BadEndTime),
            (format!("{QMSTART} 1 6A3BC785 "), Malformed::BadStatus),
            (format!("{QMSTART} 1 6A3BC785    "), Malformed::BadStatus),
            ("x 1 6A3BC785 OK".to_string(), Malformed::NotUpid),
        ];
        for (line, reason) in cases {
            assert_eq!(
                parse_active_line(line.as_bytes()).err(),
                Some(reason),
                "{line:?}"
            );
        }
    }

    #[test]
    fn status_errors() {
        for ok in [
            "OK",
            "WARNINGS: 2",
            "WARNINGS: 12",
            "WARNINGS: 0",
            "WARNINGS: 3\n",
        ] {
            assert!(!status_is_error(ok), "{ok:?}");
        }
        for err in [
            "WARNINGS: x",
            "WARNINGS: ",
            "WARNINGS:2",
            "WARNINGS: 2 ",
            "WARNINGS: -1",
            "ok",
            "OK ",
            "OK\n",
            "",
            "unexpected status",
            "job errors",
            "VM 105 is running - destroy failed",
        ] {
            assert!(status_is_error(err), "{err:?}");
        }
    }

    #[test]
    fn malformed_reasons_read_well() {
        assert_eq!(Malformed::NotUtf8.to_string(), "not UTF-8");
        assert!(Malformed::NotUpid.to_string().starts_with("not a UPID"));
        assert!(
            Malformed::BadEndTime
                .to_string()
                .starts_with("bad end time")
        );
        assert!(
            Malformed::BadSaved
                .to_string()
                .starts_with("bad saved flag")
        );
    }

    // TaskDir

    fn upid_n(n: u32) -> String {
        format!("UPID:pve1:{n:08X}:01A2B3C4:6A3BC782:qmstart:{n}:root@pam:")
    }

    fn index_line(n: u32) -> String {
        format!("{} 6A3BC785 OK\n", upid_n(n))
    }

    fn append(path: &Path, text: &str) {
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    /// Writes `active` the way PVE does: a temporary file renamed over it.
    fn replace_active(dir: &Path, text: &str) {
        let tmp = dir.join("active.tmp.1234");
        fs::write(&tmp, text).unwrap();
        fs::rename(&tmp, dir.join("active")).unwrap();
    }

    /// The UPID pids of the tasks, which `upid_n` sets to `n`.
    fn pids(tasks: &[Task]) -> Vec<u32> {
        tasks.iter().map(|t| t.upid.pid).collect()
    }

    #[test]
    fn taskdir_open_needs_a_directory() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(TaskDir::open(&tmp.path().join("missing")).is_err());
        let file = tmp.path().join("file");
        fs::write(&file, "").unwrap();
        assert!(TaskDir::open(&file).is_err());
        let dir = TaskDir::open(tmp.path()).unwrap();
        assert_eq!(dir.dir(), tmp.path());
    }

    #[test]
    fn taskdir_missing_files_give_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let mut dir = TaskDir::open(tmp.path()).unwrap();
        let u = refresh(&mut dir);
        assert!(u.finished.is_empty() && u.running.is_empty());
        let u = refresh(&mut dir);
        assert!(u.finished.is_empty() && u.running.is_empty());
        assert!(dir.reported.0.is_empty());
    }

    #[test]
    fn taskdir_first_refresh_reads_index1_index_active() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        fs::write(d.join("index.1"), index_line(1) + &index_line(2)).unwrap();
        fs::write(d.join("index"), index_line(3) + "\n" + &index_line(4)).unwrap();
        replace_active(
            d,
            &format!(
                "{} 0\n{} 1 6A3BC785 OK\n{} 0 6A3BC790\n",
                upid_n(5),
                upid_n(4),
                upid_n(6)
            ),
        );
        let mut dir = TaskDir::open(d).unwrap();
        let u = refresh(&mut dir);
        assert_eq!(pids(&u.finished), [1, 2, 3, 4, 4, 6]);
        assert_eq!(u.finished[5].state, finished(0x6A3B_C790, None));
        assert_eq!(pids(&u.running), [5]);
        assert_eq!(u.running[0].state, State::Running);
        // Nothing changed: nothing new.
        let u = refresh(&mut dir);
        assert!(u.finished.is_empty() && u.running.is_empty());
    }

    #[test]
    fn taskdir_appended_lines_come_out_once() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let mut dir = TaskDir::open(d).unwrap();
        assert!(refresh(&mut dir).finished.is_empty());
        append(&d.join("index"), &index_line(1));
        assert_eq!(pids(&refresh(&mut dir).finished), [1]);
        append(&d.join("index"), &(index_line(2) + &index_line(3)));
        assert_eq!(pids(&refresh(&mut dir).finished), [2, 3]);
        assert!(refresh(&mut dir).finished.is_empty());
    }

    #[test]
    fn taskdir_partial_line_waits_for_its_newline() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let line = index_line(2);
        let (head, tail) = line.split_at(30);
        fs::write(d.join("index"), index_line(1) + head).unwrap();
        let mut dir = TaskDir::open(d).unwrap();
        assert_eq!(pids(&refresh(&mut dir).finished), [1]);
        assert!(refresh(&mut dir).finished.is_empty());
        append(&d.join("index"), &tail[..tail.len() - 1]);
        assert!(refresh(&mut dir).finished.is_empty());
        append(&d.join("index"), "\n");
        assert_eq!(pids(&refresh(&mut dir).finished), [2]);
    }

    #[test]
    fn taskdir_rotation_reads_the_rest_of_the_old_index_then_the_new() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        fs::write(d.join("index.1"), index_line(1)).unwrap();
        fs::write(d.join("index"), index_line(2)).unwrap();
        let mut dir = TaskDir::open(d).unwrap();
        assert_eq!(pids(&refresh(&mut dir).finished), [1, 2]);
        // PVE appends, then finds the file too big and renames it; the next append creates a
        // new index.
        append(&d.join("index"), &(index_line(3) + &index_line(4)));
        fs::rename(d.join("index"), d.join("index.1")).unwrap();
        append(&d.join("index"), &index_line(5));
        assert_eq!(pids(&refresh(&mut dir).finished), [3, 4, 5]);
        append(&d.join("index"), &index_line(6));
        assert_eq!(pids(&refresh(&mut dir).finished), [6]);
        assert!(refresh(&mut dir).finished.is_empty());
    }

    #[test]
    fn taskdir_rotation_before_a_new_index_exists() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        fs::write(d.join("index"), index_line(1)).unwrap();
        let mut dir = TaskDir::open(d).unwrap();
        assert_eq!(pids(&refresh(&mut dir).finished), [1]);
        append(&d.join("index"), &index_line(2));
        fs::rename(d.join("index"), d.join("index.1")).unwrap();
        assert_eq!(pids(&refresh(&mut dir).finished), [2]);
        assert!(refresh(&mut dir).finished.is_empty());
        append(&d.join("index"), &index_line(3));
        assert_eq!(pids(&refresh(&mut dir).finished), [3]);
    }

    #[test]
    fn taskdir_index1_that_is_index_is_read_once() {
        // Seen at the first look when PVE renames index between the two opens: both names
        // are the same file.
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        fs::write(d.join("index"), index_line(1) + &index_line(2)).unwrap();
        fs::hard_link(d.join("index"), d.join("index.1")).unwrap();
        let mut dir = TaskDir::open(d).unwrap();
        assert_eq!(pids(&refresh(&mut dir).finished), [1, 2]);
        assert!(refresh(&mut dir).finished.is_empty());
    }

    #[test]
    fn taskdir_shrunken_index_is_read_again() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        fs::write(d.join("index"), index_line(1) + &index_line(2)).unwrap();
        let mut dir = TaskDir::open(d).unwrap();
        assert_eq!(pids(&refresh(&mut dir).finished), [1, 2]);
        // Truncated in place (same inode) and written again, shorter.
        let f = fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(d.join("index"))
            .unwrap();
        drop(f);
        append(&d.join("index"), &index_line(7));
        assert_eq!(pids(&refresh(&mut dir).finished), [7]);
    }

    #[test]
    fn taskdir_active_replaced_by_rename_is_read_again() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        replace_active(d, &format!("{} 0\n", upid_n(1)));
        let mut dir = TaskDir::open(d).unwrap();
        let u = refresh(&mut dir);
        assert_eq!(pids(&u.running), [1]);
        assert!(refresh(&mut dir).running.is_empty());
        // Same size, same content even: another file.
        replace_active(d, &format!("{} 0\n", upid_n(1)));
        assert_eq!(pids(&refresh(&mut dir).running), [1]);
        replace_active(
            d,
            &format!("{} 0 6A3BC790 OK\n{} 0\n", upid_n(1), upid_n(2)),
        );
        let u = refresh(&mut dir);
        assert_eq!(pids(&u.finished), [1]);
        assert_eq!(pids(&u.running), [2]);
        // Emptied: nothing running, nothing to say.
        replace_active(d, "");
        let u = refresh(&mut dir);
        assert!(u.finished.is_empty() && u.running.is_empty());
        // Rewritten in place.
        fs::write(d.join("active"), format!("{} 1\n", upid_n(3))).unwrap();
        assert_eq!(pids(&refresh(&mut dir).running), [3]);
        // Removed, then back.
        fs::remove_file(d.join("active")).unwrap();
        assert!(refresh(&mut dir).running.is_empty());
        replace_active(d, &format!("{} 1\n", upid_n(3)));
        assert_eq!(pids(&refresh(&mut dir).running), [3]);
    }

    #[test]
    fn taskdir_malformed_lines_are_skipped() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        fs::write(
            d.join("index"),
            index_line(1) + "garbage here\n\n" + &index_line(2) + "UPID:x 1\n" + &index_line(3),
        )
        .unwrap();
        replace_active(
            d,
            &format!("{} 0\nnot a line\n{} 0\n", upid_n(4), upid_n(5)),
        );
        let mut dir = TaskDir::open(d).unwrap();
        let u = refresh(&mut dir);
        assert_eq!(pids(&u.finished), [1, 2, 3]);
        assert_eq!(pids(&u.running), [4, 5]);
        // Line numbers count every line, malformed and empty ones too.
        assert_eq!(dir.index.as_ref().map(|r| r.lines.count()), Some(6));
    }

    #[test]
    fn taskdir_overlong_line_is_skipped() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let long = "x".repeat(MAX_LINE + 10);
        fs::write(d.join("index"), index_line(1) + &long).unwrap();
        let mut dir = TaskDir::open(d).unwrap();
        assert_eq!(pids(&refresh(&mut dir).finished), [1]);
        append(&d.join("index"), &(long + "\n" + &index_line(2)));
        assert_eq!(pids(&refresh(&mut dir).finished), [2]);
        assert_eq!(dir.index.as_ref().map(|r| r.lines.count()), Some(3));
    }

    #[test]
    fn taskdir_non_regular_index_is_reported_not_read() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        fs::create_dir(d.join("index")).unwrap();
        let mut dir = TaskDir::open(d).unwrap();
        assert!(refresh(&mut dir).finished.is_empty());
        assert!(
            dir.reported
                .0
                .contains(&(Which::Index, Failure::NotRegular))
        );
    }

    fn config() -> Config {
        // No regression files: they would be written next to this source file.
        Config {
            cases: 512,
            failure_persistence: None,
            ..Config::default()
        }
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn prop_parse_upid_never_panics(s in any::<String>()) {
            let _ = parse_upid(&s);
        }

        #[test]
        fn prop_parse_upid_near_misses_never_panic(s in "UPID:[a-zA-Z0-9:/ @!\\-]{0,60}:?") {
            let _ = parse_upid(&s);
        }

        /// A UPID written as PVE's sprintf writes it reads back to the same fields.
        #[test]
        fn prop_upid_round_trips(
            node in "[a-zA-Z0-9]([a-zA-Z0-9-]{0,20}[a-zA-Z0-9])?",
            pid in any::<u32>(),
            pstart in 0u64..=0xF_FFFF_FFFF,
            start in any::<u32>(),
            kind in "[^:\\s/]{1,16}",
            id in "[^:\\s/]{0,16}",
            user in "[^:\\s/]{1,24}",
        ) {
            let text = format!("UPID:{node}:{pid:08X}:{pstart:08X}:{start:08X}:{kind}:{id}:{user}:");
            let u = parse_upid(&text);
            prop_assert_eq!(u, Ok(Upid {
                text: text.clone(),
                node,
                pid,
                pstart,
                start: i64::from(start),
                kind,
                id,
                user,
            }));
        }

        /// An index line as PVE writes it (`"%s %08X %s\n"`) reads back.
        #[test]
        fn prop_index_line_round_trips(
            n in any::<u32>(),
            end in any::<u32>(),
            status in "[^\\s][^\n]{0,40}",
        ) {
            let line = format!("{} {end:08X} {status}\n", upid_n(n));
            let t = parse_index_line(line.as_bytes());
            prop_assert_eq!(t.map(|t| t.state), Ok(finished(i64::from(end), Some(&status))));
        }

        #[test]
        fn prop_parse_index_line_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_index_line(&bytes);
        }

        #[test]
        fn prop_parse_active_line_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_active_line(&bytes);
        }

        /// Random tails after a valid UPID reach the end-time and status code.
        #[test]
        fn prop_task_line_tails_never_panic(tail in prop::collection::vec(any::<u8>(), 0..40)) {
            let mut line = QMSTART.as_bytes().to_vec();
            line.extend_from_slice(&tail);
            let _ = parse_index_line(&line);
            let _ = parse_active_line(&line);
            let mut line = format!("{QMSTART} 1").into_bytes();
            line.extend_from_slice(&tail);
            let _ = parse_active_line(&line);
        }
    }
}
