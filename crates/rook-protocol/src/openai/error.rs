//! OpenAI-shaped error bodies: `{"error":{"message","type","code","param"}}`.
//!
//! [`ErrorBody`] writes the envelope every OpenAI client understands;
//! [`UpstreamError::parse`] reads the parts of an upstream's error answer (OpenAI's
//! shape, a bare `{"message": …}` object, or a JSON string) so they can be relayed.

use bytes::Bytes;
use serde::Serialize;

/// The fields of an OpenAI-shaped error, ready to serialise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorBody<'a> {
    /// Human-readable message.
    pub message: &'a str,
    /// The error `type` (`invalid_request_error`, `rate_limit_error`, …).
    pub kind: &'a str,
    /// A stable machine-readable code, or `null`.
    pub code: Option<&'a str>,
    /// The request parameter at fault, when one is.
    pub param: Option<&'a str>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    param: Option<&'a str>,
}

/// The body used if serialisation ever fails (it cannot for these types).
const FALLBACK: &[u8] =
    br#"{"error":{"message":"Internal error.","type":"server_error","code":"internal_error"}}"#;

impl ErrorBody<'_> {
    /// The JSON bytes of the envelope.
    ///
    /// ```
    /// use rook_protocol::openai::ErrorBody;
    /// let body = ErrorBody { message: "no", kind: "invalid_request_error", code: Some("x"), param: None };
    /// assert_eq!(&body.to_bytes()[..], br#"{"error":{"message":"no","type":"invalid_request_error","code":"x"}}"#);
    /// ```
    pub fn to_bytes(&self) -> Bytes {
        let env = Envelope {
            error: Inner {
                message: self.message,
                kind: self.kind,
                code: self.code,
                param: self.param,
            },
        };
        Bytes::from(serde_json::to_vec(&env).unwrap_or_else(|_| FALLBACK.to_vec()))
    }
}

/// The parts of an upstream's error answer, as far as they could be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamError {
    /// `error.message` (or the error itself when it is a string).
    pub message: Option<String>,
    /// `error.type`.
    pub kind: Option<String>,
    /// `error.code` (numbers become their decimal text).
    pub code: Option<String>,
    /// `error.param`.
    pub param: Option<String>,
}

impl UpstreamError {
    /// Reads an error body; anything unreadable gives empty parts.
    pub fn parse(body: &[u8]) -> UpstreamError {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
            return UpstreamError::default();
        };
        let e = v.get("error").unwrap_or(&v);
        let s = |key: &str| e.get(key).and_then(|x| x.as_str()).map(str::to_string);
        let code = e.get("code").and_then(|c| match c {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
        UpstreamError {
            message: s("message").or_else(|| e.as_str().map(str::to_string)),
            kind: s("type"),
            code,
            param: s("param"),
        }
    }

    /// Whether the upstream said the account's quota (billing) is exhausted.
    pub fn is_insufficient_quota(&self) -> bool {
        self.code.as_deref() == Some("insufficient_quota")
            || self.kind.as_deref() == Some("insufficient_quota")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_shapes_upstreams_send() {
        let cases: &[(&[u8], UpstreamError)] = &[
            (
                br#"{"error":{"message":"m","type":"t","code":"c","param":"p"}}"#,
                UpstreamError {
                    message: Some("m".into()),
                    kind: Some("t".into()),
                    code: Some("c".into()),
                    param: Some("p".into()),
                },
            ),
            (
                br#"{"error":{"message":"m","code":429}}"#,
                UpstreamError {
                    message: Some("m".into()),
                    code: Some("429".into()),
                    ..UpstreamError::default()
                },
            ),
            (
                br#"{"message":"bare"}"#,
                UpstreamError {
                    message: Some("bare".into()),
                    ..UpstreamError::default()
                },
            ),
            (
                br#"{"error":"just text"}"#,
                UpstreamError {
                    message: Some("just text".into()),
                    ..UpstreamError::default()
                },
            ),
            (b"<html>502</html>", UpstreamError::default()),
            (b"", UpstreamError::default()),
        ];
        for (body, want) in cases {
            assert_eq!(
                &UpstreamError::parse(body),
                want,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn insufficient_quota_by_code_or_type() {
        assert!(
            UpstreamError::parse(br#"{"error":{"code":"insufficient_quota"}}"#)
                .is_insufficient_quota()
        );
        assert!(
            UpstreamError::parse(br#"{"error":{"type":"insufficient_quota"}}"#)
                .is_insufficient_quota()
        );
        assert!(
            !UpstreamError::parse(br#"{"error":{"code":"rate_limit_exceeded"}}"#)
                .is_insufficient_quota()
        );
    }

    #[test]
    fn envelope_escapes_and_omits_param() {
        let b = ErrorBody {
            message: "a \"quoted\"\nline",
            kind: "upstream_error",
            code: None,
            param: None,
        }
        .to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["error"]["message"], "a \"quoted\"\nline");
        assert!(v["error"]["code"].is_null());
        assert!(v["error"].get("param").is_none());
    }
}
