//! Layered loading: defaults < TOML file < `ROOK_*` environment < CLI flags.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::path::PathBuf;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Profile, Provider};
use serde::Serialize;

use crate::model::{Config, LogFormat};
use crate::secret::SecretSource;
use crate::validate::Problem;

/// Prefix of configuration environment variables.
pub const ENV_PREFIX: &str = "ROOK_";
/// Separator between nesting levels in environment variable names.
pub const ENV_SEPARATOR: &str = "__";
/// `ROOK_*` variables used by the binaries that are not configuration keys;
/// they never produce an "ignored variable" warning.
pub const RESERVED_ENV_VARS: [&str; 2] = ["ROOK_CONFIG", "ROOK_TEST_CLOCK_OFFSET_SECONDS"];

pub(crate) const FLAGS_PROVIDER: &str = "command-line flags";

/// Command-line overrides, merged above every other layer. `None` leaves
/// the lower layers' value in place.
#[derive(Clone, Default, PartialEq, Eq, Serialize)]
pub struct Overrides {
    /// `--host`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// `--port`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// `--database-url` (may hold a password; `Debug` redacts it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// `--log-format`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    /// `--log-level`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
}

impl fmt::Debug for Overrides {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Overrides")
            .field("host", &self.host)
            .field("port", &self.port)
            .field(
                "database_url",
                &self
                    .database_url
                    .as_deref()
                    .map(crate::secret::redact_database_url),
            )
            .field("log_format", &self.log_format)
            .field("log_level", &self.log_level)
            .finish()
    }
}

impl Provider for Overrides {
    fn metadata(&self) -> Metadata {
        Metadata::named(FLAGS_PROVIDER)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Serialized::defaults(self).data()
    }
}

/// What to load.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// `--config PATH`: this file must exist. `None` searches
    /// `$XDG_CONFIG_HOME/rook/config.toml`, then `$HOME/.config/rook/config.toml`,
    /// and uses defaults + environment + flags when neither exists.
    pub config_path: Option<PathBuf>,
    /// Command-line overrides (highest precedence).
    pub overrides: Overrides,
}

/// A loaded, validated configuration.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Loaded {
    /// The effective configuration (validated).
    pub config: Config,
    /// The file that was read, if any.
    pub source: Option<PathBuf>,
    /// Operator warnings to log once logging is set up, e.g. ignored
    /// `ROOK_*` variables (by name, never value).
    pub warnings: Vec<String>,
}

/// Loading the configuration failed. Messages name keys, files and variables,
/// never secret values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `--config` named a file that does not exist.
    #[error("config file {} does not exist", path.display())]
    NotFound {
        /// The path given.
        path: PathBuf,
    },
    /// The config file exists but could not be read.
    #[error("cannot read config file {}: {reason}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        reason: String,
    },
    /// A layer could not be parsed or does not match the schema (TOML
    /// syntax, wrong type, unknown key, unknown enum value, missing field).
    #[error("{}", format_problems("configuration cannot be parsed", .0))]
    Parse(Vec<Problem>),
    /// The configuration parsed but breaks validation rules (all listed).
    #[error("{}", format_problems("invalid configuration", .0))]
    Invalid(Vec<Problem>),
}

impl ConfigError {
    /// The individual problems of a `Parse` or `Invalid` error; empty for
    /// the file errors.
    pub fn problems(&self) -> &[Problem] {
        match self {
            Self::Parse(p) | Self::Invalid(p) => p,
            Self::NotFound { .. } | Self::Read { .. } => &[],
        }
    }
}

fn format_problems(title: &str, problems: &[Problem]) -> String {
    match problems {
        [one] => format!("{title}: {one}"),
        many => {
            let mut out = format!("{title} ({} problems):", many.len());
            for p in many {
                out.push_str("\n  - ");
                out.push_str(&p.to_string());
            }
            out
        }
    }
}

/// The config file `load` would use without `--config`:
/// `$XDG_CONFIG_HOME/rook/config.toml` if it exists (only when the variable
/// is an absolute path), else `$HOME/.config/rook/config.toml` if it exists.
pub fn discover_config_path() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .map(|p| p.join("rook").join("config.toml"));
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|p| !p.as_os_str().is_empty())
        .map(|p| p.join(".config").join("rook").join("config.toml"));
    xdg.into_iter().chain(home).find(|p| p.is_file())
}

/// Loads, merges and validates the configuration.
///
/// Layers, lowest first: built-in defaults, the TOML file (see
/// [`LoadOptions::config_path`]), `ROOK_*` environment variables (known
/// scalar keys only; others are skipped with a warning), `opts.overrides`.
/// The result is always validated.
pub fn load(opts: &LoadOptions) -> Result<Loaded, ConfigError> {
    let source = match &opts.config_path {
        Some(path) => {
            if !path.exists() {
                return Err(ConfigError::NotFound { path: path.clone() });
            }
            Some(path.clone())
        }
        None => discover_config_path(),
    };

    let mut figment = Figment::new();
    if let Some(path) = &source {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        crate::parse::check_toml_syntax(&text, Some(path))?;
        figment = figment.merge(Toml::string(&text));
    }

    let known = known_env_keys();
    let env_known = known.clone();
    let env = Env::prefixed(ENV_PREFIX)
        .split(ENV_SEPARATOR)
        .filter(move |key| env_known.contains(&key.as_str().to_ascii_lowercase()));
    figment = figment.merge(env).merge(opts.overrides.clone());

    let config = crate::parse::extract_config(&figment, source.as_deref())?;

    let mut warnings = ignored_env_warnings(&config, &known);
    warnings.extend(config.advice().iter().map(ToString::to_string));
    match &source {
        Some(path) => tracing::debug!(path = %path.display(), "configuration loaded"),
        None => tracing::debug!("configuration loaded without a file"),
    }
    Ok(Loaded {
        config,
        source,
        warnings,
    })
}

impl Config {
    /// Parses one TOML document over the built-in defaults and validates it.
    /// Reads no environment variables and no files.
    ///
    /// ```
    /// let config = rook_config::Config::from_toml_str("port = 8080").unwrap();
    /// assert_eq!(config.port, 8080);
    /// assert_eq!(config.host, "127.0.0.1");
    /// ```
    pub fn from_toml_str(toml: &str) -> Result<Config, ConfigError> {
        crate::parse::check_toml_syntax(toml, None)?;
        crate::parse::extract_config(&Figment::from(Toml::string(toml)), None)
    }

    /// Every key settable through the environment, as dotted lowercase paths
    /// (`port`, `upstream_resilience.max_buffered_attempts`, …): the scalar
    /// and optional keys of the schema. Arrays (`accounts`, `pools`,
    /// `routes`) and the `pricing` table are file-only.
    pub fn env_keys() -> Vec<String> {
        known_env_keys().into_iter().collect()
    }
}

/// The environment variable name for a dotted key path:
/// `upstream_resilience.max_buffered_attempts` →
/// `ROOK_UPSTREAM_RESILIENCE__MAX_BUFFERED_ATTEMPTS`.
pub fn env_var_for_key(key: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        key.split('.')
            .collect::<Vec<_>>()
            .join(ENV_SEPARATOR)
            .to_ascii_uppercase()
    )
}

fn known_env_keys() -> BTreeSet<String> {
    fn walk(prefix: &str, value: &serde_json::Value, out: &mut BTreeSet<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&path, v, out);
                }
            }
            serde_json::Value::Array(_) => {}
            _ => {
                out.insert(prefix.to_owned());
            }
        }
    }
    let mut out = BTreeSet::new();
    if let Ok(value) = serde_json::to_value(Config::default()) {
        walk("", &value, &mut out);
    }
    out
}

/// Names of `ROOK_*` variables that were skipped, except those referenced as
/// secret sources by the config and the reserved ones.
fn ignored_env_warnings(config: &Config, known: &BTreeSet<String>) -> Vec<String> {
    let mut referenced: HashSet<String> = RESERVED_ENV_VARS.iter().map(|s| s.to_string()).collect();
    let mut add = |source: Option<SecretSource>| {
        if let Some(SecretSource::Env(var)) = source {
            referenced.insert(var);
        }
    };
    add(Some(config.inbound_auth.token_source()));
    add(Some(config.admin_auth.token_source()));
    add(config.secrets.master_key_source());
    for account in &config.accounts {
        add(account.api_key_source());
    }
    for key in &config.client_keys {
        add(key.token_source());
    }
    add(config.telemetry.auth_source());

    let mut names: Vec<String> = std::env::vars_os()
        .filter_map(|(name, _value)| name.into_string().ok())
        .filter(|name| {
            name.len() > ENV_PREFIX.len()
                && name.is_char_boundary(ENV_PREFIX.len())
                && name[..ENV_PREFIX.len()].eq_ignore_ascii_case(ENV_PREFIX)
        })
        .filter(|name| {
            let key = name[ENV_PREFIX.len()..]
                .trim()
                .replace(ENV_SEPARATOR, ".")
                .to_ascii_lowercase();
            !known.contains(&key) && !referenced.contains(name)
        })
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            format!(
                "ignored environment variable {name}: not a configuration key \
                 (configuration variables look like ROOK_PORT or ROOK_UPSTREAM__CONNECT_TIMEOUT_MS)"
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names() {
        assert_eq!(env_var_for_key("port"), "ROOK_PORT");
        assert_eq!(
            env_var_for_key("upstream_resilience.max_buffered_attempts"),
            "ROOK_UPSTREAM_RESILIENCE__MAX_BUFFERED_ATTEMPTS"
        );
    }

    #[test]
    fn known_keys_cover_options_but_not_arrays() {
        let keys = known_env_keys();
        assert!(keys.contains("port"));
        assert!(keys.contains("inbound_auth.bearer_token_file"));
        assert!(keys.contains("admin_auth.bearer_token_env"));
        assert!(keys.contains("telemetry.otlp_endpoint"));
        assert!(keys.contains("telemetry.sample_ratio"));
        assert!(keys.contains("upstream_resilience.max_cooled_share"));
        assert!(!keys.contains("accounts"));
        assert!(!keys.contains("pricing"));
        assert!(!keys.contains("token"));
    }
}
