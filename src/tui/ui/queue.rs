//! The queue pane: every task with its state, claimant, attempts and origin.

use super::{empty_state, pane_block, truncate};
use crate::event::{Origin, TaskState, TaskView};
use crate::tui::app::AppState;
use crate::tui::layout::Pane;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn draw(frame: &mut Frame, state: &AppState, area: Rect) {
    let run = state.run();
    let theme = &state.theme;
    let count = |f: fn(&TaskState) -> bool| run.count_tasks(f);
    let queued = count(|s| *s == TaskState::Queued);
    let claimed = count(|s| matches!(s, TaskState::Claimed { .. }));
    let done = count(|s| *s == TaskState::Done);
    let failed = count(|s| *s == TaskState::Failed);
    let cancelled = count(|s| *s == TaskState::Cancelled);
    let mut title = vec![Span::styled(
        format!("{queued} queued · {claimed} claimed · {done} done "),
        theme.dim(),
    )];
    if failed > 0 {
        title.push(Span::styled(format!("· {failed} failed "), theme.error()));
    }
    if cancelled > 0 {
        title.push(Span::styled(
            format!("· {cancelled} cancelled "),
            theme.dim(),
        ));
    }
    let rows = state.queue_rows();
    let height = usize::from(area.height.saturating_sub(2));
    let selected = state
        .queue
        .selected
        .as_ref()
        .and_then(|s| rows.iter().position(|t| &t.id == s));
    let (offset, more) = super::list_window(selected, state.queue.offset, height, rows.len());
    let block = pane_block(state, Pane::Queue, title, more);
    let inner = block.inner(area);
    frame.render_widget(block, area);

    if rows.is_empty() {
        let text = if !state.filter(Pane::Queue).is_empty() {
            "No task matches the filter (/ to change it)."
        } else if state.is_replay() {
            "No tasks yet at this point of the replay."
        } else {
            "No tasks yet. The first ones appear as the run starts."
        };
        empty_state(frame, inner, theme, text);
        return;
    }
    let id_width = rows.iter().map(|t| t.id.chars().count()).max().unwrap_or(2);
    let lines: Vec<Line> = rows
        .iter()
        .enumerate()
        .skip(offset)
        .take(height)
        .map(|(i, task)| {
            let line = task_line(state, task, id_width, usize::from(inner.width));
            super::list_row(state, line, Some(i) == selected, Pane::Queue)
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

fn task_line(state: &AppState, task: &TaskView, id_width: usize, width: usize) -> Line<'static> {
    let theme = &state.theme;
    let (symbol, symbol_style) = match &task.state {
        TaskState::Claimed { .. } => ("▶", theme.accent()),
        TaskState::Queued => ("·", theme.dim()),
        TaskState::Done => ("✓", theme.ok()),
        TaskState::Failed => ("✗", theme.error()),
        TaskState::Cancelled => ("⊘", theme.dim()),
    };
    let mut meta = Vec::new();
    if let TaskState::Claimed { agent } = &task.state {
        meta.push(agent.clone());
    }
    if task.attempts > 1 {
        meta.push(format!("×{}", task.attempts));
    }
    match &task.origin {
        Origin::Initial => {}
        Origin::Agent { agent } => meta.push(format!("from {agent}")),
        Origin::Human => meta.push("human".into()),
    }
    let meta = if meta.is_empty() {
        String::new()
    } else {
        format!(" {} ", meta.join(" · "))
    };
    let prefix = format!(" {symbol} {:<id_width$}  ", task.id);
    let title_room = width
        .saturating_sub(prefix.chars().count())
        .saturating_sub(meta.chars().count());
    let title = truncate(&task.title, title_room);
    let pad = title_room.saturating_sub(Span::raw(title.as_str()).width());
    let title_style = match task.state {
        TaskState::Done | TaskState::Cancelled => theme.dim(),
        TaskState::Failed => theme.error(),
        _ => theme.text(),
    };
    Line::from(vec![
        Span::styled(format!(" {symbol} "), symbol_style),
        Span::styled(format!("{:<id_width$}  ", task.id), theme.dim()),
        Span::styled(title, title_style),
        Span::raw(" ".repeat(pad)),
        Span::styled(meta, theme.dim()),
    ])
}
