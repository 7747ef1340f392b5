//! The catalog of Rook's metrics: every name, its kind, labels and help text, the
//! bounded label sets, and the series exported at 0 from start-up.

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
    /// Counter: panic probe leases asked of the database, by result.
    pub const PANIC_PROBE_LEASES_TOTAL: &str = "rook_panic_probe_leases_total";
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
    /// Gauge: 1 while client key budgets fall back to per-instance spend counts.
    pub const BUDGET_LEASE_FALLBACK: &str = "rook_budget_lease_fallback";
    /// Counter: times client key budgets fell back to per-instance spend counts.
    pub const BUDGET_LEASE_FALLBACKS_TOTAL: &str = "rook_budget_lease_fallbacks_total";
    /// Counter: configuration reloads (SIGHUP or `POST /api/config/reload`), by result.
    pub const CONFIG_RELOADS_TOTAL: &str = "rook_config_reloads_total";
    /// Counter: spans the OTLP exporter delivered to the collector.
    pub const OTEL_SPANS_EXPORTED_TOTAL: &str = "rook_otel_spans_exported_total";
    /// Counter: spans lost before reaching the collector, by reason.
    pub const OTEL_SPANS_DROPPED_TOTAL: &str = "rook_otel_spans_dropped_total";
    /// Histogram: duration of one OTLP export (a POST, with its one retry).
    pub const OTEL_EXPORT_DURATION_SECONDS: &str = "rook_otel_export_duration_seconds";
}

/// The prefix of the trace exporter's metrics: they exist only while the
/// exporter runs (`[telemetry] otlp_endpoint` set), so they are not in
/// [`zero_series`] but in [`otel_zero_series`], which the gateway registers
/// when it starts the exporter.
pub const OTEL_METRIC_PREFIX: &str = "rook_otel_";

/// The `reason` label values of `rook_otel_spans_dropped_total`: the span queue
/// was full, the collector refused or did not answer (after the one retry), or
/// the span was still queued when the shutdown flush ran out of time.
pub const OTEL_DROP_REASONS: &[&str] = &["queue_full", "export_failed", "shutdown"];

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

/// The `result` label values of `rook_health_probe_leases_total` (and of
/// `rook_panic_probe_leases_total`): this instance won the half-open (or panic) probe
/// of an account, another one did, or the database could not decide (each instance
/// probes on its own).
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
        name: names::PANIC_PROBE_LEASES_TOTAL,
        kind: Kind::Counter,
        labels: &["result"],
        help: "Panic probe leases this instance asked the database for (PostgreSQL), by result: won (this instance probes), lost (another instance probes), fallback (no answer within 250 ms, an error or no shared row: the local decision).",
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
        name: names::BUDGET_LEASE_FALLBACK,
        kind: Kind::Gauge,
        labels: &[],
        help: "1 while this instance admits budgeted client keys on its own spend count because slices of their budgets cannot be leased from the database, else 0.",
    },
    MetricDef {
        name: names::BUDGET_LEASE_FALLBACKS_TOTAL,
        kind: Kind::Counter,
        labels: &[],
        help: "Times this instance's client key budgets fell back to per-instance spend counts (the database could not be reached within 2 s).",
    },
    MetricDef {
        name: names::CONFIG_RELOADS_TOTAL,
        kind: Kind::Counter,
        labels: &["result"],
        help: "Configuration reloads (SIGHUP or POST /api/config/reload), by result (applied, unchanged, rejected, failed).",
    },
    MetricDef {
        name: names::OTEL_SPANS_EXPORTED_TOTAL,
        kind: Kind::Counter,
        labels: &[],
        help: "Trace spans delivered to the OTLP collector ([telemetry] otlp_endpoint).",
    },
    MetricDef {
        name: names::OTEL_SPANS_DROPPED_TOTAL,
        kind: Kind::Counter,
        labels: &["reason"],
        help: "Trace spans lost before reaching the OTLP collector, by reason (queue_full, export_failed, shutdown).",
    },
    MetricDef {
        name: names::OTEL_EXPORT_DURATION_SECONDS,
        kind: Kind::Histogram,
        labels: &[],
        help: "Duration of one OTLP trace export (the POST of a batch, with its one retry).",
    },
];

/// The series exported at 0 from the moment [`install_prometheus`](crate::install_prometheus) returns,
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
        .filter(|m| !m.name.starts_with(OTEL_METRIC_PREFIX))
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
        PROBE_LEASE_RESULTS
            .iter()
            .map(|r| (names::PANIC_PROBE_LEASES_TOTAL, vec![("result", *r)])),
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

/// The trace exporter's series exported at 0 once it starts:
/// `rook_otel_spans_exported_total` and `rook_otel_spans_dropped_total` for
/// each of [`OTEL_DROP_REASONS`]. Without `[telemetry] otlp_endpoint` none of
/// them exists.
pub fn otel_zero_series() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    let mut series = vec![(names::OTEL_SPANS_EXPORTED_TOTAL, Vec::new())];
    series.extend(
        OTEL_DROP_REASONS
            .iter()
            .map(|r| (names::OTEL_SPANS_DROPPED_TOTAL, vec![("reason", *r)])),
    );
    series
}

/// Registers every [`zero_series`] with the installed recorder without
/// changing its value (a counter incremented by 0, a gauge by 0.0).
pub fn register_zero_series() {
    register(zero_series());
}

/// Registers every [`otel_zero_series`] (the gateway calls it when it starts
/// the trace exporter), without changing a value.
pub fn register_otel_zero_series() {
    register(otel_zero_series());
}

fn register(series: Vec<(&'static str, Vec<(&'static str, &'static str)>)>) {
    for (name, labels) in series {
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
