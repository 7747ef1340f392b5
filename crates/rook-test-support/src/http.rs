//! A tiny HTTP/1 client for tests, and an SSE parser for assertions.
//!
//! Every call uses a fresh connection (no pooling), so dropping a
//! [`StreamResponse`] closes its connection: that is how tests simulate a
//! client disconnect.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::{Error, ErrorKind};
use crate::fake::find_header;

/// A fully read response.
#[derive(Clone, Debug)]
pub struct TestResponse {
    /// The status code.
    pub status: u16,
    /// Headers in arrival order, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Bytes,
}

impl TestResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// All values of header `name` (case-insensitive).
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    ///
    /// # Panics
    /// If the body is not JSON; the message shows status and body.
    pub fn json(&self) -> Value {
        match self.try_json() {
            Ok(v) => v,
            Err(e) => panic!(
                "response body is not JSON ({e}); status {}: {}",
                self.status,
                self.text()
            ),
        }
    }

    /// The body parsed as JSON, or the parse error.
    pub fn try_json(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// The body parsed as server-sent events (see [`sse_events`]).
    pub fn sse(&self) -> Vec<SseEvent> {
        sse_events(&self.text())
    }
}

/// One piece of a streamed body and when it arrived.
#[derive(Clone, Debug)]
pub struct BodyChunk {
    /// The bytes of this read.
    pub data: Bytes,
    /// When they arrived.
    pub at: Instant,
}

/// A response whose body is delivered incrementally.
///
/// Dropping it (or calling [`disconnect`](StreamResponse::disconnect))
/// stops reading and closes the connection.
#[derive(Debug)]
pub struct StreamResponse {
    /// The status code.
    pub status: u16,
    /// Headers in arrival order, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Body chunks as they arrive; ends with `None` after the body ends, or
    /// after an `Err` if reading failed (for example an incomplete body).
    pub chunks: mpsc::UnboundedReceiver<Result<BodyChunk, Error>>,
    /// When the response head arrived.
    pub head_at: Instant,
    reader: JoinHandle<()>,
}

/// Everything a [`StreamResponse`] delivered.
#[derive(Clone, Debug)]
pub struct StreamOutcome {
    /// The chunks, in arrival order.
    pub chunks: Vec<BodyChunk>,
    /// The error that ended the body, if it did not end cleanly.
    pub error: Option<Error>,
}

impl StreamOutcome {
    /// All chunk bytes concatenated.
    pub fn body(&self) -> Bytes {
        let mut out = BytesMut::new();
        for c in &self.chunks {
            out.extend_from_slice(&c.data);
        }
        out.freeze()
    }

    /// The body as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body()).into_owned()
    }

    /// The body parsed as server-sent events.
    pub fn sse(&self) -> Vec<SseEvent> {
        sse_events(&self.text())
    }
}

impl StreamResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The next chunk; `None` once the body is over.
    pub async fn next_chunk(&mut self) -> Option<Result<BodyChunk, Error>> {
        self.chunks.recv().await
    }

    /// Reads the rest of the body.
    pub async fn collect(mut self) -> StreamOutcome {
        let mut chunks = Vec::new();
        let mut error = None;
        while let Some(item) = self.chunks.recv().await {
            match item {
                Ok(c) => chunks.push(c),
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        StreamOutcome { chunks, error }
    }

    /// Stops reading and closes the connection (same as dropping).
    pub fn disconnect(self) {
        drop(self);
    }
}

impl Drop for StreamResponse {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

fn collect_headers(map: &hyper::HeaderMap) -> Vec<(String, String)> {
    map.iter()
        .map(|(n, v)| {
            (
                n.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

async fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Result<hyper::Response<Incoming>, Error> {
    let method = ::http::Method::from_bytes(method.as_bytes())
        .map_err(|e| Error::from_source(ErrorKind::Request, "invalid method", &e))?;
    let mut builder = ::http::Request::builder().method(method).uri(url);
    for (n, v) in headers {
        builder = builder.header(*n, *v);
    }
    let req = builder
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .map_err(|e| Error::from_source(ErrorKind::Request, "invalid request", &e))?;
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build_http::<Full<Bytes>>();
    client
        .request(req)
        .await
        .map_err(|e| Error::from_source(ErrorKind::Request, &format!("request to {url}"), &e))
}

/// Sends a request and reads the whole response.
///
/// `method` is e.g. `"POST"`; `body` is sent as is (set `content-type`
/// yourself, or use [`post_json`]). An incomplete body is an error of kind
/// [`ErrorKind::Body`].
pub async fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Result<TestResponse, Error> {
    let resp = send(method, url, headers, body).await?;
    let status = resp.status().as_u16();
    let headers = collect_headers(resp.headers());
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| Error::from_source(ErrorKind::Body, &format!("reading body from {url}"), &e))?
        .to_bytes();
    Ok(TestResponse {
        status,
        headers,
        body,
    })
}

/// `GET url`.
pub async fn get(url: &str, headers: &[(&str, &str)]) -> Result<TestResponse, Error> {
    request("GET", url, headers, None).await
}

/// `POST url` with a JSON body and `content-type: application/json`.
pub async fn post_json(
    url: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> Result<TestResponse, Error> {
    let mut all: Vec<(&str, &str)> = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    request("POST", url, &all, Some(body.to_string().into_bytes())).await
}

/// Sends a request and returns as soon as the response head arrives; the
/// body is delivered chunk by chunk with arrival instants, so tests can
/// check that events arrive incrementally.
pub async fn request_stream(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Result<StreamResponse, Error> {
    let resp = send(method, url, headers, body).await?;
    let head_at = Instant::now();
    let status = resp.status().as_u16();
    let headers = collect_headers(resp.headers());
    let (tx, rx) = mpsc::unbounded_channel();
    let url = url.to_owned();
    let mut body = resp.into_body();
    let reader = tokio::spawn(async move {
        loop {
            let frame = tokio::select! {
                f = body.frame() => f,
                () = tx.closed() => return,
            };
            match frame {
                None => return,
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        let chunk = BodyChunk {
                            data,
                            at: Instant::now(),
                        };
                        if tx.send(Ok(chunk)).is_err() {
                            return;
                        }
                    }
                }
                Some(Err(e)) => {
                    let _ = tx.send(Err(Error::from_source(
                        ErrorKind::Body,
                        &format!("reading body from {url}"),
                        &e,
                    )));
                    return;
                }
            }
        }
    });
    Ok(StreamResponse {
        status,
        headers,
        chunks: rx,
        head_at,
        reader,
    })
}

/// `POST url` with a JSON body, streamed (see [`request_stream`]).
pub async fn post_json_stream(
    url: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> Result<StreamResponse, Error> {
    let mut all: Vec<(&str, &str)> = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    request_stream("POST", url, &all, Some(body.to_string().into_bytes())).await
}

/// A server-sent event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, if the event had one.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The `id:` field, if this event had one (not inherited from earlier
    /// events, unlike a browser's last-event-id).
    pub id: Option<String>,
}

impl SseEvent {
    /// `data` parsed as JSON, if it is JSON (`[DONE]` is not).
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.data).ok()
    }
}

/// Parses a complete SSE body into events.
///
/// Lines end with LF, CRLF or CR; lines starting with `:` are comments; a
/// single space after the field colon is stripped; `data` lines are joined
/// with `\n`; an event is dispatched at a blank line if it had a `data` or
/// `event` field (unknown fields such as `retry:` are ignored). A trailing
/// event without its blank line is dropped, as a browser would.
pub fn sse_events(body: &str) -> Vec<SseEvent> {
    let mut events = Vec::new();
    let mut cur = SseEvent::default();
    let mut has_data = false;
    let mut has_fields = false;

    let normalized = body.replace("\r\n", "\n").replace('\r', "\n");
    let mut lines: Vec<&str> = normalized.split('\n').collect();
    // `split` yields a last element after the final newline: it is an
    // unterminated line, dropped per the spec.
    lines.pop();
    for line in lines {
        if line.is_empty() {
            if has_data || cur.event.is_some() {
                events.push(std::mem::take(&mut cur));
            } else if has_fields {
                cur = SseEvent::default();
            }
            has_data = false;
            has_fields = false;
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        has_fields = true;
        match field {
            "data" => {
                if has_data {
                    cur.data.push('\n');
                }
                cur.data.push_str(value);
                has_data = true;
            }
            "event" => cur.event = Some(value.to_owned()),
            "id" => cur.id = Some(value.to_owned()),
            _ => {}
        }
    }
    events
}

/// The `data` of every event, e.g. to compare with `["{...}", "[DONE]"]`.
pub fn sse_data(body: &str) -> Vec<String> {
    sse_events(body).into_iter().map(|e| e.data).collect()
}
