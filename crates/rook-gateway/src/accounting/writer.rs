//! The usage writer: one event per request, written off the request path.
//!
//! Requests hand events to a bounded queue (never blocking); one task writes them
//! in batches. When the database fails, the batch is kept and retried with backoff
//! while new events wait in the queue; only a full queue drops events, and each
//! drop is counted (`rook_usage_events_dropped_total{reason}`) and logged. On
//! shutdown the queue is drained within a deadline.
//!
//! With the usage journal ([`super::journal`]) each queued event is first on disk;
//! after each successful write the writer retires what it wrote from the journal.
//! Events a failed drain at shutdown could not write stay in the journal for the
//! next start.
//!
//! With a SQLite file the database work runs on threads of this process, on the
//! same cores as request handling. While the writer keeps up, it writes through the
//! registry's low-priority connection, a small statement at a time
//! ([`Registry::insert_usage_events_background`]), so a batch being written never
//! delays a request: the request thread preempts it. When the process keeps its
//! CPUs busy (a low-priority thread would starve), when events pile up, or when a
//! low-priority write was slow anyway, the writer writes at normal priority in one
//! transaction per batch, so recording keeps pace with traffic.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rook_config::ModelPrice;

use rook_registry::{Registry, UsageEvent};
use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinHandle;

use crate::accounting::journal::{self, Journal};
use crate::accounting::metrics::usage_dropped;
pub(crate) use crate::accounting::record::Record;
use rook_protocol::Usage;

/// A message to the writer task.
enum Msg {
    /// An event and the journal generation it was appended to.
    Event(Box<UsageEvent>, Option<u64>),
    /// Drain what is queued, then stop.
    Close,
}

/// The sending side of the usage queue.
pub(crate) struct UsageSink {
    tx: Option<mpsc::Sender<Msg>>,
    task: Mutex<Option<JoinHandle<()>>>,
    /// The price table (`[pricing]`), replaced by a configuration reload.
    pricing: arc_swap::ArcSwap<BTreeMap<String, ModelPrice>>,
    /// Events dropped since the queue last accepted one (logged once per episode).
    dropping: AtomicU64,
    journal: Option<Arc<Journal>>,
}

impl UsageSink {
    /// Starts the writer task (a disabled sink records nothing). `pricing` gives
    /// each event its cost; `journal`, when given, gets every event first.
    pub(crate) fn start(
        registry: Registry,
        cfg: &rook_config::Usage,
        pricing: BTreeMap<String, ModelPrice>,
        journal: Option<Arc<Journal>>,
    ) -> Self {
        let pricing = arc_swap::ArcSwap::from_pointee(pricing);
        if !cfg.enabled {
            return UsageSink {
                tx: None,
                task: Mutex::new(None),
                pricing,
                dropping: AtomicU64::new(0),
                journal: None,
            };
        }
        let (tx, rx) = mpsc::channel(cfg.queue_capacity.max(1) as usize);
        let batch = cfg.batch_size.max(1) as usize;
        let flush = Duration::from_millis(cfg.flush_interval_ms.max(1));
        let urgent_backlog = urgent_backlog(cfg.queue_capacity.max(1) as usize, batch);
        let task = tokio::spawn(writer(
            registry,
            rx,
            (batch, flush, urgent_backlog),
            journal.clone(),
        ));
        UsageSink {
            tx: Some(tx),
            task: Mutex::new(Some(task)),
            pricing,
            dropping: AtomicU64::new(0),
            journal,
        }
    }

    /// The price of `usage` of `model` from the price table (what the event records).
    pub(crate) fn price(&self, model: &str, usage: Option<Usage>) -> Option<f64> {
        let u = usage?;
        let table = self.pricing.load();
        let price = table.get(model)?;
        Some(price_of(price, u.prompt_tokens, u.completion_tokens))
    }

    /// Replaces the price table (events recorded from now on use it).
    pub(crate) fn set_pricing(&self, pricing: BTreeMap<String, ModelPrice>) {
        self.pricing.store(Arc::new(pricing));
    }

    /// Queues a usage event (and appends it to the journal: one `write`); never
    /// blocks on the database. A full queue drops it, counted; the log
    /// says so once when dropping starts and once when the queue accepts events again
    /// (not once per event: a database that stays down would flood the log).
    pub(crate) fn record(&self, record: Record) {
        let Some(tx) = &self.tx else { return };
        let mut event = record.into_event();
        match &self.journal {
            Some(j) => {
                event.event_key = Some(j.next_key());
                let line = journal::encode(&event);
                j.append_queued(&line, |generation| {
                    self.enqueue(tx, Msg::Event(Box::new(event), Some(generation)))
                });
            }
            None => {
                self.enqueue(tx, Msg::Event(Box::new(event), None));
            }
        }
    }

    /// Offers `msg` to the queue; whether it took it.
    fn enqueue(&self, tx: &mpsc::Sender<Msg>, msg: Msg) -> bool {
        match tx.try_send(msg) {
            Ok(()) => {
                if self.dropping.load(Ordering::Relaxed) > 0 {
                    let dropped = self.dropping.swap(0, Ordering::Relaxed);
                    if dropped > 0 {
                        tracing::info!(dropped, "usage queue accepts events again");
                    }
                }
                true
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                usage_dropped("queue_full", 1);
                if self.dropping.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::warn!(
                        "usage queue full: usage events are being dropped (counted in \
                         rook_usage_events_dropped_total) until the database accepts writes again"
                    );
                }
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                usage_dropped("shutdown", 1);
                false
            }
        }
    }

    /// Asks the writer to drain the queue and waits for it (bounded).
    pub(crate) async fn close(&self) {
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

/// What `prompt` input and `completion` output tokens cost at `price`.
fn price_of(price: &ModelPrice, prompt: u64, completion: u64) -> f64 {
    prompt as f64 * price.input_usd_per_million / 1e6
        + completion as f64 * price.output_usd_per_million / 1e6
}

/// How long shutdown waits for queued events to reach the database.
const DRAIN_DEADLINE: Duration = Duration::from_secs(15);

/// Events per low-priority write (one statement): about half a millisecond of work.
const BACKGROUND_CHUNK: usize = 128;

/// A low-priority write slower than this was starved by a busy CPU.
const STARVED: Duration = Duration::from_millis(20);

/// How long the writer keeps to the normal path after a starved write; doubled for
/// each starved write in a row, up to [`MAX_AVOID`].
const FIRST_AVOID: Duration = Duration::from_secs(1);
const MAX_AVOID: Duration = Duration::from_secs(60);

/// Queued events at which the writer stops using the low-priority path: an eighth of
/// the queue (so a burst never comes near dropping), at most one batch.
fn urgent_backlog(queue_capacity: usize, batch: usize) -> usize {
    (queue_capacity / 8).clamp(1, batch.max(1))
}

/// Share of the process's CPUs above which the CPU counts as busy: a low-priority
/// thread would get almost no time, so the writer does not even try it.
const BUSY_SHARE: f64 = 0.85;

/// Shortest window over which the process's CPU use is measured.
const CPU_WINDOW: Duration = Duration::from_millis(100);

/// Measures the CPU time this process used (all threads) against the CPUs it may use.
#[derive(Debug)]
struct CpuMeter {
    cpus: f64,
    last: Option<(Instant, u64)>,
    busy: bool,
}

impl CpuMeter {
    fn new() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        CpuMeter {
            cpus: cpus as f64,
            last: None,
            busy: false,
        }
    }

    /// Whether the process used at least [`BUSY_SHARE`] of its CPUs since the previous
    /// reading; readings are at least [`CPU_WINDOW`] apart (in between, the last answer
    /// holds). Without `/proc` it never reports busy.
    fn busy(&mut self, now: Instant) -> bool {
        if self
            .last
            .is_some_and(|(t, _)| now.duration_since(t) < CPU_WINDOW)
        {
            return self.busy;
        }
        let Some(ticks) = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| cpu_ticks(&s))
        else {
            return false;
        };
        self.reading(now, ticks)
    }

    /// One reading: the process's CPU `ticks` so far at `now`.
    fn reading(&mut self, now: Instant, ticks: u64) -> bool {
        if let Some((t, prev)) = self.last {
            self.busy = cpu_share(ticks.saturating_sub(prev), now.duration_since(t))
                >= BUSY_SHARE * self.cpus;
        }
        self.last = Some((now, ticks));
        self.busy
    }
}

/// User plus system CPU time, in clock ticks, from the text of `/proc/<pid>/stat`.
fn cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may contain spaces.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = rest.split_ascii_whitespace().skip(11); // fields 3..=13
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// CPUs' worth of time used: `ticks` (USER_HZ, 100 per second on Linux) over `wall`.
fn cpu_share(ticks: u64, wall: Duration) -> f64 {
    let secs = wall.as_secs_f64();
    if secs <= 0.0 {
        return 0.0;
    }
    ticks as f64 / 100.0 / secs
}

/// Chooses, write by write, between the low-priority and the normal path.
#[derive(Debug)]
struct WritePath {
    /// The registry has a low-priority connection (a SQLite file).
    available: bool,
    urgent_backlog: usize,
    avoid_until: Option<Instant>,
    next_avoid: Duration,
}

impl WritePath {
    fn new(available: bool, urgent_backlog: usize) -> Self {
        WritePath {
            available,
            urgent_backlog,
            avoid_until: None,
            next_avoid: FIRST_AVOID,
        }
    }

    /// Whether the next write goes through the low-priority path.
    fn background(&self, queued: usize, closing: bool, cpu_busy: bool, now: Instant) -> bool {
        self.available
            && !closing
            && !cpu_busy
            && queued < self.urgent_backlog
            && self.avoid_until.is_none_or(|t| now >= t)
    }

    /// Learns from a low-priority write that took `took`.
    fn observe(&mut self, took: Duration, now: Instant) {
        if took > STARVED {
            self.avoid_until = Some(now + self.next_avoid);
            self.next_avoid = (self.next_avoid * 2).min(MAX_AVOID);
            tracing::debug!(
                took_ms = took.as_millis() as u64,
                "usage writer: the CPU is busy; writing at normal priority for a while"
            );
        } else {
            self.avoid_until = None;
            self.next_avoid = FIRST_AVOID;
        }
    }
}

/// Takes a queued event into the batch, noting its journal generation.
fn take(
    buf: &mut Vec<UsageEvent>,
    generation: &mut Option<u64>,
    e: Box<UsageEvent>,
    g: Option<u64>,
) {
    buf.push(*e);
    *generation = g.or(*generation);
}

async fn writer(
    registry: Registry,
    mut rx: mpsc::Receiver<Msg>,
    (batch, flush, urgent_backlog): (usize, Duration, usize),
    journal: Option<Arc<Journal>>,
) {
    let mut buf: Vec<UsageEvent> = Vec::with_capacity(batch);
    // The journal generation of the last event taken.
    let mut generation: Option<u64> = None;

    let mut closing = false;
    let mut path = WritePath::new(registry.has_background_writer(), urgent_backlog);
    let mut cpu = CpuMeter::new();
    loop {
        // Fill a batch: wait for the first event, then take what arrives within `flush`.
        if buf.is_empty() {
            match rx.recv().await {
                Some(Msg::Event(e, g)) => take(&mut buf, &mut generation, e, g),
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
                Ok(Some(Msg::Event(e, g))) => take(&mut buf, &mut generation, e, g),
                Ok(Some(Msg::Close)) | Ok(None) => closing = true,
                Err(_) => break,
            }
        }
        if closing {
            rx.close();
            while let Ok(msg) = rx.try_recv() {
                if let Msg::Event(e, g) = msg {
                    take(&mut buf, &mut generation, e, g);
                }
            }
        }
        if !buf.is_empty() {
            let journaled = journal.is_some();
            let written = write_with_retry(
                &registry,
                &mut buf,
                (closing, journaled),
                &rx,
                &mut path,
                &mut cpu,
            )
            .await;
            if let (true, Some(j)) = (written, &journal) {
                j.retire(generation, || rx.is_empty());
            }
        }
        if closing {
            return;
        }
    }
}

/// Writes `buf`, retrying with backoff until it succeeds: [`BACKGROUND_CHUNK`]
/// events at a time at low priority while `path` allows it, otherwise the rest in
/// one normal transaction. While closing, gives up after a few tries and counts
/// what was lost (unless `journaled`: then it stays in the journal for the next
/// start). Whether everything was written (or rejected for good).
async fn write_with_retry(
    registry: &Registry,
    buf: &mut Vec<UsageEvent>,
    (closing, journaled): (bool, bool),
    rx: &mpsc::Receiver<Msg>,
    path: &mut WritePath,
    cpu: &mut CpuMeter,
) -> bool {
    let mut delay = Duration::from_millis(100);
    let mut tries = 0u32;
    let mut done = 0;
    while done < buf.len() {
        let rest = &buf[done..];
        let now = Instant::now();
        // Only measured when the low-priority path is an option at all.
        let cpu_busy = path.available && !closing && cpu.busy(now);
        let (n, result) = if path.background(rx.len(), closing, cpu_busy, now) {
            let n = rest.len().min(BACKGROUND_CHUNK);
            let started = Instant::now();
            let result = registry.insert_usage_events_background(&rest[..n]).await;
            path.observe(started.elapsed(), Instant::now());
            (n, result)
        } else {
            // One transaction for the rest (the registry splits it into multi-row inserts).
            (rest.len(), registry.insert_usage_events(rest).await)
        };
        let left = (buf.len() - done) as u64;
        match result {
            Ok(()) => {
                done += n;
                tries = 0;
                delay = Duration::from_millis(100);
            }
            Err(e) if !e.is_unavailable() => {
                // Not a connectivity problem: retrying cannot help, and a poison
                // batch must not block the queue.
                usage_dropped("write_failed", left);
                tracing::error!(error = %e, events = left, "usage events rejected by the database; dropped");
                break;
            }
            Err(e) => {
                tries += 1;
                if tries == 1 || tries % 20 == 0 {
                    tracing::warn!(error = %e, events = left, "usage write failed; retrying");
                }
                if closing && tries >= 5 {
                    buf.clear();
                    if journaled {
                        tracing::error!(
                            events = left,
                            "the database is unreachable at shutdown: usage events stay in the \
                             usage journal and are written at the next start"
                        );
                        return false;
                    }
                    usage_dropped("write_failed", left);
                    tracing::error!(
                        events = left,
                        "usage events lost at shutdown: the database is unreachable"
                    );
                    return true;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
    buf.clear();
    true
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn urgent_backlog_is_an_eighth_of_the_queue_at_most_a_batch() {
        assert_eq!(urgent_backlog(10_000, 1024), 1024);
        assert_eq!(urgent_backlog(4_000, 1024), 500);
        assert_eq!(urgent_backlog(4, 1024), 1);
        assert_eq!(urgent_backlog(10_000, 1), 1);
    }

    #[test]
    fn write_path_prefers_low_priority_while_calm() {
        let now = Instant::now();
        let path = WritePath::new(true, 100);
        assert!(path.background(0, false, false, now));
        assert!(path.background(99, false, false, now));
        // Falling behind, or draining at shutdown: normal priority.
        assert!(!path.background(100, false, false, now));
        assert!(!path.background(0, true, false, now));
        // No low-priority connection (PostgreSQL, in-memory SQLite).
        assert!(!WritePath::new(false, 100).background(0, false, false, now));
        // A busy CPU would starve the low-priority thread.
        assert!(!path.background(0, false, true, now));
    }

    #[test]
    fn a_starved_write_avoids_low_priority_for_a_growing_while() {
        let t0 = Instant::now();
        let mut path = WritePath::new(true, 100);
        path.observe(STARVED + Duration::from_millis(1), t0);
        assert!(!path.background(0, false, false, t0));
        assert!(!path.background(0, false, false, t0 + FIRST_AVOID - Duration::from_millis(1)));
        let t1 = t0 + FIRST_AVOID;
        assert!(path.background(0, false, false, t1));
        // Starved again: twice as long.
        path.observe(Duration::from_secs(1), t1);
        assert!(!path.background(0, false, false, t1 + FIRST_AVOID));
        assert!(path.background(0, false, false, t1 + FIRST_AVOID * 2));
        // The wait is capped.
        let mut t = t1 + FIRST_AVOID * 2;
        for _ in 0..20 {
            path.observe(Duration::from_secs(1), t);
            t += MAX_AVOID;
        }
        assert!(path.background(0, false, false, t));
        // A fast write ends the penalty at once and resets it.
        path.observe(Duration::from_millis(1), t);
        assert!(path.background(0, false, false, t));
        path.observe(STARVED * 2, t);
        assert!(path.background(0, false, false, t + FIRST_AVOID));
    }

    #[test]
    fn cpu_ticks_are_user_plus_system_time() {
        let stat = "4242 (rook (a) b) S 1 4242 4242 0 -1 4194560 1000 0 0 0 \
                    731 269 0 0 20 0 5 0 12345 1000000 2000 18446744073709551615";
        assert_eq!(cpu_ticks(stat), Some(1000));
        assert_eq!(cpu_ticks("garbage"), None);
        assert_eq!(cpu_ticks("1 (x) S 1 2"), None);
        let own = std::fs::read_to_string("/proc/self/stat").unwrap();
        assert!(cpu_ticks(&own).is_some());
    }

    #[test]
    fn cpu_share_is_cpus_worth_of_time() {
        assert!((cpu_share(50, Duration::from_millis(500)) - 1.0).abs() < 1e-9);
        assert!((cpu_share(25, Duration::from_secs(1)) - 0.25).abs() < 1e-9);
        assert_eq!(cpu_share(10, Duration::ZERO), 0.0);
    }

    #[test]
    fn cpu_meter_compares_cpu_time_with_wall_time() {
        let mut meter = CpuMeter::new();
        meter.cpus = 2.0;
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert!(!meter.reading(at(0), 1_000), "no window yet");
        // 2 CPUs fully used for 500 ms: 100 ticks.
        assert!(meter.reading(at(500), 1_100));
        // Inside the window the last answer holds, whatever the ticks.
        assert!(meter.busy(at(501)));
        // Idle for 500 ms: not busy.
        assert!(!meter.reading(at(1_000), 1_100));
        // Just under the busy share of 2 CPUs over a second.
        let under = (BUSY_SHARE * 2.0 * 100.0).floor() as u64 - 1;
        assert!(!meter.reading(at(2_000), 1_100 + under));
        assert!(meter.reading(at(3_000), 1_100 + under + 200));
    }

    #[test]
    fn this_process_has_readable_cpu_ticks() {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        assert!(cpu_ticks(&stat).is_some());
        assert_eq!(cpu_ticks("1 (a b) R 0 0 0 0 0 0 0 0 0 0 7 5 0 0"), Some(12));
    }

    fn record(i: usize) -> Record {
        Record {
            request_id: format!("req-{i}"),
            principal: None,
            model: "m".into(),
            vendor: Some("custom"),
            account_id: Some(Arc::from("a")),
            upstream_model: Some("m".into()),
            stream: false,
            attempts: 1,
            outcome: "success".into(),
            status: 200,
            latency: Duration::from_millis(3),
            ttfb: None,
            usage: None,
            error_class: None,
            endpoint: "chat",
            key_id: None,
            cost_usd: None,
        }
    }

    /// A burst larger than the urgent backlog is written in full, in order, through
    /// both paths, and nothing is dropped.
    #[tokio::test]
    async fn a_burst_is_written_in_full_through_both_paths() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("rook.db").display());
        let registry = Registry::connect(&url, rook_registry::ConnectOptions::default())
            .await
            .unwrap();
        assert!(registry.has_background_writer());
        let cfg = rook_config::Usage {
            queue_capacity: 4_000,
            batch_size: 1_024,
            flush_interval_ms: 20,
            ..rook_config::Usage::default()
        };
        let sink = UsageSink::start(registry.clone(), &cfg, BTreeMap::new(), None);
        // 3,000 queued at once: more than the urgent backlog (500), so the first
        // batches go at normal priority, the tail at low priority.
        for i in 0..3_000 {
            sink.record(record(i));
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while registry.usage_events(None, None).await.unwrap().len() < 3_000 {
            assert!(Instant::now() < deadline, "the writer did not catch up");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The low-priority connection was used (its thread exists).
        let background_threads = std::fs::read_dir("/proc/self/task")
            .unwrap()
            .flatten()
            .filter(|t| {
                std::fs::read_to_string(t.path().join("comm"))
                    .is_ok_and(|c| c.starts_with("rook-db-bg-"))
            })
            .count();
        assert_eq!(background_threads, 1);
        sink.close().await;
        let events = registry.usage_events(None, None).await.unwrap();
        assert_eq!(events.len(), 3_000);
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e.request_id, format!("req-{i}"));
        }
        registry.close().await;
    }
}
