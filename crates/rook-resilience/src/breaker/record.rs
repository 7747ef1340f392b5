//! Recording outcomes: successes, failures, hints, trips, resets and restores, the
//! state machine they drive, and snapshots.

use std::time::{Duration, Instant};

use super::entry::{Entry, KeySnapshot, PersistedKey, Window};
use super::{Breaker, BreakerConfig, BreakerKey, CircuitState, Effects, Event, OpenReason, State};

impl<K: BreakerKey> Breaker<K> {
    /// Record a success for `key` outside an [`Admission`](super::Admission): resets the
    /// consecutive failures. It does not close an Open or HalfOpen key
    /// (only a probe's success does), so callers must send through
    /// [`try_acquire`](Self::try_acquire) for a key to recover; these
    /// `record_*` methods are for outcomes learned out of band.
    pub fn record_success(&self, key: &K) {
        self.record(key, None, Event::Success);
    }

    /// Record a failure for `key` outside an [`Admission`](super::Admission): counts towards
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
        let state = self.shared.lock();
        let bucket = state.bucket(now);
        let timeout = state.config.probe_timeout;
        state
            .keys
            .get(key)
            .map(|e| snapshot_of(key, e, now, bucket, timeout))
    }

    /// The state of every registered key (in no particular order).
    pub fn snapshot(&self) -> Vec<KeySnapshot<K>> {
        let now = self.now();
        let state = self.shared.lock();
        let bucket = state.bucket(now);
        let timeout = state.config.probe_timeout;
        state
            .keys
            .iter()
            .map(|(k, e)| snapshot_of(k, e, now, bucket, timeout))
            .collect()
    }

    pub(super) fn record(&self, key: &K, probe: Option<u64>, event: Event) {
        let now = self.now();
        let mut effects = Effects::default();
        {
            let mut guard = self.shared.lock();
            let state = &mut *guard;
            let bucket = state.bucket(now);
            let config = state.config;
            let config = &config;
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
pub(super) fn open_share_allows<K: BreakerKey>(
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

pub(super) fn snapshot_of<K: Clone>(
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
