//! The board protocol: every request a participant (a native agent, an outside agent over
//! MCP, a CLI worker, a remote worker over NATS) makes of the board, and every reply. A leaf
//! of serde types, so any transport can carry it.
//!
//! The board stamps what a participant could lie about: the author of a point and the task
//! of a report come from the participant's open claim, never from the request. Requests
//! about a claim carry it ([`Claim`]: task and attempt), so a result sent for a claim that
//! was revoked meanwhile (re-enqueued, cancelled, expired) is refused, not applied.

use crate::event::{AgentId, AgentStatus, CallPurpose, Evidence, PointId, PointKind, TaskId};
use crate::event::{Origin, TaskOutcome};
use serde::{Deserialize, Serialize};
use std::fmt;

/// One attempt of one participant at one task, or at the finalise turn.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Claim {
    Task {
        task: TaskId,
        attempt: u32,
    },
    /// The finalise turn (`round` counts finalise turns in this run, from 1).
    Finalise {
        round: u32,
    },
}

impl Claim {
    /// The task this claim is about (`None` for the finalise turn).
    pub fn task(&self) -> Option<&str> {
        match self {
            Claim::Task { task, .. } => Some(task),
            Claim::Finalise { .. } => None,
        }
    }
}

impl fmt::Display for Claim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Claim::Task { task, attempt } => write!(f, "{task}#{attempt}"),
            Claim::Finalise { round } => write!(f, "finalise#{round}"),
        }
    }
}

/// A proposed point as its author wrote it; the board gives it an id, an author and a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointDraft {
    pub kind: PointKind,
    pub headline: String,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub evidence: Vec<Evidence>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<PointId>,
    /// What normalisation changed on the way in (a headline cut to 25 words, say): the
    /// author is told with the verdict.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// What a participant reports about its own work. Narrow on purpose: a participant cannot
/// emit arbitrary events (a `run_finished`, a verdict); the board turns each report into
/// the one event it stands for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "report", rename_all = "snake_case")]
pub enum Report {
    Status {
        status: AgentStatus,
    },
    /// A finished assistant message (text the model wrote in one turn).
    Message {
        text: String,
    },
    LlmCall {
        purpose: CallPurpose,
        model: String,
        tokens_in: u64,
        tokens_out: u64,
        #[serde(default)]
        tokens_cached_read: u64,
        #[serde(default)]
        tokens_cache_write: u64,
        cost_usd: Option<f64>,
        latency_ms: u64,
    },
    Retry {
        attempt: u32,
        delay_ms: u64,
        reason: String,
    },
    ToolCall {
        call_id: String,
        tool: String,
        args: serde_json::Value,
        ok: bool,
        output: String,
    },
}

/// Who a participant is, as the log and the TUI show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParticipantKind {
    /// An outside agent over MCP (Claude Code, Codex, Cursor, a script).
    Mcp,
    /// A coding-agent CLI delm launched as a worker.
    CliWorker,
    /// An agent of a `delm worker` process on another machine.
    Remote,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// A participant from outside the board's process introduces itself (the envelope's
    /// `agent` is its handle): its claims carry a lease from now on.
    Join {
        name: String,
        kind: ParticipantKind,
    },
    /// Ask for work: a task, the finalise turn, "wait", or "stop".
    Claim,
    /// Publish points found while holding `claim`. The reply comes after verification:
    /// one verdict per draft, in order.
    Propose {
        claim: Claim,
        points: Vec<PointDraft>,
    },
    AddTask {
        title: String,
        #[serde(default)]
        detail: String,
    },
    Finish {
        claim: Claim,
        outcome: TaskOutcome,
        result: String,
    },
    /// The participant stopped working on `claim` (it saw the claim revoked, or gave up):
    /// the board releases it without a result.
    Abandon {
        claim: Claim,
    },
    FinalAnswer {
        claim: Claim,
        answer: String,
        #[serde(default)]
        cited: Vec<PointId>,
    },
    /// The finaliser added tasks instead of answering: the swarm goes on.
    DeclineFinalise {
        claim: Claim,
    },
    /// `central`: the orchestrator sets the context of the next wave.
    Broadcast {
        claim: Claim,
        context: String,
    },
    Report {
        report: Report,
    },
    /// Keeps the participant's claim leased while it works without other requests.
    Heartbeat,
    /// The participant is leaving: its open claim goes back to the queue.
    Leave,
    /// The participant cannot go on (its provider is unusable): the run fails.
    Fatal {
        message: String,
    },
}

impl Request {
    /// The claim a request acts under, if any (fencing checks it).
    pub fn claim(&self) -> Option<&Claim> {
        match self {
            Request::Propose { claim, .. }
            | Request::Finish { claim, .. }
            | Request::Abandon { claim }
            | Request::FinalAnswer { claim, .. }
            | Request::DeclineFinalise { claim }
            | Request::Broadcast { claim, .. } => Some(claim),
            _ => None,
        }
    }
}

/// A request as it travels: who sends it and an id unique per sender (a repeated id gets
/// the first answer again, so a retried publication is never applied twice).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestEnvelope {
    pub agent: AgentId,
    pub id: u64,
    pub request: Request,
}

/// The task a claim hands out, as the participant needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskBrief {
    pub id: TaskId,
    pub title: String,
    #[serde(default)]
    pub detail: String,
    pub origin: Origin,
    /// This claim's attempt (1 for the first).
    pub attempt: u32,
    /// The latest human note (re-enqueue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Why a claim got no work now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitReason {
    /// The human paused the swarm.
    Paused,
    /// The participant still holds a claim.
    ClaimOpen,
    /// Nothing queued; others are still working (or finalising).
    NoWork,
}

impl WaitReason {
    pub fn describe(self) -> &'static str {
        match self {
            WaitReason::Paused => "the swarm is paused by the human; wait and ask again",
            WaitReason::ClaimOpen => "you already hold a claim: finish or abandon it first",
            WaitReason::NoWork => {
                "no task is queued now; others are still working and may add some"
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "grant", rename_all = "snake_case")]
pub enum ClaimReply {
    Task {
        claim: Claim,
        task: TaskBrief,
    },
    Finalise {
        claim: Claim,
        /// The finaliser may add tasks instead of answering.
        may_add_tasks: bool,
        /// Why this finalise turn is special (the budget ran out, ...).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
        /// `false`: continue the participant's previous finalise conversation (the
        /// `central` orchestrator keeps one growing conversation across waves).
        fresh: bool,
        /// `central`: the tasks finished since the orchestrator's last turn.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        wave: Vec<TaskId>,
    },
    Wait {
        reason: WaitReason,
    },
    /// No more work for this participant: the run is over, or the swarm shrank.
    Stop,
}

/// The verifier's answer on one proposed point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub point: PointId,
    pub verified: bool,
    /// Why it was rejected, or what the verifier noted (a corrected location, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Verdict {
    /// The verdict as its author reads it in a tool result.
    pub fn message(&self, notes: &[String]) -> String {
        let mut msg = if self.verified {
            format!("{} verified and shared with the other agents.", self.point)
        } else {
            format!(
                "{} was REJECTED and is not shared: {}. Fix it (exact quotes from the cited \
source) and record it again, or record what you know as a `partial`.",
                self.point,
                self.note.as_deref().unwrap_or("no reason given")
            )
        };
        if self.verified
            && let Some(note) = &self.note
        {
            msg.push_str(" Verifier: ");
            msg.push_str(note);
        }
        for note in notes {
            msg.push_str(" Note: ");
            msg.push_str(note);
        }
        msg
    }
}

/// What an `add_task` call answers, for every kind of participant.
pub fn added_text(task: &str, existing: bool) -> String {
    if existing {
        format!(
            "{task} with the same title and detail is already queued or in progress; nothing was added."
        )
    } else {
        format!("Added {task} to the queue.")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    Claim(ClaimReply),
    Verdicts {
        verdicts: Vec<Verdict>,
    },
    TaskAdded {
        task: TaskId,
        /// The same task (title and detail) was already queued or in progress: this is it,
        /// and nothing was added.
        #[serde(default)]
        existing: bool,
    },
    Ok,
    /// The request was not applied; `reason` says why (a revoked claim, a cap, the run is
    /// over, ...), worded for the participant.
    Refused {
        reason: String,
    },
}

impl Reply {
    pub fn refused(reason: impl Into<String>) -> Reply {
        Reply::Refused {
            reason: reason.into(),
        }
    }

    /// `Ok(())` for [`Reply::Ok`], the reason otherwise.
    pub fn into_result(self) -> Result<(), String> {
        match self {
            Reply::Ok => Ok(()),
            Reply::Refused { reason } => Err(reason),
            other => Err(format!("unexpected reply from the board: {other:?}")),
        }
    }
}

/// Human steering, as the TUI, the tests and remote terminals send it. Each becomes an
/// event (or nothing, once the run is over).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "control", rename_all = "snake_case")]
pub enum Control {
    Pause,
    Resume,
    /// A human constraint point, delivered to working agents at their next turn.
    InjectConstraint {
        text: String,
    },
    /// Return a task to the queue; a claiming agent's work on it is revoked.
    Requeue {
        task: TaskId,
        #[serde(default)]
        note: Option<String>,
    },
    Cancel {
        task: TaskId,
        #[serde(default)]
        note: Option<String>,
    },
    AddTask {
        title: String,
        #[serde(default)]
        detail: String,
    },
    SetAgents {
        count: usize,
    },
    /// Stop the run now: agents are cancelled and the run finishes as cancelled.
    Stop,
    /// Leave the run unfinished and resumable: agents are cancelled, the log is synced, and
    /// no `run_finished` is written (`delm resume` continues it).
    Detach,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_as_tagged_json() {
        let req = RequestEnvelope {
            agent: "a1".into(),
            id: 7,
            request: Request::Finish {
                claim: Claim::Task {
                    task: "T3".into(),
                    attempt: 2,
                },
                outcome: TaskOutcome::Done,
                result: "ok".into(),
            },
        };
        let text = serde_json::to_string(&req).unwrap();
        assert!(text.contains(r#""op":"finish""#), "{text}");
        assert!(text.contains(r#""kind":"task""#), "{text}");
        let back: RequestEnvelope = serde_json::from_str(&text).unwrap();
        assert_eq!(back, req);
        let ctl: Control = serde_json::from_str(r#"{"control":"set_agents","count":3}"#).unwrap();
        assert_eq!(ctl, Control::SetAgents { count: 3 });
    }

    #[test]
    fn verdict_messages_say_what_happened() {
        let ok = Verdict {
            point: "P2".into(),
            verified: true,
            note: Some("quote found at lines 4-5".into()),
        };
        assert!(ok.message(&[]).contains("P2 verified"));
        assert!(ok.message(&[]).contains("lines 4-5"));
        let no = Verdict {
            point: "P3".into(),
            verified: false,
            note: Some("the quote is not in a.txt".into()),
        };
        let msg = no.message(&["headline cut to 25 words".into()]);
        assert!(msg.contains("REJECTED") && msg.contains("not in a.txt"));
        assert!(msg.contains("headline cut"));
    }
}
