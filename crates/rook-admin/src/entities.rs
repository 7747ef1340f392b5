//! Accounts, pools and routes: JSON views, body parsing and validation, and the CRUD
//! handlers (write, reload routing, undo on a failed reload, audit).

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{Response, StatusCode};
use rook_config::entity::{self, AccountRef, EntityError, PoolRef, RouteRef, DEFAULT_WEIGHT};
use rook_config::{Protocol, SecretSource, Vendor};
use rook_registry::time::now_ms;
use rook_registry::{AccountRecord, AuditEvent, PoolRecord, RegistryError, RouteRecord, Source};
use serde_json::{json, Map, Value};

use crate::body::Body;
use crate::error::{ApiError, ApiResult};
use crate::{json_response, Admin, ApiRequest};

/// Fields of an account body (the config file's names plus write-only `api_key`).
pub(crate) const ACCOUNT_FIELDS: &[&str] = &[
    "id",
    "vendor",
    "base_url",
    "api_key_env",
    "api_key_file",
    "api_key",
    "enabled",
    "weight",
    "priority",
    "models",
    "protocol",
    "anthropic_version",
    "default_max_tokens",
    "stream_usage",
];
/// Fields of a pool body.
pub(crate) const POOL_FIELDS: &[&str] = &["id", "strategy", "members", "fallback_pool"];
/// Fields of a route body.
pub(crate) const ROUTE_FIELDS: &[&str] = &["model", "pool", "fallback_route"];

// ------------------------------------------------------------------ views

/// An account as the API shows it: never the key, only `has_api_key`.
pub(crate) fn account_view(a: &AccountRecord) -> Value {
    json!({
        "id": a.id,
        "vendor": a.vendor,
        "base_url": a.base_url,
        "api_key_env": a.api_key_env,
        "api_key_file": a.api_key_file,
        "enabled": a.enabled,
        "weight": a.weight,
        "priority": a.priority,
        "models": a.models,
        "has_api_key": key_available(a),
        "source": a.source.as_str(),
        "protocol": a.protocol,
        "anthropic_version": a.anthropic_version,
        "default_max_tokens": a.default_max_tokens,
        "stream_usage": a.stream_usage,
    })
}

/// Whether the account has a usable key now, resolved as the gateway does:
/// an API-managed key, else `api_key_env` (set and not blank), else
/// `api_key_file` (readable and not blank). The value is never kept.
pub(crate) fn key_available(a: &AccountRecord) -> bool {
    if a.has_api_key() {
        return true;
    }
    let source = match (&a.api_key_env, &a.api_key_file) {
        (Some(var), _) => SecretSource::Env(var.clone()),
        (None, Some(path)) => SecretSource::File(path.into()),
        (None, None) => return false,
    };
    source.is_available()
}

/// A pool as the API shows it.
pub(crate) fn pool_view(p: &PoolRecord) -> Value {
    json!({
        "id": p.id,
        "strategy": p.strategy,
        "members": p.members,
        "fallback_pool": p.fallback_pool,
        "source": p.source.as_str(),
    })
}

/// A route as the API shows it.
pub(crate) fn route_view(r: &RouteRecord) -> Value {
    json!({
        "model": r.model,
        "pool": r.pool,
        "fallback_route": r.fallback_route,
        "source": r.source.as_str(),
    })
}

/// The writable fields of a view (the merge base of a PATCH): `null`s, `source` and
/// `has_api_key` removed.
fn writable(view: Value, fields: &[&str]) -> Map<String, Value> {
    match view {
        Value::Object(m) => m
            .into_iter()
            .filter(|(k, v)| !v.is_null() && fields.contains(&k.as_str()))
            .collect(),
        _ => Map::new(),
    }
}

/// JSON merge patch (top level): present keys replace, `null` removes.
fn merge(mut base: Map<String, Value>, patch: Map<String, Value>) -> Map<String, Value> {
    for (k, v) in patch {
        if v.is_null() {
            base.remove(&k);
        } else {
            base.insert(k, v);
        }
    }
    base
}

// ------------------------------------------------------------------ validation

/// The first broken entity rule as a 400 naming the field.
fn first(errors: Vec<EntityError>) -> ApiResult<()> {
    match errors.into_iter().next() {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

impl From<EntityError> for ApiError {
    fn from(e: EntityError) -> Self {
        ApiError::field(&e.path(), e.message)
    }
}

fn check_api_key(key: &str) -> ApiResult<()> {
    if key.trim().is_empty() {
        return Err(ApiError::field("api_key", "must not be empty"));
    }
    if key.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(ApiError::field(
            "api_key",
            "must not contain whitespace or control characters",
        ));
    }
    Ok(())
}

/// The id of a body on an `/{id}` path: optional in the body, and equal to the path's.
fn path_id(body: &Body, field: &str, path: &str, what: &str) -> ApiResult<String> {
    if let Some(given) = body.opt::<String>(field)? {
        if given != path {
            return Err(ApiError::field(
                field,
                format!("must match the path ('{path}'); {what} cannot be renamed"),
            ));
        }
    }
    Ok(path.to_string())
}

/// What a body asks for the inline key: absent keeps it, a string sets it, `null` clears it.
#[derive(Debug)]
enum KeyChange {
    Keep,
    Set(String),
    Clear,
}

fn key_change(body: &Body) -> ApiResult<KeyChange> {
    if !body.has("api_key") {
        return Ok(KeyChange::Keep);
    }
    match body.opt::<String>("api_key")? {
        None => Ok(KeyChange::Clear),
        Some(k) => {
            check_api_key(&k)?;
            Ok(KeyChange::Set(k))
        }
    }
}

/// An account from a full body (`path` is the id of the URL, if any). The key is not read.
fn account_from_body(body: &Body, path: Option<&str>) -> ApiResult<AccountRecord> {
    let id = match path {
        Some(p) => path_id(body, "id", p, "accounts")?,
        None => body.req::<String>("id")?,
    };
    entity::check_id("id", &id)?;
    let vendor_name: String = body.req("vendor")?;
    let vendor = entity::check_vendor(&vendor_name)?;
    let base_url: Option<String> = body.opt("base_url")?;
    let api_key_env: Option<String> = body.opt("api_key_env")?;
    let api_key_file: Option<String> = body.opt("api_key_file")?;
    let weight: u32 = body.opt("weight")?.unwrap_or(DEFAULT_WEIGHT);
    let models: BTreeMap<String, String> = body.opt("models")?.unwrap_or_default();
    let protocol = match body.opt::<String>("protocol")? {
        Some(name) => entity::check_protocol(&name)?,
        None => vendor.default_protocol(),
    };
    let anthropic_version: Option<String> = body.opt("anthropic_version")?;
    let default_max_tokens: Option<u32> = body.opt("default_max_tokens")?;
    first(entity::check_account(&AccountRef {
        id: &id,
        vendor: vendor.as_str(),
        base_url: base_url.as_deref(),
        api_key_env: api_key_env.as_deref(),
        api_key_file: api_key_file.as_deref(),
        weight,
        models: &models,
        protocol: Some(protocol.as_str()),
        anthropic_version: anthropic_version.as_deref(),
        default_max_tokens,
    }))?;
    let base_url = match base_url {
        Some(url) => url.trim().trim_end_matches('/').to_string(),
        // check_account made sure the vendor has a default.
        None => vendor
            .default_base_url_for(protocol)
            .unwrap_or_default()
            .to_string(),
    };
    Ok(AccountRecord {
        id,
        vendor: vendor.as_str().to_string(),
        base_url,
        api_key_env,
        api_key_file,
        api_key: None,
        enabled: body.opt("enabled")?.unwrap_or(true),
        weight,
        priority: body.opt("priority")?.unwrap_or(0),
        models,
        source: Source::Api,
        protocol: protocol.as_str().to_string(),
        anthropic_version,
        default_max_tokens,
        stream_usage: body.opt("stream_usage")?.unwrap_or(true),
    })
}

/// Whether `a` speaks its vendor's default protocol (so a PATCH that changes the vendor
/// without giving `protocol` takes the new vendor's default).
fn has_default_protocol(a: &AccountRecord) -> bool {
    Vendor::from_name(&a.vendor).is_some_and(|v| v.default_protocol().as_str() == a.protocol)
}

/// Whether `a` has the default base URL of its vendor and protocol (so a PATCH that
/// changes the vendor or the protocol without giving `base_url` takes the new default).
fn has_default_base_url(a: &AccountRecord) -> bool {
    let default = Vendor::from_name(&a.vendor)
        .zip(Protocol::from_name(&a.protocol))
        .and_then(|(v, p)| v.default_base_url_for(p));
    default == Some(a.base_url.as_str())
}

/// The members of a declared pool: at least one, valid ids, none twice.
fn check_members(members: &[String]) -> ApiResult<()> {
    entity::check_has_members(members)?;
    first(entity::check_members(members))
}

fn pool_from_body(body: &Body, path: Option<&str>) -> ApiResult<PoolRecord> {
    let id = match path {
        Some(p) => path_id(body, "id", p, "pools")?,
        None => body.req::<String>("id")?,
    };
    entity::check_id("id", &id)?;
    let strategy_name: String = body.req("strategy")?;
    let strategy = entity::check_strategy(&strategy_name)?;
    let members: Vec<String> = body.req("members")?;
    check_members(&members)?;
    let fallback_pool: Option<String> = body.opt("fallback_pool")?;
    first(entity::check_pool(&PoolRef {
        id: &id,
        strategy: strategy.as_str(),
        members: &members,
        fallback_pool: fallback_pool.as_deref(),
    }))?;
    Ok(PoolRecord {
        id,
        strategy: strategy.as_str().to_string(),
        members,
        fallback_pool,
        source: Source::Api,
    })
}

fn route_from_body(body: &Body, path: Option<&str>) -> ApiResult<RouteRecord> {
    let model = match path {
        Some(p) => path_id(body, "model", p, "routes")?,
        None => body.req::<String>("model")?,
    };
    entity::check_model_name("model", &model)?;
    let pool: String = body.req("pool")?;
    let fallback_route: Option<String> = body.opt("fallback_route")?;
    first(entity::check_route(&RouteRef {
        model: &model,
        pool: &pool,
        fallback_route: fallback_route.as_deref(),
    }))?;
    Ok(RouteRecord {
        model,
        pool,
        fallback_route,
        source: Source::Api,
    })
}

// ------------------------------------------------------------------ write, reload, undo

/// How to put the registry back when routing cannot be rebuilt after a write.
#[derive(Debug)]
pub(crate) enum Undo {
    DeleteAccount(String),
    RestoreAccount(Box<AccountRecord>),
    RecreateAccount(Box<AccountRecord>),
    SetKey(String, Option<String>),
    DeletePool(String),
    RestorePool(PoolRecord),
    RecreatePool(PoolRecord),
    DeleteRoute(String),
    RestoreRoute(RouteRecord),
    RecreateRoute(RouteRecord),
}

/// What a successful write records in the audit log.
struct Change<'a> {
    action: &'static str,
    entity_type: &'static str,
    entity_id: &'a str,
    detail: Value,
}

fn no_content() -> Response<Bytes> {
    let mut r = Response::new(Bytes::new());
    *r.status_mut() = StatusCode::NO_CONTENT;
    r
}

fn read_only_check(source: Source, entity: &str, id: &str) -> ApiResult<()> {
    if source == Source::Config {
        Err(ApiError::read_only(entity, id))
    } else {
        Ok(())
    }
}

impl Admin {
    /// Seals an inline key for account `id`; without a master key, 400 naming the
    /// alternatives (`api_key_env` / `api_key_file`, or `[secrets] master_key_env`).
    fn seal_key(&self, id: &str, key: &str) -> ApiResult<String> {
        if self.registry.sealer().is_none() {
            return Err(ApiError::field(
                "api_key",
                rook_registry::seal::NO_MASTER_KEY,
            ));
        }
        Ok(self.registry.seal_api_key(id, key)?)
    }

    async fn undo(&self, undo: Undo) -> Result<(), RegistryError> {
        let r = &self.registry;
        match undo {
            Undo::DeleteAccount(id) => r.delete_account(&id).await,
            Undo::RestoreAccount(old) => {
                r.update_account(&old).await?;
                // Only a key that changed is written back (a stored key is sealed).
                if r.get_account(&old.id).await?.api_key == old.api_key {
                    return Ok(());
                }
                r.set_account_api_key(&old.id, old.api_key.clone()).await
            }
            Undo::RecreateAccount(old) => r.create_account(&old).await.map(|_| ()),
            Undo::SetKey(id, key) => r.set_account_api_key(&id, key).await,
            Undo::DeletePool(id) => r.delete_pool(&id).await,
            Undo::RestorePool(old) => r.update_pool(&old).await.map(|_| ()),
            Undo::RecreatePool(old) => r.create_pool(&old).await.map(|_| ()),
            Undo::DeleteRoute(model) => r.delete_route(&model).await,
            Undo::RestoreRoute(old) => r.update_route(&old).await.map(|_| ()),
            Undo::RecreateRoute(old) => r.create_route(&old).await.map(|_| ()),
        }
    }

    /// After a registry write: rebuild routing; on failure undo the write and answer 422;
    /// on success append the audit event.
    async fn commit(&self, req: &ApiRequest, change: Change<'_>, undo: Undo) -> ApiResult<()> {
        if let Err(message) = self.runtime.reload().await {
            return match self.undo(undo).await {
                Ok(()) => Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_configuration",
                    format!("{message} (the change was not applied)"),
                )),
                Err(e) => {
                    tracing::error!(error = %e, reload_error = %message,
                        "admin change broke routing and could not be undone");
                    Err(ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal_error",
                        format!(
                            "routing could not be rebuilt ({message}) and undoing the change failed ({e})"
                        ),
                    ))
                }
            };
        }
        self.audit(req, change).await;
        Ok(())
    }

    /// Writes the audit event of a successful change (a failure is logged).
    async fn audit(&self, req: &ApiRequest, change: Change<'_>) {
        let event = AuditEvent {
            id: None,
            ts_ms: now_ms(),
            request_id: (!req.request_id.is_empty()).then(|| req.request_id.clone()),
            actor: req.actor().to_string(),
            action: change.action.to_string(),
            entity_type: change.entity_type.to_string(),
            entity_id: change.entity_id.to_string(),
            detail: change.detail,
            client_addr: req.client_addr.clone(),
        };
        if let Err(e) = self.registry.insert_audit(&event).await {
            tracing::warn!(error = %e, action = change.action, entity_type = change.entity_type,
                entity_id = change.entity_id, "could not write the audit event of an admin change");
        }
    }

    /// `POST /api/accounts/{id}/reset`: puts an account back in rotation (closes its
    /// breaker, clears its cooldown), e.g. after its key was fixed. Works for
    /// config-declared accounts too: health is not configuration.
    pub(crate) async fn reset_account_health(&self, req: &ApiRequest, id: &str) -> ApiResult {
        self.registry.get_account(id).await?;
        if !self.runtime.reset_health(id) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "not_routed",
                format!("account {id:?} is not loaded in routing"),
            ));
        }
        let health = self
            .runtime
            .accounts_health()
            .into_iter()
            .find(|h| h.id == id);
        let detail = json!({ "id": id });
        self.audit(
            req,
            Change {
                action: "reset_health",
                entity_type: "account",
                entity_id: id,
                detail,
            },
        )
        .await;
        Ok(json_response(StatusCode::OK, &json!({ "account": health })))
    }

    // -------------------------------------------------------------- accounts

    /// The egress policy of `[upstream]` on an account's base URL (400 naming
    /// `base_url`).
    fn check_egress(&self, base_url: &str) -> ApiResult<()> {
        let policy = self.config.upstream.egress_policy().map_err(|e| {
            ApiError::field("base_url", format!("the egress policy is invalid: {e}"))
        })?;
        entity::check_egress(&policy, base_url)?;
        Ok(())
    }

    pub(crate) async fn list_accounts(&self) -> ApiResult {
        let list = self.registry.list_accounts().await?;
        let views: Vec<Value> = list.iter().map(account_view).collect();
        Ok(json_response(StatusCode::OK, &json!({ "accounts": views })))
    }

    pub(crate) async fn get_account(&self, id: &str) -> ApiResult {
        let a = self.registry.get_account(id).await?;
        Ok(json_response(StatusCode::OK, &account_view(&a)))
    }

    pub(crate) async fn create_account(&self, req: &ApiRequest) -> ApiResult {
        let body = Body::parse(&req.body, ACCOUNT_FIELDS)?;
        let mut rec = account_from_body(&body, None)?;
        self.check_egress(&rec.base_url)?;
        if let KeyChange::Set(k) = key_change(&body)? {
            rec.api_key = Some(self.seal_key(&rec.id, &k)?);
        }
        let _guard = self.write_lock.lock().await;
        let created = self.registry.create_account(&rec).await?;
        let view = account_view(&created);
        let change = Change {
            action: "create",
            entity_type: "account",
            entity_id: &created.id,
            detail: view.clone(),
        };
        self.commit(req, change, Undo::DeleteAccount(created.id.clone()))
            .await?;
        Ok(json_response(StatusCode::CREATED, &view))
    }

    pub(crate) async fn update_account(
        &self,
        req: &ApiRequest,
        id: &str,
        patch: bool,
    ) -> ApiResult {
        let body = Body::parse(&req.body, ACCOUNT_FIELDS)?;
        let _guard = self.write_lock.lock().await;
        let old = self.registry.get_account(id).await?;
        read_only_check(old.source, "account", id)?;
        let full = if patch {
            let mut base = writable(account_view(&old), ACCOUNT_FIELDS);
            if !body.has("protocol") && body.has("vendor") && has_default_protocol(&old) {
                base.remove("protocol");
            }
            if !body.has("base_url")
                && (body.has("vendor") || body.has("protocol"))
                && has_default_base_url(&old)
            {
                base.remove("base_url");
            }
            Body::from_value(
                Value::Object(merge(base, body.clone().into_map())),
                ACCOUNT_FIELDS,
            )?
        } else {
            body.clone()
        };
        let rec = account_from_body(&full, Some(id))?;
        self.check_egress(&rec.base_url)?;
        let key = key_change(&body)?;
        let new_key = match key {
            KeyChange::Keep => None,
            KeyChange::Set(k) => Some(Some(self.seal_key(id, &k)?)),
            KeyChange::Clear => Some(None),
        };
        let mut updated = self.registry.update_account(&rec).await?;
        updated.api_key = old.api_key.clone();
        if let Some(k) = new_key {
            if let Err(e) = self.registry.set_account_api_key(id, k.clone()).await {
                if let Err(u) = self.undo(Undo::RestoreAccount(Box::new(old))).await {
                    tracing::error!(error = %u, "could not undo a half-applied account update");
                }
                return Err(e.into());
            }
            updated.api_key = k;
        }
        let view = account_view(&updated);
        let change = Change {
            action: "update",
            entity_type: "account",
            entity_id: id,
            detail: view.clone(),
        };
        self.commit(req, change, Undo::RestoreAccount(Box::new(old)))
            .await?;
        Ok(json_response(StatusCode::OK, &view))
    }

    pub(crate) async fn delete_account(&self, req: &ApiRequest, id: &str) -> ApiResult {
        let _guard = self.write_lock.lock().await;
        let old = self.registry.get_account(id).await?;
        read_only_check(old.source, "account", id)?;
        self.registry.delete_account(id).await?;
        let change = Change {
            action: "delete",
            entity_type: "account",
            entity_id: id,
            detail: account_view(&old),
        };
        self.commit(req, change, Undo::RecreateAccount(Box::new(old)))
            .await?;
        Ok(no_content())
    }

    pub(crate) async fn set_account_key(&self, req: &ApiRequest, id: &str) -> ApiResult {
        let body = Body::parse(&req.body, &["api_key"])?;
        let key: String = body.req("api_key")?;
        check_api_key(&key)?;
        let _guard = self.write_lock.lock().await;
        let old = self.registry.get_account(id).await?;
        read_only_check(old.source, "account", id)?;
        let sealed = self.seal_key(id, &key)?;
        self.registry
            .set_account_api_key(id, Some(sealed.clone()))
            .await?;
        let mut updated = old.clone();
        updated.api_key = Some(sealed);
        let view = account_view(&updated);
        let change = Change {
            action: "set_api_key",
            entity_type: "account",
            entity_id: id,
            detail: view.clone(),
        };
        self.commit(req, change, Undo::SetKey(id.to_string(), old.api_key))
            .await?;
        // A new key: the old key's failures no longer apply.
        self.runtime.reset_health(id);
        Ok(json_response(StatusCode::OK, &view))
    }

    pub(crate) async fn clear_account_key(&self, req: &ApiRequest, id: &str) -> ApiResult {
        let _guard = self.write_lock.lock().await;
        let old = self.registry.get_account(id).await?;
        read_only_check(old.source, "account", id)?;
        self.registry.set_account_api_key(id, None).await?;
        let mut updated = old.clone();
        updated.api_key = None;
        let change = Change {
            action: "clear_api_key",
            entity_type: "account",
            entity_id: id,
            detail: account_view(&updated),
        };
        self.commit(req, change, Undo::SetKey(id.to_string(), old.api_key))
            .await?;
        Ok(no_content())
    }

    // -------------------------------------------------------------- pools

    pub(crate) async fn list_pools(&self) -> ApiResult {
        let list = self.registry.list_pools().await?;
        let views: Vec<Value> = list.iter().map(pool_view).collect();
        Ok(json_response(StatusCode::OK, &json!({ "pools": views })))
    }

    pub(crate) async fn get_pool(&self, id: &str) -> ApiResult {
        let p = self.registry.get_pool(id).await?;
        Ok(json_response(StatusCode::OK, &pool_view(&p)))
    }

    pub(crate) async fn create_pool(&self, req: &ApiRequest) -> ApiResult {
        let body = Body::parse(&req.body, POOL_FIELDS)?;
        let rec = pool_from_body(&body, None)?;
        let _guard = self.write_lock.lock().await;
        let created = self.registry.create_pool(&rec).await?;
        let view = pool_view(&created);
        let change = Change {
            action: "create",
            entity_type: "pool",
            entity_id: &created.id,
            detail: view.clone(),
        };
        self.commit(req, change, Undo::DeletePool(created.id.clone()))
            .await?;
        Ok(json_response(StatusCode::CREATED, &view))
    }

    pub(crate) async fn update_pool(&self, req: &ApiRequest, id: &str, patch: bool) -> ApiResult {
        let body = Body::parse(&req.body, POOL_FIELDS)?;
        let _guard = self.write_lock.lock().await;
        let old = self.registry.get_pool(id).await?;
        read_only_check(old.source, "pool", id)?;
        let full = if patch {
            let base = writable(pool_view(&old), POOL_FIELDS);
            Body::from_value(Value::Object(merge(base, body.into_map())), POOL_FIELDS)?
        } else {
            body
        };
        let rec = pool_from_body(&full, Some(id))?;
        self.write_pool(req, "update", rec, old).await
    }

    pub(crate) async fn set_pool_members(&self, req: &ApiRequest, id: &str) -> ApiResult {
        let body = Body::parse(&req.body, &["members"])?;
        let members: Vec<String> = body.req("members")?;
        check_members(&members)?;
        let _guard = self.write_lock.lock().await;
        let old = self.registry.get_pool(id).await?;
        read_only_check(old.source, "pool", id)?;
        let rec = PoolRecord {
            members,
            ..old.clone()
        };
        self.write_pool(req, "set_members", rec, old).await
    }

    async fn write_pool(
        &self,
        req: &ApiRequest,
        action: &'static str,
        rec: PoolRecord,
        old: PoolRecord,
    ) -> ApiResult {
        let updated = self.registry.update_pool(&rec).await?;
        let view = pool_view(&updated);
        let change = Change {
            action,
            entity_type: "pool",
            entity_id: &updated.id,
            detail: view.clone(),
        };
        self.commit(req, change, Undo::RestorePool(old)).await?;
        Ok(json_response(StatusCode::OK, &view))
    }

    pub(crate) async fn delete_pool(&self, req: &ApiRequest, id: &str) -> ApiResult {
        let _guard = self.write_lock.lock().await;
        let old = self.registry.get_pool(id).await?;
        read_only_check(old.source, "pool", id)?;
        self.registry.delete_pool(id).await?;
        let change = Change {
            action: "delete",
            entity_type: "pool",
            entity_id: id,
            detail: pool_view(&old),
        };
        self.commit(req, change, Undo::RecreatePool(old)).await?;
        Ok(no_content())
    }

    // -------------------------------------------------------------- routes

    pub(crate) async fn list_routes(&self) -> ApiResult {
        let list = self.registry.list_routes().await?;
        let views: Vec<Value> = list.iter().map(route_view).collect();
        Ok(json_response(StatusCode::OK, &json!({ "routes": views })))
    }

    pub(crate) async fn get_route(&self, model: &str) -> ApiResult {
        let r = self.registry.get_route(model).await?;
        Ok(json_response(StatusCode::OK, &route_view(&r)))
    }

    pub(crate) async fn create_route(&self, req: &ApiRequest) -> ApiResult {
        let body = Body::parse(&req.body, ROUTE_FIELDS)?;
        let rec = route_from_body(&body, None)?;
        let _guard = self.write_lock.lock().await;
        let created = self.registry.create_route(&rec).await?;
        let view = route_view(&created);
        let change = Change {
            action: "create",
            entity_type: "route",
            entity_id: &created.model,
            detail: view.clone(),
        };
        self.commit(req, change, Undo::DeleteRoute(created.model.clone()))
            .await?;
        Ok(json_response(StatusCode::CREATED, &view))
    }

    pub(crate) async fn update_route(
        &self,
        req: &ApiRequest,
        model: &str,
        patch: bool,
    ) -> ApiResult {
        let body = Body::parse(&req.body, ROUTE_FIELDS)?;
        let _guard = self.write_lock.lock().await;
        let old = self.registry.get_route(model).await?;
        read_only_check(old.source, "route", model)?;
        let full = if patch {
            let base = writable(route_view(&old), ROUTE_FIELDS);
            Body::from_value(Value::Object(merge(base, body.into_map())), ROUTE_FIELDS)?
        } else {
            body
        };
        let rec = route_from_body(&full, Some(model))?;
        let updated = self.registry.update_route(&rec).await?;
        let view = route_view(&updated);
        let change = Change {
            action: "update",
            entity_type: "route",
            entity_id: model,
            detail: view.clone(),
        };
        self.commit(req, change, Undo::RestoreRoute(old)).await?;
        Ok(json_response(StatusCode::OK, &view))
    }

    pub(crate) async fn delete_route(&self, req: &ApiRequest, model: &str) -> ApiResult {
        let _guard = self.write_lock.lock().await;
        let old = self.registry.get_route(model).await?;
        read_only_check(old.source, "route", model)?;
        self.registry.delete_route(model).await?;
        let change = Change {
            action: "delete",
            entity_type: "route",
            entity_id: model,
            detail: route_view(&old),
        };
        self.commit(req, change, Undo::RecreateRoute(old)).await?;
        Ok(no_content())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value, fields: &[&str]) -> Body {
        match Body::from_value(v, fields) {
            Ok(b) => b,
            Err(e) => panic!("{e:?}"),
        }
    }

    #[test]
    fn account_defaults_and_base_url() {
        let b = body(json!({"id": "a", "vendor": "open_ai"}), ACCOUNT_FIELDS);
        let a = account_from_body(&b, None).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(a.base_url, "https://api.openai.com/v1");
        assert!(a.enabled);
        assert_eq!(a.weight, 1);
        let b = body(json!({"id": "a", "vendor": "custom"}), ACCOUNT_FIELDS);
        let e = account_from_body(&b, None).err();
        assert!(e.is_some_and(|e| e.message.contains("`base_url`")));
    }

    #[test]
    fn account_protocol_defaults() {
        const GEMINI: &str = "https://generativelanguage.googleapis.com/v1beta";
        // (body, protocol, base_url)
        let table = [
            (
                json!({"vendor": "open_ai"}),
                "openai",
                "https://api.openai.com/v1",
            ),
            (
                json!({"vendor": "anthropic"}),
                "anthropic",
                "https://api.anthropic.com/v1",
            ),
            (json!({"vendor": "google"}), "gemini", GEMINI),
            (
                json!({"vendor": "google", "protocol": "openai"}),
                "openai",
                "https://generativelanguage.googleapis.com/v1beta/openai",
            ),
            (
                json!({"vendor": "custom", "base_url": "http://h:1/v1"}),
                "openai",
                "http://h:1/v1",
            ),
            (
                json!({"vendor": "custom", "base_url": "http://h:1/v1", "protocol": "anthropic"}),
                "anthropic",
                "http://h:1/v1",
            ),
        ];
        for (mut v, protocol, base_url) in table {
            v["id"] = json!("a");
            let a = account_from_body(&body(v.clone(), ACCOUNT_FIELDS), None)
                .unwrap_or_else(|e| panic!("{v}: {e:?}"));
            assert_eq!(
                (a.protocol.as_str(), a.base_url.as_str()),
                (protocol, base_url),
                "{v}"
            );
            assert!(a.stream_usage);
            assert_eq!(
                (a.anthropic_version.as_deref(), a.default_max_tokens),
                (None, None)
            );
            assert!(
                has_default_base_url(&a) == v.get("base_url").is_none(),
                "{v}"
            );
        }
    }

    #[test]
    fn merge_patch() {
        let base = writable(
            json!({"model": "m", "pool": "p", "fallback_route": "x", "source": "api"}),
            ROUTE_FIELDS,
        );
        let merged = merge(
            base,
            json!({"fallback_route": null})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
        assert_eq!(Value::Object(merged), json!({"model": "m", "pool": "p"}));
    }
}
