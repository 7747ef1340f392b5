//! End to end: the admin API of the real `rook-server` binary changes routing at once,
//! keeps keys write-only, rolls back changes routing cannot use, and audits with the
//! request id.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use rook_test_support::{http, FakeUpstream, RookServer};
use serde_json::{json, Value};

const TOKEN: &str = "client-token-123";
const ADMIN: &str = "admin-token-456-0123";
const INLINE_KEY: &str = "sk-inline-CANARY-9d2e";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rook-server"))
}

fn config(a: &FakeUpstream) -> String {
    format!(
        r#"
host = "127.0.0.1"
port = {{port}}
database_url = "sqlite://{{dir}}/rook.db"

[inbound_auth]
enabled = true
bearer_token_env = "ROOK_TOKEN"

[admin_auth]
bearer_token_env = "ROOK_ADMIN_TOKEN"

[secrets]
master_key_env = "ROOK_MASTER_KEY"

[[accounts]]
id = "declared"
vendor = "custom"
base_url = "{a}"
api_key_env = "KEY_A"

[[pools]]
id = "declared-pool"
strategy = "failover"
members = ["declared"]

[[routes]]
model = "declared-model"
pool = "declared-pool"
"#,
        a = a.base_url(),
    )
}

const ENV: &[(&str, &str)] = &[
    ("ROOK_TOKEN", TOKEN),
    ("ROOK_ADMIN_TOKEN", ADMIN),
    ("KEY_A", "upstream-key-a"),
    (
        "ROOK_MASTER_KEY",
        "6a1f0c4e9b2d7a3c5e8f1b4d6a9c2e5f7b0d3a6c9e2f5b8d1a4c7e0f3b6d9a2c",
    ),
];

async fn admin(
    server: &RookServer,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> http::TestResponse {
    let auth = format!("Bearer {ADMIN}");
    let mut headers = vec![("authorization", auth.as_str())];
    if body.is_some() {
        headers.push(("content-type", "application/json"));
    }
    http::request(
        method,
        &server.url(path),
        &headers,
        body.map(|b| b.to_string().into_bytes()),
    )
    .await
    .unwrap()
}

async fn chat(server: &RookServer, model: &str) -> http::TestResponse {
    let auth = format!("Bearer {TOKEN}");
    http::post_json(
        &server.url("/v1/chat/completions"),
        &[("authorization", &auth)],
        &json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn admin_changes_apply_without_restart() {
    let declared = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    let server = RookServer::start(bin(), &config(&declared), ENV)
        .await
        .unwrap();
    let mut seen = String::new();

    // Auth: the API needs the admin token, the probes do not.
    let r = http::get(&server.url("/api/accounts"), &[]).await.unwrap();
    assert_eq!(r.status, 401);
    let r = http::get(&server.url("/api/health/live"), &[])
        .await
        .unwrap();
    assert_eq!(r.status, 200);

    // The model is unknown before the admin API adds it.
    assert_eq!(chat(&server, "team/model:v1").await.status, 404);

    let r = admin(
        &server,
        "POST",
        "/api/accounts",
        Some(json!({"id": "api-b", "vendor": "custom", "base_url": b.base_url(), "api_key": INLINE_KEY})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["has_api_key"], true);
    let account_request_id = r.header("x-request-id").map(str::to_string);
    seen.push_str(&r.text());
    let r = admin(
        &server,
        "POST",
        "/api/pools",
        Some(json!({"id": "api-pool", "strategy": "failover", "members": ["api-b"]})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = admin(
        &server,
        "POST",
        "/api/routes",
        Some(json!({"model": "team/model:v1", "pool": "api-pool"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());

    // Served at once, with the inline key.
    let r = chat(&server, "team/model:v1").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let req = b.last_request().unwrap();
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {INLINE_KEY}").as_str())
    );

    // A change routing cannot use is undone: 422 and nothing stored.
    let r = admin(
        &server,
        "POST",
        "/api/accounts",
        Some(json!({"id": "broken", "vendor": "open_ai", "api_key_env": "ROOK_E2E_NOT_SET_ANYWHERE"})),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "invalid_configuration");
    assert_eq!(
        admin(&server, "GET", "/api/accounts/broken", None)
            .await
            .status,
        404
    );

    // Deleting a pool a route uses breaks a reference: 409, nothing changes.
    let r = admin(&server, "DELETE", "/api/pools/api-pool", None).await;
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "reference_conflict");
    assert_eq!(chat(&server, "team/model:v1").await.status, 200);

    // Config-declared entries are read-only.
    let r = admin(&server, "DELETE", "/api/routes/declared-model", None).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["error"]["code"], "read_only");

    // Moving the route to the declared pool takes effect at once.
    let r = admin(
        &server,
        "PATCH",
        "/api/routes/team%2Fmodel%3Av1",
        Some(json!({"pool": "declared-pool"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let before = declared.request_count();
    assert_eq!(chat(&server, "team/model:v1").await.status, 200);
    assert_eq!(declared.request_count(), before + 1);

    // Deleting the route removes the model.
    let r = admin(&server, "DELETE", "/api/routes/team/model:v1", None).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(chat(&server, "team/model:v1").await.status, 404);

    // Listing and audit never show the key; the audit carries the request id.
    let r = admin(&server, "GET", "/api/accounts", None).await;
    seen.push_str(&r.text());
    let r = admin(&server, "GET", "/api/audit/events?limit=100", None).await;
    assert_eq!(r.status, 200);
    seen.push_str(&r.text());
    let events = r.json()["events"].as_array().unwrap().clone();
    let create = events
        .iter()
        .find(|e| e["action"] == "create" && e["entity_id"] == "api-b")
        .unwrap();
    if let Some(id) = account_request_id {
        assert_eq!(create["request_id"], id);
    }
    assert!(!seen.contains(INLINE_KEY));

    // The OpenAPI document is served.
    let r = admin(&server, "GET", "/api/openapi.json", None).await;
    assert_eq!(r.status, 200);
    assert!(r.json()["paths"]["/api/routes/{model}"]["patch"].is_object());
}
