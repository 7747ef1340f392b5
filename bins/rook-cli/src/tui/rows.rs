//! Data → what each tab shows: table rows, status lines and series. Pure functions,
//! tested with tables.

use rook_gateway::rook_registry::report::{Aggregate, UsageReport};
use rook_gateway::rook_registry::time::parse_instant;

use super::data::{Account, Health, Pool, Recent, Route, Snapshot, Status};

/// One line of the Accounts tab: the registry's account joined with its live health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AccountRow {
    pub id: String,
    pub vendor: String,
    pub enabled: bool,
    /// `healthy`, `degraded`, `unhealthy`, `unknown`.
    pub health: String,
    /// `cooling 42s`, or empty.
    pub cooldown: String,
    pub failures: u32,
    /// Upstream requests in flight.
    pub in_flight: u64,
    pub last_error: String,
    /// `config` or `api`.
    pub source: String,
}

/// `secs` as `45s`, `3m05s`, `2h07m`, `3d04h`.
pub(crate) fn duration(secs: f64) -> String {
    let s = if secs.is_finite() && secs > 0.0 {
        secs.ceil() as u64
    } else {
        0
    };
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// Accounts of the registry in its order, each with its health; accounts routing
/// knows that the registry did not list (not yet reloaded) come last.
pub(crate) fn accounts(accounts: &[Account], health: &[Health]) -> Vec<AccountRow> {
    let row = |a: Option<&Account>, h: Option<&Health>| {
        let id = a.map_or_else(
            || h.map(|h| h.id.clone()).unwrap_or_default(),
            |a| a.id.clone(),
        );
        AccountRow {
            id,
            vendor: a.map_or_else(
                || h.map(|h| h.vendor.clone()).unwrap_or_default(),
                |a| a.vendor.clone(),
            ),
            enabled: a.map_or_else(|| h.is_some_and(|h| h.enabled), |a| a.enabled),
            health: h.map_or_else(|| "unknown".to_string(), |h| h.status.clone()),
            cooldown: h
                .and_then(|h| h.cooldown_remaining_seconds)
                .map_or_else(String::new, |s| format!("cooling {}", duration(s))),
            failures: h.map_or(0, |h| h.consecutive_failures),
            in_flight: h.map_or(0, |h| h.in_flight),
            last_error: h
                .and_then(|h| h.last_error_class.clone())
                .unwrap_or_default(),
            source: a.map_or_else(String::new, |a| a.source.clone()),
        }
    };
    let mut rows: Vec<AccountRow> = accounts
        .iter()
        .map(|a| row(Some(a), health.iter().find(|h| h.id == a.id)))
        .collect();
    for h in health {
        if !accounts.iter().any(|a| a.id == h.id) {
            rows.push(row(None, Some(h)));
        }
    }
    rows
}

/// The Status tab: label and value lines.
pub(crate) fn status(s: &Status, server: &str) -> Vec<(String, String)> {
    let by = |k: &str| s.accounts.by_status.get(k).copied().unwrap_or(0);
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    let mut lines = vec![
        ("server".to_string(), server.to_string()),
        ("version".to_string(), s.version.clone()),
        ("uptime".to_string(), duration(s.uptime_seconds as f64)),
        (
            "bind".to_string(),
            format!(
                "{}{}",
                s.bind.address,
                if s.bind.loopback { " (loopback)" } else { "" }
            ),
        ),
        (
            "database".to_string(),
            format!("{} ({})", s.database.backend, s.database.identity),
        ),
        (
            "config version".to_string(),
            s.config_version
                .map_or_else(|| "-".to_string(), |v| v.to_string()),
        ),
        (
            "state".to_string(),
            if s.draining {
                "draining (shutting down)"
            } else {
                "accepting requests"
            }
            .to_string(),
        ),
        (
            "client auth".to_string(),
            if s.auth.inbound { "required" } else { "off" }.to_string(),
        ),
        (
            "accounts".to_string(),
            format!(
                "{} total: {} healthy, {} degraded, {} unhealthy, {} unknown",
                s.accounts.total,
                by("healthy"),
                by("degraded"),
                by("unhealthy"),
                by("unknown")
            ),
        ),
        ("routes".to_string(), s.routes.total.to_string()),
        (
            "routes without an account".to_string(),
            list(&s.routes.without_available_account),
        ),
        ("routes in panic mode".to_string(), list(&s.routes.in_panic)),
        (
            "retries exhausted".to_string(),
            format!(
                "{} in the last {}",
                s.recent_retry_exhaustion.requests,
                duration(s.recent_retry_exhaustion.window_seconds as f64)
            ),
        ),
    ];
    if let Some(p) = &s.database.problem {
        lines.push(("database problem".to_string(), p.clone()));
    }
    lines
}

/// The Pools tab: id, strategy, members, fallback, source.
pub(crate) fn pools(pools: &[Pool]) -> Vec<[String; 5]> {
    pools
        .iter()
        .map(|p| {
            [
                p.id.clone(),
                p.strategy.clone(),
                p.members.join(", "),
                p.fallback_pool.clone().unwrap_or_else(|| "-".into()),
                p.source.clone(),
            ]
        })
        .collect()
}

/// The Routes tab: model, pool, fallback, state, source.
pub(crate) fn routes(routes: &[Route], status: &Status) -> Vec<[String; 5]> {
    routes
        .iter()
        .map(|r| {
            let state = if status.routes.in_panic.contains(&r.model) {
                "panic"
            } else if status.routes.without_available_account.contains(&r.model) {
                "no account"
            } else {
                "ok"
            };
            [
                r.model.clone(),
                r.pool.clone(),
                r.fallback_route.clone().unwrap_or_else(|| "-".into()),
                state.to_string(),
                r.source.clone(),
            ]
        })
        .collect()
}

/// `at` as `HH:MM:SS` (the RFC 3339 time of day, UTC).
fn clock(at: &str) -> String {
    at.get(11..19).unwrap_or(at).to_string()
}

fn tokens(r: &Recent) -> String {
    match (r.input_tokens, r.output_tokens) {
        (None, None) => "-".into(),
        (i, o) => format!("{}/{}", i.unwrap_or(0), o.unwrap_or(0)),
    }
}

/// The Live tab: time, request id, route, account, attempts, outcome, status,
/// latency, stream, tokens.
pub(crate) fn live(recent: &[Recent]) -> Vec<[String; 10]> {
    recent
        .iter()
        .map(|r| {
            let outcome = match &r.error_class {
                Some(c) => format!("{} ({c})", r.outcome),
                None => r.outcome.clone(),
            };
            [
                clock(&r.at),
                r.request_id.clone(),
                if r.route.is_empty() {
                    "-".into()
                } else {
                    r.route.clone()
                },
                r.account.clone().unwrap_or_else(|| "-".into()),
                r.attempts.to_string(),
                outcome,
                r.status.to_string(),
                format!("{} ms", r.latency_ms),
                if r.stream { "yes" } else { "no" }.into(),
                tokens(r),
            ]
        })
        .collect()
}

/// Requests per minute over the last `minutes` minutes before `now_ms`, oldest first
/// (requests whose time cannot be read are left out).
pub(crate) fn per_minute(recent: &[Recent], now_ms: i64, minutes: usize) -> Vec<u64> {
    let mut buckets = vec![0u64; minutes];
    for r in recent {
        let Ok(at) = parse_instant(&r.at, now_ms) else {
            continue;
        };
        let age = now_ms.saturating_sub(at).max(0) / 60_000;
        if let Ok(age) = usize::try_from(age) {
            if age < minutes {
                buckets[minutes - 1 - age] += 1;
            }
        }
    }
    buckets
}

/// One series of a report's `day` groups, oldest first.
pub(crate) fn daily(report: &UsageReport, value: fn(&Aggregate) -> u64) -> Vec<u64> {
    let mut days: Vec<_> = report
        .groups
        .get("day")
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .collect();
    days.sort_by(|a, b| a.key.cmp(&b.key));
    days.iter().map(|g| value(&g.aggregate)).collect()
}

/// A grouping of a report as rows: key, requests, failed, input tokens, output
/// tokens, cost, p95 latency.
pub(crate) fn usage_groups(report: &UsageReport, grouping: &str) -> Vec<[String; 7]> {
    report
        .groups
        .get(grouping)
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .map(|g| {
            let a = &g.aggregate;
            [
                g.key.clone(),
                a.requests.to_string(),
                a.failed_requests.to_string(),
                a.prompt_tokens.to_string(),
                a.completion_tokens.to_string(),
                format!("${:.4}", a.cost_usd),
                format!("{} ms", a.latency_p95_ms),
            ]
        })
        .collect()
}

/// How many rows the selectable table of each tab has (0 for tabs without one).
pub(crate) fn count(snapshot: &Snapshot, tab: super::model::Tab) -> usize {
    use super::model::Tab;
    match tab {
        Tab::Status | Tab::Usage => 0,
        Tab::Accounts => accounts(&snapshot.accounts, &snapshot.health).len(),
        Tab::Pools => snapshot.pools.len(),
        Tab::Routes => snapshot.routes.len(),
        Tab::Live => snapshot.recent.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        for (secs, want) in [
            (0.0, "0s"),
            (-3.0, "0s"),
            (f64::NAN, "0s"),
            (0.2, "1s"),
            (59.0, "59s"),
            (60.0, "1m00s"),
            (185.0, "3m05s"),
            (7620.0, "2h07m"),
            (273_600.0, "3d04h"),
        ] {
            assert_eq!(duration(secs), want, "{secs}");
        }
    }

    fn health(id: &str, status: &str, cooldown: Option<f64>) -> Health {
        Health {
            id: id.into(),
            vendor: "custom".into(),
            enabled: true,
            status: status.into(),
            consecutive_failures: u32::from(cooldown.is_some()),
            cooldown_remaining_seconds: cooldown,
            last_error_class: cooldown.map(|_| "rate_limited".to_string()),
            ..Health::default()
        }
    }

    fn account(id: &str, enabled: bool) -> Account {
        Account {
            id: id.into(),
            vendor: "open_ai".into(),
            enabled,
            source: "api".into(),
            ..Account::default()
        }
    }

    #[test]
    fn accounts_join_health_in_registry_order() {
        let rows = accounts(
            &[account("b", true), account("a", false)],
            &[
                health("a", "unhealthy", Some(41.2)),
                health("b", "healthy", None),
                health("c", "healthy", None),
            ],
        );
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["b", "a", "c"]);
        assert_eq!(rows[1].health, "unhealthy");
        assert_eq!(rows[1].cooldown, "cooling 42s");
        assert_eq!(rows[1].last_error, "rate_limited");
        assert!(!rows[1].enabled);
        assert_eq!(rows[0].cooldown, "");
        assert_eq!(rows[2].source, "");
        assert_eq!(rows[2].vendor, "custom");
        let unknown = accounts(&[account("x", true)], &[]);
        assert_eq!(unknown[0].health, "unknown");
    }

    fn recent(at: &str) -> Recent {
        Recent {
            at: at.into(),
            request_id: "r".into(),
            ..Recent::default()
        }
    }

    #[test]
    fn requests_per_minute() {
        // 2026-01-01T00:10:00Z
        let now = 1_767_226_200_000;
        let rows = [
            recent("2026-01-01T00:09:59.000Z"),
            recent("2026-01-01T00:09:01.000Z"),
            recent("2026-01-01T00:08:30.000Z"),
            recent("2026-01-01T00:07:00.000Z"),
            recent("2026-01-01T00:06:00.000Z"),
            recent("2025-12-31T23:00:00.000Z"),
            recent("not a time"),
        ];
        assert_eq!(per_minute(&rows, now, 4), [1, 0, 1, 2]);
        assert_eq!(per_minute(&rows, now, 0), Vec::<u64>::new());
    }

    #[test]
    fn live_rows() {
        let mut r = recent("2026-01-01T00:09:59.123Z");
        r.route = "m".into();
        r.outcome = "error".into();
        r.error_class = Some("rate_limited".into());
        r.status = 429;
        r.input_tokens = Some(3);
        let rows = live(&[r, recent("x")]);
        assert_eq!(rows[0][0], "00:09:59");
        assert_eq!(rows[0][5], "error (rate_limited)");
        assert_eq!(rows[0][9], "3/0");
        assert_eq!(rows[1][2], "-");
        assert_eq!(rows[1][3], "-");
        assert_eq!(rows[1][9], "-");
    }
}
