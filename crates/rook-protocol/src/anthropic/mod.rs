//! Anthropic Messages: translation between OpenAI chat completions and the
//! Messages API, both ways, and Anthropic error bodies.
//!
//! | module | direction |
//! |---|---|
//! | [`request`] | OpenAI chat request → Messages request |
//! | [`response`] | Messages response → OpenAI chat completion |
//! | [`stream`] | Messages SSE → OpenAI chunk SSE |
//! | [`error`] | Anthropic error bodies, both ways |
//! | [`inbound`] | Anthropic clients served by OpenAI accounts (the reverse) |

pub mod error;
pub mod inbound;
pub mod request;
pub mod response;
pub mod stream;

/// The OpenAI `finish_reason` for an Anthropic `stop_reason`.
///
/// | stop_reason | finish_reason |
/// |---|---|
/// | `end_turn`, `stop_sequence`, `pause_turn` | `stop` |
/// | `max_tokens`, `model_context_window_exceeded` | `length` |
/// | `tool_use` | `tool_calls` |
/// | `refusal` | `content_filter` |
/// | anything else | `stop` |
pub fn finish_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        _ => "stop",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_stop_reason() {
        for (s, f) in [
            ("end_turn", "stop"),
            ("stop_sequence", "stop"),
            ("pause_turn", "stop"),
            ("max_tokens", "length"),
            ("model_context_window_exceeded", "length"),
            ("tool_use", "tool_calls"),
            ("refusal", "content_filter"),
            ("new_reason", "stop"),
        ] {
            assert_eq!(super::finish_reason(s), f, "{s}");
        }
    }
}
