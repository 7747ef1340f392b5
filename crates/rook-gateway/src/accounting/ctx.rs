//! The facts of one request as it goes: who asked, for what, which accounts were
//! tried, how long it took. Filled by the surface and the attempt loop; read by
//! [`Accounting::record`](super::Accounting::record).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{HeaderValue, Response};
use rook_protocol::Usage;

use super::Accounting;
use crate::app::keys::Key;
use crate::body::RookBody;
use crate::endpoint::Endpoint;
use crate::error::ApiError;
use crate::telemetry::{content, RequestEnd, RequestTrace, Target};

/// A request's facts and where to record them.
pub(crate) struct Ctx<'a> {
    pub(crate) request_id: &'a str,
    /// The surface the request came in on.
    pub(crate) endpoint: Endpoint,
    pub(crate) start: Instant,
    /// Hashed identity of the caller.
    pub(crate) principal: Arc<str>,
    /// The logical model (clipped for logs).
    pub(crate) model: String,
    pub(crate) stream: bool,
    /// Upstream attempts made so far.
    pub(crate) attempts: u32,
    /// The last account tried.
    pub(crate) account: Option<Arc<str>>,
    pub(crate) vendor: Option<&'static str>,
    pub(crate) upstream_model: Option<String>,
    /// Time to the upstream's first byte of the answer used.
    pub(crate) ttfb: Option<Duration>,
    pub(crate) accounting: Arc<Accounting>,
    /// The client address (the TCP peer, or what a trusted proxy forwarded).
    pub(crate) client: Option<IpAddr>,
    /// The client key the request was made with, and its TPM reservation.
    pub(crate) key: Option<Arc<Key>>,
    pub(crate) key_reservation: Option<crate::leases::Ticket>,
    /// The request's trace, when telemetry is on and the request is sampled.
    pub(crate) trace: Option<Box<RequestTrace>>,
}

impl<'a> Ctx<'a> {
    /// A request that has not been routed yet.
    pub(crate) fn new(
        request_id: &'a str,
        endpoint: Endpoint,
        start: Instant,
        principal: Arc<str>,
        accounting: Arc<Accounting>,
    ) -> Self {
        Ctx {
            request_id,
            endpoint,
            start,
            principal,
            model: String::new(),
            stream: false,
            attempts: 0,
            account: None,
            vendor: None,
            upstream_model: None,
            ttfb: None,
            accounting,
            client: None,
            key: None,
            key_reservation: None,
            trace: None,
        }
    }

    /// Records the request's end.
    pub(crate) fn record(
        &self,
        status: u16,
        outcome: &str,
        error_class: Option<&str>,
        usage: Option<Usage>,
    ) {
        self.accounting
            .record(self, status, outcome, error_class, usage);
        if let Some(t) = &self.trace {
            let end = RequestEnd {
                status,
                outcome,
                error_class,
                usage,
            };
            t.finish(self, &end);
        }
    }

    /// Opens the trace span of the attempt just counted; the `traceparent` its
    /// upstream call carries (`None` when the request is not traced).
    pub(crate) fn trace_attempt(&mut self, to: Target<'_>) -> Option<HeaderValue> {
        let number = self.attempts;
        self.trace.as_mut()?.begin_attempt(number, to)
    }

    /// Ends the traced attempt as failed (`outcome` is the metrics' label).
    pub(crate) fn trace_failed(&mut self, outcome: &str, status: Option<u16>, decision: &str) {
        if let Some(mut t) = self.trace.take() {
            t.attempt_failed(self, outcome, status, decision);
            self.trace = Some(t);
        }
    }

    /// The traced attempt succeeded; `body` is a buffered answer (scrubbed).
    pub(crate) fn trace_success(&mut self, status: u16, body: Option<&[u8]>) {
        if let Some(t) = self.trace.as_mut() {
            let facts = body.map(|b| content::answer_facts(b, t.captures_content()));
            t.attempt_succeeded(status, facts);
        }
    }

    /// Records an error ending and answers it. `should_retry` sets
    /// `x-should-retry`.
    pub(crate) fn fail(
        &self,
        err: ApiError,
        should_retry: Option<bool>,
        class: &str,
    ) -> Response<RookBody> {
        let status = err.status().as_u16();
        let resp = err.into_response_in(self.endpoint.dialect(), should_retry);
        self.record(status, "error", Some(class), None);
        resp
    }

    /// The facts a stream's finish hook keeps after the request future is gone
    /// (the trace moves along).
    pub(crate) fn detach(&mut self) -> Detached {
        Detached {
            request_id: self.request_id.to_string(),
            endpoint: self.endpoint,
            start: self.start,
            principal: self.principal.clone(),
            model: self.model.clone(),
            stream: self.stream,
            attempts: self.attempts,
            account: self.account.clone(),
            vendor: self.vendor,
            upstream_model: self.upstream_model.clone(),
            ttfb: self.ttfb,
            accounting: self.accounting.clone(),
            client: self.client,
            key: self.key.clone(),
            key_reservation: self.key_reservation,
            trace: self.trace.take(),
        }
    }
}

impl Drop for Ctx<'_> {
    /// A traced request dropped unrecorded (its client left while Rook waited for
    /// the upstream) still ends its spans, as `client_gone`.
    fn drop(&mut self) {
        if let Some(t) = self.trace.take() {
            t.abandon(self);
        }
    }
}

/// An owned copy of a [`Ctx`], for a stream that outlives its request handler.
pub(crate) struct Detached {
    request_id: String,
    endpoint: Endpoint,
    start: Instant,
    principal: Arc<str>,
    model: String,
    stream: bool,
    attempts: u32,
    account: Option<Arc<str>>,
    vendor: Option<&'static str>,
    upstream_model: Option<String>,
    ttfb: Option<Duration>,
    accounting: Arc<Accounting>,
    client: Option<IpAddr>,
    key: Option<Arc<Key>>,
    key_reservation: Option<crate::leases::Ticket>,
    trace: Option<Box<RequestTrace>>,
}

impl Detached {
    /// The [`Ctx`] again, borrowing the request id (the trace moves into it).
    pub(crate) fn ctx(&mut self) -> Ctx<'_> {
        Ctx {
            request_id: &self.request_id,
            endpoint: self.endpoint,
            start: self.start,
            principal: self.principal.clone(),
            model: self.model.clone(),
            stream: self.stream,
            attempts: self.attempts,
            account: self.account.clone(),
            vendor: self.vendor,
            upstream_model: self.upstream_model.clone(),
            ttfb: self.ttfb,
            accounting: self.accounting.clone(),
            client: self.client,
            key: self.key.clone(),
            key_reservation: self.key_reservation,
            trace: self.trace.take(),
        }
    }
}
