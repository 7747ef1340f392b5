//! Error classification: what an upstream's error answer means for the request
//! (retry on another account?) and for the account (healthy, failing, out).
//!
//! One [`ErrorClass`] names every kind of upstream failure; its [`as_str`]
//! labels are the ones operators see in metrics, logs, usage events and
//! `/api/health/accounts`. [`classify`] is pure: the status, the body, and the
//! retry hint the caller read from the response headers (HTTP-level
//! `Retry-After`, `retry-after-ms`, `x-ratelimit-reset-*`, parsed by
//! `rook-resilience`), in; a [`Classified`] out.
//!
//! | upstream says | class | retryable | account |
//! |---|---|---|---|
//! | 429 `insufficient_quota` | `quota_exhausted` | no | trip (long cooldown) |
//! | 429 | `rate_limited` | yes | failure, cooled for the hint |
//! | 401, 403 | `auth_error` | yes (another account) | trip |
//! | 408 | `timeout` | yes | failure |
//! | 501, 505 | `server_error` | no | healthy (the request is at fault) |
//! | 529 and other 5xx | `server_error` | yes | failure (503 cooled for its hint) |
//! | other 4xx (and 3xx) | `client_error` | no | healthy |
//!
//! [`as_str`]: ErrorClass::as_str

use std::fmt;
use std::time::Duration;

use crate::openai::UpstreamError;

/// The kind of an upstream failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// 429 without a quota problem.
    RateLimited,
    /// 429 `insufficient_quota`: billing, not load.
    QuotaExhausted,
    /// 401/403: the account's credentials were refused.
    AuthError,
    /// 5xx (529 included).
    ServerError,
    /// No answer (or 408) in time.
    Timeout,
    /// The connection failed or closed early.
    TransportError,
    /// A stream broke after its first byte.
    StreamError,
    /// A 2xx whose body is not an answer (not JSON, cut off, not the
    /// protocol's shape).
    InvalidResponse,
    /// The caller's own mistake (400, 404, 413, 422…): passed through.
    ClientError,
}

impl ErrorClass {
    /// Every class, in a stable order.
    pub const ALL: [ErrorClass; 9] = [
        ErrorClass::RateLimited,
        ErrorClass::QuotaExhausted,
        ErrorClass::AuthError,
        ErrorClass::ServerError,
        ErrorClass::Timeout,
        ErrorClass::TransportError,
        ErrorClass::StreamError,
        ErrorClass::InvalidResponse,
        ErrorClass::ClientError,
    ];

    /// The stable label (metrics, logs, usage events, health).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::RateLimited => "rate_limited",
            ErrorClass::QuotaExhausted => "quota_exhausted",
            ErrorClass::AuthError => "auth_error",
            ErrorClass::ServerError => "server_error",
            ErrorClass::Timeout => "timeout",
            ErrorClass::TransportError => "transport_error",
            ErrorClass::StreamError => "stream_error",
            ErrorClass::InvalidResponse => "invalid_response",
            ErrorClass::ClientError => "client_error",
        }
    }

    /// The class with this label.
    pub fn from_name(name: &str) -> Option<ErrorClass> {
        ErrorClass::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an attempt's outcome does to the account's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthEffect {
    /// Reachable and answering (the caller's own errors included).
    Success,
    /// A failure counting toward the threshold; a hint cools the account that long.
    Failure(Option<Duration>),
    /// Out of rotation for the long cooldown (bad credentials, no quota).
    Trip,
}

/// An upstream error answer, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    /// The kind of failure.
    pub class: ErrorClass,
    /// Whether another attempt (on another account) may succeed.
    pub retryable: bool,
    /// How long the upstream asked to wait, where it matters (429, 5xx).
    pub hint: Option<Duration>,
    /// The effect on the account's health.
    pub health_effect: HealthEffect,
    /// What the upstream said, for relaying.
    pub upstream: UpstreamError,
}

impl Classified {
    /// A failure Rook saw itself (no answer, a broken connection, a broken stream).
    pub fn local(class: ErrorClass) -> Classified {
        Classified {
            class,
            retryable: true,
            hint: None,
            health_effect: HealthEffect::Failure(None),
            upstream: UpstreamError::default(),
        }
    }
}

/// Classifies an upstream's error answer (any non-2xx status). See the module docs.
///
/// ```
/// use std::time::Duration;
/// use rook_protocol::classify::{classify, ErrorClass, HealthEffect};
/// let c = classify(429, br#"{"error":{"message":"slow down"}}"#, Some(Duration::from_secs(2)));
/// assert_eq!(c.class, ErrorClass::RateLimited);
/// assert!(c.retryable);
/// assert_eq!(c.health_effect, HealthEffect::Failure(Some(Duration::from_secs(2))));
/// ```
pub fn classify(status: u16, body: &[u8], hint: Option<Duration>) -> Classified {
    classify_parsed(status, UpstreamError::parse(body), hint)
}

/// Like [`classify`], for an error body already read by its protocol's parser
/// (`anthropic::error::parse_error`, `gemini::error::parse_error`).
pub fn classify_parsed(status: u16, upstream: UpstreamError, hint: Option<Duration>) -> Classified {
    let (class, retryable, hint, health_effect) = match status {
        429 if upstream.is_insufficient_quota() => {
            (ErrorClass::QuotaExhausted, false, None, HealthEffect::Trip)
        }
        429 => (
            ErrorClass::RateLimited,
            true,
            hint,
            HealthEffect::Failure(hint),
        ),
        401 | 403 => (ErrorClass::AuthError, true, None, HealthEffect::Trip),
        408 => (ErrorClass::Timeout, true, None, HealthEffect::Failure(None)),
        501 | 505 => (ErrorClass::ServerError, false, None, HealthEffect::Success),
        500..=599 => (
            ErrorClass::ServerError,
            true,
            hint,
            // Only a 503's hint cools the account for that long.
            HealthEffect::Failure(hint.filter(|_| status == 503)),
        ),
        _ => (ErrorClass::ClientError, false, None, HealthEffect::Success),
    };
    Classified {
        class,
        retryable,
        hint,
        health_effect,
        upstream,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S2: Option<Duration> = Some(Duration::from_secs(2));

    #[test]
    fn every_status_family() {
        use ErrorClass::*;
        use HealthEffect::{Failure, Success, Trip};
        // (status, body, hint in, class, retryable, hint out, health)
        let plain: &[u8] = br#"{"error":{"message":"m"}}"#;
        let quota: &[u8] =
            br#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#;
        let quota_by_type: &[u8] = br#"{"error":{"type":"insufficient_quota"}}"#;
        type Row<'a> = (
            u16,
            &'a [u8],
            Option<Duration>,
            ErrorClass,
            bool,
            Option<Duration>,
            HealthEffect,
        );
        let table: &[Row<'_>] = &[
            (429, plain, S2, RateLimited, true, S2, Failure(S2)),
            (429, plain, None, RateLimited, true, None, Failure(None)),
            (429, b"", S2, RateLimited, true, S2, Failure(S2)),
            (429, quota, S2, QuotaExhausted, false, None, Trip),
            (429, quota_by_type, None, QuotaExhausted, false, None, Trip),
            (401, plain, None, AuthError, true, None, Trip),
            (403, plain, S2, AuthError, true, None, Trip),
            (408, plain, S2, Timeout, true, None, Failure(None)),
            (500, plain, None, ServerError, true, None, Failure(None)),
            (500, plain, S2, ServerError, true, S2, Failure(None)),
            (502, b"<html>", None, ServerError, true, None, Failure(None)),
            (503, plain, S2, ServerError, true, S2, Failure(S2)),
            (503, plain, None, ServerError, true, None, Failure(None)),
            (504, plain, None, ServerError, true, None, Failure(None)),
            (
                529,
                br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
                None,
                ServerError,
                true,
                None,
                Failure(None),
            ),
            (501, plain, None, ServerError, false, None, Success),
            (505, plain, None, ServerError, false, None, Success),
            (400, plain, None, ClientError, false, None, Success),
            (404, plain, S2, ClientError, false, None, Success),
            (409, plain, None, ClientError, false, None, Success),
            (413, plain, None, ClientError, false, None, Success),
            (422, plain, None, ClientError, false, None, Success),
            (302, b"", None, ClientError, false, None, Success),
        ];
        for (status, body, hint, class, retryable, hint_out, health) in table {
            let c = classify(*status, body, *hint);
            assert_eq!(
                (c.class, c.retryable, c.hint, c.health_effect),
                (*class, *retryable, *hint_out, *health),
                "status {status} hint {hint:?}"
            );
        }
    }

    #[test]
    fn the_upstream_error_is_kept_for_relaying() {
        let c = classify(
            400,
            br#"{"error":{"message":"bad param","type":"invalid_request_error","param":"messages","code":null}}"#,
            None,
        );
        assert_eq!(c.upstream.message.as_deref(), Some("bad param"));
        assert_eq!(c.upstream.param.as_deref(), Some("messages"));
        assert_eq!(c.upstream.code, None);
    }

    #[test]
    fn labels_round_trip() {
        for c in ErrorClass::ALL {
            assert_eq!(ErrorClass::from_name(c.as_str()), Some(c));
        }
        assert_eq!(ErrorClass::from_name("nope"), None);
        assert_eq!(ErrorClass::ServerError.to_string(), "server_error");
    }

    #[test]
    fn local_failures_are_retryable_failures() {
        let c = Classified::local(ErrorClass::TransportError);
        assert!(c.retryable);
        assert_eq!(c.health_effect, HealthEffect::Failure(None));
    }
}
