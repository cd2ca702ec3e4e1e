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
    // Tab selects the next cited point (↓ scrolls the answer).
    press(&mut state, &[key(KeyCode::Tab), key(KeyCode::Enter)]);
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
    // A replay opens at the start (or where the user left it), not under the answer.
    assert_eq!(state.timeline().unwrap().position(), 0);
    assert!(state.popup.is_none());
    press(&mut state, &[key(KeyCode::End)]);
    assert_eq!(state.run(), &RunState::from_events(&events));
    assert!(
        matches!(state.popup, Some(Popup::Answer { .. })),
        "arriving at the end of a finished run shows its answer"
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

fn alt(c: char) -> TermEvent {
    TermEvent::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::ALT))
}

#[test]
fn the_editor_kills_a_line_with_ctrl_u_and_undoes_with_alt_u() {
    let (_dir, events) = events();
    let mut state = mid_run(&events);
    let mut keys = vec![ch('c')];
    keys.extend(typed("first line\nsecond"));
    keys.push(ctrl('u'));
    keys.extend(typed("other"));
    press(&mut state, &keys);
    let Some(Popup::Constraint(input)) = &state.popup else {
        panic!("the editor is open");
    };
    assert_eq!(
        input.lines(),
        ["first line", "other"],
        "C-u killed the line"
    );
    // Five undos take back "other", the sixth the kill.
    press(&mut state, &vec![alt('u'); 6]);
    let Some(Popup::Constraint(input)) = &state.popup else {
        panic!("the editor is open");
    };
    assert_eq!(input.lines(), ["first line", "second"], "M-u undid it");
}

#[test]
fn agents_go_past_64_up_to_the_engines_limit() {
    let (_dir, events) = events();
    let mut state = mid_run(&events);
    let mut keys = vec![ch(':')];
    keys.extend(typed("agents 100"));
    keys.push(key(KeyCode::Enter));
    assert_eq!(
        engine(press(&mut state, &keys)),
        vec![Control::SetAgents { count: 100 }]
    );
    assert_eq!(
        engine(press(&mut state, &[ch('+')])),
        vec![Control::SetAgents { count: 101 }]
    );
    let mut keys = vec![ch(':')];
    keys.extend(typed("ag 9999"));
    keys.push(key(KeyCode::Enter));
    assert_eq!(
        engine(press(&mut state, &keys)),
        vec![Control::SetAgents {
            count: delm::engine::board::MAX_AGENTS
        }]
    );
}

#[test]
fn search_finds_and_steps_through_matches_in_the_detail() {
    let (_dir, events) = events();
    let mut state = live_after(&events, events.len());
    // Close the answer, open a2's transcript in the detail pane.
    press(
        &mut state,
        &[key(KeyCode::Esc), key(KeyCode::Tab), key(KeyCode::Down)],
    );
    press(&mut state, &[key(KeyCode::Enter)]);
    assert_eq!(state.focus, Pane::Detail);
    let mut keys = vec![ch('/')];
    keys.extend(typed("p1"));
    keys.push(key(KeyCode::Enter));
    press(&mut state, &keys);
    let search = state.search.clone().expect("a search");
    let first = search.current.expect("a match");
    press(&mut state, &[ch('n')]);
    let second = state.search.as_ref().unwrap().current.unwrap();
    assert_ne!(first, second, "n moves to the next match");
    press(&mut state, &[ch('N')]);
    assert_eq!(state.search.as_ref().unwrap().current, Some(first));
    // Esc in the prompt clears the search.
    press(&mut state, &[ch('/'), key(KeyCode::Esc)]);
    assert!(state.search.is_none());
}

#[test]
fn zoom_gives_the_focused_pane_the_screen_and_back() {
    let (_dir, events) = events();
    let mut state = mid_run(&events);
    press(&mut state, &[ch('z')]);
    assert!(state.zoomed);
    assert_eq!(state.layout.queue.height, 38);
    assert_eq!(state.layout.agents.area(), 0);
    press(&mut state, &[ch('z')]);
    assert!(!state.zoomed && state.layout.agents.area() > 0);
}

#[test]
fn the_events_pane_opens_what_an_event_is_about() {
    let (_dir, events) = events();
    let mut state = live_after(&events, events.len());
    press(&mut state, &[key(KeyCode::Esc), ch('E')]);
    assert_eq!(state.focus, Pane::Events);
    // Only retries: the one row is a3's retry; Enter shows a3.
    press(&mut state, &[ch('f'), ch('f')]);
    assert_eq!(state.event_rows().len(), 1);
    press(&mut state, &[key(KeyCode::Enter)]);
    assert_eq!(state.focus, Pane::Detail);
    assert_eq!(
        state.detail_subject(),
        &delm::tui::Subject::Agent("a3".into())
    );
    // Back to the events pane, and E closes it.
    press(&mut state, &[key(KeyCode::Left)]);
    assert_eq!(state.focus, Pane::Events);
    press(&mut state, &[ch('E')]);
    assert_eq!(state.slot, Pane::Detail);
}

#[test]
fn evidence_copies_with_its_place_and_opens_at_its_line() {
    let (dir, events) = events();
    let mut state = live_after(&events, position_of(&events, "point_verified") + 1);
    // Context pane: Findings, P1; open it down to its evidence row.
    press(&mut state, &[key(KeyCode::Tab), key(KeyCode::Tab), ch('g')]);
    press(
        &mut state,
        &[key(KeyCode::Down), key(KeyCode::Enter), key(KeyCode::Enter)],
    );
    press(&mut state, &[key(KeyCode::Down), key(KeyCode::Down)]);
    let commands = press(&mut state, &[ch('y')]);
    let [Command::Copy { what, text }] = commands.as_slice() else {
        panic!("one copy: {commands:?}");
    };
    assert_eq!(what, "evidence 1 of P1");
    assert_eq!(
        text,
        "src/lex.rs:6\nwhile self.peek() == '#' { self.skip_line(); }"
    );
    let commands = press(&mut state, &[ch('e')]);
    let [Command::OpenEditor(at)] = commands.as_slice() else {
        panic!("the editor opens: {commands:?}");
    };
    assert_eq!(at.line, Some(4), "the cited span starts at line 4");
    assert_eq!(
        at.path,
        dir.path().join("src/lex.rs").canonicalize().unwrap()
    );
}

#[test]
fn the_help_popup_takes_only_the_keys_its_help_lists() {
    let (_dir, events) = events();
    let mut state = mid_run(&events);
    press(&mut state, &[ch('?')]);
    // Space pages down (as listed under "This help"), an unlisted key does nothing.
    press(&mut state, &[key(KeyCode::Char(' '))]);
    assert!(matches!(state.popup, Some(Popup::Help { scroll }) if scroll > 0));
    press(&mut state, &[ch('p')]);
    assert!(
        matches!(state.popup, Some(Popup::Help { .. })),
        "p is not a help key"
    );
    let sections = help_text(&mut state);
    assert!(
        sections.contains("This help") && sections.contains("Space"),
        "{sections}"
    );
    press(&mut state, &[ch('?')]);
    assert!(state.popup.is_none(), "? closes it, as listed");
}

/// The help as text (drawn at 120×200, tall enough for all of it).
fn help_text(state: &mut AppState) -> String {
    state.resize(120, 200);
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 200)).unwrap();
    terminal.draw(|f| delm::tui::draw(f, state)).unwrap();
    let text = terminal.backend().to_string();
    state.resize(120, 40);
    text
}

#[test]
fn a_replay_plays_at_the_recorded_pace_when_asked() {
    let (_dir, events) = events();
    let mut state = AppState::replay(events, Keymap::default(), Theme::default());
    state.resize(120, 40);
    press(&mut state, &[key(KeyCode::Right), key(KeyCode::Right)]);
    let t = state.timeline().unwrap();
    assert!(!t.real_time());
    press(&mut state, &[ch('R')]);
    let t = state.timeline().unwrap();
    assert!(t.real_time());
    // The fixture's events are 4 s apart; 5× real time waits 0.8 s.
    assert_eq!(
        t.next_delay(&state.log),
        std::time::Duration::from_millis(800)
    );
    assert!(state.flash.as_ref().unwrap().text.contains("real time"));
}

/// The README's Keys section is the keymap's help, generated: it cannot drift either.
#[test]
fn the_readme_keys_match_the_keymap() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = "<!-- keys: generated from src/tui/keymap.toml; a test checks it -->\n";
    let end = "<!-- keys end -->";
    let expected = delm::tui::keys_markdown(&Keymap::default());
    let Some(block) = readme
        .split_once(start)
        .and_then(|(_, rest)| rest.split_once(end))
        .map(|(block, _)| block)
    else {
        panic!("README.md has no generated keys block; put this between the markers:\n{expected}");
    };
    assert_eq!(
        block.trim(),
        expected.trim(),
        "README.md's keys differ from the keymap; replace the block with:\n{expected}"
    );
}
