// Pools and routes: rows, references and writes (included by `backend.rs`).

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
