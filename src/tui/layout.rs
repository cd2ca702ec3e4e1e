//! Where each pane goes: side by side on wide terminals, stacked on narrow ones (the focused
//! pane gets the most room, the others keep a useful minimum), the focused pane alone when
//! zoomed, and a plain message below the minimum size.
//!
//! The bottom-right slot shows one of three views (detail, events, patches); they share a
//! rect and only the chosen one is drawn and hit-tested. The same function serves drawing
//! and mouse hit-testing, so clicks land where things are.

use ratatui::layout::{Constraint, Layout, Rect};

pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;
/// From this width on, panes sit side by side.
pub const WIDE_FROM: u16 = 100;
/// Rows an unfocused pane keeps in the stacked layout (border included): two rows of content.
const MIN_STACKED_ROWS: u16 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pane {
    Queue,
    Agents,
    Context,
    /// The selected point, task or agent (transcript) in full.
    Detail,
    /// The log of notable events (retries, errors, budget, constraints, requeues, joins).
    Events,
    /// Verified patches of a repo run.
    Patches,
}

impl Pane {
    /// The panes that always have a place, in focus order; the slot view comes last.
    pub const FIXED: [Pane; 3] = [Pane::Queue, Pane::Agents, Pane::Context];

    pub fn name(self) -> &'static str {
        match self {
            Pane::Queue => "Queue",
            Pane::Agents => "Agents",
            Pane::Context => "Shared context",
            Pane::Detail => "Detail",
            Pane::Events => "Events",
            Pane::Patches => "Patches",
        }
    }

    /// Whether this pane lives in the bottom-right slot.
    pub fn in_slot(self) -> bool {
        matches!(self, Pane::Detail | Pane::Events | Pane::Patches)
    }

    /// The next pane in focus order when `slot` is the slot's view.
    pub fn next(self, slot: Pane) -> Pane {
        match self {
            Pane::Queue => Pane::Agents,
            Pane::Agents => Pane::Context,
            Pane::Context => slot,
            _ => Pane::Queue,
        }
    }

    pub fn prev(self, slot: Pane) -> Pane {
        match self {
            Pane::Queue => slot,
            Pane::Agents => Pane::Queue,
            Pane::Context => Pane::Agents,
            _ => Pane::Context,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AppLayout {
    pub area: Rect,
    pub queue: Rect,
    pub agents: Rect,
    pub context: Rect,
    /// The slot of the detail, events and patches views.
    pub detail: Rect,
    /// The replay scrubber (zero height when not replaying).
    pub scrubber: Rect,
    pub status: Rect,
    pub hints: Rect,
    /// The view shown in the slot.
    pub slot: Option<Pane>,
    /// Set when the terminal is below the minimum size.
    pub too_small: bool,
}

impl AppLayout {
    pub fn compute(area: Rect, focus: Pane, slot: Pane, zoomed: bool, replay: bool) -> AppLayout {
        if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
            return AppLayout {
                area,
                too_small: true,
                ..AppLayout::default()
            };
        }
        let [body, scrubber, status, hints] = Layout::vertical([
            Constraint::Fill(1),
            Constraint::Length(u16::from(replay)),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(area);
        let mut layout = AppLayout {
            area,
            scrubber,
            status,
            hints,
            slot: Some(slot),
            ..AppLayout::default()
        };
        if zoomed {
            match focus {
                Pane::Queue => layout.queue = body,
                Pane::Agents => layout.agents = body,
                Pane::Context => layout.context = body,
                _ => layout.detail = body,
            }
            return layout;
        }
        if area.width >= WIDE_FROM {
            let top_height = (body.height * 2 / 5).max(7);
            let [top, bottom] =
                Layout::vertical([Constraint::Length(top_height), Constraint::Fill(1)]).areas(body);
            [layout.queue, layout.agents] =
                Layout::horizontal([Constraint::Percentage(42), Constraint::Percentage(58)])
                    .areas(top);
            [layout.context, layout.detail] =
                Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)])
                    .areas(bottom);
        } else {
            let others = (body.height / 6).clamp(MIN_STACKED_ROWS, 8);
            let focus_slot = if focus.in_slot() { Pane::Detail } else { focus };
            let rows = [Pane::Queue, Pane::Agents, Pane::Context, Pane::Detail].map(|p| {
                if p == focus_slot {
                    Constraint::Fill(1)
                } else {
                    Constraint::Length(others)
                }
            });
            [layout.queue, layout.agents, layout.context, layout.detail] =
                Layout::vertical(rows).areas(body);
        }
        layout
    }

    pub fn rect(&self, pane: Pane) -> Rect {
        match pane {
            Pane::Queue => self.queue,
            Pane::Agents => self.agents,
            Pane::Context => self.context,
            slot if Some(slot) == self.slot => self.detail,
            _ => Rect::default(),
        }
    }

    /// The pane under a terminal cell.
    pub fn pane_at(&self, column: u16, row: u16) -> Option<Pane> {
        let slot = self.slot?;
        [Pane::Queue, Pane::Agents, Pane::Context, slot]
            .into_iter()
            .find(|p| {
                let r = self.rect(*p);
                r.area() > 0
                    && column >= r.x
                    && column < r.right()
                    && row >= r.y
                    && row < r.bottom()
            })
    }

    /// Rows available inside a pane's border.
    pub fn inner_height(&self, pane: Pane) -> usize {
        usize::from(self.rect(pane).height.saturating_sub(2))
    }

    pub fn inner_width(&self, pane: Pane) -> u16 {
        self.rect(pane).width.saturating_sub(2)
    }
}

/// The first row to show so that `selected` is visible, keeping `offset` when possible.
pub fn scroll_window(selected: usize, offset: usize, height: usize, len: usize) -> usize {
    if height == 0 || len <= height {
        return 0;
    }
    let offset = offset.min(len - height);
    if selected < offset {
        selected
    } else if selected >= offset + height {
        selected + 1 - height
    } else {
        offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(w: u16, h: u16, focus: Pane) -> AppLayout {
        AppLayout::compute(Rect::new(0, 0, w, h), focus, Pane::Detail, false, false)
    }

    #[test]
    fn wide_is_side_by_side_and_narrow_is_stacked() {
        let wide = at(120, 40, Pane::Queue);
        assert_eq!(wide.queue.y, wide.agents.y);
        assert!(wide.queue.right() <= wide.agents.x);
        let narrow = at(80, 24, Pane::Context);
        assert_eq!(narrow.queue.x, narrow.context.x);
        assert!(narrow.context.height > narrow.queue.height);
        assert!(at(50, 10, Pane::Queue).too_small);
    }

    #[test]
    fn stacked_panes_keep_two_rows_of_content_at_80x24() {
        for focus in [Pane::Queue, Pane::Agents, Pane::Context, Pane::Events] {
            let l = at(80, 24, focus);
            for pane in Pane::FIXED {
                assert!(l.inner_height(pane) >= 2, "{pane:?} with {focus:?} focused");
            }
            assert!(l.detail.height >= MIN_STACKED_ROWS);
        }
    }

    #[test]
    fn zoom_gives_the_focused_pane_the_whole_body() {
        let l = AppLayout::compute(
            Rect::new(0, 0, 80, 24),
            Pane::Agents,
            Pane::Detail,
            true,
            false,
        );
        assert_eq!(l.agents.height, 22);
        assert_eq!(l.queue.area(), 0);
        assert_eq!(l.pane_at(3, 3), Some(Pane::Agents));
        let replay = AppLayout::compute(
            Rect::new(0, 0, 80, 24),
            Pane::Queue,
            Pane::Events,
            false,
            true,
        );
        assert_eq!(replay.scrubber.height, 1);
        assert_eq!(replay.rect(Pane::Events), replay.detail);
        assert_eq!(replay.rect(Pane::Detail).area(), 0);
    }

    #[test]
    fn scroll_window_follows_the_selection() {
        assert_eq!(scroll_window(0, 0, 5, 3), 0);
        assert_eq!(scroll_window(7, 0, 5, 20), 3);
        assert_eq!(scroll_window(2, 3, 5, 20), 2);
        assert_eq!(scroll_window(4, 3, 5, 20), 3);
    }
}
