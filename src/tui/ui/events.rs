//! The events pane: a log of what happened around the work (retries, errors, budget
//! notices, constraints, requeues, rejections, agents joining and leaving), newest at the
//! bottom, filterable by kind (`f`) and text (`/`); Enter opens what a row is about.

use super::{empty_state, pane_block, truncate};
use crate::tui::app::AppState;
use crate::tui::layout::Pane;
use crate::tui::log::EventKind;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn draw(frame: &mut Frame, state: &AppState, area: Rect) {
    let theme = &state.theme;
    let rows = state.event_rows();
    let all = state.log.notable(state.log_upto());
    let count = |k: EventKind| all.iter().filter(|n| n.kind == k).count();
    let mut title = Vec::new();
    if let Some(kind) = state.events.kind {
        title.push(Span::styled(
            format!("only {} · ", kind.label()),
            theme.accent(),
        ));
    }
    let mut counts = vec![format!("{} events", all.len())];
    for (kind, one, many) in [
        (EventKind::Error, "error", "errors"),
        (EventKind::Retry, "retry", "retries"),
        (EventKind::Budget, "budget notice", "budget notices"),
    ] {
        match count(kind) {
            0 => {}
            1 => counts.push(format!("1 {one}")),
            n => counts.push(format!("{n} {many}")),
        }
    }
    title.push(Span::styled(
        format!("{} ", counts.join(" · ")),
        theme.dim(),
    ));
    let height = usize::from(area.height.saturating_sub(2));
    let selected = match state.events.selected {
        Some(pos) => rows.iter().position(|n| n.pos == pos),
        None => rows.len().checked_sub(1),
    };
    let (offset, more) = super::list_window(selected, state.events.offset, height, rows.len());
    let block = pane_block(state, Pane::Events, title, more);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if rows.is_empty() {
        let text = if all.is_empty() {
            "Nothing notable yet: retries, errors, budget notices, constraints, requeues and \
             agents joining appear here."
        } else {
            "No event matches the filter (f changes the kind, / the text)."
        };
        empty_state(frame, inner, theme, text);
        return;
    }
    let width = usize::from(inner.width);
    let start = state
        .run()
        .started_ts
        .as_deref()
        .and_then(crate::event::parse_ts);
    let lines: Vec<Line> = rows
        .iter()
        .enumerate()
        .skip(offset)
        .take(height)
        .map(|(i, row)| {
            let ts = &state.log.events()[row.pos].ts;
            let clock = match (start, crate::event::parse_ts(ts)) {
                (Some(a), Some(b)) => super::fmt_duration((b - a).whole_seconds().max(0) as u64),
                _ => "--:--".into(),
            };
            let label = format!("{:<10}", row.kind.label());
            let room = width.saturating_sub(clock.len() + label.len() + 3);
            let line = Line::from(vec![
                Span::styled(format!(" {clock} "), theme.dim()),
                Span::styled(label, kind_style(state, row.kind)),
                Span::raw(" "),
                Span::styled(truncate(&row.text, room), theme.text()),
            ]);
            super::list_row(state, line, Some(i) == selected, Pane::Events)
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

fn kind_style(state: &AppState, kind: EventKind) -> Style {
    let theme = &state.theme;
    match kind {
        EventKind::Error | EventKind::Rejected => theme.error(),
        EventKind::Retry | EventKind::Budget | EventKind::Requeue => theme.warn(),
        EventKind::Constraint => theme.role(theme.palette.constraint),
        EventKind::Agents => theme.accent(),
        EventKind::Run => theme.dim(),
    }
}
