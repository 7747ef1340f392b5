//! Request bodies to registry records: field checks, defaults and the entity rules
//! rook-config applies to the file.

use std::collections::BTreeMap;

use rook_config::entity::{self, AccountRef, PoolRef, RouteRef, DEFAULT_WEIGHT};
use rook_config::{Protocol, Vendor};
use rook_registry::{AccountRecord, PoolRecord, RouteRecord, Source};

use super::first;
use crate::body::Body;
use crate::error::{ApiError, ApiResult};

pub(super) fn check_api_key(key: &str) -> ApiResult<()> {
    if key.trim().is_empty() {
        return Err(ApiError::field("api_key", "must not be empty"));
    }
    if key.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(ApiError::field(
            "api_key",
            "must not contain whitespace or control characters",
        ));
    }
    Ok(())
}

/// The id of a body on an `/{id}` path: optional in the body, and equal to the path's.
pub(super) fn path_id(body: &Body, field: &str, path: &str, what: &str) -> ApiResult<String> {
    if let Some(given) = body.opt::<String>(field)? {
        if given != path {
            return Err(ApiError::field(
                field,
                format!("must match the path ('{path}'); {what} cannot be renamed"),
            ));
        }
    }
    Ok(path.to_string())
}

/// What a body asks for the inline key: absent keeps it, a string sets it, `null` clears it.
#[derive(Debug)]
pub(super) enum KeyChange {
    Keep,
    Set(String),
    Clear,
}

pub(super) fn key_change(body: &Body) -> ApiResult<KeyChange> {
    if !body.has("api_key") {
        return Ok(KeyChange::Keep);
    }
    match body.opt::<String>("api_key")? {
        None => Ok(KeyChange::Clear),
        Some(k) => {
            check_api_key(&k)?;
            Ok(KeyChange::Set(k))
        }
    }
}

/// An account from a full body (`path` is the id of the URL, if any). The key is not read.
pub(super) fn account_from_body(body: &Body, path: Option<&str>) -> ApiResult<AccountRecord> {
    let id = match path {
        Some(p) => path_id(body, "id", p, "accounts")?,
        None => body.req::<String>("id")?,
    };
    entity::check_id("id", &id)?;
    let vendor_name: String = body.req("vendor")?;
    let vendor = entity::check_vendor(&vendor_name)?;
    let base_url: Option<String> = body.opt("base_url")?;
    let api_key_env: Option<String> = body.opt("api_key_env")?;
    let api_key_file: Option<String> = body.opt("api_key_file")?;
    let weight: u32 = body.opt("weight")?.unwrap_or(DEFAULT_WEIGHT);
    let models: BTreeMap<String, String> = body.opt("models")?.unwrap_or_default();
    let protocol = match body.opt::<String>("protocol")? {
        Some(name) => entity::check_protocol(&name)?,
        None => vendor.default_protocol(),
    };
    let anthropic_version: Option<String> = body.opt("anthropic_version")?;
    let default_max_tokens: Option<u32> = body.opt("default_max_tokens")?;
    first(entity::check_account(&AccountRef {
        id: &id,
        vendor: vendor.as_str(),
        base_url: base_url.as_deref(),
        api_key_env: api_key_env.as_deref(),
        api_key_file: api_key_file.as_deref(),
        weight,
        models: &models,
        protocol: Some(protocol.as_str()),
        anthropic_version: anthropic_version.as_deref(),
        default_max_tokens,
    }))?;
    let base_url = match base_url {
        Some(url) => url.trim().trim_end_matches('/').to_string(),
        // check_account made sure the vendor has a default.
        None => vendor
            .default_base_url_for(protocol)
            .unwrap_or_default()
            .to_string(),
    };
    Ok(AccountRecord {
        id,
        vendor: vendor.as_str().to_string(),
        base_url,
        api_key_env,
        api_key_file,
        api_key: None,
        enabled: body.opt("enabled")?.unwrap_or(true),
        weight,
        priority: body.opt("priority")?.unwrap_or(0),
        models,
        source: Source::Api,
        protocol: protocol.as_str().to_string(),
        anthropic_version,
        default_max_tokens,
        stream_usage: body.opt("stream_usage")?.unwrap_or(true),
    })
}

/// Whether `a` speaks its vendor's default protocol (so a PATCH that changes the vendor
/// without giving `protocol` takes the new vendor's default).
pub(super) fn has_default_protocol(a: &AccountRecord) -> bool {
    Vendor::from_name(&a.vendor).is_some_and(|v| v.default_protocol().as_str() == a.protocol)
}

/// Whether `a` has the default base URL of its vendor and protocol (so a PATCH that
/// changes the vendor or the protocol without giving `base_url` takes the new default).
pub(super) fn has_default_base_url(a: &AccountRecord) -> bool {
    let default = Vendor::from_name(&a.vendor)
        .zip(Protocol::from_name(&a.protocol))
        .and_then(|(v, p)| v.default_base_url_for(p));
    default == Some(a.base_url.as_str())
}

/// The members of a declared pool: at least one, valid ids, none twice.
pub(super) fn check_members(members: &[String]) -> ApiResult<()> {
    entity::check_has_members(members)?;
    first(entity::check_members(members))
}

pub(super) fn pool_from_body(body: &Body, path: Option<&str>) -> ApiResult<PoolRecord> {
    let id = match path {
        Some(p) => path_id(body, "id", p, "pools")?,
        None => body.req::<String>("id")?,
    };
    entity::check_id("id", &id)?;
    let strategy_name: String = body.req("strategy")?;
    let strategy = entity::check_strategy(&strategy_name)?;
    let members: Vec<String> = body.req("members")?;
    check_members(&members)?;
    let fallback_pool: Option<String> = body.opt("fallback_pool")?;
    first(entity::check_pool(&PoolRef {
        id: &id,
        strategy: strategy.as_str(),
        members: &members,
        fallback_pool: fallback_pool.as_deref(),
    }))?;
    Ok(PoolRecord {
        id,
        strategy: strategy.as_str().to_string(),
        members,
        fallback_pool,
        source: Source::Api,
    })
}

pub(super) fn route_from_body(body: &Body, path: Option<&str>) -> ApiResult<RouteRecord> {
    let model = match path {
        Some(p) => path_id(body, "model", p, "routes")?,
        None => body.req::<String>("model")?,
    };
    entity::check_model_name("model", &model)?;
    let pool: String = body.req("pool")?;
    let fallback_route: Option<String> = body.opt("fallback_route")?;
    first(entity::check_route(&RouteRef {
        model: &model,
        pool: &pool,
        fallback_route: fallback_route.as_deref(),
    }))?;
    Ok(RouteRecord {
        model,
        pool,
        fallback_route,
        source: Source::Api,
    })
}

// ------------------------------------------------------------------ write, reload, undo
