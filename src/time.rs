//! Times on the command line (`--since`, `--until`), taken as journalctl takes them.
//!
//! Admins type what is at hand: an RFC 3339 instant copied from a JSON record, a local date and
//! time as the node's clock shows it, `yesterday`, `-2h`, `"2 hours ago"`, `@1782302594`. The
//! grammar is systemd's (`parse_timestamp` in systemd `src/basic/time-util.c`, described in
//! `systemd.time(7)`), so what works with `journalctl --since` works here, plus the bare age
//! pverec always took (`7d`, `1h30m`: that long ago). All forms become one absolute instant, so
//! filtering compares instants and never cares which offset a log line was written in.
//!
//! The forms, tried in this order:
//! - `now`; `@SECONDS` (since 1970, UTC); `+SPAN`, `SPAN left` (later than now); `-SPAN`,
//!   `SPAN ago` and a bare `SPAN` with units (earlier than now);
//! - `today`, `yesterday`, `tomorrow` (local midnight), optionally followed by a zone;
//! - `[WEEKDAY ]DATE[ TIME]`, `[WEEKDAY ]TIME` (today) or `Mon DD HH:MM:SS` (this year, as
//!   journalctl and syslog print it), where DATE is `YYYY-MM-DD` or `YY-MM-DD`, TIME is
//!   `HH:MM[:SS[.FRACTION]]`, and date and time are joined by a space or `T`; in local time,
//!   unless a zone follows: `Z` or an offset welded to the time (RFC 3339), or after a space
//!   `UTC`, an offset (`+02`, `+0200`, `+02:00`) or a zone name (`Europe/Vienna`).
//!
//! A SPAN is numbers with units, spaces optional (`1h30m`, `2 hours`, `1.5d`): `us`, `ms`,
//! `s`/`sec`/`second(s)`, `m`/`min`/`minute(s)`, `h`/`hr`/`hour(s)`, `d`/`day(s)`,
//! `w`/`week(s)`, `M`/`month(s)` (30.44 days), `y`/`year(s)` (365.25 days), as systemd counts
//! them; a day is always 24 hours. After `@`, `+`, `-` or before `ago`/`left`, a number without
//! a unit is seconds; a bare span needs its units (`2026` is no age).

use jiff::tz::{Offset, TimeZone};
use jiff::{SignedDuration, Timestamp, Zoned, civil};

/// Parses a `--since`/`--until` value relative to the current time.
pub(crate) fn parse_time_arg(arg: &str) -> Result<Timestamp, String> {
    parse_time(arg, &Zoned::now())
}

fn parse_time(arg: &str, now: &Zoned) -> Result<Timestamp, String> {
    let text = arg.trim();
    let time = parse_any(text, now)?;
    // jiff reaches back to year -9999; a log's times, and what pverec prints, are years 1-9999.
    if time < Timestamp::from_second(FIRST_SECOND).unwrap_or(Timestamp::MIN) {
        return Err(format!("'{text}' is before the year 1"));
    }
    Ok(time)
}

/// 0001-01-01T00:00:00Z.
const FIRST_SECOND: i64 = -62_135_596_800;

fn parse_any(text: &str, now: &Zoned) -> Result<Timestamp, String> {
    relative(text, now)
        .or_else(|| absolute(text, now))
        .or_else(|| text.parse::<Timestamp>().ok().map(Ok))
        .unwrap_or_else(|| {
            Err(format!(
                "'{text}' is not a time: use a date and time in local time ('2026-06-24 14:00', \
                 '14:00', 'yesterday'), RFC 3339 (2026-06-24T12:00:00Z), an age (2h, 1h30m, \
                 '-2h', '2 hours ago'), 'now' or '@' and seconds since 1970"
            ))
        })
}

/// `now`, `@N`, `+SPAN`, `-SPAN`, `SPAN ago`, `SPAN left` and a bare `SPAN`; `None` when the
/// text has none of these shapes.
fn relative(text: &str, now: &Zoned) -> Option<Result<Timestamp, String>> {
    let now_ts = now.timestamp();
    if text == "now" {
        return Some(Ok(now_ts));
    }
    // (base, sign, span, what the form asks for)
    let (base, sign, span, form) = if let Some(span) = text.strip_prefix('@') {
        (
            Timestamp::UNIX_EPOCH,
            1,
            span,
            "after '@', seconds since 1970",
        )
    } else if let Some(span) = text.strip_prefix('+') {
        (now_ts, 1, span, "after '+', a time span")
    } else if let Some(span) = text.strip_prefix('-') {
        (now_ts, -1, span, "after '-', a time span")
    } else if let Some(span) = text.strip_suffix(" ago") {
        (now_ts, -1, span, "before 'ago', a time span")
    } else if let Some(span) = text.strip_suffix(" left") {
        (now_ts, 1, span, "before 'left', a time span")
    } else {
        // A bare span: only when every number has its unit (else it is no age, but maybe a
        // date), as long as an instant can be.
        return match span_micros(text, false) {
            Ok(us) => Some(shift(now_ts, -us, text)),
            Err(SpanError::TooLong) => Some(Err(format!("'{text}': age too long"))),
            Err(SpanError::Malformed) => None,
        };
    };
    Some(match span_micros(span, true) {
        Ok(us) => shift(base, sign * us, text),
        Err(SpanError::TooLong) => Err(format!("'{text}': span too long")),
        Err(SpanError::Malformed) => Err(format!(
            "'{text}' is not a time: give {form} (e.g. @1782302594, -2h, +1h30m, '2 hours ago')"
        )),
    })
}

/// `base` moved by `us` microseconds, or why it cannot be.
fn shift(base: Timestamp, us: i64, text: &str) -> Result<Timestamp, String> {
    base.checked_add(SignedDuration::from_micros(us))
        .map_err(|_| format!("'{text}' reaches out of the years pverec can show"))
}

/// Why a text is not a time span.
#[derive(Debug, PartialEq, Eq)]
enum SpanError {
    /// Not of the shape.
    Malformed,
    /// Of the shape, but longer than any instant can be apart.
    TooLong,
}

/// Microseconds of each unit, by name. Where one name starts another (`m`, `min`, `months`,
/// `ms`), the longer one comes first, as in systemd's `extract_multiplier`.
const UNITS: &[(&str, i64)] = &[
    ("seconds", SECOND),
    ("second", SECOND),
    ("sec", SECOND),
    ("s", SECOND),
    ("minutes", MINUTE),
    ("minute", MINUTE),
    ("min", MINUTE),
    ("months", MONTH),
    ("month", MONTH),
    ("M", MONTH),
    ("msec", 1_000),
    ("ms", 1_000),
    ("m", MINUTE),
    ("hours", HOUR),
    ("hour", HOUR),
    ("hr", HOUR),
    ("h", HOUR),
    ("days", DAY),
    ("day", DAY),
    ("d", DAY),
    ("weeks", 7 * DAY),
    ("week", 7 * DAY),
    ("w", 7 * DAY),
    ("years", YEAR),
    ("year", YEAR),
    ("y", YEAR),
    ("usec", 1),
    ("us", 1),
    ("\u{3bc}s", 1),
    ("\u{b5}s", 1),
];
const SECOND: i64 = 1_000_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// systemd's month and year: 30.44 and 365.25 days.
const MONTH: i64 = 2_629_800 * SECOND;
const YEAR: i64 = 31_557_600 * SECOND;

/// A span such as `1h30m`, `2 hours`, `1.5d`, in microseconds. A number without a unit is
/// seconds when `seconds_default`, an error otherwise.
fn span_micros(text: &str, seconds_default: bool) -> Result<i64, SpanError> {
    let too_long = || SpanError::TooLong;
    let bad = || SpanError::Malformed;
    let mut rest = text.trim_start();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let whole: i64 = rest[..digits].parse().map_err(|_| too_long())?;
        rest = &rest[digits..];
        let mut fraction = "";
        if let Some(after) = rest.strip_prefix('.') {
            let n = after.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 {
                return Err(bad());
            }
            fraction = &after[..n];
            rest = &after[n..];
        }
        rest = rest.trim_start();
        let unit = UNITS.iter().find(|(name, _)| rest.starts_with(name));
        let micros = match unit {
            Some((name, micros)) => {
                rest = &rest[name.len()..];
                *micros
            }
            None if seconds_default => SECOND,
            None => return Err(bad()),
        };
        // After a unit: the next number, a space or the end (`12.34.56` is no span).
        if !rest.is_empty() && !rest.starts_with(|c: char| c.is_ascii_digit() || c == ' ') {
            return Err(bad());
        }
        let mut part = whole.checked_mul(micros).ok_or_else(too_long)?;
        let mut scale = micros;
        for digit in fraction.bytes() {
            scale /= 10;
            part = part
                .checked_add(i64::from(digit - b'0') * scale)
                .ok_or_else(too_long)?;
        }
        total = total.checked_add(part).ok_or_else(too_long)?;
        rest = rest.trim_start();
    }
    Ok(total)
}

/// A date and/or time, in local time or the zone given; `None` when it is none of these forms.
fn absolute(text: &str, now: &Zoned) -> Option<Result<Timestamp, String>> {
    let (rest, zone) = split_zone(text);
    let tz = zone.unwrap_or_else(|| now.time_zone().clone());
    let today = now.with_time_zone(tz.clone()).date();
    let datetime = match rest {
        "today" => today.to_datetime(civil::Time::midnight()),
        "yesterday" => today.yesterday().ok()?.to_datetime(civil::Time::midnight()),
        "tomorrow" => today.tomorrow().ok()?.to_datetime(civil::Time::midnight()),
        _ => {
            let (weekday, rest) = split_weekday(rest);
            let datetime = date_time(rest, today)?;
            if weekday.is_some_and(|w| w != datetime.weekday()) {
                return Some(Err(format!(
                    "'{text}': {} is a {:?}",
                    datetime.date(),
                    datetime.weekday()
                )));
            }
            datetime
        }
    };
    Some(
        datetime
            .to_zoned(tz)
            .map(|z| z.timestamp())
            .map_err(|e| format!("'{text}' is out of range: {e}")),
    )
}

/// Splits off a trailing zone: `Z` or an offset welded to the time (`…14:00+02:00`), or after a
/// space `UTC`, an offset or a zone name. What is not a zone stays part of the text.
fn split_zone(text: &str) -> (&str, Option<TimeZone>) {
    let bytes = text.as_bytes();
    if bytes.len() > 2 && bytes.last() == Some(&b'Z') {
        return (&text[..text.len() - 1], Some(TimeZone::UTC));
    }
    let n = bytes.len();
    if n > 7 && matches!(bytes[n - 6], b'+' | b'-') && bytes[n - 7] != b' ' {
        if let Some(offset) = text.get(n - 6..).and_then(offset) {
            return (&text[..n - 6], Some(TimeZone::fixed(offset)));
        }
    }
    let Some((rest, word)) = text.rsplit_once(' ') else {
        return (text, None);
    };
    let rest = rest.trim_end();
    if word == "UTC" {
        return (rest, Some(TimeZone::UTC));
    }
    if let Some(offset) = offset(word) {
        return (rest, Some(TimeZone::fixed(offset)));
    }
    // A zone name has a slash (Europe/Vienna), as the names of the IANA database do, apart
    // from a few legacy ones; a word like "ago" is never looked up.
    if word.contains('/') {
        if let Ok(tz) = jiff::tz::db().get(word) {
            return (rest, Some(tz));
        }
    }
    (text, None)
}

/// `+02`, `+0200`, `+02:00` (or `-`): an offset of at most 24 hours.
fn offset(text: &str) -> Option<Offset> {
    let (sign, digits) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let (hours, minutes) = match digits.len() {
        2 => (digits, "00"),
        4 => (digits.get(..2)?, digits.get(2..)?),
        5 if digits.as_bytes()[2] == b':' => (digits.get(..2)?, digits.get(3..)?),
        _ => return None,
    };
    if !(hours.bytes().chain(minutes.bytes())).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i32 = hours.parse().ok()?;
    let minutes: i32 = minutes.parse().ok()?;
    if minutes > 59 || hours * 60 + minutes > 24 * 60 {
        return None;
    }
    Offset::from_seconds(sign * (hours * 3600 + minutes * 60)).ok()
}

/// An English weekday in front (`Wed `, `wednesday `, any case), to be checked against the date.
fn split_weekday(text: &str) -> (Option<civil::Weekday>, &str) {
    use civil::Weekday::*;
    const DAYS: [(&str, civil::Weekday); 14] = [
        ("monday", Monday),
        ("tuesday", Tuesday),
        ("wednesday", Wednesday),
        ("thursday", Thursday),
        ("friday", Friday),
        ("saturday", Saturday),
        ("sunday", Sunday),
        ("mon", Monday),
        ("tue", Tuesday),
        ("wed", Wednesday),
        ("thu", Thursday),
        ("fri", Friday),
        ("sat", Saturday),
        ("sun", Sunday),
    ];
    if let Some((word, rest)) = text.split_once(' ') {
        let word = word.to_ascii_lowercase();
        if let Some((_, day)) = DAYS.iter().find(|(name, _)| *name == word) {
            return (Some(*day), rest.trim_start());
        }
    }
    (None, text)
}

/// `DATE[ TIME]`, `DATE[TTIME]`, `TIME` (on `today`) or `Mon DD TIME` (this year).
fn date_time(text: &str, today: civil::Date) -> Option<civil::DateTime> {
    if let Some(time) = time_of_day(text) {
        return Some(today.to_datetime(time));
    }
    if let Some(datetime) = month_day_time(text, today.year()) {
        return Some(datetime);
    }
    let (date, time) = match text.find([' ', 'T']) {
        Some(i) => (&text[..i], Some(text[i + 1..].trim_start())),
        None => (text, None),
    };
    let date = date_of(date)?;
    let time = match time {
        Some(time) => time_of_day(time)?,
        None => civil::Time::midnight(),
    };
    Some(date.to_datetime(time))
}

/// `YYYY-MM-DD` or `YY-MM-DD` (69–99 are 19xx, 00–68 are 20xx, as strptime's `%y`).
fn date_of(text: &str) -> Option<civil::Date> {
    let mut parts = text.split('-');
    let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let year = match (year.len(), number(year, 4)?) {
        (4, y) => y,
        (2, y) if y >= 69 => 1900 + y,
        (2, y) => 2000 + y,
        _ => return None,
    };
    civil::Date::new(
        i16::try_from(year).ok()?,
        i8::try_from(number(month, 2)?).ok()?,
        i8::try_from(number(day, 2)?).ok()?,
    )
    .ok()
}

/// `HH:MM[:SS[.FRACTION]]`.
fn time_of_day(text: &str) -> Option<civil::Time> {
    let (clock, fraction) = match text.split_once('.') {
        Some((clock, fraction)) => (clock, Some(fraction)),
        None => (text, None),
    };
    let mut parts = clock.split(':');
    let hour = number(parts.next()?, 2)?;
    let minute = number(parts.next()?, 2)?;
    let second = match parts.next() {
        Some(s) => number(s, 2)?,
        None if fraction.is_none() => 0,
        None => return None,
    };
    if parts.next().is_some() {
        return None;
    }
    let nanos = match fraction {
        Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) => {
            f.parse::<i32>().ok()? * 10_i32.pow(9 - f.len() as u32)
        }
        Some(_) => return None,
        None => 0,
    };
    civil::Time::new(
        i8::try_from(hour).ok()?,
        i8::try_from(minute).ok()?,
        i8::try_from(second).ok()?,
        nanos,
    )
    .ok()
}

/// `Jun 24 14:03:14` (journalctl's and syslog's short form) in `year`.
fn month_day_time(text: &str, year: i16) -> Option<civil::DateTime> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let mut words = text.split_whitespace();
    let month = words.next()?.to_ascii_lowercase();
    let month = MONTHS.iter().position(|m| *m == month)?;
    let day = number(words.next()?, 2)?;
    let time = words.next()?;
    if words.next().is_some() || !time.contains(':') {
        return None;
    }
    let time = time_of_day(time)?;
    let date =
        civil::Date::new(year, i8::try_from(month + 1).ok()?, i8::try_from(day).ok()?).ok()?;
    Some(date.to_datetime(time))
}

/// A number of 1 to `max` ASCII digits.
fn number(text: &str, max: usize) -> Option<u32> {
    if text.is_empty() || text.len() > max || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Parses a duration such as `--rotate-wait`: `0`, or a span with units as `--since` takes it
/// (`90s`, `5m`, `1h30m`, `1d`; a day is 24 hours).
pub(crate) fn parse_duration(arg: &str) -> Result<std::time::Duration, String> {
    let arg = arg.trim();
    if arg == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    let micros = match span_micros(arg, false) {
        Ok(micros) => micros,
        Err(SpanError::TooLong) => return Err(format!("'{arg}': duration too long")),
        Err(SpanError::Malformed) => {
            return Err(format!(
                "'{arg}' is not a duration: use numbers with units (s, m, h, d, w), e.g. 30s, 5m"
            ));
        }
    };
    let micros = u64::try_from(micros).map_err(|_| format!("'{arg}': negative duration"))?;
    Ok(std::time::Duration::from_micros(micros))
}

/// The instant in the form every output uses: `2026-06-24T12:03:14Z`.
pub(crate) fn utc(ts: Timestamp) -> String {
    let mut out = Vec::with_capacity(20);
    push_utc(&mut out, ts);
    // Only ASCII digits and separators, or strftime's text.
    String::from_utf8_lossy(&out).into_owned()
}

/// Appends [`utc`]'s form of the instant. The last minute written is kept: a log has many
/// lines a minute, and each JSON record has its time; within the minute only the seconds
/// (`…:SS` of `YYYY-MM-DDTHH:MM:SSZ`) are new.
pub(crate) fn push_utc(into: &mut Vec<u8>, ts: Timestamp) {
    thread_local! {
        static LAST: std::cell::Cell<Option<(i64, [u8; 20])>> = const { std::cell::Cell::new(None) };
    }
    let second = ts.as_second();
    let minute = second.div_euclid(60);
    if let Some((last, mut text)) = LAST.get() {
        if last == minute {
            let s = second.rem_euclid(60) as u8;
            (text[17], text[18]) = (b'0' + s / 10, b'0' + s % 10);
            into.extend_from_slice(&text);
            return;
        }
    }
    let at = into.len();
    push_utc_afresh(into, ts);
    // Only the four-digit years' form has the seconds at 17 and 18.
    if let Ok(text) = <[u8; 20]>::try_from(&into[at..]) {
        if text[0].is_ascii_digit() && text[4] == b'-' && text[16] == b':' {
            LAST.set(Some((minute, text)));
        }
    }
}

fn push_utc_afresh(into: &mut Vec<u8>, ts: Timestamp) {
    // By hand, as `local_in`: every JSON record has one, and jiff's formatter was 2 % of
    // `convert --all -f json`. Years of four digits only; others as strftime writes them.
    let t = jiff::tz::Offset::UTC.to_datetime(ts);
    if !(1000..=9999).contains(&t.year()) {
        into.extend_from_slice(ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string().as_bytes());
        return;
    }
    let mut out = [0u8; 20];
    let two = |out: &mut [u8], at: usize, n: i8| {
        out[at] = b'0' + (n / 10) as u8;
        out[at + 1] = b'0' + (n % 10) as u8;
    };
    let year = t.year();
    two(&mut out, 0, (year / 100) as i8);
    two(&mut out, 2, (year % 100) as i8);
    out[4] = b'-';
    two(&mut out, 5, t.month());
    out[7] = b'-';
    two(&mut out, 8, t.day());
    out[10] = b'T';
    two(&mut out, 11, t.hour());
    out[13] = b':';
    two(&mut out, 14, t.minute());
    out[16] = b':';
    two(&mut out, 17, t.second());
    out[19] = b'Z';
    into.extend_from_slice(&out);
}

/// The instant as a person reads it on this node: local time (the `TZ` environment variable,
/// else the system's zone) with its offset, `2026-06-24 14:03:14+02:00`. JSON keeps [`utc`].
///
/// Written by hand rather than with `strftime`: the pvesh format prints one for every change of
/// user or client, which on a busy log is every other request, and jiff's formatter costed a
/// tenth of `convert`'s time there.
pub(crate) fn local_in(ts: Timestamp, zone: &jiff::tz::TimeZone) -> String {
    let offset = zone.to_offset(ts);
    let t = offset.to_datetime(ts);
    let seconds = offset.seconds();
    let sign = if seconds < 0 { '-' } else { '+' };
    let abs = seconds.unsigned_abs();
    if !(1000..=9999).contains(&t.year()) || abs / 3600 > 99 {
        return format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}{sign}{:02}:{:02}",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            abs / 3600,
            abs % 3600 / 60
        );
    }
    // `format!` was a tenth of the default convert's time: digits by hand, as `utc` writes them.
    let mut out = *b"0000-00-00 00:00:00+00:00";
    let two = |out: &mut [u8; 25], at: usize, n: u32| {
        out[at] = b'0' + (n / 10) as u8;
        out[at + 1] = b'0' + (n % 10) as u8;
    };
    let year = t.year().unsigned_abs() as u32;
    two(&mut out, 0, year / 100);
    two(&mut out, 2, year % 100);
    two(&mut out, 5, t.month().unsigned_abs().into());
    two(&mut out, 8, t.day().unsigned_abs().into());
    two(&mut out, 11, t.hour().unsigned_abs().into());
    two(&mut out, 14, t.minute().unsigned_abs().into());
    two(&mut out, 17, t.second().unsigned_abs().into());
    out[19] = sign as u8;
    two(&mut out, 20, abs / 3600);
    two(&mut out, 23, abs % 3600 / 60);
    // Only ASCII digits and separators were written.
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn utc_by_hand_is_what_strftime_writes(seconds in -377_705_116_800i64..253_402_300_799) {
            let ts = Timestamp::from_second(seconds).unwrap();
            proptest::prop_assert_eq!(utc(ts), ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
            // Again, from the last second kept, and a second later.
            proptest::prop_assert_eq!(utc(ts), ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
            if let Ok(next) = Timestamp::from_second(seconds + 1) {
                proptest::prop_assert_eq!(utc(next), next.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
            }
            // Every second of its minute, from the minute kept.
            for s in 0..60 {
                if let Ok(t) = Timestamp::from_second(seconds - seconds.rem_euclid(60) + s) {
                    proptest::prop_assert_eq!(utc(t), t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
                }
            }
        }
    }
    use proptest::prelude::*;

    fn now() -> Zoned {
        "2026-06-24T14:00:00+02:00[Europe/Vienna]"
            .parse()
            .unwrap_or_else(|_| {
                // Without a time zone database, fall back to a fixed offset with the same instant.
                "2026-06-24T14:00:00+02:00[+02:00]".parse().unwrap()
            })
    }

    fn t(s: &str) -> Result<String, String> {
        parse_time(s, &now()).map(utc)
    }

    #[test]
    fn durations() {
        let d = |s: &str| parse_duration(s).map(|d| d.as_secs());
        assert_eq!(d("0"), Ok(0));
        assert_eq!(d("90s"), Ok(90));
        assert_eq!(d("5m"), Ok(300));
        assert_eq!(d("2h"), Ok(7200));
        assert_eq!(d("1d"), Ok(86400));
        assert_eq!(d("1h30m"), Ok(5400));
        assert!(d("5").is_err());
        assert!(d("m").is_err());
        assert!(d("-5m").is_err());
        assert_eq!(d("2w"), Ok(1_209_600));
        assert!(d("99999999999999999d").is_err());
    }

    #[test]
    fn todays_forms() {
        assert_eq!(t("2026-06-24T12:03:14Z").unwrap(), "2026-06-24T12:03:14Z");
        assert_eq!(
            t("2026-06-24T14:03:14+02:00").unwrap(),
            "2026-06-24T12:03:14Z"
        );
        assert_eq!(t("2026-06-24").unwrap(), "2026-06-23T22:00:00Z");
        assert_eq!(t("2026-06-24 14:03").unwrap(), "2026-06-24T12:03:00Z");
        assert_eq!(t("2026-06-24 14:03:09").unwrap(), "2026-06-24T12:03:09Z");
        assert_eq!(t("30m").unwrap(), "2026-06-24T11:30:00Z");
        assert_eq!(t("2h").unwrap(), "2026-06-24T10:00:00Z");
        assert_eq!(t("7d").unwrap(), "2026-06-17T12:00:00Z");
        assert_eq!(t("90s").unwrap(), "2026-06-24T11:58:30Z");
        assert_eq!(t("2w").unwrap(), "2026-06-10T12:00:00Z");
    }

    #[test]
    fn local_times_carry_their_offset() {
        let ts: Timestamp = "2026-06-24T12:03:14Z".parse().unwrap();
        let berlin = jiff::tz::TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        assert_eq!(local_in(ts, &berlin), "2026-06-24 14:03:14+02:00");
        assert_eq!(
            local_in(ts, &jiff::tz::TimeZone::UTC),
            "2026-06-24 12:03:14+00:00"
        );
    }

    #[test]
    fn journalctl_forms() {
        assert_eq!(t("now").unwrap(), "2026-06-24T12:00:00Z");
        assert_eq!(t("today").unwrap(), "2026-06-23T22:00:00Z");
        assert_eq!(t("yesterday").unwrap(), "2026-06-22T22:00:00Z");
        assert_eq!(t("tomorrow").unwrap(), "2026-06-24T22:00:00Z");
        assert_eq!(t("today UTC").unwrap(), "2026-06-24T00:00:00Z");
        assert_eq!(t("-2h").unwrap(), "2026-06-24T10:00:00Z");
        assert_eq!(t("+1h").unwrap(), "2026-06-24T13:00:00Z");
        assert_eq!(t("1h30m").unwrap(), "2026-06-24T10:30:00Z");
        assert_eq!(t("-1h30min").unwrap(), "2026-06-24T10:30:00Z");
        assert_eq!(t("2 hours ago").unwrap(), "2026-06-24T10:00:00Z");
        assert_eq!(t("2h ago").unwrap(), "2026-06-24T10:00:00Z");
        assert_eq!(t("11min ago").unwrap(), "2026-06-24T11:49:00Z");
        assert_eq!(t("5s left").unwrap(), "2026-06-24T12:00:05Z");
        assert_eq!(t("-5").unwrap(), "2026-06-24T11:59:55Z");
        assert_eq!(t("1.5h ago").unwrap(), "2026-06-24T10:30:00Z");
        assert_eq!(t("@1782302594").unwrap(), "2026-06-24T12:03:14Z");
        assert_eq!(t("@0").unwrap(), "1970-01-01T00:00:00Z");
        // Found by fuzzing: an age back before the year 1 (jiff reaches -9999) is no time a
        // log holds, nor one pverec can print.
        assert!(t("162072w").is_err());
        assert!(t("2100y ago").is_err());
        assert!(t("2000y ago").is_ok());
        assert_eq!(t("14:03").unwrap(), "2026-06-24T12:03:00Z");
        assert_eq!(t("14:03:14.5").map(|_| ()), Ok(()));
        assert_eq!(t("26-06-24 14:03").unwrap(), "2026-06-24T12:03:00Z");
        assert_eq!(t("Wed 2026-06-24 14:03").unwrap(), "2026-06-24T12:03:00Z");
        assert_eq!(
            t("2026-06-24 14:03:14 UTC").unwrap(),
            "2026-06-24T14:03:14Z"
        );
        assert_eq!(
            t("2026-06-24 14:03:14 +05:30").unwrap(),
            "2026-06-24T08:33:14Z"
        );
        assert_eq!(t("2026-06-24T14:03").unwrap(), "2026-06-24T12:03:00Z");
        assert_eq!(t("Jun 24 14:03:14").unwrap(), "2026-06-24T12:03:14Z");
        if jiff::tz::db().get("America/New_York").is_ok() {
            assert_eq!(
                t("2026-06-24 08:03:14 America/New_York").unwrap(),
                "2026-06-24T12:03:14Z"
            );
        }
    }

    #[test]
    fn errors_explain() {
        for bad in [
            "2026-13-01",
            "5y-",
            "",
            "99999999999999999999d",
            "2026",
            "Thu 2026-06-24",
            "@-5",
            "2 fortnights ago",
            "12.34.56",
            "@99999999999999",
        ] {
            let err = parse_time(bad, &now()).unwrap_err();
            assert!(err.contains(bad.trim()), "{bad}: {err}");
        }
    }

    #[test]
    fn local_time_has_its_offset() {
        let ts: Timestamp = "2026-06-24T12:03:14Z".parse().unwrap();
        let text = local_in(ts, &TimeZone::system());
        assert_eq!(text.len(), "2026-06-24 14:03:14+02:00".len(), "{text}");
        assert_eq!(parse_time(&text, &now()), Ok(ts));
    }

    proptest! {
        /// No text makes the parser panic; whatever it accepts is an instant of years 1–9999.
        #[test]
        fn never_panics(text in "\\PC{0,40}") {
            let _ = parse_time(&text, &now());
            let _ = parse_duration(&text);
        }

        /// Shapes close to the grammar, which reach deeper into it than random text.
        #[test]
        fn never_panics_near_the_grammar(text in "[-+@ ]?[0-9]{0,12}[.:T Z-]?[0-9]{0,4}[a-zM ]{0,8}(ago|left|UTC|Z|[+-][0-9]{2}(:[0-9]{2})?)?") {
            let _ = parse_time(&text, &now());
        }

        /// `@N` is the instant N seconds after 1970, for every instant pverec can print.
        #[test]
        fn epoch_seconds_round_trip(n in 0i64..=Timestamp::MAX.as_second()) {
            let ts = parse_time(&format!("@{n}"), &now()).unwrap();
            prop_assert_eq!(ts.as_second(), n);
            prop_assert_eq!(ts.subsec_nanosecond(), 0);
        }

        /// The hand-written local form is jiff's `%Y-%m-%d %H:%M:%S%:z`, in zones east and west,
        /// with and without summer time.
        #[test]
        fn local_form_is_strftimes(n in 0i64..=Timestamp::MAX.as_second(), zone in 0usize..4) {
            let zones = [
                TimeZone::UTC,
                TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").unwrap(),
                TimeZone::posix("NST3:30NDT,M3.2.0,M11.1.0").unwrap(),
                TimeZone::fixed(Offset::constant(-11)),
            ];
            let ts = Timestamp::from_second(n).unwrap();
            let zone = &zones[zone];
            let want = ts.to_zoned(zone.clone()).strftime("%Y-%m-%d %H:%M:%S%:z").to_string();
            prop_assert_eq!(local_in(ts, zone), want);
        }

        /// What pverec prints as UTC or as local time with offset is read back as the same instant.
        #[test]
        fn printed_times_round_trip(n in 0i64..=Timestamp::MAX.as_second()) {
            let ts = Timestamp::from_second(n).unwrap();
            prop_assert_eq!(parse_time(&utc(ts), &now()), Ok(ts));
            let fixed = ts.to_zoned(TimeZone::fixed(Offset::constant(2)));
            let text = fixed.strftime("%Y-%m-%d %H:%M:%S%:z").to_string();
            prop_assert_eq!(parse_time(&text, &now()), Ok(ts));
        }
    }
}
