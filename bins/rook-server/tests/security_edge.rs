//! End to end, issue 12 (security hardening), the edge: strict request parsing
//! (duplicate keys, nesting), bounded buffered answers (per answer and a
//! budget across answers), exact request-head limits, and the egress policy
//! of account base URLs, through the real `rook-server` binary over real
//! sockets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use rook_test_support::{http, FakeUpstream, Reply, RookServer};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ADMIN: &str = "edge-admin-token-0123456789";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rook-server"))
}

/// Accounts `a`, `b` (one per base URL) in a priority pool for model `m`,
/// plus `extra` top-level TOML (sections).
fn config(base_urls: &[String], extra: &str) -> String {
    let mut accounts = String::new();
    let mut members = Vec::new();
    for (i, url) in base_urls.iter().enumerate() {
        let id = ["a", "b"][i];
        members.push(format!("\"{id}\""));
        accounts.push_str(&format!(
            "[[accounts]]\nid = \"{id}\"\nvendor = \"custom\"\nbase_url = \"{url}\"\npriority = {i}\n\n"
        ));
    }
    format!(
        r#"
host = "127.0.0.1"
port = {{port}}
database_url = "sqlite://{{dir}}/rook.db"

[admin_auth]
bearer_token_env = "ROOK_ADMIN_TOKEN"

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

const ENV: &[(&str, &str)] = &[("ROOK_ADMIN_TOKEN", ADMIN)];

async fn start(base_urls: &[String], extra: &str) -> RookServer {
    RookServer::start(bin(), &config(base_urls, extra), ENV)
        .await
        .unwrap()
}

async fn post_raw(server: &RookServer, path: &str, body: &str) -> http::TestResponse {
    http::request(
        "POST",
        &server.url(path),
        &[("content-type", "application/json")],
        Some(body.as_bytes().to_vec()),
    )
    .await
    .unwrap()
}

async fn chat(server: &RookServer) -> http::TestResponse {
    post_raw(
        server,
        "/v1/chat/completions",
        r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
    )
    .await
}

async fn admin(server: &RookServer, method: &str, path: &str, body: Value) -> http::TestResponse {
    let auth = format!("Bearer {ADMIN}");
    http::request(
        method,
        &server.url(path),
        &[
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
        ],
        Some(body.to_string().into_bytes()),
    )
    .await
    .unwrap()
}

async fn metrics(server: &RookServer) -> String {
    let auth = format!("Bearer {ADMIN}");
    http::get(&server.url("/api/metrics"), &[("authorization", &auth)])
        .await
        .unwrap()
        .text()
}

/// The value of the sample of `name` whose labels contain `label`.
fn sample(text: &str, name: &str, label: &str) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(label))
        .find_map(|l| l.rsplit(' ').next().and_then(|v| v.parse().ok()))
}

// ------------------------------------------------------- strict request parsing

#[tokio::test]
async fn duplicate_top_level_keys_are_refused_before_any_upstream_call() {
    let up = FakeUpstream::start().await;
    let server = start(&[up.base_url()], "").await;
    // Finding 4: two `model` keys. Rook routed by the last one and forwarded
    // both; an upstream reading the first ran the client's choice.
    let r = post_raw(
        &server,
        "/v1/chat/completions",
        r#"{"model":"expensive-model","messages":[{"role":"user","content":"hi"}],"model":"m"}"#,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    let v = r.json();
    assert_eq!(v["error"]["code"], "duplicate_key");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"model\""),
        "{v}"
    );
    // Every /v1 JSON surface, each in its caller's protocol.
    for (path, body) in [
        ("/v1/embeddings", r#"{"model":"m","input":"a","input":"b"}"#),
        (
            "/v1/completions",
            r#"{"model":"m","prompt":"a","stream":false,"stream":true}"#,
        ),
        ("/v1/responses", r#"{"model":"m","input":"a","model":"m"}"#),
    ] {
        let r = post_raw(&server, path, body).await;
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        assert_eq!(r.json()["error"]["code"], "duplicate_key", "{path}");
    }
    for path in ["/v1/messages", "/v1/messages/count_tokens"] {
        let r = post_raw(
            &server,
            path,
            r#"{"model":"m","max_tokens":5,"messages":[],"max_tokens":100000}"#,
        )
        .await;
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        let v = r.json();
        // Anthropic's error shape.
        assert_eq!(v["type"], "error", "{path}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("max_tokens"),
            "{v}"
        );
    }
    assert_eq!(up.request_count(), 0);
    // The same body without the repeat goes through.
    assert_eq!(chat(&server).await.status, 200);
    assert_eq!(up.request_count(), 1);
}

#[tokio::test]
async fn bodies_nested_too_deep_are_refused_before_any_upstream_call() {
    let up = FakeUpstream::start().await;
    let server = start(&[up.base_url()], "").await;
    let nested = |levels: usize| {
        // `levels` counts the top-level object.
        format!(
            r#"{{"model":"m","messages":[],"metadata":{}0{}}}"#,
            "[".repeat(levels - 1),
            "]".repeat(levels - 1)
        )
    };
    let r = post_raw(&server, "/v1/chat/completions", &nested(128)).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "nesting_too_deep");
    let r = post_raw(&server, "/v1/chat/completions", &nested(50_000)).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "nesting_too_deep");
    assert_eq!(up.request_count(), 0);
    let r = post_raw(&server, "/v1/chat/completions", &nested(127)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(up.request_count(), 1);
}

// ---------------------------------------------------- bounded buffered answers

#[tokio::test]
async fn an_answer_above_the_limit_is_refused_counted_and_not_retried() {
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    let server = start(
        &[a.base_url(), b.base_url()],
        "[limits]\nmax_upstream_response_bytes = 1048576",
    )
    .await;
    // Registered at 0 for every account before anything happens.
    let before = metrics(&server).await;
    for acct in ["acct_a", "acct_b"] {
        assert_eq!(
            sample(
                &before,
                "rook_upstream_response_too_large_total",
                &format!("account=\"{acct}\"")
            ),
            Some(0.0),
            "{before}"
        );
    }
    // Chunked, no length: refused while reading.
    a.push(Reply::chat("big").pad_to(2 * 1024 * 1024));
    let r = chat(&server).await;
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "upstream_response_too_large");
    // Not retried on the other account (it would send as much).
    assert_eq!(a.request_count(), 1);
    assert_eq!(b.request_count(), 0);
    // With a content-length above the limit: refused from the header.
    a.push(Reply::chat(&"y".repeat(1024 * 1024 + 1)));
    let r = chat(&server).await;
    assert_eq!(r.status, 502);
    assert_eq!(r.json()["error"]["code"], "upstream_response_too_large");
    assert_eq!(b.request_count(), 0);
    // Just below the limit: relayed whole.
    a.push(Reply::chat("fits").pad_to(1024 * 1024 - 512));
    let r = chat(&server).await;
    assert_eq!(r.status, 200);
    assert!(r.body.len() > 1024 * 1000);
    assert_eq!(r.json()["choices"][0]["message"]["content"], "fits");
    // The account stays healthy: it answered.
    assert_eq!(chat(&server).await.status, 200);
    assert_eq!(b.request_count(), 0);
    let after = metrics(&server).await;
    assert_eq!(
        sample(
            &after,
            "rook_upstream_response_too_large_total",
            "account=\"acct_a\""
        ),
        Some(2.0),
        "{after}"
    );
    assert_eq!(
        sample(
            &after,
            "rook_upstream_response_too_large_total",
            "account=\"acct_b\""
        ),
        Some(0.0)
    );
}

#[tokio::test]
async fn the_budget_across_answers_bounds_memory_and_is_released() {
    let up = FakeUpstream::start().await;
    let server = start(
        &[up.base_url()],
        "[limits]\nmax_upstream_response_bytes = 1048576\nbuffered_response_budget_bytes = 1048576",
    )
    .await;
    // A: 900 KiB arrive at once, the last 1 KiB three seconds later; Rook
    // holds the 899 KiB meanwhile. B: 400 KiB, which cannot fit next to it.
    up.push(
        Reply::chat("a")
            .pad_to(900 * 1024)
            .chunk_delay(Duration::from_secs(3)),
    );
    up.push(Reply::chat("b").pad_to(400 * 1024));
    let first = {
        let url = server.url("/v1/chat/completions");
        tokio::spawn(async move {
            http::post_json(
                &url,
                &[],
                &json!({"model": "m", "messages": [{"role": "user", "content": "a"}]}),
            )
            .await
            .unwrap()
        })
    };
    assert!(up.wait_requests(1, Duration::from_secs(5)).await);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let r = chat(&server).await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "overloaded");
    assert!(r.header("retry-after").is_some());
    let a = first.await.unwrap();
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()["choices"][0]["message"]["content"], "a");
    // A handed over: its share is free again; an answer of the full limit fits.
    up.push(Reply::chat("c").pad_to(1024 * 1024 - 512));
    let r = chat(&server).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let m = metrics(&server).await;
    assert_eq!(
        sample(&m, "rook_buffered_response_budget_exhausted_total", ""),
        Some(1.0),
        "{m}"
    );
}

// ------------------------------------------------------------ request-head limits

/// Sends `head` (a complete request head) over a raw socket and returns what
/// came back (the server closes after an error answer).
async fn raw(server: &RookServer, head: &[u8]) -> String {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", server.port()))
        .await
        .unwrap();
    s.write_all(head).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A GET of the liveness probe whose head (request line, header lines, final
/// blank line) is exactly `total` bytes, with `extra` more header lines.
fn head_of(port: u16, total: usize, extra: usize) -> Vec<u8> {
    let mut head =
        format!("GET /api/health/live HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for i in 0..extra {
        head.push_str(&format!("X-Extra-{i}: v\r\n"));
    }
    let fixed = head.len() + "X-Pad: ".len() + "\r\n".len() + "\r\n".len();
    assert!(total >= fixed);
    head.push_str("X-Pad: ");
    head.push_str(&"p".repeat(total - fixed));
    head.push_str("\r\n\r\n");
    assert_eq!(head.len(), total);
    head.into_bytes()
}

#[tokio::test]
async fn the_request_head_limit_is_exact_at_the_default() {
    let up = FakeUpstream::start().await;
    let server = start(&[up.base_url()], "").await;
    let port = server.port();
    let at = raw(&server, &head_of(port, 65_536, 0)).await;
    assert!(at.starts_with("HTTP/1.1 200"), "{at}");
    let over = raw(&server, &head_of(port, 65_537, 0)).await;
    assert!(over.starts_with("HTTP/1.1 431"), "{over}");
    // Finding 7: about 114 KB of head used to be accepted.
    let big = raw(&server, &head_of(port, 114_000, 0)).await;
    assert!(big.starts_with("HTTP/1.1 431"), "{big}");
    // The server is fine afterwards.
    assert!(raw(&server, &head_of(port, 1_000, 0))
        .await
        .starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn configured_head_and_header_count_limits_are_exact() {
    let up = FakeUpstream::start().await;
    let server = start(
        &[up.base_url()],
        "[limits]\nmax_header_bytes = 8192\nmax_headers = 20",
    )
    .await;
    let port = server.port();
    assert!(raw(&server, &head_of(port, 8_192, 0))
        .await
        .starts_with("HTTP/1.1 200"));
    assert!(raw(&server, &head_of(port, 8_193, 0))
        .await
        .starts_with("HTTP/1.1 431"));
    // Host, Connection and X-Pad are 3 lines: 17 extra make 20, 18 make 21.
    assert!(raw(&server, &head_of(port, 2_000, 17))
        .await
        .starts_with("HTTP/1.1 200"));
    let over = raw(&server, &head_of(port, 2_000, 18)).await;
    assert!(over.starts_with("HTTP/1.1 431"), "{over}");
}

#[tokio::test]
async fn the_default_header_count_limit_is_100() {
    let up = FakeUpstream::start().await;
    let server = start(&[up.base_url()], "").await;
    let port = server.port();
    assert!(raw(&server, &head_of(port, 4_000, 97))
        .await
        .starts_with("HTTP/1.1 200"));
    assert!(raw(&server, &head_of(port, 4_000, 98))
        .await
        .starts_with("HTTP/1.1 431"));
}

// ----------------------------------------------------------------- egress policy

#[tokio::test]
async fn a_metadata_base_url_in_the_config_is_refused_at_start() {
    let cfg = config(&["http://169.254.169.254/v1".to_string()], "");
    let (code, logs) = RookServer::start_expect_failure(bin(), &cfg, ENV)
        .await
        .unwrap();
    assert_eq!(code, 2, "{logs}");
    assert!(logs.contains("accounts[0] (id \"a\").base_url"), "{logs}");
    assert!(logs.contains("egress denied"), "{logs}");
    // And a private address when private networks are denied.
    let cfg = config(
        &["http://10.0.0.7/v1".to_string()],
        "[upstream]\ndeny_private_networks = true",
    );
    let (code, logs) = RookServer::start_expect_failure(bin(), &cfg, ENV)
        .await
        .unwrap();
    assert_eq!(code, 2, "{logs}");
    assert!(logs.contains("deny_private_networks"), "{logs}");
}

#[tokio::test]
async fn the_admin_api_refuses_denied_base_urls() {
    let up = FakeUpstream::start().await;
    let server = start(&[up.base_url()], "").await;
    for url in [
        "http://169.254.169.254/latest/meta-data",
        "http://metadata.google.internal/computeMetadata/v1",
        "http://[fd00:ec2::254]/v1",
        "http://100.100.100.200/v1",
    ] {
        let r = admin(
            &server,
            "POST",
            "/api/accounts",
            json!({"id": "evil", "vendor": "custom", "base_url": url}),
        )
        .await;
        assert_eq!(r.status, 400, "{url}: {}", r.text());
        let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
        assert!(
            msg.contains("base_url") && msg.contains("egress denied"),
            "{msg}"
        );
    }
    // An API account moved to a metadata address later: refused too.
    let r = admin(
        &server,
        "POST",
        "/api/accounts",
        json!({"id": "ok", "vendor": "custom", "base_url": up.base_url()}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = admin(
        &server,
        "PATCH",
        "/api/accounts/ok",
        json!({"base_url": "http://169.254.169.254/v1"}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
}

#[tokio::test]
async fn a_name_resolving_to_a_denied_address_is_refused_at_connect() {
    let up = FakeUpstream::start().await;
    let via_name = format!("http://localhost:{}/v1", up.addr().port());
    let server = start(
        std::slice::from_ref(&via_name),
        "[upstream]\ndeny_private_networks = true",
    )
    .await;
    // `localhost` passes as a name; it resolves to loopback, which is denied.
    let r = chat(&server).await;
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "egress_denied");
    assert_eq!(up.request_count(), 0);
    assert!(
        server
            .wait_for_log("egress_denied", Duration::from_secs(5))
            .await,
        "{}",
        server.logs()
    );
    drop(server);
    // Listing the name loosens the policy.
    let server = start(
        &[via_name],
        "[upstream]\ndeny_private_networks = true\nallowed_egress = [\"localhost\"]",
    )
    .await;
    let r = chat(&server).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(up.request_count(), 1);
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let up = FakeUpstream::start().await;
    let elsewhere = FakeUpstream::start().await;
    let server = start(&[up.base_url()], "").await;
    for status in [301, 302, 307, 308] {
        up.push(Reply::status(status).header(
            "location",
            &format!("{}/chat/completions", elsewhere.base_url()),
        ));
        let r = chat(&server).await;
        assert_ne!(r.status, 200, "{status}: {}", r.text());
        assert!(r.json()["choices"].is_null(), "{status}");
    }
    assert_eq!(elsewhere.request_count(), 0);
}
