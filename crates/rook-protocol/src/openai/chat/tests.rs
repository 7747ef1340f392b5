use super::*;
use serde_json::json;

fn parse(v: Value) -> Result<ChatRequest, TranslateError> {
    ChatRequest::from_value(&v)
}

#[test]
fn reads_a_full_request() {
    let r = parse(json!({
        "model": "m", "stream": true, "stream_options": {"include_usage": true},
        "max_tokens": 10, "max_completion_tokens": 20, "stop": "x", "seed": 1, "store": null,
        "messages": [
            {"role": "system", "content": "s"},
            {"role": "user", "content": [{"type": "text", "text": "t"}, {"type": "image_url", "image_url": {"url": "https://i/x.png"}}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "r"}
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}}
    }))
    .unwrap();
    assert!(r.stream && r.include_usage);
    assert_eq!(r.max_tokens, Some(20));
    assert_eq!(r.stop, vec!["x"]);
    assert_eq!(r.messages.len(), 4);
    assert_eq!(
        r.messages[1].parts[1],
        ContentPart::ImageUrl("https://i/x.png".into())
    );
    assert_eq!(r.messages[2].tool_calls[0].name, "f");
    assert_eq!(r.tool_choice, Some(ToolChoice::Function("f".into())));
    assert_eq!(r.other.keys().collect::<Vec<_>>(), vec!["seed"]);
}

#[test]
fn rejects_what_no_translator_carries() {
    let table: &[(Value, &str)] = &[
        (
            json!({"model":"m","messages":[{"role":"function","name":"f","content":"x"}]}),
            "messages[0].role",
        ),
        (
            json!({"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]}),
            "messages[0].content[0].type",
        ),
        (
            json!({"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{}}]}]}),
            "messages[0].content[0].type",
        ),
        (
            json!({"model":"m","messages":[{"role":"assistant","audio":{"id":"a"}}]}),
            "messages[0].audio",
        ),
        (
            json!({"model":"m","messages":[],"tools":[{"type":"custom","custom":{}}]}),
            "tools[0].type",
        ),
        (
            json!({"model":"m","messages":[],"response_format":{"type":"grammar"}}),
            "response_format.type",
        ),
    ];
    for (body, field) in table {
        assert_eq!(
            parse(body.clone()).unwrap_err().param(),
            Some(*field),
            "{body}"
        );
    }
    for bad in [
        json!([]),
        json!({"messages":[]}),
        json!({"model":"m"}),
        json!({"model":"m","messages":[{"role":"tool","content":"x"}]}),
        json!({"model":"m","messages":[],"stop":5}),
    ] {
        assert_eq!(
            parse(bad.clone()).unwrap_err().code(),
            "invalid_request",
            "{bad}"
        );
    }
}
