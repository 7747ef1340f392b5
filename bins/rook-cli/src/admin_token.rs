//! Finding the admin token for `--server` calls.
//!
//! In order: the variable named by `--admin-token-env` (default `ROOK_ADMIN_TOKEN`);
//! then, only when the `--server` URL's host is loopback (the token is never sent
//! to another machine unless the operator names it): the configuration's admin
//! token source (`[admin_auth]`), and the file `rook-server` generates,
//! `<data_dir>/admin-token` (`data_dir` from the same configuration discovery:
//! `--config`, `ROOK_CONFIG`, the XDG path; `ROOK_DATA_DIR` overrides it).

use std::net::IpAddr;

use rook_gateway::rook_config::{self, SecretSource, ADMIN_TOKEN_FILE};

use crate::common::load_options;
use crate::GlobalArgs;

/// A token and where it came from (for messages; never the value).
pub(crate) struct Found {
    /// The token.
    pub token: String,
    /// Where it was read, e.g. `file /var/lib/rook/admin-token`.
    pub source: String,
}

/// The outcome of the search: the token, if any, and every source tried.
pub(crate) struct Discovery {
    /// The token found first.
    pub found: Option<Found>,
    /// Each source tried, with why it gave nothing (`environment variable X: not set`).
    pub tried: Vec<String>,
}

/// Looks for the admin token of `server` (see the module docs).
pub(crate) fn discover(server: &str, token_env: &str, g: &GlobalArgs) -> Discovery {
    let mut tried = Vec::new();
    let env = SecretSource::Env(token_env.to_string());
    match env.resolve() {
        Ok(secret) => {
            return Discovery {
                found: Some(Found {
                    token: secret.expose().to_string(),
                    source: env.to_string(),
                }),
                tried,
            }
        }
        Err(e) => tried.push(e.to_string()),
    }
    if !is_loopback_url(server) {
        tried.push(format!(
            "the local configuration and {ADMIN_TOKEN_FILE} file: not used, {server} is not a \
             loopback address"
        ));
        return Discovery { found: None, tried };
    }
    let config = match rook_config::load(&load_options(g)) {
        Ok(loaded) => loaded.config,
        Err(e) => {
            tried.push(format!("the configuration: {e}"));
            return Discovery { found: None, tried };
        }
    };
    let configured = config.admin_auth.token_source();
    if configured != env {
        match configured.resolve() {
            Ok(secret) => {
                return Discovery {
                    found: Some(Found {
                        token: secret.expose().to_string(),
                        source: format!("{configured} ([admin_auth] of the configuration)"),
                    }),
                    tried,
                }
            }
            Err(e) => tried.push(format!("{e} ([admin_auth] of the configuration)")),
        }
    }
    let file = SecretSource::File(config.effective_data_dir().join(ADMIN_TOKEN_FILE));
    match file.resolve() {
        Ok(secret) => Discovery {
            found: Some(Found {
                token: secret.expose().to_string(),
                source: file.to_string(),
            }),
            tried,
        },
        Err(e) => {
            tried.push(format!(
                "{e} (the token rook-server generates; set data_dir or ROOK_DATA_DIR if the \
                 server's data directory is elsewhere)"
            ));
            Discovery { found: None, tried }
        }
    }
}

/// Whether a `--server` URL's host is `localhost` or a loopback address.
pub(crate) fn is_loopback_url(server: &str) -> bool {
    let Ok(uri) = server.trim().parse::<http::Uri>() else {
        return false;
    };
    let Some(host) = uri.host() else {
        return false;
    };
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if bare.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback(),
        Ok(IpAddr::V6(v6)) => v6
            .to_ipv4_mapped()
            .map_or(v6.is_loopback(), |v4| v4.is_loopback()),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls() {
        for (url, ok) in [
            ("http://127.0.0.1:4141", true),
            ("http://127.9.9.9", true),
            ("http://localhost:4141/", true),
            ("https://LOCALHOST", true),
            ("http://[::1]:4141", true),
            ("http://[::ffff:127.0.0.1]:1", true),
            ("http://10.0.0.1:4141", false),
            ("http://rook.example.com", false),
            ("http://localhost.evil.example", false),
            ("http://127.0.0.1.evil.example", false),
            ("http://user@evil.example", false),
            ("not a url", false),
        ] {
            assert_eq!(is_loopback_url(url), ok, "{url}");
        }
    }
}
