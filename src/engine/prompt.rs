//! Prompt assembly: the system prompt, the task message, and the budgeted shared-context
//! block every agent reads. Pure functions of the run state, so they are cheap to test and
//! to benchmark.

use crate::event::{PointKind, PointStatus, PointView, RunState, TaskView};
use std::collections::HashSet;
use std::fmt::Write;

/// Share of the context budget reserved for failures, so what did not work is never crowded
/// out by findings (the reference implementation reserves 35%).
const FAILURE_SHARE: f64 = 0.35;

/// A rough token count: ~4 characters per token for English text and code.
pub fn estimate_tokens(text: &str) -> usize {
    text.chars().count().div_ceil(4)
}

fn point_line(p: &PointView) -> String {
    let origin = match &p.point.task {
        Some(t) => format!("{}, {}", p.point.author, t),
        None => p.point.author.clone(),
    };
    format!(
        "{} [{}] {} ({})",
        p.point.id,
        p.point.kind.as_str(),
        p.point.headline.trim(),
        origin
    )
}

fn words(text: &str) -> HashSet<String> {
    text.split(|c: char| !c.is_alphanumeric() && c != '_')
        .filter(|w| w.len() > 2)
        .map(|w| w.to_lowercase())
        .collect()
}

/// Relevance of a point to a task: shared words between the task and the point's headline
/// and summary, normalised by the point's length.
fn relevance(task_words: &HashSet<String>, p: &PointView) -> f64 {
    if task_words.is_empty() {
        return 0.0;
    }
    let pw = words(&format!("{} {}", p.point.headline, p.point.summary));
    if pw.is_empty() {
        return 0.0;
    }
    let shared = pw.iter().filter(|w| task_words.contains(*w)).count() as f64;
    shared / (pw.len() as f64).sqrt()
}

/// The shared-context block for one model call, within `budget_tokens`.
///
/// Constraints are always included. Failures get a reserved share of what is left. Findings
/// and partials are ranked by relevance to `focus` (the task) and by recency, and fill the
/// rest; unused failure budget flows back to them. Superseded points are left out.
pub fn context_block(state: &RunState, focus: &str, budget_tokens: usize) -> String {
    let live: Vec<&PointView> = state.live_points().collect();
    if live.is_empty() {
        return "(no points have been shared yet)".to_string();
    }
    let mut out = String::new();
    let mut used = 0usize;
    let mut shown = 0usize;

    let (constraints, rest): (Vec<&PointView>, Vec<&PointView>) = live
        .into_iter()
        .partition(|p| p.point.kind == PointKind::Constraint);
    for p in &constraints {
        let line = point_line(p);
        used += estimate_tokens(&line) + 1;
        out.push_str(&line);
        out.push('\n');
        shown += 1;
    }

    let remaining = budget_tokens.saturating_sub(used);
    let (failures, others): (Vec<&PointView>, Vec<&PointView>) = rest
        .into_iter()
        .partition(|p| p.point.kind == PointKind::Failure);

    // Failures: most recent first within the reserved share.
    let failure_budget = (remaining as f64 * FAILURE_SHARE) as usize;
    let mut failure_lines = Vec::new();
    let mut failure_used = 0usize;
    for p in failures.iter().rev() {
        let line = point_line(p);
        let cost = estimate_tokens(&line) + 1;
        if failure_used + cost > failure_budget {
            continue;
        }
        failure_used += cost;
        failure_lines.push((p.seq, line));
    }

    // Findings and partials: by relevance, then recency.
    let task_words = words(focus);
    let newest = others.iter().map(|p| p.seq).max().unwrap_or(0).max(1) as f64;
    let mut ranked: Vec<(f64, &PointView)> = others
        .iter()
        .map(|p| {
            let recency = p.seq as f64 / newest;
            let kind_bonus = if p.point.kind == PointKind::Finding {
                0.2
            } else {
                0.0
            };
            (relevance(&task_words, p) + 0.5 * recency + kind_bonus, *p)
        })
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.seq.cmp(&a.1.seq)));
    let mut finding_budget = remaining.saturating_sub(failure_used);
    let mut chosen = Vec::new();
    for (_, p) in &ranked {
        let line = point_line(p);
        let cost = estimate_tokens(&line) + 1;
        if cost > finding_budget {
            continue;
        }
        finding_budget -= cost;
        chosen.push((p.seq, line));
    }
    // Whatever the findings left can hold older failures that did not fit their share.
    if failure_lines.len() < failures.len() {
        let listed: HashSet<u64> = failure_lines.iter().map(|(s, _)| *s).collect();
        for p in failures.iter().rev() {
            if listed.contains(&p.seq) {
                continue;
            }
            let line = point_line(p);
            let cost = estimate_tokens(&line) + 1;
            if cost > finding_budget {
                continue;
            }
            finding_budget -= cost;
            failure_lines.push((p.seq, line));
        }
    }

    // Present in log order so the story reads naturally.
    chosen.sort_by_key(|(seq, _)| *seq);
    failure_lines.sort_by_key(|(seq, _)| *seq);
    shown += chosen.len() + failure_lines.len();
    for (_, line) in chosen {
        out.push_str(&line);
        out.push('\n');
    }
    if !failure_lines.is_empty() {
        out.push_str("Tried and failed (do not repeat):\n");
        for (_, line) in failure_lines {
            out.push_str(&line);
            out.push('\n');
        }
    }
    let total = constraints.len() + failures.len() + others.len();
    if shown < total {
        let _ = writeln!(
            out,
            "({} more verified points not shown for space; `expand` any id you learn of)",
            total - shown
        );
    }
    out
}

/// Expand a point to the requested level of detail, as the `expand` tool returns it.
pub fn expand_point(p: &PointView, level: &str) -> Result<String, String> {
    let status = match p.status {
        PointStatus::Verified => "verified",
        PointStatus::Proposed => "proposed (not yet verified)",
        PointStatus::Rejected => "rejected",
    };
    let mut out = format!(
        "{} [{}] {} — {}, by {}{}\n",
        p.point.id,
        p.point.kind.as_str(),
        p.point.headline,
        status,
        p.point.author,
        p.point
            .task
            .as_ref()
            .map(|t| format!(" on {t}"))
            .unwrap_or_default()
    );
    if let Some(sup) = &p.point.supersedes {
        let _ = writeln!(out, "supersedes {sup}");
    }
    if let Some(by) = &p.superseded_by {
        let _ = writeln!(out, "superseded by {by}");
    }
    match level {
        "summary" => {
            let summary = if p.point.summary.trim().is_empty() {
                "(no summary beyond the headline)"
            } else {
                p.point.summary.trim()
            };
            let _ = writeln!(out, "summary: {summary}");
            if !p.point.evidence.is_empty() {
                let _ = writeln!(
                    out,
                    "({} evidence item(s); expand with level \"evidence\")",
                    p.point.evidence.len()
                );
            }
        }
        "evidence" => {
            if !p.point.summary.trim().is_empty() {
                let _ = writeln!(out, "summary: {}", p.point.summary.trim());
            }
            if p.point.evidence.is_empty() {
                out.push_str("evidence: none\n");
            }
            for (i, ev) in p.point.evidence.iter().enumerate() {
                let loc = ev.resolved.clone().unwrap_or_else(|| match &ev.lines {
                    Some(l) => format!("{}:{}", ev.source, l),
                    None => ev.source.clone(),
                });
                let _ = writeln!(out, "evidence {}: {}\n  \"{}\"", i + 1, loc, ev.quote.trim());
            }
        }
        other => {
            return Err(format!(
                "unknown level `{other}`: use \"summary\" or \"evidence\""
            ));
        }
    }
    if let Some(note) = &p.note {
        let _ = writeln!(out, "verifier: {note}");
    }
    Ok(out)
}

/// The system prompt shared by every agent of the run.
pub fn system_prompt(agent: &str, agents: usize, goal: &str, workspace: &str) -> String {
    format!(
        "You are agent {agent}, one of {agents} peer agents working together on one goal. \
There is no boss: every agent claims tasks from a shared queue and publishes compact, \
verified points into a shared context that every other agent reads.\n\n\
GOAL: {goal}\n\n\
WORKSPACE: {workspace}\n\n\
HOW TO WORK\n\
- Work only on your current task. Read the shared context first; do not redo what a point \
already establishes, and never repeat an approach listed under failures.\n\
- Publish what you learn with `record_point` as soon as you know it: kind `finding` for a \
verified fact (it MUST cite evidence: source, optional lines \"a-b\", and an exact quote \
copied from the source), `partial` for progress with open ends named, `failure` for what \
you tried and why it did not work (this saves the others time), `constraint` for something \
that must hold. Headline: at most 25 words, self-contained. Summary: at most 150 words. \
Points are checked against their evidence before anyone else sees them; a rejected point \
comes back with the reason.\n\
- Use `expand` to read a point's summary or evidence when its headline is not enough.\n\
- If the task is too big, split it with `add_task` (focused, independent tasks).\n\
- End every task with `finish_task` and a short result that names the points you recorded.\n\
- Messages starting with [shared context update] bring new points and human constraints: \
constraints from the human override everything else."
    )
}

/// The first message of a work task.
pub fn task_message(state: &RunState, task: &TaskView, context_budget: usize) -> String {
    let mut msg = format!("YOUR TASK {}: {}\n", task.id, task.title.trim());
    if !task.detail.trim().is_empty() {
        let _ = writeln!(msg, "{}", task.detail.trim());
    }
    if task.attempts > 1 {
        let _ = writeln!(
            msg,
            "(This task was attempted before: attempt {}.)",
            task.attempts
        );
    }
    if let Some(note) = &task.note {
        let _ = writeln!(msg, "Note from the human: {note}");
    }
    let focus = format!("{} {} {}", state.goal, task.title, task.detail);
    let _ = write!(
        msg,
        "\nSHARED CONTEXT (verified points; constraints first):\n{}",
        context_block(state, &focus, context_budget)
    );
    msg
}

/// The message of the single finalise turn: the whole shared context, and what to do.
pub fn finalise_message(state: &RunState, context_budget: usize, may_add_tasks: bool, note: &str) -> String {
    let mut msg = String::from(
        "FINALISE: the task queue is empty and no task is in progress. You have the one \
finalise turn. Read the shared context (expand points as needed) and write the final \
answer to the goal with `final_answer`, citing the ids of the points it rests on.",
    );
    if may_add_tasks {
        msg.push_str(
            " If something essential is still unknown, you may instead add focused tasks with \
`add_task`; the swarm will continue and finalise again later.",
        );
    }
    if !note.is_empty() {
        let _ = write!(msg, "\n{note}");
    }
    let _ = write!(msg, "\n\nTASK RESULTS:\n");
    for t in &state.tasks {
        let result = t
            .result
            .as_deref()
            .map(|r| truncate_chars(r.trim(), 300))
            .unwrap_or_else(|| "(no result)".into());
        let _ = writeln!(msg, "{} {} — {}", t.id, t.title.trim(), result);
    }
    let _ = write!(
        msg,
        "\nSHARED CONTEXT (verified points; constraints first):\n{}",
        context_block(state, &state.goal, context_budget)
    );
    msg
}

/// New shared points since the agent last looked, delivered at its next turn.
pub fn context_update(points: &[&PointView]) -> Option<String> {
    if points.is_empty() {
        return None;
    }
    let mut msg = String::from("[shared context update] New points since your last turn:\n");
    for p in points {
        if p.point.kind == PointKind::Constraint && p.point.author == crate::event::HUMAN {
            let _ = writeln!(
                msg,
                "{} [human constraint — must hold] {}",
                p.point.id, p.point.headline
            );
        } else {
            let _ = writeln!(msg, "{}", point_line(p));
        }
    }
    Some(msg)
}

pub fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Envelope, Event, Point};

    fn state_with(points: &[(PointKind, &str)]) -> RunState {
        let mut s = RunState::default();
        let mut seq = 0;
        for (i, (kind, headline)) in points.iter().enumerate() {
            let id = format!("P{}", i + 1);
            seq += 1;
            s.apply(&Envelope {
                seq,
                ts: "2026-01-01T00:00:00Z".into(),
                event: Event::PointProposed {
                    point: Point {
                        id: id.clone(),
                        kind: *kind,
                        headline: headline.to_string(),
                        summary: String::new(),
                        evidence: vec![],
                        author: "a1".into(),
                        task: None,
                        supersedes: None,
                    },
                },
            });
            seq += 1;
            s.apply(&Envelope {
                seq,
                ts: "2026-01-01T00:00:00Z".into(),
                event: Event::PointVerified {
                    point: id,
                    note: None,
                    evidence: None,
                },
            });
        }
        s
    }

    #[test]
    fn constraints_always_included_even_over_budget() {
        let s = state_with(&[
            (PointKind::Finding, "lexer drops comments in skip_ws"),
            (PointKind::Constraint, "do not touch the public API"),
        ]);
        let block = context_block(&s, "lexer", 1);
        assert!(block.contains("do not touch the public API"));
        assert!(!block.contains("skip_ws"));
        assert!(block.contains("1 more verified points"));
    }

    #[test]
    fn budget_bounds_block_and_failures_keep_their_share() {
        let mut pts = Vec::new();
        for i in 0..200 {
            pts.push((PointKind::Finding, format!("finding number {i} about the parser state")));
        }
        for i in 0..20 {
            pts.push((PointKind::Failure, format!("tried approach {i}, no effect")));
        }
        let refs: Vec<(PointKind, &str)> = pts.iter().map(|(k, h)| (*k, h.as_str())).collect();
        let s = state_with(&refs);
        let block = context_block(&s, "parser", 400);
        assert!(estimate_tokens(&block) <= 460, "{}", estimate_tokens(&block));
        assert!(block.contains("tried approach 19"));
        assert!(block.contains("Tried and failed"));
    }

    #[test]
    fn relevant_findings_win_over_irrelevant_ones() {
        let s = state_with(&[
            (PointKind::Finding, "vendor alpha revenue 2024 was 12 million"),
            (PointKind::Finding, "the office cafeteria opened in march"),
            (PointKind::Finding, "the weather report mentions rain"),
        ]);
        let line_cost = 20;
        let block = context_block(&s, "alpha revenue", line_cost);
        assert!(block.contains("vendor alpha revenue"), "{block}");
    }

    #[test]
    fn expand_levels() {
        let s = state_with(&[(PointKind::Finding, "x")]);
        let p = s.point("P1").unwrap();
        assert!(expand_point(p, "summary").unwrap().contains("summary:"));
        assert!(expand_point(p, "evidence").unwrap().contains("evidence: none"));
        assert!(expand_point(p, "raw").is_err());
    }
}
