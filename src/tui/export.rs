//! `:export`: the run as a Markdown report, as far as the view has got (the replay position,
//! or now): goal, outcome, the answer, every verified point with its evidence, the tasks,
//! and the story of what happened.

use super::app::AppState;
use crate::event::{PointKind, PointStatus, TaskState};
use crate::outcome::outcome;
use std::fmt::Write;

pub fn markdown(state: &AppState) -> String {
    let run = state.run();
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", one(&run.goal));
    let status = if run.phase == crate::event::Phase::Done {
        outcome(run).label().to_string()
    } else {
        "in progress".to_string()
    };
    let _ = writeln!(
        out,
        "Run `{}` · {} · {} · {} · {}\n",
        run.run_id,
        status,
        run.model,
        run.coordination.name(),
        crate::story::format_cost(&run.totals)
    );
    if let Some(answer) = &run.answer {
        let _ = writeln!(out, "## Answer\n\n{}\n", answer.answer.trim());
        if !answer.cited.is_empty() {
            let _ = writeln!(out, "Cites: {}\n", answer.cited.join(", "));
        }
    }
    let points: Vec<_> = run
        .points
        .iter()
        .filter(|p| p.status == PointStatus::Verified)
        .collect();
    if !points.is_empty() {
        let _ = writeln!(out, "## Verified points\n");
        for p in points {
            let who = if p.point.kind == PointKind::Constraint {
                format!(" (by {})", p.point.author)
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "- **{}** {}{who}: {}",
                p.point.id,
                p.point.kind.as_str(),
                one(&p.point.headline)
            );
            for ev in &p.point.evidence {
                let _ = writeln!(
                    out,
                    "  - `{}`: “{}”",
                    super::ui::evidence_place(ev),
                    one(&ev.quote)
                );
            }
        }
        out.push('\n');
    }
    if !run.tasks.is_empty() {
        let _ = writeln!(out, "## Tasks\n\n| id | state | title |\n|---|---|---|");
        for t in &run.tasks {
            let st = match &t.state {
                TaskState::Queued => "queued".to_string(),
                TaskState::Claimed { agent } => format!("claimed by {agent}"),
                TaskState::Done => "done".into(),
                TaskState::Failed => "failed".into(),
                TaskState::Cancelled => "cancelled".into(),
            };
            let _ = writeln!(
                out,
                "| {} | {st} | {} |",
                t.id,
                one(&t.title).replace('|', "\\|")
            );
        }
        out.push('\n');
    }
    let _ = writeln!(out, "## What happened\n\n```");
    let events = &state.log.events()[..state.log_upto()];
    let story = crate::story::replay_story(events);
    out.push_str(&story);
    let _ = writeln!(out, "```");
    out
}

fn one(text: &str) -> String {
    crate::text::one_line(text)
}
