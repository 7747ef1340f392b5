//! Parsing, defaults, unknown keys and helpers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rook_config::{
    AccountConfig, Config, ConfigError, DatabaseBackend, LogFormat, Protocol, Strategy, Vendor,
};

fn parse_err(toml: &str) -> String {
    match Config::from_toml_str(toml) {
        Ok(_) => panic!("expected a parse error for {toml:?}"),
        Err(e @ ConfigError::Parse(_)) => e.to_string(),
        Err(e) => panic!("expected a parse error, got {e}"),
    }
}

#[test]
fn defaults_are_valid_and_documented_values() {
    let c = Config::default();
    c.validate().unwrap();
    assert_eq!(Config::from_toml_str("").unwrap(), c);
    assert_eq!(c.host, "127.0.0.1");
    assert_eq!(c.port, 4141);
    assert_eq!(c.database_url, "sqlite://rook.db");
    assert_eq!(c.log_format, LogFormat::Text);
    assert_eq!(c.log_level, "info");
    assert_eq!(c.shutdown_grace_seconds, 30);
    assert!(!c.inbound_auth.enabled);
    assert!(c.admin_auth.probes_without_auth);
    assert_eq!(c.limits.max_request_body_bytes, 8_388_608);
    assert_eq!(c.limits.max_header_bytes, 65_536);
    assert_eq!(c.limits.header_read_timeout_ms, 10_000);
    assert_eq!(c.limits.max_headers, 100);
    assert_eq!(c.limits.max_upstream_response_bytes, 16 * 1024 * 1024);
    assert_eq!(c.limits.buffered_response_budget_bytes, 256 * 1024 * 1024);
    assert!(c.upstream.allowed_egress.is_empty());
    assert!(!c.upstream.deny_private_networks);
    assert_eq!(c.upstream.connect_timeout_ms, 2_000);
    assert_eq!(c.upstream.first_byte_timeout_ms, 60_000);
    assert_eq!(c.upstream.stream_idle_timeout_ms, 60_000);
    assert_eq!(c.upstream.pool_idle_timeout_seconds, 90);
    assert_eq!(c.upstream.pool_max_idle_per_host, 256);
    let r = &c.upstream_resilience;
    assert_eq!(r.max_buffered_attempts, 3);
    // defaults changed deliberately: one transient 500 no longer cools an
    // account for a minute (was 1 and 60)
    assert_eq!(r.failure_threshold, 3);
    assert_eq!(r.failure_cooldown_seconds, 10);
    assert_eq!(r.failure_cooldown_max_seconds, 300);
    assert_eq!(r.retry_backoff_milliseconds, 25);
    assert_eq!(r.retry_backoff_max_milliseconds, 2_000);
    assert_eq!(r.max_concurrent_upstream_requests, 64);
    assert_eq!(r.permit_queue_timeout_milliseconds, 100);
    assert_eq!(r.retry_budget_ratio, 0.2);
    assert_eq!(r.retry_budget_min_per_second, 10);
    assert_eq!(r.request_deadline_seconds, 120);
    assert_eq!(r.retry_after_max_seconds, 300);
    assert_eq!(r.auth_failure_cooldown_seconds, 3_600);
    assert_eq!(r.max_cooled_share, 0.5);
    assert_eq!(r.failure_rate_threshold, 0.5);
    assert_eq!(r.failure_rate_min_requests, 10);
    assert_eq!(r.failure_rate_window_seconds, 30);
    assert!(r.panic_mode);
    assert!(c.usage.enabled);
    assert_eq!(c.usage.queue_capacity, 10_000);
    assert_eq!(c.usage.batch_size, 1024);
    assert_eq!(c.usage.flush_interval_ms, 500);
    assert_eq!(c.usage.retention_days, 30);
    assert_eq!(c.usage.journal_max_bytes, 64 * 1024 * 1024);
    assert!(c.pricing.is_empty() && c.accounts.is_empty() && c.pools.is_empty());
    assert!(c.routes.is_empty());
}

#[test]
fn full_document_parses() {
    let c = Config::from_toml_str(
        r#"
        host = "0.0.0.0"
        port = 5000
        database_url = "postgres://rook@db/rook"
        log_format = "json"
        log_level = "rook=debug,info"

        [inbound_auth]
        enabled = true
        bearer_token_file = "/run/secrets/token"

        [pricing."gpt-4o"]
        input_usd_per_million = 2.5
        output_usd_per_million = 10

        [[accounts]]
        id = "a"
        vendor = "custom"
        base_url = "http://localhost:11434/v1/"
        weight = 3
        priority = 2
        enabled = false
        models = { "gpt-4o" = "llama3" }

        [[accounts]]
        id = "b"
        vendor = "deep_seek"
        api_key_env = "DEEPSEEK_KEY"

        [[pools]]
        id = "p"
        strategy = "least_busy"
        members = ["a", "b"]

        [[routes]]
        model = "gpt-4o"
        pool = "p"
        "#,
    )
    .unwrap();
    assert_eq!(c.log_format, LogFormat::Json);
    assert!(!c.bind_is_loopback());
    assert_eq!(c.database_backend(), Some(DatabaseBackend::Postgres));
    assert_eq!(c.pricing["gpt-4o"].output_usd_per_million, 10.0);
    let a = c.account("a").unwrap();
    assert_eq!(
        a.effective_base_url().as_deref(),
        Some("http://localhost:11434/v1")
    );
    assert_eq!((a.weight, a.priority, a.enabled), (3, 2, false));
    assert_eq!(a.upstream_model("gpt-4o"), "llama3");
    assert_eq!(a.upstream_model("other"), "other");
    assert_eq!(a.resolve_api_key().unwrap().map(|s| s.to_string()), None);
    assert_eq!(c.pool("p").unwrap().strategy, Strategy::LeastBusy);
    assert_eq!(c.route("gpt-4o").unwrap().pool, "p");
    let b = c.account("b").unwrap();
    assert_eq!((b.weight, b.priority, b.enabled), (1, 0, true));
    assert_eq!(
        b.effective_base_url().as_deref(),
        Some("https://api.deepseek.com/v1")
    );
}

#[test]
fn unknown_keys_are_rejected_at_every_level() {
    assert!(parse_err("prot = 1").contains("prot: unknown key `prot`"));
    assert!(parse_err("[limits]\nmax_body = 1").contains("limits.max_body"));
    assert!(parse_err("[upstream_resilience]\nretries = 1").contains("upstream_resilience.retries"));
    assert!(parse_err("[usage]\nenable = true").contains("usage.enable"));
    assert!(parse_err("[inbound_auth]\ntoken_env = 'X'").contains("inbound_auth.token_env"));
    assert!(parse_err("[admin_auth]\nenabled = true").contains("admin_auth.enabled"));
    assert!(parse_err("[upstream]\ntimeout = 1").contains("upstream.timeout"));
    assert!(parse_err("[pricing.m]\ninput = 1").contains("pricing.m.input"));
    assert!(
        parse_err("[[accounts]]\nid='a'\nvendor='open_ai'\nkey_env='X'")
            .contains("accounts[0].key_env")
    );
    assert!(
        parse_err("[[pools]]\nid='p'\nstrategy='priority'\nmembers=[]\nfallback='x'")
            .contains("pools[0].fallback")
    );
    assert!(
        parse_err("[[routes]]\nmodel='m'\npool='p'\nfallback='x'").contains("routes[0].fallback")
    );
    assert!(parse_err("[profile]\nport = 1").contains("profile"));
}

#[test]
fn inline_api_key_gets_a_tailored_hint_without_the_value() {
    let msg = parse_err("[[accounts]]\nid='a'\nvendor='open_ai'\napi_key='sk-live-CANARY'");
    assert!(msg.contains("accounts[0].api_key"), "{msg}");
    assert!(
        msg.contains("inline keys are not supported; use api_key_env or api_key_file"),
        "{msg}"
    );
    assert!(!msg.contains("CANARY"), "{msg}");
    let msg = parse_err("[inbound_auth]\ntoken='CANARY'");
    assert!(msg.contains("bearer_token_env or bearer_token_file") && !msg.contains("CANARY"));
}

#[test]
fn unknown_enum_values_name_the_key() {
    let msg = parse_err("[[accounts]]\nid='a'\nvendor='openai'");
    assert!(msg.contains("accounts[0].vendor"), "{msg}");
    assert!(msg.contains("`open_ai`"), "{msg}");
    let msg = parse_err("[[pools]]\nid='p'\nstrategy='random'\nmembers=['a']");
    assert!(
        msg.contains("pools[0].strategy") && msg.contains("`round_robin`"),
        "{msg}"
    );
    let msg = parse_err("log_format = 'xml'");
    assert!(msg.contains("log_format"), "{msg}");
    let msg = parse_err("[[accounts]]\nid='a'\nvendor='open_ai'\n[[accounts]]\nid='b'\nvendor='open_ai'\n[[accounts]]\nid='c'\nvendor='open_ai'\nprotocol='grpc'");
    assert!(msg.contains("accounts[2].protocol"), "{msg}");
    assert!(msg.contains("unknown value `grpc`"), "{msg}");
    assert!(
        msg.contains("`openai`") && msg.contains("`anthropic`") && msg.contains("`gemini`"),
        "{msg}"
    );
}

#[test]
fn protocols() {
    let expected = [
        (Protocol::OpenAi, "openai"),
        (Protocol::Anthropic, "anthropic"),
        (Protocol::Gemini, "gemini"),
    ];
    assert_eq!(Protocol::ALL.len(), expected.len());
    for (protocol, name) in expected {
        assert_eq!(protocol.as_str(), name);
        assert_eq!(protocol.to_string(), name);
        assert_eq!(Protocol::from_name(name), Some(protocol));
        assert_eq!(serde_json::to_value(protocol).unwrap(), name);
    }
    assert_eq!(Protocol::from_name("open_ai"), None);
}

#[test]
fn protocol_and_base_url_defaults_by_vendor() {
    const GEMINI: &str = "https://generativelanguage.googleapis.com/v1beta";
    const GEMINI_OPENAI: &str = "https://generativelanguage.googleapis.com/v1beta/openai";
    // (vendor, protocol key, effective protocol, effective base URL)
    let table: &[(&str, Option<&str>, Protocol, Option<&str>)] = &[
        (
            "open_ai",
            None,
            Protocol::OpenAi,
            Some("https://api.openai.com/v1"),
        ),
        (
            "anthropic",
            None,
            Protocol::Anthropic,
            Some("https://api.anthropic.com/v1"),
        ),
        (
            "anthropic",
            Some("openai"),
            Protocol::OpenAi,
            Some("https://api.anthropic.com/v1"),
        ),
        ("google", None, Protocol::Gemini, Some(GEMINI)),
        ("google", Some("gemini"), Protocol::Gemini, Some(GEMINI)),
        (
            "google",
            Some("openai"),
            Protocol::OpenAi,
            Some(GEMINI_OPENAI),
        ),
        (
            "open_router",
            None,
            Protocol::OpenAi,
            Some("https://openrouter.ai/api/v1"),
        ),
        (
            "deep_seek",
            None,
            Protocol::OpenAi,
            Some("https://api.deepseek.com/v1"),
        ),
        (
            "deep_seek",
            Some("anthropic"),
            Protocol::Anthropic,
            Some("https://api.deepseek.com/v1"),
        ),
        ("custom", None, Protocol::OpenAi, None),
        ("custom", Some("anthropic"), Protocol::Anthropic, None),
    ];
    for (vendor, protocol, want_protocol, want_url) in table {
        let mut toml = format!("[[accounts]]\nid = 'a'\nvendor = '{vendor}'\n");
        if let Some(p) = protocol {
            toml.push_str(&format!("protocol = '{p}'\n"));
        }
        if want_url.is_none() {
            toml.push_str("base_url = 'http://127.0.0.1:9/v1'\n");
        }
        let c = Config::from_toml_str(&toml).unwrap_or_else(|e| panic!("{toml}: {e}"));
        let a = &c.accounts[0];
        assert_eq!(a.effective_protocol(), *want_protocol, "{toml}");
        assert_eq!(a.protocol.map(Protocol::as_str), *protocol, "{toml}");
        let v = Vendor::from_name(vendor).unwrap();
        assert_eq!(v.default_base_url_for(*want_protocol), *want_url, "{toml}");
        if want_url.is_some() {
            assert_eq!(a.effective_base_url().as_deref(), *want_url, "{toml}");
        }
    }
    // A given base_url wins over every default.
    let mut a = AccountConfig::new("g", Vendor::Google);
    a.base_url = Some("https://proxy.example/gemini/".into());
    assert_eq!(
        a.effective_base_url().as_deref(),
        Some("https://proxy.example/gemini")
    );
}

#[test]
fn anthropic_and_stream_defaults() {
    let c = Config::from_toml_str("[[accounts]]\nid = 'a'\nvendor = 'anthropic'").unwrap();
    let a = &c.accounts[0];
    assert_eq!(a.anthropic_version, None);
    assert_eq!(a.effective_anthropic_version(), "2023-06-01");
    assert_eq!(a.default_max_tokens, None);
    assert_eq!(a.effective_default_max_tokens(), 4096);
    assert!(a.stream_usage);
    assert_eq!(*a, AccountConfig::new("a", Vendor::Anthropic));
    let c = Config::from_toml_str(
        "[[accounts]]\nid = 'a'\nvendor = 'custom'\nbase_url = 'http://127.0.0.1:9/v1'\n\
         anthropic_version = '2024-01-01'\ndefault_max_tokens = 1\nstream_usage = false",
    )
    .unwrap();
    let a = &c.accounts[0];
    assert_eq!(a.effective_anthropic_version(), "2024-01-01");
    assert_eq!(a.effective_default_max_tokens(), 1);
    assert!(!a.stream_usage);
}

#[test]
fn wrong_types_and_missing_fields_name_the_key() {
    assert!(parse_err("port = 'high'").contains("port"));
    assert!(parse_err("port = 70000").contains("port"));
    assert!(parse_err("[usage]\nenabled = 'yes'").contains("usage.enabled"));
    assert!(parse_err("[[accounts]]\nid = 'a'").contains("missing required key `vendor`"));
    assert!(parse_err("[[pools]]\nid='p'\nmembers=['a']").contains("`strategy`"));
    assert!(parse_err("[[routes]]\nmodel='m'").contains("`pool`"));
    assert!(parse_err("port = ").contains("line 1"));
}

#[test]
fn toml_syntax_errors_do_not_quote_the_source_line() {
    let msg = parse_err("database_url = \"postgres://u:CANARY@h/db\nport = 1");
    assert!(msg.contains("line 1"), "{msg}");
    assert!(!msg.contains("CANARY"), "{msg}");
}

#[test]
fn vendors() {
    let expected = [
        (Vendor::OpenAi, "open_ai", Some("https://api.openai.com/v1")),
        (
            Vendor::Anthropic,
            "anthropic",
            Some("https://api.anthropic.com/v1"),
        ),
        (
            Vendor::Google,
            "google",
            Some("https://generativelanguage.googleapis.com/v1beta/openai"),
        ),
        (
            Vendor::OpenRouter,
            "open_router",
            Some("https://openrouter.ai/api/v1"),
        ),
        (
            Vendor::DeepSeek,
            "deep_seek",
            Some("https://api.deepseek.com/v1"),
        ),
        (Vendor::Custom, "custom", None),
    ];
    for (vendor, name, url) in expected {
        assert_eq!(vendor.as_str(), name);
        assert_eq!(vendor.to_string(), name);
        assert_eq!(Vendor::from_name(name), Some(vendor));
        assert_eq!(vendor.default_base_url(), url);
        assert_eq!(serde_json::to_value(vendor).unwrap(), name);
    }
    for s in Strategy::ALL {
        assert_eq!(Strategy::from_name(s.as_str()), Some(s));
        assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
    }
    let mut a = AccountConfig::new("x", Vendor::OpenAi);
    a.base_url = Some("https://proxy.example/v1///".into());
    assert_eq!(
        a.effective_base_url().as_deref(),
        Some("https://proxy.example/v1")
    );
    assert_eq!(
        AccountConfig::new("y", Vendor::Custom).effective_base_url(),
        None
    );
}

#[test]
fn loopback_detection() {
    let mut c = Config::default();
    for (host, loopback) in [
        ("127.0.0.1", true),
        ("127.8.9.10", true),
        ("::1", true),
        ("[::1]", true),
        ("localhost", true),
        ("LocalHost", true),
        ("::ffff:127.0.0.1", true),
        ("0.0.0.0", false),
        ("::", false),
        ("*", false),
        ("10.0.0.5", false),
        ("example.com", false),
        ("localhost.example.com", false),
    ] {
        c.host = host.to_owned();
        assert_eq!(c.bind_is_loopback(), loopback, "{host}");
    }
    c.host = "::1".into();
    assert_eq!(c.listen_address(), "[::1]:4141");
    c.host = "127.0.0.1".into();
    assert_eq!(c.listen_address(), "127.0.0.1:4141");
}

#[test]
fn database_backends() {
    let mut c = Config::default();
    assert_eq!(c.database_backend(), Some(DatabaseBackend::Sqlite));
    c.database_url = "sqlite::memory:".into();
    assert_eq!(c.database_backend(), Some(DatabaseBackend::Sqlite));
    c.database_url = "postgresql://u@h/db".into();
    assert_eq!(c.database_backend(), Some(DatabaseBackend::Postgres));
    c.database_url = "mysql://u@h/db".into();
    assert_eq!(c.database_backend(), None);
    assert_eq!(DatabaseBackend::Postgres.as_str(), "postgres");
}

#[test]
fn example_file_is_valid() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/rook.example.toml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let c = Config::from_toml_str(&text).unwrap_or_else(|e| panic!("{e}"));
    assert!(!c.accounts.is_empty() && !c.pools.is_empty() && !c.routes.is_empty());
    assert!(!c.pricing.is_empty());
}

fn problems(toml: &str) -> Vec<String> {
    match Config::from_toml_str(toml) {
        Ok(_) => panic!("expected problems for {toml:?}"),
        Err(e) => e.problems().iter().map(|p| p.to_string()).collect(),
    }
}

#[test]
fn every_parse_problem_is_reported_in_one_run() {
    let toml = r#"
        port = "high"
        prot = 1

        [upstream]
        connect_timeout_ms = "2000"
        timeout = 5

        [[accounts]]
        id = "a"
        vendr = "x"
        vendor = "openai"
        weight = "heavy"

        [[accounts]]
        id = "b"
        vendor = "open_router"
        api_key = "sk-CANARY"

        [[pools]]
        id = "p"
        strategy = "round-robin"
        members = ["a", "b"]

        [[routes]]
        model = "m"
        pool = "p"
        fallback = "n"
    "#;
    let found = problems(toml);
    // (key, message fragment), in the order reported (the keys of a table
    // in alphabetical order).
    let expected: &[(&str, &str)] = &[
        ("port", "expected an integer (0..=65535), found a string"),
        ("prot", "unknown key `prot`; did you mean `port`?"),
        (
            "upstream.connect_timeout_ms",
            "expected an integer (0 or more), found a string",
        ),
        ("upstream.timeout", "unknown key `timeout`"),
        (
            "accounts[0].vendor",
            "unknown value `openai`; did you mean `open_ai`?",
        ),
        (
            "accounts[0].vendr",
            "unknown key `vendr`; did you mean `vendor`?",
        ),
        ("accounts[0].weight", "expected an integer"),
        (
            "accounts[1].api_key",
            "inline keys are not supported; use api_key_env or api_key_file",
        ),
        (
            "pools[0].strategy",
            "unknown value `round-robin`; did you mean `round_robin`?",
        ),
        ("routes[0].fallback", "did you mean `fallback_route`?"),
    ];
    let all = found.join("\n");
    assert_eq!(found.len(), expected.len(), "{all}");
    for (line, (key, fragment)) in found.iter().zip(expected) {
        assert!(
            line.starts_with(&format!("{key}: ")) && line.contains(fragment),
            "{line:?} is not {key}: …{fragment}…\n{all}"
        );
    }
    assert!(!all.contains("CANARY"), "{all}");
}

#[test]
fn parse_and_validation_problems_are_reported_together() {
    // A bad field and a validation problem elsewhere: both in one run. The
    // entry that failed to parse adds no validation noise (its pool member
    // still resolves).
    let found = problems(
        "port = 0\n[limits]\nmax_body = 1\n[[accounts]]\nid = 'a'\nvendor = 'deepseek'\n\
         [[pools]]\nid = 'p'\nstrategy = 'failover'\nmembers = ['a']\n",
    );
    let keys: Vec<&str> = found
        .iter()
        .map(|p| p.split(": ").next().unwrap_or(""))
        .collect();
    assert_eq!(
        keys,
        ["limits.max_body", "accounts[0].vendor", "port"],
        "{found:#?}"
    );
    assert!(found[1].contains("did you mean `deep_seek`?"), "{found:#?}");
}

#[test]
fn spelling_hints_for_values() {
    // (document, key, hint); protocol "openai" is valid and gets none.
    let table = [
        (
            "[[accounts]]\nid='a'\nvendor='openai'",
            "accounts[0].vendor",
            Some("`open_ai`"),
        ),
        (
            "[[accounts]]\nid='a'\nvendor='openrouter'",
            "accounts[0].vendor",
            Some("`open_router`"),
        ),
        (
            "[[accounts]]\nid='a'\nvendor='deepseek'",
            "accounts[0].vendor",
            Some("`deep_seek`"),
        ),
        (
            "[[pools]]\nid='p'\nstrategy='round-robin'\nmembers=['a']",
            "pools[0].strategy",
            Some("`round_robin`"),
        ),
        (
            "[[pools]]\nid='p'\nstrategy='least-busy'\nmembers=['a']",
            "pools[0].strategy",
            Some("`least_busy`"),
        ),
        ("log_format = 'jsn'", "log_format", Some("`json`")),
        (
            "[[pools]]\nid='p'\nstrategy='random'\nmembers=['a']",
            "pools[0].strategy",
            None,
        ),
    ];
    for (toml, key, hint) in table {
        let msg = parse_err(toml);
        assert!(msg.contains(key), "{msg}");
        match hint {
            Some(h) => assert!(msg.contains(&format!("did you mean {h}?")), "{msg}"),
            None => assert!(!msg.contains("did you mean"), "{msg}"),
        }
    }
    let c =
        Config::from_toml_str("[[accounts]]\nid='a'\nvendor='open_ai'\nprotocol='openai'").unwrap();
    assert_eq!(c.accounts[0].protocol, Some(Protocol::OpenAi));
}

#[test]
fn toml_syntax_errors_give_line_and_column() {
    // (document, line, column, quoted part of the line)
    let table = [
        ("port = ", 1, 8, "`port =`"),
        ("port = 1\n\n[[accounts]\nid = 'a'", 3, 11, "`[[accounts]`"),
        (
            "port = 1\ndatabase_url = \"postgres://u:CANARY@h/db\nhost = 'x'",
            2,
            41,
            "`database_url = …`",
        ),
    ];
    for (toml, line, column, quoted) in table {
        let err = Config::from_toml_str(toml).unwrap_err();
        let problems = err.problems();
        assert_eq!(problems.len(), 1, "{err}");
        assert_eq!(
            problems[0].key,
            format!("line {line}, column {column}"),
            "{err}"
        );
        assert!(problems[0].message.starts_with("invalid TOML: "), "{err}");
        assert!(problems[0].message.contains(quoted), "{err}");
        assert!(!err.to_string().contains("CANARY"), "{err}");
    }
}
