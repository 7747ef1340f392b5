//! Token usage reported by upstreams.

use serde::Deserialize;

/// Token counts of one answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Input tokens.
    pub prompt_tokens: u64,
    /// Output tokens.
    pub completion_tokens: u64,
    /// Their sum (as reported, or computed when absent).
    pub total_tokens: u64,
    /// Of the input tokens, those read from the upstream's prompt cache, when
    /// the upstream reported it.
    pub cached_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct WithUsage {
    usage: Option<RawUsage>,
}

#[derive(Deserialize)]
pub(crate) struct RawUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    total_tokens: Option<u64>,
    // Anthropic-style names, for OpenAI-compatible layers that pass them through.
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    prompt_tokens_details: Option<Details>,
}

#[derive(Deserialize)]
struct Details {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

impl RawUsage {
    pub(crate) fn into_usage(self) -> Usage {
        let raw = self;
        let prompt = raw.prompt_tokens.or(raw.input_tokens).unwrap_or(0);
        let completion = raw.completion_tokens.or(raw.output_tokens).unwrap_or(0);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: raw
                .total_tokens
                .unwrap_or(prompt.saturating_add(completion)),
            cached_tokens: raw.prompt_tokens_details.and_then(|d| d.cached_tokens),
        }
    }
}

impl Usage {
    /// Reads the top-level `usage` object of a JSON document (a chat completion or
    /// a stream chunk). `None` when absent, null or not JSON.
    pub fn from_chunk(json: &[u8]) -> Option<Usage> {
        let w: WithUsage = serde_json::from_slice(json).ok()?;
        w.usage.map(RawUsage::into_usage)
    }

    /// Usage from input and output counts (the total is their sum).
    pub fn new(prompt_tokens: u64, completion_tokens: u64, cached_tokens: Option<u64>) -> Usage {
        Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens.saturating_add(completion_tokens),
            cached_tokens,
        }
    }

    /// The OpenAI `usage` object: `prompt_tokens`, `completion_tokens`,
    /// `total_tokens`, and `prompt_tokens_details.cached_tokens` when known.
    pub fn to_openai_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        });
        if let (Some(c), Some(o)) = (self.cached_tokens, v.as_object_mut()) {
            o.insert(
                "prompt_tokens_details".into(),
                serde_json::json!({ "cached_tokens": c }),
            );
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_usage() {
        let u = Usage::from_chunk(
            br#"{"id":"x","usage":{"prompt_tokens":2,"completion_tokens":3,"total_tokens":5}}"#,
        )
        .unwrap();
        assert_eq!(u.total_tokens, 5);
        assert!(Usage::from_chunk(br#"{"usage":null}"#).is_none());
        assert!(Usage::from_chunk(b"not json").is_none());
        let u = Usage::from_chunk(br#"{"usage":{"input_tokens":1,"output_tokens":1}}"#).unwrap();
        assert_eq!(u.total_tokens, 2);
        assert_eq!(u.cached_tokens, None);
        let u = Usage::from_chunk(
            br#"{"usage":{"prompt_tokens":9,"completion_tokens":1,"prompt_tokens_details":{"cached_tokens":4}}}"#,
        )
        .unwrap();
        assert_eq!(u.cached_tokens, Some(4));
        assert_eq!(
            u.to_openai_json()["prompt_tokens_details"]["cached_tokens"],
            4
        );
        assert!(Usage::new(1, 2, None)
            .to_openai_json()
            .get("prompt_tokens_details")
            .is_none());
    }

    #[test]
    fn a_computed_total_saturates() {
        // Found by fuzzing: `prompt + completion` overflowed (a panic in
        // debug builds, a wrapped total in release builds).
        let u = Usage::from_chunk(
            br#"{"usage":{"prompt_tokens":3,"completion_tokens":18446744073709551615}}"#,
        )
        .unwrap();
        assert_eq!(u.total_tokens, u64::MAX);
    }
}
