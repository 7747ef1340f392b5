//! How long a caller on the request path waits for PostgreSQL.
//!
//! During a database outage a pooled connection cannot be had (connect refused, or a
//! connection that never answers). Without a bound, a request waits for the pool's
//! acquire timeout or, on a half-open connection, for the kernel's TCP timeout. The
//! gateway keeps its request path off the database except for `Idempotency-Key` claims
//! and the admin API; those calls go through [`Registry::bounded`](crate::Registry::bounded)
//! and fail after [`DATABASE_DEADLINE`] with [`RegistryError::Unavailable`], which the
//! callers answer with 503 and `Retry-After`.
//!
//! SQLite is a local file: no deadline applies (its busy timeout already bounds lock
//! waits), so single-instance behaviour is exactly what it was.

use std::future::Future;
use std::time::Duration;

use crate::error::{RegistryError, Result};

/// The longest a request-path call waits for PostgreSQL: the pool's acquire timeout and
/// the bound of [`Registry::bounded`](crate::Registry::bounded). Chosen so that the
/// caller's answer (503) arrives within 2 s of the request.
pub const DATABASE_DEADLINE: Duration = Duration::from_millis(1500);

/// How long start-up keeps trying to reach PostgreSQL before it gives up.
pub(crate) const STARTUP_PATIENCE: Duration = Duration::from_secs(10);

/// The seconds a 503 caused by an unreachable database tells the caller to wait
/// (`Retry-After`).
pub const DATABASE_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Runs `fut`, giving up after `deadline` (when there is one) with
/// [`RegistryError::Unavailable`].
pub(crate) async fn within<T>(
    deadline: Option<Duration>,
    fut: impl Future<Output = Result<T>>,
) -> Result<T> {
    let Some(d) = deadline else {
        return fut.await;
    };
    match tokio::time::timeout(d, fut).await {
        Ok(r) => r,
        Err(_) => Err(RegistryError::Unavailable {
            message: format!("the database did not answer within {} ms", d.as_millis()),
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_hung_call_fails_as_unavailable_at_the_deadline() {
        let start = tokio::time::Instant::now();
        let r: Result<()> = within(Some(DATABASE_DEADLINE), std::future::pending()).await;
        assert!(r.unwrap_err().is_unavailable());
        assert_eq!(start.elapsed(), DATABASE_DEADLINE);
    }

    #[tokio::test(start_paused = true)]
    async fn answers_and_errors_within_the_deadline_pass_through() {
        let ok = within(Some(DATABASE_DEADLINE), async { Ok(7) }).await;
        assert_eq!(ok.unwrap(), 7);
        let err: Result<()> = within(Some(DATABASE_DEADLINE), async {
            Err(RegistryError::invalid("bad"))
        })
        .await;
        assert!(matches!(err, Err(RegistryError::Invalid { .. })));
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_deadline_a_slow_call_is_awaited() {
        let r = within(None, async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(1)
        })
        .await;
        assert_eq!(r.unwrap(), 1);
    }

    #[test]
    fn the_deadline_leaves_room_for_an_answer_within_two_seconds() {
        assert!(DATABASE_DEADLINE <= Duration::from_millis(1600));
        assert!(DATABASE_RETRY_AFTER >= Duration::from_secs(1));
    }
}
