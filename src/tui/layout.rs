//! Where each pane goes: side by side on wide terminals, stacked on narrow ones (the focused
//! pane gets the most room), and a plain message below the minimum size.
//!
//! The same function serves drawing and mouse hit-testing, so clicks land where things are.

use ratatui::layout::{Constraint, Layout, Rect};

pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;
/// From this width on, panes sit side by side.
pub const WIDE_FROM: u16 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pane {
    Queue,
    Agents,
    Context,
    Detail,
}

impl Pane {
    pub const ALL: [Pane; 4] = [Pane::Queue, Pane::Agents, Pane::Context, Pane::Detail];

    pub fn next(self) -> Pane {
        Pane::ALL[(self as usize + 1) % 4]
    }

    pub fn prev(self) -> Pane {
        Pane::ALL[(self as usize + 3) % 4]
    }

    pub fn name(self) -> &'static str {
        match self {
            Pane::Queue => "Queue",
            Pane::Agents => "Agents",
            Pane::Context => "Shared context",
            Pane::Detail => "Detail",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AppLayout {
    pub area: Rect,
    pub queue: Rect,
    pub agents: Rect,
    pub context: Rect,
    pub detail: Rect,
    pub status: Rect,
    pub hints: Rect,
    /// Set when the terminal is below the minimum size.
    pub too_small: bool,
}

impl AppLayout {
    pub fn compute(area: Rect, focus: Pane) -> AppLayout {
        if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
            return AppLayout {
                area,
                too_small: true,
                ..AppLayout::default()
            };
        }
        let [body, status, hints] = Layout::vertical([
            Constraint::Fill(1),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(area);
        let (queue, agents, context, detail) = if area.width >= WIDE_FROM {
            let top_height = (body.height * 2 / 5).max(7);
            let [top, bottom] =
                Layout::vertical([Constraint::Length(top_height), Constraint::Fill(1)]).areas(body);
            let [queue, agents] =
                Layout::horizontal([Constraint::Percentage(42), Constraint::Percentage(58)])
                    .areas(top);
            let [context, detail] =
                Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)])
                    .areas(bottom);
            (queue, agents, context, detail)
        } else {
            let weight = |p: Pane| if p == focus { 3 } else { 1 };
            let [queue, agents, context, detail] =
                Layout::vertical(Pane::ALL.map(|p| Constraint::Fill(weight(p)))).areas(body);
            (queue, agents, context, detail)
        };
        AppLayout {
            area,
            queue,
            agents,
            context,
            detail,
            status,
            hints,
            too_small: false,
        }
    }

    pub fn rect(&self, pane: Pane) -> Rect {
        match pane {
            Pane::Queue => self.queue,
            Pane::Agents => self.agents,
            Pane::Context => self.context,
            Pane::Detail => self.detail,
        }
    }

    /// The pane under a terminal cell.
    pub fn pane_at(&self, column: u16, row: u16) -> Option<Pane> {
        Pane::ALL.into_iter().find(|p| {
            let r = self.rect(*p);
            column >= r.x && column < r.right() && row >= r.y && row < r.bottom()
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

    #[test]
    fn wide_is_side_by_side_and_narrow_is_stacked() {
        let wide = AppLayout::compute(Rect::new(0, 0, 120, 40), Pane::Queue);
        assert_eq!(wide.queue.y, wide.agents.y);
        assert!(wide.queue.right() <= wide.agents.x);
        let narrow = AppLayout::compute(Rect::new(0, 0, 80, 24), Pane::Context);
        assert_eq!(narrow.queue.x, narrow.context.x);
        assert!(narrow.context.height > narrow.queue.height);
        assert!(AppLayout::compute(Rect::new(0, 0, 50, 10), Pane::Queue).too_small);
    }

    #[test]
    fn scroll_window_follows_the_selection() {
        assert_eq!(scroll_window(0, 0, 5, 3), 0);
        assert_eq!(scroll_window(7, 0, 5, 20), 3);
        assert_eq!(scroll_window(2, 3, 5, 20), 2);
        assert_eq!(scroll_window(4, 3, 5, 20), 3);
    }
}
