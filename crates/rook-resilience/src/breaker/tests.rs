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

/// `config(threshold)` with the failure-rate rule as given.
fn rate_config(threshold: u32, rate: f64, min: u32, window: u64) -> BreakerConfig {
    BreakerConfig {
        failure_rate_threshold: rate,
        failure_rate_min_requests: min,
        failure_rate_window: secs(window),
        ..config(threshold)
    }
}

/// Play `outcomes` ('F' failure, 'S' success, '.' one second passes)
/// on a fresh key "a"; its state at the end.
fn play(config: BreakerConfig, outcomes: &str) -> CircuitState {
    let clock = ManualClock::new();
    let b = breaker(config, &clock);
    b.register("a");
    for c in outcomes.chars() {
        match c {
            'F' => b.record_failure(&"a"),
            'S' => b.record_success(&"a"),
            '.' => clock.advance(secs(1)),
            _ => {}
        }
    }
    state(&b, "a")
}

#[test]
fn consecutive_and_rate_rules() {
    use CircuitState::{Closed, Open};
    // threshold 3; rate 50 % of at least 10 in 30 s (the gateway's defaults)
    let gateway = rate_config(3, 0.5, 10, 30);
    let cases: &[(&str, BreakerConfig, &str, CircuitState)] = &[
        ("3 consecutive failures open", gateway, "FFF", Open),
        ("2 consecutive failures do not", gateway, "FF", Closed),
        ("a success resets the count", gateway, "FFSFF", Closed),
        ("5 failures of 10 open", gateway, "SFSFSFSFSF", Open),
        (
            "5 of 10 over 25 s open",
            gateway,
            "SF.....SF.....SF.....SF.....SF",
            Open,
        ),
        ("4 failures of 10 do not", gateway, "SSFSFSSFSF", Closed),
        (
            "5 failures of 9 do not (too few)",
            gateway,
            "FSFSFSFSF",
            Closed,
        ),
        (
            "6 of 12 open (5 of 11 did not)",
            gateway,
            "SSFSFSFSFSFF",
            Open,
        ),
        ("a success never opens", gateway, "SFSFSFSFSFS", Open),
        (
            "failures outside the window do not count",
            gateway,
            "SFSFSF..............................SFSF",
            Closed,
        ),
        (
            "only the window's outcomes count",
            gateway,
            "SSSSSSSSSS..............................SFSFSFSFSF",
            Open,
        ),
        (
            "a lower rate opens sooner",
            rate_config(3, 0.3, 10, 30),
            "SSFSSFSSSF",
            Open,
        ),
        (
            "min 1: one failure is 100 %",
            rate_config(5, 1.0, 1, 30),
            "F",
            Open,
        ),
        (
            "rate 1.0 needs every outcome failed",
            rate_config(50, 1.0, 4, 30),
            "FFFSFFF",
            Closed,
        ),
    ];
    for (name, config, outcomes, want) in cases {
        assert_eq!(play(*config, outcomes), *want, "{name}: {outcomes}");
    }
}

#[test]
fn rate_window_expires_by_buckets_never_later_than_the_window() {
    // window 10 s = 10 buckets of 1 s; 9 outcomes at t=0.5
    let clock = ManualClock::new();
    let b = breaker(rate_config(100, 0.5, 10, 10), &clock);
    b.register("a");
    clock.advance(Duration::from_millis(500));
    for _ in 0..9 {
        b.record_failure(&"a");
    }
    assert_eq!(b.state(&"a").unwrap().window_failures, 9);
    clock.advance(Duration::from_millis(9_400)); // t = 9.9 s: still counted
    assert_eq!(b.state(&"a").unwrap().window_outcomes, 9);
    clock.advance(Duration::from_millis(100)); // t = 10 s: the bucket expired
    assert_eq!(b.state(&"a").unwrap().window_outcomes, 0);
    b.record_failure(&"a");
    assert_eq!(state(&b, "a"), CircuitState::Closed);
}

#[test]
fn closing_empties_the_window() {
    let clock = ManualClock::new();
    let b = breaker(rate_config(100, 0.5, 4, 30), &clock);
    b.register("a");
    for _ in 0..4 {
        b.record_failure(&"a");
    }
    assert_eq!(state(&b, "a"), CircuitState::Open);
    clock.advance(secs(10));
    b.try_acquire(&"a").unwrap().success();
    let snap = b.state(&"a").unwrap();
    assert_eq!((snap.window_outcomes, snap.window_failures), (0, 0));
    b.record_failure(&"a");
    assert_eq!(state(&b, "a"), CircuitState::Closed);
}

#[test]
fn rate_opens_respect_max_open_share() {
    let clock = ManualClock::new();
    let b = breaker(
        BreakerConfig {
            max_open_share: 0.5,
            ..rate_config(100, 0.5, 2, 30)
        },
        &clock,
    );
    for k in ["a", "b", "c", "d"] {
        b.register(k);
    }
    for k in ["a", "b", "c"] {
        b.record_success(&k);
        b.record_failure(&k);
    }
    assert_eq!(state(&b, "a"), CircuitState::Open);
    assert_eq!(state(&b, "b"), CircuitState::Open);
    assert_eq!(
        state(&b, "c"),
        CircuitState::Closed,
        "2 of 4 open; d is healthy"
    );
    b.record_success(&"d");
    b.record_failure(&"d");
    assert_eq!(
        state(&b, "d"),
        CircuitState::Open,
        "everyone else is failing"
    );
    b.record_failure(&"c");
    assert_eq!(state(&b, "c"), CircuitState::Open);
}

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
fn rate_validation() {
    let ok = config(1);
    let bad = |c: BreakerConfig| Breaker::<u32>::new(c).unwrap_err();
    for rate in [0.0, -0.1, 1.01, f64::NAN] {
        assert!(matches!(
            bad(BreakerConfig {
                failure_rate_threshold: rate,
                ..ok
            }),
            BreakerError::InvalidFailureRate(_)
        ));
    }
    assert_eq!(
        bad(BreakerConfig {
            failure_rate_min_requests: 0,
            ..ok
        }),
        BreakerError::ZeroFailureRateMinRequests
    );
    assert!(matches!(
        bad(BreakerConfig {
            failure_rate_window: Duration::from_millis(9),
            ..ok
        }),
        BreakerError::FailureRateWindowTooShort(_)
    ));
    assert!(BreakerConfig::default().validate().is_ok());
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

#[test]
fn a_new_failure_rate_window_empties_the_windows() {
    let clock = ManualClock::new();
    let rate = BreakerConfig {
        failure_threshold: 100,
        failure_rate_threshold: 0.5,
        failure_rate_min_requests: 4,
        failure_rate_window: secs(30),
        ..config(100)
    };
    let b = breaker(rate, &clock);
    b.register("a");
    for _ in 0..3 {
        b.record_success(&"a");
    }
    b.record_failure(&"a");
    assert_eq!(b.state(&"a").unwrap().window_outcomes, 4);
    b.set_config(BreakerConfig {
        failure_rate_window: secs(60),
        ..rate
    })
    .unwrap();
    let s = b.state(&"a").unwrap();
    assert_eq!((s.window_outcomes, s.window_failures), (0, 0));
    assert_eq!(s.consecutive_failures, 1);
    // The same window kept: nothing emptied.
    b.record_failure(&"a");
    b.set_config(BreakerConfig {
        failure_rate_window: secs(60),
        failure_rate_min_requests: 5,
        ..rate
    })
    .unwrap();
    assert_eq!(b.state(&"a").unwrap().window_outcomes, 1);
}
