// Accounts: rows, existence checks and writes (included by `backend.rs` after `backend_impl.rs`).

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
