//! End to end: the configuration file changed under a running `rook-server`, then
//! reloaded by SIGHUP or `POST /api/config/reload`: a new route serves, a removed one
//! answers 404, a stream already running finishes on the routing it started with, an
//! invalid edit is refused and the running configuration stays.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use rook_test_support::{http, FakeUpstream, Reply, RookServer};
use serde_json::{json, Value};

const TOKEN: &str = "client-token-reload";
const ENV: &[(&str, &str)] = &[
    ("ROOK_TOKEN", TOKEN),
    ("KEY_A", "key-a"),
    ("KEY_B", "key-b"),
];

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rook-server"))
}

/// The head of every version of the file; `{port}` and `{dir}` as the harness fills them.
fn head(port: &str, dir: &str) -> String {
    format!(
        r#"
host = "127.0.0.1"
port = {port}
database_url = "sqlite://{dir}/rook.db"

[inbound_auth]
enabled = true
bearer_token_env = "ROOK_TOKEN"
"#
    )
}

fn account(id: &str, up: &FakeUpstream, key_env: &str) -> String {
    format!(
        "\n[[accounts]]\nid = \"{id}\"\nvendor = \"custom\"\nbase_url = \"{}\"\napi_key_env = \"{key_env}\"\n",
        up.base_url()
    )
}

fn route(model: &str, pool: &str, members: &str) -> String {
    format!(
        "\n[[pools]]\nid = \"{pool}\"\nstrategy = \"priority\"\nmembers = [{members}]\n\n[[routes]]\nmodel = \"{model}\"\npool = \"{pool}\"\n"
    )
}

/// Version 1: `old-model` on account `a`.
fn first(a: &FakeUpstream) -> String {
    format!(
        "{}{}{}",
        head("{port}", "{dir}"),
        account("a", a, "KEY_A"),
        route("old-model", "pa", "\"a\"")
    )
}

/// Version 2, for a running server: `old-model` gone, `new-model` on account `b`.
fn second(server: &RookServer, a: &FakeUpstream, b: &FakeUpstream, port: u16) -> String {
    format!(
        "{}{}{}{}",
        head(&port.to_string(), &server.dir().display().to_string()),
        account("a", a, "KEY_A"),
        account("b", b, "KEY_B"),
        route("new-model", "pb", "\"b\"")
    )
}

fn chat(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
}

async fn call(server: &RookServer, model: &str) -> http::TestResponse {
    let auth = format!("Bearer {TOKEN}");
    http::post_json(
        &server.url("/v1/chat/completions"),
        &[("authorization", auth.as_str())],
        &chat(model, false),
    )
    .await
    .unwrap()
}

async fn admin_reload(server: &RookServer) -> http::TestResponse {
    let auth = format!("Bearer {}", server.admin_token().unwrap());
    http::post_json(
        &server.url("/api/config/reload"),
        &[("authorization", auth.as_str())],
        &json!({}),
    )
    .await
    .unwrap()
}

/// The value of `rook_config_reloads_total{result}`.
async fn reloads(server: &RookServer, result: &str) -> f64 {
    let text = server.admin_get("/api/metrics").await.unwrap().text();
    let needle = format!("rook_config_reloads_total{{result=\"{result}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&needle))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or_else(|| panic!("no {needle} in:\n{text}"))
}

async fn wait_reloads(server: &RookServer, result: &str, n: f64) {
    for _ in 0..200 {
        if reloads(server, result).await >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "rook_config_reloads_total{{result={result:?}}} never reached {n}; logs:\n{}",
        server.logs()
    );
}

/// An edit the loader refuses: an unknown key and a route to a pool nobody declared.
fn invalid(server: &RookServer, a: &FakeUpstream, port: u16) -> String {
    format!(
        "{}\nno_such_key = 1\n{}\n[[routes]]\nmodel = \"ghost\"\npool = \"missing\"\n",
        head(&port.to_string(), &server.dir().display().to_string()),
        account("a", a, "KEY_A"),
    )
}

#[tokio::test]
async fn sighup_applies_routes_keeps_streams_and_refuses_invalid_files() {
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    let server = RookServer::start(bin(), &first(&a), ENV).await.unwrap();
    for result in ["applied", "unchanged", "rejected", "failed"] {
        assert_eq!(reloads(&server, result).await, 0.0, "{result}");
    }
    assert_eq!(call(&server, "old-model").await.status, 200);
    assert_eq!(call(&server, "new-model").await.status, 404);

    // A slow stream on the old route, running while the file changes.
    let pieces: Vec<String> = (0..6).map(|i| format!("piece{i} ")).collect();
    a.push(Reply::stream(pieces.clone()).chunk_delay(Duration::from_millis(300)));
    let auth = format!("Bearer {TOKEN}");
    let mut stream = http::post_json_stream(
        &server.url("/v1/chat/completions"),
        &[("authorization", auth.as_str())],
        &chat("old-model", true),
    )
    .await
    .unwrap();
    assert_eq!(stream.status, 200);
    let _first = stream.next_chunk().await.unwrap().unwrap();

    // Version 2, with a changed port: that one needs a restart and is reported.
    let port = server.port();
    let v2 = second(&server, &a, &b, port).replace(
        &format!("port = {port}"),
        &format!("port = {}", port.wrapping_add(1)),
    );
    std::fs::write(server.config_path(), v2).unwrap();
    server.signal("HUP").unwrap();
    wait_reloads(&server, "applied", 1.0).await;
    let reloaded_at = std::time::Instant::now();
    let logs = server.logs();
    assert!(logs.contains("needs a restart"), "{logs}");
    assert!(logs.contains("port"), "{logs}");

    // The stream started before the reload ends normally on the old snapshot.
    let outcome = stream.collect().await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let text = outcome.text();
    for p in &pieces {
        assert!(text.contains(p.trim()), "{p} missing from {text}");
    }
    assert!(text.contains("data: [DONE]"), "{text}");
    // It really was in flight across the reload.
    assert!(
        outcome.chunks.last().unwrap().at > reloaded_at,
        "the stream ended before the reload was applied"
    );

    // New routing: the added route serves through the added account, the removed
    // route is gone.
    let before = b.chat_requests().len();
    let resp = call(&server, "new-model").await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(b.chat_requests().len(), before + 1);
    let gone = call(&server, "old-model").await;
    assert_eq!(gone.status, 404, "{}", gone.text());
    assert_eq!(gone.json()["error"]["code"], "model_not_found");
    // Still listening on the old port.
    assert_eq!(server.port(), port);

    // An invalid edit changes nothing and logs every problem.
    std::fs::write(server.config_path(), invalid(&server, &a, port)).unwrap();
    server.signal("HUP").unwrap();
    wait_reloads(&server, "rejected", 1.0).await;
    assert!(
        server
            .wait_for_log("configuration not reloaded", Duration::from_secs(5))
            .await
    );
    let logs = server.logs();
    assert!(logs.contains("no_such_key"), "{logs}");
    assert_eq!(call(&server, "new-model").await.status, 200);
    assert_eq!(call(&server, "old-model").await.status, 404);
    assert_eq!(call(&server, "ghost").await.status, 404);
    assert_eq!(reloads(&server, "applied").await, 1.0);

    // Both reloads are audited, by the signal.
    let events = server
        .admin_get("/api/audit/events?limit=10")
        .await
        .unwrap()
        .json();
    let reloads: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["entity_type"] == "config")
        .collect();
    assert_eq!(reloads.len(), 2, "{events}");
    assert!(reloads
        .iter()
        .all(|e| e["actor"] == "signal" && e["action"] == "reload"));
    assert_eq!(reloads[0]["detail"]["result"], "rejected");
    assert_eq!(reloads[1]["detail"]["result"], "applied");
    assert_eq!(
        reloads[1]["detail"]["applied"],
        json!(["accounts", "pools", "routes"])
    );
    assert_eq!(reloads[1]["detail"]["restart_required"], json!(["port"]));
}

#[tokio::test]
async fn the_endpoint_reports_changes_restarts_and_problems() {
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    let server = RookServer::start(bin(), &first(&a), ENV).await.unwrap();
    let port = server.port();

    // Admin only.
    let anon = http::post_json(&server.url("/api/config/reload"), &[], &json!({}))
        .await
        .unwrap();
    assert_eq!(anon.status, 401);

    // Nothing changed.
    let same = admin_reload(&server).await;
    assert_eq!(same.status, 200, "{}", same.text());
    assert_eq!(same.json()["result"], "unchanged");

    // Routes, prices and the log level live, the database URL at the next restart.
    let v2 = second(&server, &a, &b, port)
        .replace("rook.db", "other.db")
        .replace("[inbound_auth]", "log_level = \"warn\"\n\n[inbound_auth]")
        + "\n[pricing.\"new-model\"]\ninput_usd_per_million = 1000000.0\noutput_usd_per_million = 0.0\n";
    std::fs::write(server.config_path(), v2).unwrap();
    let resp = admin_reload(&server).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let body = resp.json();
    assert_eq!(body["result"], "applied");
    assert_eq!(
        body["applied"],
        json!(["accounts", "log_level", "pools", "pricing", "routes"])
    );
    assert_eq!(body["restart_required"], json!(["database_url"]));
    assert_eq!(body["problems"], json!([]));
    assert_eq!(
        body["source"],
        json!(server.config_path().display().to_string())
    );
    assert_eq!(call(&server, "new-model").await.status, 200);
    assert_eq!(call(&server, "old-model").await.status, 404);
    // The new price table costs the request (one US dollar per prompt token).
    let mut cost = 0.0;
    for _ in 0..100 {
        let usage = server
            .admin_get("/api/usage?group_by=model")
            .await
            .unwrap()
            .json();
        let group = usage["groups"]["model"]
            .as_array()
            .and_then(|g| g.iter().find(|g| g["key"] == "new-model").cloned());
        if let Some(g) = group {
            cost = g["cost_usd"].as_f64().unwrap_or(0.0);
            if cost > 0.0 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(cost >= 1.0, "new-model cost {cost}");
    // The warn filter is in force: the next reload's info line is not written (unless
    // RUST_LOG, which takes precedence, is set for this test run).
    let infos = |logs: &str| logs.matches("configuration reloaded").count();
    let before = infos(&server.logs());
    assert!(before >= 1, "{}", server.logs());
    assert_eq!(admin_reload(&server).await.json()["result"], "unchanged");
    if std::env::var_os("RUST_LOG").is_none() {
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(infos(&server.logs()), before, "{}", server.logs());
    }

    // A file the loader accepts but whose account key is missing: refused before any
    // change, with the reason.
    let missing_key = second(&server, &a, &b, port)
        .replace("KEY_B", "KEY_NOT_SET")
        .replace("new-model", "third-model");
    std::fs::write(server.config_path(), missing_key).unwrap();
    let refused = admin_reload(&server).await;
    assert_eq!(refused.status, 422, "{}", refused.text());
    let body = refused.json();
    assert_eq!(body["error"]["code"], "invalid_configuration");
    assert_eq!(body["result"], "rejected");
    assert!(
        body["problems"][0]
            .as_str()
            .unwrap()
            .contains("KEY_NOT_SET"),
        "{body}"
    );
    assert_eq!(call(&server, "new-model").await.status, 200);
    assert_eq!(call(&server, "third-model").await.status, 404);

    // A syntax error: every problem listed, nothing changed.
    std::fs::write(server.config_path(), invalid(&server, &a, port)).unwrap();
    let refused = admin_reload(&server).await;
    assert_eq!(refused.status, 422, "{}", refused.text());
    let problems = refused.json()["problems"].clone();
    assert!(problems.to_string().contains("no_such_key"), "{problems}");
    assert_eq!(call(&server, "new-model").await.status, 200);

    assert_eq!(reloads(&server, "applied").await, 1.0);
    assert_eq!(reloads(&server, "unchanged").await, 2.0);
    assert_eq!(reloads(&server, "rejected").await, 2.0);
    let events = server
        .admin_get("/api/audit/events?limit=10")
        .await
        .unwrap()
        .json();
    let admin_reloads = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["entity_type"] == "config" && e["actor"] == "admin")
        .count();
    assert_eq!(admin_reloads, 5, "{events}");
}

/// A `[[client_keys]]` entry reading its token from `env`.
fn client_key(id: &str, env: &str) -> String {
    format!("\n[[client_keys]]\nid = \"{id}\"\nname = \"{id}\"\ntoken_env = \"{env}\"\n")
}

async fn call_with(server: &RookServer, token: &str, model: &str) -> http::TestResponse {
    let auth = format!("Bearer {token}");
    http::post_json(
        &server.url("/v1/chat/completions"),
        &[("authorization", auth.as_str())],
        &chat(model, false),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn declared_client_keys_follow_the_file() {
    const APP: &str = "rk-reload-app-0123456789abcdef";
    const NEXT: &str = "rk-reload-next-0123456789abcdef";
    let env = [ENV, &[("APP_KEY", APP), ("NEXT_KEY", NEXT)]].concat();
    let a = FakeUpstream::start().await;
    let v1 = first(&a) + &client_key("app", "APP_KEY");
    let server = RookServer::start(bin(), &v1, &env).await.unwrap();
    let port = server.port();
    let dir = server.dir().display().to_string();
    let body = |keys: &str| {
        format!(
            "{}{}{}{keys}",
            head(&port.to_string(), &dir),
            account("a", &a, "KEY_A"),
            route("old-model", "pa", "\"a\"")
        )
    };
    assert_eq!(call_with(&server, APP, "old-model").await.status, 200);
    assert_eq!(call_with(&server, NEXT, "old-model").await.status, 401);

    // `app` replaced by `next`: live at once, the old key refused.
    std::fs::write(server.config_path(), body(&client_key("next", "NEXT_KEY"))).unwrap();
    let resp = admin_reload(&server).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["applied"], json!(["client_keys"]));
    assert_eq!(call_with(&server, NEXT, "old-model").await.status, 200);
    let old = call_with(&server, APP, "old-model").await;
    assert_eq!(old.status, 401, "{}", old.text());
    assert_eq!(old.json()["error"]["code"], "invalid_api_key");

    // A key whose token variable is missing refuses the whole reload.
    let broken = client_key("next", "NEXT_KEY") + &client_key("ghost", "NO_SUCH_VAR");
    std::fs::write(server.config_path(), body(&broken)).unwrap();
    let resp = admin_reload(&server).await;
    assert_eq!(resp.status, 422, "{}", resp.text());
    assert!(resp.text().contains("NO_SUCH_VAR"), "{}", resp.text());
    assert_eq!(call_with(&server, NEXT, "old-model").await.status, 200);
    let listed = server.admin_get("/api/keys").await.unwrap().json();
    let ids: Vec<&str> = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["id"].as_str())
        .collect();
    assert!(
        ids.contains(&"next") && !ids.contains(&"ghost") && !ids.contains(&"app"),
        "{ids:?}"
    );
}

#[tokio::test]
async fn rate_limits_follow_the_file() {
    let a = FakeUpstream::start().await;
    let server = RookServer::start(bin(), &first(&a), ENV).await.unwrap();
    let port = server.port();
    let dir = server.dir().display().to_string();
    let body = |extra: &str| {
        format!(
            "{}{}{}{extra}",
            head(&port.to_string(), &dir),
            account("a", &a, "KEY_A"),
            route("old-model", "pa", "\"a\"")
        )
    };
    for _ in 0..3 {
        assert_eq!(call(&server, "old-model").await.status, 200);
    }
    // A route limit of 2 per minute, live: the third request is refused.
    std::fs::write(
        server.config_path(),
        body("\n[rate_limits]\nroute_requests_per_minute = 2\n"),
    )
    .unwrap();
    let resp = admin_reload(&server).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["applied"], json!(["rate_limits"]));
    assert_eq!(call(&server, "old-model").await.status, 200);
    assert_eq!(call(&server, "old-model").await.status, 200);
    let refused = call(&server, "old-model").await;
    assert_eq!(refused.status, 429, "{}", refused.text());
    assert_eq!(refused.json()["error"]["code"], "rate_limit_exceeded");
    // Removed again: no limit.
    std::fs::write(server.config_path(), body("")).unwrap();
    let resp = admin_reload(&server).await;
    assert_eq!(
        resp.json()["applied"],
        json!(["rate_limits"]),
        "{}",
        resp.text()
    );
    for _ in 0..3 {
        assert_eq!(call(&server, "old-model").await.status, 200);
    }
}

/// A chat request whose body is about `bytes` long, with the client token.
async fn call_sized(server: &RookServer, model: &str, bytes: usize) -> http::TestResponse {
    let auth = format!("Bearer {TOKEN}");
    let body =
        json!({"model": model, "messages": [{"role": "user", "content": "x".repeat(bytes)}]});
    http::post_json(
        &server.url("/v1/chat/completions"),
        &[("authorization", auth.as_str())],
        &body,
    )
    .await
    .unwrap()
}

/// `call` on a task of its own.
fn spawn_call(server: &RookServer, model: &str) -> tokio::task::JoinHandle<http::TestResponse> {
    let url = server.url("/v1/chat/completions");
    let body = chat(model, false);
    tokio::spawn(async move {
        let auth = format!("Bearer {TOKEN}");
        http::post_json(&url, &[("authorization", auth.as_str())], &body)
            .await
            .unwrap()
    })
}

#[tokio::test]
async fn resilience_and_limits_follow_the_file() {
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    let server = RookServer::start(bin(), &first(&a), ENV).await.unwrap();
    let port = server.port();
    let dir = server.dir().display().to_string();
    // `model` on a then b (priority), with the given extra sections.
    let body = |extra: &str| {
        format!(
            "{}{}{}{}{extra}",
            head(&port.to_string(), &dir),
            account("a", &a, "KEY_A"),
            account("b", &b, "KEY_B"),
            route("model", "pab", "\"a\", \"b\"")
        )
    };
    let strict = "\n[limits]\nmax_request_body_bytes = 2000\n\n[upstream_resilience]\nmax_buffered_attempts = 1\nmax_concurrent_upstream_requests = 1\npermit_queue_timeout_milliseconds = 20\nfailure_threshold = 100\n";
    let loose = "\n[limits]\nmax_request_body_bytes = 100000\n\n[upstream_resilience]\nmax_buffered_attempts = 2\nmax_concurrent_upstream_requests = 4\npermit_queue_timeout_milliseconds = 20\nfailure_threshold = 100\n";
    std::fs::write(server.config_path(), body(strict)).unwrap();
    let resp = admin_reload(&server).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let applied = resp.json()["applied"].clone();
    for key in ["limits", "routes", "upstream_resilience"] {
        assert!(
            applied.as_array().unwrap().contains(&json!(key)),
            "{applied}"
        );
    }
    assert_eq!(
        resp.json()["restart_required"],
        json!([]),
        "{}",
        resp.text()
    );

    // Body limit 2000: a 3000-byte request is refused before any upstream call.
    let big = call_sized(&server, "model", 3000).await;
    assert_eq!(big.status, 413, "{}", big.text());
    // One attempt: a 500 from a is the answer (no failover to b).
    a.push(Reply::status(500));
    let failed = call(&server, "model").await;
    assert_eq!(failed.status, 502, "{}", failed.text());
    assert_eq!(b.chat_requests().len(), 0);
    // One upstream slot: while a slow answer holds it, a second request is refused.
    a.push(Reply::chat("slow").delay(Duration::from_millis(600)));
    let before = a.request_count();
    let slow = spawn_call(&server, "model");
    assert!(a.wait_requests(before + 1, Duration::from_secs(5)).await);
    let refused = call(&server, "model").await;
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert_eq!(refused.json()["error"]["code"], "overloaded");
    assert_eq!(slow.await.unwrap().status, 200);

    // Loosened by SIGHUP: all three apply to the next requests.
    std::fs::write(server.config_path(), body(loose)).unwrap();
    server.signal("HUP").unwrap();
    wait_reloads(&server, "applied", 2.0).await;
    assert_eq!(call_sized(&server, "model", 3000).await.status, 200);
    a.push(Reply::status(500));
    let failed_over = call(&server, "model").await;
    assert_eq!(failed_over.status, 200, "{}", failed_over.text());
    assert_eq!(b.chat_requests().len(), 1);
    a.push(Reply::chat("slow").delay(Duration::from_millis(600)));
    let before = a.request_count();
    let slow = spawn_call(&server, "model");
    assert!(a.wait_requests(before + 1, Duration::from_secs(5)).await);
    assert_eq!(call(&server, "model").await.status, 200);
    assert_eq!(slow.await.unwrap().status, 200);
}
