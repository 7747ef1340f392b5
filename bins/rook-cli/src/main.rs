//! `rook-cli`: the Rook operator tool.
//!
//! Argument parsing and composition only: `doctor` (pre-flight checks),
//! `usage report` (reads the registry directly), `config export|validate`,
//! `accounts|pools|routes list|add|remove|set`, `keys create|list|show|revoke|rotate`
//! (registry or admin API), `secrets rotate-master`, `db migrate|backup` and
//! `completions SHELL` (and the man page, `man`). See
//! `docs/cli.md`.
//!
//! Exit codes: 0 success, 1 `doctor --strict` found warnings, 2 any failure
//! (invalid configuration, unreachable or missing database, rejected change,
//! bad arguments).
#![allow(clippy::print_stdout)]

mod admin_client;
mod admin_token;
mod common;
mod completions;
mod config_cmd;
mod db;
mod doctor;
mod keys_cmd;
mod manage;
mod secrets_cmd;
mod table;
mod tui;
mod usage;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::common::CliError;

/// `--version`: the package version, the git commit and the build date (`build.rs`).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ROOK_GIT_COMMIT"),
    ", built ",
    env!("ROOK_BUILD_DATE"),
    ")"
);

const MAIN_AFTER_HELP: &str = "\
Examples:
  rook-cli doctor --config /etc/rook/config.toml
  rook-cli usage report --since 7d --group-by model,account
  rook-cli accounts list --json

Exit codes: 0 success; 1 `doctor --strict` found warnings; 2 failure.";

/// The Rook command-line tool: doctor, usage reports, configuration and
/// registry management.
#[derive(Debug, Parser)]
#[command(name = "rook-cli", version = VERSION, after_help = MAIN_AFTER_HELP)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Options every command accepts.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Config file (else $ROOK_CONFIG, else $XDG_CONFIG_HOME/rook/config.toml,
    /// else ~/.config/rook/config.toml, else built-in defaults).
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "ROOK_CONFIG",
        value_name = "PATH"
    )]
    pub config: Option<PathBuf>,
    /// Database URL, overriding the configuration's `database_url`.
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Checks configuration, database, auth posture, bind address, resilience
    /// settings and account keys; optionally probes every account.
    Doctor(doctor::DoctorArgs),
    /// Usage reports read from the registry (the server need not run).
    #[command(
        subcommand,
        after_help = "Example:\n  rook-cli usage report --since 7d --group-by model,account"
    )]
    Usage(UsageCommand),
    /// Export or validate the configuration.
    #[command(
        subcommand,
        after_help = "Examples:\n  rook-cli config validate --config /etc/rook/config.toml\n  rook-cli config export"
    )]
    Config(ConfigCommand),
    /// Manage upstream accounts.
    Accounts(manage::AccountsArgs),
    /// Manage pools of accounts.
    Pools(manage::PoolsArgs),
    /// Manage routes from logical models to pools.
    Routes(manage::RoutesArgs),
    /// Keys at rest: re-encrypt stored API keys under a new master key.
    #[command(subcommand)]
    Secrets(secrets_cmd::SecretsCommand),
    /// Manage client keys (inbound keys with scopes, budgets, limits, expiry).
    Keys(keys_cmd::KeysArgs),
    /// Database maintenance.
    #[command(
        subcommand,
        after_help = "Example:\n  rook-cli db migrate --config /etc/rook/config.toml"
    )]
    Db(DbCommand),
    /// A terminal dashboard of a running server: status, accounts, pools, routes,
    /// usage and live requests; resets and enables/disables accounts.
    #[command(after_help = tui::TUI_HELP)]
    Tui(tui::TuiArgs),
    /// Prints a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(after_help = COMPLETIONS_HELP)]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Prints the man page (roff) of rook-cli.
    #[command(hide = true)]
    Man,
}

const COMPLETIONS_HELP: &str = "\
Examples:
  rook-cli completions bash > /etc/bash_completion.d/rook-cli
  rook-cli completions zsh > \"${fpath[1]}/_rook-cli\"
  rook-cli completions fish > ~/.config/fish/completions/rook-cli.fish";

#[derive(Debug, Subcommand)]
enum UsageCommand {
    /// Totals and per-group aggregates over a time window.
    Report(usage::ReportArgs),
}

const CONFIG_EXPORT_HELP: &str = "\
Example:
  rook-cli config export --config /etc/rook/config.toml > effective.json

Secrets are never printed: tokens and API keys show as \"[redacted]\", the
database password too.";

const CONFIG_VALIDATE_HELP: &str = "\
Example:
  rook-cli config validate --config /etc/rook/config.toml && systemctl reload rook

Exit codes: 0 valid; 2 invalid (every problem is listed, one per line, on stderr).";

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Prints the effective configuration as pretty JSON, secrets redacted.
    #[command(after_help = CONFIG_EXPORT_HELP)]
    Export,
    /// Loads and validates the configuration; lists every problem.
    #[command(after_help = CONFIG_VALIDATE_HELP)]
    Validate,
}

const DB_MIGRATE_HELP: &str = "\
Example:
  rook-cli db migrate --database-url postgres://rook@db.internal/rook

Creates the database (SQLite file) when missing and applies pending
migrations. Exit codes: 0 done; 2 failure.";

const DB_BACKUP_HELP: &str = "\
Example:
  rook-cli db backup /var/backups/rook-$(date +%F).db --config /etc/rook/config.toml

Writes an online, consistent copy of a SQLite registry (the server may keep
running); the file is created with mode 0600 and never overwritten. PostgreSQL
registries are backed up with pg_dump. Exit codes: 0 done; 2 failure.";

#[derive(Debug, Subcommand)]
enum DbCommand {
    /// Creates the database if missing and applies pending migrations.
    #[command(after_help = DB_MIGRATE_HELP)]
    Migrate,
    /// Writes a consistent copy of a SQLite registry to PATH.
    #[command(after_help = DB_BACKUP_HELP)]
    Backup {
        /// Where to write the copy (must not exist).
        path: std::path::PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(run(cli));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}

async fn run(cli: Cli) -> Result<u8, CliError> {
    let g = &cli.global;
    match cli.command {
        Command::Doctor(args) => Ok(doctor::run(g, &args).await),
        Command::Usage(UsageCommand::Report(args)) => usage::run(g, &args).await.map(|()| 0),
        Command::Config(ConfigCommand::Export) => config_cmd::export(g).map(|()| 0),
        Command::Config(ConfigCommand::Validate) => config_cmd::validate(g).map(|()| 0),
        Command::Accounts(args) => manage::accounts(g, args).await.map(|()| 0),
        Command::Pools(args) => manage::pools(g, args).await.map(|()| 0),
        Command::Routes(args) => manage::routes(g, args).await.map(|()| 0),
        Command::Secrets(cmd) => secrets_cmd::run(g, cmd).await.map(|()| 0),
        Command::Keys(args) => keys_cmd::run(g, args).await.map(|()| 0),
        Command::Db(DbCommand::Migrate) => db::migrate(g).await.map(|()| 0),
        Command::Db(DbCommand::Backup { path }) => db::backup(g, &path).await.map(|()| 0),
        Command::Tui(args) => tui::run(g, &args).await.map(|()| 0),
        Command::Completions { shell } => {
            completions::completions::<Cli>(shell, "rook-cli").map(|()| 0)
        }
        Command::Man => completions::man::<Cli>().map(|()| 0),
    }
}
