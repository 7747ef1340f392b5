//! The account handlers (`/api/accounts…`).

use http::StatusCode;
use rook_config::entity;
use serde_json::{json, Value};

use crate::body::Body;
use crate::error::{ApiError, ApiResult};
use crate::{json_response, Admin, ApiRequest};

use super::commit::{no_content, read_only_check, Change, Undo};
use super::parse::{
    account_from_body, check_api_key, has_default_base_url, has_default_protocol, key_change,
    KeyChange,
};
use super::{account_view, merge, writable, ACCOUNT_FIELDS};

impl Admin {
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
}
