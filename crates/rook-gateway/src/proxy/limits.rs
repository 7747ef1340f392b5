//! Request and token rate limits (token buckets, in memory, per instance).
//!
//! - Per principal and per route: requests per minute; over the limit the client
//!   gets 429 with `Retry-After` and no upstream call is made.
//! - Per account: requests and tokens per minute. An account over its limit is
//!   skipped like a cooling one; each request reserves its token estimate and is
//!   reconciled with the reported usage afterwards (a bucket may go into debt).
//!
//! Several instances do not share these buckets; each enforces its own limits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::snapshot::AccountShared;

/// A token bucket refilled continuously at `per_minute / 60` per second, holding at
/// most `per_minute` (a full minute of burst).
#[derive(Debug)]
pub(crate) struct Bucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// A full bucket for `per_minute` (must be > 0).
    pub(crate) fn per_minute(per_minute: u32, now: Instant) -> Bucket {
        let capacity = f64::from(per_minute.max(1));
        Bucket {
            capacity,
            per_second: capacity / 60.0,
            tokens: capacity,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * self.per_second).min(self.capacity);
        self.last = now;
    }

    /// Takes `n` if available; otherwise returns how long until it would be.
    pub(crate) fn try_take(&mut self, n: f64, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        // A request larger than the whole bucket may go when the bucket is full.
        let need = n.min(self.capacity);
        if self.tokens >= need {
            self.tokens -= n;
            Ok(())
        } else {
            let missing = need - self.tokens;
            Err(Duration::from_secs_f64(missing / self.per_second))
        }
    }

    /// Gives back (positive) or charges (negative) tokens after the fact.
    pub(crate) fn adjust(&mut self, delta: f64, now: Instant) {
        self.refill(now);
        self.tokens = (self.tokens + delta).min(self.capacity);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Request-per-minute limits keyed by a string (principal hash or route).
#[derive(Debug)]
pub(crate) struct KeyedLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl KeyedLimiter {
    /// `per_minute == 0` disables the limit.
    pub(crate) fn new(per_minute: u32) -> Self {
        KeyedLimiter {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request for `key`; `Err(wait)` when over the limit.
    pub(crate) fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let mut map = lock(&self.buckets);
        if let Some(b) = map.get_mut(key) {
            return b.try_take(1.0, now);
        }
        let mut b = Bucket::per_minute(self.per_minute, now);
        let r = b.try_take(1.0, now);
        map.insert(key.to_string(), b);
        r
    }
}

/// An account's request and token limits.
#[derive(Debug)]
pub(crate) struct AccountLimits {
    requests: Option<Mutex<Bucket>>,
    tokens: Option<Mutex<Bucket>>,
}

/// What an admitted request reserved, to reconcile later.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reservation {
    tokens: f64,
}

impl AccountLimits {
    /// Limits from the account's `requests_per_minute` / `tokens_per_minute`.
    pub(crate) fn new(rpm: Option<u32>, tpm: Option<u32>, now: Instant) -> Option<Self> {
        if rpm.is_none() && tpm.is_none() {
            return None;
        }
        Some(AccountLimits {
            requests: rpm.map(|r| Mutex::new(Bucket::per_minute(r, now))),
            tokens: tpm.map(|t| Mutex::new(Bucket::per_minute(t, now))),
        })
    }

    /// Reserves one request and `estimate` tokens, or says how long to wait.
    pub(crate) fn try_reserve(&self, estimate: u64, now: Instant) -> Result<Reservation, Duration> {
        let est = estimate as f64;
        if let Some(t) = &self.tokens {
            // Check tokens first without taking the request, so a refusal takes nothing.
            let mut tb = lock(t);
            tb.try_take(est, now)?;
            if let Some(r) = &self.requests {
                if let Err(wait) = lock(r).try_take(1.0, now) {
                    tb.adjust(est, now);
                    return Err(wait);
                }
            }
            return Ok(Reservation { tokens: est });
        }
        if let Some(r) = &self.requests {
            lock(r).try_take(1.0, now)?;
        }
        Ok(Reservation { tokens: 0.0 })
    }

    /// Reconciles a reservation with the tokens actually used (`None`: unknown,
    /// the estimate stands).
    pub(crate) fn reconcile(&self, reservation: Reservation, actual: Option<u64>, now: Instant) {
        let (Some(t), Some(actual)) = (&self.tokens, actual) else {
            return;
        };
        lock(t).adjust(reservation.tokens - actual as f64, now);
    }
}

/// A request's token estimate: prompt bytes / 4 plus `max_tokens` (or
/// `max_completion_tokens`), or 256 output tokens when neither is given.
pub(crate) fn estimate_tokens(body: &[u8], max_tokens: Option<u64>) -> u64 {
    (body.len() as u64) / 4 + max_tokens.unwrap_or(256)
}

/// An account's token reservation, settled when the attempt's usage is known.
pub(crate) struct Reserved {
    shared: Arc<AccountShared>,
    reservation: Reservation,
}

impl Reserved {
    /// Reserves one request and `estimate` tokens on the account, if it has
    /// limits (`Ok(None)` when it has none), or says how long to wait.
    pub(crate) fn try_new(shared: &Arc<AccountShared>, estimate: u64) -> Result<Option<Reserved>, Duration> {
        let Some(l) = shared.limits() else {
            return Ok(None);
        };
        let reservation = l.try_reserve(estimate, Instant::now())?;
        Ok(Some(Reserved {
            shared: shared.clone(),
            reservation,
        }))
    }

    /// Settles the reservation with the tokens actually used (`Some(0)` for a
    /// failed attempt, `None` when unknown).
    pub(crate) fn settle(self, used: Option<u64>) {
        if let Some(l) = self.shared.limits() {
            l.reconcile(self.reservation, used, Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }

    #[test]
    fn token_reservations_reconcile() {
        let t0 = Instant::now();
        let l = AccountLimits::new(None, Some(1000), t0).unwrap();
        let r = l.try_reserve(800, t0).unwrap();
        assert!(l.try_reserve(800, t0).is_err());
        // Only 100 were used: 700 come back.
        l.reconcile(r, Some(100), t0);
        assert!(l.try_reserve(800, t0).is_ok());
    }

    #[test]
    fn an_oversized_request_goes_when_full_then_waits() {
        let t0 = Instant::now();
        let l = AccountLimits::new(Some(1), Some(10), t0).unwrap();
        assert!(
            l.try_reserve(50, t0).is_ok(),
            "larger than the bucket: allowed when full"
        );
        assert!(l.try_reserve(5, t0).is_err());
    }
}
