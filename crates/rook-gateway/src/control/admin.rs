//! Connects `/api/*` to `rook-admin`: the gateway's live view as a
//! [`rook_admin::Runtime`], and request/response conversion.

use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use rook_admin::{AccountHealthView, ApiRequest, BoxFuture, Runtime};

use crate::app::App;
use crate::body::RookBody;
use crate::now_ms;

/// Largest admin request body.
const MAX_ADMIN_BODY: usize = 1024 * 1024;

/// The gateway as the admin API sees it.
pub(crate) struct RuntimeView(pub(crate) Weak<App>);

fn rfc3339_ms(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(t).to_string()
}

/// `ms` as RFC 3339 UTC with milliseconds (`2026-11-18T11:06:40.123Z`).
fn rfc3339_millis(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(t).to_string()
}

impl Runtime for RuntimeView {
    fn accounts_health(&self) -> Vec<AccountHealthView> {
        let Some(app) = self.0.upgrade() else {
            return Vec::new();
        };
        let snap = app.proxy.snapshot.load();
        app.proxy
            .health
            .snapshot()
            .into_iter()
            .filter_map(|h| {
                let acct = snap.accounts.iter().find(|a| a.id == h.id)?;
                Some(AccountHealthView {
                    id: h.id.to_string(),
                    vendor: acct.vendor.as_str().to_string(),
                    enabled: acct.enabled,
                    status: h.status.as_str().to_string(),
                    consecutive_failures: h.consecutive_failures,
                    cooldown_until: h.cooldown_until_ms.map(rfc3339_ms),
                    cooldown_remaining_seconds: h.cooldown_remaining.map(|d| d.as_secs_f64()),
                    last_error_class: h.last_error_class.map(|c| c.as_str().to_string()),
                    in_flight: acct
                        .shared
                        .in_flight
                        .load(std::sync::atomic::Ordering::Relaxed),
                })
            })
            .collect()
    }

    fn routes_without_available_account(&self) -> Vec<String> {
        self.0
            .upgrade()
            .map(|app| app.proxy.routes_without_available_account())
            .unwrap_or_default()
    }

    fn routes_in_panic(&self) -> Vec<String> {
        self.0
            .upgrade()
            .map(|app| app.proxy.panics.recent(std::time::Instant::now()))
            .unwrap_or_default()
    }

    fn route_count(&self) -> usize {
        self.0
            .upgrade()
            .map_or(0, |app| app.proxy.snapshot.load().table.models().len())
    }

    fn render_metrics(&self) -> String {
        let Some(app) = self.0.upgrade() else {
            return String::new();
        };
        crate::proxy::gauges::account_gauges(&app.proxy);
        crate::control::identity::refresh(&app.registry);
        app.keys.spend_gauges();
        app.metrics.as_ref().map(|h| h.render()).unwrap_or_default()
    }

    fn uptime_seconds(&self) -> u64 {
        self.0
            .upgrade()
            .map_or(0, |app| app.started.elapsed().as_secs())
    }

    fn recent_retry_exhaustion(&self) -> u64 {
        self.0
            .upgrade()
            .map_or(0, |app| app.proxy.exhaustion.recent(now_ms()))
    }

    fn draining(&self) -> bool {
        self.0.upgrade().is_some_and(|app| app.is_draining())
    }

    fn reset_health(&self, id: &str) -> bool {
        let Some(app) = self.0.upgrade() else {
            return false;
        };
        let snap = app.proxy.snapshot.load();
        match snap.accounts.iter().find(|a| &*a.id == id) {
            Some(acct) => {
                app.proxy.health.reset(&acct.id);
                tracing::info!(account = %acct.label, "account health reset by an operator");
                true
            }
            None => false,
        }
    }

    fn cluster(&self) -> Option<rook_admin::ClusterView> {
        let app = self.0.upgrade()?;
        let v = app.cluster.view();
        Some(rook_admin::ClusterView {
            instance_id: app.cluster.instance_id.clone(),
            config_version: v.serving,
            sync_mode: app.cluster.mode().to_string(),
            listener_reconnects: v.reconnects,
            reloads: v.reloads,
        })
    }

    fn client_key_live(&self, id: &str) -> Option<rook_admin::KeyLiveView> {
        let app = self.0.upgrade()?;
        let key = app.keys.key(id)?;
        let now = app.keys.now_ms();
        let offset = app.keys.clock_offset_ms();
        let (spend_usd, _, period) = key.budget_status(now)?;
        Some(rook_admin::KeyLiveView {
            spend_usd,
            period_start_ms: period.window(now).start_ms.saturating_sub(offset),
            period_resets_at_ms: period
                .window(now)
                .resets_at_ms
                .map(|t| t.saturating_sub(offset)),
        })
    }

    fn recent_requests(&self, limit: usize) -> Vec<rook_admin::RecentRequestView> {
        let Some(app) = self.0.upgrade() else {
            return Vec::new();
        };
        app.accounting
            .recent(limit)
            .iter()
            .map(|s| rook_admin::RecentRequestView {
                request_id: s.request_id.clone(),
                at: rfc3339_millis(s.at_ms),
                endpoint: s.endpoint.to_string(),
                route: s.route.clone(),
                account: s.account.clone(),
                key_id: s.key_id.as_deref().map(str::to_string),
                attempts: s.attempts,
                outcome: s.outcome.clone(),
                error_class: s.error_class.clone(),
                status: s.status,
                latency_ms: s.latency_ms,
                stream: s.stream,
                input_tokens: s.input_tokens,
                output_tokens: s.output_tokens,
                cost_usd: s.cost_usd,
            })
            .collect()
    }

    fn reload_keys(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let app = self
                .0
                .upgrade()
                .ok_or_else(|| "the gateway is stopping".to_string())?;
            app.keys
                .reload(&app.registry, app.default_key.as_ref(), &app.keys_loader)
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        })
    }

    fn reload(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let app = self
                .0
                .upgrade()
                .ok_or_else(|| "the gateway is stopping".to_string())?;
            app.reload().await.map_err(|e| e.to_string())
        })
    }

    fn reload_config(
        &self,
        trigger: rook_admin::ReloadTrigger,
    ) -> BoxFuture<'_, Option<rook_admin::ConfigReloadReport>> {
        Box::pin(async move {
            let app = self.0.upgrade()?;
            crate::control::reload::reload(&app, trigger).await
        })
    }
}

/// Hands an `/api/*` request to the admin API.
pub(crate) async fn handle(
    app: &Arc<App>,
    req: Request<Incoming>,
    request_id: &str,
    client: std::net::IpAddr,
) -> Response<RookBody> {
    let (parts, body) = req.into_parts();
    let body = match tokio::time::timeout(
        Duration::from_secs(30),
        http_body_util::Limited::new(body, MAX_ADMIN_BODY).collect(),
    )
    .await
    {
        Ok(Ok(c)) => c.to_bytes(),
        _ => {
            return convert(rook_admin::error_response(
                http::StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "The admin request body is too large or did not arrive in time (limit 1 MiB).",
            ))
        }
    };
    let mut api = ApiRequest::new(parts.method, parts.uri.path(), body);
    api.query = parts.uri.query().map(str::to_string);
    api.headers = parts.headers;
    api.request_id = request_id.to_string();
    api.client_addr = Some(client.to_string());
    let resp = match app.admin.get() {
        Some(admin) => admin.handle(api).await,
        None => rook_admin::error_response(
            http::StatusCode::SERVICE_UNAVAILABLE,
            "starting",
            "The admin API is not ready yet.",
        ),
    };
    convert(resp)
}

/// An admin-style `http::Response<Bytes>` as a gateway response.
pub(crate) fn convert(resp: Response<Bytes>) -> Response<RookBody> {
    let (parts, body) = resp.into_parts();
    Response::from_parts(parts, RookBody::full(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_ms(1_795_000_000_000), "2026-11-18T11:06:40Z");
        assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(
            rfc3339_millis(1_795_000_000_123),
            "2026-11-18T11:06:40.123Z"
        );
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
    }
}
