//! End to end: a PostgreSQL outage is bounded (issue 14). The real `rook-server` talks to
//! PostgreSQL through a TCP proxy (`rook_test_support::tcp_proxy`) that the test cuts for
//! about 10 s, first as a partition (open connections hang: blackhole), then as a
//! stopped server (connections closed and refused). The machine's PostgreSQL is never
//! touched. Throughout, plain chat is served (200); admin calls answer 503
//! `database_unavailable`, idempotent requests 503 `idempotency_unavailable` (in the
//! caller's protocol) and readiness 503, each within 2 s and with `Retry-After`.
//! Afterwards everything recovers on its own: readiness, admin writes, idempotent
//! requests and replays, and the usage of every request served during the outage.
//!
//! Needs `ROOK_TEST_POSTGRES_URL` (skipped without it, a failure under `CI`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rook_test_support::cluster::{postgres_url, TempDatabase};
use rook_test_support::tcp_proxy::{Mode, TcpProxy};
use rook_test_support::{http, FakeUpstream, RookServer, TestResponse};
use serde_json::{json, Value};

const ADMIN: &str = "admin-token-0123456789abcdef";
const TOKEN: &str = "inbound-token-0123456789";
/// What the issue allows a refusal to take.
const BOUND: Duration = Duration::from_secs(2);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rook-server"))
}

fn config(up: &FakeUpstream, database_url: &str) -> String {
    format!(
        r#"
host = "127.0.0.1"
port = {{port}}
database_url = "{database_url}"

[inbound_auth]
enabled = true

[usage]
flush_interval_ms = 50

{route}"#,
        route = rook_test_support::config::one_route(up),
    )
}

const ENV: &[(&str, &str)] = &[
    ("KEY_A", "sk-upstream-a"),
    ("ROOK_TOKEN", TOKEN),
    ("ROOK_ADMIN_TOKEN", ADMIN),
];

fn chat_body(content: &str) -> Value {
    json!({"model": "m", "messages": [{"role": "user", "content": content}]})
}

async fn chat(server: &RookServer, idempotency_key: Option<&str>, content: &str) -> TestResponse {
    let auth = format!("Bearer {TOKEN}");
    let mut headers = vec![("authorization", auth.as_str())];
    if let Some(k) = idempotency_key {
        headers.push(("idempotency-key", k));
    }
    http::post_json(
        &server.url("/v1/chat/completions"),
        &headers,
        &chat_body(content),
    )
    .await
    .unwrap()
}

async fn messages_idempotent(server: &RookServer, key: &str) -> TestResponse {
    let body = json!({"model": "m", "max_tokens": 16,
        "messages": [{"role": "user", "content": "hi"}]});
    http::post_json(
        &server.url("/v1/messages"),
        &[
            ("x-api-key", TOKEN),
            ("anthropic-version", "2023-06-01"),
            ("idempotency-key", key),
        ],
        &body,
    )
    .await
    .unwrap()
}

async fn admin(server: &RookServer, method: &str, path: &str, body: Option<Value>) -> TestResponse {
    let auth = format!("Bearer {ADMIN}");
    let bytes = body.map(|b| serde_json::to_vec(&b).unwrap());
    let mut headers = vec![("authorization", auth.as_str())];
    if bytes.is_some() {
        headers.push(("content-type", "application/json"));
    }
    http::request(method, &server.url(path), &headers, bytes)
        .await
        .unwrap()
}

fn code(r: &TestResponse) -> String {
    r.try_json()
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Runs `f`, returning its answer and how long it took.
async fn timed<F: std::future::Future<Output = TestResponse>>(f: F) -> (TestResponse, Duration) {
    let start = Instant::now();
    let r = f.await;
    (r, start.elapsed())
}

/// Every database-dependent call, at once, during an outage: each refused fast with the
/// right code and `Retry-After`.
async fn assert_refused_fast(server: &RookServer, phase: &str, round: usize) {
    let idem = format!("outage-{phase}-{round}");
    let route = json!({"model": format!("new-{phase}-{round}"), "pool": "p"});
    let (
        (list, list_t),
        (write, write_t),
        (openai, openai_t),
        (anthropic, anthropic_t),
        (ready, ready_t),
    ) = tokio::join!(
        timed(admin(server, "GET", "/api/accounts", None)),
        timed(admin(server, "POST", "/api/routes", Some(route))),
        timed(chat(server, Some(&idem), "idempotent")),
        timed(messages_idempotent(server, &idem)),
        timed(ready(server)),
    );
    for (what, r, took) in [
        ("admin read", &list, list_t),
        ("admin write", &write, write_t),
    ] {
        assert_eq!(r.status, 503, "{phase}: {what}: {}", r.text());
        assert_eq!(code(r), "database_unavailable", "{phase}: {what}");
        assert_eq!(r.header("retry-after"), Some("1"), "{phase}: {what}");
        assert!(took < BOUND, "{phase}: {what} took {took:?}");
    }
    assert_eq!(openai.status, 503, "{phase}: {}", openai.text());
    assert_eq!(code(&openai), "idempotency_unavailable", "{phase}");
    assert_eq!(openai.header("retry-after"), Some("1"), "{phase}");
    assert!(
        openai_t < BOUND,
        "{phase}: idempotent chat took {openai_t:?}"
    );
    // Anthropic's envelope on /v1/messages.
    assert_eq!(anthropic.status, 503, "{phase}: {}", anthropic.text());
    let a = anthropic.json();
    assert_eq!(a["type"], "error", "{phase}: {a}");
    assert_eq!(a["error"]["type"], "overloaded_error", "{phase}: {a}");
    assert!(
        a["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Idempotency-Key"),
        "{a}"
    );
    assert_eq!(anthropic.header("retry-after"), Some("1"), "{phase}");
    assert!(
        anthropic_t < BOUND,
        "{phase}: idempotent messages took {anthropic_t:?}"
    );
    assert_eq!(ready.status, 503, "{phase}: {}", ready.text());
    let db = &ready.json()["checks"][0];
    assert_eq!(db["name"], "database");
    assert_eq!(db["ok"], false, "{phase}: {db}");
    assert!(ready_t < BOUND, "{phase}: readiness took {ready_t:?}");
}

async fn ready(server: &RookServer) -> TestResponse {
    http::get(&server.url("/api/health/ready"), &[])
        .await
        .unwrap()
}

/// Waits until `f` holds (up to `limit`).
async fn eventually<F: std::future::Future<Output = bool>>(
    limit: Duration,
    mut f: impl FnMut() -> F,
) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_is_bounded_and_recovers_on_its_own() {
    let Some(admin_url) = postgres_url() else {
        return;
    };
    let db = TempDatabase::create(&admin_url, "outage").unwrap();
    let proxy = TcpProxy::start(db.server_addr().unwrap()).await.unwrap();
    let via_proxy = db.url_at(&proxy.addr().to_string());
    let up = FakeUpstream::start().await;
    let server = RookServer::start(bin(), &config(&up, &via_proxy), ENV)
        .await
        .unwrap();

    // Healthy: everything works, readiness is 200.
    assert_eq!(chat(&server, None, "before").await.status, 200);
    assert_eq!(chat(&server, Some("before"), "before").await.status, 200);
    let ready = http::get(&server.url("/api/health/ready"), &[])
        .await
        .unwrap();
    assert_eq!(ready.status, 200, "{}", ready.text());

    // Plain chat throughout: one request every 100 ms, recording status and request id.
    let served: Arc<Mutex<Vec<(u16, String)>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let chatter = {
        let (served, stop, url) = (
            served.clone(),
            stop.clone(),
            server.url("/v1/chat/completions"),
        );
        tokio::spawn(async move {
            let auth = format!("Bearer {TOKEN}");
            let mut slowest = Duration::ZERO;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let start = Instant::now();
                let r = http::post_json(&url, &[("authorization", &auth)], &chat_body("plain"))
                    .await
                    .unwrap();
                slowest = slowest.max(start.elapsed());
                let id = r.header("x-request-id").unwrap_or("").to_string();
                served.lock().unwrap().push((r.status, id));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            slowest
        })
    };

    // ~10 s outage: 5 s partition (open connections hang), then 5 s stopped server.
    let outage = Instant::now();
    for (phase, mode) in [("blackhole", Mode::Blackhole), ("refuse", Mode::Refuse)] {
        proxy.set(mode);
        let phase_start = Instant::now();
        let mut round = 0;
        while phase_start.elapsed() < Duration::from_secs(5) {
            assert_refused_fast(&server, phase, round).await;
            round += 1;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    let during = served.lock().unwrap().len();
    proxy.set(Mode::Open);
    let outage_len = outage.elapsed();
    assert!(outage_len >= Duration::from_secs(10));

    // Recovery, on its own: readiness first.
    let recovered = Instant::now();
    assert!(
        eventually(Duration::from_secs(15), || async {
            http::get(&server.url("/api/health/ready"), &[])
                .await
                .is_ok_and(|r| r.status == 200)
        })
        .await,
        "readiness did not come back; logs:\n{}",
        server.logs()
    );
    // An admin write works (and reaches routing).
    let (created, took) = timed(admin(
        &server,
        "POST",
        "/api/routes",
        Some(json!({"model": "after", "pool": "p"})),
    ))
    .await;
    assert_eq!(created.status, 201, "{}", created.text());
    assert!(took < BOUND);
    let auth = format!("Bearer {TOKEN}");
    let routed = http::post_json(
        &server.url("/v1/chat/completions"),
        &[("authorization", &auth)],
        &json!({"model": "after", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await
    .unwrap();
    assert_eq!(routed.status, 200);
    // An idempotent request runs, and its repeat is replayed. The keys refused during
    // the outage were never claimed: they run now.
    let first = chat(&server, Some("after"), "after").await;
    assert_eq!(first.status, 200, "{}", first.text());
    let again = chat(&server, Some("after"), "after").await;
    assert_eq!(again.status, 200);
    assert_eq!(again.header("idempotency-replayed"), Some("true"));
    assert_eq!(
        chat(&server, Some("outage-refuse-0"), "idempotent")
            .await
            .status,
        200
    );

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let slowest_chat = chatter.await.unwrap();
    let served = served.lock().unwrap().clone();
    // Plain chat was served throughout, never waiting on the database.
    assert!(during >= 30, "only {during} chats during the outage");
    assert!(served.iter().all(|(s, _)| *s == 200), "{served:?}");
    assert!(slowest_chat < BOUND, "a plain chat took {slowest_chat:?}");

    // The usage of every request served during the outage is written once it is back.
    let ids: Vec<String> = served.iter().map(|(_, id)| id.clone()).collect();
    assert!(ids.iter().all(|id| !id.is_empty()));
    let list = ids
        .iter()
        .map(|id| format!("'{}'", id.replace('\'', "")))
        .collect::<Vec<_>>()
        .join(",");
    let query =
        format!("SELECT count(DISTINCT request_id) FROM usage_events WHERE request_id IN ({list})");
    let written = eventually(Duration::from_secs(20), || {
        let (url, query, n) = (db.url(), query.clone(), ids.len());
        async move { psql_value(&url, &query).trim() == n.to_string() }
    })
    .await;
    assert!(
        written,
        "usage of {} requests not all written: {}",
        ids.len(),
        psql_value(&db.url(), &query)
    );
    eprintln!(
        "outage {outage_len:?}; recovered in {:?}; {} chats served",
        recovered.elapsed(),
        served.len()
    );

    // One warning for the outage from the key store, not one per poll.
    let logs = server.logs();
    let warned = logs
        .matches("client keys: the registry is unreachable")
        .count();
    assert_eq!(warned, 1, "logs:\n{logs}");
    assert!(logs.contains("client keys: the registry is reachable again"));
    // No secret in the logs.
    for secret in [TOKEN, ADMIN, "sk-upstream-a"] {
        assert!(!logs.contains(secret));
    }
}

fn psql_value(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .arg(url)
        .args(["-v", "ON_ERROR_STOP=1", "-tA", "-c", sql])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}
