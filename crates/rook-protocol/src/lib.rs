//! Rook's wire formats, pure: no IO, no async runtime, no HTTP stack.
//!
//! Everything here takes bytes (or a status and bytes) and gives bytes or
//! facts back, so it can be tested with tables and properties and fuzzed.
//!
//! | module | owns |
//! |---|---|
//! | [`openai`] | the OpenAI chat request probe and byte-faithful rewrite; OpenAI-shaped error bodies |
//! | [`sse`] | the incremental Server-Sent Events observer and the usage-chunk filter |
//! | [`usage`] | token usage as upstreams report it |
//! | [`classify`] | [`ErrorClass`] and [`classify()`]: what an upstream's error means |
//!
//! Protocols live in their own folders (`openai/`; Anthropic Messages and
//! Gemini join as `anthropic/` and `gemini/`), and what is shared by every
//! protocol (SSE framing, usage, classification) sits beside them.
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
#![forbid(unsafe_code)]

pub mod anthropic;
pub mod classify;
pub mod gemini;
pub mod openai;
pub mod sse;
pub mod stream;
pub mod translate;
pub mod usage;

pub use classify::{classify, Classified, ErrorClass, HealthEffect};
pub use stream::{OpenAiChunkWriter, StreamTranslator};
pub use translate::{TranslateError, Translated};
pub use usage::Usage;
