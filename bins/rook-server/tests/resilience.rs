//! End to end: failover, cooldowns, probes, budgets and permits through the real
//! `rook-server` binary and scriptable fake upstreams.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use rook_test_support::{http, FakeUpstream, Reply, RookServer, TestDir};
use serde_json::{json, Value};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rook-server"))
}

/// Two accounts in a priority pool: A first, B second.
fn config(a: &FakeUpstream, b: &FakeUpstream, resilience: &str) -> String {
    format!(
        r#"
host = "127.0.0.1"
port = {{port}}
database_url = "sqlite://{{dir}}/rook.db"

[upstream_resilience]
{resilience}

[[accounts]]
id = "a"
vendor = "custom"
base_url = "{a}"
priority = 0

[[accounts]]
id = "b"
vendor = "custom"
base_url = "{b}"
priority = 1

[[pools]]
id = "main"
strategy = "priority"
members = ["a", "b"]

[[routes]]
model = "m"
pool = "main"
"#,
        a = a.base_url(),
        b = b.base_url(),
    )
}

fn body(stream: bool) -> Value {
    json!({"model": "m", "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
}

async fn post(server: &RookServer) -> http::TestResponse {
    http::post_json(&server.url("/v1/chat/completions"), &[], &body(false))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_500_fails_over_to_the_next_account() {
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    let server = RookServer::start(bin(), &config(&a, &b, ""), &[])
        .await
        .unwrap();
    a.push(Reply::status(500));
    let r = post(&server).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(a.request_count(), 1);
    assert_eq!(b.request_count(), 1);
}

#[tokio::test]
async fn retry_after_cools_the_account_then_exactly_one_probe() {
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    let server = RookServer::start(bin(), &config(&a, &b, ""), &[])
        .await
        .unwrap();
    a.push(Reply::status(429).header("retry-after", "2"));
    let cooled_at = Instant::now();
    assert_eq!(post(&server).await.status, 200);
    assert_eq!((a.request_count(), b.request_count()), (1, 1));

    // While A cools, everything goes to B.
    for _ in 0..5 {
        assert_eq!(post(&server).await.status, 200);
    }
    assert_eq!(a.request_count(), 1, "A was used during its cooldown");
    assert_eq!(b.request_count(), 6);

    // After the cooldown: concurrent requests, A's probe is slow; exactly one reaches A.
    let wait = Duration::from_millis(2300).saturating_sub(cooled_at.elapsed());
    tokio::time::sleep(wait).await;
    a.push(Reply::chat("probe ok").delay(Duration::from_millis(600)));
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let url = server.url("/v1/chat/completions");
        tasks.push(tokio::spawn(async move {
            http::post_json(&url, &[], &body(false))
                .await
                .unwrap()
                .status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(a.request_count(), 2, "exactly one probe must reach A");

    // The probe succeeded: A is back in rotation (first by priority).
    assert_eq!(post(&server).await.status, 200);
    assert_eq!(a.request_count(), 3);
}

#[tokio::test]
async fn caller_errors_pass_through_once_and_keep_the_account_healthy() {
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    let server = RookServer::start(bin(), &config(&a, &b, ""), &[])
        .await
        .unwrap();
    a.push(Reply::status(400).json(json!({"error": {"message": "bad messages", "type": "invalid_request_error", "code": "bad"}})));
    let r = post(&server).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["message"], "bad messages");
    assert_eq!((a.request_count(), b.request_count()), (1, 0));
    // A is still first choice.
    assert_eq!(post(&server).await.status, 200);
    assert_eq!((a.request_count(), b.request_count()), (2, 0));
    let h = server
        .admin_get("/api/health/accounts")
        .await
        .unwrap()
        .json();
    let acct_a = h["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == "a")
        .unwrap();
    assert_eq!(acct_a["status"], "healthy");
}

#[tokio::test]
async fn sustained_failure_stays_within_the_retry_budget() {
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    a.set_default(Reply::status(503));
    b.set_default(Reply::status(503));
    // Accounts never cool here (neither rule: the failure-rate rule is new and
    // would cool them after 10 outcomes), so only the budget limits the retries.
    let res = "failure_threshold = 100\nfailure_rate_min_requests = 100000\nretry_budget_ratio = 0.2\nretry_budget_min_per_second = 1\nretry_backoff_milliseconds = 1\nrequest_deadline_seconds = 10\nmax_cooled_share = 1.0";
    let server = RookServer::start(bin(), &config(&a, &b, res), &[])
        .await
        .unwrap();
    let n = 200u64;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for chunk in 0..10 {
        let url = server.url("/v1/chat/completions");
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for _ in 0..(n / 10) {
                let r = http::post_json(&url, &[], &body(false)).await.unwrap();
                assert!(
                    r.try_json().is_ok(),
                    "chunk {chunk}: not JSON: {}",
                    r.text()
                );
                statuses.push((r.status, r.header("x-should-retry").map(str::to_string)));
            }
            statuses
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    assert_eq!(all.len() as u64, n);
    assert!(all.iter().all(|(s, _)| *s >= 500), "{all:?}");
    let attempts = (a.request_count() + b.request_count()) as u64;
    // ratio × requests + floor × ttl (10 s), plus the original attempts.
    let bound = n + n / 5 + 10;
    assert!(attempts > n, "no retry happened at all ({attempts})");
    assert!(
        attempts <= bound,
        "{attempts} upstream attempts for {n} requests exceeds the budget bound {bound}"
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    // The SDKs are told not to multiply retries.
    assert!(all.iter().any(|(_, h)| h.as_deref() == Some("false")));
    let metrics = server.admin_get("/api/metrics").await.unwrap().text();
    assert!(
        metrics.contains("rook_retry_budget_exhausted_total"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_stream_broken_mid_way_ends_with_an_error_event_and_no_done() {
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    let server = RookServer::start(bin(), &config(&a, &b, ""), &[])
        .await
        .unwrap();
    let chunks: Vec<String> = (0..10).map(|i| format!("t{i} ")).collect();
    a.push(
        Reply::stream(chunks)
            .chunk_delay(Duration::from_millis(20))
            .break_after(3),
    );
    let s = http::post_json_stream(&server.url("/v1/chat/completions"), &[], &body(true))
        .await
        .unwrap();
    assert_eq!(s.status, 200);
    let out = s.collect().await;
    let text = out.text();
    let events = out.sse();
    assert!(
        !text.contains("[DONE]"),
        "a broken stream must not end with [DONE]: {text}"
    );
    let last = events.last().unwrap();
    assert_eq!(last.event.as_deref(), Some("error"), "{text}");
    assert_eq!(last.json().unwrap()["error"]["code"], "stream_interrupted");
    // No replay on B.
    assert_eq!(b.request_count(), 0);
}

#[tokio::test]
async fn a_permit_starved_request_gets_503_quickly_without_an_upstream_call() {
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    let res = "max_concurrent_upstream_requests = 1\npermit_queue_timeout_milliseconds = 50";
    let server = RookServer::start(bin(), &config(&a, &b, res), &[])
        .await
        .unwrap();
    let chunks: Vec<String> = (0..10).map(|i| format!("t{i} ")).collect();
    a.push(Reply::stream(chunks).chunk_delay(Duration::from_millis(100)));
    let mut hold = http::post_json_stream(&server.url("/v1/chat/completions"), &[], &body(true))
        .await
        .unwrap();
    hold.next_chunk().await.unwrap().unwrap();
    let started = Instant::now();
    let r = post(&server).await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(r.header("retry-after").is_some());
    assert_eq!(r.json()["error"]["code"], "overloaded");
    assert_eq!(a.request_count() + b.request_count(), 1);
    let out = hold.collect().await;
    assert!(out.error.is_none());
}

#[tokio::test]
async fn all_accounts_cooling_answers_at_once_with_retry_after() {
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    let server = RookServer::start(bin(), &config(&a, &b, ""), &[])
        .await
        .unwrap();
    a.push(Reply::status(429).header("retry-after", "5"));
    b.push(Reply::status(429).header("retry-after", "5"));
    let r = post(&server).await;
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!((a.request_count(), b.request_count()), (1, 1));
    // Both are cooling now: no upstream call, 429 with the earliest comeback.
    let started = Instant::now();
    let r = post(&server).await;
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(r.status, 429, "{}", r.text());
    let ra: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=5).contains(&ra), "retry-after {ra}");
    // Changed: nothing was tried and an account comes back within a minute, so
    // a client retry after Retry-After can help.
    assert_eq!(r.header("x-should-retry"), Some("true"));
    assert_eq!((a.request_count(), b.request_count()), (1, 1));

    let status = server.admin_get("/api/status").await.unwrap().json();
    assert_eq!(status["accounts"]["by_status"]["unhealthy"], 2);
    assert_eq!(status["routes"]["without_available_account"][0], "m");
    let ready = http::get(&server.url("/api/health/ready"), &[])
        .await
        .unwrap();
    assert_eq!(ready.status, 503);
}

#[tokio::test]
async fn a_restart_keeps_cooled_accounts_cooled() {
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    let dir = TestDir::new("rook-restart").unwrap();
    let cfg = config(&a, &b, "");
    let mut server = RookServer::start_in(bin(), dir.path(), &cfg, &[])
        .await
        .unwrap();
    a.push(Reply::status(429).header("retry-after", "60"));
    assert_eq!(post(&server).await.status, 200);
    assert_eq!((a.request_count(), b.request_count()), (1, 1));
    server.sigterm().unwrap();
    assert!(server
        .wait_exit(Duration::from_secs(15))
        .await
        .unwrap()
        .success());
    drop(server);

    let server = RookServer::start_in(bin(), dir.path(), &cfg, &[])
        .await
        .unwrap();
    assert_eq!(post(&server).await.status, 200);
    assert_eq!(
        (a.request_count(), b.request_count()),
        (1, 2),
        "A was used right after the restart"
    );
}
