//! OpenAI chat request → Gemini `generateContent` request.
//!
//! Roles become `user`/`model` turns (consecutive ones merged); system and
//! developer messages become `systemInstruction`; assistant tool calls become
//! `functionCall` parts and tool messages `functionResponse` parts (named after
//! the call they answer). Function schemas go as `parametersJsonSchema` and
//! `json_schema` response formats as `responseJsonSchema`, both of which take
//! JSON Schema as OpenAI clients write it. The table of every field is in
//! `docs/protocols.md`.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::openai::chat::{
    for_protocol, ChatMessage, ChatRequest, ContentPart, ResponseFormat, Role, ToolChoice,
};
use crate::translate::{check_unmapped, TranslateError};

const PROTOCOL: &str = "gemini";

/// Top-level OpenAI fields dropped without changing the answer.
pub const DROPPED: &[&str] = &[
    "store",
    "metadata",
    "service_tier",
    "prompt_cache_key",
    "safety_identifier",
    "prediction",
    "user",
];

/// The `thinkingConfig.thinkingBudget` for an OpenAI `reasoning_effort`:
/// `minimal`/`none` 0, `low` 1024, `medium` 8192, `high` 24576.
pub fn thinking_budget(effort: &str) -> Result<u64, TranslateError> {
    match effort {
        "minimal" | "none" => Ok(0),
        "low" => Ok(1024),
        "medium" => Ok(8192),
        "high" => Ok(24576),
        _ => Err(TranslateError::invalid(
            "`reasoning_effort` must be minimal, low, medium or high",
        )),
    }
}

/// Translates an OpenAI chat request body into a `generateContent` body (the
/// model and streaming go in the URL: see [`crate::gemini::path`]).
///
/// ```
/// use rook_protocol::gemini::request::to_gemini;
/// let body = br#"{"model":"g","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}],"max_tokens":9}"#;
/// let v: serde_json::Value = serde_json::from_slice(&to_gemini(body)?).unwrap();
/// assert_eq!(v["systemInstruction"]["parts"][0]["text"], "Be brief.");
/// assert_eq!(v["contents"][0]["role"], "user");
/// assert_eq!(v["generationConfig"]["maxOutputTokens"], 9);
/// # Ok::<(), rook_protocol::TranslateError>(())
/// ```
pub fn to_gemini(body: &[u8]) -> Result<Vec<u8>, TranslateError> {
    let req = ChatRequest::parse(body).map_err(|e| for_protocol(e, PROTOCOL))?;
    let v = translate(&req)?;
    serde_json::to_vec(&v).map_err(|e| TranslateError::invalid(e.to_string()))
}

/// Translates a read chat request into a `generateContent` request.
pub fn translate(req: &ChatRequest) -> Result<Value, TranslateError> {
    let unsupported = |f: &str| TranslateError::unsupported(f, PROTOCOL);
    let mut other = req.other.clone();
    let mut gen = Map::new();
    for (from, to) in [
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
        ("seed", "seed"),
    ] {
        if let Some(x) = other.remove(from) {
            gen.insert(to.into(), x);
        }
    }
    check_unmapped(&other, DROPPED, PROTOCOL)?;
    if req.stream && req.n.is_some_and(|n| n > 1) {
        return Err(unsupported("n"));
    }
    if req.parallel_tool_calls == Some(false) && !req.tools.is_empty() {
        return Err(unsupported("parallel_tool_calls"));
    }
    let mut out = Map::new();
    let (system, contents) = contents(&req.messages)?;
    out.insert("contents".into(), Value::Array(contents));
    if !system.is_empty() {
        out.insert("systemInstruction".into(), json!({"parts": system}));
    }
    if let Some(t) = req.temperature {
        gen.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        gen.insert("topP".into(), json!(p));
    }
    if let Some(m) = req.max_tokens {
        gen.insert("maxOutputTokens".into(), json!(m));
    }
    if !req.stop.is_empty() {
        gen.insert("stopSequences".into(), json!(req.stop));
    }
    if let Some(n) = req.n.filter(|n| *n > 1) {
        gen.insert("candidateCount".into(), json!(n));
    }
    match &req.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject) => {
            gen.insert("responseMimeType".into(), json!("application/json"));
        }
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            gen.insert("responseMimeType".into(), json!("application/json"));
            gen.insert("responseJsonSchema".into(), schema.clone());
        }
    }
    if let Some(e) = &req.reasoning_effort {
        let budget = thinking_budget(e)?;
        gen.insert(
            "thinkingConfig".into(),
            json!({"thinkingBudget": budget, "includeThoughts": budget > 0}),
        );
    }
    if !gen.is_empty() {
        out.insert("generationConfig".into(), Value::Object(gen));
    }
    if !req.tools.is_empty() {
        let decls: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut d = json!({"name": t.name});
                if let Some(desc) = &t.description {
                    d["description"] = json!(desc);
                }
                if let Some(p) = &t.parameters {
                    d["parametersJsonSchema"] = p.clone();
                }
                d
            })
            .collect();
        out.insert("tools".into(), json!([{"functionDeclarations": decls}]));
        let config = match &req.tool_choice {
            None => None,
            Some(ToolChoice::Auto) => Some(json!({"mode": "AUTO"})),
            Some(ToolChoice::None) => Some(json!({"mode": "NONE"})),
            Some(ToolChoice::Required) => Some(json!({"mode": "ANY"})),
            Some(ToolChoice::Function(n)) => {
                Some(json!({"mode": "ANY", "allowedFunctionNames": [n]}))
            }
        };
        if let Some(c) = config {
            out.insert("toolConfig".into(), json!({"functionCallingConfig": c}));
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

fn contents(msgs: &[ChatMessage]) -> Result<(Vec<Value>, Vec<Value>), TranslateError> {
    let mut system = Vec::new();
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    // tool_call_id → function name, from the assistant turns so far.
    let mut names: HashMap<&str, &str> = HashMap::new();
    for (i, m) in msgs.iter().enumerate() {
        let (role, parts) = match m.role {
            Role::System | Role::Developer => {
                for p in &m.parts {
                    match p {
                        ContentPart::Text(t) => system.push(json!({"text": t})),
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
            Role::User => ("user", parts(i, &m.parts)?),
            Role::Assistant => {
                let mut ps = parts(i, &m.parts)?;
                for c in &m.tool_calls {
                    names.insert(&c.id, &c.name);
                    let args = c.arguments_object(i)?;
                    ps.push(json!({"functionCall": {"name": c.name, "args": args}}));
                }
                ("model", ps)
            }
            Role::Tool => {
                let id = m.tool_call_id.as_deref().unwrap_or_default();
                let name = names.get(id).ok_or_else(|| {
                    TranslateError::invalid(format!(
                        "messages[{i}]: tool_call_id `{id}` answers no earlier tool call"
                    ))
                })?;
                let text: String = m
                    .parts
                    .iter()
                    .map(|p| match p {
                        ContentPart::Text(t) => Ok(t.as_str()),
                        ContentPart::ImageUrl(_) => Err(TranslateError::unsupported(
                            format!("messages[{i}].content"),
                            PROTOCOL,
                        )),
                    })
                    .collect::<Result<Vec<_>, _>>()?
                    .concat();
                let response = match serde_json::from_str::<Value>(&text) {
                    Ok(o @ Value::Object(_)) => o,
                    _ => json!({"content": text}),
                };
                (
                    "user",
                    vec![json!({"functionResponse": {"name": name, "response": response}})],
                )
            }
        };
        if parts.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((r, p)) if *r == role => p.extend(parts),
            _ => turns.push((role, parts)),
        }
    }
    let contents = turns
        .into_iter()
        .map(|(role, parts)| json!({"role": role, "parts": parts}))
        .collect();
    Ok((system, contents))
}

fn parts(i: usize, parts: &[ContentPart]) -> Result<Vec<Value>, TranslateError> {
    let mut out = Vec::with_capacity(parts.len());
    for p in parts {
        match p {
            ContentPart::Text(t) if t.is_empty() => {}
            ContentPart::Text(t) => out.push(json!({"text": t})),
            ContentPart::ImageUrl(url) => {
                let (meta, data) = url
                    .strip_prefix("data:")
                    .and_then(|r| r.split_once(','))
                    .ok_or_else(|| {
                        TranslateError::unsupported(
                            format!("messages[{i}].content (image by URL)"),
                            PROTOCOL,
                        )
                    })?;
                let mime = meta.strip_suffix(";base64").ok_or_else(|| {
                    TranslateError::unsupported(
                        format!("messages[{i}].content (non-base64 data URL)"),
                        PROTOCOL,
                    )
                })?;
                out.push(json!({"inlineData": {"mimeType": mime, "data": data}}));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
