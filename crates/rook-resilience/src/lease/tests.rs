use std::collections::HashMap;

use proptest::prelude::*;

use super::*;

const MIN: u64 = 60_000;

/// The store's statement, modelled: count the charge, then grant up to the
/// slice of what is left.
#[derive(Default)]
struct Store {
    granted: HashMap<(String, u64), u64>,
}

impl Store {
    fn lease(&mut self, w: &LeaseWant) -> u64 {
        let g = self
            .granted
            .entry((w.key.clone(), w.window_start_ms))
            .or_default();
        *g += w.charge;
        let grant = w.want.min(w.limit.saturating_sub(*g));
        *g += grant;
        grant
    }
}

fn serve(table: &LeaseTable, store: &mut Store, now_ms: u64) {
    for w in table.wants(now_ms) {
        let g = store.lease(&w);
        table.granted(&w, g);
    }
}

#[test]
fn slices_are_a_tenth_at_least_one() {
    let cases = [
        (0, 1),
        (1, 1),
        (9, 1),
        (10, 1),
        (20, 2),
        (99, 9),
        (1000, 100),
    ];
    for (limit, slice) in cases {
        assert_eq!(slice_for(limit), slice, "limit {limit}");
    }
}

/// (events, expected takes): `t` takes one unit, `s` serves the wants; `A`
/// admitted, `P` pending (a lease is wanted), `R` refused (window exhausted).
#[test]
fn one_instance_table() {
    let cases: &[(u64, &str, &str)] = &[
        // credit for the first request, then leased slices up to the limit
        (3, "tttt", "APPP"),
        (3, "tsttts", "AAPP"),
        (3, "tststststs", "AAARR"),
        // a limit of 1: the credit is the whole limit, the store gives nothing more
        (1, "tstst", "ARR"),
        // 20/min: slices of 2; the 21st is refused, until the window's end
        (
            20,
            &"ts".repeat(25),
            &format!("{}{}", "A".repeat(20), "R".repeat(5)),
        ),
    ];
    for (n, (limit, events, expected)) in cases.iter().enumerate() {
        let table = LeaseTable::new(Duration::from_secs(60));
        let mut store = Store::default();
        let mut got = String::new();
        for e in events.chars() {
            match e {
                't' => match table.try_take("k", *limit, 1, 5_000) {
                    Take::Admitted => got.push('A'),
                    Take::Refused(_) => got.push('R'),
                    Take::Pending => got.push('P'),
                    Take::Fallback => got.push('F'),
                },
                _ => serve(&table, &mut store, 5_000),
            }
        }
        assert_eq!(got, *expected, "case {n}");
    }
}

#[test]
fn refusals_say_when_to_come_back() {
    let table = LeaseTable::new(Duration::from_secs(60));
    let mut store = Store::default();
    assert_eq!(table.try_take("k", 1, 1, 10_000), Take::Admitted);
    // a lease is wanted: pending, not refused
    assert_eq!(table.try_take("k", 1, 1, 10_000), Take::Pending);
    serve(&table, &mut store, 10_000);
    // exhausted: until the next minute
    assert_eq!(
        table.try_take("k", 1, 1, 10_000),
        Take::Refused(Duration::from_secs(50))
    );
    // a new window starts afresh
    assert_eq!(table.try_take("k", 1, 1, MIN + 1), Take::Admitted);
}

#[test]
fn failures_fall_back_until_a_lease_succeeds() {
    let table = LeaseTable::new(Duration::from_secs(60));
    let mut store = Store::default();
    assert_eq!(table.try_take("k", 10, 1, 0), Take::Admitted);
    for w in table.wants(0) {
        table.failed(&w);
    }
    assert!(table.is_fallback());
    assert_eq!(table.try_take("k", 10, 1, 0), Take::Fallback);
    // the key is still wanted, so the next attempt reaches the store again,
    // charging the credit taken before the failure
    let wants = table.wants(0);
    assert_eq!(wants.len(), 1);
    assert_eq!(wants[0].charge, 1);
    table.granted(&wants[0], store.lease(&wants[0]));
    assert!(!table.is_fallback());
    assert_eq!(table.try_take("k", 10, 1, 0), Take::Admitted);
    assert_eq!(store.granted[&("k".to_owned(), 0)], 2);
}

#[test]
fn stale_answers_are_ignored() {
    let table = LeaseTable::new(Duration::from_secs(60));
    assert_eq!(table.try_take("k", 100, 1, 0), Take::Admitted);
    let wants = table.wants(0);
    // the window turns before the answer arrives
    assert_eq!(table.try_take("k", 100, 1, MIN), Take::Admitted);
    table.granted(&wants[0], 10);
    // the old window's 10 units are not usable in the new one: the credit
    // is spent, nothing leased yet
    assert_eq!(table.try_take("k", 100, 1, MIN), Take::Pending);
}

#[test]
fn units_need_enough_leased_and_adjust_settles() {
    let table = LeaseTable::new(Duration::from_secs(60));
    let mut store = Store::default();
    // 1000 tokens/min, slices of 100: a 500-token request lacks more than a
    // slice, so it waits for leases instead of taking credit
    assert_eq!(table.try_take("k", 1000, 500, 0), Take::Pending);
    for _ in 0..5 {
        serve(&table, &mut store, 0);
    }
    assert_eq!(table.try_take("k", 1000, 500, 0), Take::Admitted);
    // only 100 were used: 400 come back
    table.adjust("k", 400, 0, 0);
    assert_eq!(table.try_take("k", 1000, 400, 0), Take::Admitted);
    // settling in a later window changes nothing
    table.adjust("k", 400, 0, MIN);
    // an oversized amount counts as the whole limit
    let t2 = LeaseTable::new(Duration::from_secs(60));
    let mut s2 = Store::default();
    for _ in 0..20 {
        let _ = t2.try_take("k", 10, 50, 0);
        serve(&t2, &mut s2, 0);
    }
    assert_eq!(s2.granted[&("k".to_owned(), 0)], 10);
}

#[test]
fn zero_is_no_limit() {
    let table = LeaseTable::new(Duration::from_secs(60));
    for _ in 0..100 {
        assert_eq!(table.try_take("k", 0, 1, 0), Take::Admitted);
    }
    assert_eq!(table.tracked_keys(), 0);
}

proptest! {
    /// Any interleaving of N instances taking and leasing within one window:
    /// at most `limit + N` single-unit requests pass, and once every instance
    /// has been served after the last take, no instance holds more than what
    /// the store granted.
    #[test]
    fn overshoot_is_at_most_one_per_instance(
        limit in 1u64..200,
        instances in 1usize..6,
        ops in proptest::collection::vec((0usize..6, any::<bool>()), 0..600),
    ) {
        let tables: Vec<LeaseTable> =
            (0..instances).map(|_| LeaseTable::new(Duration::from_secs(60))).collect();
        let mut store = Store::default();
        let mut admitted = 0u64;
        for (i, take) in ops {
            let t = &tables[i % instances];
            if take {
                if t.try_take("route", limit, 1, 1_000) == Take::Admitted {
                    admitted += 1;
                }
            } else {
                serve(t, &mut store, 1_000);
            }
        }
        prop_assert!(admitted <= limit + instances as u64, "{admitted} > {limit} + {instances}");
        let charged = store.granted.get(&("route".to_owned(), 0)).copied().unwrap_or(0);
        prop_assert!(charged <= limit + instances as u64);
    }

    /// With requests enough and leases served, the whole limit is used: a
    /// shared limit is not stricter than the configured one.
    #[test]
    fn the_whole_limit_is_reachable(limit in 1u64..200, instances in 1usize..6) {
        let tables: Vec<LeaseTable> =
            (0..instances).map(|_| LeaseTable::new(Duration::from_secs(60))).collect();
        let mut store = Store::default();
        let mut admitted = 0u64;
        for round in 0..(limit as usize * 3 + 10) {
            let t = &tables[round % instances];
            if t.try_take("route", limit, 1, 1_000) == Take::Admitted {
                admitted += 1;
            }
            serve(t, &mut store, 1_000);
        }
        prop_assert!(admitted >= limit && admitted <= limit + instances as u64, "{admitted}");
    }
}
