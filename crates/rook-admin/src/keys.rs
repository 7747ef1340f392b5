//! Client keys: `GET|POST /api/keys`, `GET|PATCH|DELETE /api/keys/{id}`,
//! `POST /api/keys/{id}/rotate`.
//!
//! The secret (`rk-` + 43 base62 characters) is generated here and returned once, in
//! the `secret` field of the creation and rotation answers; the registry keeps its
//! SHA-256 and a display prefix. Keys declared in the config file (and the `default`
//! key of `[inbound_auth]`) are read-only (409 `read_only`). `DELETE` revokes: the row
//! stays for usage history. Every change is applied to the running gateway at once
//! ([`crate::Runtime::reload_keys`]) and audited (actor `admin`, the request id, the key
//! as shown, never a secret).

use http::StatusCode;
use rook_config::entity::client_key::{
    self, format_utc, BudgetPeriod, ClientKeyRef, DAY_MS, DEFAULT_KEY_ID,
};
use rook_registry::client_key::{
    display_prefix, generate_secret, hash_secret, ClientKeyRecord, KeyUsage,
};
use rook_registry::time::now_ms;
use rook_registry::{AuditEvent, Source};
use serde_json::{json, Value};

use crate::body::Body;
use crate::error::{ApiError, ApiResult};
use crate::{json_response, Admin, ApiRequest};

/// Fields of a key body.
const KEY_FIELDS: &[&str] = &[
    "id",
    "name",
    "owner",
    "models",
    "budget_usd",
    "budget_period",
    "requests_per_minute",
    "tokens_per_minute",
    "expires_at",
    "enabled",
    "metadata",
];

/// Longest rotation grace: 30 days.
pub(crate) const MAX_GRACE_SECONDS: u64 = 30 * 86_400;

fn ts(ms: Option<i64>) -> Value {
    ms.map_or(Value::Null, |t| Value::String(format_utc(t)))
}

/// A key as the API (and `rook-cli keys`) shows it: never the secret or its hash.
pub fn client_key_view(k: &ClientKeyRecord, now: i64) -> Value {
    key_view(k, now)
}

/// [`client_key_view`] plus `spend_usd` of the current budget period, `period_start`,
/// `period_resets_at` and `requests_today`: from `live` (the running gateway's count)
/// when given, else from the registry's usage events.
pub async fn client_key_with_usage(
    registry: &rook_registry::Registry,
    k: &ClientKeyRecord,
    now: i64,
    live: Option<crate::KeyLiveView>,
) -> Result<Value, rook_registry::RegistryError> {
    let mut view = key_view(k, now);
    let period = k.budget_period.as_deref().and_then(BudgetPeriod::from_name);
    let (spend, start, resets) = match (live, period) {
        (Some(live), _) => (
            live.spend_usd,
            Some(live.period_start_ms),
            live.period_resets_at_ms,
        ),
        (None, Some(p)) => {
            let w = p.window(now);
            let u = registry.client_key_usage(&k.id, w.start_ms).await?;
            (u.spend_usd, Some(w.start_ms), w.resets_at_ms)
        }
        (None, None) => {
            let u = registry.client_key_usage(&k.id, i64::MIN).await?;
            (u.spend_usd, None, None)
        }
    };
    let today = now.div_euclid(DAY_MS) * DAY_MS;
    let KeyUsage { requests, .. } = registry.client_key_usage(&k.id, today).await?;
    insert(&mut view, "spend_usd", json!((spend * 1e6).round() / 1e6));
    insert(
        &mut view,
        "period_start",
        ts(start.filter(|s| *s != i64::MIN)),
    );
    insert(&mut view, "period_resets_at", ts(resets));
    insert(&mut view, "requests_today", json!(requests));
    Ok(view)
}

/// The `default` key (`[inbound_auth]`'s token) as listings show it, with
/// `requests_today`.
pub async fn default_key_view(
    registry: &rook_registry::Registry,
    now: i64,
) -> Result<Value, rook_registry::RegistryError> {
    let mut d = default_view();
    let today = now.div_euclid(DAY_MS) * DAY_MS;
    let u = registry.client_key_usage(DEFAULT_KEY_ID, today).await?;
    insert(&mut d, "requests_today", json!(u.requests));
    Ok(d)
}

fn key_view(k: &ClientKeyRecord, now: i64) -> Value {
    let grace = k
        .previous_valid_until_ms
        .filter(|t| *t > now && k.previous_hash.is_some());
    json!({
        "id": k.id,
        "name": k.name,
        "owner": k.owner,
        "prefix": format!("{}…", k.prefix.trim_end_matches('…')),
        "models": k.models,
        "budget_usd": k.budget_usd,
        "budget_period": k.budget_period,
        "requests_per_minute": k.requests_per_minute,
        "tokens_per_minute": k.tokens_per_minute,
        "expires_at": ts(k.expires_at_ms),
        "enabled": k.enabled,
        "state": k.state(now).as_str(),
        "revoked_at": ts(k.revoked_at_ms),
        "rotation_grace_until": ts(grace),
        "created_at": ts(Some(k.created_at_ms)),
        "updated_at": ts(Some(k.updated_at_ms)),
        "last_used_at": ts(k.last_used_at_ms),
        "metadata": k.metadata,
        "source": k.source.as_str(),
    })
}

/// The `[inbound_auth]` token as a key: read-only, no limits.
fn default_view() -> Value {
    json!({
        "id": DEFAULT_KEY_ID,
        "name": "[inbound_auth] token",
        "owner": null,
        "prefix": null,
        "models": [],
        "budget_usd": null,
        "budget_period": null,
        "requests_per_minute": null,
        "tokens_per_minute": null,
        "expires_at": null,
        "enabled": true,
        "state": "active",
        "revoked_at": null,
        "rotation_grace_until": null,
        "created_at": null,
        "updated_at": null,
        "last_used_at": null,
        "metadata": {},
        "source": "config",
    })
}

fn insert(view: &mut Value, key: &str, v: Value) {
    if let Value::Object(m) = view {
        m.insert(key.to_string(), v);
    }
}

/// A key from a body (`base`: the stored key a PATCH starts from).
fn key_from_body(body: &Body, base: Option<&ClientKeyRecord>) -> ApiResult<ClientKeyRecord> {
    let id = match base {
        Some(b) => {
            if let Some(given) = body.opt::<String>("id")? {
                if given != b.id {
                    return Err(ApiError::field("id", "keys cannot be renamed"));
                }
            }
            b.id.clone()
        }
        None => match body.opt::<String>("id")? {
            Some(id) => id,
            None => slug(&body.req::<String>("name")?),
        },
    };
    let mut k = base
        .cloned()
        .unwrap_or_else(|| ClientKeyRecord::new(id.clone(), "", ""));
    macro_rules! field {
        ($name:literal, $slot:expr) => {
            if body.has($name) {
                $slot = body.opt($name)?;
            }
        };
    }
    if body.has("name") {
        k.name = body.req("name")?;
    }
    field!("owner", k.owner);
    if body.has("models") {
        k.models = body.opt("models")?.unwrap_or_default();
    }
    field!("budget_usd", k.budget_usd);
    field!("budget_period", k.budget_period);
    field!("requests_per_minute", k.requests_per_minute);
    field!("tokens_per_minute", k.tokens_per_minute);
    if body.has("expires_at") {
        k.expires_at_ms = match body.opt::<String>("expires_at")? {
            None => None,
            Some(t) => Some(client_key::parse_utc(&t).ok_or_else(|| {
                ApiError::field(
                    "expires_at",
                    "must be a UTC date (YYYY-MM-DD) or an RFC 3339 timestamp",
                )
            })?),
        };
    }
    if body.has("enabled") {
        k.enabled = body.opt("enabled")?.unwrap_or(true);
    }
    if body.has("metadata") {
        k.metadata = body.opt("metadata")?.unwrap_or_else(|| json!({}));
    }
    let errors = client_key::check_client_key(&ClientKeyRef {
        id: &k.id,
        name: &k.name,
        owner: k.owner.as_deref(),
        models: &k.models,
        budget_usd: k.budget_usd,
        budget_period: k.budget_period.as_deref(),
        requests_per_minute: k.requests_per_minute,
        tokens_per_minute: k.tokens_per_minute,
        metadata: Some(&k.metadata),
    });
    if let Some(e) = errors.into_iter().next() {
        return Err(e.into());
    }
    Ok(k)
}

impl Admin {
    fn check_writable(&self, k: &ClientKeyRecord) -> ApiResult<()> {
        if k.source == Source::Config {
            return Err(ApiError::read_only("client key", &k.id));
        }
        Ok(())
    }

    fn default_read_only(id: &str) -> ApiResult<()> {
        if id == DEFAULT_KEY_ID {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "read_only",
                "the `default` key is [inbound_auth]'s token; change it in the config file",
            ));
        }
        Ok(())
    }

    fn has_default_key(&self) -> bool {
        self.config.inbound_auth.enabled
    }

    async fn full_view(&self, k: &ClientKeyRecord) -> ApiResult<Value> {
        let live = self.runtime.client_key_live(&k.id);
        Ok(client_key_with_usage(&self.registry, k, now_ms(), live).await?)
    }

    async fn key_changed(&self, req: &ApiRequest, action: &'static str, id: &str, detail: Value) {
        if let Err(e) = self.runtime.reload_keys().await {
            tracing::warn!(error = %e, "client keys could not be reloaded at once; the gateway picks the change up within seconds");
        }
        let event = AuditEvent {
            id: None,
            ts_ms: now_ms(),
            request_id: (!req.request_id.is_empty()).then(|| req.request_id.clone()),
            client_addr: req.client_addr.clone(),
            actor: req.actor().to_string(),
            action: action.to_string(),
            entity_type: "client_key".to_string(),
            entity_id: id.to_string(),
            detail,
        };
        if let Err(e) = self.registry.insert_audit(&event).await {
            tracing::warn!(error = %e, action, "could not write the audit event of a client key change");
        }
    }

    pub(crate) async fn list_keys(&self) -> ApiResult {
        let mut views = Vec::new();
        if self.has_default_key() {
            let mut d = default_view();
            let now = now_ms();
            let today = now.div_euclid(DAY_MS) * DAY_MS;
            let u = self
                .registry
                .client_key_usage(DEFAULT_KEY_ID, today)
                .await?;
            insert(&mut d, "requests_today", json!(u.requests));
            views.push(d);
        }
        for k in self.registry.list_client_keys().await? {
            views.push(self.full_view(&k).await?);
        }
        Ok(json_response(StatusCode::OK, &json!({ "keys": views })))
    }

    pub(crate) async fn get_key(&self, id: &str) -> ApiResult {
        if id == DEFAULT_KEY_ID && self.has_default_key() {
            let mut d = default_view();
            let today = now_ms().div_euclid(DAY_MS) * DAY_MS;
            let u = self
                .registry
                .client_key_usage(DEFAULT_KEY_ID, today)
                .await?;
            insert(&mut d, "requests_today", json!(u.requests));
            return Ok(json_response(StatusCode::OK, &d));
        }
        let k = self.registry.get_client_key(id).await?;
        Ok(json_response(StatusCode::OK, &self.full_view(&k).await?))
    }

    pub(crate) async fn create_key(&self, req: &ApiRequest) -> ApiResult {
        let body = Body::parse(&req.body, KEY_FIELDS)?;
        let mut k = key_from_body(&body, None)?;
        let secret = generate_secret().map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                e.to_string(),
            )
        })?;
        k.secret_hash = hash_secret(&secret);
        k.prefix = display_prefix(&secret);
        k.source = Source::Api;
        let _guard = self.write_lock.lock().await;
        let created = self.registry.create_client_key(&k).await?;
        let view = key_view(&created, now_ms());
        self.key_changed(req, "create", &created.id, view.clone())
            .await;
        let mut answer = self.full_view(&created).await?;
        insert(&mut answer, "secret", Value::String(secret));
        Ok(json_response(StatusCode::CREATED, &answer))
    }

    pub(crate) async fn update_key(&self, req: &ApiRequest, id: &str) -> ApiResult {
        Self::default_read_only(id)?;
        let body = Body::parse(&req.body, KEY_FIELDS)?;
        let _guard = self.write_lock.lock().await;
        let old = self.registry.get_client_key(id).await?;
        self.check_writable(&old)?;
        let k = key_from_body(&body, Some(&old))?;
        let updated = self.registry.update_client_key(&k).await?;
        let view = key_view(&updated, now_ms());
        self.key_changed(req, "update", id, view).await;
        Ok(json_response(
            StatusCode::OK,
            &self.full_view(&updated).await?,
        ))
    }

    pub(crate) async fn revoke_key(&self, req: &ApiRequest, id: &str) -> ApiResult {
        Self::default_read_only(id)?;
        let _guard = self.write_lock.lock().await;
        let old = self.registry.get_client_key(id).await?;
        self.check_writable(&old)?;
        let revoked = self.registry.revoke_client_key(id).await?;
        let view = key_view(&revoked, now_ms());
        self.key_changed(req, "revoke", id, view).await;
        Ok(json_response(
            StatusCode::OK,
            &self.full_view(&revoked).await?,
        ))
    }

    pub(crate) async fn rotate_key(&self, req: &ApiRequest, id: &str) -> ApiResult {
        Self::default_read_only(id)?;
        let grace = if req.body.iter().all(u8::is_ascii_whitespace) {
            0
        } else {
            Body::parse(&req.body, &["grace_seconds"])?
                .opt::<u64>("grace_seconds")?
                .unwrap_or(0)
        };
        if grace > MAX_GRACE_SECONDS {
            return Err(ApiError::field(
                "grace_seconds",
                format!("must be at most {MAX_GRACE_SECONDS} (30 days)"),
            ));
        }
        let _guard = self.write_lock.lock().await;
        let old = self.registry.get_client_key(id).await?;
        self.check_writable(&old)?;
        let secret = generate_secret().map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                e.to_string(),
            )
        })?;
        let until = (grace > 0).then(|| now_ms() + i64::try_from(grace * 1000).unwrap_or(0));
        let rotated = self
            .registry
            .rotate_client_key(id, &hash_secret(&secret), &display_prefix(&secret), until)
            .await?;
        let mut detail = key_view(&rotated, now_ms());
        insert(&mut detail, "grace_seconds", json!(grace));
        self.key_changed(req, "rotate", id, detail).await;
        let mut answer = self.full_view(&rotated).await?;
        insert(&mut answer, "secret", Value::String(secret));
        Ok(json_response(StatusCode::OK, &answer))
    }
}

/// A key id from a name (`rook-cli keys create --name` without `--id`): lowercase letters, digits, `.` and `_` kept, anything else `-`.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slug("CI bot #2"), "ci-bot-2");
        assert_eq!(slug("  web.app_1 "), "web.app_1");
        assert_eq!(slug("???"), "");
    }
}
