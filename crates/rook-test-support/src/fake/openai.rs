//! OpenAI shapes: chat completions, legacy completions, embeddings, models.

use bytes::Bytes;
use hyper::Response;
use serde_json::{json, Value};

use super::{embedding_for, now_secs, split_pieces, sse_event, Answer, Ctx, FakeBody};

/// `GET /v1/models` entry (also the body of `GET /v1/models/{id}`).
pub(super) fn model_json(id: &str) -> Value {
    json!({"id": id, "object": "model", "created": 0, "owned_by": "fake"})
}

fn usage_json(ctx: &Ctx<'_>) -> Value {
    let (p, c) = ctx.usage();
    json!({"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c})
}

fn include_usage(ctx: &Ctx<'_>) -> bool {
    ctx.req
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        == Some(true)
}

fn data_events(events: Vec<Value>) -> Vec<Bytes> {
    let mut out: Vec<Bytes> = events.iter().map(|e| sse_event(None, e, false)).collect();
    out.push(Bytes::from_static(b"data: [DONE]\n\n"));
    out
}

/// `POST …/chat/completions`.
pub(super) fn chat(ctx: &Ctx<'_>, answer: &Answer<'_>) -> Response<FakeBody> {
    let id = format!("chatcmpl-fake-{}", ctx.seq);
    let call_id = format!("call_fake_{}", ctx.seq);
    let created = now_secs();
    let model = ctx.model.as_str();
    let chunk = |delta: Value, finish: Value| -> Value {
        json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        })
    };
    let (mut events, finish) = match answer {
        Answer::Text {
            pieces,
            stream: false,
        } => {
            return ctx.buffered(completion(
                ctx,
                &id,
                created,
                json!({"role": "assistant", "content": Answer::text(pieces)}),
                "stop",
            ))
        }
        Answer::Tool {
            name,
            args,
            stream: false,
        } => {
            let message = json!({
                "role": "assistant",
                "content": null,
                "tool_calls": [{
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": args.to_string()},
                }],
            });
            return ctx.buffered(completion(ctx, &id, created, message, "tool_calls"));
        }
        Answer::Text { pieces, .. } => {
            let mut events = vec![chunk(
                json!({"role": "assistant", "content": ""}),
                Value::Null,
            )];
            for p in pieces {
                events.push(chunk(json!({"content": p}), Value::Null));
            }
            (events, "stop")
        }
        Answer::Tool { name, args, .. } => {
            let mut events = vec![
                chunk(json!({"role": "assistant", "content": null}), Value::Null),
                chunk(
                    json!({"tool_calls": [{
                        "index": 0,
                        "id": call_id,
                        "type": "function",
                        "function": {"name": name, "arguments": ""},
                    }]}),
                    Value::Null,
                ),
            ];
            for piece in split_pieces(&args.to_string(), 3) {
                events.push(chunk(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
                    Value::Null,
                ));
            }
            (events, "tool_calls")
        }
    };
    events.push(chunk(json!({}), json!(finish)));
    if include_usage(ctx) {
        events.push(json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [],
            "usage": usage_json(ctx),
        }));
    }
    ctx.sse(data_events(events))
}

fn completion(ctx: &Ctx<'_>, id: &str, created: u64, message: Value, finish: &str) -> Value {
    json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": ctx.model,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": finish,
        }],
        "usage": usage_json(ctx),
    })
}

/// `POST …/completions` (legacy text completions). A tool call has no
/// counterpart here: its arguments are answered as text.
pub(super) fn completions(ctx: &Ctx<'_>, answer: &Answer<'_>) -> Response<FakeBody> {
    let id = format!("cmpl-fake-{}", ctx.seq);
    let created = now_secs();
    let (pieces, stream) = match answer {
        Answer::Text { pieces, stream } => (pieces.clone(), *stream),
        Answer::Tool { args, stream, .. } => (vec![args.to_string()], *stream),
    };
    let body = |text: &str, finish: Value| -> Value {
        json!({
            "id": id,
            "object": "text_completion",
            "created": created,
            "model": ctx.model,
            "choices": [{"text": text, "index": 0, "logprobs": null, "finish_reason": finish}],
        })
    };
    if !stream {
        let mut v = body(&Answer::text(&pieces), json!("stop"));
        v["usage"] = usage_json(ctx);
        return ctx.buffered(v);
    }
    let mut events: Vec<Value> = pieces.iter().map(|p| body(p, Value::Null)).collect();
    events.push(body("", json!("stop")));
    if include_usage(ctx) {
        let mut u = body("", Value::Null);
        u["choices"] = json!([]);
        u["usage"] = usage_json(ctx);
        events.push(u);
    }
    ctx.sse(data_events(events))
}

/// How many inputs an embeddings request has: a string or a token array is
/// one, an array of strings or of token arrays is one per element.
fn input_count(input: Option<&Value>) -> usize {
    match input {
        Some(Value::Array(items)) if items.iter().all(Value::is_number) => 1,
        Some(Value::Array(items)) => items.len(),
        Some(_) => 1,
        None => 0,
    }
}

/// `POST …/embeddings`: one [`embedding_for`] vector per input, as floats or,
/// for `encoding_format: "base64"` (the `openai` Python SDK's default), as
/// base64 of little-endian `f32`s.
pub(super) fn embeddings(ctx: &Ctx<'_>) -> Response<FakeBody> {
    let base64 = ctx.req.get("encoding_format").and_then(Value::as_str) == Some("base64");
    let data: Vec<Value> = (0..input_count(ctx.req.get("input")))
        .map(|i| {
            let v = embedding_for(i);
            let embedding = if base64 {
                json!(base64_f32(&v))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    let (p, _) = ctx.usage();
    ctx.buffered(json!({
        "object": "list",
        "data": data,
        "model": ctx.model,
        "usage": {"prompt_tokens": p, "total_tokens": p},
    }))
}

/// Standard base64 (with padding) of the values as little-endian `f32`s.
fn base64_f32(values: &[f64]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    // The values of `embedding_for` are exact in f32.
    #[allow(clippy::cast_possible_truncation)]
    let bytes: Vec<u8> = values
        .iter()
        .flat_map(|v| (*v as f32).to_le_bytes())
        .collect();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let b = [
            group[0],
            group.get(1).copied().unwrap_or(0),
            group.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= group.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::base64_f32;

    #[test]
    fn base64_of_f32s() {
        // 1.0f32 = 00 00 80 3f; 0.5f32 = 00 00 00 3f.
        assert_eq!(base64_f32(&[1.0]), "AACAPw==");
        assert_eq!(base64_f32(&[1.0, 0.5]), "AACAPwAAAD8=");
    }
}
