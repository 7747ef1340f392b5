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
mod body;
mod echo;
mod gemini;
mod openai;
mod recorded;
mod render;
mod reply;
mod responses;
mod server;

use body::*;
pub(crate) use recorded::find_header;
pub use recorded::RecordedRequest;
use render::*;
pub use reply::Reply;
use reply::*;
pub use server::FakeUpstream;
use server::*;

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
