//! The OpenAPI 3.0 document of `/api`, served at `GET /api/openapi.json`.
//!
//! Written by hand; a test checks that its paths and methods are exactly [`crate::ROUTES`].

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

fn paths() -> Value {
    json!({
        "/api/health/live": {
            "get": {
                "operationId": "healthLive",
                "tags": ["health"],
                "summary": "Liveness probe",
                "description": "Always 200 while the process serves requests. No token needed when `admin_auth.probes_without_auth` is true (the default).",
                "security": [],
                "responses": responses(json!({"200": ok("Alive.", "Live")}), &[]),
            }
        },
        "/api/health/ready": {
            "get": {
                "operationId": "healthReady",
                "tags": ["health"],
                "summary": "Readiness probe",
                "description": "200 when the database answers, some route has an available account and the gateway is not draining; 503 otherwise. No token needed when `admin_auth.probes_without_auth` is true (the default).",
                "security": [],
                "responses": responses(json!({
                    "200": ok("Ready.", "Readiness"),
                    "503": ok("Not ready; `checks` says why.", "Readiness"),
                }), &[]),
            }
        },
        "/api/health/accounts": {
            "get": {
                "operationId": "healthAccounts",
                "tags": ["health"],
                "summary": "Live health of every account",
                "responses": responses(json!({"200": ok("Account health.", "AccountsHealth")}), &[]),
            }
        },
        "/api/status": {
            "get": {
                "operationId": "status",
                "tags": ["health"],
                "summary": "Version, uptime, bind, auth, database, accounts, routes, resilience settings, config version and cluster instances",
                "responses": responses(json!({"200": ok("Status.", "Status")}), &[]),
            }
        },
        "/api/metrics": {
            "get": {
                "operationId": "metrics",
                "tags": ["health"],
                "summary": "Prometheus metrics (text exposition format 0.0.4)",
                "responses": responses(json!({"200": {
                    "description": "Metrics.",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }}), &[]),
            }
        },
        "/api/openapi.json": {
            "get": {
                "operationId": "openapi",
                "tags": ["meta"],
                "summary": "This OpenAPI document (requires the admin token)",
                "responses": responses(json!({"200": {
                    "description": "OpenAPI 3.0 document.",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }}), &[]),
            }
        },
        "/api/accounts": {
            "get": {
                "operationId": "listAccounts",
                "tags": ["accounts"],
                "summary": "All accounts (config-declared and API-managed), ordered by id",
                "responses": responses(json!({"200": ok("Accounts.", "AccountList")}), LIST_ERRORS),
            },
            "post": {
                "operationId": "createAccount",
                "tags": ["accounts"],
                "summary": "Create an account",
                "description": "`protocol` defaults to the vendor's (`anthropic` → `anthropic`, `google` → `gemini`, others → `openai`); `base_url` defaults to the vendor's default for that protocol (required for `custom`). `api_key` is write-only, stored encrypted under the `[secrets]` master key, and refused (400) when no master key is configured. Routing is rebuilt at once; if that fails the account is removed again and the answer is 422.",
                "requestBody": body("AccountCreate"),
                "responses": responses(json!({"201": ok("Created.", "Account")}), CREATE_ERRORS),
            }
        },
        "/api/accounts/{id}": {
            "parameters": [param("AccountId")],
            "get": {
                "operationId": "getAccount",
                "tags": ["accounts"],
                "summary": "One account",
                "responses": responses(json!({"200": ok("The account.", "Account")}), READ_ERRORS),
            },
            "put": {
                "operationId": "replaceAccount",
                "tags": ["accounts"],
                "summary": "Replace an API-managed account",
                "description": "Omitted optional fields take their defaults. `api_key`: a string sets the key, `null` clears it, absent keeps it. Config-declared accounts answer 409 `read_only`.",
                "requestBody": body("AccountReplace"),
                "responses": responses(json!({"200": ok("Updated.", "Account")}), WRITE_ERRORS),
            },
            "patch": {
                "operationId": "patchAccount",
                "tags": ["accounts"],
                "summary": "Change some fields of an API-managed account",
                "description": "Fields given replace the stored ones; `null` resets an optional field (`base_url` to the vendor default, `protocol` to the vendor's). A change of `vendor` without `protocol` moves an account that spoke its vendor's default protocol to the new vendor's; a change of `vendor` or `protocol` without `base_url` moves an account that had the default base URL to the new default. `api_key` as for PUT.",
                "requestBody": body("AccountPatch"),
                "responses": responses(json!({"200": ok("Updated.", "Account")}), WRITE_ERRORS),
            },
            "delete": {
                "operationId": "deleteAccount",
                "tags": ["accounts"],
                "summary": "Delete an API-managed account (409 `reference_conflict` while a pool lists it)",
                "responses": responses(deleted(), WRITE_ERRORS),
            }
        },
        "/api/accounts/{id}/api_key": {
            "parameters": [param("AccountId")],
            "put": {
                "operationId": "setAccountApiKey",
                "tags": ["accounts"],
                "summary": "Replace the account's inline API key",
                "requestBody": body("ApiKey"),
                "responses": responses(json!({"200": ok("The account (with `has_api_key: true`).", "Account")}), WRITE_ERRORS),
            },
            "delete": {
                "operationId": "clearAccountApiKey",
                "tags": ["accounts"],
                "summary": "Clear the account's inline API key",
                "responses": responses(deleted(), WRITE_ERRORS),
            }
        },
        "/api/accounts/{id}/reset": {
            "parameters": [param("AccountId")],
            "post": {
                "operationId": "resetAccountHealth",
                "tags": ["accounts"],
                "summary": "Put the account back in rotation: close its breaker and clear its cooldown (also for config-declared accounts)",
                "responses": responses(json!({"200": {"description": "The account's health after the reset: `{\"account\": AccountHealth}`.", "content": {"application/json": {"schema": {"type": "object"}}}}}), WRITE_ERRORS),
            }
        },
        "/api/pools": {
            "get": {
                "operationId": "listPools",
                "tags": ["pools"],
                "summary": "All pools, ordered by id",
                "responses": responses(json!({"200": ok("Pools.", "PoolList")}), LIST_ERRORS),
            },
            "post": {
                "operationId": "createPool",
                "tags": ["pools"],
                "summary": "Create a pool (members and fallback pool must exist: else 409 `reference_conflict`)",
                "requestBody": body("PoolCreate"),
                "responses": responses(json!({"201": ok("Created.", "Pool")}), CREATE_ERRORS),
            }
        },
        "/api/pools/{id}": {
            "parameters": [param("PoolId")],
            "get": {
                "operationId": "getPool",
                "tags": ["pools"],
                "summary": "One pool",
                "responses": responses(json!({"200": ok("The pool.", "Pool")}), READ_ERRORS),
            },
            "put": {
                "operationId": "replacePool",
                "tags": ["pools"],
                "summary": "Replace an API-managed pool",
                "requestBody": body("PoolReplace"),
                "responses": responses(json!({"200": ok("Updated.", "Pool")}), WRITE_ERRORS),
            },
            "patch": {
                "operationId": "patchPool",
                "tags": ["pools"],
                "summary": "Change some fields of an API-managed pool (`null` clears `fallback_pool`)",
                "requestBody": body("PoolPatch"),
                "responses": responses(json!({"200": ok("Updated.", "Pool")}), WRITE_ERRORS),
            },
            "delete": {
                "operationId": "deletePool",
                "tags": ["pools"],
                "summary": "Delete an API-managed pool (409 `reference_conflict` while a route uses it or a pool falls back to it)",
                "responses": responses(deleted(), WRITE_ERRORS),
            }
        },
        "/api/pools/{id}/members": {
            "parameters": [param("PoolId")],
            "put": {
                "operationId": "setPoolMembers",
                "tags": ["pools"],
                "summary": "Replace the pool's members (in order)",
                "requestBody": body("Members"),
                "responses": responses(json!({"200": ok("Updated.", "Pool")}), WRITE_ERRORS),
            }
        },
        "/api/routes": {
            "get": {
                "operationId": "listRoutes",
                "tags": ["routes"],
                "summary": "All routes, ordered by model",
                "responses": responses(json!({"200": ok("Routes.", "RouteList")}), LIST_ERRORS),
            },
            "post": {
                "operationId": "createRoute",
                "tags": ["routes"],
                "summary": "Create a route (the pool and fallback route must exist: else 409 `reference_conflict`)",
                "requestBody": body("RouteCreate"),
                "responses": responses(json!({"201": ok("Created.", "Route")}), CREATE_ERRORS),
            }
        },
        "/api/routes/{model}": {
            "parameters": [param("RouteModel")],
            "get": {
                "operationId": "getRoute",
                "tags": ["routes"],
                "summary": "One route",
                "responses": responses(json!({"200": ok("The route.", "Route")}), READ_ERRORS),
            },
            "put": {
                "operationId": "replaceRoute",
                "tags": ["routes"],
                "summary": "Replace an API-managed route",
                "requestBody": body("RouteReplace"),
                "responses": responses(json!({"200": ok("Updated.", "Route")}), WRITE_ERRORS),
            },
            "patch": {
                "operationId": "patchRoute",
                "tags": ["routes"],
                "summary": "Change some fields of an API-managed route (`null` clears `fallback_route`)",
                "requestBody": body("RoutePatch"),
                "responses": responses(json!({"200": ok("Updated.", "Route")}), WRITE_ERRORS),
            },
            "delete": {
                "operationId": "deleteRoute",
                "tags": ["routes"],
                "summary": "Delete an API-managed route (409 `reference_conflict` while another route falls back to it)",
                "responses": responses(deleted(), WRITE_ERRORS),
            }
        },
        "/api/usage": {
            "get": {
                "operationId": "usageReport",
                "tags": ["usage"],
                "summary": "Usage totals and per-group aggregates over a time window",
                "description": "The same report as `rook-cli usage report`. The window is `[since, until)`.",
                "parameters": [
                    {
                        "name": "since", "in": "query", "required": false,
                        "description": "Window start: a duration back from now (`30m`, `24h`, `7d`, units s/m/h/d/w), a date `YYYY-MM-DD` (UTC midnight) or an RFC 3339 timestamp. Default `24h`.",
                        "schema": {"type": "string", "default": "24h"},
                    },
                    {
                        "name": "until", "in": "query", "required": false,
                        "description": "Window end (exclusive), same forms as `since`. Default: open (now).",
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "group_by", "in": "query", "required": false,
                        "description": "Comma-separated groupings: `model`, `account`, `vendor`, `day`, `outcome`, `endpoint`, `key`. Default `model`.",
                        "schema": {"type": "string", "default": "model"},
                    },
                ],
                "responses": responses(
                    json!({"200": ok("The report.", "UsageReport")}),
                    &[("400", "BadRequest"), ("503", "DatabaseUnavailable")],
                ),
            }
        },
        "/api/audit/events": {
            "get": {
                "operationId": "auditEvents",
                "tags": ["audit"],
                "summary": "Audit events, newest first, paged by id",
                "parameters": [
                    {
                        "name": "limit", "in": "query", "required": false,
                        "description": "Page size, 1 to 500.",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
                    },
                    {
                        "name": "before", "in": "query", "required": false,
                        "description": "Only events with a smaller id (pass `next_before` of the previous page).",
                        "schema": {"type": "integer", "format": "int64", "minimum": 1},
                    },
                ],
                "responses": responses(
                    json!({"200": ok("A page of events.", "AuditPage")}),
                    &[("400", "BadRequest"), ("503", "DatabaseUnavailable")],
                ),
            }
        },
        "/api/config/reload": {
            "post": {
                "operationId": "reloadConfig",
                "tags": ["config"],
                "summary": "Re-read the configuration file and environment and apply what can change live",
                "description": "Same as SIGHUP. Accounts, pools, routes, `pricing` and `log_level` apply at once (requests and streams already running finish on the routing they started with); other changed keys are listed in `restart_required` and keep their running values. An invalid file changes nothing (422 with every problem). Audited (`entity_type: config`).",
                "responses": responses(
                    json!({
                        "200": ok("Applied (or nothing changed).", "ConfigReload"),
                        "409": error("The gateway was started without a configuration source to re-read.", &["reload_unavailable"]),
                        "422": {"description": "The new configuration is invalid; the running one is unchanged. Codes: invalid_configuration.", "content": json_content("ConfigReloadError")},
                        "500": {"description": "The new configuration could not be applied; the running one is unchanged. Codes: reload_failed.", "content": json_content("ConfigReloadError")},
                    }),
                    &[],
                ),
            }
        },
    })
}

fn config_reload_fields() -> Value {
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

fn account_props(with_key: bool, with_read_only: bool) -> Value {
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

fn pool_props(with_source: bool) -> Value {
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

fn route_props(with_source: bool) -> Value {
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

fn error(description: &str, codes: &[&str]) -> Value {
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

fn components() -> Value {
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
        "paths": paths(),
        "components": components(),
    });
    crate::keys::extend_openapi(&mut doc);
    crate::timeseries::extend_openapi(&mut doc);
    crate::recent::extend_openapi(&mut doc);
    doc
}

#[cfg(test)]
mod tests {
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
