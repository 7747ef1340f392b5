//! Translation between the configuration, the registry and the routing snapshot.
//!
//! At start-up the accounts, pools and routes declared in the config file are
//! synced into the registry (atomically: added, updated, removed); the routing
//! snapshot is then built from the registry, which also holds the entries managed
//! through the admin API. Account health is restored from the registry and written
//! back whenever it changes, so a restart keeps cooled accounts cooled.

use rook_config::entity::DEFAULT_MAX_TOKENS;
use rook_config::{Config, Protocol, Secret, SecretSource, Vendor};
use rook_registry::{AccountRecord, PoolRecord, Registry, RouteRecord, Source};
use rook_routing::{PoolSpec, RouteSpec, Strategy};

use crate::proxy::snapshot::{AccountEntry, SharedRegistry, Snapshot, SnapshotError};

/// Why the catalog could not be synced or loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// A secret could not be read.
    #[error("{what}: {source}")]
    Secret {
        /// Whose secret.
        what: String,
        /// Why.
        source: rook_config::SecretError,
    },
    /// The registry failed.
    #[error("registry: {0}")]
    Registry(#[from] rook_registry::RegistryError),
    /// The routing configuration is inconsistent.
    #[error("routing: {0}")]
    Snapshot(#[from] SnapshotError),
}

/// Maps a config priority (signed) onto the registry's unsigned one, keeping order
/// for the values operators use (negative priorities sort first as 0).
fn priority(p: i32) -> u32 {
    u32::try_from(p).unwrap_or(0)
}

/// The registry records of the config-declared entries.
pub fn declared_records(
    config: &Config,
) -> (Vec<AccountRecord>, Vec<PoolRecord>, Vec<RouteRecord>) {
    let accounts = config
        .accounts
        .iter()
        .map(|a| AccountRecord {
            id: a.id.clone(),
            vendor: a.vendor.as_str().to_string(),
            base_url: a.effective_base_url().unwrap_or_default(),
            api_key_env: a.api_key_env.clone(),
            api_key_file: a.api_key_file.as_ref().map(|p| p.display().to_string()),
            api_key: None,
            enabled: a.enabled,
            weight: a.weight,
            priority: priority(a.priority),
            models: a.models.clone(),
            source: Source::Config,
            protocol: a.effective_protocol().as_str().to_string(),
            anthropic_version: a.anthropic_version.clone(),
            default_max_tokens: a.default_max_tokens,
            stream_usage: a.stream_usage,
        })
        .collect();
    let pools = config
        .pools
        .iter()
        .map(|p| PoolRecord {
            id: p.id.clone(),
            strategy: p.strategy.as_str().to_string(),
            members: p.members.clone(),
            fallback_pool: p.fallback_pool.clone(),
            source: Source::Config,
        })
        .collect();
    let routes = config
        .routes
        .iter()
        .map(|r| RouteRecord {
            model: r.model.clone(),
            pool: r.pool.clone(),
            fallback_route: r.fallback_route.clone(),
            source: Source::Config,
        })
        .collect();
    (accounts, pools, routes)
}

/// Syncs the config-declared entries into the registry.
pub(crate) async fn sync_declared(
    config: &Config,
    registry: &Registry,
) -> Result<(), CatalogError> {
    let (accounts, pools, routes) = declared_records(config);
    let report = registry.sync_declared(&accounts, &pools, &routes).await?;
    tracing::debug!(
        added = report.added,
        updated = report.updated,
        removed = report.removed,
        "declared accounts, pools and routes synced into the registry"
    );
    Ok(())
}

/// Resolves an account record's credentials: an API-managed key (already opened by
/// [`crate::control::keys::open_inline_keys`]), else its env var or file.
pub(crate) fn resolve_key(rec: &AccountRecord) -> Result<Option<Secret>, CatalogError> {
    if let Some(k) = &rec.api_key {
        return Ok(Some(Secret::new(k.clone())));
    }
    let source = match (&rec.api_key_env, &rec.api_key_file) {
        (Some(var), _) => SecretSource::Env(var.clone()),
        (None, Some(path)) => SecretSource::File(path.into()),
        (None, None) => return Ok(None),
    };
    source
        .resolve()
        .map(Some)
        .map_err(|e| CatalogError::Secret {
            what: format!("account {:?} api key", rec.id),
            source: e,
        })
}

/// Builds the routing snapshot from the registry; per-account rate limits come
/// from the configuration (accounts managed through the API have none).
pub(crate) async fn load_snapshot(
    registry: &Registry,
    shared: &SharedRegistry,
    config: &Config,
) -> Result<Snapshot, CatalogError> {
    let mut accounts = registry.list_accounts().await?;
    crate::control::keys::open_inline_keys(registry, &mut accounts);
    let pools = registry.list_pools().await?;
    let routes = registry.list_routes().await?;
    build_snapshot(&accounts, &pools, &routes, shared, config)
}

/// Builds a routing snapshot from records.
pub(crate) fn build_snapshot(
    accounts: &[AccountRecord],
    pools: &[PoolRecord],
    routes: &[RouteRecord],
    shared: &SharedRegistry,
    config: &Config,
) -> Result<Snapshot, CatalogError> {
    let mut entries = Vec::with_capacity(accounts.len());
    for rec in accounts {
        let vendor = Vendor::from_name(&rec.vendor).unwrap_or(Vendor::Custom);
        let api_key = if rec.enabled { resolve_key(rec)? } else { None };
        let declared = config.account(&rec.id);
        entries.push(AccountEntry {
            id: rec.id.clone(),
            vendor,
            base_url: rec.base_url.clone(),
            api_key,
            enabled: rec.enabled,
            weight: rec.weight,
            priority: rec.priority,
            models: rec.models.clone(),
            requests_per_minute: declared.and_then(|a| a.requests_per_minute),
            tokens_per_minute: declared.and_then(|a| a.tokens_per_minute),
            protocol: Protocol::from_name(&rec.protocol).unwrap_or(vendor.default_protocol()),
            anthropic_version: rec.anthropic_version.clone(),
            default_max_tokens: rec.default_max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
            stream_usage: rec.stream_usage,
        });
    }
    let mut pool_specs = Vec::with_capacity(pools.len());
    for p in pools {
        let strategy: Strategy = p.strategy.parse().map_err(|_| {
            CatalogError::Snapshot(SnapshotError::Routing(
                rook_routing::RoutingError::UnknownPool {
                    route: String::new(),
                    pool: p.id.clone(),
                },
            ))
        })?;
        pool_specs.push(PoolSpec {
            id: p.id.clone(),
            strategy,
            members: p.members.clone(),
            fallback_pool: p.fallback_pool.clone(),
        });
    }
    let route_specs = routes
        .iter()
        .map(|r| RouteSpec {
            model: r.model.clone(),
            pool: r.pool.clone(),
            fallback_route: r.fallback_route.clone(),
        })
        .collect();
    Ok(Snapshot::build(entries, pool_specs, route_specs, shared)?)
}
