//! The DeLM engine: a board that owns the task queue and the shared context, and N agents
//! that claim tasks, work with tools and publish verified points. No UI imports here.

pub mod agent;
pub mod board;
pub mod client;
pub mod context;
mod limits;
mod model_call;
pub mod point_args;
pub mod policy;
pub mod prompt;
pub mod protocol;
pub mod run;
pub mod scheduler;
pub mod store;
mod supervisor;
pub mod tools;
mod verifier;
pub mod verify;

pub use protocol::Control;
pub use run::RunBuilder;

use crate::event::{Budgets, Coordination, Envelope, Mode, RunState, VerifyMode};
use crate::llm::{ModelClient, Usage};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};

/// A model the engine calls (retries, deadlines and the concurrency limit inside).
pub type Model = Arc<dyn ModelClient>;

/// Turns a call's token usage into dollars; `None` when the model's price is unknown.
pub type PriceFn = Arc<dyn Fn(Usage) -> Option<f64> + Send + Sync>;

/// Everything a run needs to know that is not a provider or a workspace. One value per
/// run, shared by the board and every agent (on resume it is rebuilt from the log first).
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub run_id: String,
    pub goal: String,
    pub mode: Mode,
    pub agents: usize,
    pub verify: VerifyMode,
    pub budgets: Budgets,
    /// The model as the user named it (`openai:gpt-4.1-mini`), for events and the UI.
    pub model_label: String,
    /// The provider endpoint (no credentials), recorded in `run_started`.
    pub endpoint: Option<String>,
    pub coordination: Coordination,
    /// Model turns one agent may take on one task before it must finish.
    pub max_turns_per_task: u32,
    /// Token budget of the shared-context block in each prompt.
    pub context_budget_tokens: usize,
    /// `max_tokens` for each model call.
    pub max_output_tokens: u32,
    /// Tasks the run may hold in all.
    pub max_tasks: usize,
    /// Tasks one claim may add.
    pub max_tasks_per_claim: usize,
    /// Tool calls one model turn may make; the rest are answered with an error.
    pub max_calls_per_turn: usize,
    /// How long an outside or remote participant may be silent while holding a claim.
    pub lease: Duration,
    /// A work conversation longer than this (characters) has its older tool outputs
    /// collapsed before the next call, before the context window forces it.
    pub compact_after_chars: usize,
    /// Start a native agent that takes only the finalise turn ([`policy::STANDBY_FINALISER`]):
    /// with no native agents (`--agents 0`) and outside workers doing the tasks, someone
    /// of delm's own still writes the answer.
    pub standby_finaliser: bool,
}

impl RunConfig {
    pub fn new(goal: impl Into<String>, mode: Mode, model_label: impl Into<String>) -> Self {
        RunConfig {
            run_id: new_run_id(),
            goal: goal.into(),
            mode,
            agents: 4,
            verify: VerifyMode::Judge,
            budgets: Budgets::default(),
            model_label: model_label.into(),
            endpoint: None,
            coordination: Coordination::Delm,
            max_turns_per_task: 24,
            context_budget_tokens: 2_000,
            max_output_tokens: 4_096,
            max_tasks: 500,
            max_tasks_per_claim: 100,
            max_calls_per_turn: 32,
            lease: Duration::from_secs(120),
            compact_after_chars: 160_000,
            standby_finaliser: false,
        }
    }

    /// The config of a run being resumed: what the log fixed (id, goal, mode, verification,
    /// budgets, coordination, endpoint) comes from `prior`, the rest from `self`.
    pub fn resuming(mut self, prior: &RunState) -> Self {
        self.run_id.clone_from(&prior.run_id);
        self.goal.clone_from(&prior.goal);
        self.mode = prior.mode.clone();
        self.verify = prior.verify;
        self.budgets = prior.budgets.clone();
        self.coordination = prior.coordination;
        if self.endpoint.is_none() {
            self.endpoint.clone_from(&prior.endpoint);
        }
        self
    }
}

/// A fresh run id: UTC time plus a short random suffix, sortable by start time.
pub fn new_run_id() -> String {
    let now = time::OffsetDateTime::now_utc();
    let suffix = std::process::id() as u64 ^ now.unix_timestamp_nanos() as u64;
    format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}-{:04x}",
        now.year(),
        now.month() as u8,
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        suffix & 0xffff
    )
}

/// Streamed model text for one agent: high-rate and lossy by design (display only).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamDelta {
    pub agent: String,
    pub text: String,
}

/// Where events go besides subscribers (the session log).
pub trait EventSink: Send {
    fn write(&mut self, env: &Envelope) -> std::io::Result<()>;
    /// The events of one board step, in order. A sink that ships events elsewhere (the
    /// JetStream log) overrides this to send a step as one message.
    fn write_batch(&mut self, envs: &[Envelope]) -> std::io::Result<()> {
        let mut first_err = None;
        for env in envs {
            if let Err(e) = self.write(env) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
    /// Make everything written durable (called at `run_finished` and on shutdown).
    fn sync(&mut self) -> std::io::Result<()>;
}

/// A run as a front end (the TUI, `--headless`, a remote attach) sees it: controls in,
/// events out. The in-process engine implements it with [`EngineHandle`]; a run that lives
/// elsewhere (another process, a NATS board) implements it by mirroring that run's log.
pub trait EngineClient: Send + Sync {
    /// Send a steering control; it becomes an event (or nothing, once the run is over).
    fn control(&self, control: Control);
    /// New events from now on. On `RecvError::Lagged`, call [`EngineClient::events_since`].
    fn subscribe(&self) -> broadcast::Receiver<Envelope>;
    /// Streamed text deltas of all agents (lossy, display only).
    fn subscribe_deltas(&self) -> broadcast::Receiver<StreamDelta>;
    /// Every event with `seq > after`, in order (start-up and resynchronisation after lag).
    fn events_since(&self, after: u64) -> Vec<Envelope>;
    /// Flips to `true` once the run's log takes no more events (finished or detached).
    fn finished(&self) -> watch::Receiver<bool>;
    fn is_finished(&self) -> bool {
        *self.finished().borrow()
    }
}

impl EngineClient for EngineHandle {
    fn control(&self, control: Control) {
        EngineHandle::control(self, control)
    }
    fn subscribe(&self) -> broadcast::Receiver<Envelope> {
        EngineHandle::subscribe(self)
    }
    fn subscribe_deltas(&self) -> broadcast::Receiver<StreamDelta> {
        EngineHandle::subscribe_deltas(self)
    }
    fn events_since(&self, after: u64) -> Vec<Envelope> {
        EngineHandle::events_since(self, after)
    }
    fn finished(&self) -> watch::Receiver<bool> {
        self.finished.clone()
    }
}

/// The engine as the outside sees it: controls in, events out. Cheap to clone.
#[derive(Clone)]
pub struct EngineHandle {
    pub(crate) controls: mpsc::UnboundedSender<Control>,
    pub(crate) events: broadcast::Sender<Envelope>,
    pub(crate) deltas: broadcast::Sender<StreamDelta>,
    /// Every event of the run so far, so a lagging subscriber can resynchronise.
    pub(crate) log: Arc<Mutex<Vec<Envelope>>>,
    pub(crate) finished: watch::Receiver<bool>,
    /// The board's inbox, the shared view and the signals, for participants that join
    /// from outside the process (MCP clients, remote workers).
    pub(crate) inbox: mpsc::UnboundedSender<client::Inbound>,
    pub(crate) view: store::SharedView,
    pub(crate) signals: client::Signals,
    /// Events the engine's own components record (a transport announcing itself); only
    /// the narrow methods below send here.
    pub(crate) system: mpsc::UnboundedSender<crate::event::Event>,
    /// The run's workspace: a transport files what remote participants ship with their
    /// proposals there (a worker's command runs and patches) before the board verifies.
    pub(crate) workspace: Arc<dyn tools::Workspace>,
}

impl EngineHandle {
    /// A client for a participant that joins from outside (an MCP client, a remote
    /// worker): it speaks the same protocol to the same board as a native agent. Send
    /// [`protocol::Request::Join`] first, so its claims carry a lease and the log names it.
    pub fn participant(&self, agent: impl Into<String>) -> client::InProcessClient {
        client::InProcessClient::new(
            agent.into(),
            self.inbox.clone(),
            self.view.clone(),
            self.signals.clone(),
            self.deltas.clone(),
        )
    }

    /// A transport serves the board at `url` (MCP over HTTP): recorded as `board_serving`.
    /// The URL only; a transport's credentials never go to the log.
    pub fn announce_serving(&self, url: &str) {
        let url = crate::redact::redact(url).into_owned();
        let _ = self.system.send(crate::event::Event::BoardServing { url });
    }

    /// Something went wrong outside the board that the human should see (a worker process
    /// that exited and was not restarted): an `error` event naming `agent`. It does not
    /// fail the run. Secrets delm knows are redacted.
    pub fn report_problem(&self, agent: Option<&str>, message: &str) {
        let message = crate::redact::redact(message).into_owned();
        let _ = self.system.send(crate::event::Event::Error {
            agent: agent.map(str::to_string),
            task: None,
            message: crate::text::clip(&message, limits::ERROR_CHARS),
        });
    }

    /// The run's workspace (see the field).
    pub fn workspace(&self) -> &Arc<dyn tools::Workspace> {
        &self.workspace
    }

    /// The folded state of the run (tasks, points, agents, context indexes).
    pub fn view(&self) -> &store::SharedView {
        &self.view
    }

    pub fn control(&self, control: Control) {
        // The board is gone only after the run finished; a late control is moot then.
        let _ = self.controls.send(control);
    }
    pub fn pause(&self) {
        self.control(Control::Pause)
    }
    pub fn resume(&self) {
        self.control(Control::Resume)
    }
    pub fn inject_constraint(&self, text: impl Into<String>) {
        self.control(Control::InjectConstraint { text: text.into() })
    }
    pub fn requeue(&self, task: impl Into<String>, note: Option<String>) {
        self.control(Control::Requeue {
            task: task.into(),
            note,
        })
    }
    pub fn cancel_task(&self, task: impl Into<String>, note: Option<String>) {
        self.control(Control::Cancel {
            task: task.into(),
            note,
        })
    }
    pub fn add_task(&self, title: impl Into<String>, detail: impl Into<String>) {
        self.control(Control::AddTask {
            title: title.into(),
            detail: detail.into(),
        })
    }
    pub fn set_agents(&self, count: usize) {
        self.control(Control::SetAgents { count })
    }
    pub fn detach(&self) {
        self.control(Control::Detach)
    }
    pub fn stop(&self) {
        self.control(Control::Stop)
    }

    /// New events from now on. On `RecvError::Lagged`, call [`EngineHandle::events_since`].
    pub fn subscribe(&self) -> broadcast::Receiver<Envelope> {
        self.events.subscribe()
    }
    /// Streamed text deltas of all agents (lossy).
    pub fn subscribe_deltas(&self) -> broadcast::Receiver<StreamDelta> {
        self.deltas.subscribe()
    }
    /// Every event with `seq > after`, in order (resynchronisation after lag).
    pub fn events_since(&self, after: u64) -> Vec<Envelope> {
        store::events_since(&self.log, after)
    }
    /// The run's state now, folded from the whole log.
    pub fn snapshot(&self) -> RunState {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        RunState::from_events(log.iter())
    }
    pub fn is_finished(&self) -> bool {
        *self.finished.borrow()
    }
    /// Wait until `run_finished` has been written and the sink synced.
    pub async fn wait(&self) -> RunState {
        let mut rx = self.finished.clone();
        while !*rx.borrow_and_update() {
            if rx.changed().await.is_err() {
                break;
            }
        }
        self.snapshot()
    }
}
