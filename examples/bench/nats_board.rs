//! Figure 6: the board on NATS JetStream next to the in-process board, on the same
//! workload: the scripted model at latency 0 (figure 1's), with every agent a remote-style
//! participant (`w1.a3`) running the native agent loop.
//!
//! - in process: one process, the board and all agents, requests over the board's channels;
//! - JetStream: a nats-server with `sync_interval: always` (every append fsynced; and again
//!   with the server's default, a sync every two minutes, to show what fsync costs), the board
//!   in this process writing the run's stream, and the agents in worker processes (this
//!   binary again, `--nats-worker`), requests by NATS request/reply, each worker folding the
//!   stream. The quick sizes of the smoke test run the workers as tasks of this process
//!   (same NATS path, separate connections), so a test binary can measure them too.
//!
//! The run starts with every part queued (no planning task): a planner adding 2,000 tasks
//! one `add_task` at a time would measure one agent's serial round trips, not the board.
//!
//! Counted: events/s and claims/s (the run's events and granted claims over its wall time,
//! start to `run_finished`), and claim latency as the agent sees it: from sending `claim` to
//! holding the granted task, with its fold caught up (p50, p99 over every granted claim).

use super::figure::{Figure, Sizes, quantile};
use super::nats_server::NatsServer;
use delm::engine::agent::{self, AgentDeps};
use delm::engine::client::{BoardClient, InProcessClient, Revocation, Signals, granted_claim};
use delm::engine::protocol::{ParticipantKind, Reply, Request};
use delm::engine::store::SharedView;
use delm::engine::{EngineHandle, Model, RunBuilder, RunConfig, tools};
use delm::event::{Event, Mode, RunState, VerifyMode};
use delm::llm::retry::{RetryPolicy, RetryingProvider};
use delm::llm::scripted::{Script, ScriptedModel, ScriptedPoint};
use futures_util::future::BoxFuture;
use serde_json::json;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What one setup's run gave.
struct Measured {
    state: RunState,
    events: u64,
    /// From the first claim to `run_finished` (by the events' timestamps), so starting
    /// the worker processes is not counted.
    wall: Duration,
    claim_us: Vec<u32>,
    /// Messages the board appended to the stream and the time the appends took
    /// (JetStream only).
    appends: Option<(u64, Duration)>,
}

impl Measured {
    fn of(handle: &EngineHandle, state: RunState, claim_us: Vec<u32>) -> Measured {
        let events = handle.events_since(0);
        let ts = |pick: fn(&Event) -> bool| {
            events
                .iter()
                .find(|e| pick(&e.event))
                .and_then(|e| delm::event::parse_ts(&e.ts))
        };
        let first = ts(|e| matches!(e, Event::TaskClaimed { .. }));
        let last = ts(|e| matches!(e, Event::RunFinished { .. }));
        let wall = match (first, last) {
            (Some(a), Some(b)) => (b - a).try_into().unwrap_or_default(),
            _ => Duration::ZERO,
        };
        Measured {
            events: events.len() as u64,
            state,
            wall: wall.max(Duration::from_millis(1)),
            claim_us,
            appends: None,
        }
    }
}

/// The setups, as the figures name them.
pub const SETUPS: [&str; 3] = [
    "in_process",
    "jetstream_sync_always",
    "jetstream_default_sync",
];

pub fn measure(sizes: &Sizes) -> anyhow::Result<Vec<Figure>> {
    let mut found = figures(SETUPS[0], sizes, &in_process(sizes)?)?;
    found.extend(figures(SETUPS[1], sizes, &on_jetstream(sizes, true)?)?);
    found.extend(figures(SETUPS[2], sizes, &on_jetstream(sizes, false)?)?);
    Ok(found)
}

fn script(sizes: &Sizes) -> Script {
    Script {
        subtasks: sizes.nats_tasks,
        plan_batch: 100,
        point: ScriptedPoint::Partial,
        latency: Duration::ZERO,
        ..Script::default()
    }
}

fn model(script: Script, agents: usize) -> Model {
    let policy = RetryPolicy {
        max_attempts: 1,
        max_concurrency: agents.max(1) * 2,
        ..RetryPolicy::default()
    };
    Arc::new(RetryingProvider::new(
        Arc::new(ScriptedModel::new(script)),
        policy,
    ))
}

fn config(sizes: &Sizes) -> RunConfig {
    let mut cfg = RunConfig::new(
        "Survey every component of the system and explain how each contributes to the goal",
        Mode::Plain,
        "scripted:scripted",
    );
    // The board runs no agents of its own: every agent is a participant.
    cfg.agents = 0;
    cfg.verify = VerifyMode::Judge;
    let k = sizes.nats_tasks;
    cfg.max_turns_per_task = (k.div_ceil(100) + 8) as u32;
    cfg.max_tasks = k + 16;
    cfg.max_tasks_per_claim = k + 16;
    cfg
}

fn figures(setup: &str, sizes: &Sizes, m: &Measured) -> anyhow::Result<Vec<Figure>> {
    let answer = m.state.answer.as_ref();
    anyhow::ensure!(
        answer.is_some_and(|a| a.stopped_by == delm::event::StoppedBy::Completed),
        "the {setup} run did not complete: {:?}",
        answer.map(|a| &a.answer)
    );
    // Every granted claim (tasks and finalise turns) is timed.
    let claims = m.claim_us.len() as u64;
    let secs = m.wall.as_secs_f64();
    let mut us: Vec<f64> = m.claim_us.iter().map(|&u| u as f64).collect();
    anyhow::ensure!(!us.is_empty(), "no claim was timed in the {setup} run");
    let p50 = quantile(&mut us, 0.5) / 1000.0;
    let p99 = quantile(&mut us, 0.99) / 1000.0;
    let params = json!({
        "agents": sizes.nats_agents,
        "workers": sizes.nats_workers,
        "worker_processes": setup != SETUPS[0] && sizes.nats_processes,
        "tasks": m.state.tasks.len(),
        "events": m.events,
        "claims": claims,
        "wall_s": (secs * 1000.0).round() / 1000.0,
        "sync_interval": match setup {
            "jetstream_sync_always" => "always",
            "jetstream_default_sync" => "2m (default)",
            _ => "-",
        },
        "stream_appends": m.appends.map(|(n, _)| n),
        "events_per_append": m.appends.map(|(n, _)| (m.events as f64 / n.max(1) as f64 * 10.0).round() / 10.0),
        "append_ms_mean": m.appends.map(|(n, t)| (t.as_secs_f64() * 1e4 / n.max(1) as f64).round() / 10.0),
    });
    let name = |metric: &str| format!("nats_board.{metric}.{setup}");
    Ok(vec![
        Figure::new(
            name("events_per_s"),
            m.events as f64 / secs,
            "events/s",
            params.clone(),
        ),
        Figure::new(
            name("claims_per_s"),
            claims as f64 / secs,
            "claims/s",
            params.clone(),
        ),
        Figure::new(name("claim_latency_p50"), p50, "ms", params.clone()),
        Figure::new(name("claim_latency_p99"), p99, "ms", params),
    ])
}

/// No files to read; the run's parts queued from the start.
struct QueuedParts(usize);

impl tools::Workspace for QueuedParts {
    fn describe(&self) -> String {
        tools::NoWorkspace.describe()
    }
    fn tool_specs(&self) -> Vec<delm::llm::ToolSpec> {
        Vec::new()
    }
    fn call<'a>(
        &'a self,
        ctx: &'a tools::ToolContext,
        name: &'a str,
        args: &'a serde_json::Value,
    ) -> BoxFuture<'a, Option<tools::ToolResult>> {
        tools::NoWorkspace.call(ctx, name, args)
    }
    fn resolve(&self, evidence: &delm::event::Evidence) -> Result<tools::ResolvedEvidence, String> {
        tools::NoWorkspace.resolve(evidence)
    }
    fn initial_tasks(&self, _goal: &str) -> Vec<(String, String)> {
        // The scripted model's own title shape: it records one point and finishes.
        (1..=self.0)
            .map(|i| {
                (
                    format!("Subtask {i} of {}: examine part {i}", self.0),
                    String::new(),
                )
            })
            .collect()
    }
}

/// The ids of `agents` agents over `workers` workers: `w1.a1`, `w2.a1`, ...
fn agent_ids(workers: usize, agents: usize) -> Vec<String> {
    (0..agents)
        .map(|i| format!("w{}.a{}", i % workers + 1, i / workers + 1))
        .collect()
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// The in-process board, its agents joining as participants through its inbox.
fn in_process(sizes: &Sizes) -> anyhow::Result<Measured> {
    let rt = runtime()?;
    let cfg = config(sizes);
    let llm = model(script(sizes), sizes.nats_agents);
    let workspace: Arc<dyn tools::Workspace> = Arc::new(QueuedParts(sizes.nats_tasks));
    let deps = Arc::new(AgentDeps {
        time_limit_at: None,
        cfg: Arc::new(cfg.clone()),
        llm: llm.clone(),
        price: Arc::new(|_| None),
        workspace: workspace.clone(),
    });
    rt.block_on(async move {
        let handle = RunBuilder::new(cfg, llm, Arc::new(|_| None), workspace)
            .start()
            .map_err(anyhow::Error::msg)?;
        let times = Arc::new(Mutex::new(Vec::new()));
        // Every agent joins before any starts, so all of them take part from the start.
        let mut joined = Vec::new();
        for id in agent_ids(sizes.nats_workers, sizes.nats_agents) {
            let client = Arc::new(Timed {
                inner: handle.participant(id.clone()),
                times: times.clone(),
            });
            let join = Request::Join {
                name: "bench".into(),
                kind: ParticipantKind::Remote,
            };
            let reply = client.send(join).await.map(|(reply, _)| reply);
            anyhow::ensure!(reply == Some(Reply::Ok), "{id} could not join: {reply:?}");
            joined.push(client);
        }
        for client in joined {
            tokio::spawn(agent::run(client, deps.clone()));
        }
        let state = finish(&handle).await?;
        let claim_us = times.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Ok(Measured::of(&handle, state, claim_us))
    })
}

async fn finish(handle: &EngineHandle) -> anyhow::Result<RunState> {
    tokio::time::timeout(Duration::from_secs(900), handle.wait())
        .await
        .map_err(|_| anyhow::anyhow!("the run did not finish within 15 minutes"))
}

/// An in-process participant whose claims are timed like a worker's.
struct Timed {
    inner: InProcessClient,
    times: Arc<Mutex<Vec<u32>>>,
}

impl BoardClient for Timed {
    fn agent(&self) -> &str {
        self.inner.agent()
    }
    fn send(&self, request: Request) -> BoxFuture<'_, Option<(Reply, Option<Revocation>)>> {
        Box::pin(async move {
            let asked = matches!(request, Request::Claim).then(Instant::now);
            let got = self.inner.send(request).await?;
            if let Some(asked) = asked
                && granted_claim(&got.0).is_some()
            {
                let us = asked.elapsed().as_micros().min(u32::MAX as u128) as u32;
                self.times
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(us);
            }
            Some(got)
        })
    }
    fn notify(&self, request: Request) {
        self.inner.notify(request)
    }
    fn view(&self) -> &SharedView {
        self.inner.view()
    }
    fn signals(&self) -> &Signals {
        self.inner.signals()
    }
}

/// The board on JetStream (`sync_interval: always`, or the server's default of syncing
/// every two minutes), its agents in worker processes.
fn on_jetstream(sizes: &Sizes, always: bool) -> anyhow::Result<Measured> {
    let store = std::env::temp_dir().join(format!("delm-bench-nats-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&store);
    let server = if always {
        NatsServer::start_durable(&store)
    } else {
        NatsServer::start(&store)
    };
    let url = delm::nats::BoardUrl::parse(&server.url()).map_err(anyhow::Error::msg)?;
    let rt = runtime()?;
    let cfg = config(sizes);
    let llm = model(script(sizes), 1);
    let workspace: Arc<dyn tools::Workspace> = Arc::new(QueuedParts(sizes.nats_tasks));
    let measured = rt.block_on(async {
        let mut host = delm::nats::BoardHost::create(&url, &Default::default(), &cfg)
            .await
            .map_err(anyhow::Error::msg)?;
        let handle = RunBuilder::new(cfg, llm, Arc::new(|_| None), workspace)
            .sink(host.take_sink())
            .start()
            .map_err(anyhow::Error::msg)?;
        host.serve(&handle).await.map_err(anyhow::Error::msg)?;
        // Paused until every worker's agents joined, so all of them take part from the start.
        handle.pause();
        let per_worker = sizes.nats_agents / sizes.nats_workers;
        let board = host.url();
        let workers: Vec<_> = (0..sizes.nats_workers)
            .map(|_| spawn_worker(sizes, &board, per_worker))
            .collect::<anyhow::Result<_>>()?;
        let all_joined = async {
            while delm::engine::store::read(handle.view()).state.agents.len() < sizes.nats_agents {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(120), all_joined)
            .await
            .map_err(|_| {
                anyhow::anyhow!("the workers' agents did not all join within 2 minutes")
            })?;
        handle.resume();
        let state = finish(&handle).await?;
        let mut claim_us = Vec::new();
        for worker in workers {
            claim_us.extend(worker.await??);
        }
        let mut measured = Measured::of(&handle, state, claim_us);
        measured.appends = Some(host.appends());
        host.close().await.map_err(anyhow::Error::msg)?;
        Ok::<_, anyhow::Error>(measured)
    });
    drop(server);
    let _ = std::fs::remove_dir_all(&store);
    let _ = std::fs::remove_file(store.with_extension("conf"));
    measured
}

type WorkerTask = tokio::task::JoinHandle<anyhow::Result<Vec<u32>>>;

/// One worker: a process of this binary (`--nats-worker`), or, at quick sizes, a task.
fn spawn_worker(sizes: &Sizes, board: &str, agents: usize) -> anyhow::Result<WorkerTask> {
    if !sizes.nats_processes {
        let (board, tasks) = (board.to_string(), sizes.nats_tasks);
        return Ok(tokio::spawn(async move {
            run_worker(&board, agents, tasks).await
        }));
    }
    let child = Command::new(std::env::current_exe()?)
        .args(["--nats-worker", board])
        .args(["--agents", &agents.to_string()])
        .args(["--tasks", &sizes.nats_tasks.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    Ok(tokio::task::spawn_blocking(move || {
        let out = child.wait_with_output()?;
        anyhow::ensure!(
            out.status.success(),
            "a worker process failed: {}",
            out.status
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().last().unwrap_or("[]");
        Ok(serde_json::from_str(line)?)
    }))
}

/// A worker with `agents` scripted agents; its granted claims' latencies.
async fn run_worker(board: &str, agents: usize, tasks: usize) -> anyhow::Result<Vec<u32>> {
    let sizes = Sizes {
        nats_tasks: tasks,
        ..Sizes::quick()
    };
    let setup = delm::nats::WorkerSetup {
        url: delm::nats::BoardUrl::parse(board).map_err(anyhow::Error::msg)?,
        auth: Default::default(),
        agents,
        llm: model(script(&sizes), agents),
        price: Arc::new(|_| None),
        model_label: "scripted:scripted".into(),
        options: Default::default(),
        workdir: None,
        max_turns_per_task: Some(config(&sizes).max_turns_per_task),
        context_budget_tokens: None,
    };
    let report = delm::nats::worker::run(setup, Default::default())
        .await
        .map_err(anyhow::Error::msg)?;
    anyhow::ensure!(
        report.end == delm::nats::WorkerEnd::Done,
        "worker ended {:?}",
        report.end
    );
    Ok(report.claim_latency_us)
}

/// `bench --nats-worker URL --agents N --tasks T`: a worker process of figure 6; prints
/// its claim latencies (µs) as one JSON array.
pub fn worker_main(args: &[String]) -> anyhow::Result<()> {
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .ok_or_else(|| anyhow::anyhow!("{name} is missing"))
    };
    let board = value("--nats-worker")?.clone();
    let agents: usize = value("--agents")?.parse()?;
    let tasks: usize = value("--tasks")?.parse()?;
    let latencies = runtime()?.block_on(run_worker(&board, agents, tasks))?;
    println!("{}", serde_json::to_string(&latencies)?);
    Ok(())
}
