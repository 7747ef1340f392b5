//! The attempt loop against real fake upstreams on loopback, without the server:
//! failover order, retry after a 5xx, no retry after a 4xx, and stream failover
//! before the first byte.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, Response};
use http_body_util::BodyExt;
use rook_config::Config;
use rook_protocol::openai::probe_chat;
use rook_registry::{ConnectOptions, Registry};
use rook_test_support::{FakeUpstream, Reply};

use super::attempt::{attempt_loop, Request};
use super::snapshot::SharedRegistry;
use super::Proxy;
use crate::accounting::{Accounting, Ctx};
use crate::body::RookBody;
use crate::control::catalog::{build_snapshot, declared_records};
use crate::endpoint::Endpoint;
use crate::lifecycle::Lifecycle;

/// A proxy over `upstreams` (accounts `a`, `b`, … in that order) in one pool
/// with `strategy`, routed as model `m`. One failure cools an account and panic
/// routing is off, so each test sees the loop's own decisions.
async fn proxy(upstreams: &[&FakeUpstream], strategy: &str) -> (Proxy, Arc<Accounting>) {
    let mut toml = String::from(
        "database_url = \"sqlite::memory:\"\n\
         [usage]\nenabled = false\n\
         [upstream_resilience]\nretry_backoff_milliseconds = 1\nretry_backoff_max_milliseconds = 2\n\
         failure_threshold = 1\npanic_mode = false\n",
    );
    let mut members = Vec::new();
    for (i, u) in upstreams.iter().enumerate() {
        let id = char::from(b'a' + u8::try_from(i).unwrap());
        members.push(format!("\"{id}\""));
        toml.push_str(&format!(
            "[[accounts]]\nid = \"{id}\"\nvendor = \"custom\"\nbase_url = \"{}\"\npriority = {i}\n",
            u.base_url()
        ));
    }
    toml.push_str(&format!(
        "[[pools]]\nid = \"p\"\nstrategy = \"{strategy}\"\nmembers = [{}]\n[[routes]]\nmodel = \"m\"\npool = \"p\"\n",
        members.join(",")
    ));
    let config = Config::from_toml_str(&toml).unwrap();
    let (accounts, pools, routes) = declared_records(&config);
    let shared = SharedRegistry::default();
    let snapshot = build_snapshot(&accounts, &pools, &routes, &shared, &config).unwrap();
    let proxy = Proxy::new(&config, Lifecycle::default(), shared, snapshot).unwrap();
    let registry = Registry::connect("sqlite::memory:", ConnectOptions::default())
        .await
        .unwrap();
    let accounting = Arc::new(Accounting::start(
        registry,
        &config.usage,
        config.pricing.clone(),
        None,
    ));
    (proxy, accounting)
}

/// Routes `body` and runs the attempt loop; the status and the whole body.
async fn send(proxy: &Proxy, accounting: &Arc<Accounting>, body: &'static str) -> (u16, Bytes) {
    let body = Bytes::from_static(body.as_bytes());
    let probe = probe_chat(&body).unwrap();
    let snapshot = proxy.snapshot.load_full();
    let resolution = snapshot
        .table
        .resolve(&probe.model, &proxy.view(&snapshot))
        .unwrap();
    let headers = HeaderMap::new();
    let req = Request {
        endpoint: Endpoint::Chat,
        snapshot: snapshot.clone(),
        headers: &headers,
        body: &body,
        probe: &probe,
        candidates: resolution.candidates,
        unavailable: resolution.unavailable,
    };
    let mut ctx = Ctx::new(
        "req-test",
        Endpoint::Chat,
        Instant::now(),
        Arc::from("anonymous"),
        accounting.clone(),
    );
    ctx.model = probe.model.clone();
    ctx.stream = probe.stream;
    let resp: Response<RookBody> = attempt_loop(proxy, &req, &mut ctx).await;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, bytes)
}

const BUFFERED: &str = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
const STREAMED: &str = r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;

#[tokio::test]
async fn fails_over_in_priority_order() {
    let (a, b, c) = (
        FakeUpstream::start().await,
        FakeUpstream::start().await,
        FakeUpstream::start().await,
    );
    a.push(Reply::status(500));
    b.push(Reply::status(503));
    c.push(Reply::chat("from c"));
    let (proxy, acc) = proxy(&[&a, &b, &c], "priority").await;
    let (status, body) = send(&proxy, &acc, BUFFERED).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("from c"));
    assert_eq!(
        (
            a.chat_requests().len(),
            b.chat_requests().len(),
            c.chat_requests().len()
        ),
        (1, 1, 1)
    );
    // The first two were tried before the third.
    assert!(a.chat_requests()[0].received_at <= b.chat_requests()[0].received_at);
    assert!(b.chat_requests()[0].received_at <= c.chat_requests()[0].received_at);
}

#[tokio::test]
async fn retries_a_server_error_on_the_next_account_and_cools_the_first() {
    let (a, b) = (FakeUpstream::start().await, FakeUpstream::start().await);
    a.set_default(Reply::status(500));
    b.set_default(Reply::chat("from b"));
    let (proxy, acc) = proxy(&[&a, &b], "failover").await;
    let (status, body) = send(&proxy, &acc, BUFFERED).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("from b"));
    // `a` is cooling now (failure_threshold = 1): the next request goes to `b` only.
    let (status, _) = send(&proxy, &acc, BUFFERED).await;
    assert_eq!(status, 200);
    assert_eq!((a.chat_requests().len(), b.chat_requests().len()), (1, 2));
    let snap = proxy.snapshot.load();
    assert!(!proxy.health.is_available(&snap.accounts[0].id));
    assert!(proxy.health.is_available(&snap.accounts[1].id));
}

#[tokio::test]
async fn a_client_error_is_passed_through_without_retrying_or_cooling() {
    let (a, b) = (FakeUpstream::start().await, FakeUpstream::start().await);
    a.push(Reply::status(400).json(serde_json::json!({
        "error": {"message": "messages: too long", "type": "invalid_request_error", "param": "messages", "code": null}
    })));
    let (proxy, acc) = proxy(&[&a, &b], "failover").await;
    let (status, body) = send(&proxy, &acc, BUFFERED).await;
    assert_eq!(status, 400);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["message"], "messages: too long");
    assert_eq!(v["error"]["param"], "messages");
    assert_eq!((a.chat_requests().len(), b.chat_requests().len()), (1, 0));
    let snap = proxy.snapshot.load();
    assert!(proxy.health.is_available(&snap.accounts[0].id));
}

#[tokio::test]
async fn a_stream_fails_over_before_its_first_byte() {
    let (a, b) = (FakeUpstream::start().await, FakeUpstream::start().await);
    // `a` answers 200 with an event stream, then drops the connection before
    // sending any event.
    a.push(Reply::stream(vec!["never".into()]).break_after(0));
    b.push(Reply::stream(vec!["hel".into(), "lo".into()]));
    let (proxy, acc) = proxy(&[&a, &b], "failover").await;
    let (status, body) = send(&proxy, &acc, STREAMED).await;
    assert_eq!(status, 200);
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("\"hel\"") && text.contains("\"lo\""),
        "{text}"
    );
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    assert!(!text.contains("never"));
    assert_eq!((a.chat_requests().len(), b.chat_requests().len()), (1, 1));
}

#[tokio::test]
async fn no_account_left_is_an_immediate_503_without_an_upstream_call() {
    let a = FakeUpstream::start().await;
    a.set_default(Reply::status(500));
    let (proxy, acc) = proxy(&[&a], "failover").await;
    // The one account fails and cools; the retry finds nothing left: the
    // request was tried, so the answer is the failure's own 502, naming it.
    let (first, body) = send(&proxy, &acc, BUFFERED).await;
    assert_eq!(first, 502);
    assert!(String::from_utf8_lossy(&body).contains("last failure: server_error"));
    let (second, body) = send(&proxy, &acc, BUFFERED).await;
    assert_eq!(second, 503);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["code"], "no_account_available");
    assert_eq!(a.chat_requests().len(), 1);
}
