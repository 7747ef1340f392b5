//! Answers back in the client's protocol: buffered bodies (with their usage),
//! stream translators, and upstream error bodies read in the account's protocol.

use std::time::Duration;

use bytes::Bytes;
use rook_config::Protocol;
use rook_protocol::answer::{read_answer, AnswerKind, InvalidAnswer};
use rook_protocol::anthropic::inbound::response::to_message;
use rook_protocol::anthropic::inbound::stream::OpenAiToAnthropic;
use rook_protocol::anthropic::stream::AnthropicToOpenAi;
use rook_protocol::gemini::stream::GeminiToOpenAi;
use rook_protocol::openai::UpstreamError;
use rook_protocol::passthrough::Passthrough;
use rook_protocol::{anthropic, gemini, Chain, StreamTranslator, TranslateError, Usage};

use super::plan::Answer;

/// A stream translator the relay owns.
pub(crate) type BoxTranslator = Box<dyn StreamTranslator + Send>;

fn unix_now() -> u64 {
    u64::try_from(crate::now_ms() / 1000).unwrap_or(0)
}

/// Why a buffered answer cannot be relayed.
#[derive(Debug)]
pub(crate) enum BadAnswer {
    /// Relayed as is, but not a valid answer of its kind.
    Invalid(InvalidAnswer),
    /// Could not be translated back.
    Untranslatable(TranslateError),
}

impl std::fmt::Display for BadAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadAnswer::Invalid(e) => e.fmt(f),
            BadAnswer::Untranslatable(e) => e.fmt(f),
        }
    }
}

impl From<TranslateError> for BadAnswer {
    fn from(e: TranslateError) -> Self {
        BadAnswer::Untranslatable(e)
    }
}

/// A buffered upstream answer in the client's protocol, and its usage.
/// `model` is the client's logical model (named in translated answers).
pub(crate) fn buffered(
    answer: Answer,
    body: Bytes,
    model: &str,
) -> Result<(Bytes, Option<Usage>), BadAnswer> {
    let same = |kind: AnswerKind| read_answer(kind, &body).map_err(BadAnswer::Invalid);
    let translated = match answer {
        Answer::OpenAi { .. } => {
            let usage = same(AnswerKind::ChatCompletion)?;
            return Ok((body, usage));
        }
        Answer::Responses => {
            let usage = same(AnswerKind::Response)?;
            return Ok((body, usage));
        }
        Answer::Plain { kind } => {
            let usage = same(kind)?;
            return Ok((body, usage));
        }
        Answer::Anthropic => {
            same(AnswerKind::Message)?;
            let usage = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("usage").map(anthropic::response::usage_from));
            return Ok((body, usage));
        }
        Answer::AnthropicToChat => {
            anthropic::response::to_chat_completion(&body, model, unix_now())?
        }
        Answer::GeminiToChat => gemini::response::to_chat_completion(&body, model, unix_now())?,
        Answer::ChatToMessages => to_message(&body, model)?,
        Answer::GeminiToMessages => {
            let chat = gemini::response::to_chat_completion(&body, model, unix_now())?;
            let mut message = to_message(&chat.body, model)?;
            message.usage = chat.usage.or(message.usage);
            message
        }
        Answer::GeminiEmbeddings { base64 } => gemini::embeddings::to_openai(&body, model, base64)?,
    };
    Ok((Bytes::from(translated.body), translated.usage))
}

/// The translator (or observer) a stream goes through, or `None` for an OpenAI
/// stream relayed as is (the relay's own SSE observer reads it).
pub(crate) fn stream_translator(
    answer: Answer,
    model: &str,
    include_usage: bool,
) -> Option<BoxTranslator> {
    let created = unix_now();
    Some(match answer {
        Answer::OpenAi { .. } | Answer::Plain { .. } | Answer::GeminiEmbeddings { .. } => {
            return None
        }
        Answer::Anthropic => Box::new(Passthrough::anthropic()),
        Answer::Responses => Box::new(Passthrough::responses()),
        Answer::AnthropicToChat => Box::new(AnthropicToOpenAi::new(model, created, include_usage)),
        Answer::GeminiToChat => Box::new(GeminiToOpenAi::new(model, created, include_usage)),
        Answer::ChatToMessages => Box::new(OpenAiToAnthropic::new(model)),
        Answer::GeminiToMessages => Box::new(Chain::new(
            GeminiToOpenAi::new(model, created, true),
            OpenAiToAnthropic::new(model),
        )),
    })
}

/// An upstream error body read in the account's protocol, and the retry delay
/// the body itself gives (Gemini's `RetryInfo`).
pub(crate) fn error_details(protocol: Protocol, body: &[u8]) -> (UpstreamError, Option<Duration>) {
    match protocol {
        Protocol::OpenAi => (UpstreamError::parse(body), None),
        Protocol::Anthropic => (anthropic::error::parse_error(body), None),
        Protocol::Gemini => (
            gemini::error::parse_error(body),
            gemini::error::retry_delay(body),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_protocol_answers_pass_unchanged_with_their_usage() {
        let body = Bytes::from_static(
            br#"{"id":"x","choices":[],"usage":{"prompt_tokens":2,"completion_tokens":3,"total_tokens":5}}"#,
        );
        let (out, usage) = buffered(
            Answer::OpenAi {
                strip_usage_chunk: false,
            },
            body.clone(),
            "m",
        )
        .unwrap();
        assert_eq!(out.as_ptr(), body.as_ptr());
        assert_eq!(usage.map(|u| u.total_tokens), Some(5));
        let body = Bytes::from_static(
            br#"{"id":"msg_1","type":"message","content":[],"usage":{"input_tokens":4,"cache_read_input_tokens":6,"output_tokens":1}}"#,
        );
        let (out, usage) = buffered(Answer::Anthropic, body.clone(), "m").unwrap();
        assert_eq!(out, body);
        let u = usage.unwrap();
        assert_eq!((u.prompt_tokens, u.completion_tokens), (10, 1));
    }

    #[test]
    fn translated_answers_name_the_logical_model() {
        let body = Bytes::from_static(
            br#"{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"Hi"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":1}}"#,
        );
        let (out, usage) = buffered(Answer::AnthropicToChat, body, "logical").unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["model"], "logical");
        assert_eq!(v["choices"][0]["message"]["content"], "Hi");
        assert_eq!(usage.map(|u| u.total_tokens), Some(4));
        assert!(buffered(Answer::AnthropicToChat, Bytes::from_static(b"{cut"), "m").is_err());
    }

    #[test]
    fn answers_relayed_as_is_must_be_answers() {
        let openai = Answer::OpenAi {
            strip_usage_chunk: false,
        };
        for body in [
            &b"{\"choices\":[{\"mess"[..],
            b"<html>oops</html>",
            b"{\"id\":\"x\"}",
        ] {
            assert!(matches!(
                buffered(openai, Bytes::copy_from_slice(body), "m"),
                Err(BadAnswer::Invalid(_))
            ));
        }
        let embeddings = Answer::Plain {
            kind: AnswerKind::Embeddings,
        };
        assert!(buffered(embeddings, Bytes::from_static(b"{\"data\":[]}"), "m").is_ok());
        assert!(buffered(embeddings, Bytes::from_static(b"{\"choices\":[]}"), "m").is_err());
    }

    #[test]
    fn error_bodies_are_read_in_the_accounts_protocol() {
        let (e, _) = error_details(
            Protocol::Anthropic,
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        );
        assert_eq!(e.message.as_deref(), Some("Overloaded"));
        let (e, delay) = error_details(
            Protocol::Gemini,
            br#"{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"30s"}]}}"#,
        );
        assert_eq!(e.message.as_deref(), Some("quota"));
        assert_eq!(delay, Some(Duration::from_secs(30)));
    }
}
