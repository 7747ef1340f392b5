//! The proxy's gauges: upstream requests in flight, and per-account health and
//! cooldown (set at scrape time from the health registry; the per-account
//! `rook_upstream_response_too_large_total` series is registered at 0 there too).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use metrics::gauge;
use rook_observability::names;

use crate::proxy::snapshot::AccountShared;
use crate::proxy::Proxy;

/// Marks an upstream request in flight (global gauge and the account's count)
/// until dropped.
pub(crate) struct InFlight {
    shared: Arc<AccountShared>,
}

impl InFlight {
    pub(crate) fn new(shared: &Arc<AccountShared>) -> Self {
        shared.in_flight.fetch_add(1, Ordering::Relaxed);
        gauge!(names::UPSTREAM_IN_FLIGHT).increment(1.0);
        InFlight {
            shared: shared.clone(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.shared.in_flight.fetch_sub(1, Ordering::Relaxed);
        gauge!(names::UPSTREAM_IN_FLIGHT).decrement(1.0);
    }
}

/// Sets the per-account gauges from the health registry (called at scrape time).
pub(crate) fn account_gauges(proxy: &Proxy) {
    let snap = proxy.snapshot.load();
    for h in proxy.health.snapshot() {
        let Some(acct) = snap.accounts.iter().find(|a| a.id == h.id) else {
            continue;
        };
        let vendor = acct.vendor.as_str();
        for s in crate::proxy::health::Status::ALL {
            let v = if s == h.status { 1.0 } else { 0.0 };
            gauge!(names::PROVIDER_ACCOUNT_HEALTH, "vendor" => vendor, "account" => acct.label.clone(), "status" => s.as_str()).set(v);
        }
        // Exported at 0 from the first scrape, so alerts see every account.
        crate::accounting::metrics::response_too_large_by(vendor, &acct.label, 0);
        let remaining = h.cooldown_remaining.map_or(0.0, |d| d.as_secs_f64());
        gauge!(names::PROVIDER_ACCOUNT_COOLDOWN_ACTIVE, "vendor" => vendor, "account" => acct.label.clone())
            .set(if remaining > 0.0 { 1.0 } else { 0.0 });
        gauge!(names::PROVIDER_ACCOUNT_COOLDOWN_REMAINING_SECONDS, "vendor" => vendor, "account" => acct.label.clone())
            .set(remaining);
    }
}
