//! The async [`retry`] helper: run an operation under a
//! [`RetryPolicy`], waiting between attempts with a [`Sleeper`].
//!
//! The operation returns any value `R`; a classifier turns `&R` into an
//! [`Outcome`]. The last value is always handed back, in a [`RetryReport`]
//! that also says how many attempts were made and why retrying stopped.
//! The deadline stops *retries*; to bound a single attempt, wrap the
//! operation in your runtime's timeout.

use std::future::Future;

use crate::clock::Sleeper;
use crate::events::GiveUpReason;
use crate::policy::{Decision, Outcome, RetryPolicy};

/// The result of [`retry`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryReport<R> {
    /// The last attempt's output.
    pub output: R,
    /// How many attempts were made (at least 1).
    pub attempts: u32,
    /// Why the policy stopped, if the last attempt was not a success.
    pub gave_up: Option<GiveUpReason>,
}

impl<R> RetryReport<R> {
    /// Whether any retry happened.
    pub fn retried(&self) -> bool {
        self.attempts > 1
    }

    /// The last attempt's output.
    pub fn into_output(self) -> R {
        self.output
    }
}

/// Run `op` under `policy`: after each attempt, `classify` its output; on a
/// retryable outcome wait (through `sleeper`) for the policy's delay and try
/// again, until success, a fatal outcome, or the policy gives up. `op`
/// receives the 0-based attempt number.
///
/// Time for the deadline comes from the policy's clock
/// ([`RetryPolicy::with_clock`]).
///
/// ```
/// # #[cfg(feature = "tokio")] {
/// use std::time::Duration;
/// use rook_resilience::{retry, Outcome, RetryConfig, RetryPolicy, TokioSleeper};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let policy = RetryPolicy::new(RetryConfig::default()).unwrap();
/// let report = retry(
///     &policy,
///     &TokioSleeper,
///     |attempt| async move { if attempt < 1 { Err("flaky") } else { Ok(42) } },
///     |result: &Result<i32, &str>| match result {
///         Ok(_) => Outcome::Success,
///         Err(_) => Outcome::retryable(),
///     },
/// )
/// .await;
/// assert_eq!(report.output, Ok(42));
/// assert!(report.retried());
/// # });
/// # }
/// ```
pub async fn retry<R, Op, Fut, Classify, S>(
    policy: &RetryPolicy,
    sleeper: &S,
    mut op: Op,
    mut classify: Classify,
) -> RetryReport<R>
where
    Op: FnMut(u32) -> Fut,
    Fut: Future<Output = R>,
    Classify: FnMut(&R) -> Outcome,
    S: Sleeper + ?Sized,
{
    let mut attempts = policy.start(policy.clock().now());
    let mut attempt = 0u32;
    loop {
        let output = op(attempt).await;
        let outcome = classify(&output);
        match attempts.on_outcome(outcome, policy.clock().now()) {
            Decision::RetryAfter(delay) => {
                if !delay.is_zero() {
                    sleeper.sleep(delay).await;
                }
                attempt = attempt.saturating_add(1);
            }
            Decision::GiveUp(reason) => {
                return RetryReport {
                    output,
                    attempts: attempts.attempts(),
                    gave_up: Some(reason),
                }
            }
            Decision::Done => {
                return RetryReport {
                    output,
                    attempts: attempts.attempts(),
                    gave_up: None,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backoff::{Backoff, Jitter};
    use crate::clock::{Clock, ManualClock, ManualSleeper};
    use crate::policy::RetryConfig;
    use std::sync::Arc;
    use std::time::Duration;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn policy(clock: &ManualClock, max_attempts: u32, deadline: Option<Duration>) -> RetryPolicy {
        RetryPolicy::new(RetryConfig {
            max_attempts,
            deadline,
            backoff: Backoff::new(ms(10), ms(100), Jitter::None).unwrap(),
        })
        .unwrap()
        .with_clock(Arc::new(clock.clone()))
    }

    fn classify(r: &Result<u32, Option<Duration>>) -> Outcome {
        match r {
            Ok(_) => Outcome::Success,
            Err(None) => Outcome::Fatal,
            Err(Some(hint)) => Outcome::retry_after(*hint),
        }
    }

    #[tokio::test]
    async fn retries_with_manual_time() {
        let clock = ManualClock::new();
        let sleeper = ManualSleeper::new(clock.clone());
        let p = policy(&clock, 5, None);
        let report = retry(
            &p,
            &sleeper,
            |n| async move {
                if n < 2 {
                    Err(Some(ms(n as u64 * 30)))
                } else {
                    Ok(n)
                }
            },
            classify,
        )
        .await;
        assert_eq!(report.output, Ok(2));
        assert_eq!(report.attempts, 3);
        assert_eq!(report.gave_up, None);
        assert!(report.retried());
        // backoff 10 ms vs hint 0; backoff 20 ms vs hint 30 ms
        assert_eq!(sleeper.slept(), vec![ms(10), ms(30)]);
    }

    #[tokio::test]
    async fn gives_up_with_reason() {
        let clock = ManualClock::new();
        let sleeper = ManualSleeper::new(clock.clone());
        let fatal = retry(
            &policy(&clock, 5, None),
            &sleeper,
            |_| async { Err(None) },
            classify,
        )
        .await;
        assert_eq!(fatal.gave_up, Some(GiveUpReason::NotRetryable));
        assert_eq!(fatal.attempts, 1);

        let start = clock.now();
        let late = retry(
            &policy(&clock, 50, Some(ms(100))),
            &sleeper,
            |_| async { Err(Some(Duration::ZERO)) },
            classify,
        )
        .await;
        assert_eq!(late.gave_up, Some(GiveUpReason::DeadlineExceeded));
        assert!(clock.now() - start < ms(100));
    }

    #[cfg(feature = "tokio")]
    #[tokio::test(start_paused = true)]
    async fn works_with_paused_tokio_time() {
        use crate::clock::{TokioClock, TokioSleeper};
        let p = RetryPolicy::new(RetryConfig {
            max_attempts: 4,
            deadline: Some(Duration::from_secs(10)),
            backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(4), Jitter::None)
                .unwrap(),
        })
        .unwrap()
        .with_clock(Arc::new(TokioClock));
        let start = tokio::time::Instant::now();
        let report = retry(
            &p,
            &TokioSleeper,
            |_| async { Err::<u32, _>(Some(Duration::ZERO)) },
            classify,
        )
        .await;
        assert_eq!(report.gave_up, Some(GiveUpReason::RetryExhausted));
        assert_eq!(report.attempts, 4);
        assert_eq!(start.elapsed(), Duration::from_secs(1 + 2 + 4));
    }
}
