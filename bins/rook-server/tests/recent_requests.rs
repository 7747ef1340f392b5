//! End to end: `GET /api/requests/recent` of the real `rook-server` lists the last
//! requests newest first, with tokens, cost, the client key id and the refused ones,
//! never a secret; `limit` is checked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use rook_test_support::{http, FakeUpstream, Reply, RookServer, TestResponse};
use serde_json::{json, Value};

const TOKEN: &str = "client-token-recent-123";
const ADMIN: &str = "admin-token-recent-456";
const UPSTREAM_KEY: &str = "sk-upstream-recent-CANARY";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rook-server"))
}

fn config(up: &FakeUpstream) -> String {
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

[pricing."m"]
input_usd_per_million = 1000.0
output_usd_per_million = 2000.0

{route}"#,
        route = rook_test_support::config::one_route(up),
    )
}

const ENV: &[(&str, &str)] = &[
    ("ROOK_TOKEN", TOKEN),
    ("ROOK_ADMIN_TOKEN", ADMIN),
    ("KEY_A", UPSTREAM_KEY),
];

async fn admin(server: &RookServer, method: &str, path: &str, body: Option<Value>) -> TestResponse {
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

async fn chat(server: &RookServer, token: &str, stream: bool) -> TestResponse {
    let auth = format!("Bearer {token}");
    http::post_json(
        &server.url("/v1/chat/completions"),
        &[("authorization", &auth)],
        &json!({"model": "m", "stream": stream, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await
    .unwrap()
}

const FIELDS: &[&str] = &[
    "request_id",
    "at",
    "endpoint",
    "route",
    "account",
    "key_id",
    "attempts",
    "outcome",
    "error_class",
    "status",
    "latency_ms",
    "stream",
    "input_tokens",
    "output_tokens",
    "cost_usd",
];

#[tokio::test]
async fn recent_requests_newest_first_without_secrets() {
    let up = FakeUpstream::start().await;
    let server = RookServer::start(bin(), &config(&up), ENV).await.unwrap();

    // Empty before any traffic; needs the admin token.
    let r = admin(&server, "GET", "/api/requests/recent", None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"data": []}));
    let r = http::get(&server.url("/api/requests/recent"), &[])
        .await
        .unwrap();
    assert_eq!(r.status, 401);

    // A client key, so a request carries its id.
    let r = admin(
        &server,
        "POST",
        "/api/keys",
        Some(json!({"name": "live-view"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let key_id = r.json()["id"].as_str().unwrap().to_string();
    let key_secret = r.json()["secret"].as_str().unwrap().to_string();

    // 1: a success with tokens (10 in, 5 out: $0.02); 2: an upstream 400 (not
    // retried); 3: refused, wrong token; 4: a streamed success with the client key.
    let ok = chat(&server, TOKEN, false).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    up.push(Reply::status(400));
    assert_eq!(chat(&server, TOKEN, false).await.status, 400);
    assert_eq!(chat(&server, "wrong-token", false).await.status, 401);
    let streamed = chat(&server, &key_secret, true).await;
    assert_eq!(streamed.status, 200, "{}", streamed.text());

    let r = admin(&server, "GET", "/api/requests/recent", None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    for secret in [TOKEN, ADMIN, UPSTREAM_KEY, key_secret.as_str()] {
        assert!(!text.contains(secret), "a secret leaked: {text}");
    }
    let body = r.json();
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 4, "{text}");
    for entry in data {
        let obj = entry.as_object().unwrap();
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut want = FIELDS.to_vec();
        want.sort_unstable();
        assert_eq!(keys, want);
        let at = entry["at"].as_str().unwrap();
        assert!(
            at.len() == 24 && at.ends_with('Z') && at.as_bytes()[19] == b'.',
            "{at}"
        );
    }
    let (streamed_e, refused, failed, first) = (&data[0], &data[1], &data[2], &data[3]);

    assert_eq!(first["request_id"], ok.header("x-request-id").unwrap());
    assert_eq!(first["endpoint"], "chat");
    assert_eq!(first["route"], "m");
    assert_eq!(first["account"], "acct_a");
    assert_eq!(first["key_id"], "default");
    assert_eq!(first["attempts"], 1);
    assert_eq!(first["outcome"], "success");
    assert_eq!(first["error_class"], Value::Null);
    assert_eq!(first["status"], 200);
    assert_eq!(first["stream"], false);
    assert_eq!(first["input_tokens"], 10);
    assert_eq!(first["output_tokens"], 5);
    let cost = first["cost_usd"].as_f64().unwrap();
    assert!((cost - 0.02).abs() < 1e-9, "{cost}");
    assert!(first["latency_ms"].as_u64().is_some());

    assert_eq!(failed["outcome"], "error");
    assert_eq!(failed["status"], 400);
    assert_eq!(failed["account"], "acct_a");
    assert!(failed["error_class"].is_string(), "{failed}");
    assert_eq!(failed["input_tokens"], Value::Null);
    assert_eq!(failed["cost_usd"], Value::Null);

    assert_eq!(refused["status"], 401);
    assert_eq!(refused["outcome"], "error");
    assert_eq!(refused["route"], "");
    assert_eq!(refused["account"], Value::Null);
    assert_eq!(refused["key_id"], Value::Null);
    assert_eq!(refused["attempts"], 0);

    assert_eq!(
        streamed_e["request_id"],
        streamed.header("x-request-id").unwrap()
    );
    assert_eq!(streamed_e["stream"], true);
    assert_eq!(streamed_e["key_id"], key_id.as_str());
    assert_eq!(streamed_e["outcome"], "success");

    // `limit` keeps the newest.
    let r = admin(&server, "GET", "/api/requests/recent?limit=2", None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let two = r.json()["data"].as_array().unwrap().clone();
    assert_eq!(two, data[..2].to_vec());

    // Bad parameters: 400 in the admin API's error shape.
    for query in [
        "limit=0",
        "limit=1001",
        "limit=ten",
        "limit=",
        "since=1h",
        "limit=1&limit=2",
    ] {
        let r = admin(
            &server,
            "GET",
            &format!("/api/requests/recent?{query}"),
            None,
        )
        .await;
        assert_eq!(r.status, 400, "{query}: {}", r.text());
        let err = &r.json()["error"];
        assert_eq!(err["code"], "invalid_request", "{query}");
        assert!(
            err["message"].as_str().unwrap().starts_with('`'),
            "{query}: {err}"
        );
    }
    let r = admin(&server, "GET", "/api/requests/recent?limit=1000", None).await;
    assert_eq!(r.status, 200);

    // A write method is not allowed.
    let r = admin(&server, "POST", "/api/requests/recent", Some(json!({}))).await;
    assert_eq!(r.status, 405);

    // Described in the OpenAPI document.
    let doc = admin(&server, "GET", "/api/openapi.json", None)
        .await
        .json();
    assert!(doc["paths"]["/api/requests/recent"]["get"].is_object());
    let props = doc["components"]["schemas"]["RecentRequest"]["properties"]
        .as_object()
        .unwrap();
    assert_eq!(props.len(), FIELDS.len());
    for f in FIELDS {
        assert!(props.contains_key(*f), "{f}");
    }
}
