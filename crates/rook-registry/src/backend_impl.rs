// Included by `backend.rs` once per backend, with `Db`, `BACKEND` and `MIGRATIONS` in scope.
// Every function takes a connection (or a transaction dereferenced to one); transactions
// are opened and committed by the caller in `registry.rs`.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::Row as _;

use crate::backend::{
    no_duplicates, to_i64, to_u16, to_u32, to_u64, validate_account, validate_pool,
    validate_route,
};
use crate::error::{is_unique_violation, RegistryError, Result};
use crate::types::{
    AccountRecord, AuditEvent, HealthRecord, HealthStatus, IdempotencyBegin, MigrationStatus,
    PoolRecord, RouteRecord, Source, StoredResponse, SyncReport, UsageEvent,
};
use crate::Backend;

type Conn = <Db as sqlx::Database>::Connection;
type DbRow = <Db as sqlx::Database>::Row;

// ---------------------------------------------------------------- migrations

const MIGRATIONS_TABLE_SQL: &str = "CREATE TABLE IF NOT EXISTS rook_schema_migrations (\
     version BIGINT NOT NULL PRIMARY KEY, \
     description TEXT NOT NULL, \
     checksum TEXT NOT NULL, \
     applied_at_ms BIGINT NOT NULL)";

async fn migrations_table_exists(c: &mut Conn) -> Result<bool> {
    let sql = match BACKEND {
        Backend::Sqlite => {
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'rook_schema_migrations'"
        }
        Backend::Postgres => {
            "SELECT 1 FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = 'rook_schema_migrations'"
        }
    };
    Ok(sqlx::query(sql).fetch_optional(&mut *c).await?.is_some())
}

async fn applied_migrations(c: &mut Conn) -> Result<Vec<(i64, String)>> {
    if !migrations_table_exists(c).await? {
        return Ok(Vec::new());
    }
    let rows = sqlx::query("SELECT version, checksum FROM rook_schema_migrations ORDER BY version")
        .fetch_all(&mut *c)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get::<i64, _>("version")?, r.try_get::<String, _>("checksum")?)))
        .collect()
}

fn verify_checksums(applied: &[(i64, String)]) -> Result<()> {
    for (version, checksum) in applied {
        if let Some(m) = MIGRATIONS.iter().find(|m| m.version == *version) {
            if m.checksum() != *checksum {
                return Err(RegistryError::Migration {
                    message: format!(
                        "migration {version} ({}) was changed after it was applied to this database",
                        m.description
                    ),
                });
            }
        }
    }
    Ok(())
}

pub(crate) async fn migration_status(c: &mut Conn) -> Result<MigrationStatus> {
    let applied = applied_migrations(c).await?;
    verify_checksums(&applied)?;
    let applied: Vec<i64> = applied.into_iter().map(|(v, _)| v).collect();
    let pending: Vec<i64> = MIGRATIONS
        .iter()
        .map(|m| m.version)
        .filter(|v| !applied.contains(v))
        .collect();
    Ok(MigrationStatus {
        current: pending.is_empty(),
        applied,
        pending,
    })
}

/// Applies pending migrations; must run inside a transaction. Returns the versions applied.
pub(crate) async fn migrate(c: &mut Conn, now: i64) -> Result<Vec<i64>> {
    if BACKEND == Backend::Postgres {
        // Serialise concurrent instances migrating the same schema.
        sqlx::query(
            "SELECT pg_advisory_xact_lock(hashtext('rook_schema_migrations:' || current_schema()))",
        )
        .execute(&mut *c)
        .await?;
    }
    sqlx::Executor::execute(&mut *c, MIGRATIONS_TABLE_SQL).await?;
    let applied = applied_migrations(c).await?;
    verify_checksums(&applied)?;
    let mut done = Vec::new();
    for m in MIGRATIONS {
        if applied.iter().any(|(v, _)| *v == m.version) {
            continue;
        }
        // A plain `&str` runs unprepared, so it may hold several statements.
        sqlx::Executor::execute(&mut *c, m.sql)
            .await
            .map_err(|e| RegistryError::Migration {
                message: format!("migration {} ({}) failed: {e}", m.version, m.description),
            })?;
        sqlx::query(
            "INSERT INTO rook_schema_migrations (version, description, checksum, applied_at_ms) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(m.version)
        .bind(m.description)
        .bind(m.checksum())
        .bind(now)
        .execute(&mut *c)
        .await?;
        tracing::info!(version = m.version, description = m.description, "applied registry migration");
        done.push(m.version);
    }
    Ok(done)
}

// ---------------------------------------------------------------- helpers
