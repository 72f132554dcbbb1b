//! `pverec convert`: the batch pipeline over whole files.
//!
//! access.log line -> [`access::Line`] -> [`Request`] -> filter -> [`Event`] -> renderer. The
//! loop is the hot path of pverec: a line that the filter does not want costs one parse without
//! allocation and the class test; only selected lines become events. Each line's fate is one of
//! three: shown, filtered out, or reported as malformed. Nothing is dropped silently.

use std::io::{self, IsTerminal};

use anyhow::Result;

use crate::access;
use crate::cli::ConvertArgs;
use crate::event::{Event, Origin};
use crate::filter::Filter;
use crate::input::{self, Lines, Progress, Source};
use crate::messages;
use crate::output::Output;
use crate::render::Renderer;
use crate::request::{self, Request};

/// What a run needs to turn lines into output.
pub(crate) struct Pipeline {
    pub(crate) filter: Filter,
    pub(crate) renderer: Renderer,
    pub(crate) node: Option<String>,
    pub(crate) output: Output,
}

impl Pipeline {
    /// Processes one line of `file`. Empty lines carry nothing and are passed over.
    pub(crate) fn line(&mut self, text: &[u8], file: &str, number: u64) -> io::Result<()> {
        if text.is_empty() || text == b"\r" {
            return Ok(());
        }
        let line = match access::parse(text) {
            Ok(line) => line,
            Err(reason) => {
                messages::malformed(file, number, &reason);
                return Ok(());
            }
        };
        if !self
            .filter
            .wants_any(request::possible_classes(line.request))
            || !self.filter.wants_user(line.user())
        {
            return Ok(());
        }
        let request = Request::parse(line.request);
        if !self.filter.wants_class(request.class) {
            return Ok(());
        }
        let Some(time) = line.timestamp() else {
            messages::malformed(file, number, &access::Malformed::BadTime);
            return Ok(());
        };
        if !self.filter.wants_time(time) {
            return Ok(());
        }
        let origin = Origin { file, line: number };
        let event = Event::from_request(&line, time, &request, self.node.as_deref(), origin);
        self.renderer.event(self.output.buf(), &event);
        self.output.commit()
    }
}

/// Runs `convert`; `Ok(true)` when every input was read.
pub(crate) fn run(args: &ConvertArgs, mut pipeline: Pipeline) -> Result<bool> {
    let groups = match input::groups(&args.files, args.rotated) {
        Ok(groups) => groups,
        Err(e) => {
            messages::input_error(&format!("{e}"));
            Vec::new()
        }
    };
    let sources: Vec<String> = groups.iter().flatten().map(|s| s.name.clone()).collect();
    pipeline.renderer.header(pipeline.output.buf(), &sources);
    pipeline.output.commit()?;

    let progress = Progress::default();
    let bar = progress_bar(&groups);
    for group in &groups {
        read_group(group, &mut pipeline, &progress, bar.as_ref())?;
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    pipeline.output.flush()?;
    messages::finish();
    Ok(!messages::errored())
}

/// An open input with its current line and that line's time (for merging).
struct Head<'s> {
    source: &'s Source,
    lines: Lines,
    number: u64,
    /// Merge key of the current line: its time in seconds; malformed lines sort first so that
    /// they are reported where they stand.
    key: i64,
}

impl<'s> Head<'s> {
    /// Moves to the next line; `false` at the end or on a read error (reported).
    fn advance(&mut self, merging: bool) -> bool {
        match self.lines.advance() {
            Ok(true) => {
                self.number += 1;
                if merging {
                    self.key = access::parse(self.lines.line())
                        .ok()
                        .and_then(|l| l.timestamp())
                        .map_or(i64::MIN, |t| t.as_second());
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
                };
                if head.advance(merging) {
                    heads.push(head);
                }
            }
            Err(e) => messages::input_error(&format!("{}: {e}", source.name)),
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
