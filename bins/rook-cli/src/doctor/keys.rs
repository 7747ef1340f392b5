//! The `client_keys` check: keys expiring within 7 days, and keys without any limit
//! on a non-loopback bind.

use rook_gateway::rook_config::Config;
use rook_gateway::rook_registry::client_key::{ClientKeyRecord, KeyState};
use rook_gateway::rook_registry::time::now_ms;
use rook_gateway::rook_registry::Registry;
use serde_json::json;

use super::{Check, Status};

/// How far ahead expiring keys are reported.
const EXPIRY_WARNING_MS: i64 = 7 * 86_400_000;

/// The keys of the registry plus declared ones not synced yet.
async fn keys(config: &Config, registry: Option<&Registry>) -> Vec<ClientKeyRecord> {
    let mut out = match registry {
        Some(r) => r.list_client_keys().await.unwrap_or_default(),
        None => Vec::new(),
    };
    for d in &config.client_keys {
        if !out.iter().any(|k| k.id == d.id) {
            let mut k = ClientKeyRecord::new(d.id.clone(), d.name.clone(), "");
            k.models = d.models.clone();
            k.budget_usd = d.budget_usd;
            k.requests_per_minute = d.requests_per_minute;
            k.tokens_per_minute = d.tokens_per_minute;
            k.expires_at_ms = d.expires_at_ms();
            k.enabled = d.enabled;
            out.push(k);
        }
    }
    out
}

/// The check.
pub(super) async fn check_client_keys(config: &Config, registry: Option<&Registry>) -> Check {
    let now = now_ms();
    let keys = keys(config, registry).await;
    let active: Vec<&ClientKeyRecord> = keys
        .iter()
        .filter(|k| k.state(now) == KeyState::Active)
        .collect();
    let expiring: Vec<String> = active
        .iter()
        .filter(|k| {
            k.expires_at_ms
                .is_some_and(|t| t - now <= EXPIRY_WARNING_MS)
        })
        .map(|k| k.id.clone())
        .collect();
    let unlimited: Vec<String> = if config.bind_is_loopback() {
        Vec::new()
    } else {
        active
            .iter()
            .filter(|k| !k.has_limits())
            .map(|k| k.id.clone())
            .collect()
    };
    let mut problems = Vec::new();
    if !expiring.is_empty() {
        problems.push(format!("expiring within 7 days: {}", expiring.join(", ")));
    }
    if !unlimited.is_empty() {
        problems.push(format!(
            "without any limit on a non-loopback bind: {}",
            unlimited.join(", ")
        ));
    }
    let check = if problems.is_empty() {
        Check::new(
            "client_keys",
            Status::Pass,
            match active.len() {
                0 => "no active client keys".to_string(),
                n => format!("{n} active client key{}", if n == 1 { "" } else { "s" }),
            },
        )
    } else {
        Check::new("client_keys", Status::Warn, problems.join("; ")).guidance(
            "rotate or extend expiring keys (`rook-cli keys rotate`, a new `expires_at`); give \
             keys reachable from the network a scope, budget, rate limit or expiry",
        )
    };
    check
        .detail("active", active.len())
        .detail("expiring", json!(expiring))
        .detail("unlimited", json!(unlimited))
}
