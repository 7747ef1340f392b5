//! The body of each tab.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Sparkline, Table, TableState};
use ratatui::Frame;

use crate::tui::model::State;
use crate::tui::rows;

fn bordered<'a>(title: impl Into<Line<'a>>) -> Block<'a> {
    Block::default().borders(Borders::ALL).title(title)
}

fn health_color(health: &str) -> Color {
    match health {
        "healthy" => Color::Green,
        "degraded" => Color::Yellow,
        "unhealthy" => Color::Red,
        _ => Color::DarkGray,
    }
}

/// A table of `N` columns with a selected row.
fn table<const N: usize>(
    frame: &mut Frame<'_>,
    area: Rect,
    title: &str,
    header: [&str; N],
    widths: [Constraint; N],
    body: Vec<Row<'_>>,
    selected: Option<usize>,
) {
    let empty = body.is_empty();
    let t = Table::new(body, widths)
        .header(Row::new(header).style(Style::default().add_modifier(Modifier::BOLD)))
        .block(bordered(title))
        .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED))
        .highlight_symbol("› ");
    let mut state = TableState::default().with_selected(if empty { None } else { selected });
    frame.render_stateful_widget(t, area, &mut state);
}

fn plain<const N: usize>(cells: [String; N]) -> Row<'static> {
    Row::new(cells)
}

pub(super) fn status(frame: &mut Frame<'_>, area: Rect, state: &State) {
    let Some(s) = &state.snapshot else { return };
    let lines: Vec<Line<'_>> = rows::status(&s.status, &state.server)
        .into_iter()
        .map(|(k, v)| {
            Line::from(vec![
                Span::styled(format!("{k:>26}  "), Style::default().fg(Color::Cyan)),
                Span::raw(v),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).block(bordered(" Status ")), area);
}

pub(super) fn accounts(frame: &mut Frame<'_>, area: Rect, state: &State) {
    let Some(s) = &state.snapshot else { return };
    let body = rows::accounts(&s.accounts, &s.health)
        .into_iter()
        .map(|r| {
            Row::new(vec![
                Cell::from(r.id),
                Cell::from(r.vendor),
                Cell::from(if r.enabled { "yes" } else { "no" }),
                Cell::from(r.health.clone()).style(Style::default().fg(health_color(&r.health))),
                Cell::from(r.cooldown).style(Style::default().fg(Color::Yellow)),
                Cell::from(r.failures.to_string()),
                Cell::from(r.in_flight.to_string()),
                Cell::from(r.last_error),
                Cell::from(r.source),
            ])
        })
        .collect();
    table(
        frame,
        area,
        " Accounts ",
        [
            "id",
            "vendor",
            "enabled",
            "health",
            "cooldown",
            "failures",
            "active",
            "last error",
            "source",
        ],
        [
            Constraint::Fill(2),
            Constraint::Length(10),
            Constraint::Length(7),
            Constraint::Length(9),
            Constraint::Length(14),
            Constraint::Length(8),
            Constraint::Length(6),
            Constraint::Fill(1),
            Constraint::Length(6),
        ],
        body,
        Some(state.selection()),
    );
}

pub(super) fn pools(frame: &mut Frame<'_>, area: Rect, state: &State) {
    let Some(s) = &state.snapshot else { return };
    table(
        frame,
        area,
        " Pools ",
        ["id", "strategy", "members", "fallback", "source"],
        [
            Constraint::Fill(1),
            Constraint::Length(12),
            Constraint::Fill(2),
            Constraint::Fill(1),
            Constraint::Length(6),
        ],
        rows::pools(&s.pools).into_iter().map(plain).collect(),
        Some(state.selection()),
    );
}

pub(super) fn routes(frame: &mut Frame<'_>, area: Rect, state: &State) {
    let Some(s) = &state.snapshot else { return };
    let body = rows::routes(&s.routes, &s.status)
        .into_iter()
        .map(|[model, pool, fallback, st, source]| {
            let color = if st == "ok" { Color::Green } else { Color::Red };
            Row::new(vec![
                Cell::from(model),
                Cell::from(pool),
                Cell::from(fallback),
                Cell::from(st).style(Style::default().fg(color)),
                Cell::from(source),
            ])
        })
        .collect();
    table(
        frame,
        area,
        " Routes ",
        ["model", "pool", "fallback", "state", "source"],
        [
            Constraint::Fill(2),
            Constraint::Fill(1),
            Constraint::Fill(1),
            Constraint::Length(10),
            Constraint::Length(6),
        ],
        body,
        Some(state.selection()),
    );
}

fn spark<'a>(title: String, data: &'a [u64]) -> Sparkline<'a> {
    Sparkline::default()
        .block(bordered(title))
        .data(data)
        .style(Style::default().fg(Color::Cyan))
}

pub(super) fn usage(frame: &mut Frame<'_>, area: Rect, state: &State) {
    let Some(s) = &state.snapshot else { return };
    let [totals, minute, days, groups] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Min(3),
    ])
    .areas(area);
    let summary = match &s.usage_day {
        Some(r) => {
            let t = &r.totals;
            format!(
                "{} requests ({} failed) · {} in / {} out tokens · ${:.4} · p50 {} ms · p95 {} ms",
                t.requests,
                t.failed_requests,
                t.prompt_tokens,
                t.completion_tokens,
                t.cost_usd,
                t.latency_p50_ms,
                t.latency_p95_ms
            )
        }
        None => "usage is not available (the registry database did not answer)".to_string(),
    };
    frame.render_widget(
        Paragraph::new(summary).block(bordered(" Last 24 hours ")),
        totals,
    );
    let width = usize::from(minute.width.saturating_sub(2)).clamp(1, 60);
    let per_minute = rows::per_minute(&s.recent, s.fetched_at_ms, width);
    let last = per_minute.last().copied().unwrap_or(0);
    frame.render_widget(
        spark(
            format!(" Requests per minute, last {width} min (this instance): {last} now "),
            &per_minute,
        ),
        minute,
    );
    let requests = s
        .usage_days
        .as_ref()
        .map(|r| rows::daily(r, |a| a.requests))
        .unwrap_or_default();
    let total: u64 = requests.iter().sum();
    frame.render_widget(
        spark(
            format!(" Requests per day, last 14 days: {total} "),
            &requests,
        ),
        days,
    );
    let mut body: Vec<Row<'_>> = Vec::new();
    if let Some(r) = &s.usage_day {
        for (grouping, label) in [("model", "model"), ("account", "account")] {
            for row in rows::usage_groups(r, grouping) {
                let mut cells = vec![label.to_string()];
                cells.extend(row);
                body.push(Row::new(cells));
            }
        }
    }
    table(
        frame,
        groups,
        " Last 24 hours by model and account ",
        [
            "by",
            "key",
            "requests",
            "failed",
            "in tokens",
            "out tokens",
            "cost",
            "p95",
        ],
        [
            Constraint::Length(8),
            Constraint::Fill(2),
            Constraint::Length(9),
            Constraint::Length(7),
            Constraint::Length(10),
            Constraint::Length(10),
            Constraint::Length(10),
            Constraint::Length(9),
        ],
        body,
        None,
    );
}

pub(super) fn live(frame: &mut Frame<'_>, area: Rect, state: &State) {
    let Some(s) = &state.snapshot else { return };
    let body = rows::live(&s.recent)
        .into_iter()
        .map(|cells| {
            let failed = !matches!(cells[5].as_str(), "success" | "replayed");
            let row = Row::new(cells);
            if failed {
                row.style(Style::default().fg(Color::Red))
            } else {
                row
            }
        })
        .collect();
    let title = match &s.recent_problem {
        Some(p) => format!(" Live: not available: {p} "),
        None => " Live: this instance's last requests, newest first ".to_string(),
    };
    table(
        frame,
        area,
        &title,
        [
            "time",
            "request id",
            "route",
            "account",
            "try",
            "outcome",
            "status",
            "latency",
            "stream",
            "tokens",
        ],
        [
            Constraint::Length(8),
            Constraint::Fill(2),
            Constraint::Fill(2),
            Constraint::Fill(1),
            Constraint::Length(3),
            Constraint::Fill(2),
            Constraint::Length(6),
            Constraint::Length(9),
            Constraint::Length(6),
            Constraint::Length(9),
        ],
        body,
        Some(state.selection()),
    );
}
