//! `Idempotency-Key` on buffered `POST /v1/chat/completions`.
//!
//! The first request with a key runs; its successful response is stored in the
//! registry (scoped by the hashed principal) and replayed, with
//! `idempotency-replayed: true` and no upstream call, to a repeat with the same key
//! and the same body within the replay window. The same key with a different body
//! is 409 `idempotency_key_reused`; a repeat while the first is still running is 409
//! `idempotency_request_in_progress`. Failed requests are not stored (the record is
//! released so the client can retry). The registry makes the claim atomic, so
//! several instances sharing PostgreSQL agree on which one runs the request.
//!
//! Every registry call here is bounded ([`Registry::bounded`]: 1.5 s on PostgreSQL):
//! during a database outage a request with a key is refused with 503
//! `idempotency_unavailable` and `Retry-After` instead of waiting for the pool; a
//! response whose record cannot be settled is still answered (the record then expires
//! with its replay window, and a repeat meanwhile gets 409 `idempotency_request_in_progress`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use rook_registry::deadline::DATABASE_RETRY_AFTER;
use rook_registry::{IdempotencyBegin, StoredResponse};
use sha2::{Digest, Sha256};

use rook_registry::Registry;

use crate::body::RookBody;
use crate::error::ApiError;
use crate::now_ms;

/// Why a request ends before the attempt loop.
pub(crate) enum Early {
    /// Answer with this error.
    Error(ApiError, &'static str),
    /// Answer with the stored response.
    Replay(Response<RookBody>),
}

/// The claim on a key while the first request runs.
pub(crate) struct Guard {
    registry: Registry,
    principal: Arc<str>,
    key: String,
    settled: bool,
}

/// Where keys are claimed, and for whom.
pub(crate) struct Scope<'a> {
    pub(crate) registry: &'a Registry,
    /// The hashed principal the key belongs to.
    pub(crate) principal: &'a Arc<str>,
    /// How long a completed response is replayed.
    pub(crate) window: Duration,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn valid_key(k: &str) -> bool {
    !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// Claims the request's key, if it has one.
pub(crate) async fn begin(
    scope: Scope<'_>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Option<Guard>, Early> {
    let Some(raw) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = match raw.to_str() {
        Ok(k) if valid_key(k) => k.to_string(),
        _ => {
            return Err(Early::Error(
                ApiError::BadRequest {
                    message: "Idempotency-Key must be 1 to 255 visible ASCII characters.".into(),
                    code: "invalid_idempotency_key",
                },
                "bad_request",
            ))
        }
    };
    let body_hash = hex(&Sha256::digest(body));
    let now = now_ms();
    let window = i64::try_from(scope.window.as_millis()).unwrap_or(i64::MAX);
    // Bounded (PostgreSQL): during a database outage the caller gets a 503 fast.
    let begun = scope
        .registry
        .bounded(scope.registry.idempotency_begin(
            scope.principal,
            &key,
            &body_hash,
            now,
            now.saturating_add(window),
        ))
        .await;
    match begun {
        Ok(IdempotencyBegin::Started) => Ok(Some(Guard {
            registry: scope.registry.clone(),
            principal: scope.principal.clone(),
            key,
            settled: false,
        })),
        Ok(IdempotencyBegin::InProgress) => Err(Early::Error(
            ApiError::Conflict {
                message: "A request with this Idempotency-Key is still in progress.".into(),
                code: "idempotency_request_in_progress",
            },
            "idempotency_in_progress",
        )),
        Ok(IdempotencyBegin::Mismatch) => Err(Early::Error(
            ApiError::Conflict {
                message: "This Idempotency-Key was used with a different request body.".into(),
                code: "idempotency_key_reused",
            },
            "idempotency_key_reused",
        )),
        Ok(IdempotencyBegin::Replay(stored)) => Err(Early::Replay(replay(stored))),
        Err(e) => {
            tracing::warn!(error = %e, "idempotency store unavailable");
            Err(Early::Error(
                ApiError::Unavailable {
                    message: "Idempotency-Key could not be honoured: the registry is unavailable."
                        .into(),
                    code: "idempotency_unavailable",
                    retry_after: Some(DATABASE_RETRY_AFTER),
                },
                "idempotency_unavailable",
            ))
        }
    }
}

fn replay(stored: StoredResponse) -> Response<RookBody> {
    let mut resp = Response::new(RookBody::full(stored.body));
    *resp.status_mut() = StatusCode::from_u16(stored.status_code).unwrap_or(StatusCode::OK);
    for (k, v) in stored.headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            resp.headers_mut().append(k, v);
        }
    }
    resp.headers_mut()
        .insert("idempotency-replayed", HeaderValue::from_static("true"));
    resp
}

/// Response headers worth storing for a replay.
fn stored_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(k, _)| *k == header::CONTENT_TYPE || k.as_str().starts_with("openai-"))
        .filter_map(|(k, v)| {
            v.to_str()
                .ok()
                .map(|v| (k.as_str().to_string(), v.to_string()))
        })
        .collect()
}

impl Guard {
    /// Stores a successful response for replay, or releases the key.
    pub(crate) async fn finish(mut self, resp: Response<RookBody>) -> Response<RookBody> {
        self.settled = true;
        let body = match resp.body() {
            RookBody::Full(Some(b)) if resp.status().is_success() => Some(b.clone()),
            RookBody::Held(h) if resp.status().is_success() => Some(h.remaining().clone()),
            _ => None,
        };
        let registry = &self.registry;
        let principal = &self.principal;
        let result = match body {
            Some(body) => {
                let stored = StoredResponse {
                    status_code: resp.status().as_u16(),
                    headers: stored_headers(resp.headers()),
                    body: body.to_vec(),
                };
                registry
                    .bounded(registry.idempotency_complete(principal, &self.key, stored))
                    .await
            }
            None => {
                registry
                    .bounded(registry.idempotency_abandon(principal, &self.key))
                    .await
            }
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not settle an idempotency record");
        }
        resp
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        // The client went away mid-request: release the key so a retry can run.
        let registry = self.registry.clone();
        let principal = self.principal.clone();
        let key = std::mem::take(&mut self.key);
        tokio::spawn(async move {
            let abandoned = registry
                .bounded(registry.idempotency_abandon(&principal, &key))
                .await;
            if let Err(e) = abandoned {
                tracing::warn!(error = %e, "could not release an idempotency record");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert!(valid_key("abc-123"));
        assert!(!valid_key(""));
        assert!(!valid_key("has space"));
        assert!(!valid_key(&"k".repeat(256)));
    }
}
