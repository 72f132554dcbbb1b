//! The recorder spool of the "pvesh record" RFC (pve-formats.md §5): every request with its decoded
//! parameters, request bodies included.
//!
//! access.log has no request bodies, so a POST or PUT read from it alone has no parameters. A
//! pveproxy with the RFC's patch writes, for each client registered in `/run/pve-api-record/`,
//! one JSON line per matching request to `P.events`, before it handles the request. pverec speaks
//! the client side of that protocol ([`Recorder`]: `P.req` with the filter, locked for as long as
//! we listen) and reads event files saved earlier ([`read_events_file`]); the events are matched
//! to access.log lines elsewhere.
//!
//! The spool directory is writable by group www-data, and pverec runs there as root: whatever is
//! in it may have been planted. So every file below the directory is opened relative to one
//! directory descriptor (renaming or replacing the directory cannot redirect us), with
//! `O_NOFOLLOW`, `O_EXCL` when created, and only regular files are read. File contents are only
//! parsed, never trusted: lines are bounded, a bad one is reported and skipped, nothing panics.

use std::ffi::{CStr, CString};
use std::fmt;
use std::fs::{self, File, Metadata, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::input::{Identity, LineSplitter};
use crate::messages;

/// Longest event line accepted. pveproxy refuses request bodies over 64 KiB (`$limit_max_post` in
/// `PVE/APIServer/AnyEvent.pm`), so even fully `\u`-escaped parameters stay far below this; a
/// longer line is skipped as a whole.
const MAX_LINE: usize = 4 * 1024 * 1024;
/// Bytes read at a time.
const CHUNK: usize = 64 * 1024;
/// Most bytes one [`Recorder::read`] takes in: a writer that never stops cannot keep a call from
/// returning. The rest comes with the next call.
const MAX_READ: u64 = 16 * 1024 * 1024;
/// How often registering is tried when the request file is raced (see [`Recorder::register`]).
const REGISTER_ATTEMPTS: u32 = 5;
/// Mode of the request file: pveproxy (group www-data) must read it and test its lock.
const REQ_MODE: u32 = 0o640;

/// One request event of the spool (a JSON line written by pveproxy before it handles the request).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SpoolEvent {
    pub(crate) method: String,
    /// Relative to `/api2/<format>`, without a query string.
    pub(crate) path: String,
    pub(crate) format: Option<String>,
    pub(crate) userid: Option<String>,
    pub(crate) client_ip: Option<String>,
    /// Query and body parameters as pveproxy decoded them (`_dc` removed by the server).
    pub(crate) params: Map<String, Value>,
    /// Its line in the events file (1 for the first), for messages; 0 when not read from one.
    pub(crate) line: u64,
    /// The length of its line: what it costs to hold it ([`Held`]).
    pub(crate) bytes: usize,
}

/// Why a spool line is not an event. Shown to the user as `FILE:LINE: reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Malformed {
    /// The text of serde_json's error (a position and what was expected; no input bytes).
    NotJson(String),
    NotObject,
    /// A required field is absent or null.
    Missing(&'static str),
    NotString(&'static str),
    ParamsNotObject,
    TooLong,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::NotJson(e) => write!(f, "not a spool event: invalid JSON ({e})"),
            Malformed::NotObject => f.write_str("not a spool event: not a JSON object"),
            Malformed::Missing(key) => write!(f, "not a spool event: no \"{key}\""),
            Malformed::NotString(key) => {
                write!(f, "not a spool event: \"{key}\" is not a string")
            }
            Malformed::ParamsNotObject => {
                f.write_str("not a spool event: \"params\" is not an object")
            }
            Malformed::TooLong => write!(f, "spool line longer than {MAX_LINE} bytes"),
        }
    }
}

/// Parses one line (without its `\n`; surrounding whitespace is allowed). An absent or null
/// `params` is empty; `format`, `userid` and `client_ip` are `None` unless they are strings.
/// Other fields (`proxied`, or any a newer server adds) are ignored.
pub(crate) fn parse_event(line: &[u8]) -> Result<SpoolEvent, Malformed> {
    let value: Value =
        serde_json::from_slice(line).map_err(|e| Malformed::NotJson(e.to_string()))?;
    let Value::Object(mut object) = value else {
        return Err(Malformed::NotObject);
    };
    let method = required_string(&mut object, "method")?;
    let path = required_string(&mut object, "path")?;
    let params = match object.remove("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(params)) => params,
        Some(_) => return Err(Malformed::ParamsNotObject),
    };
    Ok(SpoolEvent {
        method,
        path,
        format: optional_string(&mut object, "format"),
        userid: optional_string(&mut object, "userid"),
        client_ip: optional_string(&mut object, "client_ip"),
        params,
        line: 0,
        bytes: line.len(),
    })
}

fn required_string(
    object: &mut Map<String, Value>,
    key: &'static str,
) -> Result<String, Malformed> {
    match object.remove(key) {
        Some(Value::String(text)) => Ok(text),
        None | Some(Value::Null) => Err(Malformed::Missing(key)),
        Some(_) => Err(Malformed::NotString(key)),
    }
}

fn optional_string(object: &mut Map<String, Value>, key: &str) -> Option<String> {
    match object.remove(key) {
        Some(Value::String(text)) => Some(text),
        _ => None,
    }
}

/// The parameters as pvesh options, the way the RFC's client renders them: keys in sorted order
/// (sorted here, whatever order the map keeps); an array gives one `(key, element)` pair per
/// element (none when empty); an object, or an array or object inside an array, is passed as
/// compact JSON text; a string as itself; a number as its JSON text; `null` as the empty string.
/// A boolean is `true`/`false` as a value of its own (the RFC client sees a blessed reference
/// there and encodes it as JSON) but `1`/`0` inside an array (where Perl stringifies it); pvesh
/// reads both.
///
/// Returns `(key, value, is_json)`, `is_json` telling that the value is the compact JSON text of
/// a nested object or array.
pub(crate) fn options(params: &Map<String, Value>) -> Vec<(String, String, bool)> {
    let mut entries: Vec<(&String, &Value)> = params.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut out = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        match value {
            Value::Array(items) => {
                for item in items {
                    let (text, json) = option_value(item);
                    out.push((key.clone(), text, json));
                }
            }
            Value::Bool(b) => out.push((key.clone(), b.to_string(), false)),
            _ => {
                let (text, json) = option_value(value);
                out.push((key.clone(), text, json));
            }
        }
    }
    out
}

fn option_value(value: &Value) -> (String, bool) {
    match value {
        Value::String(text) => (text.clone(), false),
        Value::Number(n) => (n.to_string(), false),
        Value::Bool(b) => (if *b { "1" } else { "0" }.to_owned(), false),
        Value::Null => (String::new(), false),
        // Display of a Value is compact JSON, and cannot fail.
        Value::Array(_) | Value::Object(_) => (value.to_string(), true),
    }
}

/// Reads a saved events file (`convert --events FILE`): every good event, in order, as far as
/// `held` has room (the rest is dropped and reported, see [`Held`]). Blank lines are skipped
/// silently, malformed ones reported as `FILE:LINE` and skipped; a last line without its newline
/// counts. `-` is a file name like any other. An error opening or reading the file is returned.
pub(crate) fn read_events_file(path: &Path, held: &mut Held) -> io::Result<Vec<SpoolEvent>> {
    let mut file = File::open(path)?;
    let name = path.to_string_lossy();
    let mut lines = LineSplitter::new(MAX_LINE);
    let mut events = Vec::new();
    let mut buf = vec![0; CHUNK];
    let mut each = |line: u64, piece: Option<&[u8]>| {
        take_line(&name, line, piece, &mut events, held);
    };
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        lines.feed(&buf[..n], &mut each);
    }
    lines.finish(&mut each);
    Ok(events)
}

/// Parses a complete line into `events` when `held` has room for it, or reports it (`None`:
/// longer than [`MAX_LINE`]); blank lines are skipped silently.
fn take_line(
    file: &str,
    line: u64,
    piece: Option<&[u8]>,
    events: &mut Vec<SpoolEvent>,
    held: &mut Held,
) {
    let parsed = piece.ok_or(Malformed::TooLong).and_then(|bytes| {
        if bytes.trim_ascii().is_empty() {
            Ok(None)
        } else {
            parse_event(bytes).map(Some)
        }
    });
    match parsed {
        Ok(Some(mut event)) => {
            event.line = line;
            if held.admit(file, &event) {
                events.push(event);
            }
        }
        Ok(None) => {}
        Err(reason) => messages::malformed(file, line, &reason),
    }
}

/// Why a spool event is refused as the body of the log line it joined (the join itself matches
/// method, path, user and format: [`crate::join::tasks`]). www-data writes the spool, so an event
/// there may be forged to become the replayed parameters of a real request (a `hookscript` or
/// `args` on an admin's config change); what the log line shows of the request must hold of its
/// event too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No `format`: pveproxy always writes the one of the request (`/api2/<format>`).
    Format,
    /// A path that is not the logged one as written (percent escapes, which pveproxy decodes
    /// before it writes the path, only match after the join's decoding).
    Path,
    /// Parameters that the method cannot carry: pveproxy reads a body only for POST and PUT
    /// (pve-http-server `AnyEvent.pm` `extract_params`), so a GET's or DELETE's parameters are
    /// exactly its logged query.
    Method,
    /// A logged query parameter missing from the event, or with another value: the query wins
    /// over the body in `extract_params`, so the event must hold it as logged.
    Query,
}

impl Refusal {
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// The request as its log line shows it, for [`disagreement`].
pub(crate) struct Logged<'l> {
    pub(crate) method: &'l [u8],
    /// The decoded, normalised path after `/api2/<format>`.
    pub(crate) path: &'l [u8],
    pub(crate) format: Option<&'l [u8]>,
    /// The decoded query, `_dc` dropped ([`crate::request::Request::query_params`]).
    pub(crate) query: &'l [crate::request::QueryParam<'l>],
}

/// What in `body` disagrees with the logged request it joined, with a word on what (key names
/// as they are: messages are made printable when shown); `None` when it may be its body.
pub(crate) fn disagreement(body: &SpoolEvent, logged: &Logged<'_>) -> Option<(Refusal, String)> {
    match (body.format.as_deref(), logged.format) {
        (None, _) => return Some((Refusal::Format, "the event names no format".to_owned())),
        (Some(a), Some(b)) if a.as_bytes() != b => {
            return Some((
                Refusal::Format,
                format!(
                    "its format {a} is not the logged {}",
                    String::from_utf8_lossy(b)
                ),
            ));
        }
        _ => {}
    }
    let mut literal = Vec::with_capacity(body.path.len() + 1);
    for segment in body
        .path
        .as_bytes()
        .split(|&b| b == b'/')
        .filter(|s| !s.is_empty())
    {
        literal.push(b'/');
        literal.extend_from_slice(segment);
    }
    if literal.is_empty() {
        literal.push(b'/');
    }
    if literal != logged.path {
        return Some((
            Refusal::Path,
            format!("its path {} is not the logged one as written", body.path),
        ));
    }
    // The logged query, key by key: its values in order.
    let mut query: Vec<(&[u8], Vec<&[u8]>)> = Vec::new();
    for (key, value) in logged.query {
        match query.iter_mut().find(|(k, _)| *k == key.as_ref()) {
            Some((_, values)) => values.push(value.as_ref()),
            None => query.push((key.as_ref(), vec![value.as_ref()])),
        }
    }
    if !matches!(logged.method, b"POST" | b"PUT") {
        let extra = body.params.iter().find(|(key, value)| {
            !value.is_null() && !query.iter().any(|(k, _)| *k == key.as_bytes())
        });
        if let Some((key, _)) = extra {
            return Some((
                Refusal::Method,
                format!(
                    "it has \"{key}\", which is not in the logged query, and a {} has no body",
                    String::from_utf8_lossy(logged.method)
                ),
            ));
        }
    }
    for (key, values) in &query {
        let name = String::from_utf8_lossy(key);
        let Some(got) = body.params.get(name.as_ref()) else {
            return Some((
                Refusal::Query,
                format!("the logged query parameter \"{name}\" is not in it"),
            ));
        };
        // A value that is not UTF-8 was decoded by pveproxy with replacements; only its
        // presence is checked then.
        let texts: Option<Vec<&str>> = values.iter().map(|v| std::str::from_utf8(v).ok()).collect();
        let Some(texts) = texts else { continue };
        let same = match (got, texts.as_slice()) {
            (Value::String(text), [one]) => text == one,
            (Value::Array(items), many) if many.len() > 1 => {
                items.len() == many.len()
                    && items
                        .iter()
                        .zip(many)
                        .all(|(item, want)| item.as_str() == Some(*want))
            }
            _ => false,
        };
        if !same {
            return Some((
                Refusal::Query,
                format!("its \"{name}\" is not the logged query's value"),
            ));
        }
    }
    None
}

/// Most spool events held at once waiting for their access.log line (finding 6 of issue 11:
/// every held event costs about 3.5 times its line in memory).
pub(crate) const MAX_HELD_EVENTS: usize = 10_000;
/// Most bytes of event lines held at once (a whole `convert` holding that much measured 19 MB
/// of RSS).
/// pveproxy takes request bodies up to 512 KiB (`$limit_max_post` in
/// `PVE/APIServer/AnyEvent.pm`), so this still holds at least 16 of the largest.
pub(crate) const MAX_HELD_BYTES: usize = 8 << 20;

/// What the pipeline holds of the spool: events read and not yet joined to their log line (nor
/// shown alone). Bounded by [`MAX_HELD_EVENTS`] and [`MAX_HELD_BYTES`]: www-data writes the
/// spool, and a writer that never stops (or a huge saved events file) must not make pverec grow
/// without end. An event that finds no room is dropped: its request then shows as if no body was
/// recorded. The first drop of a run of them is reported at once, and the run, with its count
/// and lines, when it ends (room again, or the end of the input).
#[derive(Debug)]
pub(crate) struct Held {
    count: usize,
    bytes: usize,
    max_count: usize,
    max_bytes: usize,
    /// The current run of dropped events: how many, and the first and last (line, method path).
    dropped: u64,
    first: Option<(u64, String)>,
    last: Option<(u64, String)>,
}

impl Default for Held {
    fn default() -> Held {
        Held::with_caps(MAX_HELD_EVENTS, MAX_HELD_BYTES)
    }
}

impl Held {
    pub(crate) fn with_caps(max_count: usize, max_bytes: usize) -> Held {
        Held {
            count: 0,
            bytes: 0,
            max_count,
            max_bytes,
            dropped: 0,
            first: None,
            last: None,
        }
    }

    /// Counts `event` as held when there is room; else counts it as dropped (reporting the first
    /// of a run) and returns `false`. `file` names the events file in messages.
    pub(crate) fn admit(&mut self, file: &str, event: &SpoolEvent) -> bool {
        let bytes = event.bytes.max(1);
        if self.count < self.max_count && self.bytes.saturating_add(bytes) <= self.max_bytes {
            self.report(file);
            self.count += 1;
            self.bytes += bytes;
            return true;
        }
        let what = (event.line, format!("{} {}", event.method, event.path));
        if self.dropped == 0 {
            messages::message(&format!(
                "{file}:{}: spool event {} not kept: {} events ({} bytes) already wait for their \
                 access.log line, the most pverec holds ({} events, {} bytes); until some are \
                 taken, new spool events are dropped and their requests are shown as if no body \
                 was recorded",
                what.0, what.1, self.count, self.bytes, self.max_count, self.max_bytes
            ));
            self.first = Some(what.clone());
        }
        self.dropped += 1;
        self.last = Some(what);
        false
    }

    /// `event` is no longer held (joined to its line, or shown alone).
    pub(crate) fn release(&mut self, event: &SpoolEvent) {
        self.count = self.count.saturating_sub(1);
        self.bytes = self.bytes.saturating_sub(event.bytes.max(1));
    }

    /// Reports the run of dropped events that ended, if any: how many, and which lines.
    pub(crate) fn report(&mut self, file: &str) {
        if self.dropped == 0 {
            return;
        }
        let (first, last) = (self.first.take(), self.last.take());
        let range = match (&first, &last) {
            (Some((a, first)), Some((b, last))) if a != b => {
                format!("lines {a} ({first}) to {b} ({last})")
            }
            (Some((a, first)), _) => format!("line {a} ({first})"),
            _ => String::new(),
        };
        messages::message(&format!(
            "{file}: {} spool events dropped for want of room ({range}): their requests are \
             shown as if no body was recorded",
            self.dropped
        ));
        self.dropped = 0;
    }
}

/// A registration in the spool directory, as the RFC's client makes it: while it lives, pveproxy
/// appends the requests that match its filter to `<dir>/P.events` (P = our pid). Dropping it
/// removes both files and releases the lock.
pub(crate) struct Recorder {
    /// The spool directory, opened once: every name below is resolved relative to it.
    dir: OwnedFd,
    req: CString,
    events: CString,
    events_path: PathBuf,
    /// `events_path` as messages show it.
    events_name: String,
    /// `<dir>/P.req` as messages show it.
    req_name: String,
    /// What `P.req` holds, and its group: to register again when it was replaced.
    filter: Vec<u8>,
    gid: Option<libc::gid_t>,
    /// `P.req`, open and exclusively locked: the lock is what tells pveproxy we are alive. Only
    /// held, never read: it is released when the recorder is dropped.
    _lock: File,
    /// The identity of `lock`: the name `P.req` must still be this file.
    req_id: Identity,
    /// Registering again failed; said once until it works.
    req_warned: bool,
    /// The events file being read, once pveproxy created it.
    spool: Option<Spool>,
    /// A problem with the events file was reported; not again until it is read fine.
    warned: bool,
    buf: Vec<u8>,
}

/// An open events file and how far it was read.
#[derive(Debug)]
struct Spool {
    file: File,
    id: Identity,
    /// How far the file was read (complete lines plus what `lines` holds of an incomplete one).
    pos: u64,
    lines: LineSplitter,
    /// Opened for writing too, so that what was read can be freed ([`Spool::free_consumed`]).
    writable: bool,
    /// Up to where the file's blocks were freed.
    freed: u64,
}

/// What the name `P.events` is now.
#[derive(Debug, PartialEq)]
enum Named {
    Missing,
    Regular(Identity),
    /// Anything we will not read, and why.
    Refused(String),
}

/// How one registration attempt ended, when it did not fail outright.
enum Attempt {
    Done(File),
    /// Raced (by pveproxy reaping a not yet locked request file, or by a planted file): why.
    Again(&'static str),
}

impl Recorder {
    /// Registers pid P in `dir`: removes any `P.events` and `P.req` there, creates `P.req`
    /// (`O_EXCL | O_NOFOLLOW`, mode 0640, group www-data when it can), locks it exclusively and
    /// writes the filter `{"all":0|1,"userid":…}` to it.
    ///
    /// Between the creation and the lock, pveproxy may take the lock itself and reap the file as
    /// stale; a file can also be planted between the removal and the creation. Then the whole
    /// registration is tried again, a few times, before it fails.
    pub(crate) fn register(dir: &Path, userid: Option<&str>, all: bool) -> io::Result<Recorder> {
        let dir_fd = open_dir(dir)?;
        let pid = std::process::id();
        let req = name(&format!("{pid}.req"))?;
        let events = name(&format!("{pid}.events"))?;
        let req_path = dir.join(format!("{pid}.req"));
        let events_path = dir.join(format!("{pid}.events"));
        let filter = serde_json::json!({ "userid": userid, "all": u8::from(all) }).to_string();
        let gid = group_id(c"www-data");
        let with_path = |e: io::Error, what: &str| {
            io::Error::new(e.kind(), format!("{}: {what}: {e}", req_path.display()))
        };
        let mut why = "";
        for attempt in 0..REGISTER_ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(20));
            }
            unlink(&dir_fd, &events).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("{}: cannot remove it: {e}", events_path.display()),
                )
            })?;
            unlink(&dir_fd, &req).map_err(|e| with_path(e, "cannot remove it"))?;
            match create_request(&dir_fd, &req, gid, filter.as_bytes()) {
                Ok(Attempt::Done(lock)) => {
                    let req_id = Identity::of(&lock.metadata()?);
                    return Ok(Recorder {
                        dir: dir_fd,
                        req,
                        events,
                        events_name: events_path.to_string_lossy().into_owned(),
                        events_path,
                        req_name: req_path.to_string_lossy().into_owned(),
                        filter: filter.into_bytes(),
                        gid,
                        _lock: lock,
                        req_id,
                        req_warned: false,
                        spool: None,
                        warned: false,
                        buf: Vec::new(),
                    });
                }
                Ok(Attempt::Again(reason)) => why = reason,
                Err(e) => {
                    let _ = unlink(&dir_fd, &req);
                    return Err(with_path(e, "cannot register"));
                }
            }
        }
        let _ = unlink(&dir_fd, &req);
        Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            format!(
                "{}: cannot register after {REGISTER_ATTEMPTS} attempts: {why}",
                req_path.display()
            ),
        ))
    }

    /// The event lines appended since the last call, complete ones only (an incomplete last line
    /// waits for the next call). Malformed lines are reported and skipped; a problem with the
    /// file itself (not a regular file, unreadable) is reported once and nothing is read.
    ///
    /// pveproxy creates the file with the first matching request. A file replaced under the name
    /// is read to its end first, then the new one from its start; a file that shrank is read
    /// again from its start. What was read is freed in the file ([`Spool::free_consumed`]).
    ///
    /// Events are kept as far as `held` has room; the others are dropped (and reported there).
    /// Each call first checks that `P.req` is still ours ([`Recorder::check_request`]).
    pub(crate) fn read(&mut self, held: &mut Held) -> Vec<SpoolEvent> {
        self.check_request();
        let mut events = Vec::new();
        let mut budget = MAX_READ;
        let named = self.named();
        if let Some(spool) = &mut self.spool {
            if named != Named::Regular(spool.id) {
                // Replaced or removed: what the old file still holds comes first.
                match drain(
                    spool,
                    &mut budget,
                    &mut self.buf,
                    &self.events_name,
                    &mut events,
                    held,
                ) {
                    Ok(true) => {
                        let name = &self.events_name;
                        spool.lines.finish(&mut |line, piece| {
                            take_line(name, line, piece, &mut events, held);
                        });
                        self.spool = None;
                    }
                    Ok(false) => return events,
                    Err(e) => {
                        self.warn(&format!("{}: cannot read: {e}", self.events_name));
                        self.spool = None;
                    }
                }
            } else if spool.file.metadata().is_ok_and(|m| m.len() < spool.pos) {
                // Truncated (and perhaps written again): from the start.
                spool.pos = 0;
                spool.lines = LineSplitter::new(MAX_LINE);
            }
        }
        if self.spool.is_none() {
            match named {
                Named::Missing => return events,
                Named::Refused(why) => {
                    self.warn(&format!("{}: {why}; not read", self.events_name));
                    return events;
                }
                Named::Regular(_) => match self.open_events() {
                    Ok(Some(spool)) => self.spool = Some(spool),
                    Ok(None) => return events,
                    Err(why) => {
                        self.warn(&format!("{}: {why}; not read", self.events_name));
                        return events;
                    }
                },
            }
        }
        if let Some(spool) = &mut self.spool {
            match drain(
                spool,
                &mut budget,
                &mut self.buf,
                &self.events_name,
                &mut events,
                held,
            ) {
                Ok(_) => {
                    self.warned = false;
                    if let Err(e) = spool.free_consumed() {
                        // Not worth a stop: the file only keeps its size, as without this.
                        messages::message(&format!(
                            "{}: cannot free what was read ({e}); the file keeps growing",
                            self.events_name
                        ));
                    }
                }
                // Tried again from the same place at the next call.
                Err(e) => self.warn(&format!("{}: cannot read: {e}", self.events_name)),
            }
        }
        events
    }

    /// `<dir>/P.events`, for messages and for watching.
    pub(crate) fn events_path(&self) -> &Path {
        &self.events_path
    }

    /// The names in the spool directory that concern this registration (`P.events`, `P.req`):
    /// a change to any other name there is someone else's.
    pub(crate) fn names(&self) -> [&CStr; 2] {
        [&self.events, &self.req]
    }

    /// The events file being read, once it is open (watched as a file, so that the writes to
    /// the other files of the directory do not wake follow).
    pub(crate) fn events_file(&self) -> Option<&File> {
        self.spool.as_ref().map(|s| &s.file)
    }

    /// Makes sure that `P.req` is still the file we locked. www-data may write the directory:
    /// a `P.req` removed or replaced (with another filter, or a file whose lock anyone can take,
    /// which pveproxy then reaps) silently stops the recording. Then the request file is made
    /// again, as [`Recorder::register`] makes it, with a warning; the events file is kept and
    /// read on.
    fn check_request(&mut self) {
        let what = match stat_at(&self.dir, &self.req) {
            Ok(meta) if Identity::of(&meta) == self.req_id => return,
            Ok(_) => "replaced by another file",
            Err(e) if e.kind() == io::ErrorKind::NotFound => "removed",
            // Looked at again at the next call.
            Err(_) => return,
        };
        let mut why = String::new();
        for attempt in 0..REGISTER_ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(20));
            }
            if let Err(e) = unlink(&self.dir, &self.req) {
                why = format!("cannot remove it: {e}");
                break;
            }
            match create_request(&self.dir, &self.req, self.gid, &self.filter) {
                Ok(Attempt::Done(lock)) => match lock.metadata() {
                    Ok(meta) => {
                        // The old lock goes with the old file, once the new one is in place.
                        self.req_id = Identity::of(&meta);
                        self._lock = lock;
                        self.req_warned = false;
                        messages::message(&format!(
                            "{}: the request file was {what}, so the recorder had stopped \
                             recording for pverec; registered again (requests in between have \
                             no body)",
                            self.req_name
                        ));
                        return;
                    }
                    Err(e) => why = format!("cannot look at it: {e}"),
                },
                Ok(Attempt::Again(reason)) => why = reason.to_owned(),
                Err(e) => {
                    why = e.to_string();
                    break;
                }
            }
        }
        if !self.req_warned {
            self.req_warned = true;
            messages::message(&format!(
                "{}: the request file was {what} and cannot be made again ({why}); request \
                 bodies are not recorded until it can",
                self.req_name
            ));
        }
    }

    fn warn(&mut self, text: &str) {
        if !self.warned {
            messages::message(text);
            self.warned = true;
        }
    }

    fn named(&self) -> Named {
        match stat_at(&self.dir, &self.events) {
            Ok(meta) if meta.file_type().is_file() => Named::Regular(Identity::of(&meta)),
            Ok(meta) if meta.file_type().is_symlink() => {
                Named::Refused("a symbolic link, not a regular file".to_owned())
            }
            Ok(_) => Named::Refused("not a regular file".to_owned()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Named::Missing,
            Err(e) => Named::Refused(format!("cannot look at it: {e}")),
        }
    }

    /// Opens the events file; `Ok(None)` when it is gone, `Err(why)` when it is refused.
    fn open_events(&self) -> Result<Option<Spool>, String> {
        // O_NONBLOCK: a FIFO put there meanwhile must not block the open (it is refused below).
        // Read-write when it can, to free what was read; read-only otherwise.
        let flags = libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
        let mut writable = true;
        let opened = match openat(&self.dir, &self.events, flags | libc::O_RDWR, 0) {
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EACCES | libc::EROFS | libc::EPERM)
                ) =>
            {
                writable = false;
                openat(&self.dir, &self.events, flags | libc::O_RDONLY, 0)
            }
            other => other,
        };
        let file = match opened {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Err("a symbolic link, not a regular file".to_owned());
            }
            Err(e) => return Err(format!("cannot open: {e}")),
        };
        let meta = file
            .metadata()
            .map_err(|e| format!("cannot look at it: {e}"))?;
        if !meta.file_type().is_file() {
            return Err("not a regular file".to_owned());
        }
        // pveproxy creates the file; a second name means someone linked another file here (one
        // we, as root, could read and they could not).
        if meta.nlink() > 1 {
            return Err("a file with other hard links".to_owned());
        }
        Ok(Some(Spool {
            file,
            id: Identity::of(&meta),
            pos: 0,
            lines: LineSplitter::new(MAX_LINE),
            writable,
            freed: 0,
        }))
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = unlink(&self.dir, &self.req);
        let _ = unlink(&self.dir, &self.events);
        // The fields are dropped after this: the lock is released (and the directory closed)
        // only once both names are gone.
    }
}

/// Frees the blocks of a file once this much more of it was read.
const FREE_STEP: u64 = 64 * 1024;

impl Spool {
    /// Frees the part of the events file that was read, so that a long follow (`--all` on a
    /// busy node) does not fill `/run`, a tmpfs in memory.
    ///
    /// Not by truncating: the protocol has no lock on `P.events`, and pveproxy appends to it
    /// (`O_APPEND`, one write per line) whenever it likes; a line written between our last read
    /// and a truncation would be lost, and one written after it would land at offset 0, behind
    /// our read position. Instead the read part becomes a hole (`fallocate(2)`
    /// `FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE`, which tmpfs and the usual disk file systems
    /// have): its memory or blocks are given back, while the size and every offset stay as they
    /// were, so appends and our position are untouched and nothing can be lost. The file's
    /// apparent size still grows; only what it holds is bounded. Only bytes before `pos` are
    /// freed: all of them were read (an incomplete last line is kept in `lines`).
    fn free_consumed(&mut self) -> io::Result<()> {
        if !self.writable || self.pos < self.freed + FREE_STEP {
            return Ok(());
        }
        let len = libc::off_t::try_from(self.pos).map_err(io::Error::other)?;
        loop {
            // SAFETY: fallocate(2) on a descriptor we own; no memory is passed.
            let rc = unsafe {
                libc::fallocate(
                    self.file.as_raw_fd(),
                    libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                    0,
                    len,
                )
            };
            if rc == 0 {
                self.freed = self.pos;
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                // Said once: the file is not freed again.
                self.writable = false;
                return Err(e);
            }
        }
    }
}

/// Reads what `spool` gained, within `budget`, into `events` (as far as `held` has room).
/// `Ok(true)` when its end was reached.
fn drain(
    spool: &mut Spool,
    budget: &mut u64,
    buf: &mut Vec<u8>,
    name: &str,
    events: &mut Vec<SpoolEvent>,
    held: &mut Held,
) -> io::Result<bool> {
    if buf.len() < CHUNK {
        buf.resize(CHUNK, 0);
    }
    let mut each = |line: u64, piece: Option<&[u8]>| {
        take_line(name, line, piece, events, held);
    };
    loop {
        if *budget == 0 {
            return Ok(false);
        }
        let want = usize::try_from(*budget).map_or(CHUNK, |b| b.min(CHUNK));
        let n = match spool.file.read_at(&mut buf[..want], spool.pos) {
            Ok(0) => return Ok(true),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        spool.pos += n as u64;
        *budget = budget.saturating_sub(n as u64);
        spool.lines.feed(&buf[..n], &mut each);
    }
}

/// Makes the request file, locks it and writes the filter to it; returns it open (the lock).
fn create_request(
    dir: &OwnedFd,
    req: &CStr,
    gid: Option<libc::gid_t>,
    filter: &[u8],
) -> io::Result<Attempt> {
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    let mut file = match openat(dir, req, flags, REQ_MODE) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Ok(Attempt::Again("created by someone else meanwhile"));
        }
        Err(e) => return Err(e),
    };
    // The umask may have taken bits off the creation mode.
    file.set_permissions(Permissions::from_mode(REQ_MODE))?;
    if let Some(gid) = gid {
        // Only root (or a member of the group) may do this; without it pveproxy cannot read the
        // filter, but a non-root run is not an error here.
        match std::os::unix::fs::fchown(&file, None, Some(gid)) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {}
            Err(e) => return Err(e),
        }
    }
    if !try_lock(&file)? {
        return Ok(Attempt::Again("its lock is held by another process"));
    }
    // pveproxy takes the lock of a request file it finds unlocked and removes the file: check that
    // the name still is the file we locked.
    let ours = file.metadata().map(|m| Identity::of(&m))?;
    match stat_at(dir, req) {
        Ok(meta) if Identity::of(&meta) == ours => {}
        Ok(_) => return Ok(Attempt::Again("replaced before it was locked")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(Attempt::Again("removed before it was locked"));
        }
        Err(e) => return Err(e),
    }
    file.write_all(filter)?;
    Ok(Attempt::Done(file))
}

/// Opens the spool directory itself, not a symlink to one.
fn open_dir(dir: &Path) -> io::Result<OwnedFd> {
    let opened = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(dir);
    match opened {
        Ok(file) => Ok(OwnedFd::from(file)),
        Err(e) => {
            // O_DIRECTORY makes a symlink fail with ENOTDIR rather than ELOOP.
            let what = match e.raw_os_error() {
                Some(libc::ELOOP | libc::ENOTDIR)
                    if fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) =>
                {
                    "a symbolic link, not the spool directory".to_owned()
                }
                Some(libc::ELOOP | libc::ENOTDIR) => "not a directory".to_owned(),
                _ => format!("cannot open the spool directory: {e}"),
            };
            Err(io::Error::new(
                e.kind(),
                format!("{}: {what}", dir.display()),
            ))
        }
    }
}

/// A file name in the spool directory as the C calls take it.
fn name(text: &str) -> io::Result<CString> {
    CString::new(text).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

/// `openat(2)` relative to `dir`, retried on EINTR.
fn openat(dir: &OwnedFd, name: &CStr, flags: libc::c_int, mode: libc::c_uint) -> io::Result<File> {
    loop {
        // SAFETY: `name` is a NUL-terminated string that lives across the call and `dir` an open
        // descriptor; the mode is passed as the variadic `unsigned int` openat(2) reads.
        let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags, mode) };
        if fd >= 0 {
            // SAFETY: openat just returned this descriptor, and nothing else owns it.
            return Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }));
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// What `name` in `dir` is, without following a symlink: opened with `O_PATH | O_NOFOLLOW`
/// (neither reads nor blocks, whatever the file is), then looked at.
fn stat_at(dir: &OwnedFd, name: &CStr) -> io::Result<Metadata> {
    let file = openat(
        dir,
        name,
        libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        0,
    )?;
    file.metadata()
}

/// `unlinkat(2)` relative to `dir` (never follows a symlink); a missing file is fine.
fn unlink(dir: &OwnedFd, name: &CStr) -> io::Result<()> {
    // SAFETY: `name` is a NUL-terminated string that lives across the call, `dir` an open
    // descriptor.
    if unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) } == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.kind() == io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}

/// Takes an exclusive `flock` without waiting; `Ok(false)` when someone else holds one.
fn try_lock(file: &File) -> io::Result<bool> {
    loop {
        // SAFETY: flock(2) on a descriptor we own; no memory is passed.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => return Ok(false),
            _ => return Err(e),
        }
    }
}

/// The id of a group, `None` when there is no such group (or it cannot be looked up).
fn group_id(group: &CStr) -> Option<libc::gid_t> {
    let mut buf: Vec<libc::c_char> = vec![0; 1024];
    loop {
        let mut entry = MaybeUninit::<libc::group>::uninit();
        let mut found: *mut libc::group = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call, `buf.len()` is the buffer's real size, and
        // getgrnam_r (unlike getgrnam) keeps no static state.
        let rc = unsafe {
            libc::getgrnam_r(
                group.as_ptr(),
                entry.as_mut_ptr(),
                buf.as_mut_ptr(),
                buf.len(),
                &mut found,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 || found.is_null() {
            return None;
        }
        // SAFETY: on success `found` points to `entry`, which getgrnam_r filled in.
        return Some(unsafe { (*found).gr_gid });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::Config;
    use serde_json::json;
    use std::os::unix::fs::symlink;

    /// The example of pve-formats.md §5, with parameters filled in.
    const EXAMPLE: &str = r#"{"method":"POST","path":"/nodes/pve1/qemu/100/config","params":{"net0":"virtio,bridge=vmbr0","delete":"ide2"},"userid":"alice@pve","format":"extjs","client_ip":"::ffff:192.168.1.5","proxied":0}"#;

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    fn opt(key: &str, value: &str, json: bool) -> (String, String, bool) {
        (key.to_owned(), value.to_owned(), json)
    }

    fn event_line(path: &str) -> String {
        format!(r#"{{"method":"PUT","path":"{path}","params":{{}},"userid":"alice@pve"}}"#)
    }

    fn append(path: &Path, bytes: &[u8]) {
        let mut f = OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .unwrap();
        f.write_all(bytes).unwrap();
    }

    fn paths(events: &[SpoolEvent]) -> Vec<&str> {
        events.iter().map(|e| e.path.as_str()).collect()
    }

    #[test]
    fn parses_the_example_event() {
        let event = parse_event(EXAMPLE.as_bytes()).unwrap();
        assert_eq!(
            event,
            SpoolEvent {
                method: "POST".into(),
                path: "/nodes/pve1/qemu/100/config".into(),
                format: Some("extjs".into()),
                userid: Some("alice@pve".into()),
                client_ip: Some("::ffff:192.168.1.5".into()),
                params: map(json!({"net0": "virtio,bridge=vmbr0", "delete": "ide2"})),
                line: 0,
                bytes: EXAMPLE.len(),
            }
        );
        // serde_json's map keeps the keys sorted.
        let keys: Vec<&String> = event.params.keys().collect();
        assert_eq!(keys, ["delete", "net0"]);
    }

    #[test]
    fn absent_fields_and_params() {
        let event = parse_event(br#" {"method":"GET","path":"/version"} "#).unwrap();
        assert!(event.params.is_empty());
        assert_eq!(event.userid, None);
        assert_eq!(event.format, None);
        assert_eq!(event.client_ip, None);
        let event =
            parse_event(br#"{"method":"GET","path":"/","params":null,"userid":null}"#).unwrap();
        assert!(event.params.is_empty());
        assert_eq!(event.userid, None);
        let event = parse_event(br#"{"method":"GET","path":"/","userid":7}"#).unwrap();
        assert_eq!(event.userid, None);
    }

    #[test]
    fn malformed_lines_are_rejected() {
        let cases: &[(&[u8], Malformed)] = &[
            (br#"[1,2]"#, Malformed::NotObject),
            (br#""POST""#, Malformed::NotObject),
            (br#"{"path":"/x"}"#, Malformed::Missing("method")),
            (
                br#"{"method":null,"path":"/x"}"#,
                Malformed::Missing("method"),
            ),
            (br#"{"method":"GET"}"#, Malformed::Missing("path")),
            (
                br#"{"method":1,"path":"/x"}"#,
                Malformed::NotString("method"),
            ),
            (
                br#"{"method":"GET","path":["/x"]}"#,
                Malformed::NotString("path"),
            ),
            (
                br#"{"method":"GET","path":"/x","params":[]}"#,
                Malformed::ParamsNotObject,
            ),
            (
                br#"{"method":"GET","path":"/x","params":"a=1"}"#,
                Malformed::ParamsNotObject,
            ),
        ];
        for (line, want) in cases {
            assert_eq!(
                parse_event(line).as_ref(),
                Err(want),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
        for line in [
            &b""[..],
            b"{",
            b"{\"method\":\"GET\",\"path\":\"/x\"} trailing",
            b"{\"method\":\"GET\",\"path\":\"\xff\"}",
            b"\0\0",
            b"10.0.0.1 - root@pam [24/06/2026:14:03:14 +0200] \"GET / HTTP/1.1\" 200 1",
        ] {
            let err = parse_event(line).unwrap_err();
            assert!(matches!(err, Malformed::NotJson(_)), "{err}");
            assert!(
                err.to_string()
                    .starts_with("not a spool event: invalid JSON")
            );
        }
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(
            parse_event(deep.as_bytes()),
            Err(Malformed::NotJson(_))
        ));
    }

    #[test]
    fn options_sort_keys_and_render_scalars() {
        let params = map(json!({
            "zeta": "last", "alpha": "first", "cores": 4, "ratio": 0.5,
            "force": true, "quiet": false, "digest": null, "Upper": "x",
        }));
        assert_eq!(
            options(&params),
            [
                opt("Upper", "x", false),
                opt("alpha", "first", false),
                opt("cores", "4", false),
                opt("digest", "", false),
                opt("force", "true", false),
                opt("quiet", "false", false),
                opt("ratio", "0.5", false),
                opt("zeta", "last", false),
            ]
        );
    }

    #[test]
    fn options_repeat_array_elements() {
        let params = map(json!({"vmid": ["100", "101"], "a": [], "b": [1, true, null]}));
        assert_eq!(
            options(&params),
            [
                opt("b", "1", false),
                opt("b", "1", false),
                opt("b", "", false),
                opt("vmid", "100", false),
                opt("vmid", "101", false),
            ]
        );
    }

    #[test]
    fn options_pass_nested_values_as_compact_json() {
        let params = map(json!({"a": {"b": [1, 2]}, "c": {}}));
        assert_eq!(
            options(&params),
            [opt("a", r#"{"b":[1,2]}"#, true), opt("c", "{}", true)]
        );
    }

    #[test]
    fn options_array_with_object_and_array_elements() {
        let params = map(json!({"list": ["x", {"k": "v", "n": [true]}, [1, "2"]]}));
        assert_eq!(
            options(&params),
            [
                opt("list", "x", false),
                opt("list", r#"{"k":"v","n":[true]}"#, true),
                opt("list", r#"[1,"2"]"#, true),
            ]
        );
    }

    #[test]
    fn events_file_keeps_good_lines_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events");
        let text = format!(
            "{}\n\nnot json\n{}\n   \n[1]\n{}",
            event_line("/a"),
            event_line("/b"),
            event_line("/c")
        );
        fs::write(&path, text).unwrap();
        let events = read_events_file(&path, &mut Held::default()).unwrap();
        assert_eq!(paths(&events), ["/a", "/b", "/c"]);
        assert!(read_events_file(&dir.path().join("missing"), &mut Held::default()).is_err());
        // A directory opens but cannot be read.
        assert!(read_events_file(dir.path(), &mut Held::default()).is_err());
    }

    #[test]
    fn register_writes_a_locked_filter() {
        let dir = tempfile::tempdir().unwrap();
        let pid = std::process::id();
        let rec = Recorder::register(dir.path(), Some("alice@pve"), false).unwrap();
        let req = dir.path().join(format!("{pid}.req"));
        let meta = fs::symlink_metadata(&req).unwrap();
        assert!(meta.file_type().is_file());
        assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            if let Some(gid) = group_id(c"www-data") {
                assert_eq!(meta.gid(), gid);
            }
        }
        let filter: Value = serde_json::from_slice(&fs::read(&req).unwrap()).unwrap();
        assert_eq!(filter, json!({"userid": "alice@pve", "all": 0}));
        // flock locks belong to an open file description: a second open cannot take it.
        let again = File::open(&req).unwrap();
        assert!(!try_lock(&again).unwrap());
        assert_eq!(
            rec.events_path(),
            dir.path().join(format!("{pid}.events")).as_path()
        );
        drop(rec);
        // Released with the recorder.
        assert!(try_lock(&again).unwrap());
    }

    #[test]
    fn register_all_users_and_methods() {
        let dir = tempfile::tempdir().unwrap();
        let _rec = Recorder::register(dir.path(), None, true).unwrap();
        let req = dir.path().join(format!("{}.req", std::process::id()));
        let filter: Value = serde_json::from_slice(&fs::read(&req).unwrap()).unwrap();
        assert_eq!(filter, json!({"userid": null, "all": 1}));
    }

    #[test]
    fn register_removes_planted_symlinks_without_following_them() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        fs::write(&victim, b"keep").unwrap();
        let pid = std::process::id();
        let req = dir.path().join(format!("{pid}.req"));
        let events = dir.path().join(format!("{pid}.events"));
        symlink(&victim, &req).unwrap();
        symlink(&victim, &events).unwrap();
        let rec = Recorder::register(dir.path(), Some("alice@pve"), false).unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"keep");
        assert!(fs::symlink_metadata(&req).unwrap().file_type().is_file());
        assert!(fs::symlink_metadata(&events).is_err());
        drop(rec);
        assert_eq!(fs::read(&victim).unwrap(), b"keep");
    }

    #[test]
    fn register_needs_a_real_directory() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        fs::create_dir(&real).unwrap();
        let link = dir.path().join("link");
        symlink(&real, &link).unwrap();
        let err = Recorder::register(&link, None, false).err().unwrap();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        let file = dir.path().join("file");
        fs::write(&file, b"").unwrap();
        let err = Recorder::register(&file, None, false).err().unwrap();
        assert!(err.to_string().contains("not a directory"), "{err}");
        assert!(Recorder::register(&dir.path().join("missing"), None, false).is_err());
        assert_eq!(fs::read_dir(&real).unwrap().count(), 0);
    }

    #[test]
    fn read_returns_appended_lines_and_waits_for_partial_ones() {
        let dir = tempfile::tempdir().unwrap();
        let mut rec = Recorder::register(dir.path(), None, false).unwrap();
        let events = rec.events_path().to_path_buf();
        assert!(rec.read(&mut Held::default()).is_empty());
        let second = event_line("/b");
        let (head, tail) = second.split_at(10);
        append(
            &events,
            format!("{}\ngarbage\n{head}", event_line("/a")).as_bytes(),
        );
        assert_eq!(paths(&rec.read(&mut Held::default())), ["/a"]);
        assert!(rec.read(&mut Held::default()).is_empty());
        append(
            &events,
            format!("{tail}\n{}\n", event_line("/c")).as_bytes(),
        );
        assert_eq!(paths(&rec.read(&mut Held::default())), ["/b", "/c"]);
        assert!(rec.read(&mut Held::default()).is_empty());
    }

    #[test]
    fn read_refuses_a_symlinked_events_file() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        let content = format!("{}\n", event_line("/secret"));
        fs::write(&victim, &content).unwrap();
        let mut rec = Recorder::register(dir.path(), None, false).unwrap();
        let events = rec.events_path().to_path_buf();
        symlink(&victim, &events).unwrap();
        assert!(rec.read(&mut Held::default()).is_empty());
        assert!(rec.warned);
        assert!(rec.read(&mut Held::default()).is_empty());
        // A regular file in its place is read.
        fs::remove_file(&events).unwrap();
        append(&events, format!("{}\n", event_line("/ok")).as_bytes());
        assert_eq!(paths(&rec.read(&mut Held::default())), ["/ok"]);
        assert!(!rec.warned);
        drop(rec);
        assert_eq!(fs::read_to_string(&victim).unwrap(), content);
    }

    #[test]
    fn read_refuses_a_fifo() {
        let dir = tempfile::tempdir().unwrap();
        let mut rec = Recorder::register(dir.path(), None, false).unwrap();
        let name = CString::new(rec.events_path().as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        assert!(rec.read(&mut Held::default()).is_empty());
        assert!(rec.open_events().is_err());
    }

    #[test]
    fn read_refuses_a_hard_linked_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut rec = Recorder::register(dir.path(), None, false).unwrap();
        let other = dir.path().join("other");
        fs::write(&other, format!("{}\n", event_line("/secret"))).unwrap();
        fs::hard_link(&other, rec.events_path()).unwrap();
        assert!(rec.read(&mut Held::default()).is_empty());
        assert!(rec.warned);
    }

    #[test]
    fn read_follows_a_replaced_or_truncated_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut rec = Recorder::register(dir.path(), None, false).unwrap();
        let events = rec.events_path().to_path_buf();
        append(&events, format!("{}\n", event_line("/a")).as_bytes());
        assert_eq!(paths(&rec.read(&mut Held::default())), ["/a"]);
        // Replaced: the old file's last lines first, then the new file from its start.
        let old = dir.path().join("old");
        let mut keep = OpenOptions::new().append(true).open(&events).unwrap();
        fs::rename(&events, &old).unwrap();
        keep.write_all(format!("{}\n", event_line("/b")).as_bytes())
            .unwrap();
        append(&events, format!("{}\n", event_line("/c")).as_bytes());
        assert_eq!(paths(&rec.read(&mut Held::default())), ["/b", "/c"]);
        // Truncated and written again, shorter: from the start.
        fs::write(&events, b"{\"method\":\"GET\",\"path\":\"/d\"}\n").unwrap();
        assert_eq!(paths(&rec.read(&mut Held::default())), ["/d"]);
        // Removed: nothing, then a new one.
        fs::remove_file(&events).unwrap();
        assert!(rec.read(&mut Held::default()).is_empty());
        append(&events, format!("{}\n", event_line("/e")).as_bytes());
        assert_eq!(paths(&rec.read(&mut Held::default())), ["/e"]);
    }

    #[test]
    fn drop_removes_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let rec = Recorder::register(dir.path(), None, false).unwrap();
        let events = rec.events_path().to_path_buf();
        let req = dir.path().join(format!("{}.req", std::process::id()));
        append(&events, b"x\n");
        assert!(req.exists() && events.exists());
        drop(rec);
        assert!(fs::symlink_metadata(&req).is_err());
        assert!(fs::symlink_metadata(&events).is_err());
    }

    fn refusal(line: &str, method: &str, target_query: &str) -> Option<Refusal> {
        let event = parse_event(line.as_bytes()).unwrap();
        let query = crate::request::decode_urlencoded(target_query.as_bytes());
        let logged = Logged {
            method: method.as_bytes(),
            path: b"/nodes/pve1/qemu/100/config",
            format: Some(b"extjs"),
            query: &query,
        };
        disagreement(&event, &logged).map(|(cause, _)| cause)
    }

    #[test]
    fn disagreeing_events_are_refused_by_cause() {
        let put = |params: &str| {
            format!(
                r#"{{"method":"PUT","path":"/nodes/pve1/qemu/100/config","format":"extjs","userid":"root@pam","params":{params}}}"#
            )
        };
        assert_eq!(refusal(&put(r#"{"memory":"1"}"#), "PUT", ""), None);
        assert_eq!(
            refusal(
                &put(r#"{"memory":"1","digest":"abc"}"#),
                "PUT",
                "digest=abc"
            ),
            None
        );
        assert_eq!(refusal(&put(r#"{"a":["1","2"]}"#), "PUT", "a=1&a=2"), None);
        // Not UTF-8 in the query: only its presence counts.
        assert_eq!(refusal(&put(r#"{"b":"�"}"#), "PUT", "b=%FF"), None);
        assert_eq!(
            refusal(&put(r#"{"digest":"xyz"}"#), "PUT", "digest=abc"),
            Some(Refusal::Query)
        );
        assert_eq!(
            refusal(&put("{}"), "PUT", "digest=abc"),
            Some(Refusal::Query)
        );
        assert_eq!(
            refusal(&put(r#"{"a":["2","1"]}"#), "PUT", "a=1&a=2"),
            Some(Refusal::Query)
        );
        assert_eq!(
            refusal(&put(r#"{"memory":"1"}"#), "DELETE", ""),
            Some(Refusal::Method)
        );
        assert_eq!(refusal(&put(r#"{"purge":"1"}"#), "DELETE", "purge=1"), None);
        // A key without a value: pveproxy's undef, null in the event.
        assert_eq!(refusal(&put(r#"{"c":null}"#), "GET", "c"), None);
        let no_format = r#"{"method":"PUT","path":"/nodes/pve1/qemu/100/config","params":{}}"#;
        assert_eq!(refusal(no_format, "PUT", ""), Some(Refusal::Format));
        let json_format =
            r#"{"method":"PUT","path":"/nodes/pve1/qemu/100/config","format":"json"}"#;
        assert_eq!(refusal(json_format, "PUT", ""), Some(Refusal::Format));
        let encoded = r#"{"method":"PUT","path":"/nodes/pve1/qemu/10%30/config","format":"extjs"}"#;
        assert_eq!(refusal(encoded, "PUT", ""), Some(Refusal::Path));
        let slashes =
            r#"{"method":"PUT","path":"//nodes/pve1//qemu/100/config/","format":"extjs"}"#;
        assert_eq!(refusal(slashes, "PUT", ""), None);
    }

    #[test]
    fn held_events_are_capped_by_count_and_bytes() {
        let event = parse_event(event_line("/a").as_bytes()).unwrap();
        let mut held = Held::with_caps(2, 1 << 20);
        assert!(held.admit("f", &event));
        assert!(held.admit("f", &event));
        assert!(!held.admit("f", &event));
        assert_eq!(held.dropped, 1);
        held.release(&event);
        assert!(held.admit("f", &event));
        // The run of drops was reported when room came back.
        assert_eq!(held.dropped, 0);
        let mut held = Held::with_caps(100, event.bytes * 2);
        assert!(held.admit("f", &event));
        assert!(held.admit("f", &event));
        assert!(!held.admit("f", &event));
        held.report("f");
        assert_eq!((held.dropped, held.first.is_none()), (0, true));
    }

    #[test]
    fn read_frees_what_it_read_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let mut rec = Recorder::register(dir.path(), None, false).unwrap();
        let events = rec.events_path().to_path_buf();
        let line = format!("{}\n", event_line(&format!("/{}", "p".repeat(1000))));
        append(&events, line.repeat(200).as_bytes());
        let mut held = Held::default();
        assert_eq!(rec.read(&mut held).len(), 200);
        let meta = fs::metadata(&events).unwrap();
        assert_eq!(meta.len(), (line.len() * 200) as u64);
        assert!(meta.blocks() * 512 < 16 * 1024, "{} blocks", meta.blocks());
        append(&events, format!("{}\n", event_line("/after")).as_bytes());
        assert_eq!(paths(&rec.read(&mut held)), ["/after"]);
    }

    #[test]
    fn a_removed_request_file_is_made_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut rec = Recorder::register(dir.path(), Some("alice@pve"), false).unwrap();
        let req = dir.path().join(format!("{}.req", std::process::id()));
        let filter = fs::read(&req).unwrap();
        fs::remove_file(&req).unwrap();
        assert!(rec.read(&mut Held::default()).is_empty());
        assert_eq!(fs::read(&req).unwrap(), filter);
        assert!(!try_lock(&File::open(&req).unwrap()).unwrap());
        // Replaced by a file of someone else: the same.
        fs::remove_file(&req).unwrap();
        fs::write(&req, b"{}").unwrap();
        rec.read(&mut Held::default());
        assert_eq!(fs::read(&req).unwrap(), filter);
        assert!(!try_lock(&File::open(&req).unwrap()).unwrap());
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            // Quarters round-trip exactly through serde_json's float parsing.
            (-4000i32..4000).prop_map(|n| Value::from(f64::from(n) / 4.0)),
            ".{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(".{0,4}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn config() -> Config {
        Config {
            cases: 256,
            failure_persistence: None,
            ..Config::default()
        }
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn prop_parse_event_never_panics(line in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_event(&line);
        }

        #[test]
        fn prop_parse_event_never_panics_on_json(value in arb_value()) {
            let _ = parse_event(value.to_string().as_bytes());
        }

        #[test]
        fn prop_events_round_trip(params in prop::collection::btree_map(".{0,6}", arb_value(), 0..6),
                                  path in ".{0,20}") {
            let params: Map<String, Value> = params.into_iter().collect();
            let line = json!({"method": "POST", "path": path, "params": params}).to_string();
            let event = parse_event(line.as_bytes()).unwrap();
            prop_assert_eq!(event.path, path);
            prop_assert_eq!(event.params, params);
        }

        #[test]
        fn prop_options_count(params in prop::collection::btree_map(".{0,6}", arb_value(), 0..8)) {
            let params: Map<String, Value> = params.into_iter().collect();
            let want: usize = params.values().map(|v| match v {
                Value::Array(items) => items.len(),
                _ => 1,
            }).sum();
            let got = options(&params);
            prop_assert_eq!(got.len(), want);
            prop_assert!(got.windows(2).all(|w| w[0].0 <= w[1].0));
            for (_, text, json) in &got {
                if *json {
                    prop_assert!(serde_json::from_str::<Value>(text).is_ok());
                }
            }
        }
    }
}
