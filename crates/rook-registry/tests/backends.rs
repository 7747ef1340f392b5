//! Every registry API, run once on SQLite and once on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use rook_registry::{
    AccountRecord, AuditEvent, Backend, HealthRecord, HealthStatus, IdempotencyBegin, PoolRecord,
    Registry, RegistryError, RouteRecord, Source, StoredResponse, UsageEvent,
};

both_backends!(
    migrations_are_current,
    sync_adds_updates_removes,
    sync_failure_changes_nothing,
    sync_takes_over_api_rows,
    account_crud_and_errors,
    account_protocol_fields,
    pool_crud_and_references,
    route_crud_and_references,
    health_round_trip,
    usage_round_trip,
    usage_background_writes,
    usage_event_keys_are_written_once,
    usage_timeseries_sums_in_sql,
    idempotency_flow,
    idempotency_concurrent_begin,
    audit_round_trip,
    keys_are_sealed_and_plaintext_refused,
    client_key_lifecycle,
    client_key_usage_and_sync,
);

both_backends_db!(
    legacy_keys_are_sealed_in_one_transaction,
    rotation_reseals_every_key_or_none,
);

fn sealer(byte: u8) -> rook_registry::seal::Sealer {
    rook_registry::seal::Sealer::new(&rook_config::MasterKey::from_bytes([byte; 32])).unwrap()
}

/// The plaintext behind a stored value.
fn opened(r: &Registry, id: &str, stored: &str) -> String {
    r.open_api_key(id, stored)
        .unwrap()
        .into_secret()
        .expose()
        .to_string()
}

fn account(id: &str) -> AccountRecord {
    let mut a = AccountRecord::new(id, "open_ai", "https://api.example.invalid/v1");
    a.api_key_env = Some(format!("KEY_{}", id.to_uppercase().replace('-', "_")));
    a
}

fn pool(id: &str, members: &[&str]) -> PoolRecord {
    PoolRecord::new(
        id,
        "round_robin",
        members.iter().map(|m| m.to_string()).collect(),
    )
}

fn route(model: &str, pool: &str) -> RouteRecord {
    RouteRecord::new(model, pool)
}

fn assert_reference<T: std::fmt::Debug>(r: Result<T, RegistryError>, needle: &str) {
    match r {
        Err(RegistryError::Reference { message }) => {
            assert!(
                message.contains(needle),
                "message {message:?} lacks {needle:?}"
            )
        }
        other => panic!("expected Reference error containing {needle:?}, got {other:?}"),
    }
}

async fn snapshot(r: &Registry) -> (Vec<AccountRecord>, Vec<PoolRecord>, Vec<RouteRecord>) {
    (
        r.list_accounts().await.unwrap(),
        r.list_pools().await.unwrap(),
        r.list_routes().await.unwrap(),
    )
}

async fn migrations_are_current(r: &Registry) {
    r.ping().await.unwrap();
    let status = r.migration_status().await.unwrap();
    assert_eq!(status.applied, vec![1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert!(status.pending.is_empty());
    assert!(status.current);
    // Applying again is a no-op.
    assert!(r.migrate().await.unwrap().is_empty());
    assert!(matches!(r.backend(), Backend::Sqlite | Backend::Postgres));
}

async fn sync_adds_updates_removes(r: &Registry) {
    let mut a = account("a");
    a.models = BTreeMap::from([("gpt-4o".to_string(), "gpt-4o-2024".to_string())]);
    let b = account("b");
    let p = pool("p", &["a", "b"]);
    let q = PoolRecord {
        fallback_pool: Some("p".into()),
        ..pool("q", &["b"])
    };
    let rt = RouteRecord {
        fallback_route: Some("m2".into()),
        ..route("m1", "p")
    };
    let rt2 = route("m2", "q");
    let rep = r
        .sync_declared(
            &[a.clone(), b.clone()],
            &[p.clone(), q.clone()],
            &[rt.clone(), rt2.clone()],
        )
        .await
        .unwrap();
    assert_eq!((rep.added, rep.updated, rep.removed), (6, 0, 0));

    let got = r.get_account("a").await.unwrap();
    assert_eq!(got.source, Source::Config);
    assert_eq!(got.models, a.models);
    assert_eq!(got.api_key_env.as_deref(), Some("KEY_A"));
    assert_eq!(r.get_pool("p").await.unwrap().members, vec!["a", "b"]);
    assert_eq!(
        r.get_pool("q").await.unwrap().fallback_pool.as_deref(),
        Some("p")
    );
    assert_eq!(
        r.get_route("m1").await.unwrap().fallback_route.as_deref(),
        Some("m2")
    );

    // Same input: nothing changes.
    let rep = r
        .sync_declared(
            &[a.clone(), b.clone()],
            &[p.clone(), q.clone()],
            &[rt.clone(), rt2.clone()],
        )
        .await
        .unwrap();
    assert_eq!((rep.added, rep.updated, rep.removed), (0, 0, 0));

    // An api route on a config pool survives syncs.
    r.create_route(&route("api-model", "p")).await.unwrap();

    // Update a, reorder p's members, drop b / q / m2, add c.
    let mut a2 = a.clone();
    a2.weight = 5;
    a2.enabled = false;
    let c = account("c");
    let p2 = pool("p", &["c", "a"]);
    let rt_new = route("m1", "p");
    let rep = r.sync_declared(&[a2, c], &[p2], &[rt_new]).await.unwrap();
    // added: c; updated: a, p, m1; removed: m2, q, b.
    assert_eq!((rep.added, rep.updated, rep.removed), (1, 3, 3));

    let (accounts, pools, routes) = snapshot(r).await;
    let ids: Vec<_> = accounts.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, vec!["a", "c"]);
    assert_eq!(accounts[0].weight, 5);
    assert!(!accounts[0].enabled);
    assert_eq!(pools.len(), 1);
    assert_eq!(pools[0].members, vec!["c", "a"]);
    let models: Vec<_> = routes
        .iter()
        .map(|r| (r.model.as_str(), r.source))
        .collect();
    assert_eq!(
        models,
        vec![("api-model", Source::Api), ("m1", Source::Config)]
    );

    // Removing everything declared fails while the api route still uses pool p.
    assert_reference(
        r.sync_declared(&[], &[], &[]).await,
        "still used by route(s) 'api-model'",
    );
    r.delete_route("api-model").await.unwrap();
    let rep = r.sync_declared(&[], &[], &[]).await.unwrap();
    assert_eq!((rep.added, rep.updated, rep.removed), (0, 0, 4));
    let (accounts, pools, routes) = snapshot(r).await;
    assert!(accounts.is_empty() && pools.is_empty() && routes.is_empty());
}

async fn sync_failure_changes_nothing(r: &Registry) {
    r.sync_declared(
        &[account("a"), account("b")],
        &[pool("p", &["a"])],
        &[route("m", "p")],
    )
    .await
    .unwrap();
    // An api pool that uses config account b.
    r.create_pool(&pool("api-pool", &["b"])).await.unwrap();
    let before = snapshot(r).await;

    // Removing b from the config would break api-pool; c would be added first but must not stay.
    let res = r
        .sync_declared(
            &[account("a"), account("c")],
            &[pool("p", &["a", "c"])],
            &[route("m", "p")],
        )
        .await;
    assert_reference(res, "'api-pool'");
    assert_eq!(snapshot(r).await, before);

    // A route pointing to an undeclared pool.
    let res = r
        .sync_declared(
            &[account("a"), account("b"), account("d")],
            &[pool("p", &["a"])],
            &[route("m", "p"), route("m2", "nope")],
        )
        .await;
    assert_reference(res, "'nope'");
    assert_eq!(snapshot(r).await, before);

    // A pool member that is not an account.
    let res = r
        .sync_declared(
            &[account("a"), account("b")],
            &[pool("p", &["a", "ghost"])],
            &[],
        )
        .await;
    assert_reference(res, "'ghost'");
    assert_eq!(snapshot(r).await, before);

    // A fallback to a missing pool.
    let bad = PoolRecord {
        fallback_pool: Some("missing".into()),
        ..pool("p", &["a"])
    };
    let res = r
        .sync_declared(&[account("a"), account("b")], &[bad], &[route("m", "p")])
        .await;
    assert_reference(res, "'missing'");
    assert_eq!(snapshot(r).await, before);

    // Duplicate declarations are invalid input.
    let res = r
        .sync_declared(&[account("a"), account("a")], &[], &[])
        .await;
    assert!(matches!(res, Err(RegistryError::Invalid { .. })), "{res:?}");
    assert_eq!(snapshot(r).await, before);
}

async fn sync_takes_over_api_rows(r: &Registry) {
    let r = &r.clone().with_sealer(Some(sealer(1)));
    let mut api_acc = account("x");
    api_acc.api_key = Some(r.seal_api_key("x", "sk-inline").unwrap());
    r.create_account(&api_acc).await.unwrap();
    r.create_account(&account("keep")).await.unwrap();
    let rep = r.sync_declared(&[account("x")], &[], &[]).await.unwrap();
    assert_eq!((rep.added, rep.updated, rep.removed), (0, 1, 0));
    let x = r.get_account("x").await.unwrap();
    assert_eq!(x.source, Source::Config);
    assert_eq!(x.api_key, None, "config takes over the whole row");
    assert_eq!(r.get_account("keep").await.unwrap().source, Source::Api);
    // Now read-only.
    assert!(matches!(
        r.delete_account("x").await,
        Err(RegistryError::ReadOnly { .. })
    ));
    // Dropping it from the config removes it; the api row stays.
    let rep = r.sync_declared(&[], &[], &[]).await.unwrap();
    assert_eq!(rep.removed, 1);
    let ids: Vec<_> = r
        .list_accounts()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(ids, vec!["keep"]);
}

async fn account_crud_and_errors(r: &Registry) {
    let r = &r.clone().with_sealer(Some(sealer(1)));
    let mut a = account("acc");
    a.api_key = Some(r.seal_api_key("acc", "sk-secret").unwrap());
    a.priority = 3;
    a.models.insert("m".into(), "upstream-m".into());
    let created = r.create_account(&a).await.unwrap();
    assert_eq!(created.source, Source::Api);
    assert_eq!(
        opened(r, "acc", created.api_key.as_deref().unwrap()),
        "sk-secret"
    );
    assert_eq!(created, a);
    assert!(!format!("{created:?}").contains("sk-secret"));

    assert!(matches!(
        r.create_account(&a).await,
        Err(RegistryError::AlreadyExists {
            entity: "account",
            ..
        })
    ));
    assert!(matches!(
        r.get_account("nope").await,
        Err(RegistryError::NotFound {
            entity: "account",
            ..
        })
    ));
    assert!(matches!(
        r.update_account(&account("nope")).await,
        Err(RegistryError::NotFound { .. })
    ));
    assert!(matches!(
        r.delete_account("nope").await,
        Err(RegistryError::NotFound { .. })
    ));
    assert!(matches!(
        r.set_account_api_key("nope", None).await,
        Err(RegistryError::NotFound { .. })
    ));
    let mut empty = account("x");
    empty.vendor = String::new();
    assert!(matches!(
        r.create_account(&empty).await,
        Err(RegistryError::Invalid { .. })
    ));

    // Update leaves the key alone.
    let mut upd = a.clone();
    upd.api_key = None;
    upd.base_url = "https://other.example.invalid".into();
    upd.enabled = false;
    let got = r.update_account(&upd).await.unwrap();
    assert_eq!(got.base_url, "https://other.example.invalid");
    assert!(!got.enabled);
    assert_eq!(
        opened(r, "acc", got.api_key.as_deref().unwrap()),
        "sk-secret"
    );

    r.set_account_api_key("acc", Some(r.seal_api_key("acc", "sk-new").unwrap()))
        .await
        .unwrap();
    let stored = r.get_account("acc").await.unwrap().api_key.unwrap();
    assert_eq!(opened(r, "acc", &stored), "sk-new");
    r.set_account_api_key("acc", None).await.unwrap();
    assert_eq!(r.get_account("acc").await.unwrap().api_key, None);

    // Config rows are read-only.
    r.sync_declared(&[account("cfg")], &[], &[]).await.unwrap();
    for res in [
        r.update_account(&account("cfg")).await.map(|_| ()),
        r.delete_account("cfg").await,
        r.set_account_api_key("cfg", Some(r.seal_api_key("cfg", "k").unwrap()))
            .await,
    ] {
        match res {
            Err(e @ RegistryError::ReadOnly { .. }) => {
                assert!(e.to_string().contains("declared in the config file"))
            }
            other => panic!("expected ReadOnly, got {other:?}"),
        }
    }
    assert!(matches!(
        r.create_account(&account("cfg")).await,
        Err(RegistryError::AlreadyExists { .. })
    ));

    // Delete while a pool member → Reference; after removing the pool → ok, health row too.
    r.create_pool(&pool("pl", &["acc"])).await.unwrap();
    assert_reference(r.delete_account("acc").await, "'pl'");
    r.upsert_health(&[HealthRecord {
        account_id: "acc".into(),
        status: HealthStatus::Healthy,
        consecutive_failures: 0,
        times_opened: 0,
        cooldown_until_ms: None,
        last_error_class: None,
        updated_at_ms: 1,
    }])
    .await
    .unwrap();
    r.delete_pool("pl").await.unwrap();
    r.delete_account("acc").await.unwrap();
    assert!(r.load_health().await.unwrap().is_empty());
    let ids: Vec<_> = r
        .list_accounts()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(ids, vec!["cfg"]);
}

async fn account_protocol_fields(r: &Registry) {
    // New records take the vendor's default protocol.
    let table = [
        ("open_ai", "openai"),
        ("anthropic", "anthropic"),
        ("google", "gemini"),
        ("open_router", "openai"),
        ("deep_seek", "openai"),
        ("custom", "openai"),
    ];
    for (vendor, protocol) in table {
        let a = AccountRecord::new(format!("p-{vendor}"), vendor, "https://h.invalid/v1");
        assert_eq!(a.protocol, protocol, "{vendor}");
        assert!(a.stream_usage);
        assert_eq!(
            (a.anthropic_version.as_deref(), a.default_max_tokens),
            (None, None)
        );
        assert_eq!(r.create_account(&a).await.unwrap(), a);
    }

    // Every field round-trips through create and update.
    let mut a = account("proto");
    a.protocol = "anthropic".into();
    a.anthropic_version = Some("2024-10-22".into());
    a.default_max_tokens = Some(8192);
    a.stream_usage = false;
    assert_eq!(r.create_account(&a).await.unwrap(), a);
    assert_eq!(r.get_account("proto").await.unwrap(), a);
    a.protocol = "gemini".into();
    a.anthropic_version = None;
    a.default_max_tokens = Some(1);
    a.stream_usage = true;
    assert_eq!(r.update_account(&a).await.unwrap(), a);
    assert_eq!(r.get_account("proto").await.unwrap(), a);

    // The entity rules apply: (field, change, message fragment).
    type Change = fn(&mut AccountRecord);
    let invalid: [(Change, &str); 4] = [
        (
            |a| a.protocol = "grpc".into(),
            "protocol: unknown protocol 'grpc'",
        ),
        (
            |a| a.protocol = String::new(),
            "protocol: unknown protocol ''",
        ),
        (
            |a| a.anthropic_version = Some(" ".into()),
            "anthropic_version: must not be empty",
        ),
        (
            |a| a.default_max_tokens = Some(0),
            "default_max_tokens: must be at least 1, got 0",
        ),
    ];
    for (change, fragment) in invalid {
        let mut bad = account("bad-proto");
        change(&mut bad);
        for result in [
            r.create_account(&bad).await.err(),
            r.sync_declared(&[bad.clone()], &[], &[]).await.err(),
        ] {
            match result {
                Some(RegistryError::Invalid { message }) => {
                    assert!(message.contains(fragment), "{message:?} lacks {fragment:?}")
                }
                other => panic!("expected Invalid with {fragment:?}, got {other:?}"),
            }
        }
    }
    assert!(matches!(
        r.get_account("bad-proto").await,
        Err(RegistryError::NotFound { .. })
    ));

    // sync_declared compares and updates the new fields.
    let mut declared = account("decl");
    declared.protocol = "anthropic".into();
    let report = r
        .sync_declared(&[declared.clone()], &[], &[])
        .await
        .unwrap();
    assert_eq!((report.added, report.updated), (1, 0));
    let report = r
        .sync_declared(&[declared.clone()], &[], &[])
        .await
        .unwrap();
    assert_eq!((report.added, report.updated), (0, 0));
    let changes: [Change; 4] = [
        |a| a.protocol = "openai".into(),
        |a| a.anthropic_version = Some("2023-01-01".into()),
        |a| a.default_max_tokens = Some(100),
        |a| a.stream_usage = false,
    ];
    for change in changes {
        change(&mut declared);
        let report = r
            .sync_declared(&[declared.clone()], &[], &[])
            .await
            .unwrap();
        assert_eq!(report.updated, 1, "{declared:?}");
        let stored = r.get_account("decl").await.unwrap();
        assert_eq!(
            stored,
            AccountRecord {
                source: Source::Config,
                ..declared.clone()
            }
        );
    }
}

async fn pool_crud_and_references(r: &Registry) {
    r.create_account(&account("a")).await.unwrap();
    r.create_account(&account("b")).await.unwrap();
    assert_reference(r.create_pool(&pool("p", &["a", "zz"])).await, "'zz'");
    let fb_missing = PoolRecord {
        fallback_pool: Some("nope".into()),
        ..pool("p", &["a"])
    };
    assert_reference(r.create_pool(&fb_missing).await, "'nope'");
    assert!(matches!(
        r.create_pool(&pool("p", &["a", "a"])).await,
        Err(RegistryError::Invalid { .. })
    ));
    assert!(r.list_pools().await.unwrap().is_empty());

    let p = r.create_pool(&pool("p", &["b", "a"])).await.unwrap();
    assert_eq!(p.members, vec!["b", "a"]);
    assert_eq!(p.source, Source::Api);
    assert!(matches!(
        r.create_pool(&pool("p", &["a"])).await,
        Err(RegistryError::AlreadyExists { entity: "pool", .. })
    ));
    let q = PoolRecord {
        fallback_pool: Some("p".into()),
        ..pool("q", &[])
    };
    r.create_pool(&q).await.unwrap();

    let mut p2 = pool("p", &["a"]);
    p2.strategy = "priority".into();
    let got = r.update_pool(&p2).await.unwrap();
    assert_eq!(got.members, vec!["a"]);
    assert_eq!(got.strategy, "priority");
    assert_eq!(r.get_pool("p").await.unwrap(), got);
    assert!(matches!(
        r.update_pool(&pool("nope", &[])).await,
        Err(RegistryError::NotFound { .. })
    ));
    assert_reference(r.update_pool(&pool("p", &["ghost"])).await, "'ghost'");

    // p is q's fallback and a route's pool.
    r.create_route(&route("m", "p")).await.unwrap();
    assert_reference(r.delete_pool("p").await, "route(s) 'm'");
    r.delete_route("m").await.unwrap();
    assert_reference(r.delete_pool("p").await, "pool(s) 'q'");
    r.delete_pool("q").await.unwrap();
    r.delete_pool("p").await.unwrap();
    assert!(matches!(
        r.delete_pool("p").await,
        Err(RegistryError::NotFound { .. })
    ));
    // Members went with the pools: accounts can be deleted now.
    r.delete_account("a").await.unwrap();

    // Config pools are read-only.
    r.sync_declared(&[account("c")], &[pool("cp", &["c"])], &[])
        .await
        .unwrap();
    assert!(matches!(
        r.update_pool(&pool("cp", &[])).await,
        Err(RegistryError::ReadOnly { entity: "pool", .. })
    ));
    assert!(matches!(
        r.delete_pool("cp").await,
        Err(RegistryError::ReadOnly { .. })
    ));
}

async fn route_crud_and_references(r: &Registry) {
    r.create_account(&account("a")).await.unwrap();
    r.create_pool(&pool("p", &["a"])).await.unwrap();
    r.create_pool(&pool("p2", &["a"])).await.unwrap();
    assert_reference(r.create_route(&route("m", "nope")).await, "'nope'");
    let fb = RouteRecord {
        fallback_route: Some("other".into()),
        ..route("m", "p")
    };
    assert_reference(r.create_route(&fb).await, "'other'");
    assert!(matches!(
        r.create_route(&RouteRecord {
            fallback_route: Some("m".into()),
            ..route("m", "p")
        })
        .await,
        Err(RegistryError::Invalid { .. })
    ));

    let got = r.create_route(&route("other", "p")).await.unwrap();
    assert_eq!(got.source, Source::Api);
    r.create_route(&fb).await.unwrap();
    assert!(matches!(
        r.create_route(&route("m", "p")).await,
        Err(RegistryError::AlreadyExists {
            entity: "route",
            ..
        })
    ));
    let moved = r
        .update_route(&RouteRecord {
            pool: "p2".into(),
            ..fb.clone()
        })
        .await
        .unwrap();
    assert_eq!(moved.pool, "p2");
    assert_eq!(r.get_route("m").await.unwrap(), moved);
    assert_reference(r.update_route(&route("m", "zzz")).await, "'zzz'");
    assert!(matches!(
        r.update_route(&route("nope", "p")).await,
        Err(RegistryError::NotFound { .. })
    ));
    assert!(matches!(
        r.get_route("nope").await,
        Err(RegistryError::NotFound {
            entity: "route",
            ..
        })
    ));
    assert_reference(r.delete_route("other").await, "route(s) 'm'");
    r.delete_route("m").await.unwrap();
    r.delete_route("other").await.unwrap();
    assert!(r.list_routes().await.unwrap().is_empty());

    r.sync_declared(&[], &[], &[route("cfg", "p")])
        .await
        .unwrap();
    assert!(matches!(
        r.delete_route("cfg").await,
        Err(RegistryError::ReadOnly {
            entity: "route",
            ..
        })
    ));
    assert!(matches!(
        r.update_route(&route("cfg", "p2")).await,
        Err(RegistryError::ReadOnly { .. })
    ));
}

async fn health_round_trip(r: &Registry) {
    assert!(r.load_health().await.unwrap().is_empty());
    let mut records: Vec<HealthRecord> = (0..50)
        .map(|i| HealthRecord {
            account_id: format!("acc-{i:02}"),
            status: if i % 2 == 0 {
                HealthStatus::Healthy
            } else {
                HealthStatus::Unhealthy
            },
            consecutive_failures: i,
            times_opened: i / 2,
            cooldown_until_ms: (i % 2 == 1).then_some(1_700_000_000_000 + i64::from(i)),
            last_error_class: (i % 2 == 1).then(|| "rate_limited".to_string()),
            updated_at_ms: 1_700_000_000_000,
        })
        .collect();
    r.upsert_health(&records).await.unwrap();
    assert_eq!(r.load_health().await.unwrap(), records);

    records[1].status = HealthStatus::Degraded;
    records[1].cooldown_until_ms = None;
    records[1].last_error_class = None;
    records[1].updated_at_ms += 5;
    r.upsert_health(&records[1..2]).await.unwrap();
    r.upsert_health(&[]).await.unwrap();
    assert_eq!(r.load_health().await.unwrap(), records);
}

fn usage(i: u32) -> UsageEvent {
    UsageEvent {
        id: None,
        request_id: format!("req-{i}"),
        ts_ms: 1_000 + i64::from(i),
        principal_hash: (i % 3 == 0).then(|| "ph".to_string()),
        model: "gpt-4o".into(),
        vendor: Some("open_ai".into()),
        account_id: Some("a".into()),
        upstream_model: Some("gpt-4o-2024".into()),
        stream: i % 2 == 0,
        attempts: 1 + i % 3,
        outcome: if i % 5 == 0 {
            "upstream_error"
        } else {
            "success"
        }
        .into(),
        status_code: if i % 5 == 0 { 502 } else { 200 },
        latency_ms: 100 + u64::from(i),
        ttfb_ms: (i % 2 == 0).then_some(20),
        prompt_tokens: Some(u64::from(i) * 10),
        completion_tokens: Some(7),
        total_tokens: Some(u64::from(i) * 10 + 7),
        cost_usd: Some(f64::from(i) * 0.5),
        error_class: (i % 5 == 0).then(|| "upstream_5xx".to_string()),
        endpoint: UsageEvent::ENDPOINTS[i as usize % UsageEvent::ENDPOINTS.len()].to_string(),
        key_id: (i % 2 == 0).then(|| format!("key-{}", i % 3)),
        event_key: (i % 3 != 0).then(|| format!("0123abcd.{i:x}")),
    }
}

async fn usage_round_trip(r: &Registry) {
    let events: Vec<UsageEvent> = (0..1200).map(usage).collect();
    r.insert_usage_events(&events).await.unwrap();
    r.insert_usage_events(&[]).await.unwrap();
    let all = r.usage_events(None, None).await.unwrap();
    assert_eq!(all.len(), 1200);
    for (got, want) in all.iter().zip(&events) {
        assert!(got.id.is_some());
        assert_eq!(
            UsageEvent {
                id: None,
                ..got.clone()
            },
            *want
        );
    }
    let window = r.usage_events(Some(1_100), Some(1_110)).await.unwrap();
    assert_eq!(window.len(), 10);
    assert_eq!(window[0].request_id, "req-100");
    assert_eq!(r.usage_events(Some(2_190), None).await.unwrap().len(), 10);
    assert_eq!(r.usage_events(None, Some(1_005)).await.unwrap().len(), 5);

    assert_eq!(r.prune_usage_before(1_500).await.unwrap(), 500);
    assert_eq!(r.prune_usage_before(1_500).await.unwrap(), 0);
    let rest = r.usage_events(None, None).await.unwrap();
    assert_eq!(rest.len(), 700);
    assert_eq!(rest[0].ts_ms, 1_500);
}

/// The database's buckets agree with sums computed here from the same events, for
/// every grouping; the window bounds are honoured.
async fn usage_timeseries_sums_in_sql(r: &Registry) {
    use rook_registry::series::SeriesGroup;
    let mut events: Vec<UsageEvent> = (0..600).map(usage).collect();
    for (i, e) in events.iter_mut().enumerate() {
        if i % 7 == 0 {
            e.account_id = None;
            e.total_tokens = None;
            e.cost_usd = None;
        }
    }
    r.insert_usage_events(&events).await.unwrap();
    let (since, until, bucket) = (1_050, 1_450, 100);
    let window: Vec<&UsageEvent> = events
        .iter()
        .filter(|e| e.ts_ms >= since && e.ts_ms < until)
        .collect();
    assert_eq!(window.len(), 400);
    for group in SeriesGroup::ALL {
        let t = r
            .usage_timeseries(since, until, bucket, group)
            .await
            .unwrap();
        assert_eq!(t.group_by, group);
        assert_eq!(t.totals.requests, 400, "{group:?}");
        let want_failed = window.iter().filter(|e| e.outcome != "success").count() as u64;
        assert_eq!(t.totals.failed_requests, want_failed);
        let want_total: u64 = window
            .iter()
            .map(|e| {
                e.total_tokens
                    .unwrap_or(e.prompt_tokens.unwrap_or(0) + e.completion_tokens.unwrap_or(0))
            })
            .sum();
        assert_eq!(t.totals.total_tokens, want_total);
        let want_cost: f64 = window.iter().map(|e| e.cost_usd.unwrap_or(0.0)).sum();
        assert!((t.totals.cost_usd - want_cost).abs() < 1e-6, "{group:?}");
        let key_of = |e: &UsageEvent| -> String {
            match group {
                SeriesGroup::Model => e.model.clone(),
                SeriesGroup::Account => e.account_id.clone().unwrap_or_else(|| "none".into()),
                SeriesGroup::Endpoint => e.endpoint.clone(),
                SeriesGroup::Key => e.key_id.clone().unwrap_or_else(|| "none".into()),
            }
        };
        let mut want: BTreeMap<(String, i64), (u64, u64, u64)> = BTreeMap::new();
        for e in &window {
            let w = want
                .entry((key_of(e), e.ts_ms / bucket * bucket))
                .or_default();
            w.0 += 1;
            w.1 += e.latency_ms;
            w.2 = w.2.max(e.latency_ms);
        }
        for w in want.values_mut() {
            w.1 = (w.1 as f64 / w.0 as f64 * 10.0).round() as u64;
        }
        let mut got: BTreeMap<(String, i64), (u64, u64, u64)> = BTreeMap::new();
        for s in &t.series {
            let mut n = 0;
            for p in &s.points {
                n += p.requests;
                let avg_tenths = (p.latency_avg_ms * 10.0).round() as u64;
                got.insert(
                    (s.key.clone(), p.ts_ms),
                    (p.requests, avg_tenths, p.latency_max_ms),
                );
            }
            assert_eq!(s.totals.requests, n);
        }
        assert_eq!(got, want, "{group:?}");
    }
    // Aligned buckets: 1_050..1_450 spans the buckets starting at 1_000 … 1_400.
    let t = r
        .usage_timeseries(since, until, bucket, SeriesGroup::Model)
        .await
        .unwrap();
    let starts: Vec<i64> = t.series[0].points.iter().map(|p| p.ts_ms).collect();
    assert_eq!(starts, [1_000, 1_100, 1_200, 1_300, 1_400]);
    assert_eq!(t.series[0].points[0].requests, 50);
    let empty = r
        .usage_timeseries(5_000, 6_000, 100, SeriesGroup::Key)
        .await
        .unwrap();
    assert!(empty.series.is_empty());
    assert_eq!(empty.totals.requests, 0);
    assert!(r.usage_timeseries(0, 1, 0, SeriesGroup::Key).await.is_err());
}

async fn usage_background_writes(r: &Registry) {
    // A SQLite file has a low-priority connection of its own; PostgreSQL does not.
    assert_eq!(r.has_background_writer(), r.backend() == Backend::Sqlite);
    let events: Vec<UsageEvent> = (0..700).map(usage).collect();
    // One statement (up to 128), then a transaction (more than 128), then nothing.
    r.insert_usage_events_background(&events[..100])
        .await
        .unwrap();
    r.insert_usage_events_background(&events[100..])
        .await
        .unwrap();
    r.insert_usage_events_background(&[]).await.unwrap();
    // Mixed with normal writes, all land exactly once, in order.
    r.insert_usage_events(&[usage(700)]).await.unwrap();
    let all = r.usage_events(None, None).await.unwrap();
    assert_eq!(all.len(), 701);
    for (got, want) in all.iter().zip(events.iter().chain([&usage(700)])) {
        assert_eq!(
            UsageEvent {
                id: None,
                ..got.clone()
            },
            *want
        );
    }
}

/// A journal replay of events already in the database adds nothing (unique
/// `event_key`, through both write paths); events without a key are never merged.
async fn usage_event_keys_are_written_once(r: &Registry) {
    let events: Vec<UsageEvent> = (0..300).map(usage).collect();
    r.insert_usage_events(&events).await.unwrap();
    // The same batch again, one path and the other, and mixed with new events.
    r.insert_usage_events(&events).await.unwrap();
    r.insert_usage_events_background(&events[..100])
        .await
        .unwrap();
    let more: Vec<UsageEvent> = (250..350).map(usage).collect();
    r.insert_usage_events(&more).await.unwrap();
    let all = r.usage_events(None, None).await.unwrap();
    let keyless =
        |range: std::ops::Range<u32>, copies: usize| range.filter(|i| i % 3 == 0).count() * copies;
    // Keyed: 350 distinct once each. Keyless (i % 3 == 0): every insert is a row.
    let keyed = (0..350u32).filter(|i| i % 3 != 0).count();
    let expected = keyed
        + keyless(0..100, 3)
        + keyless(100..250, 2)
        + keyless(250..300, 3)
        + keyless(300..350, 1);
    assert_eq!(all.len(), expected);
    let mut keys: Vec<&str> = all.iter().filter_map(|e| e.event_key.as_deref()).collect();
    keys.sort_unstable();
    let n = keys.len();
    keys.dedup();
    assert_eq!(keys.len(), n, "an event key written twice");
    assert_eq!(n, keyed);
}

async fn idempotency_flow(r: &Registry) {
    use IdempotencyBegin::*;
    let (ph, key) = ("principal", "key-1");
    assert_eq!(
        r.idempotency_begin(ph, key, "h1", 100, 1_000)
            .await
            .unwrap(),
        Started
    );
    assert_eq!(
        r.idempotency_begin(ph, key, "h1", 101, 1_001)
            .await
            .unwrap(),
        InProgress
    );
    assert_eq!(
        r.idempotency_begin(ph, key, "h2", 101, 1_001)
            .await
            .unwrap(),
        Mismatch
    );
    // Other principal, same key: independent.
    assert_eq!(
        r.idempotency_begin("other", key, "h9", 101, 1_001)
            .await
            .unwrap(),
        Started
    );

    let resp = StoredResponse {
        status_code: 201,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-request-id".into(), "abc".into()),
        ],
        body: b"{\"ok\":true}\x00\xff".to_vec(),
    };
    r.idempotency_complete(ph, key, resp.clone()).await.unwrap();
    assert_eq!(
        r.idempotency_begin(ph, key, "h1", 102, 1_002)
            .await
            .unwrap(),
        Replay(resp.clone())
    );
    assert_eq!(
        r.idempotency_begin(ph, key, "h2", 102, 1_002)
            .await
            .unwrap(),
        Mismatch
    );
    // Completing twice: no in-progress record.
    assert!(matches!(
        r.idempotency_complete(ph, key, resp.clone()).await,
        Err(RegistryError::NotFound { .. })
    ));
    // Abandon does not touch completed records.
    r.idempotency_abandon(ph, key).await.unwrap();
    assert_eq!(
        r.idempotency_begin(ph, key, "h1", 103, 1_003)
            .await
            .unwrap(),
        Replay(resp)
    );
    // After expiry the key can be reused, even with another body.
    assert_eq!(
        r.idempotency_begin(ph, key, "h3", 1_000, 5_000)
            .await
            .unwrap(),
        Started
    );
    assert_eq!(
        r.idempotency_begin(ph, key, "h3", 1_001, 5_000)
            .await
            .unwrap(),
        InProgress
    );

    // Abandon an in-progress record: the next begin starts again.
    r.idempotency_abandon(ph, key).await.unwrap();
    r.idempotency_abandon(ph, "missing").await.unwrap();
    assert_eq!(
        r.idempotency_begin(ph, key, "h3", 1_002, 5_000)
            .await
            .unwrap(),
        Started
    );

    // Prune: "other" expires at 1_001, ph/key at 5_000.
    assert_eq!(r.prune_idempotency(1_001).await.unwrap(), 1);
    assert_eq!(r.prune_idempotency(1_001).await.unwrap(), 0);
    assert_eq!(r.prune_idempotency(5_000).await.unwrap(), 1);
}

async fn idempotency_concurrent_begin(r: &Registry) {
    for round in 0..5 {
        let key = format!("concurrent-{round}");
        let mut tasks = Vec::new();
        let barrier = Arc::new(tokio::sync::Barrier::new(8));
        for _ in 0..8 {
            let r = r.clone();
            let key = key.clone();
            let barrier = barrier.clone();
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                r.idempotency_begin("p", &key, "h", 10, 10_000)
                    .await
                    .unwrap()
            }));
        }
        let mut started = 0;
        for t in tasks {
            match t.await.unwrap() {
                IdempotencyBegin::Started => started += 1,
                IdempotencyBegin::InProgress => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(started, 1, "round {round}: exactly one Started");
    }
}

async fn audit_round_trip(r: &Registry) {
    assert!(r.list_audit(10, None).await.unwrap().is_empty());
    let mut ids = Vec::new();
    for i in 0..25 {
        let e = AuditEvent {
            id: None,
            ts_ms: 1_000 + i,
            request_id: (i % 2 == 0).then(|| format!("req-{i}")),
            actor: "admin".into(),
            action: "create".into(),
            entity_type: "account".into(),
            entity_id: format!("acc-{i}"),
            detail: serde_json::json!({ "i": i, "fields": ["base_url"] }),
            client_addr: (i % 3 == 0).then(|| format!("192.0.2.{i}")),
        };
        ids.push(r.insert_audit(&e).await.unwrap());
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let page1 = r.list_audit(10, None).await.unwrap();
    assert_eq!(page1.len(), 10);
    assert_eq!(page1[0].entity_id, "acc-24");
    assert_eq!(page1[0].detail["i"], 24);
    assert_eq!(page1[0].request_id.as_deref(), Some("req-24"));
    assert_eq!(page1[0].id, Some(ids[24]));
    assert_eq!(page1[0].client_addr.as_deref(), Some("192.0.2.24"));
    assert_eq!(page1[1].client_addr, None);
    let page2 = r.list_audit(10, page1.last().unwrap().id).await.unwrap();
    assert_eq!(page2[0].entity_id, "acc-14");
    let page3 = r.list_audit(10, page2.last().unwrap().id).await.unwrap();
    assert_eq!(page3.len(), 5);
    assert_eq!(page3.last().unwrap().entity_id, "acc-0");
    assert_eq!(page3.last().unwrap().request_id.as_deref(), Some("req-0"));
}

// ---------------------------------------------------------------- client keys

use rook_registry::client_key::{display_prefix, generate_secret, hash_secret, ClientKeyRecord};

async fn client_key_lifecycle(r: &Registry) {
    let secret = generate_secret().unwrap();
    let mut k = ClientKeyRecord::new("ci", "CI bot", &secret);
    k.models = vec!["gpt-4o*".into()];
    k.budget_usd = Some(5.0);
    k.budget_period = Some("month".into());
    k.requests_per_minute = Some(60);
    k.metadata = serde_json::json!({"team": "infra"});
    let created = r.create_client_key(&k).await.unwrap();
    assert_eq!(created.source, Source::Api);
    assert_eq!(created.secret_hash, hash_secret(&secret));
    assert_eq!(created.prefix, display_prefix(&secret));
    assert!(created.created_at_ms > 0);
    assert!(matches!(
        r.create_client_key(&k).await,
        Err(RegistryError::AlreadyExists { .. })
    ));
    let mut bad = ClientKeyRecord::new("default", "x", "rk-y");
    assert!(matches!(
        r.create_client_key(&bad).await,
        Err(RegistryError::Invalid { .. })
    ));
    bad.id = "other".into();
    bad.budget_usd = Some(1.0);
    assert!(matches!(
        r.create_client_key(&bad).await,
        Err(RegistryError::Invalid { .. })
    ));

    // Update keeps the secret.
    let mut changed = created.clone();
    changed.name = "CI".into();
    changed.enabled = false;
    let updated = r.update_client_key(&changed).await.unwrap();
    assert_eq!(updated.name, "CI");
    assert!(!updated.enabled);
    assert_eq!(updated.secret_hash, created.secret_hash);
    assert!(updated.updated_at_ms >= created.updated_at_ms);

    // Rotation without grace drops the old hash; with grace keeps it until then.
    let v0 = r.client_keys_version().await.unwrap();
    let s2 = generate_secret().unwrap();
    let rotated = r
        .rotate_client_key("ci", &hash_secret(&s2), &display_prefix(&s2), None)
        .await
        .unwrap();
    assert_eq!(rotated.secret_hash, hash_secret(&s2));
    assert_eq!(rotated.previous_hash, None);
    let s3 = generate_secret().unwrap();
    let until = rook_registry::time::now_ms() + 60_000;
    let rotated = r
        .rotate_client_key("ci", &hash_secret(&s3), &display_prefix(&s3), Some(until))
        .await
        .unwrap();
    assert_eq!(
        rotated.previous_hash.as_deref(),
        Some(hash_secret(&s2).as_str())
    );
    assert_eq!(rotated.previous_valid_until_ms, Some(until));
    assert_ne!(r.client_keys_version().await.unwrap(), v0);

    // Last use is batched and never goes back; it does not change the version.
    let v1 = r.client_keys_version().await.unwrap();
    r.touch_client_keys(&[("ci".into(), 500), ("nope".into(), 1)])
        .await
        .unwrap();
    r.touch_client_keys(&[("ci".into(), 400)]).await.unwrap();
    assert_eq!(
        r.get_client_key("ci").await.unwrap().last_used_at_ms,
        Some(500)
    );
    assert_eq!(r.client_keys_version().await.unwrap(), v1);

    // Revocation keeps the row, drops the grace, and is final.
    let revoked = r.revoke_client_key("ci").await.unwrap();
    assert!(revoked.revoked_at_ms.is_some());
    assert_eq!(revoked.previous_hash, None);
    assert_eq!(r.list_client_keys().await.unwrap().len(), 1);
    assert!(matches!(
        r.rotate_client_key("ci", "00", "rk-0", None).await,
        Err(RegistryError::Invalid { .. })
    ));
    assert!(matches!(
        r.get_client_key("missing").await,
        Err(RegistryError::NotFound { .. })
    ));
    // Nothing stored is the secret.
    let stored = format!("{:?}", r.list_client_keys().await.unwrap());
    for s in [&secret, &s2, &s3] {
        assert!(!stored.contains(&s[3..]), "a secret was stored");
    }
}

async fn client_key_usage_and_sync(r: &Registry) {
    let mut events: Vec<UsageEvent> = (0..10).map(usage).collect();
    for (i, e) in events.iter_mut().enumerate() {
        e.key_id = Some(if i < 6 { "a" } else { "b" }.into());
        e.cost_usd = Some(0.25);
        e.ts_ms = 1_000 + i as i64;
    }
    r.insert_usage_events(&events).await.unwrap();
    let a = r.client_key_usage("a", 0).await.unwrap();
    assert_eq!(a.requests, 6);
    assert!((a.spend_usd - 1.5).abs() < 1e-9);
    let a_late = r.client_key_usage("a", 1_004).await.unwrap();
    assert_eq!(a_late.requests, 2);
    assert_eq!(r.client_key_usage("zzz", 0).await.unwrap().requests, 0);

    // Declared keys: added, then changed, then removed; api keys with the same id are
    // taken over; api keys otherwise left alone.
    let mut d1 = ClientKeyRecord::new("file-a", "A", "token-from-a-file-1234");
    d1.source = Source::Config;
    let api = ClientKeyRecord::new("api-b", "B", &generate_secret().unwrap());
    r.create_client_key(&api).await.unwrap();
    let rep = r.sync_declared_client_keys(&[d1.clone()]).await.unwrap();
    assert_eq!((rep.added, rep.updated, rep.removed), (1, 0, 0));
    let stored = r.get_client_key("file-a").await.unwrap();
    assert_eq!(stored.source, Source::Config);
    assert_eq!(stored.prefix, "…1234");
    let rep = r.sync_declared_client_keys(&[d1.clone()]).await.unwrap();
    assert_eq!((rep.added, rep.updated, rep.removed), (0, 0, 0));
    assert!(matches!(
        r.revoke_client_key("file-a").await,
        Err(RegistryError::ReadOnly { .. })
    ));
    assert!(matches!(
        r.update_client_key(&stored).await,
        Err(RegistryError::ReadOnly { .. })
    ));
    d1.name = "A2".into();
    let mut d2 = ClientKeyRecord::new("api-b", "B from file", "another-file-token-5678");
    d2.source = Source::Config;
    let rep = r
        .sync_declared_client_keys(&[d1.clone(), d2.clone()])
        .await
        .unwrap();
    assert_eq!((rep.added, rep.updated, rep.removed), (0, 2, 0));
    let taken = r.get_client_key("api-b").await.unwrap();
    assert_eq!(taken.source, Source::Config);
    assert_eq!(taken.secret_hash, d2.secret_hash);
    let rep = r.sync_declared_client_keys(&[]).await.unwrap();
    assert_eq!(rep.removed, 2);
    assert!(r.list_client_keys().await.unwrap().is_empty());
}

async fn keys_are_sealed_and_plaintext_refused(r: &Registry) {
    // Without a master key: no inline key can be written, and the error says what to do.
    let mut a = account("k1");
    a.api_key = Some("sk-plain".into());
    match r.create_account(&a).await {
        Err(RegistryError::Invalid { message }) => {
            assert!(message.contains("api_key_env"), "{message}");
            assert!(message.contains("master_key_env"), "{message}");
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert!(r.seal_api_key("k1", "sk-plain").is_err());

    let r = &r.clone().with_sealer(Some(sealer(1)));
    // With one: plaintext is still refused; only values sealed for this account go in.
    assert!(matches!(
        r.create_account(&a).await,
        Err(RegistryError::Invalid { .. })
    ));
    a.api_key = Some(r.seal_api_key("other", "sk-plain").unwrap());
    assert!(matches!(
        r.create_account(&a).await,
        Err(RegistryError::Invalid { .. })
    ));
    a.api_key = Some(r.seal_api_key("k1", "sk-plain").unwrap());
    r.create_account(&a).await.unwrap();
    let stored = r.get_account("k1").await.unwrap().api_key.unwrap();
    assert!(!stored.contains("sk-plain"));
    assert_eq!(opened(r, "k1", &stored), "sk-plain");
    // Sealed under another master key: refused too.
    let foreign = sealer(2).seal("k1", "sk-x").unwrap();
    assert!(matches!(
        r.set_account_api_key("k1", Some(foreign)).await,
        Err(RegistryError::Invalid { .. })
    ));
}

/// A legacy row, written as earlier versions did (plaintext), through a raw SQL update.
async fn put_legacy_key(db: &common::TestDb, id: &str, key: &str) {
    db.registry.create_account(&account(id)).await.unwrap();
    db.write_legacy_api_key(id, key).await;
}

async fn legacy_keys_are_sealed_in_one_transaction(db: &common::TestDb) {
    let r = &db.registry;
    put_legacy_key(db, "old-a", "sk-legacy-a").await;
    put_legacy_key(db, "old-b", "sk-legacy-b").await;
    // Read as they are; no master key, nothing to seal with.
    let a = r.get_account("old-a").await.unwrap();
    assert_eq!(
        opened(r, "old-a", a.api_key.as_deref().unwrap()),
        "sk-legacy-a"
    );
    assert_eq!(r.seal_legacy_api_keys().await.unwrap(), 0);

    let r = &r.clone().with_sealer(Some(sealer(1)));
    assert_eq!(r.seal_legacy_api_keys().await.unwrap(), 2);
    for (id, key) in [("old-a", "sk-legacy-a"), ("old-b", "sk-legacy-b")] {
        let stored = r.get_account(id).await.unwrap().api_key.unwrap();
        assert!(rook_registry::seal::is_sealed(&stored), "{stored}");
        assert_eq!(opened(r, id, &stored), key);
    }
    // Idempotent.
    assert_eq!(r.seal_legacy_api_keys().await.unwrap(), 0);
}

async fn rotation_reseals_every_key_or_none(db: &common::TestDb) {
    let r = &db.registry;
    let old = r.clone().with_sealer(Some(sealer(1)));
    for id in ["r1", "r2"] {
        let mut a = account(id);
        a.api_key = Some(old.seal_api_key(id, &format!("sk-{id}")).unwrap());
        old.create_account(&a).await.unwrap();
    }
    put_legacy_key(db, "r3", "sk-r3").await;
    let before = snapshot(r).await;

    // A registry with the wrong current key cannot open r1/r2: nothing changes.
    let wrong = r.clone().with_sealer(Some(sealer(9)));
    match wrong.rotate_master_key(&sealer(2)).await {
        Err(RegistryError::Invalid { message }) => {
            assert!(
                message.contains("'r1'") && message.contains("'r2'"),
                "{message}"
            );
            assert!(message.contains("nothing was changed"), "{message}");
            assert!(!message.contains("sk-"), "{message}");
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert_eq!(snapshot(r).await, before);

    let report = old.rotate_master_key(&sealer(2)).await.unwrap();
    assert_eq!((report.resealed, report.sealed_legacy), (2, 1));
    let new = r.clone().with_sealer(Some(sealer(2)));
    for id in ["r1", "r2", "r3"] {
        let stored = new.get_account(id).await.unwrap().api_key.unwrap();
        assert_eq!(
            rook_registry::seal::key_id_of(&stored),
            Some(sealer(2).key_id())
        );
        assert_eq!(opened(&new, id, &stored), format!("sk-{id}"));
        assert!(old.open_api_key(id, &stored).is_err());
    }
}
