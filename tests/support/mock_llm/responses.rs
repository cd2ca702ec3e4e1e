//! The OpenAI Responses wire (`POST /v1/responses`, what Codex speaks): a streamed answer as
//! its SSE events (`response.created`, `response.output_item.added`, text and
//! function-call argument deltas, `response.output_item.done`, `response.completed` with
//! usage), or the whole response as JSON. A call named `NAMESPACE.TOOL` is sent as a call
//! of `TOOL` in that namespace (how Codex offers an MCP server's tools: a `namespace` tool
//! `mcp__delm`).

use super::{Billed, Frame, RecordedRequest, Turn, pieces};
use serde_json::{Value, json};

/// A function call item: `namespace.name` splits into the two fields.
fn call_item(id: &str, name: &str, args: &str, done: bool) -> Value {
    let mut item = json!({
        "type": "function_call",
        "id": format!("fc_{id}"),
        "call_id": id,
        "name": name,
        "arguments": if done { args } else { "" },
        "status": if done { "completed" } else { "in_progress" },
    });
    if let Some((namespace, tool)) = name.split_once('.') {
        item["namespace"] = json!(namespace);
        item["name"] = json!(tool);
    }
    item
}

fn message_item(index: usize, text: &str, done: bool) -> Value {
    json!({
        "type": "message",
        "id": format!("msg_mock_{index}"),
        "role": "assistant",
        "status": if done { "completed" } else { "in_progress" },
        "content": if done {
            json!([{"type": "output_text", "text": text, "annotations": []}])
        } else {
            json!([])
        },
    })
}

fn usage(billed: &Billed) -> Value {
    json!({
        "input_tokens": billed.input,
        "input_tokens_details": {"cached_tokens": billed.cache_read},
        "output_tokens": billed.output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": billed.input + billed.output,
    })
}

fn output(index: usize, turn: &Turn) -> Vec<Value> {
    let mut items = Vec::new();
    if !turn.text.is_empty() {
        items.push(message_item(index, &turn.text, true));
    }
    for (id, name, args) in &turn.calls {
        items.push(call_item(id, name, args, true));
    }
    items
}

fn response(request: &RecordedRequest, index: usize, status: &str, output: Vec<Value>) -> Value {
    json!({
        "id": format!("resp_mock_{index}"),
        "object": "response",
        "model": request.model(),
        "status": status,
        "output": output,
    })
}

/// The whole response (a request without `stream`).
pub(super) fn body(request: &RecordedRequest, index: usize, turn: &Turn, billed: &Billed) -> Value {
    let mut body = response(request, index, "completed", output(index, turn));
    body["usage"] = usage(billed);
    body
}

/// The SSE events of a streamed response.
pub(super) fn stream(
    request: &RecordedRequest,
    index: usize,
    turn: &Turn,
    billed: &Billed,
) -> Vec<Frame> {
    let event = |data: Value| {
        let kind = data["type"].as_str().unwrap_or("response").to_string();
        Frame::Body(format!("event: {kind}\ndata: {data}\n\n").into_bytes())
    };
    let mut frames = vec![event(json!({
        "type": "response.created",
        "response": response(request, index, "in_progress", vec![]),
    }))];
    let mut position = 0;
    if !turn.text.is_empty() {
        let id = format!("msg_mock_{index}");
        frames.push(event(json!({"type": "response.output_item.added",
            "output_index": position, "item": message_item(index, "", false)})));
        for piece in pieces(&turn.text) {
            frames.push(event(
                json!({"type": "response.output_text.delta", "item_id": id,
                "output_index": position, "content_index": 0, "delta": piece}),
            ));
        }
        frames.push(Frame::CutPoint);
        frames.push(event(json!({"type": "response.output_item.done",
            "output_index": position, "item": message_item(index, &turn.text, true)})));
        position += 1;
    } else {
        frames.push(Frame::CutPoint);
    }
    for (id, name, args) in &turn.calls {
        frames.push(event(json!({"type": "response.output_item.added",
            "output_index": position, "item": call_item(id, name, args, false)})));
        for piece in pieces(args) {
            frames.push(event(
                json!({"type": "response.function_call_arguments.delta",
                "item_id": format!("fc_{id}"), "output_index": position, "delta": piece}),
            ));
        }
        frames.push(event(
            json!({"type": "response.function_call_arguments.done",
            "item_id": format!("fc_{id}"), "output_index": position, "arguments": args}),
        ));
        frames.push(event(json!({"type": "response.output_item.done",
            "output_index": position, "item": call_item(id, name, args, true)})));
        position += 1;
    }
    let mut done = response(request, index, "completed", output(index, turn));
    done["usage"] = usage(billed);
    frames.push(event(
        json!({"type": "response.completed", "response": done}),
    ));
    frames
}
