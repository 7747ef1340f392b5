//! Leased slices of limits shared by several instances (issue 14): one statement per
//! lease, no transaction, no read-then-write.

use super::{Db, Registry};
use crate::backend::{to_i64, to_u64};
use crate::error::{RegistryError, Result};

/// `$1` key, `$2` window start, `$3` limit, `$4` wanted, `$5` charged first, `$6` now.
/// The charge always counts; the grant is what is left of the limit, at most `$4`.
/// Under `ON CONFLICT DO UPDATE` the row is locked and every `SET` expression sees
/// the old row, so `last_grant` is this statement's grant even under concurrency.
const PG_LEASE: &str = "INSERT INTO limit_leases \
     (limit_key, window_start_ms, granted, last_grant, updated_at_ms) \
     VALUES ($1, $2, $5 + LEAST($4::BIGINT, GREATEST(0, $3::BIGINT - $5::BIGINT)), \
             LEAST($4::BIGINT, GREATEST(0, $3::BIGINT - $5::BIGINT)), $6) \
     ON CONFLICT (limit_key, window_start_ms) DO UPDATE SET \
     last_grant = LEAST($4::BIGINT, GREATEST(0, $3::BIGINT - (limit_leases.granted + $5::BIGINT))), \
     granted = limit_leases.granted + $5::BIGINT \
             + LEAST($4::BIGINT, GREATEST(0, $3::BIGINT - (limit_leases.granted + $5::BIGINT))), \
     updated_at_ms = $6 \
     RETURNING last_grant";

/// The same statement for SQLite (`MIN`/`MAX` with several arguments are scalar).
const SQLITE_LEASE: &str = "INSERT INTO limit_leases \
     (limit_key, window_start_ms, granted, last_grant, updated_at_ms) \
     VALUES ($1, $2, $5 + MIN($4, MAX(0, $3 - $5)), MIN($4, MAX(0, $3 - $5)), $6) \
     ON CONFLICT (limit_key, window_start_ms) DO UPDATE SET \
     last_grant = MIN($4, MAX(0, $3 - (limit_leases.granted + $5))), \
     granted = limit_leases.granted + $5 + MIN($4, MAX(0, $3 - (limit_leases.granted + $5))), \
     updated_at_ms = $6 \
     RETURNING last_grant";

impl Registry {
    /// Leases up to `want` units of `limit` for `key` in the window starting at
    /// `window_start_ms`, after adding `charge` units already admitted on credit to the
    /// shared count. Returns what was granted (less than `want` once the limit is
    /// reached). One statement: atomic under any number of concurrent callers.
    pub async fn lease_limit(
        &self,
        key: &str,
        window_start_ms: u64,
        limit: u64,
        want: u64,
        charge: u64,
        now_ms: i64,
    ) -> Result<u64> {
        let args = (
            to_i64(window_start_ms),
            to_i64(limit),
            to_i64(want),
            to_i64(charge),
        );
        let granted: i64 = match &*self.db {
            Db::Postgres(pool) => {
                sqlx::query_scalar(PG_LEASE)
                    .bind(key)
                    .bind(args.0)
                    .bind(args.1)
                    .bind(args.2)
                    .bind(args.3)
                    .bind(now_ms)
                    .fetch_one(pool)
                    .await
            }
            Db::Sqlite(pool) => {
                sqlx::query_scalar(SQLITE_LEASE)
                    .bind(key)
                    .bind(args.0)
                    .bind(args.1)
                    .bind(args.2)
                    .bind(args.3)
                    .bind(now_ms)
                    .fetch_one(pool)
                    .await
            }
        }
        .map_err(RegistryError::from)?;
        Ok(to_u64(granted))
    }

    /// Deletes the lease rows of windows that started before `before_ms`; returns how
    /// many.
    pub async fn prune_limit_leases(&self, before_ms: u64) -> Result<u64> {
        let sql = "DELETE FROM limit_leases WHERE window_start_ms < $1";
        let before = to_i64(before_ms);
        let done = match &*self.db {
            Db::Postgres(pool) => sqlx::query(sql)
                .bind(before)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
            Db::Sqlite(pool) => sqlx::query(sql)
                .bind(before)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
        }
        .map_err(RegistryError::from)?;
        Ok(done)
    }
}
