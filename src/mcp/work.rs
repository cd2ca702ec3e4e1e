//! What the tools that act on a claim do: claim a task, expand a point, record a point
//! (verified board-side), add a task, finish, and run a workspace tool for the agent.

use super::read;
use super::swarm::{Call, Participant, Swarm, ToolReply, claim_of, paused_refusal};
use super::tools::CLAIM;
use crate::engine::prompt;
use crate::engine::protocol::{Claim, ClaimReply, PointDraft, Reply, Report, Request};
use crate::engine::tools::ToolContext;
use crate::event::{AgentStatus, PointStatus, TaskOutcome};
use crate::text::clip;
use serde_json::{Map, Value};

impl Swarm {
    pub(super) async fn claim(&self, me: &Participant, call: &Call) -> Result<ToolReply, String> {
        if let Some(claim) = claim_of(&self.view(), &me.handle) {
            return Ok(self.task_reply(me, &claim, true));
        }
        let lost = read::lost_claim(self, me);
        match me.ask(call, Request::Claim).await? {
            Reply::Claim(ClaimReply::Task { claim, .. }) => {
                let mut reply = self.task_reply(me, &claim, false);
                if let Some(lost) = lost {
                    reply.text = format!("({lost})\n{}", reply.text);
                }
                Ok(reply)
            }
            Reply::Claim(ClaimReply::Finalise { claim, .. }) => {
                // The single finalise turn is for delm's own agents; give it back.
                let _ = me
                    .ask(&Call::new(CLAIM, Map::new()), Request::Abandon { claim })
                    .await;
                Ok(ToolReply::ok(
                    "no task is queued now; call read_board with wait_s to wait for work",
                ))
            }
            Reply::Claim(ClaimReply::Wait { reason }) => {
                let text = match reason {
                    crate::engine::protocol::WaitReason::Paused => {
                        "paused, wait: the human paused the swarm. Call read_board with wait_s \
until it says the swarm resumed, then claim again."
                            .to_string()
                    }
                    other => format!(
                        "no task for you now: {}. Call read_board with wait_s to wait for work.",
                        other.describe()
                    ),
                };
                Ok(ToolReply::ok(text))
            }
            Reply::Claim(ClaimReply::Stop) => Ok(ToolReply::ok(
                "the run is over: there is no more work. You may disconnect.",
            )),
            Reply::Refused { reason } => Err(reason),
            other => Err(format!("unexpected answer from the board: {other:?}")),
        }
    }

    /// The task message of `claim` (the task and the context relevant to it), as a native
    /// agent gets it; the agent's read cursor moves past what it shows.
    fn task_reply(&self, me: &Participant, claim: &Claim, again: bool) -> ToolReply {
        let view = self.view();
        let Some(task) = claim.task().and_then(|t| view.state.task(t)) else {
            return ToolReply::error("the claimed task is not on the board");
        };
        let attempt = match claim {
            Claim::Task { attempt, .. } => *attempt,
            Claim::Finalise { .. } => 1,
        };
        let brief = crate::engine::scheduler::brief_of(task, attempt);
        let head = if again {
            format!(
                "You already hold {}; finish it before claiming another.\n",
                task.id
            )
        } else {
            format!("You claimed {} (attempt {attempt}).\n", task.id)
        };
        let body = prompt::task_message(&view, &brief, self.settings.context_budget_tokens);
        read::mark_read(&view, me);
        let text = format!(
            "{head}{body}\nWork on it with your own tools and the workspace's; record_point \
what you find (findings need exact quotes), then finish_task with a short result."
        );
        ToolReply::ok(text)
    }

    pub(super) fn expand(&self, me: &Participant, call: &Call) -> Result<ToolReply, String> {
        let point = call
            .str_arg("point")
            .filter(|p| !p.is_empty())
            .ok_or("`point` (a point id like P3) is required")?;
        let level = call.str_arg("level").unwrap_or("summary");
        let view = self.view();
        let coordination = view.state.coordination;
        let found = view
            .state
            .point(point)
            .filter(|p| coordination.may_see(&me.handle, &p.point.author, false));
        match found {
            Some(p) if p.status == PointStatus::Proposed => {
                Err(format!("{point} is still being verified"))
            }
            Some(p) => prompt::expand_point(p, level).map(ToolReply::ok),
            None => Err(format!("there is no point {}", clip(point, 40))),
        }
    }

    /// The claim a call about the current task acts under; `Err` says what to do instead.
    /// A retry acts under whatever claim it first had: the board answers it from memory
    /// without looking at the claim.
    fn current_claim(&self, me: &Participant, retry: bool) -> Result<Claim, String> {
        if let Some(claim) = claim_of(&self.view(), &me.handle) {
            return Ok(claim);
        }
        if retry {
            return Ok(Claim::Task {
                task: "(retry)".into(),
                attempt: 0,
            });
        }
        Err(match read::lost_claim(self, me) {
            Some(lost) => format!("{lost}; nothing was recorded. Claim a new task with {CLAIM}."),
            None => format!("you hold no task: claim one with {CLAIM} first"),
        })
    }

    pub(super) async fn record(&self, me: &Participant, call: &Call) -> Result<ToolReply, String> {
        let retry = me.is_retry(call);
        if !retry && self.view().state.paused {
            return Ok(paused_refusal());
        }
        let draft = parse_point(&Value::Object(call.args.clone()))?;
        let claim = self.current_claim(me, retry)?;
        // The same point again (a client that timed out and sent it anew, without a
        // request_id): its verdict, not a second copy.
        if !retry && let Some(known) = self.same_point(me, &claim, &draft, None) {
            return Ok(known);
        }
        let notes = draft.notes.clone();
        me.report(Report::Status {
            status: AgentStatus::Verifying,
        });
        let sent_after = self.view().state.last_seq;
        let ask = me.ask(
            call,
            Request::Propose {
                claim: claim.clone(),
                points: vec![draft.clone()],
            },
        );
        let reply = tokio::time::timeout(self.settings.verdict_wait, ask).await;
        me.report(Report::Status {
            status: AgentStatus::Working,
        });
        let Ok(reply) = reply else {
            // The board verifies it all the same; the verdict shows in read_board.
            return Ok(self.pending_point(me, &claim, &draft, sent_after).await);
        };
        match reply? {
            Reply::Verdicts { verdicts } => {
                let v = verdicts
                    .first()
                    .ok_or("the board returned no verdict for the point")?;
                Ok(ToolReply::ok(v.message(&notes)))
            }
            Reply::Refused { reason } => Err(format!("the point was not recorded: {reason}")),
            other => Err(format!("unexpected answer from the board: {other:?}")),
        }
    }

    /// The answer for a point `me` proposed on `claim` with this headline and evidence:
    /// any earlier one that was not rejected (a rejected point may be sent again), or with
    /// `after` (a log seq) the one proposed after it, whatever its verdict.
    fn same_point(
        &self,
        me: &Participant,
        claim: &Claim,
        draft: &PointDraft,
        after: Option<u64>,
    ) -> Option<ToolReply> {
        let view = self.view();
        let task = view.state.task(claim.task()?)?;
        let same_evidence = |e: &[crate::event::Evidence]| {
            e.len() == draft.evidence.len()
                && e.iter().zip(&draft.evidence).all(|(a, b)| {
                    a.source.trim() == b.source.trim() && a.quote.trim() == b.quote.trim()
                })
        };
        let known = task
            .points
            .iter()
            .rev()
            .filter_map(|id| view.state.point(id))
            .filter(|p| after.is_none_or(|seq| p.seq > seq))
            .find(|p| {
                p.point.author == me.handle
                    && p.point.headline.trim() == draft.headline.trim()
                    && same_evidence(&p.point.evidence)
                    && (after.is_some() || p.status != PointStatus::Rejected)
            })?;
        let verdict = crate::engine::protocol::Verdict {
            point: known.point.id.clone(),
            verified: known.status == PointStatus::Verified,
            note: known.note.clone(),
        };
        Some(ToolReply::ok(match known.status {
            PointStatus::Proposed => still_verifying(&known.point.id),
            _ => verdict.message(&[]),
        }))
    }

    /// The answer for a point that was sent but not judged yet: it names the point once
    /// the board has recorded it (which follows the request at once).
    async fn pending_point(
        &self,
        me: &Participant,
        claim: &Claim,
        draft: &PointDraft,
        sent_after: u64,
    ) -> ToolReply {
        let mut events = self.engine.subscribe();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Some(known) = self.same_point(me, claim, draft, Some(sent_after)) {
                return known;
            }
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
                _ => return ToolReply::ok(still_verifying("The point")),
            }
        }
    }

    pub(super) async fn add_task(
        &self,
        me: &Participant,
        call: &Call,
    ) -> Result<ToolReply, String> {
        if !me.is_retry(call) && self.view().state.paused {
            return Ok(paused_refusal());
        }
        let title = call
            .str_arg("title")
            .filter(|t| !t.is_empty())
            .ok_or("`title` is required")?
            .to_string();
        let detail = call.str_arg("detail").unwrap_or("").to_string();
        match me.ask(call, Request::AddTask { title, detail }).await? {
            Reply::TaskAdded { task, existing } => Ok(ToolReply::ok(
                crate::engine::protocol::added_text(&task, existing),
            )),
            Reply::Refused { reason } => Err(reason),
            other => Err(format!("unexpected answer from the board: {other:?}")),
        }
    }

    pub(super) async fn finish(&self, me: &Participant, call: &Call) -> Result<ToolReply, String> {
        let retry = me.is_retry(call);
        if !retry && self.view().state.paused {
            return Ok(paused_refusal());
        }
        let outcome = match call
            .str_arg("outcome")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("") | Some("done") => TaskOutcome::Done,
            Some("failed") | Some("failure") => TaskOutcome::Failed,
            Some(other) => {
                return Err(format!(
                    "`outcome` is \"done\" or \"failed\" (got `{}`)",
                    clip(other, 40)
                ));
            }
        };
        let result = call
            .str_arg("result")
            .filter(|r| !r.is_empty())
            .unwrap_or("(no result given)")
            .to_string();
        let claim = self.current_claim(me, retry)?;
        let task = claim.task().unwrap_or("").to_string();
        match me
            .ask(
                call,
                Request::Finish {
                    claim,
                    outcome,
                    result,
                },
            )
            .await?
        {
            Reply::Ok => Ok(ToolReply::ok(format!(
                "{} finished. Claim the next task with {CLAIM}, or read_board with wait_s to \
wait for work.",
                if retry { "The task" } else { &task }
            ))),
            Reply::Refused { reason } => Err(reason),
            other => Err(format!("unexpected answer from the board: {other:?}")),
        }
    }

    /// A workspace tool run for this agent (its worktree, its command record).
    pub(super) async fn run_workspace_tool(
        &self,
        me: &Participant,
        call: &Call,
        name: &str,
    ) -> Result<ToolReply, String> {
        if name == "run_command" && self.view().state.paused {
            return Ok(paused_refusal());
        }
        let ctx = ToolContext {
            agent: me.handle.clone(),
            task: claim_of(&self.view(), &me.handle).and_then(|c| c.task().map(str::to_string)),
        };
        let mut args = call.args.clone();
        args.remove("agent");
        args.remove("request_id");
        let args = Value::Object(args);
        let run = self.workspace.call(&ctx, name, &args);
        let result = tokio::select! {
            r = run => r,
            _ = call.cancel.cancelled() => return Err("the call was cancelled".into()),
        };
        match result {
            Some(r) => r.map(ToolReply::ok),
            None => Err(format!("the workspace has no tool `{}`", clip(name, 80))),
        }
    }
}

fn still_verifying(point: &str) -> String {
    format!(
        "{point} is still being verified (the verifier is busy); it is shared once it holds. \
Do not record it again: read_board lists your points with their verdicts (wait_s wakes on \
the verdict)."
    )
}

/// `record_point` arguments → a draft, read the same way as a native agent's.
fn parse_point(args: &Value) -> Result<PointDraft, String> {
    crate::engine::point_args::parse_record_point(args)
}
