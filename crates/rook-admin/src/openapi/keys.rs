//! The client key paths, schemas and tag (`/api/keys…`).

use serde_json::{json, Value};

use rook_config::entity::client_key;

use super::{key_body as body, key_ok as ok, key_responses as responses};
use crate::keys::MAX_GRACE_SECONDS;

/// Adds the client key paths, schemas and tag to the OpenAPI document.
pub(crate) fn extend_openapi(doc: &mut Value) {
    let write: &[(&str, &str)] = &[
        ("400", "BadRequest"),
        ("404", "NotFound"),
        ("409", "Conflict"),
        ("503", "DatabaseUnavailable"),
    ];
    let read: &[(&str, &str)] = &[("404", "NotFound"), ("503", "DatabaseUnavailable")];
    let key_param =
        json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}});
    let paths = json!({
        "/api/keys": {
            "get": {
                "operationId": "listClientKeys", "tags": ["keys"],
                "summary": "Every client key (the `default` key of [inbound_auth] first, revoked keys too) with its current spend",
                "responses": responses(json!({"200": ok("Keys.", "ClientKeyList")}), &[("503", "DatabaseUnavailable")]),
            },
            "post": {
                "operationId": "createClientKey", "tags": ["keys"],
                "summary": "Create a key; the answer holds its `secret`, shown only this once",
                "requestBody": body("ClientKeyCreate"),
                "responses": responses(json!({"201": ok("Created; `secret` is shown only here.", "ClientKeyWithSecret")}), write),
            }
        },
        "/api/keys/{id}": {
            "parameters": [key_param.clone()],
            "get": {
                "operationId": "getClientKey", "tags": ["keys"],
                "summary": "One key with `spend_usd` of its current budget period, `budget_usd`, `period_resets_at` and `requests_today`",
                "responses": responses(json!({"200": ok("The key.", "ClientKey")}), read),
            },
            "patch": {
                "operationId": "updateClientKey", "tags": ["keys"],
                "summary": "Change some settings of an API-managed key (`null` clears one); the secret stays",
                "requestBody": body("ClientKeyPatch"),
                "responses": responses(json!({"200": ok("Updated.", "ClientKey")}), write),
            },
            "delete": {
                "operationId": "revokeClientKey", "tags": ["keys"],
                "summary": "Revoke an API-managed key for good (the next request with it gets 401); the row stays for usage history",
                "responses": responses(json!({"200": ok("Revoked.", "ClientKey")}), write),
            }
        },
        "/api/keys/{id}/rotate": {
            "parameters": [key_param],
            "post": {
                "operationId": "rotateClientKey", "tags": ["keys"],
                "summary": "Give the key a new secret (shown once); the old one stops at once, or after `grace_seconds`",
                "requestBody": {"required": false, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false, "properties": {"grace_seconds": {"type": "integer", "minimum": 0, "maximum": MAX_GRACE_SECONDS, "default": 0}}}}}},
                "responses": responses(json!({"200": ok("Rotated; `secret` is shown only here.", "ClientKeyWithSecret")}), write),
            }
        },
    });
    let settings = json!({
        "name": {"type": "string", "maxLength": client_key::MAX_LABEL_LEN},
        "owner": {"type": "string", "nullable": true, "maxLength": client_key::MAX_LABEL_LEN},
        "models": {"type": "array", "maxItems": client_key::MAX_MODELS, "items": {"type": "string"}, "description": "Allowed logical models; `*` matches any run of characters; empty = every model."},
        "budget_usd": {"type": "number", "nullable": true, "exclusiveMinimum": true, "minimum": 0, "maximum": client_key::MAX_BUDGET_USD, "description": "Needs `budget_period`."},
        "budget_period": {"type": "string", "nullable": true, "enum": ["day", "week", "month", "total"], "description": "UTC calendar periods (weeks start on Monday)."},
        "requests_per_minute": {"type": "integer", "nullable": true, "minimum": 1, "maximum": client_key::MAX_KEY_RPM},
        "tokens_per_minute": {"type": "integer", "nullable": true, "minimum": 1, "maximum": client_key::MAX_KEY_TPM},
        "expires_at": {"type": "string", "nullable": true, "description": "`YYYY-MM-DD` (UTC midnight) or RFC 3339."},
        "enabled": {"type": "boolean", "default": true},
        "metadata": {"type": "object", "description": "Free-form, at most 4096 bytes of JSON."},
    });
    let mut create = settings.clone();
    if let Value::Object(m) = &mut create {
        m.insert("id".into(), json!({"type": "string", "pattern": rook_config::entity::ID_PATTERN, "description": "Default: the name in lowercase with `-` for other characters. `default` is reserved."}));
    }
    let mut view = settings.clone();
    if let Value::Object(m) = &mut view {
        for (k, v) in [
            ("id", json!({"type": "string"})),
            (
                "prefix",
                json!({"type": "string", "nullable": true, "description": "The secret's first characters (`rk-AbC1…`), for recognition."}),
            ),
            (
                "state",
                json!({"type": "string", "enum": ["active", "disabled", "expired", "revoked"]}),
            ),
            (
                "revoked_at",
                json!({"type": "string", "nullable": true, "format": "date-time"}),
            ),
            (
                "rotation_grace_until",
                json!({"type": "string", "nullable": true, "format": "date-time"}),
            ),
            (
                "created_at",
                json!({"type": "string", "nullable": true, "format": "date-time"}),
            ),
            (
                "updated_at",
                json!({"type": "string", "nullable": true, "format": "date-time"}),
            ),
            (
                "last_used_at",
                json!({"type": "string", "nullable": true, "format": "date-time", "description": "Written in batches (about every 10 s)."}),
            ),
            (
                "source",
                json!({"type": "string", "enum": ["config", "api"]}),
            ),
            (
                "spend_usd",
                json!({"type": "number", "description": "Spend in the current budget period (all time without a budget)."}),
            ),
            (
                "period_start",
                json!({"type": "string", "nullable": true, "format": "date-time"}),
            ),
            (
                "period_resets_at",
                json!({"type": "string", "nullable": true, "format": "date-time"}),
            ),
            (
                "requests_today",
                json!({"type": "integer", "description": "Requests since 00:00 UTC."}),
            ),
        ] {
            m.insert(k.into(), v);
        }
    }
    let mut with_secret = view.clone();
    if let Value::Object(m) = &mut with_secret {
        m.insert("secret".into(), json!({"type": "string", "description": "`rk-` and 43 base62 characters; store it now, it is never shown again."}));
    }
    let schemas = json!({
        "ClientKeyCreate": {"type": "object", "additionalProperties": false, "required": ["name"], "properties": create},
        "ClientKeyPatch": {"type": "object", "additionalProperties": false, "properties": settings},
        "ClientKey": {"type": "object", "required": ["id", "name", "state", "source"], "properties": view},
        "ClientKeyWithSecret": {"type": "object", "required": ["id", "secret"], "properties": with_secret},
        "ClientKeyList": {"type": "object", "required": ["keys"], "properties": {"keys": {"type": "array", "items": {"$ref": "#/components/schemas/ClientKey"}}}},
    });
    if let (Some(Value::Object(dst)), Value::Object(src)) = (doc.get_mut("paths"), paths) {
        dst.extend(src);
    }
    if let (Some(Value::Object(dst)), Value::Object(src)) =
        (doc.pointer_mut("/components/schemas"), schemas)
    {
        dst.extend(src);
    }
    if let Some(Value::Array(tags)) = doc.get_mut("tags") {
        tags.push(json!({"name": "keys"}));
    }
}
