//! `GET /api/usage` and `GET /api/audit/events`: query parsing and time expressions.

use http::StatusCode;
use rook_registry::report::GroupBy;
use rook_registry::AuditEvent;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::{json_response, Admin, ApiRequest};

/// Default and largest page size of `GET /api/audit/events`.
pub(crate) const AUDIT_DEFAULT_LIMIT: u32 = 50;
/// Largest page size of `GET /api/audit/events`.
pub(crate) const AUDIT_MAX_LIMIT: u32 = 500;

const DAY_MS: i64 = 86_400_000;

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Percent-decodes one path segment (or the rest of a path); `None` for bad escapes or
/// invalid UTF-8.
pub(crate) fn decode_path(s: &str) -> Option<String> {
    percent_decode(s)
}

/// Query parameters, percent-decoded (`+` is kept as is), each allowed name at most once.
fn parse_query(query: Option<&str>, allowed: &[&str]) -> ApiResult<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = percent_decode(k)
            .ok_or_else(|| ApiError::invalid("bad percent-encoding in the query string"))?;
        let v = percent_decode(v).ok_or_else(|| ApiError::field(&k, "bad percent-encoding"))?;
        if !allowed.contains(&k.as_str()) {
            return Err(ApiError::field(
                &k,
                format!(
                    "unknown query parameter; expected one of {}",
                    allowed.join(", ")
                ),
            ));
        }
        if out.iter().any(|(seen, _)| *seen == k) {
            return Err(ApiError::field(&k, "given more than once"));
        }
        out.push((k, v));
    }
    Ok(out)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `30s`, `30m`, `24h`, `7d`, `2w` → milliseconds.
fn parse_duration_ms(s: &str) -> Option<i64> {
    let unit = s.chars().last()?;
    let digits = &s[..s.len() - unit.len_utf8()];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = digits.parse().ok()?;
    let per = match unit {
        's' => 1_000,
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => DAY_MS,
        'w' => 7 * DAY_MS,
        _ => return None,
    };
    n.checked_mul(per)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn num(s: &str, range: std::ops::RangeInclusive<i64>) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = s.parse().ok()?;
    range.contains(&n).then_some(n)
}

/// `YYYY-MM-DD` (UTC midnight) or an RFC 3339 timestamp
/// (`YYYY-MM-DDTHH:MM[:SS[.fff]]` with `Z` or `±HH:MM`; no offset means UTC) → unix ms.
pub(crate) fn parse_timestamp_ms(s: &str) -> Option<i64> {
    let date = s.get(..10)?;
    let b = date.as_bytes();
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y = num(&date[..4], 0..=9999)?;
    let m = num(&date[5..7], 1..=12)?;
    let d = num(&date[8..10], 1..=days_in_month(y, m))?;
    let mut ms = days_from_civil(y, m, d) * DAY_MS;
    let rest = &s[10..];
    if rest.is_empty() {
        return Some(ms);
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    // Split the offset off the time.
    let (time, offset) = match rest.find(['Z', 'z', '+', '-']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (hms, frac) = match time.split_once('.') {
        Some((a, f)) => (a, Some(f)),
        None => (time, None),
    };
    let mut parts = hms.split(':');
    let h = num(parts.next()?, 0..=23)?;
    let min = num(parts.next()?, 0..=59)?;
    let sec = match parts.next() {
        Some(p) => num(p, 0..=60)?,
        None => 0,
    };
    if parts.next().is_some() {
        return None;
    }
    ms += (h * 3600 + min * 60 + sec) * 1000;
    if let Some(f) = frac {
        if f.is_empty() || f.len() > 9 || !f.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let padded = format!("{f:0<3}");
        ms += padded[..3].parse::<i64>().ok()?;
    }
    match offset {
        "" | "Z" | "z" => {}
        o => {
            let sign = if o.starts_with('+') { -1 } else { 1 };
            let (oh, om) = o[1..].split_once(':')?;
            if oh.len() != 2 || om.len() != 2 {
                return None;
            }
            let oh = num(oh, 0..=23)?;
            let om = num(om, 0..=59)?;
            ms += sign * (oh * 3600 + om * 60) * 1000;
        }
    }
    Some(ms)
}

/// A `since`/`until` value: a duration back from `now_ms`, a date or an RFC 3339 timestamp.
fn parse_time(name: &str, value: &str, now_ms: i64) -> ApiResult<i64> {
    if let Some(d) = parse_duration_ms(value) {
        return Ok(now_ms.saturating_sub(d));
    }
    parse_timestamp_ms(value).ok_or_else(|| {
        ApiError::field(
            name,
            format!(
                "'{value}' is not a duration back from now (`30m`, `24h`, `7d`), a date (`YYYY-MM-DD`, UTC) or an RFC 3339 timestamp"
            ),
        )
    })
}

fn parse_group_by(value: &str) -> ApiResult<Vec<GroupBy>> {
    let mut out = Vec::new();
    for name in value.split(',').map(str::trim) {
        let g = GroupBy::from_name(name).ok_or_else(|| {
            let names: Vec<&str> = GroupBy::ALL.iter().map(|g| g.as_str()).collect();
            ApiError::field(
                "group_by",
                format!(
                    "unknown grouping '{name}'; expected a comma-separated list of {}",
                    names.join(", ")
                ),
            )
        })?;
        if !out.contains(&g) {
            out.push(g);
        }
    }
    Ok(out)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn rfc3339_ms(ms: i64) -> String {
    let t =
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(t).to_string()
}

fn audit_view(e: &AuditEvent) -> Value {
    json!({
        "id": e.id,
        "ts_ms": e.ts_ms,
        "ts": rfc3339_ms(e.ts_ms),
        "request_id": e.request_id,
        "actor": e.actor,
        "action": e.action,
        "entity_type": e.entity_type,
        "entity_id": e.entity_id,
        "detail": e.detail,
    })
}

impl Admin {
    pub(crate) async fn usage(&self, req: &ApiRequest) -> ApiResult {
        let params = parse_query(req.query.as_deref(), &["since", "until", "group_by"])?;
        let now = now_ms();
        let since = parse_time("since", param(&params, "since").unwrap_or("24h"), now)?;
        let until = match param(&params, "until") {
            Some(v) => Some(parse_time("until", v, now)?),
            None => None,
        };
        if let Some(u) = until {
            if u <= since {
                return Err(ApiError::field("until", "must be later than `since`"));
            }
        }
        let group_by = parse_group_by(param(&params, "group_by").unwrap_or("model"))?;
        let report = self
            .registry
            .usage_report(Some(since), until, &group_by)
            .await?;
        Ok(json_response(StatusCode::OK, &report))
    }

    pub(crate) async fn audit_events(&self, req: &ApiRequest) -> ApiResult {
        let params = parse_query(req.query.as_deref(), &["limit", "before"])?;
        let limit = match param(&params, "limit") {
            None => AUDIT_DEFAULT_LIMIT,
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=AUDIT_MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    ApiError::field(
                        "limit",
                        format!("must be an integer in 1..={AUDIT_MAX_LIMIT}"),
                    )
                })?,
        };
        let before = match param(&params, "before") {
            None => None,
            Some(v) => Some(
                v.parse::<i64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| ApiError::field("before", "must be a positive event id"))?,
            ),
        };
        let events = self.registry.list_audit(limit, before).await?;
        let next_before = if events.len() == limit as usize {
            events.last().and_then(|e| e.id)
        } else {
            None
        };
        let views: Vec<Value> = events.iter().map(audit_view).collect();
        Ok(json_response(
            StatusCode::OK,
            &json!({"events": views, "next_before": next_before}),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("30m"), Some(1_800_000));
        assert_eq!(parse_duration_ms("24h"), Some(86_400_000));
        assert_eq!(parse_duration_ms("7d"), Some(7 * 86_400_000));
        assert_eq!(parse_duration_ms("h"), None);
        assert_eq!(parse_duration_ms("-1h"), None);
        assert_eq!(parse_duration_ms("1y"), None);
        assert_eq!(parse_duration_ms("99999999999999999999d"), None);
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp_ms("1970-01-01"), Some(0));
        assert_eq!(parse_timestamp_ms("2000-02-29"), Some(951_782_400_000));
        assert_eq!(parse_timestamp_ms("2000-02-30"), None);
        assert_eq!(parse_timestamp_ms("2001-02-29"), None);
        assert_eq!(parse_timestamp_ms("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_timestamp_ms("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(parse_timestamp_ms("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(
            parse_timestamp_ms("1970-01-01T00:00:00-01:30"),
            Some(5_400_000)
        );
        assert_eq!(
            parse_timestamp_ms("2026-11-18T11:06:40Z"),
            Some(1_795_000_000_000)
        );
        assert_eq!(parse_timestamp_ms("2026-11-18T25:00:00Z"), None);
        assert_eq!(parse_timestamp_ms("yesterday"), None);
        assert_eq!(parse_timestamp_ms("2026-1-1"), None);
    }

    #[test]
    fn queries() {
        let q = parse_query(
            Some("since=2024-01-01T00%3A00%3A00%2B02%3A00&group_by=model,day"),
            &["since", "group_by"],
        )
        .unwrap_or_default();
        assert_eq!(param(&q, "since"), Some("2024-01-01T00:00:00+02:00"));
        assert!(parse_query(Some("x=1"), &["since"]).is_err());
        assert!(parse_query(Some("since=1h&since=2h"), &["since"]).is_err());
        assert_eq!(
            parse_group_by("model, day,model").ok(),
            Some(vec![GroupBy::Model, GroupBy::Day])
        );
        assert!(parse_group_by("").is_err());
    }
}
