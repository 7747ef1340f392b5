//! What the client gets when attempts fail: a failed attempt's error, the answer
//! when every account is cooling, and the answer after giving up; and the labels
//! of the retry decisions (metrics, traces).

use std::time::{Duration, Instant};

use http::StatusCode;
use rook_protocol::{Classified, ErrorClass, HealthEffect};
use rook_resilience::{Decision, GiveUpReason};
use rook_routing::AccountIdx;

use super::scrub::Scrubber;
use super::snapshot::Snapshot;
use super::Proxy;
use crate::error::ApiError;

/// A failed attempt: what it means, and what the client gets if it is the last.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) classified: Classified,
    pub(crate) error: ApiError,
    /// The upstream's status, when it answered.
    pub(crate) status: Option<u16>,
}

impl Failure {
    /// How it failed: the same request failing the same way twice is the
    /// request's own doing (a poison request), not the accounts'.
    pub(crate) fn signature(&self) -> (ErrorClass, Option<u16>) {
        (self.classified.class, self.status)
    }
}

impl Failure {
    /// An upstream error answer, classified (every account key of `secrets`
    /// is kept out of the relayed fields).
    pub(crate) fn upstream(
        status: StatusCode,
        classified: Classified,
        secrets: &Scrubber,
    ) -> Failure {
        let error = ApiError::from_upstream(status, &classified, secrets);
        Failure {
            classified,
            error,
            status: Some(status.as_u16()),
        }
    }

    /// The connection failed or closed early.
    pub(crate) fn transport() -> Failure {
        Failure {
            classified: Classified::local(ErrorClass::TransportError),
            error: ApiError::BadGateway {
                message: "The upstream could not be reached or closed the connection.".into(),
                code: "upstream_unreachable",
            },
            status: None,
        }
    }

    /// The egress policy refused the account's upstream address at connect
    /// time: a transport failure of the account (it cools like an unreachable
    /// one; another account may serve the request).
    pub(crate) fn egress_denied() -> Failure {
        Failure {
            classified: Classified::local(ErrorClass::TransportError),
            error: ApiError::BadGateway {
                message:
                    "The account's upstream address is not allowed by the gateway's egress policy."
                        .into(),
                code: "egress_denied",
            },
            status: None,
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
            status: None,
        }
    }

    /// The upstream answered 2xx with a body Rook could not read (truncated,
    /// not JSON, not the protocol's shape).
    pub(crate) fn invalid_answer() -> Failure {
        Failure {
            classified: Classified::local(ErrorClass::InvalidResponse),
            error: ApiError::BadGateway {
                message: "The upstream's answer could not be read (not JSON, cut off, or not an answer of its kind).".into(),
                code: "upstream_invalid_response",
            },
            status: None,
        }
    }

    /// A buffered answer larger than `[limits] max_upstream_response_bytes`:
    /// not retried (another account would send as much for the same request)
    /// and not held against the account (it answered).
    pub(crate) fn too_large(limit: usize) -> Failure {
        Failure {
            classified: Classified {
                retryable: false,
                health_effect: HealthEffect::Success,
                ..Classified::local(ErrorClass::InvalidResponse)
            },
            error: ApiError::BadGateway {
                message: format!(
                    "The upstream's answer is larger than this gateway accepts ({limit} bytes)."
                ),
                code: "upstream_response_too_large",
            },
            status: None,
        }
    }

    /// No room in the buffer budget shared by every buffered answer: Rook is
    /// overloaded (503, come back soon); not retried, not held against the
    /// account.
    pub(crate) fn buffer_budget() -> Failure {
        Failure {
            classified: Classified {
                retryable: false,
                health_effect: HealthEffect::Success,
                ..Classified::local(ErrorClass::InvalidResponse)
            },
            error: ApiError::Unavailable {
                message: "Rook is holding as many buffered answers as its memory budget allows; retry shortly.".into(),
                code: "overloaded",
                retry_after: Some(Duration::from_secs(1)),
            },
            status: None,
        }
    }

    /// A timeout fired; `message` says which.
    pub(crate) fn timeout(message: &str) -> Failure {
        Failure {
            classified: Classified::local(ErrorClass::Timeout),
            error: ApiError::GatewayTimeout {
                message: message.into(),
            },
            status: None,
        }
    }
}

/// The error after giving up on `class`: an upstream 5xx is not relayed as
/// such, and a gateway-made 502/504 names the last failure's class.
pub(crate) fn give_up_error(err: ApiError, class: ErrorClass) -> ApiError {
    match err {
        ApiError::Upstream { status, .. } if status.is_server_error() => ApiError::BadGateway {
            message: format!("The upstream failed (last failure: {class})."),
            code: "upstream_error",
        },
        ApiError::BadGateway { message, code } => ApiError::BadGateway {
            message: with_class(message, class),
            code,
        },
        ApiError::GatewayTimeout { message } => ApiError::GatewayTimeout {
            message: with_class(message, class),
        },
        other => other,
    }
}

fn with_class(message: String, class: ErrorClass) -> String {
    let base = message.trim_end_matches('.');
    format!("{base} (last failure: {class}).")
}

/// A client retry may help when an account comes back this soon.
const SHORT_COMEBACK: Duration = Duration::from_secs(60);

/// The answer when nothing could be tried: every account of the route is
/// cooling or at its own rate limit. 429 when every skipped account is
/// rate-limited, else 503; `Retry-After` is the earliest time one comes back,
/// and `x-should-retry` says whether that is soon enough for a client retry.
pub(crate) fn nothing_tried(
    proxy: &Proxy,
    snap: &Snapshot,
    unavailable: &[AccountIdx],
    limit_wait: Option<Duration>,
) -> (ApiError, Option<bool>) {
    let earliest = earliest_comeback(proxy, snap, unavailable, limit_wait);
    let should_retry = Some(earliest <= SHORT_COMEBACK);
    if unavailable.is_empty() {
        if let Some(wait) = limit_wait {
            let err = ApiError::RateLimited {
                message: "Every account of this route is at its configured rate limit.".into(),
                retry_after: Some(wait),
                code: "account_rate_limit_exceeded",
            };
            return (err, should_retry);
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
    let err = if all_rate_limited {
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
    };
    (err, should_retry)
}

/// The answer when this request's attempts failed and no account is left to
/// try: the last failure's own answer (502, 504, the upstream's 4xx), naming
/// its class; a relayed 429 gets the earliest comeback as `Retry-After`.
pub(crate) fn after_failures(
    proxy: &Proxy,
    snap: &Snapshot,
    unavailable: &[AccountIdx],
    last: Failure,
    limit_wait: Option<Duration>,
) -> ApiError {
    let class = last.classified.class;
    match last.error {
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
            retry_after: Some(earliest_comeback(proxy, snap, unavailable, limit_wait)),
        },
        other => give_up_error(other, class),
    }
}

/// How long until an account of `unavailable` (or a rate limit) lets a request
/// through; one second when nothing says.
fn earliest_comeback(
    proxy: &Proxy,
    snap: &Snapshot,
    unavailable: &[AccountIdx],
    limit_wait: Option<Duration>,
) -> Duration {
    let now = Instant::now();
    let cooling = unavailable
        .iter()
        .filter_map(|i| snap.account(*i))
        .filter_map(|a| proxy.health.available_at(&a.id))
        .map(|t| t.saturating_duration_since(now))
        .min();
    match (cooling, limit_wait) {
        (Some(c), Some(l)) => c.min(l),
        (c, l) => c.or(l).unwrap_or(Duration::from_secs(1)),
    }
    .max(Duration::from_millis(1))
}

/// The `rook.retry.decision` of a failed attempt: the retry outcome label.
pub(crate) fn decision_label(decision: &Decision) -> &'static str {
    match decision {
        Decision::RetryAfter(_) => "retry_scheduled",
        Decision::GiveUp(reason) => give_up_label(*reason),
        _ => "none",
    }
}

/// The metric label of a give-up.
pub(crate) fn give_up_label(reason: GiveUpReason) -> &'static str {
    match reason {
        GiveUpReason::NotRetryable => "not_retryable",
        GiveUpReason::BudgetExhausted => "budget_exhausted",
        GiveUpReason::DeadlineExceeded => "deadline_exceeded",
        _ => "retry_exhausted",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_are_not_relayed_after_giving_up() {
        let e = give_up_error(
            ApiError::Upstream {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: "m".into(),
                kind: None,
                code: None,
                param: None,
                retry_after: None,
            },
            ErrorClass::ServerError,
        );
        assert_eq!(e.status(), StatusCode::BAD_GATEWAY);
        assert!(String::from_utf8_lossy(&e.body()).contains("last failure: server_error"));
        let e = give_up_error(
            ApiError::Upstream {
                status: StatusCode::BAD_REQUEST,
                message: "m".into(),
                kind: None,
                code: None,
                param: None,
                retry_after: None,
            },
            ErrorClass::ClientError,
        );
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        let e = give_up_error(
            Failure::timeout("The upstream did not answer in time.").error,
            ErrorClass::Timeout,
        );
        assert_eq!(e.status(), StatusCode::GATEWAY_TIMEOUT);
        assert!(String::from_utf8_lossy(&e.body())
            .contains("The upstream did not answer in time (last failure: timeout)."));
    }

    #[test]
    fn the_failure_classes_keep_their_answers() {
        let secret = &Scrubber::new(["sk-abcdefxyz"]);
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
            &Scrubber::default(),
        );
        assert_eq!(f.error.status(), 429);
        assert_eq!(f.classified.hint, Some(Duration::from_secs(2)));
        for code in [400u16, 404, 413, 422] {
            let status = StatusCode::from_u16(code).unwrap();
            let f = Failure::upstream(
                status,
                rook_protocol::classify(code, br#"{"error":{"message":"bad param","type":"invalid_request_error","param":"messages","code":null}}"#, None),
                &Scrubber::default(),
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
                &Scrubber::default(),
            );
            assert_eq!(f.error.status(), 502, "{code}");
        }
        assert_eq!(Failure::transport().error.status(), 502);
        assert_eq!(Failure::timeout("t").error.status(), 504);
    }
}
