//! `POST /v1/chat/completions`: route, attempt loop, relay.
//!
//! The attempt loop takes the route's candidates in order, skipping accounts that
//! cool down meanwhile; each attempt holds a concurrency permit for its whole life
//! (streams included), and its outcome feeds the account's breaker. Retryable
//! failures move to the next account after a jittered backoff, within the attempt
//! limit, the request deadline and the shared retry budget. Streams fail over only
//! until their first byte reaches the client; after that a failure becomes an
//! explicit SSE error event.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::request::Parts;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use rook_config::Vendor;
use rook_resilience::{Decision, GiveUpReason, Outcome};
use rook_routing::{AccountIdx, RoutingError};

use crate::accounts::{AccountRuntime, Snapshot, View};
use crate::app::App;
use crate::body::{RelayBody, RookBody, StreamEnd};
use crate::error::{sanitize_message, ApiError};
use crate::metrics_glue as m;
use crate::probe::{probe_chat, rewrite_chat, ChatProbe, ProbeError};
use crate::sse::SseObserver;
use crate::upstream::{build_request, is_dropped_response_header, UpstreamRequest};
use crate::usage::Usage;
use crate::usage_writer::Record;

/// Largest upstream error body Rook reads to relay its message.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// Largest buffered upstream answer Rook accepts.
const MAX_BUFFERED_ANSWER: usize = 64 * 1024 * 1024;

/// An account's token reservation, reconciled when the attempt's usage is known.
pub(crate) struct Reserved {
    shared: Arc<crate::accounts::AccountShared>,
    reservation: crate::ratelimit::Reservation,
}

impl Reserved {
    /// Settles the reservation with the tokens actually used (`Some(0)` for a
    /// failed attempt, `None` when unknown).
    pub(crate) fn settle(self, used: Option<u64>) {
        if let Some(l) = self.shared.limits() {
            l.reconcile(self.reservation, used, Instant::now());
        }
    }
}

/// What an attempt did to the account's health.
#[derive(Debug, Clone, Copy)]
enum HealthEffect {
    /// Reachable and answering (including the caller's own errors).
    Success,
    /// A failure counting toward the threshold; a hint opens the account for that long.
    Failure(Option<Duration>),
    /// Take the account out for the long (credentials/quota) cooldown.
    Trip,
}

/// A failed attempt, classified.
#[derive(Debug)]
struct Failure {
    /// Metric outcome / error class (`server_error`, `rate_limited`, …).
    class: &'static str,
    /// Whether another attempt may help.
    retryable: bool,
    /// The upstream's retry hint.
    hint: Option<Duration>,
    health: HealthEffect,
    /// What the client gets if this is the last attempt.
    error: ApiError,
}

/// A successful attempt.
enum Success {
    Buffered {
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
    },
    Stream {
        status: StatusCode,
        headers: HeaderMap,
        first: Bytes,
        rest: Incoming,
        /// Rook added `stream_options.include_usage`; the usage chunk is removed.
        injected_usage: bool,
    },
}

/// Facts about the request for its log line, metrics and usage event.
pub(crate) struct Ctx<'a> {
    pub request_id: &'a str,
    pub start: Instant,
    pub model: String,
    pub stream: bool,
    pub attempts: u32,
    pub account: Option<Arc<str>>,
    pub vendor: Option<&'static str>,
    pub upstream_model: Option<String>,
    pub ttfb: Option<Duration>,
}

pub(crate) async fn chat(
    app: &Arc<App>,
    parts: Parts,
    body: Bytes,
    request_id: &str,
    start: Instant,
) -> Response<RookBody> {
    let mut ctx = Ctx {
        request_id,
        start,
        model: String::new(),
        stream: false,
        attempts: 0,
        account: None,
        vendor: None,
        upstream_model: None,
        ttfb: None,
    };
    let probe = match probe_chat(&body) {
        Ok(p) => p,
        Err(e) => {
            let code = match e {
                ProbeError::InvalidJson(_) => "invalid_json",
                ProbeError::MissingModel => "missing_model",
                ProbeError::InvalidModel => "invalid_model",
                ProbeError::InvalidStream => "invalid_stream",
            };
            let err = ApiError::BadRequest {
                message: e.to_string(),
                code,
            };
            return finish_error(app, &ctx, err, None, "bad_request");
        }
    };
    ctx.model = clip_model(&probe.model);
    ctx.stream = probe.stream;
    let snap = app.snapshot.load_full();
    let view = View {
        snapshot: &snap,
        health: &app.health,
    };
    let resolution = match snap.table.resolve(&probe.model, &view) {
        Ok(r) => r,
        Err(RoutingError::UnknownModel { .. }) => {
            let err = ApiError::ModelNotFound {
                model: ctx.model.clone(),
            };
            return finish_error(app, &ctx, err, None, "model_not_found");
        }
        Err(e) => {
            tracing::error!(error = %e, "route resolution failed");
            return finish_error(app, &ctx, ApiError::Internal, None, "internal");
        }
    };
    if app.is_draining() {
        let err = ApiError::Unavailable {
            message: "The gateway is shutting down.".into(),
            code: "shutting_down",
            retry_after: Some(Duration::from_secs(1)),
        };
        return finish_error(app, &ctx, err, None, "shutting_down");
    }
    // Rate limits: over either, 429 without an upstream call.
    let now = Instant::now();
    let limited = app
        .principal_limits
        .check(&app.principal, now)
        .err()
        .map(|w| (w, "principal"))
        .or_else(|| {
            app.route_limits
                .check(&probe.model, now)
                .err()
                .map(|w| (w, "route"))
        });
    if let Some((wait, scope)) = limited {
        let err = ApiError::RateLimited {
            message: format!(
                "Rate limit exceeded for this {scope}; retry after the indicated time."
            ),
            retry_after: Some(wait.max(Duration::from_secs(1))),
            code: "rate_limit_exceeded",
        };
        return finish_error(app, &ctx, err, None, "rate_limited");
    }
    // Idempotency (buffered requests only).
    let idem = if probe.stream || !app.config.idempotency.enabled {
        None
    } else {
        match crate::idempotency::begin(app, &parts.headers, &body).await {
            Ok(guard) => guard,
            Err(crate::idempotency::Early::Error(err, class)) => {
                return finish_error(app, &ctx, err, None, class);
            }
            Err(crate::idempotency::Early::Replay(resp)) => {
                record(app, &ctx, resp.status().as_u16(), "replayed", None, None);
                return resp;
            }
        }
    };
    let resp = if resolution.candidates.is_empty() {
        m::retry_outcome(None, &ctx.model, "no_account_available");
        let err = all_cooling(app, &snap, &resolution.unavailable, None, None);
        finish_error(app, &ctx, err, Some(false), "no_account_available")
    } else {
        attempt_loop(
            app,
            &snap,
            &parts.headers,
            &body,
            &probe,
            resolution.candidates,
            resolution.unavailable,
            &mut ctx,
        )
        .await
    };
    match idem {
        Some(guard) => guard.finish(resp).await,
        None => resp,
    }
}

/// A client-chosen model name as it may appear in logs and usage events.
fn clip_model(model: &str) -> String {
    let mut end = model.len().min(200);
    while !model.is_char_boundary(end) {
        end -= 1;
    }
    model[..end].to_string()
}

#[allow(clippy::too_many_arguments)]
async fn attempt_loop(
    app: &Arc<App>,
    snap: &Arc<Snapshot>,
    client_headers: &HeaderMap,
    body: &Bytes,
    probe: &ChatProbe,
    candidates: Vec<AccountIdx>,
    mut unavailable: Vec<AccountIdx>,
    ctx: &mut Ctx<'_>,
) -> Response<RookBody> {
    let mut attempts = app.policy.start(Instant::now());
    let deadline = Instant::now() + app.timeouts.deadline;
    let mut next = 0usize;
    let mut last: Option<(Failure, &AccountRuntime)> = None;
    let estimate = crate::ratelimit::estimate_tokens(body, probe.max_tokens);
    loop {
        // The next candidate within its rate limits whose breaker admits an attempt.
        let mut picked = None;
        let mut limit_wait: Option<Duration> = None;
        for _ in 0..candidates.len() {
            let idx = candidates[next % candidates.len()];
            next += 1;
            let Some(acct) = snap.account(idx) else {
                continue;
            };
            let reservation = match acct.shared.limits() {
                Some(l) => match l.try_reserve(estimate, Instant::now()) {
                    Ok(r) => Some(r),
                    Err(wait) => {
                        limit_wait = Some(limit_wait.map_or(wait, |w| w.min(wait)));
                        continue;
                    }
                },
                None => None,
            };
            match app.health.try_acquire(&acct.id) {
                Some(p) => {
                    picked = Some((acct, p, reservation));
                    break;
                }
                None => {
                    if let (Some(l), Some(r)) = (acct.shared.limits(), reservation) {
                        l.reconcile(r, Some(0), Instant::now());
                    }
                    if !unavailable.contains(&idx) {
                        unavailable.push(idx);
                    }
                }
            }
        }
        let Some((acct, hpermit, reservation)) = picked else {
            // Every candidate is cooling or over its limits now (some may have
            // failed in this request).
            let labels = last.as_ref().map(|(_, a)| *a);
            m::retry_outcome(labels, &ctx.model, "no_account_available");
            let err = all_cooling(app, snap, &unavailable, last.map(|(f, _)| f), limit_wait);
            return finish_error(app, ctx, err, Some(false), "no_account_available");
        };
        let reservation = reservation.map(|r| Reserved {
            shared: acct.shared.clone(),
            reservation: r,
        });

        let wait_start = Instant::now();
        let permit = match app.limiter.acquire().await {
            Ok(p) => p,
            Err(e) => {
                drop(hpermit);
                m::permit_wait(wait_start.elapsed());
                let err = ApiError::Unavailable {
                    message: format!("Rook is at its upstream concurrency limit ({e})."),
                    code: "overloaded",
                    retry_after: Some(Duration::from_secs(1)),
                };
                return finish_error(app, ctx, err, Some(true), "overloaded");
            }
        };
        m::permit_wait(wait_start.elapsed());
        ctx.attempts += 1;
        ctx.account = Some(acct.id.clone());
        ctx.vendor = Some(acct.vendor.as_str());
        let upstream_model = acct.upstream_model(&probe.model);
        ctx.upstream_model = Some(upstream_model.to_string());

        let remaining = deadline.saturating_duration_since(Instant::now());
        let first_byte = app
            .timeouts
            .first_byte
            .min(remaining.max(Duration::from_millis(1)));
        let attempt_start = Instant::now();
        let guard = m::InFlight::new(&acct.shared);
        let result = attempt(
            app,
            acct,
            client_headers,
            body,
            probe,
            upstream_model,
            ctx.request_id,
            first_byte,
        )
        .await;
        let elapsed = attempt_start.elapsed();
        match result {
            Ok((success, ttfb)) => {
                ctx.ttfb = Some(ttfb);
                m::upstream(acct, &ctx.model, "success", elapsed, Some(ttfb));
                app.health.success(hpermit);
                let _ = attempts.on_outcome(Outcome::Success, Instant::now());
                if attempts.retried() {
                    m::retry_outcome(Some(acct), &ctx.model, "succeeded_after_retry");
                }
                return respond(app, acct, success, permit, guard, reservation, ctx);
            }
            Err(failure) => {
                drop(guard);
                drop(permit);
                if let Some(r) = reservation {
                    r.settle(Some(0));
                }
                m::upstream(acct, &ctx.model, failure.class, elapsed, None);
                match failure.health {
                    HealthEffect::Success => app.health.success(hpermit),
                    HealthEffect::Failure(hint) => app.health.failure(hpermit, failure.class, hint),
                    HealthEffect::Trip => {
                        tracing::warn!(
                            account = %acct.label,
                            class = failure.class,
                            cooldown_seconds = app.timeouts.auth_cooldown.as_secs(),
                            "account taken out of rotation: the upstream rejected its credentials or quota"
                        );
                        app.health
                            .trip(hpermit, failure.class, app.timeouts.auth_cooldown)
                    }
                }
                let outcome = if !failure.retryable {
                    Outcome::Fatal
                } else if candidates.len() == 1 {
                    // The retry goes to the same account: respect its hint.
                    Outcome::Retryable {
                        not_before: failure.hint,
                    }
                } else {
                    Outcome::retryable()
                };
                match attempts.on_outcome(outcome, Instant::now()) {
                    Decision::RetryAfter(delay) => {
                        m::retry_outcome(Some(acct), &ctx.model, "retry_scheduled");
                        tracing::debug!(
                            request_id = ctx.request_id,
                            account = %acct.label,
                            class = failure.class,
                            delay_ms = delay.as_millis() as u64,
                            "retrying on the next account"
                        );
                        last = Some((failure, acct));
                        tokio::time::sleep(delay).await;
                    }
                    Decision::GiveUp(reason) => {
                        let label = match reason {
                            GiveUpReason::AttemptsExhausted => "retry_exhausted",
                            GiveUpReason::NotRetryable => "not_retryable",
                            GiveUpReason::BudgetExhausted => "budget_exhausted",
                            GiveUpReason::DeadlineExceeded => "deadline_exceeded",
                            _ => "retry_exhausted",
                        };
                        m::retry_outcome(Some(acct), &ctx.model, label);
                        if label != "not_retryable" {
                            app.note_exhaustion();
                        }
                        let should_retry =
                            if attempts.retried() || reason == GiveUpReason::BudgetExhausted {
                                Some(false)
                            } else {
                                None
                            };
                        let class = failure.class;
                        let mut err = failure.error;
                        if reason == GiveUpReason::BudgetExhausted {
                            tracing::warn!(request_id = ctx.request_id, "retry budget exhausted");
                        }
                        if let ApiError::Upstream { status, .. } = &err {
                            if status.is_server_error() {
                                err = ApiError::BadGateway {
                                    message: "The upstream failed.".into(),
                                    code: "upstream_error",
                                };
                            }
                        }
                        return finish_error(app, ctx, err, should_retry, class);
                    }
                    Decision::Done => {
                        return finish_error(app, ctx, failure.error, None, failure.class);
                    }
                    _ => {
                        return finish_error(app, ctx, failure.error, None, failure.class);
                    }
                }
            }
        }
    }
}

/// The answer when no account can be tried: 429 if every skipped account is
/// rate-limited, else 503; `Retry-After` is the earliest time one comes back.
fn all_cooling(
    app: &App,
    snap: &Snapshot,
    unavailable: &[AccountIdx],
    last: Option<Failure>,
    limit_wait: Option<Duration>,
) -> ApiError {
    let now = Instant::now();
    let cooling = unavailable
        .iter()
        .filter_map(|i| snap.account(*i))
        .filter_map(|a| app.health.available_at(&a.id))
        .map(|t| t.saturating_duration_since(now))
        .min();
    let earliest = match (cooling, limit_wait) {
        (Some(c), Some(l)) => c.min(l),
        (c, l) => c.or(l).unwrap_or(Duration::from_secs(1)),
    }
    .max(Duration::from_millis(1));
    if last.is_none() && unavailable.is_empty() {
        if let Some(wait) = limit_wait {
            return ApiError::RateLimited {
                message: "Every account of this route is at its configured rate limit.".into(),
                retry_after: Some(wait),
                code: "account_rate_limit_exceeded",
            };
        }
    }
    let all_rate_limited = !unavailable.is_empty()
        && unavailable
            .iter()
            .filter_map(|i| snap.account(*i))
            .all(|a| {
                app.health
                    .account(&a.id)
                    .and_then(|h| h.last_error_class)
                    .is_some_and(|c| c == "rate_limited")
            });
    if let Some(f) = last {
        // Keep the last upstream answer's meaning, with the earliest comeback.
        return match f.error {
            ApiError::Upstream {
                status,
                message,
                kind,
                code,
                param,
                ..
            } if status == StatusCode::TOO_MANY_REQUESTS => ApiError::Upstream {
                status,
                message,
                kind,
                code,
                param,
                retry_after: Some(earliest),
            },
            ApiError::Upstream { status, .. } if status.is_server_error() => {
                failed_or_cooling(f.class, earliest)
            }
            ApiError::BadGateway { .. } | ApiError::GatewayTimeout { .. } => {
                failed_or_cooling(f.class, earliest)
            }
            other => other,
        };
    }
    if all_rate_limited {
        ApiError::RateLimited {
            message: "Every account of this route is rate-limited upstream.".into(),
            retry_after: Some(earliest),
            code: "all_accounts_rate_limited",
        }
    } else {
        ApiError::Unavailable {
            message: "Every account of this route is cooling down.".into(),
            code: "no_account_available",
            retry_after: Some(earliest),
        }
    }
}

/// Every account failed in this request or is cooling down; the message names the
/// last failure's class so the cause is not lost.
fn failed_or_cooling(class: &str, earliest: Duration) -> ApiError {
    ApiError::Unavailable {
        message: format!(
            "Every account of this route failed or is cooling down (last failure: {class})."
        ),
        code: "no_account_available",
        retry_after: Some(earliest),
    }
}

/// Sends one attempt and classifies what came back.
#[allow(clippy::too_many_arguments)]
async fn attempt(
    app: &App,
    acct: &AccountRuntime,
    client_headers: &HeaderMap,
    body: &Bytes,
    probe: &ChatProbe,
    upstream_model: &str,
    request_id: &str,
    first_byte: Duration,
) -> Result<(Success, Duration), Failure> {
    // Ask for usage on streams the client did not ask it for (the usage-only chunk
    // is removed again on the way back). `custom` upstreams may reject the field.
    let inject = probe.stream && !probe.has_stream_options && acct.vendor != Vendor::Custom;
    let upstream_body = rewrite_chat(body, probe, Some(upstream_model), inject);
    let req = build_request(UpstreamRequest {
        uri: acct.chat_uri.clone(),
        api_key: acct.api_key.as_ref().map(|k| k.expose()),
        request_id,
        client_headers,
        body: upstream_body,
        stream: probe.stream,
    })
    .map_err(|_| Failure {
        class: "transport_error",
        retryable: true,
        hint: None,
        health: HealthEffect::Failure(None),
        error: ApiError::BadGateway {
            message: "The upstream request could not be built.".into(),
            code: "upstream_error",
        },
    })?;
    let sent = Instant::now();
    let resp = match tokio::time::timeout(first_byte, app.client.request(req)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            tracing::debug!(account = %acct.label, error = %e, "upstream transport error");
            return Err(transport_failure());
        }
        Err(_) => return Err(timeout_failure("The upstream did not answer in time.")),
    };
    let ttfb = sent.elapsed();
    let (head, incoming) = resp.into_parts();
    if head.status.is_success() {
        let is_sse = head
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if probe.stream && is_sse {
            // Wait for the first chunk: until it reaches the client, a failure may fail over.
            let remaining = first_byte
                .saturating_sub(ttfb)
                .max(Duration::from_millis(1));
            let mut incoming = incoming;
            let first = loop {
                match tokio::time::timeout(remaining, incoming.frame()).await {
                    Ok(Some(Ok(frame))) => match frame.into_data() {
                        Ok(d) if d.is_empty() => continue,
                        Ok(d) => break d,
                        Err(_) => continue,
                    },
                    Ok(None) => break Bytes::new(),
                    Ok(Some(Err(_))) => return Err(transport_failure()),
                    Err(_) => {
                        return Err(timeout_failure(
                            "The upstream stream did not start in time.",
                        ))
                    }
                }
            };
            return Ok((
                Success::Stream {
                    status: head.status,
                    headers: head.headers,
                    first,
                    rest: incoming,
                    injected_usage: inject,
                },
                ttfb,
            ));
        }
        let limited = http_body_util::Limited::new(incoming, MAX_BUFFERED_ANSWER);
        return match tokio::time::timeout(
            app.timeouts.stream_idle.max(first_byte),
            limited.collect(),
        )
        .await
        {
            Ok(Ok(c)) => Ok((
                Success::Buffered {
                    status: head.status,
                    headers: head.headers,
                    body: c.to_bytes(),
                },
                ttfb,
            )),
            Ok(Err(_)) => Err(transport_failure()),
            Err(_) => Err(timeout_failure(
                "The upstream answer did not complete in time.",
            )),
        };
    }
    // An error status: read (a bounded part of) the body for its message.
    let limited = http_body_util::Limited::new(incoming, MAX_ERROR_BODY);
    let err_body =
        match tokio::time::timeout(first_byte.max(Duration::from_secs(1)), limited.collect()).await
        {
            Ok(Ok(c)) => c.to_bytes(),
            _ => Bytes::new(),
        };
    Err(classify(
        head.status,
        &head.headers,
        &err_body,
        acct.api_key.as_ref().map(|k| k.expose()),
        app.timeouts.retry_after_max,
    ))
}

fn transport_failure() -> Failure {
    Failure {
        class: "transport_error",
        retryable: true,
        hint: None,
        health: HealthEffect::Failure(None),
        error: ApiError::BadGateway {
            message: "The upstream could not be reached or closed the connection.".into(),
            code: "upstream_unreachable",
        },
    }
}

fn timeout_failure(message: &str) -> Failure {
    Failure {
        class: "timeout",
        retryable: true,
        hint: None,
        health: HealthEffect::Failure(None),
        error: ApiError::GatewayTimeout {
            message: message.into(),
        },
    }
}

/// The parts of an OpenAI-style error body.
#[derive(Default)]
struct UpstreamErrorBody {
    message: Option<String>,
    kind: Option<String>,
    code: Option<String>,
    param: Option<String>,
}

fn parse_error_body(body: &[u8]) -> UpstreamErrorBody {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return UpstreamErrorBody::default();
    };
    let e = v.get("error").unwrap_or(&v);
    let s = |key: &str| e.get(key).and_then(|x| x.as_str()).map(str::to_string);
    let code = e.get("code").and_then(|c| match c {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    });
    UpstreamErrorBody {
        message: s("message").or_else(|| e.as_str().map(str::to_string)),
        kind: s("type"),
        code,
        param: s("param"),
    }
}

/// Classifies an upstream error status (see `RELIABILITY.md`).
fn classify(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    secret: Option<&str>,
    retry_after_max: Duration,
) -> Failure {
    let parsed = parse_error_body(body);
    let hint = rook_resilience::retry_after::retry_hint(
        headers
            .iter()
            .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str(), v))),
        SystemTime::now(),
        retry_after_max,
    );
    let message = parsed
        .message
        .as_deref()
        .map(|m| sanitize_message(m, secret))
        .unwrap_or_else(|| format!("The upstream answered {status}."));
    let passthrough = |retry_after| ApiError::Upstream {
        status,
        message: message.clone(),
        kind: parsed.kind.clone(),
        code: parsed.code.clone(),
        param: parsed.param.clone(),
        retry_after,
    };
    match status.as_u16() {
        429 => {
            let quota = parsed.code.as_deref() == Some("insufficient_quota")
                || parsed.kind.as_deref() == Some("insufficient_quota");
            if quota {
                Failure {
                    class: "quota_exhausted",
                    retryable: false,
                    hint: None,
                    health: HealthEffect::Trip,
                    error: passthrough(None),
                }
            } else {
                Failure {
                    class: "rate_limited",
                    retryable: true,
                    hint,
                    health: HealthEffect::Failure(hint),
                    error: passthrough(hint),
                }
            }
        }
        401 | 403 => Failure {
            class: "auth_error",
            retryable: true,
            hint: None,
            health: HealthEffect::Trip,
            error: ApiError::BadGateway {
                message: "The upstream rejected the provider account's credentials.".into(),
                code: "upstream_auth_error",
            },
        },
        408 => Failure {
            class: "timeout",
            retryable: true,
            hint: None,
            health: HealthEffect::Failure(None),
            error: ApiError::GatewayTimeout {
                message: "The upstream timed out.".into(),
            },
        },
        501 | 505 => Failure {
            class: "server_error",
            retryable: false,
            hint: None,
            health: HealthEffect::Success,
            error: ApiError::BadGateway {
                message,
                code: "upstream_error",
            },
        },
        500..=599 => Failure {
            class: "server_error",
            retryable: true,
            hint,
            health: HealthEffect::Failure(hint.filter(|_| status.as_u16() == 503)),
            error: ApiError::BadGateway {
                message,
                code: "upstream_error",
            },
        },
        _ => Failure {
            // 400/404/409/413/422…: the caller's fault; the account is fine.
            class: "client_error",
            retryable: false,
            hint: None,
            health: HealthEffect::Success,
            error: passthrough(None),
        },
    }
}

/// Builds the client's response from a successful attempt.
fn respond(
    app: &Arc<App>,
    acct: &AccountRuntime,
    success: Success,
    permit: rook_resilience::Permit,
    guard: m::InFlight,
    reservation: Option<Reserved>,
    ctx: &Ctx<'_>,
) -> Response<RookBody> {
    match success {
        Success::Buffered {
            status,
            headers,
            body,
        } => {
            drop(guard);
            drop(permit);
            let usage = Usage::from_chunk(&body);
            if let Some(r) = reservation {
                r.settle(usage.map(|u| u.total_tokens));
            }
            let mut resp = Response::new(RookBody::full(body));
            *resp.status_mut() = status;
            copy_response_headers(&headers, resp.headers_mut());
            m::tokens(acct, &ctx.model, usage);
            record(app, ctx, status.as_u16(), "success", None, usage);
            resp
        }
        Success::Stream {
            status,
            headers,
            first,
            rest,
            injected_usage,
        } => {
            let app2 = app.clone();
            let fin = Finish {
                request_id: ctx.request_id.to_string(),
                start: ctx.start,
                model: ctx.model.clone(),
                attempts: ctx.attempts,
                account: acct.id.clone(),
                label: acct.label.clone(),
                vendor: acct.vendor.as_str(),
                upstream_model: ctx.upstream_model.clone(),
                ttfb: ctx.ttfb,
                status: status.as_u16(),
                reservation,
            };
            let hook = Box::new(move |summary: crate::body::StreamSummary| {
                fin.done(&app2, summary);
            });
            let relay = RelayBody::new(
                rest,
                app.timeouts.stream_idle,
                SseObserver::new(),
                Some(Box::new((permit, guard))),
                Some(app.stream_shutdown()),
                hook,
            )
            .with_prefix(first);
            let relay = if injected_usage {
                relay.strip_usage_chunk()
            } else {
                relay
            };
            let mut resp = Response::new(RookBody::Relay(Box::new(relay)));
            *resp.status_mut() = status;
            copy_response_headers(&headers, resp.headers_mut());
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
    request_id: String,
    start: Instant,
    model: String,
    attempts: u32,
    account: Arc<str>,
    label: String,
    vendor: &'static str,
    upstream_model: Option<String>,
    ttfb: Option<Duration>,
    status: u16,
    reservation: Option<Reserved>,
}

impl Finish {
    fn done(mut self, app: &Arc<App>, summary: crate::body::StreamSummary) {
        if let Some(r) = self.reservation.take() {
            r.settle(summary.usage.map(|u| u.total_tokens));
        }
        let outcome = match summary.end {
            StreamEnd::Completed | StreamEnd::EndedWithoutDone => "success",
            StreamEnd::ClientGone => "client_gone",
            _ => "partial",
        };
        if matches!(
            summary.end,
            StreamEnd::UpstreamError | StreamEnd::IdleTimeout
        ) {
            app.health.late_failure(&self.account, "stream_error");
            m::upstream_stream_error(self.vendor, &self.label, &self.model);
        }
        m::tokens_raw(self.vendor, &self.label, &self.model, summary.usage);
        let ctx = Ctx {
            request_id: &self.request_id,
            start: self.start,
            model: self.model,
            stream: true,
            attempts: self.attempts,
            account: Some(self.account),
            vendor: Some(self.vendor),
            upstream_model: self.upstream_model,
            ttfb: self.ttfb,
        };
        let class = (!summary.end.is_complete()).then(|| summary.end.as_str());
        record(app, &ctx, self.status, outcome, class, summary.usage);
    }
}

fn copy_response_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        if !is_dropped_response_header(name) {
            to.append(name.clone(), value.clone());
        }
    }
}

/// Logs, counts and records a request that ended in an error.
fn finish_error(
    app: &App,
    ctx: &Ctx<'_>,
    err: ApiError,
    should_retry: Option<bool>,
    class: &str,
) -> Response<RookBody> {
    let status = err.status().as_u16();
    let resp = err.into_response(should_retry);
    record(app, ctx, status, "error", Some(class), None);
    resp
}

/// The one log line and the usage event of a request.
fn record(
    app: &App,
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
        "chat completion"
    );
    app.usage.record(Record {
        request_id: ctx.request_id.to_string(),
        principal: Some(app.principal.clone()),
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
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        m
    }

    #[test]
    fn rate_limit_with_hint_is_retryable_and_cools() {
        let f = classify(
            StatusCode::TOO_MANY_REQUESTS,
            &h(&[("retry-after", "2")]),
            br#"{"error":{"message":"slow down","type":"rate_limit_error","code":"rate_limit_exceeded"}}"#,
            None,
            Duration::from_secs(300),
        );
        assert!(f.retryable);
        assert_eq!(f.hint, Some(Duration::from_secs(2)));
        assert!(matches!(f.health, HealthEffect::Failure(Some(_))));
        assert_eq!(f.error.status(), 429);
    }

    #[test]
    fn quota_is_not_retried_and_trips() {
        let f = classify(
            StatusCode::TOO_MANY_REQUESTS,
            &HeaderMap::new(),
            br#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#,
            None,
            Duration::from_secs(300),
        );
        assert!(!f.retryable);
        assert!(matches!(f.health, HealthEffect::Trip));
        assert_eq!(f.class, "quota_exhausted");
    }

    #[test]
    fn caller_errors_pass_through_and_keep_account_healthy() {
        for code in [400u16, 404, 413, 422] {
            let f = classify(
                StatusCode::from_u16(code).unwrap(),
                &HeaderMap::new(),
                br#"{"error":{"message":"bad param","type":"invalid_request_error","param":"messages","code":null}}"#,
                None,
                Duration::from_secs(300),
            );
            assert!(!f.retryable);
            assert!(matches!(f.health, HealthEffect::Success));
            assert_eq!(f.error.status().as_u16(), code);
            let body: serde_json::Value = serde_json::from_slice(&f.error.body()).unwrap();
            assert_eq!(body["error"]["message"], "bad param");
            assert_eq!(body["error"]["param"], "messages");
        }
    }

    #[test]
    fn auth_errors_fail_over_hide_the_message_and_trip() {
        let f = classify(
            StatusCode::UNAUTHORIZED,
            &HeaderMap::new(),
            br#"{"error":{"message":"Incorrect API key provided: sk-abc***xyz"}}"#,
            Some("sk-abcdefxyz"),
            Duration::from_secs(300),
        );
        assert!(f.retryable);
        assert!(matches!(f.health, HealthEffect::Trip));
        assert_eq!(f.error.status(), 502);
        assert!(!String::from_utf8_lossy(&f.error.body()).contains("sk-"));
    }

    #[test]
    fn server_errors_are_retryable() {
        for code in [500u16, 502, 503, 504, 529] {
            let f = classify(
                StatusCode::from_u16(code).unwrap(),
                &HeaderMap::new(),
                b"oops",
                None,
                Duration::from_secs(300),
            );
            assert!(f.retryable, "{code}");
            assert_eq!(f.error.status(), 502);
        }
    }
}
