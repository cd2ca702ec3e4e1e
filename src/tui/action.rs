//! User intent, independent of the key or mouse gesture that expressed it.
//!
//! The keymap maps keys onto these (by their snake_case names in TOML), `update` turns them
//! into state changes and engine commands, and the footer and help overlay describe them.

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
    // Replay timeline
    StepBack,
    StepForward,
    PrevMark,
    NextMark,
    PlayPause,
    Faster,
    Slower,
    JumpStart,
    JumpEnd,
}

impl Action {
    pub const ALL: &'static [Action] = &[
        Action::FocusNext,
        Action::FocusPrev,
        Action::Up,
        Action::Down,
        Action::PageUp,
        Action::PageDown,
        Action::Top,
        Action::Bottom,
        Action::Expand,
        Action::Collapse,
        Action::Filter,
        Action::Copy,
        Action::ToggleGrouping,
        Action::TogglePause,
        Action::InjectConstraint,
        Action::Requeue,
        Action::CancelTask,
        Action::AddTask,
        Action::MoreAgents,
        Action::FewerAgents,
        Action::ShowAnswer,
        Action::Help,
        Action::Quit,
        Action::StepBack,
        Action::StepForward,
        Action::PrevMark,
        Action::NextMark,
        Action::PlayPause,
        Action::Faster,
        Action::Slower,
        Action::JumpStart,
        Action::JumpEnd,
    ];

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
            Action::StepBack => "step back",
            Action::StepForward => "step",
            Action::PrevMark => "prev task/point",
            Action::NextMark => "next task/point",
            Action::PlayPause => "play",
            Action::Faster => "faster",
            Action::Slower => "slower",
            Action::JumpStart => "start",
            Action::JumpEnd => "end",
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
            Action::Top => "first row",
            Action::Bottom => "last row",
            Action::Expand => "expand (point: summary, then evidence) / open in detail",
            Action::Collapse => "collapse / go to parent",
            Action::Filter => "filter the focused pane",
            Action::Copy => "copy the selected item (OSC 52)",
            Action::ToggleGrouping => "group shared context by kind or by task",
            Action::TogglePause => "pause / resume the run",
            Action::InjectConstraint => "inject a constraint (editor, Ctrl-S submits)",
            Action::Requeue => "re-enqueue the selected task (optional note)",
            Action::CancelTask => "cancel the selected task",
            Action::AddTask => "add a task",
            Action::MoreAgents => "one more agent",
            Action::FewerAgents => "one agent fewer",
            Action::ShowAnswer => "show the final answer",
            Action::Help => "this help",
            Action::Quit => "quit (asks while a live run is going)",
            Action::StepBack => "one event back",
            Action::StepForward => "one event forward",
            Action::PrevMark => "previous task or point event",
            Action::NextMark => "next task or point event",
            Action::PlayPause => "play / pause the replay",
            Action::Faster => "play faster",
            Action::Slower => "play slower",
            Action::JumpStart => "jump to the start",
            Action::JumpEnd => "jump to the end",
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
