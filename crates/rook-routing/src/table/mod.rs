//! The routing table: validation, precomputed chains and resolution.

mod build;
mod order;
#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::Mutex;

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
}
