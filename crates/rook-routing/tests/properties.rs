//! Property tests of resolution over random tables and availability.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;

use common::TestView;
use proptest::prelude::*;
use rook_routing::Strategy as PoolStrategy;
use rook_routing::{
    AccountIdx, AccountSpec, AllAvailable, AvailabilityView, PoolSpec, RouteSpec, RoutingTable,
};

fn strategy() -> impl Strategy<Value = PoolStrategy> {
    prop::sample::select(PoolStrategy::ALL.to_vec())
}

/// A random valid table: accounts with random flags, pools with random
/// members, fallback pools and routes pointing only to later items (so no
/// cycles), plus random availability and load.
#[derive(Debug, Clone)]
struct Case {
    accounts: Vec<AccountSpec>,
    pools: Vec<PoolSpec>,
    routes: Vec<RouteSpec>,
    view: TestView,
}

fn case() -> impl Strategy<Value = Case> {
    (1usize..10, 1usize..6, 1usize..5).prop_flat_map(|(n_accounts, n_pools, n_routes)| {
        let accounts = prop::collection::vec(
            (any::<bool>(), 0u32..5, 0u32..4, any::<bool>(), 0u64..4),
            n_accounts,
        );
        let pools = prop::collection::vec(
            (
                strategy(),
                prop::sample::subsequence((0..n_accounts).collect::<Vec<_>>(), 0..=n_accounts),
                any::<bool>(),
                any::<prop::sample::Index>(),
                any::<prop::sample::Index>(),
            ),
            n_pools,
        );
        let routes = prop::collection::vec(
            (
                0..n_pools,
                any::<bool>(),
                any::<prop::sample::Index>(),
                any::<bool>(),
            ),
            n_routes,
        );
        (accounts, pools, routes).prop_map(move |(accounts, pools, routes)| {
            let mut view = TestView::default();
            let accounts = accounts
                .into_iter()
                .enumerate()
                .map(|(i, (enabled, weight, priority, available, load))| {
                    if !available {
                        view.unavailable.push(i);
                    }
                    view.in_flight.push(load);
                    AccountSpec::new(format!("a{i}"))
                        .with_enabled(enabled || i % 3 == 0)
                        .with_weight(weight)
                        .with_priority(priority)
                })
                .collect();
            let n = pools.len();
            let pools = pools
                .into_iter()
                .enumerate()
                .map(|(i, (strategy, members, has_fb, fb, order))| {
                    let mut members: Vec<String> =
                        members.into_iter().map(|m| format!("a{m}")).collect();
                    // Random member order.
                    if !members.is_empty() {
                        let k = order.index(members.len());
                        members.rotate_left(k);
                    }
                    let mut pool = PoolSpec::new(format!("p{i}"), strategy, members);
                    if has_fb && i + 1 < n {
                        let target = i + 1 + fb.index(n - i - 1);
                        pool = pool.with_fallback_pool(format!("p{target}"));
                    }
                    pool
                })
                .collect();
            let m = routes.len();
            let routes = routes
                .into_iter()
                .enumerate()
                .map(|(i, (pool, has_fb, fb, _))| {
                    let mut route = RouteSpec::new(format!("m{i}"), format!("p{pool}"));
                    if has_fb && i + 1 < m {
                        let target = i + 1 + fb.index(m - i - 1);
                        route = route.with_fallback_route(format!("m{target}"));
                    }
                    route
                })
                .collect();
            Case {
                accounts,
                pools,
                routes,
                view,
            }
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn resolutions_are_enabled_available_and_unique(case in case(), rounds in 1usize..6) {
        let table = RoutingTable::new(case.accounts.clone(), case.pools.clone(), case.routes.clone())
            .unwrap();
        for _ in 0..rounds {
            for route in &case.routes {
                let r = table.resolve(&route.model, &case.view).unwrap();
                let mut seen = HashSet::new();
                for &a in &r.candidates {
                    prop_assert!(table.account(a).enabled, "disabled candidate {a}");
                    prop_assert!(case.view.is_available(a), "unavailable candidate {a}");
                    prop_assert!(seen.insert(a), "duplicate {a}");
                }
                for &a in &r.unavailable {
                    prop_assert!(table.account(a).enabled, "disabled unavailable {a}");
                    prop_assert!(!case.view.is_available(a));
                    prop_assert!(seen.insert(a), "duplicate {a}");
                }
                // Exactly the enabled members of the chain's pools.
                let expected: HashSet<AccountIdx> = table
                    .pool_chain(&route.model)
                    .unwrap()
                    .flat_map(|p| p.members.iter())
                    .map(|id| table.account_idx(id).unwrap())
                    .filter(|&a| table.account(a).enabled)
                    .collect();
                prop_assert_eq!(seen, expected);
            }
        }
    }

    #[test]
    fn weighted_shares_converge(weights in prop::collection::vec(1u32..20, 1..6), rounds in 1usize..4) {
        let accounts: Vec<AccountSpec> = weights
            .iter()
            .enumerate()
            .map(|(i, &w)| AccountSpec::new(format!("a{i}")).with_weight(w))
            .collect();
        let members: Vec<String> = accounts.iter().map(|a| a.id.clone()).collect();
        let table = RoutingTable::new(
            accounts,
            vec![PoolSpec::new("p", PoolStrategy::Weighted, members)],
            vec![RouteSpec::new("m", "p")],
        )
        .unwrap();
        let total: u32 = weights.iter().sum();
        let n = 1000 + rounds * 137;
        let mut counts = vec![0usize; weights.len()];
        for _ in 0..n {
            counts[table.resolve("m", &AllAvailable).unwrap().candidates[0].0] += 1;
        }
        for (i, (&count, &w)) in counts.iter().zip(&weights).enumerate() {
            let share = count as f64 / n as f64;
            let target = f64::from(w) / f64::from(total);
            // SWRR is exact over each period of `total` picks and a member's
            // count never strays more than one pick from `n * w / total`.
            prop_assert!(
                (share - target).abs() <= 1.0 / n as f64 + 1e-9,
                "member {} share {} target {}", i, share, target
            );
        }
    }

    #[test]
    fn round_robin_first_picks_are_exactly_even(
        n_members in 1usize..8,
        cooling in prop::collection::vec(any::<bool>(), 8),
        periods in 1usize..20,
    ) {
        let accounts: Vec<AccountSpec> =
            (0..n_members).map(|i| AccountSpec::new(format!("a{i}"))).collect();
        let members: Vec<String> = accounts.iter().map(|a| a.id.clone()).collect();
        let table = RoutingTable::new(
            accounts,
            vec![PoolSpec::new("p", PoolStrategy::RoundRobin, members)],
            vec![RouteSpec::new("m", "p")],
        )
        .unwrap();
        let unavailable: Vec<usize> = (0..n_members).filter(|&i| cooling[i]).collect();
        let k = n_members - unavailable.len();
        let view = TestView::cooling(&unavailable);
        let mut counts = vec![0usize; n_members];
        for _ in 0..k * periods {
            let r = table.resolve("m", &view).unwrap();
            prop_assert_eq!(r.candidates.len(), k);
            counts[r.candidates[0].0] += 1;
        }
        for (i, &c) in counts.iter().enumerate() {
            let expected = if unavailable.contains(&i) { 0 } else { periods };
            prop_assert_eq!(c, expected, "member {}", i);
        }
    }
}
