//! Standard output, buffered the way a log tool should be: whole blocks when piped into jq or a
//! file (fast), line by line on a terminal (so a person sees each command as it is found).
//! Renderers append to one reusable buffer; `commit` decides when it goes out.
//!
//! `follow -n N` keeps only the last N records of the history it reads before going live, like
//! `tail -n`: while [`Output::keep_last`] is on, each committed record goes to a ring instead.
//!
//! `follow` must stop on SIGINT, SIGTERM and SIGHUP even when nobody reads its output (a pager
//! that stopped reading, a stuck pipe): a plain `write(2)` on a full pipe sleeps until the
//! reader reads, and with `SA_RESTART` a signal does not end that sleep. So in follow the
//! output is written by [`Output::interruptible`]'s rule: wait in `poll(2)` for standard output
//! to take more or for the signal pipe, then write at most `PIPE_BUF` bytes, which a pipe that
//! polls writable takes without sleeping. Once a stop was asked for, a standard output that
//! takes nothing for [`STOP_GRACE`] is given up: the write fails with [`Stopped`], and follow
//! exits without saving a state past what was written. Standard error is written the same way
//! once [`stderr_interruptible`] was called ([`write_stderr`], used by every message): `2>&1 |
//! less` blocks both.

use std::collections::VecDeque;
use std::io::{self, IsTerminal, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Flush at this size when block-buffered.
const BLOCK: usize = 64 * 1024;

/// After a stop signal, how long a standard output that takes nothing is waited for.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(1);

/// The most written at once in [`Output::interruptible`] mode: what a pipe that polls writable
/// takes whole, without sleeping (Linux: a free page in its ring).
const PIPE_CHUNK: usize = libc::PIPE_BUF;

/// The error of a write given up because a stop signal came while standard output took nothing.
#[derive(Debug)]
pub(crate) struct Stopped;

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stopped by a signal while standard output was blocked")
    }
}

impl std::error::Error for Stopped {}

/// Whether `err` (or one of its causes) is [`Stopped`].
pub(crate) fn is_stopped(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause.is::<Stopped>()
            || cause
                .downcast_ref::<io::Error>()
                .and_then(|e| e.get_ref())
                .is_some_and(|inner| inner.is::<Stopped>())
    })
}

/// What makes writes interruptible: the flag the signal handlers set and the read end of the
/// signal pipe they write to.
struct Interrupt {
    signal: Arc<AtomicUsize>,
    pipe: OwnedFd,
}

/// How standard error is written once [`stderr_interruptible`] was called.
static STDERR: OnceLock<Interrupt> = OnceLock::new();
/// A message was given up after a stop signal: the ones after it are not waited for either.
static STDERR_GAVE_UP: AtomicBool = AtomicBool::new(false);

/// From now on, [`write_stderr`] waits in `poll(2)` like [`Output::interruptible`]'s writes,
/// and gives a message up once a stop was asked for and standard error takes nothing.
pub(crate) fn stderr_interruptible(signal: Arc<AtomicUsize>, pipe: OwnedFd) {
    let _ = STDERR.set(Interrupt { signal, pipe });
}

/// Writes `bytes` to standard error (whole, or given up as [`stderr_interruptible`] says).
pub(crate) fn write_stderr(bytes: &[u8]) -> io::Result<()> {
    match STDERR.get() {
        None => io::stderr().lock().write_all(bytes),
        Some(_) if STDERR_GAVE_UP.load(Ordering::Relaxed) => {
            Err(io::Error::new(io::ErrorKind::Interrupted, Stopped))
        }
        Some(interrupt) => {
            let err = io::stderr().lock();
            let written = interrupt.write_all(libc::STDERR_FILENO, bytes);
            drop(err);
            written.map(drop).map_err(|(_, e)| {
                if e.get_ref().is_some_and(|inner| inner.is::<Stopped>()) {
                    STDERR_GAVE_UP.store(true, Ordering::Relaxed);
                }
                e
            })
        }
    }
}

pub(crate) struct Output {
    stdout: io::Stdout,
    buf: Vec<u8>,
    line_buffered: bool,
    /// `follow -n N`: the last records committed, at most N, held until [`Output::release`].
    kept: Option<(usize, VecDeque<Vec<u8>>)>,
    interrupt: Option<Interrupt>,
    /// `--to journal|syslog…`: the records go there, line by line, instead of to stdout.
    queue: Option<super::Queue>,
}

impl Output {
    pub(crate) fn stdout() -> Output {
        let stdout = io::stdout();
        let line_buffered = stdout.is_terminal();
        Output {
            stdout,
            buf: Vec::with_capacity(BLOCK + 4096),
            line_buffered,
            kept: None,
            interrupt: None,
            queue: None,
        }
    }

    /// From now on, each committed line is a record for `queue`'s sink, not for stdout.
    pub(crate) fn send_to(&mut self, queue: super::Queue) {
        self.queue = Some(queue);
        self.line_buffered = true;
    }

    /// Whether every record committed was taken by its sink (always, for stdout once flushed):
    /// follow saves `--state` only then.
    pub(crate) fn delivered(&self) -> bool {
        self.queue.as_ref().is_none_or(super::Queue::is_empty)
    }

    /// When a sink that holds records should be tried again.
    pub(crate) fn retry_at(&self) -> Option<std::time::Instant> {
        self.queue.as_ref().and_then(super::Queue::retry_at)
    }

    /// At the end: one more try, then what a sink dropped or never took is said.
    pub(crate) fn finish_sink(&mut self) {
        if let Some(queue) = &mut self.queue {
            let _ = queue.pump();
            queue.finish();
        }
    }

    /// From now on, writes wait in `poll(2)` on standard output and on `pipe` (the signal pipe,
    /// which is only watched, never read), and are given up once `signal` is set and standard
    /// output has taken nothing for [`STOP_GRACE`] (see the module docs).
    pub(crate) fn interruptible(&mut self, signal: Arc<AtomicUsize>, pipe: OwnedFd) {
        self.interrupt = Some(Interrupt { signal, pipe });
    }

    /// From now on, keeps only the last `n` records committed, until [`Output::release`].
    /// What was committed before is written out first.
    pub(crate) fn keep_last(&mut self, n: usize) -> io::Result<()> {
        self.flush()?;
        self.kept = Some((n, VecDeque::with_capacity(n.min(4096))));
        Ok(())
    }

    /// Ends [`Output::keep_last`]: the records kept are committed, oldest first.
    pub(crate) fn release(&mut self) -> io::Result<()> {
        let current = std::mem::take(&mut self.buf);
        if let Some((_, kept)) = self.kept.take() {
            for record in kept {
                self.buf.extend_from_slice(&record);
                self.commit()?;
            }
        }
        self.buf.extend_from_slice(&current);
        Ok(())
    }

    /// The buffer renderers append to.
    pub(crate) fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Ends a record: writes it out now on a terminal, or once a block is full.
    pub(crate) fn commit(&mut self) -> io::Result<()> {
        if let Some((n, kept)) = &mut self.kept {
            if !self.buf.is_empty() {
                if kept.len() == *n {
                    kept.pop_front();
                }
                if *n > 0 {
                    kept.push_back(std::mem::take(&mut self.buf));
                }
                self.buf.clear();
            }
            return Ok(());
        }
        if self.line_buffered || self.buf.len() >= BLOCK {
            self.flush()
        } else {
            Ok(())
        }
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        if let Some(queue) = &mut self.queue {
            for line in self.buf.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                queue.take(line)?;
            }
            self.buf.clear();
            return queue.pump();
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut out = self.stdout.lock();
        match &self.interrupt {
            None => out.write_all(&self.buf)?,
            Some(interrupt) => {
                // Anything buffered in `out` goes first (nothing is: only this writes stdout).
                out.flush()?;
                let written = interrupt.write_all(libc::STDOUT_FILENO, &self.buf);
                // What was written is not written again, even when the rest is given up.
                self.buf
                    .drain(..written.as_ref().map_or_else(|(n, _)| *n, |n| *n));
                written.map_err(|(_, e)| e)?;
            }
        }
        out.flush()?;
        self.buf.clear();
        Ok(())
    }
}

impl Interrupt {
    /// Writes `bytes` to `fd` (1 or 2) as the module docs say; the count written, with the
    /// error that ended the write early.
    fn write_all(&self, fd: libc::c_int, bytes: &[u8]) -> Result<usize, (usize, io::Error)> {
        let mut done = 0;
        while done < bytes.len() {
            let stopping = self.signal.load(Ordering::Relaxed) != 0;
            let mut fds = [
                libc::pollfd {
                    fd,
                    events: libc::POLLOUT,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.pipe.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // Stopping: only the output, for at most the grace (the pipe may stay readable until
            // the wait of the follow loop drains it). Else stdout or a signal, without limit.
            let (count, timeout) = if stopping {
                (1, STOP_GRACE.as_millis() as libc::c_int)
            } else {
                (2, -1)
            };
            // SAFETY: `fds` is a valid array of at least `count` pollfd structs that lives
            // across the call; poll(2) only writes their `revents`.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), count, timeout) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err((done, e));
            }
            if fds[0].revents == 0 {
                if stopping && n == 0 {
                    return Err((done, io::Error::new(io::ErrorKind::Interrupted, Stopped)));
                }
                // The signal pipe: look at the flag again.
                continue;
            }
            let end = bytes.len().min(done + PIPE_CHUNK);
            let chunk = &bytes[done..end];
            // SAFETY: `chunk` is valid for reads of `chunk.len()` bytes during the call.
            let n = unsafe { libc::write(fd, chunk.as_ptr().cast(), chunk.len()) };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    // A signal, or an O_NONBLOCK stdout that filled up: poll again.
                    io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock => continue,
                    _ => return Err((done, e)),
                }
            }
            if n == 0 {
                return Err((done, io::Error::from(io::ErrorKind::WriteZero)));
            }
            done += n as usize;
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_last_holds_the_last_records_until_released() {
        let mut out = Output::stdout();
        out.line_buffered = false;
        out.keep_last(2).unwrap();
        for record in ["a\n", "b\nb2\n", "", "c\n"] {
            out.buf().extend_from_slice(record.as_bytes());
            out.commit().unwrap();
        }
        out.buf().extend_from_slice(b"partial");
        out.release().unwrap();
        assert_eq!(out.buf, b"b\nb2\nc\npartial");
        out.buf.clear();
    }
}
