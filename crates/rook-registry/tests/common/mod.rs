//! Test harness: a fresh SQLite file or a fresh Postgres schema per test.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use rook_registry::{ConnectOptions, Registry};

/// Env var holding the Postgres URL for tests.
pub(crate) const PG_ENV: &str = "ROOK_TEST_POSTGRES_URL";

pub(crate) struct TestDb {
    pub registry: Registry,
    pub dir: Option<tempfile::TempDir>,
    pub schema: Option<String>,
    pub pg_url: Option<String>,
}

impl TestDb {
    /// Closes the pool and drops the Postgres schema.
    pub(crate) async fn cleanup(self) {
        self.registry.close().await;
        if let (Some(url), Some(schema)) = (&self.pg_url, &self.schema) {
            drop_schema(url, schema).await;
        }
    }
}

pub(crate) fn random_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    format!("{:016x}", h.finish())
}

pub(crate) fn random_schema() -> String {
    format!("rook_test_{}", random_suffix())
}

pub(crate) async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("rook.db").display());
    let registry = Registry::connect(&url, ConnectOptions::default())
        .await
        .unwrap();
    TestDb {
        registry,
        dir: Some(dir),
        schema: None,
        pg_url: None,
    }
}

/// The Postgres URL, or `None` after printing why the test is skipped. Panics in CI
/// (env `CI` set) so that Postgres tests are never skipped silently there.
pub(crate) fn pg_url() -> Option<String> {
    match std::env::var(PG_ENV) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var_os("CI").is_some() {
                panic!("{PG_ENV} is not set but CI is: the PostgreSQL tests must run in CI");
            }
            eprintln!("skipped: {PG_ENV} not set");
            None
        }
    }
}

pub(crate) async fn postgres() -> Option<TestDb> {
    let url = pg_url()?;
    let schema = random_schema();
    let registry = Registry::connect(
        &url,
        ConnectOptions {
            schema: Some(schema.clone()),
            max_connections: 4,
            ..ConnectOptions::default()
        },
    )
    .await
    .unwrap();
    Some(TestDb {
        registry,
        dir: None,
        schema: Some(schema),
        pg_url: Some(url),
    })
}

pub(crate) async fn drop_schema(url: &str, schema: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::raw_sql(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}

/// Generates one test per backend for each listed `async fn NAME(&Registry)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::common::sqlite().await;
                    super::$name(&db.registry).await;
                    db.cleanup().await;
                }
            )*
        }
        mod postgres_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = $crate::common::postgres().await else { return };
                    super::$name(&db.registry).await;
                    db.cleanup().await;
                }
            )*
        }
    };
}

/// FNV-1a 64 of a migration's SQL, hex: the checksum the runner records.
pub(crate) fn checksum(sql: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in sql.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// SQL that makes an empty database (or schema) a version-1 registry with rows written
/// by that version, given the backend's `0001_init.sql`.
pub(crate) fn v1_database_sql(init_sql: &str) -> String {
    format!(
        "{init_sql}\n\
         CREATE TABLE rook_schema_migrations (version BIGINT NOT NULL PRIMARY KEY, \
         description TEXT NOT NULL, checksum TEXT NOT NULL, applied_at_ms BIGINT NOT NULL);\n\
         INSERT INTO rook_schema_migrations VALUES (1, 'init', '{}', 0);\n\
         INSERT INTO accounts (id, vendor, base_url, source, created_at_ms, updated_at_ms) VALUES \
         ('a', 'anthropic', 'https://api.anthropic.com/v1', 'api', 1, 1), \
         ('g', 'google', 'https://generativelanguage.googleapis.com/v1beta/openai', 'api', 1, 1), \
         ('c', 'custom', 'http://127.0.0.1:9/v1', 'api', 1, 1), \
         ('o', 'open_ai', 'https://api.openai.com/v1', 'config', 1, 1);\n\
         INSERT INTO usage_events (request_id, ts_ms, model, stream, attempts, outcome, \
         status_code, latency_ms) VALUES ('r1', 5, 'm', FALSE, 1, 'success', 200, 10);\n",
        checksum(init_sql)
    )
}

/// Checks a registry upgraded from [`v1_database_sql`]: every existing account speaks
/// `openai` (as before), custom servers are not asked for stream usage (as before), and
/// existing usage events are `chat`.
pub(crate) async fn assert_upgraded_from_v1(r: &Registry) {
    assert_eq!(
        r.migration_status().await.unwrap().applied,
        vec![1, 2, 3, 4, 5, 6, 7, 8, 9]
    );
    let accounts = r.list_accounts().await.unwrap();
    type Row<'a> = (&'a str, &'a str, bool, Option<&'a str>, Option<u32>);
    let got: Vec<Row<'_>> = accounts
        .iter()
        .map(|a| {
            (
                a.id.as_str(),
                a.protocol.as_str(),
                a.stream_usage,
                a.anthropic_version.as_deref(),
                a.default_max_tokens,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("a", "openai", true, None, None),
            ("c", "openai", false, None, None),
            ("g", "openai", true, None, None),
            ("o", "openai", true, None, None),
        ]
    );
    let events = r.usage_events(None, None).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].endpoint, "chat");
}

/// Like [`both_backends!`], for tests that take the whole `&TestDb` (raw SQL access).
#[macro_export]
macro_rules! both_backends_db {
    ($($name:ident),* $(,)?) => {
        mod sqlite_backend_db {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::common::sqlite().await;
                    super::$name(&db).await;
                    db.cleanup().await;
                }
            )*
        }
        mod postgres_backend_db {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = $crate::common::postgres().await else { return };
                    super::$name(&db).await;
                    db.cleanup().await;
                }
            )*
        }
    };
}

impl TestDb {
    /// Writes `api_key` as earlier versions of Rook did: plaintext, straight into the
    /// column, bypassing the registry's refusal.
    pub(crate) async fn write_legacy_api_key(&self, id: &str, key: &str) {
        use sqlx::Connection;
        let sql = "UPDATE accounts SET api_key = $1 WHERE id = $2";
        if let (Some(url), Some(schema)) = (&self.pg_url, &self.schema) {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::raw_sql(&format!("SET search_path TO \"{schema}\""))
                .execute(&mut conn)
                .await
                .unwrap();
            sqlx::query(sql)
                .bind(key)
                .bind(id)
                .execute(&mut conn)
                .await
                .unwrap();
            conn.close().await.unwrap();
        } else {
            let path = self.dir.as_ref().unwrap().path().join("rook.db");
            let url = format!("sqlite://{}", path.display());
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query(sql)
                .bind(key)
                .bind(id)
                .execute(&mut conn)
                .await
                .unwrap();
            conn.close().await.unwrap();
        }
    }
}
