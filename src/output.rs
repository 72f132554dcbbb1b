//! Standard output, buffered the way a log tool should be: whole blocks when piped into jq or a
//! file (fast), line by line on a terminal (so a person sees each command as it is found).
//! Renderers append to one reusable buffer; `commit` decides when it goes out.
//!
//! `follow -n N` keeps only the last N records of the history it reads before going live, like
//! `tail -n`: while [`Output::keep_last`] is on, each committed record goes to a ring instead.

use std::collections::VecDeque;
use std::io::{self, IsTerminal, Write};

/// Flush at this size when block-buffered.
const BLOCK: usize = 64 * 1024;

pub(crate) struct Output {
    stdout: io::Stdout,
    buf: Vec<u8>,
    line_buffered: bool,
    /// `follow -n N`: the last records committed, at most N, held until [`Output::release`].
    kept: Option<(usize, VecDeque<Vec<u8>>)>,
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
        }
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
        if !self.buf.is_empty() {
            let mut out = self.stdout.lock();
            out.write_all(&self.buf)?;
            out.flush()?;
            self.buf.clear();
        }
        Ok(())
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
