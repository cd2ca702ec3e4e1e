//! One workload under one coordination shape: the real engine (board, agents, prompts,
//! verification) on a world's workspace, the claim agent as the model, in virtual time.
//!
//! The runtime's clock is paused, so the scripted model's latency (its `LatencyModel`) is
//! what the wall time measures, deterministically, with no waiting: when every task is
//! idle, tokio moves the clock to the next timer (the next call to answer). The engine's
//! own CPU time costs no virtual time; figure 1 measures it (about 0.1 ms per task).

use super::Variant;
use super::agent::ClaimAgent;
use super::score::{Score, score};
use super::workspace::WorldWorkspace;
use super::world::World;
use delm::engine::run::NullSink;
use delm::engine::{RunBuilder, RunConfig};
use delm::event::{CallPurpose, Coordination, Event, Mode, RunState, StoppedBy};
use delm::llm::pricing::{Price, Pricing};
use delm::llm::retry::{RetryPolicy, RetryingProvider};
use delm::llm::scripted::Prompt;
use delm::llm::scripted::{CacheWire, LatencyModel, ScriptedCounts, ScriptedModel};
use delm::llm::{ChatRequest, ChatResponse, DeltaSink, LlmError, Provider};
use futures_util::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What every run of the claim group shares.
#[derive(Debug, Clone)]
pub struct Options {
    pub agents: usize,
    pub wire: CacheWire,
    pub latency: LatencyModel,
}

impl Options {
    pub fn priced_as(&self) -> (&'static str, &'static str) {
        priced_as(self.wire)
    }

    pub fn price(&self) -> anyhow::Result<Price> {
        price_of(self.wire)
    }
}

/// The provider and model whose list prices bill a run on `wire` (the wire's own).
pub fn priced_as(wire: CacheWire) -> (&'static str, &'static str) {
    match wire {
        CacheWire::OpenAi => ("openai", "gpt-4.1-mini"),
        CacheWire::Anthropic | CacheWire::Off => ("anthropic", "claude-sonnet-4-5"),
    }
}

pub fn price_of(wire: CacheWire) -> anyhow::Result<Price> {
    let (provider, model) = priced_as(wire);
    Pricing::default()
        .price(provider, model)
        .ok_or_else(|| anyhow::anyhow!("no list price for {provider}:{model}"))
}

/// Calls, tokens and cost of one role (planner, worker, judge, orchestrator, ...).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spend {
    pub calls: u64,
    pub input: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    pub output: u64,
    pub billed_input: f64,
    pub cost: f64,
}

impl Spend {
    pub fn add(&mut self, other: &Spend) {
        self.calls += other.calls;
        self.input += other.input;
        self.cache_read += other.cache_read;
        self.cache_write += other.cache_write;
        self.output += other.output;
        self.billed_input += other.billed_input;
        self.cost += other.cost;
    }
}

/// One model call on the run's (virtual) clock, for the profile of a run.
#[derive(Debug, Clone)]
pub struct CallRecord {
    pub start: Duration,
    pub end: Duration,
    pub purpose: CallPurpose,
    /// The task line of the conversation (or what the call is, when it has none).
    pub about: String,
    pub input: u64,
    pub cache_read: u64,
    pub output: u64,
    pub tools: Vec<String>,
}

/// Hands calls to the scripted model and records each on the virtual clock.
struct Traced {
    inner: Arc<ScriptedModel>,
    started: tokio::time::Instant,
    log: Mutex<Vec<CallRecord>>,
}

impl Provider for Traced {
    fn model(&self) -> &str {
        self.inner.model()
    }
    fn chat<'a>(
        &'a self,
        req: &'a ChatRequest,
        on_delta: DeltaSink<'a>,
    ) -> BoxFuture<'a, Result<ChatResponse, LlmError>> {
        Box::pin(async move {
            let start = self.started.elapsed();
            let resp = self.inner.chat(req, on_delta).await?;
            let prompt = Prompt::of(req);
            let about = match prompt.task() {
                Some((id, title)) => format!("{id} {title}"),
                // The orchestrator's turns: what the latest message asks.
                None => {
                    let last = prompt.user_messages().next_back().unwrap_or("");
                    last.lines().next().unwrap_or("").chars().take(60).collect()
                }
            };
            let record = CallRecord {
                start,
                end: self.started.elapsed(),
                purpose: req.purpose,
                about,
                input: resp.usage.input_tokens,
                cache_read: resp.usage.cache_read_tokens,
                output: resp.usage.output_tokens,
                tools: resp.tool_calls.iter().map(|c| c.name.clone()).collect(),
            };
            self.log
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(record);
            Ok(resp)
        })
    }
}

pub struct Outcome {
    /// The variant's name (`delm`, `central`, `isolated`, or an ablation).
    pub variant: &'static str,
    /// Virtual time from the start to the final answer.
    pub wall: Duration,
    pub state: RunState,
    /// What the scripted model answered, by its own count.
    pub answered: ScriptedCounts,
    pub score: Score,
    pub total: Spend,
    /// By role, for the profile of where the tokens went.
    pub roles: BTreeMap<String, Spend>,
    /// Every model call on the virtual clock, in the order they ended.
    pub calls: Vec<CallRecord>,
}

/// Input tokens at the price of uncached ones: what a bill charges for the prompt.
pub fn billed_input(price: &Price, input: u64, read: u64, write: u64) -> f64 {
    price.billed_input_tokens(delm::llm::Usage {
        input_tokens: input,
        output_tokens: 0,
        cache_read_tokens: read,
        cache_write_tokens: write,
    })
}

/// The role a call was made in, from its event and the task it was made on.
fn role(
    state: &RunState,
    mode: Coordination,
    purpose: CallPurpose,
    task: Option<&str>,
) -> &'static str {
    match purpose {
        CallPurpose::Judge => "judge",
        CallPurpose::Finalise if mode == Coordination::Central => "orchestrator",
        CallPurpose::Finalise => "finaliser",
        _ => match task.and_then(|t| state.task(t)).map(|t| t.title.as_str()) {
            Some(title) if title.starts_with("Plan") => "planner",
            Some(title) if title.starts_with("Attempt") => "attempt",
            _ => "worker",
        },
    }
}

/// Run `world` as `variant` says (coordination, verification) to its final answer.
pub fn run(world: Arc<World>, variant: Variant, opts: &Options) -> anyhow::Result<Outcome> {
    let mode = variant.mode;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()?;
    let price = opts.price()?;
    let model = Arc::new(
        ScriptedModel::with_policy(Arc::new(ClaimAgent::new(
            world.misread_percent,
            variant.wave,
        )))
        .latency(opts.latency)
        .cache(opts.wire)
        .named(opts.priced_as().1),
    );
    let policy = RetryPolicy {
        max_attempts: 1,
        // Every agent and its judge may be in a call at once: the limiter is not measured.
        max_concurrency: opts.agents * 2 + 4,
        // Virtual time runs ahead of the real clock the deadline is set by.
        call_deadline: Duration::from_secs(10 * 365 * 86_400),
        ..RetryPolicy::default()
    };
    let mut cfg = RunConfig::new(world.goal.clone(), Mode::Plain, opts.priced_as().1);
    cfg.run_id = format!("claim-{}-{}", world.workload.name(), variant.name);
    cfg.agents = opts.agents;
    cfg.coordination = mode;
    cfg.verify = variant.verify;
    // An isolated attempt reads every page itself, and records a point per part.
    cfg.max_turns_per_task = (world.pages() + world.parts() + 8) as u32;
    let price_fn = Arc::new(move |usage| Some(price.cost(usage)));
    let (traced_model, workspace) = (model.clone(), Arc::new(WorldWorkspace::new(world.clone())));
    let (state, events, wall, calls) = runtime.block_on(async move {
        let started = tokio::time::Instant::now();
        let traced = Arc::new(Traced {
            inner: traced_model,
            started,
            log: Mutex::new(Vec::new()),
        });
        let builder = RunBuilder::new(
            cfg,
            Arc::new(RetryingProvider::new(traced.clone(), policy)),
            price_fn,
            workspace,
        )
        .sink(Box::new(NullSink));
        let handle = builder.start().map_err(anyhow::Error::msg)?;
        // Virtual time: a day is no wait, and a hung run fails instead of blocking.
        let state = tokio::time::timeout(Duration::from_secs(86_400), handle.wait())
            .await
            .map_err(|_| anyhow::anyhow!("the run did not finish within a (virtual) day"))?;
        let calls = std::mem::take(&mut *traced.log.lock().unwrap_or_else(|e| e.into_inner()));
        anyhow::Ok((state, handle.events_since(0), started.elapsed(), calls))
    })?;
    let answer = state
        .answer
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("the run ended without an answer"))?;
    anyhow::ensure!(
        answer.stopped_by == StoppedBy::Completed,
        "the run stopped early ({:?}): {}",
        answer.stopped_by,
        answer.answer
    );
    let score = score(&world.truth, &answer.answer);
    let counts = model.counts();
    let mut roles: BTreeMap<String, Spend> = BTreeMap::new();
    let mut total = Spend::default();
    for env in &events {
        if let Event::LlmCall {
            purpose,
            task,
            tokens_in,
            tokens_out,
            tokens_cached_read,
            tokens_cache_write,
            cost_usd,
            ..
        } = &env.event
        {
            let spend = Spend {
                calls: 1,
                input: *tokens_in,
                cache_read: *tokens_cached_read,
                cache_write: *tokens_cache_write,
                output: *tokens_out,
                billed_input: billed_input(
                    &price,
                    *tokens_in,
                    *tokens_cached_read,
                    *tokens_cache_write,
                ),
                cost: cost_usd.unwrap_or(0.0),
            };
            let role = role(&state, mode, *purpose, task.as_deref());
            roles.entry(role.to_string()).or_default().add(&spend);
            total.add(&spend);
        }
    }
    // The log must account for every call the model answered, token for token.
    let logged = (
        total.calls,
        total.input,
        total.cache_read,
        total.cache_write,
        total.output,
    );
    let answered = (
        counts.calls,
        counts.input_tokens,
        counts.cache_read_tokens,
        counts.cache_write_tokens,
        counts.output_tokens,
    );
    anyhow::ensure!(
        logged == answered,
        "the log records (calls, input, cache read, cache write, output) {logged:?}, the model \
answered {answered:?}"
    );
    anyhow::ensure!(
        (0.0..=1.0).contains(&score.value),
        "score {} is outside [0, 1]",
        score.value
    );
    Ok(Outcome {
        variant: variant.name,
        wall,
        state,
        answered: counts,
        score,
        total,
        roles,
        calls,
    })
}
