//! Describing figment's errors in the operator's words: the key, what was
//! expected, what was found, a hint.

use super::*;

/// `accounts.1.vendor` → `accounts[1].vendor`.
pub(crate) fn display_path(path: &[String]) -> String {
    let mut out = String::new();
    for segment in path {
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(segment);
            out.push(']');
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(segment);
        }
    }
    out
}

/// Problems of a figment error that happened before extraction (a provider
/// failed), with their origin.
pub(crate) fn figment_problems(error: figment::Error, file: Option<&Path>) -> Vec<Problem> {
    error
        .into_iter()
        .map(|e| {
            let mut message = describe_kind(&e.kind);
            let origin = match &e.metadata {
                Some(md) if md.name == FLAGS_PROVIDER => Some("from command-line flags".to_owned()),
                Some(md) if md.name.contains("environment") => {
                    Some("from the environment".to_owned())
                }
                _ => file.map(|path| format!("in {}", path.display())),
            };
            if let Some(origin) = origin {
                message = format!("{message} ({origin})");
            }
            let key = match display_path(&e.path) {
                k if k.is_empty() => "(document)".to_owned(),
                k => k,
            };
            Problem::new(key, message)
        })
        .collect()
}

/// Field names that hint at an inline secret, with the advice to give.
pub(super) fn unknown_field_hint(field: &str) -> Option<&'static str> {
    match field {
        "api_key" | "key" | "apikey" | "api_token" => {
            Some("inline keys are not supported; use api_key_env or api_key_file")
        }
        "token" | "bearer_token" | "password" => {
            Some("inline tokens are not supported; use bearer_token_env or bearer_token_file")
        }
        _ => None,
    }
}

pub(super) fn one_of(expected: &[&str]) -> String {
    expected
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// TOML syntax errors quote the offending source line, which could be the
/// line holding a database password; keep only the position and reason.
pub(super) fn without_source_excerpt(text: &str) -> String {
    let kept: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .filter(|line| {
            let after_number = line.trim_start_matches(|c: char| c.is_ascii_digit());
            !(line.starts_with('|') || after_number.trim_start().starts_with('|'))
        })
        .collect();
    kept.join("; ")
}

/// The kind of a value in words, never the value (it could be a secret).
pub(super) fn actual_kind(actual: &Actual) -> String {
    match actual {
        Actual::Bool(_) => "a boolean".to_owned(),
        Actual::Unsigned(_) | Actual::Signed(_) => "an integer".to_owned(),
        Actual::Float(_) => "a float".to_owned(),
        Actual::Char(_) | Actual::Str(_) => "a string".to_owned(),
        Actual::Bytes(_) => "bytes".to_owned(),
        Actual::Unit => "an empty value".to_owned(),
        Actual::Seq => "an array".to_owned(),
        Actual::Map => "a table".to_owned(),
        Actual::Option | Actual::NewtypeStruct => "a value".to_owned(),
        Actual::Enum
        | Actual::UnitVariant
        | Actual::NewtypeVariant
        | Actual::TupleVariant
        | Actual::StructVariant => "an enum".to_owned(),
        Actual::Other(other) => other.clone(),
    }
}

pub(super) fn value_kind(value: &Value) -> &'static str {
    match value {
        Value::String(..) | Value::Char(..) => "a string",
        Value::Bool(..) => "a boolean",
        Value::Num(_, n) if n.to_f64().is_some_and(|f| f.fract() != 0.0) => "a float",
        Value::Num(..) => "an integer",
        Value::Empty(..) => "an empty value",
        Value::Dict(..) => "a table",
        Value::Array(..) => "an array",
    }
}

/// serde's expectation (`u16`, `a boolean`, `struct Upstream`) in words.
pub(super) fn expected_kind(expected: &str) -> String {
    let integer = |bits: &str| -> Option<String> {
        let range = match bits {
            "u8" => "0..=255",
            "u16" => "0..=65535",
            "u32" => "0..=4294967295",
            "u64" | "u128" | "usize" => "0 or more",
            "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "",
            _ => return None,
        };
        Some(if range.is_empty() {
            "an integer".to_owned()
        } else {
            format!("an integer ({range})")
        })
    };
    if let Some(i) = integer(expected) {
        return i;
    }
    match expected {
        "f32" | "f64" => "a number".to_owned(),
        "a boolean" | "bool" => "a boolean (true or false)".to_owned(),
        "a string" | "string" | "path string" => "a string".to_owned(),
        "a sequence" => "an array".to_owned(),
        "a map" => "a table".to_owned(),
        e if e.starts_with("struct ") || e.starts_with("map") => "a table".to_owned(),
        e if e.starts_with("enum ") || e == "variant identifier" => "a name (a string)".to_owned(),
        other => other.to_owned(),
    }
}

/// The message of one figment error kind: names keys and known values, never
/// echoes a string value.
pub(crate) fn describe_kind(kind: &Kind) -> String {
    match kind {
        Kind::UnknownField(field, expected) => match unknown_field_hint(field) {
            Some(hint) => format!("unknown key `{field}`: {hint}"),
            None => match closest(field, expected.iter().copied()) {
                Some(near) => format!("unknown key `{field}`; did you mean `{near}`?"),
                None => format!(
                    "unknown key `{field}`; expected one of {}",
                    one_of(expected)
                ),
            },
        },
        Kind::UnknownVariant(variant, expected) => match closest(variant, expected.iter().copied())
        {
            Some(near) => format!(
                "unknown value `{variant}`; did you mean `{near}`? (expected one of {})",
                one_of(expected)
            ),
            None => format!(
                "unknown value `{variant}`; expected one of {}",
                one_of(expected)
            ),
        },
        Kind::MissingField(field) => format!("missing required key `{field}`"),
        Kind::InvalidType(actual, expected) => format!(
            "expected {}, found {}",
            expected_kind(expected),
            actual_kind(actual)
        ),
        Kind::InvalidValue(actual, expected) => match actual {
            Actual::Unsigned(n) => format!("expected {}, got {n}", expected_kind(expected)),
            Actual::Signed(n) => format!("expected {}, got {n}", expected_kind(expected)),
            other => format!(
                "expected {}, found {} that does not fit",
                expected_kind(expected),
                actual_kind(other)
            ),
        },
        Kind::Message(text) => without_source_excerpt(text),
        other => other.to_string(),
    }
}
