//! The `/v1` surfaces that reach upstreams (`chat/completions`, `messages`,
//! `messages/count_tokens`, `embeddings`, `responses`, `completions`): probe the
//! body, resolve the route, apply Rook's own rate limits and idempotency, then
//! hand the request to the proxy's attempt loop.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::request::Parts;
use http::Response;
use rook_protocol::openai::probe_chat;
use rook_routing::RoutingError;

use super::idempotency::{self, Early, Scope};
use super::keys::Key;
use super::App;
use crate::accounting::Ctx;
use crate::body::RookBody;
use crate::endpoint::Endpoint;
use crate::error::ApiError;
use crate::proxy::attempt::{attempt_loop, Request};
use crate::proxy::limits::estimate_tokens;

/// Who is calling: the client address and the client key (if keys are in use).
pub(crate) struct Caller {
    pub(crate) client: IpAddr,
    pub(crate) key: Option<Arc<Key>>,
}

pub(crate) async fn handle(
    app: &Arc<App>,
    endpoint: Endpoint,
    parts: Parts,
    body: Bytes,
    request_id: &str,
    start: Instant,
    caller: Caller,
) -> Response<RookBody> {
    let Caller { client, key } = caller;
    let principal = key.as_ref().map_or(&app.principal, |k| &k.principal);
    let mut ctx = Ctx::new(
        request_id,
        endpoint,
        start,
        principal.clone(),
        app.accounting.clone(),
    );
    ctx.client = Some(client);
    ctx.key = key.clone();
    if let Some(t) = &app.telemetry {
        ctx.trace = t.begin(&parts.headers, start, &body);
    }
    let probe = match probe_chat(&body) {
        Ok(p) => p,
        Err(e) => {
            let err = ApiError::BadRequest {
                message: e.to_string(),
                code: e.code(),
            };
            return ctx.fail(err, None, "bad_request");
        }
    };
    ctx.model = clip_model(&probe.model);
    ctx.stream = probe.stream;
    // The key's scope and budget (issue 13): refused without an upstream call.
    if let Some(k) = &key {
        if let Some((err, reason, retry)) = refuse_key(app, k, &probe.model).await {
            super::keys::count_rejection(reason);
            return ctx.fail(err, retry, reason);
        }
    }
    let proxy = &app.proxy;
    let snap = proxy.snapshot.load_full();
    let resolution = match snap.table.resolve(&probe.model, &proxy.view(&snap)) {
        Ok(r) => r,
        Err(RoutingError::UnknownModel { .. }) => {
            let err = ApiError::ModelNotFound {
                model: ctx.model.clone(),
            };
            return ctx.fail(err, None, "model_not_found");
        }
        Err(e) => {
            tracing::error!(error = %e, "route resolution failed");
            return ctx.fail(ApiError::Internal, None, "internal");
        }
    };
    if app.is_draining() {
        let err = ApiError::Unavailable {
            message: "The gateway is shutting down.".into(),
            code: "shutting_down",
            retry_after: Some(Duration::from_secs(1)),
        };
        return ctx.fail(err, None, "shutting_down");
    }
    // Rate limits: over any, 429 without an upstream call.
    let limits = app.rate_limits.load_full();
    if let Some((wait, scope)) = limits.over(principal, client, &probe.model).await {
        let err = ApiError::RateLimited {
            message: format!(
                "Rate limit exceeded for this {scope}; retry after the indicated time."
            ),
            retry_after: Some(wait.max(Duration::from_secs(1))),
            code: "rate_limit_exceeded",
        };
        return ctx.fail(err, None, "rate_limited");
    }
    // The key's RPM/TPM (the TPM estimate is settled when the request is recorded).
    if let Some(k) = &key {
        match k.reserve(estimate_tokens(&body, probe.max_tokens)).await {
            Ok(r) => ctx.key_reservation = r,
            Err(err) => {
                super::keys::count_rejection("rate_limited");
                return ctx.fail(err, None, "rate_limited");
            }
        }
    }
    // Idempotency (buffered requests only).
    let idem = if probe.stream || !app.config.idempotency.enabled || !endpoint.idempotent_replay() {
        None
    } else {
        let scope = Scope {
            registry: &app.registry,
            principal,
            window: Duration::from_secs(app.config.idempotency.replay_window_seconds),
        };
        match idempotency::begin(scope, &parts.headers, &body).await {
            Ok(guard) => guard,
            Err(Early::Error(err, class)) => return ctx.fail(err, None, class),
            Err(Early::Replay(resp)) => {
                ctx.record(resp.status().as_u16(), "replayed", None, None);
                return resp;
            }
        }
    };
    let req = Request {
        endpoint,
        snapshot: snap,
        headers: &parts.headers,
        body: &body,
        probe: &probe,
        candidates: resolution.candidates,
        unavailable: resolution.unavailable,
    };
    let resp = attempt_loop(proxy, &req, &mut ctx).await;
    match idem {
        Some(guard) => guard.finish(resp).await,
        None => resp,
    }
}

/// The key's scope, then its budget (leased across instances on PostgreSQL; a lease on
/// its way is waited for): `Some((error, reason label, x-should-retry))` when the
/// request is refused.
async fn refuse_key(
    app: &App,
    key: &Key,
    model: &str,
) -> Option<(ApiError, &'static str, Option<bool>)> {
    if !key.allows(model) {
        let err = ApiError::KeyRefused {
            status: http::StatusCode::FORBIDDEN,
            message: format!(
                "This API key is not allowed to use the model `{}`.",
                clip_model(model)
            ),
            kind: "invalid_request_error",
            code: "model_not_allowed",
            param: Some("model"),
            retry_after: None,
            class: "model_not_allowed",
        };
        return Some((err, "model_not_allowed", None));
    }
    key.admit_budget(app.keys.now_ms(), app.keys.clock_offset_ms())
        .await
        .err()
        .map(|err| (err, "budget_exceeded", Some(false)))
}

/// A client-chosen model name as it may appear in logs and usage events.
fn clip_model(model: &str) -> String {
    let mut end = model.len().min(200);
    while !model.is_char_boundary(end) {
        end -= 1;
    }
    model[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_are_clipped_on_char_boundaries() {
        assert_eq!(clip_model("gpt-4o"), "gpt-4o");
        let long = "é".repeat(150);
        let clipped = clip_model(&long);
        assert!(clipped.len() <= 200);
        assert!(long.starts_with(&clipped));
    }
}
