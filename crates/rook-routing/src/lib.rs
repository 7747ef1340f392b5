//! Pure, synchronous route resolution and account selection for Rook.
//!
//! A [`RoutingTable`] is built once from accounts ([`AccountSpec`]), pools
//! ([`PoolSpec`]) and routes ([`RouteSpec`]). Building validates every
//! reference and rejects duplicate ids and `fallback_pool` /
//! `fallback_route` cycles; it also precomputes, for every route, the chain of
//! pools and members it may use. [`RoutingTable::resolve`] then turns a
//! logical model name into an ordered [`Resolution`] using the caller's
//! [`AvailabilityView`] (cooldowns, in-flight counts). No IO, no async, no
//! dependency on other Rook crates.
//!
//! # Candidate order
//!
//! 1. the route's pool: its currently available, enabled members ordered by
//!    the pool's [`Strategy`];
//! 2. that pool's `fallback_pool`, its `fallback_pool`, and so on;
//! 3. the route's `fallback_route`: its pool chain (1–2), then its own
//!    `fallback_route`, and so on.
//!
//! An account already listed is not repeated, disabled accounts never appear,
//! and enabled accounts the view reports unavailable are listed in
//! [`Resolution::unavailable`] instead (so the caller can compute the earliest
//! `Retry-After`). An empty or fully cooling pool therefore falls through to
//! its fallbacks, and an attempt loop that exhausts the primary's accounts
//! reaches the fallbacks next.
//!
//! # Strategies
//!
//! | strategy | order of the pool's available members |
//! |---|---|
//! | `priority`, `failover` (synonyms) | ascending account `priority`, ties by member order |
//! | `round_robin` | member order rotated by a per-pool cursor (advances once per resolution) |
//! | `weighted` | smooth weighted round robin pick first, then descending weight |
//! | `least_busy` | ascending in-flight count, ties rotated by a per-pool cursor |
//!
//! Strategy state advances only for the pool that supplies the first
//! candidate of a resolution; fallback pools further down are ordered from
//! their current state without advancing it.
//!
//! # Example
//!
//! ```
//! use rook_routing::{
//!     AccountIdx, AccountSpec, AvailabilityView, PoolSpec, RouteSpec, RoutingTable, Strategy,
//! };
//!
//! let table = RoutingTable::new(
//!     vec![
//!         AccountSpec::new("openai-a"),
//!         AccountSpec::new("openai-b"),
//!         AccountSpec::new("backup-a"),
//!     ],
//!     vec![
//!         PoolSpec::new("gpt", Strategy::RoundRobin, ["openai-a", "openai-b"])
//!             .with_fallback_pool("backup"),
//!         PoolSpec::new("backup", Strategy::Priority, ["backup-a"]),
//!     ],
//!     vec![RouteSpec::new("gpt-4o", "gpt")],
//! )?;
//! assert_eq!(table.models(), ["gpt-4o".to_owned()]);
//!
//! /// The gateway's view of runtime state: here, `openai-a` is cooling down.
//! struct View;
//! impl AvailabilityView for View {
//!     fn is_available(&self, idx: AccountIdx) -> bool {
//!         idx != AccountIdx(0)
//!     }
//!     fn in_flight(&self, _idx: AccountIdx) -> u64 {
//!         0
//!     }
//! }
//!
//! let resolution = table.resolve("gpt-4o", &View)?;
//! assert_eq!(resolution.candidates, [AccountIdx(1), AccountIdx(2)]);
//! assert_eq!(resolution.unavailable, [AccountIdx(0)]);
//! assert_eq!(table.account(resolution.candidates[0]).id, "openai-b");
//!
//! assert!(table.resolve("gpt-5", &View).is_err());
//! # Ok::<(), rook_routing::RoutingError>(())
//! ```

mod error;
mod spec;
mod table;

pub use error::RoutingError;
pub use spec::{AccountIdx, AccountSpec, ParseStrategyError, PoolSpec, RouteSpec, Strategy};
pub use table::{AllAvailable, AvailabilityView, Resolution, RoutingTable};
