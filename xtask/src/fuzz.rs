//! `cargo xtask fuzz [--minutes N] [--target NAME] [--seed N]`: builds the
//! fuzz runner of `crates/rook-fuzz` (profile `fuzz`: optimised, debug
//! assertions and overflow checks on) and runs it at low priority
//! (`nice -n 10` when available) for N minutes (default 10) over every
//! target, or one. Failing inputs land in `fuzz/corpus/<target>/`; the
//! runner exits non-zero when it found any. See `docs/fuzzing.md`.

use std::env;
use std::path::PathBuf;
use std::process::Command;

use crate::{cargo, root, run};

pub(crate) fn fuzz(args: &[String]) -> Result<(), String> {
    let mut minutes = "10".to_string();
    let mut passthrough: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| format!("{a} needs a value"))?
            .clone();
        match a.as_str() {
            "--minutes" => {
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|m| *m > 0.0)
                    .ok_or("--minutes takes a positive number")?;
                minutes = value;
            }
            "--target" | "--seed" => passthrough.extend([a.clone(), value]),
            other => {
                return Err(format!(
                    "unknown argument {other} (--minutes N, --target NAME, --seed N)"
                ))
            }
        }
    }
    run(
        "cargo build --profile fuzz -p rook-fuzz",
        cargo().args([
            "build",
            "--profile",
            "fuzz",
            "-p",
            "rook-fuzz",
            "--bin",
            "rook-fuzz",
        ]),
    )?;
    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let runner = target_dir.join("fuzz").join("rook-fuzz");
    let dir = root().join("fuzz");
    let mut runner_args: Vec<String> = vec![
        "--minutes".into(),
        minutes.clone(),
        "--dir".into(),
        dir.display().to_string(),
    ];
    runner_args.extend(passthrough);
    let nice = Command::new("nice")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let mut cmd = if nice {
        let mut c = Command::new("nice");
        c.args(["-n", "10"]).arg(&runner);
        c
    } else {
        Command::new(&runner)
    };
    cmd.args(&runner_args).current_dir(root());
    run(&format!("rook-fuzz for {minutes} min"), &mut cmd)
}
