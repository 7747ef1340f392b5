//! Anthropic Messages shapes: `POST …/messages` (buffered and its event
//! stream), `POST …/messages/count_tokens`, and error bodies.

use bytes::Bytes;
use hyper::Response;
use serde_json::{json, Value};

use super::{split_pieces, sse_event, Answer, Ctx, FakeBody};

/// `{"type":"error","error":{"type","message"}}` with the type Anthropic uses
/// for `status`.
pub(super) fn error_body(status: u16, message: &str) -> Value {
    let kind = match status {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        s if s >= 500 => "api_error",
        _ => "invalid_request_error",
    };
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

/// `POST …/messages/count_tokens`: `{"input_tokens": N}` (N = the scripted
/// prompt tokens).
pub(super) fn count_tokens(ctx: &Ctx<'_>) -> Response<FakeBody> {
    let (p, _) = ctx.usage();
    ctx.buffered(json!({"input_tokens": p}))
}

fn event(name: &str, data: &Value) -> Bytes {
    sse_event(Some(name), data, false)
}

/// `POST …/messages`.
pub(super) fn messages(ctx: &Ctx<'_>, answer: &Answer<'_>) -> Response<FakeBody> {
    let id = format!("msg_fake_{}", ctx.seq);
    let tool_id = format!("toolu_fake_{}", ctx.seq);
    let (p, c) = ctx.usage();
    let message = |content: Value, stop_reason: Value, output_tokens: u64| -> Value {
        json!({
            "id": id,
            "type": "message",
            "role": "assistant",
            "model": ctx.model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": null,
            "usage": {"input_tokens": p, "output_tokens": output_tokens},
        })
    };
    match answer {
        Answer::Text {
            pieces,
            stream: false,
        } => ctx.buffered(message(
            json!([{"type": "text", "text": Answer::text(pieces)}]),
            json!("end_turn"),
            c,
        )),
        Answer::Tool {
            name,
            args,
            stream: false,
        } => ctx.buffered(message(
            json!([{"type": "tool_use", "id": tool_id, "name": name, "input": args}]),
            json!("tool_use"),
            c,
        )),
        Answer::Text { pieces, .. } => {
            let deltas = pieces
                .iter()
                .map(|t| json!({"type": "text_delta", "text": t}))
                .collect();
            stream(
                ctx,
                message(json!([]), Value::Null, 1),
                json!({"type": "text", "text": ""}),
                deltas,
                "end_turn",
            )
        }
        Answer::Tool { name, args, .. } => {
            // Like the real API: an empty partial first, then the pieces.
            let mut deltas = vec![json!({"type": "input_json_delta", "partial_json": ""})];
            deltas.extend(
                split_pieces(&args.to_string(), 3)
                    .into_iter()
                    .map(|p| json!({"type": "input_json_delta", "partial_json": p})),
            );
            stream(
                ctx,
                message(json!([]), Value::Null, 1),
                json!({"type": "tool_use", "id": tool_id, "name": name, "input": {}}),
                deltas,
                "tool_use",
            )
        }
    }
}

/// The real event sequence for one content block: `message_start`,
/// `content_block_start`, `ping`, the deltas, `content_block_stop`,
/// `message_delta` (stop reason, cumulative `output_tokens`),
/// `message_stop`.
fn stream(
    ctx: &Ctx<'_>,
    start: Value,
    block: Value,
    deltas: Vec<Value>,
    stop_reason: &str,
) -> Response<FakeBody> {
    let (_, c) = ctx.usage();
    let mut events = vec![
        event(
            "message_start",
            &json!({"type": "message_start", "message": start}),
        ),
        event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": 0, "content_block": block}),
        ),
        event("ping", &json!({"type": "ping"})),
    ];
    for delta in deltas {
        events.push(event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": 0, "delta": delta}),
        ));
    }
    events.push(event(
        "content_block_stop",
        &json!({"type": "content_block_stop", "index": 0}),
    ));
    events.push(event(
        "message_delta",
        &json!({
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": null},
            "usage": {"output_tokens": c},
        }),
    ));
    events.push(event("message_stop", &json!({"type": "message_stop"})));
    ctx.sse(events)
}
