//! Client keys: CRUD, rotation with grace, revocation (the row stays), batched
//! last-used times, spend and request counts per key from usage events, and the
//! sync of keys declared in the config file.

use super::{finish_tx, Db, Registry};
use crate::client_key::{ClientKeyRecord, KeyUsage};
use crate::error::{RegistryError, Result};
use crate::time::now_ms;
use crate::types::SyncReport;

impl Registry {
    /// Every client key (config and api, revoked too), ordered by id, with hashes.
    pub async fn list_client_keys(&self) -> Result<Vec<ClientKeyRecord>> {
        with_conn!(self, |c, m| m::keys::list(c).await)
    }

    /// One client key; [`RegistryError::NotFound`] when missing.
    pub async fn get_client_key(&self, id: &str) -> Result<ClientKeyRecord> {
        let found = with_conn!(self, |c, m| m::keys::find(c, id).await)?;
        found.ok_or_else(|| RegistryError::NotFound {
            entity: "client key",
            id: id.to_string(),
        })
    }

    /// Creates an API-managed key (stored with `source = api`; `created_at_ms` and
    /// `updated_at_ms` are now). [`RegistryError::AlreadyExists`] if the id is taken,
    /// [`RegistryError::Invalid`] when a rule is broken.
    pub async fn create_client_key(&self, key: &ClientKeyRecord) -> Result<ClientKeyRecord> {
        let now = now_ms();
        with_tx!(self, |c, m| m::keys::create(c, key, now).await)
    }

    /// Replaces the settings of an API-managed key (name, owner, models, budget, limits,
    /// expiry, enabled, metadata); the secret, source and times other than
    /// `updated_at_ms` stay. [`RegistryError::ReadOnly`] for config keys.
    pub async fn update_client_key(&self, key: &ClientKeyRecord) -> Result<ClientKeyRecord> {
        let now = now_ms();
        with_tx!(self, |c, m| m::keys::update(c, key, now).await)
    }

    /// Gives an API-managed key a new secret (by its hash and display prefix). With
    /// `grace_until_ms` in the future the old secret keeps working until then; otherwise
    /// it stops at once. A revoked key cannot be rotated.
    pub async fn rotate_client_key(
        &self,
        id: &str,
        new_hash: &str,
        new_prefix: &str,
        grace_until_ms: Option<i64>,
    ) -> Result<ClientKeyRecord> {
        let now = now_ms();
        with_tx!(self, |c, m| m::keys::rotate(
            c,
            id,
            new_hash,
            new_prefix,
            grace_until_ms,
            now
        )
        .await)
    }

    /// Revokes an API-managed key for good (idempotent); the row stays for usage history.
    pub async fn revoke_client_key(&self, id: &str) -> Result<ClientKeyRecord> {
        let now = now_ms();
        with_tx!(self, |c, m| m::keys::revoke(c, id, now).await)
    }

    /// Records when keys were last used (one batch; a later time never goes back).
    pub async fn touch_client_keys(&self, used: &[(String, i64)]) -> Result<()> {
        if used.is_empty() {
            return Ok(());
        }
        with_tx!(self, |c, m| m::keys::touch(c, used).await)
    }

    /// A cheap fingerprint of the key table, `(count, latest updated_at_ms)`, that
    /// changes with every create, update, rotation, revocation and sync.
    pub async fn client_keys_version(&self) -> Result<(i64, i64)> {
        with_conn!(self, |c, m| m::keys::version(c).await)
    }

    /// Spend (sum of `cost_usd`) and requests of key `id` with `ts_ms >= since_ms`.
    pub async fn client_key_usage(&self, id: &str, since_ms: i64) -> Result<KeyUsage> {
        with_conn!(self, |c, m| m::keys::usage_since(c, id, since_ms).await)
    }

    /// Makes the config-declared keys equal to `declared` in one transaction (see
    /// `docs/keys.md`). The `source` of the inputs is ignored.
    pub async fn sync_declared_client_keys(
        &self,
        declared: &[ClientKeyRecord],
    ) -> Result<SyncReport> {
        let now = now_ms();
        let report = with_tx!(self, |c, m| m::keys::sync_declared(c, declared, now).await)?;
        tracing::info!(
            added = report.added,
            updated = report.updated,
            removed = report.removed,
            "synced declared client keys"
        );
        Ok(report)
    }
}
