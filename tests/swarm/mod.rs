//! A scripted "model" that behaves like a cooperative agent, for end-to-end runs against the
//! mock server: it reads the request (either wire format) and decides what to do from what
//! the engine actually sent, never from hidden knowledge of the run.
#![allow(dead_code)]

pub mod convert;
pub mod cooperative;
pub mod repair;

use crate::support::{RecordedRequest, Reply};
use serde_json::{Value, json};

/// Text of one message's content in either wire format.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .map(|b| {
                b.get("text")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .or_else(|| b.get("content").map(content_text))
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The system prompt, whichever wire.
pub fn system_text(req: &RecordedRequest) -> String {
    if let Some(s) = req.body.get("system") {
        return content_text(s);
    }
    req.body["messages"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["role"] == "system"))
        .map(|m| content_text(&m["content"]))
        .unwrap_or_default()
}

/// Non-system messages as (role, text).
pub fn messages(req: &RecordedRequest) -> Vec<(String, String)> {
    req.body["messages"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .filter(|m| m["role"] != "system")
                .map(|m| {
                    (
                        m["role"].as_str().unwrap_or("").to_string(),
                        content_text(&m["content"]),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn first_user_text(req: &RecordedRequest) -> String {
    messages(req)
        .into_iter()
        .find(|(r, _)| r == "user")
        .map(|(_, t)| t)
        .unwrap_or_default()
}

/// How many assistant turns the conversation already has.
pub fn assistant_turns(req: &RecordedRequest) -> usize {
    messages(req)
        .iter()
        .filter(|(r, _)| r == "assistant")
        .count()
}

/// The agent id named in the task message ("You are agent a2." or "w1.a2.").
pub fn agent_of(req: &RecordedRequest) -> Option<String> {
    let first = first_user_text(req);
    let rest = first.split("You are agent ").nth(1)?;
    let id: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
        .collect();
    let id = id.trim_end_matches('.').to_string();
    (!id.is_empty()).then_some(id)
}

pub fn is_judge(req: &RecordedRequest) -> bool {
    system_text(req).contains("You are the verifier")
}

pub fn is_finalise(req: &RecordedRequest) -> bool {
    first_user_text(req).starts_with("FINALISE")
}

/// The task id of a work request ("YOUR TASK T3: ...").
pub fn task_of(req: &RecordedRequest) -> Option<String> {
    let text = first_user_text(req);
    let rest = text.strip_prefix("YOUR TASK ")?;
    Some(rest.split(':').next()?.trim().to_string())
}

/// The first line of the task message (id and title).
pub fn task_line(req: &RecordedRequest) -> String {
    first_user_text(req)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

/// Verified point ids visible anywhere in the request (`P3 [finding] ...`).
pub fn visible_points(req: &RecordedRequest) -> Vec<String> {
    let text = req.prompt_text();
    let mut ids = Vec::new();
    for (i, _) in text.match_indices(" [") {
        let head = &text[..i];
        let start = head
            .rfind(|c: char| !(c.is_ascii_alphanumeric()))
            .map(|p| p + 1)
            .unwrap_or(0);
        let id = &head[start..];
        if id.len() > 1 && id.starts_with('P') && id[1..].chars().all(|c| c.is_ascii_digit()) {
            let id = id.to_string();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids
}

pub fn approve() -> Reply {
    Reply::Text(json!({"verdict": "approve", "reason": "the quote supports it"}).to_string())
}

/// The finaliser's answer: cite every point it can see.
pub fn final_answer(req: &RecordedRequest, answer: &str) -> Reply {
    Reply::Tools(vec![(
        "final_answer".into(),
        json!({"answer": answer, "cited": visible_points(req)}),
    )])
}

pub fn finish(result: &str) -> Reply {
    Reply::Tools(vec![("finish_task".into(), json!({"result": result}))])
}

pub fn record(kind: &str, headline: &str, source: &str, quote: &str) -> Reply {
    let evidence = if source.is_empty() {
        json!([])
    } else {
        json!([{"source": source, "quote": quote}])
    };
    Reply::Tools(vec![(
        "record_point".into(),
        json!({"kind": kind, "headline": headline, "summary": headline, "evidence": evidence}),
    )])
}

/// The last tool result of the conversation.
pub fn last_result(req: &RecordedRequest) -> String {
    req.tool_results()
        .last()
        .map(|(_, t)| t.clone())
        .unwrap_or_default()
}

/// The id a run_command result starts with (`c3: ...`).
pub fn run_id(result: &str) -> String {
    result.split(':').next().unwrap_or("").to_string()
}
