//! OpenAI chunk SSE → Messages SSE (for Anthropic clients).
//!
//! The synthesised sequence is always well formed: `message_start` first;
//! each content block opened with `content_block_start`, fed with deltas and
//! closed with `content_block_stop` before the next one opens; then
//! `message_delta` (stop reason and usage) and `message_stop`, written when
//! the upstream sends `data: [DONE]` (or ends after a `finish_reason`).
//!
//! | OpenAI chunk | Anthropic events |
//! |---|---|
//! | any first chunk | `message_start` |
//! | `delta.reasoning_content` | a `thinking` block, `thinking_delta` |
//! | `delta.content` | a `text` block, `text_delta` |
//! | `delta.tool_calls[i]` with an id | a `tool_use` block; its arguments as `input_json_delta` |
//! | `finish_reason` | remembered for `message_delta.delta.stop_reason` |
//! | the usage chunk | remembered for `message_delta.usage` |
//! | an error event or `{"error":…}` data | `event: error` (`api_error`), and nothing after |
//!
//! Tool-call deltas are expected in order (all of call 0, then call 1, …), as
//! OpenAI sends them; arguments for a call whose block is closed are dropped.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::anthropic::inbound::{anthropic_usage, message_id, stop_reason};
use crate::sse::{SseEvent, SseParser};
use crate::stream::{write_event, StreamTranslator};
use crate::usage::Usage;

const MAX_LINE: usize = 64 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text,
    Thinking,
    /// A tool_use block, for this OpenAI tool-call index.
    Tool(u64),
}

/// The OpenAI → Anthropic stream translator. See the module docs.
#[derive(Debug, Clone)]
pub struct OpenAiToAnthropic {
    parser: SseParser,
    model: String,
    started: bool,
    open: Option<Open>,
    next_block: u64,
    /// OpenAI tool-call index → whether its block is still open.
    tools: HashMap<u64, bool>,
    stop_reason: Option<&'static str>,
    usage: Option<Usage>,
    completed: bool,
    errored: bool,
}

impl OpenAiToAnthropic {
    /// A translator for one answer; `model` is the client's logical model.
    pub fn new(model: &str) -> Self {
        OpenAiToAnthropic {
            parser: SseParser::with_max_line(MAX_LINE),
            model: model.to_string(),
            started: false,
            open: None,
            next_block: 0,
            tools: HashMap::new(),
            stop_reason: None,
            usage: None,
            completed: false,
            errored: false,
        }
    }

    fn start(&mut self, id: Option<&str>, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        write_event(
            out,
            "message_start",
            &json!({
                "type": "message_start",
                "message": {
                    "id": message_id(id.unwrap_or("rook")),
                    "type": "message",
                    "role": "assistant",
                    "model": self.model,
                    "content": [],
                    "stop_reason": null,
                    "stop_sequence": null,
                    "usage": {"input_tokens": 0, "output_tokens": 0},
                },
            }),
        );
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        if let Some(open) = self.open.take() {
            if let Open::Tool(i) = open {
                self.tools.insert(i, false);
            }
            let index = self.next_block - 1;
            write_event(
                out,
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": index}),
            );
        }
    }

    fn open(&mut self, kind: Open, block: Value, out: &mut Vec<u8>) {
        self.close(out);
        let index = self.next_block;
        self.next_block += 1;
        self.open = Some(kind);
        write_event(
            out,
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": block}),
        );
    }

    fn delta(&self, delta: Value, out: &mut Vec<u8>) {
        let index = self.next_block.saturating_sub(1);
        write_event(
            out,
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": index, "delta": delta}),
        );
    }

    fn text(&mut self, kind: Open, text: &str, out: &mut Vec<u8>) {
        if text.is_empty() {
            return;
        }
        if self.open != Some(kind) {
            let block = match kind {
                Open::Thinking => json!({"type": "thinking", "thinking": "", "signature": ""}),
                _ => json!({"type": "text", "text": ""}),
            };
            self.open(kind, block, out);
        }
        let delta = match kind {
            Open::Thinking => json!({"type": "thinking_delta", "thinking": text}),
            _ => json!({"type": "text_delta", "text": text}),
        };
        self.delta(delta, out);
    }

    fn tool_call(&mut self, c: &Value, out: &mut Vec<u8>) {
        let index = c.get("index").and_then(Value::as_u64).unwrap_or(0);
        if let Some(id) = c
            .get("id")
            .and_then(Value::as_str)
            .filter(|_| !self.tools.contains_key(&index))
        {
            let name = c
                .pointer("/function/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            self.tools.insert(index, true);
            self.open(
                Open::Tool(index),
                json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                out,
            );
        }
        let args = c
            .pointer("/function/arguments")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !args.is_empty() && self.open == Some(Open::Tool(index)) {
            self.delta(
                json!({"type": "input_json_delta", "partial_json": args}),
                out,
            );
        }
    }

    fn end(&mut self, out: &mut Vec<u8>) {
        self.start(None, out);
        self.close(out);
        let usage = anthropic_usage(&self.usage.unwrap_or_default());
        write_event(
            out,
            "message_delta",
            &json!({
                "type": "message_delta",
                "delta": {"stop_reason": self.stop_reason.unwrap_or("end_turn"), "stop_sequence": null},
                "usage": usage,
            }),
        );
        write_event(out, "message_stop", &json!({"type": "message_stop"}));
        self.completed = true;
    }

    fn on_event(&mut self, e: SseEvent, out: &mut Vec<u8>) {
        if self.completed || self.errored {
            return;
        }
        if e.data == b"[DONE]" {
            self.end(out);
            return;
        }
        let Ok(v) = serde_json::from_slice::<Value>(&e.data) else {
            return;
        };
        if e.event.as_deref() == Some("error") || v.get("error").is_some_and(|x| !x.is_null()) {
            let err = v.get("error").unwrap_or(&v);
            let msg = err
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("upstream error");
            write_event(
                out,
                "error",
                &json!({"type": "error", "error": {"type": "api_error", "message": msg}}),
            );
            self.errored = true;
            return;
        }
        self.start(v.get("id").and_then(Value::as_str), out);
        if let Some(u) = v
            .get("usage")
            .filter(|u| !u.is_null())
            .and_then(|_| Usage::from_chunk(&e.data))
        {
            self.usage = Some(u);
        }
        let Some(choice) = v.pointer("/choices/0") else {
            return;
        };
        let d = choice.get("delta").unwrap_or(&Value::Null);
        let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or_default();
        let reasoning = if s("reasoning_content").is_empty() {
            s("reasoning")
        } else {
            s("reasoning_content")
        };
        self.text(Open::Thinking, reasoning, out);
        self.text(Open::Text, s("content"), out);
        if let Some(calls) = d.get("tool_calls").and_then(Value::as_array) {
            for c in calls {
                self.tool_call(c, out);
            }
        }
        if let Some(f) = choice.get("finish_reason").and_then(Value::as_str) {
            self.stop_reason = Some(stop_reason(f));
        }
    }
}

impl StreamTranslator for OpenAiToAnthropic {
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
        // Some OpenAI-compatible servers end without `[DONE]`; a finish reason
        // means the answer is whole.
        if !self.completed && !self.errored && self.stop_reason.is_some() {
            self.end(&mut out);
        }
        out
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
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
