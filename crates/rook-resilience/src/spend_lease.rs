//! Budgets (an amount of money per period) shared by several processes through
//! leased slices: a pure state machine, no IO.
//!
//! A budget (say $10 a day for one client key) holds across N processes when
//! each process only admits requests while it holds some of the budget it has
//! *leased* from a shared store: per `(key, period start)` the store keeps how
//! much it has granted (starting from what was spent before leasing began),
//! and hands out slices of at most [`budget_slice`]`(budget)` (10 % of the
//! budget) until the budget is granted out. The request path only touches this
//! table in memory ([`SpendLeases::try_admit`], [`SpendLeases::charge`]); the
//! caller's background task asks the store for what [`SpendLeases::wants`]
//! lists (ahead of need: a slot wants another slice as soon as what it holds
//! drops to one slice or less) and hands the answers back
//! ([`SpendLeases::granted`], [`SpendLeases::failed`]).
//!
//! Unlike a rate limit, the cost of a request is known only when it ends. So
//! a request is admitted while the slot holds a positive amount, and its cost
//! is charged afterwards: what a slot holds can go below zero, by at most the
//! cost of the requests in flight when it ran out, and the next grants pay
//! that deficit first.
//!
//! # The bound on overspend
//!
//! The processes together are never granted more than the budget, and each
//! spends at most what it was granted plus the cost of the requests it had in
//! flight when its share ran out. So per period
//!
//! ```text
//! spend <= budget + sum over processes of (cost of its requests in flight when it ran out)
//! ```
//!
//! (with one request at a time per process: `budget + N × one request's cost`).
//!
//! A slot with nothing in hand while the store still has budget to grant is
//! [`Admit::Pending`]: a lease is on its way, the caller waits for it and
//! asks again. [`Admit::Refused`] means the store has granted the whole
//! budget of the period and this slot holds nothing. When the store cannot be
//! reached, [`SpendLeases::try_admit`] answers [`Admit::Fallback`] until a
//! lease succeeds again: the caller then decides on its own count; the costs
//! it charges meanwhile are still deducted here and paid from the next grants.
//!
//! A budget changed while a period runs takes effect with the next grant (the
//! store is asked with the budget in force): a raise lets more be granted; a
//! cut forfeits what the slot holds and stops grants once the cut budget is
//! granted out.
//!
//! ```
//! use rook_resilience::spend_lease::{Admit, Period, SpendLeases};
//!
//! let leases = SpendLeases::new();
//! let day = Period { start_ms: 0, end_ms: Some(86_400_000) };
//! // nothing leased yet: the request waits for a lease
//! assert_eq!(leases.try_admit("ci", 1.0, day), Admit::Pending);
//! let wants = leases.wants(1_000);
//! assert_eq!(wants[0].slice, 0.1);
//! leases.granted(&wants[0], 0.1);
//! assert_eq!(leases.try_admit("ci", 1.0, day), Admit::Admitted);
//! // the request cost more than was in hand: the next grant pays for it first
//! leases.charge("ci", 1.0, day, 0.15);
//! assert!(leases.in_hand("ci").is_some_and(|usd| (usd + 0.05).abs() < 1e-12));
//! assert_eq!(leases.try_admit("ci", 1.0, day), Admit::Pending);
//! ```

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The share of a budget leased at once.
pub const SLICE_SHARE: f64 = 0.1;

/// Amounts at or below this are nothing (floating-point dust): a grant this
/// small means the budget is granted out.
pub const DUST: f64 = 1e-9;

/// The slice of a budget leased at once: 10 % of it (0 for a budget of 0 or
/// less, or one that is not a number).
pub fn budget_slice(budget: f64) -> f64 {
    if budget.is_finite() && budget > 0.0 {
        budget * SLICE_SHARE
    } else {
        0.0
    }
}

/// A budget period: its start and (unless it never ends) its end, in ms since
/// the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// The start (`i64::MIN` for a period without a start).
    pub start_ms: i64,
    /// The end, exclusive; `None` when the period never ends.
    pub end_ms: Option<i64>,
}

/// What [`SpendLeases::try_admit`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Admitted: the slot holds some of the budget.
    Admitted,
    /// The budget of the period is granted out and this slot holds nothing.
    Refused,
    /// Nothing in hand, but the store still has budget to grant: a lease is
    /// wanted (see [`SpendLeases::wants`]). Ask again once the store has
    /// answered.
    Pending,
    /// The store is unreachable: decide on the per-process count instead.
    Fallback,
}

/// A lease to ask the store for: grant up to `slice` more of `budget` for
/// `key` in the period starting at `period_start_ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct SpendWant {
    /// The budget's key (shared by every process).
    pub key: String,
    /// The period's start, in ms since the Unix epoch.
    pub period_start_ms: i64,
    /// The budget in force.
    pub budget: f64,
    /// The amount wanted (one slice).
    pub slice: f64,
}

/// One key's state in its current period.
#[derive(Debug, Clone)]
struct Slot {
    period: Period,
    budget: f64,
    /// Granted and not yet spent (negative: spent more than granted, paid
    /// first from the next grants).
    in_hand: f64,
    /// The store granted the whole budget of the period.
    exhausted: bool,
    /// A lease for this slot is being asked for.
    pending: bool,
}

impl Slot {
    fn fresh(budget: f64, period: Period) -> Slot {
        Slot {
            period,
            budget,
            in_hand: 0.0,
            exhausted: false,
            pending: false,
        }
    }

    /// Whether the slot should ask for another slice at `now_ms`.
    fn wants(&self, now_ms: i64) -> bool {
        !self.exhausted
            && !self.pending
            && self.period.end_ms.is_none_or(|end| now_ms < end)
            && self.in_hand <= budget_slice(self.budget)
    }

    /// Brings the slot to `period` and `budget` (a new period starts fresh; a
    /// changed budget may be granted again, a cut forfeits what is in hand).
    fn align(&mut self, budget: f64, period: Period) {
        if self.period != period {
            *self = Slot::fresh(budget, period);
        } else if self.budget != budget {
            if budget < self.budget {
                self.in_hand = self.in_hand.min(0.0);
            }
            self.budget = budget;
            self.exhausted = false;
        }
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
}

/// The leased slices of many budgets (one slot per key), shared by the
/// request path and the task that talks to the store.
#[derive(Debug, Default)]
pub struct SpendLeases {
    inner: Mutex<Inner>,
}

impl SpendLeases {
    /// An empty table.
    pub fn new() -> SpendLeases {
        SpendLeases::default()
    }

    /// Whether a request of `key` (with `budget` in `period`) may start.
    /// Memory only.
    pub fn try_admit(&self, key: &str, budget: f64, period: Period) -> Admit {
        let mut inner = lock(&self.inner);
        let fallback = inner.fallback;
        let slot = inner
            .slots
            .entry(key.to_owned())
            .or_insert_with(|| Slot::fresh(budget, period));
        slot.align(budget, period);
        if fallback {
            // The slot stays, so the next attempt to reach the store leases
            // for it; decide locally meanwhile.
            return Admit::Fallback;
        }
        if slot.in_hand > DUST {
            Admit::Admitted
        } else if slot.exhausted {
            Admit::Refused
        } else {
            Admit::Pending
        }
    }

    /// Charges the cost `usd` of a finished request of `key` to `period`
    /// (the one it finished in).
    pub fn charge(&self, key: &str, budget: f64, period: Period, usd: f64) {
        if !(usd.is_finite() && usd > 0.0) {
            return;
        }
        let mut inner = lock(&self.inner);
        let slot = inner
            .slots
            .entry(key.to_owned())
            .or_insert_with(|| Slot::fresh(budget, period));
        slot.align(budget, period);
        slot.in_hand -= usd;
    }

    /// The leases to ask the store for at `now_ms`; each is marked pending
    /// until [`granted`](Self::granted) or [`failed`](Self::failed) answers
    /// it.
    pub fn wants(&self, now_ms: i64) -> Vec<SpendWant> {
        let mut inner = lock(&self.inner);
        inner
            .slots
            .iter_mut()
            .filter(|(_, s)| s.wants(now_ms))
            .map(|(key, s)| {
                s.pending = true;
                SpendWant {
                    key: key.clone(),
                    period_start_ms: s.period.start_ms,
                    budget: s.budget,
                    slice: budget_slice(s.budget),
                }
            })
            .collect()
    }

    /// The store granted `usd` for `want`. Less than a slice means the budget
    /// of the period is granted out.
    pub fn granted(&self, want: &SpendWant, usd: f64) {
        let mut inner = lock(&self.inner);
        inner.fallback = false;
        let Some(slot) = inner.slots.get_mut(&want.key) else {
            return;
        };
        if slot.period.start_ms != want.period_start_ms {
            return; // an answer for a finished period
        }
        slot.pending = false;
        let usd = if usd.is_finite() { usd.max(0.0) } else { 0.0 };
        // a grant under a budget cut since it was asked for is forfeited
        if want.budget <= slot.budget {
            slot.in_hand += usd;
        }
        if want.budget == slot.budget && (usd <= DUST || usd + DUST < want.slice) {
            slot.exhausted = true;
        }
    }

    /// Asking the store for `want` failed: the table falls back to the
    /// per-process count until a lease succeeds.
    pub fn failed(&self, want: &SpendWant) {
        let mut inner = lock(&self.inner);
        inner.fallback = true;
        if let Some(slot) = inner.slots.get_mut(&want.key) {
            slot.pending = false;
        }
    }

    /// Whether the table is falling back to the per-process count.
    pub fn is_fallback(&self) -> bool {
        lock(&self.inner).fallback
    }

    /// What `key`'s slot holds (granted and not spent; negative when
    /// overspent), if it has one.
    pub fn in_hand(&self, key: &str) -> Option<f64> {
        lock(&self.inner).slots.get(key).map(|s| s.in_hand)
    }
}

#[cfg(test)]
mod tests;
