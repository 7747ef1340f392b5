//! `config export` and `config validate`.

use rook_gateway::rook_config;

use crate::common::{describe_config_error, load_config, load_options, CliError};
use crate::GlobalArgs;

/// Prints the effective configuration as pretty JSON with secrets redacted.
pub(crate) fn export(g: &GlobalArgs) -> Result<(), CliError> {
    let loaded = load_config(g)?;
    let json = loaded.config.to_redacted_json();
    let text = serde_json::to_string_pretty(&json)
        .map_err(|e| CliError::fail(format!("cannot render the configuration: {e}")))?;
    crate::common::outln(&text);
    Ok(())
}

/// Validates the configuration: prints `valid` or every problem.
pub(crate) fn validate(g: &GlobalArgs) -> Result<(), CliError> {
    match rook_config::load(&load_options(g)) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("warning: {w}");
            }
            match &loaded.source {
                Some(path) => crate::common::outln(&format!("valid ({})", path.display())),
                None => crate::common::outln(
                    "valid (no config file: built-in defaults and environment)",
                ),
            }
            Ok(())
        }
        Err(e) => Err(CliError::fail(describe_config_error(&e))),
    }
}
