//! One line of `/var/log/pveproxy/access.log`, split into borrowed fields.
//!
//! pveproxy writes `"$ip - $user [$time] \"$requestline\" $code $length\n"` and escapes nothing: the
//! request line is the raw first line of an HTTP request, so it may hold quotes, spaces and any
//! byte an attacker chose. Everything around it is written by pveproxy itself and has a fixed
//! shape. So the line is parsed from both ends towards the request line (pve-formats.md §1.2):
//! the status and length from the right, the client, user and time from the left, and whatever
//! lies between the quotes is the request line, however odd.
//!
//! This runs for every line of a log that may hold hundreds of millions of them, so it does no
//! allocation and converts nothing it does not have to: the time is only validated here and turned
//! into a [`jiff::Timestamp`] on demand.
//!
//! # The time field
//!
//! PVE writes `24/06/2026:14:03:14 +0200`: a numeric month, 25 bytes, checked in place. Before
//! April 2017 the month was a name: pve-http-server's `log_request`
//! (`src/PVE/APIServer/AnyEvent.pm`, then without `src/`; pve-manager's `PVE/HTTPServer.pm`
//! before January 2017) wrote
//! `strftime("%d/%b/%Y:%H:%M:%S %z", localtime())` until commit 2fd728c "avoid locale specific
//! time stamps" changed `%b` to `%m`. glibc's `%b` is the locale's `abmon`, so a node running
//! pveproxy under, say, `LANG=de_DE.UTF-8` logged `17/Mär/2016:…`, and one under
//! `fr_FR.ISO-8859-1` logged `f\xe9vr.` as one byte per letter. Those names are matched exactly,
//! as bytes, against [`months::MONTH_NAMES`]: glibc's spellings for de, fr, it, es, nl, pt, pl and
//! ru over the releases old nodes ran (they changed: pt went lower case in glibc 2.24, ru has
//! been capitalised, genitive with dots, nominative and genitive again), each in UTF-8 and the
//! locale's 8-bit charsets. English is matched ignoring ASCII case. The name is 3 to
//! [`MAX_MONTH_NAME`] bytes, so the month-name time field ends within a few bytes of where it
//! starts, and `]` is looked for only there: the request line after it may hold anything.

mod months;
pub(crate) mod screen;

use jiff::Timestamp;

/// The fields of one access.log line, borrowed from the input.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line<'a> {
    /// Client address as logged (`::ffff:192.168.1.10`, `2001:db8::17`, `10.0.0.1`), or `-`.
    pub(crate) client: &'a [u8],
    /// Authenticated user or token id (`alice@pve`, `alice@pve!ci`), or `-`.
    pub(crate) user: &'a [u8],
    /// The time between the brackets, validated: `24/06/2026:14:03:14 +0200` or `29/Jul/2014:…`.
    time: &'a [u8],
    /// The raw HTTP request line (`POST /api2/json/... HTTP/1.1`), or `-`.
    pub(crate) request: &'a [u8],
    /// The final HTTP status code.
    pub(crate) status: u16,
    /// Bytes of body sent, `None` for `-`.
    pub(crate) length: Option<u64>,
}

/// Why a line is not an access.log line. Shown to the user as `FILE:LINE: reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Malformed {
    NotAccessLog,
    NoStatus,
    NoLength,
    NoRequest,
    NoClient,
    NoUser,
    NoTime,
    BadTime,
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Malformed::NotAccessLog => {
                "not an access.log line (CLIENT - USER [TIME] \"REQUEST\" STATUS LENGTH)"
            }
            Malformed::NoStatus => "not an access.log line: no 3-digit status after the request",
            Malformed::NoLength => "not an access.log line: the length is neither a number nor '-'",
            Malformed::NoRequest => "not an access.log line: no quoted request line",
            Malformed::NoClient => "not an access.log line: no client address",
            Malformed::NoUser => "not an access.log line: no ' - USER ' after the client",
            Malformed::NoTime => "not an access.log line: no [time] after the user",
            Malformed::BadTime => "invalid time stamp",
        })
    }
}

/// Parses one line (without its `\n`; a trailing `\r` is tolerated).
pub(crate) fn parse(line: &[u8]) -> Result<Line<'_>, Malformed> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    fields(line).map_err(|reason| {
        // A line without any quote is not a damaged access.log line but something else.
        if memchr::memchr(b'"', line).is_none() {
            Malformed::NotAccessLog
        } else {
            reason
        }
    })
}

fn fields(line: &[u8]) -> Result<Line<'_>, Malformed> {
    // From the right: ` <status> <length>` after the closing quote of the request line.
    let sp = line
        .iter()
        .rposition(|&b| b == b' ')
        .ok_or(Malformed::NoStatus)?;
    let length = match &line[sp + 1..] {
        b"-" => None,
        digits => Some(parse_digits(digits).ok_or(Malformed::NoLength)?),
    };
    let head = &line[..sp];
    if head.len() < 5 || head[head.len() - 4] != b' ' || head[head.len() - 5] != b'"' {
        return Err(Malformed::NoStatus);
    }
    let status = match head[head.len() - 3..] {
        [h @ b'0'..=b'9', t @ b'0'..=b'9', o @ b'0'..=b'9'] => {
            u16::from(h - b'0') * 100 + u16::from(t - b'0') * 10 + u16::from(o - b'0')
        }
        _ => return Err(Malformed::NoStatus),
    };
    let head = &head[..head.len() - 5]; // up to, not including, the closing quote

    // From the left: `<client> - <user> [<time>] "`.
    let sp = find_space(head).ok_or(Malformed::NoClient)?;
    let client = &head[..sp];
    if client.is_empty() {
        return Err(Malformed::NoClient);
    }
    let rest = head[sp..].strip_prefix(b" - ").ok_or(Malformed::NoUser)?;
    let sp = find_space(rest).ok_or(Malformed::NoUser)?;
    let user = &rest[..sp];
    if user.is_empty() {
        return Err(Malformed::NoUser);
    }
    let rest = rest[sp..].strip_prefix(b" [").ok_or(Malformed::NoTime)?;
    // The time field is 25 bytes, or 26 to 33 in the old month-name form (see the module doc).
    // No byte of a valid time field is `]`, so the first one is its end.
    let close = if rest.get(25) == Some(&b']') {
        25
    } else {
        let window = &rest[..rest.len().min(NAMED_TIME_MAX + 1)];
        match window.iter().skip(NAMED_TIME_MIN).position(|&b| b == b']') {
            Some(i) => NAMED_TIME_MIN + i,
            None => return Err(Malformed::NoTime),
        }
    };
    let time = &rest[..close];
    let request = rest[close..]
        .strip_prefix(b"] \"")
        .ok_or(Malformed::NoRequest)?;
    if !valid_time(time) {
        return Err(Malformed::BadTime);
    }
    Ok(Line {
        client,
        user,
        time,
        request,
        status,
        length,
    })
}

/// The first space in a short field (client, user): eight bytes at a time, which beats both a
/// byte loop and a vectorised search's set-up for fields of 3 to 40 bytes. Inlined: it runs
/// twice a line, and the call cost as much as the search.
#[inline(always)]
pub(crate) fn find_space(bytes: &[u8]) -> Option<usize> {
    const SPACES: u64 = u64::from_ne_bytes([b' '; 8]);
    const LOW: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let mut offset = 0;
    while let Some(chunk) = bytes.get(offset..offset + 8) {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(chunk);
        let word = u64::from_le_bytes(eight) ^ SPACES;
        let zero = word.wrapping_sub(LOW) & !word & HIGH;
        if zero != 0 {
            return Some(offset + (zero.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    bytes[offset..]
        .iter()
        .position(|&b| b == b' ')
        .map(|i| offset + i)
}

fn parse_digits(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + u64::from(b - b'0'))
    })
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// The longest month name in [`months::MONTH_NAMES`] (`марта` in UTF-8, glibc 2.14 to 2.16).
const MAX_MONTH_NAME: usize = {
    let mut max = 3;
    let mut i = 0;
    while i < months::MONTH_NAMES.len() {
        if months::MONTH_NAMES[i].0.len() > max {
            max = months::MONTH_NAMES[i].0.len();
        }
        i += 1;
    }
    max
};

/// `dd/` before the month name and `/yyyy:HH:MM:SS +zzzz` after it.
const TIME_FIXED: usize = 3 + 20;
/// The shortest and longest month-name time field.
const NAMED_TIME_MIN: usize = TIME_FIXED + 3;
const NAMED_TIME_MAX: usize = TIME_FIXED + MAX_MONTH_NAME;

/// The month (1..=12) that `name` spells: English in any ASCII case, else exactly a spelling of
/// [`months::MONTH_NAMES`].
fn month_number(name: &[u8]) -> Option<u8> {
    if name.len() == 3 {
        if let Some(m) = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(name)) {
            return Some(m as u8 + 1);
        }
    }
    months::MONTH_NAMES
        .iter()
        .find(|(spelling, _)| *spelling == name)
        .map(|&(_, month)| month)
}

/// The parts of a time field, still in the log's local offset.
struct TimeParts {
    year: i16,
    month: i8,
    day: i8,
    hour: i8,
    minute: i8,
    second: i8,
    offset_seconds: i32,
}

/// Splits `dd/mm/yyyy:HH:MM:SS +zzzz` (PVE) or `dd/Mon/yyyy:HH:MM:SS +zzzz` (PVE before 2017,
/// `Mon` in the node's locale).
fn time_parts(time: &[u8]) -> Option<TimeParts> {
    let (month, rest) = match time.len() {
        25 => (two_digits(&time[3..5])?, &time[5..]),
        NAMED_TIME_MIN..=NAMED_TIME_MAX => {
            let split = time.len() - 20;
            (month_number(&time[3..split])?, &time[split..])
        }
        _ => return None,
    };
    // rest: `/yyyy:HH:MM:SS +zzzz`
    if rest.len() != 20
        || time[2] != b'/'
        || rest[0] != b'/'
        || rest[5] != b':'
        || rest[8] != b':'
        || rest[11] != b':'
        || rest[14] != b' '
    {
        return None;
    }
    let year = u16::from(two_digits(&rest[1..3])?) * 100 + u16::from(two_digits(&rest[3..5])?);
    let sign = match rest[15] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let oh = i32::from(two_digits(&rest[16..18])?);
    let om = i32::from(two_digits(&rest[18..20])?);
    let parts = TimeParts {
        year: year as i16,
        month: month as i8,
        day: two_digits(&time[0..2])? as i8,
        hour: two_digits(&rest[6..8])? as i8,
        minute: two_digits(&rest[9..11])? as i8,
        second: two_digits(&rest[12..14])? as i8,
        offset_seconds: sign * (oh * 3600 + om * 60),
    };
    let plausible = (1..=12).contains(&parts.month)
        && (1..=days_in_month(year, parts.month as u8)).contains(&(parts.day as u8))
        && parts.hour < 24
        && parts.minute < 60
        && parts.second < 61
        && oh < 26
        && om < 60;
    plausible.then_some(parts)
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (Howard Hinnant's
/// `days_from_civil`, <https://howardhinnant.github.io/date_algorithms.html>).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn days_in_month(year: u16, month: u8) -> u8 {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn two_digits(b: &[u8]) -> Option<u8> {
    match b {
        [a @ b'0'..=b'9', c @ b'0'..=b'9'] => Some((a - b'0') * 10 + (c - b'0')),
        _ => None,
    }
}

/// A time field of PVE's form as three words (byte k of a word is byte i + k of the field) and
/// its last byte.
type TimeWords = (u64, u64, u64, u8);

fn time_words(t: &[u8; 25]) -> TimeWords {
    let word = |i: usize| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&t[i..i + 8]);
        u64::from_le_bytes(bytes)
    };
    (word(0), word(8), word(16), t[24])
}

/// Bytes 0 to 2 of a time field's third word: `:SS`. The other bytes of the three words are its
/// minute and offset.
const SECOND: u64 = 0x00FF_FFFF;

/// Whether `time` is a valid time field: shape, ranges and calendar. It runs on every line, so
/// the numeric-month form PVE writes is checked in place, two digits at a time; the old
/// month-name form takes the full split.
#[inline]
fn valid_time(time: &[u8]) -> bool {
    let Ok(t) = <&[u8; 25]>::try_from(time) else {
        return time_parts(time).is_some();
    };
    // `dd/mm/yyyy:HH:MM:SS +zzzz`, eight bytes at a time.
    let (a, b, c, last) = time_words(t);
    let minute = (a, b, c & !SECOND, last);
    // A log has many lines a minute: a time of the last minute found valid (on this thread:
    // each file of a merge is read on its own), at the same offset, is valid when its seconds
    // are. Nothing else of the calendar depends on the seconds. (Zeros, before the first, are
    // no valid time: its separators are not zero.)
    thread_local! {
        static LAST_MINUTE: std::cell::Cell<TimeWords> =
            const { std::cell::Cell::new((0, 0, 0, 0)) };
    }
    if LAST_MINUTE.get() == minute {
        let [colon, tens, ones, ..] = c.to_le_bytes();
        return colon == b':' && matches!((tens, ones), (b'0'..=b'5', b'0'..=b'9') | (b'6', b'0'));
    }
    if !valid_words(t, a, b, c) {
        return false;
    }
    LAST_MINUTE.set(minute);
    true
}

/// [`valid_time`]'s check of the 25-byte form, given its three words: the places of the digits
/// checked for digits at once, the others for their separators.
fn valid_words(t: &[u8; 25], a: u64, b: u64, c: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    // Bytes 0 1 3 4 6 7 of a word: `dd/mm/yy`, `yy:HH:MM`; bytes 1 2 5 6 7: `:SS +zzz`.
    const DATE_DIGITS: u64 = 0xFFFF_00FF_FF00_FFFF;
    const LAST_DIGITS: u64 = 0xFFFF_FF00_00FF_FF00;
    // `b'0'..=b'9'` xor 0x30 is 0..=9; a byte of 10 or more gets its high bit from adding
    // 0x76 (a carry out of it only ever follows a byte already found wrong).
    let digits = |w: u64, places: u64| {
        let x = (w ^ (0x30 * ONES)) & places;
        (x | x.wrapping_add(0x76 * ONES)) & (0x80 * ONES) == 0
    };
    let sign = (c >> 32) as u8;
    let shape = a & !DATE_DIGITS == 0x0000_2F00_002F_0000 // `/` `/`
        && b & !DATE_DIGITS == 0x0000_3A00_003A_0000 // `:` `:`
        && c & !LAST_DIGITS & !(0xFF << 32) == 0x0000_0000_2000_003A // `:` ` `
        && (sign == b'+' || sign == b'-')
        && digits(a, DATE_DIGITS)
        && digits(b, DATE_DIGITS)
        && digits(c, LAST_DIGITS)
        && t[24].is_ascii_digit();
    if !shape {
        return false;
    }
    let pair = |w: u64, k: u32| {
        let x = w ^ (0x30 * ONES);
        (x >> (8 * k)) as u8 * 10 + (x >> (8 * (k + 1))) as u8
    };
    let (day, month, century) = (pair(a, 0), pair(a, 3), pair(a, 6));
    let (year, hour, minute) = (pair(b, 0), pair(b, 3), pair(b, 6));
    let (second, oh) = (pair(c, 1), pair(c, 5));
    let om = ((c >> 56) as u8 ^ 0x30) * 10 + (t[24] - b'0');
    if !(1..=12).contains(&month) || hour > 23 || minute > 59 || second > 60 || oh > 25 || om > 59 {
        return false;
    }
    day >= 1 && day <= days_in_month(u16::from(century) * 100 + u16::from(year), month)
}

impl<'a> Line<'a> {
    /// The log time as an absolute instant. Parsing has checked the calendar, so `None` is only
    /// possible for a time outside what jiff represents; the caller reports it like a bad line.
    pub(crate) fn timestamp(&self) -> Option<Timestamp> {
        Timestamp::from_second(self.seconds()?).ok()
    }

    /// The log time in seconds since the epoch, as [`Line::timestamp`] has it: computed by
    /// hand, since it runs on every line of a merge (and a leap second counts as :59, as jiff
    /// takes it).
    pub(crate) fn seconds(&self) -> Option<i64> {
        // As in `valid_time`: the start of the last minute of PVE's form, on this thread, is
        // kept, with the minute and offset as words (a comparison of known length); a time of
        // that minute adds its seconds. Only a minute wholly within jiff's range is kept.
        thread_local! {
            static LAST: std::cell::Cell<Option<(TimeWords, i64)>> =
                const { std::cell::Cell::new(None) };
        }
        let Ok(time) = <&[u8; 25]>::try_from(self.time) else {
            return self.seconds_afresh();
        };
        let (a, b, c, last) = time_words(time);
        let minute = (a, b, c & !SECOND, last);
        // Digits: the field was checked when the line was parsed. A leap second counts as :59.
        let [_, tens, ones, ..] = c.to_le_bytes();
        let second = i64::from(tens.wrapping_sub(b'0'))
            .wrapping_mul(10)
            .wrapping_add(i64::from(ones.wrapping_sub(b'0')))
            .min(59);
        if let Some((kept, start)) = LAST.get() {
            if kept == minute {
                return Some(start + second);
            }
        }
        let seconds = self.seconds_afresh();
        if let Some(start) = seconds.map(|s| s - second) {
            if start >= Timestamp::MIN.as_second() && start + 59 <= Timestamp::MAX.as_second() {
                LAST.set(Some((minute, start)));
            }
        }
        seconds
    }

    fn seconds_afresh(&self) -> Option<i64> {
        let p = time_parts(self.time)?;
        let days = days_from_civil(i64::from(p.year), i64::from(p.month), i64::from(p.day));
        let seconds = days * 86_400
            + i64::from(p.hour) * 3600
            + i64::from(p.minute) * 60
            + i64::from(p.second.min(59))
            - i64::from(p.offset_seconds);
        (Timestamp::MIN.as_second()..=Timestamp::MAX.as_second())
            .contains(&seconds)
            .then_some(seconds)
    }

    /// The user, or `None` when the log has `-` (unauthenticated or not an API call).
    pub(crate) fn user(&self) -> Option<&'a [u8]> {
        (self.user != b"-").then_some(self.user)
    }

    /// The client address, with an IPv4-mapped IPv6 address shown as plain IPv4.
    pub(crate) fn client(&self) -> Option<&'a [u8]> {
        match self.client {
            b"-" => None,
            c => Some(strip_v4_mapped(c)),
        }
    }
}

/// `::ffff:192.168.1.10` -> `192.168.1.10`; anything else unchanged.
pub(crate) fn strip_v4_mapped(client: &[u8]) -> &[u8] {
    // PVE writes the prefix in lower case: that comparison first, of known length.
    let mapped = client.len() > 7
        && (client[..7] == *b"::ffff:" || client[..7].eq_ignore_ascii_case(b"::ffff:"));
    if mapped && client[7..].contains(&b'.') {
        &client[7..]
    } else {
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(line: &str) -> Line<'_> {
        parse(line.as_bytes()).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    #[test]
    fn login_line() {
        let l = ok(
            r#"::ffff:192.168.10.23 - - [24/06/2026:14:02:51 +0200] "POST /api2/extjs/access/ticket HTTP/1.1" 200 1521"#,
        );
        assert_eq!(l.client(), Some(&b"192.168.10.23"[..]));
        assert_eq!(l.user(), None);
        assert_eq!(l.request, b"POST /api2/extjs/access/ticket HTTP/1.1");
        assert_eq!(l.status, 200);
        assert_eq!(l.length, Some(1521));
        assert_eq!(l.timestamp().unwrap().to_string(), "2026-06-24T12:02:51Z");
    }

    #[test]
    fn token_ipv6_and_dash_length() {
        let l = ok(
            r#"2001:db8::17 - automation@pve!ci [24/06/2026:14:05:02 -0130] "GET / HTTP/1.1" 101 -"#,
        );
        assert_eq!(l.client(), Some(&b"2001:db8::17"[..]));
        assert_eq!(l.user(), Some(&b"automation@pve!ci"[..]));
        assert_eq!(l.length, None);
        assert_eq!(l.status, 101);
        assert_eq!(l.timestamp().unwrap().to_string(), "2026-06-24T15:35:02Z");
        let l = ok(r#"::1 - root@pam [24/06/2026:14:05:02 +0000] "GET / HTTP/1.1" 200 5"#);
        assert_eq!(l.client(), Some(&b"::1"[..]));
    }

    #[test]
    fn month_name_form() {
        let l = ok(
            r#"127.0.0.1 - root@pam [29/Jul/2014:14:32:26 -0400] "GET /api2/json/version HTTP/1.1" 200 80"#,
        );
        assert_eq!(l.timestamp().unwrap().to_string(), "2014-07-29T18:32:26Z");
    }

    /// The UTC time of a line whose time field is `dd/NAME/yyyy:14:32:26 -0400`.
    fn named(day: &str, name: &[u8], year: &str) -> Result<String, Malformed> {
        let mut line = b"127.0.0.1 - root@pam [".to_vec();
        line.extend_from_slice(format!("{day}/").as_bytes());
        line.extend_from_slice(name);
        line.extend_from_slice(
            format!("/{year}:14:32:26 -0400] \"GET / HTTP/1.1\" 200 80").as_bytes(),
        );
        let l = parse(&line)?;
        Ok(l.timestamp().expect("in range").to_string())
    }

    #[test]
    fn english_month_names_ignore_ascii_case() {
        for name in ["Jul", "JUL", "jul", "jUl"] {
            assert_eq!(
                named("29", name.as_bytes(), "2014").unwrap(),
                "2014-07-29T18:32:26Z"
            );
        }
        assert_eq!(named("01", b"Dec", "2015").unwrap(), "2015-12-01T18:32:26Z");
    }

    #[test]
    fn locale_month_names() {
        let cases: &[(&[u8], &str)] = &[
            // de (UTF-8, ISO-8859-1), de_AT
            ("Mär".as_bytes(), "03"),
            (b"M\xe4r", "03"),
            (b"Mai", "05"),
            (b"Okt", "10"),
            (b"Dez", "12"),
            ("Jän".as_bytes(), "01"),
            (b"J\xe4n", "01"),
            // fr_FR, and the three-letter forms of fr_BE/CA/CH/LU
            (b"janv.", "01"),
            ("févr.".as_bytes(), "02"),
            (b"f\xe9vr.", "02"),
            (b"avril", "04"),
            (b"juil.", "07"),
            ("août".as_bytes(), "08"),
            (b"ao\xfbt", "08"),
            ("déc.".as_bytes(), "12"),
            (b"d\xe9c.", "12"),
            (b"jui", "07"),
            ("aoû".as_bytes(), "08"),
            // it
            (b"gen", "01"),
            (b"mag", "05"),
            (b"giu", "06"),
            (b"ott", "10"),
            (b"dic", "12"),
            // es
            (b"ene", "01"),
            (b"abr", "04"),
            (b"ago", "08"),
            // nl
            (b"mrt", "03"),
            (b"mei", "05"),
            (b"okt", "10"),
            // pt: capitalised before glibc 2.24, lower case after
            (b"Fev", "02"),
            (b"fev", "02"),
            (b"Out", "10"),
            (b"out", "10"),
            (b"dez", "12"),
            // pl (UTF-8, ISO-8859-2)
            (b"sty", "01"),
            (b"kwi", "04"),
            (b"wrz", "09"),
            ("paź".as_bytes(), "10"),
            (b"pa\xbc", "10"),
            // ru: nominative and genitive May; UTF-8, ISO-8859-5, KOI8-R, CP1251
            ("май".as_bytes(), "05"),
            ("мая".as_bytes(), "05"),
            ("Май".as_bytes(), "05"),
            ("марта".as_bytes(), "03"),
            ("нояб.".as_bytes(), "11"),
            (b"\xdc\xd0\xef", "05"), // мая, ISO-8859-5
            (b"\xcd\xc1\xca", "05"), // май, KOI8-R
            (b"\xc4\xc5\xcb", "12"), // дек, KOI8-R
            (b"\xec\xe0\xff", "05"), // мая, CP1251
        ];
        for (name, month) in cases {
            assert_eq!(
                named("15", name, "2016"),
                Ok(format!("2016-{month}-15T18:32:26Z")),
                "{}",
                String::from_utf8_lossy(name)
            );
        }
    }

    #[test]
    fn month_names_are_exact() {
        // Not a spelling glibc wrote: wrong case outside English, a missing dot, UTF-8 cut short.
        for name in [
            &b"MAI"[..],
            b"Okt.",
            b"janv",
            b"JANV.",
            b"f\xc3vr.",
            "Мая".as_bytes(),
            b"Ja",
            b"xyz",
        ] {
            assert_eq!(
                named("15", name, "2016"),
                Err(Malformed::BadTime),
                "{}",
                String::from_utf8_lossy(name)
            );
        }
        // Longer than any name, or none: the time field's end is not looked for there.
        assert_eq!(named("15", b"septiembre.", "2016"), Err(Malformed::NoTime));
        assert_eq!(named("15", b"septiembre", "2016"), Err(Malformed::BadTime));
        assert_eq!(named("15", b"", "2016"), Err(Malformed::NoTime));
    }

    #[test]
    fn month_name_table_is_consistent() {
        assert_eq!(MAX_MONTH_NAME, "марта".len());
        for (i, &(name, month)) in months::MONTH_NAMES.iter().enumerate() {
            let shown = String::from_utf8_lossy(name);
            assert!((1..=12).contains(&month), "{shown}");
            assert!((3..=MAX_MONTH_NAME).contains(&name.len()), "{shown}");
            // Nothing that could end the field or be mistaken for its separators.
            assert!(
                !name
                    .iter()
                    .any(|b| b"]/ \"[:\r\n".contains(b) || b.is_ascii_digit()),
                "{shown}"
            );
            assert!(
                months::MONTH_NAMES[..i].iter().all(|&(n, _)| n != name),
                "{shown} twice"
            );
            if let Some(m) = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(name)) {
                assert_eq!(m as u8 + 1, month, "{shown} is also English");
            }
        }
    }

    #[test]
    fn a_named_time_field_ends_at_its_own_bracket() {
        // The request line holds `] "` and brackets; the field is found all the same.
        for req in [r#"GET /a] "b HTTP/1.1"#, "]", r#"] "] ""#] {
            let line = format!(r#"1.2.3.4 - - [01/févr./2016:00:00:00 +0100] "{req}" 200 1"#);
            let l = ok(&line);
            assert_eq!(l.request, req.as_bytes());
            assert_eq!(l.timestamp().unwrap().to_string(), "2016-01-31T23:00:00Z");
        }
        // An early `]` is not the end of a named field.
        assert_eq!(
            parse(br#"1.2.3.4 - - [01/Feb]2016:00:00:00 +0100] "GET / HTTP/1.1" 200 1"#).err(),
            Some(Malformed::BadTime)
        );
    }

    #[test]
    fn request_line_with_quotes_and_spaces_is_taken_whole() {
        let l =
            ok(r#"::ffff:1.2.3.4 - - [24/06/2026:14:02:51 +0200] "GET /a" b "c HTTP/1.1" 400 -"#);
        assert_eq!(l.request, br#"GET /a" b "c HTTP/1.1"#);
        let l = ok("::ffff:1.2.3.4 - - [24/06/2026:14:02:51 +0200] \"-\" 400 -\r");
        assert_eq!(l.request, b"-");
        let l = ok("::ffff:1.2.3.4 - - [24/06/2026:14:02:51 +0200] \"\" 500 -");
        assert_eq!(l.request, b"");
    }

    #[test]
    fn malformed_lines_say_why() {
        let cases: &[(&str, Malformed)] = &[
            ("", Malformed::NotAccessLog),
            ("garbage", Malformed::NotAccessLog),
            (
                "this line is not an access.log line",
                Malformed::NotAccessLog,
            ),
            ("\"", Malformed::NoStatus),
            (
                r#"1.2.3.4 - - [24/06/2026:14:02:51 +0200] "GET / HTTP/1.1" 200 12x"#,
                Malformed::NoLength,
            ),
            (
                r#"1.2.3.4 - - [24/06/2026:14:02:51 +0200] "GET / HTTP/1.1" 20 12"#,
                Malformed::NoStatus,
            ),
            (
                r#"1.2.3.4 - - [24/13/2026:14:02:51 +0200] "GET / HTTP/1.1" 200 12"#,
                Malformed::BadTime,
            ),
            (
                r#"1.2.3.4 - - [24/06/2026 14:02:51 +0200] "GET / HTTP/1.1" 200 12"#,
                Malformed::BadTime,
            ),
            (
                r#"1.2.3.4 x - [24/06/2026:14:02:51 +0200] "GET / HTTP/1.1" 200 12"#,
                Malformed::NoUser,
            ),
            (
                r#"1.2.3.4 - - 24/06/2026:14:02:51 +0200 "GET / HTTP/1.1" 200 12"#,
                Malformed::NoTime,
            ),
            (
                r#"1.2.3.4 - - [24/06/2026:14:02:51 +0200]"GET / HTTP/1.1" 200 12"#,
                Malformed::NoRequest,
            ),
            (
                r#" - - [24/06/2026:14:02:51 +0200] "GET / HTTP/1.1" 200 12"#,
                Malformed::NoClient,
            ),
        ];
        for (line, want) in cases {
            assert_eq!(parse(line.as_bytes()).err(), Some(*want), "{line}");
        }
    }

    #[test]
    fn impossible_dates_are_malformed() {
        for date in [
            "31/02/2026",
            "29/02/2026",
            "31/04/2026",
            "00/01/2026",
            "30/02/2000",
        ] {
            let line = format!(r#"1.2.3.4 - - [{date}:14:02:51 +0200] "GET / HTTP/1.1" 200 12"#);
            assert_eq!(
                parse(line.as_bytes()).err(),
                Some(Malformed::BadTime),
                "{date}"
            );
        }
        assert!(
            ok(r#"1.2.3.4 - - [29/02/2028:14:02:51 +0200] "GET / HTTP/1.1" 200 12"#)
                .timestamp()
                .is_some()
        );
    }

    #[test]
    fn seconds_at_the_edges_of_jiffs_range_are_what_jiff_makes_of_them() {
        for time in [
            "31/12/9999:23:59:59 +2559",
            "31/12/9999:23:59:59 -2559",
            "31/12/9999:00:00:00 +0000",
            "30/12/9999:22:00:00 +0000",
            "30/12/9999:22:00:01 +0000",
            "01/01/0000:00:00:00 -2559",
            "29/02/2000:23:59:60 +0100",
            "01/03/1900:00:00:00 +0000",
        ] {
            let text = format!("1.2.3.4 - root@pam [{time}] \"GET / HTTP/1.1\" 200 1");
            let line = parse(text.as_bytes()).unwrap();
            let p = time_parts(line.time).unwrap();
            let civil = jiff::civil::DateTime::new(
                p.year,
                p.month,
                p.day,
                p.hour,
                p.minute,
                p.second.min(59),
                0,
            )
            .unwrap();
            let want = jiff::tz::Offset::from_seconds(p.offset_seconds)
                .unwrap()
                .to_timestamp(civil)
                .ok();
            assert_eq!(line.seconds(), want.map(|t| t.as_second()), "{time}");
        }
    }

    proptest! {
        /// Seconds by hand are what jiff makes of the same time, to the edge of its range.
        #[test]
        fn seconds_by_hand_are_what_jiff_makes_of_the_time(
            day in 1i8..=31, month in 1i8..=12, year in prop_oneof![0i16..=9999, 9990i16..=9999, 0i16..=3],
            hour in 0i8..24, minute in 0i8..60, second in 0i8..61,
            sign in prop_oneof![Just('+'), Just('-')], oh in 0i32..26, om in 0i32..60,
        ) {
            let time = format!("{day:02}/{month:02}/{year:04}:{hour:02}:{minute:02}:{second:02} {sign}{oh:02}{om:02}");
            let text = format!("1.2.3.4 - root@pam [{time}] \"GET / HTTP/1.1\" 200 1");
            if let Ok(line) = parse(text.as_bytes()) {
                let civil = jiff::civil::DateTime::new(year, month, day, hour, minute, second.min(59), 0).unwrap();
                let offset = jiff::tz::Offset::from_seconds(if sign == '+' { 1 } else { -1 } * (oh * 3600 + om * 60)).unwrap();
                let want = offset.to_timestamp(civil).ok();
                prop_assert_eq!(line.seconds(), want.map(|t| t.as_second()), "{}", time);
                prop_assert_eq!(line.timestamp(), want);
                // Every other second of the minute, from the minute kept.
                for other in 0..61i8 {
                    let text = text.replacen(&format!(":{second:02} "), &format!(":{other:02} "), 1);
                    let line = parse(text.as_bytes()).unwrap();
                    let civil = civil.with().second(other.min(59)).build().unwrap();
                    let want = offset.to_timestamp(civil).ok();
                    prop_assert_eq!(line.seconds(), want.map(|t| t.as_second()), "{}", text);
                }
            }
        }

        /// The in-place time check agrees with the full split.
        #[test]
        fn valid_time_agrees_with_time_parts(t in "[0-3][0-9]/[01][0-9]/[0-9]{4}:[0-2][0-9]:[0-6][0-9]:[0-6][0-9] [-+][0-2][0-9][0-6][0-9]|.{25}") {
            prop_assert_eq!(valid_time(t.as_bytes()), time_parts(t.as_bytes()).is_some(), "{}", t);
        }

        /// A valid time with any one or two bytes changed, to anything: the check eight bytes
        /// at a time still agrees with the full split.
        #[test]
        fn valid_time_agrees_with_time_parts_on_any_byte(
            t in "[0-3][0-9]/[01][0-9]/[0-9]{4}:[0-2][0-9]:[0-6][0-9]:[0-6][0-9] [-+][0-2][0-9][0-6][0-9]",
            edits in proptest::collection::vec((0usize..25, any::<u8>()), 1..3),
        ) {
            let mut t = t.into_bytes();
            // The time before the edits is the last one checked: kept when valid, so the
            // edited one must not be taken for it.
            prop_assert_eq!(valid_time(&t), time_parts(&t).is_some(), "{:?}", t);
            for (at, byte) in edits {
                t[at] = byte;
            }
            prop_assert_eq!(valid_time(&t), time_parts(&t).is_some(), "{:?}", t);
            prop_assert_eq!(valid_time(&t), time_parts(&t).is_some(), "{:?} again", t);
        }

        /// A time of the minute checked last, with its seconds (or the colon before them)
        /// changed to anything: only the seconds are checked again, and that agrees with the
        /// full split.
        #[test]
        fn a_second_of_the_last_minute_agrees_with_time_parts(
            t in "[0-3][0-9]/[01][0-9]/[0-9]{4}:[0-2][0-9]:[0-6][0-9]:[0-6][0-9] [-+][0-2][0-9][0-6][0-9]",
            colon in prop_oneof![Just(b':'), any::<u8>()],
            second in (any::<u8>(), any::<u8>()),
            digits in (0u8..10, 0u8..10),
        ) {
            let mut t = t.into_bytes();
            prop_assert_eq!(valid_time(&t), time_parts(&t).is_some(), "{:?}", t);
            for (tens, ones) in [second, (b'0' + digits.0, b'0' + digits.1)] {
                (t[16], t[17], t[18]) = (colon, tens, ones);
                prop_assert_eq!(valid_time(&t), time_parts(&t).is_some(), "{:?}", t);
            }
        }

        /// The word-at-a-time search agrees with the obvious one.
        #[test]
        fn find_space_is_position(bytes in proptest::collection::vec(prop_oneof![Just(b' '), any::<u8>()], 0..50)) {
            prop_assert_eq!(find_space(&bytes), bytes.iter().position(|&b| b == b' '));
        }

        /// Any bytes in the request line (pveproxy escapes nothing) come back exactly.
        #[test]
        fn request_line_round_trips(req in proptest::collection::vec(any::<u8>().prop_filter("no newline", |b| *b != b'\n'), 0..200),
                                    status in 100u16..600, len in proptest::option::of(0u64..1_000_000)) {
            let mut line = b"::ffff:10.0.0.1 - alice@pve!tok [01/02/2026:03:04:05 +0100] \"".to_vec();
            line.extend_from_slice(&req);
            line.extend_from_slice(format!("\" {status} ").as_bytes());
            line.extend_from_slice(len.map_or("-".to_string(), |l| l.to_string()).as_bytes());
            let l = parse(&line).unwrap();
            prop_assert_eq!(l.request, &req[..]);
            prop_assert_eq!(l.status, status);
            prop_assert_eq!(l.length, len);
            prop_assert_eq!(l.user, b"alice@pve!tok");
        }

        /// The length is what the field after the last space says: a number of 1 to 19
        /// digits, `-`, or no length at all (any other tail, a run of 20 digits or more, or
        /// none).
        #[test]
        fn the_length_is_the_field_after_the_last_space(
            tail in prop_oneof![
                "[0-9]{0,24}",
                Just("-".to_string()),
                "[0-9x-]{0,24}",
            ],
        ) {
            let mut line = b"::ffff:10.0.0.1 - root@pam [01/02/2026:03:04:05 +0100] \"GET / HTTP/1.1\" 200 ".to_vec();
            line.extend_from_slice(tail.as_bytes());
            let field = &line[line.iter().rposition(|&b| b == b' ').unwrap() + 1..];
            let expected = match field {
                b"-" => Ok(None),
                digits => parse_digits(digits).map(Some).ok_or(()),
            };
            let parsed = parse(&line).map(|l| l.length).map_err(drop);
            prop_assert_eq!(parsed, expected, "{:?}", tail);
        }

        /// Every spelling in the table, in a whole line, reads as its month, on any day.
        #[test]
        fn every_month_name_parses(i in 0..months::MONTH_NAMES.len(), day in 1u8..=28, year in 1970u16..2100,
                                   hour in 0u8..24, offset in -840i32..=840) {
            let (name, month) = months::MONTH_NAMES[i];
            let sign = if offset < 0 { '-' } else { '+' };
            let (oh, om) = (offset.abs() / 60, offset.abs() % 60); // offset in minutes
            let mut line = b"::ffff:10.0.0.1 - root@pam [".to_vec();
            line.extend_from_slice(format!("{day:02}/").as_bytes());
            line.extend_from_slice(name);
            line.extend_from_slice(format!("/{year}:{hour:02}:04:05 {sign}{oh:02}{om:02}] \"GET /] \" HTTP/1.1\" 200 -").as_bytes());
            let l = parse(&line).unwrap();
            prop_assert_eq!(l.request, b"GET /] \" HTTP/1.1");
            let want = jiff::civil::date(year as i16, month as i8, day as i8)
                .at(hour as i8, 4, 5, 0)
                .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(0)))
                .unwrap()
                .timestamp()
                - jiff::SignedDuration::from_secs(i64::from(offset) * 60);
            prop_assert_eq!(l.timestamp(), Some(want));
        }

        /// No input panics.
        #[test]
        fn never_panics(line in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(l) = parse(&line) {
                let _ = l.timestamp();
                let _ = l.client();
            }
        }
    }
}
