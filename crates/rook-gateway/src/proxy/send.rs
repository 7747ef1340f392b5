//! One attempt: build the upstream request, send it, and read enough of the answer
//! to know whether it succeeded (the whole body when buffered, the first chunk of
//! a stream) or how it failed.

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{header, HeaderMap, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use rook_config::Vendor;
use rook_protocol::openai::{rewrite_chat, ChatProbe};

use super::outcome::Failure;
use super::snapshot::AccountRuntime;
use super::upstream::{build_request, UpstreamRequest};
use super::Proxy;

/// Largest upstream error body Rook reads to relay its message.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// Largest buffered upstream answer Rook accepts.
const MAX_BUFFERED_ANSWER: usize = 64 * 1024 * 1024;

/// What one attempt sends, and where.
pub(crate) struct Attempt<'a> {
    pub(crate) acct: &'a AccountRuntime,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: &'a Bytes,
    pub(crate) probe: &'a ChatProbe,
    pub(crate) upstream_model: &'a str,
    pub(crate) request_id: &'a str,
    /// Time allowed to the response head (and a stream's first chunk).
    pub(crate) first_byte: Duration,
}

/// A successful attempt.
pub(crate) enum Success {
    Buffered {
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
    },
    Stream {
        status: StatusCode,
        headers: HeaderMap,
        first: Bytes,
        rest: Incoming,
        /// Rook added `stream_options.include_usage`; the usage chunk is removed.
        injected_usage: bool,
    },
}

/// Sends one attempt and classifies what came back; on success, also the time
/// to the upstream's response head.
pub(crate) async fn send(proxy: &Proxy, a: &Attempt<'_>) -> Result<(Success, Duration), Failure> {
    // Ask for usage on streams the client did not ask it for (the usage-only chunk
    // is removed again on the way back). `custom` upstreams may reject the field.
    let inject = a.probe.stream && !a.probe.has_stream_options && a.acct.vendor != Vendor::Custom;
    let upstream_body = rewrite_chat(a.body, a.probe, Some(a.upstream_model), inject);
    let req = build_request(UpstreamRequest {
        uri: a.acct.chat_uri.clone(),
        api_key: a.acct.api_key.as_ref().map(|k| k.expose()),
        request_id: a.request_id,
        client_headers: a.headers,
        body: upstream_body,
        stream: a.probe.stream,
    })
    .map_err(|_| Failure::unbuildable())?;
    let first_byte = a.first_byte;
    let sent = Instant::now();
    let resp = match tokio::time::timeout(first_byte, proxy.client.request(req)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            tracing::debug!(account = %a.acct.label, error = %e, "upstream transport error");
            return Err(Failure::transport());
        }
        Err(_) => return Err(Failure::timeout("The upstream did not answer in time.")),
    };
    let ttfb = sent.elapsed();
    let (head, incoming) = resp.into_parts();
    if !head.status.is_success() {
        return Err(read_failure(proxy, a, head.status, &head.headers, incoming).await);
    }
    let is_sse = head
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if a.probe.stream && is_sse {
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
                injected_usage: inject,
            },
            ttfb,
        ));
    }
    let limited = http_body_util::Limited::new(incoming, MAX_BUFFERED_ANSWER);
    match tokio::time::timeout(
        proxy.timeouts.stream_idle.max(first_byte),
        limited.collect(),
    )
    .await
    {
        Ok(Ok(c)) => Ok((
            Success::Buffered {
                status: head.status,
                headers: head.headers,
                body: c.to_bytes(),
            },
            ttfb,
        )),
        Ok(Err(_)) => Err(Failure::transport()),
        Err(_) => Err(Failure::timeout(
            "The upstream answer did not complete in time.",
        )),
    }
}

/// Reads (a bounded part of) an error answer's body and classifies it.
async fn read_failure(
    proxy: &Proxy,
    a: &Attempt<'_>,
    status: StatusCode,
    headers: &HeaderMap,
    incoming: Incoming,
) -> Failure {
    let limited = http_body_util::Limited::new(incoming, MAX_ERROR_BODY);
    let body =
        match tokio::time::timeout(a.first_byte.max(Duration::from_secs(1)), limited.collect())
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
        proxy.timeouts.retry_after_max,
    );
    let classified = rook_protocol::classify(status.as_u16(), &body, hint);
    Failure::upstream(
        status,
        classified,
        a.acct.api_key.as_ref().map(|k| k.expose()),
    )
}
