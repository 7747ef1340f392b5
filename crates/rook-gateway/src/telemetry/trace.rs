//! One request's trace: the SERVER span of the request and a CLIENT span per
//! attempt (= upstream call), built from what the attempt loop and the
//! accounting already know, and handed to the exporter's queue when they end.
//!
//! An attempt that failed ends at once, with its retry decision. The attempt
//! that succeeded stays open until the request is recorded — for a stream,
//! when the stream ends — and then ends with the usage, just before the
//! request span.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use http::{HeaderValue, Uri};
use rook_observability::otel::genai as g;
use rook_observability::otel::{
    traceparent, AttrValue, SpanData, SpanId, SpanKind, SpanStatus, TraceId,
};
use rook_protocol::Usage;

use super::content::{AnswerFacts, Captured, InputContent};
use super::Telemetry;
use crate::accounting::Ctx;

/// Nanoseconds since the Unix epoch, now.
pub(crate) fn now_unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A new random span id (never zero).
fn new_span_id() -> SpanId {
    SpanId::from_u64(fastrand::u64(1..))
}

/// A sampled request's trace state.
pub(crate) struct RequestTrace {
    pub(super) sink: Arc<Telemetry>,
    pub(super) trace_id: TraceId,
    pub(super) span_id: SpanId,
    /// The client's span (remote parent), when it sent a valid `traceparent`.
    pub(super) parent: Option<SpanId>,
    pub(super) trace_state: String,
    pub(super) start: u64,
    /// Captured request content (`capture_content`).
    pub(super) input: Option<InputContent>,
    /// The attempt in flight, or the one that succeeded.
    attempt: Option<OpenAttempt>,
    /// What the successful buffered answer said.
    answer: Option<AnswerFacts>,
    /// The spans were handed to the exporter (the request was recorded).
    done: AtomicBool,
}

/// The outcome label of a request whose client left before it was answered.
pub(crate) const CLIENT_GONE: &str = "client_gone";

/// The status a request span carries when no answer reached the client (nginx's
/// "client closed request").
pub(crate) const CLIENT_CLOSED_STATUS: u16 = 499;

/// An attempt span not ended yet.
struct OpenAttempt {
    span_id: SpanId,
    start: u64,
    number: u32,
    account: Arc<str>,
    vendor: &'static str,
    upstream_model: String,
    server: Option<(String, u16)>,
    status: Option<u16>,
    /// `stream_error` once a successful stream failed after its first byte.
    late_failure: bool,
}

/// Who an attempt goes to.
pub(crate) struct Target<'a> {
    pub(crate) account: &'a Arc<str>,
    pub(crate) vendor: &'static str,
    pub(crate) upstream_model: &'a str,
    pub(crate) uri: &'a Uri,
}

/// How the request ended (what [`Ctx::record`] is told).
pub(crate) struct RequestEnd<'a> {
    pub(crate) status: u16,
    pub(crate) outcome: &'a str,
    pub(crate) error_class: Option<&'a str>,
    pub(crate) usage: Option<Usage>,
}

impl RequestTrace {
    pub(super) fn new(
        sink: Arc<Telemetry>,
        trace_id: TraceId,
        parent: Option<SpanId>,
        trace_state: String,
        start: u64,
    ) -> RequestTrace {
        RequestTrace {
            sink,
            trace_id,
            span_id: new_span_id(),
            parent,
            trace_state,
            start,
            input: None,
            attempt: None,
            answer: None,
            done: AtomicBool::new(false),
        }
    }

    /// Whether answers' content is captured (`capture_content`).
    pub(crate) fn captures_content(&self) -> bool {
        self.sink.captures_content()
    }

    /// Opens attempt `number`'s span; the `traceparent` for its upstream call.
    pub(crate) fn begin_attempt(&mut self, number: u32, to: Target<'_>) -> Option<HeaderValue> {
        let span_id = new_span_id();
        let server = to.uri.host().map(|h| {
            let port = to.uri.port_u16().unwrap_or(match to.uri.scheme_str() {
                Some("https") => 443,
                _ => 80,
            });
            (h.trim_matches(['[', ']']).to_owned(), port)
        });
        self.attempt = Some(OpenAttempt {
            span_id,
            start: now_unix_nanos(),
            number,
            account: to.account.clone(),
            vendor: to.vendor,
            upstream_model: to.upstream_model.to_owned(),
            server,
            status: None,
            late_failure: false,
        });
        HeaderValue::from_str(&traceparent::format(self.trace_id, span_id, true)).ok()
    }

    /// Ends the open attempt as failed: its outcome label, the upstream status
    /// if it answered, and what the failure led to.
    pub(crate) fn attempt_failed(
        &mut self,
        ctx: &Ctx<'_>,
        outcome: &str,
        status: Option<u16>,
        decision: &str,
    ) {
        if let Some(mut a) = self.attempt.take() {
            a.status = status;
            let span = self.attempt_span(ctx, &a, outcome, Some(decision), None);
            self.sink.submit(span);
        }
    }

    /// Marks the open attempt successful (it ends with the request); `answer`
    /// for buffered answers.
    pub(crate) fn attempt_succeeded(&mut self, status: u16, answer: Option<AnswerFacts>) {
        if let Some(a) = &mut self.attempt {
            a.status = Some(status);
        }
        self.answer = answer;
    }

    /// The successful stream failed after its first byte.
    pub(crate) fn stream_failed(&mut self) {
        if let Some(a) = &mut self.attempt {
            a.late_failure = true;
        }
    }

    /// Ends the spans of a request dropped before it was recorded: its client left
    /// while Rook was waiting for the upstream (the open attempt and the request
    /// end as `client_gone`, status 499). Nothing when the request was recorded.
    pub(crate) fn abandon(&self, ctx: &Ctx<'_>) {
        if self.done.load(Ordering::Acquire) {
            return;
        }
        self.finish(
            ctx,
            &RequestEnd {
                status: CLIENT_CLOSED_STATUS,
                outcome: CLIENT_GONE,
                error_class: Some(CLIENT_GONE),
                usage: None,
            },
        );
    }

    /// Ends the open attempt (if any) and the request span, once.
    pub(crate) fn finish(&self, ctx: &Ctx<'_>, end: &RequestEnd<'_>) {
        if self.done.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(a) = &self.attempt {
            let (outcome, decision) = if end.outcome == CLIENT_GONE {
                (CLIENT_GONE, None)
            } else if a.late_failure {
                ("stream_error", None)
            } else {
                let retried = a.number > 1;
                ("success", retried.then_some("succeeded_after_retry"))
            };
            let span = self.attempt_span(ctx, a, outcome, decision, end.usage);
            self.sink.submit(span);
        }
        self.sink.submit(self.request_span(ctx, end));
    }

    fn attempt_span(
        &self,
        ctx: &Ctx<'_>,
        a: &OpenAttempt,
        outcome: &str,
        decision: Option<&str>,
        usage: Option<Usage>,
    ) -> SpanData {
        let op = g::operation_for_endpoint(ctx.endpoint.as_str());
        let system = g::system_for_vendor(a.vendor);
        let mut attrs: Vec<(&'static str, AttrValue)> = Vec::with_capacity(24);
        attrs.push((g::OPERATION_NAME, op.into()));
        attrs.push((g::SYSTEM, system.into()));
        attrs.push((g::PROVIDER_NAME, system.into()));
        attrs.push((g::REQUEST_MODEL, a.upstream_model.as_str().into()));
        let success = outcome == "success";
        if success {
            if let Some(f) = &self.answer {
                facts(&mut attrs, f);
            }
            tokens(&mut attrs, usage);
        }
        if let Some((host, port)) = &a.server {
            attrs.push((g::SERVER_ADDRESS, host.as_str().into()));
            attrs.push((g::SERVER_PORT, i64::from(*port).into()));
        }
        if let Some(s) = a.status {
            attrs.push((g::HTTP_RESPONSE_STATUS_CODE, s.into()));
        }
        if !success {
            attrs.push((g::ERROR_TYPE, outcome.into()));
        }
        attrs.push((g::ROOK_ACCOUNT, (*a.account).into()));
        attrs.push((g::ROOK_VENDOR, a.vendor.into()));
        attrs.push((g::ROOK_ATTEMPT, a.number.into()));
        attrs.push((g::ROOK_OUTCOME, outcome.into()));
        if let Some(d) = decision {
            attrs.push((g::ROOK_RETRY_DECISION, d.into()));
        }
        common(&mut attrs, ctx);
        SpanData {
            trace_id: self.trace_id,
            span_id: a.span_id,
            parent_span_id: Some(self.span_id),
            parent_is_remote: false,
            trace_state: self.trace_state.clone(),
            name: g::span_name(op, &a.upstream_model),
            kind: SpanKind::Client,
            start_unix_nanos: a.start,
            end_unix_nanos: now_unix_nanos(),
            attributes: attrs,
            status: if success {
                SpanStatus::Unset
            } else {
                SpanStatus::Error(outcome.to_owned())
            },
        }
    }

    fn request_span(&self, ctx: &Ctx<'_>, end: &RequestEnd<'_>) -> SpanData {
        let op = g::operation_for_endpoint(ctx.endpoint.as_str());
        let mut attrs: Vec<(&'static str, AttrValue)> = Vec::with_capacity(24);
        attrs.push((g::OPERATION_NAME, op.into()));
        if !ctx.model.is_empty() {
            attrs.push((g::REQUEST_MODEL, ctx.model.as_str().into()));
        }
        if let Some(f) = &self.answer {
            facts(&mut attrs, f);
        }
        tokens(&mut attrs, end.usage);
        attrs.push((g::HTTP_REQUEST_METHOD, "POST".into()));
        attrs.push((g::HTTP_ROUTE, ctx.endpoint.path().into()));
        attrs.push((g::HTTP_RESPONSE_STATUS_CODE, end.status.into()));
        if let Some(class) = end.error_class {
            attrs.push((g::ERROR_TYPE, class.into()));
        }
        attrs.push((g::ROOK_ENDPOINT, ctx.endpoint.as_str().into()));
        if let Some(a) = &ctx.account {
            attrs.push((g::ROOK_ACCOUNT, (**a).into()));
        }
        attrs.push((g::ROOK_ATTEMPTS, ctx.attempts.into()));
        attrs.push((g::ROOK_OUTCOME, end.outcome.into()));
        attrs.push((g::ROOK_STREAM, ctx.stream.into()));
        common(&mut attrs, ctx);
        let mut truncated = false;
        let mut content = |key: &'static str, c: &Option<Captured>| {
            if let Some(c) = c {
                truncated |= c.truncated;
                attrs.push((key, c.text.as_str().into()));
            }
        };
        if let Some(input) = &self.input {
            content(g::INPUT_MESSAGES, &input.messages);
            content(g::SYSTEM_INSTRUCTIONS, &input.system);
        }
        if let Some(f) = &self.answer {
            content(g::OUTPUT_MESSAGES, &f.output);
        }
        if truncated {
            attrs.push((g::ROOK_CONTENT_TRUNCATED, true.into()));
        }
        let failed = matches!(end.outcome, "error" | "partial" | CLIENT_GONE);
        SpanData {
            trace_id: self.trace_id,
            span_id: self.span_id,
            parent_span_id: self.parent,
            parent_is_remote: self.parent.is_some(),
            trace_state: self.trace_state.clone(),
            name: g::span_name(op, &ctx.model),
            kind: SpanKind::Server,
            start_unix_nanos: self.start,
            end_unix_nanos: now_unix_nanos(),
            attributes: attrs,
            status: if failed {
                SpanStatus::Error(end.error_class.unwrap_or(end.outcome).to_owned())
            } else {
                SpanStatus::Unset
            },
        }
    }
}

/// The answer's model, id and finish reasons.
fn facts(attrs: &mut Vec<(&'static str, AttrValue)>, f: &AnswerFacts) {
    if let Some(m) = &f.model {
        attrs.push((g::RESPONSE_MODEL, m.as_str().into()));
    }
    if let Some(id) = &f.id {
        attrs.push((g::RESPONSE_ID, id.as_str().into()));
    }
    if !f.finish_reasons.is_empty() {
        attrs.push((
            g::RESPONSE_FINISH_REASONS,
            AttrValue::StrList(f.finish_reasons.clone()),
        ));
    }
}

fn tokens(attrs: &mut Vec<(&'static str, AttrValue)>, usage: Option<Usage>) {
    if let Some(u) = usage {
        attrs.push((g::USAGE_INPUT_TOKENS, u.prompt_tokens.into()));
        attrs.push((g::USAGE_OUTPUT_TOKENS, u.completion_tokens.into()));
    }
}

/// The attributes every span of the request carries.
fn common(attrs: &mut Vec<(&'static str, AttrValue)>, ctx: &Ctx<'_>) {
    if !ctx.model.is_empty() {
        attrs.push((g::ROOK_ROUTE, ctx.model.as_str().into()));
    }
    if let Some(k) = &ctx.key {
        attrs.push((g::ROOK_CLIENT_KEY, (*k.id).into()));
    }
    attrs.push((g::ROOK_REQUEST_ID, ctx.request_id.into()));
}
