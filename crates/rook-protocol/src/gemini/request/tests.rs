use super::*;

fn tr(v: Value) -> Result<Value, TranslateError> {
    to_gemini(&serde_json::to_vec(&v).unwrap()).map(|b| serde_json::from_slice(&b).unwrap())
}

fn base(extra: Value) -> Value {
    let mut v = json!({"model": "logical", "messages": [{"role": "user", "content": "hi"}]});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

#[test]
fn maps_a_conversation() {
    let v = tr(json!({
        "model": "m", "temperature": 0.2, "top_p": 0.9, "max_completion_tokens": 50, "stop": "END", "n": 2,
        "presence_penalty": 0.1, "frequency_penalty": 0.2, "seed": 5, "user": "u", "store": false,
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
        "reasoning_effort": "medium",
        "messages": [
            {"role": "system", "content": "s"},
            {"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,QQ=="}}]},
            {"role": "assistant", "content": "ok", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "{\"r\":2}"},
            {"role": "tool", "tool_call_id": "c1", "content": "plain"},
            {"role": "user", "content": "and?"}
        ],
        "tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object", "additionalProperties": false}}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}}
    }))
    .unwrap();
    assert_eq!(v["systemInstruction"], json!({"parts": [{"text": "s"}]}));
    let c = v["contents"].as_array().unwrap();
    assert_eq!(c.len(), 3);
    assert_eq!(
        c[0],
        json!({"role": "user", "parts": [{"text": "look"}, {"inlineData": {"mimeType": "image/jpeg", "data": "QQ=="}}]})
    );
    assert_eq!(
        c[1],
        json!({"role": "model", "parts": [{"text": "ok"}, {"functionCall": {"name": "f", "args": {"a": 1}}}]})
    );
    assert_eq!(
        c[2]["parts"][0],
        json!({"functionResponse": {"name": "f", "response": {"r": 2}}})
    );
    assert_eq!(
        c[2]["parts"][1],
        json!({"functionResponse": {"name": "f", "response": {"content": "plain"}}})
    );
    assert_eq!(c[2]["parts"][2], json!({"text": "and?"}));
    assert_eq!(
        v["generationConfig"],
        json!({
            "temperature": 0.2, "topP": 0.9, "maxOutputTokens": 50, "stopSequences": ["END"], "candidateCount": 2,
            "presencePenalty": 0.1, "frequencyPenalty": 0.2, "seed": 5,
            "responseMimeType": "application/json", "responseJsonSchema": {"type": "object"},
            "thinkingConfig": {"thinkingBudget": 8192, "includeThoughts": true}
        })
    );
    assert_eq!(
        v["tools"],
        json!([{"functionDeclarations": [{"name": "f", "description": "d", "parametersJsonSchema": {"type": "object", "additionalProperties": false}}]}])
    );
    assert_eq!(
        v["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}})
    );
}

#[test]
fn tool_choice_and_formats() {
    let tools = json!([{"type": "function", "function": {"name": "f"}}]);
    for (choice, want) in [
        (json!("auto"), json!({"mode": "AUTO"})),
        (json!("none"), json!({"mode": "NONE"})),
        (json!("required"), json!({"mode": "ANY"})),
    ] {
        let v = tr(base(json!({"tools": tools, "tool_choice": choice}))).unwrap();
        assert_eq!(v["toolConfig"]["functionCallingConfig"], want);
    }
    let v = tr(base(json!({"response_format": {"type": "json_object"}}))).unwrap();
    assert_eq!(
        v["generationConfig"],
        json!({"responseMimeType": "application/json"})
    );
    let v = tr(base(json!({"reasoning_effort": "minimal"}))).unwrap();
    assert_eq!(
        v["generationConfig"]["thinkingConfig"],
        json!({"thinkingBudget": 0, "includeThoughts": false})
    );
    let v = tr(base(json!({}))).unwrap();
    assert_eq!(
        v,
        json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    );
}

#[test]
fn rejections() {
    let tools = json!([{"type": "function", "function": {"name": "f"}}]);
    let table: &[(Value, &str)] = &[
        (json!({"n": 2, "stream": true}), "n"),
        (json!({"logprobs": true}), "logprobs"),
        (json!({"top_logprobs": 2}), "top_logprobs"),
        (json!({"logit_bias": {"1": 1}}), "logit_bias"),
        (json!({"audio": {"voice": "x"}}), "audio"),
        (json!({"modalities": ["audio"]}), "modalities"),
        (
            json!({"web_search_options": {"x": 1}}),
            "web_search_options",
        ),
        (
            json!({"tools": tools, "parallel_tool_calls": false}),
            "parallel_tool_calls",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]}),
            "messages[0].content (image by URL)",
        ),
        (
            json!({"messages": [{"role": "developer", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}]}]}),
            "messages[0].content",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "file", "file": {}}]}]}),
            "messages[0].content[0].type",
        ),
    ];
    for (extra, field) in table {
        assert_eq!(
            tr(base(extra.clone())).unwrap_err(),
            TranslateError::unsupported(*field, "gemini"),
            "{extra}"
        );
    }
    let orphan = json!({"messages": [{"role": "tool", "tool_call_id": "nope", "content": "x"}]});
    assert_eq!(tr(base(orphan)).unwrap_err().code(), "invalid_request");
}
