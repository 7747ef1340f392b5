//! Rate limits: token buckets refilled per minute, per key, and a pair of
//! buckets (requests and units) that reserve before a call and reconcile
//! after it.
//!
//! Where the [`limiter`](crate::limiter) caps how many operations run *at
//! once*, these cap how many start *per minute*. Every decision is
//! synchronous and takes the current time as an explicit `now: Instant`, so
//! it is cheap, needs no runtime and is tested without sleeping. A refusal
//! is `Err(wait)`: how long until the request would fit (a `Retry-After`).
//!
//! * [`Bucket`]: one token bucket holding at most `per_minute` (a full
//!   minute of burst), refilled continuously at `per_minute / 60` per
//!   second. A request larger than the whole bucket may go when the bucket
//!   is full, leaving it in debt; [`Bucket::adjust`] gives back or charges
//!   afterwards (a bucket may go into debt, never above its capacity).
//! * [`KeyedLimiter`]: requests per minute per string key (a client, a
//!   route). Its memory is bounded by the keys active in the last minute:
//!   buckets that have refilled completely are dropped, which is invisible
//!   to callers since a full bucket behaves exactly like a new one.
//! * [`RateLimits`]: requests per minute and *units* per minute for one
//!   target (an upstream account, a tenant). A call reserves one request and
//!   its estimated units ([`RateLimits::try_reserve`] returns a
//!   [`Reservation`]); when the real count is known,
//!   [`RateLimits::reconcile`] returns the difference (or charges it). What
//!   a unit is belongs to the caller — the Rook gateway counts LLM tokens.
//!
//! Limits are in memory and per process: several instances each enforce
//! their own. [`lease`](crate::lease) shares a limit between processes.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use rook_resilience::{KeyedLimiter, RateLimits};
//!
//! let now = Instant::now();
//!
//! // 2 requests per minute per client
//! let clients = KeyedLimiter::new(2);
//! assert!(clients.check("alice", now).is_ok());
//! assert!(clients.check("alice", now).is_ok());
//! assert_eq!(clients.check("alice", now), Err(Duration::from_secs(30)));
//! assert!(clients.check("bob", now).is_ok());
//!
//! // 1000 units per minute, no request limit: reserve the estimate, then
//! // reconcile with what was used
//! let account = RateLimits::new(None, Some(1000), now).ok_or("no limit configured")?;
//! let reservation = account
//!     .try_reserve(800, now)
//!     .map_err(|wait| format!("over the limit, retry after {wait:?}"))?;
//! assert!(account.try_reserve(800, now).is_err());
//! account.reconcile(reservation, Some(100), now); // 700 come back
//! assert!(account.try_reserve(800, now).is_ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// A token bucket refilled continuously at `per_minute / 60` per second,
/// holding at most `per_minute` (a full minute of burst). It starts full.
///
/// Amounts are `f64` so that a partial refill counts; callers pass finite,
/// non-negative amounts.
#[derive(Debug, Clone)]
pub struct Bucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// A full bucket for `per_minute` per minute (0 is treated as 1).
    pub fn per_minute(per_minute: u32, now: Instant) -> Bucket {
        let capacity = f64::from(per_minute.max(1));
        Bucket {
            capacity,
            per_second: capacity / 60.0,
            tokens: capacity,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        self.tokens = self.tokens_at(now);
        self.last = now;
    }

    /// The tokens the bucket would hold at `now` (time before the last
    /// update counts as no time).
    fn tokens_at(&self, now: Instant) -> f64 {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        (self.tokens + dt * self.per_second).min(self.capacity)
    }

    /// Whether the bucket has refilled completely by `now`, so it behaves
    /// exactly like a new one.
    fn is_full_at(&self, now: Instant) -> bool {
        self.tokens_at(now) >= self.capacity
    }

    /// Takes `n` if available; otherwise takes nothing and returns how long
    /// until it would be.
    ///
    /// A request larger than the whole bucket goes when the bucket is full
    /// (it would never fit otherwise) and leaves the bucket in debt.
    pub fn try_take(&mut self, n: f64, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        let need = n.min(self.capacity);
        if self.tokens >= need {
            self.tokens -= n;
            Ok(())
        } else {
            let missing = need - self.tokens;
            // A wait too long for a `Duration` (a huge debt) saturates.
            Err(Duration::try_from_secs_f64(missing / self.per_second).unwrap_or(Duration::MAX))
        }
    }

    /// Gives back (positive `delta`) or charges (negative `delta`) tokens
    /// after the fact. Charging may put the bucket in debt; giving back
    /// never fills it above its capacity.
    pub fn adjust(&mut self, delta: f64, now: Instant) {
        self.refill(now);
        self.tokens = (self.tokens + delta).min(self.capacity);
    }
}

/// Locks a mutex, taking over its state if a panicking holder poisoned it:
/// a bucket's state is valid after any partial update.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Buckets kept before the first sweep for full buckets.
const MIN_SWEEP_AT: usize = 1024;

/// Requests-per-minute limits keyed by a string (a client, a route), one
/// [`Bucket`] per key.
///
/// Memory stays bounded by the keys seen in about the last minute: when
/// the number of buckets reaches a threshold (twice the count after the
/// previous sweep, at least 1024), a new key first sweeps out the buckets
/// that have refilled completely. A full bucket behaves exactly like a new
/// one, so sweeping never changes a decision.
#[derive(Debug)]
pub struct KeyedLimiter {
    per_minute: u32,
    buckets: Mutex<Buckets>,
}

#[derive(Debug)]
struct Buckets {
    by_key: HashMap<String, Bucket>,
    sweep_at: usize,
}

impl KeyedLimiter {
    /// `per_minute` requests per minute per key; `per_minute == 0` disables
    /// the limit.
    pub fn new(per_minute: u32) -> Self {
        KeyedLimiter {
            per_minute,
            buckets: Mutex::new(Buckets {
                by_key: HashMap::new(),
                sweep_at: MIN_SWEEP_AT,
            }),
        }
    }

    /// Counts one request for `key`; `Err(wait)` when it is over the limit
    /// (the refused request is not counted).
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let mut buckets = lock(&self.buckets);
        if let Some(bucket) = buckets.by_key.get_mut(key) {
            return bucket.try_take(1.0, now);
        }
        if buckets.by_key.len() >= buckets.sweep_at {
            buckets.by_key.retain(|_, bucket| !bucket.is_full_at(now));
            buckets.sweep_at = (buckets.by_key.len() * 2).max(MIN_SWEEP_AT);
        }
        let mut bucket = Bucket::per_minute(self.per_minute, now);
        let result = bucket.try_take(1.0, now);
        buckets.by_key.insert(key.to_owned(), bucket);
        result
    }

    /// How many keys currently have a bucket (for metrics and tests).
    pub fn tracked_keys(&self) -> usize {
        lock(&self.buckets).by_key.len()
    }
}

/// One target's limits: requests per minute and units per minute (either
/// may be absent), reserved before a call and reconciled after it.
#[derive(Debug)]
pub struct RateLimits {
    requests: Option<Mutex<Bucket>>,
    units: Option<Mutex<Bucket>>,
}

/// What an admitted call reserved, to hand back to
/// [`RateLimits::reconcile`].
#[derive(Debug, Clone, Copy)]
pub struct Reservation {
    units: f64,
}

impl RateLimits {
    /// Limits of `requests_per_minute` and `units_per_minute` (`None`: no
    /// such limit; `Some(0)` is treated as 1). `None` when neither is set:
    /// there is nothing to limit.
    pub fn new(
        requests_per_minute: Option<u32>,
        units_per_minute: Option<u32>,
        now: Instant,
    ) -> Option<Self> {
        if requests_per_minute.is_none() && units_per_minute.is_none() {
            return None;
        }
        Some(RateLimits {
            requests: requests_per_minute.map(|r| Mutex::new(Bucket::per_minute(r, now))),
            units: units_per_minute.map(|u| Mutex::new(Bucket::per_minute(u, now))),
        })
    }

    /// Reserves one request and `estimate` units, or takes nothing and says
    /// how long to wait.
    pub fn try_reserve(&self, estimate: u64, now: Instant) -> Result<Reservation, Duration> {
        let estimate = estimate as f64;
        if let Some(units) = &self.units {
            // Units first, handed back if the request limit refuses, so a
            // refusal takes nothing.
            let mut units = lock(units);
            units.try_take(estimate, now)?;
            if let Some(requests) = &self.requests {
                if let Err(wait) = lock(requests).try_take(1.0, now) {
                    units.adjust(estimate, now);
                    return Err(wait);
                }
            }
            return Ok(Reservation { units: estimate });
        }
        if let Some(requests) = &self.requests {
            lock(requests).try_take(1.0, now)?;
        }
        Ok(Reservation { units: 0.0 })
    }

    /// Reconciles a reservation with the units actually used: the unused
    /// part comes back, an overrun is charged. `None` (not known): the
    /// estimate stands. The request itself stays counted.
    pub fn reconcile(&self, reservation: Reservation, actual: Option<u64>, now: Instant) {
        let (Some(units), Some(actual)) = (&self.units, actual) else {
            return;
        };
        lock(units).adjust(reservation.units - actual as f64, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn bucket_refills_over_time() {
        let t0 = Instant::now();
        let mut b = Bucket::per_minute(60, t0);
        for _ in 0..60 {
            assert!(b.try_take(1.0, t0).is_ok());
        }
        let wait = b.try_take(1.0, t0).unwrap_err();
        assert!(
            wait <= Duration::from_secs(1) && wait > Duration::from_millis(900),
            "{wait:?}"
        );
        assert!(b.try_take(1.0, t0 + Duration::from_secs(1)).is_ok());
    }

    /// (per_minute, takes at offsets in seconds with amounts, expected results)
    #[test]
    fn bucket_table() {
        type Case<'a> = (u32, &'a [(u64, f64)], &'a [Result<(), Duration>]);
        let cases: &[Case<'_>] = &[
            // full at the start: the whole minute's burst at once, then 1/s
            (
                60,
                &[(0, 60.0), (0, 1.0), (1, 1.0)],
                &[Ok(()), Err(secs(1)), Ok(())],
            ),
            // 0 is treated as 1 per minute
            (
                0,
                &[(0, 1.0), (0, 1.0), (60, 1.0)],
                &[Ok(()), Err(secs(60)), Ok(())],
            ),
            // refill never exceeds the capacity, however long the pause
            (
                30,
                &[(0, 30.0), (3600, 30.0), (3600, 1.0)],
                &[Ok(()), Ok(()), Err(secs(2))],
            ),
            // oversized: goes when full, then the debt is paid back first
            (
                15,
                &[(0, 30.0), (0, 1.0), (60, 1.0), (64, 1.0)],
                &[Ok(()), Err(secs(64)), Err(secs(4)), Ok(())],
            ),
            // oversized while not full: waits until full, not forever
            (
                15,
                &[(0, 1.0), (0, 100.0), (4, 100.0)],
                &[Ok(()), Err(secs(4)), Ok(())],
            ),
            // taking nothing always works
            (1, &[(0, 1.0), (0, 0.0)], &[Ok(()), Ok(())]),
        ];
        for (n, (per_minute, takes, expected)) in cases.iter().enumerate() {
            let t0 = Instant::now();
            let mut bucket = Bucket::per_minute(*per_minute, t0);
            let got: Vec<_> = takes
                .iter()
                .map(|&(at, amount)| bucket.try_take(amount, t0 + secs(at)))
                .collect();
            assert_eq!(&got, expected, "case {n}");
        }
    }

    #[test]
    fn adjust_gives_back_up_to_capacity_and_charges_into_debt() {
        let t0 = Instant::now();
        let mut b = Bucket::per_minute(60, t0);
        b.adjust(1000.0, t0);
        for _ in 0..60 {
            assert!(b.try_take(1.0, t0).is_ok());
        }
        assert!(b.try_take(1.0, t0).is_err(), "capacity is 60, not 1060");
        b.adjust(-60.0, t0); // 60 in debt: a minute to get back to zero
        assert_eq!(b.try_take(1.0, t0), Err(secs(61)));
        b.adjust(61.0, t0);
        assert!(b.try_take(1.0, t0).is_ok());
    }

    #[test]
    fn a_huge_debt_saturates_the_wait() {
        let t0 = Instant::now();
        let mut b = Bucket::per_minute(1, t0);
        assert!(b.try_take(1e30, t0).is_ok());
        assert_eq!(b.try_take(1.0, t0), Err(Duration::MAX));
    }

    #[test]
    fn keyed_limits_are_per_key_and_zero_disables() {
        let t0 = Instant::now();
        let l = KeyedLimiter::new(2);
        assert!(l.check("a", t0).is_ok());
        assert!(l.check("a", t0).is_ok());
        assert!(l.check("a", t0).is_err());
        assert!(l.check("b", t0).is_ok());
        let off = KeyedLimiter::new(0);
        for _ in 0..1000 {
            assert!(off.check("a", t0).is_ok());
        }
        assert_eq!(off.tracked_keys(), 0);
    }

    #[test]
    fn keyed_memory_is_bounded_by_recently_active_keys() {
        let t0 = Instant::now();
        let l = KeyedLimiter::new(1);
        for i in 0..MIN_SWEEP_AT {
            assert!(l.check(&format!("old-{i}"), t0).is_ok());
        }
        // every key is still empty: nothing can be swept
        assert!(l.check("late", t0).is_ok());
        assert_eq!(l.tracked_keys(), MIN_SWEEP_AT + 1);
        assert!(
            l.check("old-0", t0).is_err(),
            "kept buckets keep their state"
        );
        // a minute later they have refilled; new keys, arriving at about
        // 500 a minute, sweep them out and then each other
        let t1 = t0 + secs(60);
        let mut now = t1;
        for i in 0..10 * MIN_SWEEP_AT {
            now = t1 + Duration::from_millis(120 * i as u64);
            assert!(l.check(&format!("new-{i}"), now).is_ok());
            assert!(l.tracked_keys() <= 2 * MIN_SWEEP_AT, "{}", l.tracked_keys());
        }
        // about a minute's worth of keys, far fewer than the 11 000 seen
        assert!(l.tracked_keys() <= MIN_SWEEP_AT, "{}", l.tracked_keys());
        // swept keys behave as if they had never been dropped; recent ones
        // keep their state
        assert!(l.check("old-0", now).is_ok());
        assert!(l.check("new-0", now).is_ok());
        let last = format!("new-{}", 10 * MIN_SWEEP_AT - 1);
        assert!(l.check(&last, now).is_err());
    }

    #[test]
    fn token_reservations_reconcile() {
        let t0 = Instant::now();
        let l = RateLimits::new(None, Some(1000), t0).unwrap();
        let r = l.try_reserve(800, t0).unwrap();
        assert!(l.try_reserve(800, t0).is_err());
        // Only 100 were used: 700 come back.
        l.reconcile(r, Some(100), t0);
        assert!(l.try_reserve(800, t0).is_ok());
    }

    #[test]
    fn an_oversized_request_goes_when_full_then_waits() {
        let t0 = Instant::now();
        let l = RateLimits::new(Some(1), Some(10), t0).unwrap();
        assert!(
            l.try_reserve(50, t0).is_ok(),
            "larger than the bucket: allowed when full"
        );
        assert!(l.try_reserve(5, t0).is_err());
    }

    #[test]
    fn no_limits_is_none() {
        assert!(RateLimits::new(None, None, Instant::now()).is_none());
    }

    /// (requests/min, units/min, reservations at t0 as (estimate, admitted))
    #[test]
    fn reserve_table() {
        type Case = (Option<u32>, Option<u32>, &'static [(u64, bool)]);
        let cases: &[Case] = &[
            // requests only: units are not counted
            (
                Some(2),
                None,
                &[(1_000_000, true), (1_000_000, true), (0, false)],
            ),
            // units only: requests are not counted
            (
                None,
                Some(100),
                &[(40, true), (40, true), (40, false), (20, true)],
            ),
            // both: the request limit refusing hands the units back
            (Some(1), Some(100), &[(10, true), (10, false), (10, false)]),
            // both: the unit limit refusing takes no request
            (
                Some(2),
                Some(100),
                &[(90, true), (90, false), (10, true), (1, false)],
            ),
        ];
        for (n, (rpm, upm, reservations)) in cases.iter().enumerate() {
            let t0 = Instant::now();
            let limits = RateLimits::new(*rpm, *upm, t0).unwrap();
            for (i, &(estimate, admitted)) in reservations.iter().enumerate() {
                assert_eq!(
                    limits.try_reserve(estimate, t0).is_ok(),
                    admitted,
                    "case {n}, reservation {i}"
                );
            }
        }
    }

    #[test]
    fn a_refusal_by_the_request_limit_hands_the_units_back() {
        let t0 = Instant::now();
        let l = RateLimits::new(Some(1), Some(100), t0).unwrap();
        assert!(l.try_reserve(0, t0).is_ok());
        assert_eq!(l.try_reserve(100, t0).unwrap_err(), secs(60));
        // the units are all still there once a request is allowed again
        assert!(l.try_reserve(100, t0 + secs(60)).is_ok());
    }

    #[test]
    fn reconcile_charges_overruns_and_ignores_unknowns() {
        let t0 = Instant::now();
        let l = RateLimits::new(None, Some(60), t0).unwrap();
        let r = l.try_reserve(10, t0).unwrap();
        l.reconcile(r, None, t0); // the estimate stands: 50 left
        let r = l.try_reserve(50, t0).unwrap();
        l.reconcile(r, Some(110), t0); // 60 more than reserved: 60 in debt
        assert_eq!(l.try_reserve(1, t0).unwrap_err(), secs(61));
        // requests-only limits ignore reconciliation
        let requests_only = RateLimits::new(Some(1), None, t0).unwrap();
        let r = requests_only.try_reserve(5, t0).unwrap();
        requests_only.reconcile(r, Some(0), t0);
        assert!(requests_only.try_reserve(5, t0).is_err());
    }
}
