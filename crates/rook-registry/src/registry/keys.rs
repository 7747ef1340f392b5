//! The registry's side of keys at rest and of the database file's identity: the
//! sealer it holds, the check that only sealed keys are written, the start-time sealing
//! of legacy plaintext rows, master-key rotation, and the guard that refuses writes
//! into a removed or replaced SQLite file.

use std::sync::Arc;

use super::{finish_tx, Db, Registry};
use crate::error::{RegistryError, Result};
use crate::identity::{describe, DbIdentity};
use crate::seal::{self, Opened, SealError, Sealer};
use crate::time::now_ms;

/// What [`Registry::rotate_master_key`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RotateReport {
    /// Keys that were sealed under the old master key and are now sealed under the new.
    pub resealed: u64,
    /// Legacy plaintext keys that are now sealed under the new master key.
    pub sealed_legacy: u64,
}

impl RotateReport {
    /// Every key written.
    pub fn total(&self) -> u64 {
        self.resealed + self.sealed_legacy
    }
}

impl Registry {
    /// The same registry with `sealer` for inline API keys (`None`: no master key; then
    /// inline keys cannot be written, and only legacy plaintext rows can be read).
    pub fn with_sealer(mut self, sealer: Option<Sealer>) -> Registry {
        self.sealer = sealer.map(Arc::new);
        self
    }

    /// The sealer, when a master key is configured.
    pub fn sealer(&self) -> Option<&Sealer> {
        self.sealer.as_deref()
    }

    /// Seals an inline API key for storage on account `account_id`.
    /// [`RegistryError::Invalid`] (with [`seal::NO_MASTER_KEY`]) without a master key.
    pub fn seal_api_key(&self, account_id: &str, plaintext: &str) -> Result<String> {
        let sealer = self
            .sealer()
            .ok_or_else(|| RegistryError::invalid(seal::NO_MASTER_KEY))?;
        sealer
            .seal(account_id, plaintext)
            .map_err(|e| RegistryError::other(format!("cannot seal the api key: {e}")))
    }

    /// Opens the stored `api_key` value of account `account_id` (sealed or legacy).
    pub fn open_api_key(
        &self,
        account_id: &str,
        stored: &str,
    ) -> std::result::Result<Opened, SealError> {
        seal::open_with(self.sealer(), account_id, stored)
    }

    /// Refuses to write anything but a value sealed for `account_id` under this
    /// registry's master key: no plaintext key is ever written.
    pub(super) fn check_sealed(&self, account_id: &str, stored: Option<&str>) -> Result<()> {
        let Some(stored) = stored else {
            return Ok(());
        };
        let Some(sealer) = self.sealer() else {
            return Err(RegistryError::invalid(seal::NO_MASTER_KEY));
        };
        if !seal::is_sealed(stored) {
            return Err(RegistryError::invalid(
                "refusing to store a plaintext api_key: seal it with Registry::seal_api_key",
            ));
        }
        sealer
            .open(account_id, stored)
            .map(|_| ())
            .map_err(|e| RegistryError::invalid(format!("account '{account_id}' api_key: {e}")))
    }

    /// Seals every legacy plaintext `api_key` under the configured master key, in one
    /// transaction. Returns how many were sealed (0 without a master key: nothing to
    /// seal with). Values sealed under another master key are left alone.
    pub async fn seal_legacy_api_keys(&self) -> Result<u64> {
        let Some(sealer) = self.sealer.clone() else {
            return Ok(0);
        };
        let now = now_ms();
        let plan = move |rows: &[(String, String)]| -> Result<Vec<(String, String)>> {
            rows.iter()
                .filter(|(_, v)| !seal::is_sealed(v))
                .map(|(id, v)| {
                    sealer
                        .seal(id, v)
                        .map(|s| (id.clone(), s))
                        .map_err(|e| RegistryError::other(format!("cannot seal: {e}")))
                })
                .collect()
        };
        let sealed = with_tx!(self, |c, m| m::rewrite_api_keys(c, &plan, now).await)?;
        if sealed > 0 {
            self.checkpoint().await;
        }
        Ok(sealed)
    }

    /// SQLite: moves the pages just written from the WAL into the database file, so the
    /// values they replaced (zeroed by `secure_delete`) are gone from the file now rather
    /// than at the next automatic checkpoint. Best effort.
    async fn checkpoint(&self) {
        if let Db::Sqlite(pool) = &*self.db {
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(pool)
                .await
            {
                tracing::debug!(error = %e, "WAL checkpoint after re-sealing keys failed");
            }
        }
    }

    /// Re-seals every stored `api_key` under `new`, in one transaction: keys sealed
    /// under the current master key (this registry's sealer) are opened and sealed again,
    /// legacy plaintext keys are sealed. If any key cannot be opened with the current
    /// master key (sealed under another one, or damaged), nothing changes and the error
    /// ([`RegistryError::Invalid`]) names every such account.
    pub async fn rotate_master_key(&self, new: &Sealer) -> Result<RotateReport> {
        let current = self.sealer.clone();
        let now = now_ms();
        let counts = std::sync::Mutex::new(RotateReport::default());
        let plan = |rows: &[(String, String)]| -> Result<Vec<(String, String)>> {
            let mut out = Vec::with_capacity(rows.len());
            let mut bad = Vec::new();
            let mut report = RotateReport::default();
            for (id, stored) in rows {
                match seal::open_with(current.as_deref(), id, stored) {
                    Ok(opened) => {
                        match opened {
                            Opened::Sealed(_) => report.resealed += 1,
                            Opened::Legacy(_) => report.sealed_legacy += 1,
                        }
                        let key = opened.into_secret();
                        let sealed = new
                            .seal(id, key.expose())
                            .map_err(|e| RegistryError::other(format!("cannot seal: {e}")))?;
                        out.push((id.clone(), sealed));
                    }
                    Err(e) => bad.push(format!("account '{id}': {e}")),
                }
            }
            if !bad.is_empty() {
                return Err(RegistryError::invalid(format!(
                    "{} stored key(s) cannot be opened with the current master key; nothing \
                     was changed: {}",
                    bad.len(),
                    bad.join("; ")
                )));
            }
            if let Ok(mut c) = counts.lock() {
                *c = report;
            }
            Ok(out)
        };
        with_tx!(self, |c, m| m::rewrite_api_keys(c, &plan, now).await)?;
        self.checkpoint().await;
        Ok(counts.into_inner().unwrap_or_default())
    }

    /// Whether the database file is still the one opened: [`DbIdentity::Removed`] or
    /// [`DbIdentity::Replaced`] when the SQLite file was deleted or swapped while
    /// running; always [`DbIdentity::Ok`] for PostgreSQL and in-memory SQLite. Looks at
    /// the file system now (one `stat`); logs an error once per change for the worse and
    /// an info line when the file is back.
    pub fn check_identity(&self) -> DbIdentity {
        self.identity.as_ref().map_or(DbIdentity::Ok, |w| w.check())
    }

    /// The operator-facing explanation when [`Registry::check_identity`] is not `Ok`.
    pub fn identity_problem(&self) -> Option<String> {
        describe(self.identity.as_ref()?.check())
    }

    /// Every write first makes sure the SQLite file is still the one opened: writes into
    /// a removed or replaced file are [`RegistryError::Unavailable`].
    pub(super) fn guard_write(&self) -> Result<()> {
        match self.identity_problem() {
            None => Ok(()),
            Some(message) => Err(RegistryError::Unavailable { message }),
        }
    }
}
