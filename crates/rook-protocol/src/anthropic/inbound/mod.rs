//! Inbound Anthropic clients (`POST /v1/messages`) served by OpenAI-protocol
//! accounts: the reverse of the other `anthropic` modules.
//!
//! | module | direction |
//! |---|---|
//! | [`request`] | probe a Messages request; Messages request → OpenAI chat request |
//! | [`response`] | OpenAI chat completion → Messages response |
//! | [`stream`] | OpenAI chunk SSE → Messages SSE |
//!
//! Error answers to these clients use [`crate::anthropic::error::error_body`].

pub mod request;
pub mod response;
pub mod stream;

/// The Anthropic `stop_reason` for an OpenAI `finish_reason`.
///
/// | finish_reason | stop_reason |
/// |---|---|
/// | `stop` | `end_turn` |
/// | `length` | `max_tokens` |
/// | `tool_calls`, `function_call` | `tool_use` |
/// | `content_filter` | `refusal` |
/// | anything else | `end_turn` |
pub fn stop_reason(finish_reason: &str) -> &'static str {
    match finish_reason {
        "length" => "max_tokens",
        "tool_calls" | "function_call" => "tool_use",
        "content_filter" => "refusal",
        _ => "end_turn",
    }
}

/// The Anthropic message id for an OpenAI completion id.
pub fn message_id(completion_id: &str) -> String {
    let bare = completion_id
        .strip_prefix("chatcmpl-")
        .unwrap_or(completion_id);
    if bare.starts_with("msg_") {
        bare.to_string()
    } else {
        format!("msg_{bare}")
    }
}

/// The Anthropic `usage` object for an OpenAI usage: `input_tokens` excludes
/// cache reads, which are `cache_read_input_tokens` when the upstream counted them.
pub fn anthropic_usage(u: &crate::usage::Usage) -> serde_json::Value {
    let cached = u.cached_tokens.unwrap_or(0).min(u.prompt_tokens);
    let mut v = serde_json::json!({
        "input_tokens": u.prompt_tokens - cached,
        "output_tokens": u.completion_tokens,
    });
    if let (Some(c), Some(o)) = (u.cached_tokens, v.as_object_mut()) {
        o.insert(
            "cache_read_input_tokens".into(),
            serde_json::json!(c.min(u.prompt_tokens)),
        );
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::Usage;

    #[test]
    fn every_finish_reason() {
        for (f, s) in [
            ("stop", "end_turn"),
            ("length", "max_tokens"),
            ("tool_calls", "tool_use"),
            ("function_call", "tool_use"),
            ("content_filter", "refusal"),
            ("other", "end_turn"),
        ] {
            assert_eq!(stop_reason(f), s, "{f}");
        }
    }

    #[test]
    fn ids_and_usage() {
        assert_eq!(message_id("chatcmpl-abc"), "msg_abc");
        assert_eq!(message_id("chatcmpl-msg_1"), "msg_1");
        let v = anthropic_usage(&Usage::new(10, 2, Some(4)));
        assert_eq!(
            v,
            serde_json::json!({"input_tokens": 6, "output_tokens": 2, "cache_read_input_tokens": 4})
        );
        let v = anthropic_usage(&Usage::new(10, 2, None));
        assert_eq!(
            v,
            serde_json::json!({"input_tokens": 10, "output_tokens": 2})
        );
    }
}
