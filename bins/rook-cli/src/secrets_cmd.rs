//! `secrets rotate-master`: re-seals every stored inline API key under a new master key.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use rook_gateway::rook_config::Secrets;
use rook_gateway::rook_registry::seal::Sealer;

use crate::common::{load_config, open_existing, registry_error, CliError};
use crate::GlobalArgs;

const ROTATE_HELP: &str = "\
Example (stop every rook-server first):
  ROOK_MASTER_KEY_NEW=$(openssl rand -hex 32) \\
    rook-cli secrets rotate-master --new-key-env ROOK_MASTER_KEY_NEW --config /etc/rook/config.toml
  # then point [secrets] master_key_env / master_key_file at the new key and start the servers

The current master key is the configuration's [secrets] master_key_env or
master_key_file. Every stored key is opened with it and sealed again with the
new key in ONE transaction (SQLite and PostgreSQL); plaintext keys left by
earlier versions are sealed too. If any stored key cannot be opened with the
current master key, nothing is changed and the accounts are named. A master
key is 32 random bytes, as 64 hex digits or base64.

Exit codes: 0 done; 2 failure (nothing changed).";

/// `secrets` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum SecretsCommand {
    /// Re-encrypts every stored inline API key under a new master key.
    #[command(after_help = ROTATE_HELP)]
    RotateMaster(RotateArgs),
}

/// Where the new master key is.
#[derive(Debug, Args)]
pub(crate) struct RotateArgs {
    /// Environment variable holding the new master key.
    #[arg(
        long,
        value_name = "VAR",
        required_unless_present = "new_key_file",
        conflicts_with = "new_key_file"
    )]
    new_key_env: Option<String>,
    /// File holding the new master key.
    #[arg(long, value_name = "PATH")]
    new_key_file: Option<PathBuf>,
}

pub(crate) async fn run(g: &GlobalArgs, cmd: SecretsCommand) -> Result<(), CliError> {
    match cmd {
        SecretsCommand::RotateMaster(args) => rotate(g, &args).await,
    }
}

async fn rotate(g: &GlobalArgs, args: &RotateArgs) -> Result<(), CliError> {
    let loaded = load_config(g)?;
    let config = &loaded.config;
    let sealer = |key: &rook_gateway::rook_config::MasterKey| {
        Sealer::new(key).map_err(|e| CliError::fail(format!("master key: {e}")))
    };
    let current = match config.secrets.resolve_master_key() {
        Ok(Some(key)) => Some(sealer(&key)?),
        Ok(None) => None,
        Err(e) => return Err(CliError::fail(format!("current {e}"))),
    };
    let new_source = Secrets {
        master_key_env: args.new_key_env.clone(),
        master_key_file: args.new_key_file.clone(),
    };
    let new = match new_source.resolve_master_key() {
        Ok(Some(key)) => sealer(&key)?,
        Ok(None) => return Err(CliError::fail("give --new-key-env or --new-key-file")),
        Err(e) => return Err(CliError::fail(format!("new {e}"))),
    };
    if current.as_ref().is_some_and(|c| c.key_id() == new.key_id()) {
        return Err(CliError::fail(format!(
            "the new master key is the current one (key id {}): nothing to do",
            new.key_id()
        )));
    }
    let registry = open_existing(&config.database_url)
        .await?
        .with_sealer(current);
    let result = registry.rotate_master_key(&new).await;
    registry.close().await;
    let report = result.map_err(registry_error)?;
    crate::common::outln(&format!(
        "re-encrypted {} stored key(s) under master key {} ({} were sealed under the previous \
         key, {} were plaintext)",
        report.total(),
        new.key_id(),
        report.resealed,
        report.sealed_legacy
    ));
    eprintln!(
        "now point [secrets] master_key_env or master_key_file at the new key and (re)start every \
         rook-server: a server still holding the previous key cannot open the re-encrypted keys"
    );
    Ok(())
}
