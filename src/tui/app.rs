//! The UI state: the folded run plus everything that is only about looking at it (focus,
//! selections, popups, filters). Engine events come in through [`AppState::apply`], user
//! intent through [`super::update::update`]; drawing reads this and nothing else.

use super::context_tree::ContextTree;
use super::fold::UiFold;
use super::keymap::Keymap;
use super::layout::{AppLayout, Pane, scroll_window};
use super::replay::Timeline;
use super::source::SourceCache;
use super::stream::StreamBuffers;
use super::theme::Theme;
use crate::engine::{Control, StreamDelta};
use crate::event::{
    AgentView, Envelope, Event, Mode, Phase, PointId, RunState, TaskId, TaskState, TaskView,
};
use ratatui::layout::Rect;
use ratatui_textarea::TextArea;
use std::path::Path;
use std::time::Instant;

/// What an update asks the outside world to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Steer the engine.
    Engine(Control),
    /// Put `text` on the clipboard (OSC 52); `what` names it for the confirmation message.
    Copy { what: String, text: String },
    /// Leave the TUI.
    Quit,
}

/// Where the events come from.
#[derive(Debug)]
pub enum Source {
    /// A running engine; `engine_gone` once its event channel closed.
    Live { engine_gone: bool },
    /// A recorded session, read-only.
    Replay(Timeline),
}

/// A modal layer over the panes; it receives keys before anything else.
#[derive(Debug)]
pub enum Popup {
    Help {
        scroll: usize,
    },
    Constraint(TextArea<'static>),
    RequeueNote {
        task: TaskId,
        input: TextArea<'static>,
    },
    AddTask(TextArea<'static>),
    Filter {
        pane: Pane,
        input: TextArea<'static>,
    },
    ConfirmQuit,
    Answer {
        selected: usize,
    },
}

/// A one-line message in the footer that disappears after a few seconds.
#[derive(Debug, Clone)]
pub struct Flash {
    pub text: String,
    pub is_error: bool,
    pub since: Instant,
}

/// Selection and scroll of a plain list pane, kept by item id so it survives reordering.
#[derive(Debug, Clone, Default)]
pub struct ListCursor {
    pub selected: Option<String>,
    pub offset: usize,
}

/// What the detail pane shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Nothing,
    Task(TaskId),
    Agent(String),
    Point(PointId),
}

pub struct AppState {
    pub fold: UiFold,
    pub streams: StreamBuffers,
    pub source: Source,
    pub focus: Pane,
    /// The list pane whose selection the detail pane shows.
    pub detail_from: Pane,
    pub queue: ListCursor,
    pub agents: ListCursor,
    pub context: ContextTree,
    pub detail_scroll: usize,
    detail_subject: Subject,
    /// Filters of the queue, agents and context panes.
    pub filters: [String; 3],
    pub popup: Option<Popup>,
    pub flash: Option<Flash>,
    pub keymap: Keymap,
    pub theme: Theme,
    pub layout: AppLayout,
    /// The clock used for elapsed time and retry countdowns (set by the runner each frame,
    /// fixed in tests; in replay the time of the current event).
    pub now: Option<time::OffsetDateTime>,
    /// A pause or resume sent but not yet confirmed by an event.
    pub(crate) pending_pause: Option<bool>,
    /// An agent count sent but not yet confirmed by an event.
    pub(crate) pending_agents: Option<usize>,
    pub sources: SourceCache,
    /// Events were folded since the last [`AppState::refresh`].
    stale: bool,
}

/// Upper bound for `+`: more agents than this is almost certainly a slip of the finger.
pub const MAX_AGENTS: usize = 64;

impl AppState {
    /// A state for a live run; events arrive through [`AppState::apply`].
    pub fn live(keymap: Keymap, theme: Theme) -> Self {
        AppState::with_source(Source::Live { engine_gone: false }, keymap, theme)
    }

    /// A read-only state over a recorded session, positioned at its end.
    pub fn replay(events: Vec<Envelope>, keymap: Keymap, theme: Theme) -> Self {
        let mut state = AppState::with_source(Source::Replay(Timeline::new(events)), keymap, theme);
        state.seek(usize::MAX);
        state
    }

    fn with_source(source: Source, keymap: Keymap, theme: Theme) -> Self {
        AppState {
            fold: UiFold::default(),
            streams: StreamBuffers::default(),
            source,
            focus: Pane::Queue,
            detail_from: Pane::Queue,
            queue: ListCursor::default(),
            agents: ListCursor::default(),
            context: ContextTree::default(),
            detail_scroll: 0,
            detail_subject: Subject::Nothing,
            filters: Default::default(),
            popup: None,
            flash: None,
            keymap,
            theme,
            layout: AppLayout::default(),
            now: None,
            pending_pause: None,
            pending_agents: None,
            sources: SourceCache::default(),
            stale: false,
        }
    }

    pub fn run(&self) -> &RunState {
        &self.fold.run
    }

    pub fn is_replay(&self) -> bool {
        matches!(self.source, Source::Replay(_))
    }

    pub fn timeline(&self) -> Option<&Timeline> {
        match &self.source {
            Source::Replay(t) => Some(t),
            Source::Live { .. } => None,
        }
    }

    /// True while quitting would leave a live run behind (so `q` asks first).
    pub fn run_in_progress(&self) -> bool {
        matches!(self.source, Source::Live { engine_gone: false })
            && self.run().phase != Phase::Done
    }

    /// Fold one live engine event. Events already seen (after a resync) are skipped.
    pub fn apply(&mut self, env: &Envelope) {
        if self.fold.run.events_applied > 0 && env.seq <= self.fold.run.last_seq {
            return;
        }
        let was_done = self.run().phase == Phase::Done;
        self.fold.apply(env);
        match &env.event {
            Event::Paused {} | Event::Resumed {} => self.pending_pause = None,
            Event::AgentsChanged { count } if self.pending_agents == Some(*count) => {
                self.pending_agents = None
            }
            Event::TaskClaimed { agent, .. } => self.streams.reset(agent),
            _ => {}
        }
        if !was_done && self.run().phase == Phase::Done && self.popup.is_none() {
            self.popup = Some(Popup::Answer { selected: 0 });
        }
        // Derived views are rebuilt once per frame or input, not once per event: a resync
        // after lag can fold thousands of events in a row.
        self.stale = true;
    }

    /// Rebuild derived views if events arrived since the last rebuild.
    pub fn refresh_if_stale(&mut self) {
        if self.stale {
            self.refresh();
        }
    }

    /// The engine's event stream ended (the run is over or the engine went away).
    pub fn engine_closed(&mut self) {
        if let Source::Live { engine_gone } = &mut self.source {
            *engine_gone = true;
        }
    }

    pub fn push_delta(&mut self, delta: &StreamDelta) {
        self.streams.push(&delta.agent, &delta.text);
    }

    /// Move the replay to `position` events applied (clamped).
    pub fn seek(&mut self, position: usize) {
        let Source::Replay(timeline) = &mut self.source else {
            return;
        };
        let was_done = self.fold.run.phase == Phase::Done;
        timeline.seek(&mut self.fold, position);
        if timeline.at_end() {
            timeline.playing = false;
        }
        self.now = self
            .fold
            .run
            .last_ts
            .as_deref()
            .and_then(crate::event::parse_ts);
        let done = self.fold.run.phase == Phase::Done;
        if done && !was_done && self.popup.is_none() && timeline.position() > 0 {
            // Arriving at the end of a finished run shows its answer, as it did live.
            self.popup = Some(Popup::Answer { selected: 0 });
        }
        if !done && matches!(self.popup, Some(Popup::Answer { .. })) {
            self.popup = None;
        }
        self.refresh();
    }

    pub fn resize(&mut self, width: u16, height: u16) {
        self.layout = AppLayout::compute(Rect::new(0, 0, width, height), self.focus);
        self.refresh();
    }

    pub fn set_focus(&mut self, pane: Pane) {
        self.focus = pane;
        if pane != Pane::Detail {
            self.detail_from = pane;
        }
        self.layout = AppLayout::compute(self.layout.area, pane);
        self.refresh();
    }

    pub fn flash(&mut self, text: impl Into<String>) {
        self.flash = Some(Flash {
            text: text.into(),
            is_error: false,
            since: Instant::now(),
        });
    }

    pub fn flash_error(&mut self, text: impl Into<String>) {
        self.flash = Some(Flash {
            text: text.into(),
            is_error: true,
            since: Instant::now(),
        });
    }

    pub fn filter(&self, pane: Pane) -> &str {
        match pane {
            Pane::Queue => &self.filters[0],
            Pane::Agents => &self.filters[1],
            Pane::Context => &self.filters[2],
            Pane::Detail => "",
        }
    }

    pub fn set_filter(&mut self, pane: Pane, text: String) {
        let slot = match pane {
            Pane::Queue => 0,
            Pane::Agents => 1,
            Pane::Context => 2,
            Pane::Detail => return,
        };
        self.filters[slot] = text;
        self.refresh();
    }

    /// Re-derive everything cached from the fold and the view settings.
    pub fn refresh(&mut self) {
        self.stale = false;
        let width = self.layout.inner_width(Pane::Context);
        let filter = self.filters[2].clone();
        self.context
            .refresh(&self.fold.run, self.fold.points_version, &filter, width);
        self.context.offset = scroll_window(
            self.context.selected_index().unwrap_or(0),
            self.context.offset,
            self.layout.inner_height(Pane::Context),
            self.context.rows().len(),
        );
        self.clamp_list(Pane::Queue);
        self.clamp_list(Pane::Agents);
        let subject = self.compute_subject();
        if subject != self.detail_subject {
            self.detail_subject = subject;
            self.detail_scroll = 0;
        }
    }

    fn clamp_list(&mut self, pane: Pane) {
        let ids: Vec<String> = match pane {
            Pane::Queue => self.queue_rows().iter().map(|t| t.id.clone()).collect(),
            Pane::Agents => self.agent_rows().iter().map(|a| a.id.clone()).collect(),
            _ => return,
        };
        let height = match pane {
            Pane::Agents => self.layout.inner_height(pane) / self.agent_card_height().max(1),
            _ => self.layout.inner_height(pane),
        };
        let cursor = match pane {
            Pane::Queue => &mut self.queue,
            _ => &mut self.agents,
        };
        let index = cursor
            .selected
            .as_ref()
            .and_then(|s| ids.iter().position(|id| id == s));
        if index.is_none() {
            cursor.selected = ids.first().cloned();
        }
        cursor.offset = scroll_window(index.unwrap_or(0), cursor.offset, height, ids.len());
    }

    /// Tasks in display order: claimed, then queued, then finished; filtered.
    pub fn queue_rows(&self) -> Vec<&TaskView> {
        let filter = self.filters[0].to_lowercase();
        let rank = |t: &TaskView| match t.state {
            TaskState::Claimed { .. } => 0,
            TaskState::Queued => 1,
            _ => 2,
        };
        let mut rows: Vec<&TaskView> = self
            .run()
            .tasks
            .iter()
            .filter(|t| {
                filter.is_empty()
                    || t.id.to_lowercase().contains(&filter)
                    || t.title.to_lowercase().contains(&filter)
            })
            .collect();
        rows.sort_by_key(|t| rank(t));
        rows
    }

    /// Agents in natural order (`a2` before `a10`), filtered.
    pub fn agent_rows(&self) -> Vec<&AgentView> {
        let filter = self.filters[1].to_lowercase();
        let mut rows: Vec<&AgentView> = self
            .run()
            .agents
            .values()
            .filter(|a| {
                filter.is_empty()
                    || a.id.to_lowercase().contains(&filter)
                    || a.task
                        .as_deref()
                        .is_some_and(|t| t.to_lowercase().contains(&filter))
            })
            .collect();
        rows.sort_by(|a, b| (a.id.len(), &a.id).cmp(&(b.id.len(), &b.id)));
        rows
    }

    /// Rows per agent card: a header plus as many streamed lines as fit (at most 3).
    pub fn agent_card_height(&self) -> usize {
        let count = self.agent_rows().len().max(1);
        let height = self.layout.inner_height(Pane::Agents);
        (height / count).clamp(1, 4)
    }

    pub fn selected_task(&self) -> Option<&TaskView> {
        self.queue
            .selected
            .as_deref()
            .and_then(|id| self.run().task(id))
    }

    pub fn selected_agent(&self) -> Option<&AgentView> {
        self.agents
            .selected
            .as_deref()
            .and_then(|id| self.run().agents.get(id))
    }

    pub fn detail_subject(&self) -> &Subject {
        &self.detail_subject
    }

    fn compute_subject(&self) -> Subject {
        match self.detail_from {
            Pane::Queue => self
                .queue
                .selected
                .clone()
                .map_or(Subject::Nothing, Subject::Task),
            Pane::Agents => self
                .agents
                .selected
                .clone()
                .map_or(Subject::Nothing, Subject::Agent),
            Pane::Context => match self.context.selected() {
                Some(node) => match node.point() {
                    Some(p) => Subject::Point(p.to_string()),
                    None => Subject::Nothing,
                },
                None => Subject::Nothing,
            },
            Pane::Detail => Subject::Nothing,
        }
    }

    /// Read the source lines the detail pane needs (repo mode only); the one piece of I/O
    /// the UI does, kept out of `draw`.
    pub fn load_sources(&mut self) {
        let Mode::Repo { root } = &self.fold.run.mode else {
            return;
        };
        let Subject::Point(id) = &self.detail_subject else {
            return;
        };
        let Some(point) = self.fold.run.point(id) else {
            return;
        };
        let root = Path::new(root);
        for ev in &point.point.evidence {
            if let Some(lines) = &ev.lines
                && !ev.source.starts_with("cmd:")
            {
                self.sources.load(root, &ev.source, lines);
            }
        }
    }

    /// Why steering is refused right now, if it is.
    pub fn steering_refusal(&self) -> Option<&'static str> {
        match &self.source {
            Source::Replay(_) => Some("replay is read-only; `delm resume FILE` continues a run"),
            Source::Live { engine_gone: true } => Some("the engine has stopped; nothing to steer"),
            Source::Live { .. } if self.run().phase == Phase::Done => {
                Some("the run has finished; nothing to steer")
            }
            Source::Live { .. } => None,
        }
    }

    /// Whether the run counts as paused for the `p` toggle (including a sent, unconfirmed
    /// pause or resume).
    pub fn pause_requested(&self) -> bool {
        self.pending_pause.unwrap_or(self.run().paused)
    }

    /// The agent count the next `+`/`-` starts from.
    pub fn target_agents(&self) -> usize {
        self.pending_agents.unwrap_or(self.run().desired_agents)
    }
}
