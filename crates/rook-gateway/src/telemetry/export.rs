//! The exporter task: batches the queued spans (`max_batch`, or whatever is
//! there every `export_interval_ms`), encodes each batch as one OTLP
//! `ExportTraceServiceRequest` and POSTs it (`application/x-protobuf`) over the
//! gateway's hyper client. A 429, 502, 503 or 504 is retried once, after the
//! collector's `Retry-After` (at most 5 s) or 1 s; any other failure drops the
//! batch, counted. Failures are logged at most every 30 s, with the status or
//! the error kind and never the auth header. On shutdown it drains the queue
//! and exports the rest within the export timeout; what does not fit is
//! counted as dropped (`shutdown`).

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{header, HeaderName, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use rook_config::Secret;
use rook_observability::names;
use rook_observability::otel::{encode_traces, Resource, SpanData};
use tokio::sync::{mpsc, oneshot};

use crate::proxy::upstream::{build_client, ClientSettings, UpstreamClient};

/// Longest wait a collector's `Retry-After` gets before the one retry.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(5);
/// Shortest gap between two export-failure warnings.
const WARN_EVERY: Duration = Duration::from_secs(30);
/// Most bytes of a collector's answer read (then dropped).
const MAX_ANSWER: usize = 64 * 1024;

/// What the exporter needs.
pub(super) struct Settings {
    pub(super) uri: Uri,
    /// The auth header's name and secret value.
    pub(super) auth: Option<(String, Secret)>,
    pub(super) resource: Resource,
    pub(super) max_batch: usize,
    pub(super) interval: Duration,
    pub(super) timeout: Duration,
}

/// Why an export failed (for the log; never holds a header value).
enum Failed {
    Status(StatusCode),
    Transport,
    Timeout,
}

impl Failed {
    fn describe(&self) -> String {
        match self {
            Failed::Status(s) => format!("the collector answered {}", s.as_u16()),
            Failed::Transport => "the collector could not be reached".to_owned(),
            Failed::Timeout => "the collector did not answer in time".to_owned(),
        }
    }
}

struct Exporter {
    settings: Settings,
    client: UpstreamClient,
    auth: Option<(HeaderName, HeaderValue)>,
    last_warn: Option<Instant>,
    suppressed: u64,
}

/// Runs until `stop` fires (or every sender is gone), then flushes.
pub(super) async fn run(
    settings: Settings,
    mut rx: mpsc::Receiver<SpanData>,
    mut stop: oneshot::Receiver<()>,
) {
    let auth = settings.auth.as_ref().and_then(|(name, secret)| {
        let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
        let mut value = HeaderValue::from_str(secret.expose()).ok()?;
        value.set_sensitive(true);
        Some((name, value))
    });
    if settings.auth.is_some() && auth.is_none() {
        tracing::warn!(
            "telemetry: the auth header value is not a valid HTTP header value; exporting without it"
        );
    }
    let client = build_client(&ClientSettings {
        connect_timeout: settings.timeout.min(Duration::from_secs(5)),
        pool_idle_timeout: Duration::from_secs(90),
        pool_max_idle_per_host: 2,
    });
    let mut ex = Exporter {
        settings,
        client,
        auth,
        last_warn: None,
        suppressed: 0,
    };
    let max = ex.settings.max_batch.max(1);
    let mut batch: Vec<SpanData> = Vec::with_capacity(max);
    let mut tick = tokio::time::interval(ex.settings.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let room = max - batch.len();
        tokio::select! {
            biased;
            _ = &mut stop => break,
            n = rx.recv_many(&mut batch, room) => {
                if n == 0 {
                    break;
                }
                if batch.len() >= max {
                    ex.export(&mut batch, true).await;
                    tick.reset();
                }
            }
            _ = tick.tick() => {
                if !batch.is_empty() {
                    ex.export(&mut batch, true).await;
                }
            }
        }
    }
    // Shutdown: what is queued goes out within the export timeout, no retries.
    rx.close();
    let deadline = tokio::time::Instant::now() + ex.settings.timeout;
    loop {
        while batch.len() < max {
            match rx.try_recv() {
                Ok(span) => batch.push(span),
                Err(_) => break,
            }
        }
        if batch.is_empty() {
            break;
        }
        if tokio::time::timeout_at(deadline, ex.export(&mut batch, false))
            .await
            .is_err()
        {
            let mut left = batch.len() as u64;
            while rx.try_recv().is_ok() {
                left += 1;
            }
            metrics::counter!(names::OTEL_SPANS_DROPPED_TOTAL, "reason" => "shutdown")
                .increment(left);
            break;
        }
    }
}

impl Exporter {
    /// Exports `batch` (emptied either way), counting and logging the result.
    async fn export(&mut self, batch: &mut Vec<SpanData>, retry: bool) {
        let n = batch.len() as u64;
        let body = Bytes::from(encode_traces(&self.settings.resource, batch));
        batch.clear();
        let started = Instant::now();
        let mut result = self.post(body.clone()).await;
        if retry {
            if let Err((Failed::Status(s), wait)) = &result {
                if matches!(s.as_u16(), 429 | 502 | 503 | 504) {
                    tokio::time::sleep(wait.unwrap_or(Duration::from_secs(1))).await;
                    result = self.post(body).await;
                }
            }
        }
        metrics::histogram!(names::OTEL_EXPORT_DURATION_SECONDS)
            .record(started.elapsed().as_secs_f64());
        match result {
            Ok(()) => {
                metrics::counter!(names::OTEL_SPANS_EXPORTED_TOTAL).increment(n);
            }
            Err((failed, _)) => {
                metrics::counter!(names::OTEL_SPANS_DROPPED_TOTAL, "reason" => "export_failed")
                    .increment(n);
                self.warn(&failed, n);
            }
        }
    }

    /// One POST; on failure, the collector's retry hint if it gave one.
    async fn post(&self, body: Bytes) -> Result<(), (Failed, Option<Duration>)> {
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(self.settings.uri.clone())
            .header(header::CONTENT_TYPE, "application/x-protobuf")
            .header(
                header::USER_AGENT,
                concat!("rook/", env!("CARGO_PKG_VERSION")),
            );
        if let Some((name, value)) = &self.auth {
            builder = builder.header(name, value.clone());
        }
        let Ok(req) = builder.body(Full::new(body)) else {
            return Err((Failed::Transport, None));
        };
        let timeout = self.settings.timeout;
        let resp = match tokio::time::timeout(timeout, self.client.request(req)).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => return Err((Failed::Transport, None)),
            Err(_) => return Err((Failed::Timeout, None)),
        };
        let (head, incoming) = resp.into_parts();
        // Read (a bounded part of) the answer so the connection can be reused.
        let limited = http_body_util::Limited::new(incoming, MAX_ANSWER);
        let _ = tokio::time::timeout(timeout, limited.collect()).await;
        if head.status.is_success() {
            return Ok(());
        }
        let hint = rook_resilience::retry_after::retry_hint(
            head.headers
                .iter()
                .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str(), v))),
            SystemTime::now(),
            MAX_RETRY_WAIT,
        );
        Err((Failed::Status(head.status), hint))
    }

    /// Logs a failed export, at most every [`WARN_EVERY`].
    fn warn(&mut self, failed: &Failed, spans: u64) {
        let now = Instant::now();
        if self
            .last_warn
            .is_some_and(|t| now.duration_since(t) < WARN_EVERY)
        {
            self.suppressed += 1;
            return;
        }
        tracing::warn!(
            endpoint = %self.settings.uri,
            spans,
            failures_not_logged = self.suppressed,
            "trace export failed: {}; the batch was dropped",
            failed.describe()
        );
        self.last_warn = Some(now);
        self.suppressed = 0;
    }
}
