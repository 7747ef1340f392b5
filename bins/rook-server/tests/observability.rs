//! End to end: metrics, status, health and secret hygiene through the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use rook_test_support::{http, FakeUpstream, Reply, RookServer};
use serde_json::json;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rook-server"))
}

const ADMIN: &str = "admin-token-xyz-0123";
const CANARY: &str = "sk-CANARY-7f3a9c0d2e";

fn config(a: &FakeUpstream, b: &FakeUpstream) -> String {
    format!(
        r#"
host = "127.0.0.1"
port = {{port}}
database_url = "sqlite://{{dir}}/rook.db"

[admin_auth]
bearer_token_env = "ROOK_ADMIN_TOKEN"

[upstream_resilience]
failure_threshold = 2

[[accounts]]
id = "a"
vendor = "custom"
base_url = "{a}"
api_key_env = "KEY_A"
priority = 0

[[accounts]]
id = "b"
vendor = "open_ai"
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

fn admin() -> [(&'static str, String); 1] {
    [("authorization", format!("Bearer {ADMIN}"))]
}

async fn get_admin(server: &RookServer, path: &str) -> http::TestResponse {
    let [(k, v)] = admin();
    http::get(&server.url(path), &[(k, &v)]).await.unwrap()
}

fn parse(text: &str) -> prometheus_parse::Scrape {
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap()
}

fn value(s: &prometheus_parse::Sample) -> f64 {
    match s.value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => v,
        _ => f64::NAN,
    }
}

fn find<'a>(
    scrape: &'a prometheus_parse::Scrape,
    metric: &str,
    labels: &[(&str, &str)],
) -> Option<&'a prometheus_parse::Sample> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
}

#[tokio::test]
async fn metrics_status_and_health_reflect_retries_and_a_cooled_account() {
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    let env = [("ROOK_ADMIN_TOKEN", ADMIN), ("KEY_A", CANARY)];
    let server = RookServer::start(bin(), &config(&a, &b), &env)
        .await
        .unwrap();
    let url = server.url("/v1/chat/completions");
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});

    // 1) A fails with 500 → retried on B. 2) A rate-limited for 60 s → cooled, B serves.
    a.push(Reply::status(500));
    a.push(Reply::status(429).header("retry-after", "60"));
    for _ in 0..3 {
        assert_eq!(http::post_json(&url, &[], &body).await.unwrap().status, 200);
    }
    assert_eq!((a.request_count(), b.request_count()), (2, 3));

    let text = get_admin(&server, "/api/metrics").await.text();
    let scrape = parse(&text);
    let up = |acct: &str, outcome: &str| {
        find(
            &scrape,
            "rook_upstream_requests_total",
            &[("account", acct), ("outcome", outcome), ("model", "m")],
        )
        .map(value)
    };
    assert_eq!(up("acct_a", "server_error"), Some(1.0), "{text}");
    assert_eq!(up("acct_a", "rate_limited"), Some(1.0));
    assert_eq!(up("acct_b", "success"), Some(3.0));
    let retry = |outcome: &str| {
        scrape
            .samples
            .iter()
            .filter(|s| {
                s.metric == "rook_upstream_retry_outcomes_total"
                    && s.labels.get("outcome") == Some(outcome)
            })
            .map(value)
            .sum::<f64>()
    };
    assert_eq!(retry("retry_scheduled"), 2.0, "{text}");
    assert_eq!(retry("succeeded_after_retry"), 2.0);
    assert_eq!(
        find(
            &scrape,
            "rook_provider_account_cooldown_active",
            &[("account", "acct_a")]
        )
        .map(value),
        Some(1.0)
    );
    assert_eq!(
        find(
            &scrape,
            "rook_provider_account_health",
            &[("account", "acct_a"), ("status", "unhealthy")]
        )
        .map(value),
        Some(1.0)
    );
    assert_eq!(
        find(
            &scrape,
            "rook_provider_account_health",
            &[("account", "acct_b"), ("status", "healthy")]
        )
        .map(value),
        Some(1.0)
    );
    let remaining = find(
        &scrape,
        "rook_provider_account_cooldown_remaining_seconds",
        &[("account", "acct_a")],
    )
    .map(value)
    .unwrap();
    assert!(remaining > 50.0 && remaining <= 60.0, "{remaining}");
    assert_eq!(
        find(
            &scrape,
            "rook_http_requests_total",
            &[
                ("surface", "v1"),
                ("route", "/v1/chat/completions"),
                ("status_class", "2xx")
            ]
        )
        .map(value),
        Some(3.0)
    );
    assert!(find(
        &scrape,
        "rook_tokens_total",
        &[("account", "acct_b"), ("kind", "prompt")]
    )
    .is_some());
    assert!(find(&scrape, "rook_build_info", &[]).is_some());
    assert!(text.contains("rook_upstream_time_to_first_byte_seconds_bucket"));
    // Opaque labels only: no ids without the prefix, no URLs, no keys.
    for s in &scrape.samples {
        if let Some(acct) = s.labels.get("account") {
            assert!(acct.starts_with("acct_") || acct == "none", "{acct}");
        }
    }
    assert!(!text.contains("127.0.0.1"));
    assert!(!text.contains(CANARY));

    let status = get_admin(&server, "/api/status").await.json();
    assert_eq!(status["accounts"]["by_status"]["unhealthy"], 1);
    assert_eq!(status["accounts"]["by_status"]["healthy"], 1);
    assert_eq!(status["database"]["backend"], "sqlite");
    assert_eq!(status["bind"]["loopback"], true);
    assert_eq!(status["resilience"]["max_buffered_attempts"], 3);
    assert!(
        !status.to_string().contains("rook.db"),
        "status must not show the database path"
    );

    let health = get_admin(&server, "/api/health/accounts").await.json();
    let acct_a = health["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == "a")
        .unwrap()
        .clone();
    assert_eq!(acct_a["status"], "unhealthy");
    assert_eq!(acct_a["last_error_class"], "rate_limited");
    assert!(acct_a["cooldown_until"].as_str().unwrap().ends_with('Z'));

    let ready = http::get(&server.url("/api/health/ready"), &[])
        .await
        .unwrap();
    assert_eq!(ready.status, 200, "B is still available: {}", ready.text());
}

#[tokio::test]
async fn unknown_models_do_not_grow_the_series() {
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    let env = [("ROOK_ADMIN_TOKEN", ADMIN), ("KEY_A", CANARY)];
    let server = RookServer::start(bin(), &config(&a, &b), &env)
        .await
        .unwrap();
    let url = server.url("/v1/chat/completions");
    assert_eq!(
        http::post_json(&url, &[], &json!({"model": "m", "messages": []}))
            .await
            .unwrap()
            .status,
        200
    );
    let before = parse(&get_admin(&server, "/api/metrics").await.text())
        .samples
        .len();
    let mut tasks = Vec::new();
    for chunk in 0..10 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..100 {
                let model = format!("unknown-model-{chunk}-{i}");
                let r = http::post_json(&url, &[], &json!({"model": model, "messages": []}))
                    .await
                    .unwrap();
                assert_eq!(r.status, 404);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let text = get_admin(&server, "/api/metrics").await.text();
    let after = parse(&text).samples.len();
    assert!(
        !text.contains("unknown-model-"),
        "a client-chosen model name became a label"
    );
    // Only the 4xx status-class series (and its histogram buckets) may appear.
    assert!(after <= before + 40, "series grew from {before} to {after}");
}

#[tokio::test]
async fn secrets_never_leak_into_logs_metrics_or_errors() {
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    let env = [("ROOK_ADMIN_TOKEN", ADMIN), ("KEY_A", CANARY)];
    let server = RookServer::start(bin(), &config(&a, &b), &env)
        .await
        .unwrap();
    // The upstream echoes the key in its 401 (as some providers do) and in a 400.
    a.push(Reply::status(401).json(json!({"error": {"message": format!("Incorrect API key provided: {CANARY}"), "type": "invalid_request_error", "code": "invalid_api_key"}})));
    b.push(Reply::status(400).json(json!({"error": {"message": format!("bad request for key {CANARY}"), "type": "invalid_request_error"}})));
    let url = server.url("/v1/chat/completions");
    let r = http::post_json(&url, &[], &json!({"model": "m", "messages": []}))
        .await
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(!r.text().contains(CANARY), "{}", r.text());
    // A was taken out of rotation for its bad key.
    let health = get_admin(&server, "/api/health/accounts").await.json();
    let acct_a = health["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == "a")
        .unwrap()
        .clone();
    assert_eq!(acct_a["status"], "unhealthy");
    assert_eq!(acct_a["last_error_class"], "auth_error");

    // The operator fixed the key: a reset puts A back in rotation at once.
    let [(k, v)] = admin();
    let r = http::request(
        "POST",
        &server.url("/api/accounts/a/reset"),
        &[(k, &v), ("content-type", "application/json")],
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["account"]["status"], "healthy");
    let r = http::post_json(&url, &[], &json!({"model": "m", "messages": []}))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        a.request_count(),
        2,
        "A was not back in rotation after the reset"
    );

    let metrics = get_admin(&server, "/api/metrics").await.text();
    let status = get_admin(&server, "/api/status").await.text();
    for (what, text) in [
        ("metrics", &metrics),
        ("status", &status),
        ("logs", &server.logs()),
    ] {
        assert!(!text.contains(CANARY), "the canary key leaked into {what}");
        assert!(!text.contains(ADMIN), "the admin token leaked into {what}");
    }
}

#[tokio::test]
async fn every_admin_endpoint_requires_the_token() {
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    let env = [("ROOK_ADMIN_TOKEN", ADMIN), ("KEY_A", CANARY)];
    let server = RookServer::start(bin(), &config(&a, &b), &env)
        .await
        .unwrap();
    let paths = [
        ("GET", "/api/status"),
        ("GET", "/api/metrics"),
        ("GET", "/api/health/accounts"),
        ("GET", "/api/accounts"),
        ("POST", "/api/accounts"),
        ("GET", "/api/accounts/a"),
        ("DELETE", "/api/accounts/a"),
        ("GET", "/api/pools"),
        ("POST", "/api/pools"),
        ("DELETE", "/api/pools/main"),
        ("GET", "/api/routes"),
        ("POST", "/api/routes"),
        ("DELETE", "/api/routes/m"),
        ("GET", "/api/usage"),
        ("GET", "/api/audit/events"),
    ];
    for (method, path) in paths {
        for auth in [None, Some("Bearer wrong")] {
            let mut headers: Vec<(&str, &str)> =
                auth.map(|v| ("authorization", v)).into_iter().collect();
            headers.push(("content-type", "application/json"));
            let r = http::request(method, &server.url(path), &headers, Some(b"{}".to_vec()))
                .await
                .unwrap();
            assert_eq!(r.status, 401, "{method} {path} with {auth:?}: {}", r.text());
            assert_eq!(r.json()["error"]["code"], "unauthorized");
        }
    }
    // Probes stay open.
    assert_eq!(
        http::get(&server.url("/api/health/live"), &[])
            .await
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        http::get(&server.url("/api/health/ready"), &[])
            .await
            .unwrap()
            .status,
        200
    );
    // And the token works.
    assert_eq!(get_admin(&server, "/api/status").await.status, 200);
}

/// `/api/health/accounts` counts each account's upstream requests in flight: a stream
/// held open shows as 1 on its account, 0 once it ended.
#[tokio::test]
async fn account_health_shows_requests_in_flight() {
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    let env = [("ROOK_ADMIN_TOKEN", ADMIN), ("KEY_A", "key-a")];
    let server = RookServer::start(bin(), &config(&a, &b), &env)
        .await
        .unwrap();
    let in_flight = |v: &serde_json::Value, id: &str| {
        v["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["id"] == id)
            .map(|h| h["in_flight"].as_u64().unwrap())
    };
    let idle = get_admin(&server, "/api/health/accounts").await.json();
    assert_eq!(in_flight(&idle, "a"), Some(0), "{idle}");

    let pieces: Vec<String> = (0..4).map(|i| format!("p{i} ")).collect();
    a.push(Reply::stream(pieces).chunk_delay(std::time::Duration::from_millis(300)));
    let mut stream = http::post_json_stream(
        &server.url("/v1/chat/completions"),
        &[],
        &json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await
    .unwrap();
    assert_eq!(stream.status, 200);
    let _first = stream.next_chunk().await.unwrap().unwrap();
    let busy = get_admin(&server, "/api/health/accounts").await.json();
    assert_eq!(in_flight(&busy, "a"), Some(1), "{busy}");
    assert_eq!(in_flight(&busy, "b"), Some(0), "{busy}");
    let outcome = stream.collect().await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let after = get_admin(&server, "/api/health/accounts").await.json();
    assert_eq!(in_flight(&after, "a"), Some(0), "{after}");
}
