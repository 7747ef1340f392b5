//! OpenTelemetry traces, the pure part: the span model Rook fills ([`SpanData`]),
//! W3C Trace Context ([`traceparent`]), the root sampling decision ([`sampling`]),
//! the GenAI semantic-convention names and value mappings ([`genai`]), and the
//! OTLP/protobuf encoding of a batch ([`encode_traces`]).
//!
//! No IO and no clock: ids and timestamps are handed in, so everything here is
//! table-tested. The gateway owns the queue and the exporter that POSTs the
//! encoded batches (`rook-gateway`'s `telemetry` module).
//!
//! ```
//! use rook_observability::otel::{
//!     encode_traces, traceparent, AttrValue, Resource, SpanData, SpanKind, SpanId, SpanStatus,
//! };
//!
//! let parent = traceparent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
//!     .unwrap();
//! let span = SpanData {
//!     trace_id: parent.trace_id,
//!     span_id: SpanId::from_bytes([1; 8]),
//!     parent_span_id: Some(parent.parent_id),
//!     parent_is_remote: true,
//!     trace_state: String::new(),
//!     name: "chat gpt-4o".into(),
//!     kind: SpanKind::Server,
//!     start_unix_nanos: 1,
//!     end_unix_nanos: 2,
//!     attributes: vec![("gen_ai.request.model", AttrValue::from("gpt-4o"))],
//!     status: SpanStatus::Unset,
//! };
//! let resource = Resource {
//!     service_name: "rook".into(),
//!     service_version: "0.1.0".into(),
//!     instance_id: "i-1".into(),
//! };
//! let bytes = encode_traces(&resource, &[span]);
//! assert!(!bytes.is_empty());
//! ```

mod encode;
pub mod genai;
pub mod sampling;
mod span;
pub mod traceparent;

pub use encode::{encode_traces, Resource, SCOPE_NAME};
pub use span::{AttrValue, SpanData, SpanId, SpanKind, SpanStatus, TraceId};
