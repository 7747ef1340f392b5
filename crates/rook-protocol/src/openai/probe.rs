//! Reading just enough of a chat request, and rewriting it without re-serialising.
//!
//! Rook parses the body once (validating that it is one JSON object) and keeps only
//! what it needs: the `model` string and where it sits in the bytes, and the
//! `stream` / `stream_options.include_usage` flags. Forwarding rewrites only the
//! `model` value (when the account maps it to another upstream name) and, for
//! streams, may add `stream_options`; every other byte goes upstream unchanged.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use bytes::{Bytes, BytesMut};
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

/// What Rook read from a chat request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatProbe {
    /// The logical model asked for.
    pub model: String,
    /// Byte range of the `model` value (with its quotes) in the body.
    pub model_span: Range<usize>,
    /// `"stream": true`.
    pub stream: bool,
    /// `stream_options.include_usage`, when given.
    pub include_usage: Option<bool>,
    /// Whether `stream_options` is present at all.
    pub has_stream_options: bool,
    /// Byte offset of the closing `}` of the top-level object.
    pub object_end: usize,
    /// `max_completion_tokens`, else `max_tokens`, when given as a number.
    pub max_tokens: Option<u64>,
}

/// Why a body is not a valid chat request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProbeError {
    /// Not JSON, or not one JSON object.
    InvalidJson(String),
    /// No `model` field.
    MissingModel,
    /// `model` is not a non-empty string.
    InvalidModel,
    /// `stream` is not a boolean.
    InvalidStream,
}

impl ProbeError {
    /// A stable machine-readable code for the client's error body.
    pub fn code(&self) -> &'static str {
        match self {
            ProbeError::InvalidJson(_) => "invalid_json",
            ProbeError::MissingModel => "missing_model",
            ProbeError::InvalidModel => "invalid_model",
            ProbeError::InvalidStream => "invalid_stream",
        }
    }
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::InvalidJson(e) => write!(f, "the request body is not valid JSON: {e}"),
            ProbeError::MissingModel => f.write_str("the request body has no `model` field"),
            ProbeError::InvalidModel => f.write_str("`model` must be a non-empty string"),
            ProbeError::InvalidStream => f.write_str("`stream` must be a boolean"),
        }
    }
}

impl std::error::Error for ProbeError {}

struct Fields<'a> {
    model: Option<&'a RawValue>,
    stream: Option<bool>,
    include_usage: Option<bool>,
    has_stream_options: bool,
    bad_stream: bool,
    max_tokens: Option<u64>,
    max_completion_tokens: Option<u64>,
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Fields {
            model: None,
            stream: None,
            include_usage: None,
            has_stream_options: false,
            bad_stream: false,
            max_tokens: None,
            max_completion_tokens: None,
        };
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "model" => out.model = Some(map.next_value::<&'de RawValue>()?),
                "stream" => {
                    let raw: &'de RawValue = map.next_value()?;
                    match raw.get() {
                        "true" => out.stream = Some(true),
                        "false" | "null" => out.stream = Some(false),
                        _ => out.bad_stream = true,
                    }
                }
                "max_tokens" => {
                    out.max_tokens = map
                        .next_value::<Option<serde_json::Value>>()?
                        .and_then(|v| v.as_u64())
                }
                "max_completion_tokens" => {
                    out.max_completion_tokens = map
                        .next_value::<Option<serde_json::Value>>()?
                        .and_then(|v| v.as_u64())
                }
                "stream_options" => {
                    out.has_stream_options = true;
                    let opts: Option<StreamOptions> = map.next_value()?;
                    out.include_usage = opts.and_then(|o| o.include_usage);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(out)
    }
}

struct StreamOptions {
    include_usage: Option<bool>,
}

struct StreamOptionsVisitor;

impl<'de> Visitor<'de> for StreamOptionsVisitor {
    type Value = StreamOptions;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut include_usage = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "include_usage" {
                include_usage = map.next_value::<Option<bool>>()?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(StreamOptions { include_usage })
    }
}

impl<'de> serde::Deserialize<'de> for StreamOptions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // An object only: a derived struct also reads an array, field by
        // position (found by fuzzing: `"stream_options":[true]` read as
        // `include_usage: true`).
        d.deserialize_map(StreamOptionsVisitor)
    }
}

impl<'de> serde::Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(FieldsVisitor)
    }
}

/// Offset of `inner` inside `outer`; both must come from the same buffer.
fn offset_in(outer: &[u8], inner: &str) -> Option<usize> {
    let o = outer.as_ptr() as usize;
    let i = inner.as_ptr() as usize;
    (i >= o && i + inner.len() <= o + outer.len()).then(|| i - o)
}

/// Reads a chat request body. See the module docs.
pub fn probe_chat(body: &[u8]) -> Result<ChatProbe, ProbeError> {
    // JSON text is UTF-8; serde_json skips unread strings without checking
    // them, so check the whole body (found by fuzzing).
    let text = std::str::from_utf8(body).map_err(|e| ProbeError::InvalidJson(e.to_string()))?;
    let fields: Fields<'_> = serde_json::from_str(text).map_err(|e| {
        let msg = e.to_string();
        ProbeError::InvalidJson(msg)
    })?;
    if fields.bad_stream {
        return Err(ProbeError::InvalidStream);
    }
    let raw = fields.model.ok_or(ProbeError::MissingModel)?;
    let model: Cow<'_, str> =
        serde_json::from_str(raw.get()).map_err(|_| ProbeError::InvalidModel)?;
    if model.trim().is_empty() {
        return Err(ProbeError::InvalidModel);
    }
    let start = offset_in(body, raw.get()).ok_or(ProbeError::InvalidModel)?;
    let object_end = body
        .iter()
        .rposition(|&b| b == b'}')
        .ok_or_else(|| ProbeError::InvalidJson("no closing brace".into()))?;
    Ok(ChatProbe {
        model: model.into_owned(),
        model_span: start..start + raw.get().len(),
        stream: fields.stream.unwrap_or(false),
        include_usage: fields.include_usage,
        has_stream_options: fields.has_stream_options,
        object_end,
        max_tokens: fields.max_completion_tokens.or(fields.max_tokens),
    })
}

/// Builds the body to send upstream.
///
/// `upstream_model` replaces the `model` value when it differs from the logical
/// model; `add_include_usage` appends `"stream_options":{"include_usage":true}` (only
/// valid when the request has no `stream_options`). Returns the original bytes
/// (no copy) when nothing changes.
pub fn rewrite_chat(
    body: &Bytes,
    probe: &ChatProbe,
    upstream_model: Option<&str>,
    add_include_usage: bool,
) -> Bytes {
    let replace_model = upstream_model.filter(|m| *m != probe.model);
    let add_usage = add_include_usage && !probe.has_stream_options;
    if replace_model.is_none() && !add_usage {
        return body.clone();
    }
    let mut out = BytesMut::with_capacity(body.len() + 64);
    let mut cursor = 0;
    if let Some(m) = replace_model {
        out.extend_from_slice(&body[..probe.model_span.start]);
        let quoted = serde_json::to_string(m).unwrap_or_else(|_| String::from("\"\""));
        out.extend_from_slice(quoted.as_bytes());
        cursor = probe.model_span.end;
    }
    if add_usage {
        out.extend_from_slice(&body[cursor..probe.object_end]);
        out.extend_from_slice(br#","stream_options":{"include_usage":true}"#);
        cursor = probe.object_end;
    }
    out.extend_from_slice(&body[cursor..]);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_model_and_stream() {
        let body = br#"{"messages":[{"role":"user","content":"hi \"model\""}],"model":"gpt-4o","stream":true}"#;
        let p = probe_chat(body).unwrap();
        assert_eq!(p.model, "gpt-4o");
        assert!(p.stream);
        assert_eq!(&body[p.model_span.clone()], br#""gpt-4o""#);
        assert_eq!(p.include_usage, None);
        assert_eq!(p.max_tokens, None);
        let p =
            probe_chat(br#"{"model":"m","max_tokens":100,"max_completion_tokens":50}"#).unwrap();
        assert_eq!(p.max_tokens, Some(50));
    }

    #[test]
    fn rejects_bad_bodies() {
        assert!(matches!(
            probe_chat(b"{not json"),
            Err(ProbeError::InvalidJson(_))
        ));
        assert!(matches!(
            probe_chat(b"[1,2]"),
            Err(ProbeError::InvalidJson(_))
        ));
        assert!(matches!(
            probe_chat(br#"{"model":"a"} trailing"#),
            Err(ProbeError::InvalidJson(_))
        ));
        assert!(matches!(
            probe_chat(br#"{"model":"a","stream_options":[true]}"#),
            Err(ProbeError::InvalidJson(_))
        ));
        // Invalid UTF-8 in a field the probe does not read is still not JSON.
        assert!(matches!(
            probe_chat(b"{\"model\":\"a\",\"messages\":[\"\xff\"]}"),
            Err(ProbeError::InvalidJson(_))
        ));
        assert_eq!(
            probe_chat(br#"{"messages":[]}"#),
            Err(ProbeError::MissingModel)
        );
        assert_eq!(probe_chat(br#"{"model":5}"#), Err(ProbeError::InvalidModel));
        assert_eq!(
            probe_chat(br#"{"model":"  "}"#),
            Err(ProbeError::InvalidModel)
        );
        assert_eq!(
            probe_chat(br#"{"model":"a","stream":"yes"}"#),
            Err(ProbeError::InvalidStream)
        );
    }

    #[test]
    fn rewrite_keeps_other_bytes() {
        let body = Bytes::from_static(
            br#"{ "model" : "gpt-4o",  "temperature":0.50, "x":{"model":"keep"} }"#,
        );
        let p = probe_chat(&body).unwrap();
        let out = rewrite_chat(&body, &p, Some("gpt-4o-2024"), false);
        assert_eq!(
            &out[..],
            br#"{ "model" : "gpt-4o-2024",  "temperature":0.50, "x":{"model":"keep"} }"#
        );
        let same = rewrite_chat(&body, &p, Some("gpt-4o"), false);
        assert_eq!(same.as_ptr(), body.as_ptr());
    }

    #[test]
    fn rewrite_adds_stream_options() {
        let body = Bytes::from_static(br#"{"model":"m","stream":true}"#);
        let p = probe_chat(&body).unwrap();
        let out = rewrite_chat(&body, &p, Some("up"), true);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["model"], "up");
        assert_eq!(v["stream_options"]["include_usage"], true);
        assert_eq!(v["stream"], true);
    }

    #[test]
    fn escaped_model_names() {
        let body = Bytes::from_static(br#"{"model":"a\u0062c"}"#);
        let p = probe_chat(&body).unwrap();
        assert_eq!(p.model, "abc");
    }
}
