//! Usage reports: totals and per-group aggregates over recorded usage events.
//!
//! One implementation serves `rook-cli usage report` and `GET /api/usage`, so both
//! always agree. Aggregates are computed from the events of the window (sums,
//! counts, latency percentiles by nearest rank).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::types::UsageEvent;

/// What to group a report by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// Logical model.
    Model,
    /// Account id.
    Account,
    /// Vendor.
    Vendor,
    /// UTC day (`YYYY-MM-DD`).
    Day,
    /// Outcome (`success`, `error`, `partial`, …).
    Outcome,
    /// Client-facing endpoint (`chat`, `messages`, `embeddings`, …).
    Endpoint,
    /// Client key id (`default` for `[inbound_auth]`'s token, `none` when unknown).
    Key,
}

impl GroupBy {
    /// Every grouping.
    pub const ALL: [GroupBy; 7] = [
        GroupBy::Model,
        GroupBy::Account,
        GroupBy::Vendor,
        GroupBy::Day,
        GroupBy::Outcome,
        GroupBy::Endpoint,
        GroupBy::Key,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Model => "model",
            GroupBy::Account => "account",
            GroupBy::Vendor => "vendor",
            GroupBy::Day => "day",
            GroupBy::Outcome => "outcome",
            GroupBy::Endpoint => "endpoint",
            GroupBy::Key => "key",
        }
    }

    /// Parses a name.
    pub fn from_name(s: &str) -> Option<GroupBy> {
        GroupBy::ALL.into_iter().find(|g| g.as_str() == s)
    }

    fn key(self, e: &UsageEvent) -> String {
        let or_none = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".to_string());
        match self {
            GroupBy::Model => e.model.clone(),
            GroupBy::Account => or_none(&e.account_id),
            GroupBy::Vendor => or_none(&e.vendor),
            GroupBy::Day => day(e.ts_ms),
            GroupBy::Outcome => e.outcome.clone(),
            GroupBy::Endpoint => e.endpoint.clone(),
            GroupBy::Key => or_none(&e.key_id),
        }
    }
}

/// The UTC day of a unix-millisecond timestamp, `YYYY-MM-DD`.
pub fn day(ts_ms: i64) -> String {
    let days = ts_ms.div_euclid(86_400_000);
    // Civil-from-days (proleptic Gregorian), Howard Hinnant's algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Aggregates of a set of usage events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    /// Requests.
    pub requests: u64,
    /// Requests whose outcome was not `success`.
    pub failed_requests: u64,
    /// Streamed requests.
    pub streaming_requests: u64,
    /// Requests that succeeded (`success`) or streamed partially (`partial`) but whose
    /// token counts are unknown (neither prompt nor completion tokens recorded), e.g. an
    /// upstream that reports no usage on streams. Errors and refusals are not counted.
    pub requests_without_usage: u64,
    /// Input tokens.
    pub prompt_tokens: u64,
    /// Output tokens.
    pub completion_tokens: u64,
    /// All tokens.
    pub total_tokens: u64,
    /// Cost from the price table (0 when no price is configured).
    pub cost_usd: f64,
    /// Median latency, milliseconds.
    pub latency_p50_ms: u64,
    /// 95th percentile latency, milliseconds.
    pub latency_p95_ms: u64,
}

/// One group of a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// The group's key (a model, an account id, a day…).
    pub key: String,
    /// Its aggregates.
    #[serde(flatten)]
    pub aggregate: Aggregate,
}

/// A usage report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageReport {
    /// Window start (unix ms, inclusive), if bounded.
    pub since_ms: Option<i64>,
    /// Window end (unix ms, exclusive), if bounded.
    pub until_ms: Option<i64>,
    /// Over every event of the window.
    pub totals: Aggregate,
    /// One list per requested grouping, keyed by its name (`model`, `account`, …).
    pub groups: BTreeMap<String, Vec<Group>>,
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Whether an event answered the client (fully or as a partial stream) without known
/// token counts.
fn is_without_usage(e: &UsageEvent) -> bool {
    matches!(e.outcome.as_str(), "success" | "partial")
        && e.prompt_tokens.is_none()
        && e.completion_tokens.is_none()
}

fn aggregate<'a>(events: impl Iterator<Item = &'a UsageEvent>) -> Aggregate {
    let mut a = Aggregate::default();
    let mut lat = Vec::new();
    for e in events {
        a.requests += 1;
        if e.outcome != "success" {
            a.failed_requests += 1;
        }
        if e.stream {
            a.streaming_requests += 1;
        }
        if is_without_usage(e) {
            a.requests_without_usage += 1;
        }
        let p = e.prompt_tokens.unwrap_or(0);
        let c = e.completion_tokens.unwrap_or(0);
        a.prompt_tokens += p;
        a.completion_tokens += c;
        a.total_tokens += e.total_tokens.unwrap_or(p + c);
        a.cost_usd += e.cost_usd.unwrap_or(0.0);
        lat.push(e.latency_ms);
    }
    lat.sort_unstable();
    a.latency_p50_ms = percentile(&lat, 0.50);
    a.latency_p95_ms = percentile(&lat, 0.95);
    a.cost_usd = (a.cost_usd * 1e6).round() / 1e6;
    a
}

/// Builds a report from events (already limited to the window).
pub fn build_report(
    events: &[UsageEvent],
    since_ms: Option<i64>,
    until_ms: Option<i64>,
    group_by: &[GroupBy],
) -> UsageReport {
    let mut groups = BTreeMap::new();
    for g in group_by {
        let mut by_key: BTreeMap<String, Vec<&UsageEvent>> = BTreeMap::new();
        for e in events {
            by_key.entry(g.key(e)).or_default().push(e);
        }
        let list = by_key
            .into_iter()
            .map(|(key, evs)| Group {
                key,
                aggregate: aggregate(evs.into_iter()),
            })
            .collect();
        groups.insert(g.as_str().to_string(), list);
    }
    UsageReport {
        since_ms,
        until_ms,
        totals: aggregate(events.iter()),
        groups,
    }
}

impl crate::Registry {
    /// A usage report over `[since_ms, until_ms)`, read from the registry.
    pub async fn usage_report(
        &self,
        since_ms: Option<i64>,
        until_ms: Option<i64>,
        group_by: &[GroupBy],
    ) -> crate::Result<UsageReport> {
        let events = self.usage_events(since_ms, until_ms).await?;
        Ok(build_report(&events, since_ms, until_ms, group_by))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(
        model: &str,
        outcome: &str,
        stream: bool,
        p: u64,
        c: u64,
        lat: u64,
        ts: i64,
    ) -> UsageEvent {
        UsageEvent {
            request_id: format!("r{ts}"),
            ts_ms: ts,
            model: model.into(),
            vendor: Some("open_ai".into()),
            account_id: Some("a".into()),
            stream,
            attempts: 1,
            outcome: outcome.into(),
            status_code: 200,
            latency_ms: lat,
            prompt_tokens: Some(p),
            completion_tokens: Some(c),
            total_tokens: Some(p + c),
            cost_usd: Some(0.5),
            ..Default::default()
        }
    }

    #[test]
    fn totals_and_groups() {
        let events = vec![
            ev("m1", "success", false, 10, 5, 100, 0),
            ev("m1", "success", true, 1, 2, 200, 86_400_000),
            ev("m2", "error", false, 0, 0, 300, 86_400_001),
        ];
        let r = build_report(&events, None, None, &[GroupBy::Model, GroupBy::Day]);
        assert_eq!(r.totals.requests, 3);
        assert_eq!(r.totals.failed_requests, 1);
        assert_eq!(r.totals.streaming_requests, 1);
        assert_eq!(r.totals.total_tokens, 18);
        assert_eq!(r.totals.latency_p50_ms, 200);
        assert_eq!(r.totals.latency_p95_ms, 300);
        assert!((r.totals.cost_usd - 1.5).abs() < 1e-9);
        let models = &r.groups["model"];
        assert_eq!(models.len(), 2);
        assert_eq!(models[0].key, "m1");
        assert_eq!(models[0].aggregate.requests, 2);
        let days = &r.groups["day"];
        assert_eq!(days[0].key, "1970-01-01");
        assert_eq!(days[1].key, "1970-01-02");
    }

    #[test]
    fn requests_without_usage() {
        let unknown = |outcome: &str, p: Option<u64>, c: Option<u64>| UsageEvent {
            prompt_tokens: p,
            completion_tokens: c,
            total_tokens: None,
            ..ev("m", outcome, true, 0, 0, 1, 0)
        };
        // (event, counted)
        let table = [
            (unknown("success", None, None), true),
            (unknown("partial", None, None), true),
            (unknown("success", Some(3), None), false),
            (unknown("success", None, Some(2)), false),
            (unknown("success", Some(0), Some(0)), false),
            (unknown("error", None, None), false),
            (unknown("refused", None, None), false),
            (unknown("client_gone", None, None), false),
        ];
        for (event, counted) in &table {
            let r = build_report(std::slice::from_ref(event), None, None, &[]);
            assert_eq!(
                r.totals.requests_without_usage,
                u64::from(*counted),
                "{event:?}"
            );
        }
        let events: Vec<UsageEvent> = table.into_iter().map(|(e, _)| e).collect();
        let r = build_report(&events, None, None, &[GroupBy::Outcome]);
        assert_eq!(r.totals.requests_without_usage, 2);
        let outcomes = &r.groups["outcome"];
        let count = |key: &str| {
            outcomes
                .iter()
                .find(|g| g.key == key)
                .map(|g| g.aggregate.requests_without_usage)
        };
        assert_eq!(count("success"), Some(1));
        assert_eq!(count("partial"), Some(1));
        assert_eq!(count("error"), Some(0));
    }

    #[test]
    fn group_by_endpoint() {
        let mut events = vec![
            ev("m", "success", false, 1, 1, 10, 0),
            ev("m", "success", false, 1, 1, 10, 1),
            ev("m", "success", false, 1, 1, 10, 2),
        ];
        events[1].endpoint = "messages".into();
        events[2].endpoint = "embeddings".into();
        let r = build_report(&events, None, None, &[GroupBy::Endpoint]);
        let keys: Vec<(&str, u64)> = r.groups["endpoint"]
            .iter()
            .map(|g| (g.key.as_str(), g.aggregate.requests))
            .collect();
        assert_eq!(keys, [("chat", 1), ("embeddings", 1), ("messages", 1)]);
        for g in GroupBy::ALL {
            assert_eq!(GroupBy::from_name(g.as_str()), Some(g));
        }
        assert_eq!(GroupBy::from_name("endpoint"), Some(GroupBy::Endpoint));
        events[0].key_id = Some("ci".into());
        let r = build_report(&events, None, None, &[GroupBy::Key]);
        let keys: Vec<(&str, u64)> = r.groups["key"]
            .iter()
            .map(|g| (g.key.as_str(), g.aggregate.requests))
            .collect();
        assert_eq!(keys, [("ci", 1), ("none", 2)]);
    }

    #[test]
    fn days() {
        assert_eq!(day(0), "1970-01-01");
        assert_eq!(day(951_782_400_000), "2000-02-29");
        assert_eq!(day(-1), "1969-12-31");
    }
}
