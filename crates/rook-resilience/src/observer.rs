//! A hook for counting what the library decides, without it knowing the
//! metrics backend.
//!
//! Implement [`Observer`] (every method has a no-op default, so implement
//! only what you count) and hand it, as an `Arc<dyn Observer>`, to the
//! [`Breaker`](crate::Breaker), [`RetryPolicy`](crate::RetryPolicy),
//! [`RetryBudget`](crate::RetryBudget) and `Limiter`. The default is
//! [`NoopObserver`].
//!
//! Methods are called synchronously on the caller's thread (never while a
//! lock of this crate is held), often on a request's hot path: keep them
//! cheap — bump a counter, log a line.
//!
//! ```
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use rook_resilience::{GiveUpReason, Observer};
//!
//! #[derive(Default)]
//! struct Counts { give_ups: AtomicU64 }
//!
//! impl Observer for Counts {
//!     fn gave_up(&self, _reason: GiveUpReason, _attempts: u32) {
//!         self.give_ups.fetch_add(1, Ordering::Relaxed);
//!     }
//! }
//! ```

use std::fmt::Display;
use std::sync::Arc;
use std::time::Duration;

use crate::events::{CircuitState, GiveUpReason, LimiterError};

/// Receives events from the resilience components. All methods default to
/// doing nothing.
pub trait Observer: Send + Sync {
    /// A breaker key changed state. `HalfOpen` is reported when the probe is
    /// admitted (the open period ending is not an event by itself).
    fn key_state_changed(&self, key: &dyn Display, from: CircuitState, to: CircuitState) {
        let _ = (key, from, to);
    }

    /// A key reached the failure threshold but was kept closed because
    /// opening it would exceed the breaker's `max_open_share`.
    fn key_open_suppressed(&self, key: &dyn Display) {
        let _ = key;
    }

    /// A retry was scheduled: `retry` is its number (1 for the first retry)
    /// and `delay` the wait before it.
    fn retry_scheduled(&self, retry: u32, delay: Duration) {
        let _ = (retry, delay);
    }

    /// An operation succeeded after `attempts` attempts (more than 1 means
    /// it succeeded after a retry).
    fn succeeded(&self, attempts: u32) {
        let _ = attempts;
    }

    /// The retry policy gave up after `attempts` attempts.
    fn gave_up(&self, reason: GiveUpReason, attempts: u32) {
        let _ = (reason, attempts);
    }

    /// The retry budget refused a retry.
    fn budget_exhausted(&self) {}

    /// The concurrency limiter refused a permit.
    fn limiter_rejected(&self, error: &LimiterError) {
        let _ = error;
    }
}

/// The observer that ignores everything. The default.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopObserver;

impl Observer for NoopObserver {}

impl<O: Observer + ?Sized> Observer for Arc<O> {
    fn key_state_changed(&self, key: &dyn Display, from: CircuitState, to: CircuitState) {
        (**self).key_state_changed(key, from, to);
    }
    fn key_open_suppressed(&self, key: &dyn Display) {
        (**self).key_open_suppressed(key);
    }
    fn retry_scheduled(&self, retry: u32, delay: Duration) {
        (**self).retry_scheduled(retry, delay);
    }
    fn succeeded(&self, attempts: u32) {
        (**self).succeeded(attempts);
    }
    fn gave_up(&self, reason: GiveUpReason, attempts: u32) {
        (**self).gave_up(reason, attempts);
    }
    fn budget_exhausted(&self) {
        (**self).budget_exhausted();
    }
    fn limiter_rejected(&self, error: &LimiterError) {
        (**self).limiter_rejected(error);
    }
}

/// The shared no-op observer used as a default.
pub(crate) fn noop() -> Arc<dyn Observer> {
    Arc::new(NoopObserver)
}
