//! Everything pverec says on stderr: warnings, per-file errors and malformed-line reports.
//!
//! A run over many files must not stop at the first bad one, yet its exit status must tell a
//! script that something was not read: a per-file error sets a global flag that turns the exit
//! status into 2 at the end (as ripgrep does). Malformed lines are reported one by one up to a
//! limit and then only counted, so a log full of garbage cannot flood the terminal. Messages name
//! files that an attacker may have named, so they are made printable first.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::render::quote;

/// How many malformed lines are reported one by one before they are only counted.
const MALFORMED_SHOWN: u64 = 10;

static ERRORED: AtomicBool = AtomicBool::new(false);
static MALFORMED: AtomicU64 = AtomicU64::new(0);

/// Prints `pverec: <message>` on stderr, made printable. A closed stderr is ignored.
pub(crate) fn message(text: &str) {
    let mut line = b"pverec: ".to_vec();
    quote::push_comment_text(&mut line, text.as_bytes());
    line.push(b'\n');
    let _ = std::io::stderr().lock().write_all(&line);
}

/// Reports an error that kept some input from being read; the run goes on, the exit status
/// becomes 2.
pub(crate) fn input_error(text: &str) {
    ERRORED.store(true, Ordering::Relaxed);
    message(text);
}

/// Whether any input could not be read.
pub(crate) fn errored() -> bool {
    ERRORED.load(Ordering::Relaxed)
}

/// Reports a line that is skipped: `FILE:LINE: reason`.
pub(crate) fn malformed(file: &str, line: u64, reason: &dyn std::fmt::Display) {
    let n = MALFORMED.fetch_add(1, Ordering::Relaxed) + 1;
    if n <= MALFORMED_SHOWN {
        message(&format!("{file}:{line}: {reason} (line skipped)"));
    }
}

/// The closing count of malformed lines, when some were not shown one by one.
pub(crate) fn finish() {
    let n = MALFORMED.load(Ordering::Relaxed);
    if n > MALFORMED_SHOWN {
        message(&format!(
            "{n} malformed lines skipped in all, {} more than shown above",
            n - MALFORMED_SHOWN
        ));
    }
}
