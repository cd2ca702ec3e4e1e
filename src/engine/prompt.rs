//! Prompt assembly: the system prompt, the task message, and the budgeted shared-context
//! block every agent reads. Pure functions of the run state, so they are cheap to test and
//! to benchmark.
//! The file passes 600 lines only with its tests (the code is under 500): they pin the
//! budget rules next to the code they hold.

use super::context::{BoardView, search_terms, search_terms_of};
use super::protocol::TaskBrief;
use crate::event::{Point, PointKind, PointStatus, PointView};
use crate::text::clip;
use std::collections::HashMap;
use std::fmt::Write;

/// Share of the context budget reserved for failures, so what did not work is never crowded
/// out by findings (the reference implementation reserves 35%).
const FAILURE_SHARE: f64 = 0.35;

pub use crate::text::estimate_tokens;

#[cfg(test)]
fn point_line(p: &PointView) -> String {
    super::context::context_line(&p.point)
}

/// The cheapest line any point can cost: a 2-character id, the shortest kind name, an empty
/// headline, a 1-character author. Used to bound how many candidates can ever fit.
const MIN_LINE_COST: usize = crate::text::estimate_tokens_of_chars(2 + 7 + 1 + 7) + 1;

/// Candidates worth ranking in full for `budget` tokens: more cannot all fit.
fn candidate_count(budget: usize) -> usize {
    budget / MIN_LINE_COST + 1
}

/// The shared-context block for one model call, within `budget_tokens`.
///
/// Constraints are always included. Failures get a reserved share of what is left, newest
/// first. Findings and partials are ranked by relevance to `focus` (the task: shared search
/// terms, normalised by the point's length) and by recency, and fill the rest; unused
/// failure budget flows back to older failures. Superseded points are left out.
///
/// Cost: the block reads the state's live index (points by kind, kept by the reducer) and
/// each point's cached line, and ranks only points that can make the cut: those sharing a
/// distinctive term with the focus (from the term index's postings) plus the newest
/// `budget / MIN_LINE_COST + 1` findings and partials (a point with no shared term is
/// outranked by every newer point of its kind, and no more than that many can fit). So a
/// block costs about what it shows, whatever the size of the run.
pub fn context_block(view: &BoardView, focus: &str, budget_tokens: usize) -> String {
    let state = &view.state;
    let live = view.context.live_index();
    if live.is_empty() {
        return "(no points have been shared yet)".to_string();
    }
    let line = |i: usize| view.context.line(i);
    // About four characters per token: one allocation for the whole block.
    let mut out = String::with_capacity(budget_tokens.min(1 << 16) * 4 + 128);
    let mut used = 0usize;
    let mut constraints = 0usize;
    for i in live.constraints() {
        let l = line(i);
        used += l.tokens;
        out.push_str(&l.text);
        out.push('\n');
        constraints += 1;
    }
    let remaining = budget_tokens.saturating_sub(used);
    // Below these no line of the kind fits, so the walks below can stop there: every point
    // they would still look at would be skipped for its size.
    let failure_floor = MIN_LINE_COST.max(live.shortest_failure_line().unwrap_or(0));
    let ranked_floor = MIN_LINE_COST.max(live.shortest_ranked_line().unwrap_or(0));

    // Failures: most recent first within the reserved share.
    let failure_budget = (remaining as f64 * FAILURE_SHARE) as usize;
    // Newest first, as chosen.
    let mut failure_lines: Vec<usize> = Vec::new();
    let mut failure_used = 0usize;
    for (tried, i) in live.failures().rev().enumerate() {
        if failure_budget - failure_used < failure_floor || tried == candidate_count(failure_budget)
        {
            break;
        }
        let cost = line(i).tokens;
        if failure_used + cost > failure_budget {
            continue;
        }
        failure_used += cost;
        failure_lines.push(i);
    }

    // Findings and partials: by relevance, then recency.
    let mut finding_budget = remaining.saturating_sub(failure_used);
    let keep = candidate_count(finding_budget);
    let terms = view.context.point_terms();
    // Terms most points share (the goal's own words, typically) rank nothing; skipping them
    // keeps this from walking the whole context for every prompt.
    let common = (state.points.len() / 8).max(64);
    // Live findings and partials sharing a term with the focus: (index, shared terms).
    let mut hits: Vec<usize> = Vec::new();
    for term in search_terms(focus) {
        let postings = terms.postings(term);
        if postings.len() <= common {
            hits.extend(
                postings
                    .iter()
                    .map(|&i| i as usize)
                    .filter(|&i| live.is_finding_or_partial(i)),
            );
        }
    }
    hits.sort_unstable();
    let shared: Vec<(usize, u16)> = hits
        .chunk_by(|a, b| a == b)
        .map(|run| (run[0], run.len().min(u16::MAX as usize) as u16))
        .collect();
    let shared_with = |i: usize| {
        shared
            .binary_search_by_key(&i, |&(p, _)| p)
            .map_or(0, |k| shared[k].1)
    };
    let seq = |i: usize| state.points[i].seq;
    let newest = live
        .findings()
        .next_back()
        .max(live.partials().next_back())
        .map_or(0, seq)
        .max(1) as f64;
    let score = |i: usize| {
        let p = &state.points[i];
        let own = terms.terms(i).len();
        let relevance = if own == 0 {
            0.0
        } else {
            shared_with(i) as f64 / (own as f64).sqrt()
        };
        let recency = p.seq as f64 / newest;
        let kind_bonus = if p.point.kind == PointKind::Finding {
            0.2
        } else {
            0.0
        };
        relevance + 0.5 * recency + kind_bonus
    };
    // The candidates in rank order (best score first, the newer point on a tie), merged
    // lazily from three streams already in that order: the points sharing terms (sorted
    // here, few), and the other findings and the other partials newest first (with no
    // shared term, a point's score only depends on its kind and recency). Only the first
    // `keep` can matter, so a block reads about as many points as it could show.
    let by_rank =
        |a: &(f64, usize), b: &(f64, usize)| b.0.total_cmp(&a.0).then(seq(b.1).cmp(&seq(a.1)));
    let mut relevant: Vec<(f64, usize)> = shared.iter().map(|&(i, _)| (score(i), i)).collect();
    relevant.sort_unstable_by(by_rank);
    let unshared = |i: &usize| shared_with(*i) == 0;
    let mut streams = [
        Stream::new(relevant.into_iter()),
        Stream::new(
            live.findings()
                .rev()
                .filter(unshared)
                .map(|i| (score(i), i)),
        ),
        Stream::new(
            live.partials()
                .rev()
                .filter(unshared)
                .map(|i| (score(i), i)),
        ),
    ];
    let mut chosen: Vec<usize> = Vec::new();
    for _ in 0..keep {
        if finding_budget < ranked_floor {
            break;
        }
        let best = (0..streams.len())
            .filter_map(|k| streams[k].head.map(|head| (head, k)))
            .min_by(|a, b| by_rank(&a.0, &b.0));
        let Some(((_, i), k)) = best else {
            break;
        };
        streams[k].advance();
        let cost = line(i).tokens;
        if cost > finding_budget {
            continue;
        }
        finding_budget -= cost;
        chosen.push(i);
    }
    // Whatever the findings left can hold older failures that did not fit their share.
    let listed = failure_lines.len();
    let mut tried = 0usize;
    for i in live.failures().rev() {
        if finding_budget < failure_floor || tried == candidate_count(finding_budget) {
            break;
        }
        // `failure_lines[..listed]` is descending, like this walk: a lookup is a search.
        if failure_lines[..listed]
            .binary_search_by(|probe| i.cmp(probe))
            .is_ok()
        {
            continue;
        }
        tried += 1;
        let cost = line(i).tokens;
        if cost > finding_budget {
            continue;
        }
        finding_budget -= cost;
        failure_lines.push(i);
    }

    // Present in log order (index order is log order) so the story reads naturally.
    chosen.sort_unstable();
    failure_lines.sort_unstable();
    let shown = constraints + chosen.len() + failure_lines.len();
    for i in chosen {
        out.push_str(&line(i).text);
        out.push('\n');
    }
    if !failure_lines.is_empty() {
        out.push_str("Tried and failed (do not repeat):\n");
        for i in failure_lines {
            out.push_str(&line(i).text);
            out.push('\n');
        }
    }
    let total = live.len();
    if shown < total {
        let _ = writeln!(
            out,
            "({} more verified points not shown for space; `expand` any id you learn of)",
            total - shown
        );
    }
    out
}

/// One ranked stream of block candidates, with its next item at hand for the merge.
struct Stream<'a> {
    head: Option<(f64, usize)>,
    rest: Box<dyn Iterator<Item = (f64, usize)> + 'a>,
}

impl<'a> Stream<'a> {
    fn new(mut items: impl Iterator<Item = (f64, usize)> + 'a) -> Self {
        Stream {
            head: items.next(),
            rest: Box::new(items),
        }
    }

    /// Drop the head, bringing the next item up.
    fn advance(&mut self) {
        self.head = self.rest.next();
    }
}

/// The live points most similar to `point` by shared search terms, best first (ties: the
/// newest), for the judge's redundancy check. Constraints are left out. Uses the state's
/// term index, so it costs the postings of the point's terms, not a pass over every point.
pub fn related_points(view: &BoardView, point: &Point, n: usize) -> Vec<PointView> {
    let state = &view.state;
    let terms = view.context.point_terms();
    let mine = search_terms_of(&[&point.headline, &point.summary]);
    // A term most points share says nothing about redundancy, and walking its postings would
    // make every proposal cost a pass over the whole context: only distinctive terms count.
    let common = (state.points.len() / 8).max(64);
    let mut shared: HashMap<u32, usize> = HashMap::new();
    for &term in &mine {
        let postings = terms.postings(term);
        if postings.len() > common {
            continue;
        }
        for &i in postings {
            *shared.entry(i).or_default() += 1;
        }
    }
    let mut scored: Vec<(usize, &PointView)> = shared
        .into_iter()
        .filter_map(|(i, score)| Some((score, state.points.get(i as usize)?)))
        .filter(|(_, p)| {
            p.status == PointStatus::Verified
                && p.superseded_by.is_none()
                && p.point.kind != PointKind::Constraint
                && p.point.id != point.id
        })
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.seq.cmp(&a.1.seq)));
    scored.into_iter().take(n).map(|(_, p)| p.clone()).collect()
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
                let _ = writeln!(
                    out,
                    "evidence {}: {}\n  \"{}\"",
                    i + 1,
                    loc,
                    ev.quote.trim()
                );
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

/// The system prompt shared by every agent of the run: byte-identical for all of them and
/// for every turn (no agent id, no task), so providers that cache prompt prefixes serve
/// it, with the tools before it, from their cache. Each agent's identity and task come in
/// its first message.
pub fn system_prompt(agents: usize, goal: &str, workspace: &str) -> String {
    format!(
        "You are one of {agents} peer agents working together on one goal. There is no boss: \
every agent claims tasks from a shared queue and publishes compact, verified points into a \
shared context that every other agent reads.\n\n\
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
constraints from the human override everything else.\n\n\
GOAL: {goal}\n\n\
WORKSPACE: {workspace}"
    )
}

/// The first message of a work task.
pub fn task_message(view: &BoardView, task: &TaskBrief, context_budget: usize) -> String {
    let state = &view.state;
    let mut msg = format!("YOUR TASK {}: {}\n", task.id, task.title.trim());
    if !task.detail.trim().is_empty() {
        let _ = writeln!(msg, "{}", task.detail.trim());
    }
    if task.attempt > 1 {
        let _ = writeln!(
            msg,
            "(This task was attempted before: attempt {}.)",
            task.attempt
        );
    }
    if let Some(note) = &task.note {
        let _ = writeln!(msg, "Note from the human: {note}");
    }
    let focus = format!("{} {} {}", state.goal, task.title, task.detail);
    let block = context_block(view, &focus, context_budget);
    msg.reserve(CONTEXT_HEADING.len() + block.len());
    msg.push_str(CONTEXT_HEADING);
    msg.push_str(&block);
    msg
}

/// Introduces the shared-context block in task and finalise messages.
const CONTEXT_HEADING: &str = "\nSHARED CONTEXT (verified points; constraints first):\n";

/// The message of the single finalise turn: the whole shared context, and what to do.
pub fn finalise_message(
    view: &BoardView,
    context_budget: usize,
    may_add_tasks: bool,
    note: &str,
) -> String {
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
    let state = &view.state;
    // Verified patches that overlap: the finaliser's citations decide which is delivered.
    if let Some(patches) = super::tools::delivery::plan::finalise_note(state, may_add_tasks) {
        msg.push_str(&patches);
    }
    let _ = write!(
        msg,
        "\n\nTASK RESULTS (each agent's own summary, NOT verified: rest the answer on the \
verified points below, and cite them):\n"
    );
    for t in &state.tasks {
        let result = t
            .result
            .as_deref()
            .map(|r| clip(r.trim(), 300))
            .unwrap_or_else(|| "(no result)".into());
        let _ = writeln!(msg, "{} {} — {}", t.id, t.title.trim(), result);
    }
    let _ = write!(
        msg,
        "\nSHARED CONTEXT (verified points; constraints first):\n{}",
        context_block(view, &state.goal, context_budget)
    );
    msg
}

/// New shared points since the agent last looked (indices into `state.points`), delivered
/// at its next turn.
pub fn context_update(view: &BoardView, points: &[usize]) -> Option<String> {
    let state = &view.state;
    if points.is_empty() {
        return None;
    }
    const HEAD: &str = "[shared context update] New points since your last turn:\n";
    let lines = points.iter().map(|&i| view.context.line(i).text.len() + 1);
    let mut msg = String::with_capacity(HEAD.len() + lines.sum::<usize>());
    msg.push_str(HEAD);
    for &i in points {
        let Some(p) = state.points.get(i) else {
            continue;
        };
        if p.point.kind == PointKind::Constraint && p.point.author == crate::event::HUMAN {
            let _ = writeln!(
                msg,
                "{} [human constraint — must hold] {}",
                p.point.id, p.point.headline
            );
        } else {
            msg.push_str(&view.context.line(i).text);
            msg.push('\n');
        }
    }
    Some(msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::context::Projection;
    use crate::event::{Envelope, Event, Point};

    fn state_with(points: &[(PointKind, &str)]) -> BoardView {
        let mut s = BoardView::default();
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
                        // Constraints here are the human's (pinned); see the test of
                        // agent-authored ones below.
                        author: if *kind == PointKind::Constraint {
                            crate::event::HUMAN.into()
                        } else {
                            "a1".into()
                        },
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
    fn agent_constraints_are_budgeted_not_pinned() {
        let mut s = state_with(&[(PointKind::Finding, "lexer drops comments in skip_ws")]);
        let agents_own = Point {
            id: "P2".into(),
            kind: PointKind::Constraint,
            headline: "never edit the generated parser tables by hand".into(),
            summary: String::new(),
            evidence: vec![],
            author: "a2".into(),
            task: None,
            supersedes: None,
        };
        for (seq, event) in [
            Event::PointProposed { point: agents_own },
            Event::PointVerified {
                point: "P2".into(),
                note: None,
                evidence: None,
            },
        ]
        .into_iter()
        .enumerate()
        {
            s.apply(&Envelope {
                seq: 10 + seq as u64,
                ts: "2026-01-01T00:00:00Z".into(),
                event,
            });
        }
        let tiny = context_block(&s, "lexer", 1);
        assert!(!tiny.contains("generated parser"), "not pinned: {tiny}");
        let roomy = context_block(&s, "parser tables", 400);
        assert!(
            roomy.contains("P2 [constraint] never edit"),
            "ranked in: {roomy}"
        );
    }

    #[test]
    fn budget_bounds_block_and_failures_keep_their_share() {
        let mut pts = Vec::new();
        for i in 0..200 {
            pts.push((
                PointKind::Finding,
                format!("finding number {i} about the parser state"),
            ));
        }
        for i in 0..20 {
            pts.push((PointKind::Failure, format!("tried approach {i}, no effect")));
        }
        let refs: Vec<(PointKind, &str)> = pts.iter().map(|(k, h)| (*k, h.as_str())).collect();
        let s = state_with(&refs);
        let block = context_block(&s, "parser", 400);
        assert!(
            estimate_tokens(&block) <= 460,
            "{}",
            estimate_tokens(&block)
        );
        assert!(block.contains("tried approach 19"));
        assert!(block.contains("Tried and failed"));
    }

    #[test]
    fn relevant_findings_win_over_irrelevant_ones() {
        let s = state_with(&[
            (
                PointKind::Finding,
                "vendor alpha revenue 2024 was 12 million",
            ),
            (PointKind::Finding, "the office cafeteria opened in march"),
            (PointKind::Finding, "the weather report mentions rain"),
        ]);
        let line_cost = 20;
        let block = context_block(&s, "alpha revenue", line_cost);
        assert!(block.contains("vendor alpha revenue"), "{block}");
    }

    /// A point as the board would propose it (id assigned, author a1).
    fn point(id: usize, kind: PointKind, headline: &str, task: Option<&str>) -> Point {
        Point {
            id: format!("P{id}"),
            kind,
            headline: headline.to_string(),
            summary: String::new(),
            evidence: vec![],
            author: "a1".into(),
            task: task.map(str::to_string),
            supersedes: None,
        }
    }

    #[test]
    fn cached_lines_match_the_formatted_line() {
        let mut s = BoardView::default();
        let points = [
            point(1, PointKind::Finding, "  lexer drops comments  ", None),
            point(
                2,
                PointKind::Partial,
                "naïve état: ünïcode — dashes",
                Some("T12"),
            ),
            point(3, PointKind::Failure, "x", Some("T3")),
        ];
        for (seq, p) in points.iter().enumerate() {
            s.apply(&Envelope {
                seq: seq as u64 + 1,
                ts: "2026-01-01T00:00:00Z".into(),
                event: Event::PointProposed { point: p.clone() },
            });
        }
        assert_eq!(
            s.context.line(1).text,
            "P2 [partial] naïve état: ünïcode — dashes (a1, T12)"
        );
        for (i, p) in s.state.points.iter().enumerate() {
            let line = s.context.line(i);
            assert_eq!(line.text, point_line(p));
            assert_eq!(line.tokens, estimate_tokens(&point_line(p)) + 1);
            assert!(line.tokens >= MIN_LINE_COST);
        }
    }

    /// Tokens of a point's line, computed from its parts (the pre-index implementation).
    fn scan_line_cost(p: &PointView) -> usize {
        let origin = p.point.author.chars().count()
            + p.point.task.as_ref().map_or(0, |t| 2 + t.chars().count());
        let chars = p.point.id.chars().count()
            + p.point.kind.as_str().len()
            + p.point.headline.trim().chars().count()
            + origin
            + 7;
        crate::text::estimate_tokens_of_chars(chars) + 1
    }

    /// The block as it was built before the live index: a pass over every point. The
    /// indexed version must produce exactly the same text.
    fn scan_block(state: &BoardView, focus: &str, budget_tokens: usize) -> String {
        let mut constraints: Vec<&PointView> = Vec::new();
        let mut failures: Vec<&PointView> = Vec::new();
        let mut others: Vec<(usize, &PointView)> = Vec::new();
        for (i, p) in state.state.points.iter().enumerate() {
            if p.status != PointStatus::Verified || p.superseded_by.is_some() {
                continue;
            }
            match p.point.kind {
                PointKind::Constraint if p.point.author == crate::event::HUMAN => {
                    constraints.push(p)
                }
                PointKind::Failure => failures.push(p),
                _ => others.push((i, p)),
            }
        }
        if constraints.is_empty() && failures.is_empty() && others.is_empty() {
            return "(no points have been shared yet)".to_string();
        }
        let mut out = String::new();
        let mut used = 0usize;
        for p in &constraints {
            let line = point_line(p);
            used += estimate_tokens(&line) + 1;
            out.push_str(&line);
            out.push('\n');
        }
        let remaining = budget_tokens.saturating_sub(used);

        // Failures: most recent first within the reserved share.
        let failure_budget = (remaining as f64 * FAILURE_SHARE) as usize;
        let mut failure_listed = vec![false; failures.len()];
        let mut failure_lines: Vec<&PointView> = Vec::new();
        let mut failure_used = 0usize;
        for (tried, (k, p)) in failures.iter().enumerate().rev().enumerate() {
            if failure_budget - failure_used < MIN_LINE_COST
                || tried == candidate_count(failure_budget)
            {
                break;
            }
            let cost = scan_line_cost(p);
            if failure_used + cost > failure_budget {
                continue;
            }
            failure_used += cost;
            failure_listed[k] = true;
            failure_lines.push(p);
        }

        // Findings and partials: by relevance, then recency.
        let terms = state.context.point_terms();
        let focus_terms = search_terms(focus);
        let mut shared = vec![0u16; state.state.points.len()];
        // Terms most points share (the goal's own words, typically) rank nothing; skipping them
        // keeps this from walking the whole context for every prompt.
        let common = (state.state.points.len() / 8).max(64);
        for &term in &focus_terms {
            let postings = terms.postings(term);
            if postings.len() > common {
                continue;
            }
            for &i in postings {
                if let Some(n) = shared.get_mut(i as usize) {
                    *n = n.saturating_add(1);
                }
            }
        }
        let newest = others.iter().map(|(_, p)| p.seq).max().unwrap_or(0).max(1) as f64;
        let mut ranked: Vec<(f64, &PointView)> = others
            .iter()
            .map(|&(i, p)| {
                let own = terms.terms(i).len();
                let relevance = if own == 0 {
                    0.0
                } else {
                    shared[i] as f64 / (own as f64).sqrt()
                };
                let recency = p.seq as f64 / newest;
                let kind_bonus = if p.point.kind == PointKind::Finding {
                    0.2
                } else {
                    0.0
                };
                (relevance + 0.5 * recency + kind_bonus, p)
            })
            .collect();
        let by_rank = |a: &(f64, &PointView), b: &(f64, &PointView)| {
            b.0.total_cmp(&a.0).then(b.1.seq.cmp(&a.1.seq))
        };
        let mut finding_budget = remaining.saturating_sub(failure_used);
        let keep = candidate_count(finding_budget).min(ranked.len());
        if keep < ranked.len() {
            ranked.select_nth_unstable_by(keep, by_rank);
            ranked.truncate(keep);
        }
        ranked.sort_unstable_by(by_rank);
        let mut chosen: Vec<&PointView> = Vec::new();
        for (_, p) in &ranked {
            if finding_budget < MIN_LINE_COST {
                break;
            }
            let cost = scan_line_cost(p);
            if cost > finding_budget {
                continue;
            }
            finding_budget -= cost;
            chosen.push(p);
        }
        // Whatever the findings left can hold older failures that did not fit their share.
        let mut tried = 0usize;
        for (k, p) in failures.iter().enumerate().rev() {
            if finding_budget < MIN_LINE_COST || tried == candidate_count(finding_budget) {
                break;
            }
            if failure_listed[k] {
                continue;
            }
            tried += 1;
            let cost = scan_line_cost(p);
            if cost > finding_budget {
                continue;
            }
            finding_budget -= cost;
            failure_lines.push(p);
        }

        // Present in log order so the story reads naturally.
        chosen.sort_by_key(|p| p.seq);
        failure_lines.sort_by_key(|p| p.seq);
        let shown = constraints.len() + chosen.len() + failure_lines.len();
        for p in chosen {
            out.push_str(&point_line(p));
            out.push('\n');
        }
        if !failure_lines.is_empty() {
            out.push_str("Tried and failed (do not repeat):\n");
            for p in failure_lines {
                out.push_str(&point_line(p));
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

    /// A run with every kind of point, rejected and superseded ones included, lines of
    /// varied length, and vocabulary shared unevenly (some terms in most points).
    fn mixed_run(n: usize) -> BoardView {
        let words = [
            "lexer", "parser", "cache", "index", "render", "socket", "budget", "alpha",
        ];
        let mut s = BoardView::default();
        let mut seq = 0;
        let mut next = |s: &mut BoardView, event: Event| {
            seq += 1;
            s.apply(&Envelope {
                seq,
                ts: "2026-01-01T00:00:00Z".into(),
                event,
            });
        };
        for i in 1..=n {
            let kind = match i % 11 {
                0 => PointKind::Constraint,
                1 | 4 | 7 => PointKind::Failure,
                2 | 5 | 8 | 9 => PointKind::Partial,
                _ => PointKind::Finding,
            };
            let mut headline = format!(
                "the {} meets the {} at step {i}",
                words[i % words.len()],
                words[(i * 3 + 1) % words.len()]
            );
            for _ in 0..(i % 5) {
                headline.push_str(" with more words");
            }
            let mut p = point(i, kind, &headline, (i % 3 > 0).then_some("T7"));
            if kind == PointKind::Constraint && i % 2 == 0 {
                p.author = crate::event::HUMAN.into();
            }
            if i % 13 == 0 {
                p.supersedes = Some(format!("P{}", i - 6));
            }
            next(&mut s, Event::PointProposed { point: p });
            let id = format!("P{i}");
            if i % 17 == 0 {
                next(
                    &mut s,
                    Event::PointRejected {
                        point: id,
                        reason: "no".into(),
                    },
                );
            } else if i % 19 != 0 {
                // i % 19 == 0 stays proposed.
                next(
                    &mut s,
                    Event::PointVerified {
                        point: id,
                        note: None,
                        evidence: None,
                    },
                );
            }
        }
        s
    }

    #[test]
    fn indexed_block_equals_the_full_scan() {
        for n in [0, 5, 60, 700] {
            let s = mixed_run(n);
            for focus in [
                "lexer cache step 42",
                "alpha",
                "",
                "socket budget 699 render",
            ] {
                for budget in [1, 30, 150, 400, 2_000, 20_000] {
                    assert_eq!(
                        context_block(&s, focus, budget),
                        scan_block(&s, focus, budget),
                        "{n} points, focus {focus:?}, budget {budget}"
                    );
                }
            }
        }
    }

    /// The block as a plain full sort and scan would choose it (the definition the fast
    /// version must agree with when lines are of similar length).
    fn reference_block_ids(state: &BoardView, focus: &str, budget: usize) -> Vec<String> {
        let live: Vec<&PointView> = state.state.live_points().collect();
        // Terms used by more than an eighth of the points (at least 64) rank nothing.
        let common = (state.state.points.len() / 8).max(64);
        let df = |t: &u64| {
            state
                .state
                .points
                .iter()
                .filter(|p| {
                    search_terms(&p.point.headline).contains(t)
                        || search_terms(&p.point.summary).contains(t)
                })
                .count()
        };
        let focus_terms: Vec<u64> = search_terms(focus)
            .into_iter()
            .filter(|t| df(t) <= common)
            .collect();
        let newest = live.iter().map(|p| p.seq).max().unwrap_or(1) as f64;
        let mut ranked: Vec<(f64, &PointView)> = live
            .iter()
            .filter(|p| p.point.kind != PointKind::Failure)
            .map(|p| {
                let mut own = search_terms(&p.point.headline);
                own.extend(search_terms(&p.point.summary));
                own.sort_unstable();
                own.dedup();
                let shared = own.iter().filter(|t| focus_terms.contains(t)).count() as f64;
                let rel = if own.is_empty() {
                    0.0
                } else {
                    shared / (own.len() as f64).sqrt()
                };
                let bonus = if p.point.kind == PointKind::Finding {
                    0.2
                } else {
                    0.0
                };
                (rel + 0.5 * p.seq as f64 / newest + bonus, *p)
            })
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.seq.cmp(&a.1.seq)));
        let mut left = budget;
        let mut ids = Vec::new();
        for (_, p) in ranked {
            let cost = estimate_tokens(&point_line(p)) + 1;
            if cost <= left {
                left -= cost;
                ids.push(p.point.id.clone());
            }
        }
        ids.sort();
        ids
    }

    #[test]
    fn fast_ranking_agrees_with_a_full_sort() {
        let topics = [
            "lexer", "parser", "cache", "index", "render", "socket", "budget",
        ];
        let mut pts = Vec::new();
        for i in 0..600 {
            let a = topics[i % topics.len()];
            let b = topics[(i * 5 + 2) % topics.len()];
            pts.push((
                PointKind::Finding,
                format!("the {a} and the {b} agree on item {i:04}"),
            ));
        }
        let refs: Vec<(PointKind, &str)> = pts.iter().map(|(k, h)| (*k, h.as_str())).collect();
        let s = state_with(&refs);
        for (focus, budget) in [("lexer cache", 400), ("socket", 2_000), ("", 150)] {
            let block = context_block(&s, focus, budget);
            let mut ids: Vec<String> = block
                .lines()
                .filter_map(|l| l.split(' ').next())
                .filter(|id| id.starts_with('P'))
                .map(str::to_string)
                .collect();
            ids.sort();
            assert_eq!(
                ids,
                reference_block_ids(&s, focus, budget),
                "focus {focus:?}"
            );
        }
    }

    #[test]
    fn related_points_rank_by_shared_terms() {
        let s = state_with(&[
            (
                PointKind::Finding,
                "vendor alpha revenue 2024 was 12 million",
            ),
            (PointKind::Finding, "the office cafeteria opened in march"),
            (PointKind::Constraint, "vendor alpha revenue must be cited"),
            (PointKind::Partial, "alpha revenue grew"),
        ]);
        let probe = Point {
            id: "P9".into(),
            kind: PointKind::Finding,
            headline: "Alpha revenue in 2024".into(),
            summary: String::new(),
            evidence: vec![],
            author: "a2".into(),
            task: None,
            supersedes: None,
        };
        let ids: Vec<String> = related_points(&s, &probe, 3)
            .into_iter()
            .map(|p| p.point.id)
            .collect();
        assert_eq!(ids, vec!["P1".to_string(), "P4".to_string()]);
    }

    #[test]
    fn expand_levels() {
        let s = state_with(&[(PointKind::Finding, "x")]);
        let p = s.state.point("P1").unwrap();
        assert!(expand_point(p, "summary").unwrap().contains("summary:"));
        assert!(
            expand_point(p, "evidence")
                .unwrap()
                .contains("evidence: none")
        );
        assert!(expand_point(p, "raw").is_err());
    }
}
