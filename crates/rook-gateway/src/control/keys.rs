//! Keys at rest: the master key opened at start-up, legacy plaintext keys sealed once,
//! and the inline keys of the registry opened for the routing snapshot.
//!
//! A key that does not open (sealed under another master key, no master key, damaged)
//! makes only its account unusable, with an error log line naming the account and the
//! reason; the rest of the gateway serves on.

use rook_config::Config;
use rook_registry::seal::{Opened, Sealer};
use rook_registry::{AccountRecord, Registry};

use crate::app::AppError;

/// Gives `registry` the configured master key (a malformed or unreadable one fails the
/// start, exit 2) and seals any legacy plaintext keys under it in one transaction.
/// Without a master key, plaintext rows left by earlier versions are reported.
pub(crate) async fn prepare(config: &Config, registry: Registry) -> Result<Registry, AppError> {
    let master = config
        .secrets
        .resolve_master_key()
        .map_err(AppError::MasterKey)?;
    let sealer = match &master {
        Some(key) => Some(Sealer::new(key).map_err(|e| AppError::Sealer(e.to_string()))?),
        None => None,
    };
    if let Some(s) = &sealer {
        tracing::info!(
            key_id = s.key_id(),
            "master key loaded: inline api keys are sealed at rest"
        );
    }
    let registry = registry.with_sealer(sealer);
    if registry.sealer().is_some() {
        let sealed = registry.seal_legacy_api_keys().await?;
        if sealed > 0 {
            tracing::info!(
                sealed,
                "sealed inline api keys stored in plaintext by an earlier version"
            );
        }
    } else {
        let plaintext = registry
            .list_accounts()
            .await?
            .iter()
            .filter(|a| {
                a.api_key
                    .as_deref()
                    .is_some_and(|k| !rook_registry::seal::is_sealed(k))
            })
            .count();
        if plaintext > 0 {
            tracing::warn!(
                accounts = plaintext,
                "inline api keys are stored in plaintext (written by an earlier version); set \
                 [secrets] master_key_env (or master_key_file) to have them encrypted at the next start"
            );
        }
    }
    Ok(registry)
}

/// Replaces each stored inline key by its opened value, in memory, for the routing
/// snapshot. An account whose key does not open is disabled in the snapshot (never
/// routed to), with an error log line.
pub(crate) fn open_inline_keys(registry: &Registry, accounts: &mut [AccountRecord]) {
    for rec in accounts {
        let Some(stored) = rec.api_key.take() else {
            continue;
        };
        match registry.open_api_key(&rec.id, &stored) {
            Ok(Opened::Sealed(key) | Opened::Legacy(key)) => {
                rec.api_key = Some(key.expose().to_string());
            }
            Err(e) if rec.enabled => {
                tracing::error!(
                    account = %rec.id,
                    error = %e,
                    "the account's stored api key cannot be decrypted: the account is unusable \
                     (check [secrets] master_key_env / master_key_file, or set the key again)"
                );
                rec.enabled = false;
            }
            Err(e) => {
                tracing::debug!(account = %rec.id, error = %e, "a disabled account's api key cannot be decrypted");
            }
        }
    }
}
