//! `/api/status`'s `config_version` and `cluster`: this instance's sync state and
//! every instance's heartbeat row, flagged when stale or lagging.

use std::time::Duration;

use rook_registry::cluster::{assess, ConfigVersion};
use rook_registry::time::now_ms;
use rook_registry::Registry;
use serde::Serialize;
use serde_json::{json, Value};

/// How long `/api/status` waits for the instance rows.
const LIST_TIMEOUT: Duration = Duration::from_secs(2);

/// This instance among others on one database, as the gateway knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterView {
    /// This instance's id (random per process).
    pub instance_id: String,
    /// The registry config version its routing and keys were built from.
    pub config_version: i64,
    /// `listening` (PostgreSQL LISTEN) or `polling` (SQLite, or the fallback).
    pub sync_mode: String,
    /// Times the change listener's connection was lost.
    pub listener_reconnects: u64,
    /// Reloads caused by changes made elsewhere.
    pub reloads: u64,
}

fn rfc3339_ms(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(t).to_string()
}

/// The `cluster` object of `/api/status`.
pub(crate) async fn status(registry: &Registry, me: Option<&ClusterView>) -> Value {
    let read = async {
        let current = registry.config_version().await?;
        let rows = registry.list_instances().await?;
        Ok::<_, rook_registry::RegistryError>((current, rows))
    };
    let (current, rows) = match tokio::time::timeout(LIST_TIMEOUT, read).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return json!({"this": me, "error": e.to_string()}),
        Err(_) => return json!({"this": me, "error": "the database did not answer within 2 s"}),
    };
    json!({
        "this": me,
        "registry_config_version": current.version,
        "instances": instances(&rows, now_ms(), current, me.map(|m| m.instance_id.as_str())),
    })
}

/// The instance rows as JSON, each with its flags.
pub(crate) fn instances(
    rows: &[rook_registry::cluster::InstanceRecord],
    now: i64,
    current: ConfigVersion,
    me: Option<&str>,
) -> Vec<Value> {
    rows.iter()
        .map(|i| {
            let f = assess(i, now, current);
            json!({
                "instance_id": i.instance_id,
                "this": me == Some(i.instance_id.as_str()),
                "version": i.rook_version,
                "host": i.host,
                "bind_address": i.bind_address,
                "started_at": rfc3339_ms(i.started_at_ms),
                "last_seen": rfc3339_ms(i.last_seen_ms),
                "seconds_since_seen": (now.saturating_sub(i.last_seen_ms) as f64 / 1000.0),
                "config_version": i.config_version,
                "sync_mode": i.sync_mode,
                "stale": f.stale,
                "lagging": f.lagging,
            })
        })
        .collect()
}
