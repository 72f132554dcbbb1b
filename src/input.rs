//! Opening the logs: plain files, gzip files, standard input and rotated sets.
//!
//! A plain file is memory-mapped and its lines are handed out as slices of the map, so the
//! common case copies nothing. Gzip is recognised by its magic bytes, not by the name (logrotate
//! names are a convention, and `zcat`-ed copies lose the `.gz`), and decoded as a multi-member
//! stream. Anything that is not a regular file (a pipe, /dev/null, stdin) is read as a stream.
//!
//! A rotated set (`--rotated`) is opened as a group: its files are read together and merged by
//! time, because old pveproxy workers keep appending to `access.log.1` after a rotation
//! (pve-formats.md §1.5). `--since` on the node's own log reaches into as many generations as it
//! needs ([`generations_since`]), in convert as in follow.
//!
//! Which log is the node's own decides whether this host's task index, spool and name are used:
//! a file in the node's log directory, however it is spelled ([`is_node_log`]). The node's
//! default paths all go through [`system_path`], so that tests can stand a temp directory in for
//! `/` (`PVEREC_SYSROOT`, a testing aid), without touching the real `/var/log`.

mod newlines;

use std::fs::{File, Metadata};
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::bufread::MultiGzDecoder;
use memmap2::Mmap;

use crate::messages;
use crate::source::access;
use newlines::Newlines;

/// The log pveproxy and spiceproxy write.
pub(crate) const DEFAULT_LOG: &str = "/var/log/pveproxy/access.log";

/// The longest access.log line read, by `convert` and `follow` alike (without its newline).
/// pveproxy's own lines are a few hundred bytes; a longer one is skipped and reported as
/// [`Overlong`], never cut short, since a cut line could still parse as another request.
pub(crate) const MAX_LINE: usize = 1 << 20;

/// Why a line longer than [`MAX_LINE`] is skipped: the same words in convert and follow.
pub(crate) struct Overlong;

impl std::fmt::Display for Overlong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line longer than {MAX_LINE} bytes (1 MiB)")
    }
}

/// The directory of the node's own logs: pve-manager's `PVE/Service/pveproxy.pm` and
/// `spiceproxy.pm` log to `/var/log/pveproxy/access.log`, its Makefile creates the directory, and
/// `configs/pve.logrotate` (tests/data/pve.logrotate) rotates the log there.
pub(crate) const NODE_LOG_DIR: &str = "/var/log/pveproxy";

/// Test seam: a directory that stands for `/` in the node's default paths (the log, the task
/// index, the spool, the host name). Not for users: a node has one root.
const SYSROOT_ENV: &str = "PVEREC_SYSROOT";

/// One of the node's default paths (absolute), under `PVEREC_SYSROOT` when that is set.
pub(crate) fn system_path(path: &str) -> PathBuf {
    match std::env::var_os(SYSROOT_ENV) {
        Some(root) if !root.is_empty() => Path::new(&root).join(path.trim_start_matches('/')),
        _ => PathBuf::from(path),
    }
}

/// Whether `path` is one of the node's own logs: a file in the node's log directory. The
/// directories are compared canonicalized, so `./access.log` in that directory, a symlinked
/// directory, or a symlink to a file there all count. Standard input never does.
pub(crate) fn is_node_log(path: &Path) -> bool {
    if path.as_os_str() == "-" {
        return false;
    }
    let Ok(node_dir) = system_path(NODE_LOG_DIR).canonicalize() else {
        return false;
    };
    let in_node_dir = |p: &Path| directory(p).canonicalize().is_ok_and(|d| d == node_dir);
    in_node_dir(path) || path.canonicalize().is_ok_and(|target| in_node_dir(&target))
}

/// What standard input is, when it has something to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StdinInput {
    /// A redirected file (`< saved.log`).
    File,
    /// A pipe or a socket (`zcat access.log.2.gz |`, but also what cron, CI runners and editors
    /// may attach without meaning it as input).
    Stream,
}

/// Whether standard input has something to read: a pipe, a socket or a file, not a terminal or
/// a character device such as /dev/null (ripgrep's rule, `grep_cli::is_readable_stdin`), so
/// that `zcat access.log.2.gz | pverec convert` reads the pipe.
pub(crate) fn readable_stdin() -> Option<StdinInput> {
    // fd 0 may be closed: then there is nothing to read.
    let fd = io::stdin().as_fd().try_clone_to_owned().ok()?;
    let kind = File::from(fd).metadata().ok()?.file_type();
    if kind.is_file() {
        Some(StdinInput::File)
    } else if kind.is_fifo() || kind.is_socket() {
        Some(StdinInput::Stream)
    } else {
        None
    }
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const STREAM_BUFFER: usize = 256 * 1024;
/// How often a mapped file reports progress and releases what it has read.
const STEP: usize = 1 << 20;

/// A file by identity, whatever its name is now: what followed files (the log, the task index,
/// the spool's events file) are recognised by across renames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Identity {
    pub(crate) dev: u64,
    pub(crate) ino: u64,
}

impl Identity {
    pub(crate) fn of(meta: &Metadata) -> Identity {
        Identity {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// Splits bytes that arrive piece by piece (a file read as it grows) into numbered lines, with
/// bounded memory: an incomplete last line waits for more bytes, and a line longer than `max`
/// is dropped whole, handed on as `None` once its newline comes.
#[derive(Debug)]
pub(crate) struct LineSplitter {
    max: usize,
    partial: Vec<u8>,
    /// Number of the last line handed on.
    line: u64,
    /// The line being read is too long: its bytes are dropped up to its newline.
    overlong: bool,
    /// Bytes fed so far, and where in them the line being read starts.
    fed: u64,
    line_start: u64,
}

/// Where [`LineSplitter`] hands its lines: `(number, Some(line) | None when overlong)`.
pub(crate) type EachLine<'a> = dyn FnMut(u64, Option<&[u8]>) + 'a;
/// [`EachLine`] with the offset of the line's first byte: `(number, offset, line)`.
pub(crate) type EachLineAt<'a> = dyn FnMut(u64, u64, Option<&[u8]>) + 'a;

impl LineSplitter {
    pub(crate) fn new(max: usize) -> LineSplitter {
        LineSplitter {
            max,
            partial: Vec::new(),
            line: 0,
            overlong: false,
            fed: 0,
            line_start: 0,
        }
    }

    pub(crate) fn feed(&mut self, bytes: &[u8], each: &mut EachLine<'_>) {
        self.feed_at(bytes, &mut |number, _, line| each(number, line));
    }

    /// [`Self::feed`], also saying where in the bytes fed each line starts (its offset in the
    /// file, when the file is fed from its first byte).
    pub(crate) fn feed_at(&mut self, mut bytes: &[u8], each: &mut EachLineAt<'_>) {
        while let Some(i) = memchr::memchr(b'\n', bytes) {
            let head = &bytes[..i];
            bytes = &bytes[i + 1..];
            self.fed += i as u64 + 1;
            let start = std::mem::replace(&mut self.line_start, self.fed);
            self.line += 1;
            if self.overlong || self.partial.len() + head.len() > self.max {
                self.overlong = false;
                self.partial = Vec::new();
                each(self.line, start, None);
            } else if self.partial.is_empty() {
                each(self.line, start, Some(head));
            } else {
                self.partial.extend_from_slice(head);
                each(self.line, start, Some(&self.partial));
                if self.partial.capacity() > 64 * 1024 {
                    self.partial = Vec::new(); // one long line need not keep its memory
                } else {
                    self.partial.clear();
                }
            }
        }
        self.fed += bytes.len() as u64;
        if self.overlong {
            return;
        }
        if self.partial.len() + bytes.len() > self.max {
            self.overlong = true;
            self.partial = Vec::new();
        } else {
            self.partial.extend_from_slice(bytes);
        }
    }

    /// How many lines were handed on.
    #[cfg(test)]
    pub(crate) fn count(&self) -> u64 {
        self.line
    }

    /// The input ended: an incomplete last line is handed on as it is.
    pub(crate) fn finish(&mut self, each: &mut EachLine<'_>) {
        self.finish_at(&mut |number, _, line| each(number, line));
    }

    /// [`Self::finish`] with offsets, as [`Self::feed_at`].
    pub(crate) fn finish_at(&mut self, each: &mut EachLineAt<'_>) {
        if self.overlong || !self.partial.is_empty() {
            self.feed_at(b"\n", each);
        }
    }
}

/// Opens a file that pverec found by itself (a rotated generation, a checkpointed file), only
/// if it is a regular file: opened `O_NONBLOCK`, so that a FIFO or a device there cannot block
/// the open (on a regular file the flag changes nothing), then what was opened is checked with
/// fstat, so no rename between a look and the open can slip another file in.
pub(crate) fn open_regular(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let kind = file.metadata()?.file_type();
    if kind.is_file() {
        Ok(file)
    } else {
        Err(not_regular(kind))
    }
}

/// The error for a file that must be a regular file and is not, saying what it is.
pub(crate) fn not_regular(kind: std::fs::FileType) -> io::Error {
    let what = if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_dir() {
        "a directory"
    } else {
        "a special file"
    };
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{what}, not a regular file; skipped"),
    )
}

/// A file to read, as named on the command line (`-` is standard input), or found by pverec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Source {
    pub(crate) path: PathBuf,
    /// How messages and JSON records name it.
    pub(crate) name: String,
    /// Found by pverec, not named by the user (a rotated generation): read only if it is a
    /// regular file.
    found: bool,
}

impl Source {
    pub(crate) fn new(path: PathBuf) -> Source {
        let name = if path.as_os_str() == "-" {
            "-".to_string()
        } else {
            path.to_string_lossy().into_owned()
        };
        Source {
            path,
            name,
            found: false,
        }
    }

    /// A rotated generation or another file pverec found by itself: regular files only.
    pub(crate) fn found(path: PathBuf) -> Source {
        Source {
            found: true,
            ..Source::new(path)
        }
    }

    fn is_stdin(&self) -> bool {
        self.path.as_os_str() == "-"
    }
}

/// The groups of files to read, in order. Each group is merged by time; without `--rotated`
/// every file is a group of its own.
pub(crate) fn groups(files: &[PathBuf], rotated: bool) -> io::Result<Vec<Vec<Source>>> {
    if !rotated {
        return Ok(files.iter().map(|f| vec![Source::new(f.clone())]).collect());
    }
    files
        .iter()
        .map(|f| {
            if f.as_os_str() == "-" {
                Ok(vec![Source::new(f.clone())])
            } else {
                // The generations are found; the file itself (last) is the one named.
                rotated_set(f).map(|mut set| {
                    let named = set.pop().map(Source::new);
                    set.into_iter().map(Source::found).chain(named).collect()
                })
            }
        })
        .collect()
}

/// `access.log` -> `access.log.7.gz` … `access.log.2.gz`, `access.log.1`, `access.log`: the
/// generations that exist, oldest first, then the file itself (even if missing, so that its
/// absence is reported).
pub(crate) fn rotated_set(path: &Path) -> io::Result<Vec<PathBuf>> {
    let dir = directory(path);
    let Some(base) = path.file_name().and_then(|n| n.to_str()) else {
        return Ok(vec![path.to_path_buf()]);
    };
    let mut generations: Vec<(u32, PathBuf)> = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(vec![path.to_path_buf()]),
        Err(e) => return Err(io::Error::new(e.kind(), messages::os_error(dir, &e))),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(suffix) = name.strip_prefix(base).and_then(|s| s.strip_prefix('.')) else {
            continue;
        };
        let number = suffix.strip_suffix(".gz").unwrap_or(suffix);
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(n) = number.parse::<u32>() {
            generations.push((n, path.with_file_name(name)));
        }
    }
    // Oldest (highest number) first; for the same number, a plain file before its .gz twin.
    generations.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let mut set: Vec<PathBuf> = generations.into_iter().map(|(_, p)| p).collect();
    set.push(path.to_path_buf());
    Ok(set)
}

/// The older generations of `log` that a reader starting at `since` needs, oldest first (`log`
/// itself not included): going back from `log`, a generation is needed while the next newer one
/// starts after `since`. A newer one whose first time cannot be read (empty, no access.log line
/// in its head) does not stop the search: better one file too many than a day lost.
pub(crate) fn generations_since(log: &Path, since: jiff::Timestamp) -> Vec<PathBuf> {
    let Ok(set) = rotated_set(log) else {
        return Vec::new();
    };
    let mut needed: Vec<PathBuf> = Vec::new();
    let mut newer = log.to_path_buf();
    for older in set.iter().rev().skip(1) {
        if first_time(&newer).is_some_and(|t| t <= since) {
            break;
        }
        needed.push(older.clone());
        newer = older.clone();
    }
    needed.reverse();
    needed
}

/// The time of the first well-formed line of a file (plain or gzip), looked for in its first
/// 1,000 lines. Only a regular file is looked into: reading the head of a FIFO would block, or
/// take its lines from the reader that comes after.
pub(crate) fn first_time(path: &Path) -> Option<jiff::Timestamp> {
    let mut lines = Lines::open(&Source::found(path.to_path_buf()), Progress::default()).ok()?;
    for _ in 0..1000 {
        if !lines.advance().ok()? {
            return None;
        }
        if let Some(t) = access::parse(lines.line()).ok().and_then(|l| l.timestamp()) {
            return Some(t);
        }
    }
    None
}

/// The directory that holds `path` (`.` for a bare file name).
pub(crate) fn directory(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Generation `n` of a log as logrotate names it before compression: `access.log.1`.
pub(crate) fn generation(log: &Path, n: u32) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// Bytes consumed so far across all open inputs, for the progress display. Shared with the
/// threads that read ahead ([`crate::merge`]).
#[derive(Clone, Default)]
pub(crate) struct Progress(Arc<AtomicU64>);

impl Progress {
    pub(crate) fn add(&self, bytes: u64) {
        self.0.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A source opened for reading, not read yet: a file handle costs nothing while it waits its
/// turn, where a decoder and its buffers would.
pub(crate) enum Opened {
    Stdin,
    File(File),
}

impl Opened {
    /// Opens `source`: a file pverec found itself only if it is a regular file; never a
    /// directory.
    pub(crate) fn open(source: &Source) -> io::Result<Opened> {
        if source.is_stdin() {
            return Ok(Opened::Stdin);
        }
        let file = if source.found {
            open_regular(&source.path)?
        } else {
            File::open(&source.path)?
        };
        if file.metadata()?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "is a directory",
            ));
        }
        Ok(Opened::File(file))
    }
}

/// A source of lines.
pub(crate) struct Lines {
    kind: Kind,
    /// Where the current line starts (mapped) or the current line itself (streams).
    current: std::ops::Range<usize>,
    line: Vec<u8>,
    first: bool,
    progress: Progress,
    reported: u64,
}

enum Kind {
    Mapped {
        map: Mmap,
        next: usize,
        newlines: Newlines,
    },
    Stream(Box<dyn BufRead + Send>),
}

/// Counts bytes read from the underlying file (compressed bytes, for gzip).
struct Counted<R> {
    inner: R,
    progress: Progress,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.add(n as u64);
        Ok(n)
    }
}

impl Lines {
    /// Opens a source for reading.
    pub(crate) fn open(source: &Source, progress: Progress) -> io::Result<Lines> {
        Lines::of(Opened::open(source)?, progress)
    }

    /// Reads what [`Opened::open`] opened.
    pub(crate) fn of(opened: Opened, progress: Progress) -> io::Result<Lines> {
        let kind = match opened {
            Opened::Stdin => stream(Box::new(Counted {
                inner: io::stdin(),
                progress: progress.clone(),
            }))?,
            Opened::File(file) => {
                let meta = file.metadata()?;
                if meta.is_file() && meta.len() > 0 {
                    // SAFETY: the map is only read. pveproxy appends to its log (the map just
                    // ends where the file ended when mapped) and logrotate renames it; only a
                    // truncation while we read would make the map invalid, which PVE's
                    // rename-based rotation does not do (README, "Limits").
                    let map = unsafe { Mmap::map(&file)? };
                    if map.starts_with(GZIP_MAGIC) {
                        drop(map);
                        stream(Box::new(Counted {
                            inner: file,
                            progress: progress.clone(),
                        }))?
                    } else {
                        #[cfg(unix)]
                        let _ = map.advise(memmap2::Advice::Sequential);
                        Kind::Mapped {
                            map,
                            next: 0,
                            newlines: Newlines::default(),
                        }
                    }
                } else {
                    stream(Box::new(Counted {
                        inner: file,
                        progress: progress.clone(),
                    }))?
                }
            }
        };
        Ok(Lines {
            kind,
            current: 0..0,
            line: Vec::new(),
            first: true,
            progress,
            reported: 0,
        })
    }

    /// Reads a stream (a child's output), decompressed if it is gzip.
    pub(crate) fn of_reader(reader: Box<dyn Read + Send>) -> io::Result<Lines> {
        Ok(Lines {
            kind: stream(reader)?,
            current: 0..0,
            line: Vec::new(),
            first: true,
            progress: Progress::default(),
            reported: 0,
        })
    }

    /// Whether the lines are slices of a mapped file (nothing to decode, nothing to copy).
    pub(crate) fn is_mapped(&self) -> bool {
        matches!(self.kind, Kind::Mapped { .. })
    }

    /// Moves to the next line; `Ok(false)` at the end. The line excludes its `\n`, and a UTF-8
    /// byte order mark at the start of the file is dropped.
    pub(crate) fn advance(&mut self) -> io::Result<bool> {
        let more = match &mut self.kind {
            Kind::Mapped {
                map,
                next,
                newlines,
            } => {
                let start = *next;
                if start >= map.len() {
                    false
                } else {
                    let end = newlines.find(map, start).unwrap_or(map.len());
                    *next = end + 1;
                    self.current = start..end;
                    // Every few MiB: report progress, and let go of the pages already read so
                    // that resident memory stays small whatever the file size (the page cache
                    // keeps them). The per-line cost is one comparison.
                    if end as u64 >= self.reported + STEP as u64 {
                        let done = start - start % STEP;
                        self.progress.add(end as u64 - self.reported);
                        self.reported = end as u64;
                        // SAFETY: `map` is a read-only, file-backed shared mapping. MADV_DONTNEED
                        // only drops our page table entries for [0, done): the data stays in the
                        // file and the page cache, and this code never reads before `start`
                        // again (`done` <= `start`, and `done` is a multiple of STEP, so
                        // page-aligned).
                        if done > 0 {
                            let _ = unsafe {
                                map.unchecked_advise_range(
                                    memmap2::UncheckedAdvice::DontNeed,
                                    0,
                                    done,
                                )
                            };
                        }
                    }
                    true
                }
            }
            Kind::Stream(reader) => {
                self.line.clear();
                // One byte more than a line may have, so that an overlong one is seen as such.
                let n = read_line_bounded(reader.as_mut(), &mut self.line, MAX_LINE + 1)?;
                if self.line.last() == Some(&b'\n') {
                    self.line.pop();
                }
                self.current = 0..self.line.len();
                n > 0
            }
        };
        if more && std::mem::take(&mut self.first) && self.line().starts_with(b"\xEF\xBB\xBF") {
            self.current.start += 3;
        }
        Ok(more)
    }

    /// The current line.
    pub(crate) fn line(&self) -> &[u8] {
        match &self.kind {
            Kind::Mapped { map, .. } => &map[self.current.clone()],
            Kind::Stream(_) => &self.line[self.current.clone()],
        }
    }
}

/// Reads up to and including the next `\n` into `line`, keeping at most `keep` bytes of it (the
/// rest of a longer line is read and dropped, so memory stays bounded on a stream without
/// newlines); returns how many bytes were consumed, 0 at the end.
fn read_line_bounded(
    reader: &mut dyn BufRead,
    line: &mut Vec<u8>,
    keep: usize,
) -> io::Result<usize> {
    let mut total = 0;
    loop {
        let buf = match reader.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(total);
        }
        let (chunk, done) = match memchr::memchr(b'\n', buf) {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        let room = keep.saturating_sub(line.len());
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = chunk.len();
        reader.consume(used);
        total += used;
        if done {
            return Ok(total);
        }
    }
}

/// A buffered stream, decompressed when it starts with the gzip magic bytes.
fn stream(reader: Box<dyn Read + Send>) -> io::Result<Kind> {
    let mut buffered = BufReader::with_capacity(STREAM_BUFFER, reader);
    let gzip = buffered.fill_buf()?.starts_with(GZIP_MAGIC);
    Ok(if gzip {
        Kind::Stream(Box::new(BufReader::with_capacity(
            STREAM_BUFFER,
            MultiGzDecoder::new(buffered),
        )))
    } else {
        Kind::Stream(Box::new(buffered))
    })
}

/// Total size on disk of the files, for deciding whether a run is long enough for progress.
pub(crate) fn total_size(groups: &[Vec<Source>]) -> u64 {
    groups
        .iter()
        .flatten()
        .filter(|s| !s.is_stdin())
        .filter_map(|s| std::fs::metadata(&s.path).ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// The first `len` bytes of what `file` holds: decompressed if it is gzip (by its magic bytes),
/// as they are otherwise; fewer if it holds fewer. Read with `pread(2)` from the start, so the
/// file's position is untouched. This is what follow tells a generation by: the same file
/// fingerprints the same plain, copied or compressed (follow-scenarios.md 40).
pub(crate) fn content_head(file: &File, len: usize) -> io::Result<Vec<u8>> {
    /// Reads `file` from `pos` on, with `pread(2)`.
    struct At<'a> {
        file: &'a File,
        pos: u64,
    }
    impl Read for At<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            use std::os::unix::fs::FileExt;
            let n = self.file.read_at(buf, self.pos)?;
            self.pos += n as u64;
            Ok(n)
        }
    }
    let mut magic = Vec::with_capacity(2);
    At { file, pos: 0 }.take(2).read_to_end(&mut magic)?;
    let mut head = Vec::with_capacity(len.min(1 << 16));
    let limit = u64::try_from(len).unwrap_or(u64::MAX);
    if magic == GZIP_MAGIC {
        let reader = BufReader::new(At { file, pos: 0 });
        MultiGzDecoder::new(reader)
            .take(limit)
            .read_to_end(&mut head)?;
    } else {
        At { file, pos: 0 }.take(limit).read_to_end(&mut head)?;
    }
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_line_reads_keep_at_most_keep_bytes_and_consume_whole_lines() {
        // A tiny buffer, so that lines span several fill_buf calls.
        let data: &[u8] = b"abc\n0123456789\nlast";
        let mut reader = BufReader::with_capacity(3, data);
        let mut line = Vec::new();
        let mut read = |line: &mut Vec<u8>| {
            line.clear();
            read_line_bounded(&mut reader, line, 5).unwrap()
        };
        assert_eq!((read(&mut line), line.as_slice()), (4, &b"abc\n"[..]));
        assert_eq!((read(&mut line), line.as_slice()), (11, &b"01234"[..]));
        assert_eq!((read(&mut line), line.as_slice()), (4, &b"last"[..]));
        assert_eq!(read(&mut line), 0);
    }

    #[test]
    fn split_lines_say_where_they_start_across_feeds_and_overlong_lines() {
        let data: &[u8] = b"abc\n0123456789\n\nok\ntail";
        for cut in 0..data.len() {
            let mut lines = LineSplitter::new(8);
            let mut got = Vec::new();
            let mut each =
                |n: u64, at: u64, line: Option<&[u8]>| got.push((n, at, line.map(<[u8]>::to_vec)));
            lines.feed_at(&data[..cut], &mut each);
            lines.feed_at(&data[cut..], &mut each);
            lines.finish_at(&mut each);
            let line = |s: &[u8]| Some(s.to_vec());
            assert_eq!(
                got,
                [
                    (1, 0, line(b"abc")),
                    (2, 4, None),
                    (3, 15, line(b"")),
                    (4, 16, line(b"ok")),
                    (5, 19, line(b"tail")),
                ],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn split_lines_are_numbered_and_overlong_ones_dropped_whole() {
        let mut lines = LineSplitter::new(8);
        let mut got = Vec::new();
        let mut each = |n: u64, line: Option<&[u8]>| got.push((n, line.map(<[u8]>::to_vec)));
        lines.feed(b"ab", &mut each);
        lines.feed(b"c\nd", &mut each);
        lines.feed(b"0123456789", &mut each);
        lines.feed(b"\nok\n", &mut each);
        lines.feed(b"12345678", &mut each);
        lines.feed(b"\n\n", &mut each);
        lines.feed(b"tail", &mut each);
        lines.finish(&mut each);
        let line = |s: &[u8]| Some(s.to_vec());
        assert_eq!(
            got,
            [
                (1, line(b"abc")),
                (2, None),
                (3, line(b"ok")),
                (4, line(b"12345678")),
                (5, line(b"")),
                (6, line(b"tail")),
            ]
        );
    }
    use std::io::Write;

    fn lines_of(path: &Path) -> Vec<Vec<u8>> {
        let mut lines = Lines::open(&Source::new(path.to_path_buf()), Progress::default()).unwrap();
        let mut out = Vec::new();
        while lines.advance().unwrap() {
            out.push(lines.line().to_vec());
        }
        out
    }

    #[test]
    fn plain_gzip_multi_member_and_bom() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("a");
        std::fs::write(&plain, b"\xEF\xBB\xBFone\ntwo\r\n\nlast").unwrap();
        assert_eq!(lines_of(&plain), [&b"one"[..], b"two\r", b"", b"last"]);

        let gz = dir.path().join("b");
        let mut data = Vec::new();
        for part in [&b"one\ntw"[..], b"o\nthree\n"] {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(part).unwrap();
            data.extend(enc.finish().unwrap());
        }
        std::fs::write(&gz, data).unwrap();
        assert_eq!(lines_of(&gz), [&b"one"[..], b"two", b"three"]);

        let empty = dir.path().join("c");
        std::fs::write(&empty, b"").unwrap();
        assert!(lines_of(&empty).is_empty());
        assert!(lines_of(Path::new("/dev/null")).is_empty());
    }

    #[test]
    fn content_head_is_the_same_plain_and_compressed() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"first line\nsecond line\n";
        let plain = dir.path().join("plain");
        let gz = dir.path().join("gz");
        std::fs::write(&plain, text).unwrap();
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, text).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        for path in [&plain, &gz] {
            let file = File::open(path).unwrap();
            assert_eq!(content_head(&file, 10).unwrap(), b"first line");
            assert_eq!(content_head(&file, 1000).unwrap(), text);
        }
        std::fs::write(&plain, b"").unwrap();
        assert!(
            content_head(&File::open(&plain).unwrap(), 10)
                .unwrap()
                .is_empty()
        );
        std::fs::write(&gz, b"\x1f\x8bnot gzip").unwrap();
        assert!(content_head(&File::open(&gz).unwrap(), 10).is_err());
    }

    #[test]
    fn rotated_set_is_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "access.log",
            "access.log.1",
            "access.log.2.gz",
            "access.log.10.gz",
            "access.log.x",
            "other.1",
        ] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let set = rotated_set(&dir.path().join("access.log")).unwrap();
        let names: Vec<_> = set
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "access.log.10.gz",
                "access.log.2.gz",
                "access.log.1",
                "access.log"
            ]
        );
    }
}
