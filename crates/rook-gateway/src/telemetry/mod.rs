//! OpenTelemetry traces (`[telemetry]`, opt-in): the per-request hooks and the
//! exporter.
//!
//! Off (no `otlp_endpoint`), nothing of this runs: the app holds `None`, no
//! task, no queue, and every hook on the request path is one branch on a
//! `None`. On, a request sampled by [`Telemetry::begin`] carries a
//! [`RequestTrace`] in its `Ctx`; its spans go, when they end, into a bounded
//! queue with `try_send` (full: dropped and counted), and one background task
//! ([`export`]) batches them, encodes OTLP/protobuf (`rook_observability::otel`)
//! and POSTs them to the collector. The span model, the `traceparent` parser,
//! the sampler and the encoding are pure and live in `rook-observability`.

pub(crate) mod content;
mod export;
pub(crate) mod trace;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::HeaderMap;
use rook_config::Config;
use rook_observability::names;
use rook_observability::otel::{sampling, traceparent, Resource, SpanData, TraceId};
use tokio::sync::{mpsc, oneshot, Mutex};

pub(crate) use trace::{RequestEnd, RequestTrace, Target};

use crate::app::AppError;

/// A running trace exporter and the sampling settings. See the module docs.
pub(crate) struct Telemetry {
    tx: mpsc::Sender<SpanData>,
    sample_ratio: f64,
    capture_content: bool,
    /// Stops the exporter (after a last flush) and waits for it.
    stop: Mutex<Option<(oneshot::Sender<()>, tokio::task::JoinHandle<()>)>>,
    /// How long the shutdown flush may take.
    flush_timeout: Duration,
}

impl Telemetry {
    /// Starts the exporter when `[telemetry] otlp_endpoint` is set; `None` when
    /// telemetry is off. Fails only when the collector's auth header value
    /// cannot be read.
    pub(crate) fn start(
        config: &Config,
        instance_id: &str,
    ) -> Result<Option<Arc<Telemetry>>, AppError> {
        let t = &config.telemetry;
        let Some(url) = t.traces_url() else {
            return Ok(None);
        };
        let what = match &t.auth_header_value_file {
            Some(_) => "telemetry.auth_header_value_file",
            None => "telemetry.auth_header_value_env",
        };
        let auth = t.resolve_auth().map_err(|e| AppError::Secret {
            what: what.into(),
            source: e,
        })?;
        let uri: http::Uri = url
            .parse()
            .map_err(|_| AppError::Telemetry("telemetry.otlp_endpoint: not a valid URL".into()))?;
        let settings = export::Settings {
            uri,
            auth: auth.map(|secret| (t.auth_header.clone(), secret)),
            resource: Resource {
                service_name: t.service_name.clone(),
                service_version: crate::VERSION.to_owned(),
                instance_id: instance_id.to_owned(),
            },
            max_batch: t.max_batch as usize,
            interval: Duration::from_millis(t.export_interval_ms),
            timeout: Duration::from_millis(t.export_timeout_ms),
        };
        let flush_timeout = settings.timeout + Duration::from_secs(1);
        let (tx, rx) = mpsc::channel(t.queue_size as usize);
        let (stop_tx, stop_rx) = oneshot::channel();
        rook_observability::register_otel_zero_series();
        tracing::info!(
            endpoint = %url,
            sample_ratio = t.sample_ratio,
            capture_content = t.capture_content,
            "OpenTelemetry traces are exported to {url}"
        );
        let task = tokio::spawn(export::run(settings, rx, stop_rx));
        Ok(Some(Arc::new(Telemetry {
            tx,
            sample_ratio: t.sample_ratio,
            capture_content: t.capture_content,
            stop: Mutex::new(Some((stop_tx, task))),
            flush_timeout,
        })))
    }

    /// A handle whose spans go to the returned receiver (no exporter task).
    #[cfg(test)]
    pub(crate) fn with_queue(
        size: usize,
        sample_ratio: f64,
        capture_content: bool,
    ) -> (Arc<Telemetry>, mpsc::Receiver<SpanData>) {
        let (tx, rx) = mpsc::channel(size);
        let t = Telemetry {
            tx,
            sample_ratio,
            capture_content,
            stop: Mutex::new(None),
            flush_timeout: Duration::from_secs(1),
        };
        (Arc::new(t), rx)
    }

    /// The trace of a request that started at `start`, when it is sampled: the
    /// child of the client's `traceparent` (one valid header; its sampled flag
    /// decides), else a new root sampled by `sample_ratio`. `body` is captured
    /// with `capture_content`.
    pub(crate) fn begin(
        self: &Arc<Self>,
        headers: &HeaderMap,
        start: Instant,
        body: &[u8],
    ) -> Option<Box<RequestTrace>> {
        let mut values = headers.get_all("traceparent").iter();
        let parent = match (values.next(), values.next()) {
            (Some(v), None) => v.to_str().ok().and_then(traceparent::parse),
            _ => None,
        };
        let trace_id =
            parent.map_or_else(|| TraceId::from_u128(fastrand::u128(1..)), |p| p.trace_id);
        if !sampling::should_sample(parent.as_ref(), trace_id, self.sample_ratio) {
            return None;
        }
        let trace_state = match parent {
            Some(_) => traceparent::tracestate(
                headers
                    .get_all("tracestate")
                    .iter()
                    .filter_map(|v| v.to_str().ok()),
            ),
            None => String::new(),
        };
        let elapsed = u64::try_from(start.elapsed().as_nanos()).unwrap_or(0);
        let begun = trace::now_unix_nanos().saturating_sub(elapsed);
        let mut t = RequestTrace::new(
            self.clone(),
            trace_id,
            parent.map(|p| p.parent_id),
            trace_state,
            begun,
        );
        if self.capture_content {
            t.input = Some(content::input_content(body));
        }
        Some(Box::new(t))
    }

    /// Whether answers' content is captured.
    pub(crate) fn captures_content(&self) -> bool {
        self.capture_content
    }

    /// Queues a finished span; a full queue drops it (counted).
    pub(crate) fn submit(&self, span: SpanData) {
        if let Err(e) = self.tx.try_send(span) {
            let reason = match e {
                mpsc::error::TrySendError::Full(_) => "queue_full",
                mpsc::error::TrySendError::Closed(_) => "shutdown",
            };
            metrics::counter!(names::OTEL_SPANS_DROPPED_TOTAL, "reason" => reason).increment(1);
        }
    }

    /// Flushes what is queued (bounded by the export timeout plus a second) and
    /// stops the exporter; spans left are counted as dropped (`shutdown`).
    pub(crate) async fn close(&self) {
        let Some((stop, mut task)) = self.stop.lock().await.take() else {
            return;
        };
        let _ = stop.send(());
        if tokio::time::timeout(self.flush_timeout, &mut task)
            .await
            .is_err()
        {
            task.abort();
            tracing::warn!("the trace exporter did not finish its last flush in time");
        }
    }
}
