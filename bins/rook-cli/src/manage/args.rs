//! The clap arguments of `accounts`, `pools` and `routes`, and the entity kinds.

use clap::{Args, Subcommand};

/// Where changes go.
#[derive(Debug, Clone, Args)]
pub(crate) struct Target {
    /// Manage through a running server's admin API (e.g.
    /// http://127.0.0.1:4141) instead of the registry database.
    #[arg(long, global = true, value_name = "URL")]
    pub server: Option<String>,
    /// Environment variable holding the admin token for --server. When it is
    /// unset and the server is on this machine (a loopback URL), the token comes
    /// from the config's admin_auth token source, else from the admin-token file
    /// in the data directory.
    #[arg(
        long,
        global = true,
        value_name = "VAR",
        default_value = "ROOK_ADMIN_TOKEN"
    )]
    pub admin_token_env: String,
}

/// `list` flags.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub(super) const ACCOUNTS_HELP: &str = "\
Examples:
  rook-cli accounts list --json
  rook-cli accounts add --id openai-b --vendor open_ai --api-key-env OPENAI_KEY_B --model gpt-4o=gpt-4o-2024-08-06
  rook-cli accounts set --id openai-b --enabled false
  rook-cli accounts remove --id openai-b
  rook-cli accounts list --server http://127.0.0.1:4141 --admin-token-env ROOK_ADMIN_TOKEN

Without --server the registry database is changed directly (it must exist:
run `rook-cli db migrate` first); a running server sees the change after a
restart. With --server the admin API applies it at once; the admin token is
read from --admin-token-env's variable, else (loopback servers only) from the
config's [admin_auth] source or the server's <data_dir>/admin-token. Entries
declared in the config file are read-only here. Exit codes: 0 done; 2 failure.";

/// `accounts` command.
#[derive(Debug, Args)]
#[command(after_help = ACCOUNTS_HELP)]
pub(crate) struct AccountsArgs {
    #[command(flatten)]
    pub(crate) target: Target,
    #[command(subcommand)]
    pub(super) command: AccountsCommand,
}

#[derive(Debug, Subcommand)]
pub(super) enum AccountsCommand {
    /// Lists accounts (config-declared and API-managed).
    #[command(after_help = ACCOUNTS_HELP)]
    List(ListArgs),
    /// Adds an account (--id and --vendor required).
    #[command(after_help = ACCOUNTS_HELP)]
    Add(AccountFields),
    /// Changes the given fields of an API-managed account.
    #[command(after_help = ACCOUNTS_HELP)]
    Set(AccountFields),
    /// Removes an API-managed account.
    #[command(after_help = ACCOUNTS_HELP)]
    Remove(IdArg),
}

/// Account fields (`add` and `set`).
#[derive(Debug, Args)]
pub(crate) struct AccountFields {
    /// Account id, `[A-Za-z0-9_.-]{1,64}`.
    #[arg(long)]
    pub(crate) id: String,
    /// open_ai | anthropic | google | open_router | deep_seek | custom.
    #[arg(long)]
    pub(crate) vendor: Option<String>,
    /// API base URL (default: the vendor's; required for custom).
    #[arg(long, value_name = "URL")]
    pub(crate) base_url: Option<String>,
    /// Environment variable holding the API key (in the server's environment).
    #[arg(long, value_name = "VAR", conflicts_with = "api_key_file")]
    pub(crate) api_key_env: Option<String>,
    /// File holding the API key (on the server's machine).
    #[arg(long, value_name = "PATH")]
    pub(crate) api_key_file: Option<String>,
    /// Share for the weighted strategy, 1..=1000.
    #[arg(long)]
    pub(crate) weight: Option<u32>,
    /// Order for priority/failover (lower first).
    #[arg(long)]
    pub(crate) priority: Option<u32>,
    /// Whether the account takes traffic.
    #[arg(long, value_name = "true|false")]
    pub(crate) enabled: Option<bool>,
    /// Logical to upstream model name, repeatable; with `set`, replaces the map.
    #[arg(long = "model", value_name = "LOGICAL=UPSTREAM")]
    pub(crate) models: Vec<String>,
    /// Wire protocol: openai | anthropic | gemini (default: the vendor's:
    /// anthropic → anthropic, google → gemini, others → openai).
    #[arg(long, value_name = "PROTOCOL")]
    pub(crate) protocol: Option<String>,
    /// `anthropic-version` header for anthropic-protocol accounts (default
    /// 2023-06-01); "" resets it to the default.
    #[arg(long, value_name = "VERSION")]
    pub(crate) anthropic_version: Option<String>,
    /// `max_tokens` sent to anthropic-protocol accounts when a request gives
    /// none, at least 1 (default 4096).
    #[arg(long, value_name = "N")]
    pub(crate) default_max_tokens: Option<u32>,
    /// Ask openai-protocol upstreams for usage on streams
    /// (`stream_options.include_usage`; default true).
    #[arg(long, value_name = "true|false")]
    pub(crate) stream_usage: Option<bool>,
}

/// `remove` of an account or pool.
#[derive(Debug, Args)]
pub(crate) struct IdArg {
    /// The id.
    #[arg(long)]
    pub(crate) id: String,
}

pub(super) const POOLS_HELP: &str = "\
Examples:
  rook-cli pools list
  rook-cli pools add --id gpt --strategy round_robin --member openai-a --member openai-b
  rook-cli pools set --id gpt --fallback-pool gpt-backup
  rook-cli pools remove --id gpt

Pass an empty --fallback-pool \"\" to clear it. Exit codes: 0 done; 2 failure.";

/// `pools` command.
#[derive(Debug, Args)]
#[command(after_help = POOLS_HELP)]
pub(crate) struct PoolsArgs {
    #[command(flatten)]
    pub(crate) target: Target,
    #[command(subcommand)]
    pub(super) command: PoolsCommand,
}

#[derive(Debug, Subcommand)]
pub(super) enum PoolsCommand {
    /// Lists pools.
    #[command(after_help = POOLS_HELP)]
    List(ListArgs),
    /// Adds a pool (--id, --strategy and at least one --member required).
    #[command(after_help = POOLS_HELP)]
    Add(PoolFields),
    /// Changes the given fields of an API-managed pool.
    #[command(after_help = POOLS_HELP)]
    Set(PoolFields),
    /// Removes an API-managed pool.
    #[command(after_help = POOLS_HELP)]
    Remove(IdArg),
}

/// Pool fields.
#[derive(Debug, Args)]
pub(crate) struct PoolFields {
    /// Pool id.
    #[arg(long)]
    pub(crate) id: String,
    /// priority | failover | round_robin | weighted | least_busy.
    #[arg(long)]
    pub(crate) strategy: Option<String>,
    /// Member account id, repeatable, in order; with `set`, replaces the list.
    #[arg(long = "member", value_name = "ACCOUNT")]
    pub(crate) members: Vec<String>,
    /// Pool tried when every member is unavailable ("" clears it).
    #[arg(long, value_name = "POOL")]
    pub(crate) fallback_pool: Option<String>,
}

pub(super) const ROUTES_HELP: &str = "\
Examples:
  rook-cli routes list
  rook-cli routes add --model gpt-4o --pool gpt
  rook-cli routes set --model gpt-4o --fallback-route gpt-4o-mini
  rook-cli routes remove --model gpt-4o

Pass an empty --fallback-route \"\" to clear it. Exit codes: 0 done; 2 failure.";

/// `routes` command.
#[derive(Debug, Args)]
#[command(after_help = ROUTES_HELP)]
pub(crate) struct RoutesArgs {
    #[command(flatten)]
    pub(crate) target: Target,
    #[command(subcommand)]
    pub(super) command: RoutesCommand,
}

#[derive(Debug, Subcommand)]
pub(super) enum RoutesCommand {
    /// Lists routes.
    #[command(after_help = ROUTES_HELP)]
    List(ListArgs),
    /// Adds a route (--model and --pool required).
    #[command(after_help = ROUTES_HELP)]
    Add(RouteFields),
    /// Changes the given fields of an API-managed route.
    #[command(after_help = ROUTES_HELP)]
    Set(RouteFields),
    /// Removes an API-managed route.
    #[command(after_help = ROUTES_HELP)]
    Remove(ModelArg),
}

/// Route fields.
#[derive(Debug, Args)]
pub(crate) struct RouteFields {
    /// The logical model clients ask for.
    #[arg(long)]
    pub(crate) model: String,
    /// Pool serving it.
    #[arg(long)]
    pub(crate) pool: Option<String>,
    /// Another route's model to fall back to ("" clears it).
    #[arg(long, value_name = "MODEL")]
    pub(crate) fallback_route: Option<String>,
}

/// `routes remove`.
#[derive(Debug, Args)]
pub(crate) struct ModelArg {
    /// The logical model.
    #[arg(long)]
    pub(crate) model: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Entity {
    Account,
    Pool,
    Route,
}

impl Entity {
    pub(super) fn singular(self) -> &'static str {
        match self {
            Entity::Account => "account",
            Entity::Pool => "pool",
            Entity::Route => "route",
        }
    }
    pub(super) fn plural(self) -> &'static str {
        match self {
            Entity::Account => "accounts",
            Entity::Pool => "pools",
            Entity::Route => "routes",
        }
    }
    /// Fields sent to the admin API, in the config file's names.
    pub(super) fn fields(self) -> &'static [&'static str] {
        match self {
            Entity::Account => &[
                "id",
                "vendor",
                "base_url",
                "api_key_env",
                "api_key_file",
                "enabled",
                "weight",
                "priority",
                "models",
                "protocol",
                "anthropic_version",
                "default_max_tokens",
                "stream_usage",
            ],
            Entity::Pool => &["id", "strategy", "members", "fallback_pool"],
            Entity::Route => &["model", "pool", "fallback_route"],
        }
    }
}
