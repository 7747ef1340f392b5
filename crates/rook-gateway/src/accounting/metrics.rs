//! Where the gateway calls the `metrics` facade, with the names and label rules of
//! `rook-observability`. Labels are bounded: accounts are `acct_<id>`, models are
//! routed logical models (requests for unknown models never reach these calls).

use std::time::Duration;

use metrics::{counter, histogram};
use rook_observability::{names, status_class};
use rook_resilience::{CircuitState, LimiterError, Observer};

use rook_protocol::Usage;

/// The labels of an account: its vendor and opaque `acct_<id>` label.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Labels<'a> {
    /// Vendor name.
    pub(crate) vendor: &'static str,
    /// `acct_<id>`.
    pub(crate) account: &'a str,
}

/// Counts an answered HTTP request.
pub(crate) fn record_http(
    surface: &'static str,
    route: &'static str,
    status: u16,
    elapsed: Duration,
) {
    counter!(names::HTTP_REQUESTS_TOTAL, "surface" => surface, "route" => route, "status_class" => status_class(status)).increment(1);
    histogram!(names::HTTP_REQUEST_DURATION_SECONDS, "surface" => surface, "route" => route)
        .record(elapsed.as_secs_f64());
}

/// Counts one upstream attempt.
pub(crate) fn upstream(
    acct: Labels<'_>,
    model: &str,
    endpoint: &'static str,
    outcome: &'static str,
    elapsed: Duration,
    ttfb: Option<Duration>,
) {
    let Labels { vendor, account } = acct;
    counter!(names::UPSTREAM_REQUESTS_TOTAL, "vendor" => vendor, "account" => account.to_string(), "model" => model.to_string(), "endpoint" => endpoint, "outcome" => outcome).increment(1);
    histogram!(names::UPSTREAM_REQUEST_DURATION_SECONDS, "vendor" => vendor, "account" => account.to_string(), "model" => model.to_string())
        .record(elapsed.as_secs_f64());
    if let Some(t) = ttfb {
        histogram!(names::UPSTREAM_TIME_TO_FIRST_BYTE_SECONDS, "vendor" => vendor, "account" => account.to_string(), "model" => model.to_string())
            .record(t.as_secs_f64());
    }
}

/// Counts a stream that failed after its first byte.
pub(crate) fn upstream_stream_error(
    vendor: &'static str,
    label: &str,
    model: &str,
    endpoint: &'static str,
) {
    counter!(names::UPSTREAM_REQUESTS_TOTAL, "vendor" => vendor, "account" => label.to_string(), "model" => model.to_string(), "endpoint" => endpoint, "outcome" => "stream_error").increment(1);
}

/// Counts a retry decision or terminal retry outcome.
pub(crate) fn retry_outcome(acct: Option<Labels<'_>>, model: &str, outcome: &'static str) {
    let (vendor, account) = match acct {
        Some(a) => (a.vendor, a.account.to_string()),
        None => ("none", "none".to_string()),
    };
    counter!(names::UPSTREAM_RETRY_OUTCOMES_TOTAL, "vendor" => vendor, "account" => account, "model" => model.to_string(), "outcome" => outcome).increment(1);
}

/// Counts streamed events that were not JSON (relayed all the same).
pub(crate) fn invalid_stream_events(vendor: &'static str, label: &str, n: u64) {
    counter!(names::UPSTREAM_INVALID_STREAM_EVENTS_TOTAL, "vendor" => vendor, "account" => label.to_string()).increment(n);
}

/// Counts a buffered answer refused for its size (`[limits]
/// max_upstream_response_bytes`); `by` 0 registers the series.
pub(crate) fn response_too_large_by(vendor: &'static str, label: &str, by: u64) {
    counter!(names::UPSTREAM_RESPONSE_TOO_LARGE_TOTAL, "vendor" => vendor, "account" => label.to_string()).increment(by);
}

/// Counts a buffered answer refused for its size.
pub(crate) fn response_too_large(vendor: &'static str, label: &str) {
    response_too_large_by(vendor, label, 1);
}

/// Counts a buffered answer abandoned because the buffer budget was full.
pub(crate) fn buffer_budget_exhausted() {
    counter!(names::BUFFERED_RESPONSE_BUDGET_EXHAUSTED_TOTAL).increment(1);
}

/// Counts a request panic-routed to a cooling account of `route`.
pub(crate) fn panic_routing(route: &str) {
    counter!(names::PANIC_ROUTING_TOTAL, "route" => route.to_string()).increment(1);
}

/// Records time spent waiting for a concurrency permit.
pub(crate) fn permit_wait(d: Duration) {
    histogram!(names::UPSTREAM_PERMIT_WAIT_SECONDS).record(d.as_secs_f64());
}

/// Counts tokens of an answer.
pub(crate) fn tokens(
    vendor: &'static str,
    label: &str,
    model: &str,
    endpoint: &'static str,
    usage: Option<Usage>,
) {
    let Some(u) = usage else { return };
    counter!(names::TOKENS_TOTAL, "vendor" => vendor, "account" => label.to_string(), "model" => model.to_string(), "endpoint" => endpoint, "kind" => "prompt").increment(u.prompt_tokens);
    counter!(names::TOKENS_TOTAL, "vendor" => vendor, "account" => label.to_string(), "model" => model.to_string(), "endpoint" => endpoint, "kind" => "completion").increment(u.completion_tokens);
}

/// Counts a usage event dropped before the registry.
pub(crate) fn usage_dropped(reason: &'static str, n: u64) {
    counter!(names::USAGE_EVENTS_DROPPED_TOTAL, "reason" => reason).increment(n);
}

/// Reports resilience events as metrics and logs.
#[derive(Debug, Default)]
pub(crate) struct MetricsObserver;

impl Observer for MetricsObserver {
    fn key_state_changed(&self, key: &dyn std::fmt::Display, from: CircuitState, to: CircuitState) {
        match to {
            CircuitState::Open => {
                tracing::warn!(account = %format_args!("acct_{key}"), from = from.as_str(), "account cooling down")
            }
            CircuitState::Closed => {
                tracing::info!(account = %format_args!("acct_{key}"), from = from.as_str(), "account recovered")
            }
            CircuitState::HalfOpen => {
                tracing::info!(account = %format_args!("acct_{key}"), "account cooldown over: probing")
            }
            _ => {}
        }
    }

    fn key_open_suppressed(&self, key: &dyn std::fmt::Display) {
        tracing::warn!(account = %format_args!("acct_{key}"), "account kept in rotation: too many accounts are already cooling");
    }

    fn budget_exhausted(&self) {
        counter!(names::RETRY_BUDGET_EXHAUSTED_TOTAL).increment(1);
    }

    fn limiter_rejected(&self, error: &LimiterError) {
        tracing::warn!(
            reason = error.as_str(),
            "upstream concurrency permit refused"
        );
    }
}
