//! The pipeline: what a run needs to turn lines into output, shared by convert (over whole
//! files) and follow (live).
//!
//! access.log line -> [`access::Line`] -> [`Request`] -> filter -> [`Event`] -> renderer. The
//! per-line path is pverec's hot path: a line that the filter does not want is passed over
//! where it is read ([`PassOver`]), most of them by the screen of plain GET lines
//! ([`access::screen`]), the others after one parse without allocation and the class test;
//! only selected lines become events. Each line's fate is one of three: shown, filtered out,
//! or reported as malformed. Nothing is dropped silently.
//!
//! A selected line's event is joined with what the other sources say about it (its spool body,
//! its task: [`crate::join::tasks`]; its journal entries: [`journal`]) before the outcome
//! filter, the last test, since only the join knows the outcome. The pipeline also shows what
//! the other sources hold on their own: tasks that no request claimed (as the log time passes
//! their join window), spool events that never got their line, journal entries of work on the
//! shell, and, in follow, the end of a task whose request was already shown. [`sources`] opens
//! the sources into it.

mod journal;
mod sources;

pub(crate) use sources::{load_events, open_etc_pve, open_journal, open_tasks, source_dir};

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

use jiff::Timestamp;

use crate::event::{Auth, Event, Origin, Outcome, ParamsSource, Via};
use crate::filter::Filter;
use crate::input;
use crate::join::journal::JournalJoin;
use crate::join::tasks::{Claim, Correlator, Ended};
use crate::messages;
use crate::render::Renderer;
use crate::request::{self, Class, ClassSet, Request};
use crate::sink::Output;
use crate::source::access;
use crate::source::etc_pve::watch::FileChange;
use crate::source::spool::{self, Recorder, SpoolEvent};
use crate::source::task::{Task, TaskDir};
use journal::Forkers;

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
    /// follow: journalctl, read live.
    pub(crate) journal_live: Option<crate::source::journal::Live>,
    /// convert: the journal, read as the log goes by.
    journal_feed: Option<crate::source::journal::Stream>,
    /// The latest log time the journal was read for (to that time plus an hour): a line of no
    /// later time needs no look at it.
    journal_pulled: i64,
    /// follow: the signal pipe, which a short wait for the journal watches too.
    pub(crate) signals: Option<std::os::fd::RawFd>,
    /// Without a task directory: the ends of tasks the journal told, by UPID (when, status).
    task_ends: HashMap<String, (i64, String)>,
    /// Backup jobs' command lines from the journal, by worker pid: (when, arguments).
    backup_jobs: HashMap<u32, (i64, String)>,
    /// Guest names from `/etc/pve`, when it is read.
    pub(crate) guest_names: Option<crate::source::etc_pve::GuestNames>,
    /// follow: entries of work on the shell read since the last look, shown at the next.
    shell_now: Vec<crate::source::journal::Entry>,
    /// Who forked each task, from the journal's `starting task` entries: a task without a
    /// request that `qm` or `vzdump` started was work on the shell.
    forkers: Forkers,
    /// The last successful login per (user, client): a new one soon after is a renewal.
    logins: HashMap<(String, Vec<u8>), i64>,
    /// The last console request (vncproxy, termproxy, spiceproxy, vncwebsocket) per user.
    consoles: HashMap<Vec<u8>, i64>,
    /// `pverec sessions`: every event goes to the sessions book instead of the renderer.
    pub(crate) sessions: Option<Box<crate::session::render::Sessions>>,
    /// follow with `/etc/pve`: what changed there, and the requests that changed it.
    pub(crate) config: Option<Box<ConfigFollow>>,
    /// A cluster read: the node of the line being processed, and what the fold of proxied
    /// hops says of it ([`crate::join::hops`]).
    pub(super) line_node: Option<Rc<str>>,
    line_proxy: Option<crate::join::hops::Proxy>,
    /// A cluster read's `--on-node`: only events on these nodes.
    pub(crate) on_nodes: Vec<String>,
    /// follow over a cluster: the other nodes' readers, and the fold of this node's lines
    /// with theirs. Taken out while it feeds the pipeline.
    pub(crate) cluster: Option<Box<crate::follow::cluster::ClusterFollow>>,
}

/// The lines [`Pipeline::convert`] returns from before anything but parsing, told without the
/// pipeline ([`Pipeline::pass_over`]): what the filter rejects by the request line alone and
/// that claims no change in /etc/pve, and empty lines. Malformed lines are never passed over:
/// the pipeline reports them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PassOver {
    wanted: ClassSet,
    /// Whether /etc/pve is followed: every possible write claims its changes, shown or not.
    claims: bool,
}

impl PassOver {
    /// A pass-over of its own, for the merge's checks (tests, fuzzing).
    pub(crate) fn new(wanted: ClassSet, claims: bool) -> PassOver {
        PassOver { wanted, claims }
    }

    /// Whether `text` is passed over, told by the screen alone ([`access::screen`]): a
    /// well-formed line of a plain GET, when no class of such a line is wanted. `false` says
    /// nothing: [`PassOver::passes_over`] decides on the parsed line.
    #[inline]
    pub(crate) fn screens(&self, text: &[u8]) -> bool {
        !self.wanted.intersects(request::GET_CLASSES) && access::screen::plain_get(text)
    }

    /// Whether `text`, parsed as `parsed`, is passed over.
    pub(crate) fn passes_over(
        &self,
        text: &[u8],
        parsed: &Result<access::Line<'_>, access::Malformed>,
    ) -> bool {
        let Ok(line) = parsed else {
            return text.is_empty() || text == b"\r";
        };
        if text.len() > input::MAX_LINE {
            return false;
        }
        let classes = request::possible_classes(line.request);
        let claims = self.claims && classes.contains(Class::Write);
        !(claims || self.wanted.intersects(classes))
    }
}

/// follow's watch on `/etc/pve` ([`crate::source::etc_pve::watch`]) and its join with the
/// writes ([`crate::join::changes`]).
pub(crate) struct ConfigFollow {
    pub(crate) watch: crate::source::etc_pve::watch::ConfigWatch,
    pub(crate) join: crate::join::changes::ChangeJoin,
    /// When the last look was made.
    pub(crate) looked: Instant,
    /// Where `--state` keeps the snapshots, when it is given.
    pub(crate) saved_at: Option<PathBuf>,
}

/// How often follow looks at `/etc/pve` when nothing is written (a look reads `.version` and
/// `.vmlist`, a few KiB, and lists the firewall directory): a change made on another node of
/// the cluster, which nothing here announces, is seen within this. A write request in the log
/// makes a look at once.
pub(crate) const CONFIG_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// The API call a task started on the shell stands for, when it is one endpoint with no
/// parameters beyond the path: `qm start 100` is `POST /nodes/{node}/qemu/100/status/start`.
/// Others (a clone, a backup: their options are not in the journal) stay tasks.
fn shell_call(task: &Task, program: &str) -> Option<(&'static [u8], String)> {
    if matches!(
        program,
        "pvedaemon" | "pveproxy" | "pvescheduler" | "pve-ha-lrm"
    ) {
        return None;
    }
    let upid = &task.upid;
    let id = &upid.id;
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let node = &upid.node;
    let (method, tail): (&'static [u8], &str) = match upid.kind.as_str() {
        "qmstart" => (b"POST", "qemu/{}/status/start"),
        "qmstop" => (b"POST", "qemu/{}/status/stop"),
        "qmshutdown" => (b"POST", "qemu/{}/status/shutdown"),
        "qmreboot" => (b"POST", "qemu/{}/status/reboot"),
        "qmsuspend" => (b"POST", "qemu/{}/status/suspend"),
        "qmresume" => (b"POST", "qemu/{}/status/resume"),
        "qmdestroy" => (b"DELETE", "qemu/{}"),
        "vzstart" => (b"POST", "lxc/{}/status/start"),
        "vzstop" => (b"POST", "lxc/{}/status/stop"),
        "vzshutdown" => (b"POST", "lxc/{}/status/shutdown"),
        "vzreboot" => (b"POST", "lxc/{}/status/reboot"),
        "vzdestroy" => (b"DELETE", "lxc/{}"),
        _ => return None,
    };
    Some((method, format!("/nodes/{node}/{}", tail.replace("{}", id))))
}

/// The parameters of a config write whose body no source gave, rebuilt from the change it
/// made in `/etc/pve` ([`crate::join::config`]): marked as such (`params_source: "config"`,
/// the pvesh note "options rebuilt from the config change"), and not replayable as it stands
/// when a value could not be rebuilt (a password).
fn config_body(event: &mut crate::event::Event<'_>) {
    let (Some(template), Some(method), Some(path)) =
        (event.template, event.method, event.path.as_deref())
    else {
        return;
    };
    // A restore writes a config that looks like a create's: not rebuilt as one.
    if event
        .task
        .as_ref()
        .is_some_and(|t| matches!(t.upid.kind.as_str(), "qmrestore" | "vzrestore"))
    {
        return;
    }
    let method = String::from_utf8_lossy(method).into_owned();
    let path = path.to_vec();
    let rebuilt = event
        .file_changes
        .iter()
        .find_map(|change| crate::join::changes::rebuild(template, &method, &path, change));
    let Some(rebuilt) = rebuilt else {
        return;
    };
    event.attach_logged_params(rebuilt.params, ParamsSource::Config);
    if !rebuilt.not_rebuilt.is_empty() && event.not_replayable.is_none() {
        event.not_replayable = Some(
            format!(
                "rebuilt from the config change, which does not tell {}",
                rebuilt.not_rebuilt.join(", ")
            )
            .into(),
        );
    }
}

/// A line held back until its task ends.
struct Held {
    text: Vec<u8>,
    file: String,
    number: u64,
    /// The spool event it took, given back when the line is processed again.
    body: Option<SpoolEvent>,
    /// The changes in /etc/pve it claimed (a second look would find them taken).
    changes: Vec<FileChange>,
    /// A cluster read: the node that logged it and its proxy mark, as when it was first seen.
    node: Option<Rc<str>>,
    proxy: Option<crate::join::hops::Proxy>,
}

/// What a held line already took: its task, and its spool event if it had one. Boxed, so that
/// passing "nothing taken" for every other line costs a word, not the size of both.
type Taken = Box<(Task, Option<SpoolEvent>, Vec<FileChange>)>;

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
            journal_live: None,
            journal_feed: None,
            journal_pulled: i64::MIN,
            signals: None,
            shell_now: Vec::new(),
            guest_names: None,
            backup_jobs: HashMap::new(),
            task_ends: HashMap::new(),
            forkers: Forkers::default(),
            logins: HashMap::new(),
            consoles: HashMap::new(),
            sessions: None,
            config: None,
            line_node: None,
            line_proxy: None,
            on_nodes: Vec::new(),
            cluster: None,
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
        if let (Some(sessions), Some(archive)) = (&mut self.sessions, &update.archive) {
            sessions.book.tasks_since = archive.oldest_end;
        }
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
            let taken = Box::new((ended.task, held.body, held.changes));
            // Its node and proxy mark come with it (another line's may be set now).
            let node = std::mem::replace(&mut self.line_node, held.node);
            let proxy = std::mem::replace(&mut self.line_proxy, held.proxy);
            let done = self.process(&held.text, &held.file, held.number, Some(taken));
            self.line_node = node;
            self.line_proxy = proxy;
            return done;
        }
        if let Some(sessions) = &mut self.sessions {
            sessions.task_end(self.output.buf(), &ended.task);
        } else {
            self.renderer.task_end(self.output.buf(), &ended);
        }
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

    pub(super) fn show_task(&mut self, task: &Task) -> io::Result<()> {
        self.filter.note_user(Some(task.upid.user.as_bytes()));
        if self
            .task_floor
            .is_some_and(|floor| task.upid.start >= floor)
        {
            if let Some(program) = self.forkers.get(&task.upid.text).map(str::to_string) {
                if let Some((method, path)) = shell_call(task, &program) {
                    return self.show_shell_task(task, program, method, &path);
                }
            }
        }
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
                event.program = Some(program.to_string());
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
        self.render(&mut event);
        if event.outcome == Outcome::Pending {
            self.correlator.watch_end(&task.upid.text);
        }
        self.output.commit()
    }

    /// A task started on the shell (`qm start 100`: the journal's `starting task` entry is
    /// `qm`'s) whose call is one endpoint: shown as that call, class `write`, `origin: "cli"`,
    /// with its task and outcome.
    fn show_shell_task(
        &mut self,
        task: &Task,
        program: String,
        method: &'static [u8],
        path: &str,
    ) -> io::Result<()> {
        let told = crate::event::Told {
            time: jiff::Timestamp::from_second(task.upid.start).unwrap_or_default(),
            node: Some(&task.upid.node),
            user: Some(&task.upid.user),
            process: crate::event::Process {
                name: format!("{program} task worker"),
                pid: Some(task.upid.pid),
            },
            origin: Origin {
                file: "journal",
                line: 0,
            },
        };
        let mut event = Event::from_cli(told, method, path.as_bytes(), Vec::new());
        event.program = Some(program);
        event.attach_task(task.clone());
        if self.show_alone(&mut event)? && event.outcome == Outcome::Pending {
            self.correlator.watch_end(&task.upid.text);
        }
        Ok(())
    }

    /// Shows an event that has no log line (from the journal), if the filter wants it;
    /// whether it was shown.
    pub(super) fn show_alone(&mut self, event: &mut Event<'_>) -> io::Result<bool> {
        self.filter.note_user(event.user);
        if self.config.is_some() {
            let source = (event.origin.file.to_string(), event.origin.line);
            event.file_changes = self.claim_changes(event, (&source.0, source.1));
        }
        let wanted = self.filter.wants_class(event.class)
            && self.filter.wants_user(event.user)
            && self.filter.wants_time(event.time)
            && self.filter.wants_outcome(event.outcome)
            && self.filter.wants_event(event);
        if wanted {
            self.render(event);
            self.output.commit()?;
        }
        Ok(wanted)
    }

    /// A backup job's parameters from its task's log, for `POST /nodes/{node}/vzdump`, whose
    /// body access.log does not have.
    fn task_log_body(&self, event: &mut Event<'_>, task: &Task) {
        if event.template != Some("/nodes/{node}/vzdump")
            || event.method != Some(b"POST")
            || task.upid.kind != "vzdump"
            || !event.params.is_empty()
        {
            return;
        }
        let from_log = self
            .tasks
            .as_ref()
            .map(TaskDir::dir)
            .and_then(|dir| crate::source::task_log::backup_job(dir, &task.upid.text))
            .map(|found| (found, ParamsSource::TaskLog));
        // Else the worker's same line in the journal: its pid is the UPID's, written as the
        // task starts.
        let from_journal = || {
            let (time, args) = self.backup_jobs.get(&task.upid.pid)?;
            let fits = (task.upid.start..=task.upid.start + 60).contains(time);
            fits.then(|| {
                (
                    crate::source::task_log::parse_job(args),
                    ParamsSource::Journal,
                )
            })
        };
        match from_log.or_else(from_journal) {
            Some((Ok(params), source)) => event.attach_logged_params(params, source),
            Some((Err(why), _)) => messages::message(&format!(
                "{}:{}: the backup job's line in its task log is not used: {why}",
                event.origin.file, event.origin.line
            )),
            None => {}
        }
    }

    /// Renders an event, its guest named first (`/etc/pve`).
    pub(super) fn render(&mut self, event: &mut Event<'_>) {
        if !self.on_wanted_node(event) {
            return;
        }
        if let (Some(names), Some(object)) = (self.guest_names.as_mut(), event.object.as_mut()) {
            if matches!(object.kind, "qemu" | "lxc" | "vmid") && object.name.is_none() {
                object.name = names.name(&object.id);
            }
        }
        match &mut self.sessions {
            Some(sessions) => sessions.event(self.output.buf(), event),
            None => self.renderer.event(self.output.buf(), event),
        }
    }

    /// A write's changes in `/etc/pve`, claimed for it (before any filter: a change made by a
    /// request that is not shown is not one without a request). Looks at once.
    pub(super) fn claim_changes(
        &mut self,
        event: &crate::event::Event<'_>,
        source: (&str, u64),
    ) -> Vec<FileChange> {
        let Some(config) = &mut self.config else {
            return Vec::new();
        };
        if event.class != Class::Write || !event.may_have_run() {
            return Vec::new();
        }
        let Some(files) = crate::join::changes::files_of(event) else {
            return Vec::new();
        };
        let now = Instant::now();
        let changes = config.watch.look_at(Some(files.paths()));
        config.join.add(changes, now);
        let task_call = event
            .endpoint
            .filter(|e| !e.task_types().is_empty())
            .and_then(|_| {
                Some(crate::join::changes::Call {
                    template: event.template?,
                    method: String::from_utf8_lossy(event.method?).into_owned(),
                    path: event.path.as_deref()?.to_vec(),
                })
            });
        config.join.claim(files, source, now, task_call)
    }

    /// follow: looks at `/etc/pve` when [`CONFIG_POLL`] has passed, and shows the changes that
    /// no line claimed in time.
    pub(crate) fn config_tick(&mut self, now: Instant) -> io::Result<()> {
        let Some(config) = &mut self.config else {
            return Ok(());
        };
        if now.duration_since(config.looked) >= CONFIG_POLL {
            let changes = config.watch.look();
            config.join.add(changes, now);
            config.looked = now;
        }
        let unclaimed = config.join.unclaimed(now, crate::join::changes::WAIT);
        for change in unclaimed {
            self.show_change(&change)?;
        }
        Ok(())
    }

    /// A change no line claimed: a record of its own (class `change`).
    fn show_change(&mut self, change: &crate::join::changes::Unclaimed) -> io::Result<()> {
        let time = Timestamp::now();
        if !self.filter.wants_class(Class::Change)
            || !self.filter.wants_time(time)
            || !self.filter.users_unset()
        {
            return Ok(());
        }
        let name = change.change.vmid.as_ref().and_then(|vmid| {
            self.guest_names
                .as_mut()
                .and_then(|names| names.name(vmid.as_bytes()))
        });
        let node = self.node.clone();
        self.renderer.change(
            self.output.buf(),
            change,
            time,
            node.as_deref(),
            name.as_deref(),
        );
        self.output.commit()
    }

    /// follow: when `/etc/pve` must be looked at next.
    pub(crate) fn config_due(&self) -> Option<Instant> {
        let config = self.config.as_ref()?;
        let poll = config.looked + CONFIG_POLL;
        Some(config.join.next_due().map_or(poll, |due| due.min(poll)))
    }

    /// follow's `--state`: the snapshots of `/etc/pve`, saved beside the state file when they
    /// changed (0600, written like the state: a temporary file renamed over it).
    pub(crate) fn save_config(&mut self) -> io::Result<()> {
        let Some(config) = &mut self.config else {
            return Ok(());
        };
        let (Some(path), true) = (config.saved_at.clone(), config.watch.dirty) else {
            return Ok(());
        };
        let saved = config.watch.save();
        let text = serde_json::to_vec(&saved).map_err(io::Error::other)?;
        crate::follow::write_private(&path, &text)
    }

    /// follow's `--state`: the sessions open now.
    pub(crate) fn sessions_state(&self) -> Option<serde_json::Value> {
        let sessions = self.sessions.as_ref()?;
        serde_json::to_value(sessions.book.save()).ok()
    }

    /// follow's `--state`: the sessions open at the last save. A console waits for its task's
    /// end: told now if the task ended while pverec was stopped, else when it ends.
    pub(crate) fn restore_sessions(&mut self, saved: serde_json::Value) -> io::Result<()> {
        let Some(sessions) = &mut self.sessions else {
            return Ok(());
        };
        let saved = match serde_json::from_value(saved) {
            Ok(saved) => saved,
            Err(e) => {
                messages::message(&format!(
                    "the open sessions in the state file are not pverec's ({e}); they are not \
                     resumed"
                ));
                return Ok(());
            }
        };
        let waiting = sessions.book.restore(saved);
        for upid in waiting {
            let Some(task) = self.tasks.as_ref().and_then(|t| t.find(&upid)) else {
                continue;
            };
            if task.state == crate::source::task::State::Running {
                self.correlator.watch_end(&upid);
            } else if let Some(sessions) = &mut self.sessions {
                sessions.task_end(self.output.buf(), &task);
            }
        }
        self.output.commit()
    }

    /// follow: when the next open session's time is up, by the clock.
    pub(crate) fn sessions_due(&self) -> Option<i64> {
        self.sessions.as_ref()?.book.next_due()
    }

    /// follow: the clock moved on; sessions whose time is up close.
    pub(crate) fn tick_sessions(&mut self, now: i64) -> io::Result<()> {
        if let Some(sessions) = &mut self.sessions {
            sessions.tick(self.output.buf(), now);
            self.output.commit()?;
        }
        Ok(())
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
            let node = self.node.clone();
            let mut event =
                Event::from_spool(body, time, node.as_deref(), Origin { file, line: 0 });
            self.filter.note_user(event.user);
            if self.filter.wants_class(event.class)
                && self.filter.wants_user(event.user)
                && self.filter.wants_outcome(event.outcome)
                && self.filter.wants_event(&event)
            {
                self.render(&mut event);
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
            let end = last.saturating_add(crate::join::tasks::WINDOW + 1);
            self.pull_journal(end);
            self.show_unclaimed(end)?;
        }
        self.show_rest_of_journal()?;
        if let Some(journal) = self.journal.take() {
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
        self.show_bodies_alone(left, events_file.unwrap_or("spool"), time)?;
        if let Some(sessions) = &mut self.sessions {
            sessions.finish(self.output.buf());
            self.output.commit()?;
        }
        Ok(())
    }

    /// What this pipeline passes over without a trace, told from the raw line alone, for the
    /// reader (or a thread that reads ahead) to drop first ([`crate::merge`]): most lines of a
    /// log then never reach the pipeline. `None` when every line counts for something: tasks
    /// without a request are wanted (every line's time moves them on), `--user` tallies the
    /// users seen, a cluster read folds every hop; and when every class is wanted.
    pub(crate) fn pass_over(&self) -> Option<PassOver> {
        let every_time = self.tasks.is_some() && self.filter.wants_class(Class::Task);
        // With every class wanted, no line is passed over (but empty ones, which the pipeline
        // skips at once): looking would only parse every line twice.
        let quiet = !every_time
            && self.filter.classes() != ClassSet::all()
            && self.filter.users_unset()
            && self.cluster.is_none()
            && self.line_node.is_none();
        quiet.then(|| PassOver {
            wanted: self.filter.classes(),
            claims: self.config.is_some(),
        })
    }

    /// Processes one line of `file`. Empty lines carry nothing and are passed over. follow
    /// over a cluster hands this node's lines to the fold with the other nodes' first.
    pub(crate) fn line(&mut self, text: &[u8], file: &str, number: u64) -> io::Result<()> {
        if let Some(mut cluster) = self.cluster.take() {
            let done = cluster.local_line(self, text, file, number);
            self.cluster = Some(cluster);
            return done;
        }
        self.process(text, file, number, None)
    }

    /// follow over a cluster: what the other nodes brought, and what waited long enough.
    pub(crate) fn cluster_tick(&mut self) -> io::Result<()> {
        let Some(mut cluster) = self.cluster.take() else {
            return Ok(());
        };
        let done = cluster.tick(self);
        self.cluster = Some(cluster);
        done
    }

    /// follow over a cluster, stopping: the readers ended, what waits passed on.
    pub(crate) fn cluster_stop(&mut self) -> io::Result<()> {
        let Some(mut cluster) = self.cluster.take() else {
            return Ok(());
        };
        let done = cluster.stop(self);
        self.cluster = Some(cluster);
        done
    }

    /// Processes one line of a cluster read: logged by `node`, with its proxy mark.
    pub(crate) fn line_of(
        &mut self,
        text: &[u8],
        file: &str,
        number: u64,
        node: &Rc<str>,
        proxy: Option<crate::join::hops::Proxy>,
    ) -> io::Result<()> {
        self.line_node = Some(Rc::clone(node));
        self.line_proxy = proxy;
        let done = self.process(text, file, number, None);
        self.line_node = None;
        self.line_proxy = None;
        done
    }

    /// Adds a task directory to those joined (a cluster read has one per node): its tasks go
    /// to the same correlator, which tells them apart by their UPID's node.
    pub(crate) fn add_tasks(&mut self, dir: PathBuf, node: Option<&str>) -> io::Result<()> {
        let mut tasks = TaskDir::open(&dir)?;
        if let Some(node) = node {
            tasks.only_node(node);
        }
        if self.tasks.is_none() {
            let update = tasks.refresh();
            if let (Some(sessions), Some(archive)) = (&mut self.sessions, &update.archive) {
                sessions.book.tasks_since = archive.oldest_end;
            }
            self.correlator.update(update);
            self.tasks = Some(tasks);
            return Ok(());
        }
        let update = tasks.refresh();
        if let (Some(sessions), Some(archive)) = (&mut self.sessions, &update.archive) {
            // Every node's tasks are complete since the latest of their oldest ends.
            let since = &mut sessions.book.tasks_since;
            *since = match (*since, archive.oldest_end) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
        self.correlator.update(update);
        Ok(())
    }

    /// follow over a cluster: tasks another node's index or `active` told; the ends they bring
    /// are shown as those of this node's tasks are.
    pub(crate) fn remote_tasks(&mut self, update: crate::source::task::Update) -> io::Result<()> {
        for ended in self.correlator.update(update) {
            self.task_ended(ended)?;
        }
        Ok(())
    }

    /// `--on-node`: whether the event is on one of the nodes asked for (logged there, proxied
    /// there, or its task ran there).
    fn on_wanted_node(&self, event: &Event<'_>) -> bool {
        if self.on_nodes.is_empty() {
            return true;
        }
        let wanted = |n: &str| self.on_nodes.iter().any(|w| w == n);
        event.node.is_some_and(wanted)
            || event.task.as_ref().is_some_and(|t| wanted(&t.upid.node))
            || matches!(&event.proxy, Some(crate::join::hops::Proxy::Folded { to, .. }) if wanted(to))
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
        if self.journal_feed.is_some() {
            if let Some(seconds) = line.seconds().filter(|&s| s > self.journal_pulled) {
                self.pull_journal(seconds);
            }
        }
        // Tasks without a request are shown as the log time passes them, so when they are wanted
        // every line's time counts, not only the time of the lines shown.
        // (The journal needs no such thing: an entry no shown line takes is shown on its own,
        // through the same filter, once a shown line's time or the end has passed it.)
        let every_time =
            taken.is_none() && self.tasks.is_some() && self.filter.wants_class(Class::Task);
        let mut early_time = None;
        if every_time {
            early_time = line.timestamp();
            if let Some(time) = early_time {
                self.note_time(time.as_second())?;
            }
        }
        self.filter.note_user(line.user());
        // follow with /etc/pve: every write claims its changes there, shown or not (a change
        // made by a request that is not shown is not one without a request).
        let mut claimed = Vec::new();
        let mut parsed = None;
        if taken.is_none()
            && self.config.is_some()
            && request::possible_classes(line.request).contains(Class::Write)
        {
            let request = Request::parse(line.request);
            if let (Class::Write, Some(time)) = (request.class, line.timestamp()) {
                let origin = Origin { file, line: number };
                let event = Event::from_request(&line, time, &request, None, origin);
                claimed = self.claim_changes(&event, (file, number));
            }
            parsed = Some(request);
        }
        // The cheapest test first: most lines are UI polling that the class alone rejects.
        // (Every class wanted, as with --all: every line is, as each has some class.)
        let wanted = (every_time
            || self.filter.classes() == ClassSet::all()
            || self
                .filter
                .wants_any(request::possible_classes(line.request)))
            && self.filter.wants_user(line.user());
        if !wanted {
            return Ok(());
        }
        let request = parsed.unwrap_or_else(|| Request::parse(line.request));
        if self.journal.is_some() && request.class == Class::Console {
            if let (Some(user), Some(time)) = (line.user(), line.timestamp()) {
                if self.consoles.len() > 10_000 {
                    self.consoles.clear();
                }
                self.consoles.insert(user.to_vec(), time.as_second());
            }
        }
        let node = self.line_node.clone().or_else(|| self.node.clone());
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
        // What a held line took is kept in its box until it is used: moving a task and a spool
        // event out of it for every line (most take nothing) cost two large copies a line.
        let mut taken = taken;
        if let Some(taken) = &mut taken {
            claimed = std::mem::take(&mut taken.2);
        }
        if taken.is_none() && !every_time {
            self.note_time(time.as_second())?;
        }
        if !self.filter.wants_time(time) {
            return Ok(());
        }
        let origin = Origin { file, line: number };
        let login = self.journal_login(&line, time.as_second(), &request);
        let mut event = Event::unjoined(&line, time, &request, node.as_deref(), origin);
        event.join_request(&request);
        event.file_changes = claimed;
        event.proxy = self.line_proxy.clone();
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
        let kept_body = taken.as_mut().map(|taken| taken.1.take());
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
        let task = match taken {
            Some(taken) => Some(taken.0),
            None => self.join(&event, (file, number)),
        };
        if let Some(task) = task {
            self.task_log_body(&mut event, &task);
            event.attach_task(task);
        }
        if !event.file_changes.is_empty() && event.body_missing() && event.params.is_empty() {
            config_body(&mut event);
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
                        changes: std::mem::take(&mut event.file_changes),
                        node: self.line_node.clone(),
                        proxy: self.line_proxy.clone(),
                    },
                );
            }
            return Ok(());
        }
        if !self.filter.wants_outcome(event.outcome) {
            self.not_shown(&event);
            return Ok(());
        }
        self.render(&mut event);
        self.output.commit()
    }

    /// A joined request that the filter does not show: the end of its task is not shown either.
    fn not_shown(&mut self, event: &Event<'_>) {
        if let Some(task) = &event.task {
            self.correlator.unwatch_end(&task.upid.text);
        }
    }
}
