//! Writing a change: the registry write, the routing reload, the undo when the
//! gateway cannot apply it, and the audit event.

use bytes::Bytes;
use http::{Response, StatusCode};
use rook_registry::time::now_ms;
use rook_registry::{AccountRecord, AuditEvent, PoolRecord, RegistryError, RouteRecord, Source};
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::{Admin, ApiRequest};

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
pub(super) struct Change<'a> {
    pub(super) action: &'static str,
    pub(super) entity_type: &'static str,
    pub(super) entity_id: &'a str,
    pub(super) detail: Value,
}

pub(super) fn no_content() -> Response<Bytes> {
    let mut r = Response::new(Bytes::new());
    *r.status_mut() = StatusCode::NO_CONTENT;
    r
}

pub(super) fn read_only_check(source: Source, entity: &str, id: &str) -> ApiResult<()> {
    if source == Source::Config {
        Err(ApiError::read_only(entity, id))
    } else {
        Ok(())
    }
}

impl Admin {
    /// Seals an inline key for account `id`; without a master key, 400 naming the
    /// alternatives (`api_key_env` / `api_key_file`, or `[secrets] master_key_env`).
    pub(super) fn seal_key(&self, id: &str, key: &str) -> ApiResult<String> {
        if self.registry.sealer().is_none() {
            return Err(ApiError::field(
                "api_key",
                rook_registry::seal::NO_MASTER_KEY,
            ));
        }
        Ok(self.registry.seal_api_key(id, key)?)
    }

    pub(super) async fn undo(&self, undo: Undo) -> Result<(), RegistryError> {
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
    pub(super) async fn commit(
        &self,
        req: &ApiRequest,
        change: Change<'_>,
        undo: Undo,
    ) -> ApiResult<()> {
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
    pub(super) async fn audit(&self, req: &ApiRequest, change: Change<'_>) {
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
}
