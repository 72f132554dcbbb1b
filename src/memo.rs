//! What is derived from a request line alone, kept for the lines a log repeats.
//!
//! A log is mostly the web UI's polling: the same few request lines, over and over. Taking such a
//! line apart, joining it with the schema and rendering its record's request fields give the same
//! result each time, so [`LineMemo`] keeps them by line. It keeps a line's entry only once the
//! line has been seen twice (a log of ever new lines, a scan or unique task polls, costs a hash a
//! line and no entries), and at most [`MOST`] entries: when full it is emptied, so memory stays
//! bounded however long the log or the `follow`. Keys are attacker-controlled request lines, so
//! they are hashed with foldhash seeded at random (SipHash made hashing two thirds of a memo's
//! cost).

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;

use foldhash::fast::RandomState;

/// The most entries a memo holds.
pub(crate) const MOST: usize = 1024;

/// The most lines remembered as seen once, before that list is emptied.
const SEEN_MOST: usize = 4 * MOST;

/// Entries by request line.
pub(crate) struct LineMemo<V> {
    entries: HashMap<Box<[u8]>, V, RandomState>,
    /// Hashes of the lines seen once and not kept.
    seen: HashSet<u64, RandomState>,
}

impl<V> Default for LineMemo<V> {
    fn default() -> LineMemo<V> {
        LineMemo {
            entries: HashMap::default(),
            seen: HashSet::default(),
        }
    }
}

impl<V> LineMemo<V> {
    pub(crate) fn get(&self, line: &[u8]) -> Option<&V> {
        self.entries.get(line)
    }

    /// After `get` found nothing: whether `line` was seen before, so that an entry for it is
    /// worth making ([`LineMemo::keep`]). The first time it is only remembered as seen.
    pub(crate) fn seen_before(&mut self, line: &[u8]) -> bool {
        let hash = self.seen.hasher().hash_one(line);
        if self.seen.remove(&hash) {
            return true;
        }
        if self.seen.len() >= SEEN_MOST {
            self.seen.clear();
        }
        self.seen.insert(hash);
        false
    }

    /// Keeps `entry` for `line`, emptying the memo first when it is full.
    pub(crate) fn keep(&mut self, line: &[u8], entry: V) {
        if self.entries.len() >= MOST {
            self.entries.clear();
        }
        self.entries.insert(line.into(), entry);
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.seen.clear();
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_kept_from_its_second_time_and_the_memo_stays_bounded() {
        let mut memo = LineMemo::default();
        assert!(!memo.seen_before(b"GET / HTTP/1.1"));
        assert!(memo.seen_before(b"GET / HTTP/1.1"));
        memo.keep(b"GET / HTTP/1.1", 1);
        assert_eq!(memo.get(b"GET / HTTP/1.1"), Some(&1));
        for n in 0..10 * MOST {
            let line = format!("GET /{n} HTTP/1.1");
            if memo.seen_before(line.as_bytes()) {
                memo.keep(line.as_bytes(), n);
            }
            assert!(memo.len() <= MOST && memo.seen.len() <= SEEN_MOST);
        }
        // Lines seen once only were never kept.
        assert_eq!(memo.get(b"GET /7 HTTP/1.1"), None);
        memo.clear();
        assert_eq!(memo.len(), 0);
    }
}
