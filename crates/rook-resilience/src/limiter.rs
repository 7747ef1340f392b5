//! A concurrency limiter: at most `max` operations at once, with an
//! optional bounded wait for a free slot.
//!
//! `Limiter::acquire` returns an owned `Permit` (`'static + Send`, so it
//! can move into a streaming response body); the slot is freed when the
//! permit is dropped. If no slot frees up within the queue timeout the
//! caller gets [`LimiterError::QueueTimeout`] — a distinct error, so it can
//! be answered as "overloaded" (503) rather than as an upstream failure.
//! The limiter itself needs the `tokio` feature; [`LimiterError`] is always
//! available (the [`Observer`](crate::Observer) refers to it).
//!
//! ```
//! # #[cfg(feature = "tokio")] {
//! use std::time::Duration;
//! use rook_resilience::{Limiter, LimiterError};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let limiter = Limiter::new(1, Some(Duration::from_millis(10)))?;
//! let permit = limiter.acquire().await?;
//! assert_eq!(limiter.in_use(), 1);
//! assert_eq!(limiter.acquire().await.unwrap_err(), LimiterError::QueueTimeout);
//! drop(permit);
//! assert_eq!(limiter.available(), 1);
//! # Ok::<(), LimiterError>(())
//! # }).unwrap();
//! # }
//! ```

pub use crate::events::LimiterError;

#[cfg(feature = "tokio")]
pub use imp::{Limiter, Permit};

#[cfg(feature = "tokio")]
mod imp {
    use super::LimiterError;
    use crate::observer::{self, Observer};
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

    /// A concurrency limiter. Cheap to clone (clones share the slots).
    #[derive(Clone)]
    pub struct Limiter {
        semaphore: Arc<Semaphore>,
        max: usize,
        queue_timeout: Option<Duration>,
        observer: Arc<dyn Observer>,
    }

    impl std::fmt::Debug for Limiter {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Limiter")
                .field("max", &self.max)
                .field("in_use", &self.in_use())
                .field("queue_timeout", &self.queue_timeout)
                .finish_non_exhaustive()
        }
    }

    /// One slot of a [`Limiter`], freed on drop.
    #[derive(Debug)]
    #[must_use = "the slot is freed as soon as the permit is dropped"]
    pub struct Permit {
        _permit: OwnedSemaphorePermit,
    }

    impl Limiter {
        /// At most `max` permits at once. `queue_timeout`: how long
        /// [`acquire`](Self::acquire) waits for a slot (`None`: as long as
        /// it takes; `Some(ZERO)`: not at all).
        ///
        /// # Errors
        /// [`LimiterError::InvalidMax`] if `max` is zero or above
        /// tokio's `Semaphore::MAX_PERMITS`.
        pub fn new(max: usize, queue_timeout: Option<Duration>) -> Result<Self, LimiterError> {
            if max == 0 || max > Semaphore::MAX_PERMITS {
                return Err(LimiterError::InvalidMax(max));
            }
            Ok(Self {
                semaphore: Arc::new(Semaphore::new(max)),
                max,
                queue_timeout,
                observer: observer::noop(),
            })
        }

        /// Report rejections to `observer`.
        #[must_use]
        pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Self {
            self.observer = observer;
            self
        }

        fn reject(&self, error: LimiterError) -> LimiterError {
            self.observer.limiter_rejected(&error);
            error
        }

        /// Take a slot without waiting.
        ///
        /// # Errors
        /// [`LimiterError::Full`] or [`LimiterError::Closed`].
        pub fn try_acquire(&self) -> Result<Permit, LimiterError> {
            match Arc::clone(&self.semaphore).try_acquire_owned() {
                Ok(permit) => Ok(Permit { _permit: permit }),
                Err(TryAcquireError::NoPermits) => Err(self.reject(LimiterError::Full)),
                Err(TryAcquireError::Closed) => Err(self.reject(LimiterError::Closed)),
            }
        }

        /// Take a slot, waiting up to the queue timeout for one.
        ///
        /// # Errors
        /// [`LimiterError::QueueTimeout`] if none freed up in time,
        /// [`LimiterError::Closed`] if the limiter was closed.
        pub async fn acquire(&self) -> Result<Permit, LimiterError> {
            if let Ok(permit) = Arc::clone(&self.semaphore).try_acquire_owned() {
                return Ok(Permit { _permit: permit });
            }
            let wait = Arc::clone(&self.semaphore).acquire_owned();
            let result = match self.queue_timeout {
                None => wait.await.map_err(|_| LimiterError::Closed),
                Some(timeout) if timeout.is_zero() => {
                    return if self.semaphore.is_closed() {
                        Err(self.reject(LimiterError::Closed))
                    } else {
                        Err(self.reject(LimiterError::QueueTimeout))
                    };
                }
                Some(timeout) => match tokio::time::timeout(timeout, wait).await {
                    Ok(acquired) => acquired.map_err(|_| LimiterError::Closed),
                    Err(_) => Err(LimiterError::QueueTimeout),
                },
            };
            result
                .map(|permit| Permit { _permit: permit })
                .map_err(|e| self.reject(e))
        }

        /// Refuse all new and waiting requests from now on (shutdown).
        /// Permits already held stay valid until dropped.
        pub fn close(&self) {
            self.semaphore.close();
        }

        /// Permits currently held.
        pub fn in_use(&self) -> usize {
            self.max.saturating_sub(self.semaphore.available_permits())
        }

        /// Permits currently free.
        pub fn available(&self) -> usize {
            self.semaphore.available_permits()
        }

        /// The limit.
        pub fn max(&self) -> usize {
            self.max
        }

        /// The queue timeout.
        pub fn queue_timeout(&self) -> Option<Duration> {
            self.queue_timeout
        }
    }
}

#[cfg(all(test, feature = "tokio"))]
mod tests {
    use super::*;
    use crate::observer::Observer;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[derive(Default)]
    struct Rejections(AtomicU32);
    impl Observer for Rejections {
        fn limiter_rejected(&self, _error: &LimiterError) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn invalid_max() {
        assert_eq!(
            Limiter::new(0, None).unwrap_err(),
            LimiterError::InvalidMax(0)
        );
        assert!(Limiter::new(usize::MAX, None).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn queue_timeout_is_a_distinct_rejection() {
        let seen = Arc::new(Rejections::default());
        let limiter = Limiter::new(2, Some(Duration::from_millis(100)))
            .unwrap()
            .with_observer(seen.clone());
        let a = limiter.acquire().await.unwrap();
        let _b = limiter.acquire().await.unwrap();
        assert_eq!(
            (limiter.in_use(), limiter.available(), limiter.max()),
            (2, 0, 2)
        );
        let start = tokio::time::Instant::now();
        assert_eq!(
            limiter.acquire().await.unwrap_err(),
            LimiterError::QueueTimeout
        );
        assert_eq!(start.elapsed(), Duration::from_millis(100));
        assert_eq!(limiter.try_acquire().unwrap_err(), LimiterError::Full);
        assert_eq!(seen.0.load(Ordering::Relaxed), 2);
        drop(a);
        assert_eq!(limiter.in_use(), 1);
        assert!(limiter.try_acquire().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn waiter_gets_a_released_permit() {
        let limiter = Limiter::new(1, Some(Duration::from_secs(1))).unwrap();
        let held = limiter.acquire().await.unwrap();
        // the permit moves into another task, like a streaming body
        let task = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            drop(held);
        });
        let start = tokio::time::Instant::now();
        let permit = limiter.acquire().await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_millis(300));
        task.await.unwrap();
        drop(permit);
        assert_eq!(limiter.available(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn zero_timeout_never_waits_and_close_refuses() {
        let limiter = Limiter::new(1, Some(Duration::ZERO)).unwrap();
        let held = limiter.acquire().await.unwrap();
        assert_eq!(
            limiter.acquire().await.unwrap_err(),
            LimiterError::QueueTimeout
        );
        limiter.close();
        assert_eq!(limiter.acquire().await.unwrap_err(), LimiterError::Closed);
        assert_eq!(limiter.try_acquire().unwrap_err(), LimiterError::Closed);
        drop(held);
        let unbounded = Limiter::new(1, None).unwrap();
        let _p = unbounded.acquire().await.unwrap();
        let waiter = unbounded.clone();
        let pending = tokio::spawn(async move { waiter.acquire().await.map(|_| ()) });
        tokio::task::yield_now().await;
        unbounded.close();
        assert_eq!(pending.await.unwrap().unwrap_err(), LimiterError::Closed);
    }

    #[test]
    fn permit_is_send_and_static() {
        fn assert_send_static<T: Send + 'static>() {}
        assert_send_static::<Permit>();
        assert_send_static::<Limiter>();
    }
}
