//! Every validation rule, and that all problems are reported at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rook_config::{
    AccountConfig, Config, ConfigError, PoolConfig, Problem, RouteConfig, Strategy, Vendor,
};

/// Problems of an invalid document, as `key: message` strings.
fn problems(toml: &str) -> Vec<String> {
    match Config::from_toml_str(toml) {
        Err(ConfigError::Invalid(p)) => p.iter().map(Problem::to_string).collect(),
        Err(e) => panic!("expected validation problems, got {e}"),
        Ok(_) => panic!("expected validation problems for {toml:?}"),
    }
}

fn assert_problem(toml: &str, key: &str, fragment: &str) {
    let found = problems(toml);
    assert!(
        found
            .iter()
            .any(|p| p.starts_with(&format!("{key}: ")) && p.contains(fragment)),
        "no `{key}: ...{fragment}...` in {found:#?}"
    );
}

const BASE: &str = r#"
[[accounts]]
id = "a"
vendor = "open_ai"
api_key_env = "KEY_A"

[[accounts]]
id = "b"
vendor = "anthropic"

[[pools]]
id = "p"
strategy = "priority"
members = ["a", "b"]

[[routes]]
model = "m"
pool = "p"
"#;

#[test]
fn base_is_valid() {
    Config::from_toml_str(BASE).unwrap();
}

#[test]
fn top_level_rules() {
    assert_problem("host = ''", "host", "must not be empty");
    assert_problem("host = '  '", "host", "must not be empty");
    assert_problem("port = 0", "port", "1..=65535");
    assert_problem(
        "database_url = 'mysql://u:pw@h/db'",
        "database_url",
        "`mysql`",
    );
    assert_problem("database_url = ''", "database_url", "empty");
    assert_problem("database_url = 'rook.db'", "database_url", "sqlite:");
    assert_problem("log_level = ''", "log_level", "empty");
    assert_problem("log_level = 'rook=loud'", "log_level", "unknown level");
    assert_problem(
        "shutdown_grace_seconds = 3601",
        "shutdown_grace_seconds",
        "0..=3600",
    );
    Config::from_toml_str("shutdown_grace_seconds = 0").unwrap();
}

#[test]
fn auth_rules() {
    // Enabled inbound auth always has a source: the default variable name.
    let c = Config::from_toml_str("[inbound_auth]\nenabled = true").unwrap();
    assert_eq!(
        c.inbound_auth.token_source(),
        rook_config::SecretSource::Env("ROOK_TOKEN".into())
    );
    assert_problem(
        "[inbound_auth]\nenabled = true\nbearer_token_env = 'T'\nbearer_token_file = '/t'",
        "inbound_auth",
        "only one of bearer_token_env and bearer_token_file",
    );
    assert_problem(
        "[admin_auth]\nbearer_token_env = 'T'\nbearer_token_file = '/t'",
        "admin_auth",
        "only one",
    );
    assert_problem(
        "[inbound_auth]\nbearer_token_env = ''",
        "inbound_auth.bearer_token_env",
        "empty",
    );
    assert_problem(
        "[admin_auth]\nbearer_token_file = ''",
        "admin_auth.bearer_token_file",
        "empty",
    );
    assert_problem(
        "[admin_auth]\nbearer_token_env = 'sk-CANARY-1'",
        "admin_auth.bearer_token_env",
        "not an environment variable name",
    );
    assert!(!problems("[admin_auth]\nbearer_token_env = 'sk-CANARY-1'")
        .iter()
        .any(|p| p.contains("CANARY")));
}

#[test]
fn enabled_inbound_auth_without_a_source_is_caught_in_code() {
    // Unset sources fall back to the default variable name; an empty name
    // is no source at all and is rejected.
    let mut c = Config::default();
    c.inbound_auth.enabled = true;
    c.inbound_auth.bearer_token_env = Some(String::new());
    let p = c.validate().unwrap_err();
    assert_eq!(p[0].key, "inbound_auth.bearer_token_env");
}

#[test]
fn limits_and_upstream_ranges() {
    assert_problem(
        "[limits]\nmax_request_body_bytes = 0",
        "limits.max_request_body_bytes",
        "1..=",
    );
    assert_problem(
        "[limits]\nmax_header_bytes = 100",
        "limits.max_header_bytes",
        "8192..=",
    );
    assert_problem(
        "[limits]\nheader_read_timeout_ms = 0",
        "limits.header_read_timeout_ms",
        "1..=",
    );
    assert_problem(
        "[upstream]\nconnect_timeout_ms = 0",
        "upstream.connect_timeout_ms",
        "1..=",
    );
    assert_problem(
        "[upstream]\nfirst_byte_timeout_ms = 0",
        "upstream.first_byte_timeout_ms",
        "1..=",
    );
    assert_problem(
        "[upstream]\nstream_idle_timeout_ms = 0",
        "upstream.stream_idle_timeout_ms",
        "1..=",
    );
    assert_problem(
        "[upstream]\npool_idle_timeout_seconds = 0",
        "upstream.pool_idle_timeout_seconds",
        "1..=",
    );
    Config::from_toml_str("[upstream]\npool_max_idle_per_host = 0").unwrap();
    assert_problem("[limits]\nmax_headers = 0", "limits.max_headers", "1..=");
    assert_problem(
        "[limits]\nmax_upstream_response_bytes = 10",
        "limits.max_upstream_response_bytes",
        "1024..=",
    );
    // The budget must hold at least one answer of the largest size.
    assert_problem(
        "[limits]\nmax_upstream_response_bytes = 2048\nbuffered_response_budget_bytes = 1024",
        "limits.buffered_response_budget_bytes",
        "2048..=",
    );
    Config::from_toml_str(
        "[limits]\nmax_headers = 5\nmax_upstream_response_bytes = 2048\nbuffered_response_budget_bytes = 2048",
    )
    .unwrap();
}

#[test]
fn egress_policy_of_account_base_urls() {
    let account = |url: &str| {
        format!(
            "[[accounts]]\nid = \"a\"\nvendor = \"custom\"\nbase_url = \"{url}\"\napi_key_env = \"K\"\n"
        )
    };
    for url in [
        "http://169.254.169.254/v1",
        "http://metadata.google.internal/v1",
        "http://[fd00:ec2::254]/v1",
        "http://100.100.100.200/v1",
        "http://2852039166/v1",
    ] {
        assert_problem(
            &account(url),
            "accounts[0] (id \"a\").base_url",
            "egress denied",
        );
    }
    // Local model servers are fine by default, not when private networks are denied.
    Config::from_toml_str(&account("http://127.0.0.1:11434/v1")).unwrap();
    let locked = format!(
        "{}[upstream]\ndeny_private_networks = true\n",
        account("http://10.0.0.5/v1")
    );
    assert_problem(
        &locked,
        "accounts[0] (id \"a\").base_url",
        "deny_private_networks",
    );
    // The allowlist loosens both.
    let allowed = format!(
        "{}[upstream]\ndeny_private_networks = true\nallowed_egress = [\"10.0.0.0/8\", \"169.254.169.254\"]\n",
        account("http://10.0.0.5/v1")
    );
    Config::from_toml_str(&allowed).unwrap();
    let allowed = format!(
        "{}[upstream]\nallowed_egress = [\"169.254.169.254\"]\n",
        account("http://169.254.169.254/v1")
    );
    Config::from_toml_str(&allowed).unwrap();
    // A bad entry is named; the accounts are then not judged by a half policy.
    let bad = format!(
        "{}[upstream]\nallowed_egress = [\"ok.example\", \"10.0.0.0/99\"]\n",
        account("http://169.254.169.254/v1")
    );
    let p = problems(&bad);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].contains("upstream.allowed_egress[1]"), "{p:?}");
    // A malformed URL is reported once, by the URL rule.
    let p = problems(&account("ftp://h/v1"));
    assert_eq!(p.len(), 1, "{p:?}");
}

#[test]
fn resilience_ranges_zero_is_never_valid() {
    let cases: &[(&str, &str)] = &[
        ("max_buffered_attempts", "11"),
        ("failure_threshold", "101"),
        ("failure_cooldown_seconds", "86401"),
        ("failure_cooldown_max_seconds", "86401"),
        ("retry_backoff_milliseconds", "60001"),
        ("retry_backoff_max_milliseconds", "60001"),
        ("max_concurrent_upstream_requests", "100001"),
        ("permit_queue_timeout_milliseconds", "60001"),
        ("retry_budget_min_per_second", "100001"),
        ("request_deadline_seconds", "3601"),
        ("retry_after_max_seconds", "86401"),
        ("auth_failure_cooldown_seconds", "604801"),
        ("failure_rate_min_requests", "100001"),
        ("failure_rate_window_seconds", "3601"),
    ];
    for (key, too_big) in cases {
        let full = format!("upstream_resilience.{key}");
        assert_problem(
            &format!("[upstream_resilience]\n{key} = 0"),
            &full,
            "must be in 1..=",
        );
        assert_problem(
            &format!("[upstream_resilience]\n{key} = {too_big}"),
            &full,
            "must be in",
        );
    }
    for key in [
        "retry_budget_ratio",
        "max_cooled_share",
        "failure_rate_threshold",
    ] {
        let full = format!("upstream_resilience.{key}");
        for bad in ["0", "0.0", "-0.1", "1.01", "nan", "inf"] {
            assert_problem(
                &format!("[upstream_resilience]\n{key} = {bad}"),
                &full,
                "greater than 0",
            );
        }
        Config::from_toml_str(&format!("[upstream_resilience]\n{key} = 1")).unwrap();
    }
}

#[test]
fn resilience_failure_rate_and_panic_mode() {
    let c = Config::from_toml_str(
        "[upstream_resilience]\nfailure_rate_threshold = 0.25\nfailure_rate_min_requests = 1\n\
         failure_rate_window_seconds = 3600\npanic_mode = false",
    )
    .unwrap();
    let r = &c.upstream_resilience;
    assert_eq!(r.failure_rate_threshold, 0.25);
    assert_eq!(r.failure_rate_min_requests, 1);
    assert_eq!(r.failure_rate_window_seconds, 3600);
    assert!(!r.panic_mode);
    assert_problem(
        "[upstream_resilience]\nfailure_rate_window_seconds = 0",
        "upstream_resilience.failure_rate_window_seconds",
        "must be in 1..=3600, got 0",
    );
    assert_problem(
        "[upstream_resilience]\nfailure_rate_min_requests = 0",
        "upstream_resilience.failure_rate_min_requests",
        "must be in 1..=100000, got 0",
    );
    assert_problem(
        "[upstream_resilience]\nfailure_rate_threshold = 1.5",
        "upstream_resilience.failure_rate_threshold",
        "must be greater than 0 and at most 1, got 1.5",
    );
}

#[test]
fn resilience_ceilings_not_below_base() {
    assert_problem(
        "[upstream_resilience]\nfailure_cooldown_seconds = 100\nfailure_cooldown_max_seconds = 50",
        "upstream_resilience.failure_cooldown_max_seconds",
        "at least failure_cooldown_seconds (100)",
    );
    assert_problem(
        "[upstream_resilience]\nretry_backoff_milliseconds = 500\nretry_backoff_max_milliseconds = 100",
        "upstream_resilience.retry_backoff_max_milliseconds",
        "at least retry_backoff_milliseconds (500)",
    );
    Config::from_toml_str(
        "[upstream_resilience]\nfailure_cooldown_seconds = 300\nretry_backoff_milliseconds = 2000",
    )
    .unwrap();
}

#[test]
fn usage_rules() {
    assert_problem(
        "[usage]\nqueue_capacity = 0",
        "usage.queue_capacity",
        "1..=",
    );
    assert_problem("[usage]\nbatch_size = 0", "usage.batch_size", "1..=");
    assert_problem(
        "[usage]\nqueue_capacity = 10\nbatch_size = 11",
        "usage.batch_size",
        "1..=10",
    );
    assert_problem(
        "[usage]\nflush_interval_ms = 0",
        "usage.flush_interval_ms",
        "1..=",
    );
    assert_problem(
        "[usage]\nretention_days = 0",
        "usage.retention_days",
        "1..=",
    );
    assert_problem(
        "[usage]\njournal_max_bytes = 1000",
        "usage.journal_max_bytes",
        "65536..=",
    );
}

#[test]
fn pricing_rules() {
    assert_problem(
        "[pricing.m]\ninput_usd_per_million = -1",
        "pricing.\"m\".input_usd_per_million",
        ">= 0",
    );
    assert_problem(
        "[pricing.m]\noutput_usd_per_million = nan",
        "pricing.\"m\".output_usd_per_million",
        "finite",
    );
    Config::from_toml_str("[pricing.m]\ninput_usd_per_million = 0").unwrap();
}

#[test]
fn account_rules() {
    let acct = |body: &str| format!("[[accounts]]\nid = 'x'\nvendor = 'open_ai'\n{body}");
    let k = "accounts[0] (id \"x\")";
    assert_problem(
        &acct("base_url = 'ftp://h/v1'"),
        &format!("{k}.base_url"),
        "http or https",
    );
    assert_problem(
        &acct("base_url = 'https://u:p@h/v1'"),
        &format!("{k}.base_url"),
        "credentials",
    );
    assert_problem(
        &acct("base_url = 'https://h/v1?x=1'"),
        &format!("{k}.base_url"),
        "query",
    );
    assert_problem(
        &acct("base_url = 'https://h/v1#x'"),
        &format!("{k}.base_url"),
        "fragment",
    );
    assert_problem(
        &acct("base_url = 'https:///v1'"),
        &format!("{k}.base_url"),
        "host",
    );
    assert_problem(
        &acct("base_url = 'h/v1'"),
        &format!("{k}.base_url"),
        "absolute",
    );
    assert_problem(&acct("weight = 0"), &format!("{k}.weight"), "1..=1000");
    assert_problem(&acct("weight = 1001"), &format!("{k}.weight"), "1..=1000");
    assert_problem(
        &acct("priority = -1"),
        &format!("{k}.priority"),
        "0 or more",
    );
    let table: &[(&str, &str, &str)] = &[
        ("anthropic_version = ''", "anthropic_version", "must not be empty"),
        ("anthropic_version = '2023-06-01é'", "anthropic_version", "must be printable ASCII"),
        (
            "anthropic_version = 'vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv'",
            "anthropic_version",
            "must be at most 64 characters, got 65",
        ),
        ("default_max_tokens = 0", "default_max_tokens", "must be at least 1, got 0"),
    ];
    for (body, field, fragment) in table {
        assert_problem(&acct(body), &format!("{k}.{field}"), fragment);
    }
    assert_problem(
        &acct("requests_per_minute = 0"),
        &format!("{k}.requests_per_minute"),
        "1..=1000000",
    );
    assert_problem(
        &acct("tokens_per_minute = 0"),
        &format!("{k}.tokens_per_minute"),
        "1..=1000000000",
    );
    assert_problem(
        &acct("api_key_env = 'K'\napi_key_file = '/k'"),
        k,
        "only one of api_key_env and api_key_file",
    );
    assert_problem(
        &acct("api_key_env = ''"),
        &format!("{k}.api_key_env"),
        "empty",
    );
    assert_problem(
        &acct("api_key_file = ''"),
        &format!("{k}.api_key_file"),
        "empty",
    );
    assert_problem(
        &acct("models = { m = '' }"),
        &format!("{k}.models.\"m\""),
        "empty",
    );
    assert_problem(
        "[[accounts]]\nid = 'c'\nvendor = 'custom'",
        "accounts[0] (id \"c\").base_url",
        "required for vendor \"custom\"",
    );
    assert_problem(
        "[[accounts]]\nid = 'bad id'\nvendor = 'open_ai'",
        "accounts[0] (id \"bad id\").id",
        "1 to 64 characters",
    );
    assert_problem(
        &format!(
            "[[accounts]]\nid = '{}'\nvendor = 'open_ai'",
            "x".repeat(65)
        ),
        &format!("accounts[0] (id \"{}\").id", "x".repeat(65)),
        "1 to 64",
    );
    assert_problem(
        "[[accounts]]\nid = 'a'\nvendor = 'open_ai'\n[[accounts]]\nid = 'a'\nvendor = 'google'",
        "accounts[1] (id \"a\").id",
        "duplicate account id, first used by accounts[0]",
    );
}

#[test]
fn pool_rules() {
    let doc = |pools: &str| format!("{BASE}\n{pools}");
    assert_problem(
        &doc("[[pools]]\nid = 'q'\nstrategy = 'weighted'\nmembers = ['a', 'zz']"),
        "pools[1] (id \"q\").members[1]",
        "\"zz\" is not a declared account id",
    );
    assert_problem(
        &doc("[[pools]]\nid = 'q'\nstrategy = 'weighted'\nmembers = ['a', 'a']"),
        "pools[1] (id \"q\").members[1]",
        "more than once",
    );
    assert_problem(
        &doc("[[pools]]\nid = 'q'\nstrategy = 'weighted'\nmembers = []"),
        "pools[1] (id \"q\").members",
        "at least one",
    );
    assert_problem(
        &doc("[[pools]]\nid = 'p'\nstrategy = 'weighted'\nmembers = ['a']"),
        "pools[1] (id \"p\").id",
        "duplicate pool id, first used by pools[0]",
    );
    assert_problem(
        &doc("[[pools]]\nid = 'q'\nstrategy = 'failover'\nmembers = ['a']\nfallback_pool = 'nope'"),
        "pools[1] (id \"q\").fallback_pool",
        "\"nope\" is not a declared pool id",
    );
    assert_problem(
        &doc("[[pools]]\nid = 'q/'\nstrategy = 'failover'\nmembers = ['a']"),
        "pools[1] (id \"q/\").id",
        "1 to 64",
    );
}

#[test]
fn pool_fallback_cycles() {
    let mut c = Config::from_toml_str(BASE).unwrap();
    c.pools[0].fallback_pool = Some("p".into());
    let p = c.validate().unwrap_err();
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(
        p[0].to_string(),
        "pools[0] (id \"p\").fallback_pool: fallback cycle: p -> p"
    );

    for (id, fb) in [("q", "r"), ("r", "s"), ("s", "q")] {
        c.pools.push(PoolConfig {
            id: id.into(),
            strategy: Strategy::RoundRobin,
            members: vec!["a".into()],
            fallback_pool: Some(fb.into()),
        });
    }
    c.pools[0].fallback_pool = Some("q".into()); // p -> q -> r -> s -> q
    let p = c.validate().unwrap_err();
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(
        p[0].to_string(),
        "pools[1] (id \"q\").fallback_pool: fallback cycle: q -> r -> s -> q"
    );
    c.pools[3].fallback_pool = None; // p -> q -> r -> s: a chain is fine
    c.validate().unwrap();
}

#[test]
fn route_rules_and_cycles() {
    let doc = |routes: &str| format!("{BASE}\n{routes}");
    assert_problem(
        &doc("[[routes]]\nmodel = 'n'\npool = 'nope'"),
        "routes[1] (model \"n\").pool",
        "\"nope\" is not a declared pool id",
    );
    assert_problem(
        &doc("[[routes]]\nmodel = 'm'\npool = 'p'"),
        "routes[1] (model \"m\").model",
        "duplicate route, first declared by routes[0]",
    );
    assert_problem(
        &doc("[[routes]]\nmodel = ''\npool = 'p'"),
        "routes[1] (model \"\").model",
        "empty",
    );
    assert_problem(
        &doc("[[routes]]\nmodel = 'n'\npool = 'p'\nfallback_route = 'ghost'"),
        "routes[1] (model \"n\").fallback_route",
        "\"ghost\" is not the model of a declared route",
    );
    let mut c = Config::from_toml_str(BASE).unwrap();
    c.routes.push(RouteConfig {
        model: "n".into(),
        pool: "p".into(),
        fallback_route: Some("m".into()),
    });
    c.routes[0].fallback_route = Some("n".into());
    let p = c.validate().unwrap_err();
    assert_eq!(
        p.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        vec!["routes[0] (model \"m\").fallback_route: fallback cycle: m -> n -> m"]
    );
}

#[test]
fn all_problems_are_reported_together() {
    let err = Config::from_toml_str(
        r#"
        host = ""
        port = 0
        database_url = "mysql://x"
        [upstream_resilience]
        max_buffered_attempts = 0
        retry_budget_ratio = 2.0
        [[accounts]]
        id = "a"
        vendor = "custom"
        [[accounts]]
        id = "b"
        vendor = "open_ai"
        base_url = "https://u:p@h"
        [[pools]]
        id = "p"
        strategy = "weighted"
        members = ["a", "ghost"]
        [[routes]]
        model = "m"
        pool = "nope"
        "#,
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("invalid configuration (9 problems):"),
        "{text}"
    );
    for key in [
        "host:",
        "port:",
        "database_url:",
        "upstream_resilience.max_buffered_attempts:",
        "upstream_resilience.retry_budget_ratio:",
        "accounts[0] (id \"a\").base_url:",
        "accounts[1] (id \"b\").base_url:",
        "pools[0] (id \"p\").members[1]:",
        "routes[0] (model \"m\").pool:",
    ] {
        assert!(
            text.contains(&format!("\n  - {key}")),
            "missing {key} in {text}"
        );
    }
    assert_eq!(err.problems().len(), 9);
}

#[test]
fn candidate_config_built_in_code() {
    // The admin API validates a new account by adding it to a copy.
    let mut c = Config::from_toml_str(BASE).unwrap();
    let mut acct = AccountConfig::new("new", Vendor::Custom);
    acct.base_url = Some("http://127.0.0.1:8000/v1".into());
    c.accounts.push(acct);
    c.pools[0].members.push("new".into());
    c.validate().unwrap();
    c.accounts.push(AccountConfig::new("new", Vendor::OpenAi));
    let p = c.validate().unwrap_err();
    assert_eq!(p[0].key, "accounts[3] (id \"new\").id");
}

#[test]
fn idempotency_and_rate_limit_ranges() {
    assert_problem(
        "[idempotency]\nreplay_window_seconds = 10",
        "idempotency.replay_window_seconds",
        "60..=604800",
    );
    assert_problem(
        "[rate_limits]\nroute_requests_per_minute = 2000000",
        "rate_limits.route_requests_per_minute",
        "0..=1000000",
    );
}
