//! The OpenAPI 3.0 document of `/api`, served at `GET /api/openapi.json`.
//!
//! Written by hand; a test checks that its paths and methods are exactly [`crate::ROUTES`].

mod components;
mod keys;
mod paths;

use rook_config::entity::{
    DEFAULT_ANTHROPIC_VERSION, DEFAULT_MAX_TOKENS, DEFAULT_MAX_TOKENS_MIN, DEFAULT_WEIGHT,
    ID_PATTERN, MAX_ANTHROPIC_VERSION_LEN, MAX_ID_LEN, MAX_MODEL_LEN, WEIGHT_MAX, WEIGHT_MIN,
};
use rook_config::{Protocol, Strategy, Vendor};
use serde_json::{json, Value};

fn schema(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn response(name: &str) -> Value {
    json!({"$ref": format!("#/components/responses/{name}")})
}

fn param(name: &str) -> Value {
    json!({"$ref": format!("#/components/parameters/{name}")})
}

fn json_content(schema_name: &str) -> Value {
    json!({"application/json": {"schema": schema(schema_name)}})
}

fn ok(description: &str, schema_name: &str) -> Value {
    json!({"description": description, "content": json_content(schema_name)})
}

fn body(schema_name: &str) -> Value {
    json!({"required": true, "content": json_content(schema_name)})
}

/// The responses every authenticated operation may give, plus `extra`.
fn responses(extra: Value, errors: &[(&str, &str)]) -> Value {
    let mut map = match extra {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    map.insert("401".into(), response("Unauthorized"));
    map.insert("405".into(), response("MethodNotAllowed"));
    for (status, name) in errors {
        map.insert((*status).to_string(), response(name));
    }
    Value::Object(map)
}

/// Errors of a write: validation, missing entity, conflicts, rejected reload, database.
const WRITE_ERRORS: &[(&str, &str)] = &[
    ("400", "BadRequest"),
    ("404", "NotFound"),
    ("409", "Conflict"),
    ("422", "InvalidConfiguration"),
    ("503", "DatabaseUnavailable"),
];
const CREATE_ERRORS: &[(&str, &str)] = &[
    ("400", "BadRequest"),
    ("409", "Conflict"),
    ("422", "InvalidConfiguration"),
    ("503", "DatabaseUnavailable"),
];
const READ_ERRORS: &[(&str, &str)] = &[("404", "NotFound"), ("503", "DatabaseUnavailable")];
const LIST_ERRORS: &[(&str, &str)] = &[("503", "DatabaseUnavailable")];

fn deleted() -> Value {
    json!({"204": {"description": "Deleted."}})
}

/// The OpenAPI 3.0 document of the admin API.
/// Helpers the client key paths (`keys.rs`) use too.
pub(crate) fn key_responses(extra: Value, errors: &[(&str, &str)]) -> Value {
    responses(extra, errors)
}

/// See [`key_responses`].
pub(crate) fn key_ok(description: &str, schema_name: &str) -> Value {
    ok(description, schema_name)
}

/// See [`key_responses`].
pub(crate) fn key_body(schema_name: &str) -> Value {
    body(schema_name)
}

pub(crate) fn document(version: &str) -> Value {
    let mut doc = json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Rook admin API",
            "version": version,
            "description": "Run-time management of accounts, pools and routes, health, status, metrics, usage and audit. Every operation needs `Authorization: Bearer <admin token>` except the two probes when `admin_auth.probes_without_auth` is true. Errors are `{\"error\":{\"code\",\"message\"}}`. Entries declared in the config file are read-only here. Before authentication the gateway refuses a `Host` it does not serve (421 `misdirected_request`), a cross-site `Origin` or `Sec-Fetch-Site` (403 `cross_origin_forbidden`) and a write without `Content-Type: application/json` (415 `unsupported_media_type`; a DELETE without a body may omit it).",
        },
        "servers": [{"url": "/"}],
        "security": [{"adminToken": []}],
        "tags": [
            {"name": "health"}, {"name": "meta"}, {"name": "accounts"}, {"name": "pools"},
            {"name": "routes"}, {"name": "usage"}, {"name": "audit"},
        ],
        "paths": paths::paths(),
        "components": components::components(),
    });
    keys::extend_openapi(&mut doc);
    crate::timeseries::extend_openapi(&mut doc);
    crate::recent::extend_openapi(&mut doc);
    doc
}

#[cfg(test)]
mod tests {
    use super::components::{account_props, pool_props, route_props};
    use super::*;

    #[test]
    fn entity_schemas_state_the_entity_rules() {
        let a = account_props(false, false);
        assert_eq!(a["weight"]["minimum"], WEIGHT_MIN);
        assert_eq!(a["weight"]["maximum"], WEIGHT_MAX);
        assert_eq!(a["id"]["pattern"], ID_PATTERN);
        assert_eq!(
            a["vendor"]["enum"].as_array().map(Vec::len),
            Some(Vendor::ALL.len())
        );
        assert_eq!(
            a["protocol"]["enum"],
            json!(["openai", "anthropic", "gemini"])
        );
        assert_eq!(
            a["anthropic_version"]["maxLength"],
            MAX_ANTHROPIC_VERSION_LEN
        );
        assert_eq!(a["default_max_tokens"]["minimum"], DEFAULT_MAX_TOKENS_MIN);
        assert_eq!(a["stream_usage"]["default"], true);
        let p = pool_props(false);
        assert_eq!(p["members"]["items"]["maxLength"], MAX_ID_LEN);
        assert_eq!(
            p["strategy"]["enum"].as_array().map(Vec::len),
            Some(Strategy::ALL.len())
        );
        let r = route_props(false);
        assert_eq!(r["model"]["maxLength"], MAX_MODEL_LEN);
        // The pattern and the length limit say the same.
        assert!(ID_PATTERN.contains(&format!("{{1,{MAX_ID_LEN}}}")));
    }
}
