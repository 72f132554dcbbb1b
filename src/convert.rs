//! `pverec convert`: the batch run over whole files, through the [`Pipeline`].
//!
//! Each FILE (or rotated set) is read in order; the lines of a set are merged by time. What the
//! pipeline does with each line is in [`crate::pipeline`].

use std::io::{self, IsTerminal};
use std::path::PathBuf;

use anyhow::Result;
use jiff::Timestamp;

use crate::cli::ConvertArgs;
use crate::input::{self, Lines, Progress, Source};
use crate::messages;
use crate::source::access;

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
    merge_group(group, progress, bar, &mut || {}, &mut |i, text, number| {
        pipeline.line(text, &group[i].name, number)
    })
}

/// What [`merge_group`] hands every line to: the file's index in the group, the line, its
/// number.
pub(crate) type EachLine<'a> = dyn FnMut(usize, &[u8], u64) -> io::Result<()> + 'a;

/// Reads a group of files, merged by time when there is more than one: `each` gets every line
/// (the file's index in the group, the line, its number), `opened` is called once every file is
/// open (a cluster read then removes its copies: the open files stay readable).
pub(crate) fn merge_group(
    group: &[Source],
    progress: &Progress,
    bar: Option<&indicatif::ProgressBar>,
    opened: &mut dyn FnMut(),
    each: &mut EachLine<'_>,
) -> io::Result<()> {
    let merging = group.len() > 1;
    let mut heads: Vec<(usize, Head<'_>)> = Vec::with_capacity(group.len());
    for (index, source) in group.iter().enumerate() {
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
                    heads.push((index, head));
                }
            }
            Err(e) => {
                messages::input_error(&messages::os_error_named(&source.name, &source.path, &e))
            }
        }
    }
    opened();
    let mut since_tick = 0u32;
    while !heads.is_empty() {
        // The oldest line first; on equal times, the older file (earlier in the group) first.
        let i = if heads.len() == 1 {
            0
        } else {
            (0..heads.len())
                .min_by_key(|&i| (heads[i].1.key, i))
                .unwrap_or(0)
        };
        let (index, head) = &mut heads[i];
        each(*index, head.lines.line(), head.number)?;
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
