//! OpenAI chat completion → Messages response (for Anthropic clients).
//!
//! `message.content` becomes a text block, `reasoning_content` a thinking
//! block (with an empty signature), each tool call a `tool_use` block (its
//! arguments parsed to `input`; arguments that are not a JSON object make the
//! answer untranslatable).

use serde_json::{json, Value};

use crate::anthropic::inbound::{anthropic_usage, message_id, stop_reason};
use crate::translate::{TranslateError, Translated};
use crate::usage::Usage;

/// Translates an OpenAI chat completion body into a Messages response;
/// `model` is the client's logical model.
///
/// ```
/// use rook_protocol::anthropic::inbound::response::to_message;
/// let body = br#"{"id":"chatcmpl-1","choices":[{"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],
///   "usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#;
/// let t = to_message(body, "claude")?;
/// let v: serde_json::Value = serde_json::from_slice(&t.body).unwrap();
/// assert_eq!(v["content"][0]["text"], "Hi");
/// assert_eq!(v["stop_reason"], "end_turn");
/// # Ok::<(), rook_protocol::TranslateError>(())
/// ```
pub fn to_message(body: &[u8], model: &str) -> Result<Translated, TranslateError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| TranslateError::invalid(format!("upstream answer is not JSON: {e}")))?;
    let choice = v
        .pointer("/choices/0")
        .ok_or_else(|| TranslateError::invalid("upstream answer has no choices"))?;
    let msg = choice.get("message").unwrap_or(&Value::Null);
    let mut content = Vec::new();
    let reasoning = msg
        .get("reasoning_content")
        .or_else(|| msg.get("reasoning"))
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty());
    if let Some(r) = reasoning {
        content.push(json!({"type": "thinking", "thinking": r, "signature": ""}));
    }
    if let Some(t) = msg
        .get("content")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    {
        content.push(json!({"type": "text", "text": t}));
    }
    if let Some(calls) = msg.get("tool_calls").and_then(Value::as_array) {
        for c in calls {
            let args = c
                .pointer("/function/arguments")
                .and_then(Value::as_str)
                .unwrap_or("");
            let input = if args.trim().is_empty() {
                json!({})
            } else {
                match serde_json::from_str::<Value>(args) {
                    Ok(o @ Value::Object(_)) => o,
                    _ => {
                        return Err(TranslateError::invalid(
                            "upstream tool call arguments are not a JSON object",
                        ))
                    }
                }
            };
            let (Some(id), Some(name)) = (
                c.get("id").and_then(Value::as_str),
                c.pointer("/function/name").and_then(Value::as_str),
            ) else {
                return Err(TranslateError::invalid(
                    "upstream tool call has no id or function name",
                ));
            };
            content.push(json!({
                "type": "tool_use",
                "id": id,
                "name": name,
                "input": input,
            }));
        }
    }
    let usage = Usage::from_chunk(body);
    let stop = choice
        .get("finish_reason")
        .and_then(Value::as_str)
        .map(stop_reason);
    let out = json!({
        "id": message_id(v.get("id").and_then(Value::as_str).unwrap_or("rook")),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": null,
        "usage": anthropic_usage(&usage.unwrap_or_default()),
    });
    let body = serde_json::to_vec(&out).map_err(|e| TranslateError::invalid(e.to_string()))?;
    Ok(Translated { body, usage })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tr(v: Value) -> Result<Value, TranslateError> {
        let t = to_message(&serde_json::to_vec(&v).unwrap(), "claude")?;
        Ok(serde_json::from_slice(&t.body).unwrap())
    }

    #[test]
    fn text_tools_reasoning_usage() {
        let v = tr(json!({
            "id": "chatcmpl-9", "object": "chat.completion",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": "ok", "reasoning_content": "r",
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]
            }}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13, "prompt_tokens_details": {"cached_tokens": 4}}
        }))
        .unwrap();
        assert_eq!(
            v,
            json!({
                "id": "msg_9", "type": "message", "role": "assistant", "model": "claude",
                "content": [
                    {"type": "thinking", "thinking": "r", "signature": ""},
                    {"type": "text", "text": "ok"},
                    {"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 1}}
                ],
                "stop_reason": "tool_use", "stop_sequence": null,
                "usage": {"input_tokens": 6, "output_tokens": 3, "cache_read_input_tokens": 4}
            })
        );
    }

    #[test]
    fn finish_reasons_and_errors() {
        for (f, s) in [
            ("stop", "end_turn"),
            ("length", "max_tokens"),
            ("tool_calls", "tool_use"),
            ("content_filter", "refusal"),
        ] {
            let v = tr(
                json!({"id": "x", "choices": [{"message": {"content": "a"}, "finish_reason": f}]}),
            )
            .unwrap();
            assert_eq!(v["stop_reason"], s);
        }
        assert!(tr(json!({"choices": []})).is_err());
        assert!(tr(json!({"choices": [{"message": {"tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{oops"}}]}}]})).is_err());
        // A tool call without an id or a function name (found by fuzzing:
        // it became a tool_use block with `"name": null`).
        assert!(tr(
            json!({"choices": [{"message": {"tool_calls": [{"id": "c", "function": []}]}}]})
        )
        .is_err());
        assert!(tr(
            json!({"choices": [{"message": {"tool_calls": [{"function": {"name": "f"}}]}}]})
        )
        .is_err());
    }
}
