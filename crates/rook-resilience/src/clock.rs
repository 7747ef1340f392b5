//! Time: reading it ([`Clock`]) and waiting for it ([`Sleeper`]).
//!
//! Every decision in this crate is synchronous and takes "now" from a
//! [`Clock`], so it is cheap and can be tested deterministically. Waiting is
//! the only asynchronous operation and goes through a [`Sleeper`], so the
//! library does not depend on a particular async runtime.
//!
//! | type | what | when |
//! |---|---|---|
//! | [`SystemClock`] | `std::time::Instant::now()` | default everywhere |
//! | `TokioClock` | tokio's clock (honours `tokio::time::pause()`) | feature `tokio` |
//! | `TokioSleeper` | `tokio::time::sleep` | feature `tokio` |
//! | `ManualClock` | a clock that only moves when told to | feature `manual-clock` |
//! | `ManualSleeper` | "sleeps" by advancing a `ManualClock` | feature `manual-clock` |

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A source of monotonic time.
///
/// Implementations must be cheap: the breaker and the budget read the clock
/// on every call.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Instant;
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Instant {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> Instant {
        (**self).now()
    }
}

/// The real monotonic clock (`Instant::now()`). The default.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// Something that can wait for a duration.
///
/// The async [`retry`](crate::retry()) helper waits between attempts through
/// this trait, so it runs on any runtime (or none, with `ManualSleeper`).
pub trait Sleeper: Send + Sync {
    /// Wait for `duration`.
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send;
}

impl<S: Sleeper + ?Sized> Sleeper for &S {
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        (**self).sleep(duration)
    }
}

impl<S: Sleeper + ?Sized> Sleeper for Arc<S> {
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        (**self).sleep(duration)
    }
}

#[cfg(feature = "tokio")]
mod tokio_impl {
    use super::{Clock, Sleeper};
    use std::future::Future;
    use std::time::{Duration, Instant};

    /// tokio's clock: like [`SystemClock`](super::SystemClock), but it
    /// stands still under `tokio::time::pause()` and moves with
    /// `tokio::time::advance()`, so deadlines agree with [`TokioSleeper`] in
    /// paused-time tests.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct TokioClock;

    impl Clock for TokioClock {
        fn now(&self) -> Instant {
            tokio::time::Instant::now().into_std()
        }
    }

    /// Waits with `tokio::time::sleep`.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct TokioSleeper;

    impl Sleeper for TokioSleeper {
        fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
            tokio::time::sleep(duration)
        }
    }
}

#[cfg(feature = "tokio")]
pub use tokio_impl::{TokioClock, TokioSleeper};

#[cfg(any(test, feature = "manual-clock"))]
mod manual {
    use super::{Clock, Sleeper};
    use std::future::Future;
    use std::sync::{Arc, Mutex, PoisonError};
    use std::time::{Duration, Instant};

    /// A clock that only moves when told to. Clones share the same time.
    ///
    /// Available with the `manual-clock` feature (and in this crate's own
    /// tests).
    #[derive(Debug, Clone)]
    pub struct ManualClock {
        now: Arc<Mutex<Instant>>,
    }

    impl Default for ManualClock {
        fn default() -> Self {
            Self::new()
        }
    }

    impl ManualClock {
        /// A clock starting at the real current instant.
        pub fn new() -> Self {
            Self::starting_at(Instant::now())
        }

        /// A clock starting at `start`.
        pub fn starting_at(start: Instant) -> Self {
            Self {
                now: Arc::new(Mutex::new(start)),
            }
        }

        /// Move the clock forward by `by`.
        pub fn advance(&self, by: Duration) {
            let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
            *now += by;
        }

        /// Set the clock to `to`; ignored if `to` is in the clock's past
        /// (monotonic time never goes backwards).
        pub fn set(&self, to: Instant) {
            let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
            if to > *now {
                *now = to;
            }
        }
    }

    impl Clock for ManualClock {
        fn now(&self) -> Instant {
            *self.now.lock().unwrap_or_else(PoisonError::into_inner)
        }
    }

    /// A [`Sleeper`] that, when awaited, advances a [`ManualClock`] by the
    /// requested duration and returns at once; it records every sleep.
    #[derive(Debug, Clone)]
    pub struct ManualSleeper {
        clock: ManualClock,
        slept: Arc<Mutex<Vec<Duration>>>,
    }

    impl ManualSleeper {
        /// A sleeper that advances `clock`.
        pub fn new(clock: ManualClock) -> Self {
            Self {
                clock,
                slept: Arc::new(Mutex::new(Vec::new())),
            }
        }

        /// Every duration slept so far, in order.
        pub fn slept(&self) -> Vec<Duration> {
            self.slept
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        }
    }

    impl Sleeper for ManualSleeper {
        fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
            let clock = self.clock.clone();
            let slept = Arc::clone(&self.slept);
            async move {
                slept
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(duration);
                clock.advance(duration);
            }
        }
    }
}

#[cfg(any(test, feature = "manual-clock"))]
pub use manual::{ManualClock, ManualSleeper};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new();
        let t0 = clock.now();
        assert_eq!(clock.now(), t0);
        clock.advance(Duration::from_secs(3));
        assert_eq!(clock.now(), t0 + Duration::from_secs(3));
        clock.set(t0);
        assert_eq!(clock.now(), t0 + Duration::from_secs(3), "never backwards");
        let shared = clock.clone();
        shared.advance(Duration::from_secs(1));
        assert_eq!(clock.now(), t0 + Duration::from_secs(4));
    }

    #[tokio::test]
    async fn manual_sleeper_advances_and_records() {
        let clock = ManualClock::new();
        let t0 = clock.now();
        let sleeper = ManualSleeper::new(clock.clone());
        sleeper.sleep(Duration::from_millis(250)).await;
        assert_eq!(clock.now(), t0 + Duration::from_millis(250));
        assert_eq!(sleeper.slept(), vec![Duration::from_millis(250)]);
    }
}
