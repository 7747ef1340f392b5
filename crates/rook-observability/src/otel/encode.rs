//! OTLP/protobuf encoding of a batch of spans: one `ExportTraceServiceRequest`
//! with one resource (`service.name`, `service.version`, `service.instance.id`)
//! and one instrumentation scope (`rook`), built from the official generated
//! message types of `opentelemetry-proto` and encoded with `prost`.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::resource::v1::Resource as ProtoResource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, SpanFlags, Status,
};
use prost::Message;

use super::span::{AttrValue, SpanData, SpanKind, SpanStatus};

/// The instrumentation scope name of Rook's spans.
pub const SCOPE_NAME: &str = "rook";

/// Who produced the spans: the OTLP resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// `service.name` (`[telemetry] service_name`, default `rook`).
    pub service_name: String,
    /// `service.version`: Rook's version.
    pub service_version: String,
    /// `service.instance.id`: the instance id Rook shows in `/api/status`.
    pub instance_id: String,
}

/// The `ExportTraceServiceRequest` for `spans`, encoded (the body of an OTLP/HTTP
/// `application/x-protobuf` POST to `/v1/traces`).
pub fn encode_traces(resource: &Resource, spans: &[SpanData]) -> Vec<u8> {
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(ProtoResource {
                attributes: vec![
                    kv(
                        "service.name",
                        &AttrValue::from(resource.service_name.as_str()),
                    ),
                    kv(
                        "service.version",
                        &AttrValue::from(resource.service_version.as_str()),
                    ),
                    kv(
                        "service.instance.id",
                        &AttrValue::from(resource.instance_id.as_str()),
                    ),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: SCOPE_NAME.to_owned(),
                    version: resource.service_version.clone(),
                    ..Default::default()
                }),
                spans: spans.iter().map(to_proto).collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    request.encode_to_vec()
}

fn to_proto(s: &SpanData) -> Span {
    // W3C flags (sampled: Rook only exports what it samples) and whether the
    // parent is remote, as the OTLP span flags carry them.
    let mut flags = 0x01 | SpanFlags::ContextHasIsRemoteMask as u32;
    if s.parent_is_remote {
        flags |= SpanFlags::ContextIsRemoteMask as u32;
    }
    Span {
        trace_id: s.trace_id.to_bytes().to_vec(),
        span_id: s.span_id.to_bytes().to_vec(),
        trace_state: s.trace_state.clone(),
        parent_span_id: s
            .parent_span_id
            .map(|p| p.to_bytes().to_vec())
            .unwrap_or_default(),
        flags,
        name: s.name.clone(),
        kind: match s.kind {
            SpanKind::Server => span::SpanKind::Server,
            SpanKind::Client => span::SpanKind::Client,
            SpanKind::Internal => span::SpanKind::Internal,
        } as i32,
        start_time_unix_nano: s.start_unix_nanos,
        end_time_unix_nano: s.end_unix_nanos.max(s.start_unix_nanos),
        attributes: s.attributes.iter().map(|(k, v)| kv(k, v)).collect(),
        status: Some(match &s.status {
            SpanStatus::Unset => Status::default(),
            SpanStatus::Error(message) => Status {
                message: message.clone(),
                code: status::StatusCode::Error as i32,
            },
        }),
        ..Default::default()
    }
}

fn kv(key: &str, value: &AttrValue) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(any(value)),
        ..Default::default()
    }
}

fn any(value: &AttrValue) -> AnyValue {
    use any_value::Value;
    let v = match value {
        AttrValue::Str(s) => Value::StringValue(s.clone()),
        AttrValue::Int(n) => Value::IntValue(*n),
        AttrValue::Bool(b) => Value::BoolValue(*b),
        AttrValue::Double(d) => Value::DoubleValue(*d),
        AttrValue::StrList(list) => Value::ArrayValue(ArrayValue {
            values: list
                .iter()
                .map(|s| AnyValue {
                    value: Some(Value::StringValue(s.clone())),
                })
                .collect(),
        }),
    };
    AnyValue { value: Some(v) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otel::span::{SpanId, TraceId};

    fn sample() -> SpanData {
        SpanData {
            trace_id: TraceId::from_u128(0x4bf92f3577b34da6a3ce929d0e0e4736),
            span_id: SpanId::from_u64(0x1111),
            parent_span_id: Some(SpanId::from_u64(0x00f067aa0ba902b7)),
            parent_is_remote: true,
            trace_state: "rojo=1".into(),
            name: "chat gpt-4o".into(),
            kind: SpanKind::Server,
            start_unix_nanos: 1_000,
            end_unix_nanos: 2_000,
            attributes: vec![
                ("gen_ai.request.model", AttrValue::from("gpt-4o")),
                ("gen_ai.usage.input_tokens", AttrValue::Int(12)),
                ("rook.stream", AttrValue::Bool(false)),
                ("x.ratio", AttrValue::Double(0.5)),
                (
                    "gen_ai.response.finish_reasons",
                    AttrValue::StrList(vec!["stop".into()]),
                ),
            ],
            status: SpanStatus::Error("server_error".into()),
        }
    }

    fn string(v: &Option<AnyValue>) -> Option<&str> {
        match v.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s),
            _ => None,
        }
    }

    #[test]
    fn round_trips_through_prost() {
        let resource = Resource {
            service_name: "rook-test".into(),
            service_version: "1.2.3".into(),
            instance_id: "inst-9".into(),
        };
        let mut root = sample();
        root.parent_span_id = None;
        root.parent_is_remote = false;
        root.kind = SpanKind::Client;
        root.status = SpanStatus::Unset;
        let bytes = encode_traces(&resource, &[sample(), root]);
        let back = ExportTraceServiceRequest::decode(bytes.as_slice()).unwrap();
        assert_eq!(back.resource_spans.len(), 1);
        let rs = &back.resource_spans[0];
        let res: Vec<(&str, Option<&str>)> = rs
            .resource
            .as_ref()
            .unwrap()
            .attributes
            .iter()
            .map(|kv| (kv.key.as_str(), string(&kv.value)))
            .collect();
        assert_eq!(
            res,
            [
                ("service.name", Some("rook-test")),
                ("service.version", Some("1.2.3")),
                ("service.instance.id", Some("inst-9")),
            ]
        );
        let scope = &rs.scope_spans[0];
        assert_eq!(scope.scope.as_ref().unwrap().name, "rook");
        let [s, r] = &scope.spans[..] else {
            panic!("two spans expected")
        };
        assert_eq!(hex(&s.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(hex(&s.span_id), "0000000000001111");
        assert_eq!(hex(&s.parent_span_id), "00f067aa0ba902b7");
        assert_eq!(s.trace_state, "rojo=1");
        assert_eq!(s.name, "chat gpt-4o");
        assert_eq!(s.kind, span::SpanKind::Server as i32);
        assert_eq!(
            (s.start_time_unix_nano, s.end_time_unix_nano),
            (1_000, 2_000)
        );
        assert_eq!(s.flags, 0x301);
        let status = s.status.as_ref().unwrap();
        assert_eq!(status.code, status::StatusCode::Error as i32);
        assert_eq!(status.message, "server_error");
        let attr = |k: &str| {
            s.attributes
                .iter()
                .find(|kv| kv.key == k)
                .and_then(|kv| kv.value.clone())
                .and_then(|v| v.value)
        };
        assert_eq!(
            attr("gen_ai.request.model"),
            Some(any_value::Value::StringValue("gpt-4o".into()))
        );
        assert_eq!(
            attr("gen_ai.usage.input_tokens"),
            Some(any_value::Value::IntValue(12))
        );
        assert_eq!(
            attr("rook.stream"),
            Some(any_value::Value::BoolValue(false))
        );
        assert_eq!(attr("x.ratio"), Some(any_value::Value::DoubleValue(0.5)));
        let Some(any_value::Value::ArrayValue(list)) = attr("gen_ai.response.finish_reasons")
        else {
            panic!("array expected")
        };
        assert_eq!(string(&Some(list.values[0].clone())), Some("stop"));
        // The root span: no parent, local, client kind, status unset.
        assert!(r.parent_span_id.is_empty());
        assert_eq!(r.flags, 0x101);
        assert_eq!(r.kind, span::SpanKind::Client as i32);
        assert_eq!(
            r.status.as_ref().unwrap().code,
            status::StatusCode::Unset as i32
        );
    }

    #[test]
    fn an_end_before_the_start_is_clamped() {
        let mut s = sample();
        s.end_unix_nanos = 10;
        let bytes = encode_traces(
            &Resource {
                service_name: "r".into(),
                service_version: "v".into(),
                instance_id: "i".into(),
            },
            &[s],
        );
        let back = ExportTraceServiceRequest::decode(bytes.as_slice()).unwrap();
        let span = &back.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.end_time_unix_nano, span.start_time_unix_nano);
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}
