//! Safe field values in text logs.
//!
//! Log fields carry client-controlled values (the model, the request id, a
//! user agent, paths, upstream error messages). Written raw, a `\n` in one
//! forges a whole log line and an ESC sequence reaches the operator's
//! terminal. [`SafeFields`], the field formatter of the text format, fixes it
//! for every field at once, whatever the call site wrote:
//!
//! - control characters are escaped: `\n`, `\r`, `\t` as such, every other C0
//!   character, DEL and the C1 range as `\u{..}`; so are the Unicode line and
//!   paragraph separators and the bidirectional overrides (which can make a
//!   line read differently from what it holds);
//! - each value is capped at [`MAX_LOG_VALUE_BYTES`] bytes of output, the
//!   rest replaced by a marker `…(N more bytes)`.
//!
//! The JSON format needs neither: its strings are JSON-escaped.

use std::fmt::{self, Write};

use tracing::field::Field;
use tracing_subscriber::field::{RecordFields, Visit};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::FormatFields;

/// Longest field value in a text log line (bytes, after escaping).
pub const MAX_LOG_VALUE_BYTES: usize = 1024;

/// The text format's field formatter. See the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub struct SafeFields;

impl<'w> FormatFields<'w> for SafeFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut v = SafeVisitor {
            writer: &mut writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut v);
        v.result
    }
}

struct SafeVisitor<'a, 'w> {
    writer: &'a mut Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl SafeVisitor<'_, '_> {
    fn write(&mut self, name: &str, value: &dyn fmt::Debug) -> fmt::Result {
        if !self.first {
            self.writer.write_char(' ')?;
        }
        self.first = false;
        if name != "message" {
            write!(self.writer, "{}=", name.strip_prefix("r#").unwrap_or(name))?;
        }
        write_escaped(&mut *self.writer, value, MAX_LOG_VALUE_BYTES)
    }
}

impl Visit for SafeVisitor<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            // Quoted, as the default formatter does.
            self.record_debug(field, &value);
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.record_debug(field, &format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() || field.name().starts_with("log.") {
            return;
        }
        self.result = self.write(field.name(), value);
    }
}

/// Writes `value`'s `Debug` form escaped and capped at `max` bytes.
fn write_escaped(out: &mut dyn Write, value: &dyn fmt::Debug, max: usize) -> fmt::Result {
    let mut e = Escaper {
        out,
        left: max,
        cut: 0,
    };
    write!(e, "{value:?}")?;
    if e.cut > 0 {
        write!(e.out, "…({} more bytes)", e.cut)?;
    }
    Ok(())
}

/// `s` as a text log writes it: escaped and capped at `max` bytes (see the
/// module docs).
///
/// ```
/// use rook_observability::escape_log_value;
/// assert_eq!(escape_log_value("a\nb\x1b[31m", 1024), "a\\nb\\u{1b}[31m");
/// assert_eq!(escape_log_value("abcdef", 4), "abcd…(2 more bytes)");
/// ```
pub fn escape_log_value(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max) + 16);
    let _ = write_escaped(&mut out, &format_args!("{s}"), max);
    out
}

/// Whether a character must not reach a log line as is.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// Escapes what passes through it and stops after `left` bytes, counting
/// what it leaves out.
struct Escaper<'a> {
    out: &'a mut dyn Write,
    left: usize,
    cut: usize,
}

impl Write for Escaper<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for (i, c) in s.char_indices() {
            if self.cut > 0 {
                self.cut += s.len() - i;
                return Ok(());
            }
            let mut buf = [0u8; 4];
            let escaped;
            let piece: &str = match c {
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                c if needs_escape(c) => {
                    escaped = format!("\\u{{{:x}}}", u32::from(c));
                    &escaped
                }
                c => c.encode_utf8(&mut buf),
            };
            if piece.len() > self.left {
                self.cut += s.len() - i;
                return Ok(());
            }
            self.left -= piece.len();
            self.out.write_str(piece)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::{Arc, Mutex};

    #[test]
    fn control_characters_are_escaped() {
        let cases: &[(&str, &str)] = &[
            ("plain model-1", "plain model-1"),
            ("a\nb", "a\\nb"),
            ("a\r\nb", "a\\r\\nb"),
            ("tab\there", "tab\\there"),
            ("\x1b[31mred", "\\u{1b}[31mred"),
            ("bell\x07 del\x7f", "bell\\u{7} del\\u{7f}"),
            ("c1\u{9b}31m", "c1\\u{9b}31m"),
            ("line\u{2028}sep", "line\\u{2028}sep"),
            ("bidi\u{202e}txt", "bidi\\u{202e}txt"),
            ("é ü 日本", "é ü 日本"),
        ];
        for (input, want) in cases {
            assert_eq!(escape_log_value(input, MAX_LOG_VALUE_BYTES), *want);
        }
    }

    #[test]
    fn values_are_capped_with_a_marker() {
        let long = "x".repeat(5000);
        let out = escape_log_value(&long, MAX_LOG_VALUE_BYTES);
        assert_eq!(out, format!("{}…(3976 more bytes)", "x".repeat(1024)));
        // Never cut inside an escape or a character.
        assert_eq!(escape_log_value("ab\ncd", 3), "ab…(3 more bytes)");
        assert_eq!(escape_log_value("a日本", 3), "a…(6 more bytes)");
    }

    proptest::proptest! {
        #[test]
        fn no_control_character_survives(s in "\\PC*|[\\x00-\\x1f\\x7f-\\u{9f}a\u{2028}\u{202e}]*", max in 0usize..64) {
            let out = escape_log_value(&s, max);
            proptest::prop_assert!(!out.chars().any(needs_escape), "{:?}", out);
            let marker = out.find('…').unwrap_or(out.len());
            proptest::prop_assert!(marker <= max);
        }
    }

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| io::ErrorKind::Other)?
                .extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_forged_line_stays_one_line_in_the_text_format() {
        let buf = Buf::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(SafeFields)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let model = "m\n2026-01-01T00:00:00Z  INFO rook: forged\x1b[31m";
        let user = "u\r\x1b]0;title\x07";
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(route = %model, agent = user, n = 3, "request {model}");
            tracing::warn!(error = %format_args!("x{}", "y".repeat(2000)), "long");
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(!text.contains('\x1b') && !text.contains('\r') && !text.contains('\x07'));
        assert!(
            lines[0].contains(r"request m\n2026-01-01T00:00:00Z  INFO rook: forged\u{1b}[31m"),
            "{}",
            lines[0]
        );
        assert!(lines[0].contains(r#"route=m\n2026"#), "{}", lines[0]);
        assert!(
            lines[0].contains(r#"agent="u\r\u{1b}]0;title\u{7}""#),
            "{}",
            lines[0]
        );
        assert!(lines[0].contains(" n=3"), "{}", lines[0]);
        assert!(lines[1].contains("more bytes)"), "{}", lines[1]);
        assert!(lines[1].len() < 1200, "{}", lines[1].len());
    }
}
