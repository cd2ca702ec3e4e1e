//! `update(state, action) -> commands`, and the routing of terminal input to it.
//!
//! Input goes to the top layer first: an open popup takes every key; otherwise the keymap
//! turns the key into an [`Action`]. Nothing here does I/O: engine controls, clipboard
//! writes and quitting come back as [`Command`]s for the runner to carry out.

use super::action::Action;
use super::app::{AppState, Command, MAX_AGENTS, Popup, Source, Subject};
use super::fold::TranscriptEntry;
use super::layout::{Pane, scroll_window};
use crate::engine::Control;
use crate::event::{Phase, TaskState};
use crossterm::event::{
    Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent,
    MouseEventKind,
};
use ratatui::style::Modifier;
use ratatui_textarea::{TextArea, WrapMode};

/// Apply one user intent.
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
        Action::FocusNext => state.set_focus(state.focus.next()),
        Action::FocusPrev => state.set_focus(state.focus.prev()),
        Action::Up => move_selection(state, -1),
        Action::Down => move_selection(state, 1),
        Action::PageUp => move_selection(state, -(page(state) as isize)),
        Action::PageDown => move_selection(state, page(state) as isize),
        Action::Top => move_selection(state, isize::MIN / 2),
        Action::Bottom => move_selection(state, isize::MAX / 2),
        Action::Expand => match state.focus {
            Pane::Context => state.context.expand(),
            Pane::Queue | Pane::Agents => state.set_focus(Pane::Detail),
            Pane::Detail => {}
        },
        Action::Collapse => match state.focus {
            Pane::Context => state.context.collapse(),
            Pane::Detail => state.set_focus(state.detail_from),
            Pane::Queue | Pane::Agents => {}
        },
        Action::Filter => {
            if state.focus == Pane::Detail {
                state.flash_error("the detail pane has nothing to filter; focus a list first");
            } else {
                let mut input = single_line(state.filter(state.focus), "type to filter");
                input.move_cursor(ratatui_textarea::CursorMove::End);
                state.popup = Some(Popup::Filter {
                    pane: state.focus,
                    input,
                });
            }
        }
        Action::Copy => match copy_text(state) {
            Some((what, text)) => commands.push(Command::Copy { what, text }),
            None => state.flash_error("nothing selected to copy"),
        },
        Action::ToggleGrouping => {
            state.context.toggle_grouping();
            let by = match state.context.grouping {
                super::context_tree::Grouping::Kind => "kind",
                super::context_tree::Grouping::Task => "task",
            };
            state.flash(format!("shared context grouped by {by}"));
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
                (current + 1).min(MAX_AGENTS)
            } else {
                current.saturating_sub(1).max(1)
            };
            if next == current {
                state.flash_error(format!("already at {current} agent(s), the limit"));
            } else {
                state.pending_agents = Some(next);
                state.flash(format!("agents: {current} → {next}"));
                commands.push(Command::Engine(Control::SetAgents { count: next }));
            }
        }
        Action::ShowAnswer => {
            if state.run().answer.is_some() {
                state.popup = Some(Popup::Answer { selected: 0 });
            } else {
                state.flash_error("no final answer yet; it appears when the run is DONE");
            }
        }
        Action::Help => state.popup = Some(Popup::Help { scroll: 0 }),
        Action::Quit => {
            if state.run_in_progress() {
                state.popup = Some(Popup::ConfirmQuit);
            } else {
                commands.push(Command::Quit);
            }
        }
        Action::StepBack => step(state, |t| t.position().saturating_sub(1)),
        Action::StepForward => step(state, |t| t.position() + 1),
        Action::PrevMark => step(state, |t| t.mark(false)),
        Action::NextMark => step(state, |t| t.mark(true)),
        Action::JumpStart => step(state, |_| 0),
        Action::JumpEnd => step(state, |t| t.len()),
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
        Action::Faster | Action::Slower => {
            if let Source::Replay(t) = &mut state.source {
                if action == Action::Faster {
                    t.faster();
                } else {
                    t.slower();
                }
                let speed = t.events_per_second();
                state.flash(format!("replay speed {speed} events/s"));
            }
        }
    }
    state.refresh();
    commands
}

fn step(state: &mut AppState, target: impl Fn(&super::replay::Timeline) -> usize) {
    if let Source::Replay(t) = &mut state.source {
        t.playing = false;
        let to = target(t);
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

fn move_selection(state: &mut AppState, delta: isize) {
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
        Pane::Detail => {
            state.detail_scroll = state.detail_scroll.saturating_add_signed(delta).min(10_000);
        }
    }
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

fn single_line(text: &str, placeholder: &str) -> TextArea<'static> {
    let mut input = TextArea::new(vec![text.to_string()]);
    input.set_placeholder_text(placeholder);
    input.set_cursor_line_style(ratatui::style::Style::new());
    input
}

fn multi_line(placeholder: &str) -> TextArea<'static> {
    let mut input = TextArea::default();
    input.set_placeholder_text(placeholder);
    input.set_cursor_line_style(ratatui::style::Style::new());
    input.set_wrap_mode(WrapMode::WordOrGlyph);
    input.set_cursor_style(ratatui::style::Style::new().add_modifier(Modifier::REVERSED));
    input
}

fn text_of(input: &TextArea<'_>) -> String {
    input.lines().join("\n").trim().to_string()
}

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
            match &mut state.popup {
                Some(Popup::Constraint(input) | Popup::AddTask(input)) => {
                    input.insert_str(text);
                }
                Some(Popup::RequeueNote { input, .. }) => {
                    input.insert_str(text.replace('\n', " "));
                }
                Some(Popup::Filter { pane, input }) => {
                    input.insert_str(text.replace('\n', " "));
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
    if state.popup.is_some() {
        return handle_popup_key(state, key);
    }
    match state.keymap.action_for(key, state.is_replay()) {
        Some(action) => update(state, action),
        None => Vec::new(),
    }
}

fn is_ctrl(key: &KeyEvent, c: char) -> bool {
    key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char(c)
}

fn handle_popup_key(state: &mut AppState, key: &KeyEvent) -> Vec<Command> {
    let Some(popup) = state.popup.take() else {
        return Vec::new();
    };
    let mut commands = Vec::new();
    let keep = match popup {
        Popup::Help { mut scroll } => match key.code {
            KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q' | '?') => None,
            KeyCode::Up | KeyCode::Char('k') => {
                scroll = scroll.saturating_sub(1);
                Some(Popup::Help { scroll })
            }
            KeyCode::Down | KeyCode::Char('j') => Some(Popup::Help { scroll: scroll + 1 }),
            KeyCode::PageUp => Some(Popup::Help {
                scroll: scroll.saturating_sub(10),
            }),
            KeyCode::PageDown | KeyCode::Char(' ') => Some(Popup::Help {
                scroll: scroll + 10,
            }),
            _ => Some(Popup::Help { scroll }),
        },
        Popup::Constraint(mut input) => {
            if key.code == KeyCode::Esc {
                None
            } else if is_ctrl(key, 's') {
                let text = text_of(&input);
                if text.is_empty() {
                    state.flash_error("the constraint is empty: type it, or Esc to cancel");
                    Some(Popup::Constraint(input))
                } else {
                    state.flash("constraint sent: agents see it at their next turn");
                    commands.push(Command::Engine(Control::InjectConstraint { text }));
                    None
                }
            } else {
                input.input(*key);
                Some(Popup::Constraint(input))
            }
        }
        Popup::AddTask(mut input) => {
            if key.code == KeyCode::Esc {
                None
            } else if is_ctrl(key, 's') {
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
            } else {
                input.input(*key);
                Some(Popup::AddTask(input))
            }
        }
        Popup::RequeueNote { task, mut input } => match key.code {
            KeyCode::Esc => None,
            KeyCode::Enter => {
                let note = text_of(&input);
                state.flash(format!("re-enqueued {task}"));
                commands.push(Command::Engine(Control::Requeue {
                    task,
                    note: (!note.is_empty()).then_some(note),
                }));
                None
            }
            _ => {
                input.input(*key);
                Some(Popup::RequeueNote { task, input })
            }
        },
        Popup::Filter { pane, mut input } => match key.code {
            KeyCode::Enter => None,
            KeyCode::Esc => {
                state.set_filter(pane, String::new());
                None
            }
            _ => {
                input.input(*key);
                state.set_filter(pane, text_of(&input));
                Some(Popup::Filter { pane, input })
            }
        },
        Popup::ConfirmQuit => match key.code {
            KeyCode::Char('y' | 'Y' | 'q') | KeyCode::Enter => {
                commands.push(Command::Quit);
                None
            }
            _ if is_ctrl(key, 'c') => {
                commands.push(Command::Quit);
                None
            }
            _ => None,
        },
        Popup::Answer { .. } if timeline_key(state, key).is_some() => {
            // While replaying, the timeline keys move on (and away from the answer).
            let action = timeline_key(state, key).unwrap_or(Action::StepBack);
            state.popup = None;
            return update(state, action);
        }
        Popup::Answer { selected } => {
            let cited = state
                .run()
                .answer
                .as_ref()
                .map(|a| a.cited.clone())
                .unwrap_or_default();
            match key.code {
                KeyCode::Esc | KeyCode::Char('q') => None,
                KeyCode::Up | KeyCode::Char('k') => Some(Popup::Answer {
                    selected: selected.saturating_sub(1),
                }),
                KeyCode::Down | KeyCode::Char('j') => Some(Popup::Answer {
                    selected: (selected + 1).min(cited.len().saturating_sub(1)),
                }),
                KeyCode::Enter => match cited.get(selected) {
                    Some(point) => {
                        state.context.select_point(point);
                        state.set_focus(Pane::Context);
                        None
                    }
                    None => None,
                },
                KeyCode::Char('y') => {
                    if let Some(answer) = &state.run().answer {
                        commands.push(Command::Copy {
                            what: "the final answer".into(),
                            text: answer.answer.clone(),
                        });
                    }
                    Some(Popup::Answer { selected })
                }
                _ => Some(Popup::Answer { selected }),
            }
        }
    };
    state.popup = keep;
    state.refresh();
    commands
}

/// The replay timeline action bound to `key`, when replaying.
fn timeline_key(state: &AppState, key: &KeyEvent) -> Option<Action> {
    if !state.is_replay() {
        return None;
    }
    state.keymap.action_for(key, true).filter(|a| {
        matches!(
            a,
            Action::StepBack
                | Action::StepForward
                | Action::PrevMark
                | Action::NextMark
                | Action::PlayPause
                | Action::JumpStart
                | Action::JumpEnd
        )
    })
}

fn handle_mouse(state: &mut AppState, mouse: &MouseEvent) {
    if state.popup.is_some() || state.layout.too_small {
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
        Pane::Detail => {}
    }
}

/// The plain text of the selected item and a name for it.
pub fn copy_text(state: &AppState) -> Option<(String, String)> {
    let run = state.run();
    match state.detail_subject() {
        Subject::Nothing => None,
        Subject::Task(id) => {
            let t = run.task(id)?;
            let mut text = format!("{} {}", t.id, t.title);
            if !t.detail.is_empty() {
                text.push_str(&format!("\n\n{}", t.detail));
            }
            if let Some(result) = &t.result {
                text.push_str(&format!("\n\nResult:\n{result}"));
            }
            Some((t.id.clone(), text))
        }
        Subject::Point(id) => {
            let p = run.point(id)?;
            let mut text = format!(
                "{} ({}) {}",
                p.point.id,
                p.point.kind.as_str(),
                p.point.headline
            );
            if !p.point.summary.is_empty() {
                text.push_str(&format!("\n\n{}", p.point.summary));
            }
            for ev in &p.point.evidence {
                let place = match &ev.lines {
                    Some(lines) => format!("{}:{lines}", ev.source),
                    None => ev.source.clone(),
                };
                text.push_str(&format!("\n\n{place}\n{}", ev.quote));
            }
            Some((p.point.id.clone(), text))
        }
        Subject::Agent(id) => {
            let transcript = state.fold.transcripts.get(id)?;
            let text = transcript
                .entries
                .iter()
                .map(|e| match e {
                    TranscriptEntry::Note(n) => format!("-- {n}"),
                    TranscriptEntry::Message(m) => m.clone(),
                    TranscriptEntry::Tool {
                        tool,
                        args,
                        ok,
                        output,
                    } => format!(
                        "[{tool} {args}] {}\n{output}",
                        if *ok { "ok" } else { "failed" }
                    ),
                })
                .collect::<Vec<_>>()
                .join("\n\n");
            Some((format!("{id}'s transcript"), text))
        }
    }
}

/// Whether the run is in a state where the clock matters (elapsed time, countdowns).
pub fn clock_running(state: &AppState) -> bool {
    matches!(state.source, Source::Live { engine_gone: false })
        && matches!(state.run().phase, Phase::Running | Phase::Finalising)
}
