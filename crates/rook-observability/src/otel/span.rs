//! The span model: what the gateway records for one span, independent of the
//! wire format.

use std::fmt;

/// A W3C trace id: 16 bytes, not all zero when valid.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId([u8; 16]);

impl TraceId {
    /// The id made of these bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        TraceId(bytes)
    }

    /// The id made of a random `u128` (the caller's random source).
    pub const fn from_u128(n: u128) -> Self {
        TraceId(n.to_be_bytes())
    }

    /// Its bytes.
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0
    }

    /// The lower 8 bytes as a big-endian number (what ratio sampling looks at).
    pub fn low_u64(self) -> u64 {
        let mut low = [0u8; 8];
        low.copy_from_slice(&self.0[8..]);
        u64::from_be_bytes(low)
    }

    /// Whether the id is valid (not all zero).
    pub fn is_valid(self) -> bool {
        self.0 != [0; 16]
    }
}

/// A W3C span (parent) id: 8 bytes, not all zero when valid.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanId([u8; 8]);

impl SpanId {
    /// The id made of these bytes.
    pub const fn from_bytes(bytes: [u8; 8]) -> Self {
        SpanId(bytes)
    }

    /// The id made of a random `u64` (the caller's random source).
    pub const fn from_u64(n: u64) -> Self {
        SpanId(n.to_be_bytes())
    }

    /// Its bytes.
    pub const fn to_bytes(self) -> [u8; 8] {
        self.0
    }

    /// Whether the id is valid (not all zero).
    pub fn is_valid(self) -> bool {
        self.0 != [0; 8]
    }
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

/// The span kinds Rook emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    /// The request as the gateway served it.
    Server,
    /// One upstream call (an attempt).
    Client,
    /// Work inside the gateway.
    Internal,
}

/// A span's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpanStatus {
    /// Nothing said (the default for successes).
    Unset,
    /// The operation failed; the message is a short, secret-free description.
    Error(String),
}

/// An attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A floating point number.
    Double(f64),
    /// A list of strings.
    StrList(Vec<String>),
}

impl From<&str> for AttrValue {
    fn from(s: &str) -> Self {
        AttrValue::Str(s.to_owned())
    }
}

impl From<String> for AttrValue {
    fn from(s: String) -> Self {
        AttrValue::Str(s)
    }
}

impl From<i64> for AttrValue {
    fn from(n: i64) -> Self {
        AttrValue::Int(n)
    }
}

impl From<u64> for AttrValue {
    fn from(n: u64) -> Self {
        AttrValue::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

impl From<u32> for AttrValue {
    fn from(n: u32) -> Self {
        AttrValue::Int(i64::from(n))
    }
}

impl From<u16> for AttrValue {
    fn from(n: u16) -> Self {
        AttrValue::Int(i64::from(n))
    }
}

impl From<bool> for AttrValue {
    fn from(b: bool) -> Self {
        AttrValue::Bool(b)
    }
}

/// One finished span, ready to be queued and encoded.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanData {
    /// The trace it belongs to.
    pub trace_id: TraceId,
    /// Its own id.
    pub span_id: SpanId,
    /// Its parent, if any (a root span has none).
    pub parent_span_id: Option<SpanId>,
    /// Whether the parent is in another process (the client's `traceparent`).
    pub parent_is_remote: bool,
    /// The W3C `tracestate` that came with the trace (empty when none).
    pub trace_state: String,
    /// The span name (`chat gpt-4o`).
    pub name: String,
    /// Its kind.
    pub kind: SpanKind,
    /// Start, in nanoseconds since the Unix epoch.
    pub start_unix_nanos: u64,
    /// End, in nanoseconds since the Unix epoch.
    pub end_unix_nanos: u64,
    /// Its attributes, by semantic-convention name.
    pub attributes: Vec<(&'static str, AttrValue)>,
    /// Its status.
    pub status: SpanStatus,
}

impl SpanData {
    /// The value of attribute `key`, if set.
    pub fn attribute(&self, key: &str) -> Option<&AttrValue> {
        self.attributes
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_print_as_lower_hex() {
        let t = TraceId::from_u128(0x4bf92f3577b34da6a3ce929d0e0e4736);
        assert_eq!(t.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(t.low_u64(), 0xa3ce929d0e0e4736);
        assert!(t.is_valid());
        assert!(!TraceId::from_bytes([0; 16]).is_valid());
        let s = SpanId::from_u64(0x00f067aa0ba902b7);
        assert_eq!(s.to_string(), "00f067aa0ba902b7");
        assert_eq!(format!("{s:?}"), "SpanId(00f067aa0ba902b7)");
        assert!(!SpanId::from_u64(0).is_valid());
    }

    #[test]
    fn integers_convert_without_wrapping() {
        assert_eq!(AttrValue::from(u64::MAX), AttrValue::Int(i64::MAX));
        assert_eq!(AttrValue::from(7u32), AttrValue::Int(7));
        assert_eq!(AttrValue::from(429u16), AttrValue::Int(429));
    }
}
