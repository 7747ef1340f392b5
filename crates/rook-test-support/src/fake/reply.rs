//! [`Reply`]: what the fake answers next, and how (status, body, stream, delays,
//! breaks).

use super::*;

#[derive(Clone, Debug)]
pub(super) enum Kind {
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
    pub(super) kind: Kind,
    pub(super) status: u16,
    pub(super) headers: Vec<(String, String)>,
    pub(super) delay: Option<Duration>,
    pub(super) chunk_delay: Option<Duration>,
    pub(super) break_after: Option<usize>,
    pub(super) usage: Option<(u64, u64)>,
    pub(super) message: Option<String>,
    pub(super) hang: bool,
    pub(super) pad_to: Option<usize>,
}

impl Reply {
    pub(super) fn with_kind(kind: Kind, status: u16) -> Self {
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
    /// other paths are described in the [module docs](crate::fake).
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
