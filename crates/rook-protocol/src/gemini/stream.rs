//! Gemini `streamGenerateContent?alt=sse` → OpenAI `chat.completion.chunk` SSE.
//!
//! Every `data:` event is a whole `GenerateContentResponse` holding the next
//! piece of the first candidate. The first event opens with the role chunk;
//! text parts become `content` deltas, thought parts `reasoning_content`
//! deltas, each `functionCall` part one complete tool-call delta (Gemini sends
//! a call whole); a `finishReason` becomes the finish chunk. `usageMetadata`
//! is cumulative, so the last one counts. When the upstream body ends after a
//! finish reason, the usage chunk (when asked for) and `data: [DONE]` follow;
//! an `{"error":…}` event becomes Rook's error event instead.

use serde_json::{json, Value};

use crate::gemini::finish_reason;
use crate::gemini::response::{call_id, tool_call, usage_from};
use crate::sse::{SseEvent, SseParser};
use crate::stream::{OpenAiChunkWriter, StreamTranslator};
use crate::usage::Usage;

const MAX_LINE: usize = 64 << 20;

/// The Gemini → OpenAI stream translator. See the module docs.
#[derive(Debug, Clone)]
pub struct GeminiToOpenAi {
    parser: SseParser,
    writer: OpenAiChunkWriter,
    include_usage: bool,
    started: bool,
    calls: usize,
    finished: bool,
    usage: Option<Usage>,
    completed: bool,
    errored: bool,
}

impl GeminiToOpenAi {
    /// A translator for one answer: `model` is the client's logical model,
    /// `created` a unix time, `include_usage` the client's
    /// `stream_options.include_usage`.
    pub fn new(model: &str, created: u64, include_usage: bool) -> Self {
        GeminiToOpenAi {
            parser: SseParser::with_max_line(MAX_LINE),
            writer: OpenAiChunkWriter::new("chatcmpl-gemini", model, created),
            include_usage,
            started: false,
            calls: 0,
            finished: false,
            usage: None,
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
        if let Some(err) = v.get("error").filter(|x| !x.is_null()) {
            let msg = err
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("upstream error");
            OpenAiChunkWriter::error(out, msg, err.get("status").and_then(Value::as_str));
            self.errored = true;
            return;
        }
        if !self.started {
            self.started = true;
            if let Some(id) = v.get("responseId").and_then(Value::as_str) {
                self.writer.set_id(format!("chatcmpl-{id}"));
            }
            self.writer
                .delta(out, json!({"role": "assistant", "content": ""}), None);
        }
        if let Some(u) = v.get("usageMetadata") {
            self.usage = Some(usage_from(u));
        }
        let response_id = v
            .get("responseId")
            .and_then(Value::as_str)
            .unwrap_or("gemini")
            .to_string();
        let Some(cand) = v.pointer("/candidates/0") else {
            if v.pointer("/promptFeedback/blockReason").is_some() && !self.finished {
                self.finished = true;
                self.writer.delta(out, json!({}), Some("content_filter"));
            }
            return;
        };
        for part in cand
            .pointer("/content/parts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if part.get("functionCall").is_some() {
                let mut call = tool_call(part, call_id(part, &response_id, self.calls));
                call["index"] = json!(self.calls);
                self.calls += 1;
                self.writer.delta(out, json!({"tool_calls": [call]}), None);
            } else if let Some(t) = part
                .get("text")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
            {
                let key = if part.get("thought").and_then(Value::as_bool) == Some(true) {
                    "reasoning_content"
                } else {
                    "content"
                };
                self.writer.delta(out, json!({ key: t }), None);
            }
        }
        if let Some(r) = cand.get("finishReason").and_then(Value::as_str) {
            if !self.finished {
                self.finished = true;
                self.writer
                    .delta(out, json!({}), Some(finish_reason(r, self.calls > 0)));
            }
        }
    }
}

impl StreamTranslator for GeminiToOpenAi {
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
        if self.finished && !self.errored && !self.completed {
            if let Some(u) = self.usage.filter(|_| self.include_usage) {
                self.writer.usage(&mut out, &u);
            }
            OpenAiChunkWriter::done(&mut out);
            self.completed = true;
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
mod tests {
    use super::*;

    pub(crate) const STREAM: &str = "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"think\",\"thought\":true}]}}],\"usageMetadata\":{\"promptTokenCount\":5},\"responseId\":\"r9\"}\r\n\r\n\
data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Hel\"}]}}],\"responseId\":\"r9\"}\r\n\r\n\
data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"lo\"},{\"functionCall\":{\"name\":\"f\",\"args\":{\"a\":1}}}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":5,\"candidatesTokenCount\":3,\"totalTokenCount\":8},\"responseId\":\"r9\"}\r\n\r\n";

    fn chunks(out: &[u8]) -> Vec<String> {
        String::from_utf8(out.to_vec())
            .unwrap()
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(str::to_string)
            .collect()
    }

    fn chunk(e: &str) -> Value {
        serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap()
    }

    #[test]
    fn translates_a_stream() {
        let mut t = GeminiToOpenAi::new("logical", 3, true);
        let mut out = t.push(STREAM.as_bytes());
        assert!(!t.completed());
        out.extend(t.finish());
        let ev = chunks(&out);
        assert_eq!(ev.len(), 8, "{ev:#?}");
        assert_eq!(chunk(&ev[0])["id"], "chatcmpl-r9");
        assert_eq!(chunk(&ev[0])["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(
            chunk(&ev[1])["choices"][0]["delta"]["reasoning_content"],
            "think"
        );
        assert_eq!(chunk(&ev[2])["choices"][0]["delta"]["content"], "Hel");
        assert_eq!(chunk(&ev[3])["choices"][0]["delta"]["content"], "lo");
        assert_eq!(
            chunk(&ev[4])["choices"][0]["delta"]["tool_calls"][0],
            json!({"index": 0, "id": "call_r9_0", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}})
        );
        assert_eq!(chunk(&ev[5])["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(chunk(&ev[6])["usage"]["total_tokens"], 8);
        assert_eq!(ev[7], "data: [DONE]");
        assert!(t.completed() && !t.saw_upstream_error());
        assert_eq!(t.usage(), Some(Usage::new(5, 3, None)));
    }

    #[test]
    fn finish_reasons_errors_and_truncation() {
        for (r, f) in [
            ("STOP", "stop"),
            ("MAX_TOKENS", "length"),
            ("SAFETY", "content_filter"),
        ] {
            let mut t = GeminiToOpenAi::new("m", 0, false);
            let ev = format!("data: {{\"candidates\":[{{\"content\":{{\"parts\":[{{\"text\":\"x\"}}]}},\"finishReason\":\"{r}\"}}]}}\n\n");
            let mut out = t.push(ev.as_bytes());
            out.extend(t.finish());
            let ev = chunks(&out);
            assert_eq!(chunk(&ev[2])["choices"][0]["finish_reason"], f);
            assert_eq!(ev.last().unwrap(), "data: [DONE]");
        }
        let mut t = GeminiToOpenAi::new("m", 0, false);
        t.push(b"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"x\"}]}}]}\n\n");
        assert!(t.finish().is_empty());
        assert!(!t.completed());
        let mut t = GeminiToOpenAi::new("m", 0, false);
        let out = t.push(b"data: {\"error\":{\"code\":503,\"message\":\"overloaded\",\"status\":\"UNAVAILABLE\"}}\n\n");
        assert_eq!(String::from_utf8(out).unwrap(), "event: error\ndata: {\"error\":{\"code\":\"UNAVAILABLE\",\"message\":\"overloaded\",\"type\":\"upstream_error\"}}\n\n");
        assert!(t.finish().is_empty());
        assert!(t.saw_upstream_error() && !t.completed());
    }
}
