//! A typed reading of an OpenAI chat completion request, for the translators
//! to other protocols (`anthropic::request`, `gemini::request`).
//!
//! [`ChatRequest::parse`] reads the fields every translator maps; every other
//! non-null top-level field lands in [`ChatRequest::other`] for the translator
//! to accept, drop or reject. Message-level shapes no translator can carry
//! (audio and file parts, the legacy `function` role) are rejected here.

use serde_json::{Map, Value};

use crate::translate::TranslateError;

/// A chat completion request, read for translation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatRequest {
    /// `model`.
    pub model: String,
    /// `messages`, in order.
    pub messages: Vec<ChatMessage>,
    /// `stream`.
    pub stream: bool,
    /// `stream_options.include_usage`.
    pub include_usage: bool,
    /// `max_completion_tokens`, else `max_tokens`.
    pub max_tokens: Option<u64>,
    /// `temperature`.
    pub temperature: Option<f64>,
    /// `top_p`.
    pub top_p: Option<f64>,
    /// `stop` (a string becomes one sequence).
    pub stop: Vec<String>,
    /// `n`.
    pub n: Option<u64>,
    /// `tools` (functions).
    pub tools: Vec<FunctionTool>,
    /// `tool_choice`.
    pub tool_choice: Option<ToolChoice>,
    /// `parallel_tool_calls`.
    pub parallel_tool_calls: Option<bool>,
    /// `user`.
    pub user: Option<String>,
    /// `reasoning_effort` (`minimal`, `low`, `medium`, `high`).
    pub reasoning_effort: Option<String>,
    /// `response_format`.
    pub response_format: Option<ResponseFormat>,
    /// Every other non-null top-level field.
    pub other: Map<String, Value>,
}

/// A message's author.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `system`.
    System,
    /// `developer` (treated as `system` by every translator).
    Developer,
    /// `user`.
    User,
    /// `assistant`.
    Assistant,
    /// `tool` (a tool's result).
    Tool,
}

/// One message.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatMessage {
    /// The author.
    pub role: Role,
    /// The content parts (a string content is one text part).
    pub parts: Vec<ContentPart>,
    /// An assistant's tool calls.
    pub tool_calls: Vec<ToolCall>,
    /// A tool message's `tool_call_id`.
    pub tool_call_id: Option<String>,
}

/// One content part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentPart {
    /// Text.
    Text(String),
    /// An image, by URL (`https:` or a `data:` URL).
    ImageUrl(String),
}

/// A function call made by the assistant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    /// The call's id.
    pub id: String,
    /// The function's name.
    pub name: String,
    /// The arguments, as the JSON text the model wrote.
    pub arguments: String,
}

impl ToolCall {
    /// The arguments text as a JSON object (empty text is `{}`); `i` is the
    /// message's index, for the error.
    pub(crate) fn arguments_object(&self, i: usize) -> Result<Value, TranslateError> {
        if self.arguments.trim().is_empty() {
            return Ok(Value::Object(Map::new()));
        }
        match serde_json::from_str::<Value>(&self.arguments) {
            Ok(v @ Value::Object(_)) => Ok(v),
            _ => Err(invalid(format!(
                "messages[{i}].tool_calls: arguments must be a JSON object"
            ))),
        }
    }
}

/// A function the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionTool {
    /// `function.name`.
    pub name: String,
    /// `function.description`.
    pub description: Option<String>,
    /// `function.parameters` (a JSON Schema).
    pub parameters: Option<Value>,
}

/// `tool_choice`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    /// `"auto"`.
    Auto,
    /// `"none"`.
    None,
    /// `"required"`.
    Required,
    /// `{"type":"function","function":{"name"}}`.
    Function(String),
}

/// `response_format`.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseFormat {
    /// `{"type":"text"}`.
    Text,
    /// `{"type":"json_object"}`.
    JsonObject,
    /// `{"type":"json_schema","json_schema":{"name","schema","strict"}}`.
    JsonSchema {
        /// `json_schema.name`.
        name: String,
        /// `json_schema.schema`.
        schema: Value,
    },
}

fn invalid(m: impl Into<String>) -> TranslateError {
    TranslateError::invalid(m)
}

fn opt_str(v: &Value, key: &str) -> Result<Option<String>, TranslateError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(format!("`{key}` must be a string"))),
    }
}

fn opt_f64(v: &Value, key: &str) -> Result<Option<f64>, TranslateError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(x) => x
            .as_f64()
            .map(Some)
            .ok_or_else(|| invalid(format!("`{key}` must be a number"))),
    }
}

fn opt_u64(v: &Value, key: &str) -> Result<Option<u64>, TranslateError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(x) => x
            .as_u64()
            .map(Some)
            .ok_or_else(|| invalid(format!("`{key}` must be a non-negative integer"))),
    }
}

const MAPPED: &[&str] = &[
    "model",
    "messages",
    "stream",
    "stream_options",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "stop",
    "n",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "user",
    "reasoning_effort",
    "response_format",
];

impl ChatRequest {
    /// Reads a chat request body.
    pub fn parse(body: &[u8]) -> Result<ChatRequest, TranslateError> {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| invalid(format!("the body is not valid JSON: {e}")))?;
        ChatRequest::from_value(&v)
    }

    /// Reads a chat request already parsed as JSON.
    pub fn from_value(v: &Value) -> Result<ChatRequest, TranslateError> {
        let obj = v
            .as_object()
            .ok_or_else(|| invalid("the body must be a JSON object"))?;
        let model = opt_str(v, "model")?.ok_or_else(|| invalid("`model` is required"))?;
        let messages = match v.get("messages") {
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, m)| parse_message(i, m))
                .collect::<Result<Vec<_>, _>>()?,
            _ => return Err(invalid("`messages` must be an array")),
        };
        let stream = match v.get("stream") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(invalid("`stream` must be a boolean")),
        };
        let include_usage = v
            .get("stream_options")
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let stop = match v.get("stop") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .map(|s| s.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| invalid("`stop` must be a string or an array of strings"))?,
            Some(_) => return Err(invalid("`stop` must be a string or an array of strings")),
        };
        let tools = match v.get("tools") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, t)| parse_tool(i, t))
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => return Err(invalid("`tools` must be an array")),
        };
        let other = obj
            .iter()
            .filter(|(k, x)| !MAPPED.contains(&k.as_str()) && !x.is_null())
            .map(|(k, x)| (k.clone(), x.clone()))
            .collect();
        Ok(ChatRequest {
            model,
            messages,
            stream,
            include_usage,
            max_tokens: opt_u64(v, "max_completion_tokens")?.or(opt_u64(v, "max_tokens")?),
            temperature: opt_f64(v, "temperature")?,
            top_p: opt_f64(v, "top_p")?,
            stop,
            n: opt_u64(v, "n")?,
            tools,
            tool_choice: parse_tool_choice(v.get("tool_choice"))?,
            parallel_tool_calls: v.get("parallel_tool_calls").and_then(Value::as_bool),
            user: opt_str(v, "user")?,
            reasoning_effort: opt_str(v, "reasoning_effort")?,
            response_format: parse_response_format(v.get("response_format"))?,
            other,
        })
    }
}

fn parse_message(i: usize, m: &Value) -> Result<ChatMessage, TranslateError> {
    let role = match m.get("role").and_then(Value::as_str) {
        Some("system") => Role::System,
        Some("developer") => Role::Developer,
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        Some("tool") => Role::Tool,
        Some("function") => {
            return Err(TranslateError::unsupported(
                format!("messages[{i}].role"),
                "",
            ))
        }
        _ => return Err(invalid(format!("messages[{i}].role is missing or unknown"))),
    };
    if m.get("function_call").is_some_and(|f| !f.is_null()) {
        return Err(TranslateError::unsupported(
            format!("messages[{i}].function_call"),
            "",
        ));
    }
    if m.get("audio").is_some_and(|f| !f.is_null()) {
        return Err(TranslateError::unsupported(
            format!("messages[{i}].audio"),
            "",
        ));
    }
    let parts = match m.get("content") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![ContentPart::Text(s.clone())],
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(j, p)| parse_part(i, j, p))
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => {
            return Err(invalid(format!(
                "messages[{i}].content must be a string or an array"
            )))
        }
    };
    let tool_calls = match m.get("tool_calls") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|c| {
                let f = c.get("function");
                let s = |x: Option<&Value>| x.and_then(Value::as_str).map(str::to_string);
                Some(ToolCall {
                    id: s(c.get("id"))?,
                    name: s(f.and_then(|f| f.get("name")))?,
                    arguments: s(f.and_then(|f| f.get("arguments"))).unwrap_or_default(),
                })
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                invalid(format!(
                    "messages[{i}].tool_calls: each needs an id and function.name"
                ))
            })?,
        Some(_) => {
            return Err(invalid(format!(
                "messages[{i}].tool_calls must be an array"
            )))
        }
    };
    let tool_call_id = opt_str(m, "tool_call_id")?;
    if role == Role::Tool && tool_call_id.is_none() {
        return Err(invalid(format!(
            "messages[{i}]: a tool message needs a tool_call_id"
        )));
    }
    Ok(ChatMessage {
        role,
        parts,
        tool_calls,
        tool_call_id,
    })
}

fn parse_part(i: usize, j: usize, p: &Value) -> Result<ContentPart, TranslateError> {
    match p.get("type").and_then(Value::as_str) {
        Some("text") => p
            .get("text")
            .and_then(Value::as_str)
            .map(|t| ContentPart::Text(t.to_string()))
            .ok_or_else(|| invalid(format!("messages[{i}].content[{j}].text must be a string"))),
        // An assistant's earlier refusal is its text.
        Some("refusal") => Ok(ContentPart::Text(
            p.get("refusal")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        )),
        Some("image_url") => p
            .get("image_url")
            .and_then(|u| u.get("url").or(Some(u)))
            .and_then(Value::as_str)
            .map(|u| ContentPart::ImageUrl(u.to_string()))
            .ok_or_else(|| {
                invalid(format!(
                    "messages[{i}].content[{j}].image_url.url must be a string"
                ))
            }),
        Some(_) => Err(TranslateError::unsupported(
            format!("messages[{i}].content[{j}].type"),
            "",
        )),
        None => Err(invalid(format!("messages[{i}].content[{j}] has no type"))),
    }
}

fn parse_tool(i: usize, t: &Value) -> Result<FunctionTool, TranslateError> {
    if t.get("type").and_then(Value::as_str) != Some("function") {
        return Err(TranslateError::unsupported(format!("tools[{i}].type"), ""));
    }
    let f = t.get("function").unwrap_or(&Value::Null);
    Ok(FunctionTool {
        name: opt_str(f, "name")?
            .ok_or_else(|| invalid(format!("tools[{i}].function.name is required")))?,
        description: opt_str(f, "description")?,
        parameters: f.get("parameters").filter(|p| !p.is_null()).cloned(),
    })
}

fn parse_tool_choice(v: Option<&Value>) -> Result<Option<ToolChoice>, TranslateError> {
    Ok(match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(match s.as_str() {
            "auto" => ToolChoice::Auto,
            "none" => ToolChoice::None,
            "required" => ToolChoice::Required,
            _ => {
                return Err(invalid(
                    "`tool_choice` must be auto, none, required or a function",
                ))
            }
        }),
        Some(o) => match o
            .get("function")
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
        {
            Some(name) => Some(ToolChoice::Function(name.to_string())),
            None => return Err(TranslateError::unsupported("tool_choice", "")),
        },
    })
}

fn parse_response_format(v: Option<&Value>) -> Result<Option<ResponseFormat>, TranslateError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    Ok(Some(match v.get("type").and_then(Value::as_str) {
        Some("text") => ResponseFormat::Text,
        Some("json_object") => ResponseFormat::JsonObject,
        Some("json_schema") => {
            let js = v.get("json_schema").unwrap_or(&Value::Null);
            ResponseFormat::JsonSchema {
                name: opt_str(js, "name")?.unwrap_or_default(),
                schema: js
                    .get("schema")
                    .cloned()
                    .unwrap_or_else(|| Value::Object(Map::new())),
            }
        }
        _ => return Err(TranslateError::unsupported("response_format.type", "")),
    }))
}

/// Fills in the protocol of an `Unsupported` error raised while reading.
pub(crate) fn for_protocol(e: TranslateError, protocol: &'static str) -> TranslateError {
    match e {
        TranslateError::Unsupported { field, .. } => {
            TranslateError::Unsupported { field, protocol }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests;
