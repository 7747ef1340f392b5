//! Shared pieces: the CLI error type, configuration loading and opening the
//! registry without creating it.

use std::fmt::Write as _;

use rook_gateway::rook_config::{self, redact_database_url, ConfigError, LoadOptions, Loaded};
use rook_gateway::rook_registry::{ConnectOptions, Registry, RegistryError};

use crate::GlobalArgs;

/// Exit code of every failure.
pub(crate) const EXIT_FAIL: u8 = 2;

/// A failure to report on stderr, with the process exit code.
#[derive(Debug)]
pub(crate) struct CliError {
    /// What went wrong (no secret values).
    pub message: String,
    /// Exit code.
    pub code: u8,
}

impl CliError {
    /// A failure with exit code 2.
    pub(crate) fn fail(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            code: EXIT_FAIL,
        }
    }
}

/// Formats a configuration error with every problem on its own line.
pub(crate) fn describe_config_error(e: &ConfigError) -> String {
    let problems = e.problems();
    if problems.is_empty() {
        return e.to_string();
    }
    let title = match e {
        ConfigError::Parse(_) => "configuration cannot be parsed",
        _ => "invalid configuration",
    };
    let mut out = format!(
        "{title} ({} problem{}):",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems {
        let _ = write!(out, "\n  {p}");
    }
    out
}

/// The load options of the global flags.
pub(crate) fn load_options(g: &GlobalArgs) -> LoadOptions {
    LoadOptions {
        config_path: g.config.clone(),
        overrides: rook_config::Overrides {
            database_url: g.database_url.clone(),
            ..Default::default()
        },
    }
}

/// Loads and validates the configuration; prints the loader's warnings on
/// stderr.
pub(crate) fn load_config(g: &GlobalArgs) -> Result<Loaded, CliError> {
    let loaded = rook_config::load(&load_options(g))
        .map_err(|e| CliError::fail(describe_config_error(&e)))?;
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    Ok(loaded)
}

/// A registry error as a CLI failure, with guidance where it helps.
pub(crate) fn registry_error(e: RegistryError) -> CliError {
    let message = match &e {
        RegistryError::DatabaseMissing { .. } => format!(
            "{e}: nothing was created; run `rook-cli db migrate` (or start the server) first"
        ),
        RegistryError::Unavailable { .. } => {
            format!("{e}: check database_url and that the database server is running")
        }
        _ => e.to_string(),
    };
    CliError::fail(message)
}

/// Opens an existing, migrated registry: never creates a database file or
/// schema and never migrates. Pending migrations are an error.
pub(crate) async fn open_existing(database_url: &str) -> Result<Registry, CliError> {
    let registry = Registry::connect(
        database_url,
        ConnectOptions {
            create_if_missing: false,
            migrate: false,
            max_connections: 2,
            schema: None,
        },
    )
    .await
    .map_err(registry_error)?;
    let status = registry.migration_status().await.map_err(registry_error)?;
    if !status.current {
        return Err(CliError::fail(format!(
            "database {} has pending migrations {:?}: run `rook-cli db migrate` or start the server",
            redact_database_url(database_url),
            status.pending
        )));
    }
    Ok(registry)
}

/// Writes `text` to stdout. A closed pipe (`rook-cli … | head`) is not an
/// error; other write errors are ignored too (there is nowhere to report them).
pub(crate) fn out(text: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// [`out`] plus a newline.
pub(crate) fn outln(text: &str) {
    let mut s = String::with_capacity(text.len() + 1);
    s.push_str(text);
    s.push('\n');
    out(&s);
}
