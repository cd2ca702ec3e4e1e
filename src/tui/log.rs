//! The event log as the viewer keeps it: every event in order, plus small indexes built as
//! events arrive, so views that read history (an agent's whole transcript, the events pane,
//! the cost sparkline, the replay scrubber) never re-scan or re-fold the log.
//!
//! Live, events are appended as the engine sends them; in replay the whole recording is
//! indexed once and views stop at the timeline's position. Nothing here is cloned into the
//! replay checkpoints.

use crate::event::{AgentId, AgentStatus, Envelope, Event, RunState, StoppedBy, parse_ts};
use std::collections::{HashMap, HashSet};

/// The kinds of notable events the events pane lists (and filters by).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// Started, resumed, paused, finalising, finished.
    Run,
    Error,
    Retry,
    Budget,
    Constraint,
    /// Re-enqueued or cancelled tasks.
    Requeue,
    /// Points the verifier rejected.
    Rejected,
    /// Agents joining and leaving, and agent count changes.
    Agents,
}

impl EventKind {
    pub const ALL: [EventKind; 8] = [
        EventKind::Error,
        EventKind::Retry,
        EventKind::Budget,
        EventKind::Constraint,
        EventKind::Requeue,
        EventKind::Rejected,
        EventKind::Agents,
        EventKind::Run,
    ];

    pub fn label(self) -> &'static str {
        match self {
            EventKind::Run => "run",
            EventKind::Error => "error",
            EventKind::Retry => "retry",
            EventKind::Budget => "budget",
            EventKind::Constraint => "constraint",
            EventKind::Requeue => "requeue",
            EventKind::Rejected => "rejected",
            EventKind::Agents => "agents",
        }
    }

    /// The next filter in the `f` cycle: all, then each kind, then all again.
    pub fn cycle(current: Option<EventKind>) -> Option<EventKind> {
        match current {
            None => Some(EventKind::ALL[0]),
            Some(kind) => {
                let i = EventKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
                EventKind::ALL.get(i + 1).copied()
            }
        }
    }
}

/// One row of the events pane.
#[derive(Debug, Clone, PartialEq)]
pub struct Notable {
    /// Index of the event in the log.
    pub pos: usize,
    pub kind: EventKind,
    /// What happened, in the story's words.
    pub text: String,
    /// What the row is about, for opening it in the detail pane.
    pub subject: Option<Related>,
}

/// What a notable event refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Related {
    Task(String),
    Point(String),
    Agent(String),
}

/// One model call, for the cost and token sparkline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CallSample {
    pub pos: usize,
    /// Milliseconds since the first event.
    pub at_ms: i64,
    pub tokens: u64,
    pub cost_usd: Option<f64>,
}

#[derive(Debug, Clone, Default)]
pub struct EventLog {
    events: Vec<Envelope>,
    /// Milliseconds since the first event, per event (clamped to be non-decreasing).
    offsets_ms: Vec<i64>,
    first_ts: Option<time::OffsetDateTime>,
    /// Positions of the events in each agent's transcript.
    by_agent: HashMap<AgentId, Vec<usize>>,
    notable: Vec<Notable>,
    calls: Vec<CallSample>,
    /// Agents seen so far (a first sighting is a join).
    seen_agents: HashSet<AgentId>,
}

impl EventLog {
    /// Index a whole recording (replay): one fold, for the words of the notable rows.
    pub fn from_events(events: Vec<Envelope>) -> EventLog {
        let mut log = EventLog::default();
        let mut state = RunState::default();
        for env in events {
            log.push(env.clone(), &state);
            state.apply(&env);
        }
        log
    }

    /// Append one event; `before` is the run's state before it (for naming what it is about).
    pub fn push(&mut self, env: Envelope, before: &RunState) {
        let pos = self.events.len();
        let ts = parse_ts(&env.ts);
        if self.first_ts.is_none() {
            self.first_ts = ts;
        }
        let last = self.offsets_ms.last().copied().unwrap_or(0);
        let at = match (ts, self.first_ts) {
            (Some(t), Some(first)) => ((t - first).whole_milliseconds() as i64).max(last),
            _ => last,
        };
        self.offsets_ms.push(at);
        for agent in transcript_agents(&env.event, before) {
            self.by_agent.entry(agent).or_default().push(pos);
        }
        if let Event::LlmCall {
            tokens_in,
            tokens_out,
            cost_usd,
            ..
        } = &env.event
        {
            self.calls.push(CallSample {
                pos,
                at_ms: at,
                tokens: tokens_in + tokens_out,
                cost_usd: *cost_usd,
            });
        }
        // The first event that names an agent is its joining.
        if let Some(agent) = agent_of(&env.event)
            && self.seen_agents.insert(agent.to_string())
        {
            self.notable.push(Notable {
                pos,
                kind: EventKind::Agents,
                text: format!("{agent} joined"),
                subject: Some(Related::Agent(agent.to_string())),
            });
        }
        if let Some(row) = self.notable_row(pos, &env.event, before) {
            self.notable.push(row);
        }
        self.events.push(env);
    }

    fn notable_row(&mut self, pos: usize, event: &Event, before: &RunState) -> Option<Notable> {
        let (kind, subject) = match event {
            Event::AgentStatus { agent, status, .. } => {
                if *status != AgentStatus::Stopped || before.answer.is_some() {
                    return None;
                }
                return Some(Notable {
                    pos,
                    kind: EventKind::Agents,
                    text: format!("{agent} left"),
                    subject: Some(Related::Agent(agent.clone())),
                });
            }
            Event::RunStarted { .. }
            | Event::RunResumed { .. }
            | Event::Paused {}
            | Event::Resumed {}
            | Event::FinaliseStarted { .. } => (EventKind::Run, None),
            Event::RunFinished { stopped_by, .. } => (
                if *stopped_by == StoppedBy::Budget {
                    EventKind::Budget
                } else if *stopped_by == StoppedBy::Error {
                    EventKind::Error
                } else {
                    EventKind::Run
                },
                None,
            ),
            Event::Error { message, agent, .. } => (
                if is_budget_notice(message) {
                    EventKind::Budget
                } else {
                    EventKind::Error
                },
                agent.clone().map(Related::Agent),
            ),
            Event::LlmRetry { agent, .. } => {
                (EventKind::Retry, Some(Related::Agent(agent.clone())))
            }
            Event::ConstraintAdded { point } => (
                EventKind::Constraint,
                Some(Related::Point(point.id.clone())),
            ),
            Event::TaskRequeued { task, by, .. } => (
                if by == "budget" {
                    EventKind::Budget
                } else {
                    EventKind::Requeue
                },
                Some(Related::Task(task.clone())),
            ),
            Event::TaskCancelled { task, .. } => {
                (EventKind::Requeue, Some(Related::Task(task.clone())))
            }
            Event::PointRejected { point, .. } => {
                (EventKind::Rejected, Some(Related::Point(point.clone())))
            }
            Event::AgentsChanged { .. } => (EventKind::Agents, None),
            Event::BudgetReached { .. } => (EventKind::Budget, None),
            Event::DocumentsSkipped { .. } | Event::ResultAssembled(_) => (EventKind::Run, None),
            Event::AnswerChecked {
                unsupported_numbers,
            } if !unsupported_numbers.is_empty() => (EventKind::Error, None),
            _ => return None,
        };
        let text = crate::story::narrate(event, before)?;
        Some(Notable {
            pos,
            kind,
            text,
            subject,
        })
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn events(&self) -> &[Envelope] {
        &self.events
    }

    /// Milliseconds from the first event to the event at `pos`.
    pub fn offset_ms(&self, pos: usize) -> i64 {
        self.offsets_ms.get(pos).copied().unwrap_or(0)
    }

    /// The run's span in milliseconds (first to last event).
    pub fn span_ms(&self) -> i64 {
        self.offsets_ms.last().copied().unwrap_or(0)
    }

    /// Positions of `agent`'s transcript events among the first `upto` events.
    pub fn agent_events(&self, agent: &str, upto: usize) -> &[usize] {
        let all = self.by_agent.get(agent).map_or(&[][..], Vec::as_slice);
        &all[..all.partition_point(|&p| p < upto)]
    }

    /// Notable rows among the first `upto` events.
    pub fn notable(&self, upto: usize) -> &[Notable] {
        &self.notable[..self.notable.partition_point(|n| n.pos < upto)]
    }

    /// Model calls among the first `upto` events.
    pub fn calls(&self, upto: usize) -> &[CallSample] {
        &self.calls[..self.calls.partition_point(|c| c.pos < upto)]
    }

    /// How many of the first `upto` events fall in each of `buckets` equal slices of the
    /// whole recording's span (the scrubber's density).
    pub fn density(&self, buckets: usize) -> Vec<usize> {
        let mut out = vec![0; buckets.max(1)];
        let span = self.span_ms().max(1);
        for &at in &self.offsets_ms {
            let i = ((at as i128 * out.len() as i128) / (span as i128 + 1)) as usize;
            out[i.min(buckets.max(1) - 1)] += 1;
        }
        out
    }
}

/// Whether an `error` event is the board's budget notice rather than a failure.
/// Logs written before `budget_reached` existed said so in an `error` event.
pub fn is_budget_notice(message: &str) -> bool {
    message.contains("budget reached") || message.starts_with("time limit reached")
}

/// The agent an event is by, if it is an agent's.
fn agent_of(event: &Event) -> Option<&str> {
    match event {
        Event::AgentStatus { agent, .. }
        | Event::TaskClaimed { agent, .. }
        | Event::AgentMessage { agent, .. }
        | Event::LlmCall { agent, .. }
        | Event::LlmRetry { agent, .. }
        | Event::ToolCall { agent, .. }
        | Event::FinaliseStarted { agent } => Some(agent),
        _ => None,
    }
}

/// The agents whose transcript an event belongs in.
fn transcript_agents(event: &Event, before: &RunState) -> Vec<AgentId> {
    match event {
        Event::TaskClaimed { agent, .. }
        | Event::TaskFinished { agent, .. }
        | Event::AgentMessage { agent, .. }
        | Event::LlmCall { agent, .. }
        | Event::LlmRetry { agent, .. }
        | Event::ToolCall { agent, .. }
        | Event::FinaliseStarted { agent } => vec![agent.clone()],
        Event::Error {
            agent: Some(agent), ..
        } => vec![agent.clone()],
        Event::PointProposed { point } => vec![point.author.clone()],
        Event::PointVerified { point, .. } | Event::PointRejected { point, .. } => before
            .point(point)
            .map(|p| vec![p.point.author.clone()])
            .unwrap_or_default(),
        Event::TaskRequeued { task, .. } | Event::TaskCancelled { task, .. } => {
            match before.task(task).map(|t| &t.state) {
                Some(crate::event::TaskState::Claimed { agent }) => vec![agent.clone()],
                _ => Vec::new(),
            }
        }
        _ => Vec::new(),
    }
}
