// Client keys, included by `backend.rs` once per backend after `backend_impl.rs` (so
// `Conn`, `DbRow` and the helpers are in scope).

pub(crate) mod keys {
    use sqlx::Row as _;

    use super::{Conn, DbRow};
    use crate::backend::{to_u32, validate_client_key};
    use crate::client_key::{ClientKeyRecord, KeyUsage};
    use crate::error::{is_unique_violation, RegistryError, Result};
    use crate::types::{Source, SyncReport};

    const COLS: &str = "id, name, owner, models_json, budget_usd, budget_period, \
                        requests_per_minute, tokens_per_minute, expires_at_ms, enabled, \
                        revoked_at_ms, metadata_json, source, secret_hash, secret_prefix, \
                        previous_hash, previous_valid_until_ms, created_at_ms, updated_at_ms, \
                        last_used_at_ms";

    fn from_row(r: &DbRow) -> Result<ClientKeyRecord> {
        let models: String = r.try_get("models_json")?;
        let metadata: String = r.try_get("metadata_json")?;
        Ok(ClientKeyRecord {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            owner: r.try_get("owner")?,
            models: serde_json::from_str(&models)
                .map_err(|e| RegistryError::other(format!("bad models_json in database: {e}")))?,
            budget_usd: r.try_get("budget_usd")?,
            budget_period: r.try_get("budget_period")?,
            requests_per_minute: r
                .try_get::<Option<i64>, _>("requests_per_minute")?
                .map(to_u32),
            tokens_per_minute: r.try_get::<Option<i64>, _>("tokens_per_minute")?.map(to_u32),
            expires_at_ms: r.try_get("expires_at_ms")?,
            enabled: r.try_get("enabled")?,
            revoked_at_ms: r.try_get("revoked_at_ms")?,
            metadata: serde_json::from_str(&metadata).map_err(|e| {
                RegistryError::other(format!("bad metadata_json in database: {e}"))
            })?,
            source: Source::parse(&r.try_get::<String, _>("source")?)?,
            secret_hash: r.try_get("secret_hash")?,
            prefix: r.try_get("secret_prefix")?,
            previous_hash: r.try_get("previous_hash")?,
            previous_valid_until_ms: r.try_get("previous_valid_until_ms")?,
            created_at_ms: r.try_get("created_at_ms")?,
            updated_at_ms: r.try_get("updated_at_ms")?,
            last_used_at_ms: r.try_get("last_used_at_ms")?,
        })
    }

    fn json(v: &impl serde::Serialize) -> Result<String> {
        serde_json::to_string(v).map_err(RegistryError::other)
    }

    pub(crate) async fn list(c: &mut Conn) -> Result<Vec<ClientKeyRecord>> {
        let rows = sqlx::query(&format!("SELECT {COLS} FROM client_keys ORDER BY id"))
            .fetch_all(&mut *c)
            .await?;
        rows.iter().map(from_row).collect()
    }

    pub(crate) async fn find(c: &mut Conn, id: &str) -> Result<Option<ClientKeyRecord>> {
        let row = sqlx::query(&format!("SELECT {COLS} FROM client_keys WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *c)
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    async fn must_find(c: &mut Conn, id: &str) -> Result<ClientKeyRecord> {
        find(c, id).await?.ok_or_else(|| RegistryError::NotFound {
            entity: "client key",
            id: id.to_string(),
        })
    }

    async fn must_find_api(c: &mut Conn, id: &str) -> Result<ClientKeyRecord> {
        let k = must_find(c, id).await?;
        if k.source == Source::Config {
            return Err(RegistryError::ReadOnly {
                entity: "client key",
                id: id.to_string(),
            });
        }
        Ok(k)
    }

    async fn insert(c: &mut Conn, k: &ClientKeyRecord, source: Source, now: i64) -> Result<()> {
        validate_client_key(k)?;
        sqlx::query(&format!(
            "INSERT INTO client_keys ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
        ))
        .bind(&k.id)
        .bind(&k.name)
        .bind(&k.owner)
        .bind(json(&k.models)?)
        .bind(k.budget_usd)
        .bind(&k.budget_period)
        .bind(k.requests_per_minute.map(i64::from))
        .bind(k.tokens_per_minute.map(i64::from))
        .bind(k.expires_at_ms)
        .bind(k.enabled)
        .bind(k.revoked_at_ms)
        .bind(json(&k.metadata)?)
        .bind(source.as_str())
        .bind(&k.secret_hash)
        .bind(&k.prefix)
        .bind(&k.previous_hash)
        .bind(k.previous_valid_until_ms)
        .bind(now)
        .bind(now)
        .bind(k.last_used_at_ms)
        .execute(&mut *c)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                RegistryError::AlreadyExists {
                    entity: "client key",
                    id: k.id.clone(),
                }
            } else {
                e.into()
            }
        })?;
        Ok(())
    }

    /// Writes every setting of `k` (not its secret, source, creation or use times).
    async fn write_settings(c: &mut Conn, k: &ClientKeyRecord, now: i64) -> Result<()> {
        validate_client_key(k)?;
        sqlx::query(
            "UPDATE client_keys SET name = $2, owner = $3, models_json = $4, budget_usd = $5, \
             budget_period = $6, requests_per_minute = $7, tokens_per_minute = $8, \
             expires_at_ms = $9, enabled = $10, metadata_json = $11, updated_at_ms = $12 \
             WHERE id = $1",
        )
        .bind(&k.id)
        .bind(&k.name)
        .bind(&k.owner)
        .bind(json(&k.models)?)
        .bind(k.budget_usd)
        .bind(&k.budget_period)
        .bind(k.requests_per_minute.map(i64::from))
        .bind(k.tokens_per_minute.map(i64::from))
        .bind(k.expires_at_ms)
        .bind(k.enabled)
        .bind(json(&k.metadata)?)
        .bind(now)
        .execute(&mut *c)
        .await?;
        Ok(())
    }

    pub(crate) async fn create(
        c: &mut Conn,
        k: &ClientKeyRecord,
        now: i64,
    ) -> Result<ClientKeyRecord> {
        insert(c, k, Source::Api, now).await?;
        must_find(c, &k.id).await
    }

    pub(crate) async fn update(
        c: &mut Conn,
        k: &ClientKeyRecord,
        now: i64,
    ) -> Result<ClientKeyRecord> {
        must_find_api(c, &k.id).await?;
        write_settings(c, k, now).await?;
        must_find(c, &k.id).await
    }

    pub(crate) async fn rotate(
        c: &mut Conn,
        id: &str,
        new_hash: &str,
        new_prefix: &str,
        grace_until_ms: Option<i64>,
        now: i64,
    ) -> Result<ClientKeyRecord> {
        let old = must_find_api(c, id).await?;
        if old.revoked_at_ms.is_some() {
            return Err(RegistryError::invalid(format!(
                "client key '{id}' is revoked; create a new key instead"
            )));
        }
        let (prev, until) = match grace_until_ms {
            Some(t) if t > now => (Some(old.secret_hash.clone()), Some(t)),
            _ => (None, None),
        };
        sqlx::query(
            "UPDATE client_keys SET secret_hash = $2, secret_prefix = $3, previous_hash = $4, \
             previous_valid_until_ms = $5, updated_at_ms = $6 WHERE id = $1",
        )
        .bind(id)
        .bind(new_hash)
        .bind(new_prefix)
        .bind(prev)
        .bind(until)
        .bind(now)
        .execute(&mut *c)
        .await?;
        must_find(c, id).await
    }

    pub(crate) async fn revoke(c: &mut Conn, id: &str, now: i64) -> Result<ClientKeyRecord> {
        let old = must_find_api(c, id).await?;
        if old.revoked_at_ms.is_none() {
            sqlx::query(
                "UPDATE client_keys SET revoked_at_ms = $2, previous_hash = NULL, \
                 previous_valid_until_ms = NULL, updated_at_ms = $2 WHERE id = $1",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *c)
            .await?;
        }
        must_find(c, id).await
    }

    /// Sets `last_used_at_ms` to the later of the stored and the given time; leaves
    /// `updated_at_ms` alone.
    pub(crate) async fn touch(c: &mut Conn, used: &[(String, i64)]) -> Result<()> {
        for (id, at) in used {
            sqlx::query(
                "UPDATE client_keys SET last_used_at_ms = $2 \
                 WHERE id = $1 AND (last_used_at_ms IS NULL OR last_used_at_ms < $2)",
            )
            .bind(id)
            .bind(*at)
            .execute(&mut *c)
            .await?;
        }
        Ok(())
    }

    /// `(number of keys, latest updated_at_ms)`: changes when any key is created,
    /// changed, rotated, revoked or removed.
    pub(crate) async fn version(c: &mut Conn) -> Result<(i64, i64)> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, COALESCE(MAX(updated_at_ms), 0) AS latest FROM client_keys",
        )
        .fetch_one(&mut *c)
        .await?;
        Ok((row.try_get("n")?, row.try_get("latest")?))
    }

    pub(crate) async fn usage_since(c: &mut Conn, id: &str, since_ms: i64) -> Result<KeyUsage> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, COALESCE(SUM(cost_usd), 0.0) AS spend FROM usage_events \
             WHERE key_id = $1 AND ts_ms >= $2",
        )
        .bind(id)
        .bind(since_ms)
        .fetch_one(&mut *c)
        .await?;
        Ok(KeyUsage {
            spend_usd: row.try_get::<Option<f64>, _>("spend")?.unwrap_or(0.0),
            requests: crate::backend::to_u64(row.try_get::<i64, _>("n")?),
        })
    }

    /// Makes the `config` keys equal to `declared`: inserts new ones, updates changed
    /// ones (settings and secret; an `api` key with a declared id is taken over), deletes
    /// config keys no longer declared. Last-used times and creation times are kept.
    pub(crate) async fn sync_declared(
        c: &mut Conn,
        declared: &[ClientKeyRecord],
        now: i64,
    ) -> Result<SyncReport> {
        let mut report = SyncReport::default();
        crate::backend::no_duplicates("client key", declared.iter().map(|k| k.id.as_str()))?;
        let existing = list(c).await?;
        for k in declared {
            match existing.iter().find(|e| e.id == k.id) {
                None => {
                    insert(c, k, Source::Config, now).await?;
                    report.added += 1;
                }
                Some(e) => {
                    let same = e.source == Source::Config
                        && e.secret_hash == k.secret_hash
                        && settings_equal(e, k);
                    if !same {
                        write_settings(c, k, now).await?;
                        sqlx::query(
                            "UPDATE client_keys SET source = 'config', secret_hash = $2, \
                             secret_prefix = $3, previous_hash = NULL, \
                             previous_valid_until_ms = NULL, revoked_at_ms = NULL \
                             WHERE id = $1",
                        )
                        .bind(&k.id)
                        .bind(&k.secret_hash)
                        .bind(&k.prefix)
                        .execute(&mut *c)
                        .await?;
                        report.updated += 1;
                    }
                }
            }
        }
        for e in existing.iter().filter(|e| e.source == Source::Config) {
            if !declared.iter().any(|k| k.id == e.id) {
                sqlx::query("DELETE FROM client_keys WHERE id = $1")
                    .bind(&e.id)
                    .execute(&mut *c)
                    .await?;
                report.removed += 1;
            }
        }
        Ok(report)
    }

    fn settings_equal(a: &ClientKeyRecord, b: &ClientKeyRecord) -> bool {
        a.name == b.name
            && a.owner == b.owner
            && a.models == b.models
            && a.budget_usd == b.budget_usd
            && a.budget_period == b.budget_period
            && a.requests_per_minute == b.requests_per_minute
            && a.tokens_per_minute == b.tokens_per_minute
            && a.expires_at_ms == b.expires_at_ms
            && a.enabled == b.enabled
            && a.metadata == b.metadata
    }
}
