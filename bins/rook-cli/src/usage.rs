//! `usage report`: aggregates read from the registry.

use clap::{Args, ValueEnum};
use rook_gateway::rook_registry::report::{day, Aggregate, GroupBy, UsageReport};
use rook_gateway::rook_registry::time::{now_ms, parse_instant};

use crate::common::{load_config, open_existing, registry_error, CliError};
use crate::table::Table;
use crate::GlobalArgs;

const AFTER_HELP: &str = "\
Examples:
  rook-cli usage report
  rook-cli usage report --since 7d --group-by model,account --format table
  rook-cli usage report --since 2024-05-01 --until 2024-06-01 --group-by day --format csv

--since/--until take a duration ago (30m, 24h, 7d, 2w), a UTC date
(2024-05-01) or an RFC 3339 timestamp (2024-05-01T12:00:00Z,
2024-05-01T14:00:00+02:00). The window is [since, until).
NO_USAGE (requests_without_usage in json and csv) counts requests that
succeeded or streamed partially without known token counts: when it is not
0, token and cost totals are lower bounds.
The database is never created: a missing database exits with code 2.";

/// Output format of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Aligned columns.
    Table,
    /// The report as JSON.
    Json,
    /// Comma-separated values with a header and a `totals` row.
    Csv,
}

/// `usage report` flags.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct ReportArgs {
    /// Window start: a duration ago or a UTC date.
    #[arg(long, default_value = "24h", value_name = "WHEN")]
    pub since: String,
    /// Window end (exclusive): a duration ago or a UTC date; default now.
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// Grouping: model, account, vendor, day, outcome, endpoint or key. Repeat or
    /// comma-separate for several. Default: model.
    #[arg(long, value_delimiter = ',', value_name = "KEY")]
    pub group_by: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

/// Parses `--group-by` values (deduplicated, in order; default `model`).
pub(crate) fn parse_group_by(values: &[String]) -> Result<Vec<GroupBy>, CliError> {
    let mut out = Vec::new();
    for v in values {
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        let g = GroupBy::from_name(v).ok_or_else(|| {
            CliError::fail(format!(
                "unknown --group-by {v:?}: expected model, account, vendor, day, outcome, endpoint or key"
            ))
        })?;
        if !out.contains(&g) {
            out.push(g);
        }
    }
    if out.is_empty() {
        out.push(GroupBy::Model);
    }
    Ok(out)
}

/// A `--since`/`--until` value as unix ms.
fn instant(text: &str, now: i64) -> Result<i64, CliError> {
    parse_instant(text, now).map_err(|_| {
        CliError::fail(format!(
            "cannot parse {text:?}: use a duration ago (30m, 24h, 7d, 2w), a UTC date \
             (2024-05-01) or an RFC 3339 timestamp (2024-05-01T12:00:00Z)"
        ))
    })
}

/// Runs `usage report`.
pub(crate) async fn run(g: &GlobalArgs, args: &ReportArgs) -> Result<(), CliError> {
    let group_by = parse_group_by(&args.group_by)?;
    let now = now_ms();
    let since = instant(&args.since, now)?;
    let until = match &args.until {
        Some(u) => Some(instant(u, now)?),
        None => None,
    };
    if let Some(u) = until {
        if u <= since {
            return Err(CliError::fail("--until must be later than --since"));
        }
    }
    let loaded = load_config(g)?;
    let registry = open_existing(&loaded.config.database_url).await?;
    let report = registry
        .usage_report(Some(since), until, &group_by)
        .await
        .map_err(registry_error)?;
    registry.close().await;
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&report)
            .map_err(|e| CliError::fail(format!("cannot render the report: {e}")))?,
        Format::Csv => render_csv(&report, &group_by),
        Format::Table => render_table(&report, &group_by, now),
    };
    crate::common::out(&text);
    if args.format == Format::Json {
        crate::common::out("\n");
    }
    Ok(())
}

/// CSV columns after `group,key`.
/// (`requests_without_usage` is last, so columns added later keep the older
/// ones in place.)
pub(crate) const CSV_COLUMNS: [&str; 10] = [
    "requests",
    "failed_requests",
    "streaming_requests",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost_usd",
    "latency_p50_ms",
    "latency_p95_ms",
    "requests_without_usage",
];

fn values(a: &Aggregate) -> [String; 10] {
    [
        a.requests.to_string(),
        a.failed_requests.to_string(),
        a.streaming_requests.to_string(),
        a.prompt_tokens.to_string(),
        a.completion_tokens.to_string(),
        a.total_tokens.to_string(),
        format!("{:.6}", a.cost_usd),
        a.latency_p50_ms.to_string(),
        a.latency_p95_ms.to_string(),
        a.requests_without_usage.to_string(),
    ]
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The report as CSV: one row per group (in `--group-by` order), then a
/// `totals` row with an empty key.
pub(crate) fn render_csv(report: &UsageReport, group_by: &[GroupBy]) -> String {
    let mut out = String::from("group,key,");
    out.push_str(&CSV_COLUMNS.join(","));
    out.push('\n');
    for g in group_by {
        for group in report.groups.get(g.as_str()).into_iter().flatten() {
            out.push_str(g.as_str());
            out.push(',');
            out.push_str(&csv_field(&group.key));
            for v in values(&group.aggregate) {
                out.push(',');
                out.push_str(&v);
            }
            out.push('\n');
        }
    }
    out.push_str("totals,");
    for v in values(&report.totals) {
        out.push(',');
        out.push_str(&v);
    }
    out.push('\n');
    out
}

fn when(ms: Option<i64>, now: i64) -> String {
    let ms = ms.unwrap_or(now);
    let secs = ms.div_euclid(1000);
    let tod = secs.rem_euclid(86_400);
    format!("{} {:02}:{:02} UTC", day(ms), tod / 3600, (tod % 3600) / 60)
}

/// The report as aligned tables, one per grouping, each ending with a
/// `TOTAL` row.
pub(crate) fn render_table(report: &UsageReport, group_by: &[GroupBy], now: i64) -> String {
    let mut out = format!(
        "usage from {} to {}{}\n",
        when(report.since_ms, now),
        when(report.until_ms, now),
        if report.until_ms.is_none() {
            " (now)"
        } else {
            ""
        }
    );
    for g in group_by {
        let name = g.as_str().to_ascii_uppercase();
        let mut t = Table::new(&[
            &name,
            "REQUESTS",
            "FAILED",
            "STREAMED",
            "PROMPT",
            "COMPLETION",
            "TOTAL_TOKENS",
            "COST_USD",
            "P50_MS",
            "P95_MS",
            "NO_USAGE",
        ])
        .align_right(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        for group in report.groups.get(g.as_str()).into_iter().flatten() {
            let mut row = vec![group.key.clone()];
            row.extend(values(&group.aggregate));
            t.row(row);
        }
        let mut total = vec!["TOTAL".to_string()];
        total.extend(values(&report.totals));
        t.row(total);
        out.push('\n');
        out.push_str(&t.render());
    }
    out
}
