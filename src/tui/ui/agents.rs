//! The agents pane: one card per agent with its state, task, streamed lines and usage.

use super::{empty_state, fmt_cost, fmt_tokens, pane_block, truncate};
use crate::event::{AgentStatus, AgentView, parse_ts};
use crate::tui::app::AppState;
use crate::tui::layout::{Pane, scroll_window};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn draw(frame: &mut Frame, state: &AppState, area: Rect) {
    let run = state.run();
    let theme = &state.theme;
    let rows = state.agent_rows();
    let active = run
        .agents
        .values()
        .filter(|a| !matches!(a.status, AgentStatus::Idle | AgentStatus::Stopped))
        .count();
    // After the run every agent is stopped; count them all then, the running ones before.
    let live = run
        .agents
        .values()
        .filter(|a| run.phase == crate::event::Phase::Done || a.status != AgentStatus::Stopped)
        .count();
    let mut title = vec![Span::styled(
        format!("{live} · {active} busy "),
        theme.dim(),
    )];
    let target = state.target_agents();
    if target > 0 && target != live && run.phase != crate::event::Phase::Done {
        title.push(Span::styled(format!("→ {target} "), theme.warn()));
    }
    let block = pane_block(state, Pane::Agents, title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if rows.is_empty() {
        let text = if !state.filter(Pane::Agents).is_empty() {
            "No agent matches the filter."
        } else {
            "No agent has started yet."
        };
        empty_state(frame, inner, theme, text);
        return;
    }

    let card = state.agent_card_height().max(1);
    let visible_cards = (usize::from(inner.height) / card).max(1);
    let selected = state
        .agents
        .selected
        .as_ref()
        .and_then(|s| rows.iter().position(|a| &a.id == s));
    let offset = scroll_window(
        selected.unwrap_or(0),
        state.agents.offset,
        visible_cards,
        rows.len(),
    );
    let focused = state.focus == Pane::Agents;
    let width = usize::from(inner.width);
    let mut lines = Vec::new();
    for (i, agent) in rows.iter().enumerate().skip(offset).take(visible_cards) {
        let header = header_line(state, agent, width);
        lines.push(if Some(i) == selected {
            header.style(theme.selection(focused))
        } else {
            header
        });
        for text in recent_lines(state, agent, card - 1) {
            lines.push(Line::from(vec![
                Span::styled("   │ ", theme.dim()),
                Span::styled(truncate(&text, width.saturating_sub(5)), theme.dim()),
            ]));
        }
        while lines.len() % card != 0 {
            lines.push(Line::raw(""));
        }
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// `(symbol, label, style)` for an agent's state.
fn status_view(state: &AppState, agent: &AgentView) -> (&'static str, String, Style) {
    let theme = &state.theme;
    match agent.status {
        AgentStatus::Idle => ("○", "idle".into(), theme.dim()),
        AgentStatus::Working => ("●", "working".into(), theme.accent()),
        AgentStatus::Verifying => ("◐", "verifying".into(), theme.warn()),
        AgentStatus::Finalising => (
            "★",
            "finalising".into(),
            theme.role(theme.palette.finalising),
        ),
        AgentStatus::Paused => ("‖", "paused".into(), theme.warn()),
        AgentStatus::Stopped => ("■", "stopped".into(), theme.dim()),
        AgentStatus::Retrying => {
            let label = match &agent.retry {
                Some(retry) => {
                    let left = retry_seconds_left(state, &retry.since_ts, retry.delay_ms);
                    let when = match left {
                        Some(0) | None => "now".to_string(),
                        Some(s) => format!("in {s}s"),
                    };
                    format!("retry {} {when} ({})", retry.attempt, retry.reason)
                }
                None => "retrying".into(),
            };
            ("↻", label, theme.warn())
        }
    }
}

fn retry_seconds_left(state: &AppState, since: &str, delay_ms: u64) -> Option<u64> {
    let since = parse_ts(since)?;
    let now = state.now?;
    let due = since + time::Duration::milliseconds(delay_ms as i64);
    let left = (due - now).whole_milliseconds();
    Some(if left <= 0 {
        0
    } else {
        (left as u64).div_ceil(1000)
    })
}

fn header_line(state: &AppState, agent: &AgentView, width: usize) -> Line<'static> {
    let theme = &state.theme;
    let (symbol, label, style) = status_view(state, agent);
    let usage = format!(
        " {} in / {} out · {} ",
        fmt_tokens(agent.tokens_in),
        fmt_tokens(agent.tokens_out),
        if agent.unpriced_calls > 0 && agent.cost_usd == 0.0 {
            "cost ?".to_string()
        } else {
            fmt_cost(agent.cost_usd)
        }
    );
    let task = agent.task.as_ref().map(|t| {
        let title = state.run().task(t).map(|v| v.title.as_str()).unwrap_or("");
        format!("{t} {title}")
    });
    // An outside agent (MCP) shows the start of its handle and its client's name.
    let name = match (&agent.kind, &agent.name) {
        (Some(_), Some(client)) => format!("{} ⇄ {client}", truncate(&agent.id, 8)),
        _ => agent.id.clone(),
    };
    let head = format!(" {name} {symbol} ");
    let mut room = width
        .saturating_sub(head.chars().count())
        .saturating_sub(usage.chars().count());
    let label = truncate(&label, room);
    room = room.saturating_sub(label.chars().count());
    let task = task
        .map(|t| truncate(&format!("  {t}"), room))
        .unwrap_or_default();
    room = room.saturating_sub(Span::raw(task.as_str()).width());
    Line::from(vec![
        Span::styled(format!(" {name} "), theme.text()),
        Span::styled(format!("{symbol} "), style),
        Span::styled(label, style),
        Span::styled(task, theme.text()),
        Span::raw(" ".repeat(room)),
        Span::styled(usage, theme.dim()),
    ])
}

/// The last streamed lines, or the tail of the last finished message when nothing streamed.
fn recent_lines(state: &AppState, agent: &AgentView, n: usize) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    if let Some(buffer) = state.streams.get(&agent.id)
        && !buffer.is_empty()
    {
        return buffer.tail(n).into_iter().map(str::to_string).collect();
    }
    let Some(message) = &agent.last_message else {
        return Vec::new();
    };
    let lines: Vec<&str> = message.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| l.trim().to_string())
        .collect()
}
