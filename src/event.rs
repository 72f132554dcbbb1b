//! The event: one request with everything pverec knows about it, the single record that every
//! output format renders.
//!
//! Building an event is where the sources meet the API schema: the decoded path is matched to a
//! template (giving the action and the object acted on), query parameters that only repeat a path
//! value are dropped, secret parameters are marked, and the outcome is judged from what the log
//! can tell. The event keeps raw bytes (a log is not guaranteed to be UTF-8); each renderer
//! decides how to show them.

use std::borrow::Cow;
use std::num::NonZeroU64;
use std::rc::Rc;

use crate::memo::Memo;

use jiff::Timestamp;

use crate::api::{self, Endpoint, PathMatch};
use crate::request::{Class, Request};
use crate::response;
use crate::secret::{self, Redaction};
use crate::source::access::{self, Line};
use crate::source::spool::{self, SpoolEvent};
use crate::source::task::{self, State, Task};

/// Where an event came from: shown in JSON as `{"file": …, "line": …}`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origin<'a> {
    pub(crate) file: &'a str,
    pub(crate) line: u64,
}

/// One request parameter, decoded.
#[derive(Debug, Clone)]
pub(crate) struct Param<'a> {
    pub(crate) key: Cow<'a, [u8]>,
    pub(crate) value: Cow<'a, [u8]>,
    /// What of the value is secret: all of it (schema flag, or a secret-looking name
    /// off-schema), or the parts that have a secret's shape ([`secret`]).
    pub(crate) redaction: Redaction,
}

impl<'a> Param<'a> {
    /// A parameter of this endpoint (or of an unknown one), its secrecy judged by the schema
    /// first and by its name otherwise, then by the shape of its value.
    fn new(endpoint: Option<&Endpoint>, key: Cow<'a, [u8]>, value: Cow<'a, [u8]>) -> Param<'a> {
        let redaction = if Param::secret_by_name(endpoint, &key) {
            Redaction::Whole
        } else if endpoint
            .and_then(|e| e.param(&key))
            .is_some_and(|p| p.has_secret_parts())
        {
            secret::of_secret_parts(&value)
        } else {
            Redaction::of_value(&value)
        };
        Param {
            key,
            value,
            redaction,
        }
    }

    fn secret_by_name(endpoint: Option<&Endpoint>, key: &[u8]) -> bool {
        match endpoint.and_then(|e| e.param(key)) {
            Some(p) => p.is_secret(),
            None => api::secret_by_name(key),
        }
    }
}

/// Where the parameters of an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParamsSource {
    /// The URL's query string: complete for GET and DELETE, which cannot have a body.
    Query,
    /// The recorder spool: query and body, decoded, as pveproxy handed them to the handler.
    Spool,
    /// The journal: what qemu-server logged of a VM change (`update VM N: -key value …`).
    Journal,
    /// The task's own log: a backup job's first line (`starting new backup job: vzdump …`).
    TaskLog,
    /// Rebuilt from the change the request made in `/etc/pve` (follow): what the resulting
    /// state says was asked, not the request's own words ([`crate::join::config`]).
    Config,
    /// No source: a POST or PUT whose body access.log does not record.
    None,
}

impl ParamsSource {
    pub(crate) fn name(self) -> &'static str {
        match self {
            ParamsSource::Query => "query",
            ParamsSource::Spool => "spool",
            ParamsSource::Journal => "journal",
            ParamsSource::TaskLog => "task_log",
            ParamsSource::Config => "config",
            ParamsSource::None => "none",
        }
    }
}

/// Whether the request did what it asked, as far as the sources tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    Failure,
    /// The request was accepted but its result is elsewhere: `/api2/extjs` reports errors as
    /// HTTP 200, and a task-starting call's result is the task's.
    Unknown,
    /// Its task is still running.
    Pending,
    /// It never ran: pveproxy redirected it to HTTPS (301, 308).
    NotExecuted,
}

impl Outcome {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Unknown => "unknown",
            Outcome::Pending => "pending",
            Outcome::NotExecuted => "not_executed",
        }
    }

    /// A task's outcome: `OK` and `WARNINGS: N` succeeded, any other status failed.
    pub(crate) fn of_task(task: &Task) -> Outcome {
        match &task.state {
            State::Running => Outcome::Pending,
            State::Finished {
                status: Some(status),
                ..
            } if !task::status_is_error(status) => Outcome::Success,
            State::Finished { .. } => Outcome::Failure,
        }
    }
}

/// The object acted on, from the path template: `{"type": "qemu", "id": "100"}`.
#[derive(Debug, Clone)]
pub(crate) struct Object<'a> {
    pub(crate) kind: &'static str,
    pub(crate) id: Cow<'a, [u8]>,
    /// A guest's name (`/etc/pve`), when known.
    pub(crate) name: Option<String>,
}

/// What the journal tells of a login (or of a refused ticket).
#[derive(Debug, Clone)]
pub(crate) struct Auth {
    /// `login`, `renewal`, `console`, `password`, `openid` or `ticket` (a refused ticket).
    pub(crate) kind: &'static str,
    /// Why it failed, as PVE said it.
    pub(crate) reason: Option<String>,
}

/// The process that did the work, when a source tells it: "process name and ID".
#[derive(Debug, Clone)]
pub(crate) struct Process {
    pub(crate) name: String,
    pub(crate) pid: Option<u32>,
}

/// What the journal tells of an event that has no log line: when, where, who, which process.
pub(crate) struct Told<'a> {
    pub(crate) time: Timestamp,
    pub(crate) node: Option<&'a str>,
    pub(crate) user: Option<&'a str>,
    pub(crate) process: Process,
    pub(crate) origin: Origin<'a>,
}

/// Where a change was made from, when it was not a logged API call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    /// A request in access.log (or the spool).
    Api,
    /// A command on the node's shell (`qm set`, `vzdump`…), known from the journal.
    Cli,
}

/// One request, joined with what the schema says about it.
pub(crate) struct Event<'a> {
    pub(crate) time: Timestamp,
    pub(crate) node: Option<&'a str>,
    pub(crate) client: Option<&'a [u8]>,
    /// The user or token id as logged (`alice@pve!ci`).
    pub(crate) user: Option<&'a [u8]>,
    pub(crate) method: Option<&'a [u8]>,
    /// The decoded path: without `/api2/<fmt>` and normalised (`/nodes/pve1`) for API calls, as
    /// requested for other paths; `None` when the request line has no path.
    pub(crate) path: Option<Cow<'a, [u8]>>,
    pub(crate) api_format: Option<&'a [u8]>,
    pub(crate) class: Class,
    pub(crate) template: Option<&'static str>,
    pub(crate) endpoint: Option<&'static Endpoint>,
    pub(crate) object: Option<Object<'a>>,
    pub(crate) params: Vec<Param<'a>>,
    pub(crate) params_source: ParamsSource,
    /// The logged HTTP status; `None` for what has no log line (a task alone, a spool event
    /// alone).
    pub(crate) http_status: Option<u16>,
    pub(crate) bytes: Option<u64>,
    pub(crate) outcome: Outcome,
    /// The task the request started (or, for class `task`, the task itself).
    pub(crate) task: Option<Task>,
    /// The spool event that gave the parameters, for their JSON form (arrays, nested objects).
    pub(crate) body: Option<&'a SpoolEvent>,
    /// Why running the pvesh form again would not do what the request did, if so.
    pub(crate) not_replayable: Option<Cow<'static, str>>,
    /// The raw request line. It holds the query string with any secrets in it, so renderers
    /// show it only through [`Event::request_summary`].
    request: &'a [u8],
    pub(crate) origin: Origin<'a>,
    /// A login's outcome and reason, from the journal.
    pub(crate) auth: Option<Auth>,
    pub(crate) process: Option<Process>,
    /// API or shell; `None` where no source tells (a task without a request).
    pub(crate) via: Option<Via>,
    /// The program, for work done on the shell.
    pub(crate) program: Option<String>,
    /// What the request changed in `/etc/pve` (follow with `--etc-pve`): the files, before and
    /// after ([`crate::join::changes`]).
    pub(crate) file_changes: Vec<crate::source::etc_pve::watch::FileChange>,
    /// A cluster read: the request was proxied to or from another node
    /// ([`crate::join::hops`]).
    pub(crate) proxy: Option<crate::join::hops::Proxy>,
    /// The memo's entry for the request this event was joined from, if any: what renderers may
    /// reuse while [`Joined::describes`] the event.
    pub(crate) joined: Option<Rc<Joined>>,
}

/// What [`Event::join_schema`] and [`Event::replay_obstacle`] make of an API request (of any
/// other request line, only its path): path, template, endpoint, object, parameters and why it
/// would not replay. It depends on the request alone (nothing a later join sets is read), and a
/// log repeats the same few requests (the web UI's polling) most of the time: so it is kept,
/// owned, for the requests seen ([`crate::memo`]), and a request seen before is joined with a
/// copy. Matching the path against the schema, splitting and decoding the query and judging each
/// parameter's secrecy were a third of `convert --all -f json`.
///
/// Every field of [`Event`] that the record's request runs ([`Joined::rendered`]) are made of
/// must be compared by [`Joined::describes`]: a new one added to the runs must be added there.
pub(crate) struct Joined {
    /// The request line: what the event's `request` must be for the rendered fields to be its,
    /// and what the [`Piece`]s are pieces of.
    line: Box<[u8]>,
    method: Option<Piece>,
    api_format: Option<Piece>,
    class: Class,
    path: Option<Piece>,
    template: Option<&'static str>,
    endpoint: Option<&'static Endpoint>,
    /// Its kind and its id.
    object: Option<(&'static str, Piece)>,
    params: Vec<(Piece, Piece, Redaction)>,
    params_source: ParamsSource,
    not_replayable: Option<Cow<'static, str>>,
    /// What a renderer made of the request's part of the record, kept for the next event of
    /// the same request that [`Joined::describes`]: the JSON record's two runs of fields that
    /// depend on the request alone, with whether secrets were shown.
    pub(crate) rendered: std::cell::OnceCell<Rendered>,
}

/// The JSON record's fields that the request alone decides, as rendered for [`Joined`].
pub(crate) struct Rendered {
    pub(crate) show_secrets: bool,
    /// From `method` to `unknown_params`, after a comma.
    pub(crate) request: Box<[u8]>,
    /// From `pvesh` to `request`, after a comma.
    pub(crate) replay: Box<[u8]>,
}

/// A part of a joined request: where it is in the request line (the method, a path nothing
/// had to decode, a plain query parameter), or its own bytes. What is in the line is borrowed
/// from the next line of the same request, with neither a copy nor an allocation.
enum Piece {
    In(std::ops::Range<usize>),
    Own(Box<[u8]>),
}

impl Piece {
    /// `part` as a piece of `line`: where it is when its bytes are the line's own.
    fn of(part: &[u8], line: &[u8]) -> Piece {
        match crate::memo::within(part, line) {
            Some(range) => Piece::In(range),
            None => Piece::Own(part.into()),
        }
    }

    /// The piece, of `line`: a request line with the bytes of `kept`, the one it was taken
    /// from (a copy of `kept`'s, should it be shorter, which the memo's serials rule out).
    fn get<'a>(&self, line: &'a [u8], kept: &[u8]) -> Cow<'a, [u8]> {
        match self {
            Piece::In(range) => match line.get(range.clone()) {
                Some(piece) => Cow::Borrowed(piece),
                None => Cow::Owned(kept[range.clone()].to_vec()),
            },
            Piece::Own(bytes) => Cow::Owned(bytes.to_vec()),
        }
    }

    /// Whether `bytes` are the piece, of `line`: at once when they are the very bytes of the
    /// line there (as a request joined from the memo has them).
    fn is(&self, bytes: &[u8], line: &[u8]) -> bool {
        match self {
            Piece::In(range) => {
                let piece = &line[range.clone()];
                piece.len() == bytes.len()
                    && (std::ptr::eq(piece.as_ptr(), bytes.as_ptr()) || piece == bytes)
            }
            Piece::Own(own) => **own == *bytes,
        }
    }
}

/// Whether `part` is `piece` (both absent, or the same bytes) of `line`.
fn is_piece(part: Option<&[u8]>, piece: Option<&Piece>, line: &[u8]) -> bool {
    match (part, piece) {
        (None, None) => true,
        (Some(part), Some(piece)) => piece.is(part, line),
        _ => false,
    }
}

impl Joined {
    /// Whether `event` still holds exactly what was joined (no later join changed its
    /// parameters, object or reasons, and no spool body came), so that what depends on those
    /// alone may be taken from [`Joined::rendered`].
    pub(crate) fn describes(&self, event: &Event<'_>) -> bool {
        let line = event.request;
        *line == *self.line
            && is_piece(event.method, self.method.as_ref(), line)
            && is_piece(event.api_format, self.api_format.as_ref(), line)
            && event.class == self.class
            && is_piece(event.path.as_deref(), self.path.as_ref(), line)
            && event.template == self.template
            && event.endpoint.map(std::ptr::from_ref) == self.endpoint.map(std::ptr::from_ref)
            && match (&event.object, &self.object) {
                (None, None) => true,
                (Some(o), Some((kind, id))) => {
                    o.kind == *kind && id.is(&o.id, line) && o.name.is_none()
                }
                _ => false,
            }
            && event.params.len() == self.params.len()
            && event
                .params
                .iter()
                .zip(&self.params)
                .all(|(p, (key, value, redaction))| {
                    key.is(&p.key, line) && value.is(&p.value, line) && p.redaction == *redaction
                })
            && event.params_source == self.params_source
            && event.not_replayable == self.not_replayable
            && event.body.is_none()
    }
}

/// The requests joined so far, by the [`Request::serial`] of their line (see [`crate::memo`]):
/// a line has one from its second time, when it is kept, and so is its join.
#[derive(Default)]
struct SchemaMemo {
    joined: Memo<NonZeroU64, Rc<Joined>>,
}

impl SchemaMemo {
    fn join<'a>(&mut self, event: &mut Event<'a>, req: &Request<'a>) {
        let serial = req.serial().get();
        let known = serial.and_then(|serial| self.joined.read(&serial, Rc::clone));
        if let Some(joined) = known {
            // The same line (the serial says so), so its pieces are this line's: borrowed.
            let line = req.identity();
            event.path = joined
                .path
                .as_ref()
                .map(|path| path.get(line, &joined.line));
            event.template = joined.template;
            event.endpoint = joined.endpoint;
            event.object = joined.object.as_ref().map(|(kind, id)| Object {
                kind,
                id: id.get(line, &joined.line),
                name: None,
            });
            event.params = joined
                .params
                .iter()
                .map(|(key, value, redaction)| Param {
                    key: key.get(line, &joined.line),
                    value: value.get(line, &joined.line),
                    redaction: redaction.clone(),
                })
                .collect();
            event.params_source = joined.params_source;
            event.not_replayable = joined.not_replayable.clone();
            event.joined = Some(joined);
            return;
        }
        if req.is_api() {
            event.join_schema(req);
            event.not_replayable = event.replay_obstacle();
        }
        let Some(serial) = serial else {
            return;
        };
        let line = req.identity();
        // The normalised path and the object's id are owned, built from the path's segments;
        // they are nearly always the line's own path (borrowed by the request), or a piece of
        // it, and are kept as such (an id not found there, or in a decoded path, as its bytes).
        let plain_path = req.plain_path();
        let in_line = match plain_path.as_deref() {
            Some(plain) if Some(plain) == event.path.as_deref() => Some(plain),
            _ => None,
        };
        let id_piece = |id: &[u8]| match in_line
            .and_then(|path| Some((path, memchr::memmem::find(path, id)?)))
        {
            Some((path, at)) => Piece::of(&path[at..at + id.len()], line),
            None => Piece::Own(id.into()),
        };
        let joined = Rc::new(Joined {
            line: line.into(),
            method: event.method.map(|m| Piece::of(m, line)),
            api_format: event.api_format.map(|f| Piece::of(f, line)),
            class: event.class,
            path: event.path.as_deref().map(|path| match in_line {
                Some(plain) => Piece::of(plain, line),
                None => Piece::of(path, line),
            }),
            template: event.template,
            endpoint: event.endpoint,
            object: event.object.as_ref().map(|o| (o.kind, id_piece(&o.id))),
            params: event
                .params
                .iter()
                .map(|p| {
                    (
                        Piece::of(&p.key, line),
                        Piece::of(&p.value, line),
                        p.redaction.clone(),
                    )
                })
                .collect(),
            params_source: event.params_source,
            not_replayable: event.not_replayable.clone(),
            rendered: std::cell::OnceCell::new(),
        });
        event.joined = Some(Rc::clone(&joined));
        self.joined.keep(serial, joined);
    }
}

thread_local! {
    static SCHEMA_MEMO: std::cell::RefCell<SchemaMemo> = std::cell::RefCell::default();
}

/// Empties this thread's memos of joined requests and of parsed lines (by whose numbers joins
/// are kept), so that the next request is parsed and joined afresh: for the checks that a
/// request joined from the memo is the request joined anew.
pub(crate) fn forget_joined() {
    SCHEMA_MEMO.with_borrow_mut(|memo| memo.joined.clear());
    crate::request::forget_shapes();
}

/// How many requests this thread's memo holds.
#[cfg(test)]
fn joined_held() -> usize {
    SCHEMA_MEMO.with_borrow(|memo| memo.joined.len())
}

impl<'a> Event<'a> {
    /// Joins a log line and its decoded request.
    pub(crate) fn from_request(
        line: &Line<'a>,
        time: Timestamp,
        req: &Request<'a>,
        node: Option<&'a str>,
        origin: Origin<'a>,
    ) -> Event<'a> {
        let mut event = Event::unjoined(line, time, req, node, origin);
        event.join_request(req);
        event
    }

    /// A log line and its decoded request, not yet joined ([`Event::join_request`]): the two
    /// steps of [`Event::from_request`], for the caller that builds an event on every line.
    /// Built where that caller keeps it: an event returned once joined (some 700 bytes) was
    /// copied there, a tenth of the join's cost for a request seen before.
    pub(crate) fn unjoined(
        line: &Line<'a>,
        time: Timestamp,
        req: &Request<'a>,
        node: Option<&'a str>,
        origin: Origin<'a>,
    ) -> Event<'a> {
        Event {
            time,
            node,
            client: line.client(),
            user: line.user(),
            method: req.method,
            path: req.plain_path(),
            api_format: req.api_format,
            class: req.class,
            template: None,
            endpoint: None,
            object: None,
            params: Vec::new(),
            params_source: ParamsSource::None,
            http_status: Some(line.status),
            bytes: line.length,
            outcome: Outcome::Unknown,
            task: None,
            body: None,
            not_replayable: None,
            request: line.request,
            origin,
            auth: None,
            process: None,
            via: Some(Via::Api),
            program: None,
            file_changes: Vec::new(),
            proxy: None,
            joined: None,
        }
    }

    /// What [`Event::from_request`] joins: the schema (from the memo, for a request seen
    /// before), then the outcome.
    pub(crate) fn join_request(&mut self, req: &Request<'a>) {
        SCHEMA_MEMO.with_borrow_mut(|memo| memo.join(self, req));
        self.outcome = self.judge_outcome();
    }

    fn join_schema(&mut self, req: &Request<'a>) {
        let segments = req.segments();
        let matched = self.join_path(&segments);
        let method = self.method.unwrap_or_default();
        let query = req.query_params();
        let body_methods = matches!(method, b"POST" | b"PUT");
        self.params_source = if query.is_empty() && body_methods {
            ParamsSource::None
        } else {
            ParamsSource::Query
        };
        self.params = query
            .into_iter()
            .filter(|(key, value)| !repeats_path_value(matched.as_ref(), key, value))
            .map(|(key, value)| Param::new(self.endpoint, key, value))
            .collect();
    }

    /// Sets the normalised path and what the schema says about it (template, endpoint, object);
    /// everything it keeps is owned, whatever the segments borrow from.
    fn join_path<'s>(&mut self, segments: &[&'s [u8]]) -> Option<PathMatch<'s>> {
        let mut path =
            Vec::with_capacity(segments.iter().map(|s| s.len() + 1).sum::<usize>().max(1));
        for s in segments {
            path.push(b'/');
            path.extend_from_slice(s);
        }
        if path.is_empty() {
            path.push(b'/');
        }
        self.path = Some(Cow::Owned(path));

        let matched = api::match_path(segments);
        let method = self.method.unwrap_or_default();
        // A template only counts with a handler for the method: otherwise PVE answers 501 and
        // the request is as generic as a path the schema does not know. Either way its pvesh
        // form would fail, which is said here, where the match is known.
        if let Some(verb) = self.pvesh_verb() {
            self.not_replayable = match &matched {
                Some(m) if m.template.endpoint(method).is_none() => {
                    Some(format!("no {verb} handler for this path in PVE 9").into())
                }
                None => Some("no such path in the PVE 9 API".into()),
                Some(_) => None,
            };
        }
        let matched = matched.filter(|m| m.template.endpoint(method).is_some());
        if let Some(m) = &matched {
            self.template = Some(m.template.path());
            self.endpoint = m.template.endpoint(method);
            self.object = object_of(m).map(|(kind, id)| Object {
                kind,
                id: Cow::Owned(id.to_vec()),
                name: None,
            });
        }
        matched
    }

    /// An event from a spool event alone: its log line never came. The log's fields (status,
    /// size) are unknown; `time` is when pverec read it.
    pub(crate) fn from_spool(
        body: &'a SpoolEvent,
        time: Timestamp,
        node: Option<&'a str>,
        origin: Origin<'a>,
    ) -> Event<'a> {
        let format = body.format.as_deref().unwrap_or("json").as_bytes();
        let mut event = Event::bare(time, node, origin);
        event.client = body
            .client_ip
            .as_deref()
            .map(|c| access::strip_v4_mapped(c.as_bytes()));
        event.user = body.userid.as_deref().map(str::as_bytes);
        event.method = Some(body.method.as_bytes());
        event.api_format = Some(format);
        event.via = Some(Via::Api);
        event.join_line_path(body.method.as_bytes(), format, body.path.as_bytes());
        event.attach_body(body);
        event.not_replayable = event.replay_obstacle().or_else(|| event.unknown_obstacle());
        event
    }

    /// An API path as a request line would carry it, parsed and joined with the schema: the
    /// events that have no log line (from the spool, from the journal) are built through it.
    fn join_line_path(&mut self, method: &[u8], format: &[u8], path: &[u8]) {
        let mut line = method.to_vec();
        line.extend_from_slice(b" /api2/");
        line.extend_from_slice(format);
        // The sources have the decoded path: encoded again where the request line needs it,
        // so that parsing it gives back the same path.
        for &b in path {
            if b == b'%' || b == b'?' || b == b'#' || b <= b' ' {
                line.extend_from_slice(format!("%{b:02X}").as_bytes());
            } else {
                line.push(b);
            }
        }
        line.extend_from_slice(b" HTTP/1.1");
        let req = Request::parse(&line);
        self.class = req.class;
        self.join_path(&req.segments());
    }

    /// A bare event without a log line (from the spool, from the journal): the fields a caller
    /// fills in.
    fn bare(time: Timestamp, node: Option<&'a str>, origin: Origin<'a>) -> Event<'a> {
        Event {
            time,
            node,
            client: None,
            user: None,
            method: None,
            path: None,
            api_format: None,
            class: Class::Other,
            template: None,
            endpoint: None,
            object: None,
            params: Vec::new(),
            params_source: ParamsSource::None,
            http_status: None,
            bytes: None,
            outcome: Outcome::Unknown,
            task: None,
            body: None,
            not_replayable: None,
            request: b"",
            origin,
            auth: None,
            process: None,
            via: None,
            program: None,
            file_changes: Vec::new(),
            proxy: None,
            joined: None,
        }
    }

    /// A change made on the node's shell, known from the journal (`qm set 100 --memory 4096`
    /// logs `<root@pam> update VM 100: -memory 4096` under the identifier `qm`): the API call
    /// it stands for, with the logged parameters.
    pub(crate) fn from_cli(
        told: Told<'a>,
        method: &'static [u8],
        path: &[u8],
        params: Vec<(String, String)>,
    ) -> Event<'a> {
        let Told {
            time,
            node,
            user,
            process,
            origin,
        } = told;
        let mut event = Event::bare(time, node, origin);
        event.user = user.map(str::as_bytes);
        event.method = Some(method);
        event.api_format = Some(b"json");
        event.join_line_path(method, b"json", path);
        event.program = Some(process.name.clone());
        event.process = Some(process);
        event.via = Some(Via::Cli);
        event.attach_journal_params(params);
        event
    }

    /// The call a task's change in `/etc/pve` gives back (follow): the write whose task made
    /// it, with the parameters rebuilt from the change ([`crate::join::config`]).
    pub(crate) fn from_rebuilt(
        time: Timestamp,
        node: Option<&'a str>,
        method: &[u8],
        path: &[u8],
        params: Vec<(String, String)>,
        origin: Origin<'a>,
    ) -> Option<Event<'a>> {
        let method: &'static [u8] = match method {
            b"POST" => b"POST",
            b"PUT" => b"PUT",
            b"DELETE" => b"DELETE",
            _ => return None,
        };
        let mut event = Event::bare(time, node, origin);
        event.method = Some(method);
        event.api_format = Some(b"json");
        event.join_line_path(method, b"json", path);
        event.attach_logged_params(params, ParamsSource::Config);
        Some(event)
    }

    /// A login the journal tells of, without its log line (not read, or none: a console's
    /// ticket check goes to pvedaemon directly).
    pub(crate) fn from_login(
        told: Told<'a>,
        client: Option<&'a str>,
        ok: bool,
        auth: Auth,
    ) -> Event<'a> {
        let Told {
            time,
            node,
            user,
            process,
            origin,
        } = told;
        let mut event = Event::bare(time, node, origin);
        event.user = user.map(str::as_bytes);
        event.client = client.map(|c| access::strip_v4_mapped(c.as_bytes()));
        let path: &[u8] = if auth.kind == "console" {
            b"/access/vncticket"
        } else {
            b"/access/ticket"
        };
        event.method = Some(b"POST");
        event.api_format = Some(b"json");
        event.join_line_path(b"POST", b"json", path);
        event.outcome = if ok {
            Outcome::Success
        } else {
            Outcome::Failure
        };
        event.auth = Some(auth);
        event.process = Some(process);
        event.via = Some(Via::Api);
        event.not_replayable = Some("a login is no action to repeat".into());
        event
    }

    /// Takes the parameters of a VM change from its journal entry, in the entry's order.
    /// `cipassword` is logged as `<hidden>`: it stays redacted, and a replay could not set it.
    pub(crate) fn attach_journal_params(&mut self, params: Vec<(String, String)>) {
        self.attach_logged_params(params, ParamsSource::Journal);
    }

    /// Takes the parameters a log of PVE's wrote down (the journal, a task's log).
    pub(crate) fn attach_logged_params(
        &mut self,
        params: Vec<(String, String)>,
        source: ParamsSource,
    ) {
        let endpoint = self.endpoint;
        let hidden = params.iter().any(|(_, v)| v == "<hidden>");
        self.params = params
            .into_iter()
            .map(|(k, v)| {
                Param::new(
                    endpoint,
                    Cow::Owned(k.into_bytes()),
                    Cow::Owned(v.into_bytes()),
                )
            })
            .collect();
        self.params_source = source;
        if self.api_format.is_some() {
            self.not_replayable = self.replay_obstacle();
        }
        if hidden && self.not_replayable.is_none() {
            self.not_replayable =
                Some("the journal writes cipassword as <hidden>, not its value".into());
        }
    }

    /// A task that no logged request started: class `task`, no pvesh form.
    pub(crate) fn from_task(task: &'a Task, origin: Origin<'a>) -> Event<'a> {
        let upid = &task.upid;
        Event {
            time: Timestamp::from_second(upid.start).unwrap_or_default(),
            node: Some(&upid.node),
            client: None,
            user: Some(upid.user.as_bytes()),
            method: None,
            path: None,
            api_format: None,
            class: Class::Task,
            template: None,
            endpoint: None,
            object: task_object(upid),
            params: Vec::new(),
            params_source: ParamsSource::None,
            http_status: None,
            bytes: None,
            outcome: Outcome::of_task(task),
            task: Some(task.clone()),
            body: None,
            not_replayable: None,
            request: b"",
            origin,
            auth: None,
            process: Some(Process {
                name: "task worker".to_string(),
                pid: Some(upid.pid),
            }),
            via: None,
            program: None,
            file_changes: Vec::new(),
            proxy: None,
            joined: None,
        }
    }

    /// Takes the request's parameters from its spool event: query and body, in the RFC
    /// client's order (sorted keys, one option per array element, nested values as JSON).
    pub(crate) fn attach_body(&mut self, body: &'a SpoolEvent) {
        let endpoint = self.endpoint;
        self.params = spool::options(&body.params)
            .into_iter()
            .map(|(key, value, json)| {
                if !json || Param::secret_by_name(endpoint, key.as_bytes()) {
                    return Param::new(
                        endpoint,
                        Cow::Owned(key.into_bytes()),
                        Cow::Owned(value.into_bytes()),
                    );
                }
                // A nested value: its strings are scanned one by one (their JSON escapes would
                // hide a secret's shape), and a secret-looking key anywhere redacts it whole.
                let nested = body.params.get(&key).is_some_and(holds_secret);
                let (text, redaction) = match serde_json::from_str(&value) {
                    Ok(parsed) => secret::scan_json(&parsed),
                    Err(_) => (value.clone(), Redaction::Whole),
                };
                let redaction = if nested || text != value {
                    Redaction::Whole
                } else {
                    redaction
                };
                Param {
                    key: Cow::Owned(key.into_bytes()),
                    value: Cow::Owned(value.into_bytes()),
                    redaction,
                }
            })
            .collect();
        self.params_source = ParamsSource::Spool;
        self.body = Some(body);
        // What stands in the way of a replay depends on the parameters, now the body's.
        if self.api_format.is_some() {
            self.not_replayable = self.replay_obstacle().or_else(|| self.unknown_obstacle());
        }
    }

    /// The parameters of the spool body that the endpoint's schema does not have, in the
    /// body's (sorted) order; none when the body is not from the spool or the schema does not
    /// know the endpoint. pveproxy refuses a parameter its schema lacks (HTTP 400, pve-common
    /// `src/PVE/JSONSchema.pm` `validate`: "property is not defined in schema"), so a body that
    /// has one belongs to a newer PVE than pverec's schema or was forged in the spool (which
    /// www-data writes): it is kept and shown, marked (`unknown_params` in JSON), and never
    /// replayed ([`Event::unknown_obstacle`]).
    pub(crate) fn unknown_params(&self) -> Vec<&'a str> {
        let (Some(body), Some(endpoint)) = (self.body, self.endpoint) else {
            return Vec::new();
        };
        if endpoint.action().is_none() {
            return Vec::new();
        }
        body.params
            .keys()
            .filter(|key| endpoint.param(key.as_bytes()).is_none())
            .map(String::as_str)
            .collect()
    }

    /// Why a spool body with parameters off the schema is not replayed.
    fn unknown_obstacle(&self) -> Option<Cow<'static, str>> {
        let unknown = self.unknown_params();
        if unknown.is_empty() {
            return None;
        }
        Some(
            format!(
                "the spool body has parameters that are not in the PVE 9 schema of this call \
                 ({}): a newer PVE, or a forged event",
                unknown.join(", ")
            )
            .into(),
        )
    }

    /// Joins the task the request started: its outcome is the request's, unless the request
    /// was refused (the task is then someone else's and is not joined).
    pub(crate) fn attach_task(&mut self, task: Task) {
        if self.may_have_run() {
            self.outcome = Outcome::of_task(&task);
        }
        self.task = Some(task);
    }

    /// The node a task of this request runs on: the path's `{node}` when it has one, except
    /// `localhost`, which is the node that served the request (pve-manager `PVE/HTTPServer.pm`
    /// does not proxy it; its tasks carry the real node name).
    ///
    /// A call that pveproxy does not proxy (no `proxyto`, [`Endpoint::proxied`]) runs on the
    /// node that was asked, whatever node its path names: none here, the serving node is the
    /// event's own.
    pub(crate) fn task_node(&self) -> Option<&[u8]> {
        if self.endpoint.is_some_and(|e| !e.proxied()) {
            return None;
        }
        self.path_node()
    }

    /// The node the path names (`/nodes/{node}/…`), except `localhost`.
    pub(crate) fn path_node(&self) -> Option<&[u8]> {
        let path = self.path.as_deref()?;
        let rest = path.strip_prefix(b"/nodes/")?;
        let node = rest.split(|&b| b == b'/').next().unwrap_or(rest);
        (node != b"localhost").then_some(node)
    }

    /// Whether the call may have run: answered, or left without an answer (a proxy timeout, a
    /// client that went away), or it has no log line.
    pub(crate) fn may_have_run(&self) -> bool {
        match self.http_status {
            None => true,
            Some(status) => matches!(
                response::status(status, self.bytes),
                response::Status::Answered | response::Status::Unanswered
            ),
        }
    }

    fn judge_outcome(&self) -> Outcome {
        let Some(status) = self.http_status else {
            return Outcome::Unknown;
        };
        match response::status(status, self.bytes) {
            response::Status::Redirected => return Outcome::NotExecuted,
            response::Status::Unanswered => return Outcome::Unknown,
            response::Status::Failed => return Outcome::Failure,
            response::Status::Answered => {}
        }
        let errors_as_200 = matches!(self.api_format, Some(b"extjs" | b"htmljs"));
        // A task-starting call (even one that does not return its UPID, like vztemplate) has
        // the task's result, not the HTTP status, as its outcome.
        let result_in_task = self
            .endpoint
            .is_some_and(|e| e.returns_upid() || !e.task_types().is_empty());
        if !errors_as_200 {
            return if result_in_task {
                Outcome::Unknown
            } else {
                Outcome::Success
            };
        }
        self.judge_by_length(result_in_task)
    }

    /// An extjs/htmljs answer, always HTTP 200: its length tells success from error where the
    /// endpoint's answer has a known shape (see [`response`]).
    fn judge_by_length(&self, result_in_task: bool) -> Outcome {
        let (Some(endpoint), Some(format), Some(length)) =
            (self.endpoint, self.api_format, self.bytes)
        else {
            return Outcome::Unknown;
        };
        let Some((null_answer, _)) = response::success_shape(format) else {
            return Outcome::Unknown;
        };
        if length > response::COMPRESSED_ABOVE {
            return Outcome::Unknown;
        }
        match endpoint.returns() {
            api::Returns::Null if length == null_answer => {
                if result_in_task {
                    Outcome::Unknown
                } else {
                    Outcome::Success
                }
            }
            api::Returns::Null => Outcome::Failure,
            // A UPID answer, or null (a call that waited for its task, which ended well).
            api::Returns::Upid if length == null_answer => Outcome::Success,
            api::Returns::Upid if self.upid_may_fit(length) => Outcome::Unknown,
            api::Returns::Upid => Outcome::Failure,
            api::Returns::UpidObject | api::Returns::Data | api::Returns::Unknown => {
                Outcome::Unknown
            }
        }
    }

    /// The JSON string length the task's UPID must have for this answer, when the answer can
    /// only be a UPID or an error before any task was forked: the join takes only a task whose
    /// UPID fits. `None` where the length tells nothing, or the call may answer an error after
    /// its task ran (a `delay`/`background_delay` parameter: the call waits for the task).
    pub(crate) fn upid_len(&self) -> Option<usize> {
        let endpoint = self.endpoint?;
        if endpoint.returns() != api::Returns::Upid
            || endpoint.param(b"delay").is_some()
            || endpoint.param(b"background_delay").is_some()
            || self.http_status != Some(200)
        {
            return None;
        }
        let length = self.bytes.filter(|&l| l <= response::COMPRESSED_ABOVE)?;
        let (null_answer, overhead) = response::success_shape(self.api_format?)?;
        if length == null_answer {
            return None;
        }
        usize::try_from(length.checked_sub(overhead)?).ok()
    }

    /// Whether a UPID answer of `length` bytes can be one of this request's tasks: exactly,
    /// when every task type it starts is named by the guest id of the path; else at least as
    /// long as the shortest UPID of its node, types and user.
    fn upid_may_fit(&self, length: u64) -> bool {
        let (Some(endpoint), Some(format)) = (self.endpoint, self.api_format) else {
            return true;
        };
        let Some((_, overhead)) = response::success_shape(format) else {
            return true;
        };
        let Some(upid) = length
            .checked_sub(overhead)
            .and_then(|l| usize::try_from(l).ok())
        else {
            return false;
        };
        let user = self.user.unwrap_or_default();
        let Some(node) = self.task_node().or(self.node.map(str::as_bytes)) else {
            return true;
        };
        let guest = self
            .object
            .as_ref()
            .filter(|o| matches!(o.kind, "qemu" | "lxc"))
            .map(|o| o.id.as_ref());
        let kinds = endpoint.task_types();
        match guest {
            Some(vmid) if !kinds.is_empty() && kinds.iter().all(|k| task_id_is_vmid(k)) => kinds
                .iter()
                .any(|k| response::upid_lengths(node, k, vmid, user).contains(&upid)),
            _ => kinds
                .iter()
                .any(|k| upid >= response::upid_lengths(node, k, b"", user)[0]),
        }
    }

    /// The target of a `CONNECT` line (spiceproxy: `pvespiceproxy:…`), which holds a ticket:
    /// for the session join only, never shown.
    pub(crate) fn connect_target(&self) -> Option<&'a [u8]> {
        if self.method != Some(b"CONNECT") {
            return None;
        }
        let rest = self.request.strip_prefix(b"CONNECT ")?;
        rest.split(|&b| b == b' ').next()
    }

    /// The pvesh verb for this request's method, if it has one.
    pub(crate) fn pvesh_verb(&self) -> Option<&'static str> {
        if !matches!(
            self.class,
            Class::Write | Class::Read | Class::Auth | Class::Console
        ) {
            return None;
        }
        match self.method? {
            b"GET" => Some("get"),
            b"POST" => Some("create"),
            b"PUT" => Some("set"),
            b"DELETE" => Some("delete"),
            _ => None,
        }
    }

    /// Whether the request carried parameters in a body that no source recorded.
    pub(crate) fn body_missing(&self) -> bool {
        matches!(self.method, Some(b"POST" | b"PUT"))
            && self.api_format.is_some()
            && !matches!(
                self.params_source,
                ParamsSource::Spool
                    | ParamsSource::Journal
                    | ParamsSource::TaskLog
                    | ParamsSource::Config
            )
    }

    /// What to show of the request line where it is the only record (no pvesh form): the line
    /// itself for requests outside the API (its secrets redacted: [`secret::redact_request_line`]),
    /// method and path without the query for API calls, whose query may hold secrets
    /// (`vncticket`, `password`). With `show_secrets` a line outside the API is shown as it is.
    pub(crate) fn request_summary(&self, show_secrets: bool) -> Cow<'a, [u8]> {
        match (self.api_format, self.method, &self.path) {
            (Some(format), Some(method), Some(path)) => {
                let mut line = method.to_vec();
                line.extend_from_slice(b" /api2/");
                line.extend_from_slice(format);
                line.extend_from_slice(path);
                Cow::Owned(line)
            }
            _ if show_secrets => Cow::Borrowed(self.request),
            _ => secret::redact_request_line(self.request),
        }
    }

    /// Why the pvesh form of this API call would not repeat it, if so.
    fn replay_obstacle(&self) -> Option<Cow<'static, str>> {
        let last = self
            .path
            .as_deref()
            .and_then(|p| p.rsplit(|&b| b == b'/').next())
            .unwrap_or_default();
        if matches!(last, b"vncwebsocket" | b"mtunnelwebsocket") {
            return Some("a websocket upgrade checks a ticket, it is no action".into());
        }
        if last == b"upload" && self.method == Some(b"POST") {
            return Some("an upload needs the uploaded file".into());
        }
        if self.endpoint.is_none() {
            // A path without this method's handler, or unknown to the schema: said by
            // `join_path`, which matched it.
            return self.not_replayable.clone();
        }
        // pvesh takes these as its own output options, whatever the method's schema says
        // (pve-common `src/PVE/JSONSchema.pm` `get_options`).
        const OUTPUT_OPTIONS: [&[u8]; 5] = [
            b"output-format",
            b"noheader",
            b"noborder",
            b"quiet",
            b"human-readable",
        ];
        if let Some(p) = self
            .params
            .iter()
            .find(|p| OUTPUT_OPTIONS.contains(&p.key.as_ref()))
        {
            return Some(
                format!(
                    "pvesh takes --{} as its own output option",
                    String::from_utf8_lossy(&p.key)
                )
                .into(),
            );
        }
        let endpoint = self.endpoint?;
        self.params.iter().find_map(|p| {
            let key = String::from_utf8_lossy(&p.key);
            match endpoint.param(&p.key) {
                Some(param) if param.is_boolean() => {
                    let from_json = self
                        .body
                        .and_then(|b| b.params.get(key.as_ref()))
                        .is_some_and(serde_json::Value::is_boolean);
                    let read = pvesh_boolean(&p.value).filter(|_| !from_json)?;
                    let value = String::from_utf8_lossy(&p.value);
                    Some(
                        format!(
                            "pvesh reads --{key}={value:?} as {read}, the API takes only 0 or 1"
                        )
                        .into(),
                    )
                }
                Some(_) => None,
                None => {
                    let names: Vec<&str> = endpoint
                        .option_names()
                        .chain(PVESH_OPTIONS)
                        .chain(
                            OUTPUT_OPTIONS
                                .iter()
                                .filter_map(|o| std::str::from_utf8(o).ok()),
                        )
                        .collect();
                    let other = getopt_match(&names, &p.key)?;
                    Some(format!("pvesh reads --{key} as --{other}, not in the schema").into())
                }
            }
        })
    }
}

/// pvesh's own options besides the method's (pve-manager `PVE/CLI/pvesh.pm`
/// `$our_properties`).
const PVESH_OPTIONS: [&str; 2] = ["api_path", "noproxy"];

/// What pvesh makes of a boolean option's value when it differs from what the API takes
/// (exactly `0` or `1`, pve-common `src/PVE/JSONSchema.pm` `check_type`): an empty value is 1,
/// `on`/`yes`/`true` and `off`/`no`/`false` in any case are 1 and 0 (`get_options`,
/// `parse_boolean`). `None` when it is the same, or when pvesh refuses the value too.
fn pvesh_boolean(value: &[u8]) -> Option<u8> {
    if value.is_empty() {
        return Some(1);
    }
    let is = |words: [&[u8]; 3]| words.iter().any(|w| value.eq_ignore_ascii_case(w));
    if is([b"on", b"yes", b"true"]) {
        Some(1)
    } else if is([b"off", b"no", b"false"]) {
        Some(0)
    } else {
        None
    }
}

/// The option Getopt::Long (as pvesh configures it: `ignore_case` and `auto_abbrev` on, the
/// defaults) takes `--key` for, when that is not `key` itself: one spelled the same in another
/// case, else the one option that starts with it. An indexed name (`net[n]`) stands for the
/// options `net0`, `net1`…: it is matched with its index, and a prefix of it is ambiguous
/// (which pvesh refuses, as the API refused the unknown name).
fn getopt_match(names: &[&str], key: &[u8]) -> Option<String> {
    if key.is_empty() || names.iter().any(|n| n.as_bytes() == key) {
        return None;
    }
    let starts_ci = |text: &[u8], prefix: &[u8]| {
        text.len() >= prefix.len() && text[..prefix.len()].eq_ignore_ascii_case(prefix)
    };
    let mut prefixed = 0;
    let mut abbreviated = None;
    for &n in names {
        let name = n.as_bytes();
        if let Some(base) = name.strip_suffix(b"[n]") {
            let index = key.get(base.len()..).unwrap_or_default();
            if starts_ci(key, base) && !index.is_empty() && index.iter().all(u8::is_ascii_digit) {
                let index = String::from_utf8_lossy(index);
                return Some(format!("{}{index}", String::from_utf8_lossy(base)));
            }
            if starts_ci(base, key) {
                prefixed += 2;
            }
        } else if name.eq_ignore_ascii_case(key) {
            return Some(n.to_string());
        } else if starts_ci(name, key) {
            prefixed += 1;
            abbreviated = Some(n);
        }
    }
    abbreviated.filter(|_| prefixed == 1).map(str::to_string)
}

/// Whether a JSON body value holds a secret-looking key at any depth (`{"auth": {"password":
/// …}}`): the whole value is then redacted.
fn holds_secret(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Object(map) => map
            .iter()
            .any(|(k, v)| api::secret_by_name(k.as_bytes()) || holds_secret(v)),
        serde_json::Value::Array(items) => items.iter().any(holds_secret),
        _ => false,
    }
}

/// A parameter whose value only repeats what the path already says (`node=pve1` on
/// `/nodes/pve1/…`): pvesh takes it from the path and refuses it as an option.
fn repeats_path_value(matched: Option<&PathMatch<'_>>, key: &[u8], value: &[u8]) -> bool {
    matched.is_some_and(|m| {
        m.values
            .iter()
            .any(|(name, v)| name.as_bytes() == key && v.as_ref() == value)
    })
}

/// What a template acts on. A guest is the object wherever its vmid is in the path (the
/// type is the `qemu`/`lxc` segment before it); a user's TFA entries belong to the user;
/// otherwise the last template variable, named after the variable (`storage`, `userid`,
/// `node`, …).
fn object_of<'m>(m: &'m PathMatch<'_>) -> Option<(&'static str, &'m [u8])> {
    if m.template.path().starts_with("/access/tfa/") {
        if let Some((name, user)) = m.values.iter().find(|(name, _)| *name == "userid") {
            return Some((name, user));
        }
    }
    if let Some((_, vmid)) = m.values.iter().find(|(name, _)| *name == "vmid") {
        let mut kind = "vmid";
        for segment in m.template.path().split('/') {
            if segment == "{vmid}" {
                break;
            }
            if !segment.is_empty() && !segment.starts_with('{') {
                kind = segment;
            }
        }
        return Some((kind, vmid));
    }
    m.values.last().map(|(name, value)| (*name, value.as_ref()))
}

/// Task types whose id is the guest's vmid alone (pve-formats.md §2.6).
fn task_id_is_vmid(kind: &str) -> bool {
    let guest = (kind.starts_with("qm") && kind != "qmmove") || kind.starts_with("vz");
    guest
        || matches!(
            kind,
            "hastart" | "hastop" | "hamigrate" | "vncproxy" | "spiceproxy"
        )
}

/// What a task acts on, from its type and id (pve-formats.md §2.6), for a task no request
/// started: a guest for `qm*`/`vz*` and the guest tasks, a storage for `imgdel` and
/// `prunebackups` (`<vmid>@<storage>`), the file for `download`, a service, a disk, a realm; the
/// node for node-level tasks (and whatever has no id).
pub(crate) fn task_object<'a>(upid: &'a task::Upid) -> Option<Object<'a>> {
    let kind = upid.kind.as_str();
    let id = upid.id.as_bytes();
    let vmid = id.iter().take_while(|b| b.is_ascii_digit()).count();
    let object = |kind: &'static str, id: &'a [u8]| {
        Some(Object {
            kind,
            id: Cow::Borrowed(id),
            name: None,
        })
    };
    let node = || object("node", upid.node.as_bytes());
    if id.is_empty() {
        return node();
    }
    let after_at = |id: &'a [u8]| match memchr::memrchr(b'@', id) {
        Some(at) => &id[at + 1..],
        None => id,
    };
    match kind {
        k if k.starts_with("qm") && vmid > 0 => object("qemu", &id[..vmid]),
        k if k.starts_with("vz") && vmid > 0 && k != "vzdump" => object("lxc", &id[..vmid]),
        "move_volume" if vmid > 0 => object("lxc", &id[..vmid]),
        "vzdump" | "resize" | "hastart" | "hastop" | "hamigrate" | "vncproxy" | "spiceproxy"
            if vmid > 0 =>
        {
            object("vmid", &id[..vmid])
        }
        "imgdel" | "prunebackups" | "imgcopy" | "dircreate" | "dirremove" | "lvmcreate"
        | "lvmremove" | "lvmthincreate" | "lvmthinremove" | "zfscreate" | "zfsremove" => {
            object("storage", after_at(id))
        }
        "download" | "ociregistrypull" => object("file", id),
        "srvstart" | "srvstop" | "srvrestart" | "srvreload" => object("service", id),
        "diskinit" | "wipedisk" => object("disk", id),
        "auth-realm-sync" | "auth-realm-sync-test" => object("realm", id),
        _ => object("task", id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The JSON record of the request of `line`, as convert makes it.
    fn record(line: &[u8]) -> Option<Vec<u8>> {
        record_showing(line, false)
    }

    /// [`record`], with secrets shown or not.
    fn record_showing(line: &[u8], show_secrets: bool) -> Option<Vec<u8>> {
        let line = access::parse(line).ok()?;
        let request = Request::parse(line.request);
        let time = line.timestamp()?;
        let origin = Origin {
            file: "access.log",
            line: 7,
        };
        let event = Event::from_request(&line, time, &request, None, origin);
        let mut out = Vec::new();
        crate::render::json::push_record(&mut out, &event, show_secrets, false);
        Some(out)
    }

    /// Request targets near the schema: known and unknown paths, guests, volumes, secrets and
    /// pvesh output options in the query, encoded bytes; and static files outside the API.
    fn target() -> impl Strategy<Value = String> {
        let path = prop_oneof![
            Just("/cluster/resources".to_string()),
            Just("/access/ticket".to_string()),
            "[a-z0-9]{1,6}".prop_map(|n| format!("/nodes/{n}/status")),
            ("[a-z0-9]{1,6}", "[0-9]{1,4}")
                .prop_map(|(n, v)| format!("/nodes/{n}/qemu/{v}/status/current")),
            ("[a-z0-9]{1,6}", "[0-9]{1,4}").prop_map(|(n, v)| format!("/nodes/{n}/lxc/{v}/config")),
            ("[a-z]{1,5}", "[a-z%0-9/:.-]{1,12}")
                .prop_map(|(s, v)| format!("/nodes/pve1/storage/{s}/content/{v}")),
            "(/[a-z%0-9{}]{0,6}){0,4}",
        ];
        let param = (
            prop_oneof![
                Just("password"),
                Just("type"),
                Just("vmid"),
                Just("output-format"),
                Just("force"),
                Just("digest"),
                Just("x"),
            ],
            "[a-zA-Z0-9%:=@/-]{0,12}",
        )
            .prop_map(|(k, v)| format!("{k}={v}"));
        (
            prop_oneof![Just("json"), Just("extjs"), Just("html")],
            path,
            proptest::collection::vec(param, 0..4),
        )
            .prop_map(|(format, path, params)| {
                let query = if params.is_empty() {
                    String::new()
                } else {
                    format!("?{}", params.join("&"))
                };
                format!("/api2/{format}{path}{query}")
            })
            .boxed()
            .prop_union(
                // Outside the API: static files, with a ticket in the query to redact.
                "/pve2/[a-z./%]{0,12}(\\?ticket=PVE:root@pam:[A-F0-9]{8}::[a-zA-Z0-9]{8})?".boxed(),
            )
    }

    proptest! {
        #[test]
        fn a_request_joined_from_the_memo_is_the_request_joined_afresh(
            method in prop_oneof![Just("GET"), Just("POST"), Just("PUT"), Just("DELETE")],
            target in target(),
            status in prop_oneof![Just(200u16), Just(401), Just(500)],
        ) {
            let line = format!(
                "::ffff:10.0.0.12 - root@pam [24/06/2026:00:00:00 +0200] \
                 \"{method} {target} HTTP/1.1\" {status} 12"
            );
            forget_joined();
            let afresh = record(line.as_bytes());
            prop_assert!(afresh.is_some(), "{line} is an access.log line");
            // Kept from the second time, joined from the memo the third.
            prop_assert_eq!(joined_held(), 0);
            prop_assert_eq!(record(line.as_bytes()), afresh.clone());
            prop_assert_eq!(joined_held(), 1);
            prop_assert_eq!(record(line.as_bytes()), afresh.clone());
            // With secrets shown: never the fields rendered without, and the other way round.
            let shown = record_showing(line.as_bytes(), true);
            forget_joined();
            prop_assert_eq!(record_showing(line.as_bytes(), true), shown.clone());
            prop_assert_eq!(record_showing(line.as_bytes(), true), shown.clone());
            prop_assert_eq!(record(line.as_bytes()), afresh);
            prop_assert_eq!(record_showing(line.as_bytes(), true), shown);
        }
    }

    #[test]
    fn the_memo_of_joined_requests_stays_bounded() {
        forget_joined();
        for n in 0..crate::memo::MOST + 10 {
            let line = format!(
                "::ffff:10.0.0.12 - root@pam [24/06/2026:00:00:00 +0200] \
                 \"GET /api2/json/nodes/pve1/qemu/{n}/status/current HTTP/1.1\" 200 12"
            );
            // Twice: a line is kept from its second time.
            assert!(record(line.as_bytes()).is_some());
            assert!(record(line.as_bytes()).is_some());
            assert!(joined_held() <= 2 * crate::memo::MOST);
        }
        assert!(joined_held() > 0);
    }
}
