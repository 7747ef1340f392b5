//! Behaviour of table building and resolution.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{idx, TestView};
use rook_routing::{
    AccountIdx, AccountSpec, AllAvailable, PoolSpec, RouteSpec, RoutingError, RoutingTable,
    Strategy,
};

fn accounts(n: usize) -> Vec<AccountSpec> {
    (0..n).map(|i| AccountSpec::new(format!("a{i}"))).collect()
}

fn names(n: &[usize]) -> Vec<String> {
    n.iter().map(|i| format!("a{i}")).collect()
}

/// One route `m` over one pool `p` with the given strategy and members.
fn single(accts: Vec<AccountSpec>, strategy: Strategy, members: &[usize]) -> RoutingTable {
    RoutingTable::new(
        accts,
        vec![PoolSpec::new("p", strategy, names(members))],
        vec![RouteSpec::new("m", "p")],
    )
    .unwrap()
}

fn first(table: &RoutingTable, view: &TestView) -> usize {
    table.resolve("m", view).unwrap().candidates[0].0
}

#[test]
fn priority_orders_by_priority_then_member_order() {
    for strategy in [Strategy::Priority, Strategy::Failover] {
        let accts = vec![
            AccountSpec::new("a0").with_priority(5),
            AccountSpec::new("a1").with_priority(1),
            AccountSpec::new("a2").with_priority(5),
            AccountSpec::new("a3").with_priority(0),
        ];
        let table = single(accts, strategy, &[2, 0, 1, 3]);
        let r = table.resolve("m", &AllAvailable).unwrap();
        assert_eq!(r.candidates, idx(&[3, 1, 2, 0]), "{strategy}");
        assert!(r.unavailable.is_empty());
        // Stable across calls.
        assert_eq!(table.resolve("m", &AllAvailable).unwrap(), r);

        let r = table.resolve("m", &TestView::cooling(&[3])).unwrap();
        assert_eq!(r.candidates, idx(&[1, 2, 0]));
        assert_eq!(r.unavailable, idx(&[3]));
    }
}

#[test]
fn round_robin_rotates_once_per_resolve() {
    let table = single(accounts(3), Strategy::RoundRobin, &[0, 1, 2]);
    let view = TestView::default();
    let got: Vec<Vec<AccountIdx>> = (0..4)
        .map(|_| table.resolve("m", &view).unwrap().candidates)
        .collect();
    assert_eq!(
        got,
        vec![
            idx(&[0, 1, 2]),
            idx(&[1, 2, 0]),
            idx(&[2, 0, 1]),
            idx(&[0, 1, 2])
        ]
    );
}

#[test]
fn round_robin_spreads_evenly_over_available_members() {
    let table = single(accounts(4), Strategy::RoundRobin, &[0, 1, 2, 3]);
    let view = TestView::cooling(&[1]);
    let mut counts = [0usize; 4];
    for _ in 0..300 {
        let r = table.resolve("m", &view).unwrap();
        assert_eq!(r.candidates.len(), 3);
        assert_eq!(r.unavailable, idx(&[1]));
        counts[r.candidates[0].0] += 1;
    }
    assert_eq!(counts, [100, 0, 100, 100]);
}

#[test]
fn weighted_follows_smooth_weighted_round_robin() {
    let accts = vec![
        AccountSpec::new("a0").with_weight(5),
        AccountSpec::new("a1").with_weight(1),
        AccountSpec::new("a2").with_weight(1),
    ];
    let table = single(accts, Strategy::Weighted, &[0, 1, 2]);
    let view = TestView::default();
    let picks: Vec<usize> = (0..14).map(|_| first(&table, &view)).collect();
    // nginx's documented sequence for {a:5, b:1, c:1}, twice.
    assert_eq!(picks, [0, 0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 2, 0, 0]);
}

#[test]
fn weighted_rest_is_descending_weight() {
    let accts = vec![
        AccountSpec::new("a0").with_weight(1),
        AccountSpec::new("a1").with_weight(3),
        AccountSpec::new("a2").with_weight(2),
        AccountSpec::new("a3").with_weight(2),
    ];
    let table = single(accts, Strategy::Weighted, &[0, 1, 2, 3]);
    for _ in 0..16 {
        let r = table.resolve("m", &AllAvailable).unwrap();
        let pick = r.candidates[0];
        let rest: Vec<AccountIdx> = [1, 2, 3, 0]
            .into_iter()
            .map(AccountIdx)
            .filter(|a| *a != pick)
            .collect();
        assert_eq!(r.candidates[1..], rest[..]);
    }
}

#[test]
fn weighted_zero_weight_is_last_resort() {
    let accts = vec![
        AccountSpec::new("a0").with_weight(0),
        AccountSpec::new("a1").with_weight(1),
        AccountSpec::new("a2").with_weight(0),
    ];
    let table = single(accts, Strategy::Weighted, &[0, 1, 2]);
    for _ in 0..5 {
        assert_eq!(
            table.resolve("m", &AllAvailable).unwrap().candidates,
            idx(&[1, 0, 2])
        );
    }
    // Only zero-weight members available: member order.
    let r = table.resolve("m", &TestView::cooling(&[1])).unwrap();
    assert_eq!(r.candidates, idx(&[0, 2]));
}

#[test]
fn weighted_skips_unavailable_members() {
    let accts = vec![
        AccountSpec::new("a0").with_weight(3),
        AccountSpec::new("a1").with_weight(1),
        AccountSpec::new("a2").with_weight(1),
    ];
    let table = single(accts, Strategy::Weighted, &[0, 1, 2]);
    let view = TestView::cooling(&[0]);
    let mut counts = [0usize; 3];
    for _ in 0..100 {
        counts[first(&table, &view)] += 1;
    }
    assert_eq!(counts, [0, 50, 50]);
}

#[test]
fn least_busy_orders_by_in_flight() {
    let table = single(accounts(4), Strategy::LeastBusy, &[0, 1, 2, 3]);
    let view = TestView::loads(&[7, 2, 9, 0]);
    for _ in 0..5 {
        assert_eq!(
            table.resolve("m", &view).unwrap().candidates,
            idx(&[3, 1, 0, 2])
        );
    }
}

#[test]
fn least_busy_rotates_ties() {
    let table = single(accounts(4), Strategy::LeastBusy, &[0, 1, 2, 3]);
    // 0, 1 and 3 tie at 1; 2 is busier.
    let view = TestView::loads(&[1, 1, 5, 1]);
    let mut counts = [0usize; 4];
    for _ in 0..99 {
        let r = table.resolve("m", &view).unwrap();
        assert_eq!(*r.candidates.last().unwrap(), AccountIdx(2));
        counts[r.candidates[0].0] += 1;
    }
    assert_eq!(counts, [33, 33, 0, 33]);
}

fn fallback_table() -> RoutingTable {
    // route "big" -> pool "primary" (a0, a1) -> fallback_pool "backup" (a2)
    //   then fallback_route "small" -> pool "cheap" (a3, a4)
    RoutingTable::new(
        accounts(5),
        vec![
            PoolSpec::new("primary", Strategy::Priority, ["a0", "a1"]).with_fallback_pool("backup"),
            PoolSpec::new("backup", Strategy::Priority, ["a2"]),
            PoolSpec::new("cheap", Strategy::Priority, ["a3", "a4"]),
            PoolSpec::new("empty", Strategy::RoundRobin, Vec::<String>::new())
                .with_fallback_pool("backup"),
        ],
        vec![
            RouteSpec::new("big", "primary").with_fallback_route("small"),
            RouteSpec::new("small", "cheap"),
            RouteSpec::new("hollow", "empty").with_fallback_route("small"),
        ],
    )
    .unwrap()
}

#[test]
fn fallbacks_follow_the_primary_pool() {
    let table = fallback_table();
    let r = table.resolve("big", &AllAvailable).unwrap();
    assert_eq!(r.candidates, idx(&[0, 1, 2, 3, 4]));
    let chain: Vec<&str> = table
        .pool_chain("big")
        .unwrap()
        .map(|p| p.id.as_str())
        .collect();
    assert_eq!(chain, ["primary", "backup", "cheap"]);
}

#[test]
fn cooling_pool_falls_back_to_pool_then_route() {
    let table = fallback_table();
    let r = table.resolve("big", &TestView::cooling(&[0, 1])).unwrap();
    assert_eq!(r.candidates, idx(&[2, 3, 4]));
    assert_eq!(r.unavailable, idx(&[0, 1]));

    let r = table
        .resolve("big", &TestView::cooling(&[0, 1, 2]))
        .unwrap();
    assert_eq!(r.candidates, idx(&[3, 4]));
    assert_eq!(r.unavailable, idx(&[0, 1, 2]));

    let r = table
        .resolve("big", &TestView::cooling(&[0, 1, 2, 3, 4]))
        .unwrap();
    assert!(r.is_empty());
    assert_eq!(r.first(), None);
    assert_eq!(r.unavailable, idx(&[0, 1, 2, 3, 4]));
}

#[test]
fn empty_pool_falls_back() {
    let table = fallback_table();
    let r = table.resolve("hollow", &AllAvailable).unwrap();
    assert_eq!(r.candidates, idx(&[2, 3, 4]));
    assert!(r.unavailable.is_empty());
}

#[test]
fn disabled_accounts_never_appear() {
    let mut accts = accounts(4);
    accts[1].enabled = false;
    accts[3].enabled = false;
    let table = RoutingTable::new(
        accts,
        vec![
            PoolSpec::new("p", Strategy::RoundRobin, ["a0", "a1"]).with_fallback_pool("q"),
            PoolSpec::new("q", Strategy::Weighted, ["a3", "a2", "a1"]),
        ],
        vec![RouteSpec::new("m", "p")],
    )
    .unwrap();
    for _ in 0..3 {
        let r = table.resolve("m", &AllAvailable).unwrap();
        assert_eq!(r.candidates, idx(&[0, 2]));
        let r = table
            .resolve("m", &TestView::cooling(&[0, 1, 2, 3]))
            .unwrap();
        assert!(r.candidates.is_empty());
        assert_eq!(r.unavailable, idx(&[0, 2]));
    }
}

#[test]
fn accounts_in_several_pools_are_listed_once() {
    let table = RoutingTable::new(
        accounts(4),
        vec![
            PoolSpec::new("p", Strategy::Priority, ["a0", "a1"]).with_fallback_pool("q"),
            PoolSpec::new("q", Strategy::Priority, ["a1", "a2", "a0"]),
            PoolSpec::new("r", Strategy::RoundRobin, ["a2", "a3", "a1"]).with_fallback_pool("q"),
        ],
        vec![
            RouteSpec::new("m", "p").with_fallback_route("n"),
            RouteSpec::new("n", "r"),
        ],
    )
    .unwrap();
    let r = table.resolve("m", &AllAvailable).unwrap();
    assert_eq!(r.candidates, idx(&[0, 1, 2, 3]));
    let r = table.resolve("m", &TestView::cooling(&[1])).unwrap();
    assert_eq!(r.candidates, idx(&[0, 2, 3]));
    assert_eq!(r.unavailable, idx(&[1]));
    // Pool q is reached twice (p's fallback, r's fallback) but listed once.
    let chain: Vec<&str> = table
        .pool_chain("m")
        .unwrap()
        .map(|p| p.id.as_str())
        .collect();
    assert_eq!(chain, ["p", "q", "r"]);
}

#[test]
fn fallback_pool_state_does_not_advance() {
    // "rr" is the fallback of route "m" and the primary of route "n".
    let table = RoutingTable::new(
        accounts(3),
        vec![
            PoolSpec::new("p", Strategy::Priority, ["a0"]).with_fallback_pool("rr"),
            PoolSpec::new("rr", Strategy::RoundRobin, ["a1", "a2"]),
        ],
        vec![RouteSpec::new("m", "p"), RouteSpec::new("n", "rr")],
    )
    .unwrap();
    for _ in 0..5 {
        assert_eq!(
            table.resolve("m", &AllAvailable).unwrap().candidates,
            idx(&[0, 1, 2])
        );
    }
    // "n" rotates from the start, untouched by "m".
    assert_eq!(
        table.resolve("n", &AllAvailable).unwrap().candidates,
        idx(&[1, 2])
    );
    assert_eq!(
        table.resolve("n", &AllAvailable).unwrap().candidates,
        idx(&[2, 1])
    );
    // When "p" cools, "rr" supplies m's first candidate and advances.
    let view = TestView::cooling(&[0]);
    assert_eq!(table.resolve("m", &view).unwrap().candidates, idx(&[1, 2]));
    assert_eq!(table.resolve("m", &view).unwrap().candidates, idx(&[2, 1]));
}

#[test]
fn unknown_model_is_an_error() {
    let table = fallback_table();
    let err = table.resolve("gpt-9", &AllAvailable).unwrap_err();
    assert_eq!(
        err,
        RoutingError::UnknownModel {
            model: "gpt-9".into()
        }
    );
    assert!(err.to_string().contains("gpt-9"));
    assert!(!table.has_model("gpt-9"));
    assert!(table.route("gpt-9").is_none());
    assert!(table.pool_chain("gpt-9").is_none());
}

#[test]
fn accessors() {
    let table = fallback_table();
    assert_eq!(table.models(), ["big", "hollow", "small"]);
    assert!(table.has_model("small"));
    assert_eq!(table.accounts().len(), 5);
    assert_eq!(table.pools().len(), 4);
    assert_eq!(table.routes()[0].model, "big");
    assert_eq!(table.account(AccountIdx(3)).id, "a3");
    assert!(table.get_account(AccountIdx(5)).is_none());
    assert_eq!(table.account_idx("a4"), Some(AccountIdx(4)));
    assert_eq!(table.account_idx("zz"), None);
    assert_eq!(table.pool("cheap").unwrap().members, names(&[3, 4]));
    assert_eq!(table.route("hollow").unwrap().pool, "empty");
}

#[test]
fn models_are_sorted() {
    let table = RoutingTable::new(
        accounts(1),
        vec![PoolSpec::new("p", Strategy::Priority, ["a0"])],
        vec![
            RouteSpec::new("zeta", "p"),
            RouteSpec::new("alpha", "p"),
            RouteSpec::new("mid", "p"),
        ],
    )
    .unwrap();
    assert_eq!(table.models(), ["alpha", "mid", "zeta"]);
    for model in ["zeta", "alpha", "mid"] {
        assert_eq!(
            table.resolve(model, &AllAvailable).unwrap().candidates,
            idx(&[0])
        );
    }
}

fn build(pools: Vec<PoolSpec>, routes: Vec<RouteSpec>) -> Result<RoutingTable, RoutingError> {
    RoutingTable::new(accounts(3), pools, routes)
}

#[test]
fn pool_cycles_are_rejected() {
    let err = build(
        vec![
            PoolSpec::new("x", Strategy::Priority, ["a0"]).with_fallback_pool("a"),
            PoolSpec::new("a", Strategy::Priority, ["a0"]).with_fallback_pool("b"),
            PoolSpec::new("b", Strategy::Priority, ["a1"]).with_fallback_pool("c"),
            PoolSpec::new("c", Strategy::Priority, ["a2"]).with_fallback_pool("a"),
        ],
        vec![RouteSpec::new("m", "x")],
    )
    .unwrap_err();
    assert_eq!(
        err,
        RoutingError::FallbackPoolCycle {
            pools: vec!["a".into(), "b".into(), "c".into()]
        }
    );
    assert_eq!(err.to_string(), "fallback_pool cycle: a -> b -> c -> a");

    let err = build(
        vec![PoolSpec::new("self", Strategy::Priority, ["a0"]).with_fallback_pool("self")],
        vec![],
    )
    .unwrap_err();
    assert_eq!(
        err,
        RoutingError::FallbackPoolCycle {
            pools: vec!["self".into()]
        }
    );
}

#[test]
fn route_cycles_are_rejected() {
    let pools = || vec![PoolSpec::new("p", Strategy::Priority, ["a0"])];
    let err = build(
        pools(),
        vec![
            RouteSpec::new("m", "p").with_fallback_route("n"),
            RouteSpec::new("n", "p").with_fallback_route("m"),
        ],
    )
    .unwrap_err();
    assert_eq!(
        err,
        RoutingError::FallbackRouteCycle {
            routes: vec!["m".into(), "n".into()]
        }
    );
    let err = build(
        pools(),
        vec![RouteSpec::new("m", "p").with_fallback_route("m")],
    )
    .unwrap_err();
    assert_eq!(
        err,
        RoutingError::FallbackRouteCycle {
            routes: vec!["m".into()]
        }
    );
    // A chain sharing a fallback is not a cycle.
    build(
        pools(),
        vec![
            RouteSpec::new("m", "p").with_fallback_route("o"),
            RouteSpec::new("n", "p").with_fallback_route("o"),
            RouteSpec::new("o", "p"),
        ],
    )
    .unwrap();
}

#[test]
fn bad_references_are_rejected() {
    let p = |members: &[&str]| PoolSpec::new("p", Strategy::Priority, members.iter().copied());
    let m = || RouteSpec::new("m", "p");

    assert_eq!(
        build(vec![p(&["a0", "nope"])], vec![m()]).unwrap_err(),
        RoutingError::UnknownAccount {
            pool: "p".into(),
            account: "nope".into()
        }
    );
    assert_eq!(
        build(vec![p(&["a0", "a1", "a0"])], vec![m()]).unwrap_err(),
        RoutingError::DuplicateMember {
            pool: "p".into(),
            account: "a0".into()
        }
    );
    assert_eq!(
        build(vec![p(&["a0"])], vec![RouteSpec::new("m", "q")]).unwrap_err(),
        RoutingError::UnknownPool {
            route: "m".into(),
            pool: "q".into()
        }
    );
    assert_eq!(
        build(vec![p(&["a0"]).with_fallback_pool("q")], vec![m()]).unwrap_err(),
        RoutingError::UnknownFallbackPool {
            pool: "p".into(),
            fallback_pool: "q".into()
        }
    );
    assert_eq!(
        build(vec![p(&["a0"])], vec![m().with_fallback_route("n")]).unwrap_err(),
        RoutingError::UnknownFallbackRoute {
            route: "m".into(),
            fallback_route: "n".into()
        }
    );
    assert_eq!(
        build(vec![p(&["a0"]), p(&["a1"])], vec![m()]).unwrap_err(),
        RoutingError::DuplicatePool { id: "p".into() }
    );
    assert_eq!(
        build(vec![p(&["a0"])], vec![m(), m()]).unwrap_err(),
        RoutingError::DuplicateRoute { model: "m".into() }
    );
    assert_eq!(
        RoutingTable::new(
            vec![AccountSpec::new("a"), AccountSpec::new("a")],
            vec![],
            vec![]
        )
        .unwrap_err(),
        RoutingError::DuplicateAccount { id: "a".into() }
    );
    let err = build(vec![p(&["a0"])], vec![RouteSpec::new("m", "q")]).unwrap_err();
    assert_eq!(err.to_string(), "route `m` references unknown pool `q`");
}

#[test]
fn empty_table_is_valid() {
    let table = RoutingTable::new(vec![], vec![], vec![]).unwrap();
    assert!(table.models().is_empty());
    assert!(table.resolve("m", &AllAvailable).is_err());
}

#[test]
fn concurrent_round_robin_stays_even() {
    let table = single(accounts(4), Strategy::RoundRobin, &[0, 1, 2, 3]);
    let counts: Vec<[usize; 4]> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let mut counts = [0usize; 4];
                    for _ in 0..1000 {
                        counts[table.resolve("m", &AllAvailable).unwrap().candidates[0].0] += 1;
                    }
                    counts
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut total = [0usize; 4];
    for c in counts {
        for (t, v) in total.iter_mut().zip(c) {
            *t += v;
        }
    }
    assert_eq!(total, [1000; 4]);
}

#[test]
fn weighted_fallback_pool_peeks_without_advancing() {
    // "w" (weights 2:1) is the fallback of route "m" and the primary of "n".
    let table = RoutingTable::new(
        vec![
            AccountSpec::new("a0"),
            AccountSpec::new("a1").with_weight(2),
            AccountSpec::new("a2"),
        ],
        vec![
            PoolSpec::new("p", Strategy::Priority, ["a0"]).with_fallback_pool("w"),
            PoolSpec::new("w", Strategy::Weighted, ["a1", "a2"]),
        ],
        vec![RouteSpec::new("m", "p"), RouteSpec::new("n", "w")],
    )
    .unwrap();
    for _ in 0..5 {
        assert_eq!(
            table.resolve("m", &AllAvailable).unwrap().candidates,
            idx(&[0, 1, 2])
        );
    }
    let picks: Vec<usize> = (0..3)
        .map(|_| table.resolve("n", &AllAvailable).unwrap().candidates[0].0)
        .collect();
    assert_eq!(picks, [1, 2, 1]);
    // After one more step of "n" the next weighted pick is a2; "m" sees it
    // (peek) without consuming it.
    assert_eq!(
        table.resolve("n", &AllAvailable).unwrap().candidates,
        idx(&[1, 2])
    );
    for _ in 0..3 {
        assert_eq!(
            table.resolve("m", &AllAvailable).unwrap().candidates,
            idx(&[0, 2, 1])
        );
    }
    assert_eq!(
        table.resolve("n", &AllAvailable).unwrap().candidates,
        idx(&[2, 1])
    );
}
