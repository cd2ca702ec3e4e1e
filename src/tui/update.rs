//! `update(state, action) -> commands`: one user intent applied to the state (input routing
//! is in `input`, the `:` commands in `command`). Nothing here does I/O: engine controls,
//! clipboard writes, the editor and quitting come back as [`Command`]s for the runner to
//! carry out.

use super::action::Action;
use super::app::{AppState, Command, MAX_AGENTS, Popup, Prompt, PromptKind, Source};
use super::context_tree::Grouping;
use super::layout::Pane;
use super::log::EventKind;
use super::search::{Search, View, matching_lines, step};
use crate::engine::Control;
use crate::event::{Phase, TaskState};
use ratatui::style::Modifier;
use ratatui_textarea::{TextArea, WrapMode};

/// Apply one user intent from a pane (popups handle their own keys, see `input`).
pub fn update(state: &mut AppState, action: Action) -> Vec<Command> {
    state.refresh_if_stale();
    if action.steers()
        && let Some(why) = state.steering_refusal()
    {
        state.flash_error(why);
        return Vec::new();
    }
    let mut commands = Vec::new();
    match action {
        Action::FocusNext => state.set_focus(state.focus.next(state.slot)),
        Action::FocusPrev => state.set_focus(state.focus.prev(state.slot)),
        Action::Up => move_selection(state, -1),
        Action::Down => move_selection(state, 1),
        Action::PageUp => move_selection(state, -(page(state) as isize)),
        Action::PageDown => move_selection(state, page(state) as isize),
        Action::Top => move_selection(state, isize::MIN / 2),
        Action::Bottom => move_selection(state, isize::MAX / 2),
        Action::Expand => match state.focus {
            Pane::Context => state.context.expand(),
            Pane::Queue | Pane::Agents => state.set_focus(Pane::Detail),
            Pane::Events => {
                if state.selected_event().is_some_and(|n| n.subject.is_some()) {
                    state.set_focus(Pane::Detail);
                } else {
                    state.flash_error("this event is about the whole run; nothing to open");
                }
            }
            Pane::Detail if state.detail_shows_agent() => {
                state.transcript_unfolded = !state.transcript_unfolded;
            }
            Pane::Detail | Pane::Patches => {}
        },
        Action::Collapse => match state.focus {
            Pane::Context => state.context.collapse(),
            Pane::Detail => state.set_focus(state.detail_from),
            Pane::Patches => state.toggle_slot_view(Pane::Patches),
            Pane::Queue | Pane::Agents | Pane::Events => {}
        },
        Action::Filter => {
            if matches!(state.focus, Pane::Detail | Pane::Patches) {
                open_search(state);
            } else {
                let mut input = single_line(state.filter(state.focus), "type to filter");
                input.move_cursor(ratatui_textarea::CursorMove::End);
                state.popup = Some(Popup::Filter {
                    pane: state.focus,
                    input,
                });
            }
        }
        Action::Copy => match super::copy::copy_text(state) {
            Some((what, text)) => commands.push(Command::Copy { what, text }),
            None => state.flash_error("nothing selected to copy"),
        },
        Action::ToggleGrouping => {
            state.context.toggle_grouping();
            let by = match state.context.grouping {
                Grouping::Kind => "kind",
                Grouping::Task => "task",
            };
            state.flash(format!("shared context grouped by {by}"));
        }
        Action::Zoom => state.toggle_zoom(),
        Action::Search => open_search(state),
        Action::NextMatch | Action::PrevMatch => {
            if let Some(view) = focused_view(state) {
                search_step(state, view, action == Action::NextMatch);
            }
        }
        Action::OpenEditor => match state.selected_evidence().map(|(_, ev)| ev.clone()) {
            None => state.flash_error("select a point with file or document evidence first"),
            Some(ev) => {
                let mode = state.run().mode.clone();
                match state.sources.location(&mode, &ev) {
                    Ok(at) => commands.push(Command::OpenEditor(at)),
                    Err(why) => state.flash_error(why),
                }
            }
        },
        Action::ShowEvents => state.toggle_slot_view(Pane::Events),
        Action::ShowPatches => state.toggle_slot_view(Pane::Patches),
        Action::EventKind => {
            state.events.kind = EventKind::cycle(state.events.kind);
            state.events.selected = None;
            match state.events.kind {
                Some(kind) => state.flash(format!("events: only {}", kind.label())),
                None => state.flash("events: every kind"),
            }
        }
        Action::CommandLine => {
            state.prompt = Some(Prompt {
                kind: PromptKind::Command,
                input: single_line(
                    "",
                    "a command: agents 12, export, theme light, goto P4, … (Tab completes)",
                ),
            });
        }
        Action::TogglePause => {
            let paused = state.pause_requested();
            state.pending_pause = Some(!paused);
            commands.push(Command::Engine(if paused {
                Control::Resume
            } else {
                Control::Pause
            }));
            state.flash(if paused {
                "resuming"
            } else {
                "pausing: agents stop at their next step"
            });
        }
        Action::InjectConstraint => {
            state.popup = Some(Popup::Constraint(multi_line(
                "A rule every agent must follow, e.g. “do not change the public API”",
            )));
        }
        Action::Requeue => match state
            .selected_task()
            .map(|t| (t.id.clone(), t.state.clone()))
        {
            None => state.flash_error("select a task in the queue first"),
            Some((id, TaskState::Queued)) => state.flash_error(format!("{id} is already queued")),
            Some((id, _)) => {
                state.popup = Some(Popup::RequeueNote {
                    task: id,
                    input: single_line("", "optional note for the next agent (Enter sends)"),
                })
            }
        },
        Action::CancelTask => match state
            .selected_task()
            .map(|t| (t.id.clone(), t.state.clone()))
        {
            None => state.flash_error("select a task in the queue first"),
            Some((id, TaskState::Done | TaskState::Failed | TaskState::Cancelled)) => {
                state.flash_error(format!("{id} has already ended; nothing to cancel"))
            }
            Some((id, _)) => {
                state.flash(format!("cancelling {id}"));
                commands.push(Command::Engine(Control::Cancel {
                    task: id,
                    note: None,
                }));
            }
        },
        Action::AddTask => {
            state.popup = Some(Popup::AddTask(multi_line(
                "First line: the task title. Following lines: details for the agent.",
            )));
        }
        Action::MoreAgents | Action::FewerAgents => {
            let current = state.target_agents();
            let next = if action == Action::MoreAgents {
                current + 1
            } else {
                current.saturating_sub(1)
            };
            set_agents(state, next, &mut commands);
        }
        Action::ShowAnswer => show_answer(state),
        Action::Help => state.popup = Some(Popup::Help { scroll: 0 }),
        Action::Quit => {
            if state.run_in_progress() {
                state.popup = Some(Popup::ConfirmQuit);
            } else {
                commands.push(Command::Quit);
            }
        }
        Action::Suspend => commands.push(Command::Suspend),
        Action::StepBack => step_replay(state, |t, _| t.position().saturating_sub(1)),
        Action::StepForward => step_replay(state, |t, _| t.position() + 1),
        Action::PrevMark => step_replay(state, |t, e| t.mark(e, false)),
        Action::NextMark => step_replay(state, |t, e| t.mark(e, true)),
        Action::JumpStart => step_replay(state, |_, _| 0),
        Action::JumpEnd => step_replay(state, |t, _| t.len()),
        Action::PlayPause => {
            if let Source::Replay(t) = &mut state.source {
                if t.at_end() && !t.playing {
                    state.seek(0);
                }
                if let Source::Replay(t) = &mut state.source {
                    t.playing = !t.playing;
                }
            }
        }
        Action::Faster | Action::Slower | Action::PlayMode => {
            if let Source::Replay(t) = &mut state.source {
                match action {
                    Action::Faster => t.faster(),
                    Action::Slower => t.slower(),
                    _ => t.toggle_pace(),
                }
                let pace = t.pace_label();
                state.flash(format!("replay: {pace}"));
            }
        }
        // Popup actions arrive through `handle_popup_key`.
        Action::Close
        | Action::Submit
        | Action::Cancel
        | Action::Confirm
        | Action::NextCited
        | Action::PrevCited
        | Action::OpenCited
        | Action::KillLine
        | Action::Undo
        | Action::Redo
        | Action::Complete => {}
    }
    state.refresh();
    commands
}

pub(super) fn show_answer(state: &mut AppState) {
    if state.run().answer.is_some() {
        state.popup = Some(Popup::Answer {
            scroll: 0,
            selected: 0,
        });
    } else {
        state.flash_error("no final answer yet; it appears when the run ends");
    }
}

pub(super) fn set_agents(state: &mut AppState, next: usize, commands: &mut Vec<Command>) {
    let current = state.target_agents();
    let next = next.clamp(1, MAX_AGENTS);
    if next == current {
        state.flash_error(format!(
            "already at {current} agent(s); the limit is 1 to {MAX_AGENTS}"
        ));
    } else {
        state.pending_agents = Some(next);
        state.flash(format!("agents: {current} → {next}"));
        commands.push(Command::Engine(Control::SetAgents { count: next }));
    }
}

fn step_replay(
    state: &mut AppState,
    target: impl Fn(&super::replay::Timeline, &[crate::event::Envelope]) -> usize,
) {
    if let Source::Replay(t) = &mut state.source {
        t.playing = false;
        let to = target(t, state.log.events());
        state.seek(to);
    }
}

/// One replay tick while playing; returns false when there is nothing left to play.
pub fn play_tick(state: &mut AppState) -> bool {
    let Source::Replay(t) = &state.source else {
        return false;
    };
    if !t.playing {
        return false;
    }
    let next = t.position() + 1;
    state.seek(next);
    state.timeline().is_some_and(|t| t.playing)
}

fn page(state: &AppState) -> usize {
    state
        .layout
        .inner_height(state.focus)
        .saturating_sub(1)
        .max(1)
}

pub(super) fn move_selection(state: &mut AppState, delta: isize) {
    match state.focus {
        Pane::Queue => {
            let ids: Vec<String> = state.queue_rows().iter().map(|t| t.id.clone()).collect();
            move_list(&mut state.queue.selected, &ids, delta);
        }
        Pane::Agents => {
            let ids: Vec<String> = state.agent_rows().iter().map(|a| a.id.clone()).collect();
            move_list(&mut state.agents.selected, &ids, delta);
        }
        Pane::Context => state.context.move_by(delta),
        Pane::Events => {
            let rows: Vec<usize> = state.event_rows().iter().map(|n| n.pos).collect();
            if rows.is_empty() {
                return;
            }
            let current = state
                .events
                .selected
                .and_then(|s| rows.iter().position(|p| *p == s))
                .unwrap_or(rows.len() - 1);
            let next = current.saturating_add_signed(delta).min(rows.len() - 1);
            // Back at the bottom, follow new events again.
            state.events.selected = (next + 1 < rows.len()).then(|| rows[next]);
        }
        Pane::Detail => scroll_by(&mut state.detail_scroll, delta),
        Pane::Patches => scroll_by(&mut state.patches_scroll, delta),
    }
}

fn scroll_by(scroll: &mut usize, delta: isize) {
    *scroll = scroll.saturating_add_signed(delta).min(1_000_000);
}

fn move_list(selected: &mut Option<String>, ids: &[String], delta: isize) {
    if ids.is_empty() {
        return;
    }
    let current = selected
        .as_ref()
        .and_then(|s| ids.iter().position(|id| id == s))
        .unwrap_or(0);
    let next = current.saturating_add_signed(delta).min(ids.len() - 1);
    *selected = Some(ids[next].clone());
}

pub(super) fn single_line(text: &str, placeholder: &str) -> TextArea<'static> {
    let mut input = TextArea::new(vec![text.to_string()]);
    input.set_placeholder_text(placeholder);
    input.set_cursor_line_style(ratatui::style::Style::new());
    input
}

pub(super) fn multi_line(placeholder: &str) -> TextArea<'static> {
    let mut input = TextArea::default();
    input.set_placeholder_text(placeholder);
    input.set_cursor_line_style(ratatui::style::Style::new());
    input.set_wrap_mode(WrapMode::WordOrGlyph);
    input.set_cursor_style(ratatui::style::Style::new().add_modifier(Modifier::REVERSED));
    input
}

pub(super) fn text_of(input: &TextArea<'_>) -> String {
    input.lines().join("\n").trim().to_string()
}

/// The text view that search keys act on now.
fn focused_view(state: &AppState) -> Option<View> {
    match &state.popup {
        Some(Popup::Help { .. }) => Some(View::Help),
        Some(Popup::Answer { .. }) => Some(View::Answer),
        Some(_) => None,
        None => match state.focus {
            Pane::Detail => Some(View::Detail),
            Pane::Patches => Some(View::Patches),
            _ => None,
        },
    }
}

pub(super) fn open_search(state: &mut AppState) {
    let Some(view) = focused_view(state) else {
        state.flash_error("search works in the detail, patches, help and answer views");
        return;
    };
    let previous = state
        .search
        .as_ref()
        .filter(|s| s.view == view)
        .map(|s| s.query.clone())
        .unwrap_or_default();
    let mut input = single_line(&previous, "search (Enter finds, Esc clears)");
    input.move_cursor(ratatui_textarea::CursorMove::End);
    state.prompt = Some(Prompt {
        kind: PromptKind::Search(view),
        input,
    });
}

/// The scroll position of a text view.
fn view_scroll(state: &mut AppState, view: View) -> Option<&mut usize> {
    match view {
        View::Detail => Some(&mut state.detail_scroll),
        View::Patches => Some(&mut state.patches_scroll),
        View::Help => match &mut state.popup {
            Some(Popup::Help { scroll }) => Some(scroll),
            _ => None,
        },
        View::Answer => match &mut state.popup {
            Some(Popup::Answer { scroll, .. }) => Some(scroll),
            _ => None,
        },
    }
}

/// Go to the next (or previous) line matching the search in `view`.
pub(super) fn search_step(state: &mut AppState, view: View, forward: bool) {
    let Some(search) = state.search.clone().filter(|s| s.view == view) else {
        state.flash_error("no search yet: / starts one");
        return;
    };
    let (lines, height) = super::ui::view_lines(state, view);
    let matches = matching_lines(&lines, &search.query);
    let Some(scroll) = view_scroll(state, view) else {
        return;
    };
    // From the current match, else from the top of what is on screen.
    let top = *scroll;
    let from = search
        .current
        .or_else(|| (top > 0).then(|| if forward { top - 1 } else { top }));
    let Some(found) = step(&matches, from, forward) else {
        state.flash_error(format!("“{}” is not in this view", search.query));
        return;
    };
    if found < *scroll || found >= *scroll + height.max(1) {
        *scroll = found.saturating_sub(height / 3);
    }
    let n = matches.iter().position(|m| *m == found).unwrap_or(0) + 1;
    state.search = Some(Search {
        current: Some(found),
        ..search
    });
    state.flash(format!("match {n} of {} lines", matches.len()));
}

/// Whether the run is in a state where the clock matters (elapsed time, countdowns).
pub fn clock_running(state: &AppState) -> bool {
    matches!(state.source, Source::Live { engine_gone: false })
        && matches!(state.run().phase, Phase::Running | Phase::Finalising)
}
