//! The OpenAI wire format: chat completion requests (probe and byte-faithful
//! rewrite) and OpenAI-shaped error bodies.

pub mod error;
pub mod probe;

pub use error::{ErrorBody, UpstreamError};
pub use probe::{probe_chat, rewrite_chat, ChatProbe, ProbeError};
