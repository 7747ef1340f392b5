//! `config validate` and `config export`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::Env;

#[test]
fn validate_accepts_a_good_config() {
    let env = Env::new();
    let cfg = env.config("port = 8080\n");
    let run = env.run(
        &["config", "validate", "--config", cfg.to_str().unwrap()],
        &[],
    );
    run.assert_code(0);
    assert!(run.stdout.starts_with("valid"), "{}", run.stdout);
}

#[test]
fn validate_lists_every_problem_and_exits_2() {
    let env = Env::new();
    let cfg = env.config(
        "port = 0\nhost = \"\"\n[upstream_resilience]\nmax_buffered_attempts = 0\nretry_budget_ratio = 7.0\n",
    );
    let run = env.run(
        &["config", "validate", "--config", cfg.to_str().unwrap()],
        &[],
    );
    run.assert_code(2);
    for key in [
        "port:",
        "host:",
        "upstream_resilience.max_buffered_attempts:",
        "upstream_resilience.retry_budget_ratio:",
    ] {
        assert!(
            run.stderr.lines().any(|l| l.trim_start().starts_with(key)),
            "{key} not listed on its own line:\n{}",
            run.stderr
        );
    }
    assert!(run.stderr.contains("4 problems"), "{}", run.stderr);
}

#[test]
fn validate_reports_a_missing_file() {
    let env = Env::new();
    let run = env.run(&["config", "validate", "--config", "nope.toml"], &[]);
    run.assert_code(2);
    assert!(run.stderr.contains("does not exist"), "{}", run.stderr);
}

#[test]
fn export_redacts_secrets() {
    let env = Env::new();
    let cfg = env.config(
        r#"
database_url = "postgres://rook:db-canary-4711@127.0.0.1:5432/rook"
[inbound_auth]
enabled = true
[[accounts]]
id = "openai-a"
vendor = "open_ai"
api_key_env = "CANARY_KEY"
"#,
    );
    let run = env.run(
        &["config", "export", "--config", cfg.to_str().unwrap()],
        &[
            ("CANARY_KEY", "sk-canary-0815"),
            ("ROOK_TOKEN", "tok-canary-42"),
        ],
    );
    run.assert_code(0);
    let all = run.all();
    for canary in ["db-canary-4711", "sk-canary-0815", "tok-canary-42"] {
        assert!(!all.contains(canary), "{canary} leaked:\n{all}");
    }
    let json = run.json();
    assert_eq!(
        json["database_url"],
        "postgres://rook:[redacted]@127.0.0.1:5432/rook"
    );
    assert_eq!(json["accounts"][0]["api_key"], "[redacted]");
    assert_eq!(json["accounts"][0]["api_key_env"], "CANARY_KEY");
    assert_eq!(json["accounts"][0]["protocol"], serde_json::Value::Null);
    assert_eq!(json["accounts"][0]["effective_protocol"], "openai");
    assert_eq!(json["accounts"][0]["stream_usage"], true);
    assert_eq!(
        json["accounts"][0]["anthropic_version"],
        serde_json::Value::Null
    );
    assert_eq!(
        json["accounts"][0]["default_max_tokens"],
        serde_json::Value::Null
    );
    assert_eq!(json["inbound_auth"]["token"], "[redacted]");
    // Pretty-printed.
    assert!(run.stdout.contains("\n  \""), "{}", run.stdout);
}

#[test]
fn database_url_flag_overrides_the_file() {
    let env = Env::new();
    let cfg = env.config("database_url = \"sqlite://a.db\"\n");
    let run = env.run(
        &[
            "config",
            "export",
            "--config",
            cfg.to_str().unwrap(),
            "--database-url",
            "sqlite://b.db",
        ],
        &[],
    );
    run.assert_code(0);
    assert_eq!(run.json()["database_url"], "sqlite://b.db");
}

#[test]
fn validate_reports_three_different_mistakes_in_one_run() {
    let env = Env::new();
    let cfg = env.config(
        "[upstream]\nconect_timeout_ms = 100\nfirst_byte_timeout_ms = \"soon\"\n\
         [[accounts]]\nid = \"a\"\nvendor = \"openai\"\n",
    );
    let run = env.run(
        &["config", "validate", "--config", cfg.to_str().unwrap()],
        &[],
    );
    run.assert_code(2);
    // (key, message fragment)
    let expected = [
        (
            "upstream.conect_timeout_ms:",
            "unknown key `conect_timeout_ms`; did you mean `connect_timeout_ms`?",
        ),
        (
            "upstream.first_byte_timeout_ms:",
            "expected an integer (0 or more), found a string",
        ),
        ("accounts[0].vendor:", "did you mean `open_ai`?"),
    ];
    for (key, fragment) in expected {
        assert!(
            run.stderr
                .lines()
                .any(|l| l.trim_start().starts_with(key) && l.contains(fragment)),
            "{key} {fragment} not listed on its own line:\n{}",
            run.stderr
        );
    }
    assert!(run.stderr.contains("3 problems"), "{}", run.stderr);
}

#[test]
fn validate_reports_toml_syntax_errors_by_line_and_column() {
    let env = Env::new();
    let cfg = env.config("port = 8080\n[upstream\nconnect_timeout_ms = 1\n");
    let run = env.run(
        &["config", "validate", "--config", cfg.to_str().unwrap()],
        &[],
    );
    run.assert_code(2);
    assert!(
        run.stderr.contains("line 2, column 10: invalid TOML"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("`[upstream`"), "{}", run.stderr);
}

#[test]
fn validate_warns_about_mixed_vendor_model_names() {
    let env = Env::new();
    let cfg = env.config(
        "[[accounts]]\nid = \"oai\"\nvendor = \"open_ai\"\n\
         [[accounts]]\nid = \"or\"\nvendor = \"open_router\"\n\
         [[pools]]\nid = \"p\"\nstrategy = \"failover\"\nmembers = [\"oai\", \"or\"]\n\
         [[routes]]\nmodel = \"gpt-4o\"\npool = \"p\"\n",
    );
    let run = env.run(
        &["config", "validate", "--config", cfg.to_str().unwrap()],
        &[],
    );
    run.assert_code(0);
    assert!(run.stdout.starts_with("valid"), "{}", run.stdout);
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", run.stderr);
    assert!(
        warnings[0].contains("routes[0] (model \"gpt-4o\")")
            && warnings[0].contains("account \"or\"")
            && warnings[0].contains(r#"models = { "gpt-4o" = "openai/gpt-4o" }"#),
        "{}",
        run.stderr
    );
}
