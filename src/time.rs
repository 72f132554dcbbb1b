//! Times on the command line (`--since`, `--until`).
//!
//! Admins type what is at hand: an RFC 3339 instant copied from a JSON record, a local date and
//! time as the node's clock shows it, or an age like `2h`. All become one absolute instant, so
//! filtering compares instants and never cares which offset a log line was written in.

use jiff::{Timestamp, Zoned, civil};

/// Parses a `--since`/`--until` value relative to the current time.
pub(crate) fn parse_time_arg(arg: &str) -> Result<Timestamp, String> {
    parse_time(arg, &Zoned::now())
}

fn parse_time(arg: &str, now: &Zoned) -> Result<Timestamp, String> {
    let arg = arg.trim();
    if let Some(age) = parse_age(arg) {
        let span = age?;
        return now
            .checked_sub(span)
            .map(|z| z.timestamp())
            .map_err(|e| format!("'{arg}' reaches out of range: {e}"));
    }
    if let Ok(ts) = arg.parse::<Timestamp>() {
        return Ok(ts);
    }
    let local = if arg.len() == 10 {
        arg.parse::<civil::Date>()
            .map(|d| d.to_datetime(civil::Time::midnight()))
    } else {
        arg.replacen(' ', "T", 1).parse::<civil::DateTime>()
    };
    let local = local.map_err(|_| {
        format!(
            "'{arg}' is not a time: use RFC 3339 (2026-06-24T12:00:00Z), \
             'YYYY-MM-DD[ HH:MM[:SS]]' (local time) or an age like 30m, 2h, 7d"
        )
    })?;
    local
        .to_zoned(now.time_zone().clone())
        .map(|z| z.timestamp())
        .map_err(|e| format!("'{arg}' does not exist in the local time zone: {e}"))
}

/// `90s`, `30m`, `2h`, `7d`, `2w` -> `Some(Ok(span))`; `None` when `arg` is not of that shape.
fn parse_age(arg: &str) -> Option<Result<jiff::Span, String>> {
    let unit = arg.chars().last()?;
    let digits = &arg[..arg.len() - unit.len_utf8()];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = match digits.parse() {
        Ok(n) => n,
        Err(_) => return Some(Err(format!("'{arg}': number too large"))),
    };
    let span = match unit {
        's' => jiff::Span::new().try_seconds(n).ok(),
        'm' => jiff::Span::new().try_minutes(n).ok(),
        'h' => jiff::Span::new().try_hours(n).ok(),
        'd' => jiff::Span::new().try_days(n).ok(),
        'w' => jiff::Span::new().try_weeks(n).ok(),
        _ => return None,
    };
    Some(span.ok_or_else(|| format!("'{arg}': age too large")))
}

/// Parses a duration such as `--rotate-wait`: `0`, or an age as `--since` takes it (`90s`, `30m`,
/// `2h`, `1d`, `1w`; a day is 24 hours here).
pub(crate) fn parse_duration(arg: &str) -> Result<std::time::Duration, String> {
    let arg = arg.trim();
    if arg == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    let span = parse_age(arg).ok_or_else(|| {
        format!("'{arg}' is not a duration: use a number with s, m, h, d or w, e.g. 30s, 5m")
    })??;
    let seconds = span
        .total(jiff::SpanTotal::from(jiff::Unit::Second).days_are_24_hours())
        .map_err(|e| format!("'{arg}': {e}"))?;
    Ok(std::time::Duration::from_secs_f64(seconds))
}

/// The instant in the form every output uses: `2026-06-24T12:03:14Z`.
pub(crate) fn utc(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The instant as a person reads it on this node: local time (the `TZ` environment variable,
/// else the system's zone) with its offset, `2026-06-24 14:03:14+02:00`. JSON keeps [`utc`].
pub(crate) fn local_in(ts: Timestamp, zone: &jiff::tz::TimeZone) -> String {
    ts.to_zoned(zone.clone())
        .strftime("%Y-%m-%d %H:%M:%S%:z")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Zoned {
        "2026-06-24T14:00:00+02:00[Europe/Vienna]"
            .parse()
            .unwrap_or_else(|_| {
                // Without a time zone database, fall back to a fixed offset with the same instant.
                "2026-06-24T14:00:00+02:00[+02:00]".parse().unwrap()
            })
    }

    #[test]
    fn durations() {
        let d = |s: &str| parse_duration(s).map(|d| d.as_secs());
        assert_eq!(d("0"), Ok(0));
        assert_eq!(d("90s"), Ok(90));
        assert_eq!(d("5m"), Ok(300));
        assert_eq!(d("2h"), Ok(7200));
        assert_eq!(d("1d"), Ok(86400));
        assert!(d("5").is_err());
        assert!(d("m").is_err());
        assert!(d("-5m").is_err());
        assert_eq!(d("2w"), Ok(1_209_600));
        assert!(d("99999999999999999d").is_err());
    }

    #[test]
    fn forms() {
        let n = now();
        let t = |s: &str| parse_time(s, &n).map(utc);
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
    fn errors_explain() {
        let n = now();
        for bad in ["yesterday", "2026-13-01", "5y", "", "99999999999999999999d"] {
            let err = parse_time(bad, &n).unwrap_err();
            assert!(err.contains(bad), "{bad}: {err}");
        }
    }
}
