//! Two fixes of the fixture `tests/fixtures/convert` (two functions with a planted bug
//! each, and a failing test for each), and the cooperative agents that make them: the
//! planner adds one task per fix; each fix is made by its own agent in its own copy
//! (`delivery`: two agents of one board; `nats`: one of the board's and one of a worker's).

use super::*;
use crate::support::{RecordedRequest, Reply};
use serde_json::json;
use std::path::PathBuf;

pub const SOURCE: &str = "convert/temperature.py";
/// What a passing subset of the fixture's tests prints (two tests each).
pub const GREEN_QUOTE: &str = "Ran 2 tests";

/// One agent's fix: the task it belongs to, the check that proves it, the edit.
#[derive(Clone)]
pub struct Fix {
    pub title: &'static str,
    pub check: String,
    pub old: &'static str,
    pub new: &'static str,
}

/// The fixture's tests whose names hold `pattern`.
pub fn tests_of(pattern: &str) -> String {
    format!("python3 -m unittest discover -s tests -k {pattern}")
}

pub fn celsius() -> Fix {
    Fix {
        title: "Fix to_celsius",
        check: tests_of("Celsius"),
        old: "(fahrenheit - FREEZING_F) * 5 / 8",
        new: "(fahrenheit - FREEZING_F) * 5 / 9",
    }
}

pub fn fahrenheit() -> Fix {
    Fix {
        title: "Fix to_fahrenheit",
        check: tests_of("Fahrenheit"),
        old: "celsius * 9 / 5 + 23",
        new: "celsius * 9 / 5 + FREEZING_F",
    }
}

/// The same line as [`celsius`], fixed another way.
pub fn celsius_other_way() -> Fix {
    Fix {
        title: "Fix to_celsius by dividing by 1.8",
        new: "(fahrenheit - FREEZING_F) / 1.8",
        ..celsius()
    }
}

/// Two cooperative agents: the planner adds one task per fix; each fix task waits until
/// both are under way (so two agents, each in its own copy, hold them: a command polls a
/// shared directory for both agents' marks), runs its failing test, edits, runs it green
/// and records the patch with the green run. The finaliser cites every point it sees.
pub fn two_agents(
    fixes: [Fix; 2],
    sync: PathBuf,
) -> impl Fn(&RecordedRequest, usize) -> Reply + Send + Sync + 'static {
    move |req, _| {
        if is_finalise(req) {
            return final_answer(req, "Both conversions are fixed; see the cited patches.");
        }
        let turn = assistant_turns(req);
        let line = task_line(req);
        let agent = agent_of(req).unwrap_or_default();
        let Some(fix) = fixes.iter().find(|f| line.ends_with(f.title)) else {
            return match turn {
                0 => Reply::Tools(
                    fixes
                        .iter()
                        .map(|f| {
                            (
                                "add_task".to_string(),
                                json!({"title": f.title, "detail": format!("Make `{}` pass.", f.check)}),
                            )
                        })
                        .collect(),
                ),
                _ => finish("split into one task per failing test"),
            };
        };
        let sync = sync.display();
        match turn {
            0 => Reply::tool(
                "run_command",
                json!({
                    "cmd": format!(
                        "touch '{sync}/{agent}'; n=0; while [ $(ls '{sync}' | wc -l) -lt 2 ]; do \
                         n=$((n+1)); if [ $n -gt 2400 ]; then echo alone; exit 1; fi; sleep 0.05; \
                         done; echo both fixes are under way"
                    ),
                    "timeout_s": 150
                }),
            ),
            1 => Reply::tool("run_command", json!({"cmd": fix.check, "timeout_s": 300})),
            2 => Reply::tool(
                "edit_file",
                json!({"path": SOURCE, "old": fix.old, "new": fix.new}),
            ),
            3 => Reply::tool("run_command", json!({"cmd": fix.check, "timeout_s": 300})),
            4 => {
                let green = run_id(&last_result(req));
                Reply::tool(
                    "record_point",
                    json!({
                        "kind": "finding",
                        "headline": format!("{} fixed: its tests pass on the patched code", fix.title.trim_start_matches("Fix ")),
                        "summary": "The constant was wrong; the patch corrects it and the failing test passes.",
                        "evidence": [
                            {"source": format!("patch:{agent}"), "quote": fix.new},
                            {"source": format!("cmd:{green}"), "quote": GREEN_QUOTE}
                        ]
                    }),
                )
            }
            _ => finish("fixed; see my finding"),
        }
    }
}
