//! The Anthropic messages API (`POST {base}/messages`), streaming and not.
//!
//! Prompt caching: `cache_control` breakpoints on the last tool, the system block and the
//! latest message's last block (three of the four the API allows), so agents sharing tools
//! and system prompt read that prefix from the cache and a long task reads its own history.
//! Extended thinking (optional): the thinking blocks of a reply, signatures included, travel
//! in [`ChatResponse::provider_state`] and are sent back first in that assistant turn, as
//! the API requires in tool loops.

use super::config::ProviderConfig;
use super::errors::stream_ended_early;
use super::in_band;
use super::transport::{StreamDecoder, Transport};
use super::wire::{arguments_object, input_text};
use super::{
    ChatRequest, ChatResponse, Delta, DeltaSink, LlmError, Message, Role, ToolCall, Usage,
};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};
use std::collections::BTreeMap;

const API_VERSION: &str = "2023-06-01";

/// Where [`ChatResponse::provider_state`] keeps a reply's thinking blocks.
const THINKING: &str = "thinking";

#[derive(Debug)]
pub struct AnthropicProvider {
    model: String,
    stream: bool,
    thinking_budget: Option<u32>,
    transport: Transport,
}

impl AnthropicProvider {
    pub fn new(cfg: ProviderConfig) -> Self {
        AnthropicProvider {
            transport: Transport::new(&cfg),
            model: cfg.model,
            stream: cfg.stream,
            thinking_budget: cfg.thinking_budget_tokens,
        }
    }

    /// The JSON body for `req`.
    pub fn request_body(&self, req: &ChatRequest) -> Value {
        let mut messages = wire_messages(&req.messages);
        mark_latest_block(&mut messages);
        let mut body = json!({
            "model": self.model,
            "max_tokens": req.max_tokens,
            "messages": messages,
        });
        if !req.system.is_empty() {
            body["system"] =
                json!([{"type": "text", "text": req.system, "cache_control": ephemeral()}]);
        }
        match self.thinking_budget {
            // The budget comes out of `max_tokens`, so the answer keeps its own allowance;
            // thinking allows no temperature but the default.
            Some(budget) => {
                body["thinking"] = json!({"type": "enabled", "budget_tokens": budget});
                body["max_tokens"] = json!(req.max_tokens.saturating_add(budget));
            }
            None => {
                if let Some(t) = req.temperature {
                    body["temperature"] = json!(t);
                }
            }
        }
        if !req.tools.is_empty() {
            let mut tools: Vec<Value> = req
                .tools
                .iter()
                .map(|tool| {
                    json!({
                        "name": tool.name,
                        "description": tool.description,
                        "input_schema": tool.parameters,
                    })
                })
                .collect();
            if let Some(last) = tools.last_mut() {
                last["cache_control"] = ephemeral();
            }
            body["tools"] = json!(tools);
        }
        if self.stream {
            body["stream"] = json!(true);
        }
        body
    }

    fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("anthropic-version"),
            HeaderValue::from_static(API_VERSION),
        );
        if let Some(key) = self.transport.api_key()
            && let Ok(mut value) = HeaderValue::from_str(key.expose())
        {
            value.set_sensitive(true);
            headers.insert(HeaderName::from_static("x-api-key"), value);
        }
        headers
    }
}

super::http_provider!(AnthropicProvider, "/messages", StreamState, parse_message);

fn ephemeral() -> Value {
    json!({"type": "ephemeral"})
}

fn is_thinking(block: &Value) -> bool {
    matches!(
        block["type"].as_str(),
        Some("thinking" | "redacted_thinking")
    )
}

/// A breakpoint on the last block of the latest message that may carry one (thinking blocks
/// may not), so the next call reads everything before it from the cache.
fn mark_latest_block(messages: &mut [Value]) {
    let Some(blocks) = messages
        .last_mut()
        .and_then(|m| m["content"].as_array_mut())
    else {
        return;
    };
    if let Some(block) = blocks.iter_mut().rev().find(|b| !is_thinking(b)) {
        block["cache_control"] = ephemeral();
    }
}

/// Converts the conversation to content blocks. The API wants strictly alternating roles,
/// tool results as `user` blocks, and those results first in their message, so consecutive
/// same-role messages are merged and tool results moved to the front; an assistant turn's
/// thinking blocks go back first, unchanged.
fn wire_messages(messages: &[Message]) -> Vec<Value> {
    let mut merged: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for message in messages {
        let (role, blocks) = match message.role {
            Role::User => ("user", text_block(&message.content)),
            Role::Tool => (
                "user",
                vec![json!({
                    "type": "tool_result",
                    "tool_use_id": message.tool_call_id.clone().unwrap_or_default(),
                    "content": message.content,
                })],
            ),
            Role::Assistant => {
                let mut blocks: Vec<Value> = message
                    .provider_state
                    .as_ref()
                    .and_then(|s| s[THINKING].as_array())
                    .map(|b| b.iter().filter(|b| is_thinking(b)).cloned().collect())
                    .unwrap_or_default();
                blocks.extend(text_block(message.content.trim_end()));
                blocks.extend(message.tool_calls.iter().map(|call| {
                    json!({
                        "type": "tool_use",
                        "id": call.id,
                        "name": call.name,
                        "input": arguments_object(&call.arguments),
                    })
                }));
                ("assistant", blocks)
            }
        };
        // An empty message (no text, no calls) would be rejected; dropping it keeps the turn.
        if blocks.is_empty() {
            continue;
        }
        match merged.last_mut() {
            Some((last_role, last_blocks)) if *last_role == role => last_blocks.extend(blocks),
            _ => merged.push((role, blocks)),
        }
    }
    merged
        .into_iter()
        .map(|(role, mut blocks)| {
            // Stable: tool results (and thinking) keep their order, and so does the rest.
            blocks.sort_by_key(|b| !(b["type"] == "tool_result" || is_thinking(b)));
            json!({"role": role, "content": blocks})
        })
        .collect()
}

/// Empty text blocks are rejected by the API, so empty text becomes no block.
fn text_block(text: &str) -> Vec<Value> {
    if text.trim().is_empty() {
        vec![]
    } else {
        vec![json!({"type": "text", "text": text})]
    }
}

fn thinking_state(blocks: Vec<Value>) -> Option<Value> {
    (!blocks.is_empty()).then(|| json!({ THINKING: blocks }))
}

/// A non-streaming `message` body.
pub(super) fn parse_message(value: &Value) -> Result<ChatResponse, LlmError> {
    if value["type"] == "error" {
        return Err(in_band::error_object(&value["error"]));
    }
    let Some(content) = value["content"].as_array() else {
        return Err(LlmError::Fatal(format!(
            "the provider answered without content: {}",
            value.to_string().chars().take(300).collect::<String>()
        )));
    };
    let mut usage = UsageParts::default();
    usage.update(&value["usage"]);
    let mut reply = ChatResponse {
        finish_reason: value["stop_reason"].as_str().map(str::to_string),
        usage: usage.total(),
        ..ChatResponse::default()
    };
    let mut thinking = Vec::new();
    for block in content {
        match block["type"].as_str() {
            Some("text") => reply
                .text
                .push_str(block["text"].as_str().unwrap_or_default()),
            Some("tool_use") => reply.tool_calls.push(ToolCall {
                id: block["id"].as_str().unwrap_or_default().to_string(),
                name: block["name"].as_str().unwrap_or_default().to_string(),
                arguments: input_text(&block["input"]),
            }),
            _ if is_thinking(block) => thinking.push(block.clone()),
            _ => {}
        }
    }
    reply.provider_state = thinking_state(thinking);
    Ok(reply)
}

/// Anthropic's usage fields as sent: `input_tokens` excludes cache reads and writes, and a
/// stream sends them in `message_start`, then (cumulative) in `message_delta`.
#[derive(Debug, Clone, Copy, Default)]
struct UsageParts {
    uncached: u64,
    cache_read: u64,
    cache_write: u64,
    output: u64,
}

impl UsageParts {
    /// Take every field `usage` has; keep the others.
    fn update(&mut self, usage: &Value) {
        let field = |name: &str, old: u64| usage.get(name).and_then(Value::as_u64).unwrap_or(old);
        self.uncached = field("input_tokens", self.uncached);
        self.cache_read = field("cache_read_input_tokens", self.cache_read);
        self.cache_write = field("cache_creation_input_tokens", self.cache_write);
        self.output = field("output_tokens", self.output);
    }

    /// As [`Usage`] counts: every prompt token in `input_tokens`.
    fn total(self) -> Usage {
        Usage {
            input_tokens: self.uncached + self.cache_read + self.cache_write,
            output_tokens: self.output,
            cache_read_tokens: self.cache_read,
            cache_write_tokens: self.cache_write,
        }
    }
}

#[derive(Debug)]
enum Block {
    Text(String),
    ToolUse {
        id: String,
        name: String,
        /// `input` from `content_block_start`, used when no `input_json_delta` follows.
        initial: Value,
        json: String,
    },
    /// A thinking block as started (a redacted one comes whole), and the `thinking` and
    /// `signature` text its deltas add: passed back whole, never shown.
    Thinking {
        start: Value,
        thinking: String,
        signature: String,
    },
    /// Server-side blocks: not part of the answer.
    Other,
}

/// Folds the streaming events into a response.
#[derive(Debug, Default)]
pub(super) struct StreamState {
    blocks: BTreeMap<u64, Block>,
    usage: UsageParts,
    stop_reason: Option<String>,
    stopped: bool,
}

impl StreamDecoder for StreamState {
    fn has_stop_reason(&self) -> bool {
        self.stop_reason.is_some()
    }

    /// Applies one event's data (each carries its own `type`); `Ok(true)` at `message_stop`.
    fn apply(&mut self, data: &str, on_delta: DeltaSink<'_>) -> Result<bool, LlmError> {
        if data.trim().is_empty() {
            return Ok(false);
        }
        // An event that is not JSON is a broken server, not a bad moment: not retried.
        let event: Value = serde_json::from_str(data).map_err(|e| {
            LlmError::Fatal(format!(
                "the provider sent a malformed stream: an event that is not JSON ({e}): {}",
                data.chars().take(300).collect::<String>()
            ))
        })?;
        let index = event["index"].as_u64().unwrap_or_default();
        match event["type"].as_str().unwrap_or_default() {
            "message_start" => self.usage.update(&event["message"]["usage"]),
            "content_block_start" => {
                let block = self.start_block(&event["content_block"], on_delta);
                self.blocks.insert(index, block);
            }
            "content_block_delta" => self.add_delta(index, &event["delta"], on_delta),
            "content_block_stop" => {
                if let Some(call) = self.blocks.get(&index).and_then(Block::tool_call) {
                    on_delta(Delta::ToolCall(&call));
                }
            }
            "message_delta" => {
                if let Some(reason) = event["delta"]["stop_reason"].as_str() {
                    self.stop_reason = Some(reason.to_string());
                }
                self.usage.update(&event["usage"]);
            }
            "message_stop" => {
                self.stopped = true;
                return Ok(true);
            }
            "error" => return Err(in_band::error_object(&event["error"])),
            // ping, and event types added to the API later.
            _ => {}
        }
        Ok(false)
    }

    fn finish(self) -> Result<ChatResponse, LlmError> {
        if !self.stopped && self.stop_reason.is_none() {
            return Err(stream_ended_early());
        }
        let mut reply = ChatResponse {
            usage: self.usage.total(),
            finish_reason: self.stop_reason,
            ..ChatResponse::default()
        };
        let mut thinking = Vec::new();
        for block in self.blocks.into_values() {
            match block {
                Block::Text(text) => reply.text.push_str(&text),
                block @ Block::ToolUse { .. } => reply.tool_calls.extend(block.tool_call()),
                Block::Thinking {
                    mut start,
                    thinking: more_thinking,
                    signature,
                } => {
                    for (key, more) in [("thinking", more_thinking), ("signature", signature)] {
                        if !more.is_empty() {
                            let text = start[key].as_str().unwrap_or_default().to_string();
                            start[key] = json!(text + &more);
                        }
                    }
                    thinking.push(start);
                }
                Block::Other => {}
            }
        }
        reply.provider_state = thinking_state(thinking);
        Ok(reply)
    }
}

impl Block {
    /// The call a `tool_use` block holds: its streamed JSON, or the `input` it started with
    /// when no delta followed.
    fn tool_call(&self) -> Option<ToolCall> {
        match self {
            Block::ToolUse {
                id,
                name,
                initial,
                json,
            } => Some(ToolCall {
                id: id.clone(),
                name: name.clone(),
                arguments: if json.trim().is_empty() {
                    input_text(initial)
                } else {
                    json.clone()
                },
            }),
            _ => None,
        }
    }
}

impl StreamState {
    fn start_block(&self, block: &Value, on_delta: DeltaSink<'_>) -> Block {
        match block["type"].as_str() {
            Some("text") => {
                let text = block["text"].as_str().unwrap_or_default();
                if !text.is_empty() {
                    on_delta(Delta::Text(text));
                }
                Block::Text(text.to_string())
            }
            Some("tool_use") => Block::ToolUse {
                id: block["id"].as_str().unwrap_or_default().to_string(),
                name: block["name"].as_str().unwrap_or_default().to_string(),
                initial: block["input"].clone(),
                json: String::new(),
            },
            _ if is_thinking(block) => Block::Thinking {
                start: block.clone(),
                thinking: String::new(),
                signature: String::new(),
            },
            _ => Block::Other,
        }
    }

    fn add_delta(&mut self, index: u64, delta: &Value, on_delta: DeltaSink<'_>) {
        let piece = |key: &str| delta[key].as_str().unwrap_or_default();
        match (self.blocks.get_mut(&index), delta["type"].as_str()) {
            (Some(Block::Text(text)), Some("text_delta")) => {
                text.push_str(piece("text"));
                on_delta(Delta::Text(piece("text")));
            }
            (Some(Block::ToolUse { json, .. }), Some("input_json_delta")) => {
                json.push_str(piece("partial_json"));
            }
            (Some(Block::Thinking { thinking, .. }), Some("thinking_delta")) => {
                thinking.push_str(piece("thinking"));
            }
            (Some(Block::Thinking { signature, .. }), Some("signature_delta")) => {
                signature.push_str(piece("signature"));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
