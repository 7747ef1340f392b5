//! Limits shared by several processes through leased slices: a pure state
//! machine, no IO.
//!
//! A limit (say 20 requests per minute for one route) holds across N
//! processes when each process only admits what it has *leased* from a shared
//! counter: per `(limit key, window start)` the shared store keeps how much it
//! has granted, and hands out slices of at most [`slice_for`]`(limit)` (10 %
//! of the limit, at least 1) until the limit is reached. The request path only
//! touches this table in memory ([`LeaseTable::try_take`]); the caller's
//! background task asks the store for what [`LeaseTable::wants`] lists (ahead
//! of need: a slot wants another slice as soon as its local rest drops to
//! one slice, so a lease round trip is covered by the slice in hand) and hands the answers back ([`LeaseTable::granted`],
//! [`LeaseTable::failed`]).
//!
//! Windows are fixed and aligned on the wall clock (`window_start = now -
//! now % window`), so every process agrees on them without talking.
//!
//! # The bound on overshoot
//!
//! A slot with nothing leased yet in a window (its first request, or a burst
//! faster than a lease round trip) may admit **one** request *on credit* per
//! window, provided what it lacks is at most one slice. The credit is charged
//! to the store with the next lease, so it uses up the shared limit like any
//! grant; it only exceeds the limit when the store was already exhausted. So
//! with N processes, at most `limit + N × slice` units pass per window, and
//! for a request-count limit (one unit per request) at most `limit + N`:
//! three instances with a 20/min limit admit 20 to 23 requests per minute.
//!
//! A take that finds too little leased while the window still has room is
//! [`Take::Pending`], not a refusal: the limit is not reached, a lease is on
//! its way. A caller that can wait asks again once the store has answered
//! (a burst faster than the lease round trip then waits about one round trip
//! instead of being refused below its limit); one that cannot treats it as a
//! short refusal. [`Take::Refused`] means the store has granted the whole
//! window.
//!
//! When the store cannot be reached, [`LeaseTable::try_take`] answers
//! [`Take::Fallback`] until a lease succeeds again: the caller then enforces
//! its own per-process limit.
//!
//! ```
//! use std::time::Duration;
//! use rook_resilience::lease::{LeaseTable, Take};
//!
//! let table = LeaseTable::new(Duration::from_secs(60));
//! let now_ms = 120_000; // the start of a minute
//! // first request: admitted on credit, and a lease is wanted
//! assert_eq!(table.try_take("route:gpt", 20, 1, now_ms), Take::Admitted);
//! // the next one finds nothing leased yet: it waits for the lease
//! assert_eq!(table.try_take("route:gpt", 20, 1, now_ms), Take::Pending);
//! let wants = table.wants(now_ms);
//! assert_eq!((wants[0].want, wants[0].charge), (2, 1));
//! // the store granted a slice of 2 (having counted the credit too)
//! table.granted(&wants[0], 2);
//! assert_eq!(table.try_take("route:gpt", 20, 1, now_ms), Take::Admitted);
//! ```

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// The slice of a limit leased at once: 10 % of it, at least 1.
pub fn slice_for(limit: u64) -> u64 {
    (limit / 10).max(1)
}

/// What [`LeaseTable::try_take`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Admitted from the local lease (or on this window's credit).
    Admitted,
    /// Over the limit: the store granted the whole window; retry after this
    /// long (the window's end).
    Refused(Duration),
    /// Too little leased, but the window is not exhausted: a lease is wanted
    /// (see [`LeaseTable::wants`]). Ask again once the store has answered
    /// ([`LeaseTable::granted`] or [`LeaseTable::failed`]).
    Pending,
    /// The store is unreachable: enforce the per-process limit instead.
    Fallback,
}

/// A lease to ask the store for: grant up to `want` more units of `limit` in
/// the window starting at `window_start_ms`, after counting `charge` units
/// already admitted on credit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseWant {
    /// The limit's key (shared by every process).
    pub key: String,
    /// The window's start, in ms since the Unix epoch.
    pub window_start_ms: u64,
    /// The limit per window.
    pub limit: u64,
    /// Units wanted (one slice).
    pub want: u64,
    /// Units already admitted on credit, to add to the shared count first.
    pub charge: u64,
}

/// Slots kept before the first sweep of finished windows.
const MIN_SWEEP_AT: usize = 1024;

/// One limit key's state in the current window.
#[derive(Debug, Clone, Default)]
struct Slot {
    limit: u64,
    window: u64,
    /// Leased and not yet used (negative: used more than leased, paid first
    /// from the next grants).
    local: i64,
    /// The largest amount refused for want of a lease (leases continue
    /// until it fits).
    need: u64,
    /// Admitted on credit and not yet sent to the store.
    uncharged: u64,
    /// This window's credit is used.
    credit_spent: bool,
    /// The store granted everything of this window.
    exhausted: bool,
    /// A lease for this window is being asked for.
    pending: bool,
}

impl Slot {
    fn fresh(limit: u64, window: u64) -> Slot {
        Slot {
            limit,
            window,
            ..Slot::default()
        }
    }

    fn slice(&self) -> u64 {
        slice_for(self.limit)
    }

    /// Whether the slot should ask for another slice.
    fn wants(&self) -> bool {
        if self.exhausted || self.pending {
            return false;
        }
        let low = i64::try_from(self.slice()).unwrap_or(i64::MAX);
        let need = i64::try_from(self.need).unwrap_or(i64::MAX);
        self.local <= low || self.local < need || self.uncharged > 0
    }
}

/// Locks a mutex, taking over its state if a panicking holder poisoned it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug, Default)]
struct Inner {
    slots: HashMap<String, Slot>,
    /// The last exchange with the store failed.
    fallback: bool,
    sweep_at: usize,
}

/// The leased slices of many limits (one slot per key), shared by the request
/// path and the task that talks to the store.
#[derive(Debug)]
pub struct LeaseTable {
    window_ms: u64,
    inner: Mutex<Inner>,
}

impl LeaseTable {
    /// A table with windows of `window` (at least 1 ms).
    pub fn new(window: Duration) -> LeaseTable {
        LeaseTable {
            window_ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1),
            inner: Mutex::new(Inner {
                sweep_at: MIN_SWEEP_AT,
                ..Inner::default()
            }),
        }
    }

    fn window_of(&self, now_ms: u64) -> u64 {
        now_ms / self.window_ms
    }

    fn until_next_window(&self, now_ms: u64) -> Duration {
        Duration::from_millis(self.window_ms - now_ms % self.window_ms)
    }

    /// Takes `amount` units of `key`'s `limit` for the current window (limit
    /// 0 is no limit). Memory only.
    pub fn try_take(&self, key: &str, limit: u64, amount: u64, now_ms: u64) -> Take {
        if limit == 0 {
            return Take::Admitted;
        }
        let window = self.window_of(now_ms);
        let mut inner = lock(&self.inner);
        let fallback = inner.fallback;
        if !inner.slots.contains_key(key) && inner.slots.len() >= inner.sweep_at {
            inner.slots.retain(|_, s| s.window >= window || s.pending);
            inner.sweep_at = (inner.slots.len() * 2).max(MIN_SWEEP_AT);
        }
        let slot = inner
            .slots
            .entry(key.to_owned())
            .or_insert_with(|| Slot::fresh(limit, window));
        if slot.window != window || slot.limit != limit {
            *slot = Slot::fresh(limit, window);
        }
        if fallback {
            // Remember the key so that the next attempt to reach the store
            // leases for it; decide locally meanwhile.
            return Take::Fallback;
        }
        // An amount above the whole limit goes once the limit is free, like
        // an oversized request on a token bucket: it counts as the limit.
        let needed = i64::try_from(amount.min(limit)).unwrap_or(i64::MAX);
        let charged = i64::try_from(amount).unwrap_or(i64::MAX);
        if slot.local >= needed {
            slot.local -= charged;
            return Take::Admitted;
        }
        if slot.exhausted {
            return Take::Refused(self.until_next_window(now_ms));
        }
        let lacking = u64::try_from(needed - slot.local.max(0)).unwrap_or(u64::MAX);
        if !slot.credit_spent && lacking <= slot.slice() {
            slot.credit_spent = true;
            slot.uncharged += lacking;
            slot.local -= charged - i64::try_from(lacking).unwrap_or(i64::MAX);
            return Take::Admitted;
        }
        slot.need = slot.need.max(amount.min(limit));
        Take::Pending
    }

    /// Gives back (`delta > 0`) or charges (`delta < 0`) units of `key` after
    /// the fact (a token estimate settled with the real count). Only within
    /// the window the units were taken in; later it is a no-op.
    pub fn adjust(&self, key: &str, delta: i64, taken_at_ms: u64, now_ms: u64) {
        let window = self.window_of(now_ms);
        if self.window_of(taken_at_ms) != window {
            return;
        }
        let mut inner = lock(&self.inner);
        if let Some(slot) = inner.slots.get_mut(key) {
            if slot.window == window {
                slot.local = slot.local.saturating_add(delta);
            }
        }
    }

    /// The leases to ask the store for now; each is marked pending until
    /// [`granted`](Self::granted) or [`failed`](Self::failed) answers it.
    pub fn wants(&self, now_ms: u64) -> Vec<LeaseWant> {
        let window = self.window_of(now_ms);
        let window_ms = self.window_ms;
        let mut inner = lock(&self.inner);
        inner
            .slots
            .iter_mut()
            .filter(|(_, s)| s.window == window && s.wants())
            .map(|(key, s)| {
                s.pending = true;
                LeaseWant {
                    key: key.clone(),
                    window_start_ms: window * window_ms,
                    limit: s.limit,
                    want: s.slice(),
                    charge: s.uncharged,
                }
            })
            .collect()
    }

    /// The store granted `granted` units for `want` (having counted its
    /// charge). Less than wanted means the window is exhausted.
    pub fn granted(&self, want: &LeaseWant, granted: u64) {
        let mut inner = lock(&self.inner);
        inner.fallback = false;
        let window = want.window_start_ms / self.window_ms;
        let Some(slot) = inner.slots.get_mut(&want.key) else {
            return;
        };
        if slot.window != window || slot.limit != want.limit {
            return; // an answer for a finished window
        }
        slot.pending = false;
        slot.uncharged = slot.uncharged.saturating_sub(want.charge);
        slot.local = slot
            .local
            .saturating_add(i64::try_from(granted).unwrap_or(i64::MAX));
        if granted < want.want {
            slot.exhausted = true;
        }
        if slot.local >= i64::try_from(slot.need).unwrap_or(i64::MAX) {
            slot.need = 0;
        }
    }

    /// Asking the store for `want` failed: the table falls back to the
    /// per-process limit until a lease succeeds.
    pub fn failed(&self, want: &LeaseWant) {
        let mut inner = lock(&self.inner);
        inner.fallback = true;
        if let Some(slot) = inner.slots.get_mut(&want.key) {
            slot.pending = false;
        }
    }

    /// Whether the table is falling back to per-process limits.
    pub fn is_fallback(&self) -> bool {
        lock(&self.inner).fallback
    }

    /// Keys with a slot (for tests and metrics).
    pub fn tracked_keys(&self) -> usize {
        lock(&self.inner).slots.len()
    }
}

#[cfg(test)]
mod tests;
