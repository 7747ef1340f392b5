//! End to end: rate limits shared by three real `rook-server` processes on one
//! PostgreSQL database (issue 14). Each instance leases slices of every limit from
//! the database in the background; together they admit the limit plus at most one
//! request per instance per minute.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use rook_test_support::cluster::{postgres_url, TempDatabase};
use rook_test_support::tcp_proxy::{Mode, TcpProxy};
use rook_test_support::{http, FakeUpstream, RookServer, TestResponse};
use serde_json::{json, Value};

const TOKEN: &str = "cluster-inbound-token-0123";
const ADMIN: &str = "admin-token-0123456789abcdef";
const ENV: &[(&str, &str)] = &[
    ("RUST_LOG", "info,rook_gateway::leases=debug"),
    ("KEY_A", "sk-upstream-a"),
    ("ROOK_TOKEN", TOKEN),
    ("ROOK_ADMIN_TOKEN", ADMIN),
];

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rook-server"))
}

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

{auth}
{extra}

{route}"#,
        route = rook_test_support::config::one_route(up),
    )
}

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
}

async fn call(server: &RookServer, token: &str, model: &str) -> TestResponse {
    let auth = format!("Bearer {token}");
    http::post_json(
        &server.url("/v1/chat/completions"),
        &[("authorization", &auth)],
        &chat(model),
    )
    .await
    .unwrap()
}

/// Waits until at least `needed` of the current minute is left, so a test's
/// requests fall into one window of the shared limits (aligned on the wall clock).
async fn wait_for_window(needed: Duration) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let into = Duration::from_millis((now.as_millis() % 60_000) as u64);
    if Duration::from_secs(60) - into < needed {
        tokio::time::sleep(Duration::from_secs(60) - into + Duration::from_millis(200)).await;
    }
}

async fn start_three(up: &FakeUpstream, url: &str, extra: &str) -> Vec<RookServer> {
    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(
            RookServer::start(bin(), &config(up, url, extra), ENV)
                .await
                .unwrap(),
        );
    }
    servers
}

/// Sends `n` requests for `model` with `token` spread round robin over `servers`;
/// returns the 200s and checks every other answer is a 429 `code` with `Retry-After`.
async fn spread(servers: &[RookServer], n: usize, token: &str, model: &str, code: &str) -> usize {
    let mut ok = 0;
    for i in 0..n {
        // a client paced like real traffic, not faster than a lease round trip
        tokio::time::sleep(Duration::from_millis(10)).await;
        let r = call(&servers[i % servers.len()], token, model).await;
        match r.status {
            200 => ok += 1,
            429 => {
                assert_eq!(r.json()["error"]["code"], code, "{}", r.text());
                let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
                assert!((1..=60).contains(&retry), "Retry-After {retry}");
            }
            other => panic!("unexpected {other}: {}", r.text()),
        }
    }
    ok
}

#[tokio::test]
async fn a_route_limit_holds_across_three_instances() {
    let Some(admin_url) = postgres_url() else {
        return;
    };
    let db = TempDatabase::create(&admin_url, "limits").unwrap();
    let up = FakeUpstream::start().await;
    let extra = "[rate_limits]\nroute_requests_per_minute = 20\n";
    let servers = start_three(&up, &db.url(), extra).await;
    wait_for_window(Duration::from_secs(25)).await;
    let ok = spread(&servers, 90, TOKEN, "m", "rate_limit_exceeded").await;
    // per instance, 20 would pass each (60 in all) without shared limits
    assert!(
        (20..=23).contains(&ok),
        "{ok} of 90 passed; logs of the first: {}",
        servers[0].logs()
    );
    assert_eq!(
        up.chat_requests().len(),
        ok,
        "refusals never reach upstream"
    );
}

/// A client key's and an account's requests per minute hold across the three too.
#[tokio::test]
async fn key_and_account_limits_hold_across_three_instances() {
    let Some(admin_url) = postgres_url() else {
        return;
    };
    let db = TempDatabase::create(&admin_url, "limits").unwrap();
    let up = FakeUpstream::start().await;
    let extra = format!(
        r#"
[inbound_auth]
enabled = false

[[client_keys]]
id = "ci"
name = "CI"
token_env = "CI_KEY"
requests_per_minute = 20

[[client_keys]]
id = "web"
name = "Web"
token_env = "WEB_KEY"

[[accounts]]
id = "b"
vendor = "open_ai"
base_url = "{base}"
api_key_env = "KEY_A"
requests_per_minute = 20

[[pools]]
id = "q"
strategy = "priority"
members = ["b"]

[[routes]]
model = "n"
pool = "q"
"#,
        base = up.base_url()
    );
    let mut env = ENV.to_vec();
    env.push(("CI_KEY", "ci-declared-token-abcdef"));
    env.push(("WEB_KEY", "web-declared-token-abcdef"));
    let mut servers = Vec::new();
    for _ in 0..3 {
        let cfg = config(&up, &db.url(), &extra);
        servers.push(RookServer::start(bin(), &cfg, &env).await.unwrap());
    }
    wait_for_window(Duration::from_secs(30)).await;
    let by_key = spread(
        &servers,
        90,
        "ci-declared-token-abcdef",
        "m",
        "rate_limit_exceeded",
    )
    .await;
    assert!((20..=23).contains(&by_key), "key: {by_key} of 90 passed");
    let by_account = spread(
        &servers,
        90,
        "web-declared-token-abcdef",
        "n",
        "account_rate_limit_exceeded",
    )
    .await;
    assert!(
        (20..=23).contains(&by_account),
        "account: {by_account} of 90 passed"
    );
    assert_eq!(up.chat_requests().len(), by_key + by_account);
}

/// When the database cannot be reached, each instance falls back to its own
/// in-memory limit: requests keep being served from memory without waiting on the
/// database, each instance admitting up to the whole limit.
#[tokio::test]
async fn an_unreachable_database_falls_back_to_per_instance_limits() {
    let Some(admin_url) = postgres_url() else {
        return;
    };
    let db = TempDatabase::create(&admin_url, "limits").unwrap();
    let proxy = TcpProxy::start(db.server_addr().unwrap()).await.unwrap();
    let via_proxy = db.url_at(&proxy.addr().to_string());
    let up = FakeUpstream::start().await;
    let extra = "[rate_limits]\nroute_requests_per_minute = 20\n";
    let servers = start_three(&up, &via_proxy, extra).await;
    wait_for_window(Duration::from_secs(30)).await;
    proxy.set(Mode::Refuse);
    // the first lease of each instance fails (within 2 s), then they decide alone
    for s in &servers {
        let _ = call(s, TOKEN, "m").await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let started = std::time::Instant::now();
    let ok = spread(&servers, 90, TOKEN, "m", "rate_limit_exceeded").await;
    // three buckets of 20 (a few used above), not one shared limit of 20
    assert!((40..=60).contains(&ok), "{ok} of 90 passed");
    // nothing waited on the database: 90 paced requests in well under 2 s each
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert!(servers[0]
        .logs()
        .contains("enforcing per-instance limits until it is back"));
    let auth = format!("Bearer {ADMIN}");
    let metrics = http::get(&servers[0].url("/api/metrics"), &[("authorization", &auth)])
        .await
        .unwrap()
        .text();
    assert!(
        metrics.contains("rook_rate_limit_lease_fallback 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("rook_rate_limit_lease_fallbacks_total 1"),
        "{metrics}"
    );
}
