//! `delm worker`: native agents on another machine, taking part in a run whose board lives
//! on NATS. The worker introduces itself (the board gives it an id, `w3`), fetches the run's
//! workspace, folds the run's stream once for all its agents, and runs each agent's usual
//! loop (`agent::run`) against a [`RemoteClient`]. Agents heartbeat while they hold a
//! claim; a worker that dies stops heartbeating and its claims expire and go back to the
//! queue. Stopping a worker (Ctrl-C, SIGTERM) hands its claims back at once.

use super::mirror::Mirror;
use super::names::RunNames;
use super::remote::{Link, RemoteClient, RemoteSignals, Shared};
use super::url::{BoardUrl, NatsAuth};
use super::wire::{self, Hello, Welcome};
use crate::engine::agent::{self, AgentDeps};
use crate::engine::client::BoardClient;
use crate::engine::protocol::{ParticipantKind, Reply, Request};
use crate::engine::tools::{self, WorkspaceOptions};
use crate::engine::{Model, PriceFn, RunConfig, store};
use crate::event::Mode;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How long a worker waits for the run's first event or the board's welcome.
const START_WAIT: Duration = Duration::from_secs(60);
/// Waiting agents ask again this often even without a wake-up from the stream (a wake-up
/// the log cannot show, such as a last finisher going silent, is never missed for long).
const REVISIT_EVERY: Duration = Duration::from_secs(5);

/// What a worker needs from the command line.
pub struct WorkerSetup {
    pub url: BoardUrl,
    pub auth: NatsAuth,
    /// `--agents`.
    pub agents: usize,
    pub llm: Model,
    pub price: PriceFn,
    /// The model as the user named it (`openai:gpt-4.1-mini`).
    pub model_label: String,
    pub options: WorkspaceOptions,
    /// Where the run's workspace is unpacked (`--workdir`); default: a directory under
    /// the data directory, removed when the worker ends.
    pub workdir: Option<PathBuf>,
    pub max_turns_per_task: Option<u32>,
    pub context_budget_tokens: Option<usize>,
}

/// What a worker did.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerReport {
    pub end: WorkerEnd,
    /// Its id on the board (`w3`); empty when it never joined.
    pub worker: String,
    /// How long each granted claim took, in microseconds (request to reply, folded).
    pub claim_latency_us: Vec<u32>,
}

impl WorkerReport {
    /// "120 claims, latency p50 1.4 ms, p99 9.8 ms".
    pub fn summary(&self) -> String {
        let mut us = self.claim_latency_us.clone();
        if us.is_empty() {
            return "no claims".into();
        }
        us.sort_unstable();
        let at = |q: f64| us[((us.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0;
        format!(
            "{} claims, latency p50 {:.1} ms, p99 {:.1} ms",
            us.len(),
            at(0.5),
            at(0.99)
        )
    }
}

/// How a worker ended.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkerEnd {
    /// The run finished (or the board stopped handing out work to this worker).
    Done,
    /// Stopped by the user; its claims went back to the queue.
    Interrupted,
    /// Every agent left because its provider failed (the message says why).
    Failed(String),
}

/// Run a worker until the run ends, `shutdown` fires, or every agent has left.
pub async fn run(setup: WorkerSetup, shutdown: CancellationToken) -> Result<WorkerReport, String> {
    let client = super::url::connect(&setup.url, &setup.auth, "delm worker").await?;
    let js = async_nats::jetstream::new(client.clone());
    let board = setup.url.display();
    let run = super::runs::pick(&js, &board, setup.url.run.as_deref(), "worker").await?;
    let names = RunNames::new(&run)?;
    let (worker, lease) = hello(&client, &names, setup.agents).await?;

    let (observer, signals, claims, source) = RemoteSignals::new();
    let mirror = Arc::new(Mirror::start(
        js.clone(),
        names.clone(),
        Some(Box::new(observer)),
    ));
    tokio::time::timeout(START_WAIT, mirror.wait_started())
        .await
        .map_err(|_| format!("run {run} has no run_started event in its stream"))?;
    let state = store::read(mirror.view()).state.clone();
    if state.answer.is_some() {
        return Err(format!("run {run} already finished; nothing to work on"));
    }

    let (workdir, temporary) = match &setup.workdir {
        Some(dir) => (dir.clone(), false),
        None => (default_workdir(&run, &worker), true),
    };
    let mode = match &state.mode {
        Mode::Plain => Mode::Plain,
        _ => super::transfer::download(&js, &names, &workdir).await?,
    };
    let workspace = tools::open_with(&mode, &setup.options)
        .map_err(|e| format!("the run's workspace cannot be opened here: {e}"))?;

    let mut cfg = RunConfig::new(state.goal.clone(), mode, setup.model_label.clone());
    cfg.run_id.clone_from(&state.run_id);
    cfg.verify = state.verify;
    cfg.budgets = state.budgets.clone();
    cfg.coordination = state.coordination;
    cfg.agents = (state.desired_agents + setup.agents).max(1);
    cfg.lease = lease;
    if let Some(t) = setup.max_turns_per_task {
        cfg.max_turns_per_task = t.max(1);
    }
    if let Some(b) = setup.context_budget_tokens {
        cfg.context_budget_tokens = b.max(200);
    }
    let deps = Arc::new(AgentDeps {
        time_limit_at: crate::engine::run::time_limit_after(&cfg.budgets, state.active_elapsed()),
        cfg: Arc::new(cfg),
        llm: setup.llm,
        price: setup.price,
        workspace: workspace.clone(),
    });

    let stop = CancellationToken::new();
    let shared = Arc::new(Shared {
        link: Link::open(client.clone(), names.requests()).await?,
        workspace: workspace.clone(),
        mirror,
        signals: signals.clone(),
        claims: claims.clone(),
        stop: stop.clone(),
        claim_times: Default::default(),
    });
    let host = super::leader::hostname();
    let mut agents: HashMap<String, Arc<RemoteClient>> = HashMap::new();
    for i in 1..=setup.agents {
        let id = format!("{worker}.a{i}");
        let agent = Arc::new(RemoteClient::new(id.clone(), shared.clone()));
        let join = Request::Join {
            name: format!("{host} {worker}"),
            kind: ParticipantKind::Remote,
        };
        match agent.request(join).await {
            Some(Reply::Ok) => {}
            Some(other) => return Err(format!("the board refused {id}: {other:?}")),
            None if signals.is_over() => {
                eprintln!("delm worker {worker}: run {run} finished before this worker joined");
                return Ok(WorkerReport {
                    end: WorkerEnd::Done,
                    worker,
                    claim_latency_us: Vec::new(),
                });
            }
            None => return Err(format!("the board did not answer {id}'s join")),
        }
        agents.insert(id, agent);
    }
    eprintln!(
        "delm worker {worker}: joined run {run} on {board} with {} agents ({}.a1..a{})",
        setup.agents, worker, setup.agents
    );

    let mut running = JoinSet::new();
    let mut ids = HashMap::new();
    for (id, agent) in &agents {
        let handle = running.spawn(agent::run(
            agent.clone() as Arc<dyn BoardClient>,
            deps.clone(),
        ));
        ids.insert(handle.id(), id.clone());
    }
    let beat = heartbeats(agents.clone(), claims, lease, source, stop.clone());
    let end = loop {
        tokio::select! {
            done = running.join_next_with_id() => match done {
                None => break WorkerEnd::Done,
                Some(result) => {
                    let task = match &result {
                        Ok((id, ())) => *id,
                        Err(e) => e.id(),
                    };
                    if let Err(e) = &result && e.is_panic() {
                        eprintln!("delm worker {worker}: an agent crashed; its claim goes back to the queue");
                    }
                    if let Some(agent) = ids.get(&task).and_then(|id| agents.get(id)) {
                        agent.leave().await;
                    }
                }
            },
            _ = shutdown.cancelled() => break WorkerEnd::Interrupted,
        }
    };
    let all_left = agents.values().all(|a| a.has_left());
    // Leaving hands open claims back at once (a killed worker's claims expire instead).
    stop.cancel();
    running.abort_all();
    for agent in agents.values() {
        agent.leave().await;
    }
    beat.abort();
    let _ = client.flush().await;
    workspace.cleanup();
    if temporary {
        let _ = std::fs::remove_dir_all(&workdir);
    }
    let all_failed = end == WorkerEnd::Done
        && all_left
        && store::read(shared.mirror.view()).state.answer.is_none();
    let end = if all_failed {
        WorkerEnd::Failed(format!(
            "every agent of {worker} left the run (see the messages above)"
        ))
    } else {
        end
    };
    Ok(WorkerReport {
        end,
        worker,
        claim_latency_us: shared.claim_times.samples(),
    })
}

/// Introduce this worker: its id and the claims' lease.
async fn hello(
    client: &async_nats::Client,
    names: &RunNames,
    agents: usize,
) -> Result<(String, Duration), String> {
    let hello = Hello {
        name: super::leader::hostname(),
        agents,
    };
    let deadline = tokio::time::Instant::now() + START_WAIT;
    loop {
        let asked = tokio::time::timeout(
            Duration::from_secs(5),
            client.request(names.hello(), wire::encode(&hello)),
        )
        .await;
        match asked {
            Ok(Ok(msg)) => {
                return match wire::decode::<Welcome>(&msg.payload, 4096)? {
                    Welcome::Accepted { worker, lease_ms } => {
                        Ok((worker, Duration::from_millis(lease_ms.max(1_000))))
                    }
                    Welcome::Refused { reason } => {
                        Err(format!("the board refused this worker: {reason}"))
                    }
                };
            }
            // No board serves the run right now (it is restarting): ask again.
            _ if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(500)).await
            }
            _ => {
                return Err(format!(
                    "no board answers for run {} (is it live? `delm runs --board URL`)",
                    names.run
                ));
            }
        }
    }
}

/// Heartbeats for agents that hold a claim (a third of the lease apart), and the periodic
/// second look of waiting agents.
fn heartbeats(
    agents: HashMap<String, Arc<RemoteClient>>,
    claims: Arc<super::remote::Claims>,
    lease: Duration,
    source: Arc<crate::engine::client::SignalSource>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = (lease / 3).max(Duration::from_millis(200));
        let mut beat = tokio::time::interval(every);
        let mut revisit = tokio::time::interval(REVISIT_EVERY.min(lease));
        loop {
            tokio::select! {
                _ = beat.tick() => {
                    for agent in claims.holders() {
                        if let Some(client) = agents.get(&agent) {
                            client.notify(Request::Heartbeat);
                        }
                    }
                }
                _ = revisit.tick() => source.wake_all(),
                _ = stop.cancelled() => return,
            }
        }
    })
}

fn default_workdir(run: &str, worker: &str) -> PathBuf {
    let base = crate::session::default_sessions_dir()
        .and_then(|d| d.parent().map(|p| p.join("workers")))
        .unwrap_or_else(|| std::env::temp_dir().join("delm-workers"));
    base.join(format!("{run}-{worker}-{}", std::process::id()))
}
