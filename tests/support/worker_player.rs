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
    /// A delm tool.
    Call(&'static str, Value),
    /// One of the CLI's own tools (Claude Code's `Read`, `Edit`).
    Own(&'static str, Value),
    Say(String),
}

/// A repository fix the player makes with Claude Code's own tools in its directory: read
/// `file`, replace `old` with `new`, run `check` with run_check and cite its output line
/// `passed` and a changed line of its patch.
#[derive(Debug, Clone)]
pub struct Fix {
    pub file: &'static str,
    pub old: &'static str,
    pub new: &'static str,
    pub check: &'static str,
    pub passed: &'static str,
}

/// The documents of the run and a sentence of each, to quote as evidence.
#[derive(Debug, Clone)]
pub struct Player {
    pub name: &'static str,
    pub docs: Vec<(String, String)>,
    /// Held before `finish_task` until the test opens it (both workers claimed).
    pub hold_finish: Option<Gate>,
    /// A claimed task is this fix (Claude Code only), not a document to quote.
    pub fix: Option<Fix>,
}

impl Player {
    /// The next move after `history`, in the directory `cwd` (where the CLI runs).
    pub fn next(&self, history: &[Done], cwd: &str) -> Move {
        let Some(last) = history.last() else {
            return Move::Call("join_swarm", json!({"name": self.name}));
        };
        let me = history
            .iter()
            .find(|d| d.tool == "join_swarm")
            .and_then(|d| handle_in(&d.result))
            .unwrap_or_default();
        let over = |t: &str| t.contains("run is over");
        if let Some(fix) = &self.fix
            && let Some(step) = fix_step(fix, last, &me, cwd)
        {
            return step;
        }
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
            let text = body.to_string();
            let cwd = Regex::new(r"Primary working directory: ([^\\\s]+)")
                .unwrap()
                .captures(&text)
                .map(|c| c[1].to_string())
                .unwrap_or_default();
            match self.next(&history, &cwd) {
                Move::Say(text) => Reply::text(text),
                Move::Own(tool, args) => Reply::tool(tool, args),
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
            match self.next(&responses_history(&req.body), "") {
                Move::Say(text) => Reply::text(text),
                Move::Own(tool, _) => Reply::text(format!("This player has no own {tool}.")),
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

/// The fix's steps: on a claimed task read the file, then edit it, then run the check,
/// then record the point citing the patch and the run.
fn fix_step(fix: &Fix, last: &Done, me: &str, cwd: &str) -> Option<Move> {
    let path = format!("{cwd}/{}", fix.file);
    Some(match last.tool.as_str() {
        "claim_task" if last.result.contains("You claimed") => {
            Move::Own("Read", json!({"file_path": path}))
        }
        "Read" => Move::Own(
            "Edit",
            json!({"file_path": path, "old_string": fix.old, "new_string": fix.new}),
        ),
        "Edit" => Move::Call(
            "run_check",
            json!({"agent": me, "cmd": fix.check, "timeout_s": 60}),
        ),
        "run_check" => {
            let run = Regex::new(r"cmd:c[0-9]+")
                .unwrap()
                .find(&last.result)
                .map(|m| m.as_str().to_string())
                .unwrap_or_default();
            Move::Call(
                "record_point",
                json!({"agent": me, "kind": "finding",
                    "headline": format!("Fixed {} so the check passes", fix.file),
                    "summary": "The patch changes the faulty line; the check passes on it.",
                    "evidence": [
                        {"source": format!("patch:{me}"), "quote": fix.new.trim()},
                        {"source": run, "quote": fix.passed}]}),
            )
        }
        _ => return None,
    })
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

/// The tool calls of an Anthropic conversation (delm's and the CLI's own, ToolSearch
/// aside) with their results, in order.
fn anthropic_history(body: &Value) -> Vec<Done> {
    let mut calls: Vec<(String, String)> = Vec::new();
    let mut done = Vec::new();
    for message in body["messages"].as_array().into_iter().flatten() {
        for block in message["content"].as_array().into_iter().flatten() {
            match block["type"].as_str() {
                Some("tool_use") => {
                    // delm's tools without their prefix; the CLI's own (Read, Edit) as named.
                    let name = block["name"].as_str().unwrap_or("");
                    if name != "ToolSearch" {
                        let tool = name.strip_prefix(PREFIX).unwrap_or(name);
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
