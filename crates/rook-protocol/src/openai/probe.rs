//! Reading just enough of a chat request, and rewriting it without re-serialising.
//!
//! Rook parses the body once (validating that it is one JSON object) and keeps only
//! what it needs: the `model` string and where it sits in the bytes, and the
//! `stream` / `stream_options.include_usage` flags. Forwarding rewrites only the
//! `model` value (when the account maps it to another upstream name) and, for
//! streams, may add `stream_options`; every other byte goes upstream unchanged.
//!
//! The same pass is strict where a lenient reading would be a security problem:
//!
//! - a key given twice at the top level is refused ([`ProbeError::DuplicateKey`]):
//!   Rook routes on the `model` it reads, and an upstream that reads another
//!   occurrence would run a model the route never allowed;
//! - arrays and objects nested deeper than [`MAX_DEPTH`] levels are refused
//!   ([`ProbeError::NestingTooDeep`]), so nothing downstream (translators, the
//!   upstream's parser) sees a body it cannot parse or that exhausts its stack.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::ops::Range;

use bytes::{Bytes, BytesMut};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// The deepest nesting of arrays and objects a request body may have; the
/// top-level object is level 1. `serde_json` refuses level 128 and beyond
/// (its recursion limit), so every body the probe accepts can also be parsed
/// by the translators.
pub const MAX_DEPTH: usize = 127;

/// Longest duplicate key named in an error message, in bytes.
const MAX_KEY_IN_MESSAGE: usize = 64;

/// Marks the probe's own depth error inside a `serde_json` error message.
const DEPTH_MARK: &str = "rook:nesting_too_deep";

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
    /// A key appears more than once at the top level (the key, clipped to 64
    /// bytes).
    DuplicateKey(String),
    /// Arrays and objects nest deeper than [`MAX_DEPTH`] levels.
    NestingTooDeep,
}

impl ProbeError {
    /// A stable machine-readable code for the client's error body.
    pub fn code(&self) -> &'static str {
        match self {
            ProbeError::InvalidJson(_) => "invalid_json",
            ProbeError::MissingModel => "missing_model",
            ProbeError::InvalidModel => "invalid_model",
            ProbeError::InvalidStream => "invalid_stream",
            ProbeError::DuplicateKey(_) => "duplicate_key",
            ProbeError::NestingTooDeep => "nesting_too_deep",
        }
    }

    /// The JSON parser's error, or the probe's own depth error it carries.
    fn from_json(e: &serde_json::Error) -> ProbeError {
        let msg = e.to_string();
        // serde_json's recursion limit (level 128) and the probe's own check
        // (deeper than MAX_DEPTH) are the same rule.
        if msg.starts_with(DEPTH_MARK) || msg.starts_with("recursion limit exceeded") {
            ProbeError::NestingTooDeep
        } else {
            ProbeError::InvalidJson(msg)
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
            ProbeError::DuplicateKey(k) => write!(
                f,
                "the request body has the key {k:?} more than once; give each top-level key once"
            ),
            ProbeError::NestingTooDeep => write!(
                f,
                "the request body nests arrays and objects deeper than {MAX_DEPTH} levels"
            ),
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
    /// The first key seen twice.
    duplicate: Option<Cow<'a, str>>,
}

/// A map key, borrowed from the body unless it has escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// The top-level keys seen so far: a short list searched in place (requests
/// have a dozen keys or so), a hash set beyond it (so a body of a million
/// keys costs linear time, not quadratic).
#[derive(Default)]
struct Seen<'de> {
    few: Vec<Cow<'de, str>>,
    many: Option<HashSet<Cow<'de, str>>>,
}

/// Keys kept in the short list before switching to a hash set.
const FEW_KEYS: usize = 24;

impl<'de> Seen<'de> {
    /// Records `key`; `false` when it was already there.
    fn insert(&mut self, key: Cow<'de, str>) -> bool {
        if let Some(set) = &mut self.many {
            return set.insert(key);
        }
        if self.few.contains(&key) {
            return false;
        }
        self.few.push(key);
        if self.few.len() > FEW_KEYS {
            self.many = Some(self.few.drain(..).collect());
        }
        true
    }
}

/// Skips a value at nesting `level` (the top-level object is level 1),
/// refusing arrays and objects deeper than [`MAX_DEPTH`]. Allocates nothing.
#[derive(Clone, Copy)]
struct Skip {
    level: usize,
}

impl Skip {
    fn enter<E: serde::de::Error>(self) -> Result<Skip, E> {
        if self.level > MAX_DEPTH {
            Err(E::custom(DEPTH_MARK))
        } else {
            Ok(Skip {
                level: self.level + 1,
            })
        }
    }
}

impl<'de> DeserializeSeed<'de> for Skip {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let inner = self.enter()?;
        while seq.next_element_seed(inner)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let inner = self.enter()?;
        while map.next_key::<IgnoredAny>()?.is_some() {
            map.next_value_seed(inner)?;
        }
        Ok(())
    }
}

/// `stream_options` (at level 2): `include_usage` when given; anything else in
/// it is skipped with the depth check.
struct StreamOptionsSeed;

impl<'de> DeserializeSeed<'de> for StreamOptionsSeed {
    type Value = Option<bool>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<bool>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StreamOptionsSeed {
    type Value = Option<bool>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object or null")
    }

    fn visit_unit<E>(self) -> Result<Option<bool>, E> {
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<bool>, A::Error> {
        let inner = Skip { level: 2 }.enter()?;
        let mut include_usage = None;
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if key == "include_usage" {
                include_usage = map.next_value::<Option<bool>>()?;
            } else {
                map.next_value_seed(inner)?;
            }
        }
        Ok(include_usage)
    }
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
            duplicate: None,
        };
        let mut seen = Seen::default();
        let skip = Skip { level: 2 };
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if !seen.insert(key.clone()) {
                // Keep reading: the rest must still be valid JSON within the
                // depth limit, but no later value is taken.
                out.duplicate.get_or_insert(key);
                map.next_value_seed(skip)?;
                continue;
            }
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
                    out.include_usage = map.next_value_seed(StreamOptionsSeed)?;
                }
                _ => map.next_value_seed(skip)?,
            }
        }
        Ok(out)
    }
}

impl<'de> serde::Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(FieldsVisitor)
    }
}

/// `key` clipped to [`MAX_KEY_IN_MESSAGE`] bytes on a character boundary.
fn clip_key(key: &str) -> String {
    let mut end = key.len().min(MAX_KEY_IN_MESSAGE);
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    key[..end].to_string()
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
    let fields: Fields<'_> = serde_json::from_str(text).map_err(|e| ProbeError::from_json(&e))?;
    if let Some(key) = &fields.duplicate {
        return Err(ProbeError::DuplicateKey(clip_key(key)));
    }
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

    /// `depth` nested arrays under the key `x` (the top-level object is level 1).
    fn nested(depth: usize) -> Vec<u8> {
        let inner = depth - 1;
        format!(
            r#"{{"model":"m","x":{}{}}}"#,
            "[".repeat(inner),
            "]".repeat(inner)
        )
        .into_bytes()
    }

    #[test]
    fn duplicate_top_level_keys_are_refused() {
        let table: &[(&[u8], Option<&str>)] = &[
            (br#"{"model":"a","model":"b"}"#, Some("model")),
            (
                br#"{"model":"a","stream":true,"stream":false}"#,
                Some("stream"),
            ),
            (br#"{"model":"a","x":1,"y":2,"x":{"deep":[1]}}"#, Some("x")),
            // The same key spelled with an escape is the same key.
            (br#"{"model":"a","model":"b"}"#, Some("model")),
            (
                br#"{"model":"a","stream_options":{},"stream_options":null}"#,
                Some("stream_options"),
            ),
            // Only the top level counts; nested objects may repeat keys
            // (the upstream's business), and the same key in two objects is fine.
            (br#"{"model":"a","x":{"k":1,"k":2}}"#, None),
            (
                br#"{"model":"a","messages":[{"role":"user"},{"role":"user"}]}"#,
                None,
            ),
            (br#"{"model":"a","Model":"b"}"#, None),
        ];
        for (body, want) in table {
            let got = probe_chat(body);
            match want {
                Some(k) => {
                    assert_eq!(
                        got,
                        Err(ProbeError::DuplicateKey((*k).to_string())),
                        "{}",
                        String::from_utf8_lossy(body)
                    );
                    let e = got.unwrap_err();
                    assert_eq!(e.code(), "duplicate_key");
                    assert!(e.to_string().contains(&format!("{k:?}")));
                }
                None => assert!(got.is_ok(), "{}: {got:?}", String::from_utf8_lossy(body)),
            }
        }
        // A duplicate in a body that is not JSON after it: the JSON error wins.
        assert!(matches!(
            probe_chat(br#"{"model":"a","model":"b""#),
            Err(ProbeError::InvalidJson(_))
        ));
    }

    #[test]
    fn many_keys_switch_to_a_set_and_still_find_duplicates() {
        for n in [FEW_KEYS - 1, FEW_KEYS, FEW_KEYS + 1, 1000] {
            let mut body = String::from(r#"{"model":"m""#);
            for i in 0..n {
                body.push_str(&format!(r#","k{i}":{i}"#));
            }
            let ok = format!("{body}}}");
            assert!(probe_chat(ok.as_bytes()).is_ok(), "{n}");
            let dup = format!(r#"{body},"k0":0}}"#);
            assert_eq!(
                probe_chat(dup.as_bytes()),
                Err(ProbeError::DuplicateKey("k0".into())),
                "{n}"
            );
        }
    }

    #[test]
    fn long_duplicate_keys_are_clipped_in_the_message() {
        let key = "é".repeat(100);
        let body = format!(r#"{{"model":"m","{key}":1,"{key}":2}}"#);
        match probe_chat(body.as_bytes()) {
            Err(ProbeError::DuplicateKey(k)) => {
                assert!(k.len() <= MAX_KEY_IN_MESSAGE);
                assert!(key.starts_with(&k));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nesting_is_capped() {
        assert!(probe_chat(&nested(2)).is_ok());
        assert!(probe_chat(&nested(MAX_DEPTH)).is_ok());
        assert_eq!(
            probe_chat(&nested(MAX_DEPTH + 1)),
            Err(ProbeError::NestingTooDeep)
        );
        assert_eq!(
            probe_chat(&nested(100_000)),
            Err(ProbeError::NestingTooDeep)
        );
        // Objects count as arrays do, and so do values the probe reads.
        let objects = format!(
            r#"{{"model":"m","x":{}1{}}}"#,
            r#"{"a":"#.repeat(MAX_DEPTH),
            "}".repeat(MAX_DEPTH)
        );
        assert_eq!(
            probe_chat(objects.as_bytes()),
            Err(ProbeError::NestingTooDeep)
        );
        let in_options = format!(
            r#"{{"model":"m","stream_options":{{"x":{}{}}}}}"#,
            "[".repeat(MAX_DEPTH),
            "]".repeat(MAX_DEPTH)
        );
        assert_eq!(
            probe_chat(in_options.as_bytes()),
            Err(ProbeError::NestingTooDeep)
        );
        let in_max_tokens = format!(
            r#"{{"model":"m","max_tokens":{}{}}}"#,
            "[".repeat(MAX_DEPTH),
            "]".repeat(MAX_DEPTH)
        );
        assert_eq!(
            probe_chat(in_max_tokens.as_bytes()),
            Err(ProbeError::NestingTooDeep)
        );
        // Brackets inside strings are not nesting.
        let in_string = format!(r#"{{"model":"m","x":"{}"}}"#, "[".repeat(1000));
        assert!(probe_chat(in_string.as_bytes()).is_ok());
        // Every body the probe accepts, a translator can parse.
        let v: Result<serde_json::Value, _> = serde_json::from_slice(&nested(MAX_DEPTH));
        assert!(v.is_ok());
        assert_eq!(ProbeError::NestingTooDeep.code(), "nesting_too_deep");
    }

    #[test]
    fn stream_options_are_read_as_before() {
        let p = probe_chat(br#"{"model":"m","stream_options":{"include_usage":true,"x":[1]}}"#)
            .unwrap();
        assert_eq!(p.include_usage, Some(true));
        assert!(p.has_stream_options);
        let p = probe_chat(br#"{"model":"m","stream_options":null}"#).unwrap();
        assert_eq!(p.include_usage, None);
        assert!(p.has_stream_options);
        assert!(matches!(
            probe_chat(br#"{"model":"m","stream_options":"yes"}"#),
            Err(ProbeError::InvalidJson(_))
        ));
    }

    #[test]
    fn escaped_model_names() {
        let body = Bytes::from_static(br#"{"model":"a\u0062c"}"#);
        let p = probe_chat(&body).unwrap();
        assert_eq!(p.model, "abc");
    }
}
