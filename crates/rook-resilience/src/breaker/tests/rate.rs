//! The failure-rate rule and its window.

use super::*;

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
