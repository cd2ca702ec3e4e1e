//! Getting the user's attention when the run needs it: a terminal bell and an OSC 9
//! desktop notification when the run finishes, fails, hits a budget or waits for the human
//! (the pause took effect), and the window title kept to the run's state.
//!
//! `notify = "auto"` (the default) notifies only for runs that have gone on for a minute:
//! nobody needs a bell for a run they are still watching start. `always` and `never` say
//! what they mean; `never` also leaves the window title alone.

use super::display::{RunDisplayState, display_state};
use super::log::EventKind;
use crate::event::TaskState;
use crate::outcome::RunOutcome;
use crate::text::{clip, escape_controls, one_line};

/// Runs shorter than this do not ring with `notify = "auto"`.
const AUTO_AFTER_MS: u64 = 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Notify {
    #[default]
    Auto,
    Always,
    Never,
}

impl Notify {
    /// The config value (`auto`, `always`, `never`; `on`/`off` too).
    pub fn parse(value: &str) -> Result<Notify, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Notify::Auto),
            "always" | "on" | "true" => Ok(Notify::Always),
            "never" | "off" | "false" => Ok(Notify::Never),
            other => Err(format!(
                "notify = \"{other}\" is not one of auto, always, never"
            )),
        }
    }
}

/// What has been signalled so far, so each moment rings once.
#[derive(Debug, Clone, Default)]
pub struct Attention {
    pub setting: Notify,
    last_state: Option<RunDisplayState>,
    budget_notices: usize,
    title: String,
}

/// The facts the decision needs (kept apart from the app state so it is testable).
pub struct Snapshot<'a> {
    pub state: RunDisplayState,
    pub active_ms: u64,
    pub budget_notices: usize,
    pub tasks_done: usize,
    pub tasks: usize,
    pub goal: &'a str,
}

impl Attention {
    pub fn new(setting: Notify) -> Self {
        Attention {
            setting,
            ..Attention::default()
        }
    }

    /// The escape sequences to write after a change (title, bell, notification), if any.
    pub fn update(&mut self, now: &Snapshot) -> String {
        let mut out = String::new();
        if self.setting == Notify::Never {
            return out;
        }
        let title = format!(
            "delm · {} · {}/{} tasks · {}",
            now.state.label(),
            now.tasks_done,
            now.tasks,
            clip(&one_line(now.goal), 40)
        );
        if title != self.title {
            out.push_str(&format!("\x1b]2;{}\x07", printable(&title)));
            self.title = title;
        }
        let message = match (self.last_state, now.state) {
            (Some(before), RunDisplayState::Finished(outcome)) if before != now.state => {
                Some(match outcome {
                    RunOutcome::Done => "the run is DONE: the answer is ready".to_string(),
                    RunOutcome::StoppedByBudget => {
                        "the run STOPPED BY BUDGET: the answer uses what was verified".into()
                    }
                    RunOutcome::Failed => "the run FAILED: the events pane says why".into(),
                    RunOutcome::Cancelled => "the run was CANCELLED".into(),
                    RunOutcome::Interrupted => "the run was INTERRUPTED".into(),
                })
            }
            (Some(before), RunDisplayState::Paused) if before != RunDisplayState::Paused => {
                Some("PAUSED: the swarm waits for you".into())
            }
            _ if now.budget_notices > self.budget_notices
                && !matches!(now.state, RunDisplayState::Finished(_)) =>
            {
                Some("a budget ran out: the swarm is finalising".into())
            }
            _ => None,
        };
        let long_enough = self.setting == Notify::Always || now.active_ms >= AUTO_AFTER_MS;
        if let Some(message) = message
            && long_enough
            && self.last_state.is_some()
        {
            out.push('\x07');
            out.push_str(&format!("\x1b]9;delm: {}\x07", printable(&message)));
        }
        self.last_state = Some(now.state);
        self.budget_notices = now.budget_notices;
        out
    }
}

/// Text for inside an OSC sequence: no control characters at all.
fn printable(text: &str) -> String {
    one_line(&escape_controls(text))
}

/// Take the facts from the app state.
pub fn snapshot(state: &super::app::AppState) -> Snapshot<'_> {
    let run = state.run();
    let ended = state.engine_gone();
    Snapshot {
        state: display_state(run, ended),
        active_ms: super::ui::elapsed_ms(state).unwrap_or(0),
        budget_notices: state
            .log
            .notable(state.log_upto())
            .iter()
            .filter(|n| n.kind == EventKind::Budget)
            .count(),
        tasks_done: run.count_tasks(|t| *t == TaskState::Done),
        tasks: run.tasks.len(),
        goal: &run.goal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(state: RunDisplayState, active_ms: u64) -> Snapshot<'static> {
        Snapshot {
            state,
            active_ms,
            budget_notices: 0,
            tasks_done: 1,
            tasks: 3,
            goal: "Which vendor?",
        }
    }

    #[test]
    fn a_long_run_rings_once_when_it_ends() {
        let mut a = Attention::new(Notify::Auto);
        let first = a.update(&at(RunDisplayState::Running, 0));
        assert!(
            first.contains("\x1b]2;delm · RUNNING · 1/3 tasks"),
            "{first:?}"
        );
        assert!(!first.contains('\x07') || !first.contains("]9;"));
        let done = RunDisplayState::Finished(RunOutcome::Done);
        let out = a.update(&at(done, 90_000));
        assert!(out.contains("\x1b]9;delm: the run is DONE"), "{out:?}");
        assert!(out.starts_with("\x1b]2;") && out.contains("\x07\x1b]9;"));
        assert_eq!(a.update(&at(done, 91_000)), "", "once");
    }

    #[test]
    fn short_runs_and_never_stay_quiet() {
        let mut a = Attention::new(Notify::Auto);
        a.update(&at(RunDisplayState::Running, 0));
        let out = a.update(&at(RunDisplayState::Finished(RunOutcome::Failed), 5_000));
        assert!(!out.contains("]9;"), "{out:?}");
        let mut never = Attention::new(Notify::Never);
        never.update(&at(RunDisplayState::Running, 0));
        assert_eq!(
            never.update(&at(RunDisplayState::Finished(RunOutcome::Done), 90_000)),
            ""
        );
        let mut always = Attention::new(Notify::Always);
        always.update(&at(RunDisplayState::Pausing, 0));
        assert!(
            always
                .update(&at(RunDisplayState::Paused, 1_000))
                .contains("waits for you")
        );
        assert_eq!(Notify::parse("off"), Ok(Notify::Never));
        assert!(Notify::parse("loud").is_err());
    }
}
