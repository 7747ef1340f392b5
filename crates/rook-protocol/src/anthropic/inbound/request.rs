//! Messages request (from an Anthropic client) → OpenAI chat request.
//!
//! [`probe_messages`] reads what the gateway routes on; [`to_openai`]
//! translates. `system` becomes one system message; a user turn's
//! `tool_result` blocks become `tool` messages (before the turn's other
//! content); an assistant turn's `tool_use` blocks become `tool_calls`;
//! `thinking` becomes `reasoning_effort` (budget ≤ 2048 `low`, ≤ 8192
//! `medium`, above `high`). Earlier turns' thinking blocks are dropped.

use serde_json::{json, Map, Value};

use crate::translate::{check_unmapped, TranslateError};

const PROTOCOL: &str = "openai";

/// Top-level Messages fields dropped without changing the answer.
pub const DROPPED: &[&str] = &["service_tier"];

const MAPPED: &[&str] = &[
    "model",
    "messages",
    "system",
    "max_tokens",
    "stream",
    "stop_sequences",
    "temperature",
    "top_p",
    "metadata",
    "tools",
    "tool_choice",
    "thinking",
];

/// What the gateway routes a Messages request on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessagesProbe {
    /// `model`.
    pub model: String,
    /// `stream`.
    pub stream: bool,
    /// `max_tokens` (required by the Messages API).
    pub max_tokens: u64,
}

fn invalid(m: impl Into<String>) -> TranslateError {
    TranslateError::invalid(m)
}

fn unsupported(f: impl Into<String>) -> TranslateError {
    TranslateError::unsupported(f, PROTOCOL)
}

/// Reads a Messages request body's `model`, `stream` and `max_tokens`.
pub fn probe_messages(body: &[u8]) -> Result<MessagesProbe, TranslateError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("the body is not valid JSON: {e}")))?;
    probe_value(&v)
}

fn probe_value(v: &Value) -> Result<MessagesProbe, TranslateError> {
    if !v.is_object() {
        return Err(invalid("the body must be a JSON object"));
    }
    let model = match v.get("model") {
        Some(Value::String(m)) if !m.trim().is_empty() => m.clone(),
        _ => return Err(invalid("`model` must be a non-empty string")),
    };
    let stream = match v.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid("`stream` must be a boolean")),
    };
    let max_tokens = v
        .get("max_tokens")
        .and_then(Value::as_u64)
        .filter(|n| *n > 0)
        .ok_or_else(|| invalid("`max_tokens` is required and must be a positive integer"))?;
    Ok(MessagesProbe {
        model,
        stream,
        max_tokens,
    })
}

/// How the OpenAI request is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundOptions {
    /// The account's model name, written to `model`.
    pub upstream_model: String,
    /// Write the limit as `max_completion_tokens` instead of `max_tokens`
    /// (OpenAI's reasoning models accept only the former).
    pub max_completion_tokens: bool,
}

/// Translates a Messages request body into an OpenAI chat request body.
/// Streams ask for `stream_options.include_usage` (the Anthropic stream
/// reports usage in `message_delta`).
///
/// ```
/// use rook_protocol::anthropic::inbound::request::{to_openai, InboundOptions};
/// let body = br#"{"model":"c","max_tokens":50,"system":"Be brief.","messages":[{"role":"user","content":"Hi"}]}"#;
/// let opts = InboundOptions { upstream_model: "gpt-4o".into(), max_completion_tokens: false };
/// let v: serde_json::Value = serde_json::from_slice(&to_openai(body, &opts)?).unwrap();
/// assert_eq!(v["messages"][0], serde_json::json!({"role":"system","content":"Be brief."}));
/// assert_eq!(v["max_tokens"], 50);
/// # Ok::<(), rook_protocol::TranslateError>(())
/// ```
pub fn to_openai(body: &[u8], opts: &InboundOptions) -> Result<Vec<u8>, TranslateError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("the body is not valid JSON: {e}")))?;
    let out = translate(&v, opts)?;
    serde_json::to_vec(&out).map_err(|e| invalid(e.to_string()))
}

/// Translates a Messages request (parsed) into an OpenAI chat request.
pub fn translate(v: &Value, opts: &InboundOptions) -> Result<Value, TranslateError> {
    let obj = v
        .as_object()
        .ok_or_else(|| invalid("the body must be a JSON object"))?;
    let other: Map<String, Value> = obj
        .iter()
        .filter(|(k, x)| !MAPPED.contains(&k.as_str()) && !x.is_null())
        .map(|(k, x)| (k.clone(), x.clone()))
        .collect();
    check_unmapped(&other, DROPPED, PROTOCOL)?;
    let probe = probe_value(v)?;
    let mut out = Map::new();
    out.insert("model".into(), json!(opts.upstream_model));
    let mut messages = Vec::new();
    match v.get("system") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => messages.push(json!({"role": "system", "content": s})),
        Some(Value::Array(blocks)) => {
            let text = texts(blocks, "system")?.join("\n\n");
            messages.push(json!({"role": "system", "content": text}));
        }
        Some(_) => {
            return Err(invalid(
                "`system` must be a string or an array of text blocks",
            ))
        }
    }
    let turns = v
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("`messages` must be an array"))?;
    for (i, turn) in turns.iter().enumerate() {
        convert_turn(i, turn, &mut messages)?;
    }
    out.insert("messages".into(), Value::Array(messages));
    let limit = if opts.max_completion_tokens {
        "max_completion_tokens"
    } else {
        "max_tokens"
    };
    out.insert(limit.into(), json!(probe.max_tokens));
    if probe.stream {
        out.insert("stream".into(), json!(true));
        out.insert("stream_options".into(), json!({"include_usage": true}));
    }
    for (from, to) in [("temperature", "temperature"), ("top_p", "top_p")] {
        if let Some(x) = v.get(from).filter(|x| !x.is_null()) {
            if !x.is_number() {
                return Err(invalid(format!("`{from}` must be a number")));
            }
            out.insert(to.into(), x.clone());
        }
    }
    if let Some(stop) = v
        .get("stop_sequences")
        .and_then(Value::as_array)
        .filter(|s| !s.is_empty())
    {
        if !stop.iter().all(Value::is_string) {
            return Err(invalid("`stop_sequences` must be strings"));
        }
        out.insert("stop".into(), Value::Array(stop.clone()));
    }
    if let Some(u) = v.pointer("/metadata/user_id").and_then(Value::as_str) {
        out.insert("user".into(), json!(u));
    }
    if let Some(effort) = reasoning_effort(v.get("thinking"))? {
        out.insert("reasoning_effort".into(), json!(effort));
    }
    if let Some(tools) = v
        .get("tools")
        .and_then(Value::as_array)
        .filter(|t| !t.is_empty())
    {
        let mut fns = Vec::with_capacity(tools.len());
        for (i, t) in tools.iter().enumerate() {
            if t.get("type")
                .and_then(Value::as_str)
                .is_some_and(|ty| ty != "custom")
            {
                return Err(unsupported(format!("tools[{i}].type")));
            }
            let name = t
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(format!("tools[{i}].name is required")))?;
            let mut f = json!({"name": name, "parameters": t.get("input_schema").cloned().unwrap_or_else(|| json!({"type": "object"}))});
            if let Some(d) = t.get("description").and_then(Value::as_str) {
                f["description"] = json!(d);
            }
            fns.push(json!({"type": "function", "function": f}));
        }
        out.insert("tools".into(), Value::Array(fns));
    }
    if let Some(tc) = v.get("tool_choice").filter(|x| !x.is_null()) {
        let choice = match tc.get("type").and_then(Value::as_str) {
            Some("auto") => json!("auto"),
            Some("any") => json!("required"),
            Some("none") => json!("none"),
            Some("tool") => {
                let name = tc
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid("tool_choice.name is required"))?;
                json!({"type": "function", "function": {"name": name}})
            }
            _ => return Err(invalid("tool_choice.type must be auto, any, tool or none")),
        };
        out.insert("tool_choice".into(), choice);
        if tc.get("disable_parallel_tool_use").and_then(Value::as_bool) == Some(true) {
            out.insert("parallel_tool_calls".into(), json!(false));
        }
    }
    Ok(Value::Object(out))
}

/// `thinking` → `reasoning_effort` (see the module docs).
fn reasoning_effort(t: Option<&Value>) -> Result<Option<&'static str>, TranslateError> {
    let Some(t) = t.filter(|t| !t.is_null()) else {
        return Ok(None);
    };
    match t.get("type").and_then(Value::as_str) {
        Some("disabled") => Ok(None),
        Some("enabled") => {
            let budget = t.get("budget_tokens").and_then(Value::as_u64).unwrap_or(0);
            Ok(Some(match budget {
                0..=2048 => "low",
                2049..=8192 => "medium",
                _ => "high",
            }))
        }
        _ => Err(unsupported("thinking.type")),
    }
}

fn texts(blocks: &[Value], at: &str) -> Result<Vec<String>, TranslateError> {
    blocks
        .iter()
        .enumerate()
        .map(|(j, b)| match b.get("type").and_then(Value::as_str) {
            Some("text") => Ok(b
                .get("text")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()),
            _ => Err(unsupported(format!("{at}[{j}].type"))),
        })
        .collect()
}

fn convert_turn(i: usize, turn: &Value, out: &mut Vec<Value>) -> Result<(), TranslateError> {
    let role = turn.get("role").and_then(Value::as_str);
    let blocks = match turn.get("content") {
        Some(Value::String(s)) => {
            let role = role
                .filter(|r| *r == "user" || *r == "assistant")
                .ok_or_else(|| invalid(format!("messages[{i}].role must be user or assistant")))?;
            out.push(json!({"role": role, "content": s}));
            return Ok(());
        }
        Some(Value::Array(b)) => b,
        _ => {
            return Err(invalid(format!(
                "messages[{i}].content must be a string or an array"
            )))
        }
    };
    match role {
        Some("user") => {
            let mut parts = Vec::new();
            for (j, b) in blocks.iter().enumerate() {
                let at = format!("messages[{i}].content[{j}]");
                match b.get("type").and_then(Value::as_str) {
                    Some("text") => parts.push(json!({"type": "text", "text": b.get("text").and_then(Value::as_str).unwrap_or_default()})),
                    Some("image") => parts.push(json!({"type": "image_url", "image_url": {"url": image_url(&at, b)?}})),
                    Some("tool_result") => {
                        let id = b.get("tool_use_id").and_then(Value::as_str).ok_or_else(|| invalid(format!("{at}.tool_use_id is required")))?;
                        let content = match b.get("content") {
                            None | Some(Value::Null) => String::new(),
                            Some(Value::String(s)) => s.clone(),
                            Some(Value::Array(c)) => texts(c, &format!("{at}.content"))?.join("\n"),
                            Some(_) => return Err(invalid(format!("{at}.content must be a string or an array"))),
                        };
                        out.push(json!({"role": "tool", "tool_call_id": id, "content": content}));
                    }
                    _ => return Err(unsupported(format!("{at}.type"))),
                }
            }
            if !parts.is_empty() {
                out.push(json!({"role": "user", "content": parts}));
            }
        }
        Some("assistant") => {
            let mut text = String::new();
            let mut calls = Vec::new();
            for (j, b) in blocks.iter().enumerate() {
                match b.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        text.push_str(b.get("text").and_then(Value::as_str).unwrap_or_default())
                    }
                    Some("tool_use") => {
                        let at = format!("messages[{i}].content[{j}]");
                        let id = b
                            .get("id")
                            .and_then(Value::as_str)
                            .ok_or_else(|| invalid(format!("{at}.id is required")))?;
                        let name = b
                            .get("name")
                            .and_then(Value::as_str)
                            .ok_or_else(|| invalid(format!("{at}.name is required")))?;
                        calls.push(json!({
                            "id": id,
                            "type": "function",
                            "function": {
                                "name": name,
                                "arguments": b.get("input").map(Value::to_string).unwrap_or_else(|| "{}".into()),
                            },
                        }))
                    }
                    Some("thinking" | "redacted_thinking") => {}
                    _ => return Err(unsupported(format!("messages[{i}].content[{j}].type"))),
                }
            }
            let mut m = json!({"role": "assistant", "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { json!(text) }});
            if !calls.is_empty() {
                m["tool_calls"] = Value::Array(calls);
            }
            out.push(m);
        }
        _ => {
            return Err(invalid(format!(
                "messages[{i}].role must be user or assistant"
            )))
        }
    }
    Ok(())
}

/// An image block's source as an OpenAI image URL (base64 → `data:` URL).
fn image_url(at: &str, b: &Value) -> Result<String, TranslateError> {
    let src = b.get("source").unwrap_or(&Value::Null);
    let s = |k: &str| src.get(k).and_then(Value::as_str);
    match s("type") {
        Some("base64") => match (s("media_type"), s("data")) {
            (Some(mt), Some(d)) => Ok(format!("data:{mt};base64,{d}")),
            _ => Err(invalid(format!("{at}.source needs media_type and data"))),
        },
        Some("url") => s("url")
            .map(str::to_string)
            .ok_or_else(|| invalid(format!("{at}.source.url is required"))),
        _ => Err(unsupported(format!("{at}.source.type"))),
    }
}

#[cfg(test)]
mod tests;
