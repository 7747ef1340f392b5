//! Gemini `generateContent` response → OpenAI chat completion.
//!
//! Each candidate becomes a choice: text parts joined into `content`, thought
//! parts (`"thought": true`) into `reasoning_content`, `functionCall` parts
//! into `tool_calls` (the call's `id` when Gemini gives one, else
//! `call_<response id>_<n>`). A prompt blocked before any candidate
//! (`promptFeedback.blockReason`) is one empty choice with `content_filter`.

use serde_json::{json, Value};

use crate::gemini::finish_reason;
use crate::translate::{TranslateError, Translated};
use crate::usage::Usage;

/// The OpenAI usage for a Gemini `usageMetadata`: completion tokens include
/// thinking tokens (`thoughtsTokenCount`), as OpenAI counts reasoning.
pub fn usage_from(u: &Value) -> Usage {
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    let prompt = n("promptTokenCount");
    let completion = n("candidatesTokenCount").saturating_add(n("thoughtsTokenCount"));
    let mut usage = Usage::new(
        prompt,
        completion,
        u.get("cachedContentTokenCount").and_then(Value::as_u64),
    );
    if let Some(t) = u.get("totalTokenCount").and_then(Value::as_u64) {
        usage.total_tokens = t;
    }
    usage
}

/// A tool call id for the `n`th call of a response.
pub(crate) fn call_id(part: &Value, response_id: &str, n: usize) -> String {
    match part.pointer("/functionCall/id").and_then(Value::as_str) {
        Some(id) => id.to_string(),
        None => format!("call_{response_id}_{n}"),
    }
}

/// A `functionCall` part as an OpenAI tool call (without `index`).
pub(crate) fn tool_call(part: &Value, id: String) -> Value {
    let call = part.get("functionCall").unwrap_or(&Value::Null);
    json!({
        "id": id,
        "type": "function",
        "function": {
            "name": call.get("name").cloned().unwrap_or(Value::Null),
            "arguments": call.get("args").map(Value::to_string).unwrap_or_else(|| "{}".into()),
        },
    })
}

/// Translates a `generateContent` response body into an OpenAI chat completion;
/// `model` is the client's logical model, `created` a unix time.
///
/// ```
/// use rook_protocol::gemini::response::to_chat_completion;
/// let body = br#"{"candidates":[{"content":{"role":"model","parts":[{"text":"Hi"}]},"finishReason":"STOP"}],
///   "usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1,"totalTokenCount":4}}"#;
/// let t = to_chat_completion(body, "gemini", 0)?;
/// let v: serde_json::Value = serde_json::from_slice(&t.body).unwrap();
/// assert_eq!(v["choices"][0]["message"]["content"], "Hi");
/// assert_eq!(v["choices"][0]["finish_reason"], "stop");
/// # Ok::<(), rook_protocol::TranslateError>(())
/// ```
pub fn to_chat_completion(
    body: &[u8],
    model: &str,
    created: u64,
) -> Result<Translated, TranslateError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| TranslateError::invalid(format!("upstream answer is not JSON: {e}")))?;
    if !v.is_object() {
        return Err(TranslateError::invalid(
            "upstream answer is not a JSON object",
        ));
    }
    let response_id = v
        .get("responseId")
        .and_then(Value::as_str)
        .unwrap_or("gemini");
    let mut choices = Vec::new();
    let mut calls_seen = 0;
    for (pos, cand) in v
        .get("candidates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let mut text = String::new();
        let mut reasoning = String::new();
        let mut calls = Vec::new();
        for part in cand
            .pointer("/content/parts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if part.get("functionCall").is_some() {
                calls.push(tool_call(part, call_id(part, response_id, calls_seen)));
                calls_seen += 1;
            } else if let Some(t) = part.get("text").and_then(Value::as_str) {
                if part.get("thought").and_then(Value::as_bool) == Some(true) {
                    reasoning.push_str(t);
                } else {
                    text.push_str(t);
                }
            }
        }
        let finish = cand
            .get("finishReason")
            .and_then(Value::as_str)
            .map(|r| finish_reason(r, !calls.is_empty()));
        let mut message = json!({
            "role": "assistant",
            "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { json!(text) },
            "refusal": null,
        });
        if !calls.is_empty() {
            message["tool_calls"] = Value::Array(calls);
        }
        if !reasoning.is_empty() {
            message["reasoning_content"] = json!(reasoning);
        }
        let index = cand
            .get("index")
            .and_then(Value::as_u64)
            .unwrap_or(pos as u64);
        choices.push(
            json!({"index": index, "message": message, "logprobs": null, "finish_reason": finish}),
        );
    }
    if choices.is_empty() {
        let blocked = v.pointer("/promptFeedback/blockReason").is_some();
        choices.push(json!({
            "index": 0,
            "message": {"role": "assistant", "content": "", "refusal": null},
            "logprobs": null,
            "finish_reason": if blocked { "content_filter" } else { "stop" },
        }));
    }
    let usage = v.get("usageMetadata").map(usage_from);
    let mut out = json!({
        "id": format!("chatcmpl-{response_id}"),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": choices,
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
        let t = to_chat_completion(&serde_json::to_vec(&v).unwrap(), "logical", 5).unwrap();
        serde_json::from_slice(&t.body).unwrap()
    }

    #[test]
    fn text_thoughts_calls_and_usage() {
        let v = tr(json!({
            "responseId": "r1", "modelVersion": "gemini-2.5-flash",
            "candidates": [{"index": 0, "finishReason": "STOP", "content": {"role": "model", "parts": [
                {"text": "plan", "thought": true}, {"text": "a"}, {"text": "b"},
                {"functionCall": {"name": "f", "args": {"x": 1}}},
                {"functionCall": {"id": "given", "name": "g", "args": {}}}
            ]}}],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 4, "thoughtsTokenCount": 2, "totalTokenCount": 16, "cachedContentTokenCount": 6}
        }));
        assert_eq!(v["id"], "chatcmpl-r1");
        assert_eq!(v["model"], "logical");
        let m = &v["choices"][0]["message"];
        assert_eq!(m["content"], "ab");
        assert_eq!(m["reasoning_content"], "plan");
        assert_eq!(
            m["tool_calls"][0],
            json!({"id": "call_r1_0", "type": "function", "function": {"name": "f", "arguments": "{\"x\":1}"}})
        );
        assert_eq!(m["tool_calls"][1]["id"], "given");
        assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(
            v["usage"],
            json!({"prompt_tokens": 10, "completion_tokens": 6, "total_tokens": 16, "prompt_tokens_details": {"cached_tokens": 6}})
        );
    }

    #[test]
    fn finish_reasons_candidates_and_blocks() {
        for (r, f) in [
            ("STOP", "stop"),
            ("MAX_TOKENS", "length"),
            ("SAFETY", "content_filter"),
            ("RECITATION", "content_filter"),
            ("BLOCKLIST", "content_filter"),
            ("PROHIBITED_CONTENT", "content_filter"),
        ] {
            let v = tr(
                json!({"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": r}]}),
            );
            assert_eq!(v["choices"][0]["finish_reason"], f, "{r}");
        }
        let v = tr(
            json!({"candidates": [{"index": 0, "content": {"parts": [{"text": "a"}]}, "finishReason": "STOP"}, {"index": 1, "content": {"parts": [{"text": "b"}]}, "finishReason": "STOP"}]}),
        );
        assert_eq!(v["choices"][1]["message"]["content"], "b");
        assert_eq!(v["choices"][1]["index"], 1);
        let v = tr(
            json!({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 3}}),
        );
        assert_eq!(v["choices"][0]["finish_reason"], "content_filter");
        assert_eq!(v["usage"]["total_tokens"], 3);
        assert!(to_chat_completion(b"[]", "m", 0).is_err());
    }
}
