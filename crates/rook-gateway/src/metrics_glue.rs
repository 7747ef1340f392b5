//! Where the gateway calls the `metrics` facade, with the names and label rules of
//! `rook-observability`. Labels are bounded: accounts are `acct_<id>`, models are
//! routed logical models (requests for unknown models never reach these calls).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use metrics::{counter, gauge, histogram};
use rook_observability::{names, status_class};
use rook_resilience::{CircuitState, LimiterError, Observer};

use crate::accounts::{AccountRuntime, AccountShared};
use crate::usage::Usage;

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
    acct: &AccountRuntime,
    model: &str,
    outcome: &'static str,
    elapsed: Duration,
    ttfb: Option<Duration>,
) {
    let vendor = acct.vendor.as_str();
    counter!(names::UPSTREAM_REQUESTS_TOTAL, "vendor" => vendor, "account" => acct.label.clone(), "model" => model.to_string(), "outcome" => outcome).increment(1);
    histogram!(names::UPSTREAM_REQUEST_DURATION_SECONDS, "vendor" => vendor, "account" => acct.label.clone(), "model" => model.to_string())
        .record(elapsed.as_secs_f64());
    if let Some(t) = ttfb {
        histogram!(names::UPSTREAM_TIME_TO_FIRST_BYTE_SECONDS, "vendor" => vendor, "account" => acct.label.clone(), "model" => model.to_string())
            .record(t.as_secs_f64());
    }
}

/// Counts a stream that failed after its first byte.
pub(crate) fn upstream_stream_error(vendor: &'static str, label: &str, model: &str) {
    counter!(names::UPSTREAM_REQUESTS_TOTAL, "vendor" => vendor, "account" => label.to_string(), "model" => model.to_string(), "outcome" => "stream_error").increment(1);
}

/// Counts a retry decision or terminal retry outcome.
pub(crate) fn retry_outcome(acct: Option<&AccountRuntime>, model: &str, outcome: &'static str) {
    let (vendor, account) = match acct {
        Some(a) => (a.vendor.as_str(), a.label.clone()),
        None => ("none", "none".to_string()),
    };
    counter!(names::UPSTREAM_RETRY_OUTCOMES_TOTAL, "vendor" => vendor, "account" => account, "model" => model.to_string(), "outcome" => outcome).increment(1);
}

/// Records time spent waiting for a concurrency permit.
pub(crate) fn permit_wait(d: Duration) {
    histogram!(names::UPSTREAM_PERMIT_WAIT_SECONDS).record(d.as_secs_f64());
}

/// Counts tokens of an answer.
pub(crate) fn tokens(acct: &AccountRuntime, model: &str, usage: Option<Usage>) {
    tokens_raw(acct.vendor.as_str(), &acct.label, model, usage);
}

/// Counts tokens of an answer, by labels.
pub(crate) fn tokens_raw(vendor: &'static str, label: &str, model: &str, usage: Option<Usage>) {
    let Some(u) = usage else { return };
    counter!(names::TOKENS_TOTAL, "vendor" => vendor, "account" => label.to_string(), "model" => model.to_string(), "kind" => "prompt").increment(u.prompt_tokens);
    counter!(names::TOKENS_TOTAL, "vendor" => vendor, "account" => label.to_string(), "model" => model.to_string(), "kind" => "completion").increment(u.completion_tokens);
}

/// Counts a usage event dropped before the registry.
pub(crate) fn usage_dropped(reason: &'static str, n: u64) {
    counter!(names::USAGE_EVENTS_DROPPED_TOTAL, "reason" => reason).increment(n);
}

/// Marks an upstream request in flight (global gauge and the account's count)
/// until dropped.
pub(crate) struct InFlight {
    shared: Arc<AccountShared>,
}

impl InFlight {
    pub(crate) fn new(shared: &Arc<AccountShared>) -> Self {
        shared.in_flight.fetch_add(1, Ordering::Relaxed);
        gauge!(names::UPSTREAM_IN_FLIGHT).increment(1.0);
        InFlight {
            shared: shared.clone(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.shared.in_flight.fetch_sub(1, Ordering::Relaxed);
        gauge!(names::UPSTREAM_IN_FLIGHT).decrement(1.0);
    }
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

/// Sets the per-account gauges from the health registry (called at scrape time).
pub(crate) fn account_gauges(app: &crate::app::App) {
    let snap = app.snapshot.load();
    for h in app.health.snapshot() {
        let Some(acct) = snap.accounts.iter().find(|a| a.id == h.id) else {
            continue;
        };
        let vendor = acct.vendor.as_str();
        for s in crate::health::Status::ALL {
            let v = if s == h.status { 1.0 } else { 0.0 };
            gauge!(names::PROVIDER_ACCOUNT_HEALTH, "vendor" => vendor, "account" => acct.label.clone(), "status" => s.as_str()).set(v);
        }
        let remaining = h.cooldown_remaining.map_or(0.0, |d| d.as_secs_f64());
        gauge!(names::PROVIDER_ACCOUNT_COOLDOWN_ACTIVE, "vendor" => vendor, "account" => acct.label.clone())
            .set(if remaining > 0.0 { 1.0 } else { 0.0 });
        gauge!(names::PROVIDER_ACCOUNT_COOLDOWN_REMAINING_SECONDS, "vendor" => vendor, "account" => acct.label.clone())
            .set(remaining);
    }
}
