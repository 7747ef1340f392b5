//! W3C Trace Context (`traceparent`, `tracestate`): parse what a client sent,
//! write what goes upstream.
//!
//! Parsing follows the recommendation's receiver rules: version `ff` is
//! invalid; version `00` is exactly 55 characters; a higher version is read
//! by its first four fields (and must have `-` after them if it is longer);
//! ids are lowercase hex and not all zero. Anything else is `None`: the
//! request starts a new trace and the client's `tracestate` is dropped with
//! it.

use super::span::{SpanId, TraceId};

/// The longest `tracestate` kept (the recommendation's 512-character floor
/// for what a vendor must propagate); a longer one is dropped, not cut.
pub const MAX_TRACESTATE_LEN: usize = 512;

/// What a valid `traceparent` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    /// The trace id.
    pub trace_id: TraceId,
    /// The caller's span id: the parent of the span that handles the request.
    pub parent_id: SpanId,
    /// The caller's `sampled` flag (bit 0 of the flags).
    pub sampled: bool,
}

/// Parses one `traceparent` value; `None` when it is malformed.
pub fn parse(value: &str) -> Option<TraceParent> {
    let v = value.trim_matches([' ', '\t']);
    let b = v.as_bytes();
    if b.len() < 55 {
        return None;
    }
    let version = hex_byte(&b[0..2])?;
    if version == 0xff || (version == 0 && b.len() != 55) || (b.len() > 55 && b[55] != b'-') {
        return None;
    }
    if b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
        return None;
    }
    let mut trace = [0u8; 16];
    for (i, out) in trace.iter_mut().enumerate() {
        *out = hex_byte(&b[3 + 2 * i..5 + 2 * i])?;
    }
    let mut span = [0u8; 8];
    for (i, out) in span.iter_mut().enumerate() {
        *out = hex_byte(&b[36 + 2 * i..38 + 2 * i])?;
    }
    let flags = hex_byte(&b[53..55])?;
    let trace_id = TraceId::from_bytes(trace);
    let parent_id = SpanId::from_bytes(span);
    if !trace_id.is_valid() || !parent_id.is_valid() {
        return None;
    }
    Some(TraceParent {
        trace_id,
        parent_id,
        sampled: flags & 1 == 1,
    })
}

/// The `traceparent` value naming `span_id` as the parent (version `00`).
pub fn format(trace_id: TraceId, span_id: SpanId, sampled: bool) -> String {
    format!(
        "00-{trace_id}-{span_id}-{}",
        if sampled { "01" } else { "00" }
    )
}

/// The `tracestate` to keep from the client's header values (joined with `,`
/// when there are several): empty when there is none, it is longer than
/// [`MAX_TRACESTATE_LEN`], or it holds characters outside printable ASCII.
pub fn tracestate<'a>(values: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for v in values {
        let v = v.trim_matches([' ', '\t']);
        if v.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(v);
    }
    if out.len() > MAX_TRACESTATE_LEN || !out.bytes().all(|c| (0x20..0x7f).contains(&c)) {
        return String::new();
    }
    out
}

/// One lowercase hex byte; uppercase is invalid in Trace Context.
fn hex_byte(two: &[u8]) -> Option<u8> {
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    Some(nibble(two[0])? << 4 | nibble(two[1])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN: &str = "00f067aa0ba902b7";

    #[test]
    fn parses_by_the_receiver_rules() {
        let ok = |flags: &str| format!("00-{TRACE}-{SPAN}-{flags}");
        let cases: &[(String, Option<bool>)] = &[
            (ok("01"), Some(true)),
            (ok("00"), Some(false)),
            // other flag bits do not matter
            (ok("03"), Some(true)),
            (ok("fe"), Some(false)),
            (format!("  {}\t", ok("01")), Some(true)),
            // a future version: the first four fields, more after a dash
            (
                format!("cc-{TRACE}-{SPAN}-01-what-the-future-holds"),
                Some(true),
            ),
            (format!("01-{TRACE}-{SPAN}-00"), Some(false)),
            // version 00 is exactly 55 characters
            (format!("{}-extra", ok("01")), None),
            (format!("cc-{TRACE}-{SPAN}-01x"), None),
            (format!("ff-{TRACE}-{SPAN}-01"), None),
            (format!("00-{}-{SPAN}-01", TRACE.to_uppercase()), None),
            (format!("00-{TRACE}-{}-01", SPAN.to_uppercase()), None),
            (format!("00-{}-{SPAN}-01", "0".repeat(32)), None),
            (format!("00-{TRACE}-{}-01", "0".repeat(16)), None),
            (format!("00-{TRACE}-{SPAN}-0g"), None),
            (format!("00_{TRACE}-{SPAN}-01"), None),
            (format!("00-{TRACE}x{SPAN}-01"), None),
            (format!("0-{TRACE}-{SPAN}-01"), None),
            (format!("00-{TRACE}-{SPAN}-1"), None),
            (String::new(), None),
            ("garbage".into(), None),
            (format!("00-{TRACE}-{SPAN}-é1"), None),
        ];
        for (value, want) in cases {
            let got = parse(value);
            assert_eq!(got.map(|p| p.sampled), *want, "{value:?}");
            if let Some(p) = got {
                assert_eq!(p.trace_id.to_string(), TRACE);
                assert_eq!(p.parent_id.to_string(), SPAN);
            }
        }
    }

    #[test]
    fn formats_what_it_parses() {
        let p = parse(&format!("00-{TRACE}-{SPAN}-01")).unwrap();
        let s = SpanId::from_u64(0xabcdef0123456789);
        let out = format(p.trace_id, s, true);
        assert_eq!(out, format!("00-{TRACE}-abcdef0123456789-01"));
        let back = parse(&out).unwrap();
        assert_eq!(
            (back.trace_id, back.parent_id, back.sampled),
            (p.trace_id, s, true)
        );
        assert!(format(p.trace_id, s, false).ends_with("-00"));
    }

    #[test]
    fn tracestate_is_kept_when_sane() {
        assert_eq!(
            tracestate(["rojo=00f067aa0ba902b7"]),
            "rojo=00f067aa0ba902b7"
        );
        assert_eq!(tracestate(["a=1", " b=2 "]), "a=1,b=2");
        assert_eq!(tracestate(["", "a=1"]), "a=1");
        assert_eq!(tracestate(Vec::<&str>::new()), "");
        assert_eq!(tracestate(["a=\u{1b}[31m"]), "");
        let long = format!("a={}", "x".repeat(MAX_TRACESTATE_LEN));
        assert_eq!(tracestate([long.as_str()]), "");
    }
}
