//! The tailer: follows one log by name over its byte stream, through every way a log file can
//! change under a reader.
//!
//! Wake-ups (inotify events or poll ticks) only say "look again"; what happened is always read
//! from the files themselves, so a lost, merged or overflowed event cannot lose data. Each look
//! ([`Tailer::check`]) reads what the files that are still open have gained, then compares what
//! the path names now with what is open:
//!
//! - same file: read on, unless it shrank or the bytes before the read position changed
//!   (truncated, or truncated and regrown past the old offset): then it is read again from 0,
//!   after what a copy of it has past the read position (copytruncate: the copy is the
//!   generation whose content fingerprint is the file's, see [`truncated`]). Every open file is
//!   checked so, the rotated ones too;
//! - another file (rename + create rotation, delete + recreate, symlink retargeted): the old file
//!   is read to its end and kept for `--rotate-wait` after it last grew, because old pveproxy
//!   workers keep appending to it; the new one is read from its first byte;
//! - nothing, or no regular file: what is open is still drained, and pverec waits, saying so once.
//!
//! Generations are told by their content as well as by their inode: a file's fingerprint is
//! its first bytes ([`identifies`]), decompressed for gzip, so a copy or a compressed
//! generation of a file that was read is never read as a new one.
//!
//! Only complete lines are handed on; a partial last line waits for its newline. The position of
//! the end of the last complete line (`offset`) is what a checkpoint records, so a restart never
//! starts inside a line.

use std::collections::VecDeque;
use std::fs::{self, File, Metadata};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

pub(crate) use crate::input::Identity;
use crate::input::{self, MAX_LINE};
use crate::messages;

/// How many bytes before the read position are compared to notice a rewritten file.
pub(crate) const MARK: usize = 64;
/// How many first bytes of a file identify it (its content fingerprint), wherever it is now:
/// under its inode, copied (copytruncate) or compressed (decompressed, the same bytes).
pub(crate) const HEAD: usize = 256;
const CHUNK: usize = 64 * 1024;
/// How many earlier generations (`access.log.1`, `.2`, …) are looked at for files that were
/// rotated away before pverec ever opened them.
const GENERATIONS: u32 = 8;
/// How many rotated files that were let go are remembered (see `Tailer::let_go`).
const LET_GO_MEMORY: usize = 2 * GENERATIONS as usize;

/// Where complete lines go: `(text, file name, line number)`.
pub(crate) type Sink<'a> = dyn FnMut(&[u8], &str, u64) -> io::Result<()> + 'a;

/// Whether the first bytes `head` of a file tell it from every other generation of the log:
/// a whole first line (an access.log line holds its time, to the second) or [`HEAD`] bytes.
/// Never an empty head (an empty file is a prefix of every file), nor part of a first line
/// (every line of a client starts the same).
pub(crate) fn identifies(head: &[u8]) -> bool {
    head.len() >= HEAD || head.contains(&b'\n')
}

/// An open log file and how far it has been read.
pub(crate) struct Tracked {
    pub(crate) file: File,
    /// How messages and JSON records name it: the name it had when it was opened.
    pub(crate) name: String,
    pub(crate) id: Identity,
    /// End of the last complete line handed on (or skipped): where a restart resumes.
    pub(crate) offset: u64,
    /// Number of that line.
    pub(crate) line: u64,
    /// How far the file has been read: `offset` plus an incomplete line.
    read_pos: u64,
    /// The incomplete line read so far.
    partial: Vec<u8>,
    /// Discarding the rest of an overlong line.
    skipping: bool,
    /// The last bytes read (up to [`MARK`]), to notice the file rewritten under us.
    tail: Vec<u8>,
    /// The first bytes read (up to [`HEAD`]): what the file held from its start, to find it
    /// again once copied away (copytruncate) or compressed.
    head: Vec<u8>,
    /// When the file last grew, for `--rotate-wait`.
    grew: Instant,
}

impl Tracked {
    /// Starts reading `file` at `offset`, the end of line number `line`.
    pub(crate) fn new(file: File, name: String, offset: u64, line: u64) -> io::Result<Tracked> {
        let id = Identity::of(&file.metadata()?);
        let mut tracked = Tracked {
            file,
            name,
            id,
            offset,
            line,
            read_pos: offset,
            partial: Vec::new(),
            skipping: false,
            tail: Vec::new(),
            head: Vec::new(),
            grew: Instant::now(),
        };
        tracked.tail = tracked.bytes_before(offset)?;
        let mut head = vec![0; offset.min(HEAD as u64) as usize];
        tracked.file.read_exact_at(&mut head, 0)?;
        tracked.head = head;
        Ok(tracked)
    }

    /// The content fingerprint of what was read: its first bytes, if they identify it.
    pub(crate) fn fingerprint(&self) -> Option<&[u8]> {
        Some(self.head.as_slice()).filter(|head| identifies(head))
    }

    /// Whether `other` holds the bytes read last from this file where this file had them:
    /// `other` is this file as it was when it was read (a copy of it).
    fn held_by(&self, other: &File) -> bool {
        let mut now = vec![0; self.tail.len()];
        let start = self.read_pos - self.tail.len() as u64;
        other.read_exact_at(&mut now, start).is_ok() && now == self.tail
    }

    /// Opens `path` positioned after its last complete line (the start point of a live follow).
    fn at_end(file: File, name: String) -> io::Result<Tracked> {
        let (offset, line) = last_line_end(&file)?;
        Tracked::new(file, name, offset, line)
    }

    /// Up to [`MARK`] bytes that end at `end`.
    pub(crate) fn bytes_before(&self, end: u64) -> io::Result<Vec<u8>> {
        let start = end.saturating_sub(MARK as u64);
        let mut buf = vec![0; (end - start) as usize];
        self.file.read_exact_at(&mut buf, start)?;
        Ok(buf)
    }

    /// Whether the file no longer holds what was read from it: it shrank below the read
    /// position, or the bytes just before it changed (truncated and rewritten past it, or a
    /// sparse hole left by a writer that does not append).
    fn rewritten(&self, size: u64) -> bool {
        if size < self.read_pos {
            return true;
        }
        if self.tail.is_empty() {
            return false;
        }
        let mut now = [0u8; MARK];
        let now = &mut now[..self.tail.len()];
        let start = self.read_pos - now.len() as u64;
        match self.file.read_exact_at(now, start) {
            Ok(()) => *now != *self.tail,
            Err(_) => true,
        }
    }

    /// Forgets everything read: the file is read again from its first byte.
    fn restart(&mut self) {
        self.offset = 0;
        self.line = 0;
        self.read_pos = 0;
        self.partial.clear();
        self.skipping = false;
        self.tail.clear();
        self.head.clear();
    }

    /// Reads what the file has gained and hands on its complete lines; `true` if it grew.
    fn pump(&mut self, sink: &mut Sink<'_>, buf: &mut [u8]) -> io::Result<bool> {
        let mut grew = false;
        loop {
            let n = match self.file.read_at(buf, self.read_pos) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // The file stays open and is tried again at the next look; errors of the
                    // sink (the output) are what `?` passes up.
                    messages::message(&format!("{}: read error: {e}", self.name));
                    break;
                }
            };
            grew = true;
            self.consume(&buf[..n], sink)?;
        }
        if grew {
            self.grew = Instant::now();
        }
        Ok(grew)
    }

    /// Splits bytes read at `read_pos` into lines.
    fn consume(&mut self, mut data: &[u8], sink: &mut Sink<'_>) -> io::Result<()> {
        remember_tail(&mut self.tail, data);
        // `head` holds the bytes [0, min(HEAD, read_pos)).
        if self.head.len() < HEAD && self.head.len() as u64 == self.read_pos {
            let more = (HEAD - self.head.len()).min(data.len());
            self.head.extend_from_slice(&data[..more]);
        }
        while !data.is_empty() {
            if self.partial.is_empty() && !self.skipping {
                // NUL bytes where a line should start are a sparse hole (a writer without
                // O_APPEND after a truncation), never part of a request.
                let nul = data.iter().take_while(|&&b| b == 0).count();
                self.read_pos += nul as u64;
                self.offset = self.read_pos;
                data = &data[nul..];
                if data.is_empty() {
                    break;
                }
            }
            let Some(end) = memchr::memchr(b'\n', data) else {
                self.read_pos += data.len() as u64;
                if !self.skipping {
                    self.partial.extend_from_slice(data);
                    if self.partial.len() > MAX_LINE {
                        self.skip_overlong();
                    }
                }
                break;
            };
            let piece = &data[..end];
            let start = self.read_pos - self.partial.len() as u64;
            self.read_pos += end as u64 + 1;
            self.offset = self.read_pos;
            if self.skipping {
                self.skipping = false;
            } else {
                self.line += 1;
                if self.partial.is_empty() {
                    if piece.len() > MAX_LINE {
                        self.report_overlong();
                    } else {
                        sink(strip_bom(piece, start), &self.name, self.line)?;
                    }
                } else {
                    self.partial.extend_from_slice(piece);
                    if self.partial.len() > MAX_LINE {
                        self.report_overlong();
                    } else {
                        sink(strip_bom(&self.partial, start), &self.name, self.line)?;
                    }
                    self.partial.clear();
                }
            }
            data = &data[end + 1..];
        }
        Ok(())
    }

    /// An incomplete line has grown past [`MAX_LINE`]: report it and discard up to its newline.
    fn skip_overlong(&mut self) {
        self.line += 1;
        self.report_overlong();
        self.partial = Vec::new();
        self.skipping = true;
    }

    fn report_overlong(&self) {
        messages::malformed(&self.name, self.line, &input::Overlong);
    }

    /// The last look at a file that is let go: an incomplete last line is converted as it is
    /// (documented policy: nothing read is dropped), with a warning.
    fn finish(mut self, sink: &mut Sink<'_>, buf: &mut [u8]) -> io::Result<()> {
        self.pump(sink, buf)?;
        if !self.partial.is_empty() && !self.skipping {
            self.line += 1;
            messages::message(&format!(
                "{}:{}: last line has no newline; converted as it is",
                self.name, self.line
            ));
            let line = std::mem::take(&mut self.partial);
            let start = self.read_pos - line.len() as u64;
            sink(strip_bom(&line, start), &self.name, self.line)?;
        }
        Ok(())
    }
}

/// Keeps the last [`MARK`] bytes of everything read.
fn remember_tail(tail: &mut Vec<u8>, data: &[u8]) {
    if data.len() >= MARK {
        tail.clear();
        tail.extend_from_slice(&data[data.len() - MARK..]);
    } else {
        tail.extend_from_slice(data);
        if tail.len() > MARK {
            tail.drain(..tail.len() - MARK);
        }
    }
}

/// A UTF-8 byte order mark is dropped from the file's first line.
fn strip_bom(line: &[u8], start: u64) -> &[u8] {
    if start == 0 {
        line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line)
    } else {
        line
    }
}

/// The end of the last complete line of `file` and the number of lines before it.
fn last_line_end(file: &File) -> io::Result<(u64, u64)> {
    let mut buf = vec![0; 1 << 20];
    let (mut pos, mut lines, mut end) = (0u64, 0u64, 0u64);
    loop {
        let n = match file.read_at(&mut buf, pos) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = &buf[..n];
        lines += memchr::memchr_iter(b'\n', chunk).count() as u64;
        if let Some(i) = memchr::memrchr(b'\n', chunk) {
            end = pos + i as u64 + 1;
        }
        pos += n as u64;
    }
    Ok((end, lines))
}

/// Where to start in the file the path names at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// After its last complete line: only what is logged from now on.
    End,
    /// From its first byte (`--since`, or a checkpoint that does not know this file).
    Beginning,
}

/// What the path was found to be the last time it was not a readable log file; each such state
/// is reported once, when it begins.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Odd {
    Missing,
    NotRegular,
    Unreadable(String),
}

/// A file that was read and let go, as it is recognised again: by identity and birth time (an
/// inode number is reused at once, the pair names one file), or by its content fingerprint
/// (a copy of it, or it compressed).
struct LetGo {
    id: Identity,
    /// `None` on file systems without birth times: then only the content tells.
    born: Option<SystemTime>,
    /// Its fingerprint ([`Tracked::fingerprint`]), empty if it had none.
    head: Vec<u8>,
}

impl LetGo {
    fn of(t: &Tracked) -> LetGo {
        LetGo {
            id: t.id,
            born: t.file.metadata().and_then(|m| m.created()).ok(),
            head: t.fingerprint().map(<[u8]>::to_vec).unwrap_or_default(),
        }
    }

    /// A generation read once (a copy, a compressed file), recognised by its own content.
    fn of_file(file: &File) -> Option<LetGo> {
        let meta = file.metadata().ok()?;
        let head = input::content_head(file, HEAD).ok()?;
        Some(LetGo {
            id: Identity::of(&meta),
            born: meta.created().ok(),
            head: Some(head).filter(|h| identifies(h)).unwrap_or_default(),
        })
    }

    /// Whether the generation `id`, `meta`, whose first bytes are `head`, is this file.
    fn is(&self, id: Identity, meta: &Metadata, head: &[u8]) -> bool {
        let same_file = self.born.is_some() && self.id == id && meta.created().ok() == self.born;
        same_file || (!self.head.is_empty() && head.starts_with(&self.head))
    }
}

/// Remembers `gone` among the files let go, forgetting the oldest past [`LET_GO_MEMORY`].
fn remember(let_go: &mut VecDeque<LetGo>, gone: LetGo) {
    if let_go.len() == LET_GO_MEMORY {
        let_go.pop_front();
    }
    let_go.push_back(gone);
}

/// Follows one log by name.
pub(crate) struct Tailer {
    path: PathBuf,
    name: String,
    /// The file the path named when last looked at.
    pub(crate) current: Option<Tracked>,
    /// Rotated files still read, oldest first.
    pub(crate) old: Vec<Tracked>,
    rotate_wait: Duration,
    odd: Option<Odd>,
    /// When the path was last found naming `current` (for files rotated away unseen): the time
    /// just before the stat that found it, not when that look ended.
    last_seen: SystemTime,
    /// Rotated files let go lately (and copies read): the scan for unseen generations stops at
    /// them, since their ctime alone can pass for a rotation since the last look.
    let_go: VecDeque<LetGo>,
    /// Where the current file starts when it is opened for the first time.
    start: Start,
    buf: Vec<u8>,
}

impl Tailer {
    pub(crate) fn new(path: &Path, start: Start, rotate_wait: Duration) -> Tailer {
        Tailer {
            path: path.to_path_buf(),
            name: path.to_string_lossy().into_owned(),
            current: None,
            old: Vec::new(),
            rotate_wait,
            odd: None,
            last_seen: SystemTime::now(),
            let_go: VecDeque::new(),
            start,
            buf: vec![0; CHUNK],
        }
    }

    /// The log's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Every open file, oldest first.
    pub(crate) fn files(&self) -> impl Iterator<Item = &Tracked> {
        self.old.iter().chain(self.current.iter())
    }

    /// Takes over files found through a checkpoint; a path that names none of them is read
    /// from its first byte.
    /// `saved` is when the path was last seen naming the checkpoint's current file: files
    /// rotated away after it and never opened are read too.
    pub(crate) fn resume(
        &mut self,
        current: Option<Tracked>,
        old: Vec<Tracked>,
        saved: Option<SystemTime>,
    ) {
        self.start = Start::Beginning;
        self.current = current;
        self.old = old;
        if let Some(saved) = saved {
            self.last_seen = saved;
        }
    }

    /// When the path was last found naming the current file (looked at, not when that look
    /// ended).
    pub(crate) fn last_seen(&self) -> SystemTime {
        self.last_seen
    }

    /// When the oldest rotated file stops being read, if no more comes.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.old.iter().map(|t| t.grew + self.rotate_wait).min()
    }

    /// Looks at the files and hands on every complete line they have gained.
    pub(crate) fn check(&mut self, sink: &mut Sink<'_>) -> io::Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        let result = self.check_with(sink, &mut buf);
        self.buf = buf;
        result
    }

    fn check_with(&mut self, sink: &mut Sink<'_>, buf: &mut [u8]) -> io::Result<()> {
        let now = Instant::now();
        let open: Vec<Identity> = self.files().map(|t| t.id).collect();
        let mut i = 0;
        while i < self.old.len() {
            let old = &mut self.old[i];
            // A rotated file is checked like the current one: shrunk, or rewritten before the
            // read position (copytruncate of `access.log.1`, or a copy and truncation that came
            // just before the rotation that made it `.1`).
            if old.file.metadata().is_ok_and(|m| old.rewritten(m.len())) {
                truncated(&self.path, &open, &mut self.let_go, old, sink, buf)?;
            }
            let old = &mut self.old[i];
            let grew = old.pump(sink, buf)?;
            if !grew && now.duration_since(old.grew) >= self.rotate_wait {
                let old = self.old.remove(i);
                self.remember_let_go(&old);
                old.finish(sink, buf)?;
            } else {
                i += 1;
            }
        }
        // When the path is looked at: taken before the stat, never once the look is over.
        // A look can last seconds (a backlog in a debug build on a loaded machine, an output
        // that blocks), and files created under the path after this stat and rotated away
        // before the next one are found by [`Tailer::unseen_generations`] only if their last
        // change is not older than this (less its margin).
        let looked = SystemTime::now();
        let meta = match fs::metadata(&self.path) {
            Ok(meta) if meta.is_file() => meta,
            Ok(_) => return self.odd_path(Odd::NotRegular, sink, buf),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return self.odd_path(Odd::Missing, sink, buf);
            }
            Err(e) => return self.odd_path(Odd::Unreadable(unreadable(&self.path, &e)), sink, buf),
        };
        let id = Identity::of(&meta);
        if self.current.as_ref().is_some_and(|c| c.id == id) {
            self.last_seen = looked;
            self.back_to_normal();
            let open: Vec<Identity> = self.files().map(|t| t.id).collect();
            if let Some(current) = &mut self.current {
                if current.rewritten(meta.len()) {
                    truncated(&self.path, &open, &mut self.let_go, current, sink, buf)?;
                }
                current.pump(sink, buf)?;
                return Ok(());
            }
        }
        if let Some(i) = self.old.iter().position(|o| o.id == id) {
            // Back to a rotated file still being read (a symlink pointed back, a rename undone):
            // it goes on from where it is, never again from 0.
            let back = self.old.remove(i);
            if let Some(mut previous) = self.current.take() {
                previous.pump(sink, buf)?;
                previous.grew = Instant::now();
                self.old.push(previous);
            }
            self.back_to_normal();
            self.last_seen = looked;
            let current = self.current.insert(back);
            current.pump(sink, buf)?;
            return Ok(());
        }
        // O_NONBLOCK: if the path turned into a FIFO since the stat, the open must not block
        // (on a regular file the flag changes nothing); what was opened is checked again.
        let opened = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&self.path);
        let file = match opened {
            Ok(file) if file.metadata().is_ok_and(|m| m.is_file()) => file,
            Ok(_) => return self.odd_path(Odd::NotRegular, sink, buf),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return self.odd_path(Odd::Missing, sink, buf);
            }
            Err(e) => return self.odd_path(Odd::Unreadable(unreadable(&self.path, &e)), sink, buf),
        };
        let first = self.current.is_none() && self.odd.is_none();
        let start = std::mem::replace(&mut self.start, Start::Beginning);
        let tracked = if first && start == Start::End {
            Tracked::at_end(file, self.name.clone())
        } else {
            Tracked::new(file, self.name.clone(), 0, 0)
        };
        // A read error here is the log's, not the output's: wait and try again.
        let tracked = match tracked {
            Ok(tracked) => tracked,
            Err(e) => return self.odd_path(Odd::Unreadable(unreadable(&self.path, &e)), sink, buf),
        };
        if let Some(previous) = self.current.take() {
            self.rotated(previous, tracked.id, sink, buf)?;
        }
        self.back_to_normal();
        self.last_seen = looked;
        let current = self.current.insert(tracked);
        current.pump(sink, buf)?;
        Ok(())
    }

    /// The path names another file than `previous`: rotation, recreation or a retargeted link.
    fn rotated(
        &mut self,
        mut previous: Tracked,
        new: Identity,
        sink: &mut Sink<'_>,
        buf: &mut [u8],
    ) -> io::Result<()> {
        // Only one rotated file is kept: the one before it has had its time.
        for old in std::mem::take(&mut self.old) {
            self.remember_let_go(&old);
            old.finish(sink, buf)?;
        }
        // Truncated (copytruncate) before it was replaced: what the copy has after the read
        // position, then what was written to it since the truncation, which only this open
        // file still has.
        if previous
            .file
            .metadata()
            .is_ok_and(|m| previous.rewritten(m.len()))
        {
            let open = [previous.id, new];
            truncated(
                &self.path,
                &open,
                &mut self.let_go,
                &mut previous,
                sink,
                buf,
            )?;
        }
        previous.pump(sink, buf)?;
        previous.grew = Instant::now();
        // Its late lines are named where they are now: `access.log.1` after PVE's rotation.
        let first = input::generation(&self.path, 1);
        if fs::symlink_metadata(&first).is_ok_and(|m| Identity::of(&m) == previous.id) {
            previous.name = first.to_string_lossy().into_owned();
        }
        let unseen = self.unseen_generations(&previous, new);
        self.old.push(previous);
        for (file, name) in unseen {
            let Ok(mut tracked) = Tracked::new(file, name, 0, 0) else {
                continue;
            };
            tracked.pump(sink, buf)?;
            self.old.push(tracked);
        }
        Ok(())
    }

    /// Files rotated away before pverec opened them (two rotations between two looks):
    /// `access.log.1`, `.2`, … that are plain files, neither the new one nor one already read
    /// (the file just left or a rotated file let go lately: the scan stops there, older
    /// generations are older still), and renamed after the path was last seen naming the file
    /// just left. Oldest first.
    fn unseen_generations(&self, previous: &Tracked, new: Identity) -> Vec<(File, String)> {
        let since = self.last_seen - Duration::from_secs(1);
        let mut found = Vec::new();
        for n in 1..=GENERATIONS {
            let path = input::generation(&self.path, n);
            // A gap is no end: in the middle of logrotate's shift (`.1` already moved to `.2`,
            // `access.log` not yet moved to `.1`) the generation after it is still to be seen.
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            // What is opened is judged, not what was stat-ed: a rename can come in between
            // (and a FIFO put there meanwhile must not block the open).
            let Ok(file) = input::open_regular(&path) else {
                continue;
            };
            let Ok(meta) = file.metadata() else { continue };
            let id = Identity::of(&meta);
            // By content too: a copy of a file read (copytruncate) is no unseen generation.
            let head = input::content_head(&file, HEAD).unwrap_or_default();
            let read =
                |t: &Tracked| t.id == id || t.fingerprint().is_some_and(|h| head.starts_with(h));
            if read(previous) || self.files().any(read) || self.was_let_go(id, &meta, &head) {
                break;
            }
            let changed = SystemTime::UNIX_EPOCH
                + Duration::new(meta.ctime().max(0) as u64, meta.ctime_nsec() as u32);
            // A file renamed while the scan runs can be met twice: read it once.
            if id == new || changed < since || found.iter().any(|(seen, _, _)| *seen == id) {
                continue;
            }
            found.push((id, file, path.to_string_lossy().into_owned()));
        }
        found.reverse();
        found
            .into_iter()
            .map(|(_, file, name)| (file, name))
            .collect()
    }

    /// Notes that the rotated file `old` is no longer read. Without birth times (some file
    /// systems) only its content fingerprint is noted, and with neither, the ctime test alone
    /// decides.
    fn remember_let_go(&mut self, old: &Tracked) {
        remember(&mut self.let_go, LetGo::of(old));
    }

    /// Whether the file `id`, `meta`, whose first bytes are `head`, is one that was read and let
    /// go. Two rotations over each other (`mv access.log access.log.1` twice) unlink the file
    /// just left, so the scan of [`Tailer::unseen_generations`] does not stop there and reaches
    /// older generations, whose ctime can be less than a second older than the last look.
    fn was_let_go(&self, id: Identity, meta: &Metadata, head: &[u8]) -> bool {
        self.let_go.iter().any(|g| g.is(id, meta, head))
    }

    /// The path names nothing readable: drain what is open, and say so once.
    fn odd_path(&mut self, odd: Odd, sink: &mut Sink<'_>, buf: &mut [u8]) -> io::Result<()> {
        if let Some(current) = &mut self.current {
            current.pump(sink, buf)?;
            if odd == Odd::Missing {
                // Between the rename and the create of a rotation, or deleted: the open file is
                // still read, and its successor will be picked up. Nothing to say.
                return Ok(());
            }
        }
        if self.odd.as_ref() != Some(&odd) {
            let what = match &odd {
                Odd::Missing => {
                    let missing = io::Error::from(io::ErrorKind::NotFound);
                    format!(
                        "does not exist{}",
                        messages::hint_suffix(&self.path, &missing)
                    )
                }
                Odd::NotRegular => "is not a regular file".to_string(),
                Odd::Unreadable(e) => format!("cannot be read ({e})"),
            };
            messages::message(&format!("{}: {what}; waiting for it", self.name));
            self.odd = Some(odd);
        }
        Ok(())
    }

    fn back_to_normal(&mut self) {
        if self.odd.take().is_some() {
            messages::message(&format!("{} has appeared; following it", self.name));
        }
    }
}

/// `t` no longer holds what was read from it (it shrank, or the bytes before the read position
/// changed). copytruncate (logrotate: shift `.1` to `.2`, copy the log to `.1`, truncate it)
/// leaves what it held in a generation beside the log: the one whose content fingerprint is
/// `t`'s (decompressed, if it was compressed meanwhile), neither a file in `open` nor `t`.
/// That copy is read on from `t`'s position (the lines logged between the last look and the
/// copy), then the generations copied after it, whole, oldest first (more copytruncates
/// before this look); then `t` is read again from its start. Without such a copy (a
/// truncation, a shorter rewrite), only that.
fn truncated(
    log: &Path,
    open: &[Identity],
    let_go: &mut VecDeque<LetGo>,
    t: &mut Tracked,
    sink: &mut Sink<'_>,
    buf: &mut [u8],
) -> io::Result<()> {
    let copy = t
        .fingerprint()
        .and_then(|head| find_copy(log, open, t.id, head));
    let Some((n, path, file)) = copy else {
        messages::message(&format!(
            "{}: truncated or rewritten; reading it again from the start",
            t.name
        ));
        t.restart();
        return Ok(());
    };
    let name = path.to_string_lossy().into_owned();
    messages::message(&format!(
        "{}: truncated after a copy to {name} (copytruncate); the copy is read on after line \
         {}, then {} again from its start",
        t.name, t.line, t.name
    ));
    let mut read = Vec::new();
    read_generation(file, name, Some(&*t), sink, buf, &mut read)?;
    for m in (1..n).rev() {
        for path in [input::generation(log, m), gz(&input::generation(log, m))] {
            let Ok(file) = input::open_regular(&path) else {
                continue;
            };
            let id = file.metadata().map(|m| Identity::of(&m));
            if id.is_ok_and(|id| open.contains(&id) || id == t.id) {
                continue;
            }
            let name = path.to_string_lossy().into_owned();
            read_generation(file, name, None, sink, buf, &mut read)?;
        }
    }
    for gone in read {
        remember(let_go, gone);
    }
    t.restart();
    Ok(())
}

/// `path` + `.gz`.
fn gz(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".gz");
    PathBuf::from(name)
}

/// The generation `access.log.N` (or `.N.gz`), newest first, whose content starts with
/// `head`, and that is neither `own` nor a file in `open`: a copy of the file `head` is of.
fn find_copy(
    log: &Path,
    open: &[Identity],
    own: Identity,
    head: &[u8],
) -> Option<(u32, PathBuf, File)> {
    for n in 1..=GENERATIONS {
        for path in [input::generation(log, n), gz(&input::generation(log, n))] {
            let Ok(file) = input::open_regular(&path) else {
                continue;
            };
            let Ok(meta) = file.metadata() else { continue };
            let id = Identity::of(&meta);
            if id == own || open.contains(&id) {
                continue;
            }
            if input::content_head(&file, head.len()).is_ok_and(|h| h == head) {
                return Some((n, path, file));
            }
        }
    }
    None
}

/// Reads a generation found beside the log to its end, once (nobody writes to a copy or a
/// compressed file): after the line `after` was read up to, when it is a copy of `after`
/// (checked, for a plain copy, by the bytes before that position), else whole. What was read
/// is added to `read`, to be recognised by the scans for unseen generations.
fn read_generation(
    file: File,
    name: String,
    after: Option<&Tracked>,
    sink: &mut Sink<'_>,
    buf: &mut [u8],
    read: &mut Vec<LetGo>,
) -> io::Result<()> {
    read.extend(LetGo::of_file(&file));
    let mut magic = [0u8; 2];
    let gzip = file.read_exact_at(&mut magic, 0).is_ok() && magic == [0x1f, 0x8b];
    if gzip {
        let skip = after.map_or(0, |t| t.line);
        return read_compressed(&name, skip, sink);
    }
    let size = file.metadata().map_or(0, |m| m.len());
    let (offset, line) = match after {
        // Copied before the last look: it holds nothing that was not read.
        Some(t) if size <= t.read_pos => return Ok(()),
        Some(t) if !t.held_by(&file) => {
            messages::message(&format!(
                "{name}: not a copy of {} as it was read (its bytes before line {} differ); \
                 not read",
                t.name, t.line
            ));
            return Ok(());
        }
        Some(t) => (t.offset, t.line),
        None => (0, 0),
    };
    let Ok(copy) = Tracked::new(file, name, offset, line) else {
        return Ok(());
    };
    copy.finish(sink, buf)
}

/// A compressed generation (found by pverec: regular files only), its lines after the first
/// `skip`.
fn read_compressed(name: &str, skip: u64, sink: &mut Sink<'_>) -> io::Result<()> {
    let source = input::Source::found(PathBuf::from(name));
    let mut lines = match input::Lines::open(&source, input::Progress::default()) {
        Ok(lines) => lines,
        Err(e) => {
            messages::message(&format!("{name}: {e}"));
            return Ok(());
        }
    };
    let mut number = 0;
    loop {
        match lines.advance() {
            Ok(true) => {
                number += 1;
                if number > skip {
                    sink(lines.line(), name, number)?;
                }
            }
            Ok(false) => return Ok(()),
            Err(e) => {
                messages::message(&format!("{name}: read error after line {number}: {e}"));
                return Ok(());
            }
        }
    }
}

/// Why the log cannot be read, with what to do about it on a PVE path (run as root, …).
fn unreadable(path: &Path, err: &io::Error) -> String {
    format!("{err}{}", messages::hint_suffix(path, err))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn collect(t: &mut Tracked) -> Vec<String> {
        let mut got = Vec::new();
        let mut buf = vec![0; 7];
        t.pump(
            &mut |l: &[u8], _: &str, n: u64| {
                got.push(format!("{n}:{}", String::from_utf8_lossy(l)));
                Ok(())
            },
            &mut buf,
        )
        .unwrap();
        got
    }

    #[test]
    fn complete_lines_only_and_offsets_at_line_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut w = File::create(&path).unwrap();
        w.write_all(b"\xEF\xBB\xBFone\ntwo\nthr").unwrap();
        let mut t = Tracked::new(File::open(&path).unwrap(), "log".into(), 0, 0).unwrap();
        assert_eq!(collect(&mut t), ["1:one", "2:two"]);
        assert_eq!(t.offset, 11);
        w.write_all(b"ee\n\0\0\0four\n").unwrap();
        assert_eq!(collect(&mut t), ["3:three", "4:four"]);
        assert_eq!(t.offset, 25);
        assert!(!t.rewritten(25));
        assert!(t.rewritten(10));
    }

    #[test]
    fn the_fingerprint_is_a_whole_first_line_or_head_bytes() {
        assert!(!identifies(b""));
        assert!(!identifies(b"::ffff:192.168.10.23 - alice@pve"));
        assert!(identifies(b"a\n"));
        assert!(identifies(&[b'x'; HEAD]));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut w = File::create(&path).unwrap();
        let mut t = Tracked::new(File::open(&path).unwrap(), "log".into(), 0, 0).unwrap();
        assert_eq!(t.fingerprint(), None);
        w.write_all(b"one").unwrap();
        collect(&mut t);
        assert_eq!(t.fingerprint(), None);
        w.write_all(b"\ntwo\n").unwrap();
        collect(&mut t);
        assert_eq!(t.fingerprint(), Some(&b"one\ntwo\n"[..]));
        w.write_all(&[b'x'; 2 * HEAD]).unwrap();
        collect(&mut t);
        assert_eq!(t.fingerprint().map(<[u8]>::len), Some(HEAD));
        // Resumed in the middle: the same first bytes, read from the file.
        let resumed = Tracked::new(File::open(&path).unwrap(), "log".into(), 8, 2).unwrap();
        assert_eq!(resumed.fingerprint(), Some(&b"one\ntwo\n"[..]));
        t.restart();
        assert_eq!(t.fingerprint(), None);
    }

    #[test]
    fn overlong_lines_are_skipped_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut w = File::create(&path).unwrap();
        w.write_all(&vec![b'x'; MAX_LINE + 10]).unwrap();
        w.write_all(b"\nnext\n").unwrap();
        let mut t = Tracked::new(File::open(&path).unwrap(), "log".into(), 0, 0).unwrap();
        assert_eq!(collect(&mut t), ["2:next"]);
        assert_eq!(t.offset, (MAX_LINE + 10 + 6) as u64);
    }

    #[test]
    fn end_start_point_is_after_the_last_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        fs::write(&path, b"a\nb\npart").unwrap();
        let t = Tracked::at_end(File::open(&path).unwrap(), "log".into()).unwrap();
        assert_eq!((t.offset, t.line), (4, 2));
    }
}
