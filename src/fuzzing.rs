//! What the fuzz targets under `fuzz/` call: one function per parser, fed arbitrary bytes.
//!
//! Each runs the parser on the input and checks what must hold whatever the input: no panic,
//! no unbounded line, and the properties the rest of pverec relies on (the class pre-check never
//! rules out the class the full parse finds; a parsed UPID reads back the same). A failed check
//! panics, which libFuzzer reports as a crash. Not an API: `#[doc(hidden)]`, for `fuzz/` only.

use crate::api;
use crate::filter::PathGlob;
use crate::input::{Lines, MAX_LINE, Progress, Source};
use crate::request::{self, Request};
use crate::source::access;
use crate::source::{spool, task};
use crate::{time, userid};

/// One access.log line, as convert reads it, through to its request and its JSON record: the
/// record of the request joined afresh and the record of it joined from the memo are the same;
/// and a line the screen passes over is a plain GET to the full parse.
pub fn access_line(data: &[u8]) {
    if access::screen::plain_get(data) {
        let line = access::parse(data).expect("a screened line parses");
        assert_eq!(
            request::possible_classes(line.request),
            request::GET_CLASSES,
            "a screened line is a plain GET"
        );
    }
    if let Ok(line) = access::parse(data) {
        let _ = (line.timestamp(), line.user());
        request_line(line.request);
        let time = line.timestamp().unwrap_or_default();
        let origin = crate::event::Origin {
            file: "fuzz",
            line: 1,
        };
        // Parsed each time, as `convert` parses each line: a join is kept by the number the
        // memo of parsed lines gives a line.
        let record = || {
            let request = Request::parse(line.request);
            let event = crate::event::Event::from_request(&line, time, &request, None, origin);
            let mut out = Vec::new();
            crate::render::json::push_record(&mut out, &event, false, false);
            out
        };
        crate::event::forget_joined();
        let afresh = record();
        // Kept the second time, from the memo the third.
        for _ in 0..2 {
            assert_eq!(
                afresh,
                record(),
                "joined from the memo, {:?} is another record",
                String::from_utf8_lossy(data)
            );
        }
    }
}

/// A request line (`METHOD TARGET HTTP/x.y`, as logged): method, class, path, query, route;
/// parsed from the memo of lines seen, it is the request parsed afresh.
pub fn request_line(data: &[u8]) {
    request::forget_shapes();
    let request = Request::parse(data);
    // Kept the second time, from the memo the third.
    for _ in 0..2 {
        assert_eq!(
            format!("{request:?}"),
            format!("{:?}", Request::parse(data)),
            "parsed from the memo, {:?} is another request",
            String::from_utf8_lossy(data)
        );
    }
    assert!(
        request::possible_classes(data).contains(request.class),
        "the pre-check ruled out {:?} for {:?}",
        request.class,
        String::from_utf8_lossy(data)
    );
    let segments = request.segments();
    let _ = (request.query_params(), request.plain_path());
    if request.is_api() {
        let _ = api::match_path(&segments);
    }
}

/// A query string, as pveproxy's `decode_urlencoded` reads it.
pub fn query(data: &[u8]) {
    let _ = request::decode_urlencoded(data);
}

/// A UPID: what parses reads back the same.
pub fn upid(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(upid) = task::parse_upid(text) {
        assert_eq!(task::parse_upid(&upid.text), Ok(upid.clone()), "{text:?}");
    }
}

/// A line of the task index (`index`, `index.1`).
pub fn task_index_line(data: &[u8]) {
    if let Ok(task) = task::parse_index_line(data) {
        upid(task.upid.text.as_bytes());
    }
}

/// A line of the task list `active`.
pub fn task_active_line(data: &[u8]) {
    if let Ok((task, _)) = task::parse_active_line(data) {
        upid(task.upid.text.as_bytes());
    }
}

/// A line of the recorder spool's events file: parsed, rendered as options, and checked
/// against logged requests of each shape the refusal looks at (a body method with a query, a
/// method without a body, another format).
pub fn spool_event(data: &[u8]) {
    let Ok(event) = spool::parse_event(data) else {
        return;
    };
    let _ = spool::options(&event.params);
    let path = crate::join::tasks::normal_path(event.path.as_bytes());
    let query = request::decode_urlencoded(b"digest=abc&a=1&a=2&b=%FF&c");
    for (method, format) in [
        (b"PUT".as_slice(), Some(b"extjs".as_slice())),
        (b"DELETE", Some(b"json")),
        (b"GET", None),
    ] {
        let logged = spool::Logged {
            method,
            path: &path,
            format,
            query: &query,
        };
        let _ = spool::disagreement(&event, &logged);
    }
}

/// A whole input file (plain or gzip, told by its magic bytes; the fuzz target writes the bytes
/// to `path`), split into lines as convert splits it: no line longer than the cap comes out,
/// whatever the input expands to, and a mapped file's lines are its bytes split at newlines.
pub fn input_file(path: &std::path::Path) {
    let Ok(mut lines) = Lines::open(&Source::new(path.to_path_buf()), Progress::default()) else {
        return;
    };
    let mut read = Vec::new();
    while let Ok(true) = lines.advance() {
        assert!(lines.line().len() <= MAX_LINE + 1, "a line past the cap");
        if lines.is_mapped() {
            read.push(lines.line().to_vec());
        }
    }
    // A mapped file's lines (found 64 bytes at a time) are its bytes split at each newline:
    // no empty line after the last newline, the byte order mark off the first.
    if lines.is_mapped() {
        let bytes = std::fs::read(path).unwrap_or_default();
        let mut want: Vec<Vec<u8>> = bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
        if bytes.last() == Some(&b'\n') || bytes.is_empty() {
            want.pop();
        }
        if let Some(first) = want.first_mut() {
            if first.starts_with(b"\xEF\xBB\xBF") {
                first.drain(..3);
            }
        }
        assert_eq!(read, want, "the lines of a mapped file");
    }
}

/// A group of files merged by time (`--rotated`, the fuzz target writes them to `paths`: the
/// input split at NUL bytes, every other file gzip): on one core and two, read in line or
/// ahead, passing over polls or not, the lines come in the order of the merge with every file
/// open from the start, less those passed over.
pub fn history_merge(paths: &[std::path::PathBuf]) {
    let group: Vec<Source> = paths.iter().cloned().map(Source::new).collect();
    crate::merge::check_against_full_merge(&group);
}

/// `--since`/`--until` and `--rotate-wait` values, as a user types them.
pub fn time_arg(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(ts) = time::parse_time_arg(text) {
        let zone = jiff::tz::TimeZone::UTC;
        let printed = time::local_in(ts, &zone);
        // Printed to the second, rounded down (as_second rounds toward zero before 1970).
        let floor = ts.as_second() - i64::from(ts.subsec_nanosecond() < 0);
        assert_eq!(
            time::parse_time_arg(&printed).map(|t| t.as_second()),
            Ok(floor),
            "{text:?} printed as {printed:?}"
        );
    }
    let _ = time::parse_duration(text);
}

/// A `--path` glob (the first line) against a path (the rest).
pub fn path_glob(data: &[u8]) {
    let (pattern, path) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let Ok(pattern) = std::str::from_utf8(pattern) else {
        return;
    };
    let glob = PathGlob::new(pattern);
    let _ = glob.matches(path);
    // A pattern without wildcards or escapes matches the path it spells.
    // A pattern without wildcards or escapes matches the path it spells, unless it starts with
    // `/api2/…`, which the glob drops (a path copied from access.log) and a path never has.
    let api2 = pattern.split('/').find(|s| !s.is_empty()) == Some("api2");
    if !pattern.contains(['*', '?', '\\']) && !api2 {
        assert!(
            glob.matches(pattern.as_bytes()),
            "{pattern:?} does not match itself"
        );
    }
}

/// A user id, as `--user` and the log give it: user and token, the realm-less name.
pub fn user_id(data: &[u8]) {
    let (user, token) = userid::split(data);
    assert!(user.len() + token.map_or(0, |t| t.len() + 1) == data.len() || token.is_none());
    let _ = userid::name(data);
    assert!(userid::selects(data, data) || data.is_empty());
}

/// A `--state` file (the fuzz target writes the bytes to `state`, mode 0600, beside `log`):
/// loaded as a restart loads it, and resumed from when it is taken, against the files beside it.
pub fn state_file(state: &std::path::Path, log: &std::path::Path) {
    use crate::follow::checkpoint::{self, Checkpoint};
    let (_, loaded) = Checkpoint::load(state, log);
    if let Some(loaded) = loaded {
        let resumed = checkpoint::resume(loaded.entries, log);
        let _ = (
            resumed.replay.len(),
            resumed.old.len(),
            resumed.current.is_some(),
        );
    }
}

/// A word as pverec writes it into a command (`word` without NUL bytes, which no argv holds):
/// returned for the fuzz target to read back with bash. What holds in any locale is checked
/// here: no control byte is written raw, `$'…'` holds only ASCII, and a comment line is one
/// line.
pub fn quote_word(word: &[u8]) -> Vec<u8> {
    use crate::render::quote;
    let mut out = Vec::new();
    quote::push_word(&mut out, word);
    assert!(
        !out.iter().any(|&b| b < 0x20 || b == 0x7f),
        "a control byte raw in {:?}",
        String::from_utf8_lossy(&out)
    );
    if out.starts_with(b"$'") {
        assert!(out.is_ascii(), "non-ASCII in $'...': {out:?}");
    }
    let mut comment = Vec::new();
    quote::push_comment_text(&mut comment, word);
    assert!(!comment.contains(&b'\n') && !comment.contains(&b'\r'));
    out
}

/// One journal entry, as `journalctl -o json` prints it or rsyslog writes it: both readers,
/// then the PVE message reader on what they give.
pub fn journal_entry(data: &[u8]) {
    use crate::source::journal;
    let years = journal::Years::new(jiff::Timestamp::UNIX_EPOCH, jiff::tz::TimeZone::UTC);
    for entry in [
        journal::parse_json(data),
        journal::parse_syslog(data, &years),
    ]
    .into_iter()
    .flatten()
    {
        assert!(jiff::Timestamp::from_microsecond(entry.time_us).is_ok());
        said_message(entry.message.as_bytes());
    }
    let _ = journal::sniff(data);
}

/// A PVE program's message: what it says, and the options of a VM change split by the config
/// endpoint's names. A split must give back text that joins to the input again.
pub fn said_message(data: &[u8]) {
    use crate::source::said;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = said::log_msg_text(text);
    for ident in ["pvedaemon", "pveproxy", "qm"] {
        if let Some(said::Said::UpdateVm { args, .. }) = said::parse(ident, text) {
            split_config(&args);
        }
    }
    split_config(text);
}

fn split_config(args: &str) {
    use crate::source::said;
    let segments: Vec<&[u8]> = vec![b"nodes", b"pve1", b"qemu", b"100", b"config"];
    let Some(endpoint) = api::match_path(&segments).and_then(|m| m.template.endpoint(b"PUT"))
    else {
        return;
    };
    if let Ok(split) = said::split_vm_args(args, endpoint) {
        let joined = split
            .params
            .iter()
            .map(|(k, v)| format!("-{k} {v}"))
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            joined == args || joined.trim_end() == args,
            "{args:?} split into {:?}",
            split.params
        );
        assert!(
            split.params.windows(2).all(|w| w[0].0 < w[1].0),
            "keys sorted"
        );
    }
}

/// A backup job's line in its task log: the words as `String::ShellQuote` quotes them.
pub fn task_log_job(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(params) = crate::source::task_log::parse_job(text) {
            assert!(
                params.windows(2).all(|w| w[0].0 <= w[1].0),
                "sorted options"
            );
        }
    }
}

/// /etc/pve's `.vmlist` and a guest config's name line: whatever the bytes, a node name that
/// could leave `nodes/` is never taken, and a name is one line.
pub fn etc_pve_files(data: &[u8]) {
    use crate::source::etc_pve;
    let _ = etc_pve::parse_vmlist(data);
    for lxc in [false, true] {
        if let Some(name) = etc_pve::config_name(data, lxc) {
            assert!(!name.contains('\n') && !name.is_empty() && name.len() <= 255);
        }
    }
}

/// Lines of access.log through the sessions book: the SPICE `CONNECT` target and vncticket
/// parsers on whatever a line holds, and the book's joins, which must never panic nor open a
/// session with a negative duration.
pub fn session_lines(data: &[u8]) {
    let mut book = crate::session::Book::new(false, None);
    for (i, text) in data.split(|&b| b == b'\n').enumerate() {
        let _ = crate::session::parse_spice_target(text);
        let Ok(line) = access::parse(text) else {
            continue;
        };
        let Some(time) = line.timestamp() else {
            continue;
        };
        let request = Request::parse(line.request);
        let origin = crate::event::Origin {
            file: "fuzz",
            line: i as u64 + 1,
        };
        let event = crate::event::Event::from_request(&line, time, &request, None, origin);
        book.event(&event);
    }
    for session in book.finish() {
        assert!(session.duration().is_none_or(|d| d >= 0));
    }
}

/// A config write's body rebuilt from its change (`join::config`): the input's halves are the
/// file before and after a guest config `PUT` (and, the same bytes, a create, an ACL set, a
/// user update, a pool update, a storage add, a firewall rule update), diffed as the watcher
/// diffs them. Whatever the bytes, it never panics, parameters come sorted and once each, and a
/// file that did not change rebuilds nothing, whatever diff comes with it.
pub fn config_rebuild(data: &[u8]) {
    use crate::join::config;
    use crate::source::etc_pve::diff;
    let (before, after) = data.split_at(data.len() / 2);
    let calls = [
        (
            "/nodes/{node}/qemu/{vmid}/config",
            "PUT",
            "/nodes/pve1/qemu/100/config",
            "nodes/pve1/qemu-server/100.conf",
        ),
        (
            "/nodes/{node}/lxc/{vmid}/config",
            "PUT",
            "/nodes/pve1/lxc/100/config",
            "nodes/pve1/lxc/100.conf",
        ),
        (
            "/nodes/{node}/qemu",
            "POST",
            "/nodes/pve1/qemu",
            "nodes/pve1/qemu-server/100.conf",
        ),
        ("/access/acl", "PUT", "/access/acl", "user.cfg"),
        (
            "/access/users/{userid}",
            "PUT",
            "/access/users/a@pve",
            "user.cfg",
        ),
        ("/pools", "PUT", "/pools", "user.cfg"),
        ("/storage", "POST", "/storage", "storage.cfg"),
        (
            "/cluster/firewall/rules/{pos}",
            "PUT",
            "/cluster/firewall/rules/1",
            "firewall/cluster.fw",
        ),
    ];
    for (template, method, path, file) in calls {
        let Some(format) = diff::format_of(file) else {
            panic!("{file} is tracked");
        };
        let changes = diff::diff(format, file, before, after);
        let check = |before: &[u8], after: &[u8]| {
            config::rebuild(
                template,
                method,
                path.as_bytes(),
                file,
                before,
                after,
                &changes,
            )
        };
        if let Some(rebuilt) = check(before, after) {
            assert!(
                rebuilt.params.windows(2).all(|w| w[0].0 < w[1].0),
                "sorted, once each: {rebuilt:?}"
            );
            assert!(
                !rebuilt
                    .params
                    .iter()
                    .any(|(k, _)| k == "digest" || k == "node")
            );
        }
        assert_eq!(check(before, before), None, "{template}: nothing changed");
    }
}

/// Two versions of a file under /etc/pve (the input split in two halves), diffed in every
/// format: no panic, no more than the cap, nothing when both are the same, and every change
/// really one (old and new differ).
pub fn etc_pve_diff(data: &[u8]) {
    use crate::source::etc_pve::diff::{self, Format, MAX_CHANGES};
    use crate::source::etc_pve::{firewall, guest, sections, user_cfg};
    let (old, new) = data.split_at(data.len() / 2);
    for format in [
        Format::Guest { lxc: false },
        Format::Guest { lxc: true },
        Format::UserCfg,
        Format::Sections,
        Format::KeyValue,
        Format::Firewall,
    ] {
        let changes = diff::diff(format, "fuzz", old, new);
        assert!(changes.len() <= MAX_CHANGES);
        for change in &changes {
            assert!(change.is_cut() || change.old != change.new, "{change:?}");
            let _ = diff::is_secret_key(format, change.section.as_deref(), &change.key);
            for value in [&change.old, &change.new].into_iter().flatten() {
                for span in diff::secret_spans(format, change.section.as_deref(), value) {
                    assert!(value.get(span).is_some_and(|s| !s.is_empty()));
                }
            }
        }
        assert!(diff::diff(format, "fuzz", old, old).is_empty());
    }
    let config = guest::parse_guest(new);
    let _ = (
        config.get("name"),
        config.pending(),
        config.snapshots().count(),
    );
    let _ = config.section(Some(guest::CLOUDINIT));
    for record in user_cfg::parse_user_cfg(new) {
        let _ = user_cfg::fields(&record.value);
    }
    for section in sections::parse_sections(new) {
        let _ = (section.name(), section.get("type"));
    }
    let parsed = firewall::parse_firewall(new);
    for (_, rule) in firewall::rules(&parsed, "RULES") {
        let _ = rule.params();
    }
    let _ = diff::format_of(&String::from_utf8_lossy(old));
}

/// A node's answer to the cluster read's script (`source::node::receive`), written into a
/// scratch directory: whatever the bytes, no panic, nothing written outside it, and a file
/// only under a name that was asked for.
pub fn node_answer(data: &[u8]) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "pverec-fuzz-node-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    if std::fs::create_dir(&dir).is_err() {
        return;
    }
    let ask = crate::source::node::Ask {
        rotated: true,
        journal: Some(crate::source::journal::Query::default()),
        pverec: None,
        classes: None,
    };
    let _ = crate::source::node::receive(&mut &data[..], &dir, &ask);
    for entry in walk(&dir) {
        let relative = entry
            .strip_prefix(&dir)
            .unwrap_or(&entry)
            .to_string_lossy()
            .into_owned();
        let allowed = relative == "journal.json"
            || relative == "pveproxy"
            || relative == "tasks"
            || relative.starts_with("pveproxy/access.log")
            || matches!(
                relative.as_str(),
                "tasks/index" | "tasks/index.1" | "tasks/active"
            );
        assert!(allowed, "wrote {relative}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                found.extend(walk(&path));
            }
            found.push(path);
        }
    }
    found
}

/// `/etc/pve/.members` and `--host` values: no panic; what is taken is safe to give ssh.
pub fn cluster_members(data: &[u8]) {
    if let Ok(members) = crate::source::etc_pve::members::parse(data) {
        for node in members.nodes {
            assert!(!node.name.starts_with('-'));
        }
    }
    for line in String::from_utf8_lossy(data).lines() {
        if let Ok(host) = crate::source::node::parse_host(line) {
            assert!(!host.dest.starts_with('-'), "{host:?}");
            assert!(
                host.dest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"@.:-_".contains(&b)),
                "{host:?}"
            );
        }
    }
}

/// The fold of proxied hops over lines of two nodes (even lines pve1's, odd lines pve2's;
/// 10.0.0.1 and 10.0.0.2 their addresses): every hop held is given back or folded, never lost.
pub fn proxied_hops(data: &[u8]) {
    use crate::join::hops::{Hops, Step};
    use std::rc::Rc;
    let pve1: Rc<str> = Rc::from("pve1");
    let pve2: Rc<str> = Rc::from("pve2");
    let members = [
        (
            Rc::clone(&pve1),
            "10.0.0.1"
                .parse()
                .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])),
        ),
        (
            Rc::clone(&pve2),
            "10.0.0.2"
                .parse()
                .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])),
        ),
    ];
    let mut hops = Hops::new(&members, &[Rc::clone(&pve1), Rc::clone(&pve2)]);
    let file: Rc<str> = Rc::from("fuzz");
    let (mut held, mut passed, mut folded_here) = (0u64, 0u64, 0u64);
    for (i, text) in data.split(|&b| b == b'\n').enumerate() {
        let node = if i % 2 == 0 { &pve1 } else { &pve2 };
        let now = access::parse(text)
            .ok()
            .and_then(|l| l.timestamp())
            .map(|t| t.as_second());
        while hops.due(now).is_some() {
            passed += 1;
        }
        match hops.take(node, &file, i as u64 + 1, text) {
            Step::Held => held += 1,
            Step::Folded => folded_here += 1,
            Step::Pass(_) => {}
        }
    }
    while hops.due(None).is_some() {
        passed += 1;
    }
    assert!(hops.folded >= folded_here);
    // Each held hop was given back or folded into an origin.
    assert_eq!(
        held,
        passed + (hops.folded - folded_here),
        "a held hop was lost"
    );
}

/// The sinks on arbitrary bytes: the first line as a `--to` value (a target that parses names
/// itself back), the rest as an output line. Its syslog message holds no control byte and its
/// journal entry reads back with the line as MESSAGE.
pub fn sink_message(data: &[u8]) {
    use crate::sink::{Record, Target, journal, syslog};
    let (first, line) = match data.iter().position(|b| *b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &data[..0]),
    };
    if let Ok(target) = Target::parse(&String::from_utf8_lossy(first)) {
        assert_eq!(Target::parse(&target.value()), Ok(target.clone()));
    }
    // An output line never holds a newline; one that would is cut there by the sink.
    let line = line.split(|b| *b == b'\n').next().unwrap_or_default();
    let record = Record::of_line(line);
    let message = syslog::message(b"{}", &record, "here", 1);
    assert!(
        !message.iter().any(|b| *b < 0x20 || *b == 0x7f),
        "{message:?}"
    );
    let entry = journal::entry(line, &record);
    let fields = journal::read_entry(&entry).expect("an entry reads back");
    assert_eq!(
        fields.first().map(|(n, v)| (n.as_str(), v.as_slice())),
        Some(("MESSAGE", line))
    );
}

#[cfg(test)]
mod tests {
    /// The checks of the `access_line` target hold on every line of the plain logs shipped
    /// as fixtures (the target's seeds), the screen's among them.
    #[test]
    fn the_access_line_checks_hold_on_the_fixture_logs() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        let mut lines = 0;
        for log in [
            "access.log",
            "access.log.1",
            "odd-forms.log",
            "journal/access.log",
            "tasks/access.log",
            "sessions/access.log",
            "history/access.log",
            "history/access.log.1",
        ] {
            let text = std::fs::read(root.join(log)).unwrap();
            for line in text.split(|&b| b == b'\n') {
                super::access_line(line);
                lines += 1;
            }
        }
        assert!(lines > 100, "{lines} lines");
    }

    /// The checks of the `input_file` target hold on files of any layout of line ends: a
    /// byte order mark, no newline at the end, empty lines, lines across 64-byte blocks.
    #[test]
    fn the_input_file_checks_hold_on_line_end_layouts() {
        let dir = tempfile::tempdir().unwrap();
        let long = "x".repeat(150);
        for (i, text) in [
            String::new(),
            "\n".to_string(),
            "\u{feff}first\nsecond".to_string(),
            format!("{long}\n\n{long}\n"),
            format!("a\n{long}\nb\n\n\nc"),
        ]
        .iter()
        .enumerate()
        {
            let path = dir.path().join(format!("log{i}"));
            std::fs::write(&path, text).unwrap();
            super::input_file(&path);
        }
        super::input_file(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/access.log"),
        );
    }
}
