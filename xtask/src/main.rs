//! Repository automation for Rook: `cargo xtask <task>`.
//!
//! - `ci`: exactly what CI runs: format check, clippy with `-D warnings`, the tests
//!   (nextest), the doc tests, rustdoc with `-D warnings`, and
//!   `cargo deny check bans licenses sources`.
//! - `bench`: builds the release server and runs the shared load harness
//!   (`../shared/bench`) with Rook beside the direct mock; see `docs/performance.md`.
//! - `release`: a release build of both binaries, with their sizes.
//! - `dist`: release builds of both binaries, their shell completions (bash, zsh,
//!   fish) and man pages, a CycloneDX SBOM, a manifest and `SHA256SUMS` in `target/dist/`.
//! - `install-check`: `cargo install --path` of both binaries into a temporary root,
//!   then `--version` and `rook-cli doctor` run from there (part of `ci`).
//! - `demo`: runs `rook-server` (examples/quickstart.toml) in front of the bundled
//!   fake upstream, so Rook can be tried without a provider key.
//! - `fuzz`: builds and runs the fuzz targets of `crates/rook-fuzz` for
//!   `--minutes N` (default 10; `--target NAME` for one); see `docs/fuzzing.md`.
#![forbid(unsafe_code)]
#![allow(clippy::print_stdout)]

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod bench;
mod bench_keys;
mod dist;
mod fuzz;
mod install_check;
mod sbom;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let task = args.first().map(String::as_str).unwrap_or("help");
    let result = match task {
        "ci" => ci(),
        "bench" => bench::bench(&args[1..]),
        "release" => release(),
        "demo" => demo(),
        "fuzz" => fuzz::fuzz(&args[1..]),
        "dist" => dist::dist(&args[1..]),
        "install-check" => install_check::install_check(args.iter().any(|a| a == "--release")),
        _ => {
            println!(
                "usage: cargo xtask <task>\n\n\
                 tasks:\n  ci       fmt check, clippy -D warnings, tests (nextest), doc tests, cargo deny\n  \
                 bench    release build + load harness against a local mock upstream (docs/performance.md);\n           \
                 --quick: base case only, 5 s per case; --latency: c=1 latency only, direct vs rook,\n           \
                 alternating rounds, without the harness's RSS sampler; --translated: OpenAI chat to an\n           \
                 OpenAI-protocol vs an Anthropic-protocol account (the translation's cost); --keys: one\n           \
                 inbound token vs 200 client keys with scopes, budgets and limits (the key lookup's cost)\n  \
                 release  release build of rook-server and rook-cli\n  \
                 dist     release builds, completions, man pages, SBOM, manifest and SHA256SUMS in\n           \
                 target/dist/ (--debug: from debug builds, to check the task quickly)\n  \
                 install-check  cargo install both binaries into target/install-check (--debug, reusing\n           \
                 the build; --release for an optimised one) and run --version and rook-cli doctor\n  \
                 demo     run rook-server with examples/quickstart.toml in front of the bundled fake upstream\n  \
                 fuzz     build and run the fuzz targets (crates/rook-fuzz) for --minutes N (default 10),\n           \
                 --target NAME for one; failing inputs go to fuzz/corpus/<target>/ (docs/fuzzing.md)"
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

/// The target directory builds go to (`CARGO_TARGET_DIR`, else `target/`).
fn target_dir() -> PathBuf {
    env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { root().join(p) })
        .unwrap_or_else(|| root().join("target"))
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
    install_check::install_check(false)?;
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
