//! `rook-cli keys` against the registry directly (no server), and the doctor's
//! `client_keys` check. The admin API path is covered by rook-server's `keys` test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::{check, Env};

fn setup(env: &Env, extra: &str) -> String {
    let url = env.db_url();
    let cfg = env
        .config(&format!("database_url = \"{url}\"\n{extra}"))
        .display()
        .to_string();
    env.run(&["db", "migrate", "--config", &cfg], &[])
        .assert_code(0);
    cfg
}

#[test]
fn create_list_show_rotate_revoke_on_the_registry() {
    let env = Env::new();
    let cfg = setup(&env, "");
    let c = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend(["--config", &cfg]);
        env.run(&a, &[])
    };
    // Flag validation happens before anything is touched.
    c(&[
        "keys",
        "create",
        "--name",
        "x",
        "--budget-usd",
        "-1",
        "--budget-period",
        "day",
    ])
    .assert_code(2);
    c(&["keys", "create", "--name", "x", "--budget-usd", "1"]).assert_code(2);
    let bad = c(&["keys", "create", "--name", "default"]);
    bad.assert_code(2);
    assert!(bad.stderr.contains("reserved"), "{}", bad.stderr);

    // Text output prints the secret once.
    let out = c(&[
        "keys",
        "create",
        "--name",
        "CI bot",
        "--models",
        "gpt-4o*,claude",
        "--rpm",
        "60",
    ]);
    out.assert_code(0);
    assert!(
        out.stdout.contains("Created client key ci-bot"),
        "{}",
        out.stdout
    );
    let secret = out
        .stdout
        .lines()
        .find(|l| l.starts_with("rk-"))
        .unwrap()
        .to_string();
    assert_eq!(secret.len(), 46);

    let v = c(&[
        "keys",
        "create",
        "--name",
        "budgeted",
        "--budget-usd",
        "5",
        "--budget-period",
        "week",
        "--expires",
        "2099-01-01",
        "--json",
    ]);
    let v = v.assert_code(0).json();
    assert_eq!(v["id"], "budgeted");
    assert_eq!(v["expires_at"], "2099-01-01T00:00:00Z");
    assert_eq!(v["spend_usd"], 0.0);
    assert!(v["period_resets_at"]
        .as_str()
        .unwrap()
        .ends_with("T00:00:00Z"));

    let list = c(&["keys", "list"]);
    list.assert_code(0);
    assert!(
        list.stdout.contains(&format!("{}…", &secret[..7])),
        "{}",
        list.stdout
    );
    assert!(list.stdout.contains("gpt-4o*,claude"));
    assert!(list.stdout.contains("$0.00 / $5.00 per week"));
    assert!(!list.stdout.contains(&secret[3..]));
    let json = c(&["keys", "list", "--json"]).json();
    assert_eq!(json.as_array().unwrap().len(), 2);

    let shown = c(&["keys", "show", "ci-bot", "--json"]).json();
    assert_eq!(shown["requests_per_minute"], 60);
    assert_eq!(shown["state"], "active");

    let rotated = c(&["keys", "rotate", "ci-bot", "--grace", "90s", "--json"]).json();
    let new_secret = rotated["secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    assert!(rotated["rotation_grace_until"].is_string());

    c(&["keys", "revoke", "ci-bot"]).assert_code(0);
    assert_eq!(
        c(&["keys", "show", "ci-bot", "--json"]).json()["state"],
        "revoked"
    );
    let again = c(&["keys", "rotate", "ci-bot"]);
    again.assert_code(2);
    assert!(again.stderr.contains("revoked"), "{}", again.stderr);
    c(&["keys", "show", "nope"]).assert_code(2);

    // Nothing in the database is a secret.
    let db = std::fs::read(env.db_path()).unwrap();
    let text = String::from_utf8_lossy(&db);
    assert!(!text.contains(&secret[3..]) && !text.contains(&new_secret[3..]));
}

#[test]
fn declared_keys_are_read_only_and_doctor_warns() {
    let env = Env::new();
    let cfg = setup(
        &env,
        r#"
host = "0.0.0.0"

[inbound_auth]
enabled = true

[[client_keys]]
id = "soon"
name = "Soon"
token_env = "SOON_KEY"
expires_at = "2000-01-01"
"#,
    );
    let run = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend(["--config", &cfg]);
        env.run(
            &a,
            &[
                ("ROOK_TOKEN", "t"),
                ("ROOK_ADMIN_TOKEN", "admin-token-0123456789"),
            ],
        )
    };
    let r = run(&["keys", "revoke", "soon"]);
    r.assert_code(2);
    assert!(
        r.stderr.contains("declared in the config file"),
        "{}",
        r.stderr
    );
    run(&["keys", "rotate", "default"]).assert_code(2);
    // The default key is listed first.
    let list = run(&["keys", "list", "--json"]).json();
    assert_eq!(list[0]["id"], "default");
    // An unlimited key on a non-loopback bind, and one expiring within 7 days.
    let v = run(&["keys", "create", "--name", "open", "--json"]);
    v.assert_code(0);
    let in_3d = run(&["keys", "create", "--name", "short", "--expires", "3d"]);
    in_3d.assert_code(0);
    let report = run(&["doctor", "--json"]).json();
    let keys = check(&report, "client_keys");
    assert_eq!(keys["status"], "warn", "{keys}");
    assert_eq!(keys["details"]["expiring"], serde_json::json!(["short"]));
    assert_eq!(keys["details"]["unlimited"], serde_json::json!(["open"]));
}

#[test]
fn usage_report_groups_by_key() {
    let env = Env::new();
    let cfg = setup(&env, "");
    let r = env.run(
        &[
            "usage",
            "report",
            "--group-by",
            "key",
            "--format",
            "json",
            "--config",
            &cfg,
        ],
        &[],
    );
    r.assert_code(0);
    assert!(r.json()["groups"]["key"].is_array());
    let bad = env.run(
        &["usage", "report", "--group-by", "keys", "--config", &cfg],
        &[],
    );
    bad.assert_code(2);
    assert!(bad.stderr.contains("endpoint or key"), "{}", bad.stderr);
}
