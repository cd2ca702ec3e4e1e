//! Outside agents on a live run over MCP, driven by a plain JSON-RPC client written for the
//! tests (`mcp_client`): the real binary with `--serve` over Streamable HTTP and through the
//! `delm mcp` stdio bridge, and the board in process for pause, re-enqueue and retries.
//! Every wait is for a state (a file, an event, an answer) with a generous deadline.

mod mcp_client;
mod support;
mod swarm;

use delm::engine::protocol::{
    ClaimReply, ParticipantKind, PointDraft, Reply as BoardReply, Request,
};
use delm::engine::{EngineHandle, RunBuilder, RunConfig, tools};
use delm::event::{Evidence, Mode, PointKind, VerifyMode};
use delm::llm::config::{ProviderConfig, ProviderKind, Secret};
use delm::llm::retry::{RetryPolicy, RetryingProvider};
use mcp_client::{HttpMcp, LEGACY, StdioMcp, handle_in};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::mock_llm::Gate;
use support::{MockLlm, RecordedRequest, Reply, Wire};
use swarm::*;

const KEY: &str = "sk-live-SECRET-mcp-0b1f2e3d4c5a";
const GOAL: &str = "Which company had the higher 2024 revenue?";
/// The headline of the outside agent's point: what the native agent must later see.
const MARKER: &str = "Beta Ltd reported 2024 revenue of 9.8 million dollars";
/// A real line of beta.txt, and one that is in no document.
const REAL_QUOTE: &str = "Beta Ltd 2024 revenue was 9.8 million dollars.";
const FAKE_QUOTE: &str = "Beta Ltd 2024 revenue was 99 billion dollars.";

fn write_docs(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let docs = [
        (
            "alpha.txt",
            "Annual report of Alpha Corp.\n\nAlpha Corp 2024 revenue was 12.5 million dollars, up from 10.1 million in 2023.\n",
        ),
        (
            "beta.txt",
            "Beta Ltd yearly summary.\n\nBeta Ltd 2024 revenue was 9.8 million dollars.\n",
        ),
        (
            "gamma.txt",
            "Gamma notes.\n\nGamma did not publish revenue figures for 2024.\n",
        ),
    ];
    for (name, text) in docs {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

/// The native agent: it holds its first answer until the test opens the gate (so the run
/// lives while the outside agent works), then finishes every task; the judge approves; the
/// finaliser cites every point it can see.
fn native_script(gate: Gate) -> impl Fn(&RecordedRequest, usize) -> Reply + Send + Sync {
    move |req, _| {
        if is_judge(req) {
            approve()
        } else if is_finalise(req) {
            final_answer(req, "Alpha Corp had the higher 2024 revenue.")
        } else if gate.is_open() {
            finish("done")
        } else {
            Reply::Hold(gate.clone(), Box::new(finish("done")))
        }
    }
}

/// Poll `check` until it gives a value (every 25 ms, for at most two minutes).
async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn session_events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn events_of<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

/// Claim until a task is granted (the native agent takes the first one), waiting on the
/// board between tries as an outside agent would. Returns the task id.
async fn claim_a_task(mcp: &mut HttpMcp, me: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let claim = mcp.call("claim_task", json!({"agent": me})).await;
        assert!(!claim.is_error, "{}", claim.text);
        if let Some(rest) = claim.text.split("You claimed ").nth(1) {
            return rest.split_whitespace().next().unwrap().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no task was granted: {}",
            claim.text
        );
        mcp.call("read_board", json!({"agent": me, "wait_s": 2}))
            .await;
    }
}

fn point_args(me: &str, headline: &str, quote: &str) -> Value {
    json!({"agent": me, "kind": "finding", "headline": headline,
        "summary": "From Beta Ltd's yearly summary.",
        "evidence": [{"source": "beta.txt", "quote": quote}]})
}

/// A scratch home for the binary: config, data, logs, documents.
struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let env = Env {
            dir: tempfile::tempdir().unwrap(),
        };
        write_docs(&env.path("docs"));
        std::fs::create_dir_all(env.path("config")).unwrap();
        // The held answer may wait long on a loaded machine: no timeout cuts it first, and
        // it holds one of the provider's slots, so the judge needs others.
        std::fs::write(
            env.path("config/config.toml"),
            "stream_idle_timeout_secs = 900\nrequest_timeout_secs = 900\nmax_concurrency = 4\n",
        )
        .unwrap();
        env
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn sessions(&self) -> PathBuf {
        self.path("data/sessions")
    }

    /// The real binary in this home, with the provider's key set.
    fn delm(&self) -> tokio::process::Command {
        let mut cmd = support::isolated_command(env!("CARGO_BIN_EXE_delm"), self.dir.path());
        cmd.env("OPENAI_API_KEY", KEY);
        tokio::process::Command::from(cmd)
    }

    /// `delm run ... --serve` over the documents with one native agent, headless, its
    /// stdout and stderr in files.
    fn spawn_run(&self, mock: &MockLlm, args: &[String]) -> tokio::process::Child {
        let mut cmd = self.delm();
        cmd.args(["run", GOAL, "--agents", "1", "--verify", "judge"])
            .args(args);
        self.spawn_headless(cmd, mock)
    }

    /// `cmd` (a run or a resume) headless and serving, against `mock`, its stdout and
    /// stderr in files.
    fn spawn_headless(
        &self,
        mut cmd: tokio::process::Command,
        mock: &MockLlm,
    ) -> tokio::process::Child {
        cmd.args(["--headless", "--serve", "--model", "openai:gpt-4.1-mini"])
            .args(["--base-url", &mock.base_url])
            .stdout(std::fs::File::create(self.path("stdout")).unwrap())
            .stderr(std::fs::File::create(self.path("stderr")).unwrap())
            .kill_on_drop(true);
        cmd.spawn().expect("delm starts")
    }

    /// The board file the run wrote (in the sessions directory), once it is there.
    async fn board(&self) -> (PathBuf, delm::mcp::BoardFile) {
        eventually("the board file", || {
            let entries = std::fs::read_dir(self.sessions()).ok()?;
            let path = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.to_string_lossy().ends_with(".board.json"))?;
            let file = delm::mcp::BoardFile::read(&path).ok()?;
            Some((path, file))
        })
        .await
    }

    /// Every output the run left: session, stdout, stderr and the log directory.
    fn outputs(&self) -> Vec<(String, String)> {
        let mut outs = vec![
            ("stdout".to_string(), self.read("stdout")),
            ("stderr".to_string(), self.read("stderr")),
        ];
        for dir in [self.sessions(), self.path("logs")] {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let text = std::fs::read(entry.path()).unwrap_or_default();
                let text = String::from_utf8_lossy(&text).into_owned();
                outs.push((entry.path().display().to_string(), text));
            }
        }
        outs
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_default()
    }
}

/// A live `delm run --serve` whose native agent waits at `gate`, and its board file.
struct Scene {
    env: Env,
    gate: Gate,
    mock: MockLlm,
    run: tokio::process::Child,
    board_path: PathBuf,
    board: delm::mcp::BoardFile,
}

impl Scene {
    /// A docs run with `extra` flags.
    async fn start(extra: &[&str]) -> Scene {
        let env = Env::new();
        let mut args = vec!["--docs".to_string(), env.path("docs").display().to_string()];
        args.extend(extra.iter().map(|a| a.to_string()));
        Scene::start_in(env, &args).await
    }

    async fn start_in(env: Env, args: &[String]) -> Scene {
        let gate = Gate::new();
        let mock = MockLlm::start(Wire::OpenAi, native_script(gate.clone())).await;
        let run = env.spawn_run(&mock, args);
        let (board_path, board) = env.board().await;
        Scene {
            env,
            gate,
            mock,
            run,
            board_path,
            board,
        }
    }

    /// The session log next to the board file.
    fn session(&self) -> PathBuf {
        PathBuf::from(
            self.board_path
                .to_string_lossy()
                .replace(".board.json", ".jsonl"),
        )
    }

    /// A client of the board, after the 2025-11-25 handshake.
    async fn client(&self, name: &str) -> HttpMcp {
        let mut mcp = HttpMcp::new(&self.board.url, &self.board.token);
        mcp.initialize(name).await;
        mcp
    }

    /// Let the native agent go on; the run must end well and take its board file along.
    async fn end(&mut self) {
        self.gate.open();
        let status = tokio::time::timeout(Duration::from_secs(300), self.run.wait())
            .await
            .expect("the run ends once the native agent goes on")
            .unwrap();
        assert!(status.success(), "{status}: {}", self.env.read("stderr"));
        assert!(
            !self.board_path.exists(),
            "the board file goes with the run"
        );
    }

    /// The token and the key are in no output of the run.
    fn assert_secrets_kept(&self) {
        for (name, text) in self.env.outputs() {
            assert!(
                !text.contains(&self.board.token),
                "the board token leaked into {name}"
            );
            assert!(!text.contains(KEY), "the API key leaked into {name}");
        }
    }

    /// The native agent's prompts that show the outside agent's point as a context line.
    fn native_prompts_with_the_point(&self, me: &str, task: &str) -> usize {
        let line = format!("[finding] {MARKER} ({me}, {task})");
        self.mock
            .requests()
            .iter()
            .filter(|r| !is_judge(r) && agent_of(r).as_deref() == Some("a1"))
            .filter(|r| r.prompt_text().contains(&line))
            .count()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outside_agent_over_http_publishes_a_verified_point_that_a_native_agent_reads() {
    let mut scene = Scene::start(&[]).await;
    let board = scene.board.clone();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&scene.board_path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the board file is for its owner only");
    }
    assert!(board.url.starts_with("http://127.0.0.1:") && board.url.ends_with("/mcp"));
    let mut mcp = HttpMcp::new(&board.url, &board.token);

    // No token, a wrong one, another scheme: 401 before any MCP processing (no session).
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "x", "version": "1"}}});
    let longer = format!("Bearer {}x", board.token);
    let basic = format!("Basic {}", board.token);
    for auth in [
        None,
        Some("Bearer delm_not-the-token"),
        Some(&*longer),
        Some(&*basic),
    ] {
        let answer = mcp.post(&init, auth, &[]).await;
        assert_eq!(answer.status, 401, "{auth:?}: {}", answer.body);
        assert!(answer.session.is_none(), "no MCP session for {auth:?}");
        assert!(answer.messages.is_empty());
        assert_eq!(
            answer.www_authenticate.as_deref(),
            Some("Bearer realm=\"delm\"")
        );
    }

    let info = mcp.initialize("it-http-client").await;
    assert_eq!(info["protocolVersion"], LEGACY);
    assert_eq!(info["serverInfo"]["name"], "delm");
    let names = mcp.tool_names().await;
    for tool in [
        "join_swarm",
        "read_board",
        "claim_task",
        "expand_point",
        "record_point",
        "add_task",
        "finish_task",
        "read_doc",
        "search_docs",
    ] {
        assert!(
            names.iter().any(|n| n == tool),
            "{tool} missing from {names:?}"
        );
    }
    assert!(
        !names.iter().any(|n| n == "run_check"),
        "run_check needs --allow-exec"
    );

    let joined = mcp
        .call("join_swarm", json!({"name": "http-test-agent"}))
        .await;
    assert!(!joined.is_error, "{}", joined.text);
    let me = handle_in(&joined.text);
    assert!(me.starts_with("x1-") && me.len() == 19, "{me}");
    for needle in [GOAL, "alpha.txt", "record_point", "exact", "120 s"] {
        assert!(
            joined.text.contains(needle),
            "{needle} not in the brief:\n{}",
            joined.text
        );
    }
    let stranger = mcp
        .call("read_board", json!({"agent": "x1-0000000000000000"}))
        .await;
    assert!(stranger.is_error && stranger.text.contains("unknown agent handle"));

    let first = mcp.call("read_board", json!({"agent": me})).await;
    assert!(
        first.text.contains("SHARED CONTEXT") && first.text.contains(GOAL),
        "{}",
        first.text
    );
    let task = claim_a_task(&mut mcp, &me).await;
    assert_ne!(task, "T1", "the native agent holds T1");

    let fake = point_args(&me, "Beta Ltd made 99 billion dollars", FAKE_QUOTE);
    let fake = mcp.call("record_point", fake).await;
    assert!(fake.text.contains("REJECTED"), "{}", fake.text);
    assert!(
        fake.text.contains("quote not found in beta.txt"),
        "{}",
        fake.text
    );

    let mut real = point_args(&me, MARKER, REAL_QUOTE);
    real["request_id"] = json!("publish-1");
    let verified = mcp.call("record_point", real.clone()).await;
    assert!(!verified.is_error, "{}", verified.text);
    assert!(
        verified.text.contains("verified and shared"),
        "{}",
        verified.text
    );
    let point = verified.text.split_whitespace().next().unwrap().to_string();
    // The same call again: the first answer, not a second point.
    let retried = mcp.call("record_point", real.clone()).await;
    assert_eq!(retried.text, verified.text);
    // The same point sent anew without the id (a client that timed out): its verdict.
    let resent = point_args(&me, MARKER, REAL_QUOTE);
    let resent = mcp.call("record_point", resent).await;
    assert_eq!(resent.text, verified.text);
    let mut reused = real.clone();
    reused["headline"] = json!("Another claim under the same id");
    let refused = mcp.call("record_point", reused).await;
    assert!(
        refused.is_error && refused.text.contains("already used"),
        "{}",
        refused.text
    );
    // A JSON-RPC id sent twice in one session is one call too.
    let add = json!({"agent": me, "title": "Cross-check Gamma's notes"});
    let added = mcp
        .call_with_id(json!("add-7"), "add_task", add.clone())
        .await;
    let again = mcp.call_with_id(json!("add-7"), "add_task", add).await;
    assert!(added.text.starts_with("Added T"), "{}", added.text);
    assert_eq!(added.text, again.text);

    let expand = json!({"agent": me, "point": point, "level": "evidence"});
    let expanded = mcp.call("expand_point", expand).await;
    assert!(expanded.text.contains(REAL_QUOTE), "{}", expanded.text);

    // The stateless revision: no session, the version in the request's _meta.
    let (answer, response) = mcp.stateless_call("read_board", json!({"agent": me})).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.session.is_none(), "2026-07-28 has no sessions");
    let text = response["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or("");
    // Verdicts on its own points reach the agent in its next read.
    assert!(
        text.contains("REJECTED (evidence 1: quote not found"),
        "{text}"
    );
    assert!(text.contains(&format!("; {point} verified")), "{text}");
    assert!(
        text.contains(&format!("YOU ({me}): holding {task}")),
        "{response}"
    );

    let result = json!({"agent": me, "result": format!("Recorded {point}.")});
    let done = mcp.call("finish_task", result).await;
    assert!(
        !done.is_error && done.text.starts_with(&format!("{task} finished")),
        "{}",
        done.text
    );
    let later = mcp.call("read_board", json!({"agent": me})).await;
    assert!(
        later.text.contains("SINCE YOUR LAST READ"),
        "{}",
        later.text
    );

    scene.end().await;
    assert!(
        scene.native_prompts_with_the_point(&me, &task) > 0,
        "no prompt of the native agent showed {point}"
    );
    let events = session_events(&scene.session());
    let joined = events_of(&events, "agent_joined");
    assert_eq!(joined.len(), 1);
    assert_eq!(joined[0]["agent"], me.as_str());
    assert_eq!(joined[0]["name"], "http-test-agent");
    assert_eq!(joined[0]["kind"], "mcp");
    assert_eq!(
        events_of(&events, "board_serving")[0]["url"],
        board.url.as_str()
    );
    let by_me = |e: &&&Value| e["point"]["author"] == me.as_str();
    let mine = events_of(&events, "point_proposed")
        .into_iter()
        .filter(|e| by_me(&e))
        .count();
    assert_eq!(mine, 2, "the fabricated point and one real one");
    assert!(
        events_of(&events, "point_verified")
            .iter()
            .any(|e| e["point"] == point.as_str())
    );
    let rejected = events_of(&events, "point_rejected");
    assert!(
        rejected
            .iter()
            .any(|e| e["reason"].as_str().unwrap().contains("quote not found"))
    );
    let finished = events_of(&events, "task_finished");
    assert!(
        finished
            .iter()
            .any(|e| e["agent"] == me.as_str() && e["task"] == task.as_str())
    );
    let added = events_of(&events, "task_added");
    assert_eq!(
        added
            .iter()
            .filter(|e| e["title"] == "Cross-check Gamma's notes")
            .count(),
        1
    );
    let answer = events_of(&events, "run_finished")[0];
    assert!(
        answer["cited"].as_array().unwrap().contains(&json!(point)),
        "{answer}"
    );
    scene.assert_secrets_kept();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stdio_bridge_joins_the_same_board() {
    let mut scene = Scene::start(&[]).await;
    let mut bridge = scene.env.delm();
    bridge.args(["mcp", &scene.board.run_id]);
    let mut stdio = StdioMcp::spawn(bridge);
    let init = stdio.initialize("it-stdio-client").await;
    assert_eq!(init["result"]["protocolVersion"], LEGACY, "{init}");
    let tools = stdio.request("tools/list", json!({})).await;
    assert!(tools.to_string().contains("record_point"), "{tools}");

    let me = handle_in(&stdio.call("join_swarm", json!({})).await.text);
    let task = loop {
        let claim = stdio.call("claim_task", json!({"agent": me})).await;
        if let Some(rest) = claim.text.split("You claimed ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
        stdio
            .call("read_board", json!({"agent": me, "wait_s": 2}))
            .await;
    };
    let fake = point_args(&me, "Beta Ltd made 99 billion dollars", FAKE_QUOTE);
    let fake = stdio.call("record_point", fake).await;
    assert!(
        fake.text.contains("REJECTED") && fake.text.contains("quote not found"),
        "{}",
        fake.text
    );
    let real = stdio
        .call("record_point", point_args(&me, MARKER, REAL_QUOTE))
        .await;
    assert!(real.text.contains("verified and shared"), "{}", real.text);
    let result = json!({"agent": me, "result": "Recorded Beta's revenue."});
    let done = stdio.call("finish_task", result).await;
    assert!(done.text.contains("finished"), "{}", done.text);

    scene.end().await;
    assert!(scene.native_prompts_with_the_point(&me, &task) > 0);
    // The run is gone: a call says so instead of hanging.
    let late = stdio.call("read_board", json!({"agent": me})).await;
    assert!(
        late.is_error && late.text.contains("cannot reach the board"),
        "{}",
        late.text
    );
    let transcript = stdio.transcript.join("\n");
    let (status, rest) = stdio.close().await;
    assert!(status.success(), "delm mcp: {status} {rest}");
    let events = session_events(&scene.session());
    let joined = events_of(&events, "agent_joined");
    assert_eq!(
        joined[0]["name"], "it-stdio-client",
        "the bridge joins in its client's name"
    );
    for (name, text) in [("the bridge's stdout", &transcript), ("its stderr", &rest)] {
        assert!(
            !text.contains(&scene.board.token),
            "the token leaked into {name}"
        );
    }
    scene.assert_secrets_kept();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_outside_agent_loses_its_claim_when_its_lease_runs_out() {
    let mut scene = Scene::start(&["--lease-secs", "1"]).await;
    let mut mcp = scene.client("it-lease").await;
    let me = handle_in(&mcp.call("join_swarm", json!({"name": "sleepy"})).await.text);
    let task = claim_a_task(&mut mcp, &me).await;
    // Silence: the board hears nothing from this agent until its claim has expired.
    let session = scene.session();
    eventually("the claim to expire", || {
        let events = session_events(&session);
        let expired = events_of(&events, "claim_expired")
            .iter()
            .any(|e| e["agent"] == me.as_str() && e["task"] == task.as_str());
        let requeued = events_of(&events, "task_requeued")
            .iter()
            .any(|e| e["task"] == task.as_str() && e["by"] == "lease");
        (expired && requeued).then_some(())
    })
    .await;
    let late = json!({"agent": me, "result": "too late"});
    let late = mcp.call("finish_task", late).await;
    assert!(late.is_error, "{}", late.text);
    assert!(
        late.text
            .contains(&format!("your claim on {task} was revoked")),
        "{}",
        late.text
    );
    assert!(late.text.contains("silent for 1 s"), "{}", late.text);
    scene.end().await;
    let events = session_events(&session);
    let finished = events_of(&events, "task_finished");
    assert!(
        !finished.iter().any(|e| e["agent"] == me.as_str()),
        "a revoked claim's result is never recorded"
    );
    scene.assert_secrets_kept();
}

/// An in-process run whose judge answers only once the second gate opens (a busy
/// verifier); the native agent waits at the first.
async fn busy_verifier(
    dir: &Path,
    verdict_wait: Duration,
) -> (Gate, Gate, MockLlm, EngineHandle, delm::mcp::ServingBoard) {
    let (native, judge) = (Gate::new(), Gate::new());
    let (held, judged) = (native_script(native.clone()), judge.clone());
    let mock = MockLlm::start(Wire::OpenAi, move |req, n| {
        if is_judge(req) {
            Reply::Hold(judged.clone(), Box::new(approve()))
        } else {
            held(req, n)
        }
    })
    .await;
    let (handle, serving, _) = in_process_run(&mock, dir, verdict_wait).await;
    (native, judge, mock, handle, serving)
}

/// A run in this process with one native agent held at the gate, and its board served.
async fn in_process_run(
    mock: &MockLlm,
    dir: &Path,
    verdict_wait: Duration,
) -> (
    EngineHandle,
    delm::mcp::ServingBoard,
    Arc<dyn tools::Workspace>,
) {
    write_docs(&dir.join("docs"));
    let mode = Mode::Docs {
        roots: vec![dir.join("docs").to_string_lossy().into_owned()],
    };
    let mut pc = ProviderConfig::new(ProviderKind::OpenAi, "test-model", mock.base_url.clone());
    pc.api_key = Some(Secret::new(KEY));
    let policy = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
        max_concurrency: 4,
        ..RetryPolicy::default()
    };
    let llm = Arc::new(RetryingProvider::new(delm::llm::build_provider(pc), policy));
    let mut cfg = RunConfig::new(GOAL, mode.clone(), "openai:test-model");
    cfg.agents = 1;
    cfg.verify = VerifyMode::Judge;
    let mut settings = delm::mcp::BoardSettings::of(&cfg);
    settings.verdict_wait = verdict_wait;
    let workspace = tools::open(&mode).unwrap();
    let price: delm::engine::PriceFn = Arc::new(|_| Some(0.0));
    let handle = RunBuilder::new(cfg, llm, price, workspace.clone())
        .start()
        .unwrap();
    let serving = delm::mcp::serve(
        handle.clone(),
        workspace.clone(),
        settings,
        delm::mcp::DEFAULT_ADDR,
        &dir.join("run.jsonl"),
    )
    .await
    .unwrap();
    (handle, serving, workspace)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_says_wait_and_a_waiting_read_wakes_on_resume_and_on_a_revoked_claim() {
    let dir = tempfile::tempdir().unwrap();
    let gate = Gate::new();
    let mock = MockLlm::start(Wire::OpenAi, native_script(gate.clone())).await;
    let (handle, serving, _) = in_process_run(&mock, dir.path(), Duration::from_secs(600)).await;
    let board = delm::mcp::BoardFile::read(serving.board_file()).unwrap();
    let mut mcp = HttpMcp::new(serving.url(), &board.token);
    mcp.initialize("it-pause").await;
    let me = handle_in(&mcp.call("join_swarm", json!({"name": "worker"})).await.text);
    let other = handle_in(&mcp.call("join_swarm", json!({"name": "second"})).await.text);
    let task = claim_a_task(&mut mcp, &me).await;

    handle.pause();
    eventually("the pause", || handle.snapshot().paused.then_some(())).await;
    let claim = mcp.call("claim_task", json!({"agent": other})).await;
    assert!(claim.text.starts_with("paused, wait"), "{}", claim.text);
    let record = mcp
        .call("record_point", point_args(&me, MARKER, REAL_QUOTE))
        .await;
    assert!(
        record.is_error && record.text.starts_with("paused, wait"),
        "{}",
        record.text
    );
    let read = mcp.call("read_board", json!({"agent": me})).await;
    assert!(read.text.starts_with("paused, wait"), "{}", read.text);

    handle.resume();
    let woke = mcp
        .call("read_board", json!({"agent": me, "wait_s": 25}))
        .await;
    assert!(
        woke.text.contains("woke: the human resumed the swarm"),
        "{}",
        woke.text
    );

    handle.requeue(task.clone(), Some("try the other report".into()));
    let woke = mcp
        .call("read_board", json!({"agent": me, "wait_s": 25}))
        .await;
    assert!(
        woke.text
            .contains(&format!("your claim on {task} was revoked"))
            && woke.text.contains("try the other report"),
        "{}",
        woke.text
    );
    let late = mcp
        .call("finish_task", json!({"agent": me, "result": "x"}))
        .await;
    assert!(
        late.is_error && late.text.contains("revoked"),
        "{}",
        late.text
    );

    gate.open();
    handle.stop();
    handle.wait().await;
    eventually("the board to stop serving", || {
        (!serving.is_serving()).then_some(())
    })
    .await;
    assert!(
        !serving.board_file().exists(),
        "the board file goes with the run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publication_repeated_while_it_is_verified_is_applied_once() {
    let dir = tempfile::tempdir().unwrap();
    let (native, judge, mock, handle, _serving) =
        busy_verifier(dir.path(), Duration::from_secs(600)).await;
    let p = Arc::new(handle.participant("x9-retrying"));
    let joined = p.send_with_id(
        p.next_request_id(),
        Request::Join {
            name: "retrier".into(),
            kind: ParticipantKind::Mcp,
        },
    );
    assert!(matches!(joined.await, Some((BoardReply::Ok, _))));
    let claim = loop {
        match p.send_with_id(p.next_request_id(), Request::Claim).await {
            Some((BoardReply::Claim(ClaimReply::Task { claim, .. }), _)) => break claim,
            other => {
                assert!(matches!(
                    other,
                    Some((BoardReply::Claim(ClaimReply::Wait { .. }), _))
                ));
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
    };
    let propose = Request::Propose {
        claim,
        points: vec![PointDraft {
            kind: PointKind::Finding,
            headline: MARKER.into(),
            summary: String::new(),
            evidence: vec![Evidence {
                source: "beta.txt".into(),
                lines: None,
                quote: REAL_QUOTE.into(),
                resolved: None,
            }],
            supersedes: None,
            notes: Vec::new(),
        }],
    };
    let id = p.next_request_id();
    let send = |p: Arc<delm::engine::client::InProcessClient>, r: Request| {
        tokio::spawn(async move { p.send_with_id(id, r).await.map(|(reply, _)| reply) })
    };
    let first = send(p.clone(), propose.clone());
    eventually("the judge to be asked", || {
        mock.requests().iter().any(is_judge).then_some(())
    })
    .await;
    let repeat = send(p.clone(), propose.clone());
    // The board takes requests in order: once this is answered, the repeat was seen.
    let beat = p
        .send_with_id(p.next_request_id(), Request::Heartbeat)
        .await;
    assert!(matches!(beat, Some((BoardReply::Ok, _))));
    let proposed = |h: &EngineHandle| {
        h.events_since(0)
            .iter()
            .filter(|e| matches!(e.event, delm::event::Event::PointProposed { .. }))
            .count()
    };
    assert_eq!(
        proposed(&handle),
        1,
        "the repeat waits for the first verification"
    );
    judge.open();
    let (first, repeat) = (first.await.unwrap(), repeat.await.unwrap());
    assert!(matches!(&first, Some(BoardReply::Verdicts { verdicts }) if verdicts[0].verified));
    assert_eq!(first, repeat);
    let late = send(p.clone(), propose).await.unwrap();
    assert_eq!(late, first, "a later repeat gets the remembered answer");
    assert_eq!(proposed(&handle), 1);
    native.open();
    handle.stop();
    handle.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_or_taken_serve_address_is_a_usage_error_before_the_run_starts() {
    let env = Env::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().unwrap().to_string();
    for (addr, says) in [
        (taken.as_str(), "--serve cannot listen on"),
        ("not-an-address", "is not an address"),
    ] {
        let session = env.path("s.jsonl");
        let out = env
            .delm()
            .args([
                "run",
                GOAL,
                "--headless",
                "--base-url",
                "http://127.0.0.1:9/v1",
            ])
            .args(["--serve", addr, "--session"])
            .arg(&session)
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{addr}: {stderr}");
        assert!(stderr.contains(says), "{addr}: {stderr}");
        assert!(!session.exists(), "no run was started for {addr}");
        assert!(!delm::mcp::board_file_for(&session).exists());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_verdict_is_told_later_and_the_point_is_never_proposed_twice() {
    let dir = tempfile::tempdir().unwrap();
    // The verifier is "busy" until the gate opens; record_point stops waiting at once.
    let (native, judge, _mock, handle, serving) = busy_verifier(dir.path(), Duration::ZERO).await;
    let token = delm::mcp::BoardFile::read(serving.board_file())
        .unwrap()
        .token;
    let mut mcp = HttpMcp::new(serving.url(), &token);
    mcp.initialize("it-slow").await;
    let me = handle_in(
        &mcp.call("join_swarm", json!({"name": "patient"}))
            .await
            .text,
    );
    claim_a_task(&mut mcp, &me).await;
    mcp.call("read_board", json!({"agent": me})).await;
    let first = mcp
        .call("record_point", point_args(&me, MARKER, REAL_QUOTE))
        .await;
    assert!(
        first.text.contains("is still being verified"),
        "{}",
        first.text
    );
    let point = first.text.split_whitespace().next().unwrap().to_string();
    assert!(point.starts_with('P'), "{}", first.text);
    let again = mcp
        .call("record_point", point_args(&me, MARKER, REAL_QUOTE))
        .await;
    assert_eq!(again.text, first.text);
    let pending = mcp.call("read_board", json!({"agent": me})).await;
    assert!(
        pending
            .text
            .contains(&format!("{point} still being verified")),
        "{}",
        pending.text
    );
    judge.open();
    let woke = mcp
        .call("read_board", json!({"agent": me, "wait_s": 25}))
        .await;
    assert!(
        woke.text.contains(&format!("woke: verdicts on {point}")),
        "{}",
        woke.text
    );
    assert!(
        woke.text
            .contains(&format!("YOUR POINTS: {point} verified")),
        "{}",
        woke.text
    );
    let proposed = handle
        .events_since(0)
        .iter()
        .filter(|e| matches!(e.event, delm::event::Event::PointProposed { .. }))
        .count();
    assert_eq!(proposed, 1, "one point, however often it was sent");
    native.open();
    handle.stop();
    handle.wait().await;
}

#[test]
fn the_tui_marks_outside_agents_and_shows_where_the_board_is_served() {
    use delm::tui::{AppState, Keymap, Theme, draw};
    let lines = [
        json!({"type": "run_started", "run_id": "r1", "goal": GOAL, "mode": {"kind": "plain"},
            "model": "openai:test", "agents": 1, "verify": "judge"}),
        json!({"type": "board_serving", "url": "http://127.0.0.1:7777/mcp"}),
        json!({"type": "agent_joined", "agent": "x1-0123456789abcdef", "name": "claude-code",
            "kind": "mcp"}),
        json!({"type": "agent_status", "agent": "x1-0123456789abcdef", "status": "idle"}),
        json!({"type": "agent_status", "agent": "a1", "status": "idle"}),
    ];
    let mut state = AppState::live(Keymap::default(), Theme::default());
    for (i, line) in lines.into_iter().enumerate() {
        let mut env = line;
        env["seq"] = json!(i + 1);
        env["ts"] = json!("2026-03-14T09:00:00Z");
        state.apply(&serde_json::from_value(env).expect("a valid event"));
    }
    state.resize(120, 40);
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 40)).unwrap();
    terminal.draw(|frame| draw(frame, &state)).unwrap();
    let screen = terminal.backend().to_string();
    assert!(screen.contains("x1-0123… ⇄ claude-code"), "{screen}");
    assert!(
        screen.contains(" a1 "),
        "native agents keep their id: {screen}"
    );
    assert!(
        screen.contains("board http://127.0.0.1:7777/mcp"),
        "{screen}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_check_runs_in_the_sandbox_and_its_run_is_citable_evidence() {
    let env = Env::new();
    let repo = env.path("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join("README.md"), "A tiny repository.\n").unwrap();
    let args = [
        "--repo".to_string(),
        repo.display().to_string(),
        "--allow-exec".into(),
    ];
    let mut scene = Scene::start_in(env, &args).await;
    let mut mcp = scene.client("it-exec").await;
    assert!(mcp.tool_names().await.iter().any(|n| n == "run_check"));
    let me = handle_in(
        &mcp.call("join_swarm", json!({"name": "checker"}))
            .await
            .text,
    );
    let add = json!({"agent": me, "title": "Run the check"});
    assert!(mcp.call("add_task", add).await.text.starts_with("Added"));
    claim_a_task(&mut mcp, &me).await;
    let check = json!({"agent": me, "cmd": "echo delm-check-ok; echo \"key=$OPENAI_API_KEY\"",
        "timeout_s": 60});
    let ran = mcp.call("run_check", check).await;
    assert!(!ran.is_error, "{}", ran.text);
    assert!(
        ran.text.contains("exited with 0") && ran.text.contains("delm-check-ok"),
        "{}",
        ran.text
    );
    assert!(
        !ran.text.contains(KEY),
        "the sandbox keeps the provider's key from commands"
    );
    let run = ran.text.split(':').next().unwrap().to_string();
    let point = json!({"agent": me, "kind": "finding", "headline": "The check prints delm-check-ok",
        "summary": "run_check output", "evidence": [{"source": format!("cmd:{run}"),
        "quote": "delm-check-ok"}]});
    let verified = mcp.call("record_point", point).await;
    assert!(
        verified.text.contains("verified and shared"),
        "{}",
        verified.text
    );
    let done = json!({"agent": me, "result": "The check passes."});
    assert!(
        mcp.call("finish_task", done)
            .await
            .text
            .contains("finished")
    );
    scene.end().await;
    let events = session_events(&scene.session());
    let calls = events_of(&events, "tool_call");
    assert!(
        calls
            .iter()
            .any(|e| e["tool"] == "run_check" && e["agent"] == me.as_str())
    );
    scene.assert_secrets_kept();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_run_serves_its_board_again_with_a_new_token() {
    let mut scene = Scene::start(&[]).await;
    let old = scene.board.clone();
    let session = scene.session();
    eventually("the first process to log board_serving", || {
        (!events_of(&session_events(&session), "board_serving").is_empty()).then_some(())
    })
    .await;
    // A killed run leaves its board file behind, naming a process that is gone.
    scene.run.kill().await.unwrap();
    let stale = scene
        .env
        .delm()
        .args(["mcp", &old.run_id])
        .output()
        .await
        .unwrap();
    let said = String::from_utf8_lossy(&stale.stderr);
    assert_eq!(stale.status.code(), Some(1), "{said}");
    assert!(said.contains("is not running any more"), "{said}");
    let mut resume = scene.env.delm();
    resume.args(["resume", &old.run_id]);
    scene.run = scene.env.spawn_headless(resume, &scene.mock);
    let path = scene.board_path.clone();
    scene.board = eventually("the resumed run's board file", || {
        delm::mcp::BoardFile::read(&path)
            .ok()
            .filter(|b| b.token != old.token)
    })
    .await;
    // The old token opens nothing on the new board.
    let stranger = HttpMcp::new(&scene.board.url, &old.token);
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "x", "version": "1"}}});
    let refused = stranger
        .post(&init, Some(&format!("Bearer {}", old.token)), &[])
        .await;
    assert_eq!(refused.status, 401);
    let mut mcp = scene.client("it-resume").await;
    let me = handle_in(&mcp.call("join_swarm", json!({"name": "late"})).await.text);
    let task = claim_a_task(&mut mcp, &me).await;
    let done = json!({"agent": me, "result": "Nothing to add."});
    assert!(
        mcp.call("finish_task", done)
            .await
            .text
            .starts_with(&format!("{task} finished"))
    );
    scene.end().await;
    let events = session_events(&scene.session());
    assert_eq!(
        events_of(&events, "board_serving").len(),
        2,
        "served by both processes"
    );
    assert_eq!(events_of(&events, "run_resumed").len(), 1);
    for (name, text) in scene.env.outputs() {
        assert!(
            !text.contains(&old.token),
            "the first token leaked into {name}"
        );
    }
    scene.assert_secrets_kept();
}
