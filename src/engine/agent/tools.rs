//! The protocol tools an agent offers its model (`expand`, `record_point`, `add_task`,
//! `finish_task`, `final_answer`, `broadcast`), as the coordination policy allows them.

use crate::event::Coordination;
use crate::llm::ToolSpec;
use serde_json::json;

pub(crate) fn protocol_tools(
    coordination: Coordination,
    finalise: bool,
    may_add_tasks: bool,
) -> Vec<ToolSpec> {
    let mut tools = vec![ToolSpec {
        name: "expand".into(),
        description: "Read more of a shared point: its summary, or its full evidence.".into(),
        parameters: json!({"type": "object", "properties": {
            "point": {"type": "string", "description": "Point id, e.g. P12"},
            "level": {"type": "string", "enum": ["summary", "evidence"]}},
            "required": ["point", "level"]}),
    }];
    if !finalise {
        tools.push(ToolSpec {
            name: "record_point".into(),
            description: "Publish a point to the shared context. It is verified against \
its evidence before other agents see it; the result tells you whether it was accepted."
                .into(),
            parameters: json!({"type": "object", "properties": {
                "kind": {"type": "string", "enum": ["finding", "partial", "failure", "constraint"]},
                "headline": {"type": "string", "description": "At most 25 words, self-contained"},
                "summary": {"type": "string", "description": "At most 150 words"},
                "evidence": {"type": "array", "items": {"type": "object", "properties": {
                    "source": {"type": "string", "description": "Path relative to the workspace root, cmd:<id> of a command run, patch:<agent id> for your edits, or a verified point id"},
                    "lines": {"type": "string", "description": "Line range a-b (files only)"},
                    "quote": {"type": "string", "description": "Exact text copied from the source"}},
                    "required": ["source", "quote"]}},
                "supersedes": {"type": "string", "description": "Id of a point this one corrects"}},
                "required": ["kind", "headline", "summary"]}),
        });
    }
    if !finalise || may_add_tasks {
        tools.push(ToolSpec {
            name: "add_task".into(),
            description: "Add a focused task to the shared queue for any agent to claim.".into(),
            parameters: json!({"type": "object", "properties": {
                "title": {"type": "string"}, "detail": {"type": "string"}},
                "required": ["title"]}),
        });
    }
    if finalise && coordination == Coordination::Central {
        tools.push(ToolSpec {
            name: "broadcast".into(),
            description: "Set the context every worker of the next wave receives with its \
task (replaces the previous broadcast)."
                .into(),
            parameters: json!({"type": "object", "properties": {
                "context": {"type": "string"}}, "required": ["context"]}),
        });
    }
    if finalise {
        tools.push(ToolSpec {
            name: "final_answer".into(),
            description: "Write the final answer to the goal, citing the point ids it rests on."
                .into(),
            parameters: json!({"type": "object", "properties": {
                "answer": {"type": "string"},
                "cited": {"type": "array", "items": {"type": "string"}}},
                "required": ["answer", "cited"]}),
        });
    } else {
        tools.push(ToolSpec {
            name: "finish_task".into(),
            description:
                "Finish your current task with a short result naming the points you recorded."
                    .into(),
            parameters: json!({"type": "object", "properties": {
                "result": {"type": "string"}}, "required": ["result"]}),
        });
    }
    tools.retain(|t| coordination.offers_tool(&t.name, finalise));
    tools
}
