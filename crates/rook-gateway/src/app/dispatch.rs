//! Dispatch: request id, the origin checks ([`super::guard`]), the client address,
//! inbound authentication, body reading, and the surfaces by path.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::guard::{self, Refusal};
use super::App;
use crate::accounting::metrics::record_http;
use crate::body::RookBody;
use crate::endpoint::{Dialect, Endpoint, SUPPORTED};
use crate::error::{ApiError, MISDIRECTED_MESSAGE, UNSUPPORTED_MEDIA_TYPE_MESSAGE};

impl App {
    /// Handles one request.
    pub(crate) async fn handle(
        self: &Arc<Self>,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<RookBody> {
        let start = Instant::now();
        let request_id = match req
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
        {
            Some(id) if is_valid_request_id(id) => id.to_string(),
            _ => self.new_request_id(),
        };
        let path = req.uri().path();
        let (surface, route) = route_label(path);
        let client = self.proxies.client_addr(peer.ip(), req.headers());
        let refusal =
            guard::check_host(&self.hosts, req.uri().host(), req.headers()).and_then(|()| {
                match surface {
                    "api" => guard::check_admin(&self.hosts, req.method(), req.headers()),
                    // The dashboard's writes (sign-in, sign-out) are held to the admin rules.
                    "ui" if !matches!(*req.method(), Method::GET | Method::HEAD) => {
                        guard::check_admin(&self.hosts, req.method(), req.headers())
                    }
                    _ => Ok(()),
                }
            });
        let mut resp = match refusal {
            Err(refusal) => self.refuse(refusal, surface, path, &request_id, start, client),
            Ok(()) if surface == "v1" => self.handle_v1(req, &request_id, start, client).await,
            Ok(()) if surface == "api" => {
                crate::control::admin::handle(self, req, &request_id, client).await
            }
            Ok(()) if surface == "ui" => {
                let secure = self.proxies.forwarded_https(peer.ip(), req.headers());
                crate::ui::handle(&self.ui, self.admin.get(), req, secure).await
            }
            Ok(()) => ApiError::NotFound.into_response(None),
        };
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert("x-request-id", v);
        }
        record_http(surface, route, resp.status().as_u16(), start.elapsed());
        resp
    }

    /// The answer to a request the origin checks refused, in the caller's
    /// protocol: admin-shaped on `/api`, Anthropic-shaped on `/v1/messages…`,
    /// OpenAI-shaped elsewhere.
    fn refuse(
        &self,
        refusal: Refusal,
        surface: &str,
        path: &str,
        request_id: &str,
        start: Instant,
        client: IpAddr,
    ) -> Response<RookBody> {
        let (err, message) = match refusal {
            Refusal::Misdirected => {
                tracing::warn!(request_id, client = %client, path,
                    "request for a host this server does not serve refused (421); \
                     see [transport] allowed_hosts");
                (ApiError::Misdirected, MISDIRECTED_MESSAGE)
            }
            Refusal::UnsupportedMediaType => (
                ApiError::UnsupportedMediaType,
                UNSUPPORTED_MEDIA_TYPE_MESSAGE,
            ),
            Refusal::CrossOrigin => {
                tracing::warn!(request_id, client = %client, path,
                    "cross-origin request to the admin API refused");
                return crate::control::admin::convert(rook_admin::error_response(
                    StatusCode::FORBIDDEN,
                    "cross_origin_forbidden",
                    "Cross-origin requests to the admin API are refused (Origin or \
                     Sec-Fetch-Site names another site).",
                ));
            }
        };
        if surface == "api" || surface == "ui" {
            return crate::control::admin::convert(rook_admin::error_response(
                err.status(),
                err.class(),
                message,
            ));
        }
        let endpoint = Endpoint::from_path(path);
        if surface == "v1" {
            self.accounting
                .record_rejected(request_id, endpoint, start, None, &err);
        }
        let dialect = endpoint.map_or(Dialect::OpenAi, Endpoint::dialect);
        err.into_response_in(dialect, None)
    }

    async fn handle_v1(
        self: &Arc<Self>,
        req: Request<Incoming>,
        request_id: &str,
        start: Instant,
        client: IpAddr,
    ) -> Response<RookBody> {
        let path = req.uri().path();
        let endpoint = Endpoint::from_path(path);
        let dialect = endpoint.map_or(Dialect::OpenAi, Endpoint::dialect);
        // Client keys (issue 13): one SHA-256 and one map lookup.
        let key = match self.keys.authenticate(req.headers()) {
            super::keys::Auth::Key(k) => {
                k.count_request();
                Some(k)
            }
            super::keys::Auth::Open => None,
            super::keys::Auth::Refused(r) => {
                super::keys::count_rejection(r.reason());
                let err = r.error();
                self.accounting
                    .record_rejected(request_id, endpoint, start, None, &err);
                return err.into_response_in(dialect, None);
            }
        };
        let principal = key.as_ref().map_or(&self.principal, |k| &k.principal);
        match (req.method(), endpoint) {
            (&Method::POST, Some(endpoint)) => {
                if guard::check_v1_post(req.headers()).is_err() {
                    let err = ApiError::UnsupportedMediaType;
                    self.accounting.record_rejected(
                        request_id,
                        Some(endpoint),
                        start,
                        Some(principal.clone()),
                        &err,
                    );
                    return err.into_response_in(dialect, None);
                }
                let (parts, body) = req.into_parts();
                let body = match self.read_body(&parts.headers, body).await {
                    Ok(b) => b,
                    Err(e) => {
                        self.accounting.record_rejected(
                            request_id,
                            Some(endpoint),
                            start,
                            Some(principal.clone()),
                            &e,
                        );
                        return e.into_response_in(dialect, None);
                    }
                };
                let caller = super::surface::Caller { client, key };
                super::surface::handle(self, endpoint, parts, body, request_id, start, caller).await
            }
            (_, Some(_)) => ApiError::MethodNotAllowed.into_response_in(dialect, None),
            // HEAD answers like GET; hyper sends no body for it.
            (&Method::GET | &Method::HEAD, None) if path == "/v1/models" => {
                self.models(key.as_deref())
            }
            (&Method::GET | &Method::HEAD, None) if path.starts_with("/v1/models/") => {
                self.model(&path["/v1/models/".len()..], key.as_deref())
            }
            (_, None) if path == "/v1/models" || path.starts_with("/v1/models/") => {
                ApiError::MethodNotAllowed.into_response(None)
            }
            _ => ApiError::UnknownPath {
                supported: SUPPORTED,
            }
            .into_response(None),
        }
    }

    /// Reads a request body, refusing it (413) before buffering when it is too large.
    async fn read_body(
        &self,
        headers: &http::HeaderMap,
        body: Incoming,
    ) -> Result<Bytes, ApiError> {
        let limit =
            usize::try_from(self.limits.load().max_request_body_bytes).unwrap_or(usize::MAX);
        if let Some(len) = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
        {
            if len > limit as u64 {
                return Err(ApiError::PayloadTooLarge { limit });
            }
        }
        let limited = http_body_util::Limited::new(body, limit);
        match tokio::time::timeout(BODY_READ_TIMEOUT, limited.collect()).await {
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
            Ok(Err(e)) => {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    Err(ApiError::PayloadTooLarge { limit })
                } else {
                    Err(ApiError::BadRequest {
                        message: "The request body could not be read.".into(),
                        code: "body_read_error",
                    })
                }
            }
            Err(_) => Err(ApiError::BadRequest {
                message: "The request body did not arrive in time.".into(),
                code: "body_timeout",
            }),
        }
    }

    /// `GET /v1/models`: the routed logical models the key may use.
    fn models(&self, key: Option<&super::keys::Key>) -> Response<RookBody> {
        let snap = self.proxy.snapshot.load();
        let data: Vec<serde_json::Value> = snap
            .table
            .models()
            .iter()
            .filter(|m| key.is_none_or(|k| k.allows(m)))
            .map(|m| model_object(m))
            .collect();
        crate::control::admin::convert(rook_admin::json_response(
            StatusCode::OK,
            &serde_json::json!({"object": "list", "data": data}),
        ))
    }

    /// `GET /v1/models/{id}`: the logical model, or 404 `model_not_found`. The id
    /// may be percent-encoded (model names may hold `/`).
    fn model(&self, raw_id: &str, key: Option<&super::keys::Key>) -> Response<RookBody> {
        let id = model_id(raw_id);
        let snap = self.proxy.snapshot.load();
        let allowed = key.is_none_or(|k| k.allows(&id));
        match snap.table.models().iter().find(|m| **m == id && allowed) {
            Some(m) => crate::control::admin::convert(rook_admin::json_response(
                StatusCode::OK,
                &model_object(m),
            )),
            None => ApiError::ModelNotFound { model: id }.into_response(None),
        }
    }
}

/// A logical model in OpenAI's model shape.
fn model_object(id: &str) -> serde_json::Value {
    serde_json::json!({"id": id, "object": "model", "created": 0, "owned_by": "rook"})
}

/// A model id from the path: percent-decoded, or as sent when its escapes are
/// not valid.
fn model_id(raw: &str) -> String {
    rook_admin::decode_path(raw).unwrap_or_else(|| raw.to_string())
}

/// The stored identity of a credential: the first 16 bytes of
/// SHA-256("rook-principal:" + token), hex. Never the token itself.
pub(crate) fn principal_hash(token: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(b"rook-principal:")
        .chain_update(token.as_bytes())
        .finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Longest time to receive a request body once its head has arrived.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);

fn is_valid_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The `surface` and `route` labels of a path (bounded): `/v1` paths by name,
/// `/api` paths by their admin route template, the dashboard (`/`, `/ui…`) as `ui`,
/// anything else `other`.
pub(crate) fn route_label(path: &str) -> (&'static str, &'static str) {
    match path {
        "/v1/models" => ("v1", "/v1/models"),
        p if p.starts_with("/v1/models/") => ("v1", "/v1/models/{id}"),
        p if Endpoint::from_path(p).is_some() => {
            ("v1", Endpoint::from_path(p).map_or("other", Endpoint::path))
        }
        p if p.starts_with("/v1/") => ("v1", "other"),
        p if p.starts_with("/api/") => ("api", rook_admin::route_template(p).unwrap_or("other")),
        "/" => ("ui", "/"),
        p if p.starts_with("/ui/assets/") => ("ui", "/ui/assets"),
        p if p == "/ui" || p.starts_with("/ui/") => ("ui", "/ui"),
        _ => ("other", "other"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids_are_percent_decoded() {
        assert_eq!(model_id("a%2Fb"), "a/b");
        assert_eq!(model_id("plain"), "plain");
        assert_eq!(model_id("bad%zz%"), "bad%zz%");
    }

    #[test]
    fn request_ids() {
        assert!(is_valid_request_id("abc-123_x.y:z"));
        assert!(!is_valid_request_id(""));
        assert!(!is_valid_request_id("has space"));
        assert!(!is_valid_request_id(&"a".repeat(129)));
    }

    #[test]
    fn route_labels_are_bounded() {
        assert_eq!(
            route_label("/v1/chat/completions"),
            ("v1", "/v1/chat/completions")
        );
        assert_eq!(route_label("/v1/anything/else"), ("v1", "other"));
        assert_eq!(route_label("/v1/messages"), ("v1", "/v1/messages"));
        assert_eq!(route_label("/"), ("ui", "/"));
        assert_eq!(route_label("/ui/login"), ("ui", "/ui"));
        assert_eq!(route_label("/ui/assets/0123/app.js"), ("ui", "/ui/assets"));
        assert_eq!(route_label("/uix"), ("other", "other"));
        assert_eq!(route_label("/v1/models/gpt-4o"), ("v1", "/v1/models/{id}"));
        assert_eq!(
            route_label("/api/accounts/x"),
            ("api", "/api/accounts/{id}")
        );
        assert_eq!(
            route_label("/api/routes/a/b:c"),
            ("api", "/api/routes/{model}")
        );
        assert_eq!(route_label("/api/nope"), ("api", "other"));
        assert_eq!(route_label("/random"), ("other", "other"));
    }
}
