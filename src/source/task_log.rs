//! A task's own log (`/var/log/pve/tasks/X/UPID`): the first line of a backup job's says how it
//! was called, which access.log does not (`POST /nodes/{node}/vzdump` has a body).
//!
//! pve-manager `PVE/VZDump.pm` `exec_backup` logs `INFO: starting new backup job: CMDLINE`, and
//! CMDLINE is pve-guest-common `src/PVE/VZDump/Common.pm` `command_line`: `vzdump`, the guest
//! ids, then ` --KEY VALUE` for every other parameter, each value through
//! `String::ShellQuote::shell_quote` (single quotes, `'\''` for a quote). The file lives in the
//! subdirectory named by the last hex digit of the UPID's start time (pve-common
//! `src/PVE/UPID.pm`: `substr($starttime, 7, 8)`). The task directory is root's, but a UPID is
//! still only a file name here: one with `/` or `..` is not looked up, and the file is opened
//! `O_NOFOLLOW`, regular files only, and read no further than its first line.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

const FIRST_LINE_MAX: u64 = 64 * 1024;
const JOB_PREFIX: &str = "INFO: starting new backup job: vzdump";

/// The parameters of the backup job whose task is `upid`, from its log in `dir`: `None` when
/// the log or its job line is not there; `Err` when the line cannot be read as `command_line`
/// writes it (said, never guessed).
pub(crate) fn backup_job(dir: &Path, upid: &str) -> Option<Result<Vec<(String, String)>, String>> {
    if upid.contains('/') || upid.contains("..") || upid.contains('\0') {
        return None;
    }
    let start = upid.split(':').nth(4)?;
    let subdir = start.chars().last()?;
    let path = dir.join(subdir.to_string()).join(upid);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&path)
        .ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut head = Vec::new();
    file.take(FIRST_LINE_MAX).read_to_end(&mut head).ok()?;
    let text = String::from_utf8_lossy(&head);
    let line = text.lines().find(|l| l.starts_with(JOB_PREFIX))?;
    Some(parse_job(&line[JOB_PREFIX.len()..]))
}

/// ` 100 101 --mode snapshot --storage 'a b'` -> `vmid=100,101`, `mode=snapshot`, … (`node`
/// dropped: it is the path's).
pub(crate) fn parse_job(args: &str) -> Result<Vec<(String, String)>, String> {
    let words = shell_words(args)?;
    let mut params = Vec::new();
    let mut vmids = Vec::new();
    let mut words = words.into_iter().peekable();
    while let Some(word) = words.next() {
        if let Some(key) = word.strip_prefix("--") {
            if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(format!("not an option: {word:?}"));
            }
            let value = words
                .next()
                .ok_or_else(|| format!("--{key} without a value"))?;
            if key != "node" {
                params.push((key.to_string(), value));
            }
        } else if params.is_empty() && word.bytes().all(|b| b.is_ascii_digit()) && !word.is_empty()
        {
            vmids.push(word);
        } else {
            return Err(format!("unexpected word {word:?}"));
        }
    }
    if !vmids.is_empty() {
        params.insert(0, ("vmid".to_string(), vmids.join(",")));
    }
    // pvesh's options in a stable order (the job line has Perl's hash order).
    params.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(params)
}

/// Splits as a POSIX shell does for words quoted by `String::ShellQuote`: blanks separate,
/// `'…'` and `"…"` quote, `\` escapes outside single quotes. No expansion of any kind.
fn shell_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err("an unclosed single quote".into()),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => w.push(c),
                            Some(c) => {
                                w.push('\\');
                                w.push(c);
                            }
                            None => return Err("an unclosed double quote".into()),
                        },
                        Some(c) => w.push(c),
                        None => return Err("an unclosed double quote".into()),
                    }
                }
            }
            '\\' => match chars.next() {
                Some(c) => word.get_or_insert_with(String::new).push(c),
                None => return Err("a backslash at the end".into()),
            },
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    if let Some(w) = word {
        words.push(w);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_job_line_as_command_line_writes_it() {
        let params = parse_job(
            " 100 101 --mode snapshot --storage local --node pve1 --notes-template '{{guestname}}' --mailto 'a@b.c,d@e.f' --exclude-path '/tmp/it'\\''s'",
        )
        .unwrap();
        let get = |k: &str| {
            params
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("vmid"), Some("100,101"));
        assert_eq!(get("mode"), Some("snapshot"));
        assert_eq!(get("notes-template"), Some("{{guestname}}"));
        assert_eq!(get("exclude-path"), Some("/tmp/it's"));
        assert_eq!(get("node"), None);
        assert!(parse_job(" 100 --mode").is_err());
        assert!(parse_job(" 100 --mode 'x").is_err());
        assert!(parse_job(" --all 1 stray").is_err());
    }

    /// What String::ShellQuote writes: bare when only safe characters, else single quotes.
    fn shell_quote(s: &str) -> String {
        if !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_=+:,./@%^".contains(&b))
        {
            return s.to_string();
        }
        format!("'{}'", s.replace('\'', "'\\''"))
    }

    proptest! {
        #[test]
        fn quoted_values_read_back(values in proptest::collection::vec("[ -~]{0,12}", 1..5)) {
            let mut line = String::from(" 100");
            for (i, v) in values.iter().enumerate() {
                line.push_str(&format!(" --k{i} {}", shell_quote(v)));
            }
            let params = parse_job(&line).unwrap();
            for (i, v) in values.iter().enumerate() {
                let key = format!("k{i}");
                let got = params.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone());
                prop_assert_eq!(got.as_deref(), Some(v.as_str()));
            }
        }
    }
}
