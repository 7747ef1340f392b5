//! Shared account health on PostgreSQL (see [`crate::health`]): transitions written
//! with a compare-and-set, rows read for merging, and the half-open probe lease.
//! Each call is one statement (a write that loses its condition reads the row after).

use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row as _};

use super::{Db, Registry};
use crate::backend::to_u32;
use crate::error::{RegistryError, Result};
use crate::health::{HealthWrite, ProbeLease, SharedHealth, Written};

const COLS: &str = "account_id, version, cooldown_until_ms, times_opened, consecutive_failures, \
                    last_error_class, updated_by, probe_owner, probe_until_ms";

/// `$1` id, `$2` failures, `$3` times opened, `$4` until, `$5` class, `$6` now, `$7` me.
/// Taken only when it ends later than the row's cooldown (the later comeback wins);
/// a new cooldown ends any probe lease.
const OPEN: &str = "INSERT INTO account_health AS h (account_id, status, consecutive_failures, \
     times_opened, cooldown_until_ms, last_error_class, updated_at_ms, version, updated_by, \
     probe_owner, probe_until_ms) \
     VALUES ($1, 'unhealthy', $2, $3, $4, $5, $6, 1, $7, NULL, NULL) \
     ON CONFLICT (account_id) DO UPDATE SET status = 'unhealthy', \
     consecutive_failures = excluded.consecutive_failures, \
     times_opened = GREATEST(h.times_opened, excluded.times_opened), \
     cooldown_until_ms = excluded.cooldown_until_ms, \
     last_error_class = excluded.last_error_class, updated_at_ms = excluded.updated_at_ms, \
     version = h.version + 1, updated_by = excluded.updated_by, \
     probe_owner = NULL, probe_until_ms = NULL \
     WHERE h.cooldown_until_ms IS NULL OR h.cooldown_until_ms < excluded.cooldown_until_ms \
     RETURNING version";

/// `$1` id, `$2` now, `$3` me. A cooldown that is over closes; one still running only
/// when the writer holds the probe lease (a panic probe: every new cooldown ends the
/// lease, so none was written since it was taken). Otherwise the running cooldown was
/// written after the probe was leased, and wins.
const CLOSE: &str = "UPDATE account_health SET status = 'healthy', consecutive_failures = 0, \
     times_opened = 0, cooldown_until_ms = NULL, updated_at_ms = $2, version = version + 1, \
     updated_by = $3, probe_owner = NULL, probe_until_ms = NULL \
     WHERE account_id = $1 AND cooldown_until_ms IS NOT NULL \
       AND (cooldown_until_ms <= $2 OR probe_owner = $3) \
     RETURNING version";

/// `$1` id, `$2` now, `$3` me. Unconditional.
const RESET: &str = "INSERT INTO account_health AS h (account_id, status, consecutive_failures, \
     times_opened, cooldown_until_ms, last_error_class, updated_at_ms, version, updated_by, \
     probe_owner, probe_until_ms) \
     VALUES ($1, 'healthy', 0, 0, NULL, NULL, $2, 1, $3, NULL, NULL) \
     ON CONFLICT (account_id) DO UPDATE SET status = 'healthy', consecutive_failures = 0, \
     times_opened = 0, cooldown_until_ms = NULL, updated_at_ms = $2, version = h.version + 1, \
     updated_by = $3, probe_owner = NULL, probe_until_ms = NULL \
     RETURNING version";

/// `$1` id, `$2` me, `$3` now, `$4` lead, `$5` lease length. The UPDATE wins when the
/// cooldown ends within the lead and no live lease exists; the row lock makes it one
/// winner under any concurrency. The outer SELECT shows the row as it was.
const LEASE: &str = "WITH won AS (UPDATE account_health \
     SET probe_owner = $2, probe_until_ms = $3::BIGINT + $5::BIGINT \
     WHERE account_id = $1 AND cooldown_until_ms IS NOT NULL \
       AND cooldown_until_ms <= $3::BIGINT + $4::BIGINT \
       AND (probe_owner IS NULL OR probe_until_ms IS NULL OR probe_until_ms <= $3::BIGINT) \
     RETURNING probe_until_ms) \
     SELECT (SELECT probe_until_ms FROM won) AS won_until, account_id, version, \
     cooldown_until_ms, times_opened, consecutive_failures, last_error_class, updated_by, \
     probe_owner, probe_until_ms FROM account_health WHERE account_id = $1";

/// `$1` id, `$2` me, `$3` now, `$4` lease length. The panic probe lease: like [`LEASE`]
/// but while the cooldown still runs (every account of a route is cooling, and one
/// request probes the account that comes back first); won when no other instance
/// holds a live lease (this instance's own lease is renewed).
const PANIC_LEASE: &str = "WITH won AS (UPDATE account_health \
     SET probe_owner = $2, probe_until_ms = $3::BIGINT + $4::BIGINT \
     WHERE account_id = $1 \
       AND (probe_owner IS NULL OR probe_until_ms IS NULL OR probe_until_ms <= $3::BIGINT \
            OR probe_owner = $2) \
     RETURNING probe_until_ms) \
     SELECT (SELECT probe_until_ms FROM won) AS won_until, account_id, version, \
     cooldown_until_ms, times_opened, consecutive_failures, last_error_class, updated_by, \
     probe_owner, probe_until_ms FROM account_health WHERE account_id = $1";

fn row_of(r: &PgRow) -> Result<SharedHealth> {
    Ok(SharedHealth {
        account_id: r.try_get("account_id")?,
        version: r.try_get("version")?,
        cooldown_until_ms: r.try_get("cooldown_until_ms")?,
        times_opened: to_u32(r.try_get("times_opened")?),
        consecutive_failures: to_u32(r.try_get("consecutive_failures")?),
        last_error_class: r.try_get("last_error_class")?,
        updated_by: r.try_get("updated_by")?,
        probe_owner: r.try_get("probe_owner")?,
        probe_until_ms: r.try_get("probe_until_ms")?,
    })
}

fn unshared() -> RegistryError {
    RegistryError::invalid("shared account health needs PostgreSQL")
}

impl Registry {
    fn pg(&self) -> Result<&PgPool> {
        match &*self.db {
            Db::Postgres(pool) => Ok(pool),
            Db::Sqlite(_) => Err(unshared()),
        }
    }

    /// PostgreSQL: every shared health row.
    pub async fn load_shared_health(&self) -> Result<Vec<SharedHealth>> {
        let pool = self.pg()?;
        let sql = format!("SELECT {COLS} FROM account_health ORDER BY account_id");
        let rows = sqlx::query(&sql).fetch_all(pool).await?;
        rows.iter().map(row_of).collect()
    }

    /// PostgreSQL: one account's shared health row.
    pub async fn shared_health(&self, account_id: &str) -> Result<Option<SharedHealth>> {
        let pool = self.pg()?;
        let sql = format!("SELECT {COLS} FROM account_health WHERE account_id = $1");
        let row = sqlx::query(&sql)
            .bind(account_id)
            .fetch_optional(pool)
            .await?;
        row.as_ref().map(row_of).transpose()
    }

    /// PostgreSQL: writes a transition `instance` made (see [`HealthWrite`]). A write
    /// whose condition fails answers the row as it is ([`Written::Superseded`]; a
    /// `Close` of a row already closed is superseded too).
    pub async fn write_health(
        &self,
        account_id: &str,
        instance: &str,
        write: &HealthWrite,
        now_ms: i64,
    ) -> Result<Written> {
        let pool = self.pg()?;
        let version: Option<i64> = match write {
            HealthWrite::Open {
                until_ms,
                times_opened,
                consecutive_failures,
                last_error_class,
            } => {
                sqlx::query_scalar(OPEN)
                    .bind(account_id)
                    .bind(i64::from(*consecutive_failures))
                    .bind(i64::from(*times_opened))
                    .bind(*until_ms)
                    .bind(last_error_class)
                    .bind(now_ms)
                    .bind(instance)
                    .fetch_optional(pool)
                    .await?
            }
            HealthWrite::Close => {
                sqlx::query_scalar(CLOSE)
                    .bind(account_id)
                    .bind(now_ms)
                    .bind(instance)
                    .fetch_optional(pool)
                    .await?
            }
            HealthWrite::Reset => {
                sqlx::query_scalar(RESET)
                    .bind(account_id)
                    .bind(now_ms)
                    .bind(instance)
                    .fetch_optional(pool)
                    .await?
            }
        };
        if let Some(v) = version {
            return Ok(Written::Applied(v));
        }
        match self.shared_health(account_id).await? {
            Some(row) => Ok(Written::Superseded(row)),
            // A Close of a row that does not exist: nothing was shared to close.
            None => Ok(Written::Applied(0)),
        }
    }

    /// PostgreSQL: tries to take the half-open probe lease of `account_id` for
    /// `instance` until `now_ms + lease_ms`. Won only when the row's cooldown ends
    /// within `lead_ms` and no other lease is live; one statement.
    pub async fn lease_probe(
        &self,
        account_id: &str,
        instance: &str,
        now_ms: i64,
        lead_ms: i64,
        lease_ms: i64,
    ) -> Result<ProbeLease> {
        let pool = self.pg()?;
        let row = sqlx::query(LEASE)
            .bind(account_id)
            .bind(instance)
            .bind(now_ms)
            .bind(lead_ms)
            .bind(lease_ms)
            .fetch_optional(pool)
            .await?;
        lease_of(row)
    }

    /// PostgreSQL: tries to take the probe lease of `account_id` for a *panic* probe
    /// (the account still cools) for `instance` until `now_ms + lease_ms`. Won when no
    /// other instance holds a live lease (a lease of `instance` is renewed); one
    /// statement, so one winner under any concurrency. `Missing` when the account has
    /// no shared row.
    pub async fn lease_panic_probe(
        &self,
        account_id: &str,
        instance: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<ProbeLease> {
        let pool = self.pg()?;
        let row = sqlx::query(PANIC_LEASE)
            .bind(account_id)
            .bind(instance)
            .bind(now_ms)
            .bind(lease_ms)
            .fetch_optional(pool)
            .await?;
        lease_of(row)
    }
}

fn lease_of(row: Option<PgRow>) -> Result<ProbeLease> {
    let Some(row) = row else {
        return Ok(ProbeLease::Missing);
    };
    let won: Option<i64> = row.try_get("won_until")?;
    match won {
        Some(until_ms) => Ok(ProbeLease::Won { until_ms }),
        None => Ok(ProbeLease::Lost(row_of(&row)?)),
    }
}
