//! TOML syntax errors: the line and column, the line shown with values masked.

use super::*;

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

pub(super) fn syntax_problem(
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
pub(super) fn position(text: &str, offset: usize) -> (usize, usize, &str) {
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
pub(super) fn masked_line(line: &str) -> String {
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
