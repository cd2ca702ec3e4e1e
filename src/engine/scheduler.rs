//! The scheduler decides; it does nothing else. Each request, control, verdict or timer is
//! turned into the events that record the decision, the reply to the participant, and the
//! effects the board must carry out (revoke a claim, wake waiting agents, verify points).
//! It never touches a channel, a clock or a file, so every rule is unit-tested here
//! without tokio: first claim wins, one open claim per participant, the finaliser
//! election, budgets, leases, and fencing (a result from a revoked claim is refused).
//!
//! Its input state is the run's fold *before* the step's events are applied; the board
//! applies them, then calls [`Scheduler::after_apply`] for the checks that need the new
//! totals (budgets). This file is long because the claim rules are one piece: splitting
//! them would scatter one decision over several files.

use super::limits::{self, cap};
use super::policy::{ORCHESTRATOR, STANDBY_FINALISER};
use super::protocol::{
    Claim, ClaimReply, Control, PointDraft, Reply, Report, Request, TaskBrief, Verdict, WaitReason,
};
use crate::event::{
    AgentId, AgentStatus, Budgets, Coordination, Event, Evidence, HUMAN, Origin, Point, PointId,
    PointKind, PointStatus, RunState, StoppedBy, TaskId, TaskOutcome, TaskState, TaskView,
};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// Upper bound on the agent count (a typo like `--agents 1000` must not fork-bomb a provider).
pub const MAX_AGENTS: usize = 256;
/// At most this many finalise rounds may add tasks; the last one must answer.
const MAX_FINALISE_ROUNDS: u32 = 3;
/// `central`: at most this many waves of worker tasks before the orchestrator must answer.
const MAX_WAVES: u32 = 4;

/// The rules a scheduler runs by.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    pub coordination: Coordination,
    pub budgets: Budgets,
    /// Tasks a run may hold in all (a model looping on `add_task` stops here).
    pub max_tasks: usize,
    /// Tasks one claim may add (queue growth per agent turn).
    pub max_tasks_per_claim: usize,
    /// How long a leased participant (outside or remote) may stay silent while it holds a
    /// claim before the claim expires.
    pub lease: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            coordination: Coordination::Delm,
            budgets: Budgets::default(),
            max_tasks: 500,
            max_tasks_per_claim: 100,
            lease: Duration::from_secs(120),
        }
    }
}

/// What the board must do besides appending events and replying.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// The claim was revoked: its holder must stop working on it.
    Revoke { agent: AgentId, claim: Claim },
    /// A task was queued: wake one waiting participant to claim it.
    WakeOne,
    /// Something changed that can change any waiting participant's claim answer.
    WakeAll,
    /// Verify these proposed points; the proposer's reply waits for the verdicts.
    Verify(VerifyJob),
    /// Bring the running native agents to the desired count.
    Reconcile,
    /// The run takes no more events (finished, or detached by the human).
    Over,
}

/// Points to verify, all from one proposal.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifyJob {
    pub author: AgentId,
    /// The task they were found on.
    pub task: Option<TaskId>,
    pub points: Vec<Point>,
    /// Normalisation notes per point (told to the author with the verdict).
    pub notes: Vec<Vec<String>>,
    /// Whether the proposer waits for the verdicts (a resumed run re-verifies points whose
    /// proposer is long gone).
    pub reply: bool,
}

/// One point's verification result: resolved evidence and a note, or the rejection reason.
pub type Outcome = Result<(Vec<Evidence>, Option<String>), String>;

/// The scheduler's answer to one input.
#[derive(Debug, Default)]
pub struct Step {
    pub events: Vec<Event>,
    /// `None` when the reply waits (a proposal under verification) or nobody asked.
    pub reply: Option<Reply>,
    pub effects: Vec<Effect>,
}

impl Step {
    fn reply(reply: Reply) -> Step {
        Step {
            reply: Some(reply),
            ..Step::default()
        }
    }
}

struct Open {
    claim: Claim,
    /// For leased participants: when the claim expires unless they are heard from.
    lease_until: Option<Duration>,
    /// Tasks added under this claim.
    added: usize,
}

/// Why a participant's last claim ended without its result (told to it on its next
/// request about that claim).
struct Revoked {
    claim: Claim,
    why: String,
}

pub struct Scheduler {
    cfg: SchedulerConfig,
    claims: HashMap<AgentId, Open>,
    revoked: HashMap<AgentId, Revoked>,
    /// Participants whose claims carry a lease (outside and remote ones), with when each
    /// was last heard from.
    leased: HashMap<AgentId, Duration>,
    /// Queued tasks by their number (add order): claims take the first.
    queued: BTreeMap<u64, TaskId>,
    /// Every task by a hash of its (capped) title and detail, to find an identical one.
    by_content: HashMap<u64, Vec<TaskId>>,
    next_task: u64,
    next_point: u64,
    next_constraint: u64,
    last_finisher: Option<AgentId>,
    finaliser: Option<(AgentId, Claim)>,
    finalise_rounds: u32,
    budget_hit: bool,
    /// `central`: tasks finished since the orchestrator's last turn.
    unreported: Vec<TaskId>,
    detached: bool,
    done: bool,
    /// Elapsed time of earlier processes of this run (resume).
    prior_elapsed: Duration,
}

/// A task's title and detail as the log keeps them (cut to their limits).
fn capped(title: &str, detail: &str) -> (String, String) {
    (
        cap(title, limits::TITLE_CHARS),
        cap(detail, limits::DETAIL_CHARS),
    )
}

/// The key of [`Scheduler::by_content`].
fn content_hash(title: &str, detail: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (title, detail).hash(&mut h);
    h.finish()
}

/// The number in an id like `T12`, `P3` or `a7`.
pub fn id_number(id: &str) -> u64 {
    id.trim_start_matches(|c: char| c.is_ascii_alphabetic())
        .parse()
        .unwrap_or(0)
}

/// A native agent's index (`a3` → 3); `None` for the orchestrator and outside agents.
pub fn native_index(agent: &str) -> Option<usize> {
    let digits = agent.strip_prefix('a')?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// A remote worker's agent (`w2.a3` → (2, 3)): a native agent loop in a `delm worker`
/// process, so it may finalise like a native agent.
pub fn worker_agent(agent: &str) -> Option<(usize, usize)> {
    let (worker, index) = agent.strip_prefix('w')?.split_once('.')?;
    let number = |s: &str| {
        (!s.is_empty() && s.len() <= 9 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    Some((number(worker)?, number(index.strip_prefix('a')?)?))
}

/// Whether `agent` runs the native agent loop (here or in a worker), and so can take the
/// finalise turn.
fn can_finalise(agent: &str) -> bool {
    native_index(agent).is_some() || worker_agent(agent).is_some() || agent == STANDBY_FINALISER
}

/// The brief of `task` for a claim on its `attempt`.
pub(crate) fn brief_of(task: &TaskView, attempt: u32) -> TaskBrief {
    TaskBrief {
        id: task.id.clone(),
        title: task.title.clone(),
        detail: task.detail.clone(),
        origin: task.origin.clone(),
        attempt,
        note: task.note.clone(),
    }
}

impl Scheduler {
    pub fn new(cfg: SchedulerConfig) -> Self {
        Scheduler {
            cfg,
            claims: HashMap::new(),
            revoked: HashMap::new(),
            leased: HashMap::new(),
            queued: BTreeMap::new(),
            by_content: HashMap::new(),
            next_task: 1,
            next_point: 1,
            next_constraint: 1,
            last_finisher: None,
            finaliser: None,
            finalise_rounds: 0,
            budget_hit: false,
            unreported: Vec::new(),
            detached: false,
            done: false,
            prior_elapsed: Duration::ZERO,
        }
    }

    /// A fresh run: `started` (the `run_started` event), then the initial tasks.
    pub fn start(&mut self, started: Event, initial: Vec<(String, String)>) -> Step {
        let mut step = Step::default();
        step.events.push(started);
        for (title, detail) in initial {
            self.add_task(&mut step, capped(&title, &detail), Origin::Initial);
        }
        step.effects.push(Effect::Reconcile);
        step
    }

    /// Continue an interrupted run whose log folded to `state`: work that was in flight
    /// goes back to the queue, points that were mid-verification are verified again.
    pub fn resume(&mut self, state: &RunState, resumed: Event) -> Step {
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
        self.prior_elapsed = state.active_elapsed();
        for t in &state.tasks {
            self.by_content
                .entry(content_hash(&t.title, &t.detail))
                .or_default()
                .push(t.id.clone());
            if matches!(t.state, TaskState::Queued | TaskState::Claimed { .. }) {
                self.queued.insert(id_number(&t.id), t.id.clone());
            }
        }
        let mut step = Step::default();
        step.events.push(resumed);
        for t in &state.tasks {
            if matches!(t.state, TaskState::Claimed { .. }) {
                step.events.push(Event::TaskRequeued {
                    task: t.id.clone(),
                    by: "resume".into(),
                    note: Some("the run was interrupted while this task was in progress".into()),
                });
            }
        }
        let mut pending: BTreeMap<(AgentId, Option<TaskId>), Vec<Point>> = BTreeMap::new();
        for p in state
            .points
            .iter()
            .filter(|p| p.status == PointStatus::Proposed)
        {
            pending
                .entry((p.point.author.clone(), p.point.task.clone()))
                .or_default()
                .push(p.point.clone());
        }
        for ((author, task), points) in pending {
            step.effects.push(Effect::Verify(VerifyJob {
                author,
                task,
                notes: vec![Vec::new(); points.len()],
                points,
                reply: false,
            }));
        }
        if state.paused {
            step.events.push(Event::Resumed {});
        }
        // Participants that joined from outside before the interruption keep their leases:
        // a remote worker that dies after a board restart must still lose its claims.
        for (id, agent) in &state.agents {
            if agent.kind.is_some() && agent.status != AgentStatus::Stopped {
                self.lease(id);
            }
        }
        step.effects.push(Effect::Reconcile);
        step
    }

    /// Claims of `agent` carry a lease from now on (outside and remote participants).
    pub fn lease(&mut self, agent: &str) {
        self.leased.entry(agent.to_string()).or_default();
    }

    /// The run takes no more events.
    pub fn is_over(&self) -> bool {
        self.done || self.detached
    }

    pub fn is_finished(&self) -> bool {
        self.done
    }

    /// When the earliest lease runs out, if any claim is leased.
    pub fn next_lease_deadline(&self) -> Option<Duration> {
        self.claims.values().filter_map(|o| o.lease_until).min()
    }

    /// Run time so far, this process's `now` included.
    pub fn elapsed(&self, now: Duration) -> Duration {
        self.prior_elapsed + now
    }

    pub fn budget_hit(&self) -> bool {
        self.budget_hit
    }

    /// The claim `agent` holds now, if any.
    pub fn claim_of(&self, agent: &str) -> Option<&Claim> {
        self.claims.get(agent).map(|o| &o.claim).or_else(|| {
            self.finaliser
                .as_ref()
                .filter(|(a, _)| a == agent)
                .map(|(_, c)| c)
        })
    }

    /// One request from `agent`.
    pub fn handle(&mut self, state: &RunState, now: Duration, agent: &str, req: Request) -> Step {
        if self.is_over() {
            return Step::reply(match req {
                Request::Claim => Reply::Claim(ClaimReply::Stop),
                _ => Reply::refused("the run is over"),
            });
        }
        self.touch(agent, now);
        // A participant that noticed its claim was revoked says so with `abandon`: that
        // is fine whatever the claim; anything else about a claim it lost is refused.
        if let Some(claim) = req.claim()
            && self.claim_of(agent) != Some(claim)
            && !matches!(req, Request::Abandon { .. })
        {
            return Step::reply(Reply::refused(self.stale(agent, claim)));
        }
        match req {
            Request::Join { name, kind } => {
                self.lease(agent);
                self.touch(agent, now);
                let mut step = Step::reply(Reply::Ok);
                let kind = serde_json::to_value(kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                step.events.push(Event::AgentJoined {
                    agent: agent.to_string(),
                    name: cap(name.trim(), limits::NAME_CHARS),
                    kind,
                });
                step.events.push(Event::AgentStatus {
                    agent: agent.to_string(),
                    status: AgentStatus::Idle,
                    task: None,
                });
                step
            }
            Request::Claim => self.claim(state, now, agent),
            Request::Propose { claim, points } => self.propose(agent, &claim, points),
            Request::AddTask { title, detail } => self.agent_adds_task(state, agent, title, detail),
            Request::Finish {
                claim,
                outcome,
                result,
            } => self.finish_task(agent, &claim, outcome, result),
            Request::Abandon { claim } => self.abandon(agent, &claim),
            Request::FinalAnswer {
                claim: _,
                answer,
                cited,
            } => self.final_answer(state, now, agent, answer, cited),
            Request::DeclineFinalise { claim: _ } => {
                self.finaliser = None;
                self.last_finisher = Some(agent.to_string());
                let mut step = Step::reply(Reply::Ok);
                idle_again(&mut step, agent);
                step
            }
            Request::Broadcast { claim: _, context } => {
                let mut step = Step::reply(Reply::Ok);
                step.events.push(Event::Broadcast {
                    agent: agent.to_string(),
                    context: cap(&context, limits::BROADCAST_CHARS),
                });
                step
            }
            Request::Report { report } => self.report(agent, report),
            Request::Heartbeat => Step::reply(Reply::Ok),
            Request::Leave => {
                let mut step = self.participant_gone(state, agent, None);
                self.leased.remove(agent);
                step.reply = Some(Reply::Ok);
                step
            }
            Request::Fatal { message } => {
                let mut step = Step::reply(Reply::Ok);
                let message = cap(&message, limits::ERROR_CHARS);
                step.events.push(Event::Error {
                    agent: Some(agent.to_string()),
                    task: None,
                    message: message.clone(),
                });
                self.finish(
                    &mut step,
                    state,
                    now,
                    format!("The run failed: {message}"),
                    Vec::new(),
                    StoppedBy::Error,
                );
                step
            }
        }
    }

    /// Hearing from a leased participant renews its lease.
    fn touch(&mut self, agent: &str, now: Duration) {
        let Some(heard) = self.leased.get_mut(agent) else {
            return;
        };
        *heard = now;
        if let Some(open) = self.claims.get_mut(agent) {
            open.lease_until = Some(now + self.cfg.lease);
        }
    }

    /// Whether `agent` still takes part: a native agent within the desired count, a
    /// leased participant heard from within its lease.
    fn is_alive(&self, state: &RunState, agent: &str, now: Duration) -> bool {
        match native_index(agent) {
            Some(i) => i <= state.desired_agents,
            None if agent == STANDBY_FINALISER => true,
            None => self
                .leased
                .get(agent)
                .is_some_and(|&heard| now.saturating_sub(heard) < self.cfg.lease),
        }
    }

    /// Why a request about `claim` is refused: it is not `agent`'s open claim.
    fn stale(&self, agent: &str, claim: &Claim) -> String {
        match self.revoked.get(agent) {
            Some(r) if r.claim == *claim => {
                format!(
                    "your claim {claim} was revoked ({}); nothing was recorded",
                    r.why
                )
            }
            _ => format!("you do not hold the claim {claim}; claim a task first"),
        }
    }

    fn claim(&mut self, state: &RunState, now: Duration, agent: &str) -> Step {
        let wait = |reason| Step::reply(Reply::Claim(ClaimReply::Wait { reason }));
        if native_index(agent).is_some_and(|i| i > state.desired_agents) {
            return Step::reply(Reply::Claim(ClaimReply::Stop));
        }
        if state.paused {
            return wait(WaitReason::Paused);
        }
        if self.claim_of(agent).is_some() {
            return wait(WaitReason::ClaimOpen);
        }
        if self.finaliser.is_some() {
            return wait(WaitReason::NoWork);
        }
        let orchestrated = self.cfg.coordination.orchestrated();
        let is_orchestrator = agent == ORCHESTRATOR;
        if orchestrated && is_orchestrator {
            let work_left = !self.queued.is_empty() && !self.budget_hit;
            return if work_left || !self.claims.is_empty() {
                wait(WaitReason::NoWork)
            } else {
                self.orchestrator_turn(agent)
            };
        }
        // The standby finaliser takes no task: it waits until the queue is done.
        if agent == STANDBY_FINALISER && !self.budget_hit && !self.queued.is_empty() {
            return wait(WaitReason::NoWork);
        }
        if !self.budget_hit
            && let Some((_, task)) = self.queued.pop_first()
        {
            let Some(view) = state.task(&task) else {
                return wait(WaitReason::NoWork);
            };
            let attempt = view.attempts + 1;
            let claim = Claim::Task {
                task: task.clone(),
                attempt,
            };
            let lease_until = self
                .leased
                .contains_key(agent)
                .then(|| now + self.cfg.lease);
            self.claims.insert(
                agent.to_string(),
                Open {
                    claim: claim.clone(),
                    lease_until,
                    added: 0,
                },
            );
            let mut step = Step::reply(Reply::Claim(ClaimReply::Task {
                claim,
                task: brief_of(view, attempt),
            }));
            step.events.push(Event::TaskClaimed {
                task,
                agent: agent.to_string(),
                attempt,
            });
            return step;
        }
        if orchestrated || !self.claims.is_empty() {
            // `central` workers wait for the orchestrator's next wave.
            return wait(WaitReason::NoWork);
        }
        // Queue empty (or budget spent) and nothing in progress: the participant that
        // finished last gets the single finalise turn, if it is still here to take it.
        if !can_finalise(agent) {
            return wait(WaitReason::NoWork);
        }
        let last_alive = self
            .last_finisher
            .as_deref()
            .is_some_and(|a| can_finalise(a) && self.is_alive(state, a, now));
        if last_alive && self.last_finisher.as_deref() != Some(agent) {
            return wait(WaitReason::NoWork);
        }
        self.finalise_rounds += 1;
        let may_add_tasks = !self.budget_hit
            && self.finalise_rounds < MAX_FINALISE_ROUNDS
            && self.cfg.coordination.finaliser_may_add_tasks();
        let claim = Claim::Finalise {
            round: self.finalise_rounds,
        };
        self.finaliser = Some((agent.to_string(), claim.clone()));
        let mut step = Step::reply(Reply::Claim(ClaimReply::Finalise {
            claim,
            may_add_tasks,
            note: self.budget_note(),
            fresh: true,
            wave: Vec::new(),
        }));
        step.events.push(Event::FinaliseStarted {
            agent: agent.to_string(),
        });
        step
    }

    fn budget_note(&self) -> Option<String> {
        self.budget_hit.then(|| {
            "The run's budget is spent: answer now with what is verified, and say in the \
answer that the run stopped early and what is still open."
                .to_string()
        })
    }

    /// `central`: the orchestrator's turn: plan the first wave, or aggregate the last one.
    fn orchestrator_turn(&mut self, agent: &str) -> Step {
        self.finalise_rounds += 1;
        let wave = self.finalise_rounds;
        let claim = Claim::Finalise { round: wave };
        self.finaliser = Some((agent.to_string(), claim.clone()));
        let mut step = Step::reply(Reply::Claim(ClaimReply::Finalise {
            claim,
            may_add_tasks: !self.budget_hit && wave <= MAX_WAVES,
            note: self.budget_note(),
            fresh: wave == 1,
            wave: std::mem::take(&mut self.unreported),
        }));
        step.events.push(Event::FinaliseStarted {
            agent: agent.to_string(),
        });
        step
    }

    fn propose(&mut self, agent: &str, claim: &Claim, drafts: Vec<PointDraft>) -> Step {
        let Some(task) = claim.task() else {
            return Step::reply(Reply::refused(
                "points are recorded while working on a task, not in the finalise turn",
            ));
        };
        if drafts.is_empty() {
            return Step::reply(Reply::Verdicts {
                verdicts: Vec::new(),
            });
        }
        let mut step = Step::default();
        let mut points = Vec::with_capacity(drafts.len());
        let mut notes = Vec::with_capacity(drafts.len());
        for draft in drafts {
            let point = Point {
                id: format!("P{}", self.next_point),
                kind: draft.kind,
                headline: cap(&draft.headline, limits::HEADLINE_CHARS),
                summary: cap(&draft.summary, limits::SUMMARY_CHARS),
                evidence: draft
                    .evidence
                    .into_iter()
                    .take(limits::EVIDENCE_ITEMS)
                    .map(|mut e| {
                        limits::cap_in_place(&mut e.quote, limits::QUOTE_CHARS);
                        limits::cap_in_place(&mut e.source, limits::SOURCE_CHARS);
                        e
                    })
                    .collect(),
                author: agent.to_string(),
                task: Some(task.to_string()),
                supersedes: draft.supersedes.map(|s| cap(&s, limits::NAME_CHARS)),
            };
            self.next_point += 1;
            step.events.push(Event::PointProposed {
                point: point.clone(),
            });
            points.push(point);
            notes.push(draft.notes);
        }
        step.effects.push(Effect::Verify(VerifyJob {
            author: agent.to_string(),
            task: Some(task.to_string()),
            points,
            notes,
            reply: true,
        }));
        step
    }

    /// The verifier's results for one job. Only a point still waiting for its verdict
    /// gets one (a verdict is applied once, whatever arrives late).
    pub fn verdicts(&mut self, state: &RunState, results: Vec<(PointId, Outcome)>) -> Step {
        let mut step = Step::default();
        let mut verdicts = Vec::with_capacity(results.len());
        for (point, outcome) in results {
            let pending = state.point(&point).map(|p| p.status) == Some(PointStatus::Proposed);
            let verdict = match &outcome {
                Ok((_, note)) => Verdict {
                    point: point.clone(),
                    verified: true,
                    note: note.clone(),
                },
                Err(reason) => Verdict {
                    point: point.clone(),
                    verified: false,
                    note: Some(reason.clone()),
                },
            };
            verdicts.push(verdict);
            if !pending || self.is_over() {
                continue;
            }
            step.events.push(match outcome {
                Ok((evidence, note)) => Event::PointVerified {
                    point,
                    note,
                    evidence: Some(evidence),
                },
                Err(reason) => Event::PointRejected {
                    point,
                    reason: cap(&reason, limits::ERROR_CHARS),
                },
            });
        }
        step.reply = Some(Reply::Verdicts { verdicts });
        step
    }

    fn agent_adds_task(
        &mut self,
        state: &RunState,
        agent: &str,
        title: String,
        detail: String,
    ) -> Step {
        let title = title.trim();
        if title.is_empty() {
            return Step::reply(Reply::refused("`title` is required"));
        }
        // The same task still queued or in progress is not queued twice: a planning task
        // re-run after a re-enqueue (its streamed `add_task` calls had already run), a
        // client retrying a call it lost the answer of, two agents finding one follow-up.
        let text = capped(title, &detail);
        if let Some(task) = self.open_twin(state, &text) {
            return Step::reply(Reply::TaskAdded {
                task,
                existing: true,
            });
        }
        if self.task_count() >= self.cfg.max_tasks {
            return Step::reply(Reply::refused(format!(
                "the run's task cap ({}) is reached: no more tasks can be added; finish with \
what you have",
                self.cfg.max_tasks
            )));
        }
        let is_finaliser = self.finaliser.as_ref().is_some_and(|(a, _)| a == agent);
        if let Some(open) = self.claims.get_mut(agent) {
            if open.added >= self.cfg.max_tasks_per_claim {
                return Step::reply(Reply::refused(format!(
                    "one task may add at most {} tasks; finish this one and let the queue drain",
                    self.cfg.max_tasks_per_claim
                )));
            }
            open.added += 1;
        }
        let mut step = Step::default();
        let id = self.add_task(
            &mut step,
            text,
            Origin::Agent {
                agent: agent.to_string(),
            },
        );
        // New work from anyone but the finaliser stops the finaliser: the swarm takes it.
        if !is_finaliser {
            self.interrupt_finaliser(&mut step);
        }
        step.reply = Some(Reply::TaskAdded {
            task: id,
            existing: false,
        });
        step
    }

    /// A queued or claimed task with this (capped) title and detail.
    fn open_twin(&self, state: &RunState, (title, detail): &(String, String)) -> Option<TaskId> {
        self.by_content
            .get(&content_hash(title, detail))?
            .iter()
            .filter_map(|id| state.task(id))
            .find(|t| {
                matches!(t.state, TaskState::Queued | TaskState::Claimed { .. })
                    && t.title == *title
                    && t.detail == *detail
            })
            .map(|t| t.id.clone())
    }

    fn task_count(&self) -> usize {
        (self.next_task - 1) as usize
    }

    /// Queue a task whose title and detail are [`capped`].
    fn add_task(
        &mut self,
        step: &mut Step,
        (title, detail): (String, String),
        origin: Origin,
    ) -> TaskId {
        let n = self.next_task;
        self.next_task += 1;
        let id = format!("T{n}");
        self.queued.insert(n, id.clone());
        self.by_content
            .entry(content_hash(&title, &detail))
            .or_default()
            .push(id.clone());
        step.events.push(Event::TaskAdded {
            task: id.clone(),
            title,
            detail,
            origin,
        });
        step.effects.push(Effect::WakeOne);
        id
    }

    fn finish_task(
        &mut self,
        agent: &str,
        claim: &Claim,
        outcome: TaskOutcome,
        result: String,
    ) -> Step {
        let Some(task) = claim.task() else {
            return Step::reply(Reply::refused(
                "the finalise turn ends with final_answer, not finish_task",
            ));
        };
        self.claims.remove(agent);
        self.unreported.push(task.to_string());
        self.last_finisher = Some(agent.to_string());
        let mut step = Step::reply(Reply::Ok);
        step.events.push(Event::TaskFinished {
            task: task.to_string(),
            agent: agent.to_string(),
            outcome,
            result: cap(&result, limits::RESULT_CHARS),
        });
        // A waiting participant's claim can only turn out differently once no claim is
        // left (finalise, or the `central` orchestrator's next wave); new work wakes
        // participants one by one.
        if self.claims.is_empty() {
            step.effects.push(Effect::WakeAll);
        }
        step
    }

    fn abandon(&mut self, agent: &str, claim: &Claim) -> Step {
        let mut step = Step::reply(Reply::Ok);
        let holds = self.claim_of(agent) == Some(claim);
        match claim {
            _ if !holds => {}
            Claim::Task { task, .. } => {
                self.claims.remove(agent);
                self.queued.insert(id_number(task), task.clone());
                step.events.push(Event::TaskRequeued {
                    task: task.clone(),
                    by: agent.to_string(),
                    note: None,
                });
                step.effects.push(Effect::WakeOne);
            }
            Claim::Finalise { .. } => self.finaliser = None,
        }
        idle_again(&mut step, agent);
        step
    }

    fn final_answer(
        &mut self,
        state: &RunState,
        now: Duration,
        agent: &str,
        answer: String,
        cited: Vec<PointId>,
    ) -> Step {
        let unknown: Vec<&str> = cited
            .iter()
            .map(|id| id.as_str())
            .filter(|id| {
                state
                    .point(id)
                    .is_none_or(|p| p.status != PointStatus::Verified)
            })
            .collect();
        if !unknown.is_empty() {
            return Step::reply(Reply::refused(format!(
                "these ids are not verified points: {}; cite only verified point ids",
                crate::text::clip(&unknown.join(", "), 300)
            )));
        }
        let stopped_by = if self.budget_hit {
            StoppedBy::Budget
        } else {
            StoppedBy::Completed
        };
        tracing::info!(%agent, "final answer written");
        let mut step = Step::reply(Reply::Ok);
        let cited_views: Vec<_> = cited
            .iter()
            .filter_map(|id| state.point(id))
            .cloned()
            .collect();
        step.events.push(Event::AnswerChecked {
            unsupported_numbers: super::verify::unsupported_answer_numbers(&answer, &cited_views),
        });
        self.finish(&mut step, state, now, answer, cited, stopped_by);
        step
    }

    fn report(&mut self, agent: &str, report: Report) -> Step {
        let task = self
            .claim_of(agent)
            .and_then(|c| c.task())
            .map(str::to_string);
        let mut step = Step::reply(Reply::Ok);
        step.events.push(report_event(agent, task, report));
        step
    }

    /// Checks that need the totals after a step was applied: the cost and token budgets.
    pub fn after_apply(&mut self, state: &RunState) -> Step {
        let mut step = Step::default();
        if self.budget_hit || self.finaliser.is_some() || self.is_over() {
            return step;
        }
        let b = &self.cfg.budgets;
        let t = &state.totals;
        if let Some(max) = b.max_cost_usd
            && t.cost_usd >= max
        {
            let why = format!("cost budget reached (${:.4} of ${max})", t.cost_usd);
            self.on_budget(&mut step, &why);
        } else if let Some(max) = b.max_tokens
            && t.tokens_in + t.tokens_out >= max
        {
            let why = format!(
                "token budget reached ({} of {max})",
                t.tokens_in + t.tokens_out
            );
            self.on_budget(&mut step, &why);
        }
        step
    }

    /// The run's time limit passed.
    pub fn time_up(&mut self) -> Step {
        let mut step = Step::default();
        if !self.is_over() {
            self.on_budget(&mut step, "time limit reached");
        }
        step
    }

    /// A budget ran out: stop claiming, hand in-flight tasks back, and finalise with what
    /// is verified.
    fn on_budget(&mut self, step: &mut Step, why: &str) {
        if self.budget_hit || self.is_over() {
            return;
        }
        self.budget_hit = true;
        step.events.push(Event::BudgetReached {
            why: format!("{why}: finalising with what is verified"),
        });
        let mut claims: Vec<(AgentId, Open)> = self.claims.drain().collect();
        claims.sort_by(|a, b| a.0.cmp(&b.0));
        for (agent, open) in claims {
            self.requeue_claim(step, &agent, open.claim, "budget", Some(why.to_string()));
        }
        step.effects.push(Effect::WakeAll);
    }

    /// Hand a revoked claim's task back to the queue.
    fn requeue_claim(
        &mut self,
        step: &mut Step,
        agent: &str,
        claim: Claim,
        by: &str,
        note: Option<String>,
    ) {
        if let Claim::Task { task, .. } = &claim {
            self.queued.insert(id_number(task), task.clone());
            step.events.push(Event::TaskRequeued {
                task: task.clone(),
                by: by.to_string(),
                note: note.clone(),
            });
            step.effects.push(Effect::WakeOne);
        }
        self.revoke(
            step,
            agent,
            claim,
            note.unwrap_or_else(|| format!("by {by}")),
        );
    }

    fn revoke(&mut self, step: &mut Step, agent: &str, claim: Claim, why: String) {
        self.revoked.insert(
            agent.to_string(),
            Revoked {
                claim: claim.clone(),
                why,
            },
        );
        step.effects.push(Effect::Revoke {
            agent: agent.to_string(),
            claim,
        });
    }

    /// New work arrived while the finaliser is writing: stop it, so the swarm takes the
    /// work and finalises again later.
    fn interrupt_finaliser(&mut self, step: &mut Step) {
        if let Some((agent, claim)) = self.finaliser.take() {
            self.revoke(step, &agent, claim, "new work arrived".into());
            step.effects.push(Effect::WakeAll);
        }
    }

    /// Leased claims whose holder was silent past the lease expire.
    pub fn expire_leases(&mut self, now: Duration) -> Step {
        let mut step = Step::default();
        let mut expired: Vec<AgentId> = self
            .claims
            .iter()
            .filter(|(_, o)| o.lease_until.is_some_and(|t| t <= now))
            .map(|(a, _)| a.clone())
            .collect();
        expired.sort();
        for agent in expired {
            let Some(open) = self.claims.remove(&agent) else {
                continue;
            };
            if let Claim::Task { task, attempt } = &open.claim {
                step.events.push(Event::ClaimExpired {
                    task: task.clone(),
                    agent: agent.clone(),
                    attempt: *attempt,
                });
            }
            let why = format!(
                "{agent} was silent for {} s while holding it",
                self.cfg.lease.as_secs()
            );
            self.requeue_claim(&mut step, &agent, open.claim, "lease", Some(why));
        }
        step
    }

    /// A participant is gone (its task ended, it crashed, or it disconnected): its claim
    /// goes back to the queue.
    pub fn participant_gone(
        &mut self,
        state: &RunState,
        agent: &str,
        crashed: Option<String>,
    ) -> Step {
        let mut step = Step::default();
        if self.is_over() {
            return step;
        }
        if let Some(why) = &crashed {
            step.events.push(Event::Error {
                agent: Some(agent.to_string()),
                task: self
                    .claim_of(agent)
                    .and_then(|c| c.task())
                    .map(str::to_string),
                message: cap(
                    &format!("{agent} crashed ({why}); its work goes back to the queue"),
                    limits::ERROR_CHARS,
                ),
            });
        }
        if let Some(open) = self.claims.remove(agent) {
            self.requeue_claim(&mut step, agent, open.claim, agent, crashed.clone());
        }
        if self.finaliser.as_ref().is_some_and(|(a, _)| a == agent) {
            self.finaliser = None;
        }
        if state
            .agents
            .get(agent)
            .is_some_and(|a| a.status != AgentStatus::Stopped)
        {
            step.events.push(Event::AgentStatus {
                agent: agent.to_string(),
                status: AgentStatus::Stopped,
                task: None,
            });
        }
        // The count may have gone back up while this agent was winding down, or a crashed
        // agent needs a successor.
        step.effects.push(Effect::Reconcile);
        step.effects.push(Effect::WakeAll);
        step
    }

    /// Human steering.
    pub fn control(&mut self, state: &RunState, now: Duration, control: Control) -> Step {
        let mut step = Step::default();
        if self.is_over() {
            return step;
        }
        match control {
            Control::Detach => {
                self.detached = true;
                step.effects.push(Effect::Over);
            }
            Control::Pause => {
                if !state.paused {
                    step.events.push(Event::Paused {});
                }
            }
            Control::Resume => {
                if state.paused {
                    step.events.push(Event::Resumed {});
                    step.effects.push(Effect::WakeAll);
                }
            }
            Control::InjectConstraint { text } => {
                let text = text.trim();
                if text.is_empty() {
                    return step;
                }
                let id = format!("C{}", self.next_constraint);
                self.next_constraint += 1;
                let headline = crate::text::clip(text.lines().next().unwrap_or(""), 200);
                step.events.push(Event::ConstraintAdded {
                    point: Point {
                        id,
                        kind: PointKind::Constraint,
                        headline,
                        summary: cap(text, limits::SUMMARY_CHARS),
                        evidence: Vec::new(),
                        author: HUMAN.into(),
                        task: None,
                        supersedes: None,
                    },
                });
            }
            Control::Requeue { task, note } => {
                let Some(view) = state.task(&task) else {
                    return step;
                };
                if view.state == TaskState::Queued {
                    return step;
                }
                let note = note.map(|n| cap(&n, limits::DETAIL_CHARS));
                if let TaskState::Claimed { agent } = &view.state
                    && let Some(open) = self.claims.remove(agent)
                {
                    let why = match &note {
                        Some(n) => format!("re-enqueued by the human: {n}"),
                        None => "re-enqueued by the human".into(),
                    };
                    self.revoke(&mut step, agent, open.claim, why);
                }
                self.queued.insert(id_number(&task), task.clone());
                step.events.push(Event::TaskRequeued {
                    task,
                    by: HUMAN.into(),
                    note,
                });
                step.effects.push(Effect::WakeOne);
                self.interrupt_finaliser(&mut step);
                step.effects.push(Effect::WakeAll);
            }
            Control::Cancel { task, note } => {
                let Some(view) = state.task(&task) else {
                    return step;
                };
                if !matches!(view.state, TaskState::Queued | TaskState::Claimed { .. }) {
                    return step;
                }
                if let TaskState::Claimed { agent } = &view.state
                    && let Some(open) = self.claims.remove(agent)
                {
                    self.revoke(
                        &mut step,
                        agent,
                        open.claim,
                        "cancelled by the human".into(),
                    );
                }
                self.queued.remove(&id_number(&task));
                step.events.push(Event::TaskCancelled {
                    task,
                    by: HUMAN.into(),
                    note: note.map(|n| cap(&n, limits::DETAIL_CHARS)),
                });
                step.effects.push(Effect::WakeAll);
            }
            Control::AddTask { title, detail } => {
                if !title.trim().is_empty() {
                    self.add_task(&mut step, capped(title.trim(), &detail), Origin::Human);
                    self.interrupt_finaliser(&mut step);
                }
            }
            Control::SetAgents { count } => {
                // With remote workers' agents in the run, the board may run none itself.
                let floor = usize::from(!self.leased.keys().any(|a| worker_agent(a).is_some()));
                let count = count.clamp(floor, MAX_AGENTS);
                if count != state.desired_agents {
                    step.events.push(Event::AgentsChanged { count });
                    step.effects.push(Effect::Reconcile);
                    step.effects.push(Effect::WakeAll);
                }
            }
            Control::Stop => {
                if let Some((agent, claim)) = self.finaliser.take() {
                    self.revoke(&mut step, &agent, claim, "the human stopped the run".into());
                }
                self.finish(
                    &mut step,
                    state,
                    now,
                    "The run was stopped by the human before a final answer was written."
                        .to_string(),
                    Vec::new(),
                    StoppedBy::Cancelled,
                );
            }
        }
        step
    }

    fn finish(
        &mut self,
        step: &mut Step,
        state: &RunState,
        now: Duration,
        answer: String,
        cited: Vec<PointId>,
        stopped_by: StoppedBy,
    ) {
        // Points still waiting for a verdict will not get one: say so, rather than leave
        // them "verifying" for ever in the log.
        let why = match stopped_by {
            StoppedBy::Budget => "the run's budget ran out",
            StoppedBy::Cancelled => "the human stopped the run",
            StoppedBy::Error => "the run failed",
            StoppedBy::Completed => "the run finished",
        };
        for p in state
            .points
            .iter()
            .filter(|p| p.status == PointStatus::Proposed)
        {
            step.events.push(Event::PointRejected {
                point: p.point.id.clone(),
                reason: format!("abandoned: {why} before its verification ended"),
            });
        }
        let mut totals = state.totals.clone();
        totals.elapsed_ms = self.elapsed(now).as_millis() as u64;
        step.events.push(Event::RunFinished {
            answer: cap(&answer, limits::ANSWER_CHARS),
            cited,
            stopped_by,
            totals,
        });
        self.done = true;
        self.finaliser = None;
        step.effects.push(Effect::Over);
    }
}

/// `agent` holds nothing any more: it is idle, and whoever waits may now get an answer.
fn idle_again(step: &mut Step, agent: &str) {
    step.events.push(Event::AgentStatus {
        agent: agent.to_string(),
        status: AgentStatus::Idle,
        task: None,
    });
    step.effects.push(Effect::WakeAll);
}

/// The event a participant's report stands for, stamped with its author and task and with
/// every text capped.
pub fn report_event(agent: &str, task: Option<TaskId>, report: Report) -> Event {
    let agent = agent.to_string();
    match report {
        Report::Status { status } => Event::AgentStatus {
            agent,
            status,
            task,
        },
        Report::Message { text } => Event::AgentMessage {
            agent,
            task,
            text: cap(&text, limits::MESSAGE_CHARS),
        },
        Report::LlmCall {
            purpose,
            model,
            tokens_in,
            tokens_out,
            tokens_cached_read,
            tokens_cache_write,
            cost_usd,
            latency_ms,
        } => Event::LlmCall {
            agent,
            task,
            purpose,
            model: cap(&model, limits::NAME_CHARS),
            tokens_in,
            tokens_out,
            tokens_cached_read: tokens_cached_read.min(tokens_in),
            tokens_cache_write: tokens_cache_write.min(tokens_in),
            cost_usd: cost_usd.filter(|c| c.is_finite() && *c >= 0.0),
            latency_ms,
        },
        Report::Retry {
            attempt,
            delay_ms,
            reason,
        } => Event::LlmRetry {
            agent,
            attempt,
            delay_ms,
            reason: cap(&reason, limits::ERROR_CHARS),
        },
        Report::ToolCall {
            call_id,
            tool,
            args,
            ok,
            output,
        } => Event::ToolCall {
            agent,
            task,
            call_id: cap(&call_id, limits::NAME_CHARS),
            tool: cap(&tool, limits::NAME_CHARS),
            args: cap_json(args),
            ok,
            output: cap(&output, limits::TOOL_OUTPUT_CHARS),
        },
    }
}

/// Tool-call arguments as the log keeps them: the value itself when it is small, its
/// serialized start otherwise.
fn cap_json(args: serde_json::Value) -> serde_json::Value {
    match &args {
        serde_json::Value::String(s) if s.len() > limits::TOOL_ARGS_CHARS => {
            serde_json::Value::String(cap(s, limits::TOOL_ARGS_CHARS))
        }
        serde_json::Value::String(_) => args,
        _ => {
            let text = args.to_string();
            if text.len() <= limits::TOOL_ARGS_CHARS {
                args
            } else {
                serde_json::Value::String(cap(&text, limits::TOOL_ARGS_CHARS))
            }
        }
    }
}

#[cfg(test)]
#[path = "scheduler_tests.rs"]
mod tests;
