//! OpenAI Responses API shapes: `POST …/responses`, buffered and as its
//! semantic event stream (`event: response.created` … `response.completed`,
//! every event with its `type` and an increasing `sequence_number`; no
//! `[DONE]`).

use bytes::Bytes;
use hyper::Response;
use serde_json::{json, Value};

use super::{now_secs, split_pieces, sse_event, Answer, Ctx, FakeBody};

/// `POST …/responses`.
pub(super) fn render(ctx: &Ctx<'_>, answer: &Answer<'_>) -> Response<FakeBody> {
    let resp_id = format!("resp_fake_{}", ctx.seq);
    let item_id = format!("msg_fake_{}", ctx.seq);
    let fc_id = format!("fc_fake_{}", ctx.seq);
    let call_id = format!("call_fake_{}", ctx.seq);
    let created = now_secs();
    let (p, c) = ctx.usage();
    let response = |status: &str, output: Value, usage: Value| -> Value {
        json!({
            "id": resp_id,
            "object": "response",
            "created_at": created,
            "status": status,
            "error": null,
            "incomplete_details": null,
            "instructions": null,
            "max_output_tokens": null,
            "model": ctx.model,
            "output": output,
            "parallel_tool_calls": true,
            "previous_response_id": null,
            "temperature": 1.0,
            "text": {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": [],
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": usage,
            "metadata": {},
        })
    };
    let usage = json!({
        "input_tokens": p,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": c,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": p + c,
    });
    let text_item = |text: &str, status: &str| -> Value {
        let content = if status == "completed" {
            json!([{"type": "output_text", "text": text, "annotations": [], "logprobs": []}])
        } else {
            json!([])
        };
        json!({"id": item_id, "type": "message", "status": status, "role": "assistant", "content": content})
    };
    let call_item = |name: &str, arguments: &str, status: &str| -> Value {
        json!({
            "id": fc_id,
            "type": "function_call",
            "status": status,
            "call_id": call_id,
            "name": name,
            "arguments": arguments,
        })
    };
    let (pieces, stream, is_tool, name) = match answer {
        Answer::Text { pieces, stream } => (pieces.clone(), *stream, false, ""),
        Answer::Tool { name, args, stream } => {
            (split_pieces(&args.to_string(), 3), *stream, true, *name)
        }
    };
    let full = Answer::text(&pieces);
    let done_item = if is_tool {
        call_item(name, &full, "completed")
    } else {
        text_item(&full, "completed")
    };
    if !stream {
        return ctx.buffered(response("completed", json!([done_item]), usage));
    }

    let mut seq = 0u64;
    let mut events: Vec<Bytes> = Vec::new();
    let mut push = |kind: &str, mut data: Value| {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(seq);
        seq += 1;
        events.push(sse_event(Some(kind), &data, false));
    };
    let pending = response("in_progress", json!([]), Value::Null);
    push("response.created", json!({"response": pending}));
    push("response.in_progress", json!({"response": pending}));
    if is_tool {
        let added = call_item(name, "", "in_progress");
        push(
            "response.output_item.added",
            json!({"output_index": 0, "item": added}),
        );
        for piece in &pieces {
            push(
                "response.function_call_arguments.delta",
                json!({"item_id": fc_id, "output_index": 0, "delta": piece}),
            );
        }
        push(
            "response.function_call_arguments.done",
            json!({"item_id": fc_id, "output_index": 0, "arguments": full}),
        );
    } else {
        push(
            "response.output_item.added",
            json!({"output_index": 0, "item": text_item("", "in_progress")}),
        );
        let part = |text: &str| json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []});
        let at = json!({"item_id": item_id, "output_index": 0, "content_index": 0});
        let with = |extra: Value| -> Value {
            let mut v = at.clone();
            if let (Some(obj), Value::Object(add)) = (v.as_object_mut(), extra) {
                obj.extend(add);
            }
            v
        };
        push(
            "response.content_part.added",
            with(json!({"part": part("")})),
        );
        for piece in &pieces {
            push(
                "response.output_text.delta",
                with(json!({"delta": piece, "logprobs": []})),
            );
        }
        push(
            "response.output_text.done",
            with(json!({"text": full, "logprobs": []})),
        );
        push(
            "response.content_part.done",
            with(json!({"part": part(&full)})),
        );
    }
    push(
        "response.output_item.done",
        json!({"output_index": 0, "item": done_item}),
    );
    push(
        "response.completed",
        json!({"response": response("completed", json!([done_item]), usage)}),
    );
    ctx.sse(events)
}
