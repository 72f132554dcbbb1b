//! A group of files read as one, in time order: the generations of a rotated log
//! (`--rotated`), or the logs of a cluster's nodes. Each file is read in its own order; across
//! files, the oldest line goes first.
//!
//! Two things keep a long history fast and small:
//!
//! - **Every core.** Where there is more than one core, a file that takes work to read (gzip,
//!   a stream, or any file of a merge, whose every line is parsed for its time) is read by a
//!   thread of its own, a few batches ahead of the pipeline: decompressing, splitting lines and
//!   finding their times on one core while the pipeline parses, joins and renders them on the
//!   other. The channel between them holds at most [`AHEAD`] batches of about [`BATCH`] bytes.
//!   A plain file read alone is mapped and its lines are used in place: a thread would only
//!   copy them.
//! - **Memory that stays flat.** A file is opened at once (so a cluster read may remove its
//!   copies, and so that errors are told in order), but it is only read, with its decoder and
//!   buffers, once the merge reaches the time of its first line. Rotated generations follow
//!   one another, so one or two are read at a time however long the history is. The order is
//!   the same as if every file were read from the start: a file waiting holds no line older
//!   than its first.

use std::io;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Mutex, OnceLock};

use crate::input::{self, Lines, Opened, Progress, Source};
use crate::messages;
use crate::pipeline::PassOver;
use crate::source::access;

/// What [`merge_group`] hands every line to: the file's index in the group, the line, its
/// number.
pub(crate) type EachLine<'a> = dyn FnMut(usize, &[u8], u64) -> io::Result<()> + 'a;

/// Bytes of lines a reading thread gathers before handing them over.
const BATCH: usize = 128 * 1024;

/// Batches a reading thread may have ready before it waits for the pipeline.
const AHEAD: usize = 16;

/// How much of a waiting file is read to find the time of its first line.
const PEEK: usize = 64 * 1024;

/// Reads a group of files, merged by time when there is more than one: `each` gets every line
/// (the file's index in the group, the line, its number) but those the pipeline passes over
/// (`pass_over`), dropped where the file is read (here or on a thread reading ahead); `opened`
/// is called once every file is open (a cluster read then removes its copies: the open files
/// stay readable).
pub(crate) fn merge_group(
    group: &[Source],
    pass_over: Option<PassOver>,
    progress: &Progress,
    bar: Option<&indicatif::ProgressBar>,
    opened: &mut dyn FnMut(),
    each: &mut EachLine<'_>,
) -> io::Result<()> {
    let reading = Reading {
        pass_over,
        cores: cores(),
        progress,
    };
    merge(group, &reading, bar, opened, each).map(drop)
}

/// How a group is read: what the pipeline passes over, the cores to read on.
struct Reading<'a> {
    pass_over: Option<PassOver>,
    cores: usize,
    progress: &'a Progress,
}

/// [`merge_group`], on `reading.cores` cores; returns the most files read at once.
fn merge(
    group: &[Source],
    reading: &Reading<'_>,
    bar: Option<&indicatif::ProgressBar>,
    opened: &mut dyn FnMut(),
    each: &mut EachLine<'_>,
) -> io::Result<usize> {
    let progress = reading.progress;
    let merging = group.len() > 1;
    let mut waiting: Vec<Waiting<'_>> = Vec::with_capacity(group.len());
    for (index, source) in group.iter().enumerate() {
        match Opened::open(source) {
            Ok(file) => {
                let first = if merging { first_key(&file) } else { i64::MIN };
                waiting.push(Waiting {
                    index,
                    source,
                    file: Some(file),
                    head: None,
                    first,
                });
            }
            Err(e) => {
                messages::input_error(&messages::os_error_named(&source.name, &source.path, &e))
            }
        }
    }
    opened();
    // The earliest first line first; on equal times, the older file (earlier in the group).
    waiting.sort_by_key(|w| (w.first, w.index));
    waiting.reverse(); // popped from the end
    let mut heads: Vec<Head<'_>> = Vec::with_capacity(2);
    let mut since_tick = 0u32;
    let mut most = 0;
    // A file ended (or none started yet): the next ones may be read ahead now.
    let mut ended = true;
    loop {
        // Per line, only this: whether the next file's first line is due (no current line is
        // older); the rest when something starts or ends.
        let due = waiting
            .last()
            .is_some_and(|next| heads.iter().all(|h| next.first <= h.key));
        if due || (ended && !waiting.is_empty()) {
            start_due(&mut waiting, &mut heads, merging, reading);
            let ahead = waiting.iter().filter(|w| w.head.is_some()).count();
            most = most.max(heads.len() + ahead);
        }
        ended = false;
        if heads.is_empty() {
            break;
        }
        // The oldest line first; on equal times, the older file (earlier in the group) first.
        let i = if heads.len() == 1 {
            0
        } else {
            (0..heads.len())
                .min_by_key(|&i| (heads[i].key, heads[i].index))
                .unwrap_or(0)
        };
        let head = &mut heads[i];
        each(head.index, head.line(), head.number)?;
        if !head.advance() {
            heads.remove(i);
            ended = true;
        }
        since_tick += 1;
        if since_tick == 1 << 14 {
            since_tick = 0;
            if let Some(bar) = bar {
                bar.set_position(progress.get());
            }
        }
    }
    Ok(most)
}

/// Starts reading every waiting file whose first line is due: no line being read is older
/// (`waiting` is sorted latest first). With cores to spare, the files due next are read ahead
/// too (their threads stop when their batches are full).
fn start_due<'s>(
    waiting: &mut Vec<Waiting<'s>>,
    heads: &mut Vec<Head<'s>>,
    merging: bool,
    reading: &Reading<'_>,
) {
    let start = |w: &mut Waiting<'s>| w.start(merging, reading);
    loop {
        let oldest = heads.iter().map(|h| h.key).min();
        let Some(next) = waiting.last_mut() else {
            break;
        };
        if oldest.is_some_and(|oldest| next.first > oldest) {
            break;
        }
        start(next);
        let Some(mut head) = waiting.pop().and_then(|w| w.head) else {
            continue;
        };
        if head.advance() {
            let at = heads.partition_point(|h| h.index < head.index);
            heads.insert(at, head);
        }
    }
    if merging && reading.cores > 1 {
        let spare = reading.cores.saturating_sub(heads.len());
        for next in waiting.iter_mut().rev().take(spare) {
            start(next);
        }
    }
}

/// The cores there are to read on (`taskset` and cgroup limits count).
fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// A file opened, read only once it is due, with the merge key of its first line.
struct Waiting<'s> {
    index: usize,
    source: &'s Source,
    /// Until it is read.
    file: Option<Opened>,
    /// Once it is read (ahead, not yet advanced: its first batch may take a while).
    head: Option<Head<'s>>,
    first: i64,
}

impl<'s> Waiting<'s> {
    /// Starts reading the file, once; an error is reported and leaves nothing to read.
    fn start(&mut self, merging: bool, reading: &Reading<'_>) {
        let Some(file) = self.file.take() else {
            return;
        };
        let lines = match Lines::of(file, reading.progress.clone()) {
            Ok(lines) => lines,
            Err(e) => {
                let source = self.source;
                messages::input_error(&messages::os_error_named(&source.name, &source.path, &e));
                return;
            }
        };
        let reader = Reader {
            lines,
            number: 0,
            keyed: merging,
            latest: i64::MIN,
            pass_over: reading.pass_over,
            kind: FileKind::Empty,
        };
        let feed = if reading.cores > 1 && (merging || !reader.lines.is_mapped()) {
            Feed::ahead(reader)
        } else {
            Feed::Here(reader)
        };
        self.head = Some(Head {
            index: self.index,
            source: self.source,
            feed,
            key: 0,
            number: 0,
            start: 0,
            end: 0,
        });
    }
}

/// The merge key of a file's first line, as [`Reader`] will find it; `i64::MIN` (read at once)
/// when it cannot be told without reading the file (standard input, a pipe, a first line longer
/// than [`PEEK`], an unreadable start), since reading a file early never changes the order.
fn first_key(file: &Opened) -> i64 {
    let Opened::File(file) = file else {
        return i64::MIN;
    };
    let Ok(head) = input::content_head(file, PEEK) else {
        return i64::MIN;
    };
    let line = match memchr::memchr(b'\n', &head) {
        Some(end) => &head[..end],
        None if head.len() < PEEK => &head[..],
        None => return i64::MIN,
    };
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    key_of(line)
}

/// Merge key of a line: its time in seconds; malformed lines sort first so that they are
/// reported where they stand.
fn key_of(line: &[u8]) -> i64 {
    access::parse(line)
        .ok()
        .and_then(|l| l.seconds())
        .unwrap_or(i64::MIN)
}

/// One file's lines, numbered, with their merge keys, and what the file turned out to be.
struct Reader {
    lines: Lines,
    number: u64,
    /// Whether lines get their merge key (only a merge needs them).
    keyed: bool,
    /// The latest time of the lines so far: the merge key.
    latest: i64,
    /// What the pipeline passes over, for the reader to drop.
    pass_over: Option<PassOver>,
    kind: FileKind,
}

/// A line read: its merge key (0 unless keyed), and whether the pipeline passes it over.
struct Next {
    key: i64,
    passed_over: bool,
}

impl Reader {
    /// Moves to the next line, `None` at the end.
    ///
    /// The merge key of a line is the latest time of its file so far, not the line's own: a log
    /// is in time order only roughly (a request is logged when it ends, with the time it began;
    /// a malformed line has none). Merging the oldest current line first, as pverec always did,
    /// puts the lines in the same order as merging by these keys, which never go down; and
    /// only with such keys may lines be left out without moving the others (the pipeline
    /// passing over most of them).
    fn advance(&mut self) -> io::Result<Option<Next>> {
        if !self.lines.advance()? {
            return Ok(None);
        }
        self.number += 1;
        if !self.keyed && self.pass_over.is_none() && matches!(self.kind, FileKind::Log) {
            return Ok(Some(Next {
                key: 0,
                passed_over: false,
            }));
        }
        let text = self.lines.line();
        // Most lines of a log: told from their spaces, without taking them apart (only where
        // no merge key is wanted, which would need the line's time).
        if !self.keyed
            && matches!(self.kind, FileKind::Log)
            && self.pass_over.is_some_and(|p| p.screens(text))
        {
            return Ok(Some(Next {
                key: 0,
                passed_over: true,
            }));
        }
        let parsed = access::parse(text);
        if self.keyed {
            if let Some(seconds) = parsed.as_ref().ok().and_then(|l| l.seconds()) {
                self.latest = self.latest.max(seconds);
            }
        }
        let next = Next {
            key: if self.keyed { self.latest } else { 0 },
            passed_over: self.pass_over.is_some_and(|p| p.passes_over(text, &parsed)),
        };
        let ok = parsed.is_ok();
        if !matches!(self.kind, FileKind::Log) {
            // Until the file's first access.log line.
            self.judge(ok);
        }
        Ok(Some(next))
    }

    fn judge(&mut self, access_line: bool) {
        let line = self.lines.line();
        if access_line {
            self.kind = FileKind::Log;
        } else if matches!(self.kind, FileKind::Empty) && !line.is_empty() && line != b"\r" {
            const KEPT: usize = 128;
            self.kind = FileKind::Foreign(self.number, line[..line.len().min(KEPT)].to_vec());
        }
    }

    /// How the file ended: a read error, or the end, with what the file turned out to be.
    fn ended(&mut self, error: Option<io::Error>) -> Ended {
        Ended {
            error,
            number: self.number,
            kind: std::mem::replace(&mut self.kind, FileKind::Empty),
        }
    }
}

/// How a file's reading ended.
struct Ended {
    error: Option<io::Error>,
    /// Lines read before the end.
    number: u64,
    kind: FileKind,
}

/// Lines read ahead by a thread, copied out of its buffers.
#[derive(Default)]
struct Batch {
    text: Vec<u8>,
    /// Each line's end in `text` (it starts where the one before ends), number and key.
    lines: Vec<(usize, u64, i64)>,
    /// In the last batch: how the reading ended.
    end: Option<Ended>,
}

/// Batches no thread uses now, for the next to take: however many files a history has, and
/// whichever thread reads them, the batches are made once.
static SPARE: Mutex<Vec<Batch>> = Mutex::new(Vec::new());

impl Batch {
    /// A batch to fill, spare or new.
    fn take() -> Batch {
        let spare = SPARE.lock().ok().and_then(|mut spare| spare.pop());
        spare.unwrap_or_else(|| Batch {
            text: Vec::with_capacity(BATCH),
            ..Batch::default()
        })
    }

    /// Keeps a batch for reuse, empty, up to what two files read at once hold.
    fn give_back(mut self) {
        if let Ok(mut spare) = SPARE.lock() {
            if spare.len() < 2 * (AHEAD + 2) {
                self.text.clear();
                self.lines.clear();
                self.end = None;
                spare.push(self);
            }
        }
    }
}

/// Where a head's lines come from.
enum Feed {
    /// Read on this thread, as needed.
    Here(Reader),
    /// Read ahead on a thread of its own. Dropping this (a run that stops early) ends the
    /// thread at its next batch.
    Ahead {
        batches: Receiver<Batch>,
        batch: Batch,
        /// The current line's index in `batch`.
        at: usize,
    },
}

impl Feed {
    /// Reads `reader` on a thread of its own; here, if no thread can be had (a tight limit on
    /// tasks).
    fn ahead(reader: Reader) -> Feed {
        let (ready, batches) = mpsc::sync_channel(AHEAD);
        // The reader goes over once the thread runs, so that it is still here if it does not.
        let (give, take) = mpsc::channel::<Reader>();
        let started = std::thread::Builder::new()
            .name("pverec-read".into())
            .spawn(move || {
                if let Ok(reader) = take.recv() {
                    read_ahead(reader, &ready);
                }
            });
        if started.is_err() {
            return Feed::Here(reader);
        }
        match give.send(reader) {
            Ok(()) => Feed::Ahead {
                batches,
                batch: Batch::default(),
                at: 0,
            },
            Err(mpsc::SendError(reader)) => Feed::Here(reader),
        }
    }
}

/// The reading thread: batches of lines until the end, a read error, or the pipeline no longer
/// wanting them.
fn read_ahead(mut reader: Reader, ready: &SyncSender<Batch>) {
    // A line that did not fit in the last batch, and its key: the reader is still on it.
    let mut carried: Option<i64> = None;
    loop {
        let mut batch = Batch::take();
        let end = loop {
            let key = match carried.take() {
                Some(key) => key,
                None => match reader.advance() {
                    Ok(Some(Next {
                        passed_over: true, ..
                    })) => continue,
                    Ok(Some(Next { key, .. })) => key,
                    Ok(None) => break Some(reader.ended(None)),
                    Err(e) => break Some(reader.ended(Some(e))),
                },
            };
            // The pipeline reports a line longer than MAX_LINE without reading it: that much
            // of it tells it so (as a stream keeps no more either).
            let line = reader.lines.line();
            let line = &line[..line.len().min(input::MAX_LINE + 1)];
            if !batch.lines.is_empty() && batch.text.len() + line.len() > batch.text.capacity() {
                carried = Some(key);
                break None;
            }
            batch.text.extend_from_slice(line);
            batch.lines.push((batch.text.len(), reader.number, key));
        };
        let last = end.is_some();
        batch.end = end;
        if ready.send(batch).is_err() || last {
            return;
        }
    }
}

/// A file being read, at its current line.
struct Head<'s> {
    index: usize,
    source: &'s Source,
    feed: Feed,
    /// Merge key of the current line.
    key: i64,
    number: u64,
    /// The current line in the current batch (read ahead only).
    start: usize,
    end: usize,
}

impl Head<'_> {
    fn line(&self) -> &[u8] {
        match &self.feed {
            Feed::Here(reader) => reader.lines.line(),
            Feed::Ahead { batch, .. } => &batch.text[self.start..self.end],
        }
    }

    /// Moves to the next line; `false` at the end or on a read error (both reported).
    fn advance(&mut self) -> bool {
        let ended = match &mut self.feed {
            Feed::Here(reader) => loop {
                match reader.advance() {
                    // Passed over here as a thread reading ahead passes it over.
                    Ok(Some(Next {
                        passed_over: true, ..
                    })) => continue,
                    Ok(Some(Next { key, .. })) => {
                        self.key = key;
                        self.number = reader.number;
                        return true;
                    }
                    Ok(None) => break reader.ended(None),
                    Err(e) => break reader.ended(Some(e)),
                }
            },
            Feed::Ahead { batches, batch, at } => loop {
                if let Some(&(end, number, key)) = batch.lines.get(*at) {
                    self.start = if *at == 0 { 0 } else { batch.lines[*at - 1].0 };
                    self.end = end;
                    self.number = number;
                    self.key = key;
                    *at += 1;
                    return true;
                }
                if let Some(ended) = batch.end.take() {
                    break ended;
                }
                match batches.recv() {
                    Ok(next) => {
                        std::mem::replace(batch, next).give_back();
                        *at = 0;
                    }
                    Err(_) => {
                        break Ended {
                            error: Some(io::Error::other("the thread reading it stopped")),
                            number: self.number,
                            kind: FileKind::Empty,
                        };
                    }
                }
            },
        };
        if let Some(e) = &ended.error {
            messages::input_error(&format!(
                "{}: read error after line {}: {e}; the rest of this file is skipped",
                self.source.name, ended.number
            ));
        }
        finish(self.source, &ended.kind);
        false
    }
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

/// The end of a file: one in which no line is an access.log line was most likely named by
/// mistake (syslog for access.log): an input error with its first line, not a quiet success.
fn finish(source: &Source, kind: &FileKind) {
    if let FileKind::Foreign(number, line) = kind {
        const SHOWN: usize = 100;
        let mut quoted = String::from_utf8_lossy(&line[..line.len().min(SHOWN)]).into_owned();
        if line.len() > SHOWN {
            quoted.push_str("...");
        }
        messages::input_error(&format!(
            "{}: not an access.log: no line is one; line {number} is \"{quoted}\"",
            source.name
        ));
    }
}

/// The merge pverec made before it read ahead: every file open from the start, the oldest
/// current line first by its own time (malformed lines first), ties to the older file; the
/// (file, line number) of each line in turn.
pub(crate) fn full_merge(files: &[Vec<Vec<u8>>]) -> Vec<(usize, u64)> {
    let key = |line: &[u8]| {
        access::parse(line)
            .ok()
            .and_then(|l| l.timestamp())
            .map_or(i64::MIN, |t| t.as_second())
    };
    let mut at = vec![0usize; files.len()];
    let mut out = Vec::new();
    loop {
        let next = (0..files.len())
            .filter(|&f| at[f] < files[f].len())
            .min_by_key(|&f| (key(&files[f][at[f]]), f));
        let Some(f) = next else {
            return out;
        };
        at[f] += 1;
        out.push((f, at[f] as u64));
    }
}

/// For the fuzz target (`crate::fuzzing::history_merge`): the group merged here and ahead, on
/// one core and two, with and without passing over, against [`full_merge`]; panics if the
/// order differs.
pub(crate) fn check_against_full_merge(group: &[Source]) {
    let read = |source: &Source| {
        let mut lines = Vec::new();
        if let Ok(mut file) = Lines::open(source, Progress::default()) {
            while let Ok(true) = file.advance() {
                lines.push(file.line().to_vec());
            }
        }
        lines
    };
    let files: Vec<Vec<Vec<u8>>> = group.iter().map(read).collect();
    let want = full_merge(&files);
    let progress = Progress::default();
    let merged = |cores: usize, pass_over: Option<PassOver>| {
        let reading = Reading {
            pass_over,
            cores,
            progress: &progress,
        };
        let mut out = Vec::new();
        let _ = merge(group, &reading, None, &mut || {}, &mut |i, _, n| {
            out.push((i, n));
            Ok(())
        });
        out
    };
    assert_eq!(merged(1, None), want, "one core");
    assert_eq!(merged(2, None), want, "two cores");
    let mut wanted = crate::request::ClassSet::default();
    wanted.insert(crate::request::Class::Write);
    let pass = PassOver::new(wanted, false);
    // Passed over wherever a file is read, here or ahead.
    let kept: Vec<(usize, u64)> = want
        .iter()
        .copied()
        .filter(|&(f, n)| {
            let text = &files[f][n as usize - 1];
            !pass.passes_over(text, &access::parse(text))
        })
        .collect();
    assert_eq!(merged(1, Some(pass)), kept, "one core, passing over");
    assert_eq!(merged(2, Some(pass)), kept, "two cores, passing over");
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::path::Path;

    use proptest::prelude::*;

    use super::*;
    use crate::request::{Class, ClassSet};

    fn line(second: u32, write: bool) -> String {
        let method = if write { "POST" } else { "GET" };
        format!(
            "::1 - root@pam [24/06/2026:10:{:02}:{:02} +0200] \"{method} /api2/json/nodes/pve1/qemu/100/status/start HTTP/1.1\" 200 80",
            second / 60,
            second % 60
        )
    }

    /// A line of a generated file: timed (its second, a write or a read), malformed, or empty.
    #[derive(Debug, Clone)]
    enum Spec {
        Timed(u32, bool),
        Malformed,
        Empty,
    }

    fn any_line() -> impl Strategy<Value = Spec> {
        prop_oneof![
            8 => (0u32..3600, any::<bool>()).prop_map(|(s, w)| Spec::Timed(s, w)),
            1 => Just(Spec::Malformed),
            1 => Just(Spec::Empty),
        ]
    }

    /// Files that mostly follow one another in time, as generations do, with some overlap,
    /// and lines a little out of order, as a log's are.
    fn history() -> impl Strategy<Value = Vec<Vec<String>>> {
        proptest::collection::vec(
            (proptest::collection::vec(any_line(), 0..40), 0u32..3000),
            1..6,
        )
        .prop_map(|files| {
            files
                .into_iter()
                .map(|(lines, shift)| {
                    lines
                        .into_iter()
                        .map(|spec| match spec {
                            Spec::Timed(s, w) => line((s / 8 + shift) % 3600, w),
                            Spec::Malformed => "not a log line \"at all".to_string(),
                            Spec::Empty => String::new(),
                        })
                        .collect()
                })
                .collect()
        })
    }

    fn write(dir: &Path, files: &[Vec<String>], gzip: &[bool]) -> Vec<Source> {
        files
            .iter()
            .enumerate()
            .map(|(i, lines)| {
                let path = dir.join(format!("access.log.{i}"));
                let text = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
                if gzip.get(i).copied().unwrap_or(false) {
                    let mut z = flate2::write::GzEncoder::new(
                        std::fs::File::create(&path).unwrap(),
                        flate2::Compression::fast(),
                    );
                    z.write_all(text.as_bytes()).unwrap();
                    z.finish().unwrap();
                } else {
                    std::fs::write(&path, text).unwrap();
                }
                Source::new(path)
            })
            .collect()
    }

    fn merged(group: &[Source], cores: usize, pass_over: Option<PassOver>) -> Vec<(usize, u64)> {
        let progress = Progress::default();
        let reading = Reading {
            pass_over,
            cores,
            progress: &progress,
        };
        let mut out = Vec::new();
        merge(group, &reading, None, &mut || {}, &mut |i, _, n| {
            out.push((i, n));
            Ok(())
        })
        .unwrap();
        out
    }

    fn writes_only() -> PassOver {
        let mut wanted = ClassSet::default();
        wanted.insert(Class::Write);
        PassOver::new(wanted, false)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Read here or ahead, on one core or two, files started as they come due: the lines
        /// come in the order of the merge with every file open from the start; and the lines
        /// a reading thread passes over leave the others where they were.
        #[test]
        fn the_order_is_that_of_the_full_merge_and_passing_over_moves_nothing(
            files in history(),
            gzip in proptest::collection::vec(any::<bool>(), 6),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let group = write(dir.path(), &files, &gzip);
            let bytes: Vec<Vec<Vec<u8>>> = files
                .iter()
                .map(|f| f.iter().map(|l| l.as_bytes().to_vec()).collect())
                .collect();
            let want = full_merge(&bytes);
            prop_assert_eq!(&merged(&group, 1, None), &want);
            prop_assert_eq!(&merged(&group, 2, None), &want);
            let pass = writes_only();
            // Passed over wherever a file is read: by a thread reading ahead (in a merge, or a
            // file that is not mapped) or here, on one core or a plain file alone.
            let kept: Vec<(usize, u64)> = want
                .iter()
                .copied()
                .filter(|&(f, n)| {
                    let text = files[f][n as usize - 1].as_bytes();
                    !pass.passes_over(text, &access::parse(text))
                })
                .collect();
            prop_assert_eq!(&merged(&group, 2, Some(pass)), &kept);
            prop_assert_eq!(&merged(&group, 1, Some(pass)), &kept);
        }
    }

    /// Generations that follow each other are read one at a time, plus one ahead per spare
    /// core: memory does not grow with the history.
    #[test]
    fn a_long_history_is_read_a_generation_or_two_at_a_time() {
        let files: Vec<Vec<String>> = (0..12)
            .map(|g| (0..50).map(|i| line(g * 300 + i, i % 7 == 0)).collect())
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let gzip: Vec<bool> = (0..12).map(|g| g % 2 == 0).collect();
        let group = write(dir.path(), &files, &gzip);
        let progress = Progress::default();
        for (cores, most) in [(1, 1), (2, 2), (4, 4)] {
            let reading = Reading {
                pass_over: Some(writes_only()),
                cores,
                progress: &progress,
            };
            let mut lines = 0;
            let read = merge(&group, &reading, None, &mut || {}, &mut |_, _, _| {
                lines += 1;
                Ok(())
            })
            .unwrap();
            assert_eq!(read, most, "{cores} cores");
            assert!(lines > 0);
        }
        // Files that all overlap are all read at once: the merge needs each one's line.
        let overlapping: Vec<Vec<String>> = (0..5)
            .map(|g| (0..50).map(|i| line(i * 10 + g, true)).collect())
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let group = write(dir.path(), &overlapping, &[]);
        let reading = Reading {
            pass_over: None,
            cores: 2,
            progress: &progress,
        };
        let read = merge(&group, &reading, None, &mut || {}, &mut |_, _, _| Ok(())).unwrap();
        assert_eq!(read, 5);
    }
}
