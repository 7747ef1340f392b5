//! The dashboard against a real `rook-server`: every tab rendered with ratatui's
//! `TestBackend` from what the real admin API answers, the actions, and the error
//! screens (wrong token, no server).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use ratatui::backend::TestBackend;
use ratatui::Terminal;
use rook_test_support::cluster::wait_until;
use rook_test_support::{free_port, http, workspace_bin, FakeUpstream, Reply, RookServer};
use serde_json::json;

use super::data::Snapshot;
use super::model::{Action, Command, Key, Problem, State, Tab};
use super::{fetch, view};
use crate::admin_client::AdminClient;
use crate::GlobalArgs;

const ADMIN: &str = "tui-admin-token-0123456789";

fn config(a: &FakeUpstream, b: &FakeUpstream) -> String {
    format!(
        r#"
host = "127.0.0.1"
port = {{port}}
database_url = "sqlite://{{dir}}/rook.db"

[admin_auth]
bearer_token_env = "ROOK_ADMIN_TOKEN"

[usage]
flush_interval_ms = 50

[[accounts]]
id = "a"
vendor = "custom"
base_url = "{a}"
api_key_env = "KEY_A"
priority = 0

[[accounts]]
id = "b"
vendor = "custom"
base_url = "{b}"
api_key_env = "KEY_A"
priority = 1

[[pools]]
id = "main"
strategy = "priority"
members = ["a", "b"]

[[routes]]
model = "m"
pool = "main"
"#,
        a = a.base_url(),
        b = b.base_url(),
    )
}

/// A client reading its token from `var`, set to `token`.
fn admin_client(server: &str, var: &str, token: &str) -> AdminClient {
    std::env::set_var(var, token);
    let g = GlobalArgs {
        config: None,
        database_url: None,
    };
    AdminClient::new(server, var, &g).unwrap()
}

/// The screen as text, one line per row.
fn render(state: &State, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| view::draw(f, state)).unwrap();
    let buffer = terminal.backend().buffer();
    buffer
        .content
        .chunks(usize::from(width))
        .map(|line| line.iter().map(|c| c.symbol()).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The screen line holding `needle` (panics with the screen when none does).
fn line_with<'a>(screen: &'a str, needle: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in\n{screen}"))
}

/// The screen line holding every needle.
fn line_with_all<'a>(screen: &'a str, needles: &[&str]) -> &'a str {
    screen
        .lines()
        .find(|l| needles.iter().all(|n| l.contains(n)))
        .unwrap_or_else(|| panic!("no line with all of {needles:?} in\n{screen}"))
}

fn on_tab(state: &mut State, tab: Tab) -> String {
    state.tab = tab;
    render(state, 150, 40)
}

async fn refreshed(state: &mut State, client: &AdminClient) {
    let result = fetch::snapshot(client).await;
    assert!(result.is_ok(), "{result:?}");
    state.on_data(result);
}

/// Selects the Accounts row of `id`, presses `key`, confirms with `y`; returns the command.
fn confirm_on(state: &mut State, id: &str, key: char) -> Command {
    state.tab = Tab::Accounts;
    state.on_key(Key::Home);
    let snapshot = state.snapshot.clone().unwrap_or_default();
    let rows = super::rows::accounts(&snapshot.accounts, &snapshot.health);
    let at = rows.iter().position(|r| r.id == id).unwrap();
    for _ in 0..at {
        state.on_key(Key::Down);
    }
    assert_eq!(state.on_key(Key::Char(key)), Action::Nothing);
    let question = state.confirm.as_ref().unwrap().question();
    assert!(render(state, 150, 40).contains(&question[..30]));
    match state.on_key(Key::Char('y')) {
        Action::Run(cmd) => cmd,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn every_tab_shows_the_real_server() {
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    let bin = workspace_bin("rook-server", "rook-server").unwrap();
    let env = [("ROOK_ADMIN_TOKEN", ADMIN), ("KEY_A", "sk-upstream-tui")];
    let server = RookServer::start(&bin, &config(&a, &b), &env)
        .await
        .unwrap();
    let auth = format!("Bearer {ADMIN}");
    let admin = [("authorization", auth.as_str())];

    // Account a is rate limited for 60 s (cooling); b serves the request.
    a.push(Reply::status(429).header("retry-after", "60"));
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    let r = http::post_json(&server.url("/v1/chat/completions"), &[], &body)
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let request_id = r.header("x-request-id").unwrap().to_string();
    // An API-managed account (the TUI may disable it; declared ones are read-only).
    let r = http::request(
        "POST",
        &server.url("/api/accounts"),
        &[admin[0], ("content-type", "application/json")],
        Some(
            json!({"id": "api-c", "vendor": "custom", "base_url": b.base_url(), "api_key_env": "KEY_A"})
                .to_string()
                .into_bytes(),
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());

    let client = admin_client(&server.base_url(), "ROOK_TUI_TEST_TOKEN_OK", ADMIN);
    let mut state = State::new(client.base(), 2);
    // Usage events are written in batches: wait until the request is in the report.
    let got = wait_until(Duration::from_secs(10), || async {
        fetch::snapshot(&client)
            .await
            .ok()
            .and_then(|s: Snapshot| s.usage_day.map(|u| u.totals.requests))
            == Some(1)
    })
    .await;
    assert!(got.is_some(), "the request never reached the usage report");
    refreshed(&mut state, &client).await;

    let screen = on_tab(&mut state, Tab::Status);
    assert!(
        line_with(&screen, "version").contains(env!("CARGO_PKG_VERSION")),
        "{screen}"
    );
    let accounts = line_with(&screen, "accounts");
    assert!(
        accounts.contains("3 total: ") && accounts.contains(" 1 unhealthy"),
        "{screen}"
    );
    assert!(line_with(&screen, "bind").contains("(loopback)"));
    assert!(line_with(&screen, "state").contains("accepting requests"));
    // The footer shows the keys.
    assert!(
        screen.lines().last().unwrap().contains("q quit"),
        "{screen}"
    );

    let screen = on_tab(&mut state, Tab::Accounts);
    let cooling = line_with(&screen, " a ");
    assert!(cooling.contains("unhealthy"), "{screen}");
    assert!(cooling.contains("rate_limited"), "{screen}");
    assert!(cooling.contains("config"), "{screen}");
    let remaining = cooling
        .split("cooling ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no cooldown shown: {cooling}"));
    assert!(
        ["1m00s", "59s", "58s", "57s", "56s", "55s"].contains(&remaining),
        "{remaining}"
    );
    let healthy = line_with(&screen, " b ");
    assert!(
        healthy.contains("healthy") && !healthy.contains("cooling"),
        "{healthy}"
    );
    assert!(line_with(&screen, "api-c").contains("api"));
    assert!(screen.contains("r reset health"), "{screen}");

    let screen = on_tab(&mut state, Tab::Pools);
    let pool = line_with(&screen, "main");
    assert!(
        pool.contains("priority") && pool.contains("a, b"),
        "{screen}"
    );

    let screen = on_tab(&mut state, Tab::Routes);
    let route = line_with(&screen, " m ");
    assert!(route.contains("main") && route.contains("ok"), "{screen}");

    let screen = on_tab(&mut state, Tab::Usage);
    let totals = line_with(&screen, "requests (");
    assert!(totals.contains("1 requests (0 failed)"), "{screen}");
    assert!(screen.contains("Requests per minute"), "{screen}");
    assert!(
        line_with(&screen, "Requests per day").contains(": 1 "),
        "{screen}"
    );
    line_with_all(&screen, &["│model ", " m ", " 1 ", "$0.0000"]);
    line_with_all(&screen, &["│account ", " b ", " 1 "]);

    let screen = on_tab(&mut state, Tab::Live);
    let live = line_with(&screen, &request_id);
    assert!(
        live.contains("acct_b") && live.contains("success") && live.contains("200"),
        "{screen}"
    );
    // Two attempts: a (429) then b.
    assert!(live.contains(" 2 "), "{live}");

    // A smaller and a larger terminal draw the same data without trouble.
    for (w, h) in [(60, 16), (220, 60)] {
        let small = render(&state, w, h);
        assert!(small.contains("Live"), "{small}");
    }

    // Reset the cooling account: it is healthy again.
    let cmd = confirm_on(&mut state, "a", 'r');
    assert_eq!(cmd, Command::Reset("a".into()));
    state.on_done(fetch::perform(&client, &cmd).await);
    refreshed(&mut state, &client).await;
    let screen = on_tab(&mut state, Tab::Accounts);
    assert!(screen.contains("Account 'a': health reset."), "{screen}");
    let reset = line_with(&screen, " a ");
    assert!(
        !reset.contains("unhealthy") && !reset.contains("cooling"),
        "{reset}"
    );

    // Disable the API account.
    let cmd = confirm_on(&mut state, "api-c", 'e');
    assert_eq!(cmd, Command::SetEnabled("api-c".into(), false));
    state.on_done(fetch::perform(&client, &cmd).await);
    refreshed(&mut state, &client).await;
    let screen = on_tab(&mut state, Tab::Accounts);
    assert!(line_with(&screen, "api-c").contains(" no "), "{screen}");
    let r = http::get(&server.url("/api/accounts/api-c"), &admin)
        .await
        .unwrap();
    assert_eq!(r.json()["enabled"], false);

    // A declared account cannot be changed here: the server's reason is shown.
    let cmd = confirm_on(&mut state, "b", 'e');
    let result = fetch::perform(&client, &cmd).await;
    assert!(
        result.as_ref().is_err_and(|e| e.contains("read_only")),
        "{result:?}"
    );
    state.on_done(result);
    let screen = on_tab(&mut state, Tab::Accounts);
    assert!(screen.contains("declared in the config file"), "{screen}");

    // The wrong token: the error screen says so.
    let wrong = admin_client(
        &server.base_url(),
        "ROOK_TUI_TEST_TOKEN_BAD",
        "not-the-token",
    );
    let result = fetch::snapshot(&wrong).await;
    assert!(
        matches!(result, Err(Problem::Unauthorized(_))),
        "{result:?}"
    );
    state.on_data(result);
    let screen = render(&state, 150, 40);
    assert!(screen.contains("refused the admin token (401)"), "{screen}");
    assert!(screen.contains("ROOK_TUI_TEST_TOKEN_BAD"), "{screen}");
    assert!(!screen.contains("not-the-token"), "{screen}");
}

#[tokio::test]
async fn no_server_shows_the_error_screen() {
    let port = free_port().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let client = admin_client(&url, "ROOK_TUI_TEST_TOKEN_NONE", ADMIN);
    let mut state = State::new(client.base(), 3);
    let result = fetch::snapshot(&client).await;
    assert!(matches!(result, Err(Problem::Unreachable(_))), "{result:?}");
    state.on_data(result);
    let screen = render(&state, 100, 24);
    assert!(screen.contains("Cannot reach the server"), "{screen}");
    assert!(screen.contains(&url), "{screen}");
    assert!(screen.contains("Trying again every 3 s"), "{screen}");
    assert!(
        line_with(&screen, "q quit").contains("Space refresh"),
        "{screen}"
    );
    assert_eq!(state.on_key(Key::Char('q')), Action::Quit);
}
