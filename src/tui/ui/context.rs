//! The shared-context pane: constraints pinned on top, then findings, partials, failures,
//! points still being verified and rejected ones (dimmed, with the reason). Only the rows on
//! screen are styled.

use super::{empty_state, pane_block, truncate};
use crate::event::{Phase, PointKind, PointStatus, PointView};
use crate::tui::app::AppState;
use crate::tui::context_tree::{Group, Grouping, NodeId, Row};
use crate::tui::layout::Pane;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn draw(frame: &mut Frame, state: &AppState, area: Rect) {
    let run = state.run();
    let theme = &state.theme;
    let verified = run
        .live_points()
        .filter(|p| p.point.kind != PointKind::Constraint)
        .count();
    let failures = run.count_points(Some(PointKind::Failure), PointStatus::Verified);
    let constraints = run.count_points(Some(PointKind::Constraint), PointStatus::Verified);
    let rejected = run.count_points(None, PointStatus::Rejected);
    let mut counts = vec![format!("{verified} verified")];
    if failures > 0 {
        counts.push(format!("{failures} failed"));
    }
    if constraints > 0 {
        counts.push(format!(
            "{constraints} constraint{}",
            if constraints == 1 { "" } else { "s" }
        ));
    }
    if rejected > 0 {
        counts.push(format!("{rejected} rejected"));
    }
    let mut title = Vec::new();
    if state.context.grouping == Grouping::Task {
        title.push(Span::styled("by task · ", theme.accent()));
    }
    title.push(Span::styled(
        format!("{} ", counts.join(" · ")),
        theme.dim(),
    ));
    let rows = state.context.rows();
    let height = usize::from(area.height.saturating_sub(2));
    let selected = state.context.selected_index();
    let (offset, more) = super::list_window(selected, state.context.offset, height, rows.len());
    let block = pane_block(state, Pane::Context, title, more);
    let inner = block.inner(area);
    frame.render_widget(block, area);

    if rows.is_empty() {
        let text = if !state.filter(Pane::Context).is_empty() {
            "No point matches the filter."
        } else if state.is_replay() {
            "No points yet at this point of the replay."
        } else {
            "No points yet. Verified findings, failures and constraints appear here \
             (c adds a constraint)."
        };
        empty_state(frame, inner, theme, text);
        return;
    }
    let width = usize::from(inner.width);
    let lines: Vec<Line> = rows
        .iter()
        .enumerate()
        .skip(offset)
        .take(height)
        .map(|(i, row)| {
            let line = row_line(state, row, width);
            super::list_row(state, line, Some(i) == selected, Pane::Context)
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

/// Symbol and style of a point by kind and status.
pub(super) fn point_symbol(state: &AppState, p: &PointView) -> (&'static str, Style) {
    let theme = &state.theme;
    match (p.status, p.point.kind) {
        (PointStatus::Rejected, _) => ("⊘", theme.dim()),
        (PointStatus::Proposed, _) => ("◌", theme.dim()),
        (_, PointKind::Constraint) => ("⚑", theme.role(theme.palette.constraint)),
        (_, PointKind::Finding) => ("✓", theme.role(theme.palette.finding)),
        (_, PointKind::Partial) => ("◐", theme.role(theme.palette.partial)),
        (_, PointKind::Failure) => ("✗", theme.role(theme.palette.failure)),
    }
}

fn group_title(state: &AppState, group: &Group) -> String {
    match group {
        Group::Constraints => "Constraints".into(),
        Group::Findings => "Findings".into(),
        Group::Partials => "Partial progress".into(),
        Group::Failures => "Failures (tried, did not work)".into(),
        Group::Verifying if state.run().phase == Phase::Done => "Abandoned (never verified)".into(),
        Group::Verifying => "Being verified".into(),
        Group::Rejected => "Rejected".into(),
        Group::NoTask => "Not tied to a task".into(),
        Group::Task(id) => match state.run().task(id) {
            Some(t) => format!("{id} {}", t.title),
            None => id.clone(),
        },
    }
}

fn row_line(state: &AppState, row: &Row, width: usize) -> Line<'static> {
    let theme = &state.theme;
    let indent = "  ".repeat(usize::from(row.depth));
    match &row.node {
        NodeId::Group(group) => {
            let marker = if state.context.is_open(&row.node) {
                "▾"
            } else {
                "▸"
            };
            let text = format!(" {marker} {} ({})", group_title(state, group), row.count);
            Line::styled(truncate(&text, width), theme.title())
        }
        NodeId::Point(id) => {
            let Some(p) = state.run().point(id) else {
                return Line::raw("");
            };
            let marker = if state.context.is_open(&row.node) {
                "▾"
            } else {
                "▸"
            };
            let (symbol, symbol_style) = point_symbol(state, p);
            let mut tail = String::new();
            let mut text_style = theme.text();
            match p.status {
                PointStatus::Rejected => {
                    text_style = theme.dim();
                    if let Some(reason) = &p.note {
                        tail = format!(" — {reason}");
                    }
                }
                PointStatus::Proposed if state.run().phase == Phase::Done => {
                    text_style = theme.dim();
                    tail = " (abandoned: the run ended before it was verified)".into();
                }
                PointStatus::Proposed => {
                    text_style = theme.dim().add_modifier(Modifier::ITALIC);
                    tail = " (verifying…)".into();
                }
                PointStatus::Verified => {
                    if let Some(newer) = &p.superseded_by {
                        text_style = theme.dim();
                        tail = format!(" (superseded by {newer})");
                    }
                }
            }
            let author = if p.point.kind == PointKind::Constraint {
                format!("{}: ", p.point.author)
            } else {
                String::new()
            };
            let head = format!(" {indent}{marker} {symbol} {:<4} ", p.point.id);
            let room = width.saturating_sub(head.chars().count());
            let body = truncate(&format!("{author}{}{tail}", p.point.headline), room);
            Line::from(vec![
                Span::styled(format!(" {indent}{marker} "), theme.dim()),
                Span::styled(format!("{symbol} "), symbol_style),
                Span::styled(format!("{:<4} ", p.point.id), theme.dim()),
                Span::styled(body, text_style),
            ])
        }
        NodeId::Summary(..) => {
            let text = row.text.clone().unwrap_or_default();
            Line::from(vec![
                Span::raw(format!(" {indent}    ")),
                Span::styled(
                    truncate(&text, width.saturating_sub(indent.len() + 5)),
                    theme.text(),
                ),
            ])
        }
        NodeId::Evidence(id, n) => {
            let Some(ev) = state.run().point(id).and_then(|p| p.point.evidence.get(*n)) else {
                return Line::raw("");
            };
            let place = super::evidence_place(ev);
            let head = format!(" {indent}    ◆ {place}  ");
            let room = width.saturating_sub(head.chars().count());
            Line::from(vec![
                Span::raw(format!(" {indent}    ")),
                Span::styled("◆ ", theme.accent()),
                Span::styled(format!("{place}  "), theme.text()),
                Span::styled(
                    truncate(&format!("“{}”", ev.quote.trim()), room),
                    theme.dim(),
                ),
            ])
        }
    }
}
