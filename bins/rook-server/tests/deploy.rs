//! The container and service files (`Dockerfile`, `deploy/`) checked against the
//! binary and the docs: every port, path, user and `ROOK_*` variable they use exists
//! in the configuration schema (or is one the binary reads) and is documented; the
//! configurations they ship load; the binary starts the way the image and the unit
//! start it, and `--health-check` answers as the image's HEALTHCHECK expects;
//! `systemd-analyze verify` passes when it is installed. The image itself cannot be
//! built here (no registry for base images).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rook_gateway::rook_config::Config;
use rook_test_support::{http, RookServer, TestDir};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rook-server"))
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Dockerfile instructions of the final stage: (INSTRUCTION, arguments), continuation
/// lines joined, comments dropped.
fn final_stage(dockerfile: &str) -> Vec<(String, String)> {
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let t = line.trim();
        if current.is_empty() && (t.is_empty() || t.starts_with('#')) {
            continue;
        }
        match t.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(t);
                joined.push(std::mem::take(&mut current));
            }
        }
    }
    let mut stage = Vec::new();
    for line in joined {
        let (op, args) = line.split_once(' ').unwrap_or((&line, ""));
        if op.eq_ignore_ascii_case("FROM") {
            stage.clear();
        }
        stage.push((op.to_ascii_uppercase(), args.trim().to_string()));
    }
    stage
}

fn args_of<'a>(stage: &'a [(String, String)], op: &str) -> Vec<&'a str> {
    stage
        .iter()
        .filter(|(o, _)| o == op)
        .map(|(_, a)| a.as_str())
        .collect()
}

/// Every `ROOK_…` name in `text`.
fn rook_vars(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(pos) = text[i..].find("ROOK_") {
        let start = i + pos;
        let mut end = start + 5;
        while end < bytes.len()
            && (bytes[end].is_ascii_uppercase()
                || bytes[end].is_ascii_digit()
                || bytes[end] == b'_')
        {
            end += 1;
        }
        let preceded =
            start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        if !preceded && end > start + 5 {
            out.insert(text[start..end].to_string());
        }
        i = end;
    }
    out
}

/// Whether `var` is a configuration key's variable (`ROOK_A__B` for `a.b`), looked up
/// in the schema's default serialisation.
fn is_config_var(var: &str) -> bool {
    let schema = serde_json::to_value(Config::default()).unwrap();
    let path = var.trim_start_matches("ROOK_").to_ascii_lowercase();
    let mut node = &schema;
    for part in path.split("__") {
        match node.get(part) {
            Some(n) => node = n,
            None => return false,
        }
    }
    !node.is_object() && !node.is_array()
}

/// Variables the binaries read that are not configuration keys.
const OTHER_VARS: &[(&str, &str)] = &[
    ("ROOK_CONFIG", "the --config flag's variable"),
    (
        "ROOK_GIT_COMMIT",
        "build.rs: the commit when building without .git",
    ),
    ("ROOK_TOKEN", "the default inbound token variable"),
    ("ROOK_ADMIN_TOKEN", "the default admin token variable"),
];

fn check_vars(file: &str, text: &str, docs: &str) {
    for var in rook_vars(text) {
        assert!(
            is_config_var(&var) || OTHER_VARS.iter().any(|(v, _)| *v == var),
            "{file} uses {var}, which is neither a configuration key nor a variable rook-server reads"
        );
        assert!(
            docs.contains(&var) || is_config_var(&var) && docs_mention_key(docs, &var),
            "{file} uses {var}, which the docs do not mention"
        );
    }
}

/// A config variable is documented when its key is (`ROOK_DATA_DIR` ↔ `data_dir`).
fn docs_mention_key(docs: &str, var: &str) -> bool {
    let key = var.trim_start_matches("ROOK_").to_ascii_lowercase();
    let last = key.rsplit("__").next().unwrap_or(&key);
    docs.contains(&format!("`{last}`"))
}

fn docs() -> String {
    [
        "docs/install.md",
        "docs/configuration.md",
        "docs/operations.md",
    ]
    .iter()
    .map(|p| read(p))
    .collect::<Vec<_>>()
    .join("\n")
}

fn help() -> String {
    let out = Command::new(bin()).arg("--help").output().unwrap();
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn dockerfile_matches_the_binary_and_the_docs() {
    let text = read("Dockerfile");
    let stage = final_stage(&text);
    let from = args_of(&stage, "FROM");
    assert!(
        from[0].contains("distroless/cc") && from[0].ends_with(":nonroot"),
        "{from:?}"
    );
    assert_eq!(args_of(&stage, "USER"), ["65532:65532"]);
    let config_text = read("deploy/container.toml");
    let config = Config::from_toml_str(&config_text).unwrap();
    assert_eq!(
        args_of(&stage, "EXPOSE"),
        [config.port.to_string().as_str()]
    );
    assert_eq!(config.port, Config::default().port, "the default port");
    assert_eq!(config.host, "0.0.0.0");
    // The volume holds the database and Rook's own files.
    assert_eq!(args_of(&stage, "VOLUME"), ["[\"/data\"]"]);
    assert_eq!(config.effective_data_dir(), Path::new("/data"));
    assert!(config.database_url.starts_with("sqlite:///data/"));
    let copies = args_of(&stage, "COPY");
    assert!(copies.contains(&"--from=build --chown=65532:65532 /out/data /data"));
    // The config is copied where ROOK_CONFIG points.
    assert!(copies.contains(&"deploy/container.toml /etc/rook/config.toml"));
    assert_eq!(
        args_of(&stage, "ENV"),
        ["ROOK_CONFIG=/etc/rook/config.toml"]
    );
    // The binaries land where the entrypoint and the health check run them.
    assert!(copies.contains(&"--from=build /out/rook-server /out/rook-cli /usr/local/bin/"));
    assert_eq!(
        args_of(&stage, "ENTRYPOINT"),
        ["[\"/usr/local/bin/rook-server\"]"]
    );
    let health = args_of(&stage, "HEALTHCHECK");
    assert_eq!(health.len(), 1);
    assert!(
        health[0].ends_with("CMD [\"/usr/local/bin/rook-server\", \"--health-check\"]"),
        "{health:?}"
    );
    assert!(help().contains("--health-check"));
    // The build stage produces what the final stage copies.
    assert!(text.contains("cp target/release/rook-server target/release/rook-cli /out/"));
    assert!(text.contains("mkdir -p /out/data"));
    let ignore = read(".dockerignore");
    assert!(ignore.lines().any(|l| l.trim() == "target/"));
    assert!(!ignore
        .lines()
        .any(|l| l.trim() == "deploy/" || l.trim() == "crates/"));
    check_vars("Dockerfile", &text, &docs());
    check_vars("deploy/container.toml", &config_text, &docs());
}

#[test]
fn compose_matches_the_image_and_the_proxy() {
    let compose = read("deploy/compose.yaml");
    let nginx = read("deploy/nginx.conf");
    let replica = Config::from_toml_str(&read("deploy/compose.rook.toml")).unwrap();
    assert!(replica.database_url.starts_with("postgres://"));
    assert_eq!(replica.effective_data_dir(), Path::new("/data"));
    assert!(!replica.transport.trusted_proxies.is_empty());
    let port = replica.port.to_string();
    // The proxy publishes the gateway port and forwards to both replicas on it.
    assert!(
        compose.contains(&format!("- \"{port}:{port}\"")),
        "{compose}"
    );
    assert!(nginx.contains(&format!("listen {port};")));
    for service in ["rook-1", "rook-2"] {
        assert!(compose.contains(&format!("\n  {service}:\n")), "{service}");
        assert!(
            nginx.contains(&format!("server {service}:{port} ")),
            "{service}"
        );
        assert!(
            compose.contains(&format!("- {service}-data:/data")),
            "{service}"
        );
    }
    assert!(nginx.contains("proxy_buffering off;"));
    // Mounted files exist, and land where the image reads its config.
    for (src, dst) in [
        ("./compose.rook.toml", "/etc/rook/config.toml:ro"),
        ("./nginx.conf", "/etc/nginx/nginx.conf:ro"),
    ] {
        assert!(compose.contains(&format!("- {src}:{dst}")), "{src}");
        assert!(repo().join("deploy").join(src).exists(), "{src}");
    }
    assert!(compose.contains("context: ..") && compose.contains("dockerfile: Dockerfile"));
    assert!(compose.contains("condition: service_healthy"));
    check_vars("deploy/compose.yaml", &compose, &docs());
}

/// `Environment=` assignments of a unit.
fn unit_env(unit: &str) -> Vec<(String, String)> {
    unit.lines()
        .filter_map(|l| l.strip_prefix("Environment="))
        .filter_map(|a| a.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn systemd_unit_matches_the_binary_and_verifies() {
    let unit = read("deploy/rook.service");
    let directive = |key: &str| -> Vec<&str> {
        unit.lines()
            .filter_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
            .collect()
    };
    assert_eq!(
        directive("ExecStart"),
        ["/usr/local/bin/rook-server --config /etc/rook/config.toml"]
    );
    assert_eq!(directive("ExecReload"), ["/bin/kill -HUP $MAINPID"]);
    for (key, value) in [
        ("DynamicUser", "yes"),
        ("StateDirectory", "rook"),
        ("ProtectSystem", "strict"),
        ("NoNewPrivileges", "yes"),
        ("Restart", "on-failure"),
    ] {
        assert_eq!(directive(key), [value], "{key}");
    }
    // Every %d/<name> file is a loaded credential.
    let creds: Vec<&str> = directive("LoadCredential")
        .iter()
        .filter_map(|c| c.split_once(':').map(|(id, _)| id))
        .collect();
    assert!(!creds.is_empty());
    for (var, value) in unit_env(&unit) {
        if let Some(name) = value.strip_prefix("%d/") {
            assert!(
                creds.contains(&name),
                "{var} reads {name}, not a LoadCredential"
            );
            assert!(
                var.ends_with("_FILE"),
                "{var}: credentials are read through *_file keys"
            );
        }
        if value.starts_with("/var/lib/rook") || value.contains("/var/lib/rook/") {
            assert_eq!(directive("StateDirectory"), ["rook"]);
        }
    }
    check_vars("deploy/rook.service", &unit, &docs());
    assert!(help().contains("--config"));

    // systemd's own check, with ExecStart pointing at the built binary.
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("systemd-analyze is not installed: verify skipped");
        return;
    }
    let dir = TestDir::new("rook-unit").unwrap();
    let copy = dir.path().join("rook.service");
    std::fs::write(
        &copy,
        unit.replace("/usr/local/bin/rook-server", &bin().display().to_string()),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify: {stderr}");
    assert!(
        !stderr.contains("rook.service"),
        "systemd-analyze verify: {stderr}"
    );
}

#[tokio::test]
async fn the_image_start_up_and_health_check_work() {
    // deploy/container.toml as the image runs it, with /data and the port moved.
    let config = read("deploy/container.toml")
        .replace("port = 4141", "port = {port}")
        .replace("/data", "{dir}");
    let admin = "admin-token-for-the-image-test";
    let mut server = RookServer::start(
        bin(),
        &config,
        &[
            ("ROOK_TOKEN", "client-token-image"),
            ("ROOK_ADMIN_TOKEN", admin),
        ],
    )
    .await
    .unwrap();
    let config_path = server.config_path().to_path_buf();
    let probe = || {
        Command::new(bin())
            .arg("--health-check")
            .env("ROOK_CONFIG", &config_path)
            .output()
            .unwrap()
    };
    let live = probe();
    assert!(live.status.success(), "{live:?}");
    let auth = format!("Bearer {admin}");
    let status = http::get(
        &server.url("/api/status"),
        &[("authorization", auth.as_str())],
    )
    .await
    .unwrap();
    assert_eq!(status.status, 200);
    // Listening on all interfaces; the probe used loopback.
    assert!(server
        .logs()
        .contains(&format!("0.0.0.0:{}", server.port())));
    assert!(server.dir().join("rook.db").exists());

    // A stopped server fails the probe.
    server.sigterm().unwrap();
    server.wait_exit(Duration::from_secs(15)).await.unwrap();
    let dead = probe();
    assert_eq!(dead.status.code(), Some(1), "{dead:?}");
    assert!(String::from_utf8_lossy(&dead.stderr).contains("not live"));
}

#[tokio::test]
async fn the_unit_credentials_reach_the_file_keys() {
    // The unit's environment, with %d and the state directory moved.
    let creds = TestDir::new("rook-creds").unwrap();
    std::fs::write(
        creds.path().join("admin-token"),
        "admin-token-from-credential",
    )
    .unwrap();
    std::fs::write(
        creds.path().join("client-token"),
        "client-token-from-credential",
    )
    .unwrap();
    let unit = read("deploy/rook.service");
    let env: Vec<(String, String)> = unit_env(&unit)
        .into_iter()
        .filter(|(k, _)| k != "ROOK_DATA_DIR" && k != "ROOK_DATABASE_URL")
        .map(|(k, v)| (k, v.replace("%d", &creds.path().display().to_string())))
        .collect();
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let config = "host = \"127.0.0.1\"\nport = {port}\ndatabase_url = \"sqlite://{dir}/rook.db\"\n";
    let server = RookServer::start(bin(), config, &env_refs).await.unwrap();
    let ok = http::get(
        &server.url("/api/status"),
        &[("authorization", "Bearer admin-token-from-credential")],
    )
    .await
    .unwrap();
    assert_eq!(ok.status, 200, "{}", ok.text());
    // No token was generated: the credential is the admin token.
    assert!(!server.dir().join("admin-token").exists());
    let v1 = http::get(&server.url("/v1/models"), &[]).await.unwrap();
    assert_eq!(v1.status, 401, "inbound auth is on");
    let v1 = http::get(
        &server.url("/v1/models"),
        &[("authorization", "Bearer client-token-from-credential")],
    )
    .await
    .unwrap();
    assert_eq!(v1.status, 200, "{}", v1.text());
}
