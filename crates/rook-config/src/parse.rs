//! Parsing that reports every problem of a run at once.
//!
//! serde stops at the first unknown key or wrong type. To list them all, the
//! merged layers are read as an untyped tree first, then extracted section
//! by section (each `[[accounts]]`, `[[pools]]` and `[[routes]]` entry on
//! its own): after each error the offending key is taken out of the tree and
//! the extraction is retried, so one bad field hides nothing else. Unknown
//! keys stay errors (`deny_unknown_fields`). What could be extracted is then
//! validated too, and the validation problems of keys that failed to parse
//! are left out (they would only repeat the parse problem).
//!
//! TOML syntax errors are reported by line and column, with the offending
//! line quoted only up to its `=` (the value could be a secret).

use std::path::Path;

use figment::error::{Actual, Kind};
use figment::providers::Serialized;
use figment::value::{Dict, Value};
use figment::Figment;
use serde::de::DeserializeOwned;

use crate::load::{env_var_for_key, ConfigError, FLAGS_PROVIDER};
use crate::model::{AccountConfig, Config, PoolConfig, RouteConfig, Strategy, Vendor};
use crate::suggest::closest;
use crate::validate::Problem;

/// More rounds than any real file has errors; bounds the repair loop.
const MAX_ROUNDS: usize = 512;

/// Checks TOML syntax; the problem names the line and column.
pub(crate) fn check_toml_syntax(text: &str, file: Option<&Path>) -> Result<(), ConfigError> {
    match text.parse::<toml::Table>() {
        Ok(_) => Ok(()),
        Err(e) => Err(ConfigError::Parse(vec![syntax_problem(
            text,
            e.span(),
            e.message(),
            file,
        )])),
    }
}

fn syntax_problem(
    text: &str,
    span: Option<std::ops::Range<usize>>,
    message: &str,
    file: Option<&Path>,
) -> Problem {
    let reason: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut out = format!("invalid TOML: {}", reason.join("; "));
    if let Some(path) = file {
        out.push_str(&format!(" (in {})", path.display()));
    }
    let Some(span) = span else {
        return Problem::new("TOML syntax", out);
    };
    let (line, column, source_line) = position(text, span.start);
    out.push_str(&format!("; the line reads: {}", masked_line(source_line)));
    Problem::new(format!("line {line}, column {column}"), out)
}

/// 1-based line and column (in characters) of a byte offset, and the line.
fn position(text: &str, offset: usize) -> (usize, usize, &str) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let column = text[line_start..offset].chars().count() + 1;
    let line_end = text[line_start..]
        .find('\n')
        .map_or(text.len(), |i| line_start + i);
    (
        line,
        column,
        text[line_start..line_end].trim_end_matches('\r'),
    )
}

/// The line as far as it is safe to quote: table headers and comments
/// whole, `key = value` lines up to the `=`, anything else not at all (a
/// pasted key on a line of its own must not reach the logs).
fn masked_line(line: &str) -> String {
    let trimmed = line.trim();
    if trimmed.starts_with('[') || trimmed.starts_with('#') || trimmed.is_empty() {
        let shown: String = trimmed.chars().take(120).collect();
        return format!("`{shown}`");
    }
    match trimmed.split_once('=') {
        Some((key, value)) if value.trim().is_empty() => format!("`{} =`", key.trim()),
        Some((key, _)) => format!("`{} = …` (value not shown)", key.trim()),
        None => "(not shown: it is not a `key = value` line)".to_owned(),
    }
}

/// Where the merged values came from, to name the origin of a problem.
struct Sources<'a> {
    figment: &'a Figment,
    merged: &'a Value,
    file: Option<&'a Path>,
}

impl Sources<'_> {
    /// "in FILE", "from environment variable ROOK_X", "from command-line flags".
    fn origin(&self, path: &[String]) -> Option<String> {
        let mut value = self.merged;
        let mut tag = value.tag();
        for segment in path {
            let next = match value {
                Value::Dict(_, dict) => dict.get(segment),
                Value::Array(_, items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            };
            match next {
                Some(v) => {
                    value = v;
                    tag = v.tag();
                }
                None => break,
            }
        }
        let name = self.figment.get_metadata(tag).map(|md| md.name.as_ref());
        match name {
            Some(FLAGS_PROVIDER) => Some("from command-line flags".to_owned()),
            Some(n) if n.contains("environment") => {
                if path.is_empty() {
                    Some("from the environment".to_owned())
                } else {
                    Some(format!(
                        "from environment variable {}",
                        env_var_for_key(&path.join("."))
                    ))
                }
            }
            Some(n) if n.contains("TOML") => Some(match self.file {
                Some(file) => format!("in {}", file.display()),
                None => "in the TOML document".to_owned(),
            }),
            _ => self.file.map(|file| format!("in {}", file.display())),
        }
    }

    fn problem(&self, path: &[String], message: String) -> Problem {
        let message = match self.origin(path) {
            Some(origin) => format!("{message} ({origin})"),
            None => message,
        };
        Problem::new(display_path(path), message)
    }
}

/// What the repairing extraction of one section or entry found.
struct Extracted<T> {
    /// The value, when it could be extracted (possibly without bad keys).
    value: Option<T>,
    /// Every problem, in the order found.
    problems: Vec<Problem>,
    /// The keys taken out (display form, e.g. `upstream.connect_timeout_ms`).
    removed: Vec<String>,
}

/// Extracts `T` from `value`, taking out each offending key and retrying,
/// so every unknown key and type error is reported. `prefix` is the key
/// path of `value` in the whole configuration.
fn extract_repairing<T: DeserializeOwned>(
    mut value: Value,
    prefix: &[String],
    substitutes: &[(&str, &str)],
    sources: &Sources<'_>,
) -> Extracted<T> {
    let mut out = Extracted {
        value: None,
        problems: Vec::new(),
        removed: Vec::new(),
    };
    let mut removed: Vec<Vec<String>> = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let error = match Figment::from(Serialized::defaults(&value)).extract::<T>() {
            Ok(t) => {
                out.value = Some(t);
                break;
            }
            Err(e) => e,
        };
        let mut repaired = false;
        for e in error {
            let full: Vec<String> = prefix.iter().chain(e.path.iter()).cloned().collect();
            if let Kind::MissingField(field) = &e.kind {
                let mut missing = e.path.clone();
                missing.push(field.to_string());
                // A key taken out for a bad value is not "missing" too.
                if !removed.iter().any(|r| missing.starts_with(r)) {
                    out.problems
                        .push(sources.problem(&full, describe_kind(&e.kind)));
                }
                continue;
            }
            out.problems
                .push(sources.problem(&full, describe_kind(&e.kind)));
            // Inside a list, take out the whole list: removing one element
            // would renumber the others.
            let cut: Vec<String> = match e
                .path
                .iter()
                .position(|s| s.bytes().all(|b| b.is_ascii_digit()))
            {
                Some(i) => e.path.iter().take(i).cloned().collect(),
                None => e.path.clone(),
            };
            let substitute = match cut.as_slice() {
                [key] => substitutes
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| Value::from(*v)),
                _ => None,
            };
            if !cut.is_empty() && replace(&mut value, &cut, substitute) {
                let shown: Vec<String> = prefix.iter().chain(cut.iter()).cloned().collect();
                out.removed.push(display_path(&shown));
                removed.push(cut);
                repaired = true;
            }
        }
        if !repaired {
            break;
        }
    }
    out
}

/// Removes the key at `path` from a tree of tables, or replaces its value
/// with `substitute`; whether it was there.
fn replace(value: &mut Value, path: &[String], substitute: Option<Value>) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut at = value;
    for segment in parents {
        at = match at {
            Value::Dict(_, dict) => match dict.get_mut(segment) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    match (at, substitute) {
        (Value::Dict(_, dict), None) => dict.remove(last).is_some(),
        (Value::Dict(_, dict), Some(v)) => dict.insert(last.clone(), v).is_some(),
        _ => false,
    }
}

/// Extracts the merged configuration, reporting every parse problem of the
/// file and the environment together with the validation problems.
pub(crate) fn extract_config(
    figment: &Figment,
    file: Option<&Path>,
) -> Result<Config, ConfigError> {
    let merged = figment
        .find_value("")
        .map_err(|e| ConfigError::Parse(figment_problems(e, file)))?;
    let sources = Sources {
        figment,
        merged: &merged,
        file,
    };
    let mut root: Dict = match &merged {
        Value::Dict(_, dict) => dict.clone(),
        _ => {
            return Err(ConfigError::Parse(vec![Problem::new(
                "(document)",
                "the configuration must be a table of keys",
            )]))
        }
    };
    let accounts = root.remove("accounts");
    let pools = root.remove("pools");
    let routes = root.remove("routes");

    let top = extract_repairing::<Config>(Value::from(root), &[], &[], &sources);
    let mut problems = top.problems;
    let mut removed = top.removed;
    let mut config = top.value.unwrap_or_default();
    // Validation keys of entries that did not parse (their problems would
    // only repeat the parse problem).
    let mut failed: Vec<String> = Vec::new();

    let entries = |name: &str, list: Option<Value>, problems: &mut Vec<Problem>| {
        let mut out: Vec<(Option<Dict>, Value)> = Vec::new();
        match list {
            None => {}
            Some(Value::Array(_, items)) => {
                for item in items {
                    out.push((item.as_dict().cloned(), item));
                }
            }
            Some(other) => problems.push(sources.problem(
                &[name.to_owned()],
                format!(
                    "expected an array of tables ([[{name}]]), found {}",
                    value_kind(&other)
                ),
            )),
        }
        out
    };
    let account_items = entries("accounts", accounts, &mut problems);
    let pool_items = entries("pools", pools, &mut problems);
    let route_items = entries("routes", routes, &mut problems);

    for (i, (dict, item)) in account_items.into_iter().enumerate() {
        let raw = |key: &str| raw_str(dict.as_ref(), key);
        let parsed = extract_entry::<AccountConfig>(
            "accounts",
            VENDOR_STAND_IN,
            i,
            item,
            &sources,
            &mut problems,
        );
        let account = match parsed.value {
            Some(a) => a,
            None => {
                failed.push(format!("accounts[{i}]"));
                AccountConfig::new(raw("id").unwrap_or_default(), Vendor::Custom)
            }
        };
        removed.extend(entry_keys(
            &parsed.removed,
            &format!("accounts[{i}]"),
            &format!("accounts[{i}] (id {:?})", account.id),
        ));
        config.accounts.push(account);
    }
    for (i, (dict, item)) in pool_items.into_iter().enumerate() {
        let raw = |key: &str| raw_str(dict.as_ref(), key);
        let parsed = extract_entry::<PoolConfig>(
            "pools",
            STRATEGY_STAND_IN,
            i,
            item,
            &sources,
            &mut problems,
        );
        let pool = match parsed.value {
            Some(p) => p,
            None => {
                failed.push(format!("pools[{i}]"));
                PoolConfig {
                    id: raw("id").unwrap_or_default(),
                    strategy: Strategy::Priority,
                    members: Vec::new(),
                    fallback_pool: None,
                }
            }
        };
        removed.extend(entry_keys(
            &parsed.removed,
            &format!("pools[{i}]"),
            &format!("pools[{i}] (id {:?})", pool.id),
        ));
        config.pools.push(pool);
    }
    for (i, (dict, item)) in route_items.into_iter().enumerate() {
        let raw = |key: &str| raw_str(dict.as_ref(), key);
        let parsed = extract_entry::<RouteConfig>("routes", &[], i, item, &sources, &mut problems);
        let route = match parsed.value {
            Some(r) => r,
            None => {
                failed.push(format!("routes[{i}]"));
                RouteConfig {
                    model: raw("model").unwrap_or_default(),
                    pool: raw("pool").unwrap_or_default(),
                    fallback_route: None,
                }
            }
        };
        removed.extend(entry_keys(
            &parsed.removed,
            &format!("routes[{i}]"),
            &format!("routes[{i}] (model {:?})", route.model),
        ));
        config.routes.push(route);
    }

    if problems.is_empty() {
        config.validate().map_err(ConfigError::Invalid)?;
        return Ok(config);
    }
    if let Err(invalid) = config.validate() {
        let repeats = |key: &str| {
            failed.iter().any(|f| {
                key == f || key.starts_with(&format!("{f} ")) || key.starts_with(&format!("{f}."))
            }) || removed.iter().any(|r| {
                key == r || key.starts_with(&format!("{r}.")) || key.starts_with(&format!("{r}["))
            })
        };
        problems.extend(invalid.into_iter().filter(|p| !repeats(&p.key)));
    }
    Err(ConfigError::Parse(problems))
}

/// Stand-ins for a required name that was misspelt, so the rest of the entry
/// is still extracted and validated (the stand-in's own problems are not
/// reported: the key is already reported as unparsable).
const VENDOR_STAND_IN: &[(&str, &str)] = &[("vendor", "open_ai")];
/// See [`VENDOR_STAND_IN`].
const STRATEGY_STAND_IN: &[(&str, &str)] = &[("strategy", "priority")];

/// Extracts the `index`th entry of the list `name`; `substitutes` replace
/// bad values of required keys.
fn extract_entry<T: DeserializeOwned>(
    name: &str,
    substitutes: &[(&str, &str)],
    index: usize,
    item: Value,
    sources: &Sources<'_>,
    problems: &mut Vec<Problem>,
) -> Extracted<T> {
    let prefix = [name.to_owned(), index.to_string()];
    if item.as_dict().is_none() {
        problems.push(sources.problem(
            &prefix,
            format!("expected a table, found {}", value_kind(&item)),
        ));
        return Extracted {
            value: None,
            problems: Vec::new(),
            removed: Vec::new(),
        };
    }
    let parsed = extract_repairing::<T>(item, &prefix, substitutes, sources);
    problems.extend(parsed.problems.iter().cloned());
    parsed
}

/// Removed keys of an entry in the form validation names them:
/// `accounts[1].weight` → `accounts[1] (id "b").weight`.
fn entry_keys(removed: &[String], shown: &str, validated: &str) -> Vec<String> {
    removed
        .iter()
        .filter_map(|r| r.strip_prefix(shown))
        .map(|rest| format!("{validated}{rest}"))
        .collect()
}

fn raw_str(dict: Option<&Dict>, key: &str) -> Option<String> {
    dict?.get(key)?.as_str().map(str::to_owned)
}

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
fn unknown_field_hint(field: &str) -> Option<&'static str> {
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

fn one_of(expected: &[&str]) -> String {
    expected
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// TOML syntax errors quote the offending source line, which could be the
/// line holding a database password; keep only the position and reason.
fn without_source_excerpt(text: &str) -> String {
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
fn actual_kind(actual: &Actual) -> String {
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

fn value_kind(value: &Value) -> &'static str {
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
fn expected_kind(expected: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_display() {
        let p = |v: &[&str]| display_path(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(p(&["accounts", "1", "vendor"]), "accounts[1].vendor");
        assert_eq!(p(&["port"]), "port");
        assert_eq!(p(&[]), "");
    }

    #[test]
    fn positions() {
        // (text, byte offset, line, column, line text)
        let table = [
            ("port = ", 7, 1, 8, "port = "),
            ("a = 1\nb = \"x\n", 10, 2, 5, "b = \"x"),
            ("a = 1\r\nbé = x\n", 11, 2, 4, "bé = x"),
            ("", 0, 1, 1, ""),
        ];
        for (text, offset, line, column, source) in table {
            assert_eq!(position(text, offset), (line, column, source), "{text:?}");
        }
    }

    #[test]
    fn masked_lines() {
        let table = [
            ("[[accounts]", "`[[accounts]`"),
            ("port = ", "`port =`"),
            (
                "database_url = \"postgres://u:CANARY@h",
                "`database_url = …` (value not shown)",
            ),
            ("sk-CANARY", "(not shown: it is not a `key = value` line)"),
        ];
        for (line, shown) in table {
            assert_eq!(masked_line(line), shown, "{line}");
        }
    }

    #[test]
    fn kinds_in_words() {
        let table = [
            ("u16", "an integer (0..=65535)"),
            ("u64", "an integer (0 or more)"),
            ("i32", "an integer"),
            ("f64", "a number"),
            ("a boolean", "a boolean (true or false)"),
            ("struct Upstream", "a table"),
            ("a sequence", "an array"),
        ];
        for (serde, words) in table {
            assert_eq!(expected_kind(serde), words, "{serde}");
        }
        assert_eq!(
            describe_kind(&Kind::InvalidType(
                Actual::Str("CANARY".into()),
                "u64".into()
            )),
            "expected an integer (0 or more), found a string"
        );
        assert_eq!(
            describe_kind(&Kind::UnknownField("vendr".into(), &["id", "vendor"])),
            "unknown key `vendr`; did you mean `vendor`?"
        );
    }
}
