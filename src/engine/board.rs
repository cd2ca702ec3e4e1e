//! The board: one task that owns the run. Requests from every participant and the human's
//! controls arrive in its inbox; the [`Scheduler`] decides, the [`EventStore`] records, the
//! [`Supervisor`] keeps the native agents running and the [`Verifier`] checks points before
//! they are shared. Transport is a detail: in-process agents reach the inbox over a
//! channel, outside and remote participants through adapters that post to the same inbox.
//!
//! It also pins each verified patch in the log and, when the answer is in, holds the step
//! that finishes the run until the workspace has assembled the run's one result; that end
//! of the run is why this file is a little over 600 lines.

use super::agent::{self, AgentDeps};
use super::client::{
    InProcessClient, Inbound, InboundReply, Revocation, SignalSource, Signals, granted_claim,
};
use super::policy::{ORCHESTRATOR, STANDBY_FINALISER};
use super::protocol::{Claim, Control, Reply, Request};
use super::scheduler::{self, Effect, Scheduler, SchedulerConfig, Step};
use super::store::{self, EventStore};
use super::supervisor::{Exit, Supervisor};
use super::verifier::{AuthorReport, Fatal, JobResult, Verifier};
use super::{EngineHandle, EventSink, RunConfig, StreamDelta};
use crate::event::{AssembledResult, Envelope, Event, RunState, StoppedBy};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use super::scheduler::MAX_AGENTS;

/// Replies kept per participant so a repeated request id gets its first answer again.
const REPLY_CACHE: usize = 32;

/// Everything the board listens to.
struct Inputs {
    inbox: mpsc::UnboundedReceiver<Inbound>,
    controls: mpsc::UnboundedReceiver<Control>,
    reports: mpsc::UnboundedReceiver<AuthorReport>,
    system: mpsc::UnboundedReceiver<Event>,
}

/// A proposal waiting for its verdicts: who asked, the author, and any repeats of the
/// same request that arrived meanwhile (a client retrying while the judge still works).
struct Parked {
    responder: Responder,
    author: String,
    repeats: Vec<Responder>,
}

/// Where the reply to one request goes.
struct Responder {
    agent: String,
    id: u64,
    tx: Option<oneshot::Sender<InboundReply>>,
    wants_token: bool,
}

struct Board {
    cfg: Arc<RunConfig>,
    sched: Scheduler,
    store: EventStore,
    signals: SignalSource,
    client_signals: Signals,
    supervisor: Supervisor,
    verifier: Arc<Verifier>,
    verifications: JoinSet<(u64, JobResult)>,
    /// Proposers waiting for their verdicts, by verification job.
    pending: HashMap<u64, Parked>,
    next_job: u64,
    /// In-process participants' open claims and the tokens that revoke them.
    tokens: HashMap<String, (Claim, CancellationToken)>,
    replies: HashMap<String, VecDeque<(u64, Reply)>>,
    inbox_tx: mpsc::UnboundedSender<Inbound>,
    deltas: broadcast::Sender<StreamDelta>,
    deps: Arc<AgentDeps>,
    started: Instant,
    /// The run's result being assembled (`--allow-edit`), and the step that finishes the
    /// run, held until it is in.
    deliveries: JoinSet<AssembledResult>,
    held: Option<Held>,
}

/// The rest of a finishing step (`run_finished`, its reply and effects) while the result is
/// assembled; `stop` ends the assembly early (the human stops or leaves).
struct Held {
    step: Step,
    responder: Option<Responder>,
    stop: CancellationToken,
}

/// What a board needs besides its config: the agents' shared dependencies, the verifier's
/// judge, the session sink and, to resume, the earlier events.
pub struct BoardParts {
    pub deps: AgentDeps,
    pub judge: super::Model,
    pub judge_price: super::PriceFn,
    pub sink: Box<dyn EventSink>,
    pub prior: Option<Vec<Envelope>>,
}

/// Start a fresh run, or continue `prior` events of an interrupted one.
pub fn start(cfg: Arc<RunConfig>, parts: BoardParts) -> Result<EngineHandle, String> {
    let BoardParts {
        deps,
        judge,
        judge_price,
        sink,
        prior,
    } = parts;
    let prior_state = prior.as_ref().map(|p| RunState::from_events(p.iter()));
    if let Some(state) = &prior_state {
        check_resumable(state)?;
    }
    let store = EventStore::new(sink, prior.unwrap_or_default());
    let (inbox_tx, inbox_rx) = mpsc::unbounded_channel();
    let (control_tx, control_rx) = mpsc::unbounded_channel();
    let (reports_tx, reports_rx) = mpsc::unbounded_channel();
    let (system_tx, system_rx) = mpsc::unbounded_channel();
    let (deltas, _) = broadcast::channel(4096);
    let (finished_tx, finished_rx) = watch::channel(false);
    let (signals, client_signals) = SignalSource::new();
    let verifier = Arc::new(Verifier {
        mode: cfg.verify,
        goal: prior_state
            .as_ref()
            .map_or_else(|| cfg.goal.clone(), |s| s.goal.clone()),
        cache_key: cfg.run_id.clone(),
        workspace: deps.workspace.clone(),
        judge,
        judge_price,
        view: store.view().clone(),
        signals: client_signals.clone(),
        reports: reports_tx,
    });
    let sched = Scheduler::new(SchedulerConfig {
        coordination: cfg.coordination,
        budgets: cfg.budgets.clone(),
        max_tasks: cfg.max_tasks,
        max_tasks_per_claim: cfg.max_tasks_per_claim,
        lease: cfg.lease,
    });
    let handle = EngineHandle {
        controls: control_tx,
        events: store.broadcaster().clone(),
        deltas: deltas.clone(),
        log: store.log().clone(),
        finished: finished_rx,
        inbox: inbox_tx.clone(),
        view: store.view().clone(),
        signals: client_signals.clone(),
        system: system_tx,
        workspace: deps.workspace.clone(),
    };
    let mut board = Board {
        cfg,
        sched,
        store,
        signals,
        client_signals,
        supervisor: Supervisor::new(),
        verifier,
        verifications: JoinSet::new(),
        pending: HashMap::new(),
        next_job: 1,
        tokens: HashMap::new(),
        replies: HashMap::new(),
        inbox_tx,
        deltas,
        deps: Arc::new(deps),
        started: Instant::now(),
        deliveries: JoinSet::new(),
        held: None,
    };
    let first = match &prior_state {
        None => board.begin(),
        Some(state) => board.sched.resume(
            state,
            Event::RunResumed {
                model: board.cfg.model_label.clone(),
                agents: board.cfg.agents,
            },
        ),
    };
    board.apply(first, None);
    tokio::spawn(board.run(
        Inputs {
            inbox: inbox_rx,
            controls: control_rx,
            reports: reports_rx,
            system: system_rx,
        },
        finished_tx,
    ));
    Ok(handle)
}

/// A finished run cannot continue, except one that failed (its provider was unreachable,
/// say): that one is resumed once the cause is fixed.
fn check_resumable(state: &RunState) -> Result<(), String> {
    if state.run_id.is_empty() {
        return Err("the session has no run_started event".to_string());
    }
    match &state.answer {
        Some(a) if a.stopped_by != StoppedBy::Error => {
            Err("this run already finished; open it with `delm replay` to read it".to_string())
        }
        _ => Ok(()),
    }
}

impl Board {
    fn begin(&mut self) -> Step {
        let cfg = &self.cfg;
        let started = Event::RunStarted {
            run_id: cfg.run_id.clone(),
            goal: cfg.goal.clone(),
            mode: cfg.mode.clone(),
            model: cfg.model_label.clone(),
            agents: cfg.agents,
            verify: cfg.verify,
            budgets: cfg.budgets.clone(),
            coordination: cfg.coordination,
            endpoint: cfg.endpoint.clone(),
        };
        let workspace_tasks = self.deps.workspace.initial_tasks(&cfg.goal);
        let initial = cfg
            .coordination
            .initial_tasks(&cfg.goal, cfg.agents, workspace_tasks);
        let mut step = self.sched.start(started, initial);
        let skipped = self.deps.workspace.skipped();
        if !skipped.is_empty() {
            let documents = skipped
                .into_iter()
                .map(|(path, reason)| crate::event::SkippedDocument { path, reason })
                .collect();
            step.events.insert(1, Event::DocumentsSkipped { documents });
        }
        step
    }

    fn now(&self) -> Duration {
        self.started.elapsed()
    }

    async fn run(mut self, inputs: Inputs, finished: watch::Sender<bool>) {
        let Inputs {
            mut inbox,
            mut controls,
            mut reports,
            mut system,
        } = inputs;
        let mut sync_tick = tokio::time::interval(Duration::from_secs(1));
        sync_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let prior = self.sched.elapsed(Duration::ZERO);
        let deadline = self
            .cfg
            .budgets
            .time_limit_secs
            .map(|s| Duration::from_secs(s).saturating_sub(prior))
            .map(|d| tokio::time::Instant::now() + d);
        let mut controls_open = true;
        while !(self.sched.is_over() && self.supervisor.is_empty() && self.held.is_none()) {
            let lease_at = self
                .sched
                .next_lease_deadline()
                .map(|d| tokio::time::Instant::from_std(self.started + d));
            let running = !self.sched.is_over();
            tokio::select! {
                Some(msg) = inbox.recv() => self.on_inbound(msg),
                ctl = controls.recv(), if controls_open => match ctl {
                    Some(ctl) => {
                        if let Some(held) = &self.held
                            && matches!(ctl, Control::Stop | Control::Detach)
                        {
                            held.stop.cancel();
                        }
                        let step = self.sched.control(&store::read(self.store.view()).state, self.now(), ctl);
                        self.apply(step, None);
                    }
                    None => controls_open = false,
                },
                exit = self.supervisor.next_exit() => self.on_exit(exit),
                Some(done) = self.verifications.join_next(), if !self.verifications.is_empty() => {
                    if let Ok((job, result)) = done {
                        self.on_verified(job, result);
                    }
                }
                Some(done) = self.deliveries.join_next(), if !self.deliveries.is_empty() => {
                    self.on_delivered(done);
                }
                Some((agent, task, report)) = reports.recv() => {
                    if running {
                        let event = scheduler::report_event(&agent, task, report);
                        self.apply(Step { events: vec![event], ..Step::default() }, None);
                    }
                }
                Some(event) = system.recv() => {
                    if running {
                        self.apply(Step { events: vec![event], ..Step::default() }, None);
                    }
                }
                _ = sync_tick.tick() => self.store.sync(),
                _ = sleep_until(deadline), if running && !self.sched.budget_hit() => {
                    let step = self.sched.time_up();
                    self.apply(step, None);
                }
                _ = sleep_until(lease_at), if running => {
                    let step = self.sched.expire_leases(self.now());
                    self.apply(step, None);
                }
            }
        }
        self.verifications.abort_all();
        self.store.sync();
        finished.send_replace(true);
    }

    fn on_inbound(&mut self, msg: Inbound) {
        let Inbound {
            envelope,
            reply,
            wants_token,
        } = msg;
        let responder = reply.map(|tx| Responder {
            agent: envelope.agent.clone(),
            id: envelope.id,
            tx: Some(tx),
            wants_token,
        });
        // A repeated request id gets its first answer again, and is not applied twice.
        let cached = responder.as_ref().and_then(|r| {
            self.replies
                .get(&r.agent)
                .and_then(|c| c.iter().find(|(id, _)| *id == r.id))
                .map(|(_, reply)| reply.clone())
        });
        if let Some(reply) = cached {
            if let Some(tx) = responder.and_then(|r| r.tx) {
                let _ = tx.send(InboundReply {
                    reply,
                    revocation: None,
                });
            }
            return;
        }
        // The same request again while its first copy is still being verified: it waits
        // for that answer instead of proposing the points a second time.
        if let Some(r) = responder.as_ref()
            && let Some(parked) = self
                .pending
                .values_mut()
                .find(|p| p.responder.agent == r.agent && p.responder.id == r.id)
        {
            parked.repeats.extend(reply_to(responder));
            return;
        }
        let step = {
            let view = store::read(self.store.view());
            self.sched
                .handle(&view.state, self.now(), &envelope.agent, envelope.request)
        };
        let responder = reply_to(responder);
        self.apply(step, responder);
    }

    fn on_exit(&mut self, exit: Exit) {
        if let Some(why) = &exit.crashed {
            tracing::error!(agent = %exit.agent, "agent task ended abnormally: {why}");
        }
        let step = {
            let view = store::read(self.store.view());
            self.sched
                .participant_gone(&view.state, &exit.agent, exit.crashed)
        };
        self.apply(step, None);
    }

    fn on_verified(&mut self, job: u64, result: JobResult) {
        let (waiting, repeats) = match self.pending.remove(&job) {
            Some(p) => (Some((p.responder, p.author)), p.repeats),
            None => (None, Vec::new()),
        };
        match result {
            Ok(results) => {
                let mut step = {
                    let view = store::read(self.store.view());
                    self.sched.verdicts(&view.state, results)
                };
                self.pin_patches(&mut step.events);
                if let Some(reply) = &step.reply {
                    answer_all(repeats, reply);
                }
                self.apply(step, waiting.map(|(r, _)| r));
            }
            Err(Fatal(message)) => {
                let author = waiting
                    .as_ref()
                    .map(|(_, a)| a.clone())
                    .unwrap_or_else(|| "verifier".to_string());
                let refusal = Reply::refused("the run failed while verifying");
                answer_all(repeats, &refusal);
                if let Some((r, _)) = waiting {
                    self.respond(r, refusal);
                }
                let step = {
                    let view = store::read(self.store.view());
                    self.sched
                        .handle(&view.state, self.now(), &author, Request::Fatal { message })
                };
                self.apply(step, None);
            }
        }
    }

    /// Each verified point's patches, pinned in the log right after its verdict (the
    /// workspace keeps the diff and the checks that passed on it).
    fn pin_patches(&self, events: &mut Vec<Event>) {
        let mut pinned = Vec::with_capacity(events.len());
        for event in events.drain(..) {
            let patches = match &event {
                Event::PointVerified {
                    point,
                    evidence: Some(evidence),
                    ..
                } => self.deps.workspace.pinned_patches(point, evidence),
                _ => Vec::new(),
            };
            pinned.push(event);
            pinned.extend(patches.into_iter().map(Event::PatchPinned));
        }
        *events = pinned;
    }

    /// A step that finishes the run (not by failing) waits for the workspace's result: the
    /// events before its `run_finished` are appended now; the rest of it, its reply and its
    /// effects wait in `held` until the result is in ([`Board::on_delivered`]). `None`: the
    /// step is held.
    fn hold_for_result(
        &mut self,
        mut step: Step,
        responder: Option<Responder>,
    ) -> Option<(Step, Option<Responder>)> {
        let finish = step.events.iter().enumerate().find_map(|(i, e)| match e {
            Event::RunFinished {
                cited, stopped_by, ..
            } if *stopped_by != StoppedBy::Error => Some((i, cited.clone(), *stopped_by)),
            _ => None,
        });
        let Some((at, cited, stopped_by)) = finish.filter(|_| self.held.is_none()) else {
            return Some((step, responder));
        };
        self.store.append(step.events.drain(..at).collect());
        let stop = CancellationToken::new();
        // Stopped by the human: merge, and cite earlier checks, but run none.
        let run_checks = stopped_by != StoppedBy::Cancelled;
        let delivery = {
            let view = store::read(self.store.view());
            self.deps
                .workspace
                .deliver(&view.state, &cited, run_checks, stop.clone())
        };
        let Some(delivery) = delivery else {
            return Some((step, responder));
        };
        self.deliveries.spawn(delivery);
        self.held = Some(Held {
            step,
            responder,
            stop,
        });
        None
    }

    /// The result is assembled: record it, then finish the run with the held step.
    fn on_delivered(&mut self, done: Result<AssembledResult, tokio::task::JoinError>) {
        let Some(Held {
            mut step,
            responder,
            ..
        }) = self.held.take()
        else {
            return;
        };
        step.events.insert(
            0,
            match done {
                Ok(result) => Event::ResultAssembled(result),
                Err(e) => Event::Error {
                    agent: None,
                    task: None,
                    message: format!("the run's result could not be assembled: {e}"),
                },
            },
        );
        self.record(step, responder);
    }

    /// Apply a step: hold it if it finishes the run with a result to assemble, else
    /// record it.
    fn apply(&mut self, step: Step, responder: Option<Responder>) {
        if let Some((step, responder)) = self.hold_for_result(step, responder) {
            self.record(step, responder);
        }
    }

    /// Record a step: append its events, run the post-apply checks, carry out its effects
    /// and send its reply (or park the responder until the verdicts are in).
    fn record(&mut self, step: Step, responder: Option<Responder>) {
        let Step {
            events,
            reply,
            mut effects,
        } = step;
        self.store.append(events);
        let after = {
            let view = store::read(self.store.view());
            self.sched.after_apply(&view.state)
        };
        self.store.append(after.events);
        effects.extend(after.effects);
        let paused = store::read(self.store.view()).state.paused;
        self.signals.set_paused(paused);
        let mut responder = responder;
        for effect in effects {
            match effect {
                Effect::Revoke { agent, claim } => {
                    if self.tokens.get(&agent).is_some_and(|(c, _)| *c == claim)
                        && let Some((_, token)) = self.tokens.remove(&agent)
                    {
                        token.cancel();
                    }
                }
                Effect::WakeOne => self.signals.wake_one(),
                Effect::WakeAll => self.signals.wake_all(),
                Effect::Verify(job) => {
                    let id = self.next_job;
                    self.next_job += 1;
                    if job.reply
                        && reply.is_none()
                        && let Some(r) = responder.take()
                    {
                        self.pending.insert(
                            id,
                            Parked {
                                responder: r,
                                author: job.author.clone(),
                                repeats: Vec::new(),
                            },
                        );
                    }
                    let verifier = self.verifier.clone();
                    self.verifications.spawn(async move {
                        let result = verifier.run(&job).await;
                        (id, result)
                    });
                }
                Effect::Reconcile => self.reconcile(),
                Effect::Over => {
                    self.signals.end();
                    self.store.sync();
                    for (_, (_, token)) in self.tokens.drain() {
                        token.cancel();
                    }
                    let over = Reply::refused("the run is over");
                    for (_, parked) in self.pending.drain() {
                        answer_all(parked.repeats, &over);
                        answer_all(vec![parked.responder], &over);
                    }
                }
            }
        }
        if let (Some(reply), Some(r)) = (reply, responder) {
            self.respond(r, reply);
        }
    }

    fn respond(&mut self, mut r: Responder, reply: Reply) {
        let cache = self.replies.entry(r.agent.clone()).or_default();
        cache.push_back((r.id, reply.clone()));
        if cache.len() > REPLY_CACHE {
            cache.pop_front();
        }
        let revocation = match granted_claim(&reply) {
            Some(claim) if r.wants_token => {
                let token = self.signals.run_token().child_token();
                self.tokens
                    .insert(r.agent.clone(), (claim.clone(), token.clone()));
                Some(Revocation::new(token))
            }
            _ => None,
        };
        if let Some(tx) = r.tx.take() {
            let _ = tx.send(InboundReply { reply, revocation });
        }
    }

    /// Bring the native agents to the desired count (and start the `central` orchestrator
    /// or the standby finaliser).
    fn reconcile(&mut self) {
        if self.sched.is_over() {
            return;
        }
        let desired = store::read(self.store.view()).state.desired_agents;
        let (inbox, view, signals, deltas, deps) = (
            self.inbox_tx.clone(),
            self.store.view().clone(),
            self.client_signals.clone(),
            self.deltas.clone(),
            self.deps.clone(),
        );
        let spawn = move |id: String| {
            let client = InProcessClient::new(
                id,
                inbox.clone(),
                view.clone(),
                signals.clone(),
                deltas.clone(),
            );
            agent::run(Arc::new(client), deps.clone())
        };
        if self.cfg.coordination.orchestrated() {
            self.supervisor
                .ensure_extra(ORCHESTRATOR, || spawn(ORCHESTRATOR.to_string()));
        }
        if self.cfg.standby_finaliser {
            self.supervisor
                .ensure_extra(STANDBY_FINALISER, || spawn(STANDBY_FINALISER.to_string()));
        }
        self.supervisor.reconcile(desired.min(MAX_AGENTS), spawn);
    }
}

/// Send `reply` to requests that are not cached on their own (repeats of a parked request,
/// or parked requests when the run ends).
fn answer_all(responders: Vec<Responder>, reply: &Reply) {
    for tx in responders.into_iter().filter_map(|r| r.tx) {
        let _ = tx.send(InboundReply {
            reply: reply.clone(),
            revocation: None,
        });
    }
}

/// A request that wants no reply still needs none parked.
fn reply_to(responder: Option<Responder>) -> Option<Responder> {
    responder.filter(|r| r.tx.is_some())
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
