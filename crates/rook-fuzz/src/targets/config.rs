//! `config`: the configuration loader. Any text gives a validated config or
//! a non-empty list of problems, never a panic; a config written back to
//! TOML loads to the same config; the layered loader (file < flags) agrees
//! with `from_toml_str` and applies its flag overrides.

use std::fs;
use std::path::PathBuf;
use std::sync::OnceLock;

use rook_config::{load, Config, ConfigError, LoadOptions, Overrides};

use crate::engine::fnv1a;

/// One scratch file per process for the layered loader.
fn scratch() -> Option<PathBuf> {
    static DIR: OnceLock<Option<tempfile::TempDir>> = OnceLock::new();
    let dir = DIR.get_or_init(|| tempfile::tempdir().ok()).as_ref()?;
    Some(
        dir.path()
            .join(format!("rook-{:?}.toml", std::thread::current().id())),
    )
}

fn problems_listed(e: &ConfigError, what: &str) -> Result<(), String> {
    match e {
        ConfigError::Parse(p) | ConfigError::Invalid(p) => {
            if p.is_empty() || p.iter().any(|x| x.to_string().trim().is_empty()) {
                return Err(format!("{what}: an error without problems: {e}"));
            }
            Ok(())
        }
        other => Err(format!("{what}: unexpected error kind: {other}")),
    }
}

pub(crate) fn check(input: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(input);
    let direct = Config::from_toml_str(&text);
    match &direct {
        Err(e) => problems_listed(e, "from_toml_str")?,
        Ok(c) => {
            if let Err(p) = c.validate() {
                return Err(format!("loaded a config that does not validate: {p:?}"));
            }
            let _ = c.to_redacted_json();
            let _ = c.advice();
            let written = toml::to_string(c)
                .map_err(|e| format!("a loaded config cannot be written as TOML: {e}"))?;
            match Config::from_toml_str(&written) {
                Ok(again) if again == *c => {}
                Ok(_) => return Err(format!("round trip changed the config:\n{written}")),
                Err(e) => return Err(format!("round trip refused: {e}\n{written}")),
            }
        }
    }
    layered(&text, &direct, fnv1a(input))
}

fn layered(text: &str, direct: &Result<Config, ConfigError>, h: u64) -> Result<(), String> {
    let env_is_clean = std::env::vars_os().all(|(k, _)| {
        !k.to_string_lossy()
            .to_ascii_uppercase()
            .starts_with("ROOK_")
    });
    let Some(path) = scratch() else {
        return Ok(());
    };
    if fs::write(&path, text).is_err() {
        return Ok(());
    }
    let plain = load(&LoadOptions {
        config_path: Some(path.clone()),
        overrides: Overrides::default(),
    });
    match (&plain, direct) {
        (Err(e), _) => problems_listed(e, "load")?,
        (Ok(l), Ok(c)) if env_is_clean && l.config != *c => {
            return Err("load and from_toml_str read the same file differently".into())
        }
        (Ok(_), Err(e)) if env_is_clean => {
            return Err(format!("load accepted what from_toml_str refuses: {e}"))
        }
        _ => {}
    }
    if env_is_clean && direct.is_ok() != plain.is_ok() {
        return Err("load and from_toml_str disagree".into());
    }
    let overrides = Overrides {
        host: (h & 1 == 1)
            .then(|| ["127.0.0.1", "::1", "0.0.0.0", ""][(h >> 1) as usize % 4].into()),
        port: (h & 8 == 8).then_some((h >> 4) as u16),
        database_url: (h & 0x10_0000 == 0).then(|| "sqlite://fuzz.db".into()),
        log_format: None,
        log_level: (h & 0x20_0000 == 0).then(|| "debug".into()),
    };
    match load(&LoadOptions {
        config_path: Some(path),
        overrides: overrides.clone(),
    }) {
        Err(e) => problems_listed(&e, "load with flags"),
        Ok(l) => {
            let c = &l.config;
            let applied = overrides.host.as_ref().is_none_or(|h| *h == c.host)
                && overrides.port.is_none_or(|p| p == c.port)
                && overrides
                    .database_url
                    .as_ref()
                    .is_none_or(|d| *d == c.database_url);
            if !applied {
                return Err(format!("flag overrides not applied: {overrides:?}"));
            }
            c.validate()
                .map_err(|p| format!("load with flags gave an invalid config: {p:?}"))
        }
    }
}
