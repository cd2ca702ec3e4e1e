//! The reducer: [`RunState`] is `fold(events)` through [`RunState::apply`]. The engine, the
//! TUI, replay, resume, listings and compare all use this one fold, so a replayed run looks
//! exactly as it looked live. Engine-only indexes (prompt ranking) are projections kept
//! elsewhere (`engine::context`), so readers do not pay for them.
//! It is long because every event's effect on the state is here, in one match, so no
//! reader can fold a run differently; a quarter of it is tests.

use super::schema::*;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

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
    /// Of `tokens_in`, read from a prompt cache.
    pub tokens_cached_read: u64,
    pub cost_usd: f64,
    pub calls: u64,
    /// Calls whose price was unknown (their cost is not in `cost_usd`).
    pub unpriced_calls: u64,
    /// Set while waiting on a retry: (attempt, delay_ms, ts of the retry event, reason).
    pub retry: Option<RetryView>,
    /// The last finished message of this agent.
    pub last_message: Option<String>,
    /// How an outside participant introduced itself (`claude-code`, a client name).
    pub name: Option<String>,
    /// `mcp`, `cli_worker` or `remote` for outside participants; `None` for native agents.
    pub kind: Option<String>,
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
    pub coordination: Coordination,
    /// The provider endpoint recorded at the start (no credentials).
    pub endpoint: Option<String>,
    /// `central`: what the orchestrator last broadcast to the workers.
    pub brief: String,
    /// Where outside agents reach the board (`board_serving`), if it is served.
    pub board_url: Option<String>,
    /// Run time of the processes before the current one (closed at each `run_resumed`).
    active_before_ms: u64,
    /// When the current process's part of the run began.
    segment_start_ts: Option<String>,
    /// Why the run's budget ran out, once it has.
    pub budget_reached: Option<String>,
    /// Documents that were not ingested, with the reason.
    pub skipped_documents: Vec<SkippedDocument>,
    /// Numbers in the final answer that no point it cites supports.
    pub answer_unsupported_numbers: Vec<String>,
    pub started_ts: Option<String>,
    pub last_ts: Option<String>,
    pub last_seq: u64,
    pub events_applied: u64,
    pub tasks: Vec<TaskView>,
    task_index: HashMap<TaskId, usize>,
    pub points: Vec<PointView>,
    point_index: HashMap<PointId, usize>,
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
    /// Verified patches as pinned (`patch_pinned`), in log order; shared, not copied, when
    /// the state is cloned.
    pub patches: Vec<Arc<PinnedPatch>>,
    /// The run's assembled result (`result_assembled`).
    pub result: Option<Arc<AssembledResult>>,
}

impl RunState {
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a Envelope>) -> Self {
        let mut state = RunState::default();
        for env in events {
            state.apply(env);
        }
        state
    }

    /// How long the run has been running, across resumes: each process's span from its
    /// first to its last event, without the gaps between processes.
    pub fn active_elapsed(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.active_before_ms + self.segment_ms())
    }

    /// The current process's span so far, in milliseconds.
    fn segment_ms(&self) -> u64 {
        let (Some(a), Some(b)) = (
            self.segment_start_ts.as_deref().and_then(super::parse_ts),
            self.last_ts.as_deref().and_then(super::parse_ts),
        ) else {
            return 0;
        };
        u64::try_from((b - a).whole_milliseconds()).unwrap_or(0)
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

    pub fn count_tasks(&self, pred: impl Fn(&TaskState) -> bool) -> usize {
        self.tasks.iter().filter(|t| pred(&t.state)).count()
    }

    pub fn count_points(&self, kind: Option<PointKind>, status: PointStatus) -> usize {
        self.points
            .iter()
            .filter(|p| p.status == status && kind.is_none_or(|k| p.point.kind == k))
            .count()
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
        if matches!(env.event, Event::RunResumed { .. }) {
            // The process that wrote the events so far stopped at the last of them; the
            // time until this resume was not run time.
            self.active_before_ms += self.segment_ms();
            self.segment_start_ts = Some(env.ts.clone());
        } else if self.segment_start_ts.is_none() {
            self.segment_start_ts = Some(env.ts.clone());
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
                endpoint,
            } => {
                self.run_id = run_id.clone();
                self.goal = goal.clone();
                self.mode = mode.clone();
                self.model = model.clone();
                self.desired_agents = *agents;
                self.verify = *verify;
                self.budgets = budgets.clone();
                self.coordination = *coordination;
                self.endpoint = endpoint.clone();
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
                self.result = None;
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
                self.release_task(task, TaskState::Queued, note);
                if self.phase == Phase::Finalising {
                    self.phase = Phase::Running;
                }
            }
            Event::TaskCancelled { task, note, .. } => {
                self.release_task(task, TaskState::Cancelled, note)
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
                if let Some(old) = supersedes
                    && let Some(o) = self.point_mut(&old)
                {
                    o.superseded_by = Some(point.clone());
                }
            }
            Event::PointRejected { point, reason } => {
                if let Some(p) = self.point_mut(point) {
                    p.status = PointStatus::Rejected;
                    p.note = Some(reason.clone());
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
                tokens_cached_read,
                tokens_cache_write,
                cost_usd,
                ..
            } => {
                self.totals.calls += 1;
                self.totals.tokens_in += tokens_in;
                self.totals.tokens_out += tokens_out;
                self.totals.tokens_cached_read += tokens_cached_read;
                self.totals.tokens_cache_write += tokens_cache_write;
                match cost_usd {
                    Some(c) => self.totals.cost_usd += c,
                    None => self.totals.unpriced_calls += 1,
                }
                let a = self.agent_mut(agent);
                a.calls += 1;
                a.tokens_in += tokens_in;
                a.tokens_out += tokens_out;
                a.tokens_cached_read += tokens_cached_read;
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
            Event::BoardServing { url } => self.board_url = Some(url.clone()),
            Event::BudgetReached { why } => self.budget_reached = Some(why.clone()),
            Event::DocumentsSkipped { documents } => {
                self.skipped_documents.extend(documents.iter().cloned())
            }
            Event::AnswerChecked {
                unsupported_numbers,
            } => self
                .answer_unsupported_numbers
                .clone_from(unsupported_numbers),
            Event::AgentJoined { agent, name, kind } => {
                let a = self.agent_mut(agent);
                a.name = Some(name.clone());
                a.kind = Some(kind.clone());
            }
            Event::Broadcast { context, .. } => self.brief.clone_from(context),
            Event::ClaimExpired { .. } => {}
            Event::PatchPinned(patch) => self.patches.push(Arc::new(patch.clone())),
            Event::ResultAssembled(result) => self.result = Some(Arc::new(result.clone())),
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

    /// A task leaves its claimant (re-enqueued or cancelled): it takes `to`, keeps the
    /// latest human note, and the claimant no longer holds it.
    fn release_task(&mut self, task: &str, to: TaskState, note: &Option<String>) {
        let mut claimant = None;
        if let Some(t) = self.task_mut(task) {
            if let TaskState::Claimed { agent } = &t.state {
                claimant = Some(agent.clone());
            }
            t.state = to;
            if note.is_some() {
                t.note.clone_from(note);
            }
        }
        if let Some(agent) = claimant {
            let a = self.agent_mut(&agent);
            if a.task.as_deref() == Some(task) {
                a.task = None;
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
        self.point_index.insert(point.id.clone(), index);
        self.points.push(PointView {
            point: point.clone(),
            status,
            note: None,
            seq,
            superseded_by: None,
        });
    }
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
                    coordination: crate::event::Coordination::Delm,
                    endpoint: None,
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
                    tokens_cached_read: 0,
                    tokens_cache_write: 0,
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
                tokens_cached_read: 0,
                tokens_cache_write: 0,
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

    #[test]
    fn run_time_leaves_out_the_gaps_between_processes() {
        let at = |seq: u64, ts: &str, event: Event| Envelope {
            seq,
            ts: ts.into(),
            event,
        };
        let resumed = || Event::RunResumed {
            model: String::new(),
            agents: 0,
        };
        let mut s = RunState::default();
        s.apply(&at(1, "2026-01-01T10:00:00Z", Event::Paused {}));
        s.apply(&at(2, "2026-01-01T10:00:30Z", Event::Resumed {}));
        // Down for an hour, then two more processes.
        s.apply(&at(3, "2026-01-01T11:00:30Z", resumed()));
        s.apply(&at(4, "2026-01-01T11:00:40Z", Event::Paused {}));
        s.apply(&at(5, "2026-01-01T12:00:00Z", resumed()));
        s.apply(&at(6, "2026-01-01T12:00:05Z", Event::Resumed {}));
        assert_eq!(
            s.active_elapsed(),
            std::time::Duration::from_secs(30 + 10 + 5)
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
