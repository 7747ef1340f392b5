//! What the admin API needs from the running gateway ([`Runtime`]), and the views
//! it answers with.

use std::future::Future;
use std::pin::Pin;

use http::HeaderMap;
use serde::Serialize;

use crate::{ClusterView, ConfigReloadReport, RecentRequestView, ReloadTrigger};

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
