//! Property tests of the protocol translators: requests keep every text and
//! tool call through OpenAI → Anthropic → OpenAI, stream translators give the
//! same bytes for any split of their input, and the OpenAI → Anthropic stream
//! synthesiser always writes a well-formed event sequence.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use rook_protocol::anthropic::inbound::request::{translate as inbound, InboundOptions};
use rook_protocol::anthropic::inbound::stream::OpenAiToAnthropic;
use rook_protocol::anthropic::request::{to_anthropic, RequestOptions};
use rook_protocol::anthropic::stream::AnthropicToOpenAi;
use rook_protocol::gemini::stream::GeminiToOpenAi;
use rook_protocol::StreamTranslator;
use serde_json::{json, Map, Value};

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ,.!?\\u{e9}\\u{4e2d}\"\\\\\n]{0,12}"
}

fn args() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(
        "[a-z]{1,6}",
        prop_oneof![
            any::<i32>().prop_map(Value::from),
            text().prop_map(Value::String),
            any::<bool>().prop_map(Value::Bool),
        ],
        0..4,
    )
    .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>()))
}

#[derive(Debug, Clone)]
enum Msg {
    System(String),
    User(String),
    Assistant(String, Vec<(String, Value)>),
    /// Answers the n-th tool call made so far (modulo their count).
    Tool(usize, String),
}

fn msg() -> impl Strategy<Value = Msg> {
    prop_oneof![
        text().prop_map(Msg::System),
        text().prop_map(Msg::User),
        (text(), prop::collection::vec(("[a-z_]{1,8}", args()), 0..3))
            .prop_map(|(t, c)| Msg::Assistant(t, c)),
        (any::<usize>(), text()).prop_map(|(n, t)| Msg::Tool(n, t)),
    ]
}

/// What must survive: system text, user texts in order, assistant text (joined),
/// tool calls (id, name, arguments) and tool results (id, content), in order.
#[derive(Debug, PartialEq, Default)]
struct Kept {
    system: Vec<String>,
    user: Vec<String>,
    assistant: String,
    calls: Vec<(String, String, Value)>,
    results: Vec<(String, String)>,
}

fn build(msgs: &[Msg]) -> (Value, Kept) {
    let mut kept = Kept::default();
    let mut out = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    let keep = |t: &str| !t.trim().is_empty();
    for m in msgs {
        match m {
            Msg::System(t) => {
                out.push(json!({"role": "system", "content": t}));
                if keep(t) {
                    kept.system.push(t.clone());
                }
            }
            Msg::User(t) => {
                out.push(json!({"role": "user", "content": t}));
                if keep(t) {
                    kept.user.push(t.clone());
                }
            }
            Msg::Assistant(t, calls) => {
                let mut tc = Vec::new();
                for (name, a) in calls {
                    let id = format!("call_{}", ids.len());
                    ids.push(id.clone());
                    tc.push(json!({"id": id, "type": "function", "function": {"name": name, "arguments": a.to_string()}}));
                    kept.calls.push((id, name.clone(), a.clone()));
                }
                let mut m = json!({"role": "assistant", "content": t});
                if !tc.is_empty() {
                    m["tool_calls"] = Value::Array(tc);
                }
                out.push(m);
                if keep(t) {
                    kept.assistant.push_str(t);
                }
            }
            Msg::Tool(n, t) => {
                if ids.is_empty() {
                    continue;
                }
                let id = ids[n % ids.len()].clone();
                out.push(json!({"role": "tool", "tool_call_id": id, "content": t}));
                kept.results
                    .push((id, if keep(t) { t.clone() } else { String::new() }));
            }
        }
    }
    (json!({"model": "m", "messages": out}), kept)
}

fn read_back(v: &Value) -> Kept {
    let mut kept = Kept::default();
    for m in v["messages"].as_array().unwrap() {
        match m["role"].as_str().unwrap() {
            "system" => kept.system.extend(
                m["content"]
                    .as_str()
                    .unwrap()
                    .split("\n\n")
                    .map(str::to_string),
            ),
            "user" => match &m["content"] {
                Value::String(s) => kept.user.push(s.clone()),
                Value::Array(parts) => kept.user.extend(
                    parts
                        .iter()
                        .map(|p| p["text"].as_str().unwrap().to_string()),
                ),
                other => panic!("{other}"),
            },
            "assistant" => {
                kept.assistant
                    .push_str(m["content"].as_str().unwrap_or_default());
                for c in m["tool_calls"].as_array().into_iter().flatten() {
                    let args: Value =
                        serde_json::from_str(c["function"]["arguments"].as_str().unwrap()).unwrap();
                    kept.calls.push((
                        c["id"].as_str().unwrap().into(),
                        c["function"]["name"].as_str().unwrap().into(),
                        args,
                    ));
                }
            }
            "tool" => kept.results.push((
                m["tool_call_id"].as_str().unwrap().into(),
                m["content"].as_str().unwrap().into(),
            )),
            r => panic!("role {r}"),
        }
    }
    kept
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// (a) OpenAI → Anthropic → OpenAI keeps every text and every tool call.
    #[test]
    fn openai_anthropic_round_trip_keeps_texts_and_calls(msgs in prop::collection::vec(msg(), 0..10)) {
        let (req, mut want) = build(&msgs);
        // System texts that contain the join separator cannot be split back apart.
        let joined = want.system.join("\n\n");
        let anthropic = to_anthropic(&serde_json::to_vec(&req).unwrap(), &RequestOptions::new("up")).unwrap();
        let mut a: Value = serde_json::from_slice(&anthropic).unwrap();
        // Turns alternate.
        let turns = a["messages"].as_array().unwrap();
        for w in turns.windows(2) {
            prop_assert_ne!(&w[0]["role"], &w[1]["role"]);
        }
        a["max_tokens"] = json!(10);
        let back = inbound(&a, &InboundOptions { upstream_model: "m".into(), max_completion_tokens: false }).unwrap();
        let mut got = read_back(&back);
        prop_assert_eq!(got.system.join("\n\n"), joined);
        got.system.clear();
        want.system.clear();
        prop_assert_eq!(got, want);
    }
}

// ---- (b) any split of the upstream bytes gives the same output ----

fn anthropic_stream(pieces: &[String], tool_args: &[String]) -> String {
    let mut s = String::from("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n: comment\n\nevent: ping\ndata: {\"type\":\"ping\"}\n\n");
    s += "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n";
    for p in pieces {
        let d = json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}});
        s += &format!("event: content_block_delta\ndata: {d}\n\n");
    }
    s += "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n";
    s += "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"f\",\"input\":{}}}\n\n";
    for p in tool_args {
        let d = json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": p}});
        s += &format!("event: content_block_delta\ndata: {d}\n\n");
    }
    s += "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n";
    s += "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":9}}\n\n";
    s += "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    s
}

fn gemini_stream(pieces: &[String]) -> String {
    let mut s = String::new();
    for (i, p) in pieces.iter().enumerate() {
        let mut r = json!({"responseId": "r", "candidates": [{"content": {"role": "model", "parts": [{"text": p}]}}], "usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": i}});
        if i + 1 == pieces.len() {
            r["candidates"][0]["finishReason"] = json!("STOP");
        }
        s += &format!("data: {r}\n\n");
    }
    s
}

fn openai_stream(pieces: &[String]) -> String {
    let mut s = String::from("data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n");
    for p in pieces {
        s += &format!(
            "data: {}\n\n",
            json!({"id": "chatcmpl-1", "choices": [{"index": 0, "delta": {"content": p}}]})
        );
    }
    s += "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\n";
    s += "data: {\"id\":\"chatcmpl-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3}}\n\ndata: [DONE]\n\n";
    s
}

fn run(t: &mut dyn StreamTranslator, input: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.sort_unstable();
    for c in cuts {
        out.extend(t.push(&input[at..c]));
        at = c;
    }
    out.extend(t.push(&input[at..]));
    out.extend(t.finish());
    out
}

fn line_ends(s: String, crlf: u8) -> String {
    match crlf % 3 {
        0 => s,
        1 => s.replace('\n', "\r\n"),
        _ => s.replace('\n', "\r"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn anthropic_stream_any_split(pieces in prop::collection::vec(text(), 0..5), args in prop::collection::vec(text(), 0..3),
                                  cuts in prop::collection::vec(any::<usize>(), 0..8), crlf in any::<u8>(), usage in any::<bool>()) {
        let input = line_ends(anthropic_stream(&pieces, &args), crlf);
        let one = run(&mut AnthropicToOpenAi::new("m", 1, usage), input.as_bytes(), &[]);
        let mut t = AnthropicToOpenAi::new("m", 1, usage);
        prop_assert_eq!(&run(&mut t, input.as_bytes(), &cuts), &one);
        prop_assert!(t.completed());
        prop_assert!(String::from_utf8(one).unwrap().ends_with("data: [DONE]\n\n"));
    }

    #[test]
    fn gemini_stream_any_split(pieces in prop::collection::vec(text(), 1..6), cuts in prop::collection::vec(any::<usize>(), 0..8),
                               crlf in any::<u8>(), usage in any::<bool>()) {
        let input = line_ends(gemini_stream(&pieces), crlf);
        let one = run(&mut GeminiToOpenAi::new("m", 1, usage), input.as_bytes(), &[]);
        let mut t = GeminiToOpenAi::new("m", 1, usage);
        prop_assert_eq!(&run(&mut t, input.as_bytes(), &cuts), &one);
        prop_assert!(t.completed());
    }

    #[test]
    fn openai_to_anthropic_stream_any_split(pieces in prop::collection::vec(text(), 0..6), cuts in prop::collection::vec(any::<usize>(), 0..8),
                                            crlf in any::<u8>()) {
        let input = line_ends(openai_stream(&pieces), crlf);
        let one = run(&mut OpenAiToAnthropic::new("m"), input.as_bytes(), &[]);
        let mut t = OpenAiToAnthropic::new("m");
        prop_assert_eq!(&run(&mut t, input.as_bytes(), &cuts), &one);
        prop_assert!(t.completed());
    }
}

// ---- (c) the OpenAI → Anthropic synthesiser writes well-formed sequences ----

#[derive(Debug, Clone)]
enum Op {
    Content(String),
    Reasoning(String),
    /// A new tool call with its argument pieces.
    Call(String, Vec<String>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        text().prop_map(Op::Content),
        text().prop_map(Op::Reasoning),
        ("[a-z]{1,5}", prop::collection::vec(text(), 0..3)).prop_map(|(n, a)| Op::Call(n, a)),
    ]
}

fn chunk(delta: Value, finish: Option<&str>) -> String {
    format!(
        "data: {}\n\n",
        json!({"id": "chatcmpl-9", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn synthesised_anthropic_streams_are_well_formed(ops in prop::collection::vec(op(), 0..10), finish in prop::sample::select(vec!["stop", "length", "tool_calls", "content_filter"]),
                                                     done in any::<bool>(), usage in any::<bool>()) {
        let mut input = String::new();
        let mut calls = 0;
        let mut want_args: Vec<String> = Vec::new();
        for o in &ops {
            match o {
                Op::Content(t) => input += &chunk(json!({"content": t}), None),
                Op::Reasoning(t) => input += &chunk(json!({"reasoning_content": t}), None),
                Op::Call(name, pieces) => {
                    input += &chunk(json!({"tool_calls": [{"index": calls, "id": format!("c{calls}"), "type": "function", "function": {"name": name, "arguments": ""}}]}), None);
                    for p in pieces {
                        input += &chunk(json!({"tool_calls": [{"index": calls, "function": {"arguments": p}}]}), None);
                    }
                    want_args.push(pieces.concat());
                    calls += 1;
                }
            }
        }
        input += &chunk(json!({}), Some(finish));
        if usage {
            input += "data: {\"id\":\"chatcmpl-9\",\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":5,\"total_tokens\":9}}\n\n";
        }
        if done {
            input += "data: [DONE]\n\n";
        }
        let mut t = OpenAiToAnthropic::new("m");
        let mut out = t.push(input.as_bytes());
        out.extend(t.finish());
        prop_assert!(t.completed());
        let text = String::from_utf8(out).unwrap();
        let events: Vec<(String, Value)> = text
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| {
                let (name, data) = e.split_once('\n').unwrap();
                (name.strip_prefix("event: ").unwrap().to_string(), serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap())
            })
            .collect();
        prop_assert_eq!(events.first().map(|e| e.0.as_str()), Some("message_start"));
        prop_assert_eq!(events.last().map(|e| e.0.as_str()), Some("message_stop"));
        prop_assert_eq!(events[events.len() - 2].0.as_str(), "message_delta");
        let mut open: Option<u64> = None;
        let mut next = 0;
        let mut got_args: Vec<String> = Vec::new();
        for (name, data) in &events[1..events.len() - 2] {
            prop_assert_eq!(data["type"].as_str(), Some(name.as_str()));
            let index = data["index"].as_u64().unwrap();
            match name.as_str() {
                "content_block_start" => {
                    prop_assert!(open.is_none());
                    prop_assert_eq!(index, next);
                    next += 1;
                    open = Some(index);
                    if data["content_block"]["type"] == "tool_use" {
                        got_args.push(String::new());
                    }
                }
                "content_block_delta" => {
                    prop_assert_eq!(open, Some(index));
                    if let Some(p) = data["delta"]["partial_json"].as_str() {
                        got_args.last_mut().unwrap().push_str(p);
                    }
                }
                "content_block_stop" => {
                    prop_assert_eq!(open, Some(index));
                    open = None;
                }
                other => prop_assert!(false, "unexpected {}", other),
            }
        }
        prop_assert!(open.is_none());
        prop_assert_eq!(got_args, want_args);
    }
}
