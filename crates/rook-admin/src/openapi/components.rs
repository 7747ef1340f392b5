//! The `components` object: schemas of the entities, bodies and errors.

use super::*;

pub(super) fn config_reload_fields() -> Value {
    json!({
        "result": {"type": "string", "enum": ["applied", "unchanged", "rejected", "failed"]},
        "source": {"type": "string", "nullable": true, "description": "The configuration file read."},
        "applied": {"type": "array", "items": {"type": "string"}, "description": "Top-level keys whose new values are in force."},
        "restart_required": {"type": "array", "items": {"type": "string"}, "description": "Changed top-level keys that take effect at the next restart."},
        "problems": {"type": "array", "items": {"type": "string"}},
    })
}

/// An account or pool id ([`rook_config::entity::check_id`]).
fn id_schema() -> Value {
    json!({"type": "string", "pattern": ID_PATTERN, "maxLength": MAX_ID_LEN})
}

fn nullable_string(description: &str) -> Value {
    json!({"type": "string", "nullable": true, "description": description})
}

pub(super) fn account_props(with_key: bool, with_read_only: bool) -> Value {
    let mut p = json!({
        "id": id_schema(),
        "vendor": {"type": "string", "enum": Vendor::ALL.map(Vendor::as_str)},
        "base_url": {"type": "string", "description": "http(s) URL without credentials, query or fragment; defaults to the vendor's (required for `custom`)."},
        "api_key_env": nullable_string("Environment variable holding the key."),
        "api_key_file": nullable_string("File holding the key. Not together with `api_key_env`."),
        "enabled": {"type": "boolean", "default": true},
        "weight": {"type": "integer", "minimum": WEIGHT_MIN, "maximum": WEIGHT_MAX, "default": DEFAULT_WEIGHT},
        "priority": {"type": "integer", "minimum": 0, "default": 0, "description": "Lower goes first (priority/failover strategies)."},
        "models": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Logical model → upstream model name."},
        "protocol": {"type": "string", "enum": Protocol::ALL.map(Protocol::as_str), "description": "Wire protocol toward the upstream. Default by vendor: `anthropic` → `anthropic`, `google` → `gemini`, every other vendor → `openai`. Rook appends `/chat/completions`, `/messages` or `/models/{model}:generateContent` to `base_url`."},
        "anthropic_version": {"type": "string", "nullable": true, "minLength": 1, "maxLength": MAX_ANTHROPIC_VERSION_LEN, "pattern": "^[ -~]+$", "description": format!("`anthropic-version` header for `anthropic`-protocol accounts (printable ASCII); `null`: `{DEFAULT_ANTHROPIC_VERSION}`.")},
        "default_max_tokens": {"type": "integer", "nullable": true, "minimum": DEFAULT_MAX_TOKENS_MIN, "maximum": u32::MAX, "description": format!("`max_tokens` sent to `anthropic`-protocol accounts when a request gives none; `null`: {DEFAULT_MAX_TOKENS}.")},
        "stream_usage": {"type": "boolean", "default": true, "description": "Ask `openai`-protocol upstreams for usage on streams (`stream_options.include_usage`); `false` for servers that reject the field."},
    });
    if let Value::Object(m) = &mut p {
        if with_key {
            m.insert("api_key".into(), json!({
                "type": "string", "nullable": true, "writeOnly": true,
                "description": "Inline API key (write-only; takes precedence over `api_key_env`/`api_key_file`). On PUT/PATCH: a string sets it, `null` clears it, absent keeps it.",
            }));
        }
        if with_read_only {
            m.insert("has_api_key".into(), json!({"type": "boolean", "description": "Whether a key is available now: an API-managed key is stored, or `api_key_env` names a set, non-empty variable, or `api_key_file` a readable, non-empty file (the key itself is never returned)."}));
            m.insert("source".into(), json!({"type": "string", "enum": ["config", "api"], "description": "`config`: declared in the config file (read-only here)."}));
        }
    }
    p
}

pub(super) fn pool_props(with_source: bool) -> Value {
    let mut p = json!({
        "id": id_schema(),
        "strategy": {"type": "string", "enum": Strategy::ALL.map(Strategy::as_str)},
        "members": {"type": "array", "minItems": 1, "uniqueItems": true, "items": id_schema(), "description": "Account ids, in order."},
        "fallback_pool": {"type": "string", "nullable": true, "pattern": ID_PATTERN, "maxLength": MAX_ID_LEN, "description": "Pool tried when every member of this one is unavailable."},
    });
    if let (true, Value::Object(m)) = (with_source, &mut p) {
        m.insert(
            "source".into(),
            json!({"type": "string", "enum": ["config", "api"]}),
        );
    }
    p
}

pub(super) fn route_props(with_source: bool) -> Value {
    let mut p = json!({
        "model": {"type": "string", "minLength": 1, "maxLength": MAX_MODEL_LEN, "description": "The logical model clients ask for; may contain `/` and `:`."},
        "pool": {"type": "string", "pattern": ID_PATTERN, "maxLength": MAX_ID_LEN, "description": "Pool id."},
        "fallback_route": {"type": "string", "nullable": true, "minLength": 1, "maxLength": MAX_MODEL_LEN, "description": "Another route's model to fall back to."},
    });
    if let (true, Value::Object(m)) = (with_source, &mut p) {
        m.insert(
            "source".into(),
            json!({"type": "string", "enum": ["config", "api"]}),
        );
    }
    p
}

fn object(props: Value, required: &[&str]) -> Value {
    json!({"type": "object", "additionalProperties": false, "properties": props, "required": required})
}

fn open_object(props: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": props, "required": required})
}

pub(super) fn error(description: &str, codes: &[&str]) -> Value {
    json!({
        "description": format!("{description} Codes: {}.", codes.join(", ")),
        "content": json_content("Error"),
    })
}

fn audit_event() -> Value {
    open_object(
        json!({
            "id": {"type": "integer", "format": "int64"},
            "ts_ms": {"type": "integer", "format": "int64"},
            "ts": {"type": "string", "format": "date-time"},
            "request_id": {"type": "string", "nullable": true},
            "client_addr": nullable_string("The caller's address: the TCP peer, or the address a trusted proxy forwarded (`[transport] trusted_proxies`); null for events written before Rook recorded it."),
            "actor": {"type": "string"},
            "action": {"type": "string", "description": "`create`, `update`, `delete`, `set_api_key`, `clear_api_key`, `set_members`, …"},
            "entity_type": {"type": "string", "description": "`account`, `pool`, `route`, …"},
            "entity_id": {"type": "string"},
            "detail": {"description": "The entity after the change (for deletes: before); never a key."},
        }),
        &["id", "ts_ms", "actor", "action", "entity_type", "entity_id"],
    )
}

pub(super) fn components() -> Value {
    let aggregate = json!({
        "requests": {"type": "integer"},
        "failed_requests": {"type": "integer"},
        "streaming_requests": {"type": "integer"},
        "requests_without_usage": {"type": "integer", "description": "Requests that succeeded (or streamed partially) without known token counts; token and cost totals are lower bounds when it is not 0. Errors and refusals are not counted."},
        "prompt_tokens": {"type": "integer"},
        "completion_tokens": {"type": "integer"},
        "total_tokens": {"type": "integer"},
        "cost_usd": {"type": "number"},
        "latency_p50_ms": {"type": "integer"},
        "latency_p95_ms": {"type": "integer"},
    });
    let mut group = aggregate.clone();
    if let Value::Object(m) = &mut group {
        m.insert("key".into(), json!({"type": "string"}));
    }
    json!({
        "securitySchemes": {
            "adminToken": {"type": "http", "scheme": "bearer", "description": "The admin token (`admin_auth`)."}
        },
        "parameters": {
            "AccountId": {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
            "PoolId": {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
            "RouteModel": {
                "name": "model", "in": "path", "required": true,
                "description": "Everything after `/api/routes/`, percent-decoded; may contain `/` (e.g. `openai/gpt-4o`).",
                "schema": {"type": "string"},
            },
        },
        "responses": {
            "BadRequest": error("Malformed JSON, an unknown field or a value that fails validation; the message names the field or parameter.", &["invalid_request"]),
            "Unauthorized": error("Missing or wrong admin token.", &["unauthorized"]),
            "NotFound": error("No such entry.", &["not_found"]),
            "MethodNotAllowed": error("The path exists but not with this method (see the `Allow` header).", &["method_not_allowed"]),
            "Conflict": error("`conflict`: the id is taken; `reference_conflict`: the change would break a reference between accounts, pools and routes; `read_only`: the entry is declared in the config file.", &["conflict", "reference_conflict", "read_only"]),
            "InvalidConfiguration": error("Routing could not be rebuilt with the change (e.g. the account's `api_key_env` variable is not set, or a fallback cycle); the change was undone.", &["invalid_configuration"]),
            "DatabaseUnavailable": error("The registry database cannot be reached.", &["database_unavailable"]),
        },
        "schemas": {
            "Error": object(json!({
                "error": object(json!({
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                }), &["code", "message"]),
            }), &["error"]),
            "Live": open_object(json!({"status": {"type": "string", "enum": ["ok"]}}), &["status"]),
            "Readiness": open_object(json!({
                "status": {"type": "string", "enum": ["ready", "not_ready"]},
                "checks": {"type": "array", "items": open_object(json!({
                    "name": {"type": "string"},
                    "ok": {"type": "boolean"},
                    "message": {"type": "string"},
                }), &["name", "ok", "message"])},
            }), &["status", "checks"]),
            "AccountsHealth": open_object(json!({
                "accounts": {"type": "array", "items": open_object(json!({
                    "id": {"type": "string"},
                    "vendor": {"type": "string"},
                    "enabled": {"type": "boolean"},
                    "status": {"type": "string", "enum": ["healthy", "degraded", "unhealthy", "unknown"]},
                    "consecutive_failures": {"type": "integer"},
                    "cooldown_until": {"type": "string", "format": "date-time", "nullable": true},
                    "cooldown_remaining_seconds": {"type": "number", "nullable": true},
                    "last_error_class": {"type": "string", "nullable": true},
                    "in_flight": {"type": "integer", "description": "upstream requests to the account in flight on this instance"},
                }), &["id", "vendor", "enabled", "status", "consecutive_failures", "in_flight"])},
            }), &["accounts"]),
            "Status": open_object(json!({
                "version": {"type": "string"},
                "uptime_seconds": {"type": "integer"},
                "bind": {"type": "object"},
                "auth": {"type": "object"},
                "database": {"type": "object"},
                "accounts": {"type": "object"},
                "routes": {"type": "object"},
                "routes_in_panic": {"type": "array", "items": {"type": "string"}},
                "resilience": {"type": "object"},
                "recent_retry_exhaustion": {"type": "object"},
                "draining": {"type": "boolean"},
                "config_version": {"type": "integer", "nullable": true, "description": "The registry config version this instance's routing and client keys were built from."},
                "cluster": {"type": "object", "description": "`this` (instance_id, config_version, sync_mode, listener_reconnects, reloads), `registry_config_version`, and `instances`: every instance's heartbeat row with `stale` and `lagging` flags (or `error` when the database did not answer within 2 s)."},
            }), &["version", "uptime_seconds"]),
            "Account": object(account_props(false, true), &["id", "vendor", "base_url", "api_key_env", "api_key_file", "enabled", "weight", "priority", "models", "has_api_key", "source", "protocol", "anthropic_version", "default_max_tokens", "stream_usage"]),
            "AccountCreate": object(account_props(true, false), &["id", "vendor"]),
            "AccountReplace": object(account_props(true, false), &["vendor"]),
            "AccountPatch": object(account_props(true, false), &[]),
            "AccountList": open_object(json!({"accounts": {"type": "array", "items": schema("Account")}}), &["accounts"]),
            "ApiKey": object(json!({"api_key": {"type": "string", "writeOnly": true}}), &["api_key"]),
            "Pool": object(pool_props(true), &["id", "strategy", "members", "fallback_pool", "source"]),
            "PoolCreate": object(pool_props(false), &["id", "strategy", "members"]),
            "PoolReplace": object(pool_props(false), &["strategy", "members"]),
            "PoolPatch": object(pool_props(false), &[]),
            "PoolList": open_object(json!({"pools": {"type": "array", "items": schema("Pool")}}), &["pools"]),
            "Members": object(json!({"members": {"type": "array", "minItems": 1, "uniqueItems": true, "items": {"type": "string"}}}), &["members"]),
            "Route": object(route_props(true), &["model", "pool", "fallback_route", "source"]),
            "RouteCreate": object(route_props(false), &["model", "pool"]),
            "RouteReplace": object(route_props(false), &["pool"]),
            "RoutePatch": object(route_props(false), &[]),
            "RouteList": open_object(json!({"routes": {"type": "array", "items": schema("Route")}}), &["routes"]),
            "UsageAggregate": open_object(aggregate, &["requests"]),
            "UsageGroup": open_object(group, &["key", "requests"]),
            "UsageReport": open_object(json!({
                "since_ms": {"type": "integer", "format": "int64", "nullable": true, "description": "Window start, unix ms (inclusive)."},
                "until_ms": {"type": "integer", "format": "int64", "nullable": true, "description": "Window end, unix ms (exclusive); null = open."},
                "totals": schema("UsageAggregate"),
                "groups": {
                    "type": "object",
                    "description": "One list per requested grouping, keyed by its name.",
                    "additionalProperties": {"type": "array", "items": schema("UsageGroup")},
                },
            }), &["since_ms", "until_ms", "totals", "groups"]),
            "AuditEvent": audit_event(),
            "ConfigReload": open_object(config_reload_fields(), &["result", "applied", "restart_required", "problems"]),
            "ConfigReloadError": open_object({
                let mut fields = config_reload_fields();
                if let Some(m) = fields.as_object_mut() {
                    m.insert("error".into(), object(json!({
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                    }), &["code", "message"]));
                }
                fields
            }, &["error", "result", "problems"]),
            "AuditPage": open_object(json!({
                "events": {"type": "array", "items": schema("AuditEvent")},
                "next_before": {"type": "integer", "format": "int64", "nullable": true, "description": "Pass as `before` for the next page; null on the last page."},
            }), &["events", "next_before"]),
        },
    })
}
