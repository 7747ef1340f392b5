//! Translation between the configuration, the registry and the routing snapshot.
//!
//! At start-up the accounts, pools and routes declared in the config file are
//! synced into the registry (atomically: added, updated, removed); the routing
//! snapshot is then built from the registry, which also holds the entries managed
//! through the admin API. Account health is restored from the registry and written
//! back whenever it changes, so a restart keeps cooled accounts cooled.

use std::sync::Arc;
use std::time::Duration;

use rook_config::{Config, Secret, SecretSource, Vendor};
use rook_registry::{
    AccountRecord, HealthRecord, HealthStatus, PoolRecord, Registry, RouteRecord, Source,
};
use rook_routing::{PoolSpec, RouteSpec, Strategy};

use crate::accounts::{AccountEntry, SharedRegistry, Snapshot, SnapshotError};
use crate::app::{App, AppError};
use crate::health::{now_ms, Health, Status};

/// Maps a config priority (signed) onto the registry's unsigned one, keeping order
/// for the values operators use (negative priorities sort first as 0).
fn priority(p: i32) -> u32 {
    u32::try_from(p).unwrap_or(0)
}

/// The registry records of the config-declared entries.
pub fn declared_records(
    config: &Config,
) -> (Vec<AccountRecord>, Vec<PoolRecord>, Vec<RouteRecord>) {
    let accounts = config
        .accounts
        .iter()
        .map(|a| AccountRecord {
            id: a.id.clone(),
            vendor: a.vendor.as_str().to_string(),
            base_url: a.effective_base_url().unwrap_or_default(),
            api_key_env: a.api_key_env.clone(),
            api_key_file: a.api_key_file.as_ref().map(|p| p.display().to_string()),
            api_key: None,
            enabled: a.enabled,
            weight: a.weight,
            priority: priority(a.priority),
            models: a.models.clone(),
            source: Source::Config,
        })
        .collect();
    let pools = config
        .pools
        .iter()
        .map(|p| PoolRecord {
            id: p.id.clone(),
            strategy: p.strategy.as_str().to_string(),
            members: p.members.clone(),
            fallback_pool: p.fallback_pool.clone(),
            source: Source::Config,
        })
        .collect();
    let routes = config
        .routes
        .iter()
        .map(|r| RouteRecord {
            model: r.model.clone(),
            pool: r.pool.clone(),
            fallback_route: r.fallback_route.clone(),
            source: Source::Config,
        })
        .collect();
    (accounts, pools, routes)
}

/// Syncs the config-declared entries into the registry.
pub async fn sync_declared(config: &Config, registry: &Registry) -> Result<(), AppError> {
    let (accounts, pools, routes) = declared_records(config);
    let report = registry.sync_declared(&accounts, &pools, &routes).await?;
    tracing::debug!(
        added = report.added,
        updated = report.updated,
        removed = report.removed,
        "declared accounts, pools and routes synced into the registry"
    );
    Ok(())
}

/// Resolves an account record's credentials: an API-managed key, else its env var
/// or file.
pub fn resolve_key(rec: &AccountRecord) -> Result<Option<Secret>, AppError> {
    if let Some(k) = &rec.api_key {
        return Ok(Some(Secret::new(k.clone())));
    }
    let source = match (&rec.api_key_env, &rec.api_key_file) {
        (Some(var), _) => SecretSource::Env(var.clone()),
        (None, Some(path)) => SecretSource::File(path.into()),
        (None, None) => return Ok(None),
    };
    source.resolve().map(Some).map_err(|e| AppError::Secret {
        what: format!("account {:?} api key", rec.id),
        source: e,
    })
}

/// Builds the routing snapshot from the registry; per-account rate limits come
/// from the configuration (accounts managed through the API have none).
pub async fn load_snapshot(
    registry: &Registry,
    shared: &SharedRegistry,
    config: &Config,
) -> Result<Snapshot, AppError> {
    let accounts = registry.list_accounts().await?;
    let pools = registry.list_pools().await?;
    let routes = registry.list_routes().await?;
    build_snapshot(&accounts, &pools, &routes, shared, config)
}

/// Builds a routing snapshot from records.
pub fn build_snapshot(
    accounts: &[AccountRecord],
    pools: &[PoolRecord],
    routes: &[RouteRecord],
    shared: &SharedRegistry,
    config: &Config,
) -> Result<Snapshot, AppError> {
    let mut entries = Vec::with_capacity(accounts.len());
    for rec in accounts {
        let vendor = Vendor::from_name(&rec.vendor).unwrap_or(Vendor::Custom);
        let api_key = if rec.enabled { resolve_key(rec)? } else { None };
        let declared = config.account(&rec.id);
        entries.push(AccountEntry {
            id: rec.id.clone(),
            vendor,
            base_url: rec.base_url.clone(),
            api_key,
            enabled: rec.enabled,
            weight: rec.weight,
            priority: rec.priority,
            models: rec.models.clone(),
            requests_per_minute: declared.and_then(|a| a.requests_per_minute),
            tokens_per_minute: declared.and_then(|a| a.tokens_per_minute),
        });
    }
    let mut pool_specs = Vec::with_capacity(pools.len());
    for p in pools {
        let strategy: Strategy = p.strategy.parse().map_err(|_| {
            AppError::Snapshot(SnapshotError::Routing(
                rook_routing::RoutingError::UnknownPool {
                    route: String::new(),
                    pool: p.id.clone(),
                },
            ))
        })?;
        pool_specs.push(PoolSpec {
            id: p.id.clone(),
            strategy,
            members: p.members.clone(),
            fallback_pool: p.fallback_pool.clone(),
        });
    }
    let route_specs = routes
        .iter()
        .map(|r| RouteSpec {
            model: r.model.clone(),
            pool: r.pool.clone(),
            fallback_route: r.fallback_route.clone(),
        })
        .collect();
    Ok(Snapshot::build(entries, pool_specs, route_specs, shared)?)
}

/// Restores account health from the registry.
pub async fn restore_health(registry: &Registry, health: &Health, snapshot: &Snapshot) {
    let records = match registry.load_health().await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "could not load account health; starting with every account closed");
            return;
        }
    };
    for rec in records {
        let Some(acct) = snapshot.accounts.iter().find(|a| *a.id == *rec.account_id) else {
            continue;
        };
        health.restore(
            acct.id.clone(),
            rec.consecutive_failures,
            rec.times_opened,
            rec.cooldown_until_ms,
            rec.last_error_class.as_deref(),
        );
        if rec.cooldown_until_ms.is_some_and(|t| t > now_ms()) {
            tracing::info!(account = %acct.label, "account still cooling down from before the restart");
        }
    }
}

fn to_record(h: &crate::health::AccountHealth, now: i64) -> HealthRecord {
    HealthRecord {
        account_id: h.id.to_string(),
        status: match h.status {
            Status::Healthy => HealthStatus::Healthy,
            Status::Degraded => HealthStatus::Degraded,
            Status::Unhealthy => HealthStatus::Unhealthy,
            Status::Unknown => HealthStatus::Unknown,
        },
        consecutive_failures: h.consecutive_failures,
        times_opened: h.times_opened,
        cooldown_until_ms: h.cooldown_until_ms,
        last_error_class: h.last_error_class.map(str::to_string),
        updated_at_ms: now,
    }
}

/// Writes every account's health to the registry.
pub async fn persist_health(app: &App) {
    let now = now_ms();
    let records: Vec<HealthRecord> = app
        .health
        .snapshot()
        .iter()
        .map(|h| to_record(h, now))
        .collect();
    if records.is_empty() {
        return;
    }
    if let Err(e) = app.registry.upsert_health(&records).await {
        tracing::warn!(error = %e, "could not persist account health");
        // Try again next round.
        app.health.mark_dirty();
    }
}

/// Persists health changes in the background (at most once a second).
pub fn spawn_health_persister(app: &Arc<App>) {
    let weak = Arc::downgrade(app);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(app) = weak.upgrade() else { return };
            if app.health.take_dirty() {
                persist_health(&app).await;
            }
        }
    });
}
