//! The routing of terminal input: a prompt in the footer takes keys first, else an open
//! popup, each through its own keymap section; otherwise the focused pane's section, the
//! replay section and the global one turn the key into an [`Action`] for [`update`].
//! Mouse clicks and the wheel land where the layout put things.

use super::action::Action;
use super::app::{AppState, Command, Popup, PromptKind};
use super::keymap::Layer;
use super::layout::{Pane, scroll_window};
use super::search::{Search, View};
use super::update::{move_selection, open_search, search_step, single_line, text_of, update};
use crate::engine::Control;
use crossterm::event::{
    Event as TermEvent, KeyEvent, KeyEventKind, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui_textarea::TextArea;

/// Route one terminal event. Returns the commands the runner must carry out.
pub fn handle_event(state: &mut AppState, event: &TermEvent) -> Vec<Command> {
    state.refresh_if_stale();
    match event {
        TermEvent::Key(key) if key.kind != KeyEventKind::Release => handle_key(state, key),
        TermEvent::Mouse(mouse) => {
            handle_mouse(state, mouse);
            Vec::new()
        }
        TermEvent::Paste(text) => {
            let one_line = text.replace(['\n', '\r'], " ");
            if let Some(prompt) = &mut state.prompt {
                prompt.input.insert_str(&one_line);
                return Vec::new();
            }
            match &mut state.popup {
                Some(Popup::Constraint(input) | Popup::AddTask(input)) => {
                    input.insert_str(text);
                }
                Some(Popup::RequeueNote { input, .. }) => {
                    input.insert_str(&one_line);
                }
                Some(Popup::Filter { pane, input }) => {
                    input.insert_str(&one_line);
                    let (pane, text) = (*pane, text_of(input));
                    state.set_filter(pane, text);
                }
                _ => {}
            }
            Vec::new()
        }
        TermEvent::Resize(width, height) => {
            state.resize(*width, *height);
            Vec::new()
        }
        _ => Vec::new(),
    }
}

pub fn handle_key(state: &mut AppState, key: &KeyEvent) -> Vec<Command> {
    if state.prompt.is_some() {
        return handle_prompt_key(state, key);
    }
    if state.popup.is_some() {
        return handle_popup_key(state, key);
    }
    match state.keymap.action_in(&state.layers(), key) {
        Some(action) => update(state, action),
        None => Vec::new(),
    }
}

/// Text editing shared by every input: the layer's editing actions, else the text area.
fn edit(input: &mut TextArea<'static>, action: Option<Action>, key: &KeyEvent) {
    match action {
        Some(Action::KillLine) => {
            input.delete_line_by_head();
        }
        Some(Action::Undo) => {
            input.undo();
        }
        Some(Action::Redo) => {
            input.redo();
        }
        _ => {
            input.input(*key);
        }
    }
}

fn handle_prompt_key(state: &mut AppState, key: &KeyEvent) -> Vec<Command> {
    let Some(mut prompt) = state.prompt.take() else {
        return Vec::new();
    };
    let action = state.keymap.action_in(&[prompt.layer()], key);
    let mut commands = Vec::new();
    match (prompt.kind, action) {
        (PromptKind::Search(view), Some(Action::Cancel)) => {
            if state.search.as_ref().is_some_and(|s| s.view == view) {
                state.search = None;
            }
        }
        (PromptKind::Search(view), Some(Action::Submit)) => {
            let query = text_of(&prompt.input);
            if query.is_empty() {
                state.search = None;
            } else {
                state.search = Some(Search {
                    view,
                    query,
                    current: None,
                });
                search_step(state, view, true);
            }
        }
        (PromptKind::Command, Some(Action::Cancel)) => {}
        (PromptKind::Command, Some(Action::Submit)) => {
            let line = text_of(&prompt.input);
            commands = super::command::run(state, &line);
        }
        (PromptKind::Command, Some(Action::Complete)) => {
            let completed = super::command::complete(&text_of(&prompt.input));
            let mut input = single_line(&completed, "");
            input.move_cursor(ratatui_textarea::CursorMove::End);
            prompt.input = input;
            let matches = super::command::completions(completed.trim());
            if matches.len() > 1 {
                state.flash(format!(":{}", matches.join("  :")));
            }
            state.prompt = Some(prompt);
        }
        (_, other) => {
            edit(&mut prompt.input, other, key);
            state.prompt = Some(prompt);
        }
    }
    state.refresh();
    commands
}

fn handle_popup_key(state: &mut AppState, key: &KeyEvent) -> Vec<Command> {
    let Some(popup) = state.popup.take() else {
        return Vec::new();
    };
    let layer = popup.layer();
    let action = state.keymap.action_in(&[layer], key);
    let mut commands = Vec::new();
    let keep = match popup {
        Popup::Help { mut scroll } => match action {
            Some(Action::Close) => None,
            Some(Action::Search) => {
                state.popup = Some(Popup::Help { scroll });
                open_search(state);
                return Vec::new();
            }
            Some(a @ (Action::NextMatch | Action::PrevMatch)) => {
                state.popup = Some(Popup::Help { scroll });
                search_step(state, View::Help, a == Action::NextMatch);
                return Vec::new();
            }
            Some(a) => {
                scroll_popup(&mut scroll, a, popup_page(state));
                Some(Popup::Help { scroll })
            }
            None => Some(Popup::Help { scroll }),
        },
        Popup::Constraint(mut input) => match action {
            Some(Action::Cancel) => None,
            Some(Action::Submit) => {
                let text = text_of(&input);
                if text.is_empty() {
                    state.flash_error("the constraint is empty: type it, or Esc to cancel");
                    Some(Popup::Constraint(input))
                } else {
                    state.flash("constraint sent: agents see it at their next turn");
                    commands.push(Command::Engine(Control::InjectConstraint { text }));
                    None
                }
            }
            other => {
                edit(&mut input, other, key);
                Some(Popup::Constraint(input))
            }
        },
        Popup::AddTask(mut input) => match action {
            Some(Action::Cancel) => None,
            Some(Action::Submit) => {
                let text = text_of(&input);
                let mut lines = text.lines();
                let title = lines.next().unwrap_or("").trim().to_string();
                let detail = lines.collect::<Vec<_>>().join("\n").trim().to_string();
                if title.is_empty() {
                    state.flash_error("the task needs a title on its first line, or Esc to cancel");
                    Some(Popup::AddTask(input))
                } else {
                    state.flash(format!("task added: {title}"));
                    commands.push(Command::Engine(Control::AddTask { title, detail }));
                    None
                }
            }
            other => {
                edit(&mut input, other, key);
                Some(Popup::AddTask(input))
            }
        },
        Popup::RequeueNote { task, mut input } => match action {
            Some(Action::Cancel) => None,
            Some(Action::Submit) => {
                let note = text_of(&input);
                state.flash(format!("re-enqueued {task}"));
                commands.push(Command::Engine(Control::Requeue {
                    task,
                    note: (!note.is_empty()).then_some(note),
                }));
                None
            }
            other => {
                edit(&mut input, other, key);
                Some(Popup::RequeueNote { task, input })
            }
        },
        Popup::Filter { pane, mut input } => match action {
            Some(Action::Submit) => None,
            Some(Action::Cancel) => {
                state.set_filter(pane, String::new());
                None
            }
            other => {
                edit(&mut input, other, key);
                state.set_filter(pane, text_of(&input));
                Some(Popup::Filter { pane, input })
            }
        },
        Popup::ConfirmQuit => match action {
            Some(Action::Confirm) => {
                commands.push(Command::Quit);
                None
            }
            _ => None,
        },
        Popup::Answer { .. } if action.is_none() && timeline_key(state, key).is_some() => {
            // While replaying, the timeline keys move on (and away from the answer).
            let action = timeline_key(state, key).unwrap_or(Action::StepBack);
            return update(state, action);
        }
        Popup::Answer {
            mut scroll,
            selected,
        } => {
            let cited = state
                .run()
                .answer
                .as_ref()
                .map(|a| a.cited.clone())
                .unwrap_or_default();
            match action {
                Some(Action::Close) => None,
                Some(Action::Help) => Some(Popup::Help { scroll: 0 }),
                Some(Action::NextCited) => Some(Popup::Answer {
                    scroll,
                    selected: (selected + 1).min(cited.len().saturating_sub(1)),
                }),
                Some(Action::PrevCited) => Some(Popup::Answer {
                    scroll,
                    selected: selected.saturating_sub(1),
                }),
                Some(Action::OpenCited) => match cited.get(selected) {
                    Some(point) => {
                        state.context.select_point(point);
                        state.set_focus(Pane::Context);
                        None
                    }
                    None => Some(Popup::Answer { scroll, selected }),
                },
                Some(Action::Copy) => {
                    if let Some(answer) = &state.run().answer {
                        commands.push(Command::Copy {
                            what: "the final answer".into(),
                            text: answer.answer.clone(),
                        });
                    }
                    Some(Popup::Answer { scroll, selected })
                }
                Some(Action::Search) => {
                    state.popup = Some(Popup::Answer { scroll, selected });
                    open_search(state);
                    return Vec::new();
                }
                Some(a @ (Action::NextMatch | Action::PrevMatch)) => {
                    state.popup = Some(Popup::Answer { scroll, selected });
                    search_step(state, View::Answer, a == Action::NextMatch);
                    return Vec::new();
                }
                Some(a) => {
                    scroll_popup(&mut scroll, a, popup_page(state));
                    Some(Popup::Answer { scroll, selected })
                }
                None => Some(Popup::Answer { scroll, selected }),
            }
        }
    };
    state.popup = keep;
    state.refresh();
    commands
}

fn popup_page(state: &AppState) -> usize {
    usize::from(state.layout.area.height)
        .saturating_sub(8)
        .max(1)
}

/// Scrolling inside a popup; the end is clamped when drawing.
fn scroll_popup(scroll: &mut usize, action: Action, page: usize) {
    match action {
        Action::Up => *scroll = scroll.saturating_sub(1),
        Action::Down => *scroll += 1,
        Action::PageUp => *scroll = scroll.saturating_sub(page),
        Action::PageDown => *scroll += page,
        Action::Top => *scroll = 0,
        Action::Bottom => *scroll = usize::MAX / 2,
        _ => {}
    }
}

/// The replay timeline action bound to `key`, when replaying.
fn timeline_key(state: &AppState, key: &KeyEvent) -> Option<Action> {
    if !state.is_replay() {
        return None;
    }
    state
        .keymap
        .action_in(&[Layer::Replay], key)
        .filter(|a| !matches!(a, Action::Faster | Action::Slower | Action::PlayMode))
}

fn handle_mouse(state: &mut AppState, mouse: &MouseEvent) {
    if state.popup.is_some() || state.prompt.is_some() || state.layout.too_small {
        return;
    }
    let Some(pane) = state.layout.pane_at(mouse.column, mouse.row) else {
        return;
    };
    match mouse.kind {
        MouseEventKind::Down(MouseButton::Left) => {
            if pane != state.focus {
                state.set_focus(pane);
            }
            let rect = state.layout.rect(pane);
            if mouse.row <= rect.y || mouse.row + 1 >= rect.bottom() {
                return; // on the border
            }
            let row = usize::from(mouse.row - rect.y - 1);
            click_row(state, pane, row);
        }
        MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => {
            let delta = if mouse.kind == MouseEventKind::ScrollDown {
                3
            } else {
                -3
            };
            let focus = state.focus;
            state.focus = pane;
            move_selection(state, delta);
            state.focus = focus;
        }
        _ => {}
    }
    state.refresh();
}

fn click_row(state: &mut AppState, pane: Pane, row: usize) {
    match pane {
        Pane::Queue => {
            let ids: Vec<String> = state.queue_rows().iter().map(|t| t.id.clone()).collect();
            if let Some(id) = ids.get(state.queue.offset + row) {
                state.queue.selected = Some(id.clone());
            }
        }
        Pane::Agents => {
            let ids: Vec<String> = state.agent_rows().iter().map(|a| a.id.clone()).collect();
            let card = state.agent_card_height().max(1);
            if let Some(id) = ids.get(state.agents.offset + row / card) {
                state.agents.selected = Some(id.clone());
            }
        }
        Pane::Context => {
            let offset = scroll_window(
                state.context.selected_index().unwrap_or(0),
                state.context.offset,
                state.layout.inner_height(Pane::Context),
                state.context.rows().len(),
            );
            if offset + row < state.context.rows().len() {
                state.context.select_index(offset + row);
            }
        }
        Pane::Events => {
            let rows: Vec<usize> = state.event_rows().iter().map(|n| n.pos).collect();
            if let Some(pos) = rows.get(state.events.offset + row) {
                state.events.selected = Some(*pos);
            }
        }
        Pane::Detail | Pane::Patches => {}
    }
}
