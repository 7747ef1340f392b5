//! Where `accounts|pools|routes` commands read and write: the registry directly
//! or a server's admin API.

use http::Method;
use rook_gateway::rook_config::entity::{self};
use rook_gateway::rook_config::Config;
use rook_gateway::rook_registry::{AccountRecord, PoolRecord, Registry, RouteRecord};
use serde_json::{Map, Value};

use crate::admin_client::{list_of, record_of, AdminClient};
use crate::common::{load_config, open_existing, registry_error, CliError};
use crate::GlobalArgs;

use super::args::{Entity, Target};

/// Either the registry or a server.
pub(super) enum Backend {
    /// The registry, and the configuration whose entries are read-only.
    Registry(Registry, Box<Config>),
    Server(Box<AdminClient>),
}

pub(super) async fn backend(g: &GlobalArgs, target: &Target) -> Result<Backend, CliError> {
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
pub(super) fn egress_checked(
    config: &Config,
    rec: AccountRecord,
) -> Result<AccountRecord, CliError> {
    let policy = config
        .upstream
        .egress_policy()
        .map_err(|e| CliError::fail(format!("the [upstream] egress policy is invalid: {e}")))?;
    entity::check_egress(&policy, &rec.base_url)
        .map_err(|e| CliError::fail(format!("--base-url: {}", e.message)))?;
    Ok(rec)
}

pub(super) fn path_segment(id: &str) -> String {
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

pub(super) fn to_json<T: serde::Serialize>(v: &T) -> Result<Value, CliError> {
    serde_json::to_value(v).map_err(|e| CliError::fail(format!("cannot render a record: {e}")))
}

pub(super) fn from_json<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, CliError> {
    serde_json::from_value(v).map_err(|e| CliError::fail(format!("invalid record: {e}")))
}

pub(super) fn account_json(a: &AccountRecord) -> Result<Value, CliError> {
    let mut v = to_json(a)?;
    if let Value::Object(o) = &mut v {
        o.insert("has_api_key".into(), Value::Bool(a.has_api_key()));
    }
    Ok(v)
}

impl Backend {
    /// Refuses to change an entry the config file declares (registry mode;
    /// the server checks this itself).
    pub(super) fn check_not_declared(&self, e: Entity, id: &str) -> Result<(), CliError> {
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

    pub(super) async fn list(&self, e: Entity) -> Result<Vec<Value>, CliError> {
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

    pub(super) async fn get(&self, e: Entity, id: &str) -> Result<Value, CliError> {
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

    pub(super) async fn create(&self, e: Entity, record: Value) -> Result<(), CliError> {
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

    pub(super) async fn update(&self, e: Entity, id: &str, record: Value) -> Result<(), CliError> {
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

    pub(super) async fn remove(&self, e: Entity, id: &str) -> Result<(), CliError> {
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

    pub(super) async fn close(self) {
        if let Backend::Registry(r, _) = self {
            r.close().await;
        }
    }
}

/// Keeps only the fields the API takes (the `source`, `has_api_key` … of a
/// fetched record are dropped).
pub(super) fn known_fields(e: Entity, v: Value) -> Map<String, Value> {
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

pub(super) fn opt_string(v: &Option<String>) -> Option<Value> {
    v.as_ref().map(|s| {
        if s.trim().is_empty() {
            Value::Null
        } else {
            Value::String(s.trim().to_string())
        }
    })
}
