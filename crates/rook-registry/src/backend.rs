//! Backend-specific SQL. The same sources (`backend_impl.rs`, `backend_accounts.rs`,
//! `backend_pools.rs`, `backend_sync.rs`, `backend_runtime.rs`, `backend_keys.rs`,
//! `backend_series.rs`) are compiled twice, once per
//! sqlx database type, so both backends share one implementation of the logic while the
//! types stay concrete (no `sqlx::Any`).

use rook_config::entity::{self, AccountRef, EntityError, PoolRef, RouteRef};

use crate::error::{RegistryError, Result};
use crate::types::{AccountRecord, PoolRecord, RouteRecord};

/// Given every `(account id, stored api_key)`, the `(account id, new value)` pairs to write.
pub(crate) type KeyPlan<'a> =
    dyn Fn(&[(String, String)]) -> Result<Vec<(String, String)>> + Sync + 'a;

pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(crate) fn to_u32(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

pub(crate) fn to_u16(v: i64) -> u16 {
    u16::try_from(v.max(0)).unwrap_or(u16::MAX)
}

/// The first broken entity rule of `entity` `id` as [`RegistryError::Invalid`].
fn first(entity: &str, id: &str, errors: Vec<EntityError>) -> Result<()> {
    match errors.into_iter().next() {
        Some(e) => Err(RegistryError::invalid(format!("{entity} '{id}': {e}"))),
        None => Ok(()),
    }
}

/// The rules of [`rook_config::entity`]: the same as the config file and the admin API,
/// except that a stored pool may have no members.
pub(crate) fn validate_account(a: &AccountRecord) -> Result<()> {
    first(
        "account",
        &a.id,
        entity::check_account(&AccountRef {
            id: &a.id,
            vendor: &a.vendor,
            base_url: Some(&a.base_url),
            api_key_env: a.api_key_env.as_deref(),
            api_key_file: a.api_key_file.as_deref(),
            weight: a.weight,
            models: &a.models,
            protocol: Some(&a.protocol),
            anthropic_version: a.anthropic_version.as_deref(),
            default_max_tokens: a.default_max_tokens,
        }),
    )
}

pub(crate) fn validate_pool(p: &PoolRecord) -> Result<()> {
    first(
        "pool",
        &p.id,
        entity::check_pool(&PoolRef {
            id: &p.id,
            strategy: &p.strategy,
            members: &p.members,
            fallback_pool: p.fallback_pool.as_deref(),
        }),
    )
}

pub(crate) fn validate_route(r: &RouteRecord) -> Result<()> {
    first(
        "route",
        &r.model,
        entity::check_route(&RouteRef {
            model: &r.model,
            pool: &r.pool,
            fallback_route: r.fallback_route.as_deref(),
        }),
    )
}

/// The rules of [`rook_config::entity::client_key`] for a stored key.
pub(crate) fn validate_client_key(k: &crate::client_key::ClientKeyRecord) -> Result<()> {
    first(
        "client key",
        &k.id,
        entity::client_key::check_client_key(&entity::client_key::ClientKeyRef {
            id: &k.id,
            name: &k.name,
            owner: k.owner.as_deref(),
            models: &k.models,
            budget_usd: k.budget_usd,
            budget_period: k.budget_period.as_deref(),
            requests_per_minute: k.requests_per_minute,
            tokens_per_minute: k.tokens_per_minute,
            metadata: Some(&k.metadata),
        }),
    )
}

pub(crate) fn no_duplicates<'a>(what: &str, ids: impl Iterator<Item = &'a str>) -> Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    for id in ids {
        if !seen.insert(id) {
            return Err(RegistryError::invalid(format!(
                "{what} '{id}' is declared more than once"
            )));
        }
    }
    Ok(())
}

pub(crate) mod sqlite {
    pub(crate) type Db = sqlx::Sqlite;
    const BACKEND: crate::Backend = crate::Backend::Sqlite;
    const MIGRATIONS: &[crate::migrate::Migration] = crate::migrate::SQLITE;
    include!("backend_impl.rs");
    include!("backend_accounts.rs");
    include!("backend_pools.rs");
    include!("backend_sync.rs");
    include!("backend_runtime.rs");
    include!("backend_keys.rs");
    include!("backend_series.rs");
}

pub(crate) mod postgres {
    pub(crate) type Db = sqlx::Postgres;
    const BACKEND: crate::Backend = crate::Backend::Postgres;
    const MIGRATIONS: &[crate::migrate::Migration] = crate::migrate::POSTGRES;
    include!("backend_impl.rs");
    include!("backend_accounts.rs");
    include!("backend_pools.rs");
    include!("backend_sync.rs");
    include!("backend_runtime.rs");
    include!("backend_keys.rs");
    include!("backend_series.rs");
}
