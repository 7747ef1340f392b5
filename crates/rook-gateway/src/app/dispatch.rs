//! Dispatch: request id, inbound authentication, body reading, and the surfaces
//! by path.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use rook_config::Secret;
use subtle::ConstantTimeEq;

use super::App;
use crate::accounting::metrics::record_http;
use crate::body::RookBody;
use crate::error::ApiError;

impl App {
    /// Handles one request.
    pub(crate) async fn handle(
        self: &Arc<Self>,
        req: Request<Incoming>,
        _peer: SocketAddr,
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
        let mut resp = if surface == "v1" {
            self.handle_v1(req, &request_id, start).await
        } else if surface == "api" {
            crate::control::admin::handle(self, req, &request_id).await
        } else {
            ApiError::NotFound.into_response(None)
        };
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert("x-request-id", v);
        }
        record_http(surface, route, resp.status().as_u16(), start.elapsed());
        resp
    }

    async fn handle_v1(
        self: &Arc<Self>,
        req: Request<Incoming>,
        request_id: &str,
        start: Instant,
    ) -> Response<RookBody> {
        if let Some(token) = &self.inbound_token {
            if !bearer_matches(req.headers(), token) {
                self.accounting
                    .record_rejected(request_id, start, None, &ApiError::Unauthorized);
                return ApiError::Unauthorized.into_response(None);
            }
        }
        let path = req.uri().path();
        match (req.method(), path) {
            (&Method::POST, "/v1/chat/completions") => {
                let (parts, body) = req.into_parts();
                let body = match self.read_body(&parts.headers, body).await {
                    Ok(b) => b,
                    Err(e) => {
                        self.accounting.record_rejected(
                            request_id,
                            start,
                            Some(self.principal.clone()),
                            &e,
                        );
                        return e.into_response(None);
                    }
                };
                super::chat::chat(self, parts, body, request_id, start).await
            }
            (&Method::GET, "/v1/models") => self.models(),
            (_, "/v1/chat/completions") | (_, "/v1/models") => {
                ApiError::MethodNotAllowed.into_response(None)
            }
            _ => ApiError::NotFound.into_response(None),
        }
    }

    /// Reads a request body, refusing it (413) before buffering when it is too large.
    async fn read_body(
        &self,
        headers: &http::HeaderMap,
        body: Incoming,
    ) -> Result<Bytes, ApiError> {
        let limit =
            usize::try_from(self.config.limits.max_request_body_bytes).unwrap_or(usize::MAX);
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

    fn models(&self) -> Response<RookBody> {
        let snap = self.proxy.snapshot.load();
        let created = 0;
        let data: Vec<serde_json::Value> = snap
            .table
            .models()
            .iter()
            .map(|m| serde_json::json!({"id": m, "object": "model", "created": created, "owned_by": "rook"}))
            .collect();
        crate::control::admin::convert(rook_admin::json_response(
            StatusCode::OK,
            &serde_json::json!({"object": "list", "data": data}),
        ))
    }
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

/// Whether `Authorization: Bearer <token>` matches, compared in constant time.
pub(crate) fn bearer_matches(headers: &http::HeaderMap, token: &Secret) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return false;
    };
    let bytes = value.as_bytes();
    let presented = match bytes.get(..7) {
        Some(p) if p.eq_ignore_ascii_case(b"bearer ") => bytes[7..].trim_ascii(),
        _ => return false,
    };
    presented.ct_eq(token.expose().as_bytes()).into()
}

fn is_valid_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The `surface` and `route` labels of a path (bounded): `/v1` paths by name,
/// `/api` paths by their admin route template, anything else `other`.
pub(crate) fn route_label(path: &str) -> (&'static str, &'static str) {
    match path {
        "/v1/chat/completions" => ("v1", "/v1/chat/completions"),
        "/v1/models" => ("v1", "/v1/models"),
        p if p.starts_with("/v1/") => ("v1", "other"),
        p if p.starts_with("/api/") => ("api", rook_admin::route_template(p).unwrap_or("other")),
        _ => ("other", "other"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_compare() {
        let t = Secret::new("s3cret");
        let mut h = http::HeaderMap::new();
        assert!(!bearer_matches(&h, &t));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer s3cret"),
        );
        assert!(bearer_matches(&h, &t));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer s3cret"),
        );
        assert!(bearer_matches(&h, &t));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer s3cre"),
        );
        assert!(!bearer_matches(&h, &t));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic s3cret"),
        );
        assert!(!bearer_matches(&h, &t));
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
