//! End to end (issue 14, shared health): three real `rook-server` processes on one
//! fresh PostgreSQL database, a priority pool of accounts `a` (first) and `b`, each
//! on its own fake upstream.
//!
//! - A 429 with `Retry-After: 30` seen by instance 1 keeps instances 2 and 3 off `a`
//!   within 1 s (their requests go to `b`).
//! - A SIGTERM of instance 3 does not reset that cooldown: the row and the other
//!   instances' views keep it.
//! - An admin reset on instance 1 clears it on 2 and 3 within 1 s.
//! - After a short cooldown, requests fired at all three at once send exactly one
//!   half-open probe to `a`; its success puts `a` back in rotation everywhere.
//! - With the database unreachable, each instance probes on its own after the
//!   cooldown: the account is never kept out of rotation for want of a lease.
//! - A route whose only account cools for server-side failures: requests fired at all
//!   three at once send exactly one panic probe to it (a lease in the database).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use rook_test_support::cluster::{postgres_url, psql, start_cluster, wait_until, TempDatabase};
use rook_test_support::tcp_proxy::{Mode, TcpProxy};
use rook_test_support::{http, FakeUpstream, Reply, RookServer};
use serde_json::{json, Value};

const TOKEN: &str = "cluster-inbound-token-0123";
const ADMIN: &str = "cluster-admin-token-0123456789";
const ENV: [(&str, &str); 3] = [
    ("ROOK_TOKEN", TOKEN),
    ("ROOK_ADMIN_TOKEN", ADMIN),
    ("RUST_LOG", "info,rook_gateway::control::health_sync=debug"),
];
/// The issue's bound for a transition to reach every instance.
const WITHIN: Duration = Duration::from_secs(1);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rook-server"))
}

fn config(a: &FakeUpstream, b: &FakeUpstream) -> String {
    format!(
        r#"
host = "127.0.0.1"
port = {{port}}
database_url = "{{database_url}}"
shutdown_grace_seconds = 1

[inbound_auth]
enabled = true
bearer_token_env = "ROOK_TOKEN"

[admin_auth]
bearer_token_env = "ROOK_ADMIN_TOKEN"

[[accounts]]
id = "a"
vendor = "custom"
base_url = "{a}"
priority = 0

[[accounts]]
id = "b"
vendor = "custom"
base_url = "{b}"
priority = 1

[[pools]]
id = "p"
strategy = "priority"
members = ["a", "b"]

[[routes]]
model = "m"
pool = "p"
"#,
        a = a.base_url(),
        b = b.base_url(),
    )
}

async fn chat(server: &RookServer) -> u16 {
    let auth = format!("Bearer {TOKEN}");
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    http::post_json(
        &server.url("/v1/chat/completions"),
        &[("authorization", auth.as_str())],
        &body,
    )
    .await
    .map_or(0, |r| r.status)
}

async fn admin(server: &RookServer, method: &str, path: &str) -> http::TestResponse {
    let auth = format!("Bearer {ADMIN}");
    let (headers, body) = if method == "POST" {
        (
            vec![
                ("authorization", auth.as_str()),
                ("content-type", "application/json"),
            ],
            Some(b"{}".to_vec()),
        )
    } else {
        (vec![("authorization", auth.as_str())], None)
    };
    http::request(method, &server.url(path), &headers, body)
        .await
        .unwrap()
}

/// Account `a` as `/api/health/accounts` shows it.
async fn health_of_a(server: &RookServer) -> Value {
    let r = admin(server, "GET", "/api/health/accounts").await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["id"] == "a")
        .cloned()
        .unwrap()
}

/// Whether `a` cools on `server` with at least `min_left` seconds left.
async fn a_cools(server: &RookServer, min_left: f64) -> bool {
    let h = health_of_a(server).await;
    h["status"] == "unhealthy" && h["cooldown_remaining_seconds"].as_f64() >= Some(min_left)
}

async fn all(servers: &[&RookServer], within: Duration, min_left: Option<f64>) -> bool {
    wait_until(within, || async {
        for s in servers {
            let ok = match min_left {
                Some(left) => a_cools(s, left).await,
                None => health_of_a(s).await["status"] != "unhealthy",
            };
            if !ok {
                return false;
            }
        }
        true
    })
    .await
    .is_some()
}

fn row_of_a(db: &TempDatabase) -> String {
    psql(
        &db.url(),
        "SELECT coalesce(cooldown_until_ms, 0) > (extract(epoch from now()) * 1000)::bigint + 20000 \
         FROM account_health WHERE account_id = 'a'",
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_share_account_health() {
    let Some(admin_url) = postgres_url() else {
        return;
    };
    let db = TempDatabase::create(&admin_url, "health").unwrap();
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    let mut servers = start_cluster(bin(), 3, &config(&a, &b), &db.url(), &ENV)
        .await
        .unwrap();
    let (one, two, three) = (&servers[0], &servers[1], &servers[2]);
    for s in [one, two, three] {
        assert_eq!(chat(s).await, 200);
    }
    assert_eq!((a.request_count(), b.request_count()), (3, 0));

    // 1. A 429 with Retry-After: 30 on instance 1 keeps 2 and 3 off `a` within 1 s.
    a.push(Reply::status(429).header("retry-after", "30"));
    assert_eq!(chat(one).await, 200);
    assert_eq!((a.request_count(), b.request_count()), (4, 1));
    assert!(
        all(&[two, three], WITHIN, Some(25.0)).await,
        "instances 2 and 3 did not learn the cooldown within 1 s; logs of 2:\n{}",
        two.logs()
    );
    for s in [one, two, three, two, three] {
        assert_eq!(chat(s).await, 200);
    }
    assert_eq!(
        (a.request_count(), b.request_count()),
        (4, 6),
        "an instance sent traffic to the cooling account"
    );
    assert_eq!(row_of_a(&db), "t", "the shared row holds the cooldown");

    // 2. A SIGTERM of instance 3 does not reset the cooldown anywhere.
    servers[2].sigterm().unwrap();
    assert!(servers[2]
        .wait_exit(Duration::from_secs(15))
        .await
        .is_some());
    let (one, two) = (&servers[0], &servers[1]);
    assert_eq!(
        row_of_a(&db),
        "t",
        "the SIGTERM overwrote the shared cooldown"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(a_cools(one, 20.0).await && a_cools(two, 20.0).await);
    assert_eq!(chat(two).await, 200);
    assert_eq!(a.request_count(), 4);

    // A restarted instance starts with the shared cooldown.
    let restarted = RookServer::start(
        bin(),
        &config(&a, &b).replace("{database_url}", &db.url()),
        &ENV,
    )
    .await
    .unwrap();
    assert!(
        a_cools(&restarted, 20.0).await,
        "{}",
        health_of_a(&restarted).await
    );
    assert_eq!(chat(&restarted).await, 200);
    assert_eq!(a.request_count(), 4);

    // 3. An admin reset on instance 1 clears the cooldown on the others within 1 s.
    let r = admin(one, "POST", "/api/accounts/a/reset").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        all(&[two, &restarted], WITHIN, None).await,
        "the reset did not reach the other instances within 1 s: {}",
        health_of_a(two).await
    );
    let before = a.request_count();
    for s in [two, &restarted] {
        assert_eq!(chat(s).await, 200);
    }
    assert_eq!(a.request_count(), before + 2, "`a` is back in rotation");

    // 4. Exactly one half-open probe across the instances after a cooldown.
    a.push(Reply::status(429).header("retry-after", "2"));
    assert_eq!(chat(one).await, 200);
    let cooled = a.request_count();
    let servers3 = [one, two, &restarted];
    assert!(all(&servers3, WITHIN, Some(0.5)).await);
    // Wait until the cooldown is over (the lease is decided 0.5 s before).
    tokio::time::sleep(Duration::from_millis(2300)).await;
    a.push(Reply::chat("probe ok").delay(Duration::from_millis(800)));
    let mut tasks = Vec::new();
    for s in servers3 {
        for _ in 0..2 {
            let url = s.url("/v1/chat/completions");
            tasks.push(tokio::spawn(async move {
                let auth = format!("Bearer {TOKEN}");
                let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
                http::post_json(&url, &[("authorization", auth.as_str())], &body)
                    .await
                    .map_or(0, |r| r.status)
            }));
        }
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(
        a.request_count(),
        cooled + 1,
        "exactly one probe must reach `a` across the three instances; logs of 1:\n{}",
        one.logs()
    );
    // The probe succeeded: `a` is back in rotation everywhere.
    assert!(all(&servers3, WITHIN, None).await);
    let before = a.request_count();
    for s in servers3 {
        assert_eq!(chat(s).await, 200);
    }
    assert_eq!(a.request_count(), before + 3);

    // The metrics count what came from other instances and the leases.
    let m = admin(two, "GET", "/api/metrics").await.text();
    let received = metric(&m, "rook_health_transitions_received_total");
    assert!(received >= 2.0, "{m}");
    let leases: f64 = ["won", "lost"]
        .iter()
        .map(|r| {
            metric(
                &m,
                &format!("rook_health_probe_leases_total{{result=\"{r}\"}}"),
            )
        })
        .sum();
    assert!(leases >= 1.0, "{m}");
    assert!(metric(&m, "rook_config_version_served") >= 1.0, "{m}");
    drop(restarted);
    servers.clear();
    drop(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_database_each_instance_probes_on_its_own() {
    let Some(admin_url) = postgres_url() else {
        return;
    };
    let db = TempDatabase::create(&admin_url, "health_cut").unwrap();
    let proxy = TcpProxy::start(db.server_addr().unwrap()).await.unwrap();
    let url = db.url_at(&proxy.addr().to_string());
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    let servers = start_cluster(bin(), 2, &config(&a, &b), &url, &ENV)
        .await
        .unwrap();
    let (one, two) = (&servers[0], &servers[1]);
    a.push(Reply::status(429).header("retry-after", "3"));
    assert_eq!(chat(one).await, 200);
    assert!(all(&[two], WITHIN, Some(1.5)).await, "{}", two.logs());
    let cooled = a.request_count();

    // The database goes away before the probe lease is decided.
    proxy.set(Mode::Refuse);
    tokio::time::sleep(Duration::from_millis(5000)).await;
    for s in [one, two] {
        assert_eq!(chat(s).await, 200);
    }
    assert_eq!(
        a.request_count(),
        cooled + 2,
        "each instance must probe on its own; logs of 2:\n{}",
        two.logs()
    );
    for s in [one, two] {
        let m = admin(s, "GET", "/api/metrics").await.text();
        assert!(
            metric(&m, "rook_health_probe_leases_total{result=\"fallback\"}") >= 1.0,
            "{m}"
        );
    }
    proxy.set(Mode::Open);
    drop(servers);
    drop(db);
}

/// One account, cooling for 30 s after one server-side failure.
fn single_account_config(a: &FakeUpstream) -> String {
    format!(
        r#"
host = "127.0.0.1"
port = {{port}}
database_url = "{{database_url}}"
shutdown_grace_seconds = 1

[inbound_auth]
enabled = true
bearer_token_env = "ROOK_TOKEN"

[admin_auth]
bearer_token_env = "ROOK_ADMIN_TOKEN"

[upstream_resilience]
max_buffered_attempts = 1
failure_threshold = 1
failure_cooldown_seconds = 30
max_cooled_share = 1.0

[[accounts]]
id = "a"
vendor = "custom"
base_url = "{a}"

[[pools]]
id = "p"
strategy = "priority"
members = ["a"]

[[routes]]
model = "m"
pool = "p"
"#,
        a = a.base_url(),
    )
}

/// Every account of the route cooling on three instances: each would send its own
/// panic probe; with the probe lease in the database exactly one reaches the upstream,
/// and its success puts the account back in rotation everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_panic_probe_across_three_instances() {
    let Some(admin_url) = postgres_url() else {
        return;
    };
    let db = TempDatabase::create(&admin_url, "panic").unwrap();
    let a = FakeUpstream::start().await;
    let servers = start_cluster(bin(), 3, &single_account_config(&a), &db.url(), &ENV)
        .await
        .unwrap();
    let refs: Vec<&RookServer> = servers.iter().collect();
    a.push(Reply::status(500));
    assert_eq!(chat(refs[0]).await, 502);
    assert_eq!(a.request_count(), 1);
    assert!(
        all(&refs, WITHIN, Some(20.0)).await,
        "the cooldown did not reach every instance; logs of 2:\n{}",
        refs[1].logs()
    );
    // the probe is slow, so every request below is decided while it runs
    a.push(Reply::chat("probe ok").delay(Duration::from_millis(800)));
    let mut tasks = Vec::new();
    for s in &refs {
        for _ in 0..3 {
            let url = s.url("/v1/chat/completions");
            tasks.push(tokio::spawn(async move {
                let auth = format!("Bearer {TOKEN}");
                let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
                http::post_json(&url, &[("authorization", auth.as_str())], &body)
                    .await
                    .map_or(0, |r| r.status)
            }));
        }
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(
        a.request_count(),
        2,
        "exactly one panic probe must reach `a` across the three instances ({statuses:?}); logs of 1:\n{}",
        refs[0].logs()
    );
    assert_eq!(statuses, [200, 503, 503, 503, 503, 503, 503, 503, 503]);
    // The probe succeeded: `a` is back in rotation everywhere.
    assert!(all(&refs, WITHIN, None).await);
    for s in &refs {
        assert_eq!(chat(s).await, 200);
    }
    assert_eq!(a.request_count(), 5);
    let mut by_result = [0.0; 3];
    for s in &refs {
        let m = admin(s, "GET", "/api/metrics").await.text();
        for (i, r) in ["won", "lost", "fallback"].iter().enumerate() {
            by_result[i] += metric(
                &m,
                &format!("rook_panic_probe_leases_total{{result=\"{r}\"}}"),
            );
        }
    }
    assert_eq!(by_result, [1.0, 2.0, 0.0], "won, lost, fallback");
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}
