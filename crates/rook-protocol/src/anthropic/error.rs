//! Anthropic error bodies: `{"type":"error","error":{"type","message"}}`.
//!
//! Upstream ones are read into [`UpstreamError`] (so the gateway relays them
//! OpenAI-shaped, status kept); Rook's own answers to Anthropic clients are
//! written with [`error_body`] and the type names of [`error_type_for_status`].

use serde_json::json;

use crate::openai::UpstreamError;

/// Reads an Anthropic error body: `message` and `type` (e.g. `overloaded_error`),
/// the type also as the `code`.
pub fn parse_error(body: &[u8]) -> UpstreamError {
    let mut e = UpstreamError::parse(body);
    if e.code.is_none() {
        e.code = e.kind.clone();
    }
    e
}

/// Anthropic's error type name for an HTTP status.
///
/// | status | type |
/// |---|---|
/// | 400 and other 4xx | `invalid_request_error` |
/// | 401 | `authentication_error` |
/// | 402 | `billing_error` |
/// | 403 | `permission_error` |
/// | 404 | `not_found_error` |
/// | 413 | `request_too_large` |
/// | 429 | `rate_limit_error` |
/// | 503, 529 | `overloaded_error` |
/// | 500, 502, 504 and other statuses | `api_error` |
pub fn error_type_for_status(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

/// An Anthropic-shaped error body.
///
/// ```
/// use rook_protocol::anthropic::error::{error_body, error_type_for_status};
/// let b = error_body(error_type_for_status(429), "slow down");
/// assert_eq!(b, br#"{"error":{"message":"slow down","type":"rate_limit_error"},"type":"error"}"#);
/// ```
pub fn error_body(kind: &str, message: &str) -> Vec<u8> {
    json!({"type": "error", "error": {"type": kind, "message": message}})
        .to_string()
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        for (s, t) in [
            (400, "invalid_request_error"),
            (401, "authentication_error"),
            (402, "billing_error"),
            (403, "permission_error"),
            (404, "not_found_error"),
            (413, "request_too_large"),
            (422, "invalid_request_error"),
            (429, "rate_limit_error"),
            (500, "api_error"),
            (502, "api_error"),
            (503, "overloaded_error"),
            (504, "api_error"),
            (529, "overloaded_error"),
        ] {
            assert_eq!(error_type_for_status(s), t, "{s}");
        }
    }

    #[test]
    fn reads_upstream_errors() {
        let e = parse_error(br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"r"}"#);
        assert_eq!(e.message.as_deref(), Some("Overloaded"));
        assert_eq!(e.kind.as_deref(), Some("overloaded_error"));
        assert_eq!(e.code.as_deref(), Some("overloaded_error"));
        assert_eq!(parse_error(b"<html>"), UpstreamError::default());
        let round = parse_error(&error_body("not_found_error", "no model"));
        assert_eq!(round.message.as_deref(), Some("no model"));
    }
}
