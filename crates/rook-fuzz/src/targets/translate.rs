//! Request and buffered-answer translators: each one gives valid JSON of its
//! target protocol, or a typed error; never a panic, never invalid JSON.

use rook_protocol::anthropic::inbound::request::{probe_messages, to_openai, InboundOptions};
use rook_protocol::anthropic::inbound::response::to_message;
use rook_protocol::anthropic::request::{to_anthropic, RequestOptions};
use rook_protocol::gemini::embeddings;
use rook_protocol::openai::ChatRequest;
use rook_protocol::{anthropic, gemini, TranslateError, Translated};
use serde_json::Value;

use crate::json::parse;

fn typed(e: &TranslateError) -> Result<(), String> {
    let known = ["unsupported_parameter", "invalid_request"];
    if !known.contains(&e.code()) || e.to_string().is_empty() {
        return Err(format!("untyped translate error {:?}", e.code()));
    }
    Ok(())
}

fn fail(what: &str, v: &Value) -> Result<(), String> {
    let text = v.to_string();
    Err(format!("{what}: {}", &text[..text.len().min(400)]))
}

/// Consecutive turns of one role break the target protocol.
fn alternating(messages: &[Value]) -> bool {
    messages.windows(2).all(|w| w[0]["role"] != w[1]["role"])
}

fn non_empty_content(c: &Value) -> bool {
    match c {
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => false,
    }
}

pub(crate) fn check_chat_request(input: &[u8]) -> Result<(), String> {
    let valid_json = serde_json::from_slice::<Value>(input).is_ok();
    let parsed = ChatRequest::parse(input);
    if let Err(e) = &parsed {
        typed(e)?;
    }
    match to_anthropic(input, &RequestOptions::new("claude-up")) {
        Err(e) => typed(&e)?,
        Ok(out) => {
            if !valid_json || parsed.is_err() {
                return Err("to_anthropic translated a body ChatRequest refuses".into());
            }
            let Some(v) = parse(&out, "anthropic request")? else {
                return Ok(());
            };
            let messages = v["messages"].as_array().cloned().unwrap_or_default();
            if v["model"] != "claude-up" || !v["messages"].is_array() {
                return fail("anthropic request without model or messages", &v);
            }
            if v["max_tokens"].as_u64().is_none_or(|n| n == 0) {
                return fail("anthropic request without a positive max_tokens", &v);
            }
            let roles_ok = messages
                .iter()
                .all(|m| m["role"] == "user" || m["role"] == "assistant");
            if !roles_ok || !alternating(&messages) {
                return fail("anthropic turns are not alternating user/assistant", &v);
            }
            if messages.iter().any(|m| !non_empty_content(&m["content"])) {
                return fail("anthropic turn with empty content", &v);
            }
            if let Some(system) = v.get("system") {
                let ok = system.as_array().is_some_and(|a| {
                    a.iter()
                        .all(|b| b["type"] == "text" && b["text"].is_string())
                });
                if !ok {
                    return fail("anthropic system is not text blocks", &v);
                }
            }
        }
    }
    match gemini::request::to_gemini(input) {
        Err(e) => typed(&e)?,
        Ok(out) => {
            if !valid_json || parsed.is_err() {
                return Err("gemini to_gemini translated a body ChatRequest refuses".into());
            }
            let Some(v) = parse(&out, "gemini request")? else {
                return Ok(());
            };
            let Some(contents) = v["contents"].as_array() else {
                return fail("gemini request without contents", &v);
            };
            let ok = contents.iter().all(|c| {
                (c["role"] == "user" || c["role"] == "model")
                    && c["parts"].as_array().is_some_and(|p| !p.is_empty())
            });
            if !ok || !alternating(contents) {
                return fail("gemini turns are not alternating user/model with parts", &v);
            }
        }
    }
    Ok(())
}

pub(crate) fn check_messages_request(input: &[u8]) -> Result<(), String> {
    let probe = probe_messages(input);
    if let Ok(p) = &probe {
        if p.model.trim().is_empty() || p.max_tokens == 0 {
            return Err(format!("probe_messages accepted {p:?}"));
        }
    }
    for max_completion_tokens in [false, true] {
        let opts = InboundOptions {
            upstream_model: "gpt-up".into(),
            max_completion_tokens,
        };
        match to_openai(input, &opts) {
            Err(e) => typed(&e)?,
            Ok(out) => {
                let Ok(p) = &probe else {
                    return Err("to_openai translated a body probe_messages refuses".into());
                };
                let Some(v) = parse(&out, "openai request")? else {
                    continue;
                };
                if v["model"] != "gpt-up" || !v["messages"].is_array() {
                    return fail("openai request without model or messages", &v);
                }
                let key = if max_completion_tokens {
                    "max_completion_tokens"
                } else {
                    "max_tokens"
                };
                if v[key].as_u64() != Some(p.max_tokens) {
                    return fail("openai request lost max_tokens", &v);
                }
                if p.stream
                    && v.pointer("/stream_options/include_usage") != Some(&Value::Bool(true))
                {
                    return fail("openai stream request without include_usage", &v);
                }
                let roles = ["system", "user", "assistant", "tool"];
                let ok = v["messages"]
                    .as_array()
                    .is_some_and(|ms| ms.iter().all(|m| roles.iter().any(|r| m["role"] == *r)));
                if !ok {
                    return fail("openai message with an unknown role", &v);
                }
                // What the translation wrote, the chat probe must read.
                if ChatRequest::parse(&out).is_err() {
                    return fail("ChatRequest cannot read the translated request", &v);
                }
            }
        }
    }
    Ok(())
}

pub(crate) fn check_embeddings(input: &[u8]) -> Result<(), String> {
    let _ = embeddings::wants_base64(input);
    match embeddings::to_gemini(input, "gemini-embedding-001") {
        Err(e) => typed(&e)?,
        Ok(out) => {
            let Some(v) = parse(&out, "gemini embeddings request")? else {
                return Ok(());
            };
            let ok = v["requests"].as_array().is_some_and(|r| {
                !r.is_empty()
                    && r.iter().all(|x| {
                        x["model"] == "models/gemini-embedding-001"
                            && x.pointer("/content/parts/0/text")
                                .is_some_and(Value::is_string)
                    })
            });
            if !ok {
                return fail("gemini embeddings request malformed", &v);
            }
        }
    }
    for base64 in [false, true] {
        match embeddings::to_openai(input, "logical", base64) {
            Err(e) => typed(&e)?,
            Ok(t) => {
                let Some(v) = parse(&t.body, "openai embeddings")? else {
                    continue;
                };
                let ok = v["object"] == "list"
                    && v["model"] == "logical"
                    && v["data"].as_array().is_some_and(|d| {
                        d.iter().enumerate().all(|(i, x)| {
                            x["index"] == i
                                && if base64 {
                                    x["embedding"].as_str().is_some_and(|s| s.len() % 4 == 0)
                                } else {
                                    x["embedding"].is_array()
                                }
                        })
                    });
                if !ok {
                    return fail("openai embeddings answer malformed", &v);
                }
            }
        }
    }
    Ok(())
}

/// A translated chat completion: one assistant choice, the logical model,
/// usage that adds up.
fn chat_completion(t: &Translated) -> Result<(), String> {
    let Some(v) = parse(&t.body, "chat completion")? else {
        return Ok(());
    };
    let choice = &v["choices"][0];
    if v["object"] != "chat.completion" || v["model"] != "logical" || !v["id"].is_string() {
        return fail("chat completion envelope", &v);
    }
    if choice["message"]["role"] != "assistant"
        || !(choice["message"]["content"].is_string() || choice["message"]["content"].is_null())
        || !(choice["finish_reason"].is_string() || choice["finish_reason"].is_null())
    {
        return fail("chat completion choice", &v);
    }
    if let Some(calls) = choice["message"].get("tool_calls") {
        let ok = calls.as_array().is_some_and(|c| {
            c.iter().all(|x| {
                x["type"] == "function"
                    && x.pointer("/function/arguments")
                        .is_some_and(Value::is_string)
            })
        });
        if !ok {
            return fail("chat completion tool calls", &v);
        }
    }
    if let Some(u) = t.usage {
        let body = (
            v["usage"]["prompt_tokens"].as_u64(),
            v["usage"]["completion_tokens"].as_u64(),
        );
        if body != (Some(u.prompt_tokens), Some(u.completion_tokens)) {
            return fail("chat completion usage differs from the reported usage", &v);
        }
    }
    Ok(())
}

pub(crate) fn check_anthropic_response(input: &[u8]) -> Result<(), String> {
    match anthropic::response::to_chat_completion(input, "logical", 7) {
        Err(e) => typed(&e),
        Ok(t) => chat_completion(&t),
    }
}

pub(crate) fn check_gemini_response(input: &[u8]) -> Result<(), String> {
    match gemini::response::to_chat_completion(input, "logical", 7) {
        Err(e) => typed(&e),
        Ok(t) => chat_completion(&t),
    }
}

pub(crate) fn check_chat_response(input: &[u8]) -> Result<(), String> {
    match to_message(input, "logical") {
        Err(e) => typed(&e),
        Ok(t) => {
            let Some(v) = parse(&t.body, "anthropic message")? else {
                return Ok(());
            };
            let blocks_ok = v["content"].as_array().is_some_and(|c| {
                c.iter().all(|b| match b["type"].as_str() {
                    Some("text") => b["text"].is_string(),
                    Some("thinking") => b["thinking"].is_string(),
                    Some("tool_use") => {
                        b["id"].is_string() && b["name"].is_string() && b["input"].is_object()
                    }
                    _ => false,
                })
            });
            if v["type"] != "message" || v["role"] != "assistant" || v["model"] != "logical" {
                return fail("anthropic message envelope", &v);
            }
            if !blocks_ok || !(v["stop_reason"].is_string() || v["stop_reason"].is_null()) {
                return fail("anthropic message content", &v);
            }
            if !v["usage"]["input_tokens"].is_u64() || !v["usage"]["output_tokens"].is_u64() {
                return fail("anthropic message usage", &v);
            }
            Ok(())
        }
    }
}
