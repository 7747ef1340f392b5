//! `cargo xtask bench`: Rook beside the mock upstream in `../shared/bench`, its
//! latency run, and the translated-protocol run.

use super::*;

pub(crate) fn bench(args: &[String]) -> Result<(), String> {
    let root = root();
    let shared = env::var("ROOK_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("../shared/bench"));
    if !shared.join("run-all.sh").exists() {
        return Err(format!(
            "no load harness at {} (set ROOK_BENCH_DIR to a copy of shared/bench)",
            shared.display()
        ));
    }
    if Command::new("wrk").arg("--version").output().is_err() {
        return Err("wrk is not installed: apt-get install -y wrk".into());
    }
    run(
        "cargo build --release -p rook-server",
        cargo().args(["build", "--release", "--locked", "-p", "rook-server"]),
    )?;
    let out_dir = root.join("target/bench");
    let mock_target = out_dir.join("mock-target");
    std::fs::create_dir_all(&out_dir).map_err(|e| e.to_string())?;
    run(
        "build the mock upstream",
        Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(shared.join("mock-upstream"))
            .env("CARGO_TARGET_DIR", &mock_target)
            .args(["build", "--release"]),
    )?;
    let server = root.join("target/release/rook-server");
    let config = root.join("bench/rook-bench.toml");
    if args.iter().any(|a| a == "--translated") {
        run(
            "cargo build --release -p rook-test-support (the fake upstream)",
            cargo().args([
                "build",
                "--release",
                "--locked",
                "-p",
                "rook-test-support",
                "--bin",
                "rook-fake-upstream",
            ]),
        )?;
        return translated_bench(
            &shared,
            &root.join("target/release/rook-fake-upstream"),
            &server,
            &root.join("bench/rook-bench-translated.toml"),
        );
    }
    if args.iter().any(|a| a == "--keys") {
        return bench_keys::keys_bench(
            &shared,
            &mock_target.join("release/mock-upstream"),
            &server,
            &out_dir,
        );
    }
    if args.iter().any(|a| a == "--latency") {
        return latency_bench(
            &shared,
            &mock_target.join("release/mock-upstream"),
            &server,
            &config,
        );
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let results = out_dir.join(format!("run-{stamp}"));
    let quick = args.iter().any(|a| a == "--quick");
    let mut cmd = Command::new("bash");
    cmd.arg(shared.join("run-all.sh"))
        .current_dir(&root)
        .env("OUT_DIR", &results)
        .env("MOCK_BIN", mock_target.join("release/mock-upstream"))
        .env(
            "TARGETS",
            env::var("TARGETS").unwrap_or_else(|_| "direct cmd".into()),
        )
        .env("GATEWAY_LABEL", "rook")
        .env("GATEWAY_PORT", "4141")
        .env("GATEWAY_READY_PATH", "/api/health/live")
        .env(
            "GATEWAY_CMD",
            format!("{} --config {}", server.display(), config.display()),
        );
    if quick {
        cmd.env("DURATION", "5").env("CASES", "base");
    }
    run("load harness", &mut cmd)?;
    println!("report: {}", results.join("report.md").display());
    Ok(())
}

/// One c=1 latency case of `run.sh`: (p50 ms, p99 ms).
fn c1_case(shared: &Path, base_url: &str, label: &str, mode: &str) -> Result<(f64, f64), String> {
    let (p50, p99, _) = wrk_case(shared, base_url, "bench-model", label, mode, 1)?;
    Ok((p50, p99))
}

/// One `run.sh` case: p50 and p99 in ms, and requests per second.
fn wrk_case(
    shared: &Path,
    base_url: &str,
    model: &str,
    label: &str,
    mode: &str,
    concurrency: u32,
) -> Result<(f64, f64, f64), String> {
    wrk_case_as(shared, base_url, model, label, mode, concurrency, "unused")
}

/// [`wrk_case`] sending `api_key` as the bearer token.
pub(crate) fn wrk_case_as(
    shared: &Path,
    base_url: &str,
    model: &str,
    label: &str,
    mode: &str,
    concurrency: u32,
    api_key: &str,
) -> Result<(f64, f64, f64), String> {
    let out = Command::new("bash")
        .arg(shared.join("run.sh"))
        .env("API_KEY", api_key)
        .args([base_url, model, label])
        .env("MODES", mode)
        .env("CONCURRENCY", concurrency.to_string())
        .env(
            "DURATION",
            env::var("DURATION").unwrap_or_else(|_| "15".into()),
        )
        .env_remove("RSS_PID")
        .output()
        .map_err(|e| format!("run.sh: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with(label))
        .ok_or_else(|| format!("run.sh printed no result for {label} {mode}: {text}"))?;
    let field = |name: &str| -> Result<f64, String> {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix(name))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("no {name} in: {line}"))
    };
    if field("errors=")? != 0.0 {
        return Err(format!("errors in: {line}"));
    }
    Ok((field("p50=")?, field("p99=")?, field("rps=")?))
}

/// The translation layer's cost: the same fake upstream reached through Rook as
/// an OpenAI-protocol account (same protocol, byte-faithful) and as an
/// Anthropic-protocol account (OpenAI chat → Messages → OpenAI chat), at c=1
/// (latency) and c=32 (throughput), rounds alternating. Gateway on CPU 0, wrk
/// and the fake on CPU 1.
fn translated_bench(
    shared: &Path,
    fake: &Path,
    server: &Path,
    config: &Path,
) -> Result<(), String> {
    let rounds: usize = env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(2);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("/tmp/rook-bench.db{suffix}"));
    }
    let mut fake = spawn_pinned("1", fake, &["--port", "18001", "--no-record"])?;
    let mut gateway = match spawn_pinned("0", server, &["--config", &config.to_string_lossy()]) {
        Ok(g) => g,
        Err(e) => {
            let _ = fake.kill();
            return Err(e);
        }
    };
    let result = (|| -> Result<Vec<String>, String> {
        wait_ready("http://127.0.0.1:18001/v1/models")?;
        wait_ready("http://127.0.0.1:4141/api/health/live")?;
        let base = "http://127.0.0.1:4141/v1";
        let mut rows = Vec::new();
        for round in 1..=rounds {
            for mode in ["nonstream", "stream"] {
                let (s50, s99, _) = wrk_case(shared, base, "bench-openai", "same", mode, 1)?;
                let (t50, t99, _) =
                    wrk_case(shared, base, "bench-anthropic", "translated", mode, 1)?;
                let (_, _, srps) = wrk_case(shared, base, "bench-openai", "same", mode, 32)?;
                let (_, _, trps) =
                    wrk_case(shared, base, "bench-anthropic", "translated", mode, 32)?;
                let row = format!(
                    "| {round} | {mode} | {s50:.3} / {s99:.3} | {t50:.3} / {t99:.3} | {:+.3} / {:+.3} | {srps:.0} | {trps:.0} |",
                    t50 - s50,
                    t99 - s99
                );
                println!("{row}");
                rows.push(row);
            }
        }
        Ok(rows)
    })();
    let _ = gateway.kill();
    let _ = fake.kill();
    let _ = gateway.wait();
    let _ = fake.wait();
    let rows = result?;
    println!(
        "\n| round | mode | same protocol p50 / p99 ms (c=1) | translated p50 / p99 ms (c=1) | translation adds | same req/s (c=32) | translated req/s (c=32) |\n|---|---|---:|---:|---:|---:|---:|"
    );
    for row in rows {
        println!("{row}");
    }
    Ok(())
}

/// Starts `cmd` pinned to `cpus` with `taskset`.
pub(crate) fn spawn_pinned(
    cpus: &str,
    cmd: &Path,
    args: &[&str],
) -> Result<std::process::Child, String> {
    Command::new("taskset")
        .args(["-c", cpus])
        .arg(cmd)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", cmd.display()))
}

pub(crate) fn wait_ready(url: &str) -> Result<(), String> {
    for _ in 0..100 {
        let ok = Command::new("curl")
            .args(["-sf", "-o", "/dev/null", "--max-time", "1", url])
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Err(format!("{url} did not become ready"))
}

/// c=1 latency, direct vs Rook, on the harness's pinning (gateway on CPU 0, wrk and
/// the mock on CPU 1) and with its own `run.sh`, but without the RSS sampler that
/// `run-all.sh` runs during every case (it forks `ps` and `awk` twice a second; see
/// docs/performance.md). Rounds alternate direct and Rook so that both see the
/// same machine.
fn latency_bench(shared: &Path, mock: &Path, server: &Path, config: &Path) -> Result<(), String> {
    let rounds: usize = env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    // A fresh registry: the file with its WAL and shared-memory files (a WAL left
    // behind without its database would be replayed into the new one).
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("/tmp/rook-bench.db{suffix}"));
    }
    let mut mock = spawn_pinned("1", mock, &["--port", "18000", "--chunks", "16"])?;
    let mut gateway = match spawn_pinned("0", server, &["--config", &config.to_string_lossy()]) {
        Ok(g) => g,
        Err(e) => {
            let _ = mock.kill();
            return Err(e);
        }
    };
    let result = (|| -> Result<Vec<String>, String> {
        wait_ready("http://127.0.0.1:18000/health")?;
        wait_ready("http://127.0.0.1:4141/api/health/live")?;
        let mut rows = Vec::new();
        for round in 1..=rounds {
            for mode in ["nonstream", "stream"] {
                let (d50, d99) = c1_case(shared, "http://127.0.0.1:18000/v1", "direct", mode)?;
                let (r50, r99) = c1_case(shared, "http://127.0.0.1:4141/v1", "rook", mode)?;
                let row = format!(
                    "| {round} | {mode} | {d50:.3} / {d99:.3} | {r50:.3} / {r99:.3} | +{:.3} / +{:.3} |",
                    r50 - d50,
                    r99 - d99
                );
                println!("{row}");
                rows.push(row);
            }
        }
        Ok(rows)
    })();
    let _ = gateway.kill();
    let _ = mock.kill();
    let _ = gateway.wait();
    let _ = mock.wait();
    let rows = result?;
    println!(
        "\n| round | mode | direct p50 / p99 ms | rook p50 / p99 ms | added p50 / p99 ms |\n|---|---|---:|---:|---:|"
    );
    for row in rows {
        println!("{row}");
    }
    Ok(())
}
