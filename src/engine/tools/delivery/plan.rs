//! Which verified patches go into the result, in which order, and which overlap: pure
//! functions of the log's fold, so the board, the finalise prompt and the tests agree.
//!
//! The rules:
//! - each agent's copy is one line of work whose diff holds every change the agent kept, so
//!   only its latest pinned patch is a candidate (the earlier ones are in it, or were undone);
//! - a patch whose point a later verified point supersedes is left out;
//! - the patches the final answer cites come first, in the order it cites them, then the
//!   rest in log order. Merging goes in that order, so where two patches overlap the one
//!   earlier in it is delivered and the other is kept out as a conflict: that is how the
//!   finaliser resolves an overlap (the finalise prompt tells it about them);
//! - the candidates' diffs may add up to [`MAX_RESULT_BYTES`]; later ones are left out.

use crate::event::{PatchLeftOut, PatchRef, PinnedPatch, PointId, RunState};
use std::collections::HashMap;
use std::sync::Arc;

/// The assembled patch may hold at most this much diff (it is kept whole in the log).
pub(crate) const MAX_RESULT_BYTES: usize = 4 * 1024 * 1024;
/// At most this many overlaps are named in the finalise prompt.
const OVERLAPS_SHOWN: usize = 8;

/// The candidates in merge order, and what was left out before merging.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub candidates: Vec<Arc<PinnedPatch>>,
    pub left_out: Vec<PatchLeftOut>,
}

pub(crate) fn patch_ref(p: &PinnedPatch) -> PatchRef {
    PatchRef {
        point: p.point.clone(),
        agent: p.agent.clone(),
        reference: p.reference.clone(),
    }
}

fn left_out(p: &PinnedPatch, reason: String) -> PatchLeftOut {
    PatchLeftOut {
        patch: patch_ref(p),
        reason,
        files: Vec::new(),
    }
}

/// The plan for `state`'s pinned patches, with the answer citing `cited`.
pub(crate) fn plan(state: &RunState, cited: &[PointId]) -> Plan {
    let mut latest: HashMap<&str, usize> = HashMap::new();
    for (i, p) in state.patches.iter().enumerate() {
        latest.insert(p.agent.as_str(), i);
    }
    let mut plan = Plan::default();
    let mut kept: Vec<(usize, usize, &Arc<PinnedPatch>)> = Vec::new();
    for (i, p) in state.patches.iter().enumerate() {
        let newest = latest[p.agent.as_str()];
        if newest != i {
            let later = &state.patches[newest];
            plan.left_out.push(left_out(
                p,
                format!(
                    "replaced by {}'s later patch in {} (its copy's diff holds every change {} \
                     kept)",
                    p.agent, later.point, p.agent
                ),
            ));
            continue;
        }
        if let Some(newer) = state.point(&p.point).and_then(|v| v.superseded_by.as_ref()) {
            plan.left_out.push(left_out(
                p,
                format!("{} was superseded by {newer}", p.point),
            ));
            continue;
        }
        let rank = cited
            .iter()
            .position(|c| *c == p.point)
            .unwrap_or(usize::MAX);
        kept.push((rank, i, p));
    }
    kept.sort_by_key(|(rank, i, _)| (*rank, *i));
    let mut bytes = 0usize;
    for (_, _, p) in kept {
        if bytes + p.diff.len() > MAX_RESULT_BYTES {
            plan.left_out.push(left_out(
                p,
                format!(
                    "the assembled patch would be over {} MB with it",
                    MAX_RESULT_BYTES >> 20
                ),
            ));
            continue;
        }
        bytes += p.diff.len();
        plan.candidates.push(Arc::clone(p));
    }
    plan
}

/// Original lines a diff changes in one file: (path, first line, last line), 1-based.
pub(crate) type Span = (String, usize, usize);

/// Whether two spans share or touch lines of one file.
pub(crate) fn overlap(a: &Span, b: &Span) -> bool {
    a.0 == b.0 && a.1 <= b.2 && b.1 <= a.2
}

/// The original lines a diff changes, per file. A pure insertion between lines `k` and
/// `k + 1` is the span `k..=k + 1`, so changes that touch are seen to overlap, as a
/// three-way merge sees them.
pub(crate) fn changed_spans(diff: &str) -> Vec<Span> {
    let mut spans = Vec::new();
    let mut path: Option<String> = None;
    let mut line = 0usize; // the next original line
    let mut run: Option<(usize, usize)> = None; // the change being read
    let mut close = |path: &Option<String>, run: &mut Option<(usize, usize)>| {
        if let (Some(p), Some((a, b))) = (path, run.take()) {
            spans.push((p.clone(), a, b));
        }
    };
    for l in diff.lines() {
        if let Some(rest) = l.strip_prefix("diff --git a/") {
            close(&path, &mut run);
            path = rest.split(" b/").next().map(str::to_string);
        } else if let Some(header) = l.strip_prefix("@@ -") {
            close(&path, &mut run);
            let start = header
                .split([',', ' '])
                .next()
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(1);
            // `-0,0` (a new file) and `-k,0` (insertion after line k) name the line before.
            line = if header.split(' ').next().is_some_and(|r| r.ends_with(",0")) {
                start + 1
            } else {
                start
            };
        } else if l.starts_with("--- ") || l.starts_with("+++ ") {
            continue;
        } else if l.starts_with('-') {
            run = Some(run.map_or((line, line), |(a, _)| (a, line)));
            line += 1;
        } else if l.starts_with('+') {
            run.get_or_insert((line.saturating_sub(1).max(1), line));
        } else if l.starts_with(' ') {
            close(&path, &mut run);
            line += 1;
        }
    }
    close(&path, &mut run);
    spans
}

/// Pairs of candidates that change the same or touching lines of a file: (earlier, later,
/// path, a line of the overlap).
pub(crate) fn overlaps(candidates: &[Arc<PinnedPatch>]) -> Vec<(usize, usize, String, usize)> {
    let spans: Vec<Vec<Span>> = candidates.iter().map(|p| changed_spans(&p.diff)).collect();
    let mut found = Vec::new();
    for i in 0..spans.len() {
        for j in i + 1..spans.len() {
            let hit = spans[i].iter().find_map(|a| {
                spans[j]
                    .iter()
                    .find(|b| overlap(a, b))
                    .map(|b| (a.0.clone(), a.1.max(b.1)))
            });
            if let Some((path, line)) = hit {
                found.push((i, j, path, line));
            }
        }
    }
    found
}

/// For the finalise prompt: the verified patches that overlap, and how the finaliser
/// decides which is delivered. `None` when no two overlap.
pub(crate) fn finalise_note(state: &RunState, may_add_tasks: bool) -> Option<String> {
    let plan = plan(state, &[]);
    let pairs = overlaps(&plan.candidates);
    if pairs.is_empty() {
        return None;
    }
    let name = |i: usize| {
        let p = &plan.candidates[i];
        format!("{} (by {})", p.point, p.agent)
    };
    let mut note = String::from(
        "\nPATCHES: the verified patches are delivered as one change when you answer, but \
these change the same lines and cannot both be merged:",
    );
    for (i, j, path, line) in pairs.iter().take(OVERLAPS_SHOWN) {
        note.push_str(&format!(
            "\n- {} and {}: `{path}` around line {line}",
            name(*i),
            name(*j)
        ));
    }
    note.push_str(
        "\nOf two overlapping patches the result keeps the one your final answer cites \
first, and the other goes to the human as a conflict: cite the better one before the other.",
    );
    if may_add_tasks {
        note.push_str(
            " If both are needed, add a task instead: one agent makes a single patch that \
does both (and passes both checks) and records it superseding one of them.",
        );
    }
    Some(note)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Envelope, Event, Evidence, Point, PointKind};

    fn diff(path: &str, hunk: &str) -> String {
        format!(
            "diff --git a/{path} b/{path}\nindex 1..2 100644\n--- a/{path}\n+++ b/{path}\n{hunk}"
        )
    }

    #[test]
    fn spans_are_the_changed_original_lines() {
        let d = diff(
            "x.py",
            "@@ -4,7 +4,7 @@ def f():\n a\n b\n c\n-d\n+D\n e\n f\n g\n@@ -20,3 +20,4 @@\n t\n u\n+new\n v\n",
        );
        assert_eq!(
            changed_spans(&d),
            vec![("x.py".into(), 7, 7), ("x.py".into(), 21, 22)]
        );
        let created = "diff --git a/n.py b/n.py\nnew file mode 100644\nindex 0..1\n--- /dev/null\n+++ b/n.py\n@@ -0,0 +1,2 @@\n+a\n+b\n";
        assert_eq!(changed_spans(created), vec![("n.py".into(), 1, 1)]);
    }

    fn pinned(point: &str, agent: &str, diff: String) -> Event {
        Event::PatchPinned(PinnedPatch {
            point: point.into(),
            agent: agent.into(),
            reference: format!("patch:{agent}@{point}"),
            tree: String::new(),
            diff,
            checks: Vec::new(),
        })
    }

    fn point(id: &str, supersedes: Option<&str>) -> Vec<Event> {
        vec![
            Event::PointProposed {
                point: Point {
                    id: id.into(),
                    kind: PointKind::Finding,
                    headline: format!("{id} fixes it"),
                    summary: String::new(),
                    evidence: vec![Evidence::default()],
                    author: "a1".into(),
                    task: None,
                    supersedes: supersedes.map(str::to_string),
                },
            },
            Event::PointVerified {
                point: id.into(),
                note: None,
                evidence: None,
            },
        ]
    }

    fn state(events: Vec<Event>) -> RunState {
        let envs: Vec<Envelope> = crate::event::numbered(events);
        RunState::from_events(envs.iter())
    }

    #[test]
    fn cited_patches_come_first_then_log_order_and_each_agent_counts_once() {
        let one = diff("a.py", "@@ -1 +1 @@\n-x\n+y\n");
        let mut events = Vec::new();
        for id in ["P1", "P2", "P3", "P4", "P5"] {
            events.extend(point(id, None));
        }
        events.extend(point("P6", Some("P5")));
        events.push(pinned("P1", "a1", one.clone()));
        events.push(pinned("P2", "a2", one.clone()));
        events.push(pinned("P3", "a3", one.clone()));
        events.push(pinned("P4", "a1", one.clone()));
        events.push(pinned("P5", "a4", one.clone()));
        let s = state(events);
        let ids =
            |p: &Plan| -> Vec<String> { p.candidates.iter().map(|c| c.point.clone()).collect() };
        let p = plan(&s, &[]);
        assert_eq!(ids(&p), vec!["P2", "P3", "P4"]);
        let reasons: Vec<(&str, &str)> = p
            .left_out
            .iter()
            .map(|l| (l.patch.point.as_str(), l.reason.as_str()))
            .collect();
        assert!(reasons[0].0 == "P1" && reasons[0].1.contains("later patch in P4"));
        assert!(reasons[1].0 == "P5" && reasons[1].1.contains("superseded by P6"));
        // The answer's citations decide the order (the cited patch wins an overlap).
        let p = plan(&s, &["P3".into(), "P9".into(), "P2".into()]);
        assert_eq!(ids(&p), vec!["P3", "P2", "P4"]);
    }

    #[test]
    fn overlapping_patches_are_named_for_the_finaliser() {
        let mut events = Vec::new();
        for id in ["P1", "P2", "P3"] {
            events.extend(point(id, None));
        }
        events.push(pinned(
            "P1",
            "a1",
            diff("c.py", "@@ -5,3 +5,3 @@\n a\n-b\n+B1\n c\n"),
        ));
        events.push(pinned(
            "P2",
            "a2",
            diff("c.py", "@@ -5,3 +5,3 @@\n a\n-b\n+B2\n c\n"),
        ));
        events.push(pinned(
            "P3",
            "a3",
            diff("c.py", "@@ -40,3 +40,3 @@\n a\n-z\n+Z\n c\n"),
        ));
        let s = state(events);
        assert_eq!(
            overlaps(&plan(&s, &[]).candidates),
            vec![(0, 1, "c.py".into(), 6)]
        );
        let note = finalise_note(&s, true).unwrap();
        assert!(
            note.contains("P1 (by a1) and P2 (by a2): `c.py` around line 6"),
            "{note}"
        );
        assert!(note.contains("cites first") && note.contains("add a task"));
        assert!(!finalise_note(&s, false).unwrap().contains("add a task"));
        let apart = state(vec![
            pinned(
                "P1",
                "a1",
                diff("c.py", "@@ -5,3 +5,3 @@\n a\n-b\n+B1\n c\n"),
            ),
            pinned(
                "P3",
                "a3",
                diff("c.py", "@@ -40,3 +40,3 @@\n a\n-z\n+Z\n c\n"),
            ),
        ]);
        assert_eq!(finalise_note(&apart, true), None);
    }
}
