//! The pvesh form of an event: `pvesh <verb> <path> [--key value]…  # note`.
//!
//! pvesh takes the path first (boolean options take an optional value and would swallow a path
//! that came after them), the template values only from the path, and repeated options for
//! repeated keys (pve-formats.md §3). Secrets become a word that fails when run unless the
//! admin supplies the value through an environment variable, never a plausible value.
//!
//! A value that starts with `-` is written in the same word as its option, `--key=value`.
//! pvesh parses its options with `Getopt::Long` (pve-common `src/PVE/JSONSchema.pm`
//! `get_options`: `prefix_pattern=(--|-)`, a boolean as `key:s`, anything else as `key=s`), and
//! an optional value (`:s`) that matches `^(--|-).+` or is `--` is pushed back and read as the
//! next option: `--purge --skiplock` is two flags, where the request had `purge=--skiplock`. A
//! value in the option's own word is taken as it is. An empty value stays a word of its own
//! (`--key ''`): `--key=` is refused for a `=s` option ("requires an argument").

use std::borrow::Cow;

use crate::event::{Event, Outcome};
use crate::join::tasks::Ended;
use crate::render::quote;
use crate::request::Class;
use crate::response;
use crate::secret::Redaction;
use crate::source::task::{State, Task};

/// One word of a pvesh command line.
#[derive(Debug, Clone)]
pub(crate) enum Word<'a> {
    Literal(Cow<'a, [u8]>),
    /// The value of the parameter named here, redacted whole or in part, after `prefix`
    /// (`--key=` when the value is written in its option's word, else nothing).
    Secret {
        key: &'a [u8],
        prefix: Cow<'a, [u8]>,
        value: &'a [u8],
        redaction: &'a Redaction,
    },
}

impl Word<'_> {
    /// The bytes that are shown of the word: all of it, or its pieces that are not secret.
    fn shown(&self, show_secrets: bool) -> Vec<&[u8]> {
        match self {
            Word::Literal(b) => vec![b],
            Word::Secret { prefix, value, .. } if show_secrets => vec![prefix, value],
            Word::Secret {
                prefix,
                value,
                redaction,
                ..
            } => std::iter::once(prefix.as_ref())
                .chain(
                    redaction
                        .pieces(value)
                        .into_iter()
                        .filter(|(_, secret)| !secret)
                        .map(|(piece, _)| piece),
                )
                .collect(),
        }
    }

    /// The word as an argv element, each secret piece replaced by `mark` unless secrets are
    /// shown.
    pub(crate) fn text(&self, show_secrets: bool, mark: &[u8]) -> Cow<'_, [u8]> {
        match self {
            Word::Literal(b) => Cow::Borrowed(b),
            Word::Secret {
                prefix,
                value,
                redaction,
                ..
            } => {
                let value = if show_secrets {
                    Cow::Borrowed(*value)
                } else {
                    redaction.apply(value, mark)
                };
                if prefix.is_empty() {
                    value
                } else {
                    Cow::Owned([prefix.as_ref(), &value].concat())
                }
            }
        }
    }
}

/// Whether pvesh's option parser could read `value`, given as the word after its option, as
/// an option of its own (or as the end of the options): Getopt::Long pushes back an optional
/// value matching `^(--|-).+` or equal to `--` (Getopt/Long.pm `FindOption`, with pve-common's
/// `prefix_pattern=(--|-)`). A lone `-` is taken as a value, but is written in the option's
/// word too: one rule, and `--key=-` reads the same for every option type.
fn could_be_an_option(value: &[u8]) -> bool {
    value.first() == Some(&b'-')
}

/// The argv of the pvesh command that repeats this request, or `None` when it has no pvesh
/// form (not an API call, or a method pvesh does not know).
pub(crate) fn argv<'e>(event: &'e Event<'_>) -> Option<Vec<Word<'e>>> {
    let verb = event.pvesh_verb()?;
    let path = event.path.as_deref()?;
    let mut words = Vec::with_capacity(3 + 2 * event.params.len());
    words.push(Word::Literal(Cow::Borrowed(b"pvesh")));
    words.push(Word::Literal(Cow::Borrowed(verb.as_bytes())));
    words.push(Word::Literal(Cow::Borrowed(path)));
    for p in &event.params {
        let mut option = Vec::with_capacity(p.key.len() + 3 + p.value.len());
        option.extend_from_slice(b"--");
        option.extend_from_slice(&p.key);
        // In the option's word: a value that could be read as an option, and a partly secret
        // value whose first piece is secret (what it starts with is not to be told by the
        // form). A wholly secret value is a string option's (`=s`, which takes the next word
        // whatever it is: the schema has no secret boolean), and stays a word of its own.
        let joined = match &p.redaction {
            Redaction::None => could_be_an_option(&p.value),
            Redaction::Whole => false,
            Redaction::Parts(_) => {
                could_be_an_option(&p.value)
                    || p.redaction
                        .pieces(&p.value)
                        .first()
                        .is_some_and(|(_, s)| *s)
            }
        };
        if joined {
            option.push(b'=');
        }
        if !p.redaction.any() {
            if joined {
                option.extend_from_slice(&p.value);
                words.push(Word::Literal(Cow::Owned(option)));
            } else {
                words.push(Word::Literal(Cow::Owned(option)));
                words.push(Word::Literal(Cow::Borrowed(&p.value)));
            }
            continue;
        }
        let prefix = if joined {
            Cow::Owned(option)
        } else {
            words.push(Word::Literal(Cow::Owned(option)));
            Cow::Borrowed(&b""[..])
        };
        words.push(Word::Secret {
            key: &p.key,
            prefix,
            value: &p.value,
            redaction: &p.redaction,
        });
    }
    Some(words)
}

/// Whether every word can be an argv element: a NUL byte cannot (C strings end there), and a
/// shell would silently cut the word short, running a different command.
pub(crate) fn replayable(words: &[Word<'_>], show_secrets: bool) -> bool {
    words.iter().all(|w| match w {
        // Most words are literal: looked at in place, with no list of pieces.
        Word::Literal(b) => memchr::memchr(0, b).is_none(),
        _ => w.shown(show_secrets).iter().all(|b| !b.contains(&0)),
    })
}

/// Appends the quoted command line (no newline, no note).
pub(crate) fn push_command(out: &mut Vec<u8>, words: &[Word<'_>], show_secrets: bool) {
    push_command_named(out, words, show_secrets, &mut |out, key, n| {
        push_secret_variable(out, key);
        if n > 1 {
            out.extend_from_slice(format!("_{n}").as_bytes());
        }
    });
}

/// Names the variable of a secret piece: appends it, given the parameter name and the piece's
/// number within its value (1 for the first).
pub(crate) type NameSecret<'n> = dyn FnMut(&mut Vec<u8>, &[u8], usize) + 'n;

/// Appends the quoted command line, each secret piece as a reference to the variable that
/// `name` appends (`PVE_SECRET_<NAME>` in the pvesh format, numbered ones in the script).
pub(crate) fn push_command_named(
    out: &mut Vec<u8>,
    words: &[Word<'_>],
    show_secrets: bool,
    name: &mut NameSecret<'_>,
) {
    for (i, word) in words.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        match word {
            Word::Literal(bytes) => quote::push_word(out, bytes),
            Word::Secret { .. } if show_secrets => quote::push_word(out, &word.text(true, b"")),
            Word::Secret {
                key,
                prefix,
                value,
                redaction,
            } => {
                // Self-delimiting pieces, adjacent: the shell joins them into one word.
                if !prefix.is_empty() {
                    quote::push_word(out, prefix);
                }
                push_redacted_word(out, key, value, redaction, name);
            }
        }
    }
}

/// A partly secret value as one shell word: its readable pieces quoted as words of their own
/// (each self-delimiting: bare, `'…'` or `$'…'`) and each secret piece as a reference, all
/// adjacent, so the shell joins them: `'host=x,apitoken=PVEAPIToken=root@pam!mig='"${…}"`. In
/// the pvesh format the first secret piece of a value is `PVE_SECRET_<NAME>`, the next ones
/// `PVE_SECRET_<NAME>_2`…
fn push_redacted_word(
    out: &mut Vec<u8>,
    key: &[u8],
    value: &[u8],
    redaction: &Redaction,
    name: &mut NameSecret<'_>,
) {
    let pieces = redaction.pieces(value);
    if pieces.is_empty() {
        quote::push_word(out, b"");
    }
    let mut n = 0;
    for (piece, secret) in pieces {
        if secret {
            n += 1;
            // `"${PVE_SECRET_PASSWORD:?redacted}"`: runs only when the admin exports the value,
            // fails with a clear message otherwise. POSIX sh reads it too.
            out.extend_from_slice(b"\"${");
            name(out, key, n);
            out.extend_from_slice(b":?redacted}\"");
        } else {
            quote::push_word(out, piece);
        }
    }
}

/// `PVE_SECRET_` and the parameter name in upper case, anything but letters and digits as `_`.
pub(crate) fn push_secret_variable(out: &mut Vec<u8>, key: &[u8]) {
    out.extend_from_slice(b"PVE_SECRET_");
    out.extend(key.iter().map(|b| {
        if b.is_ascii_alphanumeric() {
            b.to_ascii_uppercase()
        } else {
            b'_'
        }
    }));
}

/// The notes that belong after a command: what it lacks, and how the request ended.
pub(crate) fn notes(event: &Event<'_>) -> Vec<String> {
    let mut notes = Vec::new();
    // A login known from the journal alone has no body to miss.
    if event.body_missing() && !(event.auth.is_some() && event.http_status.is_none()) {
        notes.push("body not recorded".to_string());
    }
    if event.params_source == crate::event::ParamsSource::Config {
        notes.push("options rebuilt from the config change".to_string());
    }
    match event
        .http_status
        .map(|s| (s, response::status(s, event.bytes)))
    {
        Some((status, response::Status::Redirected)) => {
            notes.push(format!("not executed: HTTP {status}, a redirect to HTTPS"));
        }
        Some((status, response::Status::Unanswered)) => {
            notes.push(format!("HTTP {status}: no answer, the call may have run"));
        }
        Some((status, response::Status::Failed)) => notes.push(format!("HTTP {status}")),
        Some((_, response::Status::Answered))
            if event.outcome == Outcome::Failure && event.task.is_none() =>
        {
            let bytes = event.bytes.unwrap_or_default();
            notes.push(format!("failed: an error answer ({bytes} bytes)"));
        }
        Some((_, response::Status::Answered)) => {}
        None if event.via == Some(crate::event::Via::Cli) => notes.push(format!(
            "on the shell: {}, from the journal",
            event.program.as_deref().unwrap_or("a CLI program")
        )),
        None if event.auth.is_some() => notes.push("from the journal".to_string()),
        None if event.method.is_some() => notes.push("no access.log line".to_string()),
        None => {}
    }
    if let Some(object) = event.object.as_ref() {
        if let Some(name) = &object.name {
            let what = match object.kind {
                "lxc" => "CT",
                _ => "VM",
            };
            notes.push(format!(
                "{what} {} ({name})",
                String::from_utf8_lossy(&object.id)
            ));
        }
    }
    if let Some(auth) = &event.auth {
        match (&auth.reason, auth.kind) {
            (Some(reason), "ticket") => notes.push(format!("ticket refused: {reason}")),
            (Some(reason), _) => notes.push(format!("{} failed: {reason}", auth.kind)),
            (None, "renewal") => notes.push("ticket renewal".to_string()),
            (None, _) => {}
        }
    }
    match &event.proxy {
        Some(crate::join::hops::Proxy::From { from, origin_read }) => notes.push(if *origin_read {
            format!("proxied from {from}, whose log has no such line")
        } else {
            format!("proxied from {from} (its log not read)")
        }),
        Some(crate::join::hops::Proxy::Folded { to, .. }) => {
            notes.push(format!("proxied to {to}"));
        }
        None => {}
    }
    if let Some(task) = &event.task {
        match event.outcome {
            Outcome::Failure if event.may_have_run() => {
                notes.push(format!("failed: {}", status(task)));
            }
            Outcome::Pending => notes.push(format!("running: {}", task.upid.text)),
            // `WARNINGS: N` is a success worth a word.
            Outcome::Success if status(task) != "OK" => notes.push(status(task).to_string()),
            _ => {}
        }
    }
    notes
}

/// A task's status as the index has it, `running` while it runs.
pub(crate) fn status(task: &Task) -> &str {
    match &task.state {
        State::Running => "running",
        State::Finished {
            status: Some(status),
            ..
        } => status,
        State::Finished { status: None, .. } => "no status",
    }
}

/// Appends `<upid>: <status>`, made printable, for a comment. A UPID ends with its own `:`
/// (pve-common `src/PVE/Tools.pm` `upid_encode`: `…:$id:$user:`), which then serves as the
/// separator: `UPID:pve1:…:qmstart:100:root@pam: OK`, not `…root@pam:: OK`.
pub(crate) fn push_task_summary(out: &mut Vec<u8>, task: &Task) {
    let upid = &task.upid.text;
    let separator = if upid.ends_with(':') { " " } else { ": " };
    let text = format!("{upid}{separator}{}", status(task));
    quote::push_comment_text(out, text.as_bytes());
}

/// Appends `# task <upid>: <status>`, the note that a shown command's task has ended.
pub(crate) fn push_task_end(out: &mut Vec<u8>, ended: &Ended) {
    out.extend_from_slice(b"# task ");
    push_task_summary(out, &ended.task);
    out.push(b'\n');
}

/// Appends `  # note; note` (nothing when there are no notes).
pub(crate) fn push_notes(out: &mut Vec<u8>, notes: &[String]) {
    if notes.is_empty() {
        return;
    }
    out.extend_from_slice(b"  # ");
    for (i, note) in notes.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b"; ");
        }
        quote::push_comment_text(out, note.as_bytes());
    }
}

/// Whether the request may have done what it asked: not when it failed or never ran.
pub(crate) fn may_have_worked(event: &Event<'_>) -> bool {
    !matches!(event.outcome, Outcome::Failure | Outcome::NotExecuted)
}

/// After how long without a shown request the next one gets its "who and when" line again,
/// even from the same user and client: a pause this long starts another session of work.
const SESSION_GAP: i64 = 10 * 60;

/// The "who and when" lines of the pvesh format: `# 2026-06-24 14:03:14+02:00 alice@pve from
/// 192.168.10.23` before a request whose user or client differs from the last one shown, or
/// that comes on another (local) day or after a pause of more than [`SESSION_GAP`].
#[derive(Default)]
pub(crate) struct Who {
    last: Option<(Vec<u8>, Vec<u8>, jiff::Timestamp, jiff::civil::Date)>,
}

impl Who {
    /// Appends the line for `event` if it is due (newline included).
    pub(crate) fn push(&mut self, out: &mut Vec<u8>, event: &Event<'_>, zone: &jiff::tz::TimeZone) {
        let user = event.user.unwrap_or(b"-");
        let client = event.client.unwrap_or_default();
        let day = zone.to_offset(event.time).to_datetime(event.time).date();
        let due = match &self.last {
            None => true,
            Some((u, c, time, d)) => {
                u.as_slice() != user
                    || c.as_slice() != client
                    || *d != day
                    || (event.time.as_second() - time.as_second()).abs() > SESSION_GAP
            }
        };
        if !due {
            if let Some(last) = &mut self.last {
                last.2 = event.time;
            }
            return;
        }
        let mut text = crate::time::local_in(event.time, zone).into_bytes();
        text.push(b' ');
        text.extend_from_slice(user);
        if !client.is_empty() {
            text.extend_from_slice(b" from ");
            text.extend_from_slice(client);
        }
        out.extend_from_slice(b"# ");
        quote::push_comment_text(out, &text);
        out.push(b'\n');
        self.last = Some((user.to_vec(), client.to_vec(), event.time, day));
    }
}

/// Appends the pvesh output line of an event, newline included; nothing when there is nothing
/// to print (a request without pvesh form while comments are off).
pub(crate) fn push_line(out: &mut Vec<u8>, event: &Event<'_>, show_secrets: bool, comments: bool) {
    match argv(event) {
        Some(words) if comments && event.not_replayable.is_some() => {
            out.extend_from_slice(b"# not replayable, ");
            let reason = event.not_replayable.as_deref().unwrap_or_default();
            quote::push_comment_text(out, reason.as_bytes());
            out.extend_from_slice(b": ");
            let mut command = Vec::new();
            push_command(&mut command, &words, show_secrets);
            quote::push_comment_text(out, &command);
        }
        Some(_) if event.not_replayable.is_some() => return,
        // Without notes a failed command must not look like one that worked: it is commented
        // out behind the shortest word that says why.
        Some(words) if !comments && replayable(&words, show_secrets) && !may_have_worked(event) => {
            out.extend_from_slice(match event.outcome {
                Outcome::NotExecuted => b"# not executed: ".as_slice(),
                _ => b"# failed: ".as_slice(),
            });
            let mut command = Vec::new();
            push_command(&mut command, &words, show_secrets);
            quote::push_comment_text(out, &command);
        }
        Some(words) if replayable(&words, show_secrets) => push_command(out, &words, show_secrets),
        Some(words) if comments => {
            out.extend_from_slice(b"# not replayable, an argument holds a NUL byte: ");
            let mut command = Vec::new();
            push_command(&mut command, &words, show_secrets);
            quote::push_comment_text(out, &command);
        }
        None if comments && event.class == Class::Task => {
            if let Some(task) = &event.task {
                out.extend_from_slice(b"# task without a request: ");
                push_task_summary(out, task);
                if let Some(program) = &event.program {
                    out.extend_from_slice(b" (started on the shell by ");
                    quote::push_comment_text(out, program.as_bytes());
                    out.push(b')');
                }
            }
            out.push(b'\n');
            return;
        }
        None if comments => {
            out.extend_from_slice(b"# no pvesh form: ");
            quote::push_comment_text(out, &event.request_summary(show_secrets));
        }
        _ => return,
    }
    if comments {
        push_notes(out, &notes(event));
    }
    out.push(b'\n');
}
