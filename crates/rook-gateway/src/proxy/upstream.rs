//! The upstream HTTP client and how requests are built for each vendor.
//!
//! Public because `rook-cli` uses the same client and request builder for its
//! `--server` calls and `doctor --probe`.
//!
//! One pooled client (hyper-util's, over rustls with the webpki roots) serves every
//! account: HTTP/1.1 and, where TLS negotiates it, HTTP/2. Redirects are never
//! followed. The client's `Authorization` never goes upstream: each request
//! carries the account's own credentials, the request id as `x-request-id`, and
//! only end-to-end headers that are safe to pass on. (Which response headers
//! come back to the client is decided by `proxy/headers.rs`, an allowlist.)

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::Full;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rook_config::egress::EgressPolicy;

pub use super::egress::{denied_in, EgressConnector};

/// The pooled upstream client.
pub type UpstreamClient = Client<HttpsConnector<EgressConnector>, Full<Bytes>>;

/// Settings of the upstream client.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// How long idle pooled connections are kept.
    pub pool_idle_timeout: Duration,
    /// Idle pooled connections kept per host.
    pub pool_max_idle_per_host: usize,
}

/// Builds a client that dials any address (the CLI's calls to its own server).
pub fn build_client(s: &ClientSettings) -> UpstreamClient {
    build_client_with_egress(s, None)
}

/// Builds the shared upstream client; with a policy, every address it dials
/// is checked against it (the egress policy at connect time).
pub fn build_client_with_egress(
    s: &ClientSettings,
    policy: Option<Arc<EgressPolicy>>,
) -> UpstreamClient {
    let http = EgressConnector::new(s.connect_timeout, policy);
    let https = HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .pool_idle_timeout(s.pool_idle_timeout)
        .pool_max_idle_per_host(s.pool_max_idle_per_host)
        .build(https)
}

/// Request headers that are never forwarded upstream.
///
/// Hop-by-hop headers (RFC 9110 §7.6.1), the client's credentials, headers Rook
/// sets itself, and `accept-encoding` (Rook reads the upstream body, so it asks for
/// identity encoding). The client's `openai-organization`/`openai-project` name the
/// client's own OpenAI account, not the upstream account's, so they are dropped too.
fn is_dropped_request_header(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
            | "authorization"
            | "x-api-key"
            | "x-goog-api-key"
            | "api-key"
            | "cookie"
            | "accept-encoding"
            | "x-request-id"
            | "idempotency-key"
            | "forwarded"
            | "x-forwarded-for"
            | "x-forwarded-host"
            | "x-forwarded-proto"
            | "x-real-ip"
            | "openai-organization"
            | "openai-project"
    ) || name.as_str().starts_with("x-rook-")
}

/// How an account's key is presented, by its protocol.
#[derive(Debug, Clone, Copy)]
pub enum Credentials<'a> {
    /// No key.
    None,
    /// `Authorization: Bearer <key>` (OpenAI and compatible servers).
    Bearer(&'a str),
    /// `x-api-key: <key>` and `anthropic-version` (never `Authorization`).
    Anthropic {
        /// The key, when the account has one.
        key: Option<&'a str>,
        /// The `anthropic-version` to send.
        version: &'a HeaderValue,
        /// Send `version` even when the client sent its own (the account set
        /// `anthropic_version`); otherwise the client's is kept.
        force: bool,
    },
    /// `x-goog-api-key: <key>` (Gemini).
    Google(&'a str),
}

/// Everything needed to send one attempt.
#[derive(Debug)]
pub struct UpstreamRequest<'a> {
    /// `{base_url}/chat/completions` etc.
    pub uri: Uri,
    /// The account's credentials, presented as its protocol expects.
    pub credentials: Credentials<'a>,
    /// The request id, sent as `x-request-id`.
    pub request_id: &'a str,
    /// The client's headers (filtered here).
    pub client_headers: &'a HeaderMap,
    /// The body to send.
    pub body: Bytes,
    /// `true` for SSE requests (sets `accept: text/event-stream`).
    pub stream: bool,
}

/// Joins an account's base URL (with its version path) and an endpoint path.
pub fn endpoint_uri(base_url: &str, path: &str) -> Result<Uri, http::uri::InvalidUri> {
    let mut s = String::with_capacity(base_url.len() + path.len());
    s.push_str(base_url.trim_end_matches('/'));
    s.push_str(path);
    s.parse()
}

/// Builds the upstream request for one attempt.
pub fn build_request(r: UpstreamRequest<'_>) -> Result<Request<Full<Bytes>>, http::Error> {
    let mut builder = Request::builder().method(Method::POST).uri(r.uri);
    if let Some(h) = builder.headers_mut() {
        for (name, value) in r.client_headers {
            if !is_dropped_request_header(name) {
                h.append(name.clone(), value.clone());
            }
        }
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(r.body.len()));
        if r.stream {
            h.insert(
                header::ACCEPT,
                HeaderValue::from_static("text/event-stream"),
            );
        }
        if let Ok(v) = HeaderValue::from_str(r.request_id) {
            h.insert("x-request-id", v);
        }
        match r.credentials {
            Credentials::None => {}
            Credentials::Bearer(key) => {
                let mut v = String::with_capacity(7 + key.len());
                v.push_str("Bearer ");
                v.push_str(key);
                insert_secret(h, header::AUTHORIZATION, &v);
            }
            Credentials::Anthropic {
                key,
                version,
                force,
            } => {
                if let Some(key) = key {
                    insert_secret(h, HeaderName::from_static("x-api-key"), key);
                }
                if force || !h.contains_key("anthropic-version") {
                    h.insert("anthropic-version", version.clone());
                }
            }
            Credentials::Google(key) => {
                insert_secret(h, HeaderName::from_static("x-goog-api-key"), key);
            }
        }
    }
    builder.body(Full::new(r.body))
}

/// Sets a header holding a secret, marked sensitive (never logged by hyper).
fn insert_secret(h: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(mut v) = HeaderValue::from_str(value) {
        v.set_sensitive(true);
        h.insert(name, v);
    }
}

/// Builds a `GET` to an upstream endpoint (model listing, reachability probes),
/// with a Bearer key (OpenAI-protocol accounts).
pub fn build_get(uri: Uri, api_key: Option<&str>) -> Result<Request<Full<Bytes>>, http::Error> {
    build_get_with(uri, api_key.map_or(Credentials::None, Credentials::Bearer))
}

/// Builds a `GET` to an upstream endpoint with the account's credentials as its
/// protocol presents them.
pub fn build_get_with(
    uri: Uri,
    credentials: Credentials<'_>,
) -> Result<Request<Full<Bytes>>, http::Error> {
    let empty = HeaderMap::new();
    let mut req = build_request(UpstreamRequest {
        uri,
        credentials,
        request_id: "rook-probe",
        client_headers: &empty,
        body: Bytes::new(),
        stream: false,
    })?;
    *req.method_mut() = Method::GET;
    req.headers_mut().remove(header::CONTENT_TYPE);
    req.headers_mut().remove(header::CONTENT_LENGTH);
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_credentials_and_hop_by_hop_are_dropped() {
        let mut client = HeaderMap::new();
        client.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer client-token"),
        );
        client.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
        client.insert("openai-organization", HeaderValue::from_static("org-1"));
        client.insert("x-stainless-lang", HeaderValue::from_static("python"));
        client.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        let req = build_request(UpstreamRequest {
            uri: endpoint_uri("http://127.0.0.1:9/v1/", "/chat/completions").unwrap(),
            credentials: Credentials::Bearer("acct-key"),
            request_id: "req-1",
            client_headers: &client,
            body: Bytes::from_static(b"{}"),
            stream: true,
        })
        .unwrap();
        let h = req.headers();
        assert_eq!(
            req.uri().to_string(),
            "http://127.0.0.1:9/v1/chat/completions"
        );
        assert_eq!(h["authorization"], "Bearer acct-key");
        assert!(h["authorization"].is_sensitive());
        assert!(h.get("connection").is_none());
        assert!(h.get("accept-encoding").is_none());
        assert!(h.get("openai-organization").is_none());
        assert_eq!(h["x-stainless-lang"], "python");
        assert_eq!(h["x-request-id"], "req-1");
        assert_eq!(h["accept"], "text/event-stream");
        assert_eq!(h.get_all("authorization").iter().count(), 1);
    }

    #[test]
    fn each_protocol_presents_the_key_its_own_way() {
        let mut client = HeaderMap::new();
        client.insert("x-api-key", HeaderValue::from_static("client-key"));
        client.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer client-token"),
        );
        client.insert("anthropic-beta", HeaderValue::from_static("tools-2024"));
        let version = HeaderValue::from_static("2023-06-01");
        let send = |credentials, client: &HeaderMap| {
            build_request(UpstreamRequest {
                uri: endpoint_uri("http://127.0.0.1:9/v1", "/messages").unwrap(),
                credentials,
                request_id: "r",
                client_headers: client,
                body: Bytes::from_static(b"{}"),
                stream: false,
            })
            .unwrap()
        };
        let req = send(
            Credentials::Anthropic {
                key: Some("acct-key"),
                version: &version,
                force: false,
            },
            &client,
        );
        let h = req.headers();
        assert_eq!(h["x-api-key"], "acct-key");
        assert!(h["x-api-key"].is_sensitive());
        assert_eq!(h.get_all("x-api-key").iter().count(), 1);
        assert!(h.get("authorization").is_none());
        assert_eq!(h["anthropic-version"], "2023-06-01");
        assert_eq!(h["anthropic-beta"], "tools-2024");
        // The client's own anthropic-version is kept, unless the account sets one.
        client.insert("anthropic-version", HeaderValue::from_static("2024-01-01"));
        let anthropic = |force| Credentials::Anthropic {
            key: None,
            version: &version,
            force,
        };
        let req = send(anthropic(false), &client);
        assert_eq!(req.headers()["anthropic-version"], "2024-01-01");
        let forced = send(anthropic(true), &client);
        assert_eq!(forced.headers()["anthropic-version"], "2023-06-01");
        assert_eq!(
            forced.headers().get_all("anthropic-version").iter().count(),
            1
        );
        assert!(req.headers().get("x-api-key").is_none());
        let req = send(Credentials::Google("g-key"), &client);
        let h = req.headers();
        assert_eq!(h["x-goog-api-key"], "g-key");
        assert!(h.get("authorization").is_none() && h.get("x-api-key").is_none());
    }

    #[test]
    fn probes_are_gets_without_a_body() {
        let req = build_get(
            endpoint_uri("https://api.openai.com/v1", "/models").unwrap(),
            Some("k"),
        )
        .unwrap();
        assert_eq!(req.headers()["authorization"], "Bearer k");
        assert!(req.headers().get("content-length").is_none());
        assert_eq!(req.method(), Method::GET);
    }
}
