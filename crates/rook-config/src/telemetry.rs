//! `[telemetry]`: OpenTelemetry trace export (OTLP over HTTP/protobuf), opt-in.
//!
//! Off unless `otlp_endpoint` is set. The collector's auth header value is a
//! secret, read like every other one from an environment variable or a file
//! (`auth_header_value_env` / `auth_header_value_file`), never inline; the
//! redacted export shows `[redacted]` in its place.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::entity::{check_base_url, is_env_var_name};
use crate::secret::{Secret, SecretError, SecretSource};
use crate::validate::Problem;

/// The path OTLP/HTTP receivers serve traces on.
pub const OTLP_TRACES_PATH: &str = "/v1/traces";

/// `[telemetry]`: see the module docs and `docs/configuration.md`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Telemetry {
    /// The OTLP/HTTP collector (`http://` or `https://`); spans are POSTed to
    /// `<endpoint>/v1/traces` unless the path already ends in `/v1/traces`.
    /// `None` (default): telemetry is off.
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the exported resource. Default `rook`.
    pub service_name: String,
    /// Share of requests that start a trace (no sampled `traceparent` from the
    /// client) that are recorded. Default `1.0`; `0..=1`.
    pub sample_ratio: f64,
    /// Export the request messages and buffered completions (size-capped).
    /// Default `false`.
    pub capture_content: bool,
    /// Finished spans held for export before new ones are dropped (counted).
    /// Default `2048`; `1..=1000000`.
    pub queue_size: u32,
    /// Most spans per export. Default `512`; `1..=queue_size`.
    pub max_batch: u32,
    /// Longest wait before a partial batch is exported. Default `1000`;
    /// `10..=600000`.
    pub export_interval_ms: u64,
    /// Time allowed to one export POST. Default `5000`; `100..=600000`.
    pub export_timeout_ms: u64,
    /// The header carrying the collector credential. Default `authorization`.
    pub auth_header: String,
    /// Environment variable holding the header's value (e.g. `Bearer …`).
    pub auth_header_value_env: Option<String>,
    /// File holding the header's value (surrounding whitespace trimmed).
    pub auth_header_value_file: Option<PathBuf>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            service_name: "rook".to_owned(),
            sample_ratio: 1.0,
            capture_content: false,
            queue_size: 2048,
            max_batch: 512,
            export_interval_ms: 1000,
            export_timeout_ms: 5000,
            auth_header: "authorization".to_owned(),
            auth_header_value_env: None,
            auth_header_value_file: None,
        }
    }
}

impl Telemetry {
    /// Whether traces are exported (`otlp_endpoint` set).
    pub fn enabled(&self) -> bool {
        self.otlp_endpoint.is_some()
    }

    /// The URL spans are POSTed to: the endpoint with `/v1/traces` appended,
    /// unless its path already ends in it. `None` when telemetry is off.
    pub fn traces_url(&self) -> Option<String> {
        let endpoint = self.otlp_endpoint.as_deref()?;
        let base = endpoint.trim_end_matches('/');
        if base.ends_with(OTLP_TRACES_PATH) {
            return Some(base.to_owned());
        }
        Some(format!("{base}{OTLP_TRACES_PATH}"))
    }

    /// Where the auth header's value comes from; `None` when neither key is set.
    pub fn auth_source(&self) -> Option<SecretSource> {
        match (&self.auth_header_value_file, &self.auth_header_value_env) {
            (Some(path), _) => Some(SecretSource::File(path.clone())),
            (None, Some(var)) => Some(SecretSource::Env(var.clone())),
            (None, None) => None,
        }
    }

    /// Reads the auth header's value: `Ok(None)` when none is configured.
    pub fn resolve_auth(&self) -> Result<Option<Secret>, SecretError> {
        self.auth_source().map(|s| s.resolve()).transpose()
    }
}

/// Headers the exporter sets itself or that HTTP forbids as a credential carrier.
const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "host",
    "connection",
    "transfer-encoding",
    "te",
    "upgrade",
    "keep-alive",
    "trailer",
];

/// Every problem of `[telemetry]`, each naming its key.
pub(crate) fn check(t: &Telemetry) -> Vec<Problem> {
    let mut p = Vec::new();
    let mut push = |key: &str, message: String| p.push(Problem::new(key, message));
    if let Some(url) = &t.otlp_endpoint {
        let authority = url
            .split_once("://")
            .map_or("", |(_, rest)| rest.split('/').next().unwrap_or_default());
        if authority.contains('@') {
            push(
                "telemetry.otlp_endpoint",
                "must not contain credentials (`user:pass@`); use auth_header_value_env or \
                 auth_header_value_file"
                    .to_owned(),
            );
        } else if let Err(message) = check_base_url(url) {
            push("telemetry.otlp_endpoint", message);
        }
    }
    let name = t.service_name.trim();
    if name.is_empty() || name.len() > 255 || name.chars().any(char::is_control) {
        push(
            "telemetry.service_name",
            "must be 1 to 255 characters without control characters".to_owned(),
        );
    }
    if !(t.sample_ratio.is_finite() && (0.0..=1.0).contains(&t.sample_ratio)) {
        push(
            "telemetry.sample_ratio",
            format!("must be in 0..=1, got {}", t.sample_ratio),
        );
    }
    let mut range = |key: &str, value: u64, min: u64, max: u64| {
        if value < min || value > max {
            push(key, format!("must be in {min}..={max}, got {value}"));
        }
    };
    range(
        "telemetry.queue_size",
        u64::from(t.queue_size),
        1,
        1_000_000,
    );
    range(
        "telemetry.max_batch",
        u64::from(t.max_batch),
        1,
        u64::from(t.queue_size.max(1)),
    );
    range(
        "telemetry.export_interval_ms",
        t.export_interval_ms,
        10,
        600_000,
    );
    range(
        "telemetry.export_timeout_ms",
        t.export_timeout_ms,
        100,
        600_000,
    );
    let header = t.auth_header.as_str();
    let token = !header.is_empty()
        && header
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c));
    if !token {
        push(
            "telemetry.auth_header",
            "must be an HTTP header name (letters, digits and !#$%&'*+-.^_`|~)".to_owned(),
        );
    } else if RESERVED_HEADERS.contains(&header.to_ascii_lowercase().as_str()) {
        push(
            "telemetry.auth_header",
            format!("`{header}` is set by the exporter itself; name another header"),
        );
    }
    if let Some(var) = &t.auth_header_value_env {
        if !is_env_var_name(var) {
            // Not echoed: a credential pasted here by mistake must not reach the logs.
            push(
                "telemetry.auth_header_value_env",
                "is not an environment variable name (letters, digits and `_`, not starting \
                 with a digit); put the header value itself in that variable"
                    .to_owned(),
            );
        }
    }
    if let Some(path) = &t.auth_header_value_file {
        if path.as_os_str().is_empty() {
            push(
                "telemetry.auth_header_value_file",
                "must not be empty; give a file path or remove the key".to_owned(),
            );
        }
    }
    if t.auth_header_value_env.is_some() && t.auth_header_value_file.is_some() {
        push(
            "telemetry",
            "set only one of auth_header_value_env and auth_header_value_file".to_owned(),
        );
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(t: &Telemetry) -> Vec<String> {
        check(t).into_iter().map(|p| p.key).collect()
    }

    #[test]
    fn defaults_are_off_and_valid() {
        let t = Telemetry::default();
        assert!(!t.enabled());
        assert_eq!(t.traces_url(), None);
        assert!(check(&t).is_empty());
    }

    #[test]
    fn the_traces_path_is_appended_once() {
        let url = |e: &str| {
            Telemetry {
                otlp_endpoint: Some(e.into()),
                ..Telemetry::default()
            }
            .traces_url()
        };
        let cases = [
            ("http://otel:4318", "http://otel:4318/v1/traces"),
            ("http://otel:4318/", "http://otel:4318/v1/traces"),
            ("https://x.example/otlp", "https://x.example/otlp/v1/traces"),
            ("http://otel:4318/v1/traces", "http://otel:4318/v1/traces"),
            ("http://otel:4318/v1/traces/", "http://otel:4318/v1/traces"),
        ];
        for (endpoint, want) in cases {
            assert_eq!(url(endpoint).as_deref(), Some(want), "{endpoint}");
        }
    }

    #[test]
    fn problems_name_their_keys() {
        let cases: Vec<(Telemetry, &[&str])> = vec![
            (
                Telemetry {
                    otlp_endpoint: Some("ftp://x".into()),
                    ..Telemetry::default()
                },
                &["telemetry.otlp_endpoint"],
            ),
            (
                Telemetry {
                    otlp_endpoint: Some("https://user:secret@x.example".into()),
                    ..Telemetry::default()
                },
                &["telemetry.otlp_endpoint"],
            ),
            (
                Telemetry {
                    otlp_endpoint: Some("http://x:4318?token=1".into()),
                    ..Telemetry::default()
                },
                &["telemetry.otlp_endpoint"],
            ),
            (
                Telemetry {
                    sample_ratio: 1.5,
                    service_name: " ".into(),
                    ..Telemetry::default()
                },
                &["telemetry.service_name", "telemetry.sample_ratio"],
            ),
            (
                Telemetry {
                    sample_ratio: f64::NAN,
                    ..Telemetry::default()
                },
                &["telemetry.sample_ratio"],
            ),
            (
                Telemetry {
                    queue_size: 0,
                    max_batch: 0,
                    export_interval_ms: 1,
                    export_timeout_ms: 99,
                    ..Telemetry::default()
                },
                &[
                    "telemetry.queue_size",
                    "telemetry.max_batch",
                    "telemetry.export_interval_ms",
                    "telemetry.export_timeout_ms",
                ],
            ),
            (
                Telemetry {
                    queue_size: 10,
                    max_batch: 11,
                    ..Telemetry::default()
                },
                &["telemetry.max_batch"],
            ),
            (
                Telemetry {
                    auth_header: "bad header".into(),
                    ..Telemetry::default()
                },
                &["telemetry.auth_header"],
            ),
            (
                Telemetry {
                    auth_header: "Content-Type".into(),
                    ..Telemetry::default()
                },
                &["telemetry.auth_header"],
            ),
            (
                Telemetry {
                    auth_header_value_env: Some("Bearer abc".into()),
                    auth_header_value_file: Some(PathBuf::new()),
                    ..Telemetry::default()
                },
                &[
                    "telemetry.auth_header_value_env",
                    "telemetry.auth_header_value_file",
                    "telemetry",
                ],
            ),
        ];
        for (t, want) in cases {
            assert_eq!(keys(&t), want.to_vec(), "{t:?}");
        }
        // A credential pasted into the env key is not echoed.
        let t = Telemetry {
            auth_header_value_env: Some("Bearer sk-secret-value".into()),
            ..Telemetry::default()
        };
        assert!(check(&t).iter().all(|p| !p.message.contains("sk-secret")));
        let t = Telemetry {
            otlp_endpoint: Some("https://u:sk-secret@x.example".into()),
            ..Telemetry::default()
        };
        assert!(check(&t).iter().all(|p| !p.message.contains("sk-secret")));
    }

    #[test]
    fn parsed_from_toml_and_redacted_in_the_export() {
        let config = crate::Config::from_toml_str(
            r#"
            [telemetry]
            otlp_endpoint = "http://127.0.0.1:4318"
            sample_ratio = 0.25
            capture_content = true
            auth_header = "x-honeycomb-team"
            auth_header_value_env = "OTEL_AUTH"
            "#,
        )
        .unwrap();
        let t = &config.telemetry;
        assert!(t.enabled());
        assert_eq!(t.sample_ratio, 0.25);
        assert!(t.capture_content);
        assert_eq!(t.queue_size, 2048);
        let json = config.to_redacted_json();
        assert_eq!(json["telemetry"]["auth_header_value"], "[redacted]");
        assert_eq!(json["telemetry"]["auth_header_value_env"], "OTEL_AUTH");
        let err = crate::Config::from_toml_str("[telemetry]\notlp_endpiont = \"http://x\"\n")
            .unwrap_err();
        assert!(err.to_string().contains("otlp_endpiont"), "{err}");
        let err = crate::Config::from_toml_str("[telemetry]\nsample_ratio = 2.0\n").unwrap_err();
        assert!(err.to_string().contains("telemetry.sample_ratio"), "{err}");
    }

    #[test]
    fn the_auth_value_is_read_from_its_source() {
        let dir = std::env::temp_dir().join(format!("rook-telemetry-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("otel-auth");
        std::fs::write(&file, "Bearer from-file\n").unwrap();
        let t = Telemetry {
            auth_header_value_file: Some(file.clone()),
            ..Telemetry::default()
        };
        assert_eq!(
            t.resolve_auth().unwrap().map(|s| s.expose().to_owned()),
            Some("Bearer from-file".to_owned())
        );
        assert!(Telemetry::default().resolve_auth().unwrap().is_none());
        let missing = Telemetry {
            auth_header_value_env: Some("ROOK_TEST_UNSET_OTEL_AUTH_VAR".into()),
            ..Telemetry::default()
        };
        assert!(missing.resolve_auth().is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
