//! `secrets rotate-master` refusals and `doctor` on inline keys at rest: plaintext rows
//! from earlier versions warn, keys that do not open fail, a bad master key fails.
//! (The rotation itself, end to end with a running server on SQLite and PostgreSQL, is
//! in `bins/rook-server/tests/security_rest.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::{check, Env};

const MASTER_A: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const MASTER_B: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
const LEGACY: &str = "sk-legacy-CANARY-77aa";

fn config(env: &Env, master_key: bool) -> String {
    let secrets = if master_key {
        "[secrets]\nmaster_key_env = \"ROOK_MASTER_KEY\"\n"
    } else {
        ""
    };
    let toml = format!("database_url = \"{}\"\n{secrets}", env.db_url());
    env.config(&toml).display().to_string()
}

/// A migrated database with API account `legacy` whose key is stored in plaintext, as
/// earlier versions of Rook did.
fn legacy_database(env: &Env, cfg: &str) {
    env.run(&["db", "migrate", "--config", cfg], &[])
        .assert_code(0);
    env.run(
        &[
            "accounts",
            "add",
            "--id",
            "legacy",
            "--vendor",
            "custom",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--config",
            cfg,
        ],
        &[],
    )
    .assert_code(0);
    let script = "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nc.execute(\"UPDATE accounts SET api_key = ? WHERE id = 'legacy'\", (sys.argv[2],))\nc.commit()";
    let out = std::process::Command::new("python3")
        .args(["-c", script, &env.db_path().display().to_string(), LEGACY])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn doctor_warns_about_plaintext_keys_and_rotation_seals_them() {
    let env = Env::new();
    let plain_cfg = config(&env, false);
    legacy_database(&env, &plain_cfg);

    let run = env.run(&["doctor", "--json", "--config", &plain_cfg], &[]);
    let report = run.json();
    let accounts = check(&report, "accounts");
    assert_eq!(accounts["status"], "warn", "{accounts:#}");
    assert!(
        accounts["summary"].as_str().unwrap().contains("plaintext"),
        "{accounts:#}"
    );
    assert!(
        accounts["guidance"]
            .as_str()
            .unwrap()
            .contains("master_key_env"),
        "{accounts:#}"
    );
    assert_eq!(check(&report, "secrets")["status"], "pass");
    assert!(!run.all().contains(LEGACY));
    // --strict: a warning is exit 1.
    env.run(&["doctor", "--strict", "--config", &plain_cfg], &[])
        .assert_code(1);

    // No current master key: rotate-master seals the plaintext rows under the new one.
    let run = env.run(
        &[
            "secrets",
            "rotate-master",
            "--new-key-env",
            "NEW_KEY",
            "--config",
            &plain_cfg,
        ],
        &[("NEW_KEY", MASTER_A)],
    );
    run.assert_code(0);
    assert!(
        run.stdout.contains("re-encrypted 1 stored key(s)"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("1 were plaintext"), "{}", run.stdout);
    let db = std::fs::read(env.db_path()).unwrap();
    assert!(!db.windows(LEGACY.len()).any(|w| w == LEGACY.as_bytes()));

    // With the right master key the sealed key is fine; with another it fails.
    let cfg = config(&env, true);
    let report = env
        .run(
            &["doctor", "--json", "--config", &cfg],
            &[("ROOK_MASTER_KEY", MASTER_A)],
        )
        .json();
    assert_eq!(check(&report, "accounts")["status"], "pass", "{report:#}");
    let secrets = check(&report, "secrets");
    assert_eq!(secrets["status"], "pass");
    assert!(secrets["details"]["key_id"].is_string());
    let run = env.run(
        &["doctor", "--json", "--config", &cfg],
        &[("ROOK_MASTER_KEY", MASTER_B)],
    );
    run.assert_code(2);
    let accounts = check(&run.json(), "accounts").clone();
    assert_eq!(accounts["status"], "fail");
    assert!(
        accounts["summary"]
            .as_str()
            .unwrap()
            .contains("another master key"),
        "{accounts:#}"
    );
}

#[test]
fn rotate_master_refuses_what_it_cannot_do() {
    let env = Env::new();
    let cfg = config(&env, true);
    env.run(
        &["db", "migrate", "--config", &cfg],
        &[("ROOK_MASTER_KEY", MASTER_A)],
    )
    .assert_code(0);
    let rotate = [
        "secrets",
        "rotate-master",
        "--new-key-env",
        "NEW_KEY",
        "--config",
        &cfg,
    ];
    // The same key.
    let run = env.run(
        &rotate,
        &[("ROOK_MASTER_KEY", MASTER_A), ("NEW_KEY", MASTER_A)],
    );
    run.assert_code(2);
    assert!(run.stderr.contains("is the current one"), "{}", run.stderr);
    // A new key of the wrong length (never echoed).
    let run = env.run(
        &rotate,
        &[("ROOK_MASTER_KEY", MASTER_A), ("NEW_KEY", "abcdef")],
    );
    run.assert_code(2);
    assert!(run.stderr.contains("32"), "{}", run.stderr);
    assert!(!run.stderr.contains("abcdef"), "{}", run.stderr);
    // The current key missing.
    let run = env.run(&rotate, &[("NEW_KEY", MASTER_B)]);
    run.assert_code(2);
    assert!(run.stderr.contains("ROOK_MASTER_KEY"), "{}", run.stderr);
    // Neither flag.
    env.run(&["secrets", "rotate-master", "--config", &cfg], &[])
        .assert_code(2);
    // Doctor fails on the malformed key too.
    let report = env
        .run(
            &["doctor", "--json", "--config", &cfg],
            &[("ROOK_MASTER_KEY", "abcdef")],
        )
        .json();
    assert_eq!(check(&report, "secrets")["status"], "fail");
}
