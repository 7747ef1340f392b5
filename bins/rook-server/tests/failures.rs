//! End to end: failure semantics that never black-hole a route — panic routing,
//! poison requests, invalid upstream answers, honest statuses, HEAD probes and
//! metrics present from start-up, through the real `rook-server` binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use rook_test_support::{http, FakeUpstream, Reply, RookServer};
use serde_json::{json, Value};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rook-server"))
}

/// Accounts `a`, `b`, … (one per upstream) in a priority pool for model `m`.
fn config(upstreams: &[&FakeUpstream], extra: &str) -> String {
    let mut accounts = String::new();
    let mut members = Vec::new();
    for (i, u) in upstreams.iter().enumerate() {
        let id = ["a", "b", "c"][i];
        members.push(format!("\"{id}\""));
        accounts.push_str(&format!(
            "[[accounts]]\nid = \"{id}\"\nvendor = \"custom\"\nbase_url = \"{}\"\npriority = {i}\n\n",
            u.base_url()
        ));
    }
    format!(
        r#"
host = "127.0.0.1"
port = {{port}}
database_url = "sqlite://{{dir}}/rook.db"
{extra}

{accounts}
[[pools]]
id = "main"
strategy = "priority"
members = [{members}]

[[routes]]
model = "m"
pool = "main"
"#,
        members = members.join(", ")
    )
}

async fn chat(server: &RookServer) -> http::TestResponse {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    http::post_json(&server.url("/v1/chat/completions"), &[], &body)
        .await
        .unwrap()
}

async fn metrics(server: &RookServer) -> String {
    server.admin_get("/api/metrics").await.unwrap().text()
}

/// The value of the first sample line starting with `series` (name and labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn a_cooled_single_account_route_is_still_tried_in_panic_mode() {
    let a = FakeUpstream::start().await;
    // One failure cools the only account (the old default), to show panic mode.
    let server = RookServer::start(
        bin(),
        &config(&[&a], "[upstream_resilience]\nfailure_threshold = 1"),
        &[],
    )
    .await
    .unwrap();
    a.push(Reply::status(500));
    let first = chat(&server).await;
    // Tried and failed: the failure's own status, naming its class.
    assert_eq!(first.status, 502, "{}", first.text());
    assert!(first.text().contains("server_error"), "{}", first.text());
    assert_eq!(first.header("x-should-retry"), Some("false"));
    // The account is cooling; the next request still reaches it (its probe),
    // and the healthy upstream serves it at once.
    let second = chat(&server).await;
    assert_eq!(second.status, 200, "{}", second.text());
    assert_eq!(a.chat_requests().len(), 2);
    let m = metrics(&server).await;
    assert_eq!(
        sample(&m, "rook_panic_routing_total{route=\"m\"}"),
        Some(1.0),
        "{m}"
    );
    let status = server.admin_get("/api/status").await.unwrap().json();
    assert_eq!(status["routes_in_panic"], json!(["m"]), "{status:#}");
    // Closed again: no more panic.
    let third = chat(&server).await;
    assert_eq!(third.status, 200);
    assert_eq!(
        sample(
            &metrics(&server).await,
            "rook_panic_routing_total{route=\"m\"}"
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn panic_mode_off_answers_503_without_trying() {
    let a = FakeUpstream::start().await;
    let server = RookServer::start(
        bin(),
        &config(
            &[&a],
            "[upstream_resilience]\nfailure_threshold = 1\npanic_mode = false",
        ),
        &[],
    )
    .await
    .unwrap();
    a.push(Reply::status(500));
    assert_eq!(chat(&server).await.status, 502);
    let r = chat(&server).await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "no_account_available");
    assert!(r.header("retry-after").is_some());
    assert_eq!(a.chat_requests().len(), 1, "nothing was tried");
}

#[tokio::test]
async fn a_poison_request_does_not_take_the_route_down() {
    let a = FakeUpstream::start().await;
    // Two failures would cool the account; the poison request fails twice the
    // same way, counts once, and is not retried further.
    let server = RookServer::start(
        bin(),
        &config(&[&a], "[upstream_resilience]\nfailure_threshold = 2"),
        &[],
    )
    .await
    .unwrap();
    a.push_all([Reply::status(500), Reply::status(500)]);
    // Deep, but within the probe's nesting limit (deeper bodies are refused
    // with 400 before any upstream call; see security_edge.rs).
    let nested = "[".repeat(100) + &"]".repeat(100);
    let poison = format!(
        r#"{{"model":"m","messages":[{{"role":"user","content":"x"}}],"metadata":{{"deep":{nested}}}}}"#
    );
    let r = http::request(
        "POST",
        &server.url("/v1/chat/completions"),
        &[("content-type", "application/json")],
        Some(poison.into_bytes()),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(r.header("x-should-retry"), Some("false"));
    assert_eq!(a.chat_requests().len(), 2, "tried twice, then recognised");
    // Everyone else is served at once, without panic routing.
    for _ in 0..3 {
        assert_eq!(chat(&server).await.status, 200);
    }
    let m = metrics(&server).await;
    assert_eq!(sample(&m, "rook_panic_routing_total"), None, "{m}");
    assert!(m.contains("outcome=\"poison_request\""), "{m}");
}

#[tokio::test]
async fn three_consecutive_failures_cool_an_account_two_do_not() {
    let (a, b) = (FakeUpstream::start().await, FakeUpstream::start().await);
    let server = RookServer::start(bin(), &config(&[&a, &b], ""), &[])
        .await
        .unwrap();
    // Two failures (each request retried on b), then a success: a stays in.
    a.push_all([Reply::status(500), Reply::status(500), Reply::auto()]);
    for _ in 0..3 {
        assert_eq!(chat(&server).await.status, 200);
    }
    assert_eq!(a.chat_requests().len(), 3);
    // Three in a row: a cools; the next requests go to b only.
    a.set_default(Reply::status(500));
    for _ in 0..6 {
        assert_eq!(chat(&server).await.status, 200);
    }
    assert_eq!(
        a.chat_requests().len(),
        6,
        "3 before, 3 to cool, none after"
    );
    let health = server
        .admin_get("/api/health/accounts")
        .await
        .unwrap()
        .json();
    let a_health = health["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == "a")
        .unwrap()
        .clone();
    assert_eq!(a_health["status"], "unhealthy", "{health:#}");
}

#[tokio::test]
async fn half_of_ten_failing_in_the_window_cools_an_account() {
    let (a, b) = (FakeUpstream::start().await, FakeUpstream::start().await);
    let server = RookServer::start(bin(), &config(&[&a, &b], ""), &[])
        .await
        .unwrap();
    // Alternating failures never reach 3 in a row, but 5 of 10 is 50 % (the
    // rule is checked when a failure is recorded: the tenth outcome fails).
    for _ in 0..5 {
        a.push_all([Reply::auto(), Reply::status(500)]);
    }
    a.set_default(Reply::auto());
    for _ in 0..14 {
        assert_eq!(chat(&server).await.status, 200);
    }
    assert_eq!(
        a.chat_requests().len(),
        10,
        "cooled after the tenth outcome"
    );
}

#[tokio::test]
async fn a_truncated_answer_fails_over_or_is_a_502() {
    let (a, b) = (FakeUpstream::start().await, FakeUpstream::start().await);
    let cut = || {
        Reply::auto()
            .raw_sse(r#"{"id":"x","object":"chat.completion","choices":[{"mess"#.into())
            .header("content-type", "application/json")
    };
    let server = RookServer::start(bin(), &config(&[&a, &b], ""), &[])
        .await
        .unwrap();
    a.push(cut());
    let r = chat(&server).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["choices"].is_array());
    assert_eq!((a.chat_requests().len(), b.chat_requests().len()), (1, 1));
    // Nothing else succeeds: 502 naming the class.
    a.push(cut());
    b.push(cut());
    let r = chat(&server).await;
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "upstream_invalid_response");
    assert!(r.text().contains("invalid_response"), "{}", r.text());
}

#[tokio::test]
async fn one_account_and_a_first_byte_timeout_is_a_504() {
    let a = FakeUpstream::start().await;
    let server = RookServer::start(
        bin(),
        &config(&[&a], "[upstream]\nfirst_byte_timeout_ms = 300"),
        &[],
    )
    .await
    .unwrap();
    a.set_default(Reply::auto().delay(Duration::from_secs(3)));
    let r = chat(&server).await;
    assert_eq!(r.status, 504, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "upstream_timeout");
    assert!(r.text().contains("timeout"), "{}", r.text());
}

#[tokio::test]
async fn head_probes_and_metrics_present_from_start() {
    let a = FakeUpstream::start().await;
    let server = RookServer::start(bin(), &config(&[&a], ""), &[])
        .await
        .unwrap();
    for path in ["/api/health/live", "/api/health/ready", "/v1/models"] {
        let r = http::request("HEAD", &server.url(path), &[], None)
            .await
            .unwrap();
        assert_eq!(r.status, 200, "HEAD {path}");
        assert!(r.body.is_empty(), "HEAD {path} has no body");
    }
    // Right after start, before any traffic: every documented series without
    // per-request labels is there at 0.
    let m = metrics(&server).await;
    for series in [
        "rook_retry_budget_exhausted_total",
        "rook_usage_events_dropped_total{reason=\"queue_full\"}",
        "rook_usage_events_dropped_total{reason=\"write_failed\"}",
        "rook_upstream_in_flight",
    ] {
        assert_eq!(sample(&m, series), Some(0.0), "{series} missing:\n{m}");
    }
    let status: Value = server.admin_get("/api/status").await.unwrap().json();
    assert_eq!(status["routes_in_panic"], json!([]));
}

#[tokio::test]
async fn stream_events_that_are_not_json_pass_through_and_are_counted() {
    let a = FakeUpstream::start().await;
    let server = RookServer::start(bin(), &config(&[&a], ""), &[])
        .await
        .unwrap();
    let sse = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n\
               data: this is not json\n\n\
               data: [DONE]\n\n";
    a.push(Reply::auto().raw_sse(sse.to_string()));
    let body = json!({"model": "m", "stream": true, "stream_options": {"include_usage": false},
        "messages": [{"role": "user", "content": "hi"}]});
    let r = http::post_json(&server.url("/v1/chat/completions"), &[], &body)
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), sse, "relayed unchanged");
    let m = metrics(&server).await;
    assert_eq!(
        sample(
            &m,
            "rook_upstream_invalid_stream_events_total{vendor=\"custom\",account=\"acct_a\"}"
        ),
        Some(1.0),
        "{m}"
    );
}

#[tokio::test]
async fn a_config_with_three_mistakes_reports_all_three_in_one_run() {
    let cfg = r#"
host = "127.0.0.1"
port = {port}
database_url = "sqlite://{dir}/rook.db"
[upstream]
connect_timeout_ms = "fast"
[[accounts]]
id = "a"
vendr = "custom"
vendor = "openai"
[[pools]]
id = "p"
strategy = "priority"
members = ["a"]
[[routes]]
model = "m"
pool = "p"
"#;
    let (code, logs) = RookServer::start_expect_failure(bin(), cfg, &[])
        .await
        .unwrap();
    assert_eq!(code, 2, "{logs}");
    for needle in ["connect_timeout_ms", "vendr", "open_ai"] {
        assert!(logs.contains(needle), "{needle} missing:\n{logs}");
    }
}
