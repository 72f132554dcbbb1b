//! Turning events into output: the pvesh command line, a JSON record, or a script block.
//!
//! All three read the same [`Event`]; none of them touches the sources. Everything that goes
//! out passes through [`quote`], which decides how attacker-controlled bytes may appear.

pub(crate) mod json;
pub(crate) mod pvesh;
pub(crate) mod quote;
pub(crate) mod script;

use crate::cli::Format;
use crate::correlate::Ended;
use crate::event::Event;

/// The chosen output format with its options.
pub(crate) struct Renderer {
    pub(crate) format: Format,
    pub(crate) show_secrets: bool,
    pub(crate) comments: bool,
}

impl Renderer {
    /// What comes before the first event (the script's shebang and settings).
    pub(crate) fn header(&self, out: &mut Vec<u8>, sources: &[String]) {
        if self.format == Format::Script {
            script::push_header(out, sources);
        }
    }

    /// Appends one event, newline included (or nothing, when the format has no line for it).
    pub(crate) fn event(&self, out: &mut Vec<u8>, event: &Event<'_>) {
        match self.format {
            Format::Pvesh => pvesh::push_line(out, event, self.show_secrets, self.comments),
            Format::Json => json::push_record(out, event, self.show_secrets),
            Format::Script => script::push_event(out, event, self.show_secrets),
        }
    }

    /// Appends what follows a shown event whose task has just ended: a `task_end` record, or
    /// a `# task <upid>: <status>` note line.
    pub(crate) fn task_end(&self, out: &mut Vec<u8>, ended: &Ended) {
        match self.format {
            Format::Json => json::push_task_end(out, ended),
            Format::Pvesh | Format::Script if self.comments => pvesh::push_task_end(out, ended),
            Format::Pvesh | Format::Script => {}
        }
    }
}
