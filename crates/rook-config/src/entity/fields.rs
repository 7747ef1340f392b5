//! Rules on single fields: ids, weights, vendors, protocols, versions, key
//! variables and files, base URLs, model names, pool members.

use std::collections::BTreeMap;

use super::*;
use crate::model::{Protocol, Strategy, Vendor};

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
