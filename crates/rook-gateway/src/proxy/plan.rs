//! What one attempt sends: the upstream URL and body for an endpoint and an
//! account's protocol, and how the answer comes back to the client.
//!
//! Same protocol in and out (OpenAI chat to an `openai` account, Messages to an
//! `anthropic` account, embeddings, responses, completions) is byte-faithful:
//! only `model` is rewritten (and `stream_options.include_usage` may be added on
//! OpenAI streams, its chunk removed again). Across protocols the body is
//! translated by `rook-protocol`, and so is the answer.

use bytes::Bytes;
use http::Uri;
use rook_config::Protocol;
use rook_protocol::answer::AnswerKind;
use rook_protocol::anthropic::inbound::request::{to_openai, InboundOptions};
use rook_protocol::anthropic::request::{to_anthropic, RequestOptions};
use rook_protocol::openai::{rewrite_chat, ChatProbe};
use rook_protocol::{gemini, TranslateError};

use super::snapshot::AccountRuntime;
use crate::endpoint::Endpoint;

/// How the upstream's answer becomes the client's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// OpenAI chat or completions relayed as is; `strip_usage_chunk`: Rook
    /// asked for the usage chunk, which is removed again.
    OpenAi { strip_usage_chunk: bool },
    /// Anthropic Messages relayed as is.
    Anthropic,
    /// OpenAI Responses relayed as is.
    Responses,
    /// Relayed as is, nothing to observe (embeddings, count_tokens); `kind`
    /// says what a valid answer looks like.
    Plain { kind: AnswerKind },
    /// Anthropic Messages → OpenAI chat.
    AnthropicToChat,
    /// Gemini → OpenAI chat.
    GeminiToChat,
    /// OpenAI chat → Anthropic Messages.
    ChatToMessages,
    /// Gemini → OpenAI chat → Anthropic Messages.
    GeminiToMessages,
    /// Gemini `batchEmbedContents` → OpenAI embeddings (`base64`: the client
    /// asked for base64-encoded vectors).
    GeminiEmbeddings { base64: bool },
}

/// The upstream request of one attempt.
#[derive(Debug)]
pub(crate) struct Outbound {
    pub(crate) uri: Uri,
    pub(crate) body: Bytes,
    pub(crate) answer: Answer,
}

/// Why an attempt cannot be planned.
#[derive(Debug)]
pub(crate) enum PlanError {
    /// The request cannot be expressed in the account's protocol (the
    /// client's fault: 400).
    Translate(TranslateError),
    /// The account's URL does not form a valid endpoint with this model.
    BadUri,
    /// The account's protocol does not serve this endpoint.
    NotServed,
}

/// Plans the attempt of `endpoint` on `acct`. `body`/`probe` are the client's.
pub(crate) fn plan(
    endpoint: Endpoint,
    acct: &AccountRuntime,
    body: &Bytes,
    probe: &ChatProbe,
    upstream_model: &str,
) -> Result<Outbound, PlanError> {
    let same = |path: &str, answer: Answer| -> Result<Outbound, PlanError> {
        Ok(Outbound {
            uri: acct.uri(path).ok_or(PlanError::BadUri)?,
            body: rewrite_chat(body, probe, Some(upstream_model), false),
            answer,
        })
    };
    let translated = |path: &str, bytes: Vec<u8>, answer: Answer| -> Result<Outbound, PlanError> {
        Ok(Outbound {
            uri: acct.uri(path).ok_or(PlanError::BadUri)?,
            body: Bytes::from(bytes),
            answer,
        })
    };
    let stream = probe.stream;
    match (endpoint, acct.protocol) {
        (Endpoint::Chat | Endpoint::Completions, Protocol::OpenAi) => {
            // Ask for usage on streams the client did not ask it for; the
            // usage-only chunk is removed again on the way back.
            let inject = stream && !probe.has_stream_options && acct.stream_usage;
            let path = if endpoint == Endpoint::Chat {
                "/chat/completions"
            } else {
                "/completions"
            };
            Ok(Outbound {
                uri: if endpoint == Endpoint::Chat {
                    acct.chat_uri.clone()
                } else {
                    acct.uri(path).ok_or(PlanError::BadUri)?
                },
                body: rewrite_chat(body, probe, Some(upstream_model), inject),
                answer: Answer::OpenAi {
                    strip_usage_chunk: inject,
                },
            })
        }
        (Endpoint::Chat, Protocol::Anthropic) => {
            let opts = RequestOptions {
                upstream_model: upstream_model.to_string(),
                default_max_tokens: u64::from(acct.default_max_tokens),
            };
            let out = to_anthropic(body, &opts).map_err(PlanError::Translate)?;
            translated("/messages", out, Answer::AnthropicToChat)
        }
        (Endpoint::Chat, Protocol::Gemini) => {
            let out = gemini::request::to_gemini(body).map_err(PlanError::Translate)?;
            translated(
                &gemini::path(upstream_model, stream),
                out,
                Answer::GeminiToChat,
            )
        }
        (Endpoint::Messages, Protocol::Anthropic) => same("/messages", Answer::Anthropic),
        (Endpoint::Messages, Protocol::OpenAi) => {
            let out = to_openai(body, &inbound(upstream_model)).map_err(PlanError::Translate)?;
            translated("/chat/completions", out, Answer::ChatToMessages)
        }
        (Endpoint::Messages, Protocol::Gemini) => {
            let chat = to_openai(body, &inbound(upstream_model)).map_err(PlanError::Translate)?;
            let out = gemini::request::to_gemini(&chat).map_err(PlanError::Translate)?;
            translated(
                &gemini::path(upstream_model, stream),
                out,
                Answer::GeminiToMessages,
            )
        }
        (Endpoint::CountTokens, Protocol::Anthropic) => same(
            "/messages/count_tokens",
            Answer::Plain {
                kind: AnswerKind::TokenCount,
            },
        ),
        (Endpoint::Embeddings, Protocol::Gemini) => {
            let out = gemini::embeddings::to_gemini(body, upstream_model)
                .map_err(PlanError::Translate)?;
            translated(
                &gemini::embeddings::path(upstream_model),
                out,
                Answer::GeminiEmbeddings {
                    base64: gemini::embeddings::wants_base64(body),
                },
            )
        }
        (Endpoint::Embeddings, Protocol::OpenAi) => same(
            "/embeddings",
            Answer::Plain {
                kind: AnswerKind::Embeddings,
            },
        ),
        (Endpoint::Responses, Protocol::OpenAi) => same("/responses", Answer::Responses),
        // Filtered out before the attempt loop (`Endpoint::served_by`).
        _ => Err(PlanError::NotServed),
    }
}

fn inbound(upstream_model: &str) -> InboundOptions {
    InboundOptions {
        upstream_model: upstream_model.to_string(),
        max_completion_tokens: false,
    }
}
