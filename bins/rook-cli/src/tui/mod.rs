//! `rook-cli tui`: a terminal dashboard over a running server's admin API.
//!
//! Tabs Status, Accounts, Pools, Routes, Usage and Live; refreshes every
//! `--refresh` seconds; resets and enables/disables accounts after a confirmation.
//! See `docs/cli.md`.
//!
//! Layers, each testable alone: [`data`] (the admin API's answers, typed) and
//! [`rows`] (data → rows and series) and [`model`] (state, key → action) are pure;
//! [`view`] draws a state into any ratatui backend; [`fetch`] talks to the server;
//! [`term`] owns the terminal and the event loop.

mod data;
mod fetch;
mod model;
mod rows;
mod term;
mod view;

#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::time::Duration;

use clap::Args;
use rook_gateway::rook_config;

use crate::admin_client::AdminClient;
use crate::common::{load_options, CliError};
use crate::GlobalArgs;

pub(crate) const TUI_HELP: &str = "\
Keys: ←/→ or Tab switch tabs, 1-6 jump to a tab, ↑/↓ select a row, on Accounts
r resets the selected account's health and e enables or disables it (each asks
y/n first), Space refreshes now, q or Ctrl-C quits.

Examples:
  rook-cli tui
  rook-cli tui --server http://10.0.0.5:4141 --admin-token-env ROOK_ADMIN_TOKEN --refresh 5

Exit codes: 0 quit with q or Ctrl-C; 2 the terminal could not be set up.";

/// `tui` flags.
#[derive(Debug, Args)]
pub(crate) struct TuiArgs {
    /// The server's URL (default: the configuration's host and port, a wildcard
    /// host read as 127.0.0.1).
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Environment variable holding the admin token. When it is unset and the
    /// server is on this machine (a loopback URL), the token comes from the config's
    /// admin_auth token source, else from the admin-token file in the data directory.
    #[arg(long, value_name = "VAR", default_value = "ROOK_ADMIN_TOKEN")]
    pub admin_token_env: String,
    /// Seconds between refreshes (1 to 3600).
    #[arg(long, value_name = "SECONDS", default_value_t = 2,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub refresh: u64,
}

/// `http://host:port` for a server listening on `host`: a wildcard or empty host
/// is reached on loopback.
fn server_url(host: &str, port: u16) -> String {
    let host = host.trim().trim_start_matches('[').trim_end_matches(']');
    match host.parse::<IpAddr>() {
        Ok(ip) if ip.is_unspecified() => format!("http://127.0.0.1:{port}"),
        Ok(IpAddr::V6(v6)) => format!("http://[{v6}]:{port}"),
        _ if host.is_empty() => format!("http://127.0.0.1:{port}"),
        _ => format!("http://{host}:{port}"),
    }
}

/// The configuration's server, or `http://127.0.0.1:4141` without one.
fn default_server(g: &GlobalArgs) -> String {
    match rook_config::load(&load_options(g)) {
        Ok(loaded) => server_url(&loaded.config.host, loaded.config.port),
        Err(_) => server_url("127.0.0.1", 4141),
    }
}

/// Runs the dashboard until the operator quits.
pub(crate) async fn run(g: &GlobalArgs, args: &TuiArgs) -> Result<(), CliError> {
    let server = match &args.server {
        Some(s) => s.clone(),
        None => default_server(g),
    };
    let client = AdminClient::new(&server, &args.admin_token_env, g)?;
    let state = model::State::new(client.base(), args.refresh);
    term::run(state, client, Duration::from_secs(args.refresh)).await
}

#[cfg(test)]
mod url_tests {
    #[test]
    fn server_urls() {
        for (host, want) in [
            ("127.0.0.1", "http://127.0.0.1:4141"),
            ("0.0.0.0", "http://127.0.0.1:4141"),
            ("::", "http://127.0.0.1:4141"),
            ("[::]", "http://127.0.0.1:4141"),
            ("", "http://127.0.0.1:4141"),
            ("::1", "http://[::1]:4141"),
            ("rook.internal", "http://rook.internal:4141"),
        ] {
            assert_eq!(super::server_url(host, 4141), want, "{host:?}");
        }
    }
}
