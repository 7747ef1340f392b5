//! Fuzz-style property targets for Rook's parsers, on stable Rust, and the
//! engine that drives them (`cargo xtask fuzz`, `docs/fuzzing.md`).
//!
//! A [`Target`] takes arbitrary bytes and checks *invariants*, not only "no
//! panic": the SSE parser yields the same events for any chunking of the same
//! bytes, the usage filter removes whole usage-only events and nothing else,
//! the chat probe accepts what `serde_json` accepts, translators write valid
//! JSON of their target protocol or a typed error, the config loader returns a
//! config or a list of problems, Retry-After parsing never exceeds its clamp.
//! A target returns `Err(reason)` when an invariant breaks; a panic is a
//! failure too.
//!
//! The [`engine`] makes inputs from random bytes and from mutations of valid
//! seeds (`fuzz/seeds/<target>/`: request bodies, SSE streams of every vendor,
//! config files), runs them, shrinks a failing input and writes it to
//! `fuzz/corpus/<target>/<hash>`. The crate's tests replay every seed and
//! every corpus file, so a found input stays a regression test.
//!
//! | target | code under test |
//! |---|---|
//! | `probe` | `openai::probe_chat`, `rewrite_chat` |
//! | `sse` | `sse::SseParser`, `sse::SseObserver` |
//! | `usage_filter` | `sse::UsageChunkFilter` (`push` and `push_bytes`) |
//! | `passthrough` | `passthrough::Passthrough` (Anthropic, Responses) |
//! | `chat_request` | `openai::ChatRequest`, `anthropic::request`, `gemini::request` |
//! | `messages_request` | `anthropic::inbound::request` |
//! | `embeddings` | `gemini::embeddings` |
//! | `anthropic_response`, `gemini_response`, `chat_response` | buffered answers translated both ways |
//! | `anthropic_stream`, `gemini_stream`, `chat_stream` | the stream translators |
//! | `classify` | `classify`, the vendors' error parsers, Gemini's `retry_delay` |
//! | `answer` | `answer::read_answer` |
//! | `config` | `rook_config::Config::from_toml_str`, `rook_config::load` with flag overrides |
//! | `retry_after` | `rook_resilience::retry_after` |
#![forbid(unsafe_code)]

pub mod engine;
mod json;
mod mutate;
mod sse_ref;
mod targets;

use std::path::PathBuf;

/// What kind of bytes a target takes; it chooses the structured mutations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// A JSON document.
    Json,
    /// A Server-Sent Events stream whose `data:` payloads are mostly JSON.
    Sse,
    /// Text (TOML, header values).
    Text,
}

/// One fuzz target.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// Its name: the `--target` value and the corpus folder.
    pub name: &'static str,
    /// The shape of its inputs.
    pub kind: InputKind,
    /// Tokens worth splicing into inputs (keys, event names, units).
    pub dictionary: &'static [&'static str],
    /// Runs one input; `Err` names the invariant that broke.
    pub check: fn(&[u8]) -> Result<(), String>,
}

/// Every target, in the order the runner visits them.
pub fn targets() -> &'static [Target] {
    targets::ALL
}

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    targets::ALL.iter().find(|t| t.name == name)
}

/// The repository's `fuzz/` directory (seeds and corpus).
pub fn default_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("..")
        .join("fuzz")
}
