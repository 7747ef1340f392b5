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

/// Removes the password (raw and percent-decoded) of a database URL from error texts.
struct Sanitizer {
    secrets: Vec<String>,
}

impl Sanitizer {
    fn from_url(url: &str) -> Self {
        let mut secrets = Vec::new();
        if let Some((_, rest)) = url.split_once("://") {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            if let Some((userinfo, _)) = authority.rsplit_once('@') {
                if let Some((_, password)) = userinfo.split_once(':') {
                    if !password.is_empty() {
                        secrets.push(password.to_string());
                        let decoded = percent_decode(password);
                        if decoded != password {
                            secrets.push(decoded);
                        }
                    }
                }
            }
        }
        // Also catch `password=` in the query string.
        if let Some((_, query)) = url.split_once('?') {
            for pair in query.split('&') {
                if let Some((k, v)) = pair.split_once('=') {
                    if k.eq_ignore_ascii_case("password") && !v.is_empty() {
                        secrets.push(v.to_string());
                        secrets.push(percent_decode(v));
                    }
                }
            }
        }
        Sanitizer { secrets }
    }

    fn clean(&self, e: RegistryError) -> RegistryError {
        if self.secrets.is_empty() {
            return e;
        }
        e.map_text(|mut s| {
            for secret in &self.secrets {
                if !secret.is_empty() {
                    s = s.replace(secret.as_str(), "***");
                }
            }
            s
        })
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn valid_schema_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

/// Creates `path` with mode 0600 (and missing parent directories with mode 0700).
fn create_sqlite_file(path: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() && !parent.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(|e| RegistryError::Unavailable {
                    message: format!("cannot create directory {}: {e}", parent.display()),
                })?;
        }
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(RegistryError::Unavailable {
            message: format!("cannot create database file {}: {e}", path.display()),
        }),
    }
}

impl Registry {
    /// Connects to `url` and (unless `opts.migrate` is false) applies pending migrations.
    ///
    /// URL forms: `sqlite://PATH`, `sqlite:PATH`, `sqlite:///ABSOLUTE/PATH`, `sqlite::memory:`,
    /// `postgres://…`, `postgresql://…`. SQLite runs in WAL mode with a 5 s busy timeout,
    /// `synchronous = NORMAL` and foreign keys on.
    ///
    /// Errors: [`RegistryError::Invalid`] for a bad URL or schema name,
    /// [`RegistryError::DatabaseMissing`] when the file/schema/database is missing and may not
    /// be created, [`RegistryError::Unavailable`] when the server cannot be reached,
    /// [`RegistryError::Migration`] when migrating fails. Messages never contain the password.
    pub async fn connect(url: &str, opts: ConnectOptions) -> Result<Registry> {
        let sanitizer = Sanitizer::from_url(url);
        Self::connect_inner(url, &opts)
            .await
            .map_err(|e| sanitizer.clean(e))
    }

    async fn connect_inner(url: &str, opts: &ConnectOptions) -> Result<Registry> {
        let lower = url.to_ascii_lowercase();
        let mut identity = None;
        let (db, background) = if lower.starts_with("sqlite:") {
            let (pool, background, file) = Self::connect_sqlite(url, opts).await?;
            if let Some(file) = file {
                identity = match IdentityWatch::open(&file) {
                    Ok(w) => Some(Arc::new(w)),
                    Err(e) => {
                        tracing::warn!(error = %e, path = %file.display(),
                            "cannot watch the SQLite file's identity");
                        None
                    }
                };
            }
            (Db::Sqlite(pool), background)
        } else if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            (Db::Postgres(Self::connect_postgres(url, opts).await?), None)
        } else {
            let scheme = url.split(':').next().unwrap_or("");
            return Err(RegistryError::invalid(format!(
                "unsupported database URL scheme '{scheme}': expected sqlite: or postgres://"
            )));
        };
        let registry = Registry {
            db: Arc::new(db),
            background,
            identity,
            sealer: None,
        };
        if opts.migrate {
            registry.migrate().await?;
        }
        Ok(registry)
    }

    /// The pool, the low-priority pool and (for a file) the file's path.
    async fn connect_sqlite(
        url: &str,
        opts: &ConnectOptions,
    ) -> Result<(SqlitePool, Option<SqlitePool>, Option<std::path::PathBuf>)> {
        // Same splitting as sqlx's own parser.
        let rest = url
            .get("sqlite:".len()..)
            .unwrap_or("")
            .trim_start_matches("//");
        let (database, params) = match rest.split_once('?') {
            Some((d, p)) => (d, p),
            None => (rest, ""),
        };
        let memory = database == ":memory:" || params.split('&').any(|p| p == "mode=memory");
        let normalized = format!("sqlite:{rest}");
        let mut options = SqliteConnectOptions::from_str(&normalized)
            .map_err(|e| RegistryError::invalid(format!("bad SQLite URL: {e}")))?;
        if !memory {
            if database.is_empty() {
                return Err(RegistryError::invalid("SQLite URL has no file path"));
            }
            let path = options.get_filename().to_path_buf();
            if !path.exists() {
                if !opts.create_if_missing {
                    return Err(RegistryError::DatabaseMissing {
                        location: format!("SQLite file {}", path.display()),
                    });
                }
                create_sqlite_file(&path)?;
            }
            options = options
                .create_if_missing(false)
                .journal_mode(SqliteJournalMode::Wal);
        }
        options = options
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new().acquire_timeout(ACQUIRE_TIMEOUT);
        if memory {
            // The in-memory database lives as long as one connection does.
            let pool = pool
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await?;
            return Ok((pool, None, None));
        }
        let file = options.get_filename().to_path_buf();
        let background =
            SqlitePoolOptions::new()
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .max_connections(1)
                // A local file cannot go stale like a network connection: skip the ping.
                .test_before_acquire(false)
                .after_connect(|_conn, _meta| {
                    Box::pin(async {
                        crate::priority::lower_background_threads();
                        Ok(())
                    })
                })
                .connect_lazy_with(options.clone().thread_name(|id| {
                    format!("{}{id}", crate::priority::BACKGROUND_THREAD_PREFIX)
                }));
        let pool = pool
            .max_connections(opts.max_connections.max(1))
            .connect_with(options)
            .await?;
        Ok((pool, Some(background), Some(file)))
    }

    async fn connect_postgres(url: &str, opts: &ConnectOptions) -> Result<PgPool> {
        let mut options = PgConnectOptions::from_str(url)
            .map_err(|e| RegistryError::invalid(format!("bad PostgreSQL URL: {e}")))?;
        if let Some(schema) = &opts.schema {
            if !valid_schema_name(schema) {
                return Err(RegistryError::invalid(format!(
                    "bad schema name '{schema}': use lowercase letters, digits and '_' (at most 63)"
                )));
            }
            let mut conn =
                tokio::time::timeout(ACQUIRE_TIMEOUT, sqlx::PgConnection::connect_with(&options))
                    .await
                    .map_err(|_| RegistryError::Unavailable {
                        message: "timed out connecting to PostgreSQL".to_string(),
                    })??;
            let found = sqlx::query("SELECT 1 FROM pg_namespace WHERE nspname = $1")
                .bind(schema)
                .fetch_optional(&mut conn)
                .await?
                .is_some();
            if !found {
                if !opts.create_if_missing {
                    return Err(RegistryError::DatabaseMissing {
                        location: format!("PostgreSQL schema '{schema}'"),
                    });
                }
                // IF NOT EXISTS can still race with another instance: ignore the duplicate.
                let create = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
                if let Err(e) = sqlx::Executor::execute(&mut conn, create.as_str()).await {
                    if !crate::error::is_unique_violation(&e) {
                        return Err(e.into());
                    }
                }
            }
            if let Err(e) = conn.close().await {
                tracing::debug!(error = %e, "closing schema setup connection failed");
            }
            options = options.options([("search_path", schema.as_str())]);
        }
        // Every later acquire waits at most DATABASE_DEADLINE (an outage answers fast);
        // start-up itself is more patient: it retries for STARTUP_PATIENCE.
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .acquire_timeout(DATABASE_DEADLINE)
            .connect_lazy_with(options);
        let started = tokio::time::Instant::now();
        loop {
            match pool.acquire().await {
                Ok(_) => return Ok(pool),
                Err(e) => {
                    // Only transport failures are worth retrying (not a bad password).
                    let transport = matches!(e, sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut);
                    let e = RegistryError::from(e);
                    if !transport || started.elapsed() >= STARTUP_PATIENCE {
                        pool.close().await;
                        return Err(e);
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    /// Which backend this registry uses.
    pub fn backend(&self) -> Backend {
        match &*self.db {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// The bound of [`Registry::bounded`]: [`DATABASE_DEADLINE`] on PostgreSQL, `None`
    /// on SQLite (a local file; its busy timeout bounds lock waits).
    pub fn request_deadline(&self) -> Option<Duration> {
        match self.backend() {
            Backend::Postgres => Some(DATABASE_DEADLINE),
            Backend::Sqlite => None,
        }
    }

    /// Runs `fut` (registry calls made for a waiting caller), giving up after
    /// [`Registry::request_deadline`] with [`RegistryError::Unavailable`]. A write cut off
    /// this way may or may not have been committed (as with any lost connection).
    pub async fn bounded<T>(&self, fut: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        crate::deadline::within(self.request_deadline(), fut).await
    }

    /// Round trip to the database (`SELECT 1`).
    pub async fn ping(&self) -> Result<()> {
        with_conn!(self, |c, _m| {
            sqlx::query("SELECT 1").execute(&mut *c).await?;
            Ok(())
        })
    }

    /// Closes the pool; further calls fail with [`RegistryError::Unavailable`].
    pub async fn close(&self) {
        if let Some(p) = &self.background {
            p.close().await;
        }
        match &*self.db {
            Db::Sqlite(p) => p.close().await,
            Db::Postgres(p) => p.close().await,
        }
    }

    /// Writes an online, consistent copy of a SQLite registry to `path` (SQLite's
    /// `VACUUM INTO`), readable only by its owner. The server may keep running.
    ///
    /// # Errors
    /// [`RegistryError::AlreadyExists`] when `path` exists (it is never overwritten),
    /// [`RegistryError::Invalid`] on PostgreSQL (use `pg_dump`).
    pub async fn backup_to(&self, path: &std::path::Path) -> Result<()> {
        let pool = match &*self.db {
            Db::Sqlite(p) => p,
            Db::Postgres(_) => {
                return Err(RegistryError::Invalid {
                    message: "backup is for SQLite registries; back up PostgreSQL with pg_dump"
                        .into(),
                })
            }
        };
        if path.exists() {
            return Err(RegistryError::AlreadyExists {
                entity: "backup file",
                id: path.display().to_string(),
            });
        }
        let target = path.to_str().ok_or_else(|| RegistryError::Invalid {
            message: "the backup path must be valid UTF-8".into(),
        })?;
        sqlx::query("VACUUM INTO ?1")
            .bind(target)
            .execute(pool)
            .await?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(
                |e| RegistryError::Other {
                    message: format!("backup written, but its permissions could not be set: {e}"),
                },
            )?;
        }
        Ok(())
    }

    /// Applied and pending migration versions. Fails with [`RegistryError::Migration`] if an
    /// applied migration differs from the embedded one.
    pub async fn migration_status(&self) -> Result<MigrationStatus> {
        with_conn!(self, |c, m| m::migration_status(c).await)
    }

    /// Applies pending migrations in one transaction (on Postgres under an advisory lock, so
    /// several instances may start at once). Returns the versions applied now.
    pub async fn migrate(&self) -> Result<Vec<i64>> {
        let now = now_ms();
        with_tx!(self, |c, m| m::migrate(c, now).await)
    }

    // ------------------------------------------------------------ declared config

    /// Makes the `source = config` accounts, pools and routes equal to the declared ones, in one
    /// transaction: inserts new, updates changed (an api row with a declared id is taken over),
    /// deletes config rows no longer declared, replaces pool members. `source = api` rows are
    /// left alone. The `source` field of the inputs is ignored. On any error (including
    /// [`RegistryError::Reference`] when a removal would orphan an api row, or a declared
    /// reference does not resolve) nothing changes.
    pub async fn sync_declared(
        &self,
        accounts: &[AccountRecord],
        pools: &[PoolRecord],
        routes: &[RouteRecord],
    ) -> Result<SyncReport> {
        let now = now_ms();
        let report = with_tx!(self, |c, m| m::sync_declared(
            c, accounts, pools, routes, now
        )
        .await)?;
        tracing::info!(
            added = report.added,
            updated = report.updated,
            removed = report.removed,
            "synced declared accounts, pools and routes"
        );
        Ok(report)
    }

    // ------------------------------------------------------------ accounts

    /// All accounts (config and api), ordered by id, with their stored `api_key`.
    pub async fn list_accounts(&self) -> Result<Vec<AccountRecord>> {
        with_conn!(self, |c, m| m::list_accounts(c).await)
    }

    /// One account; [`RegistryError::NotFound`] when missing.
    pub async fn get_account(&self, id: &str) -> Result<AccountRecord> {
        let found = with_conn!(self, |c, m| m::find_account(c, id).await)?;
        found.ok_or_else(|| RegistryError::NotFound {
            entity: "account",
            id: id.to_string(),
        })
    }

    /// Creates an API-managed account (stored with `source = api` whatever `account.source`
    /// says, including `api_key`). [`RegistryError::AlreadyExists`] if the id is taken.
    pub async fn create_account(&self, account: &AccountRecord) -> Result<AccountRecord> {
        self.check_sealed(&account.id, account.api_key.as_deref())?;
        let now = now_ms();
        with_tx!(self, |c, m| m::create_account(c, account, now).await)
    }

    /// Replaces every field of an API-managed account except `api_key` (use
    /// [`Registry::set_account_api_key`]). [`RegistryError::NotFound`],
    /// [`RegistryError::ReadOnly`] for config accounts.
    pub async fn update_account(&self, account: &AccountRecord) -> Result<AccountRecord> {
        let now = now_ms();
        with_tx!(self, |c, m| m::update_account(c, account, now).await)
    }

    /// Replaces (`Some`) or clears (`None`) the inline key of an API-managed account.
    /// [`RegistryError::NotFound`], [`RegistryError::ReadOnly`] for config accounts.
    pub async fn set_account_api_key(&self, id: &str, api_key: Option<String>) -> Result<()> {
        self.check_sealed(id, api_key.as_deref())?;
        let now = now_ms();
        let key = api_key.as_deref();
        with_tx!(self, |c, m| m::set_account_api_key(c, id, key, now).await)
    }

    /// Deletes an API-managed account and its health row. [`RegistryError::NotFound`],
    /// [`RegistryError::ReadOnly`], [`RegistryError::Reference`] while it is a pool member.
    pub async fn delete_account(&self, id: &str) -> Result<()> {
        with_tx!(self, |c, m| m::delete_account(c, id).await)
    }

    // ------------------------------------------------------------ pools

    /// All pools with their ordered members, ordered by id.
    pub async fn list_pools(&self) -> Result<Vec<PoolRecord>> {
        with_conn!(self, |c, m| m::list_pools(c).await)
    }

    /// One pool; [`RegistryError::NotFound`] when missing.
    pub async fn get_pool(&self, id: &str) -> Result<PoolRecord> {
        let found = with_conn!(self, |c, m| m::find_pool(c, id).await)?;
        found.ok_or_else(|| RegistryError::NotFound {
            entity: "pool",
            id: id.to_string(),
        })
    }

    /// Creates an API-managed pool. [`RegistryError::AlreadyExists`];
    /// [`RegistryError::Reference`] if a member or the fallback pool does not exist;
    /// [`RegistryError::Invalid`] for duplicate members or a self fallback.
    pub async fn create_pool(&self, pool: &PoolRecord) -> Result<PoolRecord> {
        let now = now_ms();
        with_tx!(self, |c, m| m::create_pool(c, pool, now).await)
    }

    /// Replaces strategy, members and fallback of an API-managed pool. Errors as
    /// [`Registry::create_pool`] plus [`RegistryError::NotFound`] and [`RegistryError::ReadOnly`].
    pub async fn update_pool(&self, pool: &PoolRecord) -> Result<PoolRecord> {
        let now = now_ms();
        with_tx!(self, |c, m| m::update_pool(c, pool, now).await)
    }

    /// Deletes an API-managed pool and its member rows. [`RegistryError::NotFound`],
    /// [`RegistryError::ReadOnly`], [`RegistryError::Reference`] while a route uses it or
    /// another pool falls back to it.
    pub async fn delete_pool(&self, id: &str) -> Result<()> {
        with_tx!(self, |c, m| m::delete_pool(c, id).await)
    }

    // ------------------------------------------------------------ routes

    /// All routes, ordered by model.
    pub async fn list_routes(&self) -> Result<Vec<RouteRecord>> {
        with_conn!(self, |c, m| m::list_routes(c).await)
    }

    /// One route by logical model; [`RegistryError::NotFound`] when missing.
    pub async fn get_route(&self, model: &str) -> Result<RouteRecord> {
        let found = with_conn!(self, |c, m| m::find_route(c, model).await)?;
        found.ok_or_else(|| RegistryError::NotFound {
            entity: "route",
            id: model.to_string(),
        })
    }

    /// Creates an API-managed route. [`RegistryError::AlreadyExists`];
    /// [`RegistryError::Reference`] if the pool or fallback route does not exist.
    pub async fn create_route(&self, route: &RouteRecord) -> Result<RouteRecord> {
        let now = now_ms();
        with_tx!(self, |c, m| m::create_route(c, route, now).await)
    }

    /// Replaces pool and fallback of an API-managed route. Errors as
    /// [`Registry::create_route`] plus [`RegistryError::NotFound`] and [`RegistryError::ReadOnly`].
    pub async fn update_route(&self, route: &RouteRecord) -> Result<RouteRecord> {
        let now = now_ms();
        with_tx!(self, |c, m| m::update_route(c, route, now).await)
    }

    /// Deletes an API-managed route. [`RegistryError::NotFound`], [`RegistryError::ReadOnly`],
    /// [`RegistryError::Reference`] while another route falls back to it.
    pub async fn delete_route(&self, model: &str) -> Result<()> {
        with_tx!(self, |c, m| m::delete_route(c, model).await)
    }

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

// Client keys (issue 13), in their own file; after the macros above.
mod client_keys;
// Usage time series (issue 15).
mod series;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizer_removes_password() {
        let s = Sanitizer::from_url("postgres://user:s3cr%40t@localhost:5432/db?password=other");
        let e = s.clean(RegistryError::Unavailable {
            message: "failed for postgres://user:s3cr%40t@localhost s3cr@t other".into(),
        });
        let text = e.to_string();
        assert!(!text.contains("s3cr"), "{text}");
        assert!(!text.contains("other"), "{text}");
    }

    #[test]
    fn schema_names() {
        assert!(valid_schema_name("rook_test_1"));
        assert!(!valid_schema_name("Rook"));
        assert!(!valid_schema_name("1abc"));
        assert!(!valid_schema_name("a;drop"));
        assert!(!valid_schema_name(""));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%40b%2"), "a@b%2");
        assert_eq!(percent_decode("%"), "%");
    }
}
