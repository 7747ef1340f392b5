//! The breaker's settings and their validation.

use std::time::Duration;

use crate::backoff::exp_ceiling;

/// Invalid breaker configuration.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BreakerError {
    /// `failure_threshold` is zero.
    #[error("failure_threshold must be at least 1")]
    ZeroThreshold,
    /// `cooldown_base` is zero.
    #[error("cooldown_base must be greater than zero")]
    ZeroCooldown,
    /// `cooldown_max` is below `cooldown_base`.
    #[error("cooldown_max ({max:?}) must not be smaller than cooldown_base ({base:?})")]
    CooldownMaxBelowBase {
        /// The configured base.
        base: Duration,
        /// The configured maximum.
        max: Duration,
    },
    /// `cooldown_jitter` is not within `0.0..=1.0`.
    #[error("cooldown_jitter must be within 0.0..=1.0, got {0}")]
    InvalidJitter(f64),
    /// `max_open_share` is not within `0.0..=1.0`.
    #[error("max_open_share must be within 0.0..=1.0, got {0}")]
    InvalidMaxOpenShare(f64),
    /// `probe_timeout` is zero.
    #[error("probe_timeout must be greater than zero")]
    ZeroProbeTimeout,
    /// `failure_rate_threshold` is not within `(0.0, 1.0]`.
    #[error("failure_rate_threshold must be within (0.0, 1.0], got {0}")]
    InvalidFailureRate(f64),
    /// `failure_rate_min_requests` is zero.
    #[error("failure_rate_min_requests must be at least 1")]
    ZeroFailureRateMinRequests,
    /// `failure_rate_window` is shorter than [`BreakerConfig::MIN_RATE_WINDOW`].
    #[error("failure_rate_window must be at least 10 ms, got {0:?}")]
    FailureRateWindowTooShort(Duration),
}

/// Breaker settings.
///
/// The [`Default`] suits a library user guarding a handful of hosts: open
/// after 5 consecutive failures (Envoy's `consecutive_5xx`) or when half of
/// at least 10 outcomes in 30 s failed; first cooldown 30 s, doubling up to
/// 300 s with 10 % jitter; at most half the keys opened by failures while
/// others are healthy. A caller with few keys that cannot afford to lose
/// one (the Rook gateway: often one account per route) should open later
/// and cool shorter; see `docs/resilience.md`. To turn the failure-rate rule
/// off, set `failure_rate_min_requests` to `u32::MAX`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerConfig {
    /// Consecutive failures that open a key. Default 5.
    pub failure_threshold: u32,
    /// Penalty of the first opening. Default 30 s.
    pub cooldown_base: Duration,
    /// Largest threshold penalty, and the clamp for retry-after hints.
    /// Default 300 s.
    pub cooldown_max: Duration,
    /// Up to this share of a threshold penalty is removed at random so keys
    /// opened together do not all probe at once (0.0 = none). Default 0.1.
    pub cooldown_jitter: f64,
    /// See the [module docs](crate::breaker#max_open_share). Default 0.5.
    pub max_open_share: f64,
    /// After this long an unfinished probe is abandoned and another one is
    /// let through. Default 120 s.
    pub probe_timeout: Duration,
    /// Seed for the jitter, for reproducible tests. Default none.
    pub seed: Option<u64>,
    /// Share of failures among the outcomes in the window that opens a
    /// key; `(0.0, 1.0]`. See the [module docs](crate::breaker#failure-rate).
    /// Default 0.5.
    pub failure_rate_threshold: f64,
    /// Fewest outcomes in the window for the failure-rate rule to apply;
    /// at least 1. Default 10.
    pub failure_rate_min_requests: u32,
    /// How long an outcome counts for the failure-rate rule; at least
    /// [`MIN_RATE_WINDOW`](Self::MIN_RATE_WINDOW). Default 30 s.
    pub failure_rate_window: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            cooldown_base: Duration::from_secs(30),
            cooldown_max: Duration::from_secs(300),
            cooldown_jitter: 0.1,
            max_open_share: 0.5,
            probe_timeout: Duration::from_secs(120),
            seed: None,
            failure_rate_threshold: 0.5,
            failure_rate_min_requests: 10,
            failure_rate_window: Duration::from_secs(30),
        }
    }
}

impl BreakerConfig {
    /// Buckets in each key's failure-rate window (each `window /
    /// RATE_BUCKETS` long).
    pub const RATE_BUCKETS: usize = 10;

    /// The shortest `failure_rate_window` accepted.
    pub const MIN_RATE_WINDOW: Duration = Duration::from_millis(10);

    /// Check the settings.
    ///
    /// # Errors
    /// A [`BreakerError`] for the first invalid field.
    pub fn validate(&self) -> Result<(), BreakerError> {
        if self.failure_threshold == 0 {
            return Err(BreakerError::ZeroThreshold);
        }
        if self.cooldown_base.is_zero() {
            return Err(BreakerError::ZeroCooldown);
        }
        if self.cooldown_max < self.cooldown_base {
            return Err(BreakerError::CooldownMaxBelowBase {
                base: self.cooldown_base,
                max: self.cooldown_max,
            });
        }
        if !(0.0..=1.0).contains(&self.cooldown_jitter) {
            return Err(BreakerError::InvalidJitter(self.cooldown_jitter));
        }
        if !(0.0..=1.0).contains(&self.max_open_share) {
            return Err(BreakerError::InvalidMaxOpenShare(self.max_open_share));
        }
        if self.probe_timeout.is_zero() {
            return Err(BreakerError::ZeroProbeTimeout);
        }
        if !(self.failure_rate_threshold > 0.0 && self.failure_rate_threshold <= 1.0) {
            return Err(BreakerError::InvalidFailureRate(
                self.failure_rate_threshold,
            ));
        }
        if self.failure_rate_min_requests == 0 {
            return Err(BreakerError::ZeroFailureRateMinRequests);
        }
        if self.failure_rate_window < Self::MIN_RATE_WINDOW {
            return Err(BreakerError::FailureRateWindowTooShort(
                self.failure_rate_window,
            ));
        }
        Ok(())
    }

    /// Whether `failures` among `outcomes` in the window open a key: at
    /// least `failure_rate_min_requests` outcomes and a failure share of at
    /// least `failure_rate_threshold` (compared with a tolerance of 10⁻⁹,
    /// so 3 of 10 meets 0.3).
    pub fn failure_rate_exceeded(&self, outcomes: u32, failures: u32) -> bool {
        outcomes >= self.failure_rate_min_requests
            && f64::from(failures) + 1e-9 >= self.failure_rate_threshold * f64::from(outcomes)
    }

    /// The un-jittered penalty for the `times_opened`-th opening (1-based):
    /// `cooldown_base × 2^(times_opened − 1)`, capped at `cooldown_max`.
    pub fn penalty(&self, times_opened: u32) -> Duration {
        exp_ceiling(
            self.cooldown_base,
            self.cooldown_max,
            times_opened.saturating_sub(1),
        )
    }
}
