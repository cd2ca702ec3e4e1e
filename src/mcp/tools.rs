//! The tools an outside agent sees, as JSON schemas, and the brief `join_swarm` returns.
//! The names are a contract (clients, worker instructions and tests use them).

use crate::event::Coordination;
use crate::llm::ToolSpec;
use serde_json::{Value, json};
use std::time::Duration;

pub const JOIN: &str = "join_swarm";
pub const READ: &str = "read_board";
pub const CLAIM: &str = "claim_task";
pub const EXPAND: &str = "expand_point";
pub const RECORD: &str = "record_point";
pub const ADD: &str = "add_task";
pub const FINISH: &str = "finish_task";
pub const RUN_CHECK: &str = "run_check";

/// Longest wait `read_board` takes (under Codex's 60 s tool timeout, with room to spare).
pub const MAX_WAIT_S: u64 = 25;

/// The workspace tools an outside agent may not call directly: running commands goes
/// through `run_check`, and editing is for agents with a worktree of their own.
const NOT_PASSED_THROUGH: &[&str] = &["run_command", "edit_file", "write_file", "show_patch"];

/// What a tool does to the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Reads only.
    Reads,
    /// Changes the board; a retry with the same `request_id` is applied once.
    Publishes,
    /// Runs a command (not idempotent: a retry runs it again).
    Runs,
}

/// One tool as served: its schema, and what it does.
#[derive(Debug, Clone)]
pub struct BoardTool {
    pub spec: ToolSpec,
    pub effect: Effect,
}

fn agent_prop() -> Value {
    json!({"type": "string", "description": "Your agent handle from join_swarm (x1-…)"})
}

fn request_id_prop() -> Value {
    json!({"type": "string", "description": "Optional id of this call: sending the same call \
again with the same request_id returns the first answer instead of applying it twice (use it \
when you retry after a timeout)"})
}

/// `parameters` with `agent` required first and, for a publishing tool, `request_id`.
fn with_agent(mut parameters: Value, effect: Effect) -> Value {
    if !parameters["properties"].is_object() {
        parameters["properties"] = json!({});
    }
    if let Some(props) = parameters["properties"].as_object_mut() {
        props.insert("agent".into(), agent_prop());
        if effect == Effect::Publishes {
            props.insert("request_id".into(), request_id_prop());
        }
    }
    let mut required = vec![json!("agent")];
    required.extend(
        parameters["required"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
    );
    parameters["required"] = Value::Array(required);
    // Some clients add fields of their own (a `_meta`); tolerate them.
    if let Some(obj) = parameters.as_object_mut() {
        obj.remove("additionalProperties");
    }
    parameters
}

fn served(name: &str, description: &str, parameters: Value, effect: Effect) -> BoardTool {
    BoardTool {
        spec: ToolSpec {
            name: name.into(),
            description: description.into(),
            parameters: with_agent(parameters, effect),
        },
        effect,
    }
}

/// A native agent's protocol tool as an outside agent gets it (same schema and wording, so
/// both read one vocabulary), under `name`.
fn native(specs: &[ToolSpec], native_name: &str, name: &str, effect: Effect) -> BoardTool {
    let spec = specs
        .iter()
        .find(|t| t.name == native_name)
        .unwrap_or_else(|| panic!("the agents' protocol tools include {native_name}"));
    served(name, &spec.description, spec.parameters.clone(), effect)
}

/// The board's tools, then the workspace's reading tools (each taking `agent` too).
pub fn board_tools(workspace_tools: &[ToolSpec], exec: bool) -> Vec<BoardTool> {
    let agents = crate::engine::agent::tools::protocol_tools(Coordination::Delm, false, false);
    let mut finish = native(&agents, "finish_task", FINISH, Effect::Publishes);
    finish.spec.parameters["properties"]["outcome"] = json!({"type": "string",
        "enum": ["done", "failed"],
        "description": "\"failed\" when the task could not be done (default done)"});
    let mut tools = vec![
        BoardTool {
            spec: ToolSpec {
                name: JOIN.into(),
                description: "Join the live swarm. Returns your agent handle (pass it as \
`agent` to every other tool) and a brief: the goal, the workspace, how points and evidence \
work. Call it once."
                    .into(),
                parameters: json!({"type": "object", "properties": {
                    "name": {"type": "string", "description": "Who you are, e.g. \"claude-code\" (shown to the human)"},
                    "request_id": request_id_prop()}}),
            },
            effect: Effect::Publishes,
        },
        served(
            READ,
            "The board: the queue, your claim, and the shared context (verified points, \
constraints first). The first read shows the whole budgeted context; later reads show only \
what changed since your last read. With wait_s, waits up to that many seconds (at most 25) \
for a change (a new point or constraint, a queued task, pause/resume, your claim revoked) \
and says why it woke. When the swarm is paused it answers \"paused, wait\".",
            json!({"type": "object", "properties": {
                "wait_s": {"type": "integer", "minimum": 0, "maximum": MAX_WAIT_S},
                "full": {"type": "boolean", "description": "Show the whole shared context again, not only the changes"}}}),
            Effect::Reads,
        ),
        served(
            CLAIM,
            "Take the next task from the shared queue (one open claim per agent). Returns the \
task and the shared context relevant to it, or says why there is none now (paused, wait; \
nothing queued).",
            json!({"type": "object", "properties": {}}),
            Effect::Publishes,
        ),
        native(&agents, "expand", EXPAND, Effect::Reads),
        native(&agents, "record_point", RECORD, Effect::Publishes),
        native(&agents, "add_task", ADD, Effect::Publishes),
        finish,
    ];
    if exec {
        tools.push(served(
            RUN_CHECK,
            "Run a shell command (`sh -c`) in delm's sandbox for this run (no stdin, secrets \
removed from the environment, killed with everything it started at the timeout). Returns a \
run id to cite as evidence source \"cmd:<id>\", the exit code and the output.",
            json!({"type": "object", "properties": {
                "cmd": {"type": "string"},
                "timeout_s": {"type": "integer", "minimum": 1, "description": "Seconds before it is killed"}},
                "required": ["cmd"]}),
            Effect::Runs,
        ));
    }
    for spec in workspace_tools {
        if !NOT_PASSED_THROUGH.contains(&spec.name.as_str()) {
            tools.push(served(
                &spec.name,
                &spec.description,
                spec.parameters.clone(),
                Effect::Reads,
            ));
        }
    }
    tools
}

/// Whether `name` is one of the workspace's tools an outside agent may call.
pub fn passes_through(workspace_tools: &[ToolSpec], name: &str) -> bool {
    !NOT_PASSED_THROUGH.contains(&name) && workspace_tools.iter().any(|t| t.name == name)
}

/// What the board's server tells a client at the handshake.
pub const INSTRUCTIONS: &str = "This server is the board of a live delm swarm. Call \
join_swarm first; then claim_task, work on the task, record_point what you find (with exact \
quotes as evidence), and finish_task. read_board shows the shared context and what changed.";

/// Everything the goal, workspace and rules of the run say, for `join_swarm`.
pub struct BriefFacts<'a> {
    pub handle: &'a str,
    pub name: &'a str,
    pub goal: &'a str,
    pub workspace: &'a str,
    pub lease: Duration,
    pub exec: bool,
    pub workspace_tools: &'a [ToolSpec],
}

/// The brief an outside agent gets when it joins.
pub fn brief(f: &BriefFacts<'_>) -> String {
    let reading: Vec<&str> = f
        .workspace_tools
        .iter()
        .map(|t| t.name.as_str())
        .filter(|n| !NOT_PASSED_THROUGH.contains(n))
        .collect();
    let mut s = format!(
        "You joined a live delm swarm as agent {handle} (\"{name}\"). Pass \"agent\": \
\"{handle}\" to every other tool.\n\n\
GOAL: {goal}\n\n\
WORKSPACE: {workspace}\n\n\
HOW THE SWARM WORKS\n\
- Peers (delm's own agents and other outside agents) claim tasks from one shared queue and \
publish compact, verified points into a shared context that everyone reads. There is no boss.\n\
- claim_task gives you one task at a time, with the shared context relevant to it. Do not \
redo what a point already establishes; never repeat an approach listed under failures.\n\
- record_point publishes what you learn as soon as you know it: kind `finding` for a fact \
(it MUST cite evidence: source, optional lines, and a quote copied exactly from the source), \
`partial` for progress with open ends named, `failure` for what you tried and why it did not \
work, `constraint` for something that must hold. Headline at most 25 words, summary at most \
150. delm checks every point against its evidence before anyone else sees it (the same checks \
as for its own agents); a rejected point comes back with the reason: fix it and record again.\n\
- finish_task ends your task with a short result naming the points you recorded; then claim \
the next one. add_task queues a focused task for anyone.\n\
- read_board shows the queue and the shared context; later reads show only what changed. \
Call it with wait_s (at most {max_wait}) to wait for work or news. Constraints from the human \
override everything else.\n\
- When the human pauses the swarm, read_board and claim_task answer \"paused, wait\": start \
nothing new until read_board says the swarm resumed.\n\
- Stay in touch: a claim you hold is given back to the queue if the board hears nothing from \
you for {lease} s (any tool call counts).\n",
        handle = f.handle,
        name = f.name,
        goal = f.goal,
        workspace = f.workspace,
        max_wait = MAX_WAIT_S,
        lease = f.lease.as_secs(),
    );
    s.push_str(&format!(
        "\nTOOLS: {JOIN}, {READ}, {CLAIM}, {EXPAND}, {RECORD}, {ADD}, {FINISH}"
    ));
    if f.exec {
        s.push_str(&format!(
            ", {RUN_CHECK} (runs a command in delm's sandbox; cite its output as \"cmd:<id>\")"
        ));
    }
    if !reading.is_empty() {
        s.push_str(&format!(
            "; and the workspace's reading tools: {} (they read exactly what the verifier \
checks quotes against).",
            reading.join(", ")
        ));
    }
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> ToolSpec {
        ToolSpec {
            name: name.into(),
            description: format!("{name} tool"),
            parameters: json!({"type": "object", "properties": {"path": {"type": "string"}},
                "required": ["path"], "additionalProperties": false}),
        }
    }

    #[test]
    fn every_tool_but_join_takes_the_agent_and_writers_take_a_request_id() {
        let ws = [spec("read_file"), spec("run_command"), spec("edit_file")];
        let tools = board_tools(&ws, true);
        let names: Vec<&str> = tools.iter().map(|t| t.spec.name.as_str()).collect();
        assert_eq!(
            names,
            [
                JOIN,
                READ,
                CLAIM,
                EXPAND,
                RECORD,
                ADD,
                FINISH,
                RUN_CHECK,
                "read_file"
            ]
        );
        for t in &tools[1..] {
            let required = t.spec.parameters["required"].as_array().unwrap();
            assert_eq!(required[0], "agent", "{}", t.spec.name);
            let has_id = t.spec.parameters["properties"].get("request_id").is_some();
            assert_eq!(has_id, t.effect == Effect::Publishes, "{}", t.spec.name);
        }
        let read_file = tools.last().unwrap();
        assert_eq!(
            read_file.spec.parameters["required"],
            json!(["agent", "path"])
        );
        assert!(passes_through(&ws, "read_file"));
        assert!(!passes_through(&ws, "run_command"));
        assert!(
            !board_tools(&ws, false)
                .iter()
                .any(|t| t.spec.name == RUN_CHECK)
        );
    }

    #[test]
    fn the_brief_names_goal_workspace_lease_and_tools() {
        let ws = [spec("read_doc")];
        let text = brief(&BriefFacts {
            handle: "x1-00ff",
            name: "claude-code",
            goal: "Which vendor grew fastest?",
            workspace: "A set of 2 documents.",
            lease: Duration::from_secs(120),
            exec: false,
            workspace_tools: &ws,
        });
        for needle in [
            "x1-00ff",
            "Which vendor grew fastest?",
            "A set of 2 documents.",
            "120 s",
            "paused, wait",
            "read_doc",
            RECORD,
        ] {
            assert!(text.contains(needle), "{needle} missing:\n{text}");
        }
        assert!(!text.contains(RUN_CHECK));
    }
}
