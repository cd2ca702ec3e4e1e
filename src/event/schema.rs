//! The log's schema: every [`Event`] of a run, wrapped in an [`Envelope`] with a sequence
//! number and a timestamp, and the value types events carry. Pure serde data: readers,
//! writers and the wire protocols all share it.

use serde::{Deserialize, Serialize};

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

/// A file the documents workspace did not ingest, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedDocument {
    pub path: String,
    pub reason: String,
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
    /// A call an outside worker (Claude Code, Codex) made with its own model, as it reported.
    Worker,
}

/// How agents coordinate. `delm` is the default (a shared queue and a shared, verified
/// context); `central` and `isolated` are the baselines the paper compares against, run by
/// the same engine and written to the same log (see `engine::policy` for what each does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Coordination {
    #[default]
    Delm,
    /// An orchestrator splits the goal and aggregates every worker's full report.
    Central,
    /// Independent attempts with no shared context; one final agent merges them.
    Isolated,
}

impl Coordination {
    pub fn name(self) -> &'static str {
        match self {
            Coordination::Delm => "delm",
            Coordination::Central => "central",
            Coordination::Isolated => "isolated",
        }
    }

    pub fn parse(name: &str) -> Result<Coordination, String> {
        match name.trim() {
            "" | "delm" => Ok(Coordination::Delm),
            "central" => Ok(Coordination::Central),
            "isolated" => Ok(Coordination::Isolated),
            other => Err(format!(
                "unknown coordination `{other}`: use delm, central or isolated"
            )),
        }
    }
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
    /// Of `tokens_in`, read from a prompt cache.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tokens_cached_read: u64,
    /// Of `tokens_in`, written to a prompt cache.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tokens_cache_write: u64,
    /// Sum of the calls whose price is known.
    pub cost_usd: f64,
    /// Number of calls whose cost was unknown (model missing from the pricing table).
    #[serde(default)]
    pub unpriced_calls: u64,
    #[serde(default)]
    pub elapsed_ms: u64,
}

/// A command run cited as a check (`--allow-exec`): what ran, on which files, how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRun {
    /// The run's id (`c3`).
    pub run: String,
    pub cmd: String,
    /// The git tree id of the visible files it ran on: a content hash, so the result holds
    /// for any copy whose visible files hash the same (ignored files, such as build output,
    /// are not part of it).
    pub tree: String,
    /// Its exit code; `None` when its timeout or a signal ended it.
    #[serde(default)]
    pub exit: Option<i32>,
    /// How it ended, in words ("exited with 0 after 1.2 s").
    pub ending: String,
    /// The seconds it was allowed (a re-run gets the same).
    pub timeout_s: u64,
    /// Cited again without running: an earlier run of the same command on identical files.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reused: bool,
    /// The end of its output (kept for the checks of an assembled result).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub output: String,
    /// A worker ran it (`w2:c3`): the board holds the record the worker shipped, not a run
    /// of its own, so it is never cited again as a check of an assembled result.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub remote: bool,
}

impl CheckRun {
    pub fn passed(&self) -> bool {
        self.exit == Some(0)
    }
}

/// A verified patch as pinned when its point was verified (`--allow-edit`): the diff, and
/// the checks that passed on exactly its files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PinnedPatch {
    /// The verified point whose evidence cites it.
    pub point: PointId,
    /// The agent (or worker) whose private copy it comes from.
    pub agent: AgentId,
    /// `patch:a1@3f2a1b9c0d`, as the point's resolved evidence names it.
    pub reference: String,
    /// The git tree of the copy's visible files when it was pinned.
    pub tree: String,
    /// The diff against the repository (`git apply` input, binary files included).
    pub diff: String,
    #[serde(default)]
    pub checks: Vec<CheckRun>,
}

/// A pinned patch named in an assembled result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchRef {
    pub point: PointId,
    pub agent: AgentId,
    pub reference: String,
}

/// A pinned patch that is not in the assembled result, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchLeftOut {
    #[serde(flatten)]
    pub patch: PatchRef,
    pub reason: String,
    /// For a conflict: each file where it overlaps the result, with the overlapping regions
    /// as git marks them (`<<<<<<<`, `|||||||`, `=======`, `>>>>>>>`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<ConflictFile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConflictFile {
    pub path: String,
    /// The conflicting regions with a few lines around them (cut when long).
    pub text: String,
}

/// The one result of a run with edits: every verified patch that merged, as one diff.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AssembledResult {
    /// The assembled diff against the repository (what `<session>.patch` holds); empty when
    /// nothing merged.
    pub patch: String,
    /// The git tree of the assembled files ("" when nothing merged).
    #[serde(default)]
    pub tree: String,
    /// The patches it holds, in the order they were merged.
    #[serde(default)]
    pub merged: Vec<PatchRef>,
    /// Patches that overlap the result: kept out, for the human.
    #[serde(default)]
    pub conflicts: Vec<PatchLeftOut>,
    /// Patches left out for another reason (superseded, replaced by the same agent's later
    /// patch, its checks failed with it in the result).
    #[serde(default)]
    pub left_out: Vec<PatchLeftOut>,
    /// The checks on the assembled files: every command that verified a merged patch.
    #[serde(default)]
    pub checks: Vec<CheckRun>,
    /// Why the checks were not all run, when they were not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl AssembledResult {
    /// Every check ran (or was reused) and passed on the assembled files.
    pub fn verified(&self) -> bool {
        !self.merged.is_empty()
            && !self.checks.is_empty()
            && self.note.is_none()
            && self.checks.iter().all(CheckRun::passed)
    }
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
        #[serde(default)]
        coordination: Coordination,
        /// The provider endpoint the run talks to (credentials removed; never a key), so
        /// `delm resume` reuses it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint: Option<String>,
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
        /// Every prompt token, cached or not (comparable across providers).
        tokens_in: u64,
        tokens_out: u64,
        /// Of `tokens_in`: read from the provider's prompt cache (billed at the cached rate).
        #[serde(default, skip_serializing_if = "is_zero")]
        tokens_cached_read: u64,
        /// Of `tokens_in`: written to the prompt cache (Anthropic bills these above input).
        #[serde(default, skip_serializing_if = "is_zero")]
        tokens_cache_write: u64,
        /// Billed cost; `None` when the model's price is unknown.
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
    /// A budget (cost, tokens, time) ran out: the swarm stops claiming, work in flight goes
    /// back to the queue, and the finaliser answers with what is verified.
    BudgetReached {
        why: String,
    },
    /// Files under the document roots that were not ingested, with the reason (an
    /// unsupported type, over the size cap, not a regular file, unreadable).
    DocumentsSkipped {
        documents: Vec<SkippedDocument>,
    },
    /// The final answer's numbers, checked against the points it cites: those no cited
    /// point supports (shown with the answer; the answer is published as written).
    AnswerChecked {
        #[serde(default)]
        unsupported_numbers: Vec<String>,
    },
    /// The board is reachable from outside the process (MCP over HTTP at `url`). The
    /// bearer token is never in the log: it is in `<session>.board.json` (mode 0600).
    BoardServing {
        url: String,
    },
    /// A participant from outside the board's process joined (an MCP client, a CLI worker,
    /// a remote worker): `name` is how it introduced itself.
    AgentJoined {
        agent: AgentId,
        name: String,
        /// `mcp`, `cli_worker` or `remote`.
        kind: String,
    },
    /// `central`: the context the orchestrator passes to every worker of the next wave.
    Broadcast {
        agent: AgentId,
        context: String,
    },
    /// A claim's holder went silent past its lease: the task goes back to the queue (a
    /// `task_requeued` follows) and anything the holder sends about that claim is ignored.
    ClaimExpired {
        task: TaskId,
        agent: AgentId,
        attempt: u32,
    },
    /// A verified point's patch, pinned: its diff and the checks that passed on it, so the
    /// log alone can replay, show and assemble it. Follows that point's `point_verified`.
    PatchPinned(PinnedPatch),
    /// The run's one result (`--allow-edit`), assembled from every verified patch when the
    /// answer is in; `run_finished` follows.
    ResultAssembled(AssembledResult),
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
            Event::BudgetReached { .. } => "budget_reached",
            Event::DocumentsSkipped { .. } => "documents_skipped",
            Event::AnswerChecked { .. } => "answer_checked",
            Event::BoardServing { .. } => "board_serving",
            Event::AgentJoined { .. } => "agent_joined",
            Event::Broadcast { .. } => "broadcast",
            Event::ClaimExpired { .. } => "claim_expired",
            Event::PatchPinned(_) => "patch_pinned",
            Event::ResultAssembled(_) => "result_assembled",
            Event::Paused {} => "paused",
            Event::Resumed {} => "resumed",
            Event::AgentsChanged { .. } => "agents_changed",
            Event::FinaliseStarted { .. } => "finalise_started",
            Event::Error { .. } => "error",
            Event::RunFinished { .. } => "run_finished",
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}
