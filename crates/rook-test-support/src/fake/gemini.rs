//! Gemini shapes: `:generateContent`, `:streamGenerateContent?alt=sse`,
//! `:batchEmbedContents`, and error bodies.

use hyper::Response;
use serde_json::{json, Value};

use super::{embedding_for, sse_event, Answer, Ctx, FakeBody};

/// `{"error":{"code","message","status"}}` with the status name Google uses
/// for the HTTP status.
pub(super) fn error_body(status: u16, message: &str) -> Value {
    let name = match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        500 => "INTERNAL",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "UNKNOWN",
    };
    json!({"error": {"code": status, "message": message, "status": name}})
}

/// `POST …/models/{m}:generateContent` and `:streamGenerateContent`.
///
/// Buffered: one candidate with the text (or a `functionCall` part),
/// `finishReason: "STOP"` and full `usageMetadata`. Streamed: one
/// `GenerateContentResponse` per piece as `data: …` events separated by
/// CRLF blank lines (as Google sends them); every chunk carries
/// `usageMetadata` with the prompt count, the last one also `finishReason`
/// and the candidates count.
pub(super) fn generate(ctx: &Ctx<'_>, answer: &Answer<'_>) -> Response<FakeBody> {
    let response_id = format!("fake-resp-{}", ctx.seq);
    let (p, c) = ctx.usage();
    let full_usage = json!({
        "promptTokenCount": p,
        "candidatesTokenCount": c,
        "totalTokenCount": p + c,
    });
    let prompt_usage = json!({"promptTokenCount": p, "totalTokenCount": p});
    let response = |parts: Value, finish: Option<&str>, usage: &Value| -> Value {
        let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
        if let Some(f) = finish {
            candidate["finishReason"] = json!(f);
        }
        json!({
            "candidates": [candidate],
            "usageMetadata": usage,
            "modelVersion": ctx.model,
            "responseId": response_id,
        })
    };
    let (parts, stream): (Vec<Value>, bool) = match answer {
        Answer::Text {
            pieces,
            stream: false,
        } => (vec![json!({"text": Answer::text(pieces)})], false),
        Answer::Text { pieces, .. } => (pieces.iter().map(|t| json!({"text": t})).collect(), true),
        Answer::Tool { name, args, stream } => (
            vec![json!({"functionCall": {"name": name, "args": args}})],
            *stream,
        ),
    };
    if !stream {
        return ctx.buffered(response(json!(parts), Some("STOP"), &full_usage));
    }
    let last = parts.len().saturating_sub(1);
    let events = parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| {
            let chunk = if i == last {
                response(json!([part]), Some("STOP"), &full_usage)
            } else {
                response(json!([part]), None, &prompt_usage)
            };
            sse_event(None, &chunk, true)
        })
        .collect();
    ctx.sse(events)
}

/// `POST …/models/{m}:batchEmbedContents`: one [`embedding_for`] vector per
/// entry of `requests`.
pub(super) fn batch_embed(ctx: &Ctx<'_>) -> Response<FakeBody> {
    let n = ctx
        .req
        .get("requests")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let embeddings: Vec<Value> = (0..n)
        .map(|i| json!({"values": embedding_for(i)}))
        .collect();
    ctx.buffered(json!({"embeddings": embeddings}))
}
