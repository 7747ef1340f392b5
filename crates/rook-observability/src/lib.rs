//! Metric names, label rules, the Prometheus exporter and tracing setup for Rook.
//!
//! Every metric Rook exposes is declared once here ([`METRICS`]): its name, kind,
//! labels and help text. Libraries call the [`metrics`] facade with these names;
//! only binaries install a recorder ([`install_prometheus`]) and a tracing
//! subscriber ([`init_tracing`]), whose text format escapes every field value
//! ([`SafeFields`]: no forged lines, no terminal escapes).
//!
//! Label values are bounded and opaque: accounts appear as `acct_<id>` (see
//! [`account_label`]), never display names or keys; models are the logical
//! models that have a route, anything else collapses to [`OTHER`].
//!
//! ```
//! use rook_observability::{account_label, status_class, METRICS, names};
//!
//! assert_eq!(account_label("openai-a"), "acct_openai-a");
//! assert_eq!(status_class(429), "4xx");
//! assert!(METRICS.iter().any(|m| m.name == names::HTTP_REQUESTS_TOTAL));
//! ```
#![forbid(unsafe_code)]

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

mod logfmt;
pub use logfmt::{escape_log_value, SafeFields, MAX_LOG_VALUE_BYTES};

/// The handle that renders the Prometheus exposition.
pub use metrics_exporter_prometheus::PrometheusHandle;

/// The label value used for anything outside a bounded set (unknown models, surfaces).
pub const OTHER: &str = "other";

/// Metric names. Each is declared with its help text in [`METRICS`].
pub mod names {
    /// Counter: requests answered by the HTTP server.
    pub const HTTP_REQUESTS_TOTAL: &str = "rook_http_requests_total";
    /// Histogram: time from request head to response head (buffered: whole response).
    pub const HTTP_REQUEST_DURATION_SECONDS: &str = "rook_http_request_duration_seconds";
    /// Counter: upstream attempts by outcome.
    pub const UPSTREAM_REQUESTS_TOTAL: &str = "rook_upstream_requests_total";
    /// Histogram: upstream attempt duration.
    pub const UPSTREAM_REQUEST_DURATION_SECONDS: &str = "rook_upstream_request_duration_seconds";
    /// Histogram: time to the upstream response head.
    pub const UPSTREAM_TIME_TO_FIRST_BYTE_SECONDS: &str =
        "rook_upstream_time_to_first_byte_seconds";
    /// Counter: terminal retry outcomes of requests.
    pub const UPSTREAM_RETRY_OUTCOMES_TOTAL: &str = "rook_upstream_retry_outcomes_total";
    /// Gauge: account health status at scrape time.
    pub const PROVIDER_ACCOUNT_HEALTH: &str = "rook_provider_account_health";
    /// Gauge: 1 while an account is cooling down.
    pub const PROVIDER_ACCOUNT_COOLDOWN_ACTIVE: &str = "rook_provider_account_cooldown_active";
    /// Gauge: seconds left in an account's cooldown.
    pub const PROVIDER_ACCOUNT_COOLDOWN_REMAINING_SECONDS: &str =
        "rook_provider_account_cooldown_remaining_seconds";
    /// Gauge: upstream requests holding a permit.
    pub const UPSTREAM_IN_FLIGHT: &str = "rook_upstream_in_flight";
    /// Histogram: time spent waiting for an upstream concurrency permit.
    pub const UPSTREAM_PERMIT_WAIT_SECONDS: &str = "rook_upstream_permit_wait_seconds";
    /// Counter: retries refused because the retry budget was spent.
    pub const RETRY_BUDGET_EXHAUSTED_TOTAL: &str = "rook_retry_budget_exhausted_total";
    /// Counter: streamed upstream events whose data is not JSON (relayed as they came).
    pub const UPSTREAM_INVALID_STREAM_EVENTS_TOTAL: &str =
        "rook_upstream_invalid_stream_events_total";
    /// Counter: buffered upstream answers refused for their size.
    pub const UPSTREAM_RESPONSE_TOO_LARGE_TOTAL: &str = "rook_upstream_response_too_large_total";
    /// Counter: buffered upstream answers abandoned because the budget shared
    /// by all buffered answers had no room.
    pub const BUFFERED_RESPONSE_BUDGET_EXHAUSTED_TOTAL: &str =
        "rook_buffered_response_budget_exhausted_total";
    /// Counter: tokens reported by upstreams.
    pub const TOKENS_TOTAL: &str = "rook_tokens_total";
    /// Counter: usage events dropped before reaching the registry.
    pub const USAGE_EVENTS_DROPPED_TOTAL: &str = "rook_usage_events_dropped_total";
    /// Counter: usage events not written to the usage journal (full, or a write error).
    pub const USAGE_JOURNAL_DROPPED_TOTAL: &str = "rook_usage_journal_dropped_total";
    /// Gauge: always 1, labelled with the build version.
    pub const BUILD_INFO: &str = "rook_build_info";
    /// Counter: attempts sent to a cooling account in panic mode.
    pub const PANIC_ROUTING_TOTAL: &str = "rook_panic_routing_total";
    /// Gauge: 1 while the database file is the one opened, 0 once removed or replaced.
    pub const DATABASE_IDENTITY_OK: &str = "rook_database_identity_ok";
    /// Counter: requests admitted per client key.
    pub const CLIENT_KEY_REQUESTS_TOTAL: &str = "rook_client_key_requests_total";
    /// Gauge: spend of a client key in its current budget period.
    pub const CLIENT_KEY_SPEND_USD: &str = "rook_client_key_spend_usd";
    /// Counter: requests refused because of their client key, by reason.
    pub const CLIENT_KEY_REJECTIONS_TOTAL: &str = "rook_client_key_rejections_total";
    /// Counter.
    pub const HEALTH_TRANSITIONS_RECEIVED_TOTAL: &str = "rook_health_transitions_received_total";
    /// Counter.
    pub const HEALTH_PROBE_LEASES_TOTAL: &str = "rook_health_probe_leases_total";
    /// Gauge.
    pub const CONFIG_VERSION_SERVED: &str = "rook_config_version_served";
    /// Counter.
    pub const CLUSTER_LISTENER_RECONNECTS_TOTAL: &str = "rook_cluster_listener_reconnects_total";
    /// Gauge: 1 while shared rate limits fall back to per-instance limits.
    pub const RATE_LIMIT_LEASE_FALLBACK: &str = "rook_rate_limit_lease_fallback";
    /// Counter: times shared rate limits fell back to per-instance limits.
    pub const RATE_LIMIT_LEASE_FALLBACKS_TOTAL: &str = "rook_rate_limit_lease_fallbacks_total";
    /// Counter: configuration reloads (SIGHUP or `POST /api/config/reload`), by result.
    pub const CONFIG_RELOADS_TOTAL: &str = "rook_config_reloads_total";
}

/// The `result` label values of `rook_config_reloads_total`: the new file was
/// applied, it changed nothing, it was refused as invalid (the running
/// configuration stays), or applying it failed (the database, say).
pub const CONFIG_RELOAD_RESULTS: &[&str] = &["applied", "unchanged", "rejected", "failed"];

/// The `reason` label values of `rook_client_key_rejections_total`.
pub const CLIENT_KEY_REJECTION_REASONS: &[&str] = &[
    "missing",
    "unknown",
    "revoked",
    "disabled",
    "expired",
    "model_not_allowed",
    "budget_exceeded",
    "rate_limited",
];

/// The `result` label values of `rook_health_probe_leases_total`: this instance
/// won the half-open probe of an account, another one did, or the database could not
/// decide (each instance probes on its own).
pub const PROBE_LEASE_RESULTS: &[&str] = &["won", "lost", "fallback"];

/// The `reason` label values of `rook_usage_events_dropped_total`: the queue
/// was full, the database write failed, or the event arrived after shutdown
/// closed the queue.
pub const USAGE_DROP_REASONS: &[&str] = &["queue_full", "write_failed", "shutdown"];

/// The kind of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A monotonically increasing count.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// A distribution exposed as a Prometheus histogram.
    Histogram,
}

/// One declared metric.
#[derive(Debug, Clone, Copy)]
pub struct MetricDef {
    /// The metric name (always starts with `rook_`).
    pub name: &'static str,
    /// Its kind.
    pub kind: Kind,
    /// The label names it carries.
    pub labels: &'static [&'static str],
    /// Help text shown in the exposition.
    pub help: &'static str,
}

/// Every metric Rook exposes, declared once.
pub const METRICS: &[MetricDef] = &[
    MetricDef {
        name: names::HTTP_REQUESTS_TOTAL,
        kind: Kind::Counter,
        labels: &["surface", "route", "status_class"],
        help: "HTTP requests answered by Rook, by surface (v1, api), route and status class.",
    },
    MetricDef {
        name: names::HTTP_REQUEST_DURATION_SECONDS,
        kind: Kind::Histogram,
        labels: &["surface", "route"],
        help: "Time from receiving a request to sending the response head (whole body for buffered answers).",
    },
    MetricDef {
        name: names::UPSTREAM_REQUESTS_TOTAL,
        kind: Kind::Counter,
        labels: &["vendor", "account", "model", "endpoint", "outcome"],
        help: "Upstream attempts by endpoint (chat, messages, count_tokens, embeddings, responses, completions) and outcome (success, rate_limited, server_error, client_error, auth_error, quota_exhausted, timeout, transport_error, stream_error, invalid_response).",
    },
    MetricDef {
        name: names::UPSTREAM_REQUEST_DURATION_SECONDS,
        kind: Kind::Histogram,
        labels: &["vendor", "account", "model"],
        help: "Duration of upstream attempts, to the end of the body.",
    },
    MetricDef {
        name: names::UPSTREAM_TIME_TO_FIRST_BYTE_SECONDS,
        kind: Kind::Histogram,
        labels: &["vendor", "account", "model"],
        help: "Time from sending an upstream request to receiving its response head.",
    },
    MetricDef {
        name: names::UPSTREAM_RETRY_OUTCOMES_TOTAL,
        kind: Kind::Counter,
        labels: &["vendor", "account", "model", "outcome"],
        help: "Retry decisions and terminal retry outcomes (retry_scheduled, retry_exhausted, not_retryable, budget_exhausted, deadline_exceeded, no_account_available, poison_request, succeeded_after_retry).",
    },
    MetricDef {
        name: names::PROVIDER_ACCOUNT_HEALTH,
        kind: Kind::Gauge,
        labels: &["vendor", "account", "status"],
        help: "1 for the account's health status at scrape time (healthy, degraded, unhealthy, unknown), 0 for the others.",
    },
    MetricDef {
        name: names::PROVIDER_ACCOUNT_COOLDOWN_ACTIVE,
        kind: Kind::Gauge,
        labels: &["vendor", "account"],
        help: "1 while the account is cooling down and skipped by routing.",
    },
    MetricDef {
        name: names::PROVIDER_ACCOUNT_COOLDOWN_REMAINING_SECONDS,
        kind: Kind::Gauge,
        labels: &["vendor", "account"],
        help: "Seconds until the account's cooldown ends (0 when not cooling).",
    },
    MetricDef {
        name: names::UPSTREAM_IN_FLIGHT,
        kind: Kind::Gauge,
        labels: &[],
        help: "Upstream requests currently holding a concurrency permit (streams included).",
    },
    MetricDef {
        name: names::UPSTREAM_PERMIT_WAIT_SECONDS,
        kind: Kind::Histogram,
        labels: &[],
        help: "Time requests waited for an upstream concurrency permit.",
    },
    MetricDef {
        name: names::RETRY_BUDGET_EXHAUSTED_TOTAL,
        kind: Kind::Counter,
        labels: &[],
        help: "Retries refused because the retry budget was spent.",
    },
    MetricDef {
        name: names::UPSTREAM_INVALID_STREAM_EVENTS_TOTAL,
        kind: Kind::Counter,
        labels: &["vendor", "account"],
        help: "Streamed upstream events whose data was not a JSON object; they are relayed unchanged (the client decides).",
    },
    MetricDef {
        name: names::UPSTREAM_RESPONSE_TOO_LARGE_TOTAL,
        kind: Kind::Counter,
        labels: &["vendor", "account"],
        help: "Buffered upstream answers refused because they were larger than [limits] max_upstream_response_bytes (answered 502 upstream_response_too_large). Exported at 0 for every account.",
    },
    MetricDef {
        name: names::BUFFERED_RESPONSE_BUDGET_EXHAUSTED_TOTAL,
        kind: Kind::Counter,
        labels: &[],
        help: "Buffered upstream answers abandoned because [limits] buffered_response_budget_bytes had no room for them in time (answered 503 overloaded).",
    },
    MetricDef {
        name: names::TOKENS_TOTAL,
        kind: Kind::Counter,
        labels: &["vendor", "account", "model", "endpoint", "kind"],
        help: "Tokens reported by upstreams, by endpoint and kind (prompt, completion).",
    },
    MetricDef {
        name: names::USAGE_EVENTS_DROPPED_TOTAL,
        kind: Kind::Counter,
        labels: &["reason"],
        help: "Usage events dropped before reaching the registry, by reason (queue_full, write_failed, shutdown).",
    },
    MetricDef {
        name: names::USAGE_JOURNAL_DROPPED_TOTAL,
        kind: Kind::Counter,
        labels: &[],
        help: "Usage events not written to the usage journal ([usage] journal_max_bytes reached, or a write error): still queued for the database, but lost if the process dies first.",
    },
    MetricDef {
        name: names::BUILD_INFO,
        kind: Kind::Gauge,
        labels: &["version"],
        help: "Always 1; the version label names the running build.",
    },
    MetricDef {
        name: names::PANIC_ROUTING_TOTAL,
        kind: Kind::Counter,
        labels: &["route"],
        help: "Attempts sent, as its probe, to the account whose cooldown ends first because every candidate account of the request was cooling (panic mode), by route (logical model).",
    },
    MetricDef {
        name: names::DATABASE_IDENTITY_OK,
        kind: Kind::Gauge,
        labels: &[],
        help: "1 while the SQLite database file at the configured path is the one Rook opened (always 1 for PostgreSQL), 0 once it was removed or replaced while running (writes are then refused).",
    },
    MetricDef {
        name: names::CLIENT_KEY_REQUESTS_TOTAL,
        kind: Kind::Counter,
        labels: &["key"],
        help: "Requests admitted per client key (the key id: operator-created, so bounded; `default` is the [inbound_auth] token).",
    },
    MetricDef {
        name: names::CLIENT_KEY_SPEND_USD,
        kind: Kind::Gauge,
        labels: &["key"],
        help: "Spend of a client key in its current budget period, in US dollars (keys with a budget; refreshed at scrape time).",
    },
    MetricDef {
        name: names::CLIENT_KEY_REJECTIONS_TOTAL,
        kind: Kind::Counter,
        labels: &["reason"],
        help: "Requests refused because of their client key, by reason (missing, unknown, revoked, disabled, expired, model_not_allowed, budget_exceeded, rate_limited).",
    },
    MetricDef {
        name: names::HEALTH_TRANSITIONS_RECEIVED_TOTAL,
        kind: Kind::Counter,
        labels: &[],
        help: "Account health transitions (cooldowns, closes, resets) written by other instances and applied here (PostgreSQL).",
    },
    MetricDef {
        name: names::HEALTH_PROBE_LEASES_TOTAL,
        kind: Kind::Counter,
        labels: &["result"],
        help: "Half-open probe leases asked for before an account's cooldown ends, by result (won: this instance probes; lost: another does; fallback: the database could not decide and this instance probes on its own). PostgreSQL only.",
    },
    MetricDef {
        name: names::CONFIG_VERSION_SERVED,
        kind: Kind::Gauge,
        labels: &[],
        help: "The registry config version this instance's routing and client keys were built from.",
    },
    MetricDef {
        name: names::CLUSTER_LISTENER_RECONNECTS_TOTAL,
        kind: Kind::Counter,
        labels: &[],
        help: "Times the PostgreSQL change listener connection was lost (the instance polls, then listens again and reloads everything).",
    },
    MetricDef {
        name: names::RATE_LIMIT_LEASE_FALLBACK,
        kind: Kind::Gauge,
        labels: &[],
        help: "1 while this instance enforces per-instance rate limits because slices of the shared limits cannot be leased from the database, else 0.",
    },
    MetricDef {
        name: names::RATE_LIMIT_LEASE_FALLBACKS_TOTAL,
        kind: Kind::Counter,
        labels: &[],
        help: "Times this instance's shared rate limits fell back to per-instance limits (the database could not be reached within 2 s).",
    },
    MetricDef {
        name: names::CONFIG_RELOADS_TOTAL,
        kind: Kind::Counter,
        labels: &["result"],
        help: "Configuration reloads (SIGHUP or POST /api/config/reload), by result (applied, unchanged, rejected, failed).",
    },
];

/// The series exported at 0 from the moment [`install_prometheus`] returns,
/// so dashboards and `rate()`/`increase()` alerts see them before the first
/// event: every counter and gauge in [`METRICS`] without labels, and
/// `rook_usage_events_dropped_total` for each of [`USAGE_DROP_REASONS`] (and
/// likewise the client key rejection reasons and [`CONFIG_RELOAD_RESULTS`]).
/// Series whose labels come from requests (routes, accounts, models) appear
/// when first used; `rook_build_info` is set to 1 by `install_prometheus`.
pub fn zero_series() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    let mut series: Vec<_> = METRICS
        .iter()
        .filter(|m| m.kind != Kind::Histogram && m.labels.is_empty())
        .map(|m| (m.name, Vec::new()))
        .collect();
    series.extend(
        USAGE_DROP_REASONS
            .iter()
            .map(|r| (names::USAGE_EVENTS_DROPPED_TOTAL, vec![("reason", *r)])),
    );
    series.extend(
        PROBE_LEASE_RESULTS
            .iter()
            .map(|r| (names::HEALTH_PROBE_LEASES_TOTAL, vec![("result", *r)])),
    );
    series.extend(
        CLIENT_KEY_REJECTION_REASONS
            .iter()
            .map(|r| (names::CLIENT_KEY_REJECTIONS_TOTAL, vec![("reason", *r)])),
    );
    series.extend(
        CONFIG_RELOAD_RESULTS
            .iter()
            .map(|r| (names::CONFIG_RELOADS_TOTAL, vec![("result", *r)])),
    );
    series
}

/// Registers every [`zero_series`] with the installed recorder without
/// changing its value (a counter incremented by 0, a gauge by 0.0).
pub fn register_zero_series() {
    for (name, labels) in zero_series() {
        let labels: Vec<metrics::Label> = labels
            .into_iter()
            .map(|(k, v)| metrics::Label::new(k, v))
            .collect();
        let kind = METRICS.iter().find(|m| m.name == name).map(|m| m.kind);
        match kind {
            Some(Kind::Gauge) => metrics::gauge!(name, labels).increment(0.0),
            Some(Kind::Counter) => metrics::counter!(name, labels).increment(0),
            Some(Kind::Histogram) | None => {}
        }
    }
}

/// Histogram buckets for request-scale latencies, in seconds.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 120.0,
];

/// The opaque metric label for an account id: `acct_<id>`.
///
/// Account ids are validated by the configuration to `[A-Za-z0-9_.-]{1,64}`, so the
/// label is bounded and never a display name or a secret.
pub fn account_label(account_id: &str) -> String {
    let mut s = String::with_capacity(5 + account_id.len());
    s.push_str("acct_");
    s.push_str(account_id);
    s
}

/// The status class label (`1xx` … `5xx`) of an HTTP status code.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => OTHER,
    }
}

/// Errors installing the exporter or the subscriber.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ObservabilityError {
    /// The Prometheus recorder could not be built or installed.
    #[error("cannot install the Prometheus recorder: {0}")]
    Recorder(String),
    /// The log filter directive is invalid.
    #[error("invalid log level directive {directive:?}: {reason}")]
    LogFilter {
        /// The directive as given.
        directive: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A tracing subscriber was already installed.
    #[error("a tracing subscriber is already installed")]
    SubscriberInstalled,
}

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the global Prometheus recorder (once per process) and returns its handle.
///
/// Declares every metric in [`METRICS`] with its help text, configures histogram
/// buckets for every histogram, sets `rook_build_info{version}` to 1 and exports
/// every [`zero_series`] at 0, so they exist from start-up. A second
/// call returns the handle of the first. The caller must call
/// [`PrometheusHandle::run_upkeep`] periodically (the gateway does it every 5 s).
pub fn install_prometheus(version: &str) -> Result<PrometheusHandle, ObservabilityError> {
    if let Some(h) = HANDLE.get() {
        return Ok(h.clone());
    }
    let mut builder = PrometheusBuilder::new();
    for def in METRICS.iter().filter(|m| m.kind == Kind::Histogram) {
        builder = builder
            .set_buckets_for_metric(Matcher::Full(def.name.to_string()), LATENCY_BUCKETS)
            .map_err(|e| ObservabilityError::Recorder(e.to_string()))?;
    }
    let handle = builder
        .install_recorder()
        .map_err(|e| ObservabilityError::Recorder(e.to_string()))?;
    describe_all();
    register_zero_series();
    metrics::gauge!(names::BUILD_INFO, "version" => version.to_string()).set(1.0);
    let _ = HANDLE.set(handle.clone());
    Ok(HANDLE.get().cloned().unwrap_or(handle))
}

/// Registers the help text of every metric with the installed recorder.
pub fn describe_all() {
    for def in METRICS {
        let help = def.help;
        match def.kind {
            Kind::Counter => metrics::describe_counter!(def.name, help),
            Kind::Gauge => metrics::describe_gauge!(def.name, help),
            Kind::Histogram => {
                metrics::describe_histogram!(def.name, metrics::Unit::Seconds, help)
            }
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the global tracing subscriber writing to stderr.
///
/// The text format escapes control characters in every field value and caps
/// each value at [`MAX_LOG_VALUE_BYTES`] ([`SafeFields`]); the JSON format
/// escapes as JSON does.
///
/// `directive` is an `EnvFilter` directive such as `info` or `rook_gateway=debug,info`;
/// `RUST_LOG`, when set, takes precedence. The filter can be changed later with
/// [`set_log_filter`] (a configuration reload).
pub fn init_tracing(format: LogFormat, directive: &str) -> Result<(), ObservabilityError> {
    use tracing_subscriber::EnvFilter;
    let from_env = rust_log();
    let filter = match &from_env {
        Some(v) => EnvFilter::try_new(v),
        None => EnvFilter::try_new(directive),
    }
    .map_err(|e| ObservabilityError::LogFilter {
        directive: directive.to_string(),
        reason: e.to_string(),
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true);
    let result = match format {
        // Client-controlled values cannot forge a line or reach the terminal
        // as escape sequences (see `SafeFields`).
        LogFormat::Text => {
            let builder = builder
                .fmt_fields(SafeFields)
                .with_ansi(false)
                .with_filter_reloading();
            let handle = builder.reload_handle();
            builder.try_init().map(|()| {
                Box::new(move |f| handle.reload(f).map_err(|e| e.to_string())) as Reloader
            })
        }
        LogFormat::Json => {
            let builder = builder
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_filter_reloading();
            let handle = builder.reload_handle();
            builder.try_init().map(|()| {
                Box::new(move |f| handle.reload(f).map_err(|e| e.to_string())) as Reloader
            })
        }
    };
    let reloader = result.map_err(|_| ObservabilityError::SubscriberInstalled)?;
    if from_env.is_none() {
        let _ = FILTER.set(reloader);
    }
    Ok(())
}

type Reloader =
    Box<dyn Fn(tracing_subscriber::EnvFilter) -> Result<(), String> + Send + Sync + 'static>;

/// Replaces the filter of the subscriber [`init_tracing`] installed.
static FILTER: OnceLock<Reloader> = OnceLock::new();

fn rust_log() -> Option<String> {
    match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => Some(v.trim().to_string()),
        _ => None,
    }
}

/// What [`set_log_filter`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogFilterChange {
    /// The new filter is in force.
    Applied,
    /// `RUST_LOG` is set and takes precedence: the filter was left as it is.
    RustLogWins,
    /// No subscriber was installed by [`init_tracing`] in this process.
    NoSubscriber,
}

/// Checks that `directive` is a valid `EnvFilter` directive.
pub fn check_log_filter(directive: &str) -> Result<(), ObservabilityError> {
    tracing_subscriber::EnvFilter::try_new(directive)
        .map(drop)
        .map_err(|e| ObservabilityError::LogFilter {
            directive: directive.to_string(),
            reason: e.to_string(),
        })
}

/// Changes the log filter of the running process to `directive` (a reloaded
/// `log_level`), unless `RUST_LOG` takes precedence.
pub fn set_log_filter(directive: &str) -> Result<LogFilterChange, ObservabilityError> {
    let filter = tracing_subscriber::EnvFilter::try_new(directive).map_err(|e| {
        ObservabilityError::LogFilter {
            directive: directive.to_string(),
            reason: e.to_string(),
        }
    })?;
    if rust_log().is_some() {
        return Ok(LogFilterChange::RustLogWins);
    }
    let Some(reload) = FILTER.get() else {
        return Ok(LogFilterChange::NoSubscriber);
    };
    reload(filter).map_err(|reason| ObservabilityError::LogFilter {
        directive: directive.to_string(),
        reason,
    })?;
    Ok(LogFilterChange::Applied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_prefixed_and_documented() {
        let mut seen = HashSet::new();
        for m in METRICS {
            assert!(m.name.starts_with("rook_"), "{}", m.name);
            assert!(seen.insert(m.name), "duplicate {}", m.name);
            assert!(!m.help.is_empty());
            if m.kind == Kind::Counter {
                assert!(m.name.ends_with("_total"), "{}", m.name);
            }
            if m.kind == Kind::Histogram {
                assert!(m.name.ends_with("_seconds"), "{}", m.name);
            }
        }
    }

    #[test]
    fn label_free_series_exist_from_install() {
        let handle = install_prometheus("0.0.0-test").unwrap();
        let text = handle.render();
        let lines = text.lines().map(|l| Ok(l.to_string()));
        let scrape = prometheus_parse::Scrape::parse(lines).unwrap();
        let find = |name: &str, label: Option<(&str, &str)>| {
            scrape
                .samples
                .iter()
                .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
        };
        let label_free: Vec<_> = METRICS
            .iter()
            .filter(|m| m.kind != Kind::Histogram && m.labels.is_empty())
            .collect();
        for name in [
            names::RETRY_BUDGET_EXHAUSTED_TOTAL,
            names::UPSTREAM_IN_FLIGHT,
        ] {
            assert!(label_free.iter().any(|m| m.name == name), "{name}");
        }
        for m in label_free {
            let sample =
                find(m.name, None).unwrap_or_else(|| panic!("{} missing:\n{text}", m.name));
            let zero = match sample.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v == 0.0,
                _ => false,
            };
            assert!(zero, "{} = {:?}", m.name, sample.value);
        }
        for reason in ["queue_full", "write_failed", "shutdown"] {
            assert!(
                find(names::USAGE_EVENTS_DROPPED_TOTAL, Some(("reason", reason))).is_some(),
                "usage drop reason {reason} missing:\n{text}"
            );
        }
        assert!(find(names::BUILD_INFO, Some(("version", "0.0.0-test"))).is_some());
        // request-labelled series appear when used, not before
        assert!(find(names::PANIC_ROUTING_TOTAL, None).is_none());
        let panic = METRICS
            .iter()
            .find(|m| m.name == names::PANIC_ROUTING_TOTAL)
            .unwrap();
        assert_eq!((panic.kind, panic.labels), (Kind::Counter, &["route"][..]));
    }

    #[test]
    fn usage_drop_reasons_are_documented_in_the_help() {
        let def = METRICS
            .iter()
            .find(|m| m.name == names::USAGE_EVENTS_DROPPED_TOTAL)
            .unwrap();
        for reason in USAGE_DROP_REASONS {
            assert!(def.help.contains(reason), "{reason}");
        }
    }

    #[test]
    fn status_classes() {
        assert_eq!(status_class(200), "2xx");
        assert_eq!(status_class(503), "5xx");
        assert_eq!(status_class(99), OTHER);
    }

    #[test]
    fn exposition_parses_with_a_real_parser() {
        let handle = install_prometheus("0.0.0-test").unwrap();
        metrics::counter!(names::HTTP_REQUESTS_TOTAL, "surface" => "v1", "route" => "gpt", "status_class" => "2xx").increment(3);
        metrics::histogram!(names::UPSTREAM_PERMIT_WAIT_SECONDS).record(0.002);
        let text = handle.render();
        let lines = text.lines().map(|l| Ok(l.to_string()));
        let scrape = prometheus_parse::Scrape::parse(lines).unwrap();
        let total = scrape
            .samples
            .iter()
            .find(|s| s.metric == names::HTTP_REQUESTS_TOTAL)
            .unwrap();
        assert!(matches!(total.value, prometheus_parse::Value::Counter(v) if v == 3.0));
        assert!(scrape.samples.iter().any(
            |s| s.metric == names::BUILD_INFO && s.labels.get("version") == Some("0.0.0-test")
        ));
        assert!(text.contains("rook_upstream_permit_wait_seconds_bucket"));
    }
}
