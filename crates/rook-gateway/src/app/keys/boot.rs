//! Start-up: the declared `[[client_keys]]` into the registry, the store filled, the
//! posture logged.

use std::sync::Arc;

use rook_config::{Config, Secret};
use rook_registry::client_key::{display_prefix, hash_bytes, hash_secret, ClientKeyRecord};
use rook_registry::{Registry, Source};

use super::loader::{DefaultKey, LoaderState};
use super::KeyStore;
use crate::app::AppError;

/// Environment variable moving the key store's clock (budget periods, expiry, grace)
/// by whole seconds: a testing aid for period roll-over, read only at start. Never set
/// it in production.
pub(crate) const CLOCK_OFFSET_ENV: &str = "ROOK_TEST_CLOCK_OFFSET_SECONDS";

fn clock_offset_ms() -> i64 {
    match std::env::var(CLOCK_OFFSET_ENV) {
        Ok(v) => match v.trim().parse::<i64>() {
            Ok(secs) => {
                tracing::warn!(
                    seconds = secs,
                    "{CLOCK_OFFSET_ENV} is set: the client key clock is offset (testing aid)"
                );
                secs.saturating_mul(1000)
            }
            Err(_) => {
                tracing::warn!("{CLOCK_OFFSET_ENV} is not a whole number of seconds; ignored");
                0
            }
        },
        Err(_) => 0,
    }
}

/// The declared keys as registry records (secrets resolved and hashed at once).
pub(crate) fn declared(config: &Config) -> Result<Vec<ClientKeyRecord>, AppError> {
    config
        .client_keys
        .iter()
        .map(|k| {
            let token = k.resolve_token().map_err(|e| AppError::Secret {
                what: format!("client_keys {:?}", k.id),
                source: e,
            })?;
            let mut r = ClientKeyRecord::new(k.id.clone(), k.name.clone(), "");
            r.secret_hash = hash_secret(token.expose());
            r.prefix = display_prefix(token.expose());
            r.owner = k.owner.clone();
            r.models = k.models.clone();
            r.budget_usd = k.budget_usd;
            r.budget_period = k.budget_period.clone();
            r.requests_per_minute = k.requests_per_minute;
            r.tokens_per_minute = k.tokens_per_minute;
            r.expires_at_ms = k.expires_at_ms();
            r.enabled = k.enabled;
            r.source = Source::Config;
            Ok(r)
        })
        .collect()
}

/// Syncs the declared keys, fills the store and logs the posture.
pub(crate) async fn start(
    config: &Config,
    registry: &Registry,
    inbound_token: Option<&Secret>,
    principal: &Arc<str>,
    limits: &Arc<crate::leases::SharedLimits>,
    budgets: &Arc<crate::budgets::SharedBudgets>,
) -> Result<(Arc<KeyStore>, Arc<LoaderState>, Option<DefaultKey>), AppError> {
    let records = declared(config)?;
    registry
        .sync_declared_client_keys(&records)
        .await
        .map_err(|e| AppError::Keys(e.to_string()))?;
    let default = inbound_token.map(|t| DefaultKey {
        hash: hash_bytes(t.expose().as_bytes()),
        principal: principal.clone(),
    });
    let store = Arc::new(KeyStore::new(clock_offset_ms()));
    store.share_limits(limits.clone());
    store.share_budgets(budgets.clone());
    let state = Arc::new(LoaderState::default());
    let n = store
        .reload(registry, default.as_ref(), &state)
        .await
        .map_err(|e| AppError::Keys(e.to_string()))?;
    if n > 0 && inbound_token.is_none() {
        tracing::warn!(
            keys = n,
            "[inbound_auth] is disabled but client keys exist: every /v1 request needs a client key"
        );
    } else if n > 0 {
        tracing::info!(keys = n, "client keys loaded");
    }
    Ok((store, state, default))
}
