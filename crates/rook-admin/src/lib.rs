//! The `/api/*` surface of Rook: health probes, status, metrics, run-time management of
//! accounts, pools and routes, usage reports and the audit log.
//!
//! This crate owns the handlers and their JSON types. It does not know the
//! gateway: the gateway implements [`Runtime`] (live health, routing reloads,
//! metrics rendering) and hands each `/api/*` request to [`Admin::handle`] as an
//! [`ApiRequest`]. Responses are plain `http::Response<Bytes>`. The route table is
//! [`ROUTES`]; `GET /api/openapi.json` serves an OpenAPI 3.0 document of exactly those
//! routes.
//!
//! # Endpoint reference
//!
//! **Auth.** Every endpoint needs `Authorization: Bearer <admin token>` (401
//! `unauthorized` otherwise, also for unknown paths), except `GET`/`HEAD /api/health/live`
//! and `GET`/`HEAD /api/health/ready` while `admin_auth.probes_without_auth` is true (the
//! default).
//! `/api/openapi.json` needs the token like the rest. The gateway's web dashboard
//! (`/ui`) signs in with the token and then calls the API with a session cookie, which
//! [`Admin::with_sessions`] accepts as a credential too; its writes carry a CSRF token. There is no open mode: an
//! [`Admin`] built without a token answers 401 to everything but those probes (the
//! gateway always has a token: configured, or generated into `<data_dir>/admin-token`).
//! Host, `Origin`/`Sec-Fetch-Site` and `Content-Type` checks (421, 403
//! `cross_origin_forbidden`, 415 `unsupported_media_type`) happen in the gateway before
//! a request reaches this crate.
//!
//! **Errors** are `{"error":{"code","message"}}`:
//!
//! | status | code | when |
//! |---|---|---|
//! | 400 | `invalid_request` | malformed JSON, not an object, unknown field, failed validation, bad query parameter; the message names the field or parameter (`` `weight`: must be in 1..=1000 ``) |
//! | 401 | `unauthorized` | missing or wrong admin token (and no live dashboard session) |
//! | 403 | `csrf_failed` | a write with the dashboard's session cookie but without its CSRF token ([`Admin::with_sessions`]) |
//! | 404 | `not_found` | no such account/pool/route, or unknown path |
//! | 405 | `method_not_allowed` | known path, other method (`Allow` lists the methods) |
//! | 409 | `conflict` | the id/model is taken |
//! | 409 | `reference_conflict` | the change would break a reference: delete an account still in a pool, a pool a route uses or another pool falls back to, a route another route falls back to; a pool member, fallback pool, route pool or fallback route that does not exist |
//! | 409 | `read_only` | the entry is declared in the config file ("… is declared in the config file; change it there") |
//! | 422 | `invalid_configuration` | routing could not be rebuilt with the change (e.g. the account's `api_key_env` variable is not set, a fallback cycle); the message is the reload error and the change was undone |
//! | 400 | `invalid_request` | also: an inline `api_key` while no `[secrets]` master key is configured (the message points to `api_key_env` / `api_key_file` and to `[secrets] master_key_env`) |
//! | 503 | `database_unavailable` | the registry database cannot be reached (on PostgreSQL the answer comes within `rook_registry::deadline::DATABASE_DEADLINE`, 1.5 s, with `Retry-After: 1`); and for every write (any method but `GET`) while the SQLite file was removed or replaced under the running server |
//!
//! **Health and status**: `GET /api/health/live`, `GET /api/health/ready` (200/503 with
//! `checks`; `HEAD` on both answers the same status and headers without a body),
//! `GET /api/health/accounts`, `GET /api/status`, `GET /api/metrics`
//! (Prometheus text), `GET /api/openapi.json`.
//!
//! **Accounts** — body fields are the config file's: `id`, `vendor`, `base_url`,
//! `api_key_env`, `api_key_file`, `enabled` (default true), `weight` (1..=1000, default 1),
//! `priority` (default 0), `models` (logical → upstream), plus write-only `api_key`.
//! Responses never contain a key: they carry `"has_api_key": true|false` (whether a key
//! is available now: a stored API key, a set non-empty `api_key_env` variable or a
//! readable non-empty `api_key_file`) and `"source": "config"|"api"`. `base_url` defaults to the vendor's (required for `custom`).
//! An inline `api_key` takes precedence over `api_key_env`/`api_key_file`. Inline keys
//! are stored sealed under the `[secrets]` master key (`rook_registry::seal`); without a
//! master key they are refused with 400.
//!
//! | method and path | body | success |
//! |---|---|---|
//! | `GET /api/accounts` | | 200 `{"accounts":[…]}` |
//! | `POST /api/accounts` | account (`id`, `vendor` required) | 201 account |
//! | `GET /api/accounts/{id}` | | 200 account |
//! | `PUT /api/accounts/{id}` | full account (`vendor` required; `id` optional, must match) | 200 account |
//! | `PATCH /api/accounts/{id}` | some fields; `null` resets one | 200 account |
//! | `DELETE /api/accounts/{id}` | | 204 |
//! | `PUT /api/accounts/{id}/api_key` | `{"api_key": "…"}` | 200 account |
//! | `DELETE /api/accounts/{id}/api_key` | | 204 |
//!
//! On PUT and PATCH, `"api_key": "…"` sets the key, `"api_key": null` clears it, and an
//! absent `api_key` keeps it. Omitted optional fields of a PUT take their defaults. Ids
//! cannot be changed. `source` and `has_api_key` are not accepted in bodies.
//!
//! **Pools** — `id`, `strategy` (`priority`, `failover`, `round_robin`, `weighted`,
//! `least_busy`), `members` (non-empty, no duplicates, existing accounts), `fallback_pool`;
//! responses add `source`.
//!
//! | method and path | body | success |
//! |---|---|---|
//! | `GET /api/pools` | | 200 `{"pools":[…]}` |
//! | `POST /api/pools` | pool | 201 pool |
//! | `GET /api/pools/{id}` | | 200 pool |
//! | `PUT /api/pools/{id}` / `PATCH /api/pools/{id}` | pool / some fields | 200 pool |
//! | `DELETE /api/pools/{id}` | | 204 |
//! | `PUT /api/pools/{id}/members` | `{"members": […]}` | 200 pool |
//!
//! **Routes** — `model`, `pool`, `fallback_route`; responses add `source`. The model is
//! everything after `/api/routes/`, percent-decoded, so `/api/routes/openai/gpt-4o` and
//! `/api/routes/openai%2Fgpt-4o` name the same route.
//!
//! | method and path | body | success |
//! |---|---|---|
//! | `GET /api/routes` | | 200 `{"routes":[…]}` |
//! | `POST /api/routes` | route | 201 route |
//! | `GET /api/routes/{model}` | | 200 route |
//! | `PUT /api/routes/{model}` / `PATCH /api/routes/{model}` | route / some fields | 200 route |
//! | `DELETE /api/routes/{model}` | | 204 |
//!
//! **Writes apply at once.** Writes are serialized; after each successful registry write
//! the handler calls [`Runtime::reload`]. If the reload fails, the write is undone with a
//! compensating registry call and the answer is 422 `invalid_configuration`. A successful
//! change appends an audit event: actor `admin` (`dashboard` when the caller signed in
//! to the web dashboard rather than sending the bearer token), action `create` / `update` / `delete` /
//! `set_api_key` / `clear_api_key` / `set_members`, `entity_type` (`account`, `pool`,
//! `route`), `entity_id`, the request id, and as `detail` the entity as the API shows it
//! (for deletes: as it was), never a key, and the caller's `client_addr` ([`ApiRequest::client_addr`]).
//!
//! **Usage**: `GET /api/usage?since=…&until=…&group_by=…` answers the registry's usage
//! report (the same as `rook-cli usage report`):
//! `{"since_ms","until_ms","totals":{…},"groups":{"model":[{"key",…}]}}`. `since` and
//! `until` take a duration back from now (`30m`, `24h`, `7d`; units `s m h d w`), a date
//! `YYYY-MM-DD` (UTC midnight) or an RFC 3339 timestamp (`Z` or `±HH:MM`; in a query
//! string encode `+` as `%2B`). `since` defaults to `24h`, `until` to open (`null`);
//! `group_by` is a comma-separated list of `model`, `account`, `vendor`, `day`, `outcome`,
//! `endpoint`, `key` (client key id)
//! (default `model`). Unknown or repeated parameters are 400.
//!
//! **Usage time series**: `GET /api/usage/timeseries?since=24h&bucket=5m&group_by=model`
//! answers `{"since_ms","until_ms","bucket_seconds","group_by","totals":{…},"series":[{"key",
//! "totals":{…},"points":[{"ts_ms","requests","failed_requests","prompt_tokens",
//! "completion_tokens","total_tokens","cost_usd","latency_avg_ms","latency_max_ms"}]}]}`,
//! summed by the database. `bucket` is a duration of at least 10 s (default `5m`, at most
//! 2000 buckets per window); `group_by` is one of `model`, `account`, `endpoint`, `key`;
//! `since`/`until` as for `/api/usage` (`until` defaults to now). Buckets without traffic
//! are left out.
//!
//! **Client keys** (see `docs/keys.md`): `GET /api/keys`, `POST /api/keys` (201, the
//! answer holds the `secret`, shown only then), `GET /api/keys/{id}` (with `spend_usd`
//! of the current budget period, `budget_usd`, `period_resets_at`, `requests_today`),
//! `PATCH /api/keys/{id}`, `DELETE /api/keys/{id}` (revoke; the row stays),
//! `POST /api/keys/{id}/rotate` (`{"grace_seconds": N}` optional; the new `secret`).
//! Declared keys and the `default` key of `[inbound_auth]` are read-only (409
//! `read_only`). Changes are audited with `entity_type: client_key`.
//!
//! **Recent requests**: `GET /api/requests/recent?limit=100` answers this instance's
//! last requests, newest first, from an in-memory ring of the last 1000 (no bodies, no
//! secrets): `{"data":[{"request_id","at","endpoint","route","account","key_id",
//! "attempts","outcome","error_class","status","latency_ms","stream","input_tokens",
//! "output_tokens","cost_usd"}]}` ([`RecentRequestView`]); `limit` is 1..=1000
//! (default 100).
//! **Configuration reload**: `POST /api/config/reload` (no body; the same as SIGHUP)
//! re-reads the configuration file and `ROOK_*` environment, validates them, and applies
//! the live parts at once: 200 `{"result":"applied"|"unchanged","source","applied":[…],
//! "restart_required":[…],"problems":[]}` (top-level keys). An invalid file changes
//! nothing: 422 `invalid_configuration` with `problems` (every one) beside `error`; a
//! failure to apply (the database) is 500 `reload_failed`; a gateway embedded without
//! a configuration source answers 409 `reload_unavailable`. Audited with actor `admin`
//! (`dashboard` through a dashboard session, `signal` for SIGHUP), action `reload`, `entity_type: config`.
//!
//! **Audit**: `GET /api/audit/events?limit=50&before=<id>` answers
//! `{"events":[{"id","ts_ms","ts","request_id","client_addr","actor","action","entity_type","entity_id","detail"}],"next_before":id|null}`,
//! newest first; `limit` is 1..=500 (default 50); pass `next_before` as `before` for the
//! next page (`null` when the page was not full).
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use rook_admin::{ApiRequest, error_response, ROUTES};
//!
//! let resp = error_response(http::StatusCode::NOT_FOUND, "not_found", "no such path");
//! assert_eq!(resp.status(), 404);
//! let req = ApiRequest::new(http::Method::GET, "/api/health/live", Bytes::new());
//! assert_eq!(req.path, "/api/health/live");
//! assert!(ROUTES.contains(&("PUT", "/api/accounts/{id}/api_key")));
//! ```
#![forbid(unsafe_code)]

mod body;
mod cluster;
mod config_reload;
mod entities;
mod error;
mod keys;
mod openapi;
mod recent;
mod reports;
mod timeseries;

pub use cluster::ClusterView;
pub use config_reload::{ConfigReloadReport, ReloadResult, ReloadTrigger};
pub use keys::{
    client_key_view, client_key_with_usage, default_key_view, slug as key_id_from_name,
};
pub use recent::RecentRequestView;
pub use reports::decode_path;

use error::{ApiError, ApiResult};

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
    /// Upstream requests to this account in flight on this instance now.
    pub in_flight: u64,
}

/// What only the running gateway knows.
pub trait Runtime: Send + Sync {
    /// Every account's health.
    fn accounts_health(&self) -> Vec<AccountHealthView>;
    /// Logical models whose route has no available account right now.
    fn routes_without_available_account(&self) -> Vec<String>;
    /// Logical models panic-routed in the last minute (every account of the
    /// route was cooling; Rook probed the one coming back first).
    fn routes_in_panic(&self) -> Vec<String> {
        Vec::new()
    }
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
    /// Closes an account's breaker and clears its cooldown (operator action).
    /// `false` when routing does not know the account.
    fn reset_health(&self, id: &str) -> bool;
    /// The running gateway's view of a client key's budget period (`None`: no budget,
    /// unknown key, or no gateway: the admin API then derives spend from the registry).
    fn client_key_live(&self, id: &str) -> Option<KeyLiveView> {
        let _ = id;
        None
    }
    /// This instance's id and the config version it serves (`None`: not known).
    fn cluster(&self) -> Option<ClusterView> {
        None
    }
    /// Up to `limit` of the last requests this instance answered, newest first
    /// (`GET /api/requests/recent`; default: none).
    fn recent_requests(&self, limit: usize) -> Vec<RecentRequestView> {
        let _ = limit;
        Vec::new()
    }
    /// Reloads the client keys after a change (default: a full [`Runtime::reload`]).
    fn reload_keys(&self) -> BoxFuture<'_, Result<(), String>> {
        self.reload()
    }
    /// Re-reads the configuration file and environment and applies what can change
    /// live (`POST /api/config/reload`, SIGHUP). `None`: this runtime has no
    /// configuration source to re-read (the default).
    fn reload_config(&self, trigger: ReloadTrigger) -> BoxFuture<'_, Option<ConfigReloadReport>> {
        let _ = trigger;
        Box::pin(async { None })
    }
}

/// What a session credential (the web dashboard's cookie) says about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionCheck {
    /// No session credential, or an unknown or expired one: the bearer token decides.
    Absent,
    /// A live session; for a write (any method but `GET`/`HEAD`), with its CSRF token.
    Valid,
    /// A live session, but a write without the session's CSRF token: 403 `csrf_failed`.
    CsrfFailed,
}

/// Credentials other than the bearer token (the gateway's web dashboard sessions).
pub trait SessionAuth: Send + Sync {
    /// Checks the request's session credential; `write` is whether it changes state.
    fn check(&self, headers: &HeaderMap, write: bool) -> SessionCheck;
}

/// A client key's current budget period as the running gateway counts it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeyLiveView {
    /// Spend in the current period (charged when each request is recorded).
    pub spend_usd: f64,
    /// Start of the current period (unix ms; `i64::MIN` for `total`).
    pub period_start_ms: i64,
    /// When the next period starts (unix ms; `None` for `total`).
    pub period_resets_at_ms: Option<i64>,
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
    /// The caller's address (the TCP peer, or what a trusted proxy forwarded), for
    /// audit events.
    pub client_addr: Option<String>,
    /// Set by [`Admin::handle`] once the caller is authenticated: it used a dashboard
    /// session rather than the bearer token (its changes are audited as `dashboard`).
    via_session: bool,
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
            client_addr: None,
            via_session: false,
        }
    }

    /// The actor of the audit events this request's changes append: `dashboard` when
    /// it was authenticated with a dashboard session, else `admin` (the bearer token).
    pub(crate) fn actor(&self) -> &'static str {
        if self.via_session {
            "dashboard"
        } else {
            "admin"
        }
    }
}

/// The admin API.
pub struct Admin {
    config: Arc<Config>,
    registry: Registry,
    runtime: Arc<dyn Runtime>,
    token: Option<Secret>,
    sessions: Option<Arc<dyn SessionAuth>>,
    version: &'static str,
    /// Serializes writes, so a write, its reload and its undo are not interleaved with another.
    write_lock: tokio::sync::Mutex<()>,
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
            sessions: None,
            version,
            write_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Accepts `sessions` as a credential besides the bearer token (the web dashboard's
    /// session cookie). A write with a live session but without its CSRF token is
    /// refused with 403 `csrf_failed`.
    pub fn with_sessions(mut self, sessions: Arc<dyn SessionAuth>) -> Self {
        self.sessions = Some(sessions);
        self
    }

    /// Whether `candidate` is the admin token (compared in constant time; `false`
    /// without a token). The web dashboard's login uses it.
    pub fn verify_token(&self, candidate: &str) -> bool {
        self.token
            .as_ref()
            .is_some_and(|t| constant_time_eq(candidate.as_bytes(), t.expose().as_bytes()))
    }

    fn is_probe(path: &str) -> bool {
        matches!(path, "/api/health/live" | "/api/health/ready")
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else {
            // No open mode: without a token nothing but the probes is reachable.
            return false;
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
    ///
    /// `HEAD /api/health/live` and `HEAD /api/health/ready` answer like `GET`
    /// (same status, same headers, `Content-Length` of the `GET` body) with an
    /// empty body, for load balancers that probe with `HEAD`.
    pub async fn handle(&self, req: ApiRequest) -> Response<Bytes> {
        if req.method == Method::HEAD && Self::is_probe(&req.path) {
            let get = ApiRequest {
                method: Method::GET,
                ..req
            };
            let resp = self.handle_method(get).await;
            let (mut parts, body) = resp.into_parts();
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
            return Response::from_parts(parts, Bytes::new());
        }
        self.handle_method(req).await
    }

    async fn handle_method(&self, mut req: ApiRequest) -> Response<Bytes> {
        let probe_open = Self::is_probe(&req.path) && self.config.admin_auth.probes_without_auth;
        let bearer = self.authorized(&req.headers);
        let session = match (&self.sessions, probe_open || bearer) {
            (_, true) | (None, false) => SessionCheck::Absent,
            (Some(s), false) => {
                let write = !matches!(req.method, Method::GET | Method::HEAD);
                s.check(&req.headers, write)
            }
        };
        if session == SessionCheck::CsrfFailed {
            return error_response(
                StatusCode::FORBIDDEN,
                "csrf_failed",
                "A write with the dashboard's session cookie needs the session's CSRF token \
                 in the `x-csrf-token` header; reload the page.",
            );
        }
        req.via_session = !bearer && session == SessionCheck::Valid;
        if !probe_open && !bearer && session != SessionCheck::Valid {
            let mut r = error_response(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Missing or invalid admin token. Send `Authorization: Bearer <admin token>`.",
            );
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return r;
        }
        let matched: Vec<(&(&str, &str), Vec<String>)> = ROUTES
            .iter()
            .filter_map(|r| match_template(r.1, &req.path).map(|p| (r, p)))
            .collect();
        if matched.is_empty() {
            return error_response(StatusCode::NOT_FOUND, "not_found", "Unknown admin path.");
        }
        let Some((route, params)) = matched.iter().find(|(r, _)| r.0 == req.method.as_str()) else {
            let mut allow: Vec<&str> = matched.iter().map(|(r, _)| r.0).collect();
            if Self::is_probe(&req.path) {
                allow.push("HEAD");
            }
            let mut r = error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                &format!(
                    "Method not allowed for this path; allowed: {}.",
                    allow.join(", ")
                ),
            );
            if let Ok(v) = HeaderValue::from_str(&allow.join(", ")) {
                r.headers_mut().insert(header::ALLOW, v);
            }
            return r;
        };
        let param = params.first().map(String::as_str).unwrap_or_default();
        // On PostgreSQL a call waits for the database at most DATABASE_DEADLINE (an
        // outage answers 503 `database_unavailable` fast instead of hanging); the
        // readiness probe bounds its own ping and answers 503 itself.
        let deadline = match *route {
            ("GET", "/api/health/ready") => None,
            _ => self.registry.request_deadline(),
        };
        let handled = match deadline {
            Some(d) => tokio::time::timeout(d, self.dispatch(route, param, &req))
                .await
                .unwrap_or_else(|_| Err(ApiError::database_timeout(d))),
            None => self.dispatch(route, param, &req).await,
        };
        match handled {
            Ok(r) => r,
            Err(e) => e.into_response(),
        }
    }

    /// Runs the handler of one entry of [`ROUTES`]; `param` is its path parameter, if any.
    async fn dispatch(&self, route: &(&str, &str), param: &str, req: &ApiRequest) -> ApiResult {
        if route.0 != "GET" {
            // Never write into a SQLite file that was removed or replaced while running.
            if let Some(problem) = self.registry.identity_problem() {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database_unavailable",
                    problem,
                ));
            }
        }
        Ok(match *route {
            ("GET", "/api/health/live") => {
                json_response(StatusCode::OK, &serde_json::json!({"status": "ok"}))
            }
            ("GET", "/api/health/ready") => self.ready().await,
            ("GET", "/api/health/accounts") => json_response(
                StatusCode::OK,
                &serde_json::json!({"accounts": self.runtime.accounts_health()}),
            ),
            ("GET", "/api/status") => self.status().await,
            ("GET", "/api/metrics") => {
                let mut r = Response::new(Bytes::from(self.runtime.render_metrics()));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                r
            }
            ("GET", "/api/openapi.json") => {
                json_response(StatusCode::OK, &openapi::document(self.version))
            }
            ("GET", "/api/accounts") => self.list_accounts().await?,
            ("POST", "/api/accounts") => self.create_account(req).await?,
            ("GET", "/api/accounts/{id}") => self.get_account(param).await?,
            ("PUT", "/api/accounts/{id}") => self.update_account(req, param, false).await?,
            ("PATCH", "/api/accounts/{id}") => self.update_account(req, param, true).await?,
            ("DELETE", "/api/accounts/{id}") => self.delete_account(req, param).await?,
            ("PUT", "/api/accounts/{id}/api_key") => self.set_account_key(req, param).await?,
            ("DELETE", "/api/accounts/{id}/api_key") => self.clear_account_key(req, param).await?,
            ("POST", "/api/accounts/{id}/reset") => self.reset_account_health(req, param).await?,
            ("GET", "/api/pools") => self.list_pools().await?,
            ("POST", "/api/pools") => self.create_pool(req).await?,
            ("GET", "/api/pools/{id}") => self.get_pool(param).await?,
            ("PUT", "/api/pools/{id}") => self.update_pool(req, param, false).await?,
            ("PATCH", "/api/pools/{id}") => self.update_pool(req, param, true).await?,
            ("DELETE", "/api/pools/{id}") => self.delete_pool(req, param).await?,
            ("PUT", "/api/pools/{id}/members") => self.set_pool_members(req, param).await?,
            ("GET", "/api/routes") => self.list_routes().await?,
            ("POST", "/api/routes") => self.create_route(req).await?,
            ("GET", "/api/routes/{model}") => self.get_route(param).await?,
            ("PUT", "/api/routes/{model}") => self.update_route(req, param, false).await?,
            ("PATCH", "/api/routes/{model}") => self.update_route(req, param, true).await?,
            ("DELETE", "/api/routes/{model}") => self.delete_route(req, param).await?,
            ("GET", "/api/keys") => self.list_keys().await?,
            ("POST", "/api/keys") => self.create_key(req).await?,
            ("GET", "/api/keys/{id}") => self.get_key(param).await?,
            ("PATCH", "/api/keys/{id}") => self.update_key(req, param).await?,
            ("DELETE", "/api/keys/{id}") => self.revoke_key(req, param).await?,
            ("POST", "/api/keys/{id}/rotate") => self.rotate_key(req, param).await?,
            ("GET", "/api/usage") => self.usage(req).await?,
            ("GET", "/api/usage/timeseries") => self.usage_timeseries(req).await?,
            ("GET", "/api/audit/events") => self.audit_events(req).await?,
            ("GET", "/api/requests/recent") => self.recent_requests(req)?,
            ("POST", "/api/config/reload") => {
                config_reload::handle(self.runtime.as_ref(), req).await
            }
            (method, path) => {
                return Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    format!("no handler for {method} {path}"),
                ))
            }
        })
    }

    async fn ready(&self) -> Response<Bytes> {
        let mut checks = Vec::new();
        let bound = self
            .registry
            .request_deadline()
            .unwrap_or(std::time::Duration::from_secs(2));
        let db_ok = match tokio::time::timeout(bound, self.registry.ping()).await {
            Ok(Ok(())) => true,
            Ok(Err(_)) | Err(_) => false,
        };
        let identity = self.registry.check_identity();
        let problem = self.registry.identity_problem();
        let db_ok = db_ok && problem.is_none();
        checks.push(serde_json::json!({
            "name": "database",
            "ok": db_ok,
            "identity": identity.as_str(),
            "message": match (&problem, db_ok) {
                (Some(p), _) => p.clone(),
                (None, true) => "reachable".to_string(),
                (None, false) => "the database is unreachable".to_string(),
            },
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
        let mut body = serde_json::json!({
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
            "database": {
                "backend": self.registry.backend().as_str(),
                "identity": self.registry.check_identity().as_str(),
                "problem": self.registry.identity_problem(),
            },
            "accounts": {"total": health.len(), "by_status": by_status},
            "routes": {
                "total": self.runtime.route_count(),
                "without_available_account": self.runtime.routes_without_available_account(),
                "in_panic": self.runtime.routes_in_panic(),
            },
            "routes_in_panic": self.runtime.routes_in_panic(),
            "resilience": {
                "max_buffered_attempts": r.max_buffered_attempts,
                "failure_threshold": r.failure_threshold,
                "failure_cooldown_seconds": r.failure_cooldown_seconds,
                "failure_cooldown_max_seconds": r.failure_cooldown_max_seconds,
                "failure_rate_threshold": r.failure_rate_threshold,
                "failure_rate_min_requests": r.failure_rate_min_requests,
                "failure_rate_window_seconds": r.failure_rate_window_seconds,
                "panic_mode": r.panic_mode,
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
        let me = self.runtime.cluster();
        if let Some(obj) = body.as_object_mut() {
            obj.insert(
                "config_version".into(),
                me.as_ref().map(|m| m.config_version).into(),
            );
            obj.insert(
                "cluster".into(),
                cluster::status(&self.registry, me.as_ref()).await,
            );
        }
        json_response(StatusCode::OK, &body)
    }
}

/// Every route of the admin API: `(method, path template)`. The dispatcher serves exactly
/// these, and the OpenAPI document describes exactly these (a test checks both ways).
///
/// A `{id}` parameter is one path segment; `{model}` (last in its template) is the whole
/// rest of the path, so model names may contain `/`. Parameters are percent-decoded.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/health/live"),
    ("GET", "/api/health/ready"),
    ("GET", "/api/health/accounts"),
    ("GET", "/api/status"),
    ("GET", "/api/metrics"),
    ("GET", "/api/openapi.json"),
    ("GET", "/api/accounts"),
    ("POST", "/api/accounts"),
    ("GET", "/api/accounts/{id}"),
    ("PUT", "/api/accounts/{id}"),
    ("PATCH", "/api/accounts/{id}"),
    ("DELETE", "/api/accounts/{id}"),
    ("PUT", "/api/accounts/{id}/api_key"),
    ("DELETE", "/api/accounts/{id}/api_key"),
    ("POST", "/api/accounts/{id}/reset"),
    ("GET", "/api/pools"),
    ("POST", "/api/pools"),
    ("GET", "/api/pools/{id}"),
    ("PUT", "/api/pools/{id}"),
    ("PATCH", "/api/pools/{id}"),
    ("DELETE", "/api/pools/{id}"),
    ("PUT", "/api/pools/{id}/members"),
    ("GET", "/api/routes"),
    ("POST", "/api/routes"),
    ("GET", "/api/routes/{model}"),
    ("PUT", "/api/routes/{model}"),
    ("PATCH", "/api/routes/{model}"),
    ("DELETE", "/api/routes/{model}"),
    ("GET", "/api/keys"),
    ("POST", "/api/keys"),
    ("GET", "/api/keys/{id}"),
    ("PATCH", "/api/keys/{id}"),
    ("DELETE", "/api/keys/{id}"),
    ("POST", "/api/keys/{id}/rotate"),
    ("GET", "/api/usage"),
    ("GET", "/api/usage/timeseries"),
    ("GET", "/api/audit/events"),
    ("GET", "/api/requests/recent"),
    ("POST", "/api/config/reload"),
];

/// The [`ROUTES`] template a path belongs to (any method), e.g.
/// `/api/accounts/{id}` for `/api/accounts/a`: a bounded label for metrics.
pub fn route_template(path: &str) -> Option<&'static str> {
    ROUTES
        .iter()
        .map(|(_, t)| *t)
        .find(|t| match_template(t, path).is_some())
}

/// Matches `path` against a [`ROUTES`] template; returns the decoded path parameters.
fn match_template(template: &str, path: &str) -> Option<Vec<String>> {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    let mut params = Vec::new();
    for (i, seg) in t.iter().enumerate() {
        if seg.starts_with('{') && seg.ends_with('}') {
            let raw = if *seg == "{model}" && i + 1 == t.len() {
                p.get(i..)?.join("/")
            } else {
                (*p.get(i)?).to_string()
            };
            let value = reports::decode_path(&raw)?;
            if value.is_empty() {
                return None;
            }
            params.push(value);
            if *seg == "{model}" && i + 1 == t.len() {
                return Some(params);
            }
        } else if p.get(i) != Some(seg) {
            return None;
        }
    }
    (p.len() == t.len()).then_some(params)
}

#[cfg(test)]
mod route_tests {
    use super::*;

    #[test]
    fn templates() {
        assert_eq!(
            match_template("/api/accounts", "/api/accounts"),
            Some(vec![])
        );
        assert_eq!(match_template("/api/accounts", "/api/accounts/"), None);
        assert_eq!(
            match_template("/api/accounts/{id}", "/api/accounts/a.b"),
            Some(vec!["a.b".to_string()])
        );
        assert_eq!(
            match_template("/api/accounts/{id}", "/api/accounts/a/api_key"),
            None
        );
        assert_eq!(match_template("/api/accounts/{id}", "/api/accounts/"), None);
        assert_eq!(
            match_template("/api/accounts/{id}/api_key", "/api/accounts/a/api_key"),
            Some(vec!["a".to_string()])
        );
        assert_eq!(
            match_template("/api/routes/{model}", "/api/routes/openai/gpt-4o:free"),
            Some(vec!["openai/gpt-4o:free".to_string()])
        );
        assert_eq!(
            match_template("/api/routes/{model}", "/api/routes/openai%2Fgpt-4o%3Afree"),
            Some(vec!["openai/gpt-4o:free".to_string()])
        );
        assert_eq!(match_template("/api/routes/{model}", "/api/routes/"), None);
        assert_eq!(
            match_template("/api/routes/{model}", "/api/routes/%zz"),
            None
        );
    }
}
