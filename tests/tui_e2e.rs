//! The real binary in a real terminal: tmux runs `delm run` (TUI) against the scripted
//! server; keys go in with `send-keys`, the screen comes back with `capture-pane`.
//! `.ci/run` installs tmux when it is missing.

mod support;
mod swarm;

use delm::event::{Event, RunState, TaskState};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use support::{MockLlm, RecordedRequest, Reply, Wire};
use swarm::*;

const DOCS: [(&str, &str); 6] = [
    (
        "alpha.txt",
        "Alpha Corp 2024 revenue was 12.5 million dollars.",
    ),
    ("beta.txt", "Beta Ltd 2024 revenue was 9.8 million dollars."),
    (
        "gamma.txt",
        "Gamma Inc 2024 revenue was 7.1 million dollars.",
    ),
    (
        "delta.txt",
        "Delta plc 2024 revenue was 3.3 million dollars.",
    ),
    (
        "epsilon.txt",
        "Epsilon AG 2024 revenue was 2.2 million dollars.",
    ),
    ("zeta.txt", "Zeta SA 2024 revenue was 1.4 million dollars."),
];

/// Until the test sets this, only the first document's task may finish: the others keep
/// reading, so the run cannot end before the test has steered it (whatever the machine's load).
static RELEASED: AtomicBool = AtomicBool::new(false);

/// Each document task reads its document a few times, records its one sentence, then
/// finishes; every reply takes a while so the test can act mid-run.
fn script(req: &RecordedRequest, _n: usize) -> Reply {
    let slow = |r| Reply::Delay(Duration::from_millis(500), Box::new(r));
    if is_finalise(req) {
        return slow(final_answer(
            req,
            "Alpha Corp had the highest 2024 revenue.",
        ));
    }
    let line = task_line(req);
    let Some((doc, text)) = DOCS.iter().find(|(d, _)| line.contains(d)) else {
        return slow(finish("nothing to do"));
    };
    let quote = text.trim_end_matches('.');
    let turn = assistant_turns(req);
    let held = *doc != "alpha.txt" && !RELEASED.load(Ordering::SeqCst) && turn < 20;
    slow(match turn {
        _ if held => Reply::Tools(vec![("read_doc".into(), serde_json::json!({"doc": doc}))]),
        0..=2 => Reply::Tools(vec![("read_doc".into(), serde_json::json!({"doc": doc}))]),
        3 => record("finding", quote, doc, quote),
        _ => finish("recorded"),
    })
}

struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux is installed (.ci/run installs it)")
    }
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "e2e"];
        args.extend_from_slice(keys);
        assert!(self.cmd(&args).status.success());
    }
    fn literal(&self, text: &str) {
        assert!(
            self.cmd(&["send-keys", "-t", "e2e", "-l", text])
                .status
                .success()
        );
    }
    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-t", "e2e", "-p"]).stdout).into_owned()
    }
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if pred(&screen) {
                return screen;
            }
            if start.elapsed() > Duration::from_secs(40) {
                panic!("timed out waiting for {what}; the screen was:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

fn state_of(session: &Path) -> RunState {
    match delm::session::read_session(session) {
        Ok(log) => RunState::from_events(log.events.iter()),
        Err(_) => RunState::default(),
    }
}

fn wait_state(session: &Path, what: &str, pred: impl Fn(&RunState) -> bool) -> RunState {
    let start = Instant::now();
    loop {
        let s = state_of(session);
        if pred(&s) {
            return s;
        }
        if start.elapsed() > Duration::from_secs(40) {
            panic!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

#[test]
fn steer_a_live_run_in_a_real_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let docs: PathBuf = dir.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    for (name, text) in DOCS {
        std::fs::write(docs.join(name), text).unwrap();
    }
    let session = dir.path().join("tui.jsonl");
    let exit_file = dir.path().join("exit-code");
    let mock = MockLlm::start_blocking(Wire::OpenAi, script);
    let command = format!(
        "env -i PATH=\"$PATH\" HOME={home} TERM=xterm-256color DELM_DATA_DIR={home}/data \
DELM_CONFIG_DIR={home}/config DELM_LOG_DIR={home}/logs {bin} run 'Which vendor had the \
higher 2024 revenue?' --docs {docs} --agents 2 --verify evidence --base-url {url} --session \
{session}; echo $? > {exit}; exec sleep 60",
        home = shell_quote(dir.path()),
        bin = shell_quote(Path::new(env!("CARGO_BIN_EXE_delm"))),
        docs = shell_quote(&docs),
        url = mock.base_url,
        session = shell_quote(&session),
        exit = shell_quote(&exit_file),
    );
    let tmux = Tmux {
        socket: format!("delm-e2e-{}", std::process::id()),
    };
    let out = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "e2e",
        "-x",
        "140",
        "-y",
        "45",
        &command,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The panes appear.
    let screen = tmux.wait_for("the panes", |s| {
        s.contains("Queue") && s.contains("Agents") && s.contains("Shared context")
    });
    assert!(
        screen.contains("RUNNING") || screen.contains("STARTING"),
        "{screen}"
    );

    // p: PAUSED, and no model call while paused.
    tmux.keys(&["p"]);
    tmux.wait_for("PAUSED", |s| s.contains("PAUSED"));
    let calls = mock.call_count();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        mock.call_count(),
        calls,
        "a model call was made while paused"
    );
    tmux.keys(&["p"]);
    tmux.wait_for("RUNNING again", |s| s.contains("RUNNING"));

    // c, text, Ctrl-S: the constraint is in the tree and in the next model request.
    tmux.keys(&["c"]);
    tmux.wait_for("the constraint editor", |s| {
        s.contains("Inject a constraint")
    });
    tmux.literal("Quote only annual reports");
    tmux.keys(&["C-s"]);
    tmux.wait_for("the constraint in the tree", |s| {
        s.contains("⚑") && s.contains("Quote only annual reports")
    });
    let before = mock.call_count();
    let start = Instant::now();
    while !mock.requests()[before..]
        .iter()
        .any(|r| r.prompt_text().contains("Quote only annual reports"))
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no later request carried the constraint"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // r on a done task re-queues it: select the done task at the bottom of the queue.
    let s = wait_state(&session, "a done task", |s| {
        s.count_tasks(|t| *t == TaskState::Done) >= 1
    });
    let done = s
        .tasks
        .iter()
        .find(|t| t.state == TaskState::Done)
        .unwrap()
        .id
        .clone();
    // Queue is the first pane; G selects the last row (done tasks sort last).
    tmux.keys(&["G"]);
    std::thread::sleep(Duration::from_millis(300));
    tmux.keys(&["r"]);
    tmux.wait_for("the re-enqueue note prompt", |s| s.contains("note"));
    tmux.literal("check once more");
    tmux.keys(&["Enter"]);
    let s = wait_state(&session, "a human re-enqueue", |s| {
        s.tasks
            .iter()
            .any(|t| t.note.as_deref() == Some("check once more"))
    });
    let requeued = s
        .tasks
        .iter()
        .find(|t| t.note.as_deref() == Some("check once more"))
        .unwrap()
        .id
        .clone();
    let _ = done;
    let s = wait_state(&session, "the re-queued task claimed again", |s| {
        s.task(&requeued).is_some_and(|t| t.attempts >= 2)
    });
    assert!(s.task(&requeued).unwrap().attempts >= 2);
    RELEASED.store(true, Ordering::SeqCst);

    // The run finishes; q exits 0 and leaves the terminal usable.
    tmux.wait_for("DONE", |s| s.contains("DONE"));
    tmux.keys(&["Escape"]);
    tmux.keys(&["q"]);
    let start = Instant::now();
    while !exit_file.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "delm did not exit on q"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(std::fs::read_to_string(&exit_file).unwrap().trim(), "0");
    let screen = tmux.screen();
    assert!(
        !screen.contains("Shared context"),
        "the alternate screen was not left: {screen}"
    );
    // The log tells the same story.
    let log = delm::session::read_session(&session).unwrap();
    assert!(
        log.events
            .iter()
            .any(|e| matches!(e.event, Event::Paused {}))
    );
    assert!(
        log.events
            .iter()
            .any(|e| matches!(e.event, Event::ConstraintAdded { .. }))
    );
    assert!(matches!(
        log.events.last().unwrap().event,
        Event::RunFinished { .. }
    ));
}
