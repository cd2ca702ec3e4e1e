//! The patches view (repo runs with `--allow-edit`): every verified patch, per agent, the
//! one that will be applied marked, each with the command runs that verified it and the
//! edits that made it, as the event log records them.
//!
//! The log keeps each patch's reference and size (`patch:a1@3f2a… (1 file, +3 -1)`), the
//! cited changed line, the agent's `edit_file`/`write_file` calls and its `show_patch`
//! excerpt; the pinned diff text itself is not an event, so the edits stand in for it.

use super::truncate;
use crate::engine::tools::patch::best_patch;
use crate::event::{Event, Evidence, PointStatus, PointView};
use crate::tui::app::AppState;
use crate::tui::layout::Pane;
use crate::tui::search::View;
use crate::tui::ui::detail::Lines;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};

/// Lines of one edit shown (old and new each).
const EDIT_LINES: usize = 40;

pub fn draw(frame: &mut Frame, state: &AppState, area: Rect) {
    let lines = patch_lines(state, usize::from(area.width.saturating_sub(4)));
    let count = patch_points(state).len();
    let title = vec![Span::styled(
        format!("{count} verified "),
        state.theme.dim(),
    )];
    let empty = if matches!(state.run().mode, crate::event::Mode::Repo { .. }) {
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

/// Verified points that carry a patch, by agent then in log order.
fn patch_points(state: &AppState) -> Vec<&PointView> {
    let mut points: Vec<&PointView> = state
        .run()
        .points
        .iter()
        .filter(|p| p.status == PointStatus::Verified && p.point.evidence.iter().any(is_patch))
        .collect();
    points.sort_by(|a, b| (&a.point.author, a.seq).cmp(&(&b.point.author, b.seq)));
    points
}

pub(crate) fn patch_lines(state: &AppState, width: usize) -> Vec<Line<'static>> {
    let theme = &state.theme;
    let mut out = Lines {
        lines: Vec::new(),
        width: width.max(10),
    };
    let best = best_patch(state.run()).map(|b| b.point);
    let mut agent = None;
    for p in patch_points(state) {
        if agent != Some(&p.point.author) {
            agent = Some(&p.point.author);
            out.heading(&format!("Patches of {}", p.point.author), state);
        }
        let applied = best.as_deref() == Some(p.point.id.as_str());
        out.blank();
        let mut head = vec![
            Span::styled(if applied { "★ " } else { "◆ " }, theme.accent()),
            Span::styled(format!("{} ", p.point.id), theme.accent()),
            Span::styled(p.point.kind.as_str().to_string(), theme.dim()),
        ];
        if let Some(newer) = &p.superseded_by {
            head.push(Span::styled(
                format!(" · superseded by {newer}"),
                theme.warn(),
            ));
        }
        out.push(Line::from(head));
        if applied {
            out.prose(
                "the patch this run delivers: written to <session>.patch, applied with --apply",
                theme.ok().add_modifier(Modifier::BOLD),
                2,
            );
        }
        out.prose(
            &p.point.headline,
            theme.text().add_modifier(Modifier::BOLD),
            2,
        );
        for ev in p.point.evidence.iter().filter(|e| is_patch(e)) {
            let place = super::evidence_place(ev);
            out.prose(&format!("patch {place}"), theme.dim(), 2);
            if !ev.quote.trim().is_empty() {
                out.quoted(&ev.quote, theme.dim(), theme.ok());
            }
        }
        let checks: Vec<&Evidence> = p
            .point
            .evidence
            .iter()
            .filter(|e| e.source.trim().starts_with("cmd:"))
            .collect();
        if checks.is_empty() {
            out.prose("verified by: no command cited", theme.warn(), 2);
        } else {
            out.prose("verified by", theme.title(), 2);
            for ev in checks {
                command_lines(state, &p.point.author, ev, &mut out);
            }
        }
        edit_lines(state, p, &mut out);
    }
    out.lines
}

/// The cited command: its command line and ending (from the `run_command` call whose
/// output starts with the run's id), and the quoted output.
fn command_lines(state: &AppState, agent: &str, ev: &Evidence, out: &mut Lines) {
    let theme = &state.theme;
    let id = ev.source.trim().trim_start_matches("cmd:").to_string();
    let call = state.log.events()[..state.log_upto()]
        .iter()
        .rev()
        .find_map(|e| match &e.event {
            Event::ToolCall {
                agent: a,
                tool,
                args,
                output,
                ..
            } if a == agent && tool == "run_command" && output.starts_with(&format!("{id}:")) => {
                Some((
                    args.get("cmd")
                        .and_then(|c| c.as_str())
                        .unwrap_or("")
                        .to_string(),
                    output.lines().next().unwrap_or("").to_string(),
                ))
            }
            _ => None,
        });
    let ending = ev.resolved.clone().unwrap_or_else(|| format!("cmd:{id}"));
    match call {
        Some((cmd, first)) => {
            let room = out.width.saturating_sub(6);
            out.push(Line::from(vec![
                Span::styled("    $ ", theme.dim()),
                Span::styled(truncate(&cmd, room), theme.accent()),
            ]));
            // `c1: `cmd` exited with 0 after 4.1 s in a1's worktree. Cite…`: how it ended.
            let said = first
                .split_once("` ")
                .map_or(first.as_str(), |(_, rest)| rest);
            let said = said
                .split(". ")
                .next()
                .unwrap_or(said)
                .trim_end_matches('.');
            out.prose(&format!("{ending}: {said}"), theme.dim(), 6);
        }
        None => out.prose(&ending, theme.dim(), 4),
    }
    if !ev.quote.trim().is_empty() {
        out.quoted(&ev.quote, theme.dim(), theme.quote());
    }
}

/// The author's edits up to the point's proposal, as removed and added lines.
fn edit_lines(state: &AppState, p: &PointView, out: &mut Lines) {
    let theme = &state.theme;
    let proposed_at = state
        .log
        .events()
        .iter()
        .position(|e| e.seq == p.seq)
        .unwrap_or(state.log_upto());
    let mut any = false;
    for &pos in state.log.agent_events(&p.point.author, proposed_at) {
        let Event::ToolCall {
            tool,
            args,
            ok: true,
            ..
        } = &state.log.events()[pos].event
        else {
            continue;
        };
        let arg = |k: &str| {
            args.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        };
        let (old, new) = match tool.as_str() {
            "edit_file" => (arg("old"), arg("new")),
            "write_file" => (String::new(), arg("content")),
            _ => continue,
        };
        if !any {
            out.prose("edits", theme.title(), 2);
            any = true;
        }
        out.push(Line::styled(
            format!(
                "    --- {}{}",
                arg("path"),
                if tool == "write_file" {
                    " (written whole)"
                } else {
                    ""
                }
            ),
            theme.dim(),
        ));
        let room = out.width.saturating_sub(6);
        for (sign, text, style) in [("-", &old, theme.error()), ("+", &new, theme.ok())] {
            let lines: Vec<&str> = text.lines().collect();
            for line in lines.iter().take(EDIT_LINES) {
                out.push(Line::from(vec![
                    Span::styled(format!("    {sign} "), style),
                    Span::styled(truncate(line, room), style),
                ]));
            }
            if lines.len() > EDIT_LINES {
                out.push(Line::styled(
                    format!("    {sign} … {} more line(s)", lines.len() - EDIT_LINES),
                    theme.dim(),
                ));
            }
        }
    }
}
