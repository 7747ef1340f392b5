//! `cargo xtask install-check`: the documented install path, exercised.
//!
//! `cargo install --locked --path bins/rook-server` (and `bins/rook-cli`) into a
//! temporary root, then the installed binaries are run: `--version` of both (version,
//! commit, build date) and `rook-cli doctor` against a small configuration. CI passes
//! `--debug` and shares the workspace's target directory, so the install reuses the
//! test build instead of compiling a release from scratch (the install path itself is
//! the same; operators drop `--debug`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{cargo, run, target_dir};

const BINS: &[&str] = &["rook-server", "rook-cli"];

/// Runs the check; `release` installs optimised binaries (slow) instead of `--debug`.
pub(crate) fn install_check(release: bool) -> Result<(), String> {
    let target = target_dir();
    let root = target.join("install-check");
    let _ = std::fs::remove_dir_all(&root);
    let started = std::time::Instant::now();
    for bin in BINS {
        let mut cmd = cargo();
        cmd.args(["install", "--locked", "--force", "--path"])
            .arg(Path::new("bins").join(bin))
            .arg("--root")
            .arg(&root)
            .env("CARGO_TARGET_DIR", &target);
        if !release {
            cmd.arg("--debug");
        }
        run(&format!("cargo install --path bins/{bin}"), &mut cmd)?;
    }
    println!(
        "==> installed into {} in {:.0} s",
        root.display(),
        started.elapsed().as_secs_f64()
    );
    let version = env!("CARGO_PKG_VERSION");
    for bin in BINS {
        let out = output(Command::new(installed(&root, bin)).arg("--version"))?;
        let expected = format!("{bin} {version} (commit ");
        if !out.starts_with(&expected) || !out.contains(", built ") {
            return Err(format!(
                "{bin} --version printed {out:?}, expected \"{expected}<commit>, built <date>)\""
            ));
        }
        println!("{}", out.trim());
    }
    doctor(&root)
}

fn installed(root: &Path, bin: &str) -> PathBuf {
    root.join("bin").join(bin)
}

fn output(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `rook-cli doctor` (installed) against a valid configuration with a fresh SQLite
/// database: exit 0 (pass, or warn for the database it has not created yet).
fn doctor(root: &Path) -> Result<(), String> {
    let dir = root.join("doctor");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let config = dir.join("rook.toml");
    let text = format!(
        "host = \"127.0.0.1\"\nport = 4141\ndatabase_url = \"sqlite://{}/rook.db\"\n\n\
         [[accounts]]\nid = \"local\"\nvendor = \"custom\"\nbase_url = \"http://127.0.0.1:9/v1\"\n\n\
         [[pools]]\nid = \"p\"\nstrategy = \"priority\"\nmembers = [\"local\"]\n\n\
         [[routes]]\nmodel = \"m\"\npool = \"p\"\n",
        dir.display()
    );
    std::fs::write(&config, text).map_err(|e| format!("{}: {e}", config.display()))?;
    let report = output(
        Command::new(installed(root, "rook-cli"))
            .current_dir(&dir)
            .args(["doctor", "--json", "--config"])
            .arg(&config)
            .env_remove("ROOK_CONFIG")
            .env_remove("ROOK_DATABASE_URL"),
    )?;
    // Exit 0 means no check failed; the report is the JSON document of docs/cli.md.
    if !report.trim_start().starts_with('{') || !report.contains("\"checks\"") {
        return Err(format!(
            "rook-cli doctor --json printed no report: {report}"
        ));
    }
    println!("==> rook-cli doctor (installed): ok");
    Ok(())
}
