//! Session logs on disk: write, read back, survive crashes, list.

use delm::engine::EventSink;
use delm::event::{
    Budgets, CallPurpose, Envelope, Event, Mode, Origin, Point, PointKind, StoppedBy, Totals,
    VerifyMode,
};
use delm::outcome::RunOutcome;
use delm::session::{
    SessionError, SessionStatus, SessionWriter, list_sessions, read_session, read_session_str,
};
use std::io::Write;
use std::path::Path;

fn env(seq: u64, event: Event) -> Envelope {
    Envelope {
        seq,
        ts: format!("2026-02-03T10:00:{:02}.000Z", seq % 60),
        event,
    }
}

fn started(goal: &str) -> Event {
    Event::RunStarted {
        run_id: "run".into(),
        goal: goal.into(),
        mode: Mode::Docs {
            roots: vec!["reports".into()],
        },
        model: "openai:gpt-4.1-mini".into(),
        agents: 2,
        verify: VerifyMode::Evidence,
        budgets: Budgets {
            max_cost_usd: Some(0.5),
            ..Budgets::default()
        },
        coordination: delm::event::Coordination::Delm,
        endpoint: None,
    }
}

/// A short run: a task, a verified finding, a priced call; finished when `finish` is set.
fn run_events(goal: &str, finish: bool) -> Vec<Envelope> {
    let mut events = vec![
        env(1, started(goal)),
        env(
            2,
            Event::TaskAdded {
                task: "T1".into(),
                title: "read q3.txt".into(),
                detail: "revenue \"per vendor\"\nwith ünïcode".into(),
                origin: Origin::Initial,
            },
        ),
        env(
            3,
            Event::TaskClaimed {
                task: "T1".into(),
                agent: "a1".into(),
                attempt: 1,
            },
        ),
        env(
            4,
            Event::PointProposed {
                point: Point {
                    id: "P1".into(),
                    kind: PointKind::Finding,
                    headline: "Acme revenue 2024: $12.4M".into(),
                    summary: String::new(),
                    evidence: vec![],
                    author: "a1".into(),
                    task: Some("T1".into()),
                    supersedes: None,
                },
            },
        ),
        env(
            5,
            Event::PointVerified {
                point: "P1".into(),
                note: None,
                evidence: None,
            },
        ),
        env(
            6,
            Event::LlmCall {
                agent: "a1".into(),
                task: Some("T1".into()),
                purpose: CallPurpose::Work,
                model: "gpt-4.1-mini".into(),
                tokens_in: 1_000,
                tokens_out: 200,
                tokens_cached_read: 0,
                tokens_cache_write: 0,
                cost_usd: Some(0.021),
                latency_ms: 800,
            },
        ),
    ];
    if finish {
        events.push(env(
            7,
            Event::RunFinished {
                answer: "Acme, by $1.1M (P1)".into(),
                cited: vec!["P1".into()],
                stopped_by: StoppedBy::Completed,
                totals: Totals {
                    calls: 1,
                    tokens_in: 1_000,
                    tokens_out: 200,
                    cost_usd: 0.021,
                    unpriced_calls: 0,
                    elapsed_ms: 6_000,
                    ..Totals::default()
                },
            },
        ));
    }
    events
}

fn write_all(path: &Path, events: &[Envelope]) {
    let mut writer = SessionWriter::create(path).unwrap();
    for e in events {
        writer.write(e).unwrap();
    }
    writer.sync().unwrap();
}

fn line(e: &Envelope) -> String {
    serde_json::to_string(e).unwrap()
}

#[test]
fn written_events_read_back_equal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions/run.jsonl");
    let events = run_events("Which vendor had the higher 2024 revenue?", true);
    write_all(&path, &events);

    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), events.len(), "one event per line");
    assert!(text.ends_with('\n'));

    let log = read_session(&path).unwrap();
    assert_eq!(log.events, events);
    assert!(log.bad_lines.is_empty());
    assert!(!log.torn_tail);
}

#[test]
fn torn_last_line_is_tolerated() {
    let events = run_events("g", false);
    let mut text: String = events.iter().map(|e| line(e) + "\n").collect();
    let last = line(&env(7, Event::Paused {}));
    text.push_str(&last[..last.len() / 2]);

    let log = read_session_str(&text);
    assert_eq!(log.events, events);
    assert!(log.torn_tail);
    assert!(log.bad_lines.is_empty(), "a torn tail is not reported");
}

#[test]
fn bad_middle_line_is_reported_and_its_neighbours_kept() {
    let events = run_events("g", true);
    let mut lines: Vec<String> = events.iter().map(line).collect();
    lines.insert(
        3,
        r#"{"seq": 99, "ts": "x", "type": "task_claimed", "task": "#.into(),
    );
    let text = lines.join("\n") + "\n";

    let log = read_session_str(&text);
    assert_eq!(log.events, events, "every good line survives");
    assert_eq!(log.bad_lines.len(), 1);
    assert_eq!(log.bad_lines[0].line, 4);
    assert!(!log.bad_lines[0].error.is_empty());
    assert!(!log.torn_tail);
}

#[test]
fn append_after_a_torn_tail_yields_a_clean_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crashed.jsonl");
    let events = run_events("g", false);
    write_all(&path, &events);
    // A crash mid-write: half of the next line reached the file.
    let torn = line(&env(7, Event::Paused {}));
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    file.write_all(&torn.as_bytes()[..20]).unwrap();
    drop(file);
    assert!(read_session(&path).unwrap().torn_tail);

    let resumed = env(
        7,
        Event::RunResumed {
            model: String::new(),
            agents: 2,
        },
    );
    let mut writer = SessionWriter::append(&path).unwrap();
    assert_eq!(writer.path(), path);
    writer.write(&resumed).unwrap();
    writer.sync().unwrap();

    let log = read_session(&path).unwrap();
    assert!(!log.torn_tail);
    assert!(log.bad_lines.is_empty());
    let mut expected = events.clone();
    expected.push(resumed);
    assert_eq!(log.events, expected);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.lines()
            .all(|l| serde_json::from_str::<Envelope>(l).is_ok())
    );
}

#[test]
fn append_completes_a_last_line_that_lost_only_its_newline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-newline.jsonl");
    let events = run_events("g", false);
    let text = events.iter().map(line).collect::<Vec<_>>().join("\n");
    std::fs::write(&path, text).unwrap();

    let mut writer = SessionWriter::append(&path).unwrap();
    writer.write(&env(7, Event::Resumed {})).unwrap();
    drop(writer);
    let log = read_session(&path).unwrap();
    assert_eq!(log.events.len(), events.len() + 1);
    assert!(log.bad_lines.is_empty() && !log.torn_tail);
}

#[test]
fn append_refuses_a_file_that_is_not_a_session() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.jsonl");
    std::fs::write(&path, "{\"hello\": 1}\n").unwrap();
    let err = SessionWriter::append(&path).unwrap_err();
    assert!(matches!(err, SessionError::NotASession { .. }), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"hello\": 1}\n");
}

#[test]
fn listing_shows_finished_and_interrupted_runs_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    write_all(
        &dir.path().join("20260203-100000-aaaa.jsonl"),
        &run_events("Which vendor had the higher 2024 revenue?", true),
    );
    // Started an hour later and killed before it finished.
    let mut later = run_events("Why does test_parse_comments fail?", false);
    for e in &mut later {
        e.ts = e.ts.replace("T10:", "T11:");
    }
    write_all(&dir.path().join("20260203-110000-bbbb.jsonl"), &later);
    // An unreadable file sorts by its modification time, here between the two runs.
    let garbage = dir.path().join("garbage.jsonl");
    std::fs::write(&garbage, "not a session\n").unwrap();
    let between = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_770_114_600); // 2026-02-03T10:30Z
    std::fs::File::options()
        .write(true)
        .open(&garbage)
        .unwrap()
        .set_modified(between)
        .unwrap();
    std::fs::write(dir.path().join("README.txt"), "ignored").unwrap();

    let list = list_sessions(dir.path()).unwrap();
    let ids: Vec<&str> = list.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        ["20260203-110000-bbbb", "garbage", "20260203-100000-aaaa"]
    );

    let interrupted = &list[0];
    assert_eq!(
        interrupted.status,
        SessionStatus::Ended(RunOutcome::Interrupted)
    );
    assert_eq!(interrupted.goal, "Why does test_parse_comments fail?");
    assert_eq!(interrupted.events, 6);

    let finished = &list[2];
    assert_eq!(finished.status, SessionStatus::Ended(RunOutcome::Done));
    assert_eq!(finished.answer.as_deref(), Some("Acme, by $1.1M (P1)"));
    assert_eq!(finished.started, "2026-02-03T10:00:01.000Z");
    assert_eq!(finished.tasks, Some(1));
    assert_eq!(finished.points_verified, Some(1));
    assert_eq!(finished.tokens(), Some(1_200));
    let totals = finished.totals.as_ref().unwrap();
    assert!(totals.unpriced_calls < totals.calls && (totals.cost_usd - 0.021).abs() < 1e-9);
    assert_eq!(finished.events, 7);

    match &list[1].status {
        SessionStatus::Unreadable(reason) => {
            assert!(reason.contains("not a delm session"), "{reason}")
        }
        other => panic!("garbage.jsonl should be unreadable, got {other:?}"),
    }

    let table = delm::session::format_sessions_table(&list, 100);
    assert_eq!(table.lines().count(), 4, "{table}");
    assert!(
        table.contains("INTERRUPTED") && table.contains("$0.021"),
        "{table}"
    );
}

#[test]
fn listing_a_missing_directory_is_empty_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("never-created");
    assert!(list_sessions(&missing).unwrap().is_empty());
}

#[test]
fn run_finished_leaves_nothing_to_sync() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.jsonl");
    let events = run_events("g", true);
    let mut writer = SessionWriter::create(&path).unwrap();
    assert!(!writer.needs_sync());
    for e in &events[..events.len() - 1] {
        writer.write(e).unwrap();
    }
    assert!(
        writer.needs_sync(),
        "events written within a second wait for the tick"
    );
    writer.write(events.last().unwrap()).unwrap();
    assert!(!writer.needs_sync(), "run_finished is synced at once");
}

#[test]
fn a_quiet_second_triggers_a_sync_on_the_next_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = SessionWriter::create(&dir.path().join("run.jsonl")).unwrap();
    writer.write(&env(1, started("g"))).unwrap();
    assert!(writer.needs_sync());
    std::thread::sleep(std::time::Duration::from_millis(1_050));
    writer.write(&env(2, Event::Paused {})).unwrap();
    assert!(!writer.needs_sync());
}

#[test]
fn reading_a_large_log_is_fast() {
    let events = run_events("g", false);
    let mut text = String::new();
    for i in 0..100_000u64 {
        let mut e = events[(i as usize % (events.len() - 1)) + 1].clone();
        e.seq = i + 2;
        text.push_str(&line(&e));
        text.push('\n');
    }
    let start = std::time::Instant::now();
    let log = read_session_str(&text);
    let took = start.elapsed();
    assert_eq!(log.events.len(), 100_000);
    // Generous for an unoptimised test build on a busy machine; release is far faster.
    assert!(took.as_secs() < 10, "reading 100k events took {took:?}");
}

#[test]
fn the_story_of_a_recorded_run_ends_with_its_answer() {
    let story = delm::story::replay_story(&run_events("g", true));
    assert!(story.contains("a1 claimed T1 \"read q3.txt\""), "{story}");
    assert!(story.contains("P1 verified"), "{story}");
    assert!(story.contains("Acme, by $1.1M (P1)"), "{story}");
    assert!(
        story.contains("P1 finding: Acme revenue 2024: $12.4M"),
        "{story}"
    );
}
