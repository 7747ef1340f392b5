use super::*;

pub(crate) const STREAM: &str = "event: message_start\n\
data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-x\",\"stop_reason\":null,\"usage\":{\"input_tokens\":10,\"cache_read_input_tokens\":5,\"output_tokens\":1}}}\n\n\
event: ping\ndata: {\"type\":\"ping\"}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"hm\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"s\"}}\n\n\
event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hé\"}}\n\n\
event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"f\",\"input\":{}}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"1}\"}}\n\n\
event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n\
event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":7}}\n\n\
event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

fn data_lines(out: &[u8]) -> Vec<String> {
    String::from_utf8(out.to_vec())
        .unwrap()
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .map(str::to_string)
        .collect()
}

fn chunk(e: &str) -> Value {
    serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap()
}

#[test]
fn translates_a_whole_stream() {
    let mut t = AnthropicToOpenAi::new("logical", 9, true);
    let mut out = t.push(STREAM.as_bytes());
    out.extend(t.finish());
    let ev = data_lines(&out);
    assert_eq!(ev.len(), 9, "{ev:#?}");
    let c0 = chunk(&ev[0]);
    assert_eq!(c0["id"], "chatcmpl-msg_1");
    assert_eq!(c0["model"], "logical");
    assert_eq!(c0["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(
        chunk(&ev[1])["choices"][0]["delta"]["reasoning_content"],
        "hm"
    );
    assert_eq!(chunk(&ev[2])["choices"][0]["delta"]["content"], "Hé");
    assert_eq!(
        chunk(&ev[3])["choices"][0]["delta"]["tool_calls"][0],
        json!({"index": 0, "id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": ""}})
    );
    assert_eq!(
        chunk(&ev[4])["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"],
        "{\"a\":"
    );
    assert_eq!(
        chunk(&ev[5])["choices"][0]["delta"]["tool_calls"][0]["index"],
        0
    );
    assert_eq!(chunk(&ev[6])["choices"][0]["finish_reason"], "tool_calls");
    let u = chunk(&ev[7]);
    assert_eq!(u["choices"], json!([]));
    assert_eq!(u["usage"]["prompt_tokens"], 15);
    assert_eq!(u["usage"]["completion_tokens"], 7);
    assert_eq!(u["usage"]["prompt_tokens_details"]["cached_tokens"], 5);
    assert_eq!(ev[8], "data: [DONE]");
    assert!(t.completed());
    assert!(!t.saw_upstream_error());
    assert_eq!(t.usage(), Some(Usage::new(15, 7, Some(5))));
}

#[test]
fn usage_chunk_only_when_asked() {
    let mut t = AnthropicToOpenAi::new("m", 0, false);
    let out = t.push(STREAM.as_bytes());
    assert_eq!(data_lines(&out).len(), 8);
    assert!(t.usage().is_some());
}

#[test]
fn every_stop_reason_in_message_delta() {
    for (s, f) in [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
    ] {
        let mut t = AnthropicToOpenAi::new("m", 0, false);
        let ev = format!("data: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"{s}\"}},\"usage\":{{\"output_tokens\":1}}}}\n\n");
        let out = t.push(ev.as_bytes());
        assert_eq!(
            chunk(&data_lines(&out)[0])["choices"][0]["finish_reason"],
            f
        );
    }
}

#[test]
fn error_events_end_the_stream_without_done() {
    let mut t = AnthropicToOpenAi::new("m", 0, true);
    let mut out = t.push(b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n");
    out.extend(t.push(b"event: error\r\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\r\n\r\n"));
    out.extend(t.push(b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
    out.extend(t.finish());
    let ev = data_lines(&out);
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[1], "event: error\ndata: {\"error\":{\"code\":\"overloaded_error\",\"message\":\"Overloaded\",\"type\":\"upstream_error\"}}");
    assert!(t.saw_upstream_error());
    assert!(!t.completed());
}

#[test]
fn a_truncated_stream_is_not_completed() {
    let mut t = AnthropicToOpenAi::new("m", 0, true);
    let cut = &STREAM.as_bytes()[..STREAM.len() / 2];
    t.push(cut);
    let tail = t.finish();
    assert!(!String::from_utf8(tail).unwrap().contains("[DONE]"));
    assert!(!t.completed());
}
