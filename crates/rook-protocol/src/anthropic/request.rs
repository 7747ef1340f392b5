//! OpenAI chat request → Anthropic Messages request.
//!
//! The field-by-field mapping, and every field that is dropped or rejected, is
//! tabled in `docs/protocols.md`. In short: system and developer messages become
//! the top-level `system`; consecutive messages of one role (tool results
//! included) merge into one turn, as Anthropic requires alternating turns;
//! `reasoning_effort` becomes extended thinking with the budgets of
//! [`thinking_budget`]. Empty and whitespace-only text parts are left out
//! (Anthropic refuses them), and so are turns left empty.

use serde_json::{json, Map, Value};

use crate::openai::chat::{
    for_protocol, ChatMessage, ChatRequest, ContentPart, ResponseFormat, Role, ToolChoice,
};
use crate::translate::{check_unmapped, TranslateError};

const PROTOCOL: &str = "anthropic";

/// Top-level OpenAI fields dropped without changing the answer.
pub const DROPPED: &[&str] = &[
    "store",
    "metadata",
    "seed",
    "service_tier",
    "prompt_cache_key",
    "safety_identifier",
    "prediction",
];

/// What the gateway decides for the upstream request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestOptions {
    /// The account's model name, written to `model`.
    pub upstream_model: String,
    /// `max_tokens` when the client set none (Anthropic requires it).
    pub default_max_tokens: u64,
}

impl RequestOptions {
    /// Options with the default `max_tokens` of 4096.
    pub fn new(upstream_model: impl Into<String>) -> Self {
        RequestOptions {
            upstream_model: upstream_model.into(),
            default_max_tokens: 4096,
        }
    }
}

/// The extended-thinking budget (`budget_tokens`) for an OpenAI
/// `reasoning_effort`: `low` 1024 (Anthropic's minimum), `medium` 4096, `high`
/// 16384; `minimal` and `none` turn thinking off (`None`).
pub fn thinking_budget(effort: &str) -> Result<Option<u64>, TranslateError> {
    match effort {
        "minimal" | "none" => Ok(None),
        "low" => Ok(Some(1024)),
        "medium" => Ok(Some(4096)),
        "high" => Ok(Some(16384)),
        _ => Err(TranslateError::invalid(
            "`reasoning_effort` must be minimal, low, medium or high",
        )),
    }
}

/// Translates an OpenAI chat request body into an Anthropic Messages body.
///
/// ```
/// use rook_protocol::anthropic::request::{to_anthropic, RequestOptions};
/// let body = br#"{"model":"claude","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}]}"#;
/// let out = to_anthropic(body, &RequestOptions::new("claude-sonnet-4-5"))?;
/// let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
/// assert_eq!(v["system"][0]["text"], "Be brief.");
/// assert_eq!(v["max_tokens"], 4096);
/// # Ok::<(), rook_protocol::TranslateError>(())
/// ```
pub fn to_anthropic(body: &[u8], opts: &RequestOptions) -> Result<Vec<u8>, TranslateError> {
    let req = ChatRequest::parse(body).map_err(|e| for_protocol(e, PROTOCOL))?;
    let v = translate(&req, opts)?;
    serde_json::to_vec(&v).map_err(|e| TranslateError::invalid(e.to_string()))
}

/// Translates a read chat request into an Anthropic Messages request.
pub fn translate(req: &ChatRequest, opts: &RequestOptions) -> Result<Value, TranslateError> {
    let unsupported = |f: &str| TranslateError::unsupported(f, PROTOCOL);
    check_unmapped(&req.other, DROPPED, PROTOCOL)?;
    if req.n.is_some_and(|n| n > 1) {
        return Err(unsupported("n"));
    }
    match &req.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(_) => return Err(unsupported("response_format")),
    }
    let mut out = Map::new();
    out.insert("model".into(), json!(opts.upstream_model));
    let (system, messages) = messages(&req.messages)?;
    if !system.is_empty() {
        out.insert("system".into(), Value::Array(system));
    }
    out.insert("messages".into(), Value::Array(messages));
    let mut max_tokens = req.max_tokens.unwrap_or(opts.default_max_tokens);
    if max_tokens == 0 {
        return Err(TranslateError::invalid("`max_tokens` must be at least 1"));
    }
    let budget = match &req.reasoning_effort {
        Some(e) => thinking_budget(e)?,
        None => None,
    };
    if let Some(budget) = budget {
        if req.temperature.is_some_and(|t| t != 1.0) {
            return Err(unsupported("temperature"));
        }
        if req.top_p.is_some_and(|p| p < 0.95) {
            return Err(unsupported("top_p"));
        }
        if matches!(
            req.tool_choice,
            Some(ToolChoice::Required | ToolChoice::Function(_))
        ) {
            return Err(unsupported("tool_choice"));
        }
        if max_tokens <= budget {
            max_tokens = max_tokens.saturating_add(budget);
        }
        out.insert(
            "thinking".into(),
            json!({"type": "enabled", "budget_tokens": budget}),
        );
    }
    out.insert("max_tokens".into(), json!(max_tokens));
    if let Some(t) = req.temperature {
        if t > 1.0 {
            return Err(unsupported("temperature"));
        }
        out.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        out.insert("top_p".into(), json!(p));
    }
    if !req.stop.is_empty() {
        out.insert("stop_sequences".into(), json!(req.stop));
    }
    if req.stream {
        out.insert("stream".into(), json!(true));
    }
    if let Some(u) = &req.user {
        out.insert("metadata".into(), json!({ "user_id": u }));
    }
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut o = json!({
                    "name": t.name,
                    "input_schema": t.parameters.clone()
                        .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
                });
                if let (Some(d), Some(m)) = (&t.description, o.as_object_mut()) {
                    m.insert("description".into(), json!(d));
                }
                o
            })
            .collect();
        out.insert("tools".into(), Value::Array(tools));
        let no_parallel = req.parallel_tool_calls == Some(false);
        let choice = match &req.tool_choice {
            None if no_parallel => Some(json!({"type": "auto"})),
            None => None,
            Some(ToolChoice::Auto) => Some(json!({"type": "auto"})),
            Some(ToolChoice::None) => Some(json!({"type": "none"})),
            Some(ToolChoice::Required) => Some(json!({"type": "any"})),
            Some(ToolChoice::Function(n)) => Some(json!({"type": "tool", "name": n})),
        };
        if let Some(mut c) = choice {
            if no_parallel && c["type"] != "none" {
                if let Some(o) = c.as_object_mut() {
                    o.insert("disable_parallel_tool_use".into(), json!(true));
                }
            }
            out.insert("tool_choice".into(), c);
        }
    } else if matches!(
        req.tool_choice,
        Some(ToolChoice::Required | ToolChoice::Function(_))
    ) {
        return Err(TranslateError::invalid(
            "`tool_choice` names a tool but `tools` is empty",
        ));
    }
    Ok(Value::Object(out))
}

/// The `system` blocks and the alternating `messages`.
fn messages(msgs: &[ChatMessage]) -> Result<(Vec<Value>, Vec<Value>), TranslateError> {
    let mut system = Vec::new();
    // (role, blocks) turns, merged by role.
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        let (role, blocks) = match m.role {
            Role::System | Role::Developer => {
                for p in &m.parts {
                    match p {
                        ContentPart::Text(t) if t.trim().is_empty() => {}
                        ContentPart::Text(t) => system.push(json!({"type": "text", "text": t})),
                        ContentPart::ImageUrl(_) => {
                            return Err(TranslateError::unsupported(
                                format!("messages[{i}].content"),
                                PROTOCOL,
                            ))
                        }
                    }
                }
                continue;
            }
            Role::User => ("user", content_blocks(i, &m.parts)?),
            Role::Assistant => {
                let mut blocks = content_blocks(i, &m.parts)?;
                for c in &m.tool_calls {
                    blocks.push(json!({
                        "type": "tool_use",
                        "id": c.id,
                        "name": c.name,
                        "input": c.arguments_object(i)?,
                    }));
                }
                ("assistant", blocks)
            }
            Role::Tool => {
                let parts = content_blocks(i, &m.parts)?;
                let mut block = json!({
                    "type": "tool_result",
                    "tool_use_id": m.tool_call_id.clone().unwrap_or_default(),
                });
                if !parts.is_empty() {
                    block["content"] = Value::Array(parts);
                }
                ("user", vec![block])
            }
        };
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((r, b)) if *r == role => b.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    let messages = turns
        .into_iter()
        .map(|(role, mut blocks)| {
            // Anthropic wants a user turn's tool results before its other blocks.
            blocks.sort_by_key(|b| b["type"] != "tool_result");
            json!({"role": role, "content": blocks})
        })
        .collect();
    Ok((system, messages))
}

fn content_blocks(i: usize, parts: &[ContentPart]) -> Result<Vec<Value>, TranslateError> {
    let mut out = Vec::with_capacity(parts.len());
    for p in parts {
        match p {
            ContentPart::Text(t) if t.trim().is_empty() => {}
            ContentPart::Text(t) => out.push(json!({"type": "text", "text": t})),
            ContentPart::ImageUrl(url) => out.push(image_block(i, url)?),
        }
    }
    Ok(out)
}

/// An image block: `data:` URLs become base64 sources, others URL sources.
fn image_block(i: usize, url: &str) -> Result<Value, TranslateError> {
    if let Some(rest) = url.strip_prefix("data:") {
        let (meta, data) = rest
            .split_once(',')
            .ok_or_else(|| TranslateError::invalid(format!("messages[{i}]: malformed data URL")))?;
        let media_type = meta.strip_suffix(";base64").ok_or_else(|| {
            TranslateError::unsupported(
                format!("messages[{i}].content (non-base64 data URL)"),
                PROTOCOL,
            )
        })?;
        return Ok(json!({
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }));
    }
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(json!({"type": "image", "source": {"type": "url", "url": url}}));
    }
    Err(TranslateError::invalid(format!(
        "messages[{i}]: an image URL must be https or a data URL"
    )))
}

#[cfg(test)]
mod tests;
