//! What every stream translator shares: the [`StreamTranslator`] interface and
//! [`OpenAiChunkWriter`], which writes OpenAI `chat.completion.chunk` events.
//!
//! A translator is a byte-in/byte-out state machine: the gateway pushes the
//! upstream's bytes as they arrive (in any split) and sends what comes back to
//! the client; at the end of the upstream body it calls
//! [`finish`](StreamTranslator::finish). Output is always made of whole events,
//! so when [`completed`](StreamTranslator::completed) is false at the end (the
//! upstream broke off) the gateway may append its own error event.

use serde_json::{json, Value};

use crate::usage::Usage;

/// A streaming protocol translator. See the module docs.
pub trait StreamTranslator {
    /// Takes the next upstream bytes; returns the bytes to send to the client now.
    fn push(&mut self, input: &[u8]) -> Vec<u8>;
    /// The upstream body ended; returns the last bytes to send.
    fn finish(&mut self) -> Vec<u8>;
    /// The usage the upstream reported, once it has.
    fn usage(&self) -> Option<Usage>;
    /// Whether the upstream ended the answer properly (and the client was sent
    /// its terminator).
    fn completed(&self) -> bool;
    /// Whether the upstream sent an error event (relayed to the client as one).
    fn saw_upstream_error(&self) -> bool;
}

/// Two translators in a row: the upstream's bytes go through `first`, its
/// output through `second` (e.g. Gemini → OpenAI chunks → Anthropic events).
/// Usage and upstream errors are the first's (it reads the upstream);
/// completion is the second's (it writes the client's terminator).
#[derive(Debug)]
pub struct Chain<A, B> {
    first: A,
    second: B,
}

impl<A: StreamTranslator, B: StreamTranslator> Chain<A, B> {
    /// `first`, then `second`.
    pub fn new(first: A, second: B) -> Self {
        Chain { first, second }
    }
}

impl<A: StreamTranslator, B: StreamTranslator> StreamTranslator for Chain<A, B> {
    fn push(&mut self, input: &[u8]) -> Vec<u8> {
        let mid = self.first.push(input);
        if mid.is_empty() {
            return Vec::new();
        }
        self.second.push(&mid)
    }

    fn finish(&mut self) -> Vec<u8> {
        let mid = self.first.finish();
        let mut out = self.second.push(&mid);
        out.extend(self.second.finish());
        out
    }

    fn usage(&self) -> Option<Usage> {
        self.first.usage()
    }

    fn completed(&self) -> bool {
        self.first.completed() && self.second.completed()
    }

    fn saw_upstream_error(&self) -> bool {
        self.first.saw_upstream_error()
    }
}

/// Writes OpenAI chat completion chunks with a fixed id, model and creation time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenAiChunkWriter {
    id: String,
    model: String,
    created: u64,
}

impl OpenAiChunkWriter {
    /// A writer for the chunks of one answer.
    pub fn new(id: impl Into<String>, model: impl Into<String>, created: u64) -> Self {
        OpenAiChunkWriter {
            id: id.into(),
            model: model.into(),
            created,
        }
    }

    /// The chunks' `id`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Replaces the chunks' `id` (translators learn it from the upstream's first event).
    pub fn set_id(&mut self, id: impl Into<String>) {
        self.id = id.into();
    }

    fn envelope(&self, choices: Value) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        })
    }

    /// Appends a chunk with one choice (index 0): `delta` and `finish_reason`.
    pub fn delta(&self, out: &mut Vec<u8>, delta: Value, finish_reason: Option<&str>) {
        let chunk = self.envelope(json!([{
            "index": 0,
            "delta": delta,
            "logprobs": null,
            "finish_reason": finish_reason,
        }]));
        write_data(out, &chunk);
    }

    /// Appends the usage-only chunk (`"choices": []`).
    pub fn usage(&self, out: &mut Vec<u8>, usage: &Usage) {
        let mut chunk = self.envelope(json!([]));
        if let Some(o) = chunk.as_object_mut() {
            o.insert("usage".into(), usage.to_openai_json());
        }
        write_data(out, &chunk);
    }

    /// Appends `data: [DONE]`.
    pub fn done(out: &mut Vec<u8>) {
        out.extend_from_slice(b"data: [DONE]\n\n");
    }

    /// Appends Rook's SSE error event:
    /// `event: error` with `{"error":{"message","type":"upstream_error","code"}}`.
    pub fn error(out: &mut Vec<u8>, message: &str, code: Option<&str>) {
        let body = json!({"error": {"message": message, "type": "upstream_error", "code": code}});
        out.extend_from_slice(b"event: error\n");
        write_data(out, &body);
    }
}

/// Appends `data: <json>\n\n`.
pub(crate) fn write_data(out: &mut Vec<u8>, v: &Value) {
    out.extend_from_slice(b"data: ");
    // Serialising a `Value` into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
    out.extend_from_slice(b"\n\n");
}

/// Appends `event: <name>\ndata: <json>\n\n`.
pub(crate) fn write_event(out: &mut Vec<u8>, name: &str, v: &Value) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.push(b'\n');
    write_data(out, v);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_chunks() {
        let w = OpenAiChunkWriter::new("chatcmpl-1", "m", 7);
        let mut out = Vec::new();
        w.delta(&mut out, json!({"content": "hi"}), None);
        w.usage(&mut out, &Usage::new(1, 2, None));
        OpenAiChunkWriter::done(&mut out);
        let text = String::from_utf8(out).unwrap();
        let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
        assert_eq!(events.len(), 3);
        let first: Value = serde_json::from_str(&events[0]["data: ".len()..]).unwrap();
        assert_eq!(first["object"], "chat.completion.chunk");
        assert_eq!(first["choices"][0]["delta"]["content"], "hi");
        assert_eq!(first["created"], 7);
        let usage: Value = serde_json::from_str(&events[1]["data: ".len()..]).unwrap();
        assert_eq!(usage["choices"], json!([]));
        assert_eq!(usage["usage"]["total_tokens"], 3);
        assert_eq!(events[2], "data: [DONE]");
    }

    #[test]
    fn writes_error_events() {
        let mut out = Vec::new();
        OpenAiChunkWriter::error(&mut out, "Overloaded", Some("overloaded_error"));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "event: error\ndata: {\"error\":{\"code\":\"overloaded_error\",\"message\":\"Overloaded\",\"type\":\"upstream_error\"}}\n\n"
        );
    }
}
