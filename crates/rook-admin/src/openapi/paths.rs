//! The `paths` object: every admin route with its parameters, bodies and answers.

use serde_json::{json, Value};

use super::components::error;
use super::*;

pub(super) fn paths() -> Value {
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
