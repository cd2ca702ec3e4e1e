//! How a run ended, in the one vocabulary every front end uses: the TUI's status badge,
//! `delm sessions`, `delm compare`, the story and the exit code all derive it here, so a
//! run never reads as DONE in one place and "error" in another.

use crate::event::{RunState, StoppedBy};

/// The end state of a run, as its log tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunOutcome {
    /// The finalise turn wrote the answer.
    Done,
    /// A cost, token or time budget ended the run early; the answer uses what was verified.
    /// This is not an error: the run did what it was told.
    StoppedByBudget,
    /// The run could not go on (provider unreachable after retries, key rejected, ...).
    Failed,
    /// The human stopped the run before an answer was written.
    Cancelled,
    /// The log ends without `run_finished`: the process was quit, killed or crashed.
    Interrupted,
}

impl RunOutcome {
    pub const ALL: [RunOutcome; 5] = [
        RunOutcome::Done,
        RunOutcome::StoppedByBudget,
        RunOutcome::Failed,
        RunOutcome::Cancelled,
        RunOutcome::Interrupted,
    ];

    /// The label shown everywhere: `DONE`, `STOPPED BY BUDGET`, `FAILED`, `CANCELLED`,
    /// `INTERRUPTED`.
    pub fn label(self) -> &'static str {
        match self {
            RunOutcome::Done => "DONE",
            RunOutcome::StoppedByBudget => "STOPPED BY BUDGET",
            RunOutcome::Failed => "FAILED",
            RunOutcome::Cancelled => "CANCELLED",
            RunOutcome::Interrupted => "INTERRUPTED",
        }
    }

    /// Whether `delm resume` can continue the run: an interrupted run, and a failed one (a
    /// provider that was down may be up again). The engine's resume follows this rule.
    pub fn resumable(self) -> bool {
        matches!(self, RunOutcome::Failed | RunOutcome::Interrupted)
    }

    /// Whether the run produced an answer the user asked for (in full or within a budget).
    pub fn has_answer(self) -> bool {
        matches!(self, RunOutcome::Done | RunOutcome::StoppedByBudget)
    }
}

impl std::fmt::Display for RunOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// The outcome of a run from its folded state.
pub fn outcome(state: &RunState) -> RunOutcome {
    match state.answer.as_ref().map(|a| a.stopped_by) {
        None => RunOutcome::Interrupted,
        Some(StoppedBy::Completed) => RunOutcome::Done,
        Some(StoppedBy::Budget) => RunOutcome::StoppedByBudget,
        Some(StoppedBy::Error) => RunOutcome::Failed,
        Some(StoppedBy::Cancelled) => RunOutcome::Cancelled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, Totals};

    fn finished(stopped_by: StoppedBy) -> RunState {
        let events = crate::event::numbered([Event::RunFinished {
            answer: "a".into(),
            cited: vec![],
            stopped_by,
            totals: Totals::default(),
        }]);
        RunState::from_events(&events)
    }

    #[test]
    fn every_end_has_one_name() {
        assert_eq!(outcome(&RunState::default()), RunOutcome::Interrupted);
        assert_eq!(outcome(&finished(StoppedBy::Completed)), RunOutcome::Done);
        assert_eq!(
            outcome(&finished(StoppedBy::Budget)),
            RunOutcome::StoppedByBudget
        );
        assert_eq!(outcome(&finished(StoppedBy::Error)), RunOutcome::Failed);
        assert_eq!(
            outcome(&finished(StoppedBy::Cancelled)),
            RunOutcome::Cancelled
        );
        let labels: Vec<&str> = RunOutcome::ALL.iter().map(|o| o.label()).collect();
        assert_eq!(
            labels,
            [
                "DONE",
                "STOPPED BY BUDGET",
                "FAILED",
                "CANCELLED",
                "INTERRUPTED"
            ]
        );
    }

    #[test]
    fn a_budget_stop_is_an_answer_and_a_failure_is_resumable() {
        assert!(RunOutcome::StoppedByBudget.has_answer());
        assert!(!RunOutcome::StoppedByBudget.resumable());
        assert!(RunOutcome::Failed.resumable());
        assert!(RunOutcome::Interrupted.resumable());
        assert!(!RunOutcome::Failed.has_answer());
    }
}
