//! Attribute names of the OpenTelemetry GenAI (and HTTP, server, error)
//! semantic conventions Rook sets, Rook's own `rook.*` attributes, and the
//! mappings from Rook's vendor and endpoint names to the conventions' values.

/// `gen_ai.operation.name`: `chat`, `text_completion`, `embeddings`, …
pub const OPERATION_NAME: &str = "gen_ai.operation.name";
/// `gen_ai.system`: the provider (`openai`, `anthropic`, `gcp.gemini`, …).
pub const SYSTEM: &str = "gen_ai.system";
/// `gen_ai.provider.name`: the conventions' newer name for [`SYSTEM`] (same value).
pub const PROVIDER_NAME: &str = "gen_ai.provider.name";
/// `gen_ai.request.model`: the model asked for.
pub const REQUEST_MODEL: &str = "gen_ai.request.model";
/// `gen_ai.response.model`: the model that answered.
pub const RESPONSE_MODEL: &str = "gen_ai.response.model";
/// `gen_ai.response.id`: the answer's id.
pub const RESPONSE_ID: &str = "gen_ai.response.id";
/// `gen_ai.response.finish_reasons`: why each choice ended.
pub const RESPONSE_FINISH_REASONS: &str = "gen_ai.response.finish_reasons";
/// `gen_ai.usage.input_tokens`.
pub const USAGE_INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
/// `gen_ai.usage.output_tokens`.
pub const USAGE_OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
/// `gen_ai.input.messages`: the request's messages (content capture only).
pub const INPUT_MESSAGES: &str = "gen_ai.input.messages";
/// `gen_ai.system_instructions`: the request's system instructions (content capture only).
pub const SYSTEM_INSTRUCTIONS: &str = "gen_ai.system_instructions";
/// `gen_ai.output.messages`: the answer's messages (content capture only).
pub const OUTPUT_MESSAGES: &str = "gen_ai.output.messages";
/// `server.address`: the upstream host.
pub const SERVER_ADDRESS: &str = "server.address";
/// `server.port`: the upstream port.
pub const SERVER_PORT: &str = "server.port";
/// `http.request.method`.
pub const HTTP_REQUEST_METHOD: &str = "http.request.method";
/// `http.route`: the path template the client called.
pub const HTTP_ROUTE: &str = "http.route";
/// `http.response.status_code`.
pub const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
/// `error.type`: the error class of a failure.
pub const ERROR_TYPE: &str = "error.type";

/// `rook.request_id`: Rook's request id (the one in the logs).
pub const ROOK_REQUEST_ID: &str = "rook.request_id";
/// `rook.endpoint`: `chat`, `messages`, `embeddings`, … (the metrics' endpoint label).
pub const ROOK_ENDPOINT: &str = "rook.endpoint";
/// `rook.route`: the logical model (route) asked for.
pub const ROOK_ROUTE: &str = "rook.route";
/// `rook.client_key`: the client key's id (never the secret).
pub const ROOK_CLIENT_KEY: &str = "rook.client_key";
/// `rook.account`: the account id of an attempt (the request span: the last one tried).
pub const ROOK_ACCOUNT: &str = "rook.account";
/// `rook.vendor`: Rook's vendor name of the account (`open_ai`, `custom`, …).
pub const ROOK_VENDOR: &str = "rook.vendor";
/// `rook.attempt`: the attempt's number, from 1.
pub const ROOK_ATTEMPT: &str = "rook.attempt";
/// `rook.attempts`: how many attempts the request made.
pub const ROOK_ATTEMPTS: &str = "rook.attempts";
/// `rook.outcome`: the metrics' outcome label (attempt: `success`, `server_error`, …;
/// request: `success`, `error`, `partial`, `client_gone`, `replayed`).
pub const ROOK_OUTCOME: &str = "rook.outcome";
/// `rook.retry.decision`: what the attempt's failure led to (`retry_scheduled`,
/// `retry_exhausted`, `not_retryable`, …; `succeeded_after_retry` on the success
/// that followed retries).
pub const ROOK_RETRY_DECISION: &str = "rook.retry.decision";
/// `rook.stream`: whether the client asked for a stream.
pub const ROOK_STREAM: &str = "rook.stream";
/// `rook.content_truncated`: captured content was cut at the size cap.
pub const ROOK_CONTENT_TRUNCATED: &str = "rook.content_truncated";

/// The conventions' value for "none of the well-known providers".
pub const OTHER_SYSTEM: &str = "_OTHER";

/// `gen_ai.system` for a Rook vendor name: the conventions' well-known value
/// where there is one (`open_ai` → `openai`, `anthropic`, `google` →
/// `gcp.gemini`, `deep_seek` → `deepseek`), else `_OTHER` (`open_router`,
/// `custom`, anything new); `rook.vendor` keeps Rook's own name.
pub fn system_for_vendor(vendor: &str) -> &'static str {
    match vendor {
        "open_ai" => "openai",
        "anthropic" => "anthropic",
        "google" => "gcp.gemini",
        "deep_seek" => "deepseek",
        _ => OTHER_SYSTEM,
    }
}

/// `gen_ai.operation.name` for a Rook endpoint label: `chat` for chat,
/// messages and responses, `text_completion` for completions, `embeddings`,
/// and `count_tokens` (no conventional value) for Anthropic's token count.
pub fn operation_for_endpoint(endpoint: &str) -> &'static str {
    match endpoint {
        "completions" => "text_completion",
        "embeddings" => "embeddings",
        "count_tokens" => "count_tokens",
        _ => "chat",
    }
}

/// A span name per the conventions: `{operation} {model}`, or the operation
/// alone when the model is not known.
pub fn span_name(operation: &str, model: &str) -> String {
    if model.is_empty() {
        return operation.to_owned();
    }
    let mut s = String::with_capacity(operation.len() + 1 + model.len());
    s.push_str(operation);
    s.push(' ');
    s.push_str(model);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendors_map_to_the_conventions_values() {
        let cases = [
            ("open_ai", "openai"),
            ("anthropic", "anthropic"),
            ("google", "gcp.gemini"),
            ("deep_seek", "deepseek"),
            ("open_router", "_OTHER"),
            ("custom", "_OTHER"),
            ("", "_OTHER"),
        ];
        for (vendor, system) in cases {
            assert_eq!(system_for_vendor(vendor), system, "{vendor}");
        }
    }

    #[test]
    fn endpoints_map_to_operations_and_names() {
        let cases = [
            ("chat", "chat"),
            ("messages", "chat"),
            ("responses", "chat"),
            ("completions", "text_completion"),
            ("embeddings", "embeddings"),
            ("count_tokens", "count_tokens"),
        ];
        for (endpoint, op) in cases {
            assert_eq!(operation_for_endpoint(endpoint), op, "{endpoint}");
        }
        assert_eq!(span_name("chat", "gpt-4o"), "chat gpt-4o");
        assert_eq!(span_name("chat", ""), "chat");
    }
}
