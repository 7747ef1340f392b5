//! Anthropic Messages SSE → OpenAI `chat.completion.chunk` SSE.
//!
//! | Anthropic event | OpenAI chunk |
//! |---|---|
//! | `message_start` | `delta: {role: "assistant", content: ""}` |
//! | `content_block_start` (tool_use) | a tool-call delta: index, id, type, name, `arguments: ""` |
//! | `content_block_delta` text_delta | `delta.content` |
//! | `content_block_delta` input_json_delta | `delta.tool_calls[i].function.arguments` |
//! | `content_block_delta` thinking_delta | `delta.reasoning_content` |
//! | `message_delta` | `delta: {}` with `finish_reason` (usage recorded) |
//! | `message_stop` | the usage chunk (when asked for), then `data: [DONE]` |
//! | `error` | Rook's `event: error` (no `[DONE]`) |
//! | `ping`, `content_block_stop`, signature deltas | nothing |

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::anthropic::finish_reason;
use crate::anthropic::response::{completion_id, usage_from};
use crate::sse::{SseEvent, SseParser};
use crate::stream::{OpenAiChunkWriter, StreamTranslator};
use crate::usage::Usage;

/// Upstream lines longer than this are skipped.
const MAX_LINE: usize = 64 << 20;

/// The Anthropic → OpenAI stream translator. See the module docs.
#[derive(Debug, Clone)]
pub struct AnthropicToOpenAi {
    parser: SseParser,
    writer: OpenAiChunkWriter,
    include_usage: bool,
    /// Anthropic block index → OpenAI tool-call index, for tool_use blocks.
    tool_index: HashMap<u64, u64>,
    tools: u64,
    input: Option<Value>,
    output_tokens: Option<u64>,
    completed: bool,
    errored: bool,
}

impl AnthropicToOpenAi {
    /// A translator for one answer: `model` is the client's logical model,
    /// `created` a unix time, `include_usage` the client's
    /// `stream_options.include_usage`.
    pub fn new(model: &str, created: u64, include_usage: bool) -> Self {
        AnthropicToOpenAi {
            parser: SseParser::with_max_line(MAX_LINE),
            writer: OpenAiChunkWriter::new("chatcmpl-rook", model, created),
            include_usage,
            tool_index: HashMap::new(),
            tools: 0,
            input: None,
            output_tokens: None,
            completed: false,
            errored: false,
        }
    }

    fn on_event(&mut self, e: SseEvent, out: &mut Vec<u8>) {
        if self.completed || self.errored {
            return;
        }
        let Ok(v) = serde_json::from_slice::<Value>(&e.data) else {
            return;
        };
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .or(e.event.as_deref())
            .unwrap_or("");
        let w = &self.writer;
        match kind {
            "message_start" => {
                let msg = v.get("message").unwrap_or(&Value::Null);
                if let Some(id) = msg.get("id").and_then(Value::as_str) {
                    self.writer.set_id(completion_id(id));
                }
                self.input = msg.get("usage").cloned();
                self.output_tokens = msg.pointer("/usage/output_tokens").and_then(Value::as_u64);
                self.writer
                    .delta(out, json!({"role": "assistant", "content": ""}), None);
            }
            "content_block_start" => {
                let block = v.get("content_block").unwrap_or(&Value::Null);
                if block.get("type").and_then(Value::as_str) == Some("tool_use") {
                    let index = self.tools;
                    self.tools += 1;
                    if let Some(i) = v.get("index").and_then(Value::as_u64) {
                        self.tool_index.insert(i, index);
                    }
                    w.delta(out, json!({"tool_calls": [{
                        "index": index,
                        "id": block.get("id").cloned().unwrap_or(Value::Null),
                        "type": "function",
                        "function": {"name": block.get("name").cloned().unwrap_or(Value::Null), "arguments": ""},
                    }]}), None);
                }
            }
            "content_block_delta" => {
                let d = v.get("delta").unwrap_or(&Value::Null);
                let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or_default();
                match d.get("type").and_then(Value::as_str) {
                    Some("text_delta") => w.delta(out, json!({"content": s("text")}), None),
                    Some("thinking_delta") => {
                        w.delta(out, json!({"reasoning_content": s("thinking")}), None)
                    }
                    Some("input_json_delta") => {
                        let block = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                        let index = self.tool_index.get(&block).copied().unwrap_or(0);
                        w.delta(
                            out,
                            json!({"tool_calls": [{
                                "index": index, "function": {"arguments": s("partial_json")},
                            }]}),
                            None,
                        );
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(n) = v.pointer("/usage/output_tokens").and_then(Value::as_u64) {
                    self.output_tokens = Some(n);
                }
                // Newer APIs repeat the input counts here; prefer them when given.
                if let Some(u) = v
                    .get("usage")
                    .filter(|u| u.get("input_tokens").is_some_and(|x| !x.is_null()))
                {
                    self.input = Some(u.clone());
                }
                if let Some(r) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    w.delta(out, json!({}), Some(finish_reason(r)));
                }
            }
            "message_stop" => {
                if self.include_usage {
                    if let Some(u) = self.usage() {
                        self.writer.usage(out, &u);
                    }
                }
                OpenAiChunkWriter::done(out);
                self.completed = true;
            }
            "error" => {
                let err = v.get("error").unwrap_or(&Value::Null);
                let msg = err
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("upstream error");
                OpenAiChunkWriter::error(out, msg, err.get("type").and_then(Value::as_str));
                self.errored = true;
            }
            _ => {}
        }
    }
}

impl StreamTranslator for AnthropicToOpenAi {
    fn push(&mut self, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for e in self.parser.feed_collect(input) {
            self.on_event(e, &mut out);
        }
        out
    }

    fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(e) = self.parser.finish() {
            self.on_event(e, &mut out);
        }
        out
    }

    fn usage(&self) -> Option<Usage> {
        let input = self.input.as_ref();
        if input.is_none() && self.output_tokens.is_none() {
            return None;
        }
        let mut u = input.map(usage_from).unwrap_or_default();
        u.completion_tokens = self.output_tokens.unwrap_or(0);
        u.total_tokens = u.prompt_tokens.saturating_add(u.completion_tokens);
        Some(u)
    }

    fn completed(&self) -> bool {
        self.completed
    }

    fn saw_upstream_error(&self) -> bool {
        self.errored
    }
}

#[cfg(test)]
mod tests;
