// Health rows, usage events, idempotency records and audit events (included by `backend.rs`).

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
