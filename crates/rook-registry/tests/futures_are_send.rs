//! Compile-time check: every `Registry` future is `Send`, so the gateway can `tokio::spawn`
//! them (sqlx code easily loses `Send` through higher-ranked lifetime inference).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rook_registry::{
    AccountRecord, AuditEvent, ConnectOptions, PoolRecord, Registry, RouteRecord, StoredResponse,
};

fn send<T: Send>(_: &T) {}

#[allow(dead_code)]
fn all_futures_are_send(
    r: &Registry,
    a: &AccountRecord,
    p: &PoolRecord,
    rt: &RouteRecord,
    e: &AuditEvent,
) {
    send(&Registry::connect(
        "sqlite::memory:",
        ConnectOptions::default(),
    ));
    send(&r.ping());
    send(&r.close());
    send(&r.migrate());
    send(&r.migration_status());
    send(&r.sync_declared(&[], &[], &[]));
    send(&r.list_accounts());
    send(&r.get_account("a"));
    send(&r.create_account(a));
    send(&r.update_account(a));
    send(&r.set_account_api_key("a", None));
    send(&r.delete_account("a"));
    send(&r.list_pools());
    send(&r.get_pool("p"));
    send(&r.create_pool(p));
    send(&r.update_pool(p));
    send(&r.delete_pool("p"));
    send(&r.list_routes());
    send(&r.get_route("m"));
    send(&r.create_route(rt));
    send(&r.update_route(rt));
    send(&r.delete_route("m"));
    send(&r.load_health());
    send(&r.upsert_health(&[]));
    send(&r.load_shared_health());
    send(&r.shared_health("a"));
    send(&r.write_health("a", "i", &rook_registry::health::HealthWrite::Reset, 0));
    send(&r.lease_probe("a", "i", 0, 1, 1));
    send(&r.insert_usage_events(&[]));
    send(&r.insert_usage_events_background(&[]));
    send(&r.usage_events(None, None));
    send(&r.prune_usage_before(0));
    send(&r.idempotency_begin("p", "k", "h", 0, 1));
    send(&r.idempotency_complete(
        "p",
        "k",
        StoredResponse {
            status_code: 200,
            headers: vec![],
            body: vec![],
        },
    ));
    send(&r.idempotency_abandon("p", "k"));
    send(&r.prune_idempotency(0));
    send(&r.insert_audit(e));
    send(&r.list_audit(10, None));
}

#[test]
fn compiles() {}
