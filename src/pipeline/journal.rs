//! The journal's part of the pipeline: logins, VM change parameters and refusals onto their
//! lines ([`crate::join::journal`]), and the entries no line took as events of their own.

use std::io;

use crate::event::{Auth, Event, Origin, Outcome, ParamsSource, Process, Told, Via};
use crate::join::journal::{self as journal_join, JournalJoin, Wants};
use crate::messages;
use crate::request::Request;
use crate::source::access;
use crate::source::journal::{Entry, Journal, Stream};
use crate::source::said::{self, Said};

use super::Pipeline;

/// A successful login this soon after the last one of the same user and client is a renewal.
const RENEWAL_WITHIN: i64 = 2 * 60 * 60;
/// The programs whose entries belong to logged requests (the rest is work on the shell).
const SERVES_API: &[&str] = &["pvedaemon", "pveproxy", "spiceproxy"];

/// Who forked each task, from the journal's `starting task` entries (UPID: program, when),
/// for the tasks yet to be shown. Bounded: a task is shown within minutes of its start (or at
/// its end in follow), so when [`Forkers::KEPT`] are held, those more than a day older than
/// the newest go (an hour, then a minute, if a day holds more).
#[derive(Debug, Default)]
pub(crate) struct Forkers(std::collections::HashMap<String, (String, i64)>);

impl Forkers {
    const KEPT: usize = 50_000;

    pub(crate) fn insert(&mut self, upid: String, program: String, seconds: i64) {
        if self.0.len() >= Forkers::KEPT {
            for horizon in [86_400, 3600, 60] {
                self.0.retain(|_, (_, t)| *t >= seconds - horizon);
                if self.0.len() < Forkers::KEPT / 2 {
                    break;
                }
            }
        }
        self.0.insert(upid, (program, seconds));
    }

    pub(crate) fn get(&self, upid: &str) -> Option<&str> {
        self.0.get(upid).map(|(program, _)| program.as_str())
    }
}

/// How far ahead of the log convert reads the journal, in seconds ([`Pipeline::pull_journal`]).
pub(crate) const JOURNAL_AHEAD: i64 = 3600;
/// follow: how long a VM change's line waits for its journal entry when it is not there yet.
const JOURNAL_LAG: std::time::Duration = std::time::Duration::from_secs(2);
/// Lines older than this many seconds are history: they do not wait for the journal.
const JOURNAL_LAG_RECENT: i64 = 10;
/// How long journalctl is given to pass on the history before the log's history is read, and
/// how long a pause in its output counts as having caught up.
const CATCH_UP: std::time::Duration = std::time::Duration::from_secs(10);
const CAUGHT_UP_IDLE: std::time::Duration = std::time::Duration::from_millis(300);
/// A console's ticket check comes within this many seconds of its request (PVE gives the
/// websocket 10 s to connect).
const CONSOLE_CHECK: i64 = 15;

/// The endpoint of `method` on `path` (an API path without `/api2/<fmt>`).
fn endpoint_of(method: &[u8], path: &str) -> Option<&'static crate::api::Endpoint> {
    let segments: Vec<&[u8]> = path
        .as_bytes()
        .split(|&b| b == b'/')
        .filter(|s| !s.is_empty())
        .collect();
    crate::api::match_path(&segments)?.template.endpoint(method)
}

impl Pipeline {
    /// The journal's login for a `POST …/access/ticket` line, if one fits.
    pub(super) fn journal_login(
        &mut self,
        line: &access::Line<'_>,
        time: i64,
        request: &Request<'_>,
    ) -> Option<journal_join::Login> {
        let journal = self.journal.as_mut()?;
        let ticket = request.method == Some(b"POST")
            && request
                .plain_path()
                .is_some_and(|p| p.ends_with(b"/access/ticket"));
        if !ticket {
            return None;
        }
        journal.login(
            time,
            line.client().unwrap_or_default(),
            self.line_node.as_deref(),
        )
    }

    /// What the journal said of a login, onto its line: the user who tried (the log has `-`),
    /// the outcome and why; a success soon after another one of the same user and client is a
    /// ticket renewal (the web UI renews every 15 minutes, pve-manager `Workspace.js`).
    pub(super) fn attach_login<'e>(
        &mut self,
        event: &mut Event<'e>,
        login: &'e journal_join::Login,
    ) {
        if let Some(user) = &login.user {
            event.user = Some(user.as_bytes());
        }
        let mut kind = "login";
        if login.ok {
            let key = (
                login.user.clone().unwrap_or_default(),
                event.client.unwrap_or_default().to_vec(),
            );
            let now = event.time.as_second();
            // The login window posts to /api2/extjs (pve-manager `www/manager6/window/
            // LoginWindow.js`), the page's renewal to /api2/json (`Workspace.js`): an extjs
            // ticket is always a login.
            if let Some(last) = self.logins.insert(key, now) {
                if now - last <= RENEWAL_WITHIN && event.api_format != Some(b"extjs") {
                    kind = "renewal";
                }
            }
            if self.logins.len() > 10_000 {
                self.logins.retain(|_, &mut t| now - t <= RENEWAL_WITHIN);
            }
        }
        event.outcome = if login.ok {
            Outcome::Success
        } else {
            Outcome::Failure
        };
        event.auth = Some(Auth {
            kind,
            reason: login.reason.clone(),
        });
        event.process = Some(Process {
            name: login.program.clone(),
            pid: login.pid,
        });
    }

    /// The parameters of a VM change from its `update VM` entry, for a write whose body the
    /// log does not have.
    pub(super) fn journal_body(&mut self, event: &mut Event<'_>) {
        let Some(journal) = self.journal.as_mut() else {
            return;
        };
        let (Some(template), Some(method), Some(endpoint), Some(user)) =
            (event.template, event.method, event.endpoint, event.user)
        else {
            return;
        };
        if !matches!(event.params_source, ParamsSource::None) && !event.params.is_empty() {
            return;
        }
        let Some(wants) = Wants::of(template, method) else {
            return;
        };
        let Some(vmid) = event.object.as_ref().map(|o| o.id.to_vec()) else {
            return;
        };
        let snapname = event.path.as_deref().and_then(|p| {
            let mut parts = p.split(|&b| b == b'/');
            parts.position(|s| s == b"snapshot")?;
            parts.next().filter(|s| !s.is_empty()).map(<[u8]>::to_vec)
        });
        let split = |args: &str| said::split_vm_args(args, endpoint).map(|a| a.params);
        let time = event.time.as_second();
        let mut found = journal.body(time, user, &vmid, wants, snapname.as_deref(), &split);
        // follow: the entry may be a moment behind its line (a task worker logs a resize or a
        // snapshot just after the answer went out; journalctl passes entries on with a lag):
        // what journalctl has is read, then it is waited for, briefly.
        // Only a line of the last moments waits: history (from --since or a restart) was
        // caught up with before it was read ([`Pipeline::catch_up_journal`]).
        let recent = time >= jiff::Timestamp::now().as_second() - JOURNAL_LAG_RECENT;
        if found.is_none()
            && recent
            && self.journal_live.is_some()
            && event.outcome != Outcome::Failure
        {
            let deadline = std::time::Instant::now() + JOURNAL_LAG;
            loop {
                let now = std::time::Instant::now();
                let entries = match self.journal_live.as_mut() {
                    Some(live) if now < deadline => live.read_within(deadline - now, self.signals),
                    _ => break,
                };
                if entries.is_empty() && self.journal_live.as_ref().and_then(|l| l.fd()).is_none() {
                    break;
                }
                self.add_journal(Journal { entries });
                let Some(journal) = self.journal.as_mut() else {
                    break;
                };
                found = journal.body(time, user, &vmid, wants, snapname.as_deref(), &split);
                if found.is_some() {
                    break;
                }
            }
        }
        let Some(body) = found else {
            return;
        };
        if let Some(why) = &body.unsplit {
            messages::message(&format!(
                "{}:{}: the journal's parameters of this change are not used: {why}",
                event.origin.file, event.origin.line
            ));
        } else if !body.params.is_empty() {
            event.attach_journal_params(body.params);
        }
        event.process = Some(Process {
            name: body.program,
            pid: body.pid,
        });
    }

    /// A journal entry that no line took, as an event of its own: a change made on the shell
    /// (or by a call whose line was not read), a login without its line.
    pub(super) fn show_entry(&mut self, entry: &Entry) -> io::Result<()> {
        let Some(said) = said::parse(&entry.program, &entry.message) else {
            return Ok(());
        };
        let Some(time) = entry.timestamp() else {
            return Ok(());
        };
        let this_node = self.node.clone();
        let node = entry.host.as_deref().or(this_node.as_deref());
        let node_name = node.unwrap_or("localhost").to_string();
        let origin = Origin {
            file: "journal",
            line: 0,
        };
        let process = Process {
            name: entry.program.clone(),
            pid: entry.pid,
        };
        let told = |user| Told {
            time,
            node,
            user,
            process: process.clone(),
            origin,
        };
        let cli = entry.program != "pvedaemon";
        let change = |method: &'static [u8], tail: String, params: Vec<(String, String)>| {
            (method, format!("/nodes/{node_name}/qemu/{tail}"), params)
        };
        let (user, change) = match &said {
            Said::UpdateVm { user, vmid, args } => {
                let path = format!("/nodes/{node_name}/qemu/{vmid}/config");
                let params = match endpoint_of(b"PUT", &path) {
                    Some(endpoint) => match said::split_vm_args(args, endpoint) {
                        Ok(a) => a.params,
                        Err(e) => {
                            messages::message(&format!(
                                "journal: {} {}: parameters not used: {e}",
                                entry.program, entry.message
                            ));
                            Vec::new()
                        }
                    },
                    None => Vec::new(),
                };
                (
                    user.as_ref(),
                    change(b"PUT", format!("{vmid}/config"), params),
                )
            }
            Said::Resize { user, vmid, .. } => (
                user.as_ref(),
                change(
                    b"PUT",
                    format!("{vmid}/resize"),
                    said.call_params().unwrap_or_default(),
                ),
            ),
            Said::MoveDisk { user, vmid, .. } => (
                user.as_ref(),
                change(
                    b"POST",
                    format!("{vmid}/move_disk"),
                    said.call_params().unwrap_or_default(),
                ),
            ),
            Said::Snapshot {
                user,
                vmid,
                op,
                name,
            } => {
                let name_enc: String =
                    percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC)
                        .to_string();
                let c = match op {
                    said::SnapshotOp::Create => change(
                        b"POST",
                        format!("{vmid}/snapshot"),
                        said.call_params().unwrap_or_default(),
                    ),
                    said::SnapshotOp::Rollback => change(
                        b"POST",
                        format!("{vmid}/snapshot/{name_enc}/rollback"),
                        Vec::new(),
                    ),
                    said::SnapshotOp::Delete => {
                        change(b"DELETE", format!("{vmid}/snapshot/{name_enc}"), Vec::new())
                    }
                };
                (user.as_ref(), c)
            }
            Said::LoginOk { user } | Said::OpenidOk { user } => {
                // termproxy and vncproxy check the console's ticket with pvedaemon directly,
                // which logs a successful auth that has no access.log line.
                let console = self.consoles.get(user.as_bytes()).is_some_and(|&t| {
                    let at = time.as_second();
                    (t - CONSOLE_CHECK..=t + CONSOLE_CHECK).contains(&at)
                });
                let kind = if matches!(said, Said::OpenidOk { .. }) {
                    "openid"
                } else if console {
                    "console"
                } else {
                    "login"
                };
                return self.show_login(told(Some(user)), None, true, kind, None);
            }
            Said::LoginFailed {
                client,
                user,
                reason,
            } => {
                let reason = Some(reason.to_string());
                return self.show_login(told(user.ok()), Some(client), false, "login", reason);
            }
            Said::OpenidFailed { client, reason } => {
                let reason = Some(reason.to_string());
                return self.show_login(told(None), Some(client), false, "openid", reason);
            }
            Said::PasswordChanged { user } => {
                return self.show_login(told(Some(user)), None, true, "password", None);
            }
            Said::TaskStarted { upid, .. } => {
                let Ok(upid) = crate::source::task::parse_upid(upid) else {
                    return Ok(());
                };
                let state = match self.task_ends.get(&upid.text) {
                    Some((end, status)) => crate::source::task::State::Finished {
                        end: Some(*end),
                        status: Some(status.clone()),
                    },
                    None => crate::source::task::State::Running,
                };
                let task = crate::source::task::Task { upid, state };
                self.forkers.insert(
                    task.upid.text.clone(),
                    entry.program.clone(),
                    entry.time_us / 1_000_000,
                );
                return self.show_task(&task);
            }
            Said::TaskEnded { .. } | Said::TicketRefused { .. } | Said::BackupJob { .. } => {
                return Ok(());
            }
        };
        let (method, path, params) = change;
        let mut event = Event::from_cli(told(Some(user)), method, path.as_bytes(), params);
        if !cli {
            // pvedaemon wrote it: an API call whose line was not read.
            event.via = Some(Via::Api);
            event.program = None;
        }
        self.show_alone(&mut event).map(drop)
    }

    /// A login (or password change) the journal tells of without its line, as an event.
    fn show_login(
        &mut self,
        told: Told<'_>,
        client: Option<&str>,
        ok: bool,
        kind: &'static str,
        reason: Option<String>,
    ) -> io::Result<()> {
        let auth = Auth { kind, reason };
        let mut event = Event::from_login(told, client, ok, auth);
        self.show_alone(&mut event).map(drop)
    }

    /// follow: where a restart resumes the journal (for `--state`): after the last entry
    /// settled while some still wait for their line, else after the last one read.
    pub(crate) fn journal_cursor(&self) -> Option<String> {
        let live = self.journal_live.as_ref()?;
        match self.journal.as_ref().map(JournalJoin::settled) {
            Some(Some(settled)) => Some(settled.to_string()),
            Some(None) if self.journal.as_ref().is_some_and(|j| !j.is_empty()) => None,
            _ => live.cursor().map(str::to_string),
        }
    }

    /// follow's end: the entries still waiting for a line are shown on their own, so that the
    /// cursor saved covers all that was read and a restart repeats none.
    pub(crate) fn settle_journal(&mut self) -> io::Result<()> {
        let entries = self
            .journal
            .as_mut()
            .map(JournalJoin::rest)
            .unwrap_or_default();
        for entry in entries {
            self.show_entry(&entry)?;
        }
        Ok(())
    }

    /// follow, before history is read: takes in what journalctl passes on of the history,
    /// until an entry of `now` or later comes, its output pauses, or [`CATCH_UP`] is over. The
    /// history's lines then find their entries without waiting each.
    pub(crate) fn catch_up_journal(&mut self, now: i64) {
        let deadline = std::time::Instant::now() + CATCH_UP;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let Some(live) = self.journal_live.as_mut().filter(|_| !left.is_zero()) else {
                return;
            };
            if live.fd().is_none() {
                return;
            }
            let entries = live.read_within(left.min(CAUGHT_UP_IDLE), self.signals);
            if entries.is_empty() {
                return;
            }
            let caught_up = entries.iter().any(|e| e.time_us >= now * 1_000_000);
            self.add_journal(Journal { entries });
            if caught_up {
                return;
            }
        }
    }

    /// follow: takes in what journalctl wrote since the last look.
    pub(crate) fn read_journal_live(&mut self) -> io::Result<()> {
        if let Some(live) = self.journal_live.as_mut() {
            let entries = live.read();
            if !entries.is_empty() {
                self.add_journal(Journal { entries });
            }
        }
        for entry in std::mem::take(&mut self.shell_now) {
            self.show_entry(&entry)?;
        }
        Ok(())
    }

    /// follow: the journal entries no line took that the clock has passed (`now` less a margin
    /// for lines written but not read yet), shown on their own.
    pub(crate) fn journal_by_clock(&mut self, now: i64) -> io::Result<()> {
        let entries = self
            .journal
            .as_mut()
            .map(|j| j.unclaimed(now))
            .unwrap_or_default();
        for entry in entries {
            self.show_entry(&entry)?;
        }
        Ok(())
    }

    /// Takes in the journal's entries: task starts tell who forked each task; the rest wait
    /// for their lines.
    pub(crate) fn add_journal(&mut self, journal: Journal) {
        let rest: Vec<Entry> = journal
            .entries
            .into_iter()
            .filter_map(|entry| self.journal_entry(entry))
            .collect();
        self.journal
            .get_or_insert_with(JournalJoin::default)
            .add(rest);
    }

    /// convert: the journal is read as the log goes by ([`Pipeline::pull_journal`]).
    pub(crate) fn stream_journal(&mut self, stream: Stream) {
        self.journal.get_or_insert_with(JournalJoin::default);
        self.journal_feed = Some(stream);
    }

    /// convert, at a line of time `seconds`: takes in the journal's entries up to
    /// [`JOURNAL_AHEAD`] after it. What the join of a line looks for is at most a second after
    /// it; the hour is for the end of a task the journal tells (a CLI task's outcome), and for
    /// a little disorder between the sources.
    pub(super) fn pull_journal(&mut self, seconds: i64) {
        let Some(mut feed) = self.journal_feed.take() else {
            return;
        };
        self.journal_pulled = self.journal_pulled.max(seconds);
        let limit = seconds
            .saturating_add(JOURNAL_AHEAD)
            .saturating_mul(1_000_000);
        let mut rest = Vec::new();
        while let Some(entry) = feed.next_until(limit) {
            rest.extend(self.journal_entry(entry));
        }
        if !rest.is_empty() {
            self.journal
                .get_or_insert_with(JournalJoin::default)
                .add(rest);
        }
        self.journal_feed = Some(feed);
    }

    /// The end of a convert run: the rest of the journal, a few thousand entries at a time,
    /// each shown unless a line took it.
    pub(super) fn show_rest_of_journal(&mut self) -> io::Result<()> {
        let mut feed = self.journal_feed.take();
        loop {
            let entries = self.journal.as_mut().map(|j| j.rest()).unwrap_or_default();
            for entry in entries {
                self.show_entry(&entry)?;
            }
            let Some(stream) = feed.as_mut() else {
                return Ok(());
            };
            let mut rest = Vec::new();
            let mut read = 0;
            while read < 4096 {
                let Some(entry) = stream.next_until(i64::MAX) else {
                    break;
                };
                read += 1;
                rest.extend(self.journal_entry(entry));
            }
            if read == 0 {
                return Ok(());
            }
            self.journal
                .get_or_insert_with(JournalJoin::default)
                .add(rest);
        }
    }

    /// One entry taken in: who forked a task, a task's end, a backup job's arguments; what
    /// waits for its line is given back.
    fn journal_entry(&mut self, entry: Entry) -> Option<Entry> {
        match said::parse(&entry.program, &entry.message) {
            Some(Said::TaskStarted { upid, .. }) => {
                self.forkers.insert(
                    upid.to_string(),
                    entry.program.clone(),
                    entry.time_us / 1_000_000,
                );
                // Without a task directory, the shell's task starts are the only word of
                // them: events of their own (with their end, when the journal has it).
                if self.tasks.is_none() && !SERVES_API.contains(&entry.program.as_str()) {
                    if self.live {
                        self.shell_now.push(entry);
                    } else {
                        return Some(entry);
                    }
                }
            }
            Some(Said::TaskEnded { upid, status, .. }) if self.tasks.is_none() => {
                if self.task_ends.len() >= 10_000 {
                    self.task_ends.clear();
                }
                let end = (entry.time_us / 1_000_000, status.to_string());
                self.task_ends.insert(upid.to_string(), end);
            }
            Some(Said::TaskEnded { .. }) => {}
            Some(Said::BackupJob { args }) => {
                if let Some(pid) = entry.pid {
                    if self.backup_jobs.len() >= 10_000 {
                        self.backup_jobs.clear();
                    }
                    self.backup_jobs
                        .insert(pid, (entry.time_us / 1_000_000, args.to_string()));
                }
            }
            // follow: work on the shell has no line to wait for (only pvedaemon writes the
            // entries of logged calls): shown at the next look.
            Some(_) if self.live && !SERVES_API.contains(&entry.program.as_str()) => {
                self.shell_now.push(entry);
            }
            Some(_) => return Some(entry),
            None => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::Forkers;

    #[test]
    fn forkers_stay_bounded_and_keep_the_recent_ones() {
        let mut forkers = Forkers::default();
        // A task a second for ten days: far more than a day's worth held.
        for second in 0..864_000i64 {
            forkers.insert(format!("UPID:{second}"), "qm".to_string(), second);
            assert!(forkers.0.len() <= Forkers::KEPT);
        }
        assert_eq!(forkers.get("UPID:863999"), Some("qm"));
        assert_eq!(forkers.get("UPID:863000"), Some("qm"));
        assert_eq!(forkers.get("UPID:1"), None);
    }
}
