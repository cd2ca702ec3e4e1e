//! Codex as a worker: `codex exec --json` with delm's MCP server given by `-c` overrides
//! (the token in `DELM_MCP_TOKEN`, never in argv; the user's `CODEX_HOME` untouched) and
//! its JSON events as the board's reports.

use super::{Launch, Prepared, Seen, clip_output};
use crate::engine::protocol::Report;
use crate::event::CallPurpose;
use serde_json::{Value, json};
use std::time::Instant;

/// The variable Codex reads the board's bearer token from.
pub(super) const TOKEN_VAR: &str = "DELM_MCP_TOKEN";

/// `codex exec --json --skip-git-repo-check -c mcp_servers.delm.* ... PROMPT`.
pub(super) fn prepare(launch: &Launch<'_>) -> Result<Prepared, String> {
    let toml_str = |s: &str| Value::String(s.to_string()).to_string();
    // Commands run in Codex's own sandbox: they may write only in the private copy, and
    // only when the run allows edits.
    let sandbox = if launch.allow.edit {
        "workspace-write"
    } else {
        "read-only"
    };
    let mut args: Vec<String> = vec![
        "exec".into(),
        "--json".into(),
        "--skip-git-repo-check".into(),
        "--sandbox".into(),
        sandbox.into(),
    ];
    for setting in [
        format!("mcp_servers.delm.url={}", toml_str(launch.board_url)),
        format!(
            "mcp_servers.delm.bearer_token_env_var={}",
            toml_str(TOKEN_VAR)
        ),
        // Without it the first turn can start before the board's tools are listed.
        "mcp_servers.delm.required=true".into(),
        // `exec` has no human to approve a call: without it every call is refused.
        "mcp_servers.delm.default_tools_approval_mode=\"approve\"".into(),
        // run_check waits for its command.
        "mcp_servers.delm.tool_timeout_sec=600".into(),
    ] {
        args.push("-c".into());
        args.push(setting);
    }
    args.push(launch.prompt.to_string());
    Ok(Prepared {
        args,
        env: vec![(TOKEN_VAR.into(), launch.token.to_string())],
        login_vars: LOGIN_VARS,
    })
}

/// The variables Codex logs in with: passed to it (and only to it).
const LOGIN_VARS: &[&str] = &[
    "OPENAI_API_KEY",
    "CODEX_API_KEY",
    "OPENAI_BASE_URL",
    "CODEX_HOME",
];

/// Codex's `exec --json` events as reports: agent messages, its commands, file changes
/// and other tools' calls (the board's own are recorded board-side), and each turn's usage.
#[derive(Default)]
pub(super) struct Parser {
    turn_started: Option<Instant>,
}

impl super::Parser for Parser {
    fn line(&mut self, v: &Value) -> Vec<Seen> {
        match v["type"].as_str() {
            Some("turn.started") => {
                self.turn_started = Some(Instant::now());
                Vec::new()
            }
            Some("item.completed") => item(&v["item"]).into_iter().collect(),
            Some("turn.completed") => vec![self.usage(&v["usage"])],
            Some("turn.failed") | Some("error") => {
                let message = v["error"]["message"]
                    .as_str()
                    .or(v["message"].as_str())
                    .unwrap_or("(no message)");
                vec![Seen::Problem(format!(
                    "Codex reported an error: {}",
                    crate::text::clip(message, 400)
                ))]
            }
            _ => Vec::new(),
        }
    }
}

impl Parser {
    fn usage(&mut self, usage: &Value) -> Seen {
        let n = |key: &str| usage[key].as_u64().unwrap_or(0);
        let latency_ms = self
            .turn_started
            .take()
            .map_or(0, |t| t.elapsed().as_millis() as u64);
        Seen::Report(Report::LlmCall {
            purpose: CallPurpose::Worker,
            model: "codex".into(),
            // OpenAI's input_tokens already counts the cached part (as delm's do).
            tokens_in: n("input_tokens"),
            tokens_out: n("output_tokens"),
            tokens_cached_read: n("cached_input_tokens"),
            tokens_cache_write: n("cache_write_input_tokens"),
            cost_usd: None,
            latency_ms,
        })
    }
}

fn tool(id: &Value, tool: &str, args: Value, ok: bool, output: &str) -> Option<Seen> {
    Some(Seen::Report(Report::ToolCall {
        call_id: format!("cx-{}", crate::text::clip(id.as_str().unwrap_or(""), 40)),
        tool: tool.to_string(),
        args,
        ok,
        output: clip_output(output),
    }))
}

/// One finished item.
fn item(item: &Value) -> Option<Seen> {
    let id = &item["id"];
    match item["type"].as_str()? {
        "agent_message" => {
            let text = item["text"].as_str()?.trim();
            (!text.is_empty()).then(|| {
                Seen::Report(Report::Message {
                    text: clip_output(text),
                })
            })
        }
        "command_execution" => tool(
            id,
            "shell",
            json!({"command": item["command"]}),
            item["exit_code"].as_i64() == Some(0),
            item["aggregated_output"].as_str().unwrap_or(""),
        ),
        "file_change" => tool(
            id,
            "file_change",
            json!({"changes": item["changes"]}),
            item["status"] != "failed",
            "",
        ),
        // The board's own tools are in the log already, as the board saw them.
        "mcp_tool_call" if item["server"] == "delm" => None,
        "mcp_tool_call" => tool(
            id,
            &format!(
                "{}.{}",
                item["server"].as_str().unwrap_or("?"),
                item["tool"].as_str().unwrap_or("?")
            ),
            item["arguments"].clone(),
            item["status"] != "failed",
            &item["result"].to_string(),
        ),
        "web_search" => tool(id, "web_search", json!({"query": item["query"]}), true, ""),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::Parser as _;
    use super::*;

    #[test]
    fn messages_commands_and_usage_become_reports() {
        let mut p = Parser::default();
        let lines = [
            json!({"type":"thread.started","thread_id":"t"}),
            json!({"type":"turn.started"}),
            json!({"type":"item.completed","item":{"id":"item_1","type":"agent_message","text":"On it."}}),
            json!({"type":"item.completed","item":{"id":"item_2","type":"command_execution",
                "command":"pytest -q","aggregated_output":"1 passed","exit_code":0,"status":"completed"}}),
            json!({"type":"item.completed","item":{"id":"item_3","type":"mcp_tool_call",
                "server":"delm","tool":"claim_task","arguments":{},"status":"completed"}}),
            json!({"type":"turn.completed","usage":{"input_tokens":10,"cached_input_tokens":4,"output_tokens":3}}),
            json!({"type":"turn.failed","error":{"message":"stream disconnected"}}),
        ];
        let out: Vec<Seen> = lines.iter().flat_map(|l| p.line(l)).collect();
        assert!(matches!(&out[0], Seen::Report(Report::Message { text }) if text == "On it."));
        assert!(
            matches!(&out[1], Seen::Report(Report::ToolCall { tool, ok: true, output, .. })
            if tool == "shell" && output == "1 passed")
        );
        assert!(matches!(
            &out[2],
            Seen::Report(Report::LlmCall {
                purpose: CallPurpose::Worker,
                tokens_in: 10,
                tokens_cached_read: 4,
                tokens_out: 3,
                ..
            })
        ));
        assert!(matches!(&out[3], Seen::Problem(m) if m.contains("stream disconnected")));
        assert_eq!(out.len(), 4);
    }

    #[test]
    fn the_token_is_in_the_environment_not_in_argv() {
        let dir = std::env::temp_dir();
        let launch = Launch {
            board_url: "http://127.0.0.1:9/mcp",
            token: "delm_secret",
            prompt: "work",
            private_dir: &dir,
            board_tools: &[],
            allow: super::super::Allowed::default(),
        };
        let p = prepare(&launch).unwrap();
        assert!(!p.args.iter().any(|a| a.contains("delm_secret")));
        assert!(
            p.args
                .contains(&"mcp_servers.delm.url=\"http://127.0.0.1:9/mcp\"".to_string())
        );
        assert_eq!(
            p.env,
            vec![(TOKEN_VAR.to_string(), "delm_secret".to_string())]
        );
        assert_eq!(p.args.last().map(String::as_str), Some("work"));
    }
}
