//! Wall-clock time as the rollout policy sees it: epoch seconds (UTC),
//! RFC 3339 parsing and formatting (GitHub's timestamps, the state log),
//! calendar dates (waiver expiry), and durations written by people
//! (`30m`, `24h`, `7d`, `2w`). The calendar is `jiff`'s (already built for
//! gix): parsing, validation (`2026-02-30` is refused) and formatting of
//! dates and times; this module only fixes the shapes we accept and print.
//! No time zones: everything is UTC, times with an offset are converted.
//! Epoch seconds are whole seconds. A time jiff cannot represent (before
//! -9999-01-02 or after 9999-12-30T22:00Z, its range at any offset) is
//! refused when parsed and clamped when printed; dates go up to 9999-12-31.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jiff::Timestamp;
use jiff::civil::Date;

/// Seconds since 1970-01-01T00:00:00Z.
pub type Epoch = i64;

/// The current time.
pub fn now() -> Epoch {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as Epoch)
        .unwrap_or(0)
}

/// The current time as unsigned seconds (HTTP headers, counters).
pub fn now_secs() -> u64 {
    u64::try_from(now()).unwrap_or(0)
}

/// `2024-05-01 12:34:56 UTC`, for people.
pub fn utc(epoch: Epoch) -> String {
    timestamp(epoch)
        .strftime("%Y-%m-%d %H:%M:%S UTC")
        .to_string()
}

/// `2024-05-01T12:34:56Z`, for machines.
pub fn rfc3339(epoch: Epoch) -> String {
    timestamp(epoch).strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `epoch` as a jiff timestamp, clamped to the range jiff represents
/// (about the years -9999 to 9999) as its documentation suggests.
fn timestamp(epoch: Epoch) -> Timestamp {
    Timestamp::from_second(epoch).unwrap_or(if epoch < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// Epoch seconds of an RFC 3339 time (`2024-05-01T12:34:56Z`, optional
/// fraction, `Z` or `±hh:mm`, `T` or a space between date and time, either
/// case), as GitHub writes them. jiff's parser also takes the looser ISO
/// 8601 forms of the Temporal grammar (`20240501T120000Z`, no seconds,
/// `+0200` or `+02`, a comma before the fraction, a `[zone]` annotation
/// after the offset); an offset is required, a time without one is refused,
/// and so is a fraction finer than nanoseconds. A fraction is dropped
/// (rounding down, also before 1970); a leap second (`23:59:60`) reads as
/// `23:59:59`.
pub fn parse_rfc3339(s: &str) -> Option<Epoch> {
    let t: Timestamp = s.parse().ok()?;
    // jiff truncates toward zero; before 1970 that would round up.
    Some(t.as_second() - i64::from(t.subsec_nanosecond() < 0))
}

/// A `YYYY-MM-DD` date, exactly: jiff parses it (refusing `2026-02-30`)
/// and must print it back unchanged, so the looser forms its parser also
/// takes (`20261231`, a date with a time) are refused too.
fn parse_date(s: &str) -> Option<Date> {
    let date: Date = s.parse().ok()?;
    (date.to_string() == s).then_some(date)
}

/// The first second after the end of the `YYYY-MM-DD` day (UTC): a waiver
/// that `expires: 2026-12-31` holds through the whole 31st.
pub fn end_of_date(s: &str) -> Option<Epoch> {
    const EPOCH_DATE: Date = Date::constant(1970, 1, 1);
    // Days are 24 hours in UTC; counted on dates, `9999-12-31` (a common
    // "never") works although its end is past jiff's last timestamp.
    let start = parse_date(s)?.duration_since(EPOCH_DATE).as_secs();
    Some(start + 86_400)
}

/// Parses a duration as people write it: a whole number and a unit, `ms`,
/// `s`, `m` (or `min`), `h`, `d` (24 hours) or `w` (7 days), e.g. `500ms`,
/// `30m`, `24h`, `7d`. A unit is required (see [`parse_duration_or_secs`]).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (use e.g. 30m, 24h, 7d, 2w)"))?;
    let factor = match unit {
        "ms" => return Ok(Duration::from_millis(n)),
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => {
            return Err(format!(
                "`{text}`: unknown or missing unit (use ms, s, m, h, d or w, e.g. 7d)"
            ));
        }
    };
    n.checked_mul(factor)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{text}` is too long"))
}

/// [`parse_duration`], where a bare number means seconds (command-line
/// and service settings such as `--github-write-spacing 1`).
pub fn parse_duration_or_secs(text: &str) -> Result<Duration, String> {
    match text.parse::<u64>() {
        Ok(n) => Ok(Duration::from_secs(n)),
        Err(_) => parse_duration(text),
    }
}

/// A duration for people: the two largest units, `3d 4h`, `12m`, `0s`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    let parts = [
        (s / 86_400, "d"),
        (s % 86_400 / 3600, "h"),
        (s % 3600 / 60, "m"),
        (s % 60, "s"),
    ];
    let out: Vec<String> = parts
        .iter()
        .skip_while(|(n, _)| *n == 0)
        .take(2)
        .filter(|(n, _)| *n > 0)
        .map(|(n, u)| format!("{n}{u}"))
        .collect();
    if out.is_empty() {
        "0s".into()
    } else {
        out.join(" ")
    }
}

/// The time between `from` and `to`, zero when `to` is earlier.
pub fn since(from: Epoch, to: Epoch) -> Duration {
    Duration::from_secs(u64::try_from(to - from).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Epoch = 1_714_564_800; // 2024-05-01T12:00:00Z

    #[test]
    fn formats_and_parses_utc_times() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(NOW), "2024-05-01 12:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(rfc3339(NOW), "2024-05-01T12:00:00Z");
        assert_eq!(parse_rfc3339(&rfc3339(NOW)), Some(NOW));
        assert_eq!(parse_rfc3339("2024-05-01T14:00:00.123+02:00"), Some(NOW));
        assert_eq!(parse_rfc3339("2000-02-29T00:00:00Z"), Some(951_782_400));
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(parse_rfc3339("2024-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2024-02-30T00:00:00Z"), None);
    }

    #[test]
    fn parses_fractions_offsets_and_either_case() {
        // A fraction is dropped, whatever its length (up to nanoseconds).
        assert_eq!(parse_rfc3339("2024-05-01T12:00:00.999999999Z"), Some(NOW));
        assert_eq!(parse_rfc3339("2024-05-01T06:30:00-05:30"), Some(NOW));
        assert_eq!(parse_rfc3339("2024-05-02T01:00:00+13:00"), Some(NOW));
        assert_eq!(parse_rfc3339("2024-05-01T12:00:00+00:00"), Some(NOW));
        assert_eq!(parse_rfc3339("2024-05-01T12:00:00-00:00"), Some(NOW));
        assert_eq!(parse_rfc3339("2024-05-01t12:00:00z"), Some(NOW));
        assert_eq!(parse_rfc3339("2024-05-01 12:00:00Z"), Some(NOW));
        // The looser ISO 8601 forms jiff also reads.
        assert_eq!(parse_rfc3339("2024-05-01T14:00+02"), Some(NOW));
        assert_eq!(parse_rfc3339("20240501T120000Z"), Some(NOW));
        // A leap second is the last second of its minute.
        assert_eq!(parse_rfc3339("2016-12-31T23:59:60Z"), Some(1_483_228_799));
    }

    #[test]
    fn refuses_what_is_not_a_time() {
        for bad in [
            "",
            "2024-05-01",
            "2024-05-01T12:00:00",
            "2024-05-01T12:00:00Zjunk",
            "2024-05-01T24:00:00Z",
            "2024-05-01T12:60:00Z",
            "2024-05-01T12:00:61Z",
            "2024-05-01T12:00:00+2:00",
            "2024-05-01T12:00:00.Z",
            "2024-05-00T12:00:00Z",
            "2024-04-31T12:00:00Z",
            "2023-02-29T12:00:00Z",
            "1900-02-29T12:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn leap_years_follow_the_gregorian_rules() {
        // Divisible by 4, except centuries, except those divisible by 400.
        assert_eq!(parse_rfc3339("2024-02-29T00:00:00Z"), Some(1_709_164_800));
        assert_eq!(parse_rfc3339("2000-02-29T00:00:00Z"), Some(951_782_400));
        assert_eq!(parse_rfc3339("2100-02-29T00:00:00Z"), None);
        assert_eq!(rfc3339(951_782_400 + 86_400), "2000-03-01T00:00:00Z");
        assert_eq!(rfc3339(4_107_542_400), "2100-03-01T00:00:00Z");
        assert_eq!(utc(1_735_603_200), "2024-12-31 00:00:00 UTC");
    }

    #[test]
    fn times_before_1970_are_negative() {
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(utc(-86_400), "1969-12-31 00:00:00 UTC");
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), Some(-1));
        // Rounded down, as after 1970.
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59.5Z"), Some(-1));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00.5Z"), Some(0));
        assert_eq!(parse_rfc3339("1900-01-01T00:00:00Z"), Some(-2_208_988_800));
        assert_eq!(rfc3339(-2_208_988_800), "1900-01-01T00:00:00Z");
    }

    #[test]
    fn formatting_round_trips_and_clamps_at_the_ends() {
        for i in -5_000..5_000_i64 {
            let t = i * 7_919_993 + i % 7;
            assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t), "{t}");
        }
        assert_eq!(rfc3339(253_402_128_000), "9999-12-30T00:00:00Z");
        // jiff's last timestamp is 9999-12-31T23:59:59 at its largest
        // offset (+25:59:59); times past it print as it.
        assert_eq!(rfc3339(253_402_214_400), "9999-12-30T22:00:00Z");
        assert_eq!(rfc3339(i64::MAX), "9999-12-30T22:00:00Z");
        assert!(utc(i64::MIN).starts_with("-9999-01-0"));
    }

    #[test]
    fn a_date_ends_at_the_next_midnight() {
        assert_eq!(end_of_date("2024-05-01"), Some(NOW + 12 * 3600));
        assert_eq!(end_of_date("2024-02-29"), Some(1_709_251_200));
        assert_eq!(end_of_date("2023-02-29"), None);
        assert_eq!(end_of_date("2024-5-1"), None);
        assert_eq!(end_of_date("next week"), None);
        assert_eq!(end_of_date("1969-12-31"), Some(0));
        assert_eq!(end_of_date("2100-02-29"), None);
        assert_eq!(end_of_date("2024-04-31"), None);
        // The usual "never" still reads as a date.
        assert_eq!(end_of_date("9999-12-31"), Some(253_402_300_800));
        // Only `YYYY-MM-DD`, not the other forms jiff's parser takes.
        for loose in [
            "20240501",
            "2024-05-01T12:00:00",
            "2024-05-01 12:00",
            " 2024-05-01",
            "2024-05-01 ",
            "+002024-05-01",
        ] {
            assert_eq!(end_of_date(loose), None, "{loose:?}");
        }
    }

    #[test]
    fn durations_have_days_and_weeks() {
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("2w"), Ok(Duration::from_secs(1_209_600)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        let e = parse_duration("7").unwrap_err();
        assert!(e.contains("missing unit"), "{e}");
        let e = parse_duration("a week").unwrap_err();
        assert!(e.contains("not a duration"), "{e}");
        assert!(parse_duration("99999999999999999w").is_err());
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human(Duration::ZERO), "0s");
        assert_eq!(human(Duration::from_secs(59)), "59s");
        assert_eq!(
            human(Duration::from_secs(3 * 86_400 + 4 * 3600 + 5)),
            "3d 4h"
        );
        assert_eq!(human(Duration::from_secs(86_400 + 30)), "1d");
        assert_eq!(human(Duration::from_secs(3600 + 60)), "1h 1m");
        assert_eq!(since(10, 5), Duration::ZERO);
    }
}
