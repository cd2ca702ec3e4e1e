//! A real engine run, in process, driven by the scripted model: the board, the agents, the
//! prompts and verification are the product's own; only the model is a test double.

use delm::engine::{EventSink, RunBuilder, RunConfig, tools};
use delm::event::{CallPurpose, Envelope, Event, Mode, RunState, VerifyMode};
use delm::llm::pricing::Price;
use delm::llm::retry::{RetryPolicy, RetryingProvider};
use delm::llm::scripted::{CacheWire, Script, ScriptedModel};
use delm::llm::{ChatRequest, ChatResponse, DeltaSink, LlmError, Provider};
use futures_util::future::BoxFuture;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Discards every event: the engine's own cost, without the disk.
pub use delm::engine::run::NullSink;

pub struct RunSpec {
    pub script: Script,
    pub agents: usize,
    pub coordination: &'static str,
    pub verify: VerifyMode,
    /// Whose prompt caching the model emulates (and on which wire it counts tokens).
    pub wire: CacheWire,
    /// List prices the calls are billed at (`None`: unpriced).
    pub price: Option<Price>,
    /// The run must end within this, or the figure fails with an error.
    pub timeout: Duration,
}

pub struct RunOutcome {
    pub state: RunState,
    pub events: Vec<Envelope>,
    /// From the start of the run to the model's last `final_answer` (the run's end; the
    /// whole-log fold `EngineHandle::wait` does to hand back the state is not counted).
    pub wall: Duration,
    /// Process CPU time (all threads) over the same span.
    pub cpu: Duration,
    /// Time spent inside the scripted model's `chat` (see [`ModelTime`]).
    pub model_time: ModelTime,
    pub model: Arc<ScriptedModel>,
}

/// Time spent inside the scripted model, summed over every call.
#[derive(Debug, Clone, Copy, Default)]
pub struct ModelTime {
    /// CPU time of the calling thread inside `chat`: exact when the model answers without
    /// suspending (latency 0, the engine-overhead figure); zero otherwise, since a call that
    /// sleeps may resume on another thread.
    pub cpu: Duration,
    /// Wall time inside `chat` (includes the configured latency).
    pub wall: Duration,
    pub calls: u64,
}

/// Accumulates [`ModelTime`] from concurrent calls.
#[derive(Default)]
struct ModelClock {
    cpu_ns: AtomicU64,
    wall_ns: AtomicU64,
    calls: AtomicU64,
}

impl ModelClock {
    fn add(&self, cpu: Duration, wall: Duration) {
        self.cpu_ns
            .fetch_add(cpu.as_nanos() as u64, Ordering::Relaxed);
        self.wall_ns
            .fetch_add(wall.as_nanos() as u64, Ordering::Relaxed);
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
    fn total(&self) -> ModelTime {
        ModelTime {
            cpu: Duration::from_nanos(self.cpu_ns.load(Ordering::Relaxed)),
            wall: Duration::from_nanos(self.wall_ns.load(Ordering::Relaxed)),
            calls: self.calls.load(Ordering::Relaxed),
        }
    }
}

/// Process CPU and wall clock when the model last returned a `final_answer`: the run's end
/// as far as the measurement is concerned.
type EndMark = Mutex<Option<(Duration, Instant)>>;

impl RunOutcome {
    pub fn calls_for(&self, purpose: CallPurpose) -> u64 {
        self.events
            .iter()
            .filter(|e| matches!(&e.event, Event::LlmCall { purpose: p, .. } if *p == purpose))
            .count() as u64
    }
}

/// Called with every request, the scripted model's response to it, and the time spent in
/// the model so far (this call included).
pub type Observer = Arc<dyn Fn(&ChatRequest, &ChatResponse, ModelTime) + Send + Sync>;

/// Hands calls to the scripted model, times them, and lets the caller observe each one
/// (timing windows).
struct Observed {
    inner: Arc<ScriptedModel>,
    on_response: Observer,
    clock: Arc<ModelClock>,
    /// The model never suspends (latency 0), so thread CPU time around a call is its own.
    synchronous: bool,
    end: Arc<EndMark>,
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
            let cpu0 = self.synchronous.then(super::figure::thread_cpu);
            let wall0 = Instant::now();
            let resp = self.inner.chat(req, on_delta).await?;
            let cpu = cpu0.map_or(Duration::ZERO, |c| {
                super::figure::thread_cpu().saturating_sub(c)
            });
            self.clock.add(cpu, wall0.elapsed());
            if resp.tool_calls.iter().any(|c| c.name == "final_answer") {
                let mark = (super::figure::process_cpu(), Instant::now());
                *self.end.lock().unwrap_or_else(|e| e.into_inner()) = Some(mark);
            }
            (self.on_response)(req, &resp, self.clock.total());
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
    let model = Arc::new(ScriptedModel::new(spec.script.clone()).cache(spec.wire));
    let price = spec.price;
    let clock = Arc::new(ModelClock::default());
    let end: Arc<EndMark> = Arc::new(Mutex::new(None));
    let provider = Observed {
        inner: model.clone(),
        on_response,
        clock: clock.clone(),
        synchronous: spec.script.latency.is_zero(),
        end: end.clone(),
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
    cfg.coordination =
        delm::event::Coordination::parse(spec.coordination).map_err(anyhow::Error::msg)?;
    let k = spec.script.subtasks;
    // The planner needs one turn per batch; an isolated attempt one per part.
    cfg.max_turns_per_task = (k.div_ceil(spec.script.plan_batch.max(1)) + k + 4) as u32;
    // The harness's planner adds every subtask: the run's task cap must not bind.
    cfg.max_tasks = k + 16;
    cfg.max_tasks_per_claim = k + 16;
    cfg.max_calls_per_turn = spec.script.plan_batch.max(32);
    let builder = RunBuilder::new(
        cfg,
        Arc::new(RetryingProvider::new(Arc::new(provider), policy)),
        Arc::new(move |usage| price.map(|p| p.cost(usage))),
        tools::open(&Mode::Plain).map_err(anyhow::Error::msg)?,
    )
    .sink(sink);
    runtime.block_on(async move {
        let cpu0 = super::figure::process_cpu();
        let started = Instant::now();
        let handle = builder.start().map_err(anyhow::Error::msg)?;
        let state = tokio::time::timeout(spec.timeout, handle.wait())
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "the {} run did not finish within {:?}",
                    spec.coordination,
                    spec.timeout
                )
            })?;
        let (cpu_end, wall_end) = end
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unwrap_or_else(|| (super::figure::process_cpu(), Instant::now()));
        let wall = wall_end.saturating_duration_since(started);
        let cpu = cpu_end.saturating_sub(cpu0);
        let events = handle.events_since(0);
        Ok(RunOutcome {
            state,
            events,
            wall,
            cpu,
            model_time: clock.total(),
            model,
        })
    })
}
