//! OpenAI embeddings ↔ Gemini `batchEmbedContents`.
//!
//! `{"input": string | [string], "model", "dimensions"}` becomes
//! `{"requests":[{"model":"models/<m>","content":{"parts":[{"text"}]},"outputDimensionality"}]}`;
//! `{"embeddings":[{"values":[…]}]}` becomes an OpenAI embedding list. Gemini
//! reports no token counts, so usage is zero. Token-array inputs and base64
//! encoding are rejected.

use serde_json::{json, Value};

use crate::translate::{check_unmapped, TranslateError, Translated};
use crate::usage::Usage;

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
    if other.get("encoding_format").and_then(Value::as_str) == Some("float") {
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

/// Translates a `batchEmbedContents` response into an OpenAI embeddings
/// response; `model` is the client's logical model.
pub fn to_openai(body: &[u8], model: &str) -> Result<Translated, TranslateError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| TranslateError::invalid(format!("upstream answer is not JSON: {e}")))?;
    let embeddings = v
        .get("embeddings")
        .and_then(Value::as_array)
        .ok_or_else(|| TranslateError::invalid("upstream answer has no embeddings"))?;
    let data: Vec<Value> = embeddings
        .iter()
        .enumerate()
        .map(|(i, e)| json!({"object": "embedding", "index": i, "embedding": e.get("values").cloned().unwrap_or(json!([]))}))
        .collect();
    let usage = Usage::default();
    let out = json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": 0, "total_tokens": 0},
    });
    let body = serde_json::to_vec(&out).map_err(|e| TranslateError::invalid(e.to_string()))?;
    Ok(Translated {
        body,
        usage: Some(usage),
    })
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
        assert_eq!(
            to_gemini(
                br#"{"model":"e","input":"a","encoding_format":"base64"}"#,
                "x"
            )
            .unwrap_err(),
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
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&t.body).unwrap();
        assert_eq!(
            v,
            json!({"object": "list", "model": "e", "usage": {"prompt_tokens": 0, "total_tokens": 0}, "data": [
                {"object": "embedding", "index": 0, "embedding": [0.1, 0.2]},
                {"object": "embedding", "index": 1, "embedding": [0.3]}
            ]})
        );
        assert!(to_openai(b"{}", "e").is_err());
    }
}
