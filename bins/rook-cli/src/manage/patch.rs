//! Command-line flags as record changes, with errors naming the flag, and the
//! vendor/protocol defaults of accounts.

use rook_gateway::rook_config::entity::{self, EntityError, Sub};
use rook_gateway::rook_config::{Protocol, Vendor};
use serde_json::{Map, Value};

use crate::common::CliError;

use super::args::{AccountFields, PoolFields, RouteFields};
use super::backend::opt_string;

/// A broken entity rule as a failure naming the flag (and the value of a
/// repeatable flag): `--weight: must be in 1..=1000, got 0`.
pub(super) fn flag_error(flag: &str, values: &[String], e: EntityError) -> CliError {
    match e.sub {
        Some(Sub::Index(i)) => match values.get(i) {
            Some(v) => CliError::fail(format!("{flag} {v:?}: {}", e.message)),
            None => CliError::fail(format!("{flag}: {}", e.message)),
        },
        _ => CliError::fail(format!("{flag}: {}", e.message)),
    }
}

/// `flag_error` for a single-valued flag.
pub(super) fn flag(name: &'static str) -> impl Fn(EntityError) -> CliError {
    move |e| flag_error(name, &[], e)
}

/// The changes `--flags` make to an account record.
pub(super) fn account_patch(f: &AccountFields) -> Result<Map<String, Value>, CliError> {
    entity::check_id("id", &f.id).map_err(flag("--id"))?;
    let mut p = Map::new();
    p.insert("id".into(), Value::String(f.id.clone()));
    if let Some(v) = &f.vendor {
        entity::check_vendor(v).map_err(flag("--vendor"))?;
        p.insert("vendor".into(), Value::String(v.clone()));
    }
    if let Some(url) = &f.base_url {
        let url = url.trim().trim_end_matches('/');
        entity::check_base_url(url).map_err(|m| CliError::fail(format!("--base-url: {m}")))?;
        p.insert("base_url".into(), Value::String(url.to_string()));
    }
    if let Some(var) = &f.api_key_env {
        if !var.is_empty() {
            entity::check_api_key_env(var).map_err(flag("--api-key-env"))?;
        }
        p.insert(
            "api_key_env".into(),
            opt_string(&f.api_key_env).unwrap_or(Value::Null),
        );
        if !var.is_empty() {
            p.insert("api_key_file".into(), Value::Null);
        }
    }
    if let Some(path) = &f.api_key_file {
        if !path.is_empty() {
            entity::check_api_key_file(path).map_err(flag("--api-key-file"))?;
        }
        p.insert(
            "api_key_file".into(),
            opt_string(&f.api_key_file).unwrap_or(Value::Null),
        );
        if !path.is_empty() {
            p.insert("api_key_env".into(), Value::Null);
        }
    }
    if let Some(w) = f.weight {
        entity::check_weight(w).map_err(flag("--weight"))?;
        p.insert("weight".into(), Value::from(w));
    }
    if let Some(prio) = f.priority {
        p.insert("priority".into(), Value::from(prio));
    }
    if let Some(en) = f.enabled {
        p.insert("enabled".into(), Value::Bool(en));
    }
    if !f.models.is_empty() {
        let mut models = Map::new();
        for m in &f.models {
            let (logical, upstream) = m
                .split_once('=')
                .map(|(a, b)| (a.trim(), b.trim()))
                .filter(|(a, b)| !a.is_empty() && !b.is_empty())
                .ok_or_else(|| {
                    CliError::fail(format!("--model {m:?}: expected LOGICAL=UPSTREAM"))
                })?;
            models.insert(logical.to_string(), Value::String(upstream.to_string()));
        }
        p.insert("models".into(), Value::Object(models));
    }
    if let Some(name) = &f.protocol {
        entity::check_protocol(name).map_err(flag("--protocol"))?;
        p.insert("protocol".into(), Value::String(name.clone()));
    }
    if let Some(version) = &f.anthropic_version {
        if version.is_empty() {
            p.insert("anthropic_version".into(), Value::Null);
        } else {
            entity::check_anthropic_version(version).map_err(flag("--anthropic-version"))?;
            p.insert("anthropic_version".into(), Value::String(version.clone()));
        }
    }
    if let Some(tokens) = f.default_max_tokens {
        entity::check_default_max_tokens(tokens).map_err(flag("--default-max-tokens"))?;
        p.insert("default_max_tokens".into(), Value::from(tokens));
    }
    if let Some(on) = f.stream_usage {
        p.insert("stream_usage".into(), Value::Bool(on));
    }
    Ok(p)
}

pub(super) fn pool_patch(f: &PoolFields) -> Result<Map<String, Value>, CliError> {
    entity::check_id("id", &f.id).map_err(flag("--id"))?;
    let mut p = Map::new();
    p.insert("id".into(), Value::String(f.id.clone()));
    if let Some(s) = &f.strategy {
        entity::check_strategy(s).map_err(flag("--strategy"))?;
        p.insert("strategy".into(), Value::String(s.clone()));
    }
    if !f.members.is_empty() {
        if let Some(e) = entity::check_members(&f.members).into_iter().next() {
            return Err(flag_error("--member", &f.members, e));
        }
        p.insert(
            "members".into(),
            Value::Array(f.members.iter().cloned().map(Value::String).collect()),
        );
    }
    if let Some(v) = opt_string(&f.fallback_pool) {
        p.insert("fallback_pool".into(), v);
    }
    Ok(p)
}

pub(super) fn route_patch(f: &RouteFields) -> Result<Map<String, Value>, CliError> {
    entity::check_model_name("model", &f.model).map_err(flag("--model"))?;
    let mut p = Map::new();
    p.insert("model".into(), Value::String(f.model.clone()));
    if let Some(pool) = &f.pool {
        entity::check_id("pool", pool).map_err(flag("--pool"))?;
        p.insert("pool".into(), Value::String(pool.clone()));
    }
    if let Some(v) = opt_string(&f.fallback_route) {
        p.insert("fallback_route".into(), v);
    }
    Ok(p)
}

pub(super) fn require(p: &Map<String, Value>, field: &str, flag: &str) -> Result<(), CliError> {
    match p.get(field) {
        Some(Value::Null) | None => Err(CliError::fail(format!("{flag} is required"))),
        Some(_) => Ok(()),
    }
}

/// Fills `protocol` (the vendor's default) and `base_url` (the vendor's default
/// for that protocol) and checks the required fields of `add`.
pub(super) fn add_account_defaults(p: &mut Map<String, Value>) -> Result<(), CliError> {
    require(p, "vendor", "--vendor")?;
    let vendor = p
        .get("vendor")
        .and_then(Value::as_str)
        .and_then(Vendor::from_name);
    let given = p
        .get("protocol")
        .and_then(Value::as_str)
        .and_then(Protocol::from_name);
    let protocol = given.or(vendor.map(Vendor::default_protocol));
    if let (None, Some(protocol)) = (given, protocol) {
        p.insert(
            "protocol".into(),
            Value::String(protocol.as_str().to_string()),
        );
    }
    if p.get("base_url").is_none_or(Value::is_null) {
        let url = vendor
            .zip(protocol)
            .and_then(|(v, proto)| v.default_base_url_for(proto));
        match url {
            Some(url) => {
                p.insert("base_url".into(), Value::String(url.to_string()));
            }
            None => return Err(CliError::fail("--base-url is required for vendor custom")),
        }
    }
    Ok(())
}

/// For `accounts set`: values that were the defaults of the old vendor and
/// protocol follow a new `--vendor` / `--protocol` (as a PATCH of the admin API
/// does): the protocol when it was the vendor's default, the base URL when it
/// was the default of the vendor and protocol. [`add_account_defaults`] then
/// fills them in again.
pub(super) fn follow_vendor_defaults(record: &mut Map<String, Value>, patch: &Map<String, Value>) {
    let text = |k: &str| record.get(k).and_then(Value::as_str);
    let vendor = text("vendor").and_then(Vendor::from_name);
    let protocol = text("protocol").and_then(Protocol::from_name);
    let base_url = text("base_url");
    let default_protocol = vendor.map(Vendor::default_protocol) == protocol;
    let default_url = vendor
        .zip(protocol)
        .and_then(|(v, p)| v.default_base_url_for(p))
        .is_some_and(|url| Some(url) == base_url);
    let changes_vendor = patch.contains_key("vendor");
    if changes_vendor && !patch.contains_key("protocol") && default_protocol {
        record.remove("protocol");
    }
    if (changes_vendor || patch.contains_key("protocol"))
        && !patch.contains_key("base_url")
        && default_url
    {
        record.remove("base_url");
    }
}

#[cfg(test)]
mod tests {
    use rook_gateway::rook_registry::AccountRecord;

    use super::super::backend::from_json;
    use super::*;
    use serde_json::json;

    #[test]
    fn model_flags_become_a_map() {
        let f = AccountFields {
            id: "a".into(),
            vendor: Some("open_ai".into()),
            base_url: None,
            api_key_env: Some("KEY_A".into()),
            api_key_file: None,
            weight: None,
            priority: None,
            enabled: Some(false),
            models: vec!["gpt-4o=gpt-4o-2024".into()],
            protocol: None,
            anthropic_version: None,
            default_max_tokens: None,
            stream_usage: None,
        };
        let mut p = account_patch(&f).unwrap();
        add_account_defaults(&mut p).unwrap();
        assert_eq!(p["models"]["gpt-4o"], "gpt-4o-2024");
        assert_eq!(p["base_url"], "https://api.openai.com/v1");
        assert_eq!(p["enabled"], false);
        assert!(p["api_key_file"].is_null());
        let rec: AccountRecord = from_json(Value::Object(p)).unwrap();
        assert_eq!(rec.api_key_env.as_deref(), Some("KEY_A"));
    }

    #[test]
    fn protocol_and_base_url_defaults() {
        const GEMINI: &str = "https://generativelanguage.googleapis.com/v1beta";
        // (vendor, --protocol, protocol, base_url)
        let table = [
            ("open_ai", None, "openai", "https://api.openai.com/v1"),
            (
                "anthropic",
                None,
                "anthropic",
                "https://api.anthropic.com/v1",
            ),
            ("google", None, "gemini", GEMINI),
            (
                "google",
                Some("openai"),
                "openai",
                "https://generativelanguage.googleapis.com/v1beta/openai",
            ),
            (
                "deep_seek",
                Some("anthropic"),
                "anthropic",
                "https://api.deepseek.com/v1",
            ),
        ];
        for (vendor, flag, protocol, base_url) in table {
            let mut p = Map::new();
            p.insert("vendor".into(), json!(vendor));
            if let Some(f) = flag {
                p.insert("protocol".into(), json!(f));
            }
            add_account_defaults(&mut p).unwrap();
            assert_eq!(
                (&p["protocol"], &p["base_url"]),
                (&json!(protocol), &json!(base_url))
            );
        }
        // `set`: (current record, patch, protocol, base_url)
        let table = [
            (
                json!({"vendor": "google", "protocol": "gemini", "base_url": GEMINI}),
                json!({"protocol": "openai"}),
                "openai",
                "https://generativelanguage.googleapis.com/v1beta/openai",
            ),
            (
                json!({"vendor": "google", "protocol": "gemini", "base_url": GEMINI}),
                json!({"vendor": "anthropic"}),
                "anthropic",
                "https://api.anthropic.com/v1",
            ),
            (
                json!({"vendor": "google", "protocol": "openai", "base_url": "https://p.example/v1"}),
                json!({"vendor": "anthropic"}),
                "openai",
                "https://p.example/v1",
            ),
            (
                json!({"vendor": "google", "protocol": "gemini", "base_url": GEMINI}),
                json!({"stream_usage": false}),
                "gemini",
                GEMINI,
            ),
        ];
        for (current, patch, protocol, base_url) in table {
            let (Value::Object(mut record), Value::Object(patch)) =
                (current.clone(), patch.clone())
            else {
                panic!("objects");
            };
            follow_vendor_defaults(&mut record, &patch);
            record.extend(patch);
            add_account_defaults(&mut record).unwrap();
            assert_eq!(record["protocol"], protocol, "{current}");
            assert_eq!(record["base_url"], base_url, "{current}");
        }
    }

    #[test]
    fn bad_flags_are_rejected() {
        let f = PoolFields {
            id: "bad id".into(),
            strategy: None,
            members: vec![],
            fallback_pool: None,
        };
        assert!(pool_patch(&f).is_err());
        let f = RouteFields {
            model: "m".into(),
            pool: None,
            fallback_route: Some(String::new()),
        };
        assert!(route_patch(&f).unwrap()["fallback_route"].is_null());
    }

    #[test]
    fn flag_errors_name_the_flag() {
        let account = |weight: Option<u32>, vendor: &str| AccountFields {
            id: "a".into(),
            vendor: Some(vendor.into()),
            base_url: None,
            api_key_env: None,
            api_key_file: None,
            weight,
            priority: None,
            enabled: None,
            models: vec![],
            protocol: None,
            anthropic_version: None,
            default_max_tokens: None,
            stream_usage: None,
        };
        let pool = |members: &[&str]| PoolFields {
            id: "p".into(),
            strategy: None,
            members: members.iter().map(|m| m.to_string()).collect(),
            fallback_pool: None,
        };
        type Case = (Result<Map<String, Value>, CliError>, &'static str);
        let table: Vec<Case> = vec![
            (
                account_patch(&account(Some(0), "open_ai")),
                "--weight: must be in 1..=1000, got 0",
            ),
            (
                account_patch(&account(None, "openai")),
                "--vendor: unknown vendor 'openai'",
            ),
            (
                account_patch(&AccountFields {
                    protocol: Some("grpc".into()),
                    ..account(None, "open_ai")
                }),
                "--protocol: unknown protocol 'grpc'; expected one of openai, anthropic, gemini",
            ),
            (
                account_patch(&AccountFields {
                    anthropic_version: Some("v".repeat(65)),
                    ..account(None, "anthropic")
                }),
                "--anthropic-version: must be at most 64 characters, got 65",
            ),
            (
                account_patch(&AccountFields {
                    default_max_tokens: Some(0),
                    ..account(None, "anthropic")
                }),
                "--default-max-tokens: must be at least 1, got 0",
            ),
            (
                pool_patch(&pool(&["a", "a"])),
                "--member \"a\": \"a\" is listed more than once",
            ),
            (
                pool_patch(&pool(&["a b"])),
                "--member \"a b\": must be 1 to 64",
            ),
        ];
        for (result, want) in table {
            let message = result.err().map(|e| e.message).unwrap_or_default();
            assert!(message.contains(want), "{message:?} lacks {want:?}");
        }
        assert!(account_patch(&account(Some(1000), "open_ai")).is_ok());
    }
}
