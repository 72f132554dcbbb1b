//! `--state FILE`: how far each followed file was read, so that a restart resumes there.
//!
//! A file is recorded by what survives a rename (device and inode), what tells a reused inode
//! from the file that had it and finds it again once copied or compressed (its content
//! fingerprint: a CRC-32 of its first bytes, a whole line at least, see [`identifies`]), and
//! what tells a file rewritten in place (a CRC-32 of the bytes just before the offset). A file
//! that has no fingerprint yet (empty, or its first line incomplete, at the save) is matched by
//! nothing but its device and inode; its place among the generations is kept instead, by the
//! fingerprint of the newest generation beside it ([`Before`]), so that a restart reads whole
//! the generations rotated after that one and no other (an empty head once matched every
//! compressed generation, and the oldest was replayed whole). The offset is always the end of a
//! complete line that was handed to the output, and the state is written only after that output
//! was flushed: after a crash, nothing is lost and at most the last batch comes out again.
//!
//! The file is replaced atomically (temporary file, fsync, rename, fsync of the directory),
//! created 0600 with `O_EXCL | O_NOFOLLOW`, so it can neither be seen half written nor be turned
//! into a write through a planted symlink. Only files still being read are written, so entries
//! for files that are gone are pruned at the next save. A temporary file left by an interrupted
//! save is reported and ignored (the state file is the last good one, or there is none: a fresh
//! start); the next save replaces it.

use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::tail::{HEAD, Identity, MARK, Tailer, Tracked, identifies};
use crate::input;
use crate::messages;

/// The largest state file read: one pverec writes lists a few files, in a few KiB, and for
/// `sessions --follow` the sessions still open (each at most a few KiB).
const MAX_STATE: u64 = 16 << 20;
/// The largest offset believed: far beyond any log (2^62 bytes), yet no sum with it overflows.
const MAX_OFFSET: u64 = 1 << 62;
const VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    /// The followed path: a state file of another log is not applied.
    log: PathBuf,
    files: Vec<Entry>,
    /// The journal's cursor: the last entry read (`journalctl --after-cursor` resumes there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    journal_cursor: Option<String>,
    /// When the log's path was last seen naming the current file: taken before the look that
    /// read what `files` records, so a restart reads every file created under the path after
    /// it and rotated away unseen, however long that look took. Absent in states of earlier
    /// pverec: then the state file's modification time stands in (later than that look).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seen: Option<SystemTime>,
    /// `sessions --follow`: the sessions open at the save, so a restart still closes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sessions: Option<serde_json::Value>,
    /// follow over a cluster: how far each other node was read, by name
    /// ([`crate::source::node_live::NodePosition`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nodes: Option<serde_json::Value>,
}

/// The longest journal cursor believed (journalctl's are about 130 bytes).
const MAX_CURSOR: usize = 1024;

/// Whether a cursor from a state file is one journalctl could have written: printable ASCII
/// without spaces, not too long (it becomes one argument of journalctl, never a shell word).
fn cursor_is_plausible(cursor: &str) -> bool {
    !cursor.is_empty() && cursor.len() <= MAX_CURSOR && cursor.bytes().all(|b| b.is_ascii_graphic())
}

/// One followed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    name: String,
    dev: u64,
    ino: u64,
    /// CRC-32 of the first `head_len` bytes.
    head_len: u64,
    head_crc: u32,
    /// End of the last complete line emitted, and its number.
    offset: u64,
    line: u64,
    /// CRC-32 of the `mark_len` bytes before `offset`.
    mark_len: u64,
    mark_crc: u32,
    /// Whether the log's path named this file (else it is a rotated one still being read).
    current: bool,
    /// For a file without a fingerprint (`head_len` 0): where it stood among the generations.
    /// Absent in states of earlier versions (then such a file is matched by inode only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    before: Option<Before>,
}

/// The newest rotated generation beside the log when a file without a fingerprint was saved:
/// every generation rotated after it was written after the save.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Before {
    /// There was none.
    Nothing,
    /// That generation, by the CRC-32 of its first `head_len` (decompressed) bytes.
    Generation { head_len: u64, head_crc: u32 },
}

/// A state file that can be resumed from.
pub(crate) struct Loaded {
    pub(crate) entries: Vec<Entry>,
    /// When the log's path was last seen naming the current file, at the latest when the state
    /// was written (files rotated away after it and never opened are read too).
    pub(crate) saved: Option<SystemTime>,
    /// Where the journal was read to.
    pub(crate) journal_cursor: Option<String>,
    /// `sessions --follow`: the sessions open at the save.
    pub(crate) sessions: Option<serde_json::Value>,
    /// follow over a cluster: the other nodes' positions.
    pub(crate) nodes: Option<serde_json::Value>,
}

impl Entry {
    /// Why a number of the entry is none that pverec writes, if one is not: a state file is
    /// input like any other (a huge `head_len` once made every restart abort on allocation).
    /// Offsets are checked against the file itself when it is found again ([`resume`]).
    fn out_of_range(&self) -> Option<String> {
        let bad = |field: &str, value: u64| Some(format!("{field} {value} is out of range"));
        if self.head_len > HEAD as u64 {
            return bad("head_len", self.head_len);
        }
        if let Some(Before::Generation { head_len, .. }) = self.before {
            if head_len == 0 || head_len > HEAD as u64 {
                return bad("before.generation.head_len", head_len);
            }
        }
        if self.mark_len > MARK as u64 || self.mark_len > self.offset {
            return bad("mark_len", self.mark_len);
        }
        // Every line counted ends with a newline before the offset.
        if self.line > self.offset {
            return bad("line", self.line);
        }
        if self.offset > MAX_OFFSET {
            return bad("offset", self.offset);
        }
        None
    }
}

/// What a save wrote: files, journal cursor, sessions, other nodes.
type Saved = (
    Vec<Entry>,
    Option<String>,
    Option<serde_json::Value>,
    Option<serde_json::Value>,
);

pub(crate) struct Checkpoint {
    path: PathBuf,
    log: PathBuf,
    /// What was saved last, so that an unchanged state is not written again (the first save
    /// always writes: it is also the check that the state can be written).
    saved: Option<Saved>,
    /// The journal's cursor to save with the files.
    journal_cursor: Option<String>,
    /// The open sessions to save with the files.
    sessions: Option<serde_json::Value>,
    /// The other nodes' positions to save with the files.
    nodes: Option<serde_json::Value>,
    /// A failed save is reported once, until a save works again.
    failing: bool,
}

impl Checkpoint {
    /// Reads the state file; the entries are `None` when there is none or it cannot be used
    /// (reported: pverec then starts as without a state), with the time the state was saved.
    pub(crate) fn load(path: &Path, log: &Path) -> (Checkpoint, Option<Loaded>) {
        let checkpoint = Checkpoint {
            path: path.to_path_buf(),
            log: log.to_path_buf(),
            saved: None,
            journal_cursor: None,
            sessions: None,
            nodes: None,
            failing: false,
        };
        // A save that was cut short (crash, kill -9, power loss) leaves its temporary file; the
        // state itself is then the last good one (or none). The next save replaces it.
        let tmp = tmp_path(path);
        if fs::symlink_metadata(&tmp).is_ok() {
            messages::message(&format!(
                "{}: left over from an interrupted save; ignored, and replaced at the next save",
                tmp.display()
            ));
        }
        let refuse = |why: &dyn std::fmt::Display| {
            messages::message(&format!("{}: {why}; starting afresh", path.display()));
        };
        let (text, saved) = match read_state(path) {
            Ok(Some(read)) => read,
            Ok(None) => return (checkpoint, None),
            Err(why) => {
                refuse(&why);
                return (checkpoint, None);
            }
        };
        let state: StateFile = match serde_json::from_slice(&text) {
            Ok(state) => state,
            Err(e) => {
                refuse(&format_args!("not a pverec state file ({e})"));
                return (checkpoint, None);
            }
        };
        if state.version != VERSION || state.log != log {
            refuse(&format_args!(
                "state of another log ({}) or version",
                state.log.display()
            ));
            return (checkpoint, None);
        }
        if let Some(why) = state.files.iter().find_map(Entry::out_of_range) {
            refuse(&format_args!("not a state pverec wrote ({why})"));
            return (checkpoint, None);
        }
        let journal_cursor = match state.journal_cursor {
            Some(cursor) if !cursor_is_plausible(&cursor) => {
                messages::message(&format!(
                    "{}: the journal cursor is not one journalctl writes; the journal is read from now",
                    path.display()
                ));
                None
            }
            cursor => cursor,
        };
        // The earlier of the two: a time recorded past the write itself is none pverec wrote.
        let saved = state.seen.into_iter().chain(saved).min();
        let loaded = Loaded {
            entries: state.files,
            saved,
            journal_cursor,
            sessions: state.sessions,
            nodes: state.nodes,
        };
        (checkpoint, Some(loaded))
    }

    /// The state file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Records how far the tailer has read. Call only after the output is flushed.
    pub(crate) fn save(&mut self, tailer: &Tailer) -> io::Result<()> {
        let current = tailer.current.as_ref().map(|t| t.id);
        let entries: Vec<Entry> = tailer
            .files()
            .filter_map(|t| entry(t, Some(t.id) == current, &self.log).ok())
            .collect();
        if self
            .saved
            .as_ref()
            .is_some_and(|(files, cursor, sessions, nodes)| {
                *files == entries
                    && *cursor == self.journal_cursor
                    && *sessions == self.sessions
                    && *nodes == self.nodes
            })
        {
            return Ok(());
        }
        let state = StateFile {
            version: VERSION,
            log: self.log.clone(),
            files: entries,
            journal_cursor: self.journal_cursor.clone(),
            seen: Some(tailer.last_seen()),
            sessions: self.sessions.clone(),
            nodes: self.nodes.clone(),
        };
        let mut text = serde_json::to_vec_pretty(&state).map_err(io::Error::other)?;
        text.push(b'\n');
        write_atomically(&self.path, &text)?;
        self.saved = Some((
            state.files,
            state.journal_cursor,
            state.sessions,
            state.nodes,
        ));
        Ok(())
    }

    /// The journal's cursor for the next save (the last entry read and shown or joined).
    pub(crate) fn set_journal_cursor(&mut self, cursor: Option<&str>) {
        if let Some(cursor) = cursor {
            self.journal_cursor = Some(cursor.to_string());
        }
    }

    /// The open sessions for the next save (`sessions --follow`).
    pub(crate) fn set_sessions(&mut self, sessions: Option<serde_json::Value>) {
        self.sessions = sessions;
    }

    /// The other nodes' positions for the next save (follow over a cluster).
    pub(crate) fn set_nodes(&mut self, nodes: Option<serde_json::Value>) {
        self.nodes = nodes;
    }

    /// Saves, reporting a failure once instead of stopping the run.
    pub(crate) fn save_or_report(&mut self, tailer: &Tailer) {
        match self.save(tailer) {
            Ok(()) => self.failing = false,
            Err(e) => {
                if !self.failing {
                    messages::message(&format!(
                        "{}: cannot save the state: {e}",
                        self.path.display()
                    ));
                }
                self.failing = true;
            }
        }
    }
}

/// Creates the missing directories of the state file `path`, mode 0700 (the state says which
/// logs are read and how far), so that `--state /var/lib/pverec/state` works on a node where
/// /var/lib/pverec does not exist yet.
pub(crate) fn make_dir(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = input::directory(path);
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

fn entry(t: &Tracked, current: bool, log: &Path) -> io::Result<Entry> {
    let mut head = input::content_head(&t.file, HEAD)?;
    let before = if identifies(&head) {
        None
    } else {
        head.clear();
        newest_generation(log, t.id)
    };
    let mark = t.bytes_before(t.offset)?;
    Ok(Entry {
        name: t.name.clone(),
        dev: t.id.dev,
        ino: t.id.ino,
        head_len: head.len() as u64,
        head_crc: crc(&head),
        offset: t.offset,
        line: t.line,
        mark_len: mark.len() as u64,
        mark_crc: crc(&mark),
        current,
        before,
    })
}

/// The newest generation beside `log` that has a fingerprint, other than the file `own`
/// ([`Before`]); `None` if the generations cannot be listed.
fn newest_generation(log: &Path, own: Identity) -> Option<Before> {
    let mut set = input::rotated_set(log).ok()?;
    set.pop(); // the log itself
    for path in set.iter().rev() {
        let Ok(file) = input::open_regular(path) else {
            continue;
        };
        if file.metadata().is_ok_and(|m| Identity::of(&m) == own) {
            continue;
        }
        let Ok(head) = input::content_head(&file, HEAD) else {
            continue;
        };
        if identifies(&head) {
            return Some(Before::Generation {
                head_len: head.len() as u64,
                head_crc: crc(&head),
            });
        }
    }
    Some(Before::Nothing)
}

fn crc(bytes: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    crc.sum()
}

/// The bytes of a state file, and when it was written.
type StateText = (Vec<u8>, Option<SystemTime>);

/// Reads the state file, if there is one, and when it was written. The state decides which
/// lines are skipped at a restart, so only a file this user wrote is believed: opened
/// `O_NOFOLLOW | O_NONBLOCK` (a symlink is refused, a FIFO cannot block the open), then, on what
/// was opened, a regular file owned by the effective user, not writable by group or others, and
/// at most [`MAX_STATE`] bytes. Otherwise the reason, for a warning and a fresh start.
fn read_state(path: &Path) -> Result<Option<StateText>, String> {
    let opened = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path);
    let file = match opened {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err("a symbolic link, not a regular file".to_owned());
        }
        Err(e) => return Err(format!("cannot read the state ({e})")),
    };
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read the state ({e})"))?;
    if !meta.is_file() {
        return Err(input::not_regular(meta.file_type()).to_string());
    }
    // SAFETY: geteuid(2) cannot fail and has no preconditions.
    let euid = unsafe { libc::geteuid() };
    if meta.uid() != euid {
        return Err(format!(
            "owned by uid {}, not by the user running pverec (uid {euid})",
            meta.uid()
        ));
    }
    let mode = meta.permissions().mode();
    if mode & 0o022 != 0 {
        return Err(format!(
            "writable by others than its owner (mode {:04o})",
            mode & 0o7777
        ));
    }
    if meta.len() > MAX_STATE {
        return Err(format!(
            "{} bytes, larger than a state file can be ({MAX_STATE})",
            meta.len()
        ));
    }
    let mut text = Vec::new();
    file.take(MAX_STATE + 1)
        .read_to_end(&mut text)
        .map_err(|e| format!("cannot read the state ({e})"))?;
    if text.len() as u64 > MAX_STATE {
        return Err(format!(
            "larger than a state file can be ({MAX_STATE} bytes)"
        ));
    }
    Ok(Some((text, meta.modified().ok())))
}

/// The temporary file a save writes before renaming it over `path`: `path` + `.tmp`.
fn tmp_path(path: &Path) -> PathBuf {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    PathBuf::from(tmp)
}

/// Replaces `path` with `bytes` so that readers see the old or the new state, never a mix.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = tmp_path(path);
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, path)?;
    // Makes the rename itself durable; where a directory cannot be synced (some network file
    // systems), the state is still correct, only perhaps older after a power cut.
    let dir = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NONBLOCK)
        .open(input::directory(path));
    if let Ok(dir) = dir {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Finds the files of a checkpoint again: under the log's path, or rotated beside it
/// (`access.log.1`, …). Returns the file the log's path named at the checkpoint, wherever it is
/// now (if it was rotated meanwhile, the tailer's first look treats that as a rotation, which
/// also picks up generations rotated in between), and the rotated ones to finish, oldest
/// first. A file that changed in place since is read from its start (and a copy of it, made by
/// copytruncate, is read on from the checkpoint); entries whose file is gone are looked for by
/// their content among the generations; a file that had no fingerprint at the save is matched
/// by its inode only, and the generations rotated after the one it was saved beside are read
/// whole.
pub(crate) fn resume(entries: Vec<Entry>, log: &Path) -> Resumed {
    let mut current = None;
    let mut old = Vec::new();
    let mut gone = Vec::new();
    let mut anchors = Vec::new();
    for e in entries {
        let id = Identity {
            dev: e.dev,
            ino: e.ino,
        };
        // No fingerprint (empty at the save): an empty head would match any file.
        let fingerprinted = e.head_len > 0;
        if !fingerprinted {
            anchors.push(e.clone());
        }
        let Some((path, file, at_log)) = find(log, id) else {
            if fingerprinted {
                gone.push((e, Lost::Gone));
            }
            continue;
        };
        let name = path.to_string_lossy().into_owned();
        let Ok(size) = file.metadata().map(|m| m.len()) else {
            continue;
        };
        let same_head = size >= e.head_len && {
            let mut head = vec![0; e.head_len as usize];
            file.read_exact_at(&mut head, 0).is_ok() && crc(&head) == e.head_crc
        };
        if !same_head {
            // Its inode is another file's now: the checkpointed file is gone (perhaps
            // compressed, and its inode reused by the new log: logrotate's `delaycompress`
            // frees the old `.1` just before it creates the new log), or rewritten in place.
            let why = if at_log { Lost::Replaced } else { Lost::Gone };
            gone.push((e, why));
            continue;
        }
        if e.current && !at_log {
            rotation_message(log, &name, e.line);
        }
        let same_mark = size >= e.offset && {
            let start = e.offset - e.mark_len.min(e.offset);
            let mut mark = vec![0; (e.offset - start) as usize];
            e.mark_len <= e.offset
                && file.read_exact_at(&mut mark, start).is_ok()
                && crc(&mark) == e.mark_crc
        };
        let (offset, line) = if same_mark {
            (e.offset, e.line)
        } else {
            messages::message(&format!(
                "{name}: truncated or rewritten since the checkpoint; reading it from the start"
            ));
            if fingerprinted {
                // copytruncate while stopped: the copy has what it had after the checkpoint.
                gone.push((e.clone(), Lost::Truncated));
            }
            (0, 0)
        };
        let Ok(tracked) = Tracked::new(file, name, offset, line) else {
            continue;
        };
        if e.current {
            current = Some(tracked);
        } else {
            old.push(tracked);
        }
    }
    let mut resumed = Resumed {
        current,
        old,
        replay: Vec::new(),
    };
    if !gone.is_empty() || !anchors.is_empty() {
        let found = catch_up(&gone, &anchors, log, &mut resumed);
        for ((e, why), found) in gone.iter().zip(found) {
            match (found, why) {
                (_, Lost::Truncated) => {}
                (Some(path), _) if e.current => {
                    rotation_message(log, &path.to_string_lossy(), e.line);
                }
                (Some(_), _) => {}
                (None, Lost::Replaced) if e.current => messages::message(&format!(
                    "{}: not the file of the checkpoint any more (rewritten or replaced); \
                     reading it from the start",
                    log.display()
                )),
                (None, _) => {}
            }
        }
    }
    resumed
}

/// Why a checkpointed file is looked for by its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lost {
    /// Its inode is nowhere beside the log, or is another file's (rotated) now.
    Gone,
    /// Its inode is under the log's name, with other first bytes.
    Replaced,
    /// Found, shrunk or rewritten before the offset: a copy of it may hold the rest.
    Truncated,
}

/// Says that the file the log's path named at the checkpoint has been rotated since (to `now`,
/// where it is read on after line `line`), so that the new log is read from its start.
fn rotation_message(log: &Path, now: &str, line: u64) {
    messages::message(&format!(
        "{}: resuming after a rotation: the checkpointed file is now {now}, read on after line \
         {line}; the new log is read from its start",
        log.display()
    ));
}

/// What a restart goes on with: whole generations to read first (compressed ones, and the
/// remainder of a checkpointed file that was compressed meanwhile), then the files to follow.
pub(crate) struct Resumed {
    /// Read first, in this order: a file and how many of its lines were already converted.
    pub(crate) replay: Vec<(PathBuf, u64)>,
    /// Rotated files to finish, oldest first.
    pub(crate) old: Vec<Tracked>,
    /// The file the log's path named at the checkpoint, wherever it is now.
    pub(crate) current: Option<Tracked>,
}

/// Checkpointed files that are gone under their inode were compressed by logrotate while pverec
/// was stopped (`access.log.1` -> `access.log.2.gz`), or copied away (copytruncate): they are
/// found again by their content fingerprint (the CRC of their decompressed first bytes, in a
/// file that is not theirs), and read on from the checkpointed line; every generation rotated
/// after the newest of them, or after the generation a file without fingerprint was saved
/// beside (`anchors`), was never read and is read whole (the plain `access.log.1` as a rotated
/// file, since old pveproxy workers may still write to it). A file found nowhere is reported:
/// what it got after the checkpoint is lost.
///
/// Returns, for each entry of `gone`, the generation it was found in.
fn catch_up(
    gone: &[(Entry, Lost)],
    anchors: &[Entry],
    log: &Path,
    resumed: &mut Resumed,
) -> Vec<Option<PathBuf>> {
    let mut where_found = vec![None; gone.len()];
    let Ok(set) = input::rotated_set(log) else {
        return where_found;
    };
    // The log itself (last in the set) is followed anyway.
    let generations = &set[..set.len().saturating_sub(1)];
    let heads: Vec<Option<Generation>> = generations.iter().map(|p| Generation::open(p)).collect();
    // Every generation from this index on is read whole.
    let mut from = None;
    for ((e, why), where_found) in gone.iter().zip(&mut where_found) {
        let own = Identity {
            dev: e.dev,
            ino: e.ino,
        };
        let found = heads.iter().position(|g| {
            g.as_ref().is_some_and(|g| {
                g.id != own && g.starts_with(e.head_len, e.head_crc) && g.holds_mark(e)
            })
        });
        match found {
            Some(i) => {
                resumed.replay.push((generations[i].clone(), e.line));
                from = from.max(Some(i + 1));
                *where_found = Some(generations[i].clone());
            }
            None if *why == Lost::Truncated => {}
            None => messages::message(&format!(
                "{}: gone since the checkpoint (compressed or deleted, and not found among its \
                 rotated generations); lines logged to it after line {} are not read",
                e.name, e.line
            )),
        }
    }
    for e in anchors {
        match &e.before {
            Some(Before::Nothing) => from = from.max(Some(0)),
            Some(Before::Generation { head_len, head_crc }) => {
                let found = heads.iter().position(|g| {
                    g.as_ref()
                        .is_some_and(|g| g.starts_with(*head_len, *head_crc))
                });
                match found {
                    Some(i) => from = from.max(Some(i + 1)),
                    None => messages::message(&format!(
                        "{}: the generation it was saved beside is gone, so the generations \
                         rotated since the checkpoint cannot be told; lines logged to them are \
                         not read",
                        e.name
                    )),
                }
            }
            // A state of an earlier version: the file is matched by its inode only.
            None => {}
        }
    }
    let Some(from) = from else {
        return where_found;
    };
    let followed: Vec<Identity> = resumed
        .old
        .iter()
        .chain(resumed.current.iter())
        .map(|t| t.id)
        .collect();
    let replayed: Vec<PathBuf> = resumed.replay.iter().map(|(p, _)| p.clone()).collect();
    let mut unread = Vec::new();
    for (path, generation) in generations.iter().zip(heads).skip(from) {
        let Some(generation) = generation else {
            continue;
        };
        if followed.contains(&generation.id) || replayed.contains(path) {
            continue;
        }
        if generation.gzip {
            resumed.replay.push((path.clone(), 0));
        } else if let Ok(tracked) =
            Tracked::new(generation.file, path.to_string_lossy().into_owned(), 0, 0)
        {
            unread.push(tracked);
        }
    }
    // Older than the files found under their inode (rotated before them, or not read yet).
    unread.append(&mut resumed.old);
    resumed.old = unread;
    where_found
}

/// A rotated generation as a restart sees it: what it is and what it holds first.
struct Generation {
    file: File,
    id: Identity,
    gzip: bool,
    /// Its first [`HEAD`] bytes, decompressed.
    head: Vec<u8>,
}

impl Generation {
    /// `None` when it is not a regular file or cannot be read.
    fn open(path: &Path) -> Option<Generation> {
        let file = input::open_regular(path).ok()?;
        let id = Identity::of(&file.metadata().ok()?);
        let mut magic = [0u8; 2];
        let gzip = file.read_exact_at(&mut magic, 0).is_ok() && magic == [0x1f, 0x8b];
        let head = input::content_head(&file, HEAD).ok()?;
        Some(Generation {
            file,
            id,
            gzip,
            head,
        })
    }

    /// Whether its first `len` bytes have the CRC `crc_of` (never for an empty head).
    fn starts_with(&self, len: u64, crc_of: u32) -> bool {
        len > 0
            && usize::try_from(len)
                .is_ok_and(|len| self.head.len() >= len && crc(&self.head[..len]) == crc_of)
    }

    /// Whether, for a plain file, the bytes before the entry's offset are the entry's: a copy
    /// of the checkpointed file as it was read. (A compressed one is taken on its head.)
    fn holds_mark(&self, e: &Entry) -> bool {
        if self.gzip {
            return true;
        }
        let start = e.offset - e.mark_len.min(e.offset);
        let mut mark = vec![0; (e.offset - start) as usize];
        self.file.read_exact_at(&mut mark, start).is_ok() && crc(&mark) == e.mark_crc
    }
}

/// Opens the file `id` where it is now: under the log's name (`true`) or rotated beside it. A
/// rotation running meanwhile can move another file under the name just found, so what was
/// opened is checked, and the search is made again if it is not the file.
fn find(log: &Path, id: Identity) -> Option<(PathBuf, File, bool)> {
    for _ in 0..5 {
        let at_log = fs::metadata(log).is_ok_and(|m| Identity::of(&m) == id);
        let path = if at_log {
            log.to_path_buf()
        } else {
            siblings(log)
                .into_iter()
                .find(|(_, sibling)| *sibling == id)
                .map(|(p, _)| p)?
        };
        if let Ok(file) = input::open_regular(&path) {
            if file.metadata().is_ok_and(|m| Identity::of(&m) == id) {
                return Some((path, file, at_log));
            }
        }
    }
    None
}

/// The rotated generations beside the log (`access.log.1`, `access.log.2.gz`, …) that are
/// regular files, with their identities.
fn siblings(log: &Path) -> Vec<(PathBuf, Identity)> {
    let mut set = input::rotated_set(log).unwrap_or_default();
    set.pop(); // the log itself
    set.into_iter()
        .filter_map(|path| {
            let meta = fs::symlink_metadata(&path).ok()?;
            meta.is_file().then(|| (path, Identity::of(&meta)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn state_is_written_private_and_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        write_atomically(&state, b"{}").unwrap();
        write_atomically(&state, b"{\"x\":1}").unwrap();
        assert_eq!(fs::read(&state).unwrap(), b"{\"x\":1}");
        let mode = fs::metadata(&state).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!dir.path().join("state.tmp").exists());
    }

    #[test]
    fn a_planted_tmp_symlink_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let victim = dir.path().join("victim");
        fs::write(&victim, b"keep").unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join("state.tmp")).unwrap();
        write_atomically(&state, b"{}").unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"keep");
    }

    /// An entry for a file that is gone, saved with `head_len` 0 and `before`.
    fn empty_entry(before: Option<Before>) -> Entry {
        Entry {
            name: "access.log".into(),
            dev: u64::MAX,
            ino: u64::MAX,
            head_len: 0,
            head_crc: crc(b""),
            offset: 0,
            line: 0,
            mark_len: 0,
            mark_crc: crc(b""),
            current: true,
            before,
        }
    }

    /// A log with generations `.3.gz`, `.2.gz` (old) and `.1` (newer).
    fn generations(dir: &Path) -> PathBuf {
        let log = dir.join("access.log");
        let gz = |text: &[u8]| {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(text).unwrap();
            enc.finish().unwrap()
        };
        fs::write(dir.join("access.log.3.gz"), gz(b"three\n")).unwrap();
        fs::write(dir.join("access.log.2.gz"), gz(b"two\n")).unwrap();
        fs::write(dir.join("access.log.1"), b"one\n").unwrap();
        fs::write(&log, b"").unwrap();
        log
    }

    #[test]
    fn an_empty_head_matches_no_generation() {
        let dir = tempfile::tempdir().unwrap();
        let log = generations(dir.path());
        let resumed = resume(vec![empty_entry(None)], &log);
        assert!(resumed.replay.is_empty(), "{:?}", resumed.replay);
        assert!(resumed.old.is_empty() && resumed.current.is_none());
    }

    #[test]
    fn generations_after_the_one_saved_beside_are_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let log = generations(dir.path());
        let two = Before::Generation {
            head_len: 4,
            head_crc: crc(b"two\n"),
        };
        let resumed = resume(vec![empty_entry(Some(two))], &log);
        assert!(resumed.replay.is_empty(), "{:?}", resumed.replay);
        let old: Vec<&str> = resumed.old.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(old, [dir.path().join("access.log.1").to_str().unwrap()]);

        let resumed = resume(vec![empty_entry(Some(Before::Nothing))], &log);
        let replay: Vec<(PathBuf, u64)> = ["access.log.3.gz", "access.log.2.gz"]
            .iter()
            .map(|g| (dir.path().join(g), 0))
            .collect();
        assert_eq!(resumed.replay, replay);
        assert_eq!(resumed.old.len(), 1);
    }

    #[test]
    fn a_file_without_a_fingerprint_is_saved_with_its_place() {
        let dir = tempfile::tempdir().unwrap();
        let log = generations(dir.path());
        for (text, fingerprinted) in [(&b""[..], false), (b"::ffff:19", false), (b"a\n", true)] {
            fs::write(&log, text).unwrap();
            let t = Tracked::new(File::open(&log).unwrap(), "access.log".into(), 0, 0).unwrap();
            let e = entry(&t, true, &log).unwrap();
            if fingerprinted {
                assert_eq!((e.head_len, e.before), (text.len() as u64, None));
            } else {
                let one = Before::Generation {
                    head_len: 4,
                    head_crc: crc(b"one\n"),
                };
                assert_eq!((e.head_len, e.before), (0, Some(one)));
            }
        }
        let mut bad = empty_entry(Some(Before::Generation {
            head_len: 0,
            head_crc: 0,
        }));
        assert!(bad.out_of_range().is_some());
        bad.before = Some(Before::Generation {
            head_len: HEAD as u64 + 1,
            head_crc: 0,
        });
        assert!(bad.out_of_range().is_some());
    }

    #[test]
    fn garbage_gives_a_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        for garbage in [&b""[..], b"{", b"\0\0\0", b"{\"version\":1}", b"[]"] {
            fs::write(&state, garbage).unwrap();
            let (_, entries) = Checkpoint::load(&state, Path::new("/x/access.log"));
            assert!(entries.is_none());
        }
    }

    /// The state records when the path was last seen, not only when it was written: a restart
    /// after a long look reads the generations rotated away during it. A state without it (an
    /// earlier pverec) falls back on its modification time, one claiming a later time too.
    #[test]
    fn the_time_the_log_was_seen_is_saved() {
        use std::time::{Duration, SystemTime};
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let log = dir.path().join("access.log");
        let seen = SystemTime::now() - Duration::from_secs(3600);
        let mut tailer = Tailer::new(&log, super::super::tail::Start::End, Duration::ZERO);
        tailer.resume(None, Vec::new(), Some(seen));
        let (mut cp, _) = Checkpoint::load(&state, &log);
        cp.save(&tailer).unwrap();
        let (_, loaded) = Checkpoint::load(&state, &log);
        assert_eq!(loaded.and_then(|l| l.saved), Some(seen));

        let written = || fs::metadata(&state).unwrap().modified().ok();
        let text = format!(r#"{{"version":1,"log":{:?},"files":[]}}"#, log);
        write_atomically(&state, text.as_bytes()).unwrap();
        let (_, loaded) = Checkpoint::load(&state, &log);
        assert_eq!(loaded.and_then(|l| l.saved), written());

        let later = r#""seen":{"secs_since_epoch":4000000000,"nanos_since_epoch":0}"#;
        let text = format!(r#"{{"version":1,"log":{:?},"files":[],{later}}}"#, log);
        write_atomically(&state, text.as_bytes()).unwrap();
        let (_, loaded) = Checkpoint::load(&state, &log);
        assert_eq!(loaded.and_then(|l| l.saved), written());

        let huge =
            r#""seen":{"secs_since_epoch":18446744073709551615,"nanos_since_epoch":4294967295}"#;
        let text = format!(r#"{{"version":1,"log":{:?},"files":[],{huge}}}"#, log);
        write_atomically(&state, text.as_bytes()).unwrap();
        let (_, loaded) = Checkpoint::load(&state, &log);
        assert!(
            loaded.is_none(),
            "an impossible time is refused, without a panic"
        );
    }
}
