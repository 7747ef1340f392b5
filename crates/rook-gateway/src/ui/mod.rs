//! The web dashboard at `/ui` (issue 15): embedded assets, the sign-in with the admin
//! token, sessions and their CSRF tokens. `/` redirects to `/ui`.
//!
//! The dispatcher hands this module only paths outside `/v1` and `/api` (after the
//! `/v1` arm), so the dashboard costs the proxy path nothing. The module gets what it
//! needs (the [`Ui`] state and the admin API to check the token), not the whole app.
//!
//! | method and path | answer |
//! |---|---|
//! | `GET /` | 302 to `/ui` |
//! | `GET /ui` | the dashboard with a live session, else 302 to `/ui/login` |
//! | `GET /ui/login` | the sign-in page (says where the admin token is, never the token) |
//! | `GET /ui/assets/<hash>/<name>` | an embedded file, cached for a year (`immutable`) |
//! | `POST /ui/session` | `{"token": "<admin token>"}` → 200 `{"csrf_token"}` and the `rook_session` cookie; 401 `unauthorized` |
//! | `GET /ui/session` | 200 `{"csrf_token"}` for a live session, else 401 |
//! | `DELETE /ui/session` | sign out (needs `x-csrf-token`), 204 and the cookie cleared |
//!
//! Every answer carries a strict `Content-Security-Policy` ([`CSP`]: scripts, styles and
//! requests only from this origin, nothing inline, no framing), `X-Frame-Options: DENY`,
//! `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer`; pages are
//! `Cache-Control: no-store`. With a session the dashboard calls `/api/*` with the cookie
//! ([`rook_admin::Admin::with_sessions`]), each write with the CSRF token in
//! `x-csrf-token`.

mod assets;
mod serve;
pub(crate) mod session;

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use rook_config::{Config, SecretSource, ADMIN_TOKEN_FILE, DEFAULT_ADMIN_TOKEN_ENV};

pub(crate) use serve::handle;
use session::SessionStore;

/// The dashboard's Content-Security-Policy.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; \
     frame-ancestors 'none'";

/// The dashboard's state: sessions, where the token is, the pages once rendered.
#[derive(Debug)]
pub(crate) struct Ui {
    pub(crate) sessions: Arc<SessionStore>,
    token_hint: String,
    pages: OnceLock<Pages>,
}

/// The HTML pages with the asset prefix filled in (rendered at first use, so an idle
/// server never reads the embedded files).
#[derive(Debug)]
struct Pages {
    prefix: String,
    index: Bytes,
    login: Bytes,
}

impl Ui {
    /// The dashboard of `config`.
    pub(crate) fn new(config: &Config) -> Self {
        Ui {
            sessions: Arc::new(SessionStore::new(rook_registry::time::now_ms)),
            token_hint: token_hint(config),
            pages: OnceLock::new(),
        }
    }

    fn pages(&self) -> &Pages {
        self.pages.get_or_init(|| {
            let prefix = format!("/ui/assets/{}", assets::content_hash());
            let hint = assets::escape_html(&self.token_hint);
            Pages {
                index: Bytes::from(assets::INDEX_HTML.replace("{{assets}}", &prefix)),
                login: Bytes::from(
                    assets::LOGIN_HTML
                        .replace("{{assets}}", &prefix)
                        .replace("{{token_hint}}", &hint),
                ),
                prefix,
            }
        })
    }
}

/// Where the admin token is, in the words of the sign-in page (never the token): the
/// same order as `admin_token::resolve`.
fn token_hint(config: &Config) -> String {
    let auth = &config.admin_auth;
    let from_env = |var: &str| std::env::var_os(var).is_some_and(|v| !v.is_empty());
    match auth.token_source() {
        SecretSource::File(path) if auth.is_configured() => format!(
            "The admin token is in the file {} (admin_auth.bearer_token_file).",
            path.display()
        ),
        SecretSource::Env(var) if auth.is_configured() => format!(
            "The admin token is in the environment variable {var} of rook-server \
             (admin_auth.bearer_token_env)."
        ),
        _ if from_env(DEFAULT_ADMIN_TOKEN_ENV) => format!(
            "The admin token is in the environment variable {DEFAULT_ADMIN_TOKEN_ENV} of \
             rook-server."
        ),
        _ => {
            let path = config.effective_data_dir().join(ADMIN_TOKEN_FILE);
            let path = std::path::absolute(&path).unwrap_or(path);
            format!(
                "rook-server generated the admin token into the file {} (readable only by \
                 its user). To choose your own, set {DEFAULT_ADMIN_TOKEN_ENV} or \
                 [admin_auth] bearer_token_env / bearer_token_file.",
                path.display()
            )
        }
    }
}
