//! Rendering: draws a [`State`] into a ratatui frame. No IO, no state changes; the
//! same function draws the real terminal and the tests' `TestBackend`.

mod tabs;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Tabs, Wrap};
use ratatui::Frame;

use super::model::{Problem, State, Tab};

/// Draws the whole screen.
pub(crate) fn draw(frame: &mut Frame<'_>, state: &State) {
    let [header, body, notice, footer] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    draw_header(frame, header, state);
    if state.blocked() {
        draw_problem(frame, body, state);
    } else {
        match state.tab {
            Tab::Status => tabs::status(frame, body, state),
            Tab::Accounts => tabs::accounts(frame, body, state),
            Tab::Pools => tabs::pools(frame, body, state),
            Tab::Routes => tabs::routes(frame, body, state),
            Tab::Usage => tabs::usage(frame, body, state),
            Tab::Live => tabs::live(frame, body, state),
        }
    }
    draw_notice(frame, notice, state);
    frame.render_widget(
        Paragraph::new(state.help()).style(Style::default().fg(Color::Black).bg(Color::Gray)),
        footer,
    );
    if let Some(cmd) = &state.confirm {
        draw_confirm(frame, body, &cmd.question());
    }
}

fn draw_header(frame: &mut Frame<'_>, area: Rect, state: &State) {
    let titles = Tab::ALL
        .iter()
        .enumerate()
        .map(|(i, t)| format!("{} {}", i + 1, t.title()));
    let title = format!(
        " Rook · {} · every {} s ",
        state.server, state.refresh_seconds
    );
    let tabs = Tabs::new(titles)
        .select(state.tab.index())
        .block(Block::default().borders(Borders::ALL).title(title))
        .highlight_style(
            Style::default()
                .fg(Color::Yellow)
                .add_modifier(Modifier::BOLD | Modifier::REVERSED),
        );
    frame.render_widget(tabs, area);
}

fn draw_notice(frame: &mut Frame<'_>, area: Rect, state: &State) {
    let line = match (&state.problem, &state.notice) {
        (Some(Problem::Failed(text)), _) if !state.blocked() => Line::from(Span::styled(
            format!("refresh failed (showing older data): {text}"),
            Style::default().fg(Color::Red),
        )),
        (_, Some(n)) => Line::from(Span::styled(
            n.text.clone(),
            Style::default().fg(if n.error { Color::Red } else { Color::Green }),
        )),
        _ => Line::default(),
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// The error screen: why nothing can be shown, and what to do.
fn draw_problem(frame: &mut Frame<'_>, area: Rect, state: &State) {
    let (title, text, hint) = match &state.problem {
        Some(Problem::Unreachable(t)) => (
            " Cannot reach the server ",
            t.as_str(),
            "Is rook-server running there? Check --server (or the config's host and port).",
        ),
        Some(Problem::Unauthorized(t)) => (
            " The server refused the admin token (401) ",
            t.as_str(),
            "Set the admin token in ROOK_ADMIN_TOKEN (or the variable --admin-token-env names).",
        ),
        Some(Problem::Failed(t)) => (" The server answered with an error ", t.as_str(), ""),
        None => (" Connecting ", "Reading the admin API…", ""),
    };
    let lines = vec![
        Line::from(Span::styled(
            text.to_string(),
            Style::default().add_modifier(Modifier::BOLD),
        )),
        Line::default(),
        Line::from(hint),
        Line::from(format!(
            "Trying again every {} s; press q to quit.",
            state.refresh_seconds
        )),
    ];
    let p = Paragraph::new(lines).wrap(Wrap { trim: false }).block(
        Block::default()
            .borders(Borders::ALL)
            .title(title)
            .border_style(Style::default().fg(Color::Red)),
    );
    frame.render_widget(p, area);
}

fn draw_confirm(frame: &mut Frame<'_>, area: Rect, question: &str) {
    let width = u16::try_from(question.chars().count() + 4)
        .unwrap_or(u16::MAX)
        .clamp(20, area.width.max(20));
    let popup = area.centered(Constraint::Length(width), Constraint::Length(4));
    frame.render_widget(Clear, popup);
    let p = Paragraph::new(vec![
        Line::from(question.to_string()),
        Line::from("[y] yes   [n] no"),
    ])
    .wrap(Wrap { trim: true })
    .block(
        Block::default()
            .borders(Borders::ALL)
            .title(" Confirm ")
            .border_style(Style::default().fg(Color::Yellow)),
    );
    frame.render_widget(p, popup);
}
