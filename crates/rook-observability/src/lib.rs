//! Metric names, label rules, the Prometheus exporter and tracing setup for Rook.
//!
//! Every metric Rook exposes is declared once here ([`METRICS`]): its name, kind,
//! labels and help text. Libraries call the [`metrics`] facade with these names;
//! only binaries install a recorder ([`install_prometheus`]) and a tracing
//! subscriber ([`init_tracing`]), whose text format escapes every field value
//! ([`SafeFields`]: no forged lines, no terminal escapes).
//!
//! The [`otel`] module is the pure part of OpenTelemetry traces: the span model,
//! W3C `traceparent`, sampling, the GenAI convention names and the OTLP/protobuf
//! encoding (the gateway queues and exports).
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

mod catalog;
mod logging;
pub mod otel;
pub use catalog::{
    names, otel_zero_series, register_otel_zero_series, register_zero_series, zero_series, Kind,
    MetricDef, CLIENT_KEY_REJECTION_REASONS, CONFIG_RELOAD_RESULTS, METRICS, OTEL_DROP_REASONS,
    OTEL_METRIC_PREFIX, OTHER, PROBE_LEASE_RESULTS, USAGE_DROP_REASONS,
};
pub use logging::{check_log_filter, init_tracing, set_log_filter, LogFilterChange, LogFormat};

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
            .filter(|m| !m.name.starts_with(OTEL_METRIC_PREFIX))
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
        // the trace exporter's series exist only once it runs
        assert!(!text.contains(OTEL_METRIC_PREFIX), "{text}");
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
    fn otel_series_are_declared_with_their_reasons() {
        for (name, labels) in otel_zero_series() {
            let def = METRICS.iter().find(|m| m.name == name).unwrap();
            assert!(name.starts_with(OTEL_METRIC_PREFIX));
            for (_, reason) in labels {
                assert!(def.help.contains(reason), "{reason}");
            }
        }
        assert_eq!(otel_zero_series().len(), 1 + OTEL_DROP_REASONS.len());
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
