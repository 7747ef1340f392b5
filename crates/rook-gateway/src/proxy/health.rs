//! Account health: the circuit breaker per account plus what operators need to see.
//!
//! The breaker (from `rook-resilience`) decides availability on the hot path; this
//! module adds the per-account facts shown by `/api/health/accounts`, `/api/status`
//! and the metrics (last error class, whether the account has seen traffic), and
//! converts state to and from the registry so a restart keeps accounts cooled. On
//! PostgreSQL, [`Health::enable_sharing`] makes every transition this instance's
//! breakers make go to an outbox (see [`super::health_share`]) for other instances.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::now_ms;

use rook_protocol::ErrorClass;
use rook_resilience::{
    Admission, Breaker, BreakerConfig, CircuitState, KeySnapshot, OpenReason, PersistedKey,
};

use super::health_share::{transition, Sharing, Transition};

/// An account id as the breaker knows it.
pub(crate) type Key = Arc<str>;

/// Health status of an account, as shown to operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// Closed, no recent failures.
    Healthy,
    /// Closed with recent failures, or waiting for its probe.
    Degraded,
    /// Cooling down (skipped by routing).
    Unhealthy,
    /// No traffic yet since start.
    Unknown,
}

impl Status {
    /// Every status, in display order.
    pub(crate) const ALL: [Status; 4] = [
        Status::Healthy,
        Status::Degraded,
        Status::Unhealthy,
        Status::Unknown,
    ];

    /// The snake_case name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Healthy => "healthy",
            Status::Degraded => "degraded",
            Status::Unhealthy => "unhealthy",
            Status::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Info {
    seen: bool,
    /// The last outcome was a success (nothing to persist on the next one).
    clean: bool,
    last_error_class: Option<ErrorClass>,
}

/// The health of one account at a point in time.
#[derive(Debug, Clone)]
pub(crate) struct AccountHealth {
    /// Account id.
    pub(crate) id: Key,
    /// Derived status.
    pub(crate) status: Status,
    /// Consecutive failures.
    pub(crate) consecutive_failures: u32,
    /// Consecutive openings.
    pub(crate) times_opened: u32,
    /// Cooldown left, if cooling.
    pub(crate) cooldown_remaining: Option<Duration>,
    /// Wall-clock end of the cooldown, in unix milliseconds.
    pub(crate) cooldown_until_ms: Option<i64>,
    /// Class of the last failure.
    pub(crate) last_error_class: Option<ErrorClass>,
    /// When the cooldown ends (or ended, if half-open); `None` if closed.
    pub(crate) open_until: Option<Instant>,
    /// Half-open or open with a probe out.
    pub(crate) probe_in_flight: bool,
    /// Breaker state.
    pub(crate) state: CircuitState,
}

/// Per-account health. Cheap to share (`Arc` inside).
#[derive(Debug)]
pub(crate) struct Health {
    breaker: Breaker<Key>,
    info: Mutex<HashMap<Key, Info>>,
    dirty: AtomicBool,
    sharing: OnceLock<Arc<Sharing>>,
}

/// A permission to send one attempt to an account.
pub(crate) type Permit = Admission<Key>;

impl Health {
    /// A health registry with the given breaker settings.
    pub(crate) fn new(
        config: BreakerConfig,
        observer: Arc<dyn rook_resilience::Observer>,
    ) -> Result<Self, rook_resilience::BreakerError> {
        Ok(Health {
            breaker: Breaker::with_parts(config, Arc::new(rook_resilience::SystemClock), observer)?,
            info: Mutex::new(HashMap::new()),
            dirty: AtomicBool::new(false),
            sharing: OnceLock::new(),
        })
    }

    /// Replaces the breaker settings (a configuration reload); every account keeps
    /// its state.
    pub(crate) fn set_config(
        &self,
        config: BreakerConfig,
    ) -> Result<(), rook_resilience::BreakerError> {
        self.breaker.set_config(config)
    }

    /// Shares transitions with other instances from now on (PostgreSQL); the first
    /// call wins.
    pub(crate) fn enable_sharing(&self, sharing: Arc<Sharing>) -> Arc<Sharing> {
        self.sharing.get_or_init(|| sharing).clone()
    }

    /// The sharing state, when enabled.
    pub(crate) fn sharing(&self) -> Option<&Arc<Sharing>> {
        self.sharing.get()
    }

    pub(super) fn breaker(&self) -> &Breaker<Key> {
        &self.breaker
    }

    pub(super) fn set_class(&self, id: &Key, class: Option<ErrorClass>) {
        if let Some(i) = self.info().get_mut(id) {
            i.seen = true;
            if class.is_some() {
                i.last_error_class = class;
            }
        }
    }

    /// The state before an outcome, when transitions are shared.
    fn before(&self, id: &Key) -> Option<Option<KeySnapshot<Key>>> {
        self.sharing.get().map(|_| self.breaker.state(id))
    }

    /// Queues the transition between `before` and now, if any.
    fn shared(
        &self,
        id: &Key,
        before: Option<Option<KeySnapshot<Key>>>,
        class: Option<ErrorClass>,
    ) {
        let (Some(sharing), Some(before)) = (self.sharing.get(), before) else {
            return;
        };
        let was_closed = before
            .as_ref()
            .is_none_or(|b| b.state == CircuitState::Closed);
        if class.is_none() && was_closed {
            return; // a success of a closed account changes nothing shared
        }
        let Some(after) = self.breaker.state(id) else {
            return;
        };
        if let Some(t) = transition(before.as_ref(), &after, class, now_ms()) {
            sharing.push(id.clone(), t);
        }
    }

    fn info(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Info>> {
        match self.info.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Makes the tracked accounts exactly `ids` (new ones start closed).
    pub(crate) fn sync_accounts<'a>(&self, ids: impl IntoIterator<Item = &'a Key>) {
        let ids: Vec<Key> = ids.into_iter().cloned().collect();
        self.breaker.sync_keys(ids.iter().cloned());
        let mut info = self.info();
        info.retain(|k, _| ids.contains(k));
        for id in ids {
            info.entry(id).or_default();
        }
    }

    /// Whether routing may use the account now (non-consuming).
    pub(crate) fn is_available(&self, id: &Key) -> bool {
        self.breaker.is_available(id)
    }

    /// When the account becomes available (`None`: now).
    pub(crate) fn available_at(&self, id: &Key) -> Option<Instant> {
        self.breaker.available_at(id)
    }

    /// Panic routing: among `ids` (none of which admitted an attempt), the
    /// account cooling for server-side failures whose cooldown ends first, with
    /// its probe taken; `None` when none qualifies (bad keys, quota, unexpired
    /// rate-limit hints, a probe already in flight).
    pub(crate) fn try_acquire_panic<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a Key>,
    ) -> Option<Permit> {
        let id = self.breaker.panic_candidate(ids)?;
        self.breaker.try_acquire_panic(&id)
    }

    /// Takes the right to send one attempt (the single probe when half-open).
    pub(crate) fn try_acquire(&self, id: &Key) -> Option<Permit> {
        self.breaker.try_acquire(id)
    }

    /// Records an outcome's effect on the account; only changes are persisted, so a
    /// steady stream of successes costs no database writes.
    fn note(&self, id: &Key, class: Option<ErrorClass>) {
        let mut info = self.info();
        let Some(i) = info.get_mut(id) else { return };
        let changed = class.is_some() || !i.seen || !i.clean;
        i.seen = true;
        i.clean = class.is_none();
        if class.is_some() {
            i.last_error_class = class;
        }
        drop(info);
        if changed {
            self.dirty.store(true, Ordering::Relaxed);
        }
    }

    /// The attempt succeeded (or failed through the caller's fault).
    pub(crate) fn success(&self, permit: Permit) {
        let id = permit.key().clone();
        let before = self.before(&id);
        permit.success();
        self.shared(&id, before, None);
        self.note(&id, None);
    }

    /// The attempt failed in a retryable way; `hint` is the upstream's
    /// retry-after, which opens the account for that long.
    pub(crate) fn failure(&self, permit: Permit, class: ErrorClass, hint: Option<Duration>) {
        let id = permit.key().clone();
        let before = self.before(&id);
        match hint {
            Some(h) => permit.failure_with_hint(h),
            None => permit.failure(),
        }
        self.shared(&id, before, Some(class));
        self.note(&id, Some(class));
    }

    /// A failure after the permit was settled (a stream broken mid-way).
    pub(crate) fn late_failure(&self, id: &Key, class: ErrorClass) {
        let before = self.before(id);
        self.breaker.record_failure(id);
        self.shared(id, before, Some(class));
        self.note(id, Some(class));
    }

    /// Takes the account out of rotation for `duration` (bad key, no quota).
    pub(crate) fn trip(&self, permit: Permit, class: ErrorClass, duration: Duration) {
        let id = permit.key().clone();
        let before = self.before(&id);
        permit.trip(duration);
        self.shared(&id, before, Some(class));
        self.note(&id, Some(class));
    }

    /// Closes the account again (operator action).
    pub(crate) fn reset(&self, id: &Key) {
        self.breaker.reset(id);
        if let Some(sharing) = self.sharing.get() {
            if self.breaker.contains(id) {
                sharing.push(id.clone(), Transition::Reset);
            }
        }
        self.note(id, None);
        self.mark_dirty();
    }

    fn describe(&self, s: KeySnapshot<Key>, info: Option<&Info>) -> AccountHealth {
        let seen = info.is_some_and(|i| i.seen);
        let status = match s.state {
            CircuitState::Open => Status::Unhealthy,
            CircuitState::HalfOpen => Status::Degraded,
            CircuitState::Closed if s.consecutive_failures > 0 => Status::Degraded,
            CircuitState::Closed if seen => Status::Healthy,
            _ => Status::Unknown,
        };
        let cooldown_until_ms = s
            .cooldown_remaining
            .filter(|d| !d.is_zero())
            .map(|d| now_ms().saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)));
        AccountHealth {
            status,
            consecutive_failures: s.consecutive_failures,
            times_opened: s.times_opened,
            cooldown_remaining: s.cooldown_remaining.filter(|d| !d.is_zero()),
            cooldown_until_ms,
            last_error_class: info.and_then(|i| i.last_error_class),
            open_until: s.open_until,
            probe_in_flight: s.probe_in_flight,
            state: s.state,
            id: s.key,
        }
    }

    /// The health of every tracked account.
    pub(crate) fn snapshot(&self) -> Vec<AccountHealth> {
        let snaps = self.breaker.snapshot();
        let info = self.info();
        snaps
            .into_iter()
            .map(|s| {
                let i = info.get(&s.key).cloned();
                self.describe(s, i.as_ref())
            })
            .collect()
    }

    /// The health of one account.
    pub(crate) fn account(&self, id: &Key) -> Option<AccountHealth> {
        let s = self.breaker.state(id)?;
        let i = self.info().get(id).cloned();
        Some(self.describe(s, i.as_ref()))
    }

    /// Restores an account's state from the registry.
    pub(crate) fn restore(
        &self,
        id: Key,
        consecutive_failures: u32,
        times_opened: u32,
        cooldown_until_ms: Option<i64>,
        last_error_class: Option<&str>,
    ) {
        let now = now_ms();
        let cooldown_remaining = cooldown_until_ms.map(|until| {
            Duration::from_millis(u64::try_from(until.saturating_sub(now)).unwrap_or(0))
        });
        let class = last_error_class.and_then(ErrorClass::from_name);
        // Why it is cooling decides whether panic routing may probe it.
        let reason = match class {
            Some(ErrorClass::AuthError | ErrorClass::QuotaExhausted) => OpenReason::Trip,
            Some(ErrorClass::RateLimited) => OpenReason::Hint,
            _ => OpenReason::Failures,
        };
        self.breaker.restore_with_reason(
            id.clone(),
            PersistedKey {
                cooldown_remaining,
                consecutive_failures,
                times_opened,
            },
            reason,
        );
        let mut info = self.info();
        let entry = info.entry(id).or_default();
        entry.last_error_class = class;
        entry.seen = cooldown_remaining.is_some() || consecutive_failures > 0;
    }

    /// Asks for the state to be persisted again.
    pub(crate) fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::Relaxed);
    }

    /// Whether anything changed since the last call (and clears the flag).
    pub(crate) fn take_dirty(&self) -> bool {
        self.dirty.swap(false, Ordering::Relaxed)
    }
}
