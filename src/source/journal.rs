//! The node's journal: its entries, from `journalctl -o json`, a saved JSON export, a copied
//! `.journal` file or rsyslog's text files (`../shared/docs/pve-sources.md` §2).
//!
//! Linking libsystemd would break the static binary, so the journal is read the way Vector's
//! journald source reads it: by running `journalctl -o json` (one JSON object a line), found
//! in the system's own directories rather than through `PATH`, with argv, never a shell. A
//! copied `.journal` file goes through `journalctl --file`; a JSON export and syslog text are
//! parsed here, told apart by content. Every entry is input like any other: fields may be
//! missing or odd, a line may be anything, and each bad one is reported and skipped.

use std::ffi::OsString;
use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use jiff::Timestamp;
use serde_json::Value;

use super::said;
use crate::input::{self, LineSplitter};
use crate::messages;

/// The programs whose entries are read (`SYSLOG_IDENTIFIER`, pve-sources.md §2): the daemons
/// that serve the API and the CLI tools that change things.
pub(crate) const PROGRAMS: &[&str] = &[
    "pvedaemon",
    "pveproxy",
    "spiceproxy",
    "pvescheduler",
    "qm",
    "pct",
    "pvesh",
    "vzdump",
    "pvenode",
    "pveum",
    "pvesm",
    "pvesr",
    "ha-manager",
    "pve-ha-lrm",
    "pve-ha-crm",
    "pvecm",
];

/// Where `journalctl` is looked for: the system's directories only (a `PATH` that root
/// inherited from a user's shell must not choose the program pverec runs).
const JOURNALCTL: &[&str] = &["/usr/bin/journalctl", "/bin/journalctl"];

/// One journal entry, as far as pverec uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Wall-clock time, microseconds since the epoch (`__REALTIME_TIMESTAMP`).
    pub(crate) time_us: i64,
    /// `_HOSTNAME`, when told.
    pub(crate) host: Option<String>,
    /// `SYSLOG_IDENTIFIER`: the program.
    pub(crate) program: String,
    /// `_PID` (or `SYSLOG_PID`), when told.
    pub(crate) pid: Option<u32>,
    /// `PRIORITY` (0 emerg … 7 debug), when told.
    pub(crate) priority: Option<u8>,
    /// `MESSAGE`, without one trailing newline; not UTF-8 text is kept lossily.
    pub(crate) message: String,
    /// `__CURSOR`, for `--after-cursor`; none in syslog text.
    pub(crate) cursor: Option<String>,
}

impl Entry {
    pub(crate) fn timestamp(&self) -> Option<Timestamp> {
        Timestamp::from_microsecond(self.time_us).ok()
    }
}

/// Why a line is not an entry. Shown as `FILE:LINE: reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Malformed {
    NotJson(String),
    NotAnObject,
    /// A field that must be there is missing or not what it must be.
    Field(&'static str),
    NotSyslog,
    BadTime,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::NotJson(e) => write!(f, "not a journal JSON entry: {e}"),
            Malformed::NotAnObject => f.write_str("not a journal JSON entry: not an object"),
            Malformed::Field(name) => write!(f, "journal entry without a valid {name}"),
            Malformed::NotSyslog => {
                f.write_str("not a syslog line (`STAMP HOST PROGRAM[PID]: MESSAGE`)")
            }
            Malformed::BadTime => f.write_str("syslog time stamp out of range"),
        }
    }
}

/// A journal field as a string: JSON export writes text as a string, binary (not UTF-8, or
/// with control characters) as an array of byte values; a field given more than once is an
/// array of those. The first value is taken.
fn field_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) if items.iter().all(Value::is_u64) => {
            let bytes: Option<Vec<u8>> = items
                .iter()
                .map(|v| v.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect();
            Some(String::from_utf8_lossy(&bytes?).into_owned())
        }
        Value::Array(items) => items.first().and_then(field_text),
        _ => None,
    }
}

/// One line of `journalctl -o json` (or of a saved export of it).
pub(crate) fn parse_json(line: &[u8]) -> Result<Entry, Malformed> {
    let value: Value =
        serde_json::from_slice(line).map_err(|e| Malformed::NotJson(e.to_string()))?;
    let Value::Object(map) = value else {
        return Err(Malformed::NotAnObject);
    };
    let text = |name: &str| map.get(name).and_then(field_text);
    let time_us = text("__REALTIME_TIMESTAMP")
        .and_then(|t| t.parse::<i64>().ok())
        .filter(|&t| Timestamp::from_microsecond(t).is_ok())
        .ok_or(Malformed::Field("__REALTIME_TIMESTAMP"))?;
    let program = text("SYSLOG_IDENTIFIER")
        .or_else(|| text("_COMM"))
        .ok_or(Malformed::Field("SYSLOG_IDENTIFIER"))?;
    let mut message = text("MESSAGE").ok_or(Malformed::Field("MESSAGE"))?;
    if message.ends_with('\n') {
        message.pop();
    }
    Ok(Entry {
        time_us,
        host: text("_HOSTNAME"),
        program,
        pid: text("_PID")
            .or_else(|| text("SYSLOG_PID"))
            .and_then(|p| p.parse().ok()),
        priority: text("PRIORITY")
            .and_then(|p| p.parse().ok())
            .filter(|&p| p <= 7),
        message,
        cursor: text("__CURSOR"),
    })
}

/// How syslog text gives the year it leaves out: the classic stamp (`Jun 24 14:00:05`, local
/// time, rsyslog's `RSYSLOG_TraditionalFileFormat`) has none. A stamp is given the latest year
/// in which it is not more than a day after `reference` (the file's modification time: the
/// last line was written then, so the lines before it are older), which also gives the lines
/// before a New Year in the file their year.
#[derive(Debug, Clone)]
pub(crate) struct Years {
    reference: Timestamp,
    zone: jiff::tz::TimeZone,
}

impl Years {
    pub(crate) fn new(reference: Timestamp, zone: jiff::tz::TimeZone) -> Years {
        Years { reference, zone }
    }

    fn resolve(&self, month: i8, day: i8, h: i8, m: i8, s: i8) -> Option<Timestamp> {
        let latest = self
            .reference
            .checked_add(jiff::SignedDuration::from_hours(24))
            .ok()?;
        let year = self.reference.to_zoned(self.zone.clone()).year();
        for year in [year + 1, year, year - 1, year - 2, year - 3, year - 4] {
            let Ok(civil) = jiff::civil::DateTime::new(year, month, day, h, m, s, 0) else {
                continue; // Feb 29 of a year that has none
            };
            let Ok(zoned) = civil.to_zoned(self.zone.clone()) else {
                continue;
            };
            if zoned.timestamp() <= latest {
                return Some(zoned.timestamp());
            }
        }
        None
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// One line of rsyslog's text files: `STAMP HOST PROGRAM[PID]: MESSAGE`, STAMP either classic
/// (`Jun 24 14:00:05`, day padded with a space) or RFC 3339 (`2026-06-24T14:00:05.123456+02:00`,
/// `RSYSLOG_FileFormat`).
pub(crate) fn parse_syslog(line: &[u8], years: &Years) -> Result<Entry, Malformed> {
    let line = String::from_utf8_lossy(line);
    let line = line.strip_suffix('\r').unwrap_or(&line);
    let (time, rest) = syslog_stamp(line, years)?;
    let (host, rest) = rest.split_once(' ').ok_or(Malformed::NotSyslog)?;
    // `PROGRAM[PID]: ` or `PROGRAM: `; the tag ends at the first `: `.
    let (tag, message) = rest.split_once(": ").ok_or(Malformed::NotSyslog)?;
    let (program, pid) = match tag.strip_suffix(']').and_then(|t| t.split_once('[')) {
        Some((program, pid)) => (
            program,
            Some(pid.parse().map_err(|_| Malformed::NotSyslog)?),
        ),
        None => (tag, None),
    };
    if program.is_empty() || program.contains(' ') || host.is_empty() {
        return Err(Malformed::NotSyslog);
    }
    Ok(Entry {
        time_us: time.as_microsecond(),
        host: Some(host.to_string()),
        program: program.to_string(),
        pid,
        priority: None,
        message: message.to_string(),
        cursor: None,
    })
}

fn syslog_stamp<'l>(line: &'l str, years: &Years) -> Result<(Timestamp, &'l str), Malformed> {
    let bytes = line.as_bytes();
    if bytes.len() > 4 && bytes[..4].iter().all(u8::is_ascii_digit) && bytes[4] == b'-' {
        let (stamp, rest) = line.split_once(' ').ok_or(Malformed::NotSyslog)?;
        let time: Timestamp = stamp.parse().map_err(|_| Malformed::BadTime)?;
        return Ok((time, rest));
    }
    // `Mmm dd hh:mm:ss ` is 16 bytes.
    if bytes.len() < 16 || bytes[3] != b' ' || bytes[6] != b' ' || bytes[15] != b' ' {
        return Err(Malformed::NotSyslog);
    }
    let month = MONTHS
        .iter()
        .position(|m| m.as_bytes() == &bytes[..3])
        .ok_or(Malformed::NotSyslog)? as i8
        + 1;
    let num = |s: &[u8]| -> Result<i8, Malformed> {
        let s = std::str::from_utf8(s).map_err(|_| Malformed::NotSyslog)?;
        s.trim_start().parse().map_err(|_| Malformed::NotSyslog)
    };
    let day = num(&bytes[4..6])?;
    if bytes[9] != b':' || bytes[12] != b':' {
        return Err(Malformed::NotSyslog);
    }
    let (h, m, s) = (
        num(&bytes[7..9])?,
        num(&bytes[10..12])?,
        num(&bytes[13..15])?,
    );
    let time = years
        .resolve(month, day, h, m, s)
        .ok_or(Malformed::BadTime)?;
    Ok((time, &line[16..]))
}

/// What a `--journal-file` holds, by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// A binary journal file (magic `LPKSHHRH`): read through `journalctl --file`.
    Journal,
    /// `journalctl -o json` lines.
    Json,
    /// rsyslog text.
    Syslog,
}

/// Tells a file's kind from its first bytes (decompressed, for a gzip'd syslog).
pub(crate) fn sniff(head: &[u8]) -> FileKind {
    if head.starts_with(b"LPKSHHRH") {
        return FileKind::Journal;
    }
    let first = head.iter().position(|b| !b.is_ascii_whitespace());
    match first.map(|i| head[i]) {
        Some(b'{') => FileKind::Json,
        _ => FileKind::Syslog,
    }
}

/// The system's `journalctl`, if it is there.
pub(crate) fn journalctl() -> Option<PathBuf> {
    JOURNALCTL.iter().map(PathBuf::from).find(|p| p.is_file())
}

/// What to ask journalctl for.
#[derive(Debug, Clone, Default)]
pub(crate) struct Query {
    /// A copied journal file instead of the system's journal.
    pub(crate) file: Option<PathBuf>,
    pub(crate) since: Option<Timestamp>,
    pub(crate) until: Option<Timestamp>,
    /// Follow: `--follow`, from after this cursor (else from `since`, else from the end).
    pub(crate) follow: bool,
    pub(crate) after_cursor: Option<String>,
}

/// The argv of journalctl for `query` (without the program itself): JSON, no pager, only the
/// PVE programs' entries (matches of one field are ORed), the time range handed over so that
/// a week of journal is not read to show an hour.
pub(crate) fn journalctl_args(query: &Query) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![
        "--output=json".into(),
        "--no-pager".into(),
        "--quiet".into(),
    ];
    if let Some(file) = &query.file {
        let mut arg = OsString::from("--file=");
        arg.push(file.as_os_str());
        args.push(arg);
    }
    // journalctl takes `@SECONDS` as a time.
    // A cursor says where to go on: --since would contradict it (journalctl refuses both).
    if let (Some(since), None) = (query.since, &query.after_cursor) {
        args.push(format!("--since=@{}", since.as_second()).into());
    }
    if let Some(until) = query.until {
        args.push(format!("--until=@{}", until.as_second() + 1).into());
    }
    if query.follow {
        args.push("--follow".into());
        // `--follow` alone shows the last ten entries first: none, or all from the start point.
        match &query.after_cursor {
            Some(cursor) => {
                args.push(format!("--after-cursor={cursor}").into());
                args.push("--lines=all".into());
            }
            None if query.since.is_none() => args.push("--lines=0".into()),
            None => args.push("--lines=all".into()),
        }
    }
    for program in PROGRAMS {
        args.push(format!("SYSLOG_IDENTIFIER={program}").into());
    }
    args
}

/// A path for messages.
pub(crate) fn display(path: &Path) -> String {
    path.display().to_string()
}

/// The entries of interest of one run, oldest first: those of the PVE programs whose message
/// [`said::parse`] knows. A week of a busy node's journal has a few thousand of them.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    pub(crate) entries: Vec<Entry>,
}

/// Whether an entry is kept: one of the PVE programs, saying something of interest.
pub(crate) fn of_interest(entry: &Entry) -> bool {
    PROGRAMS.contains(&entry.program.as_str())
        && said::parse(&entry.program, &entry.message).is_some()
}

impl Journal {
    /// Puts the entries in time order (journalctl gives them so; files merged may not).
    pub(crate) fn sort(&mut self) {
        self.entries.sort_by_key(|e| e.time_us);
    }

    /// Reads the system's journal through journalctl. A journalctl that cannot be run or
    /// fails is reported once (naming it, with its own first words of complaint) and the run
    /// goes on without it.
    pub(crate) fn read_system(&mut self, journalctl: &Path, query: &Query) {
        let mut stream = Stream::new(query.clone());
        stream.add_system(journalctl);
        self.drain(stream);
    }

    /// Reads a `--journal-file`: a binary journal through `journalctl --file`, a JSON export
    /// or syslog text (plain or gzip) here.
    pub(crate) fn read_file(&mut self, path: &Path, query: &Query, zone: &jiff::tz::TimeZone) {
        let mut stream = Stream::new(query.clone());
        stream.add_file(path, zone);
        self.drain(stream);
    }

    fn drain(&mut self, mut stream: Stream) {
        while let Some(entry) = stream.next_until(i64::MAX) {
            self.entries.push(entry);
        }
    }
}

/// The entries of interest, read only as far as they are asked for, oldest first across the
/// sources (each in its own order): so that a year of journal joined with a day of log holds
/// an hour of it at a time, not the year (convert; [`Journal`] reads a stream whole).
pub(crate) struct Stream {
    query: Query,
    readers: Vec<Reader>,
}

/// One source of a [`Stream`]: its lines, and the next entry of interest once read.
struct Reader {
    /// How messages name it.
    name: String,
    lines: input::Lines,
    number: u64,
    form: Form,
    /// A text file holds every time: the range is kept here (journalctl keeps it itself).
    ranged: bool,
    /// journalctl, to be waited for at the end of its output.
    child: Option<Running>,
    head: Option<Entry>,
    done: bool,
}

enum Form {
    Json,
    Syslog(Years),
}

/// A journalctl whose output is being read.
struct Running {
    child: std::process::Child,
    stderr: Option<std::thread::JoinHandle<Vec<u8>>>,
    /// What it reads, for messages.
    what: String,
}

impl Stream {
    pub(crate) fn new(query: Query) -> Stream {
        Stream {
            query,
            readers: Vec::new(),
        }
    }

    /// The system's journal, through journalctl.
    pub(crate) fn add_system(&mut self, journalctl: &Path) {
        let query = self.query.clone();
        self.add_journalctl(journalctl, &query, "the journal");
    }

    /// A `--journal-file`: a binary journal through `journalctl --file`, a JSON export or
    /// syslog text (plain or gzip) here.
    pub(crate) fn add_file(&mut self, path: &Path, zone: &jiff::tz::TimeZone) {
        let name = display(path);
        let head = match file_head(path) {
            Ok(head) => head,
            Err(e) => {
                messages::input_error(&messages::os_error(path, &e));
                return;
            }
        };
        match sniff(&head) {
            FileKind::Journal => match journalctl() {
                Some(program) => {
                    let query = Query {
                        file: Some(path.to_path_buf()),
                        ..self.query.clone()
                    };
                    self.add_journalctl(&program, &query, &name);
                }
                None => messages::input_error(&format!(
                    "{name}: a journal file, and journalctl (which reads it) is not installed; \
                     apt install systemd, or export it elsewhere with journalctl -o json"
                )),
            },
            kind => self.add_text(path, kind, zone),
        }
    }

    fn add_text(&mut self, path: &Path, kind: FileKind, zone: &jiff::tz::TimeZone) {
        let source = input::Source::new(path.to_path_buf());
        let lines = match input::Lines::open(&source, Default::default()) {
            Ok(lines) => lines,
            Err(e) => {
                messages::input_error(&messages::os_error(path, &e));
                return;
            }
        };
        let modified = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| Timestamp::try_from(t).ok())
            .unwrap_or_else(Timestamp::now);
        let form = match kind {
            FileKind::Json => Form::Json,
            _ => Form::Syslog(Years::new(modified, zone.clone())),
        };
        self.readers.push(Reader {
            name: source.name,
            lines,
            number: 0,
            form,
            ranged: true,
            child: None,
            head: None,
            done: false,
        });
    }

    fn add_journalctl(&mut self, program: &Path, query: &Query, what: &str) {
        let mut child = match Command::new(program)
            .args(journalctl_args(query))
            .env("SYSTEMD_COLORS", "0")
            .env("SYSTEMD_PAGER", "")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(child) => child,
            Err(e) => {
                messages::input_error(&format!(
                    "{what}: cannot run {}: {e}; read on without it",
                    program.display()
                ));
                return;
            }
        };
        // Its complaints are read beside its output, so that neither pipe fills up.
        let stderr = child.stderr.take().map(|mut err| {
            std::thread::spawn(move || {
                let mut text = Vec::new();
                let _ = (&mut err).take(64 * 1024).read_to_end(&mut text);
                let _ = io::copy(&mut err, &mut io::sink());
                text
            })
        });
        let stdout = child.stdout.take();
        let running = Running {
            child,
            stderr,
            what: what.to_string(),
        };
        let name = format!("{what} (journalctl)");
        let lines = match stdout.map(|out| input::Lines::of_reader(Box::new(out))) {
            Some(Ok(lines)) => lines,
            Some(Err(e)) => {
                messages::input_error(&format!("{name}: read error: {e}"));
                finish(running);
                return;
            }
            None => {
                finish(running);
                return;
            }
        };
        self.readers.push(Reader {
            name,
            lines,
            number: 0,
            form: Form::Json,
            ranged: false,
            child: Some(running),
            head: None,
            done: false,
        });
    }

    /// The next entry of interest if it is not after `limit_us` (microseconds since the
    /// epoch): the oldest of the sources' next entries, the first source's on equal times.
    pub(crate) fn next_until(&mut self, limit_us: i64) -> Option<Entry> {
        for reader in &mut self.readers {
            reader.fill(&self.query);
        }
        let (time, i) = self
            .readers
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.head.as_ref().map(|h| (h.time_us, i)))
            .min()?;
        if time > limit_us {
            return None;
        }
        self.readers[i].head.take()
    }
}

impl Reader {
    /// Reads on to the next entry of interest, unless one is there or the source ended.
    fn fill(&mut self, query: &Query) {
        while self.head.is_none() && !self.done {
            match self.lines.advance() {
                Ok(true) => {}
                Ok(false) => {
                    self.end();
                    break;
                }
                Err(e) => {
                    messages::input_error(&format!("{}: read error: {e}", self.name));
                    self.end();
                    break;
                }
            }
            self.number += 1;
            let line = self.lines.line();
            if line.is_empty() || line == b"\r" {
                continue;
            }
            if line.len() > input::MAX_LINE {
                messages::malformed(&self.name, self.number, &input::Overlong);
                continue;
            }
            let parsed = match &self.form {
                Form::Json => parse_json(line),
                Form::Syslog(years) => parse_syslog(line, years),
            };
            match parsed {
                Ok(entry) if (!self.ranged || in_range(query, &entry)) && of_interest(&entry) => {
                    self.head = Some(entry);
                }
                Ok(_) => {}
                // Syslog files hold every program's lines; only those of PVE programs that
                // are not syslog lines at all are worth a report.
                Err(reason) => messages::malformed(&self.name, self.number, &reason),
            }
        }
    }

    /// The end of the source: a journalctl is waited for, and a failure said once.
    fn end(&mut self) {
        self.done = true;
        if let Some(running) = self.child.take() {
            finish(running);
        }
    }
}

/// Waits for a journalctl whose output ended, and says once if it failed.
fn finish(running: Running) {
    let Running {
        mut child,
        stderr,
        what,
    } = running;
    let status = child.wait();
    let complaint = stderr
        .and_then(|t| t.join().ok())
        .map(|t| String::from_utf8_lossy(&t).trim().to_string())
        .unwrap_or_default();
    match status {
        Ok(status) if status.success() => {}
        Ok(status) => {
            let first = complaint.lines().next().unwrap_or("no message");
            messages::input_error(&format!(
                "{what}: journalctl failed ({status}): {first}; read on without it"
            ));
        }
        Err(e) => messages::input_error(&format!("{what}: journalctl: {e}")),
    }
}

/// Whether a text file's entry is in the range asked for.
fn in_range(query: &Query, entry: &Entry) -> bool {
    query
        .since
        .is_none_or(|s| entry.time_us >= s.as_microsecond())
        && query
            .until
            .is_none_or(|u| entry.time_us < (u.as_second() + 1) * 1_000_000)
}

/// The journal read live: `journalctl --follow` as a child, its output read without blocking
/// when follow's wait says it has something (its stdout is one of the descriptors follow polls).
///
/// The cursor of the last entry read is kept, so that a restart of journalctl (and, through
/// `--state`, of pverec) resumes after it: nothing is lost or repeated. A journalctl that cannot
/// be started, fails or dies is said once and started again after a back-off (1 s, doubling
/// up to a minute; [`Live::deadline`] is when), never in a busy loop; the rest of follow goes on.
pub(crate) struct Live {
    program: PathBuf,
    query: Query,
    child: Option<std::process::Child>,
    lines: LineSplitter,
    cursor: Option<String>,
    restart_at: Option<std::time::Instant>,
    backoff: std::time::Duration,
    told: bool,
}

/// The first wait before journalctl is started again, and the longest.
const BACKOFF_FIRST: std::time::Duration = std::time::Duration::from_secs(1);
const BACKOFF_MAX: std::time::Duration = std::time::Duration::from_secs(60);

impl Live {
    /// Starts following: after `cursor` when there is one (a restart from a state), else from
    /// `query.since` (history), else from now.
    pub(crate) fn start(program: PathBuf, mut query: Query, cursor: Option<String>) -> Live {
        query.follow = true;
        let mut live = Live {
            program,
            query,
            child: None,
            lines: LineSplitter::new(input::MAX_LINE),
            cursor,
            restart_at: None,
            backoff: BACKOFF_FIRST,
            told: false,
        };
        live.spawn();
        live
    }

    fn spawn(&mut self) {
        self.restart_at = None;
        let mut query = self.query.clone();
        query.after_cursor.clone_from(&self.cursor);
        let spawned = Command::new(&self.program)
            .args(journalctl_args(&query))
            .env("SYSTEMD_COLORS", "0")
            .env("SYSTEMD_PAGER", "")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        match spawned {
            Ok(child) => {
                for fd in [
                    child.stdout.as_ref().map(std::os::fd::AsRawFd::as_raw_fd),
                    child.stderr.as_ref().map(std::os::fd::AsRawFd::as_raw_fd),
                ]
                .into_iter()
                .flatten()
                {
                    // SAFETY: fcntl(2) on a pipe descriptor the child handle owns.
                    unsafe {
                        let flags = libc::fcntl(fd, libc::F_GETFL);
                        libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
                    }
                }
                self.lines = LineSplitter::new(input::MAX_LINE);
                self.child = Some(child);
            }
            Err(e) => self.failed(&format!("cannot run {}: {e}", self.program.display())),
        }
    }

    /// Says what went wrong (the first time), and when journalctl is started again.
    fn failed(&mut self, why: &str) {
        if !self.told {
            self.told = true;
            messages::message(&format!(
                "the journal: {why}; follow goes on without it and starts journalctl again \
                 (every {} s at first, then less often)",
                self.backoff.as_secs()
            ));
        }
        self.restart_at = Some(std::time::Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
    }

    /// The descriptor to wait on: journalctl's output, while it runs.
    pub(crate) fn fd(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        self.child
            .as_ref()
            .and_then(|c| c.stdout.as_ref())
            .map(|o| o.as_raw_fd())
    }

    /// When journalctl is to be started again, if it is down.
    pub(crate) fn deadline(&self) -> Option<std::time::Instant> {
        self.restart_at
    }

    /// The cursor of the last entry read.
    pub(crate) fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }

    /// What journalctl wrote since the last call (entries of interest only), without waiting;
    /// starts it again when its back-off is over.
    pub(crate) fn read(&mut self) -> Vec<Entry> {
        if self
            .restart_at
            .is_some_and(|at| at <= std::time::Instant::now())
        {
            self.spawn();
        }
        let mut entries = Vec::new();
        let Some(child) = self.child.as_mut() else {
            return entries;
        };
        let mut ended = false;
        if let Some(stdout) = child.stdout.as_mut() {
            let mut buf = vec![0; 64 * 1024];
            let cursor = &mut self.cursor;
            let mut take = |number: u64, line: Option<&[u8]>| {
                json_line("journalctl", number, line, &mut |entry| {
                    if entry.cursor.is_some() {
                        cursor.clone_from(&entry.cursor);
                    }
                    if of_interest(&entry) {
                        entries.push(entry);
                    }
                });
            };
            loop {
                match stdout.read(&mut buf) {
                    Ok(0) => {
                        ended = true;
                        break;
                    }
                    Ok(n) => self.lines.feed(&buf[..n], &mut take),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        ended = true;
                        break;
                    }
                }
            }
        }
        if !entries.is_empty() {
            self.backoff = BACKOFF_FIRST;
        }
        if ended {
            let mut complaint = Vec::new();
            if let Some(err) = child.stderr.as_mut() {
                let _ = err.take(4096).read_to_end(&mut complaint);
            }
            let status = child.wait();
            self.child = None;
            let complaint = String::from_utf8_lossy(&complaint);
            let first = complaint.lines().next().unwrap_or("no message");
            let why = match status {
                Ok(status) => format!("journalctl ended ({status}): {first}"),
                Err(e) => format!("journalctl: {e}"),
            };
            self.failed(&why);
        }
        entries
    }

    /// Waits up to `wait` for journalctl to write more (or `signals` to become readable: a
    /// stop), then reads it. For a line whose entry may come a moment after it.
    pub(crate) fn read_within(
        &mut self,
        wait: std::time::Duration,
        signals: Option<std::os::fd::RawFd>,
    ) -> Vec<Entry> {
        let Some(fd) = self.fd() else {
            return Vec::new();
        };
        let mut fds = [
            libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: signals.unwrap_or(-1),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let millis = i32::try_from(wait.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: `fds` is a valid array of two pollfd structs that lives across the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, millis) };
        if n > 0 && fds[0].revents != 0 {
            self.read()
        } else {
            Vec::new()
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One line of journalctl's JSON output (`None`: longer than the cap): its entry to `each`, or
/// a report naming `name` and the line.
fn json_line(name: &str, number: u64, line: Option<&[u8]>, each: &mut dyn FnMut(Entry)) {
    match line {
        Some([]) => {}
        Some(line) => match parse_json(line) {
            Ok(entry) => each(entry),
            Err(reason) => messages::malformed(name, number, &reason),
        },
        None => messages::malformed(name, number, &input::Overlong),
    }
}

/// The first bytes of a file, decompressed when it is gzip, to tell its kind.
fn file_head(path: &Path) -> io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    if file.metadata()?.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "is a directory",
        ));
    }
    input::content_head(&file, 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc_years(reference: &str) -> Years {
        Years::new(reference.parse().unwrap(), jiff::tz::TimeZone::UTC)
    }

    fn export_line(us: i64, message: &str) -> String {
        format!(
            "{{\"__REALTIME_TIMESTAMP\":\"{us}\",\"SYSLOG_IDENTIFIER\":\"pvedaemon\",\"_PID\":\"1\",\"MESSAGE\":\"{message}\"}}\n"
        )
    }

    #[test]
    fn a_stream_reads_only_as_far_as_asked_and_merges_its_sources_by_time() {
        let dir = tempfile::tempdir().unwrap();
        let login = |user: &str| format!("<root@pam> successful auth for user '{user}'");
        let mut first = String::new();
        for i in 0..1000 {
            first.push_str(&export_line(i * 10_000_000, &login("alice@pve")));
        }
        std::fs::write(dir.path().join("a.json"), &first).unwrap();
        let second = [
            export_line(5_000_000, &login("bob@pve")),
            export_line(10_000_000, &login("carol@pve")),
            "not json\n".to_string(),
        ]
        .concat();
        std::fs::write(dir.path().join("b.json"), second).unwrap();
        let mut stream = Stream::new(Query::default());
        stream.add_file(&dir.path().join("a.json"), &jiff::tz::TimeZone::UTC);
        stream.add_file(&dir.path().join("b.json"), &jiff::tz::TimeZone::UTC);
        let mut got = Vec::new();
        while let Some(entry) = stream.next_until(10_000_000) {
            got.push((entry.time_us, entry.message));
        }
        let times: Vec<i64> = got.iter().map(|g| g.0).collect();
        // On equal times the first source's entry first.
        assert_eq!(times, [0, 5_000_000, 10_000_000, 10_000_000]);
        assert!(got[2].1.contains("alice") && got[3].1.contains("carol"));
        // Of the long file, only the lines up to the first one past the limit were read.
        assert_eq!(stream.readers[0].number, 3);
        let rest = std::iter::from_fn(|| stream.next_until(i64::MAX)).count();
        assert_eq!(rest, 998);
    }

    #[test]
    fn json_entries_with_text_and_byte_messages() {
        let line = br#"{"__CURSOR":"s=1;i=2","__REALTIME_TIMESTAMP":"1782302405123456","_HOSTNAME":"pve1","SYSLOG_IDENTIFIER":"pvedaemon","_PID":"1234","PRIORITY":"3","MESSAGE":"authentication failure; rhost=::ffff:192.0.2.7 user=bob@pve msg=invalid credentials\n"}"#;
        let e = parse_json(line).unwrap();
        assert_eq!(e.time_us, 1_782_302_405_123_456);
        assert_eq!(e.program, "pvedaemon");
        assert_eq!(e.pid, Some(1234));
        assert_eq!(e.priority, Some(3));
        assert_eq!(e.host.as_deref(), Some("pve1"));
        assert_eq!(e.cursor.as_deref(), Some("s=1;i=2"));
        assert!(e.message.ends_with("invalid credentials"));
        let bytes =
            br#"{"__REALTIME_TIMESTAMP":"1","SYSLOG_IDENTIFIER":"qm","MESSAGE":[104,105,255]}"#;
        assert_eq!(parse_json(bytes).unwrap().message, "hi\u{fffd}");
        assert_eq!(
            parse_json(br#"{"SYSLOG_IDENTIFIER":"qm","MESSAGE":"x"}"#),
            Err(Malformed::Field("__REALTIME_TIMESTAMP"))
        );
        assert!(matches!(parse_json(b"[1]"), Err(Malformed::NotAnObject)));
        assert!(matches!(parse_json(b"{"), Err(Malformed::NotJson(_))));
    }

    #[test]
    fn syslog_lines_in_both_stamp_forms() {
        let years = utc_years("2026-06-24T15:00:00Z");
        let e = parse_syslog(
            b"Jun 24 14:00:05 pve1 pvedaemon[1234]: <root@pam> successful auth for user 'alice@pve'",
            &years,
        )
        .unwrap();
        assert_eq!(e.timestamp().unwrap().to_string(), "2026-06-24T14:00:05Z");
        assert_eq!((e.program.as_str(), e.pid), ("pvedaemon", Some(1234)));
        assert_eq!(e.message, "<root@pam> successful auth for user 'alice@pve'");
        let e = parse_syslog(
            b"2026-06-24T16:00:05.123456+02:00 pve1 qm[99]: <root@pam> update VM 100: -cores 4",
            &years,
        )
        .unwrap();
        assert_eq!(e.time_us, 1_782_309_605_123_456);
        assert_eq!(e.program, "qm");
        // A day padded with a space; the line of last December is of the year before.
        let years = utc_years("2027-01-02T00:00:00Z");
        let e = parse_syslog(b"Dec 31 23:59:59 pve1 vzdump[7]: x", &years).unwrap();
        assert_eq!(e.timestamp().unwrap().to_string(), "2026-12-31T23:59:59Z");
        let e = parse_syslog(b"Jan  2 00:00:01 pve1 vzdump[7]: x", &years).unwrap();
        assert_eq!(e.timestamp().unwrap().to_string(), "2027-01-02T00:00:01Z");
        assert_eq!(parse_syslog(b"garbage", &years), Err(Malformed::NotSyslog));
        assert_eq!(
            parse_syslog(b"Jun 24 14:00:05 pve1 pvedaemon[x]: m", &years),
            Err(Malformed::NotSyslog)
        );
    }

    #[test]
    fn kinds_by_content() {
        assert_eq!(sniff(b"LPKSHHRH\0\0"), FileKind::Journal);
        assert_eq!(sniff(b"\n{\"MESSAGE\":1}"), FileKind::Json);
        assert_eq!(sniff(b"Jun 24 14:00:05 pve1"), FileKind::Syslog);
    }

    #[test]
    fn journalctl_gets_the_range_and_the_programs() {
        let query = Query {
            since: Some(Timestamp::from_second(100).unwrap()),
            until: Some(Timestamp::from_second(200).unwrap()),
            ..Query::default()
        };
        let args: Vec<String> = journalctl_args(&query)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        assert!(args.contains(&"--since=@100".to_string()));
        assert!(args.contains(&"--until=@201".to_string()));
        assert!(args.contains(&"SYSLOG_IDENTIFIER=pvedaemon".to_string()));
        let follow = Query {
            follow: true,
            after_cursor: Some("s=abc".into()),
            ..Query::default()
        };
        let args = journalctl_args(&follow);
        assert!(args.contains(&OsString::from("--after-cursor=s=abc")));
        assert!(args.contains(&OsString::from("--follow")));
    }
}
