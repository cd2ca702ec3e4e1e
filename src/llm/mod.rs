//! Model providers behind one small interface.
//!
//! `openai` speaks chat completions (OpenAI, Ollama, vLLM, LiteLLM, OpenRouter, llama.cpp,
//! LM Studio, Gemini's compatible endpoint); `anthropic` speaks the messages API; `ollama`
//! speaks Ollama's native chat API (the one that honours a context size). `retry` wraps any
//! provider with backoff, `Retry-After`, a deadline per call and a concurrency limit, and is
//! the [`ModelClient`] agents call; `pricing` turns billed usage into dollars. The shapes
//! models really send (tool calls written into text, reasoning blocks, missing ids) are
//! normalised here, so the agent loop sees one form.

pub mod anthropic;
pub mod config;
mod errors;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod in_band;
mod in_text;
pub mod ollama;
pub mod openai;
pub mod pricing;
mod proxy;
#[cfg(test)]
mod recorded;
pub mod retry;
#[cfg(feature = "testkit")]
pub mod scripted;
pub mod spec;
mod sse;
mod transport;
mod wire;

pub use crate::event::CallPurpose;

use config::{Host, ProviderConfig, ProviderKind};
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Assistant,
    /// The result of one tool call (`tool_call_id` says which).
    Tool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// Raw JSON text of the arguments, exactly as the model produced it (may be malformed).
    pub arguments: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
    /// Tool calls made by an assistant message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For `Role::Tool`: the call this message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// What the provider needs back verbatim with this assistant message (Anthropic thinking
    /// blocks and their signatures, Gemini thought signatures). Opaque outside the adapter
    /// that wrote it; [`ChatResponse::assistant_message`] carries it over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_state: Option<serde_json::Value>,
}

impl Message {
    pub fn user(text: impl Into<String>) -> Self {
        Message {
            role: Role::User,
            content: text.into(),
            tool_calls: vec![],
            tool_call_id: None,
            provider_state: None,
        }
    }
    pub fn assistant(text: impl Into<String>, tool_calls: Vec<ToolCall>) -> Self {
        Message {
            role: Role::Assistant,
            content: text.into(),
            tool_calls,
            tool_call_id: None,
            provider_state: None,
        }
    }
    pub fn tool(call_id: impl Into<String>, text: impl Into<String>) -> Self {
        Message {
            role: Role::Tool,
            content: text.into(),
            tool_calls: vec![],
            tool_call_id: Some(call_id.into()),
            provider_state: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub system: String,
    pub messages: Vec<Message>,
    /// Shared, not owned: an agent offers the same schemas on every call, and cloning their
    /// JSON for each request was a measurable share of the engine's per-task cost.
    pub tools: Arc<[ToolSpec]>,
    pub max_tokens: u32,
    pub temperature: Option<f32>,
    /// Why the call is made, so nothing (test doubles, accounting) has to guess it from the
    /// prompt's text.
    pub purpose: CallPurpose,
    /// Calls sharing a prompt prefix share this key (e.g. the run id): sent as OpenAI's
    /// `prompt_cache_key` so they are routed to the same cache.
    pub cache_key: Option<String>,
    /// The call, retries included, must end by then (e.g. what is left of `--time-limit`);
    /// the client's own per-call deadline applies as well, whichever comes first.
    pub deadline: Option<Instant>,
}

impl ChatRequest {
    /// A request with no temperature, cache key or deadline.
    pub fn new(
        purpose: CallPurpose,
        system: impl Into<String>,
        messages: Vec<Message>,
        tools: Arc<[ToolSpec]>,
        max_tokens: u32,
    ) -> Self {
        ChatRequest {
            system: system.into(),
            messages,
            tools,
            max_tokens,
            temperature: None,
            purpose,
            cache_key: None,
            deadline: None,
        }
    }
}

/// Tokens of one call as the provider bills them.
///
/// `input_tokens` is **every** prompt token: uncached, read from the provider's prompt cache
/// and written to it, so it means the same on every wire (OpenAI's `prompt_tokens` already
/// counts that way; Anthropic's `input_tokens` leaves out cache reads and writes, which are
/// added). `cache_read_tokens` and `cache_write_tokens` are the parts of it billed at the
/// cache rates; the rest ([`Usage::uncached_input_tokens`]) is billed at the input rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    #[serde(default)]
    pub cache_read_tokens: u64,
    #[serde(default)]
    pub cache_write_tokens: u64,
}

impl Usage {
    /// Prompt tokens neither read from nor written to a cache.
    pub fn uncached_input_tokens(&self) -> u64 {
        self.input_tokens
            .saturating_sub(self.cache_read_tokens)
            .saturating_sub(self.cache_write_tokens)
    }
}

/// Why the model stopped, the same for every wire. The raw reason stays in
/// [`ChatResponse::finish_reason`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum StopReason {
    /// A finished answer.
    #[default]
    Stop,
    /// It wants its tool calls run (also when a server said "stop" but sent calls).
    ToolCalls,
    /// Cut at the output token limit: not a final answer (continue, or ask again).
    Length,
    /// Withheld by the provider's content filter (or a refusal).
    ContentFilter,
    /// Anything else the provider said.
    Other(String),
}

impl StopReason {
    /// The normalised reason for a raw `finish_reason` / `stop_reason` of either wire (and
    /// Ollama's `done_reason`), given whether the reply carries tool calls.
    pub fn from_raw(raw: Option<&str>, has_tool_calls: bool) -> StopReason {
        let reason = match raw.map(str::trim) {
            None | Some("") => StopReason::Stop,
            Some("stop" | "end_turn" | "stop_sequence" | "eos") => StopReason::Stop,
            Some("tool_calls" | "tool_use" | "function_call") => StopReason::ToolCalls,
            Some("length" | "max_tokens" | "model_context_window_exceeded") => StopReason::Length,
            Some("content_filter" | "refusal" | "safety") => StopReason::ContentFilter,
            Some(other) => StopReason::Other(other.to_string()),
        };
        match reason {
            // Ollama and some vLLM parsers say "stop" although the reply is tool calls.
            StopReason::Stop | StopReason::Other(_) if has_tool_calls => StopReason::ToolCalls,
            reason => reason,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatResponse {
    /// The answer's text, reasoning blocks (`<think>`) removed.
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub usage: Usage,
    /// The provider's stop/finish reason, as it sent it.
    pub finish_reason: Option<String>,
    /// The same, normalised.
    pub stop: StopReason,
    /// What must go back to the provider with this reply (see [`Message::provider_state`]).
    pub provider_state: Option<serde_json::Value>,
}

impl ChatResponse {
    /// The assistant message to put into the conversation for this reply: text, tool calls
    /// and whatever the provider needs back with them.
    pub fn assistant_message(&self) -> Message {
        Message {
            provider_state: self.provider_state.clone(),
            ..Message::assistant(self.text.clone(), self.tool_calls.clone())
        }
    }
}

/// What a stream tells as it arrives, before the response is whole.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Delta<'a> {
    /// A piece of the answer's text (display only: lossy, the finished response is the truth).
    Text(&'a str),
    /// A tool call whose arguments are complete: the stream has moved past it. The
    /// finished response carries it again (with the same name and arguments, though a
    /// missing id may be filled in later), so a caller that runs it early must match it
    /// there, and a retried attempt streams it once more.
    ToolCall(&'a ToolCall),
}

/// Receives a stream's [`Delta`]s as they arrive.
pub type DeltaSink<'a> = &'a (dyn Fn(Delta<'_>) + Send + Sync);

/// Told before each retry wait.
pub type RetrySink<'a> = &'a (dyn Fn(retry::RetryNotice) + Send + Sync);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    /// Worth retrying: 408/409/429/5xx/529, connection errors, a stream cut short, timeouts.
    #[error("{message}")]
    Transient {
        message: String,
        retry_after: Option<Duration>,
    },
    /// The prompt is longer than the model's context window.
    #[error("context length exceeded: {0}")]
    ContextLength(String),
    /// Bad or missing key, no permission.
    #[error("{0}")]
    Auth(String),
    /// Any other error the provider answered with (bad request, unknown model, a malformed
    /// or oversized response, ...).
    #[error("{0}")]
    Fatal(String),
    /// The call's deadline passed (config `call_deadline_secs`, or the request's own
    /// deadline, e.g. the run's time limit) before an answer arrived.
    #[error("{0}")]
    Deadline(String),
    /// The call was cancelled by the engine (pause is not a cancel; re-enqueue is).
    #[error("cancelled")]
    Cancelled,
}

impl LlmError {
    pub fn is_transient(&self) -> bool {
        matches!(self, LlmError::Transient { .. })
    }
}

/// A model endpoint: one attempt per call. Implementations must never log or return the
/// API key.
pub trait Provider: Send + Sync {
    /// The model name sent to the provider (used for pricing and events).
    fn model(&self) -> &str;
    /// One call, streaming where the provider supports it; text deltas and each tool call,
    /// as soon as it is complete, go to `on_delta`.
    fn chat<'a>(
        &'a self,
        req: &'a ChatRequest,
        on_delta: DeltaSink<'a>,
    ) -> BoxFuture<'a, Result<ChatResponse, LlmError>>;
}

/// What agents call: one logical model call, retried on transient failures within its
/// deadline, cancellable at any point. [`retry::RetryingProvider`] is the implementation.
pub trait ModelClient: Send + Sync {
    /// The model name (for pricing and events).
    fn model(&self) -> &str;
    /// Attempts per call, the first included (for messages).
    fn max_attempts(&self) -> u32;
    /// One call: `on_delta` gets streamed text, `on_retry` each retry before its wait;
    /// `cancel` ends it promptly with [`LlmError::Cancelled`].
    fn chat<'a>(
        &'a self,
        req: &'a ChatRequest,
        on_delta: DeltaSink<'a>,
        on_retry: RetrySink<'a>,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<ChatResponse, LlmError>>;
}

/// The [`Provider`] impl of an HTTP adapter: one attempt, bounded by the request timeout,
/// posting `request_body(req)` with `headers()` to `$path` and reading the answer with the
/// stream decoder `$decoder` or, as one JSON body, with `$parse`. The adapter is a struct
/// with `model`, `stream` and `transport` fields.
macro_rules! http_provider {
    ($adapter:ty, $path:literal, $decoder:ty, $parse:path) => {
        impl $crate::llm::Provider for $adapter {
            fn model(&self) -> &str {
                &self.model
            }

            fn chat<'a>(
                &'a self,
                req: &'a $crate::llm::ChatRequest,
                on_delta: $crate::llm::DeltaSink<'a>,
            ) -> futures_util::future::BoxFuture<
                'a,
                Result<$crate::llm::ChatResponse, $crate::llm::LlmError>,
            > {
                Box::pin(async move {
                    let body = self.request_body(req);
                    let call = self.transport.exchange::<$decoder>(
                        $path,
                        self.headers(),
                        &body,
                        req,
                        self.stream,
                        on_delta,
                        $parse,
                    );
                    self.transport.within_request_timeout(call).await
                })
            }
        }
    };
}
use http_provider;

/// Build the adapter for `cfg` (each provider owns one HTTP client and its connection pool).
pub fn build_provider(cfg: ProviderConfig) -> Arc<dyn Provider> {
    if cfg.num_ctx.is_some() && cfg.host != Host::Ollama {
        tracing::warn!(
            url = %cfg.display_url(),
            "num_ctx is set but the endpoint is not Ollama: it is not sent"
        );
    }
    match cfg.kind {
        // Ollama's OpenAI-compatible route ignores a context size; its native API honours it.
        ProviderKind::OpenAi if cfg.host == Host::Ollama && cfg.num_ctx.is_some() => {
            Arc::new(ollama::OllamaProvider::new(cfg))
        }
        ProviderKind::OpenAi => Arc::new(openai::OpenAiProvider::new(cfg)),
        ProviderKind::Anthropic => Arc::new(anthropic::AnthropicProvider::new(cfg)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_reasons_are_normalised() {
        let cases = [
            (Some("stop"), false, StopReason::Stop),
            (Some("end_turn"), false, StopReason::Stop),
            (None, false, StopReason::Stop),
            (Some("tool_calls"), true, StopReason::ToolCalls),
            (Some("tool_use"), true, StopReason::ToolCalls),
            (Some("stop"), true, StopReason::ToolCalls),
            (None, true, StopReason::ToolCalls),
            (Some("length"), true, StopReason::Length),
            (Some("max_tokens"), false, StopReason::Length),
            (Some("content_filter"), false, StopReason::ContentFilter),
            (Some("refusal"), false, StopReason::ContentFilter),
            (
                Some("pause_turn"),
                false,
                StopReason::Other("pause_turn".into()),
            ),
        ];
        for (raw, calls, want) in cases {
            assert_eq!(StopReason::from_raw(raw, calls), want, "{raw:?} {calls}");
        }
    }

    #[test]
    fn the_assistant_message_carries_the_provider_state() {
        let reply = ChatResponse {
            text: "checking".into(),
            tool_calls: vec![ToolCall {
                id: "c1".into(),
                name: "grep".into(),
                arguments: "{}".into(),
            }],
            provider_state: Some(serde_json::json!({"thinking": [{"signature": "s"}]})),
            ..ChatResponse::default()
        };
        let message = reply.assistant_message();
        assert_eq!(message.role, Role::Assistant);
        assert_eq!(message.content, "checking");
        assert_eq!(message.tool_calls, reply.tool_calls);
        assert_eq!(message.provider_state, reply.provider_state);
        // Absent state is left out of a serialized message.
        let plain = serde_json::to_value(Message::user("hi")).unwrap();
        assert!(plain.get("provider_state").is_none());
    }

    #[test]
    fn usage_splits_input_into_billed_parts() {
        let usage = Usage {
            input_tokens: 1000,
            output_tokens: 10,
            cache_read_tokens: 700,
            cache_write_tokens: 200,
        };
        assert_eq!(usage.uncached_input_tokens(), 100);
        let old: Usage = serde_json::from_str(r#"{"input_tokens":5,"output_tokens":1}"#).unwrap();
        assert_eq!(old.cache_read_tokens, 0);
    }
}
