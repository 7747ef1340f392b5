//! Leased slices of client key budgets shared by several instances (issue 14): one
//! statement per lease, no transaction, no read-then-write.

use super::{Db, Registry};
use crate::error::{RegistryError, Result};

/// `$1` key id, `$2` period start (ms, also the start of the usage counted), `$3` the
/// budget in force, `$4` the slice wanted, `$5` now.
///
/// The first grant of a period creates the row from the spend the usage events of the
/// period already hold (recorded before leasing started: an upgrade, a budget raise,
/// an outage); the `NOT EXISTS` is uncorrelated, so once the row exists the sum is not
/// computed at all. A grant is what is left of the budget, at most the slice, and
/// nothing once less than a nano-dollar is left. Under `ON CONFLICT DO UPDATE` the row
/// is locked and every `SET` expression sees the old row, so `last_grant_usd` is this
/// statement's grant even under concurrency, and the grants never add up to more than
/// the budget. `cost_usd` is `DOUBLE PRECISION`, like the budget and the row.
const PG_LEASE: &str = "WITH prior AS ( \
       SELECT COALESCE(SUM(cost_usd), 0)::DOUBLE PRECISION AS spent FROM usage_events \
       WHERE NOT EXISTS (SELECT 1 FROM budget_leases WHERE key_id = $1 AND period_start_ms = $2) \
         AND key_id = $1 AND ts_ms >= $2), \
     first AS ( \
       SELECT spent, CASE WHEN $3::DOUBLE PRECISION - spent > 1e-9 \
         THEN LEAST($4::DOUBLE PRECISION, $3::DOUBLE PRECISION - spent) ELSE 0 END AS grant_usd \
       FROM prior) \
     INSERT INTO budget_leases \
       (key_id, period_start_ms, granted_usd, last_grant_usd, updated_at_ms) \
     SELECT $1, $2, spent + grant_usd, grant_usd, $5 FROM first \
     ON CONFLICT (key_id, period_start_ms) DO UPDATE SET \
       last_grant_usd = CASE WHEN $3::DOUBLE PRECISION - budget_leases.granted_usd > 1e-9 \
         THEN LEAST($4::DOUBLE PRECISION, $3::DOUBLE PRECISION - budget_leases.granted_usd) \
         ELSE 0 END, \
       granted_usd = budget_leases.granted_usd \
         + CASE WHEN $3::DOUBLE PRECISION - budget_leases.granted_usd > 1e-9 \
           THEN LEAST($4::DOUBLE PRECISION, $3::DOUBLE PRECISION - budget_leases.granted_usd) \
           ELSE 0 END, \
       updated_at_ms = $5 \
     RETURNING last_grant_usd";

/// The same statement for SQLite (`MIN`/`MAX` with several arguments are scalar; an
/// `INSERT … SELECT` needs a `WHERE` before `ON CONFLICT`).
const SQLITE_LEASE: &str = "WITH prior AS ( \
       SELECT COALESCE(SUM(cost_usd), 0.0) AS spent FROM usage_events \
       WHERE NOT EXISTS (SELECT 1 FROM budget_leases WHERE key_id = $1 AND period_start_ms = $2) \
         AND key_id = $1 AND ts_ms >= $2), \
     first AS ( \
       SELECT spent, CASE WHEN $3 - spent > 1e-9 THEN MIN($4, $3 - spent) ELSE 0.0 END AS grant_usd \
       FROM prior) \
     INSERT INTO budget_leases \
       (key_id, period_start_ms, granted_usd, last_grant_usd, updated_at_ms) \
     SELECT $1, $2, spent + grant_usd, grant_usd, $5 FROM first WHERE true \
     ON CONFLICT (key_id, period_start_ms) DO UPDATE SET \
       last_grant_usd = CASE WHEN $3 - budget_leases.granted_usd > 1e-9 \
         THEN MIN($4, $3 - budget_leases.granted_usd) ELSE 0.0 END, \
       granted_usd = budget_leases.granted_usd \
         + CASE WHEN $3 - budget_leases.granted_usd > 1e-9 \
           THEN MIN($4, $3 - budget_leases.granted_usd) ELSE 0.0 END, \
       updated_at_ms = $5 \
     RETURNING last_grant_usd";

impl Registry {
    /// Leases up to `slice_usd` of client key `key_id`'s budget `budget_usd` for the
    /// period starting at `period_start_ms`. The first lease of a period counts the
    /// spend the usage events since `period_start_ms` hold as granted already. Returns
    /// what was granted (less than `slice_usd` once the budget is granted out; `0.0`
    /// after). One statement: atomic under any number of concurrent callers.
    pub async fn lease_budget(
        &self,
        key_id: &str,
        period_start_ms: i64,
        budget_usd: f64,
        slice_usd: f64,
        now_ms: i64,
    ) -> Result<f64> {
        if !(budget_usd.is_finite() && slice_usd.is_finite()) {
            return Err(RegistryError::invalid(
                "a budget lease needs a finite budget and slice",
            ));
        }
        let granted: f64 = match &*self.db {
            Db::Postgres(pool) => {
                sqlx::query_scalar(PG_LEASE)
                    .bind(key_id)
                    .bind(period_start_ms)
                    .bind(budget_usd)
                    .bind(slice_usd)
                    .bind(now_ms)
                    .fetch_one(pool)
                    .await
            }
            Db::Sqlite(pool) => {
                sqlx::query_scalar(SQLITE_LEASE)
                    .bind(key_id)
                    .bind(period_start_ms)
                    .bind(budget_usd)
                    .bind(slice_usd)
                    .bind(now_ms)
                    .fetch_one(pool)
                    .await
            }
        }
        .map_err(RegistryError::from)?;
        Ok(granted)
    }

    /// Deletes the budget lease rows last leased from before `before_ms`; returns how
    /// many. (A pruned row of a period still running is created again from the usage
    /// events, which by then hold what its grants were spent on.)
    pub async fn prune_budget_leases(&self, before_ms: i64) -> Result<u64> {
        let sql = "DELETE FROM budget_leases WHERE updated_at_ms < $1";
        let done = match &*self.db {
            Db::Postgres(pool) => sqlx::query(sql)
                .bind(before_ms)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
            Db::Sqlite(pool) => sqlx::query(sql)
                .bind(before_ms)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
        }
        .map_err(RegistryError::from)?;
        Ok(done)
    }
}
