//! The breaker's tests, by concern; the helpers they share.

mod panic;
mod rate;
mod settings;
mod states;

use super::*;
use crate::clock::ManualClock;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn config(threshold: u32) -> BreakerConfig {
    BreakerConfig {
        failure_threshold: threshold,
        cooldown_base: secs(10),
        cooldown_max: secs(60),
        cooldown_jitter: 0.0,
        max_open_share: 1.0,
        probe_timeout: secs(30),
        seed: Some(1),
        ..BreakerConfig::default()
    }
}

fn breaker(config: BreakerConfig, clock: &ManualClock) -> Breaker<&'static str> {
    Breaker::with_parts(config, Arc::new(clock.clone()), observer::noop()).unwrap()
}

fn state(b: &Breaker<&'static str>, k: &'static str) -> CircuitState {
    b.state(&k).unwrap().state
}
