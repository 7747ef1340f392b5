//! Retry policy: how many attempts, until when, how long to wait between
//! them, and whether the shared budget allows another.
//!
//! Two ways to use it:
//!
//! * [`retry`](crate::retry()) runs an async operation under the policy and
//!   sleeps between attempts (see the `retry` module).
//! * The synchronous state machine, for callers that do the attempts
//!   themselves — for example a gateway that picks a different upstream on
//!   every attempt: [`RetryPolicy::start`] returns an [`Attempts`]; after
//!   each attempt, [`Attempts::on_outcome`] returns a [`Decision`].
//!
//! ```
//! use std::time::{Duration, Instant};
//! use rook_resilience::{Backoff, Decision, GiveUpReason, Jitter, Outcome, RetryConfig, RetryPolicy};
//!
//! let policy = RetryPolicy::new(RetryConfig {
//!     max_attempts: 3,
//!     deadline: Some(Duration::from_secs(30)),
//!     backoff: Backoff::new(Duration::from_millis(25), Duration::from_millis(250), Jitter::None)?,
//! })?;
//! let now = Instant::now();
//! let mut attempts = policy.start(now);
//! assert_eq!(attempts.on_outcome(Outcome::retryable(), now), Decision::RetryAfter(Duration::from_millis(25)));
//! // the upstream said "Retry-After: 1": wait at least that long
//! assert_eq!(attempts.on_outcome(Outcome::retry_after(Duration::from_secs(1)), now), Decision::RetryAfter(Duration::from_secs(1)));
//! assert_eq!(attempts.on_outcome(Outcome::retryable(), now), Decision::GiveUp(GiveUpReason::RetryExhausted));
//! assert!(attempts.retried());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Order of checks for a retryable outcome: attempts, then deadline (is
//! `now + delay` past it?), then the budget — so a retry that would not
//! happen anyway never spends budget.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backoff::{Backoff, Delays};
use crate::budget::RetryBudget;
use crate::clock::{Clock, SystemClock};
use crate::observer::{self, Observer};

pub use crate::events::GiveUpReason;

/// What the caller's classifier says about one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The attempt succeeded; stop.
    Success,
    /// The attempt failed and may be retried.
    Retryable {
        /// Do not retry (the same target) before this long, typically from
        /// a `Retry-After` header. The retry waits
        /// `max(backoff delay, not_before)`. A caller that will send the
        /// retry to a *different* target should usually pass `None`.
        not_before: Option<Duration>,
    },
    /// The attempt failed and retrying cannot help (for example a 400).
    Fatal,
}

impl Outcome {
    /// A retryable failure without a hint.
    pub fn retryable() -> Self {
        Self::Retryable { not_before: None }
    }

    /// A retryable failure that must not be retried before `not_before`.
    pub fn retry_after(not_before: Duration) -> Self {
        Self::Retryable {
            not_before: Some(not_before),
        }
    }
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// The attempt succeeded; nothing more to do.
    Done,
    /// Wait this long, then make another attempt.
    RetryAfter(Duration),
    /// Stop; the last attempt's result is final.
    GiveUp(GiveUpReason),
}

/// Invalid retry policy configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// `max_attempts` is zero: not even the first attempt would run.
    #[error("max_attempts must be at least 1")]
    ZeroAttempts,
    /// The deadline is zero.
    #[error("the deadline must be greater than zero")]
    ZeroDeadline,
}

/// Retry policy settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryConfig {
    /// Total attempts including the first. Default 3.
    pub max_attempts: u32,
    /// Overall time limit measured from [`RetryPolicy::start`]; no retry is
    /// scheduled whose wait would end after it. Default none.
    pub deadline: Option<Duration>,
    /// Delays between attempts. Default 25 ms base, 250 ms cap, full jitter.
    pub backoff: Backoff,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            deadline: None,
            backoff: Backoff::default(),
        }
    }
}

impl RetryConfig {
    /// Check the settings.
    ///
    /// # Errors
    /// A [`PolicyError`] for the first invalid field.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.max_attempts == 0 {
            return Err(PolicyError::ZeroAttempts);
        }
        if self.deadline.is_some_and(|d| d.is_zero()) {
            return Err(PolicyError::ZeroDeadline);
        }
        Ok(())
    }
}

/// A validated retry policy, with an optional shared [`RetryBudget`]. Cheap
/// to clone.
#[derive(Clone)]
pub struct RetryPolicy {
    config: RetryConfig,
    budget: Option<Arc<RetryBudget>>,
    observer: Arc<dyn Observer>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("config", &self.config)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl RetryPolicy {
    /// A policy without a budget, on the system clock, with no observer.
    ///
    /// # Errors
    /// If the configuration is invalid (see [`RetryConfig::validate`]).
    pub fn new(config: RetryConfig) -> Result<Self, PolicyError> {
        config.validate()?;
        Ok(Self {
            config,
            budget: None,
            observer: observer::noop(),
            clock: Arc::new(SystemClock),
        })
    }

    /// Govern retries with `budget` (shared across requests):
    /// [`start`](Self::start) deposits, each retry withdraws.
    #[must_use]
    pub fn with_budget(mut self, budget: Arc<RetryBudget>) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Report retries, successes and give-ups to `observer`.
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = observer;
        self
    }

    /// The clock the async [`retry`](crate::retry()) helper reads (the state
    /// machine takes `now` from its caller). Default [`SystemClock`]; use
    /// `TokioClock` in tests with paused tokio time.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &RetryConfig {
        &self.config
    }

    /// The budget, if any.
    pub fn budget(&self) -> Option<&Arc<RetryBudget>> {
        self.budget.as_ref()
    }

    pub(crate) fn clock(&self) -> &dyn Clock {
        &*self.clock
    }

    /// Begin one logical request at `now` (deposits into the budget). Call
    /// [`Attempts::on_outcome`] after every attempt.
    pub fn start(&self, now: Instant) -> Attempts {
        if let Some(budget) = &self.budget {
            budget.deposit();
        }
        Attempts {
            policy: self.clone(),
            delays: self.config.backoff.delays(),
            deadline: self.config.deadline.and_then(|d| now.checked_add(d)),
            attempts: 0,
            finished: None,
        }
    }
}

/// The retry state of one logical request. Created by
/// [`RetryPolicy::start`].
#[derive(Debug)]
pub struct Attempts {
    policy: RetryPolicy,
    delays: Delays,
    deadline: Option<Instant>,
    attempts: u32,
    finished: Option<Decision>,
}

impl Attempts {
    /// Record the outcome of the attempt just made, at `now`, and decide
    /// what comes next. Once it returned [`Decision::Done`] or
    /// [`Decision::GiveUp`], later calls return the same decision and
    /// change nothing.
    pub fn on_outcome(&mut self, outcome: Outcome, now: Instant) -> Decision {
        if let Some(decision) = self.finished {
            return decision;
        }
        self.attempts = self.attempts.saturating_add(1);
        let not_before = match outcome {
            Outcome::Success => {
                self.policy.observer.succeeded(self.attempts);
                return self.finish(Decision::Done);
            }
            Outcome::Fatal => return self.give_up(GiveUpReason::NotRetryable),
            Outcome::Retryable { not_before } => not_before,
        };
        if self.attempts >= self.policy.config.max_attempts {
            return self.give_up(GiveUpReason::RetryExhausted);
        }
        let backoff = self.delays.next().unwrap_or_default();
        let delay = not_before.map_or(backoff, |hint| hint.max(backoff));
        if let Some(deadline) = self.deadline {
            let resume = now.checked_add(delay);
            if resume.is_none_or(|at| at >= deadline) {
                return self.give_up(GiveUpReason::DeadlineExceeded);
            }
        }
        if let Some(budget) = &self.policy.budget {
            if !budget.try_withdraw() {
                return self.give_up(GiveUpReason::BudgetExhausted);
            }
        }
        self.policy.observer.retry_scheduled(self.attempts, delay);
        Decision::RetryAfter(delay)
    }

    fn give_up(&mut self, reason: GiveUpReason) -> Decision {
        self.policy.observer.gave_up(reason, self.attempts);
        self.finish(Decision::GiveUp(reason))
    }

    fn finish(&mut self, decision: Decision) -> Decision {
        self.finished = Some(decision);
        decision
    }

    /// Attempts recorded so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Whether any retry happened (more than one attempt was recorded).
    /// With [`Decision::Done`], this is "succeeded after retry".
    pub fn retried(&self) -> bool {
        self.attempts > 1
    }

    /// The absolute deadline, if the policy has one.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Time left until the deadline at `now` (`None` without a deadline),
    /// for per-attempt timeouts.
    pub fn remaining(&self, now: Instant) -> Option<Duration> {
        self.deadline
            .map(|deadline| deadline.saturating_duration_since(now))
    }

    /// The final decision, once there is one.
    pub fn finished(&self) -> Option<Decision> {
        self.finished
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backoff::Jitter;
    use crate::budget::BudgetConfig;
    use crate::clock::ManualClock;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn policy(max_attempts: u32, deadline: Option<Duration>) -> RetryPolicy {
        RetryPolicy::new(RetryConfig {
            max_attempts,
            deadline,
            backoff: Backoff::new(ms(100), ms(1000), Jitter::None).unwrap(),
        })
        .unwrap()
    }

    #[test]
    fn validation() {
        let config = RetryConfig {
            max_attempts: 0,
            ..RetryConfig::default()
        };
        assert_eq!(
            RetryPolicy::new(config).unwrap_err(),
            PolicyError::ZeroAttempts
        );
        let config = RetryConfig {
            deadline: Some(Duration::ZERO),
            ..RetryConfig::default()
        };
        assert_eq!(
            RetryPolicy::new(config).unwrap_err(),
            PolicyError::ZeroDeadline
        );
    }

    #[test]
    fn success_first_time_is_not_a_retry() {
        let now = Instant::now();
        let mut a = policy(3, None).start(now);
        assert_eq!(a.on_outcome(Outcome::Success, now), Decision::Done);
        assert!(!a.retried());
        assert_eq!(a.attempts(), 1);
        assert_eq!(a.on_outcome(Outcome::retryable(), now), Decision::Done);
        assert_eq!(a.attempts(), 1);
    }

    #[test]
    fn backoff_then_success_after_retry() {
        let now = Instant::now();
        let mut a = policy(5, None).start(now);
        assert_eq!(
            a.on_outcome(Outcome::retryable(), now),
            Decision::RetryAfter(ms(100))
        );
        assert_eq!(
            a.on_outcome(Outcome::retryable(), now),
            Decision::RetryAfter(ms(200))
        );
        assert_eq!(a.on_outcome(Outcome::Success, now), Decision::Done);
        assert!(a.retried());
        assert_eq!(a.attempts(), 3);
    }

    #[test]
    fn fatal_and_exhausted() {
        let now = Instant::now();
        let mut a = policy(3, None).start(now);
        assert_eq!(
            a.on_outcome(Outcome::Fatal, now),
            Decision::GiveUp(GiveUpReason::NotRetryable)
        );
        let mut a = policy(1, None).start(now);
        assert_eq!(
            a.on_outcome(Outcome::retryable(), now),
            Decision::GiveUp(GiveUpReason::RetryExhausted)
        );
    }

    #[test]
    fn hint_longer_than_backoff_wins() {
        let now = Instant::now();
        let mut a = policy(3, None).start(now);
        assert_eq!(
            a.on_outcome(Outcome::retry_after(ms(40)), now),
            Decision::RetryAfter(ms(100))
        );
        assert_eq!(
            a.on_outcome(Outcome::retry_after(ms(700)), now),
            Decision::RetryAfter(ms(700))
        );
    }

    #[test]
    fn deadline_crossed_by_next_delay() {
        let clock = ManualClock::new();
        let mut a = policy(10, Some(ms(1000))).start(clock.now());
        assert_eq!(a.remaining(clock.now()), Some(ms(1000)));
        assert_eq!(
            a.on_outcome(Outcome::retryable(), clock.now()),
            Decision::RetryAfter(ms(100))
        );
        clock.advance(ms(800));
        // next delay is 200 ms: 800 + 200 reaches the deadline
        assert_eq!(
            a.on_outcome(Outcome::retryable(), clock.now()),
            Decision::GiveUp(GiveUpReason::DeadlineExceeded)
        );
        // a Retry-After beyond the deadline gives up at once
        let mut a = policy(10, Some(ms(1000))).start(clock.now());
        assert_eq!(
            a.on_outcome(Outcome::retry_after(Duration::from_secs(5)), clock.now()),
            Decision::GiveUp(GiveUpReason::DeadlineExceeded)
        );
    }

    #[test]
    fn budget_refuses_and_is_not_spent_by_other_give_ups() {
        let clock = ManualClock::new();
        let budget = Arc::new(
            RetryBudget::new(BudgetConfig {
                ratio: 0.0,
                min_per_second: 0.1, // one retry per 10 s
                ttl: Duration::from_secs(10),
            })
            .unwrap()
            .with_clock(Arc::new(clock.clone())),
        );
        let p = policy(2, None).with_budget(budget.clone());
        let now = clock.now();
        // attempts run out before the budget is asked
        let mut a = p.start(now);
        assert!(matches!(
            a.on_outcome(Outcome::retryable(), now),
            Decision::RetryAfter(_)
        ));
        assert_eq!(
            a.on_outcome(Outcome::retryable(), now),
            Decision::GiveUp(GiveUpReason::RetryExhausted)
        );
        let mut b = p.start(now);
        assert_eq!(
            b.on_outcome(Outcome::retryable(), now),
            Decision::GiveUp(GiveUpReason::BudgetExhausted)
        );
        assert!(!b.retried());
    }
}
