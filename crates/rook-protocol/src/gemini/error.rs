//! Gemini error bodies:
//! `{"error":{"code":429,"message":"…","status":"RESOURCE_EXHAUSTED","details":[…]}}`.
//!
//! [`parse_error`] reads one into [`UpstreamError`] (the `status` name as both
//! `type` and `code`), so the gateway relays it OpenAI-shaped with the HTTP
//! status kept; [`retry_delay`] reads the `google.rpc.RetryInfo` detail.

use std::time::Duration;

use serde_json::Value;

use crate::openai::UpstreamError;

/// Reads a Gemini error body.
pub fn parse_error(body: &[u8]) -> UpstreamError {
    let mut e = UpstreamError::parse(body);
    let status = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
        v.pointer("/error/status")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    if let Some(s) = status {
        e.kind = Some(s.clone());
        e.code = Some(s);
    }
    e
}

/// The delay a Gemini error asks for: the `retryDelay` of its
/// `type.googleapis.com/google.rpc.RetryInfo` detail (`"30s"`, `"1.5s"`).
///
/// ```
/// use std::time::Duration;
/// use rook_protocol::gemini::error::retry_delay;
/// let body = br#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"m",
///   "details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"30s"}]}}"#;
/// assert_eq!(retry_delay(body), Some(Duration::from_secs(30)));
/// ```
pub fn retry_delay(body: &[u8]) -> Option<Duration> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v.pointer("/error/details")?
        .as_array()?
        .iter()
        .filter(|d| {
            d.get("@type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.ends_with("google.rpc.RetryInfo"))
        })
        .find_map(|d| parse_duration(d.get("retryDelay")?.as_str()?))
}

/// A protobuf JSON duration: decimal seconds with an `s` suffix.
fn parse_duration(s: &str) -> Option<Duration> {
    let secs: f64 = s.strip_suffix('s')?.parse().ok()?;
    (0.0..1e12)
        .contains(&secs)
        .then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_errors() {
        let body = br#"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED","details":[
            {"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[]},
            {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1.5s"}]}}"#;
        let e = parse_error(body);
        assert_eq!(e.message.as_deref(), Some("Quota exceeded"));
        assert_eq!(e.kind.as_deref(), Some("RESOURCE_EXHAUSTED"));
        assert_eq!(e.code.as_deref(), Some("RESOURCE_EXHAUSTED"));
        assert_eq!(retry_delay(body), Some(Duration::from_millis(1500)));
        assert_eq!(parse_error(b"<html>"), UpstreamError::default());
        let plain = br#"{"error":{"code":503,"message":"m"}}"#;
        assert_eq!(parse_error(plain).code.as_deref(), Some("503"));
    }

    #[test]
    fn retry_delays() {
        for (d, want) in [
            ("30s", Some(30_000)),
            ("0.250s", Some(250)),
            ("0s", Some(0)),
            ("30", None),
            ("-1s", None),
            ("xs", None),
        ] {
            let body = format!(
                r#"{{"error":{{"details":[{{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"{d}"}}]}}}}"#
            );
            assert_eq!(
                retry_delay(body.as_bytes()),
                want.map(Duration::from_millis),
                "{d}"
            );
        }
        assert_eq!(retry_delay(br#"{"error":{"details":[]}}"#), None);
        assert_eq!(retry_delay(b"nope"), None);
    }
}
