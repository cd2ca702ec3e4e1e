//! The real binary in a real terminal: tmux runs `delm` (TUI), keys go in with `send-keys`,
//! the screen comes back with `capture-pane`. `.ci/run` installs tmux when it is missing.
//!
//! Every step waits for a state (a screen, a session log), never for time, so a loaded
//! machine only makes the tests slower.

mod support;
mod swarm;

use delm::event::{AgentStatus, Event, RunState, TaskState};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use support::{MockLlm, RecordedRequest, Reply, Wire};
use swarm::*;

/// The longest any one state may take to appear.
const PATIENCE: Duration = Duration::from_secs(60);

const DOCS: [(&str, &str); 6] = support::VENDOR_DOCS;

/// Until the test sets this, only the first document's task may finish: the others keep
/// reading (a step at a time, so a pause still takes effect), and with `max_turns` far
/// beyond the test's length the run cannot end before the test has steered it, whatever
/// the machine's load.
static RELEASED: AtomicBool = AtomicBool::new(false);

/// Each document task reads its document a few times, records its one sentence, then
/// finishes; every reply takes a while so the test can act mid-run.
fn script(req: &RecordedRequest, _n: usize) -> Reply {
    let slow = |r| Reply::Delay(Duration::from_millis(300), Box::new(r));
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
    let held = *doc != "alpha.txt" && !RELEASED.load(Ordering::SeqCst);
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
    /// A detached session `e2e` of `width`×`height` running `command`.
    fn start(name: &str, width: u16, height: u16, command: &str) -> Tmux {
        let tmux = Tmux {
            socket: format!("delm-{name}-{}", std::process::id()),
        };
        let (w, h) = (width.to_string(), height.to_string());
        let out = tmux.cmd(&[
            "new-session",
            "-d",
            "-s",
            "e2e",
            "-x",
            &w,
            "-y",
            &h,
            command,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        tmux
    }
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux is installed (.ci/run installs it)")
    }
    /// Send keys one at a time: a terminal cannot tell `Esc` then `E` from Alt-E.
    fn keys(&self, keys: &[&str]) {
        for key in keys {
            assert!(self.cmd(&["send-keys", "-t", "e2e", key]).status.success());
            std::thread::sleep(Duration::from_millis(60));
        }
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
            if start.elapsed() > PATIENCE {
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
        if start.elapsed() > PATIENCE {
            panic!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_file(path: &Path, what: &str) -> String {
    let start = Instant::now();
    while !path.exists() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The writer may still be writing.
    std::thread::sleep(Duration::from_millis(100));
    std::fs::read_to_string(path).unwrap().trim().to_string()
}

fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

/// `delm ARGS` under a clean environment rooted in `home`; its exit code lands in `exit`
/// and its pid in `pid`, and the pane stays open afterwards.
fn delm_command(home: &Path, args: &str, exit: &Path, pid: &Path) -> String {
    format!(
        "env -i PATH=\"$PATH\" HOME={home} TERM=xterm-256color DELM_DATA_DIR={home}/data \
DELM_CONFIG_DIR={home}/config DELM_LOG_DIR={home}/logs sh -c 'echo $$ > {pid}; exec {bin} \
{args}'; echo $? > {exit}; exec sleep 120",
        home = shell_quote(home),
        bin = shell_quote(Path::new(env!("CARGO_BIN_EXE_delm"))),
        pid = pid.display(),
        exit = shell_quote(exit),
    )
}

#[test]
fn steer_a_live_run_in_a_real_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let docs: PathBuf = dir.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    for (name, text) in DOCS {
        std::fs::write(docs.join(name), text).unwrap();
    }
    // Held tasks read a turn at a time until released; no turn limit may end them first.
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    std::fs::write(dir.path().join("config/config.toml"), "max_turns = 10000\n").unwrap();
    let session = dir.path().join("tui.jsonl");
    let exit_file = dir.path().join("exit-code");
    let mock = MockLlm::start_blocking(Wire::OpenAi, script);
    let args = format!(
        "run \"Which vendor had the higher 2024 revenue?\" --docs {docs} --agents 2 --verify \
evidence --base-url {url} --session {session}",
        docs = docs.display(),
        url = mock.base_url,
        session = session.display(),
    );
    let command = delm_command(dir.path(), &args, &exit_file, &dir.path().join("pid"));
    let tmux = Tmux::start("steer", 140, 45, &command);

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
    // A call already under way when the pause came may still finish; once every agent has
    // stopped at a step boundary (or is idle) none is, and none may start until resume.
    wait_state(&session, "every agent stopped at a step", |s| {
        s.agents.values().all(|a| {
            matches!(
                a.status,
                AgentStatus::Paused | AgentStatus::Idle | AgentStatus::Stopped
            )
        })
    });
    let calls = mock.call_count();
    // A window for a wrong call to show in: it can only catch a bug, never fail a slow run.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        mock.call_count(),
        calls,
        "a model call was made while paused"
    );
    tmux.keys(&["p"]);
    tmux.wait_for("RUNNING again", |s| s.contains("RUNNING"));

    // c, text, Ctrl-S: the constraint is in the tree.
    tmux.keys(&["c"]);
    tmux.wait_for("the constraint editor", |s| {
        s.contains("Inject a constraint")
    });
    tmux.literal("Quote only annual reports");
    tmux.keys(&["C-s"]);
    tmux.wait_for("the constraint in the tree", |s| {
        s.contains("⚑") && s.contains("Quote only annual reports")
    });
    let constrained_from = mock.call_count();

    // r on the done task re-queues it. The run cannot have ended: only alpha's task can
    // finish before the release, so the queue is never empty and no answer pops up.
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
    // Queue is the first pane; G selects the last row (done tasks sort last), which the
    // detail pane then shows.
    tmux.keys(&["G"]);
    tmux.wait_for("the done task in the detail pane", |s| {
        s.contains(&format!("{done} done ·"))
    });
    tmux.keys(&["r"]);
    tmux.wait_for("the re-enqueue note prompt", |s| s.contains("Re-enqueue"));
    tmux.literal("check once more");
    tmux.keys(&["Enter"]);
    wait_state(&session, "a human re-enqueue", |s| {
        s.task(&done)
            .is_some_and(|t| t.note.as_deref() == Some("check once more"))
    });

    // Release the held tasks: the re-queued task is claimed again, later requests carry
    // the constraint, and the run finishes.
    RELEASED.store(true, Ordering::SeqCst);
    wait_state(&session, "the re-queued task claimed again", |s| {
        s.task(&done).is_some_and(|t| t.attempts >= 2)
    });
    let start = Instant::now();
    while !mock.requests()[constrained_from..]
        .iter()
        .any(|r| r.prompt_text().contains("Quote only annual reports"))
    {
        assert!(
            start.elapsed() < PATIENCE,
            "no later request carried the constraint"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // The run finishes; q exits 0, prints the answer, and leaves the terminal usable.
    tmux.wait_for("DONE", |s| s.contains("DONE") && s.contains("Final answer"));
    tmux.keys(&["Escape"]);
    tmux.wait_for("the answer closed", |s| !s.contains("Final answer"));
    tmux.keys(&["q"]);
    assert_eq!(wait_file(&exit_file, "delm to exit on q"), "0");
    let screen = tmux.screen();
    assert!(
        !screen.contains("Shared context"),
        "the alternate screen was not left: {screen}"
    );
    assert!(
        screen.contains("Alpha Corp had the highest 2024 revenue."),
        "the answer is printed after the TUI closes: {screen}"
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

/// A newcomer's first minute: `delm demo` runs to its answer with no key, and every view
/// a user reaches for works on it.
#[test]
fn the_demo_from_start_to_answer_and_every_view() {
    let dir = tempfile::tempdir().unwrap();
    let exit_file = dir.path().join("exit-code");
    let command = delm_command(
        dir.path(),
        "demo --pace fast",
        &exit_file,
        &dir.path().join("pid"),
    );
    let tmux = Tmux::start("demo", 120, 40, &command);
    tmux.wait_for("the swarm at work", |s| {
        s.contains("SCRIPTED DEMO MODEL") && s.contains("Queue") && s.contains("Agents")
    });

    // The answer pops up, labelled, and scrolls to its end.
    let screen = tmux.wait_for("the final answer", |s| {
        s.contains("Final answer") && s.contains("DONE")
    });
    assert!(screen.contains("Borealis is better placed"), "{screen}");
    tmux.keys(&["G"]);
    tmux.wait_for("the end of the answer", |s| {
        s.contains("scripted demo model") && s.contains("Cited points")
    });
    tmux.keys(&["Escape"]);
    tmux.wait_for("the answer closed", |s| !s.contains("Final answer"));

    // The events pane lists the rejected misquote.
    tmux.keys(&["E"]);
    tmux.wait_for("the events pane", |s| {
        s.contains("Events") && s.contains("rejected") && s.contains("joined")
    });
    tmux.keys(&["E"]);
    tmux.wait_for("the detail pane back", |s| s.contains("Detail"));

    // An agent's whole transcript, zoomed, searched.
    tmux.keys(&["Tab", "Enter"]);
    tmux.wait_for("a1's transcript", |s| s.contains("Transcript:"));
    tmux.keys(&["z"]);
    tmux.wait_for("the zoomed transcript", |s| {
        s.contains("zoomed") && !s.contains("Shared context")
    });
    tmux.keys(&["/"]);
    tmux.literal("verified");
    tmux.keys(&["Enter"]);
    tmux.wait_for("a search match", |s| s.contains("match 1 of"));
    tmux.keys(&["z"]);
    tmux.wait_for("unzoomed", |s| s.contains("Shared context"));

    // q exits 0 and prints the answer where the shell keeps it.
    tmux.keys(&["q"]);
    assert_eq!(wait_file(&exit_file, "the demo to exit"), "0");
    let screen = tmux.screen();
    assert!(screen.contains("cited: P"), "{screen}");
}

/// Ctrl-Z hands the terminal back and `fg` (SIGCONT) brings the TUI back; SIGTERM restores
/// the terminal and leaves the run resumable.
#[test]
fn suspend_resume_and_terminate_leave_a_usable_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let exit_file = dir.path().join("exit-code");
    let pid_file = dir.path().join("pid");
    let command = delm_command(dir.path(), "demo --pace slow", &exit_file, &pid_file);
    let tmux = Tmux::start("signals", 100, 30, &command);
    tmux.wait_for("the panes", |s| s.contains("Shared context"));
    let pid = wait_file(&pid_file, "the pid");

    tmux.keys(&["C-z"]);
    tmux.wait_for("the main screen while suspended", |s| {
        !s.contains("Shared context")
    });
    assert!(
        Command::new("kill")
            .args(["-CONT", &pid])
            .status()
            .unwrap()
            .success()
    );
    tmux.wait_for("the TUI back after SIGCONT", |s| {
        s.contains("Shared context")
    });

    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let code = wait_file(&exit_file, "delm to exit on SIGTERM");
    assert_eq!(code, "143", "128 + SIGTERM");
    let screen = tmux.screen();
    assert!(!screen.contains("Shared context"), "{screen}");
    assert!(screen.contains("delm resume"), "{screen}");
}
