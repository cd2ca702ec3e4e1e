//! Coordination policies. `delm` is the default (a shared queue and a shared, verified
//! context). `central` and `isolated` are the baselines the paper compares against, run by the
//! same engine and written to the same event log, so the differences come from coordination
//! alone:
//!
//! - `central`: an orchestrator splits the goal, workers see only the task text and context
//!   the orchestrator passes them, report their full results back, and the orchestrator
//!   aggregates every wave in one growing conversation and writes the answer.
//! - `isolated`: N agents attempt the whole goal independently with no shared context; one
//!   final agent picks or merges their results.

use super::protocol::TaskBrief;
use crate::event::{Coordination, RunState, TaskState};
use std::fmt::Write;

/// The orchestrator's agent id in `central` runs.
pub const ORCHESTRATOR: &str = "orch";

/// The agent id of the standby finaliser: a native agent that takes no task, only the
/// finalise turn, for runs whose work is done by outside workers (`--agents 0 --worker`).
pub const STANDBY_FINALISER: &str = "fin";

/// What differs between the coordination shapes, in one place: the initial tasks, who
/// sees whose points, which protocol tools each role gets, and how claims are answered
/// (the scheduler asks [`Coordination::orchestrated`]).
impl Coordination {
    /// Do agents read (and get updates of) each other's points?
    pub fn shares_context(self) -> bool {
        self == Coordination::Delm
    }

    /// `central`: the orchestrator plans and aggregates every wave; workers claim only
    /// the tasks it adds.
    pub fn orchestrated(self) -> bool {
        self == Coordination::Central
    }

    /// May the finaliser add tasks instead of answering (the swarm then goes on)?
    pub fn finaliser_may_add_tasks(self) -> bool {
        self == Coordination::Delm
    }

    /// The tasks a run starts with, as (title, detail). `workspace` is the workspace's own
    /// split (one task per document, say), used by `delm`; an empty list there becomes the
    /// single planning task. `central` starts with none: the orchestrator's first turn is the
    /// split.
    pub fn initial_tasks(
        self,
        goal: &str,
        agents: usize,
        workspace: Vec<(String, String)>,
    ) -> Vec<(String, String)> {
        match self {
            Coordination::Delm if workspace.is_empty() => vec![(
                "Plan: understand the goal and split it".to_string(),
                "Explore what is needed to reach the goal. If it is small, do it yourself and \
record points; otherwise add focused, independent tasks with `add_task` (each doable by one \
agent) and finish with a short plan."
                    .to_string(),
            )],
            Coordination::Delm => workspace,
            Coordination::Isolated => isolated_tasks(goal, agents),
            Coordination::Central => Vec::new(),
        }
    }

    /// Whether a protocol tool is offered to a role: a work turn, or the finalise turn
    /// (which in `central` is the orchestrator's).
    pub fn offers_tool(self, tool: &str, finalise: bool) -> bool {
        let keep: &[&str] = match (self, finalise) {
            (Coordination::Delm, _) => return true,
            // Workers only report back; the orchestrator only plans, passes context, answers.
            (Coordination::Central, false) => &["finish_task"],
            (Coordination::Central, true) => &["add_task", "broadcast", "final_answer"],
            (Coordination::Isolated, false) => &["expand", "record_point", "finish_task"],
            (Coordination::Isolated, true) => &["expand", "final_answer"],
        };
        keep.contains(&tool)
    }

    /// Whether `reader` may see a point by `author` (expand, updates); the finaliser sees
    /// everything.
    pub fn may_see(self, reader: &str, author: &str, finaliser: bool) -> bool {
        self.shares_context() || finaliser || reader == author || author == crate::event::HUMAN
    }
}

/// `isolated`: one independent attempt per agent.
pub fn isolated_tasks(goal: &str, agents: usize) -> Vec<(String, String)> {
    (1..=agents)
        .map(|k| {
            (
                format!("Attempt {k} of {agents}: the whole goal"),
                format!(
                    "Work on the whole goal on your own (other attempts run in parallel and you \
will not see them): {goal}\nRecord what you establish with record_point and finish with a \
complete answer as your result."
                ),
            )
        })
        .collect()
}

/// `central`: the orchestrator's instructions for its first turn.
pub fn orchestrator_intro(goal: &str, workers: usize, workspace: &str) -> String {
    format!(
        "You are the orchestrator of {workers} worker agents. GOAL: {goal}\n\nWORKSPACE (the \
workers' tools reach it; you have none): {workspace}\n\nSplit the goal into subtasks with \
`add_task` (title and a detail that says everything the worker needs: workers see ONLY the \
task you write and the context you `broadcast`). Workers report their full results back to \
you after each wave; you then broadcast what the next wave needs and add its tasks, or write \
the final answer with `final_answer`. If the goal needs no split, answer directly."
    )
}

/// `central`: the report of one wave, every result in full.
pub fn wave_report(state: &RunState, tasks: &[String], wave: u32, may_add_tasks: bool) -> String {
    let mut msg = format!("WAVE {wave} RESULTS (full reports from the workers):\n");
    for id in tasks {
        if let Some(t) = state.task(id) {
            let who = match &t.state {
                TaskState::Done | TaskState::Failed => "",
                _ => " (not finished)",
            };
            let _ = writeln!(
                msg,
                "--- {} {}{}\n{}\n",
                t.id,
                t.title.trim(),
                who,
                t.result.as_deref().unwrap_or("(no result)").trim()
            );
        }
    }
    if may_add_tasks {
        msg.push_str(
            "Aggregate these results. Either broadcast the context the next wave needs and add \
its tasks, or write the final answer with `final_answer`.",
        );
    } else {
        msg.push_str("Write the final answer now with `final_answer`.");
    }
    msg
}

/// `central`: a worker's task message: only what the orchestrator passed.
pub fn worker_message(task: &TaskBrief, brief: &str) -> String {
    let mut msg = format!("YOUR TASK {}: {}\n", task.id, task.title.trim());
    if !task.detail.trim().is_empty() {
        let _ = writeln!(msg, "{}", task.detail.trim());
    }
    if let Some(note) = &task.note {
        let _ = writeln!(msg, "Note from the human: {note}");
    }
    let _ = write!(
        msg,
        "\nCONTEXT FROM THE ORCHESTRATOR:\n{}\n\nReport everything you find in full with \
finish_task: the orchestrator sees only your result.",
        if brief.trim().is_empty() {
            "(none yet)"
        } else {
            brief.trim()
        }
    );
    msg
}

/// `isolated`: a task message without any shared context.
pub fn isolated_message(task: &TaskBrief) -> String {
    let mut msg = format!("YOUR TASK {}: {}\n", task.id, task.title.trim());
    if !task.detail.trim().is_empty() {
        let _ = writeln!(msg, "{}", task.detail.trim());
    }
    if let Some(note) = &task.note {
        let _ = writeln!(msg, "Note from the human: {note}");
    }
    msg.push_str("\n(Isolated attempt: there is no shared context in this run.)");
    msg
}

/// The system prompt of a `central` worker or an `isolated` agent: no shared context.
pub fn solo_system_prompt(goal: &str, workspace: &str, mode: Coordination) -> String {
    let role = match mode {
        Coordination::Central => {
            "You are a worker agent. An orchestrator assigns you one task at a time and sees \
only the result you report; you see only what it passes you."
        }
        _ => {
            "You are one of several agents making independent attempts at the same goal; you \
share nothing with the others."
        }
    };
    let record = if mode == Coordination::Isolated {
        "\n- Record what you establish with `record_point` (findings must cite an exact quote)."
    } else {
        ""
    };
    format!(
        "{role}\n\nHOW TO WORK\n- Work only on your task, with the workspace tools.{record}\n- End \
with `finish_task` and a complete result: everything you found, with sources.\n\nGOAL: \
{goal}\n\nWORKSPACE: {workspace}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names() {
        assert_eq!(
            Coordination::parse("central").unwrap(),
            Coordination::Central
        );
        assert_eq!(Coordination::parse("").unwrap(), Coordination::Delm);
        assert!(
            Coordination::parse("boss")
                .unwrap_err()
                .contains("delm, central or isolated")
        );
    }

    #[test]
    fn isolated_gives_one_attempt_per_agent() {
        let t = isolated_tasks("why?", 3);
        assert_eq!(t.len(), 3);
        assert!(t[2].0.starts_with("Attempt 3 of 3"));
        assert!(t[0].1.contains("why?"));
    }
}
