//! Property tests for the invariants the rest of Rook relies on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use rook_resilience::Bucket;
use rook_resilience::{
    Backoff, Breaker, BreakerConfig, BudgetConfig, CircuitState, Clock, Jitter, ManualClock,
    NoopObserver, OpenReason, RetryBudget,
};

fn jitter() -> impl Strategy<Value = Jitter> {
    prop_oneof![
        Just(Jitter::None),
        Just(Jitter::Full),
        Just(Jitter::Equal),
        Just(Jitter::Decorrelated),
    ]
}

proptest! {
    /// Every delay of every jitter kind lies in [0, cap]; full jitter also
    /// stays under min(cap, base·2ⁿ).
    #[test]
    fn backoff_delays_within_cap(
        base_ns in 1u64..=10_000_000_000,
        extra_ns in 0u64..=100_000_000_000,
        jitter in jitter(),
        seed in any::<u64>(),
        count in 1usize..80,
    ) {
        let base = Duration::from_nanos(base_ns);
        let cap = base + Duration::from_nanos(extra_ns);
        let backoff = Backoff::new(base, cap, jitter).unwrap().with_seed(seed);
        for (n, delay) in backoff.delays().take(count).enumerate() {
            prop_assert!(delay <= cap, "retry {}: {:?} > cap {:?}", n, delay, cap);
            if jitter == Jitter::Full || jitter == Jitter::None || jitter == Jitter::Equal {
                prop_assert!(delay <= backoff.ceiling(n as u32));
            }
            if jitter == Jitter::Decorrelated {
                prop_assert!(delay >= base);
            }
        }
    }
}

#[derive(Debug, Clone)]
enum BudgetOp {
    Deposit,
    Withdraw,
    Advance(u64),
}

fn budget_op() -> impl Strategy<Value = BudgetOp> {
    prop_oneof![
        4 => Just(BudgetOp::Deposit),
        4 => Just(BudgetOp::Withdraw),
        1 => (0u64..3_000).prop_map(BudgetOp::Advance),
    ]
}

proptest! {
    /// In every ttl-long (bucket-aligned) window, successful withdrawals
    /// never exceed ratio × deposits + min_per_second × ttl_secs.
    #[test]
    fn budget_never_exceeds_its_allowance(
        ratio in 0.0f64..1.5,
        min_per_second in 0.0f64..3.0,
        ops in proptest::collection::vec(budget_op(), 1..400),
    ) {
        let ttl = Duration::from_secs(10);
        let clock = ManualClock::new();
        let start = clock.now();
        let budget = RetryBudget::new(BudgetConfig { ratio, min_per_second, ttl })
            .unwrap()
            .with_clock(Arc::new(clock.clone()));
        let bucket = ttl / RetryBudget::BUCKETS as u32;
        // per bucket index: (deposits, successful withdrawals)
        let mut per_bucket: Vec<(u64, u64)> = Vec::new();
        for op in ops {
            let index = ((clock.now() - start).as_nanos() / bucket.as_nanos()) as usize;
            if per_bucket.len() <= index {
                per_bucket.resize(index + 1, (0, 0));
            }
            match op {
                BudgetOp::Deposit => {
                    budget.deposit();
                    per_bucket[index].0 += 1;
                }
                BudgetOp::Withdraw => {
                    if budget.try_withdraw() {
                        per_bucket[index].1 += 1;
                    }
                }
                BudgetOp::Advance(ms) => clock.advance(Duration::from_millis(ms)),
            }
        }
        let reserve = min_per_second * ttl.as_secs_f64();
        for end in 0..per_bucket.len() {
            let first = end.saturating_sub(RetryBudget::BUCKETS - 1);
            let (d, w) = per_bucket[first..=end]
                .iter()
                .fold((0u64, 0u64), |(d, w), b| (d + b.0, w + b.1));
            prop_assert!(
                w as f64 <= ratio * d as f64 + reserve + 1e-9,
                "window ending at bucket {}: {} withdrawals, {} deposits", end, w, d
            );
        }
    }
}

#[derive(Debug, Clone)]
enum BreakerOp {
    Fail(usize),
    FailWithHint(usize, u64),
    Trip(usize, u64),
    Succeed(usize),
    /// try_acquire, then report success (true) or failure (false), or drop.
    Acquire(usize, Option<bool>),
    /// try_acquire and keep the admission for a while.
    Hold(usize),
    /// try_acquire_panic, then report success (true) or failure (false), or drop.
    Panic(usize, Option<bool>),
    ReleaseHeld,
    Advance(u64),
}

fn breaker_op() -> impl Strategy<Value = BreakerOp> {
    let key = 0usize..4;
    prop_oneof![
        3 => key.clone().prop_map(BreakerOp::Fail),
        1 => (key.clone(), 0u64..120).prop_map(|(k, s)| BreakerOp::FailWithHint(k, s)),
        1 => (key.clone(), 0u64..400).prop_map(|(k, s)| BreakerOp::Trip(k, s)),
        1 => key.clone().prop_map(BreakerOp::Succeed),
        3 => (key.clone(), proptest::option::of(any::<bool>())).prop_map(|(k, o)| BreakerOp::Acquire(k, o)),
        1 => key.clone().prop_map(BreakerOp::Hold),
        2 => (key, proptest::option::of(any::<bool>())).prop_map(|(k, o)| BreakerOp::Panic(k, o)),
        1 => Just(BreakerOp::ReleaseHeld),
        2 => (0u64..90).prop_map(BreakerOp::Advance),
    ]
}

fn breaker_config(threshold: u32, share: f64) -> BreakerConfig {
    BreakerConfig {
        failure_threshold: threshold,
        cooldown_base: Duration::from_secs(5),
        cooldown_max: Duration::from_secs(60),
        cooldown_jitter: 0.2,
        max_open_share: share,
        probe_timeout: Duration::from_secs(30),
        seed: Some(7),
        ..BreakerConfig::default()
    }
}

proptest! {
    /// Whatever happens, a key in cooldown is never available, never
    /// admitted, and reports when it will be; availability and
    /// `available_at` agree.
    #[test]
    fn key_in_cooldown_is_never_available(
        threshold in 1u32..4,
        share in 0.0f64..=1.0,
        ops in proptest::collection::vec(breaker_op(), 1..200),
    ) {
        let keys = ["k0", "k1", "k2", "k3"];
        let clock = ManualClock::new();
        let breaker = Breaker::with_parts(
            breaker_config(threshold, share),
            Arc::new(clock.clone()),
            Arc::new(NoopObserver),
        )
        .unwrap();
        for k in keys {
            breaker.register(k);
        }
        let mut held = Vec::new();
        for op in ops {
            match op {
                BreakerOp::Fail(k) => breaker.record_failure(&keys[k]),
                BreakerOp::FailWithHint(k, s) => breaker.record_failure_with_hint(&keys[k], Duration::from_secs(s)),
                BreakerOp::Trip(k, s) => breaker.trip(&keys[k], Duration::from_secs(s)),
                BreakerOp::Succeed(k) => breaker.record_success(&keys[k]),
                BreakerOp::Acquire(k, outcome) => {
                    if let Some(admission) = breaker.try_acquire(&keys[k]) {
                        match outcome {
                            Some(true) => admission.success(),
                            Some(false) => admission.failure(),
                            None => drop(admission),
                        }
                    }
                }
                BreakerOp::Hold(k) => held.extend(breaker.try_acquire(&keys[k])),
                BreakerOp::Panic(k, outcome) => {
                    if let Some(admission) = breaker.try_acquire_panic(&keys[k]) {
                        match outcome {
                            Some(true) => admission.success(),
                            Some(false) => admission.failure(),
                            None => drop(admission),
                        }
                    }
                }
                BreakerOp::ReleaseHeld => held.clear(),
                BreakerOp::Advance(s) => clock.advance(Duration::from_secs(s)),
            }
            let now = clock.now();
            for k in keys {
                let snap = breaker.state(&k).unwrap();
                let available = breaker.is_available(&k);
                prop_assert_eq!(available, breaker.available_at(&k).is_none());
                if snap.state == CircuitState::Open {
                    prop_assert!(!available, "{} open but available", k);
                    prop_assert!(snap.open_until.unwrap() > now);
                    prop_assert!(breaker.available_at(&k).unwrap() > now);
                    prop_assert!(breaker.try_acquire(&k).is_none());
                    if snap.open_reason != Some(OpenReason::Failures) {
                        prop_assert!(
                            breaker.try_acquire_panic(&k).is_none(),
                            "{} open for {:?} got a panic admission", k, snap.open_reason
                        );
                    }
                }
                if snap.probe_in_flight {
                    prop_assert!(breaker.try_acquire_panic(&k).is_none());
                }
                if snap.state == CircuitState::Closed {
                    prop_assert!(available);
                }
            }
        }
    }

    /// Once a key's cooldown is over, any number of callers asking at once
    /// get exactly one probe; when it is dropped, exactly one more.
    #[test]
    fn exactly_one_probe_per_half_open_period(
        callers in 1usize..24,
        cooldown_hint in 0u64..100,
        wait_extra in 0u64..20,
    ) {
        let clock = ManualClock::new();
        let breaker = Breaker::with_parts(
            breaker_config(1, 1.0),
            Arc::new(clock.clone()),
            Arc::new(NoopObserver),
        )
        .unwrap();
        breaker.register("k");
        breaker.record_failure_with_hint(&"k", Duration::from_secs(cooldown_hint));
        clock.advance(Duration::from_secs(cooldown_hint + wait_extra));
        prop_assert_eq!(breaker.state(&"k").unwrap().state, CircuitState::HalfOpen);

        let admissions: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..callers)
                .map(|_| scope.spawn(|| breaker.try_acquire(&"k")))
                .collect();
            handles.into_iter().filter_map(|h| h.join().unwrap()).collect()
        });
        prop_assert_eq!(admissions.len(), 1);
        prop_assert!(admissions[0].is_probe());
        drop(admissions);

        let second: Vec<_> = (0..callers).filter_map(|_| breaker.try_acquire(&"k")).collect();
        prop_assert_eq!(second.len(), 1);
    }
}

#[derive(Debug, Clone)]
enum RateOp {
    Fail,
    Succeed,
    AdvanceMs(u64),
}

proptest! {
    /// The failure-rate rule never opens a key with fewer than
    /// `failure_rate_min_requests` outcomes in the last
    /// `failure_rate_window`, nor with fewer failures there than
    /// `failure_rate_threshold × failure_rate_min_requests`.
    #[test]
    fn rate_rule_needs_min_requests_in_the_window(
        rate in 0.05f64..=1.0,
        min in 1u32..20,
        window_s in 1u64..60,
        ops in proptest::collection::vec(
            prop_oneof![
                3 => Just(RateOp::Fail),
                2 => Just(RateOp::Succeed),
                2 => (0u64..5_000).prop_map(RateOp::AdvanceMs),
            ],
            1..300,
        ),
    ) {
        let window = Duration::from_secs(window_s);
        let clock = ManualClock::new();
        let breaker = Breaker::with_parts(
            BreakerConfig {
                failure_threshold: u32::MAX,
                max_open_share: 1.0,
                failure_rate_threshold: rate,
                failure_rate_min_requests: min,
                failure_rate_window: window,
                ..BreakerConfig::default()
            },
            Arc::new(clock.clone()),
            Arc::new(NoopObserver),
        )
        .unwrap();
        breaker.register("k");
        let mut log: Vec<(Instant, bool)> = Vec::new();
        for op in ops {
            match op {
                RateOp::Fail => {
                    breaker.record_failure(&"k");
                    log.push((clock.now(), true));
                }
                RateOp::Succeed => {
                    breaker.record_success(&"k");
                    log.push((clock.now(), false));
                }
                RateOp::AdvanceMs(ms) => clock.advance(Duration::from_millis(ms)),
            }
            if breaker.state(&"k").unwrap().state != CircuitState::Closed {
                let now = clock.now();
                let recent: Vec<bool> = log
                    .iter()
                    .filter(|(t, _)| now.duration_since(*t) < window)
                    .map(|(_, f)| *f)
                    .collect();
                let failures = recent.iter().filter(|f| **f).count();
                prop_assert!(recent.len() >= min as usize, "{} outcomes < {}", recent.len(), min);
                prop_assert!(failures as f64 + 1e-9 >= rate * f64::from(min));
                breaker.reset(&"k");
                log.clear();
            }
        }
    }
}

proptest! {
    /// In every window of time, a bucket grants at most
    /// `capacity + rate × window`, plus the excess of an oversized take
    /// (larger than the whole bucket, allowed when full) that it still
    /// owes; and a refusal's wait is honest: the same take fits once the
    /// wait has passed.
    #[test]
    fn bucket_never_grants_more_than_capacity_plus_refill(
        per_minute in 1u32..=100_000,
        ops in prop::collection::vec((0u64..=5_000, 0.0f64..=2.0), 1..150),
    ) {
        let t0 = Instant::now();
        let capacity = f64::from(per_minute);
        let per_second = capacity / 60.0;
        let mut bucket = Bucket::per_minute(per_minute, t0);
        let mut now = t0;
        let mut owed = 0.0;
        // (time, amount granted) of every take so far
        let mut takes: Vec<(Instant, f64)> = Vec::new();
        for (advance_ms, share) in ops {
            now += Duration::from_millis(advance_ms);
            let n = share * capacity;
            let before = bucket.clone();
            match bucket.try_take(n, now) {
                Ok(()) => {
                    takes.push((now, n));
                    owed = (n - capacity).max(0.0);
                }
                Err(wait) => {
                    takes.push((now, 0.0));
                    let mut later = before;
                    prop_assert!(
                        later.try_take(n, now + wait + Duration::from_millis(1)).is_ok(),
                        "{} did not fit after {:?}", n, wait
                    );
                }
            }
            // every window ending now
            let mut granted = 0.0;
            for &(start, amount) in takes.iter().rev() {
                granted += amount;
                let window = now.duration_since(start).as_secs_f64();
                let allowed = capacity + per_second * window + owed;
                prop_assert!(
                    granted <= allowed * (1.0 + 1e-9),
                    "granted {} in {}s > allowed {}", granted, window, allowed
                );
            }
        }
    }
}
