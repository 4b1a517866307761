//! Wall-clock time as the rollout policy sees it: epoch seconds (UTC),
//! RFC 3339 parsing and formatting (GitHub's timestamps, the state log),
//! calendar dates (waiver expiry), and durations written by people
//! (`30m`, `24h`, `7d`, `2w`). Hand-written on the proleptic Gregorian
//! calendar (H. Hinnant's algorithms): a date library is more than these
//! few conversions need. No time zones: everything is UTC.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
    let (date, secs) = split(epoch);
    let (y, m, d) = civil_from_days(date);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// `2024-05-01T12:34:56Z`, for machines.
pub fn rfc3339(epoch: Epoch) -> String {
    let (date, secs) = split(epoch);
    let (y, m, d) = civil_from_days(date);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

fn split(epoch: Epoch) -> (i64, i64) {
    (epoch.div_euclid(86_400), epoch.rem_euclid(86_400))
}

/// Epoch seconds of an RFC 3339 time (`2024-05-01T12:34:56Z`, optional
/// fraction, `Z` or `±hh:mm`), as GitHub writes them.
pub fn parse_rfc3339(s: &str) -> Option<Epoch> {
    let b = s.as_bytes();
    if b.len() < 20 || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let days = parse_days(s.get(..10)?)?;
    let num = |r: std::ops::Range<usize>| -> Option<i64> { digits(s.get(r)?) };
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = &frac[n..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            sign * (digits(rest.get(1..3)?)? * 3600 + digits(rest.get(4..6)?)? * 60)
        }
        _ => return None,
    };
    Some(days * 86_400 + h * 3600 + mi * 60 + sec - offset)
}

fn digits(t: &str) -> Option<i64> {
    (!t.is_empty() && t.bytes().all(|c| c.is_ascii_digit()))
        .then(|| t.parse().ok())
        .flatten()
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date; `None` when it is not a
/// real date (`2026-02-30` is refused).
fn parse_days(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (digits(&s[0..4])?, digits(&s[5..7])?, digits(&s[8..10])?);
    if !(1..=12).contains(&m) || d < 1 {
        return None;
    }
    let days = days_from_civil(y, m, d);
    // Round-trip to refuse days past the end of the month.
    (civil_from_days(days) == (y, m, d)).then_some(days)
}

/// The first second after the end of the `YYYY-MM-DD` day (UTC): a waiver
/// that `expires: 2026-12-31` holds through the whole 31st.
pub fn end_of_date(s: &str) -> Option<Epoch> {
    parse_days(s).map(|d| (d + 1) * 86_400)
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

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
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
    fn a_date_ends_at_the_next_midnight() {
        assert_eq!(end_of_date("2024-05-01"), Some(NOW + 12 * 3600));
        assert_eq!(end_of_date("2024-02-29"), Some(1_709_251_200));
        assert_eq!(end_of_date("2023-02-29"), None);
        assert_eq!(end_of_date("2024-5-1"), None);
        assert_eq!(end_of_date("next week"), None);
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
