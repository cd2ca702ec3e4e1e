//! One agent: claim a task, work on it in tool turns with the model, propose and verify
//! points, finish; or take the single finalise turn. Agents talk only to the board.

use super::board::{AgentCmd, BoardLink, ClaimReply, Proposed};
use super::coordination::{self, Coordination, ORCHESTRATOR};
use super::prompt;
use super::tools::{ToolContext, Workspace};
use super::verify::{self, JudgeVerdict};
use super::{RunConfig, StreamDelta};
use crate::event::{
    AgentId, AgentStatus, CallPurpose, Event, Evidence, Point, PointKind, TaskOutcome, TaskView,
    VerifyMode,
};
use crate::llm::retry::{RetryNotice, RetryingProvider};
use crate::llm::{ChatRequest, ChatResponse, LlmError, Message, Role, ToolCall, ToolSpec, Usage};
use crate::text::clip;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Turns a call's token usage into dollars; `None` when the model's price is unknown.
pub type PriceFn = Arc<dyn Fn(Usage) -> Option<f64> + Send + Sync>;

/// What every agent of a run shares.
pub struct AgentDeps {
    pub cfg: RunConfig,
    pub llm: Arc<RetryingProvider>,
    /// Usage → dollars; `None` when the model's price is unknown.
    pub price: PriceFn,
    pub workspace: Arc<dyn Workspace>,
}

/// Tool output longer than this is cut before it goes back to the model.
const MAX_TOOL_OUTPUT: usize = 16_000;
/// How much of a tool's output the `tool_call` event keeps.
const EVENT_OUTPUT_EXCERPT: usize = 600;

pub(crate) async fn run(id: AgentId, link: BoardLink, deps: Arc<AgentDeps>) {
    let coordination = Coordination::parse(&deps.cfg.coordination).unwrap_or_default();
    let mut agent = Agent {
        id,
        link,
        deps,
        status: AgentStatus::Idle,
        coordination,
        memory: Vec::new(),
        system: String::new(),
        work_tools: Arc::from([]),
    };
    // Both are fixed for the agent's life: built once, not for every task.
    agent.system = agent.system_prompt();
    agent.work_tools = agent
        .protocol_tools(false, false)
        .into_iter()
        .chain(agent.deps.workspace.tool_specs())
        .collect();
    // Announce the agent at once, so an idle agent is visible too.
    agent.link.emit(Event::AgentStatus {
        agent: agent.id.clone(),
        status: AgentStatus::Idle,
        task: None,
    });
    agent.main_loop().await;
    let _ = agent.link.cmds.send(AgentCmd::Exited {
        agent: agent.id.clone(),
    });
}

struct Agent {
    id: AgentId,
    link: BoardLink,
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
    /// The claim was cancelled (re-enqueue, cancel, budget, run stopped).
    Cancelled,
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
    task: Option<String>,
    purpose: CallPurpose,
    cancel: CancellationToken,
    /// Board seq up to which this agent has seen the shared context.
    seen: u64,
    compacted: bool,
}

impl Agent {
    fn set_status(&mut self, status: AgentStatus, task: Option<String>) {
        if self.status != status {
            self.status = status;
            self.link.emit(Event::AgentStatus {
                agent: self.id.clone(),
                status,
                task,
            });
        }
    }

    async fn main_loop(&mut self) {
        loop {
            if self.link.run_cancel.is_cancelled() {
                return;
            }
            let idle_cancel = self.link.run_cancel.clone();
            if self.wait_while_paused(&idle_cancel, None).await.is_err() {
                return;
            }
            let mut changed = self.link.changed.clone();
            changed.borrow_and_update();
            let agent = self.id.clone();
            let Some(reply) = self
                .link
                .ask(|reply| AgentCmd::Claim { agent, reply })
                .await
            else {
                return;
            };
            match reply {
                ClaimReply::Stop => return,
                ClaimReply::Wait => {
                    self.set_status(AgentStatus::Idle, None);
                    // The `central` orchestrator waits for its wave to end, not for work.
                    let takes_work = self.id != ORCHESTRATOR;
                    tokio::select! {
                        r = changed.changed() => if r.is_err() { return },
                        _ = self.link.work.notified(), if takes_work => {}
                        _ = self.link.run_cancel.cancelled() => return,
                    }
                }
                ClaimReply::Task {
                    task,
                    message,
                    cancel,
                    seen,
                } => {
                    self.status = AgentStatus::Working;
                    self.work(*task, message, cancel, seen).await;
                }
                ClaimReply::Finalise {
                    message,
                    may_add_tasks,
                    cancel,
                    seen,
                    fresh,
                } => {
                    self.status = AgentStatus::Finalising;
                    if fresh {
                        self.memory.clear();
                    }
                    self.finalise(message, may_add_tasks, cancel, seen).await;
                }
            }
        }
    }

    /// A step boundary: wait here while the swarm is paused. `Err` if cancelled meanwhile.
    async fn wait_while_paused(
        &mut self,
        cancel: &CancellationToken,
        task: Option<&str>,
    ) -> Result<(), ()> {
        // The usual case, not paused, without cloning the receiver.
        if !*self.link.paused.borrow() {
            return if cancel.is_cancelled() {
                Err(())
            } else {
                Ok(())
            };
        }
        let mut paused = self.link.paused.clone();
        let before = self.status;
        self.set_status(AgentStatus::Paused, task.map(str::to_string));
        while *paused.borrow_and_update() {
            tokio::select! {
                r = paused.changed() => if r.is_err() { return Err(()) },
                _ = cancel.cancelled() => return Err(()),
            }
        }
        let resume_as = if before == AgentStatus::Paused {
            AgentStatus::Idle
        } else {
            before
        };
        self.set_status(resume_as, task.map(str::to_string));
        if cancel.is_cancelled() {
            Err(())
        } else {
            Ok(())
        }
    }

    fn protocol_tools(&self, finalise: bool, may_add_tasks: bool) -> Vec<ToolSpec> {
        let all = self.all_protocol_tools(finalise, may_add_tasks);
        let keep: &[&str] = match (self.coordination, finalise) {
            (Coordination::Delm, _) => return all,
            // Workers only report back; the orchestrator only plans, passes context, answers.
            (Coordination::Central, false) => &["finish_task"],
            (Coordination::Central, true) => &["add_task", "broadcast", "final_answer"],
            (Coordination::Isolated, false) => &["expand", "record_point", "finish_task"],
            (Coordination::Isolated, true) => &["expand", "final_answer"],
        };
        all.into_iter()
            .filter(|t| keep.contains(&t.name.as_str()))
            .collect()
    }

    fn all_protocol_tools(&self, finalise: bool, may_add_tasks: bool) -> Vec<ToolSpec> {
        let mut tools = vec![ToolSpec {
            name: "expand".into(),
            description: "Read more of a shared point: its summary, or its full evidence.".into(),
            parameters: json!({"type": "object", "properties": {
                "point": {"type": "string", "description": "Point id, e.g. P12"},
                "level": {"type": "string", "enum": ["summary", "evidence"]}},
                "required": ["point", "level"]}),
        }];
        if !finalise {
            tools.push(ToolSpec {
                name: "record_point".into(),
                description: "Publish a point to the shared context. It is verified against \
its evidence before other agents see it; the result tells you whether it was accepted."
                    .into(),
                parameters: json!({"type": "object", "properties": {
                    "kind": {"type": "string", "enum": ["finding", "partial", "failure", "constraint"]},
                    "headline": {"type": "string", "description": "At most 25 words, self-contained"},
                    "summary": {"type": "string", "description": "At most 150 words"},
                    "evidence": {"type": "array", "items": {"type": "object", "properties": {
                        "source": {"type": "string", "description": "Path relative to the workspace root, cmd:<id> of a command run, patch:<agent id> for your edits, or a verified point id"},
                        "lines": {"type": "string", "description": "Line range a-b (files only)"},
                        "quote": {"type": "string", "description": "Exact text copied from the source"}},
                        "required": ["source", "quote"]}},
                    "supersedes": {"type": "string", "description": "Id of a point this one corrects"}},
                    "required": ["kind", "headline", "summary"]}),
            });
        }
        if !finalise || may_add_tasks {
            tools.push(ToolSpec {
                name: "add_task".into(),
                description: "Add a focused task to the shared queue for any agent to claim."
                    .into(),
                parameters: json!({"type": "object", "properties": {
                    "title": {"type": "string"}, "detail": {"type": "string"}},
                    "required": ["title"]}),
            });
        }
        if finalise && self.coordination == Coordination::Central {
            tools.push(ToolSpec {
                name: "broadcast".into(),
                description: "Set the context every worker of the next wave receives with its \
task (replaces the previous broadcast)."
                    .into(),
                parameters: json!({"type": "object", "properties": {
                    "context": {"type": "string"}}, "required": ["context"]}),
            });
        }
        if finalise {
            tools.push(ToolSpec {
                name: "final_answer".into(),
                description:
                    "Write the final answer to the goal, citing the point ids it rests on.".into(),
                parameters: json!({"type": "object", "properties": {
                    "answer": {"type": "string"},
                    "cited": {"type": "array", "items": {"type": "string"}}},
                    "required": ["answer", "cited"]}),
            });
        } else {
            tools.push(ToolSpec {
                name: "finish_task".into(),
                description:
                    "Finish your current task with a short result naming the points you recorded."
                        .into(),
                parameters: json!({"type": "object", "properties": {
                    "result": {"type": "string"}}, "required": ["result"]}),
            });
        }
        tools
    }

    fn system_prompt(&self) -> String {
        let cfg = &self.deps.cfg;
        let workspace = self.deps.workspace.describe();
        match self.coordination {
            Coordination::Delm => {
                prompt::system_prompt(&self.id, cfg.agents, &cfg.goal, &workspace)
            }
            Coordination::Central if self.id == ORCHESTRATOR => {
                coordination::orchestrator_intro(&cfg.goal, cfg.agents, &workspace)
            }
            mode => coordination::solo_system_prompt(&self.id, &cfg.goal, &workspace, mode),
        }
    }

    /// The request of a work or finalise conversation: this agent's system prompt, `tools`,
    /// and the conversation so far.
    fn request(
        &self,
        purpose: CallPurpose,
        tools: Arc<[ToolSpec]>,
        messages: Vec<Message>,
    ) -> ChatRequest {
        ChatRequest::new(
            purpose,
            self.system.clone(),
            messages,
            tools,
            self.deps.cfg.max_output_tokens,
        )
    }

    /// One model call with retries, streaming deltas to the UI, and the `llm_call` event.
    async fn call_model(&mut self, turns: &mut Turns) -> Result<ChatResponse, Stop> {
        loop {
            match self
                .model_call(&turns.req, turns.task.clone(), turns.purpose, &turns.cancel)
                .await
            {
                Ok(resp) => return Ok(resp),
                Err(LlmError::ContextLength(msg)) if !turns.compacted => {
                    tracing::warn!(agent = %self.id, "context length exceeded, compacting: {msg}");
                    compact(&mut turns.req.messages);
                    turns.compacted = true;
                }
                Err(e) => return Err(self.stop_for(e, turns.task.clone())),
            }
        }
    }

    fn stop_for(&self, e: LlmError, task: Option<String>) -> Stop {
        match e {
            LlmError::Cancelled => Stop::Cancelled,
            LlmError::ContextLength(msg) => {
                self.link.emit(Event::Error {
                    agent: Some(self.id.clone()),
                    task,
                    message: format!("context window exceeded even after compaction: {msg}"),
                });
                Stop::ContextFull
            }
            LlmError::Transient { message, .. } => Stop::Fatal(format!(
                "the model provider is unreachable after {} attempts ({message}); check the \
network, --base-url and the provider's status, then `delm resume` the session",
                self.deps.llm.policy().max_attempts
            )),
            LlmError::Auth(m) | LlmError::Fatal(m) | LlmError::Deadline(m) => Stop::Fatal(m),
        }
    }

    async fn model_call(
        &mut self,
        req: &ChatRequest,
        task: Option<String>,
        purpose: CallPurpose,
        cancel: &CancellationToken,
    ) -> Result<ChatResponse, LlmError> {
        if self
            .wait_while_paused(cancel, task.as_deref())
            .await
            .is_err()
        {
            return Err(LlmError::Cancelled);
        }
        let started = Instant::now();
        // Both callbacks live only as long as the call: they borrow what they need.
        let (link, agent) = (&self.link, &self.id);
        let on_delta = |text: &str| {
            if link.deltas.receiver_count() > 0 {
                let _ = link.deltas.send(StreamDelta {
                    agent: agent.clone(),
                    text: text.to_string(),
                });
            }
        };
        let on_retry = |n: RetryNotice| {
            link.emit(Event::LlmRetry {
                agent: agent.clone(),
                attempt: n.attempt,
                delay_ms: n.delay.as_millis() as u64,
                reason: n.reason,
            });
        };
        let resp = self
            .deps
            .llm
            .chat(req, &on_delta, &on_retry, cancel)
            .await?;
        self.link.emit(Event::LlmCall {
            agent: self.id.clone(),
            task: task.clone(),
            purpose,
            model: self.deps.llm.model().to_string(),
            tokens_in: resp.usage.input_tokens,
            tokens_out: resp.usage.output_tokens,
            cost_usd: (self.deps.price)(resp.usage),
            latency_ms: started.elapsed().as_millis() as u64,
        });
        if !resp.text.trim().is_empty() {
            self.link.emit(Event::AgentMessage {
                agent: self.id.clone(),
                task,
                text: resp.text.clone(),
            });
        }
        Ok(resp)
    }

    /// Deliver new shared points (and human constraints) as a message before the next turn.
    async fn deliver_updates(&mut self, turns: &mut Turns) {
        let agent = self.id.clone();
        let since = turns.seen;
        if let Some((update, seq)) = self
            .link
            .ask(|reply| AgentCmd::Updates {
                agent,
                since,
                reply,
            })
            .await
        {
            turns.seen = seq;
            if let Some(text) = update {
                turns.req.messages.push(Message::user(text));
            }
        }
    }

    async fn work(
        &mut self,
        task: TaskView,
        message: String,
        cancel: CancellationToken,
        seen: u64,
    ) {
        let mut turns = Turns {
            req: self.request(
                CallPurpose::Work,
                self.work_tools.clone(),
                vec![Message::user(message)],
            ),
            task: Some(task.id.clone()),
            purpose: CallPurpose::Work,
            cancel: cancel.clone(),
            seen,
            compacted: false,
        };
        let mut recorded = 0usize;
        let mut last_text = String::new();
        for turn in 0..self.deps.cfg.max_turns_per_task {
            if turn > 0 {
                self.deliver_updates(&mut turns).await;
            }
            let resp = match self.call_model(&mut turns).await {
                Ok(r) => r,
                Err(stop) => return self.stopped(stop, &task.id),
            };
            if !resp.text.trim().is_empty() {
                last_text = resp.text.clone();
            }
            if resp.tool_calls.is_empty() {
                // A model that answers in plain text still completes the task: its text is
                // the result and becomes a `partial` proposal.
                let text = resp.text.trim().to_string();
                if !text.is_empty() && recorded == 0 {
                    let point = plain_text_point(&text);
                    if let Err(stop) = self.propose(point, &task.id, &cancel).await {
                        return self.stopped(stop, &task.id);
                    }
                }
                let result = if text.is_empty() {
                    "(the model returned no text)".to_string()
                } else {
                    text
                };
                return self.finish(&task.id, TaskOutcome::Done, result);
            }
            turns.req.messages.push(resp.assistant_message());
            let mut finished: Option<String> = None;
            for call in &resp.tool_calls {
                if self
                    .wait_while_paused(&cancel, Some(&task.id))
                    .await
                    .is_err()
                {
                    return self.stopped(Stop::Cancelled, &task.id);
                }
                let args = parse_args(&call.arguments);
                let out = match self.work_tool(call, &args, &task.id, &cancel).await {
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
                    Err(ToolFailure::Stop(stop)) => return self.stopped(stop, &task.id),
                };
                self.answer_tool(&mut turns, call, args, Some(&task.id), out);
            }
            if let Some(result) = finished {
                return self.finish(&task.id, TaskOutcome::Done, result);
            }
        }
        let limit = self.deps.cfg.max_turns_per_task;
        self.finish(
            &task.id,
            TaskOutcome::Failed,
            format!(
                "stopped after {limit} model turns without finish_task; last message: {}",
                clip(last_text.trim(), 300)
            ),
        )
    }

    fn finish(&mut self, task: &str, outcome: TaskOutcome, result: String) {
        self.status = AgentStatus::Idle;
        let _ = self.link.cmds.send(AgentCmd::Finish {
            agent: self.id.clone(),
            task: task.to_string(),
            outcome,
            result,
        });
    }

    fn stopped(&mut self, stop: Stop, task: &str) {
        match stop {
            Stop::Cancelled => {
                self.status = AgentStatus::Idle;
                let _ = self.link.cmds.send(AgentCmd::Abandon {
                    agent: self.id.clone(),
                });
            }
            Stop::ContextFull => self.finish(
                task,
                TaskOutcome::Failed,
                "the conversation no longer fits the model's context window".into(),
            ),
            Stop::Fatal(message) => {
                let _ = self.link.cmds.send(AgentCmd::Fatal {
                    agent: self.id.clone(),
                    message,
                });
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
        task: Option<&str>,
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
        self.link.emit(Event::ToolCall {
            agent: self.id.clone(),
            task: task.map(str::to_string),
            call_id: call.id.clone(),
            tool: call.name.clone(),
            args,
            ok,
            output: clip(&text, EVENT_OUTPUT_EXCERPT),
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
        task: &str,
        cancel: &CancellationToken,
    ) -> Result<ToolOutcome, ToolFailure> {
        let args = args.as_ref().map_err(|e| ToolFailure::Model(e.clone()))?;
        match call.name.as_str() {
            "expand" => self.expand(args).await.map(ToolOutcome::Text),
            "record_point" => {
                let point = point_from_args(args, &self.id, task).map_err(ToolFailure::Model)?;
                let verdict = self
                    .propose(point, task, cancel)
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
                    task: Some(task.to_string()),
                };
                let call = self.deps.workspace.call(&ctx, name, args);
                let result = tokio::select! {
                    r = call => r,
                    _ = cancel.cancelled() => return Err(ToolFailure::Stop(Stop::Cancelled)),
                };
                match result {
                    Some(r) => r.map(ToolOutcome::Text).map_err(ToolFailure::Model),
                    None => Err(ToolFailure::Model(format!(
                        "there is no tool `{name}`; use one of the tools offered"
                    ))),
                }
            }
        }
    }

    async fn expand(&self, args: &Value) -> Result<String, ToolFailure> {
        let point = str_arg(args, "point")
            .ok_or_else(|| ToolFailure::Model("`point` (a point id like P3) is required".into()))?
            .to_string();
        let level = str_arg(args, "level").unwrap_or("summary").to_string();
        let agent = self.id.clone();
        self.link
            .ask(|reply| AgentCmd::Expand {
                agent,
                point,
                level,
                reply,
            })
            .await
            .unwrap_or_else(|| Err("the run is over".into()))
            .map_err(ToolFailure::Model)
    }

    async fn add_task(&self, args: &Value) -> Result<String, ToolFailure> {
        let title = str_arg(args, "title")
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| ToolFailure::Model("`title` is required".into()))?
            .trim()
            .to_string();
        let detail = str_arg(args, "detail").unwrap_or("").to_string();
        let agent = self.id.clone();
        let id = self
            .link
            .ask(|reply| AgentCmd::AddTask {
                agent,
                title,
                detail,
                reply,
            })
            .await
            .ok_or(ToolFailure::Stop(Stop::Cancelled))?;
        Ok(format!("Added {id} to the queue."))
    }

    /// Propose a point, verify it, and tell the board the verdict. Returns the message for
    /// the author.
    async fn propose(
        &mut self,
        point: Point,
        task: &str,
        cancel: &CancellationToken,
    ) -> Result<String, Stop> {
        let Some(Proposed { id, cited, related }) = self
            .link
            .ask(|reply| AgentCmd::Propose {
                point: point.clone(),
                reply,
            })
            .await
        else {
            return Err(Stop::Cancelled);
        };
        let point = Point {
            id: id.clone(),
            ..point
        };
        let mode = self.deps.cfg.verify;
        self.set_status(AgentStatus::Verifying, Some(task.to_string()));
        let verdict = match mode {
            VerifyMode::Off => Ok((point.evidence.clone(), None)),
            VerifyMode::Evidence | VerifyMode::Judge => {
                match verify::check_evidence(self.deps.workspace.as_ref(), &point, &cited) {
                    Err(reason) => Err(reason),
                    Ok(checked) if mode == VerifyMode::Evidence => Ok((checked.evidence, None)),
                    Ok(checked) => self.judge(&point, checked, &related, task, cancel).await?,
                }
            }
        };
        self.set_status(AgentStatus::Working, Some(task.to_string()));
        let message = match &verdict {
            Ok(_) => format!("{id} verified and shared with the other agents."),
            Err(reason) => format!(
                "{id} was REJECTED and is not shared: {reason}. Fix it (exact quotes from the \
cited source) and record it again, or record what you know as a `partial`."
            ),
        };
        let _ = self
            .link
            .cmds
            .send(AgentCmd::Verdict { point: id, verdict });
        Ok(message)
    }

    #[allow(clippy::type_complexity)]
    async fn judge(
        &mut self,
        point: &Point,
        checked: verify::CheckedEvidence,
        related: &[crate::event::PointView],
        task: &str,
        cancel: &CancellationToken,
    ) -> Result<Result<(Vec<Evidence>, Option<String>), String>, Stop> {
        if point.kind == PointKind::Finding {
            let missing = verify::unsupported_numbers(point, &checked);
            if !missing.is_empty() {
                return Ok(Err(format!(
                    "the headline states {} but the cited evidence does not",
                    missing.join(", ")
                )));
            }
        }
        let req = ChatRequest {
            temperature: Some(0.0),
            ..ChatRequest::new(
                CallPurpose::Judge,
                verify::JUDGE_SYSTEM,
                vec![Message::user(verify::judge_prompt(
                    point, &checked, related,
                ))],
                Arc::from([]),
                300,
            )
        };
        let resp = match self
            .model_call(&req, Some(task.to_string()), CallPurpose::Judge, cancel)
            .await
        {
            Ok(r) => r,
            Err(e) => return Err(self.stop_for(e, Some(task.to_string()))),
        };
        Ok(match verify::parse_judge(&resp.text) {
            Some(JudgeVerdict::Approve(reason)) => Ok((
                checked.evidence,
                (!reason.is_empty()).then_some(format!("judge: {reason}")),
            )),
            Some(JudgeVerdict::Reject(reason)) => Err(format!("the judge rejected it: {reason}")),
            Some(JudgeVerdict::Redundant { of, reason }) => Err(format!(
                "redundant with {}: {reason}",
                if of.is_empty() {
                    "an existing point"
                } else {
                    &of
                }
            )),
            // An unreadable judge answer must not publish a point it did not approve.
            None => Err(format!(
                "the judge's answer could not be read (\"{}\"); record the point again",
                clip(resp.text.trim(), 120)
            )),
        })
    }

    async fn finalise(
        &mut self,
        message: String,
        may_add_tasks: bool,
        cancel: CancellationToken,
        seen: u64,
    ) {
        // The orchestrator (central) sees the workspace only through its workers.
        let tools = self.protocol_tools(true, may_add_tasks).into();
        let mut messages = std::mem::take(&mut self.memory);
        messages.push(Message::user(message));
        let mut turns = Turns {
            req: self.request(CallPurpose::Finalise, tools, messages),
            task: None,
            purpose: CallPurpose::Finalise,
            cancel: cancel.clone(),
            seen,
            compacted: false,
        };
        let mut last_text = String::new();
        for _ in 0..self.deps.cfg.max_turns_per_task {
            let resp = match self.call_model(&mut turns).await {
                Ok(r) => r,
                Err(Stop::Cancelled) => {
                    self.status = AgentStatus::Idle;
                    let _ = self.link.cmds.send(AgentCmd::Abandon {
                        agent: self.id.clone(),
                    });
                    return;
                }
                Err(stop @ (Stop::Fatal(_) | Stop::ContextFull)) => {
                    let message = match stop {
                        Stop::Fatal(m) => m,
                        _ => "the finalise turn no longer fits the model's context window".into(),
                    };
                    let _ = self.link.cmds.send(AgentCmd::Fatal {
                        agent: self.id.clone(),
                        message,
                    });
                    return;
                }
            };
            if !resp.text.trim().is_empty() {
                last_text = resp.text.trim().to_string();
            }
            if resp.tool_calls.is_empty() {
                // Plain text in the finalise turn is the answer.
                self.submit_plain_answer(&last_text).await;
                return;
            }
            turns.req.messages.push(resp.assistant_message());
            let mut added = false;
            let mut answered = false;
            for call in &resp.tool_calls {
                let args = parse_args(&call.arguments);
                let out = self
                    .finalise_tool(call, &args, may_add_tasks, &mut added, &mut answered)
                    .await;
                self.answer_tool(&mut turns, call, args, None, out);
                if answered {
                    return;
                }
            }
            if added {
                self.status = AgentStatus::Idle;
                self.memory = std::mem::take(&mut turns.req.messages);
                let _ = self.link.cmds.send(AgentCmd::FinaliseDeclined {
                    agent: self.id.clone(),
                });
                return;
            }
        }
        self.submit_plain_answer(&last_text).await;
    }

    async fn finalise_tool(
        &mut self,
        call: &ToolCall,
        args: &Result<Value, String>,
        may_add_tasks: bool,
        added: &mut bool,
        answered: &mut bool,
    ) -> Result<String, String> {
        let args = args.as_ref().map_err(String::clone)?;
        match call.name.as_str() {
            "expand" => self.expand(args).await.map_err(failure_text),
            "broadcast" if self.coordination == Coordination::Central => {
                let context = str_arg(args, "context").unwrap_or("").to_string();
                let _ = self.link.cmds.send(AgentCmd::Broadcast { context });
                Ok("Broadcast set for the next wave.".to_string())
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
                let agent = self.id.clone();
                let result = self
                    .link
                    .ask(|reply| AgentCmd::FinalAnswer {
                        agent,
                        answer,
                        cited,
                        reply,
                    })
                    .await
                    .unwrap_or_else(|| Err("the run is over".into()));
                *answered = result.is_ok();
                result.map(|_| "Final answer recorded.".to_string())
            }
            other => Err(format!(
                "`{other}` is not available in the finalise turn; use final_answer{}",
                if may_add_tasks { " or add_task" } else { "" }
            )),
        }
    }

    /// The finaliser answered in plain text: cite the verified ids it mentions.
    async fn submit_plain_answer(&mut self, text: &str) {
        let answer = if text.is_empty() {
            "(the model wrote no final answer)".to_string()
        } else {
            text.to_string()
        };
        let mut cited: Vec<String> = mentioned_ids(&answer);
        for _ in 0..2 {
            let agent = self.id.clone();
            let (a, c) = (answer.clone(), cited.clone());
            let result = self
                .link
                .ask(|reply| AgentCmd::FinalAnswer {
                    agent,
                    answer: a,
                    cited: c,
                    reply,
                })
                .await;
            match result {
                Some(Err(_)) => cited.clear(),
                _ => return,
            }
        }
    }
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

fn parse_args(raw: &str) -> Result<Value, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_str::<Value>(raw) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err("the arguments must be a JSON object".into()),
        Err(e) => Err(format!(
            "the arguments are not valid JSON ({e}); send one JSON object matching the tool's schema"
        )),
    }
}

fn str_arg<'a>(args: &'a Value, key: &str) -> Option<&'a str> {
    args.get(key).and_then(Value::as_str)
}

fn point_from_args(args: &Value, author: &str, task: &str) -> Result<Point, String> {
    let kind = match str_arg(args, "kind").unwrap_or("") {
        "finding" => PointKind::Finding,
        "partial" => PointKind::Partial,
        "failure" => PointKind::Failure,
        "constraint" => PointKind::Constraint,
        other => {
            return Err(format!(
                "`kind` must be finding, partial, failure or constraint (got `{other}`)"
            ));
        }
    };
    let headline = str_arg(args, "headline").unwrap_or("").trim().to_string();
    if headline.is_empty() {
        return Err("`headline` is required (at most 25 words)".into());
    }
    let summary = str_arg(args, "summary").unwrap_or("").trim().to_string();
    let mut evidence = Vec::new();
    if let Some(items) = args.get("evidence") {
        let items = items
            .as_array()
            .ok_or("`evidence` must be an array of {source, lines, quote}")?;
        for (i, item) in items.iter().enumerate() {
            let source = str_arg(item, "source")
                .filter(|s| !s.trim().is_empty())
                .ok_or_else(|| format!("evidence {} needs a `source`", i + 1))?;
            let lines = match item.get("lines") {
                Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            evidence.push(Evidence {
                source: source.trim().to_string(),
                lines,
                quote: str_arg(item, "quote").unwrap_or("").to_string(),
                resolved: None,
            });
        }
    }
    Ok(Point {
        id: String::new(),
        kind,
        headline: truncate_words(&headline, 40),
        summary,
        evidence,
        author: author.to_string(),
        task: Some(task.to_string()),
        supersedes: str_arg(args, "supersedes")
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim().to_string()),
    })
}

fn truncate_words(text: &str, max: usize) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.len() <= max {
        return words.join(" ");
    }
    format!("{}…", words[..max].join(" "))
}

/// The `partial` point proposed for a plain-text task result.
fn plain_text_point(text: &str) -> Point {
    let first = text
        .split_inclusive(['.', '\n'])
        .next()
        .unwrap_or(text)
        .trim();
    Point {
        id: String::new(),
        kind: PointKind::Partial,
        headline: truncate_words(first, 25),
        summary: truncate_words(text, 150),
        evidence: Vec::new(),
        author: String::new(),
        task: None,
        supersedes: None,
    }
}

fn mentioned_ids(text: &str) -> Vec<String> {
    static POINT_ID: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"\bP\d+\b").expect("a valid pattern"));
    let mut ids: Vec<String> = Vec::new();
    for m in POINT_ID.find_iter(text) {
        if !ids.iter().any(|id| id == m.as_str()) {
            ids.push(m.as_str().to_string());
        }
    }
    ids
}

fn cap_output(text: String) -> String {
    if text.len() <= MAX_TOOL_OUTPUT {
        return text;
    }
    let mut cut = MAX_TOOL_OUTPUT;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(
        "{}\n[output cut at {MAX_TOOL_OUTPUT} of {} bytes; ask for a narrower range]",
        &text[..cut],
        text.len()
    )
}

/// Make a conversation fit again: older tool outputs are replaced by a pointer to the
/// shared context (their points survive there).
fn compact(messages: &mut [Message]) {
    let tool_positions: Vec<usize> = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| m.role == Role::Tool)
        .map(|(i, _)| i)
        .collect();
    let keep_from = tool_positions.len().saturating_sub(2);
    for &i in &tool_positions[..keep_from] {
        messages[i].content = "[older tool output removed to fit the context window; the \
points recorded from it remain in the shared context]"
            .into();
    }
    for m in messages.iter_mut() {
        if m.content.len() > 8_000 {
            m.content = clip(&m.content, 8_000);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_parse_errors_are_messages() {
        assert!(
            parse_args("{\"a\": 1")
                .unwrap_err()
                .contains("not valid JSON")
        );
        assert!(parse_args("[1]").unwrap_err().contains("JSON object"));
        assert_eq!(parse_args("").unwrap(), json!({}));
    }

    #[test]
    fn record_point_args() {
        let p = point_from_args(
            &json!({"kind": "finding", "headline": "h", "summary": "s",
                    "evidence": [{"source": "a.txt", "lines": "3-4", "quote": "q"}]}),
            "a1",
            "T1",
        )
        .unwrap();
        assert_eq!(p.evidence[0].lines.as_deref(), Some("3-4"));
        assert!(point_from_args(&json!({"kind": "fact", "headline": "h"}), "a1", "T1").is_err());
    }

    #[test]
    fn ids_mentioned_in_plain_answers() {
        assert_eq!(
            mentioned_ids("Per P3 and P12 (not XP4 or P5a), P3 again"),
            vec!["P3".to_string(), "P12".to_string()]
        );
    }

    #[test]
    fn compaction_keeps_recent_tool_outputs() {
        let mut msgs = vec![
            Message::user("task"),
            Message::tool("1", "old output"),
            Message::tool("2", "mid output"),
            Message::tool("3", "new output"),
        ];
        compact(&mut msgs);
        assert!(msgs[1].content.contains("removed"));
        assert_eq!(msgs[3].content, "new output");
    }
}
