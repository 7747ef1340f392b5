//! An incremental Server-Sent Events observer.
//!
//! It reads the bytes a relay forwards (in whatever pieces they arrive) without
//! changing them, and learns what the gateway needs: whether `data: [DONE]` was
//! sent, the last `usage` object reported, and whether the bytes so far end on an
//! event boundary (so an error event can be appended without corrupting a
//! half-sent event). Lines end in LF, CRLF or CR, as the SSE spec allows.
//!
//! [`SseParser`] is the incremental event parser underneath; the protocol
//! translators (`anthropic::stream`, `gemini::stream`, …) read upstream streams
//! with it.

use crate::usage::Usage;

/// One Server-Sent Event: its `event:` name (when given) and its `data:` lines
/// joined with `\n`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, when the event had one.
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: Vec<u8>,
}

/// An incremental SSE parser: feed bytes in any split, get complete events.
///
/// Lines end in LF, CRLF or CR (a CR at the end of one push and an LF at the
/// start of the next are one line end). Events without data are not reported
/// (comments, keep-alives). `id:` and `retry:` fields are ignored.
#[derive(Debug, Clone)]
pub struct SseParser {
    /// The current, incomplete line.
    line: Vec<u8>,
    /// The line is longer than `max_line` and is being skipped.
    overlong: bool,
    event: Option<String>,
    data: Vec<u8>,
    has_data: bool,
    /// The event's data grew past `max_line` bytes: it is dropped, not kept
    /// (an upstream sending `data:` lines without a blank line must not grow
    /// memory without bound).
    data_overlong: bool,
    /// The previous byte was a CR (a following LF belongs to the same line end).
    after_cr: bool,
    /// A non-empty line was seen since the last blank line.
    pending: bool,
    max_line: usize,
}

impl Default for SseParser {
    fn default() -> Self {
        SseParser::with_max_line(MAX_LINE)
    }
}

impl SseParser {
    /// A parser that ignores lines longer than `max_line` bytes.
    pub fn with_max_line(max_line: usize) -> Self {
        SseParser {
            line: Vec::new(),
            overlong: false,
            event: None,
            data: Vec::new(),
            has_data: false,
            data_overlong: false,
            after_cr: false,
            pending: false,
            max_line,
        }
    }

    /// Feeds bytes; calls `on_event` for every event they complete.
    pub fn feed(&mut self, bytes: &[u8], mut on_event: impl FnMut(SseEvent)) {
        let mut rest = bytes;
        while !rest.is_empty() {
            if self.after_cr {
                self.after_cr = false;
                if rest[0] == b'\n' {
                    rest = &rest[1..];
                    continue;
                }
            }
            match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(i) => {
                    self.take(&rest[..i]);
                    if rest[i] == b'\r' {
                        self.after_cr = true;
                    }
                    rest = &rest[i + 1..];
                    self.end_line(&mut on_event);
                }
                None => {
                    self.take(rest);
                    rest = &[];
                }
            }
        }
    }

    /// Feeds bytes and collects the events they complete.
    pub fn feed_collect(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        self.feed(bytes, |e| out.push(e));
        out
    }

    /// At the end of the stream: the last event, when its blank line never came.
    ///
    /// (The SSE spec drops such an event; Rook's translators take it, for
    /// upstreams that end their body without the final blank line. A cut-off
    /// JSON payload still fails to parse and is ignored.)
    pub fn finish(&mut self) -> Option<SseEvent> {
        let mut last = None;
        if !self.line.is_empty() || self.overlong {
            self.end_line(&mut |e| last = Some(e));
        }
        self.dispatch(&mut |e| last = Some(e));
        self.pending = false;
        self.after_cr = false;
        last
    }

    /// Whether the bytes so far end exactly at an event boundary.
    pub fn at_event_boundary(&self) -> bool {
        !self.pending && self.line.is_empty() && !self.overlong
    }

    fn take(&mut self, piece: &[u8]) {
        if piece.is_empty() {
            return;
        }
        if self.line.len() + piece.len() <= self.max_line {
            self.line.extend_from_slice(piece);
        } else {
            self.overlong = true;
        }
    }

    fn end_line(&mut self, on_event: &mut impl FnMut(SseEvent)) {
        if self.line.is_empty() && !self.overlong {
            self.dispatch(on_event);
            self.pending = false;
            return;
        }
        self.pending = true;
        if self.overlong {
            self.overlong = false;
            self.line.clear();
            return;
        }
        if let Some(value) = self.line.strip_prefix(b"data:") {
            let value = value.strip_prefix(b" ").unwrap_or(value);
            if self.data.len() + value.len() + 1 > self.max_line {
                self.data_overlong = true;
                self.data = Vec::new();
            }
            if !self.data_overlong {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
            }
            self.has_data = true;
        } else if let Some(value) = self.line.strip_prefix(b"event:") {
            let value = value.strip_prefix(b" ").unwrap_or(value);
            self.event = Some(String::from_utf8_lossy(value).into_owned());
        }
        // `id:`, `retry:` and comments need no inspection here.
        self.line.clear();
    }

    fn dispatch(&mut self, on_event: &mut impl FnMut(SseEvent)) {
        let event = self.event.take();
        if !self.has_data {
            return;
        }
        self.has_data = false;
        if std::mem::take(&mut self.data_overlong) {
            return;
        }
        on_event(SseEvent {
            event,
            data: std::mem::take(&mut self.data),
        });
    }
}

/// Observes an SSE byte stream. See the module docs.
#[derive(Debug, Clone)]
pub struct SseObserver {
    parser: SseParser,
    saw_done: bool,
    usage: Option<Usage>,
    events: u64,
    not_json: u64,
}

impl Default for SseObserver {
    fn default() -> Self {
        SseObserver::new()
    }
}

/// Lines longer than this are not kept for inspection (they are still relayed).
const MAX_LINE: usize = 1 << 20;

impl SseObserver {
    /// A fresh observer, at an event boundary.
    pub fn new() -> Self {
        SseObserver {
            parser: SseParser::default(),
            saw_done: false,
            usage: None,
            events: 0,
            not_json: 0,
        }
    }

    /// Feeds the next bytes of the stream.
    pub fn feed(&mut self, bytes: &[u8]) {
        let SseObserver {
            parser,
            saw_done,
            usage,
            events,
            not_json,
        } = self;
        parser.feed(bytes, |e| {
            *events += 1;
            let data = &e.data[..];
            if data == b"[DONE]" {
                *saw_done = true;
            } else if !looks_like_json_object(data) {
                *not_json += 1;
            } else if memchr_str(data, b"\"usage\"") {
                if let Some(u) = Usage::from_chunk(data) {
                    *usage = Some(u);
                }
            }
        });
    }

    /// Whether `data: [DONE]` has been seen.
    pub fn saw_done(&self) -> bool {
        self.saw_done
    }

    /// The last usage reported in a chunk, if any.
    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }

    /// Whether the bytes so far end exactly at an event boundary.
    pub fn at_event_boundary(&self) -> bool {
        self.parser.at_event_boundary()
    }

    /// Events whose data is not a JSON object (relayed all the same; a cheap
    /// check of the first and last bytes, not a parse).
    pub fn not_json_events(&self) -> u64 {
        self.not_json
    }

    /// Events dispatched so far (events with data).
    pub fn events(&self) -> u64 {
        self.events
    }
}

/// Removes the usage-only chunk (`"choices": []` with a `usage` object) from a
/// stream whose usage Rook asked for on the client's behalf
/// (`stream_options.include_usage` added upstream), so the client receives what it
/// would have received without Rook.
///
/// Bytes are held only until the event they belong to is complete; complete events
/// pass at once, unchanged.
#[derive(Debug, Default)]
pub struct UsageChunkFilter {
    held: Vec<u8>,
}

impl UsageChunkFilter {
    /// A filter with nothing held.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next bytes; returns what may be sent now (possibly empty).
    pub fn push(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.held.extend_from_slice(bytes);
        let end = complete_events_end(&self.held);
        if end == 0 {
            return Vec::new();
        }
        let rest = self.held.split_off(end);
        let complete = std::mem::replace(&mut self.held, rest);
        let mut out = Vec::with_capacity(complete.len());
        for event in split_events(&complete) {
            if !is_usage_only_event(event) {
                out.extend_from_slice(event);
            }
        }
        out
    }

    /// Like [`push`](Self::push), without copying in the common case: when
    /// nothing is held and `bytes` are whole events, they pass as they are
    /// unless one of them is the usage-only chunk (only events that mention
    /// `usage` are parsed to find out).
    pub fn push_bytes(&mut self, bytes: bytes::Bytes) -> bytes::Bytes {
        let whole_events = bytes.ends_with(b"\n\n") || bytes.ends_with(b"\r\n\r\n");
        if !self.held.is_empty() || !whole_events {
            return bytes::Bytes::from(self.push(&bytes));
        }
        if !memchr_str(&bytes, b"\"usage\"") {
            return bytes;
        }
        let mut drop: Vec<std::ops::Range<usize>> = Vec::new();
        let mut start = 0;
        for_each_event_end(&bytes, |end| {
            if is_usage_only_event(&bytes[start..end]) {
                drop.push(start..end);
            }
            start = end;
        });
        if start != bytes.len() {
            // Not whole events after all (a lone CR at the end): the slow path.
            return bytes::Bytes::from(self.push(&bytes));
        }
        if drop.is_empty() {
            return bytes;
        }
        let mut out = Vec::with_capacity(bytes.len());
        let mut at = 0;
        for r in drop {
            out.extend_from_slice(&bytes[at..r.start]);
            at = r.end;
        }
        out.extend_from_slice(&bytes[at..]);
        bytes::Bytes::from(out)
    }

    /// At the end of the stream: whatever is still held (an unterminated event).
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.held)
    }

    /// Drops held bytes (the stream failed; a half event must not reach the client).
    pub fn discard(&mut self) {
        self.held.clear();
    }
}

/// Calls `f` with the end offset of each complete event in `buf` (an event ends with
/// a blank line; lines end in LF, CRLF or CR). A CR at the very end of `buf` might be
/// the first half of a CRLF, so the scan stops before it.
fn for_each_event_end(buf: &[u8], mut f: impl FnMut(usize)) {
    let mut line_start = true;
    let mut i = 0;
    while i < buf.len() {
        let b = buf[i];
        if b == b'\r' || b == b'\n' {
            let mut next = i + 1;
            if b == b'\r' && buf.get(next) == Some(&b'\n') {
                next += 1;
            } else if b == b'\r' && next == buf.len() {
                return;
            }
            if line_start {
                f(next);
            }
            line_start = true;
            i = next;
        } else {
            line_start = false;
            i += 1;
        }
    }
}

/// The length of the prefix of `buf` made of complete events.
fn complete_events_end(buf: &[u8]) -> usize {
    let mut end = 0;
    for_each_event_end(buf, |e| end = e);
    end
}

/// Splits a buffer of complete events into events (each with its terminators).
fn split_events(buf: &[u8]) -> Vec<&[u8]> {
    let mut events = Vec::new();
    let mut start = 0;
    for_each_event_end(buf, |end| {
        events.push(&buf[start..end]);
        start = end;
    });
    if start < buf.len() {
        events.push(&buf[start..]);
    }
    events
}

/// Whether an event is the usage-only chunk: its data is a JSON object with an empty
/// `choices` array and a `usage` object.
fn is_usage_only_event(event: &[u8]) -> bool {
    if !memchr_str(event, b"\"usage\"") {
        return false;
    }
    let mut data = Vec::new();
    for line in event.split(|&b| b == b'\n' || b == b'\r') {
        if let Some(v) = line.strip_prefix(b"data:") {
            if !data.is_empty() {
                data.push(b'\n');
            }
            data.extend_from_slice(v.strip_prefix(b" ").unwrap_or(v));
        }
    }
    // An object only: a derived struct also reads an array, field by position
    // (found by fuzzing: `data: [[],"usage"]` was dropped as the usage chunk).
    if data.trim_ascii_start().first() != Some(&b'{') {
        return false;
    }
    #[derive(serde::Deserialize)]
    struct Chunk {
        choices: Option<Vec<serde::de::IgnoredAny>>,
        usage: Option<serde::de::IgnoredAny>,
    }
    match serde_json::from_slice::<Chunk>(&data) {
        Ok(c) => c.usage.is_some() && c.choices.is_some_and(|v| v.is_empty()),
        Err(_) => false,
    }
}

/// Whether `data` starts with `{` and ends with `}` (whitespace aside).
fn looks_like_json_object(data: &[u8]) -> bool {
    let t = data.trim_ascii();
    t.first() == Some(&b'{') && t.last() == Some(&b'}')
}

fn memchr_str(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_whose_data_outgrows_the_cap_is_dropped_not_kept() {
        let mut p = SseParser::with_max_line(16);
        let mut events = Vec::new();
        // Many short data lines and no blank line: memory must stay bounded.
        for _ in 0..1000 {
            p.feed(b"data: 0123456789\n", |e| events.push(e));
            assert!(p.data.len() <= 16);
        }
        p.feed(b"\n", |e| events.push(e));
        assert!(events.is_empty());
        // The next event is read normally.
        p.feed(b"data: ok\n\n", |e| events.push(e));
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data, b"ok");
        // Data exactly at the cap is kept.
        p.feed(b"data: 0123456\ndata: 01234567\n\n", |e| events.push(e));
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].data, b"0123456\n01234567");
    }

    const STREAM: &str = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n\
        : keep-alive comment\n\n\
        event: message\nid: 7\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":5,\"total_tokens\":8}}\n\n\
        data: [DONE]\n\n";

    #[test]
    fn sees_usage_and_done_in_any_split() {
        for crlf in [false, true] {
            let text = if crlf {
                STREAM.replace('\n', "\r\n")
            } else {
                STREAM.to_string()
            };
            let bytes = text.as_bytes();
            for split in 0..bytes.len() {
                let mut o = SseObserver::new();
                o.feed(&bytes[..split]);
                o.feed(&bytes[split..]);
                assert!(o.saw_done(), "split {split} crlf {crlf}");
                let u = o.usage().unwrap();
                assert_eq!(
                    (u.prompt_tokens, u.completion_tokens, u.total_tokens),
                    (3, 5, 8)
                );
                assert!(o.at_event_boundary());
            }
        }
    }

    #[test]
    fn boundary_tracking() {
        let mut o = SseObserver::new();
        assert!(o.at_event_boundary());
        o.feed(b"data: {\"x\"");
        assert!(!o.at_event_boundary());
        o.feed(b":1}\n");
        assert!(!o.at_event_boundary());
        o.feed(b"\n");
        assert!(o.at_event_boundary());
        assert!(!o.saw_done());
    }

    #[test]
    fn usage_filter_drops_only_the_usage_chunk_in_any_split() {
        let input = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n\
            data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n\n\
            data: [DONE]\n\n";
        let expected = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: [DONE]\n\n";
        for crlf in [false, true] {
            let (inp, exp) = if crlf {
                (input.replace('\n', "\r\n"), expected.replace('\n', "\r\n"))
            } else {
                (input.to_string(), expected.to_string())
            };
            for split in 0..inp.len() {
                let mut f = UsageChunkFilter::new();
                let mut out = f.push(&inp.as_bytes()[..split]);
                out.extend(f.push(&inp.as_bytes()[split..]));
                out.extend(f.finish());
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    exp,
                    "split {split} crlf {crlf}"
                );
            }
        }
    }

    #[test]
    fn push_bytes_passes_whole_events_without_copying_and_filters_like_push() {
        let mut f = UsageChunkFilter::new();
        let plain = bytes::Bytes::from_static(b"data: {\"choices\":[{\"delta\":{}}]}\n\n");
        let out = f.push_bytes(plain.clone());
        assert_eq!(out.as_ptr(), plain.as_ptr(), "no copy on the fast path");
        // Usage on a content chunk is not the usage-only chunk: no copy either.
        let with_usage = bytes::Bytes::from_static(
            b"data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":1}}\n\ndata: [DONE]\n\n",
        );
        let out = f.push_bytes(with_usage.clone());
        assert_eq!(out.as_ptr(), with_usage.as_ptr());
        let input = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n\
            data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n\n\
            data: [DONE]\n\n";
        for split in 0..input.len() {
            let mut a = UsageChunkFilter::new();
            let mut b = UsageChunkFilter::new();
            let (x, y) = input.as_bytes().split_at(split);
            let mut via_bytes = a.push_bytes(bytes::Bytes::copy_from_slice(x)).to_vec();
            via_bytes.extend_from_slice(&a.push_bytes(bytes::Bytes::copy_from_slice(y)));
            via_bytes.extend(a.finish());
            let mut via_push = b.push(x);
            via_push.extend(b.push(y));
            via_push.extend(b.finish());
            assert_eq!(via_bytes, via_push, "split {split}");
        }
    }

    #[test]
    fn events_that_are_not_json_objects_are_counted() {
        let mut o = SseObserver::new();
        o.feed(b"data: {\"choices\":[]}\n\ndata: oops\n\ndata: {\"cut\":\n\ndata: [DONE]\n\n");
        assert_eq!((o.events(), o.not_json_events()), (4, 2));
        assert!(o.saw_done());
    }

    #[test]
    fn usage_filter_keeps_arrays_that_read_like_the_usage_chunk() {
        let input = b"data: [[],\"usage\"]\n\ndata: [DONE]\n\n";
        let mut f = UsageChunkFilter::new();
        assert_eq!(f.push(input), input);
    }

    #[test]
    fn usage_filter_keeps_usage_on_content_chunks() {
        let input = "data: {\"choices\":[{\"delta\":{}}],\"usage\":{\"prompt_tokens\":1}}\n\n";
        let mut f = UsageChunkFilter::new();
        assert_eq!(f.push(input.as_bytes()), input.as_bytes());
    }

    #[test]
    fn multi_line_data_is_joined() {
        let mut o = SseObserver::new();
        o.feed(b"data: {\"usage\":\ndata: {\"prompt_tokens\":1,\"completion_tokens\":2}}\n\n");
        let u = o.usage().unwrap();
        assert_eq!(u.total_tokens, 3);
        assert_eq!(o.events(), 1);
    }
}
