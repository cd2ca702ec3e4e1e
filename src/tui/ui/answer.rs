//! The final answer: a scrollable, searchable view of the answer rendered as markdown, with
//! its cited points selectable below it. The answer is what the user came for, so it gets
//! nearly the whole screen.

use super::context::point_symbol;
use super::popups::{centered, popup_frame};
use super::status::state_color;
use super::truncate;
use crate::tui::app::AppState;
use crate::tui::display::display_state;
use crate::tui::layout::scroll_window;
use crate::tui::markdown;
use crate::tui::search::View;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

/// Cited points listed under the answer at most (the list scrolls with the selection).
const CITED_ROWS: usize = 6;

struct Geometry {
    rect: Rect,
    body: Rect,
    list: Rect,
}

fn geometry(state: &AppState, area: Rect) -> Geometry {
    let cited = state.run().answer.as_ref().map_or(0, |a| a.cited.len());
    let width = area.width.saturating_sub(4).min(120);
    // As tall as the answer needs (the answer, its cited points, borders), at most the area.
    let body_width = usize::from(width.saturating_sub(4));
    let body_rows = body_lines(state, body_width).len() as u16;
    // The heading and the cited points (as many as fit, up to CITED_ROWS).
    let list_rows = cited.clamp(1, CITED_ROWS) as u16 + 1;
    // Borders, the answer, a blank line, the cited points.
    let rect = centered(area, width, (body_rows + list_rows + 3).max(8));
    let inner = Rect::new(
        rect.x + 1,
        rect.y + 1,
        rect.width.saturating_sub(2),
        rect.height.saturating_sub(2),
    );
    // When it does not all fit, the answer keeps at least half the room.
    let list_rows = if body_rows + 1 + list_rows <= inner.height {
        list_rows
    } else {
        list_rows.min(inner.height.saturating_sub(1) / 2).max(2)
    };
    let [body, _, list] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(list_rows),
    ])
    .areas(inner);
    let body = Rect::new(
        body.x + 1,
        body.y,
        body.width.saturating_sub(2),
        body.height,
    );
    Geometry { rect, body, list }
}

fn body_lines(state: &AppState, width: usize) -> Vec<Line<'static>> {
    let Some(answer) = &state.run().answer else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    let unsupported = &state.run().answer_unsupported_numbers;
    if !unsupported.is_empty() {
        // The answer is published as the finaliser wrote it; what its cited points do not
        // back is said above it, not hidden.
        lines.push(Line::styled(
            truncate(
                &format!(
                    "⚠ no cited point supports: {}",
                    crate::text::escape_controls(&unsupported.join(", "))
                ),
                width,
            ),
            state.theme.warn(),
        ));
        lines.push(Line::default());
    }
    lines.extend(markdown::render(&answer.answer, width, &state.theme));
    lines
}

/// The answer's lines and visible height (for search).
pub(super) fn answer_view(state: &AppState, area: Rect) -> (Vec<Line<'static>>, usize) {
    let g = geometry(state, area);
    (
        body_lines(state, usize::from(g.body.width)),
        usize::from(g.body.height),
    )
}

pub fn draw(frame: &mut Frame, state: &AppState, area: Rect, scroll: usize, selected: usize) {
    let theme = &state.theme;
    let Some(answer) = &state.run().answer else {
        return;
    };
    let g = geometry(state, area);
    frame.render_widget(Clear, g.rect);
    let display = display_state(state.run(), state.engine_gone());
    let lines = body_lines(state, usize::from(g.body.width));
    let max_scroll = lines.len().saturating_sub(usize::from(g.body.height));
    let mut title = vec![
        Span::styled(" Final answer ", theme.title()),
        Span::styled(
            format!(" {} ", display.label()),
            theme.badge(state_color(theme, display)),
        ),
    ];
    if let Some(note) = state.model_badge(false) {
        title.push(Span::styled(
            format!(" {note} "),
            theme.badge(theme.palette.finalising),
        ));
    }
    if let Some(marker) = super::scroll_marker(scroll.min(max_scroll), max_scroll) {
        let shown = (scroll.min(max_scroll) + usize::from(g.body.height)).min(lines.len());
        title.push(Span::styled(
            format!(" {marker} {shown}/{} lines ", lines.len()),
            theme.dim(),
        ));
    }
    let mut block = popup_frame(state).title(Line::from(title));
    if let Some(s) = state.search.as_ref().filter(|s| s.view == View::Answer) {
        block = block.title(Line::styled(format!(" /{} ", s.query), theme.warn()).right_aligned());
    }
    frame.render_widget(block, g.rect);
    super::draw_text(frame, state, View::Answer, lines, scroll, g.body);

    let rows_room = usize::from(g.list.height).saturating_sub(1);
    let mut rows = vec![Line::styled(
        format!(" Cited points ({})", answer.cited.len()),
        theme.title(),
    )];
    if answer.cited.is_empty() {
        rows.push(Line::styled(" (the answer cites no point)", theme.dim()));
    }
    let offset = scroll_window(selected, 0, rows_room, answer.cited.len());
    for (i, id) in answer.cited.iter().enumerate().skip(offset).take(rows_room) {
        let line = match state.run().point(id) {
            Some(p) => {
                let (symbol, style) = point_symbol(state, p);
                let room = usize::from(g.list.width).saturating_sub(id.len() + 6);
                Line::from(vec![
                    Span::styled(format!(" {symbol} "), style),
                    Span::styled(format!("{id} "), theme.accent()),
                    Span::styled(truncate(&p.point.headline, room), theme.text()),
                ])
            }
            None => Line::styled(format!(" ? {id} (not in the log)"), theme.dim()),
        };
        rows.push(if i == selected {
            line.style(theme.selection(true))
        } else {
            line
        });
    }
    frame.render_widget(Paragraph::new(rows), g.list);
}
