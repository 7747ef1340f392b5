//! The attempt loop: one routed request, tried on the route's accounts in order.
//!
//! It takes the candidates in order, skipping accounts that cool down or reach
//! their rate limits meanwhile; each attempt holds a concurrency permit for its
//! whole life (streams included), and its outcome feeds the account's breaker.
//! Retryable failures move to the next account after a jittered backoff, within
//! the attempt limit, the request deadline and the shared retry budget. Streams
//! fail over only until their first byte reaches the client; after that a failure
//! becomes an explicit SSE error event (see [`relay`](super::relay)).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Response};
use rook_protocol::openai::ChatProbe;
use rook_protocol::{ErrorClass, HealthEffect};
use rook_resilience::{Decision, GiveUpReason, Outcome};
use rook_routing::AccountIdx;

use super::gauges::InFlight;

use super::limits::estimate_tokens;
use super::outcome::{
    after_failures, decision_label, give_up_error, give_up_label, nothing_tried, Failure,
};
use super::pick::{panic_pick, pick, NonePicked, Picked};
use super::plan::{plan, PlanError};
use super::respond::respond;
use super::send::{send, Attempt};
use super::snapshot::{AccountRuntime, Snapshot};
use super::Proxy;
use crate::accounting::metrics as m;
use crate::accounting::Ctx;
use crate::body::RookBody;
use crate::endpoint::Endpoint;
use crate::error::ApiError;
use crate::leases::PENDING_MAX_WAIT;
use crate::telemetry::Target;

/// A routed request, ready for its attempts.
pub(crate) struct Request<'a> {
    /// The surface it came in on.
    pub(crate) endpoint: Endpoint,
    /// The snapshot the route was resolved in (account indices refer to it).
    pub(crate) snapshot: Arc<Snapshot>,
    /// The client's headers (filtered when sent upstream).
    pub(crate) headers: &'a HeaderMap,
    /// The client's body.
    pub(crate) body: &'a Bytes,
    /// What the body says.
    pub(crate) probe: &'a ChatProbe,
    /// Accounts to try, in order.
    pub(crate) candidates: Vec<AccountIdx>,
    /// Accounts of the route skipped at resolution (cooling, disabled).
    pub(crate) unavailable: Vec<AccountIdx>,
}

/// Runs the attempts of `req` and answers the client. See the module docs.
pub(crate) async fn attempt_loop(
    proxy: &Proxy,
    req: &Request<'_>,
    ctx: &mut Ctx<'_>,
) -> Response<RookBody> {
    let snap = &req.snapshot;
    let served = |i: &AccountIdx| {
        snap.account(*i)
            .is_some_and(|a| req.endpoint.served_by(a.protocol))
    };
    // Usually every account of the route serves the endpoint: no copy then.
    let (candidates, mut unavailable): (Cow<'_, [AccountIdx]>, Vec<AccountIdx>) =
        if req.candidates.iter().chain(&req.unavailable).all(served) {
            (Cow::Borrowed(&req.candidates), req.unavailable.clone())
        } else {
            (
                req.candidates.iter().copied().filter(served).collect(),
                req.unavailable.iter().copied().filter(served).collect(),
            )
        };
    let route_has_accounts = !(req.candidates.is_empty() && req.unavailable.is_empty());
    if candidates.is_empty() && unavailable.is_empty() && route_has_accounts {
        // Every account of the route speaks a protocol this endpoint cannot use.
        let protocols = protocols_of(snap, req.candidates.iter().chain(&req.unavailable));
        let err = ApiError::BadRequest {
            message: format!(
                "{} needs an account of protocol {}; the route of model `{}` leads only to accounts of protocol {protocols}.",
                req.endpoint.path(),
                req.endpoint.serving_protocols(),
                ctx.model
            ),
            code: "unsupported_endpoint",
        };
        return ctx.fail(err, None, "unsupported_endpoint");
    }
    // The settings in force when the request started (a reload applies to the next one).
    let tuning = proxy.tuning.load_full();
    let mut attempts = tuning.policy.start(Instant::now());
    let deadline = tuning
        .policy
        .config()
        .deadline
        .and_then(|d| Instant::now().checked_add(d));
    let mut next = 0usize;
    let mut last: Option<(Failure, &AccountRuntime)> = None;
    // How this request's attempts failed (class and upstream status).
    let mut failed_as: Vec<(ErrorClass, Option<u16>)> = Vec::new();
    let mut panic_allowed = tuning.panic_mode;
    let estimate = estimate_tokens(req.body, req.probe.max_tokens);
    let lease_deadline = tokio::time::Instant::now() + PENDING_MAX_WAIT;
    loop {
        let picked = match pick(
            proxy,
            req,
            &candidates,
            &mut next,
            &mut unavailable,
            estimate,
        ) {
            Ok(p) => p,
            Err(NonePicked {
                pending: Some(limits),
                ..
            }) if limits.answered_by(lease_deadline).await => {
                // an account's limit lease was on its way and has been answered
                continue;
            }
            Err(none) if last.is_none() && panic_allowed => {
                // Nothing could be tried: panic routing, once per request.
                panic_allowed = false;
                match panic_pick(proxy, req, &unavailable, estimate).await {
                    Some(p) => {
                        m::panic_routing(&ctx.model);
                        proxy.panics.note(&ctx.model, Instant::now());
                        tracing::warn!(
                            request_id = ctx.request_id,
                            route = %ctx.model,
                            account = %p.acct.label,
                            "panic routing: every account of the route is cooling; probing the one that comes back first"
                        );
                        p
                    }
                    None => {
                        m::retry_outcome(None, &ctx.model, "no_account_available");
                        let (err, should_retry) =
                            nothing_tried(proxy, snap, &unavailable, none.limit_wait);
                        return ctx.fail(err, should_retry, "no_account_available");
                    }
                }
            }
            Err(none) => {
                // Every candidate is cooling or over its limits now (some may have
                // failed in this request).
                m::retry_outcome(
                    last.as_ref().map(|(_, a)| a.labels()),
                    &ctx.model,
                    "no_account_available",
                );
                return match last {
                    // This request's own attempts failed: their answer, honestly.
                    Some((f, _)) => {
                        let class = f.classified.class;
                        let err = after_failures(proxy, snap, &unavailable, f, none.limit_wait);
                        ctx.fail(err, Some(false), class.as_str())
                    }
                    None => {
                        let (err, should_retry) =
                            nothing_tried(proxy, snap, &unavailable, none.limit_wait);
                        ctx.fail(err, should_retry, "no_account_available")
                    }
                };
            }
        };
        let Picked {
            acct,
            permit: hpermit,
            reservation,
        } = picked;
        let upstream_model = acct.upstream_model(&req.probe.model);
        let outbound = match plan(req.endpoint, acct, req.body, req.probe, upstream_model) {
            Ok(o) => Ok(o),
            Err(PlanError::Translate(e)) => {
                // The request cannot be expressed for this account: the client's
                // fault, whatever account comes next.
                drop(hpermit);
                if let Some(r) = reservation {
                    r.settle(Some(0));
                }
                let err = ApiError::Unsupported {
                    message: format!("{e}."),
                    code: e.code(),
                    param: e.param().map(str::to_string),
                };
                return ctx.fail(err, None, "bad_request");
            }
            Err(PlanError::BadUri | PlanError::NotServed) => Err(Failure::unbuildable()),
        };
        let wait_start = Instant::now();
        let permit = match proxy.limiter.acquire().await {
            Ok(p) => p,
            Err(e) => {
                drop(hpermit);
                if let Some(r) = reservation {
                    r.settle(Some(0));
                }
                m::permit_wait(wait_start.elapsed());
                let err = ApiError::Unavailable {
                    message: format!("Rook is at its upstream concurrency limit ({e})."),
                    code: "overloaded",
                    retry_after: Some(Duration::from_secs(1)),
                };
                return ctx.fail(err, Some(true), "overloaded");
            }
        };
        m::permit_wait(wait_start.elapsed());
        ctx.attempts += 1;
        ctx.account = Some(acct.id.clone());
        ctx.vendor = Some(acct.vendor.as_str());
        ctx.upstream_model = Some(upstream_model.to_string());

        let first_byte = match deadline {
            Some(d) => tuning.timeouts.first_byte.min(
                d.saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(1)),
            ),
            None => tuning.timeouts.first_byte,
        };
        let attempt_start = Instant::now();
        let guard = InFlight::new(&acct.shared);
        let include_usage = req.probe.include_usage == Some(true);
        let traceparent = ctx.trace_attempt(Target {
            account: &acct.id,
            vendor: acct.vendor.as_str(),
            upstream_model,
            uri: &acct.chat_uri,
        });
        let result = match outbound {
            Ok(outbound) => {
                send(
                    proxy,
                    Attempt {
                        acct,
                        headers: req.headers,
                        outbound,
                        stream: req.probe.stream,
                        model: &ctx.model,
                        request_id: ctx.request_id,
                        first_byte,
                        traceparent,
                        tuning: &tuning,
                    },
                )
                .await
            }
            Err(f) => Err(f),
        };
        let elapsed = attempt_start.elapsed();
        let failure = match result {
            Ok((success, ttfb)) => {
                ctx.ttfb = Some(ttfb);
                m::upstream(
                    acct.labels(),
                    &ctx.model,
                    ctx.endpoint.as_str(),
                    "success",
                    elapsed,
                    Some(ttfb),
                );
                proxy.health.success(hpermit);
                let _ = attempts.on_outcome(Outcome::Success, Instant::now());
                if attempts.retried() {
                    m::retry_outcome(Some(acct.labels()), &ctx.model, "succeeded_after_retry");
                }
                return respond(
                    proxy,
                    acct,
                    success,
                    (permit, guard),
                    reservation,
                    ctx,
                    include_usage,
                );
            }
            Err(failure) => failure,
        };
        drop(guard);
        drop(permit);
        if let Some(r) = reservation {
            r.settle(Some(0));
        }
        let class = failure.classified.class;
        m::upstream(
            acct.labels(),
            &ctx.model,
            ctx.endpoint.as_str(),
            class.as_str(),
            elapsed,
            None,
        );
        // The same request failing the same way twice (a body that crashes the
        // upstream's parser, say) is the request's doing: not counted against the
        // account, and not retried. Rate limits are never the request's doing.
        let poison = matches!(failure.classified.health_effect, HealthEffect::Failure(_))
            && class != ErrorClass::RateLimited
            && failed_as.contains(&failure.signature());
        failed_as.push(failure.signature());
        if poison {
            drop(hpermit);
            ctx.trace_failed(class.as_str(), failure.status, "poison_request");
            m::retry_outcome(Some(acct.labels()), &ctx.model, "poison_request");
            tracing::info!(
                request_id = ctx.request_id,
                account = %acct.label,
                class = class.as_str(),
                "the request failed the same way twice: not counted against the accounts, not retried"
            );
            return ctx.fail(
                give_up_error(failure.error, class),
                Some(false),
                class.as_str(),
            );
        }
        match failure.classified.health_effect {
            HealthEffect::Success => proxy.health.success(hpermit),
            HealthEffect::Failure(hint) => proxy.health.failure(hpermit, class, hint),
            HealthEffect::Trip => {
                tracing::warn!(
                    account = %acct.label,
                    class = class.as_str(),
                    cooldown_seconds = tuning.timeouts.auth_cooldown.as_secs(),
                    "account taken out of rotation: the upstream rejected its credentials or quota"
                );
                proxy
                    .health
                    .trip(hpermit, class, tuning.timeouts.auth_cooldown)
            }
        }
        let outcome = if !failure.classified.retryable {
            Outcome::Fatal
        } else if candidates.len() == 1 {
            // The retry goes to the same account: respect its hint.
            Outcome::Retryable {
                not_before: failure.classified.hint,
            }
        } else {
            Outcome::retryable()
        };
        let decision = attempts.on_outcome(outcome, Instant::now());
        ctx.trace_failed(class.as_str(), failure.status, decision_label(&decision));
        match decision {
            Decision::RetryAfter(delay) => {
                m::retry_outcome(Some(acct.labels()), &ctx.model, "retry_scheduled");
                tracing::debug!(
                    request_id = ctx.request_id,
                    account = %acct.label,
                    class = class.as_str(),
                    delay_ms = delay.as_millis() as u64,
                    "retrying on the next account"
                );
                last = Some((failure, acct));
                tokio::time::sleep(delay).await;
            }
            Decision::GiveUp(reason) => {
                let label = give_up_label(reason);
                m::retry_outcome(Some(acct.labels()), &ctx.model, label);
                if reason != GiveUpReason::NotRetryable {
                    proxy.exhaustion.note(crate::now_ms());
                }
                if reason == GiveUpReason::BudgetExhausted {
                    tracing::warn!(request_id = ctx.request_id, "retry budget exhausted");
                }
                let should_retry = (attempts.retried() || reason == GiveUpReason::BudgetExhausted)
                    .then_some(false);
                return ctx.fail(
                    give_up_error(failure.error, class),
                    should_retry,
                    class.as_str(),
                );
            }
            _ => return ctx.fail(failure.error, None, class.as_str()),
        }
    }
}

/// The distinct protocols of some accounts, for a message (`anthropic, gemini`).
fn protocols_of<'a>(snap: &Snapshot, idx: impl Iterator<Item = &'a AccountIdx>) -> String {
    let mut names: Vec<&str> = idx
        .filter_map(|i| snap.account(*i))
        .map(|a| a.protocol.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    names.join(", ")
}
