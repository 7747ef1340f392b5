//! One key's state: its consecutive failures, cooldown, probe and failure-rate window,
//! and the views of it given out (snapshots, persisted form).

use std::time::{Duration, Instant};

use super::config::BreakerConfig;
use crate::events::{CircuitState, OpenReason};

/// What a key's state looks like in persisted form, to carry cooldowns
/// across a restart. See [`Breaker::restore`](super::Breaker::restore) and [`KeySnapshot::persisted`].
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
    /// [panic admission](super::Breaker::try_acquire_panic) on an open key).
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
pub(super) struct Probe {
    pub(super) token: u64,
    pub(super) since: Instant,
}

/// One bucket of a failure-rate window.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Slot {
    pub(super) index: u64,
    pub(super) outcomes: u32,
    pub(super) failures: u32,
}

/// A key's failure-rate window: a ring of buckets, each tagged with the
/// bucket number it counts (a slot holding an older number is stale).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Window {
    pub(super) slots: [Slot; BreakerConfig::RATE_BUCKETS],
}

impl Window {
    pub(super) fn slot(index: u64) -> usize {
        (index % BreakerConfig::RATE_BUCKETS as u64) as usize
    }

    pub(super) fn add(&mut self, index: u64, failure: bool) {
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
    pub(super) fn counts(&self, index: u64) -> (u32, u32) {
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
pub(super) struct Entry {
    pub(super) consecutive_failures: u32,
    pub(super) times_opened: u32,
    pub(super) open_until: Option<Instant>,
    /// Why it is open (kept while HalfOpen); `None` when Closed.
    pub(super) reason: Option<OpenReason>,
    pub(super) probe: Option<Probe>,
    /// A probe was admitted in the current open period (for reporting
    /// Open → HalfOpen once).
    pub(super) probed: bool,
    pub(super) window: Window,
}

impl Entry {
    pub(super) fn state(&self, now: Instant) -> CircuitState {
        match self.open_until {
            None => CircuitState::Closed,
            Some(until) if now < until => CircuitState::Open,
            Some(_) => CircuitState::HalfOpen,
        }
    }

    pub(super) fn live_probe(&self, now: Instant, timeout: Duration) -> Option<Probe> {
        self.probe
            .filter(|p| p.since.checked_add(timeout).is_none_or(|end| now < end))
    }

    pub(super) fn failing(&self, now: Instant, bucket: u64, config: &BreakerConfig) -> bool {
        if self.state(now) != CircuitState::Closed
            || self.consecutive_failures >= config.failure_threshold
        {
            return true;
        }
        let (outcomes, failures) = self.window.counts(bucket);
        config.failure_rate_exceeded(outcomes, failures)
    }

    pub(super) fn close(&mut self) {
        *self = Entry::default();
    }
}
