//! `keys create|list|show|revoke|rotate`: client keys, against the registry directly
//! or, with `--server`, through the admin API (`/api/keys`).
//!
//! The secret is printed once, by `create` and `rotate`; the registry keeps only its
//! SHA-256. Registry-direct changes are audited with actor `cli`; a running server
//! picks them up within a few seconds (it polls the key table).

use clap::{Args, Subcommand};
use http::Method;
use rook_gateway::rook_admin::{
    client_key_view, client_key_with_usage, default_key_view, key_id_from_name,
};
use rook_gateway::rook_config::entity::client_key::{self, ClientKeyRef, DEFAULT_KEY_ID};
use rook_gateway::rook_config::Config;
use rook_gateway::rook_registry::client_key::{
    display_prefix, generate_secret, hash_secret, ClientKeyRecord,
};
use rook_gateway::rook_registry::time::{now_ms, parse_duration_ms};
use rook_gateway::rook_registry::{AuditEvent, Registry};
use serde_json::{json, Map, Value};

use crate::admin_client::{list_of, AdminClient};
use crate::common::{load_config, open_existing, outln, registry_error, CliError};
use crate::manage::Target;
use crate::table::Table;
use crate::GlobalArgs;

mod render;
use render::*;

const KEYS_HELP: &str = "\
Examples:
  rook-cli keys create --name ci-bot --models 'gpt-4o*,claude-*' --budget-usd 10 --budget-period month --rpm 60 --expires 30d
  rook-cli keys list
  rook-cli keys show ci-bot --json
  rook-cli keys rotate ci-bot --grace 1h
  rook-cli keys revoke ci-bot
  rook-cli keys list --server http://127.0.0.1:4141

The secret (rk-…) is printed once, by create and rotate: store it then. Without
--server the registry database is changed directly and a running server picks the
change up within seconds; with --server the admin API applies it at once. Keys
declared in the config file ([[client_keys]]) are read-only here. Exit codes: 0
done; 2 failure.";

/// `keys` command.
#[derive(Debug, Args)]
#[command(after_help = KEYS_HELP)]
pub(crate) struct KeysArgs {
    #[command(flatten)]
    target: Target,
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Creates a key and prints its secret once.
    #[command(after_help = KEYS_HELP)]
    Create(CreateArgs),
    /// Lists keys: prefix, scope, spend/budget, last use, state.
    #[command(after_help = KEYS_HELP)]
    List(JsonFlag),
    /// Shows one key with its spend in the current period.
    #[command(after_help = KEYS_HELP)]
    Show(IdJson),
    /// Revokes a key for good (its usage history stays).
    #[command(after_help = KEYS_HELP)]
    Revoke(IdJson),
    /// Gives a key a new secret (printed once); the old one stops at once or after --grace.
    #[command(after_help = KEYS_HELP)]
    Rotate(RotateArgs),
}

#[derive(Debug, Args)]
struct JsonFlag {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct IdJson {
    /// The key id.
    id: String,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct RotateArgs {
    /// The key id.
    id: String,
    /// How long the old secret keeps working: seconds or a duration (90s, 30m, 1h, 7d).
    #[arg(long, value_name = "DURATION")]
    grace: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct CreateArgs {
    /// Display name (also the default id, in lowercase with `-`).
    #[arg(long)]
    name: String,
    /// Key id, `[A-Za-z0-9_.-]{1,64}` (default: from the name).
    #[arg(long)]
    id: Option<String>,
    /// Owner label (a team, a person).
    #[arg(long)]
    owner: Option<String>,
    /// Allowed logical models, comma-separated; `*` globs allowed (default: all).
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    models: Vec<String>,
    /// Budget in US dollars per --budget-period.
    #[arg(long, value_name = "USD", requires = "budget_period")]
    budget_usd: Option<f64>,
    /// day | week | month | total (UTC calendar periods).
    #[arg(long, value_name = "PERIOD", requires = "budget_usd")]
    budget_period: Option<String>,
    /// Requests per minute.
    #[arg(long, value_name = "N")]
    rpm: Option<u32>,
    /// Tokens per minute.
    #[arg(long, value_name = "N")]
    tpm: Option<u32>,
    /// Expiry: a duration from now (30d, 12h) or a date/RFC 3339 timestamp (UTC).
    #[arg(long, value_name = "30d|DATE")]
    expires: Option<String>,
    /// Print JSON (with the secret) instead of text.
    #[arg(long)]
    json: bool,
}

/// `--expires`: a duration forward from now, or an instant.
fn parse_expires(text: &str, now: i64) -> Result<i64, CliError> {
    if let Ok(d) = parse_duration_ms(text.trim()) {
        return Ok(now.saturating_add(d));
    }
    client_key::parse_utc(text).ok_or_else(|| {
        CliError::fail(format!(
            "--expires {text:?}: expected a duration (30d, 12h) or a date/RFC 3339 timestamp"
        ))
    })
}

fn parse_grace(text: &str) -> Result<u64, CliError> {
    let t = text.trim();
    if let Ok(secs) = t.parse::<u64>() {
        return Ok(secs);
    }
    parse_duration_ms(t)
        .map(|ms| u64::try_from(ms / 1000).unwrap_or(0))
        .map_err(|_| {
            CliError::fail(format!(
                "--grace {text:?}: expected seconds or 90s, 30m, 1h, 7d"
            ))
        })
}

impl CreateArgs {
    /// The admin API body of this key (checked against the key rules first).
    fn body(&self, now: i64) -> Result<Map<String, Value>, CliError> {
        let id = self
            .id
            .clone()
            .unwrap_or_else(|| key_id_from_name(&self.name));
        let expires = self
            .expires
            .as_deref()
            .map(|e| parse_expires(e, now))
            .transpose()?;
        let errors = client_key::check_client_key(&ClientKeyRef {
            id: &id,
            name: &self.name,
            owner: self.owner.as_deref(),
            models: &self.models,
            budget_usd: self.budget_usd,
            budget_period: self.budget_period.as_deref(),
            requests_per_minute: self.rpm,
            tokens_per_minute: self.tpm,
            metadata: None,
        });
        if let Some(e) = errors.into_iter().next() {
            let flag = match e.field {
                "requests_per_minute" => "rpm".to_string(),
                "tokens_per_minute" => "tpm".to_string(),
                f => f.replace('_', "-"),
            };
            return Err(CliError::fail(format!("--{flag}: {}", e.message)));
        }
        let mut b = Map::new();
        b.insert("id".into(), json!(id));
        b.insert("name".into(), json!(self.name));
        b.insert("owner".into(), json!(self.owner));
        b.insert("models".into(), json!(self.models));
        b.insert("budget_usd".into(), json!(self.budget_usd));
        b.insert("budget_period".into(), json!(self.budget_period));
        b.insert("requests_per_minute".into(), json!(self.rpm));
        b.insert("tokens_per_minute".into(), json!(self.tpm));
        b.insert(
            "expires_at".into(),
            json!(expires.map(client_key::format_utc)),
        );
        Ok(b)
    }
}

/// The registry and its configuration, or a server.
enum Keys {
    Registry(Registry, Box<Config>),
    Server(Box<AdminClient>),
}

fn path(id: &str) -> Result<String, CliError> {
    // Key ids are [A-Za-z0-9_.-]: nothing to escape.
    if id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        Ok(format!("/api/keys/{id}"))
    } else {
        Err(CliError::fail(format!("{id:?} is not a key id")))
    }
}

fn declared_check(config: &Config, id: &str) -> Result<(), CliError> {
    if id == DEFAULT_KEY_ID || config.client_keys.iter().any(|k| k.id == id) {
        return Err(CliError::fail(format!(
            "client key '{id}' is declared in the config file; change it there"
        )));
    }
    Ok(())
}

async fn audit(r: &Registry, action: &str, id: &str, detail: Value) {
    let event = AuditEvent {
        id: None,
        ts_ms: now_ms(),
        request_id: None,
        client_addr: None,
        actor: "cli".into(),
        action: action.into(),
        entity_type: "client_key".into(),
        entity_id: id.into(),
        detail,
    };
    if let Err(e) = r.insert_audit(&event).await {
        eprintln!("warning: the audit event could not be written: {e}");
    }
}

impl Keys {
    async fn list(&self) -> Result<Vec<Value>, CliError> {
        match self {
            Keys::Server(c) => list_of(c.call(Method::GET, "/api/keys", None).await?, "keys"),
            Keys::Registry(r, config) => {
                let now = now_ms();
                let mut out = Vec::new();
                if config.inbound_auth.enabled {
                    out.push(default_key_view(r, now).await.map_err(registry_error)?);
                }
                for k in r.list_client_keys().await.map_err(registry_error)? {
                    out.push(
                        client_key_with_usage(r, &k, now, None)
                            .await
                            .map_err(registry_error)?,
                    );
                }
                Ok(out)
            }
        }
    }

    async fn show(&self, id: &str) -> Result<Value, CliError> {
        match self {
            Keys::Server(c) => c.call(Method::GET, &path(id)?, None).await,
            Keys::Registry(r, config) => {
                let now = now_ms();
                if id == DEFAULT_KEY_ID && config.inbound_auth.enabled {
                    return default_key_view(r, now).await.map_err(registry_error);
                }
                let k = r.get_client_key(id).await.map_err(registry_error)?;
                client_key_with_usage(r, &k, now, None)
                    .await
                    .map_err(registry_error)
            }
        }
    }

    async fn create(&self, body: Map<String, Value>) -> Result<Value, CliError> {
        match self {
            Keys::Server(c) => {
                c.call(Method::POST, "/api/keys", Some(&Value::Object(body)))
                    .await
            }
            Keys::Registry(r, config) => {
                let id = body["id"].as_str().unwrap_or_default().to_string();
                declared_check(config, &id)?;
                let secret = generate_secret().map_err(|e| CliError::fail(e.to_string()))?;
                let mut k = ClientKeyRecord::new(id, "", &secret);
                k.name = body["name"].as_str().unwrap_or_default().to_string();
                k.owner = body["owner"].as_str().map(str::to_string);
                k.models = serde_json::from_value(body["models"].clone()).unwrap_or_default();
                k.budget_usd = body["budget_usd"].as_f64();
                k.budget_period = body["budget_period"].as_str().map(str::to_string);
                k.requests_per_minute = body["requests_per_minute"]
                    .as_u64()
                    .and_then(|v| u32::try_from(v).ok());
                k.tokens_per_minute = body["tokens_per_minute"]
                    .as_u64()
                    .and_then(|v| u32::try_from(v).ok());
                k.expires_at_ms = body["expires_at"].as_str().and_then(client_key::parse_utc);
                let created = r.create_client_key(&k).await.map_err(registry_error)?;
                let now = now_ms();
                audit(r, "create", &created.id, client_key_view(&created, now)).await;
                let mut v = client_key_with_usage(r, &created, now, None)
                    .await
                    .map_err(registry_error)?;
                v["secret"] = Value::String(secret);
                Ok(v)
            }
        }
    }

    async fn revoke(&self, id: &str) -> Result<Value, CliError> {
        match self {
            Keys::Server(c) => c.call(Method::DELETE, &path(id)?, None).await,
            Keys::Registry(r, config) => {
                declared_check(config, id)?;
                let k = r.revoke_client_key(id).await.map_err(registry_error)?;
                let v = client_key_view(&k, now_ms());
                audit(r, "revoke", id, v.clone()).await;
                Ok(v)
            }
        }
    }

    async fn rotate(&self, id: &str, grace: u64) -> Result<Value, CliError> {
        match self {
            Keys::Server(c) => {
                let body = json!({ "grace_seconds": grace });
                c.call(Method::POST, &format!("{}/rotate", path(id)?), Some(&body))
                    .await
            }
            Keys::Registry(r, config) => {
                declared_check(config, id)?;
                let secret = generate_secret().map_err(|e| CliError::fail(e.to_string()))?;
                let until = (grace > 0)
                    .then(|| now_ms().saturating_add(i64::try_from(grace).unwrap_or(0) * 1000));
                let k = r
                    .rotate_client_key(id, &hash_secret(&secret), &display_prefix(&secret), until)
                    .await
                    .map_err(registry_error)?;
                let mut v = client_key_view(&k, now_ms());
                let mut detail = v.clone();
                detail["grace_seconds"] = json!(grace);
                audit(r, "rotate", id, detail).await;
                v["secret"] = Value::String(secret);
                Ok(v)
            }
        }
    }
}

/// Runs a `keys` subcommand.
pub(crate) async fn run(g: &GlobalArgs, args: KeysArgs) -> Result<(), CliError> {
    let now = now_ms();
    // Validate the flags before touching the database or the server.
    let create_body = match &args.command {
        KeysCommand::Create(c) => Some(c.body(now)?),
        _ => None,
    };
    let grace = match &args.command {
        KeysCommand::Rotate(r) => r.grace.as_deref().map(parse_grace).transpose()?,
        _ => None,
    };
    let keys = match &args.target.server {
        Some(url) => Keys::Server(Box::new(AdminClient::new(
            url,
            &args.target.admin_token_env,
            g,
        )?)),
        None => {
            let loaded = load_config(g)?;
            let registry = open_existing(&loaded.config.database_url).await?;
            Keys::Registry(registry, Box::new(loaded.config))
        }
    };
    let result = match (&args.command, create_body) {
        (KeysCommand::Create(c), Some(body)) => {
            let v = keys.create(body).await?;
            print(&v, c.json, with_secret("Created"))
        }
        (KeysCommand::List(f), _) => {
            let list = keys.list().await?;
            print(&Value::Array(list.clone()), f.json, |_| render_list(&list))
        }
        (KeysCommand::Show(a), _) => print(&keys.show(&a.id).await?, a.json, render_one),
        (KeysCommand::Revoke(a), _) => {
            let v = keys.revoke(&a.id).await?;
            print(&v, a.json, |v| {
                format!("revoked client key {}\n", text(&v["id"]))
            })
        }
        (KeysCommand::Rotate(a), _) => {
            let v = keys.rotate(&a.id, grace.unwrap_or(0)).await?;
            print(&v, a.json, with_secret("Rotated"))
        }
        (KeysCommand::Create(_), None) => Err(CliError::fail("internal: no create body")),
    };
    if let Keys::Registry(r, _) = keys {
        r.close().await;
    }
    result
}
