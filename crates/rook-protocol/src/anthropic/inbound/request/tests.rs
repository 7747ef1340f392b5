use super::*;

fn opts() -> InboundOptions {
    InboundOptions {
        upstream_model: "gpt-up".into(),
        max_completion_tokens: false,
    }
}

fn tr(v: Value) -> Result<Value, TranslateError> {
    translate(&v, &opts())
}

fn base(extra: Value) -> Value {
    let mut v = json!({"model": "claude", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

#[test]
fn probes() {
    let p = probe_messages(br#"{"model":"c","max_tokens":5,"stream":true,"messages":[]}"#).unwrap();
    assert_eq!(
        p,
        MessagesProbe {
            model: "c".into(),
            stream: true,
            max_tokens: 5
        }
    );
    for bad in [
        &b"nope"[..],
        b"[]",
        br#"{"max_tokens":5}"#,
        br#"{"model":"c"}"#,
        br#"{"model":"c","max_tokens":0}"#,
        br#"{"model":"c","max_tokens":5,"stream":"y"}"#,
    ] {
        assert_eq!(
            probe_messages(bad).unwrap_err().code(),
            "invalid_request",
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn translates_a_conversation() {
    let v = tr(json!({
        "model": "claude", "max_tokens": 100, "stream": true, "temperature": 0.3, "top_p": 0.8,
        "stop_sequences": ["END"], "metadata": {"user_id": "u"}, "service_tier": "auto",
        "system": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
        "thinking": {"type": "enabled", "budget_tokens": 4000},
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "look"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA"}},
                {"type": "image", "source": {"type": "url", "url": "https://x/i.png"}}
            ]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "t", "signature": "s"},
                {"type": "text", "text": "calling"},
                {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "r"}]},
                {"type": "text", "text": "go on"}
            ]}
        ],
        "tools": [{"name": "f", "description": "d", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": true}
    }))
    .unwrap();
    assert_eq!(v["model"], "gpt-up");
    assert_eq!(v["max_tokens"], 100);
    assert_eq!(v["stream_options"], json!({"include_usage": true}));
    assert_eq!(v["stop"], json!(["END"]));
    assert_eq!(v["user"], "u");
    assert_eq!(v["reasoning_effort"], "medium");
    assert!(v.get("service_tier").is_none());
    let m = v["messages"].as_array().unwrap();
    assert_eq!(m[0], json!({"role": "system", "content": "a\n\nb"}));
    assert_eq!(
        m[1]["content"][1]["image_url"]["url"],
        "data:image/png;base64,AA"
    );
    assert_eq!(m[1]["content"][2]["image_url"]["url"], "https://x/i.png");
    assert_eq!(
        m[2],
        json!({"role": "assistant", "content": "calling", "tool_calls": [{"id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]})
    );
    assert_eq!(
        m[3],
        json!({"role": "tool", "tool_call_id": "toolu_1", "content": "r"})
    );
    assert_eq!(m[4]["content"][0]["text"], "go on");
    assert_eq!(
        v["tools"][0],
        json!({"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}}})
    );
    assert_eq!(v["tool_choice"], "required");
    assert_eq!(v["parallel_tool_calls"], false);
}

#[test]
fn tool_choice_and_thinking_tables() {
    let tools = json!([{"name": "f", "input_schema": {"type": "object"}}]);
    for (tc, want) in [
        (json!({"type": "auto"}), json!("auto")),
        (json!({"type": "any"}), json!("required")),
        (json!({"type": "none"}), json!("none")),
        (
            json!({"type": "tool", "name": "f"}),
            json!({"type": "function", "function": {"name": "f"}}),
        ),
    ] {
        assert_eq!(
            tr(base(json!({"tools": tools, "tool_choice": tc}))).unwrap()["tool_choice"],
            want
        );
    }
    for (budget, effort) in [
        (1024, "low"),
        (2048, "low"),
        (2049, "medium"),
        (8192, "medium"),
        (8193, "high"),
        (32000, "high"),
    ] {
        let v = tr(base(
            json!({"thinking": {"type": "enabled", "budget_tokens": budget}}),
        ))
        .unwrap();
        assert_eq!(v["reasoning_effort"], effort, "{budget}");
    }
    assert!(tr(base(json!({"thinking": {"type": "disabled"}})))
        .unwrap()
        .get("reasoning_effort")
        .is_none());
    let v = translate(
        &base(json!({})),
        &InboundOptions {
            upstream_model: "o3".into(),
            max_completion_tokens: true,
        },
    )
    .unwrap();
    assert_eq!(v["max_completion_tokens"], 100);
    assert!(v.get("max_tokens").is_none());
}

#[test]
fn rejections() {
    let table: &[(Value, &str)] = &[
        (json!({"top_k": 5}), "top_k"),
        (json!({"mcp_servers": [{"url": "x"}]}), "mcp_servers"),
        (json!({"container": "c"}), "container"),
        (
            json!({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}),
            "tools[0].type",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]}),
            "messages[0].content[0].type",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "file", "file_id": "f"}}]}]}),
            "messages[0].content[0].source.type",
        ),
        (json!({"system": [{"type": "image"}]}), "system[0].type"),
        (json!({"thinking": {"type": "adaptive"}}), "thinking.type"),
    ];
    for (extra, field) in table {
        assert_eq!(
            tr(base(extra.clone())).unwrap_err(),
            TranslateError::unsupported(*field, "openai"),
            "{extra}"
        );
    }
    assert_eq!(
        tr(base(
            json!({"messages": [{"role": "system", "content": "x"}]})
        ))
        .unwrap_err()
        .code(),
        "invalid_request"
    ); // Sampling values that are not numbers, stop sequences that are not
       // strings (found by fuzzing: passed on as they were).
    for extra in [
        json!({"temperature": [0.2]}),
        json!({"top_p": "high"}),
        json!({"stop_sequences": [1]}),
        // A tool_use block without id or name (found by fuzzing: `"name": null`).
        json!({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": [{"type": "tool_use", "input": {}}]}]}),
    ] {
        assert_eq!(
            tr(base(extra.clone())).unwrap_err().code(),
            "invalid_request",
            "{extra}"
        );
    }
}
