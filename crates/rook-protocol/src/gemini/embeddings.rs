//! OpenAI embeddings ↔ Gemini `batchEmbedContents`.
//!
//! `{"input": string | [string], "model", "dimensions"}` becomes
//! `{"requests":[{"model":"models/<m>","content":{"parts":[{"text"}]},"outputDimensionality"}]}`;
//! `{"embeddings":[{"values":[…]}]}` becomes an OpenAI embedding list. Gemini
//! reports no token counts: the answer says 0 (OpenAI clients expect the
//! object) and the usage Rook records is unknown. `encoding_format: "base64"`
//! (the OpenAI Python SDK's default) is honoured: Rook encodes the floats as
//! little-endian `f32`, as OpenAI does. Token-array inputs are rejected.

use serde_json::{json, Value};

use crate::translate::{check_unmapped, TranslateError, Translated};

const PROTOCOL: &str = "gemini";

/// The request path for `upstream_model`.
pub fn path(upstream_model: &str) -> String {
    format!("/{}:batchEmbedContents", qualified(upstream_model))
}

fn qualified(model: &str) -> String {
    if model.starts_with("models/") {
        model.to_string()
    } else {
        format!("models/{model}")
    }
}

/// Translates an OpenAI embeddings request body into a `batchEmbedContents` body.
///
/// ```
/// use rook_protocol::gemini::embeddings::to_gemini;
/// let v: serde_json::Value = serde_json::from_slice(&to_gemini(br#"{"model":"e","input":"hi"}"#, "gemini-embedding-001")?).unwrap();
/// assert_eq!(v["requests"][0]["model"], "models/gemini-embedding-001");
/// assert_eq!(v["requests"][0]["content"]["parts"][0]["text"], "hi");
/// # Ok::<(), rook_protocol::TranslateError>(())
/// ```
pub fn to_gemini(body: &[u8], upstream_model: &str) -> Result<Vec<u8>, TranslateError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| TranslateError::invalid(format!("the body is not valid JSON: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| TranslateError::invalid("the body must be a JSON object"))?;
    let mut other = obj.clone();
    for k in ["model", "input", "dimensions", "user"] {
        other.remove(k);
    }
    if matches!(
        other.get("encoding_format").and_then(Value::as_str),
        Some("float" | "base64")
    ) {
        other.remove("encoding_format");
    }
    check_unmapped(&other, &[], PROTOCOL)?;
    let texts: Vec<&str> = match v.get("input") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) if a.iter().all(Value::is_string) && !a.is_empty() => {
            a.iter().filter_map(Value::as_str).collect()
        }
        Some(Value::Array(a)) if !a.is_empty() => {
            return Err(TranslateError::unsupported("input", PROTOCOL))
        }
        _ => {
            return Err(TranslateError::invalid(
                "`input` must be a string or a non-empty array of strings",
            ))
        }
    };
    let model = qualified(upstream_model);
    let dims = v.get("dimensions").and_then(Value::as_u64);
    let requests: Vec<Value> = texts
        .iter()
        .map(|t| {
            let mut r = json!({"model": model, "content": {"parts": [{"text": t}]}});
            if let Some(d) = dims {
                r["outputDimensionality"] = json!(d);
            }
            r
        })
        .collect();
    serde_json::to_vec(&json!({ "requests": requests }))
        .map_err(|e| TranslateError::invalid(e.to_string()))
}

/// Whether an OpenAI embeddings request asks for base64-encoded vectors.
pub fn wants_base64(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Format<'a> {
        #[serde(borrow, default)]
        encoding_format: Option<&'a str>,
    }
    serde_json::from_slice::<Format<'_>>(body).is_ok_and(|f| f.encoding_format == Some("base64"))
}

/// A vector as OpenAI's base64 encoding: the little-endian `f32`s, base64.
fn base64_vector(values: &Value) -> Value {
    use base64::Engine as _;
    let floats = values.as_array().map_or(&[][..], Vec::as_slice);
    let mut bytes = Vec::with_capacity(floats.len() * 4);
    for f in floats {
        // JSON numbers are f64; embeddings are f32 on the wire.
        #[allow(clippy::cast_possible_truncation)]
        let x = f.as_f64().unwrap_or(0.0) as f32;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Translates a `batchEmbedContents` response into an OpenAI embeddings
/// response; `model` is the client's logical model; `base64` encodes the
/// vectors as OpenAI does for `encoding_format: "base64"`.
pub fn to_openai(body: &[u8], model: &str, base64: bool) -> Result<Translated, TranslateError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| TranslateError::invalid(format!("upstream answer is not JSON: {e}")))?;
    let embeddings = v
        .get("embeddings")
        .and_then(Value::as_array)
        .ok_or_else(|| TranslateError::invalid("upstream answer has no embeddings"))?;
    let data: Vec<Value> = embeddings
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let values = match e.get("values") {
                Some(v @ Value::Array(_)) => v.clone(),
                None | Some(Value::Null) => json!([]),
                Some(_) => {
                    return Err(TranslateError::invalid(
                        "upstream embedding values are not an array",
                    ))
                }
            };
            let embedding = if base64 {
                base64_vector(&values)
            } else {
                values
            };
            Ok(json!({"object": "embedding", "index": i, "embedding": embedding}))
        })
        .collect::<Result<_, TranslateError>>()?;
    let out = json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": 0, "total_tokens": 0},
    });
    let body = serde_json::to_vec(&out).map_err(|e| TranslateError::invalid(e.to_string()))?;
    // Gemini reports no tokens: unknown, not zero.
    Ok(Translated { body, usage: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests() {
        let b = to_gemini(br#"{"model":"e","input":["a","b"],"dimensions":256,"encoding_format":"float","user":"u"}"#, "models/x").unwrap();
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(
            v["requests"][1],
            json!({"model": "models/x", "content": {"parts": [{"text": "b"}]}, "outputDimensionality": 256})
        );
        assert_eq!(path("x"), "/models/x:batchEmbedContents");
        assert_eq!(
            to_gemini(br#"{"model":"e","input":[[1,2]]}"#, "x").unwrap_err(),
            TranslateError::unsupported("input", "gemini")
        );
        // base64 is honoured on the way back; the request is the same.
        let b = to_gemini(
            br#"{"model":"e","input":"a","encoding_format":"base64"}"#,
            "x",
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["requests"][0]["content"]["parts"][0]["text"], "a");
        assert!(wants_base64(
            br#"{"model":"e","input":"a","encoding_format":"base64"}"#
        ));
        assert!(!wants_base64(
            br#"{"model":"e","input":"a","encoding_format":"float"}"#
        ));
        assert!(!wants_base64(br#"{"model":"e","input":"a"}"#));
        assert_eq!(
            to_gemini(br#"{"model":"e","input":"a","encoding_format":"hex"}"#, "x").unwrap_err(),
            TranslateError::unsupported("encoding_format", "gemini")
        );
        assert_eq!(
            to_gemini(br#"{"model":"e","input":[]}"#, "x")
                .unwrap_err()
                .code(),
            "invalid_request"
        );
    }

    #[test]
    fn responses() {
        let t = to_openai(
            br#"{"embeddings":[{"values":[0.1,0.2]},{"values":[0.3]}]}"#,
            "e",
            false,
        )
        .unwrap();
        assert_eq!(t.usage, None, "Gemini reports no tokens: unknown, not zero");
        let v: Value = serde_json::from_slice(&t.body).unwrap();
        assert_eq!(
            v,
            json!({"object": "list", "model": "e", "usage": {"prompt_tokens": 0, "total_tokens": 0}, "data": [
                {"object": "embedding", "index": 0, "embedding": [0.1, 0.2]},
                {"object": "embedding", "index": 1, "embedding": [0.3]}
            ]})
        );
        assert!(to_openai(b"{}", "e", false).is_err());
        // Values that are not an array (found by fuzzing: relayed as `"embedding": 3`).
        assert!(to_openai(br#"{"embeddings":[{"values":3}]}"#, "e", false).is_err());
    }

    #[test]
    fn base64_vectors_are_little_endian_f32() {
        let t = to_openai(br#"{"embeddings":[{"values":[1.0,-2.5]}]}"#, "e", true).unwrap();
        let v: Value = serde_json::from_slice(&t.body).unwrap();
        // 1.0f32 = 00 00 80 3f, -2.5f32 = 00 00 20 c0.
        assert_eq!(v["data"][0]["embedding"], "AACAPwAAIMA=");
    }
}
