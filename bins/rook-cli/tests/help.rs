//! Every command's `--help` carries an example; `doctor --help` documents
//! the exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::Env;

#[test]
fn every_command_has_an_example() {
    let env = Env::new();
    let commands: &[&[&str]] = &[
        &[],
        &["doctor"],
        &["usage"],
        &["usage", "report"],
        &["config"],
        &["config", "export"],
        &["config", "validate"],
        &["db"],
        &["db", "migrate"],
        &["accounts"],
        &["accounts", "list"],
        &["accounts", "add"],
        &["accounts", "set"],
        &["accounts", "remove"],
        &["pools"],
        &["pools", "add"],
        &["routes"],
        &["routes", "set"],
    ];
    for c in commands {
        let mut args = c.to_vec();
        args.push("--help");
        let run = env.run(&args, &[]);
        run.assert_code(0);
        assert!(
            run.stdout.contains("Example"),
            "{c:?} --help has no example"
        );
        assert!(
            run.stdout.contains("  rook-cli "),
            "{c:?} --help has no example"
        );
    }
    let run = env.run(&["doctor", "--help"], &[]);
    for line in [
        "0  every check passed",
        "1  --strict",
        "2  at least one check failed",
    ] {
        assert!(
            run.stdout.contains(line),
            "{line:?} missing:\n{}",
            run.stdout
        );
    }
}
