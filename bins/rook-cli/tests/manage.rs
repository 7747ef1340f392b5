//! `accounts|pools|routes` against the registry and through the admin API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::{rt, Env};
use rook_gateway::rook_config::Config;
use rook_gateway::rook_registry::{ConnectOptions, Registry};
use serde_json::json;

const DECLARED: &str = r#"
[[accounts]]
id = "declared-a"
vendor = "open_ai"
api_key_env = "KEY_A"

[[pools]]
id = "declared-pool"
strategy = "failover"
members = ["declared-a"]

[[routes]]
model = "declared-model"
pool = "declared-pool"
"#;

/// Migrates through the CLI, then syncs `DECLARED` through the library, as
/// the server does at start-up.
fn setup(env: &Env, declare_in_file: bool) -> String {
    let url = env.db_url();
    let body = if declare_in_file { DECLARED } else { "" };
    let cfg = env
        .config(&format!("database_url = \"{url}\"\n{body}"))
        .display()
        .to_string();
    env.run(&["db", "migrate", "--config", &cfg], &[])
        .assert_code(0);
    let declared = Config::from_toml_str(DECLARED).unwrap();
    rt().block_on(async {
        let registry = Registry::connect(
            &url,
            ConnectOptions {
                create_if_missing: false,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let (a, p, r) = rook_gateway::catalog::declared_records(&declared);
        registry.sync_declared(&a, &p, &r).await.unwrap();
        registry.close().await;
    });
    cfg
}

#[test]
fn migrate_reports_applied_then_up_to_date() {
    let env = Env::new();
    let cfg = env
        .config(&format!("database_url = \"{}\"\n", env.db_url()))
        .display()
        .to_string();
    let run = env.run(&["db", "migrate", "--config", &cfg], &[]);
    run.assert_code(0);
    assert!(run.stdout.contains("applied migration 1"), "{}", run.stdout);
    assert!(env.db_path().exists());
    let run = env.run(&["db", "migrate", "--config", &cfg], &[]);
    run.assert_code(0);
    assert!(run.stdout.contains("up to date"), "{}", run.stdout);
}

#[test]
fn backup_writes_a_usable_copy_and_never_overwrites() {
    let env = Env::new();
    let cfg = setup(&env, true);
    let c = cfg.as_str();
    let target = env.path("backup.db");
    let t = target.display().to_string();
    let run = env.run(&["db", "backup", &t, "--config", c], &[]);
    run.assert_code(0);
    assert!(run.stdout.contains("backup written"), "{}", run.stdout);
    // The copy is a registry the CLI can read.
    let copy_cfg = env.path("copy.toml");
    std::fs::write(&copy_cfg, format!("database_url = \"sqlite://{t}\"\n")).unwrap();
    let run = env.run(
        &[
            "accounts",
            "list",
            "--json",
            "--config",
            &copy_cfg.display().to_string(),
        ],
        &[],
    );
    run.assert_code(0);
    // A second backup to the same path is refused.
    env.run(&["db", "backup", &t, "--config", c], &[])
        .assert_code(2);
}

#[test]
fn add_list_set_remove_against_the_registry() {
    let env = Env::new();
    let cfg = setup(&env, true);
    let c = cfg.as_str();
    env.run(
        &[
            "accounts",
            "add",
            "--config",
            c,
            "--id",
            "openai-b",
            "--vendor",
            "open_ai",
            "--api-key-env",
            "KEY_B",
            "--weight",
            "3",
            "--model",
            "gpt-4o=gpt-4o-2024-08-06",
            "--model",
            "mini=gpt-4o-mini",
        ],
        &[],
    )
    .assert_code(0);
    env.run(
        &[
            "pools",
            "add",
            "--config",
            c,
            "--id",
            "gpt",
            "--strategy",
            "weighted",
            "--member",
            "openai-b",
            "--member",
            "declared-a",
        ],
        &[],
    )
    .assert_code(0);
    env.run(
        &[
            "routes",
            "add",
            "--config",
            c,
            "--model",
            "gpt-4o",
            "--pool",
            "gpt",
            "--fallback-route",
            "declared-model",
        ],
        &[],
    )
    .assert_code(0);

    let run = env.run(&["accounts", "list", "--json", "--config", c], &[]);
    run.assert_code(0);
    let list = run.json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let b = list.iter().find(|a| a["id"] == "openai-b").unwrap();
    assert_eq!(b["base_url"], "https://api.openai.com/v1");
    assert_eq!(b["weight"], 3);
    assert_eq!(b["models"]["mini"], "gpt-4o-mini");
    assert_eq!(b["source"], "api");
    let a = list.iter().find(|a| a["id"] == "declared-a").unwrap();
    assert_eq!(a["source"], "config");

    assert_eq!(b["protocol"], "openai");
    assert_eq!(b["stream_usage"], true);

    let run = env.run(&["accounts", "list", "--config", c], &[]);
    run.assert_code(0);
    assert!(run.stdout.starts_with("ID"), "{}", run.stdout);
    assert!(run.stdout.contains("env:KEY_B"), "{}", run.stdout);
    let header: Vec<&str> = run
        .stdout
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(&header[..4], ["ID", "VENDOR", "PROTOCOL", "BASE_URL"]);
    let row: Vec<&str> = run
        .stdout
        .lines()
        .find(|l| l.starts_with("openai-b"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        &row[..4],
        ["openai-b", "open_ai", "openai", "https://api.openai.com/v1"]
    );

    let run = env.run(&["pools", "list", "--json", "--config", c], &[]);
    let pools = run.json();
    let gpt = pools
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "gpt")
        .unwrap()
        .clone();
    assert_eq!(
        gpt["members"],
        serde_json::json!(["openai-b", "declared-a"])
    );
    let run = env.run(&["routes", "list", "--config", c], &[]);
    run.assert_code(0);
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("gpt-4o") && l.contains("declared-model")),
        "{}",
        run.stdout
    );

    env.run(
        &[
            "accounts",
            "set",
            "--config",
            c,
            "--id",
            "openai-b",
            "--enabled",
            "false",
            "--priority",
            "2",
        ],
        &[],
    )
    .assert_code(0);
    env.run(
        &[
            "routes",
            "set",
            "--config",
            c,
            "--model",
            "gpt-4o",
            "--fallback-route",
            "",
        ],
        &[],
    )
    .assert_code(0);
    let accounts = env
        .run(&["accounts", "list", "--json", "--config", c], &[])
        .json();
    let b = accounts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "openai-b")
        .unwrap()
        .clone();
    assert_eq!(b["enabled"], false);
    assert_eq!(b["priority"], 2);
    assert_eq!(b["weight"], 3, "set keeps the fields it was not given");
    assert_eq!(b["api_key_env"], "KEY_B");
    let routes = env
        .run(&["routes", "list", "--json", "--config", c], &[])
        .json();
    let r = routes
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["model"] == "gpt-4o")
        .unwrap()
        .clone();
    assert!(r["fallback_route"].is_null());

    // A referenced account cannot go: a clear reference error, exit 2.
    let run = env.run(
        &["accounts", "remove", "--config", c, "--id", "openai-b"],
        &[],
    );
    run.assert_code(2);
    assert!(run.stderr.contains("reference"), "{}", run.stderr);
    env.run(
        &["routes", "remove", "--config", c, "--model", "gpt-4o"],
        &[],
    )
    .assert_code(0);
    env.run(&["pools", "remove", "--config", c, "--id", "gpt"], &[])
        .assert_code(0);
    env.run(
        &["accounts", "remove", "--config", c, "--id", "openai-b"],
        &[],
    )
    .assert_code(0);
    let run = env.run(
        &["accounts", "remove", "--config", c, "--id", "openai-b"],
        &[],
    );
    run.assert_code(2);
    assert!(run.stderr.contains("not found"), "{}", run.stderr);
    let accounts = env
        .run(&["accounts", "list", "--json", "--config", c], &[])
        .json();
    assert_eq!(accounts.as_array().unwrap().len(), 1);
}

#[test]
fn config_declared_entries_are_read_only() {
    for declare_in_file in [true, false] {
        // true: the CLI's config declares them; false: only the registry knows
        // (another config synced them), so the registry's ReadOnly answers.
        let env = Env::new();
        let cfg = setup(&env, declare_in_file);
        let c = cfg.as_str();
        for args in [
            vec!["accounts", "remove", "--id", "declared-a"],
            vec!["accounts", "set", "--id", "declared-a", "--weight", "5"],
            vec!["pools", "remove", "--id", "declared-pool"],
            vec![
                "routes",
                "set",
                "--model",
                "declared-model",
                "--pool",
                "declared-pool",
            ],
            vec!["routes", "remove", "--model", "declared-model"],
        ] {
            let mut full = args.clone();
            full.extend(["--config", c]);
            let run = env.run(&full, &[]);
            run.assert_code(2);
            assert!(
                run.stderr
                    .contains("declared in the config file; change it there"),
                "{args:?} ({declare_in_file}): {}",
                run.stderr
            );
        }
    }
}

#[test]
fn protocol_flags_against_the_registry() {
    let env = Env::new();
    let cfg = setup(&env, false);
    let c = cfg.as_str();
    let add = |args: &[&str]| {
        let mut all = vec!["accounts", "add", "--config", c];
        all.extend_from_slice(args);
        env.run(&all, &[]).assert_code(0);
    };
    add(&[
        "--id",
        "claude",
        "--vendor",
        "anthropic",
        "--anthropic-version",
        "2024-10-22",
        "--default-max-tokens",
        "1024",
    ]);
    add(&["--id", "gem", "--vendor", "google"]);
    add(&[
        "--id",
        "gem-oai",
        "--vendor",
        "google",
        "--protocol",
        "openai",
    ]);
    add(&[
        "--id",
        "local",
        "--vendor",
        "custom",
        "--base-url",
        "http://127.0.0.1:8000/v1",
        "--stream-usage",
        "false",
    ]);
    let run = env.run(&["accounts", "list", "--json", "--config", c], &[]);
    run.assert_code(0);
    let list = run.json();
    let get = |id: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == id)
            .unwrap()
            .clone()
    };
    // (id, protocol, base_url, anthropic_version, default_max_tokens, stream_usage)
    let table = [
        (
            "claude",
            "anthropic",
            "https://api.anthropic.com/v1",
            json!("2024-10-22"),
            json!(1024),
            true,
        ),
        (
            "gem",
            "gemini",
            "https://generativelanguage.googleapis.com/v1beta",
            json!(null),
            json!(null),
            true,
        ),
        (
            "gem-oai",
            "openai",
            "https://generativelanguage.googleapis.com/v1beta/openai",
            json!(null),
            json!(null),
            true,
        ),
        (
            "local",
            "openai",
            "http://127.0.0.1:8000/v1",
            json!(null),
            json!(null),
            false,
        ),
    ];
    for (id, protocol, base_url, version, max_tokens, stream_usage) in table {
        let a = get(id);
        assert_eq!(a["protocol"], protocol, "{a:#}");
        assert_eq!(a["base_url"], base_url, "{a:#}");
        assert_eq!(a["anthropic_version"], version, "{a:#}");
        assert_eq!(a["default_max_tokens"], max_tokens, "{a:#}");
        assert_eq!(a["stream_usage"], stream_usage, "{a:#}");
    }

    // `set --protocol` moves a default base URL along; "" resets anthropic_version.
    env.run(
        &[
            "accounts",
            "set",
            "--config",
            c,
            "--id",
            "gem",
            "--protocol",
            "openai",
        ],
        &[],
    )
    .assert_code(0);
    env.run(
        &[
            "accounts",
            "set",
            "--config",
            c,
            "--id",
            "claude",
            "--anthropic-version",
            "",
        ],
        &[],
    )
    .assert_code(0);
    let run = env.run(&["accounts", "list", "--json", "--config", c], &[]);
    let list = run.json();
    let find = |id: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(find("gem")["protocol"], "openai");
    assert_eq!(
        find("gem")["base_url"],
        "https://generativelanguage.googleapis.com/v1beta/openai"
    );
    assert_eq!(find("claude")["anthropic_version"], json!(null));
    assert_eq!(find("claude")["default_max_tokens"], 1024);
}

#[test]
fn flags_are_validated_before_anything_is_opened() {
    let env = Env::new();
    for args in [
        vec!["accounts", "add", "--id", "x", "--vendor", "nope"],
        vec!["accounts", "add", "--id", "x"],
        vec!["accounts", "add", "--id", "x", "--vendor", "custom"],
        vec!["accounts", "add", "--id", "bad id", "--vendor", "open_ai"],
        vec![
            "accounts", "add", "--id", "x", "--vendor", "open_ai", "--model", "nomap",
        ],
        vec![
            "pools",
            "add",
            "--id",
            "p",
            "--strategy",
            "random",
            "--member",
            "a",
        ],
        vec!["pools", "add", "--id", "p", "--strategy", "failover"],
        vec!["routes", "add", "--model", "m"],
        vec![
            "accounts",
            "add",
            "--id",
            "x",
            "--vendor",
            "open_ai",
            "--protocol",
            "grpc",
        ],
        vec![
            "accounts",
            "add",
            "--id",
            "x",
            "--vendor",
            "anthropic",
            "--default-max-tokens",
            "0",
        ],
        vec![
            "accounts",
            "add",
            "--id",
            "x",
            "--vendor",
            "anthropic",
            "--anthropic-version",
            " ",
        ],
        vec![
            "accounts",
            "add",
            "--id",
            "x",
            "--vendor",
            "open_ai",
            "--stream-usage",
            "maybe",
        ],
    ] {
        let run = env.run(&args, &[]);
        run.assert_code(2);
        assert!(!run.stderr.contains("database"), "{args:?}: {}", run.stderr);
    }
}

#[test]
fn missing_database_is_not_created() {
    let env = Env::new();
    let url = env.db_url();
    let run = env.run(&["accounts", "list", "--database-url", &url], &[]);
    run.assert_code(2);
    assert!(run.stderr.contains("db migrate"), "{}", run.stderr);
    assert!(!env.db_path().exists());
}

/// A scripted admin API: answers each request with the next canned
/// response and records what it received.
fn fake_admin(
    responses: Vec<(u16, &'static str)>,
) -> (String, std::thread::JoinHandle<Vec<String>>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for (status, body) in responses {
            let (mut s, _) = listener.accept().unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = s.read(&mut buf).unwrap();
                req.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&req).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if req.len() >= end + 4 + len || n == 0 {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            seen.push(String::from_utf8_lossy(&req).into_owned());
            let reply = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            s.write_all(reply.as_bytes()).unwrap();
        }
        seen
    });
    (url, handle)
}

#[test]
fn server_mode_uses_the_admin_api() {
    let env = Env::new();
    let (url, server) = fake_admin(vec![
        (
            200,
            r#"{"accounts":[{"id":"a1","vendor":"open_ai","base_url":"https://api.openai.com/v1","api_key_env":"K","enabled":true,"weight":1,"priority":0,"models":{},"source":"api"}]}"#,
        ),
        (201, r#"{"id":"a2"}"#),
        (
            200,
            r#"{"id":"a2","vendor":"custom","base_url":"http://x/v1","api_key_env":null,"api_key_file":null,"enabled":true,"weight":1,"priority":0,"models":{},"source":"api"}"#,
        ),
        (200, r#"{"id":"a2"}"#),
        (
            409,
            r#"{"error":{"code":"read_only","message":"account 'd' is declared in the config file; change it there"}}"#,
        ),
        (204, ""),
    ]);
    let tok = [("MY_ADMIN", "admin-secret")];
    let run = env.run(
        &[
            "accounts",
            "list",
            "--json",
            "--server",
            &url,
            "--admin-token-env",
            "MY_ADMIN",
        ],
        &tok,
    );
    run.assert_code(0);
    assert_eq!(run.json()[0]["id"], "a1");
    env.run(
        &[
            "accounts",
            "add",
            "--server",
            &url,
            "--admin-token-env",
            "MY_ADMIN",
            "--id",
            "a2",
            "--vendor",
            "custom",
            "--base-url",
            "http://x/v1",
        ],
        &tok,
    )
    .assert_code(0);
    env.run(
        &[
            "accounts",
            "set",
            "--server",
            &url,
            "--admin-token-env",
            "MY_ADMIN",
            "--id",
            "a2",
            "--weight",
            "7",
        ],
        &tok,
    )
    .assert_code(0);
    let run = env.run(
        &[
            "accounts",
            "remove",
            "--server",
            &url,
            "--admin-token-env",
            "MY_ADMIN",
            "--id",
            "d",
        ],
        &tok,
    );
    run.assert_code(2);
    assert!(
        run.stderr.contains("read_only") && run.stderr.contains("change it there"),
        "{}",
        run.stderr
    );
    env.run(
        &[
            "accounts",
            "remove",
            "--server",
            &url,
            "--admin-token-env",
            "MY_ADMIN",
            "--id",
            "a2",
        ],
        &tok,
    )
    .assert_code(0);
    let seen = server.join().unwrap();
    assert!(seen[0].starts_with("GET /api/accounts "), "{}", seen[0]);
    assert!(
        seen.iter()
            .all(|r| r.contains("authorization: Bearer admin-secret")
                || r.contains("Authorization: Bearer admin-secret")),
        "{seen:#?}"
    );
    assert!(seen[1].starts_with("POST /api/accounts "), "{}", seen[1]);
    let body: serde_json::Value =
        serde_json::from_str(seen[1].split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["id"], "a2");
    assert_eq!(body["base_url"], "http://x/v1");
    assert!(seen[2].starts_with("GET /api/accounts/a2 "), "{}", seen[2]);
    assert!(seen[3].starts_with("PUT /api/accounts/a2 "), "{}", seen[3]);
    let body: serde_json::Value =
        serde_json::from_str(seen[3].split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["weight"], 7);
    assert_eq!(body["vendor"], "custom");
    assert!(
        body.get("source").is_none(),
        "only the API's fields are sent: {body}"
    );
    assert!(
        seen[4].starts_with("DELETE /api/accounts/d "),
        "{}",
        seen[4]
    );
    assert!(
        seen[5].starts_with("DELETE /api/accounts/a2 "),
        "{}",
        seen[5]
    );
}

#[test]
fn list_notes_declared_entries_the_server_has_not_synced_yet() {
    let env = Env::new();
    let cfg = env
        .config(&format!("database_url = \"{}\"\n{DECLARED}", env.db_url()))
        .display()
        .to_string();
    env.run(&["db", "migrate", "--config", &cfg], &[])
        .assert_code(0);
    let run = env.run(&["accounts", "list", "--config", &cfg], &[]);
    run.assert_code(0);
    assert!(
        run.stderr.contains("not in the registry yet"),
        "{}",
        run.stderr
    );
    // Once synced (as the server does at start), no note.
    let cfg2 = setup(&env, true);
    let run = env.run(&["accounts", "list", "--config", &cfg2], &[]);
    run.assert_code(0);
    assert!(
        !run.stderr.contains("not in the registry yet"),
        "{}",
        run.stderr
    );
}

/// Without `--admin-token-env`'s variable, a loopback `--server` call finds the
/// token by itself: the config's `[admin_auth]` source first, else the file the
/// server generated in its data directory (`ROOK_DATA_DIR` overrides it); and it
/// sends writes as JSON.
#[test]
fn server_mode_finds_the_admin_token_by_itself() {
    let env = Env::new();
    let data = env.path("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("admin-token"), "file-token-0123456789abcdef\n").unwrap();
    let cfg = env.config(&format!("database_url = \"{}\"\n", env.db_url()));
    let cfg = cfg.to_str().unwrap();
    let list = r#"{"accounts":[]}"#;
    let (url, server) = fake_admin(vec![(200, list), (204, ""), (200, list), (200, list)]);
    env.run(
        &["accounts", "list", "--server", &url, "--config", cfg],
        &[],
    )
    .assert_code(0);
    env.run(
        &[
            "accounts", "remove", "--id", "x", "--server", &url, "--config", cfg,
        ],
        &[],
    )
    .assert_code(0);
    // ROOK_DATA_DIR points elsewhere: that file wins.
    let other = env.path("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("admin-token"), "other-token-0123456789abcdef").unwrap();
    let data_env = [("ROOK_DATA_DIR", other.to_str().unwrap())];
    env.run(
        &["accounts", "list", "--server", &url, "--config", cfg],
        &data_env,
    )
    .assert_code(0);
    // A configured source beats the file.
    let cfg2 = env.path("configured.toml");
    std::fs::write(
        &cfg2,
        format!(
            "database_url = \"{}\"\n[admin_auth]\nbearer_token_env = \"CFG_ADMIN\"\n",
            env.db_url()
        ),
    )
    .unwrap();
    env.run(
        &[
            "accounts",
            "list",
            "--server",
            &url,
            "--config",
            cfg2.to_str().unwrap(),
        ],
        &[("CFG_ADMIN", "configured-token-0123456789")],
    )
    .assert_code(0);
    let seen = server.join().unwrap();
    let bearer = |r: &str| {
        r.lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("authorization: bearer ")
                    .map(str::to_string)
            })
            .unwrap_or_default()
    };
    assert_eq!(bearer(&seen[0]), "file-token-0123456789abcdef");
    assert!(
        seen[1].starts_with("DELETE /api/accounts/x "),
        "{}",
        seen[1]
    );
    assert_eq!(bearer(&seen[1]), "file-token-0123456789abcdef");
    assert!(
        seen[1]
            .to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{}",
        seen[1]
    );
    assert_eq!(bearer(&seen[2]), "other-token-0123456789abcdef");
    assert_eq!(bearer(&seen[3]), "configured-token-0123456789");
}

/// When nothing gives a token the 401 names every source tried; a server that is
/// not on this machine never gets the local token.
#[test]
fn server_mode_without_a_token_says_where_it_looked() {
    let env = Env::new();
    let cfg = env.config(&format!("database_url = \"{}\"\n", env.db_url()));
    let unauthorized =
        r#"{"error":{"code":"unauthorized","message":"Missing or invalid admin token."}}"#;
    let (url, server) = fake_admin(vec![(401, unauthorized)]);
    let run = env.run(
        &[
            "accounts",
            "list",
            "--server",
            &url,
            "--config",
            cfg.to_str().unwrap(),
        ],
        &[],
    );
    run.assert_code(2);
    for needle in ["ROOK_ADMIN_TOKEN", "admin-token", "tried"] {
        assert!(run.stderr.contains(needle), "{needle}: {}", run.stderr);
    }
    let seen = server.join().unwrap();
    assert!(
        !seen[0].to_ascii_lowercase().contains("authorization"),
        "{}",
        seen[0]
    );
}

#[test]
fn the_registry_path_applies_the_egress_policy() {
    let env = Env::new();
    let cfg = setup(&env, false);
    let c = cfg.as_str();
    // Cloud metadata is refused, naming the flag; nothing is written.
    let out = env.run(
        &[
            "accounts",
            "add",
            "--config",
            c,
            "--id",
            "meta",
            "--vendor",
            "custom",
            "--base-url",
            "http://169.254.169.254/v1",
        ],
        &[],
    );
    out.assert_code(2);
    assert!(out.stderr.contains("--base-url"), "{}", out.stderr);
    let list = env.run(&["accounts", "list", "--json", "--config", c], &[]);
    list.assert_code(0);
    assert!(!list.stdout.contains("\"meta\""), "{}", list.stdout);
    // A local model server stays allowed by default.
    env.run(
        &[
            "accounts",
            "add",
            "--config",
            c,
            "--id",
            "local",
            "--vendor",
            "custom",
            "--base-url",
            "http://127.0.0.1:8000/v1",
        ],
        &[],
    )
    .assert_code(0);
    // An existing account cannot be moved onto a denied address either.
    let out = env.run(
        &[
            "accounts",
            "set",
            "--config",
            c,
            "--id",
            "local",
            "--base-url",
            "http://[fd00:ec2::254]/v1",
        ],
        &[],
    );
    out.assert_code(2);
    assert!(out.stderr.contains("--base-url"), "{}", out.stderr);
}
