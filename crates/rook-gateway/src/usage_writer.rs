//! The usage writer: one event per request, written off the request path.
//!
//! Requests hand events to a bounded queue (never blocking); one task writes them
//! in batches. When the database fails, the batch is kept and retried with backoff
//! while new events wait in the queue; only a full queue drops events, and each
//! drop is counted (`rook_usage_events_dropped_total{reason}`) and logged. On
//! shutdown the queue is drained within a deadline.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rook_config::ModelPrice;

use rook_registry::{Registry, UsageEvent};
use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinHandle;

use crate::health::now_ms;
use crate::metrics_glue::usage_dropped;
use crate::usage::Usage;

/// What the request path knows about a finished request.
#[derive(Debug, Clone)]
pub struct Record {
    /// Request id.
    pub request_id: String,
    /// Hashed principal (never the raw token); `None` when unauthenticated.
    pub principal: Option<Arc<str>>,
    /// Logical model.
    pub model: String,
    /// Vendor of the last account tried.
    pub vendor: Option<&'static str>,
    /// Last account tried.
    pub account_id: Option<Arc<str>>,
    /// Upstream model name sent.
    pub upstream_model: Option<String>,
    /// Streamed?
    pub stream: bool,
    /// Upstream attempts made.
    pub attempts: u32,
    /// `success`, `error`, `partial`, `client_gone`.
    pub outcome: String,
    /// Status sent to the client.
    pub status: u16,
    /// Time to the end of the answer.
    pub latency: Duration,
    /// Time to the upstream's first byte.
    pub ttfb: Option<Duration>,
    /// Tokens, when reported.
    pub usage: Option<Usage>,
    /// Error class, when not a success.
    pub error_class: Option<String>,
}

impl Record {
    fn into_event(self) -> UsageEvent {
        UsageEvent {
            id: None,
            request_id: self.request_id,
            ts_ms: now_ms(),
            principal_hash: self.principal.map(|p| p.to_string()),
            model: self.model,
            vendor: self.vendor.map(str::to_string),
            account_id: self.account_id.map(|a| a.to_string()),
            upstream_model: self.upstream_model,
            stream: self.stream,
            attempts: self.attempts,
            outcome: self.outcome,
            status_code: self.status,
            latency_ms: u64::try_from(self.latency.as_millis()).unwrap_or(u64::MAX),
            ttfb_ms: self
                .ttfb
                .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
            prompt_tokens: self.usage.map(|u| u.prompt_tokens),
            completion_tokens: self.usage.map(|u| u.completion_tokens),
            total_tokens: self.usage.map(|u| u.total_tokens),
            cost_usd: None,
            error_class: self.error_class,
        }
    }
}

/// A message to the writer task.
enum Msg {
    Event(Box<UsageEvent>),
    /// Drain what is queued, then stop.
    Close,
}

/// The sending side of the usage queue.
pub struct UsageSink {
    tx: Option<mpsc::Sender<Msg>>,
    task: Mutex<Option<JoinHandle<()>>>,
    pricing: BTreeMap<String, ModelPrice>,
}

impl UsageSink {
    /// Starts the writer task (a disabled sink records nothing). `pricing` gives
    /// each event its cost.
    pub fn start(
        registry: Registry,
        cfg: &rook_config::Usage,
        pricing: BTreeMap<String, ModelPrice>,
    ) -> Self {
        if !cfg.enabled {
            return UsageSink {
                tx: None,
                task: Mutex::new(None),
                pricing,
            };
        }
        let (tx, rx) = mpsc::channel(cfg.queue_capacity.max(1) as usize);
        let batch = cfg.batch_size.max(1) as usize;
        let flush = Duration::from_millis(cfg.flush_interval_ms.max(1));
        let task = tokio::spawn(writer(registry, rx, batch, flush));
        UsageSink {
            tx: Some(tx),
            task: Mutex::new(Some(task)),
            pricing,
        }
    }

    /// Queues a usage event; never blocks. A full queue drops it, counted.
    pub fn record(&self, record: Record) {
        let Some(tx) = &self.tx else { return };
        let mut event = record.into_event();
        event.cost_usd = cost(&self.pricing, &event);
        match tx.try_send(Msg::Event(Box::new(event))) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                usage_dropped("queue_full", 1);
                tracing::warn!("usage queue full: a usage event was dropped");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => usage_dropped("shutdown", 1),
        }
    }

    /// Asks the writer to drain the queue and waits for it (bounded).
    pub async fn close(&self) {
        let Some(tx) = &self.tx else { return };
        if tokio::time::timeout(DRAIN_DEADLINE, tx.send(Msg::Close))
            .await
            .is_err()
        {
            tracing::warn!("usage writer is stuck; queued events may be lost");
        }
        if let Some(task) = self.task.lock().await.take() {
            if tokio::time::timeout(DRAIN_DEADLINE, task).await.is_err() {
                tracing::warn!("usage writer did not drain within the deadline");
            }
        }
    }
}

/// The cost of an event from the price table (per 1M input/output tokens).
pub fn cost(pricing: &BTreeMap<String, ModelPrice>, event: &UsageEvent) -> Option<f64> {
    let price = pricing.get(&event.model)?;
    let p = event.prompt_tokens? as f64;
    let c = event.completion_tokens.unwrap_or(0) as f64;
    Some(p * price.input_usd_per_million / 1e6 + c * price.output_usd_per_million / 1e6)
}

/// How long shutdown waits for queued events to reach the database.
const DRAIN_DEADLINE: Duration = Duration::from_secs(15);

async fn writer(registry: Registry, mut rx: mpsc::Receiver<Msg>, batch: usize, flush: Duration) {
    let mut buf: Vec<UsageEvent> = Vec::with_capacity(batch);
    let mut closing = false;
    loop {
        // Fill a batch: wait for the first event, then take what arrives within `flush`.
        if buf.is_empty() {
            match rx.recv().await {
                Some(Msg::Event(e)) => buf.push(*e),
                Some(Msg::Close) | None => closing = true,
            }
        }
        let until = Instant::now() + flush;
        while !closing && buf.len() < batch {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match tokio::time::timeout(left, rx.recv()).await {
                Ok(Some(Msg::Event(e))) => buf.push(*e),
                Ok(Some(Msg::Close)) | Ok(None) => closing = true,
                Err(_) => break,
            }
        }
        if closing {
            rx.close();
            while let Ok(msg) = rx.try_recv() {
                if let Msg::Event(e) = msg {
                    buf.push(*e);
                }
            }
        }
        if !buf.is_empty() {
            write_with_retry(&registry, &mut buf, closing).await;
        }
        if closing {
            return;
        }
    }
}

/// Writes `buf`, retrying with backoff until it succeeds. While closing, gives up
/// after a few tries and counts what was lost.
async fn write_with_retry(registry: &Registry, buf: &mut Vec<UsageEvent>, closing: bool) {
    let mut delay = Duration::from_millis(100);
    let mut tries = 0u32;
    loop {
        // One transaction per batch (the registry splits it into multi-row inserts).
        match registry.insert_usage_events(buf).await {
            Ok(()) => break,
            Err(e) if !e.is_unavailable() => {
                // Not a connectivity problem: retrying cannot help, and a poison
                // batch must not block the queue.
                usage_dropped("write_failed", buf.len() as u64);
                tracing::error!(error = %e, events = buf.len(), "usage events rejected by the database; dropped");
                break;
            }
            Err(e) => {
                tries += 1;
                if tries == 1 || tries % 20 == 0 {
                    tracing::warn!(error = %e, events = buf.len(), "usage write failed; retrying");
                }
                if closing && tries >= 5 {
                    usage_dropped("write_failed", buf.len() as u64);
                    tracing::error!(
                        events = buf.len(),
                        "usage events lost at shutdown: the database is unreachable"
                    );
                    break;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
    buf.clear();
}
