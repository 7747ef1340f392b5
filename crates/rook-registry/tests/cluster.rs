//! The config version, its triggers, instance heartbeats and (PostgreSQL) the change
//! listener.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use rook_registry::client_key::{generate_secret, ClientKeyRecord};
use rook_registry::cluster::{InstanceRecord, Notice};
use rook_registry::{AccountRecord, PoolRecord, Registry, RouteRecord};

both_backends!(
    every_catalog_write_bumps_the_version,
    heartbeats_list_and_prune
);

async fn every_catalog_write_bumps_the_version(r: &Registry) {
    let v0 = r.config_version().await.unwrap().version;
    let mut a = AccountRecord::new("a", "open_ai", "https://api.openai.com/v1");
    a.api_key_env = Some("K".into());
    r.create_account(&a).await.unwrap();
    let v1 = r.config_version().await.unwrap();
    assert!(v1.version > v0, "account create bumps");
    assert!(v1.updated_at_ms > 0);
    r.create_pool(&PoolRecord::new("p", "priority", vec!["a".into()]))
        .await
        .unwrap();
    let v2 = r.config_version().await.unwrap().version;
    assert!(v2 > v1.version, "pool create bumps");
    r.create_route(&RouteRecord::new("m", "p")).await.unwrap();
    let v3 = r.config_version().await.unwrap().version;
    assert!(v3 > v2, "route create bumps");
    r.delete_route("m").await.unwrap();
    let v4 = r.config_version().await.unwrap().version;
    assert!(v4 > v3, "route delete bumps");
    let k = ClientKeyRecord::new("k1", "K", &generate_secret().unwrap());
    r.create_client_key(&k).await.unwrap();
    let v5 = r.config_version().await.unwrap().version;
    assert!(v5 > v4, "key create bumps");
    // A key's batched last-use time is not a config change.
    r.touch_client_keys(&[("k1".into(), 123)]).await.unwrap();
    assert_eq!(r.config_version().await.unwrap().version, v5);
    r.revoke_client_key("k1").await.unwrap();
    assert!(
        r.config_version().await.unwrap().version > v5,
        "revoke bumps"
    );
    // Reads and other tables do not bump.
    let v6 = r.config_version().await.unwrap().version;
    r.list_routes().await.unwrap();
    r.heartbeat(&instance("x", 1, 1)).await.unwrap();
    assert_eq!(r.config_version().await.unwrap().version, v6);
}

fn instance(id: &str, last_seen_ms: i64, config_version: i64) -> InstanceRecord {
    InstanceRecord {
        instance_id: id.into(),
        rook_version: "0.0.0".into(),
        host: "h".into(),
        bind_address: "127.0.0.1:1".into(),
        started_at_ms: last_seen_ms,
        last_seen_ms,
        heartbeat_ms: 5_000,
        config_version,
        sync_mode: "polling".into(),
    }
}

async fn heartbeats_list_and_prune(r: &Registry) {
    r.heartbeat(&instance("old", 1_000, 1)).await.unwrap();
    r.heartbeat(&instance("new", 2_000, 1)).await.unwrap();
    // A second heartbeat refreshes the row.
    r.heartbeat(&instance("new", 9_000, 4)).await.unwrap();
    let all = r.list_instances().await.unwrap();
    assert_eq!(all.len(), 2);
    let new = all.iter().find(|i| i.instance_id == "new").unwrap();
    assert_eq!((new.last_seen_ms, new.config_version), (9_000, 4));
    assert_eq!(r.prune_instances(5_000).await.unwrap(), 1);
    r.remove_instance("new").await.unwrap();
    assert!(r.list_instances().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_listener_gets_this_schemas_changes() {
    let Some(db) = common::postgres().await else {
        return;
    };
    let r = &db.registry;
    let mut listener = r
        .listen_changes("rook-test-listener")
        .await
        .unwrap()
        .unwrap();
    let mut a = AccountRecord::new("a", "open_ai", "https://api.openai.com/v1");
    a.api_key_env = Some("K".into());
    r.create_account(&a).await.unwrap();
    let want = r.config_version().await.unwrap().version;
    let n = tokio::time::timeout(Duration::from_secs(5), listener.next())
        .await
        .expect("a notice within 5 s")
        .unwrap()
        .expect("connection alive");
    let Notice::Config(n) = n else {
        panic!("{n:?}")
    };
    assert_eq!(n.table, "accounts");
    assert_eq!(n.version, want);
    // A notice from another schema of the same database is ignored.
    let other = common::postgres().await.unwrap();
    other.registry.create_account(&a).await.unwrap();
    r.delete_account("a").await.unwrap();
    let n = tokio::time::timeout(Duration::from_secs(5), listener.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Notice::Config(n) = n else {
        panic!("{n:?}")
    };
    assert_eq!(n.version, r.config_version().await.unwrap().version);
    listener.close().await;
    other.cleanup().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_has_no_listener() {
    let db = common::sqlite().await;
    assert!(db.registry.listen_changes("x").await.unwrap().is_none());
    db.cleanup().await;
}
