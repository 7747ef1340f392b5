//! Stream observers for answers relayed unchanged: the bytes go to the client
//! as they came, while the observer learns the usage and whether the answer
//! completed, in the upstream's own protocol.
//!
//! Each implements [`StreamTranslator`] with `push` returning its input, so the
//! gateway relays every protocol's streams the same way.
//!
//! | observer | usage from | complete at | error |
//! |---|---|---|---|
//! | [`Passthrough::anthropic`] | `message_start.message.usage` + `message_delta.usage.output_tokens` | `message_stop` | `event: error` |
//! | [`Passthrough::responses`] | `response.completed.response.usage` | `response.completed` | `error`, `response.failed` |

use serde_json::Value;

use crate::sse::{SseEvent, SseParser};
use crate::stream::StreamTranslator;
use crate::usage::Usage;

/// Which protocol's events are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Anthropic,
    Responses,
}

/// An observer of an unchanged stream. See the module docs.
#[derive(Debug, Clone)]
pub struct Passthrough {
    kind: Kind,
    parser: SseParser,
    usage: Option<Usage>,
    completed: bool,
    error: bool,
}

impl Passthrough {
    /// Observes an Anthropic Messages stream.
    pub fn anthropic() -> Self {
        Self::new(Kind::Anthropic)
    }

    /// Observes an OpenAI Responses API stream.
    pub fn responses() -> Self {
        Self::new(Kind::Responses)
    }

    fn new(kind: Kind) -> Self {
        Passthrough {
            kind,
            parser: SseParser::default(),
            usage: None,
            completed: false,
            error: false,
        }
    }

    fn on_event(&mut self, e: SseEvent) {
        let name = e.event.as_deref().unwrap_or("");
        let Ok(v) = serde_json::from_slice::<Value>(&e.data) else {
            return;
        };
        // The payload's `type` names the event as reliably as `event:` does.
        let kind = v.get("type").and_then(Value::as_str).unwrap_or(name);
        match (self.kind, kind) {
            (Kind::Anthropic, "message_start") => {
                if let Some(u) = v.pointer("/message/usage") {
                    self.usage = Some(crate::anthropic::response::usage_from(u));
                }
            }
            (Kind::Anthropic, "message_delta") => {
                if let Some(out) = v.pointer("/usage/output_tokens").and_then(Value::as_u64) {
                    let mut u = self.usage.unwrap_or_default();
                    u.completion_tokens = out;
                    u.total_tokens = u.prompt_tokens.saturating_add(out);
                    self.usage = Some(u);
                }
            }
            (Kind::Anthropic, "message_stop") => self.completed = true,
            (Kind::Anthropic, "error") => self.error = true,
            (Kind::Responses, "response.completed") => {
                self.completed = true;
                if let Some(u) = v.pointer("/response/usage") {
                    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
                    let cached = u
                        .pointer("/input_tokens_details/cached_tokens")
                        .and_then(Value::as_u64);
                    self.usage = Some(Usage::new(n("input_tokens"), n("output_tokens"), cached));
                }
            }
            (Kind::Responses, "error" | "response.failed") => self.error = true,
            _ => {}
        }
    }
}

impl StreamTranslator for Passthrough {
    fn push(&mut self, input: &[u8]) -> Vec<u8> {
        for e in self.parser.feed_collect(input) {
            self.on_event(e);
        }
        input.to_vec()
    }

    fn finish(&mut self) -> Vec<u8> {
        if let Some(e) = self.parser.finish() {
            self.on_event(e);
        }
        Vec::new()
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
    }

    fn completed(&self) -> bool {
        self.completed
    }

    fn saw_upstream_error(&self) -> bool {
        self.error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANTHROPIC: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":10,\"cache_read_input_tokens\":5,\"output_tokens\":1}}}\n\n\
        event: ping\ndata: {\"type\":\"ping\"}\n\n\
        event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n\
        event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":7}}\n\n\
        event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

    #[test]
    fn anthropic_usage_and_completion_in_any_split_with_bytes_unchanged() {
        let bytes = ANTHROPIC.as_bytes();
        for split in 0..bytes.len() {
            let mut p = Passthrough::anthropic();
            let mut out = p.push(&bytes[..split]);
            out.extend(p.push(&bytes[split..]));
            out.extend(p.finish());
            assert_eq!(out, bytes, "split {split}");
            assert!(p.completed());
            assert!(!p.saw_upstream_error());
            let u = p.usage().unwrap();
            assert_eq!(
                (u.prompt_tokens, u.completion_tokens, u.total_tokens),
                (15, 7, 22)
            );
            assert_eq!(u.cached_tokens, Some(5));
        }
    }

    #[test]
    fn anthropic_error_and_cut_off_streams() {
        let mut p = Passthrough::anthropic();
        p.push(b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"x\"}}\n\n");
        assert!(p.saw_upstream_error());
        assert!(!p.completed());
        let mut p = Passthrough::anthropic();
        p.push(&ANTHROPIC.as_bytes()[..ANTHROPIC.len() / 2]);
        p.finish();
        assert!(!p.completed());
    }

    #[test]
    fn responses_usage_at_completion() {
        let mut p = Passthrough::responses();
        p.push(b"event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\"}}\n\n");
        assert!(!p.completed());
        p.push(b"event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",\"usage\":{\"input_tokens\":4,\"output_tokens\":6,\"total_tokens\":10}}}\n\n");
        assert!(p.completed());
        let u = p.usage().unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (4, 6, 10)
        );
        let mut p = Passthrough::responses();
        p.push(b"event: response.failed\ndata: {\"type\":\"response.failed\"}\n\n");
        assert!(p.saw_upstream_error());
    }
}
