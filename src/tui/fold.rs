//! What the UI folds from the event log: the shared [`RunState`] plus each agent's
//! transcript of its current task (which the engine's reducer has no need to keep).
//!
//! Both the live view and replay fold through [`UiFold::apply`], so a replayed run at
//! position k looks exactly like the live run did after event k.

use crate::event::{AgentId, Envelope, Event, RunState, TaskId};
use std::collections::{BTreeMap, VecDeque};

/// Transcript entries kept per agent; older ones are dropped (the session log has them all).
const TRANSCRIPT_CAP: usize = 400;

#[derive(Debug, Clone, PartialEq)]
pub enum TranscriptEntry {
    /// Something the run did around the agent (claim, retry, verification outcome).
    Note(String),
    /// A finished assistant message.
    Message(String),
    Tool {
        tool: String,
        args: String,
        ok: bool,
        output: String,
    },
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transcript {
    pub task: Option<TaskId>,
    pub entries: VecDeque<TranscriptEntry>,
}

impl Transcript {
    fn push(&mut self, entry: TranscriptEntry) {
        if self.entries.len() == TRANSCRIPT_CAP {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }
}

#[derive(Debug, Clone, Default)]
pub struct UiFold {
    pub run: RunState,
    pub transcripts: BTreeMap<AgentId, Transcript>,
    /// Bumped whenever the set of points or their status changes (tree cache key).
    pub points_version: u64,
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
        self.run.apply(env);
        match &env.event {
            Event::TaskClaimed {
                task,
                agent,
                attempt,
            } => {
                let t = self.transcripts.entry(agent.clone()).or_default();
                t.task = Some(task.clone());
                t.entries.clear();
                let title = self.run.task(task).map(|t| t.title.as_str()).unwrap_or("");
                t.push(TranscriptEntry::Note(format!(
                    "claimed {task} {title} (attempt {attempt})"
                )));
            }
            Event::FinaliseStarted { agent } => {
                let t = self.transcripts.entry(agent.clone()).or_default();
                t.task = None;
                t.entries.clear();
                t.push(TranscriptEntry::Note(
                    "finalise turn: writing the answer".into(),
                ));
            }
            Event::AgentMessage { agent, text, .. } => {
                self.transcripts
                    .entry(agent.clone())
                    .or_default()
                    .push(TranscriptEntry::Message(text.clone()));
            }
            Event::ToolCall {
                agent,
                tool,
                args,
                ok,
                output,
                ..
            } => {
                self.transcripts
                    .entry(agent.clone())
                    .or_default()
                    .push(TranscriptEntry::Tool {
                        tool: tool.clone(),
                        args: compact_args(args),
                        ok: *ok,
                        output: output.clone(),
                    });
            }
            Event::LlmRetry {
                agent,
                attempt,
                delay_ms,
                reason,
            } => {
                self.transcripts
                    .entry(agent.clone())
                    .or_default()
                    .push(TranscriptEntry::Note(format!(
                        "model call failed ({reason}); retry {attempt} in {:.1}s",
                        *delay_ms as f64 / 1000.0
                    )));
            }
            Event::PointProposed { point } => {
                self.points_version += 1;
                self.transcripts
                    .entry(point.author.clone())
                    .or_default()
                    .push(TranscriptEntry::Note(format!(
                        "proposed {} {}: {}",
                        point.id,
                        point.kind.as_str(),
                        point.headline
                    )));
            }
            Event::PointRejected { point, reason } => {
                self.points_version += 1;
                if let Some(author) = self.run.point(point).map(|p| p.point.author.clone()) {
                    self.transcripts
                        .entry(author)
                        .or_default()
                        .push(TranscriptEntry::Note(format!("{point} rejected: {reason}")));
                }
            }
            Event::PointVerified { point, .. } => {
                self.points_version += 1;
                if let Some(author) = self.run.point(point).map(|p| p.point.author.clone()) {
                    self.transcripts
                        .entry(author)
                        .or_default()
                        .push(TranscriptEntry::Note(format!("{point} verified")));
                }
            }
            Event::ConstraintAdded { .. }
            | Event::TaskAdded { .. }
            | Event::TaskFinished { .. } => {
                // Task titles appear in the by-task grouping of the context tree.
                self.points_version += 1;
            }
            _ => {}
        }
    }
}

/// Tool arguments on one line: `path=src/lex.rs start=120 end=180`.
fn compact_args(args: &serde_json::Value) -> String {
    match args {
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(" "),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}
