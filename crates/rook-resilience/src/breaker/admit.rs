//! Admission: whether a key may be tried now, the probe slot, panic admission, and
//! the [`Admission`] a caller reports through.

use std::time::{Duration, Instant};

use super::entry::Probe;
use super::{Breaker, BreakerKey, CircuitState, Effects, Event, OpenReason};

impl<K: BreakerKey> Breaker<K> {
    /// Whether a request to `key` would be admitted now, without taking
    /// anything: Closed, or HalfOpen with the probe slot free. Unregistered
    /// keys are available. Use it to filter candidates; call
    /// [`try_acquire`](Self::try_acquire) right before sending.
    pub fn is_available(&self, key: &K) -> bool {
        let now = self.now();
        let state = self.shared.lock();
        let timeout = state.config.probe_timeout;
        state.keys.get(key).is_none_or(|e| match e.state(now) {
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
        let state = self.shared.lock();
        let timeout = state.config.probe_timeout;
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
        let mut effects = Effects::default();
        let probe = {
            let mut state = self.shared.lock();
            let timeout = state.config.probe_timeout;
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
    /// every key is unavailable (see the [module docs](crate::breaker#panic-admission)).
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
        let mut effects = Effects::default();
        let token = {
            let mut state = self.shared.lock();
            let timeout = state.config.probe_timeout;
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
        let state = self.shared.lock();
        let timeout = state.config.probe_timeout;
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
