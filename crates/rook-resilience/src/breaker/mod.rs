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

mod admit;
mod config;
mod entry;
mod record;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::fmt::Display;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::clock::{Clock, SystemClock};
use crate::observer::{self, Observer};

pub use crate::events::{CircuitState, OpenReason};
pub use admit::Admission;
pub use config::{BreakerConfig, BreakerError};
use entry::{Entry, Window};
pub use entry::{KeySnapshot, PersistedKey};

struct State<K> {
    keys: HashMap<K, Entry>,
    rng: fastrand::Rng,
    next_token: u64,
    /// The settings in force (replaced by [`Breaker::set_config`]).
    config: BreakerConfig,
    /// Failure-rate buckets are counted from here.
    origin: Instant,
    /// `failure_rate_window / RATE_BUCKETS` in nanoseconds (≥ 1).
    bucket_nanos: u128,
}

impl<K> State<K> {
    /// The failure-rate bucket number of `now`.
    fn bucket(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(elapsed / self.bucket_nanos).unwrap_or(u64::MAX)
    }
}

/// `failure_rate_window / RATE_BUCKETS` in nanoseconds, at least 1.
fn bucket_nanos(config: &BreakerConfig) -> u128 {
    (config.failure_rate_window.as_nanos() / BreakerConfig::RATE_BUCKETS as u128).max(1)
}

struct Shared<K> {
    state: Mutex<State<K>>,
    clock: Arc<dyn Clock>,
    observer: Arc<dyn Observer>,
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
            .field("config", &self.shared.lock().config)
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
        Ok(Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    keys: HashMap::new(),
                    rng,
                    next_token: 0,
                    bucket_nanos: bucket_nanos(&config),
                    config,
                    origin,
                }),
                clock,
                observer,
            }),
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> BreakerConfig {
        self.shared.lock().config
    }

    /// Replaces the configuration, keeping every key's state: cooldowns already
    /// running keep their end, probes in flight stay the probe, consecutive
    /// failures and openings are kept; the new thresholds, penalties and shares
    /// apply from the next recorded outcome. A changed `failure_rate_window`
    /// empties every key's failure-rate window (its buckets would count a
    /// different span); the jitter seed is kept.
    ///
    /// # Errors
    /// If `config` is invalid (see [`BreakerConfig::validate`]); nothing changes.
    pub fn set_config(&self, config: BreakerConfig) -> Result<(), BreakerError> {
        config.validate()?;
        let now = self.now();
        let mut state = self.shared.lock();
        if config.failure_rate_window != state.config.failure_rate_window {
            state.origin = now;
            state.bucket_nanos = bucket_nanos(&config);
            for entry in state.keys.values_mut() {
                entry.window = Window::default();
            }
        }
        state.config = BreakerConfig {
            seed: state.config.seed,
            ..config
        };
        Ok(())
    }

    fn now(&self) -> Instant {
        self.shared.clock.now()
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
}
