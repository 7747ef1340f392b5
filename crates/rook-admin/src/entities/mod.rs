//! Accounts, pools and routes: JSON views, body parsing and validation, and the CRUD
//! handlers (write, reload routing, undo on a failed reload, audit).

mod accounts;
mod commit;
mod parse;
mod pools;
#[cfg(test)]
mod tests;

use rook_config::entity::EntityError;
use rook_config::SecretSource;
use rook_registry::{AccountRecord, PoolRecord, RouteRecord};
use serde_json::{json, Map, Value};

use crate::error::{ApiError, ApiResult};

/// Fields of an account body (the config file's names plus write-only `api_key`).
pub(crate) const ACCOUNT_FIELDS: &[&str] = &[
    "id",
    "vendor",
    "base_url",
    "api_key_env",
    "api_key_file",
    "api_key",
    "enabled",
    "weight",
    "priority",
    "models",
    "protocol",
    "anthropic_version",
    "default_max_tokens",
    "stream_usage",
];
/// Fields of a pool body.
pub(crate) const POOL_FIELDS: &[&str] = &["id", "strategy", "members", "fallback_pool"];
/// Fields of a route body.
pub(crate) const ROUTE_FIELDS: &[&str] = &["model", "pool", "fallback_route"];

// ------------------------------------------------------------------ views

/// An account as the API shows it: never the key, only `has_api_key`.
pub(crate) fn account_view(a: &AccountRecord) -> Value {
    json!({
        "id": a.id,
        "vendor": a.vendor,
        "base_url": a.base_url,
        "api_key_env": a.api_key_env,
        "api_key_file": a.api_key_file,
        "enabled": a.enabled,
        "weight": a.weight,
        "priority": a.priority,
        "models": a.models,
        "has_api_key": key_available(a),
        "source": a.source.as_str(),
        "protocol": a.protocol,
        "anthropic_version": a.anthropic_version,
        "default_max_tokens": a.default_max_tokens,
        "stream_usage": a.stream_usage,
    })
}

/// Whether the account has a usable key now, resolved as the gateway does:
/// an API-managed key, else `api_key_env` (set and not blank), else
/// `api_key_file` (readable and not blank). The value is never kept.
pub(crate) fn key_available(a: &AccountRecord) -> bool {
    if a.has_api_key() {
        return true;
    }
    let source = match (&a.api_key_env, &a.api_key_file) {
        (Some(var), _) => SecretSource::Env(var.clone()),
        (None, Some(path)) => SecretSource::File(path.into()),
        (None, None) => return false,
    };
    source.is_available()
}

/// A pool as the API shows it.
pub(crate) fn pool_view(p: &PoolRecord) -> Value {
    json!({
        "id": p.id,
        "strategy": p.strategy,
        "members": p.members,
        "fallback_pool": p.fallback_pool,
        "source": p.source.as_str(),
    })
}

/// A route as the API shows it.
pub(crate) fn route_view(r: &RouteRecord) -> Value {
    json!({
        "model": r.model,
        "pool": r.pool,
        "fallback_route": r.fallback_route,
        "source": r.source.as_str(),
    })
}

/// The writable fields of a view (the merge base of a PATCH): `null`s, `source` and
/// `has_api_key` removed.
fn writable(view: Value, fields: &[&str]) -> Map<String, Value> {
    match view {
        Value::Object(m) => m
            .into_iter()
            .filter(|(k, v)| !v.is_null() && fields.contains(&k.as_str()))
            .collect(),
        _ => Map::new(),
    }
}

/// JSON merge patch (top level): present keys replace, `null` removes.
fn merge(mut base: Map<String, Value>, patch: Map<String, Value>) -> Map<String, Value> {
    for (k, v) in patch {
        if v.is_null() {
            base.remove(&k);
        } else {
            base.insert(k, v);
        }
    }
    base
}

// ------------------------------------------------------------------ validation

/// The first broken entity rule as a 400 naming the field.
fn first(errors: Vec<EntityError>) -> ApiResult<()> {
    match errors.into_iter().next() {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

impl From<EntityError> for ApiError {
    fn from(e: EntityError) -> Self {
        ApiError::field(&e.path(), e.message)
    }
}
