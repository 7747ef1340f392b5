//! Open reasons and panic admission.

use super::*;

#[test]
fn open_reasons() {
    let clock = ManualClock::new();
    let b = breaker(config(1), &clock);
    for k in ["f", "h", "t", "c"] {
        b.register(k);
    }
    b.record_failure(&"f");
    b.record_failure_with_hint(&"h", secs(5));
    b.trip(&"t", secs(3600));
    let reasons: Vec<_> = ["f", "h", "t", "c", "ghost"]
        .iter()
        .map(|k| b.open_reason(k))
        .collect();
    assert_eq!(
        reasons,
        [
            Some(OpenReason::Failures),
            Some(OpenReason::Hint),
            Some(OpenReason::Trip),
            None,
            None
        ]
    );
    assert_eq!(b.state(&"t").unwrap().open_reason, Some(OpenReason::Trip));
    // the longer cooldown decides the reason
    b.trip(&"f", secs(3600));
    assert_eq!(b.open_reason(&"f"), Some(OpenReason::Trip));
    b.record_failure_with_hint(&"t", secs(30));
    assert_eq!(b.open_reason(&"t"), Some(OpenReason::Trip), "shorter hint");
    b.record_failure_with_hint(&"h", secs(50));
    assert_eq!(b.open_reason(&"h"), Some(OpenReason::Hint));
    // still known while half-open, gone once closed
    clock.advance(secs(50));
    assert_eq!(state(&b, "h"), CircuitState::HalfOpen);
    assert_eq!(b.open_reason(&"h"), Some(OpenReason::Hint));
    b.try_acquire(&"h").unwrap().success();
    assert_eq!(b.open_reason(&"h"), None);
}

#[test]
fn panic_admission_rules() {
    let clock = ManualClock::new();
    let b = breaker(config(1), &clock);
    for k in ["fail", "hint", "trip", "closed"] {
        b.register(k);
    }
    b.record_failure(&"fail");
    b.record_failure_with_hint(&"hint", secs(5));
    b.trip(&"trip", secs(3600));
    assert!(b.try_acquire_panic(&"hint").is_none(), "unexpired hint");
    assert!(b.try_acquire_panic(&"trip").is_none(), "trip");
    assert!(
        b.try_acquire_panic(&"closed").is_none(),
        "closed: use try_acquire"
    );
    assert!(b.try_acquire_panic(&"ghost").is_none(), "unregistered");

    let panic = b.try_acquire_panic(&"fail").unwrap();
    assert!(panic.is_probe());
    assert!(b.state(&"fail").unwrap().probe_in_flight);
    assert!(
        b.try_acquire_panic(&"fail").is_none(),
        "one probe at a time"
    );
    assert!(
        b.try_acquire(&"fail").is_none(),
        "still open for everyone else"
    );
    drop(panic);
    assert!(
        b.try_acquire_panic(&"fail").is_some_and(|p| p.is_probe()),
        "slot freed"
    );

    // failure: re-opened with the next penalty (10 s → 20 s)
    clock.advance(secs(3));
    b.try_acquire_panic(&"fail").unwrap().failure();
    let snap = b.state(&"fail").unwrap();
    assert_eq!(snap.times_opened, 2);
    assert_eq!(snap.open_until, Some(clock.now() + secs(20)));
    assert_eq!(snap.open_reason, Some(OpenReason::Failures));

    // success: closed
    b.try_acquire_panic(&"fail").unwrap().success();
    let snap = b.state(&"fail").unwrap();
    assert_eq!(snap.state, CircuitState::Closed);
    assert_eq!((snap.times_opened, snap.open_reason), (0, None));

    // an expired hint is half-open: the panic admission is the ordinary probe
    clock.advance(secs(5));
    let probe = b.try_acquire_panic(&"hint").unwrap();
    assert!(b.try_acquire(&"hint").is_none(), "the probe is taken");
    probe.success();
    assert_eq!(state(&b, "hint"), CircuitState::Closed);
}

#[test]
fn panic_probe_is_invalidated_by_a_trip_and_times_out() {
    let clock = ManualClock::new();
    let b = breaker(config(1), &clock);
    b.register("a");
    b.record_failure(&"a");
    let panic = b.try_acquire_panic(&"a").unwrap();
    b.trip(&"a", secs(3600));
    panic.success();
    assert_eq!(b.open_reason(&"a"), Some(OpenReason::Trip), "trip kept");

    b.register("b");
    b.record_failure(&"b");
    std::mem::forget(b.try_acquire_panic(&"b").unwrap());
    assert!(b.try_acquire_panic(&"b").is_none());
    clock.advance(secs(9));
    assert!(b.try_acquire_panic(&"b").is_none(), "probe_timeout is 30 s");
    clock.advance(secs(21));
    assert!(
        b.try_acquire_panic(&"b").is_some(),
        "abandoned after probe_timeout"
    );
}

#[test]
fn panic_candidate_picks_the_earliest_failure_cooldown() {
    let clock = ManualClock::new();
    let b = breaker(config(1), &clock);
    for k in ["a", "b", "c", "hint", "trip"] {
        b.register(k);
    }
    b.record_failure(&"a"); // until 10
    clock.advance(secs(2));
    b.record_failure(&"b"); // until 12
    b.record_failure_with_hint(&"hint", secs(1));
    b.trip(&"trip", secs(1));
    let all = ["a", "b", "c", "hint", "trip", "ghost"];
    assert_eq!(b.panic_candidate(all.iter()), Some("a"));
    assert_eq!(b.panic_candidate(["b", "c"].iter()), Some("b"));
    assert_eq!(b.panic_candidate(["c", "hint", "trip"].iter()), None);
    let held = b.try_acquire_panic(&"a").unwrap();
    assert_eq!(
        b.panic_candidate(all.iter()),
        Some("b"),
        "a is being probed"
    );
    held.release();
}
