//! States, probes, hints and trips, the open share, keys at run time, snapshots, jitter, the observer.

use super::*;

#[test]
fn validation() {
    let ok = config(1);
    let bad = |c: BreakerConfig| Breaker::<u32>::new(c).unwrap_err();
    assert_eq!(
        bad(BreakerConfig {
            failure_threshold: 0,
            ..ok
        }),
        BreakerError::ZeroThreshold
    );
    assert_eq!(
        bad(BreakerConfig {
            cooldown_base: Duration::ZERO,
            ..ok
        }),
        BreakerError::ZeroCooldown
    );
    assert!(matches!(
        bad(BreakerConfig {
            cooldown_max: secs(1),
            ..ok
        }),
        BreakerError::CooldownMaxBelowBase { .. }
    ));
    assert!(matches!(
        bad(BreakerConfig {
            cooldown_jitter: 1.5,
            ..ok
        }),
        BreakerError::InvalidJitter(_)
    ));
    assert!(matches!(
        bad(BreakerConfig {
            max_open_share: f64::NAN,
            ..ok
        }),
        BreakerError::InvalidMaxOpenShare(_)
    ));
    assert_eq!(
        bad(BreakerConfig {
            probe_timeout: Duration::ZERO,
            ..ok
        }),
        BreakerError::ZeroProbeTimeout
    );
}

#[test]
fn penalty_doubles_up_to_the_cap() {
    let c = config(1);
    let p: Vec<_> = (1..=5).map(|n| c.penalty(n)).collect();
    assert_eq!(p, [10, 20, 40, 60, 60].map(secs));
    assert_eq!(c.penalty(u32::MAX), secs(60));
}

#[test]
fn threshold_open_probe_and_close() {
    let clock = ManualClock::new();
    let b = breaker(config(3), &clock);
    b.register("a");
    b.record_failure(&"a");
    b.record_failure(&"a");
    b.record_success(&"a");
    b.record_failure(&"a");
    b.record_failure(&"a");
    assert_eq!(
        state(&b, "a"),
        CircuitState::Closed,
        "success reset the count"
    );
    b.record_failure(&"a");
    assert_eq!(state(&b, "a"), CircuitState::Open);
    assert_eq!(b.available_at(&"a"), Some(clock.now() + secs(10)));
    assert!(b.try_acquire(&"a").is_none());

    clock.advance(secs(10));
    assert_eq!(state(&b, "a"), CircuitState::HalfOpen);
    assert!(b.is_available(&"a"));
    let probe = b.try_acquire(&"a").unwrap();
    assert!(probe.is_probe());
    assert!(!b.is_available(&"a"));
    assert!(b.try_acquire(&"a").is_none(), "only one probe");
    probe.failure();
    assert_eq!(state(&b, "a"), CircuitState::Open);
    assert_eq!(b.state(&"a").unwrap().times_opened, 2);
    assert_eq!(b.available_at(&"a"), Some(clock.now() + secs(20)));

    clock.advance(secs(20));
    let probe = b.try_acquire(&"a").unwrap();
    probe.success();
    let snap = b.state(&"a").unwrap();
    assert_eq!(snap.state, CircuitState::Closed);
    assert_eq!((snap.times_opened, snap.consecutive_failures), (0, 0));
    assert!(b.try_acquire(&"a").is_some_and(|a| !a.is_probe()));
}

#[test]
fn dropped_probe_frees_the_slot_and_stale_probe_times_out() {
    let clock = ManualClock::new();
    let b = breaker(config(1), &clock);
    b.register("a");
    b.record_failure(&"a");
    clock.advance(secs(10));
    let probe = b.try_acquire(&"a").unwrap();
    drop(probe);
    assert!(b.is_available(&"a"));
    let probe = b.try_acquire(&"a").unwrap();
    std::mem::forget(probe);
    assert!(!b.is_available(&"a"));
    assert_eq!(b.available_at(&"a"), Some(clock.now() + secs(30)));
    clock.advance(secs(30));
    let fresh = b.try_acquire(&"a").unwrap();
    assert!(fresh.is_probe());
    fresh.success();
    assert_eq!(state(&b, "a"), CircuitState::Closed);
}

#[test]
fn stale_probe_outcome_is_ignored() {
    let clock = ManualClock::new();
    let b = breaker(config(1), &clock);
    b.register("a");
    b.record_failure(&"a");
    clock.advance(secs(10));
    let old = b.try_acquire(&"a").unwrap();
    clock.advance(secs(30)); // old probe timed out
    let new = b.try_acquire(&"a").unwrap();
    old.success(); // must not close: it is no longer the probe
    assert_eq!(state(&b, "a"), CircuitState::HalfOpen);
    assert!(
        b.try_acquire(&"a").is_none(),
        "new probe still holds the slot"
    );
    new.failure();
    assert_eq!(state(&b, "a"), CircuitState::Open);
}

#[test]
fn hints_and_trips_open_regardless() {
    let clock = ManualClock::new();
    let b = breaker(
        BreakerConfig {
            max_open_share: 0.0,
            ..config(5)
        },
        &clock,
    );
    b.register("a");
    b.register("b");
    b.record_failure_with_hint(&"a", secs(3));
    assert_eq!(b.available_at(&"a"), Some(clock.now() + secs(3)));
    b.record_failure_with_hint(&"a", secs(1));
    assert_eq!(
        b.available_at(&"a"),
        Some(clock.now() + secs(3)),
        "longer kept"
    );
    b.record_failure_with_hint(&"b", secs(3600));
    assert_eq!(
        b.available_at(&"b"),
        Some(clock.now() + secs(60)),
        "clamped"
    );
    b.trip(&"b", secs(3600));
    assert_eq!(
        b.available_at(&"b"),
        Some(clock.now() + secs(3600)),
        "trip not clamped"
    );
    assert_eq!(b.state(&"b").unwrap().times_opened, 1);
}

#[test]
fn non_probe_outcomes_do_not_close_an_open_key() {
    let clock = ManualClock::new();
    let b = breaker(config(1), &clock);
    b.register("a");
    let early = b.try_acquire(&"a").unwrap();
    b.record_failure(&"a");
    early.success();
    assert_eq!(state(&b, "a"), CircuitState::Open);
    assert_eq!(b.state(&"a").unwrap().consecutive_failures, 0);
}

#[test]
fn max_open_share_limits_threshold_opens() {
    let clock = ManualClock::new();
    let b = breaker(
        BreakerConfig {
            max_open_share: 0.5,
            ..config(1)
        },
        &clock,
    );
    for k in ["a", "b", "c", "d"] {
        b.register(k);
    }
    b.record_failure(&"a");
    b.record_failure(&"b");
    b.record_failure(&"c");
    assert_eq!(state(&b, "a"), CircuitState::Open);
    assert_eq!(state(&b, "b"), CircuitState::Open);
    assert_eq!(state(&b, "c"), CircuitState::Closed, "2 of 4 already open");
    // once the last healthy key fails too, everything is failing
    b.record_failure(&"d");
    assert_eq!(state(&b, "d"), CircuitState::Open);
    b.record_failure(&"c");
    assert_eq!(state(&b, "c"), CircuitState::Open);
}

#[test]
fn single_key_can_always_open() {
    let clock = ManualClock::new();
    let b = breaker(
        BreakerConfig {
            max_open_share: 0.0,
            ..config(1)
        },
        &clock,
    );
    b.register("only");
    b.record_failure(&"only");
    assert_eq!(state(&b, "only"), CircuitState::Open);
}

#[test]
fn unregistered_keys_and_runtime_changes() {
    let clock = ManualClock::new();
    let b = breaker(config(1), &clock);
    assert!(b.is_available(&"ghost"));
    assert!(b.try_acquire(&"ghost").is_some());
    b.record_failure(&"ghost");
    assert!(
        b.state(&"ghost").is_none(),
        "outcomes for unknown keys are ignored"
    );
    assert!(b.register("a"));
    assert!(!b.register("a"));
    b.record_failure(&"a");
    b.sync_keys(["a", "b"]);
    assert_eq!(b.len(), 2);
    assert_eq!(state(&b, "a"), CircuitState::Open, "kept keys keep state");
    b.sync_keys(["b"]);
    assert!(!b.contains(&"a"));
    assert!(b.remove(&"b"));
    assert!(b.is_empty());
}

#[test]
fn snapshot_and_restore_round_trip() {
    let clock = ManualClock::new();
    let b = breaker(config(2), &clock);
    b.register("a");
    b.register("b");
    b.record_failure(&"a");
    b.record_failure(&"a");
    b.record_failure(&"b");
    clock.advance(secs(4));
    let mut snap = b.snapshot();
    snap.sort_by_key(|s| s.key);
    assert_eq!(
        snap[0].persisted(),
        PersistedKey {
            cooldown_remaining: Some(secs(6)),
            consecutive_failures: 2,
            times_opened: 1,
        }
    );
    assert_eq!(
        snap[1].persisted(),
        PersistedKey {
            cooldown_remaining: None,
            consecutive_failures: 1,
            times_opened: 0,
        }
    );

    let restarted_clock = ManualClock::new();
    let restarted = breaker(config(2), &restarted_clock);
    for s in &snap {
        restarted.restore(s.key, s.persisted());
    }
    assert_eq!(state(&restarted, "a"), CircuitState::Open);
    assert_eq!(
        restarted.available_at(&"a"),
        Some(restarted_clock.now() + secs(6))
    );
    restarted.record_failure(&"b");
    assert_eq!(
        state(&restarted, "b"),
        CircuitState::Open,
        "failure count kept"
    );
    // a cooldown that ran out while down comes back half-open
    restarted.restore(
        "c",
        PersistedKey {
            cooldown_remaining: Some(Duration::ZERO),
            ..PersistedKey::default()
        },
    );
    assert_eq!(state(&restarted, "c"), CircuitState::HalfOpen);
    assert!(restarted.try_acquire(&"c").is_some_and(|a| a.is_probe()));
}

#[test]
fn jitter_shortens_within_bounds() {
    let clock = ManualClock::new();
    let b = breaker(
        BreakerConfig {
            cooldown_jitter: 0.5,
            ..config(1)
        },
        &clock,
    );
    for i in 0..50u32 {
        let k: &'static str = Box::leak(i.to_string().into_boxed_str());
        b.register(k);
        b.record_failure(&k);
        let until = b.available_at(&k).unwrap();
        let d = until - clock.now();
        assert!(d >= secs(5) && d <= secs(10), "{d:?}");
    }
}

#[test]
fn observer_sees_transitions() {
    #[derive(Default)]
    struct Log(Mutex<Vec<String>>);
    impl Observer for Log {
        fn key_state_changed(&self, key: &dyn Display, from: CircuitState, to: CircuitState) {
            self.0.lock().unwrap().push(format!("{key}:{from}->{to}"));
        }
        fn key_open_suppressed(&self, key: &dyn Display) {
            self.0.lock().unwrap().push(format!("{key}:suppressed"));
        }
    }
    let clock = ManualClock::new();
    let log = Arc::new(Log::default());
    let b = Breaker::with_parts(
        BreakerConfig {
            max_open_share: 0.5,
            ..config(1)
        },
        Arc::new(clock.clone()),
        log.clone(),
    )
    .unwrap();
    b.register("a");
    b.register("b");
    b.register("c");
    b.register("d");
    b.record_failure(&"a");
    b.record_failure(&"b");
    b.record_failure(&"c");
    clock.advance(secs(10));
    b.try_acquire(&"a").unwrap().failure();
    clock.advance(secs(20));
    b.try_acquire(&"a").unwrap().success();
    b.reset(&"b");
    assert_eq!(
        *log.0.lock().unwrap(),
        [
            "a:closed->open",
            "b:closed->open",
            "c:suppressed",
            "a:open->half_open",
            "a:half_open->open",
            "a:open->half_open",
            "a:half_open->closed",
            "b:half_open->closed",
        ]
    );
}

#[test]
fn restore_with_reason() {
    let clock = ManualClock::new();
    let b = breaker(config(1), &clock);
    let open = PersistedKey {
        cooldown_remaining: Some(secs(30)),
        consecutive_failures: 1,
        times_opened: 1,
    };
    b.restore("f", open);
    b.restore_with_reason("t", open, OpenReason::Trip);
    b.restore_with_reason("c", PersistedKey::default(), OpenReason::Trip);
    assert_eq!(b.open_reason(&"f"), Some(OpenReason::Failures));
    assert_eq!(b.open_reason(&"t"), Some(OpenReason::Trip));
    assert_eq!(b.open_reason(&"c"), None);
    assert!(b.try_acquire_panic(&"t").is_none());
    assert!(b.try_acquire_panic(&"f").is_some());
}

#[test]
fn admission_can_travel() {
    fn assert_send_static<T: Send + 'static>(_: &T) {}
    let b: Breaker<String> = Breaker::new(BreakerConfig::default()).unwrap();
    let admission = b.try_acquire(&"x".to_string()).unwrap();
    assert_send_static(&admission);
    let handle = std::thread::spawn(move || admission.success());
    handle.join().unwrap();
}
