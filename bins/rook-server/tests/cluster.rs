//! End to end (issue 14, change propagation and cluster visibility): three real
//! `rook-server` processes on one fresh PostgreSQL database with a fake upstream.
//! A route created or deleted through instance 1's admin API serves (or stops) on
//! instances 2 and 3 within 1 s; a client key created on 1 works on 2; `/api/status`
//! shows three instances on one config version; a terminated listener connection
//! reconnects and reloads everything (it catches up on a change that sent no
//! notice); a SIGTERM removes the instance's row. On SQLite, a change written by
//! another process (as `rook-cli` does) is picked up by polling.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use rook_test_support::cluster::{postgres_url, psql, start_cluster, wait_until, TempDatabase};
use rook_test_support::{http, FakeUpstream, RookServer};
use serde_json::{json, Value};

const TOKEN: &str = "cluster-inbound-token-0123";
const ADMIN: &str = "cluster-admin-token-0123456789";
const ENV: [(&str, &str); 3] = [
    ("KEY_A", "sk-cluster-a"),
    ("ROOK_TOKEN", TOKEN),
    ("ROOK_ADMIN_TOKEN", ADMIN),
];
/// The issue's bound for a change to reach every instance.
const WITHIN: Duration = Duration::from_secs(1);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rook-server"))
}

fn config(up: &FakeUpstream) -> String {
    format!(
        r#"
host = "127.0.0.1"
port = {{port}}
database_url = "{{database_url}}"

[inbound_auth]
enabled = true
bearer_token_env = "ROOK_TOKEN"

[admin_auth]
bearer_token_env = "ROOK_ADMIN_TOKEN"

[[accounts]]
id = "a"
vendor = "custom"
base_url = "{base}"
api_key_env = "KEY_A"

[[pools]]
id = "p"
strategy = "priority"
members = ["a"]

[[routes]]
model = "m"
pool = "p"
"#,
        base = up.base_url()
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

async fn chat_with(server: &RookServer, token: &str, model: &str) -> u16 {
    let auth = format!("Bearer {token}");
    let body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    http::post_json(
        &server.url("/v1/chat/completions"),
        &[("authorization", auth.as_str())],
        &body,
    )
    .await
    .map_or(0, |r| r.status)
}

async fn chat(server: &RookServer, model: &str) -> u16 {
    chat_with(server, TOKEN, model).await
}

/// Waits (at most `within`) until every server answers `status` for `model`.
async fn all_answer(
    servers: &[&RookServer],
    token: &str,
    model: &str,
    status: u16,
    within: Duration,
) -> bool {
    wait_until(within, || async {
        for s in servers {
            if chat_with(s, token, model).await != status {
                return false;
            }
        }
        true
    })
    .await
    .is_some()
}

async fn status(server: &RookServer) -> Value {
    let r = admin(server, "GET", "/api/status", None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_on_one_postgres_behave_as_one() {
    let Some(admin_url) = postgres_url() else {
        return;
    };
    let db = TempDatabase::create(&admin_url, "cluster").unwrap();
    let up = FakeUpstream::start().await;
    let mut servers = start_cluster(bin(), 3, &config(&up), &db.url(), &ENV)
        .await
        .unwrap();
    let (one, two, three) = (&servers[0], &servers[1], &servers[2]);
    for s in [one, two, three] {
        assert_eq!(chat(s, "m").await, 200);
        assert_eq!(chat(s, "new").await, 404);
    }

    // A route created on 1 serves on 2 and 3 within 1 s.
    let r = admin(
        one,
        "POST",
        "/api/routes",
        Some(json!({"model": "new", "pool": "p"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(
        all_answer(&[two, three], TOKEN, "new", 200, WITHIN).await,
        "the new route did not serve on instances 2 and 3 within 1 s; logs of 2:\n{}",
        two.logs()
    );

    // A deletion likewise.
    let r = admin(one, "DELETE", "/api/routes/new", None).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(
        all_answer(&[two, three], TOKEN, "new", 404, WITHIN).await,
        "the deleted route still served on 2 or 3 after 1 s"
    );

    // A client key created on 1 works on 2 (and 3) within 1 s.
    let r = admin(one, "POST", "/api/keys", Some(json!({"name": "ci"}))).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let secret = r.json()["secret"].as_str().unwrap().to_string();
    assert!(
        all_answer(&[two, three], &secret, "m", 200, WITHIN).await,
        "the new client key was refused on 2 or 3 after 1 s"
    );
    // Revoked on 2: refused on 1 and 3.
    let r = admin(two, "DELETE", "/api/keys/ci", None).await;
    assert!(r.status == 200 || r.status == 204, "{}", r.text());
    assert!(
        all_answer(&[one, three], &secret, "m", 401, WITHIN).await,
        "the revoked key still worked on 1 or 3 after 1 s"
    );

    // /api/status: each instance serves the same config version, and (after a
    // heartbeat) each lists the three instances on that version, none flagged.
    let versions: Vec<i64> = {
        let mut v = Vec::new();
        for s in [one, two, three] {
            v.push(status(s).await["config_version"].as_i64().unwrap());
        }
        v
    };
    assert!(
        versions.iter().all(|v| *v == versions[0] && *v > 1),
        "{versions:?}"
    );
    let agreed = wait_until(Duration::from_secs(8), || async {
        for s in [one, two, three] {
            let st = status(s).await;
            let list = st["cluster"]["instances"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let ok = list.len() == 3
                && list.iter().all(|i| {
                    i["config_version"].as_i64() == Some(versions[0])
                        && i["stale"] == false
                        && i["lagging"] == false
                        && i["sync_mode"] == "listening"
                })
                && list.iter().filter(|i| i["this"] == true).count() == 1
                && st["cluster"]["registry_config_version"].as_i64() == Some(versions[0]);
            if !ok {
                return false;
            }
        }
        true
    })
    .await;
    assert!(
        agreed.is_some(),
        "status did not converge: {:#}",
        status(one).await["cluster"]
    );
    let ids: Vec<String> = {
        let mut ids = Vec::new();
        for s in [one, two, three] {
            ids.push(
                status(s).await["cluster"]["this"]["instance_id"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
        ids
    };
    assert!(
        ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2],
        "{ids:?}"
    );

    // Instance 2's listener connection is killed while a route is added behind the
    // triggers' back (no version bump, no notice): 2 reconnects and reloads
    // everything, so it serves the route; 3, still listening and told nothing, does not.
    psql(
        &db.url(),
        "ALTER TABLE routes DISABLE TRIGGER routes_bump_config_version",
    )
    .unwrap();
    psql(
        &db.url(),
        "INSERT INTO routes (model, pool_id, fallback_route, source, created_at_ms, updated_at_ms) \
         VALUES ('hidden', 'p', NULL, 'api', 0, 0)",
    )
    .unwrap();
    psql(
        &db.url(),
        "ALTER TABLE routes ENABLE TRIGGER routes_bump_config_version",
    )
    .unwrap();
    let killed = psql(
        &db.url(),
        &format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE application_name = 'rook-listener {}'",
            ids[1]
        ),
    )
    .unwrap();
    assert_eq!(
        killed, "1",
        "instance 2's listener connection was not found"
    );
    assert!(
        all_answer(&[two], TOKEN, "hidden", 200, Duration::from_secs(5)).await,
        "instance 2 did not resync after its listener was killed; logs:\n{}",
        two.logs()
    );
    assert_eq!(
        chat(three, "hidden").await,
        404,
        "3 had no reason to reload"
    );
    let st = status(two).await;
    assert!(
        st["cluster"]["this"]["listener_reconnects"].as_u64() >= Some(1),
        "{st:#}"
    );
    assert_eq!(st["cluster"]["this"]["sync_mode"], "listening", "{st:#}");
    // The same in the metrics: the reconnect and the version served.
    let m = admin(two, "GET", "/api/metrics", None).await.text();
    let value = |name: &str| -> f64 {
        m.lines()
            .find(|l| l.strip_prefix(name).is_some_and(|r| r.starts_with(' ')))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1.0)
    };
    assert!(
        value("rook_cluster_listener_reconnects_total") >= 1.0,
        "{m}"
    );
    assert_eq!(
        value("rook_config_version_served"),
        st["config_version"].as_i64().unwrap() as f64,
        "{m}"
    );
    // And it listens again: the next change arrives within 1 s.
    let r = admin(
        one,
        "POST",
        "/api/routes",
        Some(json!({"model": "after", "pool": "p"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(all_answer(&[two, three], TOKEN, "after", 200, WITHIN).await);

    // A clean shutdown removes the instance's row.
    servers[2].sigterm().unwrap();
    assert!(servers[2]
        .wait_exit(Duration::from_secs(15))
        .await
        .is_some());
    let gone = wait_until(Duration::from_secs(3), || async {
        status(&servers[0]).await["cluster"]["instances"]
            .as_array()
            .is_some_and(|l| l.len() == 2)
    })
    .await;
    assert!(gone.is_some(), "{:#}", status(&servers[0]).await["cluster"]);
    servers.clear();
    drop(db);
}

/// SQLite: another process writes the file (here `sqlite3`, as `rook-cli` would):
/// the gateway notices by polling the version within about a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_picks_up_writes_by_other_processes() {
    if std::process::Command::new("sqlite3")
        .arg("-version")
        .output()
        .is_err()
    {
        eprintln!("skipped: sqlite3 not installed");
        return;
    }
    let up = FakeUpstream::start().await;
    let cfg = config(&up).replace("{database_url}", "sqlite://{dir}/rook.db");
    let server = RookServer::start(bin(), &cfg, &ENV).await.unwrap();
    assert_eq!(chat(&server, "other").await, 404);
    let before = status(&server).await["config_version"].as_i64().unwrap();
    let file = server.dir().join("rook.db");
    // the server writes too (heartbeats): wait for its lock rather than fail
    let out = std::process::Command::new("sqlite3")
        .args(["-cmd", ".timeout 5000"])
        .arg(&file)
        .arg(
            "INSERT INTO routes (model, pool_id, fallback_route, source, created_at_ms, updated_at_ms) \
             VALUES ('other', 'p', NULL, 'api', 0, 0)",
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        all_answer(&[&server], TOKEN, "other", 200, Duration::from_secs(3)).await,
        "the route written by another process was not picked up; logs:\n{}",
        server.logs()
    );
    let st = status(&server).await;
    assert!(st["config_version"].as_i64().unwrap() > before, "{st:#}");
    assert_eq!(st["cluster"]["this"]["sync_mode"], "polling");
    assert_eq!(
        st["cluster"]["instances"].as_array().map(Vec::len),
        Some(1),
        "{st:#}"
    );
}
