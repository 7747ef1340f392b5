//! Gemini `generateContent`: translation between OpenAI chat completions (and
//! embeddings) and the Gemini API, and Gemini error bodies.
//!
//! | module | direction |
//! |---|---|
//! | [`request`] | OpenAI chat request → `generateContent` request |
//! | [`response`] | `generateContent` response → OpenAI chat completion |
//! | [`stream`] | `streamGenerateContent?alt=sse` → OpenAI chunk SSE |
//! | [`error`] | Gemini error bodies, `RetryInfo` delays |
//! | [`embeddings`] | OpenAI embeddings ↔ `batchEmbedContents` |
//!
//! The model and the streaming choice live in the URL, not the body:
//! [`path`] builds it.

pub mod embeddings;
pub mod error;
pub mod request;
pub mod response;
pub mod stream;

/// The request path, appended to the account's base URL (which includes the
/// version path, e.g.
/// `https://generativelanguage.googleapis.com/v1beta`), for a chat request.
///
/// ```
/// assert_eq!(rook_protocol::gemini::path("gemini-2.5-flash", true),
///     "/models/gemini-2.5-flash:streamGenerateContent?alt=sse");
/// ```
pub fn path(upstream_model: &str, stream: bool) -> String {
    let model = upstream_model
        .strip_prefix("models/")
        .unwrap_or(upstream_model);
    if stream {
        format!("/models/{model}:streamGenerateContent?alt=sse")
    } else {
        format!("/models/{model}:generateContent")
    }
}

/// The OpenAI `finish_reason` for a Gemini `finishReason` (`tool_calls` when
/// the candidate called functions).
///
/// | finishReason | finish_reason |
/// |---|---|
/// | `STOP` (with function calls) | `tool_calls` |
/// | `STOP`, `FINISH_REASON_UNSPECIFIED`, `OTHER`, `MALFORMED_FUNCTION_CALL`, others | `stop` |
/// | `MAX_TOKENS` | `length` |
/// | `SAFETY`, `RECITATION`, `BLOCKLIST`, `PROHIBITED_CONTENT`, `SPII`, `IMAGE_SAFETY`, `LANGUAGE` | `content_filter` |
pub fn finish_reason(reason: &str, has_tool_calls: bool) -> &'static str {
    match reason {
        "MAX_TOKENS" => "length",
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY"
        | "LANGUAGE" => "content_filter",
        _ if has_tool_calls => "tool_calls",
        _ => "stop",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_finish_reason() {
        for (r, tools, f) in [
            ("STOP", false, "stop"),
            ("STOP", true, "tool_calls"),
            ("MAX_TOKENS", false, "length"),
            ("MAX_TOKENS", true, "length"),
            ("SAFETY", false, "content_filter"),
            ("RECITATION", false, "content_filter"),
            ("BLOCKLIST", false, "content_filter"),
            ("PROHIBITED_CONTENT", false, "content_filter"),
            ("SPII", false, "content_filter"),
            ("IMAGE_SAFETY", false, "content_filter"),
            ("LANGUAGE", false, "content_filter"),
            ("OTHER", false, "stop"),
            ("MALFORMED_FUNCTION_CALL", false, "stop"),
            ("FINISH_REASON_UNSPECIFIED", false, "stop"),
        ] {
            assert_eq!(finish_reason(r, tools), f, "{r} {tools}");
        }
        assert_eq!(path("models/m", false), "/models/m:generateContent");
    }
}
