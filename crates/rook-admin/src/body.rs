//! Reading JSON request bodies field by field, so every error names its field.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};

/// A JSON object body whose keys were checked against the allowed field names.
#[derive(Debug, Clone)]
pub(crate) struct Body {
    obj: Map<String, Value>,
}

impl Body {
    /// Parses `bytes` as a JSON object; 400 for malformed JSON, a non-object or an unknown
    /// field.
    pub(crate) fn parse(bytes: &[u8], allowed: &[&str]) -> ApiResult<Body> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::invalid(
                "the request body is empty; send a JSON object",
            ));
        }
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| ApiError::invalid(format!("malformed JSON: {e}")))?;
        Self::from_value(value, allowed)
    }

    /// Checks an already parsed value.
    pub(crate) fn from_value(value: Value, allowed: &[&str]) -> ApiResult<Body> {
        let Value::Object(obj) = value else {
            return Err(ApiError::invalid("the request body must be a JSON object"));
        };
        if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(ApiError::field(
                k,
                format!("unknown field; expected one of {}", allowed.join(", ")),
            ));
        }
        Ok(Body { obj })
    }

    /// The object itself.
    pub(crate) fn into_map(self) -> Map<String, Value> {
        self.obj
    }

    /// Whether `key` is present (even as `null`).
    pub(crate) fn has(&self, key: &str) -> bool {
        self.obj.contains_key(key)
    }

    /// The value of `key`; `None` when absent or `null`.
    pub(crate) fn opt<T: DeserializeOwned>(&self, key: &str) -> ApiResult<Option<T>> {
        match self.obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value(v.clone())
                .map(Some)
                .map_err(|e| ApiError::field(key, e)),
        }
    }

    /// The value of `key`; 400 naming it when absent or `null`.
    pub(crate) fn req<T: DeserializeOwned>(&self, key: &str) -> ApiResult<T> {
        self.opt(key)?
            .ok_or_else(|| ApiError::field(key, "is required"))
    }
}
