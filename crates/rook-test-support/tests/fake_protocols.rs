//! Tests of the fake upstream's Anthropic, Gemini and extra OpenAI shapes.

// Test code: panicking on unexpected errors is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rook_test_support::fake::{embedding_for, AUTO_CHUNKS, AUTO_CONTENT};
use rook_test_support::{http, FakeUpstream, Reply, SseEvent};
use serde_json::{json, Value};

fn anthropic_body(stream: bool) -> Value {
    json!({"model": "claude-x", "max_tokens": 100, "stream": stream,
           "messages": [{"role": "user", "content": "hi"}]})
}

fn gemini_body() -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
}

fn types(events: &[SseEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| e.event.clone().unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn anthropic_messages_buffered_and_streamed() {
    let f = FakeUpstream::start().await;
    let url = format!("{}/messages", f.base_url());
    let r = http::post_json(&url, &[], &anthropic_body(false))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["model"], "claude-x");
    assert!(v["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(
        v["content"],
        json!([{"type": "text", "text": AUTO_CONTENT}])
    );
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(v["stop_sequence"], Value::Null);
    assert_eq!(v["usage"], json!({"input_tokens": 10, "output_tokens": 5}));

    let r = http::post_json(&url, &[], &anthropic_body(true))
        .await
        .unwrap();
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let events = r.sse();
    let mut expected = vec!["message_start", "content_block_start", "ping"];
    expected.extend(std::iter::repeat_n(
        "content_block_delta",
        AUTO_CHUNKS.len(),
    ));
    expected.extend(["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(types(&events), expected);
    // Each data carries its own type too.
    for e in &events {
        assert_eq!(e.json().unwrap()["type"], e.event.clone().unwrap());
    }
    let start = events[0].json().unwrap();
    assert_eq!(start["message"]["model"], "claude-x");
    assert_eq!(start["message"]["content"], json!([]));
    assert_eq!(start["message"]["usage"]["input_tokens"], 10);
    let text: String = events
        .iter()
        .filter_map(|e| e.json())
        .filter(|j| j["delta"]["type"] == "text_delta")
        .map(|j| j["delta"]["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(text, AUTO_CONTENT);
    let delta = events[events.len() - 2].json().unwrap();
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], 5);

    // Scripted text, usage, and `Reply::stream` on this path.
    f.push(Reply::chat("scripted").usage(3, 4));
    f.push(Reply::stream(vec!["a".into(), "b".into()]));
    let v = http::post_json(&url, &[], &anthropic_body(true))
        .await
        .unwrap()
        .json();
    assert_eq!(v["content"][0]["text"], "scripted");
    assert_eq!(v["usage"], json!({"input_tokens": 3, "output_tokens": 4}));
    let events = http::post_json(&url, &[], &anthropic_body(false))
        .await
        .unwrap()
        .sse();
    assert_eq!(events.len(), 8);
    assert_eq!(f.requests_to("/messages").len(), 4);
    assert_eq!(f.request_count(), 4);
}

#[tokio::test]
async fn anthropic_tool_use_buffered_and_streamed() {
    let f = FakeUpstream::start().await;
    let url = format!("{}/messages", f.base_url());
    let args = json!({"city": "Paris", "unit": "celsius"});
    f.push(Reply::anthropic_tool_use("get_weather", args.clone()));
    f.push(Reply::tool_call("get_weather", args.clone()));
    let v = http::post_json(&url, &[], &anthropic_body(false))
        .await
        .unwrap()
        .json();
    assert_eq!(v["stop_reason"], "tool_use");
    let block = &v["content"][0];
    assert_eq!(block["type"], "tool_use");
    assert!(block["id"].as_str().unwrap().starts_with("toolu_"));
    assert_eq!(block["name"], "get_weather");
    assert_eq!(block["input"], args);

    let events = http::post_json(&url, &[], &anthropic_body(true))
        .await
        .unwrap()
        .sse();
    let start = events[1].json().unwrap();
    assert_eq!(start["content_block"]["type"], "tool_use");
    assert_eq!(start["content_block"]["name"], "get_weather");
    assert_eq!(start["content_block"]["input"], json!({}));
    let partials: Vec<String> = events
        .iter()
        .filter_map(|e| e.json())
        .filter(|j| j["delta"]["type"] == "input_json_delta")
        .map(|j| j["delta"]["partial_json"].as_str().unwrap().to_owned())
        .collect();
    assert!(partials.len() >= 3, "{partials:?}");
    let joined: Value = serde_json::from_str(&partials.concat()).unwrap();
    assert_eq!(joined, args);
    let delta = events[events.len() - 2].json().unwrap();
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
}

#[tokio::test]
async fn anthropic_errors_and_count_tokens() {
    let f = FakeUpstream::start().await;
    let url = format!("{}/messages", f.base_url());
    f.push(Reply::status(529));
    f.push(Reply::status(400).message("max_tokens: field required"));
    f.push(Reply::status(429).header("retry-after", "3"));
    let r = http::post_json(&url, &[], &anthropic_body(false))
        .await
        .unwrap();
    assert_eq!(r.status, 529);
    assert_eq!(
        r.json(),
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    );
    let r = http::post_json(&url, &[], &anthropic_body(false))
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    assert_eq!(r.json()["error"]["message"], "max_tokens: field required");
    let r = http::post_json(&url, &[], &anthropic_body(false))
        .await
        .unwrap();
    assert_eq!(r.json()["error"]["type"], "rate_limit_error");
    assert_eq!(r.header("retry-after"), Some("3"));

    let count = format!("{}/messages/count_tokens", f.base_url());
    let r = http::post_json(&count, &[], &anthropic_body(false))
        .await
        .unwrap();
    assert_eq!(r.json(), json!({"input_tokens": 10}));
    f.push(Reply::auto().usage(42, 0));
    let r = http::post_json(&count, &[], &anthropic_body(false))
        .await
        .unwrap();
    assert_eq!(r.json(), json!({"input_tokens": 42}));
    assert_eq!(f.requests_to("/messages/count_tokens").len(), 2);
    assert_eq!(f.requests_to("/messages").len(), 3);
}

#[tokio::test]
async fn gemini_generate_buffered_streamed_tools_and_errors() {
    let f = FakeUpstream::start().await;
    let base = format!("{}/v1beta/models/gem-1", f.origin());
    let r = http::post_json(&format!("{base}:generateContent"), &[], &gemini_body())
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let v = r.json();
    let cand = &v["candidates"][0];
    assert_eq!(cand["content"]["role"], "model");
    assert_eq!(cand["content"]["parts"], json!([{"text": AUTO_CONTENT}]));
    assert_eq!(cand["finishReason"], "STOP");
    assert_eq!(
        v["usageMetadata"],
        json!({"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15})
    );
    assert!(v["responseId"].is_string());

    let r = http::post_json(
        &format!("{base}:streamGenerateContent?alt=sse"),
        &[],
        &gemini_body(),
    )
    .await
    .unwrap();
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert!(
        r.text().contains("\r\n\r\n"),
        "Gemini separates events with CRLF"
    );
    let events = r.sse();
    assert_eq!(events.len(), AUTO_CHUNKS.len());
    let text: String = events
        .iter()
        .map(|e| {
            e.json().unwrap()["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(text, AUTO_CONTENT);
    let last = events.last().unwrap().json().unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["usageMetadata"]["candidatesTokenCount"], 5);
    assert!(events[0].json().unwrap()["candidates"][0]
        .get("finishReason")
        .is_none());
    let streamed = f.requests_to(":streamGenerateContent");
    assert_eq!(streamed[0].query.as_deref(), Some("alt=sse"));
    assert_eq!(
        streamed[0].path,
        "/v1beta/models/gem-1:streamGenerateContent"
    );

    // Function calls, buffered and streamed.
    let args = json!({"city": "Oslo"});
    f.push(Reply::gemini_function_call("get_weather", args.clone()));
    f.push(Reply::tool_call("get_weather", args.clone()));
    let v = http::post_json(&format!("{base}:generateContent"), &[], &gemini_body())
        .await
        .unwrap()
        .json();
    assert_eq!(
        v["candidates"][0]["content"]["parts"][0]["functionCall"],
        json!({"name": "get_weather", "args": args})
    );
    let events = http::post_json(
        &format!("{base}:streamGenerateContent?alt=sse"),
        &[],
        &gemini_body(),
    )
    .await
    .unwrap()
    .sse();
    assert_eq!(events.len(), 1);
    let only = events[0].json().unwrap();
    assert_eq!(
        only["candidates"][0]["content"]["parts"][0]["functionCall"]["name"],
        "get_weather"
    );
    assert_eq!(only["candidates"][0]["finishReason"], "STOP");

    // Errors.
    f.push(Reply::status(503));
    f.push(Reply::status(429).message("Quota exceeded"));
    let r = http::post_json(&format!("{base}:generateContent"), &[], &gemini_body())
        .await
        .unwrap();
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error"]["code"], 503);
    assert_eq!(r.json()["error"]["status"], "UNAVAILABLE");
    assert!(r.json()["error"]["message"].is_string());
    let r = http::post_json(&format!("{base}:generateContent"), &[], &gemini_body())
        .await
        .unwrap();
    assert_eq!(
        r.json(),
        json!({"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}})
    );
}

#[tokio::test]
async fn embeddings_openai_float_base64_and_gemini_batch() {
    let f = FakeUpstream::start().await;
    let url = format!("{}/embeddings", f.base_url());
    let r = http::post_json(
        &url,
        &[],
        &json!({"model": "emb", "input": ["a", "b", "c"], "encoding_format": "float"}),
    )
    .await
    .unwrap();
    let v = r.json();
    assert_eq!(v["object"], "list");
    assert_eq!(v["model"], "emb");
    assert_eq!(v["data"].as_array().unwrap().len(), 3);
    assert_eq!(v["data"][2]["object"], "embedding");
    assert_eq!(v["data"][2]["index"], 2);
    assert_eq!(v["data"][2]["embedding"], json!(embedding_for(2)));
    assert_eq!(v["usage"], json!({"prompt_tokens": 10, "total_tokens": 10}));

    let v = http::post_json(
        &url,
        &[],
        &json!({"model": "emb", "input": "one", "encoding_format": "base64"}),
    )
    .await
    .unwrap()
    .json();
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    // [0.5, 0.25, -0.25, 0.125] as little-endian f32.
    assert_eq!(v["data"][0]["embedding"], "AAAAPwAAgD4AAIC+AAAAPg==");

    let r = http::post_json(
        &format!("{}/v1beta/models/emb-g:batchEmbedContents", f.origin()),
        &[],
        &json!({"requests": [
            {"model": "models/emb-g", "content": {"parts": [{"text": "a"}]}},
            {"model": "models/emb-g", "content": {"parts": [{"text": "b"}]}},
        ]}),
    )
    .await
    .unwrap();
    assert_eq!(
        r.json(),
        json!({"embeddings": [{"values": embedding_for(0)}, {"values": embedding_for(1)}]})
    );
    assert_eq!(f.request_count(), 3);
}

#[tokio::test]
async fn responses_buffered_streamed_and_tool_call() {
    let f = FakeUpstream::start().await;
    let url = format!("{}/responses", f.base_url());
    let v = http::post_json(&url, &[], &json!({"model": "r1", "input": "hi"}))
        .await
        .unwrap()
        .json();
    assert_eq!(v["object"], "response");
    assert_eq!(v["status"], "completed");
    assert_eq!(v["model"], "r1");
    assert!(v["id"].as_str().unwrap().starts_with("resp_"));
    let item = &v["output"][0];
    assert_eq!(item["type"], "message");
    assert_eq!(item["role"], "assistant");
    assert_eq!(item["content"][0]["type"], "output_text");
    assert_eq!(item["content"][0]["text"], AUTO_CONTENT);
    assert_eq!(v["usage"]["input_tokens"], 10);
    assert_eq!(v["usage"]["output_tokens"], 5);
    assert_eq!(v["usage"]["total_tokens"], 15);

    let events = http::post_json(
        &url,
        &[],
        &json!({"model": "r1", "input": "hi", "stream": true}),
    )
    .await
    .unwrap()
    .sse();
    let names = types(&events);
    assert_eq!(names.first().unwrap(), "response.created");
    assert_eq!(names.last().unwrap(), "response.completed");
    for (i, e) in events.iter().enumerate() {
        let j = e.json().unwrap();
        assert_eq!(j["type"], e.event.clone().unwrap());
        assert_eq!(j["sequence_number"], i);
    }
    let text: String = events
        .iter()
        .filter(|e| e.event.as_deref() == Some("response.output_text.delta"))
        .map(|e| e.json().unwrap()["delta"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(text, AUTO_CONTENT);
    let done = events.last().unwrap().json().unwrap();
    assert_eq!(
        done["response"]["output"][0]["content"][0]["text"],
        AUTO_CONTENT
    );
    assert_eq!(done["response"]["usage"]["total_tokens"], 15);
    assert!(!events.iter().any(|e| e.data == "[DONE]"));

    let args = json!({"q": "rust"});
    f.push(Reply::tool_call("search", args.clone()));
    let v = http::post_json(&url, &[], &json!({"model": "r1", "input": "hi"}))
        .await
        .unwrap()
        .json();
    assert_eq!(v["output"][0]["type"], "function_call");
    assert_eq!(v["output"][0]["name"], "search");
    let parsed: Value =
        serde_json::from_str(v["output"][0]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(parsed, args);
}

#[tokio::test]
async fn openai_tool_calls_legacy_completions_and_model_lookup() {
    let f = FakeUpstream::start().await;
    let chat = format!("{}/chat/completions", f.base_url());
    let args = json!({"city": "Rome"});
    f.push(Reply::tool_call("get_weather", args.clone()));
    f.push(Reply::tool_call("get_weather", args.clone()));
    let body = |stream: bool| json!({"model": "m", "stream": stream, "messages": [{"role": "user", "content": "hi"}]});
    let v = http::post_json(&chat, &[], &body(false))
        .await
        .unwrap()
        .json();
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    let call = &v["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    let parsed: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(parsed, args);

    let events = http::post_json(&chat, &[], &body(true))
        .await
        .unwrap()
        .sse();
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = events.iter().filter_map(SseEvent::json).collect();
    assert_eq!(
        chunks[1]["choices"][0]["delta"]["tool_calls"][0]["function"]["name"],
        "get_weather"
    );
    let arguments: String = chunks
        .iter()
        .filter_map(|c| {
            c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(serde_json::from_str::<Value>(&arguments).unwrap(), args);
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );

    let legacy = format!("{}/completions", f.base_url());
    let v = http::post_json(&legacy, &[], &json!({"model": "txt", "prompt": "say"}))
        .await
        .unwrap()
        .json();
    assert_eq!(v["object"], "text_completion");
    assert_eq!(v["model"], "txt");
    assert_eq!(v["choices"][0]["text"], AUTO_CONTENT);
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["total_tokens"], 15);
    let events = http::post_json(
        &legacy,
        &[],
        &json!({"model": "txt", "prompt": "say", "stream": true}),
    )
    .await
    .unwrap()
    .sse();
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let text: String = events
        .iter()
        .filter_map(SseEvent::json)
        .map(|c| c["choices"][0]["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(text, AUTO_CONTENT);
    assert_eq!(
        f.requests_to("/completions").len(),
        4,
        "chat paths end with /completions too"
    );
    assert_eq!(f.chat_requests().len(), 2);

    let r = http::get(&format!("{}/models/fake-model", f.base_url()), &[])
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["id"], "fake-model");
    assert_eq!(r.json()["object"], "model");
    let r = http::get(&format!("{}/models/nope", f.base_url()), &[])
        .await
        .unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "model_not_found");
}
