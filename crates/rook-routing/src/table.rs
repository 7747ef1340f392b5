//! The routing table: validation, precomputed chains and resolution.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::error::RoutingError;
use crate::spec::{AccountIdx, AccountSpec, PoolSpec, RouteSpec, Strategy};

/// What the caller knows about accounts at resolution time.
///
/// The gateway implements it over its runtime state (cooldowns from
/// `rook-resilience`, in-flight counters); tests implement it over plain data.
pub trait AvailabilityView {
    /// Whether the account may be tried now (`false` while it cools down).
    fn is_available(&self, idx: AccountIdx) -> bool;
    /// Requests currently in flight on the account (used by `least_busy`).
    fn in_flight(&self, idx: AccountIdx) -> u64;
}

impl<T: AvailabilityView + ?Sized> AvailabilityView for &T {
    fn is_available(&self, idx: AccountIdx) -> bool {
        (**self).is_available(idx)
    }

    fn in_flight(&self, idx: AccountIdx) -> u64 {
        (**self).in_flight(idx)
    }
}

/// An [`AvailabilityView`] in which every account is available and idle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AllAvailable;

impl AvailabilityView for AllAvailable {
    fn is_available(&self, _idx: AccountIdx) -> bool {
        true
    }

    fn in_flight(&self, _idx: AccountIdx) -> u64 {
        0
    }
}

/// The outcome of [`RoutingTable::resolve`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolution {
    /// Accounts to try, in order: enabled, available per the view, each at
    /// most once.
    pub candidates: Vec<AccountIdx>,
    /// Enabled accounts of the chain skipped because the view reported them
    /// unavailable (cooling), in chain order, each at most once. The caller
    /// uses them to compute the earliest `Retry-After` when `candidates` is
    /// empty.
    pub unavailable: Vec<AccountIdx>,
}

impl Resolution {
    /// `true` when there is no candidate to try.
    pub fn is_empty(&self) -> bool {
        self.candidates.is_empty()
    }

    /// The first candidate, if any.
    pub fn first(&self) -> Option<AccountIdx> {
        self.candidates.first().copied()
    }
}

/// A pool member as precomputed for one route.
#[derive(Debug, Clone, Copy)]
struct Member {
    /// Position in the pool's `members`.
    pos: usize,
    acct: AccountIdx,
}

/// One pool of a route's chain, with the members it contributes (enabled,
/// not contributed by an earlier pool of the chain) in the strategy's static
/// order: priority order for `priority`/`failover`, descending weight for
/// `weighted`, member order otherwise.
#[derive(Debug)]
struct Segment {
    pool: usize,
    members: Box<[Member]>,
}

#[derive(Debug)]
struct CompiledRoute {
    /// Every pool of the chain, in order (for display).
    pools: Box<[usize]>,
    /// Pools contributing at least one member.
    segments: Box<[Segment]>,
    /// Total members over all segments (capacity of a resolution).
    len: usize,
}

/// Mutable strategy state of one pool.
#[derive(Debug)]
struct PoolState {
    /// `round_robin` / `least_busy` rotation.
    cursor: AtomicUsize,
    /// `weighted`: smooth weighted round robin current weights, by member
    /// position.
    current: Option<Mutex<Vec<i64>>>,
}

/// Validated accounts, pools and routes with precomputed route → pool chains.
///
/// Built once (at start-up or when the admin API changes the configuration)
/// and shared: it is `Send + Sync`, and [`resolve`](Self::resolve) takes
/// `&self` (strategy cursors use atomics, weighted pools a small mutex).
#[derive(Debug)]
pub struct RoutingTable {
    accounts: Vec<AccountSpec>,
    pools: Vec<PoolSpec>,
    routes: Vec<RouteSpec>,
    account_ids: HashMap<String, usize>,
    pool_ids: HashMap<String, usize>,
    /// Sorted model names.
    models: Vec<String>,
    /// Route index of `models[i]`.
    model_routes: Vec<usize>,
    /// By route index.
    compiled: Vec<CompiledRoute>,
    /// By pool index.
    state: Vec<PoolState>,
}

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

    /// All accounts, in the order given to [`new`](Self::new)
    /// (`accounts()[i]` is [`AccountIdx`]`(i)`).
    pub fn accounts(&self) -> &[AccountSpec] {
        &self.accounts
    }

    /// The account at `idx`.
    ///
    /// # Panics
    ///
    /// When `idx` is out of range (indices returned by this table never are);
    /// see [`get_account`](Self::get_account) for a checked variant.
    pub fn account(&self, idx: AccountIdx) -> &AccountSpec {
        &self.accounts[idx.0]
    }

    /// The account at `idx`, or `None` when out of range.
    pub fn get_account(&self, idx: AccountIdx) -> Option<&AccountSpec> {
        self.accounts.get(idx.0)
    }

    /// The index of the account with this id.
    pub fn account_idx(&self, id: &str) -> Option<AccountIdx> {
        self.account_ids.get(id).copied().map(AccountIdx)
    }

    /// All pools, in the order given to [`new`](Self::new).
    pub fn pools(&self) -> &[PoolSpec] {
        &self.pools
    }

    /// The pool with this id.
    pub fn pool(&self, id: &str) -> Option<&PoolSpec> {
        self.pool_ids.get(id).map(|&p| &self.pools[p])
    }

    /// All routes, in the order given to [`new`](Self::new).
    pub fn routes(&self) -> &[RouteSpec] {
        &self.routes
    }

    /// The route of this logical model.
    pub fn route(&self, model: &str) -> Option<&RouteSpec> {
        self.route_index(model).map(|r| &self.routes[r])
    }

    /// The logical model names (one per route), sorted; for `/v1/models`.
    pub fn models(&self) -> &[String] {
        &self.models
    }

    /// Whether a route exists for this logical model.
    pub fn has_model(&self, model: &str) -> bool {
        self.route_index(model).is_some()
    }

    /// The pools whose members [`resolve`](Self::resolve) considers for this
    /// model, in order: the route's pool and its `fallback_pool` chain, then
    /// the same for its `fallback_route`, and so on (each pool once). `None`
    /// for an unknown model.
    pub fn pool_chain(&self, model: &str) -> Option<impl Iterator<Item = &PoolSpec> + '_> {
        let route = self.route_index(model)?;
        Some(self.compiled[route].pools.iter().map(|&p| &self.pools[p]))
    }

    /// Orders the accounts to try for `model`.
    ///
    /// Candidates come from the route's pool, ordered by the pool's strategy
    /// over its currently available members, then from that pool's
    /// `fallback_pool` chain, then from the route's `fallback_route` (its
    /// pool chain, then its own `fallback_route`, …). An account already
    /// listed is not repeated, disabled accounts never appear, and accounts
    /// the view reports unavailable go to [`Resolution::unavailable`].
    ///
    /// Strategy state (round robin and least-busy cursors, weighted current
    /// weights) advances only for the pool that supplies the first candidate;
    /// later pools of the chain are ordered from their current state without
    /// advancing it, so a pool used as a fallback by one route does not skew
    /// the spread of the routes it serves first.
    ///
    /// Cost: a binary search over model names, one availability check per
    /// chain member, and the two result vectors (`unavailable` allocates only
    /// when something is unavailable). No string is allocated on success.
    ///
    /// # Errors
    ///
    /// [`RoutingError::UnknownModel`] when no route exists for `model`.
    pub fn resolve<V: AvailabilityView + ?Sized>(
        &self,
        model: &str,
        view: &V,
    ) -> Result<Resolution, RoutingError> {
        let Some(route) = self.route_index(model) else {
            return Err(RoutingError::UnknownModel {
                model: model.to_owned(),
            });
        };
        let compiled = &self.compiled[route];
        let mut candidates = Vec::with_capacity(compiled.len);
        let mut unavailable = Vec::new();
        let mut advance = true;
        for segment in compiled.segments.iter() {
            let start = candidates.len();
            for member in segment.members.iter() {
                if view.is_available(member.acct) {
                    candidates.push(member.acct);
                } else {
                    unavailable.push(member.acct);
                }
            }
            let Some(tail) = candidates.get_mut(start..) else {
                continue;
            };
            if tail.is_empty() {
                continue;
            }
            if tail.len() > 1 {
                self.order(segment, tail, view, advance);
            }
            advance = false;
        }
        Ok(Resolution {
            candidates,
            unavailable,
        })
    }

    fn route_index(&self, model: &str) -> Option<usize> {
        self.models
            .binary_search_by(|m| m.as_str().cmp(model))
            .ok()
            .map(|i| self.model_routes[i])
    }

    /// Orders `tail` (the available members of `segment`, in the segment's
    /// static order, at least two) by the pool's strategy.
    fn order<V: AvailabilityView + ?Sized>(
        &self,
        segment: &Segment,
        tail: &mut [AccountIdx],
        view: &V,
        advance: bool,
    ) {
        let pool = segment.pool;
        let state = &self.state[pool];
        match self.pools[pool].strategy {
            // Static order already is priority order.
            Strategy::Priority | Strategy::Failover => {}
            Strategy::RoundRobin => {
                let cursor = read_cursor(&state.cursor, advance);
                tail.rotate_left(cursor % tail.len());
            }
            Strategy::LeastBusy => {
                let cursor = read_cursor(&state.cursor, advance);
                sort_by_load(tail, view, cursor);
            }
            Strategy::Weighted => {
                if let Some(current) = &state.current {
                    let mut current = current.lock().unwrap_or_else(PoisonError::into_inner);
                    if let Some(pick) = self.weighted_pick(segment, tail, &mut current, advance) {
                        tail[..=pick].rotate_right(1);
                    }
                }
            }
        }
    }

    /// Smooth weighted round robin over the available members in `tail`:
    /// returns the position in `tail` of the pick (`None` when every
    /// available member weighs 0). With `advance`, commits the step (adds
    /// each weight to its current weight, subtracts the total from the
    /// pick); otherwise only peeks at the next pick.
    fn weighted_pick(
        &self,
        segment: &Segment,
        tail: &[AccountIdx],
        current: &mut [i64],
        advance: bool,
    ) -> Option<usize> {
        let mut members = segment.members.iter();
        let mut total: i64 = 0;
        let mut best: Option<(usize, usize, i64)> = None; // (tail position, member position, value)
        for (j, acct) in tail.iter().enumerate() {
            // `tail` is a subsequence of `segment.members`: find its member.
            let member = members.by_ref().find(|m| m.acct == *acct)?;
            let weight = i64::from(self.accounts[acct.0].weight);
            if weight == 0 {
                continue;
            }
            let slot = current.get_mut(member.pos)?;
            let value = slot.saturating_add(weight);
            if advance {
                *slot = value;
            }
            total = total.saturating_add(weight);
            if best.is_none_or(|(_, _, v)| value > v) {
                best = Some((j, member.pos, value));
            }
        }
        let (j, pos, _) = best?;
        if advance {
            if let Some(slot) = current.get_mut(pos) {
                *slot = slot.saturating_sub(total);
            }
        }
        Some(j)
    }
}

fn read_cursor(cursor: &AtomicUsize, advance: bool) -> usize {
    if advance {
        cursor.fetch_add(1, Ordering::Relaxed)
    } else {
        cursor.load(Ordering::Relaxed)
    }
}

/// Sorts `tail` by ascending in-flight count, reading each count once (the
/// counts change concurrently; a snapshot keeps the order total). Each run of
/// equal counts is in member order rotated by `cursor`, so ties spread evenly
/// however many members are busier.
fn sort_by_load<V: AvailabilityView + ?Sized>(tail: &mut [AccountIdx], view: &V, cursor: usize) {
    const INLINE: usize = 32;
    fn apply<V: AvailabilityView + ?Sized>(
        tail: &mut [AccountIdx],
        buf: &mut [(u64, usize, AccountIdx)],
        view: &V,
        cursor: usize,
    ) {
        for (i, (slot, acct)) in buf.iter_mut().zip(tail.iter()).enumerate() {
            *slot = (view.in_flight(*acct), i, *acct);
        }
        buf.sort_unstable();
        let mut start = 0;
        while start < buf.len() {
            let load = buf[start].0;
            let len = buf[start..].iter().take_while(|e| e.0 == load).count();
            buf[start..start + len].rotate_left(cursor % len);
            start += len;
        }
        for (dst, entry) in tail.iter_mut().zip(buf.iter()) {
            *dst = entry.2;
        }
    }
    if tail.len() <= INLINE {
        let mut buf = [(0, 0, AccountIdx(0)); INLINE];
        apply(tail, &mut buf[..tail.len()], view, cursor);
    } else {
        let mut buf = vec![(0, 0, AccountIdx(0)); tail.len()];
        apply(tail, &mut buf, view, cursor);
    }
}

/// Finds a cycle in a graph where each node has at most one successor.
/// Returns the nodes on the first cycle found, rotated to start at its
/// lowest index.
fn find_cycle(next: &[Option<usize>]) -> Option<Vec<usize>> {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn find_cycle_reports_only_the_loop() {
        assert_eq!(find_cycle(&[Some(1), None]), None);
        assert_eq!(find_cycle(&[Some(1), Some(2), Some(1)]), Some(vec![1, 2]));
        assert_eq!(find_cycle(&[None, Some(1)]), Some(vec![1]));
        assert_eq!(
            find_cycle(&[Some(2), Some(0), Some(1)]),
            Some(vec![0, 2, 1])
        );
        assert_eq!(find_cycle(&[]), None);
    }

    #[test]
    fn sort_by_load_orders_by_load_and_rotates_ties() {
        struct Load;
        impl AvailabilityView for Load {
            fn is_available(&self, _: AccountIdx) -> bool {
                true
            }
            fn in_flight(&self, idx: AccountIdx) -> u64 {
                (idx.0 % 3) as u64
            }
        }
        for n in [2, 32, 33, 100] {
            let mut tail: Vec<AccountIdx> = (0..n).rev().map(AccountIdx).collect();
            sort_by_load(&mut tail, &Load, 0);
            let mut expected: Vec<AccountIdx> = (0..n).rev().map(AccountIdx).collect();
            expected.sort_by_key(|a| a.0 % 3);
            assert_eq!(tail, expected, "n = {n}");
        }
        // Ties rotate within their run: loads 0,1,2,0,1,2 (members 0..6).
        let mut tail: Vec<AccountIdx> = (0..6).map(AccountIdx).collect();
        sort_by_load(&mut tail, &Load, 1);
        let order: Vec<usize> = tail.iter().map(|a| a.0).collect();
        assert_eq!(order, [3, 0, 4, 1, 5, 2]);
    }

    #[test]
    fn table_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<RoutingTable>();
        assert_send_sync::<Resolution>();
    }
}
