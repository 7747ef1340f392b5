//! JSON helpers: structured mutation of a document (any node replaced,
//! removed, wrapped, retyped; a key from the dictionary added; a top-level
//! key repeated), random documents, and facts the oracles need (depth,
//! duplicate top-level keys).

use std::collections::HashSet;
use std::fmt;

use fastrand::Rng;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

const STRINGS: &[&str] = &[
    "",
    " ",
    "x",
    "user",
    "assistant",
    "system",
    "tool",
    "developer",
    "text",
    "image_url",
    "function",
    "tool_use",
    "tool_result",
    "thinking",
    "STOP",
    "MAX_TOKENS",
    "end_turn",
    "\u{0}",
    "\n",
    "\u{e9}\u{4e2d}\u{1f600}",
    "a\"b\\c",
    "data: [DONE]\n\n",
    "{}",
    "1",
];

/// A random JSON value, at most `depth` levels deep.
pub(crate) fn random_value(rng: &mut Rng, depth: u32) -> Value {
    let pick = if depth == 0 {
        rng.u8(0..5)
    } else {
        rng.u8(0..7)
    };
    match pick {
        0 => Value::Null,
        1 => Value::Bool(rng.bool()),
        2 => match rng.u8(0..4) {
            0 => Value::from(rng.i64(..)),
            1 => Value::from(rng.u64(..)),
            2 => Value::from(rng.u32(0..10)),
            _ => serde_json::Number::from_f64(rng.f64() * 1e6).map_or(Value::Null, Value::Number),
        },
        3 | 4 => Value::String(STRINGS[rng.usize(..STRINGS.len())].to_string()),
        5 => Value::Array(
            (0..rng.usize(0..4))
                .map(|_| random_value(rng, depth - 1))
                .collect(),
        ),
        _ => {
            let mut m = Map::new();
            for _ in 0..rng.usize(0..4) {
                let k = STRINGS[rng.usize(..STRINGS.len())].to_string();
                m.insert(k, random_value(rng, depth - 1));
            }
            Value::Object(m)
        }
    }
}

/// Applies `f` to a node reached by a random walk from the root.
fn with_random_node(rng: &mut Rng, v: &mut Value, f: &mut dyn FnMut(&mut Rng, &mut Value)) {
    let descend = rng.u8(0..3) != 0;
    match v {
        Value::Array(a) if descend && !a.is_empty() => {
            let i = rng.usize(..a.len());
            with_random_node(rng, &mut a[i], f);
        }
        Value::Object(o) if descend && !o.is_empty() => {
            let i = rng.usize(..o.len());
            if let Some(child) = o.values_mut().nth(i) {
                with_random_node(rng, child, f);
            }
        }
        other => f(rng, other),
    }
}

/// Mutates a JSON document in place; `false` when it is not JSON.
pub(crate) fn mutate_document(rng: &mut Rng, dictionary: &[&str], doc: &mut Vec<u8>) -> bool {
    let Ok(mut v) = serde_json::from_slice::<Value>(doc) else {
        return false;
    };
    if rng.u8(0..10) == 0 {
        return repeat_top_level_key(rng, &v, doc);
    }
    with_random_node(rng, &mut v, &mut |rng, node| {
        mutate_node(rng, dictionary, node)
    });
    let out = if rng.u8(0..4) == 0 {
        serde_json::to_vec_pretty(&v)
    } else {
        serde_json::to_vec(&v)
    };
    match out {
        Ok(bytes) => {
            *doc = bytes;
            true
        }
        Err(_) => false,
    }
}

fn mutate_node(rng: &mut Rng, dictionary: &[&str], node: &mut Value) {
    match rng.u8(0..9) {
        0 | 1 => *node = random_value(rng, 2),
        2 => match node {
            Value::Object(o) if !o.is_empty() => {
                let k = o
                    .keys()
                    .nth(rng.usize(..o.len()))
                    .cloned()
                    .unwrap_or_default();
                o.remove(&k);
            }
            Value::Array(a) if !a.is_empty() => {
                a.remove(rng.usize(..a.len()));
            }
            _ => *node = Value::Null,
        },
        3 => {
            let key = if !dictionary.is_empty() && rng.bool() {
                dictionary[rng.usize(..dictionary.len())].to_string()
            } else {
                STRINGS[rng.usize(..STRINGS.len())].to_string()
            };
            let value = random_value(rng, 2);
            match node {
                Value::Object(o) => {
                    o.insert(key, value);
                }
                Value::Array(a) => a.push(value),
                other => *other = Value::String(key),
            }
        }
        4 => {
            let inner = node.take();
            *node = if rng.bool() {
                Value::Array(vec![inner])
            } else {
                let mut m = Map::new();
                m.insert("x".into(), inner);
                Value::Object(m)
            };
        }
        5 => {
            if let Value::Array(a) = node {
                if let Some(first) = a.first().cloned() {
                    for _ in 0..rng.usize(1..4) {
                        a.push(first.clone());
                    }
                }
            }
        }
        6 => {
            // Deep nesting around a node.
            let mut inner = node.take();
            for _ in 0..rng.usize(1..140) {
                inner = Value::Array(vec![inner]);
            }
            *node = inner;
        }
        _ => {
            *node = match node {
                Value::String(s) => s.parse::<f64>().ok().map_or(Value::Null, Value::from),
                Value::Number(n) => Value::String(n.to_string()),
                Value::Bool(b) => Value::from(u8::from(*b)),
                Value::Null => Value::String(String::new()),
                Value::Array(a) => Value::from(a.len()),
                Value::Object(_) => Value::Array(Vec::new()),
            };
        }
    }
}

/// Writes one top-level `"key": value` a second time, at the start.
fn repeat_top_level_key(rng: &mut Rng, v: &Value, doc: &mut Vec<u8>) -> bool {
    let Some(o) = v.as_object().filter(|o| !o.is_empty()) else {
        return false;
    };
    let Some((k, val)) = o.iter().nth(rng.usize(..o.len())) else {
        return false;
    };
    let replacement = if rng.bool() {
        random_value(rng, 1)
    } else {
        val.clone()
    };
    let (Ok(k), Ok(val)) = (
        serde_json::to_string(k),
        serde_json::to_string(&replacement),
    ) else {
        return false;
    };
    let Some(open) = doc.iter().position(|&b| b == b'{') else {
        return false;
    };
    let pair = format!("{k}:{val},");
    doc.splice(open + 1..open + 1, pair.into_bytes());
    true
}

/// How deeply arrays and objects nest in `v` (a scalar is 0).
pub(crate) fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Whether a JSON object's top level names one key twice (`None`: not an
/// object, or not JSON).
pub(crate) fn has_duplicate_top_level_key(doc: &[u8]) -> Option<bool> {
    struct Keys;
    impl<'de> Visitor<'de> for Keys {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
            let mut seen = HashSet::new();
            let mut dup = false;
            while let Some(k) = map.next_key::<String>()? {
                dup |= !seen.insert(k);
                map.next_value::<IgnoredAny>()?;
            }
            Ok(dup)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(doc);
    let dup = de.deserialize_map(Keys).ok()?;
    de.end().ok()?;
    Some(dup)
}

/// Parses `bytes` as one JSON value, or says why not. `None`: valid JSON
/// too deep for `serde_json`'s `Value` (a translation may nest a client's
/// value a level or two deeper), which the structural checks skip.
pub(crate) fn parse(bytes: &[u8], what: &str) -> Result<Option<Value>, String> {
    if text_depth(bytes) >= SERDE_DEPTH
        && serde_json::from_slice::<IgnoredAny>(bytes).is_ok()
        && std::str::from_utf8(bytes).is_ok()
    {
        return Ok(None);
    }
    serde_json::from_slice(bytes).map(Some).map_err(|e| {
        format!(
            "{what} is not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
        )
    })
}

/// The raw text of a top-level member (the last one, when repeated).
pub(crate) fn raw_member<'a>(doc: &'a [u8], key: &str) -> Option<&'a RawValue> {
    struct Member<'k>(&'k str);
    impl<'de> Visitor<'de> for Member<'_> {
        type Value = Option<&'de RawValue>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut found = None;
            while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                let raw: &'de RawValue = map.next_value()?;
                if k == self.0 {
                    found = Some(raw);
                }
            }
            Ok(found)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(doc);
    de.deserialize_map(Member(key)).ok().flatten()
}

/// `doc` with what only `serde_json` refuses made acceptable: lone UTF-16
/// surrogate escapes (`"\ud800"`) become U+FFFD, numbers beyond `f64`
/// become `0`. Both are valid JSON grammar that `serde_json` will not put in
/// a `Value`, while the parsers under test may skip them unread.
pub(crate) fn lenient(doc: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(doc.len());
    let (mut i, mut in_string) = (0, false);
    while i < doc.len() {
        let b = doc[i];
        if in_string {
            if b == b'\\' && doc.get(i + 1) == Some(&b'u') && i + 6 <= doc.len() {
                let code = std::str::from_utf8(&doc[i + 2..i + 6])
                    .ok()
                    .and_then(|h| u16::from_str_radix(h, 16).ok());
                if code.is_some_and(|c| (0xd800..=0xdfff).contains(&c)) {
                    out.extend_from_slice(b"\\ufffd");
                    i += 6;
                    continue;
                }
            }
            if b == b'\\' {
                out.extend_from_slice(&doc[i..(i + 2).min(doc.len())]);
                i += 2;
                continue;
            }
            in_string = b != b'"';
            out.push(b);
            i += 1;
        } else if b == b'-' || b.is_ascii_digit() {
            let end = (i..doc.len())
                .find(|&j| !matches!(doc[j], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                .unwrap_or(doc.len());
            let token = &doc[i..end];
            let huge = std::str::from_utf8(token)
                .ok()
                .and_then(|t| t.parse::<f64>().ok())
                .is_some_and(|f| f.is_infinite());
            out.extend_from_slice(if huge { b"0" } else { token });
            i = end;
        } else {
            in_string = b == b'"';
            out.push(b);
            i += 1;
        }
    }
    out
}

/// Whether `serde_json` refuses `doc` only for what [`lenient`] mends.
pub(crate) fn only_serde_strictness(doc: &[u8]) -> bool {
    serde_json::from_slice::<Value>(doc).is_err()
        && serde_json::from_slice::<Value>(&lenient(doc)).is_ok()
}

/// `serde_json`'s recursion limit for `Value`: documents this deep are valid
/// grammar it refuses, while skipped values (`IgnoredAny`) have no limit.
pub(crate) const SERDE_DEPTH: usize = 128;

/// How deeply brackets nest in a document's text (strings skipped), so a
/// depth can be had when `serde_json` refuses the document.
pub(crate) fn text_depth(doc: &[u8]) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in doc {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}
