//! An incremental Server-Sent Events observer.
//!
//! It reads the bytes a relay forwards (in whatever pieces they arrive) without
//! changing them, and learns what the gateway needs: whether `data: [DONE]` was
//! sent, the last `usage` object reported, and whether the bytes so far end on an
//! event boundary (so an error event can be appended without corrupting a
//! half-sent event). Lines end in LF, CRLF or CR, as the SSE spec allows.

use crate::usage::Usage;

/// Observes an SSE byte stream. See the module docs.
#[derive(Debug, Default, Clone)]
pub struct SseObserver {
    /// The current, incomplete line.
    line: Vec<u8>,
    /// Data lines of the current event, joined with `\n`.
    data: Vec<u8>,
    has_data: bool,
    /// The previous byte was a CR (a following LF belongs to the same line end).
    after_cr: bool,
    /// No bytes of an unfinished event are pending: the stream is at an event boundary.
    boundary: bool,
    saw_done: bool,
    usage: Option<Usage>,
    events: u64,
}

/// Lines longer than this are not kept for inspection (they are still relayed).
const MAX_LINE: usize = 1 << 20;

impl SseObserver {
    /// A fresh observer, at an event boundary.
    pub fn new() -> Self {
        SseObserver {
            boundary: true,
            ..Default::default()
        }
    }

    /// Feeds the next bytes of the stream.
    pub fn feed(&mut self, bytes: &[u8]) {
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
                    if self.line.len() + i <= MAX_LINE {
                        self.line.extend_from_slice(&rest[..i]);
                    }
                    if rest[i] == b'\r' {
                        self.after_cr = true;
                    }
                    rest = &rest[i + 1..];
                    self.end_line();
                }
                None => {
                    if self.line.len() + rest.len() <= MAX_LINE {
                        self.line.extend_from_slice(rest);
                    }
                    self.boundary = false;
                    rest = &[];
                }
            }
        }
    }

    fn end_line(&mut self) {
        if self.line.is_empty() {
            self.dispatch();
            self.boundary = true;
            return;
        }
        self.boundary = false;
        let line = std::mem::take(&mut self.line);
        if let Some(value) = line.strip_prefix(b"data:") {
            let value = value.strip_prefix(b" ").unwrap_or(value);
            if self.has_data {
                self.data.push(b'\n');
            }
            self.data.extend_from_slice(value);
            self.has_data = true;
        }
        // `event:`, `id:`, `retry:` and comments need no inspection here.
        self.line = line;
        self.line.clear();
    }

    fn dispatch(&mut self) {
        if !self.has_data {
            return;
        }
        self.events += 1;
        let data = &self.data[..];
        if data == b"[DONE]" {
            self.saw_done = true;
        } else if memchr_str(data, b"\"usage\"") {
            if let Some(u) = Usage::from_chunk(data) {
                self.usage = Some(u);
            }
        }
        self.data.clear();
        self.has_data = false;
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
        self.boundary && self.line.is_empty() && !self.has_data
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

fn memchr_str(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

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
