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

use crate::secret::redact_database_url;

mod auth;
mod catalog;
mod sections;

pub use auth::{AdminAuth, InboundAuth, ADMIN_TOKEN_FILE, MIN_ADMIN_TOKEN_LEN};
pub use catalog::{AccountConfig, PoolConfig, Protocol, RouteConfig, Strategy, Vendor};
pub use sections::{
    Idempotency, Limits, ModelPrice, RateLimits, Transport, Upstream, UpstreamResilience, Usage,
};

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
    /// OpenTelemetry trace export (off unless `otlp_endpoint` is set).
    pub telemetry: crate::telemetry::Telemetry,
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
            telemetry: crate::telemetry::Telemetry::default(),
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
            .field("telemetry", &self.telemetry)
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
