//! What the dashboard shows, as the admin API answers it: typed, lenient (a field the
//! server does not send takes its default), and free of IO.

use std::collections::BTreeMap;

use rook_gateway::rook_registry::report::UsageReport;
use serde::Deserialize;

/// `GET /api/status`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Status {
    pub version: String,
    pub uptime_seconds: u64,
    pub bind: Bind,
    pub auth: Auth,
    pub database: Database,
    pub accounts: AccountCounts,
    pub routes: RouteCounts,
    pub recent_retry_exhaustion: RetryExhaustion,
    pub draining: bool,
    pub config_version: Option<i64>,
}

/// `status.bind`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Bind {
    pub address: String,
    pub loopback: bool,
}

/// `status.auth`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Auth {
    pub inbound: bool,
    pub admin: bool,
}

/// `status.database`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Database {
    pub backend: String,
    pub identity: String,
    pub problem: Option<String>,
}

/// `status.accounts`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct AccountCounts {
    pub total: u64,
    pub by_status: BTreeMap<String, u64>,
}

/// `status.routes`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RouteCounts {
    pub total: u64,
    pub without_available_account: Vec<String>,
    pub in_panic: Vec<String>,
}

/// `status.recent_retry_exhaustion`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RetryExhaustion {
    pub window_seconds: u64,
    pub requests: u64,
}

/// One entry of `GET /api/health/accounts`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Health {
    pub id: String,
    pub vendor: String,
    pub enabled: bool,
    pub status: String,
    pub consecutive_failures: u32,
    pub cooldown_until: Option<String>,
    pub cooldown_remaining_seconds: Option<f64>,
    pub last_error_class: Option<String>,
    /// Upstream requests in flight on the server now (absent from older servers).
    pub in_flight: u64,
}

/// One entry of `GET /api/accounts` (the fields shown).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Account {
    pub id: String,
    pub vendor: String,
    pub enabled: bool,
    pub weight: u32,
    pub priority: i64,
    pub source: String,
    pub has_api_key: bool,
}

/// One entry of `GET /api/pools`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Pool {
    pub id: String,
    pub strategy: String,
    pub members: Vec<String>,
    pub fallback_pool: Option<String>,
    pub source: String,
}

/// One entry of `GET /api/routes`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Route {
    pub model: String,
    pub pool: String,
    pub fallback_route: Option<String>,
    pub source: String,
}

/// One entry of `GET /api/requests/recent`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Recent {
    pub request_id: String,
    pub at: String,
    pub endpoint: String,
    pub route: String,
    pub account: Option<String>,
    pub key_id: Option<String>,
    pub attempts: u32,
    pub outcome: String,
    pub error_class: Option<String>,
    pub status: u16,
    pub latency_ms: u64,
    pub stream: bool,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cost_usd: Option<f64>,
}

/// Everything one refresh reads.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    pub status: Status,
    pub health: Vec<Health>,
    pub accounts: Vec<Account>,
    pub pools: Vec<Pool>,
    pub routes: Vec<Route>,
    /// The last 14 days, grouped by `day`.
    pub usage_days: Option<UsageReport>,
    /// The last 24 hours, grouped by `model` and `account`.
    pub usage_day: Option<UsageReport>,
    /// This instance's last requests, newest first.
    pub recent: Vec<Recent>,
    /// Why [`Snapshot::recent`] could not be read (e.g. a server without the endpoint).
    pub recent_problem: Option<String>,
    /// When it was read (unix ms), for the per-minute series of [`Snapshot::recent`].
    pub fetched_at_ms: i64,
}
