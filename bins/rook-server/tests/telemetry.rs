//! End to end: OpenTelemetry traces through the real binary, exported to an
//! in-test OTLP/HTTP receiver (`otlp/mod.rs`), with two accounts on fake upstreams.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod otlp;

use std::path::Path;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode};
use otlp::{Received, Receiver};
use rook_test_support::cluster::wait_until;
use rook_test_support::{http, FakeUpstream, Reply, RookServer};
use serde_json::json;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rook-server"))
}

const ADMIN: &str = "admin-token-otel-0123456";
const OTEL_SECRET: &str = "Bearer OTEL-SECRET-5d1c9e";
const PROMPT: &str = "PROMPT-CANARY-tell-me-about-otters";
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

fn config(a: &FakeUpstream, b: &FakeUpstream, telemetry: &str) -> String {
    format!(
        r#"
host = "127.0.0.1"
port = {{port}}
database_url = "sqlite://{{dir}}/rook.db"
shutdown_grace_seconds = 2

[admin_auth]
bearer_token_env = "ROOK_ADMIN_TOKEN"

{telemetry}

[[accounts]]
id = "acct-a"
vendor = "open_ai"
base_url = "{a}"
priority = 0
models = {{ "m" = "up-a" }}

[[accounts]]
id = "acct-b"
vendor = "deep_seek"
base_url = "{b}"
priority = 1
models = {{ "m" = "up-b" }}

[[pools]]
id = "main"
strategy = "priority"
members = ["acct-a", "acct-b"]

[[routes]]
model = "m"
pool = "main"
"#,
        a = a.base_url(),
        b = b.base_url(),
    )
}

fn telemetry(rx: &Receiver, extra: &str) -> String {
    format!(
        "[telemetry]\notlp_endpoint = \"{}\"\nservice_name = \"rook-e2e\"\nexport_interval_ms = 50\n\
         auth_header_value_env = \"OTEL_AUTH\"\n{extra}\n",
        rx.endpoint()
    )
}

fn env() -> [(&'static str, &'static str); 2] {
    [("ROOK_ADMIN_TOKEN", ADMIN), ("OTEL_AUTH", OTEL_SECRET)]
}

fn chat(stream: bool) -> serde_json::Value {
    json!({"model": "m", "stream": stream, "messages": [{"role": "user", "content": PROMPT}]})
}

async fn metrics(server: &RookServer) -> String {
    let auth = format!("Bearer {ADMIN}");
    http::get(&server.url("/api/metrics"), &[("authorization", &auth)])
        .await
        .unwrap()
        .text()
}

fn metric(text: &str, line_start: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Waits until the receiver has `n` spans of `trace`; returns them.
async fn spans_of(rx: &Receiver, trace: &str, n: usize) -> Vec<Received> {
    let found = wait_until(Duration::from_secs(10), || async {
        rx.spans().iter().filter(|s| s.trace_id() == trace).count() >= n
    })
    .await;
    let spans: Vec<Received> = rx
        .spans()
        .into_iter()
        .filter(|s| s.trace_id() == trace)
        .collect();
    assert!(found.is_some(), "{n} spans of {trace} expected: {spans:#?}");
    spans
}

fn kind(spans: &[Received], k: SpanKind) -> Vec<&Received> {
    spans.iter().filter(|s| s.span.kind == k as i32).collect()
}

#[tokio::test]
async fn a_failover_and_a_stream_are_traced_with_the_client_trace_id() {
    let rx = Receiver::start().await;
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    let server = RookServer::start(bin(), &config(&a, &b, &telemetry(&rx, "")), &env())
        .await
        .unwrap();
    let url = server.url("/v1/chat/completions");
    let traceparent = format!("00-{TRACE}-{CLIENT_SPAN}-01");
    let headers = [
        ("traceparent", traceparent.as_str()),
        ("tracestate", "rojo=1"),
    ];

    // acct-a answers 500: the request fails over to acct-b.
    a.push(Reply::status(500));
    let resp = http::post_json(&url, &headers, &chat(false)).await.unwrap();
    assert_eq!(resp.status, 200, "{}", resp.text());

    let spans = spans_of(&rx, TRACE, 3).await;
    assert_eq!(spans.len(), 3, "{spans:#?}");
    let servers = kind(&spans, SpanKind::Server);
    let [req] = servers[..] else {
        panic!("one SERVER span expected: {spans:#?}")
    };
    assert_eq!(req.parent_id(), CLIENT_SPAN);
    assert_eq!(req.span.name, "chat m");
    assert_eq!(req.span.trace_state, "rojo=1");
    assert_eq!(req.str("gen_ai.operation.name").as_deref(), Some("chat"));
    assert_eq!(req.str("gen_ai.request.model").as_deref(), Some("m"));
    assert_eq!(req.str("rook.outcome").as_deref(), Some("success"));
    assert_eq!(req.str("rook.account").as_deref(), Some("acct-b"));
    assert_eq!(
        req.str("http.route").as_deref(),
        Some("/v1/chat/completions")
    );
    assert_eq!(req.int("http.response.status_code"), Some(200));
    assert_eq!(req.int("rook.attempts"), Some(2));
    assert!(req.str("rook.request_id").unwrap().starts_with("req_"));
    assert_eq!(req.resource("service.name"), Some("rook-e2e"));
    assert!(!req.resource("service.version").unwrap_or("").is_empty());
    let status = http::get(
        &server.url("/api/status"),
        &[("authorization", &format!("Bearer {ADMIN}"))],
    )
    .await
    .unwrap()
    .json();
    let instance = status["cluster"]["this"]["instance_id"].as_str().unwrap();
    assert_eq!(req.resource("service.instance.id"), Some(instance));

    let mut attempts = kind(&spans, SpanKind::Client);
    attempts.sort_by_key(|s| s.int("rook.attempt"));
    let [first, second] = attempts[..] else {
        panic!("two CLIENT spans expected: {spans:#?}")
    };
    for s in [first, second] {
        assert_eq!(
            s.parent_id(),
            req.span_id(),
            "attempts are children of the request"
        );
        assert_eq!(s.str("gen_ai.operation.name").as_deref(), Some("chat"));
        assert_eq!(s.str("rook.route").as_deref(), Some("m"));
        assert_eq!(s.str("server.address").as_deref(), Some("127.0.0.1"));
        assert_eq!(s.str("rook.request_id"), req.str("rook.request_id"));
    }
    assert_eq!(first.int("rook.attempt"), Some(1));
    assert_eq!(first.str("rook.account").as_deref(), Some("acct-a"));
    assert_eq!(first.str("gen_ai.system").as_deref(), Some("openai"));
    assert_eq!(first.str("gen_ai.request.model").as_deref(), Some("up-a"));
    assert_eq!(first.span.name, "chat up-a");
    assert_eq!(first.str("rook.outcome").as_deref(), Some("server_error"));
    assert_eq!(first.str("error.type").as_deref(), Some("server_error"));
    assert_eq!(
        first.str("rook.retry.decision").as_deref(),
        Some("retry_scheduled")
    );
    assert_eq!(first.int("http.response.status_code"), Some(500));
    assert_eq!(
        first.span.status.as_ref().unwrap().code,
        StatusCode::Error as i32
    );
    assert_eq!(second.int("rook.attempt"), Some(2));
    assert_eq!(second.str("rook.account").as_deref(), Some("acct-b"));
    assert_eq!(second.str("gen_ai.system").as_deref(), Some("deepseek"));
    assert_eq!(second.str("gen_ai.request.model").as_deref(), Some("up-b"));
    assert_eq!(second.str("gen_ai.response.model").as_deref(), Some("up-b"));
    assert!(second
        .str("gen_ai.response.id")
        .unwrap()
        .starts_with("chatcmpl-"));
    assert_eq!(
        second.list("gen_ai.response.finish_reasons"),
        Some(vec!["stop".into()])
    );
    assert_eq!(second.str("rook.outcome").as_deref(), Some("success"));
    assert_eq!(
        second.str("rook.retry.decision").as_deref(),
        Some("succeeded_after_retry")
    );
    assert_eq!(second.int("http.response.status_code"), Some(200));
    assert!(second.int("gen_ai.usage.input_tokens").unwrap() > 0);
    assert!(second.int("gen_ai.usage.output_tokens").unwrap() > 0);
    assert_ne!(
        second.span.status.as_ref().unwrap().code,
        StatusCode::Error as i32
    );

    // Each upstream call carried its attempt span as the parent; tracestate kept.
    let sent_a = a.chat_requests();
    let sent_b = b.chat_requests();
    let tp = |r: &rook_test_support::RecordedRequest| r.header("traceparent").unwrap().to_string();
    assert_eq!(tp(&sent_a[0]), format!("00-{TRACE}-{}-01", first.span_id()));
    assert_eq!(
        tp(&sent_b[0]),
        format!("00-{TRACE}-{}-01", second.span_id())
    );
    assert_eq!(sent_b[0].header("tracestate"), Some("rojo=1"));

    // A stream: its spans end with the stream, usage included.
    let stream_trace = "0af7651916cd43dd8448eb211c80319c";
    let tp = format!("00-{stream_trace}-b7ad6b7169203331-01");
    let resp = http::post_json_stream(&url, &[("traceparent", tp.as_str())], &chat(true))
        .await
        .unwrap()
        .collect()
        .await;
    assert!(resp.text().contains("[DONE]"), "{}", resp.text());
    let spans = spans_of(&rx, stream_trace, 2).await;
    let req = kind(&spans, SpanKind::Server)[0].clone();
    let att = kind(&spans, SpanKind::Client)[0].clone();
    assert_eq!(req.str("rook.stream").as_deref(), Some("true"));
    assert_eq!(att.parent_id(), req.span_id());
    assert_eq!(att.str("rook.account").as_deref(), Some("acct-a"));
    for s in [&req, &att] {
        assert!(s.int("gen_ai.usage.input_tokens").unwrap() > 0, "{s:#?}");
        assert!(s.int("gen_ai.usage.output_tokens").unwrap() > 0, "{s:#?}");
    }

    // No prompt text without capture_content; the collector got the auth header,
    // the logs never show it.
    let posts = rx.posts();
    assert!(posts.iter().all(|p| p.path == "/v1/traces"));
    assert!(posts
        .iter()
        .all(|p| p.header("content-type") == Some("application/x-protobuf")));
    assert!(posts
        .iter()
        .all(|p| p.header("authorization") == Some(OTEL_SECRET)));
    let all: Vec<u8> = posts.iter().flat_map(|p| p.body.to_vec()).collect();
    assert!(!String::from_utf8_lossy(&all).contains(PROMPT));
    assert!(!server.logs().contains("OTEL-SECRET"), "{}", server.logs());
    let text = metrics(&server).await;
    assert!(
        metric(&text, "rook_otel_spans_exported_total").unwrap() >= 5.0,
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "rook_otel_spans_dropped_total{reason=\"queue_full\"}"
        ),
        Some(0.0),
        "{text}"
    );
}

#[tokio::test]
async fn captured_content_is_exported_and_the_queue_is_flushed_on_sigterm() {
    let rx = Receiver::start().await;
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    // A long interval: only the shutdown flush exports.
    let t = telemetry(&rx, "capture_content = true\nsample_ratio = 1.0")
        .replace("export_interval_ms = 50", "export_interval_ms = 600000");
    let mut server = RookServer::start(bin(), &config(&a, &b, &t), &env())
        .await
        .unwrap();
    a.push(Reply::chat("ANSWER-CANARY-otters-hold-hands"));
    let resp = http::post_json(&server.url("/v1/chat/completions"), &[], &chat(false))
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    assert!(
        rx.posts().is_empty(),
        "nothing before the interval or shutdown"
    );
    server.sigterm().unwrap();
    assert!(server.wait_exit(Duration::from_secs(15)).await.is_some());
    let spans = rx.spans();
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let req = kind(&spans, SpanKind::Server)[0].clone();
    // A root trace: no parent, a fresh trace id.
    assert!(req.span.parent_span_id.is_empty());
    assert_eq!(req.trace_id().len(), 32);
    assert!(req.str("gen_ai.input.messages").unwrap().contains(PROMPT));
    assert!(req
        .str("gen_ai.output.messages")
        .unwrap()
        .contains("ANSWER-CANARY-otters-hold-hands"));
    // The upstream got the attempt's traceparent in the new trace.
    let sent = a.chat_requests()[0]
        .header("traceparent")
        .unwrap()
        .to_string();
    assert!(
        sent.starts_with(&format!("00-{}-", req.trace_id())),
        "{sent}"
    );
}

#[tokio::test]
async fn with_telemetry_off_nothing_is_exported_and_traceparent_passes_unchanged() {
    let rx = Receiver::start().await;
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    let mut server = RookServer::start(bin(), &config(&a, &b, ""), &env())
        .await
        .unwrap();
    let tp = format!("00-{TRACE}-{CLIENT_SPAN}-01");
    let resp = http::post_json(
        &server.url("/v1/chat/completions"),
        &[("traceparent", tp.as_str()), ("tracestate", "rojo=1")],
        &chat(false),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 200);
    let sent = &a.chat_requests()[0];
    assert_eq!(sent.header("traceparent"), Some(tp.as_str()));
    assert_eq!(sent.header("tracestate"), Some("rojo=1"));
    let text = metrics(&server).await;
    assert!(!text.contains("rook_otel_"), "{text}");
    assert!(!server.logs().contains("OpenTelemetry"));
    // After a clean shutdown (where an exporter would flush) the receiver has nothing.
    server.sigterm().unwrap();
    assert!(server.wait_exit(Duration::from_secs(15)).await.is_some());
    assert!(rx.posts().is_empty());
}

#[tokio::test]
async fn a_full_queue_drops_spans_and_chat_is_unaffected() {
    let rx = Receiver::start().await;
    rx.stall();
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    let t = telemetry(
        &rx,
        "queue_size = 2\nmax_batch = 1\nexport_timeout_ms = 20000",
    );
    let server = RookServer::start(bin(), &config(&a, &b, &t), &env())
        .await
        .unwrap();
    let url = server.url("/v1/chat/completions");
    let started = Instant::now();
    for _ in 0..20 {
        let resp = http::post_json(&url, &[], &chat(false)).await.unwrap();
        assert_eq!(resp.status, 200);
    }
    // The exporter is stuck on the stalled collector for 20 s; chat is not.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let dropped = wait_until(Duration::from_secs(5), || async {
        let text = metrics(&server).await;
        metric(
            &text,
            "rook_otel_spans_dropped_total{reason=\"queue_full\"}",
        )
        .unwrap_or(0.0)
            > 0.0
    })
    .await;
    let text = metrics(&server).await;
    assert!(dropped.is_some(), "{text}");
    // 20 requests, 40 spans: at most the queue, the batch in flight and a few
    // racing the exporter's receive got through; the rest were counted.
    let lost = metric(
        &text,
        "rook_otel_spans_dropped_total{reason=\"queue_full\"}",
    )
    .unwrap();
    assert!(lost >= 30.0, "{text}");
    rx.release();
}

#[tokio::test]
async fn the_collector_is_retried_once_on_503_and_a_400_drops_the_batch() {
    let rx = Receiver::start().await;
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    // One batch per request (two spans).
    let t = telemetry(&rx, "max_batch = 2")
        .replace("export_interval_ms = 50", "export_interval_ms = 600000");
    let server = RookServer::start(bin(), &config(&a, &b, &t), &env())
        .await
        .unwrap();
    let url = server.url("/v1/chat/completions");
    let exported = |want: f64| {
        let server = &server;
        async move {
            wait_until(Duration::from_secs(10), || async {
                metric(&metrics(server).await, "rook_otel_spans_exported_total") == Some(want)
            })
            .await
            .is_some()
        }
    };
    // 503 with Retry-After: 1, then the retry is accepted.
    rx.fail_next(503, "1");
    assert_eq!(
        http::post_json(&url, &[], &chat(false))
            .await
            .unwrap()
            .status,
        200
    );
    assert!(exported(2.0).await, "{}", metrics(&server).await);
    let posts = rx.posts();
    assert_eq!(posts.len(), 2, "the batch and its one retry");
    assert_eq!(posts[0].body, posts[1].body);
    // A 400 is not retried: the batch is dropped and counted.
    rx.fail_next(400, "0");
    assert_eq!(
        http::post_json(&url, &[], &chat(false))
            .await
            .unwrap()
            .status,
        200
    );
    let dropped = wait_until(Duration::from_secs(10), || async {
        metric(
            &metrics(&server).await,
            "rook_otel_spans_dropped_total{reason=\"export_failed\"}",
        ) == Some(2.0)
    })
    .await;
    assert!(dropped.is_some(), "{}", metrics(&server).await);
    assert_eq!(rx.posts().len(), 3);
    assert!(
        server
            .wait_for_log(
                "trace export failed: the collector answered 400",
                Duration::from_secs(5)
            )
            .await
    );
    assert!(!server.logs().contains("OTEL-SECRET"));
    let text = metrics(&server).await;
    assert!(
        text.contains("rook_otel_export_duration_seconds_bucket"),
        "{text}"
    );
}

#[tokio::test]
async fn an_unreadable_collector_credential_or_a_bad_endpoint_refuses_the_start() {
    let rx = Receiver::start().await;
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    // OTEL_AUTH is not set: the start fails, naming the variable.
    let cfg = config(&a, &b, &telemetry(&rx, ""));
    let (code, logs) =
        RookServer::start_expect_failure(bin(), &cfg, &[("ROOK_ADMIN_TOKEN", ADMIN)])
            .await
            .unwrap();
    assert_eq!(code, 2, "{logs}");
    assert!(logs.contains("OTEL_AUTH"), "{logs}");
    // Credentials in the endpoint are refused without being echoed.
    let bad = config(
        &a,
        &b,
        "[telemetry]\notlp_endpoint = \"http://user:pw-7c1e@127.0.0.1:4318\"\n",
    );
    let (code, logs) = RookServer::start_expect_failure(bin(), &bad, &env())
        .await
        .unwrap();
    assert_eq!(code, 2, "{logs}");
    assert!(logs.contains("telemetry.otlp_endpoint"), "{logs}");
    assert!(!logs.contains("pw-7c1e"), "{logs}");
}

#[tokio::test]
async fn a_client_that_leaves_before_the_answer_still_ends_its_spans() {
    let rx = Receiver::start().await;
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    let server = RookServer::start(bin(), &config(&a, &b, &telemetry(&rx, "")), &env())
        .await
        .unwrap();
    // acct-a takes 3 s to answer; the client gives up after 300 ms.
    a.push(Reply::chat("too late").delay(Duration::from_secs(3)));
    let traceparent = format!("00-{TRACE}-{CLIENT_SPAN}-01");
    let gone = tokio::time::timeout(
        Duration::from_millis(300),
        http::post_json(
            &server.url("/v1/chat/completions"),
            &[("traceparent", traceparent.as_str())],
            &chat(false),
        ),
    )
    .await;
    assert!(gone.is_err(), "the answer should not have come in time");
    let spans = spans_of(&rx, TRACE, 2).await;
    let req = kind(&spans, SpanKind::Server)[0].clone();
    let attempt = kind(&spans, SpanKind::Client)[0].clone();
    assert_eq!(req.str("rook.outcome").as_deref(), Some("client_gone"));
    assert_eq!(req.int("http.response.status_code"), Some(499));
    assert_eq!(req.str("error.type").as_deref(), Some("client_gone"));
    assert_eq!(
        req.span.status.as_ref().map(|s| s.code),
        Some(StatusCode::Error as i32)
    );
    assert_eq!(attempt.str("rook.outcome").as_deref(), Some("client_gone"));
    assert_eq!(attempt.str("rook.account").as_deref(), Some("acct-a"));
    assert_eq!(attempt.span.parent_span_id, req.span.span_id);
    // Once, not again when the upstream's late answer is dropped.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        rx.spans().iter().filter(|s| s.trace_id() == TRACE).count(),
        2
    );
}
