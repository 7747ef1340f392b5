//! The routing snapshot: the route table plus what the hot path needs per account.
//!
//! A snapshot is immutable; run-time changes (admin API) build a new one and swap
//! it in atomically. Per-account counters that must survive a swap (requests in
//! flight) live in [`AccountShared`], reused by id across snapshots.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use http::{HeaderValue, Uri};
use rook_config::entity::DEFAULT_ANTHROPIC_VERSION;
use rook_config::{Protocol, Secret, Vendor};
use rook_routing::{AccountIdx, AccountSpec, AvailabilityView, PoolSpec, RouteSpec, RoutingTable};

use crate::leases::{LeasedPair, SharedLimits};
use crate::proxy::health::Health;
use crate::proxy::scrub::Scrubber;
use crate::proxy::upstream::endpoint_uri;
use rook_resilience::RateLimits;

/// One account as the gateway knows it, before it becomes runtime state.
#[derive(Debug, Clone)]
pub(crate) struct AccountEntry {
    /// Account id (`[A-Za-z0-9_.-]{1,64}`).
    pub(crate) id: String,
    /// Vendor.
    pub(crate) vendor: Vendor,
    /// OpenAI-style base URL including the version path.
    pub(crate) base_url: String,
    /// Resolved credentials, if any.
    pub(crate) api_key: Option<Secret>,
    /// Disabled accounts are never routed to.
    pub(crate) enabled: bool,
    /// Weight for the weighted strategy.
    pub(crate) weight: u32,
    /// Order for priority/failover (lower first).
    pub(crate) priority: u32,
    /// Logical → upstream model names.
    pub(crate) models: BTreeMap<String, String>,
    /// `requests_per_minute` from the configuration.
    pub(crate) requests_per_minute: Option<u32>,
    /// `tokens_per_minute` from the configuration.
    pub(crate) tokens_per_minute: Option<u32>,
    /// The wire protocol the account speaks.
    pub(crate) protocol: Protocol,
    /// `anthropic-version` for `anthropic` accounts, when the account sets it
    /// (else the client's, else the default).
    pub(crate) anthropic_version: Option<String>,
    /// `max_tokens` for requests to `anthropic` accounts that give none.
    pub(crate) default_max_tokens: u32,
    /// Ask `openai` upstreams for usage on streams.
    pub(crate) stream_usage: bool,
}

/// State of an account shared across snapshots.
#[derive(Debug, Default)]
pub(crate) struct AccountShared {
    /// Upstream requests in flight on this account.
    pub(crate) in_flight: AtomicU64,
    /// Request and token limits, set when the account is first seen.
    pub(crate) limits: std::sync::OnceLock<Option<RateLimits>>,
    /// The same limits leased across instances (PostgreSQL), set with `limits`.
    pub(crate) leased: std::sync::OnceLock<Option<LeasedPair>>,
}

impl AccountShared {
    /// The account's rate limits, if it has any.
    pub(crate) fn limits(&self) -> Option<&RateLimits> {
        self.limits.get().and_then(Option::as_ref)
    }

    /// The account's limits leased across instances, if shared.
    pub(crate) fn leased(&self) -> Option<&LeasedPair> {
        self.leased.get().and_then(Option::as_ref)
    }
}

/// Per-account data on the hot path.
#[derive(Debug)]
pub(crate) struct AccountRuntime {
    /// Account id.
    pub(crate) id: Arc<str>,
    /// Opaque metric label, `acct_<id>`.
    pub(crate) label: String,
    /// Vendor.
    pub(crate) vendor: Vendor,
    /// The wire protocol.
    pub(crate) protocol: Protocol,
    /// The base URL (with its version path), without a trailing `/`.
    pub(crate) base: String,
    /// `{base_url}/chat/completions`, ready for the hot path.
    pub(crate) chat_uri: Uri,
    /// `anthropic-version` for `anthropic` accounts (the account's, else the
    /// default).
    pub(crate) anthropic_version: HeaderValue,
    /// The account sets `anthropic_version`: it replaces the client's.
    pub(crate) anthropic_version_set: bool,
    /// `max_tokens` for requests to `anthropic` accounts that give none.
    pub(crate) default_max_tokens: u32,
    /// Ask `openai` upstreams for usage on streams.
    pub(crate) stream_usage: bool,
    /// Credentials.
    pub(crate) api_key: Option<Secret>,
    /// Logical → upstream model names.
    pub(crate) models: BTreeMap<String, String>,
    /// Whether routing may use it.
    pub(crate) enabled: bool,
    /// Counters shared across snapshots.
    pub(crate) shared: Arc<AccountShared>,
    /// The keys of every account of this snapshot, scrubbed from what the
    /// account's upstream answers (shared by all accounts of the snapshot).
    pub(crate) secrets: Arc<Scrubber>,
}

impl AccountRuntime {
    /// `{base_url}{path}`, if that forms a valid URL.
    pub(crate) fn uri(&self, path: &str) -> Option<Uri> {
        endpoint_uri(&self.base, path).ok()
    }

    /// The upstream model name for a logical model.
    pub(crate) fn upstream_model<'a>(&'a self, logical: &'a str) -> &'a str {
        self.models
            .get(logical)
            .map(String::as_str)
            .unwrap_or(logical)
    }
}

/// The route table and the accounts it indexes, in the same order.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// Route resolution.
    pub(crate) table: RoutingTable,
    /// Runtime state, indexed by [`AccountIdx`].
    pub(crate) accounts: Vec<AccountRuntime>,
}

/// Why a snapshot could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// References or cycles are broken.
    #[error(transparent)]
    Routing(#[from] rook_routing::RoutingError),
    /// An account's base URL does not form a valid endpoint.
    #[error("account {id:?}: base_url does not form a valid endpoint URL")]
    BadUrl {
        /// The account.
        id: String,
    },
}

/// Reuses per-account shared counters across snapshots.
#[derive(Debug, Default)]
pub(crate) struct SharedRegistry {
    map: Mutex<HashMap<String, Arc<AccountShared>>>,
    /// Limits shared across instances (set before the first snapshot).
    limits: std::sync::OnceLock<Arc<SharedLimits>>,
}

impl SharedRegistry {
    /// Accounts' limits are leased through `limits` when it is shared.
    pub(crate) fn with_limits(limits: Arc<SharedLimits>) -> SharedRegistry {
        let shared = SharedRegistry::default();
        let _ = shared.limits.set(limits);
        shared
    }

    fn get(&self, id: &str) -> Arc<AccountShared> {
        let mut map = match self.map.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        map.entry(id.to_string()).or_default().clone()
    }
}

impl Snapshot {
    /// Builds a snapshot.
    pub(crate) fn build(
        accounts: Vec<AccountEntry>,
        pools: Vec<PoolSpec>,
        routes: Vec<RouteSpec>,
        shared: &SharedRegistry,
    ) -> Result<Snapshot, SnapshotError> {
        let specs = accounts
            .iter()
            .map(|a| AccountSpec {
                id: a.id.clone(),
                enabled: a.enabled,
                weight: a.weight,
                priority: a.priority,
            })
            .collect();
        let table = RoutingTable::new(specs, pools, routes)?;
        let secrets = Arc::new(Scrubber::new(
            accounts
                .iter()
                .filter_map(|a| a.api_key.as_ref().map(Secret::expose)),
        ));
        let mut runtime = Vec::with_capacity(accounts.len());
        for a in accounts {
            let shared_state = shared.get(&a.id);
            let _ = shared_state.limits.set(RateLimits::new(
                a.requests_per_minute,
                a.tokens_per_minute,
                std::time::Instant::now(),
            ));
            if let Some(limits) = shared.limits.get() {
                let _ = shared_state.leased.set(LeasedPair::new(
                    limits,
                    "acct",
                    &a.id,
                    a.requests_per_minute,
                    a.tokens_per_minute,
                ));
            }
            let chat_uri = endpoint_uri(&a.base_url, "/chat/completions")
                .map_err(|_| SnapshotError::BadUrl { id: a.id.clone() })?;
            let anthropic_version = HeaderValue::from_str(
                a.anthropic_version
                    .as_deref()
                    .unwrap_or(DEFAULT_ANTHROPIC_VERSION),
            )
            .map_err(|_| SnapshotError::BadUrl { id: a.id.clone() })?;
            runtime.push(AccountRuntime {
                label: rook_observability::account_label(&a.id),
                shared: shared_state,
                id: Arc::from(a.id.as_str()),
                vendor: a.vendor,
                protocol: a.protocol,
                base: a.base_url.trim_end_matches('/').to_string(),
                chat_uri,
                anthropic_version,
                anthropic_version_set: a.anthropic_version.is_some(),
                default_max_tokens: a.default_max_tokens,
                stream_usage: a.stream_usage,
                api_key: a.api_key,
                models: a.models,
                enabled: a.enabled,
                secrets: secrets.clone(),
            });
        }
        Ok(Snapshot {
            table,
            accounts: runtime,
        })
    }

    /// The account at `idx`.
    pub(crate) fn account(&self, idx: AccountIdx) -> Option<&AccountRuntime> {
        self.accounts.get(idx.0)
    }
}

/// Routing's view of availability: the health registry and in-flight counts.
pub(crate) struct View<'a> {
    /// The snapshot whose indices are asked about.
    pub(crate) snapshot: &'a Snapshot,
    /// Account health.
    pub(crate) health: &'a Health,
}

impl AvailabilityView for View<'_> {
    fn is_available(&self, idx: AccountIdx) -> bool {
        self.snapshot
            .account(idx)
            .is_some_and(|a| self.health.is_available(&a.id))
    }

    fn in_flight(&self, idx: AccountIdx) -> u64 {
        self.snapshot
            .account(idx)
            .map_or(0, |a| a.shared.in_flight.load(Ordering::Relaxed))
    }
}

impl AccountRuntime {
    /// The account's metric labels.
    pub(crate) fn labels(&self) -> crate::accounting::metrics::Labels<'_> {
        crate::accounting::metrics::Labels {
            vendor: self.vendor.as_str(),
            account: &self.label,
        }
    }
}
