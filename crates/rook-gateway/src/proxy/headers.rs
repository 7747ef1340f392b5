//! Which upstream response headers reach the client: an allowlist.
//!
//! Only headers a client of the OpenAI, Anthropic or Gemini APIs has a use for
//! pass: the body's type, the upstream's request ids, rate-limit and retry
//! hints and processing time. Everything else is dropped: hop-by-hop and
//! framing headers (Rook frames the body itself, and scrubbing may change
//! its length), cookies, the upstream's `server` banner, the account's
//! organisation and project (`openai-organization`, `openai-project`,
//! `anthropic-organization-id`), `x-request-id` (Rook sends its own),
//! `content-encoding` (Rook asks for identity and scans the bytes) and any
//! header Rook does not know. A header whose value holds an account key is
//! dropped too.

use http::{HeaderMap, HeaderName};

use super::scrub::Scrubber;

/// Response headers relayed by exact name.
pub(crate) const ALLOWED: &[&str] = &[
    "content-type",
    // Anthropic's request id (OpenAI's `x-request-id` is replaced by Rook's).
    "request-id",
    // Retry hints (the OpenAI SDKs honour all three).
    "retry-after",
    "retry-after-ms",
    "x-should-retry",
    // OpenAI's processing time and API version.
    "openai-processing-ms",
    "openai-version",
];

/// Response headers relayed by prefix: the vendors' rate-limit families.
pub(crate) const ALLOWED_PREFIXES: &[&str] = &[
    "x-ratelimit-",
    "anthropic-ratelimit-",
    "anthropic-priority-",
];

/// Whether an upstream response header may reach the client (by name).
pub(crate) fn is_relayed(name: &HeaderName) -> bool {
    let n = name.as_str();
    ALLOWED.contains(&n) || ALLOWED_PREFIXES.iter().any(|p| n.starts_with(p))
}

/// Copies the allowed headers of `from` whose values hold no secret to `to`.
pub(crate) fn relay_response_headers(from: &HeaderMap, to: &mut HeaderMap, secrets: &Scrubber) {
    for (name, value) in from {
        if is_relayed(name) && !secrets.contains(value.as_bytes()) {
            to.append(name.clone(), value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn only_allowed_headers_without_secrets_pass() {
        let key = "sk-CANARY-0123456789";
        let secrets = Scrubber::new([key]);
        let mut from = HeaderMap::new();
        let relayed = [
            ("content-type", "text/event-stream"),
            ("request-id", "req_011"),
            ("openai-processing-ms", "12"),
            ("openai-version", "2020-10-01"),
            ("x-ratelimit-remaining-requests", "99"),
            ("x-ratelimit-reset-tokens", "6m0s"),
            ("anthropic-ratelimit-tokens-remaining", "1000"),
            ("retry-after", "2"),
            ("retry-after-ms", "1500"),
            ("x-should-retry", "true"),
        ];
        let dropped = [
            ("server", "nginx/1.2.3"),
            ("openai-organization", "org-secret-name"),
            ("openai-project", "proj_1"),
            ("anthropic-organization-id", "org-uuid"),
            ("set-cookie", "__cf_bm=abc"),
            ("x-echo-key", key),
            ("x-request-id", "upstream-id"),
            ("content-length", "10"),
            ("content-encoding", "gzip"),
            ("transfer-encoding", "chunked"),
            ("connection", "keep-alive"),
            ("alt-svc", "h3=\":443\""),
            ("via", "1.1 proxy"),
            ("x-powered-by", "Express"),
            ("cf-ray", "8a1b"),
        ];
        for (n, v) in relayed.iter().chain(&dropped) {
            from.append(*n, HeaderValue::from_static(v));
        }
        // An allowed header holding a key is dropped.
        from.append(
            "x-ratelimit-limit-requests",
            HeaderValue::from_str(&format!("limit for {key}")).unwrap(),
        );
        let mut to = HeaderMap::new();
        relay_response_headers(&from, &mut to, &secrets);
        for (n, v) in relayed {
            assert_eq!(to.get(n).map(|x| x.to_str().unwrap()), Some(v), "{n}");
        }
        for (n, _) in dropped {
            assert!(to.get(n).is_none(), "{n} was relayed");
        }
        assert!(to.get("x-ratelimit-limit-requests").is_none());
        assert_eq!(to.len(), relayed.len());
    }
}
