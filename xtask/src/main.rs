//! Repository automation for Rook: `cargo xtask <task>`.
//!
//! - `ci`: exactly what CI runs: format check, clippy with `-D warnings`, the tests
//!   (nextest), the doc tests, rustdoc with `-D warnings`, and
//!   `cargo deny check bans licenses sources`.
//! - `bench`: builds the release server and runs the shared load harness
//!   (`../shared/bench`) with Rook beside the direct mock; see `docs/performance.md`.
//! - `release`: a release build of both binaries, with their sizes.
//! - `demo`: runs `rook-server` (examples/quickstart.toml) in front of the bundled
//!   fake upstream, so Rook can be tried without a provider key.
#![forbid(unsafe_code)]
#![allow(clippy::print_stdout)]

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let task = args.first().map(String::as_str).unwrap_or("help");
    let result = match task {
        "ci" => ci(),
        "bench" => bench(&args[1..]),
        "release" => release(),
        "demo" => demo(),
        _ => {
            println!(
                "usage: cargo xtask <task>\n\n\
                 tasks:\n  ci       fmt check, clippy -D warnings, tests (nextest), doc tests, cargo deny\n  \
                 bench    release build + load harness against a local mock upstream (docs/performance.md)\n  \
                 release  release build of rook-server and rook-cli\n  \
                 demo     run rook-server with examples/quickstart.toml in front of the bundled fake upstream"
            );
            return if task == "help" || task == "--help" {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask {task}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn cargo() -> Command {
    let mut c = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

fn run(step: &str, cmd: &mut Command) -> Result<(), String> {
    println!("==> {step}");
    let status = cmd
        .status()
        .map_err(|e| format!("{step}: cannot start: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{step} failed ({status})"))
    }
}

fn has_subcommand(name: &str) -> bool {
    cargo()
        .args([name, "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn ci() -> Result<(), String> {
    run(
        "cargo fmt --check",
        cargo().args(["fmt", "--all", "--", "--check"]),
    )?;
    run(
        "cargo clippy",
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    if !has_subcommand("nextest") {
        run(
            "install cargo-nextest",
            cargo().args(["install", "--locked", "cargo-nextest"]),
        )?;
    }
    run(
        "cargo nextest run",
        cargo().args([
            "nextest",
            "run",
            "--workspace",
            "--locked",
            "--profile",
            "ci",
        ]),
    )?;
    run(
        "cargo test --doc",
        cargo().args(["test", "--workspace", "--doc", "--locked"]),
    )?;
    run(
        "cargo doc",
        cargo()
            .args(["doc", "--workspace", "--no-deps", "--locked"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    if !has_subcommand("deny") {
        run(
            "install cargo-deny",
            cargo().args(["install", "--locked", "cargo-deny"]),
        )?;
    }
    // `advisories` needs the advisory database from the network, which CI machines
    // cannot reach; bans, licenses and sources are checked offline.
    run(
        "cargo deny check",
        cargo().args(["deny", "--offline", "check", "bans", "licenses", "sources"]),
    )?;
    println!("==> all CI steps passed");
    Ok(())
}

fn release() -> Result<(), String> {
    run(
        "cargo build --release",
        cargo().args([
            "build",
            "--release",
            "--locked",
            "-p",
            "rook-server",
            "-p",
            "rook-cli",
        ]),
    )?;
    for bin in ["rook-server", "rook-cli"] {
        let p = root().join("target/release").join(bin);
        let size = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        println!("{}: {} KiB", p.display(), size / 1024);
    }
    Ok(())
}

fn demo() -> Result<(), String> {
    run(
        "cargo build",
        cargo().args([
            "build",
            "--locked",
            "-p",
            "rook-server",
            "-p",
            "rook-test-support",
            "--bin",
            "rook-server",
            "--bin",
            "rook-fake-upstream",
        ]),
    )?;
    let target = env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("target"));
    let mut fake = Command::new(target.join("debug/rook-fake-upstream"))
        .args(["--port", "4142"])
        .spawn()
        .map_err(|e| format!("cannot start the fake upstream: {e}"))?;
    println!(
        "Rook on http://127.0.0.1:4141/v1 (model \"demo\"); try:\n  \
         curl -s http://127.0.0.1:4141/v1/chat/completions -H 'content-type: application/json' \\\n    \
         -d '{{\"model\":\"demo\",\"messages\":[{{\"role\":\"user\",\"content\":\"hi\"}}]}}'\n\
         Ctrl-C stops both."
    );
    let status = Command::new(target.join("debug/rook-server"))
        .current_dir(root())
        .args(["--config", "examples/quickstart.toml"])
        .status();
    let _ = fake.kill();
    let _ = fake.wait();
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("rook-server exited with {s}")),
        Err(e) => Err(format!("cannot start rook-server: {e}")),
    }
}

fn bench(args: &[String]) -> Result<(), String> {
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
