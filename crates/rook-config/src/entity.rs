//! The rules of accounts, pools and routes, written once.
//!
//! The config file ([`Config::validate`](crate::Config::validate)), the admin
//! API, `rook-cli` and the registry all check entities with these functions,
//! so an entry one of them accepts is accepted by the others. Each surface
//! wraps an [`EntityError`] in its own shape: the config file prefixes the key
//! path (`accounts[1] (id "b").weight`), the admin API answers 400
//! `invalid_request` naming the field, the CLI names the flag, the registry
//! returns `RegistryError::Invalid`.
//!
//! Two levels:
//! - *record* rules ([`check_account`], [`check_pool`], [`check_route`]):
//!   what one entry must satisfy on its own;
//! - *reference* rules ([`check_pool_references`],
//!   [`check_route_references`], [`fallback_cycles`]): what a set of entries
//!   must satisfy together (members and fallbacks exist, no fallback cycle).
//!
//! Pure: no IO, no allocation beyond the error messages.
//!
//! ```
//! use rook_config::entity::{check_weight, check_pool, PoolRef, WEIGHT_RANGE};
//!
//! assert!(check_weight(1000).is_ok());
//! let e = check_weight(0).unwrap_err();
//! assert_eq!(e.to_string(), "weight: must be in 1..=1000, got 0");
//! assert_eq!(*WEIGHT_RANGE.end(), 1000);
//!
//! let members = ["a".to_string(), "a".to_string()];
//! let pool = PoolRef { id: "p", strategy: "failover", members: &members, fallback_pool: Some("p") };
//! let errors: Vec<String> = check_pool(&pool).iter().map(|e| e.to_string()).collect();
//! assert_eq!(errors, [
//!     "members[1]: \"a\" is listed more than once",
//!     "fallback_pool: a pool cannot fall back to itself",
//! ]);
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::ops::RangeInclusive;

use crate::model::{Protocol, Strategy, Vendor};

// Client keys (issue 13): their rules, scopes and budget periods.
pub mod client_key;

/// Largest length of an account or pool id, in bytes.
pub const MAX_ID_LEN: usize = 64;

/// The syntax of an account or pool id as a regular expression (for schemas).
pub const ID_PATTERN: &str = "^[A-Za-z0-9_.-]{1,64}$";

/// What an id may be, in words (the message of a bad id).
pub const ID_RULE: &str = "must be 1 to 64 characters of A-Z, a-z, 0-9, `_`, `.`, `-`";

/// The weights an account may have (share for the `weighted` strategy).
pub const WEIGHT_RANGE: RangeInclusive<u32> = WEIGHT_MIN..=WEIGHT_MAX;

/// Smallest account weight.
pub const WEIGHT_MIN: u32 = 1;

/// Largest account weight.
pub const WEIGHT_MAX: u32 = 1000;

/// The weight of an account that does not give one.
pub const DEFAULT_WEIGHT: u32 = 1;

/// The `anthropic-version` header of an account that does not give one.
pub const DEFAULT_ANTHROPIC_VERSION: &str = "2023-06-01";

/// Longest `anthropic_version`, in characters.
pub const MAX_ANTHROPIC_VERSION_LEN: usize = 64;

/// The `max_tokens` Rook sends to an Anthropic upstream when a request gives
/// none and the account sets no `default_max_tokens`.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// Smallest `default_max_tokens`.
pub const DEFAULT_MAX_TOKENS_MIN: u32 = 1;

/// Longest logical model name of a route, in bytes.
pub const MAX_MODEL_LEN: usize = 256;

/// Longest environment variable name, in bytes.
pub const MAX_ENV_VAR_LEN: usize = 255;

/// Where in an entity a problem is below its field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sub {
    /// The `i`th element of a list field (`members[1]`).
    Index(usize),
    /// The entry of a map field with this key (`models.gpt-4o`).
    Key(String),
    /// Not one field but a combination of fields, e.g. both `api_key_env` and
    /// `api_key_file`: the config file names the entity, the admin API and
    /// the CLI name [`EntityError::field`].
    Combination,
}

/// One broken rule: which field of the entity and what is wrong.
///
/// `Display` is `path: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityError {
    /// The field, e.g. `weight`, `members`.
    pub field: &'static str,
    /// The element of the field, if the problem is in one.
    pub sub: Option<Sub>,
    /// Operator-facing explanation (never a secret).
    pub message: String,
}

impl EntityError {
    /// A problem with `field`.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            sub: None,
            message: message.into(),
        }
    }

    /// A problem with the `index`th element of `field`.
    pub fn at(field: &'static str, index: usize, message: impl Into<String>) -> Self {
        Self {
            field,
            sub: Some(Sub::Index(index)),
            message: message.into(),
        }
    }

    /// A problem with the entry `key` of the map `field`.
    pub fn key(field: &'static str, key: &str, message: impl Into<String>) -> Self {
        Self {
            field,
            sub: Some(Sub::Key(key.to_owned())),
            message: message.into(),
        }
    }

    /// A problem with a combination of fields, named by `field` where one
    /// field must be named.
    pub fn combination(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            sub: Some(Sub::Combination),
            message: message.into(),
        }
    }

    /// The field path as the admin API and the CLI name it: `weight`,
    /// `members[1]`, `models.gpt-4o`.
    pub fn path(&self) -> String {
        match &self.sub {
            None | Some(Sub::Combination) => self.field.to_owned(),
            Some(Sub::Index(i)) => format!("{}[{i}]", self.field),
            Some(Sub::Key(k)) => format!("{}.{k}", self.field),
        }
    }

    /// The field path as the config file names it, map keys quoted:
    /// `members[1]`, `models."gpt-4o"`; empty for a combination of fields
    /// (the config file names the entity).
    pub fn key_path(&self) -> String {
        match &self.sub {
            Some(Sub::Key(k)) => format!("{}.{k:?}", self.field),
            Some(Sub::Combination) => String::new(),
            _ => self.path(),
        }
    }
}

impl fmt::Display for EntityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path(), self.message)
    }
}

impl std::error::Error for EntityError {}

// ------------------------------------------------------------------ single values

/// Whether `id` is a valid account or pool id: `[A-Za-z0-9_.-]{1,64}`.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Checks an account or pool id (also a pool member or a fallback pool) in
/// `field`.
pub fn check_id(field: &'static str, id: &str) -> Result<(), EntityError> {
    if is_valid_id(id) {
        Ok(())
    } else {
        Err(EntityError::new(field, ID_RULE))
    }
}

/// Checks an account weight against [`WEIGHT_RANGE`].
pub fn check_weight(weight: u32) -> Result<(), EntityError> {
    if WEIGHT_RANGE.contains(&weight) {
        Ok(())
    } else {
        Err(EntityError::new(
            "weight",
            format!("must be in {WEIGHT_MIN}..={WEIGHT_MAX}, got {weight}"),
        ))
    }
}

/// Parses a vendor name (`open_ai`, `anthropic`, …).
pub fn check_vendor(name: &str) -> Result<Vendor, EntityError> {
    Vendor::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = Vendor::ALL.iter().map(|v| v.as_str()).collect();
        EntityError::new(
            "vendor",
            format!(
                "unknown vendor '{name}'; {}expected one of {}",
                did_you_mean(name, &names),
                names.join(", ")
            ),
        )
    })
}

/// Parses a protocol name (`openai`, `anthropic`, `gemini`).
pub fn check_protocol(name: &str) -> Result<Protocol, EntityError> {
    Protocol::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = Protocol::ALL.iter().map(|p| p.as_str()).collect();
        EntityError::new(
            "protocol",
            format!(
                "unknown protocol '{name}'; expected one of {}",
                names.join(", ")
            ),
        )
    })
}

/// Checks an `anthropic_version` (the `anthropic-version` header value):
/// not blank, printable ASCII, at most [`MAX_ANTHROPIC_VERSION_LEN`]
/// characters.
pub fn check_anthropic_version(version: &str) -> Result<(), EntityError> {
    if version.trim().is_empty() {
        return Err(EntityError::new(
            "anthropic_version",
            format!("must not be empty (e.g. {DEFAULT_ANTHROPIC_VERSION:?})"),
        ));
    }
    if !version.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return Err(EntityError::new(
            "anthropic_version",
            "must be printable ASCII",
        ));
    }
    if version.len() > MAX_ANTHROPIC_VERSION_LEN {
        return Err(EntityError::new(
            "anthropic_version",
            format!(
                "must be at most {MAX_ANTHROPIC_VERSION_LEN} characters, got {}",
                version.len()
            ),
        ));
    }
    Ok(())
}

/// Checks a `default_max_tokens`: at least [`DEFAULT_MAX_TOKENS_MIN`].
pub fn check_default_max_tokens(tokens: u32) -> Result<(), EntityError> {
    if tokens >= DEFAULT_MAX_TOKENS_MIN {
        Ok(())
    } else {
        Err(EntityError::new(
            "default_max_tokens",
            format!("must be at least {DEFAULT_MAX_TOKENS_MIN}, got {tokens}"),
        ))
    }
}

/// Parses a strategy name (`priority`, `round_robin`, …).
pub fn check_strategy(name: &str) -> Result<Strategy, EntityError> {
    Strategy::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = Strategy::ALL.iter().map(|s| s.as_str()).collect();
        EntityError::new(
            "strategy",
            format!(
                "unknown strategy '{name}'; {}expected one of {}",
                did_you_mean(name, &names),
                names.join(", ")
            ),
        )
    })
}

/// `did you mean 'x'? ` when a known name is close to `name`, else nothing.
fn did_you_mean(name: &str, names: &[&str]) -> String {
    crate::suggest::closest(name, names.iter().copied())
        .map(|near| format!("did you mean '{near}'? "))
        .unwrap_or_default()
}

/// Whether `name` is a portable environment variable name:
/// `[A-Za-z_][A-Za-z0-9_]{0,254}`.
pub fn is_env_var_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && name.len() <= MAX_ENV_VAR_LEN
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Checks the environment variable name of an account's key (`api_key_env`).
/// Never echoes the value: a key pasted there by mistake must not reach logs.
pub fn check_api_key_env(name: &str) -> Result<(), EntityError> {
    if name.trim().is_empty() {
        return Err(EntityError::new(
            "api_key_env",
            "must not be empty; name an environment variable or remove the key",
        ));
    }
    if !is_env_var_name(name) {
        return Err(EntityError::new(
            "api_key_env",
            "is not an environment variable name (letters, digits and `_`, not starting \
             with a digit, at most 255 characters); put the secret itself in that variable",
        ));
    }
    Ok(())
}

/// Checks the key file path of an account (`api_key_file`).
pub fn check_api_key_file(path: &str) -> Result<(), EntityError> {
    if path.trim().is_empty() {
        return Err(EntityError::new(
            "api_key_file",
            "must not be empty; give a file path or remove the key",
        ));
    }
    if path.chars().any(char::is_control) {
        return Err(EntityError::new(
            "api_key_file",
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// Checks an upstream base URL: `http` or `https`, a host, optional port and
/// path, no userinfo, query or fragment, no whitespace.
///
/// Returns the reason when invalid. Never echoes the URL (it might carry a
/// credential by mistake).
pub fn check_base_url(url: &str) -> Result<(), String> {
    if url.trim().is_empty() {
        return Err("must not be empty".to_owned());
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain whitespace or control characters".to_owned());
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err("must be an absolute http:// or https:// URL".to_owned());
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(format!("must use http or https, not `{scheme}`"));
    }
    if rest.contains('#') {
        return Err("must not contain a fragment (`#...`)".to_owned());
    }
    if rest.contains('?') {
        return Err("must not contain a query string (`?...`)".to_owned());
    }
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return Err(
            "must not contain credentials (`user:pass@`); use api_key_env or api_key_file"
                .to_owned(),
        );
    }
    let (host, port) = if let Some(after) = authority.strip_prefix('[') {
        let Some((v6, tail)) = after.split_once(']') else {
            return Err("has an unterminated IPv6 address".to_owned());
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err("has an invalid IPv6 address".to_owned());
        }
        match tail {
            "" => (v6, None),
            t => match t.strip_prefix(':') {
                Some(p) => (v6, Some(p)),
                None => return Err("has an invalid authority".to_owned()),
            },
        }
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("must name a host".to_owned());
    }
    if !authority.starts_with('[')
        && !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        return Err("has an invalid host name".to_owned());
    }
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(p) if p > 0 && !port.starts_with('+') => {}
            _ => return Err("has an invalid port (1..=65535)".to_owned()),
        }
    }
    Ok(())
}

/// Checks the base URL of an account of `vendor`: a given URL must pass
/// [`check_base_url`]; without one the vendor must have a default
/// (`custom` has none).
pub fn check_account_base_url(vendor: Vendor, base_url: Option<&str>) -> Result<(), EntityError> {
    match base_url {
        Some(url) => check_base_url(url).map_err(|m| EntityError::new("base_url", m)),
        None if vendor.default_base_url().is_none() => Err(EntityError::new(
            "base_url",
            format!(
                "is required for vendor \"{}\" (there is no default)",
                vendor.as_str()
            ),
        )),
        None => Ok(()),
    }
}

/// Checks an account's (effective) base URL against the egress policy: the
/// config file, the admin API and `rook-cli` refuse a URL the gateway would
/// refuse to dial. Names that pass are checked again on their resolved
/// addresses at connect time.
pub fn check_egress(
    policy: &crate::egress::EgressPolicy,
    base_url: &str,
) -> Result<(), EntityError> {
    policy
        .check_url(base_url)
        .map_err(|e| EntityError::new("base_url", e.to_string()))
}

/// Checks a logical model name (a route's `model` or `fallback_route`) in
/// `field`: not blank, at most [`MAX_MODEL_LEN`] bytes, no control
/// characters. `/` and `:` are fine.
pub fn check_model_name(field: &'static str, model: &str) -> Result<(), EntityError> {
    if model.trim().is_empty() {
        return Err(EntityError::new(field, "must not be empty"));
    }
    if model.len() > MAX_MODEL_LEN {
        return Err(EntityError::new(
            field,
            format!("must be at most {MAX_MODEL_LEN} bytes"),
        ));
    }
    if model.chars().any(char::is_control) {
        return Err(EntityError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// Checks an account's model map (logical → upstream name): neither side
/// blank. Every problem is returned.
pub fn check_model_map(models: &BTreeMap<String, String>) -> Vec<EntityError> {
    let mut out = Vec::new();
    for (logical, upstream) in models {
        if logical.trim().is_empty() {
            out.push(EntityError::new(
                "models",
                "logical model name must not be empty",
            ));
        }
        if upstream.trim().is_empty() {
            out.push(EntityError::key(
                "models",
                logical,
                "upstream model name must not be empty",
            ));
        }
    }
    out
}

/// Checks that a pool lists members (the registry may hold a pool without
/// members while it is being built; a declared pool needs at least one).
pub fn check_has_members(members: &[String]) -> Result<(), EntityError> {
    if members.is_empty() {
        Err(EntityError::new(
            "members",
            "must list at least one account id",
        ))
    } else {
        Ok(())
    }
}

/// Checks a pool's member list: every member a valid id, none listed twice.
/// Every problem is returned. An empty list passes (see
/// [`check_has_members`]).
pub fn check_members(members: &[String]) -> Vec<EntityError> {
    let mut out = Vec::new();
    for (i, m) in members.iter().enumerate() {
        if !is_valid_id(m) {
            out.push(EntityError::at("members", i, ID_RULE));
        }
        if members[..i].contains(m) {
            out.push(EntityError::at(
                "members",
                i,
                format!("{m:?} is listed more than once"),
            ));
        }
    }
    out
}

// ------------------------------------------------------------------ records

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

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn rendered(errors: &[EntityError]) -> Vec<String> {
        errors.iter().map(EntityError::to_string).collect()
    }

    #[test]
    fn ids() {
        let long = "x".repeat(MAX_ID_LEN);
        let too_long = "x".repeat(MAX_ID_LEN + 1);
        let table: &[(&str, bool)] = &[
            ("openai-a.1_B", true),
            ("a", true),
            (&long, true),
            ("", false),
            ("a b", false),
            ("a/b", false),
            ("é", false),
            (&too_long, false),
        ];
        for (id, ok) in table {
            assert_eq!(is_valid_id(id), *ok, "{id:?}");
            assert_eq!(check_id("id", id).is_ok(), *ok, "{id:?}");
        }
        assert_eq!(
            check_id("pool", "a b").err().map(|e| e.to_string()),
            Some(format!("pool: {ID_RULE}"))
        );
    }

    #[test]
    fn weights() {
        let table = [
            (0, false),
            (WEIGHT_MIN, true),
            (DEFAULT_WEIGHT, true),
            (500, true),
            (WEIGHT_MAX, true),
            (WEIGHT_MAX + 1, false),
            (u32::MAX, false),
        ];
        for (w, ok) in table {
            assert_eq!(check_weight(w).is_ok(), ok, "{w}");
        }
        assert_eq!(
            check_weight(1001).err().map(|e| e.to_string()),
            Some("weight: must be in 1..=1000, got 1001".to_string())
        );
    }

    #[test]
    fn vendors_and_strategies() {
        for v in Vendor::ALL {
            assert_eq!(check_vendor(v.as_str()), Ok(v));
        }
        for s in Strategy::ALL {
            assert_eq!(check_strategy(s.as_str()), Ok(s));
        }
        let table: &[(&str, &str)] = &[
            ("openai", "unknown vendor 'openai'"),
            ("", "unknown vendor ''"),
            ("OPEN_AI", "unknown vendor 'OPEN_AI'"),
        ];
        for (name, fragment) in table {
            let e = check_vendor(name).err().map(|e| e.to_string());
            assert!(e.as_deref().is_some_and(|e| e.contains(fragment)), "{e:?}");
        }
        // Spelling hints for the commonest traps (`protocol = "openai"` is valid).
        type Check = fn(&str) -> Option<String>;
        let hints: &[(Check, &str, &str)] = &[
            (
                |n| check_vendor(n).err().map(|e| e.to_string()),
                "openai",
                "did you mean 'open_ai'?",
            ),
            (
                |n| check_vendor(n).err().map(|e| e.to_string()),
                "openrouter",
                "did you mean 'open_router'?",
            ),
            (
                |n| check_vendor(n).err().map(|e| e.to_string()),
                "deepseek",
                "did you mean 'deep_seek'?",
            ),
            (
                |n| check_strategy(n).err().map(|e| e.to_string()),
                "round-robin",
                "did you mean 'round_robin'?",
            ),
            (
                |n| check_strategy(n).err().map(|e| e.to_string()),
                "least-busy",
                "did you mean 'least_busy'?",
            ),
        ];
        for (check, name, hint) in hints {
            let e = check(name);
            assert!(
                e.as_deref().is_some_and(|e| e.contains(hint)),
                "{name}: {e:?}"
            );
        }
        assert_eq!(check_protocol("openai"), Ok(Protocol::OpenAi));
        let e = check_strategy("random").err().map(|e| e.to_string());
        assert!(
            e.as_deref()
                .is_some_and(|e| e.starts_with("strategy: unknown strategy 'random'")
                    && e.contains("round_robin")),
            "{e:?}"
        );
    }

    #[test]
    fn protocols() {
        for p in Protocol::ALL {
            assert_eq!(check_protocol(p.as_str()), Ok(p));
        }
        let table: &[(&str, &str)] = &[
            (
                "grpc",
                "protocol: unknown protocol 'grpc'; expected one of openai, anthropic, gemini",
            ),
            (
                "",
                "protocol: unknown protocol ''; expected one of openai, anthropic, gemini",
            ),
            (
                "open_ai",
                "protocol: unknown protocol 'open_ai'; expected one of openai, anthropic, gemini",
            ),
            (
                "OpenAI",
                "protocol: unknown protocol 'OpenAI'; expected one of openai, anthropic, gemini",
            ),
        ];
        for (name, want) in table {
            let got = check_protocol(name).err().map(|e| e.to_string());
            assert_eq!(got.as_deref(), Some(*want), "{name:?}");
        }
    }

    #[test]
    fn anthropic_versions() {
        let longest = "v".repeat(MAX_ANTHROPIC_VERSION_LEN);
        let too_long = "v".repeat(MAX_ANTHROPIC_VERSION_LEN + 1);
        let table: &[(&str, Option<&str>)] = &[
            (DEFAULT_ANTHROPIC_VERSION, None),
            ("2024-10-22", None),
            ("beta 1", None),
            (&longest, None),
            (
                "",
                Some("anthropic_version: must not be empty (e.g. \"2023-06-01\")"),
            ),
            (
                "  ",
                Some("anthropic_version: must not be empty (e.g. \"2023-06-01\")"),
            ),
            (
                "2023\n06",
                Some("anthropic_version: must be printable ASCII"),
            ),
            (
                "2023-06-01é",
                Some("anthropic_version: must be printable ASCII"),
            ),
            (
                &too_long,
                Some("anthropic_version: must be at most 64 characters, got 65"),
            ),
        ];
        for (version, want) in table {
            let got = check_anthropic_version(version)
                .err()
                .map(|e| e.to_string());
            assert_eq!(got.as_deref(), *want, "{version:?}");
        }
    }

    #[test]
    fn default_max_tokens() {
        let table: &[(u32, Option<&str>)] = &[
            (0, Some("default_max_tokens: must be at least 1, got 0")),
            (1, None),
            (DEFAULT_MAX_TOKENS, None),
            (u32::MAX, None),
        ];
        for (tokens, want) in table {
            let got = check_default_max_tokens(*tokens)
                .err()
                .map(|e| e.to_string());
            assert_eq!(got.as_deref(), *want, "{tokens}");
        }
    }

    #[test]
    fn base_urls() {
        let table: &[(&str, Option<&str>)] = &[
            ("https://api.openai.com/v1", None),
            ("http://localhost:8080", None),
            ("http://[::1]:8080/v1/", None),
            ("HTTPS://Example.com", None),
            ("", Some("empty")),
            ("api.openai.com/v1", Some("absolute")),
            ("ftp://host/x", Some("http or https")),
            ("https://user:pw@host/v1", Some("credentials")),
            ("https://host/v1?key=x", Some("query")),
            ("https://host/v1#frag", Some("fragment")),
            ("https:///v1", Some("host")),
            ("https://host:0/", Some("port")),
            ("https://host:99999/", Some("port")),
            ("https://host:+80/", Some("port")),
            ("https://ho st/", Some("whitespace")),
            ("https://[::1/", Some("IPv6")),
            ("https://[zz]/", Some("IPv6")),
            ("https://[::1]x/", Some("authority")),
            ("https://h*st/", Some("host name")),
        ];
        for (url, want) in table {
            match (check_base_url(url), want) {
                (Ok(()), None) => {}
                (Err(m), Some(fragment)) => assert!(m.contains(fragment), "{url:?}: {m}"),
                (got, want) => panic!("{url:?}: got {got:?}, want {want:?}"),
            }
        }
        assert!(check_account_base_url(Vendor::OpenAi, None).is_ok());
        let e = check_account_base_url(Vendor::Custom, None).err();
        assert_eq!(
            e.map(|e| e.to_string()),
            Some("base_url: is required for vendor \"custom\" (there is no default)".into())
        );
    }

    #[test]
    fn key_references() {
        let table: &[(&str, bool)] = &[
            ("OPENAI_KEY", true),
            ("_x1", true),
            ("", false),
            (" ", false),
            ("1BAD", false),
            ("sk-live-123", false),
        ];
        for (name, ok) in table {
            assert_eq!(check_api_key_env(name).is_ok(), *ok, "{name:?}");
        }
        assert!(!is_env_var_name(&"A".repeat(MAX_ENV_VAR_LEN + 1)));
        assert!(is_env_var_name(&"A".repeat(MAX_ENV_VAR_LEN)));
        for (path, ok) in [("/k", true), ("", false), ("a\nb", false)] {
            assert_eq!(check_api_key_file(path).is_ok(), ok, "{path:?}");
        }
    }

    #[test]
    fn model_names() {
        let long = "m".repeat(MAX_MODEL_LEN);
        let too_long = "m".repeat(MAX_MODEL_LEN + 1);
        let table: &[(&str, bool)] = &[
            ("gpt-4o", true),
            ("meta/llama-3:70b", true),
            (&long, true),
            ("", false),
            ("  ", false),
            (&too_long, false),
            ("a\tb", false),
        ];
        for (model, ok) in table {
            assert_eq!(check_model_name("model", model).is_ok(), *ok, "{model:?}");
        }
    }

    #[test]
    fn model_maps() {
        let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        assert!(check_model_map(&map(&[("gpt-4o", "gpt-4o-2024")])).is_empty());
        let errors = check_model_map(&map(&[("m", " ")]));
        assert_eq!(
            rendered(&errors),
            ["models.m: upstream model name must not be empty"]
        );
        assert_eq!(errors[0].key_path(), "models.\"m\"");
        let errors = check_model_map(&map(&[("", "x")]));
        assert_eq!(
            rendered(&errors),
            ["models: logical model name must not be empty"]
        );
    }

    #[test]
    fn accounts() {
        let none = BTreeMap::new();
        let ok = AccountRef {
            id: "a",
            vendor: "open_ai",
            base_url: None,
            api_key_env: Some("KEY_A"),
            api_key_file: None,
            weight: 1,
            models: &none,
            protocol: None,
            anthropic_version: None,
            default_max_tokens: None,
        };
        assert!(check_account(&ok).is_empty());
        let table: Vec<(AccountRef<'_>, Vec<&str>)> = vec![
            (AccountRef { id: "a b", ..ok }, vec!["id"]),
            (AccountRef { vendor: "x", ..ok }, vec!["vendor"]),
            (
                AccountRef {
                    vendor: "x",
                    base_url: Some("ftp://h"),
                    ..ok
                },
                vec!["vendor", "base_url"],
            ),
            (
                AccountRef {
                    vendor: "custom",
                    ..ok
                },
                vec!["base_url"],
            ),
            (
                AccountRef {
                    vendor: "custom",
                    base_url: Some("http://127.0.0.1:9/v1"),
                    ..ok
                },
                vec![],
            ),
            (
                AccountRef {
                    api_key_file: Some("/k"),
                    ..ok
                },
                vec!["api_key_file"],
            ),
            (
                AccountRef {
                    api_key_env: Some("1X"),
                    ..ok
                },
                vec!["api_key_env"],
            ),
            (AccountRef { weight: 0, ..ok }, vec!["weight"]),
            (
                AccountRef {
                    protocol: Some("gemini"),
                    anthropic_version: Some("2023-06-01"),
                    default_max_tokens: Some(1),
                    ..ok
                },
                vec![],
            ),
            (
                AccountRef {
                    protocol: Some("grpc"),
                    ..ok
                },
                vec!["protocol"],
            ),
            (
                AccountRef {
                    anthropic_version: Some(""),
                    ..ok
                },
                vec!["anthropic_version"],
            ),
            (
                AccountRef {
                    default_max_tokens: Some(0),
                    ..ok
                },
                vec!["default_max_tokens"],
            ),
        ];
        for (account, fields) in table {
            let got: Vec<&str> = check_account(&account).iter().map(|e| e.field).collect();
            assert_eq!(got, fields, "{account:?}");
        }
    }

    #[test]
    fn pools() {
        let members = strings(&["a", "b"]);
        let ok = PoolRef {
            id: "p",
            strategy: "round_robin",
            members: &members,
            fallback_pool: None,
        };
        assert!(check_pool(&ok).is_empty());
        let dup = strings(&["a", "b", "a"]);
        let bad = strings(&["a", "b c"]);
        let empty: Vec<String> = Vec::new();
        let table: Vec<(PoolRef<'_>, Vec<&str>)> = vec![
            (PoolRef { id: "", ..ok }, vec!["id: must be 1 to 64"]),
            (
                PoolRef {
                    strategy: "random",
                    ..ok
                },
                vec!["strategy: unknown strategy 'random'"],
            ),
            (
                PoolRef {
                    members: &dup,
                    ..ok
                },
                vec!["members[2]: \"a\" is listed more than once"],
            ),
            (
                PoolRef {
                    members: &bad,
                    ..ok
                },
                vec!["members[1]: must be"],
            ),
            (
                PoolRef {
                    members: &empty,
                    ..ok
                },
                vec![],
            ),
            (
                PoolRef {
                    fallback_pool: Some("p"),
                    ..ok
                },
                vec!["fallback_pool: a pool cannot fall back to itself"],
            ),
            (
                PoolRef {
                    fallback_pool: Some("q r"),
                    ..ok
                },
                vec!["fallback_pool: must be"],
            ),
        ];
        for (pool, want) in table {
            let got = rendered(&check_pool(&pool));
            assert_eq!(got.len(), want.len(), "{pool:?}: {got:?}");
            for (g, w) in got.iter().zip(&want) {
                assert!(g.starts_with(w), "{pool:?}: {g:?} vs {w:?}");
            }
        }
        let self_fb = PoolRef {
            fallback_pool: Some("p"),
            ..ok
        };
        assert!(check_pool_fields(&self_fb).is_empty());
        assert!(check_has_members(&members).is_ok());
        assert_eq!(
            check_has_members(&empty).err().map(|e| e.to_string()),
            Some("members: must list at least one account id".into())
        );
    }

    #[test]
    fn routes() {
        let ok = RouteRef {
            model: "gpt-4o",
            pool: "p",
            fallback_route: Some("gpt-4o-mini"),
        };
        assert!(check_route(&ok).is_empty());
        let table: Vec<(RouteRef<'_>, Vec<&str>)> = vec![
            (RouteRef { model: " ", ..ok }, vec!["model"]),
            (RouteRef { pool: "a/b", ..ok }, vec!["pool"]),
            (
                RouteRef {
                    fallback_route: Some(""),
                    ..ok
                },
                vec!["fallback_route"],
            ),
            (
                RouteRef {
                    fallback_route: Some("gpt-4o"),
                    ..ok
                },
                vec!["fallback_route"],
            ),
        ];
        for (route, fields) in table {
            let got: Vec<&str> = check_route(&route).iter().map(|e| e.field).collect();
            assert_eq!(got, fields, "{route:?}");
        }
        let self_fb = RouteRef {
            fallback_route: Some("gpt-4o"),
            ..ok
        };
        assert!(check_route_fields(&self_fb).is_empty());
    }

    #[test]
    fn references() {
        let members = strings(&["a", "zz", "bad id"]);
        let pool = PoolRef {
            id: "p",
            strategy: "failover",
            members: &members,
            fallback_pool: Some("nope"),
        };
        let got = rendered(&check_pool_references(&pool, |a| a == "a", |p| p == "p"));
        assert_eq!(
            got,
            [
                "members[1]: \"zz\" is not a declared account id",
                "fallback_pool: \"nope\" is not a declared pool id",
            ]
        );
        let route = RouteRef {
            model: "m",
            pool: "nope",
            fallback_route: Some("ghost"),
        };
        let got = rendered(&check_route_references(&route, |p| p == "p", |m| m == "m"));
        assert_eq!(
            got,
            [
                "pool: \"nope\" is not a declared pool id",
                "fallback_route: \"ghost\" is not the model of a declared route",
            ]
        );
    }

    #[test]
    fn cycles() {
        type Case = (Vec<Option<usize>>, Vec<Vec<usize>>);
        let table: Vec<Case> = vec![
            (vec![], vec![]),
            (vec![None, None], vec![]),
            (vec![Some(0)], vec![vec![0]]),
            (vec![Some(1), Some(0)], vec![vec![0, 1]]),
            // 0 -> 1 -> 2 -> 1 ; 3 -> 3 ; 4 -> none
            (
                vec![Some(1), Some(2), Some(1), Some(3), None],
                vec![vec![1, 2], vec![3]],
            ),
            // a chain is fine
            (vec![Some(1), Some(2), None], vec![]),
            // an index out of range ends the chain
            (vec![Some(7)], vec![]),
        ];
        for (next, want) in table {
            assert_eq!(fallback_cycles(&next), want, "{next:?}");
        }
    }

    #[test]
    fn paths() {
        let e = EntityError::key("models", "gpt-4o", "x");
        assert_eq!(e.path(), "models.gpt-4o");
        assert_eq!(e.key_path(), "models.\"gpt-4o\"");
        let e = EntityError::at("members", 2, "x");
        assert_eq!(e.path(), "members[2]");
        assert_eq!(e.key_path(), "members[2]");
        let e = EntityError::combination("api_key_file", "x");
        assert_eq!(e.to_string(), "api_key_file: x");
        assert_eq!(e.key_path(), "");
    }
}
