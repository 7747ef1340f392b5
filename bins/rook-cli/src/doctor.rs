//! `doctor`: ordered pre-flight checks with pass/warn/fail, guidance and a
//! stable JSON form for scripts.

mod cluster;
mod keys;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use http::HeaderValue;
use rook_gateway::rook_config::entity::DEFAULT_ANTHROPIC_VERSION;
use rook_gateway::rook_config::Protocol;
use rook_gateway::rook_config::{
    self, redact_database_url, Config, ConfigError, DatabaseBackend, Problem, SecretSource, Vendor,
    ADMIN_TOKEN_FILE,
};
use rook_gateway::rook_registry::seal::{self, Opened, Sealer};
use rook_gateway::rook_registry::{ConnectOptions, Registry, RegistryError, Source};
use rook_gateway::upstream::{build_get_with, endpoint_uri, Credentials};
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::common::load_options;
use crate::table::Table;
use crate::GlobalArgs;

const AFTER_HELP: &str = "\
Checks, in order: config, database, inbound_auth, admin_auth, bind,
resilience, secrets, accounts, and with --probe one probe:<account id> per enabled
account (GET {base_url}/models with the account's key; not billed).

Exit codes (for scripts):
  0  every check passed (warnings allowed unless --strict)
  1  --strict and at least one warning, no failure
  2  at least one check failed

Examples:
  rook-cli doctor --config /etc/rook/config.toml
  rook-cli doctor --json --strict | jq -r '.checks[] | select(.status != \"pass\") | .name'
  rook-cli doctor --probe";

/// `doctor` flags.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct DoctorArgs {
    /// Print `{"status","checks","advisories"}` as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also send a non-billed reachability request (GET /models) per
    /// enabled account, 5 s timeout each.
    #[arg(long)]
    pub probe: bool,
    /// Exit 1 when any check warns.
    #[arg(long)]
    pub strict: bool,
}

/// Outcome of one check; ordered so the worst is the greatest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    /// Fine.
    Pass,
    /// Works, but worth attention.
    Warn,
    /// The server will not start or is unsafe.
    Fail,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Check {
    /// Stable name (`config`, `database`, …, `probe:<id>`).
    pub name: String,
    /// pass, warn or fail.
    pub status: Status,
    /// One line.
    pub summary: String,
    /// What to do about it (`null` when nothing).
    pub guidance: Option<String>,
    /// Structured facts (never secret values).
    pub details: Map<String, Value>,
}

impl Check {
    fn new(name: impl Into<String>, status: Status, summary: impl Into<String>) -> Self {
        Check {
            name: name.into(),
            status,
            summary: summary.into(),
            guidance: None,
            details: Map::new(),
        }
    }
    fn guidance(mut self, g: impl Into<String>) -> Self {
        self.guidance = Some(g.into());
        self
    }
    fn detail(mut self, key: &str, v: impl Into<Value>) -> Self {
        self.details.insert(key.to_string(), v.into());
        self
    }
}

/// The whole report.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    /// Worst check status.
    pub status: Status,
    /// Checks in order.
    pub checks: Vec<Check>,
    /// Notes that are not checks (e.g. ignored `ROOK_*` variables).
    pub advisories: Vec<String>,
}

/// Runs the doctor, prints the report and returns the exit code.
pub(crate) async fn run(g: &GlobalArgs, args: &DoctorArgs) -> u8 {
    let report = diagnose(g, args).await;
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => crate::common::outln(&text),
            Err(e) => {
                eprintln!("error: cannot render the report: {e}");
                return 2;
            }
        }
    } else {
        crate::common::out(&render_human(&report));
    }
    exit_code(report.status, args.strict)
}

/// 0 pass (and warn without `--strict`), 1 warn with `--strict`, 2 fail.
pub(crate) fn exit_code(status: Status, strict: bool) -> u8 {
    match status {
        Status::Pass => 0,
        Status::Warn if strict => 1,
        Status::Warn => 0,
        Status::Fail => 2,
    }
}

async fn diagnose(g: &GlobalArgs, args: &DoctorArgs) -> Report {
    let mut checks = Vec::new();
    let mut advisories = Vec::new();
    let loaded = match rook_config::load(&load_options(g)) {
        Ok(l) => l,
        Err(e) => {
            checks.push(config_failure(&e, g.config.as_deref()));
            return finish(checks, advisories);
        }
    };
    let config = &loaded.config;
    // Advice about the file is the config check's warnings; the loader's
    // other warnings (ignored variables) are advisories. Each is shown once.
    let advice = config.advice();
    let advice_lines: Vec<String> = advice.iter().map(ToString::to_string).collect();
    advisories.extend(
        loaded
            .warnings
            .iter()
            .filter(|w| !advice_lines.contains(w))
            .cloned(),
    );
    let where_ = match &loaded.source {
        Some(p) => p.display().to_string(),
        None => "no config file: built-in defaults and environment".to_string(),
    };
    let config_check = if advice.is_empty() {
        Check::new("config", Status::Pass, format!("valid ({where_})"))
    } else {
        Check::new(
            "config",
            Status::Warn,
            format!(
                "valid with {} warning{} ({where_})",
                advice.len(),
                if advice.len() == 1 { "" } else { "s" }
            ),
        )
        .guidance("each warning listed names the change to make")
    };
    checks.push(
        config_check
            .detail("warnings", problem_list(&advice))
            .detail(
                "source",
                loaded
                    .source
                    .as_ref()
                    .map_or(Value::Null, |p| Value::String(p.display().to_string())),
            )
            .detail("accounts", config.accounts.len())
            .detail("pools", config.pools.len())
            .detail("routes", config.routes.len()),
    );
    let (db_check, registry) = check_database(&config.database_url).await;
    checks.push(db_check);
    checks.push(check_inbound_auth(config));
    checks.push(check_admin_auth(config));
    checks.push(check_bind(config));
    checks.push(check_resilience(config));
    let (secrets_check, sealer) = check_secrets(config);
    checks.push(secrets_check);
    let accounts =
        gather_accounts(config, registry.as_ref(), sealer.as_ref(), &mut advisories).await;
    let keys_check = keys::check_client_keys(config, registry.as_ref()).await;
    let instances_check = cluster::check_instances(registry.as_ref()).await;
    if let Some(r) = registry {
        r.close().await;
    }
    checks.push(check_accounts(&accounts));
    checks.push(keys_check);
    checks.extend(instances_check);
    if args.probe {
        checks.extend(probe_accounts(&accounts, &config.upstream).await);
    }
    finish(checks, advisories)
}

fn finish(checks: Vec<Check>, advisories: Vec<String>) -> Report {
    let status = checks
        .iter()
        .map(|c| c.status)
        .max()
        .unwrap_or(Status::Pass);
    Report {
        status,
        checks,
        advisories,
    }
}

/// Problems as `[{"key", "message"}]`.
fn problem_list(problems: &[Problem]) -> Value {
    Value::Array(
        problems
            .iter()
            .map(|p| json!({"key": p.key, "message": p.message}))
            .collect(),
    )
}

fn config_failure(e: &ConfigError, path: Option<&Path>) -> Check {
    let problems = problem_list(e.problems());
    let summary = match e {
        ConfigError::NotFound { .. } | ConfigError::Read { .. } => e.to_string(),
        ConfigError::Parse(p) => format!("cannot be parsed ({} problem(s))", p.len()),
        _ => format!("invalid ({} problem(s))", e.problems().len()),
    };
    // The problems themselves are listed once, in details.problems.
    let guidance = if e.problems().is_empty() {
        "pass an existing, readable file with --config (or set ROOK_CONFIG)"
    } else {
        "fix each problem listed (all of them are reported in one run)"
    };
    Check::new("config", Status::Fail, summary)
        .guidance(guidance)
        .detail(
            "source",
            path.map_or(Value::Null, |p| Value::String(p.display().to_string())),
        )
        .detail("problems", problems)
}

/// The file path of a SQLite URL (`None` for in-memory databases).
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.get("sqlite:".len()..)?.trim_start_matches("//");
    let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
    if database == ":memory:" || params.split('&').any(|p| p == "mode=memory") {
        return None;
    }
    Some(PathBuf::from(database))
}

/// Whether a file could be created in `dir` (or, when `dir` does not exist
/// yet, in its nearest existing ancestor). Creates and removes a probe file.
fn dir_writable(dir: &Path) -> Result<PathBuf, (PathBuf, String)> {
    let mut at = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir.to_path_buf()
    };
    while !at.exists() {
        match at.parent() {
            Some(p) if !p.as_os_str().is_empty() => at = p.to_path_buf(),
            _ => {
                at = PathBuf::from(".");
                break;
            }
        }
    }
    if !at.is_dir() {
        return Err((at, "not a directory".to_string()));
    }
    let probe = at.join(format!(".rook-doctor-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(at)
        }
        Err(e) => Err((at, e.kind().to_string())),
    }
}

async fn check_database(url: &str) -> (Check, Option<Registry>) {
    let shown = redact_database_url(url);
    let backend = DatabaseBackend::from_url(url).map_or("unknown", DatabaseBackend::as_str);
    let base = |status, summary: String| {
        Check::new("database", status, summary)
            .detail("url", shown.clone())
            .detail("backend", backend)
    };
    if backend == "sqlite" {
        match sqlite_path(url) {
            None => {
                return (
                    base(
                        Status::Warn,
                        "in-memory SQLite database: accounts and usage are lost on restart".into(),
                    )
                    .guidance("use sqlite://PATH or a postgres:// URL to keep data"),
                    None,
                )
            }
            Some(path) if !path.exists() => {
                let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
                return match dir_writable(&dir) {
                    Ok(_) => (
                        base(
                            Status::Warn,
                            format!(
                                "SQLite file {} does not exist yet; it will be created on first start",
                                path.display()
                            ),
                        )
                        .guidance("run `rook-cli db migrate` to create it now, or start the server")
                        .detail("exists", false),
                        None,
                    ),
                    Err((at, why)) => (
                        base(
                            Status::Fail,
                            format!(
                                "SQLite file {} does not exist and cannot be created: {} is not writable ({why})",
                                path.display(),
                                at.display()
                            ),
                        )
                        .guidance("point database_url at a writable location or fix the directory's permissions")
                        .detail("exists", false),
                        None,
                    ),
                };
            }
            Some(_) => {}
        }
    }
    if backend == "postgres" {
        if let Some((host, port)) = pg_host_port(url) {
            let tcp = tokio::net::TcpStream::connect((host.as_str(), port));
            match tokio::time::timeout(Duration::from_secs(5), tcp).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return (
                    base(Status::Fail, format!("unreachable: {host}:{port}: {e}")).guidance(
                        "check database_url, the network and that the database server is running",
                    ),
                    None,
                ),
                Err(_) => {
                    return (
                        base(
                            Status::Fail,
                            format!(
                                "unreachable: {host}:{port} did not accept a connection within 5 s"
                            ),
                        )
                        .guidance("check database_url, the network and the firewall"),
                        None,
                    )
                }
            }
        }
    }
    let connect = Registry::connect(
        url,
        ConnectOptions {
            create_if_missing: false,
            migrate: false,
            max_connections: 1,
            schema: None,
        },
    );
    let registry = match tokio::time::timeout(Duration::from_secs(15), connect).await {
        Err(_) => {
            return (
                base(Status::Fail, "database did not answer within 15 s".into()).guidance(
                    "check database_url, the network and that the database server is running",
                ),
                None,
            )
        }
        Ok(Err(e)) => return (database_error(base(Status::Fail, String::new()), &e), None),
        Ok(Ok(r)) => r,
    };
    let status = match registry.migration_status().await {
        Ok(s) => s,
        Err(e) => {
            let check = database_error(base(Status::Fail, String::new()), &e);
            registry.close().await;
            return (check, None);
        }
    };
    let check = if status.current {
        base(
            Status::Pass,
            format!(
                "reachable, migrations current ({} applied)",
                status.applied.len()
            ),
        )
    } else {
        base(
            Status::Warn,
            format!("reachable, {} migration(s) pending", status.pending.len()),
        )
        .guidance("run rook-cli db migrate or start the server")
    }
    .detail("applied", status.applied.clone())
    .detail("pending", status.pending.clone());
    let usable = status.applied.is_empty().then_some(()).is_none();
    (check, usable.then_some(registry))
}

/// Host and port of a `postgres://` URL with a single TCP host (`None` for
/// Unix sockets, several hosts or a `host=` parameter: then the connect
/// itself reports).
fn pg_host_port(url: &str) -> Option<(String, u16)> {
    let rest = url.split_once("://")?.1;
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if tail.contains("host=") {
        return None;
    }
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if hostport.is_empty() || hostport.contains(',') {
        return None;
    }
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        (h.to_string(), after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (hostport.to_string(), None),
        }
    };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => 5432,
    };
    if host.is_empty() || host.starts_with('%') {
        return None;
    }
    Some((host, port))
}

fn database_error(check: Check, e: &RegistryError) -> Check {
    let (summary, guidance) = match e {
        RegistryError::Unavailable { .. } => (
            format!("unreachable: {e}"),
            "check database_url, credentials, the network and that the database server is running",
        ),
        RegistryError::DatabaseMissing { .. } => (
            e.to_string(),
            "create the database (e.g. createdb) or run `rook-cli db migrate`",
        ),
        RegistryError::Migration { .. } => (
            e.to_string(),
            "the database was migrated by a different Rook version; use a matching rook-cli",
        ),
        _ => (e.to_string(), "check database_url"),
    };
    Check {
        status: Status::Fail,
        summary,
        guidance: Some(guidance.to_string()),
        ..check
    }
}

fn source_detail(s: &SecretSource) -> Value {
    match s {
        SecretSource::Env(v) => json!({"env": v}),
        SecretSource::File(p) => json!({"file": p.display().to_string()}),
    }
}

fn source_guidance(s: &SecretSource) -> String {
    match s {
        SecretSource::Env(v) => format!("set the environment variable {v} (non-empty)"),
        SecretSource::File(p) => format!("make {} readable and non-empty", p.display()),
    }
}

fn check_inbound_auth(config: &Config) -> Check {
    let ia = &config.inbound_auth;
    let source = ia.token_source();
    let c = |status, summary: String| {
        Check::new("inbound_auth", status, summary)
            .detail("enabled", ia.enabled)
            .detail("token_source", source_detail(&source))
    };
    if !ia.enabled {
        return if config.bind_is_loopback() {
            c(
                Status::Pass,
                "disabled; note: acceptable only because the bind is loopback (local clients only)"
                    .into(),
            )
        } else {
            c(
                Status::Fail,
                format!(
                    "disabled on the non-loopback bind {}: anyone who can reach it can spend the provider accounts",
                    config.host
                ),
            )
            .guidance(format!(
                "set [inbound_auth] enabled = true and provide the token ({source})"
            ))
        };
    }
    match ia.resolve_token() {
        Ok(_) => c(Status::Pass, format!("enabled; token from {source}")),
        Err(e) => c(
            Status::Fail,
            format!("enabled but the token is unavailable: {e}"),
        )
        .guidance(source_guidance(&source)),
    }
}

fn check_admin_auth(config: &Config) -> Check {
    let aa = &config.admin_auth;
    let source = aa.token_source();
    let c = |status, summary: String| {
        Check::new("admin_auth", status, summary)
            .detail("token_source", source_detail(&source))
            .detail("probes_without_auth", aa.probes_without_auth)
    };
    match aa.resolve_token() {
        Ok(token) => match aa.check_token(&token) {
            Ok(()) => c(Status::Pass, format!("token from {source}")),
            Err(p) => c(Status::Fail, format!("{p}: the server refuses to start"))
                .guidance("use a token of at least 16 characters (e.g. `openssl rand -hex 32`)"),
        },
        Err(e) if aa.is_configured() => c(
            Status::Fail,
            format!("configured admin token unavailable ({e}): the server refuses to start"),
        )
        .guidance(source_guidance(&source)),
        Err(_) if config.bind_is_loopback() => {
            let file = config.effective_data_dir().join(ADMIN_TOKEN_FILE);
            let state = if file.exists() {
                "exists"
            } else {
                "created at first start"
            };
            c(
                Status::Pass,
                format!(
                    "no admin token configured: rook-server generates one into {} ({state}, \
                     mode 0600); rook-cli reads it for --server calls to this machine",
                    file.display()
                ),
            )
            .detail("generated_token_file", file.display().to_string())
        }
        Err(e) => c(
            Status::Fail,
            format!("no admin token ({e}): the server refuses to start on a non-loopback bind"),
        )
        .guidance(source_guidance(&source)),
    }
}

fn check_bind(config: &Config) -> Check {
    let addr = config.listen_address();
    let loopback = config.bind_is_loopback();
    let base = |status, summary: String| {
        Check::new("bind", status, summary)
            .detail("address", addr.clone())
            .detail("loopback", loopback)
    };
    if loopback {
        return base(Status::Pass, format!("{addr} (loopback only)"));
    }
    let mut problems = Vec::new();
    let mut guidance = Vec::new();
    if !config.inbound_auth.enabled || config.inbound_auth.resolve_token().is_err() {
        problems.push("no inbound auth".to_string());
        guidance.push("enable [inbound_auth] with a token".to_string());
    }
    if config.admin_auth.resolve_token().is_err() {
        problems.push("no admin token (the server refuses to start)".to_string());
        guidance.push(source_guidance(&config.admin_auth.token_source()));
    }
    if problems.is_empty() {
        base(
            Status::Pass,
            format!("{addr} is external; inbound and admin auth are set"),
        )
    } else {
        base(
            Status::Fail,
            format!("{addr} is external with {}", problems.join(" and ")),
        )
        .guidance(format!("{}, or bind to 127.0.0.1", guidance.join("; ")))
    }
}

/// Attempts the OpenAI SDKs make per call (1 + 2 retries).
const SDK_ATTEMPTS: u64 = 3;

fn check_resilience(config: &Config) -> Check {
    let r = &config.upstream_resilience;
    let amplification = u64::from(r.max_buffered_attempts) * SDK_ATTEMPTS;
    let mut issues = Vec::new();
    let mut guidance = Vec::new();
    if amplification > 10 {
        issues.push(format!(
            "one client call can become {amplification} upstream requests ({} attempts x {SDK_ATTEMPTS} SDK tries)",
            r.max_buffered_attempts
        ));
        guidance.push("lower upstream_resilience.max_buffered_attempts to 3 or less".to_string());
    }
    if r.retry_budget_ratio > 0.5 {
        issues.push(format!(
            "retry_budget_ratio {} lets retries exceed half of the traffic",
            r.retry_budget_ratio
        ));
        guidance.push("keep retry_budget_ratio at or below 0.2 (Envoy, Linkerd)".to_string());
    }
    let backoff_total_ms = r
        .retry_backoff_max_milliseconds
        .saturating_mul(u64::from(r.max_buffered_attempts.saturating_sub(1)));
    let deadline_ms = r.request_deadline_seconds.saturating_mul(1000);
    if backoff_total_ms >= deadline_ms {
        issues.push(format!(
            "worst-case backoff ({backoff_total_ms} ms) uses the whole request deadline ({deadline_ms} ms)"
        ));
        guidance.push(
            "lower retry_backoff_max_milliseconds or raise request_deadline_seconds".to_string(),
        );
    }
    if r.permit_queue_timeout_milliseconds >= deadline_ms {
        issues.push(
            "permit_queue_timeout_milliseconds is not below the request deadline".to_string(),
        );
        guidance.push("keep permit waits short (the default is 100 ms)".to_string());
    }
    if u64::from(r.retry_budget_min_per_second) > u64::from(r.max_concurrent_upstream_requests) {
        issues.push(format!(
            "the retry floor ({} / s) exceeds the concurrency limit ({})",
            r.retry_budget_min_per_second, r.max_concurrent_upstream_requests
        ));
        guidance.push("lower retry_budget_min_per_second".to_string());
    }
    if r.failure_cooldown_max_seconds < r.retry_after_max_seconds.min(r.failure_cooldown_seconds) {
        issues.push("failure_cooldown_max_seconds is below the base cooldown".to_string());
    }
    let check = if issues.is_empty() {
        Check::new(
            "resilience",
            Status::Pass,
            format!(
                "at most {amplification} upstream requests per client call; retry budget {}",
                r.retry_budget_ratio
            ),
        )
    } else {
        Check::new("resilience", Status::Warn, issues.join("; ")).guidance(guidance.join("; "))
    };
    check
        .detail("max_buffered_attempts", r.max_buffered_attempts)
        .detail("worst_case_upstream_requests_per_call", amplification)
        .detail("retry_budget_ratio", r.retry_budget_ratio)
        .detail("retry_budget_min_per_second", r.retry_budget_min_per_second)
        .detail("failure_cooldown_seconds", r.failure_cooldown_seconds)
        .detail(
            "failure_cooldown_max_seconds",
            r.failure_cooldown_max_seconds,
        )
        .detail("request_deadline_seconds", r.request_deadline_seconds)
}

/// An account as the doctor sees it (config-declared or API-managed).
#[derive(Debug, Clone)]
struct Acct {
    id: String,
    vendor: String,
    protocol: Protocol,
    /// The account's `anthropic_version`, when it sets one.
    anthropic_version: Option<String>,
    base_url: Option<String>,
    source: &'static str,
    enabled: bool,
    key_source: Option<SecretSource>,
    inline_key: Option<String>,
    /// Why a stored inline key is a concern: plaintext (`Ok`) or not decryptable (`Err`).
    inline_note: Option<Result<(), String>>,
}

/// The `[secrets]` master key: configured and well-formed (then its sealer), or not.
fn check_secrets(config: &Config) -> (Check, Option<Sealer>) {
    let source = config.secrets.master_key_source();
    let c = |status, summary: String| {
        Check::new("secrets", status, summary).detail(
            "master_key_source",
            source.as_ref().map_or(Value::Null, source_detail),
        )
    };
    match config.secrets.resolve_master_key() {
        Ok(None) => (
            c(
                Status::Pass,
                "no master key: inline api keys are refused (accounts use api_key_env / api_key_file)"
                    .into(),
            ),
            None,
        ),
        Ok(Some(key)) => match Sealer::new(&key) {
            Ok(s) => (
                c(
                    Status::Pass,
                    format!("master key from {} (key id {})", source.as_ref().map_or_else(String::new, ToString::to_string), s.key_id()),
                )
                .detail("key_id", s.key_id()),
                Some(s),
            ),
            Err(e) => (c(Status::Fail, format!("master key: {e}")), None),
        },
        Err(e) => (
            c(Status::Fail, format!("{e}: rook-server refuses to start"))
                .guidance("give 32 random bytes as 64 hex digits or base64 (`openssl rand -hex 32`)"),
            None,
        ),
    }
}

async fn gather_accounts(
    config: &Config,
    registry: Option<&Registry>,
    sealer: Option<&Sealer>,
    advisories: &mut Vec<String>,
) -> Vec<Acct> {
    let mut out: Vec<Acct> = config
        .accounts
        .iter()
        .map(|a| Acct {
            id: a.id.clone(),
            vendor: a.vendor.as_str().to_string(),
            protocol: a.effective_protocol(),
            anthropic_version: a.anthropic_version.clone(),
            base_url: a.effective_base_url(),
            source: "config",
            enabled: a.enabled,
            key_source: a.api_key_source(),
            inline_key: None,
            inline_note: None,
        })
        .collect();
    if let Some(r) = registry {
        match r.list_accounts().await {
            Ok(list) => {
                for a in list.into_iter().filter(|a| a.source == Source::Api) {
                    if out.iter().any(|c| c.id == a.id) {
                        continue;
                    }
                    let key_source = match (&a.api_key_env, &a.api_key_file) {
                        (Some(v), _) => Some(SecretSource::Env(v.clone())),
                        (None, Some(p)) => Some(SecretSource::File(p.into())),
                        (None, None) => None,
                    };
                    let (inline_key, inline_note) = match &a.api_key {
                        None => (None, None),
                        Some(stored) => match seal::open_with(sealer, &a.id, stored) {
                            Ok(Opened::Sealed(k)) => (Some(k.expose().to_string()), None),
                            Ok(Opened::Legacy(k)) => (Some(k.expose().to_string()), Some(Ok(()))),
                            Err(e) => (None, Some(Err(e.to_string()))),
                        },
                    };
                    out.push(Acct {
                        id: a.id.clone(),
                        vendor: a.vendor.clone(),
                        protocol: Protocol::from_name(&a.protocol).unwrap_or(Protocol::OpenAi),
                        anthropic_version: a.anthropic_version.clone(),
                        base_url: Some(a.base_url.clone()),
                        source: "api",
                        enabled: a.enabled,
                        key_source,
                        inline_key,
                        inline_note,
                    });
                }
            }
            Err(e) => advisories.push(format!(
                "API-managed accounts were not checked: cannot list them ({e})"
            )),
        }
    }
    out
}

fn check_accounts(accounts: &[Acct]) -> Check {
    let mut failures = Vec::new();
    let mut warnings = Vec::new();
    let mut guidance = Vec::new();
    let mut rows = Vec::new();
    for a in accounts {
        let (key, state) = if !a.enabled {
            ("-".to_string(), "disabled".to_string())
        } else if let Some(note) = &a.inline_note {
            match note {
                Ok(()) => {
                    warnings.push(format!(
                        "account {}: its inline api key is stored in plaintext (written by an \
                         earlier version)",
                        a.id
                    ));
                    guidance.push(
                        "set [secrets] master_key_env (or master_key_file) and restart rook-server, \
                         or run `rook-cli secrets rotate-master --new-key-env VAR`, to encrypt it"
                            .to_string(),
                    );
                    ("inline (plaintext)".to_string(), "plaintext".to_string())
                }
                Err(e) => {
                    failures.push(format!(
                        "account {}: its stored api key cannot be decrypted: {e}",
                        a.id
                    ));
                    guidance.push(format!(
                        "account {}: configure the master key it was sealed with, or set its key again",
                        a.id
                    ));
                    ("inline (sealed)".to_string(), "undecryptable".to_string())
                }
            }
        } else if a.inline_key.is_some() {
            ("inline (sealed)".to_string(), "ok".to_string())
        } else {
            match &a.key_source {
                None if a.vendor == Vendor::Custom.as_str() => ("none".into(), "ok".into()),
                None => {
                    warnings.push(format!(
                        "account {} ({}) has no API key source",
                        a.id, a.vendor
                    ));
                    guidance.push(format!(
                        "set api_key_env or api_key_file on account {}",
                        a.id
                    ));
                    ("none".into(), "no_key_source".into())
                }
                Some(src) => match src.resolve() {
                    Ok(_) => (src.to_string(), "ok".into()),
                    Err(e) => {
                        failures.push(format!("account {}: {e}", a.id));
                        guidance.push(format!("account {}: {}", a.id, source_guidance(src)));
                        (src.to_string(), "missing".into())
                    }
                },
            }
        };
        rows.push(json!({
            "id": a.id,
            "vendor": a.vendor,
            "source": a.source,
            "enabled": a.enabled,
            "key_source": a.key_source.as_ref().map(source_detail),
            "key": key,
            "state": state,
        }));
    }
    let enabled = accounts.iter().filter(|a| a.enabled).count();
    let check = if !failures.is_empty() {
        Check::new("accounts", Status::Fail, failures.join("; ")).guidance(guidance.join("; "))
    } else if enabled == 0 {
        Check::new(
            "accounts",
            Status::Warn,
            "no enabled accounts: every chat request will fail",
        )
        .guidance("declare [[accounts]], [[pools]] and [[routes]] in the config file")
    } else if !warnings.is_empty() {
        Check::new("accounts", Status::Warn, warnings.join("; ")).guidance(guidance.join("; "))
    } else {
        Check::new(
            "accounts",
            Status::Pass,
            format!("{enabled} enabled account(s), every key available"),
        )
    };
    check.detail("accounts", Value::Array(rows))
}

const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

const EGRESS_GUIDANCE: &str =
    "point base_url elsewhere, or list the host (or its network) in [upstream] allowed_egress";

/// Probes the enabled accounts under the gateway's own egress policy: a base
/// URL the gateway would refuse is reported, not dialled.
async fn probe_accounts(
    accounts: &[Acct],
    upstream: &rook_gateway::rook_config::Upstream,
) -> Vec<Check> {
    // The config was validated, so the policy is too.
    let policy = std::sync::Arc::new(upstream.egress_policy().unwrap_or_default());
    let client = rook_gateway::upstream::build_client_with_egress(
        &rook_gateway::upstream::ClientSettings {
            connect_timeout: Duration::from_secs(5),
            pool_idle_timeout: Duration::from_secs(30),
            pool_max_idle_per_host: 4,
        },
        Some(policy.clone()),
    );
    let targets: Vec<&Acct> = accounts.iter().filter(|a| a.enabled).collect();
    eprintln!("probing {} account(s) ...", targets.len());
    let mut set = tokio::task::JoinSet::new();
    for (i, a) in targets.iter().enumerate() {
        let a = (*a).clone();
        let client = client.clone();
        let policy = policy.clone();
        set.spawn(async move { (i, probe_one(&client, &policy, &a).await) });
    }
    let mut results: Vec<(usize, Check)> = Vec::new();
    while let Some(done) = set.join_next().await {
        match done {
            Ok((i, check)) => {
                eprintln!(
                    "  {}: {} - {}",
                    check.name,
                    check.status.as_str(),
                    check.summary
                );
                results.push((i, check));
            }
            Err(e) => eprintln!("  a probe task failed: {e}"),
        }
    }
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, c)| c).collect()
}

async fn probe_one(
    client: &rook_gateway::upstream::UpstreamClient,
    policy: &rook_gateway::rook_config::egress::EgressPolicy,
    a: &Acct,
) -> Check {
    let name = format!("probe:{}", a.id);
    let Some(base_url) = &a.base_url else {
        return Check::new(name, Status::Fail, "no base_url").guidance("set base_url");
    };
    if let Err(e) = policy.check_url(base_url) {
        return Check::new(name, Status::Fail, e.to_string()).guidance(EGRESS_GUIDANCE);
    }
    let key = match (&a.inline_key, &a.key_source) {
        (Some(k), _) => Some(k.clone()),
        (None, Some(src)) => match src.resolve() {
            Ok(s) => Some(s.expose().to_string()),
            Err(e) => {
                return Check::new(name, Status::Warn, format!("not probed: {e}"))
                    .guidance("fix the key first (see the accounts check)")
            }
        },
        (None, None) => None,
    };
    let uri = match endpoint_uri(base_url, "/models") {
        Ok(u) => u,
        Err(e) => return Check::new(name, Status::Fail, format!("bad base_url: {e}")),
    };
    let url = uri.to_string();
    // Each protocol presents the key its own way (all three list models at
    // `{base_url}/models`).
    let version = HeaderValue::from_str(
        a.anthropic_version
            .as_deref()
            .unwrap_or(DEFAULT_ANTHROPIC_VERSION),
    )
    .unwrap_or(HeaderValue::from_static(DEFAULT_ANTHROPIC_VERSION));
    let credentials = match (a.protocol, key.as_deref()) {
        (Protocol::Anthropic, key) => Credentials::Anthropic {
            key,
            version: &version,
            force: true,
        },
        (_, None) => Credentials::None,
        (Protocol::Gemini, Some(k)) => Credentials::Google(k),
        (_, Some(k)) => Credentials::Bearer(k),
    };
    let req = match build_get_with(uri, credentials) {
        Ok(r) => r,
        Err(e) => return Check::new(name, Status::Fail, format!("cannot build the request: {e}")),
    };
    let started = Instant::now();
    let outcome = tokio::time::timeout(PROBE_TIMEOUT, client.request(req)).await;
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let base = |status, summary: String| {
        Check::new(name.clone(), status, summary)
            .detail("url", url.clone())
            .detail("latency_ms", latency_ms)
    };
    match outcome {
        Err(_) => base(
            Status::Fail,
            format!(
                "unreachable: no answer within {} s",
                PROBE_TIMEOUT.as_secs()
            ),
        )
        .guidance("check base_url, DNS, proxies and the firewall"),
        Ok(Err(e)) => match rook_gateway::upstream::denied_in(&e) {
            Some(d) => base(Status::Fail, d.to_string()).guidance(EGRESS_GUIDANCE),
            None => base(Status::Fail, format!("unreachable: {e}"))
                .guidance("check base_url, DNS, proxies and the firewall"),
        },
        Ok(Ok(resp)) => {
            let code = resp.status().as_u16();
            let c = if resp.status().is_success() {
                base(
                    Status::Pass,
                    format!("reachable, key accepted (HTTP {code}, {latency_ms} ms)"),
                )
            } else if code == 401 || code == 403 {
                base(Status::Fail, format!("key rejected (HTTP {code})"))
                    .guidance("replace the account's API key or check its permissions")
            } else {
                base(
                    Status::Warn,
                    format!("reachable but answered HTTP {code} to GET /models"),
                )
                .guidance("the vendor may not offer /models; check base_url")
            };
            c.detail("http_status", code)
        }
    }
}

fn render_human(report: &Report) -> String {
    let mut t = Table::new(&["CHECK", "STATUS", "SUMMARY"]);
    for c in &report.checks {
        t.row(vec![
            c.name.clone(),
            c.status.as_str().to_string(),
            c.summary.clone(),
        ]);
    }
    let mut out = t.render();
    let problems: Vec<&Check> = report
        .checks
        .iter()
        .filter(|c| c.status != Status::Pass)
        .collect();
    if !problems.is_empty() {
        out.push_str("\nguidance:\n");
        for c in problems {
            if let Some(g) = &c.guidance {
                out.push_str(&format!("  {} ({}): {g}\n", c.name, c.status.as_str()));
            }
            let listed = ["problems", "warnings"]
                .iter()
                .filter_map(|k| match c.details.get(*k) {
                    Some(Value::Array(list)) => Some(list),
                    _ => None,
                })
                .flatten();
            for p in listed {
                let key = p.get("key").and_then(Value::as_str).unwrap_or("");
                let msg = p.get("message").and_then(Value::as_str).unwrap_or("");
                out.push_str(&format!("    - {key}: {msg}\n"));
            }
        }
    }
    if !report.advisories.is_empty() {
        out.push_str("\nadvisories:\n");
        for a in &report.advisories {
            out.push_str(&format!("  {a}\n"));
        }
    }
    out.push_str(&format!("\noverall: {}\n", report.status.as_str()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_host_port() {
        assert_eq!(
            pg_host_port("postgres://u:p@db.example:6543/x?sslmode=require"),
            Some(("db.example".into(), 6543))
        );
        assert_eq!(
            pg_host_port("postgresql://localhost/x"),
            Some(("localhost".into(), 5432))
        );
        assert_eq!(
            pg_host_port("postgres://[::1]:5/x"),
            Some(("::1".into(), 5))
        );
        assert_eq!(pg_host_port("postgres:///x?host=/run/pg"), None);
    }

    #[test]
    fn exit_codes() {
        assert_eq!(exit_code(Status::Pass, true), 0);
        assert_eq!(exit_code(Status::Warn, false), 0);
        assert_eq!(exit_code(Status::Warn, true), 1);
        assert_eq!(exit_code(Status::Fail, false), 2);
    }

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_path("sqlite://rook.db"),
            Some(PathBuf::from("rook.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:///var/x.db?mode=rwc"),
            Some(PathBuf::from("/var/x.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
    }

    #[test]
    fn resilience_amplification_warns() {
        let mut config = Config::default();
        assert_eq!(check_resilience(&config).status, Status::Pass);
        config.upstream_resilience.max_buffered_attempts = 4;
        let c = check_resilience(&config);
        assert_eq!(c.status, Status::Warn);
        assert!(c.summary.contains("12 upstream requests"));
        let mut config = Config::default();
        config.upstream_resilience.retry_budget_ratio = 0.8;
        assert_eq!(check_resilience(&config).status, Status::Warn);
    }
}
