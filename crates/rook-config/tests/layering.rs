//! The loader: file discovery, layer order, environment naming and warnings.
//! Uses `figment::Jail`, which serialises tests touching the environment
//! and gives each a temporary working directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// figment::Jail closures return figment::Error, which is large by design.
#![allow(clippy::result_large_err)]

use std::path::PathBuf;

use figment::Jail;
use rook_config::{load, ConfigError, LoadOptions, LogFormat, Overrides};

/// Points XDG_CONFIG_HOME and HOME into the jail so the developer's own
/// config files are never read.
fn isolate(jail: &mut Jail) -> PathBuf {
    let dir = jail.directory().to_path_buf();
    jail.set_env("XDG_CONFIG_HOME", dir.join("xdg").display());
    jail.set_env("HOME", dir.join("home").display());
    dir
}

fn opts(path: Option<&str>) -> LoadOptions {
    LoadOptions {
        config_path: path.map(PathBuf::from),
        overrides: Overrides::default(),
    }
}

#[test]
fn defaults_without_file_or_env() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        isolate(jail);
        let loaded = load(&LoadOptions::default()).unwrap();
        assert_eq!(loaded.config, rook_config::Config::default());
        assert_eq!(loaded.source, None);
        Ok(())
    });
}

#[test]
fn layer_order_defaults_file_env_flags() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        isolate(jail);
        jail.create_file(
            "rook.toml",
            r#"
            host = "10.0.0.1"
            port = 5000
            log_level = "debug"
            log_format = "json"
            [upstream]
            connect_timeout_ms = 1234
            "#,
        )?;
        // file over defaults
        let c = load(&opts(Some("rook.toml"))).unwrap().config;
        assert_eq!(
            (c.host.as_str(), c.port, c.log_level.as_str()),
            ("10.0.0.1", 5000, "debug")
        );
        assert_eq!(c.upstream.connect_timeout_ms, 1234);
        assert_eq!(c.upstream.first_byte_timeout_ms, 60_000); // default kept

        // env over file
        jail.set_env("ROOK_PORT", "6000");
        jail.set_env("ROOK_LOG_LEVEL", "rook=trace,warn");
        jail.set_env("ROOK_UPSTREAM__FIRST_BYTE_TIMEOUT_MS", "777");
        let loaded = load(&opts(Some("rook.toml"))).unwrap();
        let c = loaded.config;
        assert_eq!(loaded.source, Some(PathBuf::from("rook.toml")));
        assert_eq!((c.host.as_str(), c.port), ("10.0.0.1", 6000));
        assert_eq!(c.log_level, "rook=trace,warn");
        assert_eq!(c.upstream.connect_timeout_ms, 1234); // file value kept
        assert_eq!(c.upstream.first_byte_timeout_ms, 777);

        // flags over env
        let o = LoadOptions {
            config_path: Some("rook.toml".into()),
            overrides: Overrides {
                host: Some("127.0.0.2".into()),
                port: Some(7000),
                database_url: Some("postgres://rook@db/rook".into()),
                log_format: Some(LogFormat::Text),
                log_level: Some("error".into()),
            },
        };
        let c = load(&o).unwrap().config;
        assert_eq!((c.host.as_str(), c.port), ("127.0.0.2", 7000));
        assert_eq!(c.database_url, "postgres://rook@db/rook");
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.log_level, "error");
        assert_eq!(c.upstream.first_byte_timeout_ms, 777); // env value kept
        Ok(())
    });
}

#[test]
fn env_nested_keys_and_types() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        isolate(jail);
        jail.set_env("ROOK_UPSTREAM_RESILIENCE__MAX_BUFFERED_ATTEMPTS", "5");
        jail.set_env("ROOK_UPSTREAM_RESILIENCE__RETRY_BUDGET_RATIO", "0.5");
        jail.set_env("ROOK_UPSTREAM_RESILIENCE__MAX_COOLED_SHARE", "1");
        jail.set_env("ROOK_INBOUND_AUTH__ENABLED", "true");
        jail.set_env("ROOK_INBOUND_AUTH__BEARER_TOKEN_FILE", "/run/secrets/rook");
        jail.set_env("ROOK_ADMIN_AUTH__PROBES_WITHOUT_AUTH", "false");
        jail.set_env("ROOK_USAGE__ENABLED", "false");
        jail.set_env("ROOK_HOST", "0.0.0.0");
        jail.set_env("ROOK_DATABASE_URL", "sqlite:///var/lib/rook/rook.db");
        jail.set_env("rook_log_format", "json"); // prefix and keys are case-insensitive
        let loaded = load(&LoadOptions::default()).unwrap();
        let c = loaded.config;
        assert_eq!(c.upstream_resilience.max_buffered_attempts, 5);
        assert_eq!(c.upstream_resilience.retry_budget_ratio, 0.5);
        assert_eq!(c.upstream_resilience.max_cooled_share, 1.0);
        assert!(c.inbound_auth.enabled);
        assert_eq!(
            c.inbound_auth.bearer_token_file,
            Some(PathBuf::from("/run/secrets/rook"))
        );
        assert!(!c.admin_auth.probes_without_auth);
        assert!(!c.usage.enabled);
        assert_eq!(c.host, "0.0.0.0");
        assert_eq!(c.database_url, "sqlite:///var/lib/rook/rook.db");
        assert_eq!(c.log_format, LogFormat::Json);
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        Ok(())
    });
}

#[test]
fn unknown_rook_env_vars_are_warned_by_name_not_failed() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        isolate(jail);
        jail.create_file(
            "rook.toml",
            r#"
            [inbound_auth]
            enabled = true
            [[accounts]]
            id = "a"
            vendor = "open_ai"
            api_key_env = "ROOK_OPENAI_KEY"
            "#,
        )?;
        jail.set_env("ROOK_TOKEN", "tok-SECRETVALUE");
        jail.set_env("ROOK_ADMIN_TOKEN", "adm-SECRETVALUE");
        jail.set_env("ROOK_OPENAI_KEY", "sk-SECRETVALUE");
        jail.set_env("ROOK_CONFIG", "rook.toml");
        jail.set_env("ROOK_PROT", "SECRETVALUE");
        jail.set_env("ROOK_UPSTREAM__NOPE", "SECRETVALUE");
        jail.set_env("ROOK_ACCOUNTS", "SECRETVALUE"); // arrays are file-only
        jail.set_env("ROOK_PRICING__GPT__INPUT_USD_PER_MILLION", "1");
        let loaded = load(&opts(Some("rook.toml"))).unwrap();
        assert_eq!(loaded.config.accounts.len(), 1);
        assert!(loaded.config.pricing.is_empty());
        let w = loaded.warnings.join("\n");
        assert_eq!(loaded.warnings.len(), 4, "{w}");
        for name in [
            "ROOK_ACCOUNTS",
            "ROOK_PRICING__GPT__INPUT_USD_PER_MILLION",
            "ROOK_PROT",
            "ROOK_UPSTREAM__NOPE",
        ] {
            assert!(w.contains(name), "{name} not in {w}");
        }
        // Secret references and reserved names are not warned about.
        for name in [
            "ROOK_TOKEN\n",
            "ROOK_ADMIN_TOKEN",
            "ROOK_OPENAI_KEY",
            "ROOK_CONFIG",
        ] {
            assert!(
                !format!("{w}\n").contains(&format!("{name}:")),
                "{name} warned: {w}"
            );
        }
        assert!(!w.contains("SECRETVALUE"));
        Ok(())
    });
}

#[test]
fn secret_env_vars_are_warned_when_not_referenced() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        isolate(jail);
        jail.set_env("ROOK_OPENAI_KEY", "sk-x");
        let loaded = load(&LoadOptions::default()).unwrap();
        assert_eq!(loaded.warnings.len(), 1);
        assert!(loaded.warnings[0].contains("ROOK_OPENAI_KEY"));
        Ok(())
    });
}

#[test]
fn bad_env_values_fail_naming_the_variable() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        isolate(jail);
        jail.set_env("ROOK_PORT", "high");
        let e = load(&LoadOptions::default()).unwrap_err();
        assert!(matches!(e, ConfigError::Parse(_)));
        let msg = e.to_string();
        assert!(msg.contains("port:") && msg.contains("ROOK_PORT"), "{msg}");

        jail.set_env("ROOK_PORT", "4141");
        jail.set_env("ROOK_UPSTREAM_RESILIENCE__MAX_BUFFERED_ATTEMPTS", "yes");
        let msg = load(&LoadOptions::default()).unwrap_err().to_string();
        assert!(
            msg.contains("ROOK_UPSTREAM_RESILIENCE__MAX_BUFFERED_ATTEMPTS"),
            "{msg}"
        );
        Ok(())
    });
}

#[test]
fn validation_runs_on_env_and_flag_layers() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        isolate(jail);
        jail.set_env("ROOK_PORT", "0");
        jail.set_env("ROOK_UPSTREAM_RESILIENCE__MAX_BUFFERED_ATTEMPTS", "0");
        let e = load(&LoadOptions::default()).unwrap_err();
        assert!(matches!(&e, ConfigError::Invalid(p) if p.len() == 2), "{e}");

        jail.set_env("ROOK_PORT", "4141");
        jail.set_env("ROOK_UPSTREAM_RESILIENCE__MAX_BUFFERED_ATTEMPTS", "3");
        let o = LoadOptions {
            config_path: None,
            overrides: Overrides {
                port: Some(0),
                database_url: Some("redis://x".into()),
                ..Overrides::default()
            },
        };
        let e = load(&o).unwrap_err();
        let keys: Vec<_> = e.problems().iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["port", "database_url"]);
        Ok(())
    });
}

#[test]
fn explicit_missing_file_is_an_error() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        isolate(jail);
        let e = load(&opts(Some("nope.toml"))).unwrap_err();
        assert!(
            matches!(&e, ConfigError::NotFound { path } if path == &PathBuf::from("nope.toml"))
        );
        assert!(e.to_string().contains("nope.toml"));
        jail.create_dir("adir")?;
        let e = load(&opts(Some("adir"))).unwrap_err();
        assert!(matches!(e, ConfigError::Read { .. }), "{e}");
        Ok(())
    });
}

#[test]
fn file_errors_name_the_file() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        isolate(jail);
        jail.create_file("bad.toml", "[limits]\nmax_body = 1")?;
        let msg = load(&opts(Some("bad.toml"))).unwrap_err().to_string();
        assert!(
            msg.contains("limits.max_body") && msg.contains("bad.toml"),
            "{msg}"
        );
        Ok(())
    });
}

#[test]
fn xdg_then_home_discovery() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        let dir = isolate(jail);
        // Neither exists: defaults.
        assert_eq!(load(&LoadOptions::default()).unwrap().source, None);

        // HOME fallback.
        jail.create_dir("home/.config/rook")?;
        jail.create_file("home/.config/rook/config.toml", "port = 2001")?;
        let loaded = load(&LoadOptions::default()).unwrap();
        assert_eq!(loaded.config.port, 2001);
        assert_eq!(
            loaded.source,
            Some(dir.join("home/.config/rook/config.toml"))
        );

        // XDG wins over HOME.
        jail.create_dir("xdg/rook")?;
        jail.create_file("xdg/rook/config.toml", "port = 2002")?;
        let loaded = load(&LoadOptions::default()).unwrap();
        assert_eq!(loaded.config.port, 2002);
        assert_eq!(loaded.source, Some(dir.join("xdg/rook/config.toml")));
        assert_eq!(
            rook_config::discover_config_path(),
            Some(dir.join("xdg/rook/config.toml"))
        );

        // An explicit path wins over both.
        jail.create_file("explicit.toml", "port = 2003")?;
        assert_eq!(
            load(&opts(Some("explicit.toml"))).unwrap().config.port,
            2003
        );

        // A relative XDG_CONFIG_HOME is ignored (XDG spec), falling back to HOME.
        jail.set_env("XDG_CONFIG_HOME", "xdg");
        assert_eq!(load(&LoadOptions::default()).unwrap().config.port, 2001);
        Ok(())
    });
}
