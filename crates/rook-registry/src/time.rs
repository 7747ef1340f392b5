//! Time as the registry stores it (unix milliseconds) and the one parser of
//! the time expressions operators type: `rook-cli usage report --since/--until`
//! and `GET /api/usage?since=&until=` both call [`parse_instant`].
//!
//! Accepted, surrounding whitespace ignored:
//! - a duration back from now: digits and a unit, `s`, `m`, `h`, `d` or `w`
//!   (`90s`, `30m`, `24h`, `7d`, `2w`);
//! - a UTC date: `YYYY-MM-DD` (midnight);
//! - a date and time: `YYYY-MM-DD` then `T`, `t` or a space, then
//!   `HH:MM[:SS[.fraction]]`, then `Z`, `z`, `±HH:MM` or nothing (UTC). This
//!   covers RFC 3339 timestamps. Fractions beyond milliseconds are truncated;
//!   a leap second (`:60`) is accepted.
//!
//! ```
//! use rook_registry::time::{parse_instant, parse_timestamp_ms};
//!
//! let now = 10 * 86_400_000;
//! assert_eq!(parse_instant("24h", now), Ok(9 * 86_400_000));
//! assert_eq!(parse_instant("1970-01-02", now), Ok(86_400_000));
//! assert_eq!(parse_timestamp_ms("1970-01-01T01:00:00+01:00"), Ok(0));
//! assert!(parse_instant("yesterday", now).is_err());
//! ```

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

const SECOND_MS: i64 = 1_000;
const MINUTE_MS: i64 = 60 * SECOND_MS;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;
const WEEK_MS: i64 = 7 * DAY_MS;

/// The current time in unix milliseconds (0 if the clock is before 1970,
/// `i64::MAX` past the year 292 million).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A text that is not a time expression. Each surface words its own message;
/// `Display` gives a generic one.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TimeError;

impl fmt::Display for TimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "not a duration back from now (30m, 24h, 7d, 2w), a UTC date (YYYY-MM-DD) \
             or an RFC 3339 timestamp (2024-05-01T12:00:00Z)",
        )
    }
}

impl std::error::Error for TimeError {}

/// Parses a point in time: a duration back from `now_ms`, a date or a
/// timestamp (see the module docs). Returns unix milliseconds.
pub fn parse_instant(text: &str, now_ms: i64) -> Result<i64, TimeError> {
    let t = text.trim();
    if let Ok(d) = parse_duration_ms(t) {
        return Ok(now_ms.saturating_sub(d));
    }
    parse_timestamp_ms(t)
}

/// Parses a duration, digits and a unit (`s`, `m`, `h`, `d`, `w`), into
/// milliseconds: `30m` → 1 800 000. No sign, no spaces, no fractions.
pub fn parse_duration_ms(text: &str) -> Result<i64, TimeError> {
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or(TimeError)?;
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() {
        return Err(TimeError);
    }
    let per = match unit {
        "s" => SECOND_MS,
        "m" => MINUTE_MS,
        "h" => HOUR_MS,
        "d" => DAY_MS,
        "w" => WEEK_MS,
        _ => return Err(TimeError),
    };
    let n: i64 = digits.parse().map_err(|_| TimeError)?;
    n.checked_mul(per).ok_or(TimeError)
}

/// Parses `YYYY-MM-DD` (UTC midnight) or a date and time
/// (`YYYY-MM-DDTHH:MM[:SS[.fff]]` with `Z`, `±HH:MM` or no offset for UTC)
/// into unix milliseconds.
pub fn parse_timestamp_ms(text: &str) -> Result<i64, TimeError> {
    timestamp_ms(text).ok_or(TimeError)
}

fn timestamp_ms(s: &str) -> Option<i64> {
    let date = s.get(..10)?;
    let rest = s.get(10..)?;
    let mut parts = date.split('-');
    let y = num(parts.next()?, 4, 0..=9999)?;
    let m = num(parts.next()?, 2, 1..=12)?;
    let d = num(parts.next()?, 2, 1..=days_in_month(y, m))?;
    if parts.next().is_some() {
        return None;
    }
    let mut ms = days_from_civil(y, m, d) * DAY_MS;
    if rest.is_empty() {
        return Some(ms);
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let (time, offset) = match rest.find(['Z', 'z', '+', '-']) {
        Some(i) => (rest.get(..i)?, rest.get(i..)?),
        None => (rest, ""),
    };
    let (hms, frac) = match time.split_once('.') {
        Some((a, f)) => (a, Some(f)),
        None => (time, None),
    };
    let mut parts = hms.split(':');
    let h = num(parts.next()?, 2, 0..=23)?;
    let min = num(parts.next()?, 2, 0..=59)?;
    let sec = match parts.next() {
        Some(p) => num(p, 2, 0..=60)?,
        None => 0,
    };
    if parts.next().is_some() {
        return None;
    }
    ms += h * HOUR_MS + min * MINUTE_MS + sec * SECOND_MS;
    if let Some(f) = frac {
        if f.is_empty() || f.len() > 9 || !f.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let millis: String = f.chars().chain("00".chars()).take(3).collect();
        ms += millis.parse::<i64>().ok()?;
    }
    match offset {
        "" | "Z" | "z" => {}
        o => {
            let (sign, hm) = match o.split_at(1) {
                ("+", hm) => (-1, hm),
                ("-", hm) => (1, hm),
                _ => return None,
            };
            let (oh, om) = hm.split_once(':')?;
            let oh = num(oh, 2, 0..=23)?;
            let om = num(om, 2, 0..=59)?;
            ms += sign * (oh * HOUR_MS + om * MINUTE_MS);
        }
    }
    Some(ms)
}

/// `s` as a number of exactly `len` ASCII digits within `range`.
fn num(s: &str, len: usize, range: std::ops::RangeInclusive<i64>) -> Option<i64> {
    if s.len() != len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = s.parse().ok()?;
    range.contains(&n).then_some(n)
}

fn is_leap_year(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap_year(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let table: &[(&str, Option<i64>)] = &[
            ("0s", Some(0)),
            ("90s", Some(90_000)),
            ("30m", Some(1_800_000)),
            ("24h", Some(DAY_MS)),
            ("7d", Some(7 * DAY_MS)),
            ("2w", Some(14 * DAY_MS)),
            ("h", None),
            ("", None),
            ("10", None),
            ("-1h", None),
            ("+1h", None),
            ("1.5h", None),
            ("1 h", None),
            ("1y", None),
            ("1hh", None),
            ("1H", None),
            ("99999999999999999999d", None),
            ("9223372036854775807w", None),
        ];
        for (text, want) in table {
            assert_eq!(parse_duration_ms(text).ok(), *want, "{text:?}");
        }
    }

    #[test]
    fn timestamps() {
        let table: &[(&str, Option<i64>)] = &[
            // dates
            ("1970-01-01", Some(0)),
            ("1970-01-02", Some(DAY_MS)),
            ("1969-12-31", Some(-DAY_MS)),
            ("2026-11-18", Some(1_795_046_400_000 - DAY_MS)),
            // leap days
            ("2000-02-29", Some(951_782_400_000)),
            ("2024-02-29", Some(1_709_164_800_000)),
            ("2000-02-30", None),
            ("2001-02-29", None),
            ("1900-02-29", None),
            ("2024-04-31", None),
            ("2024-13-01", None),
            ("2024-00-10", None),
            ("2024-01-00", None),
            // times, separators, offsets
            ("1970-01-01T00:00:01Z", Some(1_000)),
            ("1970-01-01t00:00:01z", Some(1_000)),
            ("1970-01-01 01:00", Some(HOUR_MS)),
            ("1970-01-01T01:00Z", Some(HOUR_MS)),
            ("1970-01-01T01:00:00", Some(HOUR_MS)),
            ("1970-01-01T01:00:00+01:00", Some(0)),
            ("1970-01-01T00:00:00-01:30", Some(5_400_000)),
            ("2026-11-18T11:06:40Z", Some(1_795_000_000_000)),
            ("1970-01-01T23:59:60Z", Some(DAY_MS)),
            // fractions
            ("1970-01-01T00:00:01.5Z", Some(1_500)),
            ("1970-01-01T00:00:01.25Z", Some(1_250)),
            ("1970-01-01T00:00:01.123456789Z", Some(1_123)),
            ("1970-01-01T00:00:01.Z", None),
            ("1970-01-01T00:00:01.1234567890Z", None),
            ("1970-01-01T00:00:01.x1Z", None),
            // bad input
            ("", None),
            ("yesterday", None),
            ("2026-1-1", None),
            ("20260-01-01", None),
            ("2026/01/01", None),
            ("2026-01-01T", None),
            ("2026-01-01X10:00", None),
            ("2026-11-18T25:00:00Z", None),
            ("2026-11-18T10:60:00Z", None),
            ("2026-11-18T10:00:61Z", None),
            ("2026-11-18T10:00:00:00Z", None),
            ("2026-11-18T1:00:00Z", None),
            ("2026-11-18T10:00:00+1:00", None),
            ("2026-11-18T10:00:00+0100", None),
            ("2026-11-18T10:00:00+24:00", None),
            ("2026-11-18T10:00:00Zjunk", None),
            ("2026-11-18T10:00:00é", None),
            ("é026-11-18", None),
        ];
        for (text, want) in table {
            assert_eq!(parse_timestamp_ms(text).ok(), *want, "{text:?}");
        }
    }

    #[test]
    fn instants() {
        let now = 10 * DAY_MS;
        let table: &[(&str, Option<i64>)] = &[
            ("24h", Some(9 * DAY_MS)),
            ("7d", Some(3 * DAY_MS)),
            ("30m", Some(now - 1_800_000)),
            (" 2w ", Some(now - 14 * DAY_MS)),
            ("1970-01-02", Some(DAY_MS)),
            (" 1970-01-01T01:00:00Z\n", Some(HOUR_MS)),
            ("yesterday", None),
            ("2024-13-01", None),
            ("", None),
        ];
        for (text, want) in table {
            assert_eq!(parse_instant(text, now).ok(), *want, "{text:?}");
        }
        // A duration longer than the time since the epoch saturates, never wraps.
        assert_eq!(parse_instant("1w", i64::MIN), Ok(i64::MIN));
    }

    #[test]
    fn now_is_after_2024() {
        assert!(now_ms() > 1_704_067_200_000);
    }

    #[test]
    fn error_names_the_syntax() {
        let e = parse_instant("soon", 0).err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("30m") && e.contains("YYYY-MM-DD")));
    }
}
