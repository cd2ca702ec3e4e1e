//! The outside agents of one run and what their tool calls do: each agent is a board
//! participant (an [`InProcessClient`] that joined with kind `mcp`), so its claims carry a
//! lease, its points go through the board's verifier and its events are in the log like a
//! native agent's. Transport-free: the MCP server (HTTP) and the tests call [`Swarm::call`].

use super::auth::Seat;
use super::read::{self, Cursor};
use super::tools::{self, ADD, CLAIM, EXPAND, FINISH, JOIN, READ, RECORD, RUN_CHECK};
use crate::engine::client::{BoardClient, InProcessClient};
use crate::engine::context::BoardView;
use crate::engine::protocol::{Claim, ParticipantKind, Reply, Report, Request};
use crate::engine::tools::Workspace;
use crate::engine::{EngineHandle, RunConfig, store};
use crate::event::TaskState;
use crate::llm::ToolSpec;
use crate::text::clip;
use serde_json::{Map, Value};
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Outside agents one board takes (a client looping on `join_swarm` stops here).
pub const MAX_OUTSIDE_AGENTS: usize = 64;
/// Keyed calls remembered per agent (the board keeps the same number of replies).
const KEYS_KEPT: usize = 32;
/// Longest idempotency key or client name kept.
const KEY_CHARS: usize = 200;
const NAME_CHARS: usize = 64;

/// What the board's tools need to know about the run besides its state.
#[derive(Debug, Clone)]
pub struct BoardSettings {
    /// Token budget of the shared-context block in `read_board` and `claim_task`.
    pub context_budget_tokens: usize,
    /// How long an outside agent may be silent while it holds a claim (told in the brief).
    pub lease: Duration,
    /// How long `record_point` waits for its verdict before it answers "still being
    /// verified" (a busy verifier must not run into a client's tool timeout: Codex's is
    /// 60 s). The verdict then shows in `read_board`.
    pub verdict_wait: Duration,
}

impl BoardSettings {
    pub fn of(cfg: &RunConfig) -> Self {
        BoardSettings {
            context_budget_tokens: cfg.context_budget_tokens,
            lease: cfg.lease,
            verdict_wait: Duration::from_secs(45),
        }
    }
}

/// One tool call as the transport received it.
pub struct Call {
    pub tool: String,
    pub args: Map<String, Value>,
    /// The retry key: the `request_id` argument, or the JSON-RPC id within an MCP session.
    pub key: Option<String>,
    /// The name the client gave at the MCP handshake (a default for `join_swarm`).
    pub client_name: Option<String>,
    /// Fires when the client cancels the call or goes away.
    pub cancel: CancellationToken,
    /// The agent the call's token is seated as (a worker delm launched), if any.
    pub seat: Option<Seat>,
}

impl Call {
    pub fn new(tool: impl Into<String>, args: Map<String, Value>) -> Self {
        Call {
            tool: tool.into(),
            args,
            key: None,
            client_name: None,
            cancel: CancellationToken::new(),
            seat: None,
        }
    }

    /// The retry key of a call: `request_id` if the client gave one, else `fallback` (the
    /// JSON-RPC id scoped to its MCP session, when there is a session).
    pub fn retry_key(args: &Map<String, Value>, fallback: Option<String>) -> Option<String> {
        let given = match args.get("request_id") {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(format!("r:{}", s.trim())),
            Some(Value::Number(n)) => Some(format!("r:{n}")),
            _ => None,
        };
        given
            .or(fallback)
            .map(|k| k.chars().take(KEY_CHARS).collect())
    }

    pub(super) fn str_arg(&self, key: &str) -> Option<&str> {
        self.args.get(key).and_then(Value::as_str).map(str::trim)
    }

    /// What identifies the call's content (a key reused for another call is refused).
    fn fingerprint(&self) -> u64 {
        let mut args = self.args.clone();
        args.remove("request_id");
        let mut h = std::hash::DefaultHasher::new();
        self.tool.hash(&mut h);
        Value::Object(args).to_string().hash(&mut h);
        h.finish()
    }
}

/// A tool's answer: text for the model, and whether it is an error (the model reads the
/// text either way). Text only, no structured content: some clients show a model only the
/// structured part when there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolReply {
    pub text: String,
    pub is_error: bool,
}

impl ToolReply {
    pub fn ok(text: impl Into<String>) -> Self {
        ToolReply {
            text: text.into(),
            is_error: false,
        }
    }
    pub fn error(text: impl Into<String>) -> Self {
        ToolReply {
            text: text.into(),
            is_error: true,
        }
    }
}

/// The answer to a call that would change the board while the human has paused it.
pub(super) fn paused_refusal() -> ToolReply {
    ToolReply::error(
        "paused, wait: the human paused the swarm, so nothing was recorded. Call read_board \
with wait_s until it says the swarm resumed, then send this call again.",
    )
}

struct Keyed {
    key: String,
    fingerprint: u64,
    id: u64,
    /// The answer the call got, once it has one: a retry gets exactly this again.
    answer: Option<ToolReply>,
}

/// The tools whose calls change the board, and so are applied once per retry key.
fn publishes(tool: &str) -> bool {
    matches!(tool, CLAIM | RECORD | ADD | FINISH)
}

/// One outside agent.
pub(crate) struct Participant {
    pub handle: String,
    client: InProcessClient,
    pub(crate) cursor: Mutex<Cursor>,
    keys: Mutex<VecDeque<Keyed>>,
    calls: AtomicU64,
}

impl Participant {
    /// The envelope id for `call`: the one a keyed call got the first time, or a fresh one.
    fn request_id(&self, call: &Call) -> Result<u64, String> {
        let Some(key) = &call.key else {
            return Ok(self.client.next_request_id());
        };
        let fingerprint = call.fingerprint();
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = keys.iter().find(|k| &k.key == key) {
            return if k.fingerprint == fingerprint {
                Ok(k.id)
            } else {
                Err(reused_key(key))
            };
        }
        let id = self.client.next_request_id();
        keys.push_back(Keyed {
            key: key.clone(),
            fingerprint,
            id,
            answer: None,
        });
        if keys.len() > KEYS_KEPT {
            keys.pop_front();
        }
        Ok(id)
    }

    /// Whether `call` repeats one already sent (it then gets the first answer, whatever
    /// changed since: pause included).
    pub(super) fn is_retry(&self, call: &Call) -> bool {
        call.key.as_ref().is_some_and(|key| {
            let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
            keys.iter().any(|k| &k.key == key)
        })
    }

    /// The answer a keyed call already got, if it is a retry of a finished call.
    fn answered(&self, call: &Call) -> Result<Option<ToolReply>, String> {
        let Some(key) = &call.key else {
            return Ok(None);
        };
        let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        match keys.iter().find(|k| &k.key == key) {
            Some(k) if k.fingerprint != call.fingerprint() => Err(reused_key(key)),
            Some(k) => Ok(k.answer.clone()),
            None => Ok(None),
        }
    }

    fn remember(&self, call: &Call, reply: &ToolReply) {
        let Some(key) = &call.key else { return };
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = keys.iter_mut().find(|k| &k.key == key) {
            k.answer.get_or_insert_with(|| reply.clone());
        }
    }

    /// Send `request` for `call` now (it reaches the board even if the answer is not
    /// awaited), and the answer to come.
    pub(super) fn ask(
        &self,
        call: &Call,
        request: Request,
    ) -> impl std::future::Future<Output = Result<Reply, String>> + '_ {
        let sent = self
            .request_id(call)
            .map(|id| self.client.send_with_id(id, request));
        async move {
            match sent?.await {
                Some((reply, _)) => Ok(reply),
                None => Err("the run is over".into()),
            }
        }
    }

    /// Tell the board this agent is alive (renews its lease) without a reply.
    pub(crate) fn heartbeat(&self) {
        self.client.notify(Request::Heartbeat);
    }

    pub(super) fn report(&self, report: Report) {
        self.client.notify(Request::Report { report });
    }

    /// Record the call in the log like a native agent's tool call (this also renews the
    /// agent's lease: the board hears from it).
    fn report_call(&self, call: &Call, reply: &ToolReply) {
        let n = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        let output = if call.tool == READ {
            // The board itself is in the log already; keep the line that says what happened.
            reply.text.lines().next().unwrap_or("").to_string()
        } else {
            reply.text.clone()
        };
        self.report(Report::ToolCall {
            call_id: format!("mcp-{n}"),
            tool: call.tool.clone(),
            args: Value::Object(call.args.clone()),
            ok: !reply.is_error,
            output,
        });
    }
}

/// What the board said to a `join` request.
fn join_reply(
    reply: Option<(Reply, Option<crate::engine::client::Revocation>)>,
) -> Result<(), String> {
    match reply.map(|(r, _)| r) {
        Some(Reply::Ok) => Ok(()),
        Some(Reply::Refused { reason }) => Err(reason),
        _ => Err("the run is over".into()),
    }
}

fn reused_key(key: &str) -> String {
    format!(
        "request_id `{}` was already used for a different call; use a new request_id for a \
new call",
        clip(key.trim_start_matches("r:"), 80)
    )
}

/// The claim `agent` holds now, as the board's log shows it.
pub(crate) fn claim_of(view: &BoardView, agent: &str) -> Option<Claim> {
    let task = view.state.agents.get(agent)?.task.as_deref()?;
    let t = view.state.task(task)?;
    matches!(&t.state, TaskState::Claimed { agent: a } if a == agent).then(|| Claim::Task {
        task: t.id.clone(),
        attempt: t.attempts,
    })
}

/// The outside agents of one run.
pub(crate) struct Swarm {
    pub(crate) engine: EngineHandle,
    pub(crate) workspace: Arc<dyn Workspace>,
    pub(crate) settings: BoardSettings,
    workspace_tools: Vec<ToolSpec>,
    exec: bool,
    participants: Mutex<HashMap<String, Arc<Participant>>>,
    /// Keyed `join_swarm` calls and the handles they got; held while one joins, so joins
    /// (rare) happen one at a time and a repeated one is never admitted twice.
    joins: tokio::sync::Mutex<VecDeque<(String, String)>>,
    joined: AtomicU64,
}

impl Swarm {
    pub fn new(
        engine: EngineHandle,
        workspace: Arc<dyn Workspace>,
        settings: BoardSettings,
    ) -> Self {
        let workspace_tools = workspace.tool_specs();
        let exec = workspace_tools.iter().any(|t| t.name == "run_command");
        Swarm {
            engine,
            workspace,
            settings,
            workspace_tools,
            exec,
            participants: Mutex::new(HashMap::new()),
            joins: tokio::sync::Mutex::new(VecDeque::new()),
            joined: AtomicU64::new(0),
        }
    }

    pub fn tools(&self) -> Vec<tools::BoardTool> {
        tools::board_tools(&self.workspace_tools, self.exec)
    }

    pub(crate) fn view(&self) -> std::sync::RwLockReadGuard<'_, BoardView> {
        store::read(self.engine.view())
    }

    /// Run one tool call.
    pub async fn call(&self, mut call: Call) -> ToolReply {
        if let Some(seat) = &call.seat {
            // A seated token acts as its agent only, whatever handle the model passed.
            call.args
                .insert("agent".into(), Value::String(seat.handle.clone()));
        }
        if call.tool == JOIN {
            let joined = match call.seat.clone() {
                Some(seat) => self.join_seat(&seat).await,
                None => self.join(&call).await,
            };
            return joined.unwrap_or_else(ToolReply::error);
        }
        let me = match self.participant(&call) {
            Ok(me) => me,
            Err(e) => return ToolReply::error(e),
        };
        let keyed = publishes(&call.tool);
        if keyed {
            match me.answered(&call) {
                Ok(Some(first)) => return first,
                Ok(None) => {}
                Err(e) => return ToolReply::error(e),
            }
        }
        let reply = self
            .dispatch(&me, &call)
            .await
            .unwrap_or_else(ToolReply::error);
        if keyed {
            me.remember(&call, &reply);
        }
        me.report_call(&call, &reply);
        reply
    }

    fn participant(&self, call: &Call) -> Result<Arc<Participant>, String> {
        let handle = call.str_arg("agent").unwrap_or("");
        if handle.is_empty() {
            return Err(format!(
                "`agent` is required: call {JOIN} first and pass the handle it returns"
            ));
        }
        let participants = self.participants.lock().unwrap_or_else(|e| e.into_inner());
        participants.get(handle).cloned().ok_or_else(|| {
            format!(
                "unknown agent handle `{}`: call {JOIN} and pass the handle it returns as \
\"agent\"",
                clip(handle, 40)
            )
        })
    }

    async fn dispatch(&self, me: &Participant, call: &Call) -> Result<ToolReply, String> {
        match call.tool.as_str() {
            READ => Ok(read::read_board(self, me, call).await),
            CLAIM => self.claim(me, call).await,
            EXPAND => self.expand(me, call),
            RECORD => self.record(me, call).await,
            ADD => self.add_task(me, call).await,
            FINISH => self.finish(me, call).await,
            RUN_CHECK if self.exec => self.run_workspace_tool(me, call, "run_command").await,
            RUN_CHECK => Err(format!(
                "{RUN_CHECK} needs a repository run started with --allow-exec"
            )),
            name if tools::passes_through(&self.workspace_tools, name) => {
                self.run_workspace_tool(me, call, name).await
            }
            other => Err(format!(
                "there is no tool `{}`; the tools are listed by tools/list",
                clip(other, 80)
            )),
        }
    }

    async fn join(&self, call: &Call) -> Result<ToolReply, String> {
        let name = call
            .str_arg("name")
            .filter(|n| !n.is_empty())
            .or(call.client_name.as_deref())
            .unwrap_or("mcp client");
        let name: String = clip(name, NAME_CHARS);
        let mut joins = self.joins.lock().await;
        let known = call
            .key
            .as_ref()
            .and_then(|k| joins.iter().find(|(jk, _)| jk == k).map(|(_, h)| h.clone()));
        let handle = match known {
            Some(handle) => handle,
            None => {
                let handle = self.admit(&name).await?;
                if let Some(k) = &call.key {
                    joins.push_back((k.clone(), handle.clone()));
                    if joins.len() > MAX_OUTSIDE_AGENTS {
                        joins.pop_front();
                    }
                }
                handle
            }
        };
        drop(joins);
        Ok(self.brief(&handle, &name))
    }

    /// `join_swarm` with a seated token: the seat's agent, admitted when delm launched its
    /// worker ([`Swarm::seat`]); the brief again if it joins twice.
    async fn join_seat(&self, seat: &Seat) -> Result<ToolReply, String> {
        if self.find(&seat.handle).is_none() {
            self.seat(seat).await?;
        }
        Ok(self.brief(&seat.handle, &seat.name))
    }

    fn brief(&self, handle: &str, name: &str) -> ToolReply {
        let view = self.view();
        ToolReply::ok(tools::brief(&tools::BriefFacts {
            handle,
            name,
            goal: &view.state.goal,
            workspace: &self.workspace.describe(),
            lease: self.settings.lease,
            exec: self.exec,
            workspace_tools: &self.workspace_tools,
        }))
    }

    fn find(&self, handle: &str) -> Option<Arc<Participant>> {
        let participants = self.participants.lock().unwrap_or_else(|e| e.into_inner());
        participants.get(handle).cloned()
    }

    /// The agent of a worker delm launches, on the board before its process starts (so
    /// the human sees it at once and its output is recorded from the first line); sent
    /// again after the worker left, it joins again (a restarted process).
    pub(crate) async fn seat(&self, seat: &Seat) -> Result<(), String> {
        match self.find(&seat.handle) {
            Some(me) => join_reply(
                me.client
                    .send(Request::Join {
                        name: seat.name.clone(),
                        kind: ParticipantKind::CliWorker,
                    })
                    .await,
            ),
            None => self
                .admit_as(seat.handle.clone(), &seat.name, ParticipantKind::CliWorker)
                .await
                .map(|_| ()),
        }
    }

    /// What a worker's own output says it did (assistant text, its own tool calls, its
    /// model calls), in the log as its agent's.
    pub(crate) fn report_for(&self, handle: &str, report: Report) {
        if let Some(me) = self.find(handle) {
            me.report(report);
        }
    }

    /// Text a worker's model is writing now, for the TUI (lossy, never logged).
    pub(crate) fn stream_for(&self, handle: &str, text: &str) {
        if let Some(me) = self.find(handle) {
            me.client.stream(text);
        }
    }

    /// The worker's process is gone: its claim goes back to the queue.
    pub(crate) async fn leave(&self, handle: &str) {
        if let Some(me) = self.find(handle) {
            let _ = me.client.send(Request::Leave).await;
        }
    }

    /// A new participant on the board: a handle, a `join` request, a seat here.
    async fn admit(&self, name: &str) -> Result<String, String> {
        if self
            .participants
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
            >= MAX_OUTSIDE_AGENTS
        {
            return Err(format!(
                "this board takes at most {MAX_OUTSIDE_AGENTS} outside agents, and they have \
joined; reuse a handle you were given"
            ));
        }
        let ordinal = self.joined.fetch_add(1, Ordering::Relaxed) + 1;
        let handle = super::auth::new_handle(ordinal)?;
        self.admit_as(handle, name, ParticipantKind::Mcp).await
    }

    async fn admit_as(
        &self,
        handle: String,
        name: &str,
        kind: ParticipantKind,
    ) -> Result<String, String> {
        let client = self.engine.participant(handle.clone());
        join_reply(
            client
                .send(Request::Join {
                    name: name.to_string(),
                    kind,
                })
                .await,
        )?;
        let participant = Arc::new(Participant {
            handle: handle.clone(),
            client,
            cursor: Mutex::new(Cursor::default()),
            keys: Mutex::new(VecDeque::new()),
            calls: AtomicU64::new(0),
        });
        self.participants
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(handle.clone(), participant);
        Ok(handle)
    }
}
