//! The status bar (run state, model, totals, rate, time, budget left), the footer under it
//! (hints with `? help` pinned right, a message, or the `:`/`/` prompt) and the replay
//! scrubber.

use super::{elapsed_secs, fmt_duration, fmt_tokens, truncate};
use crate::tui::app::{AppState, PromptKind};
use crate::tui::display::{RunDisplayState, display_state, rate_per_minute};
use crate::tui::hints::{footer_hints, help_key};
use crate::tui::log::is_budget_notice;
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// The badge colour of a run state (one colour per outcome, everywhere in the TUI).
pub fn state_color(theme: &Theme, state: RunDisplayState) -> Color {
    use crate::outcome::RunOutcome;
    match state {
        RunDisplayState::Starting | RunDisplayState::Running => theme.palette.running,
        RunDisplayState::Pausing | RunDisplayState::Paused => theme.palette.paused,
        RunDisplayState::Finalising => theme.palette.finalising,
        RunDisplayState::Finished(RunOutcome::Done) => theme.palette.done,
        RunDisplayState::Finished(RunOutcome::StoppedByBudget) => theme.palette.warn,
        RunDisplayState::Finished(RunOutcome::Failed) => theme.palette.error,
        RunDisplayState::Finished(RunOutcome::Cancelled) => theme.palette.dim,
        RunDisplayState::Finished(RunOutcome::Interrupted) => theme.palette.warn,
    }
}

pub fn draw_status(frame: &mut Frame, state: &AppState, area: Rect) {
    let theme = &state.theme;
    let run = state.run();
    let display = display_state(run, state.engine_gone());
    let mut spans = Vec::new();
    if let Some(timeline) = state.timeline() {
        let play = if timeline.playing {
            format!("▶ {}", timeline.pace_label())
        } else {
            "‖".to_string()
        };
        spans.push(Span::styled(" REPLAY ", theme.badge(theme.palette.accent)));
        let event = timeline
            .position()
            .checked_sub(1)
            .map(|i| format!(" {} ", state.log.events()[i].event.type_name()))
            .unwrap_or_default();
        spans.push(Span::styled(
            format!(" {}/{} {play}{event}", timeline.position(), timeline.len()),
            theme.accent(),
        ));
        spans.push(Span::raw(" "));
    }
    spans.push(Span::styled(
        format!(" {} ", display.label()),
        theme.badge(state_color(theme, display)),
    ));
    if let Some(note) = state.model_badge(area.width < 100) {
        spans.push(Span::styled(
            format!(" {note} "),
            theme.badge(theme.palette.finalising),
        ));
    }
    let mut parts = Vec::new();
    if !run.model.is_empty() {
        parts.push(run.model.clone());
    }
    parts.push(
        match crate::text::cached_share(run.totals.tokens_cached_read, run.totals.tokens_in) {
            Some(share) => format!(
                "{} in ({share}) / {} out",
                fmt_tokens(run.totals.tokens_in),
                fmt_tokens(run.totals.tokens_out)
            ),
            None => format!(
                "{} in / {} out",
                fmt_tokens(run.totals.tokens_in),
                fmt_tokens(run.totals.tokens_out)
            ),
        },
    );
    let totals = &run.totals;
    parts.push(crate::story::cost_text(
        totals.cost_usd,
        totals.calls,
        totals.unpriced_calls,
    ));
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
    // Budget notices are not errors: a budget stop is the run doing what it was told.
    let errors = run.errors.iter().filter(|e| !is_budget_notice(e)).count();
    if errors > 0 {
        let key = state
            .keymap
            .hint_key(crate::tui::action::Action::ShowEvents, &state.layers())
            .map(|k| format!(" ({k} shows them)"))
            .unwrap_or_default();
        spans.push(Span::styled(
            format!(
                " · ⚠ {errors} error{}{key}",
                if errors == 1 { "" } else { "s" }
            ),
            theme.error(),
        ));
    }
    let used: usize = spans.iter().map(|s| s.width()).sum();
    let width = usize::from(area.width);
    if used > width {
        // Keep the badges, cut the rest.
        let badges = spans
            .iter()
            .take_while(|s| {
                s.style.bg.is_some() || s.style.add_modifier.contains(Modifier::REVERSED)
            })
            .count()
            .max(1);
        let flat: String = spans
            .iter()
            .skip(badges)
            .map(|s| s.content.as_ref())
            .collect();
        let badge_width: usize = spans.iter().take(badges).map(|s| s.width()).sum();
        spans.truncate(badges);
        spans.push(Span::styled(
            truncate(&flat, width.saturating_sub(badge_width)),
            theme.text(),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// What is left of each budget that is set, with how long it lasts at the current rate:
/// `budget $0.48 left (~6 min) · 12:30 left`.
fn budget_left(state: &AppState, elapsed: Option<u64>) -> Option<String> {
    let run = state.run();
    let live = run.phase != crate::event::Phase::Done;
    let calls = state.log.calls(state.log_upto());
    let now_ms = elapsed.map_or(0, |s| s as i64 * 1000);
    let (tokens_per_min, cost_per_min) = rate_per_minute(calls, now_ms.max(1));
    let lasts = |left: f64, per_min: f64| -> String {
        if !live || per_min <= 0.0 {
            return String::new();
        }
        let minutes = left / per_min;
        if minutes < 1.0 {
            " (<1 min at this rate)".to_string()
        } else if minutes < 90.0 {
            format!(" (~{} min at this rate)", minutes.round())
        } else {
            format!(" (~{:.1} h at this rate)", minutes / 60.0)
        }
    };
    let mut left = Vec::new();
    if let Some(max) = run.budgets.max_cost_usd {
        let rest = (max - run.totals.cost_usd).max(0.0);
        left.push(format!(
            "{} left{}",
            crate::story::money(rest),
            lasts(rest, cost_per_min.unwrap_or(0.0))
        ));
    }
    if let Some(max) = run.budgets.max_tokens {
        let used = run.totals.tokens_in + run.totals.tokens_out;
        let rest = max.saturating_sub(used);
        left.push(format!(
            "{} tok left{}",
            fmt_tokens(rest),
            lasts(rest as f64, tokens_per_min as f64)
        ));
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
    if let Some(prompt) = &state.prompt {
        let lead = match prompt.kind {
            PromptKind::Search(_) => "/",
            PromptKind::Command => ":",
        };
        frame.render_widget(
            Paragraph::new(Line::styled(format!(" {lead}"), theme.accent())),
            Rect::new(area.x, area.y, 2, 1),
        );
        let mut input = prompt.input.clone();
        input.set_style(theme.text());
        input.set_placeholder_style(theme.dim().add_modifier(Modifier::ITALIC));
        input.set_cursor_style(theme.text().add_modifier(Modifier::REVERSED));
        frame.render_widget(
            &input,
            Rect::new(area.x + 2, area.y, area.width.saturating_sub(2), 1),
        );
        return;
    }
    let width = usize::from(area.width);
    // `? help` is pinned to the right end so it never falls off.
    let help = help_key(state).map(|k| {
        let label = if state.popup_layer() == Some(crate::tui::keymap::Layer::Help) {
            "close"
        } else {
            "help"
        };
        (k, label)
    });
    let help_width = help
        .as_ref()
        .map_or(0, |(k, l)| k.chars().count() + l.chars().count() + 3);
    let room = width.saturating_sub(help_width);
    let mut spans = vec![Span::raw(" ")];
    let mut used = 1;
    if let Some(flash) = &state.flash {
        let style = if flash.is_error {
            theme.error()
        } else {
            theme.ok()
        };
        let text = truncate(&flash.text, room.saturating_sub(2));
        used += text.chars().count();
        spans.push(Span::styled(text, style));
    } else {
        for (key, label) in footer_hints(state) {
            let piece = key.chars().count() + label.chars().count() + 3;
            if used + piece > room {
                break;
            }
            used += piece;
            spans.push(Span::styled(key, theme.accent()));
            spans.push(Span::styled(format!(" {label}  "), theme.dim()));
        }
    }
    if let Some((key, label)) = help {
        let pad = width.saturating_sub(used + help_width);
        spans.push(Span::raw(" ".repeat(pad)));
        spans.push(Span::styled(key, theme.accent()));
        spans.push(Span::styled(format!(" {label} "), theme.dim()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The replay scrubber: the density of events over the recording's time, the part already
/// played brighter, and the position marked.
pub fn draw_scrubber(frame: &mut Frame, state: &AppState, area: Rect) {
    let theme = &state.theme;
    let Some(timeline) = state.timeline() else {
        return;
    };
    let span_ms = state.log.span_ms();
    let at_ms = timeline
        .position()
        .checked_sub(1)
        .map_or(0, |i| state.log.offset_ms(i));
    let left = format!(" {} ", fmt_duration((at_ms / 1000) as u64));
    let right = format!(" {} ", fmt_duration((span_ms / 1000) as u64));
    let bar_width = usize::from(area.width).saturating_sub(left.len() + right.len());
    if bar_width < 4 {
        return;
    }
    let density = state.log.density(bar_width);
    let max = density.iter().copied().max().unwrap_or(0).max(1);
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let cursor = if span_ms == 0 {
        bar_width * timeline.position() / timeline.len().max(1)
    } else {
        (at_ms as i128 * bar_width as i128 / (span_ms as i128 + 1)) as usize
    }
    .min(bar_width - 1);
    let mut spans = vec![Span::styled(left, theme.accent())];
    for (i, n) in density.iter().enumerate() {
        let ch = if i == cursor {
            '●'
        } else if *n == 0 {
            '·'
        } else {
            BARS[((n * 8).div_ceil(max)).clamp(1, 8) - 1]
        };
        let style = if i == cursor {
            theme.badge(theme.palette.accent)
        } else if i < cursor {
            theme.accent()
        } else {
            theme.dim()
        };
        spans.push(Span::styled(ch.to_string(), style));
    }
    spans.push(Span::styled(right, theme.dim()));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
