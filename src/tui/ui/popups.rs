//! Popups drawn over the panes: help, the constraint and task editors, the re-enqueue note,
//! the filter bar and the quit confirmation (the final answer has its own module). They are
//! sized to the terminal, and their explanations and keys wrap instead of being cut.

use super::truncate;
use crate::tui::app::{AppState, Popup};
use crate::tui::context_tree::wrap;
use crate::tui::hints::help_sections;
use crate::tui::keymap::Layer;
use crate::tui::layout::AppLayout;
use crate::tui::search::View;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph};
use ratatui_textarea::TextArea;

pub fn draw(frame: &mut Frame, state: &AppState, layout: &AppLayout) {
    let Some(popup) = &state.popup else {
        return;
    };
    let area = super::popup_area(layout);
    match popup {
        Popup::Help { scroll } => draw_help(frame, state, area, *scroll),
        Popup::Constraint(input) => draw_editor(
            frame,
            state,
            area,
            "Inject a constraint",
            "Every agent must follow it from its next turn on; it is pinned in the shared \
             context and in every prompt.",
            input,
            Layer::Editor,
            6,
        ),
        Popup::AddTask(input) => draw_editor(
            frame,
            state,
            area,
            "Add a task",
            "The first line is the title; the lines after it are details for the agent that \
             claims it.",
            input,
            Layer::Editor,
            6,
        ),
        Popup::RequeueNote { task, input } => draw_editor(
            frame,
            state,
            area,
            &format!("Re-enqueue {task}"),
            "Its agent stops working on it and the task goes back to the queue; the note \
             goes to whoever claims it next.",
            input,
            Layer::Note,
            1,
        ),
        Popup::Filter { pane, input } => {
            let rect = layout.rect(*pane);
            let bar = Rect::new(
                rect.x,
                rect.bottom().saturating_sub(3),
                rect.width,
                3.min(rect.height),
            );
            frame.render_widget(Clear, bar);
            let block = popup_block(state, &format!("Filter {}", pane.name()));
            let inner = block.inner(bar);
            frame.render_widget(block, bar);
            render_input(frame, state, input, inner);
        }
        Popup::ConfirmQuit => draw_confirm(frame, state, area),
        Popup::Answer { scroll, selected } => {
            super::answer::draw(frame, state, area, *scroll, *selected)
        }
    }
}

/// A width for a popup in `area`: most of a small terminal, capped on a wide one.
pub(super) fn popup_width(area: Rect, cap: u16) -> u16 {
    (area.width * 3 / 4)
        .max(area.width.saturating_sub(4).min(60))
        .min(cap)
        .min(area.width.saturating_sub(2))
}

/// A rect of at most `width`×`height`, centred in `area` (a column free on each side).
pub(super) fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width.saturating_sub(2));
    let height = height.min(area.height);
    Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    )
}

/// A popup's frame without a title.
pub(super) fn popup_frame<'a>(state: &AppState) -> Block<'a> {
    let theme = &state.theme;
    Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(theme.border(true))
        .style(theme.popup())
}

pub(super) fn popup_block<'a>(state: &AppState, title: &str) -> Block<'a> {
    popup_frame(state).title(Line::styled(format!(" {title} "), state.theme.title()))
}

/// The layer's keys as wrapped lines, from the keymap (`C-s submit · Esc cancel · …`).
fn key_lines(state: &AppState, layer: Layer, width: usize) -> Vec<Line<'static>> {
    let theme = &state.theme;
    let pieces: Vec<(String, String)> = crate::tui::hints::offers(layer)
        .into_iter()
        .filter_map(|a| {
            let key = state.keymap.hint_key(a, &[layer])?;
            Some((key, crate::tui::hints::label_in(layer, a).to_string()))
        })
        .collect();
    let mut lines = Vec::new();
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut used = 0;
    for (key, label) in pieces {
        let w = key.chars().count() + label.chars().count() + 4;
        if used + w > width && !spans.is_empty() {
            lines.push(Line::from(std::mem::take(&mut spans)));
            used = 0;
        }
        spans.push(Span::styled(key, theme.accent()));
        spans.push(Span::styled(format!(" {label}   "), theme.dim()));
        used += w;
    }
    if !spans.is_empty() {
        lines.push(Line::from(spans));
    }
    lines
}

#[allow(clippy::too_many_arguments)]
fn draw_editor(
    frame: &mut Frame,
    state: &AppState,
    area: Rect,
    title: &str,
    explanation: &str,
    input: &TextArea<'static>,
    layer: Layer,
    input_rows: u16,
) {
    let theme = &state.theme;
    let width = popup_width(area, 100);
    let text_width = usize::from(width.saturating_sub(4)).max(10);
    let help: Vec<Line> = wrap(explanation, text_width)
        .into_iter()
        .map(|l| Line::styled(l, theme.dim()))
        .collect();
    let keys = key_lines(state, layer, text_width);
    let wanted = help.len() as u16 + keys.len() as u16 + input_rows + 4;
    let rect = centered(area, width, wanted.max(7));
    frame.render_widget(Clear, rect);
    let block = popup_block(state, title);
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let [help_area, _, text_area, keys_area] = Layout::vertical([
        Constraint::Length(help.len() as u16),
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(keys.len() as u16),
    ])
    .areas(inner);
    let pad = |r: Rect| Rect::new(r.x + 1, r.y, r.width.saturating_sub(2), r.height);
    frame.render_widget(Paragraph::new(help), pad(help_area));
    frame.render_widget(Paragraph::new(keys), pad(keys_area));
    render_input(frame, state, input, pad(text_area));
}

fn render_input(frame: &mut Frame, state: &AppState, input: &TextArea<'static>, rect: Rect) {
    let theme = &state.theme;
    let mut input = input.clone();
    input.set_style(theme.popup());
    input.set_placeholder_style(theme.dim().add_modifier(Modifier::ITALIC));
    frame.render_widget(&input, rect);
}

fn draw_confirm(frame: &mut Frame, state: &AppState, area: Rect) {
    let theme = &state.theme;
    let width = popup_width(area, 72);
    let text_width = usize::from(width.saturating_sub(4)).max(10);
    let mut lines: Vec<Line> = wrap(
        "The run is still going. Quitting stops it here; the session log keeps everything \
         so far and `delm resume` continues it.",
        text_width,
    )
    .into_iter()
    .map(|l| Line::styled(l, theme.text()))
    .collect();
    lines.push(Line::raw(""));
    lines.extend(key_lines(state, Layer::Confirm, text_width));
    let rect = centered(area, width, lines.len() as u16 + 4);
    frame.render_widget(Clear, rect);
    let block = popup_block(state, "Quit delm?");
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let body = Rect::new(
        inner.x + 1,
        inner.y + 1,
        inner.width.saturating_sub(2),
        inner.height.saturating_sub(1),
    );
    frame.render_widget(Paragraph::new(lines), body);
}

/// Where the help popup goes and its lines at that width.
fn help_geometry(state: &AppState, area: Rect) -> (Rect, Vec<Line<'static>>) {
    let theme = &state.theme;
    let rect = centered(area, popup_width(area, 100), area.height);
    let inner_width = usize::from(rect.width.saturating_sub(2));
    let sections = help_sections(&state.keymap);
    let key_width = sections
        .iter()
        .flat_map(|s| s.rows.iter().map(|r| r.0.chars().count()))
        .max()
        .unwrap_or(8)
        .min(18);
    let mut lines = Vec::new();
    for section in &sections {
        if !lines.is_empty() {
            lines.push(Line::raw(""));
        }
        lines.push(Line::styled(format!(" {}", section.title), theme.title()));
        for (keys, description) in &section.rows {
            let room = inner_width.saturating_sub(key_width + 6).max(10);
            let keys = truncate(keys, key_width.max(keys.chars().count().min(key_width)));
            let mut parts = wrap(description, room).into_iter();
            lines.push(Line::from(vec![
                Span::styled(format!("   {keys:<key_width$}  "), theme.accent()),
                Span::styled(parts.next().unwrap_or_default(), theme.text()),
            ]));
            for more in parts {
                lines.push(Line::from(vec![
                    Span::raw(" ".repeat(key_width + 5)),
                    Span::styled(more, theme.text()),
                ]));
            }
        }
    }
    (rect, lines)
}

/// The help's lines and visible height (for search).
pub(super) fn help_view(state: &AppState, area: Rect) -> (Vec<Line<'static>>, usize) {
    let (rect, lines) = help_geometry(state, area);
    (lines, usize::from(rect.height.saturating_sub(2)))
}

fn draw_help(frame: &mut Frame, state: &AppState, area: Rect, scroll: usize) {
    let theme = &state.theme;
    let (rect, lines) = help_geometry(state, area);
    frame.render_widget(Clear, rect);
    let height = usize::from(rect.height.saturating_sub(2));
    let max_scroll = lines.len().saturating_sub(height);
    let title = match super::scroll_marker(scroll.min(max_scroll), max_scroll) {
        Some(marker) => format!("Keys {marker}"),
        None => "Keys".to_string(),
    };
    let mut block = popup_block(state, &title);
    if let Some(s) = state.search.as_ref().filter(|s| s.view == View::Help) {
        block = block.title(Line::styled(format!(" /{} ", s.query), theme.warn()).right_aligned());
    }
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    super::draw_text(frame, state, View::Help, lines, scroll, inner);
}
