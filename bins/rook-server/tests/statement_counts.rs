//! The database work of plain chat requests on PostgreSQL (issue 14): statements
//! (PostgreSQL's `xact_commit`: every statement outside a transaction is one, every
//! transaction one more) per 1,000 requests through one real `rook-server`, minus what
//! the same instance commits when idle for as long (heartbeat, version checks).
//! Requests do no database work of their own; usage is written in batches. The figures
//! are printed (`--no-capture`) and recorded in `docs/performance.md`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use rook_test_support::cluster::{postgres_url, psql, TempDatabase};
use rook_test_support::{http, FakeUpstream, RookServer};
use serde_json::json;

const TOKEN: &str = "statement-count-token-0123";
const REQUESTS: usize = 1_000;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rook-server"))
}

fn commits(db: &TempDatabase) -> i64 {
    psql(
        &db.url(),
        &format!(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = '{}'",
            db.name()
        ),
    )
    .unwrap()
    .trim()
    .parse()
    .unwrap()
}

/// Reads the counter after PostgreSQL's statistics caught up (they are reported by
/// each backend at most every second, and on idle).
async fn settled(db: &TempDatabase) -> i64 {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // psql's own session is one commit; subtract it.
    commits(db) - 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_chat_costs_the_database_almost_nothing_per_request() {
    let Some(admin_url) = postgres_url() else {
        return;
    };
    let db = TempDatabase::create(&admin_url, "stmts").unwrap();
    let up = FakeUpstream::start().await;
    let config = format!(
        r#"
host = "127.0.0.1"
port = {{port}}
database_url = "{url}"

[inbound_auth]
enabled = true
bearer_token_env = "ROOK_TOKEN"

[[accounts]]
id = "a"
vendor = "custom"
base_url = "{base}"

[[pools]]
id = "p"
strategy = "priority"
members = ["a"]

[[routes]]
model = "m"
pool = "p"
"#,
        url = db.url(),
        base = up.base_url()
    );
    let server = RookServer::start(bin(), &config, &[("ROOK_TOKEN", TOKEN)])
        .await
        .unwrap();
    let auth = format!("Bearer {TOKEN}");
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    let url = server.url("/v1/chat/completions");
    for _ in 0..10 {
        let r = http::post_json(&url, &[("authorization", auth.as_str())], &body).await;
        assert_eq!(r.unwrap().status, 200);
    }

    let before = settled(&db).await;
    let started = Instant::now();
    // Ten at a time, as several clients would.
    for _ in 0..REQUESTS / 10 {
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let (url, auth, body) = (url.clone(), auth.clone(), body.clone());
            tasks.push(tokio::spawn(async move {
                http::post_json(&url, &[("authorization", auth.as_str())], &body)
                    .await
                    .map_or(0, |r| r.status)
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), 200);
        }
    }
    let busy = started.elapsed();
    let loaded = settled(&db).await - before;

    // The same instance, idle for as long.
    let before = settled(&db).await;
    tokio::time::sleep(busy).await;
    let idle = settled(&db).await - before;
    let per_1000 = (loaded - idle) * 1000 / REQUESTS as i64;
    println!(
        "{REQUESTS} plain chat requests in {busy:?}: {loaded} commits, idle for as long: {idle}; \
         {per_1000} per 1,000 requests"
    );
    let rows = psql(&db.url(), "SELECT count(*) FROM usage_events").unwrap();
    assert_eq!(rows.trim(), (REQUESTS + 10).to_string());
    // Usage batches only (one transaction per batch, at most every 20 ms): far below
    // one statement per request.
    assert!(
        per_1000 <= 400,
        "{per_1000} statements per 1,000 requests: something queries per request"
    );
}
