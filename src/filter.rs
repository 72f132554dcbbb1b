//! Which events to show: `--user`, `--class`/`--all`, `--since`/`--until`, `--outcome`,
//! `--vmid`, `--path`.
//!
//! The filter is asked before an event is built, with the cheapest test first (class, then
//! user, then time), so that the lines a run does not show, usually the web UI's polling, cost
//! almost nothing. What only a built and joined event knows (its outcome, its guest, its path
//! and template) is asked last, once the sources are joined: a request that is not shown still
//! takes its task and its spool event, so that they are not shown as left over.
//!
//! `--user` also keeps, while some USER has matched no line, the distinct users the input
//! names, so that a misspelt USER can be reported with the nearest ones at the end.

use std::collections::HashSet;

use jiff::Timestamp;

use crate::cli::{OutcomeFilter, SelectArgs};
use crate::event::{self, Event, Outcome};
use crate::messages;
use crate::request::{Class, ClassSet};
use crate::userid;

#[derive(Debug, Clone)]
pub(crate) struct Filter {
    users: Vec<Vec<u8>>,
    /// The users seen, while some of `users` matched none.
    tally: Option<UserTally>,
    classes: ClassSet,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
    /// The outcomes wanted, one bit each ([`outcome_bit`]).
    outcomes: u8,
    vmids: Vec<Vec<u8>>,
    paths: Vec<PathGlob>,
}

/// What `--user` has seen of the input's users.
#[derive(Debug, Clone, Default)]
struct UserTally {
    /// Per `--user`, whether some line named a user it selects.
    matched: Vec<bool>,
    /// The distinct user and token ids seen, up to [`UserTally::KEPT`].
    seen: HashSet<Vec<u8>>,
    /// The last id looked at: a log names the same user on many lines in a row.
    last: Vec<u8>,
}

impl UserTally {
    /// Enough for any real cluster's users; a log of garbage cannot grow it further.
    const KEPT: usize = 10_000;
}

const ALL_OUTCOMES: u8 = 0b1_1111;

fn outcome_bit(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Success => 1,
        Outcome::Failure => 1 << 1,
        Outcome::Unknown => 1 << 2,
        Outcome::Pending => 1 << 3,
        Outcome::NotExecuted => 1 << 4,
    }
}

impl Filter {
    pub(crate) fn new(args: &SelectArgs) -> Filter {
        let classes = if args.all {
            ClassSet::all()
        } else if args.class.is_empty() {
            let mut set = ClassSet::default();
            set.insert(Class::Write);
            set
        } else {
            let mut set = ClassSet::default();
            args.class.iter().for_each(|c| set.insert(*c));
            set
        };
        let outcomes = args.outcome.iter().fold(0, |bits, o| {
            bits | match o {
                OutcomeFilter::Success => outcome_bit(Outcome::Success),
                OutcomeFilter::Failure => outcome_bit(Outcome::Failure),
                OutcomeFilter::Unknown => outcome_bit(Outcome::Unknown),
                OutcomeFilter::Pending => outcome_bit(Outcome::Pending),
                OutcomeFilter::NotExecuted => outcome_bit(Outcome::NotExecuted),
                OutcomeFilter::Any => ALL_OUTCOMES,
            }
        });
        let users: Vec<Vec<u8>> = args.users.iter().map(|u| u.as_bytes().to_vec()).collect();
        Filter {
            tally: (!users.is_empty()).then(|| UserTally {
                matched: vec![false; users.len()],
                ..UserTally::default()
            }),
            users,
            classes,
            since: args.since,
            until: args.until,
            outcomes: if outcomes == 0 {
                ALL_OUTCOMES
            } else {
                outcomes
            },
            vmids: args.vmid.iter().map(|v| v.as_bytes().to_vec()).collect(),
            paths: args.paths.iter().map(|p| PathGlob::new(p)).collect(),
        }
    }

    /// The classes shown.
    pub(crate) fn classes(&self) -> ClassSet {
        self.classes
    }

    pub(crate) fn wants_class(&self, class: Class) -> bool {
        self.classes.contains(class)
    }

    /// Whether any of these classes is wanted: the cheap first test on a raw request line.
    pub(crate) fn wants_any(&self, classes: ClassSet) -> bool {
        self.classes.intersects(classes)
    }

    /// `alice@pve` matches the user and its tokens (`alice@pve!ci`); a token id matches itself;
    /// `alice` matches alice in every realm.
    pub(crate) fn wants_user(&self, user: Option<&[u8]>) -> bool {
        if self.users.is_empty() {
            return true;
        }
        let Some(user) = user else { return false };
        self.users.iter().any(|want| userid::selects(want, user))
    }

    /// Whether no `--user` was given (records without a user, like a change in /etc/pve that
    /// no request explains, are shown only then).
    pub(crate) fn users_unset(&self) -> bool {
        self.users.is_empty()
    }

    /// Notes a user the input names, whether shown or not. Costs one comparison once every
    /// `--user` has matched (or none was given).
    pub(crate) fn note_user(&mut self, user: Option<&[u8]>) {
        let (Some(tally), Some(user)) = (&mut self.tally, user) else {
            return;
        };
        if tally.last == user {
            return;
        }
        tally.last.clear();
        tally.last.extend_from_slice(user);
        for (want, matched) in self.users.iter().zip(tally.matched.iter_mut()) {
            *matched = *matched || userid::selects(want, user);
        }
        if tally.matched.iter().all(|&m| m) {
            self.tally = None;
        } else if tally.seen.len() < UserTally::KEPT && !tally.seen.contains(user) {
            tally.seen.insert(user.to_vec());
        }
    }

    /// Says on stderr which `--user` matched no line of the input, with the nearest users seen.
    pub(crate) fn report_unmatched_users(&self) {
        let Some(tally) = &self.tally else { return };
        for (want, _) in self
            .users
            .iter()
            .zip(&tally.matched)
            .filter(|(_, matched)| !**matched)
        {
            let want = String::from_utf8_lossy(want);
            messages::message(&format!(
                "--user {want} matched no request; {}",
                suggest(&want, &tally.seen)
            ));
        }
    }

    /// `--outcome`: asked last, once the sources are joined.
    pub(crate) fn wants_outcome(&self, outcome: Outcome) -> bool {
        self.outcomes & outcome_bit(outcome) != 0
    }

    /// Whether a request whose task still runs is held back until the task ends: when pending
    /// is not wanted, but what a task ends as is.
    pub(crate) fn holds_pending(&self) -> bool {
        !self.wants_outcome(Outcome::Pending)
            && (self.wants_outcome(Outcome::Success) || self.wants_outcome(Outcome::Failure))
    }

    pub(crate) fn wants_time(&self, time: Timestamp) -> bool {
        self.since.is_none_or(|s| time >= s) && self.until.is_none_or(|u| time < u)
    }

    /// `--vmid` and `--path`: asked of a built and joined event.
    pub(crate) fn wants_event(&self, event: &Event<'_>) -> bool {
        (self.vmids.is_empty() || self.wants_guest(event))
            && (self.paths.is_empty() || self.wants_path(event))
    }

    /// Whether the event is about one of the `--vmid` guests: its object, the guest of its path,
    /// its `vmid` parameter (a list for vzdump), or the guest of its task.
    fn wants_guest(&self, event: &Event<'_>) -> bool {
        let wanted = |id: &[u8]| self.vmids.iter().any(|v| v == id);
        let is_guest = |kind: &str| matches!(kind, "qemu" | "lxc" | "vmid");
        if let Some(object) = &event.object {
            if is_guest(object.kind) && wanted(&object.id) {
                return true;
            }
        }
        if let Some(path) = &event.path {
            let mut segments = path.split(|&b| b == b'/');
            while let Some(segment) = segments.next() {
                if matches!(segment, b"qemu" | b"lxc") && segments.next().is_some_and(wanted) {
                    return true;
                }
            }
        }
        let in_params = event.params.iter().any(|p| {
            p.key.as_ref() == b"vmid"
                && p.value
                    .split(|&b| matches!(b, b',' | b' ' | b';'))
                    .any(wanted)
        });
        in_params
            || event
                .task
                .as_ref()
                .and_then(|task| event::task_object(&task.upid))
                .is_some_and(|o| is_guest(o.kind) && wanted(&o.id))
    }

    fn wants_path(&self, event: &Event<'_>) -> bool {
        self.paths.iter().any(|glob| {
            event.path.as_deref().is_some_and(|p| glob.matches(p))
                || event.template.is_some_and(|t| glob.matches(t.as_bytes()))
        })
    }
}

/// The end of the "matched no request" warning: the nearest users seen, by edit distance.
fn suggest(want: &str, seen: &HashSet<Vec<u8>>) -> String {
    if seen.is_empty() {
        return "the input names no user".to_string();
    }
    // A name without a realm is compared with the names seen, anything else with the ids and
    // the users of the tokens seen.
    let realmless = !want.contains('@');
    let mut candidates: Vec<String> = seen
        .iter()
        .flat_map(|id| {
            if realmless {
                vec![userid::name(id)]
            } else {
                vec![id.as_slice(), userid::split(id).0]
            }
        })
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    candidates.sort_by_cached_key(|c| (strsim::levenshtein(want, c), c.clone()));
    let best = strsim::levenshtein(want, &candidates[0]);
    let close = best <= (want.chars().count() / 3).max(2);
    let shown: Vec<&str> = candidates
        .iter()
        .take_while(|c| !close || strsim::levenshtein(want, c) == best)
        .take(3)
        .map(String::as_str)
        .collect();
    let list = match shown.as_slice() {
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
        [] => String::new(),
    };
    if close {
        format!("did you mean {list}?")
    } else {
        format!("the nearest users seen are {list}")
    }
}

/// A `--path` glob, split into segments as a path is (empty segments dropped, as pvesh and the
/// API router drop them), so that `*` never crosses a `/`.
///
/// A small matcher rather than the globset crate: paths are bytes (not always UTF-8), a template
/// holds `{braces}` that globset would take as alternatives, and `*`, `**`, `?` and a backslash
/// are all that a path needs.
#[derive(Debug, Clone)]
pub(crate) struct PathGlob {
    segments: Vec<GlobSegment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum GlobSegment {
    /// `**`: any number of whole segments.
    Any,
    /// One segment: literal bytes and the wildcards `*` and `?`.
    One(Vec<GlobByte>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GlobByte {
    Literal(u8),
    /// `?`: one character (one byte, or one UTF-8 sequence).
    AnyChar,
    /// `*`: any bytes within the segment.
    AnyBytes,
}

impl PathGlob {
    pub(crate) fn new(pattern: &str) -> PathGlob {
        let mut segments: Vec<GlobSegment> = Vec::new();
        let mut current: Vec<GlobByte> = Vec::new();
        let mut quoted = false;
        let finish = |current: &mut Vec<GlobByte>, segments: &mut Vec<GlobSegment>| {
            let segment = std::mem::take(current);
            if segment == [GlobByte::AnyBytes, GlobByte::AnyBytes] {
                if segments.last() != Some(&GlobSegment::Any) {
                    segments.push(GlobSegment::Any);
                }
            } else if !segment.is_empty() {
                segments.push(GlobSegment::One(segment));
            }
        };
        for &b in pattern.as_bytes() {
            let byte = match b {
                _ if quoted => GlobByte::Literal(b),
                b'\\' => {
                    quoted = true;
                    continue;
                }
                b'/' => {
                    finish(&mut current, &mut segments);
                    continue;
                }
                b'*' => GlobByte::AnyBytes,
                b'?' => GlobByte::AnyChar,
                _ => GlobByte::Literal(b),
            };
            quoted = false;
            current.push(byte);
        }
        if quoted {
            current.push(GlobByte::Literal(b'\\'));
        }
        finish(&mut current, &mut segments);
        // A leading /api2/FORMAT, as access.log shows a path, is not part of the pvesh path.
        if matches!(segments.first(), Some(GlobSegment::One(s)) if *s == literal(b"api2"))
            && segments.len() > 1
        {
            segments.drain(..2);
        }
        PathGlob { segments }
    }

    pub(crate) fn matches(&self, path: &[u8]) -> bool {
        let parts: Vec<&[u8]> = path
            .split(|&b| b == b'/')
            .filter(|s| !s.is_empty())
            .collect();
        // reachable[j]: the glob so far matches the first j segments of the path.
        let mut reachable = vec![false; parts.len() + 1];
        reachable[0] = true;
        for segment in &self.segments {
            let mut next = vec![false; parts.len() + 1];
            match segment {
                GlobSegment::Any => {
                    let mut on = false;
                    for j in 0..=parts.len() {
                        on = on || reachable[j];
                        next[j] = on;
                    }
                }
                GlobSegment::One(glob) => {
                    for j in 0..parts.len() {
                        next[j + 1] = reachable[j] && segment_matches(glob, parts[j]);
                    }
                }
            }
            reachable = next;
            if !reachable.contains(&true) {
                return false;
            }
        }
        reachable[parts.len()]
    }
}

fn literal(text: &[u8]) -> Vec<GlobByte> {
    text.iter().map(|&b| GlobByte::Literal(b)).collect()
}

/// Whether one segment matches: `*` any bytes, `?` one character, the rest exactly. The classic
/// two-pointer walk, going back to the last `*` on a mismatch (linear for a single `*`).
fn segment_matches(glob: &[GlobByte], text: &[u8]) -> bool {
    let (mut g, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match glob.get(g) {
            Some(GlobByte::AnyBytes) => {
                star = Some((g, t));
                g += 1;
                continue;
            }
            Some(GlobByte::AnyChar) => {
                g += 1;
                t += char_len(&text[t..]);
                continue;
            }
            Some(GlobByte::Literal(b)) if *b == text[t] => {
                g += 1;
                t += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((sg, st)) => {
                g = sg + 1;
                t = st + 1;
                star = Some((sg, st + 1));
            }
            None => return false,
        }
    }
    glob[g.min(glob.len())..]
        .iter()
        .all(|b| *b == GlobByte::AnyBytes)
}

/// The length of the character at the start of `text`: a whole UTF-8 sequence, else one byte.
fn char_len(text: &[u8]) -> usize {
    let n = match text.first() {
        Some(b) if *b >= 0xf0 => 4,
        Some(b) if *b >= 0xe0 => 3,
        Some(b) if *b >= 0xc0 => 2,
        _ => 1,
    };
    match text.get(..n).map(std::str::from_utf8) {
        Some(Ok(_)) => n,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn select(users: &[&str]) -> SelectArgs {
        SelectArgs {
            users: users.iter().map(|s| s.to_string()).collect(),
            class: vec![],
            all: false,
            since: None,
            until: None,
            outcome: vec![],
            vmid: vec![],
            paths: vec![],
        }
    }

    fn filter(users: &[&str]) -> Filter {
        Filter::new(&select(users))
    }

    #[test]
    fn user_matches_its_tokens_but_a_token_only_itself() {
        let f = filter(&["alice@pve"]);
        assert!(f.wants_user(Some(b"alice@pve")));
        assert!(f.wants_user(Some(b"alice@pve!ci")));
        assert!(!f.wants_user(Some(b"alice@pvex")));
        assert!(!f.wants_user(Some(b"bob@pve")));
        assert!(!f.wants_user(None));
        let f = filter(&["alice@pve!ci"]);
        assert!(f.wants_user(Some(b"alice@pve!ci")));
        assert!(!f.wants_user(Some(b"alice@pve")));
        assert!(!f.wants_user(Some(b"alice@pve!ci2")));
        assert!(filter(&[]).wants_user(None));
        let f = filter(&["alice"]);
        assert!(f.wants_user(Some(b"alice@pam")));
        assert!(f.wants_user(Some(b"alice@ldap!t")));
        assert!(!f.wants_user(Some(b"bob@pam")));
    }

    #[test]
    fn the_tally_stops_once_every_user_matched() {
        let mut f = filter(&["alice@pve", "bob"]);
        f.note_user(Some(b"root@pam"));
        f.note_user(Some(b"alice@pve!ci"));
        assert!(f.tally.as_ref().is_some_and(|t| t.matched == [true, false]));
        f.note_user(Some(b"bob@ldap"));
        assert!(f.tally.is_none());
    }

    #[test]
    fn suggestions_are_the_nearest_users() {
        let seen: HashSet<Vec<u8>> = ["alice@pve", "bob@pve", "automation@pve!ci", "root@pam"]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect();
        assert_eq!(suggest("alise@pve", &seen), "did you mean alice@pve?");
        assert_eq!(
            suggest("automation@pve!cj", &seen),
            "did you mean automation@pve!ci?"
        );
        assert_eq!(suggest("alise", &seen), "did you mean alice?");
        assert_eq!(
            suggest("zzzzzzzzzzzz@ldap", &seen),
            "the nearest users seen are root@pam, alice@pve or automation@pve"
        );
        assert_eq!(suggest("x@pve", &HashSet::new()), "the input names no user");
    }

    #[test]
    fn outcomes_combine_and_pending_is_held_only_for_a_task_outcome() {
        let with = |outcome: Vec<OutcomeFilter>| {
            Filter::new(&SelectArgs {
                outcome,
                ..select(&[])
            })
        };
        let f = with(vec![]);
        assert!(f.wants_outcome(Outcome::NotExecuted) && !f.holds_pending());
        let f = with(vec![OutcomeFilter::Failure, OutcomeFilter::Unknown]);
        assert!(f.wants_outcome(Outcome::Unknown) && f.wants_outcome(Outcome::Failure));
        assert!(!f.wants_outcome(Outcome::Success) && !f.wants_outcome(Outcome::Pending));
        assert!(f.holds_pending());
        let f = with(vec![OutcomeFilter::Failure, OutcomeFilter::Pending]);
        assert!(!f.holds_pending());
        let f = with(vec![OutcomeFilter::Unknown]);
        assert!(!f.holds_pending());
        let f = with(vec![OutcomeFilter::NotExecuted, OutcomeFilter::Any]);
        assert!(f.wants_outcome(Outcome::Pending));
    }

    #[test]
    fn default_class_is_write() {
        let f = filter(&[]);
        assert!(f.wants_class(Class::Write));
        assert!(!f.wants_class(Class::Read));
    }

    #[test]
    fn time_window_is_half_open() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let f = Filter::new(&SelectArgs {
            all: true,
            since: Some(t("2026-06-24T12:00:00Z")),
            until: Some(t("2026-06-24T13:00:00Z")),
            ..select(&[])
        });
        assert!(f.wants_time(t("2026-06-24T12:00:00Z")));
        assert!(!f.wants_time(t("2026-06-24T13:00:00Z")));
        assert!(!f.wants_time(t("2026-06-24T11:59:59Z")));
    }

    #[test]
    fn path_globs() {
        let m = |glob: &str, path: &str| PathGlob::new(glob).matches(path.as_bytes());
        assert!(m("/nodes/*/qemu/*/config", "/nodes/pve1/qemu/100/config"));
        assert!(m(
            "/nodes/*/qemu/*/config",
            "/nodes/{node}/qemu/{vmid}/config"
        ));
        assert!(!m(
            "/nodes/*/qemu/*/config",
            "/nodes/pve1/qemu/100/status/start"
        ));
        assert!(!m("/nodes/*/config", "/nodes/pve1/qemu/100/config"));
        assert!(m("/nodes/**/config", "/nodes/pve1/qemu/100/config"));
        assert!(m("/nodes/**", "/nodes"));
        assert!(m("**/status/*", "/nodes/pve1/lxc/300/status/start"));
        assert!(m(
            "/nodes/pve?/qemu/1*/status/st*",
            "/nodes/pve1/qemu/100/status/start"
        ));
        assert!(!m("/nodes/pve?", "/nodes/pve10"));
        assert!(m("/api2/json/access/users", "/access/users"));
        assert!(m("/access//users/", "/access/users"));
        assert!(m("/nodes/{node}/qemu", "/nodes/{node}/qemu"));
        assert!(!m("/nodes/{node}/qemu", "/nodes/pve1/qemu"));
        assert!(m("/a/\\*", "/a/*"));
        assert!(!m("/a/\\*", "/a/b"));
        assert!(m("/a/?", "/a/\u{e9}"));
        assert!(m("/", "/"));
        assert!(!m("/", "/a"));
        assert!(m("*a*b*c", "xaybzc"));
        assert!(!m("*a*b*c", "xaybzcd"));
    }

    proptest! {
        /// A glob never panics, `**` matches every path, a path matches itself as a glob when it
        /// has no wildcard, and `*` never crosses a `/`.
        #[test]
        fn globs_are_total_and_segmented(glob in "[a-z*?/\\\\{}]{0,16}", path in "[a-z/{}*?\u{e9}]{0,16}") {
            let _ = PathGlob::new(&glob).matches(path.as_bytes());
            prop_assert!(PathGlob::new("**").matches(path.as_bytes()));
            if !path.contains(['*', '?']) {
                prop_assert!(PathGlob::new(&path).matches(path.as_bytes()));
            }
            let segments = path.split('/').filter(|s| !s.is_empty()).count();
            if segments != 1 {
                prop_assert!(!PathGlob::new("*").matches(path.as_bytes()));
            }
        }
    }
}
