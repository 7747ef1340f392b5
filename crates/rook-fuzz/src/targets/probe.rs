//! `probe`: the OpenAI chat probe and the byte-faithful rewrite.
//!
//! The probe must accept exactly the bodies `serde_json` reads as an object
//! with a non-blank string `model` (and a boolean-or-null `stream`, a
//! `stream_options` object), reading the same facts; it may refuse more only
//! for a repeated top-level key or very deep nesting. The rewrite must give a
//! document equal to the original with only `model` replaced and
//! `stream_options` added, keeping every other byte.

use bytes::Bytes;
use rook_protocol::openai::{probe_chat, rewrite_chat, ChatProbe};
use serde_json::{json, Value};

use crate::json::{
    depth, has_duplicate_top_level_key, only_serde_strictness, raw_member, text_depth, SERDE_DEPTH,
};

/// Nesting deeper than this may be refused (a depth cap is allowed).
const DEEP: usize = 32;

pub(crate) fn check(input: &[u8]) -> Result<(), String> {
    let body = Bytes::copy_from_slice(input);
    let reference = serde_json::from_slice::<Value>(input);
    match (probe_chat(&body), reference) {
        // Grammar-valid bodies serde_json's `Value` refuses: either answer is
        // fine (the depth cap belongs to the edge checks).
        (Ok(_), Err(_)) if only_serde_strictness(input) || text_depth(input) >= SERDE_DEPTH => {
            Ok(())
        }
        (Ok(_), Err(e)) => Err(format!("accepted a body serde_json refuses: {e}")),
        (Err(_), Err(_)) => Ok(()),
        (Err(e), Ok(v)) => refusal_is_justified(input, &v, e.code()),
        (Ok(p), Ok(v)) => {
            facts_match(input, &p, &v)?;
            rewrites_keep_bytes(&body, &p, &v)
        }
    }
}

fn refusal_is_justified(input: &[u8], v: &Value, code: &str) -> Result<(), String> {
    let known = [
        "invalid_json",
        "missing_model",
        "invalid_model",
        "invalid_stream",
    ];
    let duplicate = has_duplicate_top_level_key(input) == Some(true);
    if duplicate || depth(v) > DEEP {
        return Ok(());
    }
    if !known.contains(&code) {
        return Err(format!(
            "refused with {code} a body with no repeated key and depth {}",
            depth(v)
        ));
    }
    let Some(obj) = v.as_object() else {
        return Ok(());
    };
    let bad_model = obj
        .get("model")
        .and_then(Value::as_str)
        .is_none_or(|m| m.trim().is_empty());
    let bad_stream = !matches!(obj.get("stream"), None | Some(Value::Null | Value::Bool(_)));
    let bad_options = match obj.get("stream_options") {
        None | Some(Value::Null) => false,
        Some(Value::Object(o)) => {
            !matches!(
                o.get("include_usage"),
                None | Some(Value::Null | Value::Bool(_))
            ) || raw_member(input, "stream_options")
                .is_some_and(|raw| has_duplicate_top_level_key(raw.get().as_bytes()) == Some(true))
        }
        Some(_) => true,
    };
    if bad_model || bad_stream || bad_options {
        Ok(())
    } else {
        Err(format!("refused ({code}) a valid chat body"))
    }
}

fn facts_match(input: &[u8], p: &ChatProbe, v: &Value) -> Result<(), String> {
    let Some(obj) = v.as_object() else {
        return Err("accepted a body that is not an object".into());
    };
    let model = obj.get("model").and_then(Value::as_str);
    if model != Some(p.model.as_str()) || p.model.trim().is_empty() {
        return Err(format!("model {:?}, serde_json reads {model:?}", p.model));
    }
    let stream = match obj.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(format!("accepted stream = {other}")),
    };
    if p.stream != stream {
        return Err(format!("stream {} but the body says {stream}", p.stream));
    }
    if p.has_stream_options != obj.contains_key("stream_options") {
        return Err("has_stream_options disagrees with the body".into());
    }
    let usage = obj
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool);
    if p.include_usage != usage {
        return Err(format!(
            "include_usage {:?}, body {usage:?}",
            p.include_usage
        ));
    }
    let max = |k: &str| obj.get(k).and_then(Value::as_u64);
    let max_tokens = max("max_completion_tokens").or(max("max_tokens"));
    if p.max_tokens != max_tokens {
        return Err(format!(
            "max_tokens {:?}, body {max_tokens:?}",
            p.max_tokens
        ));
    }
    let span = input
        .get(p.model_span.clone())
        .ok_or("model span out of bounds")?;
    if serde_json::from_slice::<String>(span).ok().as_deref() != Some(p.model.as_str()) {
        return Err(format!(
            "model span holds {:?}",
            String::from_utf8_lossy(span)
        ));
    }
    if input.get(p.object_end) != Some(&b'}')
        || !input[p.object_end + 1..]
            .iter()
            .all(u8::is_ascii_whitespace)
    {
        return Err(format!(
            "object_end {} is not the closing brace",
            p.object_end
        ));
    }
    Ok(())
}

fn rewrites_keep_bytes(body: &Bytes, p: &ChatProbe, v: &Value) -> Result<(), String> {
    let variants: [(Option<&str>, bool); 5] = [
        (None, false),
        (Some(p.model.as_str()), true),
        (Some("gpt-4o-mini"), false),
        (Some("up\"stream\\\n\u{e9}\u{1f600}"), true),
        (Some("x"), true),
    ];
    for (upstream, add) in variants {
        let out = rewrite_chat(body, p, upstream, add);
        let replace = upstream.filter(|m| *m != p.model);
        let add_usage = add && !p.has_stream_options;
        if replace.is_none() && !add_usage {
            if out != *body {
                return Err("rewrite changed a body it had no reason to change".into());
            }
            continue;
        }
        let got: Value = serde_json::from_slice(&out)
            .map_err(|e| format!("rewrite wrote invalid JSON ({e}) for {upstream:?}/{add}"))?;
        let mut expected = v.clone();
        if let Some(m) = replace {
            expected["model"] = json!(m);
        }
        if add_usage {
            expected["stream_options"] = json!({"include_usage": true});
        }
        if got != expected {
            return Err(format!("rewrite changed more than the model: {got}"));
        }
        // Byte-faithful: the prefix before the model and the suffix after the
        // object's end are the client's bytes.
        let head = if replace.is_some() {
            p.model_span.start
        } else {
            p.object_end
        };
        if !out.starts_with(&body[..head]) || !out.ends_with(&body[p.object_end..]) {
            return Err("rewrite did not keep the bytes around its changes".into());
        }
    }
    Ok(())
}
