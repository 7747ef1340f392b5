//! End to end (issue 12, finding 1): the control plane is secure by default.
//!
//! Through the real `rook-server` (and `rook-cli`) binaries: the generated admin
//! token (file mode 0600, path logged, token never logged, reused on restart, the
//! API never open), short tokens refused, `rook-cli` finding the token by itself,
//! DNS rebinding (421), cross-site form posts (403/415, nothing created), `/v1`
//! bodies that are not JSON (415), and trusted proxies (audit `client_addr`, the
//! per-address rate limit).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use rook_test_support::{http, workspace_bin, FakeUpstream, RookServer, TestDir};
use serde_json::{json, Value};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rook-server"))
}

/// One account on `up`, routed as model `m`; no admin token configured.
fn config(up: &FakeUpstream, extra: &str) -> String {
    format!(
        r#"
host = "127.0.0.1"
port = {{port}}
database_url = "sqlite://{{dir}}/rook.db"
{extra}

[[accounts]]
id = "a"
vendor = "custom"
base_url = "{up}"

[[pools]]
id = "main"
strategy = "failover"
members = ["a"]

[[routes]]
model = "m"
pool = "main"
"#,
        up = up.base_url(),
    )
}

fn chat() -> Vec<u8> {
    json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
        .to_string()
        .into_bytes()
}

async fn send(
    server: &RookServer,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> http::TestResponse {
    http::request(method, &server.url(path), headers, body)
        .await
        .unwrap()
}

fn bearer(server: &RookServer) -> String {
    format!("Bearer {}", server.admin_token().unwrap())
}

#[tokio::test]
async fn without_a_configured_token_one_is_generated_0600_and_the_api_is_never_open() {
    let up = FakeUpstream::start().await;
    let cfg = config(&up, "");
    let mut server = RookServer::start(bin(), &cfg, &[]).await.unwrap();
    let path = server.dir().join("admin-token");
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let token = server.admin_token().unwrap();
    assert_eq!(token.len(), 64, "32 random bytes as hex");
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    let logs = server.logs();
    assert!(logs.contains(&path.display().to_string()), "{logs}");
    assert!(logs.contains("admin token generated"), "{logs}");
    assert!(!logs.contains(&token), "the token reached the logs");

    // 401 without it (and with a wrong one), 200 with it; probes stay open.
    for auth in [None, Some("Bearer wrong-token-0123456789")] {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
        let r = send(&server, "GET", "/api/accounts", &headers, None).await;
        assert_eq!(r.status, 401, "{}", r.text());
        assert_eq!(r.json()["error"]["code"], "unauthorized");
    }
    let auth = bearer(&server);
    let r = send(
        &server,
        "GET",
        "/api/accounts",
        &[("authorization", &auth)],
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = send(
        &server,
        "GET",
        "/api/status",
        &[("authorization", &auth)],
        None,
    )
    .await;
    assert_eq!(r.json()["auth"]["admin"], true);
    assert_eq!(
        send(&server, "GET", "/api/health/live", &[], None)
            .await
            .status,
        200
    );

    // A restart reuses the file.
    server.sigterm().unwrap();
    assert!(server
        .wait_exit(Duration::from_secs(15))
        .await
        .unwrap()
        .success());
    let dir = server.dir().to_path_buf();
    let again = RookServer::start_in(bin(), &dir, &cfg, &[]).await.unwrap();
    assert_eq!(again.admin_token().unwrap(), token);
    assert!(
        again.logs().contains("admin token read from"),
        "{}",
        again.logs()
    );
    assert!(!again.logs().contains(&token));
    let r = send(
        &again,
        "GET",
        "/api/accounts",
        &[("authorization", &auth)],
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn an_unsafe_token_file_or_a_short_token_refuses_to_start() {
    let up = FakeUpstream::start().await;
    // A token file others may read is refused, naming the file and the fix.
    let data = TestDir::new("rook-token-dir").unwrap();
    let file = data.path().join("admin-token");
    std::fs::write(&file, "a".repeat(64)).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let extra = format!("data_dir = \"{}\"", data.path().display());
    let (code, logs) = RookServer::start_expect_failure(bin(), &config(&up, &extra), &[])
        .await
        .unwrap();
    assert_eq!(code, 2, "{logs}");
    assert!(logs.contains(&file.display().to_string()), "{logs}");
    assert!(
        logs.contains("0644") && logs.contains("chmod 600"),
        "{logs}"
    );
    assert!(!logs.contains(&"a".repeat(64)), "{logs}");
    assert!(!logs.contains("listening"), "{logs}");

    // A 15-character token is refused (exit 2), naming the key, not the value.
    let short = "fifteen-chars-x";
    let (code, logs) =
        RookServer::start_expect_failure(bin(), &config(&up, ""), &[("ROOK_ADMIN_TOKEN", short)])
            .await
            .unwrap();
    assert_eq!(code, 2, "{logs}");
    assert!(logs.contains("admin_auth.bearer_token_env"), "{logs}");
    assert!(logs.contains("at least 16"), "{logs}");
    assert!(!logs.contains(short), "{logs}");

    // 16 characters are enough; no file is generated then.
    let server = RookServer::start(
        bin(),
        &config(&up, ""),
        &[("ROOK_ADMIN_TOKEN", "sixteen-chars-xx")],
    )
    .await
    .unwrap();
    assert!(!server.dir().join("admin-token").exists());
    let r = send(
        &server,
        "GET",
        "/api/accounts",
        &[("authorization", "Bearer sixteen-chars-xx")],
        None,
    )
    .await;
    assert_eq!(r.status, 200);
}

/// `rook-cli accounts …--server http://127.0.0.1:PORT` with no flag and no variable:
/// it reads the generated token from the data directory of the same config.
#[tokio::test]
async fn rook_cli_finds_the_generated_token_for_a_local_server() {
    let up = FakeUpstream::start().await;
    let server = RookServer::start(bin(), &config(&up, ""), &[])
        .await
        .unwrap();
    let cli = workspace_bin("rook-cli", "rook-cli").unwrap();
    let run = |args: &[&str]| {
        let mut cmd = Command::new(&cli);
        cmd.args(args)
            .arg("--server")
            .arg(server.base_url())
            .arg("--config")
            .arg(server.config_path())
            .current_dir(server.dir())
            .env("HOME", server.dir())
            .env("XDG_CONFIG_HOME", server.dir().join("xdg"));
        for (k, _) in std::env::vars() {
            if k.starts_with("ROOK_") {
                cmd.env_remove(k);
            }
        }
        cmd.output().unwrap()
    };
    let out = run(&[
        "accounts",
        "add",
        "--id",
        "b",
        "--vendor",
        "custom",
        "--base-url",
        "http://127.0.0.1:9/v1",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["accounts", "list", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a", "b"], "{list}");
    let out = run(&["accounts", "remove", "--id", "b"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn dns_rebinding_is_refused_with_421_in_the_callers_protocol() {
    let up = FakeUpstream::start().await;
    let server = RookServer::start(
        bin(),
        &config(
            &up,
            "[transport]\nallowed_hosts = [\"rook.internal\", \"*.example.com\"]",
        ),
        &[],
    )
    .await
    .unwrap();
    let auth = bearer(&server);
    let evil = [
        ("host", "attacker.example"),
        ("authorization", auth.as_str()),
    ];
    let r = send(&server, "GET", "/api/accounts", &evil, None).await;
    assert_eq!(r.status, 421, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "misdirected_request");
    let r = send(
        &server,
        "GET",
        "/api/health/live",
        &[("host", "attacker.example:4141")],
        None,
    )
    .await;
    assert_eq!(r.status, 421);
    let json_ct = ("content-type", "application/json");
    let r = send(
        &server,
        "POST",
        "/v1/chat/completions",
        &[("host", "attacker.example"), json_ct],
        Some(chat()),
    )
    .await;
    assert_eq!(r.status, 421, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "misdirected_request");
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    let r = send(
        &server,
        "POST",
        "/v1/messages",
        &[("host", "attacker.example"), json_ct],
        Some(br#"{"model":"m","max_tokens":5,"messages":[]}"#.to_vec()),
    )
    .await;
    assert_eq!(r.status, 421);
    assert_eq!(r.json()["type"], "error");
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    let r = send(
        &server,
        "GET",
        "/v1/models",
        &[("host", "attacker.example")],
        None,
    )
    .await;
    assert_eq!(r.status, 421);
    assert_eq!(
        up.request_count(),
        0,
        "a refused request reached the upstream"
    );

    // Loopback names and addresses, and the allowed hosts, pass (port ignored).
    for host in [
        "127.0.0.1",
        "localhost:4141",
        "[::1]:1",
        "rook.internal:8080",
        "api.example.com",
    ] {
        let r = send(
            &server,
            "GET",
            "/api/accounts",
            &[("host", host), ("authorization", auth.as_str())],
            None,
        )
        .await;
        assert_eq!(r.status, 200, "{host}: {}", r.text());
    }
    let r = send(
        &server,
        "POST",
        "/v1/chat/completions",
        &[("host", "rook.internal"), json_ct],
        Some(chat()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(server.logs().contains("(421)"), "{}", server.logs());
}

/// A page the operator visits posts a form (or `text/plain`) to the admin API:
/// refused, and nothing is created, even when the request carries the token.
#[tokio::test]
async fn cross_site_form_posts_to_the_admin_api_create_nothing() {
    let up = FakeUpstream::start().await;
    let server = RookServer::start(bin(), &config(&up, ""), &[])
        .await
        .unwrap();
    let auth = bearer(&server);
    let account =
        json!({"id": "evil", "vendor": "custom", "base_url": "http://attacker.example/v1"});
    let form = b"id=evil&vendor=custom&base_url=http%3A%2F%2Fattacker.example%2Fv1".to_vec();
    // (headers, body, status, error code)
    type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            vec![
                ("content-type", "application/x-www-form-urlencoded"),
                ("origin", "https://evil.example"),
            ],
            form.clone(),
            403,
            "cross_origin_forbidden",
        ),
        (
            vec![
                ("content-type", "text/plain"),
                ("origin", "https://evil.example"),
            ],
            account.to_string().into_bytes(),
            403,
            "cross_origin_forbidden",
        ),
        (
            vec![
                ("content-type", "application/x-www-form-urlencoded"),
                ("authorization", &auth),
            ],
            form.clone(),
            415,
            "unsupported_media_type",
        ),
        (
            vec![
                ("content-type", "text/plain;charset=UTF-8"),
                ("authorization", &auth),
            ],
            account.to_string().into_bytes(),
            415,
            "unsupported_media_type",
        ),
        (
            vec![
                ("content-type", "application/json"),
                ("origin", "https://evil.example"),
                ("authorization", &auth),
            ],
            account.to_string().into_bytes(),
            403,
            "cross_origin_forbidden",
        ),
        (
            vec![
                ("content-type", "application/json"),
                ("sec-fetch-site", "cross-site"),
                ("authorization", &auth),
            ],
            account.to_string().into_bytes(),
            403,
            "cross_origin_forbidden",
        ),
        (
            vec![
                ("content-type", "application/json"),
                ("origin", "null"),
                ("authorization", &auth),
            ],
            account.to_string().into_bytes(),
            403,
            "cross_origin_forbidden",
        ),
    ];
    for (headers, body, status, code) in &cases {
        let r = send(
            &server,
            "POST",
            "/api/accounts",
            headers,
            Some(body.clone()),
        )
        .await;
        assert_eq!(r.status, *status, "{headers:?}: {}", r.text());
        assert_eq!(r.json()["error"]["code"], *code, "{headers:?}");
    }
    // A cross-site read is refused too.
    let r = send(
        &server,
        "GET",
        "/api/accounts",
        &[
            ("origin", "http://attacker.example"),
            ("authorization", &auth),
        ],
        None,
    )
    .await;
    assert_eq!(r.status, 403);
    let r = send(
        &server,
        "GET",
        "/api/accounts",
        &[("authorization", &auth)],
        None,
    )
    .await;
    let accounts = r.json();
    let ids: Vec<&str> = accounts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a"], "a refused request created an account");

    // The same write from the server's own origin, as JSON, works.
    let origin = server.base_url();
    let r = send(
        &server,
        "POST",
        "/api/accounts",
        &[
            ("content-type", "application/json; charset=utf-8"),
            ("origin", &origin),
            ("sec-fetch-site", "same-origin"),
            ("authorization", &auth),
        ],
        Some(account.to_string().into_bytes()),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    // A DELETE without a body may omit the content type.
    let r = send(
        &server,
        "DELETE",
        "/api/accounts/evil",
        &[("authorization", &auth)],
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text());
}

#[tokio::test]
async fn v1_bodies_must_be_declared_json() {
    let up = FakeUpstream::start().await;
    let server = RookServer::start(bin(), &config(&up, ""), &[])
        .await
        .unwrap();
    for ct in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let headers: Vec<(&str, &str)> = ct.map(|c| ("content-type", c)).into_iter().collect();
        let r = send(
            &server,
            "POST",
            "/v1/chat/completions",
            &headers,
            Some(chat()),
        )
        .await;
        assert_eq!(r.status, 415, "{ct:?}: {}", r.text());
        assert_eq!(r.json()["error"]["code"], "unsupported_media_type");
        let r = send(
            &server,
            "POST",
            "/v1/messages",
            &headers,
            Some(br#"{"model":"m","max_tokens":5,"messages":[]}"#.to_vec()),
        )
        .await;
        assert_eq!(r.status, 415);
        assert_eq!(r.json()["type"], "error");
    }
    assert_eq!(up.request_count(), 0);
    let r = send(
        &server,
        "POST",
        "/v1/chat/completions",
        &[("content-type", "application/json; charset=utf-8")],
        Some(chat()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

/// `X-Forwarded-For` is believed only from a trusted proxy: visible in the audit
/// event's `client_addr`, the request log line and the per-address rate limit.
#[tokio::test]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    let up = FakeUpstream::start().await;
    let limits = "[rate_limits]\nclient_address_requests_per_minute = 2\n";
    for trusted in [true, false] {
        let transport = if trusted {
            "[transport]\ntrusted_proxies = [\"127.0.0.1/32\"]\n"
        } else {
            ""
        };
        let server = RookServer::start(bin(), &config(&up, &format!("{limits}{transport}")), &[])
            .await
            .unwrap();
        let auth = bearer(&server);
        let r = send(
            &server,
            "POST",
            "/api/pools",
            &[
                ("content-type", "application/json"),
                ("authorization", &auth),
                ("x-forwarded-for", "6.6.6.6, 203.0.113.7"),
            ],
            Some(
                json!({"id": "p2", "strategy": "failover", "members": ["a"]})
                    .to_string()
                    .into_bytes(),
            ),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text());
        let events = send(
            &server,
            "GET",
            "/api/audit/events",
            &[("authorization", &auth)],
            None,
        )
        .await
        .json();
        let want = if trusted { "203.0.113.7" } else { "127.0.0.1" };
        assert_eq!(events["events"][0]["client_addr"], want, "{events}");

        let post = |xff: &'static str| {
            let server = &server;
            async move {
                send(
                    server,
                    "POST",
                    "/v1/chat/completions",
                    &[
                        ("content-type", "application/json"),
                        ("x-forwarded-for", xff),
                    ],
                    Some(chat()),
                )
                .await
            }
        };
        assert_eq!(post("198.51.100.1").await.status, 200);
        assert_eq!(post("198.51.100.1").await.status, 200);
        let third = post("198.51.100.2").await;
        if trusted {
            // Another forwarded client has its own budget; the first is spent.
            assert_eq!(third.status, 200, "{}", third.text());
            let r = post("198.51.100.1").await;
            assert_eq!(r.status, 429, "{}", r.text());
            assert_eq!(r.json()["error"]["code"], "rate_limit_exceeded");
            assert!(r.header("retry-after").is_some());
            assert!(server.logs().contains("198.51.100.2"), "{}", server.logs());
        } else {
            // Every request is the peer's: the header changes nothing.
            assert_eq!(third.status, 429, "{}", third.text());
            assert_eq!(third.json()["error"]["code"], "rate_limit_exceeded");
            assert!(!server.logs().contains("198.51.100."), "{}", server.logs());
        }
    }
}
