//! JSON Lines: one audit record per event, with the fields of design.md's table.
//!
//! The record is for machines (jq, a SIEM), so every field is always present (null when
//! unknown) except `redacted`, which is omitted when nothing was. JSON strings are Unicode: bytes
//! of the log that are not UTF-8 become U+FFFD here; the `pvesh` line, which escapes them, keeps
//! them exactly. Characters that a terminal would act on are written as `\u` escapes, so a record
//! printed to a terminal cannot garble it.

use std::borrow::Cow;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::event::{Event, Outcome, Param, Via};
use crate::join::tasks::Ended;
use crate::render::{changes, pvesh, quote};
use crate::request::Class;
use crate::secret::{self, Redaction};
use crate::source::task::{State, Task};
use crate::time::utc;

const REDACTED: &str = "<redacted>";

#[derive(Serialize)]
#[serde(untagged)]
enum ProxyRecord<'a> {
    Folded { to: &'a str, hop: SourceRecord<'a> },
    From { from: &'a str, origin_read: bool },
}

impl<'a> ProxyRecord<'a> {
    fn new(proxy: &'a crate::join::hops::Proxy) -> ProxyRecord<'a> {
        match proxy {
            crate::join::hops::Proxy::Folded { to, file, line } => ProxyRecord::Folded {
                to,
                hop: SourceRecord {
                    file,
                    line: Some(*line),
                },
            },
            crate::join::hops::Proxy::From { from, origin_read } => ProxyRecord::From {
                from,
                origin_read: *origin_read,
            },
        }
    }
}

/// A change in /etc/pve that no request line claimed: `{"event": "change", …}`.
#[derive(Serialize)]
struct ChangeEvent<'a> {
    event: &'static str,
    /// When pverec saw it (pmxcfs keeps no time of its own).
    time: String,
    node: Option<&'a str>,
    class: &'static str,
    /// Relative to /etc/pve.
    file: &'a str,
    object: Option<ObjectRecord<'a>>,
    changes: Vec<changes::ChangeRecord<'a>>,
    /// `unattributed`, or `request` when it is the late work (a task's) of the request named
    /// in `request`.
    origin: &'static str,
    request: Option<SourceRecord<'a>>,
    /// For the task's work of a request: its parameters rebuilt from the change
    /// (`params_source: "config"`) and its pvesh form; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    params: Option<std::collections::BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    params_source: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pvesh: Option<String>,
    source: SourceRecord<'a>,
}

/// Appends the record of a change that no request line claimed.
pub(crate) fn push_change(
    out: &mut Vec<u8>,
    change: &crate::join::changes::Unclaimed,
    seen: (jiff::Timestamp, Option<&str>, Option<&str>),
    show_secrets: bool,
    pretty: bool,
) {
    let (time, node, name) = seen;
    let diffs = changes::changes_of(&change.change, show_secrets);
    let rebuilt = changes::rebuilt_command(change, time, show_secrets);
    let file = change.change.file.as_str();
    let source = format!("/etc/pve/{file}");
    let record = ChangeEvent {
        event: "change",
        time: utc(time),
        node,
        class: Class::Change.name(),
        file,
        object: change.change.vmid.as_deref().map(|vmid| ObjectRecord {
            kind: if change.change.lxc { "lxc" } else { "qemu" },
            id: Cow::Borrowed(vmid),
            name: Some(name),
        }),
        changes: changes::records(&diffs),
        origin: if change.request.is_some() {
            "request"
        } else {
            "unattributed"
        },
        request: change.request.as_ref().map(|(file, line)| SourceRecord {
            file,
            line: Some(*line),
        }),
        params_source: rebuilt.as_ref().map(|_| "config"),
        params: rebuilt
            .as_ref()
            .map(|(params, _)| params.iter().cloned().collect()),
        pvesh: rebuilt.map(|(_, line)| line),
        source: SourceRecord {
            file: &source,
            line: None,
        },
    };
    push_json(out, &record, pretty);
}

#[derive(Serialize)]
struct ObjectRecord<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: Cow<'a, str>,
    /// A guest's name from /etc/pve, null when unknown; only guests have the field.
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<Option<&'a str>>,
}

#[derive(Serialize)]
struct SourceRecord<'a> {
    file: &'a str,
    /// Null for a source without lines (a task from the task directory).
    line: Option<u64>,
}

#[derive(Serialize)]
struct TaskRecord<'a> {
    upid: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    id: &'a str,
    pid: u32,
    start: String,
    end: Option<String>,
    status: Option<&'a str>,
}

impl<'a> TaskRecord<'a> {
    fn new(task: &'a Task) -> TaskRecord<'a> {
        let (end, status) = match &task.state {
            State::Running => (None, None),
            State::Finished { end, status } => (end.and_then(utc_second), status.as_deref()),
        };
        TaskRecord {
            upid: &task.upid.text,
            kind: &task.upid.kind,
            id: &task.upid.id,
            pid: task.upid.pid,
            start: utc_second(task.upid.start).unwrap_or_default(),
            end,
            status,
        }
    }
}

/// A task time (Unix seconds) as the records show times.
fn utc_second(seconds: i64) -> Option<String> {
    jiff::Timestamp::from_second(seconds).ok().map(utc)
}

/// The follow-up record of a request (or a lone task) whose task ended after it was shown.
#[derive(Serialize)]
struct TaskEndRecord<'a> {
    event: &'static str,
    time: Option<String>,
    node: &'a str,
    user: &'a str,
    token: Option<&'a str>,
    upid: &'a str,
    outcome: &'static str,
    task: TaskRecord<'a>,
    /// The source of the request the task belongs to; null for a task no request started.
    request: Option<SourceRecord<'a>>,
}

/// Appends a serialized record, escaped for a terminal, and a newline; `pretty`: indented over
/// several lines, as pvesh's `json-pretty` (a stream of JSON values that jq reads as well).
fn push_json<T: Serialize>(out: &mut Vec<u8>, record: &T, pretty: bool) {
    if pretty {
        // Serializing plain data into a Vec cannot fail: no maps with non-string keys, no I/O.
        let json = serde_json::to_vec_pretty(record);
        quote::escape_json_line(&json.unwrap_or_default(), out);
    } else {
        quote::push_json_compact(out, record);
    }
    out.push(b'\n');
}

/// Appends the `task_end` record of a task that ended after it was shown.
pub(crate) fn push_task_end(out: &mut Vec<u8>, ended: &Ended, pretty: bool) {
    let task = &ended.task;
    let (user, token) = match task.upid.user.split_once('!') {
        Some((user, token)) => (user, Some(token)),
        None => (task.upid.user.as_str(), None),
    };
    let task_record = TaskRecord::new(task);
    let record = TaskEndRecord {
        event: "task_end",
        time: task_record.end.clone(),
        node: &task.upid.node,
        user,
        token,
        upid: &task.upid.text,
        outcome: Outcome::of_task(task).name(),
        task: task_record,
        request: ended.request.as_ref().map(|(file, line)| SourceRecord {
            file,
            line: Some(*line),
        }),
    };
    push_json(out, &record, pretty);
}

/// The parameters of a spool body, in the body's own form: arrays and nested objects are shown as
/// the JSON they were, each secret as its parameters (the options made of it) say.
struct BodyParams<'a> {
    params: &'a [Param<'a>],
    body: &'a serde_json::Map<String, serde_json::Value>,
    show_secrets: bool,
}

impl Serialize for BodyParams<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in self.body {
            let redactions = self
                .params
                .iter()
                .filter(|p| p.key.as_ref() == key.as_bytes())
                .map(|p| &p.redaction);
            if self.show_secrets {
                map.serialize_entry(key, value)?;
            } else if redactions.clone().any(|r| *r == Redaction::Whole) {
                map.serialize_entry(key, REDACTED)?;
            } else if redactions.clone().any(Redaction::any) {
                if let Some(redacted) = redact_by_params(value, redactions) {
                    // A string, or an array of strings: each as its option says (its shapes,
                    // and the parts its name makes secret).
                    map.serialize_entry(key, &redacted)?;
                } else {
                    // The secret parts of its strings, in the body's own JSON shape.
                    let redacted = secret::redact_json(value, REDACTED);
                    map.serialize_entry(key, redacted.as_ref().unwrap_or(value))?;
                }
            } else {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

/// A body value that is a string, or an array of strings, with each string redacted as the
/// option made of it says (the options of a key are its array's elements, in order:
/// `spool::options`); `None` for other values, or when the options do not match it.
fn redact_by_params<'r>(
    value: &serde_json::Value,
    redactions: impl Iterator<Item = &'r Redaction>,
) -> Option<serde_json::Value> {
    let redactions: Vec<&Redaction> = redactions.collect();
    let redact = |s: &str, r: &Redaction| -> serde_json::Value {
        serde_json::Value::String(text(&r.apply(s.as_bytes(), REDACTED.as_bytes())).into_owned())
    };
    match value {
        serde_json::Value::String(s) if redactions.len() == 1 => Some(redact(s, redactions[0])),
        serde_json::Value::Array(items)
            if items.len() == redactions.len() && items.iter().all(|i| i.is_string()) =>
        {
            Some(serde_json::Value::Array(
                items
                    .iter()
                    .zip(&redactions)
                    .map(|(i, r)| redact(i.as_str().unwrap_or_default(), r))
                    .collect(),
            ))
        }
        _ => None,
    }
}

fn text(bytes: &[u8]) -> Cow<'_, str> {
    // `from_utf8` checks ASCII a word at a time, where `from_utf8_lossy` walks its chunks byte
    // by byte: the same result, sooner, for the valid text nearly every log line is.
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// A field's key as [`Fields`] writes it: `,"name":`, one constant.
macro_rules! key {
    ($name:literal) => {
        concat!(",\"", $name, "\":")
    };
}

/// One JSON object being written, field by field, in the order given: the record writer's
/// frame. Keys are pverec's own (ASCII, nothing to escape); values are written with
/// [`quote::push_json_str`] or serde_json, so every byte is what serde_json with
/// [`quote::TerminalSafe`] would write.
struct Fields<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl<'o> Fields<'o> {
    fn start(out: &'o mut Vec<u8>) -> Fields<'o> {
        out.push(b'{');
        Fields { out, first: true }
    }

    /// Writes `key` (`,"name":` as [`key!`] spells it, without its comma first) and gives the
    /// output for the value. Inlined, so that each key is one copy of known length.
    #[inline(always)]
    fn key(&mut self, key: &'static str) -> &mut Vec<u8> {
        let key = if std::mem::take(&mut self.first) {
            &key[1..]
        } else {
            key
        };
        self.out.extend_from_slice(key.as_bytes());
        self.out
    }

    #[inline(always)]
    fn text(&mut self, key: &'static str, value: &[u8]) {
        quote::push_json_str(self.key(key), value);
    }

    #[inline(always)]
    fn opt_text(&mut self, key: &'static str, value: Option<&[u8]>) {
        match value {
            Some(value) => self.text(key, value),
            None => self.key(key).extend_from_slice(b"null"),
        }
    }

    #[inline(always)]
    fn opt_number(&mut self, key: &'static str, value: Option<u64>) {
        match value {
            Some(n) => {
                let mut digits = itoa::Buffer::new();
                let digits = digits.format(n);
                self.key(key).extend_from_slice(digits.as_bytes());
            }
            None => self.key(key).extend_from_slice(b"null"),
        }
    }

    /// Any value, as serde_json writes it: for the fields that are rare (changes, proxies, a
    /// spool body's parameters).
    fn serialized<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) {
        quote::push_json_compact(self.key(key), value);
    }

    fn end(self) {
        self.out.push(b'}');
    }
}

/// Appends `items` as a JSON array of strings.
fn push_texts<'t>(out: &mut Vec<u8>, items: impl IntoIterator<Item = &'t [u8]>) {
    out.push(b'[');
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        quote::push_json_str(out, item);
    }
    out.push(b']');
}

/// Appends the event's JSON record and a newline.
///
/// Written by hand, field by field, rather than derived with serde: every line of
/// `convert --all -f json` is one, and serde_json's byte-wise string writer with the
/// terminal-safe pass, the owned strings and the vectors of the record took two thirds of that
/// run. The fields, their order and every byte are those of design.md's table as the serde
/// record wrote them (the golden test compares with the release before).
pub(crate) fn push_record(out: &mut Vec<u8>, event: &Event<'_>, show_secrets: bool, pretty: bool) {
    if pretty {
        let mut compact = Vec::with_capacity(1024);
        write_record(&mut compact, event, show_secrets);
        quote::reindent(&compact, out);
    } else {
        write_record(out, event, show_secrets);
    }
    out.push(b'\n');
}

fn write_record(out: &mut Vec<u8>, event: &Event<'_>, show_secrets: bool) {
    // A record of a polling request is about 600 bytes: one reservation for most of them.
    out.reserve(1024);
    let mut f = Fields::start(out);
    f.key(key!("event"))
        .extend_from_slice(if event.class == Class::Task {
            b"\"task\""
        } else {
            b"\"request\""
        });
    let time = f.key(key!("time"));
    time.push(b'"');
    crate::time::push_utc(time, event.time);
    time.push(b'"');
    push_who(f.out, event.node, event.client, event.user);
    // The request's two runs of fields, from the memo while its entry describes the event.
    let rendered = event
        .joined
        .as_deref()
        .filter(|joined| joined.describes(event))
        .map(|joined| {
            joined
                .rendered
                .get_or_init(|| request_runs(event, show_secrets))
        })
        .filter(|rendered| rendered.show_secrets == show_secrets);
    match rendered {
        Some(rendered) => f.out.extend_from_slice(&rendered.request),
        None => write_request_fields(&mut f, event, show_secrets),
    }
    match event.http_status {
        // Three digits, as nearly every status is: written as they are.
        Some(status @ 100..=999) => {
            let digit = |n: u16| b'0' + (n % 10) as u8;
            f.key(key!("http_status")).extend_from_slice(&[
                digit(status / 100),
                digit(status / 10),
                digit(status),
            ]);
        }
        other => f.opt_number(key!("http_status"), other.map(u64::from)),
    }
    f.opt_number(key!("bytes"), event.bytes);
    // The values of pverec's own words are constants: the field is one copy.
    f.key(match event.outcome {
        Outcome::Success => concat!(key!("outcome"), "\"success\""),
        Outcome::Failure => concat!(key!("outcome"), "\"failure\""),
        Outcome::Unknown => concat!(key!("outcome"), "\"unknown\""),
        Outcome::Pending => concat!(key!("outcome"), "\"pending\""),
        Outcome::NotExecuted => concat!(key!("outcome"), "\"not_executed\""),
    });
    // The task the request started (for class `task`, the task itself).
    match &event.task {
        None => {
            f.key(concat!(key!("task"), "null"));
        }
        Some(task) => push_task(f.key(key!("task")), task),
    }
    match rendered {
        Some(rendered) => f.out.extend_from_slice(&rendered.replay),
        None => write_replay_fields(&mut f, event, show_secrets),
    }
    // The common end of a request's record, one copy: from the API, no program, process, login,
    // change or proxy to tell.
    if event.via == Some(Via::Api)
        && event.program.is_none()
        && event.process.is_none()
        && event.auth.is_none()
        && event.file_changes.is_empty()
        && event.proxy.is_none()
    {
        push_source(f.out, event.origin.file, true);
    } else {
        write_tail_fields(&mut f, event, show_secrets);
        push_source(f.out, event.origin.file, false);
    }
    let mut line = Fields {
        out: f.out,
        first: false,
    };
    line.opt_number(
        key!("line"),
        (event.origin.line > 0).then_some(event.origin.line),
    );
    line.end();
    f.end();
}

/// The fields from `origin` to `proxy`, for a record that has any of them other than its
/// common end.
fn write_tail_fields(f: &mut Fields<'_>, event: &Event<'_>, show_secrets: bool) {
    // `api` (a request) or `cli` (a command on the node's shell, from the journal); null where
    // no source tells (a task without a request).
    f.key(match event.via {
        Some(Via::Api) => concat!(key!("origin"), "\"api\""),
        Some(Via::Cli) => concat!(key!("origin"), "\"cli\""),
        None => concat!(key!("origin"), "null"),
    });
    // The program of a `cli` event (`qm`, `pct`, `vzdump`…).
    f.opt_text(key!("program"), event.program.as_deref().map(str::as_bytes));
    // The process that did it, when a source tells: `{"name", "pid"}`.
    match &event.process {
        None => {
            f.key(concat!(key!("process"), "null"));
        }
        Some(p) => {
            let mut process = Fields::start(f.key(key!("process")));
            process.text(key!("name"), p.name.as_bytes());
            process.opt_number(key!("pid"), p.pid.map(u64::from));
            process.end();
        }
    }
    // What the journal said of a login: `{"kind", "reason"}`.
    match &event.auth {
        None => {
            f.key(concat!(key!("auth"), "null"));
        }
        Some(a) => {
            let mut auth = Fields::start(f.key(key!("auth")));
            auth.text(key!("kind"), a.kind.as_bytes());
            auth.opt_text(key!("reason"), a.reason.as_deref().map(str::as_bytes));
            auth.end();
        }
    }
    // What the request changed in /etc/pve (follow with it): `[{"file", "section", "key", "old",
    // "new"}]`; absent when nothing was seen.
    if !event.file_changes.is_empty() {
        let diffs: Vec<crate::source::etc_pve::diff::Change> = event
            .file_changes
            .iter()
            .flat_map(|c| changes::changes_of(c, show_secrets))
            .collect();
        if !diffs.is_empty() {
            f.serialized(key!("changes"), &changes::records(&diffs));
        }
    }
    // A cluster read: `{"to": "pve2", "hop": {"file", "line"}}` for a request whose hop on
    // another node was folded into it, `{"from": "pve1", "origin_read": false}` for a hop shown
    // on its own; absent otherwise.
    if let Some(proxy) = &event.proxy {
        f.serialized(key!("proxy"), &ProxyRecord::new(proxy));
    }
}

/// The common end of a request's record, before its `source`: what [`write_tail_fields`]
/// writes of a request from the API with nothing more to tell.
const COMMON_TAIL: &str = concat!(
    key!("origin"),
    "\"api\"",
    key!("program"),
    "null",
    key!("process"),
    "null",
    key!("auth"),
    "null"
);

/// Appends `,"source":{"file":FILE` (the object is left open for its line), after
/// [`COMMON_TAIL`] when `common`. Every record of a file has the same: the last file's is kept
/// (on this thread), with and without that tail, one comparison and one copy.
fn push_source(out: &mut Vec<u8>, file: &str, common: bool) {
    thread_local! {
        static LAST: std::cell::RefCell<(String, Vec<u8>)> = const {
            std::cell::RefCell::new((String::new(), Vec::new()))
        };
    }
    LAST.with_borrow_mut(|(last, text)| {
        if text.is_empty() || last != file {
            text.clear();
            text.extend_from_slice(COMMON_TAIL.as_bytes());
            text.extend_from_slice(key!("source").as_bytes());
            let mut source = Fields::start(text);
            source.text(key!("file"), file.as_bytes());
            last.clear();
            last.push_str(file);
        }
        let text = if common {
            &text[..]
        } else {
            &text[COMMON_TAIL.len()..]
        };
        out.extend_from_slice(text);
    });
}

/// The longest client and user (together) whose run [`push_who`] keeps.
const WHO_KEPT_BYTES: usize = 256;

/// How many runs [`push_who`] keeps: a log's lines come from a handful of clients and users
/// (167 pairs in the benchmark's 2.2 M lines; 16 kept ones serve 99 lines in 100 of its first
/// 263,000).
const WHO_KEPT: usize = 16;

/// Who and where, as [`push_who`] keeps it: the node, client and user, and their run.
#[derive(Default)]
struct WhoRun {
    node: Option<Box<str>>,
    client: Option<Box<[u8]>>,
    user: Option<Box<[u8]>>,
    run: Vec<u8>,
}

/// Appends `,"node":…,"source_ip":…,"user":…,"token":…`. The runs of the last few different
/// (node, client, user) are kept on this thread, each two escaped strings and four keys written
/// once: a record written from a kept one is one comparison of short slices and one copy.
fn push_who(out: &mut Vec<u8>, node: Option<&str>, client: Option<&[u8]>, user: Option<&[u8]>) {
    thread_local! {
        static KEPT: std::cell::RefCell<(Vec<WhoRun>, usize)> = const {
            std::cell::RefCell::new((Vec::new(), 0))
        };
    }
    let size = client.map_or(0, <[u8]>::len) + user.map_or(0, <[u8]>::len);
    if size > WHO_KEPT_BYTES {
        write_who(out, node, client, user);
        return;
    }
    KEPT.with_borrow_mut(|(kept, next)| {
        if let Some(who) = kept.iter().find(|who| {
            who.user.as_deref() == user
                && who.client.as_deref() == client
                && who.node.as_deref() == node
        }) {
            out.extend_from_slice(&who.run);
            return;
        }
        let mut run = Vec::new();
        write_who(&mut run, node, client, user);
        out.extend_from_slice(&run);
        let who = WhoRun {
            node: node.map(Into::into),
            client: client.map(Into::into),
            user: user.map(Into::into),
            run,
        };
        if kept.len() < WHO_KEPT {
            kept.push(who);
        } else {
            kept[*next] = who;
            *next = (*next + 1) % WHO_KEPT;
        }
    });
}

/// Writes what [`push_who`] appends.
fn write_who(out: &mut Vec<u8>, node: Option<&str>, client: Option<&[u8]>, user: Option<&[u8]>) {
    let (user, token) = crate::userid::user_and_token(user);
    let mut f = Fields { out, first: false };
    f.opt_text(key!("node"), node.map(str::as_bytes));
    f.opt_text(key!("source_ip"), client);
    f.opt_text(key!("user"), user);
    f.opt_text(key!("token"), token);
}

/// The two runs of fields that the request alone decides, each after a comma, for the memo.
fn request_runs(event: &Event<'_>, show_secrets: bool) -> crate::event::Rendered {
    let run = |write: fn(&mut Fields<'_>, &Event<'_>, bool)| {
        let mut out = Vec::new();
        write(
            &mut Fields {
                out: &mut out,
                first: false,
            },
            event,
            show_secrets,
        );
        out.into_boxed_slice()
    };
    crate::event::Rendered {
        show_secrets,
        request: run(write_request_fields),
        replay: run(write_replay_fields),
    }
}

/// The fields from `method` to `unknown_params`: what the request alone decides.
fn write_request_fields(f: &mut Fields<'_>, event: &Event<'_>, show_secrets: bool) {
    f.opt_text(key!("method"), event.method);
    f.opt_text(key!("path"), event.path.as_deref());
    f.opt_text(key!("api_format"), event.api_format);
    f.text(key!("class"), event.class.name().as_bytes());
    f.opt_text(key!("template"), event.template.map(str::as_bytes));
    f.opt_text(
        key!("action"),
        event.endpoint.and_then(|e| e.action()).map(str::as_bytes),
    );
    match &event.object {
        None => {
            f.key(concat!(key!("object"), "null"));
        }
        Some(o) => {
            let mut object = Fields::start(f.key(key!("object")));
            object.text(key!("type"), o.kind.as_bytes());
            object.text(key!("id"), &o.id);
            // A guest's name from /etc/pve, null when unknown; only guests have the field.
            if matches!(o.kind, "qemu" | "lxc" | "vmid") {
                object.opt_text(key!("name"), o.name.as_deref().map(str::as_bytes));
            }
            object.end();
        }
    }
    match event.body {
        Some(body) => f.serialized(
            key!("params"),
            &BodyParams {
                params: &event.params,
                body: &body.params,
                show_secrets,
            },
        ),
        None => push_params(f.key(key!("params")), &event.params, show_secrets),
    }
    f.text(key!("params_source"), event.params_source.name().as_bytes());
    if !show_secrets && event.params.iter().any(|p| p.redaction.any()) {
        let mut names: Vec<Cow<'_, str>> = Vec::new();
        for p in event.params.iter().filter(|p| p.redaction.any()) {
            let name = text(&p.key);
            if !names.contains(&name) {
                names.push(name);
            }
        }
        push_texts(f.key(key!("redacted")), names.iter().map(|n| n.as_bytes()));
    }
    // Parameters of the spool body that the endpoint's PVE 9 schema does not have (a newer PVE,
    // or a forged event): kept in `params`, listed here, and the call is not replayable.
    let unknown = event.unknown_params();
    if !unknown.is_empty() {
        push_texts(
            f.key(key!("unknown_params")),
            unknown.iter().map(|k| k.as_bytes()),
        );
    }
}

/// The fields from `pvesh` to `request`: the replay, which the request alone decides.
fn write_replay_fields(f: &mut Fields<'_>, event: &Event<'_>, show_secrets: bool) {
    let words = pvesh::argv(event);
    match words
        .as_deref()
        .filter(|w| pvesh::replayable(w, show_secrets))
    {
        None => {
            f.key(concat!(key!("pvesh"), "null"));
        }
        Some(words) => {
            let out = f.key(key!("pvesh"));
            out.push(b'"');
            let at = out.len();
            pvesh::push_command(out, words, show_secrets);
            // The line is nearly always printable ASCII: checked where it was written, and
            // escaped from a copy only when it is not.
            if quote::plain_json(&out[at..]) {
                out.push(b'"');
            } else {
                let line = out.split_off(at);
                out.pop();
                quote::push_json_str(out, &line);
            }
        }
    }
    match words.as_deref() {
        None => {
            f.key(concat!(key!("argv"), "null"));
        }
        Some(words) => {
            let out = f.key(key!("argv"));
            out.push(b'[');
            for (i, word) in words.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                quote::push_json_str(out, &word.text(show_secrets, REDACTED.as_bytes()));
            }
            out.push(b']');
        }
    }
    // Why the pvesh form would not repeat the request (a websocket's ticket check, an upload, a
    // path or handler PVE 9 does not have, a pvesh output option); null when it would.
    f.opt_text(
        key!("not_replayable"),
        event.not_replayable.as_deref().map(str::as_bytes),
    );
    // The request line of requests outside the API (static files, CONNECT, unparsable lines),
    // where it is the only record; null for API calls, which method, path and params describe.
    if event.api_format.is_none() && event.class != Class::Task {
        f.text(key!("request"), &event.request_summary(show_secrets));
    } else {
        f.key(concat!(key!("request"), "null"));
    }
}

/// Appends a task as the records show it: `{"upid", "type", "id", "pid", "start", "end",
/// "status"}`.
fn push_task(out: &mut Vec<u8>, task: &Task) {
    let record = TaskRecord::new(task);
    let mut f = Fields::start(out);
    f.text(key!("upid"), record.upid.as_bytes());
    f.text(key!("type"), record.kind.as_bytes());
    f.text(key!("id"), record.id.as_bytes());
    f.opt_number(key!("pid"), Some(u64::from(record.pid)));
    f.text(key!("start"), record.start.as_bytes());
    f.opt_text(key!("end"), record.end.as_deref().map(str::as_bytes));
    f.opt_text(key!("status"), record.status.map(str::as_bytes));
    f.end();
}

/// Appends parameters (not a spool body's) as a JSON object; a key given more than once becomes
/// an array of its values, in order, so no value is lost to a duplicate key.
fn push_params(out: &mut Vec<u8>, all: &[Param<'_>], show_secrets: bool) {
    out.push(b'{');
    let mut first = true;
    for (i, p) in all.iter().enumerate() {
        if all[..i].iter().any(|q| q.key == p.key) {
            continue; // already written with the first occurrence
        }
        if !first {
            out.push(b',');
        }
        first = false;
        quote::push_json_str(out, &p.key);
        out.push(b':');
        let value = |q| shown_value(q, show_secrets);
        let mut same = all[i..].iter().filter(|q| q.key == p.key);
        if all[i + 1..].iter().any(|q| q.key == p.key) {
            out.push(b'[');
            for (n, q) in same.enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                quote::push_json_str(out, &value(q));
            }
            out.push(b']');
        } else if let Some(q) = same.next() {
            quote::push_json_str(out, &value(q));
        }
    }
    out.push(b'}');
}

/// The value of a parameter as a record shows it: redacted, unless secrets are shown.
fn shown_value<'p>(p: &'p Param<'_>, show_secrets: bool) -> Cow<'p, [u8]> {
    match &p.redaction {
        Redaction::None => Cow::Borrowed(&p.value),
        _ if show_secrets => Cow::Borrowed(&p.value),
        Redaction::Whole => Cow::Borrowed(REDACTED.as_bytes()),
        r => r.apply(&p.value, REDACTED.as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Origin;
    use crate::request::Request;
    use crate::source::access;

    const LINE: &[u8] = b"::ffff:10.0.0.12 - root@pam [24/06/2026:00:00:00 +0200] \
        \"PUT /api2/json/nodes/pve1/qemu/100/config?memory=2048&cipassword=hunter2 HTTP/1.1\" 200 12";

    /// The record of `LINE` after `join` changed its event, as `convert` writes it.
    fn record(join: impl FnOnce(&mut Event<'_>), show_secrets: bool) -> String {
        let line = access::parse(LINE).unwrap();
        let request = Request::parse(line.request);
        let origin = Origin {
            file: "access.log",
            line: 1,
        };
        let mut event =
            Event::from_request(&line, line.timestamp().unwrap(), &request, None, origin);
        join(&mut event);
        let mut out = Vec::new();
        push_record(&mut out, &event, show_secrets, false);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn what_a_later_join_changed_is_in_the_record_of_a_request_seen_before() {
        crate::event::forget_joined();
        let plain = record(|_| {}, false);
        assert!(
            plain.contains(r#""params":{"memory":"2048","cipassword":"<redacted>"}"#),
            "{plain}"
        );
        assert!(!plain.contains("hunter2"), "{plain}");
        assert!(plain.contains(r#""object":{"type":"qemu","id":"100","name":null}"#));
        // Seen before: the same record, kept the second time, from the memo's rendered fields
        // the third.
        assert_eq!(record(|_| {}, false), plain);
        assert_eq!(record(|_| {}, false), plain);
        // The config join names the guest.
        let named = record(
            |e| {
                if let Some(o) = e.object.as_mut() {
                    o.name = Some("web".into());
                }
            },
            false,
        );
        assert!(named.contains(r#""name":"web""#), "{named}");
        // The journal join gives the parameters of the body.
        let joined = record(
            |e| {
                e.params.push(crate::event::Param {
                    key: Cow::Borrowed(b"cores"),
                    value: Cow::Borrowed(b"4"),
                    redaction: Redaction::None,
                });
            },
            false,
        );
        assert!(
            joined.contains(r#""params":{"memory":"2048","cipassword":"<redacted>","cores":"4"}"#),
            "{joined}"
        );
        assert!(joined.contains("--cores 4"), "{joined}");
        // With secrets shown, rendered afresh: never the memo's redacted fields.
        let shown = record(|_| {}, true);
        assert!(shown.contains(r#""cipassword":"hunter2""#), "{shown}");
        assert!(
            !shown.contains("<redacted>") && !shown.contains(r#""redacted":"#),
            "{shown}"
        );
        // And the plain record again.
        assert_eq!(record(|_| {}, false), plain);
    }

    #[test]
    fn the_common_tail_is_what_the_tail_fields_write_for_a_plain_api_request() {
        let line = access::parse(LINE).unwrap();
        let request = Request::parse(line.request);
        let origin = Origin {
            file: "access.log",
            line: 1,
        };
        let event = Event::from_request(&line, line.timestamp().unwrap(), &request, None, origin);
        let mut out = Vec::new();
        write_tail_fields(
            &mut Fields {
                out: &mut out,
                first: false,
            },
            &event,
            false,
        );
        assert_eq!(String::from_utf8(out).unwrap(), COMMON_TAIL);
        let written = record(|_| {}, false);
        assert!(written.contains(COMMON_TAIL), "{written}");
        // Anything else to tell: the fields are written one by one, the common tail is not.
        let written = record(|e| e.program = Some("qm".into()), false);
        assert!(written.contains(r#","program":"qm","#), "{written}");
        assert!(!written.contains(COMMON_TAIL), "{written}");
    }

    proptest::proptest! {
        /// A run from the kept ones is the run written afresh, whatever came before: more
        /// different ones than are kept, repeats, values to escape, values too long to keep.
        #[test]
        fn a_kept_who_run_is_the_one_written_afresh(
            whos in proptest::collection::vec(
                (
                    proptest::option::of(proptest::sample::select(vec!["pve1", "pve2"])),
                    proptest::option::of(proptest::collection::vec(
                        proptest::prop_oneof![proptest::strategy::Just(b'1'), proptest::arbitrary::any::<u8>()],
                        0..4,
                    )),
                    proptest::option::of(proptest::prop_oneof![
                        proptest::collection::vec(proptest::prop_oneof![proptest::strategy::Just(b'@'), proptest::strategy::Just(b'!'), proptest::strategy::Just(b'a')], 0..6),
                        proptest::collection::vec(proptest::strategy::Just(b'x'), 250..300),
                    ]),
                ),
                1..60,
            ),
        ) {
            for (node, client, user) in &whos {
                let (client, user) = (client.as_deref(), user.as_deref());
                let mut kept = Vec::new();
                push_who(&mut kept, *node, client, user);
                let mut afresh = Vec::new();
                write_who(&mut afresh, *node, client, user);
                proptest::prop_assert_eq!(kept, afresh);
            }
        }
    }

    #[test]
    fn an_outcome_is_written_as_its_name() {
        for outcome in [
            Outcome::Success,
            Outcome::Failure,
            Outcome::Unknown,
            Outcome::Pending,
            Outcome::NotExecuted,
        ] {
            let written = record(|e| e.outcome = outcome, false);
            let field = format!(r#","outcome":"{}","#, outcome.name());
            assert!(written.contains(&field), "{written}");
        }
    }
}
