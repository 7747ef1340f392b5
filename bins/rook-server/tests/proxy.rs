//! End to end: the real `rook-server` binary in front of two in-process fake
//! upstreams, over real sockets, with a real SQLite registry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use rook_test_support::{http, sse_events, FakeUpstream, Reply, RookServer};
use serde_json::{json, Value};

const TOKEN: &str = "client-token-123";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rook-server"))
}

fn config(a: &FakeUpstream, b: &FakeUpstream, extra: &str) -> String {
    format!(
        r#"
host = "127.0.0.1"
port = {{port}}
database_url = "sqlite://{{dir}}/rook.db"
{extra}

[inbound_auth]
enabled = true
bearer_token_env = "ROOK_TOKEN"

[limits]
max_request_body_bytes = 65536

[[accounts]]
id = "acct-a"
vendor = "custom"
base_url = "{a}"
api_key_env = "KEY_A"

[[accounts]]
id = "acct-b"
vendor = "custom"
base_url = "{b}"
api_key_env = "KEY_B"
models = {{ "gpt-test" = "upstream-b-model" }}

[[pools]]
id = "main"
strategy = "round_robin"
members = ["acct-a", "acct-b"]

[[routes]]
model = "gpt-test"
pool = "main"
"#,
        a = a.base_url(),
        b = b.base_url(),
    )
}

const ENV: &[(&str, &str)] = &[
    ("ROOK_TOKEN", TOKEN),
    ("KEY_A", "upstream-key-a"),
    ("KEY_B", "upstream-key-b"),
];

fn auth() -> (&'static str, String) {
    ("authorization", format!("Bearer {TOKEN}"))
}

async fn post(server: &RookServer, body: &Value) -> http::TestResponse {
    let (k, v) = auth();
    http::post_json(&server.url("/v1/chat/completions"), &[(k, &v)], body)
        .await
        .unwrap()
}

fn chat_body(stream: bool) -> Value {
    json!({"model": "gpt-test", "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test]
async fn buffered_streamed_models_errors_and_round_robin() {
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    let server = RookServer::start(bin(), &config(&a, &b, ""), ENV)
        .await
        .unwrap();

    // Buffered: the answer is relayed unchanged, with a request id.
    let r = post(&server, &chat_body(false)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["object"], "chat.completion");
    assert!(
        v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .len()
            > 3
    );
    assert!(r.header("x-request-id").is_some());

    // Round robin over ten more requests: exactly alternating.
    for _ in 0..9 {
        assert_eq!(post(&server, &chat_body(false)).await.status, 200);
    }
    assert_eq!(a.request_count(), 5);
    assert_eq!(b.request_count(), 5);

    // Upstream auth: each account's key, never the client's token.
    for (up, key) in [(&a, "upstream-key-a"), (&b, "upstream-key-b")] {
        for req in up.chat_requests() {
            assert_eq!(
                req.header("authorization"),
                Some(format!("Bearer {key}").as_str())
            );
            let all = format!("{:?}", req.headers);
            assert!(!all.contains(TOKEN), "client token leaked upstream: {all}");
            assert!(req.header("x-request-id").is_some());
        }
    }
    // The model map rewrites the name for acct-b only; the rest of the body is unchanged.
    assert_eq!(a.last_request().unwrap().json()["model"], "gpt-test");
    let breq = b.last_request().unwrap().json();
    assert_eq!(breq["model"], "upstream-b-model");
    assert_eq!(breq["messages"][0]["content"], "hi");

    // Streaming.
    let (k, v) = auth();
    let s = http::post_json_stream(
        &server.url("/v1/chat/completions"),
        &[(k, &v)],
        &chat_body(true),
    )
    .await
    .unwrap();
    assert_eq!(s.status, 200);
    assert!(s
        .header("content-type")
        .unwrap()
        .starts_with("text/event-stream"));
    let out = s.collect().await;
    assert!(out.error.is_none(), "{:?}", out.error);
    let events = out.sse();
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let content: String = events
        .iter()
        .filter_map(|e| e.json())
        .filter_map(|j| {
            j["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(content, rook_test_support::fake::AUTO_CONTENT);

    // /v1/models lists the logical models.
    let m = http::get(&server.url("/v1/models"), &[(k, &v)])
        .await
        .unwrap();
    assert_eq!(m.status, 200);
    let mv = m.json();
    assert_eq!(mv["object"], "list");
    assert_eq!(mv["data"][0]["id"], "gpt-test");

    let before = a.request_count() + b.request_count();

    // 401: missing and wrong token.
    let r = http::post_json(&server.url("/v1/chat/completions"), &[], &chat_body(false))
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["code"], "invalid_api_key");
    let r = http::post_json(
        &server.url("/v1/chat/completions"),
        &[("authorization", "Bearer wrong")],
        &chat_body(false),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 401);

    // 400: malformed JSON, no upstream call.
    let r = http::request(
        "POST",
        &server.url("/v1/chat/completions"),
        &[(k, &v), ("content-type", "application/json")],
        Some(b"{\"model\": \"gpt-test\", ".to_vec()),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 400);
    let e = r.json();
    assert_eq!(e["error"]["type"], "invalid_request_error");
    assert_eq!(e["error"]["code"], "invalid_json");

    // 404: unknown model.
    let r = post(&server, &json!({"model": "nope", "messages": []})).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "model_not_found");

    // 413: body over the cap, refused before it is buffered.
    let big = json!({"model": "gpt-test", "messages": [{"role": "user", "content": "x".repeat(100_000)}]});
    let r = post(&server, &big).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["error"]["code"], "request_too_large");

    assert_eq!(
        a.request_count() + b.request_count(),
        before,
        "errors must not reach upstream"
    );

    // The process keeps serving after all of that.
    assert_eq!(post(&server, &chat_body(false)).await.status, 200);
}

#[tokio::test]
async fn streams_are_relayed_incrementally_and_byte_for_byte() {
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    let server = RookServer::start(bin(), &config(&a, &b, ""), ENV)
        .await
        .unwrap();
    // Slow chunks: the client must see the first long before the last.
    let chunks: Vec<String> = (0..5).map(|i| format!("piece{i} ")).collect();
    for up in [&a, &b] {
        up.push(Reply::stream(chunks.clone()).chunk_delay(Duration::from_millis(150)));
    }
    let (k, v) = auth();
    // One request per account (round robin), each checked.
    for _ in 0..2 {
        let mut s = http::post_json_stream(
            &server.url("/v1/chat/completions"),
            &[(k, &v)],
            &chat_body(true),
        )
        .await
        .unwrap();
        let first = s.next_chunk().await.unwrap().unwrap();
        let rest = s.collect().await;
        let last_at = rest.chunks.last().unwrap().at;
        assert!(
            last_at.duration_since(first.at) >= Duration::from_millis(400),
            "events were buffered: first at {:?}, last at {:?}",
            first.at,
            last_at
        );
    }

    // Framing: event:, id:, comments and CRLF reach the client unchanged.
    let raw = ": comment line\r\nevent: message\r\nid: 42\r\ndata: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\r\n\r\ndata: {\"choices\":[],\"x\":1}\n\ndata: [DONE]\n\n";
    for up in [&a, &b] {
        up.push(Reply::status(200).raw_sse(raw.to_string()));
    }
    for _ in 0..2 {
        let s = http::post_json_stream(
            &server.url("/v1/chat/completions"),
            &[(k, &v)],
            &chat_body(true),
        )
        .await
        .unwrap();
        let out = s.collect().await;
        assert_eq!(out.text(), raw);
        let ev = sse_events(&out.text());
        assert_eq!(ev[0].event.as_deref(), Some("message"));
        assert_eq!(ev[0].id.as_deref(), Some("42"));
    }
}

#[tokio::test]
async fn client_disconnect_cancels_the_upstream_request() {
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    let server = RookServer::start(bin(), &config(&a, &b, ""), ENV)
        .await
        .unwrap();
    let chunks: Vec<String> = (0..50).map(|i| format!("w{i} ")).collect();
    for up in [&a, &b] {
        up.set_default(Reply::stream(chunks.clone()).chunk_delay(Duration::from_millis(100)));
    }
    let (k, v) = auth();
    let mut s = http::post_json_stream(
        &server.url("/v1/chat/completions"),
        &[(k, &v)],
        &chat_body(true),
    )
    .await
    .unwrap();
    s.next_chunk().await.unwrap().unwrap();
    s.disconnect();
    let cancelled = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if a.cancelled_count() + b.cancelled_count() >= 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        cancelled.is_ok(),
        "the upstream stream kept running after the client left"
    );
}

#[tokio::test]
async fn upstream_errors_keep_their_meaning() {
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    let extra = "[upstream]\nfirst_byte_timeout_ms = 500\n[upstream_resilience]\nmax_buffered_attempts = 1\n";
    let server = RookServer::start(bin(), &config(&a, &b, extra), ENV)
        .await
        .unwrap();

    // A 400 from upstream stays a 400 with the upstream's message.
    a.push(Reply::status(400).json(json!({"error": {"message": "messages is required", "type": "invalid_request_error", "param": "messages", "code": null}})));
    let r = post(&server, &chat_body(false)).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["message"], "messages is required");

    // A 500 becomes a 502 (one attempt allowed here).
    b.push(Reply::status(500));
    let r = post(&server, &chat_body(false)).await;
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(r.json()["error"]["type"], "upstream_error");

    // A hanging upstream becomes a 504 after the first-byte timeout.
    a.push(Reply::chat("late").hang());
    let started = Instant::now();
    let r = post(&server, &chat_body(false)).await;
    assert_eq!(r.status, 504, "{}", r.text());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn unreachable_upstream_is_a_502() {
    // Port 9 on loopback: nothing listens there.
    let cfg = r#"
host = "127.0.0.1"
port = {port}
database_url = "sqlite://{dir}/rook.db"
[upstream_resilience]
max_buffered_attempts = 1
[[accounts]]
id = "dead"
vendor = "custom"
base_url = "http://127.0.0.1:9/v1"
[[pools]]
id = "p"
strategy = "priority"
members = ["dead"]
[[routes]]
model = "m"
pool = "p"
"#;
    let server = RookServer::start(bin(), cfg, &[]).await.unwrap();
    let r = http::post_json(
        &server.url("/v1/chat/completions"),
        &[],
        &json!({"model": "m", "messages": []}),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "upstream_unreachable");

    // With retries allowed (a changed behaviour: a request that was tried is
    // never a 503): the retry fails the same way, so Rook stops there and answers
    // the failure's own 502, naming its class, without x-should-retry.
    let cfg = cfg.replace("max_buffered_attempts = 1", "max_buffered_attempts = 3");
    let server = RookServer::start(bin(), &cfg, &[]).await.unwrap();
    let r = http::post_json(
        &server.url("/v1/chat/completions"),
        &[],
        &json!({"model": "m", "messages": []}),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 502, "{}", r.text());
    let e = r.json();
    assert_eq!(e["error"]["code"], "upstream_unreachable");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("transport_error"),
        "{e}"
    );
    assert_eq!(r.header("x-should-retry"), Some("false"));
}

#[tokio::test]
async fn bad_config_is_refused_with_exit_code_2() {
    let cfg = r#"
port = {port}
database_url = "sqlite://{dir}/rook.db"
[[pools]]
id = "p"
strategy = "round_robin"
members = ["ghost"]
[[routes]]
model = "m"
pool = "missing"
"#;
    let (code, logs) = RookServer::start_expect_failure(bin(), cfg, &[])
        .await
        .unwrap();
    assert_eq!(code, 2, "{logs}");
    assert!(logs.contains("ghost"), "{logs}");
    assert!(logs.contains("missing"), "{logs}");

    // A declared key variable that is not set: refused, naming the variable, not a value.
    let cfg = r#"
port = {port}
database_url = "sqlite://{dir}/rook.db"
[[accounts]]
id = "a"
vendor = "custom"
base_url = "http://127.0.0.1:9/v1"
api_key_env = "ROOK_TEST_UNSET_KEY"
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
    assert!(logs.contains("ROOK_TEST_UNSET_KEY"), "{logs}");
}

#[tokio::test]
async fn sigterm_drains_in_flight_streams() {
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    let mut server = RookServer::start(bin(), &config(&a, &b, "shutdown_grace_seconds = 10"), ENV)
        .await
        .unwrap();
    assert_sigterm_drains_a_stream(&mut server, &a, &b, Duration::from_millis(100)).await;
}

/// Starts a slow stream, sends SIGTERM after its first chunk, and checks that the
/// stream still completes with `[DONE]` and the server exits 0 after draining.
async fn assert_sigterm_drains_a_stream(
    server: &mut RookServer,
    a: &FakeUpstream,
    b: &FakeUpstream,
    chunk_delay: Duration,
) {
    let chunks: Vec<String> = (0..8).map(|i| format!("c{i} ")).collect();
    for up in [a, b] {
        up.set_default(Reply::stream(chunks.clone()).chunk_delay(chunk_delay));
    }
    let (k, v) = auth();
    let mut s = http::post_json_stream(
        &server.url("/v1/chat/completions"),
        &[(k, &v)],
        &chat_body(true),
    )
    .await
    .unwrap();
    s.next_chunk().await.unwrap().unwrap();
    server.sigterm().unwrap();
    let out = s.collect().await;
    assert!(out.error.is_none(), "the stream was cut: {:?}", out.error);
    assert_eq!(out.sse().last().unwrap().data, "[DONE]");
    let status = server
        .wait_exit(Duration::from_secs(15))
        .await
        .expect("server exited");
    assert!(status.success(), "{status:?}\n{}", server.logs());
    assert!(server.logs().contains("shutdown complete"));
}

#[tokio::test]
async fn an_external_bind_without_an_admin_token_refuses_to_start() {
    let cfg = r#"
host = "0.0.0.0"
port = {port}
database_url = "sqlite://{dir}/rook.db"
[inbound_auth]
enabled = true
"#;
    let (code, logs) = RookServer::start_expect_failure(bin(), cfg, &[("ROOK_TOKEN", "t")])
        .await
        .unwrap();
    assert_eq!(code, 2, "{logs}");
    assert!(logs.contains("admin token"), "{logs}");
    assert!(!logs.contains("listening"), "{logs}");
}

/// On one CPU the server runs a current-thread runtime: it must serve buffered and
/// streamed requests and drain on SIGTERM just the same.
#[tokio::test]
async fn serves_and_drains_on_a_single_cpu() {
    if std::process::Command::new("taskset")
        .arg("-V")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "taskset (util-linux) is needed in CI"
        );
        eprintln!("skipped: taskset not installed");
        return;
    }
    let dir = rook_test_support::TestDir::new("rook-1cpu").unwrap();
    let wrapper = dir.path().join("rook-server-1cpu");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nexec taskset -c 0 {} \"$@\"\n", bin().display()),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    let mut server = RookServer::start(&wrapper, &config(&a, &b, ""), ENV)
        .await
        .unwrap();
    assert!(
        server.logs().contains("current_thread"),
        "{}",
        server.logs()
    );
    assert_eq!(post(&server, &chat_body(false)).await.status, 200);
    assert_sigterm_drains_a_stream(&mut server, &a, &b, Duration::from_millis(50)).await;
}
