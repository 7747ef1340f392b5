//! Opening a registry: SQLite files and PostgreSQL pools, their options, the
//! database URL's password kept out of errors, and the handle's own operations
//! (ping, close, backup, migrations).

use super::*;

/// Removes the password (raw and percent-decoded) of a database URL from error texts.
pub(super) struct Sanitizer {
    secrets: Vec<String>,
}

impl Sanitizer {
    pub(super) fn from_url(url: &str) -> Self {
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

    pub(super) fn clean(&self, e: RegistryError) -> RegistryError {
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

pub(super) fn percent_decode(s: &str) -> String {
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

pub(super) fn valid_schema_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

/// Creates `path` with mode 0600 (and missing parent directories with mode 0700).
pub(super) fn create_sqlite_file(path: &Path) -> Result<()> {
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
}

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
