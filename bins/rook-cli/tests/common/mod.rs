//! Helpers shared by the rook-cli integration tests.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::new_without_default
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A scratch directory with a config file.
pub(crate) struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub(crate) fn new() -> Self {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `config.toml` and returns its path.
    pub(crate) fn config(&self, toml: &str) -> PathBuf {
        let p = self.path("config.toml");
        std::fs::write(&p, toml).unwrap();
        p
    }

    pub(crate) fn db_path(&self) -> PathBuf {
        self.path("data/rook.db")
    }

    pub(crate) fn db_url(&self) -> String {
        format!("sqlite://{}", self.db_path().display())
    }

    /// A command with a clean environment (no ROOK_* from the host, no
    /// config discovery) plus `vars`.
    pub(crate) fn cmd(&self, args: &[&str], vars: &[(&str, &str)]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_rook-cli"));
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.dir.path().join("xdg"))
            .current_dir(self.dir.path())
            .args(args);
        for (k, v) in vars {
            c.env(k, v);
        }
        c
    }

    pub(crate) fn run(&self, args: &[&str], vars: &[(&str, &str)]) -> Run {
        Run::from(self.cmd(args, vars).output().unwrap())
    }
}

/// The result of one run.
pub(crate) struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    pub(crate) fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    #[track_caller]
    pub(crate) fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "unexpected exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// A check of a doctor JSON report by name.
pub(crate) fn check<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {report:#}"))
}

pub(crate) fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

pub(crate) fn exists(p: &Path) -> bool {
    p.exists()
}

/// The Postgres URL for tests, or `None` after printing "skipped" (and
/// failing when `CI` is set).
pub(crate) fn postgres_url(test: &str) -> Option<String> {
    match std::env::var("ROOK_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            eprintln!("{test}: skipped (ROOK_TEST_POSTGRES_URL is not set)");
            assert!(
                std::env::var_os("CI").is_none(),
                "{test}: ROOK_TEST_POSTGRES_URL must be set in CI"
            );
            None
        }
    }
}
