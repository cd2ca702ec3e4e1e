//! Snapshots of every pane and view (the events pane, agent transcripts, search, zoom, the
//! markdown answer scrolled, document evidence, patches, the command line, help search), at
//! 120×40 and 80×24, from the hand-built runs in `support_tui`.

mod support_tui;

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use delm::engine::StreamDelta;
use delm::event::{Envelope, parse_ts};
use delm::tui::{AppState, Keymap, Theme, draw, handle_event};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use support_tui::{docs_run, patch_run, position_of, sample_run, write_docs, write_repo};

const SIZES: [(u16, u16); 2] = [(120, 40), (80, 24)];

struct Fixture {
    _dir: tempfile::TempDir,
    events: Vec<Envelope>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    write_repo(dir.path());
    let events = sample_run(dir.path());
    Fixture { _dir: dir, events }
}

/// A live state after `k` events, with the clock `seconds_after` the k-th event.
fn live_at(events: &[Envelope], k: usize, seconds_after: i64) -> AppState {
    let mut state = AppState::live(Keymap::default(), Theme::default());
    for env in &events[..k] {
        state.apply(env);
    }
    state.now = parse_ts(&events[k - 1].ts).map(|t| t + time::Duration::seconds(seconds_after));
    state
}

fn keys(state: &mut AppState, keys: &[KeyCode]) {
    for code in keys {
        handle_event(
            state,
            &TermEvent::Key(KeyEvent::new(*code, KeyModifiers::NONE)),
        );
    }
}

fn typed(state: &mut AppState, text: &str) {
    for c in text.chars() {
        keys(state, &[KeyCode::Char(c)]);
    }
}

/// A live state after every event of `events`, the clock a little later.
fn finished(events: &[Envelope]) -> AppState {
    live_at(events, events.len(), 5)
}

fn render(state: &mut AppState, width: u16, height: u16) -> String {
    state.resize(width, height);
    state.load_sources();
    state.flash = None; // transient confirmations are not part of the picture
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| draw(frame, state)).unwrap();
    terminal.backend().to_string()
}

/// Snapshot `state` at both sizes; `prepare` runs after each resize (selection, popups).
fn snap(name: &str, make: impl Fn() -> AppState, prepare: impl Fn(&mut AppState)) {
    for (width, height) in SIZES {
        let mut state = make();
        state.resize(width, height);
        prepare(&mut state);
        let screen = render(&mut state, width, height);
        insta::assert_snapshot!(format!("{name}_{width}x{height}"), screen);
    }
}

#[test]
fn live_run_with_retry_and_streaming() {
    let f = fixture();
    let k = position_of(&f.events, "llm_retry");
    snap(
        "live_mid_run",
        || {
            let mut state = live_at(&f.events, k, 2);
            for text in [
                "Comparing the lexer ",
                "with v1.2:\n",
                "v1.2 kept a Comment token.\nChecking git log",
            ] {
                state.push_delta(&StreamDelta {
                    agent: "a3".into(),
                    text: text.into(),
                });
            }
            state
        },
        |_| {},
    );
}

#[test]
fn context_tree_expanded_with_numbered_source_in_detail() {
    let f = fixture();
    let k = position_of(&f.events, "point_verified") + 12; // P1..P4 proposed, P3 rejected
    snap(
        "context_expanded",
        || live_at(&f.events, k, 1),
        |state| {
            // Focus the context pane, go to P1 (Constraints, C1, Findings, P1) and open two levels.
            keys(state, &[KeyCode::Tab, KeyCode::Tab, KeyCode::Char('g')]);
            keys(state, &[KeyCode::Down, KeyCode::Down, KeyCode::Down]);
            keys(state, &[KeyCode::Enter, KeyCode::Enter]);
        },
    );
}

#[test]
fn context_grouped_by_task() {
    let f = fixture();
    let k = position_of(&f.events, "paused");
    snap(
        "context_by_task",
        || live_at(&f.events, k, 1),
        |state| {
            keys(state, &[KeyCode::Tab, KeyCode::Tab, KeyCode::Char('t')]);
        },
    );
}

#[test]
fn agent_detail_shows_the_transcript() {
    let f = fixture();
    let k = position_of(&f.events, "llm_retry") + 2;
    snap(
        "agent_detail",
        || live_at(&f.events, k, 1),
        |state| {
            // Agents pane, a2, open in detail.
            keys(state, &[KeyCode::Tab, KeyCode::Down, KeyCode::Enter]);
        },
    );
}

#[test]
fn task_detail_and_paused_status() {
    let f = fixture();
    let k = position_of(&f.events, "paused") + 1;
    snap(
        "task_detail_pausing",
        || live_at(&f.events, k, 3),
        |state| {
            // The queue lists claimed, queued, then finished tasks; go to the last (T1).
            keys(state, &[KeyCode::Char('G')]);
        },
    );
}

#[test]
fn help_overlay() {
    let f = fixture();
    snap(
        "help",
        || live_at(&f.events, 12, 0),
        |state| keys(state, &[KeyCode::Char('?')]),
    );
}

#[test]
fn constraint_editor() {
    let f = fixture();
    snap(
        "constraint_editor",
        || live_at(&f.events, 12, 0),
        |state| {
            keys(state, &[KeyCode::Char('c')]);
            for c in "do not change the public API of Lexer".chars() {
                keys(state, &[KeyCode::Char(c)]);
            }
        },
    );
}

#[test]
fn final_answer_popup() {
    let f = fixture();
    snap(
        "final_answer",
        || live_at(&f.events, f.events.len(), 5),
        |state| keys(state, &[KeyCode::Down]),
    );
}

#[test]
fn replay_timeline_in_status_bar() {
    let f = fixture();
    snap(
        "replay",
        || {
            let mut state = AppState::replay(f.events.clone(), Keymap::default(), Theme::default());
            state.popup = None;
            state
        },
        |state| {
            keys(state, &[KeyCode::Home]);
            for _ in 0..6 {
                keys(state, &[KeyCode::Char(']')]);
            }
        },
    );
}

#[test]
fn empty_live_view_and_too_small_terminal() {
    let mut state = AppState::live(Keymap::default(), Theme::default());
    insta::assert_snapshot!("empty_80x24", render(&mut state, 80, 24));
    insta::assert_snapshot!("too_small", render(&mut state, 50, 12));
}

#[test]
fn events_pane() {
    let f = fixture();
    snap(
        "events_pane",
        || finished(&f.events),
        |state| {
            keys(state, &[KeyCode::Esc, KeyCode::Char('E')]);
        },
    );
}

#[test]
fn events_pane_filtered_to_one_kind() {
    let f = fixture();
    snap(
        "events_pane_retries",
        || finished(&f.events),
        |state| {
            keys(state, &[KeyCode::Esc, KeyCode::Char('E')]);
            // every kind → error → retry
            keys(state, &[KeyCode::Char('f'), KeyCode::Char('f')]);
        },
    );
}

#[test]
fn agent_transcript_across_tasks_unfolded_and_zoomed() {
    let f = fixture();
    snap(
        "agent_transcript_zoomed",
        || finished(&f.events),
        |state| {
            // Agents pane, a1 (three tasks), open its transcript, unfold outputs, zoom.
            keys(state, &[KeyCode::Esc, KeyCode::Tab, KeyCode::Enter]);
            keys(state, &[KeyCode::Enter, KeyCode::Char('z')]);
        },
    );
}

#[test]
fn search_in_a_transcript() {
    let f = fixture();
    snap(
        "transcript_search",
        || finished(&f.events),
        |state| {
            keys(
                state,
                &[KeyCode::Esc, KeyCode::Tab, KeyCode::Down, KeyCode::Enter],
            );
            keys(state, &[KeyCode::Char('/')]);
            typed(state, "verified");
            keys(state, &[KeyCode::Enter]);
        },
    );
}

#[test]
fn markdown_answer_scrolled() {
    let dir = tempfile::tempdir().unwrap();
    write_docs(dir.path());
    let events = docs_run(dir.path());
    snap(
        "answer_markdown",
        || finished(&events),
        |state| keys(state, &[KeyCode::Char('j'), KeyCode::Char('j')]),
    );
}

#[test]
fn document_evidence_with_numbered_lines() {
    let dir = tempfile::tempdir().unwrap();
    write_docs(dir.path());
    let events = docs_run(dir.path());
    snap(
        "document_evidence",
        || finished(&events),
        |state| {
            // Close the answer; the context pane, P1, open to its evidence.
            keys(state, &[KeyCode::Esc, KeyCode::Tab, KeyCode::Tab]);
            keys(state, &[KeyCode::Char('g'), KeyCode::Down]);
            keys(
                state,
                &[KeyCode::Enter, KeyCode::Enter, KeyCode::Down, KeyCode::Down],
            );
        },
    );
}

#[test]
fn verified_patches_with_their_checks() {
    let dir = tempfile::tempdir().unwrap();
    write_repo(dir.path());
    let events = patch_run(dir.path());
    snap(
        "patches",
        || finished(&events),
        // The finished run opens on its answer; close it, then the patches.
        |state| keys(state, &[KeyCode::Esc, KeyCode::Char('D')]),
    );
}

#[test]
fn command_line_completion() {
    let f = fixture();
    snap(
        "command_line",
        || live_at(&f.events, 12, 0),
        |state| {
            keys(state, &[KeyCode::Char(':')]);
            typed(state, "ag");
            keys(state, &[KeyCode::Tab]);
            typed(state, "12");
        },
    );
}

#[test]
fn help_searched() {
    let f = fixture();
    snap(
        "help_search",
        || live_at(&f.events, 12, 0),
        |state| {
            keys(state, &[KeyCode::Char('?'), KeyCode::Char('/')]);
            typed(state, "undo");
            keys(state, &[KeyCode::Enter]);
        },
    );
}

#[test]
fn quit_confirmation() {
    let f = fixture();
    snap(
        "confirm_quit",
        || live_at(&f.events, 12, 0),
        |state| keys(state, &[KeyCode::Char('q')]),
    );
}

/// The sample run, ended another way: the last event's `stopped_by` (and answer) replaced.
fn ended_by(stopped_by: delm::event::StoppedBy, answer: &str) -> Fixture {
    let mut f = fixture();
    let last = f.events.last_mut().unwrap();
    let delm::event::Event::RunFinished {
        stopped_by: by,
        answer: text,
        ..
    } = &mut last.event
    else {
        panic!("the sample run ends with run_finished")
    };
    *by = stopped_by;
    *text = answer.to_string();
    f
}

#[test]
fn status_bar_of_a_failed_run_and_of_a_budget_stop() {
    // The status bar names how the run ended, in the words every front end uses.
    let f = ended_by(
        delm::event::StoppedBy::Error,
        "the provider rejected the key (HTTP 401): set OPENAI_API_KEY",
    );
    snap("status_failed", || finished(&f.events), |_| {});
    let f = ended_by(
        delm::event::StoppedBy::Budget,
        "From what was verified before the budget ran out: the lexer drops the comment.",
    );
    snap("status_budget", || finished(&f.events), |_| {});
}
