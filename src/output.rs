//! Standard output, buffered the way a log tool should be: whole blocks when piped into jq or a
//! file (fast), line by line on a terminal (so a person sees each command as it is found).
//! Renderers append to one reusable buffer; `commit` decides when it goes out.

use std::io::{self, IsTerminal, Write};

/// Flush at this size when block-buffered.
const BLOCK: usize = 64 * 1024;

pub(crate) struct Output {
    stdout: io::Stdout,
    buf: Vec<u8>,
    line_buffered: bool,
}

impl Output {
    pub(crate) fn stdout() -> Output {
        let stdout = io::stdout();
        let line_buffered = stdout.is_terminal();
        Output {
            stdout,
            buf: Vec::with_capacity(BLOCK + 4096),
            line_buffered,
        }
    }

    /// The buffer renderers append to.
    pub(crate) fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Ends a record: writes it out now on a terminal, or once a block is full.
    pub(crate) fn commit(&mut self) -> io::Result<()> {
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
