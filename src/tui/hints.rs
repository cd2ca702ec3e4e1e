//! What each component offers, declared once. The footer and the `?` overlay are generated
//! from these declarations and the keymap, so the hints can never drift from the bindings.

use super::action::Action;
use super::app::{AppState, Popup};
use super::keymap::{KeyBinding, Layer};
use super::layout::Pane;
use crate::event::Phase;

/// Actions a pane offers, most useful first (the footer shows as many as fit).
pub fn pane_actions(pane: Pane) -> &'static [Action] {
    match pane {
        Pane::Queue => &[
            Action::Requeue,
            Action::CancelTask,
            Action::AddTask,
            Action::Filter,
            Action::Copy,
        ],
        Pane::Agents => &[
            Action::MoreAgents,
            Action::FewerAgents,
            Action::Expand,
            Action::Filter,
            Action::Copy,
        ],
        Pane::Context => &[
            Action::Expand,
            Action::Collapse,
            Action::ToggleGrouping,
            Action::Filter,
            Action::Copy,
        ],
        Pane::Detail => &[Action::Down, Action::Up, Action::Collapse, Action::Copy],
    }
}

/// Actions offered everywhere, shown after the pane's own.
const APP_ACTIONS: &[Action] = &[
    Action::TogglePause,
    Action::InjectConstraint,
    Action::FocusNext,
    Action::Help,
    Action::Quit,
];

const REPLAY_ACTIONS: &[Action] = &[
    Action::PlayPause,
    Action::StepForward,
    Action::StepBack,
    Action::NextMark,
    Action::PrevMark,
    Action::Faster,
    Action::FocusNext,
    Action::Help,
    Action::Quit,
];

/// A fixed key a popup handles itself (text editing needs all other keys).
pub struct PopupKey {
    pub keys: &'static str,
    pub label: &'static str,
}

const fn pk(keys: &'static str, label: &'static str) -> PopupKey {
    PopupKey { keys, label }
}

pub const EDITOR_KEYS: &[PopupKey] = &[pk("C-s", "submit"), pk("Esc", "cancel")];
pub const PROMPT_KEYS: &[PopupKey] = &[pk("Enter", "send"), pk("Esc", "cancel")];
pub const FILTER_KEYS: &[PopupKey] = &[pk("Enter", "keep filter"), pk("Esc", "clear")];
pub const CONFIRM_KEYS: &[PopupKey] = &[pk("y", "quit"), pk("n/Esc", "stay")];
pub const ANSWER_KEYS: &[PopupKey] = &[
    pk("↑↓", "select point"),
    pk("Enter", "show in context"),
    pk("y", "copy answer"),
    pk("Esc", "close"),
];
pub const HELP_KEYS: &[PopupKey] = &[pk("↑↓ PgUp PgDn", "scroll"), pk("Esc/?", "close")];

/// The fixed keys of the open popup, if any.
pub fn popup_keys(popup: &Popup) -> &'static [PopupKey] {
    match popup {
        Popup::Help { .. } => HELP_KEYS,
        Popup::Constraint(_) | Popup::AddTask(_) => EDITOR_KEYS,
        Popup::RequeueNote { .. } => PROMPT_KEYS,
        Popup::Filter { .. } => FILTER_KEYS,
        Popup::ConfirmQuit => CONFIRM_KEYS,
        Popup::Answer { .. } => ANSWER_KEYS,
    }
}

/// `(key, label)` pairs for the footer of the current state.
pub fn footer_hints(state: &AppState) -> Vec<(String, &'static str)> {
    if let Some(popup) = &state.popup {
        return popup_keys(popup)
            .iter()
            .map(|k| (k.keys.to_string(), k.label))
            .collect();
    }
    let replaying = state.is_replay();
    let done = state.run().phase == Phase::Done;
    let mut actions: Vec<Action> = pane_actions(state.focus)
        .iter()
        .copied()
        .filter(|a| !(a.steers() && (replaying || done)))
        .collect();
    if done {
        actions.insert(0, Action::ShowAnswer);
    }
    let tail = if replaying {
        REPLAY_ACTIONS
    } else {
        APP_ACTIONS
    };
    for action in tail {
        let refused = action.steers() && done;
        if !refused && !actions.contains(action) {
            actions.push(*action);
        }
    }
    actions
        .into_iter()
        .filter_map(|a| {
            let key = state.keymap.hint_key(a, replaying)?;
            let label = if a == Action::TogglePause && state.pause_requested() {
                "resume"
            } else if a == Action::PlayPause && state.timeline().is_some_and(|t| t.playing) {
                "pause"
            } else {
                a.label()
            };
            Some((key, label))
        })
        .collect()
}

/// One section of the help overlay.
pub struct HelpSection {
    pub title: &'static str,
    pub rows: Vec<(String, String)>,
}

const HELP_GROUPS: &[(&str, Layer, &[Action])] = &[
    (
        "Move around",
        Layer::Global,
        &[
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
        ],
    ),
    (
        "Steer the run (live runs)",
        Layer::Global,
        &[
            Action::TogglePause,
            Action::InjectConstraint,
            Action::Requeue,
            Action::CancelTask,
            Action::AddTask,
            Action::MoreAgents,
            Action::FewerAgents,
        ],
    ),
    (
        "App",
        Layer::Global,
        &[Action::ShowAnswer, Action::Help, Action::Quit],
    ),
    (
        "Replay (delm replay)",
        Layer::Replay,
        &[
            Action::StepBack,
            Action::StepForward,
            Action::PrevMark,
            Action::NextMark,
            Action::PlayPause,
            Action::Faster,
            Action::Slower,
            Action::JumpStart,
            Action::JumpEnd,
        ],
    ),
];

/// The help overlay's content: every bound action with all its keys, then popup keys.
pub fn help_sections(state: &AppState) -> Vec<HelpSection> {
    let mut sections = Vec::new();
    for (title, layer, actions) in HELP_GROUPS {
        let keys_of = |a: Action| -> Vec<KeyBinding> {
            match layer {
                Layer::Global => state.keymap.keys_for(a, false),
                Layer::Replay => state
                    .keymap
                    .layer(Layer::Replay)
                    .find(|(b, _)| *b == a)
                    .map(|(_, k)| k.to_vec())
                    .unwrap_or_default(),
            }
        };
        let rows = actions
            .iter()
            .filter_map(|a| {
                let keys = keys_of(*a);
                (!keys.is_empty()).then(|| {
                    let keys: Vec<String> = keys.iter().map(ToString::to_string).collect();
                    (keys.join(" "), a.description().to_string())
                })
            })
            .collect::<Vec<_>>();
        if !rows.is_empty() {
            sections.push(HelpSection { title, rows });
        }
    }
    let popup_rows = [
        ("editor", EDITOR_KEYS),
        ("note", PROMPT_KEYS),
        ("filter", FILTER_KEYS),
        ("answer", ANSWER_KEYS),
    ]
    .iter()
    .flat_map(|(name, keys)| {
        keys.iter()
            .map(move |k| (k.keys.to_string(), format!("{name}: {}", k.label)))
    })
    .collect::<Vec<_>>();
    sections.push(HelpSection {
        title: "In popups",
        rows: popup_rows,
    });
    sections.push(HelpSection {
        title: "Mouse",
        rows: vec![
            ("click".into(), "focus a pane and select a row".into()),
            ("wheel".into(), "scroll the pane under the pointer".into()),
        ],
    });
    sections
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_covers_every_action() {
        let covered: Vec<Action> = HELP_GROUPS
            .iter()
            .flat_map(|(_, _, a)| a.iter().copied())
            .collect();
        for action in Action::ALL {
            assert!(covered.contains(action), "{action:?} missing from help");
        }
    }
}
