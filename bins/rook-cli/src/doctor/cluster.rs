//! The `instances` check: every rook-server heartbeating into this registry, flagged
//! when it stopped heartbeating (3 intervals) or serves an old config version.

use rook_gateway::rook_registry::cluster::{assess, ConfigVersion, InstanceRecord};
use rook_gateway::rook_registry::time::now_ms;
use rook_gateway::rook_registry::Registry;
use serde_json::{json, Value};

use super::{Check, Status};

/// The check (`None` without a readable registry: the database check says why).
pub(super) async fn check_instances(registry: Option<&Registry>) -> Option<Check> {
    let r = registry?;
    // Unreadable (migrations pending, which the database check reports): no check.
    let current: ConfigVersion = r.config_version().await.ok()?;
    let rows: Vec<InstanceRecord> = r.list_instances().await.ok()?;
    Some(assess_all(&rows, now_ms(), current))
}

/// Pure: the check from the rows.
pub(super) fn assess_all(rows: &[InstanceRecord], now: i64, current: ConfigVersion) -> Check {
    let mut stale = Vec::new();
    let mut lagging = Vec::new();
    let list: Vec<Value> = rows
        .iter()
        .map(|i| {
            let f = assess(i, now, current);
            if f.stale {
                stale.push(i.instance_id.clone());
            }
            if f.lagging {
                lagging.push(i.instance_id.clone());
            }
            json!({
                "instance_id": i.instance_id,
                "host": i.host,
                "bind_address": i.bind_address,
                "version": i.rook_version,
                "config_version": i.config_version,
                "sync_mode": i.sync_mode,
                "seconds_since_seen": now.saturating_sub(i.last_seen_ms) / 1000,
                "stale": f.stale,
                "lagging": f.lagging,
            })
        })
        .collect();
    let live = rows.len() - stale.len();
    let mut summary = format!(
        "{live} instance{} heartbeating, registry config version {}",
        if live == 1 { "" } else { "s" },
        current.version
    );
    let mut status = Status::Pass;
    let mut guidance = Vec::new();
    if !stale.is_empty() {
        status = Status::Warn;
        summary.push_str(&format!("; stopped heartbeating: {}", stale.join(", ")));
        guidance.push("a stopped instance's row goes after 10 minutes; if the process still runs, it cannot write to the database (see docs/operations.md, \"A lagging instance\")");
    }
    if !lagging.is_empty() {
        status = Status::Warn;
        summary.push_str(&format!(
            "; serving an old config version: {}",
            lagging.join(", ")
        ));
        guidance.push("a lagging instance missed changes: check its log for the change listener and its sync_mode (see docs/operations.md, \"A stuck listener\")");
    }
    let mut check = Check::new("instances", status, summary)
        .detail("registry_config_version", current.version)
        .detail("instances", Value::Array(list));
    if !guidance.is_empty() {
        check = check.guidance(guidance.join("; "));
    }
    check
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, seen: i64, v: i64) -> InstanceRecord {
        InstanceRecord {
            instance_id: id.into(),
            rook_version: "0".into(),
            host: String::new(),
            bind_address: "127.0.0.1:1".into(),
            started_at_ms: 0,
            last_seen_ms: seen,
            heartbeat_ms: 5_000,
            config_version: v,
            sync_mode: "listening".into(),
        }
    }

    #[test]
    fn flags_stale_and_lagging() {
        let cur = ConfigVersion {
            version: 9,
            updated_at_ms: 10_000,
        };
        let ok = assess_all(&[row("a", 60_000, 9)], 61_000, cur);
        assert_eq!(ok.status, Status::Pass);
        assert!(ok.summary.starts_with("1 instance heartbeating"));
        let bad = assess_all(
            &[row("a", 60_000, 9), row("b", 1_000, 9), row("c", 60_000, 8)],
            61_000,
            cur,
        );
        assert_eq!(bad.status, Status::Warn);
        assert!(
            bad.summary.contains("stopped heartbeating: b"),
            "{}",
            bad.summary
        );
        assert!(
            bad.summary.contains("old config version: c"),
            "{}",
            bad.summary
        );
        assert!(bad.summary.starts_with("2 instances"));
    }
}
