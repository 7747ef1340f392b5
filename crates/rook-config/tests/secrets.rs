//! Secret resolution and redaction. A canary secret placed in every secret
//! source must never appear in the export, Debug output or error messages.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// figment::Jail closures return figment::Error, which is large by design.
#![allow(clippy::result_large_err)]

use std::path::PathBuf;

use figment::Jail;
use rook_config::{
    load, redact_database_url, AccountConfig, Config, LoadOptions, Overrides, Secret, SecretError,
    SecretSource, Vendor,
};

const CANARY: &str = "CANARY-7f3a9c";

fn isolate(jail: &mut Jail) {
    let dir = jail.directory().to_path_buf();
    jail.set_env("XDG_CONFIG_HOME", dir.join("xdg").display());
    jail.set_env("HOME", dir.join("home").display());
}

#[test]
fn secret_wrapper_redacts() {
    let s = Secret::new(CANARY);
    assert_eq!(s.expose(), CANARY);
    assert_eq!(format!("{s}"), "[redacted]");
    assert_eq!(format!("{s:?}"), "[redacted]");
    assert_eq!(format!("{:?}", Some(s.clone())), "Some([redacted])");
}

#[test]
fn resolve_from_env_and_file() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("KEY_A", format!("  {CANARY}\n"));
        jail.set_env("KEY_EMPTY", "   ");
        jail.create_file("key.txt", &format!("\n{CANARY}\n\n"))?;
        jail.create_file("empty.txt", " \n")?;
        let key_file = jail.directory().join("key.txt");

        let mut a = AccountConfig::new("a", Vendor::OpenAi);
        assert!(a.resolve_api_key().unwrap().is_none());
        a.api_key_env = Some("KEY_A".into());
        assert_eq!(a.resolve_api_key().unwrap().unwrap().expose(), CANARY);
        a.api_key_env = None;
        a.api_key_file = Some(key_file.clone());
        assert_eq!(a.resolve_api_key().unwrap().unwrap().expose(), CANARY);

        let errors = [
            SecretSource::Env("KEY_MISSING".into())
                .resolve()
                .unwrap_err(),
            SecretSource::Env("KEY_EMPTY".into()).resolve().unwrap_err(),
            SecretSource::File("missing.txt".into())
                .resolve()
                .unwrap_err(),
            SecretSource::File("empty.txt".into())
                .resolve()
                .unwrap_err(),
        ];
        assert_eq!(
            errors[0],
            SecretError::EnvMissing {
                var: "KEY_MISSING".into()
            }
        );
        assert_eq!(
            errors[1],
            SecretError::EnvEmpty {
                var: "KEY_EMPTY".into()
            }
        );
        assert!(
            matches!(&errors[2], SecretError::FileUnreadable { path, .. } if path == &PathBuf::from("missing.txt"))
        );
        assert_eq!(
            errors[3],
            SecretError::FileEmpty {
                path: "empty.txt".into()
            }
        );
        assert_eq!(
            errors[0].to_string(),
            "environment variable KEY_MISSING is not set"
        );
        assert!(errors[2].to_string().contains("missing.txt"));
        Ok(())
    });
}

#[test]
fn auth_tokens() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        let mut c = Config::default();
        // Disabled inbound auth resolves to None without reading anything.
        assert!(c.inbound_auth.resolve_token().unwrap().is_none());
        c.inbound_auth.enabled = true;
        assert_eq!(
            c.inbound_auth.resolve_token().unwrap_err(),
            SecretError::EnvMissing {
                var: "ROOK_TOKEN".into()
            }
        );
        jail.set_env("ROOK_TOKEN", "inbound");
        assert_eq!(
            c.inbound_auth.resolve_token().unwrap().unwrap().expose(),
            "inbound"
        );

        assert_eq!(
            c.admin_auth.resolve_token().unwrap_err(),
            SecretError::EnvMissing {
                var: "ROOK_ADMIN_TOKEN".into()
            }
        );
        jail.set_env("ROOK_ADMIN_TOKEN", "admin");
        assert_eq!(c.admin_auth.resolve_token().unwrap().expose(), "admin");

        jail.create_file("admin.txt", "from-file\n")?;
        c.admin_auth.bearer_token_file = Some("admin.txt".into());
        assert_eq!(c.admin_auth.resolve_token().unwrap().expose(), "from-file");
        c.admin_auth.bearer_token_file = None;
        c.admin_auth.bearer_token_env = Some("MY_ADMIN".into());
        assert_eq!(
            c.admin_auth.token_source(),
            SecretSource::Env("MY_ADMIN".into())
        );
        Ok(())
    });
}

#[test]
fn database_url_redaction() {
    assert_eq!(
        redact_database_url(&format!("postgres://rook:{CANARY}@db:5432/rook")),
        "postgres://rook:[redacted]@db:5432/rook"
    );
    assert_eq!(
        redact_database_url("postgres://rook@db/rook"),
        "postgres://rook@db/rook"
    );
}

#[test]
fn canary_never_leaks() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        isolate(jail);
        jail.create_file("key.txt", CANARY)?;
        jail.create_file("token.txt", CANARY)?;
        let key_file = jail.directory().join("key.txt");
        jail.create_file(
            "rook.toml",
            &format!(
                r#"
                database_url = "postgres://rook:{CANARY}@db/rook?password={CANARY}&sslmode=require"
                [inbound_auth]
                enabled = true
                bearer_token_file = "token.txt"
                [[accounts]]
                id = "env"
                vendor = "open_ai"
                api_key_env = "ROOK_OPENAI_KEY"
                [[accounts]]
                id = "file"
                vendor = "anthropic"
                api_key_file = "{}"
                [[accounts]]
                id = "none"
                vendor = "custom"
                base_url = "http://localhost:8080/v1"
                "#,
                key_file.display()
            ),
        )?;
        jail.set_env("ROOK_OPENAI_KEY", CANARY);
        jail.set_env("ROOK_ADMIN_TOKEN", CANARY);
        jail.set_env("ROOK_SOMETHING_ELSE", CANARY);

        let loaded = load(&LoadOptions {
            config_path: Some("rook.toml".into()),
            overrides: Overrides::default(),
        })
        .unwrap();
        let c = &loaded.config;
        // The secrets really are resolvable (so the canary is live).
        assert_eq!(
            c.accounts[0].resolve_api_key().unwrap().unwrap().expose(),
            CANARY
        );
        assert_eq!(
            c.accounts[1].resolve_api_key().unwrap().unwrap().expose(),
            CANARY
        );
        assert_eq!(
            c.inbound_auth.resolve_token().unwrap().unwrap().expose(),
            CANARY
        );
        assert_eq!(c.admin_auth.resolve_token().unwrap().expose(), CANARY);

        let export = c.to_redacted_json();
        let text = serde_json::to_string_pretty(&export).unwrap();
        assert!(!text.contains(CANARY), "{text}");
        assert_eq!(
            export["database_url"],
            "postgres://rook:[redacted]@db/rook?password=[redacted]&sslmode=require"
        );
        assert_eq!(export["inbound_auth"]["token"], "[redacted]");
        assert_eq!(export["inbound_auth"]["token_source"]["file"], "token.txt");
        assert_eq!(export["admin_auth"]["token"], "[redacted]");
        assert_eq!(
            export["admin_auth"]["token_source"]["env"],
            "ROOK_ADMIN_TOKEN"
        );
        assert_eq!(export["accounts"][0]["api_key"], "[redacted]");
        assert_eq!(export["accounts"][0]["api_key_env"], "ROOK_OPENAI_KEY");
        assert_eq!(export["accounts"][1]["api_key"], "[redacted]");
        assert!(export["accounts"][2].get("api_key").is_none());
        assert_eq!(
            export["accounts"][1]["effective_base_url"],
            "https://api.anthropic.com/v1"
        );
        assert_eq!(export["accounts"][1]["effective_protocol"], "anthropic");
        assert_eq!(export["accounts"][1]["protocol"], serde_json::Value::Null);
        assert_eq!(export["accounts"][0]["effective_protocol"], "openai");
        assert_eq!(export["accounts"][1]["stream_usage"], true);
        assert_eq!(export["port"], 4141);

        let debug = format!("{c:?} {loaded:?}");
        assert!(!debug.contains(CANARY), "{debug}");
        let joined = loaded.warnings.join("\n");
        assert!(joined.contains("ROOK_SOMETHING_ELSE") && !joined.contains(CANARY));

        let o = Overrides {
            database_url: Some(format!("postgres://u:{CANARY}@h/db")),
            ..Overrides::default()
        };
        assert!(!format!("{o:?}").contains(CANARY));

        // Error paths: a bad key name, a bad scheme with a password, a
        // failing secret source.
        let errs = [
            Config::from_toml_str(&format!("database_url = \"mysql://u:{CANARY}@h/db\""))
                .unwrap_err()
                .to_string(),
            Config::from_toml_str(&format!("[admin_auth]\nbearer_token_env = \"{CANARY}\""))
                .unwrap_err()
                .to_string(),
            Config::from_toml_str(&format!(
                "[[accounts]]\nid = 'x'\nvendor = 'custom'\nbase_url = \"https://u:{CANARY}@h/v1\""
            ))
            .unwrap_err()
            .to_string(),
            Config::from_toml_str(&format!(
                "[[accounts]]\nid = 'x'\nvendor = 'open_ai'\napi_key = \"{CANARY}\""
            ))
            .unwrap_err()
            .to_string(),
            Config::from_toml_str(&format!("database_url = \"postgres://u:{CANARY}@h/db"))
                .unwrap_err()
                .to_string(),
        ];
        for e in &errs {
            assert!(!e.contains(CANARY), "{e}");
        }
        jail.set_env("ROOK_OPENAI_KEY", "");
        let e = c.accounts[0].resolve_api_key().unwrap_err();
        assert!(!format!("{e} {e:?}").contains(CANARY));
        Ok(())
    });
}

#[test]
fn export_of_defaults_shows_default_token_sources() {
    let export = Config::default().to_redacted_json();
    assert_eq!(export["inbound_auth"]["token_source"]["env"], "ROOK_TOKEN");
    assert_eq!(
        export["admin_auth"]["token_source"]["env"],
        "ROOK_ADMIN_TOKEN"
    );
    assert_eq!(
        export["inbound_auth"]["bearer_token_file"],
        serde_json::Value::Null
    );
    assert_eq!(export["database_url"], "sqlite://rook.db");
    assert_eq!(export["upstream_resilience"]["max_buffered_attempts"], 3);
}
