//! A reference SSE reader (whole input at once, written for clarity, not
//! speed), the chunkings a stream target feeds, and checks of the streams
//! Rook writes (OpenAI chunks, Anthropic Messages events).

use std::collections::HashSet;

use rook_protocol::sse::SseEvent;
use serde_json::Value;

use crate::engine::fnv1a;

/// What the reference reader makes of a whole stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parsed {
    /// The events completed by a blank line.
    pub(crate) events: Vec<SseEvent>,
    /// The event `finish` reports (its blank line never came).
    pub(crate) last: Option<SseEvent>,
    /// Whether the bytes end exactly on an event boundary.
    pub(crate) boundary: bool,
}

/// Reads a stream the way `SseParser` documents it: lines end in LF, CRLF
/// or CR; a blank line dispatches; lines longer than `max_line` are skipped.
pub(crate) fn parse(input: &[u8], max_line: usize) -> Parsed {
    let mut events = Vec::new();
    let mut pending = false;
    let mut start = 0;
    let mut i = 0;
    // Data lines are joined with `\n`; count them so empty ones join right.
    let mut data_lines = 0usize;
    let mut ev_name: Option<String> = None;
    let mut buf: Vec<u8> = Vec::new();
    let dispatch = |events: &mut Vec<SseEvent>,
                    ev_name: &mut Option<String>,
                    buf: &mut Vec<u8>,
                    data_lines: &mut usize| {
        let name = ev_name.take();
        if *data_lines > 0 {
            events.push(SseEvent {
                event: name,
                data: std::mem::take(buf),
            });
        }
        *data_lines = 0;
        buf.clear();
    };
    let field = |l: &[u8], ev_name: &mut Option<String>, buf: &mut Vec<u8>, n: &mut usize| {
        if l.len() > max_line {
            return;
        }
        if let Some(v) = l.strip_prefix(b"data:") {
            if *n > 0 {
                buf.push(b'\n');
            }
            buf.extend_from_slice(v.strip_prefix(b" ").unwrap_or(v));
            *n += 1;
        } else if let Some(v) = l.strip_prefix(b"event:") {
            let v = v.strip_prefix(b" ").unwrap_or(v);
            *ev_name = Some(String::from_utf8_lossy(v).into_owned());
        }
    };
    while i < input.len() {
        let b = input[i];
        if b == b'\n' || b == b'\r' {
            let l = &input[start..i];
            if l.is_empty() {
                dispatch(&mut events, &mut ev_name, &mut buf, &mut data_lines);
                pending = false;
            } else {
                pending = true;
                field(l, &mut ev_name, &mut buf, &mut data_lines);
            }
            i += if b == b'\r' && input.get(i + 1) == Some(&b'\n') {
                2
            } else {
                1
            };
            start = i;
        } else {
            i += 1;
        }
    }
    let tail = &input[start..];
    let boundary = !pending && tail.is_empty();
    let mut last_events = Vec::new();
    if !tail.is_empty() {
        field(tail, &mut ev_name, &mut buf, &mut data_lines);
    }
    dispatch(&mut last_events, &mut ev_name, &mut buf, &mut data_lines);
    Parsed {
        events,
        last: last_events.pop(),
        boundary,
    }
}

/// The ways a target feeds the same bytes: at once, byte by byte, and a few
/// splits derived from the bytes themselves (so a replay feeds the same).
pub(crate) fn chunkings(input: &[u8]) -> Vec<Vec<&[u8]>> {
    let mut out = vec![vec![input]];
    if input.len() <= 4096 {
        out.push(input.chunks(1).collect());
    }
    let mut rng = fastrand::Rng::with_seed(fnv1a(input));
    for _ in 0..4 {
        let mut cuts: Vec<usize> = (0..rng.usize(1..12))
            .map(|_| rng.usize(..=input.len()))
            .collect();
        // Cuts next to line ends are where bugs live.
        for (i, &b) in input.iter().enumerate() {
            if (b == b'\r' || b == b'\n') && rng.u8(0..4) == 0 {
                cuts.push(i + usize::from(rng.bool()));
            }
        }
        cuts.sort_unstable();
        cuts.dedup();
        let mut pieces = Vec::new();
        let mut last = 0;
        for c in cuts.into_iter().chain(std::iter::once(input.len())) {
            let c = c.min(input.len());
            pieces.push(&input[last..c]);
            // Empty pushes happen too.
            last = c;
        }
        out.push(pieces);
    }
    out
}

fn data_json(e: &SseEvent, what: &str) -> Result<Value, String> {
    let v: Value = serde_json::from_slice(&e.data).map_err(|err| {
        format!(
            "{what}: event data is not JSON ({err}): {}",
            String::from_utf8_lossy(&e.data)
        )
    })?;
    if !v.is_object() {
        return Err(format!("{what}: event data is not an object: {v}"));
    }
    Ok(v)
}

/// The whole output must be complete events.
fn complete_events(out: &[u8], what: &str) -> Result<Vec<SseEvent>, String> {
    let p = parse(out, usize::MAX);
    if !p.boundary || p.last.is_some() {
        return Err(format!(
            "{what}: output does not end on an event boundary: {:?}",
            String::from_utf8_lossy(out)
        ));
    }
    Ok(p.events)
}

/// An OpenAI chunk stream as Rook writes it: chunks, then `[DONE]` or one
/// `event: error`, nothing after either.
pub(crate) fn check_openai_stream(
    out: &[u8],
    completed: bool,
    errored: bool,
) -> Result<(), String> {
    let what = "openai stream";
    let events = complete_events(out, what)?;
    let n = events.len();
    for (i, e) in events.iter().enumerate() {
        let last = i + 1 == n;
        if e.data == b"[DONE]" {
            if !last || e.event.is_some() {
                return Err(format!("{what}: [DONE] is not the last plain event"));
            }
            continue;
        }
        let v = data_json(e, what)?;
        match e.event.as_deref() {
            Some("error") => {
                if !last {
                    return Err(format!("{what}: events after an error event"));
                }
                if !v.pointer("/error/message").is_some_and(Value::is_string) {
                    return Err(format!("{what}: error event without a message: {v}"));
                }
            }
            None => {
                if v["object"] != "chat.completion.chunk"
                    || !v["id"].is_string()
                    || !v["model"].is_string()
                {
                    return Err(format!("{what}: not a chat.completion.chunk: {v}"));
                }
                let Some(choices) = v["choices"].as_array() else {
                    return Err(format!("{what}: chunk without choices: {v}"));
                };
                if choices.iter().any(|c| !c["delta"].is_object()) {
                    return Err(format!("{what}: choice without a delta: {v}"));
                }
                if choices.is_empty() && !v["usage"].is_object() {
                    return Err(format!("{what}: empty choices without usage: {v}"));
                }
            }
            Some(other) => return Err(format!("{what}: unexpected event name {other:?}")),
        }
    }
    let last = events.last();
    if completed != last.is_some_and(|e| e.data == b"[DONE]") {
        return Err(format!(
            "{what}: completed() is {completed} but the output ends with {:?}",
            last.map(|e| String::from_utf8_lossy(&e.data).into_owned())
        ));
    }
    if errored != last.is_some_and(|e| e.event.as_deref() == Some("error")) {
        return Err(format!(
            "{what}: saw_upstream_error() is {errored} but the last event disagrees"
        ));
    }
    Ok(())
}

/// An Anthropic Messages stream: `message_start` first, blocks opened,
/// fed and closed in order, `message_delta` then `message_stop` last; an
/// `error` event ends it.
pub(crate) fn check_anthropic_stream(
    out: &[u8],
    completed: bool,
    errored: bool,
) -> Result<(), String> {
    let what = "anthropic stream";
    let events = complete_events(out, what)?;
    let mut started = false;
    let mut open: Option<u64> = None;
    let mut next = 0u64;
    let mut ended = false;
    let mut closed: HashSet<u64> = HashSet::new();
    for (i, e) in events.iter().enumerate() {
        let v = data_json(e, what)?;
        let ty = v["type"].as_str().unwrap_or_default();
        if e.event.as_deref() != Some(ty) {
            return Err(format!("{what}: event name {:?} but type {ty:?}", e.event));
        }
        if ended {
            return Err(format!("{what}: {ty} after the end"));
        }
        let index = v["index"].as_u64();
        let order = |ok: bool| {
            if ok {
                Ok(())
            } else {
                Err(format!("{what}: {ty} out of order at event {i}: {v}"))
            }
        };
        match ty {
            "message_start" => {
                order(!started)?;
                started = true;
            }
            "content_block_start" => {
                order(started && open.is_none() && index == Some(next))?;
                open = index;
                next += 1;
            }
            "content_block_delta" => order(open.is_some() && index == open)?,
            "content_block_stop" => {
                order(open.is_some() && index == open)?;
                closed.extend(open.take());
            }
            "message_delta" => order(started && open.is_none())?,
            "message_stop" => {
                order(started && open.is_none())?;
                ended = true;
            }
            "error" => {
                if !v.pointer("/error/message").is_some_and(Value::is_string) {
                    return Err(format!("{what}: error without a message: {v}"));
                }
                ended = true;
            }
            other => return Err(format!("{what}: unknown event type {other:?}")),
        }
    }
    let last_ty = events
        .last()
        .map(|e| e.event.clone().unwrap_or_default())
        .unwrap_or_default();
    if completed != (last_ty == "message_stop") || errored != (last_ty == "error") {
        return Err(format!(
            "{what}: completed() {completed} / saw_upstream_error() {errored} but the last event is {last_ty:?}"
        ));
    }
    Ok(())
}
