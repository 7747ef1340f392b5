//! A finished request's usage, as the request path hands it to the writer.

use std::sync::Arc;
use std::time::Duration;

use rook_protocol::Usage;
use rook_registry::UsageEvent;

use crate::now_ms;

/// What the request path knows about a finished request.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    /// Request id.
    pub(crate) request_id: String,
    /// Hashed principal (never the raw token); `None` when unauthenticated.
    pub(crate) principal: Option<Arc<str>>,
    /// Logical model.
    pub(crate) model: String,
    /// Vendor of the last account tried.
    pub(crate) vendor: Option<&'static str>,
    /// Last account tried.
    pub(crate) account_id: Option<Arc<str>>,
    /// Upstream model name sent.
    pub(crate) upstream_model: Option<String>,
    /// Streamed?
    pub(crate) stream: bool,
    /// Upstream attempts made.
    pub(crate) attempts: u32,
    /// `success`, `error`, `partial`, `client_gone`.
    pub(crate) outcome: String,
    /// Status sent to the client.
    pub(crate) status: u16,
    /// Time to the end of the answer.
    pub(crate) latency: Duration,
    /// Time to the upstream's first byte.
    pub(crate) ttfb: Option<Duration>,
    /// Tokens, when reported.
    pub(crate) usage: Option<Usage>,
    /// Error class, when not a success.
    pub(crate) error_class: Option<String>,
    /// Client-facing endpoint: one of `rook_registry::UsageEvent::ENDPOINTS` (`chat`, …).
    pub(crate) endpoint: &'static str,
    /// Client key id (never the secret), when known.
    pub(crate) key_id: Option<Arc<str>>,
    /// The cost of `usage` from the price table ([`super::writer::UsageSink::price`]),
    /// priced once on the request path (it is charged to the key and shown in the
    /// recent-requests ring too).
    pub(crate) cost_usd: Option<f64>,
}

impl Record {
    pub(crate) fn into_event(self) -> UsageEvent {
        UsageEvent {
            id: None,
            request_id: self.request_id,
            ts_ms: now_ms(),
            principal_hash: self.principal.map(|p| p.to_string()),
            model: self.model,
            vendor: self.vendor.map(str::to_string),
            account_id: self.account_id.map(|a| a.to_string()),
            upstream_model: self.upstream_model,
            stream: self.stream,
            attempts: self.attempts,
            outcome: self.outcome,
            status_code: self.status,
            latency_ms: u64::try_from(self.latency.as_millis()).unwrap_or(u64::MAX),
            ttfb_ms: self
                .ttfb
                .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
            prompt_tokens: self.usage.map(|u| u.prompt_tokens),
            completion_tokens: self.usage.map(|u| u.completion_tokens),
            total_tokens: self.usage.map(|u| u.total_tokens),
            cost_usd: self.cost_usd,
            error_class: self.error_class,
            endpoint: self.endpoint.to_string(),
            key_id: self.key_id.map(|k| k.to_string()),
            event_key: None,
        }
    }
}
