//! Rendering a reply for the endpoint a request asked for, in that endpoint's
//! protocol.

use super::*;

/// What a `POST` path asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Endpoint {
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
pub(super) enum Family {
    OpenAi,
    Anthropic,
    Gemini,
}

impl Endpoint {
    /// Matches a path by its end, so any version prefix works.
    pub(super) fn of(path: &str) -> Option<Endpoint> {
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

    pub(super) fn family(&self) -> Family {
        match self {
            Endpoint::Chat | Endpoint::Completions | Endpoint::Embeddings | Endpoint::Responses => {
                Family::OpenAi
            }
            Endpoint::Messages | Endpoint::CountTokens => Family::Anthropic,
            Endpoint::Generate { .. } | Endpoint::BatchEmbed => Family::Gemini,
        }
    }
}

pub(super) fn simple(status: u16, body: Value) -> Response<FakeBody> {
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

pub(super) fn build_response(
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

pub(super) fn error_body(status: u16, message: &str) -> Value {
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

pub(super) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// One SSE event: `event: NAME` (if any) and `data: JSON`, ended by `sep`
/// (`"\n\n"`, or `"\r\n\r\n"` for Gemini).
pub(super) fn sse_event(name: Option<&str>, data: &Value, crlf: bool) -> Bytes {
    let nl = if crlf { "\r\n" } else { "\n" };
    match name {
        Some(n) => Bytes::from(format!("event: {n}{nl}data: {data}{nl}{nl}")),
        None => Bytes::from(format!("data: {data}{nl}{nl}")),
    }
}

/// Splits `s` into about `n` non-empty pieces on character boundaries (for
/// streaming tool arguments in parts).
pub(super) fn split_pieces(s: &str, n: usize) -> Vec<String> {
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
pub(super) struct Ctx<'a> {
    pub(super) shared: &'a Arc<Shared>,
    pub(super) reply: &'a Reply,
    pub(super) req: &'a Value,
    /// The request's `model` (for Gemini: the model in the path is not
    /// known here, so the request's, else [`DEFAULT_MODEL`]).
    pub(super) model: String,
    pub(super) seq: u64,
    /// Whether the request asked for a stream.
    pub(super) wants_stream: bool,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(
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
    pub(super) fn usage(&self) -> (u64, u64) {
        self.reply
            .usage
            .unwrap_or((DEFAULT_PROMPT_TOKENS, DEFAULT_COMPLETION_TOKENS))
    }

    /// The message of a scripted error: the [`Reply::message`], else what
    /// the vendor says for an overload (Anthropic's 529), else `fake
    /// upstream scripted status N`.
    pub(super) fn error_message(&self, family: Family) -> String {
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
    pub(super) fn buffered(&self, body: Value) -> Response<FakeBody> {
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
    pub(super) fn padded(&self, mut body: Value, n: usize) -> Response<FakeBody> {
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
    pub(super) fn sse(&self, events: Vec<Bytes>) -> Response<FakeBody> {
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
pub(super) enum Answer<'a> {
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
    pub(super) fn text(pieces: &[String]) -> String {
        pieces.concat()
    }
}

pub(super) fn render(ctx: &Ctx<'_>, endpoint: &Endpoint) -> Response<FakeBody> {
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
