//! Turning events into output: the pvesh command line, a JSON record, or a script block.
//!
//! All three read the same [`Event`]; none of them touches the sources. Everything that goes
//! out passes through [`quote`], which decides how attacker-controlled bytes may appear.

pub(crate) mod changes;
pub(crate) mod ecs;
pub(crate) mod invisible;
pub(crate) mod json;
pub(crate) mod ocsf;
pub(crate) mod pvesh;
pub(crate) mod quote;
pub(crate) mod script;

use crate::cli::Format;
use crate::event::Event;
use crate::join::tasks::Ended;

/// `#   changed KEY: OLD -> NEW` lines: what the event's request changed in /etc/pve.
fn push_changed(out: &mut Vec<u8>, event: &Event<'_>, show_secrets: bool) {
    for fc in &event.file_changes {
        for c in changes::changes_of(fc, show_secrets) {
            out.extend_from_slice(b"#   changed ");
            changes::push_line(out, &c);
            out.push(b'\n');
        }
    }
}

/// The formats made from the JSON record: its line is written first and then turned into the
/// document, so that an ECS or OCSF document says what the record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Derived {
    Ecs,
    Ocsf,
}

impl Derived {
    fn of(format: Format) -> Option<Derived> {
        match format {
            Format::Ecs => Some(Derived::Ecs),
            Format::Ocsf => Some(Derived::Ocsf),
            _ => None,
        }
    }
}

/// A string field of a JSON record.
fn record_text<'v>(
    record: &'v serde_json::Map<String, serde_json::Value>,
    key: &str,
) -> Option<&'v str> {
    record.get(key).and_then(serde_json::Value::as_str)
}

/// The URL path of a record's request, `/api2/FORMAT/PATH`, never with its query: a query may
/// hold secrets (a vncticket), which is where the Elastic integration's pipeline puts them. ECS's
/// `url.path` and OCSF's `http_request.url.path`.
fn url_path(record: &serde_json::Map<String, serde_json::Value>) -> Option<String> {
    let path = record_text(record, "path")?;
    Some(match record_text(record, "api_format") {
        Some(format) => format!("/api2/{format}{path}"),
        None => path.to_string(),
    })
}

/// Appends the `derived` document, and a newline, of the JSON record line `record` writes
/// (into `scratch`, reused from one record to the next).
pub(crate) fn push_derived(
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
    derived: Derived,
    record: impl FnOnce(&mut Vec<u8>),
) {
    scratch.clear();
    record(scratch);
    // The line is pverec's own JSON record: always one object.
    let Ok(serde_json::Value::Object(record)) = serde_json::from_slice(scratch) else {
        return;
    };
    let doc = match derived {
        Derived::Ecs => ecs::document(record),
        Derived::Ocsf => ocsf::document(record),
    };
    quote::push_json_compact(out, &doc);
    out.push(b'\n');
}

/// The chosen output format with its options, and what the stateful formats remember: the
/// last "who and when" line of the pvesh format, the script's counts and variables.
pub(crate) struct Renderer {
    pub(crate) format: Format,
    pub(crate) show_secrets: bool,
    pub(crate) comments: bool,
    /// The zone human-read times are shown in (`TZ`, else the system's), looked up when first
    /// needed: jiff reads the zone database for it, a start-up cost a run that prints no time
    /// (JSON, or nothing selected) need not pay.
    zone: std::cell::OnceCell<jiff::tz::TimeZone>,
    who: pvesh::Who,
    script: script::Script,
    /// The JSON record line an ECS or OCSF document is made from.
    scratch: Vec<u8>,
}

impl Renderer {
    pub(crate) fn new(format: Format, show_secrets: bool, comments: bool) -> Renderer {
        Renderer {
            format,
            show_secrets,
            comments,
            zone: std::cell::OnceCell::new(),
            who: pvesh::Who::default(),
            script: script::Script::new(false),
            scratch: Vec::new(),
        }
    }

    /// Output goes out as it comes (follow), so a script cannot be held until the end: its
    /// counts come in a trailer.
    pub(crate) fn stream(&mut self) {
        self.script.streaming = true;
    }

    /// What comes before the first event (the script's shebang and settings, which convert
    /// holds until [`Renderer::finish`], when its counts are known).
    pub(crate) fn header(&mut self, out: &mut Vec<u8>, sources: &[String]) {
        if self.format == Format::Script {
            self.script.start(out, sources);
        }
    }

    /// Appends one event, newline included (or nothing, when the format has no line for it).
    pub(crate) fn event(&mut self, out: &mut Vec<u8>, event: &Event<'_>) {
        match self.format {
            Format::Pvesh => {
                if self.comments {
                    let zone = self.zone.get_or_init(jiff::tz::TimeZone::system);
                    self.who.push(out, event, zone);
                }
                pvesh::push_line(out, event, self.show_secrets, self.comments);
                if self.comments {
                    push_changed(out, event, self.show_secrets);
                }
            }
            Format::Json => json::push_record(out, event, self.show_secrets, false),
            Format::JsonPretty => json::push_record(out, event, self.show_secrets, true),
            Format::Ecs | Format::Ocsf => {
                let secrets = self.show_secrets;
                if let Some(derived) = Derived::of(self.format) {
                    push_derived(out, &mut self.scratch, derived, |line| {
                        json::push_record(line, event, secrets, false)
                    });
                }
            }
            Format::Script => {
                let zone = self.zone.get_or_init(jiff::tz::TimeZone::system);
                self.script.event(out, event, self.show_secrets, zone);
                let mut note = Vec::new();
                push_changed(&mut note, event, self.show_secrets);
                if !note.is_empty() {
                    self.script.note(out, &note);
                }
            }
        }
    }

    /// Appends what follows a shown event whose task has just ended: a `task_end` record, or
    /// a `# task <upid> <status>` note line.
    pub(crate) fn task_end(&mut self, out: &mut Vec<u8>, ended: &Ended) {
        match self.format {
            Format::Json => json::push_task_end(out, ended, false),
            Format::JsonPretty => json::push_task_end(out, ended, true),
            Format::Ecs | Format::Ocsf => {
                if let Some(derived) = Derived::of(self.format) {
                    push_derived(out, &mut self.scratch, derived, |line| {
                        json::push_task_end(line, ended, false)
                    });
                }
            }
            Format::Pvesh if self.comments => pvesh::push_task_end(out, ended),
            Format::Pvesh => {}
            Format::Script => {
                let mut note = Vec::new();
                pvesh::push_task_end(&mut note, ended);
                self.script.note(out, &note);
            }
        }
    }

    /// A change in /etc/pve that no request line claimed (follow): a `change` record, or
    /// `# …` note lines.
    pub(crate) fn change(
        &mut self,
        out: &mut Vec<u8>,
        change: &crate::join::changes::Unclaimed,
        time: jiff::Timestamp,
        node: Option<&str>,
        name: Option<&str>,
    ) {
        let seen = (time, node, name);
        match self.format {
            Format::Json => json::push_change(out, change, seen, self.show_secrets, false),
            Format::JsonPretty => json::push_change(out, change, seen, self.show_secrets, true),
            Format::Ecs | Format::Ocsf => {
                let secrets = self.show_secrets;
                if let Some(derived) = Derived::of(self.format) {
                    push_derived(out, &mut self.scratch, derived, |line| {
                        json::push_change(line, change, seen, secrets, false)
                    });
                }
            }
            Format::Pvesh if !self.comments => {}
            Format::Pvesh | Format::Script => {
                let zone = self.zone.get_or_init(jiff::tz::TimeZone::system);
                let mut note = Vec::new();
                let who = match &change.request {
                    Some((file, line)) => format!("by the request at {file}:{line}"),
                    None => "with no request".to_owned(),
                };
                note.extend_from_slice(
                    format!("# {} change {who}: ", crate::time::local_in(time, zone)).as_bytes(),
                );
                quote::push_comment_text(&mut note, change.change.file.as_bytes());
                if let Some(name) = name {
                    note.extend_from_slice(b" (");
                    quote::push_comment_text(&mut note, name.as_bytes());
                    note.push(b')');
                }
                note.push(b'\n');
                for c in changes::changes_of(&change.change, self.show_secrets) {
                    note.extend_from_slice(b"#   ");
                    changes::push_line(&mut note, &c);
                    note.push(b'\n');
                }
                if let Some((_, line)) = changes::rebuilt_command(change, time, self.show_secrets) {
                    note.extend_from_slice(b"#   options rebuilt from the config change: ");
                    quote::push_comment_text(&mut note, line.as_bytes());
                    note.push(b'\n');
                }
                if self.format == Format::Script {
                    self.script.note(out, &note);
                } else {
                    out.extend_from_slice(&note);
                }
            }
        }
    }

    /// What comes after the last event: the whole script in convert, its trailer in follow.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        if self.format == Format::Script {
            self.script.finish(out);
        }
    }
}
