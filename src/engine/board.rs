//! The board: the single owner of the task queue and the shared context.
//!
//! Agents and the human send commands over channels; the board turns each into events
//! (single writer, total order, no locks around shared state), writes them to the session
//! sink and broadcasts them. Its state is the same `RunState` fold every reader uses.

use super::agent::{self, AgentDeps};
use super::coordination::{self, Coordination, ORCHESTRATOR};
use super::prompt;
use super::{Control, EngineHandle, EventSink, RunConfig, StreamDelta};
use crate::event::{
    AgentId, AgentStatus, Envelope, Event, Evidence, HUMAN, Origin, Point, PointId, PointKind,
    PointStatus, PointView, RunState, StoppedBy, TaskId, TaskOutcome, TaskState, TaskView,
    format_rfc3339_millis,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, broadcast, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

/// At most this many finalise rounds may add tasks; the last one must answer.
const MAX_FINALISE_ROUNDS: u32 = 3;
/// `central`: at most this many waves of worker tasks before the orchestrator must answer.
const MAX_WAVES: u32 = 4;
/// Upper bound on the agent count (a typo like `--agents 1000` must not fork-bomb a provider).
pub const MAX_AGENTS: usize = 256;

/// What an agent asks of the board.
pub(crate) enum AgentCmd {
    Claim {
        agent: AgentId,
        reply: oneshot::Sender<ClaimReply>,
    },
    Emit(Event),
    Propose {
        point: Point,
        reply: oneshot::Sender<Proposed>,
    },
    Verdict {
        point: PointId,
        verdict: Result<(Vec<Evidence>, Option<String>), String>,
    },
    AddTask {
        agent: AgentId,
        title: String,
        detail: String,
        reply: oneshot::Sender<TaskId>,
    },
    Finish {
        agent: AgentId,
        task: TaskId,
        outcome: TaskOutcome,
        result: String,
    },
    /// The agent stopped work on a task because its claim was cancelled.
    Abandon {
        agent: AgentId,
    },
    FinalAnswer {
        agent: AgentId,
        answer: String,
        cited: Vec<PointId>,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// The finaliser added tasks instead of answering: the swarm goes on.
    FinaliseDeclined {
        agent: AgentId,
    },
    Expand {
        agent: AgentId,
        point: String,
        level: String,
        reply: oneshot::Sender<Result<String, String>>,
    },
    /// New points published after `since`, not authored by `agent`.
    Updates {
        agent: AgentId,
        since: u64,
        reply: oneshot::Sender<(Option<String>, u64)>,
    },
    /// `central`: the orchestrator's context for the next wave of workers.
    Broadcast {
        context: String,
    },
    /// The provider cannot be used (bad key, unreachable after retries): the run fails.
    Fatal {
        agent: AgentId,
        message: String,
    },
    Exited {
        agent: AgentId,
    },
}

pub(crate) enum ClaimReply {
    Task {
        task: Box<TaskView>,
        message: String,
        cancel: CancellationToken,
        seen: u64,
    },
    Finalise {
        message: String,
        may_add_tasks: bool,
        cancel: CancellationToken,
        seen: u64,
        /// `false`: continue the agent's previous finalise conversation (the `central`
        /// orchestrator keeps one growing conversation across waves).
        fresh: bool,
    },
    Wait,
    Stop,
}

pub(crate) struct Proposed {
    pub id: PointId,
    /// Verified points cited as evidence (`source: "P3"`), by id.
    pub cited: Vec<PointView>,
    /// The live points most similar to the proposal (for the judge's redundancy check).
    pub related: Vec<PointView>,
}

/// Channels the agents use; cloned into each agent.
#[derive(Clone)]
pub(crate) struct BoardLink {
    pub cmds: mpsc::UnboundedSender<AgentCmd>,
    pub paused: watch::Receiver<bool>,
    /// Bumped when something changed that may let a waiting agent claim (resume, a finished
    /// finaliser, the last claim ended, ...): every waiting agent asks again.
    pub changed: watch::Receiver<u64>,
    /// One notification per task queued: wakes one waiting agent to claim it. A new task
    /// is work for one agent; waking every idle agent for each `add_task` (a planner adds
    /// hundreds in a row) cost a claim round trip per idle agent per task.
    pub work: Arc<Notify>,
    pub run_cancel: CancellationToken,
    pub deltas: broadcast::Sender<StreamDelta>,
}

impl BoardLink {
    pub fn emit(&self, event: Event) {
        let _ = self.cmds.send(AgentCmd::Emit(event));
    }
    pub async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> AgentCmd) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.cmds.send(make(tx)).ok()?;
        rx.await.ok()
    }
}

struct Claim {
    task: TaskId,
    cancel: CancellationToken,
}

struct Board {
    cfg: RunConfig,
    coordination: Coordination,
    /// `central`: what the orchestrator last broadcast to the workers.
    brief: String,
    /// `central`: tasks finished since the orchestrator's last turn.
    unreported: Vec<TaskId>,
    orchestrator_spawned: bool,
    state: RunState,
    seq: u64,
    sink: Box<dyn EventSink>,
    sink_failed: bool,
    events: broadcast::Sender<Envelope>,
    log: Arc<Mutex<Vec<Envelope>>>,
    finished_tx: watch::Sender<bool>,
    paused_tx: watch::Sender<bool>,
    changed_tx: watch::Sender<u64>,
    link: BoardLink,
    deps: Arc<AgentDeps>,
    claims: HashMap<AgentId, Claim>,
    /// Worker agents running now, by index (a1..aN); ones above `desired_agents` stop at
    /// their next claim.
    running: std::collections::BTreeSet<usize>,
    /// Every agent task still running (workers and the orchestrator).
    alive: usize,
    /// Positions in `state.tasks` of the queued tasks: claims take the first (FIFO) without
    /// scanning the whole task list.
    queued: std::collections::BTreeSet<usize>,
    next_task: u64,
    next_point: u64,
    next_constraint: u64,
    /// (seq, index in `state.points`) of every publication (verified point or constraint),
    /// in order.
    published: Vec<(u64, usize)>,
    /// Timestamps of the events: formatted once per millisecond, not once per event.
    clock: EventClock,
    last_finisher: Option<AgentId>,
    finaliser: Option<(AgentId, CancellationToken)>,
    finalise_rounds: u32,
    budget_hit: bool,
    /// The human left the run unfinished (resumable): no more events are written.
    detached: bool,
    started: Instant,
    /// Elapsed time of earlier processes of this run (resume).
    prior_elapsed: Duration,
}

/// Start a fresh run, or continue `prior` events of an interrupted one.
pub fn start(
    cfg: RunConfig,
    deps: AgentDeps,
    sink: Box<dyn EventSink>,
    prior: Option<Vec<Envelope>>,
) -> Result<EngineHandle, String> {
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (control_tx, control_rx) = mpsc::unbounded_channel();
    let (events, _) = broadcast::channel(4096);
    let (deltas, _) = broadcast::channel(4096);
    let (finished_tx, finished_rx) = watch::channel(false);
    let (paused_tx, paused_rx) = watch::channel(false);
    let (changed_tx, changed_rx) = watch::channel(0u64);
    let log = Arc::new(Mutex::new(Vec::new()));
    let link = BoardLink {
        cmds: cmd_tx,
        paused: paused_rx,
        changed: changed_rx,
        work: Arc::new(Notify::new()),
        run_cancel: CancellationToken::new(),
        deltas: deltas.clone(),
    };
    let coordination = Coordination::parse(&cfg.coordination)?;
    let mut board = Board {
        cfg,
        coordination,
        brief: String::new(),
        unreported: Vec::new(),
        orchestrator_spawned: false,
        state: RunState::default(),
        seq: 0,
        sink,
        sink_failed: false,
        events: events.clone(),
        log: log.clone(),
        finished_tx,
        paused_tx,
        changed_tx,
        link,
        deps: Arc::new(deps),
        claims: HashMap::new(),
        running: std::collections::BTreeSet::new(),
        alive: 0,
        queued: std::collections::BTreeSet::new(),
        next_task: 1,
        next_point: 1,
        next_constraint: 1,
        published: Vec::new(),
        clock: EventClock::default(),
        last_finisher: None,
        finaliser: None,
        finalise_rounds: 0,
        budget_hit: false,
        detached: false,
        started: Instant::now(),
        prior_elapsed: Duration::ZERO,
    };
    match prior {
        None => board.begin(),
        Some(prior) => board.continue_from(prior)?,
    }
    let handle = EngineHandle {
        controls: control_tx,
        events,
        deltas,
        log,
        finished: finished_rx,
    };
    tokio::spawn(board.run(cmd_rx, control_rx));
    Ok(handle)
}

fn id_number(id: &str) -> u64 {
    id.trim_start_matches(|c: char| c.is_ascii_alphabetic())
        .parse()
        .unwrap_or(0)
}

impl Board {
    fn begin(&mut self) {
        let cfg = self.cfg.clone();
        self.emit(Event::RunStarted {
            run_id: cfg.run_id.clone(),
            goal: cfg.goal.clone(),
            mode: cfg.mode.clone(),
            model: cfg.model_label.clone(),
            agents: cfg.agents,
            verify: cfg.verify,
            budgets: cfg.budgets.clone(),
            coordination: cfg.coordination.clone(),
        });
        let mut initial = match self.coordination {
            Coordination::Delm => self.deps.workspace.initial_tasks(&cfg.goal),
            Coordination::Isolated => coordination::isolated_tasks(&cfg.goal, cfg.agents),
            // The orchestrator's first turn is the split.
            Coordination::Central => Vec::new(),
        };
        if initial.is_empty() && self.coordination == Coordination::Delm {
            initial.push((
                "Plan: understand the goal and split it".to_string(),
                "Explore what is needed to reach the goal. If it is small, do it yourself and \
record points; otherwise add focused, independent tasks with `add_task` (each doable by one \
agent) and finish with a short plan."
                    .to_string(),
            ));
        }
        for (title, detail) in initial {
            self.add_task(title, detail, Origin::Initial);
        }
        self.ensure_agents();
    }

    fn continue_from(&mut self, prior: Vec<Envelope>) -> Result<(), String> {
        let state = RunState::from_events(prior.iter());
        if state.answer.is_some() {
            return Err(
                "this run already finished; open it with `delm replay` to read it".to_string(),
            );
        }
        if state.run_id.is_empty() {
            return Err("the session has no run_started event".to_string());
        }
        self.seq = state.last_seq;
        self.next_task = state
            .tasks
            .iter()
            .map(|t| id_number(&t.id))
            .max()
            .unwrap_or(0)
            + 1;
        for p in &state.points {
            let n = id_number(&p.point.id);
            if p.point.id.starts_with('C') {
                self.next_constraint = self.next_constraint.max(n + 1);
            } else {
                self.next_point = self.next_point.max(n + 1);
            }
        }
        if let (Some(a), Some(b)) = (
            state.started_ts.as_deref().and_then(crate::event::parse_ts),
            state.last_ts.as_deref().and_then(crate::event::parse_ts),
        ) {
            self.prior_elapsed = (b - a).try_into().unwrap_or_default();
        }
        // Publication order is verification order; seqs only need to be increasing.
        self.published = state
            .points
            .iter()
            .enumerate()
            .filter(|(_, p)| p.status == PointStatus::Verified && p.superseded_by.is_none())
            .map(|(i, p)| (p.seq, i))
            .collect();
        self.published.sort();
        *self.log.lock().unwrap_or_else(|e| e.into_inner()) = prior;
        self.state = state;
        self.queued = (0..self.state.tasks.len())
            .filter(|&i| self.state.tasks[i].state == TaskState::Queued)
            .collect();
        let cfg = self.cfg.clone();
        self.cfg.goal = self.state.goal.clone();
        self.cfg.mode = self.state.mode.clone();
        self.cfg.verify = self.state.verify;
        self.emit(Event::RunResumed {
            model: cfg.model_label,
            agents: cfg.agents,
        });
        // Work that was in flight when the process died goes back to the queue; points that
        // were mid-verification are rejected so nothing unverified is ever shared.
        let claimed: Vec<TaskId> = self
            .state
            .tasks
            .iter()
            .filter(|t| matches!(t.state, TaskState::Claimed { .. }))
            .map(|t| t.id.clone())
            .collect();
        for task in claimed {
            self.emit(Event::TaskRequeued {
                task,
                by: "resume".into(),
                note: Some("the run was interrupted while this task was in progress".into()),
            });
        }
        let pending: Vec<PointId> = self
            .state
            .points
            .iter()
            .filter(|p| p.status == PointStatus::Proposed)
            .map(|p| p.point.id.clone())
            .collect();
        for point in pending {
            self.emit(Event::PointRejected {
                point,
                reason: "verification was interrupted when the run stopped; propose it again \
if it still holds"
                    .into(),
            });
        }
        if self.state.paused {
            self.emit(Event::Resumed {});
        }
        self.ensure_agents();
        Ok(())
    }

    fn emit(&mut self, event: Event) {
        self.seq += 1;
        let env = Envelope {
            seq: self.seq,
            ts: self.clock.now(),
            event,
        };
        self.state.apply(&env);
        self.track_queue(&env.event);
        if let Err(e) = self.sink.write(&env)
            && !self.sink_failed
        {
            // Keep running (the events are still broadcast and kept in memory), but say so.
            self.sink_failed = true;
            tracing::error!("cannot write the session log: {e}");
        }
        let published = match &env.event {
            Event::ConstraintAdded { point } => Some(point.id.as_str()),
            Event::PointVerified { point, .. } => Some(point.as_str()),
            _ => None,
        };
        if let Some(index) = published.and_then(|id| self.state.point_position(id)) {
            self.published.push((env.seq, index));
        }
        // Subscribers get a copy; with none (a headless run) the log keeps the only one.
        if self.events.receiver_count() > 0 {
            let _ = self.events.send(env.clone());
        }
        self.log.lock().unwrap_or_else(|e| e.into_inner()).push(env);
    }

    /// Keep the queued-task index in step with the task events just applied.
    fn track_queue(&mut self, event: &Event) {
        let task = match event {
            Event::TaskAdded { task, .. }
            | Event::TaskClaimed { task, .. }
            | Event::TaskRequeued { task, .. }
            | Event::TaskCancelled { task, .. } => task,
            _ => return,
        };
        if let Some(pos) = self.state.task_position(task) {
            if self.state.tasks[pos].state == TaskState::Queued {
                self.queued.insert(pos);
            } else {
                self.queued.remove(&pos);
            }
        }
    }

    fn bump(&self) {
        self.changed_tx.send_modify(|n| *n += 1);
    }

    fn add_task(&mut self, title: String, detail: String, origin: Origin) -> TaskId {
        let id = format!("T{}", self.next_task);
        self.next_task += 1;
        self.emit(Event::TaskAdded {
            task: id.clone(),
            title,
            detail,
            origin,
        });
        self.link.work.notify_one();
        id
    }

    fn ensure_agents(&mut self) {
        if self.coordination == Coordination::Central && !self.orchestrator_spawned {
            self.orchestrator_spawned = true;
            self.alive += 1;
            tokio::spawn(agent::run(
                ORCHESTRATOR.to_string(),
                self.link.clone(),
                self.deps.clone(),
            ));
        }
        let want = self.state.desired_agents.clamp(1, MAX_AGENTS);
        for index in 1..=want {
            if !self.running.insert(index) {
                continue;
            }
            self.alive += 1;
            let id = format!("a{index}");
            let link = self.link.clone();
            let deps = self.deps.clone();
            tokio::spawn(agent::run(id, link, deps));
        }
    }

    fn elapsed(&self) -> Duration {
        self.prior_elapsed + self.started.elapsed()
    }

    async fn run(
        mut self,
        mut cmds: mpsc::UnboundedReceiver<AgentCmd>,
        mut controls: mpsc::UnboundedReceiver<Control>,
    ) {
        let mut sync_tick = tokio::time::interval(Duration::from_secs(1));
        sync_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let deadline = self
            .cfg
            .budgets
            .time_limit_secs
            .map(|s| Duration::from_secs(s).saturating_sub(self.prior_elapsed))
            .map(|d| tokio::time::Instant::now() + d);
        let mut controls_open = true;
        loop {
            let time_up = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                cmd = cmds.recv() => match cmd {
                    Some(cmd) => self.on_agent(cmd),
                    None => break,
                },
                ctl = controls.recv(), if controls_open => match ctl {
                    Some(ctl) => self.on_control(ctl),
                    None => controls_open = false,
                },
                _ = sync_tick.tick() => self.sync(),
                _ = time_up, if !self.budget_hit && !self.is_done() => {
                    self.on_budget("time limit reached");
                }
            }
            if self.is_over() && self.alive == 0 {
                break;
            }
        }
        self.sync();
        self.finished_tx.send_replace(true);
    }

    fn sync(&mut self) {
        if let Err(e) = self.sink.sync() {
            tracing::error!("cannot sync the session log: {e}");
        }
    }

    fn is_done(&self) -> bool {
        self.state.answer.is_some()
    }

    /// Finished, or detached by the human: either way the log takes no more events.
    fn is_over(&self) -> bool {
        self.is_done() || self.detached
    }

    fn on_agent(&mut self, cmd: AgentCmd) {
        if self.is_over() {
            // `run_finished` is the last event of a run: late reports from agents that are
            // winding down are dropped (replies still go out so nobody waits forever).
            return self.after_finish(cmd);
        }
        match cmd {
            AgentCmd::Claim { agent, reply } => {
                let answer = self.claim(&agent);
                let _ = reply.send(answer);
            }
            AgentCmd::Emit(event) => {
                let is_call = matches!(event, Event::LlmCall { .. });
                self.emit(event);
                if is_call {
                    self.check_budget();
                }
            }
            AgentCmd::Propose { mut point, reply } => {
                point.id = format!("P{}", self.next_point);
                self.next_point += 1;
                let cited = point
                    .evidence
                    .iter()
                    .filter_map(|e| self.state.point(e.source.trim()))
                    .filter(|p| p.status == PointStatus::Verified)
                    .cloned()
                    .collect();
                let related = prompt::related_points(&self.state, &point, 3);
                let id = point.id.clone();
                self.emit(Event::PointProposed { point });
                let _ = reply.send(Proposed { id, cited, related });
            }
            AgentCmd::Verdict { point, verdict } => {
                if self.state.point(&point).map(|p| p.status) != Some(PointStatus::Proposed) {
                    return;
                }
                match verdict {
                    Ok((evidence, note)) => self.emit(Event::PointVerified {
                        point,
                        note,
                        evidence: Some(evidence),
                    }),
                    Err(reason) => self.emit(Event::PointRejected { point, reason }),
                }
            }
            AgentCmd::AddTask {
                agent,
                title,
                detail,
                reply,
            } => {
                let id = self.add_task(title, detail, Origin::Agent { agent });
                let _ = reply.send(id);
            }
            AgentCmd::Finish {
                agent,
                task,
                outcome,
                result,
            } => {
                if self.claims.get(&agent).is_some_and(|c| c.task == task) {
                    self.claims.remove(&agent);
                    self.unreported.push(task.clone());
                    self.emit(Event::TaskFinished {
                        task,
                        agent: agent.clone(),
                        outcome,
                        result,
                    });
                    self.last_finisher = Some(agent);
                    // A waiting agent's claim can only turn out differently once no claim is
                    // left (finalise, or the `central` orchestrator's next wave); new work
                    // wakes agents through `work`.
                    if self.claims.is_empty() {
                        self.bump();
                    }
                }
            }
            AgentCmd::Abandon { agent } => {
                self.claims.remove(&agent);
                if self.finaliser.as_ref().is_some_and(|(a, _)| *a == agent) {
                    self.finaliser = None;
                }
                self.emit(Event::AgentStatus {
                    agent,
                    status: AgentStatus::Idle,
                    task: None,
                });
                self.bump();
            }
            AgentCmd::FinalAnswer {
                agent,
                answer,
                cited,
                reply,
            } => {
                if self.finaliser.as_ref().is_none_or(|(a, _)| *a != agent) {
                    let _ = reply.send(Err(
                        "the finalise turn was interrupted: new work arrived".into()
                    ));
                    return;
                }
                let unknown: Vec<&String> = cited
                    .iter()
                    .filter(|id| {
                        self.state
                            .point(id)
                            .is_none_or(|p| p.status != PointStatus::Verified)
                    })
                    .collect();
                if !unknown.is_empty() {
                    let list: Vec<&str> = unknown.iter().map(|s| s.as_str()).collect();
                    let _ = reply.send(Err(format!(
                        "these ids are not verified points: {}; cite only verified point ids",
                        list.join(", ")
                    )));
                    return;
                }
                let stopped_by = if self.budget_hit {
                    StoppedBy::Budget
                } else {
                    StoppedBy::Completed
                };
                let _ = reply.send(Ok(()));
                tracing::info!(%agent, "final answer written");
                self.finish(answer, cited, stopped_by);
            }
            AgentCmd::FinaliseDeclined { agent } => {
                if self.finaliser.as_ref().is_some_and(|(a, _)| *a == agent) {
                    self.finaliser = None;
                }
                self.last_finisher = Some(agent);
                self.bump();
            }
            AgentCmd::Expand {
                agent,
                point,
                level,
                reply,
            } => {
                let is_finaliser = self.finaliser.as_ref().is_some_and(|(a, _)| *a == agent);
                let visible = |p: &PointView| {
                    self.coordination.shares_context()
                        || is_finaliser
                        || p.point.author == agent
                        || p.point.author == HUMAN
                };
                let text = match self.state.point(point.trim()).filter(|p| visible(p)) {
                    Some(p) if p.status == PointStatus::Verified => {
                        prompt::expand_point(p, level.trim())
                    }
                    Some(p) if p.status == PointStatus::Rejected => {
                        prompt::expand_point(p, level.trim())
                    }
                    Some(_) => Err(format!("{point} is still being verified")),
                    None => Err(format!("there is no point {point}")),
                };
                let _ = reply.send(text);
            }
            AgentCmd::Updates {
                agent,
                since,
                reply,
            } => {
                let start = self.published.partition_point(|(s, _)| *s <= since);
                let shares = self.coordination.shares_context();
                let fresh: Vec<usize> = self.published[start..]
                    .iter()
                    .map(|&(_, i)| i)
                    .filter(|&i| {
                        let author = &self.state.points[i].point.author;
                        // Without a shared context, only the human's constraints travel.
                        *author != agent && (shares || author == HUMAN)
                    })
                    .collect();
                let update = prompt::context_update(&self.state, &fresh);
                let _ = reply.send((update, self.seq));
            }
            AgentCmd::Broadcast { context } => self.brief = context,
            AgentCmd::Fatal { agent, message } => {
                if self.is_done() {
                    return;
                }
                self.emit(Event::Error {
                    agent: Some(agent),
                    task: None,
                    message: message.clone(),
                });
                self.finish(
                    format!("The run failed: {message}"),
                    Vec::new(),
                    StoppedBy::Error,
                );
            }
            AgentCmd::Exited { agent } => {
                self.alive = self.alive.saturating_sub(1);
                self.running.remove(&Self::agent_index(&agent));
                if let Some(claim) = self.claims.remove(&agent) {
                    // An agent that went away (agent count lowered mid-task) hands its task back.
                    self.emit(Event::TaskRequeued {
                        task: claim.task,
                        by: agent.clone(),
                        note: None,
                    });
                }
                if !self.is_done() {
                    self.emit(Event::AgentStatus {
                        agent,
                        status: AgentStatus::Stopped,
                        task: None,
                    });
                    // The count may have gone back up while this agent was winding down.
                    self.ensure_agents();
                }
                self.bump();
            }
        }
    }

    fn after_finish(&mut self, cmd: AgentCmd) {
        match cmd {
            AgentCmd::Claim { reply, .. } => {
                let _ = reply.send(ClaimReply::Stop);
            }
            AgentCmd::FinalAnswer { reply, .. } => {
                let _ = reply.send(Err("the run is over".into()));
            }
            AgentCmd::Expand { reply, .. } => {
                let _ = reply.send(Err("the run is over".into()));
            }
            AgentCmd::Exited { .. } => self.alive = self.alive.saturating_sub(1),
            // Dropping the other replies' senders ends the agents' waits.
            _ => {}
        }
    }

    /// New work arrived while the finaliser is writing: stop it, so the swarm takes the work
    /// and finalises again later.
    fn interrupt_finaliser(&mut self) {
        if let Some((_, cancel)) = self.finaliser.take() {
            cancel.cancel();
        }
    }

    fn agent_index(agent: &str) -> usize {
        id_number(agent) as usize
    }

    fn claim(&mut self, agent: &AgentId) -> ClaimReply {
        if self.is_done() || Self::agent_index(agent) > self.state.desired_agents {
            return ClaimReply::Stop;
        }
        if *self.paused_tx.borrow() || self.claims.contains_key(agent) {
            return ClaimReply::Wait;
        }
        if self.finaliser.is_some() {
            return ClaimReply::Wait;
        }
        let is_orchestrator = agent == ORCHESTRATOR;
        if self.coordination == Coordination::Central {
            if !is_orchestrator && (self.budget_hit || !self.has_queued()) {
                return ClaimReply::Wait;
            }
            if is_orchestrator {
                let work_left = self.has_queued() && !self.budget_hit;
                return if work_left || !self.claims.is_empty() {
                    ClaimReply::Wait
                } else {
                    self.orchestrator_turn()
                };
            }
        }
        if !self.budget_hit
            && let Some(&pos) = self.queued.first()
        {
            let (id, attempts) = {
                let task = &self.state.tasks[pos];
                (task.id.clone(), task.attempts)
            };
            let cancel = self.link.run_cancel.child_token();
            self.claims.insert(
                agent.clone(),
                Claim {
                    task: id.clone(),
                    cancel: cancel.clone(),
                },
            );
            self.emit(Event::TaskClaimed {
                task: id,
                agent: agent.clone(),
                attempt: attempts + 1,
            });
            // The task as the claim left it (state and attempt count updated).
            let task = self.state.tasks[pos].clone();
            let message = match self.coordination {
                Coordination::Delm => {
                    prompt::task_message(&self.state, &task, self.cfg.context_budget_tokens)
                }
                Coordination::Central => coordination::worker_message(&task, &self.brief),
                Coordination::Isolated => coordination::isolated_message(&task),
            };
            return ClaimReply::Task {
                task: Box::new(task),
                message,
                cancel,
                seen: self.seq,
            };
        }
        if !self.claims.is_empty() {
            return ClaimReply::Wait;
        }
        // Queue empty (or budget spent) and nothing in progress: the agent that finished last
        // gets the single finalise turn.
        let last_alive = self
            .last_finisher
            .as_ref()
            .is_some_and(|a| Self::agent_index(a) <= self.state.desired_agents);
        if last_alive && self.last_finisher.as_ref() != Some(agent) {
            return ClaimReply::Wait;
        }
        self.finalise_rounds += 1;
        let may_add_tasks = !self.budget_hit
            && self.finalise_rounds < MAX_FINALISE_ROUNDS
            && self.coordination == Coordination::Delm;
        let note = if self.budget_hit {
            "The run's budget is spent: answer now with what is verified, and say in the \
answer that the run stopped early and what is still open."
        } else {
            ""
        };
        let cancel = self.link.run_cancel.child_token();
        self.finaliser = Some((agent.clone(), cancel.clone()));
        self.emit(Event::FinaliseStarted {
            agent: agent.clone(),
        });
        let message = prompt::finalise_message(
            &self.state,
            self.cfg.context_budget_tokens * 4,
            may_add_tasks,
            note,
        );
        ClaimReply::Finalise {
            message,
            may_add_tasks,
            cancel,
            seen: self.seq,
            fresh: true,
        }
    }

    fn has_queued(&self) -> bool {
        !self.queued.is_empty()
    }

    /// `central`: the orchestrator's turn: plan the first wave, or aggregate the last one.
    fn orchestrator_turn(&mut self) -> ClaimReply {
        self.finalise_rounds += 1;
        let wave = self.finalise_rounds;
        let may_add_tasks = !self.budget_hit && wave <= MAX_WAVES;
        let first = wave == 1;
        let mut message = if first {
            "Plan the first wave now.".to_string()
        } else {
            let tasks = std::mem::take(&mut self.unreported);
            coordination::wave_report(&self.state, &tasks, wave - 1, may_add_tasks)
        };
        if self.budget_hit {
            message.push_str(
                "\nThe run's budget is spent: answer now with what the workers reported.",
            );
        }
        let cancel = self.link.run_cancel.child_token();
        self.finaliser = Some((ORCHESTRATOR.to_string(), cancel.clone()));
        self.emit(Event::FinaliseStarted {
            agent: ORCHESTRATOR.to_string(),
        });
        ClaimReply::Finalise {
            message,
            may_add_tasks,
            cancel,
            seen: self.seq,
            fresh: first,
        }
    }

    fn check_budget(&mut self) {
        if self.budget_hit || self.finaliser.is_some() {
            return;
        }
        let b = &self.cfg.budgets;
        let t = &self.state.totals;
        if let Some(max) = b.max_cost_usd
            && t.cost_usd >= max
        {
            self.on_budget(&format!(
                "cost budget reached (${:.4} of ${max})",
                t.cost_usd
            ));
        } else if let Some(max) = b.max_tokens
            && t.tokens_in + t.tokens_out >= max
        {
            self.on_budget(&format!(
                "token budget reached ({} of {max})",
                t.tokens_in + t.tokens_out
            ));
        }
    }

    /// A budget ran out: stop claiming, hand in-flight tasks back, and finalise with what is
    /// verified.
    fn on_budget(&mut self, why: &str) {
        if self.budget_hit || self.is_over() {
            return;
        }
        self.budget_hit = true;
        self.emit(Event::Error {
            agent: None,
            task: None,
            message: format!("{why}: finalising with what is verified"),
        });
        let claims: Vec<(AgentId, Claim)> = self.claims.drain().collect();
        for (_, claim) in claims {
            claim.cancel.cancel();
            self.emit(Event::TaskRequeued {
                task: claim.task,
                by: "budget".into(),
                note: Some(why.to_string()),
            });
        }
        self.bump();
    }

    fn finish(&mut self, answer: String, cited: Vec<PointId>, stopped_by: StoppedBy) {
        let mut totals = self.state.totals.clone();
        totals.elapsed_ms = self.elapsed().as_millis() as u64;
        self.emit(Event::RunFinished {
            answer,
            cited,
            stopped_by,
            totals,
        });
        self.sync();
        self.link.run_cancel.cancel();
        self.bump();
    }

    fn on_control(&mut self, control: Control) {
        if self.is_over() {
            return;
        }
        match control {
            Control::Detach => {
                self.detached = true;
                self.sync();
                self.link.run_cancel.cancel();
                self.bump();
            }
            Control::Pause => {
                if !self.state.paused {
                    self.emit(Event::Paused {});
                    self.paused_tx.send_replace(true);
                }
            }
            Control::Resume => {
                if self.state.paused {
                    self.emit(Event::Resumed {});
                    self.paused_tx.send_replace(false);
                    self.bump();
                }
            }
            Control::InjectConstraint { text } => {
                let text = text.trim().to_string();
                if text.is_empty() {
                    return;
                }
                let id = format!("C{}", self.next_constraint);
                self.next_constraint += 1;
                let headline = crate::text::clip(text.lines().next().unwrap_or(""), 200);
                self.emit(Event::ConstraintAdded {
                    point: Point {
                        id,
                        kind: PointKind::Constraint,
                        headline,
                        summary: text,
                        evidence: Vec::new(),
                        author: HUMAN.into(),
                        task: None,
                        supersedes: None,
                    },
                });
            }
            Control::Requeue { task, note } => {
                let Some(view) = self.state.task(&task) else {
                    return;
                };
                if view.state == TaskState::Queued {
                    return;
                }
                if let TaskState::Claimed { agent } = view.state.clone()
                    && let Some(claim) = self.claims.remove(&agent)
                {
                    claim.cancel.cancel();
                }
                self.emit(Event::TaskRequeued {
                    task,
                    by: HUMAN.into(),
                    note,
                });
                self.interrupt_finaliser();
                self.bump();
            }
            Control::Cancel { task, note } => {
                let Some(view) = self.state.task(&task) else {
                    return;
                };
                if !matches!(view.state, TaskState::Queued | TaskState::Claimed { .. }) {
                    return;
                }
                if let TaskState::Claimed { agent } = view.state.clone()
                    && let Some(claim) = self.claims.remove(&agent)
                {
                    claim.cancel.cancel();
                }
                self.emit(Event::TaskCancelled {
                    task,
                    by: HUMAN.into(),
                    note,
                });
                self.bump();
            }
            Control::AddTask { title, detail } => {
                if !title.trim().is_empty() {
                    self.add_task(title.trim().to_string(), detail, Origin::Human);
                    self.interrupt_finaliser();
                }
            }
            Control::SetAgents { count } => {
                let count = count.clamp(1, MAX_AGENTS);
                if count != self.state.desired_agents {
                    self.emit(Event::AgentsChanged { count });
                    self.ensure_agents();
                    self.bump();
                }
            }
            Control::Stop => {
                if let Some((_, cancel)) = &self.finaliser {
                    cancel.cancel();
                }
                self.finish(
                    "The run was stopped by the human before a final answer was written."
                        .to_string(),
                    Vec::new(),
                    StoppedBy::Cancelled,
                );
            }
        }
    }
}

/// Event timestamps (RFC 3339, millisecond precision). Formatting a date costs more than
/// the rest of an event's bookkeeping, and a busy board writes hundreds of events within one
/// millisecond: the text is made once per millisecond and copied after that.
#[derive(Default)]
struct EventClock {
    millis: i128,
    text: String,
}

impl EventClock {
    fn now(&mut self) -> String {
        let now = time::OffsetDateTime::now_utc();
        let millis = now.unix_timestamp_nanos() / 1_000_000;
        if millis != self.millis || self.text.is_empty() {
            self.millis = millis;
            self.text = format_rfc3339_millis(now);
        }
        self.text.clone()
    }
}
