//! Typed, layered, validated configuration for the Rook LLM gateway.
//!
//! - [`Config`] is the whole schema (one TOML file; see
//!   `docs/configuration.md`). Every section denies unknown keys.
//! - [`load`] merges built-in defaults < TOML file < `ROOK_*` environment
//!   variables < command-line [`Overrides`], then validates. There is no way
//!   to get a [`Config`] out of the loader without validation.
//! - [`Config::validate`] checks every semantic rule and reports *all*
//!   [`Problem`]s at once, each naming its key.
//! - Secrets (API keys, bearer tokens) are never inline: the config names an
//!   environment variable or a file ([`SecretSource`]), resolved on demand
//!   into a [`Secret`] whose `Debug`/`Display` print `[redacted]`.
//! - [`entity`] holds the rules of accounts, pools and routes, shared by the
//!   config file, the admin API, `rook-cli` and the registry.
//! - [`egress`] is the egress policy of account base URLs (metadata and
//!   link-local addresses denied, private ranges on request), shared by the
//!   config file, the admin API, `rook-cli doctor --probe` and the gateway's
//!   upstream connector.
//! - Parsing reports *every* unknown key, wrong type and syntax error of a
//!   run together (with "did you mean" hints), not only the first.
//! - [`Config::advice`] warns about valid but suspicious setups (e.g. a pool
//!   mixing OpenRouter with vendors that name models differently).
//! - [`Config::to_redacted_json`] exports the effective configuration with
//!   every secret replaced by `[redacted]`.
//!
//! ```
//! use rook_config::{Config, Strategy, Vendor};
//!
//! let config = Config::from_toml_str(r#"
//!     port = 8080
//!
//!     [upstream_resilience]
//!     max_buffered_attempts = 2
//!
//!     [[accounts]]
//!     id = "openai-a"
//!     vendor = "open_ai"
//!     api_key_env = "OPENAI_KEY_A"
//!
//!     [[pools]]
//!     id = "gpt"
//!     strategy = "round_robin"
//!     members = ["openai-a"]
//!
//!     [[routes]]
//!     model = "gpt-4o"
//!     pool = "gpt"
//! "#)?;
//!
//! assert_eq!(config.port, 8080);
//! assert_eq!(config.upstream_resilience.max_buffered_attempts, 2);
//! assert_eq!(config.upstream_resilience.failure_cooldown_seconds, 10); // default
//! assert_eq!(config.accounts[0].vendor, Vendor::OpenAi);
//! assert_eq!(
//!     config.accounts[0].effective_base_url().as_deref(),
//!     Some("https://api.openai.com/v1"),
//! );
//! assert_eq!(config.pools[0].strategy, Strategy::RoundRobin);
//! assert!(config.bind_is_loopback());
//!
//! // Problems are collected and name their keys.
//! let err = Config::from_toml_str("port = 0\nhost = \"\"").unwrap_err();
//! assert_eq!(err.problems().len(), 2);
//! assert!(err.to_string().contains("port: must be in 1..=65535"));
//! # Ok::<(), rook_config::ConfigError>(())
//! ```

mod advice;
mod client_keys;
pub mod egress;
pub mod entity;
mod load;
mod master_key;
mod model;
mod parse;
mod redact;
mod secret;
pub mod suggest;
mod telemetry;
mod validate;

pub use client_keys::ClientKeyConfig;
pub use entity::{check_base_url, is_env_var_name, is_valid_id, MAX_ID_LEN};
pub use load::{
    discover_config_path, env_var_for_key, load, ConfigError, LoadOptions, Loaded, Overrides,
    ENV_PREFIX, ENV_SEPARATOR, RESERVED_ENV_VARS,
};
pub use master_key::{MasterKey, MasterKeyError, Secrets, MASTER_KEY_LEN};
pub use model::{
    AccountConfig, AdminAuth, Config, DatabaseBackend, Idempotency, InboundAuth, Limits, LogFormat,
    ModelPrice, PoolConfig, Protocol, RateLimits, RouteConfig, Strategy, Transport, Upstream,
    UpstreamResilience, Usage, Vendor, ADMIN_TOKEN_FILE, DEFAULT_ADMIN_TOKEN_ENV,
    DEFAULT_INBOUND_TOKEN_ENV, MIN_ADMIN_TOKEN_LEN,
};
pub use secret::{redact_database_url, Secret, SecretError, SecretSource, REDACTED};
pub use telemetry::{Telemetry, OTLP_TRACES_PATH};
pub use validate::{check_database_url, check_host_pattern, parse_cidr, Problem};
