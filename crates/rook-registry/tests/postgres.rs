//! PostgreSQL-specific behaviour: schemas, unreachable servers, several instances.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use rook_registry::{Backend, ConnectOptions, IdempotencyBegin, Registry, RegistryError};

#[tokio::test]
async fn unreachable_server_is_unavailable_without_password() {
    // Nothing listens on port 1; this needs no running Postgres.
    let url = "postgres://rook:hunter2-secret@127.0.0.1:1/rook";
    let err = Registry::connect(url, ConnectOptions::default())
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    let text = format!("{err} {err:?}");
    assert!(!text.contains("hunter2"), "{text}");
}

#[tokio::test]
async fn bad_schema_name_is_invalid() {
    let err = Registry::connect(
        "postgres://127.0.0.1:1/x",
        ConnectOptions {
            schema: Some("Bad;Name".into()),
            ..ConnectOptions::default()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, RegistryError::Invalid { .. }), "{err:?}");
}

#[tokio::test]
async fn missing_schema_without_create_is_database_missing() {
    let Some(url) = common::pg_url() else { return };
    let schema = common::random_schema();
    let err = Registry::connect(
        &url,
        ConnectOptions {
            schema: Some(schema.clone()),
            create_if_missing: false,
            ..ConnectOptions::default()
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, RegistryError::DatabaseMissing { .. }),
        "{err:?}"
    );
    // Nothing was created.
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_namespace WHERE nspname = $1")
        .bind(&schema)
        .fetch_optional(&mut conn)
        .await
        .unwrap();
    assert!(found.is_none());
    conn.close().await.unwrap();
}

#[tokio::test]
async fn missing_database_is_database_missing() {
    let Some(url) = common::pg_url() else { return };
    let base = url.rsplit_once('/').map(|(b, _)| b).unwrap();
    let url = format!("{base}/rook_no_such_db_{}", common::random_suffix());
    let err = Registry::connect(&url, ConnectOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::DatabaseMissing { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn instances_share_a_schema() {
    let Some(url) = common::pg_url() else { return };
    let schema = common::random_schema();
    let opts = ConnectOptions {
        schema: Some(schema.clone()),
        max_connections: 2,
        migrate: false,
        ..ConnectOptions::default()
    };
    let first = Registry::connect(&url, opts.clone()).await.unwrap();
    assert_eq!(first.backend(), Backend::Postgres);
    assert_eq!(
        first.migration_status().await.unwrap().pending,
        vec![1, 2, 3, 4, 5]
    );

    // Several instances migrating at once: the advisory lock serialises them.
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let url = url.clone();
        let opts = ConnectOptions {
            migrate: true,
            ..opts.clone()
        };
        tasks.push(tokio::spawn(
            async move { Registry::connect(&url, opts).await },
        ));
    }
    let mut instances = Vec::new();
    for t in tasks {
        instances.push(t.await.unwrap().unwrap());
    }
    assert!(first.migration_status().await.unwrap().current);

    // An idempotency key claimed by one instance is seen by the others.
    assert_eq!(
        instances[0]
            .idempotency_begin("p", "k", "h", 1, 1_000)
            .await
            .unwrap(),
        IdempotencyBegin::Started
    );
    for other in &instances[1..] {
        assert_eq!(
            other
                .idempotency_begin("p", "k", "h", 2, 1_000)
                .await
                .unwrap(),
            IdempotencyBegin::InProgress
        );
    }
    for r in instances {
        r.close().await;
    }
    first.close().await;
    common::drop_schema(&url, &schema).await;
}

#[tokio::test]
async fn upgrade_from_version_1_keeps_behaviour() {
    use sqlx::Connection;
    let Some(url) = common::pg_url() else { return };
    let schema = common::random_schema();
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let sql = common::v1_database_sql(include_str!("../migrations/postgres/0001_init.sql"));
    sqlx::raw_sql(&format!(
        "CREATE SCHEMA \"{schema}\"; SET search_path TO \"{schema}\";\n{sql}"
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    let r = Registry::connect(
        &url,
        ConnectOptions {
            schema: Some(schema.clone()),
            max_connections: 2,
            ..ConnectOptions::default()
        },
    )
    .await
    .unwrap();
    common::assert_upgraded_from_v1(&r).await;
    r.close().await;
    common::drop_schema(&url, &schema).await;
}
