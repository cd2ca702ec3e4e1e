//! What the run looks like at a glance, derived from its folded state: the status badge,
//! what each agent is doing in words, true agent counts, active time, and the token and
//! cost rates. Pure functions; the panes and the window title read them.

use super::fold::UiFold;
use super::log::CallSample;
use crate::event::{AgentStatus, AgentView, Phase, RunState};
use crate::outcome::{RunOutcome, outcome};

/// What the status bar's badge says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunDisplayState {
    Starting,
    Running,
    /// Paused by the human; some agents are still finishing their step.
    Pausing,
    Paused,
    Finalising,
    /// The run is over, and how.
    Finished(RunOutcome),
}

impl RunDisplayState {
    pub fn label(self) -> &'static str {
        match self {
            RunDisplayState::Starting => "STARTING",
            RunDisplayState::Running => "RUNNING",
            RunDisplayState::Pausing => "PAUSING",
            RunDisplayState::Paused => "PAUSED",
            RunDisplayState::Finalising => "FINALISING",
            RunDisplayState::Finished(o) => o.label(),
        }
    }
}

/// An agent is mid-step: a model or tool call may be in flight.
fn mid_step(a: &AgentView) -> bool {
    matches!(
        a.status,
        AgentStatus::Working
            | AgentStatus::Verifying
            | AgentStatus::Retrying
            | AgentStatus::Finalising
    )
}

/// The badge for a run; `ended` is true once its log takes no more events (a live run whose
/// engine went away without `run_finished` is INTERRUPTED).
pub fn display_state(run: &RunState, ended: bool) -> RunDisplayState {
    match run.phase {
        Phase::Done => RunDisplayState::Finished(outcome(run)),
        _ if ended => RunDisplayState::Finished(RunOutcome::Interrupted),
        Phase::NotStarted => RunDisplayState::Starting,
        _ if run.paused => {
            if run.agents.values().any(mid_step) {
                RunDisplayState::Pausing
            } else {
                RunDisplayState::Paused
            }
        }
        Phase::Finalising => RunDisplayState::Finalising,
        Phase::Running => RunDisplayState::Running,
    }
}

/// Whether an agent is doing something: it holds a task (and is not paused) or writes the
/// answer. (An agent's status can say "working" for a moment after its task was taken
/// back.)
pub fn is_busy(a: &AgentView) -> bool {
    a.status == AgentStatus::Finalising
        || (a.task.is_some()
            && !matches!(
                a.status,
                AgentStatus::Idle | AgentStatus::Stopped | AgentStatus::Paused
            ))
}

/// The agents the run has now: those that stopped (count lowered, earlier process of a
/// resumed run) are left out until the run is over, when every agent's totals count.
pub fn present_agents(run: &RunState) -> impl Iterator<Item = &AgentView> {
    let done = run.phase == Phase::Done;
    run.agents
        .values()
        .filter(move |a| done || a.status != AgentStatus::Stopped)
}

/// `(agents present, busy)` for the agents pane title.
pub fn agent_counts(run: &RunState) -> (usize, usize) {
    let present: Vec<&AgentView> = present_agents(run).collect();
    let busy = present.iter().filter(|a| is_busy(a)).count();
    (present.len(), busy)
}

/// What an agent is doing, in words: "reading acme/report.md", "verifying P4", "waiting 3 s
/// to retry (429 rate limited)". `retry_left` is the retry countdown in seconds, if known.
pub fn activity(fold: &UiFold, agent: &AgentView, retry_left: Option<u64>) -> String {
    let act = fold.activity.get(&agent.id);
    match agent.status {
        AgentStatus::Retrying => match &agent.retry {
            Some(r) => match retry_left {
                Some(0) => format!("retrying now (attempt {}, {})", r.attempt, r.reason),
                Some(s) => format!(
                    "waiting {s} s to retry (attempt {}, {})",
                    r.attempt, r.reason
                ),
                None => format!("waiting to retry (attempt {}, {})", r.attempt, r.reason),
            },
            None => "waiting to retry".into(),
        },
        AgentStatus::Verifying => match act.and_then(|a| a.verifying.as_ref()) {
            Some(p) => format!("verifying {p}"),
            None => "verifying its point".into(),
        },
        AgentStatus::Finalising => "writing the final answer".into(),
        AgentStatus::Paused => "paused".into(),
        AgentStatus::Stopped => {
            if fold.run.phase == Phase::Done {
                "finished".into()
            } else {
                "stopped".into()
            }
        }
        AgentStatus::Idle => "idle, waiting for work".into(),
        AgentStatus::Working if agent.task.is_none() => "idle, waiting for work".into(),
        AgentStatus::Working => match act.and_then(|a| a.doing.clone()) {
            Some(doing) => doing,
            None => "reading its task".into(),
        },
    }
}

/// Tokens and dollars per minute over the last minute of `calls` before `now_ms`.
pub fn rate_per_minute(calls: &[CallSample], now_ms: i64) -> (u64, Option<f64>) {
    let from = now_ms - 60_000;
    let recent = calls.iter().filter(|c| c.at_ms > from && c.at_ms <= now_ms);
    let mut tokens = 0;
    let mut cost = 0.0;
    let mut priced = false;
    for c in recent {
        tokens += c.tokens;
        if let Some(usd) = c.cost_usd {
            cost += usd;
            priced = true;
        }
    }
    // Over a run younger than a minute, the rate is what a minute at this pace would be
    // (counted over at least ten seconds, so the first call does not read as a flood).
    let window = now_ms.clamp(10_000, 60_000) as f64 / 60_000.0;
    (
        (tokens as f64 / window).round() as u64,
        priced.then_some(cost / window),
    )
}

/// Tokens of `calls` in `buckets` equal slices of `[0, end_ms]`, for the sparkline.
pub fn token_buckets(calls: &[CallSample], end_ms: i64, buckets: usize) -> Vec<u64> {
    let mut out = vec![0u64; buckets.max(1)];
    let span = end_ms.max(1) as i128;
    for c in calls {
        let i = (c.at_ms.max(0) as i128 * out.len() as i128 / (span + 1)) as usize;
        let last = out.len() - 1;
        out[i.min(last)] += c.tokens;
    }
    out
}

/// Values as a line of block characters scaled to the largest; nothing is the lowest bar,
/// anything at least the second.
pub fn sparkline(values: &[u64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().copied().max().unwrap_or(0);
    values
        .iter()
        .map(|&v| {
            if max == 0 || v == 0 {
                BARS[0]
            } else {
                BARS[((v * 7).div_ceil(max) as usize).clamp(1, 7)]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Envelope, Event};

    fn env(seq: u64, event: Event) -> Envelope {
        Envelope {
            seq,
            ts: format!("2026-01-01T00:00:{seq:02}Z"),
            event,
        }
    }

    #[test]
    fn pausing_until_agents_settle() {
        let mut s = RunState::default();
        s.phase = Phase::Running;
        s.apply(&env(
            1,
            Event::AgentStatus {
                agent: "a1".into(),
                status: AgentStatus::Working,
                task: Some("T1".into()),
            },
        ));
        assert_eq!(display_state(&s, false), RunDisplayState::Running);
        s.apply(&env(2, Event::Paused {}));
        assert_eq!(display_state(&s, false), RunDisplayState::Pausing);
        s.apply(&env(
            3,
            Event::AgentStatus {
                agent: "a1".into(),
                status: AgentStatus::Paused,
                task: None,
            },
        ));
        assert_eq!(display_state(&s, false), RunDisplayState::Paused);
        assert_eq!(
            display_state(&s, true),
            RunDisplayState::Finished(RunOutcome::Interrupted)
        );
    }

    #[test]
    fn counts_are_true() {
        let mut s = RunState::default();
        s.phase = Phase::Running;
        let status = |agent: &str, status, task: Option<&str>| Event::AgentStatus {
            agent: agent.into(),
            status,
            task: task.map(Into::into),
        };
        s.apply(&env(1, status("a1", AgentStatus::Working, Some("T1"))));
        s.apply(&env(2, status("a2", AgentStatus::Idle, None)));
        s.apply(&env(3, status("a3", AgentStatus::Stopped, None)));
        // Working, but its task was taken back: not busy.
        s.apply(&env(4, status("a4", AgentStatus::Working, None)));
        assert_eq!(agent_counts(&s), (3, 1));
    }

    #[test]
    fn sparkline_scales_to_the_largest() {
        assert_eq!(sparkline(&[0, 1, 4, 8]), "▁▂▅█");
    }
}
