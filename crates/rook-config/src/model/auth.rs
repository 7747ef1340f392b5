//! `[inbound_auth]` and `[admin_auth]`: where the bearer tokens come from.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::secret::{Secret, SecretError, SecretSource};

use super::{DEFAULT_ADMIN_TOKEN_ENV, DEFAULT_INBOUND_TOKEN_ENV};

/// `[inbound_auth]`: bearer-token authentication of `/v1/*` clients.
///
/// The token comes from `bearer_token_file` when set, else from the
/// environment variable `bearer_token_env` (default `ROOK_TOKEN`). Setting
/// both is invalid. Use [`InboundAuth::token_source`] and
/// [`InboundAuth::resolve_token`] rather than reading the fields.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InboundAuth {
    /// Whether clients must present `Authorization: Bearer <token>`.
    /// Default `false`.
    pub enabled: bool,
    /// Environment variable holding the token; `None` means the default
    /// name `ROOK_TOKEN` (unless `bearer_token_file` is set).
    pub bearer_token_env: Option<String>,
    /// File holding the token (surrounding whitespace is trimmed).
    pub bearer_token_file: Option<PathBuf>,
}

impl InboundAuth {
    /// Where the token is read from: the file if set, else the environment
    /// variable (`bearer_token_env`, default `ROOK_TOKEN`). Reported whether
    /// or not `enabled` is set.
    pub fn token_source(&self) -> SecretSource {
        token_source(
            self.bearer_token_env.as_deref(),
            self.bearer_token_file.as_ref(),
            DEFAULT_INBOUND_TOKEN_ENV,
        )
    }

    /// Reads the inbound bearer token: `Ok(None)` when inbound auth is
    /// disabled, else the token from [`InboundAuth::token_source`]. Fail the
    /// start on `Err`.
    pub fn resolve_token(&self) -> Result<Option<Secret>, SecretError> {
        if !self.enabled {
            return Ok(None);
        }
        self.token_source().resolve().map(Some)
    }
}

/// `[admin_auth]`: bearer-token authentication of the `/api/*` admin API.
///
/// The admin API is always authenticated. The token comes from
/// `bearer_token_file` when set, else from the environment variable
/// `bearer_token_env` (default `ROOK_ADMIN_TOKEN`). Setting both is invalid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminAuth {
    /// Environment variable holding the token; `None` means the default
    /// name `ROOK_ADMIN_TOKEN` (unless `bearer_token_file` is set).
    pub bearer_token_env: Option<String>,
    /// File holding the token (surrounding whitespace is trimmed).
    pub bearer_token_file: Option<PathBuf>,
    /// Whether `/api/health/live` and `/api/health/ready` are reachable
    /// without the admin token (for orchestrator probes). Default `true`.
    pub probes_without_auth: bool,
}

impl Default for AdminAuth {
    fn default() -> Self {
        Self {
            bearer_token_env: None,
            bearer_token_file: None,
            probes_without_auth: true,
        }
    }
}

/// Shortest admin token accepted at start (characters).
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;

/// File name of the admin token `rook-server` generates in the data directory
/// when no admin token is configured.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

impl AdminAuth {
    /// Whether an admin token source is configured (`bearer_token_env` or
    /// `bearer_token_file` set). Without one, `rook-server` uses the default
    /// variable `ROOK_ADMIN_TOKEN` when it is set, else the generated
    /// `<data_dir>/admin-token`.
    pub fn is_configured(&self) -> bool {
        self.bearer_token_env.is_some() || self.bearer_token_file.is_some()
    }

    /// Checks a resolved admin token's length; the problem names the key the
    /// token came from (`admin_auth.bearer_token_env` or `…_file`), never the value.
    pub fn check_token(&self, token: &Secret) -> Result<(), crate::Problem> {
        let len = token.expose().chars().count();
        if len >= MIN_ADMIN_TOKEN_LEN {
            return Ok(());
        }
        let key = match self.token_source() {
            SecretSource::File(_) => "admin_auth.bearer_token_file",
            SecretSource::Env(_) => "admin_auth.bearer_token_env",
        };
        Err(crate::Problem::new(
            key,
            format!(
                "the admin token from {} is {len} characters; at least {MIN_ADMIN_TOKEN_LEN} \
                 are required (e.g. `openssl rand -hex 32`)",
                self.token_source()
            ),
        ))
    }

    /// Where the token is read from: the file if set, else the environment
    /// variable (`bearer_token_env`, default `ROOK_ADMIN_TOKEN`).
    pub fn token_source(&self) -> SecretSource {
        token_source(
            self.bearer_token_env.as_deref(),
            self.bearer_token_file.as_ref(),
            DEFAULT_ADMIN_TOKEN_ENV,
        )
    }

    /// Reads the admin bearer token from [`AdminAuth::token_source`].
    pub fn resolve_token(&self) -> Result<Secret, SecretError> {
        self.token_source().resolve()
    }
}

fn token_source(env: Option<&str>, file: Option<&PathBuf>, default_env: &str) -> SecretSource {
    match (file, env) {
        (Some(path), _) => SecretSource::File(path.clone()),
        (None, Some(var)) => SecretSource::Env(var.to_owned()),
        (None, None) => SecretSource::Env(default_env.to_owned()),
    }
}
