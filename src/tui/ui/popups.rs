//! Popups drawn over the panes: help, constraint editor, re-enqueue note, add task, filter,
//! quit confirmation and the final answer.

use super::context::point_symbol;
use super::truncate;
use crate::event::StoppedBy;
use crate::tui::app::{AppState, Popup};
use crate::tui::context_tree::wrap;
use crate::tui::hints::{PopupKey, help_sections, popup_keys};
use crate::tui::layout::AppLayout;
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
    let area = layout.area;
    match popup {
        Popup::Help { scroll } => draw_help(frame, state, area, *scroll),
        Popup::Constraint(input) => draw_editor(
            frame,
            state,
            centered(area, 72, 12),
            "Inject a constraint",
            "Every agent must follow it from its next turn on; it is pinned in the shared context.",
            input,
            popup,
        ),
        Popup::AddTask(input) => draw_editor(
            frame,
            state,
            centered(area, 72, 12),
            "Add a task",
            "First line is the title; the lines after it are details for the agent.",
            input,
            popup,
        ),
        Popup::RequeueNote { task, input } => draw_editor(
            frame,
            state,
            centered(area, 72, 6),
            &format!("Re-enqueue {task}"),
            "Its agent stops working on it; the note goes to whoever claims it next.",
            input,
            popup,
        ),
        Popup::Filter { pane, input } => {
            let rect = layout.rect(*pane);
            let bar = Rect::new(
                rect.x,
                rect.bottom().saturating_sub(3),
                rect.width,
                3.min(rect.height),
            );
            draw_editor(
                frame,
                state,
                bar,
                &format!("Filter {}", pane.name()),
                "",
                input,
                popup,
            );
        }
        Popup::ConfirmQuit => draw_confirm(frame, state, centered(area, 60, 7)),
        Popup::Answer { selected } => draw_answer(frame, state, area, *selected),
    }
}

/// A rect of at most `width`×`height`, centred in `area`.
fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width.saturating_sub(2));
    let height = height.min(area.height.saturating_sub(2));
    Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    )
}

fn popup_block<'a>(state: &AppState, title: &str, keys: &'static [PopupKey]) -> Block<'a> {
    let theme = &state.theme;
    let mut hint = vec![Span::raw(" ")];
    for key in keys {
        hint.push(Span::styled(key.keys, theme.accent()));
        hint.push(Span::styled(format!(" {} ", key.label), theme.dim()));
    }
    Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(theme.border(true))
        .style(theme.popup())
        .title(Line::styled(format!(" {title} "), theme.title()))
        .title_bottom(Line::from(hint).right_aligned())
}

fn draw_editor(
    frame: &mut Frame,
    state: &AppState,
    rect: Rect,
    title: &str,
    explanation: &str,
    input: &TextArea<'static>,
    popup: &Popup,
) {
    let theme = &state.theme;
    frame.render_widget(Clear, rect);
    let block = popup_block(state, title, popup_keys(popup));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let text_area = if explanation.is_empty() || inner.height < 3 {
        inner
    } else {
        let [help, text] =
            Layout::vertical([Constraint::Length(2), Constraint::Fill(1)]).areas(inner);
        let line = truncate(explanation, usize::from(help.width));
        frame.render_widget(Paragraph::new(Line::styled(line, theme.dim())), help);
        text
    };
    let mut input = input.clone();
    input.set_style(theme.popup());
    input.set_placeholder_style(theme.dim().add_modifier(Modifier::ITALIC));
    frame.render_widget(&input, text_area);
}

fn draw_confirm(frame: &mut Frame, state: &AppState, rect: Rect) {
    let theme = &state.theme;
    frame.render_widget(Clear, rect);
    let block = popup_block(state, "Quit delm?", popup_keys(&Popup::ConfirmQuit));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let width = usize::from(inner.width.saturating_sub(2)).max(10);
    let mut lines = vec![Line::raw("")];
    for line in wrap(
        "The run is still going. Quitting stops it; the session log keeps everything so far \
         (`delm resume` continues it).",
        width,
    ) {
        lines.push(Line::styled(format!(" {line}"), theme.text()));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

fn draw_help(frame: &mut Frame, state: &AppState, area: Rect, scroll: usize) {
    let theme = &state.theme;
    let rect = centered(area, 90, area.height.saturating_sub(4).max(10));
    frame.render_widget(Clear, rect);
    let block = popup_block(state, "Keys", popup_keys(&Popup::Help { scroll }));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let sections = help_sections(state);
    let key_width = sections
        .iter()
        .flat_map(|s| s.rows.iter().map(|r| r.0.chars().count()))
        .max()
        .unwrap_or(8)
        .min(12);
    let mut lines = Vec::new();
    for section in &sections {
        if !lines.is_empty() {
            lines.push(Line::raw(""));
        }
        lines.push(Line::styled(format!(" {}", section.title), theme.title()));
        for (keys, description) in &section.rows {
            let room = usize::from(inner.width).saturating_sub(key_width + 5);
            lines.push(Line::from(vec![
                Span::styled(format!("   {keys:<key_width$}  "), theme.accent()),
                Span::styled(truncate(description, room), theme.text()),
            ]));
        }
    }
    let height = usize::from(inner.height);
    let scroll = scroll.min(lines.len().saturating_sub(height));
    let visible: Vec<Line> = lines.into_iter().skip(scroll).take(height).collect();
    frame.render_widget(Paragraph::new(visible), inner);
}

fn draw_answer(frame: &mut Frame, state: &AppState, area: Rect, selected: usize) {
    let theme = &state.theme;
    let Some(answer) = &state.run().answer else {
        return;
    };
    let width = (area.width * 4 / 5).max(50);
    // Fit the content: wrapped answer, a blank line, the cited list, borders.
    let answer_rows: usize = answer
        .answer
        .split('\n')
        .map(|p| wrap(p, usize::from(width.saturating_sub(4)).max(10)).len())
        .sum();
    let wanted = answer_rows + answer.cited.len().max(1) + 5;
    let height = (wanted as u16).clamp(10, (area.height * 4 / 5).max(10));
    let rect = centered(area, width, height);
    frame.render_widget(Clear, rect);
    let how = match answer.stopped_by {
        StoppedBy::Completed => "completed",
        StoppedBy::Budget => "stopped by budget",
        StoppedBy::Cancelled => "stopped by you",
        StoppedBy::Error => "stopped by an error",
    };
    let block = popup_block(
        state,
        &format!("Final answer · {how}"),
        popup_keys(&Popup::Answer { selected }),
    );
    let inner = block.inner(rect);
    frame.render_widget(block, rect);

    let cited_rows = answer
        .cited
        .len()
        .min(usize::from(inner.height).saturating_sub(3) / 2)
        .max(1);
    let [body, list] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(cited_rows as u16 + 2),
    ])
    .areas(inner);
    let room = usize::from(body.width.saturating_sub(2)).max(10);
    let mut lines = Vec::new();
    for paragraph in answer.answer.split('\n') {
        if paragraph.trim().is_empty() {
            lines.push(Line::raw(""));
            continue;
        }
        for line in wrap(paragraph, room) {
            lines.push(Line::styled(format!(" {line}"), theme.text()));
        }
    }
    if lines.len() > usize::from(body.height) {
        lines.truncate(usize::from(body.height).saturating_sub(1));
        lines.push(Line::styled(
            " … (y copies the whole answer)".to_string(),
            theme.dim(),
        ));
    }
    frame.render_widget(Paragraph::new(lines), body);

    let mut rows = vec![Line::styled(
        format!(" Cited points ({})", answer.cited.len()),
        theme.title(),
    )];
    if answer.cited.is_empty() {
        rows.push(Line::styled(" (the answer cites no point)", theme.dim()));
    }
    let offset = crate::tui::layout::scroll_window(selected, 0, cited_rows, answer.cited.len());
    for (i, id) in answer
        .cited
        .iter()
        .enumerate()
        .skip(offset)
        .take(cited_rows)
    {
        let line = match state.run().point(id) {
            Some(p) => {
                let (symbol, style) = point_symbol(state, p);
                let room = usize::from(list.width).saturating_sub(id.len() + 6);
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
    frame.render_widget(Paragraph::new(rows), list);
}
