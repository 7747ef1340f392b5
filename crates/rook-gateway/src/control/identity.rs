//! The database file's identity, watched: every five seconds (and at every scrape of
//! `/api/metrics`) the gateway asks the registry whether its SQLite file is still the one
//! it opened, and exports the answer as `rook_database_identity_ok` (1 or 0). The
//! registry logs each change and refuses writes while the file is removed or replaced;
//! `/api/health/ready` and `/api/status` look for themselves.

use std::time::Duration;

use rook_observability::names;
use rook_registry::{DbIdentity, Registry};

/// How often the file is looked at.
const PERIOD: Duration = Duration::from_secs(5);

/// Looks at the file now and sets the gauge.
pub(crate) fn refresh(registry: &Registry) -> DbIdentity {
    let state = registry.check_identity();
    let ok = if state == DbIdentity::Ok { 1.0 } else { 0.0 };
    metrics::gauge!(names::DATABASE_IDENTITY_OK).set(ok);
    state
}

/// Checks the identity every [`PERIOD`] while the registry is in use.
pub(crate) fn spawn_watch(registry: Registry) {
    refresh(&registry);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            refresh(&registry);
        }
    });
}
