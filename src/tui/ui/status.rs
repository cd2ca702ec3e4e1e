//! The status bar (run state, model, totals, time, budget) and the hint line under it.

use super::{elapsed_secs, fmt_cost, fmt_duration, fmt_tokens, truncate};
use crate::event::RunDisplayState;
use crate::tui::app::AppState;
use crate::tui::hints::footer_hints;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn draw_status(frame: &mut Frame, state: &AppState, area: Rect) {
    let theme = &state.theme;
    let run = state.run();
    let display = run.display_state();
    let color = match display {
        RunDisplayState::Starting | RunDisplayState::Running => theme.palette.running,
        RunDisplayState::Pausing | RunDisplayState::Paused => theme.palette.paused,
        RunDisplayState::Finalising => theme.palette.finalising,
        RunDisplayState::Done => theme.palette.done,
    };
    let mut spans = Vec::new();
    if let Some(timeline) = state.timeline() {
        let play = if timeline.playing {
            format!("▶ {}/s", timeline.events_per_second())
        } else {
            "‖".to_string()
        };
        spans.push(Span::styled(" REPLAY ", theme.badge(theme.palette.accent)));
        let event = timeline
            .current()
            .map(|e| format!(" {} ", e.event.type_name()))
            .unwrap_or_default();
        spans.push(Span::styled(
            format!(" {}/{} {play}{event}", timeline.position(), timeline.len()),
            theme.accent(),
        ));
        spans.push(Span::raw(" "));
    }
    spans.push(Span::styled(
        format!(" {} ", display.label()),
        theme.badge(color),
    ));
    let mut parts = Vec::new();
    if !run.model.is_empty() {
        parts.push(run.model.clone());
    }
    parts.push(format!(
        "{} in / {} out",
        fmt_tokens(run.totals.tokens_in),
        fmt_tokens(run.totals.tokens_out)
    ));
    let totals = &run.totals;
    let cost = if totals.unpriced_calls > 0 && totals.unpriced_calls == totals.calls {
        "cost ?".to_string() // no call had a known price
    } else if totals.unpriced_calls > 0 {
        format!("{}+", fmt_cost(totals.cost_usd)) // some calls had no known price
    } else {
        fmt_cost(totals.cost_usd)
    };
    parts.push(cost);
    let elapsed = elapsed_secs(state);
    if let Some(secs) = elapsed {
        parts.push(fmt_duration(secs));
    }
    if let Some(budget) = budget_left(state, elapsed) {
        parts.push(budget);
    }
    // Where outside agents join while the run lives (the token is in the board file).
    if let Some(url) = run
        .board_url
        .as_ref()
        .filter(|_| state.timeline().is_none())
    {
        parts.push(format!("board {url}"));
    }
    spans.push(Span::styled(
        format!(" {}", parts.join(" · ")),
        theme.text(),
    ));
    if !run.errors.is_empty() {
        spans.push(Span::styled(
            format!(" · ⚠ {} error(s)", run.errors.len()),
            theme.error(),
        ));
    }
    let used: usize = spans.iter().map(|s| s.width()).sum();
    let width = usize::from(area.width);
    if used > width {
        // Keep the badge, cut the rest.
        let flat: String = spans.iter().skip(1).map(|s| s.content.as_ref()).collect();
        let badge_width = spans[0].width();
        spans.truncate(1);
        spans.push(Span::styled(
            truncate(&flat, width.saturating_sub(badge_width)),
            theme.text(),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// What is left of each budget that is set, e.g. `$0.48 left · 12:30 left`.
fn budget_left(state: &AppState, elapsed: Option<u64>) -> Option<String> {
    let run = state.run();
    let mut left = Vec::new();
    if let Some(max) = run.budgets.max_cost_usd {
        left.push(format!(
            "{} left",
            fmt_cost((max - run.totals.cost_usd).max(0.0))
        ));
    }
    if let Some(max) = run.budgets.max_tokens {
        let used = run.totals.tokens_in + run.totals.tokens_out;
        left.push(format!("{} tok left", fmt_tokens(max.saturating_sub(used))));
    }
    if let (Some(limit), Some(elapsed)) = (run.budgets.time_limit_secs, elapsed) {
        left.push(format!(
            "{} left",
            fmt_duration(limit.saturating_sub(elapsed))
        ));
    }
    (!left.is_empty()).then(|| format!("budget {}", left.join(", ")))
}

pub fn draw_hints(frame: &mut Frame, state: &AppState, area: Rect) {
    let theme = &state.theme;
    if let Some(flash) = &state.flash {
        let style = if flash.is_error {
            theme.error()
        } else {
            theme.ok()
        };
        let text = truncate(&format!(" {}", flash.text), usize::from(area.width));
        frame.render_widget(Paragraph::new(Line::styled(text, style)), area);
        return;
    }
    let width = usize::from(area.width);
    let mut spans = vec![Span::raw(" ")];
    let mut used = 1;
    for (key, label) in footer_hints(state) {
        let piece = key.chars().count() + label.chars().count() + 3;
        if used + piece > width {
            break;
        }
        used += piece;
        spans.push(Span::styled(key, theme.accent()));
        spans.push(Span::styled(format!(" {label}  "), theme.dim()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
