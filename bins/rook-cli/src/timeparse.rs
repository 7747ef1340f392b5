//! `--since` / `--until` values: relative durations (`90m`, `24h`, `7d`, `2w`)
//! or UTC dates (`2024-05-01`, `2024-05-01T12:00:00Z`).

/// Current time in unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Parses a point in time relative to `now_ms`: a duration ago, or an
/// absolute UTC date / date-time.
pub fn parse_instant(text: &str, now_ms: i64) -> Result<i64, String> {
    let t = text.trim();
    if let Some(ms) = parse_duration_ms(t) {
        return Ok(now_ms.saturating_sub(ms));
    }
    parse_datetime_ms(t).ok_or_else(|| {
        format!(
            "cannot parse {text:?}: use a duration ago (30m, 24h, 7d, 2w) or a UTC date \
             (2024-05-01, 2024-05-01T12:00:00Z)"
        )
    })
}

fn parse_duration_ms(t: &str) -> Option<i64> {
    let split = t.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = t.split_at(split);
    let n: i64 = num.parse().ok()?;
    let unit_ms: i64 = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => return None,
    };
    n.checked_mul(unit_ms)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn num(s: &str, len: usize) -> Option<i64> {
    if s.len() == len && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

fn parse_datetime_ms(t: &str) -> Option<i64> {
    let (date, time) = match t.split_once(['T', ' ']) {
        Some((d, rest)) => (d, Some(rest)),
        None => (t, None),
    };
    let mut parts = date.split('-');
    let y = num(parts.next()?, 4)?;
    let m = num(parts.next()?, 2)?;
    let d = num(parts.next()?, 2)?;
    if parts.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let mut secs = 0;
    if let Some(time) = time {
        let time = time.strip_suffix('Z').unwrap_or(time);
        let mut parts = time.split(':');
        let h = num(parts.next()?, 2)?;
        let mi = num(parts.next()?, 2)?;
        let s = match parts.next() {
            Some(s) => num(s, 2)?,
            None => 0,
        };
        if parts.next().is_some() || h > 23 || mi > 59 || s > 60 {
            return None;
        }
        secs = h * 3600 + mi * 60 + s;
    }
    Some((days_from_civil(y, m, d) * 86_400 + secs) * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_dates() {
        let now = 10 * 86_400_000;
        assert_eq!(parse_instant("24h", now), Ok(9 * 86_400_000));
        assert_eq!(parse_instant("7d", now), Ok(3 * 86_400_000));
        assert_eq!(parse_instant("30m", now), Ok(now - 1_800_000));
        assert_eq!(parse_instant("1970-01-02", now), Ok(86_400_000));
        assert_eq!(parse_instant("2000-02-29", 0), Ok(951_782_400_000));
        assert_eq!(parse_instant("1970-01-01T01:00:00Z", 0), Ok(3_600_000));
        assert!(parse_instant("yesterday", now).is_err());
        assert!(parse_instant("2024-13-01", now).is_err());
    }
}
