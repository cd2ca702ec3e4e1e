//! One agent: claim a task, work on it in tool turns with the model, propose points (the
//! board verifies them), finish; or take the single finalise turn. An agent talks only to
//! its [`BoardClient`]; it builds its prompts from the view that client folds.

pub(crate) mod args;
mod early;
mod finalise;
pub(crate) mod tools;
mod work;

use super::client::{BoardClient, Revocation};
use super::model_call;
use super::policy::{self, ORCHESTRATOR, STANDBY_FINALISER};
use super::protocol::{Claim, ClaimReply, Reply, Report, Request, TaskBrief, added_text};
use super::store;
use super::tools::Workspace;
use super::{Model, PriceFn, RunConfig, prompt};
use crate::event::{AgentStatus, CallPurpose, Coordination, PointStatus, TaskOutcome};
use crate::llm::{ChatRequest, ChatResponse, Delta, LlmError, Message, ToolCall, ToolSpec};
use crate::text::clip;
use args::{cap_output, compact, str_arg};
use serde_json::Value;
use std::sync::Arc;

/// What every agent of a run shares.
pub struct AgentDeps {
    pub cfg: Arc<RunConfig>,
    pub llm: Model,
    /// Usage → dollars; `None` when the model's price is unknown.
    pub price: PriceFn,
    pub workspace: Arc<dyn Workspace>,
    /// When the run's time limit ends (`--time-limit`), if it has one.
    pub time_limit_at: Option<std::time::Instant>,
}

/// After a time limit the finaliser still gets this long to write the answer.
const FINALISE_GRACE: std::time::Duration = std::time::Duration::from_secs(120);

impl AgentDeps {
    /// The latest a model call may end. Work calls need none of their own: at the time
    /// limit the board revokes their claims, which cancels them and requeues the work. The
    /// finalise turn, which the limit itself starts, gets a grace period to write the answer
    /// and no more.
    fn deadline(&self, purpose: CallPurpose) -> Option<std::time::Instant> {
        let at = self.time_limit_at?;
        (purpose == CallPurpose::Finalise)
            .then(|| at.max(std::time::Instant::now()) + FINALISE_GRACE)
    }
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
    /// The task cannot go on (the conversation no longer fits the context window, a call
    /// ran out of time): it fails with this reason, the run goes on.
    TaskFailed(String),
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
    /// The `add_task` calls of this turn that ran while its reply streamed.
    early: early::EarlyCalls,
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
                    // The `central` orchestrator waits for its wave to end, and the standby
                    // finaliser for the queue to empty, not for work.
                    let takes_work = self.id != ORCHESTRATOR && self.id != STANDBY_FINALISER;
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
            Coordination::Delm => prompt::system_prompt(cfg.agents, &cfg.goal, &workspace),
            Coordination::Central if self.id == ORCHESTRATOR => {
                policy::orchestrator_intro(&cfg.goal, cfg.agents, &workspace)
            }
            mode => policy::solo_system_prompt(&cfg.goal, &workspace, mode),
        }
    }

    /// The first message of a task, from the shared view, and the seq it reflects. The
    /// agent's identity is here, not in the system prompt, which all agents share.
    fn task_message(&self, task: &TaskBrief) -> (String, u64) {
        let view = store::read(self.client.view());
        let mut message = match self.coordination {
            Coordination::Delm => {
                prompt::task_message(&view, task, self.deps.cfg.context_budget_tokens)
            }
            Coordination::Central => policy::worker_message(task, &view.state.brief),
            Coordination::Isolated => policy::isolated_message(task),
        };
        message.push_str(&format!("\nYou are agent {}.", self.id));
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
    /// and the conversation so far. The run id is the prompt-cache key: every agent of the
    /// run shares the tools and system prefix.
    fn request(
        &self,
        purpose: CallPurpose,
        tools: Arc<[ToolSpec]>,
        messages: Vec<Message>,
    ) -> ChatRequest {
        let mut req = ChatRequest::new(
            purpose,
            self.system.clone(),
            messages,
            tools,
            self.deps.cfg.max_output_tokens,
        );
        req.cache_key = Some(self.deps.cfg.run_id.clone());
        req.deadline = self.deps.deadline(purpose);
        req
    }

    /// One model call with retries, streaming deltas to the UI, and its `llm_call` report.
    async fn call_model(&mut self, turns: &mut Turns) -> Result<ChatResponse, Stop> {
        turns.early.start_turn();
        loop {
            self.step_boundary(&turns.revocation).await?;
            match self
                .model_call(
                    &turns.req,
                    turns.purpose,
                    &turns.revocation,
                    &mut turns.early,
                )
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
            LlmError::ContextLength(msg) => Stop::TaskFailed(format!(
                "the conversation no longer fits the model's context window, even after \
compaction: {msg}"
            )),
            // One call that ran out of its time fails its task; the swarm goes on.
            LlmError::Deadline(msg) => Stop::TaskFailed(msg),
            LlmError::Transient { message, .. } => Stop::Fatal(format!(
                "the model provider is unreachable after {} attempts ({message}); check the \
network, --base-url and the provider's status, then `delm resume` the session",
                self.deps.llm.max_attempts()
            )),
            LlmError::Auth(m) | LlmError::Fatal(m) => Stop::Fatal(m),
        }
    }

    /// One call; its `add_task` calls run as they stream (see [`early`]), each output kept
    /// in `early` for the finished reply's call.
    async fn model_call(
        &self,
        req: &ChatRequest,
        purpose: CallPurpose,
        revocation: &Revocation,
        early: &mut early::EarlyCalls,
    ) -> Result<ChatResponse, LlmError> {
        let client = &self.client;
        let runs_early = req.tools.iter().any(|t| t.name == early::EARLY_TOOL);
        let (streamed, mut calls) = tokio::sync::mpsc::unbounded_channel();
        let cancel = revocation.token();
        let call = async move {
            let on_delta = |delta: Delta<'_>| match delta {
                Delta::Text(text) => client.stream(text),
                Delta::ToolCall(call) if runs_early => {
                    let _ = streamed.send(early::Streamed::Call(call.clone()));
                }
                Delta::ToolCall(_) => {}
            };
            let on_retry = |n| {
                let _ = streamed.send(early::Streamed::NewAttempt);
                self.report(model_call::retry_report(n));
            };
            model_call::call(
                &self.deps.llm,
                &self.deps.price,
                req,
                purpose,
                &on_delta,
                &on_retry,
                &cancel,
            )
            .await
            // Dropping the sinks here closes the channel, which ends the loop below.
        };
        let max_calls = self.deps.cfg.max_calls_per_turn;
        let run_early = async {
            early.new_attempt();
            while let Some(streamed) = calls.recv().await {
                let call = match streamed {
                    early::Streamed::NewAttempt => {
                        early.new_attempt();
                        continue;
                    }
                    early::Streamed::Call(call) => call,
                };
                let Some(args) = early.should_run(&call, max_calls) else {
                    continue;
                };
                // Paused or revoked: the call waits for the turn, which waits for both.
                if self.client.signals().is_paused() || revocation.is_revoked() {
                    continue;
                }
                match self.add_task(&args).await {
                    Ok(out) => early.ran(call, Ok(out)),
                    Err(ToolFailure::Model(e)) => early.ran(call, Err(e)),
                    Err(ToolFailure::Stop(_)) => {}
                }
            }
        };
        let (result, ()) = tokio::join!(call, run_early);
        let (resp, call) = result?;
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
            Stop::TaskFailed(reason) => self.finish(claim, TaskOutcome::Failed, reason).await,
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
            Some(Reply::TaskAdded { task, existing }) => Ok(added_text(&task, existing)),
            Some(Reply::Refused { reason }) => Err(ToolFailure::Model(reason)),
            _ => Err(ToolFailure::Stop(Stop::Revoked)),
        }
    }
}
