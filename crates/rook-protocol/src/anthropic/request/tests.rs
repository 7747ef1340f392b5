use super::*;
use serde_json::json;

fn tr(v: Value) -> Result<Value, TranslateError> {
    let body = serde_json::to_vec(&v).unwrap();
    to_anthropic(&body, &RequestOptions::new("claude-up"))
        .map(|b| serde_json::from_slice(&b).unwrap())
}

fn base(extra: Value) -> Value {
    let mut v = json!({"model": "logical", "messages": [{"role": "user", "content": "hi"}]});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

#[test]
fn maps_the_basics() {
    let v = tr(base(json!({
        "max_completion_tokens": 100, "stop": ["a", "b"], "temperature": 0.5, "top_p": 0.9,
        "user": "u1", "stream": true, "stream_options": {"include_usage": true}, "seed": 3, "store": true
    })))
    .unwrap();
    assert_eq!(
        v,
        json!({
            "model": "claude-up", "max_tokens": 100, "stop_sequences": ["a", "b"],
            "temperature": 0.5, "top_p": 0.9, "metadata": {"user_id": "u1"}, "stream": true,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
        })
    );
    let v = tr(base(json!({"stop": "x", "max_tokens": 7}))).unwrap();
    assert_eq!(v["stop_sequences"], json!(["x"]));
    assert_eq!(v["max_tokens"], 7);
}

#[test]
fn system_images_tools_and_merging() {
    let v = tr(json!({
        "model": "m",
        "messages": [
            {"role": "system", "content": "s1"},
            {"role": "developer", "content": [{"type": "text", "text": "s2"}]},
            {"role": "user", "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                {"type": "image_url", "image_url": {"url": "https://x/y.jpg", "detail": "high"}}
            ]},
            {"role": "user", "content": "more"},
            {"role": "assistant", "content": "calling", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}},
                {"id": "c2", "type": "function", "function": {"name": "g", "arguments": ""}}
            ]},
            {"role": "tool", "tool_call_id": "c1", "content": "r1"},
            {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "r2"}]},
            {"role": "user", "content": "thanks"}
        ],
        "tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}}},
                  {"type": "function", "function": {"name": "g"}}],
        "tool_choice": "required", "parallel_tool_calls": false
    }))
    .unwrap();
    assert_eq!(
        v["system"],
        json!([{"type": "text", "text": "s1"}, {"type": "text", "text": "s2"}])
    );
    let m = v["messages"].as_array().unwrap();
    assert_eq!(m.len(), 3);
    assert_eq!(
        m[0]["content"][1]["source"],
        json!({"type": "base64", "media_type": "image/png", "data": "AAAA"})
    );
    assert_eq!(
        m[0]["content"][2]["source"],
        json!({"type": "url", "url": "https://x/y.jpg"})
    );
    assert_eq!(m[0]["content"][3]["text"], "more");
    assert_eq!(
        m[1]["content"][1],
        json!({"type": "tool_use", "id": "c1", "name": "f", "input": {"a": 1}})
    );
    assert_eq!(m[1]["content"][2]["input"], json!({}));
    assert_eq!(m[2]["role"], "user");
    assert_eq!(
        m[2]["content"][0],
        json!({"type": "tool_result", "tool_use_id": "c1", "content": [{"type": "text", "text": "r1"}]})
    );
    assert_eq!(m[2]["content"][1]["tool_use_id"], "c2");
    assert_eq!(m[2]["content"][2]["text"], "thanks");
    assert_eq!(
        v["tools"][0],
        json!({"name": "f", "description": "d", "input_schema": {"type": "object"}})
    );
    assert_eq!(
        v["tools"][1]["input_schema"],
        json!({"type": "object", "properties": {}})
    );
    assert_eq!(
        v["tool_choice"],
        json!({"type": "any", "disable_parallel_tool_use": true})
    );
}

#[test]
fn tool_choice_table() {
    let tools = json!([{"type": "function", "function": {"name": "f"}}]);
    let table = [
        (json!("auto"), None, json!({"type": "auto"})),
        (json!("none"), None, json!({"type": "none"})),
        (json!("required"), None, json!({"type": "any"})),
        (
            json!({"type": "function", "function": {"name": "f"}}),
            None,
            json!({"type": "tool", "name": "f"}),
        ),
        (
            json!("auto"),
            Some(false),
            json!({"type": "auto", "disable_parallel_tool_use": true}),
        ),
        (json!("none"), Some(false), json!({"type": "none"})),
        (
            json!(null),
            Some(false),
            json!({"type": "auto", "disable_parallel_tool_use": true}),
        ),
        (json!("auto"), Some(true), json!({"type": "auto"})),
    ];
    for (choice, parallel, want) in table {
        let v = tr(base(
            json!({"tools": tools, "tool_choice": choice, "parallel_tool_calls": parallel}),
        ))
        .unwrap();
        assert_eq!(v["tool_choice"], want, "{choice} {parallel:?}");
    }
    let v = tr(base(json!({"tools": tools}))).unwrap();
    assert!(v.get("tool_choice").is_none());
}

#[test]
fn thinking_budgets() {
    let table = [
        ("low", None, Some(1024), 4096),
        ("medium", None, Some(4096), 8192),
        ("high", None, Some(16384), 20480),
        ("high", Some(32000), Some(16384), 32000),
        ("low", Some(500), Some(1024), 1524),
        ("minimal", None, None, 4096),
    ];
    for (effort, max, budget, want_max) in table {
        let v = tr(base(json!({"reasoning_effort": effort, "max_tokens": max}))).unwrap();
        assert_eq!(
            v["thinking"].get("budget_tokens").and_then(Value::as_u64),
            budget,
            "{effort}"
        );
        assert_eq!(v["max_tokens"], want_max, "{effort}");
        if let Some(b) = budget {
            assert!(want_max > b);
        }
    }
    assert_eq!(
        tr(base(json!({"reasoning_effort": "extreme"})))
            .unwrap_err()
            .code(),
        "invalid_request"
    );
}

#[test]
fn every_rejection_names_its_field() {
    let tools = json!([{"type": "function", "function": {"name": "f"}}]);
    let table: &[(Value, &str)] = &[
        (json!({"n": 2}), "n"),
        (json!({"logprobs": true}), "logprobs"),
        (json!({"top_logprobs": 3}), "top_logprobs"),
        (json!({"logit_bias": {"5": 1}}), "logit_bias"),
        (json!({"presence_penalty": 0.5}), "presence_penalty"),
        (json!({"frequency_penalty": 0.5}), "frequency_penalty"),
        (
            json!({"response_format": {"type": "json_object"}}),
            "response_format",
        ),
        (
            json!({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}}),
            "response_format",
        ),
        (json!({"audio": {"voice": "alloy"}}), "audio"),
        (json!({"modalities": ["text", "audio"]}), "modalities"),
        (
            json!({"web_search_options": {"search_context_size": "low"}}),
            "web_search_options",
        ),
        (json!({"functions": [{"name": "f"}]}), "functions"),
        (json!({"temperature": 1.5}), "temperature"),
        (
            json!({"reasoning_effort": "low", "temperature": 0.2}),
            "temperature",
        ),
        (json!({"reasoning_effort": "low", "top_p": 0.5}), "top_p"),
        (
            json!({"reasoning_effort": "low", "tools": tools, "tool_choice": "required"}),
            "tool_choice",
        ),
        (
            json!({"messages": [{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "https://x"}}]}]}),
            "messages[0].content",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]}),
            "messages[0].content[0].type",
        ),
    ];
    for (extra, field) in table {
        let e = tr(base(extra.clone())).unwrap_err();
        assert_eq!(
            e,
            TranslateError::unsupported(*field, "anthropic"),
            "{extra}"
        );
        assert_eq!(e.code(), "unsupported_parameter");
    }
    // Neutral values and text-only modalities pass.
    assert!(tr(base(json!({"n": 1, "logprobs": false, "presence_penalty": 0, "modalities": ["text"], "response_format": {"type": "text"}}))).is_ok());
}

#[test]
fn invalid_requests() {
    for extra in [
        json!({"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]}]}),
        json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]}]}),
        json!({"tool_choice": "required"}),
        // Found by fuzzing: went to Anthropic as `"max_tokens": 0`.
        json!({"max_tokens": 0}),
    ] {
        assert_eq!(
            tr(base(extra.clone())).unwrap_err().code(),
            "invalid_request",
            "{extra}"
        );
    }
}
