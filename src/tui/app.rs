//! The UI state: the folded run, the event log, plus everything that is only about looking
//! at it (focus, selections, popups, filters, search, zoom). Engine events come in through
//! [`AppState::apply`], user intent through [`super::update::update`]; drawing reads this and
//! nothing else.
//!
//! It is long because it is the one place the view state lives: the rows of the list panes
//! are derived here, so drawing, keys and the mouse always agree on them.

use super::attention::{Attention, Notify};
use super::context_tree::{ContextTree, NodeId};
use super::fold::UiFold;
use super::keymap::{Keymap, Layer};
use super::layout::{AppLayout, Pane, scroll_window};
use super::log::{EventKind, EventLog, Notable, Related};
use super::replay::Timeline;
use super::search::{Search, View};
use super::source::SourceCache;
use super::stream::StreamBuffers;
use super::theme::Theme;
use crate::engine::board::MAX_AGENTS as ENGINE_MAX_AGENTS;
use crate::engine::{Control, StreamDelta};
use crate::event::{
    AgentStatus, AgentView, Envelope, Event, Evidence, Phase, PointId, RunState, TaskId, TaskState,
    TaskView,
};
use ratatui::layout::Rect;
use ratatui_textarea::TextArea;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

/// What an update asks the outside world to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Steer the engine.
    Engine(Control),
    /// Put `text` on the clipboard (OSC 52); `what` names it for the confirmation message.
    Copy { what: String, text: String },
    /// Open a file in the user's editor, the TUI suspended meanwhile.
    OpenEditor(super::editor::Location),
    /// Write `text` to `path` (`:export`).
    Export { path: PathBuf, text: String },
    /// Stop the process as Ctrl-Z does in a shell (terminal restored first).
    Suspend,
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
    /// The final answer: `scroll` is its first line shown, `selected` the cited point.
    Answer {
        scroll: usize,
        selected: usize,
    },
}

impl Popup {
    /// The keymap layer the popup takes keys through.
    pub fn layer(&self) -> Layer {
        match self {
            Popup::Help { .. } => Layer::Help,
            Popup::Constraint(_) | Popup::AddTask(_) => Layer::Editor,
            Popup::RequeueNote { .. } => Layer::Note,
            Popup::Filter { .. } => Layer::Filter,
            Popup::ConfirmQuit => Layer::Confirm,
            Popup::Answer { .. } => Layer::Answer,
        }
    }
}

/// A one-line prompt in the footer, over everything (a search can run in an open popup).
#[derive(Debug)]
pub struct Prompt {
    pub kind: PromptKind,
    pub input: TextArea<'static>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    /// `/` in a text view.
    Search(View),
    /// `:` commands.
    Command,
}

impl Prompt {
    pub fn layer(&self) -> Layer {
        match self.kind {
            PromptKind::Search(_) => Layer::Search,
            PromptKind::Command => Layer::Command,
        }
    }
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

/// The events pane: its selection (a log position) and its kind filter.
#[derive(Debug, Clone, Default)]
pub struct EventsCursor {
    /// The selected row's log position; `None` follows the newest row.
    pub selected: Option<usize>,
    pub offset: usize,
    pub kind: Option<EventKind>,
}

pub struct AppState {
    pub fold: UiFold,
    /// Every event so far (live), or the whole recording (replay).
    pub log: EventLog,
    pub streams: StreamBuffers,
    pub source: Source,
    pub focus: Pane,
    /// The view in the bottom-right slot: detail, events or patches.
    pub slot: Pane,
    /// Where focus goes back to when the events or patches view closes.
    pub return_focus: Pane,
    /// The focused pane fills the screen.
    pub zoomed: bool,
    /// The list pane whose selection the detail pane shows.
    pub detail_from: Pane,
    pub queue: ListCursor,
    pub agents: ListCursor,
    pub events: EventsCursor,
    pub context: ContextTree,
    pub detail_scroll: usize,
    pub patches_scroll: usize,
    /// Tool outputs in an agent's transcript are shown in full (folded to a line otherwise).
    pub transcript_unfolded: bool,
    detail_subject: Subject,
    /// Filters of the list panes.
    pub filters: BTreeMap<Pane, String>,
    pub search: Option<Search>,
    pub prompt: Option<Prompt>,
    pub popup: Option<Popup>,
    pub flash: Option<Flash>,
    pub keymap: Keymap,
    pub theme: Theme,
    /// Where user themes are found (`:theme NAME`).
    pub config_dir: Option<PathBuf>,
    pub layout: AppLayout,
    /// The clock used for elapsed time and retry countdowns (set by the runner each frame,
    /// fixed in tests; in replay the time of the current event).
    pub now: Option<time::OffsetDateTime>,
    /// A pause or resume sent but not yet confirmed by an event.
    pub(crate) pending_pause: Option<bool>,
    /// An agent count sent but not yet confirmed by an event.
    pub(crate) pending_agents: Option<usize>,
    pub sources: SourceCache,
    pub attention: Attention,
    /// Events were folded since the last [`AppState::refresh`].
    stale: bool,
}

/// Upper bound for `+` and `:agents`: the engine's own limit.
pub const MAX_AGENTS: usize = ENGINE_MAX_AGENTS;

impl AppState {
    /// A state for a live run; events arrive through [`AppState::apply`].
    pub fn live(keymap: Keymap, theme: Theme) -> Self {
        AppState::with_source(Source::Live { engine_gone: false }, keymap, theme)
    }

    /// A read-only state over a recorded session, at its start (see [`AppState::seek`]).
    pub fn replay(events: Vec<Envelope>, keymap: Keymap, theme: Theme) -> Self {
        let log = EventLog::from_events(events);
        let timeline = Timeline::new(log.len());
        let mut state = AppState::with_source(Source::Replay(timeline), keymap, theme);
        state.log = log;
        state.refresh();
        state
    }

    fn with_source(source: Source, keymap: Keymap, theme: Theme) -> Self {
        AppState {
            fold: UiFold::default(),
            log: EventLog::default(),
            streams: StreamBuffers::default(),
            source,
            focus: Pane::Queue,
            slot: Pane::Detail,
            return_focus: Pane::Queue,
            zoomed: false,
            detail_from: Pane::Queue,
            queue: ListCursor::default(),
            agents: ListCursor::default(),
            events: EventsCursor::default(),
            context: ContextTree::default(),
            detail_scroll: 0,
            patches_scroll: 0,
            transcript_unfolded: false,
            detail_subject: Subject::Nothing,
            filters: BTreeMap::new(),
            search: None,
            prompt: None,
            popup: None,
            flash: None,
            keymap,
            theme,
            config_dir: None,
            layout: AppLayout::default(),
            now: None,
            pending_pause: None,
            pending_agents: None,
            sources: SourceCache::default(),
            attention: Attention::new(Notify::Auto),
            stale: false,
        }
    }

    pub fn run(&self) -> &RunState {
        &self.fold.run
    }

    /// The badge over a model that is not a real one (`delm demo`'s, live or replayed).
    /// `narrow` asks for its short form.
    pub fn model_badge(&self, narrow: bool) -> Option<&'static str> {
        let badge = if narrow {
            crate::demo::BADGE_SHORT
        } else {
            crate::demo::BADGE
        };
        crate::demo::is_demo_model(&self.run().model).then_some(badge)
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

    /// How many log events the views show: all of them live, up to the position in replay.
    pub fn log_upto(&self) -> usize {
        match &self.source {
            Source::Replay(t) => t.position(),
            Source::Live { .. } => self.log.len(),
        }
    }

    /// The live engine went away (or the run's log was closed) without more events.
    pub fn engine_gone(&self) -> bool {
        matches!(self.source, Source::Live { engine_gone: true })
    }

    /// True while quitting would leave a live run behind (so `q` asks first).
    pub fn run_in_progress(&self) -> bool {
        matches!(self.source, Source::Live { engine_gone: false })
            && self.run().phase != Phase::Done
    }

    /// The keymap layers keys go through now, top first.
    pub fn layers(&self) -> Vec<Layer> {
        if let Some(prompt) = &self.prompt {
            return vec![prompt.layer()];
        }
        if let Some(popup) = &self.popup {
            return vec![popup.layer()];
        }
        let pane = match self.focus {
            Pane::Queue => Layer::Queue,
            Pane::Agents => Layer::Agents,
            Pane::Context => Layer::Context,
            Pane::Detail => Layer::Detail,
            Pane::Events => Layer::Events,
            Pane::Patches => Layer::Patches,
        };
        if self.is_replay() {
            vec![pane, Layer::Replay, Layer::Global]
        } else {
            vec![pane, Layer::Global]
        }
    }

    /// The layer of the prompt or popup that takes every key, if one is open.
    pub fn popup_layer(&self) -> Option<Layer> {
        match &self.prompt {
            Some(p) => Some(p.layer()),
            None => self.popup.as_ref().map(Popup::layer),
        }
    }

    /// Fold one live engine event. Events already seen (after a resync) are skipped.
    pub fn apply(&mut self, env: &Envelope) {
        if self.fold.run.events_applied > 0 && env.seq <= self.fold.run.last_seq {
            return;
        }
        let was_done = self.run().phase == Phase::Done;
        self.log.push(env.clone(), &self.fold.run);
        self.fold.apply(env);
        match &env.event {
            Event::Paused {} | Event::Resumed {} => self.pending_pause = None,
            Event::AgentsChanged { count } if self.pending_agents == Some(*count) => {
                self.pending_agents = None
            }
            Event::TaskClaimed { agent, .. } | Event::FinaliseStarted { agent } => {
                self.streams.reset(agent)
            }
            Event::LlmCall { agent, .. } => self.streams.end_turn(agent),
            _ => {}
        }
        if !was_done && self.run().phase == Phase::Done && self.popup.is_none() {
            self.popup = Some(Popup::Answer {
                scroll: 0,
                selected: 0,
            });
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

    /// Streamed model text. A judge's verdict streams too; it is not the agent's own words
    /// (the agent row says "verifying P4" meanwhile).
    pub fn push_delta(&mut self, delta: &StreamDelta) {
        let judging = self
            .run()
            .agents
            .get(&delta.agent)
            .is_some_and(|a| a.status == AgentStatus::Verifying);
        if !judging {
            self.streams.push(&delta.agent, &delta.text);
        }
    }

    /// Move the replay to `position` events applied (clamped). Arriving at the end of a
    /// finished run shows its answer, as it did live; `announce` false (opening a replay
    /// where the user left it) does not.
    pub fn seek_to(&mut self, position: usize, announce: bool) {
        let Source::Replay(timeline) = &mut self.source else {
            return;
        };
        let was_done = self.fold.run.phase == Phase::Done;
        timeline.seek(&mut self.fold, self.log.events(), position);
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
        if announce && done && !was_done && self.popup.is_none() {
            self.popup = Some(Popup::Answer {
                scroll: 0,
                selected: 0,
            });
        }
        if !done && matches!(self.popup, Some(Popup::Answer { .. })) {
            self.popup = None;
        }
        self.refresh();
    }

    pub fn seek(&mut self, position: usize) {
        self.seek_to(position, true);
    }

    pub fn resize(&mut self, width: u16, height: u16) {
        self.relayout(Rect::new(0, 0, width, height));
    }

    fn relayout(&mut self, area: Rect) {
        self.layout =
            AppLayout::compute(area, self.focus, self.slot, self.zoomed, self.is_replay());
        self.refresh();
    }

    pub fn set_focus(&mut self, pane: Pane) {
        self.focus = pane;
        if pane.in_slot() {
            self.slot = pane;
        }
        if matches!(
            pane,
            Pane::Queue | Pane::Agents | Pane::Context | Pane::Events
        ) {
            self.detail_from = pane;
        }
        self.relayout(self.layout.area);
    }

    /// Show the events or patches view in the slot, or go back from it.
    pub fn toggle_slot_view(&mut self, view: Pane) {
        if self.slot == view {
            self.slot = Pane::Detail;
            let back = if self.return_focus == view {
                Pane::Queue
            } else {
                self.return_focus
            };
            self.set_focus(back);
        } else {
            if !self.focus.in_slot() {
                self.return_focus = self.focus;
            }
            self.set_focus(view);
        }
    }

    pub fn toggle_zoom(&mut self) {
        self.zoomed = !self.zoomed;
        self.relayout(self.layout.area);
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
        self.filters.get(&pane).map_or("", String::as_str)
    }

    pub fn set_filter(&mut self, pane: Pane, text: String) {
        if text.is_empty() {
            self.filters.remove(&pane);
        } else {
            self.filters.insert(pane, text);
        }
        self.refresh();
    }

    /// Re-derive everything cached from the fold and the view settings.
    pub fn refresh(&mut self) {
        self.stale = false;
        let width = self.layout.inner_width(Pane::Context);
        let filter = self.filter(Pane::Context).to_string();
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
        self.clamp_events();
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

    fn clamp_events(&mut self) {
        let rows: Vec<usize> = self.event_rows().iter().map(|n| n.pos).collect();
        let index = self
            .events
            .selected
            .and_then(|s| rows.iter().position(|p| *p == s));
        if index.is_none() {
            // No selection follows the newest event (the bottom row).
            self.events.selected = None;
        }
        let index = index.unwrap_or(rows.len().saturating_sub(1));
        self.events.offset = scroll_window(
            index,
            self.events.offset,
            self.layout.inner_height(Pane::Events),
            rows.len(),
        );
    }

    /// Tasks in display order: claimed, then queued, then finished; filtered.
    pub fn queue_rows(&self) -> Vec<&TaskView> {
        let filter = self.filter(Pane::Queue).to_lowercase();
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

    /// Agents in natural order (`a2` before `a10`), filtered; agents that left the run are
    /// not listed while it goes on.
    pub fn agent_rows(&self) -> Vec<&AgentView> {
        let filter = self.filter(Pane::Agents).to_lowercase();
        let mut rows: Vec<&AgentView> = super::display::present_agents(self.run())
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

    /// Rows of the events pane: notable events so far, by the kind and text filters.
    pub fn event_rows(&self) -> Vec<&Notable> {
        let filter = self.filter(Pane::Events).to_lowercase();
        self.log
            .notable(self.log_upto())
            .iter()
            .filter(|n| self.events.kind.is_none_or(|k| n.kind == k))
            .filter(|n| {
                filter.is_empty()
                    || n.text.to_lowercase().contains(&filter)
                    || n.kind.label().contains(&filter)
            })
            .collect()
    }

    /// The selected row of the events pane (the newest when following).
    pub fn selected_event(&self) -> Option<&Notable> {
        let rows = self.event_rows();
        match self.events.selected {
            Some(pos) => rows.into_iter().find(|n| n.pos == pos),
            None => rows.last().copied(),
        }
    }

    /// Rows per agent card: a header, plus streamed lines when any agent has some (at most
    /// three), as many as fit.
    pub fn agent_card_height(&self) -> usize {
        let count = self.agent_rows().len().max(1);
        let height = self.layout.inner_height(Pane::Agents);
        let any_text = self.agent_rows().iter().any(|a| {
            self.streams.get(&a.id).is_some_and(|b| !b.is_empty())
                || self
                    .fold
                    .activity
                    .get(&a.id)
                    .is_some_and(|x| x.last_text.is_some())
        });
        if !any_text {
            return 1;
        }
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

    pub fn detail_shows_agent(&self) -> bool {
        matches!(self.detail_subject, Subject::Agent(_))
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
            Pane::Context => match self.context.selected_point() {
                Some(p) => Subject::Point(p.to_string()),
                None => Subject::Nothing,
            },
            Pane::Events => {
                let row = self.selected_event();
                match row.and_then(|n| n.subject.clone()) {
                    Some(Related::Task(t)) => Subject::Task(t),
                    Some(Related::Point(p)) => Subject::Point(p),
                    Some(Related::Agent(a)) => Subject::Agent(a),
                    None => Subject::Nothing,
                }
            }
            _ => Subject::Nothing,
        }
    }

    /// The evidence item the user is on: the one selected in the tree when it belongs to the
    /// detail's point, else the point's first item that cites a place.
    pub fn selected_evidence(&self) -> Option<(usize, &Evidence)> {
        let Subject::Point(id) = &self.detail_subject else {
            return None;
        };
        let point = self.run().point(id)?;
        if let Some(NodeId::Evidence(p, n)) = self.context.selected()
            && p == id
            && let Some(ev) = point.point.evidence.get(*n)
        {
            return Some((*n, ev));
        }
        point
            .point
            .evidence
            .iter()
            .enumerate()
            .find(|(_, ev)| super::source::cites_a_place(ev))
    }

    /// Read the source lines the detail pane needs; the one piece of I/O the UI does, kept
    /// out of `draw`.
    pub fn load_sources(&mut self) {
        let Subject::Point(id) = &self.detail_subject else {
            return;
        };
        let Some(point) = self.fold.run.point(id) else {
            return;
        };
        let evidence = point.point.evidence.clone();
        let mode = self.fold.run.mode.clone();
        for ev in &evidence {
            self.sources.load(&mode, ev);
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
