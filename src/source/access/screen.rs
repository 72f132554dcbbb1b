//! The screen for the lines nearly every run passes over: a well-formed line of a plain `GET`.
//!
//! Most lines of a log are the web UI polling with `GET`, and the default filter (writes) wants
//! none of them. [`super::parse`] and [`crate::request::possible_classes`] take them apart field
//! by field, from both ends, to tell so; this tells the same from where the line's spaces are,
//! found sixteen bytes at a time. Such a line has exactly nine:
//!
//! ```text
//! CLIENT␠-␠USER␠[dd/mm/yyyy:HH:MM:SS␠+zzzz]␠"GET␠URL␠HTTP/1.1"␠STATUS␠LENGTH
//!       1 2    3                   4       5    6   7         8      9
//! ```
//!
//! and each is where the format puts it, relative to the one before. With the bytes between
//! them checked (the separators, the time as [`super::valid_time`] checks it, the status and
//! length digits), the line is one that `parse` reads, and its request one that
//! `possible_classes` calls a plain `GET`. The screen only ever says "certainly"; a line it is
//! not sure of (any other shape, a long line, the old month-name time) takes the full parse.
//! The proptests and the `access_line` fuzz target hold it to that.

/// The longest line screened; longer ones take the full parse.
const SCREENED: usize = 256;

/// A line's spaces as bits: bit `i % 64` of word `i / 64` is byte `i`.
type SpaceMask = [u64; SCREENED / 64];

/// Whether `line` (without its `\n`) is certainly an access.log line as [`super::parse`] reads
/// it, whose request line [`crate::request::possible_classes`] takes for a plain `GET`.
#[inline]
pub(crate) fn plain_get(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let n = line.len();
    if !(48..=SCREENED).contains(&n) {
        return false;
    }
    let mask = space_mask(line);
    // The first space ends the client, the last starts the length; the third (after ` - `)
    // ends the user. Where the format puts the others, relative to these: the time's space 19
    // bytes into it and `] "` after it, `GET `, ` HTTP/1.x" ` and three digits of status.
    let (Some(s1), Some(s9)) = (first_space(&mask, 0), last_space(&mask)) else {
        return false;
    };
    let s2 = s1 + 2;
    let Some(s3) = first_space(&mask, s2 + 1) else {
        return false;
    };
    let (s4, s5, s6) = (s3 + 21, s3 + 28, s3 + 33);
    let Some(s7) = s9.checked_sub(14) else {
        return false;
    };
    let s8 = s9 - 4;
    if !(s1 > 0 && s3 > s2 + 1 && s7 > s6 + 1) {
        return false;
    }
    // In order, all before s9: within the line. No other space: none before s1 or between s2
    // and s3 (found so), none in what the checks below want as digits, separators and words,
    // and none in the URL (the first space after s6 is s7).
    line[s2] == b' '
        && line[s4] == b' '
        && line[s5] == b' '
        && line[s6] == b' '
        && line[s7] == b' '
        && line[s8] == b' '
        && first_space(&mask, s6 + 1) == Some(s7)
        && line[s1 + 1] == b'-'
        && line[s3 + 1] == b'['
        && line[s3 + 27] == b']'
        && line[s3 + 29] == b'"'
        && line[s3 + 30..s6] == *b"GET"
        && line[s7 + 1..s7 + 8] == *b"HTTP/1."
        && matches!(line[s7 + 8], b'0' | b'1')
        && line[s7 + 9] == b'"'
        && line[s8 + 1..s9].iter().all(u8::is_ascii_digit)
        && length(&line[s9 + 1..])
        && super::valid_time(&line[s3 + 2..s3 + 27])
}

/// The first space at `from` or after.
#[inline]
fn first_space(mask: &SpaceMask, from: usize) -> Option<usize> {
    let mut word = from / 64;
    let mut bits = mask.get(word)? & (u64::MAX << (from % 64));
    while bits == 0 {
        word += 1;
        bits = *mask.get(word)?;
    }
    Some(word * 64 + bits.trailing_zeros() as usize)
}

/// The last space.
#[inline]
fn last_space(mask: &SpaceMask) -> Option<usize> {
    let word = mask.iter().rposition(|&w| w != 0)?;
    Some(word * 64 + 63 - mask[word].leading_zeros() as usize)
}

/// The spaces of `line` (16 to [`SCREENED`] bytes), sixteen bytes at a time; the last block
/// overlaps the one before, and only its new bytes count.
#[inline]
fn space_mask(line: &[u8]) -> SpaceMask {
    let mut mask = [0u64; SCREENED / 64];
    let n = line.len();
    let mut at = 0;
    while at + 16 <= n {
        mask[at / 64] |= u64::from(space_bits(line, at)) << (at % 64);
        at += 16;
    }
    if at < n {
        let bits = space_bits(line, n - 16) >> (16 - (n - at));
        mask[at / 64] |= u64::from(bits) << (at % 64);
    }
    mask
}

/// Whether the field after the last space is a length as `parse` reads one: `-`, or 1 to 19
/// digits.
fn length(field: &[u8]) -> bool {
    field == b"-" || super::parse_digits(field).is_some()
}

/// The spaces among the 16 bytes of `line` from `at` (`at + 16 <= line.len()`), as bits.
#[inline]
fn space_bits(line: &[u8], at: usize) -> u32 {
    u32::from(crate::bytes::eq_bits16(line, at, b' '))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{self, GET_CLASSES};
    use proptest::prelude::*;

    /// What the full parse says of the line the screen passes: a log line of a plain GET.
    fn full_parse_agrees(line: &[u8]) -> bool {
        super::super::parse(line).is_ok_and(|l| request::possible_classes(l.request) == GET_CLASSES)
    }

    const POLL: &str = "::ffff:192.168.10.23 - root@pam [24/06/2026:14:03:14 +0200] \"GET /api2/json/nodes/pve1/qemu/111/status/current HTTP/1.1\" 200 897";

    #[test]
    fn a_polling_line_is_screened_and_others_are_not() {
        for line in [
            POLL.to_string(),
            POLL.replace(" 897", " -"),
            POLL.replace("HTTP/1.1", "HTTP/1.0"),
            POLL.replace("::ffff:192.168.10.23", "2001:db8::17") + "\r",
            POLL.replace("root@pam", "alice@pve!ci-token"),
        ] {
            assert!(plain_get(line.as_bytes()), "{line}");
            assert!(full_parse_agrees(line.as_bytes()), "{line}");
        }
        for line in [
            POLL.replace("GET", "PUT"),
            POLL.replace("/current", "/current POST /x"),
            POLL.replace(" 897", " 89a"),
            POLL.replace(" 897", ""),
            POLL.replace("+0200", "+0299"),
            POLL.replace("24/06", "31/06"),
            POLL.replace("HTTP/1.1", "HTTP/2.0"),
            POLL.replace("root@pam", "root pam"),
            POLL.replace("[24/06/2026", "[24/Jun/2026"),
            format!("{POLL} 1"),
            POLL.replace(
                "/api2/json/nodes/pve1/qemu/111/status/current",
                &"x".repeat(600),
            ),
        ] {
            assert!(!plain_get(line.as_bytes()), "{line}");
        }
    }

    /// A byte of any value at any place, a byte taken out or put in: whenever the screen
    /// passes a line, the full parse reads it as a plain GET.
    fn edited() -> impl Strategy<Value = Vec<u8>> {
        let edit = prop_oneof![
            (0usize..160, any::<u8>()).prop_map(|(at, b)| (0u8, at, b)),
            (
                0usize..160,
                prop_oneof![Just(b' '), Just(b'"'), Just(b'-'), Just(b'\r')]
            )
                .prop_map(|(at, b)| (1u8, at, b)),
            (0usize..160).prop_map(|at| (2u8, at, 0)),
        ];
        proptest::collection::vec(edit, 0..4).prop_map(|edits| {
            let mut line = POLL.as_bytes().to_vec();
            for (kind, at, byte) in edits {
                let at = at.min(line.len());
                match kind {
                    0 if at < line.len() => line[at] = byte,
                    1 => line.insert(at, byte),
                    2 if at < line.len() => {
                        line.remove(at);
                    }
                    _ => {}
                }
            }
            line
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn a_screened_line_is_a_plain_get_to_the_full_parse(line in edited()) {
            if plain_get(&line) {
                prop_assert!(full_parse_agrees(&line), "{:?}", String::from_utf8_lossy(&line));
            }
        }

        /// Well-formed lines of any fields: each one the full parse takes for a plain GET, the
        /// screen passes too (it is not only safe but used).
        #[test]
        fn a_well_formed_get_line_is_screened(
            client in "[0-9a-f:.]{1,39}",
            user in "[a-z0-9@!._-]{1,40}",
            time in "[0-2][0-9]/0[1-9]/20[0-9]{2}:[01][0-9]:[0-5][0-9]:[0-5][0-9] [-+]0[0-9][0-5][0-9]",
            url in "/[!-~]{0,200}",
            version in 0u8..2,
            status in 100u16..1000,
            length in prop_oneof![Just("-".to_string()), "[0-9]{1,19}"],
        ) {
            let line = format!("{client} - {user} [{time}] \"GET {url} HTTP/1.{version}\" {status} {length}");
            let full = full_parse_agrees(line.as_bytes());
            prop_assert_eq!(plain_get(line.as_bytes()), full && line.len() <= SCREENED, "{}", line);
        }

        #[test]
        fn the_mask_has_the_spaces_of_the_line(
            bytes in proptest::collection::vec(prop_oneof![1 => Just(b' '), 10 => any::<u8>()], 16..=SCREENED),
        ) {
            let mask = space_mask(&bytes);
            for (i, &b) in bytes.iter().enumerate() {
                prop_assert_eq!((mask[i / 64] >> (i % 64)) & 1 == 1, b == b' ', "byte {}", i);
            }
            let spaces: Vec<usize> = (0..bytes.len()).filter(|&i| bytes[i] == b' ').collect();
            prop_assert_eq!(first_space(&mask, 0), spaces.first().copied());
            prop_assert_eq!(last_space(&mask), spaces.last().copied());
            for from in [1, 17, 63, 64, 65, 127, 128, 129, 130, 255, 256] {
                prop_assert_eq!(first_space(&mask, from), spaces.iter().copied().find(|&i| i >= from));
            }
        }
    }
}
