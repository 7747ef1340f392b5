//! Exponential backoff with a cap and jitter, as an iterator of delays.
//!
//! For the `n`-th retry (`n` starting at 0) the un-jittered delay is
//! `min(cap, base · 2ⁿ)`; [`Jitter`] then spreads it out (see the variants,
//! and AWS's "Exponential Backoff And Jitter"). [`Backoff`] is validated
//! configuration; [`Backoff::delays`] yields an endless
//! `impl Iterator<Item = Duration>` (bound it with `.take(n)` or a
//! [`RetryPolicy`](crate::RetryPolicy)). Every delay lies in `[0, cap]`.
//!
//! ```
//! use std::time::Duration;
//! use rook_resilience::{Backoff, Jitter};
//!
//! let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1), Jitter::None)?;
//! let delays: Vec<_> = backoff.delays().take(5).collect();
//! assert_eq!(delays, [100, 200, 400, 800, 1000].map(Duration::from_millis));
//! # Ok::<(), rook_resilience::BackoffError>(())
//! ```

use std::time::Duration;

/// How a backoff delay is randomised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Jitter {
    /// No randomness: `min(cap, base · 2ⁿ)`.
    None,
    /// "Full jitter": `rand(0, min(cap, base · 2ⁿ))`. The default; spreads
    /// retries best when many clients back off at once.
    #[default]
    Full,
    /// "Equal jitter": half fixed, half random:
    /// `d/2 + rand(0, d/2)` with `d = min(cap, base · 2ⁿ)`.
    Equal,
    /// "Decorrelated jitter": `min(cap, rand(base, previous · 3))`, starting
    /// from `previous = base`.
    Decorrelated,
}

/// Invalid backoff configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BackoffError {
    /// The base delay is zero, so the delay would never grow.
    #[error("backoff base must be greater than zero")]
    ZeroBase,
    /// The cap is smaller than the base delay.
    #[error("backoff cap ({cap:?}) must not be smaller than the base ({base:?})")]
    CapBelowBase {
        /// The configured base.
        base: Duration,
        /// The configured cap.
        cap: Duration,
    },
}

/// Validated exponential backoff configuration: base, cap, jitter and an
/// optional seed for reproducible delays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    jitter: Jitter,
    seed: Option<u64>,
}

impl Default for Backoff {
    /// 25 ms base, 250 ms cap (10 × base, as Envoy), full jitter.
    fn default() -> Self {
        Self {
            base: Duration::from_millis(25),
            cap: Duration::from_millis(250),
            jitter: Jitter::Full,
            seed: None,
        }
    }
}

impl Backoff {
    /// Backoff starting at `base`, doubling, never above `cap`.
    ///
    /// # Errors
    /// [`BackoffError::ZeroBase`] if `base` is zero,
    /// [`BackoffError::CapBelowBase`] if `cap < base`.
    pub fn new(base: Duration, cap: Duration, jitter: Jitter) -> Result<Self, BackoffError> {
        if base.is_zero() {
            return Err(BackoffError::ZeroBase);
        }
        if cap < base {
            return Err(BackoffError::CapBelowBase { base, cap });
        }
        Ok(Self {
            base,
            cap,
            jitter,
            seed: None,
        })
    }

    /// Make every iterator from [`delays`](Self::delays) use a random
    /// generator seeded with `seed`, so the sequence is reproducible.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The base delay.
    pub fn base(&self) -> Duration {
        self.base
    }

    /// The largest delay.
    pub fn cap(&self) -> Duration {
        self.cap
    }

    /// The jitter kind.
    pub fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// An endless iterator of delays (one per retry). Seeded if
    /// [`with_seed`](Self::with_seed) was used, otherwise randomly seeded.
    pub fn delays(&self) -> Delays {
        let rng = match self.seed {
            Some(seed) => fastrand::Rng::with_seed(seed),
            None => fastrand::Rng::new(),
        };
        self.delays_with_rng(rng)
    }

    /// An endless iterator of delays drawing randomness from `rng`.
    pub fn delays_with_rng(&self, rng: fastrand::Rng) -> Delays {
        Delays {
            base: self.base,
            cap: self.cap,
            jitter: self.jitter,
            attempt: 0,
            previous: self.base,
            rng,
        }
    }

    /// The un-jittered delay for retry `n` (0-based): `min(cap, base · 2ⁿ)`.
    pub fn ceiling(&self, n: u32) -> Duration {
        exp_ceiling(self.base, self.cap, n)
    }
}

pub(crate) fn exp_ceiling(base: Duration, cap: Duration, n: u32) -> Duration {
    1u32.checked_shl(n)
        .and_then(|factor| base.checked_mul(factor))
        .map_or(cap, |d| d.min(cap))
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A uniformly random duration in `[low, high]` (`low` if `high < low`).
fn rand_between(rng: &mut fastrand::Rng, low: Duration, high: Duration) -> Duration {
    let (lo, hi) = (nanos(low), nanos(high));
    if hi <= lo {
        return Duration::from_nanos(lo);
    }
    Duration::from_nanos(rng.u64(lo..=hi))
}

/// The iterator returned by [`Backoff::delays`]. Never ends.
#[derive(Debug, Clone)]
pub struct Delays {
    base: Duration,
    cap: Duration,
    jitter: Jitter,
    attempt: u32,
    previous: Duration,
    rng: fastrand::Rng,
}

impl Iterator for Delays {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let ceiling = exp_ceiling(self.base, self.cap, self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        let delay = match self.jitter {
            Jitter::None => ceiling,
            Jitter::Full => rand_between(&mut self.rng, Duration::ZERO, ceiling),
            Jitter::Equal => {
                let half = ceiling / 2;
                half + rand_between(&mut self.rng, Duration::ZERO, ceiling - half)
            }
            Jitter::Decorrelated => {
                let high = self.previous.saturating_mul(3);
                let d = rand_between(&mut self.rng, self.base, high).min(self.cap);
                self.previous = d;
                d
            }
        };
        Some(delay)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::MAX, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn validation() {
        assert_eq!(
            Backoff::new(Duration::ZERO, ms(10), Jitter::Full),
            Err(BackoffError::ZeroBase)
        );
        assert_eq!(
            Backoff::new(ms(10), ms(5), Jitter::Full),
            Err(BackoffError::CapBelowBase {
                base: ms(10),
                cap: ms(5)
            })
        );
        assert!(Backoff::new(ms(10), ms(10), Jitter::Full).is_ok());
    }

    #[test]
    fn no_jitter_doubles_then_caps_without_overflow() {
        let b = Backoff::new(ms(25), ms(1000), Jitter::None).unwrap();
        let d: Vec<_> = b.delays().take(8).collect();
        assert_eq!(d, [25, 50, 100, 200, 400, 800, 1000, 1000].map(ms));
        assert_eq!(b.delays().nth(500), Some(ms(1000)));
        assert_eq!(b.ceiling(u32::MAX), ms(1000));
        let huge = Backoff::new(Duration::MAX, Duration::MAX, Jitter::Full).unwrap();
        assert!(huge.delays().take(3).all(|d| d <= Duration::MAX));
    }

    #[test]
    fn seeded_is_reproducible() {
        let b = Backoff::new(ms(25), ms(1000), Jitter::Full)
            .unwrap()
            .with_seed(7);
        let a: Vec<_> = b.delays().take(10).collect();
        let c: Vec<_> = b.delays().take(10).collect();
        assert_eq!(a, c);
    }

    #[test]
    fn full_jitter_stays_under_the_exponential_ceiling() {
        let b = Backoff::new(ms(10), ms(10_000), Jitter::Full)
            .unwrap()
            .with_seed(1);
        for (n, d) in b.delays().take(20).enumerate() {
            assert!(d <= b.ceiling(n as u32), "retry {n}: {d:?}");
        }
    }

    #[test]
    fn equal_jitter_keeps_half() {
        let b = Backoff::new(ms(100), ms(800), Jitter::Equal)
            .unwrap()
            .with_seed(3);
        for (n, d) in b.delays().take(10).enumerate() {
            let ceiling = b.ceiling(n as u32);
            assert!(d >= ceiling / 2 && d <= ceiling, "retry {n}: {d:?}");
        }
    }

    #[test]
    fn decorrelated_stays_between_base_and_cap() {
        let b = Backoff::new(ms(100), ms(2000), Jitter::Decorrelated)
            .unwrap()
            .with_seed(9);
        for d in b.delays().take(50) {
            assert!(d >= ms(100) && d <= ms(2000), "{d:?}");
        }
    }
}
