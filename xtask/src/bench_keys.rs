//! `cargo xtask bench --keys`: the cost of client keys on the request path.
//!
//! The same release `rook-server` in front of the harness's mock upstream, in two
//! configurations that alternate by round: **token** (`[inbound_auth]` with one
//! bearer token, no `[[client_keys]]`) and **keys** (the same token plus 200
//! client keys with model scopes, budgets and RPM/TPM limits; requests use one of
//! the keys, so every check runs). Each round measures c=1 latency and c=32
//! throughput, buffered and streamed. Gateway on CPU 0, wrk and the mock on CPU 1.

use std::path::Path;

use crate::bench::{spawn_pinned, wait_ready, wrk_case_as};

const TOKEN: &str = "bench-inbound-token-0123456789abcdef";
const KEYS: usize = 200;

fn key_secret(i: usize) -> String {
    format!("rk-bench{i:04}abcdefghijklmnopqrstuvwxyz0123456789")
}

/// The two configurations: (label, config path, bearer token the client sends).
fn write_configs(dir: &Path) -> Result<Vec<(&'static str, String, String)>, String> {
    std::fs::create_dir_all(dir.join("keys")).map_err(|e| e.to_string())?;
    let base = "host = \"127.0.0.1\"\nport = 4141\ndatabase_url = \"sqlite:///tmp/rook-bench.db\"\n\
        log_level = \"warn\"\n\n[upstream_resilience]\nmax_concurrent_upstream_requests = 4096\n\
        permit_queue_timeout_milliseconds = 1000\n\n[inbound_auth]\nenabled = true\n\
        bearer_token_env = \"ROOK_BENCH_TOKEN\"\n\n[pricing.\"bench-model\"]\n\
        input_usd_per_million = 0.01\noutput_usd_per_million = 0.01\n\n\
        [[accounts]]\nid = \"mock\"\nvendor = \"custom\"\nbase_url = \"http://127.0.0.1:18000/v1\"\n\n\
        [[pools]]\nid = \"bench\"\nstrategy = \"round_robin\"\nmembers = [\"mock\"]\n\n\
        [[routes]]\nmodel = \"bench-model\"\npool = \"bench\"\n";
    let token_path = dir.join("token.toml");
    std::fs::write(&token_path, base).map_err(|e| e.to_string())?;
    let mut keys = String::from(base);
    for i in 0..KEYS {
        let file = dir.join(format!("keys/key-{i}"));
        std::fs::write(&file, key_secret(i)).map_err(|e| e.to_string())?;
        keys.push_str(&format!(
            "\n[[client_keys]]\nid = \"bench-{i}\"\nname = \"bench key {i}\"\n\
             token_file = \"{}\"\nmodels = [\"bench-*\"]\nbudget_usd = 1000000.0\n\
             budget_period = \"month\"\nrequests_per_minute = 100000000\n\
             tokens_per_minute = 1000000000\n",
            file.display()
        ));
    }
    let keys_path = dir.join("keys.toml");
    std::fs::write(&keys_path, keys).map_err(|e| e.to_string())?;
    Ok(vec![
        (
            "token",
            token_path.to_string_lossy().into_owned(),
            TOKEN.to_string(),
        ),
        (
            "keys",
            keys_path.to_string_lossy().into_owned(),
            key_secret(KEYS / 2),
        ),
    ])
}

/// Runs the comparison and prints a Markdown table.
pub(crate) fn keys_bench(
    shared: &Path,
    mock: &Path,
    server: &Path,
    out_dir: &Path,
) -> Result<(), String> {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(2);
    let configs = write_configs(&out_dir.join("keys-bench"))?;
    let mut mock = spawn_pinned("1", mock, &["--port", "18000", "--chunks", "16"])?;
    let result = (|| -> Result<Vec<String>, String> {
        wait_ready("http://127.0.0.1:18000/health")?;
        let mut rows = Vec::new();
        for round in 1..=rounds {
            for (label, config, key) in &configs {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("/tmp/rook-bench.db{suffix}"));
                }
                let mut gateway = std::process::Command::new("taskset")
                    .args(["-c", "0"])
                    .arg(server)
                    .args(["--config", config])
                    .env("ROOK_BENCH_TOKEN", TOKEN)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .map_err(|e| format!("cannot start {}: {e}", server.display()))?;
                let measured = (|| -> Result<(), String> {
                    wait_ready("http://127.0.0.1:4141/api/health/live")?;
                    let base = "http://127.0.0.1:4141/v1";
                    for mode in ["nonstream", "stream"] {
                        let (p50, p99, _) =
                            wrk_case_as(shared, base, "bench-model", label, mode, 1, key)?;
                        let (_, _, rps) =
                            wrk_case_as(shared, base, "bench-model", label, mode, 32, key)?;
                        let row = format!(
                            "| {round} | {label} | {mode} | {p50:.3} / {p99:.3} | {rps:.0} |"
                        );
                        println!("{row}");
                        rows.push(row);
                    }
                    Ok(())
                })();
                let _ = gateway.kill();
                let _ = gateway.wait();
                measured?;
            }
        }
        Ok(rows)
    })();
    let _ = mock.kill();
    let _ = mock.wait();
    let rows = result?;
    println!(
        "\n| round | configuration | mode | p50 / p99 ms (c=1) | req/s (c=32) |\n|---|---|---|---:|---:|"
    );
    for row in rows {
        println!("{row}");
    }
    Ok(())
}
