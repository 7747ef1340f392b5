//! End to end: usage accounting read back by the real `rook-cli`, idempotency on
//! SQLite and on PostgreSQL shared by two instances, rate limits, and usage events
//! surviving a database outage.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rook_test_support::cluster::{postgres_url, TempDatabase};
use rook_test_support::tcp_proxy::{Mode, TcpProxy};
use rook_test_support::{http, workspace_bin, FakeUpstream, Reply, RookServer};
use serde_json::{json, Value};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rook-server"))
}

fn cli() -> PathBuf {
    workspace_bin("rook-cli", "rook-cli").unwrap()
}

/// One `open_ai`-vendor account (so Rook asks streams for usage) on the fake.
fn config(up: &FakeUpstream, database_url: &str, extra: &str) -> String {
    format!(
        r#"
host = "127.0.0.1"
port = {{port}}
database_url = "{database_url}"
{extra}

[usage]
flush_interval_ms = 50

[pricing."m"]
input_usd_per_million = 1000.0
output_usd_per_million = 2000.0

{route}"#,
        route = rook_test_support::config::one_route(up),
    )
}

const ENV: &[(&str, &str)] = &[("KEY_A", "sk-upstream-a")];

fn chat(stream: bool) -> Value {
    json!({"model": "m", "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
}

fn usage_report(config_path: &Path) -> Value {
    let out = Command::new(cli())
        .args([
            "usage",
            "report",
            "--format",
            "json",
            "--since",
            "1h",
            "--group-by",
            "outcome",
            "--config",
        ])
        .arg(config_path)
        .env_remove("ROOK_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rook-cli failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn usage_report_matches_the_traffic_sent() {
    let up = FakeUpstream::start().await;
    let mut server = RookServer::start(bin(), &config(&up, "sqlite://{dir}/rook.db", ""), ENV)
        .await
        .unwrap();
    let url = server.url("/v1/chat/completions");
    // 3 buffered answers (10 prompt + 5 completion tokens each).
    for _ in 0..3 {
        assert_eq!(
            http::post_json(&url, &[], &chat(false))
                .await
                .unwrap()
                .status,
            200
        );
    }
    // 2 streams without stream_options: Rook asks for usage and strips the chunk.
    for _ in 0..2 {
        let s = http::post_json_stream(&url, &[], &chat(true))
            .await
            .unwrap();
        let out = s.collect().await;
        let text = out.text();
        assert!(
            !text.contains("\"usage\""),
            "the injected usage chunk reached the client: {text}"
        );
        assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    }
    let sent = up.chat_requests();
    assert_eq!(
        sent.last().unwrap().json()["stream_options"]["include_usage"],
        true
    );
    // 1 stream that asked for usage itself: the client gets the chunk.
    let mut with_usage = chat(true);
    with_usage["stream_options"] = json!({"include_usage": true});
    let s = http::post_json_stream(&url, &[], &with_usage)
        .await
        .unwrap();
    assert!(s.collect().await.text().contains("\"usage\""));
    // 1 upstream client error and 1 malformed request: failed requests.
    up.push(Reply::status(400));
    assert_eq!(
        http::post_json(&url, &[], &chat(false))
            .await
            .unwrap()
            .status,
        400
    );
    let r = http::request(
        "POST",
        &url,
        &[("content-type", "application/json")],
        Some(b"{oops".to_vec()),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 400);

    // Shutdown drains the usage queue.
    server.sigterm().unwrap();
    assert!(server
        .wait_exit(Duration::from_secs(15))
        .await
        .unwrap()
        .success());

    let report = usage_report(server.config_path());
    let t = &report["totals"];
    assert_eq!(t["requests"], 8, "{report:#}");
    assert_eq!(t["failed_requests"], 2);
    assert_eq!(t["streaming_requests"], 3);
    assert_eq!(t["prompt_tokens"], 60);
    assert_eq!(t["completion_tokens"], 30);
    assert_eq!(t["total_tokens"], 90);
    // 60 × 1000/1M + 30 × 2000/1M
    assert!((t["cost_usd"].as_f64().unwrap() - 0.12).abs() < 1e-9, "{t}");
    let outcomes: Vec<&str> = report["groups"]["outcome"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["error", "success"]);
}

#[tokio::test]
async fn a_broken_stream_is_counted_as_partial() {
    let up = FakeUpstream::start().await;
    let mut server = RookServer::start(bin(), &config(&up, "sqlite://{dir}/rook.db", ""), ENV)
        .await
        .unwrap();
    let chunks: Vec<String> = (0..6).map(|i| format!("w{i} ")).collect();
    up.push(
        Reply::stream(chunks)
            .chunk_delay(Duration::from_millis(10))
            .break_after(2),
    );
    let s = http::post_json_stream(&server.url("/v1/chat/completions"), &[], &chat(true))
        .await
        .unwrap();
    s.collect().await;
    server.sigterm().unwrap();
    server.wait_exit(Duration::from_secs(15)).await.unwrap();
    let report = usage_report(server.config_path());
    assert_eq!(
        report["groups"]["outcome"][0]["key"], "partial",
        "{report:#}"
    );
}

async fn idempotency_cases(servers: &[&RookServer], up: &FakeUpstream) {
    let key = [("idempotency-key", "order-42")];
    let urls: Vec<String> = servers
        .iter()
        .map(|s| s.url("/v1/chat/completions"))
        .collect();
    let first = http::post_json(&urls[0], &key, &chat(false)).await.unwrap();
    assert_eq!(first.status, 200);
    assert_eq!(up.request_count(), 1);
    for url in &urls {
        let again = http::post_json(url, &key, &chat(false)).await.unwrap();
        assert_eq!(again.status, 200);
        assert_eq!(again.header("idempotency-replayed"), Some("true"));
        assert_eq!(
            again.body, first.body,
            "the replay must be the stored answer"
        );
    }
    assert_eq!(up.request_count(), 1, "a replay must not call upstream");
    // Same key, different body.
    let mut other = chat(false);
    other["temperature"] = json!(0.5);
    let r = http::post_json(&urls[0], &key, &other).await.unwrap();
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["error"]["code"], "idempotency_key_reused");
    // Failures are not stored: the key runs again.
    let key2 = [("idempotency-key", "order-43")];
    up.push(Reply::status(400));
    assert_eq!(
        http::post_json(&urls[0], &key2, &chat(false))
            .await
            .unwrap()
            .status,
        400
    );
    let r = http::post_json(urls.last().unwrap(), &key2, &chat(false))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert!(r.header("idempotency-replayed").is_none());
    // Concurrent: the same key sent to every instance at once while the first is slow.
    let calls_before = up.request_count();
    up.push(Reply::chat("slow").delay(Duration::from_millis(700)));
    let key3 = ("idempotency-key", "order-44");
    let mut tasks = Vec::new();
    for url in urls.iter().chain(urls.iter()) {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            http::post_json(&url, &[key3], &chat(false)).await.unwrap()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            200 => ok += 1,
            409 => assert_eq!(r.json()["error"]["code"], "idempotency_request_in_progress"),
            s => panic!("unexpected {s}: {}", r.text()),
        }
    }
    assert!(ok >= 1);
    assert_eq!(
        up.request_count(),
        calls_before + 1,
        "exactly one upstream call for one key"
    );
}

#[tokio::test]
async fn idempotency_on_sqlite() {
    let up = FakeUpstream::start().await;
    let server = RookServer::start(bin(), &config(&up, "sqlite://{dir}/rook.db", ""), ENV)
        .await
        .unwrap();
    idempotency_cases(&[&server], &up).await;
}

#[tokio::test]
async fn idempotency_across_two_instances_sharing_postgres() {
    let Some(admin) = postgres_url() else { return };
    let db = TempDatabase::create(&admin, "e2e").unwrap();
    let up = FakeUpstream::start().await;
    let cfg = config(&up, &db.url(), "");
    let one = RookServer::start(bin(), &cfg, ENV).await.unwrap();
    let two = RookServer::start(bin(), &cfg, ENV).await.unwrap();
    idempotency_cases(&[&one, &two], &up).await;
    drop((one, two));
}

#[tokio::test]
async fn rate_limits_answer_429_without_an_upstream_call() {
    let up = FakeUpstream::start().await;
    let extra = "[rate_limits]\nroute_requests_per_minute = 2";
    let server = RookServer::start(bin(), &config(&up, "sqlite://{dir}/rook.db", extra), ENV)
        .await
        .unwrap();
    let url = server.url("/v1/chat/completions");
    for _ in 0..2 {
        assert_eq!(
            http::post_json(&url, &[], &chat(false))
                .await
                .unwrap()
                .status,
            200
        );
    }
    let r = http::post_json(&url, &[], &chat(false)).await.unwrap();
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "rate_limit_exceeded");
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=30).contains(&wait), "{wait}");
    assert_eq!(up.request_count(), 2);
}

#[tokio::test]
async fn an_account_over_its_rate_limit_is_skipped() {
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    let cfg = format!(
        r#"
port = {{port}}
database_url = "sqlite://{{dir}}/rook.db"
[[accounts]]
id = "a"
vendor = "custom"
base_url = "{a}"
requests_per_minute = 1
[[accounts]]
id = "b"
vendor = "custom"
base_url = "{b}"
priority = 1
tokens_per_minute = 1000
[[pools]]
id = "p"
strategy = "priority"
members = ["a", "b"]
[[routes]]
model = "m"
pool = "p"
"#,
        a = a.base_url(),
        b = b.base_url()
    );
    let server = RookServer::start(bin(), &cfg, &[]).await.unwrap();
    let url = server.url("/v1/chat/completions");
    assert_eq!(
        http::post_json(&url, &[], &chat(false))
            .await
            .unwrap()
            .status,
        200
    );
    assert_eq!((a.request_count(), b.request_count()), (1, 0));
    // A has spent its request; B takes the next.
    assert_eq!(
        http::post_json(&url, &[], &chat(false))
            .await
            .unwrap()
            .status,
        200
    );
    assert_eq!((a.request_count(), b.request_count()), (1, 1));
    // B's token budget: a request estimated above what is left waits (429).
    let big = json!({"model": "m", "max_tokens": 990, "messages": []});
    let r = http::post_json(&url, &[], &big).await.unwrap();
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "account_rate_limit_exceeded");
    assert!(r.header("retry-after").is_some());
    assert_eq!((a.request_count(), b.request_count()), (1, 1));
}

#[tokio::test]
async fn usage_events_survive_a_database_outage() {
    let Some(admin) = postgres_url() else { return };
    let db = TempDatabase::create(&admin, "e2e").unwrap();
    let proxy = TcpProxy::start(db.server_addr().unwrap()).await.unwrap();
    let via_proxy = db.url_at(&proxy.addr().to_string());
    let up = FakeUpstream::start().await;
    let mut server = RookServer::start(bin(), &config(&up, &via_proxy, ""), ENV)
        .await
        .unwrap();
    let url = server.url("/v1/chat/completions");
    for _ in 0..5 {
        assert_eq!(
            http::post_json(&url, &[], &chat(false))
                .await
                .unwrap()
                .status,
            200
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.set(Mode::Refuse);
    // Requests keep being served while the database is away.
    for _ in 0..20 {
        assert_eq!(
            http::post_json(&url, &[], &chat(false))
                .await
                .unwrap()
                .status,
            200
        );
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.set(Mode::Open);
    for _ in 0..5 {
        assert_eq!(
            http::post_json(&url, &[], &chat(false))
                .await
                .unwrap()
                .status,
            200
        );
    }
    server.sigterm().unwrap();
    assert!(
        server
            .wait_exit(Duration::from_secs(30))
            .await
            .unwrap()
            .success(),
        "{}",
        server.logs()
    );
    // Read back directly (not through the proxy).
    let cfg_path = server.config_path().with_file_name("direct.toml");
    std::fs::write(&cfg_path, format!("database_url = \"{}\"\n", db.url())).unwrap();
    let report = usage_report(&cfg_path);
    assert_eq!(
        report["totals"]["requests"],
        30,
        "events were lost: {report:#}\n{}",
        server.logs()
    );
    assert!(
        server.logs().contains("usage write failed"),
        "the outage was not noticed: {}",
        server.logs()
    );
}
