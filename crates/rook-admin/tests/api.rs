//! The admin API driven through `Admin::handle` with a SQLite registry in a temp dir and a
//! fake runtime.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{header, HeaderValue, Method, StatusCode};
use rook_admin::{AccountHealthView, Admin, ApiRequest, BoxFuture, Runtime, ROUTES};
use rook_config::{Config, Secret};
use rook_registry::{AccountRecord, ConnectOptions, PoolRecord, Registry, RouteRecord, UsageEvent};
use serde_json::{json, Value};

const TOKEN: &str = "tok";
const CANARY: &str = "sk-CANARY-3f9a1c77e2";

#[derive(Default)]
struct FakeRuntime {
    reloads: AtomicUsize,
    fail: Mutex<Option<String>>,
}

impl FakeRuntime {
    fn reloads(&self) -> usize {
        self.reloads.load(Ordering::SeqCst)
    }
    fn fail_with(&self, msg: Option<&str>) {
        *self.fail.lock().unwrap() = msg.map(str::to_string);
    }
}

impl Runtime for FakeRuntime {
    fn accounts_health(&self) -> Vec<AccountHealthView> {
        Vec::new()
    }
    fn routes_without_available_account(&self) -> Vec<String> {
        Vec::new()
    }
    fn route_count(&self) -> usize {
        1
    }
    fn render_metrics(&self) -> String {
        "rook_up 1\n".to_string()
    }
    fn uptime_seconds(&self) -> u64 {
        5
    }
    fn recent_retry_exhaustion(&self) -> u64 {
        0
    }
    fn draining(&self) -> bool {
        false
    }
    fn reset_health(&self, id: &str) -> bool {
        id != "unrouted"
    }
    fn reload(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            self.reloads.fetch_add(1, Ordering::SeqCst);
            match self.fail.lock().unwrap().clone() {
                Some(m) => Err(m),
                None => Ok(()),
            }
        })
    }
}

struct Env {
    admin: Admin,
    registry: Registry,
    runtime: Arc<FakeRuntime>,
    /// Every response body seen, to grep for secrets.
    seen: Mutex<String>,
    _dir: tempfile::TempDir,
}

struct Resp {
    status: StatusCode,
    headers: http::HeaderMap,
    text: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }
    fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
    fn message(&self) -> String {
        self.json()["error"]["message"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

/// An admin API whose registry has a master key (inline keys are sealed).
async fn env() -> Env {
    env_with(true).await
}

fn sealer() -> rook_registry::seal::Sealer {
    rook_registry::seal::Sealer::new(&rook_config::MasterKey::from_bytes([3; 32])).unwrap()
}

/// The plaintext of an account's stored key (`None` without one).
async fn stored_key(e: &Env, id: &str) -> Option<String> {
    let stored = e.registry.get_account(id).await.unwrap().api_key?;
    assert!(
        rook_registry::seal::is_sealed(&stored),
        "stored in plaintext"
    );
    assert!(!stored.contains(CANARY));
    Some(
        e.registry
            .open_api_key(id, &stored)
            .unwrap()
            .into_secret()
            .expose()
            .to_string(),
    )
}

async fn env_with(master_key: bool) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/r.db", dir.path().display());
    let registry = Registry::connect(&url, ConnectOptions::default())
        .await
        .unwrap()
        .with_sealer(master_key.then(sealer));
    let config = Config::from_toml_str("").unwrap();
    let runtime = Arc::new(FakeRuntime::default());
    let admin = Admin::new(
        Arc::new(config),
        registry.clone(),
        runtime.clone(),
        Some(Secret::new(TOKEN)),
        "test",
    );
    Env {
        admin,
        registry,
        runtime,
        seen: Mutex::new(String::new()),
        _dir: dir,
    }
}

fn request(
    method: &str,
    path_and_query: &str,
    body: Option<&Value>,
    token: Option<&str>,
) -> ApiRequest {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q.to_string())),
        None => (path_and_query, None),
    };
    let body = body.map_or_else(Bytes::new, |v| Bytes::from(v.to_string()));
    let mut r = ApiRequest::new(Method::from_bytes(method.as_bytes()).unwrap(), path, body);
    r.query = query;
    r.request_id = format!("req-{method}-{path}");
    if let Some(t) = token {
        r.headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {t}")).unwrap(),
        );
    }
    r
}

impl Env {
    async fn send(&self, req: ApiRequest) -> Resp {
        let resp = self.admin.handle(req).await;
        let text = String::from_utf8(resp.body().to_vec()).unwrap();
        self.seen.lock().unwrap().push_str(&text);
        Resp {
            status: resp.status(),
            headers: resp.headers().clone(),
            text,
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        self.send(request(method, path, body.as_ref(), Some(TOKEN)))
            .await
    }

    async fn raw(&self, method: &str, path: &str, body: &str) -> Resp {
        let mut r = request(method, path, None, Some(TOKEN));
        r.body = Bytes::from(body.to_string());
        self.send(r).await
    }

    /// Audit rows as JSON text (newest first).
    async fn audit(&self) -> Vec<rook_registry::AuditEvent> {
        self.registry.list_audit(500, None).await.unwrap()
    }

    async fn seed_declared(&self) {
        let mut a = AccountRecord::new("cfg-acct", "open_ai", "https://api.openai.com/v1");
        a.api_key_env = Some("CFG_KEY".into());
        let p = PoolRecord::new("cfg-pool", "round_robin", vec!["cfg-acct".into()]);
        let r = RouteRecord::new("cfg-model", "cfg-pool");
        self.registry.sync_declared(&[a], &[p], &[r]).await.unwrap();
    }

    /// An api account `a1`, pool `p1` [a1] and route `m1` → p1.
    async fn seed_api(&self) {
        let r = self
            .call(
                "POST",
                "/api/accounts",
                Some(json!({"id": "a1", "vendor": "open_ai"})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = self
            .call(
                "POST",
                "/api/pools",
                Some(json!({"id": "p1", "strategy": "failover", "members": ["a1"]})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = self
            .call(
                "POST",
                "/api/routes",
                Some(json!({"model": "m1", "pool": "p1"})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
}

fn expect(r: &Resp, status: u16, code: &str) {
    assert_eq!(r.status.as_u16(), status, "{}", r.text);
    assert_eq!(r.code(), code, "{}", r.text);
    assert_eq!(
        r.headers.get(header::CONTENT_TYPE).unwrap(),
        "application/json"
    );
}

// ---------------------------------------------------------------- accounts

#[tokio::test]
async fn account_crud_and_write_only_keys() {
    let e = env().await;

    let r = e
        .call(
            "POST",
            "/api/accounts",
            Some(json!({
                "id": "acct-1", "vendor": "anthropic", "api_key": CANARY,
                "weight": 5, "priority": 2, "models": {"claude": "claude-3-5-sonnet"},
            })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let v = r.json();
    assert_eq!(
        v,
        json!({
            "id": "acct-1", "vendor": "anthropic", "base_url": "https://api.anthropic.com/v1",
            "api_key_env": null, "api_key_file": null, "enabled": true, "weight": 5,
            "priority": 2, "models": {"claude": "claude-3-5-sonnet"},
            "has_api_key": true, "source": "api",
            "protocol": "anthropic", "anthropic_version": null, "default_max_tokens": null,
            "stream_usage": true,
        })
    );
    assert_eq!(e.runtime.reloads(), 1);
    // The key really is stored.
    assert_eq!(stored_key(&e, "acct-1").await.as_deref(), Some(CANARY));

    let r = e.call("GET", "/api/accounts/acct-1", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), v);
    let r = e.call("GET", "/api/accounts", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"accounts": [v]}));

    // PUT replaces every field; omitted optional fields take defaults; the key is kept.
    let r = e
        .call(
            "PUT",
            "/api/accounts/acct-1",
            Some(json!({"vendor": "custom", "base_url": "http://127.0.0.1:9/v1/", "api_key_env": "SOME_KEY"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["base_url"], "http://127.0.0.1:9/v1");
    assert_eq!(v["weight"], 1);
    assert_eq!(v["models"], json!({}));
    assert_eq!(v["api_key_env"], "SOME_KEY");
    assert_eq!(v["has_api_key"], true);

    // PATCH changes only what it names; null clears; api_key null clears the key.
    let r = e
        .call(
            "PATCH",
            "/api/accounts/acct-1",
            Some(json!({"enabled": false, "api_key_env": null, "api_key": null})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["enabled"], false);
    assert_eq!(v["vendor"], "custom");
    assert_eq!(v["base_url"], "http://127.0.0.1:9/v1");
    assert_eq!(v["api_key_env"], Value::Null);
    assert_eq!(v["has_api_key"], false);
    assert!(e
        .registry
        .get_account("acct-1")
        .await
        .unwrap()
        .api_key
        .is_none());

    // PUT/DELETE api_key.
    let r = e
        .call(
            "PUT",
            "/api/accounts/acct-1/api_key",
            Some(json!({"api_key": CANARY})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["has_api_key"], true);
    assert_eq!(stored_key(&e, "acct-1").await.as_deref(), Some(CANARY));
    let r = e.call("DELETE", "/api/accounts/acct-1/api_key", None).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.text.is_empty());
    assert!(e
        .registry
        .get_account("acct-1")
        .await
        .unwrap()
        .api_key
        .is_none());
    let r = e
        .call(
            "PUT",
            "/api/accounts/acct-1/api_key",
            Some(json!({"api_key": ""})),
        )
        .await;
    expect(&r, 400, "invalid_request");
    let r = e
        .call(
            "PUT",
            "/api/accounts/nope/api_key",
            Some(json!({"api_key": "k"})),
        )
        .await;
    expect(&r, 404, "not_found");

    // PATCH with a key sets it.
    let r = e
        .call(
            "PATCH",
            "/api/accounts/acct-1",
            Some(json!({"api_key": CANARY})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["has_api_key"], true);

    // Renaming is refused.
    let r = e
        .call(
            "PATCH",
            "/api/accounts/acct-1",
            Some(json!({"id": "other"})),
        )
        .await;
    expect(&r, 400, "invalid_request");
    assert!(r.message().contains("`id`"), "{}", r.text);

    let r = e.call("DELETE", "/api/accounts/acct-1", None).await;
    assert_eq!(r.status, 204);
    let r = e.call("GET", "/api/accounts/acct-1", None).await;
    expect(&r, 404, "not_found");
    let r = e.call("DELETE", "/api/accounts/acct-1", None).await;
    expect(&r, 404, "not_found");
    let r = e
        .call(
            "PUT",
            "/api/accounts/acct-1",
            Some(json!({"vendor": "open_ai"})),
        )
        .await;
    expect(&r, 404, "not_found");

    // The key never left the registry: not in any response, not in the audit log.
    assert!(!e.seen.lock().unwrap().contains(CANARY));
    let audit = serde_json::to_string(&e.audit().await).unwrap();
    assert!(!audit.contains(CANARY), "{audit}");
    let r = e.call("GET", "/api/audit/events?limit=500", None).await;
    assert!(!r.text.contains(CANARY));
}

#[tokio::test]
async fn account_protocols_default_by_vendor_and_follow_patches() {
    let e = env().await;
    const GEMINI: &str = "https://generativelanguage.googleapis.com/v1beta";
    const GEMINI_OPENAI: &str = "https://generativelanguage.googleapis.com/v1beta/openai";
    let r = e
        .call(
            "POST",
            "/api/accounts",
            Some(json!({"id": "g", "vendor": "google"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let v = r.json();
    assert_eq!(
        (v["protocol"].clone(), v["base_url"].clone()),
        (json!("gemini"), json!(GEMINI))
    );

    // (patch, protocol, base_url, stream_usage) after each PATCH, in order.
    let steps = [
        (json!({"protocol": "openai"}), "openai", GEMINI_OPENAI, true),
        (
            json!({"stream_usage": false}),
            "openai",
            GEMINI_OPENAI,
            false,
        ),
        (json!({"protocol": null}), "gemini", GEMINI, false),
        (
            json!({"base_url": "https://proxy.example/g", "protocol": "openai"}),
            "openai",
            "https://proxy.example/g",
            false,
        ),
        // A base URL of one's own is kept when the protocol changes.
        (
            json!({"protocol": "gemini"}),
            "gemini",
            "https://proxy.example/g",
            false,
        ),
        (json!({"base_url": null}), "gemini", GEMINI, false),
        (
            json!({"vendor": "anthropic", "anthropic_version": "2024-10-22", "default_max_tokens": 512}),
            "anthropic",
            "https://api.anthropic.com/v1",
            false,
        ),
    ];
    for (patch, protocol, base_url, stream_usage) in steps {
        let r = e
            .call("PATCH", "/api/accounts/g", Some(patch.clone()))
            .await;
        assert_eq!(r.status, 200, "{patch}: {}", r.text);
        let v = r.json();
        assert_eq!(v["protocol"], protocol, "{patch}");
        assert_eq!(v["base_url"], base_url, "{patch}");
        assert_eq!(v["stream_usage"], stream_usage, "{patch}");
        let stored = e.registry.get_account("g").await.unwrap();
        assert_eq!(stored.protocol, protocol);
        assert_eq!(stored.stream_usage, stream_usage);
    }
    let stored = e.registry.get_account("g").await.unwrap();
    assert_eq!(stored.anthropic_version.as_deref(), Some("2024-10-22"));
    assert_eq!(stored.default_max_tokens, Some(512));

    // PUT replaces: omitted keys take the vendor defaults again.
    let r = e
        .call("PUT", "/api/accounts/g", Some(json!({"vendor": "open_ai"})))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["protocol"], "openai");
    assert_eq!(v["anthropic_version"], Value::Null);
    assert_eq!(v["default_max_tokens"], Value::Null);
    assert_eq!(v["stream_usage"], true);
}

#[tokio::test]
async fn validation_errors_name_the_field() {
    let e = env().await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({"vendor": "open_ai"}), "`id`"),
        (json!({"id": "bad id!", "vendor": "open_ai"}), "`id`"),
        (json!({"id": &"x".repeat(65), "vendor": "open_ai"}), "`id`"),
        (json!({"id": "a"}), "`vendor`"),
        (json!({"id": "a", "vendor": "openai"}), "`vendor`"),
        (json!({"id": "a", "vendor": "custom"}), "`base_url`"),
        (
            json!({"id": "a", "vendor": "custom", "base_url": "ftp://x"}),
            "`base_url`",
        ),
        (
            json!({"id": "a", "vendor": "custom", "base_url": "http://u:p@x"}),
            "`base_url`",
        ),
        // The egress policy: metadata and link-local addresses are refused.
        (
            json!({"id": "a", "vendor": "custom", "base_url": "http://169.254.169.254/v1"}),
            "`base_url`: egress denied",
        ),
        (
            json!({"id": "a", "vendor": "custom", "base_url": "http://metadata.google.internal/v1"}),
            "`base_url`: egress denied",
        ),
        (
            json!({"id": "a", "vendor": "custom", "base_url": "http://[fd00:ec2::254]/v1"}),
            "`base_url`: egress denied",
        ),
        (
            json!({"id": "a", "vendor": "open_ai", "api_key_env": "1BAD"}),
            "`api_key_env`",
        ),
        (
            json!({"id": "a", "vendor": "open_ai", "api_key_env": "A", "api_key_file": "/k"}),
            "`api_key_file`",
        ),
        (
            json!({"id": "a", "vendor": "open_ai", "weight": 0}),
            "`weight`",
        ),
        (
            json!({"id": "a", "vendor": "open_ai", "weight": 1001}),
            "`weight`",
        ),
        (
            json!({"id": "a", "vendor": "open_ai", "weight": "heavy"}),
            "`weight`",
        ),
        (
            json!({"id": "a", "vendor": "open_ai", "priority": -1}),
            "`priority`",
        ),
        (
            json!({"id": "a", "vendor": "open_ai", "models": {"m": ""}}),
            "`models.m`",
        ),
        (
            json!({"id": "a", "vendor": "open_ai", "api_key": " "}),
            "`api_key`",
        ),
        (
            json!({"id": "a", "vendor": "open_ai", "source": "api"}),
            "`source`",
        ),
        (
            json!({"id": "a", "vendor": "open_ai", "colour": "red"}),
            "`colour`",
        ),
        (
            json!({"id": "a", "vendor": "open_ai", "protocol": "grpc"}),
            "`protocol`: unknown protocol 'grpc'; expected one of openai, anthropic, gemini",
        ),
        (
            json!({"id": "a", "vendor": "open_ai", "protocol": 1}),
            "`protocol`",
        ),
        (
            json!({"id": "a", "vendor": "anthropic", "anthropic_version": ""}),
            "`anthropic_version`: must not be empty",
        ),
        (
            json!({"id": "a", "vendor": "anthropic", "anthropic_version": "2023-06-01\n"}),
            "`anthropic_version`: must be printable ASCII",
        ),
        (
            json!({"id": "a", "vendor": "anthropic", "anthropic_version": "v".repeat(65)}),
            "`anthropic_version`: must be at most 64 characters, got 65",
        ),
        (
            json!({"id": "a", "vendor": "anthropic", "default_max_tokens": 0}),
            "`default_max_tokens`: must be at least 1, got 0",
        ),
        (
            json!({"id": "a", "vendor": "anthropic", "default_max_tokens": -1}),
            "`default_max_tokens`",
        ),
        (
            json!({"id": "a", "vendor": "open_ai", "stream_usage": "yes"}),
            "`stream_usage`",
        ),
    ];
    for (body, field) in cases {
        let r = e.call("POST", "/api/accounts", Some(body.clone())).await;
        expect(&r, 400, "invalid_request");
        assert!(r.message().contains(field), "{body}: {}", r.text);
    }
    let pools: Vec<(Value, &str)> = vec![
        (
            json!({"id": "p", "strategy": "random", "members": ["a"]}),
            "`strategy`",
        ),
        (
            json!({"id": "p", "strategy": "failover", "members": []}),
            "`members`",
        ),
        (json!({"id": "p", "strategy": "failover"}), "`members`"),
        (
            json!({"id": "p", "strategy": "failover", "members": ["a", "a"]}),
            "`members[1]`",
        ),
        (
            json!({"id": "p", "strategy": "failover", "members": ["a"], "fallback_pool": "p"}),
            "`fallback_pool`",
        ),
    ];
    for (body, field) in pools {
        let r = e.call("POST", "/api/pools", Some(body.clone())).await;
        expect(&r, 400, "invalid_request");
        assert!(r.message().contains(field), "{body}: {}", r.text);
    }
    let routes: Vec<(Value, &str)> = vec![
        (json!({"pool": "p"}), "`model`"),
        (json!({"model": " ", "pool": "p"}), "`model`"),
        (json!({"model": "m"}), "`pool`"),
        (
            json!({"model": "m", "pool": "p", "fallback_route": "m"}),
            "`fallback_route`",
        ),
    ];
    for (body, field) in routes {
        let r = e.call("POST", "/api/routes", Some(body.clone())).await;
        expect(&r, 400, "invalid_request");
        assert!(r.message().contains(field), "{body}: {}", r.text);
    }
    for bad in ["{", "[1]", "", "null"] {
        let r = e.raw("POST", "/api/accounts", bad).await;
        expect(&r, 400, "invalid_request");
    }
    // Nothing reached routing.
    assert_eq!(e.runtime.reloads(), 0);
    assert!(e.audit().await.is_empty());
}

// ---------------------------------------------------------------- pools and routes

#[tokio::test]
async fn pool_and_route_crud() {
    let e = env().await;
    e.seed_api().await;
    let r = e
        .call(
            "POST",
            "/api/accounts",
            Some(json!({"id": "a2", "vendor": "deep_seek"})),
        )
        .await;
    assert_eq!(r.status, 201);

    let r = e.call("GET", "/api/pools/p1", None).await;
    assert_eq!(
        r.json(),
        json!({"id": "p1", "strategy": "failover", "members": ["a1"], "fallback_pool": null, "source": "api"})
    );
    let r = e
        .call("POST", "/api/pools", Some(json!({"id": "p2", "strategy": "weighted", "members": ["a2"], "fallback_pool": "p1"})))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = e.call("GET", "/api/pools", None).await;
    assert_eq!(r.json()["pools"].as_array().unwrap().len(), 2);

    let r = e
        .call(
            "PUT",
            "/api/pools/p1",
            Some(json!({"strategy": "round_robin", "members": ["a1", "a2"]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["members"], json!(["a1", "a2"]));
    let r = e
        .call(
            "PATCH",
            "/api/pools/p2",
            Some(json!({"fallback_pool": null})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["fallback_pool"], Value::Null);
    assert_eq!(r.json()["strategy"], "weighted");
    let r = e
        .call(
            "PUT",
            "/api/pools/p1/members",
            Some(json!({"members": ["a2"]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["members"], json!(["a2"]));
    assert_eq!(r.json()["strategy"], "round_robin");
    let r = e
        .call("PUT", "/api/pools/p1/members", Some(json!({"members": []})))
        .await;
    expect(&r, 400, "invalid_request");
    let r = e
        .call(
            "PUT",
            "/api/pools/nope/members",
            Some(json!({"members": ["a1"]})),
        )
        .await;
    expect(&r, 404, "not_found");

    // Routes whose model contains `/` and `:`, raw or percent-encoded in the path.
    let r = e
        .call(
            "POST",
            "/api/routes",
            Some(json!({"model": "openai/gpt-4o:free", "pool": "p2", "fallback_route": "m1"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.json(),
        json!({"model": "openai/gpt-4o:free", "pool": "p2", "fallback_route": "m1", "source": "api"})
    );
    let r = e.call("GET", "/api/routes/openai/gpt-4o:free", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = e
        .call("GET", "/api/routes/openai%2Fgpt-4o%3Afree", None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = e
        .call(
            "PATCH",
            "/api/routes/openai%2Fgpt-4o%3Afree",
            Some(json!({"fallback_route": null})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["fallback_route"], Value::Null);
    let r = e
        .call(
            "PUT",
            "/api/routes/openai/gpt-4o:free",
            Some(json!({"pool": "p1"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["pool"], "p1");
    let r = e
        .call(
            "PUT",
            "/api/routes/openai/gpt-4o:free",
            Some(json!({"model": "other", "pool": "p1"})),
        )
        .await;
    expect(&r, 400, "invalid_request");
    let r = e.call("GET", "/api/routes", None).await;
    let models: Vec<String> = r.json()["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["model"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(models, ["m1", "openai/gpt-4o:free"]);
    let r = e
        .call("DELETE", "/api/routes/openai/gpt-4o:free", None)
        .await;
    assert_eq!(r.status, 204);
    let r = e.call("GET", "/api/routes/openai/gpt-4o:free", None).await;
    expect(&r, 404, "not_found");
    let r = e
        .call("PATCH", "/api/routes/nope", Some(json!({"pool": "p1"})))
        .await;
    expect(&r, 404, "not_found");

    let r = e.call("DELETE", "/api/pools/p2", None).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = e.call("GET", "/api/pools/p2", None).await;
    expect(&r, 404, "not_found");
}

#[tokio::test]
async fn conflicts_and_references() {
    let e = env().await;
    e.seed_api().await;

    let r = e
        .call(
            "POST",
            "/api/accounts",
            Some(json!({"id": "a1", "vendor": "open_ai"})),
        )
        .await;
    expect(&r, 409, "conflict");
    let r = e
        .call(
            "POST",
            "/api/pools",
            Some(json!({"id": "p1", "strategy": "failover", "members": ["a1"]})),
        )
        .await;
    expect(&r, 409, "conflict");
    let r = e
        .call(
            "POST",
            "/api/routes",
            Some(json!({"model": "m1", "pool": "p1"})),
        )
        .await;
    expect(&r, 409, "conflict");

    // Deleting what something still uses.
    let r = e.call("DELETE", "/api/accounts/a1", None).await;
    expect(&r, 409, "reference_conflict");
    let r = e.call("DELETE", "/api/pools/p1", None).await;
    expect(&r, 409, "reference_conflict");
    // Pointing at what does not exist.
    let r = e
        .call(
            "POST",
            "/api/routes",
            Some(json!({"model": "m2", "pool": "ghost"})),
        )
        .await;
    expect(&r, 409, "reference_conflict");
    let r = e
        .call(
            "POST",
            "/api/routes",
            Some(json!({"model": "m2", "pool": "p1", "fallback_route": "ghost"})),
        )
        .await;
    expect(&r, 409, "reference_conflict");
    let r = e
        .call(
            "POST",
            "/api/pools",
            Some(json!({"id": "p2", "strategy": "failover", "members": ["ghost"]})),
        )
        .await;
    expect(&r, 409, "reference_conflict");
    let r = e
        .call(
            "PUT",
            "/api/pools/p1/members",
            Some(json!({"members": ["ghost"]})),
        )
        .await;
    expect(&r, 409, "reference_conflict");
    let r = e
        .call("PATCH", "/api/routes/m1", Some(json!({"pool": "ghost"})))
        .await;
    expect(&r, 409, "reference_conflict");
    // A route another route falls back to.
    let r = e
        .call(
            "POST",
            "/api/routes",
            Some(json!({"model": "m2", "pool": "p1", "fallback_route": "m1"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = e.call("DELETE", "/api/routes/m1", None).await;
    expect(&r, 409, "reference_conflict");

    // Still there, unchanged.
    assert_eq!(e.registry.get_pool("p1").await.unwrap().members, ["a1"]);
    assert_eq!(e.registry.get_route("m1").await.unwrap().pool, "p1");
}

#[tokio::test]
async fn config_declared_entries_are_read_only() {
    let e = env().await;
    e.seed_declared().await;
    let r = e.call("GET", "/api/accounts/cfg-acct", None).await;
    assert_eq!(r.json()["source"], "config");
    assert_eq!(r.json()["api_key_env"], "CFG_KEY");
    assert_eq!(r.json()["has_api_key"], false);
    let r = e.call("GET", "/api/pools/cfg-pool", None).await;
    assert_eq!(r.json()["source"], "config");
    let r = e.call("GET", "/api/routes/cfg-model", None).await;
    assert_eq!(r.json()["source"], "config");

    let attempts: Vec<(&str, &str, Option<Value>)> = vec![
        (
            "PUT",
            "/api/accounts/cfg-acct",
            Some(json!({"vendor": "open_ai"})),
        ),
        (
            "PATCH",
            "/api/accounts/cfg-acct",
            Some(json!({"weight": 3})),
        ),
        ("DELETE", "/api/accounts/cfg-acct", None),
        (
            "PUT",
            "/api/accounts/cfg-acct/api_key",
            Some(json!({"api_key": CANARY})),
        ),
        ("DELETE", "/api/accounts/cfg-acct/api_key", None),
        (
            "PUT",
            "/api/pools/cfg-pool",
            Some(json!({"strategy": "failover", "members": ["cfg-acct"]})),
        ),
        (
            "PATCH",
            "/api/pools/cfg-pool",
            Some(json!({"strategy": "failover"})),
        ),
        (
            "PUT",
            "/api/pools/cfg-pool/members",
            Some(json!({"members": ["cfg-acct"]})),
        ),
        ("DELETE", "/api/pools/cfg-pool", None),
        (
            "PUT",
            "/api/routes/cfg-model",
            Some(json!({"pool": "cfg-pool"})),
        ),
        (
            "PATCH",
            "/api/routes/cfg-model",
            Some(json!({"fallback_route": null})),
        ),
        ("DELETE", "/api/routes/cfg-model", None),
    ];
    for (method, path, body) in attempts {
        let r = e.call(method, path, body).await;
        expect(&r, 409, "read_only");
        assert!(
            r.message()
                .contains("declared in the config file; change it there"),
            "{method} {path}: {}",
            r.text
        );
    }
    assert_eq!(e.runtime.reloads(), 0);
    // API entries may still reference config ones.
    let r = e
        .call(
            "POST",
            "/api/routes",
            Some(json!({"model": "m-api", "pool": "cfg-pool"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(!e.seen.lock().unwrap().contains(CANARY));
}

// ---------------------------------------------------------------- reload and rollback

#[tokio::test]
async fn failed_reload_answers_422_and_rolls_back() {
    let e = env().await;
    e.seed_api().await;
    let audit_before = e.audit().await.len();
    let msg = "account \"bad\" api key: environment variable NOT_SET is not set";
    e.runtime.fail_with(Some(msg));

    // create → removed again
    let r = e
        .call(
            "POST",
            "/api/accounts",
            Some(json!({"id": "bad", "vendor": "open_ai", "api_key_env": "NOT_SET"})),
        )
        .await;
    expect(&r, 422, "invalid_configuration");
    assert!(r.message().contains(msg), "{}", r.text);
    expect(
        &e.call("GET", "/api/accounts/bad", None).await,
        404,
        "not_found",
    );

    // update → old values back, including the key
    e.runtime.fail_with(None);
    let r = e
        .call(
            "PUT",
            "/api/accounts/a1/api_key",
            Some(json!({"api_key": CANARY})),
        )
        .await;
    assert_eq!(r.status, 200);
    e.runtime.fail_with(Some(msg));
    let before = e.registry.get_account("a1").await.unwrap();
    let r = e
        .call(
            "PATCH",
            "/api/accounts/a1",
            Some(json!({"api_key_env": "NOT_SET", "api_key": null, "weight": 9})),
        )
        .await;
    expect(&r, 422, "invalid_configuration");
    let after = e.registry.get_account("a1").await.unwrap();
    assert_eq!(after, before);
    assert_eq!(stored_key(&e, "a1").await.as_deref(), Some(CANARY));

    // key changes
    let r = e.call("DELETE", "/api/accounts/a1/api_key", None).await;
    expect(&r, 422, "invalid_configuration");
    assert_eq!(stored_key(&e, "a1").await.as_deref(), Some(CANARY));

    // pools: update, members, create, delete
    let r = e
        .call(
            "PATCH",
            "/api/pools/p1",
            Some(json!({"strategy": "weighted"})),
        )
        .await;
    expect(&r, 422, "invalid_configuration");
    assert_eq!(
        e.registry.get_pool("p1").await.unwrap().strategy,
        "failover"
    );
    let r = e
        .call(
            "POST",
            "/api/pools",
            Some(json!({"id": "p9", "strategy": "failover", "members": ["a1"]})),
        )
        .await;
    expect(&r, 422, "invalid_configuration");
    expect(
        &e.call("GET", "/api/pools/p9", None).await,
        404,
        "not_found",
    );

    // routes: create, update, delete
    let r = e
        .call(
            "POST",
            "/api/routes",
            Some(json!({"model": "m9", "pool": "p1"})),
        )
        .await;
    expect(&r, 422, "invalid_configuration");
    expect(
        &e.call("GET", "/api/routes/m9", None).await,
        404,
        "not_found",
    );
    let r = e.call("DELETE", "/api/routes/m1", None).await;
    expect(&r, 422, "invalid_configuration");
    assert_eq!(e.registry.get_route("m1").await.unwrap().pool, "p1");

    // deletes are undone too (the route first, so the pool and account may go)
    e.runtime.fail_with(None);
    assert_eq!(e.call("DELETE", "/api/routes/m1", None).await.status, 204);
    e.runtime.fail_with(Some(msg));
    let r = e.call("DELETE", "/api/pools/p1", None).await;
    expect(&r, 422, "invalid_configuration");
    assert_eq!(e.registry.get_pool("p1").await.unwrap().members, ["a1"]);
    e.runtime.fail_with(None);
    assert_eq!(e.call("DELETE", "/api/pools/p1", None).await.status, 204);
    e.runtime.fail_with(Some(msg));
    let r = e.call("DELETE", "/api/accounts/a1", None).await;
    expect(&r, 422, "invalid_configuration");
    assert_eq!(stored_key(&e, "a1").await.as_deref(), Some(CANARY));

    // Failed changes leave no audit event (three successful ones were made in between).
    assert_eq!(e.audit().await.len(), audit_before + 3);
    assert!(!e.seen.lock().unwrap().contains(CANARY));
}

#[tokio::test]
async fn every_successful_write_reloads_and_is_audited() {
    let e = env().await;
    let mut r = request(
        "POST",
        "/api/accounts",
        Some(&json!({"id": "a1", "vendor": "open_ai", "api_key": CANARY})),
        Some(TOKEN),
    );
    r.request_id = "rid-123".into();
    r.client_addr = Some("192.0.2.9".into());
    assert_eq!(e.send(r).await.status, 201);
    e.call(
        "POST",
        "/api/pools",
        Some(json!({"id": "p1", "strategy": "failover", "members": ["a1"]})),
    )
    .await;
    e.call(
        "PUT",
        "/api/pools/p1/members",
        Some(json!({"members": ["a1"]})),
    )
    .await;
    e.call(
        "POST",
        "/api/routes",
        Some(json!({"model": "m1", "pool": "p1"})),
    )
    .await;
    e.call("PATCH", "/api/routes/m1", Some(json!({"pool": "p1"})))
        .await;
    e.call(
        "PUT",
        "/api/accounts/a1/api_key",
        Some(json!({"api_key": CANARY})),
    )
    .await;
    e.call("DELETE", "/api/accounts/a1/api_key", None).await;
    e.call("DELETE", "/api/routes/m1", None).await;
    assert_eq!(e.runtime.reloads(), 8);

    let events = e.audit().await;
    let summary: Vec<(String, String, String)> = events
        .iter()
        .rev()
        .map(|ev| {
            (
                ev.action.clone(),
                ev.entity_type.clone(),
                ev.entity_id.clone(),
            )
        })
        .collect();
    let expected: Vec<(String, String, String)> = [
        ("create", "account", "a1"),
        ("create", "pool", "p1"),
        ("set_members", "pool", "p1"),
        ("create", "route", "m1"),
        ("update", "route", "m1"),
        ("set_api_key", "account", "a1"),
        ("clear_api_key", "account", "a1"),
        ("delete", "route", "m1"),
    ]
    .iter()
    .map(|(a, t, i)| ((*a).into(), (*t).into(), (*i).into()))
    .collect();
    assert_eq!(summary, expected);
    for ev in &events {
        assert_eq!(ev.actor, "admin");
        assert!(ev.request_id.is_some());
    }
    let first = events.last().unwrap();
    assert_eq!(first.request_id.as_deref(), Some("rid-123"));
    assert_eq!(first.client_addr.as_deref(), Some("192.0.2.9"));
    assert_eq!(events[0].client_addr, None);
    assert_eq!(first.detail["id"], "a1");
    assert_eq!(first.detail["has_api_key"], true);
    assert_eq!(first.detail["source"], "api");
    assert!(!serde_json::to_string(&events).unwrap().contains(CANARY));

    // Through the API: newest first, paged.
    let r = e.call("GET", "/api/audit/events?limit=3", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let page = r.json();
    let evs = page["events"].as_array().unwrap();
    assert_eq!(evs.len(), 3);
    assert_eq!(evs[0]["action"], "delete");
    assert!(evs[0]["ts"].as_str().unwrap().ends_with('Z'));
    let next = page["next_before"].as_i64().unwrap();
    assert_eq!(Some(next), evs[2]["id"].as_i64());
    let r = e
        .call(
            "GET",
            &format!("/api/audit/events?limit=5&before={next}"),
            None,
        )
        .await;
    let page = r.json();
    assert_eq!(page["events"].as_array().unwrap().len(), 5);
    assert_eq!(page["events"][4]["request_id"], "rid-123");
    assert_eq!(page["events"][4]["client_addr"], "192.0.2.9");
    assert_eq!(page["events"][3]["client_addr"], Value::Null);
    let r = e.call("GET", "/api/audit/events", None).await;
    assert_eq!(r.json()["events"].as_array().unwrap().len(), 8);
    assert_eq!(r.json()["next_before"], Value::Null);
    for bad in [
        "limit=0",
        "limit=501",
        "limit=x",
        "before=-1",
        "before=x",
        "page=2",
    ] {
        let r = e
            .call("GET", &format!("/api/audit/events?{bad}"), None)
            .await;
        expect(&r, 400, "invalid_request");
        let name = bad.split('=').next().unwrap();
        assert!(r.message().contains(&format!("`{name}`")), "{}", r.text);
    }
}

// ---------------------------------------------------------------- usage

fn usage(model: &str, account: &str, ts_ms: i64, tokens: u64) -> UsageEvent {
    UsageEvent {
        request_id: format!("r-{ts_ms}"),
        ts_ms,
        model: model.into(),
        vendor: Some("open_ai".into()),
        account_id: Some(account.into()),
        attempts: 1,
        outcome: "success".into(),
        status_code: 200,
        latency_ms: 100,
        prompt_tokens: Some(tokens),
        completion_tokens: Some(1),
        total_tokens: Some(tokens + 1),
        ..Default::default()
    }
}

#[tokio::test]
async fn usage_report() {
    let e = env().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let hour = 3_600_000;
    e.registry
        .insert_usage_events(&[
            usage("gpt-4o", "a1", now - hour, 10),
            usage("gpt-4o", "a2", now - 2 * hour, 20),
            usage("claude", "a1", now - 3 * hour, 30),
            usage("old", "a1", now - 3 * 24 * hour, 40),
        ])
        .await
        .unwrap();

    let r = e.call("GET", "/api/usage", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["totals"]["requests"], 3);
    assert_eq!(v["totals"]["total_tokens"], 63);
    assert!((v["since_ms"].as_i64().unwrap() - (now - 24 * hour)).abs() < 60_000);
    assert_eq!(v["until_ms"], Value::Null);
    let models = v["groups"]["model"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    assert_eq!(models[0]["key"], "claude");
    assert_eq!(models[1]["key"], "gpt-4o");
    assert_eq!(models[1]["requests"], 2);

    let r = e
        .call("GET", "/api/usage?since=7d&group_by=model,account", None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["totals"]["requests"], 4);
    assert_eq!(v["groups"]["account"].as_array().unwrap().len(), 2);
    assert_eq!(v["groups"]["model"].as_array().unwrap().len(), 3);

    let r = e.call("GET", "/api/usage?since=7d&until=150m", None).await;
    assert_eq!(r.json()["totals"]["requests"], 2);

    let r = e
        .call("GET", "/api/usage?since=1970-01-01&group_by=day", None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["since_ms"], 0);
    assert_eq!(r.json()["totals"]["requests"], 4);
    let r = e
        .call(
            "GET",
            "/api/usage?since=1970-01-01T00:00:00Z&until=2000-01-01T00%3A00%3A00%2B02%3A00",
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["until_ms"], 946_677_600_000_i64);
    assert_eq!(r.json()["totals"]["requests"], 0);

    for (q, name) in [
        ("since=yesterday", "since"),
        ("since=2024-13-01", "since"),
        ("until=soon", "until"),
        ("since=1h&until=2h", "until"),
        ("group_by=colour", "group_by"),
        ("group_by=", "group_by"),
        ("sinse=1h", "sinse"),
    ] {
        let r = e.call("GET", &format!("/api/usage?{q}"), None).await;
        expect(&r, 400, "invalid_request");
        assert!(
            r.message().contains(&format!("`{name}`")),
            "{q}: {}",
            r.text
        );
    }
}

#[tokio::test]
async fn usage_report_by_endpoint_counts_requests_without_usage() {
    let e = env().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let hour = 3_600_000;
    e.registry
        .insert_usage_events(&[
            usage("gpt-4o", "a1", now - hour, 10),
            usage("gpt-4o", "a2", now - 2 * hour, 20),
            usage("claude", "a1", now - 3 * hour, 30),
        ])
        .await
        .unwrap();
    // Endpoints and requests without usage.
    let mut messages = usage("claude", "a1", now - 4 * hour, 0);
    messages.request_id = "r-messages".into();
    messages.endpoint = "messages".into();
    messages.prompt_tokens = None;
    messages.completion_tokens = None;
    messages.total_tokens = None;
    let mut failed = messages.clone();
    failed.request_id = "r-failed".into();
    failed.outcome = "error".into();
    failed.ts_ms -= 1;
    e.registry
        .insert_usage_events(&[messages, failed])
        .await
        .unwrap();
    let r = e.call("GET", "/api/usage?group_by=endpoint", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["totals"]["requests"], 5);
    assert_eq!(v["totals"]["requests_without_usage"], 1);
    let endpoints: Vec<(String, u64, u64)> = v["groups"]["endpoint"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["key"].as_str().unwrap().to_string(),
                g["requests"].as_u64().unwrap(),
                g["requests_without_usage"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        endpoints,
        [("chat".to_string(), 3, 0), ("messages".to_string(), 2, 1)]
    );
    let r = e
        .call("GET", "/api/usage?since=1970-01-01&until=2000-01-01", None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["totals"]["requests_without_usage"], 0);
}

// ---------------------------------------------------------------- routing table, auth, openapi

/// A concrete path for a template.
fn concrete(template: &str) -> String {
    template
        .replace("{id}", "x1")
        .replace("{model}", "vendor/model:tag")
}

#[tokio::test]
async fn openapi_covers_exactly_the_routes() {
    let e = env().await;
    let r = e.call("GET", "/api/openapi.json", None).await;
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.0.3");
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            assert!(
                op["responses"]
                    .as_object()
                    .is_some_and(|r| r.contains_key("401")),
                "{method} {path}"
            );
            assert!(op["summary"].is_string(), "{method} {path}");
            documented.insert((method.to_uppercase(), path.clone()));
        }
        // Path parameters are declared.
        for name in ["id", "model"] {
            if path.contains(&format!("{{{name}}}")) {
                assert!(item["parameters"].is_array(), "{path}");
            }
        }
    }
    let routed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_string(), (*p).to_string()))
        .collect();
    assert_eq!(documented, routed);
    // Every $ref resolves.
    let text = doc.to_string();
    for piece in text.split("\"$ref\":\"#/").skip(1) {
        let pointer = format!("/{}", piece.split('"').next().unwrap());
        assert!(doc.pointer(&pointer).is_some(), "dangling $ref {pointer}");
    }
    // Error shape documented.
    assert!(doc
        .pointer("/components/schemas/Error/properties/error/properties/code")
        .is_some());
}

#[tokio::test]
async fn every_route_has_a_handler() {
    let e = env().await;
    for (method, template) in ROUTES {
        let r = e.call(method, &concrete(template), Some(json!({}))).await;
        assert_ne!(r.status, 405, "{method} {template}: {}", r.text);
        assert_ne!(r.status, 500, "{method} {template}: {}", r.text);
        if r.status == 404 {
            assert_ne!(r.message(), "Unknown admin path.", "{method} {template}");
        }
    }
}

#[tokio::test]
async fn auth_is_required_except_for_probes() {
    let e = env().await;
    for (method, template) in ROUTES {
        let path = concrete(template);
        for token in [None, Some("wrong")] {
            let r = e.send(request(method, &path, None, token)).await;
            let probe = matches!(*template, "/api/health/live" | "/api/health/ready");
            if probe {
                assert_ne!(r.status, 401, "{method} {path}");
            } else {
                expect(&r, 401, "unauthorized");
                assert_eq!(r.headers.get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
            }
        }
    }
    // Unknown paths do not reveal themselves without the token either.
    let r = e.send(request("GET", "/api/nope", None, None)).await;
    expect(&r, 401, "unauthorized");

    // Probes need the token when so configured.
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::connect(
        &format!("sqlite://{}/r.db", dir.path().display()),
        ConnectOptions::default(),
    )
    .await
    .unwrap();
    let config = Config::from_toml_str("[admin_auth]\nprobes_without_auth = false\n").unwrap();
    let admin = Admin::new(
        Arc::new(config),
        registry,
        Arc::new(FakeRuntime::default()),
        Some(Secret::new(TOKEN)),
        "test",
    );
    let r = admin
        .handle(request("GET", "/api/health/live", None, None))
        .await;
    assert_eq!(r.status(), 401);
    let r = admin
        .handle(request("GET", "/api/health/live", None, Some(TOKEN)))
        .await;
    assert_eq!(r.status(), 200);
}

/// No open mode: an admin API built without a token refuses everything but the
/// probes, whatever the caller sends.
#[tokio::test]
async fn without_a_token_nothing_but_the_probes_is_reachable() {
    let e = env().await;
    let admin = Admin::new(
        Arc::new(Config::from_toml_str("").unwrap()),
        e.registry.clone(),
        e.runtime.clone(),
        None,
        "test",
    );
    for (method, path, token) in [
        ("GET", "/api/accounts", None),
        ("GET", "/api/accounts", Some(TOKEN)),
        ("GET", "/api/accounts", Some("")),
        ("POST", "/api/accounts", None),
        ("GET", "/api/status", Some("anything-at-all-here")),
        ("GET", "/api/openapi.json", None),
    ] {
        let body = (method == "POST").then(|| json!({"id": "x", "vendor": "open_ai"}));
        let r = admin
            .handle(request(method, path, body.as_ref(), token))
            .await;
        assert_eq!(r.status(), 401, "{method} {path} {token:?}");
    }
    assert!(e.registry.list_accounts().await.unwrap().is_empty());
    for path in ["/api/health/live", "/api/health/ready"] {
        let r = admin.handle(request("GET", path, None, None)).await;
        assert_ne!(r.status(), 401, "{path}");
    }
}

#[tokio::test]
async fn wrong_method_is_405_unknown_path_404() {
    let e = env().await;
    let r = e.call("DELETE", "/api/accounts", None).await;
    expect(&r, 405, "method_not_allowed");
    assert_eq!(r.headers.get(header::ALLOW).unwrap(), "GET, POST");
    let r = e.call("POST", "/api/accounts/a1", None).await;
    expect(&r, 405, "method_not_allowed");
    assert_eq!(
        r.headers.get(header::ALLOW).unwrap(),
        "GET, PUT, PATCH, DELETE"
    );
    let r = e.call("POST", "/api/health/live", None).await;
    expect(&r, 405, "method_not_allowed");
    let r = e.call("GET", "/api/pools/p1/members", None).await;
    expect(&r, 405, "method_not_allowed");
    for path in [
        "/api/nope",
        "/api/accounts/a/b",
        "/api/routes/",
        "/api/accounts/",
        "/api",
    ] {
        let r = e.call("GET", path, None).await;
        expect(&r, 404, "not_found");
    }
}

#[tokio::test]
async fn database_unavailable_is_503() {
    let e = env().await;
    e.seed_api().await;
    e.registry.close().await;
    for (method, path, body) in [
        ("GET", "/api/accounts", None),
        ("GET", "/api/routes/m1", None),
        (
            "POST",
            "/api/pools",
            Some(json!({"id": "p2", "strategy": "failover", "members": ["a1"]})),
        ),
        ("GET", "/api/usage", None),
        ("GET", "/api/audit/events", None),
    ] {
        let r = e.call(method, path, body).await;
        expect(&r, 503, "database_unavailable");
    }
}

#[tokio::test]
async fn reset_puts_an_account_back_and_is_audited() {
    let e = env().await;
    let r = e
        .call(
            "POST",
            "/api/accounts",
            Some(json!({"id": "acct-r", "vendor": "open_ai"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = e.call("POST", "/api/accounts/acct-r/reset", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = e.call("POST", "/api/accounts/nope/reset", None).await;
    expect(&r, 404, "not_found");
    let r = e
        .call(
            "POST",
            "/api/accounts",
            Some(json!({"id": "unrouted", "vendor": "open_ai"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = e.call("POST", "/api/accounts/unrouted/reset", None).await;
    expect(&r, 409, "not_routed");
    let events = e.call("GET", "/api/audit/events", None).await.json();
    let resets: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|ev| ev["action"] == "reset_health")
        .collect();
    assert_eq!(
        resets.len(),
        1,
        "only the successful reset is audited: {events:#}"
    );
    assert_eq!(resets[0]["entity_id"], "acct-r");
}

// ---------------------------------------------------------------- HEAD on health probes

#[tokio::test]
async fn head_on_health_probes_answers_like_get_without_a_body() {
    let env = env().await;
    let locked = {
        let config = Config::from_toml_str("[admin_auth]\nprobes_without_auth = false").unwrap();
        Admin::new(
            Arc::new(config),
            env.registry.clone(),
            env.runtime.clone(),
            Some(Secret::new(TOKEN)),
            "test",
        )
    };
    // (admin, path, token, expected status)
    let cases: &[(&Admin, &str, Option<&str>, u16)] = &[
        (&env.admin, "/api/health/live", None, 200),
        (&env.admin, "/api/health/ready", None, 200),
        (&env.admin, "/api/health/live", Some(TOKEN), 200),
        (&locked, "/api/health/live", None, 401),
        (&locked, "/api/health/ready", None, 401),
        (&locked, "/api/health/ready", Some(TOKEN), 200),
    ];
    for (admin, path, token, status) in cases {
        let get = admin.handle(request("GET", path, None, *token)).await;
        let head = admin.handle(request("HEAD", path, None, *token)).await;
        let what = format!("{path} token={token:?}");
        assert_eq!(get.status().as_u16(), *status, "{what}");
        assert_eq!(head.status(), get.status(), "{what}");
        assert!(!get.body().is_empty(), "{what}");
        assert!(head.body().is_empty(), "{what}: HEAD has no body");
        for (name, value) in get.headers() {
            assert_eq!(head.headers().get(name), Some(value), "{what}: {name}");
        }
        assert_eq!(
            head.headers().get(header::CONTENT_LENGTH).unwrap(),
            &get.body().len().to_string(),
            "{what}: Content-Length of the GET body"
        );
    }

    // other paths are unchanged: HEAD is not a method of theirs
    let r = env.call("HEAD", "/api/status", None).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.headers.get(header::ALLOW).unwrap(), "GET");
    // and the probes advertise it
    let r = env.call("POST", "/api/health/live", None).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.headers.get(header::ALLOW).unwrap(), "GET, HEAD");
}

/// `has_api_key` says whether the key source resolves now, never the key.
#[tokio::test]
async fn has_api_key_follows_the_key_source() {
    let e = env().await;
    let files = tempfile::tempdir().unwrap();
    let key_file = files.path().join("key");
    std::fs::write(&key_file, format!("{CANARY}\n")).unwrap();
    let blank_file = files.path().join("blank");
    std::fs::write(&blank_file, "  \n").unwrap();
    let missing_file = files.path().join("missing");
    // Each test runs in its own process (nextest), and these names are unique.
    std::env::set_var("ROOK_ADMIN_TEST_KEY_SET", CANARY);
    std::env::set_var("ROOK_ADMIN_TEST_KEY_BLANK", " ");
    std::env::remove_var("ROOK_ADMIN_TEST_KEY_UNSET");

    // (account id, api_key_env, api_key_file, has_api_key)
    let table: &[(&str, Option<&str>, Option<&std::path::Path>, bool)] = &[
        ("env-set", Some("ROOK_ADMIN_TEST_KEY_SET"), None, true),
        ("env-blank", Some("ROOK_ADMIN_TEST_KEY_BLANK"), None, false),
        ("env-unset", Some("ROOK_ADMIN_TEST_KEY_UNSET"), None, false),
        ("file-readable", None, Some(&key_file), true),
        ("file-blank", None, Some(&blank_file), false),
        ("file-missing", None, Some(&missing_file), false),
        ("no-source", None, None, false),
    ];
    let records: Vec<AccountRecord> = table
        .iter()
        .map(|(id, var, file, _)| {
            let mut a = AccountRecord::new(*id, "open_ai", "https://api.openai.com/v1");
            a.api_key_env = var.map(str::to_owned);
            a.api_key_file = file.map(|p| p.display().to_string());
            a
        })
        .collect();
    e.registry.sync_declared(&records, &[], &[]).await.unwrap();
    // An API-managed account with a stored key.
    let r = e
        .call(
            "POST",
            "/api/accounts",
            Some(json!({"id": "api-inline", "vendor": "open_ai", "api_key": CANARY})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    let r = e.call("GET", "/api/accounts", None).await;
    assert_eq!(r.status, 200);
    assert!(!r.text.contains(CANARY), "{}", r.text);
    let list = r.json()["accounts"].as_array().unwrap().clone();
    let shown = |id: &str| {
        list.iter()
            .find(|a| a["id"] == id)
            .unwrap_or_else(|| panic!("{id} not listed"))["has_api_key"]
            .clone()
    };
    for (id, _, _, expected) in table {
        assert_eq!(shown(id), json!(*expected), "{id}");
        let one = e.call("GET", &format!("/api/accounts/{id}"), None).await;
        assert_eq!(one.json()["has_api_key"], json!(*expected), "{id}");
    }
    assert_eq!(shown("api-inline"), json!(true));
}

#[tokio::test]
async fn inline_keys_need_a_master_key() {
    let e = env_with(false).await;
    let body = json!({"id": "k1", "vendor": "custom", "base_url": "http://127.0.0.1:9/v1", "api_key": CANARY});
    let r = e.call("POST", "/api/accounts", Some(body)).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.code(), "invalid_request");
    for needle in ["`api_key`", "api_key_env", "api_key_file", "master_key_env"] {
        assert!(r.message().contains(needle), "{needle}: {}", r.message());
    }
    assert!(!r.text.contains(CANARY));
    expect(
        &e.call("GET", "/api/accounts/k1", None).await,
        404,
        "not_found",
    );

    // Without a key the account is fine; then PUT, PATCH and PUT api_key refuse an inline key.
    let body = json!({"id": "k1", "vendor": "custom", "base_url": "http://127.0.0.1:9/v1"});
    assert_eq!(
        e.call("POST", "/api/accounts", Some(body)).await.status,
        201
    );
    let reloads = e.runtime.reloads();
    for (method, path, body) in [
        (
            "PUT",
            "/api/accounts/k1",
            json!({"vendor": "custom", "base_url": "http://127.0.0.1:9/v1", "api_key": CANARY}),
        ),
        (
            "PATCH",
            "/api/accounts/k1",
            json!({"api_key": CANARY, "weight": 7}),
        ),
        (
            "PUT",
            "/api/accounts/k1/api_key",
            json!({"api_key": CANARY}),
        ),
    ] {
        let r = e.call(method, path, Some(body)).await;
        assert_eq!(r.status, 400, "{method} {path}: {}", r.text);
        assert!(r.message().contains("api_key_env"), "{}", r.message());
    }
    // Nothing was written.
    assert_eq!(e.runtime.reloads(), reloads);
    let a = e.registry.get_account("k1").await.unwrap();
    assert_eq!((a.api_key, a.weight), (None, 1));
}

#[tokio::test]
async fn writes_into_a_removed_database_file_are_refused() {
    let e = env().await;
    let db = e._dir.path().join("r.db");
    let ready = e.call("GET", "/api/health/ready", None).await;
    assert_eq!(ready.json()["checks"][0]["identity"], "ok");
    std::fs::remove_file(&db).unwrap();

    let r = e
        .call(
            "POST",
            "/api/routes",
            Some(json!({"model": "m", "pool": "p"})),
        )
        .await;
    expect(&r, 503, "database_unavailable");
    assert!(r.message().contains("was removed"), "{}", r.message());
    let r = e.call("DELETE", "/api/accounts/x", None).await;
    expect(&r, 503, "database_unavailable");
    // Reads still answer.
    assert_eq!(e.call("GET", "/api/accounts", None).await.status, 200);

    let ready = e.call("GET", "/api/health/ready", None).await;
    assert_eq!(ready.status, 503, "{}", ready.text);
    let check = &ready.json()["checks"][0];
    assert_eq!(check["name"], "database");
    assert_eq!(check["ok"], false);
    assert_eq!(check["identity"], "removed");
    assert!(check["message"].as_str().unwrap().contains("was removed"));
    assert!(
        !ready.text.contains(&*db.display().to_string()),
        "no path in a probe answer"
    );

    let status = e.call("GET", "/api/status", None).await.json();
    assert_eq!(status["database"]["identity"], "removed");
    assert!(status["database"]["problem"]
        .as_str()
        .unwrap()
        .contains("was removed"));
}

// ---------------------------------------------------------------- session credential

/// The dashboard's sessions as the gateway checks them: cookie `live`, CSRF token `t`.
struct FakeSessions;

impl rook_admin::SessionAuth for FakeSessions {
    fn check(&self, headers: &http::HeaderMap, write: bool) -> rook_admin::SessionCheck {
        use rook_admin::SessionCheck;
        if headers
            .get(header::COOKIE)
            .is_none_or(|c| c != "rook_session=live")
        {
            return SessionCheck::Absent;
        }
        match (write, headers.get("x-csrf-token")) {
            (false, _) => SessionCheck::Valid,
            (true, Some(t)) if t == "t" => SessionCheck::Valid,
            (true, _) => SessionCheck::CsrfFailed,
        }
    }
}

#[tokio::test]
async fn a_session_is_a_credential_and_its_writes_need_the_csrf_token() {
    let Env {
        admin,
        registry,
        runtime,
        seen,
        _dir,
    } = env().await;
    let e = Env {
        admin: admin.with_sessions(Arc::new(FakeSessions)),
        registry,
        runtime,
        seen,
        _dir,
    };
    e.seed_api().await;
    let with =
        |method: &str, path: &str, body: Option<&Value>, headers: &[(&'static str, &str)]| {
            let mut r = request(method, path, body, None);
            for (k, v) in headers {
                r.headers.insert(*k, HeaderValue::from_str(v).unwrap());
            }
            r
        };
    let cookie = ("cookie", "rook_session=live");
    let route = json!({"model": "m2", "pool": "p1"});
    // Reads: the cookie alone; an unknown cookie is no credential.
    let r = e.send(with("GET", "/api/accounts", None, &[cookie])).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = e
        .send(with(
            "GET",
            "/api/accounts",
            None,
            &[("cookie", "rook_session=gone")],
        ))
        .await;
    expect(&r, 401, "unauthorized");
    // Writes: without or with a wrong CSRF token 403, nothing written.
    for headers in [vec![cookie], vec![cookie, ("x-csrf-token", "wrong")]] {
        let r = e
            .send(with("POST", "/api/routes", Some(&route), &headers))
            .await;
        expect(&r, 403, "csrf_failed");
    }
    assert!(e.registry.get_route("m2").await.is_err());
    let r = e
        .send(with(
            "POST",
            "/api/routes",
            Some(&route),
            &[cookie, ("x-csrf-token", "t")],
        ))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // The bearer token still works on its own, whatever cookie comes with it.
    let mut r = with("DELETE", "/api/routes/m2", None, &[cookie]);
    r.headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {TOKEN}")).unwrap(),
    );
    assert_eq!(e.send(r).await.status, StatusCode::NO_CONTENT);
    let audit = e.audit().await;
    assert_eq!(audit[1].action, "create");
    assert_eq!(audit[1].entity_id, "m2");
}
