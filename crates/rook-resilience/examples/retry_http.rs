//! Retrying a flaky "HTTP call" under a retry policy and budget, honouring
//! the server's `retry-after-ms` / `Retry-After` hints.
//!
//! The "server" is a local function that fails a few times (503, then 429
//! with a hint) before it answers 200; there is no network.
//!
//! Run with `cargo run -p rook-resilience --example retry_http`.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rook_resilience::retry_after::retry_hint;
use rook_resilience::{
    retry, Backoff, BudgetConfig, GiveUpReason, Jitter, Observer, Outcome, RetryBudget,
    RetryConfig, RetryPolicy, TokioSleeper,
};

/// What our pretend HTTP client returns.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: &'static str,
}

/// A flaky server: 503, then 429 asking for 40 ms, then 200.
fn flaky_server(call: u32) -> Response {
    match call {
        0 => Response {
            status: 503,
            headers: vec![],
            body: "overloaded",
        },
        1 => Response {
            status: 429,
            headers: vec![("retry-after-ms", "40".to_string())],
            body: "slow down",
        },
        _ => Response {
            status: 200,
            headers: vec![("content-type", "text/plain".to_string())],
            body: "hello",
        },
    }
}

/// Classify a response: 2xx success, 429/5xx retryable (with the server's
/// hint, clamped to 1 s), anything else fatal.
fn classify(response: &Response) -> Outcome {
    match response.status {
        200..=299 => Outcome::Success,
        429 | 500..=599 => {
            let headers = response.headers.iter().map(|(k, v)| (*k, v.as_str()));
            match retry_hint(headers, SystemTime::now(), Duration::from_secs(1)) {
                Some(hint) => Outcome::retry_after(hint),
                None => Outcome::retryable(),
            }
        }
        _ => Outcome::Fatal,
    }
}

/// Print what the policy decides.
struct Log;

impl Observer for Log {
    fn retry_scheduled(&self, retry: u32, delay: Duration) {
        println!("  retry #{retry} scheduled in {delay:?}");
    }
    fn gave_up(&self, reason: GiveUpReason, attempts: u32) {
        println!("  gave up after {attempts} attempts: {reason}");
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let budget = Arc::new(RetryBudget::new(BudgetConfig::default()).unwrap());
    let policy = RetryPolicy::new(RetryConfig {
        max_attempts: 4,
        deadline: Some(Duration::from_secs(2)),
        backoff: Backoff::new(
            Duration::from_millis(10),
            Duration::from_millis(100),
            Jitter::Full,
        )
        .unwrap(),
    })
    .unwrap()
    .with_budget(budget)
    .with_observer(Arc::new(Log));

    let calls = AtomicU32::new(0);
    let started = Instant::now();
    let report = retry(
        &policy,
        &TokioSleeper,
        |attempt| {
            let call = calls.fetch_add(1, Ordering::Relaxed);
            async move {
                let response = flaky_server(call);
                println!("attempt {attempt}: HTTP {}", response.status);
                response
            }
        },
        classify,
    )
    .await;

    println!(
        "final: HTTP {} {:?} after {} attempts in {:?} (succeeded after retry: {})",
        report.output.status,
        report.output.body,
        report.attempts,
        started.elapsed(),
        report.gave_up.is_none() && report.retried(),
    );
    assert_eq!(report.output.status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(40),
        "the hint was honoured"
    );
}
