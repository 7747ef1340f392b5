//! `doctor`: ordered pre-flight checks with pass/warn/fail, guidance and a
//! stable JSON form for scripts.

mod access;
mod accounts;
mod cluster;
mod database;
mod keys;
mod resilience;

use access::{check_admin_auth, check_bind, check_inbound_auth, check_secrets};
use accounts::{check_accounts, gather_accounts, probe_accounts};
use database::check_database;
use resilience::check_resilience;

use std::path::Path;

use clap::Args;
use rook_gateway::rook_config::{self, ConfigError, Problem};
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
    fn exit_codes() {
        assert_eq!(exit_code(Status::Pass, true), 0);
        assert_eq!(exit_code(Status::Warn, false), 0);
        assert_eq!(exit_code(Status::Warn, true), 1);
        assert_eq!(exit_code(Status::Fail, false), 2);
    }
}
