//! Key sequences produce the expected engine controls, and replay stepping shows exactly
//! the fold of the first k events.

mod support_tui;

use crossterm::event::{
    Event as TermEvent, KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use delm::engine::Control;
use delm::event::{Envelope, RunState, TaskState};
use delm::tui::{AppState, Command, Keymap, Pane, Popup, Theme, handle_event};
use support_tui::{position_of, sample_run, write_repo};

fn events() -> (tempfile::TempDir, Vec<Envelope>) {
    let dir = tempfile::tempdir().unwrap();
    write_repo(dir.path());
    let events = sample_run(dir.path());
    (dir, events)
}

/// A live state after the first `k` events, laid out at 120×40.
fn live_after(events: &[Envelope], k: usize) -> AppState {
    let mut state = AppState::live(Keymap::default(), Theme::default());
    state.resize(120, 40);
    for env in &events[..k] {
        state.apply(env);
    }
    state
}

/// Mid-run: before the human pause, with T3 still claimed.
fn mid_run(events: &[Envelope]) -> AppState {
    live_after(events, position_of(events, "paused") - 1)
}

fn key(code: KeyCode) -> TermEvent {
    TermEvent::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn ch(c: char) -> TermEvent {
    key(KeyCode::Char(c))
}

fn ctrl(c: char) -> TermEvent {
    TermEvent::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

fn press(state: &mut AppState, events: &[TermEvent]) -> Vec<Command> {
    events.iter().flat_map(|e| handle_event(state, e)).collect()
}

fn typed(text: &str) -> Vec<TermEvent> {
    text.chars()
        .map(|c| {
            if c == '\n' {
                key(KeyCode::Enter)
            } else {
                ch(c)
            }
        })
        .collect()
}

fn engine(commands: Vec<Command>) -> Vec<Control> {
    commands
        .into_iter()
        .filter_map(|c| match c {
            Command::Engine(control) => Some(control),
            _ => None,
        })
        .collect()
}

/// Select a queue task through the filter, as a user would: `/`, its id, Enter.
fn select_task(state: &mut AppState, id: &str) {
    // Esc clears any earlier filter; then type the id.
    let mut keys = vec![ch('/'), key(KeyCode::Esc), ch('/')];
    keys.extend(typed(id));
    keys.push(key(KeyCode::Enter));
    assert!(press(state, &keys).is_empty());
    assert_eq!(state.selected_task().map(|t| t.id.as_str()), Some(id));
}

#[test]
fn p_pauses_and_p_again_resumes_before_any_event_confirms() {
    let (_dir, events) = events();
    let mut state = mid_run(&events);
    assert_eq!(engine(press(&mut state, &[ch('p')])), vec![Control::Pause]);
    assert_eq!(engine(press(&mut state, &[ch('p')])), vec![Control::Resume]);
    // Once the engine confirms a pause, p resumes.
    state.apply(&events[position_of(&events, "paused") - 1]);
    assert_eq!(engine(press(&mut state, &[ch('p')])), vec![Control::Resume]);
}

#[test]
fn c_text_ctrl_s_injects_a_constraint() {
    let (_dir, events) = events();
    let mut state = mid_run(&events);
    let mut keys = vec![ch('c')];
    keys.extend(typed("keep the public API\nstable"));
    assert!(
        press(&mut state, &keys).is_empty(),
        "nothing is sent while typing"
    );
    assert!(matches!(state.popup, Some(Popup::Constraint(_))));
    assert_eq!(
        engine(press(&mut state, &[ctrl('s')])),
        vec![Control::InjectConstraint {
            text: "keep the public API\nstable".into()
        }]
    );
    assert!(state.popup.is_none());
}

#[test]
fn esc_cancels_the_editor_and_an_empty_constraint_is_refused() {
    let (_dir, events) = events();
    let mut state = mid_run(&events);
    let mut keys = vec![ch('c')];
    keys.extend(typed("never mind"));
    keys.push(key(KeyCode::Esc));
    assert!(press(&mut state, &keys).is_empty());
    assert!(state.popup.is_none());
    assert!(press(&mut state, &[ch('c'), ctrl('s')]).is_empty());
    assert!(
        matches!(state.popup, Some(Popup::Constraint(_))),
        "stays open"
    );
    assert!(state.flash.as_ref().unwrap().is_error);
}

#[test]
fn r_note_enter_requeues_the_selected_task() {
    let (_dir, events) = events();
    let mut state = mid_run(&events);
    select_task(&mut state, "T3");
    let mut keys = vec![ch('r')];
    keys.extend(typed("try the v1.2 tag instead"));
    keys.push(key(KeyCode::Enter));
    assert_eq!(
        engine(press(&mut state, &keys)),
        vec![Control::Requeue {
            task: "T3".into(),
            note: Some("try the v1.2 tag instead".into())
        }]
    );
    // A done task can be re-enqueued too, and the note is optional.
    select_task(&mut state, "T2");
    assert_eq!(state.selected_task().unwrap().state, TaskState::Done);
    assert_eq!(
        engine(press(&mut state, &[ch('r'), key(KeyCode::Enter)])),
        vec![Control::Requeue {
            task: "T2".into(),
            note: None
        }]
    );
}

#[test]
fn x_cancels_a_claimed_task_but_not_a_finished_one() {
    let (_dir, events) = events();
    let mut state = mid_run(&events);
    select_task(&mut state, "T3");
    assert_eq!(
        engine(press(&mut state, &[ch('x')])),
        vec![Control::Cancel {
            task: "T3".into(),
            note: None
        }]
    );
    select_task(&mut state, "T1");
    assert!(press(&mut state, &[ch('x')]).is_empty());
    assert!(
        state
            .flash
            .as_ref()
            .unwrap()
            .text
            .contains("T1 has already ended")
    );
}

#[test]
fn a_adds_a_task_with_title_and_detail() {
    let (_dir, events) = events();
    let mut state = mid_run(&events);
    let mut keys = vec![ch('a')];
    keys.extend(typed(
        "check CRLF input\nRun the lexer on a file with \\r\\n endings.",
    ));
    keys.push(ctrl('s'));
    assert_eq!(
        engine(press(&mut state, &keys)),
        vec![Control::AddTask {
            title: "check CRLF input".into(),
            detail: "Run the lexer on a file with \\r\\n endings.".into()
        }]
    );
}

#[test]
fn plus_and_minus_change_the_agent_count_cumulatively() {
    let (_dir, events) = events();
    let mut state = mid_run(&events);
    assert_eq!(
        engine(press(&mut state, &[ch('+'), ch('+'), ch('-')])),
        vec![
            Control::SetAgents { count: 4 },
            Control::SetAgents { count: 5 },
            Control::SetAgents { count: 4 },
        ]
    );
}

#[test]
fn quit_asks_while_the_run_goes_and_not_after() {
    let (_dir, events) = events();
    let mut state = mid_run(&events);
    assert!(press(&mut state, &[ch('q')]).is_empty());
    assert!(matches!(state.popup, Some(Popup::ConfirmQuit)));
    assert!(press(&mut state, &[ch('n')]).is_empty());
    assert!(state.popup.is_none());
    assert_eq!(press(&mut state, &[ch('q'), ch('y')]), vec![Command::Quit]);

    let mut done = live_after(&events, events.len());
    assert!(
        matches!(done.popup, Some(Popup::Answer { .. })),
        "answer pops up at DONE"
    );
    press(&mut done, &[key(KeyCode::Esc)]);
    assert_eq!(press(&mut done, &[ch('q')]), vec![Command::Quit]);
    assert!(
        press(&mut done, &[ch('p')]).is_empty(),
        "no steering after the run"
    );
}

#[test]
fn answer_popup_jumps_to_a_cited_point() {
    let (_dir, events) = events();
    let mut state = live_after(&events, events.len());
    press(&mut state, &[key(KeyCode::Down), key(KeyCode::Enter)]);
    assert!(state.popup.is_none());
    assert_eq!(state.focus, Pane::Context);
    assert_eq!(state.context.selected_point(), Some("P4"));
}

#[test]
fn y_copies_the_selected_item() {
    let (_dir, events) = events();
    let mut state = mid_run(&events);
    select_task(&mut state, "T2");
    let commands = press(&mut state, &[ch('y')]);
    let [Command::Copy { what, text }] = commands.as_slice() else {
        panic!("expected one copy, got {commands:?}");
    };
    assert_eq!(what, "T2");
    assert!(text.starts_with("T2 check lexer state around comments"));
    assert!(text.contains("Comments are consumed by skip_ws (P1)."));
}

#[test]
fn mouse_click_focuses_and_selects() {
    let (_dir, events) = events();
    let mut state = mid_run(&events);
    let rect = state.layout.context;
    let click = TermEvent::Mouse(MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: rect.x + 4,
        row: rect.y + 2, // second row inside the border: C1 under "Constraints"
        modifiers: KeyModifiers::NONE,
    });
    press(&mut state, &[click]);
    assert_eq!(state.focus, Pane::Context);
    assert_eq!(state.context.selected_point(), Some("C1"));
}

#[test]
fn replayed_events_after_a_resync_are_not_applied_twice() {
    let (_dir, events) = events();
    let mut state = live_after(&events, 20);
    for env in &events[..30] {
        state.apply(env); // what a lagging subscriber gets from events_since
    }
    assert_eq!(state.run(), &RunState::from_events(&events[..30]));
}

#[test]
fn replay_stepping_equals_folding_the_first_k_events() {
    let (_dir, events) = events();
    let mut state = AppState::replay(events.clone(), Keymap::default(), Theme::default());
    state.resize(120, 40);
    assert_eq!(state.run(), &RunState::from_events(&events));
    assert!(
        matches!(state.popup, Some(Popup::Answer { .. })),
        "a finished run opens on its answer"
    );
    press(&mut state, &[key(KeyCode::Esc), key(KeyCode::Home)]);
    assert_eq!(state.timeline().unwrap().position(), 0);
    for k in 1..=events.len() {
        press(&mut state, &[key(KeyCode::Right)]);
        assert_eq!(
            state.run(),
            &RunState::from_events(&events[..k]),
            "forward to {k}"
        );
    }
    for k in (0..events.len()).rev() {
        press(&mut state, &[key(KeyCode::Left)]);
        assert_eq!(
            state.run(),
            &RunState::from_events(&events[..k]),
            "back to {k}"
        );
    }
    // `]` stops just after the next task or point event.
    press(&mut state, &[ch(']'), ch(']')]);
    let k = state.timeline().unwrap().position();
    assert_eq!(events[k - 1].event.type_name(), "task_claimed");
    assert_eq!(state.run(), &RunState::from_events(&events[..k]));
    press(&mut state, &[ch('[')]);
    assert_eq!(
        events[state.timeline().unwrap().position() - 1]
            .event
            .type_name(),
        "task_added"
    );
    press(&mut state, &[key(KeyCode::End)]);
    assert_eq!(state.timeline().unwrap().position(), events.len());
}

#[test]
fn replay_is_read_only() {
    let (_dir, events) = events();
    let mut state = AppState::replay(events, Keymap::default(), Theme::default());
    state.resize(120, 40);
    state.popup = None;
    assert!(press(&mut state, &[ch('p'), ch('x'), ch('c')]).is_empty());
    assert!(state.popup.is_none());
    assert!(state.flash.as_ref().unwrap().text.contains("read-only"));
    assert_eq!(press(&mut state, &[ch('q')]), vec![Command::Quit]);
}
