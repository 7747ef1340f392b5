//! `GET /api/usage` and `GET /api/audit/events`: query parsing and time expressions.

use http::StatusCode;
use rook_registry::report::GroupBy;
use rook_registry::time;
use rook_registry::AuditEvent;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::{json_response, Admin, ApiRequest};

/// Default and largest page size of `GET /api/audit/events`.
pub(crate) const AUDIT_DEFAULT_LIMIT: u32 = 50;
/// Largest page size of `GET /api/audit/events`.
pub(crate) const AUDIT_MAX_LIMIT: u32 = 500;

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
/// invalid UTF-8. The gateway decodes `/v1/models/{id}` with it too.
pub fn decode_path(s: &str) -> Option<String> {
    percent_decode(s)
}

/// Query parameters, percent-decoded (`+` is kept as is), each allowed name at most once.
pub(crate) fn parse_query(
    query: Option<&str>,
    allowed: &[&str],
) -> ApiResult<Vec<(String, String)>> {
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

pub(crate) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A `since`/`until` value: a duration back from `now_ms`, a date or an RFC 3339 timestamp
/// ([`rook_registry::time::parse_instant`]).
fn parse_time(name: &str, value: &str, now_ms: i64) -> ApiResult<i64> {
    time::parse_instant(value, now_ms).map_err(|_| {
        ApiError::field(
            name,
            format!(
                "'{value}' is not a duration back from now (`30m`, `24h`, `7d`, `2w`), a date (`YYYY-MM-DD`, UTC) or an RFC 3339 timestamp"
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
        "client_addr": e.client_addr,
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
        let now = time::now_ms();
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
    fn times() {
        let now = 10 * 86_400_000;
        let table: &[(&str, Option<i64>)] = &[
            ("30m", Some(now - 1_800_000)),
            ("7d", Some(3 * 86_400_000)),
            ("1970-01-01", Some(0)),
            ("2000-01-01T00:00:00+02:00", Some(946_677_600_000)),
            ("yesterday", None),
            ("2024-13-01", None),
        ];
        for (value, want) in table {
            match (parse_time("since", value, now), want) {
                (Ok(got), Some(want)) => assert_eq!(got, *want, "{value}"),
                (Err(e), None) => assert!(e.message.contains("`since`"), "{}", e.message),
                (got, want) => panic!("{value}: got {got:?}, want {want:?}"),
            }
        }
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
