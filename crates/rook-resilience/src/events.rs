//! The events the resilience components report: the vocabulary shared by
//! the components that decide ([`Breaker`](crate::Breaker),
//! [`RetryPolicy`](crate::RetryPolicy), `Limiter`) and the
//! [`Observer`](crate::Observer) that is told what they decided.
//!
//! These types live here, not next to the components, so that the observer
//! depends only on this module and the components depend on the observer:
//! the dependencies go one way. They are re-exported where they are used
//! ([`breaker::CircuitState`](crate::breaker::CircuitState),
//! [`limiter::LimiterError`](crate::limiter::LimiterError),
//! [`policy::GiveUpReason`](crate::policy::GiveUpReason)) and at the crate
//! root.
//!
//! Every type has an `as_str()`: a short, stable, low-cardinality label for
//! metrics and logs.
//!
//! ```
//! use rook_resilience::{CircuitState, GiveUpReason, LimiterError};
//!
//! assert_eq!(CircuitState::HalfOpen.as_str(), "half_open");
//! assert_eq!(GiveUpReason::BudgetExhausted.to_string(), "budget_exhausted");
//! assert_eq!(LimiterError::QueueTimeout.as_str(), "queue_timeout");
//! ```

use std::fmt::Display;

/// The state of one [`Breaker`](crate::Breaker) key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CircuitState {
    /// Available.
    Closed,
    /// Cooling down; not available.
    Open,
    /// Cooldown over; one probe may be let through.
    HalfOpen,
}

impl CircuitState {
    /// A short, stable label for metrics and status pages.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

impl Display for CircuitState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a [`Breaker`](crate::Breaker) key is not Closed: what opened it
/// last (when several did, the one whose cooldown ends last).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OpenReason {
    /// Failures without a hint: the consecutive-failure threshold, the
    /// failure-rate rule, or a failed probe. The only reason a
    /// [panic admission](crate::Breaker::try_acquire_panic) may override.
    Failures,
    /// A failure with a retry-after hint: the upstream said when to come
    /// back.
    Hint,
    /// A forced [`trip`](crate::Breaker::trip): a rejected credential, an
    /// exhausted quota.
    Trip,
}

impl OpenReason {
    /// A short, stable label for metrics and status pages.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Failures => "failures",
            Self::Hint => "hint",
            Self::Trip => "trip",
        }
    }
}

impl Display for OpenReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the `Limiter` refused a permit (or could not be built).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimiterError {
    /// No slot freed up within the queue timeout.
    #[error("no concurrency permit became available within the queue timeout")]
    QueueTimeout,
    /// No slot is free and the caller did not want to wait.
    #[error("all concurrency permits are in use")]
    Full,
    /// The limiter was closed (shutting down).
    #[error("the concurrency limiter is closed")]
    Closed,
    /// `max` is zero or larger than the runtime supports.
    #[error("invalid concurrency limit {0}")]
    InvalidMax(usize),
}

impl LimiterError {
    /// A short, stable label for metrics and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::QueueTimeout => "queue_timeout",
            Self::Full => "full",
            Self::Closed => "closed",
            Self::InvalidMax(_) => "invalid_max",
        }
    }
}

/// Why the [`RetryPolicy`](crate::RetryPolicy) stopped retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GiveUpReason {
    /// `max_attempts` attempts were made: the retries ran out.
    RetryExhausted,
    /// The classifier said the failure is fatal.
    NotRetryable,
    /// The retry budget refused the retry.
    BudgetExhausted,
    /// The deadline has passed, or the next delay would cross it.
    DeadlineExceeded,
}

impl GiveUpReason {
    /// A short, stable, low-cardinality label for metrics and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::RetryExhausted => "retry_exhausted",
            Self::NotRetryable => "not_retryable",
            Self::BudgetExhausted => "budget_exhausted",
            Self::DeadlineExceeded => "deadline_exceeded",
        }
    }
}

impl Display for GiveUpReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_stable_and_match_display() {
        let circuit = [
            (CircuitState::Closed, "closed"),
            (CircuitState::Open, "open"),
            (CircuitState::HalfOpen, "half_open"),
        ];
        for (state, label) in circuit {
            assert_eq!(state.as_str(), label);
            assert_eq!(state.to_string(), label);
        }
        let give_up = [
            (GiveUpReason::RetryExhausted, "retry_exhausted"),
            (GiveUpReason::NotRetryable, "not_retryable"),
            (GiveUpReason::BudgetExhausted, "budget_exhausted"),
            (GiveUpReason::DeadlineExceeded, "deadline_exceeded"),
        ];
        for (reason, label) in give_up {
            assert_eq!(reason.as_str(), label);
            assert_eq!(reason.to_string(), label);
        }
        let limiter = [
            (LimiterError::QueueTimeout, "queue_timeout"),
            (LimiterError::Full, "full"),
            (LimiterError::Closed, "closed"),
            (LimiterError::InvalidMax(0), "invalid_max"),
        ];
        for (error, label) in limiter {
            assert_eq!(error.as_str(), label);
        }
        let open = [
            (OpenReason::Failures, "failures"),
            (OpenReason::Hint, "hint"),
            (OpenReason::Trip, "trip"),
        ];
        for (reason, label) in open {
            assert_eq!(reason.as_str(), label);
            assert_eq!(reason.to_string(), label);
        }
    }
}
