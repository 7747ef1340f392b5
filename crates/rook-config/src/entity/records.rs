//! Rules on whole records (an account, a pool, a route) and on the references
//! between them (members, fallbacks, cycles).

use std::collections::BTreeMap;

use super::*;

/// The fields of an account that the rules look at.
#[derive(Clone, Copy, Debug)]
pub struct AccountRef<'a> {
    /// The id.
    pub id: &'a str,
    /// The vendor name (`open_ai`, …).
    pub vendor: &'a str,
    /// The base URL, if given (`None`: the vendor's default).
    pub base_url: Option<&'a str>,
    /// The environment variable of the key.
    pub api_key_env: Option<&'a str>,
    /// The file of the key.
    pub api_key_file: Option<&'a str>,
    /// The weight.
    pub weight: u32,
    /// Logical → upstream model names.
    pub models: &'a BTreeMap<String, String>,
    /// The protocol name (`openai`, …), if given (`None`: the vendor's default).
    pub protocol: Option<&'a str>,
    /// The `anthropic-version` header, if given.
    pub anthropic_version: Option<&'a str>,
    /// The default `max_tokens` toward Anthropic upstreams, if given.
    pub default_max_tokens: Option<u32>,
}

/// The fields of a pool that the rules look at.
#[derive(Clone, Copy, Debug)]
pub struct PoolRef<'a> {
    /// The id.
    pub id: &'a str,
    /// The strategy name (`round_robin`, …).
    pub strategy: &'a str,
    /// Member account ids, in order.
    pub members: &'a [String],
    /// The pool tried when every member is unavailable.
    pub fallback_pool: Option<&'a str>,
}

/// The fields of a route that the rules look at.
#[derive(Clone, Copy, Debug)]
pub struct RouteRef<'a> {
    /// The logical model clients ask for.
    pub model: &'a str,
    /// The pool serving it.
    pub pool: &'a str,
    /// Another route's model to fall back to.
    pub fallback_route: Option<&'a str>,
}

/// Every record rule of an account: id, vendor, base URL (required for
/// `custom`), key reference (at most one of env and file), weight, model map,
/// protocol, `anthropic_version`, `default_max_tokens`.
pub fn check_account(a: &AccountRef<'_>) -> Vec<EntityError> {
    let mut out = Vec::new();
    out.extend(check_id("id", a.id).err());
    match check_vendor(a.vendor) {
        Ok(vendor) => out.extend(check_account_base_url(vendor, a.base_url).err()),
        Err(e) => {
            out.push(e);
            if let Some(url) = a.base_url {
                out.extend(
                    check_base_url(url)
                        .err()
                        .map(|m| EntityError::new("base_url", m)),
                );
            }
        }
    }
    if let Some(var) = a.api_key_env {
        out.extend(check_api_key_env(var).err());
    }
    if let Some(path) = a.api_key_file {
        out.extend(check_api_key_file(path).err());
    }
    if a.api_key_env.is_some() && a.api_key_file.is_some() {
        out.push(EntityError::combination(
            "api_key_file",
            "set only one of api_key_env and api_key_file",
        ));
    }
    out.extend(check_weight(a.weight).err());
    out.extend(check_model_map(a.models));
    if let Some(name) = a.protocol {
        out.extend(check_protocol(name).err());
    }
    if let Some(version) = a.anthropic_version {
        out.extend(check_anthropic_version(version).err());
    }
    if let Some(tokens) = a.default_max_tokens {
        out.extend(check_default_max_tokens(tokens).err());
    }
    out
}

/// The record rules of a pool except the self-fallback one: id, strategy,
/// member ids and duplicates, fallback id. (The config file reports a
/// self-fallback as a fallback cycle, see [`fallback_cycles`].)
pub fn check_pool_fields(p: &PoolRef<'_>) -> Vec<EntityError> {
    let mut out = Vec::new();
    out.extend(check_id("id", p.id).err());
    out.extend(check_strategy(p.strategy).err());
    out.extend(check_members(p.members));
    if let Some(fb) = p.fallback_pool {
        out.extend(check_id("fallback_pool", fb).err());
    }
    out
}

/// Every record rule of a pool: [`check_pool_fields`] and no fallback to
/// itself. A pool without members passes (see [`check_has_members`]).
pub fn check_pool(p: &PoolRef<'_>) -> Vec<EntityError> {
    let mut out = check_pool_fields(p);
    if p.fallback_pool == Some(p.id) {
        out.push(EntityError::new(
            "fallback_pool",
            "a pool cannot fall back to itself",
        ));
    }
    out
}

/// The record rules of a route except the self-fallback one: model name,
/// pool id, fallback model name.
pub fn check_route_fields(r: &RouteRef<'_>) -> Vec<EntityError> {
    let mut out = Vec::new();
    out.extend(check_model_name("model", r.model).err());
    out.extend(check_id("pool", r.pool).err());
    if let Some(fb) = r.fallback_route {
        out.extend(check_model_name("fallback_route", fb).err());
    }
    out
}

/// Every record rule of a route: [`check_route_fields`] and no fallback to
/// itself.
pub fn check_route(r: &RouteRef<'_>) -> Vec<EntityError> {
    let mut out = check_route_fields(r);
    if r.fallback_route == Some(r.model) {
        out.push(EntityError::new(
            "fallback_route",
            "a route cannot fall back to itself",
        ));
    }
    out
}

// ------------------------------------------------------------------ references

/// The references of a pool within a set of declarations: every member is a
/// declared account, the fallback pool is declared. Names that are not valid
/// ids are left to the record rules (one problem per mistake).
pub fn check_pool_references(
    p: &PoolRef<'_>,
    account_exists: impl Fn(&str) -> bool,
    pool_exists: impl Fn(&str) -> bool,
) -> Vec<EntityError> {
    let mut out = Vec::new();
    for (i, m) in p.members.iter().enumerate() {
        if is_valid_id(m) && !account_exists(m) {
            out.push(EntityError::at(
                "members",
                i,
                format!("{m:?} is not a declared account id"),
            ));
        }
    }
    if let Some(fb) = p.fallback_pool {
        if is_valid_id(fb) && !pool_exists(fb) {
            out.push(EntityError::new(
                "fallback_pool",
                format!("{fb:?} is not a declared pool id"),
            ));
        }
    }
    out
}

/// The references of a route within a set of declarations: its pool and its
/// fallback route are declared.
pub fn check_route_references(
    r: &RouteRef<'_>,
    pool_exists: impl Fn(&str) -> bool,
    route_exists: impl Fn(&str) -> bool,
) -> Vec<EntityError> {
    let mut out = Vec::new();
    if is_valid_id(r.pool) && !pool_exists(r.pool) {
        out.push(EntityError::new(
            "pool",
            format!("{:?} is not a declared pool id", r.pool),
        ));
    }
    if let Some(fb) = r.fallback_route {
        if check_model_name("fallback_route", fb).is_ok() && !route_exists(fb) {
            out.push(EntityError::new(
                "fallback_route",
                format!("{fb:?} is not the model of a declared route"),
            ));
        }
    }
    out
}

/// Fallback cycles among pools or routes. `next[i]` is the index of the entry
/// that entry `i` falls back to. Each cycle is returned once, as the indexes
/// along it starting at its lowest; a self-fallback is a cycle of one.
pub fn fallback_cycles(next: &[Option<usize>]) -> Vec<Vec<usize>> {
    let mut found = Vec::new();
    for start in 0..next.len() {
        let mut path = vec![start];
        let mut cur = next[start];
        while let Some(n) = cur {
            if n == start {
                // `start` is on a cycle; report it only from its lowest index.
                if path.iter().all(|&p| p >= start) {
                    found.push(path);
                }
                break;
            }
            if path.contains(&n) || path.len() > next.len() {
                break; // a cycle not through `start`; found from its own lowest index
            }
            path.push(n);
            cur = next.get(n).copied().flatten();
        }
    }
    found
}
