//! The application: shared state and the request dispatcher.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use rook_config::{Config, Limits, Secret};
use rook_registry::Registry;
use rook_resilience::{Backoff, BudgetConfig, Jitter, RetryBudget, RetryConfig, RetryPolicy};
use subtle::ConstantTimeEq;
use tokio::sync::watch;

use crate::accounts::{SharedRegistry, Snapshot};
use crate::body::{RookBody, ShutdownSignal};
use crate::error::ApiError;
use crate::health::Health;
use crate::metrics_glue::{record_http, MetricsObserver};
use crate::upstream::{build_client, ClientSettings, UpstreamClient};
use crate::usage_writer::UsageSink;

/// Everything a request needs, shared by all connections.
pub struct App {
    pub(crate) config: Arc<Config>,
    pub(crate) snapshot: ArcSwap<Snapshot>,
    pub(crate) shared: SharedRegistry,
    pub(crate) client: UpstreamClient,
    pub(crate) inbound_token: Option<Secret>,
    pub(crate) admin_token: Option<Secret>,
    pub(crate) health: Arc<Health>,
    pub(crate) policy: RetryPolicy,
    pub(crate) limiter: rook_resilience::Limiter,
    pub(crate) usage: UsageSink,
    pub(crate) registry: Registry,
    pub(crate) metrics: Option<rook_observability::PrometheusHandle>,
    pub(crate) started: Instant,
    pub(crate) state_tx: watch::Sender<Phase>,
    pub(crate) recent_exhaustion: AtomicU64,
    pub(crate) timeouts: Timeouts,
    pub(crate) admin: std::sync::OnceLock<rook_admin::Admin>,
    /// Hashed identity of the inbound credential (`anonymous` without auth).
    pub(crate) principal: Arc<str>,
    pub(crate) principal_limits: crate::ratelimit::KeyedLimiter,
    pub(crate) route_limits: crate::ratelimit::KeyedLimiter,
    id_seq: AtomicU64,
    id_prefix: u64,
}

/// Lifecycle phase, watched by relayed streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Serving.
    Running,
    /// Not accepting; in-flight work is finishing.
    Draining,
    /// The grace period is over: streams end now.
    EndStreams,
}

/// Upstream timeouts in force.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Time to the upstream response head (and, for streams, the first chunk).
    pub first_byte: Duration,
    /// Longest pause between chunks.
    pub stream_idle: Duration,
    /// Overall deadline of a request, retries included.
    pub deadline: Duration,
    /// Longest wait for an upstream permit.
    pub permit_wait: Duration,
    /// Longest cooldown for bad credentials or exhausted quota.
    pub auth_cooldown: Duration,
    /// Clamp for upstream retry hints.
    pub retry_after_max: Duration,
}

/// Why the app could not be built from the configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// A secret could not be read.
    #[error("{what}: {source}")]
    Secret {
        /// Whose secret.
        what: String,
        /// Why.
        source: rook_config::SecretError,
    },
    /// The registry failed.
    #[error("registry: {0}")]
    Registry(#[from] rook_registry::RegistryError),
    /// The routing configuration is inconsistent.
    #[error("routing: {0}")]
    Snapshot(#[from] crate::accounts::SnapshotError),
    /// A resilience setting is invalid.
    #[error("resilience settings: {0}")]
    Resilience(String),
    /// Metrics could not be installed.
    #[error("metrics: {0}")]
    Metrics(String),
}

impl App {
    /// Builds the app: resolves secrets, syncs the declared accounts into the
    /// registry, restores account health, and builds the routing snapshot.
    pub async fn build(
        config: Config,
        registry: Registry,
        metrics: Option<rook_observability::PrometheusHandle>,
    ) -> Result<Arc<App>, AppError> {
        let inbound_token = config
            .inbound_auth
            .resolve_token()
            .map_err(|e| AppError::Secret {
                what: "inbound_auth".into(),
                source: e,
            })?;
        // The admin token is optional on a loopback bind; the binary refuses to
        // start without one on any other address.
        let admin_token = config.admin_auth.resolve_token().ok();
        let r = &config.upstream_resilience;
        let observer = Arc::new(MetricsObserver);
        let backoff = Backoff::new(
            Duration::from_millis(r.retry_backoff_milliseconds),
            Duration::from_millis(r.retry_backoff_max_milliseconds),
            Jitter::Full,
        )
        .map_err(|e| AppError::Resilience(e.to_string()))?;
        let budget = Arc::new(
            RetryBudget::new(BudgetConfig {
                ratio: r.retry_budget_ratio,
                min_per_second: f64::from(r.retry_budget_min_per_second),
                ..BudgetConfig::default()
            })
            .map_err(|e| AppError::Resilience(e.to_string()))?
            .with_observer(observer.clone()),
        );
        let policy = RetryPolicy::new(RetryConfig {
            max_attempts: r.max_buffered_attempts,
            deadline: Some(Duration::from_secs(r.request_deadline_seconds)),
            backoff,
        })
        .map_err(|e| AppError::Resilience(e.to_string()))?
        .with_budget(budget.clone())
        .with_observer(observer.clone());
        let health = Arc::new(
            Health::new(
                rook_resilience::BreakerConfig {
                    failure_threshold: r.failure_threshold,
                    cooldown_base: Duration::from_secs(r.failure_cooldown_seconds),
                    cooldown_max: Duration::from_secs(
                        r.failure_cooldown_max_seconds
                            .max(r.retry_after_max_seconds),
                    ),
                    max_open_share: r.max_cooled_share,
                    ..rook_resilience::BreakerConfig::default()
                },
                observer.clone(),
            )
            .map_err(|e| AppError::Resilience(e.to_string()))?,
        );
        let limiter = rook_resilience::Limiter::new(
            r.max_concurrent_upstream_requests as usize,
            Some(Duration::from_millis(r.permit_queue_timeout_milliseconds)),
        )
        .map_err(|e| AppError::Resilience(e.to_string()))?
        .with_observer(observer);
        let client = build_client(&ClientSettings {
            connect_timeout: Duration::from_millis(config.upstream.connect_timeout_ms),
            pool_idle_timeout: Duration::from_secs(config.upstream.pool_idle_timeout_seconds),
            pool_max_idle_per_host: config.upstream.pool_max_idle_per_host as usize,
        });
        let timeouts = Timeouts {
            first_byte: Duration::from_millis(config.upstream.first_byte_timeout_ms),
            stream_idle: Duration::from_millis(config.upstream.stream_idle_timeout_ms),
            deadline: Duration::from_secs(r.request_deadline_seconds),
            permit_wait: Duration::from_millis(r.permit_queue_timeout_milliseconds),
            auth_cooldown: Duration::from_secs(r.auth_failure_cooldown_seconds),
            retry_after_max: Duration::from_secs(r.retry_after_max_seconds),
        };

        crate::catalog::sync_declared(&config, &registry).await?;
        let shared = SharedRegistry::default();
        let snapshot = crate::catalog::load_snapshot(&registry, &shared, &config).await?;
        health.sync_accounts(snapshot.accounts.iter().map(|a| &a.id));
        crate::catalog::restore_health(&registry, &health, &snapshot).await;

        let principal: Arc<str> = match &inbound_token {
            Some(t) => Arc::from(principal_hash(t.expose()).as_str()),
            None => Arc::from("anonymous"),
        };
        let principal_limits =
            crate::ratelimit::KeyedLimiter::new(config.rate_limits.principal_requests_per_minute);
        let route_limits =
            crate::ratelimit::KeyedLimiter::new(config.rate_limits.route_requests_per_minute);
        let usage = UsageSink::start(registry.clone(), &config.usage, config.pricing.clone());
        let (state_tx, _) = watch::channel(Phase::Running);
        let app = Arc::new(App {
            config: Arc::new(config),
            snapshot: ArcSwap::from_pointee(snapshot),
            shared,
            client,
            inbound_token,
            admin_token,
            health,
            policy,
            limiter,
            usage,
            registry,
            metrics,
            started: Instant::now(),
            state_tx,
            recent_exhaustion: AtomicU64::new(0),
            timeouts,
            admin: std::sync::OnceLock::new(),
            principal,
            principal_limits,
            route_limits,
            id_seq: AtomicU64::new(0),
            id_prefix: fastrand::u64(..),
        });
        let runtime = Arc::new(crate::admin_glue::RuntimeView(Arc::downgrade(&app)));
        let _ = app.admin.set(rook_admin::Admin::new(
            app.config.clone(),
            app.registry.clone(),
            runtime,
            app.admin_token.clone(),
            env!("CARGO_PKG_VERSION"),
        ));
        crate::catalog::spawn_health_persister(&app);
        crate::idempotency::spawn_pruner(&app);
        Ok(app)
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.config.limits
    }

    pub(crate) fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.config.shutdown_grace_seconds)
    }

    /// Stops taking new work: readiness turns 503, streams keep going.
    pub(crate) fn begin_shutdown(&self) {
        self.state_tx.send_replace(Phase::Draining);
    }

    /// Tells every relayed stream to end with an error event.
    pub(crate) fn end_streams(&self) {
        self.state_tx.send_replace(Phase::EndStreams);
    }

    /// Flushes usage events and persists health before exit.
    pub(crate) async fn finish(&self) {
        self.usage.close().await;
        crate::catalog::persist_health(self).await;
    }

    /// Whether the gateway is draining.
    pub fn is_draining(&self) -> bool {
        *self.state_tx.borrow() != Phase::Running
    }

    /// A future that resolves when streams must end.
    pub(crate) fn stream_shutdown(&self) -> ShutdownSignal {
        let mut rx = self.state_tx.subscribe();
        Box::pin(async move {
            loop {
                if *rx.borrow_and_update() == Phase::EndStreams {
                    return;
                }
                if rx.changed().await.is_err() {
                    // The app is gone; the process is exiting.
                    std::future::pending::<()>().await;
                }
            }
        })
    }

    /// A new request id: 16 random hex digits then a sequence number.
    pub(crate) fn new_request_id(&self) -> String {
        let n = self.id_seq.fetch_add(1, Ordering::Relaxed);
        format!("req_{:016x}{:x}", self.id_prefix, n)
    }

    /// Handles one request.
    pub async fn handle(
        self: &Arc<Self>,
        req: Request<Incoming>,
        _peer: SocketAddr,
    ) -> Response<RookBody> {
        let start = Instant::now();
        let request_id = match req
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
        {
            Some(id) if is_valid_request_id(id) => id.to_string(),
            _ => self.new_request_id(),
        };
        let path = req.uri().path();
        let (surface, route) = route_label(path);
        let mut resp = if surface == "v1" {
            self.handle_v1(req, &request_id, start).await
        } else if surface == "api" {
            crate::admin_glue::handle(self, req, &request_id).await
        } else {
            ApiError::NotFound.into_response(None)
        };
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert("x-request-id", v);
        }
        record_http(surface, route, resp.status().as_u16(), start.elapsed());
        resp
    }

    async fn handle_v1(
        self: &Arc<Self>,
        req: Request<Incoming>,
        request_id: &str,
        start: Instant,
    ) -> Response<RookBody> {
        if let Some(token) = &self.inbound_token {
            if !bearer_matches(req.headers(), token) {
                self.record_rejected(request_id, start, None, &ApiError::Unauthorized);
                return ApiError::Unauthorized.into_response(None);
            }
        }
        let path = req.uri().path();
        match (req.method(), path) {
            (&Method::POST, "/v1/chat/completions") => {
                let (parts, body) = req.into_parts();
                let body = match self.read_body(&parts.headers, body).await {
                    Ok(b) => b,
                    Err(e) => {
                        self.record_rejected(request_id, start, Some(self.principal.clone()), &e);
                        return e.into_response(None);
                    }
                };
                crate::chat::chat(self, parts, body, request_id, start).await
            }
            (&Method::GET, "/v1/models") => self.models(),
            (_, "/v1/chat/completions") | (_, "/v1/models") => {
                ApiError::MethodNotAllowed.into_response(None)
            }
            _ => ApiError::NotFound.into_response(None),
        }
    }

    /// Records the usage event of a request refused before its body was read.
    fn record_rejected(
        &self,
        request_id: &str,
        start: Instant,
        principal: Option<Arc<str>>,
        err: &ApiError,
    ) {
        let status = err.status().as_u16();
        tracing::info!(
            request_id,
            status,
            error_class = err.class(),
            "request refused"
        );
        self.usage.record(crate::usage_writer::Record {
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
            latency: start.elapsed(),
            ttfb: None,
            usage: None,
            error_class: Some(err.class().to_string()),
        });
    }

    /// Reads a request body, refusing it (413) before buffering when it is too large.
    async fn read_body(
        &self,
        headers: &http::HeaderMap,
        body: Incoming,
    ) -> Result<Bytes, ApiError> {
        let limit =
            usize::try_from(self.config.limits.max_request_body_bytes).unwrap_or(usize::MAX);
        if let Some(len) = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
        {
            if len > limit as u64 {
                return Err(ApiError::PayloadTooLarge { limit });
            }
        }
        let limited = http_body_util::Limited::new(body, limit);
        match tokio::time::timeout(BODY_READ_TIMEOUT, limited.collect()).await {
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
            Ok(Err(e)) => {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    Err(ApiError::PayloadTooLarge { limit })
                } else {
                    Err(ApiError::BadRequest {
                        message: "The request body could not be read.".into(),
                        code: "body_read_error",
                    })
                }
            }
            Err(_) => Err(ApiError::BadRequest {
                message: "The request body did not arrive in time.".into(),
                code: "body_timeout",
            }),
        }
    }

    fn models(&self) -> Response<RookBody> {
        let snap = self.snapshot.load();
        let created = 0;
        let data: Vec<serde_json::Value> = snap
            .table
            .models()
            .iter()
            .map(|m| serde_json::json!({"id": m, "object": "model", "created": created, "owned_by": "rook"}))
            .collect();
        crate::admin_glue::convert(rook_admin::json_response(
            StatusCode::OK,
            &serde_json::json!({"object": "list", "data": data}),
        ))
    }

    /// Rebuilds the routing snapshot from the registry (after admin changes).
    pub async fn reload(&self) -> Result<(), AppError> {
        let snap =
            crate::catalog::load_snapshot(&self.registry, &self.shared, &self.config).await?;
        self.health
            .sync_accounts(snap.accounts.iter().map(|a| &a.id));
        self.snapshot.store(Arc::new(snap));
        Ok(())
    }
}

/// The stored identity of a credential: the first 16 bytes of
/// SHA-256("rook-principal:" + token), hex. Never the token itself.
pub fn principal_hash(token: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(b"rook-principal:")
        .chain_update(token.as_bytes())
        .finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Longest time to receive a request body once its head has arrived.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether `Authorization: Bearer <token>` matches, compared in constant time.
pub(crate) fn bearer_matches(headers: &http::HeaderMap, token: &Secret) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return false;
    };
    let bytes = value.as_bytes();
    let presented = match bytes.get(..7) {
        Some(p) if p.eq_ignore_ascii_case(b"bearer ") => bytes[7..].trim_ascii(),
        _ => return false,
    };
    presented.ct_eq(token.expose().as_bytes()).into()
}

fn is_valid_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The `surface` and `route` labels of a path (bounded): `/v1` paths by name,
/// `/api` paths by their admin route template, anything else `other`.
pub(crate) fn route_label(path: &str) -> (&'static str, &'static str) {
    match path {
        "/v1/chat/completions" => ("v1", "/v1/chat/completions"),
        "/v1/models" => ("v1", "/v1/models"),
        p if p.starts_with("/v1/") => ("v1", "other"),
        p if p.starts_with("/api/") => ("api", rook_admin::route_template(p).unwrap_or("other")),
        _ => ("other", "other"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_compare() {
        let t = Secret::new("s3cret");
        let mut h = http::HeaderMap::new();
        assert!(!bearer_matches(&h, &t));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer s3cret"),
        );
        assert!(bearer_matches(&h, &t));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer s3cret"),
        );
        assert!(bearer_matches(&h, &t));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer s3cre"),
        );
        assert!(!bearer_matches(&h, &t));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic s3cret"),
        );
        assert!(!bearer_matches(&h, &t));
    }

    #[test]
    fn request_ids() {
        assert!(is_valid_request_id("abc-123_x.y:z"));
        assert!(!is_valid_request_id(""));
        assert!(!is_valid_request_id("has space"));
        assert!(!is_valid_request_id(&"a".repeat(129)));
    }

    #[test]
    fn route_labels_are_bounded() {
        assert_eq!(
            route_label("/v1/chat/completions"),
            ("v1", "/v1/chat/completions")
        );
        assert_eq!(route_label("/v1/anything/else"), ("v1", "other"));
        assert_eq!(
            route_label("/api/accounts/x"),
            ("api", "/api/accounts/{id}")
        );
        assert_eq!(
            route_label("/api/routes/a/b:c"),
            ("api", "/api/routes/{model}")
        );
        assert_eq!(route_label("/api/nope"), ("api", "other"));
        assert_eq!(route_label("/random"), ("other", "other"));
    }
}
