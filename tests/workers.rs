//! Claude Code and Codex as workers (`--worker`), the real CLIs at pinned versions against
//! scripted model servers on loopback: the Anthropic wire plays Claude Code's model, the
//! OpenAI Responses wire Codex's (both through `support::worker_player`), and the OpenAI
//! chat wire delm's own standby finaliser (the cooperative script). Every wait is for a
//! state (an event in the session, a process gone) with a generous deadline.
//!
//! The CLIs come from `DELM_CLAUDE_BIN` and `DELM_CODEX_BIN` (`.ci/run` installs them):
//! without them a test fails with the install command when `CI` is set, and is skipped
//! with a note otherwise (`-- --nocapture` shows it).
//!
//! Over 600 lines because each scenario needs its own choreography of gates between two
//! real processes and the board; the shared parts (the run, the waits, the event queries)
//! are the helpers at the top.

mod support;
mod swarm;

use delm::engine::{RunBuilder, RunConfig, tools};
use delm::event::{Mode, VerifyMode};
use delm::llm::config::{ProviderConfig, ProviderKind, Secret};
use delm::llm::retry::{RetryPolicy, RetryingProvider};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::mock_llm::Gate;
use support::worker_player::{Fix, Player};
use support::{MockLlm, RecordedRequest, Reply, Wire};

/// The user's own logins, as distinctive values: they reach the CLIs and nothing else.
const ANTHROPIC_KEY: &str = "sk-ant-USERKEY-claude-5d8e2f0a4c91";
const OPENAI_KEY: &str = "sk-USERKEY-openai-7f3a9c2e1b64";
const CLAUDE_VERSION: &str = "2.1.332";
const CODEX_VERSION: &str = "0.171.0";
const GOAL: &str = "What revenue did the two vendors report for 2024?";
/// How long a whole run may take here (2 shared cores, two node CLIs).
const RUN_WITHIN: Duration = Duration::from_secs(240);

const DOCS: [(&str, &str); 2] = [
    (
        "alpha.md",
        "The alpha vendor reported revenue of 41 million dollars in 2024.",
    ),
    (
        "beta.md",
        "The beta vendor reported revenue of 17 million dollars in 2024.",
    ),
];

/// A pinned CLI from `var`, or `None` (skipped, with a note) outside CI.
fn cli(var: &str, package: &str, bin: &str) -> Option<PathBuf> {
    let hint = format!(
        "install it with `npm install --prefix \"$DIR\" {package}` and set \
         {var}=\"$DIR/node_modules/.bin/{bin}\" (.ci/run does this)"
    );
    match std::env::var_os(var).filter(|v| !v.is_empty()) {
        Some(path) => {
            let path = PathBuf::from(path);
            assert!(
                path.is_file(),
                "{var}={} is not a file; {hint}",
                path.display()
            );
            Some(path)
        }
        None if std::env::var_os("CI").is_some() => {
            panic!("{var} is not set, and the worker tests need {package}: {hint}")
        }
        None => {
            eprintln!("skipped: {var} is not set; {hint}");
            None
        }
    }
}

fn claude_bin() -> Option<PathBuf> {
    cli(
        "DELM_CLAUDE_BIN",
        &format!("@anthropic-ai/claude-code@{CLAUDE_VERSION}"),
        "claude",
    )
}

fn codex_bin() -> Option<PathBuf> {
    cli(
        "DELM_CODEX_BIN",
        &format!("@openai/codex@{CODEX_VERSION}"),
        "codex",
    )
}

fn write_docs(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, text) in DOCS {
        std::fs::write(dir.join(name), format!("# {name}\n\n{text}\n")).unwrap();
    }
}

fn player(name: &'static str, hold_finish: Option<Gate>) -> Player {
    Player {
        name,
        docs: DOCS
            .iter()
            .map(|(id, quote)| (id.to_string(), quote.to_string()))
            .collect(),
        hold_finish,
        fix: None,
    }
}

/// Codex's home: a model provider on the Responses mock, keyed by `OPENAI_API_KEY`.
fn codex_home(dir: &Path, mock: &MockLlm) -> PathBuf {
    let home = dir.join("codex-home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(
        home.join("config.toml"),
        format!(
            "model = \"gpt-mock\"\nmodel_provider = \"mock\"\n\n[model_providers.mock]\n\
             name = \"mock\"\nbase_url = \"{}\"\nenv_key = \"OPENAI_API_KEY\"\n\
             wire_api = \"responses\"\n",
            mock.base_url
        ),
    )
    .unwrap();
    home
}

fn session_events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn of<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

/// Poll `check` (a state, not a time) until it holds, or fail naming `what`.
fn wait_for<T>(what: &str, within: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn claimed_by(events: &[Value], agent: &str) -> Vec<String> {
    of(events, "task_claimed")
        .into_iter()
        .filter(|e| e["agent"] == agent)
        .map(|e| e["task"].as_str().unwrap_or("").to_string())
        .collect()
}

/// The ids of the verified points `agent` wrote.
fn verified_by(events: &[Value], agent: &str) -> Vec<String> {
    let mine: Vec<&str> = of(events, "point_proposed")
        .into_iter()
        .filter(|e| e["point"]["author"] == agent)
        .filter_map(|e| e["point"]["id"].as_str())
        .collect();
    of(events, "point_verified")
        .into_iter()
        .filter_map(|e| e["point"].as_str())
        .filter(|p| mine.contains(p))
        .map(str::to_string)
        .collect()
}

/// A headless `delm run` over the docs with these workers and no native agents.
struct Run {
    dir: tempfile::TempDir,
    child: Child,
    session: PathBuf,
    // The model servers live as long as the run.
    _mocks: Vec<MockLlm>,
}

impl Run {
    fn start(
        workers: &[&str],
        claude: Option<(&Path, &MockLlm)>,
        codex: Option<(&Path, &MockLlm)>,
        native: MockLlm,
        mut mocks: Vec<MockLlm>,
    ) -> Run {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        write_docs(&dir.path().join("docs"));
        let mut config = String::new();
        if let Some((bin, _)) = claude {
            config.push_str(&format!(
                "[workers.claude-code]\ncommand = \"{}\"\n",
                bin.display()
            ));
        }
        if let Some((bin, _)) = codex {
            config.push_str(&format!(
                "[workers.codex]\ncommand = \"{}\"\n",
                bin.display()
            ));
        }
        std::fs::create_dir_all(home.join("config")).unwrap();
        std::fs::write(home.join("config/config.toml"), config).unwrap();
        let session = dir.path().join("run.jsonl");
        let mut cmd = support::isolated_command(env!("CARGO_BIN_EXE_delm"), &home);
        cmd.env("OPENAI_API_KEY", OPENAI_KEY)
            .env("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
            .args(["run", GOAL, "--docs"])
            .arg(dir.path().join("docs"))
            .args(["--agents", "0", "--verify", "evidence", "--headless"])
            .args(["--model", "openai:gpt-mock", "--base-url", &native.base_url])
            .arg("--session")
            .arg(&session);
        for w in workers {
            cmd.args(["--worker", w]);
        }
        if let Some((_, mock)) = claude {
            cmd.env("ANTHROPIC_BASE_URL", mock.base_url.trim_end_matches("/v1"));
        }
        if let Some((_, mock)) = codex {
            cmd.env("CODEX_HOME", codex_home(dir.path(), mock));
        }
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("delm runs");
        mocks.push(native);
        Run {
            dir,
            child,
            session,
            _mocks: mocks,
        }
    }

    fn events(&self) -> Vec<Value> {
        session_events(&self.session)
    }

    /// Ctrl-C (the run is left resumable); its exit code, stderr and events.
    fn interrupt(self) -> (i32, String, Vec<Value>) {
        // SAFETY: a signal to the delm this test started.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGINT);
        }
        let output = self.child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&output.stderr).into_owned();
        (
            output.status.code().unwrap_or(-1),
            err,
            session_events(&self.session),
        )
    }

    /// Wait for the run to end; its exit code, stdout and stderr.
    fn finish(mut self) -> (i32, String, String, Vec<Value>, tempfile::TempDir) {
        let deadline = Instant::now() + RUN_WITHIN;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let events = self.events();
                panic!(
                    "the run did not finish within {RUN_WITHIN:?}; its events:\n{}",
                    events
                        .iter()
                        .map(Value::to_string)
                        .collect::<Vec<_>>()
                        .join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let mut out = String::new();
        let mut err = String::new();
        use std::io::Read;
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let events = self.events();
        (status.code().unwrap_or(-1), out, err, events, self.dir)
    }
}

/// delm's own model: the cooperative script (only the standby finaliser calls it).
fn native_mock() -> MockLlm {
    MockLlm::start_blocking(Wire::OpenAi, swarm::cooperative::script)
}

#[test]
fn claude_code_and_codex_workers_finish_a_run_with_no_native_agents() {
    let (Some(claude), Some(codex)) = (claude_bin(), codex_bin()) else {
        return;
    };
    // Both finish only once both have claimed, so each surely holds a task of its own.
    let both_claimed = Gate::new();
    let claude_mock = MockLlm::start_blocking(
        Wire::Anthropic,
        player("claude-code", Some(both_claimed.clone())).claude(),
    );
    let codex_mock = MockLlm::start_blocking(
        Wire::Responses,
        player("codex", Some(both_claimed.clone())).codex(),
    );
    let run = Run::start(
        &["claude-code:1", "codex:1"],
        Some((&claude, &claude_mock)),
        Some((&codex, &codex_mock)),
        native_mock(),
        Vec::new(),
    );
    wait_for("both workers to claim a task", RUN_WITHIN, || {
        let events = run.events();
        (!claimed_by(&events, "claude-1").is_empty() && !claimed_by(&events, "codex-1").is_empty())
            .then_some(())
    });
    both_claimed.open();
    // The servers saw the user's logins (the CLIs used them) ...
    let claude_requests = claude_mock.requests();
    let codex_requests = codex_mock.requests();
    let (code, out, err, events, _dir) = run.finish();
    assert_eq!(code, 0, "stderr:\n{err}");
    assert!(
        claude_requests
            .iter()
            .any(|r| r.header("x-api-key") == Some(ANTHROPIC_KEY)),
        "Claude Code got the user's ANTHROPIC_API_KEY"
    );
    assert!(
        codex_requests
            .iter()
            .any(|r| r.header("authorization") == Some(&format!("Bearer {OPENAI_KEY}"))),
        "Codex got the user's OPENAI_API_KEY"
    );
    let finished = of(&events, "run_finished");
    assert_eq!(finished.len(), 1, "{err}");
    assert_eq!(finished[0]["stopped_by"], "completed", "{}", finished[0]);
    for (agent, name) in [("claude-1", "claude-code"), ("codex-1", "codex")] {
        let joined = of(&events, "agent_joined");
        assert!(
            joined
                .iter()
                .any(|e| e["agent"] == agent && e["name"] == name && e["kind"] == "cli_worker"),
            "{agent} is an agent row of kind cli_worker"
        );
        assert!(
            !claimed_by(&events, agent).is_empty(),
            "{agent} claimed a task"
        );
        assert!(
            !verified_by(&events, agent).is_empty(),
            "{agent} published a verified point"
        );
        assert!(
            of(&events, "task_finished")
                .iter()
                .any(|e| e["agent"] == agent),
            "{agent} finished its task"
        );
    }
    // Claude Code's own model calls are in the log as it made them.
    assert!(
        of(&events, "llm_call")
            .iter()
            .any(|e| e["agent"] == "claude-1"
                && e["purpose"] == "worker"
                && e["tokens_in"].as_u64() > Some(0)),
        "claude-1's model calls are recorded with purpose worker"
    );
    // The final answer came from delm's standby finaliser and cites the workers' points.
    assert!(
        of(&events, "finalise_started")
            .iter()
            .all(|e| e["agent"] == "fin")
    );
    assert!(out.contains("What the swarm verified"), "{out}");
    let session_text = std::fs::read_to_string(events_path(&_dir)).unwrap();
    for key in [ANTHROPIC_KEY, OPENAI_KEY] {
        assert!(!session_text.contains(key), "a user key is in the session");
        assert!(!out.contains(key), "a user key is on stdout");
        assert!(!err.contains(key), "a user key is on stderr");
    }
    let token = regex::Regex::new("delm_[0-9a-f]{64}").unwrap();
    assert!(
        !token.is_match(&session_text),
        "an MCP token is in the session"
    );
    assert!(!token.is_match(&err), "an MCP token is on stderr");
}

fn events_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("run.jsonl")
}

/// The pids of `delm_pid`'s worker `handle` (its CLI's processes carry its private
/// directory, `delm-worker-<pid>-<handle>-…`, in their command line).
fn worker_pids(delm_pid: u32, handle: &str) -> Vec<i32> {
    let marker = format!("delm-worker-{delm_pid}-{handle}-");
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(&marker) {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn a_killed_worker_loses_its_claim_and_another_worker_finishes_the_task() {
    let (Some(claude), Some(codex)) = (claude_bin(), codex_bin()) else {
        return;
    };
    // claude-1 claims first and never gets to finish (it is killed holding its claim);
    // codex-1 starts once claude-1 holds a task; the restarted claude-1 waits until
    // codex-1 took the task over.
    let (never, codex_may_start, restarted_may_go) = (Gate::new(), Gate::new(), Gate::new());
    let first_session = Mutex::new(None::<String>);
    let claude_player = player("claude-code", Some(never.clone())).claude();
    let restart_gate = restarted_may_go.clone();
    let claude_mock = MockLlm::start_blocking(Wire::Anthropic, move |req: &RecordedRequest, n| {
        let session = req
            .header("x-claude-code-session-id")
            .unwrap_or("")
            .to_string();
        let first = first_session
            .lock()
            .unwrap()
            .get_or_insert_with(|| session.clone())
            .clone();
        let reply = claude_player(req, n);
        if session == first {
            reply
        } else {
            Reply::Hold(restart_gate.clone(), Box::new(reply))
        }
    });
    let codex_player = player("codex", None).codex();
    let codex_gate = codex_may_start.clone();
    let codex_mock = MockLlm::start_blocking(Wire::Responses, move |req: &RecordedRequest, n| {
        Reply::Hold(codex_gate.clone(), Box::new(codex_player(req, n)))
    });
    let run = Run::start(
        &["claude-code:1", "codex:1"],
        Some((&claude, &claude_mock)),
        Some((&codex, &codex_mock)),
        native_mock(),
        Vec::new(),
    );
    let task = wait_for("claude-1 to claim a task", RUN_WITHIN, || {
        claimed_by(&run.events(), "claude-1").first().cloned()
    });
    let pids = worker_pids(run.child.id(), "claude-1");
    assert!(!pids.is_empty(), "claude-1's process is found");
    for pid in pids {
        // SAFETY: a signal to a process this test's delm started.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
    wait_for(
        "claude-1's task to go back to the queue",
        RUN_WITHIN,
        || {
            of(&run.events(), "task_requeued")
                .iter()
                .any(|e| e["task"] == task.as_str())
                .then_some(())
        },
    );
    codex_may_start.open();
    wait_for("codex-1 to take the task over", RUN_WITHIN, || {
        claimed_by(&run.events(), "codex-1")
            .contains(&task)
            .then_some(())
    });
    restarted_may_go.open();
    let (code, _out, err, events, _dir) = run.finish();
    assert_eq!(code, 0, "stderr:\n{err}");
    assert!(
        of(&events, "task_finished")
            .iter()
            .any(|e| e["task"] == task.as_str() && e["agent"] == "codex-1"),
        "codex-1 finished claude-1's task"
    );
    let errors = of(&events, "error");
    assert!(
        errors.iter().any(|e| e["agent"] == "claude-1"
            && e["message"]
                .as_str()
                .is_some_and(|m| m.contains("exited") && m.contains("restarting it once"))),
        "the exit is reported and claude-1 restarted: {errors:?}"
    );
    assert!(
        of(&events, "agent_joined")
            .iter()
            .filter(|e| e["agent"] == "claude-1")
            .count()
            >= 2,
        "the restarted claude-1 joined again"
    );
    drop(never);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_stops_the_workers_board_calls_until_the_human_resumes() {
    let Some(codex) = codex_bin() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let native = MockLlm::start(Wire::OpenAi, swarm::cooperative::script).await;
    let codex_mock = MockLlm::start(Wire::Responses, player("codex", None).codex()).await;
    write_docs(&dir.path().join("docs"));
    let mode = Mode::Docs {
        roots: vec![dir.path().join("docs").to_string_lossy().into_owned()],
    };
    let mut pc = ProviderConfig::new(ProviderKind::OpenAi, "gpt-mock", native.base_url.clone());
    pc.api_key = Some(Secret::new(OPENAI_KEY));
    let policy = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(20),
        ..RetryPolicy::default()
    };
    let llm = Arc::new(RetryingProvider::new(delm::llm::build_provider(pc), policy));
    let mut cfg = RunConfig::new(GOAL, mode.clone(), "openai:gpt-mock");
    cfg.agents = 0;
    cfg.standby_finaliser = true;
    cfg.verify = VerifyMode::Evidence;
    let settings = delm::mcp::BoardSettings::of(&cfg);
    let workspace = tools::open(&mode).unwrap();
    let price: delm::engine::PriceFn = Arc::new(|_| Some(0.0));
    let handle = RunBuilder::new(cfg, llm, price, workspace.clone())
        .start()
        .unwrap();
    // Paused before the worker is even started: its first board calls meet the pause.
    handle.pause();
    let serving = Arc::new(
        delm::mcp::serve(
            handle.clone(),
            workspace.clone(),
            settings,
            delm::mcp::DEFAULT_ADDR,
            &dir.path().join("run.jsonl"),
        )
        .await
        .unwrap(),
    );
    let setup = delm::workers::Setup {
        specs: vec![delm::workers::parse_spec("codex:1").unwrap()],
        commands: [(delm::workers::Kind::Codex, codex)].into_iter().collect(),
        allow: delm::workers::Allowed::default(),
        repo: None,
        goal: GOAL.into(),
        env: vec![
            ("OPENAI_API_KEY".into(), OPENAI_KEY.into()),
            (
                "CODEX_HOME".into(),
                codex_home(dir.path(), &codex_mock)
                    .to_string_lossy()
                    .into_owned(),
            ),
        ],
    };
    let workers = delm::workers::start(setup, handle.clone(), serving.clone(), workspace);
    let told_to_wait = async {
        loop {
            let snapshot = handle.events_since(0);
            let waited = snapshot.iter().any(|e| {
                let v = serde_json::to_value(e).unwrap();
                v["type"] == "tool_call"
                    && v["agent"] == "codex-1"
                    && v["output"]
                        .as_str()
                        .is_some_and(|o| o.starts_with("paused, wait"))
            });
            if waited {
                return snapshot;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let before = tokio::time::timeout(RUN_WITHIN, told_to_wait)
        .await
        .expect("codex-1 reached the board and was told to wait");
    let claimed = |events: &[delm::event::Envelope]| {
        events
            .iter()
            .filter(|e| matches!(&e.event, delm::event::Event::TaskClaimed { agent, .. } if agent == "codex-1"))
            .count()
    };
    assert_eq!(claimed(&before), 0, "nothing is claimed while paused");
    let paused_at = before.last().map_or(0, |e| e.seq);
    handle.resume();
    let state = tokio::time::timeout(RUN_WITHIN, handle.wait())
        .await
        .expect("the run finishes after the resume");
    assert!(state.answer.is_some());
    let after = handle.events_since(paused_at);
    assert!(
        claimed(&after) > 0,
        "codex-1 claimed once the swarm resumed"
    );
    workers.shutdown().await;
}

/// A repository whose check fails until `add` adds.
fn write_repo(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("calc.py"), "def add(a, b):\n    return a - b\n").unwrap();
    std::fs::write(
        dir.join("check.py"),
        "import calc\nassert calc.add(2, 3) == 5, 'add is wrong'\nprint('add works: 2 + 3 = 5')\n",
    )
    .unwrap();
}

#[test]
fn a_claude_worker_fixes_its_private_copy_and_the_fix_is_delivered_as_the_patch() {
    let Some(claude) = claude_bin() else {
        return;
    };
    let mut fixer = player("claude-code", None);
    fixer.fix = Some(Fix {
        file: "calc.py",
        old: "    return a - b",
        new: "    return a + b",
        check: "python3 check.py",
        passed: "add works: 2 + 3 = 5",
    });
    let claude_mock = MockLlm::start_blocking(Wire::Anthropic, fixer.claude());
    let native = native_mock();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let repo = dir.path().join("repo");
    write_repo(&repo);
    std::fs::create_dir_all(home.join("config")).unwrap();
    std::fs::write(
        home.join("config/config.toml"),
        format!(
            "[workers.claude-code]\ncommand = \"{}\"\n",
            claude.display()
        ),
    )
    .unwrap();
    let session = dir.path().join("run.jsonl");
    let mut cmd = support::isolated_command(env!("CARGO_BIN_EXE_delm"), &home);
    let child = cmd
        .env("OPENAI_API_KEY", OPENAI_KEY)
        .env("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
        .env(
            "ANTHROPIC_BASE_URL",
            claude_mock.base_url.trim_end_matches("/v1"),
        )
        .args(["run", "Make check.py pass", "--repo"])
        .arg(&repo)
        .args(["--allow-exec", "--allow-edit", "--agents", "0"])
        .args([
            "--worker",
            "claude-code:1",
            "--verify",
            "evidence",
            "--headless",
        ])
        .args(["--model", "openai:gpt-mock", "--base-url", &native.base_url])
        .arg("--session")
        .arg(&session)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let run = Run {
        dir,
        child,
        session,
        _mocks: vec![claude_mock, native],
    };
    let (code, _out, err, events, dir) = run.finish();
    assert_eq!(code, 0, "stderr:\n{err}");
    let mine = verified_by(&events, "claude-1");
    assert!(!mine.is_empty(), "claude-1's fix was verified:\n{err}");
    assert!(
        !of(&events, "patch_pinned").is_empty(),
        "the verified fix pinned claude-1's patch"
    );
    let patch = std::fs::read_to_string(dir.path().join("run.patch")).expect("run.patch");
    assert!(patch.contains("+    return a + b"), "{patch}");
    assert!(patch.contains("-    return a - b"), "{patch}");
    assert_eq!(
        std::fs::read_to_string(repo_of(&dir).join("calc.py")).unwrap(),
        "def add(a, b):\n    return a - b\n",
        "the user's files are untouched without --apply"
    );
}

fn repo_of(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("repo")
}

/// Needs no CLI: a stand-in that exits at once with a complaint, as a CLI without a login
/// would. It is restarted once, then reported, and never judged by its exit code alone.
#[test]
fn a_worker_that_keeps_exiting_is_restarted_once_then_reported() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("claude");
    std::fs::write(&fake, "#!/bin/sh\necho 'boom: not logged in' >&2\nexit 3\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let native = native_mock();
    let run = Run::start(
        &["claude-code:1"],
        Some((&fake, &native)),
        None,
        native_mock(),
        Vec::new(),
    );
    let reported = |events: &[Value], needle: &str| {
        of(events, "error").iter().any(|e| {
            e["agent"] == "claude-1" && e["message"].as_str().is_some_and(|m| m.contains(needle))
        })
    };
    wait_for("the second exit to be reported", RUN_WITHIN, || {
        reported(&run.events(), "not restarted").then_some(())
    });
    let (code, err, events) = run.interrupt();
    assert_eq!(code, 130, "{err}");
    assert!(
        reported(
            &events,
            "exited while the run goes on (exit code 3: boom: not logged in)"
        ),
        "the first exit names its status and stderr"
    );
    assert!(reported(&events, "restarting it once"));
    assert!(reported(&events, "it published no point"));
    assert_eq!(
        of(&events, "agent_joined")
            .iter()
            .filter(|e| e["agent"] == "claude-1")
            .count(),
        2,
        "started twice, not more"
    );
    drop(native);
}
