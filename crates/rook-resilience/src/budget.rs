//! A Finagle-style retry budget: retries may be at most a share of recent
//! traffic, plus a small floor.
//!
//! Every original request [`deposit`](RetryBudget::deposit)s; every retry
//! must [`try_withdraw`](RetryBudget::try_withdraw). Within the sliding
//! window (`ttl`, default 10 s) a withdrawal succeeds while
//!
//! ```text
//! withdrawals + 1 <= ratio × deposits + min_per_second × ttl_seconds
//! ```
//!
//! so with the defaults (20 %, 10/s, 10 s) a quiet service may retry 100
//! times per 10 s, and a busy one 20 % of its traffic on top of that.
//!
//! The window is a ring of [`BUCKETS`](RetryBudget::BUCKETS) buckets of
//! `ttl / BUCKETS` each, aligned to the budget's creation; a bucket expires
//! as a whole. A withdrawal must fit not only the whole window but every
//! more recent part of it (the last bucket, the last two, …), because a
//! retry stays counted longer than the older deposits that would otherwise
//! pay for it. That makes the guarantee exact: in **every** bucket-aligned
//! window of `ttl`, successful withdrawals never exceed
//! `ratio × deposits + min_per_second × ttl_seconds` counted in that same
//! window. Under steady traffic this is the same as the simple rule; after
//! a burst followed by silence it is stricter (the floor still applies). A
//! call takes a mutex around a fixed array, sums at most `BUCKETS` buckets
//! and does not allocate.
//!
//! Why a budget and not only max attempts: attempts multiply across layers
//! (3 attempts at the client × 3 at the gateway = 9 upstream calls per user
//! request) and, when an upstream is down, every request uses all of them —
//! the retry storm triples the load exactly when the upstream can least
//! take it. A budget caps retries as a share of live traffic instead.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::clock::{Clock, SystemClock};
use crate::observer::{self, Observer};

/// Invalid retry budget configuration.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BudgetError {
    /// `ratio` is negative, NaN or infinite.
    #[error("retry budget ratio must be a finite number >= 0, got {0}")]
    InvalidRatio(f64),
    /// `min_per_second` is negative, NaN or infinite.
    #[error("retry budget min_per_second must be a finite number >= 0, got {0}")]
    InvalidMinPerSecond(f64),
    /// `ttl` is shorter than one millisecond.
    #[error("retry budget ttl must be at least 1 ms, got {0:?}")]
    InvalidTtl(Duration),
}

/// Retry budget settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetConfig {
    /// Retries allowed per original request in the window (0.2 = 20 %).
    /// Default 0.2.
    pub ratio: f64,
    /// Retries per second always allowed, whatever the traffic, so a quiet
    /// service can still retry. Default 10.
    pub min_per_second: f64,
    /// How long deposits and withdrawals count. Default 10 s.
    pub ttl: Duration,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self {
            ratio: 0.2,
            min_per_second: 10.0,
            ttl: Duration::from_secs(10),
        }
    }
}

impl BudgetConfig {
    /// Check the settings.
    ///
    /// # Errors
    /// A [`BudgetError`] naming the first invalid field.
    pub fn validate(&self) -> Result<(), BudgetError> {
        if !(self.ratio.is_finite() && self.ratio >= 0.0) {
            return Err(BudgetError::InvalidRatio(self.ratio));
        }
        if !(self.min_per_second.is_finite() && self.min_per_second >= 0.0) {
            return Err(BudgetError::InvalidMinPerSecond(self.min_per_second));
        }
        if self.ttl < Duration::from_millis(1) {
            return Err(BudgetError::InvalidTtl(self.ttl));
        }
        Ok(())
    }

    /// The retries always allowed per window: `min_per_second × ttl`.
    pub fn reserve(&self) -> f64 {
        self.min_per_second * self.ttl.as_secs_f64()
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    index: u64,
    deposits: u64,
    withdrawals: u64,
}

#[derive(Debug)]
struct Window {
    buckets: [Bucket; RetryBudget::BUCKETS],
}

impl Window {
    /// The bucket for `index`, reset if it held an older period.
    fn current(&mut self, index: u64) -> &mut Bucket {
        let slot = &mut self.buckets[(index % RetryBudget::BUCKETS as u64) as usize];
        if slot.index != index {
            *slot = Bucket {
                index,
                deposits: 0,
                withdrawals: 0,
            };
        }
        slot
    }

    /// The retries still allowed at bucket `index`: the smallest headroom
    /// `ratio × deposits + reserve − withdrawals` over every suffix of the
    /// window (the current bucket, the last two, …, all of them).
    fn headroom(&self, index: u64, ratio: f64, reserve: f64) -> f64 {
        let mut deposits = 0u64;
        let mut withdrawals = 0u64;
        let mut headroom = f64::INFINITY;
        for age in 0..RetryBudget::BUCKETS as u64 {
            let Some(i) = index.checked_sub(age) else {
                break;
            };
            let slot = &self.buckets[(i % RetryBudget::BUCKETS as u64) as usize];
            if slot.index == i {
                deposits += slot.deposits;
                withdrawals += slot.withdrawals;
            }
            headroom = headroom.min(ratio * deposits as f64 + reserve - withdrawals as f64);
        }
        headroom
    }
}

/// A thread-safe retry budget. Share it (`Arc<RetryBudget>`) between all
/// requests it should govern.
pub struct RetryBudget {
    config: BudgetConfig,
    reserve: f64,
    bucket_nanos: u128,
    epoch: Instant,
    window: Mutex<Window>,
    clock: Arc<dyn Clock>,
    observer: Arc<dyn Observer>,
}

impl std::fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryBudget")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl RetryBudget {
    /// Number of buckets the window is divided into.
    pub const BUCKETS: usize = 10;

    /// A budget on the system clock with no observer.
    ///
    /// # Errors
    /// If the configuration is invalid (see [`BudgetConfig::validate`]).
    pub fn new(config: BudgetConfig) -> Result<Self, BudgetError> {
        config.validate()?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        Ok(Self {
            reserve: config.reserve(),
            bucket_nanos: (config.ttl.as_nanos() / Self::BUCKETS as u128).max(1),
            epoch: clock.now(),
            window: Mutex::new(Window {
                buckets: [Bucket::default(); Self::BUCKETS],
            }),
            config,
            clock,
            observer: observer::noop(),
        })
    }

    /// Use `clock` for time. Call before use: this restarts the window.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.epoch = clock.now();
        self.clock = clock;
        self.window = Mutex::new(Window {
            buckets: [Bucket::default(); Self::BUCKETS],
        });
        self
    }

    /// Report refused withdrawals to `observer`.
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = observer;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &BudgetConfig {
        &self.config
    }

    fn index(&self, now: Instant) -> u64 {
        let since = now.saturating_duration_since(self.epoch).as_nanos();
        u64::try_from(since / self.bucket_nanos).unwrap_or(u64::MAX)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Window> {
        self.window.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Record one original (non-retry) request.
    pub fn deposit(&self) {
        let index = self.index(self.clock.now());
        let mut window = self.lock();
        let bucket = window.current(index);
        bucket.deposits = bucket.deposits.saturating_add(1);
    }

    /// Ask for one retry. `false` (and [`Observer::budget_exhausted`]) if
    /// the budget is spent.
    pub fn try_withdraw(&self) -> bool {
        let index = self.index(self.clock.now());
        let allowed = {
            let mut window = self.lock();
            let allowed = window.headroom(index, self.config.ratio, self.reserve) >= 1.0;
            if allowed {
                let bucket = window.current(index);
                bucket.withdrawals = bucket.withdrawals.saturating_add(1);
            }
            allowed
        };
        if !allowed {
            self.observer.budget_exhausted();
        }
        allowed
    }

    /// Retries still available now (rounded down), for metrics.
    pub fn remaining(&self) -> u64 {
        let index = self.index(self.clock.now());
        let headroom = self.lock().headroom(index, self.config.ratio, self.reserve);
        headroom.max(0.0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn budget(ratio: f64, floor: f64, clock: &ManualClock) -> RetryBudget {
        RetryBudget::new(BudgetConfig {
            ratio,
            min_per_second: floor,
            ttl: Duration::from_secs(10),
        })
        .unwrap()
        .with_clock(Arc::new(clock.clone()))
    }

    #[test]
    fn validation() {
        let bad = |c: BudgetConfig| RetryBudget::new(c).unwrap_err();
        let d = BudgetConfig::default();
        assert!(matches!(
            bad(BudgetConfig { ratio: -0.1, ..d }),
            BudgetError::InvalidRatio(_)
        ));
        assert!(matches!(
            bad(BudgetConfig {
                ratio: f64::NAN,
                ..d
            }),
            BudgetError::InvalidRatio(_)
        ));
        assert!(matches!(
            bad(BudgetConfig {
                min_per_second: f64::INFINITY,
                ..d
            }),
            BudgetError::InvalidMinPerSecond(_)
        ));
        assert!(matches!(
            bad(BudgetConfig {
                ttl: Duration::ZERO,
                ..d
            }),
            BudgetError::InvalidTtl(_)
        ));
    }

    #[test]
    fn floor_then_ratio() {
        let clock = ManualClock::new();
        let b = budget(0.5, 0.2, &clock); // reserve: 2 retries per 10 s
        assert!(b.try_withdraw());
        assert!(b.try_withdraw());
        assert!(!b.try_withdraw());
        for _ in 0..4 {
            b.deposit();
        }
        assert_eq!(b.remaining(), 2);
        assert!(b.try_withdraw());
        assert!(b.try_withdraw());
        assert!(!b.try_withdraw());
    }

    #[test]
    fn old_deposits_do_not_fund_retries_that_outlive_them() {
        let clock = ManualClock::new();
        let b = budget(0.5, 0.0, &clock);
        for _ in 0..10 {
            b.deposit();
        }
        clock.advance(Duration::from_secs(5));
        // the 10 deposits expire in 5 s, a retry taken now would stay counted
        // for 10 s: without fresh traffic nothing is left to pay for it
        assert_eq!(b.remaining(), 0);
        assert!(!b.try_withdraw());
        b.deposit();
        b.deposit();
        assert!(b.try_withdraw());
        assert!(!b.try_withdraw());
    }

    #[test]
    fn window_expires() {
        let clock = ManualClock::new();
        let b = budget(0.0, 0.1, &clock); // 1 retry per 10 s
        assert!(b.try_withdraw());
        assert!(!b.try_withdraw());
        clock.advance(Duration::from_secs(9));
        assert!(!b.try_withdraw());
        clock.advance(Duration::from_secs(1));
        assert!(b.try_withdraw());
    }

    #[test]
    fn refusal_is_observed() {
        use std::sync::atomic::{AtomicU32, Ordering};
        #[derive(Default)]
        struct Count(AtomicU32);
        impl Observer for Count {
            fn budget_exhausted(&self) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        let count = Arc::new(Count::default());
        let b = RetryBudget::new(BudgetConfig {
            ratio: 0.0,
            min_per_second: 0.0,
            ttl: Duration::from_secs(1),
        })
        .unwrap()
        .with_observer(count.clone());
        assert!(!b.try_withdraw());
        assert_eq!(count.0.load(Ordering::Relaxed), 1);
    }
}
