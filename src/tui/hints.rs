//! What each layer offers, declared once. The keymap accepts exactly these actions per
//! section, and the footer and the `?` overlay are generated from these declarations and the
//! keymap, so the hints can never drift from the bindings (gitui's command declarations, on
//! yazi's layers).

use super::action::Action;
use super::app::AppState;
use super::command;
use super::keymap::{Keymap, Layer};
use super::layout::Pane;

/// Actions that work from any pane (the `[global]` section; pane sections may rebind them):
/// the help's groups of them, in order.
fn global_actions() -> Vec<Action> {
    GLOBAL_GROUPS
        .iter()
        .flat_map(|(_, actions)| actions.iter().copied())
        .collect()
}

const REPLAY: &[Action] = &[
    Action::StepBack,
    Action::StepForward,
    Action::PrevMark,
    Action::NextMark,
    Action::PlayPause,
    Action::Faster,
    Action::Slower,
    Action::PlayMode,
    Action::JumpStart,
    Action::JumpEnd,
];

const SCROLL: [Action; 6] = [
    Action::Up,
    Action::Down,
    Action::PageUp,
    Action::PageDown,
    Action::Top,
    Action::Bottom,
];
const SEARCH: [Action; 3] = [Action::Search, Action::NextMatch, Action::PrevMatch];

/// Every action a layer's keymap section may bind.
pub fn offers(layer: Layer) -> Vec<Action> {
    let own: &[Action] = match layer {
        Layer::Global | Layer::Queue | Layer::Agents => &[],
        Layer::Replay => return REPLAY.to_vec(),
        Layer::Context => &[Action::ToggleGrouping, Action::OpenEditor],
        Layer::Detail => &[
            Action::Search,
            Action::NextMatch,
            Action::PrevMatch,
            Action::OpenEditor,
        ],
        Layer::Events => &[Action::EventKind],
        Layer::Patches => &SEARCH,
        Layer::Help => return [&[Action::Close][..], &SCROLL, &SEARCH].concat(),
        Layer::Answer => {
            return [
                &[Action::Close][..],
                &SCROLL,
                &[
                    Action::NextCited,
                    Action::PrevCited,
                    Action::OpenCited,
                    Action::Copy,
                    Action::Help,
                ],
                &SEARCH,
            ]
            .concat();
        }
        Layer::Editor | Layer::Note => {
            return vec![
                Action::Submit,
                Action::Cancel,
                Action::KillLine,
                Action::Undo,
                Action::Redo,
            ];
        }
        Layer::Filter | Layer::Search => {
            return vec![Action::Submit, Action::Cancel, Action::KillLine];
        }
        Layer::Command => {
            return vec![
                Action::Submit,
                Action::Cancel,
                Action::Complete,
                Action::KillLine,
            ];
        }
        Layer::Confirm => return vec![Action::Confirm, Action::Cancel],
    };
    [&global_actions()[..], own].concat()
}

/// The footer of a popup layer, most useful first.
fn popup_hints(layer: Layer) -> &'static [Action] {
    match layer {
        Layer::Help => &[Action::Down, Action::Up, Action::Search, Action::NextMatch],
        Layer::Answer => &[
            Action::Down,
            Action::PageDown,
            Action::NextCited,
            Action::OpenCited,
            Action::Copy,
            Action::Search,
            Action::Close,
        ],
        Layer::Editor => &[
            Action::Submit,
            Action::Cancel,
            Action::KillLine,
            Action::Undo,
        ],
        Layer::Note => &[Action::Submit, Action::Cancel, Action::KillLine],
        Layer::Filter | Layer::Search => &[Action::Submit, Action::Cancel],
        Layer::Command => &[Action::Submit, Action::Complete, Action::Cancel],
        Layer::Confirm => &[Action::Confirm, Action::Cancel],
        _ => &[],
    }
}

/// What a pane offers in the footer, most useful first.
fn pane_hints(pane: Pane) -> &'static [Action] {
    match pane {
        Pane::Queue => &[
            Action::Requeue,
            Action::CancelTask,
            Action::AddTask,
            Action::Filter,
            Action::Copy,
        ],
        Pane::Agents => &[
            Action::Expand,
            Action::MoreAgents,
            Action::FewerAgents,
            Action::Filter,
        ],
        Pane::Context => &[
            Action::Expand,
            Action::Collapse,
            Action::OpenEditor,
            Action::ToggleGrouping,
            Action::Filter,
            Action::Copy,
        ],
        Pane::Detail => &[
            Action::Down,
            Action::Search,
            Action::Expand,
            Action::OpenEditor,
            Action::Copy,
            Action::Collapse,
        ],
        Pane::Events => &[Action::EventKind, Action::Filter, Action::Expand],
        Pane::Patches => &[Action::Down, Action::Search, Action::ShowPatches],
    }
}

/// Shown after the pane's own actions in a live run.
const APP_HINTS: &[Action] = &[
    Action::TogglePause,
    Action::InjectConstraint,
    Action::ShowEvents,
    Action::Zoom,
    Action::CommandLine,
    Action::FocusNext,
    Action::Quit,
];

/// Shown after the pane's own actions in a replay.
const REPLAY_HINTS: &[Action] = &[
    Action::PlayPause,
    Action::StepForward,
    Action::StepBack,
    Action::NextMark,
    Action::Faster,
    Action::PlayMode,
    Action::ShowEvents,
    Action::Zoom,
    Action::Quit,
];

/// `(key, label)` pairs for the footer of the current state. `? help` is not among them:
/// the footer pins it to the right end, so it never falls off.
pub fn footer_hints(state: &AppState) -> Vec<(String, &'static str)> {
    let layers = state.layers();
    let actions: Vec<Action> = match state.popup_layer() {
        Some(layer) => popup_hints(layer).to_vec(),
        None => {
            let replaying = state.is_replay();
            let done = state.run().phase == crate::event::Phase::Done;
            let refused = |a: &Action| a.steers() && (replaying || done);
            let mut actions: Vec<Action> = Vec::new();
            if done {
                actions.push(Action::ShowAnswer);
            }
            let tail = if replaying { REPLAY_HINTS } else { APP_HINTS };
            for action in pane_hints(state.focus).iter().chain(tail) {
                if !refused(action) && !actions.contains(action) {
                    actions.push(*action);
                }
            }
            actions
        }
    };
    actions
        .into_iter()
        .filter(|a| *a != Action::Help && applies(state, *a))
        .filter_map(|a| {
            let key = state.keymap.hint_key(a, &layers)?;
            Some((key, hint_label(state, a)))
        })
        .collect()
}

/// Whether an action does something for what is selected now (the footer leaves out the
/// ones that would only answer "nothing to do").
fn applies(state: &AppState, action: Action) -> bool {
    match action {
        Action::OpenEditor => state.selected_evidence().is_some(),
        Action::Expand if state.focus == Pane::Detail => state.detail_shows_agent(),
        Action::Requeue | Action::CancelTask => state.selected_task().is_some(),
        Action::ShowPatches => {
            matches!(state.run().mode, crate::event::Mode::Repo { .. })
                || state.focus == Pane::Patches
        }
        _ => true,
    }
}

/// What an action is called in a popup layer where the general words would mislead:
/// `(footer label, help description)`.
fn wording(layer: Layer, action: Action) -> Option<(&'static str, &'static str)> {
    Some(match (layer, action) {
        (Layer::Help | Layer::Answer, Action::Up) => ("up", "scroll up a line"),
        (Layer::Help | Layer::Answer, Action::Down) => ("scroll", "scroll down a line"),
        (Layer::Help | Layer::Answer, Action::PageUp) => ("page up", "scroll up a page"),
        (Layer::Help | Layer::Answer, Action::PageDown) => ("page down", "scroll down a page"),
        (Layer::Help | Layer::Answer, Action::Top) => ("top", "to the top"),
        (Layer::Help | Layer::Answer, Action::Bottom) => ("bottom", "to the bottom"),
        (Layer::Answer, Action::Copy) => ("copy", "copy the whole answer (OSC 52)"),
        (Layer::Answer, Action::Help) => ("help", "the keys"),
        (Layer::Editor, Action::Submit) => ("send", "send it"),
        (Layer::Editor, Action::Cancel) => ("discard", "close without sending"),
        (Layer::Note, Action::Submit) => ("re-enqueue", "re-enqueue, with the note if any"),
        (Layer::Note, Action::Cancel) => ("cancel", "keep the task as it is"),
        (Layer::Filter, Action::Submit) => ("keep filter", "keep the filter and go back"),
        (Layer::Filter, Action::Cancel) => ("clear", "clear the filter"),
        (Layer::Search, Action::Submit) => ("find", "find the first match"),
        (Layer::Search, Action::Cancel) => ("clear", "clear the search"),
        (Layer::Command, Action::Submit) => ("run", "run the command"),
        (Layer::Command, Action::Cancel) => ("cancel", "close the command line"),
        (Layer::Confirm, Action::Confirm) => ("quit", "quit (the run stays resumable)"),
        (Layer::Confirm, Action::Cancel) => ("stay", "go back to the run"),
        _ => return None,
    })
}

/// The footer label of `action` in `layer`.
pub fn label_in(layer: Layer, action: Action) -> &'static str {
    wording(layer, action).map_or(action.label(), |w| w.0)
}

/// The footer label, where the current state changes what the key does.
fn hint_label(state: &AppState, action: Action) -> &'static str {
    if let Some(layer) = state.popup_layer() {
        return label_in(layer, action);
    }
    match action {
        Action::TogglePause if state.pause_requested() => "resume",
        Action::PlayPause if state.timeline().is_some_and(|t| t.playing) => "pause",
        Action::PlayMode if state.timeline().is_some_and(|t| t.real_time()) => "events/s",
        Action::Zoom if state.zoomed => "unzoom",
        Action::ShowEvents if state.focus == Pane::Events => "back",
        Action::ShowPatches if state.focus == Pane::Patches => "back",
        Action::Expand if state.focus == Pane::Detail && state.detail_shows_agent() => {
            if state.transcript_unfolded {
                "fold outputs"
            } else {
                "unfold outputs"
            }
        }
        Action::Down if state.focus == Pane::Detail || state.focus == Pane::Patches => "scroll",
        _ => action.label(),
    }
}

/// The key that opens the help, for the pinned `? help` hint.
pub fn help_key(state: &AppState) -> Option<String> {
    let layers = state.layers();
    match state.popup_layer() {
        Some(Layer::Help) => state.keymap.hint_key(Action::Close, &layers),
        _ => state.keymap.hint_key(Action::Help, &layers),
    }
}

/// One section of the help overlay.
pub struct HelpSection {
    pub title: String,
    pub rows: Vec<(String, String)>,
}

/// Sections of global actions, by theme.
const GLOBAL_GROUPS: &[(&str, &[Action])] = &[
    (
        "Move around",
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
            Action::Zoom,
        ],
    ),
    (
        "Steer the run (live runs)",
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
        "Views and app",
        &[
            Action::ShowAnswer,
            Action::ShowEvents,
            Action::ShowPatches,
            Action::CommandLine,
            Action::Help,
            Action::Suspend,
            Action::Quit,
        ],
    ),
];

/// Pane and popup layers, with the title of their help section.
const LAYER_SECTIONS: &[(Layer, &str)] = &[
    (Layer::Context, "Shared context pane"),
    (
        Layer::Detail,
        "Detail pane (a point, task or agent transcript)",
    ),
    (Layer::Events, "Events pane"),
    (Layer::Patches, "Patches pane"),
    (Layer::Replay, "Replay (delm replay)"),
    (Layer::Answer, "Final answer"),
    (Layer::Help, "This help"),
    (Layer::Editor, "Editor (constraint, add task)"),
    (Layer::Note, "Re-enqueue note"),
    (Layer::Filter, "Filter"),
    (Layer::Search, "Search"),
    (Layer::Command, "Command line"),
    (Layer::Confirm, "Quit confirmation"),
];

/// What the text editors do besides the keymap's keys (ratatui-textarea's own bindings).
pub const EDITING_KEYS: &[(&str, &str)] = &[
    ("Enter", "new line (editor) / submit (one-line prompts)"),
    ("← → ↑ ↓", "move the cursor"),
    ("C-a C-e / Home End", "start / end of the line"),
    ("M-b M-f / C-← C-→", "one word back / forward"),
    ("C-k", "delete to the end of the line"),
    ("C-w / M-Bksp", "delete the word before the cursor"),
    (
        "C-h / Bksp, C-d / Del",
        "delete one character back / forward",
    ),
    ("C-y", "paste what was deleted last"),
];

/// The help overlay's content: every bound action with all its keys, layer by layer.
pub fn help_sections(km: &Keymap) -> Vec<HelpSection> {
    let join = |keys: Vec<super::keymap::KeyBinding>| {
        keys.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let row = |action: Action, layers: &[Layer]| -> Option<(String, String)> {
        let keys = km.keys_for(action, layers);
        let description = wording(layers[0], action).map_or(action.description(), |w| w.1);
        (!keys.is_empty()).then(|| (join(keys), description.to_string()))
    };
    let mut sections = Vec::new();
    for (title, actions) in GLOBAL_GROUPS {
        let rows: Vec<_> = actions
            .iter()
            .filter_map(|a| row(*a, &[Layer::Global]))
            .collect();
        if !rows.is_empty() {
            sections.push(HelpSection {
                title: title.to_string(),
                rows,
            });
        }
    }
    for (layer, title) in LAYER_SECTIONS {
        let stack: Vec<Layer> = match layer {
            Layer::Replay => vec![Layer::Replay],
            Layer::Context | Layer::Detail | Layer::Events | Layer::Patches => {
                vec![*layer]
            }
            popup => vec![*popup],
        };
        // Pane sections list only what they add or change over [global].
        let rows: Vec<_> = offers(*layer)
            .into_iter()
            .filter(|a| {
                !matches!(
                    layer,
                    Layer::Context | Layer::Detail | Layer::Events | Layer::Patches
                ) || !global_actions().contains(a)
                    || km.keys_for(*a, &stack) != km.keys_for(*a, &[Layer::Global])
            })
            .filter_map(|a| row(a, &stack))
            .collect();
        if !rows.is_empty() {
            sections.push(HelpSection {
                title: title.to_string(),
                rows,
            });
        }
    }
    sections.push(HelpSection {
        title: "Editing text (all editors and prompts)".into(),
        rows: EDITING_KEYS
            .iter()
            .map(|(k, d)| (k.to_string(), d.to_string()))
            .collect(),
    });
    sections.push(HelpSection {
        title: "Commands (after :)".into(),
        rows: command::COMMANDS
            .iter()
            .map(|c| (c.usage.to_string(), c.description.to_string()))
            .collect(),
    });
    sections.push(HelpSection {
        title: "Mouse".into(),
        rows: vec![
            ("click".into(), "focus a pane and select a row".into()),
            ("wheel".into(), "scroll the pane under the pointer".into()),
        ],
    });
    sections
}

/// The help as Markdown tables, for the README's Keys section (a test keeps the two equal).
pub fn keys_markdown(km: &Keymap) -> String {
    let cell = |text: &str| text.replace('|', "\\|");
    let mut out = String::new();
    for section in help_sections(km) {
        out.push_str(&format!(
            "**{}**\n\n| key | action |\n|---|---|\n",
            section.title
        ));
        for (keys, description) in &section.rows {
            // Keymap keys are one code span each; written-out combinations stay whole.
            let keys = if keys.contains(" / ") || keys.contains(", ") {
                format!("`{}`", cell(keys))
            } else {
                keys.split(' ')
                    .map(|k| format!("`{}`", cell(k)))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            out.push_str(&format!("| {keys} | {} |\n", cell(description)));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::keymap::Keymap;

    #[test]
    fn every_offered_action_has_a_default_key_in_its_layer() {
        let km = Keymap::default();
        for layer in Layer::ALL {
            // A pane's section may shadow a global action on purpose (`/` searches the
            // detail instead of filtering it); its own actions must all be bound.
            let own = offers(layer)
                .into_iter()
                .filter(|a| layer == Layer::Global || !global_actions().contains(a));
            for action in own {
                let stack = match layer {
                    Layer::Context | Layer::Detail | Layer::Events | Layer::Patches => {
                        vec![layer, Layer::Global]
                    }
                    Layer::Queue | Layer::Agents => vec![Layer::Global],
                    other => vec![other],
                };
                assert!(
                    !km.keys_for(action, &stack).is_empty(),
                    "{action:?} has no default key in [{}]",
                    layer.name()
                );
            }
        }
    }

    #[test]
    fn popup_hints_are_bound_in_their_layer() {
        let km = Keymap::default();
        for layer in Layer::ALL {
            for action in popup_hints(layer) {
                assert!(
                    offers(layer).contains(action),
                    "{action:?} is hinted in [{}] but not offered there",
                    layer.name()
                );
                assert!(km.hint_key(*action, &[layer]).is_some());
            }
        }
    }
}
