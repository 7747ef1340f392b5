//! Property tests: probing and rewriting a chat body never changes what Rook does
//! not mean to change, the probe refuses every duplicate top-level key and
//! every body nested too deep (and nothing else), and the SSE filter only ever
//! removes the usage-only chunk.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use proptest::prelude::*;
use rook_protocol::openai::probe::{probe_chat, rewrite_chat, ProbeError, MAX_DEPTH};
use rook_protocol::sse::{SseObserver, UsageChunkFilter};
use serde_json::{json, Map, Value};

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[ -~\\u{e9}\\u{4e2d}\"\\\\]{0,12}".prop_map(Value::String),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = (Map<String, Value>, String)> {
    (
        prop::collection::btree_map("[a-z_]{1,10}", value(), 0..6),
        "[ -~\\u{e9}]{1,20}".prop_filter("non-blank", |m| !m.trim().is_empty()),
    )
        .prop_map(|(m, model)| {
            let mut obj: Map<String, Value> = m
                .into_iter()
                .filter(|(k, _)| {
                    !matches!(
                        k.as_str(),
                        "model"
                            | "stream"
                            | "stream_options"
                            | "max_tokens"
                            | "max_completion_tokens"
                    )
                })
                .collect();
            obj.insert("model".into(), Value::String(model.clone()));
            (obj, model)
        })
}

proptest! {
    #[test]
    fn rewrite_changes_only_the_model_and_stream_options(
        (obj, model) in body(),
        upstream in "[a-z0-9./:-]{1,20}",
        stream in any::<bool>(),
        pretty in any::<bool>(),
    ) {
        let mut obj = obj;
        obj.insert("stream".into(), Value::Bool(stream));
        let text = if pretty {
            serde_json::to_string_pretty(&Value::Object(obj.clone())).unwrap()
        } else {
            serde_json::to_string(&Value::Object(obj.clone())).unwrap()
        };
        let bytes = Bytes::from(text);
        let probe = probe_chat(&bytes).unwrap();
        prop_assert_eq!(&probe.model, &model);
        prop_assert_eq!(probe.stream, stream);

        let out = rewrite_chat(&bytes, &probe, Some(&upstream), stream);
        let got: Value = serde_json::from_slice(&out).unwrap();
        let mut expected = obj.clone();
        expected.insert("model".into(), Value::String(upstream.clone()));
        if stream {
            expected.insert("stream_options".into(), json!({"include_usage": true}));
        }
        prop_assert_eq!(got, Value::Object(expected));

        // Without a change, the bytes are the original ones.
        let same = rewrite_chat(&bytes, &probe, Some(&model), false);
        prop_assert_eq!(&same[..], &bytes[..]);
    }

    #[test]
    fn the_usage_filter_removes_only_the_usage_chunk(
        contents in prop::collection::vec("[a-z ]{0,8}", 1..6),
        crlf in any::<bool>(),
        cuts in prop::collection::vec(0usize..400, 0..6),
    ) {
        let nl = if crlf { "\r\n" } else { "\n" };
        let mut kept = String::new();
        for c in &contents {
            kept.push_str(&format!("data: {}{nl}{nl}", json!({"choices": [{"delta": {"content": c}}]})));
        }
        let usage = format!("data: {}{nl}{nl}", json!({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}}));
        let done = format!("data: [DONE]{nl}{nl}");
        let input = format!("{kept}{usage}{done}");
        let expected = format!("{kept}{done}");

        let mut points: Vec<usize> = cuts.into_iter().map(|c| c % (input.len() + 1)).collect();
        points.sort_unstable();
        let mut filter = UsageChunkFilter::new();
        let mut observer = SseObserver::new();
        let mut out = Vec::new();
        let mut last = 0;
        for p in points.into_iter().chain(std::iter::once(input.len())) {
            let piece = &input.as_bytes()[last..p];
            observer.feed(piece);
            out.extend(filter.push(piece));
            last = p;
        }
        out.extend(filter.finish());
        prop_assert_eq!(String::from_utf8(out).unwrap(), expected);
        prop_assert!(observer.saw_done());
        prop_assert_eq!(observer.usage().map(|u| u.total_tokens), Some(7));
    }

    #[test]
    fn a_repeated_top_level_key_is_always_refused_by_name(
        (obj, _model) in body(),
        pick in any::<prop::sample::Index>(),
        dup in value(),
        pretty in any::<bool>(),
    ) {
        let text = if pretty {
            serde_json::to_string_pretty(&Value::Object(obj.clone())).unwrap()
        } else {
            serde_json::to_string(&Value::Object(obj.clone())).unwrap()
        };
        // Without the duplicate the body is fine.
        prop_assert!(probe_chat(text.as_bytes()).is_ok());
        // Repeat one of its keys (any value) just before the closing brace.
        let keys: Vec<&String> = obj.keys().collect();
        let key = keys[pick.index(keys.len())];
        let end = text.rfind('}').unwrap();
        let injected = format!(
            "{},{}:{}{}",
            &text[..end],
            serde_json::to_string(key).unwrap(),
            dup,
            &text[end..]
        );
        prop_assert_eq!(
            probe_chat(injected.as_bytes()),
            Err(ProbeError::DuplicateKey(key.clone()))
        );
    }

    #[test]
    fn nesting_is_refused_exactly_beyond_the_cap(
        (obj, _model) in body(),
        depth in 2usize..300,
        shape in prop::collection::vec(any::<bool>(), 300),
        key in "[a-z]{1,8}",
    ) {
        // `depth` levels counting the top-level object: depth - 1 containers
        // (a random mix of arrays and objects) under one key.
        let mut open = String::new();
        let mut close = String::new();
        for is_array in shape.iter().take(depth - 1) {
            if *is_array {
                open.push('[');
                close.insert(0, ']');
            } else {
                open.push_str(r#"{"k":"#);
                close.insert(0, '}');
            }
        }
        let mut obj = obj;
        obj.remove(&key);
        let text = serde_json::to_string(&Value::Object(obj)).unwrap();
        let end = text.rfind('}').unwrap();
        // An object needs a value inside: close the innermost `{"k":` with 0.
        let leaf = if open.ends_with(':') { "0" } else { "" };
        let body = format!("{},\"{key}\":{open}{leaf}{close}{}", &text[..end], &text[end..]);
        let got = probe_chat(body.as_bytes());
        if depth <= MAX_DEPTH {
            prop_assert!(got.is_ok(), "depth {}: {:?}", depth, got);
        } else {
            prop_assert_eq!(got, Err(ProbeError::NestingTooDeep));
        }
    }
}
