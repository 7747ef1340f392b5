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
//! A take that finds too little leased while the window still has room is
//! pending, not refused: the request waits for the task's next answer (about
//! one statement's round trip; at most [`PENDING_MAX_WAIT`]) and takes again,
//! so a burst faster than a lease is not refused below its limit
//! ([`SharedLimits::settle_pending`]).
//!
//! [`GlobalKeyed`] is the per-principal and per-route requests-per-minute
//! limit: leased when shared, else `rook_resilience::KeyedLimiter`.
//! [`LeasedPair`] is an account's or a client key's requests and tokens per
//! minute, leased when shared, next to its local `RateLimits` (used on SQLite
//! and during a database outage); a request holds a [`Ticket`] until its
//! token count is known.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use rook_observability::names;
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
/// The longest a request waits for leases before it is refused (a lease
/// either answers or times out and falls back within [`LEASE_TIMEOUT`]).
pub(crate) const PENDING_MAX_WAIT: Duration = Duration::from_millis(2_500);
/// The `Retry-After` of a request that waited [`PENDING_MAX_WAIT`] in vain.
pub(crate) const PENDING_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The leased limits of this instance (`None` inside on SQLite).
pub(crate) struct SharedLimits {
    table: Option<Arc<LeaseTable>>,
    /// Wakes the lease task (a take wants a lease).
    wake: Notify,
    /// Wakes requests waiting for a lease (the task answered a round).
    answered: Notify,
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
    /// Too little leased yet, a lease is on its way: take again once
    /// answered ([`SharedLimits::settle_pending`]).
    Pending,
    /// Not shared (SQLite) or the database is unreachable: decide locally.
    Local,
}

/// Why a limit did not admit a request now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Over the limit: retry after this long.
    Wait(Duration),
    /// A lease is on its way: take again once it is answered.
    Pending,
}

impl SharedLimits {
    /// Shared limits for `registry`: leased on PostgreSQL (starting the lease
    /// task), local on SQLite.
    pub(crate) fn start(registry: &Registry) -> Arc<SharedLimits> {
        let shared = Arc::new(SharedLimits {
            table: (registry.backend() == Backend::Postgres)
                .then(|| Arc::new(LeaseTable::new(WINDOW))),
            wake: Notify::new(),
            answered: Notify::new(),
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
            answered: Notify::new(),
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
            Take::Pending => Shared::Pending,
            Take::Fallback => Shared::Local,
        }
    }

    /// Runs `attempt` until it is not [`Refusal::Pending`], waiting for the
    /// lease task's answers in between (at most [`PENDING_MAX_WAIT`] in all;
    /// then a refusal of [`PENDING_RETRY_AFTER`]).
    pub(crate) async fn settle_pending<T>(
        &self,
        mut attempt: impl FnMut() -> Result<T, Refusal>,
    ) -> Result<T, Duration> {
        let deadline = tokio::time::Instant::now() + PENDING_MAX_WAIT;
        loop {
            // registered before the take, so an answer in between is not missed
            let answered = self.answered.notified();
            tokio::pin!(answered);
            answered.as_mut().enable();
            match attempt() {
                Ok(v) => return Ok(v),
                Err(Refusal::Wait(wait)) => return Err(wait),
                Err(Refusal::Pending) => {
                    if tokio::time::timeout_at(deadline, answered).await.is_err() {
                        return Err(PENDING_RETRY_AFTER);
                    }
                }
            }
        }
    }

    /// Waits for the lease task's next answer, until `deadline`; `false` when
    /// the deadline passed first.
    pub(crate) async fn answered_by(&self, deadline: tokio::time::Instant) -> bool {
        tokio::time::timeout_at(deadline, self.answered.notified())
            .await
            .is_ok()
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
        let wants = table.wants(wall_ms());
        let answering = !wants.is_empty();
        for want in wants {
            if failed {
                table.failed(&want);
                continue;
            }
            match lease(&registry, &want).await {
                Ok(granted) => {
                    if table.is_fallback() {
                        tracing::info!("leasing rate limits from the database again");
                        metrics::gauge!(names::RATE_LIMIT_LEASE_FALLBACK).set(0.0);
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
                        metrics::gauge!(names::RATE_LIMIT_LEASE_FALLBACK).set(1.0);
                        metrics::counter!(names::RATE_LIMIT_LEASE_FALLBACKS_TOTAL).increment(1);
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
        if answering {
            if let Some(l) = limits.upgrade() {
                l.answered.notify_waiters();
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
    /// Waits for a lease on its way (see the module docs).
    pub(crate) async fn check(&self, key: &str) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let shared_key = format!("{}:{key}", self.kind);
        let limit = u64::from(self.per_minute);
        self.shared
            .settle_pending(|| match self.shared.take(&shared_key, limit, 1) {
                Shared::Admitted => Ok(()),
                Shared::Refused(wait) => Err(Refusal::Wait(wait)),
                Shared::Pending => Err(Refusal::Pending),
                Shared::Local => self.local.check(key, Instant::now()).map_err(Refusal::Wait),
            })
            .await
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

    /// The limits the pair leases from (to wait for a pending lease).
    pub(crate) fn limits(&self) -> &Arc<SharedLimits> {
        &self.limits
    }

    /// Takes one request and `estimate` tokens; a refusal, a pending lease or
    /// a fallback takes nothing.
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

/// Reserves one request and `estimate` tokens now: leased when `leased` is
/// given and the database is reachable, else from `local`. `Ok(None)`: no
/// limits.
pub(crate) fn reserve_pair(
    leased: Option<&LeasedPair>,
    local: Option<&RateLimits>,
    estimate: u64,
) -> Result<Option<Ticket>, Refusal> {
    if let Some(pair) = leased {
        match pair.take(estimate) {
            Shared::Admitted => {
                return Ok(Some(Ticket::Leased {
                    estimate,
                    at_ms: wall_ms(),
                }))
            }
            Shared::Refused(wait) => return Err(Refusal::Wait(wait)),
            Shared::Pending => return Err(Refusal::Pending),
            Shared::Local => {}
        }
    }
    let Some(local) = local else {
        return Ok(None);
    };
    local
        .try_reserve(estimate, Instant::now())
        .map(|r| Some(Ticket::Local(r)))
        .map_err(Refusal::Wait)
}

/// [`reserve_pair`], waiting for a lease on its way.
pub(crate) async fn reserve_pair_waiting(
    leased: Option<&LeasedPair>,
    local: Option<&RateLimits>,
    estimate: u64,
) -> Result<Option<Ticket>, Duration> {
    match leased {
        Some(pair) => {
            pair.limits
                .settle_pending(|| reserve_pair(leased, local, estimate))
                .await
        }
        None => reserve_pair(None, local, estimate).map_err(|r| match r {
            Refusal::Wait(wait) => wait,
            Refusal::Pending => PENDING_RETRY_AFTER,
        }),
    }
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
mod tests;
