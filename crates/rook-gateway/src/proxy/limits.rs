//! An account's request and token limits on the request path.
//!
//! The buckets are `rook-resilience`'s ([`RateLimits`]); this module adds what is
//! LLM-specific: a request's token estimate, and a reservation that settles itself
//! with the tokens the answer reported. An account over its limit is skipped like a
//! cooling one; the bucket may go into debt when the answer used more than the
//! estimate. Per principal and per route, `rook-resilience`'s `KeyedLimiter` counts
//! requests per minute (in `app`). On PostgreSQL the limits are shared by every
//! instance: slices are leased from the database ahead of need
//! ([`crate::leases`]); on SQLite, and while the database is unreachable, each
//! instance enforces its own buckets.

use std::sync::Arc;

use crate::leases::{reserve_pair, settle_pair, Refusal, Ticket};

use super::snapshot::AccountShared;

/// A request's token estimate: prompt bytes / 4 plus `max_tokens` (or
/// `max_completion_tokens`), or 256 output tokens when neither is given.
pub(crate) fn estimate_tokens(body: &[u8], max_tokens: Option<u64>) -> u64 {
    (body.len() as u64) / 4 + max_tokens.unwrap_or(256)
}

/// An account's token reservation, settled when the attempt's usage is known.
pub(crate) struct Reserved {
    shared: Arc<AccountShared>,
    ticket: Ticket,
}

impl Reserved {
    /// Reserves one request and `estimate` tokens on the account, if it has
    /// limits (`Ok(None)` when it has none), or says how long to wait (or that
    /// a lease is on its way).
    pub(crate) fn try_new(
        shared: &Arc<AccountShared>,
        estimate: u64,
    ) -> Result<Option<Reserved>, Refusal> {
        let ticket = reserve_pair(shared.leased(), shared.limits(), estimate)?;
        Ok(ticket.map(|ticket| Reserved {
            shared: shared.clone(),
            ticket,
        }))
    }

    /// Settles the reservation with the tokens actually used (`Some(0)` for a
    /// failed attempt, `None` when unknown).
    pub(crate) fn settle(self, used: Option<u64>) {
        settle_pair(
            self.shared.leased(),
            self.shared.limits(),
            self.ticket,
            used,
        );
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use rook_resilience::RateLimits;

    use super::*;

    #[test]
    fn estimates_count_prompt_bytes_and_the_output_allowance() {
        assert_eq!(estimate_tokens(&[b'x'; 400], Some(50)), 150);
        assert_eq!(estimate_tokens(b"", None), 256);
    }

    #[test]
    fn reservations_settle_with_the_reported_usage() {
        let shared = Arc::new(AccountShared::default());
        let _ = shared
            .limits
            .set(RateLimits::new(None, Some(1000), Instant::now()));
        let r = Reserved::try_new(&shared, 800).unwrap().unwrap();
        assert!(Reserved::try_new(&shared, 800).is_err());
        // Only 100 were used: 700 come back.
        r.settle(Some(100));
        assert!(Reserved::try_new(&shared, 800).unwrap().is_some());
        let unlimited = Arc::new(AccountShared::default());
        let _ = unlimited.limits.set(None);
        assert!(Reserved::try_new(&unlimited, 1 << 40).unwrap().is_none());
    }
}
