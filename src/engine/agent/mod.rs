//! One agent: claim a task, work on it in tool turns with the model, propose points (the
//! board verifies them), finish; or take the single finalise turn. An agent talks only to
//! its [`BoardClient`]; it builds its prompts from the view that client folds.

pub(crate) mod args;
pub(crate) mod tools;

use super::client::{BoardClient, Revocation};
use super::model_call;
use super::policy::{self, ORCHESTRATOR};
use super::protocol::{Claim, ClaimReply, PointDraft, Reply, Report, Request, TaskBrief};
use super::store;
use super::tools::{ToolContext, Workspace};
use super::{Model, PriceFn, RunConfig, prompt};
use crate::event::{AgentStatus, CallPurpose, Coordination, PointStatus, TaskOutcome};
use crate::llm::{ChatRequest, ChatResponse, LlmError, Message, ToolCall, ToolSpec};
use crate::text::clip;
use args::{
    cap_output, compact, draft_from_args, mentioned_ids, parse_args, plain_text_point, str_arg,
};
use serde_json::Value;
use std::sync::Arc;

/// What every agent of a run shares.
pub struct AgentDeps {
    pub cfg: Arc<RunConfig>,
    pub llm: Model,
    /// Usage → dollars; `None` when the model's price is unknown.
    pub price: PriceFn,
    pub workspace: Arc<dyn Workspace>,
}

/// Run one agent until the board tells it to stop or the run ends.
pub async fn run(client: Arc<dyn BoardClient>, deps: Arc<AgentDeps>) {
    let coordination = deps.cfg.coordination;
    let mut agent = Agent {
        id: client.agent().to_string(),
        client,
        deps,
        status: AgentStatus::Idle,
        coordination,
        memory: Vec::new(),
        system: String::new(),
        work_tools: Arc::from([]),
    };
    // Both are fixed for the agent's life: built once, not for every task.
    agent.system = agent.system_prompt();
    agent.work_tools = tools::protocol_tools(coordination, false, false)
        .into_iter()
        .chain(agent.deps.workspace.tool_specs())
        .collect();
    // Announce the agent at once, so an idle agent is visible too.
    agent.report(Report::Status {
        status: AgentStatus::Idle,
    });
    agent.main_loop().await;
}

struct Agent {
    id: String,
    client: Arc<dyn BoardClient>,
    deps: Arc<AgentDeps>,
    status: AgentStatus,
    coordination: Coordination,
    /// The conversation of the last finalise turn (the `central` orchestrator continues it).
    memory: Vec<Message>,
    /// This agent's system prompt.
    system: String,
    /// The tools offered in work turns (protocol tools, then the workspace's).
    work_tools: Arc<[ToolSpec]>,
}

/// Why a task's work loop stopped early.
enum Stop {
    /// The claim was revoked (re-enqueue, cancel, budget, run stopped).
    Revoked,
    /// The conversation does not fit the context window even after compaction: the task
    /// fails, the run goes on.
    ContextFull,
    /// The provider cannot be used; the run fails.
    Fatal(String),
}

/// A work or finalise conversation in progress.
struct Turns {
    /// The request of the next call: system prompt, tools, and the conversation so far,
    /// which grows in place (no per-call copy of the conversation).
    req: ChatRequest,
    claim: Claim,
    revocation: Revocation,
    purpose: CallPurpose,
    /// Log seq up to which this agent has seen the shared context.
    seen: u64,
    compacted: bool,
}

enum ToolOutcome {
    Text(String),
    Recorded(String),
    Finished(String),
}

enum ToolFailure {
    /// An error message for the model (bad arguments, unknown tool, ...).
    Model(String),
    Stop(Stop),
}

fn failure_text(f: ToolFailure) -> String {
    match f {
        ToolFailure::Model(m) => m,
        ToolFailure::Stop(_) => "the run is stopping".into(),
    }
}

impl Agent {
    fn report(&self, report: Report) {
        self.client.notify(Request::Report { report });
    }

    fn set_status(&mut self, status: AgentStatus) {
        if self.status != status {
            self.status = status;
            self.report(Report::Status { status });
        }
    }

    async fn ask(&self, request: Request) -> Option<Reply> {
        self.client.send(request).await.map(|(reply, _)| reply)
    }

    async fn main_loop(&mut self) {
        let signals = self.client.signals().clone();
        loop {
            if signals.unpaused(None).await.is_err() {
                return;
            }
            let watch = signals.watch_changes();
            let Some((reply, revocation)) = self.client.send(Request::Claim).await else {
                return;
            };
            let revocation = revocation.unwrap_or_default();
            match reply {
                Reply::Claim(ClaimReply::Task { claim, task }) => {
                    self.status = AgentStatus::Working;
                    self.work(claim, task, revocation).await;
                }
                Reply::Claim(ClaimReply::Finalise {
                    claim,
                    may_add_tasks,
                    note,
                    fresh,
                    wave,
                }) => {
                    self.status = AgentStatus::Finalising;
                    if fresh {
                        self.memory.clear();
                    }
                    let message = self.finalise_message(&claim, may_add_tasks, note, &wave);
                    self.finalise(claim, message, may_add_tasks, revocation)
                        .await;
                }
                Reply::Claim(ClaimReply::Wait { .. }) => {
                    self.set_status(AgentStatus::Idle);
                    // The `central` orchestrator waits for its wave to end, not for work.
                    let takes_work = self.id != ORCHESTRATOR;
                    if !signals.wait_for_change(watch, takes_work).await {
                        return;
                    }
                }
                // `Stop`, or a reply no claim should get: either way this agent is done.
                _ => return,
            }
        }
    }

    /// A step boundary: wait here while the swarm is paused. `Err` if revoked meanwhile.
    async fn step_boundary(&mut self, revocation: &Revocation) -> Result<(), Stop> {
        let signals = self.client.signals().clone();
        if !signals.is_paused() {
            return if revocation.is_revoked() {
                Err(Stop::Revoked)
            } else {
                Ok(())
            };
        }
        let before = self.status;
        self.set_status(AgentStatus::Paused);
        let resumed = signals.unpaused(Some(revocation)).await;
        let resume_as = if before == AgentStatus::Paused {
            AgentStatus::Idle
        } else {
            before
        };
        self.set_status(resume_as);
        resumed.map_err(|()| Stop::Revoked)
    }

    fn system_prompt(&self) -> String {
        let cfg = &self.deps.cfg;
        let workspace = self.deps.workspace.describe();
        match self.coordination {
            Coordination::Delm => {
                prompt::system_prompt(&self.id, cfg.agents, &cfg.goal, &workspace)
            }
            Coordination::Central if self.id == ORCHESTRATOR => {
                policy::orchestrator_intro(&cfg.goal, cfg.agents, &workspace)
            }
            mode => policy::solo_system_prompt(&self.id, &cfg.goal, &workspace, mode),
        }
    }

    /// The first message of a task, from the shared view, and the seq it reflects.
    fn task_message(&self, task: &TaskBrief) -> (String, u64) {
        let view = store::read(self.client.view());
        let message = match self.coordination {
            Coordination::Delm => {
                prompt::task_message(&view, task, self.deps.cfg.context_budget_tokens)
            }
            Coordination::Central => policy::worker_message(task, &view.state.brief),
            Coordination::Isolated => policy::isolated_message(task),
        };
        (message, view.state.last_seq)
    }

    fn finalise_message(
        &self,
        claim: &Claim,
        may_add_tasks: bool,
        note: Option<String>,
        wave: &[String],
    ) -> String {
        let view = store::read(self.client.view());
        let note = note.unwrap_or_default();
        if self.coordination == Coordination::Central {
            let round = match claim {
                Claim::Finalise { round } => *round,
                Claim::Task { .. } => 1,
            };
            let mut message = if round == 1 {
                "Plan the first wave now.".to_string()
            } else {
                policy::wave_report(&view.state, wave, round - 1, may_add_tasks)
            };
            if !note.is_empty() {
                message.push_str(
                    "\nThe run's budget is spent: answer now with what the workers reported.",
                );
            }
            return message;
        }
        prompt::finalise_message(
            &view,
            self.deps.cfg.context_budget_tokens * 4,
            may_add_tasks,
            &note,
        )
    }

    /// The request of a work or finalise conversation: this agent's system prompt, `tools`,
    /// and the conversation so far.
    fn request(&self, tools: Arc<[ToolSpec]>, messages: Vec<Message>) -> ChatRequest {
        ChatRequest {
            system: self.system.clone(),
            messages,
            tools,
            max_tokens: self.deps.cfg.max_output_tokens,
            temperature: None,
        }
    }

    /// One model call with retries, streaming deltas to the UI, and its `llm_call` report.
    async fn call_model(&mut self, turns: &mut Turns) -> Result<ChatResponse, Stop> {
        loop {
            self.step_boundary(&turns.revocation).await?;
            match self
                .model_call(&turns.req, turns.purpose, &turns.revocation)
                .await
            {
                Ok(resp) => return Ok(resp),
                Err(LlmError::ContextLength(msg)) if !turns.compacted => {
                    tracing::warn!(agent = %self.id, "context length exceeded, compacting: {msg}");
                    compact(&mut turns.req.messages);
                    turns.compacted = true;
                }
                Err(e) => return Err(self.stop_for(e)),
            }
        }
    }

    fn stop_for(&self, e: LlmError) -> Stop {
        match e {
            LlmError::Cancelled => Stop::Revoked,
            LlmError::ContextLength(msg) => {
                self.report(Report::Message {
                    text: format!("context window exceeded even after compaction: {msg}"),
                });
                Stop::ContextFull
            }
            LlmError::Transient { message, .. } => Stop::Fatal(format!(
                "the model provider is unreachable after {} attempts ({message}); check the \
network, --base-url and the provider's status, then `delm resume` the session",
                self.deps.llm.policy().max_attempts
            )),
            LlmError::Auth(m) | LlmError::Fatal(m) => Stop::Fatal(m),
        }
    }

    async fn model_call(
        &self,
        req: &ChatRequest,
        purpose: CallPurpose,
        revocation: &Revocation,
    ) -> Result<ChatResponse, LlmError> {
        let client = &self.client;
        let on_delta = |text: &str| client.stream(text);
        let on_retry = |n| self.report(model_call::retry_report(n));
        let cancel = revocation.token();
        let (resp, call) = model_call::call(
            &self.deps.llm,
            &self.deps.price,
            req,
            purpose,
            &on_delta,
            &on_retry,
            &cancel,
        )
        .await?;
        self.report(call);
        if !resp.text.trim().is_empty() {
            self.report(Report::Message {
                text: resp.text.clone(),
            });
        }
        Ok(resp)
    }

    /// Deliver new shared points (and human constraints) as a message before the next turn.
    fn deliver_updates(&self, turns: &mut Turns) {
        let view = store::read(self.client.view());
        let fresh =
            view.context
                .published_since(turns.seen, &self.id, self.coordination.shares_context());
        turns.seen = view.state.last_seq;
        if let Some(text) = prompt::context_update(&view, &fresh) {
            turns.req.messages.push(Message::user(text));
        }
    }

    async fn work(&mut self, claim: Claim, task: TaskBrief, revocation: Revocation) {
        let (message, seen) = self.task_message(&task);
        let mut turns = Turns {
            req: self.request(self.work_tools.clone(), vec![Message::user(message)]),
            claim,
            revocation,
            purpose: CallPurpose::Work,
            seen,
            compacted: false,
        };
        let mut recorded = 0usize;
        let mut last_text = String::new();
        for turn in 0..self.deps.cfg.max_turns_per_task {
            if turn > 0 {
                self.deliver_updates(&mut turns);
            }
            let resp = match self.call_model(&mut turns).await {
                Ok(r) => r,
                Err(stop) => return self.stopped(stop, &turns.claim).await,
            };
            if !resp.text.trim().is_empty() {
                last_text = resp.text.clone();
            }
            if resp.tool_calls.is_empty() {
                // A model that answers in plain text still completes the task: its text is
                // the result and becomes a `partial` proposal.
                let text = resp.text.trim().to_string();
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
            turns.req.messages.push(Message::assistant(
                resp.text.clone(),
                resp.tool_calls.clone(),
            ));
            let mut finished: Option<String> = None;
            for call in &resp.tool_calls {
                if let Err(stop) = self.step_boundary(&turns.revocation).await {
                    return self.stopped(stop, &turns.claim).await;
                }
                let args = parse_args(&call.arguments);
                let out = match self.work_tool(call, &args, &turns).await {
                    Ok(ToolOutcome::Text(t)) => Ok(t),
                    Ok(ToolOutcome::Recorded(t)) => {
                        recorded += 1;
                        Ok(t)
                    }
                    Ok(ToolOutcome::Finished(result)) => {
                        finished = Some(result);
                        Ok("Task finished.".to_string())
                    }
                    Err(ToolFailure::Model(e)) => Err(e),
                    Err(ToolFailure::Stop(stop)) => {
                        return self.stopped(stop, &turns.claim).await;
                    }
                };
                self.answer_tool(&mut turns, call, args, out);
            }
            if let Some(result) = finished {
                return self.finish(&turns.claim, TaskOutcome::Done, result).await;
            }
        }
        let limit = self.deps.cfg.max_turns_per_task;
        let result = format!(
            "stopped after {limit} model turns without finish_task; last message: {}",
            clip(last_text.trim(), 300)
        );
        self.finish(&turns.claim, TaskOutcome::Failed, result).await
    }

    async fn finish(&mut self, claim: &Claim, outcome: TaskOutcome, result: String) {
        self.status = AgentStatus::Idle;
        // A refusal means the claim was revoked meanwhile: the board already moved on.
        let _ = self
            .ask(Request::Finish {
                claim: claim.clone(),
                outcome,
                result,
            })
            .await;
    }

    async fn stopped(&mut self, stop: Stop, claim: &Claim) {
        match stop {
            Stop::Revoked => {
                self.status = AgentStatus::Idle;
                let _ = self
                    .ask(Request::Abandon {
                        claim: claim.clone(),
                    })
                    .await;
            }
            Stop::ContextFull => {
                self.finish(
                    claim,
                    TaskOutcome::Failed,
                    "the conversation no longer fits the model's context window".into(),
                )
                .await
            }
            Stop::Fatal(message) => {
                let _ = self.ask(Request::Fatal { message }).await;
            }
        }
    }

    /// Record a tool answer in the conversation and in the log. `args` is the call's
    /// arguments as [`parse_args`] read them (parsed once per call, not again for the event).
    fn answer_tool(
        &self,
        turns: &mut Turns,
        call: &ToolCall,
        args: Result<Value, String>,
        out: Result<String, String>,
    ) {
        let ok = out.is_ok();
        let text = match out {
            Ok(t) => t,
            Err(e) => format!("ERROR: {e}"),
        };
        let text = cap_output(text);
        // The event keeps the arguments as sent: any JSON value, or the raw text when it is
        // not JSON (an empty string included).
        let args = match args {
            Ok(v) if !call.arguments.trim().is_empty() => v,
            _ => serde_json::from_str::<Value>(&call.arguments)
                .unwrap_or_else(|_| Value::String(call.arguments.clone())),
        };
        self.report(Report::ToolCall {
            call_id: call.id.clone(),
            tool: call.name.clone(),
            args,
            ok,
            output: clip(&text, super::limits::TOOL_OUTPUT_CHARS),
        });
        turns
            .req
            .messages
            .push(Message::tool(call.id.clone(), text));
    }

    async fn work_tool(
        &mut self,
        call: &ToolCall,
        args: &Result<Value, String>,
        turns: &Turns,
    ) -> Result<ToolOutcome, ToolFailure> {
        let args = args.as_ref().map_err(|e| ToolFailure::Model(e.clone()))?;
        match call.name.as_str() {
            "expand" => self.expand(args).map(ToolOutcome::Text),
            "record_point" => {
                let draft = draft_from_args(args).map_err(ToolFailure::Model)?;
                let verdict = self
                    .propose(turns, vec![draft])
                    .await
                    .map_err(ToolFailure::Stop)?;
                Ok(ToolOutcome::Recorded(verdict))
            }
            "add_task" => self.add_task(args).await.map(ToolOutcome::Text),
            "finish_task" => Ok(ToolOutcome::Finished(
                str_arg(args, "result")
                    .unwrap_or("(no result given)")
                    .to_string(),
            )),
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
                    Some(r) => r.map(ToolOutcome::Text).map_err(ToolFailure::Model),
                    None => Err(ToolFailure::Model(format!(
                        "there is no tool `{}`; use one of the tools offered",
                        clip(name, 80)
                    ))),
                }
            }
        }
    }

    /// `expand`: a point at the requested level, from the shared view.
    fn expand(&self, args: &Value) -> Result<String, ToolFailure> {
        let point = str_arg(args, "point")
            .ok_or_else(|| ToolFailure::Model("`point` (a point id like P3) is required".into()))?
            .trim();
        let level = str_arg(args, "level").unwrap_or("summary").trim();
        let view = store::read(self.client.view());
        let finaliser = self.status == AgentStatus::Finalising;
        let found = view.state.point(point).filter(|p| {
            self.coordination
                .may_see(&self.id, &p.point.author, finaliser)
        });
        match found {
            Some(p) if p.status == PointStatus::Proposed => Err(ToolFailure::Model(format!(
                "{point} is still being verified"
            ))),
            Some(p) => prompt::expand_point(p, level).map_err(ToolFailure::Model),
            None => Err(ToolFailure::Model(format!(
                "there is no point {}",
                clip(point, 40)
            ))),
        }
    }

    async fn add_task(&self, args: &Value) -> Result<String, ToolFailure> {
        let title = str_arg(args, "title")
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| ToolFailure::Model("`title` is required".into()))?
            .trim()
            .to_string();
        let detail = str_arg(args, "detail").unwrap_or("").to_string();
        match self.ask(Request::AddTask { title, detail }).await {
            Some(Reply::TaskAdded { task }) => Ok(format!("Added {task} to the queue.")),
            Some(Reply::Refused { reason }) => Err(ToolFailure::Model(reason)),
            _ => Err(ToolFailure::Stop(Stop::Revoked)),
        }
    }

    /// Propose points found on the current claim and wait for the board's verdicts.
    /// Returns the message for the author.
    async fn propose(&mut self, turns: &Turns, drafts: Vec<PointDraft>) -> Result<String, Stop> {
        let notes: Vec<Vec<String>> = drafts.iter().map(|d| d.notes.clone()).collect();
        self.set_status(AgentStatus::Verifying);
        let reply = self
            .ask(Request::Propose {
                claim: turns.claim.clone(),
                points: drafts,
            })
            .await;
        self.set_status(AgentStatus::Working);
        match reply {
            Some(Reply::Verdicts { verdicts }) => Ok(verdicts
                .iter()
                .zip(&notes)
                .map(|(v, n)| v.message(n))
                .collect::<Vec<_>>()
                .join("\n")),
            Some(Reply::Refused { reason }) if turns.revocation.is_revoked() => {
                tracing::debug!(agent = %self.id, "proposal refused: {reason}");
                Err(Stop::Revoked)
            }
            Some(Reply::Refused { reason }) => Ok(format!("the point was not recorded: {reason}")),
            _ => Err(Stop::Revoked),
        }
    }

    async fn finalise(
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
            req: self.request(tools, messages),
            claim,
            revocation,
            purpose: CallPurpose::Finalise,
            seen: 0,
            compacted: false,
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
                Err(stop @ (Stop::Fatal(_) | Stop::ContextFull)) => {
                    let message = match stop {
                        Stop::Fatal(m) => m,
                        _ => "the finalise turn no longer fits the model's context window".into(),
                    };
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
            turns.req.messages.push(Message::assistant(
                resp.text.clone(),
                resp.tool_calls.clone(),
            ));
            let mut added = false;
            let mut answered = false;
            for call in &resp.tool_calls {
                let args = parse_args(&call.arguments);
                let out = self
                    .finalise_tool(
                        &turns.claim,
                        call,
                        &args,
                        may_add_tasks,
                        &mut added,
                        &mut answered,
                    )
                    .await;
                self.answer_tool(&mut turns, call, args, out);
                if answered {
                    return;
                }
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
        added: &mut bool,
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
            "add_task" if may_add_tasks => {
                let r = self.add_task(args).await.map_err(failure_text);
                *added |= r.is_ok();
                r
            }
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
