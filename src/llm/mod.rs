//! Model providers behind one small interface.
//!
//! `openai` speaks chat completions (OpenAI, Ollama, vLLM, LiteLLM, OpenRouter, llama.cpp,
//! LM Studio); `anthropic` speaks the messages API. `retry` wraps any provider with backoff,
//! `Retry-After`, timeouts and a concurrency limit; `pricing` turns usage into dollars.

pub mod anthropic;
mod in_band;
pub mod openai;
pub mod pricing;
pub mod retry;
pub mod scripted;
pub mod spec;
mod transport;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

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
}

impl Message {
    pub fn user(text: impl Into<String>) -> Self {
        Message {
            role: Role::User,
            content: text.into(),
            tool_calls: vec![],
            tool_call_id: None,
        }
    }
    pub fn assistant(text: impl Into<String>, tool_calls: Vec<ToolCall>) -> Self {
        Message {
            role: Role::Assistant,
            content: text.into(),
            tool_calls,
            tool_call_id: None,
        }
    }
    pub fn tool(call_id: impl Into<String>, text: impl Into<String>) -> Self {
        Message {
            role: Role::Tool,
            content: text.into(),
            tool_calls: vec![],
            tool_call_id: Some(call_id.into()),
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
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatResponse {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub usage: Usage,
    /// The provider's stop/finish reason, as it sent it.
    pub finish_reason: Option<String>,
}

/// Receives streamed text as it arrives (lossy display only; the finished response is the
/// truth).
pub type DeltaSink<'a> = &'a (dyn Fn(&str) + Send + Sync);

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
    /// Any other error the provider answered with (bad request, unknown model, ...).
    #[error("{0}")]
    Fatal(String),
    /// The call was cancelled by the engine (pause is not a cancel; re-enqueue is).
    #[error("cancelled")]
    Cancelled,
}

impl LlmError {
    pub fn is_transient(&self) -> bool {
        matches!(self, LlmError::Transient { .. })
    }
}

/// A model endpoint. Implementations must never log or return the API key.
pub trait Provider: Send + Sync {
    /// The model name sent to the provider (used for pricing and events).
    fn model(&self) -> &str;
    /// One call, streaming where the provider supports it; text deltas go to `on_delta`.
    fn chat<'a>(
        &'a self,
        req: &'a ChatRequest,
        on_delta: DeltaSink<'a>,
    ) -> BoxFuture<'a, Result<ChatResponse, LlmError>>;
}
