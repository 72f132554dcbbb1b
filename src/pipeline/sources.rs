//! Opening the sources beside access.log into the pipeline: the task directory, a saved spool
//! events file, the journal. A source that cannot be read is said once; the run goes on.

use std::path::PathBuf;

use crate::input;
use crate::messages;
use crate::source::journal::{self as journal_source, Stream};
use crate::source::spool;

use super::{DEFAULT_TASK_DIR, Pipeline};

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
    // Read as the log goes by, not whole (a year of journal for a day of log).
    let mut journal = Stream::new(query);
    if !args.journal_file.is_empty() {
        let zone = jiff::tz::TimeZone::system();
        for file in &args.journal_file {
            journal.add_file(file, &zone);
        }
    } else {
        match journal_source::journalctl() {
            Some(program) if args.journal || node_log => journal.add_system(&program),
            None if args.journal => messages::input_error(
                "--journal: journalctl is not installed (/usr/bin/journalctl); apt install \
                 systemd, or give a copy of the journal with --journal-file",
            ),
            _ => return,
        }
    }
    pipeline.stream_journal(journal);
}

/// Names guests from `--etc-pve DIR`, else from `/etc/pve` when the node's own log is read and
/// it exists; an explicit DIR that is not a directory is an input error.
pub(crate) fn open_etc_pve(pipeline: &mut Pipeline, args: &crate::cli::EtcPveArgs, node_log: bool) {
    let chosen = source_dir(
        args.etc_pve.as_ref(),
        args.no_etc_pve,
        crate::source::etc_pve::DEFAULT_DIR,
        node_log,
    );
    if let Some((dir, explicit)) = chosen {
        if dir.is_dir() {
            pipeline.guest_names = Some(crate::source::etc_pve::GuestNames::new(dir));
        } else if explicit {
            messages::input_error(&format!(
                "{}: not a directory; guests are shown without their names",
                dir.display()
            ));
        }
    }
}
