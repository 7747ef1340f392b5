//! Usage time series: requests, tokens, cost and latency per time bucket and group,
//! aggregated by the database (`GROUP BY` bucket and group on both backends), so a
//! week of traffic is answered without loading its events.
//!
//! The database returns one row per non-empty (bucket, group); [`build`] folds the rows
//! into one [`Series`] per group plus the window's totals. Buckets are aligned to
//! multiples of the bucket width since the unix epoch (a 5-minute bucket starts at
//! :00, :05, …), so a chart does not shift as time passes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a time series may be grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeriesGroup {
    /// Logical model.
    Model,
    /// Account id (`none` when no account was chosen).
    Account,
    /// Client-facing endpoint (`chat`, `messages`, `embeddings`, …).
    Endpoint,
    /// Client key id (`none` when unknown).
    Key,
}

impl SeriesGroup {
    /// Every grouping.
    pub const ALL: [SeriesGroup; 4] = [
        SeriesGroup::Model,
        SeriesGroup::Account,
        SeriesGroup::Endpoint,
        SeriesGroup::Key,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            SeriesGroup::Model => "model",
            SeriesGroup::Account => "account",
            SeriesGroup::Endpoint => "endpoint",
            SeriesGroup::Key => "key",
        }
    }

    /// Parses a name.
    pub fn from_name(s: &str) -> Option<SeriesGroup> {
        SeriesGroup::ALL.into_iter().find(|g| g.as_str() == s)
    }

    /// The SQL expression of the group key (a fixed column, never caller text).
    pub(crate) fn sql(self) -> &'static str {
        match self {
            SeriesGroup::Model => "model",
            SeriesGroup::Account => "COALESCE(account_id, 'none')",
            SeriesGroup::Endpoint => "endpoint",
            SeriesGroup::Key => "COALESCE(key_id, 'none')",
        }
    }
}

/// One aggregated row as the database returns it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeriesRow {
    /// Bucket index: `ts_ms / bucket_ms`.
    pub bucket: i64,
    /// Group key.
    pub key: String,
    /// Requests.
    pub requests: u64,
    /// Requests whose outcome was not `success`.
    pub failed_requests: u64,
    /// Input tokens.
    pub prompt_tokens: u64,
    /// Output tokens.
    pub completion_tokens: u64,
    /// All tokens (the recorded total, else input + output).
    pub total_tokens: u64,
    /// Cost.
    pub cost_usd: f64,
    /// Sum of latencies, milliseconds.
    pub latency_sum_ms: u64,
    /// Largest latency, milliseconds.
    pub latency_max_ms: u64,
}

/// The aggregates of one bucket (or of a whole window).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Bucket start, unix milliseconds (`0` in totals).
    pub ts_ms: i64,
    /// Requests.
    pub requests: u64,
    /// Requests whose outcome was not `success`.
    pub failed_requests: u64,
    /// Input tokens.
    pub prompt_tokens: u64,
    /// Output tokens.
    pub completion_tokens: u64,
    /// All tokens.
    pub total_tokens: u64,
    /// Cost from the price table, rounded to a millionth of a dollar.
    pub cost_usd: f64,
    /// Mean latency, milliseconds.
    pub latency_avg_ms: f64,
    /// Largest latency, milliseconds.
    pub latency_max_ms: u64,
}

impl Point {
    fn add(&mut self, r: &SeriesRow, sum: &mut u64) {
        self.requests += r.requests;
        self.failed_requests += r.failed_requests;
        self.prompt_tokens += r.prompt_tokens;
        self.completion_tokens += r.completion_tokens;
        self.total_tokens += r.total_tokens;
        self.cost_usd += r.cost_usd;
        self.latency_max_ms = self.latency_max_ms.max(r.latency_max_ms);
        *sum += r.latency_sum_ms;
    }

    fn finish(&mut self, sum: u64) {
        self.cost_usd = (self.cost_usd * 1e6).round() / 1e6;
        self.latency_avg_ms = if self.requests == 0 {
            0.0
        } else {
            ((sum as f64 / self.requests as f64) * 10.0).round() / 10.0
        };
    }
}

/// One group's points, oldest first; buckets without traffic are left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// The group's key.
    pub key: String,
    /// The group's totals over the window.
    pub totals: Point,
    /// Non-empty buckets, oldest first.
    pub points: Vec<Point>,
}

/// A usage time series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeSeries {
    /// Window start (unix ms, inclusive).
    pub since_ms: i64,
    /// Window end (unix ms, exclusive).
    pub until_ms: i64,
    /// Bucket width, seconds.
    pub bucket_seconds: i64,
    /// The grouping.
    pub group_by: SeriesGroup,
    /// Totals over the window.
    pub totals: Point,
    /// One series per group, by key.
    pub series: Vec<Series>,
}

/// Folds database rows into a [`TimeSeries`].
pub fn build(
    rows: &[SeriesRow],
    since_ms: i64,
    until_ms: i64,
    bucket_ms: i64,
    group_by: SeriesGroup,
) -> TimeSeries {
    let mut by_key: BTreeMap<&str, Vec<&SeriesRow>> = BTreeMap::new();
    for r in rows {
        by_key.entry(r.key.as_str()).or_default().push(r);
    }
    let mut totals = Point::default();
    let mut total_sum = 0;
    let series = by_key
        .into_iter()
        .map(|(key, mut rows)| {
            rows.sort_by_key(|r| r.bucket);
            let mut group = Point::default();
            let mut group_sum = 0;
            let points = rows
                .into_iter()
                .map(|r| {
                    totals.add(r, &mut total_sum);
                    group.add(r, &mut group_sum);
                    let mut p = Point {
                        ts_ms: r.bucket.saturating_mul(bucket_ms),
                        ..Point::default()
                    };
                    let mut sum = 0;
                    p.add(r, &mut sum);
                    p.finish(sum);
                    p
                })
                .collect();
            group.finish(group_sum);
            Series {
                key: key.to_string(),
                totals: group,
                points,
            }
        })
        .collect();
    totals.finish(total_sum);
    TimeSeries {
        since_ms,
        until_ms,
        bucket_seconds: bucket_ms / 1000,
        group_by,
        totals,
        series,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(bucket: i64, key: &str, requests: u64, lat_sum: u64, lat_max: u64) -> SeriesRow {
        SeriesRow {
            bucket,
            key: key.into(),
            requests,
            failed_requests: 1,
            prompt_tokens: 10 * requests,
            completion_tokens: requests,
            total_tokens: 11 * requests,
            cost_usd: 0.1 * requests as f64,
            latency_sum_ms: lat_sum,
            latency_max_ms: lat_max,
        }
    }

    #[test]
    fn folds_rows_into_series_and_totals() {
        let rows = [
            row(5, "b", 1, 100, 100),
            row(4, "a", 2, 100, 80),
            row(6, "a", 1, 300, 300),
        ];
        let t = build(&rows, 0, 10_000, 1000, SeriesGroup::Model);
        assert_eq!(t.bucket_seconds, 1);
        assert_eq!(t.totals.requests, 4);
        assert_eq!(t.totals.failed_requests, 3);
        assert_eq!(t.totals.total_tokens, 44);
        assert!((t.totals.cost_usd - 0.4).abs() < 1e-9);
        assert!((t.totals.latency_avg_ms - 125.0).abs() < 1e-9);
        assert_eq!(t.totals.latency_max_ms, 300);
        let keys: Vec<&str> = t.series.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, ["a", "b"]);
        let a = &t.series[0];
        assert_eq!(a.totals.requests, 3);
        assert!((a.totals.latency_avg_ms - 133.3).abs() < 1e-9);
        let starts: Vec<i64> = a.points.iter().map(|p| p.ts_ms).collect();
        assert_eq!(starts, [4000, 6000]);
        assert!((a.points[0].latency_avg_ms - 50.0).abs() < 1e-9);
    }

    #[test]
    fn empty_window() {
        let t = build(&[], 0, 1, 60_000, SeriesGroup::Key);
        assert_eq!(t.totals, Point::default());
        assert!(t.series.is_empty());
        for g in SeriesGroup::ALL {
            assert_eq!(SeriesGroup::from_name(g.as_str()), Some(g));
        }
        assert_eq!(SeriesGroup::from_name("day"), None);
    }
}
