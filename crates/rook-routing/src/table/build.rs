//! Building a [`RoutingTable`]: validating the specs, refusing cycles, and
//! precomputing every route's candidate chain.

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::Mutex;

use super::*;

impl RoutingTable {
    /// Validates the specs and precomputes every route's candidate chain.
    ///
    /// Accounts are identified by their index in `accounts`
    /// ([`AccountIdx`]).
    ///
    /// # Errors
    ///
    /// Duplicate account/pool ids, duplicate route models, duplicate pool
    /// members, references to missing accounts, pools or routes, and cycles of
    /// `fallback_pool` or `fallback_route` links. Errors name the offending
    /// ids.
    pub fn new(
        accounts: Vec<AccountSpec>,
        pools: Vec<PoolSpec>,
        routes: Vec<RouteSpec>,
    ) -> Result<Self, RoutingError> {
        let mut account_ids = HashMap::with_capacity(accounts.len());
        for (i, account) in accounts.iter().enumerate() {
            if account_ids.insert(account.id.clone(), i).is_some() {
                return Err(RoutingError::DuplicateAccount {
                    id: account.id.clone(),
                });
            }
        }

        let mut pool_ids = HashMap::with_capacity(pools.len());
        for (i, pool) in pools.iter().enumerate() {
            if pool_ids.insert(pool.id.clone(), i).is_some() {
                return Err(RoutingError::DuplicatePool {
                    id: pool.id.clone(),
                });
            }
        }
        // Member accounts by pool, in member order.
        let mut pool_members: Vec<Vec<usize>> = Vec::with_capacity(pools.len());
        let mut pool_fallback: Vec<Option<usize>> = Vec::with_capacity(pools.len());
        for pool in &pools {
            let mut members = Vec::with_capacity(pool.members.len());
            for id in &pool.members {
                let Some(&acct) = account_ids.get(id) else {
                    return Err(RoutingError::UnknownAccount {
                        pool: pool.id.clone(),
                        account: id.clone(),
                    });
                };
                if members.contains(&acct) {
                    return Err(RoutingError::DuplicateMember {
                        pool: pool.id.clone(),
                        account: id.clone(),
                    });
                }
                members.push(acct);
            }
            pool_members.push(members);
            let fallback = match &pool.fallback_pool {
                None => None,
                Some(id) => match pool_ids.get(id) {
                    Some(&p) => Some(p),
                    None => {
                        return Err(RoutingError::UnknownFallbackPool {
                            pool: pool.id.clone(),
                            fallback_pool: id.clone(),
                        })
                    }
                },
            };
            pool_fallback.push(fallback);
        }

        let mut route_ids: HashMap<&str, usize> = HashMap::with_capacity(routes.len());
        for (i, route) in routes.iter().enumerate() {
            if route_ids.insert(route.model.as_str(), i).is_some() {
                return Err(RoutingError::DuplicateRoute {
                    model: route.model.clone(),
                });
            }
        }
        let mut route_pool = Vec::with_capacity(routes.len());
        let mut route_fallback = Vec::with_capacity(routes.len());
        for route in &routes {
            let Some(&pool) = pool_ids.get(&route.pool) else {
                return Err(RoutingError::UnknownPool {
                    route: route.model.clone(),
                    pool: route.pool.clone(),
                });
            };
            route_pool.push(pool);
            let fallback = match &route.fallback_route {
                None => None,
                Some(model) => match route_ids.get(model.as_str()) {
                    Some(&r) => Some(r),
                    None => {
                        return Err(RoutingError::UnknownFallbackRoute {
                            route: route.model.clone(),
                            fallback_route: model.clone(),
                        })
                    }
                },
            };
            route_fallback.push(fallback);
        }

        if let Some(cycle) = find_cycle(&pool_fallback) {
            return Err(RoutingError::FallbackPoolCycle {
                pools: cycle.into_iter().map(|p| pools[p].id.clone()).collect(),
            });
        }
        if let Some(cycle) = find_cycle(&route_fallback) {
            return Err(RoutingError::FallbackRouteCycle {
                routes: cycle.into_iter().map(|r| routes[r].model.clone()).collect(),
            });
        }

        let compiled = (0..routes.len())
            .map(|r| {
                compile_route(
                    r,
                    &accounts,
                    &pools,
                    &pool_members,
                    &pool_fallback,
                    &route_pool,
                    &route_fallback,
                )
            })
            .collect();

        let mut by_model: Vec<(String, usize)> = routes
            .iter()
            .enumerate()
            .map(|(i, route)| (route.model.clone(), i))
            .collect();
        by_model.sort_unstable();
        let (models, model_routes) = by_model.into_iter().unzip();

        let state = pools
            .iter()
            .map(|pool| PoolState {
                cursor: AtomicUsize::new(0),
                current: (pool.strategy == Strategy::Weighted)
                    .then(|| Mutex::new(vec![0; pool.members.len()])),
            })
            .collect();

        Ok(Self {
            accounts,
            pools,
            routes,
            account_ids,
            pool_ids,
            models,
            model_routes,
            compiled,
            state,
        })
    }
}

/// Finds a cycle in a graph where each node has at most one successor.
/// Returns the nodes on the first cycle found, rotated to start at its
/// lowest index.
pub(super) fn find_cycle(next: &[Option<usize>]) -> Option<Vec<usize>> {
    const NEW: u8 = 0;
    const ON_PATH: u8 = 1;
    const DONE: u8 = 2;
    let mut mark = vec![NEW; next.len()];
    let mut path = Vec::new();
    for start in 0..next.len() {
        path.clear();
        let mut node = Some(start);
        while let Some(n) = node {
            match mark[n] {
                NEW => {
                    mark[n] = ON_PATH;
                    path.push(n);
                    node = next[n];
                }
                ON_PATH => {
                    let from = path.iter().position(|&p| p == n).unwrap_or(0);
                    let mut cycle = path.split_off(from);
                    let lowest = cycle
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, &c)| c)
                        .map_or(0, |(i, _)| i);
                    cycle.rotate_left(lowest);
                    return Some(cycle);
                }
                _ => break,
            }
        }
        for &p in &path {
            mark[p] = DONE;
        }
    }
    None
}

/// Precomputes the chain of one route. Requires acyclic fallbacks.
fn compile_route(
    route: usize,
    accounts: &[AccountSpec],
    pools: &[PoolSpec],
    pool_members: &[Vec<usize>],
    pool_fallback: &[Option<usize>],
    route_pool: &[usize],
    route_fallback: &[Option<usize>],
) -> CompiledRoute {
    // Pool chain: route pool and its fallback pools, then the fallback
    // route's, ... Each pool once: a pool already in the chain brings its
    // whole fallback chain with it, so the walk stops there. The visited
    // checks also guard termination (validation rejects cycles already).
    let mut chain: Vec<usize> = Vec::new();
    let mut routes_seen = vec![false; route_pool.len()];
    let mut next_route = Some(route);
    while let Some(r) = next_route {
        if std::mem::replace(&mut routes_seen[r], true) {
            break;
        }
        let mut next_pool = Some(route_pool[r]);
        while let Some(p) = next_pool {
            if chain.contains(&p) {
                break;
            }
            chain.push(p);
            next_pool = pool_fallback[p];
        }
        next_route = route_fallback[r];
    }

    let mut listed = vec![false; accounts.len()];
    let mut segments = Vec::with_capacity(chain.len());
    let mut len = 0;
    for &p in &chain {
        let mut members: Vec<Member> = pool_members[p]
            .iter()
            .enumerate()
            .filter(|&(_, &a)| accounts[a].enabled && !std::mem::replace(&mut listed[a], true))
            .map(|(pos, &a)| Member {
                pos,
                acct: AccountIdx(a),
            })
            .collect();
        match pools[p].strategy {
            Strategy::Priority | Strategy::Failover => {
                members.sort_by_key(|m| (accounts[m.acct.0].priority, m.pos));
            }
            Strategy::Weighted => {
                members.sort_by_key(|m| (Reverse(accounts[m.acct.0].weight), m.pos));
            }
            Strategy::RoundRobin | Strategy::LeastBusy => {}
        }
        if !members.is_empty() {
            len += members.len();
            segments.push(Segment {
                pool: p,
                members: members.into_boxed_slice(),
            });
        }
    }
    CompiledRoute {
        pools: chain.into_boxed_slice(),
        segments: segments.into_boxed_slice(),
        len,
    }
}
