//! User intent, independent of the key or mouse gesture that expressed it.
//!
//! The keymap maps keys onto these (by their snake_case names in TOML), layer by layer;
//! `update` turns them into state changes and engine commands, and the footer and help
//! overlay describe them from the same declarations.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    // Focus and navigation
    FocusNext,
    FocusPrev,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Expand,
    Collapse,
    Filter,
    Copy,
    ToggleGrouping,
    Zoom,
    Search,
    NextMatch,
    PrevMatch,
    OpenEditor,
    ShowEvents,
    ShowPatches,
    EventKind,
    CommandLine,
    // Steering (live runs only)
    TogglePause,
    InjectConstraint,
    Requeue,
    CancelTask,
    AddTask,
    MoreAgents,
    FewerAgents,
    // App
    ShowAnswer,
    Help,
    Quit,
    Suspend,
    // Replay timeline
    StepBack,
    StepForward,
    PrevMark,
    NextMark,
    PlayPause,
    Faster,
    Slower,
    PlayMode,
    JumpStart,
    JumpEnd,
    // Popups
    Close,
    Submit,
    Cancel,
    Confirm,
    NextCited,
    PrevCited,
    OpenCited,
    KillLine,
    Undo,
    Redo,
    Complete,
}

impl Action {
    /// The short label used in the footer.
    pub fn label(self) -> &'static str {
        match self {
            Action::FocusNext => "next pane",
            Action::FocusPrev => "prev pane",
            Action::Up => "up",
            Action::Down => "down",
            Action::PageUp => "page up",
            Action::PageDown => "page down",
            Action::Top => "top",
            Action::Bottom => "bottom",
            Action::Expand => "expand",
            Action::Collapse => "collapse",
            Action::Filter => "filter",
            Action::Copy => "copy",
            Action::ToggleGrouping => "group",
            Action::Zoom => "zoom",
            Action::Search => "search",
            Action::NextMatch => "next match",
            Action::PrevMatch => "prev match",
            Action::OpenEditor => "open file",
            Action::ShowEvents => "events",
            Action::ShowPatches => "patches",
            Action::EventKind => "kind",
            Action::CommandLine => "command",
            Action::TogglePause => "pause",
            Action::InjectConstraint => "constrain",
            Action::Requeue => "requeue",
            Action::CancelTask => "cancel",
            Action::AddTask => "add task",
            Action::MoreAgents => "agents+",
            Action::FewerAgents => "agents-",
            Action::ShowAnswer => "answer",
            Action::Help => "help",
            Action::Quit => "quit",
            Action::Suspend => "suspend",
            Action::StepBack => "step back",
            Action::StepForward => "step",
            Action::PrevMark => "prev task/point",
            Action::NextMark => "next task/point",
            Action::PlayPause => "play",
            Action::Faster => "faster",
            Action::Slower => "slower",
            Action::PlayMode => "real time",
            Action::JumpStart => "start",
            Action::JumpEnd => "end",
            Action::Close => "close",
            Action::Submit => "submit",
            Action::Cancel => "cancel",
            Action::Confirm => "confirm",
            Action::NextCited => "next point",
            Action::PrevCited => "prev point",
            Action::OpenCited => "show point",
            Action::KillLine => "kill line",
            Action::Undo => "undo",
            Action::Redo => "redo",
            Action::Complete => "complete",
        }
    }

    /// The longer description used in the help overlay.
    pub fn description(self) -> &'static str {
        match self {
            Action::FocusNext => "focus the next pane",
            Action::FocusPrev => "focus the previous pane",
            Action::Up => "move up / scroll up",
            Action::Down => "move down / scroll down",
            Action::PageUp => "one page up",
            Action::PageDown => "one page down",
            Action::Top => "first row / top",
            Action::Bottom => "last row / bottom",
            Action::Expand => "expand (point: summary, then evidence) / open in detail",
            Action::Collapse => "collapse / go to parent",
            Action::Filter => "filter the focused list",
            Action::Copy => "copy the selected item (OSC 52); on evidence, that item and its place",
            Action::ToggleGrouping => "group shared context by kind or by task",
            Action::Zoom => "zoom the focused pane to the whole screen, or back",
            Action::Search => "search the text (matches highlighted)",
            Action::NextMatch => "next search match",
            Action::PrevMatch => "previous search match",
            Action::OpenEditor => "open the cited file at the cited line in $EDITOR",
            Action::ShowEvents => "show the events log (retries, errors, budget, ...) or back",
            Action::ShowPatches => "show the verified patches (repo runs with --allow-edit)",
            Action::EventKind => "show only one kind of event (cycles)",
            Action::CommandLine => "command line (:agents 12, :export, :theme light, ...)",
            Action::TogglePause => "pause / resume the run",
            Action::InjectConstraint => "inject a constraint (editor)",
            Action::Requeue => "re-enqueue the selected task (optional note)",
            Action::CancelTask => "cancel the selected task",
            Action::AddTask => "add a task",
            Action::MoreAgents => "one more agent",
            Action::FewerAgents => "one agent fewer",
            Action::ShowAnswer => "show the final answer",
            Action::Help => "this help",
            Action::Quit => "quit (asks while a live run is going)",
            Action::Suspend => "suspend delm to the shell (fg brings it back)",
            Action::StepBack => "one event back",
            Action::StepForward => "one event forward",
            Action::PrevMark => "previous task or point event",
            Action::NextMark => "next task or point event",
            Action::PlayPause => "play / pause the replay",
            Action::Faster => "play faster",
            Action::Slower => "play slower",
            Action::PlayMode => "play in real time (scaled) or at N events per second",
            Action::JumpStart => "jump to the start",
            Action::JumpEnd => "jump to the end",
            Action::Close => "close",
            Action::Submit => "submit",
            Action::Cancel => "cancel",
            Action::Confirm => "confirm",
            Action::NextCited => "select the next cited point",
            Action::PrevCited => "select the previous cited point",
            Action::OpenCited => "show the selected cited point in the shared context",
            Action::KillLine => "delete from the cursor to the start of the line",
            Action::Undo => "undo the last edit",
            Action::Redo => "redo",
            Action::Complete => "complete the command name",
        }
    }

    /// Steering actions change the run and are refused in replay and after the run ended.
    pub fn steers(self) -> bool {
        matches!(
            self,
            Action::TogglePause
                | Action::InjectConstraint
                | Action::Requeue
                | Action::CancelTask
                | Action::AddTask
                | Action::MoreAgents
                | Action::FewerAgents
        )
    }
}
