//! Claude Code as a worker: its command line (`claude -p` with delm's MCP server in a 0600
//! config file, the board's tools and the built-in tools the run allows) and its
//! `stream-json` output as the board's reports.

use super::process::write_private;
use super::{Launch, Prepared, Seen, clip_output};
use crate::engine::protocol::Report;
use crate::event::CallPurpose;
use serde_json::{Value, json};
use std::collections::HashMap;

/// The MCP server's name in the config, so its tools are `mcp__delm__<tool>`.
const SERVER: &str = "delm";
const MCP_PREFIX: &str = "mcp__delm__";

/// The built-in tools a worker may use, by what the run allows.
fn built_in_tools(launch: &Launch<'_>) -> (Vec<&'static str>, Vec<&'static str>) {
    let mut allowed = Vec::new();
    let mut denied = Vec::new();
    let mut pick = |yes: bool, tools: &[&'static str]| {
        if yes {
            allowed.extend_from_slice(tools);
        } else {
            denied.extend_from_slice(tools);
        }
    };
    pick(launch.allow.read, &["Read", "Grep", "Glob"]);
    pick(launch.allow.exec, &["Bash"]);
    pick(launch.allow.edit, &["Edit", "Write", "NotebookEdit"]);
    // Never: the web, and sub-agents that would not be bound by this list.
    denied.extend_from_slice(&["WebFetch", "WebSearch", "Task", "Agent"]);
    (allowed, denied)
}

/// `claude -p PROMPT --mcp-config FILE --strict-mcp-config --allowedTools ...
/// --output-format stream-json --verbose`; the token is only in the 0600 file.
pub(super) fn prepare(launch: &Launch<'_>) -> Result<Prepared, String> {
    let config = json!({"mcpServers": {SERVER: {
        "type": "http",
        "url": launch.board_url,
        "headers": {"Authorization": format!("Bearer {}", launch.token)},
    }}});
    let file = launch.private_dir.join("mcp.json");
    write_private(&file, &config.to_string())?;
    let (built_in, denied) = built_in_tools(launch);
    let allowed: Vec<String> = launch
        .board_tools
        .iter()
        .map(|t| format!("{MCP_PREFIX}{t}"))
        .chain(built_in.iter().map(|t| t.to_string()))
        .collect();
    let args = vec![
        "-p".into(),
        launch.prompt.to_string(),
        "--mcp-config".into(),
        file.to_string_lossy().into_owned(),
        "--strict-mcp-config".into(),
        "--allowedTools".into(),
        allowed.join(","),
        "--disallowedTools".into(),
        denied.join(","),
        "--output-format".into(),
        "stream-json".into(),
        "--verbose".into(),
        // Each model call's usage as it ends (the `result` event comes only at exit).
        "--include-partial-messages".into(),
    ];
    Ok(Prepared {
        args,
        env: vec![
            (
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".into(),
                "1".into(),
            ),
            // run_check waits for its command (up to 600 s).
            ("MCP_TOOL_TIMEOUT".into(), "600000".into()),
        ],
        login_vars: LOGIN_VARS,
    })
}

/// The variables Claude Code logs in with: passed to it (and only to it).
const LOGIN_VARS: &[&str] = &[
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
];

/// Claude Code's `stream-json` events as reports: assistant text, its own tool calls
/// with their results (the board's tools are recorded board-side already), each model
/// call's tokens as it ends, and the session's cost from the `result` event.
#[derive(Default)]
pub(super) struct Parser {
    /// Tool calls waiting for their result: id → (name, input).
    calls: HashMap<String, (String, Value)>,
    /// The model call streaming now.
    call: Option<Call>,
}

/// One model call in progress, from its `message_start`.
struct Call {
    model: String,
    /// Every prompt token (cached included), and of it the cached parts.
    tokens_in: u64,
    cached_read: u64,
    cache_write: u64,
    tokens_out: u64,
    started: std::time::Instant,
}

/// Calls waiting for a result at once (a stream that never answers them stays bounded).
const OPEN_CALLS: usize = 256;

impl super::Parser for Parser {
    fn line(&mut self, v: &Value) -> Vec<Seen> {
        match v["type"].as_str() {
            Some("system") if v["subtype"] == "init" => init_problems(v),
            Some("assistant") => self.assistant(&v["message"]),
            Some("user") => self.results(&v["message"]),
            Some("stream_event") => self.stream_event(&v["event"]),
            Some("result") => result(v),
            _ => Vec::new(),
        }
    }
}

/// The init event lists the MCP servers and whether each connected.
fn init_problems(v: &Value) -> Vec<Seen> {
    let servers = v["mcp_servers"].as_array().cloned().unwrap_or_default();
    servers
        .iter()
        .filter(|s| s["name"] == SERVER && s["status"] != "connected")
        .map(|s| {
            Seen::Problem(format!(
                "Claude Code could not connect to the board's MCP server (status `{}`)",
                s["status"].as_str().unwrap_or("?")
            ))
        })
        .collect()
}

impl Parser {
    /// The raw API stream: a call's usage at its start and end.
    fn stream_event(&mut self, event: &Value) -> Vec<Seen> {
        match event["type"].as_str() {
            Some("message_start") => {
                let message = &event["message"];
                let usage = &message["usage"];
                let n = |key: &str| usage[key].as_u64().unwrap_or(0);
                self.call = Some(Call {
                    model: message["model"].as_str().unwrap_or("claude").to_string(),
                    tokens_in: n("input_tokens")
                        + n("cache_read_input_tokens")
                        + n("cache_creation_input_tokens"),
                    cached_read: n("cache_read_input_tokens"),
                    cache_write: n("cache_creation_input_tokens"),
                    tokens_out: n("output_tokens"),
                    started: std::time::Instant::now(),
                });
                Vec::new()
            }
            Some("content_block_delta") => {
                let delta = &event["delta"];
                match delta["text"].as_str() {
                    Some(text) if delta["type"] == "text_delta" => {
                        vec![Seen::Delta(clip_output(text))]
                    }
                    _ => Vec::new(),
                }
            }
            Some("message_delta") => {
                if let (Some(call), Some(out)) =
                    (self.call.as_mut(), event["usage"]["output_tokens"].as_u64())
                {
                    call.tokens_out = out;
                }
                Vec::new()
            }
            Some("message_stop") => self
                .call
                .take()
                .map(|c| {
                    Seen::Report(Report::LlmCall {
                        purpose: CallPurpose::Worker,
                        model: c.model,
                        tokens_in: c.tokens_in,
                        tokens_out: c.tokens_out,
                        tokens_cached_read: c.cached_read,
                        tokens_cache_write: c.cache_write,
                        cost_usd: None,
                        latency_ms: c.started.elapsed().as_millis() as u64,
                    })
                })
                .into_iter()
                .collect(),
            _ => Vec::new(),
        }
    }

    fn assistant(&mut self, message: &Value) -> Vec<Seen> {
        let mut out = Vec::new();
        for block in message["content"].as_array().into_iter().flatten() {
            match block["type"].as_str() {
                Some("text") => {
                    let text = block["text"].as_str().unwrap_or("").trim();
                    if !text.is_empty() {
                        out.push(Seen::Report(Report::Message {
                            text: clip_output(text),
                        }));
                    }
                }
                Some("tool_use") => {
                    let id = block["id"].as_str().unwrap_or("").to_string();
                    let name = block["name"].as_str().unwrap_or("?").to_string();
                    if self.calls.len() < OPEN_CALLS && !name.starts_with(MCP_PREFIX) {
                        self.calls.insert(id, (name, block["input"].clone()));
                    }
                }
                _ => {}
            }
        }
        out
    }

    fn results(&mut self, message: &Value) -> Vec<Seen> {
        let mut out = Vec::new();
        for block in message["content"].as_array().into_iter().flatten() {
            if block["type"] != "tool_result" {
                continue;
            }
            let id = block["tool_use_id"].as_str().unwrap_or("");
            let Some((tool, args)) = self.calls.remove(id) else {
                continue;
            };
            out.push(Seen::Report(Report::ToolCall {
                call_id: format!("cc-{}", crate::text::clip(id, 40)),
                tool,
                args,
                ok: block["is_error"] != true,
                output: clip_output(&result_text(&block["content"])),
            }));
        }
        out
    }
}

/// A tool result's text: a string, or text parts.
fn result_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The `result` event: the session's cost as Claude Code computed it (its calls' tokens
/// were reported as each ended), as one entry with no tokens of its own.
fn result(v: &Value) -> Vec<Seen> {
    let Some(cost) = v["total_cost_usd"].as_f64().filter(|c| *c > 0.0) else {
        return Vec::new();
    };
    let model = v["modelUsage"]
        .as_object()
        .and_then(|m| m.keys().next().cloned())
        .unwrap_or_else(|| "claude-code".into());
    vec![Seen::Report(Report::LlmCall {
        purpose: CallPurpose::Worker,
        model,
        tokens_in: 0,
        tokens_out: 0,
        tokens_cached_read: 0,
        tokens_cache_write: 0,
        cost_usd: Some(cost),
        latency_ms: v["duration_api_ms"].as_u64().unwrap_or(0),
    })]
}

#[cfg(test)]
mod tests {
    use super::super::Parser as _;
    use super::*;

    #[test]
    fn text_own_tool_calls_and_the_result_become_reports() {
        let mut p = Parser::default();
        let lines = [
            json!({"type":"system","subtype":"init","mcp_servers":[{"name":"delm","status":"failed"}]}),
            json!({"type":"assistant","message":{"content":[
                {"type":"text","text":"Reading the parser."},
                {"type":"tool_use","id":"t1","name":"Read","input":{"file_path":"p.py"}},
                {"type":"tool_use","id":"t2","name":"mcp__delm__claim_task","input":{}}]}}),
            json!({"type":"user","message":{"content":[
                {"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"1 def parse"}]},
                {"type":"tool_result","tool_use_id":"t2","content":"You claimed T1"}]}}),
            json!({"type":"stream_event","event":{"type":"message_start","message":{"model":"claude-x",
                "usage":{"input_tokens":10,"output_tokens":1,"cache_read_input_tokens":4,"cache_creation_input_tokens":2}}}}),
            json!({"type":"stream_event","event":{"type":"content_block_delta","index":0,
                "delta":{"type":"text_delta","text":"Read"}}}),
            json!({"type":"stream_event","event":{"type":"message_delta","usage":{"output_tokens":3}}}),
            json!({"type":"stream_event","event":{"type":"message_stop"}}),
            json!({"type":"result","total_cost_usd":0.25,"duration_api_ms":316,"modelUsage":{"claude-x":{}}}),
        ];
        let out: Vec<Seen> = lines.iter().flat_map(|l| p.line(l)).collect();
        assert!(matches!(&out[0], Seen::Problem(m) if m.contains("`failed`")));
        assert!(
            matches!(&out[1], Seen::Report(Report::Message { text }) if text == "Reading the parser.")
        );
        assert!(
            matches!(&out[2], Seen::Report(Report::ToolCall { tool, ok: true, output, .. })
            if tool == "Read" && output == "1 def parse")
        );
        assert!(matches!(&out[3], Seen::Delta(t) if t == "Read"));
        assert!(matches!(&out[4], Seen::Report(Report::LlmCall {
            purpose: CallPurpose::Worker, tokens_in: 16, tokens_out: 3, tokens_cached_read: 4,
            tokens_cache_write: 2, cost_usd: None, model, ..}) if model == "claude-x"));
        assert!(matches!(&out[5], Seen::Report(Report::LlmCall {
            tokens_in: 0, cost_usd: Some(c), ..}) if *c == 0.25));
        assert_eq!(out.len(), 6, "the board's own tools are not reported twice");
    }
}
