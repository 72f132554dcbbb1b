//! Wake-ups for the tailer: inotify when it works, a fixed poll interval when it does not.
//!
//! An event only means "look again"; the tailer finds out what changed by itself. So the events
//! are read and dropped, an overflowed queue costs nothing but a look, and polling is the same
//! code with a timer. With inotify and nothing happening, pverec sleeps in `poll(2)` without a
//! timeout: no wake-ups at all, except to let go of a rotated file after `--rotate-wait`.
//!
//! Watched: the log's directory (names created, moved, deleted, attributes of the files in it,
//! and their writes only while an open file has no watch of its own) and every open file through
//! `/proc/self/fd/N`, which is the open file itself whatever its name is now (a rotated log moved
//! elsewhere, a symlink's target in another directory). So an append queues one event, and
//! appends in a row queue one in all: the kernel merges an event with the same one queued just
//! before it. The directory watch is re-added when the directory is recreated; while it is
//! missing, pverec polls.
//!
//! The recorder spool is shared with every other client of the recorder, and www-data writes it:
//! its directory is watched for names only (created, moved, deleted: no writes), and an event
//! about a name that is not ours (`P.events`, `P.req`) wakes nothing; our events file is watched
//! as a file once it is open. So a burst of writes to other files there, however long, costs no
//! look at all, and one of creations or renames costs wake-ups that end in the wait, not looks.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};

use super::tail::{Identity, Tracked};
use crate::input;
use crate::messages;

/// How often files are looked at when polling.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Why the wait ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Something may have changed (an event, a poll tick or a deadline).
    Look,
    /// A signal arrived.
    Signal,
}

struct Watching {
    inotify: Inotify,
    dir: Option<(Identity, WatchDescriptor)>,
    /// Whether the directory watch reports writes too: only while an open file has no watch of
    /// its own. Otherwise each append would queue two events (directory and file) that the
    /// kernel cannot merge, and could wake pverec twice.
    dir_writes: bool,
    files: HashMap<Identity, WatchDescriptor>,
    /// The spool directory's watch and the names in it that concern us.
    spool: Option<(WatchDescriptor, Vec<OsString>)>,
    /// The open events file of the spool, watched as a file.
    spool_file: Option<(Identity, WatchDescriptor)>,
    /// The watches of the other directories ([`Waker::watch_other`]): when the spool directory
    /// is one of them (or the log's), its watch is theirs too and every name in it counts.
    others: Vec<WatchDescriptor>,
    buffer: Vec<u8>,
}

pub(crate) struct Waker {
    watching: Option<Watching>,
    /// Polling only until the directory watch is back.
    dir_missing: bool,
    /// Polling because another directory (tasks, spool) could not be watched.
    others_unwatched: bool,
    signals: UnixStream,
    /// Another descriptor whose input is worth a look (journalctl's output).
    extra: Option<RawFd>,
    /// The other nodes' readers' wake-up pipe (follow over a cluster): drained at each wake.
    remote: Option<UnixStream>,
}

impl Waker {
    /// A waker that also wakes when a byte arrives on `signals` (the signal pipe).
    pub(crate) fn new(poll: bool, signals: UnixStream) -> Waker {
        let watching = if poll {
            None
        } else {
            match Inotify::init() {
                Ok(inotify) => Some(Watching {
                    inotify,
                    dir: None,
                    dir_writes: false,
                    files: HashMap::new(),
                    spool: None,
                    spool_file: None,
                    others: Vec::new(),
                    buffer: vec![0; 16 * 1024],
                }),
                Err(e) => {
                    polling_warning(&e);
                    None
                }
            }
        };
        Waker {
            watching,
            dir_missing: false,
            others_unwatched: false,
            signals,
            extra: None,
            remote: None,
        }
    }

    /// Also wakes when a byte arrives on `remote` (news from another node's reader).
    pub(crate) fn watch_remote(&mut self, remote: UnixStream) {
        self.remote = Some(remote);
    }

    /// Also wakes when `fd` has input (journalctl's output while it runs; `None`: nothing).
    pub(crate) fn watch_fd(&mut self, fd: Option<RawFd>) {
        self.extra = fd;
    }

    /// Also wakes when a file in `dir` is written, created or renamed into it: the task
    /// directory (`index` appended, `active` replaced) and the recorder spool (`PID.events`).
    /// Without a watch there, the wait polls.
    pub(crate) fn watch_other(&mut self, dir: &Path) {
        let Some(watching) = &mut self.watching else {
            return;
        };
        let mask = WatchMask::MODIFY | WatchMask::CREATE | WatchMask::MOVED_TO;
        match watching.inotify.watches().add(dir, mask) {
            Ok(wd) => watching.others.push(wd),
            Err(e) => {
                messages::message(&format!(
                    "{}: cannot watch ({e}); checking it every {} ms",
                    dir.display(),
                    POLL_INTERVAL.as_millis()
                ));
                self.others_unwatched = true;
            }
        }
    }

    /// Also wakes when one of `names` (ours: `P.events`, `P.req`) in the spool directory `dir`
    /// is created, renamed or removed; writes to the events file are watched with
    /// [`Waker::sync_spool`] once it is open. Changes to other names there wake nothing.
    pub(crate) fn watch_spool(&mut self, dir: &Path, names: Vec<OsString>) {
        let Some(watching) = &mut self.watching else {
            return;
        };
        let mask =
            WatchMask::CREATE | WatchMask::MOVED_TO | WatchMask::MOVED_FROM | WatchMask::DELETE;
        // IN_MASK_ADD: a directory watched already (the task directory, the log's) keeps what
        // its watch reports.
        match watching
            .inotify
            .watches()
            .add(dir, mask | WatchMask::MASK_ADD)
        {
            Ok(wd) => watching.spool = Some((wd, names)),
            Err(e) => {
                messages::message(&format!(
                    "{}: cannot watch ({e}); checking it every {} ms",
                    dir.display(),
                    POLL_INTERVAL.as_millis()
                ));
                self.others_unwatched = true;
            }
        }
    }

    /// Watches the spool's open events file (`None` before pveproxy created it); `true` when it
    /// got a new watch (it may have grown before the watch was in place). Without a watch of
    /// its own (no /proc), the wait polls.
    pub(crate) fn sync_spool(&mut self, file: Option<&File>) -> bool {
        let Some(watching) = &mut self.watching else {
            return false;
        };
        let id = file
            .and_then(|f| f.metadata().ok())
            .map(|m| Identity::of(&m));
        if watching.spool_file.as_ref().map(|(i, _)| *i) == id {
            return false;
        }
        if let Some((_, wd)) = watching.spool_file.take() {
            let _ = watching.inotify.watches().remove(wd);
        }
        let (Some(file), Some(id)) = (file, id) else {
            return false;
        };
        let proc = format!("/proc/self/fd/{}", file.as_raw_fd());
        match watching.inotify.watches().add(&proc, WatchMask::MODIFY) {
            Ok(wd) => {
                watching.spool_file = Some((id, wd));
                true
            }
            Err(_) => {
                self.others_unwatched = true;
                true
            }
        }
    }

    /// Makes the watches match the log's directory and the open files; `true` when the
    /// directory or a file got a new watch (the log may have been created, or a file may have
    /// grown, before the watch was in place).
    pub(crate) fn sync<'a>(
        &mut self,
        log: &Path,
        files: impl Iterator<Item = &'a Tracked>,
    ) -> bool {
        let Some(watching) = &mut self.watching else {
            return false;
        };
        match watching.sync(log, files, &mut self.dir_missing) {
            Ok(added) => added,
            Err(e) => {
                polling_warning(&e);
                self.watching = None;
                false
            }
        }
    }

    /// Waits until something may have changed, a signal arrives, or `deadline` passes.
    pub(crate) fn wait(&mut self, deadline: Option<Instant>) -> io::Result<Wake> {
        loop {
            if let Some(wake) = self.wait_once(deadline)? {
                return Ok(wake);
            }
        }
    }

    /// One wait; `None` when it only brought changes to names in the spool that are not ours
    /// (the wait goes on, with what is left of it until `deadline`).
    fn wait_once(&mut self, deadline: Option<Instant>) -> io::Result<Option<Wake>> {
        let polling = self.watching.is_none() || self.dir_missing || self.others_unwatched;
        let mut timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if polling {
            timeout = Some(timeout.map_or(POLL_INTERVAL, |t| t.min(POLL_INTERVAL)));
        }
        let watch = |fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // A negative descriptor is passed over by poll(2): no watch, no journal.
        let inotify = self
            .watching
            .as_ref()
            .map_or(-1, |w| w.inotify.as_fd().as_raw_fd());
        let mut all = [
            watch(self.signals.as_raw_fd()),
            watch(inotify),
            watch(self.extra.unwrap_or(-1)),
            watch(self.remote.as_ref().map_or(-1, |r| r.as_raw_fd())),
        ];
        let fds = &mut all[..];
        let millis = timeout.map_or(-1, |t| {
            // Round up, so that a deadline is never missed by a wake-up just before it.
            let ms = t.as_micros().div_ceil(1000);
            i32::try_from(ms).unwrap_or(i32::MAX)
        });
        // SAFETY: `fds` is a valid, initialised array of `fds.len()` pollfd structs that lives
        // across the call; poll(2) only writes their `revents`.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, millis) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(Some(Wake::Look))
            } else {
                Err(e)
            };
        }
        if fds[0].revents != 0 {
            let mut sink = [0u8; 64];
            let _ = (&self.signals).read(&mut sink);
            return Ok(Some(Wake::Signal));
        }
        if n > 0 && fds[3].revents != 0 {
            if let Some(remote) = &self.remote {
                let mut sink = [0u8; 256];
                while matches!((&*remote).read(&mut sink), Ok(n) if n > 0) {}
            }
            return Ok(Some(Wake::Look));
        }
        if n > 0 && fds[2].revents != 0 {
            return Ok(Some(Wake::Look));
        }
        if n > 0 && fds[1].revents != 0 {
            match self.watching.as_mut().map(Watching::drain) {
                Some(Err(e)) => {
                    polling_warning(&e);
                    self.watching = None;
                }
                Some(Ok(false)) if !polling => {
                    // Only someone else's files in the spool: not worth a look.
                    return Ok(None);
                }
                _ => {}
            }
        }
        Ok(Some(Wake::Look))
    }
}

fn polling_warning(e: &io::Error) {
    messages::message(&format!(
        "inotify is not available ({e}); checking the log every {} ms instead",
        POLL_INTERVAL.as_millis()
    ));
}

impl Watching {
    fn sync<'a>(
        &mut self,
        log: &Path,
        files: impl Iterator<Item = &'a Tracked>,
        dir_missing: &mut bool,
    ) -> io::Result<bool> {
        let mut added = false;
        let dir = input::directory(log);
        match std::fs::metadata(dir) {
            Ok(meta) => {
                let id = Identity::of(&meta);
                if self.dir.as_ref().map(|(d, _)| *d) != Some(id) {
                    let mask = dir_mask(self.dir_writes);
                    if let Some((_, old)) = self.dir.take() {
                        let _ = self.inotify.watches().remove(old);
                    }
                    match self.inotify.watches().add(dir, mask) {
                        Ok(wd) => {
                            self.dir = Some((id, wd));
                            *dir_missing = false;
                            // The log may have been created in it before the watch was there.
                            added = true;
                        }
                        Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => return Err(e),
                        Err(_) => *dir_missing = true,
                    }
                }
            }
            Err(_) => {
                self.dir = None;
                *dir_missing = true;
            }
        }
        let mut wanted: HashSet<Identity> = HashSet::new();
        let mut unwatched = false;
        for file in files {
            wanted.insert(file.id);
            if self.files.contains_key(&file.id) {
                continue;
            }
            let mask = WatchMask::MODIFY
                | WatchMask::ATTRIB
                | WatchMask::DELETE_SELF
                | WatchMask::MOVE_SELF;
            let proc = format!("/proc/self/fd/{}", file.file.as_raw_fd());
            match self.inotify.watches().add(&proc, mask) {
                Ok(wd) => {
                    self.files.insert(file.id, wd);
                    added = true;
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => return Err(e),
                // Without /proc the directory watch reports the writes of files that stay in it.
                Err(_) => unwatched = true,
            }
        }
        if unwatched != self.dir_writes {
            if let Some((id, _)) = self.dir {
                // On the directory already watched, this replaces the mask.
                match self.inotify.watches().add(dir, dir_mask(unwatched)) {
                    Ok(wd) => {
                        self.dir = Some((id, wd));
                        self.dir_writes = unwatched;
                    }
                    Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => return Err(e),
                    Err(_) => *dir_missing = true,
                }
            } else {
                self.dir_writes = unwatched;
            }
        }
        let gone: Vec<Identity> = self
            .files
            .keys()
            .filter(|id| !wanted.contains(id))
            .copied()
            .collect();
        for id in gone {
            if let Some(wd) = self.files.remove(&id) {
                // Already gone when the file was deleted and closed; that is fine.
                let _ = self.inotify.watches().remove(wd);
            }
        }
        Ok(added)
    }

    /// Reads and drops the pending events; a dead directory watch is forgotten so that the next
    /// sync re-adds it. `Ok(true)` when one of them may matter: anything but a change to a name
    /// in the spool directory that is not ours.
    fn drain(&mut self) -> io::Result<bool> {
        let mut relevant = false;
        loop {
            let events = match self.inotify.read_events(&mut self.buffer) {
                Ok(events) => events,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(relevant),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Anything else would leave the descriptor readable and the wait spinning.
                Err(e) => return Err(e),
            };
            let mut any = false;
            for event in events {
                any = true;
                let shared = |wd: &WatchDescriptor| {
                    self.others.contains(wd) || self.dir.as_ref().is_some_and(|(_, d)| d == wd)
                };
                let someone_elses = self.spool.as_ref().is_some_and(|(wd, names)| {
                    *wd == event.wd
                        && !shared(wd)
                        && !event.mask.contains(EventMask::Q_OVERFLOW)
                        && !event.mask.contains(EventMask::IGNORED)
                        && event
                            .name
                            .is_some_and(|n| !names.iter().any(|ours| ours == n))
                });
                relevant |= !someone_elses;
                if event.mask.contains(EventMask::Q_OVERFLOW) {
                    messages::message(
                        "inotify event queue overflowed; looking at every file again",
                    );
                }
                if event.mask.contains(EventMask::IGNORED)
                    && self.dir.as_ref().is_some_and(|(_, wd)| *wd == event.wd)
                {
                    self.dir = None;
                }
            }
            if !any {
                return Ok(relevant);
            }
        }
    }
}

/// What the directory watch reports: names created, moved or deleted, attributes, the directory
/// itself going away, and with `writes` the writes to the files in it.
fn dir_mask(writes: bool) -> WatchMask {
    let mask = WatchMask::CREATE
        | WatchMask::MOVED_TO
        | WatchMask::MOVED_FROM
        | WatchMask::DELETE
        | WatchMask::ATTRIB
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF;
    if writes {
        mask | WatchMask::MODIFY
    } else {
        mask
    }
}
