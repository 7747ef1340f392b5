//! `retry_after`: the Retry-After, `retry-after-ms` and
//! `x-ratelimit-reset-*` parsers. No result exceeds its clamp; plain numbers
//! and HTTP dates mean what they say; `retry_hint` picks by the documented
//! precedence. Each input line is a value, and `name: value` lines are a
//! header list too.

use std::time::{Duration, SystemTime};

use rook_resilience::retry_after::{
    parse_reset_duration, parse_retry_after, parse_retry_after_ms, retry_hint,
};

use crate::engine::fnv1a;

fn plain_decimal(s: &str) -> Option<f64> {
    let ok = !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && s.bytes().filter(|&b| b == b'.').count() <= 1
        && s.bytes().any(|b| b.is_ascii_digit());
    ok.then(|| s.parse::<f64>().ok()).flatten()
}

fn close(a: Duration, b: Duration) -> bool {
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    hi - lo <= Duration::from_micros(1) + hi / 1_000_000
}

pub(crate) fn check(input: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(input);
    let maxes = [
        Duration::ZERO,
        Duration::from_millis(1),
        Duration::from_secs(60),
        Duration::from_secs(600),
        Duration::MAX,
    ];
    let max = maxes[(fnv1a(input) % maxes.len() as u64) as usize];
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut headers = Vec::new();
    for line in text.lines() {
        let a = parse_retry_after(line, now, max);
        let b = parse_retry_after_ms(line, max);
        let c = parse_reset_duration(line, max);
        for (name, d) in [("retry-after", a), ("retry-after-ms", b), ("reset", c)] {
            if d.is_some_and(|d| d > max) {
                return Err(format!(
                    "{name} {line:?} gave {d:?} above the clamp {max:?}"
                ));
            }
        }
        if let Some(secs) = plain_decimal(line.trim()) {
            let want = Duration::try_from_secs_f64(secs).map_or(max, |d| d.min(max));
            if !a.is_some_and(|a| close(a, want)) {
                return Err(format!("retry-after {line:?} gave {a:?}, want {want:?}"));
            }
            let want_ms = Duration::try_from_secs_f64(secs / 1000.0).map_or(max, |d| d.min(max));
            if !b.is_some_and(|b| close(b, want_ms)) {
                return Err(format!(
                    "retry-after-ms {line:?} gave {b:?}, want {want_ms:?}"
                ));
            }
        } else if let Ok(at) = httpdate::parse_http_date(line.trim()) {
            let want = at.duration_since(now).unwrap_or(Duration::ZERO).min(max);
            if a != Some(want) {
                return Err(format!(
                    "retry-after date {line:?} gave {a:?}, want {want:?}"
                ));
            }
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.to_string(), value.to_string()));
        }
    }
    let hint = retry_hint(
        headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        now,
        max,
    );
    let pick = |f: &dyn Fn(&str) -> bool, parse: &dyn Fn(&str) -> Option<Duration>| {
        headers
            .iter()
            .filter(|(n, _)| f(n.trim()))
            .filter_map(|(_, v)| parse(v))
            .max()
    };
    let ms = pick(&|n| n.eq_ignore_ascii_case("retry-after-ms"), &|v| {
        parse_retry_after_ms(v, max)
    });
    let after = pick(&|n| n.eq_ignore_ascii_case("retry-after"), &|v| {
        parse_retry_after(v, now, max)
    });
    let reset = pick(
        &|n| {
            n.len() > 18
                && n.is_char_boundary(18)
                && n[..18].eq_ignore_ascii_case("x-ratelimit-reset-")
        },
        &|v| parse_reset_duration(v, max),
    );
    let want = ms.or(after).or(reset);
    if hint != want {
        return Err(format!(
            "retry_hint gave {hint:?}, precedence says {want:?}"
        ));
    }
    Ok(())
}
