//! The `[rate_limits]` in force: requests per minute per principal and per route
//! (leased across instances on PostgreSQL, see [`crate::leases`]) and per client
//! address (per instance). A configuration reload replaces them whole (their counts
//! start afresh).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rook_config::RateLimits;
use rook_resilience::KeyedLimiter;

use crate::leases::{GlobalKeyed, SharedLimits};

/// The three request-rate limits of `[rate_limits]`.
pub(crate) struct RequestLimits {
    principal: GlobalKeyed,
    route: GlobalKeyed,
    /// Keyed by client address.
    client: KeyedLimiter,
}

impl RequestLimits {
    /// The limits of `config`, leased through `shared` when it is shared.
    pub(crate) fn new(config: &RateLimits, shared: &Arc<SharedLimits>) -> RequestLimits {
        RequestLimits {
            principal: GlobalKeyed::new(
                "principal",
                config.principal_requests_per_minute,
                shared.clone(),
            ),
            route: GlobalKeyed::new("route", config.route_requests_per_minute, shared.clone()),
            client: KeyedLimiter::new(config.client_address_requests_per_minute),
        }
    }

    /// The first of the principal's, the client address's and the route's limits
    /// the request is over: `Some((wait, scope))`.
    pub(crate) async fn over(
        &self,
        principal: &str,
        client: IpAddr,
        model: &str,
    ) -> Option<(Duration, &'static str)> {
        if let Err(wait) = self.principal.check(principal).await {
            return Some((wait, "principal"));
        }
        if let Err(wait) = self.client.check(&client.to_string(), Instant::now()) {
            return Some((wait, "client address"));
        }
        self.route
            .check(model)
            .await
            .err()
            .map(|wait| (wait, "route"))
    }
}
