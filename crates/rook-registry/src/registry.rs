//! The [`Registry`] handle: connecting, migrations and the public methods.

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Connection as _;

use crate::deadline::{DATABASE_DEADLINE, STARTUP_PATIENCE};
use crate::error::{RegistryError, Result};
use crate::identity::IdentityWatch;
use crate::seal::Sealer;
use crate::time::now_ms;
use crate::types::{
    AccountRecord, AuditEvent, HealthRecord, IdempotencyBegin, MigrationStatus, PoolRecord,
    RouteRecord, StoredResponse, SyncReport, UsageEvent,
};

/// SQLite busy timeout: how long a writer waits for the lock before failing.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait for a pooled SQLite connection, and for the Postgres schema setup
/// connection at start-up.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Which database the registry talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// SQLite file (or `sqlite::memory:`).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Backend {
    /// `"sqlite"` or `"postgres"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Options for [`Registry::connect`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Create the SQLite file (mode 0600, and its parent directory, mode 0700) or the Postgres
    /// `schema` when missing. When false, a missing file or schema is
    /// [`RegistryError::DatabaseMissing`] and nothing is created. Default true.
    pub create_if_missing: bool,
    /// Apply pending migrations while connecting. Default true.
    pub migrate: bool,
    /// Pool size (at least 1; an in-memory SQLite database always uses 1). Default 8.
    pub max_connections: u32,
    /// Postgres only: schema to use (created when missing if `create_if_missing`; set as
    /// `search_path` on every connection). Lowercase letters, digits and `_`, at most 63
    /// characters. Ignored for SQLite. Default `None` (the server's `search_path`).
    pub schema: Option<String>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            create_if_missing: true,
            migrate: true,
            max_connections: 8,
            schema: None,
        }
    }
}

#[derive(Clone)]
enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Handle to the registry database. Cheap to clone; all clones share one pool.
#[derive(Clone)]
pub struct Registry {
    db: Arc<Db>,
    /// SQLite file only: a one-connection pool, opened on first use, whose worker thread
    /// runs at the lowest CPU priority (see [`Registry::insert_usage_events_background`]).
    background: Option<SqlitePool>,
    /// SQLite file only: the file's identity at open (see [`Registry::check_identity`]).
    identity: Option<Arc<IdentityWatch>>,
    /// Seals and opens inline API keys (see [`Registry::with_sealer`]).
    sealer: Option<Arc<Sealer>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

/// Runs `$body` with `$c` bound to a pooled connection and `$m` to the backend module.
macro_rules! with_conn {
    ($self:expr, |$c:ident, $m:ident| $body:expr) => {{
        match &*$self.db {
            Db::Sqlite(pool) => {
                #[allow(unused_imports)]
                use crate::backend::sqlite as $m;
                let mut conn = pool.acquire().await.map_err(RegistryError::from)?;
                let $c: &mut sqlx::SqliteConnection = &mut conn;
                $body
            }
            Db::Postgres(pool) => {
                #[allow(unused_imports)]
                use crate::backend::postgres as $m;
                let mut conn = pool.acquire().await.map_err(RegistryError::from)?;
                let $c: &mut sqlx::PgConnection = &mut conn;
                $body
            }
        }
    }};
}

/// Runs `$body` (a `Result`) inside a write transaction; commits on `Ok`, rolls back on `Err`.
/// SQLite transactions start with `BEGIN IMMEDIATE` so that they take the write lock up front
/// (waiting up to the busy timeout) instead of failing on a lock upgrade.
macro_rules! with_tx {
    ($self:expr, |$c:ident, $m:ident| $body:expr) => {{
        $self.guard_write()?;
        match &*$self.db {
            Db::Sqlite(pool) => {
                #[allow(unused_imports)]
                use crate::backend::sqlite as $m;
                let mut tx = pool
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(RegistryError::from)?;
                let result = {
                    let $c: &mut sqlx::SqliteConnection = &mut tx;
                    $body
                };
                finish_tx(tx, result).await
            }
            Db::Postgres(pool) => {
                #[allow(unused_imports)]
                use crate::backend::postgres as $m;
                let mut tx = pool.begin().await.map_err(RegistryError::from)?;
                let result = {
                    let $c: &mut sqlx::PgConnection = &mut tx;
                    $body
                };
                finish_tx(tx, result).await
            }
        }
    }};
}

mod budget_leases;
mod cluster;
mod health;
mod keys;
mod leases;
pub use cluster::ChangeListener;
pub use keys::RotateReport;

async fn finish_tx<DB: sqlx::Database, T>(
    tx: sqlx::Transaction<'static, DB>,
    result: Result<T>,
) -> Result<T> {
    match result {
        Ok(v) => {
            tx.commit().await?;
            Ok(v)
        }
        Err(e) => {
            if let Err(rb) = tx.rollback().await {
                tracing::warn!(error = %rb, "registry rollback failed");
            }
            Err(e)
        }
    }
}

// The handle's operations, by concern, in their own files; after the macros above.
mod catalog;
mod client_keys;
mod connect;
mod runtime;
// Usage time series (issue 15).
mod series;
