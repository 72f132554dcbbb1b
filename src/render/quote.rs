//! Quoting and escaping for everything we print that came out of an access log.
//!
//! Why this exists: the request line in `access.log` is attacker-controlled.
//! Anyone who can reach the API port can put arbitrary bytes into a path or
//! query string, and we turn those bytes into `pvesh` commands that an admin
//! will read in a terminal and may paste into (or pipe to) a shell. So two
//! things must hold for every byte we emit:
//!
//! * it never *executes*: each argument is one shell word that `bash` (and,
//!   for printable text, POSIX `sh`) reads back as exactly the original bytes,
//!   with no expansion of `$`, backticks, globs, braces, tildes or history;
//! * it never reaches the terminal *raw*: no C0/C1 control (escape sequences
//!   can rewrite the screen, set the window title or worse), no DEL, no invalid
//!   UTF-8, and no invisible character (Unicode categories Cf, Zl, Zp and the
//!   default-ignorable code points: bidi controls, zero-width chars, soft
//!   hyphens, Hangul fillers, variation selectors, tags) that makes what the
//!   admin sees differ from what the shell runs ("Trojan Source").
//!
//! Everything that is not plainly printable is therefore written as `\xHH`.
//!
//! Both must hold in every locale bash runs in, not only UTF-8: bash splits its input into
//! characters with the locale's charset (`mbrtowc`), and in the double-byte charsets glibc
//! offers (GBK, GB18030, BIG5, BIG5-HKSCS, Shift-JIS, ...) a byte ≥ 0x80 and the byte after
//! it, which may be `\` (0x5C), are one character. So inside `$'…'`, where `\` matters, every
//! byte that is not printable ASCII is a `\xHH` escape; in `'…'`, where only `'` (0x27) matters,
//! raw UTF-8 is safe because no charset has 0x27 as a trail byte (see [`push_word`]).

use super::invisible::INVISIBLE;

/// Lowercase hex digits, used by both `\xHH` and JSON `\uHHHH` escapes.
const HEX: &[u8; 16] = b"0123456789abcdef";

/// Bytes that need no quoting at all in a shell word (in any position).
fn is_bare_safe(b: u8) -> bool {
    BARE_SAFE[usize::from(b)]
}

/// [`is_bare_safe`] as a table: every word of every command is looked at byte by byte.
const BARE_SAFE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'_' | b'@' | b'%' | b'+' | b'=' | b':' | b',' | b'.' | b'/' | b'-'
            );
        b += 1;
    }
    table
};

/// Whether `c` is one of the characters a terminal shows as nothing or lets reorder or hide the
/// text around it: Unicode general categories Cc (C0, DEL, C1), Cf (bidi controls, zero-width
/// chars, the soft hyphen, tags, ...), Zl, Zp, and every Default_Ignorable_Code_Point (Hangul
/// fillers, variation selectors, the reserved ignorable blocks). The table is generated from the
/// Unicode Character Database by `scripts/gen-invisible.py`.
pub(crate) fn is_invisible(c: char) -> bool {
    INVISIBLE
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                std::cmp::Ordering::Less
            } else if lo > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// A char that may be shown on a terminal as is.
fn is_printable(c: char) -> bool {
    !is_invisible(c)
}

fn push_hex_byte(out: &mut Vec<u8>, b: u8) {
    out.extend_from_slice(&[
        b'\\',
        b'x',
        HEX[usize::from(b >> 4)],
        HEX[usize::from(b & 0xf)],
    ]);
}

/// Copy `bytes` for the inside of bash's `$'…'`: printable ASCII raw, `\` as `\\`, `'` as `\'`,
/// and every other byte, all of non-ASCII included, as `\xHH`.
///
/// Non-ASCII is never raw here because bash reads the word in the locale's charset: in GBK,
/// GB18030, BIG5, BIG5-HKSCS and Shift-JIS a byte ≥ 0x80 followed by `\` (0x5C) is one
/// character, so a raw byte before `\'` would eat the backslash, the `'` would end the word and
/// the rest would run as shell code. With only ASCII inside, every locale reads the same word.
fn push_ansi_c(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\'' => out.extend_from_slice(b"\\'"),
            b' '..0x7f => out.push(b),
            _ => push_hex_byte(out, b),
        }
    }
}

/// Whether a `'` written into or after `word` (each inner `'` becomes `'\''`, and the closing
/// quote follows the last byte) comes two bytes after a byte ≥ 0x80. glibc's GB18030 decoder,
/// fed a byte at a time as bash feeds it, answers "incomplete" for a lead byte, a digit and any
/// third byte, `'` included, and EUC-TW's for 0x8E, a plane byte and any third byte; bash then
/// takes that `'` as part of a character. Such a word is written as `$'…'` (ASCII only) instead.
fn quote_may_be_swallowed(word: &[u8]) -> bool {
    let at = |i: usize| i >= 2 && word[i - 2] >= 0x80;
    at(word.len()) || word.iter().enumerate().any(|(i, &b)| b == b'\'' && at(i))
}

/// Append `word` as a single shell word: `bash -c` reads it back as exactly
/// the bytes of `word` in one argv element.
///
/// Output is bare when only [`is_bare_safe`] bytes occur, `'…'` when the
/// word is printable UTF-8 (valid for POSIX `sh` too), and bash's `$'…'`
/// with only ASCII inside otherwise (see [`push_ansi_c`]).
///
/// Why raw UTF-8 in `'…'` is safe in every locale: inside single quotes only
/// the byte `'` ends the word (`\` is literal), so a word is misread only if
/// the locale's charset could take a `'` as the trail byte of a multi-byte
/// character. None can. The trail bytes, from glibc's charmaps
/// (`localedata/charmaps/*`, installed as `/usr/share/i18n/charmaps`) and
/// the charsets' standards:
/// - GBK (CP936): lead 0x81–0xFE, trail 0x40–0x7E, 0x80–0xFE;
/// - GB18030: as GBK for two bytes; four bytes are lead 0x81–0xFE,
///   0x30–0x39, 0x81–0xFE, 0x30–0x39;
/// - BIG5 and BIG5-HKSCS: lead 0x81–0xFE, trail 0x40–0x7E, 0xA1–0xFE;
/// - Shift-JIS: lead 0x81–0x9F, 0xE0–0xFC, trail 0x40–0x7E, 0x80–0xFC;
/// - EUC-JP, EUC-KR, EUC-TW, GB2312: every byte of a multi-byte character is
///   ≥ 0x80 (0xA1–0xFE, after 0x8E/0x8F for EUC-JP and EUC-TW);
/// - UHC (CP949) trail 0x41–0x5A, 0x61–0x7A, 0x81–0xFE; JOHAB trail
///   0x31–0x7E, 0x91–0xFE.
///
/// One exception, found by the round-trip property: glibc's GB18030 and EUC-TW
/// decoders, fed byte by byte as bash does, take any third byte as pending
/// after a valid first two, so a `'` two bytes after a byte ≥ 0x80 may be
/// swallowed; such words use `$'…'` ([`quote_may_be_swallowed`]).
///
/// The lowest trail byte of any of them is 0x30, above 0x27 (`'`); several
/// include 0x5C (`\`), which is why `$'…'` holds ASCII only. A unit test
/// checks this against every multi-byte charmap installed, and the bash
/// round-trip property runs under UTF-8, GBK, GB18030, BIG5, BIG5-HKSCS and
/// Shift-JIS locales.
///
/// A NUL cannot be passed in argv; it is written as `\x00`
/// (which bash truncates at), so callers must deal with NUL themselves.
pub(crate) fn push_word(out: &mut Vec<u8>, word: &[u8]) {
    if word.is_empty() {
        out.extend_from_slice(b"''");
    } else if word.iter().all(|&b| is_bare_safe(b)) {
        out.extend_from_slice(word);
    } else {
        match std::str::from_utf8(word) {
            Ok(s) if s.chars().all(is_printable) && !quote_may_be_swallowed(word) => {
                out.push(b'\'');
                for &b in s.as_bytes() {
                    if b == b'\'' {
                        out.extend_from_slice(b"'\\''");
                    } else {
                        out.push(b);
                    }
                }
                out.push(b'\'');
            }
            _ => {
                // bash reads at most two hex digits after `\x`, so a hex digit
                // right after an escape is not swallowed by it.
                out.extend_from_slice(b"$'");
                push_ansi_c(out, word);
                out.push(b'\'');
            }
        }
    }
}

/// Append `text` as one printable line, e.g. inside a `# …` comment. Printable
/// UTF-8 passes through, `\` becomes `\\`, and every other byte (controls
/// including `\n`/`\r`/`\t`, DEL, invalid UTF-8, invisible chars) becomes
/// `\xHH`, so the original bytes can be recovered unambiguously.
pub(crate) fn push_comment_text(out: &mut Vec<u8>, text: &[u8]) {
    // Most text (notes, commands) is printable ASCII without a backslash: copied whole.
    if text
        .iter()
        .all(|&b| (b' '..0x7f).contains(&b) && b != b'\\')
    {
        out.extend_from_slice(text);
        return;
    }
    for chunk in text.utf8_chunks() {
        for c in chunk.valid().chars() {
            let mut buf = [0; 4];
            let encoded = c.encode_utf8(&mut buf).as_bytes();
            match c {
                '\\' => out.extend_from_slice(b"\\\\"),
                c if is_printable(c) => out.extend_from_slice(encoded),
                _ => encoded.iter().for_each(|&b| push_hex_byte(out, b)),
            }
        }
        chunk.invalid().iter().for_each(|&b| push_hex_byte(out, b));
    }
}

/// Copy one line of serde_json output to `out`, replacing each raw DEL, C1
/// control and invisible char (which serde_json leaves raw inside strings) by
/// its JSON `\uHHHH` escape, using a surrogate pair above U+FFFF. The result
/// decodes to the same values. Such chars can only occur inside JSON strings,
/// so escaping them there is always valid. JSON readers decode them back, so
/// the escapes change nothing for jq or a SIEM; they are there for the JSON
/// that is read on a terminal (`pverec convert -f json | less`).
///
/// Input that is not valid UTF-8 (serde_json never produces it) has each bad
/// sequence replaced by U+FFFD so the output is still safe to print.
pub(crate) fn escape_json_line(line: &[u8], out: &mut Vec<u8>) {
    if line.iter().all(|&b| b < 0x7f) {
        out.extend_from_slice(line);
        return;
    }
    for chunk in line.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c >= '\u{7f}' && !is_printable(c) {
                for unit in c.encode_utf16(&mut [0; 2]) {
                    out.extend_from_slice(b"\\u");
                    for shift in [12, 8, 4, 0] {
                        out.push(HEX[usize::from((*unit >> shift) & 0xf)]);
                    }
                }
            } else {
                out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
            }
        }
        if !chunk.invalid().is_empty() {
            out.extend_from_slice("\u{FFFD}".as_bytes());
        }
    }
}

/// serde_json's compact formatter, writing each string the way [`escape_json_line`] would
/// leave it: DEL, C1 controls and invisible chars (which serde_json leaves raw) as `\uHHHH`.
/// The record is serialized straight into the output with it, in one pass, where
/// [`escape_json_line`] needs the serialized text and a second pass over it; the bytes are the
/// same (such chars occur only inside strings, keys included, and serde_json writes every string
/// through [`serde_json::ser::Formatter::write_string_fragment`]).
pub(crate) struct TerminalSafe;

impl serde_json::ser::Formatter for TerminalSafe {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let bytes = fragment.as_bytes();
        // Most fragments are ASCII below DEL: one check (a max, which vectorizes), written whole.
        if bytes.iter().fold(0u8, |high, &b| high.max(b)) < 0x7f {
            return writer.write_all(bytes);
        }
        let mut plain = 0;
        for (at, c) in fragment.char_indices() {
            if c >= '\u{7f}' && !is_printable(c) {
                writer.write_all(&bytes[plain..at])?;
                let mut escaped = [0u8; 12];
                let mut n = 0;
                for unit in c.encode_utf16(&mut [0; 2]) {
                    escaped[n..n + 2].copy_from_slice(b"\\u");
                    for (i, shift) in [12, 8, 4, 0].into_iter().enumerate() {
                        escaped[n + 2 + i] = HEX[usize::from((*unit >> shift) & 0xf)];
                    }
                    n += 6;
                }
                writer.write_all(&escaped[..n])?;
                plain = at + c.len_utf8();
            }
        }
        writer.write_all(&bytes[plain..])
    }
}

/// Appends `value` as one line of compact JSON, terminal-safe as [`TerminalSafe`] writes it.
pub(crate) fn push_json_compact<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    let mut ser = serde_json::Serializer::with_formatter(&mut *out, TerminalSafe);
    // Serializing plain data into a Vec cannot fail: no maps with non-string keys, no I/O.
    let _ = value.serialize(&mut ser);
}

/// Appends `bytes` as a JSON string, exactly as [`push_json_compact`] writes the string that
/// `String::from_utf8_lossy(bytes)` is: the record writer's one string function. Nearly every
/// string of a record is printable ASCII with no `"` or `\`; that takes one pass (a reduction the
/// compiler vectorizes) and a copy. Anything else goes through serde_json and [`TerminalSafe`].
pub(crate) fn push_json_str(out: &mut Vec<u8>, bytes: &[u8]) {
    if plain_json(bytes) {
        out.reserve(bytes.len() + 2);
        out.push(b'"');
        out.extend_from_slice(bytes);
        out.push(b'"');
    } else {
        push_json_compact(out, &*String::from_utf8_lossy(bytes));
    }
}

/// Whether `bytes` are all printable ASCII other than `"` and `\`: a JSON string's text as it
/// is. Sixteen bytes at a time (SSE2, in every x86_64 CPU), the last sixteen overlapping the
/// ones before; a string of 8 to 15 bytes as two overlapping words in one vector; a shorter one
/// as [`plain_json_words`] does.
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn plain_json(bytes: &[u8]) -> bool {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_loadl_epi64, _mm_loadu_si128,
        _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8, _mm_unpacklo_epi64,
    };
    // Signed bytes: below 0x20 is a control byte or (negative) one of 0x80 to 0xFF.
    // SAFETY: SSE2 is in every x86_64 CPU; these only compute on the vector.
    let bad = |v: __m128i| unsafe {
        let low = _mm_cmplt_epi8(v, _mm_set1_epi8(0x20));
        let del = _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f));
        let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
        let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
        let any = _mm_or_si128(_mm_or_si128(low, del), _mm_or_si128(quote, backslash));
        _mm_movemask_epi8(any) != 0
    };
    let n = bytes.len();
    let p = bytes.as_ptr();
    if n >= 16 {
        let mut at = 0;
        while at + 16 < n {
            // SAFETY: SSE2 is in every x86_64 CPU; `at + 16 < n`: the unaligned load reads bytes
            // `at..at + 16` of `bytes`.
            if bad(unsafe { _mm_loadu_si128(p.add(at).cast::<__m128i>()) }) {
                return false;
            }
            at += 16;
        }
        // SAFETY: as above, bytes `n - 16..n`.
        return !bad(unsafe { _mm_loadu_si128(p.add(n - 16).cast::<__m128i>()) });
    }
    if n >= 8 {
        // SAFETY: as above; each 8-byte load reads bytes `0..8` and `n - 8..n` (8 <= n < 16).
        let v = unsafe {
            _mm_unpacklo_epi64(
                _mm_loadl_epi64(p.cast::<__m128i>()),
                _mm_loadl_epi64(p.add(n - 8).cast::<__m128i>()),
            )
        };
        return !bad(v);
    }
    plain_json_words(bytes)
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn plain_json(bytes: &[u8]) -> bool {
    plain_json_words(bytes)
}

/// [`plain_json`] eight bytes at a time (SWAR): for each word, whether any byte is ≥ 0x80,
/// below 0x20, or equal to DEL, `"` or `\` (the exact "has a zero byte" test of
/// `word ^ byte`), then the tail.
fn plain_json_words(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = ONES * 0x80;
    let zero_in = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let bad = |eight: [u8; 8]| {
        let w = u64::from_ne_bytes(eight);
        (w & HIGH)
            | (w.wrapping_sub(ONES * 0x20) & !w & HIGH)
            | zero_in(w ^ (ONES * 0x7f))
            | zero_in(w ^ (ONES * u64::from(b'"')))
            | zero_in(w ^ (ONES * u64::from(b'\\')))
            != 0
    };
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(word);
        if bad(eight) {
            return false;
        }
    }
    // The tail: the last eight bytes again (overlapping), or, when there are fewer, byte by byte.
    let tail = words.remainder();
    if tail.is_empty() {
        return true;
    }
    match bytes.last_chunk::<8>() {
        Some(last) => !bad(*last),
        None => tail
            .iter()
            .all(|&b| (b' '..0x7f).contains(&b) && b != b'"' && b != b'\\'),
    }
}

/// Appends the compact JSON `compact` (one value, as serde_json writes it) indented as
/// serde_json's pretty formatter indents it: two spaces a level, `"key": value`, and `{}` and
/// `[]` for what is empty. Strings are copied as they are, so the escapes stay.
pub(crate) fn reindent(compact: &[u8], out: &mut Vec<u8>) {
    let newline = |out: &mut Vec<u8>, depth: usize| {
        out.push(b'\n');
        out.resize(out.len() + 2 * depth, b' ');
    };
    let mut depth = 0usize;
    let mut i = 0;
    while i < compact.len() {
        let b = compact[i];
        match b {
            b'"' => {
                // To the closing quote: the one not escaped by a backslash.
                let start = i;
                i += 1;
                while i < compact.len() && compact[i] != b'"' {
                    i += if compact[i] == b'\\' { 2 } else { 1 };
                }
                out.extend_from_slice(&compact[start..(i + 1).min(compact.len())]);
            }
            b'{' | b'[' => {
                let close = if b == b'{' { b'}' } else { b']' };
                out.push(b);
                if compact.get(i + 1) == Some(&close) {
                    out.push(close);
                    i += 1;
                } else {
                    depth += 1;
                    newline(out, depth);
                }
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                newline(out, depth);
                out.push(b);
            }
            b',' => {
                out.push(b',');
                newline(out, depth);
            }
            b':' => out.extend_from_slice(b": "),
            _ => out.push(b),
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::Config;
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    use std::process::Command;

    fn word(w: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        push_word(&mut out, w);
        out
    }

    fn comment(t: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        push_comment_text(&mut out, t);
        out
    }

    proptest! {
        #[test]
        fn the_one_pass_formatter_writes_what_the_second_pass_would(
            values in proptest::collection::vec(any::<String>(), 0..4),
            key in any::<String>(),
        ) {
            let value = serde_json::json!({ key: values });
            let mut one = Vec::new();
            push_json_compact(&mut one, &value);
            let two = json(&serde_json::to_vec(&value).unwrap());
            prop_assert_eq!(one, two);
        }
    }

    #[test]
    fn the_bare_safe_table_holds_the_alphanumerics_and_the_harmless_punctuation() {
        for b in 0..=255u8 {
            let expected = b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&b);
            assert_eq!(is_bare_safe(b), expected, "byte {b:#04x}");
        }
    }

    proptest! {
        #[test]
        fn a_json_string_is_written_as_serde_json_writes_its_lossy_text(
            bytes in proptest::collection::vec(any::<u8>(), 0..40),
            text in any::<String>(),
            ascii in "[ -~]{0,40}",
        ) {
            for b in [&bytes[..], text.as_bytes(), ascii.as_bytes()] {
                let mut ours = Vec::new();
                push_json_str(&mut ours, b);
                let mut theirs = Vec::new();
                push_json_compact(&mut theirs, &*String::from_utf8_lossy(b));
                prop_assert_eq!(ours, theirs);
            }
        }

        #[test]
        fn a_string_is_plain_json_when_every_byte_is(
            bytes in proptest::collection::vec(
                prop_oneof![0x20u8..0x7f, any::<u8>(), Just(b'"'), Just(b'\\'), Just(0x7f)],
                0..40,
            ),
        ) {
            let each = bytes.iter().all(|&b| (b' '..0x7f).contains(&b) && b != b'"' && b != b'\\');
            prop_assert_eq!(plain_json(&bytes), each);
            prop_assert_eq!(plain_json_words(&bytes), each);
        }

        /// A plain string of any length with at most one byte of any value put anywhere: the
        /// blocks, the overlapping ends and the words all find it.
        #[test]
        fn one_byte_anywhere_is_found(
            len in 0usize..70,
            put in proptest::option::of((0usize..70, any::<u8>())),
        ) {
            let mut bytes: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            if let Some((at, byte)) = put {
                if at < len {
                    bytes[at] = byte;
                }
            }
            let each = bytes.iter().all(|&b| (b' '..0x7f).contains(&b) && b != b'"' && b != b'\\');
            prop_assert_eq!(plain_json(&bytes), each, "{:?}", bytes);
            prop_assert_eq!(plain_json_words(&bytes), each, "{:?}", bytes);
        }

        #[test]
        fn reindenting_compact_json_gives_what_the_pretty_formatter_writes(
            value in json_value(),
        ) {
            let mut compact = Vec::new();
            push_json_compact(&mut compact, &value);
            let mut ours = Vec::new();
            reindent(&compact, &mut ours);
            let theirs = json(&serde_json::to_vec_pretty(&value).unwrap());
            prop_assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs));
        }
    }

    /// Any JSON value, nested a few levels, its strings any text (quotes, backslashes, brackets,
    /// commas, colons and controls included).
    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let text = prop_oneof![any::<String>(), "[\\[\\]{}:,\"\\\\ a\u{7f}\u{200b}\n]{0,8}"];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            text.clone().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 5, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::vec((text.clone(), inner), 0..5)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
    }

    fn json(line: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        escape_json_line(line, &mut out);
        out
    }

    /// Valid UTF-8 with no control, DEL, C1 or invisible char.
    fn assert_terminal_safe(out: &[u8]) {
        let s = std::str::from_utf8(out).expect("output must be valid UTF-8");
        if let Some(c) = s.chars().find(|&c| !is_printable(c)) {
            panic!("raw {c:?} in output {s:?}");
        }
    }

    /// The locales the bash round trips run in: UTF-8 and the glibc charsets in which a byte
    /// ≥ 0x80 can take a following `\` (0x5C) as its trail byte.
    const CJK_LOCALES: &[(&str, &str, &str)] = &[
        ("zh_CN", "GBK", "zh_CN.GBK"),
        ("zh_CN", "GB18030", "zh_CN.GB18030"),
        ("zh_TW", "BIG5", "zh_TW.BIG5"),
        ("zh_HK", "BIG5-HKSCS", "zh_HK.BIG5-HKSCS"),
        ("ja_JP", "SHIFT_JIS", "ja_JP.SJIS"),
    ];

    /// A `LOCPATH` holding [`CJK_LOCALES`], compiled with `localedef` (package `locales`) once
    /// per test run: nextest runs each test in its own process, so they are built into one
    /// directory under the temp dir, each locale renamed into place when complete. Every use
    /// checks with `locale charmap` that the locale loads. Fails, never skips.
    fn locpath() -> &'static std::path::Path {
        static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
        DIR.get_or_init(|| {
            let dir = std::env::temp_dir().join("pverec-test-locales-1");
            std::fs::create_dir_all(&dir).expect("create the locale dir");
            std::thread::scope(|s| {
                for &(source, charset, name) in CJK_LOCALES {
                    let dir = &dir;
                    s.spawn(move || {
                        let done = dir.join(name);
                        if !done.exists() {
                            let tmp = dir.join(format!(".{name}.{}", std::process::id()));
                            let out = Command::new("localedef")
                                .args(["--no-warnings=ascii", "-i", source, "-f", charset])
                                .arg(&tmp)
                                .output()
                                .expect("localedef runs (apt-get install locales)");
                            assert!(
                                out.status.success(),
                                "localedef -i {source} -f {charset}: {}",
                                String::from_utf8_lossy(&out.stderr)
                            );
                            // Another test process may have won the race: either copy is good.
                            if std::fs::rename(&tmp, &done).is_err() {
                                let _ = std::fs::remove_dir_all(&tmp);
                            }
                        }
                        let out = Command::new("locale")
                            .arg("charmap")
                            .env("LOCPATH", dir)
                            .env("LC_ALL", name)
                            .output()
                            .expect("locale runs");
                        assert_eq!(
                            String::from_utf8_lossy(&out.stdout).trim(),
                            charset,
                            "{name} does not load"
                        );
                    });
                }
            });
            dir
        })
    }

    /// Every locale of [`CJK_LOCALES`] plus C and C.UTF-8.
    fn all_locales() -> impl Iterator<Item = &'static str> {
        ["C", "C.UTF-8"]
            .into_iter()
            .chain(CJK_LOCALES.iter().map(|&(_, _, name)| name))
    }

    /// Run `printf '%s\0' <quoted words>` in `shell` and return stdout.
    fn shell_printf(shell: &str, locale: &str, words: &[Vec<u8>]) -> Vec<u8> {
        let mut script = b"printf '%s\\0'".to_vec();
        for w in words {
            script.push(b' ');
            push_word(&mut script, w);
        }
        let out = Command::new(shell)
            .arg("-c")
            .arg(OsStr::from_bytes(&script))
            .env("LC_ALL", locale)
            .env("LOCPATH", locpath())
            .output()
            .expect("spawn shell");
        assert!(
            out.status.success(),
            "{shell} failed on {:?}: {}",
            String::from_utf8_lossy(&script),
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn nul_terminated(words: &[Vec<u8>]) -> Vec<u8> {
        words
            .iter()
            .flat_map(|w| w.iter().copied().chain([0]))
            .collect()
    }

    /// Inverse of `push_comment_text`, to show its escaping is unambiguous.
    fn unescape_comment(s: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = s;
        while let Some((&b, tail)) = rest.split_first() {
            rest = tail;
            if b != b'\\' {
                out.push(b);
            } else if let Some(tail) = rest.strip_prefix(b"\\") {
                out.push(b'\\');
                rest = tail;
            } else {
                let hex = rest
                    .strip_prefix(b"x")
                    .and_then(|r| r.get(..2))
                    .expect("bad escape");
                let hex = std::str::from_utf8(hex).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                rest = &rest[3..];
            }
        }
        out
    }

    #[test]
    fn invisible_table_is_sorted_and_disjoint() {
        use crate::render::invisible::INVISIBLE;
        assert!(INVISIBLE.iter().all(|&(lo, hi)| lo <= hi));
        assert!(INVISIBLE.windows(2).all(|w| w[0].1 < w[1].0));
        for c in [
            '\0',
            '\u{1f}',
            '\u{7f}',
            '\u{9f}',
            '\u{ad}',
            '\u{2029}',
            '\u{e0fff}',
        ] {
            assert!(is_invisible(c), "{c:?}");
        }
        for c in [
            ' ',
            '~',
            '\u{a0}',
            '\u{ae}',
            'é',
            '\u{2030}',
            '\u{fffd}',
            '\u{e1000}',
        ] {
            assert!(!is_invisible(c), "{c:?}");
        }
    }

    #[test]
    fn empty_word_is_two_quotes() {
        assert_eq!(word(b""), b"''");
    }

    #[test]
    fn safe_words_are_bare() {
        for w in [
            &b"abc"[..],
            b"/nodes/pve1/qemu",
            b"-x",
            b"a=b",
            b"user@pam",
            b"1,2:3+4%5.6_7",
        ] {
            assert_eq!(word(w), w);
        }
    }

    #[test]
    fn printable_words_are_single_quoted() {
        assert_eq!(word(b"hello world"), b"'hello world'");
        assert_eq!(word(b"it's"), br"'it'\''s'");
        assert_eq!(word(b"a\\b"), br"'a\b'");
        assert_eq!(word("héllo wörld".as_bytes()), "'héllo wörld'".as_bytes());
    }

    #[test]
    fn shell_metacharacters_are_single_quoted() {
        let cases: [(&[u8], &[u8]); 8] = [
            (b"~root", b"'~root'"),
            (b"{a,b}", b"'{a,b}'"),
            (b"*", b"'*'"),
            (b"$(id)", b"'$(id)'"),
            (b"`id`", b"'`id`'"),
            (b"!", b"'!'"),
            (b"a;b|c&d", b"'a;b|c&d'"),
            (b"#x", b"'#x'"),
        ];
        for (w, expected) in cases {
            assert_eq!(word(w), expected, "{:?}", String::from_utf8_lossy(w));
        }
    }

    #[test]
    fn controls_use_ansi_c_quoting() {
        assert_eq!(word(b"a\nb"), br"$'a\x0ab'");
        assert_eq!(word(b"\x1b[31mred"), br"$'\x1b[31mred'");
        assert_eq!(word(b"\x7f"), br"$'\x7f'");
        assert_eq!(word(b"\t\r"), br"$'\x09\x0d'");
        assert_eq!(word(b"it's\n\\"), br"$'it\'s\x0a\\'");
        assert_eq!(word(b"\x00"), br"$'\x00'");
        // A hex digit after an escape stays literal: bash reads two digits.
        assert_eq!(word(b"\x01ff"), br"$'\x01ff'");
    }

    #[test]
    fn c1_and_invisible_chars_use_hex_escapes() {
        assert_eq!(word("\u{9b}31m".as_bytes()), br"$'\xc2\x9b31m'");
        assert_eq!(word("ab\u{202e}cd".as_bytes()), br"$'ab\xe2\x80\xaecd'");
        assert_eq!(word("\u{feff}".as_bytes()), br"$'\xef\xbb\xbf'");
        assert_eq!(word("\u{e0041}".as_bytes()), br"$'\xf3\xa0\x81\x81'");
        assert_eq!(word("é\u{200b}".as_bytes()), br"$'\xc3\xa9\xe2\x80\x8b'");
        // Default-ignorable and format characters beyond the bidi controls.
        for c in [
            '\u{ad}',
            '\u{34f}',
            '\u{115f}',
            '\u{180e}',
            '\u{2064}',
            '\u{3164}',
            '\u{fe0f}',
            '\u{ffa0}',
            '\u{fff9}',
            '\u{fffb}',
            '\u{1d173}',
            '\u{e0fff}',
            '\u{600}',
        ] {
            let quoted = word(c.to_string().as_bytes());
            assert!(quoted.starts_with(b"$'\\x"), "{c:?}: {quoted:?}");
            assert!(quoted.is_ascii(), "{c:?}");
            let mut text = "x".to_string();
            text.push(c);
            assert!(comment(text.as_bytes()).is_ascii(), "{c:?}");
        }
    }

    #[test]
    fn invalid_utf8_uses_hex_escapes() {
        assert_eq!(word(b"\xff\xfe"), br"$'\xff\xfe'");
        assert_eq!(word(b"a\xc3"), br"$'a\xc3'");
        assert_eq!(word(b"\xe2\x80 x"), br"$'\xe2\x80 x'");
    }

    #[test]
    fn comment_text_examples() {
        assert_eq!(comment(b"GET /x y"), b"GET /x y");
        assert_eq!(comment(b"a\nb\r\tc"), br"a\x0ab\x0d\x09c");
        assert_eq!(comment(b"\\x41 'q'"), br"\\x41 'q'");
        assert_eq!(comment(b"\x1b\x7f\xff"), br"\x1b\x7f\xff");
        assert_eq!(
            comment("ü\u{202e}\u{85}".as_bytes()),
            "ü\\xe2\\x80\\xae\\xc2\\x85".as_bytes()
        );
    }

    #[test]
    fn json_line_examples() {
        let plain = br#"{"a":"b\n","c":[1,2]}"#;
        assert_eq!(json(plain), plain);
        assert_eq!(json("[\"\u{7f}\"]".as_bytes()), br#"["\u007f"]"#);
        assert_eq!(json("[\"x\u{9b}y\"]".as_bytes()), br#"["x\u009by"]"#);
        assert_eq!(
            json("[\"\u{202e}é\"]".as_bytes()),
            "[\"\\u202eé\"]".as_bytes()
        );
        assert_eq!(json("[\"\u{e0001}\"]".as_bytes()), br#"["\udb40\udc01"]"#);
        assert_eq!(json(b"[\"\xff\"]"), "[\"\u{fffd}\"]".as_bytes());
    }

    #[test]
    fn bash_reads_examples_back() {
        let words: Vec<Vec<u8>> = [
            &b""[..],
            b"plain",
            b"it's",
            b"~root",
            b"{a,b}",
            b"*",
            b"$(id)",
            b"`id`",
            b"!",
            b"a\nb",
            b"\x1b]0;x\x07",
            b"\x7f\xff\xfe",
            "\u{9b}\u{202e}\u{e0001}".as_bytes(),
            b"\\'\"$",
            b"\x01ff",
        ]
        .map(<[u8]>::to_vec)
        .to_vec();
        for locale in all_locales() {
            assert_eq!(
                shell_printf("bash", locale, &words),
                nul_terminated(&words),
                "in {locale}"
            );
        }
    }

    /// The case of issue 11: `\xe3\x81\x81` before a `'` was a GBK character (0xe3 0x81) and a
    /// lead byte 0x81 that took the `\` of `\'` as its trail byte, so the `'` ended the word.
    #[test]
    fn cjk_lead_byte_before_an_escaped_quote() {
        let words = [
            b"\x01\xe3\x81\x81'; echo INJECTED".to_vec(),
            b"\x01\x81\\'; echo INJECTED".to_vec(),
            b"\x81'\x81\\x".to_vec(),
            "\u{e3}\u{81}'\\".as_bytes().to_vec(),
            "あ'\\".as_bytes().to_vec(),
            // GB18030: a lead byte and a digit take the next byte, `'` too, as pending.
            "€9".as_bytes().to_vec(),
            "€9'x".as_bytes().to_vec(),
            b"\xac9".to_vec(),
        ];
        for w in &words {
            assert!(word(w).is_ascii() || !word(w).starts_with(b"$'"), "{w:?}");
        }
        for locale in all_locales() {
            assert_eq!(
                shell_printf("bash", locale, &words),
                nul_terminated(&words),
                "in {locale}"
            );
        }
    }

    /// The proof that raw UTF-8 in `'…'` is safe in any locale (see [`push_word`]): no
    /// multi-byte character of any charmap glibc ships has `'` (0x27) after its first byte.
    #[test]
    fn no_charmap_has_a_quote_as_trail_byte() {
        use std::io::Read;
        let dir = std::path::Path::new("/usr/share/i18n/charmaps");
        let entries = std::fs::read_dir(dir).expect("glibc charmaps (apt-get install locales)");
        let mut multi_byte = Vec::new();
        for entry in entries {
            let path = entry.unwrap().path();
            let raw = std::fs::read(&path).unwrap();
            let mut text = Vec::new();
            if path.extension().is_some_and(|e| e == "gz") {
                flate2::read::GzDecoder::new(&raw[..])
                    .read_to_end(&mut text)
                    .unwrap();
            } else {
                text = raw;
            }
            let mut trail_bytes = std::collections::BTreeSet::new();
            for line in text.split(|&b| b == b'\n') {
                // `<U4E02>     /x81/x40 <CJK>`, or a `<U..>..<U..>` range.
                let Some(line) = line.strip_prefix(b"<U") else {
                    continue;
                };
                let mut fields = line
                    .split(|b| b.is_ascii_whitespace())
                    .filter(|f| !f.is_empty());
                let Some(bytes) = fields.nth(1) else { continue };
                let bytes: Vec<u8> = bytes
                    .split(|&b| b == b'/')
                    .filter_map(|h| h.strip_prefix(b"x"))
                    .filter_map(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok())
                    .collect();
                trail_bytes.extend(bytes.iter().skip(1).copied());
            }
            if !trail_bytes.is_empty() {
                assert!(
                    !trail_bytes.contains(&b'\''),
                    "{} has 0x27 as a trail byte",
                    path.display()
                );
                multi_byte.push(path.file_name().unwrap().to_string_lossy().into_owned());
            }
        }
        for charset in [
            "GBK.gz",
            "GB18030.gz",
            "BIG5.gz",
            "BIG5-HKSCS.gz",
            "SHIFT_JIS.gz",
        ] {
            assert!(
                multi_byte.iter().any(|c| c == charset),
                "{charset} not read: {multi_byte:?}"
            );
        }
    }

    /// Characters worth hitting often: quoting syntax, expansions,
    /// separators, controls, C1, invisible chars and multi-byte UTF-8.
    const TRICKY_CHARS: &[char] = &[
        '\'',
        '"',
        '\\',
        '$',
        '`',
        ' ',
        '!',
        '~',
        '{',
        '}',
        ',',
        '*',
        '?',
        '[',
        ']',
        '#',
        '=',
        '(',
        ')',
        ';',
        '&',
        '|',
        '<',
        '>',
        '%',
        'a',
        'f',
        '0',
        '9',
        '\t',
        '\n',
        '\r',
        '\u{1}',
        '\u{1b}',
        '\u{7f}',
        '\u{80}',
        '\u{85}',
        '\u{9b}',
        '\u{a0}',
        'é',
        '€',
        '\u{61c}',
        '\u{200b}',
        '\u{200f}',
        '\u{2028}',
        '\u{202e}',
        '\u{2066}',
        '\u{feff}',
        '\u{fffd}',
        '\u{1f600}',
        '\u{e0001}',
        '\u{e007f}',
    ];

    fn char_bytes(c: char) -> Vec<u8> {
        c.to_string().into_bytes()
    }

    /// Bytes without NUL, biased towards tricky bytes and sequences,
    /// including stray UTF-8 continuation and lead bytes.
    fn arb_word() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            4 => prop::sample::select(TRICKY_CHARS).prop_map(char_bytes),
            2 => (1u8..=255).prop_map(|b| vec![b]),
            1 => (0x80u8..=0xff).prop_map(|b| vec![b]),
            1 => any::<char>().prop_filter("no NUL", |&c| c != '\0').prop_map(char_bytes),
        ];
        prop::collection::vec(piece, 0..12).prop_map(|p| p.concat())
    }

    fn arb_string() -> impl Strategy<Value = String> {
        let c = prop_oneof![
            3 => prop::sample::select(TRICKY_CHARS),
            1 => Just('\0'),
            2 => any::<char>(),
        ];
        prop::collection::vec(c, 0..16).prop_map(String::from_iter)
    }

    fn config() -> Config {
        // No regression files: they would be written next to this source file.
        Config {
            cases: 256,
            failure_persistence: None,
            ..Config::default()
        }
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn prop_bash_round_trips_words(words in prop::collection::vec(arb_word(), 1..16)) {
            let expected = nul_terminated(&words);
            for locale in all_locales() {
                prop_assert_eq!(shell_printf("bash", locale, &words), expected.clone(), "in {}", locale);
            }
        }

        #[test]
        fn prop_quoted_word_is_terminal_safe(w in arb_word()) {
            assert_terminal_safe(&word(&w));
        }

        #[test]
        fn prop_sh_round_trips_printable_ascii(
            words in prop::collection::vec(prop::collection::vec(0x20u8..0x7f, 0..12), 1..16),
        ) {
            for w in &words {
                prop_assert!(!word(w).starts_with(b"$'"));
            }
            prop_assert_eq!(shell_printf("sh", "C", &words), nul_terminated(&words));
        }

        #[test]
        fn prop_comment_text_is_one_safe_line(t in arb_word(), nul in any::<bool>()) {
            let t = if nul { [&t[..], b"\0"].concat() } else { t };
            let out = comment(&t);
            assert_terminal_safe(&out);
            prop_assert!(!out.contains(&b'\n') && !out.contains(&b'\r'));
            prop_assert_eq!(unescape_comment(&out), t);
        }

        #[test]
        fn prop_json_line_is_safe_and_equivalent(strings in prop::collection::vec(arb_string(), 0..6)) {
            let line = serde_json::to_vec(&strings).unwrap();
            let out = json(&line);
            assert_terminal_safe(&out);
            let before: serde_json::Value = serde_json::from_slice(&line).unwrap();
            let after: serde_json::Value = serde_json::from_slice(&out).unwrap();
            prop_assert_eq!(before, after);
            if line.iter().all(|&b| b < 0x7f) {
                prop_assert_eq!(out, line);
            }
        }
    }
}
