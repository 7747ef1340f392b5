//! A scriptable, in-process fake upstream speaking the OpenAI, Anthropic and
//! Gemini protocols.
//!
//! [`FakeUpstream`] listens on `127.0.0.1:0` and answers by request path, like
//! the real vendors (paths are matched by their end, so any version prefix
//! such as `/v1` or `/v1beta` works):
//!
//! | request | protocol | answer |
//! |---|---|---|
//! | `POST …/chat/completions` | OpenAI | `chat.completion` or its chunk stream |
//! | `POST …/completions` | OpenAI (legacy) | `text_completion` or its stream |
//! | `POST …/embeddings` | OpenAI | a `list` of `embedding`s, one per input |
//! | `POST …/responses` | OpenAI Responses | a `response`, or its event stream |
//! | `POST …/messages` | Anthropic | a `message`, or its event stream |
//! | `POST …/messages/count_tokens` | Anthropic | `{"input_tokens"}` |
//! | `POST …/models/{m}:generateContent` | Gemini | a `GenerateContentResponse` |
//! | `POST …/models/{m}:streamGenerateContent` | Gemini | SSE of `GenerateContentResponse`s |
//! | `POST …/models/{m}:batchEmbedContents` | Gemini | `{"embeddings":[{"values"}]}` |
//! | `GET …/models`, `GET …/models/{id}` | OpenAI | the model list / one model |
//!
//! Anything else is a 404 with an OpenAI error body. Every `POST` above
//! consumes the queued [`Reply`]s in order; when the queue is empty the
//! default reply is used (initially [`Reply::auto`]). A reply is rendered in
//! the protocol of the path it answers: [`Reply::chat`] is an Anthropic
//! `message` on `/messages` and a Gemini candidate on `:generateContent`,
//! [`Reply::status`] gives each protocol's error body. Every request is
//! recorded ([`FakeUpstream::requests`]), and responses whose peer went away
//! before they finished are counted ([`FakeUpstream::cancelled_count`]).
//!
//! With [`FakeUpstream::set_echo_key`] on, the fake reflects the key each
//! request presents (a hostile or careless upstream): in an `x-echo-key`
//! header on every answer, in the `GET …/models` list, and wherever a
//! scripted reply holds [`ECHO_KEY`] (or its halves [`ECHO_KEY_HEAD`],
//! [`ECHO_KEY_TAIL`], to split it across stream chunks). Off by default.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Sleep;

mod anthropic;
mod echo;
mod gemini;
mod openai;
mod responses;

pub use echo::{ECHO_HEADER, ECHO_KEY, ECHO_KEY_HEAD, ECHO_KEY_TAIL};

/// `prompt_tokens` reported when no [`Reply::usage`] override is set.
pub const DEFAULT_PROMPT_TOKENS: u64 = 10;
/// `completion_tokens` reported when no [`Reply::usage`] override is set.
pub const DEFAULT_COMPLETION_TOKENS: u64 = 5;
/// The assistant content of [`Reply::auto`] (buffered answers).
pub const AUTO_CONTENT: &str = "Hello from the fake upstream.";
/// The content pieces of [`Reply::auto`] (streamed answers); they concatenate
/// to [`AUTO_CONTENT`].
pub const AUTO_CHUNKS: [&str; 4] = ["Hello", " from", " the fake", " upstream."];
/// The model id used when a request does not name one, and the default
/// content of `GET /v1/models`.
pub const DEFAULT_MODEL: &str = "fake-model";
/// Length of the vectors answered by the embedding endpoints (see
/// [`embedding_for`]).
pub const EMBEDDING_DIMS: usize = 4;

/// The embedding vector answered for the input at `index` (OpenAI
/// `data[index].embedding`, Gemini `embeddings[index].values`):
/// `[index + 0.5, 0.25, -0.25, 0.125]`, exact in `f32`, so translations can be
/// checked value by value.
pub fn embedding_for(index: usize) -> Vec<f64> {
    // Embedding batches are small; the cast is exact for them.
    #[allow(clippy::cast_precision_loss)]
    let first = index as f64 + 0.5;
    vec![first, 0.25, -0.25, 0.125]
}

/// How long a deliberately broken body waits after its last data before the
/// connection is dropped, so the data already written reaches the client.
const BREAK_FLUSH_DELAY: Duration = Duration::from_millis(20);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

// ---------------------------------------------------------------------------
// Reply
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Kind {
    Auto,
    Chat(String),
    Stream(Vec<String>),
    ToolCall { name: String, args: Value },
    DefaultError,
    Json(Value),
    Raw(Vec<Bytes>),
}

/// One scripted answer of the fake upstream.
///
/// Constructors choose the body ([`auto`](Reply::auto), [`chat`](Reply::chat),
/// [`stream`](Reply::stream), [`status`](Reply::status)); the builder methods
/// adjust it. Builders compose: `Reply::status(429).header("retry-after", "2")`,
/// `Reply::stream(..).chunk_delay(..).break_after(2)`.
#[derive(Clone, Debug)]
pub struct Reply {
    kind: Kind,
    status: u16,
    headers: Vec<(String, String)>,
    delay: Option<Duration>,
    chunk_delay: Option<Duration>,
    break_after: Option<usize>,
    usage: Option<(u64, u64)>,
    message: Option<String>,
    hang: bool,
    pad_to: Option<usize>,
}

impl Reply {
    fn with_kind(kind: Kind, status: u16) -> Self {
        Self {
            kind,
            status,
            headers: Vec::new(),
            delay: None,
            chunk_delay: None,
            break_after: None,
            usage: None,
            message: None,
            hang: false,
            pad_to: None,
        }
    }

    /// Answers like the vendor of the path would, with [`AUTO_CONTENT`] for a
    /// buffered request, or, for a streamed one (`"stream": true`, Gemini's
    /// `:streamGenerateContent`), the vendor's SSE stream carrying
    /// [`AUTO_CHUNKS`]. The request's `model` is echoed.
    ///
    /// On `…/chat/completions`: a `chat.completion` JSON, or
    /// `chat.completion.chunk` events (first event carries the role, a last
    /// event `finish_reason: "stop"`, a usage-only event if
    /// `stream_options.include_usage` is true, then `data: [DONE]`). The
    /// other paths are described in the [module docs](self).
    pub fn auto() -> Self {
        Self::with_kind(Kind::Auto, 200)
    }

    /// A buffered `chat.completion` JSON with this content, usage and the
    /// request's model echoed (regardless of the request's `stream` flag).
    pub fn chat(content: &str) -> Self {
        Self::with_kind(Kind::Chat(content.to_owned()), 200)
    }

    /// An SSE stream whose content deltas are `chunks` (regardless of the
    /// request's `stream` flag): a role event, one event per chunk, a
    /// `finish_reason: "stop"` event, a usage event if the request asked for
    /// `stream_options.include_usage`, then `data: [DONE]`.
    pub fn stream(chunks: Vec<String>) -> Self {
        Self::with_kind(Kind::Stream(chunks), 200)
    }

    /// One function/tool call named `name` with these arguments (a JSON
    /// object), buffered or streamed as the request asks, in the protocol of
    /// the path:
    ///
    /// - `…/chat/completions`: `message.tool_calls[0]` (`id` `call_fake_N`,
    ///   `arguments` as JSON text), `finish_reason: "tool_calls"`; streamed,
    ///   a delta with id and name, then the arguments in pieces.
    /// - `…/messages`: a `tool_use` block (`id` `toolu_fake_N`, `input`),
    ///   `stop_reason: "tool_use"`; streamed, `content_block_start` then
    ///   `input_json_delta` pieces.
    /// - `:generateContent` / `:streamGenerateContent`: a
    ///   `functionCall {name, args}` part, `finishReason: "STOP"`.
    /// - `…/responses`: a `function_call` output item (`call_id`
    ///   `call_fake_N`); streamed, `response.function_call_arguments.delta`
    ///   pieces.
    ///
    /// Embedding and token-count paths answer as [`auto`](Reply::auto).
    pub fn tool_call(name: &str, args: Value) -> Self {
        Self::with_kind(
            Kind::ToolCall {
                name: name.to_owned(),
                args,
            },
            200,
        )
    }

    /// Anthropic's name for [`tool_call`](Reply::tool_call): on `…/messages`
    /// a `tool_use` block (streamed with `input_json_delta` pieces) and
    /// `stop_reason: "tool_use"`.
    pub fn anthropic_tool_use(name: &str, input: Value) -> Self {
        Self::tool_call(name, input)
    }

    /// Gemini's name for [`tool_call`](Reply::tool_call): on
    /// `:generateContent` a `functionCall {name, args}` part.
    pub fn gemini_function_call(name: &str, args: Value) -> Self {
        Self::tool_call(name, args)
    }

    /// A response with this status and, unless [`json`](Reply::json) or
    /// [`raw_sse`](Reply::raw_sse) replaces it, the error body of the
    /// path's protocol matching the status:
    ///
    /// - OpenAI paths: `{"error":{"message","type","code"}}`.
    /// - Anthropic paths: `{"type":"error","error":{"type","message"}}` with
    ///   `invalid_request_error` (400, other 4xx), `authentication_error`
    ///   (401), `permission_error` (403), `not_found_error` (404),
    ///   `request_too_large` (413), `rate_limit_error` (429), `api_error`
    ///   (500 and other 5xx), `overloaded_error` (529, message `Overloaded`).
    /// - Gemini paths: `{"error":{"code","message","status"}}` with
    ///   `INVALID_ARGUMENT` (400), `UNAUTHENTICATED` (401),
    ///   `PERMISSION_DENIED` (403), `NOT_FOUND` (404), `RESOURCE_EXHAUSTED`
    ///   (429), `INTERNAL` (500), `UNAVAILABLE` (503), `DEADLINE_EXCEEDED`
    ///   (504).
    ///
    /// The message is `fake upstream scripted status N` unless
    /// [`message`](Reply::message) sets it.
    pub fn status(code: u16) -> Self {
        Self::with_kind(Kind::DefaultError, code)
    }

    /// Sets the message of a [`status`](Reply::status) error body.
    pub fn message(mut self, message: &str) -> Self {
        self.message = Some(message.to_owned());
        self
    }

    /// Replaces the body with this JSON value (`content-type:
    /// application/json`).
    pub fn json(mut self, body: Value) -> Self {
        self.kind = Kind::Json(body);
        self
    }

    /// Replaces the body with exactly these bytes, sent as one write with
    /// `content-type: text/event-stream` (for SSE framing tests: `event:`,
    /// `id:`, comments, CRLF...).
    pub fn raw_sse(self, body: String) -> Self {
        self.raw_sse_parts(vec![body])
    }

    /// Like [`raw_sse`](Reply::raw_sse) but sends each part as its own write
    /// (separated by [`chunk_delay`](Reply::chunk_delay) if set), for tests
    /// of events split across reads. [`break_after`](Reply::break_after)
    /// counts parts.
    pub fn raw_sse_parts(mut self, parts: Vec<String>) -> Self {
        self.kind = Kind::Raw(parts.into_iter().map(Bytes::from).collect());
        self
    }

    /// Adds a response header (for example `retry-after: 2`). A
    /// `content-type` given here replaces the default one.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Waits this long before sending the response head.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// Waits this long between SSE events (or raw parts).
    pub fn chunk_delay(mut self, delay: Duration) -> Self {
        self.chunk_delay = Some(delay);
        self
    }

    /// Sends `n` SSE events (raw parts; for buffered bodies: `n` bytes),
    /// then drops the connection without terminating the chunked body, so
    /// the client sees an incomplete body error rather than a clean end.
    pub fn break_after(mut self, n: usize) -> Self {
        self.break_after = Some(n);
        self
    }

    /// Overrides the reported usage (`total_tokens` is their sum): OpenAI
    /// `prompt_tokens`/`completion_tokens` (Responses: `input_tokens`/
    /// `output_tokens`), Anthropic `input_tokens`/`output_tokens`, Gemini
    /// `promptTokenCount`/`candidatesTokenCount`. Embeddings report
    /// `prompt_tokens`, count_tokens `input_tokens`.
    pub fn usage(mut self, prompt_tokens: u64, completion_tokens: u64) -> Self {
        self.usage = Some((prompt_tokens, completion_tokens));
        self
    }

    /// Makes a buffered JSON answer at least `bytes` long (a `"padding"`
    /// string field is added to the top-level object) and sends it chunked,
    /// in 64 KiB writes without `content-length`, so the client can only
    /// learn its size by reading it (for answer-size limit tests). With
    /// [`chunk_delay`](Reply::chunk_delay), everything but the last 1 KiB is
    /// sent at once and the last 1 KiB after the delay, so the client holds
    /// most of the answer meanwhile (for memory-budget tests).
    pub fn pad_to(mut self, bytes: usize) -> Self {
        self.pad_to = Some(bytes);
        self
    }

    /// Never responds (the request stays pending until the client gives up
    /// or the fake is dropped); for timeout tests.
    pub fn hang(mut self) -> Self {
        self.hang = true;
        self
    }
}

impl Default for Reply {
    fn default() -> Self {
        Self::auto()
    }
}

// ---------------------------------------------------------------------------
// Recording
// ---------------------------------------------------------------------------

/// A request as received by the fake upstream.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// The method, e.g. `POST`.
    pub method: String,
    /// The path without the query, e.g. `/v1/chat/completions`.
    pub path: String,
    /// The query string without `?`, if any.
    pub query: Option<String>,
    /// Headers in arrival order, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The full request body.
    pub body: Bytes,
    /// When the request (with its full body) was received.
    pub received_at: Instant,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The body parsed as JSON.
    ///
    /// # Panics
    /// If the body is not JSON (this is a test assertion helper).
    pub fn json(&self) -> Value {
        match serde_json::from_slice(&self.body) {
            Ok(v) => v,
            Err(e) => panic!(
                "recorded request body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            ),
        }
    }
}

pub(crate) fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

// ---------------------------------------------------------------------------
// Shared state
// ---------------------------------------------------------------------------

struct Script {
    queue: VecDeque<Reply>,
    default: Reply,
    models: Vec<String>,
}

struct Shared {
    script: Mutex<Script>,
    requests: Mutex<Vec<RecordedRequest>>,
    /// Requests are recorded (off for load tests: the record grows without bound).
    record: std::sync::atomic::AtomicBool,
    /// Answers echo the key the request presented (see [`FakeUpstream::set_echo_key`]).
    echo_key: std::sync::atomic::AtomicBool,
    chat_count: AtomicUsize,
    cancelled: AtomicUsize,
    seq: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ---------------------------------------------------------------------------
// FakeUpstream
// ---------------------------------------------------------------------------

/// A scriptable OpenAI-compatible server on `127.0.0.1:<random port>`,
/// running on the current tokio runtime; it shuts down when dropped.
pub struct FakeUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl FakeUpstream {
    /// Binds `127.0.0.1:0` and starts serving on the current tokio runtime.
    ///
    /// # Panics
    /// If binding the loopback listener fails, or outside a tokio runtime.
    pub async fn start() -> FakeUpstream {
        match Self::try_start().await {
            Ok(f) => f,
            Err(e) => panic!("FakeUpstream::start: {e}"),
        }
    }

    /// Like [`start`](FakeUpstream::start), returning bind errors.
    pub async fn try_start() -> std::io::Result<FakeUpstream> {
        Self::try_start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts on a given address (port 0 picks a free one).
    pub async fn try_start_on(addr: SocketAddr) -> std::io::Result<FakeUpstream> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            script: Mutex::new(Script {
                queue: VecDeque::new(),
                default: Reply::auto(),
                models: vec![DEFAULT_MODEL.to_owned()],
            }),
            requests: Mutex::new(Vec::new()),
            record: std::sync::atomic::AtomicBool::new(true),
            echo_key: std::sync::atomic::AtomicBool::new(false),
            chat_count: AtomicUsize::new(0),
            cancelled: AtomicUsize::new(0),
            seq: AtomicU64::new(0),
        });
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(FakeUpstream { addr, shared, task })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/v1`, the OpenAI-style base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// `http://127.0.0.1:PORT` without the `/v1` suffix.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues a reply for the next answered `POST` (chat, messages,
    /// generateContent, embeddings, responses, ...; replies are consumed in
    /// push order, whatever the path).
    pub fn push(&self, reply: Reply) {
        lock(&self.shared.script).queue.push_back(reply);
    }

    /// Queues several replies, in order.
    pub fn push_all(&self, replies: impl IntoIterator<Item = Reply>) {
        lock(&self.shared.script).queue.extend(replies);
    }

    /// Sets the reply used when the queue is empty (initially
    /// [`Reply::auto`]).
    pub fn set_default(&self, reply: Reply) {
        lock(&self.shared.script).default = reply;
    }

    /// Number of queued replies not yet consumed.
    pub fn pending_replies(&self) -> usize {
        lock(&self.shared.script).queue.len()
    }

    /// Sets the model ids listed by `GET /v1/models` (default
    /// `["fake-model"]`).
    pub fn set_models(&self, models: &[&str]) {
        lock(&self.shared.script).models = models.iter().map(|m| (*m).to_owned()).collect();
    }

    /// Every request received so far (all routes), in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// The chat completion requests (`…/chat/completions`) received so far.
    pub fn chat_requests(&self) -> Vec<RecordedRequest> {
        self.requests_to("/chat/completions")
    }

    /// The requests whose path ends with `path_end` (e.g. `"/messages"`,
    /// `":generateContent"`, `"/embeddings"`), in arrival order.
    pub fn requests_to(&self, path_end: &str) -> Vec<RecordedRequest> {
        lock(&self.shared.requests)
            .iter()
            .filter(|r| r.path.ends_with(path_end))
            .cloned()
            .collect()
    }

    /// The most recent request, if any.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        lock(&self.shared.requests).last().cloned()
    }

    /// Number of answered `POST` requests received (those that consume a
    /// [`Reply`]: chat completions, messages, count_tokens, generateContent,
    /// embeddings, responses, completions); `GET`s and 404s are not
    /// counted.
    pub fn request_count(&self) -> usize {
        self.shared.chat_count.load(Ordering::SeqCst)
    }

    /// Number of responses abandoned by the peer before they finished
    /// (client disconnected while the reply was delayed, hanging, or its
    /// body was still streaming). Deliberate [`Reply::break_after`] aborts
    /// are not counted.
    pub fn cancelled_count(&self) -> usize {
        self.shared.cancelled.load(Ordering::SeqCst)
    }

    /// Turns key echoing on or off (off by default): every answer then
    /// carries the key the request presented (`Authorization: Bearer`,
    /// `x-api-key`, `x-goog-api-key` or `?key=`) in an [`ECHO_HEADER`]
    /// header, `GET …/models` lists it as `echo_key`, and the template fields
    /// [`ECHO_KEY`], [`ECHO_KEY_HEAD`] and [`ECHO_KEY_TAIL`] in scripted
    /// replies (bodies, messages, stream chunks, raw SSE parts, headers) are
    /// replaced by the key or its halves.
    pub fn set_echo_key(&self, on: bool) {
        self.shared.echo_key.store(on, Ordering::Relaxed);
    }

    /// Stops (or resumes) recording requests; counters keep counting. For load
    /// tests, where the record would grow without bound.
    pub fn set_recording(&self, on: bool) {
        self.shared.record.store(on, Ordering::Relaxed);
    }

    /// Forgets recorded requests and resets the request and cancellation
    /// counters (the script is kept).
    pub fn clear(&self) {
        lock(&self.shared.requests).clear();
        self.shared.chat_count.store(0, Ordering::SeqCst);
        self.shared.cancelled.store(0, Ordering::SeqCst);
    }

    /// Waits (polling every 5 ms) until [`request_count`](Self::request_count)
    /// reaches `n`; returns whether it did within `timeout`.
    pub async fn wait_requests(&self, n: usize, timeout: Duration) -> bool {
        wait_until(timeout, || self.request_count() >= n).await
    }

    /// Waits (polling every 5 ms) until
    /// [`cancelled_count`](Self::cancelled_count) reaches `n`; returns whether
    /// it did within `timeout`.
    pub async fn wait_cancelled(&self, n: usize, timeout: Duration) -> bool {
        wait_until(timeout, || self.cancelled_count() >= n).await
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        // Aborting the accept task drops its JoinSet, which aborts every
        // connection task.
        self.task.abort();
    }
}

impl std::fmt::Debug for FakeUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeUpstream")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

async fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut conns = JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Typically EMFILE under heavy load: back off briefly.
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
        };
        while conns.try_join_next().is_some() {}
        let shared = shared.clone();
        conns.spawn(async move {
            let _ = stream.set_nodelay(true);
            let svc = service_fn(move |req| handle(shared.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

// ---------------------------------------------------------------------------
// Request handling
// ---------------------------------------------------------------------------

/// Counts a cancellation when dropped while still armed.
struct CancelGuard {
    shared: Arc<Shared>,
    armed: bool,
}

impl CancelGuard {
    fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            armed: true,
        }
    }

    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if self.armed {
            self.shared.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<FakeBody>, Infallible> {
    let mut guard = CancelGuard::new(shared.clone());
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            // The client went away while sending the request.
            return Ok(simple(400, error_body(400, "could not read request body")));
        }
    };
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let echo = shared
        .echo_key
        .load(Ordering::Relaxed)
        .then(|| echo::presented_key(&parts.headers, parts.uri.query()));
    let recorded = RecordedRequest {
        method: method.clone(),
        path: path.clone(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.clone(),
        received_at: Instant::now(),
    };
    if shared.record.load(Ordering::Relaxed) {
        lock(&shared.requests).push(recorded);
    }

    let response = match (method.as_str(), Endpoint::of(&path)) {
        ("POST", Some(endpoint)) => {
            shared.chat_count.fetch_add(1, Ordering::SeqCst);
            let reply = {
                let mut script = lock(&shared.script);
                match script.queue.pop_front() {
                    Some(r) => r,
                    None => script.default.clone(),
                }
            };
            let reply = match &echo {
                Some(key) => reply.echoing(key),
                None => reply,
            };
            let request_json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let seq = shared.seq.fetch_add(1, Ordering::SeqCst) + 1;
            if reply.hang {
                // Pending until the connection (and so this future) is dropped.
                std::future::pending::<()>().await;
            }
            if let Some(d) = reply.delay {
                tokio::time::sleep(d).await;
            }
            let ctx = Ctx::new(&shared, &reply, &request_json, seq, &endpoint);
            render(&ctx, &endpoint)
        }
        ("GET", _) if path.ends_with("/models") => {
            let models = lock(&shared.script).models.clone();
            let data: Vec<Value> = models.iter().map(|id| openai::model_json(id)).collect();
            let mut list = json!({"object": "list", "data": data});
            if let Some(key) = &echo {
                list["echo_key"] = json!(key);
            }
            simple(200, list)
        }
        ("GET", _) if path.contains("/models/") && !path.contains(':') => {
            let id = path.rsplit_once("/models/").map_or("", |(_, id)| id);
            let known = lock(&shared.script).models.iter().any(|m| m == id);
            if known {
                simple(200, openai::model_json(id))
            } else {
                simple(
                    404,
                    json!({"error": {
                        "message": format!("The model '{id}' does not exist"),
                        "type": "invalid_request_error",
                        "param": "model",
                        "code": "model_not_found",
                    }}),
                )
            }
        }
        _ => simple(
            404,
            json!({"error": {
                "message": format!("fake upstream: no route for {method} {path}"),
                "type": "invalid_request_error",
                "code": "not_found",
            }}),
        ),
    };
    guard.disarm();
    let mut response = response;
    if let Some(v) = echo.and_then(|k| hyper::header::HeaderValue::from_str(&k).ok()) {
        response.headers_mut().insert(ECHO_HEADER, v);
    }
    Ok(response)
}

/// What a `POST` path asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Endpoint {
    Chat,
    Completions,
    Embeddings,
    Responses,
    Messages,
    CountTokens,
    Generate { stream: bool },
    BatchEmbed,
}

/// The protocol family whose shapes (errors included) an endpoint uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    OpenAi,
    Anthropic,
    Gemini,
}

impl Endpoint {
    /// Matches a path by its end, so any version prefix works.
    fn of(path: &str) -> Option<Endpoint> {
        if let Some((_, action)) = path
            .rsplit_once("/models/")
            .and_then(|(_, m)| m.split_once(':'))
        {
            return match action {
                "generateContent" => Some(Endpoint::Generate { stream: false }),
                "streamGenerateContent" => Some(Endpoint::Generate { stream: true }),
                "batchEmbedContents" => Some(Endpoint::BatchEmbed),
                _ => None,
            };
        }
        let ends = |s: &str| path.ends_with(s);
        if ends("/chat/completions") {
            Some(Endpoint::Chat)
        } else if ends("/completions") {
            Some(Endpoint::Completions)
        } else if ends("/embeddings") {
            Some(Endpoint::Embeddings)
        } else if ends("/responses") {
            Some(Endpoint::Responses)
        } else if ends("/messages/count_tokens") {
            Some(Endpoint::CountTokens)
        } else if ends("/messages") {
            Some(Endpoint::Messages)
        } else {
            None
        }
    }

    fn family(&self) -> Family {
        match self {
            Endpoint::Chat | Endpoint::Completions | Endpoint::Embeddings | Endpoint::Responses => {
                Family::OpenAi
            }
            Endpoint::Messages | Endpoint::CountTokens => Family::Anthropic,
            Endpoint::Generate { .. } | Endpoint::BatchEmbed => Family::Gemini,
        }
    }
}

fn simple(status: u16, body: Value) -> Response<FakeBody> {
    let bytes = Bytes::from(body.to_string());
    build_response(
        status,
        &[],
        "application/json",
        FakeBody::new(
            vec![bytes.clone()],
            None,
            None,
            Some(bytes.len() as u64),
            None,
        ),
    )
}

fn build_response(
    status: u16,
    extra: &[(String, String)],
    content_type: &str,
    body: FakeBody,
) -> Response<FakeBody> {
    let mut builder = Response::builder().status(status);
    if find_header(extra, "content-type").is_none() {
        builder = builder.header("content-type", content_type);
    }
    if content_type == "text/event-stream" {
        builder = builder.header("cache-control", "no-cache");
    }
    for (n, v) in extra {
        builder = builder.header(n.as_str(), v.as_str());
    }
    match builder.body(body) {
        Ok(r) => r,
        Err(e) => {
            // An invalid scripted header or status: answer 500 saying so.
            let bytes = Bytes::from(
                error_body(500, &format!("fake upstream: invalid scripted reply: {e}")).to_string(),
            );
            let mut r = Response::new(FakeBody::new(vec![bytes], None, None, None, None));
            *r.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
            r
        }
    }
}

fn error_body(status: u16, message: &str) -> Value {
    let (kind, code) = match status {
        400 => ("invalid_request_error", Value::Null),
        401 => ("authentication_error", json!("invalid_api_key")),
        403 => ("permission_error", Value::Null),
        404 => ("invalid_request_error", json!("not_found")),
        429 => ("rate_limit_error", json!("rate_limit_exceeded")),
        s if s >= 500 => ("server_error", Value::Null),
        _ => ("invalid_request_error", Value::Null),
    };
    json!({"error": {"message": message, "type": kind, "code": code}})
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// One SSE event: `event: NAME` (if any) and `data: JSON`, ended by `sep`
/// (`"\n\n"`, or `"\r\n\r\n"` for Gemini).
fn sse_event(name: Option<&str>, data: &Value, crlf: bool) -> Bytes {
    let nl = if crlf { "\r\n" } else { "\n" };
    match name {
        Some(n) => Bytes::from(format!("event: {n}{nl}data: {data}{nl}{nl}")),
        None => Bytes::from(format!("data: {data}{nl}{nl}")),
    }
}

/// Splits `s` into about `n` non-empty pieces on character boundaries (for
/// streaming tool arguments in parts).
fn split_pieces(s: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return Vec::new();
    }
    let size = chars.len().div_ceil(n.max(1));
    chars
        .chunks(size)
        .map(|c| c.iter().collect::<String>())
        .collect()
}

/// Everything a renderer needs about one request and its reply.
struct Ctx<'a> {
    shared: &'a Arc<Shared>,
    reply: &'a Reply,
    req: &'a Value,
    /// The request's `model` (for Gemini: the model in the path is not
    /// known here, so the request's, else [`DEFAULT_MODEL`]).
    model: String,
    seq: u64,
    /// Whether the request asked for a stream.
    wants_stream: bool,
}

impl<'a> Ctx<'a> {
    fn new(
        shared: &'a Arc<Shared>,
        reply: &'a Reply,
        req: &'a Value,
        seq: u64,
        endpoint: &Endpoint,
    ) -> Self {
        let model = req
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or(DEFAULT_MODEL)
            .to_owned();
        let wants_stream = match endpoint {
            Endpoint::Generate { stream } => *stream,
            _ => req.get("stream").and_then(Value::as_bool) == Some(true),
        };
        Self {
            shared,
            reply,
            req,
            model,
            seq,
            wants_stream,
        }
    }

    /// `(prompt/input tokens, completion/output tokens)`.
    fn usage(&self) -> (u64, u64) {
        self.reply
            .usage
            .unwrap_or((DEFAULT_PROMPT_TOKENS, DEFAULT_COMPLETION_TOKENS))
    }

    /// The message of a scripted error: the [`Reply::message`], else what
    /// the vendor says for an overload (Anthropic's 529), else `fake
    /// upstream scripted status N`.
    fn error_message(&self, family: Family) -> String {
        match &self.reply.message {
            Some(m) => m.clone(),
            None if family == Family::Anthropic && self.reply.status == 529 => {
                "Overloaded".to_owned()
            }
            None => format!("fake upstream scripted status {}", self.reply.status),
        }
    }

    /// A JSON body with the reply's status and headers, honouring
    /// `break_after` (in bytes).
    fn buffered(&self, body: Value) -> Response<FakeBody> {
        if let Some(n) = self.reply.pad_to {
            return self.padded(body, n);
        }
        let bytes = Bytes::from(body.to_string());
        let body = match self.reply.break_after {
            Some(n) => FakeBody::new(
                vec![bytes.slice(..n.min(bytes.len()))],
                None,
                Some(1),
                None,
                Some(self.shared.clone()),
            ),
            None => {
                let len = bytes.len() as u64;
                FakeBody::new(
                    vec![bytes],
                    None,
                    None,
                    Some(len),
                    Some(self.shared.clone()),
                )
            }
        };
        build_response(
            self.reply.status,
            &self.reply.headers,
            "application/json",
            body,
        )
    }

    /// `body` padded to at least `n` bytes, sent in 64 KiB chunks without a
    /// length.
    fn padded(&self, mut body: Value, n: usize) -> Response<FakeBody> {
        let plain = body.to_string().len();
        // `,"padding":""` is 13 bytes.
        let pad = n.saturating_sub(plain + 13);
        if let Some(obj) = body.as_object_mut() {
            obj.insert("padding".into(), Value::String("x".repeat(pad)));
        }
        let mut rest = Bytes::from(body.to_string());
        let mut parts = Vec::new();
        if self.reply.chunk_delay.is_some() {
            let head = rest.split_to(rest.len().saturating_sub(1024));
            parts.push(head);
            parts.push(rest);
        } else {
            while !rest.is_empty() {
                parts.push(rest.split_to(rest.len().min(64 * 1024)));
            }
        }
        let body = FakeBody::new(
            parts,
            self.reply.chunk_delay,
            None,
            None,
            Some(self.shared.clone()),
        );
        build_response(
            self.reply.status,
            &self.reply.headers,
            "application/json",
            body,
        )
    }

    /// An SSE body, one write per event, honouring `chunk_delay` and
    /// `break_after` (in events).
    fn sse(&self, events: Vec<Bytes>) -> Response<FakeBody> {
        let body = FakeBody::new(
            events,
            self.reply.chunk_delay,
            self.reply.break_after,
            None,
            Some(self.shared.clone()),
        );
        build_response(
            self.reply.status,
            &self.reply.headers,
            "text/event-stream",
            body,
        )
    }
}

/// What a reply says, independent of the protocol it is rendered in.
enum Answer<'a> {
    /// Text, buffered or streamed in these pieces.
    Text { pieces: Vec<String>, stream: bool },
    /// One tool call.
    Tool {
        name: &'a str,
        args: &'a Value,
        stream: bool,
    },
}

impl Answer<'_> {
    fn text(pieces: &[String]) -> String {
        pieces.concat()
    }
}

fn render(ctx: &Ctx<'_>, endpoint: &Endpoint) -> Response<FakeBody> {
    let reply = ctx.reply;
    let auto_pieces = || -> Vec<String> { AUTO_CHUNKS.iter().map(|s| (*s).to_owned()).collect() };
    let answer = match &reply.kind {
        Kind::Json(v) => return ctx.buffered(v.clone()),
        Kind::Raw(parts) => return ctx.sse(parts.clone()),
        Kind::DefaultError => {
            let message = ctx.error_message(endpoint.family());
            let body = match endpoint.family() {
                Family::OpenAi => error_body(reply.status, &message),
                Family::Anthropic => anthropic::error_body(reply.status, &message),
                Family::Gemini => gemini::error_body(reply.status, &message),
            };
            return ctx.buffered(body);
        }
        Kind::Auto if ctx.wants_stream => Answer::Text {
            pieces: auto_pieces(),
            stream: true,
        },
        Kind::Auto => Answer::Text {
            pieces: vec![AUTO_CONTENT.to_owned()],
            stream: false,
        },
        Kind::Chat(content) => Answer::Text {
            pieces: vec![content.clone()],
            stream: false,
        },
        Kind::Stream(pieces) => Answer::Text {
            pieces: pieces.clone(),
            stream: true,
        },
        Kind::ToolCall { name, args } => Answer::Tool {
            name,
            args,
            stream: ctx.wants_stream,
        },
    };
    match endpoint {
        Endpoint::Chat => openai::chat(ctx, &answer),
        Endpoint::Completions => openai::completions(ctx, &answer),
        Endpoint::Embeddings => openai::embeddings(ctx),
        Endpoint::Responses => responses::render(ctx, &answer),
        Endpoint::Messages => anthropic::messages(ctx, &answer),
        Endpoint::CountTokens => anthropic::count_tokens(ctx),
        Endpoint::Generate { .. } => gemini::generate(ctx, &answer),
        Endpoint::BatchEmbed => gemini::batch_embed(ctx),
    }
}

// ---------------------------------------------------------------------------
// Response body
// ---------------------------------------------------------------------------

#[derive(Debug)]
struct DeliberateBreak;

impl std::fmt::Display for DeliberateBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("fake upstream: connection broken on purpose (break_after)")
    }
}

impl std::error::Error for DeliberateBreak {}

/// The response body: a list of parts, optionally paced by `chunk_delay`
/// and broken after `break_after` parts. Dropped before the end (peer went
/// away) it counts a cancellation.
struct FakeBody {
    parts: VecDeque<Bytes>,
    chunk_delay: Option<Duration>,
    break_after: Option<usize>,
    exact_len: Option<u64>,
    sent: usize,
    sleep: Option<Pin<Box<Sleep>>>,
    slept: bool,
    finished: bool,
    shared: Option<Arc<Shared>>,
}

impl FakeBody {
    fn new(
        parts: Vec<Bytes>,
        chunk_delay: Option<Duration>,
        break_after: Option<usize>,
        exact_len: Option<u64>,
        shared: Option<Arc<Shared>>,
    ) -> Self {
        Self {
            parts: parts.into(),
            chunk_delay,
            break_after,
            exact_len,
            sent: 0,
            sleep: None,
            slept: false,
            finished: false,
            shared,
        }
    }
}

impl Body for FakeBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        loop {
            if let Some(sleep) = this.sleep.as_mut() {
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.sleep = None;
                this.slept = true;
            }
            let breaking = match this.break_after {
                Some(n) => this.sent >= n || this.parts.is_empty(),
                None => false,
            };
            if breaking {
                if !this.slept {
                    // Let hyper flush what was written (head included)
                    // before the abort.
                    this.sleep = Some(Box::pin(tokio::time::sleep(BREAK_FLUSH_DELAY)));
                    continue;
                }
                this.finished = true;
                this.parts.clear();
                return Poll::Ready(Some(Err(Box::new(DeliberateBreak))));
            }
            if this.parts.is_empty() {
                this.finished = true;
                return Poll::Ready(None);
            }
            if this.sent > 0 && !this.slept {
                if let Some(d) = this.chunk_delay {
                    this.sleep = Some(Box::pin(tokio::time::sleep(d)));
                    continue;
                }
            }
            let Some(part) = this.parts.pop_front() else {
                continue;
            };
            this.sent += 1;
            this.slept = false;
            if this.parts.is_empty() && this.break_after.is_none() {
                // hyper may stop polling once a known length is written.
                this.finished = true;
            }
            return Poll::Ready(Some(Ok(Frame::data(part))));
        }
    }

    fn is_end_stream(&self) -> bool {
        self.finished
    }

    fn size_hint(&self) -> SizeHint {
        match self.exact_len {
            Some(n) if self.sent == 0 => SizeHint::with_exact(n),
            _ => SizeHint::default(),
        }
    }
}

impl Drop for FakeBody {
    fn drop(&mut self) {
        if !self.finished {
            if let Some(shared) = &self.shared {
                shared.cancelled.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}
