//! `doctor`: checks, JSON schema, exit codes, and that it creates nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::{check, Env};

fn good_config(env: &Env, extra: &str) -> String {
    let toml = format!(
        r#"
database_url = "{}"
{extra}
[[accounts]]
id = "openai-a"
vendor = "open_ai"
api_key_env = "DOCTOR_KEY_A"

[[pools]]
id = "gpt"
strategy = "round_robin"
members = ["openai-a"]

[[routes]]
model = "gpt-4o"
pool = "gpt"
"#,
        env.db_url()
    );
    env.config(&toml).display().to_string()
}

const KEYS: [(&str, &str); 2] = [
    ("DOCTOR_KEY_A", "sk-doctor-canary-1"),
    ("ROOK_ADMIN_TOKEN", "admin-canary-2-0123456"),
];

#[test]
fn passes_on_a_good_loopback_config() {
    let env = Env::new();
    let cfg = good_config(&env, "");
    env.run(&["db", "migrate", "--config", &cfg], &[])
        .assert_code(0);
    let run = env.run(&["doctor", "--json", "--config", &cfg], &KEYS);
    run.assert_code(0);
    let report = run.json();
    assert_eq!(report["status"], "pass", "{report:#}");
    let names: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "config",
            "database",
            "inbound_auth",
            "admin_auth",
            "bind",
            "resilience",
            "secrets",
            "accounts",
            "client_keys",
            "instances"
        ]
    );
    for c in report["checks"].as_array().unwrap() {
        let keys: Vec<&String> = c.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 5, "{c:#}");
        assert_eq!(c["status"], "pass", "{c:#}");
        assert!(c["summary"].is_string());
        assert!(c["guidance"].is_null());
        assert!(c["details"].is_object());
    }
    assert!(report["advisories"].is_array());
    // --strict changes nothing when everything passes.
    env.run(&["doctor", "--strict", "--config", &cfg], &KEYS)
        .assert_code(0);
    let all = run.all();
    assert!(!all.contains("sk-doctor-canary-1") && !all.contains("admin-canary-2"));
}

#[test]
fn human_output_is_a_table_with_guidance() {
    let env = Env::new();
    let cfg = good_config(&env, "");
    let run = env.run(&["doctor", "--config", &cfg], &[("DOCTOR_KEY_A", "k")]);
    run.assert_code(0);
    let first = run.stdout.lines().next().unwrap();
    assert!(first.starts_with("CHECK") && first.contains("STATUS") && first.contains("SUMMARY"));
    // Missing database and admin token are warnings with guidance.
    assert!(run.stdout.contains("guidance:"), "{}", run.stdout);
    assert!(run.stdout.contains("database (warn)"), "{}", run.stdout);
    assert!(run.stdout.contains("overall: warn"), "{}", run.stdout);
}

#[test]
fn strict_exits_1_on_warnings_and_never_creates_the_database() {
    let env = Env::new();
    let cfg = good_config(&env, "");
    // No database yet and no admin token: warnings only.
    let run = env.run(
        &["doctor", "--json", "--config", &cfg],
        &[("DOCTOR_KEY_A", "k")],
    );
    run.assert_code(0);
    let report = run.json();
    assert_eq!(report["status"], "warn");
    let db = check(&report, "database");
    assert_eq!(db["status"], "warn");
    assert!(db["summary"]
        .as_str()
        .unwrap()
        .contains("will be created on first start"));
    env.run(
        &["doctor", "--strict", "--config", &cfg],
        &[("DOCTOR_KEY_A", "k")],
    )
    .assert_code(1);
    assert!(!env.db_path().exists(), "doctor created the database file");
    assert!(
        !env.db_path().parent().unwrap().exists(),
        "doctor created the directory"
    );
    let leftovers: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".rook-doctor"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn pending_migrations_warn() {
    let env = Env::new();
    let cfg = good_config(&env, "");
    std::fs::create_dir_all(env.db_path().parent().unwrap()).unwrap();
    std::fs::write(env.db_path(), b"").unwrap();
    let run = env.run(&["doctor", "--json", "--config", &cfg], &KEYS);
    run.assert_code(0);
    let db = check(&run.json(), "database").clone();
    assert_eq!(db["status"], "warn", "{db:#}");
    assert_eq!(
        db["guidance"],
        "run rook-cli db migrate or start the server"
    );
    assert_eq!(
        db["details"]["pending"],
        serde_json::json!([1, 2, 3, 4, 5, 6, 7, 8, 9])
    );
}

#[test]
fn unwritable_database_directory_fails() {
    let env = Env::new();
    let toml = "database_url = \"sqlite:///proc/rook-doctor-test/rook.db\"\n";
    let cfg = env.config(toml).display().to_string();
    let run = env.run(&["doctor", "--json", "--config", &cfg], &KEYS);
    run.assert_code(2);
    assert_eq!(check(&run.json(), "database")["status"], "fail");
}

#[test]
fn external_bind_without_inbound_auth_fails() {
    let env = Env::new();
    let cfg = good_config(&env, "host = \"0.0.0.0\"");
    env.run(&["db", "migrate", "--config", &cfg], &[])
        .assert_code(0);
    let run = env.run(&["doctor", "--json", "--config", &cfg], &KEYS);
    run.assert_code(2);
    let report = run.json();
    assert_eq!(report["status"], "fail");
    let bind = check(&report, "bind");
    assert_eq!(bind["status"], "fail", "{bind:#}");
    assert!(bind["summary"]
        .as_str()
        .unwrap()
        .contains("no inbound auth"));
    assert_eq!(check(&report, "inbound_auth")["status"], "fail");
    // A host name is external too, and without an admin token it fails as well.
    let cfg = good_config(&env, "host = \"rook.example.com\"");
    let run = env.run(
        &["doctor", "--json", "--config", &cfg],
        &[("DOCTOR_KEY_A", "k")],
    );
    run.assert_code(2);
    let report = run.json();
    let summary = check(&report, "bind")["summary"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(summary.contains("admin token"), "{summary}");
    assert_eq!(check(&report, "admin_auth")["status"], "fail");
}

#[test]
fn missing_key_fails_naming_account_and_variable_never_a_value() {
    let env = Env::new();
    let toml = format!(
        r#"
database_url = "{}"
[[accounts]]
id = "openai-a"
vendor = "open_ai"
api_key_env = "DOCTOR_KEY_A"
[[accounts]]
id = "openai-b"
vendor = "open_ai"
api_key_env = "DOCTOR_KEY_MISSING"
"#,
        env.db_url()
    );
    let cfg = env.config(&toml).display().to_string();
    let run = env.run(&["doctor", "--json", "--config", &cfg], &KEYS);
    run.assert_code(2);
    let report = run.json();
    let acc = check(&report, "accounts");
    assert_eq!(acc["status"], "fail");
    let summary = acc["summary"].as_str().unwrap();
    assert!(
        summary.contains("openai-b") && summary.contains("DOCTOR_KEY_MISSING"),
        "{summary}"
    );
    assert!(!summary.contains("openai-a"), "{summary}");
    let human = env.run(&["doctor", "--config", &cfg], &KEYS);
    human.assert_code(2);
    for out in [run.all(), human.all()] {
        assert!(
            !out.contains("sk-doctor-canary-1"),
            "key value printed:\n{out}"
        );
        assert!(
            !out.contains("admin-canary-2"),
            "token value printed:\n{out}"
        );
    }
    // An empty variable counts as missing.
    let run = env.run(
        &["doctor", "--json", "--config", &cfg],
        &[("DOCTOR_KEY_A", "k"), ("DOCTOR_KEY_MISSING", "  ")],
    );
    run.assert_code(2);
    assert!(check(&run.json(), "accounts")["summary"]
        .as_str()
        .unwrap()
        .contains("DOCTOR_KEY_MISSING is empty"));
}

#[test]
fn unreachable_database_fails() {
    let env = Env::new();
    let cfg = good_config(&env, "");
    let run = env.run(
        &[
            "doctor",
            "--json",
            "--config",
            &cfg,
            "--database-url",
            "postgres://nobody@127.0.0.1:1/x",
        ],
        &KEYS,
    );
    run.assert_code(2);
    let report = run.json();
    let db = check(&report, "database");
    assert_eq!(db["status"], "fail", "{db:#}");
    assert!(db["summary"].as_str().unwrap().contains("unreachable"));
    // The later checks still run.
    assert_eq!(check(&report, "accounts")["status"], "pass");
}

#[test]
fn invalid_config_stops_with_every_problem() {
    let env = Env::new();
    let cfg = env.config("port = 0\nhost = \"\"\n").display().to_string();
    let run = env.run(&["doctor", "--json", "--config", &cfg], &[]);
    run.assert_code(2);
    let report = run.json();
    assert_eq!(report["status"], "fail");
    let checks = report["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 1, "{report:#}");
    assert_eq!(checks[0]["name"], "config");
    let problems = checks[0]["details"]["problems"].as_array().unwrap();
    let keys: Vec<&str> = problems
        .iter()
        .map(|p| p["key"].as_str().unwrap())
        .collect();
    assert!(keys.contains(&"port") && keys.contains(&"host"), "{keys:?}");
}

#[test]
fn amplification_warns_and_unknown_env_vars_are_advisories() {
    let env = Env::new();
    let cfg = good_config(&env, "[upstream_resilience]\nmax_buffered_attempts = 5");
    env.run(&["db", "migrate", "--config", &cfg], &[])
        .assert_code(0);
    let mut vars = KEYS.to_vec();
    vars.push(("ROOK_NOT_A_KEY", "x"));
    let run = env.run(&["doctor", "--json", "--config", &cfg], &vars);
    run.assert_code(0);
    let report = run.json();
    let r = check(&report, "resilience");
    assert_eq!(r["status"], "warn");
    assert_eq!(r["details"]["worst_case_upstream_requests_per_call"], 15);
    let adv = report["advisories"].as_array().unwrap();
    assert!(
        adv.iter()
            .any(|a| a.as_str().unwrap().contains("ROOK_NOT_A_KEY")),
        "{adv:?}"
    );
    env.run(&["doctor", "--strict", "--config", &cfg], &vars)
        .assert_code(1);
}

#[test]
fn probe_reports_unreachable_and_rejected_keys() {
    use std::io::{Read, Write};
    // A one-shot upstream that rejects the key.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap();
        let req = String::from_utf8_lossy(&buf[..n]).into_owned();
        s.write_all(
            b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
        )
        .unwrap();
        req
    });
    let env = Env::new();
    let toml = format!(
        r#"
database_url = "{}"
[[accounts]]
id = "rejecting"
vendor = "custom"
base_url = "http://127.0.0.1:{port}/v1"
api_key_env = "DOCTOR_KEY_A"
[[accounts]]
id = "down"
vendor = "custom"
base_url = "http://127.0.0.1:1/v1"
"#,
        env.db_url()
    );
    let cfg = env.config(&toml).display().to_string();
    let run = env.run(&["doctor", "--json", "--probe", "--config", &cfg], &KEYS);
    run.assert_code(2);
    let report = run.json();
    let rejected = check(&report, "probe:rejecting");
    assert_eq!(rejected["status"], "fail");
    assert!(rejected["summary"]
        .as_str()
        .unwrap()
        .contains("key rejected"));
    assert_eq!(rejected["details"]["http_status"], 401);
    assert!(rejected["details"]["latency_ms"].is_u64());
    let down = check(&report, "probe:down");
    assert_eq!(down["status"], "fail");
    assert!(down["summary"].as_str().unwrap().contains("unreachable"));
    let req = server.join().unwrap();
    assert!(req.starts_with("GET /v1/models "), "{req}");
    assert!(req
        .to_ascii_lowercase()
        .contains("authorization: bearer sk-doctor-canary-1"));
    assert!(
        run.stderr.contains("probing 2 account(s)"),
        "{}",
        run.stderr
    );
}

#[test]
fn probe_applies_the_gateways_egress_policy() {
    // A live upstream on loopback that must never be reached: `localhost`
    // passes the config check (a name) but resolves to a denied address.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let env = Env::new();
    let toml = format!(
        r#"
database_url = "{}"
[upstream]
deny_private_networks = true
[[accounts]]
id = "local"
vendor = "custom"
base_url = "http://localhost:{port}/v1"
"#,
        env.db_url()
    );
    let cfg = env.config(&toml).display().to_string();
    let run = env.run(&["doctor", "--json", "--probe", "--config", &cfg], &KEYS);
    run.assert_code(2);
    let report = run.json();
    let local = check(&report, "probe:local");
    assert_eq!(local["status"], "fail");
    let summary = local["summary"].as_str().unwrap();
    assert!(summary.contains("egress denied"), "{summary}");
    assert!(local["guidance"]
        .as_str()
        .unwrap()
        .contains("allowed_egress"));
    assert!(
        listener.accept().is_err(),
        "the probe connected to a denied address"
    );
}

/// A one-shot upstream on loopback that answers `200 {"data":[]}` and hands
/// back the request it read.
fn one_shot_ok() -> (u16, std::thread::JoinHandle<String>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap();
        let req = String::from_utf8_lossy(&buf[..n]).into_owned();
        s.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\nconnection: close\r\n\r\n{\"data\":[]}",
        )
        .unwrap();
        req
    });
    (port, server)
}

#[test]
fn probes_present_each_protocols_credentials() {
    let (anthropic_port, anthropic) = one_shot_ok();
    let (gemini_port, gemini) = one_shot_ok();
    let env = Env::new();
    let toml = format!(
        r#"
database_url = "{}"
[[accounts]]
id = "claude"
vendor = "anthropic"
base_url = "http://127.0.0.1:{anthropic_port}/v1"
api_key_env = "DOCTOR_KEY_A"
[[accounts]]
id = "gem"
vendor = "google"
base_url = "http://127.0.0.1:{gemini_port}/v1beta"
api_key_env = "DOCTOR_KEY_A"
"#,
        env.db_url()
    );
    let cfg = env.config(&toml).display().to_string();
    let run = env.run(&["doctor", "--json", "--probe", "--config", &cfg], &KEYS);
    let report = run.json();
    for name in ["probe:claude", "probe:gem"] {
        assert_eq!(check(&report, name)["status"], "pass", "{name}: {report:#}");
    }
    let a = anthropic.join().unwrap().to_ascii_lowercase();
    assert!(a.starts_with("get /v1/models "), "{a}");
    assert!(a.contains("x-api-key: sk-doctor-canary-1"), "{a}");
    assert!(a.contains("anthropic-version: 2023-06-01"), "{a}");
    assert!(!a.contains("authorization:"), "{a}");
    let g = gemini.join().unwrap().to_ascii_lowercase();
    assert!(g.starts_with("get /v1beta/models "), "{g}");
    assert!(g.contains("x-goog-api-key: sk-doctor-canary-1"), "{g}");
    assert!(!g.contains("authorization:"), "{g}");
}

#[test]
fn invalid_config_problems_are_printed_once() {
    let env = Env::new();
    let cfg = env
        .config("port = 0\nprot = 1\n[[accounts]]\nid = \"a\"\nvendor = \"openai\"\n")
        .display()
        .to_string();
    // (problem text that must appear exactly once)
    let once = [
        "port: must be in 1..=65535",
        "prot: unknown key `prot`",
        "accounts[0].vendor: unknown value `openai`",
    ];
    let text = env.run(&["doctor", "--config", &cfg], &[]);
    text.assert_code(2);
    let all = format!("{}{}", text.stdout, text.stderr);
    for p in once {
        assert_eq!(all.matches(p).count(), 1, "{p:?} not printed once:\n{all}");
    }
    let json = env.run(&["doctor", "--json", "--config", &cfg], &[]);
    json.assert_code(2);
    let all = format!("{}{}", json.stdout, json.stderr);
    for p in once {
        let message = p.split_once(": ").unwrap().1;
        assert_eq!(
            all.matches(message).count(),
            1,
            "{message:?} not printed once:\n{all}"
        );
    }
    let report = json.json();
    assert_eq!(
        check(&report, "config")["details"]["problems"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn mixed_vendor_model_names_warn_in_the_config_check() {
    let env = Env::new();
    let cfg = good_config(
        &env,
        "[[accounts]]\nid = \"or\"\nvendor = \"open_router\"\napi_key_env = \"DOCTOR_KEY_A\"\n\
         [[pools]]\nid = \"fallback\"\nstrategy = \"failover\"\nmembers = [\"or\"]\n",
    );
    // The route's pool falls back to the OpenRouter pool.
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "members = [\"openai-a\"]",
        "members = [\"openai-a\"]\nfallback_pool = \"fallback\"",
    );
    std::fs::write(&cfg, text).unwrap();
    env.run(&["db", "migrate", "--config", &cfg], &[])
        .assert_code(0);
    let run = env.run(&["doctor", "--json", "--config", &cfg], &KEYS);
    run.assert_code(0);
    let report = run.json();
    let c = check(&report, "config");
    assert_eq!(c["status"], "warn", "{c:#}");
    let warnings = c["details"]["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{c:#}");
    assert_eq!(warnings[0]["key"], "routes[0] (model \"gpt-4o\")");
    let message = warnings[0]["message"].as_str().unwrap();
    assert!(
        message.contains(r#"models = { "gpt-4o" = "openai/gpt-4o" }"#),
        "{message}"
    );
    // Shown as the config check's warning, not again as an advisory.
    assert_eq!(
        run.stdout.matches("openai/gpt-4o").count(),
        1,
        "{}",
        run.stdout
    );
    env.run(&["doctor", "--strict", "--config", &cfg], &KEYS)
        .assert_code(1);
    let text = env.run(&["doctor", "--config", &cfg], &KEYS);
    assert_eq!(
        text.stdout.matches("openai/gpt-4o").count(),
        1,
        "{}",
        text.stdout
    );
}

/// The `instances` check lists the heartbeat rows and warns about an instance that
/// stopped heartbeating or serves an old config version (rows written here with
/// `sqlite3`, as running servers would).
#[test]
fn instances_check_flags_stale_and_lagging_instances() {
    if std::process::Command::new("sqlite3")
        .arg("-version")
        .output()
        .is_err()
    {
        eprintln!("skipped: sqlite3 not installed");
        return;
    }
    let env = Env::new();
    let cfg = good_config(&env, "");
    env.run(&["db", "migrate", "--config", &cfg], &[])
        .assert_code(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let sql = format!(
        "UPDATE rook_config_version SET version = 7, updated_at_ms = {old}; \
         INSERT INTO rook_instances VALUES ('fresh1', '0.1.0', 'h1', '0.0.0.0:4141', {old}, {now}, 5000, 7, 'listening'); \
         INSERT INTO rook_instances VALUES ('gone2', '0.1.0', 'h2', '0.0.0.0:4141', {old}, {old}, 5000, 7, 'listening'); \
         INSERT INTO rook_instances VALUES ('behind3', '0.1.0', 'h3', '0.0.0.0:4141', {old}, {now}, 5000, 6, 'polling');",
        old = now - 60_000,
    );
    let out = std::process::Command::new("sqlite3")
        .arg(env.db_path())
        .arg(&sql)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = env.run(&["doctor", "--json", "--config", &cfg], &KEYS);
    let report = run.json();
    let c = check(&report, "instances");
    assert_eq!(c["status"], "warn", "{c:#}");
    let summary = c["summary"].as_str().unwrap();
    assert!(summary.starts_with("2 instances heartbeating"), "{summary}");
    assert!(summary.contains("stopped heartbeating: gone2"), "{summary}");
    assert!(summary.contains("old config version: behind3"), "{summary}");
    assert_eq!(c["details"]["instances"].as_array().unwrap().len(), 3);
    assert_eq!(c["details"]["registry_config_version"], 7);
    env.run(&["doctor", "--strict", "--config", &cfg], &KEYS)
        .assert_code(1);
}
