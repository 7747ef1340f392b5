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
mod probes;
mod recent;
mod reports;
mod request;
mod routes;
mod runtime;
mod timeseries;

pub use cluster::ClusterView;
pub use config_reload::{ConfigReloadReport, ReloadResult, ReloadTrigger};
pub use keys::{
    client_key_view, client_key_with_usage, default_key_view, slug as key_id_from_name,
};
pub use recent::RecentRequestView;
pub use reports::decode_path;
pub use request::ApiRequest;
use routes::match_template;
pub use routes::{route_template, ROUTES};
pub use runtime::{AccountHealthView, BoxFuture, KeyLiveView, Runtime, SessionAuth, SessionCheck};

use error::{ApiError, ApiResult};

use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};
use rook_config::{Config, Secret};
use rook_registry::Registry;
use serde::Serialize;

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
}
