//! A small JSON client for the admin API (`--server URL`).

use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full};
use rook_gateway::upstream::{build_client, endpoint_uri, ClientSettings, UpstreamClient};
use serde_json::Value;

use crate::admin_token::discover;
use crate::common::CliError;
use crate::GlobalArgs;

const TIMEOUT: Duration = Duration::from_secs(30);

/// A client of one Rook server's admin API.
pub(crate) struct AdminClient {
    base: String,
    token: Option<String>,
    /// Where the token came from (e.g. `environment variable ROOK_ADMIN_TOKEN`).
    token_source: String,
    /// Every source tried when none gave a token.
    tried: Vec<String>,
    client: UpstreamClient,
}

impl std::fmt::Debug for AdminClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminClient")
            .field("base", &self.base)
            .field("token_source", &self.token_source)
            .finish_non_exhaustive()
    }
}

/// A client with the settings the CLI uses for short HTTP calls.
pub(crate) fn http_client() -> UpstreamClient {
    build_client(&ClientSettings {
        connect_timeout: Duration::from_secs(5),
        pool_idle_timeout: Duration::from_secs(30),
        pool_max_idle_per_host: 4,
    })
}

impl AdminClient {
    /// A client of `server` (e.g. `http://127.0.0.1:4141`), authenticating with
    /// the token in the environment variable `token_env` when it is set, else (for
    /// a loopback server only) the configuration's admin token or the file
    /// `rook-server` generated (see [`crate::admin_token`]).
    pub(crate) fn new(server: &str, token_env: &str, g: &GlobalArgs) -> Result<Self, CliError> {
        let base = server.trim().trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(CliError::fail(format!(
                "--server must be an http:// or https:// URL, got {server:?}"
            )));
        }
        let found = discover(&base, token_env, g);
        let (token, token_source) = match found.found {
            Some(f) => (Some(f.token), f.source),
            None => (None, String::new()),
        };
        Ok(AdminClient {
            base,
            token,
            token_source,
            tried: found.tried,
            client: http_client(),
        })
    }

    /// Sends a request; returns the parsed JSON body of a 2xx answer
    /// (`Value::Null` for an empty body), else a failure carrying the
    /// server's `{"error":{"code","message"}}`.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, CliError> {
        let (status, json) = self.exchange(method.clone(), path, body).await?;
        if status.is_success() {
            return Ok(json);
        }
        Err(CliError::fail(self.describe_failure(
            status,
            &json,
            &format!("{method} {path}"),
        )))
    }

    /// Sends a request; returns the status and the parsed JSON body (a JSON string
    /// when the body is not JSON, `Value::Null` when empty) whatever the status. Fails
    /// only when the server cannot be reached or does not answer in time.
    pub(crate) async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(http::StatusCode, Value), CliError> {
        let uri = endpoint_uri(&self.base, path)
            .map_err(|e| CliError::fail(format!("bad URL {}{path}: {e}", self.base)))?;
        let bytes = match body {
            Some(v) => {
                Bytes::from(serde_json::to_vec(v).map_err(|e| CliError::fail(e.to_string()))?)
            }
            None => Bytes::new(),
        };
        let mut builder = Request::builder()
            .method(method.clone())
            .uri(uri)
            .header(header::ACCEPT, "application/json");
        // Every write declares JSON (the server refuses other writes with 415).
        if body.is_some() || method != Method::GET {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
        }
        if let Some(token) = &self.token {
            let mut v = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                CliError::fail(format!(
                    "the admin token from {} holds characters not allowed in a header",
                    self.token_source
                ))
            })?;
            v.set_sensitive(true);
            builder = builder.header(header::AUTHORIZATION, v);
        }
        let req = builder
            .body(Full::new(bytes))
            .map_err(|e| CliError::fail(format!("cannot build the request: {e}")))?;
        let exchange = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| CliError::fail(format!("cannot reach {}: {e}", self.base)))?;
            let status = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| CliError::fail(format!("reading the answer of {}: {e}", self.base)))?
                .to_bytes();
            Ok::<_, CliError>((status, body))
        };
        let (status, body) = tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| {
                CliError::fail(format!(
                    "{} did not answer within {}s",
                    self.base,
                    TIMEOUT.as_secs()
                ))
            })??;
        let json: Value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
        };
        Ok((status, json))
    }

    /// The server's base URL.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// A failed answer as one line: `server answered 404 to GET /api/x: not_found: …`,
    /// with a hint about the token on 401.
    pub(crate) fn describe_failure(
        &self,
        status: http::StatusCode,
        json: &Value,
        what: &str,
    ) -> String {
        let (code, message) = match json.get("error") {
            Some(err) => (
                err.get("code")
                    .and_then(Value::as_str)
                    .unwrap_or("error")
                    .to_string(),
                err.get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            ),
            None => (
                "error".to_string(),
                json.as_str().unwrap_or("").chars().take(300).collect(),
            ),
        };
        let mut text = format!(
            "server answered {} to {what}: {code}: {message}",
            status.as_u16()
        );
        if status.as_u16() == 401 {
            if self.token.is_none() {
                text.push_str(&format!(
                    " (no admin token found; tried: {})",
                    self.tried.join("; ")
                ));
            } else {
                text.push_str(&format!(" (check the token from {})", self.token_source));
            }
        }
        text
    }
}

/// The list in a list answer: a bare array, or the array under `key`,
/// `data` or `items`.
pub(crate) fn list_of(answer: Value, key: &str) -> Result<Vec<Value>, CliError> {
    match answer {
        Value::Array(items) => Ok(items),
        Value::Object(mut obj) => {
            for k in [key, "data", "items"] {
                if let Some(Value::Array(items)) = obj.remove(k) {
                    return Ok(items);
                }
            }
            Err(CliError::fail(format!(
                "unexpected answer from the server: no `{key}` list"
            )))
        }
        _ => Err(CliError::fail(
            "unexpected answer from the server: not a JSON list",
        )),
    }
}

/// The single record in an answer: the object itself, or the object under
/// `key`.
pub(crate) fn record_of(answer: Value, key: &str) -> Value {
    match answer {
        Value::Object(mut obj) => match obj.remove(key) {
            Some(inner @ Value::Object(_)) => inner,
            Some(other) => {
                obj.insert(key.to_string(), other);
                Value::Object(obj)
            }
            None => Value::Object(obj),
        },
        other => other,
    }
}
