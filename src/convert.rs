//! `pverec convert`: the batch pipeline over whole files.
//!
//! access.log line -> [`access::Line`] -> [`Request`] -> filter -> [`Event`] -> renderer. The
//! loop is the hot path of pverec: a line that the filter does not want costs one parse without
//! allocation and the class test; only selected lines become events. Each line's fate is one of
//! three: shown, filtered out, or reported as malformed. Nothing is dropped silently.
//!
//! A selected line's event is joined ([`Correlator`]) with its spool body and its task before
//! the outcome filter, the last test, since only the join knows the outcome. The [`Pipeline`]
//! also shows what the other sources hold on their own: tasks that no request claimed (as the
//! log time passes their join window), spool events that never got their line, and, in follow,
//! the end of a task whose request was already shown.

use std::collections::HashMap;
use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

use anyhow::Result;
use jiff::Timestamp;

use crate::access;
use crate::cli::ConvertArgs;
use crate::correlate::{self, Claim, Correlator, Ended};
use crate::event::{Auth, Event, Origin, Outcome, ParamsSource, Process, Told, Via};
use crate::filter::Filter;
use crate::input::{self, Lines, Progress, Source};
use crate::join::journal::{self as journal_join, JournalJoin, Wants};
use crate::messages;
use crate::output::Output;
use crate::render::Renderer;
use crate::request::{self, Class, Request};
use crate::source::journal::{self as journal_source, Entry, Journal};
use crate::source::said::{self, Said};
use crate::spool::{self, Recorder, SpoolEvent};
use crate::task::{Task, TaskDir};

/// A successful login this soon after the last one of the same user and client is a renewal.
const RENEWAL_WITHIN: i64 = 2 * 60 * 60;
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

/// Where PVE keeps its task index.
pub(crate) const DEFAULT_TASK_DIR: &str = "/var/log/pve/tasks";

/// What a run needs to turn lines into output.
pub(crate) struct Pipeline {
    pub(crate) filter: Filter,
    pub(crate) renderer: Renderer,
    /// Shared, so that an event can borrow it while the pipeline is changed (the join).
    pub(crate) node: Option<Rc<str>>,
    pub(crate) output: Output,
    /// The task directory, when there is one to join with.
    pub(crate) tasks: Option<TaskDir>,
    pub(crate) correlator: Correlator,
    /// Tasks that started before this are not shown as tasks without a request: their request
    /// may be in a log that was not read. Set by the first timed line (convert, and the history
    /// follow replays) or when follow goes live without history (its start).
    pub(crate) task_floor: Option<i64>,
    /// The latest log time seen.
    last_time: Option<i64>,
    /// follow with --outcome: lines whose task still runs, by UPID, until it ends.
    held: HashMap<String, Held>,
    /// follow: the task files are read again when a request finds no task (it may have been
    /// written after the last look); what that read brings is shown after the request.
    pub(crate) live: bool,
    deferred: Vec<Ended>,
    /// follow: the registration with the request recorder, read like the task files.
    pub(crate) recorder: Option<Recorder>,
    /// Whether the run was told that without a task index outcomes stay unknown (said once).
    told_no_tasks: bool,
    /// What the correlator holds of the spool, bounded ([`spool::Held`]).
    pub(crate) spool_held: spool::Held,
    /// The spool's events file as messages name it.
    pub(crate) spool_name: String,
    /// Spool events refused as the body of their line, by cause ([`spool::Refusal`]).
    refused: [u64; 4],
    /// The journal's entries, joined with the lines as they come ([`JournalJoin`]).
    pub(crate) journal: Option<JournalJoin>,
    /// Who forked each task, from the journal's `starting task` entries: a task without a
    /// request that `qm` or `vzdump` started was work on the shell.
    forkers: HashMap<String, String>,
    /// The last successful login per (user, client): a new one soon after is a renewal.
    logins: HashMap<(String, Vec<u8>), i64>,
    /// The last console request (vncproxy, termproxy, spiceproxy, vncwebsocket) per user.
    consoles: HashMap<Vec<u8>, i64>,
}

/// A line held back until its task ends.
struct Held {
    text: Vec<u8>,
    file: String,
    number: u64,
    /// The spool event it took, given back when the line is processed again.
    body: Option<SpoolEvent>,
}

/// What a held line already took: its task, and its spool event if it had one. Boxed, so that
/// passing "nothing taken" for every other line costs a word, not the size of both.
type Taken = Box<(Task, Option<SpoolEvent>)>;

impl Pipeline {
    pub(crate) fn new(filter: Filter, renderer: Renderer, node: Option<String>) -> Pipeline {
        Pipeline {
            filter,
            renderer,
            node: node.map(Rc::from),
            output: Output::stdout(),
            tasks: None,
            correlator: Correlator::default(),
            task_floor: None,
            last_time: None,
            held: HashMap::new(),
            live: false,
            deferred: Vec::new(),
            recorder: None,
            journal: None,
            forkers: HashMap::new(),
            logins: HashMap::new(),
            consoles: HashMap::new(),
            told_no_tasks: false,
            spool_held: spool::Held::default(),
            spool_name: "spool".to_owned(),
            refused: [0; 4],
        }
    }

    /// Without a task index, the outcome of a call that starts a task is rarely known (the
    /// answer only says that the task was started): said once, with how to give the index,
    /// the first time such a call is left `unknown`.
    fn tell_no_tasks(&mut self, event: &Event<'_>) {
        if self.tasks.is_some() || self.told_no_tasks || event.outcome != Outcome::Unknown {
            return;
        }
        if event.endpoint.is_some_and(|e| !e.task_types().is_empty()) && event.may_have_run() {
            self.told_no_tasks = true;
            messages::message(
                "no task index is read, so the outcomes of task-starting calls (start, create, \
                 migrate, backup...) stay unknown; --tasks DIR reads one (/var/log/pve/tasks on \
                 the node that wrote the log)",
            );
        }
    }

    /// Opens the task directory and reads what it holds now.
    pub(crate) fn open_tasks(&mut self, dir: PathBuf) -> io::Result<()> {
        let mut tasks = TaskDir::open(&dir)?;
        let update = tasks.refresh();
        self.correlator.update(update);
        self.tasks = Some(tasks);
        Ok(())
    }

    /// Reads what changed in the task directory, and shows what follows from it: the end of
    /// tasks whose request was shown, held lines whose task ended, and tasks that no request
    /// claimed in time (as of `now`, in seconds).
    pub(crate) fn refresh_tasks(&mut self, now: i64) -> io::Result<()> {
        self.read_tasks()?;
        self.show_unclaimed(now)
    }

    /// Reads what changed in the task directory and shows the end of the tasks that ended,
    /// without handing out unclaimed tasks by the clock: while follow replays history, the join
    /// window moves with the log's time, as in convert.
    pub(crate) fn read_tasks(&mut self) -> io::Result<()> {
        if let Some(tasks) = &mut self.tasks {
            let update = tasks.refresh();
            for ended in self.correlator.update(update) {
                self.task_ended(ended)?;
            }
        }
        Ok(())
    }

    fn task_ended(&mut self, ended: Ended) -> io::Result<()> {
        if let Some(held) = self.held.remove(&ended.task.upid.text) {
            let taken = Box::new((ended.task, held.body));
            return self.process(&held.text, &held.file, held.number, Some(taken));
        }
        self.renderer.task_end(self.output.buf(), &ended);
        self.output.commit()
    }

    /// Shows the tasks no request took that are now past the join window.
    fn show_unclaimed(&mut self, now: i64) -> io::Result<()> {
        loop {
            let tasks = self.correlator.unclaimed(now);
            if tasks.is_empty() {
                return Ok(());
            }
            for task in &tasks {
                self.show_task(task)?;
            }
        }
    }

    /// The tasks and the journal entries no line took that the log time has passed, merged
    /// by time.
    fn show_unclaimed_by_time(&mut self, now: i64) -> io::Result<()> {
        let entries = self
            .journal
            .as_mut()
            .map(|j| j.unclaimed(now))
            .unwrap_or_default();
        let mut entries = entries.into_iter().peekable();
        loop {
            let tasks = self.correlator.unclaimed(now);
            if tasks.is_empty() {
                break;
            }
            for task in &tasks {
                while let Some(entry) = entries.next_if(|e| e.time_us < task.upid.start * 1_000_000)
                {
                    self.show_entry(&entry)?;
                }
                self.show_task(task)?;
            }
        }
        for entry in entries {
            self.show_entry(&entry)?;
        }
        Ok(())
    }

    fn show_task(&mut self, task: &Task) -> io::Result<()> {
        self.filter.note_user(Some(task.upid.user.as_bytes()));
        if self.task_floor.is_none_or(|floor| task.upid.start < floor)
            || !self.filter.wants_class(Class::Task)
            || !self.filter.wants_user(Some(task.upid.user.as_bytes()))
        {
            return Ok(());
        }
        let dir = self
            .tasks
            .as_ref()
            .map(|t| t.dir().to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut event = Event::from_task(
            task,
            Origin {
                file: &dir,
                line: 0,
            },
        );
        if let Some(program) = self.forkers.get(&task.upid.text) {
            // The journal's `starting task` entry names the program that forked it: pvedaemon
            // for an API call (whose line was not read), qm, vzdump… for work on the shell.
            event.via = Some(if program == "pvedaemon" {
                Via::Api
            } else {
                Via::Cli
            });
            if program != "pvedaemon" {
                event.program = Some(program.clone());
            }
            if let Some(process) = &mut event.process {
                process.name = format!("{program} task worker");
            }
        }
        if !self.filter.wants_time(event.time)
            || !self.filter.wants_outcome(event.outcome)
            || !self.filter.wants_event(&event)
        {
            return Ok(());
        }
        self.renderer.event(self.output.buf(), &event);
        if event.outcome == Outcome::Pending {
            self.correlator.watch_end(&task.upid.text);
        }
        self.output.commit()
    }

    /// Queues what the recorder wrote since the last read.
    pub(crate) fn read_spool(&mut self) {
        if let Some(recorder) = &mut self.recorder {
            let events = recorder.read(&mut self.spool_held);
            self.correlator.add_bodies(events, Instant::now());
        }
    }

    /// Spool events that waited longer than `wait` for their log line, no longer held.
    pub(crate) fn stale_bodies(
        &mut self,
        now: Instant,
        wait: std::time::Duration,
    ) -> Vec<SpoolEvent> {
        let stale = self.correlator.stale_bodies(now, wait);
        for body in &stale {
            self.spool_held.release(body);
        }
        stale
    }

    /// The first waiting spool event for this request, taken, unless it disagrees with what
    /// the log line shows of the request ([`spool::disagreement`]): then it is refused, with a
    /// warning, and the request is shown as if no body was recorded.
    fn take_body(
        &mut self,
        logged: &spool::Logged<'_>,
        user: Option<&[u8]>,
        origin: (&str, u64),
    ) -> Option<SpoolEvent> {
        let (method, path, format) = (logged.method, logged.path, logged.format);
        let mut taken = self.correlator.take_body(method, path, format, user);
        if let (None, Some(recorder)) = (&taken, &mut self.recorder) {
            // Its event may have been written after the last read of the spool.
            self.correlator
                .add_bodies(recorder.read(&mut self.spool_held), Instant::now());
            taken = self.correlator.take_body(method, path, format, user);
        }
        let body = taken?;
        self.spool_held.release(&body);
        let Some((cause, why)) = spool::disagreement(&body, logged) else {
            return Some(body);
        };
        self.refuse(cause, &why, &body, origin);
        None
    }

    /// Reports a refused spool event: the first of each cause in full, then how many so far at
    /// 10, 100, 1000… of that cause (a forger cannot flood stderr), the totals at the end.
    fn refuse(&mut self, cause: spool::Refusal, why: &str, body: &SpoolEvent, origin: (&str, u64)) {
        let n = &mut self.refused[cause.index()];
        *n += 1;
        let n = *n;
        if n == 1 {
            messages::message(&format!(
                "{}:{}: spool event refused as the body of {}:{} ({} {}): {why}; the request \
                 is shown as if no body was recorded (further events refused for this reason \
                 are counted)",
                self.spool_name, body.line, origin.0, origin.1, body.method, body.path
            ));
        } else if 10u64.pow(n.ilog10()) == n {
            messages::message(&format!(
                "{}: {n} spool events refused so far as the body of their line, like line {}: {why}",
                self.spool_name, body.line
            ));
        }
    }

    /// Queues spool events (read from the recorder, or a saved file).
    pub(crate) fn add_bodies(&mut self, events: Vec<SpoolEvent>) {
        self.correlator.add_bodies(events, Instant::now());
    }

    /// Shows spool events whose log line never came, from the spool alone, with a warning.
    pub(crate) fn show_bodies_alone(
        &mut self,
        bodies: Vec<SpoolEvent>,
        file: &str,
        time: Timestamp,
    ) -> io::Result<()> {
        for body in &bodies {
            messages::message(&format!(
                "{file}: no access.log line came for the spool event {} {}; shown from the spool alone",
                body.method, body.path
            ));
            let event =
                Event::from_spool(body, time, self.node.as_deref(), Origin { file, line: 0 });
            self.filter.note_user(event.user);
            if self.filter.wants_class(event.class)
                && self.filter.wants_user(event.user)
                && self.filter.wants_outcome(event.outcome)
                && self.filter.wants_event(&event)
            {
                self.renderer.event(self.output.buf(), &event);
                self.output.commit()?;
            }
        }
        Ok(())
    }

    /// The end of a batch run: the tasks left unclaimed within the time the logs covered, and
    /// the spool events that matched no line.
    pub(crate) fn finish(&mut self, events_file: Option<&str>) -> io::Result<()> {
        let last = self.last_time;
        if let Some(last) = last {
            // Those that started by the last line's time: later ones are not of these logs.
            self.show_unclaimed(last.saturating_add(correlate::WINDOW + 1))?;
        }
        if let Some(mut journal) = self.journal.take() {
            for entry in journal.rest() {
                self.show_entry(&entry)?;
            }
            if journal.ambiguous > 0 {
                messages::message(&format!(
                    "{} login lines were left without their journal entry: two entries fitted",
                    journal.ambiguous
                ));
            }
        }
        let ambiguous = self.correlator.ambiguous;
        if ambiguous > 0 {
            messages::message(&format!(
                "{ambiguous} task-starting requests were left without their task: tasks of \
                 another type or id started in the same second, so the match was ambiguous"
            ));
        }
        let total: u64 = self.refused.iter().sum();
        if total > 1 {
            messages::message(&format!(
                "{}: {total} spool events refused in all as the body of their line; their \
                 requests are shown as if no body was recorded",
                self.spool_name
            ));
        }
        let name = events_file.unwrap_or("spool").to_owned();
        self.spool_held.report(&name);
        let left = self.stale_bodies(Instant::now(), std::time::Duration::ZERO);
        let time = last
            .and_then(|l| Timestamp::from_second(l).ok())
            .unwrap_or_else(Timestamp::now);
        self.show_bodies_alone(left, events_file.unwrap_or("spool"), time)
    }

    /// Processes one line of `file`. Empty lines carry nothing and are passed over.
    pub(crate) fn line(&mut self, text: &[u8], file: &str, number: u64) -> io::Result<()> {
        self.process(text, file, number, None)
    }

    /// The task this request started, when the task directory has it. In follow (`live`), the
    /// task files are read again when none is found: the task may have been written after the
    /// last look; what that read brings is `deferred`.
    fn join(&mut self, event: &Event<'_>, source: (&str, u64)) -> Option<Task> {
        self.tasks.as_ref()?;
        let endpoint = event.endpoint?;
        if !event.may_have_run() {
            return None;
        }
        let (guest, object) = match &event.object {
            Some(o) if matches!(o.kind, "qemu" | "lxc" | "vmid") => (Some(o.id.as_ref()), None),
            Some(o) if o.kind != "node" => (None, Some(o.id.as_ref())),
            _ => (None, None),
        };
        let claim = Claim {
            time: event.time.as_second(),
            user: event.user?,
            node: event.task_node().or(event.node.map(str::as_bytes)),
            kinds: endpoint.task_types(),
            guest,
            object,
            upid_len: event.upid_len(),
        };
        if let Some(task) = self.correlator.join(&claim, source) {
            return Some(task.clone());
        }
        let tasks = self.tasks.as_mut().filter(|_| self.live)?;
        let ended = self.correlator.update(tasks.refresh());
        self.deferred.extend(ended);
        self.correlator.join(&claim, source).cloned()
    }

    /// The log has reached `seconds`: the first time sets the floor of the tasks shown alone, a
    /// later one shows the tasks whose join window it has passed.
    fn note_time(&mut self, seconds: i64) -> io::Result<()> {
        self.task_floor.get_or_insert(seconds);
        if self.last_time.is_none_or(|l| seconds > l) {
            self.last_time = Some(seconds);
            if self.journal.is_none() {
                self.show_unclaimed(seconds)?;
            } else {
                self.show_unclaimed_by_time(seconds)?;
            }
        }
        Ok(())
    }

    /// Processes one line (`taken`: a held line's task and body, taken for it already), then
    /// shows what a new read of the task files brought meanwhile.
    fn process(
        &mut self,
        text: &[u8],
        file: &str,
        number: u64,
        taken: Option<Taken>,
    ) -> io::Result<()> {
        let shown = self.convert(text, file, number, taken);
        if !self.deferred.is_empty() {
            for ended in std::mem::take(&mut self.deferred) {
                self.task_ended(ended)?;
            }
        }
        shown
    }

    fn convert(
        &mut self,
        text: &[u8],
        file: &str,
        number: u64,
        taken: Option<Taken>,
    ) -> io::Result<()> {
        if text.is_empty() || text == b"\r" {
            return Ok(());
        }
        if text.len() > input::MAX_LINE {
            messages::malformed(file, number, &input::Overlong);
            return Ok(());
        }
        let line = match access::parse(text) {
            Ok(line) => line,
            Err(reason) => {
                messages::malformed(file, number, &reason);
                return Ok(());
            }
        };
        // Tasks without a request are shown as the log time passes them, so when they are wanted
        // every line's time counts, not only the time of the lines shown.
        let every_time = taken.is_none()
            && ((self.tasks.is_some() && self.filter.wants_class(Class::Task))
                || self.journal.as_ref().is_some_and(|j| !j.is_empty()));
        let mut early_time = None;
        if every_time {
            early_time = line.timestamp();
            if let Some(time) = early_time {
                self.note_time(time.as_second())?;
            }
        }
        self.filter.note_user(line.user());
        // The cheapest test first: most lines are UI polling that the class alone rejects.
        let wanted = (every_time
            || self
                .filter
                .wants_any(request::possible_classes(line.request)))
            && self.filter.wants_user(line.user());
        if !wanted {
            return Ok(());
        }
        let request = Request::parse(line.request);
        if self.journal.is_some() && request.class == Class::Console {
            if let (Some(user), Some(time)) = (line.user(), line.timestamp()) {
                if self.consoles.len() > 10_000 {
                    self.consoles.clear();
                }
                self.consoles.insert(user.to_vec(), time.as_second());
            }
        }
        let node = self.node.clone();
        if !self.filter.wants_class(request.class) {
            if every_time && matches!(request.class, Class::Write | Class::Console) {
                // Not shown, but it takes its task, which is therefore not one without a request.
                if let Some(time) = early_time {
                    let origin = Origin { file, line: number };
                    let event = Event::from_request(&line, time, &request, node.as_deref(), origin);
                    if let Some(task) = self.join(&event, (file, number)) {
                        // Nor is the end of a task whose request is not shown.
                        self.correlator.unwatch_end(&task.upid.text);
                    }
                }
            }
            return Ok(());
        }
        let Some(time) = early_time.or_else(|| line.timestamp()) else {
            messages::malformed(file, number, &access::Malformed::BadTime);
            return Ok(());
        };
        let (joined, kept_body) = match taken {
            Some(taken) => {
                let (task, body) = *taken;
                (Some(task), Some(body))
            }
            None => (None, None),
        };
        if joined.is_none() && !every_time {
            self.note_time(time.as_second())?;
        }
        if !self.filter.wants_time(time) {
            return Ok(());
        }
        let origin = Origin { file, line: number };
        let login = self.journal_login(&line, time.as_second(), &request);
        let mut event = Event::from_request(&line, time, &request, node.as_deref(), origin);
        if let Some(login) = &login {
            self.attach_login(&mut event, login);
        } else if line.status == 401 {
            if let Some(reason) = self
                .journal
                .as_mut()
                .and_then(|j| j.refusal(time.as_second()))
            {
                event.auth = Some(Auth {
                    kind: "ticket",
                    reason: Some(reason),
                });
            }
        }
        let body: Option<SpoolEvent> = match (kept_body, event.method, event.path.as_deref()) {
            (Some(kept), _, _) => kept,
            (None, Some(method), Some(path))
                if event.api_format.is_some()
                    && (self.correlator.has_bodies() || self.recorder.is_some()) =>
            {
                let query = request.query_params();
                let logged = spool::Logged {
                    method,
                    path,
                    format: event.api_format,
                    query: &query,
                };
                self.take_body(&logged, event.user, (file, number))
            }
            _ => None,
        };
        if let Some(body) = &body {
            event.attach_body(body);
        } else {
            self.journal_body(&mut event);
        }
        let task = match joined {
            Some(task) => Some(task),
            None => self.join(&event, (file, number)),
        };
        if let Some(task) = task {
            event.attach_task(task);
        }
        self.tell_no_tasks(&event);
        if !self.filter.wants_event(&event) {
            self.not_shown(&event);
            return Ok(());
        }
        if event.outcome == Outcome::Pending && self.filter.holds_pending() {
            // Its outcome is not known yet: shown (or not) when the task ends.
            if let Some(task) = &event.task {
                self.held.insert(
                    task.upid.text.clone(),
                    Held {
                        text: text.to_vec(),
                        file: file.to_string(),
                        number,
                        body: body.clone(),
                    },
                );
            }
            return Ok(());
        }
        if !self.filter.wants_outcome(event.outcome) {
            self.not_shown(&event);
            return Ok(());
        }
        self.renderer.event(self.output.buf(), &event);
        self.output.commit()
    }

    /// The journal's login for a `POST …/access/ticket` line, if one fits.
    fn journal_login(
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
        journal.login(time, line.client().unwrap_or_default())
    }

    /// What the journal said of a login, onto its line: the user who tried (the log has `-`),
    /// the outcome and why; a success soon after another one of the same user and client is a
    /// ticket renewal (the web UI renews every 15 minutes, pve-manager `Workspace.js`).
    fn attach_login<'e>(&mut self, event: &mut Event<'e>, login: &'e journal_join::Login) {
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
            if let Some(last) = self.logins.insert(key, now) {
                if now - last <= RENEWAL_WITHIN {
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
    fn journal_body(&mut self, event: &mut Event<'_>) {
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
        let Some(body) = journal.body(
            event.time.as_second(),
            user,
            &vmid,
            wants,
            snapname.as_deref(),
            &split,
        ) else {
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
    fn show_entry(&mut self, entry: &Entry) -> io::Result<()> {
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
            Said::Resize {
                user,
                vmid,
                disk,
                size,
            } => (
                user.as_ref(),
                change(
                    b"PUT",
                    format!("{vmid}/resize"),
                    vec![
                        ("disk".into(), disk.to_string()),
                        ("size".into(), size.to_string()),
                    ],
                ),
            ),
            Said::MoveDisk {
                user,
                vmid,
                disk,
                storage,
            } => (
                user.as_ref(),
                change(
                    b"POST",
                    format!("{vmid}/move_disk"),
                    vec![
                        ("disk".into(), disk.to_string()),
                        ("storage".into(), storage.to_string()),
                    ],
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
                        vec![("snapname".into(), name.to_string())],
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
                let auth = Auth { kind, reason: None };
                let told = Told {
                    time,
                    node,
                    user: Some(user),
                    process,
                    origin,
                };
                let event = Event::from_login(told, None, true, auth);
                return self.show_alone(&event);
            }
            Said::LoginFailed {
                client,
                user,
                reason,
            } => {
                let auth = Auth {
                    kind: "login",
                    reason: Some(reason.to_string()),
                };
                let told = Told {
                    time,
                    node,
                    user: user.ok(),
                    process,
                    origin,
                };
                let event = Event::from_login(told, Some(client), false, auth);
                return self.show_alone(&event);
            }
            Said::OpenidFailed { client, reason } => {
                let auth = Auth {
                    kind: "openid",
                    reason: Some(reason.to_string()),
                };
                let told = Told {
                    time,
                    node,
                    user: None,
                    process,
                    origin,
                };
                let event = Event::from_login(told, Some(client), false, auth);
                return self.show_alone(&event);
            }
            Said::PasswordChanged { user } => {
                let auth = Auth {
                    kind: "password",
                    reason: None,
                };
                let told = Told {
                    time,
                    node,
                    user: Some(user),
                    process,
                    origin,
                };
                let event = Event::from_login(told, None, true, auth);
                return self.show_alone(&event);
            }
            Said::TaskStarted { .. } | Said::TaskEnded { .. } | Said::TicketRefused { .. } => {
                return Ok(());
            }
        };
        let (method, path, params) = change;
        let told = Told {
            time,
            node,
            user: Some(user),
            process,
            origin,
        };
        let mut event = Event::from_cli(told, method, path.as_bytes(), params);
        if !cli {
            // pvedaemon wrote it: an API call whose line was not read.
            event.via = Some(Via::Api);
            event.program = None;
        }
        self.show_alone(&event)
    }

    /// Shows an event that has no log line, if the filter wants it.
    fn show_alone(&mut self, event: &Event<'_>) -> io::Result<()> {
        self.filter.note_user(event.user);
        if self.filter.wants_class(event.class)
            && self.filter.wants_user(event.user)
            && self.filter.wants_time(event.time)
            && self.filter.wants_outcome(event.outcome)
            && self.filter.wants_event(event)
        {
            self.renderer.event(self.output.buf(), event);
            self.output.commit()?;
        }
        Ok(())
    }

    /// Takes in the journal's entries: task starts tell who forked each task; the rest wait
    /// for their lines.
    pub(crate) fn add_journal(&mut self, journal: Journal) {
        let join = self.journal.get_or_insert_with(JournalJoin::default);
        let mut rest = Vec::with_capacity(journal.entries.len());
        for entry in journal.entries {
            match said::parse(&entry.program, &entry.message) {
                Some(Said::TaskStarted { upid, .. }) => {
                    self.forkers.insert(upid.to_string(), entry.program.clone());
                }
                Some(Said::TaskEnded { .. }) => {}
                Some(_) => rest.push(entry),
                None => {}
            }
        }
        join.add(rest);
    }

    /// A joined request that the filter does not show: the end of its task is not shown either.
    fn not_shown(&mut self, event: &Event<'_>) {
        if let Some(task) = &event.task {
            self.correlator.unwatch_end(&task.upid.text);
        }
    }
}

/// Reads a saved spool events file into the pipeline (`convert --events`).
pub(crate) fn load_events(pipeline: &mut Pipeline, path: &std::path::Path) {
    pipeline.spool_name = path.to_string_lossy().into_owned();
    match spool::read_events_file(path, &mut pipeline.spool_held) {
        Ok(events) => pipeline.add_bodies(events),
        Err(e) => messages::input_error(&messages::os_error(path, &e)),
    }
    let name = pipeline.spool_name.clone();
    pipeline.spool_held.report(&name);
}

/// The directory of another source (the task index, the recorder spool): the one given
/// (`true`: explicit, so a failure to use it is an error), else the node's `default` when the
/// node's own log is read and the directory exists (a host's sources belong to its own log); none
/// when disabled.
pub(crate) fn source_dir(
    given: Option<&PathBuf>,
    disabled: bool,
    default: &str,
    node_log: bool,
) -> Option<(PathBuf, bool)> {
    let default = input::system_path(default);
    match given {
        _ if disabled => None,
        Some(dir) => Some((dir.clone(), true)),
        None if node_log && default.is_dir() => Some((default, false)),
        None => None,
    }
}

/// Opens the task directory into the pipeline; an explicit one that cannot be read is an input
/// error (exit status 2), the run goes on without tasks.
pub(crate) fn open_tasks(pipeline: &mut Pipeline, args: &crate::cli::TaskArgs, node_log: bool) {
    let dir = source_dir(
        args.tasks.as_ref(),
        args.no_tasks,
        DEFAULT_TASK_DIR,
        node_log,
    );
    if let Some((dir, explicit)) = dir {
        if let Err(e) = pipeline.open_tasks(dir.clone()) {
            let text = format!(
                "{}: cannot read the task directory: {e}{}",
                dir.display(),
                messages::hint_suffix(&dir, &e)
            );
            if explicit {
                messages::input_error(&text);
            } else {
                messages::message(&text);
            }
        }
    }
}

/// Reads the journal into the pipeline: the `--journal-file`s, else the node's journal when
/// asked for or by default (the node's own log is read and journalctl is installed). What
/// cannot be read is said once; the run goes on without it.
pub(crate) fn open_journal(
    pipeline: &mut Pipeline,
    args: &crate::cli::JournalArgs,
    select: &crate::cli::SelectArgs,
    node_log: bool,
) {
    if args.no_journal {
        return;
    }
    let query = journal_source::Query {
        since: select.since,
        until: select.until,
        ..journal_source::Query::default()
    };
    let mut journal = Journal::default();
    if !args.journal_file.is_empty() {
        let zone = jiff::tz::TimeZone::system();
        for file in &args.journal_file {
            journal.read_file(file, &query, &zone);
        }
    } else {
        match journal_source::journalctl() {
            Some(program) if args.journal || node_log => journal.read_system(&program, &query),
            None if args.journal => messages::input_error(
                "--journal: journalctl is not installed (/usr/bin/journalctl); apt install \
                 systemd, or give a copy of the journal with --journal-file",
            ),
            _ => return,
        }
    }
    journal.sort();
    pipeline.add_journal(journal);
}

/// What a convert run reads, decided before the pipeline is made (the node name depends on it).
pub(crate) struct Plan {
    /// The files named, else standard input when it has something to read, else the node's
    /// default log.
    pub(crate) files: Vec<PathBuf>,
    /// Every file is one of the node's own logs: this host's task index, spool and name apply.
    pub(crate) node_log: bool,
    /// Standard input is read because it is a pipe and no FILE was given: if it turns out empty,
    /// it was probably not meant as input (cron attaches one), which is worth a word.
    implied_pipe: bool,
}

impl Plan {
    pub(crate) fn new(files: &[PathBuf]) -> Plan {
        if !files.is_empty() {
            return Plan {
                files: files.to_vec(),
                node_log: files.iter().all(|f| input::is_node_log(f)),
                implied_pipe: false,
            };
        }
        if let Some(stdin) = input::readable_stdin() {
            return Plan {
                files: vec![PathBuf::from("-")],
                node_log: false,
                implied_pipe: stdin == input::StdinInput::Stream,
            };
        }
        Plan {
            files: vec![input::system_path(input::DEFAULT_LOG)],
            node_log: true,
            implied_pipe: false,
        }
    }
}

/// Runs `convert`; `Ok(true)` when every input was read.
pub(crate) fn run(args: &ConvertArgs, plan: &Plan, mut pipeline: Pipeline) -> Result<bool> {
    let mut groups = match input::groups(&plan.files, args.rotated) {
        Ok(groups) => groups,
        Err(e) => {
            messages::input_error(&format!("{e}"));
            Vec::new()
        }
    };
    if let (Some(since), false) = (args.select.since, args.rotated) {
        reach_back(&mut groups, plan, since);
    }
    let sources: Vec<String> = groups.iter().flatten().map(|s| s.name.clone()).collect();
    pipeline.renderer.header(pipeline.output.buf(), &sources);
    pipeline.output.commit()?;
    open_tasks(&mut pipeline, &args.tasks, plan.node_log);
    open_journal(&mut pipeline, &args.journal, &args.select, plan.node_log);
    if let Some(events) = &args.events {
        load_events(&mut pipeline, events);
    }

    let progress = Progress::default();
    let bar = progress_bar(&groups);
    for group in &groups {
        read_group(group, &mut pipeline, &progress, bar.as_ref())?;
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if plan.implied_pipe && progress.get() == 0 {
        messages::message(&format!(
            "standard input was empty: without FILE, pverec reads standard input when it is a \
             pipe, as under cron and in CI too; name the log to read, e.g. {}",
            input::system_path(input::DEFAULT_LOG).display()
        ));
    }
    let events_name = args
        .events
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned());
    pipeline.finish(events_name.as_deref())?;
    pipeline.renderer.finish(pipeline.output.buf());
    pipeline.output.flush()?;
    pipeline.filter.report_unmatched_users();
    messages::finish();
    Ok(!messages::errored())
}

/// `--since` without `--rotated`: the node's own log is read back into its rotated generations
/// as far as `since` asks (as follow does), merged with it by time; a generation also named on
/// the command line is not read twice. Any other file is read alone, but when `since` is before
/// its first line and older generations of it exist, the run says so once per file.
fn reach_back(groups: &mut [Vec<Source>], plan: &Plan, since: Timestamp) {
    let named: Vec<PathBuf> = plan
        .files
        .iter()
        .filter_map(|f| f.canonicalize().ok())
        .collect();
    for group in groups.iter_mut() {
        let [source] = group.as_slice() else {
            continue;
        };
        if source.path.as_os_str() == "-" {
            continue;
        }
        let log = source.path.clone();
        if plan.node_log {
            let older: Vec<Source> = input::generations_since(&log, since)
                .into_iter()
                .filter(|g| g.canonicalize().is_ok_and(|c| !named.contains(&c)))
                .map(Source::found)
                .collect();
            group.splice(0..0, older);
            continue;
        }
        let Some(first) = input::first_time(&log) else {
            continue;
        };
        if first <= since {
            continue;
        }
        let Ok(mut older) = input::rotated_set(&log) else {
            continue;
        };
        older.pop(); // the file itself
        if older.is_empty() {
            continue;
        }
        older.reverse(); // newest first, as an admin counts them
        let mut names: Vec<String> = older
            .iter()
            .take(8)
            .map(|p| {
                p.file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
            })
            .collect();
        if older.len() > 8 {
            names.push(format!("and {} more", older.len() - 8));
        }
        messages::message(&format!(
            "{} begins at {}, after --since; older generations are beside it ({}): --rotated \
             reads them",
            source.name,
            crate::time::local_in(first, &jiff::tz::TimeZone::system()),
            names.join(", ")
        ));
    }
}

/// An open input with its current line and that line's time (for merging).
struct Head<'s> {
    source: &'s Source,
    lines: Lines,
    number: u64,
    /// Merge key of the current line: its time in seconds; malformed lines sort first so that
    /// they are reported where they stand.
    key: i64,
    /// Until the first access.log line: the first line that is not one (number, text).
    kind: FileKind,
}

/// Whether a file is an access.log at all, as far as it was read.
enum FileKind {
    /// No line with anything in it yet (an empty file is a fine log).
    Empty,
    /// Only lines that are not access.log lines so far: the first of them.
    Foreign(u64, Vec<u8>),
    /// At least one access.log line: the file is a log, malformed lines are only skipped.
    Log,
}

impl<'s> Head<'s> {
    /// Moves to the next line; `false` at the end or on a read error (reported).
    fn advance(&mut self, merging: bool) -> bool {
        match self.lines.advance() {
            Ok(true) => {
                self.number += 1;
                if merging {
                    let parsed = access::parse(self.lines.line());
                    self.key = parsed
                        .as_ref()
                        .ok()
                        .and_then(|l| l.timestamp())
                        .map_or(i64::MIN, |t| t.as_second());
                    if !matches!(self.kind, FileKind::Log) {
                        self.judge(parsed.is_ok());
                    }
                } else if !matches!(self.kind, FileKind::Log) {
                    // One parse more per file: only until its first access.log line.
                    let ok = access::parse(self.lines.line()).is_ok();
                    self.judge(ok);
                }
                true
            }
            Ok(false) => false,
            Err(e) => {
                messages::input_error(&format!(
                    "{}: read error after line {}: {e}; the rest of this file is skipped",
                    self.source.name, self.number
                ));
                false
            }
        }
    }

    fn judge(&mut self, access_line: bool) {
        let line = self.lines.line();
        if access_line {
            self.kind = FileKind::Log;
        } else if matches!(self.kind, FileKind::Empty) && !line.is_empty() && line != b"\r" {
            self.kind = FileKind::Foreign(self.number, line.to_vec());
        }
    }

    /// The end of the file: one in which no line is an access.log line was most likely named
    /// by mistake (syslog for access.log): an input error with its first line, not a quiet
    /// success.
    fn finish(&self) {
        if let FileKind::Foreign(number, line) = &self.kind {
            const SHOWN: usize = 100;
            let mut quoted = String::from_utf8_lossy(&line[..line.len().min(SHOWN)]).into_owned();
            if line.len() > SHOWN {
                quoted.push_str("...");
            }
            messages::input_error(&format!(
                "{}: not an access.log: no line is one; line {number} is \"{quoted}\"",
                self.source.name
            ));
        }
    }
}

/// Reads a group of files, merged by time when there is more than one.
fn read_group(
    group: &[Source],
    pipeline: &mut Pipeline,
    progress: &Progress,
    bar: Option<&indicatif::ProgressBar>,
) -> io::Result<()> {
    let merging = group.len() > 1;
    let mut heads: Vec<Head<'_>> = Vec::with_capacity(group.len());
    for source in group {
        match Lines::open(source, progress.clone()) {
            Ok(lines) => {
                let mut head = Head {
                    source,
                    lines,
                    number: 0,
                    key: 0,
                    kind: FileKind::Empty,
                };
                if head.advance(merging) {
                    heads.push(head);
                }
            }
            Err(e) => {
                messages::input_error(&messages::os_error_named(&source.name, &source.path, &e))
            }
        }
    }
    let mut since_tick = 0u32;
    while !heads.is_empty() {
        // The oldest line first; on equal times, the older file (earlier in the group) first.
        let i = if heads.len() == 1 {
            0
        } else {
            (0..heads.len())
                .min_by_key(|&i| (heads[i].key, i))
                .unwrap_or(0)
        };
        let head = &mut heads[i];
        pipeline.line(head.lines.line(), &head.source.name, head.number)?;
        if !head.advance(merging) {
            head.finish();
            heads.remove(i);
        }
        since_tick += 1;
        if since_tick == 1 << 14 {
            since_tick = 0;
            if let Some(bar) = bar {
                bar.set_position(progress.get());
            }
        }
    }
    Ok(())
}

/// A progress bar on stderr for long runs, only when stderr is a terminal and stdout is not
/// (on a shared terminal the bar would garble the output it sits under).
fn progress_bar(groups: &[Vec<Source>]) -> Option<indicatif::ProgressBar> {
    const LONG: u64 = 64 << 20;
    if !io::stderr().is_terminal() || io::stdout().is_terminal() {
        return None;
    }
    let total = input::total_size(groups);
    if total < LONG {
        return None;
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr(),
    );
    let style = indicatif::ProgressStyle::with_template(
        "pverec: {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left) {wide_bar}",
    );
    if let Ok(style) = style {
        bar.set_style(style);
    }
    Some(bar)
}
