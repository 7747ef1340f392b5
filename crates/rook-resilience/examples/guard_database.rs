//! A circuit breaker and a concurrency limiter guarding a simulated
//! database with a primary and a replica.
//!
//! The primary has an outage for the first 60 ms: the breaker opens it after
//! two consecutive failures and queries go to the replica without waiting
//! for the primary to time out; after the cooldown one probe is let through
//! and, once the outage is over, the primary closes again. The limiter keeps
//! at most 4 queries in flight and sheds the rest after a short wait.
//!
//! Run with `cargo run -p rook-resilience --example guard_database`.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Display;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rook_resilience::{
    Breaker, BreakerConfig, CircuitState, Limiter, LimiterError, Observer, TokioClock,
};

/// The pretend database: the primary fails until `outage_until`.
struct Database {
    outage_until: Instant,
}

impl Database {
    async fn query(&self, node: &str, sql: &str) -> Result<String, String> {
        tokio::time::sleep(Duration::from_millis(2)).await;
        if node == "primary" && Instant::now() < self.outage_until {
            Err(format!("{node}: connection refused"))
        } else {
            Ok(format!("{node} ran {sql:?}"))
        }
    }
}

/// Log breaker transitions and count shed queries.
#[derive(Default)]
struct Log {
    shed: AtomicU32,
}

impl Observer for Log {
    fn key_state_changed(&self, key: &dyn Display, from: CircuitState, to: CircuitState) {
        println!("  breaker: {key} {from} -> {to}");
    }
    fn limiter_rejected(&self, error: &LimiterError) {
        self.shed.fetch_add(1, Ordering::Relaxed);
        println!("  limiter: {error}");
    }
}

async fn run_query(
    db: &Database,
    breaker: &Breaker<&'static str>,
    limiter: &Limiter,
    sql: &str,
) -> Result<String, String> {
    let _permit = limiter.acquire().await.map_err(|e| e.to_string())?;
    // prefer the primary; fall back to the replica while it cools down or
    // when it fails
    let mut last_error = "no database node available".to_string();
    for node in ["primary", "replica"] {
        let Some(admission) = breaker.try_acquire(&node) else {
            continue;
        };
        match db.query(node, sql).await {
            Ok(rows) => {
                admission.success();
                return Ok(rows);
            }
            Err(error) => {
                admission.failure();
                last_error = error;
            }
        }
    }
    Err(last_error)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let log = Arc::new(Log::default());
    let breaker = Breaker::with_parts(
        BreakerConfig {
            failure_threshold: 2,
            cooldown_base: Duration::from_millis(30),
            cooldown_max: Duration::from_millis(120),
            cooldown_jitter: 0.0,
            max_open_share: 0.5,
            probe_timeout: Duration::from_secs(1),
            seed: None,
            ..BreakerConfig::default()
        },
        Arc::new(TokioClock),
        log.clone(),
    )
    .unwrap();
    breaker.register("primary");
    breaker.register("replica");
    let limiter = Limiter::new(4, Some(Duration::from_millis(1)))
        .unwrap()
        .with_observer(log.clone());
    let db = Arc::new(Database {
        outage_until: Instant::now() + Duration::from_millis(60),
    });

    // a burst larger than the limiter: some queries are shed
    let burst: Vec<_> = (0..8)
        .map(|i| {
            let (db, breaker, limiter) = (db.clone(), breaker.clone(), limiter.clone());
            tokio::spawn(
                async move { run_query(&db, &breaker, &limiter, &format!("select {i}")).await },
            )
        })
        .collect();
    for task in burst {
        let _ = task.await.unwrap();
    }
    println!("burst: {} queries shed", log.shed.load(Ordering::Relaxed));

    // a steady stream of queries through the outage and after it
    for i in 0..12 {
        let result = run_query(&db, &breaker, &limiter, &format!("select {i}")).await;
        println!("query {i:>2}: {result:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut snapshot = breaker.snapshot();
    snapshot.sort_by_key(|s| s.key);
    for s in snapshot {
        println!(
            "{}: {} (consecutive failures {}, times opened {})",
            s.key, s.state, s.consecutive_failures, s.times_opened
        );
    }
    println!(
        "limiter: {} of {} permits in use",
        limiter.in_use(),
        limiter.max()
    );
}
