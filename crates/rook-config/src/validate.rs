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

    fn check_sections(&self, c: &mut Checker) {
        let ia = &self.inbound_auth;
        if let Some(var) = &ia.bearer_token_env {
            c.env_name("inbound_auth.bearer_token_env", var);
        }
        if let Some(path) = &ia.bearer_token_file {
            c.file_path("inbound_auth.bearer_token_file", path);
        }
        if ia.bearer_token_env.is_some() && ia.bearer_token_file.is_some() {
            c.push(
                "inbound_auth",
                "set only one of bearer_token_env and bearer_token_file",
            );
        }

        let aa = &self.admin_auth;
        if let Some(var) = &aa.bearer_token_env {
            c.env_name("admin_auth.bearer_token_env", var);
        }
        if let Some(path) = &aa.bearer_token_file {
            c.file_path("admin_auth.bearer_token_file", path);
        }
        if aa.bearer_token_env.is_some() && aa.bearer_token_file.is_some() {
            c.push(
                "admin_auth",
                "set only one of bearer_token_env and bearer_token_file",
            );
        }

        let sk = &self.secrets;
        if let Some(var) = &sk.master_key_env {
            c.env_name("secrets.master_key_env", var);
        }
        if let Some(path) = &sk.master_key_file {
            c.file_path("secrets.master_key_file", path);
        }
        if sk.master_key_env.is_some() && sk.master_key_file.is_some() {
            c.push(
                "secrets",
                "set only one of master_key_env and master_key_file",
            );
        }

        let l = &self.limits;
        c.range_u64(
            "limits.max_request_body_bytes",
            l.max_request_body_bytes,
            1,
            1 << 30,
        );
        c.range_u64(
            "limits.max_header_bytes",
            l.max_header_bytes,
            8_192,
            1 << 24,
        );
        c.range_u64(
            "limits.header_read_timeout_ms",
            l.header_read_timeout_ms,
            1,
            600_000,
        );
        c.range_u64("limits.max_headers", u64::from(l.max_headers), 1, 10_000);
        c.range_u64(
            "limits.max_upstream_response_bytes",
            l.max_upstream_response_bytes,
            1_024,
            1 << 32,
        );
        c.range_u64(
            "limits.buffered_response_budget_bytes",
            l.buffered_response_budget_bytes,
            l.max_upstream_response_bytes,
            1 << 40,
        );

        let u = &self.upstream;
        c.range_u64(
            "upstream.connect_timeout_ms",
            u.connect_timeout_ms,
            1,
            600_000,
        );
        c.range_u64(
            "upstream.first_byte_timeout_ms",
            u.first_byte_timeout_ms,
            1,
            3_600_000,
        );
        c.range_u64(
            "upstream.stream_idle_timeout_ms",
            u.stream_idle_timeout_ms,
            1,
            3_600_000,
        );
        c.range_u64(
            "upstream.pool_idle_timeout_seconds",
            u.pool_idle_timeout_seconds,
            1,
            3_600,
        );
        c.range_u64(
            "upstream.pool_max_idle_per_host",
            u64::from(u.pool_max_idle_per_host),
            0,
            100_000,
        );
        if let Err(e) = u.egress_policy() {
            c.push(format!("upstream.allowed_egress[{}]", e.index), e.message);
        }

        let r = &self.upstream_resilience;
        let k = |name: &str| format!("upstream_resilience.{name}");
        c.range_u64(
            &k("max_buffered_attempts"),
            u64::from(r.max_buffered_attempts),
            1,
            10,
        );
        c.range_u64(
            &k("failure_threshold"),
            u64::from(r.failure_threshold),
            1,
            100,
        );
        c.range_u64(
            &k("failure_cooldown_seconds"),
            r.failure_cooldown_seconds,
            1,
            86_400,
        );
        c.range_u64(
            &k("failure_cooldown_max_seconds"),
            r.failure_cooldown_max_seconds,
            1,
            86_400,
        );
        if r.failure_cooldown_max_seconds < r.failure_cooldown_seconds {
            c.push(
                k("failure_cooldown_max_seconds"),
                format!(
                    "must be at least failure_cooldown_seconds ({}), got {}",
                    r.failure_cooldown_seconds, r.failure_cooldown_max_seconds
                ),
            );
        }
        c.range_u64(
            &k("retry_backoff_milliseconds"),
            r.retry_backoff_milliseconds,
            1,
            60_000,
        );
        c.range_u64(
            &k("retry_backoff_max_milliseconds"),
            r.retry_backoff_max_milliseconds,
            1,
            60_000,
        );
        if r.retry_backoff_max_milliseconds < r.retry_backoff_milliseconds {
            c.push(
                k("retry_backoff_max_milliseconds"),
                format!(
                    "must be at least retry_backoff_milliseconds ({}), got {}",
                    r.retry_backoff_milliseconds, r.retry_backoff_max_milliseconds
                ),
            );
        }
        c.range_u64(
            &k("max_concurrent_upstream_requests"),
            u64::from(r.max_concurrent_upstream_requests),
            1,
            100_000,
        );
        c.range_u64(
            &k("permit_queue_timeout_milliseconds"),
            r.permit_queue_timeout_milliseconds,
            1,
            60_000,
        );
        c.unit_interval(&k("retry_budget_ratio"), r.retry_budget_ratio);
        c.range_u64(
            &k("retry_budget_min_per_second"),
            u64::from(r.retry_budget_min_per_second),
            1,
            100_000,
        );
        c.range_u64(
            &k("request_deadline_seconds"),
            r.request_deadline_seconds,
            1,
            3_600,
        );
        c.range_u64(
            &k("retry_after_max_seconds"),
            r.retry_after_max_seconds,
            1,
            86_400,
        );
        c.range_u64(
            &k("auth_failure_cooldown_seconds"),
            r.auth_failure_cooldown_seconds,
            1,
            604_800,
        );
        c.unit_interval(&k("max_cooled_share"), r.max_cooled_share);
        c.unit_interval(&k("failure_rate_threshold"), r.failure_rate_threshold);
        c.range_u64(
            &k("failure_rate_min_requests"),
            u64::from(r.failure_rate_min_requests),
            1,
            100_000,
        );
        c.range_u64(
            &k("failure_rate_window_seconds"),
            r.failure_rate_window_seconds,
            1,
            3_600,
        );

        let us = &self.usage;
        c.range_u64(
            "usage.queue_capacity",
            u64::from(us.queue_capacity),
            1,
            10_000_000,
        );
        c.range_u64(
            "usage.batch_size",
            u64::from(us.batch_size),
            1,
            u64::from(us.queue_capacity.max(1)),
        );
        c.range_u64("usage.flush_interval_ms", us.flush_interval_ms, 1, 600_000);
        c.range_u64(
            "usage.retention_days",
            u64::from(us.retention_days),
            1,
            36_500,
        );
        if us.journal_max_bytes != 0 {
            c.range_u64(
                "usage.journal_max_bytes",
                us.journal_max_bytes,
                65_536,
                16 * 1024 * 1024 * 1024,
            );
        }
    }

    fn check_limits(&self, c: &mut Checker) {
        c.range_u64(
            "idempotency.replay_window_seconds",
            self.idempotency.replay_window_seconds,
            60,
            604_800,
        );
        c.range_u64(
            "rate_limits.principal_requests_per_minute",
            u64::from(self.rate_limits.principal_requests_per_minute),
            0,
            1_000_000,
        );
        c.range_u64(
            "rate_limits.route_requests_per_minute",
            u64::from(self.rate_limits.route_requests_per_minute),
            0,
            1_000_000,
        );
        c.range_u64(
            "rate_limits.client_address_requests_per_minute",
            u64::from(self.rate_limits.client_address_requests_per_minute),
            0,
            1_000_000,
        );
    }

    fn check_transport(&self, c: &mut Checker) {
        if let Some(dir) = &self.data_dir {
            c.file_path("data_dir", dir);
        }
        for (i, host) in self.transport.allowed_hosts.iter().enumerate() {
            if let Err(message) = check_host_pattern(host) {
                c.push(format!("transport.allowed_hosts[{i}]"), message);
            }
        }
        for (i, cidr) in self.transport.trusted_proxies.iter().enumerate() {
            if let Err(message) = parse_cidr(cidr) {
                c.push(format!("transport.trusted_proxies[{i}]"), message);
            }
        }
    }

    fn check_pricing(&self, c: &mut Checker) {
        for (model, price) in &self.pricing {
            let key = format!("pricing.{model:?}");
            if model.trim().is_empty() {
                c.push(&key, "model name must not be empty");
            }
            for (field, value) in [
                ("input_usd_per_million", price.input_usd_per_million),
                ("output_usd_per_million", price.output_usd_per_million),
            ] {
                if !value.is_finite() || value < 0.0 {
                    c.push(
                        format!("{key}.{field}"),
                        format!("must be a finite number >= 0, got {value}"),
                    );
                }
            }
        }
    }

    fn check_accounts(&self, c: &mut Checker) {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        // A bad allowed_egress is reported with the upstream section.
        let egress = self.upstream.egress_policy();
        for (i, a) in self.accounts.iter().enumerate() {
            let key = account_key(i, a);
            let api_key_file = a.api_key_file.as_deref().map(Path::to_string_lossy);
            c.entity(
                &key,
                entity::check_account(&AccountRef {
                    id: &a.id,
                    vendor: a.vendor.as_str(),
                    base_url: a.base_url.as_deref(),
                    api_key_env: a.api_key_env.as_deref(),
                    api_key_file: api_key_file.as_deref(),
                    weight: a.weight,
                    models: &a.models,
                    protocol: a.protocol.map(|p| p.as_str()),
                    anthropic_version: a.anthropic_version.as_deref(),
                    default_max_tokens: a.default_max_tokens,
                }),
            );
            // A malformed URL is reported by check_account alone.
            if let (Ok(policy), Some(url)) = (&egress, a.effective_base_url()) {
                if entity::check_base_url(&url).is_ok() {
                    c.entity(&key, entity::check_egress(policy, &url).err());
                }
            }
            if let Some(first) = seen.insert(a.id.as_str(), i) {
                c.push(
                    format!("{key}.id"),
                    format!("duplicate account id, first used by accounts[{first}]"),
                );
                seen.insert(a.id.as_str(), first);
            }
            if a.priority < 0 {
                c.push(
                    format!("{key}.priority"),
                    format!(
                        "must be 0 or more (lower is tried first), got {}",
                        a.priority
                    ),
                );
            }
            if let Some(rpm) = a.requests_per_minute {
                c.range_u64(
                    &format!("{key}.requests_per_minute"),
                    u64::from(rpm),
                    1,
                    1_000_000,
                );
            }
            if let Some(tpm) = a.tokens_per_minute {
                c.range_u64(
                    &format!("{key}.tokens_per_minute"),
                    u64::from(tpm),
                    1,
                    1_000_000_000,
                );
            }
        }
    }

    fn check_pools(&self, c: &mut Checker) {
        let accounts: HashSet<&str> = self.accounts.iter().map(|a| a.id.as_str()).collect();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (i, p) in self.pools.iter().enumerate() {
            let key = pool_key(i, p);
            let pool = PoolRef {
                id: &p.id,
                strategy: p.strategy.as_str(),
                members: &p.members,
                fallback_pool: p.fallback_pool.as_deref(),
            };
            // A self-fallback is reported as a fallback cycle below.
            c.entity(&key, entity::check_pool_fields(&pool));
            c.entity(&key, entity::check_has_members(&p.members).err());
            if let Some(&first) = index.get(p.id.as_str()) {
                c.push(
                    format!("{key}.id"),
                    format!("duplicate pool id, first used by pools[{first}]"),
                );
            } else {
                index.insert(p.id.as_str(), i);
            }
        }
        for (i, p) in self.pools.iter().enumerate() {
            let pool = PoolRef {
                id: &p.id,
                strategy: p.strategy.as_str(),
                members: &p.members,
                fallback_pool: p.fallback_pool.as_deref(),
            };
            c.entity(
                &pool_key(i, p),
                entity::check_pool_references(
                    &pool,
                    |a| accounts.contains(a),
                    |q| index.contains_key(q),
                ),
            );
        }
        let entries: Vec<FallbackEntry<'_>> = self
            .pools
            .iter()
            .enumerate()
            .map(|(i, p)| FallbackEntry {
                key: pool_key(i, p),
                name: p.id.as_str(),
                fallback: p.fallback_pool.as_deref(),
            })
            .collect();
        check_cycles(c, &entries, |n| index.get(n).copied(), "fallback_pool");
    }

    fn check_routes(&self, c: &mut Checker) {
        let pools: HashSet<&str> = self.pools.iter().map(|p| p.id.as_str()).collect();
        let mut index: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, r) in self.routes.iter().enumerate() {
            let key = route_key(i, r);
            let route = RouteRef {
                model: &r.model,
                pool: &r.pool,
                fallback_route: r.fallback_route.as_deref(),
            };
            // A self-fallback is reported as a fallback cycle below.
            c.entity(&key, entity::check_route_fields(&route));
            if let Some(&first) = index.get(r.model.as_str()) {
                c.push(
                    format!("{key}.model"),
                    format!("duplicate route, first declared by routes[{first}]"),
                );
            } else {
                index.insert(r.model.as_str(), i);
            }
        }
        for (i, r) in self.routes.iter().enumerate() {
            let route = RouteRef {
                model: &r.model,
                pool: &r.pool,
                fallback_route: r.fallback_route.as_deref(),
            };
            c.entity(
                &route_key(i, r),
                entity::check_route_references(
                    &route,
                    |p| pools.contains(p),
                    |m| index.contains_key(m),
                ),
            );
        }
        let entries: Vec<FallbackEntry<'_>> = self
            .routes
            .iter()
            .enumerate()
            .map(|(i, r)| FallbackEntry {
                key: route_key(i, r),
                name: r.model.as_str(),
                fallback: r.fallback_route.as_deref(),
            })
            .collect();
        check_cycles(c, &entries, |n| index.get(n).copied(), "fallback_route");
    }
}

/// A pool or route as far as its fallback is concerned.
struct FallbackEntry<'a> {
    /// Where it is in the file (`pools[0] (id "p")`).
    key: String,
    /// Its id (pool) or model (route).
    name: &'a str,
    /// What it falls back to.
    fallback: Option<&'a str>,
}

/// Reports each fallback cycle once, at its first entry.
fn check_cycles(
    c: &mut Checker,
    entries: &[FallbackEntry<'_>],
    index: impl Fn(&str) -> Option<usize>,
    field: &str,
) {
    let next: Vec<Option<usize>> = entries
        .iter()
        .map(|e| e.fallback.and_then(&index))
        .collect();
    for cycle in fallback_cycles(&next) {
        let names: Vec<&str> = cycle
            .iter()
            .filter_map(|&i| entries.get(i).map(|e| e.name))
            .collect();
        let (Some(&start), Some(first)) = (cycle.first(), names.first()) else {
            continue;
        };
        let Some(entry) = entries.get(start) else {
            continue;
        };
        c.push(
            format!("{}.{field}", entry.key),
            format!("fallback cycle: {} -> {first}", names.join(" -> ")),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns() {
        for ok in [
            "*",
            "rook",
            "rook.default.svc.cluster.local",
            "*.example.com",
            "10.0.0.5",
            "::1",
            "[::1]",
            "my_host",
        ] {
            assert!(check_host_pattern(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "https://x.example",
            "x.example:443",
            "x.example/path",
            "*.",
            "a..b",
            "*x.example",
            "-a.example",
            "**",
        ] {
            assert!(check_host_pattern(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cidrs() {
        assert_eq!(parse_cidr("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(parse_cidr("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(parse_cidr("192.0.2.7").unwrap().to_string(), "192.0.2.7/32");
        assert_eq!(parse_cidr("::1").unwrap().to_string(), "::1/128");
        assert_eq!(parse_cidr("fd00::/8").unwrap().to_string(), "fd00::/8");
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert!(parse_cidr("proxy.local").is_err());
        assert!(parse_cidr("").is_err());
    }

    #[test]
    fn transport_problems_name_their_keys() {
        let mut config = Config::default();
        config.transport.allowed_hosts = vec!["ok.example".into(), "https://bad".into()];
        config.transport.trusted_proxies = vec!["10.0.0.0/8".into(), "nope".into()];
        config.rate_limits.client_address_requests_per_minute = 2_000_000;
        let keys: Vec<String> = config
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|p| p.key)
            .collect();
        assert_eq!(
            keys,
            [
                "rate_limits.client_address_requests_per_minute",
                "transport.allowed_hosts[1]",
                "transport.trusted_proxies[1]"
            ]
        );
    }

    #[test]
    fn admin_token_length() {
        let auth = crate::AdminAuth::default();
        assert!(auth
            .check_token(&crate::Secret::new("a".repeat(16)))
            .is_ok());
        let p = auth
            .check_token(&crate::Secret::new("fifteen-chars-x"))
            .unwrap_err();
        assert_eq!(p.key, "admin_auth.bearer_token_env");
        assert!(p.message.contains("15 characters"), "{p}");
        assert!(!p.message.contains("fifteen"), "{p}");
        let file = crate::AdminAuth {
            bearer_token_file: Some("/run/t".into()),
            ..Default::default()
        };
        assert_eq!(
            file.check_token(&crate::Secret::new("x")).unwrap_err().key,
            "admin_auth.bearer_token_file"
        );
    }

    #[test]
    fn data_dir_defaults_to_the_database_directory() {
        let dir = |url: &str| {
            Config {
                database_url: url.into(),
                ..Config::default()
            }
            .effective_data_dir()
        };
        assert_eq!(dir("sqlite://rook.db"), Path::new("."));
        assert_eq!(
            dir("sqlite:///var/lib/rook/rook.db?mode=rwc"),
            Path::new("/var/lib/rook")
        );
        assert_eq!(dir("sqlite:data/rook.db"), Path::new("data"));
        assert_eq!(dir("sqlite::memory:"), Path::new("."));
        assert_eq!(dir("postgres://u@h/db"), Path::new("."));
        let set = Config {
            data_dir: Some("/srv/rook".into()),
            ..Config::default()
        };
        assert_eq!(set.effective_data_dir(), Path::new("/srv/rook"));
    }

    #[test]
    fn database_url_rules() {
        assert_eq!(
            check_database_url("sqlite://rook.db"),
            Ok(DatabaseBackend::Sqlite)
        );
        assert_eq!(
            check_database_url("sqlite::memory:"),
            Ok(DatabaseBackend::Sqlite)
        );
        assert_eq!(
            check_database_url("postgresql://u@h/db"),
            Ok(DatabaseBackend::Postgres)
        );
        assert!(check_database_url("mysql://u:pw@h/db")
            .unwrap_err()
            .contains("`mysql`"));
        assert!(check_database_url("postgres:").is_err());
        assert!(check_database_url("rook.db").is_err());
        assert!(check_database_url(" ").is_err());
    }

    #[test]
    fn log_level_rules() {
        assert!(check_log_level("info").is_ok());
        assert!(check_log_level("rook=debug,hyper=warn").is_ok());
        assert!(check_log_level("rook_gateway").is_ok());
        assert!(check_log_level("rook[span{id=1}]=trace").is_ok());
        assert!(check_log_level("rook=verbose").is_err());
        assert!(check_log_level("info,,warn").is_err());
        assert!(check_log_level("").is_err());
    }
}
