//! `sse`, `usage_filter`, `passthrough`: the SSE parser and observer, the
//! usage-chunk filter and the pass-through observers.
//!
//! Every one is fed the same bytes in several chunkings (at once, byte by
//! byte, splits next to line ends) and must behave the same; the parser must
//! also agree with the reference reader of `sse_ref`.

use bytes::Bytes;
use rook_protocol::passthrough::Passthrough;
use rook_protocol::sse::{SseEvent, SseObserver, SseParser, UsageChunkFilter};
use rook_protocol::{StreamTranslator, Usage};
use serde_json::Value;

use crate::engine::fnv1a;
use crate::json::{has_duplicate_top_level_key, lenient, text_depth, SERDE_DEPTH};
use crate::mutate::find;
use crate::sse_ref::{chunkings, parse};

/// `SseParser::default()`'s line limit.
const DEFAULT_MAX_LINE: usize = 1 << 20;

pub(crate) fn check_parser(input: &[u8]) -> Result<(), String> {
    let small = 1 + (fnv1a(input) % 48) as usize;
    for max_line in [DEFAULT_MAX_LINE, small] {
        let expected = parse(input, max_line);
        for pieces in chunkings(input) {
            let mut p = SseParser::with_max_line(max_line);
            let mut events = Vec::new();
            for piece in &pieces {
                p.feed(piece, |e| events.push(e));
            }
            let boundary = p.at_event_boundary();
            let last = p.finish();
            if events != expected.events {
                return Err(format!(
                    "parser: events differ from the reference (max_line {max_line}, {} pieces): {events:?} vs {:?}",
                    pieces.len(),
                    expected.events
                ));
            }
            if boundary != expected.boundary || last != expected.last {
                return Err(format!(
                    "parser: boundary/finish differ (max_line {max_line}, {} pieces): {boundary} {last:?} vs {} {:?}",
                    pieces.len(),
                    expected.boundary,
                    expected.last
                ));
            }
        }
    }
    check_observer(input)
}

type Observed = (u64, bool, Option<Usage>, u64, bool);

fn check_observer(input: &[u8]) -> Result<(), String> {
    let reference = parse(input, usize::MAX);
    let evs = &reference.events;
    let looks_json = |d: &[u8]| {
        let t = d.trim_ascii();
        t.first() == Some(&b'{') && t.last() == Some(&b'}')
    };
    let usage = evs
        .iter()
        .filter(|e| e.data != b"[DONE]" && looks_json(&e.data))
        .rev()
        .find_map(|e| Usage::from_chunk(&e.data));
    let expected: Observed = (
        evs.len() as u64,
        evs.iter().any(|e| e.data == b"[DONE]"),
        usage,
        evs.iter()
            .filter(|e| e.data != b"[DONE]" && !looks_json(&e.data))
            .count() as u64,
        reference.boundary,
    );
    for pieces in chunkings(input) {
        let mut o = SseObserver::new();
        for piece in &pieces {
            o.feed(piece);
        }
        let got: Observed = (
            o.events(),
            o.saw_done(),
            o.usage(),
            o.not_json_events(),
            o.at_event_boundary(),
        );
        if got != expected {
            return Err(format!(
                "observer: (events, done, usage, not_json, boundary) {got:?}, expected {expected:?} ({} pieces)",
                pieces.len()
            ));
        }
    }
    Ok(())
}

/// Complete events as the filter delimits them (a blank line ends one; a
/// CR at the very end counts as a line end), and the incomplete tail.
fn segments(input: &[u8]) -> (Vec<&[u8]>, &[u8]) {
    let mut segs = Vec::new();
    let (mut start, mut i, mut line_start) = (0, 0, true);
    while i < input.len() {
        let b = input[i];
        if b == b'\r' || b == b'\n' {
            let next = if b == b'\r' && input.get(i + 1) == Some(&b'\n') {
                i + 2
            } else {
                i + 1
            };
            if line_start {
                segs.push(&input[start..next]);
                start = next;
            }
            line_start = true;
            i = next;
        } else {
            line_start = false;
            i += 1;
        }
    }
    (segs, &input[start..])
}

/// The data of one event, as the reference reader joins it.
fn event_data(seg: &[u8]) -> Option<SseEvent> {
    let p = parse(seg, usize::MAX);
    p.events.into_iter().chain(p.last).next()
}

/// Whether an event is the usage-only chunk (`choices: []` and a usage);
/// too deep for `serde_json`'s `Value` counts as one (the filter skips what
/// it does not read, so it may judge either way).
fn usage_only(seg: &[u8]) -> bool {
    let Some(e) = event_data(seg) else {
        return false;
    };
    if text_depth(&e.data) >= SERDE_DEPTH {
        return true;
    }
    // The filter skips fields it does not read: judge the data leniently.
    let text = String::from_utf8_lossy(&e.data);
    let Ok(v) = serde_json::from_slice::<Value>(&lenient(text.as_bytes())) else {
        return false;
    };
    v.get("choices")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
        && v.get("usage").is_some_and(|u| !u.is_null())
}

/// A plain usage-only chunk the filter must remove: written literally, no
/// repeated keys.
fn must_remove(seg: &[u8], at_end: bool) -> bool {
    usage_only(seg)
        && !(at_end && seg.ends_with(b"\r"))
        && find(seg, b"\"usage\"").is_some()
        && event_data(seg).is_some_and(|e| {
            has_duplicate_top_level_key(&e.data) == Some(false) && text_depth(&e.data) < SERDE_DEPTH
        })
}

pub(crate) fn check_usage_filter(input: &[u8]) -> Result<(), String> {
    let mut outputs: Vec<Vec<u8>> = Vec::new();
    for pieces in chunkings(input) {
        let mut a = UsageChunkFilter::new();
        let mut b = UsageChunkFilter::new();
        let mut via_push = Vec::new();
        let mut via_bytes = Vec::new();
        for piece in &pieces {
            via_push.extend(a.push(piece));
            via_bytes.extend_from_slice(&b.push_bytes(Bytes::copy_from_slice(piece)));
        }
        via_push.extend(a.finish());
        via_bytes.extend(b.finish());
        if via_push != via_bytes {
            return Err(format!(
                "usage filter: push and push_bytes differ ({} pieces)",
                pieces.len()
            ));
        }
        outputs.push(via_push);
    }
    if outputs.windows(2).any(|w| w[0] != w[1]) {
        return Err("usage filter: the output depends on the chunking".into());
    }
    let out = outputs.pop().unwrap_or_default();
    let (segs, tail) = segments(input);
    let mut pos = 0;
    let n = segs.len();
    for (i, seg) in segs.into_iter().enumerate() {
        let at_end = i + 1 == n && tail.is_empty();
        if out[pos..].starts_with(seg) {
            if must_remove(seg, at_end) {
                return Err(format!(
                    "usage filter: kept a usage-only event: {:?}",
                    String::from_utf8_lossy(seg)
                ));
            }
            pos += seg.len();
        } else if !usage_only(seg) {
            return Err(format!(
                "usage filter: dropped or changed an event it must keep: {:?}",
                String::from_utf8_lossy(seg)
            ));
        }
    }
    // The unterminated tail passes as is, except that a usage-only chunk may be
    // dropped (`finish` removes it like a complete one; an SSE client discards
    // an event cut off by the end of the stream anyway).
    let rest = &out[pos..];
    if rest != tail && !(rest.is_empty() && usage_only(tail)) {
        return Err("usage filter: the unterminated tail was not passed as is".into());
    }
    if !parse(&out[..pos], usize::MAX).boundary {
        return Err("usage filter: the output's events do not end on a boundary".into());
    }
    Ok(())
}

pub(crate) fn check_passthrough(input: &[u8]) -> Result<(), String> {
    for (name, make) in [
        ("anthropic", Passthrough::anthropic as fn() -> Passthrough),
        ("responses", Passthrough::responses),
    ] {
        let mut seen = Vec::new();
        for pieces in chunkings(input) {
            let mut p = make();
            let mut out = Vec::new();
            for piece in &pieces {
                let o = p.push(piece);
                if o != *piece {
                    return Err(format!("passthrough {name}: push changed the bytes"));
                }
                out.extend(o);
            }
            out.extend(p.finish());
            if out != input {
                return Err(format!("passthrough {name}: output differs from the input"));
            }
            seen.push((p.usage(), p.completed(), p.saw_upstream_error()));
        }
        if seen.windows(2).any(|w| w[0] != w[1]) {
            return Err(format!(
                "passthrough {name}: usage/completed/error depend on the chunking: {seen:?}"
            ));
        }
    }
    Ok(())
}
