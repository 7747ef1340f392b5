//! The client's response from a successful attempt: a buffered answer as is, or
//! a stream through the relay, whose finish hook settles the account's token
//! reservation, reports a late failure to its health, and records the request.
//!
//! Either way no account key reaches the client: the body is scrubbed (the
//! buffered one at once, a stream chunk by chunk) and only allowlisted
//! upstream headers without a key pass (`headers.rs`).

use http::{header, HeaderValue, Response};
use rook_protocol::ErrorClass;

use super::buffers::HeldBody;
use super::gauges::InFlight;
use super::headers::relay_response_headers;
use super::limits::Reserved;
use super::plan::Answer;
use super::relay::{RelayBody, StreamEnd, StreamSummary};
use super::send::Success;
use super::snapshot::AccountRuntime;
use super::translate::stream_translator;
use super::Proxy;
use crate::accounting::ctx::Detached;
use crate::accounting::metrics as m;
use crate::accounting::Ctx;
use crate::body::RookBody;

/// Builds the client's response from a successful attempt. `held` (the upstream
/// permit and the in-flight mark) lives as long as the answer is being relayed.
pub(crate) fn respond(
    proxy: &Proxy,
    acct: &AccountRuntime,
    success: Success,
    held: (rook_resilience::Permit, InFlight),
    reservation: Option<Reserved>,
    ctx: &mut Ctx<'_>,
    include_usage: bool,
) -> Response<RookBody> {
    match success {
        Success::Buffered {
            status,
            headers,
            body,
            usage,
            hold,
        } => {
            drop(held);
            if let Some(r) = reservation {
                r.settle(usage.map(|u| u.total_tokens));
            }
            // A key-echoing upstream gets no key to the client; hyper frames
            // the (maybe shorter or longer) body itself. The held bytes stay
            // reserved in the buffered-answer budget until the client has them.
            let body = acct.secrets.scrub(body);
            ctx.trace_success(status.as_u16(), Some(&body));
            let mut resp = Response::new(RookBody::Held(HeldBody::new(body, hold)));
            *resp.status_mut() = status;
            relay_response_headers(&headers, resp.headers_mut(), &acct.secrets);
            ctx.record(status.as_u16(), "success", None, usage);
            resp
        }
        Success::Stream {
            status,
            headers,
            first,
            rest,
            answer,
        } => {
            ctx.trace_success(status.as_u16(), None);
            let fin = Finish {
                ctx: ctx.detach(),
                status: status.as_u16(),
                health: proxy.health.clone(),
                account: acct.id.clone(),
                label: acct.label.clone(),
                reservation,
            };
            let relay = RelayBody::new(
                rest,
                proxy.tuning.load().timeouts.stream_idle,
                rook_protocol::sse::SseObserver::new(),
                Some(Box::new(held)),
                Some(proxy.lifecycle.stream_shutdown()),
                Box::new(move |summary| fin.done(summary)),
            )
            .with_prefix(first)
            .with_translator(stream_translator(answer, &ctx.model, include_usage))
            .in_dialect(ctx.endpoint.dialect())
            .scrubbing(acct.secrets.clone());
            let relay = match answer {
                Answer::OpenAi {
                    strip_usage_chunk: true,
                } => relay.strip_usage_chunk(),
                _ => relay,
            };
            let mut resp = Response::new(RookBody::Relay(Box::new(relay)));
            *resp.status_mut() = status;
            relay_response_headers(&headers, resp.headers_mut(), &acct.secrets);
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            resp.headers_mut()
                .insert("x-accel-buffering", HeaderValue::from_static("no"));
            resp
        }
    }
}

/// What a stream's finish hook needs.
struct Finish {
    ctx: Detached,
    status: u16,
    health: std::sync::Arc<super::health::Health>,
    account: std::sync::Arc<str>,
    label: String,
    reservation: Option<Reserved>,
}

impl Finish {
    fn done(mut self, summary: StreamSummary) {
        if let Some(r) = self.reservation.take() {
            r.settle(summary.usage.map(|u| u.total_tokens));
        }
        let outcome = match summary.end {
            StreamEnd::Completed | StreamEnd::EndedWithoutDone => "success",
            StreamEnd::ClientGone => "client_gone",
            _ => "partial",
        };
        let mut ctx = self.ctx.ctx();
        if summary.not_json_events > 0 {
            m::invalid_stream_events(
                ctx.vendor.unwrap_or("none"),
                &self.label,
                summary.not_json_events,
            );
        }
        if matches!(
            summary.end,
            StreamEnd::UpstreamError | StreamEnd::IdleTimeout
        ) {
            self.health
                .late_failure(&self.account, ErrorClass::StreamError);
            if let Some(t) = ctx.trace.as_mut() {
                t.stream_failed();
            }
            m::upstream_stream_error(
                ctx.vendor.unwrap_or("none"),
                &self.label,
                &ctx.model,
                ctx.endpoint.as_str(),
            );
        }
        let class = (!summary.end.is_complete()).then(|| summary.end.as_str());
        ctx.record(self.status, outcome, class, summary.usage);
    }
}
