//! Many machines, on one: a real nats-server (started here, JetStream on a temp store), the
//! real `delm` binary as the board, as workers and as an attached terminal, each a separate
//! process, and the scripted model server playing the agents. Every wait is for a state
//! (an event in the log, a line on stderr, a process exit), never for a fixed time.

mod repo_run;
mod support;
mod swarm;

use delm::engine::EngineClient;
use delm::event::{Envelope, Event, RunState, StoppedBy, TaskState};
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::nats_server::NatsServer;
use support::{Gate, MockLlm, RecordedRequest, Reply, Wire};
use swarm::convert::{celsius, fahrenheit, two_agents};
use swarm::repair::{Cites, FIX_LINE, GREEN_QUOTE, HEADLINE, TEST_CMD, repair};
use swarm::*;

const KEY: &str = "sk-live-NATS-SECRET-5f4dcc3b5aa765d6";
const GOAL: &str = "Which vendor had the higher 2024 revenue?";
/// Generous: a loaded 2-core machine runs several of these at once.
const WITHIN: Duration = Duration::from_secs(180);
/// Short, so the lease tests do not wait long; long enough for a busy machine's heartbeats.
const LEASE_SECS: &str = "4";

/// Poll `probe` until it yields, failing with `what` after [`WITHIN`].
fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(start.elapsed() < WITHIN, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Which model calls the script holds back until the test opens a gate.
#[derive(Clone, Default)]
struct Holds {
    /// The first work call of any task.
    work: Option<Gate>,
    /// What the held work call answers (default: what the cooperative agent would).
    work_reply: Option<Reply>,
    /// Every finalise call.
    finalise: Option<Gate>,
    /// (agent, task) of the held work call, once it arrived.
    held: Arc<Mutex<Option<(String, String)>>>,
    taken: Arc<AtomicBool>,
}

impl Holds {
    /// Hold the first work call of any task.
    fn first_work() -> Holds {
        Holds {
            work: Some(Gate::default()),
            ..Holds::default()
        }
    }

    fn open_work(&self) {
        self.work.as_ref().expect("a work gate").open();
    }

    fn held(&self) -> Option<(String, String)> {
        self.held.lock().unwrap().clone()
    }
}

/// The agent id in a request's task message (`You are agent w1.a2.`).
fn agent_id(req: &RecordedRequest) -> String {
    agent_of(req).unwrap_or_default()
}

fn script(holds: Holds) -> impl Fn(&RecordedRequest, usize) -> Reply + Send + Sync + 'static {
    move |req, n| {
        let reply = cooperative::script(req, n);
        if is_finalise(req)
            && let Some(gate) = &holds.finalise
        {
            return Reply::Hold(gate.clone(), Box::new(reply));
        }
        if let (Some(gate), Some(task)) = (&holds.work, task_of(req))
            && !is_judge(req)
            && assistant_turns(req) == 0
            && !holds.taken.swap(true, Ordering::SeqCst)
        {
            *holds.held.lock().unwrap() = Some((agent_id(req), task));
            let reply = holds.work_reply.clone().unwrap_or(reply);
            return Reply::Hold(gate.clone(), Box::new(reply));
        }
        reply
    }
}

/// One process of the cluster, its output collected as it comes.
struct Proc {
    name: String,
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    status: Option<ExitStatus>,
}

fn collect(mut from: impl Read + Send + 'static, into: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(&mut from);
        let mut line = String::new();
        while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
            into.lock().unwrap().push_str(&line);
            line.clear();
        }
    });
}

impl Proc {
    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
    fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }
    fn pid(&self) -> i32 {
        self.child.id() as i32
    }
    fn signal(&self, sig: i32) {
        // SAFETY: sending a signal to a child this test started.
        assert_eq!(unsafe { libc::kill(self.pid(), sig) }, 0, "kill {sig}");
    }
    fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().unwrap();
        }
        self.status
    }
    /// Wait for the process to end; its status.
    fn wait(&mut self) -> ExitStatus {
        let name = self.name.clone();
        let status = wait_for(&format!("{name} to exit"), || self.exited());
        // The readers finish once the pipes close.
        std::thread::sleep(Duration::from_millis(20));
        status
    }
    fn wait_success(&mut self) {
        let status = self.wait();
        assert!(
            status.success(),
            "{} exited with {status}\nstderr:\n{}",
            self.name,
            self.stderr()
        );
    }
    /// The line on stderr that contains `needle`, once it is there.
    fn wait_stderr(&mut self, needle: &str) -> String {
        let name = self.name.clone();
        wait_for(&format!("{name} to print {needle:?}"), || {
            let text = self.stderr();
            if let Some(line) = text.lines().find(|l| l.contains(needle)) {
                return Some(line.to_string());
            }
            if let Some(status) = self.exited() {
                panic!("{name} exited ({status}) before printing {needle:?}:\n{text}");
            }
            None
        })
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A worker's id, once it printed that it joined.
fn joined(worker: &mut Proc) -> String {
    let line = worker.wait_stderr(": joined run");
    let id = line
        .strip_prefix("delm worker ")
        .and_then(|r| r.split(':').next())
        .unwrap()
        .to_string();
    worker.name = format!("worker {id}");
    id
}

struct Cluster {
    dir: tempfile::TempDir,
    nats: NatsServer,
    mock: MockLlm,
    holds: Holds,
    /// The board's address as the board and workers are given it.
    board_url: String,
}

impl Cluster {
    fn new(holds: Holds) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let nats = NatsServer::start(&dir.path().join("js"));
        Self::around(dir, nats, holds)
    }

    /// A cluster whose server admits only clients with `token`; the board gets it in its
    /// URL.
    fn with_token(token: &str) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let nats = NatsServer::start_with_token(&dir.path().join("js"), token);
        let mut c = Self::around(dir, nats, Holds::first_work());
        c.board_url = format!("nats://{token}@127.0.0.1:{}", c.nats.port);
        c
    }

    fn around(dir: tempfile::TempDir, nats: NatsServer, holds: Holds) -> Cluster {
        let mock = MockLlm::start_blocking(Wire::OpenAi, script(holds.clone()));
        Self::serving(dir, nats, holds, mock)
    }

    /// A cluster whose agents all follow `script`.
    fn scripted(
        script: impl Fn(&RecordedRequest, usize) -> Reply + Send + Sync + 'static,
    ) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let nats = NatsServer::start(&dir.path().join("js"));
        let mock = MockLlm::start_blocking(Wire::OpenAi, script);
        Self::serving(dir, nats, Holds::default(), mock)
    }

    fn serving(dir: tempfile::TempDir, nats: NatsServer, holds: Holds, mock: MockLlm) -> Cluster {
        Cluster {
            dir,
            board_url: nats.url(),
            nats,
            mock,
            holds,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cmd(&self) -> Command {
        let mut cmd = support::delm_command(env!("CARGO_BIN_EXE_delm"), self.dir.path(), KEY);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd
    }

    fn spawn(&self, name: &str, args: &[&str]) -> Proc {
        let mut cmd = self.cmd();
        cmd.args(args);
        self.spawn_cmd(name, cmd)
    }

    fn spawn_cmd(&self, name: &str, mut cmd: Command) -> Proc {
        let mut child = cmd.spawn().unwrap();
        let (stdout, stderr) = (Arc::default(), Arc::default());
        collect(child.stdout.take().unwrap(), Arc::clone(&stdout));
        collect(child.stderr.take().unwrap(), Arc::clone(&stderr));
        Proc {
            name: name.to_string(),
            child,
            stdout,
            stderr,
            status: None,
        }
    }

    fn model_args(&self) -> Vec<String> {
        [
            "--model",
            "openai:gpt-4.1-mini",
            "--base-url",
            &self.mock.base_url,
        ]
        .map(String::from)
        .to_vec()
    }

    /// A board with no agents of its own over the fixture documents; its run id.
    fn board(&self) -> (Proc, String) {
        self.board_on(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/docs"))
    }

    /// A board over the documents in `docs`.
    fn board_on(&self, docs: &Path) -> (Proc, String) {
        self.board_with(GOAL, 0, &["--docs", docs.to_str().unwrap()])
    }

    /// A board asked `goal` with `agents` of its own, over the workspace `flags` name (and
    /// what else they allow).
    fn board_with(&self, goal: &str, agents: usize, flags: &[&str]) -> (Proc, String) {
        let agents = agents.to_string();
        let mut args: Vec<String> = [
            "run",
            goal,
            "--board",
            &self.board_url,
            "--agents",
            &agents,
            "--lease",
            LEASE_SECS,
            "--verify",
            "evidence",
            "--headless",
        ]
        .map(String::from)
        .to_vec();
        args.extend(flags.iter().map(|f| f.to_string()));
        args.extend(self.model_args());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut board = self.spawn("board", &args);
        let line = board.wait_stderr("board: nats://");
        let run = line
            .split_whitespace()
            .nth(1)
            .and_then(|url| url.rsplit('/').next())
            .unwrap()
            .to_string();
        (board, run)
    }

    /// A worker with `agents` agents; its worker id once it joined.
    fn worker(&self, agents: usize) -> (Proc, String) {
        let mut worker = self.spawn_worker(agents);
        let id = joined(&mut worker);
        (worker, id)
    }

    fn spawn_worker(&self, agents: usize) -> Proc {
        self.spawn_worker_with(agents, &[])
    }

    /// A worker given the plain server URL and `env` (credentials, say).
    fn spawn_worker_with(&self, agents: usize, env: &[(&str, &str)]) -> Proc {
        self.spawn_worker_flags(agents, &[], env)
    }

    /// [`Cluster::spawn_worker_with`], with more flags (`--allow-exec`, say).
    fn spawn_worker_flags(&self, agents: usize, flags: &[&str], env: &[(&str, &str)]) -> Proc {
        let n = agents.to_string();
        let url = self.nats.url();
        let mut args: Vec<String> = ["worker", "--board", &url, "--agents", &n]
            .map(String::from)
            .to_vec();
        args.extend(flags.iter().map(|f| f.to_string()));
        args.extend(self.model_args());
        let mut cmd = self.cmd();
        cmd.args(&args).envs(env.iter().copied());
        self.spawn_cmd("worker", cmd)
    }

    fn session(&self, run: &str) -> PathBuf {
        self.path(&format!("data/sessions/{run}.jsonl"))
    }

    fn events(&self, run: &str) -> Vec<Envelope> {
        match delm::session::read_session(&self.session(run)) {
            Ok(log) => log.events,
            Err(_) => Vec::new(),
        }
    }

    /// Once every process exited successfully: the run's log, its fold, and the check that
    /// it completed with every task finished exactly once.
    fn finished_once(&self, run: &str, procs: &mut [&mut Proc]) -> (Vec<Envelope>, RunState) {
        for proc in procs.iter_mut() {
            proc.wait_success();
        }
        let events = self.events(run);
        let state = RunState::from_events(events.iter());
        assert_finished_once(&state, &events);
        (events, state)
    }

    /// Wait until the board's log holds an event `pick` accepts; that event.
    fn wait_event(&self, run: &str, what: &str, pick: impl Fn(&Envelope) -> bool) -> Envelope {
        wait_for(what, || self.events(run).into_iter().find(|e| pick(e)))
    }
}

/// Every task finished exactly once, by whom.
fn finishers(events: &[Envelope]) -> HashMap<String, Vec<String>> {
    let mut by_task: HashMap<String, Vec<String>> = HashMap::new();
    for e in events {
        if let Event::TaskFinished { task, agent, .. } = &e.event {
            by_task.entry(task.clone()).or_default().push(agent.clone());
        }
    }
    by_task
}

fn assert_finished_once(state: &RunState, events: &[Envelope]) {
    let answer = state.answer.as_ref().expect("the run has an answer");
    assert_eq!(answer.stopped_by, StoppedBy::Completed, "{}", answer.answer);
    let by_task = finishers(events);
    for task in &state.tasks {
        assert_eq!(task.state, TaskState::Done, "{} is done", task.id);
        assert_eq!(
            by_task.get(&task.id).map(Vec::len),
            Some(1),
            "{} finished exactly once: {:?}",
            task.id,
            by_task.get(&task.id)
        );
    }
}

/// The run's stream, read straight from the server: every event in order.
fn stream_events(nats: &NatsServer, run: &str) -> Vec<Envelope> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = async_nats::connect(nats.url()).await.unwrap();
        let js = async_nats::jetstream::new(client);
        let names = delm::nats::names::RunNames::new(run).unwrap();
        delm::nats::log::read_all(&js, &names).await.unwrap().0
    })
}

#[test]
fn a_board_with_no_agents_and_two_workers_finish_a_run_watched_by_attach() {
    // The first work call waits until both workers joined, so neither finds the run over.
    let c = Cluster::new(Holds::first_work());
    let (mut board, run) = c.board();
    let url = format!("{}/{run}", c.nats.url());
    let mut attach = c.spawn("attach", &["attach", &url, "--headless", "--json"]);
    let (mut w1, mut w2) = (c.spawn_worker(2), c.spawn_worker(2));
    let (id1, id2) = (joined(&mut w1), joined(&mut w2));
    assert_ne!(id1, id2, "each worker gets its own id");
    c.holds.open_work();
    let (events, state) = c.finished_once(&run, &mut [&mut board, &mut w1, &mut w2, &mut attach]);
    assert!(state.tasks.len() >= 5, "one task per document");
    // Every agent is a worker's: the board ran none.
    for e in &events {
        if let Event::TaskClaimed { agent, .. } = &e.event {
            assert!(
                agent.starts_with(&format!("{id1}.")) || agent.starts_with(&format!("{id2}.")),
                "{agent} is a worker's agent"
            );
        }
    }
    for id in [&id1, &id2] {
        let joined = events.iter().any(|e| {
            matches!(&e.event, Event::AgentJoined { agent, kind, .. }
                if agent.starts_with(&format!("{id}.")) && kind == "remote")
        });
        assert!(joined, "{id}'s agents joined as remote agents");
    }
    assert!(state.count_points(None, delm::event::PointStatus::Verified) >= 3);
    assert!(
        state
            .board_url
            .as_deref()
            .is_some_and(|u| u.ends_with(&run))
    );

    // `attach --headless --json` followed the whole run: the same events, in order, to the end.
    let lines: Vec<Value> = attach
        .stdout()
        .lines()
        .map(|l| serde_json::from_str(l).expect("every stdout line is an event"))
        .collect();
    assert_eq!(lines.last().unwrap()["type"], "run_finished");
    let seqs: Vec<u64> = lines.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, events.iter().map(|e| e.seq).collect::<Vec<_>>());

    // The stream and the session export hold the same log.
    assert_eq!(stream_events(&c.nats, &run), events);

    let listed = c
        .cmd()
        .args(["runs", "--board", &c.nats.url()])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(&run) && l.contains("done")),
        "{listed}"
    );

    // The key went to the provider only.
    let session = std::fs::read_to_string(c.session(&run)).unwrap();
    for (name, text) in [
        ("session", session),
        ("board stderr", board.stderr()),
        ("worker stderr", w1.stderr()),
        ("attach stdout", attach.stdout()),
    ] {
        assert!(!text.contains(KEY), "the API key leaked into the {name}");
    }
}

#[test]
fn a_killed_workers_claims_are_requeued_and_every_task_finishes_once() {
    let c = Cluster::new(Holds::first_work());
    let (mut board, run) = c.board();
    let (w1, id1) = c.worker(2);
    let (w2, id2) = c.worker(2);
    let mut workers = HashMap::from([(id1.clone(), w1), (id2.clone(), w2)]);
    // A worker's agent is in the middle of a task (its model call is held): kill -9 it.
    let (agent, task) = wait_for("a held work call", || c.holds.held());
    let victim = agent.split('.').next().unwrap().to_string();
    let mut dead = workers
        .remove(&victim)
        .expect("the held agent is a worker's");
    dead.signal(libc::SIGKILL);
    dead.wait();
    let expired = c.wait_event(&run, "the dead worker's claim to expire", |e| {
        matches!(&e.event, Event::ClaimExpired { task: t, agent: a, .. } if *t == task && *a == agent)
    });
    let mut procs: Vec<&mut Proc> = workers.values_mut().collect();
    procs.push(&mut board);
    let (events, _) = c.finished_once(&run, &mut procs);
    // The task went back to the queue and another worker's agent finished it.
    assert!(events.iter().any(|e| e.seq > expired.seq
        && matches!(&e.event, Event::TaskRequeued { task: t, .. } if *t == task)));
    let finisher = &finishers(&events)[&task][0];
    assert!(
        !finisher.starts_with(&format!("{victim}.")),
        "{task} was finished by {finisher}, not by the dead worker"
    );
}

#[test]
fn a_stopped_worker_resumed_after_its_lease_cannot_finish_the_requeued_task() {
    let holds = Holds {
        work: Some(Gate::default()),
        // The held call answers "finish the task": the stopped agent's result arrives late.
        work_reply: Some(finish("a result from a claim that expired")),
        finalise: Some(Gate::default()),
        ..Holds::default()
    };
    let c = Cluster::new(holds);
    let (mut board, run) = c.board();
    let (w1, id1) = c.worker(2);
    let (w2, id2) = c.worker(2);
    let mut workers = HashMap::from([(id1, w1), (id2, w2)]);
    let (agent, task) = wait_for("a held work call", || c.holds.held());
    let victim = agent.split('.').next().unwrap().to_string();
    workers[&victim].signal(libc::SIGSTOP);
    let expired = c.wait_event(&run, "the stopped worker's claim to expire", |e| {
        matches!(&e.event, Event::ClaimExpired { task: t, agent: a, .. } if *t == task && *a == agent)
    });
    c.wait_event(
        &run,
        "another agent to finish the requeued task",
        |e| matches!(&e.event, Event::TaskFinished { task: t, .. } if *t == task),
    );
    // Wake the stopped worker and let its held call answer: its agent tries to finish.
    workers[&victim].signal(libc::SIGCONT);
    c.holds.open_work();
    // Its model call's report (or its abandoning the revoked claim) shows it is back; its
    // finish request follows on the same connection.
    c.wait_event(&run, "the resumed agent to report back", |e| {
        e.seq > expired.seq
            && matches!(&e.event, Event::AgentStatus { agent: a, .. } | Event::LlmCall { agent: a, .. }
                if *a == agent)
    });
    c.holds.finalise.as_ref().unwrap().open();
    let mut procs: Vec<&mut Proc> = workers.values_mut().collect();
    procs.push(&mut board);
    let (events, state) = c.finished_once(&run, &mut procs);
    let finisher = &finishers(&events)[&task][0];
    assert_ne!(
        finisher, &agent,
        "the expired claim's late result was not applied"
    );
    assert!(
        !state
            .task(&task)
            .unwrap()
            .result
            .as_deref()
            .unwrap_or("")
            .contains("expired")
    );
    // The late agent learnt it: its finish was refused, or it saw the revocation first.
    let log = std::fs::read_to_string(c.path("logs/delm.log")).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains(&agent) && (l.contains("was revoked") || l.contains("abandoning"))),
        "the worker's log says why {agent}'s result was not taken"
    );
}

#[test]
fn a_nats_server_restart_mid_run_loses_no_event() {
    let mut c = Cluster::new(Holds::first_work());
    let (mut board, run) = c.board();
    let (mut w1, _) = c.worker(2);
    let (mut w2, _) = c.worker(1);
    wait_for("a held work call", || c.holds.held());
    let before = c.events(&run).len();
    c.nats.restart();
    c.holds.open_work();
    let (events, _) = c.finished_once(&run, &mut [&mut board, &mut w1, &mut w2]);
    assert!(
        events.len() > before,
        "the run went on after the restart ({before} events before it)"
    );
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>());
    assert_eq!(
        stream_events(&c.nats, &run),
        events,
        "the stream holds every event the board wrote, once, in order"
    );
}

#[test]
fn a_killed_board_resumed_from_the_stream_finishes_with_every_verified_point() {
    let c = Cluster::new(Holds::first_work());
    // The board's documents are gone when it is resumed (another machine, say): the resumed
    // board fetches them from the object store, as workers do.
    let docs = c.path("board-docs");
    support::copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/docs"),
        &docs,
    );
    let (mut board, run) = c.board_on(&docs);
    let (mut w1, _) = c.worker(2);
    let (mut w2, _) = c.worker(2);
    wait_for("a held work call", || c.holds.held());
    c.wait_event(&run, "a verified point", |e| {
        matches!(e.event, Event::PointVerified { .. })
    });
    board.signal(libc::SIGKILL);
    board.wait();
    std::fs::remove_dir_all(&docs).unwrap();
    let stream = stream_events(&c.nats, &run);
    let verified_before: Vec<String> = RunState::from_events(stream.iter())
        .points
        .iter()
        .filter(|p| p.status == delm::event::PointStatus::Verified)
        .map(|p| p.point.id.clone())
        .collect();
    assert!(!verified_before.is_empty());

    let url = format!("{}/{run}", c.nats.url());
    let mut args: Vec<String> = [
        "resume",
        &url,
        "--headless",
        "--agents",
        "0",
        "--lease",
        LEASE_SECS,
    ]
    .map(String::from)
    .to_vec();
    args.extend(c.model_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut resumed = c.spawn("resumed board", &args);
    resumed.wait_stderr("board: nats://");
    c.holds.open_work();
    resumed.wait_success();
    w1.wait_success();
    w2.wait_success();

    let events = stream_events(&c.nats, &run);
    assert_eq!(
        events,
        c.events(&run),
        "the resumed board exported the whole log"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e.event, Event::RunResumed { .. }))
    );
    assert!(
        c.session(&run).with_extension("workspace").is_dir(),
        "the resumed board unpacked the run's workspace next to its session"
    );
    let state = RunState::from_events(events.iter());
    assert_finished_once_after_resume(&state);
    for id in &verified_before {
        assert_eq!(
            state.point(id).map(|p| p.status),
            Some(delm::event::PointStatus::Verified),
            "{id} stays verified"
        );
    }
    let cited = &state.answer.as_ref().unwrap().cited;
    assert!(
        verified_before.iter().all(|id| cited.contains(id)),
        "the answer cites every point verified before the crash: {cited:?}"
    );
}

/// After a crash a task in flight is requeued and done again, so it may have finished
/// once before the crash too; what matters is that every task ends done.
fn assert_finished_once_after_resume(state: &RunState) {
    let answer = state.answer.as_ref().expect("the run has an answer");
    assert_eq!(answer.stopped_by, StoppedBy::Completed);
    for task in &state.tasks {
        assert_eq!(task.state, TaskState::Done, "{} is done", task.id);
    }
}

#[test]
fn an_attached_client_pauses_the_swarm_and_its_constraint_reaches_the_workers() {
    let c = Cluster::new(Holds::first_work());
    let (mut board, run) = c.board();
    let (mut w1, id1) = c.worker(2);
    let (held, _) = wait_for("a held work call", || c.holds.held());
    let constraint = "Use audited figures only (constraint-7f3a)";
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = delm::nats::BoardUrl::parse(&format!("{}/{run}", c.nats.url())).unwrap();
    let engine = rt
        .block_on(delm::nats::RemoteEngine::attach(&url, &Default::default()))
        .unwrap();
    let control = |ctl: delm::engine::Control| rt.block_on(engine.send_control(&ctl)).unwrap();
    control(delm::engine::Control::Pause);
    c.wait_event(&run, "the pause", |e| matches!(e.event, Event::Paused {}));
    // The held call answers; its agent stops at the next step boundary.
    c.holds.open_work();
    c.wait_event(&run, "the held agent to pause", |e| {
        matches!(&e.event, Event::AgentStatus { agent, status: delm::event::AgentStatus::Paused, .. }
            if *agent == held)
    });
    let calls_paused = c.mock.call_count();
    control(delm::engine::Control::InjectConstraint {
        text: constraint.into(),
    });
    c.wait_event(&run, "the constraint", |e| {
        matches!(e.event, Event::ConstraintAdded { .. })
    });
    assert_eq!(
        c.mock.call_count(),
        calls_paused,
        "no model call starts while the swarm is paused"
    );
    control(delm::engine::Control::Resume);
    let reached = wait_for("a worker's model call that carries the constraint", || {
        c.mock.requests().into_iter().skip(calls_paused).find(|r| {
            agent_id(r).starts_with(&format!("{id1}."))
                && r.prompt_text().contains("constraint-7f3a")
        })
    });
    assert_eq!(
        agent_id(&reached),
        held,
        "the paused agent's next turn has it"
    );
    board.wait_success();
    w1.wait_success();
    // The attach client's mirror followed the run to its end.
    wait_for("the attached mirror to reach run_finished", || {
        matches!(
            engine.events_since(0).last().map(|e| &e.event),
            Some(Event::RunFinished { .. })
        )
        .then_some(())
    });
}

#[test]
fn a_token_protected_board_admits_only_clients_with_the_token_and_never_shows_it() {
    let token = "nats-tok-9c2f61d4e8b7a035";
    let c = Cluster::with_token(token);
    let (mut board, run) = c.board();
    // Without the token a worker is turned away with one clear sentence.
    let mut stranger = c.spawn_worker(1);
    let status = stranger.wait();
    assert_eq!(status.code(), Some(1), "{}", stranger.stderr());
    assert!(
        stranger.stderr().contains("cannot connect to the board"),
        "{}",
        stranger.stderr()
    );
    // With it (from the environment, not the command line) a worker joins and works.
    let mut worker = c.spawn_worker_with(2, &[("NATS_TOKEN", token)]);
    joined(&mut worker);
    c.holds.open_work();
    c.finished_once(&run, &mut [&mut board, &mut worker]);
    let listed = c
        .cmd()
        .args(["runs", "--board", &c.board_url])
        .output()
        .unwrap();
    let listed = format!(
        "{}{}",
        String::from_utf8_lossy(&listed.stdout),
        String::from_utf8_lossy(&listed.stderr)
    );
    assert!(listed.contains(&run), "{listed}");
    let texts = [
        ("session", std::fs::read_to_string(c.session(&run)).unwrap()),
        ("board stderr", board.stderr()),
        ("board stdout", board.stdout()),
        ("worker stderr", worker.stderr()),
        ("stranger stderr", stranger.stderr()),
        ("runs", listed),
        (
            "tracing log",
            std::fs::read_to_string(c.path("logs/delm.log")).unwrap_or_default(),
        ),
    ];
    for (name, text) in texts {
        assert!(
            !text.contains(token),
            "the NATS token leaked into the {name}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// A worker's command runs and patches, verified and delivered by the board.

impl Cluster {
    /// A board with `agents` of its own asked `goal` over a copy of the fixture repository
    /// `fixture`, and a worker with one agent, commands and edits allowed on both: the run
    /// id once every process exited successfully (the board's repository untouched).
    fn edit_run(&self, fixture: &str, goal: &str, agents: usize) -> String {
        let (_repo_dir, repo) = repo_run::fixture(fixture);
        let before = repo_run::contents(&repo);
        let edit = ["--allow-exec", "--allow-edit"];
        let mut flags = vec!["--repo", repo.to_str().unwrap()];
        flags.extend(edit);
        let (mut board, run) = self.board_with(goal, agents, &flags);
        let mut worker = self.spawn_worker_flags(1, &edit, &[]);
        joined(&mut worker);
        board.wait_success();
        worker.wait_success();
        assert_eq!(
            repo_run::contents(&repo),
            before,
            "the board's repository is untouched without --apply"
        );
        run
    }
}

/// A board with no agents over the fixture repository (its test fails) and a worker whose
/// agent repairs it citing `cites`: the cluster, the run id, its log.
fn remote_repair(cites: Cites) -> (Cluster, String, Vec<Envelope>) {
    let c = Cluster::scripted(repair(cites));
    let run = c.edit_run("repo", "Why is a trailing comment dropped? Fix it.", 0);
    let events = c.events(&run);
    (c, run, events)
}

#[test]
fn a_workers_fix_is_verified_on_the_board_and_delivered_checked_by_the_board() {
    let (c, run, events) = remote_repair(Cites::GreenRun);
    let state = RunState::from_events(events.iter());
    let point = state
        .points
        .iter()
        .find(|p| p.point.headline == HEADLINE)
        .expect("the worker's finding");
    assert_eq!(
        point.status,
        delm::event::PointStatus::Verified,
        "{:?}",
        point.note
    );
    assert_eq!(point.point.author, "w1.a1");
    let resolved: Vec<&str> = point
        .point
        .evidence
        .iter()
        .filter_map(|e| e.resolved.as_deref())
        .collect();
    assert!(resolved[0].starts_with("patch:w1.a1@"), "{resolved:?}");
    // The worker's c3 is filed under its worker's name, apart from the board's own runs.
    assert_eq!(resolved[1], "cmd:w1:c3 (exit 0)");

    // Pinned like a native patch, with the worker's run as its check.
    assert_eq!(state.patches.len(), 1);
    let pinned = &state.patches[0];
    assert_eq!(pinned.agent, "w1.a1");
    assert!(
        pinned
            .diff
            .contains(&format!("+                {FIX_LINE}"))
    );
    assert_eq!(pinned.checks.len(), 1);
    assert!(pinned.checks[0].remote && pinned.checks[0].run == "w1:c3");

    // The result: the worker's patch, and its check run again by the board on the
    // assembled files (a worker's record never stands for the board's own run).
    let result = state.result.as_ref().expect("result_assembled");
    assert_eq!(result.merged.len(), 1);
    assert_eq!(result.merged[0].point, point.point.id);
    assert!(result.verified(), "{result:?}");
    assert_eq!(result.tree, pinned.tree);
    let check = &result.checks[0];
    assert!(
        !check.reused && !check.remote && check.passed(),
        "{check:?}"
    );
    assert_eq!(check.cmd, TEST_CMD);
    assert!(check.output.contains(GREEN_QUOTE), "{}", check.output);
    let kinds: Vec<&str> = events.iter().map(|e| e.event.type_name()).collect();
    assert_eq!(
        kinds[kinds.len() - 2..],
        ["result_assembled", "run_finished"]
    );

    // `<session>.patch` holds the fix, and the failing test passes with it applied.
    let patch_file = c.session(&run).with_extension("patch");
    let diff = std::fs::read_to_string(&patch_file).expect("the run's patch next to its session");
    assert!(diff.contains("by w1.a1 (patch:w1.a1@"), "{diff}");
    assert!(diff.contains("on its worker"), "{diff}");
    repo_run::assert_patch_fixes("repo", &patch_file);

    let session = std::fs::read_to_string(c.session(&run)).unwrap();
    assert!(
        !session.contains(KEY),
        "the API key leaked into the session"
    );
}

#[test]
fn a_workers_patch_citing_a_failed_run_is_rejected_with_the_reason() {
    let (c, run, events) = remote_repair(Cites::RedRun);
    let state = RunState::from_events(events.iter());
    let point = state
        .points
        .iter()
        .find(|p| p.point.headline == HEADLINE)
        .expect("the worker's finding");
    assert_eq!(point.status, delm::event::PointStatus::Rejected);
    let reason = point.note.as_deref().unwrap_or("");
    assert!(
        reason.contains("w1:c2 exited with 1") && reason.contains("a fix needs a run that exits 0"),
        "{reason}"
    );
    assert!(state.patches.is_empty(), "nothing was pinned");
    assert!(state.result.is_none(), "nothing to deliver");
    assert!(!c.session(&run).with_extension("patch").exists());
}

#[test]
fn a_boards_fix_and_a_workers_fix_are_delivered_as_one_result_checked_by_the_board() {
    let sync = tempfile::tempdir().unwrap();
    let c = Cluster::scripted(two_agents(
        [celsius(), fahrenheit()],
        sync.path().to_path_buf(),
    ));
    // One agent of the board's own and one of a worker's: each fixes one function.
    let run = c.edit_run("convert", "Fix the failing conversion tests", 1);

    let state = RunState::from_events(c.events(&run).iter());
    let mut authors: Vec<&str> = state.patches.iter().map(|p| p.agent.as_str()).collect();
    authors.sort();
    assert_eq!(authors, ["a1", "w1.a1"], "one patch each");
    let result = state.result.as_ref().expect("result_assembled");
    assert_eq!(result.merged.len(), 2, "{result:?}");
    assert!(result.verified(), "{result:?}");
    // Both checks ran on the board, on the assembled files (neither patch's own tree).
    let mut checked: Vec<&str> = result.checks.iter().map(|k| k.cmd.as_str()).collect();
    checked.sort();
    let mut expected = [celsius().check, fahrenheit().check];
    expected.sort();
    assert_eq!(checked, expected);
    assert!(
        result
            .checks
            .iter()
            .all(|k| !k.reused && !k.remote && k.passed())
    );
    assert!(state.patches.iter().all(|p| p.tree != result.tree));

    // The one result fixes both functions.
    repo_run::assert_patch_fixes("convert", &c.session(&run).with_extension("patch"));
}
