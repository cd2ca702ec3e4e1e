//! `delm compare`: recorded runs side by side, so coordination shapes (or models, or
//! settings) can be judged on the same task by cost, speed and outcome.

use crate::event::{PointStatus, RunState, TaskState, parse_ts};
use crate::text::{clip, escape_controls, one_line};
use std::fmt::Write;
use std::path::PathBuf;

/// A run's wall time in milliseconds: its recorded run time, else first to last event.
pub fn wall_ms(s: &RunState) -> Option<u64> {
    if s.totals.elapsed_ms > 0 {
        return Some(s.totals.elapsed_ms);
    }
    let a = parse_ts(s.started_ts.as_deref()?)?;
    let b = parse_ts(s.last_ts.as_deref()?)?;
    Some((b - a).whole_milliseconds().max(0) as u64)
}

fn fmt_ms(ms: u64) -> String {
    let secs = ms / 1000;
    if secs >= 60 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{}.{:01}s", secs, (ms % 1000) / 100)
    }
}

/// One row of the table: how to read its value off a run.
type Measure = Box<dyn Fn(&RunState) -> String>;

/// The comparison table: one column per run, one row per measure.
pub fn table(runs: &[(PathBuf, RunState)], width: usize) -> String {
    let label_w = 19;
    let col_w = ((width.saturating_sub(label_w)) / runs.len().max(1)).clamp(14, 48) - 2;
    let rows: Vec<(&str, Measure)> = vec![
        ("run", Box::new(|s| s.run_id.clone())),
        (
            "coordination",
            Box::new(|s| s.coordination.name().to_string()),
        ),
        ("model", Box::new(|s| s.model.clone())),
        (
            "status",
            Box::new(|s| crate::outcome::outcome(s).label().to_string()),
        ),
        (
            "tasks done/all",
            Box::new(|s| {
                format!(
                    "{}/{}",
                    s.count_tasks(|t| *t == TaskState::Done),
                    s.tasks.len()
                )
            }),
        ),
        ("model calls", Box::new(|s| s.totals.calls.to_string())),
        ("input tokens", Box::new(|s| s.totals.tokens_in.to_string())),
        (
            "cached input",
            Box::new(|s| {
                crate::text::cached_share(s.totals.tokens_cached_read, s.totals.tokens_in)
                    .unwrap_or_else(|| "-".into())
            }),
        ),
        (
            "output tokens",
            Box::new(|s| s.totals.tokens_out.to_string()),
        ),
        ("cost", Box::new(|s| crate::story::format_cost(&s.totals))),
        (
            "wall time",
            Box::new(|s| wall_ms(s).map(fmt_ms).unwrap_or_else(|| "-".into())),
        ),
        (
            "points ok/rejected",
            Box::new(|s| {
                format!(
                    "{}/{}",
                    s.count_points(None, PointStatus::Verified),
                    s.count_points(None, PointStatus::Rejected)
                )
            }),
        ),
        ("retries", Box::new(|s| s.retries.to_string())),
    ];
    let mut out = String::new();
    for (label, value) in &rows {
        let _ = write!(out, "{label:<label_w$}");
        for (_, state) in runs {
            let cell = escape_controls(&one_line(&value(state)));
            let _ = write!(out, "  {:<col_w$}", clip(&cell, col_w));
        }
        out.push('\n');
    }
    let _ = writeln!(out, "{:<label_w$}", "answer");
    for (path, state) in runs {
        let answer = state
            .answer
            .as_ref()
            .map(|a| a.answer.as_str())
            .unwrap_or("(no answer)");
        let _ = writeln!(
            out,
            "  {} ({}): {}",
            state.run_id,
            path.display(),
            clip(
                &escape_controls(&one_line(answer)),
                width.saturating_sub(8).max(40) * 2
            )
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Budgets, Event, Mode, StoppedBy, Totals, VerifyMode};

    fn run(coordination: &str, calls: u64) -> RunState {
        let events = [
            Event::RunStarted {
                run_id: format!("r-{coordination}"),
                goal: "g".into(),
                mode: Mode::Plain,
                model: "openai:m".into(),
                agents: 2,
                verify: VerifyMode::Off,
                budgets: Budgets::default(),
                coordination: crate::event::Coordination::parse(coordination).unwrap(),
                endpoint: None,
            },
            Event::RunFinished {
                answer: format!("answer of {coordination}"),
                cited: vec![],
                stopped_by: StoppedBy::Completed,
                totals: Totals {
                    calls,
                    elapsed_ms: 2500,
                    ..Totals::default()
                },
            },
        ];
        let envs = crate::event::numbered(events);
        RunState::from_events(envs.iter())
    }

    #[test]
    fn side_by_side() {
        let t = table(
            &[
                ("a.jsonl".into(), run("delm", 3)),
                ("b.jsonl".into(), run("central", 7)),
            ],
            100,
        );
        assert!(t.contains("coordination         delm"), "{t}");
        assert!(t.contains("central"));
        assert!(t.contains("2.5s"));
        assert!(t.contains("answer of central"));
        assert!(t.contains("status               DONE"), "{t}");
    }
}
