//! Client key budgets shared by several instances on one PostgreSQL database
//! (issue 14).
//!
//! The request path asks [`SharedBudgets::admit`], which only touches memory
//! (`rook_resilience::spend_lease::SpendLeases`) while this instance holds some of
//! the key's budget; a background task leases slices of each budget from the
//! registry ([`rook_registry::Registry::lease_budget`], one statement) ahead of need.
//! A request's cost is charged when it is recorded ([`SharedBudgets::charge`]), so
//! an instance can spend more than it holds by the cost of its requests in flight
//! when its share runs out; the next grants pay for that first.
//!
//! A request that finds nothing in hand while the period's budget is not granted out
//! waits for the lease on its way (about one statement's round trip; at most
//! [`PENDING_MAX_WAIT`], then it is decided on the instance's own count). A key whose
//! budget is granted out and spent is refused on every instance.
//!
//! On SQLite (one instance) there is no table: admission stays the in-memory spend
//! count. When the database cannot be reached (or answers slower than
//! [`LEASE_TIMEOUT`]) the instance falls back to that count until a lease succeeds
//! again.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use rook_observability::names;
use rook_registry::{Backend, Registry};
use rook_resilience::spend_lease::{Admit, Period, SpendLeases, SpendWant};
use tokio::sync::Notify;

use crate::leases::{LEASE_TIMEOUT, PENDING_MAX_WAIT};

/// How often the task looks for wants when nothing woke it.
const TICK: Duration = Duration::from_millis(250);
/// The pause between attempts while the database is unreachable.
const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// Lease rows not leased from for this long are pruned (longer than any calendar
/// period; a `total` period's row is rebuilt from the usage events).
const KEEP_ROWS_MS: i64 = 40 * 86_400_000;
/// How often rows are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3_600);

/// The leased budgets of this instance (`None` inside on SQLite).
pub(crate) struct SharedBudgets {
    table: Option<Arc<SpendLeases>>,
    /// Wakes the lease task (a request wants a lease, or charged a cost).
    wake: Notify,
    /// Wakes requests waiting for a lease (the task answered a round).
    answered: Notify,
}

impl std::fmt::Debug for SharedBudgets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedBudgets")
            .field("shared", &self.table.is_some())
            .finish_non_exhaustive()
    }
}

/// What the shared budget decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Budget {
    /// Admitted: this instance holds some of the key's budget.
    Admitted,
    /// The period's budget is granted out and spent here: refuse.
    Refused,
    /// Not shared (SQLite), the database is unreachable, or no lease came in time:
    /// decide on the instance's own spend count.
    Local,
}

impl SharedBudgets {
    /// Shared budgets for `registry`: leased on PostgreSQL (starting the lease
    /// task), local on SQLite.
    pub(crate) fn start(registry: &Registry) -> Arc<SharedBudgets> {
        let shared = SharedBudgets::new(registry.backend() == Backend::Postgres);
        if shared.table.is_some() {
            tokio::spawn(lease_task(Arc::downgrade(&shared), registry.clone()));
        }
        shared
    }

    fn new(leased: bool) -> Arc<SharedBudgets> {
        Arc::new(SharedBudgets {
            table: leased.then(|| Arc::new(SpendLeases::new())),
            wake: Notify::new(),
            answered: Notify::new(),
        })
    }

    /// Whether budgets are leased from the database.
    pub(crate) fn is_shared(&self) -> bool {
        self.table.is_some()
    }

    /// Whether a request of key `id` (with `budget` USD in `period`, wall clock) may
    /// start. Memory only, unless nothing is in hand and a lease is on its way: then
    /// it waits for the lease (at most [`PENDING_MAX_WAIT`]).
    pub(crate) async fn admit(&self, id: &str, budget: f64, period: Period) -> Budget {
        let Some(table) = &self.table else {
            return Budget::Local;
        };
        let deadline = tokio::time::Instant::now() + PENDING_MAX_WAIT;
        loop {
            // registered before the take, so an answer in between is not missed
            let answered = self.answered.notified();
            tokio::pin!(answered);
            answered.as_mut().enable();
            let decided = table.try_admit(id, budget, period);
            match decided {
                Admit::Admitted => return Budget::Admitted,
                Admit::Refused => return Budget::Refused,
                Admit::Fallback => return Budget::Local,
                Admit::Pending => {
                    self.wake.notify_one();
                    if tokio::time::timeout_at(deadline, answered).await.is_err() {
                        tracing::debug!(key = id, "no budget lease in time; deciding locally");
                        return Budget::Local;
                    }
                }
            }
        }
    }

    /// Charges the cost `usd` of a finished request of key `id` to `period` (the one
    /// it finished in). Memory only; the lease task leases ahead when what is left in
    /// hand drops to a slice.
    pub(crate) fn charge(&self, id: &str, budget: f64, period: Period, usd: f64) {
        if let Some(table) = &self.table {
            table.charge(id, budget, period, usd);
            self.wake.notify_one();
        }
    }
}

/// Leases what the table wants while the budgets are alive.
async fn lease_task(budgets: Weak<SharedBudgets>, registry: Registry) {
    let mut last_prune = Instant::now();
    loop {
        let table = {
            let Some(b) = budgets.upgrade() else { return };
            let Some(table) = b.table.clone() else { return };
            // wait for a request or the tick (holding the budgets at most a tick)
            let _ = tokio::time::timeout(TICK, b.wake.notified()).await;
            table
        };
        let wants = table.wants(crate::now_ms());
        let answering = !wants.is_empty();
        let failed = lease_round(&registry, &table, wants).await;
        if answering {
            if let Some(b) = budgets.upgrade() {
                b.answered.notify_waiters();
            }
        }
        if failed {
            tokio::time::sleep(RETRY_PAUSE).await;
        } else if last_prune.elapsed() > PRUNE_EVERY {
            last_prune = Instant::now();
            let before = crate::now_ms().saturating_sub(KEEP_ROWS_MS);
            if let Err(e) = registry.prune_budget_leases(before).await {
                tracing::debug!(error = %e, "pruning old budget leases failed");
            }
        }
    }
}

/// Asks the registry for each want (after a failure, the rest fail at once);
/// returns whether one failed.
async fn lease_round(registry: &Registry, table: &SpendLeases, wants: Vec<SpendWant>) -> bool {
    let mut failed = false;
    for want in wants {
        if failed {
            table.failed(&want);
            continue;
        }
        match lease(registry, &want).await {
            Ok(granted) => {
                if table.is_fallback() {
                    tracing::info!("leasing client key budgets from the database again");
                    metrics::gauge!(names::BUDGET_LEASE_FALLBACK).set(0.0);
                }
                tracing::debug!(
                    key = %want.key,
                    period_start_ms = want.period_start_ms,
                    budget_usd = want.budget,
                    slice_usd = want.slice,
                    granted_usd = granted,
                    "budget slice leased"
                );
                table.granted(&want, granted);
            }
            Err(reason) => {
                if !table.is_fallback() {
                    metrics::gauge!(names::BUDGET_LEASE_FALLBACK).set(1.0);
                    metrics::counter!(names::BUDGET_LEASE_FALLBACKS_TOTAL).increment(1);
                    tracing::warn!(
                        error = %reason,
                        "cannot lease client key budgets from the database; counting spend per instance until it is back"
                    );
                }
                table.failed(&want);
                failed = true;
            }
        }
    }
    failed
}

async fn lease(registry: &Registry, want: &SpendWant) -> Result<f64, String> {
    let call = registry.lease_budget(
        &want.key,
        want.period_start_ms,
        want.budget,
        want.slice,
        crate::now_ms(),
    );
    match tokio::time::timeout(LEASE_TIMEOUT, call).await {
        Ok(Ok(granted)) => Ok(granted),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {LEASE_TIMEOUT:?}")),
    }
}

#[cfg(test)]
mod tests;
