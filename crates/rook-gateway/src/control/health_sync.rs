//! Account health shared by the instances on one PostgreSQL database.
//!
//! - **Writer**: the transitions this instance's breakers make (a cooldown opened or
//!   extended, a probe's success, an operator's reset) are written as they happen, one
//!   compare-and-set statement each (`Registry::write_health`); a write that loses
//!   (the row holds a later cooldown) merges the row instead. Nothing else is written:
//!   not the other accounts, not at shutdown beyond what is still queued.
//! - **Receiver**: each write sends a `health` notice on `rook_changes`; the change
//!   listener ([`super::cluster`]) hands them to [`received`], which reads the row and
//!   merges it (the later comeback wins; a closed row closes). On (re)connecting and at
//!   every safety check, [`resync`] merges every row.
//! - **Probe leaser**: [`LEAD`] before an account's cooldown ends, one conditional
//!   UPDATE (`Registry::lease_probe`) decides which instance probes it. The winner
//!   lets its breaker go half-open; the others keep the account out of rotation until
//!   the lease ends, or until the winner's outcome reaches them. The request path
//!   never waits for this: the decision is made ahead, in the background.
//! - **Panic probe leaser** ([`PgPanicLeaser`]): a panic-routed request (every account
//!   of its route cooling) asks for the account's probe lease while the cooldown still
//!   runs (`Registry::lease_panic_probe`), so one instance probes; it waits at most
//!   250 ms (`crate::proxy::panic_share`). Only on the panic path.
//!
//! When the database cannot be reached (a statement fails or takes longer than
//! `rook_registry::deadline::DATABASE_DEADLINE`), each instance keeps its own breakers
//! (per-instance probes, counted as `rook_health_probe_leases_total{result="fallback"}`)
//! and queued transitions are retried every [`RETRY_PAUSE`].

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use rook_observability::names;
use rook_registry::health::{HealthNotice, ProbeLease, SharedHealth, Written};
use rook_registry::{Backend, Registry};

use crate::now_ms;
use crate::proxy::health::{Health, Key};
use crate::proxy::health_share::{Merged, Sharing, LEAD, LEASE_MARGIN, PROBE_LEASE};
use crate::proxy::panic_share::{LeaseFuture, PanicLease, PanicLeaser, PanicShare};
use rook_resilience::CircuitState;

/// How often the leaser looks for cooldowns about to end.
const TICK: Duration = Duration::from_millis(100);
/// The pause before retrying writes while the database is unreachable.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// PostgreSQL: turns sharing on for `health` (as instance `instance_id`) and merges
/// the shared rows; SQLite: nothing (`false`).
pub(crate) async fn start(registry: &Registry, health: &Arc<Health>, instance_id: &str) -> bool {
    if registry.backend() != Backend::Postgres {
        return false;
    }
    let sharing = health.enable_sharing(Arc::new(Sharing::new(instance_id.to_string())));
    health.enable_panic_sharing(Arc::new(PanicShare::new(Arc::new(PgPanicLeaser {
        registry: registry.clone(),
        instance_id: instance_id.to_string(),
    }))));
    resync(registry, health).await;
    let weak = Arc::downgrade(health);
    tokio::spawn(writer(weak.clone(), registry.clone(), sharing));
    tokio::spawn(leaser(weak, registry.clone()));
    true
}

/// Merges one row; counts it when it changed something another instance wrote.
fn merge(health: &Health, id: &Key, row: &SharedHealth) {
    let Some(sharing) = health.sharing() else {
        return;
    };
    sharing.see(id, row.version);
    let merged = health.merge_shared(id, row);
    if merged != Merged::Unchanged {
        let kind = if merged == Merged::Closed {
            "closed"
        } else {
            "cooling"
        };
        if row.updated_by.as_deref() != Some(sharing.instance_id.as_str()) {
            metrics::counter!(names::HEALTH_TRANSITIONS_RECEIVED_TOTAL).increment(1);
        }
        tracing::info!(
            account = %id,
            from = row.updated_by.as_deref().unwrap_or("unknown"),
            kind,
            cooldown_until_ms = row.cooldown_until_ms,
            "account health from the shared registry applied"
        );
    }
}

/// Merges every shared row (at start, after the listener reconnects, at each safety
/// check). A failure is logged; the next check tries again.
pub(crate) async fn resync(registry: &Registry, health: &Health) {
    if health.sharing().is_none() {
        return;
    }
    match registry.bounded(registry.load_shared_health()).await {
        Ok(rows) => {
            let ids: HashMap<String, Key> = health
                .snapshot()
                .into_iter()
                .map(|h| (h.id.to_string(), h.id))
                .collect();
            for row in rows {
                if let Some(id) = ids.get(&row.account_id) {
                    merge(health, id, &row);
                }
            }
        }
        Err(e) => tracing::debug!(error = %e, "could not read shared account health"),
    }
}

/// Health notices from the listener: reads each newer row once and merges it.
pub(crate) async fn received(registry: &Registry, health: &Health, notices: &[HealthNotice]) {
    let Some(sharing) = health.sharing() else {
        return;
    };
    let mut newest: HashMap<&str, i64> = HashMap::new();
    for n in notices {
        let v = newest.entry(n.account_id.as_str()).or_insert(n.version);
        *v = (*v).max(n.version);
    }
    for h in health.snapshot() {
        let Some(version) = newest.get(&*h.id) else {
            continue;
        };
        if !sharing.see(&h.id, *version) {
            continue; // our own write, or already merged
        }
        match registry.bounded(registry.shared_health(&h.id)).await {
            Ok(Some(row)) => merge(health, &h.id, &row),
            Ok(None) => {}
            Err(e) => tracing::debug!(error = %e, "could not read a shared health row"),
        }
    }
}

/// Writes what is queued now (shutdown); what fails stays unwritten.
pub(crate) async fn flush(registry: &Registry, health: &Health) {
    let Some(sharing) = health.sharing() else {
        return;
    };
    for (id, t) in sharing.drain() {
        if let Err(e) = write_one(registry, health, sharing, &id, &t).await {
            tracing::warn!(error = %e, account = %id, "could not write an account health transition at shutdown");
        }
    }
}

async fn write_one(
    registry: &Registry,
    health: &Health,
    sharing: &Sharing,
    id: &Key,
    t: &crate::proxy::health_share::Transition,
) -> Result<(), rook_registry::RegistryError> {
    let w = t.write();
    let written = registry
        .bounded(registry.write_health(id, &sharing.instance_id, &w, now_ms()))
        .await?;
    match written {
        Written::Applied(v) => {
            sharing.see(id, v);
            tracing::debug!(account = %id, version = v, "account health transition shared");
        }
        Written::Superseded(row) => merge(health, id, &row),
        _ => {}
    }
    Ok(())
}

async fn writer(weak: Weak<Health>, registry: Registry, sharing: Arc<Sharing>) {
    let mut failing = false;
    loop {
        sharing.wake.notified().await;
        loop {
            let Some(health) = weak.upgrade() else { return };
            let batch = sharing.drain();
            if batch.is_empty() {
                break;
            }
            let mut failed = false;
            for (id, t) in batch {
                if failed {
                    sharing.retry(id, t);
                    continue;
                }
                if let Err(e) = write_one(&registry, &health, &sharing, &id, &t).await {
                    if !failing {
                        tracing::warn!(error = %e, "cannot share account health; each instance keeps its own until the database is back");
                    }
                    failing = true;
                    failed = true;
                    sharing.retry(id, t);
                }
            }
            drop(health);
            if failed {
                tokio::time::sleep(RETRY_PAUSE).await;
            } else if failing {
                failing = false;
                tracing::info!("account health is shared again");
            }
        }
    }
}

/// What the leaser decided for one account's cooldown.
#[derive(Debug, Clone, Copy)]
struct Decided {
    /// The cooldown end it was decided for.
    epoch: Instant,
    /// Won: ask again when the lease ends if no probe happened by then.
    recheck_at: Option<Instant>,
}

async fn leaser(weak: Weak<Health>, registry: Registry) {
    let mut decided: HashMap<Key, Decided> = HashMap::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        let Some(health) = weak.upgrade() else { return };
        let Some(sharing) = health.sharing().cloned() else {
            return;
        };
        let now = Instant::now();
        let mut due = Vec::new();
        for h in health.snapshot() {
            let Some(until) = h.open_until else {
                decided.remove(&h.id);
                continue;
            };
            let need = match decided.get(&h.id) {
                Some(d) if d.epoch == until => {
                    d.recheck_at.is_some_and(|t| now >= t)
                        && h.state == CircuitState::HalfOpen
                        && !h.probe_in_flight
                }
                _ => until.saturating_duration_since(now) <= LEAD,
            };
            if need && !sharing.is_pending(&h.id) {
                due.push((h.id, until));
            }
        }
        let mut down = false;
        for (id, epoch) in due {
            if down {
                // One failure per tick is enough to know: the rest decide alone.
                metrics::counter!(names::HEALTH_PROBE_LEASES_TOTAL, "result" => "fallback")
                    .increment(1);
                decided.insert(
                    id,
                    Decided {
                        epoch,
                        recheck_at: None,
                    },
                );
                continue;
            }
            let call = registry.lease_probe(
                &id,
                &sharing.instance_id,
                now_ms(),
                ms(LEAD),
                ms(PROBE_LEASE),
            );
            let (result, recheck_at) = match registry.bounded(call).await {
                Ok(ProbeLease::Won { until_ms }) => {
                    let left = u64::try_from(until_ms.saturating_sub(now_ms())).unwrap_or(0);
                    tracing::debug!(account = %id, "probe lease won");
                    ("won", Some(Instant::now() + Duration::from_millis(left)))
                }
                Ok(ProbeLease::Lost(row)) => {
                    lost(&health, &id, &row);
                    ("lost", None)
                }
                Ok(_) => ("fallback", None),
                Err(e) => {
                    down = true;
                    if !failing {
                        tracing::warn!(error = %e, "cannot lease half-open probes from the database; each instance probes on its own until it is back");
                    }
                    failing = true;
                    ("fallback", None)
                }
            };
            if result != "fallback" && failing {
                failing = false;
                tracing::info!("half-open probes are leased from the database again");
            }
            metrics::counter!(names::HEALTH_PROBE_LEASES_TOTAL, "result" => result).increment(1);
            decided.insert(id, Decided { epoch, recheck_at });
        }
    }
}

/// Another instance won (or the row holds newer state): merge the row, and keep the
/// account out of rotation while the winner probes.
fn lost(health: &Health, id: &Key, row: &SharedHealth) {
    merge(health, id, row);
    let Some(until) = row.cooldown_until_ms else {
        return;
    };
    let now = now_ms();
    if until > now.saturating_add(ms(LEAD)) {
        return; // a later cooldown: merged above, decided again before it ends
    }
    // The winner's lease may not show in the row (it committed after this
    // statement's snapshot): assume a full lease from now.
    let lease_end = row
        .probe_until_ms
        .filter(|t| *t > now)
        .unwrap_or(now.saturating_add(ms(PROBE_LEASE)));
    let left = u64::try_from(lease_end.saturating_sub(now)).unwrap_or(0);
    health.hold_until(
        id,
        Instant::now() + Duration::from_millis(left) + LEASE_MARGIN,
    );
}

/// Panic probe leases from PostgreSQL (see `crate::proxy::panic_share`).
#[derive(Debug)]
struct PgPanicLeaser {
    registry: Registry,
    instance_id: String,
}

impl PanicLeaser for PgPanicLeaser {
    fn lease<'a>(&'a self, account: &'a str) -> LeaseFuture<'a> {
        Box::pin(async move {
            let now = now_ms();
            let call =
                self.registry
                    .lease_panic_probe(account, &self.instance_id, now, ms(PROBE_LEASE));
            match call.await {
                Ok(ProbeLease::Won { .. }) => Ok(PanicLease::Won),
                // The winner's lease may not show in the row (it committed after this
                // statement's snapshot): assume a full lease from now.
                Ok(ProbeLease::Lost(row)) => Ok(PanicLease::Lost {
                    until_ms: row
                        .probe_until_ms
                        .filter(|t| *t > now)
                        .unwrap_or(now.saturating_add(ms(PROBE_LEASE))),
                }),
                Ok(_) => Ok(PanicLease::Missing),
                Err(e) => Err(e.to_string()),
            }
        })
    }
}
