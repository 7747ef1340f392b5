//! `rook-server --version`, `--completions SHELL` and `--man`, run as built.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rook-server"))
}

#[test]
fn version_completions_and_man_page() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(bin())
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let v = run(&["--version"]);
    assert!(
        v.starts_with(concat!(
            "rook-server ",
            env!("CARGO_PKG_VERSION"),
            " (commit "
        )),
        "{v}"
    );
    assert!(v.contains(", built "), "{v}");
    assert!(run(&["--completions", "bash"]).contains("rook-server"));
    assert!(run(&["--man"]).contains(".TH rook-server 1"));
}
