use std::collections::HashMap;

use proptest::prelude::*;

use super::*;

const DAY: Period = Period {
    start_ms: 0,
    end_ms: Some(86_400_000),
};
const NEXT_DAY: Period = Period {
    start_ms: 86_400_000,
    end_ms: Some(172_800_000),
};

/// The store's statement, modelled: the first grant of a period starts from
/// what was spent before; a grant is what is left of the budget, at most a slice.
#[derive(Default)]
struct Store {
    granted: HashMap<(String, i64), f64>,
    spent_before: f64,
}

impl Store {
    fn lease(&mut self, w: &SpendWant) -> f64 {
        let before = self.spent_before;
        let g = self
            .granted
            .entry((w.key.clone(), w.period_start_ms))
            .or_insert(before);
        let left = w.budget - *g;
        let grant = if left > DUST { w.slice.min(left) } else { 0.0 };
        *g += grant;
        grant
    }
}

fn serve(table: &SpendLeases, store: &mut Store, now_ms: i64) {
    for w in table.wants(now_ms) {
        let g = store.lease(&w);
        table.granted(&w, g);
    }
}

#[test]
fn slices_are_a_tenth_of_the_budget() {
    let cases = [
        (0.0, 0.0),
        (-1.0, 0.0),
        (f64::NAN, 0.0),
        (f64::INFINITY, 0.0),
        (0.1, 0.01),
        (10.0, 1.0),
    ];
    for (budget, slice) in cases {
        let got: f64 = budget_slice(budget);
        assert!((got - slice).abs() < 1e-12, "budget {budget}: {got}");
    }
}

/// (events, expected answers) for a $1.00 budget with $0.10 slices: `a` asks to
/// admit, `s` serves the wants, `c` charges $0.25; `A` admitted, `P` pending,
/// `R` refused.
#[test]
fn one_instance_table() {
    let cases: &[(&str, &str)] = &[
        // nothing in hand: pending until served
        ("aa", "PP"),
        ("asa", "PA"),
        // admitted while something is in hand; a cost above it is paid from the next grants
        ("asacaca", "PAPP"),
        ("asacasa", "PAPA"),
        // four requests of $0.25 spend the budget: then refused
        ("as acs acs acs acs a", "PAAAAR"),
        // overspent past the budget: refused, never granted again
        ("as acs acs acs acs ac acs a", "PAAAARRR"),
    ];
    for (events, expected) in cases {
        let table = SpendLeases::new();
        let mut store = Store::default();
        let mut answers = String::new();
        for e in events.chars() {
            match e {
                'a' => answers.push(match table.try_admit("k", 1.0, DAY) {
                    Admit::Admitted => 'A',
                    Admit::Pending => 'P',
                    Admit::Refused => 'R',
                    Admit::Fallback => 'F',
                }),
                's' => {
                    // the lease task runs until nothing is wanted
                    for _ in 0..20 {
                        serve(&table, &mut store, 1);
                    }
                }
                'c' => table.charge("k", 1.0, DAY, 0.25),
                _ => {}
            }
        }
        assert_eq!(&answers, expected, "events {events:?}");
        let granted = store.granted.values().sum::<f64>();
        assert!(granted <= 1.0 + 1e-12, "{events:?}: granted {granted}");
    }
}

#[test]
fn the_first_grant_counts_spend_before_leasing() {
    let table = SpendLeases::new();
    let mut store = Store {
        spent_before: 0.95,
        ..Store::default()
    };
    assert_eq!(table.try_admit("k", 1.0, DAY), Admit::Pending);
    serve(&table, &mut store, 1);
    // $0.05 left of the budget: granted, and the period is granted out
    assert!((table.in_hand("k").unwrap() - 0.05).abs() < 1e-12);
    assert_eq!(table.try_admit("k", 1.0, DAY), Admit::Admitted);
    assert!(table.wants(1).is_empty(), "exhausted: nothing more to ask");
    table.charge("k", 1.0, DAY, 0.05);
    assert_eq!(table.try_admit("k", 1.0, DAY), Admit::Refused);
}

#[test]
fn leases_ahead_of_need_and_stop_at_two_slices() {
    let table = SpendLeases::new();
    let mut store = Store::default();
    assert_eq!(table.try_admit("k", 1.0, DAY), Admit::Pending);
    serve(&table, &mut store, 1);
    // one slice in hand is "a slice or less": the next is asked for at once
    assert_eq!(table.wants(1).len(), 1);
    let table = SpendLeases::new();
    table.try_admit("k", 1.0, DAY);
    for _ in 0..5 {
        serve(&table, &mut store, 1);
    }
    assert!((table.in_hand("k").unwrap() - 0.2).abs() < 1e-12);
    table.charge("k", 1.0, DAY, 0.1);
    assert_eq!(table.wants(1).len(), 1, "down to a slice: lease the next");
}

#[test]
fn periods_start_fresh_and_finished_ones_are_not_leased() {
    let table = SpendLeases::new();
    let mut store = Store::default();
    table.try_admit("k", 0.1, DAY);
    for _ in 0..20 {
        serve(&table, &mut store, 1);
    }
    table.charge("k", 0.1, DAY, 0.5);
    for _ in 0..20 {
        serve(&table, &mut store, 1);
    }
    assert_eq!(table.try_admit("k", 0.1, DAY), Admit::Refused);
    // the day is over: no lease for it any more
    assert_eq!(table.try_admit("k", 0.1, DAY), Admit::Refused);
    assert!(table.wants(DAY.end_ms.unwrap()).is_empty());
    // the next day starts with nothing spent and nothing in hand
    assert_eq!(table.try_admit("k", 0.1, NEXT_DAY), Admit::Pending);
    serve(&table, &mut store, NEXT_DAY.start_ms);
    assert_eq!(table.try_admit("k", 0.1, NEXT_DAY), Admit::Admitted);
    // a late answer for the finished day changes nothing
    let late = SpendWant {
        key: "k".into(),
        period_start_ms: DAY.start_ms,
        budget: 0.1,
        slice: 0.01,
    };
    let before = table.in_hand("k");
    table.granted(&late, 0.01);
    assert_eq!(table.in_hand("k"), before);
}

#[test]
fn budget_changes_apply_to_the_next_grant() {
    let table = SpendLeases::new();
    let mut store = Store::default();
    table.try_admit("k", 1.0, DAY);
    for _ in 0..20 {
        serve(&table, &mut store, 1);
    }
    table.charge("k", 1.0, DAY, 1.0);
    for _ in 0..20 {
        serve(&table, &mut store, 1);
    }
    assert_eq!(table.try_admit("k", 1.0, DAY), Admit::Refused);
    // a raise: grants again
    assert_eq!(table.try_admit("k", 2.0, DAY), Admit::Pending);
    serve(&table, &mut store, 1);
    assert_eq!(table.try_admit("k", 2.0, DAY), Admit::Admitted);
    // a cut below what was granted: what is in hand is forfeited, nothing more granted
    assert_eq!(table.try_admit("k", 0.5, DAY), Admit::Pending);
    serve(&table, &mut store, 1);
    assert_eq!(table.try_admit("k", 0.5, DAY), Admit::Refused);
    // a grant asked for under the old budget and answered after a cut is forfeited
    let table = SpendLeases::new();
    table.try_admit("j", 1.0, DAY);
    let wants = table.wants(1);
    table.try_admit("j", 0.5, DAY);
    table.granted(&wants[0], 0.1);
    assert_eq!(table.in_hand("j"), Some(0.0));
    assert_eq!(table.try_admit("j", 0.5, DAY), Admit::Pending);
}

#[test]
fn a_failed_lease_falls_back_until_one_succeeds() {
    let table = SpendLeases::new();
    assert_eq!(table.try_admit("k", 1.0, DAY), Admit::Pending);
    let wants = table.wants(1);
    table.failed(&wants[0]);
    assert!(table.is_fallback());
    assert_eq!(table.try_admit("k", 1.0, DAY), Admit::Fallback);
    // costs charged meanwhile are paid from the next grants
    table.charge("k", 1.0, DAY, 0.15);
    let mut store = Store::default();
    let wants = table.wants(1);
    assert_eq!(wants.len(), 1, "the task keeps trying");
    table.granted(&wants[0], store.lease(&wants[0]));
    assert!(!table.is_fallback());
    assert_eq!(
        table.try_admit("k", 1.0, DAY),
        Admit::Pending,
        "-0.05 in hand"
    );
    serve(&table, &mut store, 1);
    assert_eq!(table.try_admit("k", 1.0, DAY), Admit::Admitted);
}

#[test]
fn zero_and_odd_charges() {
    let table = SpendLeases::new();
    for usd in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        table.charge("k", 1.0, DAY, usd);
    }
    assert_eq!(table.in_hand("k"), None);
    // a budget of 0 is granted out at once
    let mut store = Store::default();
    assert_eq!(table.try_admit("z", 0.0, DAY), Admit::Pending);
    serve(&table, &mut store, 1);
    assert_eq!(table.try_admit("z", 0.0, DAY), Admit::Refused);
    assert!(table.wants(1).is_empty());
}

proptest! {
    /// Several processes against one store, requests of random cost, each
    /// process one request at a time, random interleaving of admissions,
    /// completions and lease rounds: the store never grants more than the
    /// budget, and the spend never exceeds the budget plus one request's cost
    /// per process.
    #[test]
    fn never_more_than_the_budget_plus_one_request_per_process(
        steps in proptest::collection::vec((0usize..3, 0u8..3, 1u32..40), 1..400),
        spent_before in 0u32..50,
    ) {
        let budget = 1.0;
        let mut store = Store { spent_before: f64::from(spent_before) / 100.0, ..Store::default() };
        let tables: Vec<SpendLeases> = (0..3).map(|_| SpendLeases::new()).collect();
        let mut in_flight: Vec<Option<f64>> = vec![None; 3];
        let mut spent = store.spent_before;
        let mut max_cost: f64 = 0.0;
        for (p, action, cents) in steps {
            let cost = f64::from(cents) / 100.0;
            match action {
                0 if in_flight[p].is_none() => {
                    if table_admits(&tables[p], budget) {
                        in_flight[p] = Some(cost);
                        max_cost = max_cost.max(cost);
                    }
                }
                1 => {
                    if let Some(c) = in_flight[p].take() {
                        tables[p].charge("k", budget, DAY, c);
                        spent += c;
                    }
                }
                _ => serve(&tables[p], &mut store, 1),
            }
            let granted = store.granted.values().sum::<f64>();
            prop_assert!(granted <= budget.max(store.spent_before) + 1e-9);
        }
        for (p, c) in in_flight.iter().enumerate() {
            if let Some(c) = c {
                tables[p].charge("k", budget, DAY, *c);
                spent += c;
            }
        }
        prop_assert!(spent <= budget.max(store.spent_before) + 3.0 * max_cost + 1e-9);
    }
}

fn table_admits(table: &SpendLeases, budget: f64) -> bool {
    table.try_admit("k", budget, DAY) == Admit::Admitted
}
