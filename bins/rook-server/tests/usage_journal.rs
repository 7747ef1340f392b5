//! End to end: the usage of every acknowledged request survives `kill -9` (issue 14).
//!
//! Requests go through the real `rook-server` with a writer that keeps its batches
//! in memory for a minute (so the old in-memory-only writer would lose them); the
//! server is killed with SIGKILL while requests are in flight, restarted on the
//! same data directory and database, and every request whose response completed
//! is in the usage table exactly once — on SQLite and on PostgreSQL
//! (`ROOK_TEST_POSTGRES_URL`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rook_gateway::rook_registry::{ConnectOptions, Registry};
use rook_test_support::cluster::{postgres_url, TempDatabase};
use rook_test_support::{http, FakeUpstream, Reply, RookServer, TestDir};
use serde_json::json;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rook-server"))
}

const ENV: &[(&str, &str)] = &[("KEY_A", "sk-upstream-a")];

/// Batches of 50, and a partial batch waits a minute: at any time up to 49
/// acknowledged events live only in the writer's memory (and the journal).
fn config(up: &FakeUpstream, database_url: &str) -> String {
    format!(
        r#"
host = "127.0.0.1"
port = {{port}}
database_url = "{database_url}"

[usage]
batch_size = 50
flush_interval_ms = 60000

{route}"#,
        route = rook_test_support::config::one_route(up),
    )
}

/// Sends requests from `clients` concurrent tasks (buffered and streamed) until
/// `stop`; returns the request ids of the responses that completed.
async fn load(url: String, clients: usize, stop: Arc<AtomicBool>) -> Vec<String> {
    let acked = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (url, stop, acked) = (url.clone(), stop.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let stream = (c + i) % 3 == 0;
                let body = json!({"model": "m", "stream": stream,
                    "messages": [{"role": "user", "content": "hi"}]});
                if stream {
                    let Ok(s) = http::post_json_stream(&url, &[], &body).await else {
                        continue;
                    };
                    let id = s.header("x-request-id").map(str::to_string);
                    let ok = s.status == 200;
                    let out = s.collect().await;
                    if ok && out.error.is_none() && out.text().ends_with("data: [DONE]\n\n") {
                        acked.lock().unwrap().extend(id);
                    }
                } else if let Ok(r) = http::post_json(&url, &[], &body).await {
                    if r.status == 200 && r.try_json().is_ok() {
                        acked
                            .lock()
                            .unwrap()
                            .extend(r.header("x-request-id").map(str::to_string));
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let ids = acked.lock().unwrap().clone();
    ids
}

/// Kills the server (SIGKILL) under load after at least `min_acked` acknowledged
/// requests, restarts it on the same directory, and checks the usage table.
async fn killed_under_load_loses_nothing(database_url: &str) {
    let up = FakeUpstream::start().await;
    // Each answer takes a little while, so requests are in flight at the kill.
    up.set_default(Reply::auto().delay(Duration::from_millis(3)));
    let dir = TestDir::new("rook-journal").unwrap();
    let cfg = config(&up, database_url);
    let mut server = RookServer::start_in(bin(), dir.path(), &cfg, ENV)
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let loader = tokio::spawn(load(server.url("/v1/chat/completions"), 8, stop.clone()));
    // Until enough requests were answered, then kill -9 mid-traffic.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while up.request_count() < 420 {
        assert!(tokio::time::Instant::now() < deadline, "too slow");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill().await.unwrap();
    stop.store(true, Ordering::Relaxed);
    let acked = loader.await.unwrap();
    assert!(acked.len() >= 300, "only {} acknowledged", acked.len());
    // Restart: the journal is replayed before the server takes traffic.
    let server = RookServer::start_in(bin(), dir.path(), &cfg, ENV)
        .await
        .unwrap();
    assert!(
        server
            .wait_for_log("usage journal replayed", Duration::from_secs(5))
            .await,
        "{}",
        server.logs()
    );
    let url = if database_url.starts_with("sqlite") {
        database_url.replace("{dir}", &dir.path().display().to_string())
    } else {
        database_url.to_string()
    };
    let registry = Registry::connect(&url, ConnectOptions::default())
        .await
        .unwrap();
    let stored = registry.usage_events(None, None).await.unwrap();
    let mut count: HashMap<&str, usize> = HashMap::new();
    for e in &stored {
        *count.entry(e.request_id.as_str()).or_default() += 1;
    }
    let missing: Vec<_> = acked
        .iter()
        .filter(|id| !count.contains_key(id.as_str()))
        .collect();
    let twice: Vec<_> = acked
        .iter()
        .filter(|id| count.get(id.as_str()).is_some_and(|n| *n > 1))
        .collect();
    assert!(
        missing.is_empty() && twice.is_empty(),
        "{} acknowledged, {} stored; missing {missing:?}; stored twice {twice:?}",
        acked.len(),
        stored.len()
    );
    // The replayed journal is gone: a second restart adds nothing.
    let n = stored.len();
    drop(server);
    let server = RookServer::start_in(bin(), dir.path(), &cfg, ENV)
        .await
        .unwrap();
    assert!(!server.logs().contains("usage journal replayed"));
    assert_eq!(registry.usage_events(None, None).await.unwrap().len(), n);
    registry.close().await;
}

#[tokio::test]
async fn sqlite_usage_survives_kill_9() {
    killed_under_load_loses_nothing("sqlite://{dir}/rook.db").await;
}

#[tokio::test]
async fn postgres_usage_survives_kill_9() {
    let Some(admin) = postgres_url() else { return };
    let db = TempDatabase::create(&admin, "journal").unwrap();
    killed_under_load_loses_nothing(&db.url()).await;
}

/// A journal cut mid-record by a crash: the intact records are replayed, the torn
/// one skipped with a warning, and the journal stays 0600.
#[tokio::test]
async fn a_torn_journal_record_is_skipped_and_the_rest_replayed() {
    let up = FakeUpstream::start().await;
    let dir = TestDir::new("rook-journal").unwrap();
    let cfg = config(&up, "sqlite://{dir}/rook.db");
    let mut server = RookServer::start_in(bin(), dir.path(), &cfg, ENV)
        .await
        .unwrap();
    let url = server.url("/v1/chat/completions");
    let mut ids = Vec::new();
    for _ in 0..5 {
        let r = http::post_json(&url, &[], &json!({"model": "m", "messages": []}))
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        ids.push(r.header("x-request-id").unwrap().to_string());
    }
    server.kill().await.unwrap();
    let path = dir.path().join("usage.journal");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // A sixth record, half written when the process died.
    let mut bytes = std::fs::read(&path).unwrap();
    let first_line = bytes.split(|b| *b == b'\n').next().unwrap().to_vec();
    bytes.extend_from_slice(&first_line[..first_line.len() / 2]);
    std::fs::write(&path, bytes).unwrap();

    let server = RookServer::start_in(bin(), dir.path(), &cfg, ENV)
        .await
        .unwrap();
    assert!(
        server
            .wait_for_log("damaged records skipped", Duration::from_secs(5))
            .await
    );
    let metrics = server.admin_get("/api/metrics").await.unwrap();
    assert!(
        metrics
            .text()
            .contains("rook_usage_journal_dropped_total 0"),
        "{}",
        metrics.text()
    );
    let db = format!("sqlite://{}/rook.db", dir.path().display());
    let registry = Registry::connect(&db, ConnectOptions::default())
        .await
        .unwrap();
    let stored: Vec<String> = registry
        .usage_events(None, None)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.request_id)
        .collect();
    assert_eq!(stored, ids);
    registry.close().await;
}

/// A full journal drops (counted) but the events still reach the database.
#[tokio::test]
async fn a_full_journal_counts_what_it_drops() {
    let up = FakeUpstream::start().await;
    // Nothing is written before 1,000 events or a minute: the journal fills.
    let cfg = config(&up, "sqlite://{dir}/rook.db").replace(
        "batch_size = 50\n",
        "batch_size = 1000\njournal_max_bytes = 65536\n",
    );
    let server = RookServer::start(bin(), &cfg, ENV).await.unwrap();
    let url = server.url("/v1/chat/completions");
    // Each record is a few hundred bytes: 400 overflow 64 KiB.
    for _ in 0..400 {
        let r = http::post_json(&url, &[], &json!({"model": "m", "messages": []}))
            .await
            .unwrap();
        assert_eq!(r.status, 200);
    }
    let metrics = server.admin_get("/api/metrics").await.unwrap();
    let dropped: f64 = metrics
        .text()
        .lines()
        .find_map(|l| l.strip_prefix("rook_usage_journal_dropped_total "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(dropped > 0.0, "{}", metrics.text());
    let size = std::fs::metadata(server.dir().join("usage.journal"))
        .unwrap()
        .len();
    assert!(size <= 65_536, "{size}");
    assert!(server
        .logs()
        .contains("usage journal: events are not journaled"));
}
