//! The typed configuration schema: [`Config`] and its sections.
//!
//! Every struct denies unknown fields, so a misspelt key fails the start with
//! an error naming it instead of being silently ignored. Every field except
//! the identifying fields of accounts, pools and routes has a default.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::secret::{redact_database_url, Secret, SecretError, SecretSource};

/// Default environment variable holding the inbound (client) bearer token.
pub const DEFAULT_INBOUND_TOKEN_ENV: &str = "ROOK_TOKEN";
/// Default environment variable holding the admin API bearer token.
pub const DEFAULT_ADMIN_TOKEN_ENV: &str = "ROOK_ADMIN_TOKEN";

/// The complete, typed Rook configuration.
///
/// Obtain one through [`crate::load`] (all layers) or
/// [`Config::from_toml_str`] (defaults + one TOML document); both validate.
/// `Config::default()` is the built-in default configuration and is valid.
///
/// `Debug` output redacts the password of `database_url`. `Serialize` does
/// not (it is the raw schema); for display use [`Config::to_redacted_json`].
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the server binds to. Default `127.0.0.1` (loopback only).
    pub host: String,
    /// TCP port the server listens on. Default `4141`; `0` is invalid.
    pub port: u16,
    /// Database URL: `sqlite:...` or `postgres://...` / `postgresql://...`.
    /// Default `sqlite://rook.db`. May contain a password; never log it raw.
    pub database_url: String,
    /// Log output format. Default [`LogFormat::Text`].
    pub log_format: LogFormat,
    /// `tracing` env-filter directive, e.g. `info` or `rook=debug,hyper=warn`.
    /// Default `info`.
    pub log_level: String,
    /// Seconds in-flight requests get to finish on shutdown. Default `30`.
    pub shutdown_grace_seconds: u64,
    /// Authentication of `/v1/*` clients.
    pub inbound_auth: InboundAuth,
    /// Authentication of the `/api/*` admin API.
    pub admin_auth: AdminAuth,
    /// Limits on inbound requests.
    pub limits: Limits,
    /// Upstream HTTP client timeouts and connection pool.
    pub upstream: Upstream,
    /// Retries, cooldowns, budgets and concurrency toward upstreams.
    pub upstream_resilience: UpstreamResilience,
    /// Usage event recording.
    pub usage: Usage,
    /// `Idempotency-Key` handling.
    pub idempotency: Idempotency,
    /// Request rate limits (per instance).
    pub rate_limits: RateLimits,
    /// Directory for Rook's own files (the generated admin token `admin-token`).
    /// `None` (default): [`Config::effective_data_dir`] — the SQLite database
    /// file's directory, else the working directory.
    pub data_dir: Option<PathBuf>,
    /// Who may address the server (Host check) and which proxies are trusted.
    pub transport: Transport,
    /// Optional price table, keyed by logical model name.
    pub pricing: BTreeMap<String, ModelPrice>,
    /// Upstream accounts declared in the file (file-only; no env override).
    pub accounts: Vec<AccountConfig>,
    /// Pools of accounts (file-only).
    pub pools: Vec<PoolConfig>,
    /// Routes from logical model names to pools (file-only).
    pub routes: Vec<RouteConfig>,
    /// The master key that seals API-set provider keys at rest.
    pub secrets: crate::master_key::Secrets,
    /// Client keys declared in the file (file-only; see `docs/keys.md`).
    pub client_keys: Vec<crate::client_keys::ClientKeyConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".to_owned(),
            port: 4141,
            database_url: "sqlite://rook.db".to_owned(),
            log_format: LogFormat::Text,
            log_level: "info".to_owned(),
            shutdown_grace_seconds: 30,
            inbound_auth: InboundAuth::default(),
            admin_auth: AdminAuth::default(),
            limits: Limits::default(),
            upstream: Upstream::default(),
            upstream_resilience: UpstreamResilience::default(),
            usage: Usage::default(),
            idempotency: Idempotency::default(),
            rate_limits: RateLimits::default(),
            data_dir: None,
            transport: Transport::default(),
            pricing: BTreeMap::new(),
            accounts: Vec::new(),
            pools: Vec::new(),
            routes: Vec::new(),
            secrets: crate::master_key::Secrets::default(),
            client_keys: Vec::new(),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database_url", &redact_database_url(&self.database_url))
            .field("log_format", &self.log_format)
            .field("log_level", &self.log_level)
            .field("shutdown_grace_seconds", &self.shutdown_grace_seconds)
            .field("inbound_auth", &self.inbound_auth)
            .field("admin_auth", &self.admin_auth)
            .field("limits", &self.limits)
            .field("upstream", &self.upstream)
            .field("upstream_resilience", &self.upstream_resilience)
            .field("usage", &self.usage)
            .field("idempotency", &self.idempotency)
            .field("rate_limits", &self.rate_limits)
            .field("data_dir", &self.data_dir)
            .field("transport", &self.transport)
            .field("pricing", &self.pricing)
            .field("accounts", &self.accounts)
            .field("pools", &self.pools)
            .field("routes", &self.routes)
            .field("secrets", &self.secrets)
            .field("client_keys", &self.client_keys)
            .finish()
    }
}

impl Config {
    /// Whether `host` only accepts connections from this machine.
    ///
    /// `localhost`, `127.0.0.0/8` and `::1` (also bracketed, also as an
    /// IPv4-mapped IPv6 address) are loopback. Everything else, including
    /// `0.0.0.0`, `::`, `*` and any other address or host name, is external.
    pub fn bind_is_loopback(&self) -> bool {
        let host = self.host.trim();
        if host.eq_ignore_ascii_case("localhost") {
            return true;
        }
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        match bare.parse::<IpAddr>() {
            Ok(IpAddr::V4(v4)) => v4.is_loopback(),
            Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.is_loopback(),
                None => v6.is_loopback(),
            },
            Err(_) => false,
        }
    }

    /// `host:port` suitable for binding or display; IPv6 literals are
    /// bracketed (`[::1]:4141`).
    pub fn listen_address(&self) -> String {
        let host = self.host.trim();
        if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{}", self.port)
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// The database backend selected by the scheme of `database_url`.
    ///
    /// `None` only when the URL has an unsupported scheme, which validation
    /// rejects, so it is always `Some` for a config from the loader.
    pub fn database_backend(&self) -> Option<DatabaseBackend> {
        DatabaseBackend::from_url(&self.database_url)
    }

    /// The directory of Rook's own files: `data_dir` when set, else the
    /// directory of the SQLite database file (`sqlite://rook.db` → the working
    /// directory `.`), else (PostgreSQL, `sqlite::memory:`) the working
    /// directory. Relative paths are relative to the working directory.
    pub fn effective_data_dir(&self) -> PathBuf {
        if let Some(dir) = &self.data_dir {
            return dir.clone();
        }
        let url = self.database_url.trim();
        let rest = match url.split_once(':') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("sqlite") => rest,
            _ => return PathBuf::from("."),
        };
        let rest = rest.trim_start_matches("//");
        let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
        if database.is_empty()
            || database == ":memory:"
            || params.split('&').any(|p| p == "mode=memory")
        {
            return PathBuf::from(".");
        }
        match std::path::Path::new(database).parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// The account with this id, if declared.
    pub fn account(&self, id: &str) -> Option<&AccountConfig> {
        self.accounts.iter().find(|a| a.id == id)
    }

    /// The pool with this id, if declared.
    pub fn pool(&self, id: &str) -> Option<&PoolConfig> {
        self.pools.iter().find(|p| p.id == id)
    }

    /// The route for this logical model, if declared.
    pub fn route(&self, model: &str) -> Option<&RouteConfig> {
        self.routes.iter().find(|r| r.model == model)
    }
}

/// Database backends Rook supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DatabaseBackend {
    /// SQLite (`sqlite:` URLs).
    Sqlite,
    /// PostgreSQL (`postgres://` or `postgresql://` URLs).
    Postgres,
}

impl DatabaseBackend {
    /// The backend for a database URL, by its scheme (case-insensitive);
    /// `None` for any other scheme or a URL without one.
    pub fn from_url(url: &str) -> Option<Self> {
        let (scheme, rest) = url.trim().split_once(':')?;
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" if !rest.is_empty() => Some(Self::Sqlite),
            "postgres" | "postgresql" if rest.starts_with("//") && rest.len() > 2 => {
                Some(Self::Postgres)
            }
            _ => None,
        }
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// `"text"` or `"json"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Json => "json",
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!(
                "unknown log format `{other}`, expected `text` or `json`"
            )),
        }
    }
}

/// `[inbound_auth]`: bearer-token authentication of `/v1/*` clients.
///
/// The token comes from `bearer_token_file` when set, else from the
/// environment variable `bearer_token_env` (default `ROOK_TOKEN`). Setting
/// both is invalid. Use [`InboundAuth::token_source`] and
/// [`InboundAuth::resolve_token`] rather than reading the fields.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InboundAuth {
    /// Whether clients must present `Authorization: Bearer <token>`.
    /// Default `false`.
    pub enabled: bool,
    /// Environment variable holding the token; `None` means the default
    /// name `ROOK_TOKEN` (unless `bearer_token_file` is set).
    pub bearer_token_env: Option<String>,
    /// File holding the token (surrounding whitespace is trimmed).
    pub bearer_token_file: Option<PathBuf>,
}

impl InboundAuth {
    /// Where the token is read from: the file if set, else the environment
    /// variable (`bearer_token_env`, default `ROOK_TOKEN`). Reported whether
    /// or not `enabled` is set.
    pub fn token_source(&self) -> SecretSource {
        token_source(
            self.bearer_token_env.as_deref(),
            self.bearer_token_file.as_ref(),
            DEFAULT_INBOUND_TOKEN_ENV,
        )
    }

    /// Reads the inbound bearer token: `Ok(None)` when inbound auth is
    /// disabled, else the token from [`InboundAuth::token_source`]. Fail the
    /// start on `Err`.
    pub fn resolve_token(&self) -> Result<Option<Secret>, SecretError> {
        if !self.enabled {
            return Ok(None);
        }
        self.token_source().resolve().map(Some)
    }
}

/// `[admin_auth]`: bearer-token authentication of the `/api/*` admin API.
///
/// The admin API is always authenticated. The token comes from
/// `bearer_token_file` when set, else from the environment variable
/// `bearer_token_env` (default `ROOK_ADMIN_TOKEN`). Setting both is invalid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminAuth {
    /// Environment variable holding the token; `None` means the default
    /// name `ROOK_ADMIN_TOKEN` (unless `bearer_token_file` is set).
    pub bearer_token_env: Option<String>,
    /// File holding the token (surrounding whitespace is trimmed).
    pub bearer_token_file: Option<PathBuf>,
    /// Whether `/api/health/live` and `/api/health/ready` are reachable
    /// without the admin token (for orchestrator probes). Default `true`.
    pub probes_without_auth: bool,
}

impl Default for AdminAuth {
    fn default() -> Self {
        Self {
            bearer_token_env: None,
            bearer_token_file: None,
            probes_without_auth: true,
        }
    }
}

/// Shortest admin token accepted at start (characters).
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;

/// File name of the admin token `rook-server` generates in the data directory
/// when no admin token is configured.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

impl AdminAuth {
    /// Whether an admin token source is configured (`bearer_token_env` or
    /// `bearer_token_file` set). Without one, `rook-server` uses the default
    /// variable `ROOK_ADMIN_TOKEN` when it is set, else the generated
    /// `<data_dir>/admin-token`.
    pub fn is_configured(&self) -> bool {
        self.bearer_token_env.is_some() || self.bearer_token_file.is_some()
    }

    /// Checks a resolved admin token's length; the problem names the key the
    /// token came from (`admin_auth.bearer_token_env` or `…_file`), never the value.
    pub fn check_token(&self, token: &Secret) -> Result<(), crate::Problem> {
        let len = token.expose().chars().count();
        if len >= MIN_ADMIN_TOKEN_LEN {
            return Ok(());
        }
        let key = match self.token_source() {
            SecretSource::File(_) => "admin_auth.bearer_token_file",
            SecretSource::Env(_) => "admin_auth.bearer_token_env",
        };
        Err(crate::Problem::new(
            key,
            format!(
                "the admin token from {} is {len} characters; at least {MIN_ADMIN_TOKEN_LEN} \
                 are required (e.g. `openssl rand -hex 32`)",
                self.token_source()
            ),
        ))
    }

    /// Where the token is read from: the file if set, else the environment
    /// variable (`bearer_token_env`, default `ROOK_ADMIN_TOKEN`).
    pub fn token_source(&self) -> SecretSource {
        token_source(
            self.bearer_token_env.as_deref(),
            self.bearer_token_file.as_ref(),
            DEFAULT_ADMIN_TOKEN_ENV,
        )
    }

    /// Reads the admin bearer token from [`AdminAuth::token_source`].
    pub fn resolve_token(&self) -> Result<Secret, SecretError> {
        self.token_source().resolve()
    }
}

fn token_source(env: Option<&str>, file: Option<&PathBuf>, default_env: &str) -> SecretSource {
    match (file, env) {
        (Some(path), _) => SecretSource::File(path.clone()),
        (None, Some(var)) => SecretSource::Env(var.to_owned()),
        (None, None) => SecretSource::Env(default_env.to_owned()),
    }
}

/// `[limits]`: limits on inbound requests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest accepted request body, checked before buffering.
    /// Default 8 MiB (`8388608`); range `1..=1073741824`.
    pub max_request_body_bytes: u64,
    /// Largest accepted request head: the request line and every header
    /// line with their line ends and the blank line that ends the head, as
    /// sent (431 above it). Default `65536`; range `8192..=16777216`.
    pub max_header_bytes: u64,
    /// Time a client gets to send the complete request head.
    /// Default `10000`; range `1..=600000`.
    pub header_read_timeout_ms: u64,
    /// Most header lines a request may have (431 above it).
    /// Default `100`; range `1..=10000`.
    pub max_headers: u32,
    /// Largest buffered (non-streamed) upstream answer Rook reads.
    /// Default 16 MiB (`16777216`); range `1024..=4294967296`.
    pub max_upstream_response_bytes: u64,
    /// Bytes of buffered upstream answers held at once across all requests.
    /// Default 256 MiB (`268435456`); range
    /// `max_upstream_response_bytes..=1099511627776`.
    pub buffered_response_budget_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_body_bytes: 8 * 1024 * 1024,
            max_header_bytes: 64 * 1024,
            header_read_timeout_ms: 10_000,
            max_headers: 100,
            max_upstream_response_bytes: 16 * 1024 * 1024,
            buffered_response_budget_bytes: 256 * 1024 * 1024,
        }
    }
}

/// `[upstream]`: the HTTP client used toward vendors.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Upstream {
    /// TCP + TLS connect timeout. Default `2000`; range `1..=600000`.
    pub connect_timeout_ms: u64,
    /// Time until the first response byte. Default `60000`; range `1..=3600000`.
    pub first_byte_timeout_ms: u64,
    /// Longest gap between streamed chunks. Default `60000`; range `1..=3600000`.
    pub stream_idle_timeout_ms: u64,
    /// How long an idle pooled connection is kept. Default `90`; range `1..=3600`.
    pub pool_idle_timeout_seconds: u64,
    /// Idle connections kept per upstream host; `0` disables reuse.
    /// Default `256`; range `0..=100000`.
    pub pool_max_idle_per_host: u32,
    /// Host names, IP addresses and CIDR blocks that account base URLs may
    /// reach even where the egress policy denies them (see
    /// [`crate::egress`]). Default empty.
    pub allowed_egress: Vec<String>,
    /// Also deny loopback, private and CGNAT addresses. Default `false`
    /// (local model servers are a main use case).
    pub deny_private_networks: bool,
}

impl Upstream {
    /// The egress policy of this section. Fails only on an `allowed_egress`
    /// entry that validation refuses too.
    pub fn egress_policy(
        &self,
    ) -> Result<crate::egress::EgressPolicy, crate::egress::AllowEntryError> {
        crate::egress::EgressPolicy::new(&self.allowed_egress, self.deny_private_networks)
    }
}

impl Default for Upstream {
    fn default() -> Self {
        Self {
            connect_timeout_ms: 2_000,
            first_byte_timeout_ms: 60_000,
            stream_idle_timeout_ms: 60_000,
            pool_idle_timeout_seconds: 90,
            pool_max_idle_per_host: 256,
            allowed_egress: Vec::new(),
            deny_private_networks: false,
        }
    }
}

/// `[upstream_resilience]`: retries, cooldowns, budgets and concurrency.
/// Ranges are listed per field; zero is never valid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamResilience {
    /// Attempts per buffered request, first included. Default `3`; `1..=10`.
    pub max_buffered_attempts: u32,
    /// Consecutive retryable failures before an account cools.
    /// Default `3`; `1..=100`.
    pub failure_threshold: u32,
    /// Base cooldown; grows exponentially (with jitter) on repeated failure.
    /// Default `10`; `1..=86400`.
    pub failure_cooldown_seconds: u64,
    /// Cooldown ceiling. Default `300`; `failure_cooldown_seconds..=86400`.
    pub failure_cooldown_max_seconds: u64,
    /// Base of full-jitter exponential backoff between attempts.
    /// Default `25`; `1..=60000`.
    pub retry_backoff_milliseconds: u64,
    /// Backoff ceiling. Default `2000`; `retry_backoff_milliseconds..=60000`.
    pub retry_backoff_max_milliseconds: u64,
    /// In-flight upstream requests across all accounts.
    /// Default `64`; `1..=100000`.
    pub max_concurrent_upstream_requests: u32,
    /// How long a request waits for a concurrency permit.
    /// Default `100`; `1..=60000`.
    pub permit_queue_timeout_milliseconds: u64,
    /// Retries allowed as a share of first attempts. Default `0.2`; `(0, 1]`.
    pub retry_budget_ratio: f64,
    /// Retries per second always allowed. Default `10`; `1..=100000`.
    pub retry_budget_min_per_second: u32,
    /// Overall deadline of one client request. Default `120`; `1..=3600`.
    pub request_deadline_seconds: u64,
    /// Clamp for upstream `Retry-After` hints. Default `300`; `1..=86400`.
    pub retry_after_max_seconds: u64,
    /// Cooldown after 401/403 or `insufficient_quota`.
    /// Default `3600`; `1..=604800`.
    pub auth_failure_cooldown_seconds: u64,
    /// Largest share of accounts that may be cooled at once (unless all fail).
    /// Default `0.5`; `(0, 1]`.
    pub max_cooled_share: f64,
    /// An account also cools when at least this share of its outcomes in
    /// the last `failure_rate_window_seconds` failed. Default `0.5`; `(0, 1]`.
    pub failure_rate_threshold: f64,
    /// Fewest outcomes in the window for the failure rate to count.
    /// Default `10`; `1..=100000`.
    pub failure_rate_min_requests: u32,
    /// Length of the failure-rate window. Default `30`; `1..=3600`.
    pub failure_rate_window_seconds: u64,
    /// When every candidate account of a request is cooling because of
    /// server-side failures, still try the one whose cooldown ends first
    /// (one attempt, counted as its probe). Default `true`.
    pub panic_mode: bool,
}

impl Default for UpstreamResilience {
    fn default() -> Self {
        Self {
            max_buffered_attempts: 3,
            failure_threshold: 3,
            failure_cooldown_seconds: 10,
            failure_cooldown_max_seconds: 300,
            retry_backoff_milliseconds: 25,
            retry_backoff_max_milliseconds: 2_000,
            max_concurrent_upstream_requests: 64,
            permit_queue_timeout_milliseconds: 100,
            retry_budget_ratio: 0.2,
            retry_budget_min_per_second: 10,
            request_deadline_seconds: 120,
            retry_after_max_seconds: 300,
            auth_failure_cooldown_seconds: 3_600,
            max_cooled_share: 0.5,
            failure_rate_threshold: 0.5,
            failure_rate_min_requests: 10,
            failure_rate_window_seconds: 30,
            panic_mode: true,
        }
    }
}

/// `[usage]`: usage event recording (bounded, batched writer).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Usage {
    /// Whether usage events are recorded. Default `true`.
    pub enabled: bool,
    /// Events buffered in memory before new ones are dropped.
    /// Default `10000`; `1..=10000000`.
    pub queue_capacity: u32,
    /// Events written per batch. Default `1024`; `1..=queue_capacity`.
    pub batch_size: u32,
    /// Longest wait before a partial batch is written.
    /// Default `500`; `1..=600000`.
    pub flush_interval_ms: u64,
    /// Days usage events are kept. Default `30`; `1..=36500`.
    pub retention_days: u32,
    /// Largest size of the usage journal (`<data_dir>/usage.journal*`): events
    /// not yet in the database, on disk so that a killed process loses none.
    /// When full, new events skip the journal (counted in
    /// `rook_usage_journal_dropped_total`) but are still queued. `0` turns the
    /// journal off. Default `67108864` (64 MiB); `0` or `65536..=17179869184`.
    pub journal_max_bytes: u64,
}

impl Default for Usage {
    fn default() -> Self {
        Self {
            enabled: true,
            queue_capacity: 10_000,
            batch_size: 1024,
            flush_interval_ms: 500,
            retention_days: 30,
            journal_max_bytes: 64 * 1024 * 1024,
        }
    }
}

/// `[idempotency]`: replay of buffered chat completions sent with an
/// `Idempotency-Key` header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Idempotency {
    /// Whether `Idempotency-Key` is honoured. Default `true`.
    pub enabled: bool,
    /// How long a stored response can be replayed. Default `86400` (24 h);
    /// `60..=604800`.
    pub replay_window_seconds: u64,
}

impl Default for Idempotency {
    fn default() -> Self {
        Self {
            enabled: true,
            replay_window_seconds: 86_400,
        }
    }
}

/// `[rate_limits]`: requests per minute (token buckets, per instance); `0` means
/// no limit. Per-account limits are `requests_per_minute` / `tokens_per_minute` on
/// each `[[accounts]]` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    /// Requests per minute per principal (inbound token). Default `0` (none);
    /// at most `1000000`.
    pub principal_requests_per_minute: u32,
    /// Requests per minute per route (logical model). Default `0` (none); at
    /// most `1000000`.
    pub route_requests_per_minute: u32,
    /// Requests per minute per client address (the TCP peer, or the address a
    /// trusted proxy forwarded; see `[transport] trusted_proxies`). Default `0`
    /// (none); at most `1000000`.
    pub client_address_requests_per_minute: u32,
}

/// `[transport]`: which Host names the server answers to and which proxies'
/// forwarding headers it believes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Transport {
    /// Host names (besides the bind address, loopback names and addresses, and
    /// any IP literal on an unspecified bind) a request's `Host` may carry;
    /// `*.example.com` matches any subdomain; `"*"` turns the Host check off.
    /// Anything else is answered 421. Default empty.
    pub allowed_hosts: Vec<String>,
    /// Proxies (CIDRs such as `10.0.0.0/8`, or single addresses) whose
    /// `X-Forwarded-For` / `Forwarded: for=` is believed for the client
    /// address. Default empty: the client address is the TCP peer.
    pub trusted_proxies: Vec<String>,
}

/// `[pricing."<model>"]`: price of one logical model, in US dollars per
/// million tokens. Both default to `0`; negative or non-finite is invalid.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelPrice {
    /// Price per million input (prompt) tokens.
    pub input_usd_per_million: f64,
    /// Price per million output (completion) tokens.
    pub output_usd_per_million: f64,
}

/// Upstream vendor of an account; decides the adapter and default base URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Vendor {
    /// OpenAI (`open_ai`).
    OpenAi,
    /// Anthropic (`anthropic`).
    Anthropic,
    /// Google Gemini (`google`): the native Gemini API by default, or its
    /// OpenAI-compatible endpoint with protocol `openai`.
    Google,
    /// OpenRouter (`open_router`).
    OpenRouter,
    /// DeepSeek (`deep_seek`).
    DeepSeek,
    /// Any OpenAI-compatible server (`custom`); `base_url` is required.
    Custom,
}

impl Vendor {
    /// Every vendor, in declaration order.
    pub const ALL: [Vendor; 6] = [
        Vendor::OpenAi,
        Vendor::Anthropic,
        Vendor::Google,
        Vendor::OpenRouter,
        Vendor::DeepSeek,
        Vendor::Custom,
    ];

    /// The snake_case name used in configuration (`"open_ai"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "open_ai",
            Self::Anthropic => "anthropic",
            Self::Google => "google",
            Self::OpenRouter => "open_router",
            Self::DeepSeek => "deep_seek",
            Self::Custom => "custom",
        }
    }

    /// The vendor for a configuration name (exact snake_case match).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == name)
    }

    /// The protocol an account of this vendor speaks when it names none:
    /// `anthropic` → [`Protocol::Anthropic`], `google` → [`Protocol::Gemini`],
    /// every other vendor (`custom` included) → [`Protocol::OpenAi`].
    pub fn default_protocol(self) -> Protocol {
        match self {
            Self::Anthropic => Protocol::Anthropic,
            Self::Google => Protocol::Gemini,
            Self::OpenAi | Self::OpenRouter | Self::DeepSeek | Self::Custom => Protocol::OpenAi,
        }
    }

    /// The default base URL (no trailing `/`) of an account of this vendor
    /// speaking `protocol`; `None` for [`Vendor::Custom`].
    ///
    /// Only Google serves its protocols under different bases: the native
    /// Gemini API (`gemini`, also used for `anthropic`, which Google does not
    /// offer) at `…/v1beta`, the OpenAI-compatible one at `…/v1beta/openai`.
    /// Every other vendor has one base for all protocols.
    pub fn default_base_url_for(self, protocol: Protocol) -> Option<&'static str> {
        match (self, protocol) {
            (Self::Google, Protocol::Gemini | Protocol::Anthropic) => {
                Some("https://generativelanguage.googleapis.com/v1beta")
            }
            _ => self.default_base_url(),
        }
    }

    /// The vendor's OpenAI-compatible API base URL (no trailing `/`), the
    /// default for protocol `openai`; `None` for [`Vendor::Custom`]. For the
    /// default of an account use [`Vendor::default_base_url_for`] or
    /// [`AccountConfig::effective_base_url`].
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            Self::OpenAi => Some("https://api.openai.com/v1"),
            Self::Anthropic => Some("https://api.anthropic.com/v1"),
            Self::Google => Some("https://generativelanguage.googleapis.com/v1beta/openai"),
            Self::OpenRouter => Some("https://openrouter.ai/api/v1"),
            Self::DeepSeek => Some("https://api.deepseek.com/v1"),
            Self::Custom => None,
        }
    }
}

impl fmt::Display for Vendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The wire protocol Rook speaks to an account's upstream.
///
/// Rook appends the protocol's path to the account's base URL:
/// `openai` → `/chat/completions`, `anthropic` → `/messages`,
/// `gemini` → `/models/{model}:generateContent` (and
/// `:streamGenerateContent` for streams).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// OpenAI Chat Completions (`openai`), also spoken by most
    /// OpenAI-compatible servers.
    OpenAi,
    /// Anthropic Messages (`anthropic`).
    Anthropic,
    /// Google Gemini `generateContent` (`gemini`).
    Gemini,
}

impl Protocol {
    /// Every protocol, in declaration order.
    pub const ALL: [Protocol; 3] = [Protocol::OpenAi, Protocol::Anthropic, Protocol::Gemini];

    /// The name used in configuration (`"openai"`, `"anthropic"`, `"gemini"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
        }
    }

    /// The protocol for a configuration name (exact match).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[[accounts]]`: one upstream account (a vendor endpoint plus a key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// Unique id, `[A-Za-z0-9_.-]{1,64}`. Required.
    pub id: String,
    /// Vendor. Required.
    pub vendor: Vendor,
    /// API base URL (`http`/`https`, no credentials, query or fragment).
    /// Optional when the vendor has a default; required for `custom`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Environment variable holding the API key. Not together with
    /// `api_key_file`; neither is fine for servers that need no key.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// File holding the API key (surrounding whitespace is trimmed).
    #[serde(default)]
    pub api_key_file: Option<PathBuf>,
    /// Whether the account takes traffic. Default `true`.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Relative share for the `weighted` strategy. Default `1`; `1..=1000`.
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Order for `priority`/`failover` strategies; lower goes first. Default `0`.
    #[serde(default)]
    pub priority: i32,
    /// Logical model name → upstream model name. Models not listed are sent
    /// under their logical name.
    #[serde(default)]
    pub models: BTreeMap<String, String>,
    /// Requests per minute this account may receive (token bucket, per instance).
    /// Absent: no limit; `1..=1000000`.
    #[serde(default)]
    pub requests_per_minute: Option<u32>,
    /// Tokens per minute this account may receive; each request reserves its
    /// estimate (prompt bytes / 4 + `max_tokens`, or 256) and is reconciled with
    /// the reported usage. Absent: no limit; `1..=1000000000`.
    #[serde(default)]
    pub tokens_per_minute: Option<u32>,
    /// Wire protocol toward the upstream. Absent: the vendor's default
    /// ([`Vendor::default_protocol`]); see [`AccountConfig::effective_protocol`].
    #[serde(default)]
    pub protocol: Option<Protocol>,
    /// `anthropic-version` header sent to `anthropic`-protocol upstreams.
    /// Absent: [`DEFAULT_ANTHROPIC_VERSION`](crate::entity::DEFAULT_ANTHROPIC_VERSION);
    /// non-empty printable ASCII, at most 64 characters.
    #[serde(default)]
    pub anthropic_version: Option<String>,
    /// `max_tokens` sent to `anthropic`-protocol upstreams when a request gives
    /// none (the Messages API requires it). Absent:
    /// [`DEFAULT_MAX_TOKENS`](crate::entity::DEFAULT_MAX_TOKENS); at least `1`.
    #[serde(default)]
    pub default_max_tokens: Option<u32>,
    /// Whether Rook asks `openai`-protocol upstreams for usage on streams
    /// (`stream_options.include_usage`). Default `true`; `false` for servers
    /// that reject the field.
    #[serde(default = "default_true")]
    pub stream_usage: bool,
}

fn default_true() -> bool {
    true
}

fn default_weight() -> u32 {
    1
}

impl AccountConfig {
    /// A new enabled account with defaults for every optional field.
    pub fn new(id: impl Into<String>, vendor: Vendor) -> Self {
        Self {
            id: id.into(),
            vendor,
            base_url: None,
            api_key_env: None,
            api_key_file: None,
            enabled: true,
            weight: 1,
            priority: 0,
            models: BTreeMap::new(),
            requests_per_minute: None,
            tokens_per_minute: None,
            protocol: None,
            anthropic_version: None,
            default_max_tokens: None,
            stream_usage: true,
        }
    }

    /// `protocol` if set, else the vendor's default
    /// ([`Vendor::default_protocol`]).
    pub fn effective_protocol(&self) -> Protocol {
        self.protocol
            .unwrap_or_else(|| self.vendor.default_protocol())
    }

    /// `base_url` if set, else the default of the vendor for the effective
    /// protocol ([`Vendor::default_base_url_for`]), without a trailing `/`.
    /// `None` only for a `custom` account without `base_url` (invalid).
    pub fn effective_base_url(&self) -> Option<String> {
        let raw = match &self.base_url {
            Some(url) => url.trim(),
            None => self
                .vendor
                .default_base_url_for(self.effective_protocol())?,
        };
        Some(raw.trim_end_matches('/').to_owned())
    }

    /// `anthropic_version` if set, else
    /// [`DEFAULT_ANTHROPIC_VERSION`](crate::entity::DEFAULT_ANTHROPIC_VERSION).
    pub fn effective_anthropic_version(&self) -> &str {
        self.anthropic_version
            .as_deref()
            .unwrap_or(crate::entity::DEFAULT_ANTHROPIC_VERSION)
    }

    /// `default_max_tokens` if set, else
    /// [`DEFAULT_MAX_TOKENS`](crate::entity::DEFAULT_MAX_TOKENS).
    pub fn effective_default_max_tokens(&self) -> u32 {
        self.default_max_tokens
            .unwrap_or(crate::entity::DEFAULT_MAX_TOKENS)
    }

    /// The upstream model name for a logical model (the `models` map entry,
    /// else the logical name unchanged).
    pub fn upstream_model<'a>(&'a self, logical: &'a str) -> &'a str {
        self.models.get(logical).map_or(logical, String::as_str)
    }

    /// Where the API key comes from; `None` when neither `api_key_env` nor
    /// `api_key_file` is set. When both are set (invalid) the file wins.
    pub fn api_key_source(&self) -> Option<SecretSource> {
        match (&self.api_key_file, &self.api_key_env) {
            (Some(path), _) => Some(SecretSource::File(path.clone())),
            (None, Some(var)) => Some(SecretSource::Env(var.clone())),
            (None, None) => None,
        }
    }

    /// Reads this account's API key: `Ok(None)` when neither `api_key_env`
    /// nor `api_key_file` is set (servers that need no key).
    pub fn resolve_api_key(&self) -> Result<Option<Secret>, SecretError> {
        self.api_key_source().map(|s| s.resolve()).transpose()
    }
}

/// Selection strategy of a pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Lowest `priority` first; ties in member order.
    Priority,
    /// Members in the listed order; the next only when earlier ones fail.
    Failover,
    /// Rotate across available members.
    RoundRobin,
    /// Random, proportional to `weight`.
    Weighted,
    /// Fewest in-flight requests first.
    LeastBusy,
}

impl Strategy {
    /// Every strategy, in declaration order.
    pub const ALL: [Strategy; 5] = [
        Strategy::Priority,
        Strategy::Failover,
        Strategy::RoundRobin,
        Strategy::Weighted,
        Strategy::LeastBusy,
    ];

    /// The snake_case name used in configuration (`"round_robin"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Priority => "priority",
            Self::Failover => "failover",
            Self::RoundRobin => "round_robin",
            Self::Weighted => "weighted",
            Self::LeastBusy => "least_busy",
        }
    }

    /// The strategy for a configuration name (exact snake_case match).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[[pools]]`: an ordered set of accounts with a selection strategy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    /// Unique id, `[A-Za-z0-9_.-]{1,64}`. Required.
    pub id: String,
    /// Selection strategy. Required.
    pub strategy: Strategy,
    /// Account ids, at least one, no duplicates. Required.
    pub members: Vec<String>,
    /// Pool tried when every member of this one is unavailable or failed.
    #[serde(default)]
    pub fallback_pool: Option<String>,
}

/// `[[routes]]`: maps a logical model name to a pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The logical model clients ask for; unique. Required.
    pub model: String,
    /// Pool serving it. Required.
    pub pool: String,
    /// Another route's `model` to fall back to when this one is exhausted.
    #[serde(default)]
    pub fallback_route: Option<String>,
}
