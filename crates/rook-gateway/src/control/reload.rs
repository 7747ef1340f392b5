//! Configuration reload without a restart (SIGHUP, `POST /api/config/reload`).
//!
//! The file and the `ROOK_*` environment are read again with the same options as at
//! start-up and validated in full; an invalid result changes nothing and every problem
//! is logged and answered. A valid one is compared with the running configuration key
//! by key ([`plan`]): the live keys ([`LIVE_KEYS`]) are applied — the declared accounts,
//! pools and routes synced into the registry in one transaction and a new routing
//! snapshot swapped in atomically (requests and streams already running keep the
//! snapshot they started with), the declared client keys synced and the key store
//! reloaded, the request-rate limits, the inbound and buffered-answer limits
//! (`[limits]`), the retry, cooldown and concurrency settings
//! (`[upstream_resilience]`, see [`crate::proxy::tuning`]), the price table and the
//! log filter replaced —
//! and every other changed key is reported as needing a restart, keeping its running
//! value.
//!
//! Each reload counts in `rook_config_reloads_total{result}` and appends an audit event
//! (action `reload`, `entity_type` `config`).

use std::sync::{Arc, Weak};

use arc_swap::ArcSwap;
use rook_admin::{ConfigReloadReport, ReloadResult, ReloadTrigger};
use rook_config::{Config, LoadOptions};
use rook_registry::{AuditEvent, Source};
use serde_json::Value;

use crate::app::App;
use crate::control::catalog;

/// Top-level configuration keys applied by a reload; every other key needs a restart.
pub(crate) const LIVE_KEYS: &[&str] = &[
    "accounts",
    "pools",
    "routes",
    "client_keys",
    "rate_limits",
    "limits",
    "upstream_resilience",
    "log_level",
    "pricing",
];

/// What a reload re-reads, and the configuration it last applied.
pub(crate) struct Reloader {
    options: Option<LoadOptions>,
    live: ArcSwap<Config>,
    /// One reload at a time.
    lock: tokio::sync::Mutex<()>,
}

impl Reloader {
    /// A reloader re-reading `options` (`None`: no source, reloads are refused),
    /// starting from `running`.
    pub(crate) fn new(options: Option<LoadOptions>, running: &Config) -> Reloader {
        Reloader {
            options,
            live: ArcSwap::from_pointee(running.clone()),
            lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The configuration in force: the start-up one with the live keys of the last
    /// applied reload.
    pub(crate) fn current(&self) -> Arc<Config> {
        self.live.load_full()
    }
}

/// The changed top-level keys of `next` against `running`: (applied live, needing a
/// restart), each sorted.
pub(crate) fn plan(running: &Config, next: &Config) -> (Vec<String>, Vec<String>) {
    let (Ok(Value::Object(a)), Ok(Value::Object(b))) =
        (serde_json::to_value(running), serde_json::to_value(next))
    else {
        return (Vec::new(), Vec::new());
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    let changed = keys.into_iter().filter(|k| a.get(*k) != b.get(*k));
    let (live, restart): (Vec<&String>, Vec<&String>) =
        changed.partition(|k| LIVE_KEYS.contains(&k.as_str()));
    (
        live.into_iter().cloned().collect(),
        restart.into_iter().cloned().collect(),
    )
}

/// The configuration to run with after a reload: `running`, with the live keys
/// taken from `next`.
pub(crate) fn merge_live(running: &Config, next: &Config) -> Config {
    let mut merged = running.clone();
    merged.accounts = next.accounts.clone();
    merged.pools = next.pools.clone();
    merged.routes = next.routes.clone();
    merged.client_keys = next.client_keys.clone();
    merged.rate_limits = next.rate_limits.clone();
    merged.limits = next.limits.clone();
    merged.upstream_resilience = next.upstream_resilience.clone();
    merged.log_level = next.log_level.clone();
    merged.pricing = next.pricing.clone();
    merged
}

/// Reloads `app`'s configuration; `None` when it has no source to re-read.
pub(crate) async fn reload(app: &App, trigger: ReloadTrigger) -> Option<ConfigReloadReport> {
    let options = app.reloader.options.clone()?;
    let _one = app.reloader.lock.lock().await;
    let loaded = tokio::task::spawn_blocking(move || rook_config::load(&options)).await;
    let report = match loaded {
        Ok(Ok(loaded)) => {
            let source = loaded.source.as_ref().map(|p| p.display().to_string());
            for w in &loaded.warnings {
                tracing::warn!("{w}");
            }
            apply(app, &loaded.config, source).await
        }
        Ok(Err(e)) => {
            let mut r = ConfigReloadReport::new(ReloadResult::Rejected, None);
            r.problems = match e.problems() {
                [] => vec![e.to_string()],
                problems => problems.iter().map(ToString::to_string).collect(),
            };
            r
        }
        Err(e) => {
            let mut r = ConfigReloadReport::new(ReloadResult::Failed, None);
            r.problems.push(format!("reading the configuration: {e}"));
            r
        }
    };
    record(app, &trigger, &report).await;
    Some(report)
}

/// Validates `next` against the registry and applies its live keys.
async fn apply(app: &App, next: &Config, source: Option<String>) -> ConfigReloadReport {
    let running = app.reloader.current();
    let (live, restart) = plan(&running, next);
    let mut report = ConfigReloadReport::new(ReloadResult::Unchanged, source);
    report.restart_required = restart;
    if live.is_empty() {
        return report;
    }
    if let Err(problem) = rook_observability::check_log_filter(&next.log_level) {
        report.result = ReloadResult::Rejected;
        report.problems.push(format!("log_level: {problem}"));
        return report;
    }
    let merged = merge_live(&running, next);
    // The resilience settings as the libraries see them, before anything changes.
    if let Err(problem) = crate::proxy::tuning::check(&merged) {
        report.result = ReloadResult::Rejected;
        report
            .problems
            .push(format!("upstream_resilience: {problem}"));
        return report;
    }
    if let Err(problem) = check_catalog(app, &merged).await {
        report.result = ReloadResult::Rejected;
        report.problems.push(problem);
        return report;
    }
    // The declared client keys, their secrets resolved now (a missing one refuses
    // the reload before anything changes).
    let keys = match (declared_keys(&merged), declared_keys(&running)) {
        (Ok(next_keys), Ok(running_keys)) => (next_keys, running_keys),
        (Err(problem), _) | (_, Err(problem)) => {
            report.result = ReloadResult::Rejected;
            report.problems.push(problem);
            return report;
        }
    };
    if let Err(e) = sync_declared_all(app, &merged, &keys.0).await {
        report.result = ReloadResult::Failed;
        report.problems.push(e);
        return report;
    }
    app.reloader.live.store(Arc::new(merged));
    if let Err(e) = app.reload().await {
        // The dry run passed, so this is the environment (the database); go back.
        report.result = ReloadResult::Failed;
        report.problems.push(e.to_string());
        app.reloader.live.store(running.clone());
        if let Err(e) = sync_declared_all(app, &running, &keys.1).await {
            tracing::error!(error = %e, "could not restore the declared entries after a failed reload");
        }
        let _ = app.reload().await;
        return report;
    }
    if live.iter().any(|k| k == "rate_limits") {
        let limits =
            crate::app::rate_limits::RequestLimits::new(&next.rate_limits, &app.shared_limits);
        app.rate_limits.store(Arc::new(limits));
    }
    if live
        .iter()
        .any(|k| k == "upstream_resilience" || k == "limits")
    {
        // Checked above; a refusal here would be a library disagreeing with itself.
        // The merged configuration: `[upstream]` timeouts stay the running ones.
        let applied = app.reloader.current();
        if let Err(e) = app.proxy.retune(&applied) {
            tracing::error!(error = %e, "the resilience settings could not be applied");
        }
        app.limits.store(Arc::new(applied.limits.clone()));
    }
    if live.iter().any(|k| k == "pricing") {
        app.accounting.set_pricing(next.pricing.clone());
    }
    if live.iter().any(|k| k == "log_level") {
        match rook_observability::set_log_filter(&next.log_level) {
            Ok(rook_observability::LogFilterChange::RustLogWins) => {
                tracing::warn!("log_level changed, but RUST_LOG is set and takes precedence")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "log_level could not be applied"),
        }
    }
    report.result = ReloadResult::Applied;
    report.applied = live;
    report
}

/// The declared `[[client_keys]]` of `config` as registry records.
fn declared_keys(
    config: &Config,
) -> Result<Vec<rook_registry::client_key::ClientKeyRecord>, String> {
    crate::app::keys::boot::declared(config).map_err(|e| e.to_string())
}

/// Syncs `config`'s declared accounts, pools and routes, then its declared client
/// keys, into the registry.
async fn sync_declared_all(
    app: &App,
    config: &Config,
    keys: &[rook_registry::client_key::ClientKeyRecord],
) -> Result<(), String> {
    catalog::sync_declared(config, &app.registry)
        .await
        .map_err(|e| e.to_string())?;
    app.registry
        .sync_declared_client_keys(keys)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Builds a routing snapshot from what the registry would hold after syncing
/// `next`'s declared entries (the entries managed through the API kept), without
/// changing anything: the secrets, references and strategies are checked first.
async fn check_catalog(app: &App, next: &Config) -> Result<(), String> {
    let read = async {
        let accounts = app.registry.list_accounts().await?;
        let pools = app.registry.list_pools().await?;
        let routes = app.registry.list_routes().await?;
        Ok::<_, rook_registry::RegistryError>((accounts, pools, routes))
    };
    let (accounts, pools, routes) = read.await.map_err(|e| e.to_string())?;
    let (d_accounts, d_pools, d_routes) = catalog::declared_records(next);
    let mut accounts: Vec<_> = accounts
        .into_iter()
        .filter(|a| a.source != Source::Config)
        .chain(d_accounts)
        .collect();
    crate::control::keys::open_inline_keys(&app.registry, &mut accounts);
    let pools: Vec<_> = pools
        .into_iter()
        .filter(|p| p.source != Source::Config)
        .chain(d_pools)
        .collect();
    let routes: Vec<_> = routes
        .into_iter()
        .filter(|r| r.source != Source::Config)
        .chain(d_routes)
        .collect();
    catalog::build_snapshot(&accounts, &pools, &routes, &app.proxy.shared, next)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Logs, counts and audits a finished reload.
async fn record(app: &App, trigger: &ReloadTrigger, report: &ConfigReloadReport) {
    match report.result {
        ReloadResult::Applied | ReloadResult::Unchanged => tracing::info!(
            result = report.result.as_str(),
            actor = trigger.actor,
            applied = %report.applied.join(","),
            "configuration reloaded"
        ),
        ReloadResult::Rejected | ReloadResult::Failed => {
            for problem in &report.problems {
                tracing::error!(
                    actor = trigger.actor,
                    "configuration reload refused: {problem}"
                );
            }
            tracing::error!(
                result = report.result.as_str(),
                problems = report.problems.len(),
                "configuration not reloaded: the running configuration is unchanged"
            );
        }
    }
    for key in &report.restart_required {
        tracing::warn!(
            key = %key,
            "configuration key changed but needs a restart to take effect; the running value stays"
        );
    }
    metrics::counter!(
        rook_observability::names::CONFIG_RELOADS_TOTAL,
        "result" => report.result.as_str()
    )
    .increment(1);
    let event = AuditEvent {
        id: None,
        ts_ms: crate::now_ms(),
        request_id: trigger.request_id.clone(),
        actor: trigger.actor.to_string(),
        action: "reload".to_string(),
        entity_type: "config".to_string(),
        entity_id: report.source.clone().unwrap_or_default(),
        detail: serde_json::to_value(report).unwrap_or(Value::Null),
        client_addr: trigger.client_addr.clone(),
    };
    if let Err(e) = app.registry.insert_audit(&event).await {
        tracing::warn!(error = %e, "could not write the audit event of a configuration reload");
    }
}

/// Reloads the configuration on every SIGHUP while the app lives.
pub(crate) fn spawn_sighup(app: Weak<App>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP: reload through the admin API only");
                return;
            }
        };
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                let Some(app) = app.upgrade() else { break };
                tracing::info!("received SIGHUP: reloading the configuration");
                let trigger = ReloadTrigger {
                    actor: "signal",
                    request_id: None,
                    client_addr: None,
                };
                if reload(&app, trigger).await.is_none() {
                    tracing::warn!("SIGHUP ignored: no configuration source to re-read");
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = app;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(toml: &str) -> Config {
        match Config::from_toml_str(toml) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    const BASE: &str = r#"
        [[accounts]]
        id = "a"
        vendor = "custom"
        base_url = "http://127.0.0.1:9/v1"
        [[pools]]
        id = "p"
        strategy = "priority"
        members = ["a"]
        [[routes]]
        model = "m"
        pool = "p"
    "#;

    #[test]
    fn plan_sorts_changes_into_live_and_restart() {
        let base = config(BASE);
        let cases: &[(&str, &[&str], &[&str])] = &[
            ("", &[], &[]),
            ("log_level = \"debug\"\n", &["log_level"], &[]),
            ("port = 5151\n", &[], &["port"]),
            (
                "port = 5151\ndatabase_url = \"sqlite://other.db\"\nlog_level = \"warn\"\n",
                &["log_level"],
                &["database_url", "port"],
            ),
            (
                "[limits]\nmax_request_body_bytes = 1024\n",
                &["limits"],
                &[],
            ),
            (
                "[upstream_resilience]\nmax_buffered_attempts = 5\n[upstream]\nconnect_timeout_ms = 10\n",
                &["upstream_resilience"],
                &["upstream"],
            ),
            (
                "[telemetry]\notlp_endpoint = \"http://127.0.0.1:4318\"\n",
                &[],
                &["telemetry"],
            ),
        ];
        for (prefix, live, restart) in cases {
            let next = config(&format!("{prefix}{BASE}"));
            let (l, r) = plan(&base, &next);
            assert_eq!(l, live.to_vec(), "{prefix}");
            assert_eq!(r, restart.to_vec(), "{prefix}");
        }
        let more_routes = config(&format!(
            "{BASE}\n[[routes]]\nmodel = \"n\"\npool = \"p\"\n"
        ));
        assert_eq!(plan(&base, &more_routes).0, vec!["routes".to_string()]);
    }

    #[test]
    fn merge_keeps_restart_keys_and_takes_live_ones() {
        let base = config(BASE);
        let next = config(&format!(
            "port = 5151\nlog_level = \"debug\"\n{BASE}\n[[routes]]\nmodel = \"n\"\npool = \"p\"\n"
        ));
        let merged = merge_live(&base, &next);
        assert_eq!(merged.port, base.port);
        assert_eq!(merged.log_level, "debug");
        assert_eq!(merged.routes.len(), 2);
        // Once merged, only the restart key is still reported.
        let (live, restart) = plan(&merged, &next);
        assert!(live.is_empty());
        assert_eq!(restart, vec!["port".to_string()]);
    }
}
