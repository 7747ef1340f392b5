use super::*;

pub(crate) const STREAM: &str = "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n\
data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"th\"}}]}\n\n\
data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n\
data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"}}]}\n\n\
data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"\"}}]}}]}\n\n\
data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"a\\\":1}\"}}]}}]}\n\n\
data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n\
data: {\"id\":\"chatcmpl-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4,\"total_tokens\":13}}\n\n\
data: [DONE]\n\n";

fn events(out: &[u8]) -> Vec<(String, Value)> {
    String::from_utf8(out.to_vec())
        .unwrap()
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let (name, data) = e.split_once('\n').unwrap();
            (
                name.strip_prefix("event: ").unwrap().to_string(),
                serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn synthesises_the_messages_sequence() {
    let mut t = OpenAiToAnthropic::new("claude");
    let mut out = t.push(STREAM.as_bytes());
    out.extend(t.finish());
    let ev = events(&out);
    let names: Vec<&str> = ev.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    for (name, data) in &ev {
        assert_eq!(data["type"], name.as_str());
    }
    assert_eq!(ev[0].1["message"]["id"], "msg_1");
    assert_eq!(ev[0].1["message"]["model"], "claude");
    assert_eq!(ev[1].1["content_block"]["type"], "thinking");
    assert_eq!(
        ev[2].1["delta"],
        json!({"type": "thinking_delta", "thinking": "th"})
    );
    assert_eq!(ev[4].1["index"], 1);
    assert_eq!(
        ev[6].1["delta"],
        json!({"type": "text_delta", "text": "lo"})
    );
    assert_eq!(
        ev[8].1["content_block"],
        json!({"type": "tool_use", "id": "call_1", "name": "f", "input": {}})
    );
    assert_eq!(
        ev[9].1["delta"],
        json!({"type": "input_json_delta", "partial_json": "{\"a\":1}"})
    );
    assert_eq!(ev[10].1["index"], 2);
    assert_eq!(ev[11].1["delta"]["stop_reason"], "tool_use");
    assert_eq!(
        ev[11].1["usage"],
        json!({"input_tokens": 9, "output_tokens": 4})
    );
    assert!(t.completed());
    assert_eq!(t.usage().map(|u| u.total_tokens), Some(13));
}

#[test]
fn ends_without_done_after_a_finish_reason() {
    let mut t = OpenAiToAnthropic::new("c");
    let body = "data: {\"id\":\"x\",\"choices\":[{\"delta\":{\"content\":\"a\"},\"finish_reason\":\"length\"}]}";
    let mut out = t.push(body.as_bytes());
    out.extend(t.finish());
    let ev = events(&out);
    assert_eq!(ev.last().unwrap().0, "message_stop");
    assert_eq!(ev[ev.len() - 2].1["delta"]["stop_reason"], "max_tokens");
    assert!(t.completed());
}

#[test]
fn errors_and_truncation() {
    let mut t = OpenAiToAnthropic::new("c");
    let mut out = t.push(b"data: {\"id\":\"x\",\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\nevent: error\ndata: {\"error\":{\"message\":\"boom\",\"type\":\"upstream_error\"}}\n\ndata: [DONE]\n\n");
    out.extend(t.finish());
    let ev = events(&out);
    assert_eq!(
        ev.last().unwrap().1,
        json!({"type": "error", "error": {"type": "api_error", "message": "boom"}})
    );
    assert!(t.saw_upstream_error() && !t.completed());
    let mut t = OpenAiToAnthropic::new("c");
    t.push(b"data: {\"id\":\"x\",\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n");
    assert!(t.finish().is_empty());
    assert!(!t.completed());
}
