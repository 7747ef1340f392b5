//! Client-facing errors and the one place they become HTTP responses.
//!
//! Every error a client sees from `/v1/*` is OpenAI-shaped:
//! `{"error":{"message":"…","type":"…","code":"…"}}`. Upstream 4xx answers keep
//! their status and their `message`, `type`, `code` and `param`, each
//! sanitised ([`sanitize_upstream`]): no account key of the routing snapshot
//! and nothing shaped like a provider key reaches the client. Nothing else of
//! an upstream error body is relayed.

use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use rook_protocol::classify::{Classified, ErrorClass};
use rook_protocol::openai::ErrorBody;

use crate::body::RookBody;
use crate::endpoint::Dialect;
use crate::proxy::scrub::Scrubber;

/// An error answered to a client of the OpenAI-compatible surface.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum ApiError {
    /// The request is malformed (bad JSON, missing model, …). 400.
    BadRequest {
        /// What is wrong, for the caller.
        message: String,
        /// A stable machine-readable code.
        code: &'static str,
    },
    /// The request cannot be expressed in the upstream's protocol (a field the
    /// account's protocol has no equivalent for). 400.
    Unsupported {
        /// What cannot be sent, and why.
        message: String,
        /// `unsupported_parameter` or `invalid_request`.
        code: &'static str,
        /// The field at fault.
        param: Option<String>,
    },
    /// Missing or wrong bearer token. 401.
    Unauthorized,
    /// No route serves the requested model. 404 `model_not_found`.
    ModelNotFound {
        /// The model the caller asked for.
        model: String,
    },
    /// No such path. 404.
    NotFound,
    /// No such `/v1` path: 404 naming the supported ones.
    UnknownPath {
        /// `METHOD /path` of every supported endpoint.
        supported: &'static [&'static str],
    },
    /// The path exists but not with this method. 405.
    MethodNotAllowed,
    /// The Host names a host this server does not serve (DNS rebinding). 421.
    Misdirected,
    /// A POST body not declared as `application/json`. 415.
    UnsupportedMediaType,
    /// The body is larger than `[limits] max_request_body_bytes`. 413.
    PayloadTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// The request conflicts with another (idempotency). 409.
    Conflict {
        /// What conflicts.
        message: String,
        /// A stable code.
        code: &'static str,
    },
    /// Rate limited by Rook or by every upstream account. 429 with `Retry-After`.
    RateLimited {
        /// What happened.
        message: String,
        /// When to come back.
        retry_after: Option<Duration>,
        /// A stable code.
        code: &'static str,
    },
    /// An upstream answered with a client error; its status and meaning are kept.
    Upstream {
        /// The upstream's status (4xx).
        status: StatusCode,
        /// The upstream's message, sanitised.
        message: String,
        /// The upstream's error type, when it gave one.
        kind: Option<String>,
        /// The upstream's error code, when it gave one.
        code: Option<String>,
        /// The upstream's `param`, when it gave one.
        param: Option<String>,
        /// Retry hint relayed from the upstream (429 only).
        retry_after: Option<Duration>,
    },
    /// The upstream failed (5xx, transport error, bad credentials on our side). 502.
    BadGateway {
        /// A sanitised description.
        message: String,
        /// A stable code.
        code: &'static str,
    },
    /// The upstream did not answer in time. 504.
    GatewayTimeout {
        /// Which timeout fired.
        message: String,
    },
    /// Rook cannot serve now (no account available, overloaded, shutting down). 503.
    Unavailable {
        /// What happened.
        message: String,
        /// A stable code.
        code: &'static str,
        /// When to come back.
        retry_after: Option<Duration>,
    },
    /// Refused because of the request's client key (401 revoked/disabled/expired,
    /// 403 `model_not_allowed`, 429 `budget_exceeded`); see `app/keys`.
    KeyRefused {
        /// 401, 403 or 429.
        status: StatusCode,
        /// What happened (never the key).
        message: String,
        /// The error `type`.
        kind: &'static str,
        /// The error `code`.
        code: &'static str,
        /// The error `param`.
        param: Option<&'static str>,
        /// When to come back, if ever.
        retry_after: Option<Duration>,
        /// Low-cardinality class for logs and usage events.
        class: &'static str,
    },
    /// A bug or an unexpected internal failure. 500.
    Internal,
}

impl ApiError {
    /// What the client gets for a classified upstream error answer with `status`
    /// (every field sanitised of `secrets` and anything shaped like a key).
    pub(crate) fn from_upstream(
        status: StatusCode,
        c: &Classified,
        secrets: &Scrubber,
    ) -> ApiError {
        let message = c
            .upstream
            .message
            .as_deref()
            .map(|m| sanitize_upstream(m, secrets, MAX_MESSAGE))
            .unwrap_or_else(|| format!("The upstream answered {status}."));
        let field = |f: &Option<String>| {
            f.as_deref()
                .map(|v| sanitize_upstream(v, secrets, MAX_FIELD))
        };
        match c.class {
            ErrorClass::AuthError => ApiError::BadGateway {
                message: "The upstream rejected the provider account's credentials.".into(),
                code: "upstream_auth_error",
            },
            ErrorClass::Timeout => ApiError::GatewayTimeout {
                message: "The upstream timed out.".into(),
            },
            ErrorClass::ServerError | ErrorClass::TransportError | ErrorClass::StreamError => {
                ApiError::BadGateway {
                    message,
                    code: "upstream_error",
                }
            }
            _ => ApiError::Upstream {
                status,
                message,
                kind: field(&c.upstream.kind),
                code: field(&c.upstream.code),
                param: field(&c.upstream.param),
                retry_after: c.hint.filter(|_| c.class == ErrorClass::RateLimited),
            },
        }
    }

    /// The HTTP status of this error.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } | ApiError::Unsupported { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::ModelNotFound { .. } | ApiError::NotFound | ApiError::UnknownPath { .. } => {
                StatusCode::NOT_FOUND
            }
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Misdirected => StatusCode::MISDIRECTED_REQUEST,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Upstream { status, .. } => *status,
            ApiError::BadGateway { .. } => StatusCode::BAD_GATEWAY,
            ApiError::GatewayTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::KeyRefused { status, .. } => *status,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A low-cardinality class for logs and usage events.
    pub(crate) fn class(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } | ApiError::Unsupported { .. } => "bad_request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::ModelNotFound { .. } => "model_not_found",
            ApiError::NotFound | ApiError::UnknownPath { .. } => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Misdirected => "misdirected_request",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::Conflict { .. } => "conflict",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Upstream { .. } => "upstream_client_error",
            ApiError::BadGateway { .. } => "bad_gateway",
            ApiError::GatewayTimeout { .. } => "gateway_timeout",
            ApiError::Unavailable { .. } => "unavailable",
            ApiError::KeyRefused { class, .. } => class,
            ApiError::Internal => "internal",
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::RateLimited { retry_after, .. }
            | ApiError::Upstream { retry_after, .. }
            | ApiError::Unavailable { retry_after, .. }
            | ApiError::KeyRefused { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The JSON body of this error.
    pub(crate) fn body(&self) -> Bytes {
        let (message, kind, code, param): (String, &str, Option<&str>, Option<&str>) = match self {
            ApiError::BadRequest { message, code } => {
                (message.clone(), "invalid_request_error", Some(code), None)
            }
            ApiError::Unsupported {
                message,
                code,
                param,
            } => (
                message.clone(),
                "invalid_request_error",
                Some(code),
                param.as_deref(),
            ),
            ApiError::Unauthorized => (
                "Missing or invalid API key. Send `Authorization: Bearer <token>` (or `x-api-key: <token>`).".into(),
                "authentication_error",
                Some("invalid_api_key"),
                None,
            ),
            ApiError::ModelNotFound { model } => (
                format!(
                    "The model `{}` does not exist or is not routed by this gateway.",
                    clip(model, 200)
                ),
                "invalid_request_error",
                Some("model_not_found"),
                Some("model"),
            ),
            ApiError::NotFound => (
                "Unknown path.".into(),
                "invalid_request_error",
                Some("not_found"),
                None,
            ),
            ApiError::UnknownPath { supported } => (
                format!("Unknown path. Rook serves: {}.", supported.join(", ")),
                "invalid_request_error",
                Some("not_found"),
                None,
            ),
            ApiError::MethodNotAllowed => (
                "Method not allowed for this path.".into(),
                "invalid_request_error",
                Some("method_not_allowed"),
                None,
            ),
            ApiError::Misdirected => (
                MISDIRECTED_MESSAGE.into(),
                "invalid_request_error",
                Some("misdirected_request"),
                None,
            ),
            ApiError::UnsupportedMediaType => (
                UNSUPPORTED_MEDIA_TYPE_MESSAGE.into(),
                "invalid_request_error",
                Some("unsupported_media_type"),
                None,
            ),
            ApiError::PayloadTooLarge { limit } => (
                format!("Request body exceeds the limit of {limit} bytes."),
                "invalid_request_error",
                Some("request_too_large"),
                None,
            ),
            ApiError::Conflict { message, code } => {
                (message.clone(), "invalid_request_error", Some(code), None)
            }
            ApiError::RateLimited { message, code, .. } => {
                (message.clone(), "rate_limit_error", Some(code), None)
            }
            ApiError::Upstream {
                message,
                kind,
                code,
                param,
                ..
            } => (
                message.clone(),
                kind.as_deref().unwrap_or("invalid_request_error"),
                code.as_deref(),
                param.as_deref(),
            ),
            ApiError::BadGateway { message, code } => {
                (message.clone(), "upstream_error", Some(code), None)
            }
            ApiError::GatewayTimeout { message } => (
                message.clone(),
                "upstream_error",
                Some("upstream_timeout"),
                None,
            ),
            ApiError::Unavailable { message, code, .. } => {
                (message.clone(), "service_unavailable", Some(code), None)
            }
            ApiError::KeyRefused {
                message,
                kind,
                code,
                param,
                ..
            } => (message.clone(), *kind, Some(code), *param),
            ApiError::Internal => (
                "Internal error.".into(),
                "server_error",
                Some("internal_error"),
                None,
            ),
        };
        ErrorBody {
            message: &message,
            kind,
            code,
            param,
        }
        .to_bytes()
    }

    /// The complete response for this error.
    ///
    /// `should_retry` sets `x-should-retry` (honoured by the official OpenAI SDKs):
    /// `Some(false)` when Rook already retried or the retry budget is spent.
    pub(crate) fn into_response(self, should_retry: Option<bool>) -> Response<RookBody> {
        self.into_response_in(Dialect::OpenAi, should_retry)
    }

    /// The error body in the client's dialect: OpenAI's envelope, or
    /// Anthropic's `{"type":"error","error":{"type","message"}}` (the type named
    /// after the status, as Anthropic does).
    pub(crate) fn body_in(&self, dialect: Dialect) -> Bytes {
        match dialect {
            Dialect::OpenAi => self.body(),
            Dialect::Anthropic => {
                let openai: serde_json::Value =
                    serde_json::from_slice(&self.body()).unwrap_or_default();
                let message = openai
                    .pointer("/error/message")
                    .and_then(|m| m.as_str())
                    .unwrap_or("Error.");
                let kind =
                    rook_protocol::anthropic::error::error_type_for_status(self.status().as_u16());
                Bytes::from(rook_protocol::anthropic::error::error_body(kind, message))
            }
        }
    }

    /// The complete response in the client's dialect (see [`Self::into_response`]).
    pub(crate) fn into_response_in(
        self,
        dialect: Dialect,
        should_retry: Option<bool>,
    ) -> Response<RookBody> {
        let mut resp = Response::new(RookBody::full(self.body_in(dialect)));
        *resp.status_mut() = self.status();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(d) = self.retry_after() {
            h.insert(header::RETRY_AFTER, retry_after_value(d));
        }
        if self.status() == StatusCode::UNAUTHORIZED {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(v) = should_retry {
            h.insert(
                "x-should-retry",
                HeaderValue::from_static(if v { "true" } else { "false" }),
            );
        }
        resp
    }
}

/// The message of a 421 (the Host check), in every dialect.
pub(crate) const MISDIRECTED_MESSAGE: &str = "This server does not serve the host named in the \
    request's Host header. If the name is yours, add it to [transport] allowed_hosts.";

/// The message of a 415 (a body not declared as JSON), in every dialect.
pub(crate) const UNSUPPORTED_MEDIA_TYPE_MESSAGE: &str =
    "The request body must be JSON, sent with `Content-Type: application/json`.";

/// `Retry-After` in whole seconds, rounded up, at least 1.
pub(crate) fn retry_after_value(d: Duration) -> HeaderValue {
    let secs = d.as_millis().div_ceil(1000).max(1);
    HeaderValue::from(u64::try_from(secs).unwrap_or(u64::MAX))
}

fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Longest upstream `message` relayed (bytes).
const MAX_MESSAGE: usize = 1000;
/// Longest upstream `type`, `code` or `param` relayed (bytes).
const MAX_FIELD: usize = 200;

/// Removes secrets from a string of an upstream error before it reaches a
/// client or a log: every account key of the snapshot (`secrets`, searched
/// before clipping to `max` bytes so a key cut by the clip is still found),
/// and anything shaped like a provider key (`sk-…`, `sk-ant-…`, `AIza…`,
/// `key-…`, and the masked `sk-abc***xyz` forms providers echo).
pub(crate) fn sanitize_upstream(value: &str, secrets: &Scrubber, max: usize) -> String {
    let scrubbed = secrets.scrub_str(value);
    let out = clip(&scrubbed, max);
    let mut result = String::with_capacity(out.len());
    for (i, word) in out.split(' ').enumerate() {
        if i > 0 {
            result.push(' ');
        }
        let bare = word
            .trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_' && c != '*');
        let looks_secret =
            (bare.starts_with("sk-") || bare.starts_with("AIza") || bare.starts_with("key-"))
                && bare.len() >= 8;
        if looks_secret {
            result.push_str(&word.replace(bare, "[redacted]"));
        } else {
            result.push_str(word);
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_openai_shaped() {
        let e = ApiError::ModelNotFound {
            model: "nope".into(),
        };
        let v: serde_json::Value = serde_json::from_slice(&e.body()).unwrap();
        assert_eq!(v["error"]["code"], "model_not_found");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert!(v["error"]["message"].as_str().unwrap().contains("nope"));
        assert_eq!(e.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_value(Duration::from_millis(1)), "1");
        assert_eq!(retry_after_value(Duration::from_millis(2001)), "3");
        assert_eq!(retry_after_value(Duration::ZERO), "1");
    }

    #[test]
    fn sanitize_removes_keys() {
        let none = Scrubber::default();
        let m = sanitize_upstream(
            "Incorrect API key provided: sk-abc***wxyz. See docs.",
            &none,
            MAX_MESSAGE,
        );
        assert!(!m.contains("sk-abc"), "{m}");
        let keys = Scrubber::new(["CANARY-123456", "other-account-key-42"]);
        let m = sanitize_upstream("bad key CANARY-123456 here", &keys, MAX_MESSAGE);
        assert_eq!(m, "bad key [redacted] here");
        // Any account's key, inside a word, and a key the clip would cut.
        let m = sanitize_upstream("x=other-account-key-42;", &keys, MAX_MESSAGE);
        assert_eq!(m, "x=[redacted];");
        let m = sanitize_upstream("0123456789CANARY-123456", &keys, 14);
        assert_eq!(m, "0123456789[red");
        assert_eq!(
            sanitize_upstream("plain words", &none, MAX_MESSAGE),
            "plain words"
        );
    }

    #[test]
    fn every_field_of_an_upstream_error_is_sanitised() {
        let key = "sk-CANARY-0123456789";
        let keys = Scrubber::new([key, "AIzaCANARY-other"]);
        let body = format!(
            r#"{{"error":{{"message":"m {key}","type":"t-{key}","code":"{key}","param":"AIzaCANARY-other","nested":{{"k":"{key}"}}}}}}"#
        );
        for status in [400u16, 404, 422, 429, 500] {
            let c = rook_protocol::classify(status, body.as_bytes(), None);
            let e = ApiError::from_upstream(StatusCode::from_u16(status).unwrap(), &c, &keys);
            for dialect in [Dialect::OpenAi, Dialect::Anthropic] {
                let out = String::from_utf8(e.body_in(dialect).to_vec()).unwrap();
                assert!(!out.contains("CANARY"), "{status} {dialect:?}: {out}");
            }
        }
        let c = rook_protocol::classify(400, body.as_bytes(), None);
        let e = ApiError::from_upstream(StatusCode::BAD_REQUEST, &c, &keys);
        let v: serde_json::Value = serde_json::from_slice(&e.body()).unwrap();
        assert_eq!(v["error"]["code"], "[redacted]");
        assert_eq!(v["error"]["type"], "t-[redacted]");
        assert_eq!(v["error"]["param"], "[redacted]");
        assert_eq!(v["error"]["message"], "m [redacted]");
    }

    #[test]
    fn response_sets_headers() {
        let r = ApiError::Unavailable {
            message: "x".into(),
            code: "no_account_available",
            retry_after: Some(Duration::from_secs(2)),
        }
        .into_response(Some(false));
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["retry-after"], "2");
        assert_eq!(r.headers()["x-should-retry"], "false");
    }
}
