//! The finalise turn: the one participant that finished last reads the whole shared
//! context and writes the final answer (or adds tasks, and the swarm goes on). In
//! `central` runs this is the orchestrator's turn, planning or aggregating a wave.

use super::args::{mentioned_ids, str_arg};
use super::{Agent, Stop, Turns, failure_text, tools};
use crate::engine::client::Revocation;
use crate::engine::point_args::parse_tool_args;
use crate::engine::protocol::{Claim, Reply, Request};
use crate::event::{AgentStatus, CallPurpose, Coordination};
use crate::llm::{Message, ToolCall};
use crate::text::clip;
use serde_json::Value;

impl Agent {
    pub(super) async fn finalise(
        &mut self,
        claim: Claim,
        message: String,
        may_add_tasks: bool,
        revocation: Revocation,
    ) {
        // The orchestrator (central) sees the workspace only through its workers.
        let tools = tools::protocol_tools(self.coordination, true, may_add_tasks).into();
        let mut messages = std::mem::take(&mut self.memory);
        messages.push(Message::user(message));
        let mut turns = Turns {
            req: self.request(CallPurpose::Finalise, tools, messages),
            claim,
            revocation,
            purpose: CallPurpose::Finalise,
            seen: 0,
            compacted: false,
            early: Default::default(),
        };
        let mut last_text = String::new();
        for _ in 0..self.deps.cfg.max_turns_per_task {
            let resp = match self.call_model(&mut turns).await {
                Ok(r) => r,
                Err(Stop::Revoked) => {
                    self.status = AgentStatus::Idle;
                    let _ = self
                        .ask(Request::Abandon {
                            claim: turns.claim.clone(),
                        })
                        .await;
                    return;
                }
                // Without its finalise turn the run cannot answer: it fails, resumable.
                Err(Stop::Fatal(message) | Stop::TaskFailed(message)) => {
                    let _ = self.ask(Request::Fatal { message }).await;
                    return;
                }
            };
            if !resp.text.trim().is_empty() {
                last_text = resp.text.trim().to_string();
            }
            if resp.tool_calls.is_empty() {
                // Plain text in the finalise turn is the answer.
                self.submit_plain_answer(&turns.claim, &last_text).await;
                return;
            }
            turns.req.messages.push(resp.assistant_message());
            let mut added = false;
            let mut answered = false;
            for call in &resp.tool_calls {
                let args = parse_tool_args(&call.arguments);
                // An `add_task` may have run already, while the reply streamed.
                let out = match turns.early.take(call) {
                    Some(out) => out,
                    None => {
                        self.finalise_tool(&turns.claim, call, &args, may_add_tasks, &mut answered)
                            .await
                    }
                };
                added |= call.name == "add_task" && out.is_ok();
                self.answer_tool(&mut turns, call, args, out);
                if answered {
                    return;
                }
            }
            if let Some(note) = turns.early.unmatched_note() {
                added = true;
                turns.req.messages.push(Message::user(note));
            }
            if added {
                self.status = AgentStatus::Idle;
                self.memory = std::mem::take(&mut turns.req.messages);
                let _ = self
                    .ask(Request::DeclineFinalise {
                        claim: turns.claim.clone(),
                    })
                    .await;
                return;
            }
        }
        self.submit_plain_answer(&turns.claim, &last_text).await;
    }

    async fn finalise_tool(
        &mut self,
        claim: &Claim,
        call: &ToolCall,
        args: &Result<Value, String>,
        may_add_tasks: bool,
        answered: &mut bool,
    ) -> Result<String, String> {
        let args = args.as_ref().map_err(String::clone)?;
        match call.name.as_str() {
            "expand" => self.expand(args).map_err(failure_text),
            "broadcast" if self.coordination == Coordination::Central => {
                let context = str_arg(args, "context").unwrap_or("").to_string();
                self.ask(Request::Broadcast {
                    claim: claim.clone(),
                    context,
                })
                .await
                .map_or(Err("the run is over".to_string()), Reply::into_result)
                .map(|()| "Broadcast set for the next wave.".to_string())
            }
            "add_task" if may_add_tasks => self.add_task(args).await.map_err(failure_text),
            "final_answer" => {
                let answer = str_arg(args, "answer")
                    .filter(|a| !a.trim().is_empty())
                    .ok_or("`answer` is required")?
                    .to_string();
                let cited: Vec<String> = args["cited"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(|s| s.trim().to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                let result = self
                    .ask(Request::FinalAnswer {
                        claim: claim.clone(),
                        answer,
                        cited,
                    })
                    .await
                    .map_or(Err("the run is over".to_string()), Reply::into_result);
                *answered = result.is_ok();
                result.map(|()| "Final answer recorded.".to_string())
            }
            other => Err(format!(
                "`{}` is not available in the finalise turn; use final_answer{}",
                clip(other, 80),
                if may_add_tasks { " or add_task" } else { "" }
            )),
        }
    }

    /// The finaliser answered in plain text: cite the verified ids it mentions.
    async fn submit_plain_answer(&mut self, claim: &Claim, text: &str) {
        let answer = if text.is_empty() {
            "(the model wrote no final answer)".to_string()
        } else {
            text.to_string()
        };
        let mut cited: Vec<String> = mentioned_ids(&answer);
        for _ in 0..2 {
            let result = self
                .ask(Request::FinalAnswer {
                    claim: claim.clone(),
                    answer: answer.clone(),
                    cited: cited.clone(),
                })
                .await;
            match result {
                Some(Reply::Refused { .. }) if !cited.is_empty() => cited.clear(),
                _ => return,
            }
        }
    }
}
