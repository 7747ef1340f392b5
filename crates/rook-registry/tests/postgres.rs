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
        vec![1, 2, 3, 4, 5, 6, 7, 8, 9]
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

/// Three instances (pools) leasing slices of one limit at once: the statement is
/// atomic, so the grants add up to the limit exactly, credit charges always count, and
/// each statement reports its own grant.
#[tokio::test]
async fn leases_under_concurrency_never_grant_more_than_the_limit() {
    let Some(db) = common::postgres().await else {
        return;
    };
    let url = db.pg_url.clone().unwrap();
    let opts = ConnectOptions {
        schema: db.schema.clone(),
        max_connections: 4,
        ..ConnectOptions::default()
    };
    let mut instances = vec![db.registry.clone()];
    for _ in 0..2 {
        instances.push(Registry::connect(&url, opts.clone()).await.unwrap());
    }
    let mut tasks = Vec::new();
    for i in 0..90u64 {
        let r = instances[(i % 3) as usize].clone();
        tasks.push(tokio::spawn(async move {
            // every tenth lease also charges one unit taken on credit
            let charge = u64::from(i % 10 == 0);
            let g = r
                .lease_limit("route:gpt", 60_000, 100, 3, charge, 1)
                .await
                .unwrap();
            (g, charge)
        }));
    }
    let (mut granted, mut charged) = (0, 0);
    for t in tasks {
        let (g, c) = t.await.unwrap();
        assert!(g <= 3);
        granted += g;
        charged += c;
    }
    assert_eq!(charged, 9);
    // 90 leases of 3 want 270: the limit of 100 is reached exactly by the grants
    // and the charges that came before it; charges after it are the overshoot
    assert!(granted <= 100, "granted {granted}");
    assert!(
        (100..=100 + charged).contains(&(granted + charged)),
        "granted {granted}"
    );
    assert!(granted >= 100 - charged, "granted {granted}");
    // later leases get nothing, but a charge still counts
    assert_eq!(
        instances[1]
            .lease_limit("route:gpt", 60_000, 100, 3, 1, 2)
            .await
            .unwrap(),
        0
    );
    // another window or key is independent
    assert_eq!(
        instances[2]
            .lease_limit("route:gpt", 120_000, 100, 3, 0, 2)
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        instances[2]
            .lease_limit("key:k1", 60_000, 2, 3, 0, 2)
            .await
            .unwrap(),
        2
    );
    assert_eq!(instances[0].prune_limit_leases(120_000).await.unwrap(), 2);
    for r in instances.drain(1..) {
        r.close().await;
    }
    db.cleanup().await;
}

fn spend(key: &str, ts_ms: i64, usd: f64) -> rook_registry::UsageEvent {
    rook_registry::UsageEvent {
        request_id: format!("r-{key}-{ts_ms}-{usd}"),
        ts_ms,
        model: "m".into(),
        outcome: "success".into(),
        status_code: 200,
        cost_usd: Some(usd),
        key_id: Some(key.into()),
        ..rook_registry::UsageEvent::default()
    }
}

/// Budget slices: the first grant of a period counts the spend the usage events
/// already hold; grants stop at the budget; a raised budget grants again, a cut one
/// does not; periods and keys are independent.
#[tokio::test]
async fn budget_leases_count_prior_spend_and_stop_at_the_budget() {
    let Some(db) = common::postgres().await else {
        return;
    };
    let r = &db.registry;
    let day = 86_400_000;
    // $0.93 spent in this period before leasing, $5 the day before, $1 by another key
    r.insert_usage_events(&[
        spend("k", day + 10, 0.5),
        spend("k", day + 20, 0.43),
        spend("k", day - 1, 5.0),
        spend("other", day + 10, 1.0),
    ])
    .await
    .unwrap();
    let grant = |budget: f64, start: i64| r.lease_budget("k", start, budget, budget / 10.0, 7);
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    assert!(close(grant(1.0, day).await.unwrap(), 0.07), "what is left");
    assert_eq!(grant(1.0, day).await.unwrap(), 0.0, "granted out");
    // usage recorded after the first grant is not counted again
    r.insert_usage_events(&[spend("k", day + 30, 0.07)])
        .await
        .unwrap();
    assert_eq!(grant(1.0, day).await.unwrap(), 0.0);
    // a raise grants again, a slice at a time (of the new budget)
    assert!(close(grant(2.0, day).await.unwrap(), 0.2));
    // a cut below the $1.20 granted: nothing more; above it, what is left
    assert_eq!(grant(1.1, day).await.unwrap(), 0.0);
    assert!(close(grant(1.25, day).await.unwrap(), 0.05));
    // the next period starts from its own (empty) usage; another key from its own
    assert!(close(grant(1.0, 2 * day).await.unwrap(), 0.1));
    assert!(close(
        r.lease_budget("other", day, 1.5, 0.15, 7).await.unwrap(),
        0.15
    ));
    // a budget of zero is never granted anything
    assert_eq!(r.lease_budget("z", day, 0.0, 0.0, 7).await.unwrap(), 0.0);
    assert!(r.lease_budget("z", day, f64::NAN, 0.0, 7).await.is_err());
    assert_eq!(r.prune_budget_leases(8).await.unwrap(), 4);
    db.cleanup().await;
}

/// Three instances (pools) leasing slices of one budget at once, the first grants
/// racing each other: together they are never granted more than the budget, and
/// exactly what is left of it after the prior spend.
#[tokio::test]
async fn budget_leases_under_concurrency_never_grant_more_than_the_budget() {
    let Some(db) = common::postgres().await else {
        return;
    };
    let url = db.pg_url.clone().unwrap();
    let opts = ConnectOptions {
        schema: db.schema.clone(),
        max_connections: 4,
        ..ConnectOptions::default()
    };
    db.registry
        .insert_usage_events(&[spend("k", 100, 0.25)])
        .await
        .unwrap();
    let mut instances = vec![db.registry.clone()];
    for _ in 0..2 {
        instances.push(Registry::connect(&url, opts.clone()).await.unwrap());
    }
    let mut tasks = Vec::new();
    for i in 0..60usize {
        let r = instances[i % 3].clone();
        tasks.push(tokio::spawn(async move {
            r.lease_budget("k", 0, 1.0, 0.1, 1).await.unwrap()
        }));
    }
    let mut granted = 0.0;
    for t in tasks {
        let g = t.await.unwrap();
        assert!((0.0..=0.1 + 1e-12).contains(&g), "{g}");
        granted += g;
    }
    assert!((granted - 0.75).abs() < 1e-9, "granted {granted}");
    for r in instances.drain(1..) {
        r.close().await;
    }
    db.cleanup().await;
}
