//! The real `delm` binary against the scripted server: exit codes, headless output, the
//! session file, secrets, crash and resume.

mod support;
mod swarm;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::{MockLlm, RecordedRequest, Reply, Wire};
use swarm::*;

const KEY: &str = "sk-live-SECRET-d41d8cd98f00b204";

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn cmd(&self) -> Command {
        support::delm_command(env!("CARGO_BIN_EXE_delm"), self.dir.path(), KEY)
    }
    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn plain_text_script(req: &RecordedRequest, _n: usize) -> Reply {
    if is_finalise(req) {
        Reply::Text("The answer is 42, because the shared context says so.".into())
    } else {
        Reply::Text("I think the answer is 42.".into())
    }
}

#[test]
fn plain_text_model_completes_with_exit_0_and_no_key_leaks() {
    let env = Env::new();
    let mock = MockLlm::start_blocking(Wire::OpenAi, plain_text_script);
    let session = env.path("run.jsonl");
    let out = env.run(&[
        "run",
        "What is the answer?",
        "--headless",
        "--agents",
        "2",
        "--model",
        "openai:gpt-4.1-mini",
        "--base-url",
        &mock.base_url,
        "--verify",
        "evidence",
        "--session",
        session.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "exit {:?}\n{stderr}", out.status);
    assert!(stdout.contains("The answer is 42"), "{stdout}");
    assert!(
        stderr.contains("claimed T1"),
        "progress lines on stderr: {stderr}"
    );
    // The key went to the provider, and nowhere else.
    assert!(
        mock.requests()
            .iter()
            .all(|r| r.header("authorization") == Some(&format!("Bearer {KEY}")))
    );
    let log = std::fs::read_to_string(&session).unwrap();
    assert!(log.contains("\"type\":\"run_finished\""));
    for (name, s) in [("session", &log), ("stdout", &stdout), ("stderr", &stderr)] {
        assert!(!s.contains(KEY), "the API key leaked into {name}");
    }
    if let Ok(tracing_log) = std::fs::read_to_string(env.path("logs/delm.log")) {
        assert!(
            !tracing_log.contains(KEY),
            "the API key leaked into the tracing log"
        );
    }
    // The plain-text result became a partial point.
    assert!(log.contains("\"kind\":\"partial\""));
}

#[test]
fn json_mode_streams_the_session_events_ending_with_run_finished() {
    let env = Env::new();
    let mock = MockLlm::start_blocking(Wire::OpenAi, plain_text_script);
    let out = env.run(&[
        "run",
        "q",
        "--headless",
        "--json",
        "--agents",
        "1",
        "--base-url",
        &mock.base_url,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("every stdout line is JSON"))
        .collect();
    assert_eq!(lines.first().unwrap()["type"], "run_started");
    let last = lines.last().unwrap();
    assert_eq!(last["type"], "run_finished");
    assert!(last["answer"].as_str().unwrap().contains("42"));
    // Same objects as the session log (default location under DELM_DATA_DIR).
    let sessions: Vec<_> = std::fs::read_dir(env.path("data/sessions"))
        .unwrap()
        .collect();
    assert_eq!(sessions.len(), 1);
    let listed = env.run(&["sessions"]);
    assert!(
        text(&listed.stdout).contains("DONE"),
        "{}",
        text(&listed.stdout)
    );
}

#[test]
fn usage_errors_exit_2_with_one_clear_sentence() {
    let env = Env::new();
    let out = env
        .cmd()
        .env_remove("OPENAI_API_KEY")
        .args(["run", "q", "--headless"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("OPENAI_API_KEY is not set"),
        "{}",
        text(&out.stderr)
    );

    let out = env.run(&["run", "q", "--headless", "--repo", "/definitely/not/here"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("/definitely/not/here"));

    let out = env.run(&["run", "q", "--headless", "--model", "mistral:large"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("openai:NAME"));

    let out = env.run(&["replay", "nope.jsonl", "--headless"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("delm sessions"));

    let out = env.run(&["run"]);
    assert_eq!(out.status.code(), Some(2));

    // A bad theme is reported before the run starts: no session is created.
    let session = env.path("themed.jsonl");
    let out = env.run(&[
        "run",
        "q",
        "--theme",
        "nosuch",
        "--session",
        session.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("unknown theme"),
        "{}",
        text(&out.stderr)
    );
    assert!(!session.exists());
}

#[test]
fn bad_key_fails_the_run_with_exit_1() {
    let env = Env::new();
    let mock = MockLlm::start_blocking(Wire::OpenAi, |_: &RecordedRequest, _| Reply::Status {
        code: 401,
        headers: vec![],
        body: r#"{"error":{"message":"Incorrect API key provided"}}"#.into(),
    });
    let out = env.run(&["run", "q", "--headless", "--base-url", &mock.base_url]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("401"), "{stderr}");
    assert!(!stderr.contains(KEY));
}

#[test]
fn unreachable_provider_fails_after_retries_with_exit_1() {
    let env = Env::new();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/v1");
    let out = env.run(&["run", "q", "--headless", "--base-url", &url]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("unreachable"), "{stderr}");
    assert!(stderr.contains("retry"), "retries are shown: {stderr}");
}

fn docs(env: &Env) -> PathBuf {
    let d = env.path("docs");
    std::fs::create_dir_all(&d).unwrap();
    for (name, body) in [
        (
            "alpha.txt",
            "Alpha Corp 2024 revenue was 12.5 million dollars.",
        ),
        ("beta.txt", "Beta Ltd 2024 revenue was 9.8 million dollars."),
        ("gamma.txt", "Gamma has no revenue figures."),
        ("delta.txt", "Delta revenue is confidential."),
    ] {
        std::fs::write(d.join(name), body).unwrap();
    }
    d
}

/// Every task records one cited finding slowly, so a kill lands mid-run.
fn slow_docs_script(req: &RecordedRequest, _n: usize) -> Reply {
    if is_finalise(req) {
        return final_answer(req, "Alpha Corp had the higher revenue.");
    }
    let line = task_line(req);
    let doc = ["alpha.txt", "beta.txt", "gamma.txt", "delta.txt"]
        .into_iter()
        .find(|d| line.contains(d));
    let Some(doc) = doc else {
        return swarm::finish("nothing to do");
    };
    let quote = match doc {
        "alpha.txt" => "Alpha Corp 2024 revenue was 12.5 million dollars",
        "beta.txt" => "Beta Ltd 2024 revenue was 9.8 million dollars",
        "gamma.txt" => "Gamma has no revenue figures",
        _ => "Delta revenue is confidential",
    };
    let reply = match assistant_turns(req) {
        0 => record("finding", quote, doc, quote),
        _ => swarm::finish("recorded"),
    };
    Reply::Delay(Duration::from_millis(400), Box::new(reply))
}

/// A headless one-agent docs run in the background, writing `session`.
fn spawn_docs_run(env: &Env, docs: &Path, mock: &MockLlm, session: &Path, stderr: Stdio) -> Child {
    env.cmd()
        .args([
            "run",
            "Which vendor had the higher 2024 revenue?",
            "--docs",
            docs.to_str().unwrap(),
            "--headless",
            "--agents",
            "1",
            "--verify",
            "evidence",
            "--base-url",
            &mock.base_url,
            "--session",
            session.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

fn wait_for_line(path: &Path, needle: &str, child: &mut Child) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if std::fs::read_to_string(path)
            .unwrap_or_default()
            .contains(needle)
        {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("delm exited early with {status}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{needle} never appeared in {}", path.display());
}

#[test]
fn kill_9_then_resume_finishes_with_every_verified_point() {
    let env = Env::new();
    let docs = docs(&env);
    let mock = MockLlm::start_blocking(Wire::OpenAi, slow_docs_script);
    let session = env.path("crash.jsonl");
    let mut child = spawn_docs_run(&env, &docs, &mock, &session, Stdio::null());
    wait_for_line(&session, "\"type\":\"point_verified\"", &mut child);
    // SIGKILL: no chance to flush or clean up.
    child.kill().unwrap();
    child.wait().unwrap();
    let before = delm::session::read_session(&session).unwrap();
    let state = delm::event::RunState::from_events(before.events.iter());
    assert!(
        state.answer.is_none(),
        "the kill came too late to test resume"
    );
    let verified: Vec<String> = state.live_points().map(|p| p.point.id.clone()).collect();
    assert!(!verified.is_empty());
    assert_eq!(
        state.endpoint.as_deref(),
        Some(mock.base_url.as_str()),
        "run_started records the endpoint"
    );

    // An endpoint that disagrees with the recorded one is refused before any call.
    let calls_before = mock.requests().len();
    let other = env.run(&[
        "resume",
        session.to_str().unwrap(),
        "--headless",
        "--base-url",
        "http://127.0.0.1:9/v1",
    ]);
    assert_eq!(other.status.code(), Some(2), "{}", text(&other.stderr));
    assert!(text(&other.stderr).contains("was started against"));
    assert_eq!(mock.requests().len(), calls_before);

    // Without --base-url, resume talks to the endpoint the run started with (never the
    // provider's default host, where the key would not belong).
    let out = env.run(&["resume", session.to_str().unwrap(), "--headless"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Alpha Corp"));
    let after = delm::session::read_session(&session).unwrap();
    assert!(after.bad_lines.is_empty(), "{:?}", after.bad_lines);
    let state = delm::event::RunState::from_events(after.events.iter());
    for id in &verified {
        assert_eq!(
            state.point(id).map(|p| p.status),
            Some(delm::event::PointStatus::Verified),
            "{id} lost"
        );
    }
    assert!(
        state
            .tasks
            .iter()
            .all(|t| t.state == delm::event::TaskState::Done)
    );
    assert!(
        after
            .events
            .iter()
            .any(|e| matches!(e.event, delm::event::Event::RunResumed { .. }))
    );
    // Sequence numbers continue in the same file.
    let seqs: Vec<u64> = after.events.iter().map(|e| e.seq).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");

    // Resuming a finished run is refused with a pointer to replay.
    let again = env.run(&[
        "resume",
        session.to_str().unwrap(),
        "--headless",
        "--base-url",
        &mock.base_url,
    ]);
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again.stderr).contains("delm replay"));
}

#[test]
fn replay_headless_tolerates_a_torn_last_line() {
    let env = Env::new();
    let mock = MockLlm::start_blocking(Wire::OpenAi, plain_text_script);
    let session = env.path("torn.jsonl");
    let out = env.run(&[
        "run",
        "q",
        "--headless",
        "--agents",
        "1",
        "--base-url",
        &mock.base_url,
        "--session",
        session.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let mut body = std::fs::read_to_string(&session).unwrap();
    body.push_str("{\"seq\": 999, \"ts\": \"2026-");
    std::fs::write(&session, body).unwrap();
    let out = env.run(&["replay", session.to_str().unwrap(), "--headless"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let story = text(&out.stdout);
    assert!(story.contains("claimed T1"), "{story}");
    assert!(story.contains("42"), "{story}");
    let _ = json!({});
}

/// A headless run stopped by a signal stays resumable and exits 128 + the signal.
fn signal_leaves_the_run_resumable(signal: &str, code: i32) {
    let env = Env::new();
    let docs = docs(&env);
    let mock = MockLlm::start_blocking(Wire::OpenAi, slow_docs_script);
    let session = env.path("interrupted.jsonl");
    let mut child = spawn_docs_run(&env, &docs, &mock, &session, Stdio::piped());
    wait_for_line(&session, "\"type\":\"point_verified\"", &mut child);
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{signal}: {stderr}");
    assert!(stderr.contains("delm resume"), "{stderr}");
    let log = delm::session::read_session(&session).unwrap();
    assert!(
        !log.events
            .iter()
            .any(|e| matches!(e.event, delm::event::Event::RunFinished { .. })),
        "a run stopped by {signal} must stay resumable"
    );
    let out = env.run(&[
        "resume",
        session.to_str().unwrap(),
        "--headless",
        "--base-url",
        &mock.base_url,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn ctrl_c_leaves_the_run_resumable() {
    // SIGINT, as a Ctrl-C in the terminal would send.
    signal_leaves_the_run_resumable("INT", 130);
}

#[test]
fn sigterm_and_sighup_leave_the_run_resumable() {
    signal_leaves_the_run_resumable("TERM", 143);
    signal_leaves_the_run_resumable("HUP", 129);
}

#[test]
fn judge_model_verifies_points_with_the_cheaper_model() {
    let env = Env::new();
    let docs = docs(&env);
    let mock = MockLlm::start_blocking(Wire::OpenAi, |req: &RecordedRequest, _| {
        if is_judge(req) {
            return approve();
        }
        slow_docs_script(req, 0)
    });
    let session = env.path("judge.jsonl");
    let out = env.run(&[
        "run",
        "Which vendor had the higher 2024 revenue?",
        "--docs",
        docs.to_str().unwrap(),
        "--headless",
        "--agents",
        "2",
        "--model",
        "openai:big-model",
        "--judge-model",
        "openai:small-judge",
        "--base-url",
        &mock.base_url,
        "--session",
        session.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let requests = mock.requests();
    let judges: Vec<&RecordedRequest> = requests.iter().filter(|r| is_judge(r)).collect();
    assert!(!judges.is_empty(), "judge mode asked the judge");
    assert!(judges.iter().all(|r| r.model() == "small-judge"));
    assert!(
        requests
            .iter()
            .filter(|r| !is_judge(r))
            .all(|r| r.model() == "big-model")
    );
    let log = delm::session::read_session(&session).unwrap();
    let judge_calls = log
        .events
        .iter()
        .filter(|e| {
            matches!(&e.event, delm::event::Event::LlmCall { purpose: delm::event::CallPurpose::Judge, model, .. } if model == "small-judge")
        })
        .count();
    assert_eq!(judge_calls, judges.len(), "every judge call is in the log");
}

#[test]
fn a_run_that_failed_for_a_provider_reason_can_be_resumed_once_fixed() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let env = Env::new();
    let docs = docs(&env);
    let down = Arc::new(AtomicBool::new(true));
    let flag = down.clone();
    let mock = MockLlm::start_blocking(Wire::OpenAi, move |req: &RecordedRequest, n| {
        if flag.load(Ordering::SeqCst) {
            return Reply::error(503, "overloaded");
        }
        slow_docs_script(req, n)
    });
    let session = env.path("failed.jsonl");
    let out = env.run(&[
        "run",
        "Which vendor had the higher 2024 revenue?",
        "--docs",
        docs.to_str().unwrap(),
        "--headless",
        "--agents",
        "1",
        "--verify",
        "evidence",
        "--base-url",
        &mock.base_url,
        "--session",
        session.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    down.store(false, Ordering::SeqCst);
    let out = env.run(&["resume", session.to_str().unwrap(), "--headless"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let state = delm::event::RunState::from_events(
        delm::session::read_session(&session).unwrap().events.iter(),
    );
    assert_eq!(
        state.answer.map(|a| a.stopped_by),
        Some(delm::event::StoppedBy::Completed)
    );
}
