//! End to end (issue 12, findings 6 and 8): provider keys set through the admin API are
//! sealed at rest (never in the database file, its WAL or a backup), need a master key,
//! survive a master-key rotation in one transaction (SQLite and PostgreSQL), and a
//! wrong master key makes only their account unusable; a SQLite file deleted while
//! the server runs is noticed (readiness, log, status, metric, admin writes refused)
//! while proxying goes on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rook_test_support::{http, workspace_bin, FakeUpstream, RookServer};
use serde_json::{json, Value};

const ADMIN: &str = "admin-token-rest-0123456789";
/// Master key A, hex; master key B, base64 (both forms are accepted).
const MASTER_A: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const MASTER_B: &str = "q83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4k=";
const CANARY: &str = "sk-rest-CANARY-5e1f0a9b7c3d";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rook-server"))
}

fn config(database_url: &str, declared: &FakeUpstream, master_key: bool) -> String {
    let secrets = if master_key {
        "[secrets]\nmaster_key_env = \"ROOK_MASTER_KEY\"\n"
    } else {
        ""
    };
    format!(
        r#"
host = "127.0.0.1"
port = {{port}}
database_url = "{database_url}"

[admin_auth]
bearer_token_env = "ROOK_ADMIN_TOKEN"

{secrets}
[[accounts]]
id = "declared"
vendor = "custom"
base_url = "{d}"

[[pools]]
id = "declared-pool"
strategy = "failover"
members = ["declared"]

[[routes]]
model = "declared-model"
pool = "declared-pool"
"#,
        d = declared.base_url(),
    )
}

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
    http::post_json(
        &server.url("/v1/chat/completions"),
        &[],
        &json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await
    .unwrap()
}

/// Adds account `inline` (inline key [`CANARY`]) behind route `inline-model`.
async fn add_inline_account(server: &RookServer, upstream: &FakeUpstream) {
    let r = admin(
        server,
        "POST",
        "/api/accounts",
        Some(json!({"id": "inline", "vendor": "custom", "base_url": upstream.base_url(), "api_key": CANARY})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(!r.text().contains(CANARY));
    let r = admin(
        server,
        "POST",
        "/api/pools",
        Some(json!({"id": "inline-pool", "strategy": "failover", "members": ["inline"]})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = admin(
        server,
        "POST",
        "/api/routes",
        Some(json!({"model": "inline-model", "pool": "inline-pool"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
}

/// A chat on `inline-model` reaches `upstream` with the inline key as the bearer.
async fn inline_key_reaches_upstream(server: &RookServer, upstream: &FakeUpstream) {
    let before = upstream.chat_requests().len();
    let r = chat(server, "inline-model").await;
    assert_eq!(r.status, 200, "{}\n{}", r.text(), server.logs());
    let reqs = upstream.chat_requests();
    assert_eq!(reqs.len(), before + 1);
    let expected = format!("Bearer {CANARY}");
    assert_eq!(
        reqs.last().unwrap().header("authorization"),
        Some(expected.as_str())
    );
}

async fn stop(server: &mut RookServer) -> String {
    server.sigterm().unwrap();
    assert!(
        server.wait_exit(Duration::from_secs(20)).await.is_some(),
        "did not stop"
    );
    let logs = server.logs();
    assert!(!logs.contains(CANARY), "a key reached the logs:\n{logs}");
    logs
}

/// `rook-cli` with a clean environment plus `vars`.
fn cli(args: &[&str], vars: &[(&str, &str)]) -> (i32, String, String) {
    let mut c = Command::new(workspace_bin("rook-cli", "rook-cli").unwrap());
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .args(args);
    for (k, v) in vars {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Files under `dir` (recursively) whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            found.extend(files_containing(&p, needle));
        } else if let Ok(bytes) = std::fs::read(&p) {
            if bytes.windows(needle.len()).any(|w| w == needle) {
                found.push(p);
            }
        }
    }
    found
}

fn contains(path: &Path, needle: &[u8]) -> bool {
    let bytes = std::fs::read(path).unwrap();
    bytes.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn inline_key_without_a_master_key_is_refused() {
    let declared = FakeUpstream::start().await;
    let mut server = RookServer::start(
        bin(),
        &config("sqlite://{dir}/rook.db", &declared, false),
        &[("ROOK_ADMIN_TOKEN", ADMIN), ("SOME_KEY", "sk-from-env")],
    )
    .await
    .unwrap();
    let r = admin(
        &server,
        "POST",
        "/api/accounts",
        Some(json!({"id": "inline", "vendor": "custom", "base_url": declared.base_url(), "api_key": CANARY})),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    let message = r.json()["error"]["message"].as_str().unwrap().to_string();
    for needle in ["api_key_env", "api_key_file", "[secrets] master_key_env"] {
        assert!(message.contains(needle), "{needle}: {message}");
    }
    assert!(!r.text().contains(CANARY));
    assert_eq!(
        admin(&server, "GET", "/api/accounts/inline", None)
            .await
            .status,
        404
    );
    // The same account with its key in the environment is fine.
    let r = admin(
        &server,
        "POST",
        "/api/accounts",
        Some(json!({"id": "inline", "vendor": "custom", "base_url": declared.base_url(), "api_key_env": "SOME_KEY"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    stop(&mut server).await;
    assert!(files_containing(server.dir(), CANARY.as_bytes()).is_empty());
}

#[tokio::test]
async fn a_malformed_master_key_stops_the_start_with_exit_2() {
    let declared = FakeUpstream::start().await;
    let short = "c2VjcmV0LWJ1dC1zaG9ydA==";
    let (code, logs) = RookServer::start_expect_failure(
        bin(),
        &config("sqlite://{dir}/rook.db", &declared, true),
        &[("ROOK_ADMIN_TOKEN", ADMIN), ("ROOK_MASTER_KEY", short)],
    )
    .await
    .unwrap();
    assert_eq!(code, 2, "{logs}");
    assert!(
        logs.contains("ROOK_MASTER_KEY") && logs.contains("32"),
        "{logs}"
    );
    assert!(!logs.contains(short), "the key was echoed:\n{logs}");
}

/// The whole life of a sealed key on one database: sealed on write, used, rotated from
/// master key A to B by `rook-cli secrets rotate-master`, used under B, and unusable
/// (only that account, with a clear log line) when the server is started with A again.
async fn seal_rotate_and_wrong_key(database_url: &str, dir: &Path, inspect: &dyn Fn(&str)) {
    let declared = FakeUpstream::start().await;
    let upstream = FakeUpstream::start().await;
    let toml = config(database_url, &declared, true);
    let env_a = [("ROOK_ADMIN_TOKEN", ADMIN), ("ROOK_MASTER_KEY", MASTER_A)];
    let mut server = RookServer::start_in(bin(), dir, &toml, &env_a)
        .await
        .unwrap();
    add_inline_account(&server, &upstream).await;
    inline_key_reaches_upstream(&server, &upstream).await;
    inspect("after the first write");
    let cfg = server.config_path().to_path_buf();
    stop(&mut server).await;

    // Rotation: refused without a usable current key; done in one go with it.
    let cfg_arg = cfg.display().to_string();
    let rotate = [
        "secrets",
        "rotate-master",
        "--new-key-env",
        "NEW_KEY",
        "--config",
        &cfg_arg,
    ];
    let (code, _, err) = cli(
        &rotate,
        &[("ROOK_MASTER_KEY", MASTER_B), ("NEW_KEY", MASTER_A)],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("'inline'") && err.contains("nothing was changed"),
        "{err}"
    );
    let (code, out, err) = cli(
        &rotate,
        &[("ROOK_MASTER_KEY", MASTER_A), ("NEW_KEY", MASTER_B)],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("re-encrypted 1 stored key(s)"), "{out}");
    assert!(!out.contains(CANARY) && !err.contains(CANARY));
    inspect("after the rotation");

    // Under the new key: still works.
    let env_b = [("ROOK_ADMIN_TOKEN", ADMIN), ("ROOK_MASTER_KEY", MASTER_B)];
    let mut server = RookServer::start_in(bin(), dir, &toml, &env_b)
        .await
        .unwrap();
    inline_key_reaches_upstream(&server, &upstream).await;
    stop(&mut server).await;

    // Under the old key: that account is unusable, logged; the rest serves on.
    let mut server = RookServer::start_in(bin(), dir, &toml, &env_a)
        .await
        .unwrap();
    let logs = server.logs();
    assert!(
        logs.contains("cannot be decrypted")
            && logs.contains("inline")
            && logs.contains("another master key"),
        "{logs}"
    );
    let before = upstream.chat_requests().len();
    let r = chat(&server, "inline-model").await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(
        r.json()["error"]["code"],
        "no_account_available",
        "{}",
        r.text()
    );
    assert_eq!(
        upstream.chat_requests().len(),
        before,
        "no request without its key"
    );
    assert_eq!(chat(&server, "declared-model").await.status, 200);
    stop(&mut server).await;
}

#[tokio::test]
async fn inline_keys_are_sealed_at_rest_and_rotated_on_sqlite() {
    let tmp = tempfile_dir();
    let dir = tmp.path().to_path_buf();
    let inspect = |when: &str| {
        assert!(
            files_containing(&dir, CANARY.as_bytes()).is_empty(),
            "plaintext key on disk {when}"
        );
        assert!(
            !files_containing(&dir, b"rk1:").is_empty(),
            "no sealed key on disk {when}"
        );
    };
    let url = format!("sqlite://{}/rook.db", dir.display());
    seal_rotate_and_wrong_key(&url, &dir, &inspect).await;

    // A backup holds the ciphertext only.
    let backup = dir.join("backup.db");
    let cfg = dir.join("rook.toml").display().to_string();
    let (code, out, err) = cli(
        &[
            "db",
            "backup",
            &backup.display().to_string(),
            "--config",
            &cfg,
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(!contains(&backup, CANARY.as_bytes()));
    assert!(contains(&backup, b"rk1:"));
}

#[tokio::test]
async fn inline_keys_are_sealed_at_rest_and_rotated_on_postgres() {
    let Some(admin_url) = postgres_url() else {
        return;
    };
    let db = TempDatabase::create(&admin_url);
    let url = db.url();
    let tmp = tempfile_dir();
    let inspect = |when: &str| {
        let dump = psql_out(
            &url,
            "SELECT id || '=' || api_key FROM accounts WHERE api_key IS NOT NULL",
        );
        assert!(
            !dump.contains(CANARY),
            "plaintext key in PostgreSQL {when}: {dump}"
        );
        assert!(dump.contains("inline=rk1:"), "no sealed key {when}: {dump}");
    };
    seal_rotate_and_wrong_key(&url, tmp.path(), &inspect).await;
}

#[tokio::test]
async fn legacy_plaintext_keys_are_sealed_at_start() {
    let declared = FakeUpstream::start().await;
    let upstream = FakeUpstream::start().await;
    let tmp = tempfile_dir();
    let dir = tmp.path();
    let toml_plain = config("sqlite://{dir}/rook.db", &declared, false);
    let env = [("ROOK_ADMIN_TOKEN", ADMIN)];
    let mut server = RookServer::start_in(bin(), dir, &toml_plain, &env)
        .await
        .unwrap();
    let r = admin(
        &server,
        "POST",
        "/api/accounts",
        Some(json!({"id": "inline", "vendor": "custom", "base_url": upstream.base_url()})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    stop(&mut server).await;
    // What an earlier version wrote: the key in plaintext.
    sqlite_exec(
        &dir.join("rook.db"),
        &format!("UPDATE accounts SET api_key = '{CANARY}' WHERE id = 'inline'"),
    );
    assert!(!files_containing(dir, CANARY.as_bytes()).is_empty());

    let toml = config("sqlite://{dir}/rook.db", &declared, true);
    let env = [("ROOK_ADMIN_TOKEN", ADMIN), ("ROOK_MASTER_KEY", MASTER_A)];
    let mut server = RookServer::start_in(bin(), dir, &toml, &env).await.unwrap();
    assert!(
        server
            .logs()
            .contains("sealed inline api keys stored in plaintext"),
        "{}",
        server.logs()
    );
    for (method, path, body) in [
        (
            "POST",
            "/api/pools",
            json!({"id": "inline-pool", "strategy": "failover", "members": ["inline"]}),
        ),
        (
            "POST",
            "/api/routes",
            json!({"model": "inline-model", "pool": "inline-pool"}),
        ),
    ] {
        assert_eq!(admin(&server, method, path, Some(body)).await.status, 201);
    }
    inline_key_reaches_upstream(&server, &upstream).await;
    stop(&mut server).await;
    // Sealed with SQLite's secure_delete: the plaintext is not left in a free page.
    let left = files_containing(dir, CANARY.as_bytes());
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn a_deleted_database_file_is_noticed_while_proxying_goes_on() {
    let declared = FakeUpstream::start().await;
    let server = RookServer::start(
        bin(),
        &config("sqlite://{dir}/rook.db", &declared, false),
        &[("ROOK_ADMIN_TOKEN", ADMIN)],
    )
    .await
    .unwrap();
    let ready = http::get(&server.url("/api/health/ready"), &[])
        .await
        .unwrap();
    assert_eq!(ready.status, 200, "{}", ready.text());
    assert_eq!(chat(&server, "declared-model").await.status, 200);

    let db = server.dir().join("rook.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }

    for _ in 0..3 {
        let ready = http::get(&server.url("/api/health/ready"), &[])
            .await
            .unwrap();
        assert_eq!(ready.status, 503, "{}", ready.text());
        let check = ready.json()["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "database")
            .cloned()
            .unwrap();
        assert_eq!(check["ok"], false);
        assert_eq!(check["identity"], "removed");
        assert!(
            check["message"].as_str().unwrap().contains("was removed"),
            "{check}"
        );
    }
    // Admin writes are refused instead of going into the deleted file.
    let r = admin(
        &server,
        "POST",
        "/api/routes",
        Some(json!({"model": "new-model", "pool": "declared-pool"})),
    )
    .await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "database_unavailable");
    // Proxying goes on (routing is in memory; usage events are dropped, counted).
    for _ in 0..3 {
        assert_eq!(chat(&server, "declared-model").await.status, 200);
    }
    let status = admin(&server, "GET", "/api/status", None).await.json();
    assert_eq!(status["database"]["identity"], "removed");
    let metrics = admin(&server, "GET", "/api/metrics", None).await.text();
    assert!(metrics.contains("rook_database_identity_ok 0"), "{metrics}");

    // The periodic check runs too; the error is logged once, not per look.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let logs = server.logs();
    let lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("was removed while Rook was running"))
        .collect();
    let errors: Vec<&&str> = lines.iter().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{logs}");
    // The writers that failed because of it said so once each, not per attempt.
    assert!(lines.len() <= 3, "{logs}");
    // Nothing came back: a restart would start from an empty database.
    assert!(!db.exists());
}

// ------------------------------------------------------------------ helpers

fn tempfile_dir() -> rook_test_support::TestDir {
    rook_test_support::TestDir::new("rook-rest").unwrap()
}

fn sqlite_exec(db: &Path, sql: &str) {
    let script = "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nc.execute(sys.argv[2])\nc.commit()\nc.close()";
    let out = Command::new("python3")
        .args(["-c", script, &db.display().to_string(), sql])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `ROOK_TEST_POSTGRES_URL`, or `None` (printing why) outside CI; a failure in CI.
fn postgres_url() -> Option<String> {
    match std::env::var("ROOK_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "ROOK_TEST_POSTGRES_URL must be set in CI"
            );
            eprintln!("skipped: ROOK_TEST_POSTGRES_URL not set");
            None
        }
    }
}

/// A fresh database for one test, dropped on drop.
struct TempDatabase {
    admin_url: String,
    name: String,
}

impl TempDatabase {
    fn create(admin_url: &str) -> TempDatabase {
        let name = format!(
            "rook_rest_{}_{}",
            std::process::id(),
            rook_test_support::free_port().unwrap()
        );
        psql_out(admin_url, &format!("CREATE DATABASE {name}"));
        TempDatabase {
            admin_url: admin_url.to_string(),
            name,
        }
    }

    fn url(&self) -> String {
        let base = self.admin_url.rsplit_once('/').map(|(b, _)| b).unwrap();
        format!("{base}/{}", self.name)
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        psql_out(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

fn psql_out(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .arg(url)
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-t", "-A", "-c", sql])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
