//! `GET /api/usage/timeseries?since=24h&bucket=5m&group_by=model`: usage per time bucket
//! and group, summed by the database ([`rook_registry::series`]).
//!
//! `since` (default `24h`) and `until` (default now) take the forms of `GET /api/usage`;
//! `bucket` (default `5m`) is a duration of at least [`MIN_BUCKET_MS`] whole seconds,
//! and the window may hold at most [`MAX_BUCKETS`] buckets; `group_by` is one of
//! `model`, `account`, `endpoint`, `key` (default `model`).

use http::StatusCode;
use rook_registry::series::SeriesGroup;
use rook_registry::time;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::reports::{param, parse_query, parse_time};
use crate::{json_response, Admin, ApiRequest};

/// Narrowest bucket, milliseconds (10 s).
pub(crate) const MIN_BUCKET_MS: i64 = 10_000;
/// Most buckets one answer may span.
pub(crate) const MAX_BUCKETS: i64 = 2_000;

/// The validated query: `(since_ms, until_ms, bucket_ms, group)`.
pub(crate) fn parse(query: Option<&str>, now_ms: i64) -> ApiResult<(i64, i64, i64, SeriesGroup)> {
    let params = parse_query(query, &["since", "until", "bucket", "group_by"])?;
    let since = parse_time("since", param(&params, "since").unwrap_or("24h"), now_ms)?;
    let until = match param(&params, "until") {
        Some(v) => parse_time("until", v, now_ms)?,
        None => now_ms,
    };
    if until <= since {
        return Err(ApiError::field("until", "must be later than `since`"));
    }
    let bucket_text = param(&params, "bucket").unwrap_or("5m");
    let bucket = time::parse_duration_ms(bucket_text).map_err(|_| {
        ApiError::field(
            "bucket",
            format!("'{bucket_text}' is not a duration (`30s`, `5m`, `1h`, `1d`)"),
        )
    })?;
    if bucket < MIN_BUCKET_MS {
        return Err(ApiError::field(
            "bucket",
            format!("must be at least {}s", MIN_BUCKET_MS / 1000),
        ));
    }
    let buckets = (until - since + bucket - 1) / bucket;
    if buckets > MAX_BUCKETS {
        return Err(ApiError::field(
            "bucket",
            format!(
                "the window holds {buckets} buckets of {bucket_text}; at most {MAX_BUCKETS} \
                 are allowed: use a wider bucket or a shorter window"
            ),
        ));
    }
    let group_text = param(&params, "group_by").unwrap_or("model");
    let group = SeriesGroup::from_name(group_text).ok_or_else(|| {
        let names: Vec<&str> = SeriesGroup::ALL.iter().map(|g| g.as_str()).collect();
        ApiError::field(
            "group_by",
            format!(
                "unknown grouping '{group_text}'; expected one of {}",
                names.join(", ")
            ),
        )
    })?;
    Ok((since, until, bucket, group))
}

impl Admin {
    pub(crate) async fn usage_timeseries(&self, req: &ApiRequest) -> ApiResult {
        let (since, until, bucket, group) = parse(req.query.as_deref(), time::now_ms())?;
        let series = self
            .registry
            .usage_timeseries(since, until, bucket, group)
            .await?;
        Ok(json_response(StatusCode::OK, &series))
    }
}

/// Adds the path and its schemas to the OpenAPI document.
pub(crate) fn extend_openapi(doc: &mut Value) {
    use crate::openapi::{key_ok as ok, key_responses as responses};
    let groups: Vec<&str> = SeriesGroup::ALL.iter().map(|g| g.as_str()).collect();
    let paths = json!({
        "/api/usage/timeseries": {
            "get": {
                "operationId": "usageTimeseries",
                "tags": ["usage"],
                "summary": "Requests, tokens, cost and latency per time bucket and group, summed by the database",
                "description": "Buckets are aligned to multiples of `bucket` since the unix epoch; buckets without traffic are left out of `points`. The window is `[since, until)`.",
                "parameters": [
                    {
                        "name": "since", "in": "query", "required": false,
                        "description": "Window start: a duration back from now (`30m`, `24h`, `7d`), a date `YYYY-MM-DD` (UTC) or an RFC 3339 timestamp. Default `24h`.",
                        "schema": {"type": "string", "default": "24h"},
                    },
                    {
                        "name": "until", "in": "query", "required": false,
                        "description": "Window end (exclusive), same forms as `since`. Default: now.",
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "bucket", "in": "query", "required": false,
                        "description": format!("Bucket width, a duration (`30s`, `5m`, `1h`, `1d`) of at least {}s; the window may hold at most {MAX_BUCKETS} buckets.", MIN_BUCKET_MS / 1000),
                        "schema": {"type": "string", "default": "5m"},
                    },
                    {
                        "name": "group_by", "in": "query", "required": false,
                        "description": "One grouping. Default `model`.",
                        "schema": {"type": "string", "enum": groups, "default": "model"},
                    },
                ],
                "responses": responses(
                    json!({"200": ok("The series.", "UsageTimeseries")}),
                    &[("400", "BadRequest"), ("503", "DatabaseUnavailable")],
                ),
            }
        }
    });
    let point = json!({
        "type": "object",
        "required": ["ts_ms", "requests"],
        "properties": {
            "ts_ms": {"type": "integer", "format": "int64", "description": "Bucket start, unix ms (0 in totals)."},
            "requests": {"type": "integer"},
            "failed_requests": {"type": "integer", "description": "Requests whose outcome was not `success`."},
            "prompt_tokens": {"type": "integer"},
            "completion_tokens": {"type": "integer"},
            "total_tokens": {"type": "integer"},
            "cost_usd": {"type": "number"},
            "latency_avg_ms": {"type": "number"},
            "latency_max_ms": {"type": "integer"},
        },
    });
    let schemas = json!({
        "UsagePoint": point,
        "UsageSeries": {
            "type": "object",
            "required": ["key", "totals", "points"],
            "properties": {
                "key": {"type": "string", "description": "The group's key (`none` when the event has no account or key)."},
                "totals": {"$ref": "#/components/schemas/UsagePoint"},
                "points": {"type": "array", "items": {"$ref": "#/components/schemas/UsagePoint"}},
            },
        },
        "UsageTimeseries": {
            "type": "object",
            "required": ["since_ms", "until_ms", "bucket_seconds", "group_by", "totals", "series"],
            "properties": {
                "since_ms": {"type": "integer", "format": "int64"},
                "until_ms": {"type": "integer", "format": "int64"},
                "bucket_seconds": {"type": "integer"},
                "group_by": {"type": "string", "enum": groups},
                "totals": {"$ref": "#/components/schemas/UsagePoint"},
                "series": {"type": "array", "items": {"$ref": "#/components/schemas/UsageSeries"}},
            },
        },
    });
    if let (Some(Value::Object(dst)), Value::Object(src)) = (doc.get_mut("paths"), paths) {
        dst.extend(src);
    }
    if let (Some(Value::Object(dst)), Value::Object(src)) =
        (doc.pointer_mut("/components/schemas"), schemas)
    {
        dst.extend(src);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries() {
        let now = 100 * 86_400_000;
        let ok = parse(Some("since=1h&bucket=1m&group_by=key"), now).ok();
        assert_eq!(ok, Some((now - 3_600_000, now, 60_000, SeriesGroup::Key)));
        assert_eq!(
            parse(None, now).ok(),
            Some((now - 86_400_000, now, 300_000, SeriesGroup::Model))
        );
        // (query, the parameter the 400 names)
        let bad = [
            ("bucket=5", "`bucket`"),
            ("bucket=5x", "`bucket`"),
            ("bucket=1s", "`bucket`"),
            ("since=30d&bucket=10s", "`bucket`"),
            ("since=yesterday", "`since`"),
            ("group_by=day", "`group_by`"),
            ("group_by=model,key", "`group_by`"),
            ("since=1h&until=2h", "`until`"),
            ("window=1h", "`window`"),
            ("bucket=1m&bucket=5m", "`bucket`"),
        ];
        for (q, field) in bad {
            match parse(Some(q), now) {
                Err(e) => {
                    assert_eq!(e.status, StatusCode::BAD_REQUEST, "{q}");
                    assert!(e.message.starts_with(field), "{q}: {}", e.message);
                }
                Ok(v) => panic!("{q} was accepted: {v:?}"),
            }
        }
    }
}
