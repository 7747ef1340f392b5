//! Anthropic Messages response → OpenAI chat completion.
//!
//! Text blocks are joined into `message.content`, `tool_use` blocks become
//! `tool_calls` (their `input` serialised as the `arguments` text), `thinking`
//! blocks become `message.reasoning_content`. Usage counts cache reads and
//! writes as prompt tokens; cache reads are also `cached_tokens`.

use serde_json::{json, Value};

use crate::anthropic::finish_reason;
use crate::translate::{TranslateError, Translated};
use crate::usage::Usage;

/// The OpenAI usage for an Anthropic `usage` object: prompt tokens are
/// `input_tokens + cache_read_input_tokens + cache_creation_input_tokens`.
pub fn usage_from(u: &Value) -> Usage {
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    let cached = u.get("cache_read_input_tokens").and_then(Value::as_u64);
    let prompt = n("input_tokens")
        .saturating_add(n("cache_read_input_tokens"))
        .saturating_add(n("cache_creation_input_tokens"));
    Usage::new(prompt, n("output_tokens"), cached)
}

/// The chat completion id for an Anthropic message id.
pub fn completion_id(message_id: &str) -> String {
    format!("chatcmpl-{message_id}")
}

/// Translates an Anthropic Messages response body into an OpenAI chat
/// completion. `model` is the client's logical model; `created` a unix time.
///
/// ```
/// use rook_protocol::anthropic::response::to_chat_completion;
/// let body = br#"{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"Hi"}],
///   "stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":1}}"#;
/// let t = to_chat_completion(body, "claude", 1700000000)?;
/// let v: serde_json::Value = serde_json::from_slice(&t.body).unwrap();
/// assert_eq!(v["choices"][0]["message"]["content"], "Hi");
/// assert_eq!(t.usage.map(|u| u.total_tokens), Some(4));
/// # Ok::<(), rook_protocol::TranslateError>(())
/// ```
pub fn to_chat_completion(
    body: &[u8],
    model: &str,
    created: u64,
) -> Result<Translated, TranslateError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| TranslateError::invalid(format!("upstream answer is not JSON: {e}")))?;
    let blocks = v
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| TranslateError::invalid("upstream answer has no content array"))?;
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut tool_calls = Vec::new();
    for b in blocks {
        match b.get("type").and_then(Value::as_str) {
            Some("text") => {
                text.push_str(b.get("text").and_then(Value::as_str).unwrap_or_default())
            }
            Some("thinking") => reasoning.push_str(
                b.get("thinking")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            ),
            Some("tool_use") => {
                let (Some(id), Some(name)) = (
                    b.get("id").and_then(Value::as_str),
                    b.get("name").and_then(Value::as_str),
                ) else {
                    return Err(TranslateError::invalid(
                        "upstream tool_use block has no id or name",
                    ));
                };
                tool_calls.push(json!({
                    "id": id,
                    "type": "function",
                    "function": {
                        "name": name,
                        "arguments": b.get("input").map(Value::to_string).unwrap_or_else(|| "{}".into()),
                    },
                }))
            }
            // redacted_thinking and server-tool blocks have no OpenAI counterpart.
            _ => {}
        }
    }
    let mut message = json!({
        "role": "assistant",
        "content": if text.is_empty() && !tool_calls.is_empty() { Value::Null } else { json!(text) },
        "refusal": null,
    });
    if !tool_calls.is_empty() {
        message["tool_calls"] = Value::Array(tool_calls);
    }
    if !reasoning.is_empty() {
        message["reasoning_content"] = json!(reasoning);
    }
    let finish = v
        .get("stop_reason")
        .and_then(Value::as_str)
        .map(finish_reason);
    let usage = v.get("usage").map(usage_from);
    let id = v.get("id").and_then(Value::as_str).unwrap_or("msg");
    let mut out = json!({
        "id": completion_id(id),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
    });
    if let Some(u) = &usage {
        out["usage"] = u.to_openai_json();
    }
    let body = serde_json::to_vec(&out).map_err(|e| TranslateError::invalid(e.to_string()))?;
    Ok(Translated { body, usage })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tr(v: Value) -> Value {
        let t = to_chat_completion(&serde_json::to_vec(&v).unwrap(), "logical", 42).unwrap();
        serde_json::from_slice(&t.body).unwrap()
    }

    #[test]
    fn text_tools_thinking_and_usage() {
        let v = tr(json!({
            "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-x",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "text", "text": "a"}, {"type": "text", "text": "b"},
                {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"x": [1]}}
            ],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 20}
        }));
        assert_eq!(v["id"], "chatcmpl-msg_01");
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(v["created"], 42);
        assert_eq!(v["model"], "logical");
        let m = &v["choices"][0]["message"];
        assert_eq!(m["content"], "ab");
        assert_eq!(m["reasoning_content"], "hmm");
        assert_eq!(
            m["tool_calls"][0],
            json!({"id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": "{\"x\":[1]}"}})
        );
        assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(
            v["usage"],
            json!({"prompt_tokens": 130, "completion_tokens": 5, "total_tokens": 135, "prompt_tokens_details": {"cached_tokens": 100}})
        );
    }

    #[test]
    fn every_stop_reason_maps() {
        for (s, f) in [
            ("end_turn", "stop"),
            ("stop_sequence", "stop"),
            ("max_tokens", "length"),
            ("tool_use", "tool_calls"),
            ("refusal", "content_filter"),
        ] {
            let v = tr(json!({"id": "m", "content": [], "stop_reason": s}));
            assert_eq!(v["choices"][0]["finish_reason"], f);
        }
        let v = tr(
            json!({"id": "m", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}], "stop_reason": "tool_use"}),
        );
        assert!(v["choices"][0]["message"]["content"].is_null());
    }

    #[test]
    fn malformed_upstream_answers() {
        assert!(to_chat_completion(b"nope", "m", 0).is_err());
        assert!(to_chat_completion(b"{}", "m", 0).is_err());
        // A tool_use block without an id or a name (found by fuzzing).
        assert!(to_chat_completion(
            br#"{"content":[{"type":"tool_use","name":"f","input":{}}]}"#,
            "m",
            0
        )
        .is_err());
    }
}
