//! What is derived from a request line alone, kept for the lines a log repeats.
//!
//! A log is mostly the web UI's polling: the same few request lines, over and over. Taking such a
//! line apart, joining it with the schema and rendering its record's request fields give the same
//! result each time, so they are kept by line. A line is kept only once it has been seen twice
//! ([`Seen`]: a log of ever new lines, a scan or unique task polls, costs a hash a line and no
//! entries), and a [`Memo`] holds at most [`MOST`] entries in each of its two generations, so
//! memory stays bounded however long the log or the `follow`. Keys are attacker-controlled request
//! lines, so they are hashed with foldhash seeded at random (SipHash made hashing two thirds of a
//! memo's cost).
//!
//! A line is looked up once: [`crate::request::Request::parse`] finds its shape and the
//! [`Serial`] it was given when kept, and what is derived later (the schema join, the rendered
//! fields) is kept by that number, whose hash and comparison cost nothing like the line's.

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hash};
use std::num::NonZeroU64;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use foldhash::fast::RandomState;

/// The most entries each generation of a memo holds.
pub(crate) const MOST: usize = 1024;

/// The most lines remembered as seen once, before that list is emptied.
const SEEN_MOST: usize = 4 * MOST;

/// Entries by key, in two generations: a lookup that finds an entry in the older one moves it to
/// the recent one, and when the recent one is full it becomes the older one (the older one's
/// entries not used since are dropped). So the lines polled all the time stay kept however many
/// others come and go, which emptying a full memo at once did not do (every line was joined and
/// rendered afresh twice after each emptying), and the memo never holds more than `2 * MOST`.
pub(crate) struct Memo<K, V> {
    recent: HashMap<K, V, RandomState>,
    older: HashMap<K, V, RandomState>,
}

impl<K, V> Default for Memo<K, V> {
    fn default() -> Memo<K, V> {
        Memo {
            recent: HashMap::default(),
            older: HashMap::default(),
        }
    }
}

impl<K: Hash + Eq, V> Memo<K, V> {
    /// What `read` makes of the entry for `key`, if there is one.
    pub(crate) fn read<Q, R>(&mut self, key: &Q, read: impl FnOnce(&V) -> R) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Some(value) = self.recent.get(key) {
            return Some(read(value));
        }
        let (key, value) = self.older.remove_entry(key)?;
        let read = read(&value);
        self.keep(key, value);
        Some(read)
    }

    /// Keeps `value` for `key` in the recent generation, which becomes the older one first when
    /// it is full.
    pub(crate) fn keep(&mut self, key: K, value: V) {
        if self.recent.len() >= MOST {
            self.older = std::mem::take(&mut self.recent);
        }
        self.recent.insert(key, value);
    }

    pub(crate) fn clear(&mut self) {
        self.recent.clear();
        self.older.clear();
    }

    /// How many entries are held, in both generations.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.recent.len() + self.older.len()
    }
}

/// The lines seen once, by hash: whether a line not in a memo is worth an entry.
#[derive(Default)]
pub(crate) struct Seen {
    hashes: HashSet<u64, RandomState>,
}

impl Seen {
    /// Whether `line` was seen before (then it is forgotten here, as it is about to be kept);
    /// the first time it is only remembered.
    pub(crate) fn before(&mut self, line: &[u8]) -> bool {
        let hash = self.hashes.hasher().hash_one(line);
        if self.hashes.remove(&hash) {
            return true;
        }
        if self.hashes.len() >= SEEN_MOST {
            self.hashes.clear();
        }
        self.hashes.insert(hash);
        false
    }

    pub(crate) fn clear(&mut self) {
        self.hashes.clear();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.hashes.len()
    }
}

/// Where `part` is in `line`, when its bytes are the line's own (a slice of it, not a copy):
/// what the memos keep of a line's parts, positions that fit the next line of the same bytes.
pub(crate) fn within(part: &[u8], line: &[u8]) -> Option<Range<usize>> {
    let start = (part.as_ptr() as usize).wrapping_sub(line.as_ptr() as usize);
    (start <= line.len() && part.len() <= line.len() - start).then_some(start..start + part.len())
}

/// The number a line was given when it was kept: unique in the process (every thread draws from
/// one counter), so it names that line for whatever is derived from it later. It is not part of
/// what a request is: its `Debug` shows none, and a request parsed afresh has none.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub(crate) struct Serial(Option<NonZeroU64>);

impl Serial {
    /// A number never given before.
    pub(crate) fn next() -> Serial {
        static LAST: AtomicU64 = AtomicU64::new(0);
        Serial(NonZeroU64::new(LAST.fetch_add(1, Ordering::Relaxed) + 1))
    }

    /// The number, if the line has one.
    pub(crate) fn get(self) -> Option<NonZeroU64> {
        self.0
    }
}

impl std::fmt::Debug for Serial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("_")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_kept_from_its_second_time_and_the_memo_stays_bounded() {
        let mut memo: Memo<Box<[u8]>, usize> = Memo::default();
        let mut seen = Seen::default();
        assert!(!seen.before(b"GET / HTTP/1.1"));
        assert!(seen.before(b"GET / HTTP/1.1"));
        memo.keep((*b"GET / HTTP/1.1").into(), 1);
        assert_eq!(memo.read(&b"GET / HTTP/1.1"[..], |v| *v), Some(1));
        for n in 0..10 * MOST {
            let line = format!("GET /{n} HTTP/1.1");
            if seen.before(line.as_bytes()) {
                memo.keep(line.as_bytes().into(), n);
            }
            // The line polled all the time stays.
            assert_eq!(memo.read(&b"GET / HTTP/1.1"[..], |v| *v), Some(1));
            assert!(memo.len() <= 2 * MOST && seen.len() <= SEEN_MOST);
        }
        // Lines seen once only were never kept.
        assert_eq!(memo.read(&b"GET /7 HTTP/1.1"[..], |v| *v), None);
        memo.clear();
        assert_eq!(memo.len(), 0);
    }

    #[test]
    fn an_entry_not_read_for_two_generations_is_dropped() {
        let mut memo: Memo<u64, u64> = Memo::default();
        memo.keep(0, 0);
        for n in 1..=2 * MOST as u64 {
            memo.keep(n, n);
        }
        assert_eq!(memo.read(&0, |v| *v), None);
        assert_eq!(memo.read(&(2 * MOST as u64), |v| *v), Some(2 * MOST as u64));
        assert!(memo.len() <= 2 * MOST);
    }

    #[test]
    fn a_part_is_within_its_line_and_a_copy_is_not() {
        let line = b"GET /api2/json/version HTTP/1.1";
        assert_eq!(within(&line[4..22], line), Some(4..22));
        assert_eq!(within(&line[31..], line), Some(31..31));
        let copy = line[4..22].to_vec();
        assert_eq!(within(&copy, line), None);
    }

    #[test]
    fn serials_are_never_given_twice() {
        let (a, b) = (Serial::next(), Serial::next());
        assert!(a.get().is_some() && b.get().is_some() && a != b);
        assert_eq!(Serial::default().get(), None);
    }
}
