//! Tests of the fake upstream and the test HTTP client.

// Test code: panicking on unexpected errors is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use rook_test_support::fake::{AUTO_CHUNKS, AUTO_CONTENT, DEFAULT_MODEL};
use rook_test_support::http::{self, sse_events};
use rook_test_support::{ErrorKind, FakeUpstream, Reply};
use serde_json::{json, Value};

fn chat_url(f: &FakeUpstream) -> String {
    format!("{}/chat/completions", f.base_url())
}

fn body(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
}

fn contents(events: &[rook_test_support::SseEvent]) -> String {
    events
        .iter()
        .filter_map(|e| e.json())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

#[tokio::test]
async fn auto_buffered_echoes_model_with_usage() {
    let f = FakeUpstream::start().await;
    assert!(f.base_url().starts_with("http://127.0.0.1:"));
    assert!(f.base_url().ends_with("/v1"));
    let r = http::post_json(&chat_url(&f), &[], &body("gpt-x", false))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.header("content-length"),
        Some(r.body.len().to_string().as_str())
    );
    let v = r.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "gpt-x");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(v["choices"][0]["message"]["content"], AUTO_CONTENT);
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["prompt_tokens"], 10);
    assert_eq!(v["usage"]["completion_tokens"], 5);
    assert_eq!(v["usage"]["total_tokens"], 15);
    assert_eq!(f.cancelled_count(), 0);
}

#[tokio::test]
async fn padded_answers_are_large_chunked_and_still_answers() {
    let f = FakeUpstream::start().await;
    f.push(Reply::chat("big").pad_to(300_000));
    let r = http::post_json(&chat_url(&f), &[], &body("gpt-x", false))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert!(r.header("content-length").is_none());
    assert!(
        r.body.len() >= 300_000 && r.body.len() < 300_100,
        "{}",
        r.body.len()
    );
    let v = r.json();
    assert_eq!(v["choices"][0]["message"]["content"], "big");
    assert_eq!(v["usage"]["total_tokens"], 15);
}

#[tokio::test]
async fn auto_stream_without_and_with_usage() {
    let f = FakeUpstream::start().await;
    let r = http::post_json(&chat_url(&f), &[], &body("m1", true))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let events = r.sse();
    // role + pieces + finish + [DONE]
    assert_eq!(events.len(), AUTO_CHUNKS.len() + 3);
    let first = events[0].json().unwrap();
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(first["model"], "m1");
    assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
    let last_chunk = events[events.len() - 2].json().unwrap();
    assert_eq!(last_chunk["choices"][0]["finish_reason"], "stop");
    assert!(last_chunk.get("usage").is_none());
    assert_eq!(events.last().unwrap().data, "[DONE]");
    assert_eq!(contents(&events), AUTO_CONTENT);

    let mut req = body("m2", true);
    req["stream_options"] = json!({"include_usage": true});
    let r = http::post_json(&chat_url(&f), &[], &req).await.unwrap();
    let events = r.sse();
    assert_eq!(events.len(), AUTO_CHUNKS.len() + 4);
    let usage = events[events.len() - 2].json().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["total_tokens"], 15);
    assert_eq!(events.last().unwrap().data, "[DONE]");
    assert_eq!(f.cancelled_count(), 0);
}

#[tokio::test]
async fn scripted_sequence_then_default() {
    let f = FakeUpstream::start().await;
    f.push(Reply::status(429).header("retry-after", "2"));
    f.push(Reply::status(503));
    f.push(Reply::chat("third").usage(7, 3));
    f.push(Reply::status(400).json(json!({"custom": true})));
    f.set_default(Reply::chat("default"));
    assert_eq!(f.pending_replies(), 4);

    let url = chat_url(&f);
    let b = body("m", false);
    let r = http::post_json(&url, &[], &b).await.unwrap();
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("2"));
    assert_eq!(r.json()["error"]["type"], "rate_limit_error");
    assert!(r.json()["error"]["message"].is_string());
    assert!(r.json()["error"].get("code").is_some());

    let r = http::post_json(&url, &[], &b).await.unwrap();
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error"]["type"], "server_error");

    let r = http::post_json(&url, &[], &b).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["choices"][0]["message"]["content"], "third");
    assert_eq!(r.json()["usage"]["prompt_tokens"], 7);
    assert_eq!(r.json()["usage"]["total_tokens"], 10);

    let r = http::post_json(&url, &[], &b).await.unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.json(), json!({"custom": true}));

    for _ in 0..2 {
        let r = http::post_json(&url, &[], &b).await.unwrap();
        assert_eq!(r.json()["choices"][0]["message"]["content"], "default");
    }
    assert_eq!(f.request_count(), 6);
    assert_eq!(f.pending_replies(), 0);
}

#[tokio::test]
async fn scripted_stream_with_custom_header_and_usage() {
    let f = FakeUpstream::start().await;
    f.push(
        Reply::stream(vec!["a".into(), "b".into(), "c".into()])
            .header("x-upstream", "yes")
            .usage(1, 2),
    );
    let mut req = body("s", false); // stream replies ignore the flag
    req["stream_options"] = json!({"include_usage": true});
    let r = http::post_json(&chat_url(&f), &[], &req).await.unwrap();
    assert_eq!(r.header("x-upstream"), Some("yes"));
    let events = r.sse();
    assert_eq!(contents(&events), "abc");
    let usage = events[events.len() - 2].json().unwrap();
    assert_eq!(usage["usage"]["prompt_tokens"], 1);
    assert_eq!(usage["usage"]["completion_tokens"], 2);
}

#[tokio::test]
async fn break_after_gives_incomplete_body_error() {
    let f = FakeUpstream::start().await;
    f.push(Reply::stream(vec!["a".into(), "b".into(), "c".into()]).break_after(2));
    let err = http::post_json(&chat_url(&f), &[], &body("m", true))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Body, "{err}");

    // Streaming: the first two events arrive, then an error, no clean end.
    f.push(Reply::stream(vec!["a".into(), "b".into(), "c".into()]).break_after(2));
    let s = http::post_json_stream(&chat_url(&f), &[], &body("m", true))
        .await
        .unwrap();
    assert_eq!(s.status, 200);
    let out = s.collect().await;
    let err = out.error.clone().expect("body must end with an error");
    assert_eq!(err.kind(), ErrorKind::Body);
    let events = out.sse();
    assert_eq!(events.len(), 2, "{:?}", out.text());
    assert_eq!(contents(&events), "a");

    // Buffered replies break after n bytes.
    f.push(Reply::chat("truncated").break_after(10));
    let s = http::post_json_stream(&chat_url(&f), &[], &body("m", false))
        .await
        .unwrap();
    let out = s.collect().await;
    assert!(out.error.is_some());
    assert_eq!(out.body().len(), 10);
    // Deliberate breaks are not client cancellations.
    assert_eq!(f.cancelled_count(), 0);
}

#[tokio::test]
async fn chunk_delay_streams_incrementally() {
    let f = FakeUpstream::start().await;
    f.push(Reply::stream(vec!["a".into(), "b".into()]).chunk_delay(Duration::from_millis(100)));
    let s = http::post_json_stream(&chat_url(&f), &[], &body("m", true))
        .await
        .unwrap();
    let head_at = s.head_at;
    let out = s.collect().await;
    assert!(out.error.is_none());
    // 5 events (role, a, b, stop, DONE), 4 gaps of 100 ms: the first event
    // arrives long before the last one.
    assert_eq!(out.sse().len(), 5);
    assert!(out.chunks.len() >= 5, "{} chunks", out.chunks.len());
    let first = out.chunks.first().unwrap().at;
    let last = out.chunks.last().unwrap().at;
    assert!(last.duration_since(head_at) >= Duration::from_millis(350));
    assert!(last.duration_since(first) >= Duration::from_millis(350));
}

#[tokio::test]
async fn delay_before_headers() {
    let f = FakeUpstream::start().await;
    f.push(Reply::chat("late").delay(Duration::from_millis(150)));
    let start = Instant::now();
    let r = http::post_json(&chat_url(&f), &[], &body("m", false))
        .await
        .unwrap();
    assert!(start.elapsed() >= Duration::from_millis(150));
    assert_eq!(r.json()["choices"][0]["message"]["content"], "late");
}

#[tokio::test]
async fn recording_headers_body_and_clear() {
    let f = FakeUpstream::start().await;
    http::post_json(
        &format!("{}?x=1", chat_url(&f)),
        &[("Authorization", "Bearer sk-1"), ("X-Trace", "t")],
        &body("rec", false),
    )
    .await
    .unwrap();
    let models = http::get(&format!("{}/models", f.base_url()), &[])
        .await
        .unwrap();
    assert_eq!(models.json()["data"][0]["id"], DEFAULT_MODEL);
    let nf = http::get(&format!("{}/nope", f.origin()), &[])
        .await
        .unwrap();
    assert_eq!(nf.status, 404);
    assert!(nf.json()["error"]["message"].is_string());

    let reqs = f.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(f.request_count(), 1, "only chat requests are counted");
    let chat = &reqs[0];
    assert_eq!(chat.method, "POST");
    assert_eq!(chat.path, "/v1/chat/completions");
    assert_eq!(chat.query.as_deref(), Some("x=1"));
    assert_eq!(chat.header("authorization"), Some("Bearer sk-1"));
    assert_eq!(chat.header("X-TRACE"), Some("t"));
    assert!(chat.headers.iter().any(|(n, _)| n == "x-trace"));
    assert_eq!(chat.json()["model"], "rec");
    assert_eq!(reqs[1].method, "GET");
    assert_eq!(reqs[1].path, "/v1/models");
    assert_eq!(f.chat_requests().len(), 1);
    assert_eq!(f.last_request().unwrap().path, "/nope");

    f.set_models(&["a", "b"]);
    let models = http::get(&format!("{}/models", f.base_url()), &[])
        .await
        .unwrap();
    assert_eq!(models.json()["data"][1]["id"], "b");

    f.clear();
    assert!(f.requests().is_empty());
    assert_eq!(f.request_count(), 0);
}

#[tokio::test]
async fn raw_sse_passthrough() {
    let raw = "event: message\r\nid: 7\r\n: keep-alive\r\ndata: {\"a\":1}\r\n\r\ndata: line1\ndata: line2\n\n";
    let f = FakeUpstream::start().await;
    f.push(Reply::auto().raw_sse(raw.to_owned()));
    f.push(
        Reply::status(200)
            .raw_sse_parts(vec!["data: hel".into(), "lo\n".into(), "\n".into()])
            .chunk_delay(Duration::from_millis(20)),
    );
    let r = http::post_json(&chat_url(&f), &[], &body("m", true))
        .await
        .unwrap();
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert_eq!(r.text(), raw);
    let events = r.sse();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].event.as_deref(), Some("message"));
    assert_eq!(events[0].id.as_deref(), Some("7"));
    assert_eq!(events[0].data, "{\"a\":1}");
    assert_eq!(events[1].data, "line1\nline2");
    assert_eq!(events[1].id, None);

    let s = http::post_json_stream(&chat_url(&f), &[], &body("m", true))
        .await
        .unwrap();
    let out = s.collect().await;
    assert_eq!(out.text(), "data: hello\n\n");
    assert_eq!(out.chunks.len(), 3);
}

#[test]
fn sse_parser_crlf_comments_multiline() {
    let body = ": comment\r\n\r\nevent: ping\r\n\r\nretry: 10\r\nid: 1\r\ndata: a\r\ndata:b\r\ndata\r\n\r\ndata: cr\rdata: only\r\rdata: unterminated";
    let events = sse_events(body);
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[0].event.as_deref(), Some("ping"));
    assert_eq!(events[0].data, "");
    assert_eq!(events[1].id.as_deref(), Some("1"));
    assert_eq!(events[1].data, "a\nb\n");
    assert_eq!(events[2].data, "cr\nonly");
    assert_eq!(
        rook_test_support::http::sse_data("data: x\n\ndata: [DONE]\n\n"),
        vec!["x", "[DONE]"]
    );
}

#[tokio::test]
async fn client_disconnect_mid_stream_is_counted() {
    let f = FakeUpstream::start().await;
    f.push(Reply::stream(vec!["a".into(); 50]).chunk_delay(Duration::from_millis(20)));
    let mut s = http::post_json_stream(&chat_url(&f), &[], &body("m", true))
        .await
        .unwrap();
    let first = s.next_chunk().await.unwrap().unwrap();
    assert!(!first.data.is_empty());
    s.disconnect();
    assert!(f.wait_cancelled(1, Duration::from_secs(5)).await);
}

#[tokio::test]
async fn hang_and_delay_cancelled_by_client_timeout() {
    let f = FakeUpstream::start().await;
    f.push(Reply::auto().hang());
    f.push(Reply::auto().delay(Duration::from_secs(30)));
    for _ in 0..2 {
        let res = tokio::time::timeout(
            Duration::from_millis(100),
            http::post_json(&chat_url(&f), &[], &body("m", false)),
        )
        .await;
        assert!(res.is_err(), "must not answer");
    }
    assert!(f.wait_cancelled(2, Duration::from_secs(5)).await);
    assert_eq!(f.request_count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_requests() {
    let f = FakeUpstream::start().await;
    f.set_default(Reply::auto().delay(Duration::from_millis(50)));
    let url = chat_url(&f);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..300 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let stream = i % 2 == 0;
            let r = http::post_json(&url, &[], &body(&format!("m{i}"), stream))
                .await
                .unwrap();
            assert_eq!(r.status, 200);
            if stream {
                assert_eq!(contents(&r.sse()), AUTO_CONTENT);
            } else {
                assert_eq!(r.json()["model"], format!("m{i}"));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(f.request_count(), 300);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn dropped_fake_refuses_connections() {
    let f = FakeUpstream::start().await;
    let url = chat_url(&f);
    drop(f);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let err = http::post_json(&url, &[], &body("m", false))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Request);
}
