//! What the client gets when attempts fail: a failed attempt's error, the answer
//! when every account is cooling, and the answer after giving up.

use std::time::{Duration, Instant};

use http::StatusCode;
use rook_protocol::{Classified, ErrorClass};
use rook_routing::AccountIdx;

use super::snapshot::Snapshot;
use super::Proxy;
use crate::error::ApiError;

/// A failed attempt: what it means, and what the client gets if it is the last.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) classified: Classified,
    pub(crate) error: ApiError,
}

impl Failure {
    /// An upstream error answer, classified (the account's key is kept out of
    /// the relayed message).
    pub(crate) fn upstream(
        status: StatusCode,
        classified: Classified,
        secret: Option<&str>,
    ) -> Failure {
        let error = ApiError::from_upstream(status, &classified, secret);
        Failure { classified, error }
    }

    /// The connection failed or closed early.
    pub(crate) fn transport() -> Failure {
        Failure {
            classified: Classified::local(ErrorClass::TransportError),
            error: ApiError::BadGateway {
                message: "The upstream could not be reached or closed the connection.".into(),
                code: "upstream_unreachable",
            },
        }
    }

    /// The upstream request could not be built (a bad account URL or header).
    pub(crate) fn unbuildable() -> Failure {
        Failure {
            classified: Classified::local(ErrorClass::TransportError),
            error: ApiError::BadGateway {
                message: "The upstream request could not be built.".into(),
                code: "upstream_error",
            },
        }
    }

    /// The upstream answered 2xx with a body Rook could not read (truncated,
    /// not JSON, not the protocol's shape).
    pub(crate) fn invalid_answer() -> Failure {
        Failure {
            classified: Classified::local(ErrorClass::ServerError),
            error: ApiError::BadGateway {
                message: "The upstream's answer could not be read.".into(),
                code: "upstream_invalid_answer",
            },
        }
    }

    /// A timeout fired; `message` says which.
    pub(crate) fn timeout(message: &str) -> Failure {
        Failure {
            classified: Classified::local(ErrorClass::Timeout),
            error: ApiError::GatewayTimeout {
                message: message.into(),
            },
        }
    }
}

/// The error after giving up: an upstream 5xx is not relayed as such.
pub(crate) fn give_up_error(err: ApiError) -> ApiError {
    match err {
        ApiError::Upstream { status, .. } if status.is_server_error() => ApiError::BadGateway {
            message: "The upstream failed.".into(),
            code: "upstream_error",
        },
        other => other,
    }
}

/// The answer when no account can be tried: 429 if every skipped account is
/// rate-limited, else 503; `Retry-After` is the earliest time one comes back.
pub(crate) fn all_cooling(
    proxy: &Proxy,
    snap: &Snapshot,
    unavailable: &[AccountIdx],
    last: Option<Failure>,
    limit_wait: Option<Duration>,
) -> ApiError {
    let now = Instant::now();
    let cooling = unavailable
        .iter()
        .filter_map(|i| snap.account(*i))
        .filter_map(|a| proxy.health.available_at(&a.id))
        .map(|t| t.saturating_duration_since(now))
        .min();
    let earliest = match (cooling, limit_wait) {
        (Some(c), Some(l)) => c.min(l),
        (c, l) => c.or(l).unwrap_or(Duration::from_secs(1)),
    }
    .max(Duration::from_millis(1));
    if last.is_none() && unavailable.is_empty() {
        if let Some(wait) = limit_wait {
            return ApiError::RateLimited {
                message: "Every account of this route is at its configured rate limit.".into(),
                retry_after: Some(wait),
                code: "account_rate_limit_exceeded",
            };
        }
    }
    let all_rate_limited = !unavailable.is_empty()
        && unavailable
            .iter()
            .filter_map(|i| snap.account(*i))
            .all(|a| {
                proxy.health.account(&a.id).and_then(|h| h.last_error_class)
                    == Some(ErrorClass::RateLimited)
            });
    if let Some(f) = last {
        // Keep the last upstream answer's meaning, with the earliest comeback.
        let class = f.classified.class;
        return match f.error {
            ApiError::Upstream {
                status,
                message,
                kind,
                code,
                param,
                ..
            } if status == StatusCode::TOO_MANY_REQUESTS => ApiError::Upstream {
                status,
                message,
                kind,
                code,
                param,
                retry_after: Some(earliest),
            },
            ApiError::Upstream { status, .. } if status.is_server_error() => {
                failed_or_cooling(class, earliest)
            }
            ApiError::BadGateway { .. } | ApiError::GatewayTimeout { .. } => {
                failed_or_cooling(class, earliest)
            }
            other => other,
        };
    }
    if all_rate_limited {
        ApiError::RateLimited {
            message: "Every account of this route is rate-limited upstream.".into(),
            retry_after: Some(earliest),
            code: "all_accounts_rate_limited",
        }
    } else {
        ApiError::Unavailable {
            message: "Every account of this route is cooling down.".into(),
            code: "no_account_available",
            retry_after: Some(earliest),
        }
    }
}

/// Every account failed in this request or is cooling down; the message names the
/// last failure's class so the cause is not lost.
fn failed_or_cooling(class: ErrorClass, earliest: Duration) -> ApiError {
    ApiError::Unavailable {
        message: format!(
            "Every account of this route failed or is cooling down (last failure: {class})."
        ),
        code: "no_account_available",
        retry_after: Some(earliest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_are_not_relayed_after_giving_up() {
        let e = give_up_error(ApiError::Upstream {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: "m".into(),
            kind: None,
            code: None,
            param: None,
            retry_after: None,
        });
        assert_eq!(e.status(), StatusCode::BAD_GATEWAY);
        let e = give_up_error(ApiError::Upstream {
            status: StatusCode::BAD_REQUEST,
            message: "m".into(),
            kind: None,
            code: None,
            param: None,
            retry_after: None,
        });
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn the_failure_classes_keep_their_answers() {
        let secret = Some("sk-abcdefxyz");
        let f = Failure::upstream(
            StatusCode::UNAUTHORIZED,
            rook_protocol::classify(
                401,
                br#"{"error":{"message":"Incorrect API key provided: sk-abc***xyz"}}"#,
                None,
            ),
            secret,
        );
        assert_eq!(f.error.status(), 502);
        assert!(!String::from_utf8_lossy(&f.error.body()).contains("sk-"));
        let f = Failure::upstream(
            StatusCode::TOO_MANY_REQUESTS,
            rook_protocol::classify(
                429,
                br#"{"error":{"message":"slow down"}}"#,
                Some(Duration::from_secs(2)),
            ),
            None,
        );
        assert_eq!(f.error.status(), 429);
        assert_eq!(f.classified.hint, Some(Duration::from_secs(2)));
        for code in [400u16, 404, 413, 422] {
            let status = StatusCode::from_u16(code).unwrap();
            let f = Failure::upstream(
                status,
                rook_protocol::classify(code, br#"{"error":{"message":"bad param","type":"invalid_request_error","param":"messages","code":null}}"#, None),
                None,
            );
            assert_eq!(f.error.status(), status);
            let body: serde_json::Value = serde_json::from_slice(&f.error.body()).unwrap();
            assert_eq!(body["error"]["message"], "bad param");
            assert_eq!(body["error"]["param"], "messages");
        }
        for code in [500u16, 502, 503, 504, 529] {
            let f = Failure::upstream(
                StatusCode::from_u16(code).unwrap(),
                rook_protocol::classify(code, b"oops", None),
                None,
            );
            assert_eq!(f.error.status(), 502, "{code}");
        }
        assert_eq!(Failure::transport().error.status(), 502);
        assert_eq!(Failure::timeout("t").error.status(), 504);
    }
}
