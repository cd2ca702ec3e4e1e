//! A cooperative repair agent for the fixture repository `tests/fixtures/repo` (a trailing
//! comment with no newline after it is dropped; a test fails on it): look at the
//! environment, run the failing test, fix the bug in its own copy, run the test again, and
//! record a finding citing the patch and a run, then finish. Played by one native agent
//! (`exec_edit`) or by a worker's agent on another machine (`nats`).

use super::*;
use crate::support::{RecordedRequest, Reply};
use serde_json::{Value, json};

pub const TEST_CMD: &str = "python3 -m unittest discover -s tests";
/// A line of the fixture's test output when every test passes (a quote must be at least a
/// few words: "OK" alone is not evidence).
pub const GREEN_QUOTE: &str = "Ran 5 tests";
/// A line of its output while the bug is there.
pub const RED_QUOTE: &str = "test_trailing_comment_is_kept";
pub const BUG: &str = "            if end == -1:\n                break\n";
pub const FIX: &str = "            if end == -1:\n                end = len(source)\n";
pub const FIX_LINE: &str = "end = len(source)";
pub const HEADLINE: &str =
    "tokenize dropped a trailing comment with no newline; the patch keeps it and the tests pass";

/// Which run the finding cites with the patch.
#[derive(Clone, Copy, PartialEq)]
pub enum Cites {
    /// The run after the fix (it passed).
    GreenRun,
    /// The run before the fix (it failed): the point must be rejected.
    RedRun,
}

/// The repair agent, citing `cites`.
pub fn repair(cites: Cites) -> impl Fn(&RecordedRequest, usize) -> Reply + Send + Sync + 'static {
    move |req, _| {
        if is_judge(req) {
            return approve();
        }
        if is_finalise(req) {
            let answer = "Fixed: tokenize dropped a trailing comment with no newline after it; \
                          the verified patch is in the cited point.";
            return final_answer(req, answer);
        }
        let tool = |name: &str, args: Value| Reply::tool(name, args);
        match assistant_turns(req) {
            0 => tool("run_command", json!({"cmd": "env"})),
            1 => tool("run_command", json!({"cmd": TEST_CMD})),
            2 => tool(
                "edit_file",
                json!({"path": "calc/lexer.py", "old": BUG, "new": FIX}),
            ),
            3 => tool("run_command", json!({"cmd": TEST_CMD, "timeout_s": 120})),
            4 => {
                let results: Vec<String> = req.tool_results().into_iter().map(|(_, t)| t).collect();
                let (run, quote) = match cites {
                    Cites::GreenRun => (run_id(&last_result(req)), GREEN_QUOTE),
                    Cites::RedRun => (
                        results
                            .iter()
                            .find(|t| t.contains("exited with 1"))
                            .map(|t| run_id(t))
                            .unwrap_or_default(),
                        RED_QUOTE,
                    ),
                };
                let agent = agent_of(req).unwrap_or_default();
                tool(
                    "record_point",
                    json!({
                        "kind": "finding",
                        "headline": HEADLINE,
                        "summary": "When `#` starts the last line, source.find returns -1 and the loop broke before appending the comment. The patch reads to the end of the source instead.",
                        "evidence": [
                            {"source": format!("patch:{agent}"), "quote": FIX_LINE},
                            {"source": format!("cmd:{run}"), "quote": quote}
                        ]
                    }),
                )
            }
            _ => finish("fixed; see my finding"),
        }
    }
}
