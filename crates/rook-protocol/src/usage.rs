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
}

#[derive(Deserialize)]
struct WithUsage {
    usage: Option<RawUsage>,
}

#[derive(Deserialize)]
struct RawUsage {
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
}

impl Usage {
    /// Reads the top-level `usage` object of a JSON document (a chat completion or
    /// a stream chunk). `None` when absent, null or not JSON.
    pub fn from_chunk(json: &[u8]) -> Option<Usage> {
        let w: WithUsage = serde_json::from_slice(json).ok()?;
        let raw = w.usage?;
        let prompt = raw.prompt_tokens.or(raw.input_tokens).unwrap_or(0);
        let completion = raw.completion_tokens.or(raw.output_tokens).unwrap_or(0);
        Some(Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: raw.total_tokens.unwrap_or(prompt + completion),
        })
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
    }
}
