//! Rook's wire formats, pure: no IO, no async runtime, no HTTP stack.
//!
//! Everything here takes bytes (or a status and bytes) and gives bytes or
//! facts back, so it can be tested with tables and properties and fuzzed.
//!
//! | module | owns |
//! |---|---|
//! | [`answer`] | is a buffered answer relayed as is valid for its kind, and its usage (one pass) |
//! | [`openai`] | the OpenAI chat request probe and byte-faithful rewrite, its typed reading for translation; OpenAI-shaped error bodies |
//! | [`anthropic`] | Anthropic Messages ↔ OpenAI chat: requests, responses, streams (both ways), error bodies |
//! | [`gemini`] | OpenAI chat → Gemini `generateContent` and back, streams, error bodies and retry delays, embeddings |
//! | [`passthrough`] | observers of streams relayed unchanged (Anthropic Messages, OpenAI Responses): usage and completion |
//! | [`sse`] | the incremental SSE parser and observer, and the usage-chunk filter |
//! | [`stream`] | [`StreamTranslator`], the interface of every stream translator, and [`OpenAiChunkWriter`] |
//! | [`translate`] | [`TranslateError`]: why a request cannot be translated |
//! | [`usage`] | token usage as upstreams report it |
//! | [`classify`](mod@classify) | [`ErrorClass`] and [`classify()`]: what an upstream's error means |
//!
//! Protocols live in their own folders (`openai/`, `anthropic/`, `gemini/`),
//! and what is shared by every protocol (SSE framing, stream translation,
//! usage, classification) sits beside them. Field-by-field mapping tables are
//! in `docs/protocols.md`.
//!
//! ```
//! use bytes::Bytes;
//! use rook_protocol::openai::{probe_chat, rewrite_chat};
//!
//! let body = Bytes::from_static(br#"{"model":"fast","messages":[],"stream":true}"#);
//! let probe = probe_chat(&body)?;
//! assert_eq!(probe.model, "fast");
//! // Only the model is replaced; `stream_options.include_usage` is added for the
//! // gateway's accounting. Every other byte is the client's.
//! let upstream = rewrite_chat(&body, &probe, Some("gpt-4o-mini"), true);
//! assert_eq!(
//!     &upstream[..],
//!     br#"{"model":"gpt-4o-mini","messages":[],"stream":true,"stream_options":{"include_usage":true}}"#
//! );
//! # Ok::<(), rook_protocol::openai::ProbeError>(())
//! ```
//!
//! A stream translator takes the upstream's bytes in any split:
//!
//! ```
//! use rook_protocol::anthropic::stream::AnthropicToOpenAi;
//! use rook_protocol::StreamTranslator;
//!
//! let mut t = AnthropicToOpenAi::new("claude", 1_700_000_000, false);
//! let mut out = t.push(b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\"}}\n\nevent: message_st");
//! out.extend(t.push(b"op\ndata: {\"type\":\"message_stop\"}\n\n"));
//! out.extend(t.finish());
//! assert!(t.completed());
//! assert!(out.ends_with(b"data: [DONE]\n\n"));
//! ```
#![forbid(unsafe_code)]

pub mod answer;
pub mod anthropic;
pub mod classify;
pub mod gemini;
pub mod openai;
pub mod passthrough;
pub mod sse;
pub mod stream;
pub mod translate;
pub mod usage;

pub use classify::{classify, classify_parsed, Classified, ErrorClass, HealthEffect};
pub use stream::{Chain, OpenAiChunkWriter, StreamTranslator};
pub use translate::{TranslateError, Translated};
pub use usage::Usage;
