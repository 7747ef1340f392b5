//! The `/api/*` surface of Rook: health probes, status, metrics and run-time
//! management of accounts, pools and routes.
//!
//! This crate owns the handlers and their JSON types. It does not know the
//! gateway: the gateway implements [`Runtime`] (live health, routing reloads,
//! metrics rendering) and hands each `/api/*` request to [`Admin::handle`] as an
//! [`ApiRequest`]. Responses are plain `http::Response<Bytes>`.
//!
//! Errors use the admin shape `{"error":{"code","message"}}`.
//!
//! ```
//! use bytes::Bytes;
//! use rook_admin::{ApiRequest, error_response};
//!
//! let resp = error_response(http::StatusCode::NOT_FOUND, "not_found", "no such path");
//! assert_eq!(resp.status(), 404);
//! let req = ApiRequest::new(http::Method::GET, "/api/health/live", Bytes::new());
//! assert_eq!(req.path, "/api/health/live");
//! ```
#![forbid(unsafe_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};
use rook_config::{Config, Secret};
use rook_registry::Registry;
use serde::Serialize;

/// A boxed future returned by [`Runtime`] methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Health of one account, as the gateway sees it now.
#[derive(Debug, Clone, Serialize)]
pub struct AccountHealthView {
    /// Account id.
    pub id: String,
    /// Vendor name.
    pub vendor: String,
    /// Whether routing may use it.
    pub enabled: bool,
    /// `healthy`, `degraded`, `unhealthy` or `unknown`.
    pub status: String,
    /// Consecutive failures.
    pub consecutive_failures: u32,
    /// End of the cooldown, RFC 3339, if cooling.
    pub cooldown_until: Option<String>,
    /// Seconds of cooldown left, if cooling.
    pub cooldown_remaining_seconds: Option<f64>,
    /// Class of the last failure.
    pub last_error_class: Option<String>,
}

/// What only the running gateway knows.
pub trait Runtime: Send + Sync {
    /// Every account's health.
    fn accounts_health(&self) -> Vec<AccountHealthView>;
    /// Logical models whose route has no available account right now.
    fn routes_without_available_account(&self) -> Vec<String>;
    /// Number of routes.
    fn route_count(&self) -> usize;
    /// Prometheus text exposition (gauges refreshed at call time).
    fn render_metrics(&self) -> String;
    /// Seconds since start.
    fn uptime_seconds(&self) -> u64;
    /// Requests that exhausted their retries in the last 15 minutes.
    fn recent_retry_exhaustion(&self) -> u64;
    /// Whether the gateway is draining for shutdown.
    fn draining(&self) -> bool;
    /// Rebuilds routing from the registry after a change.
    fn reload(&self) -> BoxFuture<'_, Result<(), String>>;
}

/// One `/api/*` request, already read.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    /// Method.
    pub method: Method,
    /// Path, starting with `/api/`.
    pub path: String,
    /// Query string, if any.
    pub query: Option<String>,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
    /// Request id (for audit events).
    pub request_id: String,
}

impl ApiRequest {
    /// A request with no headers or query.
    pub fn new(method: Method, path: &str, body: Bytes) -> Self {
        ApiRequest {
            method,
            path: path.to_string(),
            query: None,
            headers: HeaderMap::new(),
            body,
            request_id: String::new(),
        }
    }
}

/// The admin API.
pub struct Admin {
    config: Arc<Config>,
    registry: Registry,
    runtime: Arc<dyn Runtime>,
    token: Option<Secret>,
    version: &'static str,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin").finish_non_exhaustive()
    }
}

/// A JSON response.
pub fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Response<Bytes> {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut r = Response::new(Bytes::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// An admin error response: `{"error":{"code","message"}}`.
pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response<Bytes> {
    json_response(
        status,
        &serde_json::json!({"error": {"code": code, "message": message}}),
    )
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    // Length is not secret here (tokens have operator-chosen lengths); compare the
    // bytes without early exit.
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Admin {
    /// The admin API over `registry`, answering with `runtime`'s live view.
    pub fn new(
        config: Arc<Config>,
        registry: Registry,
        runtime: Arc<dyn Runtime>,
        token: Option<Secret>,
        version: &'static str,
    ) -> Self {
        Admin {
            config,
            registry,
            runtime,
            token,
            version,
        }
    }

    fn is_probe(path: &str) -> bool {
        matches!(path, "/api/health/live" | "/api/health/ready")
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else {
            // No admin token: only possible on a loopback bind (the server refuses
            // to start otherwise); the API is open to local callers.
            return true;
        };
        let Some(v) = headers.get(header::AUTHORIZATION) else {
            return false;
        };
        let b = v.as_bytes();
        match b.get(..7) {
            Some(p) if p.eq_ignore_ascii_case(b"bearer ") => {
                constant_time_eq(b[7..].trim_ascii(), token.expose().as_bytes())
            }
            _ => false,
        }
    }

    /// Handles one `/api/*` request.
    pub async fn handle(&self, req: ApiRequest) -> Response<Bytes> {
        let probe_open = Self::is_probe(&req.path) && self.config.admin_auth.probes_without_auth;
        if !probe_open && !self.authorized(&req.headers) {
            let mut r = error_response(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Missing or invalid admin token. Send `Authorization: Bearer <admin token>`.",
            );
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return r;
        }
        match (&req.method, req.path.as_str()) {
            (&Method::GET, "/api/health/live") => {
                json_response(StatusCode::OK, &serde_json::json!({"status": "ok"}))
            }
            (&Method::GET, "/api/health/ready") => self.ready().await,
            (&Method::GET, "/api/health/accounts") => json_response(
                StatusCode::OK,
                &serde_json::json!({"accounts": self.runtime.accounts_health()}),
            ),
            (&Method::GET, "/api/status") => self.status().await,
            (&Method::GET, "/api/metrics") => {
                let mut r = Response::new(Bytes::from(self.runtime.render_metrics()));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                r
            }
            (_, p) if KNOWN_PATHS.contains(&p) => error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed for this path.",
            ),
            _ => error_response(StatusCode::NOT_FOUND, "not_found", "Unknown admin path."),
        }
    }

    async fn ready(&self) -> Response<Bytes> {
        let mut checks = Vec::new();
        let db_ok =
            match tokio::time::timeout(std::time::Duration::from_secs(2), self.registry.ping())
                .await
            {
                Ok(Ok(())) => true,
                Ok(Err(_)) | Err(_) => false,
            };
        checks.push(serde_json::json!({
            "name": "database",
            "ok": db_ok,
            "message": if db_ok { "reachable" } else { "the database is unreachable" },
        }));
        let total = self.runtime.route_count();
        let dead = self.runtime.routes_without_available_account();
        let routes_ok = total > 0 && dead.len() < total;
        checks.push(serde_json::json!({
            "name": "routes",
            "ok": routes_ok,
            "message": if total == 0 {
                "no routes are configured".to_string()
            } else if routes_ok {
                format!("{} of {} routes have an available account", total - dead.len(), total)
            } else {
                "no route has an available account".to_string()
            },
        }));
        let draining = self.runtime.draining();
        checks.push(serde_json::json!({
            "name": "accepting",
            "ok": !draining,
            "message": if draining { "shutting down" } else { "accepting requests" },
        }));
        let ok = db_ok && routes_ok && !draining;
        json_response(
            if ok {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            },
            &serde_json::json!({"status": if ok { "ready" } else { "not_ready" }, "checks": checks}),
        )
    }

    async fn status(&self) -> Response<Bytes> {
        let health = self.runtime.accounts_health();
        let mut by_status = serde_json::Map::new();
        for s in ["healthy", "degraded", "unhealthy", "unknown"] {
            let n = health.iter().filter(|h| h.status == s).count();
            by_status.insert(s.to_string(), n.into());
        }
        let r = &self.config.upstream_resilience;
        let body = serde_json::json!({
            "version": self.version,
            "uptime_seconds": self.runtime.uptime_seconds(),
            "bind": {
                "address": self.config.listen_address(),
                "loopback": self.config.bind_is_loopback(),
            },
            "auth": {
                "inbound": self.config.inbound_auth.enabled,
                "admin": self.token.is_some(),
            },
            "database": {"backend": self.registry.backend().as_str()},
            "accounts": {"total": health.len(), "by_status": by_status},
            "routes": {
                "total": self.runtime.route_count(),
                "without_available_account": self.runtime.routes_without_available_account(),
            },
            "resilience": {
                "max_buffered_attempts": r.max_buffered_attempts,
                "failure_threshold": r.failure_threshold,
                "failure_cooldown_seconds": r.failure_cooldown_seconds,
                "failure_cooldown_max_seconds": r.failure_cooldown_max_seconds,
                "retry_backoff_milliseconds": r.retry_backoff_milliseconds,
                "max_concurrent_upstream_requests": r.max_concurrent_upstream_requests,
                "permit_queue_timeout_milliseconds": r.permit_queue_timeout_milliseconds,
                "retry_budget_ratio": r.retry_budget_ratio,
                "retry_budget_min_per_second": r.retry_budget_min_per_second,
                "request_deadline_seconds": r.request_deadline_seconds,
            },
            "recent_retry_exhaustion": {
                "window_seconds": 900,
                "requests": self.runtime.recent_retry_exhaustion(),
            },
            "draining": self.runtime.draining(),
        });
        json_response(StatusCode::OK, &body)
    }
}

/// Every path the admin API serves (exact paths; collections also take `/{id}`).
pub const KNOWN_PATHS: &[&str] = &[
    "/api/health/live",
    "/api/health/ready",
    "/api/health/accounts",
    "/api/status",
    "/api/metrics",
];
