//! The request hooks without a server: which requests are traced and how, and
//! the spans an attempt sequence produces (attribute mapping), read from the
//! queue.

use std::sync::Arc;
use std::time::Instant;

use http::{HeaderMap, HeaderValue, Uri};
use rook_observability::otel::{traceparent, AttrValue, SpanData, SpanKind, SpanStatus};
use rook_protocol::Usage;
use rook_registry::{ConnectOptions, Registry};

use super::{Target, Telemetry};
use crate::accounting::{Accounting, Ctx};
use crate::endpoint::Endpoint;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (n, v) in pairs {
        h.append(
            http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

#[test]
fn which_requests_are_traced() {
    let tp = |flags: &str| format!("00-{TRACE}-{PARENT}-{flags}");
    let sampled = tp("01");
    let unsampled = tp("00");
    // (headers, ratio) -> Some(child of the client?) or None (not traced)
    type Case<'a> = (Vec<(&'a str, &'a str)>, f64, Option<bool>);
    let cases: Vec<Case<'_>> = vec![
        (vec![("traceparent", &sampled)], 0.0, Some(true)),
        (vec![("traceparent", &unsampled)], 1.0, None),
        (vec![], 1.0, Some(false)),
        (vec![], 0.0, None),
        (vec![("traceparent", "00-garbage")], 1.0, Some(false)),
        (vec![("traceparent", "00-garbage")], 0.0, None),
        // two traceparent headers: ignored, a new root
        (
            vec![("traceparent", &sampled), ("traceparent", &sampled)],
            1.0,
            Some(false),
        ),
    ];
    for (pairs, ratio, want) in cases {
        let (t, _rx) = Telemetry::with_queue(8, ratio, false);
        let got = t.begin(&headers(&pairs), Instant::now(), b"{}");
        assert_eq!(
            got.as_ref().map(|r| r.parent.is_some()),
            want,
            "{pairs:?} {ratio}"
        );
        if let Some(r) = got {
            if want == Some(true) {
                assert_eq!(r.trace_id.to_string(), TRACE);
                assert_eq!(r.parent.unwrap().to_string(), PARENT);
            } else {
                assert_ne!(r.trace_id.to_string(), TRACE);
                assert!(r.trace_state.is_empty());
            }
        }
    }
}

async fn ctx_parts() -> Arc<Accounting> {
    let registry = Registry::connect("sqlite::memory:", ConnectOptions::default())
        .await
        .unwrap();
    let usage = rook_config::Usage {
        enabled: false,
        ..rook_config::Usage::default()
    };
    Arc::new(Accounting::start(
        registry,
        &usage,
        Default::default(),
        None,
    ))
}

fn drain(rx: &mut tokio::sync::mpsc::Receiver<SpanData>) -> Vec<SpanData> {
    let mut out = Vec::new();
    while let Ok(s) = rx.try_recv() {
        out.push(s);
    }
    out
}

fn str_attr<'a>(s: &'a SpanData, key: &str) -> Option<&'a str> {
    match s.attribute(key)? {
        AttrValue::Str(v) => Some(v),
        _ => None,
    }
}

fn int_attr(s: &SpanData, key: &str) -> Option<i64> {
    match s.attribute(key)? {
        AttrValue::Int(n) => Some(*n),
        _ => None,
    }
}

#[tokio::test]
async fn a_failover_produces_the_request_and_two_attempt_spans() {
    let (t, mut rx) = Telemetry::with_queue(16, 1.0, true);
    let accounting = ctx_parts().await;
    let body = br#"{"model":"m","messages":[{"role":"user","content":"hello"}]}"#;
    let h = headers(&[
        ("traceparent", &format!("00-{TRACE}-{PARENT}-01")),
        ("tracestate", "rojo=1"),
    ]);
    let mut ctx = Ctx::new(
        "req-1",
        Endpoint::Messages,
        Instant::now(),
        Arc::from("anon"),
        accounting,
    );
    ctx.model = "m".into();
    ctx.trace = t.begin(&h, ctx.start, body);
    let uri_a: Uri = "https://api.anthropic.com/v1/messages".parse().unwrap();
    let uri_b: Uri = "http://127.0.0.1:8080/v1/chat/completions".parse().unwrap();
    let (a, b): (Arc<str>, Arc<str>) = (Arc::from("a"), Arc::from("b"));

    ctx.attempts = 1;
    let tp1 = ctx.trace_attempt(Target {
        account: &a,
        vendor: "anthropic",
        upstream_model: "claude-x",
        uri: &uri_a,
    });
    ctx.trace_failed("rate_limited", Some(429), "retry_scheduled");
    ctx.attempts = 2;
    ctx.account = Some(b.clone());
    let tp2 = ctx.trace_attempt(Target {
        account: &b,
        vendor: "custom",
        upstream_model: "local-m",
        uri: &uri_b,
    });
    let answer = br#"{"id":"msg_9","model":"local-m-v2","content":[{"type":"text","text":"hey"}],"stop_reason":"end_turn"}"#;
    ctx.trace_success(200, Some(answer));
    ctx.record(200, "success", None, Some(Usage::new(7, 3, None)));

    let spans = drain(&mut rx);
    let [first, second, req] = &spans[..] else {
        panic!("three spans expected: {spans:#?}")
    };
    // The request span: a child of the client's, in its trace.
    assert_eq!(req.kind, SpanKind::Server);
    assert_eq!(req.name, "chat m");
    assert_eq!(req.trace_id.to_string(), TRACE);
    assert_eq!(req.parent_span_id.unwrap().to_string(), PARENT);
    assert!(req.parent_is_remote);
    assert_eq!(req.trace_state, "rojo=1");
    let r = |k| str_attr(req, k);
    assert_eq!(r("rook.endpoint"), Some("messages"));
    assert_eq!(r("http.route"), Some("/v1/messages"));
    assert_eq!(r("rook.account"), Some("b"));
    assert_eq!(r("gen_ai.response.model"), Some("local-m-v2"));
    assert!(r("gen_ai.input.messages").unwrap().contains("hello"));
    assert!(r("gen_ai.output.messages").unwrap().contains("hey"));
    assert_eq!(int_attr(req, "gen_ai.usage.input_tokens"), Some(7));
    assert_eq!(int_attr(req, "rook.attempts"), Some(2));
    assert_eq!(req.status, SpanStatus::Unset);

    // Attempt 1: failed, with its decision; its traceparent named it.
    for (s, tp) in [(first, &tp1), (second, &tp2)] {
        assert_eq!(s.kind, SpanKind::Client);
        assert_eq!(s.parent_span_id, Some(req.span_id));
        let sent = traceparent::parse(tp.as_ref().unwrap().to_str().unwrap()).unwrap();
        assert_eq!(
            (sent.trace_id, sent.parent_id, sent.sampled),
            (req.trace_id, s.span_id, true)
        );
    }
    let table: [(&SpanData, &str, Option<&str>); 14] = [
        (first, "gen_ai.system", Some("anthropic")),
        (first, "gen_ai.request.model", Some("claude-x")),
        (first, "server.address", Some("api.anthropic.com")),
        (first, "rook.outcome", Some("rate_limited")),
        (first, "error.type", Some("rate_limited")),
        (first, "rook.retry.decision", Some("retry_scheduled")),
        (first, "gen_ai.response.model", None),
        (second, "gen_ai.system", Some("_OTHER")),
        (second, "rook.vendor", Some("custom")),
        (second, "gen_ai.response.id", Some("msg_9")),
        (second, "rook.outcome", Some("success")),
        (second, "rook.retry.decision", Some("succeeded_after_retry")),
        (second, "error.type", None),
        (second, "rook.request_id", Some("req-1")),
    ];
    for (s, key, want) in table {
        assert_eq!(str_attr(s, key), want, "{} {key}", s.name);
    }
    assert_eq!(first.name, "chat claude-x");
    assert_eq!(int_attr(first, "server.port"), Some(443));
    assert_eq!(int_attr(first, "http.response.status_code"), Some(429));
    assert_eq!(int_attr(first, "rook.attempt"), Some(1));
    assert_eq!(first.status, SpanStatus::Error("rate_limited".into()));
    assert!(first.attribute("gen_ai.usage.input_tokens").is_none());
    assert_eq!(int_attr(second, "server.port"), Some(8080));
    assert_eq!(int_attr(second, "gen_ai.usage.output_tokens"), Some(3));
    assert_eq!(
        second.attribute("gen_ai.response.finish_reasons"),
        Some(&AttrValue::StrList(vec!["end_turn".into()]))
    );
}

#[tokio::test]
async fn a_full_queue_drops_without_waiting() {
    let (t, mut rx) = Telemetry::with_queue(1, 1.0, false);
    let accounting = ctx_parts().await;
    for _ in 0..3 {
        let mut ctx = Ctx::new(
            "req",
            Endpoint::Chat,
            Instant::now(),
            Arc::from("anon"),
            accounting.clone(),
        );
        ctx.trace = t.begin(&HeaderMap::new(), ctx.start, b"{}");
        ctx.record(400, "error", Some("bad_request"), None);
    }
    let spans = drain(&mut rx);
    assert_eq!(spans.len(), 1, "the queue holds one span");
    let s = &spans[0];
    assert_eq!(s.status, SpanStatus::Error("bad_request".into()));
    assert_eq!(str_attr(s, "error.type"), Some("bad_request"));
    assert!(s.parent_span_id.is_none());
    // No content without capture_content.
    assert!(s.attribute("gen_ai.input.messages").is_none());
}
