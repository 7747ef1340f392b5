//! SQLite-specific behaviour: file creation, permissions, WAL, URL forms.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;

use rook_registry::{AccountRecord, Backend, ConnectOptions, Registry, RegistryError};
use sqlx::Connection;

#[tokio::test]
async fn creates_file_0600_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub").join("rook.db");
    let url = format!("sqlite://{}", path.display());
    let r = Registry::connect(&url, ConnectOptions::default())
        .await
        .unwrap();
    assert_eq!(r.backend(), Backend::Sqlite);
    assert_eq!(r.backend().as_str(), "sqlite");
    r.create_account(&AccountRecord::new("a", "open_ai", "https://x.invalid"))
        .await
        .unwrap();

    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "database file mode {mode:o}");
    let dir_mode = std::fs::metadata(path.parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700, "created directory mode {dir_mode:o}");
    // SQLite gives the WAL and SHM files the database file's permissions.
    for suffix in ["-wal", "-shm"] {
        let side = dir.path().join("sub").join(format!("rook.db{suffix}"));
        if side.exists() {
            let m = std::fs::metadata(&side).unwrap().permissions().mode() & 0o777;
            assert_eq!(m, 0o600, "{suffix} mode {m:o}");
        }
    }

    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode.to_lowercase(), "wal");
    conn.close().await.unwrap();
    r.close().await;
}

#[tokio::test]
async fn create_if_missing_false_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing").join("rook.db");
    let url = format!("sqlite:{}", path.display());
    let opts = ConnectOptions {
        create_if_missing: false,
        ..ConnectOptions::default()
    };
    match Registry::connect(&url, opts.clone()).await {
        Err(RegistryError::DatabaseMissing { location }) => {
            assert!(location.contains("rook.db"), "{location}")
        }
        other => panic!("expected DatabaseMissing, got {other:?}"),
    }
    assert!(!path.exists());
    assert!(!path.parent().unwrap().exists());

    // Once it exists, create_if_missing=false connects.
    Registry::connect(&url, ConnectOptions::default())
        .await
        .unwrap()
        .close()
        .await;
    let r = Registry::connect(&url, opts).await.unwrap();
    assert!(r.migration_status().await.unwrap().current);
    r.close().await;
}

#[tokio::test]
async fn migrate_false_leaves_migrations_pending() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("m.db").display());
    let r = Registry::connect(
        &url,
        ConnectOptions {
            migrate: false,
            ..ConnectOptions::default()
        },
    )
    .await
    .unwrap();
    let status = r.migration_status().await.unwrap();
    assert!(status.applied.is_empty());
    assert_eq!(status.pending, vec![1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert!(!status.current);
    assert_eq!(r.migrate().await.unwrap(), vec![1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert!(r.migration_status().await.unwrap().current);
    r.close().await;
}

#[tokio::test]
async fn data_survives_reconnect_and_url_forms_agree() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    let r = Registry::connect(
        &format!("sqlite://{}", path.display()),
        ConnectOptions::default(),
    )
    .await
    .unwrap();
    r.create_account(&AccountRecord::new("a", "open_ai", "https://x.invalid"))
        .await
        .unwrap();
    r.close().await;
    let r = Registry::connect(
        &format!("sqlite:{}", path.display()),
        ConnectOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(r.get_account("a").await.unwrap().vendor, "open_ai");
    r.close().await;
}

#[tokio::test]
async fn memory_database_works_and_is_shared_by_clones() {
    let r = Registry::connect("sqlite::memory:", ConnectOptions::default())
        .await
        .unwrap();
    let r2 = r.clone();
    r.create_account(&AccountRecord::new("a", "open_ai", "https://x.invalid"))
        .await
        .unwrap();
    assert_eq!(r2.list_accounts().await.unwrap().len(), 1);
    // A second in-memory registry is a different database.
    let other = Registry::connect("sqlite::memory:", ConnectOptions::default())
        .await
        .unwrap();
    assert!(other.list_accounts().await.unwrap().is_empty());
}

#[tokio::test]
async fn unsupported_scheme_is_invalid() {
    match Registry::connect("mysql://u:pw@localhost/db", ConnectOptions::default()).await {
        Err(RegistryError::Invalid { message }) => {
            assert!(message.contains("mysql"));
            assert!(!message.contains("pw"));
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[tokio::test]
async fn unwritable_location_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    // A path below a regular file cannot be created.
    let url = format!("sqlite://{}/rook.db", blocker.display());
    let err = Registry::connect(&url, ConnectOptions::default())
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
}

#[test]
fn registry_is_clone_send_sync() {
    fn check<T: Clone + Send + Sync + 'static>() {}
    check::<Registry>();
}

#[test]
fn account_debug_and_serde_hide_the_key() {
    let mut a = AccountRecord::new("a", "open_ai", "https://x.invalid");
    a.api_key = Some("sk-very-secret".into());
    assert!(a.has_api_key());
    let dbg = format!("{a:?}");
    assert!(!dbg.contains("sk-very-secret"), "{dbg}");
    assert!(dbg.contains("redacted"));
    let json = serde_json::to_string(&a).unwrap();
    assert!(!json.contains("sk-very-secret"), "{json}");
    // Deserializing accepts a key (write-only).
    let back: AccountRecord = serde_json::from_str(
        r#"{"id":"b","vendor":"v","base_url":"u","api_key":"k","source":"api"}"#,
    )
    .unwrap();
    assert_eq!(back.api_key.as_deref(), Some("k"));
    assert!(back.enabled);
    assert_eq!(back.weight, 1);
}

#[tokio::test]
async fn edited_migration_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("c.db").display());
    Registry::connect(&url, ConnectOptions::default())
        .await
        .unwrap()
        .close()
        .await;
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("UPDATE rook_schema_migrations SET checksum = 'changed' WHERE version = 1")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let err = Registry::connect(&url, ConnectOptions::default())
        .await
        .unwrap_err();
    match err {
        RegistryError::Migration { message } => assert!(message.contains("changed"), "{message}"),
        other => panic!("expected Migration, got {other:?}"),
    }
}

#[tokio::test]
async fn backup_is_a_consistent_private_copy() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("rook.db").display());
    let r = Registry::connect(&url, ConnectOptions::default())
        .await
        .unwrap();
    r.create_account(&AccountRecord::new("a", "open_ai", "https://x.invalid"))
        .await
        .unwrap();
    let target = dir.path().join("backup.db");
    r.backup_to(&target).await.unwrap();
    let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let copy = Registry::connect(
        &format!("sqlite://{}", target.display()),
        ConnectOptions {
            create_if_missing: false,
            ..ConnectOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(copy.list_accounts().await.unwrap()[0].id, "a");
    // Never overwrites.
    assert!(matches!(
        r.backup_to(&target).await,
        Err(RegistryError::AlreadyExists { .. })
    ));
}

/// The nice value of each of this process's threads whose name starts with `prefix`.
fn thread_nice(prefix: &str) -> Vec<i64> {
    let mut out = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap();
        out.push(stat_nice(&stat));
    }
    out
}

/// The nice value (field 19) from the text of a `/proc/…/stat` file.
fn stat_nice(stat: &str) -> i64 {
    // Fields after the parenthesised name start with field 3.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    rest.split(' ').nth(16).unwrap().parse().unwrap()
}

#[tokio::test]
async fn background_writes_run_on_a_lowest_priority_thread() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("rook.db").display());
    let r = Registry::connect(&url, ConnectOptions::default())
        .await
        .unwrap();
    assert!(r.has_background_writer());
    // The connection is opened on first use.
    assert!(thread_nice("rook-db-bg-").is_empty());
    let event = rook_registry::UsageEvent {
        id: None,
        request_id: "req-1".into(),
        ts_ms: 1,
        principal_hash: None,
        model: "m".into(),
        vendor: None,
        account_id: None,
        upstream_model: None,
        stream: false,
        attempts: 1,
        outcome: "success".into(),
        status_code: 200,
        latency_ms: 1,
        ttfb_ms: None,
        prompt_tokens: None,
        completion_tokens: None,
        total_tokens: None,
        cost_usd: None,
        error_class: None,
        endpoint: "messages".into(),
        key_id: Some("ci".into()),
        event_key: None,
    };
    r.insert_usage_events_background(std::slice::from_ref(&event))
        .await
        .unwrap();
    assert_eq!(thread_nice("rook-db-bg-"), vec![19]);
    // The normal pool's threads keep the priority of the thread that created them
    // (the test's, which may itself run under `nice`).
    let own = stat_nice(&std::fs::read_to_string("/proc/thread-self/stat").unwrap());
    assert!(own < 19, "the test itself runs at nice {own}");
    let normal = thread_nice("sqlx-sqlite-wor");
    assert!(!normal.is_empty());
    assert!(
        normal.iter().all(|n| *n == own),
        "normal threads: {normal:?}"
    );
    assert_eq!(r.usage_events(None, None).await.unwrap().len(), 1);
    r.close().await;
}

#[tokio::test]
async fn in_memory_registry_has_no_background_writer() {
    let r = Registry::connect("sqlite::memory:", ConnectOptions::default())
        .await
        .unwrap();
    assert!(!r.has_background_writer());
    r.insert_usage_events_background(&[]).await.unwrap();
}

#[tokio::test]
async fn upgrade_from_version_1_keeps_behaviour() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("v1.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&format!("{url}?mode=rwc"))
        .await
        .unwrap();
    let sql = common::v1_database_sql(include_str!("../migrations/sqlite/0001_init.sql"));
    sqlx::raw_sql(&sql).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    let r = Registry::connect(&url, ConnectOptions::default())
        .await
        .unwrap();
    common::assert_upgraded_from_v1(&r).await;
    r.close().await;
}

#[tokio::test]
async fn a_removed_or_replaced_file_refuses_writes() {
    use rook_registry::DbIdentity;
    let db = common::sqlite().await;
    let r = &db.registry;
    let path = db.dir.as_ref().unwrap().path().join("rook.db");
    assert_eq!(r.check_identity(), DbIdentity::Ok);
    r.create_account(&AccountRecord::new("a", "custom", "http://127.0.0.1:9/v1"))
        .await
        .unwrap();

    // Removed: moved away.
    let aside = path.with_extension("aside");
    std::fs::rename(&path, &aside).unwrap();
    assert_eq!(r.check_identity(), DbIdentity::Removed);
    let err = r
        .create_account(&AccountRecord::new("b", "custom", "http://127.0.0.1:9/v1"))
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert!(err.to_string().contains("was removed"), "{err}");
    let problem = r.identity_problem().unwrap();
    assert!(problem.contains("was removed"), "{problem}");
    assert!(!problem.contains(&*path.display().to_string()), "{problem}");
    // Every kind of write is refused.
    assert!(
        r.insert_usage_events(&[]).await.is_ok(),
        "an empty batch writes nothing"
    );
    assert!(r.prune_idempotency(0).await.unwrap_err().is_unavailable());
    // A read answers from the moved file on a connection the pool still holds, or is
    // unavailable when the pool opens a new one (the path no longer has the file):
    // never an answer from another or an empty database.
    match r.list_accounts().await {
        Ok(accounts) => assert_eq!(accounts.len(), 1),
        Err(e) => assert!(e.is_unavailable(), "{e:?}"),
    }

    // Replaced: another file at the path.
    std::fs::write(&path, b"").unwrap();
    assert_eq!(r.check_identity(), DbIdentity::Replaced);
    assert!(r.delete_account("a").await.unwrap_err().is_unavailable());

    // The original back in place: writes resume.
    std::fs::rename(&aside, &path).unwrap();
    assert_eq!(r.check_identity(), DbIdentity::Ok);
    r.create_account(&AccountRecord::new("b", "custom", "http://127.0.0.1:9/v1"))
        .await
        .unwrap();
    db.cleanup().await;
}

#[tokio::test]
async fn memory_databases_have_no_file_identity() {
    let r = Registry::connect("sqlite::memory:", ConnectOptions::default())
        .await
        .unwrap();
    assert_eq!(r.check_identity(), rook_registry::DbIdentity::Ok);
    assert_eq!(r.identity_problem(), None);
}

/// The lease statement works on SQLite too (one instance never needs it, but the
/// schema and API are the same on both backends).
#[tokio::test]
async fn lease_statement_on_sqlite() {
    let db = common::sqlite().await;
    let r = &db.registry;
    assert_eq!(r.lease_limit("k", 0, 5, 2, 1, 1).await.unwrap(), 2);
    assert_eq!(r.lease_limit("k", 0, 5, 2, 0, 1).await.unwrap(), 2);
    assert_eq!(r.lease_limit("k", 0, 5, 2, 0, 1).await.unwrap(), 0);
    assert_eq!(r.lease_limit("k", 60_000, 5, 2, 0, 1).await.unwrap(), 2);
    assert_eq!(r.prune_limit_leases(60_000).await.unwrap(), 1);
    db.cleanup().await;
}

/// The budget lease statement works on SQLite too (same schema and API).
#[tokio::test]
async fn budget_lease_statement_on_sqlite() {
    let db = common::sqlite().await;
    let r = &db.registry;
    r.insert_usage_events(&[rook_registry::UsageEvent {
        request_id: "r1".into(),
        ts_ms: 10,
        model: "m".into(),
        outcome: "success".into(),
        status_code: 200,
        cost_usd: Some(0.95),
        key_id: Some("k".into()),
        ..rook_registry::UsageEvent::default()
    }])
    .await
    .unwrap();
    let g = r.lease_budget("k", 0, 1.0, 0.1, 1).await.unwrap();
    assert!((g - 0.05).abs() < 1e-9, "{g}");
    assert_eq!(r.lease_budget("k", 0, 1.0, 0.1, 1).await.unwrap(), 0.0);
    let g = r.lease_budget("k", 20, 1.0, 0.1, 1).await.unwrap();
    assert!(
        (g - 0.1).abs() < 1e-9,
        "a later period start counts no prior spend: {g}"
    );
    assert_eq!(r.prune_budget_leases(2).await.unwrap(), 2);
    db.cleanup().await;
}
