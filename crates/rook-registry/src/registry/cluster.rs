//! The config version, instance heartbeats and the PostgreSQL change listener.

use std::time::Duration;

use sqlx::postgres::{PgListener, PgPoolOptions};
use sqlx::Row as _;

use super::{finish_tx, Db, Registry};
use crate::cluster::{parse_any, ConfigVersion, InstanceRecord, Notice, CHANGES_CHANNEL};
use crate::error::{RegistryError, Result};

/// How long the listener waits for its connection.
const LISTEN_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

const INSTANCE_COLS: &str = "instance_id, rook_version, host, bind_address, started_at_ms, \
                             last_seen_ms, heartbeat_ms, config_version, sync_mode";

impl Registry {
    /// The config version (goes up with every write of accounts, pools, routes and
    /// client keys, whoever writes them) and when it last changed. One single-row read.
    pub async fn config_version(&self) -> Result<ConfigVersion> {
        let row = with_conn!(self, |c, m| sqlx::query(
            "SELECT version, updated_at_ms FROM rook_config_version WHERE id = 1"
        )
        .fetch_one(&mut *c)
        .await
        .map(|r| (r.try_get::<i64, _>(0), r.try_get::<i64, _>(1))))?;
        Ok(ConfigVersion {
            version: row.0?,
            updated_at_ms: row.1?,
        })
    }

    /// Writes (inserts or refreshes) this instance's heartbeat row.
    pub async fn heartbeat(&self, i: &InstanceRecord) -> Result<()> {
        let sql = format!(
            "INSERT INTO rook_instances ({INSTANCE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (instance_id) DO UPDATE SET rook_version = $2, host = $3, \
             bind_address = $4, started_at_ms = $5, last_seen_ms = $6, heartbeat_ms = $7, \
             config_version = $8, sync_mode = $9"
        );
        with_tx!(self, |c, m| {
            sqlx::query(&sql)
                .bind(&i.instance_id)
                .bind(&i.rook_version)
                .bind(&i.host)
                .bind(&i.bind_address)
                .bind(i.started_at_ms)
                .bind(i.last_seen_ms)
                .bind(i.heartbeat_ms)
                .bind(i.config_version)
                .bind(&i.sync_mode)
                .execute(&mut *c)
                .await
                .map(|_| ())
                .map_err(RegistryError::from)
        })
    }

    /// Every instance row, oldest start first.
    pub async fn list_instances(&self) -> Result<Vec<InstanceRecord>> {
        let sql = format!(
            "SELECT {INSTANCE_COLS} FROM rook_instances ORDER BY started_at_ms, instance_id"
        );
        let rows = with_conn!(self, |c, m| sqlx::query(&sql)
            .fetch_all(&mut *c)
            .await
            .map_err(RegistryError::from)
            .and_then(|rows| {
                rows.iter()
                    .map(|r| {
                        Ok(InstanceRecord {
                            instance_id: r.try_get("instance_id")?,
                            rook_version: r.try_get("rook_version")?,
                            host: r.try_get("host")?,
                            bind_address: r.try_get("bind_address")?,
                            started_at_ms: r.try_get("started_at_ms")?,
                            last_seen_ms: r.try_get("last_seen_ms")?,
                            heartbeat_ms: r.try_get("heartbeat_ms")?,
                            config_version: r.try_get("config_version")?,
                            sync_mode: r.try_get("sync_mode")?,
                        })
                    })
                    .collect::<Result<Vec<_>>>()
            }))?;
        Ok(rows)
    }

    /// Removes one instance's row (a clean shutdown).
    pub async fn remove_instance(&self, instance_id: &str) -> Result<()> {
        with_tx!(self, |c, m| sqlx::query(
            "DELETE FROM rook_instances WHERE instance_id = $1"
        )
        .bind(instance_id)
        .execute(&mut *c)
        .await
        .map(|_| ())
        .map_err(RegistryError::from))
    }

    /// Removes rows not seen since `before_ms`; returns how many.
    pub async fn prune_instances(&self, before_ms: i64) -> Result<u64> {
        with_tx!(self, |c, m| sqlx::query(
            "DELETE FROM rook_instances WHERE last_seen_ms < $1"
        )
        .bind(before_ms)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected())
        .map_err(RegistryError::from))
    }

    /// PostgreSQL: a dedicated connection (its own one-connection pool, with
    /// `application_name` set to `application_name`, so operators can find it in
    /// `pg_stat_activity`) that `LISTEN`s on [`CHANGES_CHANNEL`]. `Ok(None)` on SQLite.
    pub async fn listen_changes(&self, application_name: &str) -> Result<Option<ChangeListener>> {
        let Db::Postgres(pool) = &*self.db else {
            return Ok(None);
        };
        let schema: String = sqlx::query_scalar("SELECT current_schema()")
            .fetch_one(pool)
            .await?;
        let options = (*pool.connect_options())
            .clone()
            .application_name(application_name);
        let own = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(LISTEN_CONNECT_TIMEOUT)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_lazy_with(options);
        let mut listener = PgListener::connect_with(&own).await?;
        listener.listen(CHANGES_CHANNEL).await?;
        Ok(Some(ChangeListener {
            listener,
            pool: own,
            schema,
        }))
    }
}

/// Receives this schema's change notices (see [`Registry::listen_changes`]).
pub struct ChangeListener {
    listener: PgListener,
    pool: sqlx::PgPool,
    schema: String,
}

impl std::fmt::Debug for ChangeListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeListener")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl ChangeListener {
    /// The next notice for this schema (a config change or a shared health
    /// transition). `Ok(None)`: the connection was lost (notices may have been missed:
    /// reload everything, then make a new listener); an error: the same, and the
    /// connection is gone.
    pub async fn next(&mut self) -> Result<Option<Notice>> {
        loop {
            match self.listener.try_recv().await? {
                None => return Ok(None),
                Some(n) => {
                    if let Some(notice) = parse_any(n.payload(), &self.schema) {
                        return Ok(Some(notice));
                    }
                }
            }
        }
    }

    /// Closes the connection.
    pub async fn close(self) {
        drop(self.listener);
        self.pool.close().await;
    }
}
