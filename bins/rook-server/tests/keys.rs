//! End to end: client keys (issue 13) through the real `rook-server` and `rook-cli`,
//! on SQLite and on PostgreSQL: create with the CLI, use with the official `openai`
//! SDK, scope, budget (crossed by real traffic, rolled over with the test clock
//! offset), RPM, expiry, revocation, rotation with and without grace, the `default`
//! key, usage by key, and the secret never stored or shown after creation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rook_test_support::cluster::{postgres_url, TempDatabase};
use rook_test_support::{http, workspace_bin, FakeUpstream, Reply, RookServer};
use serde_json::{json, Value};

const LEGACY: &str = "legacy-inbound-token-0123";
const ADMIN: &str = "admin-token-0123456789abcdef";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rook-server"))
}

fn cli() -> PathBuf {
    workspace_bin("rook-cli", "rook-cli").unwrap()
}

/// Routes `m` and `other` on the fake; `m` costs $0.02 per default answer (10 prompt
/// tokens at $1000/M + 5 completion tokens at $2000/M).
fn config(up: &FakeUpstream, database_url: &str, extra: &str) -> String {
    let auth = if extra.contains("[inbound_auth]") {
        ""
    } else {
        "[inbound_auth]\nenabled = true\n"
    };
    format!(
        r#"
host = "127.0.0.1"
port = {{port}}
database_url = "{database_url}"
{extra}
{auth}

[usage]
flush_interval_ms = 50

[pricing."m"]
input_usd_per_million = 1000.0
output_usd_per_million = 2000.0

[[accounts]]
id = "a"
vendor = "open_ai"
base_url = "{base}"
api_key_env = "KEY_A"

[[pools]]
id = "p"
strategy = "priority"
members = ["a"]

[[routes]]
model = "m"
pool = "p"

[[routes]]
model = "other"
pool = "p"
"#,
        base = up.base_url(),
    )
}

const ENV: &[(&str, &str)] = &[
    ("KEY_A", "sk-upstream-a"),
    ("ROOK_TOKEN", LEGACY),
    ("ROOK_ADMIN_TOKEN", ADMIN),
];

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn call(server: &RookServer, token: &str, model: &str) -> rook_test_support::TestResponse {
    let auth = bearer(token);
    http::post_json(
        &server.url("/v1/chat/completions"),
        &[("authorization", &auth)],
        &chat(model),
    )
    .await
    .unwrap()
}

/// Runs `rook-cli` with `args` (and `--config`), returning stdout; panics on failure.
fn rook_cli(config: &Path, args: &[&str]) -> String {
    let out = rook_cli_raw(config, args);
    assert!(
        out.status.success(),
        "rook-cli {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn rook_cli_raw(config: &Path, args: &[&str]) -> std::process::Output {
    Command::new(cli())
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("ROOK_CONFIG")
        .env("ROOK_ADMIN_TOKEN", ADMIN)
        .output()
        .unwrap()
}

fn cli_json(config: &Path, args: &[&str]) -> Value {
    serde_json::from_str(&rook_cli(config, args)).unwrap()
}

/// Creates a key through the admin API with the CLI; returns (id, secret).
fn create_key(server: &RookServer, extra: &[&str]) -> (String, String) {
    let url = server.base_url();
    let mut args = vec!["keys", "create", "--json", "--server", url.as_str()];
    args.extend_from_slice(extra);
    let v = cli_json(server.config_path(), &args);
    let secret = v["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("rk-") && secret.len() == 46, "{secret}");
    (v["id"].as_str().unwrap().to_string(), secret)
}

/// Whether python3 can import the `openai` SDK (outside CI a missing SDK skips the
/// SDK step, in CI it fails).
fn openai_sdk_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import openai"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok || std::env::var_os("CI").is_none(),
        "python3 with the openai package is needed in CI"
    );
    ok
}

/// Runs the SDK script without blocking the runtime (the fake upstream runs on it).
async fn openai_sdk(server: &RookServer, key: &str, commands: &[&str]) -> Value {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "sdk",
        "openai_client.py",
    ]
    .iter()
    .collect();
    let out = tokio::process::Command::new("python3")
        .arg(&path)
        .args([server.url("/v1").as_str(), key, "m"])
        .args(commands)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("OPENAI_API_KEY")
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "openai SDK failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn admin_get(server: &RookServer, path: &str) -> rook_test_support::TestResponse {
    let auth = bearer(ADMIN);
    http::get(&server.url(path), &[("authorization", &auth)])
        .await
        .unwrap()
}

fn error_code(r: &rook_test_support::TestResponse) -> String {
    r.json()["error"]["code"].as_str().unwrap_or("").to_string()
}

/// Waits until `f` holds (up to 10 s).
async fn eventually<F: std::future::Future<Output = bool>>(mut f: impl FnMut() -> F) -> bool {
    for _ in 0..100 {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// The whole life of keys on one database.
async fn scenario(up: &FakeUpstream, server: &RookServer) -> Vec<String> {
    let cfg = server.config_path();
    let mut secrets = Vec::new();

    // Create with the CLI (through the admin API) and use it with the openai SDK.
    let (app, app_secret) = create_key(
        server,
        &[
            "--name",
            "app",
            "--models",
            "m",
            "--budget-usd",
            "0.05",
            "--budget-period",
            "day",
        ],
    );
    secrets.push(app_secret.clone());
    assert_eq!(app, "app");
    if openai_sdk_available() {
        let v = openai_sdk(server, &app_secret, &["chat"]).await;
        assert!(v["chat"]["content"].is_string(), "{v}");
    } else {
        assert_eq!(call(server, &app_secret, "m").await.status, 200);
    }

    // Scope: another model is 403 naming it; /v1/models lists only the key's models.
    let r = call(server, &app_secret, "other").await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(error_code(&r), "model_not_allowed");
    assert!(r.text().contains("`other`"));
    let auth = bearer(&app_secret);
    let models = http::get(&server.url("/v1/models"), &[("authorization", &auth)])
        .await
        .unwrap()
        .json();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["m"]);
    let legacy = bearer(LEGACY);
    let all = http::get(&server.url("/v1/models"), &[("authorization", &legacy)])
        .await
        .unwrap()
        .json();
    assert_eq!(all["data"].as_array().map(Vec::len), Some(2), "{all}");

    // Budget: $0.02 per request, $0.05 per day: the third request crosses it.
    assert_eq!(call(server, &app_secret, "m").await.status, 200);
    assert_eq!(call(server, &app_secret, "m").await.status, 200);
    let calls = up.chat_requests().len();
    let r = call(server, &app_secret, "m").await;
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.json()["error"]["type"], "insufficient_quota");
    assert_eq!(error_code(&r), "budget_exceeded");
    assert_eq!(r.header("x-should-retry"), Some("false"));
    assert!(r.text().contains("resets at"), "{}", r.text());
    assert_eq!(
        up.chat_requests().len(),
        calls,
        "no upstream call when over budget"
    );

    // Show and list with the spend.
    let url = server.base_url();
    let shown = cli_json(cfg, &["keys", "show", "app", "--json", "--server", &url]);
    assert!(
        (shown["spend_usd"].as_f64().unwrap() - 0.06).abs() < 1e-9,
        "{shown}"
    );
    assert_eq!(shown["budget_usd"], 0.05);
    assert!(shown["period_resets_at"]
        .as_str()
        .unwrap()
        .ends_with("T00:00:00Z"));
    assert!(
        eventually(|| async {
            let v = admin_get(server, "/api/keys/app").await.json();
            v["requests_today"].as_u64() >= Some(3)
        })
        .await
    );
    let table = rook_cli(cfg, &["keys", "list", "--server", &url]);
    assert!(table.contains(&format!("{}…", &app_secret[..7])), "{table}");
    assert!(table.contains("$0.06 / $0.05 per day"), "{table}");
    assert!(table.contains("default"), "{table}");

    // PATCH applies at once: a raised budget admits the key again; unknown fields are 400.
    let auth = bearer(ADMIN);
    let patch = |body: Value| {
        let url = server.url("/api/keys/app");
        let auth = auth.clone();
        async move {
            http::request(
                "PATCH",
                &url,
                &[
                    ("authorization", &auth),
                    ("content-type", "application/json"),
                ],
                Some(serde_json::to_vec(&body).unwrap()),
            )
            .await
            .unwrap()
        }
    };
    let r = patch(json!({"budget_usd": 1.0})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["budget_usd"], 1.0);
    assert_eq!(call(server, &app_secret, "m").await.status, 200);
    assert_eq!(patch(json!({"secret": "x"})).await.status, 400);
    assert_eq!(patch(json!({"budget_usd": 0.05})).await.status, 200);
    assert_eq!(call(server, &app_secret, "m").await.status, 429);

    // Key RPM: two per minute, the third is 429 with Retry-After. On PostgreSQL the
    // limit is leased per wall-clock minute: keep the three calls in one minute.
    let into_minute = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        % 60_000;
    if into_minute > 55_000 {
        tokio::time::sleep(Duration::from_millis(60_100 - into_minute as u64)).await;
    }
    let (_, rpm) = create_key(server, &["--name", "rpm", "--rpm", "2"]);
    secrets.push(rpm.clone());
    assert_eq!(call(server, &rpm, "m").await.status, 200);
    assert_eq!(call(server, &rpm, "m").await.status, 200);
    let calls = up.chat_requests().len();
    let r = call(server, &rpm, "m").await;
    assert_eq!(r.status, 429);
    assert_eq!(error_code(&r), "rate_limit_exceeded");
    assert!(r.header("retry-after").is_some());
    assert_eq!(up.chat_requests().len(), calls);

    // Expiry.
    let (_, short) = create_key(server, &["--name", "short", "--expires", "2s"]);
    secrets.push(short.clone());
    assert_eq!(call(server, &short, "m").await.status, 200);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let r = call(server, &short, "m").await;
    assert_eq!(r.status, 401);
    assert_eq!(error_code(&r), "invalid_api_key");
    assert!(r.text().contains("expired"), "{}", r.text());

    // Revocation takes effect on the next request; the row stays.
    let (_, gone) = create_key(server, &["--name", "gone"]);
    secrets.push(gone.clone());
    assert_eq!(call(server, &gone, "m").await.status, 200);
    rook_cli(cfg, &["keys", "revoke", "gone", "--server", &url]);
    let r = call(server, &gone, "m").await;
    assert_eq!(r.status, 401);
    assert!(r.text().contains("revoked"), "{}", r.text());
    assert_eq!(
        admin_get(server, "/api/keys/gone").await.json()["state"],
        "revoked"
    );

    // Rotation without grace: the old secret stops at once.
    let (_, r1) = create_key(server, &["--name", "rot"]);
    let v = cli_json(cfg, &["keys", "rotate", "rot", "--json", "--server", &url]);
    let r2 = v["secret"].as_str().unwrap().to_string();
    assert_eq!(call(server, &r1, "m").await.status, 401);
    assert_eq!(call(server, &r2, "m").await.status, 200);
    // With grace both work.
    let v = cli_json(
        cfg,
        &[
            "keys", "rotate", "rot", "--grace", "1h", "--json", "--server", &url,
        ],
    );
    let r3 = v["secret"].as_str().unwrap().to_string();
    assert!(v["rotation_grace_until"].is_string(), "{v}");
    assert_eq!(call(server, &r2, "m").await.status, 200);
    assert_eq!(call(server, &r3, "m").await.status, 200);
    secrets.extend([r1, r2, r3]);

    // A key created in the registry directly (no --server) is picked up by polling.
    let v = cli_json(cfg, &["keys", "create", "--name", "direct", "--json"]);
    let direct = v["secret"].as_str().unwrap().to_string();
    secrets.push(direct.clone());
    assert!(eventually(|| async { call(server, &direct, "m").await.status == 200 }).await);

    // The default key still works, and has no limits.
    assert_eq!(call(server, LEGACY, "other").await.status, 200);
    // Unknown and missing keys.
    assert_eq!(call(server, "rk-nope", "m").await.status, 401);
    let r = http::post_json(&server.url("/v1/chat/completions"), &[], &chat("m"))
        .await
        .unwrap();
    assert_eq!(r.status, 401);

    // Usage by key: the CLI (registry) and the API.
    assert!(
        eventually(|| async {
            let out = rook_cli(
                cfg,
                &["usage", "report", "--format", "json", "--group-by", "key"],
            );
            let v: Value = serde_json::from_str(&out).unwrap();
            let groups = v["groups"]["key"].as_array().cloned().unwrap_or_default();
            let count = |k: &str| {
                groups
                    .iter()
                    .find(|g| g["key"] == k)
                    .and_then(|g| g["requests"].as_u64())
            };
            count("app") >= Some(5) && count("default").is_some()
        })
        .await
    );
    let api = admin_get(server, "/api/usage?group_by=key").await;
    assert_eq!(api.status, 200);
    assert!(api.text().contains("\"key\":\"app\""), "{}", api.text());

    // Metrics.
    let metrics = admin_get(server, "/api/metrics").await.text();
    assert!(
        metrics.contains("rook_client_key_requests_total{key=\"app\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("rook_client_key_rejections_total{reason=\"budget_exceeded\"} 2"));
    assert!(metrics.contains("rook_client_key_spend_usd{key=\"app\"} 0.08"));

    // Audit: create/rotate/revoke with the actor and the request id.
    let audit = admin_get(server, "/api/audit/events?limit=100")
        .await
        .json();
    let events = audit["events"].as_array().unwrap();
    for action in ["create", "rotate", "revoke"] {
        let e = events
            .iter()
            .find(|e| {
                e["entity_type"] == "client_key"
                    && e["action"] == action
                    && e["entity_id"] != "direct"
            })
            .unwrap_or_else(|| panic!("no {action} event: {audit}"));
        assert_eq!(e["actor"], "admin");
        assert!(e["request_id"].is_string());
    }
    assert!(events
        .iter()
        .any(|e| e["actor"] == "cli" && e["entity_id"] == "direct"));

    // Nothing after creation shows a secret: the API, metrics, logs, config export.
    let listing = admin_get(server, "/api/keys").await.text();
    let export = rook_cli(cfg, &["config", "export"]);
    let audit_text = audit.to_string();
    for s in &secrets {
        let body = &s[3..];
        for (what, text) in [
            ("GET /api/keys", &listing),
            ("/api/metrics", &metrics),
            ("config export", &export),
            ("audit", &audit_text),
        ] {
            assert!(!text.contains(body), "a secret appeared in {what}");
        }
    }
    secrets
}

fn assert_no_secret_in_logs(server: &RookServer, secrets: &[String]) {
    let logs = server.logs();
    for s in secrets {
        assert!(!logs.contains(&s[3..]), "a secret appeared in the logs");
    }
}

#[tokio::test]
async fn client_keys_on_sqlite() {
    let up = FakeUpstream::start().await;
    let server = RookServer::start(bin(), &config(&up, "sqlite://{dir}/rook.db", ""), ENV)
        .await
        .unwrap();
    let secrets = scenario(&up, &server).await;
    assert_no_secret_in_logs(&server, &secrets);
    // Neither the database file (strings) nor a backup holds a secret.
    let backup = server.dir().join("backup.db");
    rook_cli(
        server.config_path(),
        &["db", "backup", backup.to_str().unwrap()],
    );
    for file in ["rook.db", "rook.db-wal", "backup.db"] {
        let path = server.dir().join(file);
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        for s in &secrets {
            assert!(!text.contains(&s[3..]), "a secret is stored in {file}");
        }
    }
}

#[tokio::test]
async fn client_keys_on_postgres() {
    let Some(admin_url) = postgres_url() else {
        return;
    };
    let db = TempDatabase::create(&admin_url, "keys").unwrap();
    let up = FakeUpstream::start().await;
    let server = RookServer::start(bin(), &config(&up, &db.url(), ""), ENV)
        .await
        .unwrap();
    let secrets = scenario(&up, &server).await;
    assert_no_secret_in_logs(&server, &secrets);
    let dump = Command::new("pg_dump").arg(db.url()).output().unwrap();
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let text = String::from_utf8_lossy(&dump.stdout);
    assert!(text.contains("client_keys"));
    for s in &secrets {
        assert!(!text.contains(&s[3..]), "a secret is stored in PostgreSQL");
    }
}

/// A budget crossed by traffic is refused until the UTC day rolls over; the test
/// clock offset puts the server eight seconds before midnight.
#[tokio::test]
async fn budget_rolls_over_with_the_period() {
    let t0 = std::time::Instant::now();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Server clock = wall clock + offset: midnight comes at t0 + 8 s (less the fraction
    // of the current second).
    let offset = (86_400 - now % 86_400 - 8).to_string();
    let up = FakeUpstream::start().await;
    let mut env = ENV.to_vec();
    env.push(("ROOK_TEST_CLOCK_OFFSET_SECONDS", &offset));
    let server = RookServer::start(bin(), &config(&up, "sqlite://{dir}/rook.db", ""), &env)
        .await
        .unwrap();
    let (_, k) = create_key(
        &server,
        &[
            "--name",
            "daily",
            "--budget-usd",
            "0.01",
            "--budget-period",
            "day",
        ],
    );
    assert_eq!(call(&server, &k, "m").await.status, 200);
    let calls = up.chat_requests().len();
    let r = call(&server, &k, "m").await;
    assert!(
        t0.elapsed() < Duration::from_secs(7),
        "the machine is too slow for this test"
    );
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(error_code(&r), "budget_exceeded");
    assert!(r.text().contains("resets at"), "{}", r.text());
    assert_eq!(up.chat_requests().len(), calls);
    // After the (offset) midnight the new day starts at zero.
    tokio::time::sleep(Duration::from_secs(9).saturating_sub(t0.elapsed())).await;
    let r = call(&server, &k, "m").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let shown = admin_get(&server, "/api/keys/daily").await.json();
    assert!(
        (shown["spend_usd"].as_f64().unwrap() - 0.02).abs() < 1e-9,
        "{shown}"
    );
}

/// 32 concurrent requests against a nearly spent budget: all admitted (they are in
/// flight when it is crossed), nothing after; the spend survives a restart.
#[tokio::test]
async fn overspend_is_bounded_by_the_requests_in_flight_and_spend_survives_a_restart() {
    let up = FakeUpstream::start().await;
    let dir = rook_test_support::TestDir::new("rook-keys").unwrap();
    let cfg = config(&up, "sqlite://{dir}/rook.db", "");
    let mut server = RookServer::start_in(bin(), dir.path(), &cfg, ENV)
        .await
        .unwrap();
    let (_, k) = create_key(
        &server,
        &[
            "--name",
            "burst",
            "--budget-usd",
            "0.05",
            "--budget-period",
            "month",
        ],
    );
    assert_eq!(call(&server, &k, "m").await.status, 200);
    assert_eq!(call(&server, &k, "m").await.status, 200);
    // $0.04 spent: each of 32 concurrent requests is admitted, none is refused.
    up.set_default(Reply::auto().delay(Duration::from_millis(300)));
    let before = up.chat_requests().len();
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let url = server.url("/v1/chat/completions");
        let auth = bearer(&k);
        tasks.push(tokio::spawn(async move {
            http::post_json(&url, &[("authorization", &auth)], &chat("m"))
                .await
                .unwrap()
                .status
        }));
    }
    let mut ok = 0;
    for t in tasks {
        let status = t.await.unwrap();
        assert!(status == 200 || status == 429, "{status}");
        ok += usize::from(status == 200);
    }
    let admitted = up.chat_requests().len() - before;
    assert_eq!(admitted, ok);
    assert!(admitted <= 32);
    // Every admitted request was charged; nothing more gets through.
    let r = call(&server, &k, "m").await;
    assert_eq!(error_code(&r), "budget_exceeded");
    assert_eq!(up.chat_requests().len(), before + admitted);
    let spend = admin_get(&server, "/api/keys/burst").await.json()["spend_usd"]
        .as_f64()
        .unwrap();
    let expected = 0.04 + 0.02 * admitted as f64;
    assert!((spend - expected).abs() < 1e-9, "{spend} vs {expected}");
    // The bound: budget + (requests in flight) x (cost of one).
    assert!(spend <= 0.05 + 32.0 * 0.02 + 1e-9);
    // Spend is derived from the registry after a restart.
    server.sigterm().unwrap();
    server.wait_exit(Duration::from_secs(20)).await.unwrap();
    let server = RookServer::start_in(bin(), dir.path(), &cfg, ENV)
        .await
        .unwrap();
    let r = call(&server, &k, "m").await;
    assert_eq!(error_code(&r), "budget_exceeded");
    // The last use was written at shutdown (batched, not per request).
    let shown = admin_get(&server, "/api/keys/burst").await.json();
    assert!(shown["last_used_at"].is_string(), "{shown}");
    let spend_after = admin_get(&server, "/api/keys/burst").await.json()["spend_usd"]
        .as_f64()
        .unwrap();
    assert!((spend_after - expected).abs() < 1e-9, "{spend_after}");
}

/// `[inbound_auth]` disabled but keys declared: keys are required; declared keys are
/// read-only through the API; idempotency records are scoped per key.
#[tokio::test]
async fn declared_keys_without_inbound_auth_are_required_and_read_only() {
    let up = FakeUpstream::start().await;
    let extra = r#"
[inbound_auth]
enabled = false

[[client_keys]]
id = "ci"
name = "CI"
token_env = "CI_KEY"
models = ["m*"]

[[client_keys]]
id = "web"
name = "Web"
token_env = "WEB_KEY"
"#;
    let mut env = ENV.to_vec();
    env.push(("CI_KEY", "ci-declared-token-abcdef"));
    env.push(("WEB_KEY", "web-declared-token-abcdef"));
    let server = RookServer::start(bin(), &config(&up, "sqlite://{dir}/rook.db", extra), &env)
        .await
        .unwrap();
    assert!(server
        .logs()
        .contains("every /v1 request needs a client key"));
    let r = http::post_json(&server.url("/v1/chat/completions"), &[], &chat("m"))
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(
        call(&server, "ci-declared-token-abcdef", "m").await.status,
        200
    );
    assert_eq!(
        call(&server, "ci-declared-token-abcdef", "other")
            .await
            .status,
        403
    );
    // Declared keys are read-only, through the API and the CLI.
    let auth = bearer(ADMIN);
    let r = http::request(
        "DELETE",
        &server.url("/api/keys/ci"),
        &[("authorization", &auth)],
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["error"]["code"], "read_only");
    let out = rook_cli_raw(server.config_path(), &["keys", "revoke", "ci"]);
    assert_eq!(out.status.code(), Some(2));
    let listed = admin_get(&server, "/api/keys").await.json();
    let ci = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == "ci")
        .unwrap()
        .clone();
    assert_eq!(ci["source"], "config");
    assert_eq!(ci["prefix"], "…cdef…");
    // No `default` key without [inbound_auth].
    assert!(!listed.to_string().contains("\"id\":\"default\""));
    // The same Idempotency-Key from two keys runs twice (scoped per key).
    let before = up.chat_requests().len();
    for token in ["ci-declared-token-abcdef", "web-declared-token-abcdef"] {
        let auth = bearer(token);
        let r = http::post_json(
            &server.url("/v1/chat/completions"),
            &[("authorization", &auth), ("idempotency-key", "same-key")],
            &chat("m"),
        )
        .await
        .unwrap();
        assert_eq!(r.status, 200);
        assert!(r.header("idempotency-replayed").is_none());
    }
    assert_eq!(up.chat_requests().len(), before + 2);
}
