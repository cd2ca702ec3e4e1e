//! Drawing: a pure function of [`AppState`]. Each pane is its own module; this one lays them
//! out and holds the small formatting helpers they share.

mod agents;
mod context;
mod detail;
mod popups;
mod queue;
mod status;

use super::app::AppState;
use super::layout::{MIN_HEIGHT, MIN_WIDTH, Pane};
use super::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Paragraph, Wrap};

/// Draw the whole UI. Reads the state, changes nothing.
pub fn draw(frame: &mut Frame, state: &AppState) {
    let area = frame.area();
    let layout = if state.layout.area == area {
        state.layout
    } else {
        // The runner resizes the state before drawing; this covers a first frame or a test
        // that draws at a size the state was not told about.
        super::layout::AppLayout::compute(area, state.focus)
    };
    if layout.too_small {
        draw_too_small(frame, area, &state.theme);
        return;
    }
    queue::draw(frame, state, layout.queue);
    agents::draw(frame, state, layout.agents);
    context::draw(frame, state, layout.context);
    detail::draw(frame, state, layout.detail);
    status::draw_status(frame, state, layout.status);
    status::draw_hints(frame, state, layout.hints);
    popups::draw(frame, state, &layout);
}

fn draw_too_small(frame: &mut Frame, area: Rect, theme: &Theme) {
    let lines = vec![
        Line::styled("terminal too small", theme.accent()),
        Line::styled(
            format!(
                "need {MIN_WIDTH}x{MIN_HEIGHT}, have {}x{}",
                area.width, area.height
            ),
            theme.text(),
        ),
        Line::styled("enlarge the window, or q to quit", theme.dim()),
    ];
    let top = area.height.saturating_sub(3) / 2;
    let rect = Rect::new(area.x, area.y + top, area.width, area.height - top);
    frame.render_widget(
        Paragraph::new(lines)
            .alignment(Alignment::Center)
            .wrap(Wrap { trim: true }),
        rect,
    );
}

/// A pane's frame: rounded border, bold title, accent border when focused.
fn pane_block<'a>(state: &AppState, pane: Pane, title: Vec<Span<'a>>) -> Block<'a> {
    let focused = state.focus == pane;
    let theme = &state.theme;
    let mut spans = vec![Span::styled(format!(" {} ", pane.name()), theme.title())];
    spans.extend(title);
    if !state.filter(pane).is_empty() {
        spans.push(Span::styled(
            format!(" /{} ", state.filter(pane)),
            theme.warn(),
        ));
    }
    Block::bordered()
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Rounded
        })
        .border_style(theme.border(focused))
        .title(Line::from(spans))
}

/// An empty-state message, dim and centred-ish, inside a pane.
fn empty_state(frame: &mut Frame, inner: Rect, theme: &Theme, text: &str) {
    if inner.height == 0 {
        return;
    }
    let top = inner.height.saturating_sub(1) / 3;
    let rect = Rect::new(
        inner.x + 1,
        inner.y + top,
        inner.width.saturating_sub(2),
        inner.height - top,
    );
    frame.render_widget(
        Paragraph::new(Line::styled(text.to_string(), theme.dim())).wrap(Wrap { trim: true }),
        rect,
    );
}

/// Cut `text` to `width` columns, ending with `…` when cut.
pub(crate) fn truncate(text: &str, width: usize) -> String {
    let text = text.replace(['\n', '\r', '\t'], " ");
    if Span::raw(text.as_str()).width() <= width {
        return text;
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for ch in text.chars() {
        let w = Span::raw(ch.to_string()).width();
        if used + w > width - 1 {
            break;
        }
        used += w;
        out.push(ch);
    }
    out.push('…');
    out
}

/// `12345` → `12.3k`, `2_400_000` → `2.4M`.
pub(crate) fn fmt_tokens(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

pub(crate) fn fmt_cost(usd: f64) -> String {
    if usd < 10.0 {
        format!("${usd:.3}")
    } else {
        format!("${usd:.2}")
    }
}

/// `mm:ss`, or `h:mm:ss` past an hour.
pub(crate) fn fmt_duration(secs: u64) -> String {
    if secs >= 3600 {
        format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
    } else {
        format!("{:02}:{:02}", secs / 60, secs % 60)
    }
}

/// Seconds from the first event to `now` (live), to the current event (replay), or the
/// recorded total once the run is done.
pub(crate) fn elapsed_secs(state: &AppState) -> Option<u64> {
    let run = state.run();
    if run.phase == crate::event::Phase::Done && run.totals.elapsed_ms > 0 {
        return Some(run.totals.elapsed_ms / 1000);
    }
    let start = crate::event::parse_ts(run.started_ts.as_deref()?)?;
    let now = state.now?;
    Some((now - start).whole_seconds().max(0) as u64)
}
