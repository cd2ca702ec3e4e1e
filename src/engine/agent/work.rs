//! A work task: tool turns with the model until it finishes. A turn's tool calls run in
//! order, except that every `record_point` of the turn goes to the board in one proposal
//! (one verification pass) and `finish_task` runs last: a turn that records a point and
//! finishes is finished only if all its points were accepted, so a rejected point is never
//! lost behind a finished task.

use super::args::{compact, plain_text_point, str_arg};
use super::{Agent, Stop, ToolFailure, Turns};
use crate::engine::client::Revocation;
use crate::engine::point_args::{parse_record_point, parse_tool_args};
use crate::engine::protocol::{Claim, PointDraft, Reply, Request, TaskBrief};
use crate::engine::tools::ToolContext;
use crate::event::{AgentStatus, CallPurpose, TaskOutcome};
use crate::llm::{Message, ToolCall};
use crate::text::clip;
use serde_json::Value;

/// Turns before the end of a task's budget at which the agent is told to wrap up.
const WRAP_UP_TURNS: u32 = 2;

/// How one turn ended.
enum TurnEnd {
    /// Go on with the next turn.
    Continue,
    /// `finish_task` was accepted with this result.
    Finished(String),
}

/// The verdicts of one proposal, as the author reads them.
struct Proposal {
    messages: Vec<String>,
    rejected: Vec<String>,
}

impl Agent {
    pub(super) async fn work(&mut self, claim: Claim, task: TaskBrief, revocation: Revocation) {
        let limit = self.deps.cfg.max_turns_per_task;
        let (mut message, seen) = self.task_message(&task);
        message.push_str(&format!(
            "\n(You have {limit} model turns for this task. You may send your last \
`record_point` calls and `finish_task` in one turn: the task finishes only if every point \
of that turn is accepted.)"
        ));
        let mut turns = Turns {
            req: self.request(
                CallPurpose::Work,
                self.work_tools.clone(),
                vec![Message::user(message)],
            ),
            claim,
            revocation,
            purpose: CallPurpose::Work,
            seen,
            compacted: false,
            early: Default::default(),
        };
        let mut recorded = 0usize;
        let mut nudged = false;
        let mut last_text = String::new();
        for turn in 0..limit {
            if turn > 0 {
                self.deliver_updates(&mut turns);
                if limit - turn == WRAP_UP_TURNS {
                    turns.req.messages.push(Message::user(format!(
                        "(turn {} of {limit}: record what you have and call finish_task.)",
                        turn + 1
                    )));
                }
            }
            self.compact_if_long(&mut turns);
            let resp = match self.call_model(&mut turns).await {
                Ok(r) => r,
                Err(stop) => return self.stopped(stop, &turns.claim).await,
            };
            if !resp.text.trim().is_empty() {
                last_text = resp.text.clone();
            }
            if resp.tool_calls.is_empty() {
                // Calls that ran early stand even if the finished reply lost them.
                let unmatched = turns.early.unmatched_note();
                let text = resp.text.trim().to_string();
                let cut = resp.stop == crate::llm::StopReason::Length;
                if cut || (!nudged && !text.is_empty()) {
                    // A cut reply is continued; a plain-text reply gets one reminder that
                    // the work is done with tools, before its text is taken as the result.
                    nudged |= !cut;
                    turns.req.messages.push(Message::assistant(
                        resp.text.clone(),
                        resp.tool_calls.clone(),
                    ));
                    turns.req.messages.extend(unmatched.map(Message::user));
                    turns.req.messages.push(Message::user(if cut {
                        "(Your reply was cut off at the output limit. Continue exactly where it \
stopped, or call a tool.)"
                    } else {
                        "(Please use the tools: record what you found with `record_point` \
(cite exact quotes) and end with `finish_task`. If you are done, call `finish_task` now \
with your result.)"
                    }));
                    continue;
                }
                // A model that keeps answering in plain text still completes the task: its
                // text is the result and becomes a `partial` proposal.
                if !text.is_empty() && recorded == 0 {
                    let draft = plain_text_point(&text);
                    if let Err(stop) = self.propose(&turns, vec![draft]).await {
                        return self.stopped(stop, &turns.claim).await;
                    }
                }
                let result = if text.is_empty() {
                    "(the model returned no text)".to_string()
                } else {
                    text
                };
                return self.finish(&turns.claim, TaskOutcome::Done, result).await;
            }
            turns.req.messages.push(resp.assistant_message());
            match self
                .run_turn(&mut turns, &resp.tool_calls, &mut recorded)
                .await
            {
                Ok(TurnEnd::Continue) => {}
                Ok(TurnEnd::Finished(result)) => {
                    return self.finish(&turns.claim, TaskOutcome::Done, result).await;
                }
                Err(stop) => return self.stopped(stop, &turns.claim).await,
            }
        }
        let result = format!(
            "stopped after {limit} model turns without finish_task; last message: {}",
            clip(last_text.trim(), 300)
        );
        self.finish(&turns.claim, TaskOutcome::Failed, result).await
    }

    /// Run one turn's tool calls and answer each in the conversation, in call order.
    async fn run_turn(
        &mut self,
        turns: &mut Turns,
        calls: &[ToolCall],
        recorded: &mut usize,
    ) -> Result<TurnEnd, Stop> {
        let mut outputs: Vec<Option<Result<String, String>>> = vec![None; calls.len()];
        let parsed: Vec<Result<Value, String>> = calls
            .iter()
            .map(|c| parse_tool_args(&c.arguments))
            .collect();
        let mut drafts: Vec<(usize, PointDraft)> = Vec::new();
        let mut finish: Option<(usize, String)> = None;
        let mut refused: Vec<String> = Vec::new();
        let max_calls = self.deps.cfg.max_calls_per_turn;
        for (i, (call, args)) in calls.iter().zip(&parsed).enumerate() {
            if i >= max_calls {
                outputs[i] = Some(Err(format!(
                    "not run: a turn may make at most {max_calls} tool calls; send the rest in \
the next turn"
                )));
                continue;
            }
            self.step_boundary(&turns.revocation).await?;
            let args = match args {
                Ok(a) => a,
                Err(e) => {
                    if call.name == "record_point" {
                        refused.push(format!("call {} (its arguments)", i + 1));
                    }
                    outputs[i] = Some(Err(e.clone()));
                    continue;
                }
            };
            if let Some(out) = turns.early.take(call) {
                // An `add_task` that ran while the reply streamed.
                outputs[i] = Some(out);
                continue;
            }
            match call.name.as_str() {
                "record_point" => match parse_record_point(args) {
                    Ok(d) => drafts.push((i, d)),
                    Err(e) => {
                        refused.push(format!("call {}", i + 1));
                        outputs[i] = Some(Err(e));
                    }
                },
                "finish_task" if finish.is_none() => {
                    let result = str_arg(args, "result").unwrap_or("(no result given)");
                    finish = Some((i, result.to_string()));
                }
                "finish_task" => {
                    outputs[i] = Some(Err("finish_task was already called in this turn".into()))
                }
                _ => match self.work_tool(call, args, turns).await {
                    Ok(text) => outputs[i] = Some(Ok(text)),
                    Err(ToolFailure::Model(e)) => outputs[i] = Some(Err(e)),
                    Err(ToolFailure::Stop(stop)) => return Err(stop),
                },
            }
        }
        if !drafts.is_empty() {
            let (index, drafts): (Vec<usize>, Vec<PointDraft>) = drafts.into_iter().unzip();
            *recorded += index.len();
            let proposal = self.propose(turns, drafts).await?;
            for (i, message) in index.into_iter().zip(proposal.messages) {
                outputs[i] = Some(Ok(message));
            }
            refused.extend(proposal.rejected);
        }
        let mut end = TurnEnd::Continue;
        if let Some((i, result)) = finish {
            outputs[i] = Some(if refused.is_empty() {
                end = TurnEnd::Finished(result);
                Ok("Task finished.".to_string())
            } else {
                Err(format!(
                    "finish_task was not performed: {} of this turn {} not accepted (see above). \
Fix it and record it again, or record what you know as a `partial`, then call finish_task.",
                    refused.join(", "),
                    if refused.len() == 1 { "was" } else { "were" }
                ))
            });
        }
        for ((call, args), out) in calls.iter().zip(parsed).zip(outputs) {
            let out = out.unwrap_or_else(|| Err("not run".into()));
            self.answer_tool(turns, call, args, out);
        }
        if let Some(note) = turns.early.unmatched_note() {
            turns.req.messages.push(Message::user(note));
        }
        Ok(end)
    }

    /// Keep a long conversation within bounds before the context window forces it: older
    /// tool outputs collapse to a pointer, the head (system prompt, tools, task message)
    /// stays byte-identical so a provider's prompt cache keeps matching it.
    fn compact_if_long(&self, turns: &mut Turns) {
        let chars: usize = turns.req.messages.iter().map(|m| m.content.len()).sum();
        if chars > self.deps.cfg.compact_after_chars {
            compact(&mut turns.req.messages);
        }
    }

    async fn work_tool(
        &mut self,
        call: &ToolCall,
        args: &Value,
        turns: &Turns,
    ) -> Result<String, ToolFailure> {
        match call.name.as_str() {
            "expand" => self.expand(args),
            "add_task" => self.add_task(args).await,
            "final_answer" => Err(ToolFailure::Model(
                "final_answer is only available in the finalise turn; use finish_task".into(),
            )),
            name => {
                let ctx = ToolContext {
                    agent: self.id.clone(),
                    task: turns.claim.task().map(str::to_string),
                };
                let call = self.deps.workspace.call(&ctx, name, args);
                let result = tokio::select! {
                    r = call => r,
                    _ = turns.revocation.revoked() => return Err(ToolFailure::Stop(Stop::Revoked)),
                };
                match result {
                    Some(r) => r.map_err(ToolFailure::Model),
                    None => Err(ToolFailure::Model(format!(
                        "there is no tool `{}`; use one of the tools offered",
                        clip(name, 80)
                    ))),
                }
            }
        }
    }

    /// Propose points found on the current claim and wait for the board's verdicts.
    async fn propose(&mut self, turns: &Turns, drafts: Vec<PointDraft>) -> Result<Proposal, Stop> {
        let notes: Vec<Vec<String>> = drafts.iter().map(|d| d.notes.clone()).collect();
        let count = drafts.len();
        self.set_status(AgentStatus::Verifying);
        let reply = self
            .ask(Request::Propose {
                claim: turns.claim.clone(),
                points: drafts,
            })
            .await;
        self.set_status(AgentStatus::Working);
        match reply {
            Some(Reply::Verdicts { verdicts }) => Ok(Proposal {
                messages: verdicts
                    .iter()
                    .zip(&notes)
                    .map(|(v, n)| v.message(n))
                    .collect(),
                rejected: verdicts
                    .iter()
                    .filter(|v| !v.verified)
                    .map(|v| v.point.clone())
                    .collect(),
            }),
            Some(Reply::Refused { .. }) | None if turns.revocation.is_revoked() => {
                Err(Stop::Revoked)
            }
            Some(Reply::Refused { reason }) => Ok(Proposal {
                messages: vec![format!("the point was not recorded: {reason}"); count],
                rejected: vec!["the proposal".to_string()],
            }),
            _ => Err(Stop::Revoked),
        }
    }
}
