//! A per-key circuit breaker ("cooldown"): keys that keep failing are taken
//! out of rotation for a growing penalty, then tested with a single probe.
//!
//! # Model
//!
//! Each registered key (an upstream account, a host, a shard…) is in one of
//! three [`CircuitState`]s:
//!
//! * **Closed** — available. Each failure increments `consecutive_failures`;
//!   a success resets it. Reaching `failure_threshold` opens the key, and so
//!   does the [failure-rate rule](self#failure-rate).
//! * **Open** — cooling down until `open_until`. The penalty for the
//!   `n`-th consecutive opening is `cooldown_base × 2ⁿ⁻¹`, capped at
//!   `cooldown_max`, minus up to `cooldown_jitter` of itself at random.
//! * **HalfOpen** — the cooldown is over. Exactly one caller gets a probe
//!   [`Admission`] from [`Breaker::try_acquire`]; its success closes the
//!   key (and resets `times_opened`), its failure re-opens it with the next,
//!   longer penalty. An admission dropped without an outcome frees the probe
//!   slot; a probe that never finishes (leaked with `mem::forget`) is
//!   abandoned after `probe_timeout`.
//!
//! Two failures open a key regardless of the threshold, because they are
//! the upstream telling us: a failure with a retry-after hint
//! ([`Breaker::record_failure_with_hint`], cooldown = the hint clamped to
//! `cooldown_max`) and a forced [`Breaker::trip`] (for a bad key or an
//! exhausted quota; the duration is used as given). Every open key
//! remembers why it is open ([`Breaker::open_reason`]): [`OpenReason::Failures`],
//! [`OpenReason::Hint`] or [`OpenReason::Trip`] — when several apply, the
//! one whose cooldown ends last.
//!
//! # Failure rate
//!
//! Consecutive failures miss a key that fails every other request. So a
//! Closed key also opens when, at the moment a failure is recorded, the
//! outcomes of the last `failure_rate_window` number at least
//! `failure_rate_min_requests` and at least `failure_rate_threshold` of them
//! are failures (with the defaults: 5 failures among 10 outcomes in 30 s).
//! Successes and failures both count; forced trips do not. The rule is
//! checked only when a failure is recorded, so a success never opens a key.
//!
//! Memory is bounded: each key keeps a ring of
//! [`BreakerConfig::RATE_BUCKETS`] buckets of `failure_rate_window /
//! RATE_BUCKETS` (two counters each), aligned to the breaker's creation; a
//! bucket expires as a whole. So an outcome is counted for between
//! `window × 9/10` and `window` after it happened — never longer than the
//! window. Closing a key (a successful probe, [`Breaker::reset`]) empties
//! its window, so failures from before an outage do not reopen it at once.
//!
//! # Panic admission
//!
//! When every key a caller could use is open, a caller that prefers trying
//! a failing key to failing outright (Envoy's "panic threshold") asks
//! [`Breaker::panic_candidate`] for the open key whose cooldown ends first
//! and takes [`Breaker::try_acquire_panic`] on it. A panic admission is the
//! key's probe: its success closes the key, its failure re-opens it with the
//! next penalty, and no other probe is let through meanwhile. Only keys open
//! for [`OpenReason::Failures`] qualify: a trip (bad credential, exhausted
//! quota) or an unexpired hint (the upstream said when to come back) is
//! never overridden.
//!
//! # `max_open_share`
//!
//! Like Envoy's `max_ejection_percent`: a key that reaches the failure
//! threshold (or the failure-rate rule) is opened only if, before opening it, the number of registered
//! keys that are not Closed is **strictly less than**
//! `max_open_share × registered keys` — or if **every other** registered key
//! is failing too (not Closed, or Closed with `consecutive_failures ≥
//! failure_threshold` or over the failure rate). Otherwise the key stays Closed, the suppression is
//! reported to [`Observer::key_open_suppressed`], and the next failure asks
//! again. With 10 keys and 0.5 at most 5 keys are opened by the threshold
//! while healthy keys remain; with 3 keys, 2 (the share is compared before
//! opening, so it rounds up); a single key can always be opened. Hints and
//! trips ignore the share.
//!
//! # Keys
//!
//! Keys are registered ([`Breaker::register`], [`Breaker::sync_keys`],
//! [`Breaker::restore`]) and removed at run time. An unregistered key is
//! always available, and outcomes recorded for it are ignored, so a late
//! outcome cannot bring a removed key back.
//!
//! ```
//! use std::time::Duration;
//! use rook_resilience::{Breaker, BreakerConfig, CircuitState};
//!
//! let breaker = Breaker::new(BreakerConfig { failure_threshold: 2, ..BreakerConfig::default() })?;
//! breaker.register("acct-a");
//! breaker.register("acct-b");
//!
//! let admission = breaker.try_acquire(&"acct-a").expect("closed keys admit");
//! admission.failure();
//! breaker.record_failure(&"acct-a");
//! assert_eq!(breaker.state(&"acct-a").map(|s| s.state), Some(CircuitState::Open));
//! assert!(!breaker.is_available(&"acct-a"));
//! assert!(breaker.try_acquire(&"acct-a").is_none());
//!
//! // a 429 with Retry-After: 30 opens at once
//! breaker.record_failure_with_hint(&"acct-b", Duration::from_secs(30));
//! assert!(!breaker.is_available(&"acct-b"));
//! # Ok::<(), rook_resilience::BreakerError>(())
//! ```

use std::collections::{HashMap, HashSet};
use std::fmt::Display;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::backoff::exp_ceiling;
use crate::clock::{Clock, SystemClock};
use crate::observer::{self, Observer};

pub use crate::events::{CircuitState, OpenReason};

/// Invalid breaker configuration.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BreakerError {
    /// `failure_threshold` is zero.
    #[error("failure_threshold must be at least 1")]
    ZeroThreshold,
    /// `cooldown_base` is zero.
    #[error("cooldown_base must be greater than zero")]
    ZeroCooldown,
    /// `cooldown_max` is below `cooldown_base`.
    #[error("cooldown_max ({max:?}) must not be smaller than cooldown_base ({base:?})")]
    CooldownMaxBelowBase {
        /// The configured base.
        base: Duration,
        /// The configured maximum.
        max: Duration,
    },
    /// `cooldown_jitter` is not within `0.0..=1.0`.
    #[error("cooldown_jitter must be within 0.0..=1.0, got {0}")]
    InvalidJitter(f64),
    /// `max_open_share` is not within `0.0..=1.0`.
    #[error("max_open_share must be within 0.0..=1.0, got {0}")]
    InvalidMaxOpenShare(f64),
    /// `probe_timeout` is zero.
    #[error("probe_timeout must be greater than zero")]
    ZeroProbeTimeout,
    /// `failure_rate_threshold` is not within `(0.0, 1.0]`.
    #[error("failure_rate_threshold must be within (0.0, 1.0], got {0}")]
    InvalidFailureRate(f64),
    /// `failure_rate_min_requests` is zero.
    #[error("failure_rate_min_requests must be at least 1")]
    ZeroFailureRateMinRequests,
    /// `failure_rate_window` is shorter than [`BreakerConfig::MIN_RATE_WINDOW`].
    #[error("failure_rate_window must be at least 10 ms, got {0:?}")]
    FailureRateWindowTooShort(Duration),
}

/// Breaker settings.
///
/// The [`Default`] suits a library user guarding a handful of hosts: open
/// after 5 consecutive failures (Envoy's `consecutive_5xx`) or when half of
/// at least 10 outcomes in 30 s failed; first cooldown 30 s, doubling up to
/// 300 s with 10 % jitter; at most half the keys opened by failures while
/// others are healthy. A caller with few keys that cannot afford to lose
/// one (the Rook gateway: often one account per route) should open later
/// and cool shorter; see `docs/resilience.md`. To turn the failure-rate rule
/// off, set `failure_rate_min_requests` to `u32::MAX`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerConfig {
    /// Consecutive failures that open a key. Default 5.
    pub failure_threshold: u32,
    /// Penalty of the first opening. Default 30 s.
    pub cooldown_base: Duration,
    /// Largest threshold penalty, and the clamp for retry-after hints.
    /// Default 300 s.
    pub cooldown_max: Duration,
    /// Up to this share of a threshold penalty is removed at random so keys
    /// opened together do not all probe at once (0.0 = none). Default 0.1.
    pub cooldown_jitter: f64,
    /// See the [module docs](self#max_open_share). Default 0.5.
    pub max_open_share: f64,
    /// After this long an unfinished probe is abandoned and another one is
    /// let through. Default 120 s.
    pub probe_timeout: Duration,
    /// Seed for the jitter, for reproducible tests. Default none.
    pub seed: Option<u64>,
    /// Share of failures among the outcomes in the window that opens a
    /// key; `(0.0, 1.0]`. See the [module docs](self#failure-rate).
    /// Default 0.5.
    pub failure_rate_threshold: f64,
    /// Fewest outcomes in the window for the failure-rate rule to apply;
    /// at least 1. Default 10.
    pub failure_rate_min_requests: u32,
    /// How long an outcome counts for the failure-rate rule; at least
    /// [`MIN_RATE_WINDOW`](Self::MIN_RATE_WINDOW). Default 30 s.
    pub failure_rate_window: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            cooldown_base: Duration::from_secs(30),
            cooldown_max: Duration::from_secs(300),
            cooldown_jitter: 0.1,
            max_open_share: 0.5,
            probe_timeout: Duration::from_secs(120),
            seed: None,
            failure_rate_threshold: 0.5,
            failure_rate_min_requests: 10,
            failure_rate_window: Duration::from_secs(30),
        }
    }
}

impl BreakerConfig {
    /// Buckets in each key's failure-rate window (each `window /
    /// RATE_BUCKETS` long).
    pub const RATE_BUCKETS: usize = 10;

    /// The shortest `failure_rate_window` accepted.
    pub const MIN_RATE_WINDOW: Duration = Duration::from_millis(10);

    /// Check the settings.
    ///
    /// # Errors
    /// A [`BreakerError`] for the first invalid field.
    pub fn validate(&self) -> Result<(), BreakerError> {
        if self.failure_threshold == 0 {
            return Err(BreakerError::ZeroThreshold);
        }
        if self.cooldown_base.is_zero() {
            return Err(BreakerError::ZeroCooldown);
        }
        if self.cooldown_max < self.cooldown_base {
            return Err(BreakerError::CooldownMaxBelowBase {
                base: self.cooldown_base,
                max: self.cooldown_max,
            });
        }
        if !(0.0..=1.0).contains(&self.cooldown_jitter) {
            return Err(BreakerError::InvalidJitter(self.cooldown_jitter));
        }
        if !(0.0..=1.0).contains(&self.max_open_share) {
            return Err(BreakerError::InvalidMaxOpenShare(self.max_open_share));
        }
        if self.probe_timeout.is_zero() {
            return Err(BreakerError::ZeroProbeTimeout);
        }
        if !(self.failure_rate_threshold > 0.0 && self.failure_rate_threshold <= 1.0) {
            return Err(BreakerError::InvalidFailureRate(
                self.failure_rate_threshold,
            ));
        }
        if self.failure_rate_min_requests == 0 {
            return Err(BreakerError::ZeroFailureRateMinRequests);
        }
        if self.failure_rate_window < Self::MIN_RATE_WINDOW {
            return Err(BreakerError::FailureRateWindowTooShort(
                self.failure_rate_window,
            ));
        }
        Ok(())
    }

    /// Whether `failures` among `outcomes` in the window open a key: at
    /// least `failure_rate_min_requests` outcomes and a failure share of at
    /// least `failure_rate_threshold` (compared with a tolerance of 10⁻⁹,
    /// so 3 of 10 meets 0.3).
    pub fn failure_rate_exceeded(&self, outcomes: u32, failures: u32) -> bool {
        outcomes >= self.failure_rate_min_requests
            && f64::from(failures) + 1e-9 >= self.failure_rate_threshold * f64::from(outcomes)
    }

    /// The un-jittered penalty for the `times_opened`-th opening (1-based):
    /// `cooldown_base × 2^(times_opened − 1)`, capped at `cooldown_max`.
    pub fn penalty(&self, times_opened: u32) -> Duration {
        exp_ceiling(
            self.cooldown_base,
            self.cooldown_max,
            times_opened.saturating_sub(1),
        )
    }
}

/// What a key's state looks like in persisted form, to carry cooldowns
/// across a restart. See [`Breaker::restore`] and [`KeySnapshot::persisted`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PersistedKey {
    /// `None`: the key was Closed. `Some(d)`: it was open with `d` of
    /// cooldown left (`Some(ZERO)`: the cooldown was over; the key comes
    /// back HalfOpen and must pass a probe).
    pub cooldown_remaining: Option<Duration>,
    /// Consecutive failures.
    pub consecutive_failures: u32,
    /// Consecutive openings (drives the next penalty).
    pub times_opened: u32,
}

/// A point-in-time view of one key, for status pages, metrics and
/// persistence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySnapshot<K> {
    /// The key.
    pub key: K,
    /// Its state at the time of the snapshot.
    pub state: CircuitState,
    /// Consecutive failures.
    pub consecutive_failures: u32,
    /// Consecutive openings since it was last closed by a success.
    pub times_opened: u32,
    /// When the cooldown ends (or ended, if HalfOpen); `None` if Closed.
    pub open_until: Option<Instant>,
    /// Cooldown left at the time of the snapshot; `None` if Closed.
    pub cooldown_remaining: Option<Duration>,
    /// Whether a probe is in flight (a half-open probe, or a
    /// [panic admission](Breaker::try_acquire_panic) on an open key).
    pub probe_in_flight: bool,
    /// Why the key is open or half-open; `None` if Closed.
    pub open_reason: Option<OpenReason>,
    /// Outcomes counted in the failure-rate window now.
    pub window_outcomes: u32,
    /// Failures among them.
    pub window_failures: u32,
}

impl<K> KeySnapshot<K> {
    /// The persisted form of this snapshot.
    pub fn persisted(&self) -> PersistedKey {
        PersistedKey {
            cooldown_remaining: self.cooldown_remaining,
            consecutive_failures: self.consecutive_failures,
            times_opened: self.times_opened,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Probe {
    token: u64,
    since: Instant,
}

/// One bucket of a failure-rate window.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    index: u64,
    outcomes: u32,
    failures: u32,
}

/// A key's failure-rate window: a ring of buckets, each tagged with the
/// bucket number it counts (a slot holding an older number is stale).
#[derive(Debug, Clone, Copy, Default)]
struct Window {
    slots: [Slot; BreakerConfig::RATE_BUCKETS],
}

impl Window {
    fn slot(index: u64) -> usize {
        (index % BreakerConfig::RATE_BUCKETS as u64) as usize
    }

    fn add(&mut self, index: u64, failure: bool) {
        let slot = &mut self.slots[Self::slot(index)];
        if slot.index != index {
            *slot = Slot {
                index,
                outcomes: 0,
                failures: 0,
            };
        }
        slot.outcomes = slot.outcomes.saturating_add(1);
        slot.failures = slot.failures.saturating_add(u32::from(failure));
    }

    /// `(outcomes, failures)` in the buckets `index − RATE_BUCKETS + 1 ..=
    /// index`.
    fn counts(&self, index: u64) -> (u32, u32) {
        let mut outcomes = 0u32;
        let mut failures = 0u32;
        for age in 0..BreakerConfig::RATE_BUCKETS as u64 {
            let Some(i) = index.checked_sub(age) else {
                break;
            };
            let slot = &self.slots[Self::slot(i)];
            if slot.index == i {
                outcomes = outcomes.saturating_add(slot.outcomes);
                failures = failures.saturating_add(slot.failures);
            }
        }
        (outcomes, failures)
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    consecutive_failures: u32,
    times_opened: u32,
    open_until: Option<Instant>,
    /// Why it is open (kept while HalfOpen); `None` when Closed.
    reason: Option<OpenReason>,
    probe: Option<Probe>,
    /// A probe was admitted in the current open period (for reporting
    /// Open → HalfOpen once).
    probed: bool,
    window: Window,
}

impl Entry {
    fn state(&self, now: Instant) -> CircuitState {
        match self.open_until {
            None => CircuitState::Closed,
            Some(until) if now < until => CircuitState::Open,
            Some(_) => CircuitState::HalfOpen,
        }
    }

    fn live_probe(&self, now: Instant, timeout: Duration) -> Option<Probe> {
        self.probe
            .filter(|p| p.since.checked_add(timeout).is_none_or(|end| now < end))
    }

    fn failing(&self, now: Instant, bucket: u64, config: &BreakerConfig) -> bool {
        if self.state(now) != CircuitState::Closed
            || self.consecutive_failures >= config.failure_threshold
        {
            return true;
        }
        let (outcomes, failures) = self.window.counts(bucket);
        config.failure_rate_exceeded(outcomes, failures)
    }

    fn close(&mut self) {
        *self = Entry::default();
    }
}

struct State<K> {
    keys: HashMap<K, Entry>,
    rng: fastrand::Rng,
    next_token: u64,
}

struct Shared<K> {
    config: BreakerConfig,
    state: Mutex<State<K>>,
    clock: Arc<dyn Clock>,
    observer: Arc<dyn Observer>,
    /// Failure-rate buckets are counted from here.
    origin: Instant,
    /// `failure_rate_window / RATE_BUCKETS` in nanoseconds (≥ 1).
    bucket_nanos: u128,
}

impl<K> Shared<K> {
    fn lock(&self) -> MutexGuard<'_, State<K>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The bounds a breaker key needs.
pub trait BreakerKey: Hash + Eq + Clone + Display + Send + Sync + 'static {}
impl<T: Hash + Eq + Clone + Display + Send + Sync + 'static> BreakerKey for T {}

/// A thread-safe registry of per-key circuit breakers. Cheap to clone (all
/// clones share state).
pub struct Breaker<K> {
    shared: Arc<Shared<K>>,
}

impl<K> Clone for Breaker<K> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<K> std::fmt::Debug for Breaker<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Breaker")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

enum Event {
    Success,
    Failure { hint: Option<Duration> },
    Trip(Duration),
}

/// What a recorded outcome did, reported after the lock is released.
#[derive(Default)]
struct Effects {
    changed: Option<(CircuitState, CircuitState)>,
    suppressed: bool,
}

impl<K: BreakerKey> Breaker<K> {
    /// An empty breaker on the system clock with no observer.
    ///
    /// # Errors
    /// If the configuration is invalid (see [`BreakerConfig::validate`]).
    pub fn new(config: BreakerConfig) -> Result<Self, BreakerError> {
        Self::with_parts(config, Arc::new(SystemClock), observer::noop())
    }

    /// An empty breaker reading `clock` and reporting to `observer`.
    ///
    /// # Errors
    /// If the configuration is invalid (see [`BreakerConfig::validate`]).
    pub fn with_parts(
        config: BreakerConfig,
        clock: Arc<dyn Clock>,
        observer: Arc<dyn Observer>,
    ) -> Result<Self, BreakerError> {
        config.validate()?;
        let rng = config
            .seed
            .map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed);
        let origin = clock.now();
        let bucket_nanos =
            (config.failure_rate_window.as_nanos() / BreakerConfig::RATE_BUCKETS as u128).max(1);
        Ok(Self {
            shared: Arc::new(Shared {
                config,
                state: Mutex::new(State {
                    keys: HashMap::new(),
                    rng,
                    next_token: 0,
                }),
                clock,
                observer,
                origin,
                bucket_nanos,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &BreakerConfig {
        &self.shared.config
    }

    fn now(&self) -> Instant {
        self.shared.clock.now()
    }

    /// The failure-rate bucket number of `now`.
    fn bucket(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.shared.origin).as_nanos();
        u64::try_from(elapsed / self.shared.bucket_nanos).unwrap_or(u64::MAX)
    }

    fn report(&self, key: &K, effects: Effects) {
        if let Some((from, to)) = effects.changed {
            self.shared.observer.key_state_changed(key, from, to);
        }
        if effects.suppressed {
            self.shared.observer.key_open_suppressed(key);
        }
    }

    /// Start tracking `key` (Closed). `false` if it was already registered
    /// (its state is kept).
    pub fn register(&self, key: K) -> bool {
        let mut state = self.shared.lock();
        if state.keys.contains_key(&key) {
            return false;
        }
        state.keys.insert(key, Entry::default());
        true
    }

    /// Stop tracking `key`. `false` if it was not registered.
    pub fn remove(&self, key: &K) -> bool {
        self.shared.lock().keys.remove(key).is_some()
    }

    /// Make the registered set exactly `keys`: new keys start Closed, kept
    /// keys keep their state, missing keys are removed.
    pub fn sync_keys<I: IntoIterator<Item = K>>(&self, keys: I) {
        let wanted: HashSet<K> = keys.into_iter().collect();
        let mut state = self.shared.lock();
        state.keys.retain(|k, _| wanted.contains(k));
        for key in wanted {
            state.keys.entry(key).or_default();
        }
    }

    /// Whether `key` is registered.
    pub fn contains(&self, key: &K) -> bool {
        self.shared.lock().keys.contains_key(key)
    }

    /// Number of registered keys.
    pub fn len(&self) -> usize {
        self.shared.lock().keys.len()
    }

    /// Whether no key is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a request to `key` would be admitted now, without taking
    /// anything: Closed, or HalfOpen with the probe slot free. Unregistered
    /// keys are available. Use it to filter candidates; call
    /// [`try_acquire`](Self::try_acquire) right before sending.
    pub fn is_available(&self, key: &K) -> bool {
        let now = self.now();
        let timeout = self.shared.config.probe_timeout;
        self.shared
            .lock()
            .keys
            .get(key)
            .is_none_or(|e| match e.state(now) {
                CircuitState::Closed => true,
                CircuitState::Open => false,
                CircuitState::HalfOpen => e.live_probe(now, timeout).is_none(),
            })
    }

    /// When `key` will next be available: `None` if it is available now;
    /// the end of the cooldown if Open; if HalfOpen with a probe in flight,
    /// the probe's timeout (an upper bound: the probe usually finishes
    /// sooner).
    pub fn available_at(&self, key: &K) -> Option<Instant> {
        let now = self.now();
        let timeout = self.shared.config.probe_timeout;
        let state = self.shared.lock();
        let entry = state.keys.get(key)?;
        match entry.state(now) {
            CircuitState::Closed => None,
            CircuitState::Open => entry.open_until,
            CircuitState::HalfOpen => entry
                .live_probe(now, timeout)
                .and_then(|p| p.since.checked_add(timeout)),
        }
    }

    /// Ask to send a request to `key` now. `None` if the key is Open, or
    /// HalfOpen with a probe already in flight. When HalfOpen, the returned
    /// admission is the probe: no other caller gets one until it reports,
    /// is dropped, or times out. Unregistered keys get a plain admission.
    pub fn try_acquire(&self, key: &K) -> Option<Admission<K>> {
        let now = self.now();
        let timeout = self.shared.config.probe_timeout;
        let mut effects = Effects::default();
        let probe = {
            let mut state = self.shared.lock();
            let token = state.next_token;
            let Some(entry) = state.keys.get_mut(key) else {
                return Some(self.admission(key, None));
            };
            match entry.state(now) {
                CircuitState::Closed => None,
                CircuitState::Open => return None,
                CircuitState::HalfOpen => {
                    if entry.live_probe(now, timeout).is_some() {
                        return None;
                    }
                    entry.probe = Some(Probe { token, since: now });
                    if !entry.probed {
                        entry.probed = true;
                        effects.changed = Some((CircuitState::Open, CircuitState::HalfOpen));
                    }
                    state.next_token = token.wrapping_add(1);
                    Some(token)
                }
            }
        };
        self.report(key, effects);
        Some(self.admission(key, probe))
    }

    /// Take a *panic admission* on `key`: permission to send one request to
    /// a key that is cooling down because of failures, for a caller whose
    /// every key is unavailable (see the [module docs](self#panic-admission)).
    /// The admission is the key's probe: its success closes the key, its
    /// failure re-opens it with the next penalty.
    ///
    /// `Some` only when no probe is in flight and the key is Open for
    /// [`OpenReason::Failures`], or HalfOpen (then it is the same probe
    /// [`try_acquire`](Self::try_acquire) would give). `None` for a Closed
    /// or unregistered key (use `try_acquire`), for a key open because of a
    /// [`trip`](Self::trip) or an unexpired hint, and while a probe is in
    /// flight.
    pub fn try_acquire_panic(&self, key: &K) -> Option<Admission<K>> {
        let now = self.now();
        let timeout = self.shared.config.probe_timeout;
        let mut effects = Effects::default();
        let token = {
            let mut state = self.shared.lock();
            let token = state.next_token;
            let entry = state.keys.get_mut(key)?;
            if entry.live_probe(now, timeout).is_some() {
                return None;
            }
            match entry.state(now) {
                CircuitState::Closed => return None,
                CircuitState::Open => {
                    if entry.reason != Some(OpenReason::Failures) {
                        return None;
                    }
                }
                CircuitState::HalfOpen => {
                    if !entry.probed {
                        entry.probed = true;
                        effects.changed = Some((CircuitState::Open, CircuitState::HalfOpen));
                    }
                }
            }
            entry.probe = Some(Probe { token, since: now });
            state.next_token = token.wrapping_add(1);
            token
        };
        self.report(key, effects);
        Some(self.admission(key, Some(token)))
    }

    /// Among `keys`, the one a [panic admission](Self::try_acquire_panic)
    /// should go to: the key whose cooldown ends first among those Open for
    /// [`OpenReason::Failures`] with no probe in flight (ties: the first in
    /// `keys`). `None` if no key qualifies. It does not check that the
    /// other keys are unavailable: call it when
    /// [`try_acquire`](Self::try_acquire) has refused every key.
    pub fn panic_candidate<'a, I>(&self, keys: I) -> Option<K>
    where
        I: IntoIterator<Item = &'a K>,
        K: 'a,
    {
        let now = self.now();
        let timeout = self.shared.config.probe_timeout;
        let state = self.shared.lock();
        let mut best: Option<(&K, Instant)> = None;
        for key in keys {
            let Some(entry) = state.keys.get(key) else {
                continue;
            };
            if entry.state(now) != CircuitState::Open
                || entry.reason != Some(OpenReason::Failures)
                || entry.live_probe(now, timeout).is_some()
            {
                continue;
            }
            let Some(until) = entry.open_until else {
                continue;
            };
            if best.is_none_or(|(_, b)| until < b) {
                best = Some((key, until));
            }
        }
        best.map(|(k, _)| k.clone())
    }

    /// Why `key` is Open or HalfOpen; `None` if it is Closed or not
    /// registered.
    pub fn open_reason(&self, key: &K) -> Option<OpenReason> {
        let now = self.now();
        let state = self.shared.lock();
        let entry = state.keys.get(key)?;
        match entry.state(now) {
            CircuitState::Closed => None,
            _ => entry.reason,
        }
    }

    fn admission(&self, key: &K, probe: Option<u64>) -> Admission<K> {
        Admission {
            breaker: self.clone(),
            key: key.clone(),
            probe,
            settled: false,
        }
    }

    /// Record a success for `key` outside an [`Admission`]: resets the
    /// consecutive failures. It does not close an Open or HalfOpen key
    /// (only a probe's success does), so callers must send through
    /// [`try_acquire`](Self::try_acquire) for a key to recover; these
    /// `record_*` methods are for outcomes learned out of band.
    pub fn record_success(&self, key: &K) {
        self.record(key, None, Event::Success);
    }

    /// Record a failure for `key` outside an [`Admission`]: counts towards
    /// the threshold and the failure rate if the key is Closed.
    pub fn record_failure(&self, key: &K) {
        self.record(key, None, Event::Failure { hint: None });
    }

    /// Record a failure that came with a retry-after hint: the key opens at
    /// once for `hint` (clamped to `cooldown_max`), whatever the threshold
    /// and `max_open_share`. An already longer cooldown is kept.
    pub fn record_failure_with_hint(&self, key: &K, hint: Duration) {
        self.record(key, None, Event::Failure { hint: Some(hint) });
    }

    /// Force `key` open for `duration` (not clamped), for failures that
    /// time will not fix soon: a rejected credential, an exhausted quota.
    /// An already longer cooldown is kept.
    pub fn trip(&self, key: &K, duration: Duration) {
        self.record(key, None, Event::Trip(duration));
    }

    /// Close `key` now and forget its history (an operator's "reset").
    pub fn reset(&self, key: &K) {
        let now = self.now();
        let from = {
            let mut state = self.shared.lock();
            let Some(entry) = state.keys.get_mut(key) else {
                return;
            };
            let from = entry.state(now);
            entry.close();
            from
        };
        if from != CircuitState::Closed {
            self.report(
                key,
                Effects {
                    changed: Some((from, CircuitState::Closed)),
                    suppressed: false,
                },
            );
        }
    }

    /// Register `key` (if needed) with persisted state, relative to now.
    /// See [`PersistedKey`]. A key restored open is open for
    /// [`OpenReason::Failures`]; use
    /// [`restore_with_reason`](Self::restore_with_reason) when the reason is
    /// known (a restored trip should not be open to panic admissions).
    pub fn restore(&self, key: K, persisted: PersistedKey) {
        self.restore_with_reason(key, persisted, OpenReason::Failures);
    }

    /// [`restore`](Self::restore), with the reason the key was open for
    /// (ignored if `persisted` is Closed). The failure-rate window starts
    /// empty.
    pub fn restore_with_reason(&self, key: K, persisted: PersistedKey, reason: OpenReason) {
        let now = self.now();
        let (from, to) = {
            let mut state = self.shared.lock();
            let entry = state.keys.entry(key.clone()).or_default();
            let from = entry.state(now);
            *entry = Entry {
                consecutive_failures: persisted.consecutive_failures,
                times_opened: persisted.times_opened,
                open_until: persisted
                    .cooldown_remaining
                    .map(|d| now.checked_add(d).unwrap_or(now)),
                reason: persisted.cooldown_remaining.map(|_| reason),
                probe: None,
                probed: false,
                window: Window::default(),
            };
            (from, entry.state(now))
        };
        if from != to {
            self.report(
                &key,
                Effects {
                    changed: Some((from, to)),
                    suppressed: false,
                },
            );
        }
    }

    /// The state of `key`, or `None` if it is not registered.
    pub fn state(&self, key: &K) -> Option<KeySnapshot<K>> {
        let now = self.now();
        let bucket = self.bucket(now);
        let timeout = self.shared.config.probe_timeout;
        let state = self.shared.lock();
        state
            .keys
            .get(key)
            .map(|e| snapshot_of(key, e, now, bucket, timeout))
    }

    /// The state of every registered key (in no particular order).
    pub fn snapshot(&self) -> Vec<KeySnapshot<K>> {
        let now = self.now();
        let bucket = self.bucket(now);
        let timeout = self.shared.config.probe_timeout;
        let state = self.shared.lock();
        state
            .keys
            .iter()
            .map(|(k, e)| snapshot_of(k, e, now, bucket, timeout))
            .collect()
    }

    fn record(&self, key: &K, probe: Option<u64>, event: Event) {
        let now = self.now();
        let bucket = self.bucket(now);
        let config = &self.shared.config;
        let mut effects = Effects::default();
        {
            let mut guard = self.shared.lock();
            let state = &mut *guard;
            let share_allows = match event {
                Event::Failure { hint: None } => open_share_allows(state, key, now, bucket, config),
                _ => true,
            };
            let Some(entry) = state.keys.get_mut(key) else {
                return;
            };
            let from = entry.state(now);
            let is_probe = probe.is_some() && entry.probe.map(|p| p.token) == probe;
            if is_probe {
                entry.probe = None;
            }
            // Open `entry` for `cooldown`. A key already Open keeps the
            // longer cooldown (and the reason of the longer one) and its
            // `times_opened`, unless `next_period` (a failed probe).
            let open = |entry: &mut Entry,
                        cooldown: Duration,
                        reason: OpenReason,
                        rng: &mut fastrand::Rng,
                        jitter: bool,
                        next_period: bool| {
                let cooldown = if jitter && config.cooldown_jitter > 0.0 {
                    cooldown.mul_f64(1.0 - config.cooldown_jitter * rng.f64())
                } else {
                    cooldown
                };
                let until = Some(now.checked_add(cooldown).unwrap_or(now));
                // any other outcome invalidates an in-flight (panic) probe
                entry.probe = None;
                if from == CircuitState::Open && !next_period {
                    if until > entry.open_until {
                        entry.open_until = until;
                        entry.reason = Some(reason);
                    }
                    return;
                }
                entry.times_opened = entry.times_opened.saturating_add(1);
                entry.probed = false;
                if from != CircuitState::Open || until > entry.open_until {
                    entry.open_until = until;
                    entry.reason = Some(reason);
                }
            };
            match event {
                Event::Success => {
                    entry.consecutive_failures = 0;
                    entry.window.add(bucket, false);
                    if is_probe {
                        entry.close();
                    }
                }
                Event::Failure { hint } => {
                    entry.consecutive_failures = entry.consecutive_failures.saturating_add(1);
                    entry.window.add(bucket, true);
                    let (outcomes, failures) = entry.window.counts(bucket);
                    let over_limit = entry.consecutive_failures >= config.failure_threshold
                        || config.failure_rate_exceeded(outcomes, failures);
                    if let Some(hint) = hint {
                        let cooldown = hint.min(config.cooldown_max);
                        open(
                            entry,
                            cooldown,
                            OpenReason::Hint,
                            &mut state.rng,
                            false,
                            false,
                        );
                    } else if is_probe && from != CircuitState::Closed {
                        let penalty = config.penalty(entry.times_opened.saturating_add(1));
                        open(
                            entry,
                            penalty,
                            OpenReason::Failures,
                            &mut state.rng,
                            true,
                            true,
                        );
                    } else if from == CircuitState::Closed && over_limit {
                        if share_allows {
                            let penalty = config.penalty(entry.times_opened.saturating_add(1));
                            open(
                                entry,
                                penalty,
                                OpenReason::Failures,
                                &mut state.rng,
                                true,
                                false,
                            );
                        } else {
                            effects.suppressed = true;
                        }
                    }
                }
                Event::Trip(duration) => {
                    open(
                        entry,
                        duration,
                        OpenReason::Trip,
                        &mut state.rng,
                        false,
                        false,
                    );
                }
            }
            let to = entry.state(now);
            if from != to {
                effects.changed = Some((from, to));
            }
        }
        self.report(key, effects);
    }
}

/// Whether opening `key` by the threshold or the failure rate respects
/// `max_open_share`.
fn open_share_allows<K: BreakerKey>(
    state: &State<K>,
    key: &K,
    now: Instant,
    bucket: u64,
    config: &BreakerConfig,
) -> bool {
    let total = state.keys.len();
    let open = state
        .keys
        .values()
        .filter(|e| e.state(now) != CircuitState::Closed)
        .count();
    if (open as f64) < config.max_open_share * total as f64 {
        return true;
    }
    state
        .keys
        .iter()
        .filter(|(k, _)| *k != key)
        .all(|(_, e)| e.failing(now, bucket, config))
}

fn snapshot_of<K: Clone>(
    key: &K,
    entry: &Entry,
    now: Instant,
    bucket: u64,
    timeout: Duration,
) -> KeySnapshot<K> {
    let state = entry.state(now);
    let (window_outcomes, window_failures) = entry.window.counts(bucket);
    KeySnapshot {
        key: key.clone(),
        state,
        consecutive_failures: entry.consecutive_failures,
        times_opened: entry.times_opened,
        open_until: entry.open_until,
        cooldown_remaining: entry.open_until.map(|u| u.saturating_duration_since(now)),
        probe_in_flight: state != CircuitState::Closed && entry.live_probe(now, timeout).is_some(),
        open_reason: match state {
            CircuitState::Closed => None,
            _ => entry.reason,
        },
        window_outcomes,
        window_failures,
    }
}

/// Permission to send one request to a key, from
/// [`Breaker::try_acquire`]. Report how it went with
/// [`success`](Self::success), [`failure`](Self::failure),
/// [`failure_with_hint`](Self::failure_with_hint) or [`trip`](Self::trip).
/// Dropping it without a report records nothing and, for a probe, frees the
/// probe slot so another caller can probe. `'static + Send`: it can travel
/// with a streaming response.
#[must_use = "report the outcome; dropping the admission records nothing"]
pub struct Admission<K: BreakerKey> {
    breaker: Breaker<K>,
    key: K,
    probe: Option<u64>,
    settled: bool,
}

impl<K: BreakerKey + std::fmt::Debug> std::fmt::Debug for Admission<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admission")
            .field("key", &self.key)
            .field("probe", &self.probe.is_some())
            .finish()
    }
}

impl<K: BreakerKey> Admission<K> {
    /// The key admitted.
    pub fn key(&self) -> &K {
        &self.key
    }

    /// Whether this is the half-open probe (its outcome decides the key).
    pub fn is_probe(&self) -> bool {
        self.probe.is_some()
    }

    fn settle(mut self, event: Event) {
        self.settled = true;
        self.breaker.record(&self.key, self.probe, event);
    }

    /// The request succeeded. A probe's success closes the key.
    pub fn success(self) {
        self.settle(Event::Success);
    }

    /// The request failed. A probe's failure re-opens the key with the next
    /// penalty.
    pub fn failure(self) {
        self.settle(Event::Failure { hint: None });
    }

    /// The request failed with a retry-after hint (see
    /// [`Breaker::record_failure_with_hint`]).
    pub fn failure_with_hint(self, hint: Duration) {
        self.settle(Event::Failure { hint: Some(hint) });
    }

    /// Force the key open (see [`Breaker::trip`]).
    pub fn trip(self, duration: Duration) {
        self.settle(Event::Trip(duration));
    }

    /// Drop without an outcome (the request was cancelled or never sent).
    /// Same as dropping it.
    pub fn release(self) {}
}

impl<K: BreakerKey> Drop for Admission<K> {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        if let Some(token) = self.probe {
            let mut state = self.breaker.shared.lock();
            if let Some(entry) = state.keys.get_mut(&self.key) {
                if entry.probe.is_some_and(|p| p.token == token) {
                    entry.probe = None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn config(threshold: u32) -> BreakerConfig {
        BreakerConfig {
            failure_threshold: threshold,
            cooldown_base: secs(10),
            cooldown_max: secs(60),
            cooldown_jitter: 0.0,
            max_open_share: 1.0,
            probe_timeout: secs(30),
            seed: Some(1),
            ..BreakerConfig::default()
        }
    }

    fn breaker(config: BreakerConfig, clock: &ManualClock) -> Breaker<&'static str> {
        Breaker::with_parts(config, Arc::new(clock.clone()), observer::noop()).unwrap()
    }

    fn state(b: &Breaker<&'static str>, k: &'static str) -> CircuitState {
        b.state(&k).unwrap().state
    }

    #[test]
    fn validation() {
        let ok = config(1);
        let bad = |c: BreakerConfig| Breaker::<u32>::new(c).unwrap_err();
        assert_eq!(
            bad(BreakerConfig {
                failure_threshold: 0,
                ..ok
            }),
            BreakerError::ZeroThreshold
        );
        assert_eq!(
            bad(BreakerConfig {
                cooldown_base: Duration::ZERO,
                ..ok
            }),
            BreakerError::ZeroCooldown
        );
        assert!(matches!(
            bad(BreakerConfig {
                cooldown_max: secs(1),
                ..ok
            }),
            BreakerError::CooldownMaxBelowBase { .. }
        ));
        assert!(matches!(
            bad(BreakerConfig {
                cooldown_jitter: 1.5,
                ..ok
            }),
            BreakerError::InvalidJitter(_)
        ));
        assert!(matches!(
            bad(BreakerConfig {
                max_open_share: f64::NAN,
                ..ok
            }),
            BreakerError::InvalidMaxOpenShare(_)
        ));
        assert_eq!(
            bad(BreakerConfig {
                probe_timeout: Duration::ZERO,
                ..ok
            }),
            BreakerError::ZeroProbeTimeout
        );
    }

    #[test]
    fn penalty_doubles_up_to_the_cap() {
        let c = config(1);
        let p: Vec<_> = (1..=5).map(|n| c.penalty(n)).collect();
        assert_eq!(p, [10, 20, 40, 60, 60].map(secs));
        assert_eq!(c.penalty(u32::MAX), secs(60));
    }

    #[test]
    fn threshold_open_probe_and_close() {
        let clock = ManualClock::new();
        let b = breaker(config(3), &clock);
        b.register("a");
        b.record_failure(&"a");
        b.record_failure(&"a");
        b.record_success(&"a");
        b.record_failure(&"a");
        b.record_failure(&"a");
        assert_eq!(
            state(&b, "a"),
            CircuitState::Closed,
            "success reset the count"
        );
        b.record_failure(&"a");
        assert_eq!(state(&b, "a"), CircuitState::Open);
        assert_eq!(b.available_at(&"a"), Some(clock.now() + secs(10)));
        assert!(b.try_acquire(&"a").is_none());

        clock.advance(secs(10));
        assert_eq!(state(&b, "a"), CircuitState::HalfOpen);
        assert!(b.is_available(&"a"));
        let probe = b.try_acquire(&"a").unwrap();
        assert!(probe.is_probe());
        assert!(!b.is_available(&"a"));
        assert!(b.try_acquire(&"a").is_none(), "only one probe");
        probe.failure();
        assert_eq!(state(&b, "a"), CircuitState::Open);
        assert_eq!(b.state(&"a").unwrap().times_opened, 2);
        assert_eq!(b.available_at(&"a"), Some(clock.now() + secs(20)));

        clock.advance(secs(20));
        let probe = b.try_acquire(&"a").unwrap();
        probe.success();
        let snap = b.state(&"a").unwrap();
        assert_eq!(snap.state, CircuitState::Closed);
        assert_eq!((snap.times_opened, snap.consecutive_failures), (0, 0));
        assert!(b.try_acquire(&"a").is_some_and(|a| !a.is_probe()));
    }

    #[test]
    fn dropped_probe_frees_the_slot_and_stale_probe_times_out() {
        let clock = ManualClock::new();
        let b = breaker(config(1), &clock);
        b.register("a");
        b.record_failure(&"a");
        clock.advance(secs(10));
        let probe = b.try_acquire(&"a").unwrap();
        drop(probe);
        assert!(b.is_available(&"a"));
        let probe = b.try_acquire(&"a").unwrap();
        std::mem::forget(probe);
        assert!(!b.is_available(&"a"));
        assert_eq!(b.available_at(&"a"), Some(clock.now() + secs(30)));
        clock.advance(secs(30));
        let fresh = b.try_acquire(&"a").unwrap();
        assert!(fresh.is_probe());
        fresh.success();
        assert_eq!(state(&b, "a"), CircuitState::Closed);
    }

    #[test]
    fn stale_probe_outcome_is_ignored() {
        let clock = ManualClock::new();
        let b = breaker(config(1), &clock);
        b.register("a");
        b.record_failure(&"a");
        clock.advance(secs(10));
        let old = b.try_acquire(&"a").unwrap();
        clock.advance(secs(30)); // old probe timed out
        let new = b.try_acquire(&"a").unwrap();
        old.success(); // must not close: it is no longer the probe
        assert_eq!(state(&b, "a"), CircuitState::HalfOpen);
        assert!(
            b.try_acquire(&"a").is_none(),
            "new probe still holds the slot"
        );
        new.failure();
        assert_eq!(state(&b, "a"), CircuitState::Open);
    }

    #[test]
    fn hints_and_trips_open_regardless() {
        let clock = ManualClock::new();
        let b = breaker(
            BreakerConfig {
                max_open_share: 0.0,
                ..config(5)
            },
            &clock,
        );
        b.register("a");
        b.register("b");
        b.record_failure_with_hint(&"a", secs(3));
        assert_eq!(b.available_at(&"a"), Some(clock.now() + secs(3)));
        b.record_failure_with_hint(&"a", secs(1));
        assert_eq!(
            b.available_at(&"a"),
            Some(clock.now() + secs(3)),
            "longer kept"
        );
        b.record_failure_with_hint(&"b", secs(3600));
        assert_eq!(
            b.available_at(&"b"),
            Some(clock.now() + secs(60)),
            "clamped"
        );
        b.trip(&"b", secs(3600));
        assert_eq!(
            b.available_at(&"b"),
            Some(clock.now() + secs(3600)),
            "trip not clamped"
        );
        assert_eq!(b.state(&"b").unwrap().times_opened, 1);
    }

    #[test]
    fn non_probe_outcomes_do_not_close_an_open_key() {
        let clock = ManualClock::new();
        let b = breaker(config(1), &clock);
        b.register("a");
        let early = b.try_acquire(&"a").unwrap();
        b.record_failure(&"a");
        early.success();
        assert_eq!(state(&b, "a"), CircuitState::Open);
        assert_eq!(b.state(&"a").unwrap().consecutive_failures, 0);
    }

    #[test]
    fn max_open_share_limits_threshold_opens() {
        let clock = ManualClock::new();
        let b = breaker(
            BreakerConfig {
                max_open_share: 0.5,
                ..config(1)
            },
            &clock,
        );
        for k in ["a", "b", "c", "d"] {
            b.register(k);
        }
        b.record_failure(&"a");
        b.record_failure(&"b");
        b.record_failure(&"c");
        assert_eq!(state(&b, "a"), CircuitState::Open);
        assert_eq!(state(&b, "b"), CircuitState::Open);
        assert_eq!(state(&b, "c"), CircuitState::Closed, "2 of 4 already open");
        // once the last healthy key fails too, everything is failing
        b.record_failure(&"d");
        assert_eq!(state(&b, "d"), CircuitState::Open);
        b.record_failure(&"c");
        assert_eq!(state(&b, "c"), CircuitState::Open);
    }

    #[test]
    fn single_key_can_always_open() {
        let clock = ManualClock::new();
        let b = breaker(
            BreakerConfig {
                max_open_share: 0.0,
                ..config(1)
            },
            &clock,
        );
        b.register("only");
        b.record_failure(&"only");
        assert_eq!(state(&b, "only"), CircuitState::Open);
    }

    #[test]
    fn unregistered_keys_and_runtime_changes() {
        let clock = ManualClock::new();
        let b = breaker(config(1), &clock);
        assert!(b.is_available(&"ghost"));
        assert!(b.try_acquire(&"ghost").is_some());
        b.record_failure(&"ghost");
        assert!(
            b.state(&"ghost").is_none(),
            "outcomes for unknown keys are ignored"
        );
        assert!(b.register("a"));
        assert!(!b.register("a"));
        b.record_failure(&"a");
        b.sync_keys(["a", "b"]);
        assert_eq!(b.len(), 2);
        assert_eq!(state(&b, "a"), CircuitState::Open, "kept keys keep state");
        b.sync_keys(["b"]);
        assert!(!b.contains(&"a"));
        assert!(b.remove(&"b"));
        assert!(b.is_empty());
    }

    #[test]
    fn snapshot_and_restore_round_trip() {
        let clock = ManualClock::new();
        let b = breaker(config(2), &clock);
        b.register("a");
        b.register("b");
        b.record_failure(&"a");
        b.record_failure(&"a");
        b.record_failure(&"b");
        clock.advance(secs(4));
        let mut snap = b.snapshot();
        snap.sort_by_key(|s| s.key);
        assert_eq!(
            snap[0].persisted(),
            PersistedKey {
                cooldown_remaining: Some(secs(6)),
                consecutive_failures: 2,
                times_opened: 1,
            }
        );
        assert_eq!(
            snap[1].persisted(),
            PersistedKey {
                cooldown_remaining: None,
                consecutive_failures: 1,
                times_opened: 0,
            }
        );

        let restarted_clock = ManualClock::new();
        let restarted = breaker(config(2), &restarted_clock);
        for s in &snap {
            restarted.restore(s.key, s.persisted());
        }
        assert_eq!(state(&restarted, "a"), CircuitState::Open);
        assert_eq!(
            restarted.available_at(&"a"),
            Some(restarted_clock.now() + secs(6))
        );
        restarted.record_failure(&"b");
        assert_eq!(
            state(&restarted, "b"),
            CircuitState::Open,
            "failure count kept"
        );
        // a cooldown that ran out while down comes back half-open
        restarted.restore(
            "c",
            PersistedKey {
                cooldown_remaining: Some(Duration::ZERO),
                ..PersistedKey::default()
            },
        );
        assert_eq!(state(&restarted, "c"), CircuitState::HalfOpen);
        assert!(restarted.try_acquire(&"c").is_some_and(|a| a.is_probe()));
    }

    #[test]
    fn jitter_shortens_within_bounds() {
        let clock = ManualClock::new();
        let b = breaker(
            BreakerConfig {
                cooldown_jitter: 0.5,
                ..config(1)
            },
            &clock,
        );
        for i in 0..50u32 {
            let k: &'static str = Box::leak(i.to_string().into_boxed_str());
            b.register(k);
            b.record_failure(&k);
            let until = b.available_at(&k).unwrap();
            let d = until - clock.now();
            assert!(d >= secs(5) && d <= secs(10), "{d:?}");
        }
    }

    #[test]
    fn observer_sees_transitions() {
        #[derive(Default)]
        struct Log(Mutex<Vec<String>>);
        impl Observer for Log {
            fn key_state_changed(&self, key: &dyn Display, from: CircuitState, to: CircuitState) {
                self.0.lock().unwrap().push(format!("{key}:{from}->{to}"));
            }
            fn key_open_suppressed(&self, key: &dyn Display) {
                self.0.lock().unwrap().push(format!("{key}:suppressed"));
            }
        }
        let clock = ManualClock::new();
        let log = Arc::new(Log::default());
        let b = Breaker::with_parts(
            BreakerConfig {
                max_open_share: 0.5,
                ..config(1)
            },
            Arc::new(clock.clone()),
            log.clone(),
        )
        .unwrap();
        b.register("a");
        b.register("b");
        b.register("c");
        b.register("d");
        b.record_failure(&"a");
        b.record_failure(&"b");
        b.record_failure(&"c");
        clock.advance(secs(10));
        b.try_acquire(&"a").unwrap().failure();
        clock.advance(secs(20));
        b.try_acquire(&"a").unwrap().success();
        b.reset(&"b");
        assert_eq!(
            *log.0.lock().unwrap(),
            [
                "a:closed->open",
                "b:closed->open",
                "c:suppressed",
                "a:open->half_open",
                "a:half_open->open",
                "a:open->half_open",
                "a:half_open->closed",
                "b:half_open->closed",
            ]
        );
    }

    /// `config(threshold)` with the failure-rate rule as given.
    fn rate_config(threshold: u32, rate: f64, min: u32, window: u64) -> BreakerConfig {
        BreakerConfig {
            failure_rate_threshold: rate,
            failure_rate_min_requests: min,
            failure_rate_window: secs(window),
            ..config(threshold)
        }
    }

    /// Play `outcomes` ('F' failure, 'S' success, '.' one second passes)
    /// on a fresh key "a"; its state at the end.
    fn play(config: BreakerConfig, outcomes: &str) -> CircuitState {
        let clock = ManualClock::new();
        let b = breaker(config, &clock);
        b.register("a");
        for c in outcomes.chars() {
            match c {
                'F' => b.record_failure(&"a"),
                'S' => b.record_success(&"a"),
                '.' => clock.advance(secs(1)),
                _ => {}
            }
        }
        state(&b, "a")
    }

    #[test]
    fn consecutive_and_rate_rules() {
        use CircuitState::{Closed, Open};
        // threshold 3; rate 50 % of at least 10 in 30 s (the gateway's defaults)
        let gateway = rate_config(3, 0.5, 10, 30);
        let cases: &[(&str, BreakerConfig, &str, CircuitState)] = &[
            ("3 consecutive failures open", gateway, "FFF", Open),
            ("2 consecutive failures do not", gateway, "FF", Closed),
            ("a success resets the count", gateway, "FFSFF", Closed),
            ("5 failures of 10 open", gateway, "SFSFSFSFSF", Open),
            (
                "5 of 10 over 25 s open",
                gateway,
                "SF.....SF.....SF.....SF.....SF",
                Open,
            ),
            ("4 failures of 10 do not", gateway, "SSFSFSSFSF", Closed),
            (
                "5 failures of 9 do not (too few)",
                gateway,
                "FSFSFSFSF",
                Closed,
            ),
            (
                "6 of 12 open (5 of 11 did not)",
                gateway,
                "SSFSFSFSFSFF",
                Open,
            ),
            ("a success never opens", gateway, "SFSFSFSFSFS", Open),
            (
                "failures outside the window do not count",
                gateway,
                "SFSFSF..............................SFSF",
                Closed,
            ),
            (
                "only the window's outcomes count",
                gateway,
                "SSSSSSSSSS..............................SFSFSFSFSF",
                Open,
            ),
            (
                "a lower rate opens sooner",
                rate_config(3, 0.3, 10, 30),
                "SSFSSFSSSF",
                Open,
            ),
            (
                "min 1: one failure is 100 %",
                rate_config(5, 1.0, 1, 30),
                "F",
                Open,
            ),
            (
                "rate 1.0 needs every outcome failed",
                rate_config(50, 1.0, 4, 30),
                "FFFSFFF",
                Closed,
            ),
        ];
        for (name, config, outcomes, want) in cases {
            assert_eq!(play(*config, outcomes), *want, "{name}: {outcomes}");
        }
    }

    #[test]
    fn rate_window_expires_by_buckets_never_later_than_the_window() {
        // window 10 s = 10 buckets of 1 s; 9 outcomes at t=0.5
        let clock = ManualClock::new();
        let b = breaker(rate_config(100, 0.5, 10, 10), &clock);
        b.register("a");
        clock.advance(Duration::from_millis(500));
        for _ in 0..9 {
            b.record_failure(&"a");
        }
        assert_eq!(b.state(&"a").unwrap().window_failures, 9);
        clock.advance(Duration::from_millis(9_400)); // t = 9.9 s: still counted
        assert_eq!(b.state(&"a").unwrap().window_outcomes, 9);
        clock.advance(Duration::from_millis(100)); // t = 10 s: the bucket expired
        assert_eq!(b.state(&"a").unwrap().window_outcomes, 0);
        b.record_failure(&"a");
        assert_eq!(state(&b, "a"), CircuitState::Closed);
    }

    #[test]
    fn closing_empties_the_window() {
        let clock = ManualClock::new();
        let b = breaker(rate_config(100, 0.5, 4, 30), &clock);
        b.register("a");
        for _ in 0..4 {
            b.record_failure(&"a");
        }
        assert_eq!(state(&b, "a"), CircuitState::Open);
        clock.advance(secs(10));
        b.try_acquire(&"a").unwrap().success();
        let snap = b.state(&"a").unwrap();
        assert_eq!((snap.window_outcomes, snap.window_failures), (0, 0));
        b.record_failure(&"a");
        assert_eq!(state(&b, "a"), CircuitState::Closed);
    }

    #[test]
    fn rate_opens_respect_max_open_share() {
        let clock = ManualClock::new();
        let b = breaker(
            BreakerConfig {
                max_open_share: 0.5,
                ..rate_config(100, 0.5, 2, 30)
            },
            &clock,
        );
        for k in ["a", "b", "c", "d"] {
            b.register(k);
        }
        for k in ["a", "b", "c"] {
            b.record_success(&k);
            b.record_failure(&k);
        }
        assert_eq!(state(&b, "a"), CircuitState::Open);
        assert_eq!(state(&b, "b"), CircuitState::Open);
        assert_eq!(
            state(&b, "c"),
            CircuitState::Closed,
            "2 of 4 open; d is healthy"
        );
        b.record_success(&"d");
        b.record_failure(&"d");
        assert_eq!(
            state(&b, "d"),
            CircuitState::Open,
            "everyone else is failing"
        );
        b.record_failure(&"c");
        assert_eq!(state(&b, "c"), CircuitState::Open);
    }

    #[test]
    fn open_reasons() {
        let clock = ManualClock::new();
        let b = breaker(config(1), &clock);
        for k in ["f", "h", "t", "c"] {
            b.register(k);
        }
        b.record_failure(&"f");
        b.record_failure_with_hint(&"h", secs(5));
        b.trip(&"t", secs(3600));
        let reasons: Vec<_> = ["f", "h", "t", "c", "ghost"]
            .iter()
            .map(|k| b.open_reason(k))
            .collect();
        assert_eq!(
            reasons,
            [
                Some(OpenReason::Failures),
                Some(OpenReason::Hint),
                Some(OpenReason::Trip),
                None,
                None
            ]
        );
        assert_eq!(b.state(&"t").unwrap().open_reason, Some(OpenReason::Trip));
        // the longer cooldown decides the reason
        b.trip(&"f", secs(3600));
        assert_eq!(b.open_reason(&"f"), Some(OpenReason::Trip));
        b.record_failure_with_hint(&"t", secs(30));
        assert_eq!(b.open_reason(&"t"), Some(OpenReason::Trip), "shorter hint");
        b.record_failure_with_hint(&"h", secs(50));
        assert_eq!(b.open_reason(&"h"), Some(OpenReason::Hint));
        // still known while half-open, gone once closed
        clock.advance(secs(50));
        assert_eq!(state(&b, "h"), CircuitState::HalfOpen);
        assert_eq!(b.open_reason(&"h"), Some(OpenReason::Hint));
        b.try_acquire(&"h").unwrap().success();
        assert_eq!(b.open_reason(&"h"), None);
    }

    #[test]
    fn panic_admission_rules() {
        let clock = ManualClock::new();
        let b = breaker(config(1), &clock);
        for k in ["fail", "hint", "trip", "closed"] {
            b.register(k);
        }
        b.record_failure(&"fail");
        b.record_failure_with_hint(&"hint", secs(5));
        b.trip(&"trip", secs(3600));
        assert!(b.try_acquire_panic(&"hint").is_none(), "unexpired hint");
        assert!(b.try_acquire_panic(&"trip").is_none(), "trip");
        assert!(
            b.try_acquire_panic(&"closed").is_none(),
            "closed: use try_acquire"
        );
        assert!(b.try_acquire_panic(&"ghost").is_none(), "unregistered");

        let panic = b.try_acquire_panic(&"fail").unwrap();
        assert!(panic.is_probe());
        assert!(b.state(&"fail").unwrap().probe_in_flight);
        assert!(
            b.try_acquire_panic(&"fail").is_none(),
            "one probe at a time"
        );
        assert!(
            b.try_acquire(&"fail").is_none(),
            "still open for everyone else"
        );
        drop(panic);
        assert!(
            b.try_acquire_panic(&"fail").is_some_and(|p| p.is_probe()),
            "slot freed"
        );

        // failure: re-opened with the next penalty (10 s → 20 s)
        clock.advance(secs(3));
        b.try_acquire_panic(&"fail").unwrap().failure();
        let snap = b.state(&"fail").unwrap();
        assert_eq!(snap.times_opened, 2);
        assert_eq!(snap.open_until, Some(clock.now() + secs(20)));
        assert_eq!(snap.open_reason, Some(OpenReason::Failures));

        // success: closed
        b.try_acquire_panic(&"fail").unwrap().success();
        let snap = b.state(&"fail").unwrap();
        assert_eq!(snap.state, CircuitState::Closed);
        assert_eq!((snap.times_opened, snap.open_reason), (0, None));

        // an expired hint is half-open: the panic admission is the ordinary probe
        clock.advance(secs(5));
        let probe = b.try_acquire_panic(&"hint").unwrap();
        assert!(b.try_acquire(&"hint").is_none(), "the probe is taken");
        probe.success();
        assert_eq!(state(&b, "hint"), CircuitState::Closed);
    }

    #[test]
    fn panic_probe_is_invalidated_by_a_trip_and_times_out() {
        let clock = ManualClock::new();
        let b = breaker(config(1), &clock);
        b.register("a");
        b.record_failure(&"a");
        let panic = b.try_acquire_panic(&"a").unwrap();
        b.trip(&"a", secs(3600));
        panic.success();
        assert_eq!(b.open_reason(&"a"), Some(OpenReason::Trip), "trip kept");

        b.register("b");
        b.record_failure(&"b");
        std::mem::forget(b.try_acquire_panic(&"b").unwrap());
        assert!(b.try_acquire_panic(&"b").is_none());
        clock.advance(secs(9));
        assert!(b.try_acquire_panic(&"b").is_none(), "probe_timeout is 30 s");
        clock.advance(secs(21));
        assert!(
            b.try_acquire_panic(&"b").is_some(),
            "abandoned after probe_timeout"
        );
    }

    #[test]
    fn panic_candidate_picks_the_earliest_failure_cooldown() {
        let clock = ManualClock::new();
        let b = breaker(config(1), &clock);
        for k in ["a", "b", "c", "hint", "trip"] {
            b.register(k);
        }
        b.record_failure(&"a"); // until 10
        clock.advance(secs(2));
        b.record_failure(&"b"); // until 12
        b.record_failure_with_hint(&"hint", secs(1));
        b.trip(&"trip", secs(1));
        let all = ["a", "b", "c", "hint", "trip", "ghost"];
        assert_eq!(b.panic_candidate(all.iter()), Some("a"));
        assert_eq!(b.panic_candidate(["b", "c"].iter()), Some("b"));
        assert_eq!(b.panic_candidate(["c", "hint", "trip"].iter()), None);
        let held = b.try_acquire_panic(&"a").unwrap();
        assert_eq!(
            b.panic_candidate(all.iter()),
            Some("b"),
            "a is being probed"
        );
        held.release();
    }

    #[test]
    fn restore_with_reason() {
        let clock = ManualClock::new();
        let b = breaker(config(1), &clock);
        let open = PersistedKey {
            cooldown_remaining: Some(secs(30)),
            consecutive_failures: 1,
            times_opened: 1,
        };
        b.restore("f", open);
        b.restore_with_reason("t", open, OpenReason::Trip);
        b.restore_with_reason("c", PersistedKey::default(), OpenReason::Trip);
        assert_eq!(b.open_reason(&"f"), Some(OpenReason::Failures));
        assert_eq!(b.open_reason(&"t"), Some(OpenReason::Trip));
        assert_eq!(b.open_reason(&"c"), None);
        assert!(b.try_acquire_panic(&"t").is_none());
        assert!(b.try_acquire_panic(&"f").is_some());
    }

    #[test]
    fn rate_validation() {
        let ok = config(1);
        let bad = |c: BreakerConfig| Breaker::<u32>::new(c).unwrap_err();
        for rate in [0.0, -0.1, 1.01, f64::NAN] {
            assert!(matches!(
                bad(BreakerConfig {
                    failure_rate_threshold: rate,
                    ..ok
                }),
                BreakerError::InvalidFailureRate(_)
            ));
        }
        assert_eq!(
            bad(BreakerConfig {
                failure_rate_min_requests: 0,
                ..ok
            }),
            BreakerError::ZeroFailureRateMinRequests
        );
        assert!(matches!(
            bad(BreakerConfig {
                failure_rate_window: Duration::from_millis(9),
                ..ok
            }),
            BreakerError::FailureRateWindowTooShort(_)
        ));
        assert!(BreakerConfig::default().validate().is_ok());
    }

    #[test]
    fn admission_can_travel() {
        fn assert_send_static<T: Send + 'static>(_: &T) {}
        let b: Breaker<String> = Breaker::new(BreakerConfig::default()).unwrap();
        let admission = b.try_acquire(&"x".to_string()).unwrap();
        assert_send_static(&admission);
        let handle = std::thread::spawn(move || admission.success());
        handle.join().unwrap();
    }
}
