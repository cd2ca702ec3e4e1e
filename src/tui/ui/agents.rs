//! The agents pane: one card per agent saying what it is doing in words, its task, its
//! latest lines of model text and its usage; the title carries true counts and the token
//! sparkline with the current rate.

use super::{empty_state, fmt_tokens, pane_block, truncate};
use crate::event::{AgentStatus, AgentView, parse_ts};
use crate::tui::app::AppState;
use crate::tui::display::{activity, agent_counts, rate_per_minute, sparkline, token_buckets};
use crate::tui::layout::Pane;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// Columns of the token sparkline in the pane title.
const SPARK_WIDTH: usize = 16;

pub fn draw(frame: &mut Frame, state: &AppState, area: Rect) {
    let run = state.run();
    let theme = &state.theme;
    let rows = state.agent_rows();
    let (present, busy) = agent_counts(run);
    let mut title = vec![Span::styled(
        format!("{present} · {busy} busy "),
        theme.dim(),
    )];
    let target = state.target_agents();
    if target > 0 && target != present && run.phase != crate::event::Phase::Done {
        title.push(Span::styled(format!("→ {target} "), theme.warn()));
    }
    let card = state.agent_card_height().max(1);
    let visible_cards = (usize::from(area.height.saturating_sub(2)) / card).max(1);
    let selected = state
        .agents
        .selected
        .as_ref()
        .and_then(|s| rows.iter().position(|a| &a.id == s));
    let (offset, more) =
        super::list_window(selected, state.agents.offset, visible_cards, rows.len());
    let title_width: usize = title.iter().map(|s| s.width()).sum::<usize>() + 12;
    let mut block = pane_block(state, Pane::Agents, title, more);
    if let Some(rate) = rate_title(state, usize::from(area.width).saturating_sub(title_width)) {
        block = block.title(rate.right_aligned());
    }
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

/// `▁▂▅▇█▆ 8.1k tok/min · $0.004/min` over the run so far, fitted to `room` columns.
fn rate_title(state: &AppState, room: usize) -> Option<Line<'static>> {
    let theme = &state.theme;
    let calls = state.log.calls(state.log_upto());
    if calls.is_empty() {
        return None;
    }
    // The log's own clock: first event to now (live), or to the current event.
    let last = state.log.offset_ms(state.log_upto().saturating_sub(1));
    let live = !state.is_replay() && !state.engine_gone();
    let now_ms = match (
        state.now,
        state.run().started_ts.as_deref().and_then(parse_ts),
    ) {
        (Some(now), Some(start)) if live => ((now - start).whole_milliseconds() as i64).max(last),
        _ => last,
    };
    let (tokens, cost) = rate_per_minute(calls, now_ms);
    let mut rate = format!("{} tok/min", fmt_tokens(tokens));
    if let Some(usd) = cost {
        rate.push_str(&format!(" · {}/min", crate::story::money(usd)));
    }
    let spark = sparkline(&token_buckets(calls, now_ms, SPARK_WIDTH));
    let full = format!(" {spark} {rate} ");
    let text = if full.chars().count() <= room {
        full
    } else if rate.chars().count() + 2 <= room {
        format!(" {rate} ")
    } else {
        return None;
    };
    Some(Line::styled(text, theme.dim()))
}

/// `(symbol, style)` for an agent's state.
fn status_symbol(state: &AppState, agent: &AgentView) -> (&'static str, Style) {
    let theme = &state.theme;
    match agent.status {
        AgentStatus::Idle => ("○", theme.dim()),
        AgentStatus::Working if agent.task.is_none() => ("○", theme.dim()),
        AgentStatus::Working => ("●", theme.accent()),
        AgentStatus::Verifying => ("◐", theme.warn()),
        AgentStatus::Finalising => ("★", theme.role(theme.palette.finalising)),
        AgentStatus::Paused => ("‖", theme.warn()),
        AgentStatus::Stopped => ("■", theme.dim()),
        AgentStatus::Retrying => ("↻", theme.warn()),
    }
}

/// Seconds until an agent's pending retry, if it waits on one.
pub(crate) fn retry_seconds_left(state: &AppState, agent: &AgentView) -> Option<u64> {
    let retry = agent.retry.as_ref()?;
    let since = parse_ts(&retry.since_ts)?;
    let now = state.now?;
    let due = since + time::Duration::milliseconds(retry.delay_ms as i64);
    let left = (due - now).whole_milliseconds();
    Some(if left <= 0 {
        0
    } else {
        (left as u64).div_ceil(1000)
    })
}

/// `a2 ● reading src/lex.rs:1-10 · T2 check lexer state…   3.4k in / 410 out · $0.002`:
/// what the agent does comes first, then its task, then its usage when there is room.
fn header_line(state: &AppState, agent: &AgentView, width: usize) -> Line<'static> {
    let theme = &state.theme;
    let (symbol, style) = status_symbol(state, agent);
    let label = activity(&state.fold, agent, retry_seconds_left(state, agent));
    let cached = crate::text::cached_share(agent.tokens_cached_read, agent.tokens_in)
        .map(|s| format!(" ({s})"))
        .unwrap_or_default();
    let usage = format!(
        " {} in{cached} / {} out · {} ",
        fmt_tokens(agent.tokens_in),
        fmt_tokens(agent.tokens_out),
        crate::story::cost_text(agent.cost_usd, agent.calls, agent.unpriced_calls)
    );
    let task = agent.task.as_ref().map(|t| {
        let title = state.run().task(t).map(|v| v.title.as_str()).unwrap_or("");
        format!(" · {t} {title}")
    });
    // An outside agent (MCP) shows the start of its handle and its client's name.
    let name = match (&agent.kind, &agent.name) {
        (Some(_), Some(client)) => format!("{} ⇄ {client}", truncate(&agent.id, 8)),
        _ => agent.id.clone(),
    };
    let head = format!(" {name} {symbol} ");
    let width_of = |s: &str| Span::raw(s).width();
    // Usage only when the activity and a bit of the task still fit beside it.
    let usage = if width < width_of(&head) + width_of(&label) + width_of(&usage) + 12 {
        String::new()
    } else {
        usage
    };
    let room = width.saturating_sub(width_of(&head) + width_of(&usage));
    let label = truncate(&label, room);
    let room = room.saturating_sub(width_of(&label));
    let task = task.map(|t| truncate(&t, room)).unwrap_or_default();
    let pad = room.saturating_sub(width_of(&task));
    Line::from(vec![
        Span::styled(format!(" {name} "), theme.text()),
        Span::styled(format!("{symbol} "), style),
        Span::styled(label, style),
        Span::styled(task, theme.dim()),
        Span::raw(" ".repeat(pad)),
        Span::styled(usage, theme.dim()),
    ])
}

/// The last streamed lines, or the tail of the agent's last message when nothing streamed.
fn recent_lines(state: &AppState, agent: &AgentView, n: usize) -> Vec<String> {
    if n == 0 || agent.status == AgentStatus::Verifying {
        return Vec::new();
    }
    if let Some(buffer) = state.streams.get(&agent.id)
        && !buffer.is_empty()
    {
        return buffer.tail(n).into_iter().map(str::to_string).collect();
    }
    let Some(message) = state
        .fold
        .activity
        .get(&agent.id)
        .and_then(|a| a.last_text.as_ref())
    else {
        return Vec::new();
    };
    let lines: Vec<&str> = message.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| l.trim().to_string())
        .collect()
}
