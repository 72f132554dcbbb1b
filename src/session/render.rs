//! Sessions out: an aligned table for people (comfy-table), JSON Lines for jq and SIEMs, CSV for
//! spreadsheets; in follow, one record per opening and closing.
//!
//! Every text field is someone's bytes (a user name from the journal, a guest name from
//! `/etc/pve`): the table and the CSV show them through [`quote::push_comment_text`] (controls
//! and invisible characters as `\xHH`), JSON through [`quote::push_json_compact`]. A CSV cell that
//! a spreadsheet would read as a formula (`=`, `+`, `-`, `@`, tab, return first) is written with
//! a leading `'`, as OWASP advises against CSV injection.

use std::io::IsTerminal;

use comfy_table::{ContentArrangement, Table};
use serde::Serialize;

use super::select::Select;
use super::{Book, Kind, Session, Status};
use crate::cli::SessionFormat;
use crate::render::{Derived, quote};
use crate::source::task::Task;
use crate::time::utc;

/// Names longer than this are cut in the table (JSON and CSV keep them whole).
const NAME_WIDTH: usize = 20;
const USER_WIDTH: usize = 24;

/// A sessions run: the book, what is shown of it and how.
pub(crate) struct Sessions {
    pub(crate) book: Book,
    pub(crate) select: Select,
    pub(crate) format: SessionFormat,
    zone: jiff::tz::TimeZone,
}

impl Sessions {
    pub(crate) fn new(book: Book, select: Select, format: SessionFormat) -> Sessions {
        Sessions {
            book,
            select,
            format,
            zone: jiff::tz::TimeZone::system(),
        }
    }

    pub(crate) fn event(&mut self, out: &mut Vec<u8>, event: &crate::event::Event<'_>) {
        self.book.event(event);
        self.changes(out);
    }

    pub(crate) fn task_end(&mut self, out: &mut Vec<u8>, task: &Task) {
        self.book.task_end(task);
        self.changes(out);
    }

    pub(crate) fn tick(&mut self, out: &mut Vec<u8>, now: i64) {
        self.book.tick(now);
        self.changes(out);
    }

    /// Follow: each opening and closing, as it happened.
    fn changes(&mut self, out: &mut Vec<u8>) {
        for (closing, session) in std::mem::take(&mut self.book.changes) {
            if !self.select.wants(&session) {
                continue;
            }
            let event = if closing {
                "session_close"
            } else {
                "session_open"
            };
            match self.format {
                SessionFormat::Json => push_json(out, &session, event),
                SessionFormat::Ecs => push_derived(out, &session, event, Derived::Ecs),
                SessionFormat::Ocsf => push_derived(out, &session, event, Derived::Ocsf),
                SessionFormat::Csv => push_csv(out, &[session], false),
                SessionFormat::Table => self.push_text_line(out, &session, closing),
            }
        }
    }

    /// Convert: every session, then what was left unjoined, on stderr.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        let all: Vec<Session> = self
            .book
            .finish()
            .into_iter()
            .filter(|s| self.select.wants(s))
            .collect();
        match self.format {
            SessionFormat::Json => all.iter().for_each(|s| push_json(out, s, "session")),
            SessionFormat::Ecs => all
                .iter()
                .for_each(|s| push_derived(out, s, "session", Derived::Ecs)),
            SessionFormat::Ocsf => all
                .iter()
                .for_each(|s| push_derived(out, s, "session", Derived::Ocsf)),
            SessionFormat::Csv => push_csv(out, &all, true),
            SessionFormat::Table if !all.is_empty() => self.push_table(out, &all),
            SessionFormat::Table => {}
        }
        self.report();
    }

    pub(crate) fn report(&self) {
        let u = &self.book.unjoined;
        let n = |count: u64, one: &str, many: &str| {
            if count == 1 {
                format!("1 {one}")
            } else {
                format!("{count} {many}")
            }
        };
        if u.ambiguous_connections > 0 {
            crate::messages::message(&format!(
                "{} left unjoined: two console requests fitted",
                n(
                    u.ambiguous_connections,
                    "console connection was",
                    "console connections were"
                )
            ));
        }
        if u.lone_connections > 0 {
            crate::messages::message(&format!(
                "{} no console request in what was read (an earlier log?); not sessions here",
                n(
                    u.lone_connections,
                    "console connection has",
                    "console connections have"
                )
            ));
        }
        if self.book.refused > 0 {
            crate::messages::message(&format!(
                "{} no task where the task index would hold it: refused (an /api2/extjs error \
                 is HTTP 200), so no session",
                n(
                    self.book.refused,
                    "console request has",
                    "console requests have"
                )
            ));
        }
        if u.ambiguous_logins > 0 {
            crate::messages::message(&format!(
                "{} left unjoined: two sessions could have come from them (the journal names the \
                 user: --journal)",
                n(
                    u.ambiguous_logins,
                    "login line without a user was",
                    "login lines without a user were"
                )
            ));
        }
    }

    fn local(&self, seconds: i64) -> String {
        let Ok(ts) = jiff::Timestamp::from_second(seconds) else {
            return String::new();
        };
        let offset = self.zone.to_offset(ts);
        let t = offset.to_datetime(ts);
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }

    fn push_table(&self, out: &mut Vec<u8>, all: &[Session]) {
        let mut table = Table::new();
        table.load_style(comfy_table::presets::NOTHING);
        let stdout = std::io::stdout();
        match terminal_width(&stdout) {
            Some(width) => {
                table.set_width(width);
                table.set_content_arrangement(ContentArrangement::Dynamic);
            }
            None => {
                table.set_content_arrangement(ContentArrangement::Disabled);
            }
        }
        table.set_header([
            "KIND", "USER", "CLIENT", "NODE", "GUEST", "OPENED", "DURATION", "STATUS", "ENDED",
            "REQS", "WRITES",
        ]);
        // On a narrow terminal the counts and the node go first, then the free text (user,
        // guest, how it ended) wraps, never below a readable width; times and states keep
        // theirs. Below that the lines are longer than the terminal, whole.
        let narrow = terminal_width(&stdout).is_some_and(|w| w < 130);
        for (i, column) in table.column_iter_mut().enumerate() {
            use comfy_table::{ColumnConstraint, Width};
            let constraint = match i {
                3 | 9 | 10 if narrow => ColumnConstraint::Hidden,
                1 => ColumnConstraint::LowerBoundary(Width::Fixed(16)),
                4 => ColumnConstraint::LowerBoundary(Width::Fixed(14)),
                8 => ColumnConstraint::LowerBoundary(Width::Fixed(12)),
                _ => ColumnConstraint::ContentWidth,
            };
            column.set_constraint(constraint);
        }
        for s in all {
            let guest = match (&s.vmid, &s.name) {
                (Some(vmid), Some(name)) => {
                    format!("{vmid} ({})", cut(&printable(name), NAME_WIDTH))
                }
                (Some(vmid), None) => vmid.clone(),
                _ => String::new(),
            };
            let duration = match (s.duration(), s.status) {
                (Some(d), _) => human_duration(d),
                (None, Status::Ongoing) => {
                    format!("{}+", human_duration(self.book_now() - s.opened))
                }
                (None, _) => "-".to_owned(),
            };
            let counts = |n: u64| {
                if matches!(s.kind, Kind::Ui | Kind::Api) {
                    n.to_string()
                } else {
                    String::new()
                }
            };
            table.add_row([
                s.kind.name().to_owned(),
                cut(&printable(&s.user_id()), USER_WIDTH),
                printable(s.client.as_deref().unwrap_or("-")),
                printable(s.node.as_deref().unwrap_or("-")),
                guest,
                self.local(s.opened),
                duration,
                s.status.name().to_owned(),
                cut(&printable(s.ended.as_deref().unwrap_or("-")), 28),
                counts(s.requests),
                counts(s.writes),
            ]);
        }
        for line in table.lines() {
            out.extend_from_slice(line.trim_end().as_bytes());
            out.push(b'\n');
        }
    }

    fn book_now(&self) -> i64 {
        self.book.now
    }

    /// Follow without a machine format: one line per opening or closing.
    fn push_text_line(&self, out: &mut Vec<u8>, s: &Session, closing: bool) {
        let when = if closing {
            s.closed.unwrap_or(s.last)
        } else {
            s.opened
        };
        let mut line = format!(
            "{}  {}  {}  {}",
            self.local(when),
            if closing { "close" } else { "open " },
            s.kind.name(),
            s.user_id()
        );
        if let Some(client) = &s.client {
            line.push_str(&format!("  from {client}"));
        }
        match (&s.vmid, &s.name, &s.node) {
            (Some(vmid), Some(name), _) => line.push_str(&format!("  guest {vmid} ({name})")),
            (Some(vmid), None, _) => line.push_str(&format!("  guest {vmid}")),
            (None, _, Some(node)) if s.kind == Kind::Shell => {
                line.push_str(&format!("  node {node}"));
            }
            _ => {}
        }
        if closing {
            if let Some(d) = s.duration() {
                line.push_str(&format!("  after {}", human_duration(d)));
            }
            if let Some(ended) = &s.ended {
                line.push_str(&format!("  ({ended})"));
            }
        }
        quote::push_comment_text(out, line.as_bytes());
        out.push(b'\n');
    }
}

fn terminal_width(stdout: &std::io::Stdout) -> Option<u16> {
    if !stdout.is_terminal() {
        return None;
    }
    // SAFETY: TIOCGWINSZ fills the winsize it is given, which lives across the call.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    (ok && size.ws_col > 0).then_some(size.ws_col)
}

/// Shown as typed, with every control and invisible character as `\xHH`.
fn printable(text: &str) -> String {
    let mut out = Vec::with_capacity(text.len());
    quote::push_comment_text(&mut out, text.as_bytes());
    String::from_utf8_lossy(&out).into_owned()
}

/// At most `width` characters, the cut marked with `…`.
fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(width.saturating_sub(1)).collect();
    short.push('…');
    short
}

/// `45s`, `4m 10s`, `1h 04m`, `2d 03h`.
pub(crate) fn human_duration(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {:02}h", s / 86400, s % 86400 / 3600),
    }
}

#[derive(Serialize)]
struct Record<'a> {
    event: &'static str,
    kind: &'static str,
    user: &'a str,
    token: Option<&'a str>,
    client: Option<&'a str>,
    node: Option<&'a str>,
    vmid: Option<&'a str>,
    name: Option<&'a str>,
    opened: String,
    closed: Option<String>,
    duration: Option<i64>,
    status: &'static str,
    ended: Option<&'a str>,
    connected: Option<String>,
    requests: Option<u64>,
    writes: Option<u64>,
    renewals: Option<u64>,
    first_action: Option<&'a str>,
    last_action: Option<&'a str>,
    evidence: Evidence<'a>,
}

#[derive(Serialize)]
struct Evidence<'a> {
    lines: &'a [String],
    /// Lines past the 64 listed.
    #[serde(skip_serializing_if = "is_zero")]
    more_lines: u64,
    upids: &'a [String],
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn stamp(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds)
        .map(utc)
        .unwrap_or_default()
}

fn record<'a>(s: &'a Session, event: &'static str) -> Record<'a> {
    let counted = matches!(s.kind, Kind::Ui | Kind::Api);
    Record {
        event,
        kind: s.kind.name(),
        user: &s.user,
        token: s.token.as_deref(),
        client: s.client.as_deref(),
        node: s.node.as_deref(),
        vmid: s.vmid.as_deref(),
        name: s.name.as_deref(),
        opened: stamp(s.opened),
        closed: s.closed.map(stamp),
        duration: s.duration(),
        status: s.status.name(),
        ended: s.ended.as_deref(),
        connected: s.connected.map(stamp),
        requests: counted.then_some(s.requests),
        writes: counted.then_some(s.writes),
        renewals: counted.then_some(s.renewals),
        first_action: s.first_action.as_deref(),
        last_action: s.last_action.as_deref(),
        evidence: Evidence {
            lines: &s.lines,
            more_lines: s.more_lines,
            upids: &s.upids,
        },
    }
}

/// The session's ECS or OCSF document, made from its JSON record.
fn push_derived(out: &mut Vec<u8>, s: &Session, event: &'static str, derived: Derived) {
    let mut line = Vec::new();
    crate::render::push_derived(out, &mut line, derived, |line| push_json(line, s, event));
}

fn push_json(out: &mut Vec<u8>, s: &Session, event: &'static str) {
    quote::push_json_compact(out, &record(s, event));
    out.push(b'\n');
}

const CSV_HEADER: [&str; 20] = [
    "kind",
    "user",
    "token",
    "client",
    "node",
    "vmid",
    "name",
    "opened",
    "closed",
    "duration",
    "status",
    "ended",
    "connected",
    "requests",
    "writes",
    "renewals",
    "first_action",
    "last_action",
    "evidence_lines",
    "evidence_upids",
];

/// A cell a spreadsheet takes as it is: printable, and never a formula.
fn cell(text: &str) -> String {
    let text = printable(text);
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text
    }
}

fn push_csv(out: &mut Vec<u8>, all: &[Session], header: bool) {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut ok = !header || writer.write_record(CSV_HEADER).is_ok();
    for s in all {
        let r = record(s, "session");
        let opt = |v: Option<&str>| v.map(cell).unwrap_or_default();
        let num = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_default();
        let row = [
            r.kind.to_owned(),
            cell(r.user),
            opt(r.token),
            opt(r.client),
            opt(r.node),
            opt(r.vmid),
            opt(r.name),
            r.opened.clone(),
            r.closed.clone().unwrap_or_default(),
            r.duration.map(|d| d.to_string()).unwrap_or_default(),
            r.status.to_owned(),
            opt(r.ended),
            r.connected.clone().unwrap_or_default(),
            num(r.requests),
            num(r.writes),
            num(r.renewals),
            opt(r.first_action),
            opt(r.last_action),
            cell(&s.lines.join(" ")),
            s.upids.join(" "),
        ];
        ok &= writer.write_record(&row).is_ok();
    }
    if let (true, Ok(bytes)) = (ok, writer.into_inner()) {
        out.extend_from_slice(&bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_person_writes_them() {
        assert_eq!(human_duration(45), "45s");
        assert_eq!(human_duration(250), "4m 10s");
        assert_eq!(human_duration(3840), "1h 04m");
        assert_eq!(human_duration(2 * 86400 + 3 * 3600 + 59), "2d 03h");
        assert_eq!(human_duration(-5), "0s");
    }

    #[test]
    fn cells_are_never_formulas_nor_raw_controls() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("-1+2"), "'-1+2");
        assert_eq!(cell("web\x1b[2Jx"), "web\\x1b[2Jx");
        assert_eq!(cell("alice@pve"), "alice@pve");
    }

    #[test]
    fn long_names_are_cut_with_a_mark() {
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abcd", 4), "abcd");
        assert_eq!(cut("äöüß€x", 5), "äöüß…");
    }
}
