//! Several gateway instances on one database: the config version, the change
//! notices on the `rook_changes` channel, and the instance heartbeat rows.
//!
//! Every write of accounts, pools, pool members, routes and client keys (but not a
//! key's batched last-use time) bumps the one-row config version in the writer's own
//! transaction, by a trigger, so rook-server, rook-cli and hand-written SQL alike are
//! seen. On PostgreSQL the trigger also sends `NOTIFY rook_changes` with the payload
//! `<version> <schema> <table>` (delivered at commit); `ChangeListener` receives
//! them. The pure helpers here ([`parse_notice`], [`assess`]) are what the gateway,
//! the admin API and `rook-cli doctor` share.

use serde::Serialize;

/// The channel the registry's triggers `NOTIFY` on.
pub const CHANGES_CHANNEL: &str = "rook_changes";

/// How many missed heartbeats make an instance stale.
pub const STALE_AFTER_HEARTBEATS: i64 = 3;

/// How long after a change an instance that still heartbeats an older config version
/// counts as lagging (ms): reloading takes well under a second.
pub const LAG_GRACE_MS: i64 = 2_000;

/// The registry's config version and when it last changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ConfigVersion {
    /// Goes up with every write of accounts, pools, routes and client keys.
    pub version: i64,
    /// When it last went up (unix ms; 0 before the first change).
    pub updated_at_ms: i64,
}

/// One change notice (PostgreSQL `NOTIFY rook_changes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeNotice {
    /// The config version the write produced.
    pub version: i64,
    /// The table written (`accounts`, `pools`, `pool_members`, `routes`, `client_keys`).
    pub table: String,
}

impl ChangeNotice {
    /// Whether the change concerns client keys only (the routing snapshot stays).
    pub fn keys_only(&self) -> bool {
        self.table == "client_keys"
    }
}

/// Any notice on `rook_changes` for this schema.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice {
    /// A config change (accounts, pools, routes, client keys).
    Config(ChangeNotice),
    /// A shared health transition (see [`crate::health`]).
    Health(crate::health::HealthNotice),
}

/// Parses either kind of payload of this schema.
pub fn parse_any(payload: &str, schema: &str) -> Option<Notice> {
    if let Some(n) = parse_notice(payload, schema) {
        return Some(Notice::Config(n));
    }
    crate::health::parse_health_notice(payload, schema).map(Notice::Health)
}

/// Parses a `rook_changes` payload (`<version> <schema> <table>`); `None` when it is
/// malformed or belongs to another schema than `schema` (several Rook deployments may
/// share one database in different schemas; the channel is per database).
pub fn parse_notice(payload: &str, schema: &str) -> Option<ChangeNotice> {
    let mut parts = payload.split(' ');
    let version = parts.next()?.parse::<i64>().ok()?;
    let from = parts.next()?;
    let table = parts.next()?;
    if parts.next().is_some() || from != schema || table.is_empty() {
        return None;
    }
    Some(ChangeNotice {
        version,
        table: table.to_string(),
    })
}

/// One running (or recently running) rook-server, as its heartbeat wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceRecord {
    /// Random per process, chosen at start.
    pub instance_id: String,
    /// The rook-server version.
    pub rook_version: String,
    /// The host name (`HOSTNAME`, e.g. the Kubernetes pod name), or empty.
    pub host: String,
    /// The address it listens on.
    pub bind_address: String,
    /// When it started (unix ms).
    pub started_at_ms: i64,
    /// Its latest heartbeat (unix ms).
    pub last_seen_ms: i64,
    /// Its heartbeat interval (ms).
    pub heartbeat_ms: i64,
    /// The config version its routing and keys were built from.
    pub config_version: i64,
    /// How it learns of changes: `listening`, `polling` (fallback or SQLite).
    pub sync_mode: String,
}

/// What [`assess`] concludes about one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct InstanceFlags {
    /// No heartbeat for [`STALE_AFTER_HEARTBEATS`] intervals.
    pub stale: bool,
    /// Heartbeating, but with an older config version than the registry's, well after
    /// the change ([`LAG_GRACE_MS`]).
    pub lagging: bool,
}

/// Flags an instance that stopped heartbeating or serves an old config version.
pub fn assess(i: &InstanceRecord, now_ms: i64, current: ConfigVersion) -> InstanceFlags {
    let interval = i.heartbeat_ms.max(1);
    let stale =
        now_ms.saturating_sub(i.last_seen_ms) > interval.saturating_mul(STALE_AFTER_HEARTBEATS);
    let lagging = !stale
        && i.config_version < current.version
        && i.last_seen_ms.saturating_sub(current.updated_at_ms) > LAG_GRACE_MS;
    InstanceFlags { stale, lagging }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst(last_seen_ms: i64, config_version: i64) -> InstanceRecord {
        InstanceRecord {
            instance_id: "a1".into(),
            rook_version: "0.1.0".into(),
            host: String::new(),
            bind_address: "127.0.0.1:4141".into(),
            started_at_ms: 0,
            last_seen_ms,
            heartbeat_ms: 5_000,
            config_version,
            sync_mode: "listening".into(),
        }
    }

    #[test]
    fn notices_parse_only_for_our_schema() {
        type Case<'a> = (&'a str, &'a str, Option<(i64, &'a str)>);
        let table: &[Case<'_>] = &[
            ("7 public routes", "public", Some((7, "routes"))),
            ("7 other routes", "public", None),
            ("x public routes", "public", None),
            ("7 public", "public", None),
            ("7 public routes extra", "public", None),
            ("", "public", None),
            ("12 rook_a client_keys", "rook_a", Some((12, "client_keys"))),
        ];
        for (payload, schema, want) in table {
            let got = parse_notice(payload, schema).map(|n| (n.version, n.table));
            assert_eq!(
                got,
                want.map(|(v, t)| (v, t.to_string())),
                "payload {payload:?}"
            );
        }
        assert!(parse_notice("3 s client_keys", "s").is_some_and(|n| n.keys_only()));
        assert!(parse_notice("3 s routes", "s").is_some_and(|n| !n.keys_only()));
        assert!(matches!(
            parse_any("3 s routes", "s"),
            Some(Notice::Config(_))
        ));
        assert!(matches!(
            parse_any("health s 3 a", "s"),
            Some(Notice::Health(_))
        ));
        assert_eq!(parse_any("health t 3 a", "s"), None);
        // a health payload is no config notice
        assert_eq!(parse_notice("health s 3 a", "s"), None);
    }

    #[test]
    fn stale_and_lagging() {
        let cur = ConfigVersion {
            version: 10,
            updated_at_ms: 100_000,
        };
        // (last_seen, config_version, now, stale, lagging)
        let table = [
            (100_000, 10, 101_000, false, false),
            (100_000, 10, 115_000, false, false), // exactly 3 intervals: not yet
            (100_000, 10, 115_001, true, false),
            (101_000, 9, 101_500, false, false), // just after the change: grace
            (102_001, 9, 102_500, false, true),  // still old 2 s after the change
            (102_001, 9, 200_000, true, false),  // stale wins over lagging
            (150_000, 11, 150_000, false, false), // ahead of what we read: fine
        ];
        for (seen, v, now, stale, lagging) in table {
            let f = assess(&inst(seen, v), now, cur);
            assert_eq!(
                (f.stale, f.lagging),
                (stale, lagging),
                "seen {seen} v {v} now {now}"
            );
        }
    }
}
