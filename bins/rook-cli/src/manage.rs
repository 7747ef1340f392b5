//! `accounts|pools|routes list|add|remove|set`, against the registry
//! directly or, with `--server`, through the admin API.
//!
//! Records are handled as JSON objects with the config file's field names,
//! which are also the registry record and admin API field names.

mod args;
mod backend;
mod patch;
mod render;

pub(crate) use args::{AccountsArgs, PoolsArgs, RoutesArgs, Target};
use args::{AccountsCommand, Entity, ListArgs, PoolsCommand, RoutesCommand};
use backend::{backend, known_fields, Backend};
use patch::{
    account_patch, add_account_defaults, follow_vendor_defaults, pool_patch, require, route_patch,
};
use render::render_list;

use rook_gateway::rook_registry::Source;
use serde_json::{Map, Value};

use crate::common::CliError;
use crate::GlobalArgs;

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
