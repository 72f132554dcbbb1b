//! `pverec follow`: the convert pipeline driven by a tailer instead of whole files.
//!
//! One loop: look at the files ([`tail::Tailer::check`]) and push every complete line through
//! the same [`Pipeline`] as `convert`; flush the output (the reader is caught up now); then save
//! the checkpoint, which therefore never covers output that was not written; then sleep until
//! inotify, a poll tick, a `--rotate-wait` deadline or a signal wakes the loop.
//!
//! The task directory and the recorder spool are read at the start of each look, before the log:
//! both are written before the log line they belong to (a task at fork, a spool event before the
//! request is handled). Their directories are watched like the log's, so a task that ends wakes
//! the loop; the next task to fall out of the join window and the oldest spool event still
//! waiting for its line are deadlines of the wait.
//!
//! History (`--since`, `-n`, or what was logged while a `--state` run was stopped) is read
//! whole before the first look by the clock, so that it is joined with its tasks by log time
//! exactly as `convert` joins it; only then does the loop go live.
//!
//! SIGINT, SIGTERM and SIGHUP only set a flag and write a byte to a pipe that the wait watches,
//! so they are handled between two looks: the output is flushed and the state saved before
//! exiting (130 after SIGINT, as shells expect, 0 after SIGTERM or SIGHUP, a requested stop, as
//! for `tail -F` when its terminal goes away). Under nohup, SIGHUP stays ignored.
//!
//! No wait may outlast those signals: the handlers are installed without `SA_RESTART`, files
//! pverec finds by itself are opened only if they are regular files (a FIFO planted as a rotated
//! generation cannot block), and the output waits in `poll(2)` on the signal pipe as well
//! ([`crate::sink::Output::interruptible`]): once a stop was asked for, a stdout that takes
//! nothing is given up, and pverec exits with its usual status without saving past what was
//! written.

pub(crate) mod checkpoint;
pub(crate) mod cluster;
mod tail;
mod watch;

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result};

use std::time::{Duration, Instant};

use crate::cli::FollowArgs;
use crate::input::{self, Lines, Progress, Source};
use crate::join::tasks::BODY_WAIT;
use crate::messages;
use crate::pipeline::{self, Pipeline};
use crate::request::Class;
use crate::sink;
use crate::source::journal::{self as journal_source, Live};
use crate::source::spool::Recorder;

/// How late (seconds) a log line may be read after it was written, for the join window.
const LATE_LINE: i64 = 10;

/// Where the request recorder keeps its spool (pve-formats.md §5).
pub(crate) const DEFAULT_SPOOL: &str = "/run/pve-api-record";

use checkpoint::Checkpoint;
pub(crate) use checkpoint::write_atomically as write_private;
use tail::{Start, Tailer, Tracked};
use watch::{Wake, Waker};

pub(crate) fn run(args: &FollowArgs, mut pipeline: Pipeline) -> Result<ExitCode> {
    let signal = Arc::new(AtomicUsize::new(0));
    let (wake_read, wake_write) = UnixStream::pair().context("cannot create the signal pipe")?;
    wake_read.set_nonblocking(true)?;
    wake_write.set_nonblocking(true)?;
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    for sig in [SIGINT, SIGTERM, SIGHUP] {
        // Under nohup, SIGHUP is ignored, and stays so.
        if sig == SIGHUP && ignored(sig) {
            continue;
        }
        signal_hook::flag::register_usize(sig, Arc::clone(&signal), sig as usize)?;
        signal_hook::low_level::pipe::register(sig, wake_write.try_clone()?)?;
        no_restart(sig)?;
    }
    // Writes to a standard output nobody reads must not outlast a stop signal.
    pipeline
        .output
        .interruptible(Arc::clone(&signal), OwnedFd::from(wake_read.try_clone()?));
    // And messages to a standard error nobody reads (`2>&1 | less`).
    crate::sink::stderr_interruptible(Arc::clone(&signal), OwnedFd::from(wake_read.try_clone()?));
    match follow(args, pipeline, &signal, wake_read) {
        Err(e) if sink::is_stopped(&e) => {
            // Standard output took nothing after the signal: what was not written is dropped,
            // and the state (saved only after a flush) does not cover it.
            messages::finish();
            Ok(exit_status(&signal))
        }
        other => other,
    }
}

/// The exit status after a stop: 130 after SIGINT, as shells expect, else 0.
fn exit_status(signal: &AtomicUsize) -> ExitCode {
    if signal.load(Ordering::Relaxed) == signal_hook::consts::SIGINT as usize {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    }
}

/// Takes `SA_RESTART` off the handler signal-hook installed for `sig`: a `write(2)` to a
/// terminal that cannot take more (stopped with ^S) then ends with `EINTR` when the signal
/// comes, instead of being restarted and sleeping on; every read and wait of follow already
/// goes round again on `EINTR`.
fn no_restart(sig: libc::c_int) -> std::io::Result<()> {
    // SAFETY: sigaction(2) with a null new action only fills `action`, a zeroed sigaction that
    // lives across the call; the second call installs that same action (handler, mask and
    // flags as signal-hook set them) with one flag less.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(sig, std::ptr::null(), &mut action) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        action.sa_flags &= !libc::SA_RESTART;
        if libc::sigaction(sig, &action, std::ptr::null_mut()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The follow itself, once the signals are caught.
fn follow(
    args: &FollowArgs,
    mut pipeline: Pipeline,
    signal: &Arc<AtomicUsize>,
    wake_read: UnixStream,
) -> Result<ExitCode> {
    let cluster_plan = if args.cluster.any() {
        match crate::cluster::Plan::new(&args.cluster, &args.etc_pve) {
            Ok(plan) => {
                pipeline.on_nodes.clone_from(&args.nodes.on_node);
                Some(plan)
            }
            Err(e) => {
                messages::message(&e);
                return Ok(ExitCode::from(2));
            }
        }
    } else {
        None
    };
    let cluster_plan = cluster_plan.as_ref();
    let log = args.log();
    let since = args.select.since;
    let start = if since.is_some() || args.lines > 0 {
        Start::Beginning
    } else {
        Start::End
    };
    let mut tailer = Tailer::new(log, start, args.rotate_wait);
    let name = log.to_string_lossy().into_owned();
    pipeline.renderer.stream();
    pipeline
        .renderer
        .header(pipeline.output.buf(), std::slice::from_ref(&name));
    pipeline.output.commit()?;

    let default_log = input::is_node_log(log);
    let started = jiff::Timestamp::now().as_second();
    pipeline.live = true;
    pipeline::open_tasks(&mut pipeline, &args.tasks, default_log);
    pipeline::open_etc_pve(&mut pipeline, &args.etc_pve, default_log);
    open_config_watch(&mut pipeline, args.state.as_deref());
    pipeline.recorder = register(args, &pipeline, default_log)?;
    pipeline.signals = Some(wake_read.as_raw_fd());
    let events_name = pipeline
        .recorder
        .as_ref()
        .map(|r| r.events_path().to_string_lossy().into_owned())
        .unwrap_or_default();
    pipeline.spool_name.clone_from(&events_name);
    let mut checkpoint = None;
    let mut saved_nodes = None;
    let mut resumed = false;
    let mut journal_cursor = None;
    if let Some(state) = &args.state {
        checkpoint::make_dir(state).with_context(|| {
            format!(
                "cannot create the directory of the state file {}",
                state.display()
            )
        })?;
        let (cp, mut loaded) = Checkpoint::load(state, log);
        saved_nodes = loaded.as_mut().and_then(|l| l.nodes.take());
        if let Some(loaded) = &loaded {
            journal_cursor.clone_from(&loaded.journal_cursor);
            // The journal first, from its cursor: what was logged while pverec was stopped
            // joins its entries.
            start_journal(
                &mut pipeline,
                args,
                default_log,
                journal_cursor.take(),
                started,
            );
        }
        if let Some(saved) = loaded.as_mut().and_then(|l| l.sessions.take()) {
            pipeline.restore_sessions(saved)?;
        }
        if let Some(loaded) = loaded {
            let resumed_files = checkpoint::resume(loaded.entries, log);
            for (path, skip) in &resumed_files.replay {
                replay_file(&mut pipeline, path, *skip, signal)?;
            }
            tailer.resume(resumed_files.current, resumed_files.old, loaded.saved);
            resumed = true;
        }
        checkpoint = Some(cp);
    }

    if !resumed {
        start_journal(&mut pipeline, args, default_log, journal_cursor, started);
    }
    // The other nodes, each from where the state says it was read to (else from now).
    let mut remote_wake = None;
    if let Some(plan) = cluster_plan {
        let (cluster, wake) = cluster::ClusterFollow::start(args, plan, saved_nodes.take())
            .context("cannot start reading the other nodes")?;
        pipeline.cluster = Some(Box::new(cluster));
        remote_wake = Some(wake);
    }

    // -n N: of the history read before going live, only the last N events are shown.
    let last_only = args.lines > 0 && !resumed;
    if last_only {
        pipeline.output.keep_last(args.lines)?;
    }
    if !resumed && (since.is_some() || last_only) {
        replay_history(&mut pipeline, &mut tailer, since, signal)?;
    }
    if since.is_some() || resumed || last_only {
        // The history (from --since, -n, or what was logged while pverec was stopped) is read
        // to its end before any clock-driven look: its requests join their tasks by log time,
        // and tasks become ones without a request as the log's time passes them, as in
        // convert. Handing tasks out by the clock first would take from the history every task
        // older than a minute.
        read_history(&mut pipeline, &mut tailer)?;
    }
    if last_only {
        pipeline.output.release()?;
    }
    // Without history, tasks that started before now had their request before the start point;
    // with it, the floor is the first line read (as in convert), or now if none was.
    pipeline.task_floor.get_or_insert(started);

    let mut waker = Waker::new(args.poll, wake_read);
    if let Some(wake) = remote_wake {
        waker.watch_remote(wake);
    }
    if let Some(tasks) = &pipeline.tasks {
        waker.watch_other(tasks.dir());
    }
    if let Some(recorder) = &pipeline.recorder {
        let names = recorder
            .names()
            .iter()
            .map(|n| std::ffi::OsStr::from_bytes(n.to_bytes()).to_os_string())
            .collect();
        waker.watch_spool(input::directory(recorder.events_path()), names);
    }
    waker.sync(log, tailer.files());
    let mut first = true;
    loop {
        // Spool events and tasks are written before the log lines they belong to: read them
        // first.
        pipeline.read_spool();
        pipeline.read_journal_live()?;
        // By the clock, less a margin for a log line written but not read yet: a task shown as
        // one without a request can no longer be joined.
        let now = jiff::Timestamp::now().as_second();
        pipeline.refresh_tasks(now - LATE_LINE)?;
        pipeline.journal_by_clock(now - LATE_LINE)?;
        tailer.check(&mut |text, file, number| pipeline.line(text, file, number))?;
        pipeline.cluster_tick()?;
        pipeline.tick_sessions(now - LATE_LINE)?;
        pipeline.config_tick(Instant::now())?;
        let stale = pipeline.stale_bodies(Instant::now(), BODY_WAIT);
        pipeline.show_bodies_alone(stale, &events_name, jiff::Timestamp::now())?;
        pipeline.correlator.prune();
        if signal.load(Ordering::Relaxed) != 0 {
            // Stopping: what the journal gave that waits for a line is shown now, so that the
            // cursor saved covers it.
            pipeline.settle_journal()?;
        }
        pipeline.output.flush()?;
        // At least once: the state moves past a record only once its sink took it. While a
        // journal or collector is away, the state saved stays where everything was taken.
        let checkpoint = checkpoint.as_mut().filter(|_| pipeline.output.delivered());
        if let Some(cp) = checkpoint {
            cp.set_journal_cursor(pipeline.journal_cursor().as_deref());
            cp.set_sessions(pipeline.sessions_state());
            if let Some(cluster) = &pipeline.cluster {
                cp.set_nodes(cluster.positions());
            }
            if let Err(e) = pipeline.save_config() {
                messages::message(&format!(
                    "{}.etc-pve: cannot save the snapshots of /etc/pve: {e}",
                    cp.path().display()
                ));
            }
            if first {
                // A state that cannot be written would make a restart lose or repeat: say so
                // now, not hours later.
                cp.save(&tailer).with_context(|| {
                    format!("cannot write the state file {}", cp.path().display())
                })?;
            } else {
                cp.save_or_report(&tailer);
            }
            first = false;
        }
        if signal.load(Ordering::Relaxed) != 0 {
            break;
        }
        let spool_file = pipeline.recorder.as_ref().and_then(|r| r.events_file());
        if waker.sync(log, tailer.files()) | waker.sync_spool(spool_file) {
            // A file was opened since the last look: look once more, in case it grew before
            // its watch was in place.
            continue;
        }
        waker.watch_fd(pipeline.journal_live.as_ref().and_then(|l| l.fd()));
        if waker.wait(deadline(&tailer, &pipeline))? == Wake::Signal {
            // Loop once more: read what is there, flush, save, then stop.
            continue;
        }
    }
    pipeline.cluster_stop()?;
    // What a journal or collector did not take is said (and read again on the next start).
    pipeline.output.finish_sink();
    // Spool events dropped for want of room until the end: how many.
    pipeline.spool_held.report(&events_name);
    // The script's trailer (its counts); after the state was saved, it is not part of what a
    // restart resumes from.
    pipeline.renderer.finish(pipeline.output.buf());
    pipeline.output.flush()?;
    pipeline.filter.report_unmatched_users();
    messages::finish();
    Ok(exit_status(signal))
}

/// With `/etc/pve` (guest names are read from it): the watch that tells what changed there.
/// The first look keeps every tracked file; with `--state`, the snapshots saved beside the
/// state file (`STATE.etc-pve`) are the first look's "before", so what changed while pverec
/// was stopped comes out as changes.
fn open_config_watch(pipeline: &mut Pipeline, state: Option<&Path>) {
    if pipeline.sessions.is_some() {
        return;
    }
    let Some(dir) = pipeline.guest_names.as_ref().map(|n| n.dir().to_path_buf()) else {
        return;
    };
    let saved_at = state.map(|s| {
        let mut name = s.as_os_str().to_os_string();
        name.push(".etc-pve");
        std::path::PathBuf::from(name)
    });
    let saved = saved_at.as_deref().and_then(|path| {
        let data = input::open_regular(path).ok().and_then(|f| {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut std::io::Read::take(f, 256 << 20), &mut data)
                .ok()
                .map(|_| data)
        })?;
        match serde_json::from_slice(&data) {
            Ok(saved) => Some(saved),
            Err(e) => {
                messages::message(&format!(
                    "{}: not pverec's snapshots of /etc/pve ({e}); starting afresh",
                    path.display()
                ));
                None
            }
        }
    });
    let (watch, meanwhile) = crate::source::etc_pve::watch::ConfigWatch::open(dir, saved);
    let mut join = crate::join::changes::ChangeJoin::default();
    join.add(meanwhile, Instant::now());
    pipeline.config = Some(Box::new(pipeline::ConfigFollow {
        watch,
        join,
        looked: Instant::now(),
        saved_at,
    }));
}

/// Starts the live journal (if any) and, when history is read first (a state, `--since`, `-n`),
/// takes in what journalctl passes on of it before any of the log's history is read.
fn start_journal(
    pipeline: &mut Pipeline,
    args: &FollowArgs,
    default_log: bool,
    cursor: Option<String>,
    started: i64,
) {
    let history = cursor.is_some() || args.select.since.is_some() || args.lines > 0;
    pipeline.journal_live = open_journal(args, default_log, cursor);
    if pipeline.journal_live.is_some() {
        pipeline.journal.get_or_insert_with(Default::default);
        if history {
            pipeline.catch_up_journal(started);
        }
    }
}

/// journalctl --follow for the PVE programs: on the `--journal-file` (a .journal file, followed
/// as it grows), else the node's journal when asked for or by default (the node's own log is
/// followed and journalctl is installed); after the state's cursor, else from `--since`, else
/// from now.
fn open_journal(args: &FollowArgs, default_log: bool, cursor: Option<String>) -> Option<Live> {
    let journal = &args.journal;
    if journal.no_journal {
        return None;
    }
    let Some(program) = journal_source::journalctl() else {
        if journal.journal || !journal.journal_file.is_empty() {
            messages::input_error(
                "the journal: journalctl is not installed (/usr/bin/journalctl); apt install \
                 systemd; follow goes on without it",
            );
        }
        return None;
    };
    let file = match journal.journal_file.as_slice() {
        [] if journal.journal || default_log => None,
        [] => return None,
        [one] => Some(one.clone()),
        [one, ..] => {
            messages::message(&format!(
                "follow follows one journal file; {} is followed, the others are not",
                one.display()
            ));
            Some(one.clone())
        }
    };
    let query = journal_source::Query {
        file,
        since: args.select.since,
        ..journal_source::Query::default()
    };
    Some(Live::start(program, query, cursor))
}

/// Registers with the request recorder: at `--spool DIR` (an error if that fails), or at the
/// default spool when the default log is followed and the spool exists (a warning if that
/// fails); never with `--no-spool`. The filter sent to pveproxy is the one user asked for (any
/// user when none or several), and GETs only when a class that has them is shown.
fn register(args: &FollowArgs, pipeline: &Pipeline, default_log: bool) -> Result<Option<Recorder>> {
    let chosen = pipeline::source_dir(
        args.spool.as_ref(),
        args.no_spool,
        DEFAULT_SPOOL,
        default_log,
    );
    let Some((dir, explicit)) = chosen else {
        return Ok(None);
    };
    let users = &args.select.users;
    // pveproxy takes one exact user id: a name without a realm is no user id.
    let userid = match users.as_slice() {
        [one] if one.contains('@') => Some(one.as_str()),
        _ => None,
    };
    let filter = &pipeline.filter;
    let all = [Class::Read, Class::Auth, Class::Console, Class::Other]
        .into_iter()
        .any(|c| filter.wants_class(c));
    match Recorder::register(&dir, userid, all) {
        Ok(recorder) => Ok(Some(recorder)),
        // The recorder's errors name the file or directory they are about.
        Err(e) if explicit => Err(anyhow::anyhow!(
            "cannot register with the request recorder: {e}{}",
            messages::hint_suffix(&dir, &e)
        )),
        Err(e) => {
            messages::message(&format!(
                "cannot register with the request recorder: {e}{}; request bodies are not recorded",
                messages::hint_suffix(&dir, &e)
            ));
            Ok(None)
        }
    }
}

/// Whether `sig` is ignored (as nohup leaves SIGHUP).
fn ignored(sig: libc::c_int) -> bool {
    // SAFETY: with a null new action, sigaction(2) only writes the current disposition of `sig`
    // into `old`, a zeroed sigaction that lives across the call.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
    }
}

/// The first look, when there is history to read: the spool and the task files, then every
/// line the log's files hold now, joined by log time (no task is handed out by the clock).
fn read_history(pipeline: &mut Pipeline, tailer: &mut Tailer) -> Result<()> {
    pipeline.read_spool();
    pipeline.read_tasks()?;
    tailer.check(&mut |text, file, number| pipeline.line(text, file, number))?;
    Ok(())
}

/// When the loop must look again even if nothing is written: a rotated log to let go of, a
/// task that falls out of the join window, a spool event that waited too long for its line.
fn deadline(tailer: &Tailer, pipeline: &Pipeline) -> Option<Instant> {
    let now = Instant::now();
    let task = pipeline.correlator.next_due().map(|due| {
        let wait = due + LATE_LINE - jiff::Timestamp::now().as_second();
        now + Duration::from_secs(u64::try_from(wait).unwrap_or(0))
    });
    let body = pipeline.correlator.next_stale(BODY_WAIT);
    let journal = pipeline.journal_live.as_ref().and_then(|l| l.deadline());
    let config = pipeline.config_due();
    let sessions = pipeline.sessions_due().map(|due| {
        let wait = due + LATE_LINE - jiff::Timestamp::now().as_second();
        now + Duration::from_secs(u64::try_from(wait).unwrap_or(0))
    });
    let cluster = pipeline.cluster.as_ref().and_then(|c| c.due());
    let sink = pipeline.output.retry_at();
    [
        sink,
        tailer.deadline(),
        task,
        body,
        journal,
        sessions,
        config,
        cluster,
    ]
    .into_iter()
    .flatten()
    .min()
}

/// `--since`: before going live, the rotated generations that reach back to `since` are read,
/// oldest first. `access.log.1` is handed to the tailer as a rotated file (it may still get late
/// writes); older, compressed ones are read like `convert` reads them. The log itself is read
/// from its first byte by the tailer, which then goes on live without a seam.
///
/// `-n N` without `--since` reads `access.log.1` too, so that the last N events are there just
/// after a rotation as well (logrotate rotates PVE's log daily: the current file may hold
/// minutes).
fn replay_history(
    pipeline: &mut Pipeline,
    tailer: &mut Tailer,
    since: Option<jiff::Timestamp>,
    signal: &AtomicUsize,
) -> Result<()> {
    let log = tailer.path().to_path_buf();
    let needed = match since {
        Some(since) => input::generations_since(&log, since),
        None => Some(input::generation(&log, 1))
            .filter(|one| one.is_file())
            .into_iter()
            .collect(),
    };
    let mut old = Vec::new();
    for path in &needed {
        if *path == input::generation(&log, 1) {
            let name = path.to_string_lossy().into_owned();
            match input::open_regular(path).and_then(|file| Tracked::new(file, name, 0, 0)) {
                Ok(tracked) => old.push(tracked),
                Err(e) => messages::message(&format!("{}: {e}", path.display())),
            }
            continue;
        }
        replay_file(pipeline, path, 0, signal)?;
    }
    tailer.resume(None, old, None);
    Ok(())
}

/// Reads a whole file (plain or gzip) through the pipeline, passing over its first `skip`
/// lines (already converted before a checkpoint). A signal ends it early. The file is a
/// generation pverec found, so it is read only if it is a regular file.
fn replay_file(
    pipeline: &mut Pipeline,
    path: &Path,
    skip: u64,
    signal: &AtomicUsize,
) -> Result<()> {
    let source = Source::found(path.to_path_buf());
    let mut lines = match Lines::open(&source, Progress::default()) {
        Ok(lines) => lines,
        Err(e) => {
            messages::message(&format!("{}: {e}", source.name));
            return Ok(());
        }
    };
    let mut number = 0;
    loop {
        match lines.advance() {
            Ok(true) if signal.load(Ordering::Relaxed) != 0 => break,
            Ok(true) => {
                number += 1;
                if number > skip {
                    pipeline.line(lines.line(), &source.name, number)?;
                }
            }
            Ok(false) => break,
            Err(e) => {
                messages::message(&format!(
                    "{}: read error after line {number}: {e}",
                    source.name
                ));
                break;
            }
        }
    }
    Ok(())
}
