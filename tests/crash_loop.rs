//! A crash loop: `delm run` is killed with SIGKILL at several moments of a run (a claim
//! whose model answer is half streamed, a verification waiting for the judge, a burst of
//! writes) and resumed each time. Whatever the moment, nothing verified is lost, sequence
//! numbers only rise, the run finishes once, and no task is finished twice without a
//! requeue between.

mod support;
mod swarm;

use delm::event::{Envelope, Event, PointStatus, RunState, StoppedBy};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};
use support::{Gate, MockLlm, RecordedRequest, Reply, Wire};
use swarm::*;

/// Which request makes the server hold its reply and tell the test to kill delm now.
const ARM_NONE: u8 = 0;
const ARM_WORK: u8 = 1;
const ARM_JUDGE: u8 = 2;
const ARM_FINAL: u8 = 3;

const DOCS: [(&str, &str); 4] = [
    (
        "alpha.txt",
        "Alpha Corp 2024 revenue was 12.5 million dollars.",
    ),
    ("beta.txt", "Beta Ltd 2024 revenue was 9.8 million dollars."),
    (
        "gamma.txt",
        "Gamma reported revenue of 7.1 million dollars in 2024.",
    ),
    (
        "delta.txt",
        "Delta revenue was 3.3 million dollars in 2024.",
    ),
];

struct Trap {
    armed: AtomicU8,
    sprung: Mutex<mpsc::Sender<u8>>,
    /// Opened by the server once half of a stalled work answer is on the wire.
    mid_stream: Gate,
}

impl Trap {
    /// Hold this request's reply (the process will be killed while it waits) when it is
    /// the kind the trap is armed for.
    fn check(&self, kind: u8, reply: Reply) -> Reply {
        if self
            .armed
            .compare_exchange(kind, ARM_NONE, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            let _ = self.sprung.lock().unwrap().send(kind);
            if kind == ARM_WORK {
                // The work answer starts streaming and stops half way: the kill lands
                // mid-stream, with part of a tool call received.
                return Reply::StallMidStream(self.mid_stream.clone(), Box::new(reply));
            }
            return Reply::Delay(Duration::from_secs(120), Box::new(reply));
        }
        reply
    }
}

fn script(trap: Arc<Trap>) -> impl Fn(&RecordedRequest, usize) -> Reply + Send + Sync {
    move |req, _| {
        if is_judge(req) {
            return trap.check(ARM_JUDGE, approve());
        }
        if is_finalise(req) {
            return trap.check(
                ARM_FINAL,
                final_answer(req, "Alpha Corp had the highest 2024 revenue."),
            );
        }
        let line = task_line(req);
        let Some((doc, body)) = DOCS.iter().find(|(d, _)| line.contains(d)) else {
            return finish("nothing to do");
        };
        let quote = body.trim_end_matches('.');
        let reply = match assistant_turns(req) {
            0 => Reply::Tools(vec![(
                "record_point".into(),
                json!({"kind": "finding", "headline": quote, "summary": quote,
                       "evidence": [{"source": doc, "quote": quote}]}),
            )]),
            _ => finish("recorded"),
        };
        trap.check(ARM_WORK, reply)
    }
}

fn delm(home: &Path) -> Command {
    let mut cmd = support::isolated_command(env!("CARGO_BIN_EXE_delm"), home);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    cmd
}

fn events(session: &Path) -> Vec<Envelope> {
    let log = delm::session::read_session(session).unwrap();
    assert!(log.bad_lines.is_empty(), "{:?}", log.bad_lines);
    log.events
}

/// Wait (bounded, generously) for the trap to spring or the file to show `min_events`.
fn wait_until(what: &str, mut done: impl FnMut() -> bool, child: &mut Child) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if done() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("delm exited ({status}) before {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}");
}

fn kill(child: &mut Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

/// The invariants that must hold of the log whatever was killed when.
fn check_log(log: &[Envelope], verified_before: &HashSet<String>) {
    let seqs: Vec<u64> = log.iter().map(|e| e.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] > w[0]),
        "seq not strictly increasing"
    );
    let state = RunState::from_events(log.iter());
    for id in verified_before {
        assert_eq!(
            state.point(id).map(|p| p.status),
            Some(PointStatus::Verified),
            "{id} was verified before a crash and is not any more"
        );
    }
    // A task finishes at most once per claim: between two finishes a requeue must come.
    let mut finished: HashMap<&str, bool> = HashMap::new();
    for e in log {
        match &e.event {
            Event::TaskFinished { task, .. } => {
                let again = finished.insert(task, true).unwrap_or(false);
                assert!(!again, "{task} finished twice without a requeue between");
            }
            Event::TaskRequeued { task, .. } => {
                finished.insert(task, false);
            }
            _ => {}
        }
    }
}

fn verified(log: &[Envelope]) -> HashSet<String> {
    RunState::from_events(log.iter())
        .live_points()
        .map(|p| p.point.id.clone())
        .collect()
}

#[test]
fn killed_at_any_moment_and_resumed_the_run_loses_nothing() {
    let home = tempfile::tempdir().unwrap();
    let docs: PathBuf = home.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    for (name, body) in DOCS {
        std::fs::write(docs.join(name), body).unwrap();
    }
    let (tx, sprung) = mpsc::channel();
    let trap = Arc::new(Trap {
        armed: AtomicU8::new(ARM_WORK),
        sprung: Mutex::new(tx),
        mid_stream: Gate::new(),
    });
    let mock = MockLlm::start_blocking(Wire::OpenAi, script(trap.clone()));
    let session = home.path().join("crash.jsonl");
    let start_run = || {
        delm(home.path())
            .args([
                "run",
                "Which vendor had the highest 2024 revenue?",
                "--docs",
                docs.to_str().unwrap(),
                "--headless",
                "--agents",
                "2",
                "--verify",
                "judge",
                "--base-url",
                &mock.base_url,
                "--session",
                session.to_str().unwrap(),
            ])
            .spawn()
            .unwrap()
    };
    let resume = || {
        delm(home.path())
            .args(["resume", session.to_str().unwrap(), "--headless"])
            .spawn()
            .unwrap()
    };

    // 1. During a claim, mid-stream: a task is claimed and its answer is half received.
    let mut child = start_run();
    wait_until(
        "a work call",
        || sprung.try_recv() == Ok(ARM_WORK),
        &mut child,
    );
    wait_until(
        "half of its answer on the wire",
        || trap.mid_stream.is_open(),
        &mut child,
    );
    kill(&mut child);
    let log = events(&session);
    assert!(
        log.iter()
            .any(|e| matches!(e.event, Event::TaskClaimed { .. })),
        "killed during a claim"
    );
    let mut seen = verified(&log);
    check_log(&log, &seen);

    // 2. Mid-verification: a point is proposed and the judge is thinking.
    trap.armed.store(ARM_JUDGE, Ordering::SeqCst);
    let mut child = resume();
    wait_until(
        "a judge call",
        || sprung.try_recv() == Ok(ARM_JUDGE),
        &mut child,
    );
    kill(&mut child);
    let log = events(&session);
    let state = RunState::from_events(log.iter());
    assert!(
        state
            .points
            .iter()
            .any(|p| p.status == PointStatus::Proposed),
        "killed with a point under verification"
    );
    check_log(&log, &seen);
    seen.extend(verified(&log));

    // 3. Mid-write: killed as soon as the log grows past what it held, while events pour in.
    // The finalise call is held, so this process cannot finish the run before the kill.
    trap.armed.store(ARM_FINAL, Ordering::SeqCst);
    let before = log.len();
    let mut child = resume();
    wait_until(
        "new events",
        || {
            std::fs::read_to_string(&session)
                .map(|t| t.lines().count() > before + 3)
                .unwrap_or(false)
        },
        &mut child,
    );
    kill(&mut child);
    // A torn last line is allowed after SIGKILL; the reader drops it, and resume too.
    let read = delm::session::read_session(&session).unwrap();
    assert!(read.bad_lines.is_empty(), "{:?}", read.bad_lines);
    check_log(&read.events, &seen);
    seen.extend(verified(&read.events));

    // 4. To the end.
    trap.armed.store(ARM_NONE, Ordering::SeqCst);
    let mut child = resume();
    let status = child.wait().unwrap();
    assert!(status.success(), "the last resume exits 0");
    let log = events(&session);
    check_log(&log, &seen);
    let finished: Vec<&Envelope> = log
        .iter()
        .filter(|e| matches!(e.event, Event::RunFinished { .. }))
        .collect();
    assert_eq!(finished.len(), 1, "run_finished exactly once");
    assert!(matches!(
        log.last().unwrap().event,
        Event::RunFinished { .. }
    ));
    let state = RunState::from_events(log.iter());
    assert_eq!(
        state.answer.as_ref().map(|a| a.stopped_by),
        Some(StoppedBy::Completed)
    );
    // Every document's finding is there (a task redone after a crash may record its point
    // again: this scripted judge approves everything, a real one flags the duplicate).
    for (doc, _) in DOCS {
        assert!(
            state
                .live_points()
                .any(|p| p.point.evidence.iter().any(|e| e.source == doc)),
            "no verified finding from {doc}"
        );
    }
    assert!(
        state
            .points
            .iter()
            .all(|p| p.status != PointStatus::Proposed),
        "no point left unverified"
    );
}
