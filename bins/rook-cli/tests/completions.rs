//! `rook-cli completions SHELL`, the man pages and `--version` of both binaries, run as
//! built: the bash script parses and registers a completion for `rook-cli` when sourced.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

fn cli() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rook-cli"))
}

fn stdout(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn bash_completion_parses_and_registers() {
    let script = stdout(Command::new(cli()).args(["completions", "bash"]));
    assert!(script.contains("doctor") && script.contains("completions"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rook-cli.bash");
    std::fs::write(&path, &script).unwrap();
    let syntax = Command::new("bash").arg("-n").arg(&path).output().unwrap();
    assert!(
        syntax.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    let registered = stdout(Command::new("bash").arg("-c").arg(format!(
        "source '{}' && complete -p rook-cli",
        path.display()
    )));
    assert!(registered.contains("rook-cli"), "{registered}");
    assert!(registered.starts_with("complete "), "{registered}");
}

#[test]
fn every_shell_gets_a_script_and_an_unknown_one_is_refused() {
    for (shell, marker) in [
        ("zsh", "#compdef rook-cli"),
        ("fish", "complete -c rook-cli"),
        ("elvish", "rook-cli"),
        ("powershell", "rook-cli"),
    ] {
        let script = stdout(Command::new(cli()).args(["completions", shell]));
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(script.contains("doctor"), "{shell}");
    }
    let out = Command::new(cli())
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tcsh"));
}

#[test]
fn man_page_names_the_commands() {
    let page = stdout(Command::new(cli()).arg("man"));
    assert!(page.contains(".TH rook-cli 1"), "{page}");
    for sub in ["doctor", "usage", "completions"] {
        assert!(page.contains(sub), "{sub} missing");
    }
}

#[test]
fn version_names_the_commit_and_build_date() {
    let v = stdout(Command::new(cli()).arg("--version"));
    let rest = v
        .trim()
        .strip_prefix(concat!("rook-cli ", env!("CARGO_PKG_VERSION"), " (commit "))
        .unwrap_or_else(|| panic!("{v}"));
    let (commit, date) = rest
        .strip_suffix(')')
        .and_then(|r| r.split_once(", built "))
        .unwrap_or_else(|| panic!("{v}"));
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{v}"
    );
    let parts: Vec<&str> = date.split('-').collect();
    assert_eq!(parts.len(), 3, "{v}");
    assert!(
        parts[0].len() == 4 && parts[1].len() == 2 && parts[2].len() == 2,
        "{v}"
    );
    assert!(date.chars().all(|c| c.is_ascii_digit() || c == '-'), "{v}");
}
