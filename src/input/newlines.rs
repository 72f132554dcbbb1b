//! The line ends of a mapped file, found 64 bytes at a time.
//!
//! A log line is about 120 bytes, and a `memchr` call per line spent more on its set-up and
//! dispatch than on the search: some 120 instructions a line (callgrind), a tenth of what the
//! whole default `convert` spends on a polling line. This keeps the newlines of one 64-byte block
//! as bits: the block costs a handful of vector instructions (SSE2, in every x86_64 CPU), and each
//! line end after it a bit scan.

/// Where the next newline is, block by block, for one run of bytes asked about again and again
/// (a reader going through a mapped file). A position outside the current block starts a new
/// block there.
#[derive(Debug, Default)]
pub(crate) struct Newlines {
    /// The current block: `len` bytes (at most 64) from `start`.
    start: usize,
    len: usize,
    /// Its newlines as bits: bit `i` is byte `start + i`.
    bits: u64,
}

impl Newlines {
    /// The first `\n` in `bytes` at or after `from`, `None` when there is none.
    #[inline]
    pub(crate) fn find(&mut self, bytes: &[u8], from: usize) -> Option<usize> {
        let (mut start, mut len, mut bits) = (self.start, self.len, self.bits);
        if from < start || from >= start + len {
            (start, len, bits) = (from, 0, 0);
        }
        // `from - start` < 64: it is 0 for a new block, else below `len` <= 64.
        let mut ahead = bits & (u64::MAX << (from - start));
        while ahead == 0 {
            start += len;
            if start >= bytes.len() {
                (self.start, self.len, self.bits) = (start, 0, 0);
                return None;
            }
            len = (bytes.len() - start).min(64);
            bits = newline_bits(&bytes[start..start + len]);
            ahead = bits;
        }
        (self.start, self.len, self.bits) = (start, len, bits);
        Some(start + ahead.trailing_zeros() as usize)
    }
}

/// The newlines of `block` (at most 64 bytes) as bits.
#[inline]
fn newline_bits(block: &[u8]) -> u64 {
    if block.len() == 64 {
        let quarter =
            |i: usize| u64::from(crate::bytes::eq_bits16(block, 16 * i, b'\n')) << (16 * i);
        quarter(0) | quarter(1) | quarter(2) | quarter(3)
    } else {
        block
            .iter()
            .enumerate()
            .fold(0, |bits, (i, &b)| bits | (u64::from(b == b'\n') << i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every newline from `from` on, as `find` hands them out to a reader.
    fn ends(bytes: &[u8], from: usize) -> Vec<usize> {
        let mut newlines = Newlines::default();
        let mut found = Vec::new();
        let mut at = from;
        while let Some(end) = newlines.find(bytes, at) {
            found.push(end);
            at = end + 1;
        }
        found
    }

    #[test]
    fn the_line_ends_of_a_log_are_found_across_blocks() {
        let mut log = Vec::new();
        for n in 0..50 {
            log.extend_from_slice(&vec![b'x'; n * 7 % 150]);
            log.push(b'\n');
        }
        log.extend_from_slice(b"no newline at the end");
        let expected: Vec<usize> = (0..log.len()).filter(|&i| log[i] == b'\n').collect();
        assert_eq!(expected.len(), 50);
        assert_eq!(ends(&log, 0), expected);
        assert_eq!(ends(b"", 0), Vec::<usize>::new());
        assert_eq!(ends(&[b'\n'; 130], 0), (0..130).collect::<Vec<_>>());
    }

    proptest! {
        /// The bits agree with a byte-by-byte search, from any start, in any block layout.
        #[test]
        fn find_is_the_next_newline(
            bytes in proptest::collection::vec(prop_oneof![Just(b'\n'), any::<u8>()], 0..400),
            from in 0usize..420,
        ) {
            let expected: Vec<usize> = (from..bytes.len()).filter(|&i| bytes[i] == b'\n').collect();
            prop_assert_eq!(ends(&bytes, from), expected);
        }

        /// A position behind the current block (a reader starting over) starts a new block.
        #[test]
        fn a_position_behind_starts_again(
            bytes in proptest::collection::vec(prop_oneof![Just(b'\n'), any::<u8>()], 0..300),
            first in 0usize..300,
            again in 0usize..300,
        ) {
            let mut newlines = Newlines::default();
            let _ = newlines.find(&bytes, first);
            let expected = (again..bytes.len()).find(|&i| bytes[i] == b'\n');
            prop_assert_eq!(newlines.find(&bytes, again), expected);
        }
    }
}
