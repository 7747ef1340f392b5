//! Public record types stored in the registry.

use std::collections::BTreeMap;
use std::fmt;

use rook_config::{Protocol, Vendor};
use serde::{Deserialize, Serialize};

use crate::error::{RegistryError, Result};

/// Who owns an account, pool or route row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Declared in the config file; kept equal to the file by [`crate::Registry::sync_declared`]
    /// and read-only through the CRUD methods.
    Config,
    /// Created at run time through the admin API.
    #[default]
    Api,
}

impl Source {
    /// `"config"` or `"api"`, as stored in the `source` column.
    pub fn as_str(&self) -> &'static str {
        match self {
            Source::Config => "config",
            Source::Api => "api",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self> {
        match s {
            "config" => Ok(Source::Config),
            "api" => Ok(Source::Api),
            other => Err(RegistryError::other(format!(
                "unknown source '{other}' in database"
            ))),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An upstream account (one API key at one vendor).
///
/// `Debug` redacts `api_key`, and `api_key` is never serialized (it is write-only
/// through the admin API); use [`AccountRecord::has_api_key`] to report its presence.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRecord {
    /// Unique id, e.g. `openai-a`.
    pub id: String,
    /// Vendor name as the gateway spells it, e.g. `open_ai`.
    pub vendor: String,
    /// Base URL of the vendor API.
    pub base_url: String,
    /// Name of the environment variable that holds the key.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Path of a file that holds the key.
    #[serde(default)]
    pub api_key_file: Option<String>,
    /// The key itself; only for API-managed accounts. Never serialized, redacted in `Debug`.
    #[serde(default, skip_serializing)]
    pub api_key: Option<String>,
    /// Whether the account may be used.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Weight for the weighted strategy.
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Priority for the priority/failover strategies (lower first).
    #[serde(default)]
    pub priority: u32,
    /// Logical model → upstream model name.
    #[serde(default)]
    pub models: BTreeMap<String, String>,
    /// Who owns the row.
    #[serde(default)]
    pub source: Source,
    /// Wire protocol toward the upstream: `openai`, `anthropic` or `gemini`
    /// ([`rook_config::Protocol`] names).
    #[serde(default = "default_protocol")]
    pub protocol: String,
    /// `anthropic-version` header for `anthropic`-protocol accounts; `None`: the default
    /// ([`rook_config::entity::DEFAULT_ANTHROPIC_VERSION`]).
    #[serde(default)]
    pub anthropic_version: Option<String>,
    /// `max_tokens` sent to `anthropic`-protocol accounts when a request gives none; `None`:
    /// the default ([`rook_config::entity::DEFAULT_MAX_TOKENS`]).
    #[serde(default)]
    pub default_max_tokens: Option<u32>,
    /// Whether Rook asks `openai`-protocol upstreams for usage on streams
    /// (`stream_options.include_usage`).
    #[serde(default = "default_true")]
    pub stream_usage: bool,
}

fn default_true() -> bool {
    true
}

fn default_protocol() -> String {
    Protocol::OpenAi.as_str().to_string()
}

fn default_weight() -> u32 {
    1
}

impl AccountRecord {
    /// A new enabled account with weight 1, priority 0, no key reference, no model map,
    /// `source = Api`, the vendor's default protocol (`openai` for an unknown vendor
    /// name), the default `anthropic_version` and `default_max_tokens`, and
    /// `stream_usage = true`.
    pub fn new(
        id: impl Into<String>,
        vendor: impl Into<String>,
        base_url: impl Into<String>,
    ) -> Self {
        let vendor = vendor.into();
        let protocol =
            Vendor::from_name(&vendor).map_or(Protocol::OpenAi, Vendor::default_protocol);
        AccountRecord {
            id: id.into(),
            vendor,
            base_url: base_url.into(),
            api_key_env: None,
            api_key_file: None,
            api_key: None,
            enabled: true,
            weight: 1,
            priority: 0,
            models: BTreeMap::new(),
            source: Source::Api,
            protocol: protocol.as_str().to_string(),
            anthropic_version: None,
            default_max_tokens: None,
            stream_usage: true,
        }
    }

    /// Whether an inline API key is stored.
    pub fn has_api_key(&self) -> bool {
        self.api_key.is_some()
    }
}

impl fmt::Debug for AccountRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountRecord")
            .field("id", &self.id)
            .field("vendor", &self.vendor)
            .field("base_url", &self.base_url)
            .field("api_key_env", &self.api_key_env)
            .field("api_key_file", &self.api_key_file)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("enabled", &self.enabled)
            .field("weight", &self.weight)
            .field("priority", &self.priority)
            .field("models", &self.models)
            .field("source", &self.source)
            .field("protocol", &self.protocol)
            .field("anthropic_version", &self.anthropic_version)
            .field("default_max_tokens", &self.default_max_tokens)
            .field("stream_usage", &self.stream_usage)
            .finish()
    }
}

/// A pool of accounts with a selection strategy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolRecord {
    /// Unique id.
    pub id: String,
    /// Strategy name, e.g. `round_robin` (not interpreted here).
    pub strategy: String,
    /// Member account ids, in order.
    pub members: Vec<String>,
    /// Pool to try when this one has no usable member.
    #[serde(default)]
    pub fallback_pool: Option<String>,
    /// Who owns the row.
    #[serde(default)]
    pub source: Source,
}

impl PoolRecord {
    /// A new pool without fallback, `source = Api`.
    pub fn new(id: impl Into<String>, strategy: impl Into<String>, members: Vec<String>) -> Self {
        PoolRecord {
            id: id.into(),
            strategy: strategy.into(),
            members,
            fallback_pool: None,
            source: Source::Api,
        }
    }
}

/// A route from a logical model to a pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteRecord {
    /// The logical model clients ask for (primary key).
    pub model: String,
    /// Pool id.
    pub pool: String,
    /// Another route (by model) to fall back to.
    #[serde(default)]
    pub fallback_route: Option<String>,
    /// Who owns the row.
    #[serde(default)]
    pub source: Source,
}

impl RouteRecord {
    /// A new route without fallback, `source = Api`.
    pub fn new(model: impl Into<String>, pool: impl Into<String>) -> Self {
        RouteRecord {
            model: model.into(),
            pool: pool.into(),
            fallback_route: None,
            source: Source::Api,
        }
    }
}

/// What [`crate::Registry::sync_declared`] changed (counts over accounts, pools and routes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReport {
    /// Rows inserted.
    pub added: usize,
    /// Rows changed (including api rows taken over by the config).
    pub updated: usize,
    /// Config rows deleted because they are no longer declared.
    pub removed: usize,
}

/// Health state of an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Working.
    Healthy,
    /// Some failures, still used.
    Degraded,
    /// Cooling down / not used.
    Unhealthy,
    /// Nothing known yet.
    #[default]
    Unknown,
}

impl HealthStatus {
    /// `healthy`, `degraded`, `unhealthy` or `unknown`.
    pub fn as_str(&self) -> &'static str {
        match self {
            HealthStatus::Healthy => "healthy",
            HealthStatus::Degraded => "degraded",
            HealthStatus::Unhealthy => "unhealthy",
            HealthStatus::Unknown => "unknown",
        }
    }

    /// Parses the stored form; anything unknown becomes [`HealthStatus::Unknown`].
    pub fn parse(s: &str) -> Self {
        match s {
            "healthy" => HealthStatus::Healthy,
            "degraded" => HealthStatus::Degraded,
            "unhealthy" => HealthStatus::Unhealthy,
            _ => HealthStatus::Unknown,
        }
    }
}

/// Persisted health of one account (survives restarts).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthRecord {
    /// Account id (not a foreign key: rows of deleted accounts are removed with them).
    pub account_id: String,
    /// Current status.
    pub status: HealthStatus,
    /// Consecutive retryable failures.
    pub consecutive_failures: u32,
    /// How many times the breaker opened.
    pub times_opened: u32,
    /// Cooling down until this unix time in ms.
    pub cooldown_until_ms: Option<i64>,
    /// Class of the last error, e.g. `rate_limited`.
    pub last_error_class: Option<String>,
    /// When this was last written (unix ms).
    pub updated_at_ms: i64,
}

/// One finished request, for usage accounting.
///
/// `Default` is an empty `chat` event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UsageEvent {
    /// Row id; `None` when inserting, set when read back.
    #[serde(default)]
    pub id: Option<i64>,
    /// Request id.
    pub request_id: String,
    /// When the request finished (unix ms).
    pub ts_ms: i64,
    /// Hash of the inbound principal (never the token).
    pub principal_hash: Option<String>,
    /// Logical model.
    pub model: String,
    /// Vendor of the account that answered.
    pub vendor: Option<String>,
    /// Account that answered (or the last one tried).
    pub account_id: Option<String>,
    /// Upstream model name.
    pub upstream_model: Option<String>,
    /// Whether the request was streamed.
    pub stream: bool,
    /// Upstream attempts made.
    pub attempts: u32,
    /// Outcome, e.g. `success`, `upstream_error`, `client_cancelled`.
    pub outcome: String,
    /// HTTP status returned to the client.
    pub status_code: u16,
    /// Total latency in ms.
    pub latency_ms: u64,
    /// Time to first byte in ms.
    pub ttfb_ms: Option<u64>,
    /// Prompt tokens.
    pub prompt_tokens: Option<u64>,
    /// Completion tokens.
    pub completion_tokens: Option<u64>,
    /// Total tokens.
    pub total_tokens: Option<u64>,
    /// Cost estimate in USD.
    pub cost_usd: Option<f64>,
    /// Error class when the request failed.
    pub error_class: Option<String>,
    /// The client-facing endpoint: one of [`UsageEvent::ENDPOINTS`] (`chat` for
    /// `/v1/chat/completions`). Default `chat`.
    #[serde(default = "default_endpoint")]
    pub endpoint: String,
    /// The client key the request was made with (`default` for `[inbound_auth]`'s
    /// token; never the secret); `None` when no key was known.
    #[serde(default)]
    pub key_id: Option<String>,
    /// Unique key of the event (`<instance nonce>.<sequence>`, hex) so that a replay
    /// of the usage journal never counts it twice; `None` for events without one.
    #[serde(default)]
    pub event_key: Option<String>,
}

fn default_endpoint() -> String {
    UsageEvent::ENDPOINT_CHAT.to_string()
}

impl UsageEvent {
    /// The endpoint of a chat completion, and of every event recorded before endpoints were.
    pub const ENDPOINT_CHAT: &'static str = "chat";

    /// The endpoint names a usage event may carry: `chat` (`/v1/chat/completions`),
    /// `messages` (`/v1/messages`), `embeddings`, `responses`, `completions`,
    /// `count_tokens`, and `other` (a refused request to another `/v1` path, e.g.
    /// `/v1/models` without a token).
    pub const ENDPOINTS: [&'static str; 7] = [
        "chat",
        "messages",
        "embeddings",
        "responses",
        "completions",
        "count_tokens",
        "other",
    ];
}

impl Default for UsageEvent {
    fn default() -> Self {
        UsageEvent {
            id: None,
            request_id: String::new(),
            ts_ms: 0,
            principal_hash: None,
            model: String::new(),
            vendor: None,
            account_id: None,
            upstream_model: None,
            stream: false,
            attempts: 0,
            outcome: String::new(),
            status_code: 0,
            latency_ms: 0,
            ttfb_ms: None,
            prompt_tokens: None,
            completion_tokens: None,
            total_tokens: None,
            cost_usd: None,
            error_class: None,
            endpoint: default_endpoint(),
            key_id: None,
            event_key: None,
        }
    }
}

/// A response stored for idempotent replay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    /// HTTP status.
    pub status_code: u16,
    /// Headers to replay, in order.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// Result of [`crate::Registry::idempotency_begin`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// This caller owns the key now: run the request, then `idempotency_complete` or
    /// `idempotency_abandon`.
    Started,
    /// Another request with the same key and body is still running.
    InProgress,
    /// The request already completed: replay this response.
    Replay(StoredResponse),
    /// The key was used with a different body.
    Mismatch,
}

/// One audit log entry (admin actions and notable events).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Row id; `None` when inserting, set when read back.
    #[serde(default)]
    pub id: Option<i64>,
    /// When (unix ms).
    pub ts_ms: i64,
    /// Request id of the admin call, if any.
    pub request_id: Option<String>,
    /// Who did it (e.g. `admin`, `config`).
    pub actor: String,
    /// What was done, e.g. `create`, `delete`, `sync`.
    pub action: String,
    /// Entity kind, e.g. `account`.
    pub entity_type: String,
    /// Entity id.
    pub entity_id: String,
    /// Free-form JSON detail (must not contain secrets).
    pub detail: serde_json::Value,
    /// Address of the client that made the admin call (the TCP peer, or the
    /// address a trusted proxy forwarded), if known.
    #[serde(default)]
    pub client_addr: Option<String>,
}

/// Migration state of the database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationStatus {
    /// Versions applied in the database, ascending.
    pub applied: Vec<i64>,
    /// Versions known to this build and not yet applied, ascending.
    pub pending: Vec<i64>,
    /// True when nothing is pending.
    pub current: bool,
}
