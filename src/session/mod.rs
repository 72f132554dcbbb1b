//! Sessions: who was connected, from where, for how long. Built from the events the pipeline
//! makes (requests joined with their tasks and journal entries), after the join and before the
//! filter: sources → join → event → **session** → filter → render.
//!
//! A list of requests does not answer "who had a console on VM 100 and for how long", nor "who
//! was logged in from where": PVE writes no session log. It writes what one is made of
//! (`../shared/docs/pve-sources.md` §5):
//!
//! - a console is a `POST …/vncproxy|termproxy|spiceproxy` (or the node's `vncshell`,
//!   `termproxy`, `spiceshell`) that forks a task running for as long as the session
//!   (`vncproxy`, `vncshell`, `spiceproxy`, `spiceshell`), then the client's websocket upgrade,
//!   logged once at the 101 (pve-http-server `src/PVE/APIServer/AnyEvent.pm`, `log_request`'s
//!   `written` flag), or for SPICE a `CONNECT pvespiceproxy:…` line logged at 200 when it
//!   connects. No client within 10 s (qemu-server `src/PVE/API2/Qemu.pm` vncproxy: `$timeout =
//!   10`) and the task ends with `connection timed out`; spiceterm waits 40 s (pve-manager
//!   `PVE/API2Tools.pm`, `run_spiceterm`). The task's end is the close.
//! - a web UI session is a ticket: a login (`POST /access/ticket`), renewed every 15 minutes while
//!   the page is open (pve-manager `www/manager6/Workspace.js`), valid for 2 hours after the
//!   last renewal (pve-access-control `src/PVE/AccessControl.pm`, `$ticket_lifetime`), and the
//!   calls made with it from that client.
//! - an API token has no login: its session is its calls from one client, split where it was
//!   idle for [`API_IDLE`].
//!
//! The joins are by what both sides know, and a line that fits two sessions joins neither: it
//! is counted and reported, never guessed.

pub(crate) mod render;
pub(crate) mod run;
pub(crate) mod select;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::event::{Event, Outcome};
use crate::request::Class;
use crate::source::task::{State, Task};
use crate::userid;

/// How long a ticket lives after the login or renewal that issued it.
pub(crate) const TICKET_LIFETIME: i64 = 2 * 60 * 60;
/// An API token's calls from one client with a longer pause between them are two sessions:
/// the web UI's renewal interval, long enough that a client polling every few minutes stays in
/// one session, short enough that two jobs of a CI pipeline an hour apart are two.
pub(crate) const API_IDLE: i64 = 15 * 60;
/// How long after its console request a client may connect: the vncproxy/termproxy task waits
/// 10 s for it (`$timeout = 10`).
const CONNECT_WITHIN: i64 = 10;
/// spiceterm's `--timeout 40`, and the SPICE ticket's use after the request.
const SPICE_CONNECT_WITHIN: i64 = 40;
/// How much earlier than its request a console's ticket may have been made: the ticket is made
/// in the handler, before the task is forked and its port is up (`wait_for_vnc_port`).
const TICKET_BEFORE: i64 = 10;
/// How long a login line without the journal's user waits for the first call of its session.
const LOGIN_WAIT: i64 = 60;
/// The most evidence lines a session lists (a day-long UI session has thousands of polls).
const MAX_LINES: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Kind {
    /// noVNC console of a VM or container (`vncproxy`)
    Vnc,
    /// xterm.js console of a VM or container (`termproxy`)
    Term,
    /// SPICE console of a VM or container (`spiceproxy`)
    Spice,
    /// a node's shell (`vncshell`, `termproxy` or `spiceshell` on the node)
    Shell,
    /// a web UI login and what was done with its ticket from that client
    Ui,
    /// an API token's calls from one client
    Api,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Vnc => "vnc",
            Kind::Term => "term",
            Kind::Spice => "spice",
            Kind::Shell => "shell",
            Kind::Ui => "ui",
            Kind::Api => "api",
        }
    }

    fn is_console(self) -> bool {
        matches!(self, Kind::Vnc | Kind::Term | Kind::Spice | Kind::Shell)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    /// still open at the end of what was read
    Ongoing,
    /// closed: its task ended, its ticket expired, it was logged out or went idle
    Completed,
    /// no close can be known (a QEMU SPICE console has no task; no task index was read)
    Unknown,
}

impl Status {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Status::Ongoing => "ongoing",
            Status::Completed => "completed",
            Status::Unknown => "unknown",
        }
    }
}

/// One session, open or closed. Serialized whole into follow's `--state`, so that a restart
/// knows the sessions still open.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Session {
    pub(crate) kind: Kind,
    pub(crate) user: String,
    pub(crate) token: Option<String>,
    pub(crate) client: Option<String>,
    pub(crate) node: Option<String>,
    pub(crate) vmid: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) opened: i64,
    pub(crate) closed: Option<i64>,
    pub(crate) status: Status,
    pub(crate) ended: Option<String>,
    pub(crate) connected: Option<i64>,
    pub(crate) requests: u64,
    pub(crate) writes: u64,
    pub(crate) renewals: u64,
    pub(crate) first_action: Option<String>,
    pub(crate) last_action: Option<String>,
    pub(crate) lines: Vec<String>,
    /// Evidence lines past [`MAX_LINES`], counted.
    pub(crate) more_lines: u64,
    pub(crate) upids: Vec<String>,
    /// Consoles: the request's log time, the ticket's, and whether the session has a task.
    post_time: i64,
    task_start: Option<i64>,
    /// Consoles: the task's end is known (or there is no task to wait for).
    task_done: bool,
    /// ui: when the ticket in use was issued (login or last renewal); api and ui: last call.
    ticket_at: i64,
    last: i64,
    /// Whether the open record went out (follow).
    announced: bool,
    /// A SPICE console (or shell): its client comes through spiceproxy, within 40 s.
    #[serde(default)]
    spice: bool,
}

impl Session {
    fn new(kind: Kind, user: &[u8], client: Option<&[u8]>, time: i64) -> Session {
        let (user, token) = userid::split(user);
        Session {
            kind,
            user: lossy(user),
            token: token.map(lossy),
            client: client.map(lossy),
            node: None,
            vmid: None,
            name: None,
            opened: time,
            closed: None,
            status: Status::Ongoing,
            ended: None,
            connected: None,
            requests: 0,
            writes: 0,
            renewals: 0,
            first_action: None,
            last_action: None,
            lines: Vec::new(),
            more_lines: 0,
            upids: Vec::new(),
            post_time: time,
            task_start: None,
            task_done: false,
            ticket_at: time,
            last: time,
            announced: false,
            spice: kind == Kind::Spice,
        }
    }

    fn cite(&mut self, event: &Event<'_>) {
        if event.origin.line == 0 {
            return;
        }
        let line = format!("{}:{}", event.origin.file, event.origin.line);
        if self.lines.last() == Some(&line) {
            return;
        }
        if self.lines.len() < MAX_LINES {
            self.lines.push(line);
        } else {
            self.more_lines += 1;
        }
    }

    /// The request's own user id, token included, as the key of ui/api sessions.
    pub(crate) fn user_id(&self) -> String {
        match &self.token {
            Some(token) => format!("{}!{token}", self.user),
            None => self.user.clone(),
        }
    }

    /// A console's task, as the request's join found it (or as it ended since).
    fn take_task(&mut self, task: &Task) {
        if !self.upids.contains(&task.upid.text) {
            self.upids.push(task.upid.text.clone());
        }
        self.task_start = Some(task.upid.start);
        if let State::Finished { end, status } = &task.state {
            self.closed = Some(end.unwrap_or(task.upid.start).max(self.opened));
            self.ended = Some(status.clone().unwrap_or_else(|| "unknown".to_owned()));
            self.status = Status::Completed;
            self.task_done = true;
        }
    }

    pub(crate) fn duration(&self) -> Option<i64> {
        self.closed.map(|c| (c - self.opened).max(0))
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// What a console request is, by its template: its kind and whether its object is a guest.
fn console_kind(template: &str) -> Option<Kind> {
    let tail = template.rsplit('/').next()?;
    let guest = template.contains("/{vmid}/");
    match (tail, guest) {
        ("vncproxy", true) => Some(Kind::Vnc),
        ("termproxy", true) => Some(Kind::Term),
        ("spiceproxy", true) => Some(Kind::Spice),
        ("vncshell" | "termproxy" | "spiceshell", false) => Some(Kind::Shell),
        _ => None,
    }
}

/// A console task without its request: what kind of console its type says.
fn task_kind(kind: &str) -> Option<Kind> {
    match kind {
        "vncproxy" => Some(Kind::Vnc),
        "spiceproxy" => Some(Kind::Spice),
        "vncshell" | "spiceshell" => Some(Kind::Shell),
        _ => None,
    }
}

/// The creation time in a vncticket (`[PASSWORD:]PVEVNC:<8 hex>::<signature>`, pve-common
/// `src/PVE/Ticket.pm` `assemble_rsa_ticket`, `%08X` of `time()`).
fn vnc_ticket_time(ticket: &[u8]) -> Option<i64> {
    let at = memchr::memmem::find(ticket, b"PVEVNC:")?;
    hex8(ticket.get(at + 7..at + 15)?)
}

fn hex8(digits: &[u8]) -> Option<i64> {
    if digits.len() != 8 {
        return None;
    }
    let text = std::str::from_utf8(digits).ok()?;
    i64::from_str_radix(text, 16).ok()
}

/// What a spiceproxy `CONNECT` names: `pvespiceproxy:<ts>:<vmid>:<node>[:<port>]::<sig>:<port>`
/// (pve-common `src/PVE/Ticket.pm` `assemble_spice_ticket`: `%08x` time, `lc($node)`; vmid 0 for a
/// node's shell).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SpiceTarget {
    pub(crate) time: i64,
    pub(crate) vmid: String,
    pub(crate) node: String,
}

pub(crate) fn parse_spice_target(target: &[u8]) -> Option<SpiceTarget> {
    let text = std::str::from_utf8(target).ok()?;
    let mut parts = text.split(':');
    if parts.next()? != "pvespiceproxy" {
        return None;
    }
    let time = hex8(parts.next()?.as_bytes())?;
    let vmid = parts.next()?;
    let node = parts.next()?;
    let plain_vmid =
        !vmid.is_empty() && vmid.len() <= 9 && vmid.bytes().all(|b| b.is_ascii_digit());
    let plain_node =
        !node.is_empty() && node.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    (plain_vmid && plain_node).then(|| SpiceTarget {
        time,
        vmid: vmid.to_owned(),
        node: node.to_owned(),
    })
}

/// Lines that fit no session, or more than one: reported at the end.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct Unjoined {
    /// A websocket or CONNECT line that fitted two console requests.
    pub(crate) ambiguous_connections: u64,
    /// A websocket or CONNECT line that fitted none (its request in a log not read).
    pub(crate) lone_connections: u64,
    /// A login line without the journal's user that two sessions could have come from.
    pub(crate) ambiguous_logins: u64,
}

/// What follow's `--state` keeps of the sessions: the open ones.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Saved {
    open: Vec<Session>,
    #[serde(default)]
    logins: Vec<(String, i64, String)>,
}

/// The sessions being built. In convert the closed ones are kept until the end, then sorted and
/// printed; in follow each opening and closing is handed out as it happens.
#[derive(Default)]
pub(crate) struct Book {
    /// Consoles not settled yet: waiting for their client, or for their task's end.
    consoles: Vec<Session>,
    /// ui and api sessions open now, by (user id, client).
    open: HashMap<(String, String), Session>,
    /// Login lines without a user (no journal), by client: (time, evidence).
    logins: HashMap<String, (i64, String)>,
    /// Convert: every closed session, printed at the end.
    done: Vec<Session>,
    /// Follow: what opened or closed since it was last taken, as (closing?, session).
    pub(crate) changes: Vec<(bool, Session)>,
    pub(crate) live: bool,
    /// The node that wrote the log, for ui and api sessions.
    pub(crate) node: Option<String>,
    pub(crate) unjoined: Unjoined,
    /// The latest time seen (log time, or the clock in follow).
    pub(crate) now: i64,
    /// When the open ui/api sessions were last looked at for expiry.
    swept: i64,
    /// SPICE tickets whose first connection joined, for their other channels' lines.
    spice_seen: Vec<(SpiceTarget, i64)>,
    /// Since when the task files hold every task that ended ([`crate::source::task::Archive`]).
    pub(crate) tasks_since: Option<i64>,
    /// Console requests answered without a task where the task files would have it: refused
    /// (an extjs error is HTTP 200).
    pub(crate) refused: u64,
}

impl Book {
    pub(crate) fn new(live: bool, node: Option<String>) -> Book {
        Book {
            live,
            node,
            ..Book::default()
        }
    }

    /// Takes in one event (any class: the pipeline selects everything for sessions).
    pub(crate) fn event(&mut self, event: &Event<'_>) {
        let time = event.time.as_second();
        self.advance(time);
        if event.class == Class::Task {
            if let Some(task) = &event.task {
                self.lone_task(task);
            }
            return;
        }
        let template = event.template.unwrap_or_default();
        let method = event.method.unwrap_or_default();
        if event.class == Class::Console {
            if method == b"POST" {
                if let Some(kind) = console_kind(template) {
                    self.console_request(event, kind, template, time);
                }
            } else if method == b"GET" && template.ends_with("/vncwebsocket") {
                self.websocket(event, time);
            } else if method == b"CONNECT" {
                self.spice_connect(event, time);
            }
        }
        if event.class == Class::Auth && method == b"POST" && template == "/access/ticket" {
            self.ticket(event, time);
            return;
        }
        if event.user.is_none()
            && method == b"GET"
            && template == "/access/domains"
            && event.http_status == Some(200)
        {
            self.login_window(event, time);
            return;
        }
        // Every call of an authenticated user counts, refused (403) or failed (500) ones too.
        if event.api_format.is_some() {
            if let (Some(user), Some(client)) = (event.user, event.client) {
                self.activity(event, user, client, time);
            }
        }
    }

    /// A console task's end (follow: the task of a request shown earlier).
    pub(crate) fn task_end(&mut self, task: &Task) {
        let Some(i) = self
            .consoles
            .iter()
            .position(|s| s.upids.contains(&task.upid.text))
        else {
            return;
        };
        self.consoles[i].take_task(task);
        let session = self.consoles.remove(i);
        self.settle(session);
    }

    /// The clock moved on (follow, with nothing read): sessions whose time is up are closed.
    pub(crate) fn tick(&mut self, now: i64) {
        self.advance(now);
    }

    /// When the next session's time is up, by the clock (follow's sleep).
    pub(crate) fn next_due(&self) -> Option<i64> {
        let consoles = self
            .consoles
            .iter()
            .filter(|s| s.connected.is_none())
            .map(|s| s.post_time + connect_within(s) + 1);
        let open = self.open.values().map(|s| match s.kind {
            Kind::Api => s.last + API_IDLE + 1,
            _ => s.ticket_at + TICKET_LIFETIME + 1,
        });
        consoles.chain(open).min()
    }

    /// The end of a batch run: what is still open stays so (ongoing, or unknown without a
    /// task), as of the last time seen; every session, sorted by when it opened.
    pub(crate) fn finish(&mut self) -> Vec<Session> {
        let now = self.now;
        self.advance(now);
        let mut all = std::mem::take(&mut self.done);
        for mut s in std::mem::take(&mut self.consoles) {
            if s.upids.is_empty() {
                s.status = Status::Unknown;
            }
            if s.connected.is_none() {
                if let Some(start) = s.task_start {
                    s.opened = start;
                }
            }
            all.push(s);
        }
        all.extend(self.open.drain().map(|(_, s)| s));
        all.sort_by(|a, b| (a.opened, &a.lines).cmp(&(b.opened, &b.lines)));
        all
    }

    /// The open sessions, for follow's `--state`.
    pub(crate) fn save(&self) -> Saved {
        let mut open: Vec<Session> = self.consoles.clone();
        open.extend(self.open.values().cloned());
        Saved {
            open,
            logins: self
                .logins
                .iter()
                .map(|(c, (t, l))| (c.clone(), *t, l.clone()))
                .collect(),
        }
    }

    /// The open sessions a state file kept; the UPIDs of those that wait for their task.
    pub(crate) fn restore(&mut self, saved: Saved) -> Vec<String> {
        let mut waiting = Vec::new();
        for s in saved.open {
            if s.kind.is_console() {
                waiting.extend(s.upids.iter().cloned());
                self.now = self.now.max(s.last);
                self.consoles.push(s);
            } else {
                self.now = self.now.max(s.last);
                self.open
                    .insert((s.user_id(), s.client.clone().unwrap_or_default()), s);
            }
        }
        for (client, time, line) in saved.logins {
            self.logins.insert(client, (time, line));
        }
        waiting
    }

    /// The time moves to `now`: consoles past their connect window with a known end are
    /// settled, ui sessions whose ticket expired and api sessions gone idle are closed.
    fn advance(&mut self, now: i64) {
        if now < self.now {
            return;
        }
        self.now = now;
        let due: Vec<usize> = (0..self.consoles.len())
            .rev()
            .filter(|&i| {
                let s = &self.consoles[i];
                s.task_done && s.connected.is_none() && now > s.post_time + connect_within(s)
            })
            .collect();
        for i in due {
            let session = self.consoles.remove(i);
            self.settle(session);
        }
        if now.saturating_sub(self.swept) < 60 && !self.live {
            return;
        }
        self.swept = now;
        self.logins.retain(|_, (t, _)| now - *t <= LOGIN_WAIT);
        let expired: Vec<(String, String)> = self
            .open
            .iter()
            .filter(|(_, s)| match s.kind {
                Kind::Api => now - s.last > API_IDLE,
                _ => now - s.ticket_at > TICKET_LIFETIME,
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in expired {
            if let Some(s) = self.open.remove(&key) {
                let ended = if s.kind == Kind::Api {
                    "idle"
                } else {
                    "expired"
                };
                self.close(s, ended);
            }
        }
    }

    /// A console whose end is known: out (follow: its open, if not yet, and its close).
    fn settle(&mut self, mut session: Session) {
        if session.connected.is_none() {
            if let Some(start) = session.task_start {
                session.opened = start;
            }
        }
        let Some(closed) = session.closed else {
            // No task (QEMU SPICE, or no task index): nothing will ever close it.
            session.status = Status::Unknown;
            if self.live {
                self.announce(&mut session);
            } else {
                self.done.push(session);
            }
            return;
        };
        session.closed = Some(closed.max(session.opened));
        if self.live {
            if !session.announced {
                session.announced = true;
                let mut open = session.clone();
                open.closed = None;
                open.status = Status::Ongoing;
                open.ended = None;
                self.changes.push((false, open));
            }
            self.changes.push((true, session));
        } else {
            self.done.push(session);
        }
    }

    fn close(&mut self, mut session: Session, ended: &str) {
        session.closed = Some(session.last);
        session.status = Status::Completed;
        session.ended = Some(ended.to_owned());
        if self.live {
            self.changes.push((true, session));
        } else {
            self.done.push(session);
        }
    }

    fn announce(&mut self, session: &mut Session) {
        if self.live && !session.announced {
            session.announced = true;
            self.changes.push((false, session.clone()));
        }
    }

    fn console_request(&mut self, event: &Event<'_>, kind: Kind, template: &str, time: i64) {
        let Some(user) = event.user else { return };
        // Refused (a 403, or an extjs error answer): no console was opened. A failed task (no
        // client came: `connection timed out`) was a console all the same.
        if !event.http_status.is_some_and(|s| (200..300).contains(&s))
            || (event.outcome == Outcome::Failure && event.task.is_none())
        {
            return;
        }
        let mut session = Session::new(kind, user, event.client, time);
        session.spice = template.ends_with("/spiceproxy") || template.ends_with("/spiceshell");
        session.node = event.path_node().map(lossy);
        if let Some(object) = event
            .object
            .as_ref()
            .filter(|o| matches!(o.kind, "qemu" | "lxc"))
        {
            session.vmid = Some(lossy(&object.id));
            session.name.clone_from(&object.name);
        }
        session.cite(event);
        match &event.task {
            Some(task) => {
                if self
                    .consoles
                    .iter()
                    .any(|s| s.upids.contains(&task.upid.text))
                {
                    return;
                }
                session.take_task(task);
            }
            // Every console request but QEMU's spiceproxy forks a task (qemu-server `Qemu.pm`):
            // none where the task files would hold it, and it was refused.
            None if event.endpoint.is_some_and(|e| !e.task_types().is_empty())
                && self.tasks_since.is_some_and(|since| time >= since) =>
            {
                self.refused += 1;
                return;
            }
            // Else nothing will close it: QEMU's SPICE, or its task is older than the files.
            None => session.task_done = true,
        }
        session.task_done |= session.closed.is_some();
        self.consoles.push(session);
    }

    /// The websocket upgrade of a noVNC or xterm.js console: the client connected.
    fn websocket(&mut self, event: &Event<'_>, time: i64) {
        if event.http_status != Some(101) {
            return;
        }
        let (Some(user), Some(object)) = (event.user, event.object.as_ref()) else {
            return;
        };
        let (user, token) = userid::split(user);
        let client = event.client.map(lossy);
        let node = event.path_node().map(lossy);
        let vmid = matches!(object.kind, "qemu" | "lxc").then(|| lossy(&object.id));
        let ticket = event
            .params
            .iter()
            .find(|p| p.key.as_ref() == b"vncticket")
            .and_then(|p| {
                vnc_ticket_time(&percent_encoding::percent_decode(&p.value).collect::<Vec<u8>>())
            });
        let fits: Vec<usize> = (0..self.consoles.len())
            .filter(|&i| {
                let s = &self.consoles[i];
                s.connected.is_none()
                    && matches!(s.kind, Kind::Vnc | Kind::Term | Kind::Shell)
                    && !s.spice
                    && s.user.as_bytes() == user
                    && s.token.as_deref().map(str::as_bytes) == token
                    && s.client == client
                    && s.node == node
                    && s.vmid == vmid
                    && (0..=CONNECT_WITHIN).contains(&(time - s.post_time))
                    && ticket.is_none_or(|t| (0..=TICKET_BEFORE).contains(&(s.post_time - t)))
            })
            .collect();
        self.connect(event, time, &fits);
    }

    /// A SPICE client's CONNECT through spiceproxy (user `-`: the ticket is the credential).
    fn spice_connect(&mut self, event: &Event<'_>, time: i64) {
        if event.http_status != Some(200) {
            return;
        }
        let Some(target) = event.connect_target().and_then(parse_spice_target) else {
            return;
        };
        if self.spice_channel(&target, time) {
            return;
        }
        let shell = target.vmid == "0";
        let fits: Vec<usize> = (0..self.consoles.len())
            .filter(|&i| {
                let s = &self.consoles[i];
                let kind_fits = if shell {
                    s.kind == Kind::Shell && s.spice
                } else {
                    s.kind == Kind::Spice && s.vmid.as_deref() == Some(target.vmid.as_str())
                };
                s.connected.is_none()
                    && kind_fits
                    && s.node.as_deref().map(str::to_ascii_lowercase).as_deref()
                        == Some(target.node.as_str())
                    && (0..=SPICE_CONNECT_WITHIN).contains(&(time - s.post_time))
                    && (0..=TICKET_BEFORE).contains(&(s.post_time - target.time))
            })
            .collect();
        if fits.len() == 1 {
            self.spice_seen.push((target, time));
        }
        self.connect(event, time, &fits);
    }

    /// A SPICE client opens one connection per channel, each its own `CONNECT` line with the
    /// same ticket: after the first joined its request, the others are that session's.
    fn spice_channel(&mut self, target: &SpiceTarget, time: i64) -> bool {
        self.spice_seen
            .retain(|(_, at)| time - at <= SPICE_CONNECT_WITHIN * 3);
        self.spice_seen.iter().any(|(t, _)| t == target)
    }

    fn connect(&mut self, event: &Event<'_>, time: i64, fits: &[usize]) {
        match fits {
            [i] => {
                let mut session = self.consoles.remove(*i);
                session.connected = Some(time);
                session.opened = time;
                session.cite(event);
                if let Some(closed) = session.closed {
                    session.closed = Some(closed.max(time));
                }
                if session.task_done {
                    // Ended already, or has no task to end.
                    self.settle(session);
                } else {
                    self.announce(&mut session);
                    self.consoles.push(session);
                }
            }
            [] => self.unjoined.lone_connections += 1,
            _ => self.unjoined.ambiguous_connections += 1,
        }
    }

    /// A console task that no read request started (its request is in a log not read).
    fn lone_task(&mut self, task: &Task) {
        let Some(kind) = task_kind(&task.upid.kind) else {
            return;
        };
        if self
            .consoles
            .iter()
            .any(|s| s.upids.contains(&task.upid.text))
        {
            return;
        }
        let upid = &task.upid;
        let mut session = Session::new(kind, upid.user.as_bytes(), None, upid.start);
        session.spice = upid.kind.starts_with("spice");
        session.node = Some(upid.node.clone());
        if !upid.id.is_empty() && kind != Kind::Shell {
            session.vmid = Some(upid.id.clone());
        }
        session.take_task(task);
        // No request, so no connection line to wait for.
        session.post_time = upid.start - SPICE_CONNECT_WITHIN - 1;
        if session.task_done {
            self.settle(session);
        } else {
            self.consoles.push(session);
        }
    }

    /// A `POST /access/ticket` line: a login or a renewal. With the journal it has its user and
    /// its outcome; without, it is held for the first call of the session it began, or counts
    /// as the renewal of the one session open from that client.
    fn ticket(&mut self, event: &Event<'_>, time: i64) {
        let failed = !event.http_status.is_some_and(|s| (200..300).contains(&s))
            || event.outcome == Outcome::Failure;
        if failed && event.auth.is_none() {
            return;
        }
        let Some(client) = event.client.map(lossy) else {
            return;
        };
        let line = format!("{}:{}", event.origin.file, event.origin.line);
        match (event.user, event.auth.as_ref().map(|a| a.kind)) {
            (Some(user), Some(_)) if event.outcome == Outcome::Success => {
                if userid::split(user).1.is_some() {
                    return;
                }
                let key = (lossy(user), client.clone());
                let open = self.open.remove(&key);
                let renewal = open.as_ref().is_some_and(|s| renews(s, event, time));
                let mut session = match open {
                    Some(s) if renewal => s,
                    // A second factor (TFA) or a login retried before any call: the same login.
                    Some(s) if s.requests == 0 && time - s.opened <= LOGIN_WAIT * 5 => s,
                    Some(s) => {
                        let ended = if time - s.ticket_at > TICKET_LIFETIME {
                            "expired"
                        } else {
                            "new login"
                        };
                        self.close(s, ended);
                        self.ui_session(user, event, time)
                    }
                    None => self.ui_session(user, event, time),
                };
                if renewal {
                    session.renewals += 1;
                }
                session.ticket_at = time;
                session.last = time;
                session.cite(event);
                self.announce(&mut session);
                self.open.insert(key, session);
            }
            (Some(user), _) if event.outcome == Outcome::Failure => {
                // A second factor that failed (the first one logs a success): the login that
                // seemed to open a session did not.
                let key = (lossy(user), client);
                if self.open.get(&key).is_some_and(|s| {
                    s.requests == 0 && s.renewals == 0 && time - s.opened <= LOGIN_WAIT * 5
                }) {
                    self.open.remove(&key);
                }
            }
            (Some(_), _) => {}
            (None, _) => match self.ui_on(&client).as_slice() {
                [key] => {
                    if let Some(s) = self.open.get_mut(key) {
                        if renews(s, event, time) {
                            s.renewals += 1;
                            s.ticket_at = time;
                            s.cite(event);
                            return;
                        }
                    }
                    self.logins.insert(client, (time, line));
                }
                [] => {
                    if self.logins.insert(client, (time, line)).is_some() {
                        self.unjoined.ambiguous_logins += 1;
                    }
                }
                _ => self.unjoined.ambiguous_logins += 1,
            },
        }
    }

    /// The keys of the UI sessions open from this client.
    fn ui_on(&self, client: &str) -> Vec<(String, String)> {
        self.open
            .iter()
            .filter(|(k, s)| k.1 == client && s.kind == Kind::Ui)
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn ui_session(&self, user: &[u8], event: &Event<'_>, time: i64) -> Session {
        let mut session = Session::new(Kind::Ui, user, event.client, time);
        // A cluster read: the node that logged it; else the node of the one log read.
        session.node = event.node.map(str::to_owned).or_else(|| self.node.clone());
        session
    }

    /// The login window was shown again on that client (its realm list is loaded without a
    /// ticket): the one UI session open there was logged out, if its ticket was still good.
    fn login_window(&mut self, event: &Event<'_>, time: i64) {
        let Some(client) = event.client.map(lossy) else {
            return;
        };
        if let [key] = self.ui_on(&client).as_slice() {
            if let Some(mut s) = self.open.remove(key) {
                s.cite(event);
                // Closed at the last call either way: the login window may come much later.
                let ended = if time - s.ticket_at <= TICKET_LIFETIME {
                    "logged out"
                } else {
                    "expired"
                };
                self.close(s, ended);
            }
        }
    }

    /// A call by a user from a client: part of its ui or api session, which it opens if none is.
    fn activity(&mut self, event: &Event<'_>, user: &[u8], client: &[u8], time: i64) {
        let token = userid::split(user).1.is_some();
        let key = (lossy(user), lossy(client));
        let mut session = match self.open.remove(&key) {
            Some(s) if token && time - s.last > API_IDLE => {
                self.close(s, "idle");
                None
            }
            Some(s) if !token && time - s.ticket_at > TICKET_LIFETIME => {
                self.close(s, "expired");
                None
            }
            other => other,
        }
        .unwrap_or_else(|| {
            let kind = if token { Kind::Api } else { Kind::Ui };
            let mut s = Session::new(kind, user, Some(client), time);
            s.node = event.node.map(str::to_owned).or_else(|| self.node.clone());
            if !token {
                if let Some((at, line)) = self.logins.remove(&key.1) {
                    if time - at <= LOGIN_WAIT {
                        s.opened = at;
                        s.ticket_at = at;
                        s.lines.push(line);
                    }
                }
            }
            s
        });
        session.requests += 1;
        session.last = time;
        let action = matches!(event.class, Class::Write)
            || (event.class == Class::Console && event.method == Some(b"POST"));
        if event.class == Class::Write {
            session.writes += 1;
        }
        if action {
            let name = format!(
                "{} {}",
                String::from_utf8_lossy(event.method.unwrap_or_default()),
                event.template.unwrap_or("?")
            );
            session.first_action.get_or_insert_with(|| name.clone());
            session.last_action = Some(name);
        }
        if action || session.requests == 1 {
            session.cite(event);
        }
        if let Some(upid) = event.task.as_ref().map(|t| &t.upid.text) {
            if action && session.upids.len() < MAX_LINES && !session.upids.contains(upid) {
                session.upids.push(upid.clone());
            }
        }
        self.announce(&mut session);
        self.open.insert(key, session);
    }
}

/// How recent the last call must be for a ticket request to be the open page's renewal.
const RENEWING_PAGE: i64 = 120;

/// Whether a ticket request renews this session's ticket: the web UI renews through
/// `/api2/json/access/ticket` every 15 minutes while the page is open (pve-manager
/// `www/manager6/Workspace.js`), so while it polls; its login window posts to
/// `/api2/extjs/access/ticket` (`window/LoginWindow.js`), a new login. A script that logs in
/// with its password through `/api2/json` after a pause is a new login too.
fn renews(s: &Session, event: &Event<'_>, time: i64) -> bool {
    event.api_format == Some(b"json")
        && time - s.ticket_at <= TICKET_LIFETIME
        && time - s.last <= RENEWING_PAGE
}

fn connect_within(s: &Session) -> i64 {
    if s.spice {
        SPICE_CONNECT_WITHIN
    } else {
        CONNECT_WITHIN
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn spice_targets_as_pve_writes_them() {
        let t = parse_spice_target(b"pvespiceproxy:6a3bc8b0:100:pve1:61000::0123abcd:61000");
        assert_eq!(
            t,
            Some(SpiceTarget {
                time: 0x6a3b_c8b0,
                vmid: "100".into(),
                node: "pve1".into()
            })
        );
        let shell = parse_spice_target(b"pvespiceproxy:6a3bc8b0:0:pve1:61001::ab:61001");
        assert_eq!(shell.map(|t| t.vmid), Some("0".into()));
        for bad in [
            &b"pvespiceproxy:zz:100:pve1::ab:1"[..],
            b"other:6a3bc8b0:100:pve1::ab:1",
            b"pvespiceproxy:6a3bc8b0:1x0:pve1::ab:1",
            b"pvespiceproxy:6a3bc8b0:100:pv/e1::ab:1",
            b"",
        ] {
            assert_eq!(parse_spice_target(bad), None);
        }
    }

    #[test]
    fn vnc_ticket_times() {
        assert_eq!(vnc_ticket_time(b"PVEVNC:6A3BC788::sig"), Some(0x6A3B_C788));
        assert_eq!(
            vnc_ticket_time(b"PASSWORD:PVEVNC:6A3BC788::sig"),
            Some(0x6A3B_C788)
        );
        assert_eq!(vnc_ticket_time(b"PVEVNC:6A3B"), None);
        assert_eq!(vnc_ticket_time(b"PVEVNC:6A3BC78G::x"), None);
    }

    #[test]
    fn console_kinds_by_template() {
        assert_eq!(
            console_kind("/nodes/{node}/qemu/{vmid}/vncproxy"),
            Some(Kind::Vnc)
        );
        assert_eq!(
            console_kind("/nodes/{node}/lxc/{vmid}/termproxy"),
            Some(Kind::Term)
        );
        assert_eq!(
            console_kind("/nodes/{node}/qemu/{vmid}/spiceproxy"),
            Some(Kind::Spice)
        );
        assert_eq!(console_kind("/nodes/{node}/termproxy"), Some(Kind::Shell));
        assert_eq!(console_kind("/nodes/{node}/vncshell"), Some(Kind::Shell));
        assert_eq!(console_kind("/nodes/{node}/spiceshell"), Some(Kind::Shell));
        assert_eq!(console_kind("/nodes/{node}/qemu/{vmid}/vncwebsocket"), None);
    }

    proptest! {
        #[test]
        fn spice_target_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = parse_spice_target(&bytes);
            let _ = vnc_ticket_time(&bytes);
        }

        #[test]
        fn spice_targets_round_trip(time in 0u32.., vmid in 0u32..999_999_999, node in "[a-z][a-z0-9-]{0,10}[a-z0-9]") {
            let text = format!("pvespiceproxy:{time:08x}:{vmid}:{node}:61000::abcdef:61000");
            let t = parse_spice_target(text.as_bytes());
            prop_assert_eq!(t, Some(SpiceTarget { time: i64::from(time), vmid: vmid.to_string(), node }));
        }
    }
}
