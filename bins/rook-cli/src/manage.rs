//! `accounts|pools|routes list|add|remove|set`, against the registry
//! directly or, with `--server`, through the admin API.
//!
//! Records are handled as JSON objects with the config file's field names,
//! which are also the registry record and admin API field names.

use clap::{Args, Subcommand};
use http::Method;
use rook_gateway::rook_config::entity::{self, EntityError, Sub};
use rook_gateway::rook_config::{Config, Protocol, Vendor};
use rook_gateway::rook_registry::{AccountRecord, PoolRecord, Registry, RouteRecord, Source};
use serde_json::{Map, Value};

use crate::admin_client::{list_of, record_of, AdminClient};
use crate::common::{load_config, open_existing, registry_error, CliError};
use crate::table::Table;
use crate::GlobalArgs;

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

const ACCOUNTS_HELP: &str = "\
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
    target: Target,
    #[command(subcommand)]
    command: AccountsCommand,
}

#[derive(Debug, Subcommand)]
enum AccountsCommand {
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
    id: String,
    /// open_ai | anthropic | google | open_router | deep_seek | custom.
    #[arg(long)]
    vendor: Option<String>,
    /// API base URL (default: the vendor's; required for custom).
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
    /// Environment variable holding the API key (in the server's environment).
    #[arg(long, value_name = "VAR", conflicts_with = "api_key_file")]
    api_key_env: Option<String>,
    /// File holding the API key (on the server's machine).
    #[arg(long, value_name = "PATH")]
    api_key_file: Option<String>,
    /// Share for the weighted strategy, 1..=1000.
    #[arg(long)]
    weight: Option<u32>,
    /// Order for priority/failover (lower first).
    #[arg(long)]
    priority: Option<u32>,
    /// Whether the account takes traffic.
    #[arg(long, value_name = "true|false")]
    enabled: Option<bool>,
    /// Logical to upstream model name, repeatable; with `set`, replaces the map.
    #[arg(long = "model", value_name = "LOGICAL=UPSTREAM")]
    models: Vec<String>,
    /// Wire protocol: openai | anthropic | gemini (default: the vendor's:
    /// anthropic → anthropic, google → gemini, others → openai).
    #[arg(long, value_name = "PROTOCOL")]
    protocol: Option<String>,
    /// `anthropic-version` header for anthropic-protocol accounts (default
    /// 2023-06-01); "" resets it to the default.
    #[arg(long, value_name = "VERSION")]
    anthropic_version: Option<String>,
    /// `max_tokens` sent to anthropic-protocol accounts when a request gives
    /// none, at least 1 (default 4096).
    #[arg(long, value_name = "N")]
    default_max_tokens: Option<u32>,
    /// Ask openai-protocol upstreams for usage on streams
    /// (`stream_options.include_usage`; default true).
    #[arg(long, value_name = "true|false")]
    stream_usage: Option<bool>,
}

/// `remove` of an account or pool.
#[derive(Debug, Args)]
pub(crate) struct IdArg {
    /// The id.
    #[arg(long)]
    id: String,
}

const POOLS_HELP: &str = "\
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
    target: Target,
    #[command(subcommand)]
    command: PoolsCommand,
}

#[derive(Debug, Subcommand)]
enum PoolsCommand {
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
    id: String,
    /// priority | failover | round_robin | weighted | least_busy.
    #[arg(long)]
    strategy: Option<String>,
    /// Member account id, repeatable, in order; with `set`, replaces the list.
    #[arg(long = "member", value_name = "ACCOUNT")]
    members: Vec<String>,
    /// Pool tried when every member is unavailable ("" clears it).
    #[arg(long, value_name = "POOL")]
    fallback_pool: Option<String>,
}

const ROUTES_HELP: &str = "\
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
    target: Target,
    #[command(subcommand)]
    command: RoutesCommand,
}

#[derive(Debug, Subcommand)]
enum RoutesCommand {
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
    model: String,
    /// Pool serving it.
    #[arg(long)]
    pool: Option<String>,
    /// Another route's model to fall back to ("" clears it).
    #[arg(long, value_name = "MODEL")]
    fallback_route: Option<String>,
}

/// `routes remove`.
#[derive(Debug, Args)]
pub(crate) struct ModelArg {
    /// The logical model.
    #[arg(long)]
    model: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entity {
    Account,
    Pool,
    Route,
}

impl Entity {
    fn singular(self) -> &'static str {
        match self {
            Entity::Account => "account",
            Entity::Pool => "pool",
            Entity::Route => "route",
        }
    }
    fn plural(self) -> &'static str {
        match self {
            Entity::Account => "accounts",
            Entity::Pool => "pools",
            Entity::Route => "routes",
        }
    }
    /// Fields sent to the admin API, in the config file's names.
    fn fields(self) -> &'static [&'static str] {
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

/// Either the registry or a server.
enum Backend {
    /// The registry, and the configuration whose entries are read-only.
    Registry(Registry, Box<Config>),
    Server(Box<AdminClient>),
}

async fn backend(g: &GlobalArgs, target: &Target) -> Result<Backend, CliError> {
    match &target.server {
        Some(url) => Ok(Backend::Server(Box::new(AdminClient::new(
            url,
            &target.admin_token_env,
            g,
        )?))),
        None => {
            let loaded = load_config(g)?;
            let registry = open_existing(&loaded.config.database_url).await?;
            Ok(Backend::Registry(registry, Box::new(loaded.config)))
        }
    }
}

/// An account record whose base URL passes the configured egress policy (the
/// same check as the config file and the admin API).
fn egress_checked(config: &Config, rec: AccountRecord) -> Result<AccountRecord, CliError> {
    let policy = config
        .upstream
        .egress_policy()
        .map_err(|e| CliError::fail(format!("the [upstream] egress policy is invalid: {e}")))?;
    entity::check_egress(&policy, &rec.base_url)
        .map_err(|e| CliError::fail(format!("--base-url: {}", e.message)))?;
    Ok(rec)
}

fn path_segment(id: &str) -> String {
    // Ids are [A-Za-z0-9_.-]; route models may hold more: percent-encode the rest.
    let mut out = String::new();
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<Value, CliError> {
    serde_json::to_value(v).map_err(|e| CliError::fail(format!("cannot render a record: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, CliError> {
    serde_json::from_value(v).map_err(|e| CliError::fail(format!("invalid record: {e}")))
}

fn account_json(a: &AccountRecord) -> Result<Value, CliError> {
    let mut v = to_json(a)?;
    if let Value::Object(o) = &mut v {
        o.insert("has_api_key".into(), Value::Bool(a.has_api_key()));
    }
    Ok(v)
}

impl Backend {
    /// Refuses to change an entry the config file declares (registry mode;
    /// the server checks this itself).
    fn check_not_declared(&self, e: Entity, id: &str) -> Result<(), CliError> {
        let Backend::Registry(_, config) = self else {
            return Ok(());
        };
        let declared = match e {
            Entity::Account => config.account(id).is_some(),
            Entity::Pool => config.pool(id).is_some(),
            Entity::Route => config.route(id).is_some(),
        };
        if declared {
            return Err(CliError::fail(format!(
                "{} '{id}' is declared in the config file; change it there",
                e.singular()
            )));
        }
        Ok(())
    }

    async fn list(&self, e: Entity) -> Result<Vec<Value>, CliError> {
        match self {
            Backend::Server(c) => list_of(
                c.call(Method::GET, &format!("/api/{}", e.plural()), None)
                    .await?,
                e.plural(),
            ),
            Backend::Registry(r, _) => match e {
                Entity::Account => r
                    .list_accounts()
                    .await
                    .map_err(registry_error)?
                    .iter()
                    .map(account_json)
                    .collect(),
                Entity::Pool => r
                    .list_pools()
                    .await
                    .map_err(registry_error)?
                    .iter()
                    .map(to_json)
                    .collect(),
                Entity::Route => r
                    .list_routes()
                    .await
                    .map_err(registry_error)?
                    .iter()
                    .map(to_json)
                    .collect(),
            },
        }
    }

    async fn get(&self, e: Entity, id: &str) -> Result<Value, CliError> {
        match self {
            Backend::Server(c) => Ok(record_of(
                c.call(
                    Method::GET,
                    &format!("/api/{}/{}", e.plural(), path_segment(id)),
                    None,
                )
                .await?,
                e.singular(),
            )),
            Backend::Registry(r, _) => match e {
                Entity::Account => account_json(&r.get_account(id).await.map_err(registry_error)?),
                Entity::Pool => to_json(&r.get_pool(id).await.map_err(registry_error)?),
                Entity::Route => to_json(&r.get_route(id).await.map_err(registry_error)?),
            },
        }
    }

    async fn create(&self, e: Entity, record: Value) -> Result<(), CliError> {
        let key = if e == Entity::Route { "model" } else { "id" };
        if let Some(id) = record.get(key).and_then(Value::as_str) {
            self.check_not_declared(e, id)?;
        }
        match self {
            Backend::Server(c) => {
                c.call(Method::POST, &format!("/api/{}", e.plural()), Some(&record))
                    .await?;
            }
            Backend::Registry(r, config) => {
                match e {
                    Entity::Account => r
                        .create_account(&egress_checked(config, from_json(record)?)?)
                        .await
                        .map(drop),
                    Entity::Pool => r
                        .create_pool(&from_json::<PoolRecord>(record)?)
                        .await
                        .map(drop),
                    Entity::Route => r
                        .create_route(&from_json::<RouteRecord>(record)?)
                        .await
                        .map(drop),
                }
                .map_err(registry_error)?;
            }
        }
        Ok(())
    }

    async fn update(&self, e: Entity, id: &str, record: Value) -> Result<(), CliError> {
        match self {
            Backend::Server(c) => {
                c.call(
                    Method::PUT,
                    &format!("/api/{}/{}", e.plural(), path_segment(id)),
                    Some(&record),
                )
                .await?;
            }
            Backend::Registry(r, config) => {
                match e {
                    Entity::Account => r
                        .update_account(&egress_checked(config, from_json(record)?)?)
                        .await
                        .map(drop),
                    Entity::Pool => r
                        .update_pool(&from_json::<PoolRecord>(record)?)
                        .await
                        .map(drop),
                    Entity::Route => r
                        .update_route(&from_json::<RouteRecord>(record)?)
                        .await
                        .map(drop),
                }
                .map_err(registry_error)?;
            }
        }
        Ok(())
    }

    async fn remove(&self, e: Entity, id: &str) -> Result<(), CliError> {
        self.check_not_declared(e, id)?;
        match self {
            Backend::Server(c) => {
                c.call(
                    Method::DELETE,
                    &format!("/api/{}/{}", e.plural(), path_segment(id)),
                    None,
                )
                .await?;
            }
            Backend::Registry(r, _) => match e {
                Entity::Account => r.delete_account(id).await,
                Entity::Pool => r.delete_pool(id).await,
                Entity::Route => r.delete_route(id).await,
            }
            .map_err(registry_error)?,
        }
        Ok(())
    }

    async fn close(self) {
        if let Backend::Registry(r, _) = self {
            r.close().await;
        }
    }
}

/// Keeps only the fields the API takes (the `source`, `has_api_key` … of a
/// fetched record are dropped).
fn known_fields(e: Entity, v: Value) -> Map<String, Value> {
    let mut out = Map::new();
    if let Value::Object(mut o) = v {
        for f in e.fields() {
            if let Some(x) = o.remove(*f) {
                out.insert((*f).to_string(), x);
            }
        }
    }
    out
}

fn opt_string(v: &Option<String>) -> Option<Value> {
    v.as_ref().map(|s| {
        if s.trim().is_empty() {
            Value::Null
        } else {
            Value::String(s.trim().to_string())
        }
    })
}

/// A broken entity rule as a failure naming the flag (and the value of a
/// repeatable flag): `--weight: must be in 1..=1000, got 0`.
fn flag_error(flag: &str, values: &[String], e: EntityError) -> CliError {
    match e.sub {
        Some(Sub::Index(i)) => match values.get(i) {
            Some(v) => CliError::fail(format!("{flag} {v:?}: {}", e.message)),
            None => CliError::fail(format!("{flag}: {}", e.message)),
        },
        _ => CliError::fail(format!("{flag}: {}", e.message)),
    }
}

/// `flag_error` for a single-valued flag.
fn flag(name: &'static str) -> impl Fn(EntityError) -> CliError {
    move |e| flag_error(name, &[], e)
}

/// The changes `--flags` make to an account record.
fn account_patch(f: &AccountFields) -> Result<Map<String, Value>, CliError> {
    entity::check_id("id", &f.id).map_err(flag("--id"))?;
    let mut p = Map::new();
    p.insert("id".into(), Value::String(f.id.clone()));
    if let Some(v) = &f.vendor {
        entity::check_vendor(v).map_err(flag("--vendor"))?;
        p.insert("vendor".into(), Value::String(v.clone()));
    }
    if let Some(url) = &f.base_url {
        let url = url.trim().trim_end_matches('/');
        entity::check_base_url(url).map_err(|m| CliError::fail(format!("--base-url: {m}")))?;
        p.insert("base_url".into(), Value::String(url.to_string()));
    }
    if let Some(var) = &f.api_key_env {
        if !var.is_empty() {
            entity::check_api_key_env(var).map_err(flag("--api-key-env"))?;
        }
        p.insert(
            "api_key_env".into(),
            opt_string(&f.api_key_env).unwrap_or(Value::Null),
        );
        if !var.is_empty() {
            p.insert("api_key_file".into(), Value::Null);
        }
    }
    if let Some(path) = &f.api_key_file {
        if !path.is_empty() {
            entity::check_api_key_file(path).map_err(flag("--api-key-file"))?;
        }
        p.insert(
            "api_key_file".into(),
            opt_string(&f.api_key_file).unwrap_or(Value::Null),
        );
        if !path.is_empty() {
            p.insert("api_key_env".into(), Value::Null);
        }
    }
    if let Some(w) = f.weight {
        entity::check_weight(w).map_err(flag("--weight"))?;
        p.insert("weight".into(), Value::from(w));
    }
    if let Some(prio) = f.priority {
        p.insert("priority".into(), Value::from(prio));
    }
    if let Some(en) = f.enabled {
        p.insert("enabled".into(), Value::Bool(en));
    }
    if !f.models.is_empty() {
        let mut models = Map::new();
        for m in &f.models {
            let (logical, upstream) = m
                .split_once('=')
                .map(|(a, b)| (a.trim(), b.trim()))
                .filter(|(a, b)| !a.is_empty() && !b.is_empty())
                .ok_or_else(|| {
                    CliError::fail(format!("--model {m:?}: expected LOGICAL=UPSTREAM"))
                })?;
            models.insert(logical.to_string(), Value::String(upstream.to_string()));
        }
        p.insert("models".into(), Value::Object(models));
    }
    if let Some(name) = &f.protocol {
        entity::check_protocol(name).map_err(flag("--protocol"))?;
        p.insert("protocol".into(), Value::String(name.clone()));
    }
    if let Some(version) = &f.anthropic_version {
        if version.is_empty() {
            p.insert("anthropic_version".into(), Value::Null);
        } else {
            entity::check_anthropic_version(version).map_err(flag("--anthropic-version"))?;
            p.insert("anthropic_version".into(), Value::String(version.clone()));
        }
    }
    if let Some(tokens) = f.default_max_tokens {
        entity::check_default_max_tokens(tokens).map_err(flag("--default-max-tokens"))?;
        p.insert("default_max_tokens".into(), Value::from(tokens));
    }
    if let Some(on) = f.stream_usage {
        p.insert("stream_usage".into(), Value::Bool(on));
    }
    Ok(p)
}

fn pool_patch(f: &PoolFields) -> Result<Map<String, Value>, CliError> {
    entity::check_id("id", &f.id).map_err(flag("--id"))?;
    let mut p = Map::new();
    p.insert("id".into(), Value::String(f.id.clone()));
    if let Some(s) = &f.strategy {
        entity::check_strategy(s).map_err(flag("--strategy"))?;
        p.insert("strategy".into(), Value::String(s.clone()));
    }
    if !f.members.is_empty() {
        if let Some(e) = entity::check_members(&f.members).into_iter().next() {
            return Err(flag_error("--member", &f.members, e));
        }
        p.insert(
            "members".into(),
            Value::Array(f.members.iter().cloned().map(Value::String).collect()),
        );
    }
    if let Some(v) = opt_string(&f.fallback_pool) {
        p.insert("fallback_pool".into(), v);
    }
    Ok(p)
}

fn route_patch(f: &RouteFields) -> Result<Map<String, Value>, CliError> {
    entity::check_model_name("model", &f.model).map_err(flag("--model"))?;
    let mut p = Map::new();
    p.insert("model".into(), Value::String(f.model.clone()));
    if let Some(pool) = &f.pool {
        entity::check_id("pool", pool).map_err(flag("--pool"))?;
        p.insert("pool".into(), Value::String(pool.clone()));
    }
    if let Some(v) = opt_string(&f.fallback_route) {
        p.insert("fallback_route".into(), v);
    }
    Ok(p)
}

fn require(p: &Map<String, Value>, field: &str, flag: &str) -> Result<(), CliError> {
    match p.get(field) {
        Some(Value::Null) | None => Err(CliError::fail(format!("{flag} is required"))),
        Some(_) => Ok(()),
    }
}

fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| cell(Some(i)))
            .collect::<Vec<_>>()
            .join(","),
        Some(Value::Object(o)) if o.is_empty() => "-".to_string(),
        Some(Value::Object(o)) => o
            .iter()
            .map(|(k, v)| format!("{k}={}", cell(Some(v))))
            .collect::<Vec<_>>()
            .join(","),
        Some(other) => other.to_string(),
    }
}

fn key_cell(v: &Value) -> String {
    if let Some(var) = v.get("api_key_env").and_then(Value::as_str) {
        return format!("env:{var}");
    }
    if let Some(path) = v.get("api_key_file").and_then(Value::as_str) {
        return format!("file:{path}");
    }
    if v.get("has_api_key").and_then(Value::as_bool) == Some(true) {
        return "inline".to_string();
    }
    "-".to_string()
}

fn render_list(e: Entity, items: &[Value]) -> String {
    let mut t = match e {
        Entity::Account => Table::new(&[
            "ID", "VENDOR", "PROTOCOL", "BASE_URL", "KEY", "ENABLED", "WEIGHT", "PRIORITY",
            "MODELS", "SOURCE",
        ]),
        Entity::Pool => Table::new(&["ID", "STRATEGY", "MEMBERS", "FALLBACK_POOL", "SOURCE"]),
        Entity::Route => Table::new(&["MODEL", "POOL", "FALLBACK_ROUTE", "SOURCE"]),
    };
    for v in items {
        let get = |k: &str| cell(v.get(k));
        let row = match e {
            Entity::Account => vec![
                get("id"),
                get("vendor"),
                get("protocol"),
                get("base_url"),
                key_cell(v),
                get("enabled"),
                get("weight"),
                get("priority"),
                get("models"),
                get("source"),
            ],
            Entity::Pool => vec![
                get("id"),
                get("strategy"),
                get("members"),
                get("fallback_pool"),
                get("source"),
            ],
            Entity::Route => vec![
                get("model"),
                get("pool"),
                get("fallback_route"),
                get("source"),
            ],
        };
        t.row(row);
    }
    if t.is_empty() {
        return format!("no {}\n", e.plural());
    }
    t.render()
}

async fn do_list(b: &Backend, e: Entity, args: &ListArgs) -> Result<(), CliError> {
    let items = b.list(e).await?;
    if args.json {
        let text = serde_json::to_string_pretty(&Value::Array(items))
            .map_err(|e| CliError::fail(e.to_string()))?;
        crate::common::outln(&text);
    } else {
        crate::common::out(&render_list(e, &items));
        if let Backend::Registry(_, config) = b {
            // Declared entries reach the registry when the server starts.
            let declared: Vec<&str> = match e {
                Entity::Account => config.accounts.iter().map(|a| a.id.as_str()).collect(),
                Entity::Pool => config.pools.iter().map(|p| p.id.as_str()).collect(),
                Entity::Route => config.routes.iter().map(|r| r.model.as_str()).collect(),
            };
            let key = if matches!(e, Entity::Route) {
                "model"
            } else {
                "id"
            };
            let missing: Vec<&str> = declared
                .into_iter()
                .filter(|d| !items.iter().any(|i| i[key].as_str() == Some(d)))
                .collect();
            if !missing.is_empty() {
                eprintln!(
                    "note: {} declared in the config file but not in the registry yet ({}); \
                     rook-server syncs them when it starts",
                    e.plural(),
                    missing.join(", ")
                );
            }
        }
    }
    Ok(())
}

async fn do_set(
    b: &Backend,
    e: Entity,
    id: &str,
    patch: Map<String, Value>,
) -> Result<(), CliError> {
    b.check_not_declared(e, id)?;
    let current = b.get(e, id).await?;
    if current.get("source").and_then(Value::as_str) == Some(Source::Config.as_str()) {
        return Err(CliError::fail(format!(
            "{} '{id}' is declared in the config file; change it there",
            e.singular()
        )));
    }
    if patch.len() <= 1 {
        return Err(CliError::fail(
            "nothing to change: pass at least one field flag",
        ));
    }
    let mut record = known_fields(e, current);
    if e == Entity::Account {
        follow_vendor_defaults(&mut record, &patch);
    }
    record.extend(patch);
    if e == Entity::Account {
        add_account_defaults(&mut record)?;
    }
    b.update(e, id, Value::Object(record)).await?;
    crate::common::outln(&format!("updated {} {id}", e.singular()));
    Ok(())
}

/// Runs an `accounts` subcommand.
pub(crate) async fn accounts(g: &GlobalArgs, args: AccountsArgs) -> Result<(), CliError> {
    let e = Entity::Account;
    // Validate the flags before touching the database or the server.
    let patch = match &args.command {
        AccountsCommand::Add(f) => {
            let mut p = account_patch(f)?;
            add_account_defaults(&mut p)?;
            Some(p)
        }
        AccountsCommand::Set(f) => Some(account_patch(f)?),
        _ => None,
    };
    let b = backend(g, &args.target).await?;
    let result = match (&args.command, patch) {
        (AccountsCommand::List(l), _) => do_list(&b, e, l).await,
        (AccountsCommand::Add(f), Some(p)) => b.create(e, Value::Object(p)).await.map(|()| {
            crate::common::outln(&format!("added account {}", f.id));
        }),
        (AccountsCommand::Set(f), Some(p)) => do_set(&b, e, &f.id, p).await,
        (AccountsCommand::Remove(a), _) => b.remove(e, &a.id).await.map(|()| {
            crate::common::outln(&format!("removed account {}", a.id));
        }),
        _ => Err(CliError::fail("internal error: missing account fields")),
    };
    b.close().await;
    result
}

/// Fills `protocol` (the vendor's default) and `base_url` (the vendor's default
/// for that protocol) and checks the required fields of `add`.
fn add_account_defaults(p: &mut Map<String, Value>) -> Result<(), CliError> {
    require(p, "vendor", "--vendor")?;
    let vendor = p
        .get("vendor")
        .and_then(Value::as_str)
        .and_then(Vendor::from_name);
    let given = p
        .get("protocol")
        .and_then(Value::as_str)
        .and_then(Protocol::from_name);
    let protocol = given.or(vendor.map(Vendor::default_protocol));
    if let (None, Some(protocol)) = (given, protocol) {
        p.insert(
            "protocol".into(),
            Value::String(protocol.as_str().to_string()),
        );
    }
    if p.get("base_url").is_none_or(Value::is_null) {
        let url = vendor
            .zip(protocol)
            .and_then(|(v, proto)| v.default_base_url_for(proto));
        match url {
            Some(url) => {
                p.insert("base_url".into(), Value::String(url.to_string()));
            }
            None => return Err(CliError::fail("--base-url is required for vendor custom")),
        }
    }
    Ok(())
}

/// For `accounts set`: values that were the defaults of the old vendor and
/// protocol follow a new `--vendor` / `--protocol` (as a PATCH of the admin API
/// does): the protocol when it was the vendor's default, the base URL when it
/// was the default of the vendor and protocol. [`add_account_defaults`] then
/// fills them in again.
fn follow_vendor_defaults(record: &mut Map<String, Value>, patch: &Map<String, Value>) {
    let text = |k: &str| record.get(k).and_then(Value::as_str);
    let vendor = text("vendor").and_then(Vendor::from_name);
    let protocol = text("protocol").and_then(Protocol::from_name);
    let base_url = text("base_url");
    let default_protocol = vendor.map(Vendor::default_protocol) == protocol;
    let default_url = vendor
        .zip(protocol)
        .and_then(|(v, p)| v.default_base_url_for(p))
        .is_some_and(|url| Some(url) == base_url);
    let changes_vendor = patch.contains_key("vendor");
    if changes_vendor && !patch.contains_key("protocol") && default_protocol {
        record.remove("protocol");
    }
    if (changes_vendor || patch.contains_key("protocol"))
        && !patch.contains_key("base_url")
        && default_url
    {
        record.remove("base_url");
    }
}

/// Runs a `pools` subcommand.
pub(crate) async fn pools(g: &GlobalArgs, args: PoolsArgs) -> Result<(), CliError> {
    let e = Entity::Pool;
    let patch = match &args.command {
        PoolsCommand::Add(f) | PoolsCommand::Set(f) => Some(pool_patch(f)?),
        _ => None,
    };
    if let (PoolsCommand::Add(_), Some(p)) = (&args.command, &patch) {
        require(p, "strategy", "--strategy")?;
        require(p, "members", "--member")?;
    }
    let b = backend(g, &args.target).await?;
    let result = match (&args.command, patch) {
        (PoolsCommand::List(l), _) => do_list(&b, e, l).await,
        (PoolsCommand::Add(f), Some(p)) => b.create(e, Value::Object(p)).await.map(|()| {
            crate::common::outln(&format!("added pool {}", f.id));
        }),
        (PoolsCommand::Set(f), Some(p)) => do_set(&b, e, &f.id, p).await,
        (PoolsCommand::Remove(a), _) => b.remove(e, &a.id).await.map(|()| {
            crate::common::outln(&format!("removed pool {}", a.id));
        }),
        _ => Err(CliError::fail("internal error: missing pool fields")),
    };
    b.close().await;
    result
}

/// Runs a `routes` subcommand.
pub(crate) async fn routes(g: &GlobalArgs, args: RoutesArgs) -> Result<(), CliError> {
    let e = Entity::Route;
    let patch = match &args.command {
        RoutesCommand::Add(f) | RoutesCommand::Set(f) => Some(route_patch(f)?),
        _ => None,
    };
    if let (RoutesCommand::Add(_), Some(p)) = (&args.command, &patch) {
        require(p, "pool", "--pool")?;
    }
    let b = backend(g, &args.target).await?;
    let result = match (&args.command, patch) {
        (RoutesCommand::List(l), _) => do_list(&b, e, l).await,
        (RoutesCommand::Add(f), Some(p)) => b.create(e, Value::Object(p)).await.map(|()| {
            crate::common::outln(&format!("added route {}", f.model));
        }),
        (RoutesCommand::Set(f), Some(p)) => do_set(&b, e, &f.model, p).await,
        (RoutesCommand::Remove(a), _) => b.remove(e, &a.model).await.map(|()| {
            crate::common::outln(&format!("removed route {}", a.model));
        }),
        _ => Err(CliError::fail("internal error: missing route fields")),
    };
    b.close().await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn model_flags_become_a_map() {
        let f = AccountFields {
            id: "a".into(),
            vendor: Some("open_ai".into()),
            base_url: None,
            api_key_env: Some("KEY_A".into()),
            api_key_file: None,
            weight: None,
            priority: None,
            enabled: Some(false),
            models: vec!["gpt-4o=gpt-4o-2024".into()],
            protocol: None,
            anthropic_version: None,
            default_max_tokens: None,
            stream_usage: None,
        };
        let mut p = account_patch(&f).unwrap();
        add_account_defaults(&mut p).unwrap();
        assert_eq!(p["models"]["gpt-4o"], "gpt-4o-2024");
        assert_eq!(p["base_url"], "https://api.openai.com/v1");
        assert_eq!(p["enabled"], false);
        assert!(p["api_key_file"].is_null());
        let rec: AccountRecord = from_json(Value::Object(p)).unwrap();
        assert_eq!(rec.api_key_env.as_deref(), Some("KEY_A"));
    }

    #[test]
    fn protocol_and_base_url_defaults() {
        const GEMINI: &str = "https://generativelanguage.googleapis.com/v1beta";
        // (vendor, --protocol, protocol, base_url)
        let table = [
            ("open_ai", None, "openai", "https://api.openai.com/v1"),
            (
                "anthropic",
                None,
                "anthropic",
                "https://api.anthropic.com/v1",
            ),
            ("google", None, "gemini", GEMINI),
            (
                "google",
                Some("openai"),
                "openai",
                "https://generativelanguage.googleapis.com/v1beta/openai",
            ),
            (
                "deep_seek",
                Some("anthropic"),
                "anthropic",
                "https://api.deepseek.com/v1",
            ),
        ];
        for (vendor, flag, protocol, base_url) in table {
            let mut p = Map::new();
            p.insert("vendor".into(), json!(vendor));
            if let Some(f) = flag {
                p.insert("protocol".into(), json!(f));
            }
            add_account_defaults(&mut p).unwrap();
            assert_eq!(
                (&p["protocol"], &p["base_url"]),
                (&json!(protocol), &json!(base_url))
            );
        }
        // `set`: (current record, patch, protocol, base_url)
        let table = [
            (
                json!({"vendor": "google", "protocol": "gemini", "base_url": GEMINI}),
                json!({"protocol": "openai"}),
                "openai",
                "https://generativelanguage.googleapis.com/v1beta/openai",
            ),
            (
                json!({"vendor": "google", "protocol": "gemini", "base_url": GEMINI}),
                json!({"vendor": "anthropic"}),
                "anthropic",
                "https://api.anthropic.com/v1",
            ),
            (
                json!({"vendor": "google", "protocol": "openai", "base_url": "https://p.example/v1"}),
                json!({"vendor": "anthropic"}),
                "openai",
                "https://p.example/v1",
            ),
            (
                json!({"vendor": "google", "protocol": "gemini", "base_url": GEMINI}),
                json!({"stream_usage": false}),
                "gemini",
                GEMINI,
            ),
        ];
        for (current, patch, protocol, base_url) in table {
            let (Value::Object(mut record), Value::Object(patch)) =
                (current.clone(), patch.clone())
            else {
                panic!("objects");
            };
            follow_vendor_defaults(&mut record, &patch);
            record.extend(patch);
            add_account_defaults(&mut record).unwrap();
            assert_eq!(record["protocol"], protocol, "{current}");
            assert_eq!(record["base_url"], base_url, "{current}");
        }
    }

    #[test]
    fn bad_flags_are_rejected() {
        let f = PoolFields {
            id: "bad id".into(),
            strategy: None,
            members: vec![],
            fallback_pool: None,
        };
        assert!(pool_patch(&f).is_err());
        let f = RouteFields {
            model: "m".into(),
            pool: None,
            fallback_route: Some(String::new()),
        };
        assert!(route_patch(&f).unwrap()["fallback_route"].is_null());
    }

    #[test]
    fn flag_errors_name_the_flag() {
        let account = |weight: Option<u32>, vendor: &str| AccountFields {
            id: "a".into(),
            vendor: Some(vendor.into()),
            base_url: None,
            api_key_env: None,
            api_key_file: None,
            weight,
            priority: None,
            enabled: None,
            models: vec![],
            protocol: None,
            anthropic_version: None,
            default_max_tokens: None,
            stream_usage: None,
        };
        let pool = |members: &[&str]| PoolFields {
            id: "p".into(),
            strategy: None,
            members: members.iter().map(|m| m.to_string()).collect(),
            fallback_pool: None,
        };
        type Case = (Result<Map<String, Value>, CliError>, &'static str);
        let table: Vec<Case> = vec![
            (
                account_patch(&account(Some(0), "open_ai")),
                "--weight: must be in 1..=1000, got 0",
            ),
            (
                account_patch(&account(None, "openai")),
                "--vendor: unknown vendor 'openai'",
            ),
            (
                account_patch(&AccountFields {
                    protocol: Some("grpc".into()),
                    ..account(None, "open_ai")
                }),
                "--protocol: unknown protocol 'grpc'; expected one of openai, anthropic, gemini",
            ),
            (
                account_patch(&AccountFields {
                    anthropic_version: Some("v".repeat(65)),
                    ..account(None, "anthropic")
                }),
                "--anthropic-version: must be at most 64 characters, got 65",
            ),
            (
                account_patch(&AccountFields {
                    default_max_tokens: Some(0),
                    ..account(None, "anthropic")
                }),
                "--default-max-tokens: must be at least 1, got 0",
            ),
            (
                pool_patch(&pool(&["a", "a"])),
                "--member \"a\": \"a\" is listed more than once",
            ),
            (
                pool_patch(&pool(&["a b"])),
                "--member \"a b\": must be 1 to 64",
            ),
        ];
        for (result, want) in table {
            let message = result.err().map(|e| e.message).unwrap_or_default();
            assert!(message.contains(want), "{message:?} lacks {want:?}");
        }
        assert!(account_patch(&account(Some(1000), "open_ai")).is_ok());
    }
}
