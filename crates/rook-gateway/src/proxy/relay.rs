//! The relay of a streamed upstream body.
//!
//! It forwards each upstream frame as it arrives (no re-framing, so `event:`, `id:`,
//! comments and CRLF reach the client byte for byte), enforces the idle timeout
//! between chunks, watches the SSE events go by to learn the usage and whether
//! `[DONE]` was sent, and turns a failure after the first byte into an explicit SSE
//! error event (never a fake `[DONE]`). Whatever happens, its finish hook runs
//! exactly once: at the end, on error, or when the client goes away.
//!
//! What reaches the client goes last through a [`StreamScrubber`] (when any
//! account has a key): every account key is replaced by `[redacted]`, and a
//! chunk's tail that may begin a key waits for the next chunk (see
//! [`super::scrub`]); it is flushed before the end or Rook's error event.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame};
use rook_protocol::sse::{SseObserver, UsageChunkFilter};
use rook_protocol::Usage;
use tokio::time::{Instant, Sleep};

use super::scrub::{Scrubber, StreamScrubber};
use super::translate::BoxTranslator;
use crate::endpoint::Dialect;
use crate::lifecycle::ShutdownSignal;

/// How a relayed stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamEnd {
    /// The upstream ended the body and sent `[DONE]`.
    Completed,
    /// The upstream ended the body cleanly without `[DONE]`.
    EndedWithoutDone,
    /// The upstream connection failed mid-stream.
    UpstreamError,
    /// No chunk arrived within the idle timeout.
    IdleTimeout,
    /// The client went away before the end.
    ClientGone,
    /// The gateway's shutdown grace period ran out.
    Shutdown,
}

impl StreamEnd {
    /// Whether the client received the whole stream.
    pub(crate) fn is_complete(self) -> bool {
        matches!(self, StreamEnd::Completed | StreamEnd::EndedWithoutDone)
    }

    /// A stable label for logs and usage events.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            StreamEnd::Completed => "completed",
            StreamEnd::EndedWithoutDone => "ended_without_done",
            StreamEnd::UpstreamError => "upstream_error",
            StreamEnd::IdleTimeout => "idle_timeout",
            StreamEnd::ClientGone => "client_gone",
            StreamEnd::Shutdown => "shutdown",
        }
    }
}

/// What the finish hook learns about a relayed stream.
#[derive(Debug, Clone)]
pub(crate) struct StreamSummary {
    /// How it ended.
    pub(crate) end: StreamEnd,
    /// Usage reported by the upstream, if any.
    pub(crate) usage: Option<Usage>,
    /// Relayed events whose data was not JSON (OpenAI streams relayed as is).
    pub(crate) not_json_events: u64,
}

/// Called once when a relayed stream ends.
pub(crate) type FinishHook = Box<dyn FnOnce(StreamSummary) + Send>;

/// A streamed relay of an upstream SSE body. See the module docs.
pub(crate) struct RelayBody {
    upstream: hyper::body::Incoming,
    idle: Duration,
    sleep: Pin<Box<Sleep>>,
    observer: SseObserver,
    pending: Option<Bytes>,
    done: bool,
    end: Option<StreamEnd>,
    finish: Option<FinishHook>,
    shutdown: Option<ShutdownSignal>,
    filter: Option<UsageChunkFilter>,
    /// Translates (or observes) the upstream's protocol; the SSE observer and
    /// the usage filter are for OpenAI streams relayed as is.
    translator: Option<BoxTranslator>,
    /// The shape of Rook's own error event.
    dialect: Dialect,
    /// Removes account keys from what the client gets.
    scrub: Option<StreamScrubber>,
    _guard: Option<Box<dyn Send + Sync>>,
}

impl std::fmt::Debug for RelayBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayBody")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl RelayBody {
    /// Wraps an upstream body.
    ///
    /// `guard` is held until the relay ends (the upstream concurrency permit);
    /// `observer` may have seen the first chunk already.
    pub(crate) fn new(
        upstream: hyper::body::Incoming,
        idle: Duration,
        observer: SseObserver,
        guard: Option<Box<dyn Send + Sync>>,
        shutdown: Option<ShutdownSignal>,
        finish: FinishHook,
    ) -> Self {
        RelayBody {
            upstream,
            idle,
            sleep: Box::pin(tokio::time::sleep(idle)),
            observer,
            pending: None,
            done: false,
            end: None,
            finish: Some(finish),
            shutdown,
            filter: None,
            translator: None,
            dialect: Dialect::OpenAi,
            scrub: None,
            _guard: guard,
        }
    }

    /// Sends the upstream's bytes through `translator` (another protocol's
    /// stream, or an observer of one relayed as is).
    pub(crate) fn with_translator(mut self, translator: Option<BoxTranslator>) -> Self {
        self.translator = translator;
        self
    }

    /// Writes Rook's error event in the client's `dialect`.
    pub(crate) fn in_dialect(mut self, dialect: Dialect) -> Self {
        self.dialect = dialect;
        self
    }

    /// Replaces these secrets (every account key of the snapshot) in what the
    /// client gets.
    pub(crate) fn scrubbing(mut self, secrets: std::sync::Arc<Scrubber>) -> Self {
        if !secrets.is_empty() {
            self.scrub = Some(StreamScrubber::new(secrets));
        }
        self
    }

    /// What goes to the client for upstream bytes: translated, or observed and
    /// filtered; then scrubbed.
    fn process(&mut self, data: Bytes) -> Bytes {
        let out = if let Some(t) = &mut self.translator {
            Bytes::from(t.push(&data))
        } else {
            self.observer.feed(&data);
            self.filtered(data)
        };
        match &mut self.scrub {
            Some(s) => s.push(out),
            None => out,
        }
    }

    /// The last bytes for the client: what the scrubber held back, then `last`.
    fn scrub_final(&mut self, last: Bytes) -> Bytes {
        match &mut self.scrub {
            Some(s) => s.finish(last),
            None => last,
        }
    }

    /// Removes the usage-only chunk Rook asked for on the client's behalf.
    pub(crate) fn strip_usage_chunk(mut self) -> Self {
        self.filter = Some(UsageChunkFilter::new());
        self
    }

    /// Passes relayed bytes through the usage filter, if any.
    fn filtered(&mut self, data: Bytes) -> Bytes {
        match &mut self.filter {
            Some(f) => f.push_bytes(data),
            None => data,
        }
    }

    /// Puts bytes in front of the upstream's (a chunk read before the head was sent).
    pub(crate) fn with_prefix(mut self, prefix: Bytes) -> Self {
        if !prefix.is_empty() {
            self.pending = Some(prefix);
        }
        self
    }

    fn fail(&mut self, end: StreamEnd, message: &str, code: &str) {
        self.end = Some(end);
        let mut buf = BytesMut::new();
        let at_boundary = match (&mut self.filter, &self.translator) {
            // Translators send whole events only.
            (_, Some(_)) => true,
            // Only complete events were sent; the half event held back is dropped.
            (Some(f), None) => {
                f.discard();
                true
            }
            (None, None) => self.observer.at_event_boundary(),
        };
        if !at_boundary {
            buf.extend_from_slice(b"\n\n");
        }
        buf.extend_from_slice(&error_event(self.dialect, message, code));
        self.pending = Some(buf.freeze());
    }

    fn finish(&mut self, end: StreamEnd) {
        self.done = true;
        if let Some(hook) = self.finish.take() {
            let usage = match &self.translator {
                Some(t) => t.usage(),
                None => self.observer.usage(),
            };
            hook(StreamSummary {
                end,
                usage,
                not_json_events: self.observer.not_json_events(),
            });
        }
        self._guard = None;
    }
}

impl Body for RelayBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            if let Some(mut bytes) = this.pending.take() {
                if let Some(end) = this.end {
                    // The error event (or the last held bytes) ends the stream.
                    bytes = this.scrub_final(bytes);
                    this.finish(end);
                } else {
                    bytes = this.process(bytes);
                    if bytes.is_empty() {
                        continue;
                    }
                }
                return Poll::Ready(Some(Ok(Frame::data(bytes))));
            }
            if let Some(end) = this.end {
                let rest = this.scrub_final(Bytes::new());
                this.finish(end);
                if !rest.is_empty() {
                    return Poll::Ready(Some(Ok(Frame::data(rest))));
                }
                return Poll::Ready(None);
            }
            if let Some(sd) = this.shutdown.as_mut() {
                if sd.as_mut().poll(cx).is_ready() {
                    this.shutdown = None;
                    this.fail(
                        StreamEnd::Shutdown,
                        "The gateway is shutting down; the stream was cut short.",
                        "gateway_shutdown",
                    );
                    continue;
                }
            }
            match Pin::new(&mut this.upstream).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        let deadline = Instant::now() + this.idle;
                        this.sleep.as_mut().reset(deadline);
                        if data.is_empty() {
                            continue;
                        }
                        let data = this.process(data);
                        if data.is_empty() {
                            continue;
                        }
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    Err(_trailers) => continue,
                },
                Poll::Ready(Some(Err(e))) => {
                    tracing::debug!(error = %e, "upstream stream failed after the first byte");
                    this.fail(
                        StreamEnd::UpstreamError,
                        "The upstream connection failed mid-stream.",
                        "stream_interrupted",
                    );
                    continue;
                }
                Poll::Ready(None) => {
                    if let Some(t) = &mut this.translator {
                        let mut rest = t.finish();
                        let end = if t.completed() {
                            StreamEnd::Completed
                        } else if t.saw_upstream_error() {
                            StreamEnd::UpstreamError
                        } else {
                            // The upstream ended without its terminator: say so.
                            rest.extend_from_slice(&error_event(
                                this.dialect,
                                "The upstream ended the stream before it was complete.",
                                "stream_interrupted",
                            ));
                            StreamEnd::UpstreamError
                        };
                        this.end = Some(end);
                        if !rest.is_empty() {
                            this.pending = Some(Bytes::from(rest));
                        }
                        continue;
                    }
                    let end = if this.observer.saw_done() {
                        StreamEnd::Completed
                    } else {
                        StreamEnd::EndedWithoutDone
                    };
                    let rest = this.filter.as_mut().map(UsageChunkFilter::finish);
                    this.end = Some(end);
                    if let Some(rest) = rest.filter(|r| !r.is_empty()) {
                        this.pending = Some(Bytes::from(rest));
                    }
                    continue;
                }
                Poll::Pending => {
                    if this.sleep.as_mut().poll(cx).is_ready() {
                        this.fail(
                            StreamEnd::IdleTimeout,
                            "The upstream sent nothing within the stream idle timeout.",
                            "stream_idle_timeout",
                        );
                        continue;
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}

/// Rook's SSE error event in the client's dialect.
fn error_event(dialect: Dialect, message: &str, code: &str) -> Vec<u8> {
    let mut out = b"event: error\ndata: ".to_vec();
    match dialect {
        Dialect::OpenAi => {
            let payload = serde_json::json!({
                "error": {"message": message, "type": "upstream_error", "code": code}
            });
            out.extend_from_slice(payload.to_string().as_bytes());
        }
        Dialect::Anthropic => {
            out.extend_from_slice(&rook_protocol::anthropic::error::error_body(
                "api_error",
                message,
            ));
        }
    }
    out.extend_from_slice(b"\n\n");
    out
}

impl Drop for RelayBody {
    fn drop(&mut self) {
        if self.finish.is_some() {
            let end = self.end.unwrap_or(StreamEnd::ClientGone);
            self.finish(end);
        }
    }
}
