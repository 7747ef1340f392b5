//! The readiness probe and `/api/status`.

use bytes::Bytes;
use http::{Response, StatusCode};

use crate::{json_response, Admin};

impl Admin {
    pub(crate) async fn ready(&self) -> Response<Bytes> {
        let mut checks = Vec::new();
        let bound = self
            .registry
            .request_deadline()
            .unwrap_or(std::time::Duration::from_secs(2));
        let db_ok = match tokio::time::timeout(bound, self.registry.ping()).await {
            Ok(Ok(())) => true,
            Ok(Err(_)) | Err(_) => false,
        };
        let identity = self.registry.check_identity();
        let problem = self.registry.identity_problem();
        let db_ok = db_ok && problem.is_none();
        checks.push(serde_json::json!({
            "name": "database",
            "ok": db_ok,
            "identity": identity.as_str(),
            "message": match (&problem, db_ok) {
                (Some(p), _) => p.clone(),
                (None, true) => "reachable".to_string(),
                (None, false) => "the database is unreachable".to_string(),
            },
        }));
        let total = self.runtime.route_count();
        let dead = self.runtime.routes_without_available_account();
        let routes_ok = total > 0 && dead.len() < total;
        checks.push(serde_json::json!({
            "name": "routes",
            "ok": routes_ok,
            "message": if total == 0 {
                "no routes are configured".to_string()
            } else if routes_ok {
                format!("{} of {} routes have an available account", total - dead.len(), total)
            } else {
                "no route has an available account".to_string()
            },
        }));
        let draining = self.runtime.draining();
        checks.push(serde_json::json!({
            "name": "accepting",
            "ok": !draining,
            "message": if draining { "shutting down" } else { "accepting requests" },
        }));
        let ok = db_ok && routes_ok && !draining;
        json_response(
            if ok {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            },
            &serde_json::json!({"status": if ok { "ready" } else { "not_ready" }, "checks": checks}),
        )
    }

    pub(crate) async fn status(&self) -> Response<Bytes> {
        let health = self.runtime.accounts_health();
        let mut by_status = serde_json::Map::new();
        for s in ["healthy", "degraded", "unhealthy", "unknown"] {
            let n = health.iter().filter(|h| h.status == s).count();
            by_status.insert(s.to_string(), n.into());
        }
        let r = &self.config.upstream_resilience;
        let mut body = serde_json::json!({
            "version": self.version,
            "uptime_seconds": self.runtime.uptime_seconds(),
            "bind": {
                "address": self.config.listen_address(),
                "loopback": self.config.bind_is_loopback(),
            },
            "auth": {
                "inbound": self.config.inbound_auth.enabled,
                "admin": self.token.is_some(),
            },
            "database": {
                "backend": self.registry.backend().as_str(),
                "identity": self.registry.check_identity().as_str(),
                "problem": self.registry.identity_problem(),
            },
            "accounts": {"total": health.len(), "by_status": by_status},
            "routes": {
                "total": self.runtime.route_count(),
                "without_available_account": self.runtime.routes_without_available_account(),
                "in_panic": self.runtime.routes_in_panic(),
            },
            "routes_in_panic": self.runtime.routes_in_panic(),
            "resilience": {
                "max_buffered_attempts": r.max_buffered_attempts,
                "failure_threshold": r.failure_threshold,
                "failure_cooldown_seconds": r.failure_cooldown_seconds,
                "failure_cooldown_max_seconds": r.failure_cooldown_max_seconds,
                "failure_rate_threshold": r.failure_rate_threshold,
                "failure_rate_min_requests": r.failure_rate_min_requests,
                "failure_rate_window_seconds": r.failure_rate_window_seconds,
                "panic_mode": r.panic_mode,
                "retry_backoff_milliseconds": r.retry_backoff_milliseconds,
                "max_concurrent_upstream_requests": r.max_concurrent_upstream_requests,
                "permit_queue_timeout_milliseconds": r.permit_queue_timeout_milliseconds,
                "retry_budget_ratio": r.retry_budget_ratio,
                "retry_budget_min_per_second": r.retry_budget_min_per_second,
                "request_deadline_seconds": r.request_deadline_seconds,
            },
            "recent_retry_exhaustion": {
                "window_seconds": 900,
                "requests": self.runtime.recent_retry_exhaustion(),
            },
            "draining": self.runtime.draining(),
        });
        let me = self.runtime.cluster();
        if let Some(obj) = body.as_object_mut() {
            obj.insert(
                "config_version".into(),
                me.as_ref().map(|m| m.config_version).into(),
            );
            obj.insert(
                "cluster".into(),
                crate::cluster::status(&self.registry, me.as_ref()).await,
            );
        }
        json_response(StatusCode::OK, &body)
    }
}
