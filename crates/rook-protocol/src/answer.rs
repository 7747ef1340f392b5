//! Reading a buffered upstream answer relayed as is: is it a valid answer of
//! its kind, and what usage does it report — in one pass over the bytes.
//!
//! A 2xx whose body is not JSON (cut off, an HTML error page) or lacks the key
//! every answer of its kind has is not an answer: the gateway treats it as an
//! upstream failure and tries the next account, rather than relaying something
//! the client's SDK cannot parse.
//!
//! | kind | must have |
//! |---|---|
//! | [`AnswerKind::ChatCompletion`], [`AnswerKind::Completion`] | `choices` |
//! | [`AnswerKind::Embeddings`] | `data` |
//! | [`AnswerKind::Message`] (Anthropic) | `content` |
//! | [`AnswerKind::Response`] (OpenAI Responses) | `output` |
//! | [`AnswerKind::TokenCount`] (Anthropic `count_tokens`) | `input_tokens` |

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::usage::{RawUsage, Usage};

/// The kind of answer expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnswerKind {
    /// OpenAI `chat.completion`.
    ChatCompletion,
    /// OpenAI legacy `text_completion`.
    Completion,
    /// OpenAI embeddings list.
    Embeddings,
    /// Anthropic Messages `message`.
    Message,
    /// OpenAI Responses `response`.
    Response,
    /// Anthropic `count_tokens`.
    TokenCount,
}

impl AnswerKind {
    /// The top-level key every answer of this kind has.
    pub fn required_key(self) -> &'static str {
        match self {
            AnswerKind::ChatCompletion | AnswerKind::Completion => "choices",
            AnswerKind::Embeddings => "data",
            AnswerKind::Message => "content",
            AnswerKind::Response => "output",
            AnswerKind::TokenCount => "input_tokens",
        }
    }
}

/// Why a body is not an answer of its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidAnswer {
    /// Not one JSON object (cut off, not JSON, trailing bytes).
    NotJson(String),
    /// A JSON object without the kind's key.
    MissingKey(&'static str),
}

impl fmt::Display for InvalidAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidAnswer::NotJson(e) => write!(f, "the upstream's answer is not JSON: {e}"),
            InvalidAnswer::MissingKey(k) => write!(f, "the upstream's answer has no `{k}`"),
        }
    }
}

impl std::error::Error for InvalidAnswer {}

/// Checks a buffered answer and reads its top-level `usage` (OpenAI or
/// Anthropic names). See the module docs.
///
/// ```
/// use rook_protocol::answer::{read_answer, AnswerKind, InvalidAnswer};
/// let usage = read_answer(AnswerKind::ChatCompletion,
///     br#"{"choices":[],"usage":{"prompt_tokens":2,"completion_tokens":3}}"#).unwrap();
/// assert_eq!(usage.map(|u| u.total_tokens), Some(5));
/// assert!(matches!(read_answer(AnswerKind::ChatCompletion, br#"{"choices":[{"#),
///     Err(InvalidAnswer::NotJson(_))));
/// assert_eq!(read_answer(AnswerKind::Embeddings, br#"{"object":"list"}"#),
///     Err(InvalidAnswer::MissingKey("data")));
/// ```
pub fn read_answer(kind: AnswerKind, body: &[u8]) -> Result<Option<Usage>, InvalidAnswer> {
    // JSON text is UTF-8 (RFC 8259 §8.1); serde_json checks the strings it
    // reads but not those it skips, so check the whole body first (found by
    // fuzzing: invalid bytes inside a skipped value passed).
    let text = std::str::from_utf8(body).map_err(|e| InvalidAnswer::NotJson(e.to_string()))?;
    let mut de = serde_json::Deserializer::from_str(text);
    let seen = de
        .deserialize_map(Keys {
            required: kind.required_key(),
        })
        .map_err(|e| InvalidAnswer::NotJson(e.to_string()))?;
    de.end()
        .map_err(|e| InvalidAnswer::NotJson(e.to_string()))?;
    if !seen.required {
        return Err(InvalidAnswer::MissingKey(kind.required_key()));
    }
    Ok(seen.usage.map(RawUsage::into_usage))
}

struct Seen {
    required: bool,
    usage: Option<RawUsage>,
}

struct Keys {
    required: &'static str,
}

impl<'de> Visitor<'de> for Keys {
    type Value = Seen;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Seen, A::Error> {
        let mut seen = Seen {
            required: false,
            usage: None,
        };
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "usage" {
                // A usage object of an unexpected shape is unknown usage, not a
                // broken answer.
                let v = map.next_value::<serde_json::Value>()?;
                seen.usage = serde_json::from_value::<RawUsage>(v).ok();
            } else {
                if key == self.required {
                    seen.required = true;
                }
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(seen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_their_keys() {
        use AnswerKind::*;
        let table: &[(AnswerKind, &[u8], bool)] = &[
            (
                ChatCompletion,
                br#"{"id":"x","choices":[{"message":{"content":"hi"}}]}"#,
                true,
            ),
            (
                ChatCompletion,
                br#"{"id":"x","object":"chat.completion"}"#,
                false,
            ),
            (Completion, br#"{"choices":[{"text":"hi"}]}"#, true),
            (Embeddings, br#"{"object":"list","data":[]}"#, true),
            (Message, br#"{"type":"message","content":[]}"#, true),
            (Message, br#"{"type":"message"}"#, false),
            (Response, br#"{"object":"response","output":[]}"#, true),
            (TokenCount, br#"{"input_tokens":12}"#, true),
        ];
        for (kind, body, ok) in table {
            assert_eq!(
                read_answer(*kind, body).is_ok(),
                *ok,
                "{kind:?} {}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn cut_off_or_foreign_bodies_are_not_answers() {
        for body in [
            &br#"{"choices":[{"message":{"content":"hel"#[..],
            b"<html>502 Bad Gateway</html>",
            b"",
            b"[]",
            br#"{"choices":[]} trailing"#,
            br#"{"choices":[]}{"choices":[]}"#,
            // Invalid UTF-8 inside a value the reader skips.
            b"{\"choices\":[],\"data\":[{\"x\":\"\xff\"}]}",
        ] {
            assert!(
                matches!(
                    read_answer(AnswerKind::ChatCompletion, body),
                    Err(InvalidAnswer::NotJson(_))
                ),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn usage_in_either_vendors_names() {
        let u = read_answer(
            AnswerKind::Message,
            br#"{"content":[],"usage":{"input_tokens":4,"output_tokens":6}}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (4, 6, 10)
        );
        assert_eq!(
            read_answer(
                AnswerKind::ChatCompletion,
                br#"{"choices":[],"usage":null}"#
            ),
            Ok(None)
        );
        // A usage object of another shape is unknown usage; the answer stands.
        assert_eq!(
            read_answer(
                AnswerKind::ChatCompletion,
                br#"{"choices":[],"usage":{"prompt_tokens":"x"}}"#
            ),
            Ok(None)
        );
    }
}
