//! Who can reach what: the inbound and admin credentials, the bind address and
//! the `[secrets]` master key.

use rook_gateway::rook_config::{Config, SecretSource, ADMIN_TOKEN_FILE};
use rook_gateway::rook_registry::seal::Sealer;
use serde_json::{json, Value};

use super::{Check, Status};

pub(super) fn source_detail(s: &SecretSource) -> Value {
    match s {
        SecretSource::Env(v) => json!({"env": v}),
        SecretSource::File(p) => json!({"file": p.display().to_string()}),
    }
}

pub(super) fn source_guidance(s: &SecretSource) -> String {
    match s {
        SecretSource::Env(v) => format!("set the environment variable {v} (non-empty)"),
        SecretSource::File(p) => format!("make {} readable and non-empty", p.display()),
    }
}

pub(super) fn check_inbound_auth(config: &Config) -> Check {
    let ia = &config.inbound_auth;
    let source = ia.token_source();
    let c = |status, summary: String| {
        Check::new("inbound_auth", status, summary)
            .detail("enabled", ia.enabled)
            .detail("token_source", source_detail(&source))
    };
    if !ia.enabled {
        return if config.bind_is_loopback() {
            c(
                Status::Pass,
                "disabled; note: acceptable only because the bind is loopback (local clients only)"
                    .into(),
            )
        } else {
            c(
                Status::Fail,
                format!(
                    "disabled on the non-loopback bind {}: anyone who can reach it can spend the provider accounts",
                    config.host
                ),
            )
            .guidance(format!(
                "set [inbound_auth] enabled = true and provide the token ({source})"
            ))
        };
    }
    match ia.resolve_token() {
        Ok(_) => c(Status::Pass, format!("enabled; token from {source}")),
        Err(e) => c(
            Status::Fail,
            format!("enabled but the token is unavailable: {e}"),
        )
        .guidance(source_guidance(&source)),
    }
}

pub(super) fn check_admin_auth(config: &Config) -> Check {
    let aa = &config.admin_auth;
    let source = aa.token_source();
    let c = |status, summary: String| {
        Check::new("admin_auth", status, summary)
            .detail("token_source", source_detail(&source))
            .detail("probes_without_auth", aa.probes_without_auth)
    };
    match aa.resolve_token() {
        Ok(token) => match aa.check_token(&token) {
            Ok(()) => c(Status::Pass, format!("token from {source}")),
            Err(p) => c(Status::Fail, format!("{p}: the server refuses to start"))
                .guidance("use a token of at least 16 characters (e.g. `openssl rand -hex 32`)"),
        },
        Err(e) if aa.is_configured() => c(
            Status::Fail,
            format!("configured admin token unavailable ({e}): the server refuses to start"),
        )
        .guidance(source_guidance(&source)),
        Err(_) if config.bind_is_loopback() => {
            let file = config.effective_data_dir().join(ADMIN_TOKEN_FILE);
            let state = if file.exists() {
                "exists"
            } else {
                "created at first start"
            };
            c(
                Status::Pass,
                format!(
                    "no admin token configured: rook-server generates one into {} ({state}, \
                     mode 0600); rook-cli reads it for --server calls to this machine",
                    file.display()
                ),
            )
            .detail("generated_token_file", file.display().to_string())
        }
        Err(e) => c(
            Status::Fail,
            format!("no admin token ({e}): the server refuses to start on a non-loopback bind"),
        )
        .guidance(source_guidance(&source)),
    }
}

pub(super) fn check_bind(config: &Config) -> Check {
    let addr = config.listen_address();
    let loopback = config.bind_is_loopback();
    let base = |status, summary: String| {
        Check::new("bind", status, summary)
            .detail("address", addr.clone())
            .detail("loopback", loopback)
    };
    if loopback {
        return base(Status::Pass, format!("{addr} (loopback only)"));
    }
    let mut problems = Vec::new();
    let mut guidance = Vec::new();
    if !config.inbound_auth.enabled || config.inbound_auth.resolve_token().is_err() {
        problems.push("no inbound auth".to_string());
        guidance.push("enable [inbound_auth] with a token".to_string());
    }
    if config.admin_auth.resolve_token().is_err() {
        problems.push("no admin token (the server refuses to start)".to_string());
        guidance.push(source_guidance(&config.admin_auth.token_source()));
    }
    if problems.is_empty() {
        base(
            Status::Pass,
            format!("{addr} is external; inbound and admin auth are set"),
        )
    } else {
        base(
            Status::Fail,
            format!("{addr} is external with {}", problems.join(" and ")),
        )
        .guidance(format!("{}, or bind to 127.0.0.1", guidance.join("; ")))
    }
}

/// The `[secrets]` master key: configured and well-formed (then its sealer), or not.
pub(super) fn check_secrets(config: &Config) -> (Check, Option<Sealer>) {
    let source = config.secrets.master_key_source();
    let c = |status, summary: String| {
        Check::new("secrets", status, summary).detail(
            "master_key_source",
            source.as_ref().map_or(Value::Null, source_detail),
        )
    };
    match config.secrets.resolve_master_key() {
        Ok(None) => (
            c(
                Status::Pass,
                "no master key: inline api keys are refused (accounts use api_key_env / api_key_file)"
                    .into(),
            ),
            None,
        ),
        Ok(Some(key)) => match Sealer::new(&key) {
            Ok(s) => (
                c(
                    Status::Pass,
                    format!("master key from {} (key id {})", source.as_ref().map_or_else(String::new, ToString::to_string), s.key_id()),
                )
                .detail("key_id", s.key_id()),
                Some(s),
            ),
            Err(e) => (c(Status::Fail, format!("master key: {e}")), None),
        },
        Err(e) => (
            c(Status::Fail, format!("{e}: rook-server refuses to start"))
                .guidance("give 32 random bytes as 64 hex digits or base64 (`openssl rand -hex 32`)"),
            None,
        ),
    }
}
