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
struct Record<'a> {
    /// What the record is about: `request` (a logged request, or a spool event alone), `task` (a
    /// task no logged request started); the follow-up records say `task_end`.
    event: &'static str,
    time: String,
    node: Option<&'a str>,
    source_ip: Option<Cow<'a, str>>,
    user: Option<Cow<'a, str>>,
    token: Option<Cow<'a, str>>,
    method: Option<Cow<'a, str>>,
    path: Option<Cow<'a, str>>,
    api_format: Option<Cow<'a, str>>,
    class: &'static str,
    template: Option<&'static str>,
    action: Option<&'static str>,
    object: Option<ObjectRecord<'a>>,
    params: Params<'a>,
    params_source: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    redacted: Vec<Cow<'a, str>>,
    /// Parameters of the spool body that the endpoint's PVE 9 schema does not have (a newer
    /// PVE, or a forged event): kept in `params`, listed here, and the call is not replayable.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    unknown_params: Vec<&'a str>,
    http_status: Option<u16>,
    bytes: Option<u64>,
    outcome: &'static str,
    /// The task the request started (for class `task`, the task itself).
    task: Option<TaskRecord<'a>>,
    pvesh: Option<String>,
    argv: Option<Vec<Cow<'a, str>>>,
    /// Why the pvesh form would not repeat the request (a websocket's ticket check, an upload,
    /// a path or handler PVE 9 does not have, a pvesh output option); null when it would.
    not_replayable: Option<&'a str>,
    /// The request line of requests outside the API (static files, CONNECT, unparsable lines),
    /// where it is the only record; null for API calls, which method, path and params describe.
    request: Option<Cow<'a, str>>,
    /// `api` (a request) or `cli` (a command on the node's shell, from the journal); null
    /// where no source tells (a task without a request).
    origin: Option<&'static str>,
    /// The program of a `cli` event (`qm`, `pct`, `vzdump`…).
    program: Option<&'a str>,
    /// The process that did it, when a source tells: `{"name", "pid"}`.
    process: Option<ProcessRecord<'a>>,
    /// What the journal said of a login: `{"kind", "reason"}`.
    auth: Option<AuthRecord<'a>>,
    /// What the request changed in /etc/pve (follow with it): `[{"file", "section", "key",
    /// "old", "new"}]`; absent when nothing was seen.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    changes: Vec<changes::ChangeRecord<'a>>,
    /// A cluster read: `{"to": "pve2", "hop": {"file", "line"}}` for a request whose hop on
    /// another node was folded into it, `{"from": "pve1", "origin_read": false}` for a hop
    /// shown on its own; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    proxy: Option<ProxyRecord<'a>>,
    source: SourceRecord<'a>,
}

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
struct ProcessRecord<'a> {
    name: &'a str,
    pid: Option<u32>,
}

#[derive(Serialize)]
struct AuthRecord<'a> {
    kind: &'static str,
    reason: Option<Cow<'a, str>>,
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

/// Parameters as a JSON object; a key given more than once becomes an array of its values, in
/// order, so no value is lost to a duplicate key.
struct Params<'a> {
    params: &'a [Param<'a>],
    /// The spool's own form of the parameters, when they came from there: arrays and nested
    /// objects are shown as the JSON they were.
    body: Option<&'a serde_json::Map<String, serde_json::Value>>,
    show_secrets: bool,
}

impl Serialize for Params<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if let Some(body) = self.body {
            for (key, value) in body {
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
                        // A string, or an array of strings: each as its option says (its
                        // shapes, and the parts its name makes secret).
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
            return map.end();
        }
        let all = self.params;
        for (i, p) in all.iter().enumerate() {
            if all[..i].iter().any(|q| q.key == p.key) {
                continue; // already written with the first occurrence
            }
            let values: Vec<Cow<'_, str>> = all[i..]
                .iter()
                .filter(|q| q.key == p.key)
                .map(|q| match &q.redaction {
                    Redaction::None => text(&q.value),
                    _ if self.show_secrets => text(&q.value),
                    Redaction::Whole => Cow::Borrowed(REDACTED),
                    r => Cow::Owned(text(&r.apply(&q.value, REDACTED.as_bytes())).into_owned()),
                })
                .collect();
            if values.len() == 1 {
                map.serialize_entry(&text(&p.key), &values[0])?;
            } else {
                map.serialize_entry(&text(&p.key), &values)?;
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

/// Appends the event's JSON record and a newline.
pub(crate) fn push_record(out: &mut Vec<u8>, event: &Event<'_>, show_secrets: bool, pretty: bool) {
    let (user, token) = event.user_and_token();
    let words = pvesh::argv(event);
    let replayable = words
        .as_deref()
        .is_some_and(|w| pvesh::replayable(w, show_secrets));
    let pvesh_line = words.as_deref().filter(|_| replayable).map(|w| {
        let mut line = Vec::new();
        pvesh::push_command(&mut line, w, show_secrets);
        // The line is ASCII or valid UTF-8 nearly always: taken as it is, not copied.
        String::from_utf8(line)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    });
    let argv = words.as_deref().map(|w| {
        w.iter()
            .map(|word| match word.text(show_secrets, REDACTED.as_bytes()) {
                Cow::Borrowed(b) => text(b),
                Cow::Owned(b) => Cow::Owned(text(&b).into_owned()),
            })
            .collect()
    });
    let diffs: Vec<crate::source::etc_pve::diff::Change> = event
        .file_changes
        .iter()
        .flat_map(|c| changes::changes_of(c, show_secrets))
        .collect();
    let record = Record {
        event: if event.class == Class::Task {
            "task"
        } else {
            "request"
        },
        time: utc(event.time),
        node: event.node,
        source_ip: event.client.map(text),
        user: user.map(text),
        token: token.map(text),
        method: event.method.map(text),
        path: event.path.as_deref().map(text),
        api_format: event.api_format.map(text),
        class: event.class.name(),
        template: event.template,
        action: event.endpoint.and_then(|e| e.action()),
        object: event.object.as_ref().map(|o| ObjectRecord {
            kind: o.kind,
            id: text(&o.id),
            name: matches!(o.kind, "qemu" | "lxc" | "vmid").then_some(o.name.as_deref()),
        }),
        params: Params {
            params: &event.params,
            body: event.body.map(|b| &b.params),
            show_secrets,
        },
        params_source: event.params_source.name(),
        redacted: if show_secrets {
            Vec::new()
        } else {
            let mut names: Vec<Cow<'_, str>> = Vec::new();
            for p in event.params.iter().filter(|p| p.redaction.any()) {
                let name = text(&p.key);
                if !names.contains(&name) {
                    names.push(name);
                }
            }
            names
        },
        unknown_params: event.unknown_params(),
        http_status: event.http_status,
        bytes: event.bytes,
        outcome: event.outcome.name(),
        task: event.task.as_ref().map(TaskRecord::new),
        pvesh: pvesh_line,
        not_replayable: event.not_replayable.as_deref(),
        argv,
        request: (event.api_format.is_none() && event.class != Class::Task)
            .then(|| Cow::Owned(text(&event.request_summary(show_secrets)).into_owned())),
        origin: event.via.map(|via| match via {
            Via::Api => "api",
            Via::Cli => "cli",
        }),
        program: event.program.as_deref(),
        process: event.process.as_ref().map(|p| ProcessRecord {
            name: &p.name,
            pid: p.pid,
        }),
        auth: event.auth.as_ref().map(|a| AuthRecord {
            kind: a.kind,
            reason: a.reason.as_deref().map(Cow::Borrowed),
        }),
        changes: changes::records(&diffs),
        proxy: event.proxy.as_ref().map(ProxyRecord::new),
        source: SourceRecord {
            file: event.origin.file,
            line: (event.origin.line > 0).then_some(event.origin.line),
        },
    };
    push_json(out, &record, pretty);
}
