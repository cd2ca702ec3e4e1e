//! The event log is the single source of truth.
//!
//! Every change in a run is an [`Event`], wrapped in an [`Envelope`] with a sequence number
//! and a timestamp, appended to the session log and broadcast to subscribers. The state of a
//! run is `fold(events)` through [`RunState::apply`]; the engine, the TUI, replay and resume
//! all use this one reducer, so a replayed run looks exactly as it looked live.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub type TaskId = String;
pub type PointId = String;
pub type AgentId = String;

/// Author id used for everything a human does through the controls.
pub const HUMAN: &str = "human";

/// One line of the session log: `{"seq": n, "ts": "RFC 3339", "type": "...", ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub seq: u64,
    pub ts: String,
    #[serde(flatten)]
    pub event: Event,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum VerifyMode {
    #[default]
    Judge,
    Evidence,
    Off,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mode {
    /// A question with no workspace.
    #[default]
    Plain,
    Repo {
        root: String,
    },
    Docs {
        roots: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Budgets {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cost_usd: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_limit_secs: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PointKind {
    Finding,
    Partial,
    Failure,
    Constraint,
}

impl PointKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PointKind::Finding => "finding",
            PointKind::Partial => "partial",
            PointKind::Failure => "failure",
            PointKind::Constraint => "constraint",
        }
    }
}

/// One piece of evidence behind a point. `source` is a path relative to the repo or docs
/// root, `cmd:<id>` for a recorded command run, or `P<n>` for an already verified point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Evidence {
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<String>,
    #[serde(default)]
    pub quote: String,
    /// Where verification found the quote (for example `src/lex.rs:141-150` or
    /// `q3.txt@1200+80`); filled in when the evidence resolves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved: Option<String>,
}

/// A unit of shared progress. Points are never edited: a correction is a new point that
/// `supersedes` the old one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub id: PointId,
    pub kind: PointKind,
    pub headline: String,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub evidence: Vec<Evidence>,
    pub author: AgentId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<PointId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    Initial,
    Agent { agent: AgentId },
    Human,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskOutcome {
    Done,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallPurpose {
    Work,
    Judge,
    Finalise,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    #[default]
    Idle,
    Working,
    Verifying,
    Finalising,
    /// Waiting to retry a failed model call (see the `llm_retry` event for the delay).
    Retrying,
    Paused,
    Stopped,
}

impl AgentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Idle => "idle",
            AgentStatus::Working => "working",
            AgentStatus::Verifying => "verifying",
            AgentStatus::Finalising => "finalising",
            AgentStatus::Retrying => "retrying",
            AgentStatus::Paused => "paused",
            AgentStatus::Stopped => "stopped",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoppedBy {
    /// The finalise turn wrote the answer.
    Completed,
    /// A budget (cost, tokens, time) ended the run early; the answer uses what was verified.
    Budget,
    /// The human stopped the run.
    Cancelled,
    /// The run failed (provider unreachable, bad key, ...).
    Error,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub calls: u64,
    pub tokens_in: u64,
    pub tokens_out: u64,
    /// Sum of the calls whose price is known.
    pub cost_usd: f64,
    /// Number of calls whose cost was unknown (model missing from the pricing table).
    #[serde(default)]
    pub unpriced_calls: u64,
    #[serde(default)]
    pub elapsed_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        run_id: String,
        goal: String,
        mode: Mode,
        model: String,
        agents: usize,
        verify: VerifyMode,
        #[serde(default)]
        budgets: Budgets,
        #[serde(default = "default_coordination")]
        coordination: String,
    },
    /// A previously interrupted run continues (appended by `delm resume`).
    RunResumed {
        #[serde(default)]
        model: String,
        #[serde(default)]
        agents: usize,
    },
    TaskAdded {
        task: TaskId,
        title: String,
        #[serde(default)]
        detail: String,
        origin: Origin,
    },
    TaskClaimed {
        task: TaskId,
        agent: AgentId,
        attempt: u32,
    },
    TaskFinished {
        task: TaskId,
        agent: AgentId,
        outcome: TaskOutcome,
        result: String,
    },
    /// A task returns to the queue (human re-enqueue, resume, or its agent went away).
    TaskRequeued {
        task: TaskId,
        by: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    TaskCancelled {
        task: TaskId,
        by: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    PointProposed {
        point: Point,
    },
    PointVerified {
        point: PointId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
        /// Evidence with `resolved` locations filled in by verification.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        evidence: Option<Vec<Evidence>>,
    },
    PointRejected {
        point: PointId,
        reason: String,
    },
    /// A human constraint: verified by definition, pinned in every prompt.
    ConstraintAdded {
        point: Point,
    },
    AgentStatus {
        agent: AgentId,
        status: AgentStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        task: Option<TaskId>,
    },
    /// A finished assistant message (text the model wrote in one turn).
    AgentMessage {
        agent: AgentId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        task: Option<TaskId>,
        text: String,
    },
    LlmCall {
        agent: AgentId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        task: Option<TaskId>,
        purpose: CallPurpose,
        model: String,
        tokens_in: u64,
        tokens_out: u64,
        /// `None` when the model's price is unknown.
        cost_usd: Option<f64>,
        latency_ms: u64,
    },
    LlmRetry {
        agent: AgentId,
        attempt: u32,
        delay_ms: u64,
        reason: String,
    },
    ToolCall {
        agent: AgentId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        task: Option<TaskId>,
        call_id: String,
        tool: String,
        args: serde_json::Value,
        ok: bool,
        /// The start of the tool output as the model saw it.
        output: String,
    },
    Paused {},
    Resumed {},
    AgentsChanged {
        count: usize,
    },
    FinaliseStarted {
        agent: AgentId,
    },
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent: Option<AgentId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        task: Option<TaskId>,
        message: String,
    },
    RunFinished {
        answer: String,
        #[serde(default)]
        cited: Vec<PointId>,
        stopped_by: StoppedBy,
        totals: Totals,
    },
}

fn default_coordination() -> String {
    "delm".to_string()
}

impl Event {
    /// The snake_case `type` tag of this event as written in the log.
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::RunStarted { .. } => "run_started",
            Event::RunResumed { .. } => "run_resumed",
            Event::TaskAdded { .. } => "task_added",
            Event::TaskClaimed { .. } => "task_claimed",
            Event::TaskFinished { .. } => "task_finished",
            Event::TaskRequeued { .. } => "task_requeued",
            Event::TaskCancelled { .. } => "task_cancelled",
            Event::PointProposed { .. } => "point_proposed",
            Event::PointVerified { .. } => "point_verified",
            Event::PointRejected { .. } => "point_rejected",
            Event::ConstraintAdded { .. } => "constraint_added",
            Event::AgentStatus { .. } => "agent_status",
            Event::AgentMessage { .. } => "agent_message",
            Event::LlmCall { .. } => "llm_call",
            Event::LlmRetry { .. } => "llm_retry",
            Event::ToolCall { .. } => "tool_call",
            Event::Paused {} => "paused",
            Event::Resumed {} => "resumed",
            Event::AgentsChanged { .. } => "agents_changed",
            Event::FinaliseStarted { .. } => "finalise_started",
            Event::Error { .. } => "error",
            Event::RunFinished { .. } => "run_finished",
        }
    }
}

// ---------------------------------------------------------------------------------------
// The reducer
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskState {
    Queued,
    Claimed { agent: AgentId },
    Done,
    Failed,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TaskView {
    pub id: TaskId,
    pub title: String,
    pub detail: String,
    pub origin: Origin,
    pub state: TaskState,
    /// How many times the task was claimed.
    pub attempts: u32,
    pub result: Option<String>,
    /// Points proposed while working on this task, in order.
    pub points: Vec<PointId>,
    /// The latest human note (re-enqueue or cancel).
    pub note: Option<String>,
    /// Seq of the event that added the task.
    pub added_seq: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointStatus {
    Proposed,
    Verified,
    Rejected,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PointView {
    pub point: Point,
    pub status: PointStatus,
    /// The verifier's note, or the rejection reason.
    pub note: Option<String>,
    /// Seq of the event that proposed the point (recency ranking).
    pub seq: u64,
    /// Set when a later verified point supersedes this one.
    pub superseded_by: Option<PointId>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentView {
    pub id: AgentId,
    pub status: AgentStatus,
    pub task: Option<TaskId>,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_usd: f64,
    pub calls: u64,
    /// Calls whose price was unknown (their cost is not in `cost_usd`).
    pub unpriced_calls: u64,
    /// Set while waiting on a retry: (attempt, delay_ms, ts of the retry event, reason).
    pub retry: Option<RetryView>,
    /// The last finished message of this agent.
    pub last_message: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RetryView {
    pub attempt: u32,
    pub delay_ms: u64,
    pub since_ts: String,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    #[default]
    NotStarted,
    Running,
    Finalising,
    Done,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FinalAnswer {
    pub answer: String,
    pub cited: Vec<PointId>,
    pub stopped_by: StoppedBy,
}

/// The state of a run: `fold(events)`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunState {
    pub run_id: String,
    pub goal: String,
    pub mode: Mode,
    pub model: String,
    pub verify: VerifyMode,
    pub budgets: Budgets,
    pub coordination: String,
    pub started_ts: Option<String>,
    pub last_ts: Option<String>,
    pub last_seq: u64,
    pub events_applied: u64,
    pub tasks: Vec<TaskView>,
    task_index: HashMap<TaskId, usize>,
    pub points: Vec<PointView>,
    point_index: HashMap<PointId, usize>,
    /// Search terms of every point, kept as points arrive (prompt ranking reads them).
    point_terms: PointTerms,
    /// Each point's shared-context line, formatted once as it arrives.
    context_lines: Vec<ContextLine>,
    /// The live points by kind, kept as points are verified, rejected and superseded.
    live: LiveIndex,
    pub agents: BTreeMap<AgentId, AgentView>,
    /// The agent count the run should have (changed with `set_agents`).
    pub desired_agents: usize,
    /// The human asked for a pause; the run is PAUSED once no agent is mid-step.
    pub paused: bool,
    pub phase: Phase,
    pub finaliser: Option<AgentId>,
    pub totals: Totals,
    pub answer: Option<FinalAnswer>,
    pub errors: Vec<String>,
    pub retries: u64,
    pub tool_calls: u64,
}

impl RunState {
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a Envelope>) -> Self {
        let mut state = RunState::default();
        for env in events {
            state.apply(env);
        }
        state
    }

    pub fn task(&self, id: &str) -> Option<&TaskView> {
        self.task_index.get(id).map(|&i| &self.tasks[i])
    }

    /// Where the task sits in `tasks` (the order they were added).
    pub fn task_position(&self, id: &str) -> Option<usize> {
        self.task_index.get(id).copied()
    }

    /// Where the point sits in `points` (the order they were proposed).
    pub fn point_position(&self, id: &str) -> Option<usize> {
        self.point_index.get(id).copied()
    }

    pub fn point(&self, id: &str) -> Option<&PointView> {
        self.point_index.get(id).map(|&i| &self.points[i])
    }

    fn task_mut(&mut self, id: &str) -> Option<&mut TaskView> {
        self.task_index.get(id).map(|&i| &mut self.tasks[i])
    }

    fn point_mut(&mut self, id: &str) -> Option<&mut PointView> {
        self.point_index.get(id).map(|&i| &mut self.points[i])
    }

    fn agent_mut(&mut self, id: &str) -> &mut AgentView {
        // Most events are about a known agent: look it up before paying for an owned key.
        if !self.agents.contains_key(id) {
            self.agents.insert(
                id.to_string(),
                AgentView {
                    id: id.to_string(),
                    ..AgentView::default()
                },
            );
        }
        self.agents
            .get_mut(id)
            .expect("the agent was inserted just above")
    }

    /// Bring the live index up to date with the point at `index`.
    fn refresh_live(&mut self, index: usize) {
        if let Some(view) = self.points.get(index) {
            let tokens = self.context_lines.get(index).map_or(0, |l| l.tokens);
            self.live.update(index, view, tokens);
        }
    }

    pub fn count_tasks(&self, pred: impl Fn(&TaskState) -> bool) -> usize {
        self.tasks.iter().filter(|t| pred(&t.state)).count()
    }

    pub fn count_points(&self, kind: Option<PointKind>, status: PointStatus) -> usize {
        self.points
            .iter()
            .filter(|p| p.status == status && kind.is_none_or(|k| p.point.kind == k))
            .count()
    }

    /// The search-term index of the points (relevance ranking in prompts).
    pub fn point_terms(&self) -> &PointTerms {
        &self.point_terms
    }

    /// The live points by kind (indices into `points`).
    pub fn live_index(&self) -> &LiveIndex {
        &self.live
    }

    /// The shared-context line of the point at `index` ([`context_line`], cached).
    pub fn context_line(&self, index: usize) -> &ContextLine {
        static NONE: ContextLine = ContextLine {
            text: String::new(),
            tokens: 0,
        };
        self.context_lines.get(index).unwrap_or(&NONE)
    }

    /// Verified points that are not superseded, in log order.
    pub fn live_points(&self) -> impl Iterator<Item = &PointView> {
        self.points
            .iter()
            .filter(|p| p.status == PointStatus::Verified && p.superseded_by.is_none())
    }

    /// Fold one event into the state. Unknown references (a claim of a task that was never
    /// added, say) are tolerated so a damaged log still replays as far as it makes sense.
    pub fn apply(&mut self, env: &Envelope) {
        self.last_seq = env.seq;
        self.events_applied += 1;
        if self.started_ts.is_none() {
            self.started_ts = Some(env.ts.clone());
        }
        // Reuse the previous timestamp's buffer: this runs for every event.
        match &mut self.last_ts {
            Some(ts) => ts.clone_from(&env.ts),
            None => self.last_ts = Some(env.ts.clone()),
        }
        match &env.event {
            Event::RunStarted {
                run_id,
                goal,
                mode,
                model,
                agents,
                verify,
                budgets,
                coordination,
            } => {
                self.run_id = run_id.clone();
                self.goal = goal.clone();
                self.mode = mode.clone();
                self.model = model.clone();
                self.desired_agents = *agents;
                self.verify = *verify;
                self.budgets = budgets.clone();
                self.coordination = coordination.clone();
                self.phase = Phase::Running;
            }
            Event::RunResumed { model, agents } => {
                if !model.is_empty() {
                    self.model = model.clone();
                }
                if *agents > 0 {
                    self.desired_agents = *agents;
                }
                self.phase = Phase::Running;
                self.paused = false;
                self.answer = None;
                self.finaliser = None;
                for agent in self.agents.values_mut() {
                    agent.status = AgentStatus::Stopped;
                    agent.task = None;
                    agent.retry = None;
                }
            }
            Event::TaskAdded {
                task,
                title,
                detail,
                origin,
            } => {
                if self.task_index.contains_key(task) {
                    return;
                }
                self.task_index.insert(task.clone(), self.tasks.len());
                self.tasks.push(TaskView {
                    id: task.clone(),
                    title: title.clone(),
                    detail: detail.clone(),
                    origin: origin.clone(),
                    state: TaskState::Queued,
                    attempts: 0,
                    result: None,
                    points: Vec::new(),
                    note: None,
                    added_seq: env.seq,
                });
                if self.phase == Phase::Finalising {
                    self.phase = Phase::Running;
                }
            }
            Event::TaskClaimed {
                task,
                agent,
                attempt,
            } => {
                if let Some(t) = self.task_mut(task) {
                    t.state = TaskState::Claimed {
                        agent: agent.clone(),
                    };
                    t.attempts = (*attempt).max(t.attempts + 1);
                }
                let a = self.agent_mut(agent);
                a.task = Some(task.clone());
                a.status = AgentStatus::Working;
            }
            Event::TaskFinished {
                task,
                agent,
                outcome,
                result,
            } => {
                if let Some(t) = self.task_mut(task) {
                    // A task re-enqueued or cancelled by the human stays where the human put it.
                    if matches!(&t.state, TaskState::Claimed { agent: a } if a == agent) {
                        t.state = match outcome {
                            TaskOutcome::Done => TaskState::Done,
                            TaskOutcome::Failed => TaskState::Failed,
                        };
                    }
                    t.result = Some(result.clone());
                }
                let a = self.agent_mut(agent);
                if a.task.as_deref() == Some(task) {
                    a.task = None;
                    a.status = AgentStatus::Idle;
                }
            }
            Event::TaskRequeued { task, note, .. } => {
                let mut claimant = None;
                if let Some(t) = self.task_mut(task) {
                    if let TaskState::Claimed { agent } = &t.state {
                        claimant = Some(agent.clone());
                    }
                    t.state = TaskState::Queued;
                    if note.is_some() {
                        t.note = note.clone();
                    }
                }
                if let Some(agent) = claimant {
                    let a = self.agent_mut(&agent);
                    if a.task.as_deref() == Some(task) {
                        a.task = None;
                    }
                }
                if self.phase == Phase::Finalising {
                    self.phase = Phase::Running;
                }
            }
            Event::TaskCancelled { task, note, .. } => {
                let mut claimant = None;
                if let Some(t) = self.task_mut(task) {
                    if let TaskState::Claimed { agent } = &t.state {
                        claimant = Some(agent.clone());
                    }
                    t.state = TaskState::Cancelled;
                    if note.is_some() {
                        t.note = note.clone();
                    }
                }
                if let Some(agent) = claimant {
                    let a = self.agent_mut(&agent);
                    if a.task.as_deref() == Some(task) {
                        a.task = None;
                    }
                }
            }
            Event::PointProposed { point } => {
                self.insert_point(point, PointStatus::Proposed, env.seq)
            }
            Event::ConstraintAdded { point } => {
                self.insert_point(point, PointStatus::Verified, env.seq)
            }
            Event::PointVerified {
                point,
                note,
                evidence,
            } => {
                let mut supersedes = None;
                if let Some(p) = self.point_mut(point) {
                    p.status = PointStatus::Verified;
                    p.note = note.clone();
                    if let Some(ev) = evidence {
                        p.point.evidence = ev.clone();
                    }
                    supersedes = p.point.supersedes.clone();
                }
                if let Some(&i) = self.point_index.get(point) {
                    self.refresh_live(i);
                }
                if let Some(old) = supersedes
                    && let Some(o) = self.point_mut(&old)
                {
                    o.superseded_by = Some(point.clone());
                    if let Some(&i) = self.point_index.get(&old) {
                        self.refresh_live(i);
                    }
                }
            }
            Event::PointRejected { point, reason } => {
                if let Some(p) = self.point_mut(point) {
                    p.status = PointStatus::Rejected;
                    p.note = Some(reason.clone());
                }
                if let Some(&i) = self.point_index.get(point) {
                    self.refresh_live(i);
                }
            }
            Event::AgentStatus {
                agent,
                status,
                task,
            } => {
                let a = self.agent_mut(agent);
                a.status = *status;
                if task.is_some() {
                    a.task = task.clone();
                }
                if *status != AgentStatus::Retrying {
                    a.retry = None;
                }
                if matches!(status, AgentStatus::Idle | AgentStatus::Stopped) {
                    a.task = None;
                }
            }
            Event::AgentMessage { agent, text, .. } => {
                self.agent_mut(agent).last_message = Some(text.clone());
            }
            Event::LlmCall {
                agent,
                tokens_in,
                tokens_out,
                cost_usd,
                ..
            } => {
                self.totals.calls += 1;
                self.totals.tokens_in += tokens_in;
                self.totals.tokens_out += tokens_out;
                match cost_usd {
                    Some(c) => self.totals.cost_usd += c,
                    None => self.totals.unpriced_calls += 1,
                }
                let a = self.agent_mut(agent);
                a.calls += 1;
                a.tokens_in += tokens_in;
                a.tokens_out += tokens_out;
                a.cost_usd += cost_usd.unwrap_or(0.0);
                a.unpriced_calls += u64::from(cost_usd.is_none());
                a.retry = None;
                if a.status == AgentStatus::Retrying {
                    a.status = AgentStatus::Working;
                }
            }
            Event::LlmRetry {
                agent,
                attempt,
                delay_ms,
                reason,
            } => {
                self.retries += 1;
                let ts = env.ts.clone();
                let a = self.agent_mut(agent);
                a.status = AgentStatus::Retrying;
                a.retry = Some(RetryView {
                    attempt: *attempt,
                    delay_ms: *delay_ms,
                    since_ts: ts,
                    reason: reason.clone(),
                });
            }
            Event::ToolCall { .. } => self.tool_calls += 1,
            Event::Paused {} => self.paused = true,
            Event::Resumed {} => self.paused = false,
            Event::AgentsChanged { count } => self.desired_agents = *count,
            Event::FinaliseStarted { agent } => {
                self.phase = Phase::Finalising;
                self.finaliser = Some(agent.clone());
                self.agent_mut(agent).status = AgentStatus::Finalising;
            }
            Event::Error { message, agent, .. } => {
                let line = match agent {
                    Some(a) => format!("{a}: {message}"),
                    None => message.clone(),
                };
                self.errors.push(line);
            }
            Event::RunFinished {
                answer,
                cited,
                stopped_by,
                totals,
            } => {
                self.phase = Phase::Done;
                self.answer = Some(FinalAnswer {
                    answer: answer.clone(),
                    cited: cited.clone(),
                    stopped_by: *stopped_by,
                });
                self.totals.elapsed_ms = totals.elapsed_ms;
                for agent in self.agents.values_mut() {
                    agent.status = AgentStatus::Stopped;
                    agent.task = None;
                    agent.retry = None;
                }
            }
        }
    }

    fn insert_point(&mut self, point: &Point, status: PointStatus, seq: u64) {
        if self.point_index.contains_key(&point.id) {
            return;
        }
        if let Some(task) = &point.task
            && let Some(t) = self.task_mut(task)
        {
            t.points.push(point.id.clone());
        }
        let index = self.points.len();
        self.point_terms.insert(index, point);
        self.context_lines.push(ContextLine::of(point));
        self.point_index.insert(point.id.clone(), index);
        self.points.push(PointView {
            point: point.clone(),
            status,
            note: None,
            seq,
            superseded_by: None,
        });
        self.refresh_live(index);
    }
}

/// A point's line in the shared-context block, and what it costs there.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContextLine {
    /// [`context_line`] of the point.
    pub text: String,
    /// Tokens the line costs in a block: its estimate (characters / 4) plus the newline.
    pub tokens: usize,
}

impl ContextLine {
    fn of(point: &Point) -> Self {
        let text = context_line(point);
        let tokens = text.chars().count().div_ceil(4) + 1;
        ContextLine { text, tokens }
    }
}

/// The compact, one-line form of a point every prompt shows:
/// `P12 [finding] headline (a1, T3)`. Its parts never change once a point is proposed, so
/// the reducer formats it once per point and prompt assembly only copies it.
pub fn context_line(point: &Point) -> String {
    let headline = point.headline.trim();
    let task = point.task.as_deref().unwrap_or("");
    let mut line = String::with_capacity(
        point.id.len() + headline.len() + point.author.len() + task.len() + 20,
    );
    line.push_str(&point.id);
    line.push_str(" [");
    line.push_str(point.kind.as_str());
    line.push_str("] ");
    line.push_str(headline);
    line.push_str(" (");
    line.push_str(&point.author);
    if let Some(task) = &point.task {
        line.push_str(", ");
        line.push_str(task);
    }
    line.push(')');
    line
}

/// The live points (verified, not superseded) by kind, as indices into
/// [`RunState::points`], ascending (which is log order). Every prompt's shared-context block
/// reads these; keeping them as events arrive means a block costs what it shows, not a pass
/// over every point of the run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveIndex {
    constraints: BTreeSet<u32>,
    failures: BTreeSet<u32>,
    findings: BTreeSet<u32>,
    partials: BTreeSet<u32>,
    /// The shortest context line (in tokens) of any failure that was ever live.
    shortest_failure: Option<usize>,
    /// The same for findings and partials.
    shortest_ranked: Option<usize>,
}

impl LiveIndex {
    fn update(&mut self, index: usize, view: &PointView, line_tokens: usize) {
        let shortest = match view.point.kind {
            PointKind::Failure => Some(&mut self.shortest_failure),
            PointKind::Finding | PointKind::Partial => Some(&mut self.shortest_ranked),
            PointKind::Constraint => None,
        };
        if let Some(shortest) = shortest {
            *shortest = Some(shortest.map_or(line_tokens, |s| s.min(line_tokens)));
        }
        let index = index as u32;
        let set = match view.point.kind {
            PointKind::Constraint => &mut self.constraints,
            PointKind::Failure => &mut self.failures,
            PointKind::Finding => &mut self.findings,
            PointKind::Partial => &mut self.partials,
        };
        if view.status == PointStatus::Verified && view.superseded_by.is_none() {
            set.insert(index);
        } else {
            set.remove(&index);
        }
    }

    fn iter(set: &BTreeSet<u32>) -> impl DoubleEndedIterator<Item = usize> + '_ {
        set.iter().map(|&i| i as usize)
    }

    /// Live constraints, oldest first.
    pub fn constraints(&self) -> impl DoubleEndedIterator<Item = usize> + '_ {
        Self::iter(&self.constraints)
    }

    /// Live failures, oldest first.
    pub fn failures(&self) -> impl DoubleEndedIterator<Item = usize> + '_ {
        Self::iter(&self.failures)
    }

    /// Live findings, oldest first.
    pub fn findings(&self) -> impl DoubleEndedIterator<Item = usize> + '_ {
        Self::iter(&self.findings)
    }

    /// Live partials, oldest first.
    pub fn partials(&self) -> impl DoubleEndedIterator<Item = usize> + '_ {
        Self::iter(&self.partials)
    }

    /// No live failure's line costs fewer tokens than this (a lower bound: it is never
    /// raised when a short failure leaves the live set). `None` before any failure.
    pub fn shortest_failure_line(&self) -> Option<usize> {
        self.shortest_failure
    }

    /// No live finding's or partial's line costs fewer tokens than this (a lower bound).
    pub fn shortest_ranked_line(&self) -> Option<usize> {
        self.shortest_ranked
    }

    /// Whether the point at `index` is a live finding or partial.
    pub fn is_finding_or_partial(&self, index: usize) -> bool {
        let index = index as u32;
        self.findings.contains(&index) || self.partials.contains(&index)
    }

    /// Live points of every kind.
    pub fn len(&self) -> usize {
        self.constraints.len() + self.failures.len() + self.findings.len() + self.partials.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The search terms of every point, by its index in [`RunState::points`], and the points
/// that use each term. Prompt assembly ranks every live point by relevance on each claim;
/// with this index that costs a few postings lookups instead of re-reading thousands of
/// points' text per claim (the cost that made claims slow down as a run grew).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PointTerms {
    /// By point index: the distinct terms of headline and summary, sorted.
    terms: Vec<Box<[u64]>>,
    /// Term → indices of the points using it, ascending.
    postings: HashMap<u64, Vec<u32>>,
}

impl PointTerms {
    fn insert(&mut self, index: usize, point: &Point) {
        let terms = search_terms_of(&[&point.headline, &point.summary]);
        for &term in &terms {
            self.postings.entry(term).or_default().push(index as u32);
        }
        if self.terms.len() <= index {
            self.terms.resize(index + 1, Box::default());
        }
        self.terms[index] = terms.into_boxed_slice();
    }

    /// The distinct terms of the point at `index` (empty for an unknown index).
    pub fn terms(&self, index: usize) -> &[u64] {
        self.terms.get(index).map_or(&[], |t| t)
    }

    /// Indices of the points that use `term`, ascending.
    pub fn postings(&self, term: u64) -> &[u32] {
        self.postings.get(&term).map_or(&[], |p| p)
    }
}

/// The search terms of `text`, sorted and distinct: its words (letters, digits, `_`) of
/// three bytes or more, lowercased and hashed (64-bit FNV-1a, so no word is allocated).
pub fn search_terms(text: &str) -> Vec<u64> {
    let mut terms = Vec::new();
    push_terms(text, &mut terms);
    terms.sort_unstable();
    terms.dedup();
    terms
}

/// The search terms of several texts together, sorted and distinct.
pub fn search_terms_of(texts: &[&str]) -> Vec<u64> {
    let mut terms = Vec::new();
    for text in texts {
        push_terms(text, &mut terms);
    }
    terms.sort_unstable();
    terms.dedup();
    terms
}

/// Append the term of every word of `text` (unsorted, repeats kept).
fn push_terms(text: &str, out: &mut Vec<u64>) {
    if text.is_ascii() {
        // The common case, byte by byte: for ASCII, `char::is_alphanumeric` is
        // `u8::is_ascii_alphanumeric`, so the words are the same as below.
        let words = text
            .as_bytes()
            .split(|&b| !b.is_ascii_alphanumeric() && b != b'_');
        out.extend(words.filter(|w| w.len() > 2).map(ascii_term_hash));
    } else {
        let words = text.split(|c: char| !c.is_alphanumeric() && c != '_');
        out.extend(words.filter(|w| w.len() > 2).map(term_hash));
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

/// [`term_hash`] of an ASCII word.
fn ascii_term_hash(word: &[u8]) -> u64 {
    word.iter().fold(FNV_OFFSET, |hash, &b| {
        (hash ^ b.to_ascii_lowercase() as u64).wrapping_mul(FNV_PRIME)
    })
}

fn term_hash(word: &str) -> u64 {
    if word.is_ascii() {
        return ascii_term_hash(word.as_bytes());
    }
    let mut hash = FNV_OFFSET;
    let mut buf = [0u8; 4];
    for c in word.chars().flat_map(char::to_lowercase) {
        for &byte in c.encode_utf8(&mut buf).as_bytes() {
            hash = (hash ^ byte as u64).wrapping_mul(FNV_PRIME);
        }
    }
    hash
}

/// Test fixtures: `events` as a log, numbered from 1 at a fixed time.
#[cfg(test)]
pub(crate) fn numbered(events: impl IntoIterator<Item = Event>) -> Vec<Envelope> {
    events
        .into_iter()
        .enumerate()
        .map(|(i, event)| Envelope {
            seq: i as u64 + 1,
            ts: "2026-01-01T00:00:00Z".into(),
            event,
        })
        .collect()
}

/// Current time as RFC 3339 (UTC, millisecond precision).
pub fn now_rfc3339() -> String {
    format_rfc3339_millis(time::OffsetDateTime::now_utc())
}

/// `t` as RFC 3339, truncated to the millisecond (the log's timestamp format).
pub fn format_rfc3339_millis(t: time::OffsetDateTime) -> String {
    let t = t
        .replace_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Parse an RFC 3339 timestamp from the log.
pub fn parse_ts(ts: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(seq: u64, event: Event) -> Envelope {
        Envelope {
            seq,
            ts: format!("2026-11-25T10:00:{:02}Z", seq % 60),
            event,
        }
    }

    fn point(id: &str, kind: PointKind, task: Option<&str>) -> Point {
        Point {
            id: id.into(),
            kind,
            headline: format!("headline {id}"),
            summary: String::new(),
            evidence: vec![],
            author: "a1".into(),
            task: task.map(Into::into),
            supersedes: None,
        }
    }

    #[test]
    fn envelope_serialises_flat_with_type_tag() {
        let e = env(
            3,
            Event::TaskClaimed {
                task: "T1".into(),
                agent: "a2".into(),
                attempt: 1,
            },
        );
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["type"], "task_claimed");
        assert_eq!(json["seq"], 3);
        assert_eq!(json["agent"], "a2");
        let back: Envelope = serde_json::from_value(json).unwrap();
        assert_eq!(back, e);
        assert_eq!(e.event.type_name(), "task_claimed");
    }

    #[test]
    fn fold_tracks_tasks_points_and_totals() {
        let events = vec![
            env(
                1,
                Event::RunStarted {
                    run_id: "r".into(),
                    goal: "g".into(),
                    mode: Mode::Plain,
                    model: "openai:x".into(),
                    agents: 2,
                    verify: VerifyMode::Evidence,
                    budgets: Budgets::default(),
                    coordination: "delm".into(),
                },
            ),
            env(
                2,
                Event::TaskAdded {
                    task: "T1".into(),
                    title: "plan".into(),
                    detail: String::new(),
                    origin: Origin::Initial,
                },
            ),
            env(
                3,
                Event::TaskClaimed {
                    task: "T1".into(),
                    agent: "a1".into(),
                    attempt: 1,
                },
            ),
            env(
                4,
                Event::PointProposed {
                    point: point("P1", PointKind::Finding, Some("T1")),
                },
            ),
            env(
                5,
                Event::PointVerified {
                    point: "P1".into(),
                    note: None,
                    evidence: None,
                },
            ),
            env(
                6,
                Event::LlmCall {
                    agent: "a1".into(),
                    task: Some("T1".into()),
                    purpose: CallPurpose::Work,
                    model: "x".into(),
                    tokens_in: 100,
                    tokens_out: 10,
                    cost_usd: Some(0.5),
                    latency_ms: 3,
                },
            ),
            env(
                7,
                Event::TaskFinished {
                    task: "T1".into(),
                    agent: "a1".into(),
                    outcome: TaskOutcome::Done,
                    result: "ok".into(),
                },
            ),
        ];
        let s = RunState::from_events(&events);
        assert_eq!(s.task("T1").unwrap().state, TaskState::Done);
        assert_eq!(s.task("T1").unwrap().points, vec!["P1".to_string()]);
        assert_eq!(s.point("P1").unwrap().status, PointStatus::Verified);
        assert_eq!(s.totals.tokens_in, 100);
        assert_eq!(s.agents["a1"].cost_usd, 0.5);
        assert_eq!(s.agents["a1"].status, AgentStatus::Idle);
    }

    #[test]
    fn unpriced_calls_are_counted_not_costed() {
        let mut s = RunState::default();
        s.apply(&env(
            1,
            Event::LlmCall {
                agent: "a1".into(),
                task: None,
                purpose: CallPurpose::Work,
                model: "local".into(),
                tokens_in: 10,
                tokens_out: 2,
                cost_usd: None,
                latency_ms: 1,
            },
        ));
        assert_eq!(s.totals.unpriced_calls, 1);
        assert_eq!(s.agents["a1"].unpriced_calls, 1);
        assert_eq!(s.agents["a1"].cost_usd, 0.0);
    }

    #[test]
    fn requeue_returns_claimed_task_and_late_finish_does_not_override() {
        let mut s = RunState::default();
        s.apply(&env(
            1,
            Event::TaskAdded {
                task: "T1".into(),
                title: "t".into(),
                detail: String::new(),
                origin: Origin::Human,
            },
        ));
        s.apply(&env(
            2,
            Event::TaskClaimed {
                task: "T1".into(),
                agent: "a1".into(),
                attempt: 1,
            },
        ));
        s.apply(&env(
            3,
            Event::TaskRequeued {
                task: "T1".into(),
                by: HUMAN.into(),
                note: Some("look at the lexer".into()),
            },
        ));
        s.apply(&env(
            4,
            Event::TaskFinished {
                task: "T1".into(),
                agent: "a1".into(),
                outcome: TaskOutcome::Failed,
                result: "cancelled".into(),
            },
        ));
        let t = s.task("T1").unwrap();
        assert_eq!(t.state, TaskState::Queued);
        assert_eq!(t.note.as_deref(), Some("look at the lexer"));
    }

    /// The terms as the first version computed them: char by char, every word lowercased
    /// through `char::to_lowercase`.
    fn reference_terms(text: &str) -> Vec<u64> {
        let mut terms: Vec<u64> = text
            .split(|c: char| !c.is_alphanumeric() && c != '_')
            .filter(|w| w.len() > 2)
            .map(|w| {
                let mut hash = FNV_OFFSET;
                let mut buf = [0u8; 4];
                for c in w.chars().flat_map(char::to_lowercase) {
                    for &b in c.encode_utf8(&mut buf).as_bytes() {
                        hash = (hash ^ b as u64).wrapping_mul(FNV_PRIME);
                    }
                }
                hash
            })
            .collect();
        terms.sort_unstable();
        terms.dedup();
        terms
    }

    #[test]
    fn search_terms_fast_path_matches_the_char_path() {
        for text in [
            "Lexer_cache drops TRAILING comments in skip_ws (src/lex.rs:141-150) ab 2024",
            "naïve ÉTAT: Ünïcode headline — with dashes and Lexer",
            "",
            "a bb ccc dddd, x_y_z;;; 12345",
        ] {
            assert_eq!(search_terms(text), reference_terms(text), "{text}");
        }
        assert_eq!(
            search_terms_of(&["Lexer cache", "cache INDEX lexer"]),
            reference_terms("Lexer cache cache INDEX lexer")
        );
    }

    #[test]
    fn live_index_follows_verification_and_supersession() {
        let mut s = RunState::default();
        let mut seq = 0;
        let mut apply = |s: &mut RunState, event: Event| {
            seq += 1;
            s.apply(&env(seq, event));
        };
        let verified = |id: &str| Event::PointVerified {
            point: id.into(),
            note: None,
            evidence: None,
        };
        apply(
            &mut s,
            Event::PointProposed {
                point: point("P1", PointKind::Finding, None),
            },
        );
        assert!(s.live_index().is_empty(), "a proposed point is not live");
        apply(&mut s, verified("P1"));
        apply(
            &mut s,
            Event::PointProposed {
                point: point("P2", PointKind::Failure, None),
            },
        );
        apply(
            &mut s,
            Event::PointRejected {
                point: "P2".into(),
                reason: "no".into(),
            },
        );
        let mut p3 = point("P3", PointKind::Partial, Some("T1"));
        p3.supersedes = Some("P1".into());
        apply(&mut s, Event::PointProposed { point: p3 });
        apply(&mut s, verified("P3"));
        apply(
            &mut s,
            Event::ConstraintAdded {
                point: point("C1", PointKind::Constraint, None),
            },
        );
        let live = s.live_index();
        assert_eq!(live.findings().count(), 0, "P1 is superseded");
        assert_eq!(live.failures().count(), 0, "P2 was rejected");
        assert_eq!(live.partials().collect::<Vec<_>>(), vec![2]);
        assert_eq!(live.constraints().collect::<Vec<_>>(), vec![3]);
        assert_eq!(live.len(), s.live_points().count());
        assert_eq!(s.context_line(2).text, "P3 [partial] headline P3 (a1, T1)");
        assert_eq!(
            live.shortest_ranked_line(),
            Some(s.context_line(0).tokens.min(s.context_line(2).tokens))
        );
    }

    #[test]
    fn superseded_points_leave_the_live_set() {
        let mut s = RunState::default();
        s.apply(&env(
            1,
            Event::PointProposed {
                point: point("P1", PointKind::Finding, None),
            },
        ));
        s.apply(&env(
            2,
            Event::PointVerified {
                point: "P1".into(),
                note: None,
                evidence: None,
            },
        ));
        let mut p2 = point("P2", PointKind::Finding, None);
        p2.supersedes = Some("P1".into());
        s.apply(&env(3, Event::PointProposed { point: p2 }));
        s.apply(&env(
            4,
            Event::PointVerified {
                point: "P2".into(),
                note: None,
                evidence: None,
            },
        ));
        let live: Vec<_> = s.live_points().map(|p| p.point.id.clone()).collect();
        assert_eq!(live, vec!["P2".to_string()]);
    }
}
