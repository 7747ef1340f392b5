//! Health persistence: account health is restored from the registry at start-up
//! and written back whenever it changes (and at shutdown), so a restart keeps
//! cooled accounts cooled.
//!
//! SQLite (one instance): every account's health is written, at most once a second
//! while something changed, and at shutdown. PostgreSQL (any number of instances):
//! only the transitions this instance made are written, each as it happens, with a
//! compare-and-set, and shutdown writes only what is still queued, so it never
//! overwrites another instance's newer state (see [`super::health_sync`]).

use std::sync::Arc;
use std::time::Duration;

use rook_registry::{Backend, HealthRecord, HealthStatus, Registry};

use crate::now_ms;
use crate::proxy::health::{AccountHealth, Health, Status};
use crate::proxy::snapshot::Snapshot;

/// Restores account health from the registry; on PostgreSQL turns sharing on (as
/// `instance_id`) and merges the shared rows instead.
pub(crate) async fn restore_health(
    registry: &Registry,
    health: &Arc<Health>,
    snapshot: &Snapshot,
    instance_id: &str,
) {
    if super::health_sync::start(registry, health, instance_id).await {
        return;
    }
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

fn to_record(h: &AccountHealth, now: i64) -> HealthRecord {
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
        last_error_class: h.last_error_class.map(|c| c.as_str().to_string()),
        updated_at_ms: now,
    }
}

/// Writes every account's health to the registry (PostgreSQL: only this instance's
/// queued transitions); a failure is logged.
pub(crate) async fn persist_health(registry: &Registry, health: &Health) {
    if registry.backend() == Backend::Postgres {
        super::health_sync::flush(registry, health).await;
        return;
    }
    if let Err(e) = try_persist(registry, health).await {
        tracing::warn!(error = %e, "could not persist account health");
    }
}

/// Writes every account's health; on failure marks it dirty again (next round retries).
async fn try_persist(
    registry: &Registry,
    health: &Health,
) -> Result<(), rook_registry::RegistryError> {
    let now = now_ms();
    let records: Vec<HealthRecord> = health
        .snapshot()
        .iter()
        .map(|h| to_record(h, now))
        .collect();
    if records.is_empty() {
        return Ok(());
    }
    let result = registry.upsert_health(&records).await;
    if result.is_err() {
        // Try again next round.
        health.mark_dirty();
    }
    result
}

/// Persists health changes in the background (at most once a second) while
/// `health` is alive. While writes keep failing (the database is down, or its file
/// was removed) the failure is logged once, and again when writes succeed.
pub(crate) fn spawn_health_persister(registry: Registry, health: &Arc<Health>) {
    if registry.backend() == Backend::Postgres {
        // health_sync writes transitions as they happen.
        return;
    }
    let weak = Arc::downgrade(health);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tick.tick().await;
            let Some(health) = weak.upgrade() else { return };
            if !health.take_dirty() {
                continue;
            }
            match try_persist(&registry, &health).await {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!("account health is persisted again");
                }
                Ok(()) => {}
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "could not persist account health; retrying every second (logged again when it works)");
                }
                Err(e) => tracing::debug!(error = %e, "could not persist account health"),
            }
        }
    });
}
