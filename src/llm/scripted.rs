//! A scripted, in-process model: a **test double** for benchmarks and tests, never a model.
//!
//! [`ScriptedModel`] implements [`Provider`] without any network. What it answers is decided
//! by a [`Policy`]: a function of the [`ChatRequest`] alone (the system prompt, the messages
//! so far, the tools offered, the call's purpose), so it knows only what the engine sent it
//! and can play every role (worker, orchestrator, judge, finaliser) under every coordination
//! shape; the differences between runs come from the engine. [`Script`] is the survey
//! workload of the engine-overhead and coordination figures; the benchmark harness brings
//! its own policies.
//!
//! Around the policy the model behaves like a provider:
//! - **latency** ([`LatencyModel`]): time to first token grows with the prompt, less for the
//!   part read from the cache, and each output token costs decode time;
//! - **prompt caching** ([`CacheWire`]): the request is serialized the way the OpenAI or
//!   Anthropic adapter would send it, and [`PrefixCache`] decides what a provider would
//!   read from its cache and write to it, so the usage is what a bill would show;
//! - **usage**: input tokens are the serialized prompt's characters / 4 (or, with caching
//!   off, the characters of system prompt, messages, tool calls and tool schemas / 4);
//!   output tokens are what the policy says, or the characters it wrote / 4.

mod latency;
pub mod prefix_cache;
mod prompt;
mod survey;
mod wire;

pub use latency::LatencyModel;
pub use prefix_cache::{CacheBlock, CacheUse, PrefixCache};
pub use prompt::{Prompt, ToolExchange, point_lines};
pub use survey::{Script, ScriptedPoint, filler};
pub use wire::CacheWire;

use super::{
    CallPurpose, ChatRequest, ChatResponse, Delta, DeltaSink, LlmError, Provider, StopReason,
    ToolCall, Usage,
};
use futures_util::future::BoxFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Decides what the scripted model answers. Implementations read only the request: that is
/// what makes a scripted run a fair test of the engine.
pub trait Policy: Send + Sync {
    fn decide(&self, req: &ChatRequest) -> Decision;
}

/// One answer of the policy: text and tool calls, and optionally how many output tokens to
/// report for it (otherwise the characters written / 4).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    pub text: String,
    pub calls: Vec<(String, serde_json::Value)>,
    pub output_tokens: Option<u64>,
}

impl Decision {
    /// Tool calls, output tokens counted from what they say.
    pub fn calls(calls: Vec<(&str, serde_json::Value)>) -> Decision {
        Decision {
            calls: calls
                .into_iter()
                .map(|(name, args)| (name.to_string(), args))
                .collect(),
            ..Decision::default()
        }
    }

    /// A plain-text answer (a judge's verdict, say).
    pub fn text(text: impl Into<String>) -> Decision {
        Decision {
            text: text.into(),
            ..Decision::default()
        }
    }

    /// Report this many output tokens whatever the answer's length.
    pub fn with_output_tokens(mut self, tokens: u64) -> Decision {
        self.output_tokens = Some(tokens);
        self
    }

    /// Output tokens of the answer: as set, or its characters / 4 plus a few for each call's
    /// framing (the wire's id, type and braces).
    fn output_tokens(&self) -> u64 {
        self.output_tokens.unwrap_or_else(|| {
            let chars: usize = self.text.chars().count()
                + self
                    .calls
                    .iter()
                    .map(|(name, args)| name.len() + args.to_string().chars().count())
                    .sum::<usize>();
            (chars.div_ceil(4) + 8 * self.calls.len()).max(1) as u64
        })
    }
}

/// What the scripted model has been asked so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScriptedCounts {
    pub calls: u64,
    pub judge_calls: u64,
    /// Every prompt token, cached or not.
    pub input_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub output_tokens: u64,
}

#[derive(Default)]
struct Counters {
    calls: AtomicU64,
    judge_calls: AtomicU64,
    input_tokens: AtomicU64,
    cache_read_tokens: AtomicU64,
    cache_write_tokens: AtomicU64,
    output_tokens: AtomicU64,
}

impl Counters {
    fn add(&self, purpose: CallPurpose, usage: &Usage) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if purpose == CallPurpose::Judge {
            self.judge_calls.fetch_add(1, Ordering::Relaxed);
        }
        for (counter, n) in [
            (&self.input_tokens, usage.input_tokens),
            (&self.cache_read_tokens, usage.cache_read_tokens),
            (&self.cache_write_tokens, usage.cache_write_tokens),
            (&self.output_tokens, usage.output_tokens),
        ] {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }

    fn snapshot(&self) -> ScriptedCounts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ScriptedCounts {
            calls: get(&self.calls),
            judge_calls: get(&self.judge_calls),
            input_tokens: get(&self.input_tokens),
            cache_read_tokens: get(&self.cache_read_tokens),
            cache_write_tokens: get(&self.cache_write_tokens),
            output_tokens: get(&self.output_tokens),
        }
    }
}

/// The scripted model. Cheap to share: wrap it in an `Arc` and hand it to a
/// [`super::retry::RetryingProvider`].
pub struct ScriptedModel {
    model: String,
    policy: Arc<dyn Policy>,
    latency: LatencyModel,
    wire: wire::Emulation,
    counters: Counters,
}

impl ScriptedModel {
    /// The survey workload `script`, answering at the script's fixed latency, no caching.
    pub fn new(script: Script) -> Self {
        let latency = LatencyModel::fixed(script.latency);
        ScriptedModel::with_policy(Arc::new(script)).latency(latency)
    }

    /// Any policy; answers at once and caches nothing until told otherwise.
    pub fn with_policy(policy: Arc<dyn Policy>) -> Self {
        ScriptedModel {
            model: "scripted".to_string(),
            policy,
            latency: LatencyModel::ZERO,
            wire: wire::Emulation::new(CacheWire::Off),
            counters: Counters::default(),
        }
    }

    /// How long calls take.
    pub fn latency(mut self, latency: LatencyModel) -> Self {
        self.latency = latency;
        self
    }

    /// Whose prompt caching to emulate (and count tokens on that wire).
    pub fn cache(mut self, wire: CacheWire) -> Self {
        self.wire = wire::Emulation::new(wire);
        self
    }

    /// The model name reported (and priced by whoever prices the run).
    pub fn named(mut self, model: impl Into<String>) -> Self {
        self.model = model.into();
        self
    }

    pub fn latency_model(&self) -> LatencyModel {
        self.latency
    }

    pub fn counts(&self) -> ScriptedCounts {
        self.counters.snapshot()
    }

    /// The policy's answer to one request as a response (no clock, no counters, no usage).
    pub fn respond(&self, req: &ChatRequest) -> ChatResponse {
        response(self.policy.decide(req))
    }
}

fn response(decision: Decision) -> ChatResponse {
    let output_tokens = decision.output_tokens();
    let tool_calls: Vec<ToolCall> = decision
        .calls
        .into_iter()
        .enumerate()
        .map(|(i, (name, args))| ToolCall {
            id: format!("call_{i}"),
            name,
            arguments: args.to_string(),
        })
        .collect();
    let stop = if tool_calls.is_empty() {
        StopReason::Stop
    } else {
        StopReason::ToolCalls
    };
    ChatResponse {
        text: decision.text,
        tool_calls,
        usage: Usage {
            output_tokens,
            ..Usage::default()
        },
        finish_reason: Some("stop".into()),
        stop,
        provider_state: None,
    }
}

impl Provider for ScriptedModel {
    fn model(&self) -> &str {
        &self.model
    }

    fn chat<'a>(
        &'a self,
        req: &'a ChatRequest,
        on_delta: DeltaSink<'a>,
    ) -> BoxFuture<'a, Result<ChatResponse, LlmError>> {
        Box::pin(async move {
            let mut resp = self.respond(req);
            let billed = self.wire.bill(req);
            resp.usage = Usage {
                output_tokens: resp.usage.output_tokens,
                ..billed
            };
            // Streamed as a provider streams: the text, then each call, each after its share
            // of the decode time, so the whole call takes `call_time`. With no latency, all at
            // once and without timers.
            let timed = !self.latency.is_zero();
            if timed {
                let first =
                    self.latency
                        .call_time(billed.input_tokens, billed.cache_read_tokens, 0);
                tokio::time::sleep(first).await;
            }
            let decode = self
                .latency
                .decode
                .saturating_mul(u32::try_from(resp.usage.output_tokens).unwrap_or(u32::MAX));
            let pieces = 1 + resp.tool_calls.len();
            let total: u64 = if timed {
                (0..pieces)
                    .map(|i| piece_weight(&resp, i))
                    .sum::<u64>()
                    .max(1)
            } else {
                1
            };
            let mut spent = std::time::Duration::ZERO;
            let mut done = 0u64;
            for i in 0..pieces {
                if timed {
                    done += piece_weight(&resp, i);
                    let until = decode.mul_f64(done as f64 / total as f64);
                    tokio::time::sleep(until.saturating_sub(spent)).await;
                    spent = until;
                }
                match i {
                    0 if !resp.text.is_empty() => on_delta(Delta::Text(&resp.text)),
                    0 => {}
                    _ => on_delta(Delta::ToolCall(&resp.tool_calls[i - 1])),
                }
            }
            self.counters.add(req.purpose, &resp.usage);
            Ok(resp)
        })
    }
}

/// How the decode time of a reply divides among its pieces (piece 0 is the text, piece
/// `i` the `i`-th tool call): by characters written, a call's framing counted as in
/// [`Decision`].
fn piece_weight(resp: &ChatResponse, piece: usize) -> u64 {
    match piece.checked_sub(1) {
        None => char_count(&resp.text) as u64,
        Some(i) => {
            let c = &resp.tool_calls[i];
            (c.name.len() + char_count(&c.arguments)) as u64 + 32
        }
    }
}

/// Characters of `text`; ASCII (the usual prompt) is counted by its length, which is the
/// same number, found faster.
fn char_count(text: &str) -> usize {
    if text.is_ascii() {
        text.len()
    } else {
        text.chars().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::{Message, ToolSpec};
    use serde_json::json;

    struct Echo;
    impl Policy for Echo {
        fn decide(&self, req: &ChatRequest) -> Decision {
            match req.purpose {
                CallPurpose::Judge => Decision::text("approve"),
                _ => Decision::calls(vec![("finish_task", json!({"result": "done"}))]),
            }
        }
    }

    fn request(system: &str) -> ChatRequest {
        let tools: Arc<[ToolSpec]> = Arc::from([ToolSpec {
            name: "finish_task".into(),
            description: "Finish the task.".into(),
            parameters: json!({"type": "object"}),
        }]);
        ChatRequest::new(
            CallPurpose::Work,
            system,
            vec![Message::user("YOUR TASK T1: x")],
            tools,
            100,
        )
    }

    #[tokio::test]
    async fn usage_is_counted_and_output_follows_what_was_written() {
        let m = ScriptedModel::with_policy(Arc::new(Echo));
        let resp = m.chat(&request(&"s".repeat(400)), &|_| {}).await.unwrap();
        assert!(resp.usage.input_tokens >= 100);
        assert_eq!(resp.stop, StopReason::ToolCalls);
        // `finish_task` + {"result":"done"}: 28 characters, 7 tokens, plus the framing.
        assert_eq!(resp.usage.output_tokens, 7 + 8);
        let counts = m.counts();
        assert_eq!((counts.calls, counts.judge_calls), (1, 0));
        assert_eq!(counts.input_tokens, resp.usage.input_tokens);
    }

    #[tokio::test]
    async fn anthropic_caching_reads_the_shared_prefix_of_the_next_call() {
        let m = ScriptedModel::with_policy(Arc::new(Echo)).cache(CacheWire::Anthropic);
        let long = "a shared system prompt ".repeat(400);
        let first = m.chat(&request(&long), &|_| {}).await.unwrap();
        assert_eq!(first.usage.cache_read_tokens, 0);
        assert!(first.usage.cache_write_tokens > 2_000);
        let second = m.chat(&request(&long), &|_| {}).await.unwrap();
        assert!(second.usage.cache_read_tokens > 2_000, "{:?}", second.usage);
        assert!(second.usage.cache_read_tokens <= second.usage.input_tokens);
        assert_eq!(m.counts().cache_read_tokens, second.usage.cache_read_tokens);
    }

    #[tokio::test(start_paused = true)]
    async fn latency_grows_with_the_prompt_and_the_output() {
        let m = ScriptedModel::with_policy(Arc::new(Echo)).latency(LatencyModel::provider());
        let timed = |system: String| {
            let m = &m;
            async move {
                let t0 = tokio::time::Instant::now();
                m.chat(&request(&system), &|_| {}).await.unwrap();
                t0.elapsed()
            }
        };
        let short = timed("s".into()).await;
        let long = timed("s".repeat(400_000)).await;
        assert!(short >= std::time::Duration::from_millis(500));
        // 100,000 more prompt tokens at 0.11 ms each.
        let extra = (long - short).as_secs_f64();
        assert!((extra - 11.0).abs() < 0.1, "{extra}");
    }
}
