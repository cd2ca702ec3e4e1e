//! What the UI folds from the event log: the shared [`RunState`] plus what only a viewer
//! needs (what each agent is doing right now, the run's active time across resumes).
//!
//! Both the live view and replay fold through [`UiFold::apply`], so a replayed run at
//! position k looks exactly like the live run did after event k. Everything here is small
//! per agent: replay keeps checkpoints of this fold. Whole transcripts are read from the
//! event log on demand (see `log` and `transcript`), never folded.

use crate::event::{AgentId, CallPurpose, Envelope, Event, PointId, RunState, parse_ts};
use std::collections::BTreeMap;

/// What an agent is doing, beyond its status: its last action and what it waits on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Activity {
    /// The last tool call of the current task, in words ("reading acme/report.md").
    pub doing: Option<String>,
    /// The point the agent is having verified.
    pub verifying: Option<PointId>,
    /// The purpose of the agent's last model call (a judge's text is not its own words).
    pub last_purpose: Option<CallPurpose>,
    /// The agent's last message of a work or finalise turn.
    pub last_text: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct UiFold {
    pub run: RunState,
    pub activity: BTreeMap<AgentId, Activity>,
    /// Bumped whenever the set of points or their status changes (tree cache key).
    pub points_version: u64,
    /// Active time of the run's earlier processes (before the last `run_resumed`).
    pub active_before_ms: u64,
    /// When the current process of the run started (its `run_started` or `run_resumed`).
    pub segment_start: Option<String>,
}

impl UiFold {
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a Envelope>) -> Self {
        let mut fold = UiFold::default();
        for env in events {
            fold.apply(env);
        }
        fold
    }

    pub fn apply(&mut self, env: &Envelope) {
        match &env.event {
            Event::RunResumed { .. } => {
                // The gap between two processes of a run is not time the run spent.
                if let (Some(start), Some(end)) = (
                    self.segment_start.as_deref().and_then(parse_ts),
                    self.run.last_ts.as_deref().and_then(parse_ts),
                ) {
                    self.active_before_ms += (end - start).whole_milliseconds().max(0) as u64;
                }
                self.segment_start = Some(env.ts.clone());
            }
            _ if self.segment_start.is_none() => self.segment_start = Some(env.ts.clone()),
            _ => {}
        }
        self.run.apply(env);
        self.note_activity(&env.event);
        if matches!(
            env.event,
            Event::PointProposed { .. }
                | Event::PointRejected { .. }
                | Event::PointVerified { .. }
                | Event::ConstraintAdded { .. }
                | Event::TaskAdded { .. }
                | Event::TaskFinished { .. }
                | Event::RunFinished { .. }
        ) {
            // Task titles appear in the by-task grouping; a finished run marks points that
            // were left unverified as abandoned.
            self.points_version += 1;
        }
    }

    fn note_activity(&mut self, event: &Event) {
        match event {
            Event::TaskClaimed { agent, .. } | Event::FinaliseStarted { agent } => {
                let a = self.activity.entry(agent.clone()).or_default();
                a.doing = None;
                a.verifying = None;
                a.last_text = None;
            }
            Event::TaskFinished { agent, .. } => {
                let a = self.activity.entry(agent.clone()).or_default();
                a.doing = None;
                a.verifying = None;
            }
            Event::ToolCall {
                agent, tool, args, ..
            } => {
                self.activity.entry(agent.clone()).or_default().doing =
                    Some(describe_tool(tool, args));
            }
            Event::PointProposed { point } => {
                self.activity
                    .entry(point.author.clone())
                    .or_default()
                    .verifying = Some(point.id.clone());
            }
            Event::PointVerified { point, .. } | Event::PointRejected { point, .. } => {
                for a in self.activity.values_mut() {
                    if a.verifying.as_ref() == Some(point) {
                        a.verifying = None;
                    }
                }
            }
            Event::LlmCall { agent, purpose, .. } => {
                self.activity.entry(agent.clone()).or_default().last_purpose = Some(*purpose);
            }
            Event::AgentMessage { agent, text, .. } => {
                let a = self.activity.entry(agent.clone()).or_default();
                if a.last_purpose != Some(CallPurpose::Judge) {
                    a.last_text = Some(text.clone());
                }
            }
            _ => {}
        }
    }

    /// Active milliseconds of the run at `now`: earlier processes plus the current one.
    pub fn active_ms(&self, now: time::OffsetDateTime) -> Option<u64> {
        let start = parse_ts(self.segment_start.as_deref()?)?;
        Some(self.active_before_ms + (now - start).whole_milliseconds().max(0) as u64)
    }
}

/// A tool call in words, for an agent row: what the agent is looking at.
pub fn describe_tool(tool: &str, args: &serde_json::Value) -> String {
    let arg = |name: &str| -> Option<String> {
        match args.get(name)? {
            serde_json::Value::String(s) => Some(crate::text::one_line(s)),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        }
    };
    let quoted = |s: String| format!("“{}”", crate::text::clip(&s, 40));
    match tool {
        "read_doc" => match (arg("doc"), arg("offset")) {
            (Some(doc), Some(offset)) => format!("reading {doc} @{offset}"),
            (Some(doc), None) => format!("reading {doc}"),
            _ => "reading a document".into(),
        },
        "read_file" => match (arg("path"), arg("start"), arg("end")) {
            (Some(p), Some(a), Some(b)) => format!("reading {p}:{a}-{b}"),
            (Some(p), Some(a), None) => format!("reading {p} from line {a}"),
            (Some(p), _, _) => format!("reading {p}"),
            _ => "reading a file".into(),
        },
        "search_docs" => match arg("query") {
            Some(q) => format!("searching the documents for {}", quoted(q)),
            None => "searching the documents".into(),
        },
        "grep" => match arg("pattern") {
            Some(p) => format!("searching for {}", quoted(p)),
            None => "searching".into(),
        },
        "list_dir" => format!("listing {}", arg("path").unwrap_or_else(|| ".".into())),
        "run_command" => match arg("cmd") {
            Some(c) => format!("running `{}`", crate::text::clip(&c, 48)),
            None => "running a command".into(),
        },
        "edit_file" | "write_file" => match arg("path") {
            Some(p) => format!("editing {p}"),
            None => "editing a file".into(),
        },
        "show_patch" => "looking at its patch".into(),
        "expand" => match arg("point") {
            Some(p) => format!("reading {p} in full"),
            None => "reading a point in full".into(),
        },
        "record_point" => "recording a point".into(),
        "add_task" => match arg("title") {
            Some(t) => format!("adding a task {}", quoted(t)),
            None => "adding a task".into(),
        },
        "finish_task" => "finishing its task".into(),
        "final_answer" => "writing the final answer".into(),
        other => format!("calling {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Budgets, Mode, VerifyMode};
    use serde_json::json;

    fn env(seq: u64, ts: &str, event: Event) -> Envelope {
        Envelope {
            seq,
            ts: ts.into(),
            event,
        }
    }

    #[test]
    fn active_time_skips_the_gap_between_processes() {
        let started = Event::RunStarted {
            run_id: "r".into(),
            goal: "g".into(),
            mode: Mode::Plain,
            model: "m".into(),
            agents: 1,
            verify: VerifyMode::Off,
            budgets: Budgets::default(),
            coordination: crate::event::Coordination::Delm,
            endpoint: None,
        };
        let mut fold = UiFold::default();
        fold.apply(&env(1, "2026-01-01T10:00:00Z", started));
        fold.apply(&env(2, "2026-01-01T10:00:30Z", Event::Paused {}));
        // The process was killed; resumed an hour later.
        fold.apply(&env(
            3,
            "2026-01-01T11:00:30Z",
            Event::RunResumed {
                model: String::new(),
                agents: 0,
            },
        ));
        let now = parse_ts("2026-01-01T11:00:40Z").unwrap();
        assert_eq!(fold.active_ms(now), Some(40_000));
    }

    #[test]
    fn tools_read_as_what_the_agent_does() {
        assert_eq!(
            describe_tool("read_doc", &json!({"doc": "acme/report.md"})),
            "reading acme/report.md"
        );
        assert_eq!(
            describe_tool(
                "read_file",
                &json!({"path": "src/lex.rs", "start": 120, "end": 180})
            ),
            "reading src/lex.rs:120-180"
        );
        assert_eq!(
            describe_tool("search_docs", &json!({"query": "gross margin"})),
            "searching the documents for “gross margin”"
        );
    }
}
