//! [`TranslateError`]: why a request cannot be translated to another protocol,
//! and the shared rule for top-level fields a translator does not map.

use std::fmt;

use serde_json::Value;

/// Why a request cannot be translated.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TranslateError {
    /// The request uses a field the target protocol cannot express, and dropping
    /// it would change the answer.
    Unsupported {
        /// The field, as a JSON path (`n`, `messages[2].content[0].type`, …).
        field: String,
        /// The target protocol (`"anthropic"`, `"gemini"`, `"openai"`).
        protocol: &'static str,
    },
    /// The request is malformed.
    Invalid {
        /// What is wrong.
        message: String,
    },
}

impl TranslateError {
    /// A stable machine-readable code for the client's error body.
    pub fn code(&self) -> &'static str {
        match self {
            TranslateError::Unsupported { .. } => "unsupported_parameter",
            TranslateError::Invalid { .. } => "invalid_request",
        }
    }

    /// The field at fault, when one is.
    pub fn param(&self) -> Option<&str> {
        match self {
            TranslateError::Unsupported { field, .. } => Some(field),
            TranslateError::Invalid { .. } => None,
        }
    }

    pub(crate) fn unsupported(field: impl Into<String>, protocol: &'static str) -> Self {
        TranslateError::Unsupported {
            field: field.into(),
            protocol,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        TranslateError::Invalid {
            message: message.into(),
        }
    }
}

impl fmt::Display for TranslateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TranslateError::Unsupported { field, protocol } => write!(
                f,
                "`{field}` is not supported by this model's upstream ({protocol} protocol)"
            ),
            TranslateError::Invalid { message } => write!(f, "invalid request: {message}"),
        }
    }
}

impl std::error::Error for TranslateError {}

/// A translated body and the usage it reports (for non-streaming answers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translated {
    /// The body to send.
    pub body: Vec<u8>,
    /// The usage the upstream reported, when it did.
    pub usage: Option<crate::usage::Usage>,
}

/// Whether a value is the neutral default of a field (sending it changes
/// nothing): `null`, `false`, `0`, an empty string, array or object.
pub(crate) fn is_neutral(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// Checks the top-level fields a translator did not map: those named in
/// `droppable` are dropped, neutral values are dropped, anything else is
/// [`TranslateError::Unsupported`].
pub(crate) fn check_unmapped(
    other: &serde_json::Map<String, Value>,
    droppable: &[&str],
    protocol: &'static str,
) -> Result<(), TranslateError> {
    for (k, v) in other {
        let text_only = k == "modalities" && *v == serde_json::json!(["text"]);
        if droppable.contains(&k.as_str()) || is_neutral(v) || text_only {
            continue;
        }
        return Err(TranslateError::unsupported(k.clone(), protocol));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn codes_and_messages() {
        let e = TranslateError::unsupported("n", "anthropic");
        assert_eq!(e.code(), "unsupported_parameter");
        assert_eq!(e.param(), Some("n"));
        assert!(e.to_string().contains("`n`"));
        let e = TranslateError::invalid("bad");
        assert_eq!(e.code(), "invalid_request");
        assert_eq!(e.param(), None);
    }

    #[test]
    fn neutral_values_and_droppable_fields_pass() {
        let other = json!({"seed": 7, "presence_penalty": 0, "logprobs": false, "x": null});
        let map = other.as_object().cloned().unwrap_or_default();
        assert!(check_unmapped(&map, &["seed"], "anthropic").is_ok());
        let map = json!({"logit_bias": {"1": 5}})
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            check_unmapped(&map, &["seed"], "anthropic"),
            Err(TranslateError::unsupported("logit_bias", "anthropic"))
        );
    }
}
