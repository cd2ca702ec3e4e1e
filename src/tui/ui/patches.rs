//! The patches view (repo runs with `--allow-edit`): the run's assembled result (what it
//! merged, the checks it passed on the assembled files, the conflicts it kept out), then
//! every verified patch, per agent, with the command runs that verified it and its diff, as
//! the log records them (`result_assembled`, `patch_pinned`), so a replay shows the same.

use super::truncate;
use crate::engine::tools::delivery::report;
use crate::engine::tools::patch::diff_stats;
use crate::event::{AssembledResult, CheckRun, Evidence, PinnedPatch, PointStatus, PointView};
use crate::text::escape_controls;
use crate::tui::app::AppState;
use crate::tui::layout::Pane;
use crate::tui::search::View;
use crate::tui::ui::detail::Lines;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

/// Lines of one diff shown; the rest is counted.
const DIFF_LINES: usize = 400;
/// Lines of a failed check's output shown.
const OUTPUT_LINES: usize = 12;

pub fn draw(frame: &mut Frame, state: &AppState, area: Rect) {
    let lines = patch_lines(state, usize::from(area.width.saturating_sub(4)));
    let run = state.run();
    let count = run.patches.len().max(unpinned(state).len());
    let title = vec![Span::styled(
        format!("{count} verified "),
        state.theme.dim(),
    )];
    let empty = if matches!(run.mode, crate::event::Mode::Repo { .. }) {
        "No verified patch yet. Agents edit their own copy with --allow-edit and cite the \
         change (patch:<agent>) with a command that passed on it."
    } else {
        "Patches exist in repository runs with --allow-exec --allow-edit."
    };
    super::text_pane(
        frame,
        state,
        area,
        Pane::Patches,
        View::Patches,
        title,
        lines,
        state.patches_scroll,
        empty,
    );
}

fn is_patch(ev: &Evidence) -> bool {
    ev.source.trim().starts_with("patch:")
        || ev
            .resolved
            .as_deref()
            .is_some_and(|r| r.starts_with("patch:"))
}

/// Verified points citing a patch that the log never pinned (recorded by a delm that did
/// not keep patches in the log).
fn unpinned(state: &AppState) -> Vec<&PointView> {
    let run = state.run();
    run.points
        .iter()
        .filter(|p| p.status == PointStatus::Verified && p.point.evidence.iter().any(is_patch))
        .filter(|p| !run.patches.iter().any(|pin| pin.point == p.point.id))
        .collect()
}

pub(crate) fn patch_lines(state: &AppState, width: usize) -> Vec<Line<'static>> {
    let mut out = Lines {
        lines: Vec::new(),
        width: width.max(10),
    };
    let run = state.run();
    if let Some(result) = &run.result {
        result_lines(state, result, &mut out);
    }
    let mut pins: Vec<&PinnedPatch> = run.patches.iter().map(|p| p.as_ref()).collect();
    pins.sort_by(|a, b| a.agent.cmp(&b.agent));
    let mut agent = None;
    for pin in pins {
        if agent != Some(&pin.agent) {
            agent = Some(&pin.agent);
            out.heading(&format!("Patches of {}", pin.agent), state);
        }
        pinned_lines(state, pin, &mut out);
    }
    for p in unpinned(state) {
        out.blank();
        out.push(Line::from(vec![
            Span::styled("◆ ", state.theme.accent()),
            Span::styled(
                format!("{} by {}", p.point.id, p.point.author),
                state.theme.accent(),
            ),
        ]));
        out.prose(
            &p.point.headline,
            state.theme.text().add_modifier(Modifier::BOLD),
            2,
        );
        for ev in p.point.evidence.iter().filter(|e| is_patch(e)) {
            out.prose(
                &format!("patch {}", super::evidence_place(ev)),
                state.theme.dim(),
                2,
            );
        }
        out.prose(
            "its diff is not in this log (recorded by a delm that did not keep patches in the log)",
            state.theme.dim(),
            2,
        );
    }
    out.lines
}

/// The assembled result: its headline, where it goes, its checks, what it kept out.
fn result_lines(state: &AppState, result: &AssembledResult, out: &mut Lines) {
    let theme = &state.theme;
    out.heading("Result", state);
    let style = if result.verified() {
        theme.ok()
    } else {
        theme.warn()
    };
    out.prose(
        &report::headline(result),
        style.add_modifier(Modifier::BOLD),
        2,
    );
    if !result.merged.is_empty() {
        out.prose(
            &format!(
                "written to <session>.patch ({}); --apply applies it{}",
                diff_stats(&result.patch),
                if result.verified() {
                    ""
                } else {
                    " only once its checks pass"
                }
            ),
            theme.dim(),
            2,
        );
    }
    if !result.checks.is_empty() {
        out.prose("checks on the assembled files", theme.title(), 2);
        for check in &result.checks {
            check_lines(state, check, out);
        }
    }
    for (mark, items) in [("✗ ", &result.conflicts), ("– ", &result.left_out)] {
        for left in items {
            out.push(Line::from(vec![
                Span::styled(format!("  {mark}"), theme.warn()),
                Span::styled(
                    truncate(
                        &format!(
                            "{} by {}: {}",
                            left.patch.point, left.patch.agent, left.reason
                        ),
                        out.width.saturating_sub(4),
                    ),
                    theme.warn(),
                ),
            ]));
            for file in &left.files {
                out.push(Line::styled(format!("    --- {}", file.path), theme.dim()));
                text_block(&file.text, out, |line| {
                    if ["<<<<<<<", "|||||||", "=======", ">>>>>>>"]
                        .iter()
                        .any(|m| line.starts_with(m))
                    {
                        theme.accent()
                    } else {
                        theme.text()
                    }
                });
            }
        }
    }
    if result.merged.len() > 1 {
        out.prose("assembled diff", theme.title(), 2);
        diff_lines(state, &result.patch, out);
    }
}

/// One pinned patch: where it stands in the result, its point, its checks and its diff.
fn pinned_lines(state: &AppState, pin: &PinnedPatch, out: &mut Lines) {
    let theme = &state.theme;
    let run = state.run();
    let result = run.result.as_deref();
    let merged = result.is_some_and(|r| r.merged.iter().any(|m| m.reference == pin.reference));
    let kept_out = result.and_then(|r| {
        r.conflicts
            .iter()
            .chain(&r.left_out)
            .find(|l| l.patch.reference == pin.reference)
    });
    out.blank();
    let mut head = vec![
        Span::styled(
            match (merged, kept_out) {
                (true, _) => "★ ",
                (false, Some(_)) => "✗ ",
                _ => "◆ ",
            },
            theme.accent(),
        ),
        Span::styled(format!("{} ", pin.point), theme.accent()),
        Span::styled(
            format!("{} ({})", pin.reference, diff_stats(&pin.diff)),
            theme.dim(),
        ),
    ];
    if let Some(newer) = run.point(&pin.point).and_then(|p| p.superseded_by.as_ref()) {
        head.push(Span::styled(
            format!(" · superseded by {newer}"),
            theme.warn(),
        ));
    }
    out.push(Line::from(head));
    if merged {
        out.prose(
            "in the delivered result",
            theme.ok().add_modifier(Modifier::BOLD),
            2,
        );
    } else if let Some(left) = kept_out {
        out.prose(&format!("kept out: {}", left.reason), theme.warn(), 2);
    }
    if let Some(p) = run.point(&pin.point) {
        out.prose(
            &p.point.headline,
            theme.text().add_modifier(Modifier::BOLD),
            2,
        );
    }
    if pin.checks.is_empty() {
        out.prose("verified by: no command cited", theme.warn(), 2);
    } else {
        out.prose("verified by", theme.title(), 2);
        for check in &pin.checks {
            check_lines(state, check, out);
        }
    }
    diff_lines(state, &pin.diff, out);
}

/// A command run as a check: its command line, how it ended and on which files; the end
/// of its output when it failed.
fn check_lines(state: &AppState, check: &CheckRun, out: &mut Lines) {
    let theme = &state.theme;
    let room = out.width.saturating_sub(6);
    out.push(Line::from(vec![
        Span::styled("    $ ", theme.dim()),
        Span::styled(truncate(&check.cmd, room), theme.accent()),
    ]));
    let tree: String = check.tree.chars().take(10).collect();
    let said = if check.reused {
        format!(
            "{}: reused, it {} on identical files (tree {tree})",
            check.run, check.ending
        )
    } else {
        format!("{}: {} on tree {tree}", check.run, check.ending)
    };
    let style = if check.passed() {
        theme.dim()
    } else {
        theme.error()
    };
    out.prose(&said, style, 6);
    if !check.passed() && !check.output.is_empty() {
        let lines: Vec<&str> = check.output.lines().collect();
        let tail = lines[lines.len().saturating_sub(OUTPUT_LINES)..].join("\n");
        out.quoted(&escape_controls(&tail), theme.dim(), theme.quote());
    }
}

/// A diff, coloured as `git diff` colours it.
fn diff_lines(state: &AppState, diff: &str, out: &mut Lines) {
    let theme = &state.theme;
    text_block(diff, out, |line| {
        if line.starts_with("+++ ") || line.starts_with("--- ") || line.starts_with("diff ") {
            theme.title()
        } else if line.starts_with("@@") {
            theme.accent()
        } else if line.starts_with('+') {
            theme.ok()
        } else if line.starts_with('-') {
            theme.error()
        } else {
            theme.dim()
        }
    });
}

/// Lines of text indented under a patch, each styled by `style_of`, cut to the width and
/// to [`DIFF_LINES`].
fn text_block(text: &str, out: &mut Lines, style_of: impl Fn(&str) -> Style) {
    let room = out.width.saturating_sub(4);
    let lines: Vec<&str> = text.lines().collect();
    for line in lines.iter().take(DIFF_LINES) {
        let shown = escape_controls(line);
        out.push(Line::styled(
            format!("    {}", truncate(&shown, room)),
            style_of(line),
        ));
    }
    if lines.len() > DIFF_LINES {
        out.push(Line::styled(
            format!("    … {} more line(s)", lines.len() - DIFF_LINES),
            style_of(""),
        ));
    }
}
