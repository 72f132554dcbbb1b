//! Everything pverec says on stderr: warnings, per-file errors and malformed-line reports.
//!
//! A run over many files must not stop at the first bad one, yet its exit status must tell a
//! script that something was not read: a per-file error sets a global flag that turns the exit
//! status into 2 at the end (as ripgrep does). Malformed lines are reported one by one up to a
//! limit and then only counted, so a log full of garbage cannot flood the terminal. Messages name
//! files that an attacker may have named, so they are made printable first.
//!
//! An OS error on one of the node's own paths says what usually cures it ([`os_error`]): a new
//! admin who runs pverec as themselves on a node, or on a machine that is not a node, gets the
//! next step, not only `Permission denied`. Each message names its file once: an error whose text
//! already holds the path is not prefixed with it again.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::input::{self, DEFAULT_LOG, NODE_LOG_DIR};
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
    let _ = crate::sink::write_stderr(&line);
}

/// Prints a clap usage error, rendered without styles, and gives clap's exit status for it (2).
///
/// clap's own `Error::exit` prints the error as is, and a usage error quotes the argument that
/// was wrong: `pverec convert --since $'\e]0;x\a'` would put that escape sequence on the
/// terminal (and clap's plain rendering strips what looks like one, eating the message with
/// it). So it is printed line by line through the same escaping as every other message.
pub(crate) fn usage_error(err: &clap::Error) -> std::process::ExitCode {
    let rendered = err.render().ansi().to_string();
    let mut text = Vec::with_capacity(rendered.len());
    for line in rendered.lines() {
        quote::push_comment_text(&mut text, line.as_bytes());
        text.push(b'\n');
    }
    let _ = std::io::stderr().lock().write_all(&text);
    std::process::ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2))
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

/// `PATH: ERROR`, with a hint when the error is one that a new user of a node meets (see
/// [`hint`]).
pub(crate) fn os_error(path: &Path, err: &io::Error) -> String {
    os_error_named(&path.to_string_lossy(), path, err)
}

/// [`os_error`] for a file that messages call `name`.
pub(crate) fn os_error_named(name: &str, path: &Path, err: &io::Error) -> String {
    format!("{name}: {err}{}", hint_suffix(path, err))
}

/// ` (HINT)` for [`hint`], or nothing.
pub(crate) fn hint_suffix(path: &Path, err: &io::Error) -> String {
    hint(path, err).map_or_else(String::new, |hint| format!(" ({hint})"))
}

/// What to do about `err` on `path`, when it is something pverec can say:
/// - permission denied on a PVE path: who may read it. /var/log/pveproxy is www-data's, mode
///   0700 (pve-manager's Makefile: `install -d -m 0700 -o www-data -g www-data
///   /var/log/pveproxy`), so a group does not help there; /etc/pve is `root:www-data` 0750
///   (pmxcfs) and the recorder spool is group www-data (pve-formats.md §5);
/// - the default log missing: most likely not a PVE node at all.
pub(crate) fn hint(path: &Path, err: &io::Error) -> Option<&'static str> {
    match err.kind() {
        io::ErrorKind::PermissionDenied => match pve_path(path)? {
            PvePath::ProxyLog => {
                Some("run as root, or as user www-data: sudo -u www-data pverec ...")
            }
            PvePath::Other => Some("run as root or as a member of group www-data"),
        },
        io::ErrorKind::NotFound if path == input::system_path(DEFAULT_LOG) => {
            Some("is this a Proxmox VE node? give the access.log to read as FILE")
        }
        _ => None,
    }
}

/// Which kind of PVE path a path is, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PvePath {
    /// In /var/log/pveproxy.
    ProxyLog,
    /// /var/log/pve*, /etc/pve, /run/pve-api-record.
    Other,
}

fn pve_path(path: &Path) -> Option<PvePath> {
    // Canonical when it can be (a symlink, `..`), else at least absolute.
    let real = |p: &Path| -> PathBuf {
        p.canonicalize()
            .or_else(|_| std::path::absolute(p))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    let path = real(path);
    if path.starts_with(real(&input::system_path(NODE_LOG_DIR))) {
        return Some(PvePath::ProxyLog);
    }
    let under_var_log = path
        .strip_prefix(real(&input::system_path("/var/log")))
        .ok()
        .and_then(|rest| rest.components().next())
        .is_some_and(|first| first.as_os_str().as_encoded_bytes().starts_with(b"pve"));
    let other = under_var_log
        || ["/etc/pve", "/run/pve-api-record"]
            .iter()
            .any(|p| path.starts_with(real(&input::system_path(p))));
    other.then_some(PvePath::Other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_for_pve_paths_and_the_missing_default_log() {
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        let missing = io::Error::from(io::ErrorKind::NotFound);
        let proxy = Some("run as root, or as user www-data: sudo -u www-data pverec ...");
        let group = Some("run as root or as a member of group www-data");
        for (path, want) in [
            ("/var/log/pveproxy/access.log", proxy),
            ("/var/log/pveproxy/access.log.2.gz", proxy),
            ("/var/log/pve/tasks", group),
            ("/var/log/pve/tasks/index", group),
            ("/var/log/pve-firewall.log", group),
            ("/etc/pve/user.cfg", group),
            ("/run/pve-api-record/1.events", group),
            ("/var/log/syslog", None),
            ("/var/log/pv", None),
            ("/etc/pvecfg", None),
            ("/tmp/access.log", None),
        ] {
            assert_eq!(hint(Path::new(path), &denied), want, "{path}");
        }
        assert_eq!(
            hint(Path::new(DEFAULT_LOG), &missing),
            Some("is this a Proxmox VE node? give the access.log to read as FILE")
        );
        assert_eq!(hint(Path::new("/tmp/access.log"), &missing), None);
        assert_eq!(hint(Path::new(DEFAULT_LOG), &io::Error::other("x")), None);
        assert_eq!(
            os_error(Path::new("/etc/pve/x"), &denied),
            "/etc/pve/x: permission denied (run as root or as a member of group www-data)"
        );
    }
}
