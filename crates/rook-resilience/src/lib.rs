//! Retry, backoff, `Retry-After` parsing, retry budgets, per-key cooldown,
//! concurrency limits and rate limits: an embeddable resilience library.
//!
//! It knows nothing about HTTP clients, LLMs or the rest of Rook. Every
//! decision is synchronous and reads time from a [`Clock`] (or takes it as
//! a `now: Instant` argument), so it is cheap and testable; only waiting is
//! async, through a [`Sleeper`].
//!
//! | module | piece | answers |
//! |---|---|---|
//! | [`clock`] | [`Clock`], [`Sleeper`] | what time is it; wait |
//! | [`backoff`] | [`Backoff`], [`Jitter`] | how long before the next try |
//! | [`policy`] | [`RetryPolicy`], [`Attempts`], [`Decision`] | try again, and when, or give up and why |
//! | [`retry`](mod@retry) | [`retry()`] | run an async operation under a policy |
//! | [`retry_after`] | [`retry_after::retry_hint`] and parsers | how long did the upstream ask us to wait |
//! | [`budget`] | [`RetryBudget`] | is retrying still a small share of traffic |
//! | [`breaker`] | [`Breaker`], [`Admission`] | is this key (account, host) usable now |
//! | [`limiter`] | `Limiter`, [`LimiterError`] | is there room for one more request |
//! | [`rate`] | [`Bucket`], [`KeyedLimiter`], [`RateLimits`] | may one more request (or this many units) start this minute |
//! | [`lease`] | [`LeaseTable`], [`LeaseWant`], [`Take`] | the same, for a limit shared by several processes through leased slices |
//! | [`spend_lease`] | [`SpendLeases`], [`SpendWant`], [`Admit`] | may a request of a key start while its budget is shared by several processes through leased slices |
//! | [`events`] | [`CircuitState`], [`OpenReason`], [`GiveUpReason`], [`LimiterError`] | what was decided (the observer's vocabulary) |
//! | [`observer`] | [`Observer`] | tell me what you decided (metrics, logs) |
//!
//! A caller that picks a different target on every attempt (like a gateway
//! choosing among accounts) combines them like this:
//!
//! ```
//! use std::sync::Arc;
//! use std::time::{Duration, Instant};
//! use rook_resilience::{
//!     Breaker, BreakerConfig, BudgetConfig, Decision, Outcome, RetryBudget, RetryConfig, RetryPolicy,
//! };
//!
//! let budget = Arc::new(RetryBudget::new(BudgetConfig::default())?);
//! let policy = RetryPolicy::new(RetryConfig::default())?.with_budget(budget);
//! let breaker = Breaker::new(BreakerConfig { failure_threshold: 1, ..BreakerConfig::default() })?;
//! for account in ["a", "b"] {
//!     breaker.register(account);
//! }
//!
//! // a pretend upstream: account "a" is rate limited, "b" works
//! let call = |account: &str| if account == "a" { Err(Duration::from_secs(20)) } else { Ok("hello") };
//!
//! let mut attempts = policy.start(Instant::now());
//! let answer = loop {
//!     let Some(admission) = ["a", "b"].iter().find_map(|k| breaker.try_acquire(k)) else {
//!         break None; // every account is cooling down
//!     };
//!     let outcome = match call(admission.key()) {
//!         Ok(body) => { admission.success(); Some(body) }
//!         Err(retry_after) => { admission.failure_with_hint(retry_after); None }
//!     };
//!     let decision = attempts.on_outcome(
//!         if outcome.is_some() { Outcome::Success } else { Outcome::retryable() },
//!         Instant::now(),
//!     );
//!     match decision {
//!         Decision::RetryAfter(_delay) => continue, // another account: no need to wait the hint
//!         _ => break outcome,
//!     }
//! };
//! assert_eq!(answer, Some("hello"));
//! assert!(attempts.retried()); // "succeeded after retry"
//! assert!(!breaker.is_available(&"a"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//!
//! * `tokio` (default): `TokioSleeper`, `TokioClock` and the `Limiter`.
//! * `manual-clock`: `ManualClock` and `ManualSleeper`, for deterministic
//!   tests in downstream crates.
//!
//! See `docs/resilience.md` in the repository for the model, every knob and
//! its default.

pub mod backoff;
pub mod breaker;
pub mod budget;
pub mod clock;
pub mod events;
pub mod lease;
pub mod limiter;
pub mod observer;
pub mod policy;
pub mod rate;
pub mod retry;
pub mod retry_after;
pub mod spend_lease;

pub use backoff::{Backoff, BackoffError, Delays, Jitter};
pub use breaker::{
    Admission, Breaker, BreakerConfig, BreakerError, BreakerKey, KeySnapshot, PersistedKey,
};
pub use budget::{BudgetConfig, BudgetError, RetryBudget};
pub use clock::{Clock, Sleeper, SystemClock};
#[cfg(any(test, feature = "manual-clock"))]
pub use clock::{ManualClock, ManualSleeper};
#[cfg(feature = "tokio")]
pub use clock::{TokioClock, TokioSleeper};
pub use events::{CircuitState, GiveUpReason, LimiterError, OpenReason};
#[cfg(feature = "tokio")]
pub use lease::{LeaseTable, LeaseWant, Take};
#[cfg(feature = "tokio")]
pub use limiter::{Limiter, Permit};
pub use observer::{NoopObserver, Observer};
pub use policy::{Attempts, Decision, Outcome, PolicyError, RetryConfig, RetryPolicy};
pub use rate::{Bucket, KeyedLimiter, RateLimits, Reservation};
pub use retry::{retry, RetryReport};
pub use spend_lease::{Admit, SpendLeases, SpendWant};
