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

async fn exists(c: &mut Conn, sql: &str, id: &str) -> Result<bool> {
    Ok(sqlx::query(sql).bind(id).fetch_optional(&mut *c).await?.is_some())
}

async fn account_exists(c: &mut Conn, id: &str) -> Result<bool> {
    exists(c, "SELECT 1 FROM accounts WHERE id = $1", id).await
}

async fn pool_exists(c: &mut Conn, id: &str) -> Result<bool> {
    exists(c, "SELECT 1 FROM pools WHERE id = $1", id).await
}

async fn route_exists(c: &mut Conn, model: &str) -> Result<bool> {
    exists(c, "SELECT 1 FROM routes WHERE model = $1", model).await
}

async fn strings(c: &mut Conn, sql: &str, arg: &str) -> Result<Vec<String>> {
    let rows = sqlx::query(sql).bind(arg).fetch_all(&mut *c).await?;
    rows.iter().map(|r| Ok(r.try_get::<String, _>(0)?)).collect()
}

fn quoted_list(items: &[String]) -> String {
    items
        .iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn already_exists(entity: &'static str, id: &str) -> impl FnOnce(sqlx::Error) -> RegistryError {
    let id = id.to_string();
    move |e| {
        if is_unique_violation(&e) {
            RegistryError::AlreadyExists { entity, id }
        } else {
            e.into()
        }
    }
}

// ---------------------------------------------------------------- accounts

const ACCOUNT_COLS: &str = "id, vendor, base_url, api_key_env, api_key_file, api_key, enabled, \
                            weight, priority, models_json, source, protocol, anthropic_version, \
                            default_max_tokens, stream_usage";

fn account_from_row(r: &DbRow) -> Result<AccountRecord> {
    let models_json: String = r.try_get("models_json")?;
    let models: BTreeMap<String, String> = serde_json::from_str(&models_json)
        .map_err(|e| RegistryError::other(format!("bad models_json in database: {e}")))?;
    Ok(AccountRecord {
        id: r.try_get("id")?,
        vendor: r.try_get("vendor")?,
        base_url: r.try_get("base_url")?,
        api_key_env: r.try_get("api_key_env")?,
        api_key_file: r.try_get("api_key_file")?,
        api_key: r.try_get("api_key")?,
        enabled: r.try_get("enabled")?,
        weight: to_u32(r.try_get("weight")?),
        priority: to_u32(r.try_get("priority")?),
        models,
        source: Source::parse(&r.try_get::<String, _>("source")?)?,
        protocol: r.try_get("protocol")?,
        anthropic_version: r.try_get("anthropic_version")?,
        default_max_tokens: r
            .try_get::<Option<i64>, _>("default_max_tokens")?
            .map(to_u32),
        stream_usage: r.try_get("stream_usage")?,
    })
}

fn models_json(a: &AccountRecord) -> Result<String> {
    serde_json::to_string(&a.models).map_err(RegistryError::other)
}

pub(crate) async fn list_accounts(c: &mut Conn) -> Result<Vec<AccountRecord>> {
    let rows = sqlx::query(&format!("SELECT {ACCOUNT_COLS} FROM accounts ORDER BY id"))
        .fetch_all(&mut *c)
        .await?;
    rows.iter().map(account_from_row).collect()
}

pub(crate) async fn find_account(c: &mut Conn, id: &str) -> Result<Option<AccountRecord>> {
    let row = sqlx::query(&format!("SELECT {ACCOUNT_COLS} FROM accounts WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *c)
        .await?;
    row.as_ref().map(account_from_row).transpose()
}

async fn insert_account_row(c: &mut Conn, a: &AccountRecord, source: Source, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO accounts (id, vendor, base_url, api_key_env, api_key_file, api_key, enabled, \
         weight, priority, models_json, source, created_at_ms, updated_at_ms, protocol, \
         anthropic_version, default_max_tokens, stream_usage) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14, $15, $16)",
    )
    .bind(&a.id)
    .bind(&a.vendor)
    .bind(&a.base_url)
    .bind(&a.api_key_env)
    .bind(&a.api_key_file)
    .bind(&a.api_key)
    .bind(a.enabled)
    .bind(i64::from(a.weight))
    .bind(i64::from(a.priority))
    .bind(models_json(a)?)
    .bind(source.as_str())
    .bind(now)
    .bind(&a.protocol)
    .bind(&a.anthropic_version)
    .bind(a.default_max_tokens.map(i64::from))
    .bind(a.stream_usage)
    .execute(&mut *c)
    .await
    .map_err(already_exists("account", &a.id))?;
    Ok(())
}

/// Updates every column but `id`; `api_key` only when `set_key`.
async fn update_account_row(
    c: &mut Conn,
    a: &AccountRecord,
    source: Source,
    set_key: bool,
    now: i64,
) -> Result<()> {
    let sql = if set_key {
        "UPDATE accounts SET vendor = $2, base_url = $3, api_key_env = $4, api_key_file = $5, \
         enabled = $6, weight = $7, priority = $8, models_json = $9, source = $10, \
         updated_at_ms = $11, protocol = $12, anthropic_version = $13, \
         default_max_tokens = $14, stream_usage = $15, api_key = $16 WHERE id = $1"
    } else {
        "UPDATE accounts SET vendor = $2, base_url = $3, api_key_env = $4, api_key_file = $5, \
         enabled = $6, weight = $7, priority = $8, models_json = $9, source = $10, \
         updated_at_ms = $11, protocol = $12, anthropic_version = $13, \
         default_max_tokens = $14, stream_usage = $15 WHERE id = $1"
    };
    let mut q = sqlx::query(sql)
        .bind(&a.id)
        .bind(&a.vendor)
        .bind(&a.base_url)
        .bind(&a.api_key_env)
        .bind(&a.api_key_file)
        .bind(a.enabled)
        .bind(i64::from(a.weight))
        .bind(i64::from(a.priority))
        .bind(models_json(a)?)
        .bind(source.as_str())
        .bind(now)
        .bind(&a.protocol)
        .bind(&a.anthropic_version)
        .bind(a.default_max_tokens.map(i64::from))
        .bind(a.stream_usage);
    if set_key {
        q = q.bind(&a.api_key);
    }
    q.execute(&mut *c).await?;
    Ok(())
}

async fn delete_account_row(c: &mut Conn, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM account_health WHERE account_id = $1")
        .bind(id)
        .execute(&mut *c)
        .await?;
    sqlx::query("DELETE FROM accounts WHERE id = $1")
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

async fn pools_with_member(c: &mut Conn, account_id: &str) -> Result<Vec<String>> {
    strings(
        c,
        "SELECT pool_id FROM pool_members WHERE account_id = $1 ORDER BY pool_id",
        account_id,
    )
    .await
}

async fn editable_account(c: &mut Conn, id: &str) -> Result<AccountRecord> {
    let existing = find_account(c, id).await?.ok_or_else(|| RegistryError::NotFound {
        entity: "account",
        id: id.to_string(),
    })?;
    if existing.source == Source::Config {
        return Err(RegistryError::ReadOnly {
            entity: "account",
            id: id.to_string(),
        });
    }
    Ok(existing)
}

async fn must_get_account(c: &mut Conn, id: &str) -> Result<AccountRecord> {
    find_account(c, id).await?.ok_or_else(|| RegistryError::NotFound {
        entity: "account",
        id: id.to_string(),
    })
}

pub(crate) async fn create_account(c: &mut Conn, a: &AccountRecord, now: i64) -> Result<AccountRecord> {
    validate_account(a)?;
    if account_exists(c, &a.id).await? {
        return Err(RegistryError::AlreadyExists {
            entity: "account",
            id: a.id.clone(),
        });
    }
    insert_account_row(c, a, Source::Api, now).await?;
    must_get_account(c, &a.id).await
}

pub(crate) async fn update_account(c: &mut Conn, a: &AccountRecord, now: i64) -> Result<AccountRecord> {
    validate_account(a)?;
    editable_account(c, &a.id).await?;
    update_account_row(c, a, Source::Api, false, now).await?;
    must_get_account(c, &a.id).await
}

pub(crate) async fn set_account_api_key(
    c: &mut Conn,
    id: &str,
    key: Option<&str>,
    now: i64,
) -> Result<()> {
    editable_account(c, id).await?;
    sqlx::query("UPDATE accounts SET api_key = $2, updated_at_ms = $3 WHERE id = $1")
        .bind(id)
        .bind(key)
        .bind(now)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Rewrites stored `api_key` values in the caller's transaction: `plan` gets every
/// `(account id, stored value)` with a key and answers the `(account id, new value)`
/// pairs to write (or an error, and nothing is written). Returns how many were written.
pub(crate) async fn rewrite_api_keys(
    c: &mut Conn,
    plan: &crate::backend::KeyPlan<'_>,
    now: i64,
) -> Result<u64> {
    let rows = sqlx::query("SELECT id, api_key FROM accounts WHERE api_key IS NOT NULL ORDER BY id")
        .fetch_all(&mut *c)
        .await?;
    let stored = rows
        .iter()
        .map(|r| Ok((r.try_get::<String, _>("id")?, r.try_get::<String, _>("api_key")?)))
        .collect::<Result<Vec<_>>>()?;
    let writes = plan(&stored)?;
    // SQLite: zero the old values (plaintext, or sealed under a retired key) instead of
    // leaving them in free pages of the file.
    let secure = BACKEND == Backend::Sqlite && !writes.is_empty();
    if secure {
        sqlx::query("PRAGMA secure_delete = ON").execute(&mut *c).await?;
    }
    for (id, value) in &writes {
        sqlx::query("UPDATE accounts SET api_key = $2, updated_at_ms = $3 WHERE id = $1")
            .bind(id)
            .bind(value)
            .bind(now)
            .execute(&mut *c)
            .await?;
    }
    if secure {
        sqlx::query("PRAGMA secure_delete = OFF").execute(&mut *c).await?;
    }
    Ok(writes.len() as u64)
}

pub(crate) async fn delete_account(c: &mut Conn, id: &str) -> Result<()> {
    editable_account(c, id).await?;
    let pools = pools_with_member(c, id).await?;
    if !pools.is_empty() {
        return Err(RegistryError::reference(format!(
            "account '{id}' is still a member of pool(s) {}; remove it from them first",
            quoted_list(&pools)
        )));
    }
    delete_account_row(c, id).await
}

// ---------------------------------------------------------------- pools

fn pool_from_row(r: &DbRow, members: Vec<String>) -> Result<PoolRecord> {
    Ok(PoolRecord {
        id: r.try_get("id")?,
        strategy: r.try_get("strategy")?,
        members,
        fallback_pool: r.try_get("fallback_pool")?,
        source: Source::parse(&r.try_get::<String, _>("source")?)?,
    })
}

pub(crate) async fn list_pools(c: &mut Conn) -> Result<Vec<PoolRecord>> {
    let member_rows =
        sqlx::query("SELECT pool_id, account_id FROM pool_members ORDER BY pool_id, position")
            .fetch_all(&mut *c)
            .await?;
    let mut members: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &member_rows {
        members
            .entry(r.try_get("pool_id")?)
            .or_default()
            .push(r.try_get("account_id")?);
    }
    let rows = sqlx::query("SELECT id, strategy, fallback_pool, source FROM pools ORDER BY id")
        .fetch_all(&mut *c)
        .await?;
    rows.iter()
        .map(|r| {
            let id: String = r.try_get("id")?;
            pool_from_row(r, members.remove(&id).unwrap_or_default())
        })
        .collect()
}

pub(crate) async fn find_pool(c: &mut Conn, id: &str) -> Result<Option<PoolRecord>> {
    let row = sqlx::query("SELECT id, strategy, fallback_pool, source FROM pools WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *c)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let members = strings(
        c,
        "SELECT account_id FROM pool_members WHERE pool_id = $1 ORDER BY position",
        id,
    )
    .await?;
    pool_from_row(&row, members).map(Some)
}

async fn must_get_pool(c: &mut Conn, id: &str) -> Result<PoolRecord> {
    find_pool(c, id).await?.ok_or_else(|| RegistryError::NotFound {
        entity: "pool",
        id: id.to_string(),
    })
}

async fn insert_pool_row(c: &mut Conn, p: &PoolRecord, source: Source, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO pools (id, strategy, fallback_pool, source, created_at_ms, updated_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(&p.id)
    .bind(&p.strategy)
    .bind(&p.fallback_pool)
    .bind(source.as_str())
    .bind(now)
    .execute(&mut *c)
    .await
    .map_err(already_exists("pool", &p.id))?;
    replace_members(c, p).await
}

async fn update_pool_row(c: &mut Conn, p: &PoolRecord, source: Source, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE pools SET strategy = $2, fallback_pool = $3, source = $4, updated_at_ms = $5 \
         WHERE id = $1",
    )
    .bind(&p.id)
    .bind(&p.strategy)
    .bind(&p.fallback_pool)
    .bind(source.as_str())
    .bind(now)
    .execute(&mut *c)
    .await?;
    replace_members(c, p).await
}

async fn replace_members(c: &mut Conn, p: &PoolRecord) -> Result<()> {
    sqlx::query("DELETE FROM pool_members WHERE pool_id = $1")
        .bind(&p.id)
        .execute(&mut *c)
        .await?;
    for (position, account) in p.members.iter().enumerate() {
        sqlx::query("INSERT INTO pool_members (pool_id, account_id, position) VALUES ($1, $2, $3)")
            .bind(&p.id)
            .bind(account)
            .bind(i64::try_from(position).unwrap_or(i64::MAX))
            .execute(&mut *c)
            .await?;
    }
    Ok(())
}

async fn delete_pool_row(c: &mut Conn, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM pool_members WHERE pool_id = $1")
        .bind(id)
        .execute(&mut *c)
        .await?;
    sqlx::query("DELETE FROM pools WHERE id = $1")
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

async fn routes_using_pool(c: &mut Conn, id: &str) -> Result<Vec<String>> {
    strings(c, "SELECT model FROM routes WHERE pool_id = $1 ORDER BY model", id).await
}

async fn pools_falling_back_to(c: &mut Conn, id: &str) -> Result<Vec<String>> {
    strings(
        c,
        "SELECT id FROM pools WHERE fallback_pool = $1 AND id <> $1 ORDER BY id",
        id,
    )
    .await
}

/// Members and fallback of `p` must exist.
async fn check_pool_refs(c: &mut Conn, p: &PoolRecord) -> Result<()> {
    for m in &p.members {
        if !account_exists(c, m).await? {
            return Err(RegistryError::reference(format!(
                "pool '{}' lists member '{m}', which is not a known account",
                p.id
            )));
        }
    }
    if let Some(f) = &p.fallback_pool {
        if !pool_exists(c, f).await? {
            return Err(RegistryError::reference(format!(
                "pool '{}' falls back to pool '{f}', which does not exist",
                p.id
            )));
        }
    }
    Ok(())
}

async fn editable_pool(c: &mut Conn, id: &str) -> Result<PoolRecord> {
    let existing = must_get_pool(c, id).await?;
    if existing.source == Source::Config {
        return Err(RegistryError::ReadOnly {
            entity: "pool",
            id: id.to_string(),
        });
    }
    Ok(existing)
}

pub(crate) async fn create_pool(c: &mut Conn, p: &PoolRecord, now: i64) -> Result<PoolRecord> {
    validate_pool(p)?;
    if pool_exists(c, &p.id).await? {
        return Err(RegistryError::AlreadyExists {
            entity: "pool",
            id: p.id.clone(),
        });
    }
    check_pool_refs(c, p).await?;
    insert_pool_row(c, p, Source::Api, now).await?;
    must_get_pool(c, &p.id).await
}

pub(crate) async fn update_pool(c: &mut Conn, p: &PoolRecord, now: i64) -> Result<PoolRecord> {
    validate_pool(p)?;
    editable_pool(c, &p.id).await?;
    check_pool_refs(c, p).await?;
    update_pool_row(c, p, Source::Api, now).await?;
    must_get_pool(c, &p.id).await
}

pub(crate) async fn delete_pool(c: &mut Conn, id: &str) -> Result<()> {
    editable_pool(c, id).await?;
    let routes = routes_using_pool(c, id).await?;
    if !routes.is_empty() {
        return Err(RegistryError::reference(format!(
            "pool '{id}' is still used by route(s) {}",
            quoted_list(&routes)
        )));
    }
    let pools = pools_falling_back_to(c, id).await?;
    if !pools.is_empty() {
        return Err(RegistryError::reference(format!(
            "pool '{id}' is still the fallback of pool(s) {}",
            quoted_list(&pools)
        )));
    }
    delete_pool_row(c, id).await
}

// ---------------------------------------------------------------- routes

fn route_from_row(r: &DbRow) -> Result<RouteRecord> {
    Ok(RouteRecord {
        model: r.try_get("model")?,
        pool: r.try_get("pool_id")?,
        fallback_route: r.try_get("fallback_route")?,
        source: Source::parse(&r.try_get::<String, _>("source")?)?,
    })
}

pub(crate) async fn list_routes(c: &mut Conn) -> Result<Vec<RouteRecord>> {
    let rows = sqlx::query("SELECT model, pool_id, fallback_route, source FROM routes ORDER BY model")
        .fetch_all(&mut *c)
        .await?;
    rows.iter().map(route_from_row).collect()
}

pub(crate) async fn find_route(c: &mut Conn, model: &str) -> Result<Option<RouteRecord>> {
    let row =
        sqlx::query("SELECT model, pool_id, fallback_route, source FROM routes WHERE model = $1")
            .bind(model)
            .fetch_optional(&mut *c)
            .await?;
    row.as_ref().map(route_from_row).transpose()
}

async fn must_get_route(c: &mut Conn, model: &str) -> Result<RouteRecord> {
    find_route(c, model).await?.ok_or_else(|| RegistryError::NotFound {
        entity: "route",
        id: model.to_string(),
    })
}

async fn insert_route_row(c: &mut Conn, r: &RouteRecord, source: Source, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO routes (model, pool_id, fallback_route, source, created_at_ms, updated_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(&r.model)
    .bind(&r.pool)
    .bind(&r.fallback_route)
    .bind(source.as_str())
    .bind(now)
    .execute(&mut *c)
    .await
    .map_err(already_exists("route", &r.model))?;
    Ok(())
}

async fn update_route_row(c: &mut Conn, r: &RouteRecord, source: Source, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE routes SET pool_id = $2, fallback_route = $3, source = $4, updated_at_ms = $5 \
         WHERE model = $1",
    )
    .bind(&r.model)
    .bind(&r.pool)
    .bind(&r.fallback_route)
    .bind(source.as_str())
    .bind(now)
    .execute(&mut *c)
    .await?;
    Ok(())
}

async fn delete_route_row(c: &mut Conn, model: &str) -> Result<()> {
    sqlx::query("DELETE FROM routes WHERE model = $1")
        .bind(model)
        .execute(&mut *c)
        .await?;
    Ok(())
}

async fn check_route_refs(c: &mut Conn, r: &RouteRecord) -> Result<()> {
    if !pool_exists(c, &r.pool).await? {
        return Err(RegistryError::reference(format!(
            "route '{}' points to pool '{}', which does not exist",
            r.model, r.pool
        )));
    }
    if let Some(f) = &r.fallback_route {
        if !route_exists(c, f).await? {
            return Err(RegistryError::reference(format!(
                "route '{}' falls back to route '{f}', which does not exist",
                r.model
            )));
        }
    }
    Ok(())
}

async fn editable_route(c: &mut Conn, model: &str) -> Result<RouteRecord> {
    let existing = must_get_route(c, model).await?;
    if existing.source == Source::Config {
        return Err(RegistryError::ReadOnly {
            entity: "route",
            id: model.to_string(),
        });
    }
    Ok(existing)
}

pub(crate) async fn create_route(c: &mut Conn, r: &RouteRecord, now: i64) -> Result<RouteRecord> {
    validate_route(r)?;
    if route_exists(c, &r.model).await? {
        return Err(RegistryError::AlreadyExists {
            entity: "route",
            id: r.model.clone(),
        });
    }
    check_route_refs(c, r).await?;
    insert_route_row(c, r, Source::Api, now).await?;
    must_get_route(c, &r.model).await
}

pub(crate) async fn update_route(c: &mut Conn, r: &RouteRecord, now: i64) -> Result<RouteRecord> {
    validate_route(r)?;
    editable_route(c, &r.model).await?;
    check_route_refs(c, r).await?;
    update_route_row(c, r, Source::Api, now).await?;
    must_get_route(c, &r.model).await
}

pub(crate) async fn delete_route(c: &mut Conn, model: &str) -> Result<()> {
    editable_route(c, model).await?;
    let users = strings(
        c,
        "SELECT model FROM routes WHERE fallback_route = $1 AND model <> $1 ORDER BY model",
        model,
    )
    .await?;
    if !users.is_empty() {
        return Err(RegistryError::reference(format!(
            "route '{model}' is still the fallback of route(s) {}",
            quoted_list(&users)
        )));
    }
    delete_route_row(c, model).await
}

// ---------------------------------------------------------------- sync

/// Makes the `source = 'config'` rows equal to the declared set; must run in a transaction.
pub(crate) async fn sync_declared(
    c: &mut Conn,
    accounts: &[AccountRecord],
    pools: &[PoolRecord],
    routes: &[RouteRecord],
    now: i64,
) -> Result<SyncReport> {
    for a in accounts {
        validate_account(a)?;
    }
    for p in pools {
        validate_pool(p)?;
    }
    for r in routes {
        validate_route(r)?;
    }
    no_duplicates("account", accounts.iter().map(|a| a.id.as_str()))?;
    no_duplicates("pool", pools.iter().map(|p| p.id.as_str()))?;
    no_duplicates("route", routes.iter().map(|r| r.model.as_str()))?;

    let declared_accounts: BTreeSet<&str> = accounts.iter().map(|a| a.id.as_str()).collect();
    let declared_pools: BTreeSet<&str> = pools.iter().map(|p| p.id.as_str()).collect();
    let declared_routes: BTreeSet<&str> = routes.iter().map(|r| r.model.as_str()).collect();

    let existing_accounts: BTreeMap<String, AccountRecord> = list_accounts(c)
        .await?
        .into_iter()
        .map(|a| (a.id.clone(), a))
        .collect();
    let existing_pools: BTreeMap<String, PoolRecord> = list_pools(c)
        .await?
        .into_iter()
        .map(|p| (p.id.clone(), p))
        .collect();
    let existing_routes: BTreeMap<String, RouteRecord> = list_routes(c)
        .await?
        .into_iter()
        .map(|r| (r.model.clone(), r))
        .collect();

    let mut report = SyncReport::default();

    // 1. Config routes no longer declared (nothing references routes by foreign key).
    for r in existing_routes.values() {
        if r.source == Source::Config && !declared_routes.contains(r.model.as_str()) {
            delete_route_row(c, &r.model).await?;
            report.removed += 1;
        }
    }

    // 2. Accounts: insert new, update changed, take over api rows.
    for a in accounts {
        let want = AccountRecord {
            source: Source::Config,
            ..a.clone()
        };
        match existing_accounts.get(&a.id) {
            None => {
                insert_account_row(c, &want, Source::Config, now).await?;
                report.added += 1;
            }
            Some(have) if *have != want => {
                update_account_row(c, &want, Source::Config, true, now).await?;
                report.updated += 1;
            }
            Some(_) => {}
        }
    }

    // 3. Pools (rows and members); fallbacks are checked at the end.
    for p in pools {
        let want = PoolRecord {
            source: Source::Config,
            ..p.clone()
        };
        for m in &want.members {
            if !account_exists(c, m).await? {
                return Err(RegistryError::reference(format!(
                    "pool '{}' lists member '{m}', which is not a known account",
                    p.id
                )));
            }
        }
        match existing_pools.get(&p.id) {
            None => {
                insert_pool_row(c, &want, Source::Config, now).await?;
                report.added += 1;
            }
            Some(have) if *have != want => {
                update_pool_row(c, &want, Source::Config, now).await?;
                report.updated += 1;
            }
            Some(_) => {}
        }
    }

    // 4. Routes.
    for r in routes {
        let want = RouteRecord {
            source: Source::Config,
            ..r.clone()
        };
        if !pool_exists(c, &want.pool).await? {
            return Err(RegistryError::reference(format!(
                "route '{}' points to pool '{}', which does not exist",
                r.model, r.pool
            )));
        }
        match existing_routes.get(&r.model) {
            None => {
                insert_route_row(c, &want, Source::Config, now).await?;
                report.added += 1;
            }
            Some(have) if *have != want => {
                update_route_row(c, &want, Source::Config, now).await?;
                report.updated += 1;
            }
            Some(_) => {}
        }
    }

    // 5. Config pools no longer declared.
    for p in existing_pools.values() {
        if p.source == Source::Config && !declared_pools.contains(p.id.as_str()) {
            let users = routes_using_pool(c, &p.id).await?;
            if !users.is_empty() {
                return Err(RegistryError::reference(format!(
                    "pool '{}' is no longer declared in the config file but is still used by route(s) {}",
                    p.id,
                    quoted_list(&users)
                )));
            }
            delete_pool_row(c, &p.id).await?;
            report.removed += 1;
        }
    }

    // 6. Config accounts no longer declared.
    for a in existing_accounts.values() {
        if a.source == Source::Config && !declared_accounts.contains(a.id.as_str()) {
            let users = pools_with_member(c, &a.id).await?;
            if !users.is_empty() {
                return Err(RegistryError::reference(format!(
                    "account '{}' is no longer declared in the config file but is still a member of pool(s) {}",
                    a.id,
                    quoted_list(&users)
                )));
            }
            delete_account_row(c, &a.id).await?;
            report.removed += 1;
        }
    }

    // 7. Fallback references (not foreign keys) must still resolve.
    for p in list_pools(c).await? {
        if let Some(f) = &p.fallback_pool {
            if !pool_exists(c, f).await? {
                return Err(RegistryError::reference(format!(
                    "pool '{}' falls back to pool '{f}', which does not exist",
                    p.id
                )));
            }
        }
    }
    for r in list_routes(c).await? {
        if let Some(f) = &r.fallback_route {
            if !route_exists(c, f).await? {
                return Err(RegistryError::reference(format!(
                    "route '{}' falls back to route '{f}', which does not exist",
                    r.model
                )));
            }
        }
    }
    Ok(report)
}

// ---------------------------------------------------------------- health

pub(crate) async fn load_health(c: &mut Conn) -> Result<Vec<HealthRecord>> {
    let rows = sqlx::query(
        "SELECT account_id, status, consecutive_failures, times_opened, cooldown_until_ms, \
         last_error_class, updated_at_ms FROM account_health ORDER BY account_id",
    )
    .fetch_all(&mut *c)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(HealthRecord {
                account_id: r.try_get("account_id")?,
                status: HealthStatus::parse(&r.try_get::<String, _>("status")?),
                consecutive_failures: to_u32(r.try_get("consecutive_failures")?),
                times_opened: to_u32(r.try_get("times_opened")?),
                cooldown_until_ms: r.try_get("cooldown_until_ms")?,
                last_error_class: r.try_get("last_error_class")?,
                updated_at_ms: r.try_get("updated_at_ms")?,
            })
        })
        .collect()
}

pub(crate) async fn upsert_health(c: &mut Conn, records: &[HealthRecord]) -> Result<()> {
    for h in records {
        sqlx::query(
            "INSERT INTO account_health (account_id, status, consecutive_failures, times_opened, \
             cooldown_until_ms, last_error_class, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (account_id) DO UPDATE SET status = excluded.status, \
             consecutive_failures = excluded.consecutive_failures, \
             times_opened = excluded.times_opened, \
             cooldown_until_ms = excluded.cooldown_until_ms, \
             last_error_class = excluded.last_error_class, \
             updated_at_ms = excluded.updated_at_ms",
        )
        .bind(&h.account_id)
        .bind(h.status.as_str())
        .bind(i64::from(h.consecutive_failures))
        .bind(i64::from(h.times_opened))
        .bind(h.cooldown_until_ms)
        .bind(&h.last_error_class)
        .bind(h.updated_at_ms)
        .execute(&mut *c)
        .await?;
    }
    Ok(())
}

// ---------------------------------------------------------------- usage

/// Rows per multi-row INSERT (21 binds each, well under both backends' parameter limits).
/// Larger statements save little per row, and the memory SQLite needs to prepare one
/// grows with it (a 500-row statement took ~1.4 MiB on the thread that prepared it).
pub(crate) const USAGE_CHUNK: usize = 128;

pub(crate) async fn insert_usage_events(c: &mut Conn, events: &[UsageEvent]) -> Result<()> {
    for chunk in events.chunks(USAGE_CHUNK) {
        let mut qb = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO usage_events (request_id, ts_ms, principal_hash, model, vendor, \
             account_id, upstream_model, stream, attempts, outcome, status_code, latency_ms, \
             ttfb_ms, prompt_tokens, completion_tokens, total_tokens, cost_usd, error_class, \
             endpoint, key_id, event_key) ",
        );
        qb.push_values(chunk, |mut b, e| {
            b.push_bind(&e.request_id)
                .push_bind(e.ts_ms)
                .push_bind(&e.principal_hash)
                .push_bind(&e.model)
                .push_bind(&e.vendor)
                .push_bind(&e.account_id)
                .push_bind(&e.upstream_model)
                .push_bind(e.stream)
                .push_bind(i64::from(e.attempts))
                .push_bind(&e.outcome)
                .push_bind(i64::from(e.status_code))
                .push_bind(to_i64(e.latency_ms))
                .push_bind(e.ttfb_ms.map(to_i64))
                .push_bind(e.prompt_tokens.map(to_i64))
                .push_bind(e.completion_tokens.map(to_i64))
                .push_bind(e.total_tokens.map(to_i64))
                .push_bind(e.cost_usd)
                .push_bind(&e.error_class)
                .push_bind(&e.endpoint)
                .push_bind(&e.key_id)
                .push_bind(&e.event_key);
        });
        // A replayed journal event already written is skipped (unique event_key).
        qb.push(" ON CONFLICT DO NOTHING");
        // Only the full-size statement is kept prepared: every other row count would be
        // one more cached statement per connection.
        qb.build()
            .persistent(chunk.len() == USAGE_CHUNK)
            .execute(&mut *c)
            .await?;
    }
    Ok(())
}

pub(crate) async fn usage_events(
    c: &mut Conn,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
) -> Result<Vec<UsageEvent>> {
    let rows = sqlx::query(
        "SELECT id, request_id, ts_ms, principal_hash, model, vendor, account_id, upstream_model, \
         stream, attempts, outcome, status_code, latency_ms, ttfb_ms, prompt_tokens, \
         completion_tokens, total_tokens, cost_usd, error_class, endpoint, key_id, event_key \
         FROM usage_events \
         WHERE ts_ms >= $1 AND ts_ms < $2 ORDER BY ts_ms, id",
    )
    .bind(since_ms.unwrap_or(i64::MIN))
    .bind(until_ms.unwrap_or(i64::MAX))
    .fetch_all(&mut *c)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(UsageEvent {
                id: Some(r.try_get("id")?),
                request_id: r.try_get("request_id")?,
                ts_ms: r.try_get("ts_ms")?,
                principal_hash: r.try_get("principal_hash")?,
                model: r.try_get("model")?,
                vendor: r.try_get("vendor")?,
                account_id: r.try_get("account_id")?,
                upstream_model: r.try_get("upstream_model")?,
                stream: r.try_get("stream")?,
                attempts: to_u32(r.try_get("attempts")?),
                outcome: r.try_get("outcome")?,
                status_code: to_u16(r.try_get("status_code")?),
                latency_ms: to_u64(r.try_get("latency_ms")?),
                ttfb_ms: r.try_get::<Option<i64>, _>("ttfb_ms")?.map(to_u64),
                prompt_tokens: r.try_get::<Option<i64>, _>("prompt_tokens")?.map(to_u64),
                completion_tokens: r.try_get::<Option<i64>, _>("completion_tokens")?.map(to_u64),
                total_tokens: r.try_get::<Option<i64>, _>("total_tokens")?.map(to_u64),
                cost_usd: r.try_get("cost_usd")?,
                error_class: r.try_get("error_class")?,
                endpoint: r.try_get("endpoint")?,
                key_id: r.try_get("key_id")?,
                event_key: r.try_get("event_key")?,
            })
        })
        .collect()
}

pub(crate) async fn prune_usage_before(c: &mut Conn, ts_ms: i64) -> Result<u64> {
    let res = sqlx::query("DELETE FROM usage_events WHERE ts_ms < $1")
        .bind(ts_ms)
        .execute(&mut *c)
        .await?;
    Ok(res.rows_affected())
}

// ---------------------------------------------------------------- idempotency

pub(crate) async fn idempotency_begin(
    c: &mut Conn,
    principal_hash: &str,
    key: &str,
    body_hash: &str,
    now_ms: i64,
    expires_at_ms: i64,
) -> Result<IdempotencyBegin> {
    // A record abandoned between our INSERT and SELECT is retried; after a few rounds the
    // caller is told the key is busy.
    for _ in 0..3 {
        // Insert, or replace an expired record; one atomic statement on both backends.
        let started = sqlx::query(
            "INSERT INTO idempotency_records (principal_hash, idem_key, body_hash, state, \
             created_at_ms, expires_at_ms) VALUES ($1, $2, $3, 'in_progress', $4, $5) \
             ON CONFLICT (principal_hash, idem_key) DO UPDATE SET body_hash = excluded.body_hash, \
             state = 'in_progress', status_code = NULL, response_headers_json = NULL, \
             response_body = NULL, created_at_ms = excluded.created_at_ms, \
             expires_at_ms = excluded.expires_at_ms \
             WHERE idempotency_records.expires_at_ms <= excluded.created_at_ms \
             RETURNING idem_key",
        )
        .bind(principal_hash)
        .bind(key)
        .bind(body_hash)
        .bind(now_ms)
        .bind(expires_at_ms)
        .fetch_all(&mut *c)
        .await?;
        if !started.is_empty() {
            return Ok(IdempotencyBegin::Started);
        }
        let row = sqlx::query(
            "SELECT body_hash, state, status_code, response_headers_json, response_body \
             FROM idempotency_records WHERE principal_hash = $1 AND idem_key = $2",
        )
        .bind(principal_hash)
        .bind(key)
        .fetch_optional(&mut *c)
        .await?;
        let Some(row) = row else { continue };
        let stored_hash: String = row.try_get("body_hash")?;
        if stored_hash != body_hash {
            return Ok(IdempotencyBegin::Mismatch);
        }
        let state: String = row.try_get("state")?;
        if state != "completed" {
            return Ok(IdempotencyBegin::InProgress);
        }
        let headers_json: Option<String> = row.try_get("response_headers_json")?;
        let headers: Vec<(String, String)> = match headers_json {
            Some(j) => serde_json::from_str(&j).map_err(|e| {
                RegistryError::other(format!("bad response_headers_json in database: {e}"))
            })?,
            None => Vec::new(),
        };
        return Ok(IdempotencyBegin::Replay(StoredResponse {
            status_code: to_u16(row.try_get::<Option<i64>, _>("status_code")?.unwrap_or(0)),
            headers,
            body: row.try_get::<Option<Vec<u8>>, _>("response_body")?.unwrap_or_default(),
        }));
    }
    Ok(IdempotencyBegin::InProgress)
}

pub(crate) async fn idempotency_complete(
    c: &mut Conn,
    principal_hash: &str,
    key: &str,
    response: &StoredResponse,
) -> Result<()> {
    let headers = serde_json::to_string(&response.headers).map_err(RegistryError::other)?;
    let res = sqlx::query(
        "UPDATE idempotency_records SET state = 'completed', status_code = $3, \
         response_headers_json = $4, response_body = $5 \
         WHERE principal_hash = $1 AND idem_key = $2 AND state = 'in_progress'",
    )
    .bind(principal_hash)
    .bind(key)
    .bind(i64::from(response.status_code))
    .bind(headers)
    .bind(&response.body)
    .execute(&mut *c)
    .await?;
    if res.rows_affected() == 0 {
        return Err(RegistryError::NotFound {
            entity: "idempotency record",
            id: key.to_string(),
        });
    }
    Ok(())
}

pub(crate) async fn idempotency_abandon(c: &mut Conn, principal_hash: &str, key: &str) -> Result<()> {
    sqlx::query(
        "DELETE FROM idempotency_records \
         WHERE principal_hash = $1 AND idem_key = $2 AND state = 'in_progress'",
    )
    .bind(principal_hash)
    .bind(key)
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub(crate) async fn prune_idempotency(c: &mut Conn, now_ms: i64) -> Result<u64> {
    let res = sqlx::query("DELETE FROM idempotency_records WHERE expires_at_ms <= $1")
        .bind(now_ms)
        .execute(&mut *c)
        .await?;
    Ok(res.rows_affected())
}

// ---------------------------------------------------------------- audit

pub(crate) async fn insert_audit(c: &mut Conn, e: &AuditEvent) -> Result<i64> {
    let detail = serde_json::to_string(&e.detail).map_err(RegistryError::other)?;
    let rows = sqlx::query(
        "INSERT INTO audit_events (ts_ms, request_id, actor, action, entity_type, entity_id, \
         detail_json, client_addr) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(e.ts_ms)
    .bind(&e.request_id)
    .bind(&e.actor)
    .bind(&e.action)
    .bind(&e.entity_type)
    .bind(&e.entity_id)
    .bind(detail)
    .bind(&e.client_addr)
    .fetch_all(&mut *c)
    .await?;
    match rows.first() {
        Some(r) => Ok(r.try_get::<i64, _>(0)?),
        None => Err(RegistryError::other("audit insert returned no id")),
    }
}

pub(crate) async fn list_audit(
    c: &mut Conn,
    limit: u32,
    before_id: Option<i64>,
) -> Result<Vec<AuditEvent>> {
    let rows = sqlx::query(
        "SELECT id, ts_ms, request_id, actor, action, entity_type, entity_id, detail_json, \
         client_addr FROM audit_events WHERE id < $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(before_id.unwrap_or(i64::MAX))
    .bind(i64::from(limit))
    .fetch_all(&mut *c)
    .await?;
    rows.iter()
        .map(|r| {
            let detail: String = r.try_get("detail_json")?;
            Ok(AuditEvent {
                id: Some(r.try_get("id")?),
                ts_ms: r.try_get("ts_ms")?,
                request_id: r.try_get("request_id")?,
                actor: r.try_get("actor")?,
                action: r.try_get("action")?,
                entity_type: r.try_get("entity_type")?,
                entity_id: r.try_get("entity_id")?,
                detail: serde_json::from_str(&detail).map_err(|e| {
                    RegistryError::other(format!("bad detail_json in database: {e}"))
                })?,
                client_addr: r.try_get("client_addr")?,
            })
        })
        .collect()
}
