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
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex, PoisonError};
    use std::time::Duration;
    use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

    /// `queue_timeout` stored in an atomic: nanoseconds, this value for `None`.
    const NO_TIMEOUT: u64 = u64::MAX;

    /// The slots clones share.
    struct Slots {
        semaphore: Arc<Semaphore>,
        max: AtomicUsize,
        /// Slots still to take out of circulation after the limit was lowered
        /// while they were held: the next permits dropped are forgotten
        /// instead of freed, until this is zero.
        owed: AtomicUsize,
        queue_timeout_nanos: AtomicU64,
        /// One resize at a time.
        resize: Mutex<()>,
    }

    impl Slots {
        /// Forgets one returning permit if slots are owed.
        fn take_owed(&self) -> bool {
            self.owed
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                .is_ok()
        }
    }

    /// A concurrency limiter. Cheap to clone (clones share the slots and
    /// the settings: [`set_max`](Self::set_max) and
    /// [`set_queue_timeout`](Self::set_queue_timeout) on one clone apply to all).
    #[derive(Clone)]
    pub struct Limiter {
        slots: Arc<Slots>,
        observer: Arc<dyn Observer>,
    }

    impl std::fmt::Debug for Limiter {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Limiter")
                .field("max", &self.max())
                .field("in_use", &self.in_use())
                .field("queue_timeout", &self.queue_timeout())
                .finish_non_exhaustive()
        }
    }

    /// One slot of a [`Limiter`], freed on drop.
    #[must_use = "the slot is freed as soon as the permit is dropped"]
    pub struct Permit {
        permit: Option<OwnedSemaphorePermit>,
        slots: Arc<Slots>,
    }

    impl std::fmt::Debug for Permit {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Permit").finish_non_exhaustive()
        }
    }

    impl Drop for Permit {
        fn drop(&mut self) {
            if let Some(permit) = self.permit.take() {
                if self.slots.take_owed() {
                    permit.forget();
                }
            }
        }
    }

    fn timeout_nanos(timeout: Option<Duration>) -> u64 {
        timeout.map_or(NO_TIMEOUT, |t| {
            u64::try_from(t.as_nanos()).unwrap_or(NO_TIMEOUT - 1)
        })
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
                slots: Arc::new(Slots {
                    semaphore: Arc::new(Semaphore::new(max)),
                    max: AtomicUsize::new(max),
                    owed: AtomicUsize::new(0),
                    queue_timeout_nanos: AtomicU64::new(timeout_nanos(queue_timeout)),
                    resize: Mutex::new(()),
                }),
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

        fn permit(&self, permit: OwnedSemaphorePermit) -> Permit {
            Permit {
                permit: Some(permit),
                slots: Arc::clone(&self.slots),
            }
        }

        /// Take a slot without waiting.
        ///
        /// # Errors
        /// [`LimiterError::Full`] or [`LimiterError::Closed`].
        pub fn try_acquire(&self) -> Result<Permit, LimiterError> {
            match Arc::clone(&self.slots.semaphore).try_acquire_owned() {
                Ok(permit) => Ok(self.permit(permit)),
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
            let semaphore = &self.slots.semaphore;
            if let Ok(permit) = Arc::clone(semaphore).try_acquire_owned() {
                return Ok(self.permit(permit));
            }
            let wait = Arc::clone(semaphore).acquire_owned();
            let result = match self.queue_timeout() {
                None => wait.await.map_err(|_| LimiterError::Closed),
                Some(timeout) if timeout.is_zero() => {
                    return if semaphore.is_closed() {
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
                .map(|permit| self.permit(permit))
                .map_err(|e| self.reject(e))
        }

        /// Refuse all new and waiting requests from now on (shutdown).
        /// Permits already held stay valid until dropped.
        pub fn close(&self) {
            self.slots.semaphore.close();
        }

        /// Changes the limit to `max`, for every clone. Raising it frees the
        /// new slots at once (waiters get them); lowering it takes free slots
        /// out at once and held ones as they are dropped, so
        /// [`in_use`](Self::in_use) can stay above the new limit until enough
        /// permits in flight finish, and no new permit is given out meanwhile.
        ///
        /// # Errors
        /// [`LimiterError::InvalidMax`] as for [`new`](Self::new); nothing changes.
        pub fn set_max(&self, max: usize) -> Result<(), LimiterError> {
            if max == 0 || max > Semaphore::MAX_PERMITS {
                return Err(LimiterError::InvalidMax(max));
            }
            let slots = &self.slots;
            let _one = slots.resize.lock().unwrap_or_else(PoisonError::into_inner);
            let old = slots.max.swap(max, Ordering::AcqRel);
            if max > old {
                // Cancel what is still owed first, then add the rest.
                let mut grow = max - old;
                let _ = slots
                    .owed
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |owed| {
                        let cancel = owed.min(grow);
                        grow = max - old - cancel;
                        Some(owed - cancel)
                    });
                slots.semaphore.add_permits(grow);
            } else {
                let shrink = old - max;
                let forgotten = slots.semaphore.forget_permits(shrink);
                slots.owed.fetch_add(shrink - forgotten, Ordering::AcqRel);
            }
            Ok(())
        }

        /// Changes the queue timeout (see [`new`](Self::new)) for every clone;
        /// waits already under way keep the timeout they started with.
        pub fn set_queue_timeout(&self, queue_timeout: Option<Duration>) {
            self.slots
                .queue_timeout_nanos
                .store(timeout_nanos(queue_timeout), Ordering::Release);
        }

        /// Permits currently held.
        pub fn in_use(&self) -> usize {
            let slots = &self.slots;
            let circulating =
                slots.max.load(Ordering::Acquire) + slots.owed.load(Ordering::Acquire);
            circulating.saturating_sub(slots.semaphore.available_permits())
        }

        /// Permits currently free.
        pub fn available(&self) -> usize {
            self.slots.semaphore.available_permits()
        }

        /// The limit.
        pub fn max(&self) -> usize {
            self.slots.max.load(Ordering::Acquire)
        }

        /// The queue timeout.
        pub fn queue_timeout(&self) -> Option<Duration> {
            match self.slots.queue_timeout_nanos.load(Ordering::Acquire) {
                NO_TIMEOUT => None,
                nanos => Some(Duration::from_nanos(nanos)),
            }
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

    #[tokio::test(start_paused = true)]
    async fn raising_the_limit_frees_slots_for_waiters() {
        let limiter = Limiter::new(1, None).unwrap();
        let held = limiter.acquire().await.unwrap();
        let other = limiter.clone();
        let waiter = tokio::spawn(async move { other.acquire().await.map(|_| ()) });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        limiter.set_max(2).unwrap();
        assert_eq!(waiter.await.unwrap(), Ok(()));
        assert_eq!(limiter.max(), 2);
        assert_eq!(limiter.in_use(), 1);
        drop(held);
        assert_eq!(limiter.available(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn lowering_the_limit_takes_held_slots_out_as_they_return() {
        let limiter = Limiter::new(3, Some(Duration::ZERO)).unwrap();
        let a = limiter.try_acquire().unwrap();
        let b = limiter.try_acquire().unwrap();
        // One free slot is taken out at once, one held slot is owed.
        limiter.set_max(1).unwrap();
        assert_eq!(limiter.max(), 1);
        assert_eq!(limiter.in_use(), 2);
        assert_eq!(limiter.available(), 0);
        assert_eq!(limiter.try_acquire().unwrap_err(), LimiterError::Full);
        drop(a); // forgotten: pays what was owed
        assert_eq!(limiter.in_use(), 1);
        assert_eq!(limiter.try_acquire().unwrap_err(), LimiterError::Full);
        drop(b); // freed
        assert_eq!(limiter.in_use(), 0);
        let c = limiter.try_acquire().unwrap();
        assert_eq!(limiter.try_acquire().unwrap_err(), LimiterError::Full);
        drop(c);
        // Raising again while nothing is owed adds slots.
        limiter.set_max(2).unwrap();
        assert_eq!(limiter.available(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn raising_cancels_what_is_owed_before_adding() {
        let limiter = Limiter::new(2, Some(Duration::ZERO)).unwrap();
        let a = limiter.try_acquire().unwrap();
        let b = limiter.try_acquire().unwrap();
        limiter.set_max(1).unwrap(); // one held slot owed
        limiter.set_max(2).unwrap(); // cancels it, adds nothing
        assert_eq!(limiter.available(), 0);
        assert_eq!(limiter.in_use(), 2);
        drop(a);
        drop(b);
        assert_eq!(limiter.available(), 2);
        assert!(limiter.set_max(0).is_err());
        assert_eq!(limiter.max(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_queue_timeout_changes_for_every_clone() {
        let limiter = Limiter::new(1, None).unwrap();
        let clone = limiter.clone();
        clone.set_queue_timeout(Some(Duration::from_millis(5)));
        assert_eq!(limiter.queue_timeout(), Some(Duration::from_millis(5)));
        let _held = limiter.acquire().await.unwrap();
        assert_eq!(
            limiter.acquire().await.unwrap_err(),
            LimiterError::QueueTimeout
        );
        clone.set_queue_timeout(None);
        assert_eq!(limiter.queue_timeout(), None);
    }
}
