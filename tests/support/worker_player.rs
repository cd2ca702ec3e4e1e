//! A scripted "worker player" for the mock model server: from each request alone it plays
//! a coding-agent CLI (Claude Code on the Anthropic wire, Codex on the Responses wire)
//! working through delm's MCP tools: join, claim, record a finding quoting the claimed
//! task's document, finish, claim again; wait when told to; stop when the run is over.
//! A test double, not a model.
//!
//! - Claude Code defers MCP tools behind `ToolSearch`: the system text lists
//!   `mcp__delm__*` names without schemas; the player loads them with
//!   `ToolSearch {"query": "select:..."}` before calling one.
//! - Codex offers them as a `namespace` tool `mcp__delm`; a call is the tool's name with
//!   `namespace: "mcp__delm"` (the mock sends `mcp__delm.TOOL` that way).

use super::mock_llm::{Gate, RecordedRequest, Reply};
use regex::Regex;
use serde_json::{Value, json};

const PREFIX: &str = "mcp__delm__";
const NAMESPACE: &str = "mcp__delm";

/// One delm tool call of the conversation so far and the text it got back.
#[derive(Debug, Clone)]
pub struct Done {
    pub tool: String,
    pub result: String,
}

/// What the player does next.
#[derive(Debug, Clone, PartialEq)]
pub enum Move {
    Call(&'static str, Value),
    Say(String),
}

/// The documents of the run and a sentence of each, to quote as evidence.
#[derive(Debug, Clone)]
pub struct Player {
    pub name: &'static str,
    pub docs: Vec<(String, String)>,
    /// Held before `finish_task` until the test opens it (both workers claimed).
    pub hold_finish: Option<Gate>,
}

impl Player {
    /// The next move after `history`.
    pub fn next(&self, history: &[Done]) -> Move {
        let Some(last) = history.last() else {
            return Move::Call("join_swarm", json!({"name": self.name}));
        };
        let me = history
            .iter()
            .find(|d| d.tool == "join_swarm")
            .and_then(|d| handle_in(&d.result))
            .unwrap_or_default();
        let over = |t: &str| t.contains("run is over");
        match last.tool.as_str() {
            _ if over(&last.result) => Move::Say("The run is over; done.".into()),
            "claim_task"
                if last.result.contains("You claimed")
                    || last.result.contains("You already hold") =>
            {
                // The task's own line names its document (the shared context may name others).
                let task_line = last
                    .result
                    .lines()
                    .find(|l| l.starts_with("YOUR TASK"))
                    .unwrap_or(&last.result);
                match self
                    .docs
                    .iter()
                    .find(|(id, _)| task_line.contains(id.as_str()))
                {
                    Some((id, quote)) => Move::Call(
                        "record_point",
                        json!({"agent": me, "kind": "finding",
                            "headline": format!("What {id} reports"),
                            "summary": "Quoted from the document.",
                            "evidence": [{"source": id, "quote": quote}]}),
                    ),
                    None => Move::Call(
                        "finish_task",
                        json!({"agent": me, "result": "nothing to quote here"}),
                    ),
                }
            }
            "record_point" => Move::Call(
                "finish_task",
                json!({"agent": me, "result": "recorded the finding"}),
            ),
            "read_board" if last.result.contains("paused, wait") => {
                Move::Call("read_board", json!({"agent": me, "wait_s": 25}))
            }
            "claim_task" if last.result.contains("paused, wait") => {
                Move::Call("read_board", json!({"agent": me, "wait_s": 25}))
            }
            "claim_task" => Move::Call("read_board", json!({"agent": me, "wait_s": 5})),
            _ => Move::Call("claim_task", json!({"agent": me})),
        }
    }

    /// Play Claude Code on the Anthropic wire.
    pub fn claude(self) -> impl Fn(&RecordedRequest, usize) -> Reply + Send + Sync {
        move |req, _| {
            let body = &req.body;
            let history = anthropic_history(body);
            match self.next(&history) {
                Move::Say(text) => Reply::text(text),
                Move::Call(tool, args) => {
                    let name = format!("{PREFIX}{tool}");
                    let loaded = body["tools"]
                        .as_array()
                        .is_some_and(|tools| tools.iter().any(|t| t["name"] == name));
                    if !loaded {
                        let deferred = deferred_names(&body.to_string());
                        return Reply::tool(
                            "ToolSearch",
                            json!({"query": format!("select:{}", deferred.join(","))}),
                        );
                    }
                    self.held(tool, Reply::tool(name, args))
                }
            }
        }
    }

    /// Play Codex on the Responses wire.
    pub fn codex(self) -> impl Fn(&RecordedRequest, usize) -> Reply + Send + Sync {
        move |req, _| {
            let offered = req.body["tools"].as_array().is_some_and(|tools| {
                tools
                    .iter()
                    .any(|t| t["type"] == "namespace" && t["name"] == NAMESPACE)
            });
            if !offered {
                return Reply::text("The delm MCP tools are not offered; cannot work.");
            }
            match self.next(&responses_history(&req.body)) {
                Move::Say(text) => Reply::text(text),
                Move::Call(tool, args) => {
                    self.held(tool, Reply::tool(format!("{NAMESPACE}.{tool}"), args))
                }
            }
        }
    }

    fn held(&self, tool: &str, reply: Reply) -> Reply {
        match (&self.hold_finish, tool) {
            (Some(gate), "finish_task") => Reply::Hold(gate.clone(), Box::new(reply)),
            _ => reply,
        }
    }
}

/// `claude-1` in "You joined a live delm swarm as agent claude-1 (...)".
fn handle_in(text: &str) -> Option<String> {
    let rest = text.split("as agent ").nth(1)?;
    Some(rest.split_whitespace().next()?.to_string())
}

/// Every `mcp__delm__*` name the request mentions (the deferred-tools list).
fn deferred_names(text: &str) -> Vec<String> {
    let re = Regex::new(r"mcp__delm__[a-z_]+").unwrap();
    let mut names: Vec<String> = re.find_iter(text).map(|m| m.as_str().to_string()).collect();
    names.sort();
    names.dedup();
    names
}

fn text_of(content: &Value) -> String {
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

/// The delm calls of an Anthropic conversation with their results, in order.
fn anthropic_history(body: &Value) -> Vec<Done> {
    let mut calls: Vec<(String, String)> = Vec::new();
    let mut done = Vec::new();
    for message in body["messages"].as_array().into_iter().flatten() {
        for block in message["content"].as_array().into_iter().flatten() {
            match block["type"].as_str() {
                Some("tool_use") => {
                    if let Some(tool) = block["name"].as_str().and_then(|n| n.strip_prefix(PREFIX))
                    {
                        calls.push((block["id"].as_str().unwrap_or("").into(), tool.into()));
                    }
                }
                Some("tool_result") => {
                    let id = block["tool_use_id"].as_str().unwrap_or("");
                    if let Some((_, tool)) = calls.iter().find(|(i, _)| i == id) {
                        done.push(Done {
                            tool: tool.clone(),
                            result: text_of(&block["content"]),
                        });
                    }
                }
                _ => {}
            }
        }
    }
    done
}

/// The delm calls of a Responses conversation with their outputs, in order.
fn responses_history(body: &Value) -> Vec<Done> {
    let items = body["input"].as_array().cloned().unwrap_or_default();
    let mut done = Vec::new();
    for item in &items {
        if item["type"] != "function_call_output" {
            continue;
        }
        let call = items
            .iter()
            .find(|i| i["type"] == "function_call" && i["call_id"] == item["call_id"]);
        let Some(call) = call else { continue };
        let name = call["name"].as_str().unwrap_or("");
        let tool = if call["namespace"] == NAMESPACE {
            name
        } else if let Some(t) = name.strip_prefix(PREFIX) {
            t
        } else {
            continue;
        };
        done.push(Done {
            tool: tool.to_string(),
            result: text_of(&item["output"]),
        });
    }
    done
}
