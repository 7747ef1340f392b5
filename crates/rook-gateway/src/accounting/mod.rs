//! Accounting: what each request cost and how it ended.
//!
//! One entry point, [`Accounting::record`], takes a finished request's facts
//! ([`Ctx`]) and writes its log line, counts its tokens, prices it and queues its
//! usage event for the batched writer ([`writer`]), first appending it to the usage
//! journal ([`journal`]) so that a killed process loses none, and keeps its summary
//! in the ring of recent requests ([`recent`]). The metrics facade calls of the
//! request path live in [`metrics`].

pub(crate) mod ctx;
pub(crate) mod journal;
pub(crate) mod metrics;
pub(crate) mod recent;
pub(crate) mod record;
pub(crate) mod writer;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use rook_config::ModelPrice;
use rook_protocol::Usage;
use rook_registry::Registry;

pub(crate) use ctx::Ctx;
use recent::{Recent, Summary};
use writer::{Record, UsageSink};

use crate::endpoint::Endpoint;
use crate::error::ApiError;
use crate::now_ms;

/// The accounting of a running gateway. See the module docs.
pub(crate) struct Accounting {
    sink: UsageSink,
    recent: Recent,
}

impl Accounting {
    /// Starts the usage writer on `registry` (nothing is written when usage
    /// recording is disabled), journaling to `journal` when given.
    pub(crate) fn start(
        registry: Registry,
        usage: &rook_config::Usage,
        pricing: BTreeMap<String, ModelPrice>,
        journal: Option<Arc<journal::Journal>>,
    ) -> Accounting {
        Accounting {
            sink: UsageSink::start(registry, usage, pricing, journal),
            recent: Recent::new(recent::CAPACITY),
        }
    }

    /// Replaces the price table (`[pricing]` changed by a configuration reload).
    pub(crate) fn set_pricing(&self, pricing: BTreeMap<String, ModelPrice>) {
        self.sink.set_pricing(pricing);
    }

    /// The one log line, the token counters and the usage event of a request.
    pub(crate) fn record(
        &self,
        ctx: &Ctx<'_>,
        status: u16,
        outcome: &str,
        error_class: Option<&str>,
        usage: Option<Usage>,
    ) {
        let latency = ctx.start.elapsed();
        let account_label = ctx
            .account
            .as_deref()
            .map(rook_observability::account_label);
        tracing::info!(
            request_id = ctx.request_id,
            route = %ctx.model,
            account = account_label.as_deref().unwrap_or("-"),
            attempts = ctx.attempts,
            outcome,
            error_class = error_class.unwrap_or("-"),
            status,
            stream = ctx.stream,
            latency_ms = latency.as_millis() as u64,
            endpoint = ctx.endpoint.as_str(),
            client = %ctx.client.map_or_else(|| "-".to_string(), |c| c.to_string()),
            "request"
        );
        if let (Some(vendor), Some(label)) = (ctx.vendor, account_label.as_deref()) {
            metrics::tokens(vendor, label, &ctx.model, ctx.endpoint.as_str(), usage);
        }
        let cost_usd = self.sink.price(&ctx.model, usage);
        if let Some(key) = &ctx.key {
            // The cost the usage event records is charged to the key's budget.
            if let Some(usd) = cost_usd {
                key.charge_now(usd);
            }
            if let Some(r) = ctx.key_reservation {
                key.settle(r, usage.map(|u| u.total_tokens));
            }
        }
        self.sink.record(Record {
            request_id: ctx.request_id.to_string(),
            principal: Some(ctx.principal.clone()),
            model: ctx.model.clone(),
            vendor: ctx.vendor,
            account_id: ctx.account.clone(),
            upstream_model: ctx.upstream_model.clone(),
            stream: ctx.stream,
            attempts: ctx.attempts,
            outcome: outcome.to_string(),
            status,
            latency,
            ttfb: ctx.ttfb,
            usage,
            error_class: error_class.map(str::to_string),
            endpoint: ctx.endpoint.as_str(),
            key_id: ctx.key.as_ref().map(|k| k.id.clone()),
            cost_usd,
        });
        self.recent.push(Summary {
            request_id: ctx.request_id.to_string(),
            at_ms: now_ms(),
            endpoint: ctx.endpoint.as_str(),
            route: ctx.model.clone(),
            account: account_label,
            key_id: ctx.key.as_ref().map(|k| k.id.clone()),
            attempts: ctx.attempts,
            outcome: outcome.to_string(),
            error_class: error_class.map(str::to_string),
            status,
            latency_ms: u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
            stream: ctx.stream,
            input_tokens: usage.map(|u| u.prompt_tokens),
            output_tokens: usage.map(|u| u.completion_tokens),
            cost_usd,
        });
    }

    /// Records a request refused before its body was read (unauthenticated, too
    /// large, unreadable).
    pub(crate) fn record_rejected(
        &self,
        request_id: &str,
        endpoint: Option<Endpoint>,
        start: Instant,
        principal: Option<Arc<str>>,
        err: &ApiError,
    ) {
        let status = err.status().as_u16();
        let latency = start.elapsed();
        tracing::info!(
            request_id,
            status,
            error_class = err.class(),
            "request refused"
        );
        self.sink.record(Record {
            request_id: request_id.to_string(),
            principal,
            model: String::new(),
            vendor: None,
            account_id: None,
            upstream_model: None,
            stream: false,
            attempts: 0,
            outcome: "error".into(),
            status,
            latency,
            ttfb: None,
            usage: None,
            error_class: Some(err.class().to_string()),
            endpoint: endpoint.map_or("other", Endpoint::as_str),
            key_id: None,
            cost_usd: None,
        });
        self.recent.push(Summary {
            request_id: request_id.to_string(),
            at_ms: now_ms(),
            endpoint: endpoint.map_or("other", Endpoint::as_str),
            route: String::new(),
            account: None,
            key_id: None,
            attempts: 0,
            outcome: "error".into(),
            error_class: Some(err.class().to_string()),
            status,
            latency_ms: u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
            stream: false,
            input_tokens: None,
            output_tokens: None,
            cost_usd: None,
        });
    }

    /// Up to `limit` of the last requests this instance recorded, newest first.
    pub(crate) fn recent(&self, limit: usize) -> Vec<Arc<Summary>> {
        self.recent.latest(limit)
    }

    /// Drains the usage queue (bounded), at shutdown.
    pub(crate) async fn close(&self) {
        self.sink.close().await;
    }
}
