//! The accounts as the doctor sees them (declared and API-managed), their
//! configuration check and the optional live probe of each.

use std::time::{Duration, Instant};

use http::HeaderValue;
use rook_gateway::rook_config::entity::DEFAULT_ANTHROPIC_VERSION;
use rook_gateway::rook_config::Protocol;
use rook_gateway::rook_config::{Config, SecretSource, Vendor};
use rook_gateway::rook_registry::seal::{self, Opened, Sealer};
use rook_gateway::rook_registry::{Registry, Source};
use rook_gateway::upstream::{build_get_with, endpoint_uri, Credentials};
use serde_json::{json, Value};

use super::access::{source_detail, source_guidance};
use super::{Check, Status};

/// An account as the doctor sees it (config-declared or API-managed).
#[derive(Debug, Clone)]
pub(super) struct Acct {
    id: String,
    vendor: String,
    protocol: Protocol,
    /// The account's `anthropic_version`, when it sets one.
    anthropic_version: Option<String>,
    base_url: Option<String>,
    source: &'static str,
    enabled: bool,
    key_source: Option<SecretSource>,
    inline_key: Option<String>,
    /// Why a stored inline key is a concern: plaintext (`Ok`) or not decryptable (`Err`).
    inline_note: Option<Result<(), String>>,
}

pub(super) async fn gather_accounts(
    config: &Config,
    registry: Option<&Registry>,
    sealer: Option<&Sealer>,
    advisories: &mut Vec<String>,
) -> Vec<Acct> {
    let mut out: Vec<Acct> = config
        .accounts
        .iter()
        .map(|a| Acct {
            id: a.id.clone(),
            vendor: a.vendor.as_str().to_string(),
            protocol: a.effective_protocol(),
            anthropic_version: a.anthropic_version.clone(),
            base_url: a.effective_base_url(),
            source: "config",
            enabled: a.enabled,
            key_source: a.api_key_source(),
            inline_key: None,
            inline_note: None,
        })
        .collect();
    if let Some(r) = registry {
        match r.list_accounts().await {
            Ok(list) => {
                for a in list.into_iter().filter(|a| a.source == Source::Api) {
                    if out.iter().any(|c| c.id == a.id) {
                        continue;
                    }
                    let key_source = match (&a.api_key_env, &a.api_key_file) {
                        (Some(v), _) => Some(SecretSource::Env(v.clone())),
                        (None, Some(p)) => Some(SecretSource::File(p.into())),
                        (None, None) => None,
                    };
                    let (inline_key, inline_note) = match &a.api_key {
                        None => (None, None),
                        Some(stored) => match seal::open_with(sealer, &a.id, stored) {
                            Ok(Opened::Sealed(k)) => (Some(k.expose().to_string()), None),
                            Ok(Opened::Legacy(k)) => (Some(k.expose().to_string()), Some(Ok(()))),
                            Err(e) => (None, Some(Err(e.to_string()))),
                        },
                    };
                    out.push(Acct {
                        id: a.id.clone(),
                        vendor: a.vendor.clone(),
                        protocol: Protocol::from_name(&a.protocol).unwrap_or(Protocol::OpenAi),
                        anthropic_version: a.anthropic_version.clone(),
                        base_url: Some(a.base_url.clone()),
                        source: "api",
                        enabled: a.enabled,
                        key_source,
                        inline_key,
                        inline_note,
                    });
                }
            }
            Err(e) => advisories.push(format!(
                "API-managed accounts were not checked: cannot list them ({e})"
            )),
        }
    }
    out
}

pub(super) fn check_accounts(accounts: &[Acct]) -> Check {
    let mut failures = Vec::new();
    let mut warnings = Vec::new();
    let mut guidance = Vec::new();
    let mut rows = Vec::new();
    for a in accounts {
        let (key, state) = if !a.enabled {
            ("-".to_string(), "disabled".to_string())
        } else if let Some(note) = &a.inline_note {
            match note {
                Ok(()) => {
                    warnings.push(format!(
                        "account {}: its inline api key is stored in plaintext (written by an \
                         earlier version)",
                        a.id
                    ));
                    guidance.push(
                        "set [secrets] master_key_env (or master_key_file) and restart rook-server, \
                         or run `rook-cli secrets rotate-master --new-key-env VAR`, to encrypt it"
                            .to_string(),
                    );
                    ("inline (plaintext)".to_string(), "plaintext".to_string())
                }
                Err(e) => {
                    failures.push(format!(
                        "account {}: its stored api key cannot be decrypted: {e}",
                        a.id
                    ));
                    guidance.push(format!(
                        "account {}: configure the master key it was sealed with, or set its key again",
                        a.id
                    ));
                    ("inline (sealed)".to_string(), "undecryptable".to_string())
                }
            }
        } else if a.inline_key.is_some() {
            ("inline (sealed)".to_string(), "ok".to_string())
        } else {
            match &a.key_source {
                None if a.vendor == Vendor::Custom.as_str() => ("none".into(), "ok".into()),
                None => {
                    warnings.push(format!(
                        "account {} ({}) has no API key source",
                        a.id, a.vendor
                    ));
                    guidance.push(format!(
                        "set api_key_env or api_key_file on account {}",
                        a.id
                    ));
                    ("none".into(), "no_key_source".into())
                }
                Some(src) => match src.resolve() {
                    Ok(_) => (src.to_string(), "ok".into()),
                    Err(e) => {
                        failures.push(format!("account {}: {e}", a.id));
                        guidance.push(format!("account {}: {}", a.id, source_guidance(src)));
                        (src.to_string(), "missing".into())
                    }
                },
            }
        };
        rows.push(json!({
            "id": a.id,
            "vendor": a.vendor,
            "source": a.source,
            "enabled": a.enabled,
            "key_source": a.key_source.as_ref().map(source_detail),
            "key": key,
            "state": state,
        }));
    }
    let enabled = accounts.iter().filter(|a| a.enabled).count();
    let check = if !failures.is_empty() {
        Check::new("accounts", Status::Fail, failures.join("; ")).guidance(guidance.join("; "))
    } else if enabled == 0 {
        Check::new(
            "accounts",
            Status::Warn,
            "no enabled accounts: every chat request will fail",
        )
        .guidance("declare [[accounts]], [[pools]] and [[routes]] in the config file")
    } else if !warnings.is_empty() {
        Check::new("accounts", Status::Warn, warnings.join("; ")).guidance(guidance.join("; "))
    } else {
        Check::new(
            "accounts",
            Status::Pass,
            format!("{enabled} enabled account(s), every key available"),
        )
    };
    check.detail("accounts", Value::Array(rows))
}

pub(super) const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) const EGRESS_GUIDANCE: &str =
    "point base_url elsewhere, or list the host (or its network) in [upstream] allowed_egress";

/// Probes the enabled accounts under the gateway's own egress policy: a base
/// URL the gateway would refuse is reported, not dialled.
pub(super) async fn probe_accounts(
    accounts: &[Acct],
    upstream: &rook_gateway::rook_config::Upstream,
) -> Vec<Check> {
    // The config was validated, so the policy is too.
    let policy = std::sync::Arc::new(upstream.egress_policy().unwrap_or_default());
    let client = rook_gateway::upstream::build_client_with_egress(
        &rook_gateway::upstream::ClientSettings {
            connect_timeout: Duration::from_secs(5),
            pool_idle_timeout: Duration::from_secs(30),
            pool_max_idle_per_host: 4,
        },
        Some(policy.clone()),
    );
    let targets: Vec<&Acct> = accounts.iter().filter(|a| a.enabled).collect();
    eprintln!("probing {} account(s) ...", targets.len());
    let mut set = tokio::task::JoinSet::new();
    for (i, a) in targets.iter().enumerate() {
        let a = (*a).clone();
        let client = client.clone();
        let policy = policy.clone();
        set.spawn(async move { (i, probe_one(&client, &policy, &a).await) });
    }
    let mut results: Vec<(usize, Check)> = Vec::new();
    while let Some(done) = set.join_next().await {
        match done {
            Ok((i, check)) => {
                eprintln!(
                    "  {}: {} - {}",
                    check.name,
                    check.status.as_str(),
                    check.summary
                );
                results.push((i, check));
            }
            Err(e) => eprintln!("  a probe task failed: {e}"),
        }
    }
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, c)| c).collect()
}

pub(super) async fn probe_one(
    client: &rook_gateway::upstream::UpstreamClient,
    policy: &rook_gateway::rook_config::egress::EgressPolicy,
    a: &Acct,
) -> Check {
    let name = format!("probe:{}", a.id);
    let Some(base_url) = &a.base_url else {
        return Check::new(name, Status::Fail, "no base_url").guidance("set base_url");
    };
    if let Err(e) = policy.check_url(base_url) {
        return Check::new(name, Status::Fail, e.to_string()).guidance(EGRESS_GUIDANCE);
    }
    let key = match (&a.inline_key, &a.key_source) {
        (Some(k), _) => Some(k.clone()),
        (None, Some(src)) => match src.resolve() {
            Ok(s) => Some(s.expose().to_string()),
            Err(e) => {
                return Check::new(name, Status::Warn, format!("not probed: {e}"))
                    .guidance("fix the key first (see the accounts check)")
            }
        },
        (None, None) => None,
    };
    let uri = match endpoint_uri(base_url, "/models") {
        Ok(u) => u,
        Err(e) => return Check::new(name, Status::Fail, format!("bad base_url: {e}")),
    };
    let url = uri.to_string();
    // Each protocol presents the key its own way (all three list models at
    // `{base_url}/models`).
    let version = HeaderValue::from_str(
        a.anthropic_version
            .as_deref()
            .unwrap_or(DEFAULT_ANTHROPIC_VERSION),
    )
    .unwrap_or(HeaderValue::from_static(DEFAULT_ANTHROPIC_VERSION));
    let credentials = match (a.protocol, key.as_deref()) {
        (Protocol::Anthropic, key) => Credentials::Anthropic {
            key,
            version: &version,
            force: true,
        },
        (_, None) => Credentials::None,
        (Protocol::Gemini, Some(k)) => Credentials::Google(k),
        (_, Some(k)) => Credentials::Bearer(k),
    };
    let req = match build_get_with(uri, credentials) {
        Ok(r) => r,
        Err(e) => return Check::new(name, Status::Fail, format!("cannot build the request: {e}")),
    };
    let started = Instant::now();
    let outcome = tokio::time::timeout(PROBE_TIMEOUT, client.request(req)).await;
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let base = |status, summary: String| {
        Check::new(name.clone(), status, summary)
            .detail("url", url.clone())
            .detail("latency_ms", latency_ms)
    };
    match outcome {
        Err(_) => base(
            Status::Fail,
            format!(
                "unreachable: no answer within {} s",
                PROBE_TIMEOUT.as_secs()
            ),
        )
        .guidance("check base_url, DNS, proxies and the firewall"),
        Ok(Err(e)) => match rook_gateway::upstream::denied_in(&e) {
            Some(d) => base(Status::Fail, d.to_string()).guidance(EGRESS_GUIDANCE),
            None => base(Status::Fail, format!("unreachable: {e}"))
                .guidance("check base_url, DNS, proxies and the firewall"),
        },
        Ok(Ok(resp)) => {
            let code = resp.status().as_u16();
            let c = if resp.status().is_success() {
                base(
                    Status::Pass,
                    format!("reachable, key accepted (HTTP {code}, {latency_ms} ms)"),
                )
            } else if code == 401 || code == 403 {
                base(Status::Fail, format!("key rejected (HTTP {code})"))
                    .guidance("replace the account's API key or check its permissions")
            } else {
                base(
                    Status::Warn,
                    format!("reachable but answered HTTP {code} to GET /models"),
                )
                .guidance("the vendor may not offer /models; check base_url")
            };
            c.detail("http_status", code)
        }
    }
}
