//! Panic routing: when every account of a route is cooling because of
//! server-side failures, one request still goes to the account that comes back
//! first (as its probe) instead of the route answering 503 without trying. This
//! module remembers which routes did so recently, for `/api/status`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a route counts as "in panic" after its last panic-routed request.
const RECENT: Duration = Duration::from_secs(60);

/// Routes that were panic-routed, and when last.
#[derive(Debug, Default)]
pub(crate) struct PanicRoutes {
    last: Mutex<HashMap<String, Instant>>,
}

impl PanicRoutes {
    /// Notes a panic-routed request for `route` at `now`.
    pub(crate) fn note(&self, route: &str, now: Instant) {
        let mut last = match self.last.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        // Bounded: routes are the configured ones; old entries go on each note.
        last.retain(|_, t| now.saturating_duration_since(*t) < RECENT);
        last.insert(route.to_string(), now);
    }

    /// Routes panic-routed within the last minute, sorted.
    pub(crate) fn recent(&self, now: Instant) -> Vec<String> {
        let last = match self.last.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let mut routes: Vec<String> = last
            .iter()
            .filter(|(_, t)| now.saturating_duration_since(**t) < RECENT)
            .map(|(r, _)| r.clone())
            .collect();
        routes.sort();
        routes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_stay_in_panic_for_a_minute_after_their_last_panic() {
        let p = PanicRoutes::default();
        let t0 = Instant::now();
        p.note("b", t0);
        p.note("a", t0 + Duration::from_secs(30));
        assert_eq!(p.recent(t0 + Duration::from_secs(31)), ["a", "b"]);
        assert_eq!(p.recent(t0 + Duration::from_secs(61)), ["a"]);
        assert!(p.recent(t0 + Duration::from_secs(91)).is_empty());
    }
}
