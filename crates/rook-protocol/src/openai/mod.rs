//! The OpenAI wire format: chat completion requests (probe and byte-faithful
//! rewrite, and a typed reading for translation) and OpenAI-shaped error bodies.

pub mod chat;
pub mod error;
pub mod probe;

pub use chat::ChatRequest;
pub use error::{ErrorBody, UpstreamError};
pub use probe::{probe_chat, rewrite_chat, ChatProbe, ProbeError};
