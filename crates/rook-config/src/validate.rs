//! Semantic validation: every rule that serde alone cannot express.
//!
//! [`Config::validate`] collects *all* problems instead of stopping at the
//! first, so an operator fixes a file in one pass. Messages name the key and
//! never echo secret material (database URLs are described, not printed).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::Path;

use crate::entity::{
    self, fallback_cycles, is_env_var_name, AccountRef, EntityError, PoolRef, RouteRef,
};
use crate::model::{AccountConfig, Config, DatabaseBackend, PoolConfig, RouteConfig};

mod catalog;
mod sections;
#[cfg(test)]
mod tests;

/// One configuration problem: the key it concerns and what is wrong.
///
/// `Display` is `key: message`, e.g.
/// `accounts[1] (id "b").base_url: must use http or https`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Key path, e.g. `port`, `upstream_resilience.retry_budget_ratio`,
    /// `accounts[1] (id "b").base_url`, `pricing."gpt-4o".input_usd_per_million`.
    pub key: String,
    /// Operator-facing explanation (no secret values).
    pub message: String,
}

impl Problem {
    /// A problem for `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

/// Checks a database URL; returns the reason when invalid. The message
/// names at most the scheme, never the URL.
pub fn check_database_url(url: &str) -> Result<DatabaseBackend, String> {
    let url = url.trim();
    if url.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if let Some(backend) = DatabaseBackend::from_url(url) {
        return Ok(backend);
    }
    match url.split_once(':') {
        Some((scheme, _))
            if matches!(
                scheme.to_ascii_lowercase().as_str(),
                "sqlite" | "postgres" | "postgresql"
            ) =>
        {
            Err(format!(
                "a `{scheme}:` URL is incomplete; expected e.g. sqlite://rook.db or postgres://user@host/db"
            ))
        }
        Some((scheme, _))
            if !scheme.is_empty()
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')) =>
        {
            Err(format!(
                "unsupported scheme `{scheme}`; use sqlite: (e.g. sqlite://rook.db) or postgres:// (or postgresql://)"
            ))
        }
        _ => Err(
            "must be a URL with a sqlite: or postgres:// scheme (e.g. sqlite://rook.db)"
                .to_owned(),
        ),
    }
}

const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

fn check_log_level(directive: &str) -> Result<(), String> {
    if directive.trim().is_empty() {
        return Err("must not be empty (e.g. `info` or `rook=debug,hyper=warn`)".to_owned());
    }
    for part in directive.split(',') {
        let part = part.trim();
        if part.is_empty() {
            return Err("contains an empty directive (check the commas)".to_owned());
        }
        if let Some((_, level)) = part.rsplit_once('=') {
            if !level.contains([']', '}'])
                && !LEVELS.contains(&level.trim().to_ascii_lowercase().as_str())
            {
                return Err(format!(
                    "directive `{part}` has unknown level `{level}`; expected one of {}",
                    LEVELS.join(", ")
                ));
            }
        }
    }
    Ok(())
}

struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem::new(key, message));
    }

    /// Records entity problems under the entity's key (`accounts[0] (id "a")`).
    fn entity(&mut self, key: &str, errors: impl IntoIterator<Item = EntityError>) {
        for e in errors {
            match e.key_path() {
                path if path.is_empty() => self.push(key, e.message),
                path => self.push(format!("{key}.{path}"), e.message),
            }
        }
    }

    fn range_u64(&mut self, key: &str, value: u64, min: u64, max: u64) {
        if value < min || value > max {
            self.push(key, format!("must be in {min}..={max}, got {value}"));
        }
    }

    fn unit_interval(&mut self, key: &str, value: f64) {
        if !(value.is_finite() && value > 0.0 && value <= 1.0) {
            self.push(
                key,
                format!("must be greater than 0 and at most 1, got {value}"),
            );
        }
    }

    fn not_blank(&mut self, key: &str, value: &str, what: &str) -> bool {
        if value.trim().is_empty() {
            self.push(key, format!("must not be empty; {what}"));
            return false;
        }
        true
    }

    fn env_name(&mut self, key: &str, value: &str) {
        if !self.not_blank(key, value, "name an environment variable or remove the key") {
            return;
        }
        if !is_env_var_name(value) {
            // Not echoed: a key pasted here by mistake must not reach the logs.
            self.push(
                key,
                "is not an environment variable name (letters, digits and `_`, not starting \
                 with a digit, at most 255 characters); put the secret itself in that variable",
            );
        }
    }

    fn file_path(&mut self, key: &str, path: &Path) {
        if path.as_os_str().is_empty() {
            self.push(key, "must not be empty; give a file path or remove the key");
        }
    }
}

fn account_key(index: usize, account: &AccountConfig) -> String {
    format!("accounts[{index}] (id {:?})", account.id)
}

fn pool_key(index: usize, pool: &PoolConfig) -> String {
    format!("pools[{index}] (id {:?})", pool.id)
}

fn route_key(index: usize, route: &RouteConfig) -> String {
    format!("routes[{index}] (model {:?})", route.model)
}

impl Config {
    /// Checks every semantic rule and returns *all* problems found.
    ///
    /// The loader and [`Config::from_toml_str`] call this; call it yourself
    /// after changing a `Config` in code (e.g. a candidate config with a new
    /// account, pool or route). Pure: reads no environment or files.
    pub fn validate(&self) -> Result<(), Vec<Problem>> {
        let mut c = Checker {
            problems: Vec::new(),
        };
        self.check_top(&mut c);
        self.check_sections(&mut c);
        self.check_pricing(&mut c);
        self.check_limits(&mut c);
        self.check_transport(&mut c);
        self.check_accounts(&mut c);
        self.check_pools(&mut c);
        self.check_routes(&mut c);
        c.problems.extend(crate::client_keys::check(self));
        c.problems.extend(crate::telemetry::check(&self.telemetry));
        if c.problems.is_empty() {
            Ok(())
        } else {
            Err(c.problems)
        }
    }

    fn check_top(&self, c: &mut Checker) {
        if self.host.trim().is_empty() {
            c.push(
                "host",
                "must not be empty; use 127.0.0.1 (loopback) or 0.0.0.0 (all interfaces)",
            );
        } else if self.host.trim() != self.host {
            c.push("host", "must not have surrounding whitespace");
        }
        if self.port == 0 {
            c.push("port", "must be in 1..=65535, got 0");
        }
        if let Err(message) = check_database_url(&self.database_url) {
            c.push("database_url", message);
        }
        if let Err(message) = check_log_level(&self.log_level) {
            c.push("log_level", message);
        }
        c.range_u64(
            "shutdown_grace_seconds",
            self.shutdown_grace_seconds,
            0,
            3_600,
        );
    }
}

/// Checks one `[transport] allowed_hosts` entry: `*`, a host name, `*.` and
/// a host name (any subdomain), or an IP address (IPv6 with or without
/// brackets). No port, scheme or path.
pub fn check_host_pattern(pattern: &str) -> Result<(), String> {
    if pattern == "*" {
        return Ok(());
    }
    let bare = pattern
        .strip_prefix('[')
        .and_then(|p| p.strip_suffix(']'))
        .unwrap_or(pattern);
    if bare.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    let name = pattern.strip_prefix("*.").unwrap_or(pattern);
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !name.is_empty() && name.len() <= 253 && name.split('.').all(valid_label) {
        Ok(())
    } else {
        Err(format!(
            "`{pattern}` is not a host name, `*.` + a host name, an IP address or `*` \
             (no scheme, port or path)"
        ))
    }
}

/// Parses one `[transport] trusted_proxies` entry: a CIDR (`10.0.0.0/8`,
/// `fd00::/8`) or a single address (`192.0.2.7`, `::1`). Host bits set under
/// the prefix are accepted and ignored (`10.1.2.3/8` is `10.0.0.0/8`).
pub fn parse_cidr(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    if let Ok(net) = text.parse::<ipnet::IpNet>() {
        return Ok(net.trunc());
    }
    if let Ok(addr) = text.parse::<std::net::IpAddr>() {
        return Ok(ipnet::IpNet::from(addr));
    }
    Err(format!(
        "`{text}` is not a CIDR (e.g. 10.0.0.0/8, fd00::/8) or an IP address"
    ))
}
