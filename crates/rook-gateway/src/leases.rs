//! Rate limits shared by several instances on one PostgreSQL database (issue 14).
//!
//! The request path asks [`SharedLimits::take`], which only touches memory
//! (`rook_resilience::lease::LeaseTable`); a background task leases slices of
//! each limit from the registry ([`rook_registry::Registry::lease_limit`], one
//! statement) ahead of need, and prunes finished windows. On SQLite (one
//! instance) there is no table: every limit stays the in-memory bucket it was.
//! When the database cannot be reached (or answers slower than
//! [`LEASE_TIMEOUT`]) the table falls back to the per-instance limits until a
//! lease succeeds again.
//!
//! [`GlobalKeyed`] is the per-principal and per-route requests-per-minute
//! limit: leased when shared, else `rook_resilience::KeyedLimiter`.
//! [`LeasedPair`] is an account's or a client key's requests and tokens per
//! minute, leased when shared, next to its local `RateLimits` (used on SQLite
//! and during a database outage); a request holds a [`Ticket`] until its
//! token count is known.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use rook_registry::{Backend, Registry};
use rook_resilience::lease::{LeaseTable, LeaseWant, Take};
use rook_resilience::{KeyedLimiter, RateLimits, Reservation};
use tokio::sync::Notify;

/// The window of every shared limit: per minute.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);
/// The longest a lease may take before the table falls back.
pub(crate) const LEASE_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the task looks for wants when nothing woke it.
const TICK: Duration = Duration::from_millis(250);
/// The pause between attempts while the database is unreachable.
const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// Lease rows are kept this long after their window started.
const KEEP_ROWS_MS: u64 = 10 * 60_000;

/// The leased limits of this instance (`None` inside on SQLite).
pub(crate) struct SharedLimits {
    table: Option<Arc<LeaseTable>>,
    wake: Notify,
}

impl std::fmt::Debug for SharedLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLimits")
            .field("shared", &self.table.is_some())
            .finish_non_exhaustive()
    }
}

/// What a shared limit decided for one take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shared {
    /// Admitted (leased or on credit).
    Admitted,
    /// Over the shared limit: retry after this long.
    Refused(Duration),
    /// Not shared (SQLite) or the database is unreachable: decide locally.
    Local,
}

impl SharedLimits {
    /// Shared limits for `registry`: leased on PostgreSQL (starting the lease
    /// task), local on SQLite.
    pub(crate) fn start(registry: &Registry) -> Arc<SharedLimits> {
        let shared = Arc::new(SharedLimits {
            table: (registry.backend() == Backend::Postgres)
                .then(|| Arc::new(LeaseTable::new(WINDOW))),
            wake: Notify::new(),
        });
        if shared.table.is_some() {
            tokio::spawn(lease_task(Arc::downgrade(&shared), registry.clone()));
        }
        shared
    }

    /// Limits kept in memory only (tests, SQLite).
    #[cfg(test)]
    pub(crate) fn local() -> Arc<SharedLimits> {
        Arc::new(SharedLimits {
            table: None,
            wake: Notify::new(),
        })
    }

    /// Whether limits are leased from the database.
    pub(crate) fn is_shared(&self) -> bool {
        self.table.is_some()
    }

    /// Takes `amount` of `key`'s per-minute `limit`. Memory only.
    pub(crate) fn take(&self, key: &str, limit: u64, amount: u64) -> Shared {
        let Some(table) = &self.table else {
            return Shared::Local;
        };
        let answer = table.try_take(key, limit, amount, wall_ms());
        // the task leases ahead of need; waking it costs a permit, not a wait
        self.wake.notify_one();
        match answer {
            Take::Admitted => Shared::Admitted,
            Take::Refused(wait) => Shared::Refused(wait),
            Take::Fallback => Shared::Local,
        }
    }

    /// Gives back (`delta > 0`) or charges (`delta < 0`) units of `key` taken
    /// at `taken_at_ms` (a token estimate settled with the reported count).
    pub(crate) fn adjust(&self, key: &str, delta: i64, taken_at_ms: u64) {
        if let Some(table) = &self.table {
            table.adjust(key, delta, taken_at_ms, wall_ms());
        }
    }
}

/// Milliseconds since the Unix epoch (the windows are aligned on it).
pub(crate) fn wall_ms() -> u64 {
    u64::try_from(crate::now_ms()).unwrap_or(0)
}

/// Leases what the table wants while the limits are alive.
async fn lease_task(limits: Weak<SharedLimits>, registry: Registry) {
    let mut last_prune = Instant::now();
    loop {
        let table = {
            let Some(l) = limits.upgrade() else { return };
            let Some(table) = l.table.clone() else { return };
            // wait for a take or the tick (holding the limits at most a tick)
            let _ = tokio::time::timeout(TICK, l.wake.notified()).await;
            table
        };
        let mut failed = false;
        for want in table.wants(wall_ms()) {
            if failed {
                table.failed(&want);
                continue;
            }
            match lease(&registry, &want).await {
                Ok(granted) => {
                    if table.is_fallback() {
                        tracing::info!("leasing rate limits from the database again");
                    }
                    tracing::debug!(
                        key = %want.key,
                        window_start_ms = want.window_start_ms,
                        want = want.want,
                        charge = want.charge,
                        granted,
                        "limit slice leased"
                    );
                    table.granted(&want, granted)
                }
                Err(reason) => {
                    if !table.is_fallback() {
                        tracing::warn!(
                            error = %reason,
                            "cannot lease rate limits from the database; enforcing per-instance limits until it is back"
                        );
                    }
                    table.failed(&want);
                    failed = true;
                }
            }
        }
        if failed {
            tokio::time::sleep(RETRY_PAUSE).await;
        } else if last_prune.elapsed() > Duration::from_secs(300) {
            last_prune = Instant::now();
            let before = wall_ms().saturating_sub(KEEP_ROWS_MS);
            if let Err(e) = registry.prune_limit_leases(before).await {
                tracing::debug!(error = %e, "pruning old limit leases failed");
            }
        }
    }
}

async fn lease(registry: &Registry, want: &LeaseWant) -> Result<u64, String> {
    let call = registry.lease_limit(
        &want.key,
        want.window_start_ms,
        want.limit,
        want.want,
        want.charge,
        crate::now_ms(),
    );
    match tokio::time::timeout(LEASE_TIMEOUT, call).await {
        Ok(Ok(granted)) => Ok(granted),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {LEASE_TIMEOUT:?}")),
    }
}

/// A requests-per-minute limit per key (a principal, a route): leased across
/// instances when shared, else (and while the database is unreachable) the
/// per-instance token bucket.
pub(crate) struct GlobalKeyed {
    kind: &'static str,
    per_minute: u32,
    local: KeyedLimiter,
    shared: Arc<SharedLimits>,
}

impl GlobalKeyed {
    /// `per_minute` requests per minute per key of `kind` (`0`: no limit).
    pub(crate) fn new(kind: &'static str, per_minute: u32, shared: Arc<SharedLimits>) -> Self {
        GlobalKeyed {
            kind,
            per_minute,
            local: KeyedLimiter::new(per_minute),
            shared,
        }
    }

    /// Counts one request for `key`; `Err(wait)` when it is over the limit.
    pub(crate) fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let shared_key = format!("{}:{key}", self.kind);
        match self.shared.take(&shared_key, u64::from(self.per_minute), 1) {
            Shared::Admitted => Ok(()),
            Shared::Refused(wait) => Err(wait),
            Shared::Local => self.local.check(key, now),
        }
    }
}

/// An RPM/TPM pair of one target (an account, a client key) leased across
/// instances.
#[derive(Debug)]
pub(crate) struct LeasedPair {
    limits: Arc<SharedLimits>,
    rpm: Option<(String, u64)>,
    tpm: Option<(String, u64)>,
}

impl LeasedPair {
    /// The pair of `kind` `id` (`acct`, `key`), or `None` when limits are not
    /// shared or it has no limit.
    pub(crate) fn new(
        limits: &Arc<SharedLimits>,
        kind: &str,
        id: &str,
        rpm: Option<u32>,
        tpm: Option<u32>,
    ) -> Option<LeasedPair> {
        if !limits.is_shared() || (rpm.is_none() && tpm.is_none()) {
            return None;
        }
        // `Some(0)` is treated as 1, like the local buckets
        let key = |unit: &str, n: u32| (format!("{kind}:{id}:{unit}"), u64::from(n.max(1)));
        Some(LeasedPair {
            limits: limits.clone(),
            rpm: rpm.map(|n| key("rpm", n)),
            tpm: tpm.map(|n| key("tpm", n)),
        })
    }

    /// Takes one request and `estimate` tokens; a refusal or a fallback takes
    /// nothing.
    fn take(&self, estimate: u64) -> Shared {
        let mut tokens_taken = false;
        if let Some((key, limit)) = &self.tpm {
            match self.limits.take(key, *limit, estimate) {
                Shared::Admitted => tokens_taken = true,
                other => return other,
            }
        }
        if let Some((key, limit)) = &self.rpm {
            let answer = self.limits.take(key, *limit, 1);
            if answer != Shared::Admitted {
                if let (true, Some((tkey, _))) = (tokens_taken, &self.tpm) {
                    let back = i64::try_from(estimate).unwrap_or(i64::MAX);
                    self.limits.adjust(tkey, back, wall_ms());
                }
                return answer;
            }
        }
        Shared::Admitted
    }
}

/// What a request took from an RPM/TPM pair, until its tokens are known.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ticket {
    /// From the local buckets.
    Local(Reservation),
    /// From leased slices: the token estimate taken, and when.
    Leased {
        /// Tokens taken.
        estimate: u64,
        /// When (ms since the epoch).
        at_ms: u64,
    },
}

/// Reserves one request and `estimate` tokens: leased when `leased` is given
/// and the database is reachable, else from `local`. `Ok(None)`: no limits.
pub(crate) fn reserve_pair(
    leased: Option<&LeasedPair>,
    local: Option<&RateLimits>,
    estimate: u64,
) -> Result<Option<Ticket>, Duration> {
    if let Some(pair) = leased {
        match pair.take(estimate) {
            Shared::Admitted => {
                return Ok(Some(Ticket::Leased {
                    estimate,
                    at_ms: wall_ms(),
                }))
            }
            Shared::Refused(wait) => return Err(wait),
            Shared::Local => {}
        }
    }
    let Some(local) = local else {
        return Ok(None);
    };
    local
        .try_reserve(estimate, Instant::now())
        .map(|r| Some(Ticket::Local(r)))
}

/// Settles a ticket with the tokens used (`None`: unknown, the estimate stands).
pub(crate) fn settle_pair(
    leased: Option<&LeasedPair>,
    local: Option<&RateLimits>,
    ticket: Ticket,
    used: Option<u64>,
) {
    match ticket {
        Ticket::Local(r) => {
            if let Some(l) = local {
                l.reconcile(r, used, Instant::now());
            }
        }
        Ticket::Leased { estimate, at_ms } => {
            let (Some(pair), Some(used)) = (leased, used) else {
                return;
            };
            if let Some((key, _)) = &pair.tpm {
                let delta = i128::from(estimate) - i128::from(used);
                let delta =
                    i64::try_from(delta).unwrap_or(if delta < 0 { i64::MIN } else { i64::MAX });
                pair.limits.adjust(key, delta, at_ms);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_limits_keep_the_token_bucket() {
        let l = GlobalKeyed::new("route", 2, SharedLimits::local());
        let now = Instant::now();
        assert!(l.check("gpt", now).is_ok());
        assert!(l.check("gpt", now).is_ok());
        assert_eq!(l.check("gpt", now), Err(Duration::from_secs(30)));
        assert!(l.check("other", now).is_ok());
        let off = GlobalKeyed::new("route", 0, SharedLimits::local());
        assert!((0..100).all(|_| off.check("gpt", now).is_ok()));
    }

    #[test]
    fn pairs_are_local_without_a_shared_table() {
        let shared = SharedLimits::local();
        assert!(LeasedPair::new(&shared, "acct", "a", Some(1), None).is_none());
        let local = RateLimits::new(Some(1), Some(100), Instant::now());
        let t = reserve_pair(None, local.as_ref(), 50).unwrap().unwrap();
        assert!(matches!(t, Ticket::Local(_)));
        assert!(reserve_pair(None, local.as_ref(), 1).is_err());
        settle_pair(None, local.as_ref(), t, Some(10));
        assert!(reserve_pair(None, None, 1 << 40).unwrap().is_none());
    }
}
