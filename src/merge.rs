//! A group of files read as one, in time order: the generations of a rotated log
//! (`--rotated`), or the logs of a cluster's nodes. Each file is read in its own order; across
//! files, the oldest line goes first.

use std::io;

use crate::input::{Lines, Progress, Source};
use crate::messages;
use crate::source::access;

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
