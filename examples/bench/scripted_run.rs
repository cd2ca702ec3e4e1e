//! A real engine run, in process, driven by the scripted model: the board, the agents, the
//! prompts and verification are the product's own; only the model is a test double.

use delm::engine::agent::AgentDeps;
use delm::engine::{EventSink, RunConfig, board, tools};
use delm::event::{CallPurpose, Envelope, Event, Mode, RunState, VerifyMode};
use delm::llm::retry::{RetryPolicy, RetryingProvider};
use delm::llm::scripted::{Script, ScriptedModel};
use delm::llm::{ChatRequest, ChatResponse, DeltaSink, LlmError, Provider};
use futures_util::future::BoxFuture;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Discards every event: the engine's own cost, without the disk.
pub struct NullSink;

impl EventSink for NullSink {
    fn write(&mut self, _env: &Envelope) -> std::io::Result<()> {
        Ok(())
    }
    fn sync(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub struct RunSpec {
    pub script: Script,
    pub agents: usize,
    pub coordination: &'static str,
    pub verify: VerifyMode,
    /// The run must end within this, or the figure fails with an error.
    pub timeout: Duration,
}

pub struct RunOutcome {
    pub state: RunState,
    pub events: Vec<Envelope>,
    pub wall: Duration,
    /// Process CPU time (all threads) spent during the run.
    pub cpu: Duration,
    pub model: Arc<ScriptedModel>,
}

impl RunOutcome {
    pub fn calls_for(&self, purpose: CallPurpose) -> u64 {
        self.events
            .iter()
            .filter(|e| matches!(&e.event, Event::LlmCall { purpose: p, .. } if *p == purpose))
            .count() as u64
    }
}

/// Called with every request and the scripted model's response to it.
pub type Observer = Arc<dyn Fn(&ChatRequest, &ChatResponse) + Send + Sync>;

/// Hands calls to the scripted model, and lets the caller observe each one (timing windows).
struct Observed {
    inner: Arc<ScriptedModel>,
    on_response: Observer,
}

impl Provider for Observed {
    fn model(&self) -> &str {
        self.inner.model()
    }
    fn chat<'a>(
        &'a self,
        req: &'a ChatRequest,
        on_delta: DeltaSink<'a>,
    ) -> BoxFuture<'a, Result<ChatResponse, LlmError>> {
        Box::pin(async move {
            let resp = self.inner.chat(req, on_delta).await?;
            (self.on_response)(req, &resp);
            Ok(resp)
        })
    }
}

/// Run the engine to its final answer on a fresh two-worker runtime (the machine's cores).
pub fn run(
    spec: RunSpec,
    sink: Box<dyn EventSink>,
    on_response: Observer,
) -> anyhow::Result<RunOutcome> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let model = Arc::new(ScriptedModel::new(spec.script.clone()));
    let provider = Observed {
        inner: model.clone(),
        on_response,
    };
    let policy = RetryPolicy {
        max_attempts: 1,
        // Every agent may be in a call at once: the limiter must not be what is measured.
        max_concurrency: spec.agents.max(1) * 2,
        ..RetryPolicy::default()
    };
    let mut cfg = RunConfig::new(
        "Survey every component of the system and explain how each contributes to the goal",
        Mode::Plain,
        "scripted:scripted",
    );
    cfg.agents = spec.agents;
    cfg.verify = spec.verify;
    cfg.coordination = spec.coordination.to_string();
    let k = spec.script.subtasks;
    // The planner needs one turn per batch; an isolated attempt one per part.
    cfg.max_turns_per_task = (k.div_ceil(spec.script.plan_batch.max(1)) + k + 4) as u32;
    let deps = AgentDeps {
        cfg: cfg.clone(),
        llm: Arc::new(RetryingProvider::new(Arc::new(provider), policy)),
        price: Arc::new(|_| None),
        workspace: tools::open(&Mode::Plain).map_err(anyhow::Error::msg)?,
    };
    runtime.block_on(async move {
        let cpu0 = super::figure::process_cpu();
        let started = Instant::now();
        let handle = board::start(cfg, deps, sink, None).map_err(anyhow::Error::msg)?;
        let state = tokio::time::timeout(spec.timeout, handle.wait())
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "the {} run did not finish within {:?}",
                    spec.coordination,
                    spec.timeout
                )
            })?;
        let wall = started.elapsed();
        let cpu = super::figure::process_cpu().saturating_sub(cpu0);
        let events = handle.events_since(0);
        Ok(RunOutcome {
            state,
            events,
            wall,
            cpu,
            model,
        })
    })
}
