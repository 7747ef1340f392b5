//! One attempt: build the upstream request, send it, and read enough of the answer
//! to know whether it succeeded (the whole body when buffered, translated back
//! to the client's protocol; the first chunk of a stream) or how it failed.

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use rook_config::Protocol;
use rook_protocol::Usage;

use super::buffers::{Hold, ReadError};
use super::outcome::Failure;
use super::plan::{Answer, Outbound};
use super::snapshot::AccountRuntime;
use super::translate::{buffered, error_details};
use super::tuning::Tuning;
use super::upstream::{build_request, Credentials, UpstreamRequest};
use super::Proxy;

/// Largest upstream error body Rook reads to relay its message.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// What one attempt sends, and where.
pub(crate) struct Attempt<'a> {
    pub(crate) acct: &'a AccountRuntime,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) outbound: Outbound,
    /// The client asked for a stream.
    pub(crate) stream: bool,
    /// The client's logical model (named in translated answers).
    pub(crate) model: &'a str,
    pub(crate) request_id: &'a str,
    /// Time allowed to the response head (and a stream's first chunk).
    pub(crate) first_byte: Duration,
    /// The attempt span's `traceparent` (replaces the client's), when traced.
    pub(crate) traceparent: Option<HeaderValue>,
    /// The settings the request started with.
    pub(crate) tuning: &'a Tuning,
}

/// A successful attempt.
pub(crate) enum Success {
    Buffered {
        status: StatusCode,
        headers: HeaderMap,
        /// In the client's protocol.
        body: Bytes,
        usage: Option<Usage>,
        /// The answer's share of the buffer budget, until it is handed over.
        hold: Hold,
    },
    Stream {
        status: StatusCode,
        headers: HeaderMap,
        first: Bytes,
        rest: Incoming,
        /// How the stream becomes the client's.
        answer: Answer,
    },
}

/// Sends one attempt and classifies what came back; on success, also the time
/// to the upstream's response head.
pub(crate) async fn send(proxy: &Proxy, a: Attempt<'_>) -> Result<(Success, Duration), Failure> {
    let key = a.acct.api_key.as_ref().map(|k| k.expose());
    let credentials = match (a.acct.protocol, key) {
        (Protocol::Anthropic, key) => Credentials::Anthropic {
            key,
            version: &a.acct.anthropic_version,
            force: a.acct.anthropic_version_set,
        },
        (_, None) => Credentials::None,
        (Protocol::Gemini, Some(k)) => Credentials::Google(k),
        (_, Some(k)) => Credentials::Bearer(k),
    };
    let answer = a.outbound.answer;
    let mut req = build_request(UpstreamRequest {
        uri: a.outbound.uri,
        credentials,
        request_id: a.request_id,
        client_headers: a.headers,
        body: a.outbound.body,
        stream: a.stream,
    })
    .map_err(|_| Failure::unbuildable())?;
    if let Some(tp) = a.traceparent {
        req.headers_mut().insert("traceparent", tp);
    }
    let first_byte = a.first_byte;
    let sent = Instant::now();
    let resp = match tokio::time::timeout(first_byte, proxy.client.request(req)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            if let Some(denied) = super::egress::denied_in(&e) {
                tracing::warn!(
                    account = %a.acct.label,
                    target = %denied.target,
                    reason = denied.reason.as_str(),
                    class = "egress_denied",
                    "upstream address refused by the egress policy"
                );
                return Err(Failure::egress_denied());
            }
            tracing::debug!(account = %a.acct.label, error = %e, "upstream transport error");
            return Err(Failure::transport());
        }
        Err(_) => return Err(Failure::timeout("The upstream did not answer in time.")),
    };
    let ttfb = sent.elapsed();
    let (head, incoming) = resp.into_parts();
    if !head.status.is_success() {
        return Err(read_failure(
            a.tuning.timeouts.retry_after_max,
            a.acct,
            first_byte,
            head.status,
            &head.headers,
            incoming,
        )
        .await);
    }
    let is_sse = head
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if a.stream && is_sse {
        // Wait for the first chunk: until it reaches the client, a failure may fail over.
        let remaining = first_byte
            .saturating_sub(ttfb)
            .max(Duration::from_millis(1));
        let mut incoming = incoming;
        let first = loop {
            match tokio::time::timeout(remaining, incoming.frame()).await {
                Ok(Some(Ok(frame))) => match frame.into_data() {
                    Ok(d) if d.is_empty() => continue,
                    Ok(d) => break d,
                    Err(_) => continue,
                },
                Ok(None) => break Bytes::new(),
                Ok(Some(Err(_))) => return Err(Failure::transport()),
                Err(_) => {
                    return Err(Failure::timeout(
                        "The upstream stream did not start in time.",
                    ))
                }
            }
        };
        return Ok((
            Success::Stream {
                status: head.status,
                headers: head.headers,
                first,
                rest: incoming,
                answer,
            },
            ttfb,
        ));
    }
    let content_length = head
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let tuning = a.tuning;
    match tokio::time::timeout(
        tuning.timeouts.stream_idle.max(first_byte),
        tuning.buffers.read(incoming, content_length),
    )
    .await
    {
        Ok(Ok((raw, hold))) => match buffered(answer, raw, a.model) {
            Ok((body, usage)) => Ok((
                Success::Buffered {
                    status: head.status,
                    headers: head.headers,
                    body,
                    usage,
                    hold,
                },
                ttfb,
            )),
            Err(e) => {
                tracing::debug!(account = %a.acct.label, error = %e, "upstream answer could not be translated");
                Err(Failure::invalid_answer())
            }
        },
        Ok(Err(ReadError::TooLarge)) => {
            let limit = tuning.buffers.per_answer();
            tracing::warn!(
                account = %a.acct.label,
                limit_bytes = limit,
                "upstream answer larger than [limits] max_upstream_response_bytes: abandoned"
            );
            crate::accounting::metrics::response_too_large(a.acct.vendor.as_str(), &a.acct.label);
            Err(Failure::too_large(limit))
        }
        Ok(Err(ReadError::Budget)) => {
            tracing::warn!(
                account = %a.acct.label,
                "no room in [limits] buffered_response_budget_bytes for an upstream answer: abandoned"
            );
            crate::accounting::metrics::buffer_budget_exhausted();
            Err(Failure::buffer_budget())
        }
        Ok(Err(ReadError::Body)) => Err(Failure::transport()),
        Err(_) => Err(Failure::timeout(
            "The upstream answer did not complete in time.",
        )),
    }
}

/// Reads (a bounded part of) an error answer's body and classifies it.
async fn read_failure(
    retry_after_max: Duration,
    acct: &AccountRuntime,
    first_byte: Duration,
    status: StatusCode,
    headers: &HeaderMap,
    incoming: Incoming,
) -> Failure {
    let limited = http_body_util::Limited::new(incoming, MAX_ERROR_BODY);
    let body = match tokio::time::timeout(first_byte.max(Duration::from_secs(1)), limited.collect())
        .await
    {
        Ok(Ok(c)) => c.to_bytes(),
        _ => Bytes::new(),
    };
    let hint = rook_resilience::retry_after::retry_hint(
        headers
            .iter()
            .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str(), v))),
        SystemTime::now(),
        retry_after_max,
    );
    let (details, body_hint) = error_details(acct.protocol, &body);
    let classified = rook_protocol::classify_parsed(status.as_u16(), details, hint.or(body_hint));
    Failure::upstream(status, classified, &acct.secrets)
}
