//! Which events to show: `--user`, `--class`/`--all`, `--since`/`--until`.
//!
//! The filter is asked before an event is built, with the cheapest test first (class, then
//! user, then time), so that the lines a run does not show, usually the web UI's polling, cost
//! almost nothing.

use jiff::Timestamp;

use crate::cli::{OutcomeFilter, SelectArgs};
use crate::event::Outcome;
use crate::request::{Class, ClassSet};
use crate::userid;

#[derive(Debug, Clone)]
pub(crate) struct Filter {
    users: Vec<Vec<u8>>,
    classes: ClassSet,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
    pub(crate) outcome: OutcomeFilter,
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
        Filter {
            users: args.users.iter().map(|u| u.as_bytes().to_vec()).collect(),
            classes,
            since: args.since,
            until: args.until,
            outcome: args.outcome,
        }
    }

    pub(crate) fn wants_class(&self, class: Class) -> bool {
        self.classes.contains(class)
    }

    /// Whether any of these classes is wanted: the cheap first test on a raw request line.
    pub(crate) fn wants_any(&self, classes: ClassSet) -> bool {
        self.classes.intersects(classes)
    }

    /// `alice@pve` matches the user and its tokens (`alice@pve!ci`); a token id matches itself.
    pub(crate) fn wants_user(&self, user: Option<&[u8]>) -> bool {
        if self.users.is_empty() {
            return true;
        }
        let Some(user) = user else { return false };
        self.users.iter().any(|want| userid::selects(want, user))
    }

    /// `--outcome`: asked last, once the sources are joined.
    pub(crate) fn wants_outcome(&self, outcome: Outcome) -> bool {
        match self.outcome {
            OutcomeFilter::Any => true,
            OutcomeFilter::Success => outcome == Outcome::Success,
            OutcomeFilter::Failure => outcome == Outcome::Failure,
        }
    }

    pub(crate) fn wants_time(&self, time: Timestamp) -> bool {
        self.since.is_none_or(|s| time >= s) && self.until.is_none_or(|u| time < u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(users: &[&str]) -> Filter {
        Filter::new(&SelectArgs {
            users: users.iter().map(|s| s.to_string()).collect(),
            class: vec![],
            all: false,
            since: None,
            until: None,
            outcome: OutcomeFilter::Any,
        })
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
            users: vec![],
            class: vec![],
            all: true,
            since: Some(t("2026-06-24T12:00:00Z")),
            until: Some(t("2026-06-24T13:00:00Z")),
            outcome: OutcomeFilter::Any,
        });
        assert!(f.wants_time(t("2026-06-24T12:00:00Z")));
        assert!(!f.wants_time(t("2026-06-24T13:00:00Z")));
        assert!(!f.wants_time(t("2026-06-24T11:59:59Z")));
    }
}
