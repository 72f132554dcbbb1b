//! What changed in `/etc/pve`, as every output shows it: the differences of a file
//! ([`crate::source::etc_pve::diff`]), their secrets redacted, as JSON objects
//! (`{"file", "section", "key", "old", "new"}`) or as comment lines.
//!
//! A value is redacted whole when its key is one PVE keeps a secret in (`cipassword`, a storage's
//! or SDN's keys: [`diff::is_secret_key`]) or has a secret's name (`password`, `token`…), and in
//! its secret-shaped parts otherwise (a ticket, a token, URL credentials: [`secret`]), as in
//! every other field.

use serde::Serialize;

use crate::api;
use crate::render::quote;
use crate::secret::{self, Redaction};
use crate::source::etc_pve::diff::{self, Change};
use crate::source::etc_pve::watch::FileChange;

const REDACTED: &str = "<redacted>";

/// The differences of one file's change, redacted unless `show_secrets`.
pub(crate) fn changes_of(change: &FileChange, show_secrets: bool) -> Vec<Change> {
    let Some(format) = diff::format_of(&change.file) else {
        return Vec::new();
    };
    let old = change.old.as_deref().unwrap_or_default();
    let new = change.new.as_deref().unwrap_or_default();
    let mut changes = diff::diff(format, &change.file, old, new);
    if !show_secrets {
        for c in &mut changes {
            let whole = diff::is_secret_key(format, c.section.as_deref(), &c.key)
                || api::secret_by_name(c.key.as_bytes());
            let section = c.section.clone();
            for value in [&mut c.old, &mut c.new].into_iter().flatten() {
                // The parts the format keeps a secret in (a user.cfg record's OTP `keys`), and
                // those of a secret's shape.
                let mut spans = diff::secret_spans(format, section.as_deref(), value);
                spans.extend(secret::scan(value.as_bytes()));
                spans.sort_by_key(|s| s.start);
                redact(value, whole, spans);
            }
        }
    }
    changes
}

fn redact(value: &mut String, whole: bool, spans: Vec<std::ops::Range<usize>>) {
    if whole {
        *value = REDACTED.to_owned();
        return;
    }
    let redaction = Redaction::from_spans(spans);
    if redaction.any() {
        let shown = redaction.apply(value.as_bytes(), REDACTED.as_bytes());
        *value = String::from_utf8_lossy(&shown).into_owned();
    }
}

/// The call a task's change gives back, as the join rebuilt it
/// ([`crate::join::changes::Unclaimed::rebuilt`]): the write whose task made it (`request` of
/// the record) with those parameters, as a pvesh command (`None` when nothing could be rebuilt,
/// or it would not replay as it stands).
pub(crate) fn rebuilt_command(
    change: &crate::join::changes::Unclaimed,
    time: jiff::Timestamp,
    show_secrets: bool,
) -> Option<(Vec<(String, String)>, String)> {
    let call = change.call.as_ref()?;
    let rebuilt = change.rebuilt.clone()?;
    let origin = crate::event::Origin {
        file: "/etc/pve",
        line: 0,
    };
    let event = crate::event::Event::from_rebuilt(
        time,
        None,
        call.method.as_bytes(),
        &call.path,
        rebuilt.params,
        origin,
    )?;
    let words = crate::render::pvesh::argv(&event)?;
    let mut line = Vec::new();
    crate::render::pvesh::push_command(&mut line, &words, show_secrets);
    let params = event
        .params
        .iter()
        .map(|p| {
            let value = if show_secrets {
                p.value.to_vec()
            } else {
                p.redaction
                    .apply(&p.value, REDACTED.as_bytes())
                    .into_owned()
            };
            (
                String::from_utf8_lossy(&p.key).into_owned(),
                String::from_utf8_lossy(&value).into_owned(),
            )
        })
        .collect();
    Some((params, String::from_utf8_lossy(&line).into_owned()))
}

/// One difference as the JSON records have it.
#[derive(Serialize)]
pub(crate) struct ChangeRecord<'a> {
    file: &'a str,
    section: Option<&'a str>,
    key: &'a str,
    old: Option<&'a str>,
    new: Option<&'a str>,
}

pub(crate) fn records(changes: &[Change]) -> Vec<ChangeRecord<'_>> {
    changes
        .iter()
        .map(|c| ChangeRecord {
            file: &c.file,
            section: c.section.as_deref(),
            key: &c.key,
            old: c.old.as_deref(),
            new: c.new.as_deref(),
        })
        .collect()
}

/// One difference as a comment line's text: `memory: 2048 -> 4096`, `[snap1] vmstate: added`.
pub(crate) fn push_line(out: &mut Vec<u8>, change: &Change) {
    let mut text = String::new();
    if let Some(section) = &change.section {
        text.push_str(&format!("[{section}] "));
    }
    if !change.key.is_empty() {
        text.push_str(&change.key);
        text.push_str(": ");
    }
    match (&change.old, &change.new) {
        (Some(old), Some(new)) => text.push_str(&format!("{old} -> {new}")),
        (None, Some(new)) => text.push_str(&format!("(added) {new}")),
        (Some(old), None) => text.push_str(&format!("(removed, was {old})")),
        (None, None) => {}
    }
    // A value may hold a newline (a description): shown escaped, on one line.
    quote::push_comment_text(out, text.as_bytes());
}
