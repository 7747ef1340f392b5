//! Parsing "wait this long" hints that upstreams send with 429 and 503
//! responses.
//!
//! | header | form | parser |
//! |---|---|---|
//! | `Retry-After` | delta seconds (`120`, leniently `1.5`) or an HTTP-date | [`parse_retry_after`] |
//! | `retry-after-ms` | milliseconds (`250`, `1500.5`) | [`parse_retry_after_ms`] |
//! | `x-ratelimit-reset-*` | Go-style durations (`1s`, `6m0s`, `250ms`, `1h2m3.5s`) | [`parse_reset_duration`] |
//!
//! Every parser clamps its result to a caller-given `max` (a hostile or
//! confused upstream must not park an account for a year) and returns `None`
//! for anything it does not understand; none of them panics. A date in the
//! past means "now" (`Duration::ZERO`).
//!
//! [`retry_hint`] picks one hint from a whole header list:
//! `retry-after-ms` first (the most precise), then `Retry-After` (the
//! standard), then the **largest** `x-ratelimit-reset-*` value. The largest,
//! because the reset headers describe several independent limits (requests,
//! tokens) and we cannot tell which one was exhausted; waiting for the
//! latest reset is the only wait that is sure not to hit a limit again.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use rook_resilience::retry_after::retry_hint;
//!
//! let headers = [("x-ratelimit-reset-requests", "1s"), ("x-ratelimit-reset-tokens", "6m0s")];
//! let hint = retry_hint(headers, SystemTime::now(), Duration::from_secs(60));
//! assert_eq!(hint, Some(Duration::from_secs(60))); // 6 min, clamped
//! ```

use std::time::{Duration, SystemTime};

/// Seconds as a non-negative decimal (`"120"`, `"1.5"`); no signs, no
/// exponents, no `inf`/`nan`.
fn parse_plain_decimal(s: &str) -> Option<f64> {
    let mut digits = 0usize;
    let mut dots = 0usize;
    for c in s.chars() {
        match c {
            '0'..='9' => digits += 1,
            '.' => dots += 1,
            _ => return None,
        }
    }
    if digits == 0 || dots > 1 {
        return None;
    }
    s.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0)
}

/// Seconds to a duration clamped to `max` (overflow saturates to `max`).
fn clamp_secs(secs: f64, max: Duration) -> Duration {
    Duration::try_from_secs_f64(secs).map_or(max, |d| d.min(max))
}

/// Parse a `Retry-After` value: delta seconds (leniently with a fraction)
/// or an HTTP-date, relative to `now`, clamped to `max`.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use rook_resilience::retry_after::parse_retry_after;
///
/// let max = Duration::from_secs(300);
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
/// assert_eq!(parse_retry_after("120", now, max), Some(Duration::from_secs(120)));
/// assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now, max), Some(Duration::from_secs(30)));
/// assert_eq!(parse_retry_after("soon", now, max), None);
/// ```
pub fn parse_retry_after(value: &str, now: SystemTime, max: Duration) -> Option<Duration> {
    let value = value.trim();
    if let Some(secs) = parse_plain_decimal(value) {
        return Some(clamp_secs(secs, max));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let wait = at.duration_since(now).unwrap_or(Duration::ZERO);
    Some(wait.min(max))
}

/// Parse a `retry-after-ms` value (milliseconds, possibly fractional),
/// clamped to `max`.
///
/// ```
/// use std::time::Duration;
/// use rook_resilience::retry_after::parse_retry_after_ms;
///
/// assert_eq!(parse_retry_after_ms("250", Duration::from_secs(5)), Some(Duration::from_millis(250)));
/// assert_eq!(parse_retry_after_ms("-1", Duration::from_secs(5)), None);
/// ```
pub fn parse_retry_after_ms(value: &str, max: Duration) -> Option<Duration> {
    let ms = parse_plain_decimal(value.trim())?;
    Some(clamp_secs(ms / 1000.0, max))
}

/// Parse an `x-ratelimit-reset-*` value in Go's duration syntax: one or
/// more `<decimal><unit>` pairs with units `h`, `m`, `s`, `ms`, `us`/`µs`,
/// `ns` (`1s`, `6m0s`, `250ms`, `1h2m3.5s`, `0.5s`), or a bare `0`.
/// Clamped to `max`.
///
/// A bare non-zero number is rejected (as Go does): it is ambiguous between
/// seconds and a Unix timestamp, which some APIs send in similarly named
/// headers.
///
/// ```
/// use std::time::Duration;
/// use rook_resilience::retry_after::parse_reset_duration;
///
/// let max = Duration::from_secs(3600 * 2);
/// assert_eq!(parse_reset_duration("1h2m3.5s", max), Some(Duration::from_millis(3_723_500)));
/// assert_eq!(parse_reset_duration("250ms", max), Some(Duration::from_millis(250)));
/// assert_eq!(parse_reset_duration("12", max), None);
/// ```
pub fn parse_reset_duration(value: &str, max: Duration) -> Option<Duration> {
    let mut rest = value.trim();
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total_secs = 0.0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = parse_plain_decimal(&rest[..number_len])?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" | "μs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total_secs += number * scale;
    }
    Some(clamp_secs(total_secs, max))
}

/// The best wait hint from a list of `(name, value)` headers (names compared
/// case-insensitively), clamped to `max`.
///
/// Preference: `retry-after-ms`, then `Retry-After`, then the largest
/// `x-ratelimit-reset-*` (see the [module docs](self) for why). Values that
/// do not parse are skipped; if a header repeats, its largest valid value
/// counts. `None` if no header gives a usable hint.
pub fn retry_hint<'a, I>(headers: I, now: SystemTime, max: Duration) -> Option<Duration>
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    const RESET_PREFIX: &str = "x-ratelimit-reset-";
    let mut ms_hint: Option<Duration> = None;
    let mut after_hint: Option<Duration> = None;
    let mut reset_hint: Option<Duration> = None;
    for (name, value) in headers {
        let name = name.trim();
        let slot = if name.eq_ignore_ascii_case("retry-after-ms") {
            (&mut ms_hint, parse_retry_after_ms(value, max))
        } else if name.eq_ignore_ascii_case("retry-after") {
            (&mut after_hint, parse_retry_after(value, now, max))
        } else if name.len() > RESET_PREFIX.len()
            && name
                .get(..RESET_PREFIX.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(RESET_PREFIX))
        {
            (&mut reset_hint, parse_reset_duration(value, max))
        } else {
            continue;
        };
        if let (current, Some(parsed)) = slot {
            *current = Some(current.map_or(parsed, |c| c.max(parsed)));
        }
    }
    ms_hint.or(after_hint).or(reset_hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: Duration = Duration::from_secs(600);

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    #[test]
    fn retry_after_delta_and_date() {
        assert_eq!(parse_retry_after("0", now(), MAX), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after(" 42 ", now(), MAX),
            Some(Duration::from_secs(42))
        );
        assert_eq!(
            parse_retry_after("1.5", now(), MAX),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after("99999999999999999999999", now(), MAX),
            Some(MAX)
        );
        let later = httpdate::fmt_http_date(now() + Duration::from_secs(90));
        assert_eq!(
            parse_retry_after(&later, now(), MAX),
            Some(Duration::from_secs(90))
        );
        let earlier = httpdate::fmt_http_date(now() - Duration::from_secs(90));
        assert_eq!(
            parse_retry_after(&earlier, now(), MAX),
            Some(Duration::ZERO)
        );
        let far = httpdate::fmt_http_date(now() + Duration::from_secs(86_400));
        assert_eq!(parse_retry_after(&far, now(), MAX), Some(MAX));
    }

    #[test]
    fn retry_after_garbage() {
        for bad in [
            "", " ", "-1", "+1", "1e3", "inf", "NaN", "1.2.3", ".", "soon", "12s",
        ] {
            assert_eq!(parse_retry_after(bad, now(), MAX), None, "{bad:?}");
        }
    }

    #[test]
    fn retry_after_ms() {
        assert_eq!(
            parse_retry_after_ms("1500.5", MAX),
            Some(Duration::from_micros(1_500_500))
        );
        assert_eq!(
            parse_retry_after_ms("10000000", Duration::from_secs(5)),
            Some(Duration::from_secs(5))
        );
        assert_eq!(parse_retry_after_ms("abc", MAX), None);
    }

    #[test]
    fn reset_durations() {
        let cases = [
            ("1s", Duration::from_secs(1)),
            ("6m0s", Duration::from_secs(360)),
            ("250ms", Duration::from_millis(250)),
            ("1h2m3.5s", Duration::from_millis(3_723_500)),
            ("0.5s", Duration::from_millis(500)),
            ("0", Duration::ZERO),
            ("1m30s", Duration::from_secs(90)),
            ("20us", Duration::from_micros(20)),
            ("20µs", Duration::from_micros(20)),
            ("7ns", Duration::from_nanos(7)),
        ];
        for (input, want) in cases {
            let got = parse_reset_duration(input, Duration::from_secs(86_400)).unwrap();
            let diff = got.abs_diff(want);
            assert!(diff < Duration::from_micros(1), "{input}: {got:?}");
        }
        assert_eq!(
            parse_reset_duration("2h", Duration::from_secs(60)),
            Some(Duration::from_secs(60))
        );
    }

    #[test]
    fn reset_garbage() {
        for bad in [
            "", "s", "12", "1x", "-1s", "1s-", "1..2s", "1 s", "ms", "1sms", "é",
        ] {
            assert_eq!(parse_reset_duration(bad, MAX), None, "{bad:?}");
        }
    }

    #[test]
    fn hint_preference() {
        let all = [
            ("X-RateLimit-Reset-Tokens", "6m0s"),
            ("x-ratelimit-reset-requests", "1s"),
            ("Retry-After", "30"),
            ("retry-after-ms", "1200"),
            ("content-type", "application/json"),
        ];
        assert_eq!(
            retry_hint(all, now(), MAX),
            Some(Duration::from_millis(1200))
        );
        assert_eq!(
            retry_hint(all[..3].iter().copied(), now(), MAX),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_hint(all[..2].iter().copied(), now(), MAX),
            Some(Duration::from_secs(360))
        );
        // an unparsable preferred header falls through to the next one
        let bad_ms = [("retry-after-ms", "later"), ("retry-after", "3")];
        assert_eq!(retry_hint(bad_ms, now(), MAX), Some(Duration::from_secs(3)));
        // plain x-ratelimit-reset (often a Unix timestamp) is not used
        assert_eq!(
            retry_hint([("x-ratelimit-reset", "1700000000")], now(), MAX),
            None
        );
        assert_eq!(retry_hint([], now(), MAX), None);
    }
}
