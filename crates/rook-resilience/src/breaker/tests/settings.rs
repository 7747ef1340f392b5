//! Changing the settings at run time.

use super::*;

#[test]
fn set_config_applies_to_the_next_outcome_and_keeps_running_cooldowns() {
    let clock = ManualClock::new();
    let b = breaker(config(3), &clock);
    b.register("a");
    b.register("b");
    // "a" opens under the old settings: 10 s.
    for _ in 0..3 {
        b.record_failure(&"a");
    }
    assert_eq!(state(&b, "a"), CircuitState::Open);
    b.record_failure(&"b");
    // New settings: threshold 2, base cooldown 20 s.
    b.set_config(BreakerConfig {
        failure_threshold: 2,
        cooldown_base: secs(20),
        ..config(2)
    })
    .unwrap();
    assert_eq!(b.config().failure_threshold, 2);
    assert_eq!(b.config().cooldown_base, secs(20));
    // "a" keeps its 10 s cooldown.
    assert_eq!(b.state(&"a").unwrap().cooldown_remaining, Some(secs(10)));
    // "b" had one failure; the second reaches the new threshold and opens it for 20 s.
    b.record_failure(&"b");
    assert_eq!(state(&b, "b"), CircuitState::Open);
    assert_eq!(b.state(&"b").unwrap().cooldown_remaining, Some(secs(20)));
    clock.advance(secs(10));
    assert_eq!(state(&b, "a"), CircuitState::HalfOpen);
    assert_eq!(state(&b, "b"), CircuitState::Open);
}

#[test]
fn set_config_refuses_an_invalid_config_and_keeps_the_old_one() {
    let clock = ManualClock::new();
    let b = breaker(config(3), &clock);
    let err = b
        .set_config(BreakerConfig {
            failure_threshold: 0,
            ..config(3)
        })
        .unwrap_err();
    assert_eq!(err, BreakerError::ZeroThreshold);
    assert_eq!(b.config(), config(3));
}
