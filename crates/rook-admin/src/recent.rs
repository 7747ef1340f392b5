//! `GET /api/requests/recent`: the last requests this instance answered, from the
//! gateway's in-memory ring ([`crate::Runtime::recent_requests`]).

use http::StatusCode;
use serde::Serialize;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::reports::{param, parse_query};
use crate::{json_response, Admin, ApiRequest};

/// Default number of requests answered.
pub(crate) const DEFAULT_LIMIT: usize = 100;
/// Largest `limit` (the size of the gateway's ring).
pub(crate) const MAX_LIMIT: usize = 1000;

/// One finished request as `GET /api/requests/recent` shows it: no bodies, no secrets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecentRequestView {
    /// The request id (`x-request-id`).
    pub request_id: String,
    /// When it was recorded: RFC 3339, UTC, milliseconds.
    pub at: String,
    /// Client-facing endpoint: `chat`, `messages`, `completions`, `embeddings`, …
    /// (`other` for a request refused before its endpoint was known).
    pub endpoint: String,
    /// The logical model asked for (empty for a request refused before routing).
    pub route: String,
    /// Label of the last account tried (`acct_<id>`), if any.
    pub account: Option<String>,
    /// Client key id (never its secret), if the request used one.
    pub key_id: Option<String>,
    /// Upstream attempts made.
    pub attempts: u32,
    /// `success`, `error`, `partial` (a stream cut short), `client_gone` or `replayed`
    /// (an idempotent retry answered from the stored response).
    pub outcome: String,
    /// Error class, when not a success.
    pub error_class: Option<String>,
    /// Status sent to the client.
    pub status: u16,
    /// Time to the end of the answer.
    pub latency_ms: u64,
    /// Whether the answer was streamed.
    pub stream: bool,
    /// Input tokens, when the upstream reported them.
    pub input_tokens: Option<u64>,
    /// Output tokens, when the upstream reported them.
    pub output_tokens: Option<u64>,
    /// Cost from the price table, when the model has a price and tokens are known.
    pub cost_usd: Option<f64>,
}

/// The `limit` parameter: 1..=[`MAX_LIMIT`], default [`DEFAULT_LIMIT`].
fn parse_limit(value: Option<&str>) -> Result<usize, ApiError> {
    match value {
        None => Ok(DEFAULT_LIMIT),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::field("limit", format!("must be an integer in 1..={MAX_LIMIT}"))
            }),
    }
}

impl Admin {
    pub(crate) fn recent_requests(&self, req: &ApiRequest) -> ApiResult {
        let params = parse_query(req.query.as_deref(), &["limit"])?;
        let limit = parse_limit(param(&params, "limit"))?;
        let mut data = self.runtime.recent_requests(limit);
        data.truncate(limit);
        Ok(json_response(StatusCode::OK, &json!({ "data": data })))
    }
}

/// Adds the path and its schemas to the OpenAPI document.
pub(crate) fn extend_openapi(doc: &mut Value) {
    use crate::openapi::{key_ok as ok, key_responses as responses};
    let paths = json!({
        "/api/requests/recent": {
            "get": {
                "operationId": "recentRequests",
                "tags": ["requests"],
                "summary": "This instance's last requests, newest first (an in-memory ring of the last 1000; no bodies, no secrets)",
                "parameters": [{
                    "name": "limit", "in": "query", "required": false,
                    "description": "How many, 1 to 1000.",
                    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
                }],
                "responses": responses(
                    json!({"200": ok("The requests.", "RecentRequestList")}),
                    &[("400", "BadRequest")],
                ),
            }
        },
    });
    let nullable = |t: &str, d: &str| json!({"type": t, "nullable": true, "description": d});
    let schemas = json!({
        "RecentRequest": {
            "type": "object",
            "required": ["request_id", "at", "endpoint", "route", "account", "key_id", "attempts", "outcome", "error_class", "status", "latency_ms", "stream", "input_tokens", "output_tokens", "cost_usd"],
            "properties": {
                "request_id": {"type": "string"},
                "at": {"type": "string", "format": "date-time", "description": "When the request was recorded (UTC, milliseconds)."},
                "endpoint": {"type": "string", "description": "`chat`, `messages`, `completions`, `embeddings`, … (`other` when refused before the endpoint was known)."},
                "route": {"type": "string", "description": "The logical model asked for; empty when the request was refused before routing."},
                "account": nullable("string", "Label of the last account tried (`acct_<id>`)."),
                "key_id": nullable("string", "Client key id (never its secret)."),
                "attempts": {"type": "integer", "minimum": 0},
                "outcome": {"type": "string", "enum": ["success", "error", "partial", "client_gone", "replayed"]},
                "error_class": nullable("string", "Error class, when not a success."),
                "status": {"type": "integer"},
                "latency_ms": {"type": "integer", "format": "int64"},
                "stream": {"type": "boolean"},
                "input_tokens": nullable("integer", "Input tokens, when reported."),
                "output_tokens": nullable("integer", "Output tokens, when reported."),
                "cost_usd": nullable("number", "Cost from the price table, when known."),
            },
        },
        "RecentRequestList": {
            "type": "object",
            "required": ["data"],
            "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/RecentRequest"}}},
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
    if let Some(Value::Array(tags)) = doc.get_mut("tags") {
        tags.push(json!({"name": "requests"}));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        let table: &[(Option<&str>, Option<usize>)] = &[
            (None, Some(100)),
            (Some("1"), Some(1)),
            (Some("1000"), Some(1000)),
            (Some("0"), None),
            (Some("1001"), None),
            (Some("-1"), None),
            (Some("ten"), None),
            (Some(""), None),
        ];
        for (value, want) in table {
            match (parse_limit(*value), want) {
                (Ok(got), Some(want)) => assert_eq!(got, *want, "{value:?}"),
                (Err(e), None) => {
                    assert_eq!(e.status, StatusCode::BAD_REQUEST);
                    assert_eq!(e.code, "invalid_request");
                    assert!(e.message.contains("`limit`"), "{}", e.message);
                }
                (got, want) => panic!("{value:?}: got {got:?}, want {want:?}"),
            }
        }
    }
}
