//! End to end: a client key's budget shared by three real `rook-server` processes on
//! one PostgreSQL database (issue 14). Each instance leases slices of the budget (10 %
//! of it) from the database and admits the key's requests while it holds some; the
//! instances together spend at most the budget plus what each had in flight when its
//! share ran out, and the spend recorded before the first lease of the period counts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use rook_test_support::cluster::{postgres_url, psql, wait_until, TempDatabase};
use rook_test_support::tcp_proxy::{Mode, TcpProxy};
use rook_test_support::{http, FakeUpstream, RookServer, TestResponse};
use serde_json::json;

const ADMIN: &str = "admin-token-0123456789abcdef";
const CI_TOKEN: &str = "ci-declared-token-abcdef";
/// What one request costs: 10 prompt tokens at $250/M plus 5 completion tokens at
/// $500/M (the fake upstream's default answer).
const COST: f64 = 0.005;
const ENV: &[(&str, &str)] = &[
    ("RUST_LOG", "info,rook_gateway::budgets=debug"),
    ("KEY_A", "sk-upstream-a"),
    ("ROOK_ADMIN_TOKEN", ADMIN),
    ("CI_KEY", CI_TOKEN),
];

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rook-server"))
}

fn config(up: &FakeUpstream, database_url: &str) -> String {
    format!(
        r#"
host = "127.0.0.1"
port = {{port}}
database_url = "{database_url}"

[inbound_auth]
enabled = false

[usage]
flush_interval_ms = 50

[pricing."m"]
input_usd_per_million = 250.0
output_usd_per_million = 500.0

[[client_keys]]
id = "ci"
name = "CI"
token_env = "CI_KEY"
budget_usd = 0.10
budget_period = "day"

{route}"#,
        route = rook_test_support::config::one_route(up),
    )
}

async fn start_three(up: &FakeUpstream, url: &str) -> Vec<RookServer> {
    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(
            RookServer::start(bin(), &config(up, url), ENV)
                .await
                .unwrap(),
        );
    }
    servers
}

async fn call(server: &RookServer, token: &str) -> TestResponse {
    let auth = format!("Bearer {token}");
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    http::post_json(
        &server.url("/v1/chat/completions"),
        &[("authorization", &auth)],
        &body,
    )
    .await
    .unwrap()
}

/// Checks `r` is the budget refusal: 429 `budget_exceeded`, not to be retried, with
/// the period's reset time.
fn assert_budget_exceeded(r: &TestResponse) {
    assert_eq!(r.status, 429, "{}", r.text());
    let v = r.json();
    assert_eq!(v["error"]["code"], "budget_exceeded", "{v}");
    assert_eq!(v["error"]["type"], "insufficient_quota", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("it resets at"),
        "{v}"
    );
    assert_eq!(r.header("x-should-retry"), Some("false"));
}

/// Each instance gets requests one at a time (three clients, one per instance, at
/// once) until it refuses the key; returns the requests admitted.
async fn spend_until_all_refuse(servers: &[RookServer], token: &str) -> usize {
    let mut clients = Vec::new();
    for s in servers {
        let url = s.url("/v1/chat/completions");
        let auth = format!("Bearer {token}");
        clients.push(tokio::spawn(async move {
            let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
            for admitted in 0..200 {
                let r = http::post_json(&url, &[("authorization", &auth)], &body)
                    .await
                    .unwrap();
                match r.status {
                    200 => {}
                    429 => {
                        assert_budget_exceeded(&r);
                        return admitted;
                    }
                    other => panic!("unexpected {other}: {}", r.text()),
                }
            }
            panic!("never refused");
        }));
    }
    let mut admitted = 0;
    for c in clients {
        admitted += c.await.unwrap();
    }
    admitted
}

/// `(answered rows, spend)` of key `id` in the usage table (refusals are recorded
/// too, at no cost).
fn usage_of(db: &TempDatabase, id: &str) -> (usize, f64) {
    let out = psql(
        &db.url(),
        &format!(
            "SELECT COUNT(*) FILTER (WHERE status_code = 200) || ' ' || \
               COALESCE(SUM(cost_usd), 0) FROM usage_events WHERE key_id = '{id}'"
        ),
    )
    .unwrap();
    let (n, usd) = out.split_once(' ').unwrap();
    (n.parse().unwrap(), usd.parse().unwrap())
}

/// Waits until the usage table holds `rows` answered requests of key `id`; returns
/// the key's spend.
async fn recorded_spend(db: &TempDatabase, id: &str, rows: usize) -> f64 {
    let found = wait_until(Duration::from_secs(10), || async {
        usage_of(db, id).0 >= rows
    })
    .await;
    let (n, usd) = usage_of(db, id);
    assert!(
        found.is_some() && n == rows,
        "{n} usage rows of {id}, {rows} expected"
    );
    usd
}

/// Waits until at least `needed` of the UTC day is left, so a test's requests fall
/// into one budget period.
async fn wait_for_day(needed: Duration) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let into = Duration::from_millis((now.as_millis() % 86_400_000) as u64);
    let day = Duration::from_secs(86_400);
    if day - into < needed {
        tokio::time::sleep(day - into + Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn a_key_budget_holds_across_three_instances_and_counts_prior_spend() {
    let Some(admin_url) = postgres_url() else {
        return;
    };
    let db = TempDatabase::create(&admin_url, "budgets").unwrap();
    let up = FakeUpstream::start().await;
    let servers = start_three(&up, &db.url()).await;
    wait_for_day(Duration::from_secs(120)).await;
    // $0.04 of the $0.10 spent today before any instance leased from the budget
    // (recorded by an older version, say): the first grant counts it
    psql(
        &db.url(),
        "INSERT INTO usage_events (request_id, ts_ms, model, stream, attempts, outcome, \
           status_code, latency_ms, key_id, cost_usd) \
         SELECT 'before-' || i, (EXTRACT(EPOCH FROM now()) * 1000)::BIGINT, 'm', false, 1, \
           'success', 200, 5, 'ci', 0.02 FROM generate_series(1, 2) AS i",
    )
    .unwrap();
    let admitted = spend_until_all_refuse(&servers, CI_TOKEN).await;
    assert_eq!(
        up.chat_requests().len(),
        admitted,
        "refusals never reach upstream"
    );
    let total = recorded_spend(&db, "ci", 2 + admitted).await;
    // the bound: the budget plus one request in flight per instance; at least the
    // budget less one slice ($0.01). Without counting the prior $0.04, about 20
    // requests would pass ($0.14 in all).
    assert!(
        total <= 0.10 + 3.0 * COST + 1e-9,
        "spent {total} in {admitted} requests; logs of the first: {}",
        servers[0].logs()
    );
    assert!(
        total >= 0.10 - 0.01 - 1e-9,
        "spent {total} in {admitted} requests"
    );
    // every instance refuses the key now, the same way, without an upstream call
    for s in &servers {
        assert_budget_exceeded(&call(s, CI_TOKEN).await);
    }
    assert_eq!(up.chat_requests().len(), admitted);
    assert!(servers[1].logs().contains("budget slice leased"));
}

/// A budget raised through the admin API on one instance lets the key through again
/// on every instance, up to the new budget (plus one request in flight each).
#[tokio::test]
async fn a_raised_budget_admits_again_on_every_instance() {
    let Some(admin_url) = postgres_url() else {
        return;
    };
    let db = TempDatabase::create(&admin_url, "budgets").unwrap();
    let up = FakeUpstream::start().await;
    let servers = start_three(&up, &db.url()).await;
    wait_for_day(Duration::from_secs(120)).await;
    let admin = format!("Bearer {ADMIN}");
    let body = json!({"name": "burst", "budget_usd": 0.02, "budget_period": "day"});
    let r = http::post_json(
        &servers[0].url("/api/keys"),
        &[("authorization", &admin)],
        &body,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let secret = r.json()["secret"].as_str().unwrap().to_string();
    // the key reaches the other instances through the database's change notices
    for s in &servers {
        let known = wait_until(Duration::from_secs(10), || async {
            call(s, &secret).await.status != 401
        })
        .await;
        assert!(known.is_some(), "the key never reached {}", s.base_url());
    }
    spend_until_all_refuse(&servers, &secret).await;
    let body = json!({"budget_usd": 0.05});
    let r = http::request(
        "PATCH",
        &servers[1].url("/api/keys/burst"),
        &[
            ("authorization", &admin),
            ("content-type", "application/json"),
        ],
        Some(body.to_string().into_bytes()),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    for s in &servers {
        let again = wait_until(Duration::from_secs(10), || async {
            call(s, &secret).await.status == 200
        })
        .await;
        assert!(
            again.is_some(),
            "{} never admitted the key again",
            s.base_url()
        );
    }
    spend_until_all_refuse(&servers, &secret).await;
    let rows = up.chat_requests().len();
    let total = recorded_spend(&db, "burst", rows).await;
    assert!(
        total <= 0.05 + 3.0 * COST + 1e-9,
        "spent {total} in {rows} requests"
    );
    assert!(
        total >= 0.05 - 0.005 - 1e-9,
        "spent {total} in {rows} requests"
    );
}

/// When the database cannot be reached, each instance admits the key on its own
/// count of the spend (as one instance would), logs it once and says so in a metric.
#[tokio::test]
async fn an_unreachable_database_falls_back_to_per_instance_budgets() {
    let Some(admin_url) = postgres_url() else {
        return;
    };
    let db = TempDatabase::create(&admin_url, "budgets").unwrap();
    let proxy = TcpProxy::start(db.server_addr().unwrap()).await.unwrap();
    let via_proxy = db.url_at(&proxy.addr().to_string());
    let up = FakeUpstream::start().await;
    let servers = start_three(&up, &via_proxy).await;
    wait_for_day(Duration::from_secs(120)).await;
    proxy.set(Mode::Refuse);
    let admitted = spend_until_all_refuse(&servers, CI_TOKEN).await;
    // three counts of $0.10 (20 requests each), not one shared budget (at most 23)
    assert!((60..=63).contains(&admitted), "admitted {admitted}");
    for s in &servers {
        assert!(s
            .logs()
            .contains("cannot lease client key budgets from the database"));
    }
    let auth = format!("Bearer {ADMIN}");
    let metrics = http::get(&servers[0].url("/api/metrics"), &[("authorization", &auth)])
        .await
        .unwrap()
        .text();
    assert!(
        metrics.contains("rook_budget_lease_fallback 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("rook_budget_lease_fallbacks_total 1"),
        "{metrics}"
    );
    // back on its own: the next request leases again (and finds the budget spent)
    proxy.set(Mode::Open);
    let back = wait_until(Duration::from_secs(15), || async {
        let _ = call(&servers[0], CI_TOKEN).await;
        servers[0]
            .logs()
            .contains("leasing client key budgets from the database again")
    })
    .await;
    assert!(back.is_some(), "{}", servers[0].logs());
    assert_budget_exceeded(&call(&servers[0], CI_TOKEN).await);
}
