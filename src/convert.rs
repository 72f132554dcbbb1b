//! `pverec convert`: the batch run over whole files, through the [`Pipeline`].
//!
//! Each FILE (or rotated set) is read in order; the lines of a set are merged by time
//! ([`crate::merge`], which also reads ahead on the other cores). What the pipeline does with
//! each line is in [`crate::pipeline`].

use std::io::{self, IsTerminal};
use std::path::PathBuf;

use anyhow::Result;
use jiff::Timestamp;

use crate::cli::ConvertArgs;
use crate::input::{self, Progress, Source};
use crate::messages;

use crate::pipeline::{Pipeline, load_events, open_etc_pve, open_journal, open_tasks};

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
    open_etc_pve(&mut pipeline, &args.etc_pve, plan.node_log);
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

/// Reads a group of files, merged by time when there is more than one.
fn read_group(
    group: &[Source],
    pipeline: &mut Pipeline,
    progress: &Progress,
    bar: Option<&indicatif::ProgressBar>,
) -> io::Result<()> {
    let pass_over = pipeline.pass_over();
    crate::merge::merge_group(
        group,
        pass_over,
        progress,
        bar,
        &mut || {},
        &mut |i, text, number| pipeline.line(text, &group[i].name, number),
    )
}

/// A progress bar on stderr for long runs, only when stderr is a terminal and stdout is not
/// (on a shared terminal the bar would garble the output it sits under).
pub(crate) fn progress_bar(groups: &[Vec<Source>]) -> Option<indicatif::ProgressBar> {
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
