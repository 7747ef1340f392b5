//! The inbound surfaces of `/v1/*` ("endpoints"), the dialect each answers in,
//! and which upstream protocols serve each.

use rook_config::Protocol;

/// A `/v1` surface that goes through the attempt loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `POST /v1/chat/completions` (OpenAI chat).
    Chat,
    /// `POST /v1/messages` (Anthropic Messages).
    Messages,
    /// `POST /v1/messages/count_tokens` (Anthropic).
    CountTokens,
    /// `POST /v1/embeddings` (OpenAI).
    Embeddings,
    /// `POST /v1/responses` (OpenAI Responses).
    Responses,
    /// `POST /v1/completions` (OpenAI legacy completions).
    Completions,
}

/// The error and stream-event shape a client expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// `{"error":{"message","type","code"}}`.
    OpenAi,
    /// `{"type":"error","error":{"type","message"}}`.
    Anthropic,
}

/// Every `/v1` path Rook serves (for the unknown-path message).
pub(crate) const SUPPORTED: &[&str] = &[
    "POST /v1/chat/completions",
    "POST /v1/messages",
    "POST /v1/messages/count_tokens",
    "POST /v1/embeddings",
    "POST /v1/responses",
    "POST /v1/completions",
    "GET /v1/models",
    "GET /v1/models/{id}",
];

impl Endpoint {
    /// The endpoint at a `/v1` path, if any.
    pub(crate) fn from_path(path: &str) -> Option<Endpoint> {
        Some(match path {
            "/v1/chat/completions" => Endpoint::Chat,
            "/v1/messages" => Endpoint::Messages,
            "/v1/messages/count_tokens" => Endpoint::CountTokens,
            "/v1/embeddings" => Endpoint::Embeddings,
            "/v1/responses" => Endpoint::Responses,
            "/v1/completions" => Endpoint::Completions,
            _ => return None,
        })
    }

    /// The label in usage events and metrics.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Endpoint::Chat => "chat",
            Endpoint::Messages => "messages",
            Endpoint::CountTokens => "count_tokens",
            Endpoint::Embeddings => "embeddings",
            Endpoint::Responses => "responses",
            Endpoint::Completions => "completions",
        }
    }

    /// The path (for logs and messages).
    pub(crate) fn path(self) -> &'static str {
        match self {
            Endpoint::Chat => "/v1/chat/completions",
            Endpoint::Messages => "/v1/messages",
            Endpoint::CountTokens => "/v1/messages/count_tokens",
            Endpoint::Embeddings => "/v1/embeddings",
            Endpoint::Responses => "/v1/responses",
            Endpoint::Completions => "/v1/completions",
        }
    }

    /// The dialect of its answers and errors.
    pub(crate) fn dialect(self) -> Dialect {
        match self {
            Endpoint::Messages | Endpoint::CountTokens => Dialect::Anthropic,
            _ => Dialect::OpenAi,
        }
    }

    /// Whether accounts speaking `protocol` can serve it.
    pub(crate) fn served_by(self, protocol: Protocol) -> bool {
        matches!(
            (self, protocol),
            (Endpoint::Chat | Endpoint::Messages, _)
                | (Endpoint::CountTokens, Protocol::Anthropic)
                | (Endpoint::Embeddings, Protocol::OpenAi | Protocol::Gemini)
                | (
                    Endpoint::Responses | Endpoint::Completions,
                    Protocol::OpenAi
                )
        )
    }

    /// The protocols that serve it, for messages (`openai, gemini`).
    pub(crate) fn serving_protocols(self) -> String {
        Protocol::ALL
            .into_iter()
            .filter(|p| self.served_by(*p))
            .map(Protocol::as_str)
            .collect::<Vec<_>>()
            .join(" or ")
    }

    /// Whether answers may be replayed for an `Idempotency-Key`.
    pub(crate) fn idempotent_replay(self) -> bool {
        !matches!(self, Endpoint::CountTokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip_and_every_supported_post_is_an_endpoint() {
        for e in [
            Endpoint::Chat,
            Endpoint::Messages,
            Endpoint::CountTokens,
            Endpoint::Embeddings,
            Endpoint::Responses,
            Endpoint::Completions,
        ] {
            assert_eq!(Endpoint::from_path(e.path()), Some(e));
            assert!(SUPPORTED.contains(&format!("POST {}", e.path()).as_str()));
        }
        assert_eq!(Endpoint::from_path("/v1/nope"), None);
    }

    #[test]
    fn which_protocols_serve_which_endpoints() {
        use Protocol::*;
        let table = [
            (Endpoint::Chat, [true, true, true]),
            (Endpoint::Messages, [true, true, true]),
            (Endpoint::CountTokens, [false, true, false]),
            (Endpoint::Embeddings, [true, false, true]),
            (Endpoint::Responses, [true, false, false]),
            (Endpoint::Completions, [true, false, false]),
        ];
        for (e, want) in table {
            let got = [OpenAi, Anthropic, Gemini].map(|p| e.served_by(p));
            assert_eq!(got, want, "{e:?}");
        }
    }
}
