//! Drawing: a pure function of [`AppState`]. Each pane is its own module; this one lays them
//! out and holds the small formatting helpers they share.

mod agents;
mod answer;
mod context;
mod detail;
mod events;
mod patches;
mod popups;
mod queue;
mod status;

use super::app::AppState;
use super::layout::{MIN_HEIGHT, MIN_WIDTH, Pane};
use super::search::View;
use super::theme::Theme;
use crate::event::Evidence;
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
        super::layout::AppLayout::compute(
            area,
            state.focus,
            state.slot,
            state.zoomed,
            state.is_replay(),
        )
    };
    if layout.too_small {
        draw_too_small(frame, area, &state.theme);
        return;
    }
    let drawn = |r: Rect| r.area() > 0;
    if drawn(layout.queue) {
        queue::draw(frame, state, layout.queue);
    }
    if drawn(layout.agents) {
        agents::draw(frame, state, layout.agents);
    }
    if drawn(layout.context) {
        context::draw(frame, state, layout.context);
    }
    if drawn(layout.detail) {
        match layout.slot.unwrap_or(Pane::Detail) {
            Pane::Events => events::draw(frame, state, layout.detail),
            Pane::Patches => patches::draw(frame, state, layout.detail),
            _ => detail::draw(frame, state, layout.detail),
        }
    }
    if drawn(layout.scrubber) {
        status::draw_scrubber(frame, state, layout.scrubber);
    }
    status::draw_status(frame, state, layout.status);
    popups::draw(frame, state, &layout);
    status::draw_hints(frame, state, layout.hints);
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

/// A pane's frame: rounded border, bold title, accent border when focused; `more` is how
/// many items are above and below the visible window (shown on the bottom border).
fn pane_block<'a>(
    state: &AppState,
    pane: Pane,
    title: Vec<Span<'a>>,
    more: (usize, usize),
) -> Block<'a> {
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
    let mut block = Block::bordered()
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Rounded
        })
        .border_style(theme.border(focused))
        .title(Line::from(spans));
    if state.zoomed && focused {
        block = block.title(Line::styled(" zoomed ", theme.dim()).right_aligned());
    }
    let (above, below) = more;
    let mut counts = Vec::new();
    if above > 0 {
        counts.push(format!("↑{above}"));
    }
    if below > 0 {
        counts.push(format!("+{below} more"));
    }
    if !counts.is_empty() {
        block = block.title_bottom(
            Line::styled(format!(" {} ", counts.join(" · ")), theme.dim()).right_aligned(),
        );
    }
    block
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

pub(crate) use crate::story::format_tokens as fmt_tokens;

/// `mm:ss`, or `h:mm:ss` past an hour.
pub(crate) fn fmt_duration(secs: u64) -> String {
    crate::story::format_clock(secs * 1000)
}

/// The run's active time: earlier processes plus this one up to `now` (live), to the
/// current event (replay), or the recorded total once the run is done. It never counts the
/// gap between an interrupted process and its resume, so it never jumps backwards.
pub(crate) fn elapsed_ms(state: &AppState) -> Option<u64> {
    let run = state.run();
    if run.phase == crate::event::Phase::Done && run.totals.elapsed_ms > 0 {
        return Some(run.totals.elapsed_ms);
    }
    let now = if state.engine_gone() {
        run.last_ts.as_deref().and_then(crate::event::parse_ts)?
    } else {
        state.now?
    };
    state.fold.active_ms(now)
}

pub(crate) fn elapsed_secs(state: &AppState) -> Option<u64> {
    elapsed_ms(state).map(|ms| ms / 1000)
}

/// Where an evidence item is: `src/lex.rs:141-150`, `acme.md@1200+80` once resolved.
pub(crate) fn evidence_place(ev: &Evidence) -> String {
    match (&ev.resolved, &ev.lines) {
        (Some(resolved), _) => resolved.clone(),
        (None, Some(lines)) => format!("{}:{lines}", ev.source),
        (None, None) => ev.source.clone(),
    }
}

/// Lines of a text view and its visible height, exactly as drawn (for search).
pub(crate) fn view_lines(state: &AppState, view: View) -> (Vec<Line<'static>>, usize) {
    let layout = state.layout;
    match view {
        View::Detail => {
            let r = layout.rect(Pane::Detail);
            (
                detail::detail_lines(state, usize::from(r.width.saturating_sub(4))),
                usize::from(r.height.saturating_sub(2)),
            )
        }
        View::Patches => {
            let r = layout.rect(Pane::Patches);
            (
                patches::patch_lines(state, usize::from(r.width.saturating_sub(4))),
                usize::from(r.height.saturating_sub(2)),
            )
        }
        View::Help => popups::help_view(state, popup_area(&layout)),
        View::Answer => answer::answer_view(state, popup_area(&layout)),
    }
}

/// Where popups go: the screen above the status bar (and the replay scrubber), which stay
/// visible under any popup.
pub(crate) fn popup_area(layout: &super::layout::AppLayout) -> Rect {
    let bottom = if layout.scrubber.height > 0 {
        layout.scrubber.y
    } else {
        layout.status.y
    };
    let area = layout.area;
    Rect::new(area.x, area.y, area.width, bottom.saturating_sub(area.y))
}

/// Restyle search matches in the visible lines of `view`.
fn highlight_matches(
    state: &AppState,
    view: View,
    lines: Vec<Line<'static>>,
) -> Vec<Line<'static>> {
    match &state.search {
        Some(s) if s.view == view && !s.query.is_empty() => {
            let style = state.theme.search_match();
            lines
                .into_iter()
                .map(|l| super::search::highlight(l, &s.query, style))
                .collect()
        }
        _ => lines,
    }
}

/// Draw scrolled, searchable text into `inner`; returns the scroll actually used (clamped).
fn draw_text(
    frame: &mut Frame,
    state: &AppState,
    view: View,
    lines: Vec<Line<'static>>,
    scroll: usize,
    inner: Rect,
) -> usize {
    let height = usize::from(inner.height);
    let scroll = scroll.min(lines.len().saturating_sub(height));
    let visible: Vec<Line> = lines.into_iter().skip(scroll).take(height).collect();
    let visible = highlight_matches(state, view, visible);
    frame.render_widget(Paragraph::new(visible), inner);
    scroll
}

/// A pane of scrolled, searchable text (the detail, the patches): the frame with the scroll
/// marker and the search in its title, the text a column in from each side, or `empty` when
/// there is no text.
#[allow(clippy::too_many_arguments)]
fn text_pane(
    frame: &mut Frame,
    state: &AppState,
    area: Rect,
    pane: Pane,
    view: View,
    mut title: Vec<Span<'static>>,
    lines: Vec<Line<'static>>,
    scroll: usize,
    empty: &str,
) {
    let theme = &state.theme;
    let height = usize::from(area.height.saturating_sub(2));
    let max_scroll = lines.len().saturating_sub(height);
    let scroll = scroll.min(max_scroll);
    if let Some(marker) = scroll_marker(scroll, max_scroll) {
        title.push(Span::styled(format!("{marker} "), theme.dim()));
    }
    if let Some(s) = state.search.as_ref().filter(|s| s.view == view) {
        title.push(Span::styled(format!("/{} ", s.query), theme.warn()));
    }
    let block = pane_block(state, pane, title, (0, 0));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if lines.is_empty() {
        empty_state(frame, inner, theme, empty);
        return;
    }
    let padded = Rect::new(
        inner.x + 1,
        inner.y,
        inner.width.saturating_sub(2),
        inner.height,
    );
    draw_text(frame, state, view, lines, scroll, padded);
}

/// The first row a list shows so its selection is visible, and how many rows are above and
/// below the window (for the `+N more` count).
fn list_window(
    selected: Option<usize>,
    offset: usize,
    height: usize,
    len: usize,
) -> (usize, (usize, usize)) {
    let first = super::layout::scroll_window(selected.unwrap_or(0), offset, height, len);
    (first, (first, len.saturating_sub(first + height)))
}

/// A list row, in the selection style when it is the selected one.
fn list_row(state: &AppState, line: Line<'static>, selected: bool, pane: Pane) -> Line<'static> {
    if selected {
        line.style(state.theme.selection(state.focus == pane))
    } else {
        line
    }
}

/// `↑↓` markers for a scrolled view's title.
fn scroll_marker(scroll: usize, max_scroll: usize) -> Option<&'static str> {
    let marker = match (scroll > 0, scroll < max_scroll) {
        (true, true) => "↑↓",
        (false, true) => "↓",
        _ => "↑",
    };
    (max_scroll > 0).then_some(marker)
}
