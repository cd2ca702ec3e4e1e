//! What a reply's text can hold besides the answer, and the ids a reply can lack: the one
//! normalisation every wire's reply goes through before the agent sees it.
//!
//! - Reasoning blocks (`<think>…</think>`, `<thinking>…</thinking>`) are removed first, so
//!   nothing parses a model's musings: a leading block cut off by the token limit, and the
//!   tail of a block whose opening tag was in the chat template (text up to a lone
//!   `</think>`), too.
//! - A text-only reply may still be tool calls, written the way servers without a tool
//!   parser pass them on: Hermes/Qwen `<tool_call>{…}</tool_call>`, Mistral `[TOOL_CALLS][…]`,
//!   Llama `<|python_tag|>{…}`, a fenced ```json block, or the whole text as one JSON call.
//!   They become tool calls only when they name an offered tool; anything else stays text.
//! - Calls without an id (Ollama, text calls) or with an id used twice get a fresh one, so
//!   each tool result answers exactly one call.
//! - The stop reason is normalised once the calls are known.

use super::{ChatResponse, StopReason, ToolCall, ToolSpec};
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};

/// Apply every rule above to `reply`, whose request offered `tools`.
pub(super) fn normalise(reply: &mut ChatResponse, tools: &[ToolSpec]) {
    if let Some(stripped) = strip_reasoning(&reply.text) {
        reply.text = stripped;
    }
    if reply.tool_calls.is_empty()
        && !tools.is_empty()
        && let Some((text, calls)) = calls_in_text(&reply.text, tools)
    {
        reply.text = text;
        reply.tool_calls = calls;
    }
    assign_missing_ids(&mut reply.tool_calls);
    reply.stop = StopReason::from_raw(reply.finish_reason.as_deref(), !reply.tool_calls.is_empty());
}

const REASONING_TAGS: [(&str, &str); 2] = [("<think>", "</think>"), ("<thinking>", "</thinking>")];

/// `text` without its reasoning blocks; `None` when it has none.
fn strip_reasoning(text: &str) -> Option<String> {
    if !text.contains("think") {
        return None;
    }
    let mut out = text.to_string();
    for (open, close) in REASONING_TAGS {
        // The opening tag was in the prompt: everything before a lone closing tag.
        if let Some(end) = out.find(close)
            && !out[..end].contains(open)
        {
            out.replace_range(..end + close.len(), "");
        }
        while let Some(start) = out.find(open) {
            match out[start..].find(close) {
                Some(len) => out.replace_range(start..start + len + close.len(), ""),
                // Cut off while thinking: a leading block is all reasoning; a tag later in
                // the text may be prose about tags, and stays.
                None if out[..start].trim().is_empty() => out.truncate(start),
                None => break,
            }
        }
    }
    (out != text).then(|| out.trim().to_string())
}

/// Markers after which some servers put tool calls as JSON (no closing tag).
const JSON_MARKERS: [&str; 2] = ["[TOOL_CALLS]", "<|python_tag|>"];

/// Tool calls written into `text`, and the text left once they are taken out; `None` when
/// the text holds no call of an offered tool.
fn calls_in_text(text: &str, tools: &[ToolSpec]) -> Option<(String, Vec<ToolCall>)> {
    let offered = |name: &str| tools.iter().any(|t| t.name == name);
    let mut calls = Vec::new();
    let mut rest = String::with_capacity(text.len());
    let mut cursor = 0;
    while let Some((start, end, json)) = next_block(text, cursor) {
        let found: Vec<ToolCall> = json_calls(json)
            .into_iter()
            .filter(|c| offered(&c.name))
            .collect();
        if found.is_empty() {
            rest.push_str(&text[cursor..end]);
        } else {
            rest.push_str(&text[cursor..start]);
            calls.extend(found);
        }
        cursor = end;
    }
    rest.push_str(&text[cursor..]);
    if calls.is_empty() {
        // The whole reply as one call (or a list of calls), with no wrapping at all.
        let whole = text.trim();
        if whole.starts_with(['{', '[']) {
            let found = json_calls(whole);
            if !found.is_empty() && found.iter().all(|c| offered(&c.name)) {
                return Some((String::new(), found));
            }
        }
        return None;
    }
    Some((rest.trim().to_string(), calls))
}

/// The next block at or after `from` that may hold calls: (start, end, JSON text inside).
fn next_block(text: &str, from: usize) -> Option<(usize, usize, &str)> {
    let hay = &text[from..];
    let mut candidates: Vec<(usize, usize, &str)> = Vec::new();
    if let Some(open) = hay.find("<tool_call>") {
        let body_start = open + "<tool_call>".len();
        let (body_end, end) = match hay[body_start..].find("</tool_call>") {
            Some(len) => (body_start + len, body_start + len + "</tool_call>".len()),
            // An unterminated last block (cut, or the model forgot the tag).
            None => (hay.len(), hay.len()),
        };
        candidates.push((open, end, &hay[body_start..body_end]));
    }
    if let Some(open) = hay.find("```") {
        let after_fence = open + 3;
        let body_start = hay[after_fence..]
            .find('\n')
            .map_or(hay.len(), |i| after_fence + i + 1);
        let info = hay[after_fence..body_start].trim().to_ascii_lowercase();
        let json_fence =
            info.is_empty() || ["json", "tool_call", "tool_code"].contains(&info.as_str());
        let close = hay[body_start..].find("```");
        if let (true, Some(len)) = (json_fence, close) {
            candidates.push((
                open,
                body_start + len + 3,
                &hay[body_start..body_start + len],
            ));
        } else if let Some(len) = close {
            // Not a JSON fence: skip it whole, so its inside is never read as calls.
            candidates.push((open, body_start + len + 3, ""));
        }
    }
    for marker in JSON_MARKERS {
        if let Some(open) = hay.find(marker) {
            let body_start = open + marker.len();
            let json_len = first_json_len(&hay[body_start..]).unwrap_or(0);
            let end = body_start + json_len;
            candidates.push((open, end, &hay[body_start..end]));
        }
    }
    candidates
        .into_iter()
        .min_by_key(|&(start, _, _)| start)
        .map(|(start, end, json)| (from + start, from + end.max(start + 1), json))
}

/// Bytes taken by the JSON value at the start of `text` (after whitespace).
fn first_json_len(text: &str) -> Option<usize> {
    let mut values = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    values.next()?.ok()?;
    Some(values.byte_offset())
}

/// Calls in one JSON text: an object, or an array of objects, each naming a tool and its
/// arguments under any of the usual keys (`name`/`tool`/`function`, and
/// `arguments`/`parameters`/`args`/`input`, as an object or a JSON string).
fn json_calls(json: &str) -> Vec<ToolCall> {
    let json = json.trim();
    let Some(len) = first_json_len(json) else {
        return Vec::new();
    };
    let Ok(value) = serde_json::from_str::<Value>(&json[..len]) else {
        return Vec::new();
    };
    let items = match value {
        Value::Array(items) => items,
        other => vec![other],
    };
    items.iter().filter_map(json_call).collect()
}

fn json_call(item: &Value) -> Option<ToolCall> {
    // OpenAI's own shape, written as text: {"type": "function", "function": {...}}.
    let item = match item.get("function") {
        Some(inner @ Value::Object(_)) => inner,
        _ => item,
    };
    let name = ["name", "tool", "tool_name", "function"]
        .iter()
        .find_map(|k| item.get(*k).and_then(Value::as_str))?
        .trim();
    let arguments = ["arguments", "parameters", "args", "input"]
        .iter()
        .find_map(|k| item.get(*k));
    let arguments = match arguments {
        None | Some(Value::Null) => "{}".to_string(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    };
    (!name.is_empty()).then(|| ToolCall {
        id: String::new(),
        name: name.to_string(),
        arguments,
    })
}

/// Ids handed to calls that came without one: unique in this process, in the order calls
/// arrive, and never changed afterwards.
static NEXT_CALL_ID: AtomicU64 = AtomicU64::new(1);

fn assign_missing_ids(calls: &mut [ToolCall]) {
    for i in 0..calls.len() {
        let taken = calls[..i].iter().any(|c| c.id == calls[i].id);
        if calls[i].id.trim().is_empty() || taken {
            calls[i].id = format!("delm_call_{}", NEXT_CALL_ID.fetch_add(1, Ordering::Relaxed));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tools() -> Vec<ToolSpec> {
        ["read_doc", "record_point", "finish_task"]
            .iter()
            .map(|name| ToolSpec {
                name: name.to_string(),
                description: String::new(),
                parameters: json!({"type": "object"}),
            })
            .collect()
    }

    fn reply(text: &str) -> ChatResponse {
        let mut r = ChatResponse {
            text: text.into(),
            finish_reason: Some("stop".into()),
            ..ChatResponse::default()
        };
        normalise(&mut r, &tools());
        r
    }

    fn args(call: &ToolCall) -> Value {
        serde_json::from_str(&call.arguments).unwrap()
    }

    #[test]
    fn reasoning_is_removed_before_anything_reads_the_text() {
        assert_eq!(
            reply("<think>maybe 41?</think>\n\nThe answer is 42.").text,
            "The answer is 42."
        );
        assert_eq!(reply("<thinking>a</thinking>B<think>c</think>D").text, "BD");
        // The opening tag was in the chat template.
        assert_eq!(
            reply("so the total is 7\n</think>\n\nIt is 7.").text,
            "It is 7."
        );
        // Cut off while thinking: nothing of it is an answer.
        let cut = reply("<think>first I will read the file and");
        assert_eq!(cut.text, "");
        // A tag mentioned in prose is left alone.
        assert_eq!(reply("Use a <think> tag").text, "Use a <think> tag");
        // A call inside the reasoning is not a call.
        let r = reply("<think><tool_call>{\"name\":\"finish_task\"}</tool_call></think>Done.");
        assert!(r.tool_calls.is_empty());
        assert_eq!(r.text, "Done.");
    }

    #[test]
    fn hermes_tool_call_blocks_become_calls() {
        let r = reply(
            "I will read it.\n<tool_call>\n{\"name\": \"read_doc\", \"arguments\": {\"doc\": \"a.md\"}}\n</tool_call>\n<tool_call>{\"name\": \"finish_task\", \"arguments\": \"{\\\"result\\\": \\\"ok\\\"}\"}</tool_call>",
        );
        assert_eq!(r.text, "I will read it.");
        assert_eq!(r.tool_calls.len(), 2);
        assert_eq!(r.tool_calls[0].name, "read_doc");
        assert_eq!(args(&r.tool_calls[0]), json!({"doc": "a.md"}));
        assert_eq!(args(&r.tool_calls[1]), json!({"result": "ok"}));
        assert_ne!(r.tool_calls[0].id, r.tool_calls[1].id);
        assert!(!r.tool_calls[0].id.is_empty());
        assert_eq!(r.stop, StopReason::ToolCalls);
        assert_eq!(r.finish_reason.as_deref(), Some("stop"));
        // Unterminated last block.
        let r = reply("<tool_call>{\"name\": \"finish_task\", \"arguments\": {}}");
        assert_eq!(r.tool_calls.len(), 1);
    }

    #[test]
    fn fenced_and_bare_json_calls_become_calls() {
        let r = reply(
            "Recording:\n```json\n{\"name\": \"record_point\", \"parameters\": {\"kind\": \"finding\"}}\n```",
        );
        assert_eq!(r.tool_calls.len(), 1);
        assert_eq!(args(&r.tool_calls[0]), json!({"kind": "finding"}));
        assert_eq!(r.text, "Recording:");
        let r = reply(
            "[{\"name\": \"read_doc\", \"arguments\": {\"doc\": \"b\"}}, {\"type\": \"function\", \"function\": {\"name\": \"finish_task\", \"arguments\": {}}}]",
        );
        let names: Vec<_> = r.tool_calls.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["read_doc", "finish_task"]);
        let r =
            reply("[TOOL_CALLS][{\"name\": \"finish_task\", \"arguments\": {\"result\": \"x\"}}]");
        assert_eq!(r.tool_calls.len(), 1);
        let r = reply("<|python_tag|>{\"name\": \"read_doc\", \"parameters\": {\"doc\": \"c\"}}");
        assert_eq!(args(&r.tool_calls[0]), json!({"doc": "c"}));
    }

    #[test]
    fn text_that_names_no_offered_tool_stays_text() {
        for text in [
            "```json\n{\"name\": \"delete_everything\", \"arguments\": {}}\n```",
            "```rust\nfn main() { let name = \"read_doc\"; }\n```",
            "{\"verdict\": \"approve\"}",
            "The tool read_doc is useful.",
        ] {
            let r = reply(text);
            assert!(r.tool_calls.is_empty(), "{text}");
            assert_eq!(r.text, text);
            assert_eq!(r.stop, StopReason::Stop);
        }
        // Without tools offered nothing is read as a call.
        let mut r = ChatResponse {
            text: "<tool_call>{\"name\": \"read_doc\"}</tool_call>".into(),
            ..ChatResponse::default()
        };
        normalise(&mut r, &[]);
        assert!(r.tool_calls.is_empty());
    }

    #[test]
    fn missing_and_repeated_ids_are_replaced() {
        let call = |id: &str| ToolCall {
            id: id.into(),
            name: "read_doc".into(),
            arguments: "{}".into(),
        };
        let mut r = ChatResponse {
            tool_calls: vec![call(""), call("x"), call("x"), call("")],
            finish_reason: Some("stop".into()),
            ..ChatResponse::default()
        };
        normalise(&mut r, &tools());
        let ids: Vec<_> = r.tool_calls.iter().map(|c| c.id.clone()).collect();
        assert_eq!(ids[1], "x");
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), 4, "{ids:?}");
        assert!(ids.iter().all(|id| !id.is_empty()));
        assert_eq!(r.stop, StopReason::ToolCalls);
    }
}
