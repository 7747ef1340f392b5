//! Backend-specific SQL. The same source (`backend_impl.rs`) is compiled twice, once per
//! sqlx database type, so both backends share one implementation of the logic while the
//! types stay concrete (no `sqlx::Any`).

use crate::error::{RegistryError, Result};
use crate::types::{AccountRecord, PoolRecord, RouteRecord};

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

fn non_empty(what: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(RegistryError::invalid(format!("{what} must not be empty")));
    }
    Ok(())
}

pub(crate) fn validate_account(a: &AccountRecord) -> Result<()> {
    non_empty("account id", &a.id)?;
    non_empty("account vendor", &a.vendor)?;
    non_empty("account base_url", &a.base_url)
}

pub(crate) fn validate_pool(p: &PoolRecord) -> Result<()> {
    non_empty("pool id", &p.id)?;
    non_empty("pool strategy", &p.strategy)?;
    let mut seen = std::collections::BTreeSet::new();
    for m in &p.members {
        if !seen.insert(m.as_str()) {
            return Err(RegistryError::invalid(format!(
                "pool '{}' lists member '{m}' more than once",
                p.id
            )));
        }
    }
    if p.fallback_pool.as_deref() == Some(p.id.as_str()) {
        return Err(RegistryError::invalid(format!(
            "pool '{}' cannot fall back to itself",
            p.id
        )));
    }
    Ok(())
}

pub(crate) fn validate_route(r: &RouteRecord) -> Result<()> {
    non_empty("route model", &r.model)?;
    non_empty("route pool", &r.pool)?;
    if r.fallback_route.as_deref() == Some(r.model.as_str()) {
        return Err(RegistryError::invalid(format!(
            "route '{}' cannot fall back to itself",
            r.model
        )));
    }
    Ok(())
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
}

pub(crate) mod postgres {
    pub(crate) type Db = sqlx::Postgres;
    const BACKEND: crate::Backend = crate::Backend::Postgres;
    const MIGRATIONS: &[crate::migrate::Migration] = crate::migrate::POSTGRES;
    include!("backend_impl.rs");
}
