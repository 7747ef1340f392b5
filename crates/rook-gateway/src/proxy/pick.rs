//! Picking the account for the next attempt: the next candidate within its rate
//! limits whose breaker admits an attempt, or, when every candidate is cooling,
//! the panic pick (the account coming back first, as its probe).

use std::sync::Arc;
use std::time::Duration;

use rook_routing::AccountIdx;

use super::attempt::Request;
use super::health::Permit;
use super::limits::Reserved;
use super::snapshot::AccountRuntime;
use super::Proxy;
use crate::leases::{Refusal, SharedLimits, PENDING_RETRY_AFTER};

/// The account picked for an attempt, with what it took to pick it.
pub(super) struct Picked<'s> {
    pub(super) acct: &'s AccountRuntime,
    pub(super) permit: Permit,
    pub(super) reservation: Option<Reserved>,
}

/// Why no account could be picked.
pub(super) struct NonePicked {
    /// The shortest wait for an account's own rate limit, if one refused.
    pub(super) limit_wait: Option<Duration>,
    /// The leased limits of an account skipped only because its lease is on
    /// its way (worth waiting for before giving up).
    pub(super) pending: Option<Arc<SharedLimits>>,
}

/// Panic routing: the account of `unavailable` that comes back first from a
/// cooldown for server-side failures, with its probe taken and its rate limits
/// respected; with several instances, only the one holding its panic probe lease
/// (`proxy/panic_share.rs`).
pub(super) async fn panic_pick<'s>(
    proxy: &Proxy,
    req: &'s Request<'_>,
    unavailable: &[AccountIdx],
    estimate: u64,
) -> Option<Picked<'s>> {
    let accounts: Vec<&'s AccountRuntime> = unavailable
        .iter()
        .filter_map(|i| req.snapshot.account(*i))
        .filter(|a| a.enabled && !proxy.health.panic_denied(&a.id))
        .collect();
    let permit = proxy
        .health
        .try_acquire_panic(accounts.iter().map(|a| &a.id))?;
    let acct = accounts.into_iter().find(|a| a.id == *permit.key())?;
    let reservation = Reserved::try_new(&acct.shared, estimate).ok()?;
    if !proxy.health.panic_allowed(&acct.id).await {
        // another instance probes it: nothing sent (the permit frees the probe)
        if let Some(r) = reservation {
            r.settle(Some(0));
        }
        return None;
    }
    Some(Picked {
        acct,
        permit,
        reservation,
    })
}

/// The next candidate within its rate limits whose breaker admits an attempt.
pub(super) fn pick<'s>(
    proxy: &Proxy,
    req: &'s Request<'_>,
    candidates: &[AccountIdx],
    next: &mut usize,
    unavailable: &mut Vec<AccountIdx>,
    estimate: u64,
) -> Result<Picked<'s>, NonePicked> {
    let mut limit_wait: Option<Duration> = None;
    let mut pending = None;
    for _ in 0..candidates.len() {
        let idx = candidates[*next % candidates.len()];
        *next += 1;
        let Some(acct) = req.snapshot.account(idx) else {
            continue;
        };
        let reservation = match Reserved::try_new(&acct.shared, estimate) {
            Ok(r) => r,
            Err(Refusal::Wait(wait)) => {
                limit_wait = Some(limit_wait.map_or(wait, |w| w.min(wait)));
                continue;
            }
            Err(Refusal::Pending) => {
                pending = acct.shared.leased().map(|l| l.limits().clone());
                limit_wait =
                    Some(limit_wait.map_or(PENDING_RETRY_AFTER, |w| w.min(PENDING_RETRY_AFTER)));
                continue;
            }
        };
        match proxy.health.try_acquire(&acct.id) {
            Some(permit) => {
                return Ok(Picked {
                    acct,
                    permit,
                    reservation,
                })
            }
            None => {
                if let Some(r) = reservation {
                    r.settle(Some(0));
                }
                if !unavailable.contains(&idx) {
                    unavailable.push(idx);
                }
            }
        }
    }
    Err(NonePicked {
        limit_wait,
        pending,
    })
}
