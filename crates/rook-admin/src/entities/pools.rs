//! The pool and route handlers (`/api/pools…`, `/api/routes…`).

use http::StatusCode;
use rook_registry::PoolRecord;
use serde_json::{json, Value};

use crate::body::Body;
use crate::error::ApiResult;
use crate::{json_response, Admin, ApiRequest};

use super::commit::{no_content, read_only_check, Change, Undo};
use super::parse::{check_members, pool_from_body, route_from_body};
use super::{merge, pool_view, route_view, writable, POOL_FIELDS, ROUTE_FIELDS};

impl Admin {
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
