//! What the gateway writes while it serves: health, usage events, idempotency
//! records and audit events.

use super::*;

impl Registry {
    // ------------------------------------------------------------ health

    /// Every stored health record, ordered by account id.
    pub async fn load_health(&self) -> Result<Vec<HealthRecord>> {
        with_conn!(self, |c, m| m::load_health(c).await)
    }

    /// Inserts or replaces health records (keyed by account id) in one transaction.
    pub async fn upsert_health(&self, records: &[HealthRecord]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        with_tx!(self, |c, m| m::upsert_health(c, records).await)
    }

    // ------------------------------------------------------------ usage

    /// Inserts usage events in one transaction with multi-row INSERTs (128 rows each).
    /// The `id` field of the inputs is ignored.
    pub async fn insert_usage_events(&self, events: &[UsageEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        with_tx!(self, |c, m| m::insert_usage_events(c, events).await)
    }

    /// Whether [`insert_usage_events_background`](Self::insert_usage_events_background) has a
    /// low-priority connection of its own (a SQLite file); otherwise it is the same as
    /// [`insert_usage_events`](Self::insert_usage_events).
    pub fn has_background_writer(&self) -> bool {
        self.background.is_some()
    }

    /// Inserts usage events like [`insert_usage_events`](Self::insert_usage_events), but for
    /// writes that must not compete with latency-sensitive work.
    ///
    /// SQLite does its work on a thread of the calling process (one per connection). For a
    /// SQLite file this method uses a dedicated connection whose thread runs at the lowest
    /// CPU priority (nice 19), so on a busy core the request-serving threads preempt it
    /// instead of waiting for a whole batch to be written. Up to 128 events are written by
    /// one statement (atomic, one round trip to that thread); more in one transaction.
    ///
    /// The price: on a saturated CPU the thread gets very little time, and while it holds
    /// SQLite's write lock other writers wait. Callers should keep these writes small (a
    /// hundred rows or so) and use [`insert_usage_events`](Self::insert_usage_events) when
    /// such a write is slow or when they fall behind. On PostgreSQL and in-memory SQLite
    /// it is the normal write.
    pub async fn insert_usage_events_background(&self, events: &[UsageEvent]) -> Result<()> {
        let Some(pool) = &self.background else {
            return self.insert_usage_events(events).await;
        };
        if events.is_empty() {
            return Ok(());
        }
        self.guard_write()?;
        if events.len() > crate::backend::sqlite::USAGE_CHUNK {
            let mut tx = pool
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(RegistryError::from)?;
            let result = crate::backend::sqlite::insert_usage_events(&mut tx, events).await;
            return finish_tx(tx, result).await;
        }
        let mut conn = pool.acquire().await.map_err(RegistryError::from)?;
        crate::backend::sqlite::insert_usage_events(&mut conn, events).await
    }

    /// Usage events with `since_ms <= ts_ms < until_ms` (either bound optional), oldest first,
    /// with `id` set.
    pub async fn usage_events(
        &self,
        since_ms: Option<i64>,
        until_ms: Option<i64>,
    ) -> Result<Vec<UsageEvent>> {
        with_conn!(self, |c, m| m::usage_events(c, since_ms, until_ms).await)
    }

    /// Deletes usage events with `ts_ms < ts_ms`; returns how many.
    pub async fn prune_usage_before(&self, ts_ms: i64) -> Result<u64> {
        self.guard_write()?;
        with_conn!(self, |c, m| m::prune_usage_before(c, ts_ms).await)
    }

    // ------------------------------------------------------------ idempotency

    /// Claims an idempotency key atomically in the database (safe across instances).
    ///
    /// * no record, or an expired one → a new `in_progress` record, [`IdempotencyBegin::Started`];
    /// * a record with another `body_hash` → [`IdempotencyBegin::Mismatch`];
    /// * an `in_progress` record → [`IdempotencyBegin::InProgress`];
    /// * a `completed` record → [`IdempotencyBegin::Replay`] with the stored response.
    ///
    /// A record is expired when `expires_at_ms <= now_ms`.
    pub async fn idempotency_begin(
        &self,
        principal_hash: &str,
        key: &str,
        body_hash: &str,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<IdempotencyBegin> {
        self.guard_write()?;
        with_conn!(self, |c, m| m::idempotency_begin(
            c,
            principal_hash,
            key,
            body_hash,
            now_ms,
            expires_at_ms
        )
        .await)
    }

    /// Stores the response of a started request (state becomes `completed`; the expiry set by
    /// `idempotency_begin` stays). [`RegistryError::NotFound`] if there is no in-progress record
    /// (abandoned or pruned meanwhile).
    pub async fn idempotency_complete(
        &self,
        principal_hash: &str,
        key: &str,
        response: StoredResponse,
    ) -> Result<()> {
        self.guard_write()?;
        with_conn!(self, |c, m| m::idempotency_complete(
            c,
            principal_hash,
            key,
            &response
        )
        .await)
    }

    /// Deletes an in-progress record (the request failed and may be retried). Completed
    /// records and missing keys are left alone; never an error for a missing key.
    pub async fn idempotency_abandon(&self, principal_hash: &str, key: &str) -> Result<()> {
        self.guard_write()?;
        with_conn!(self, |c, m| m::idempotency_abandon(c, principal_hash, key)
            .await)
    }

    /// Deletes records with `expires_at_ms <= now_ms`; returns how many.
    pub async fn prune_idempotency(&self, now_ms: i64) -> Result<u64> {
        self.guard_write()?;
        with_conn!(self, |c, m| m::prune_idempotency(c, now_ms).await)
    }

    // ------------------------------------------------------------ audit

    /// Appends an audit event (its `id` is ignored); returns the new id.
    pub async fn insert_audit(&self, event: &AuditEvent) -> Result<i64> {
        self.guard_write()?;
        with_conn!(self, |c, m| m::insert_audit(c, event).await)
    }

    /// Up to `limit` audit events newest first, only those with `id < before_id` when given
    /// (pass the last id of a page to get the next one).
    pub async fn list_audit(&self, limit: u32, before_id: Option<i64>) -> Result<Vec<AuditEvent>> {
        with_conn!(self, |c, m| m::list_audit(c, limit, before_id).await)
    }
}
