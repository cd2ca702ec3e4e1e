//! The chat-completions wire format (`POST {base}/chat/completions`), spoken by OpenAI and by
//! most local and proxy servers: Ollama, vLLM, LiteLLM, OpenRouter, llama.cpp, LM Studio and
//! Gemini's OpenAI-compatible endpoint. The request adapts to the host's known quirks (see
//! [`Host`]); the reply is read leniently: arguments as a string or an object, calls without
//! ids, whole calls in one chunk, several calls under one index, text content as parts.

use super::config::{Host, ProviderConfig};
use super::errors::stream_ended_early;
use super::in_band;
use super::transport::{StreamDecoder, Transport};
use super::wire::{called_tool, system_first};
use super::{
    ChatRequest, ChatResponse, Delta, DeltaSink, LlmError, Message, Role, ToolCall, Usage,
};
use reqwest::header::HeaderMap;
use serde_json::{Map, Value, json};

/// Where [`ChatResponse::provider_state`] keeps each call's `extra_content` (Gemini's thought
/// signatures), by call id: it must go back with the call, unchanged.
const TOOL_EXTRA: &str = "tool_extra";

#[derive(Debug)]
pub struct OpenAiProvider {
    model: String,
    stream: bool,
    host: Host,
    reasoning_effort: Option<String>,
    transport: Transport,
}

impl OpenAiProvider {
    pub fn new(cfg: ProviderConfig) -> Self {
        OpenAiProvider {
            transport: Transport::new(&cfg),
            model: cfg.model,
            stream: cfg.stream,
            host: cfg.host,
            reasoning_effort: cfg.reasoning_effort,
        }
    }

    /// The JSON body for `req`.
    pub fn request_body(&self, req: &ChatRequest) -> Value {
        let mut body = json!({
            "model": self.model,
            "messages": wire_messages(req, self.host),
        });
        let reasoning = is_reasoning_model(&self.model);
        // OpenAI itself, and reasoning models on any host, want `max_completion_tokens`;
        // other servers know only `max_tokens`.
        let token_field = if self.host == Host::OpenAi || reasoning {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        body[token_field] = json!(req.max_tokens);
        // Reasoning models reject any temperature but the default.
        if let Some(t) = req.temperature
            && !reasoning
        {
            body["temperature"] = json!(t);
        }
        if let Some(effort) = &self.reasoning_effort {
            body["reasoning_effort"] = json!(effort);
        }
        if !req.tools.is_empty() {
            body["tools"] = req
                .tools
                .iter()
                .map(|tool| {
                    let mut parameters = tool.parameters.clone();
                    if self.host == Host::Gemini {
                        drop_additional_properties(&mut parameters);
                    }
                    json!({
                        "type": "function",
                        "function": {
                            "name": tool.name,
                            "description": tool.description,
                            "parameters": parameters,
                        }
                    })
                })
                .collect();
            // Only where it is known to be understood: vLLM refuses an explicit "auto"
            // unless started with a tool parser, and then the calls come as text anyway.
            if matches!(self.host, Host::OpenAi | Host::OpenRouter | Host::Gemini) {
                body["tool_choice"] = json!("auto");
            }
        }
        // Strict servers (Gemini's, Mistral's, Groq's) reject fields they do not know.
        if let Some(key) = &req.cache_key
            && self.host == Host::OpenAi
        {
            body["prompt_cache_key"] = json!(key);
        }
        if self.stream {
            body["stream"] = json!(true);
            body["stream_options"] = json!({"include_usage": true});
        }
        body
    }

    fn headers(&self) -> HeaderMap {
        self.transport.bearer_headers()
    }
}

super::http_provider!(
    OpenAiProvider,
    "/chat/completions",
    StreamState,
    parse_completion
);

/// o1/o3/o4 and gpt-5 models (on any host: OpenRouter and Azure names included) take no
/// `temperature` and count output as `max_completion_tokens`.
fn is_reasoning_model(model: &str) -> bool {
    let name = model.rsplit('/').next().unwrap_or(model);
    name.starts_with("gpt-5")
        || (name.starts_with('o') && name[1..].starts_with(|c: char| c.is_ascii_digit()))
}

/// Gemini rejects `additionalProperties` anywhere in a schema.
fn drop_additional_properties(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            map.remove("additionalProperties");
            map.values_mut().for_each(drop_additional_properties);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_additional_properties),
        _ => {}
    }
}

fn wire_messages(req: &ChatRequest, host: Host) -> Vec<Value> {
    system_first(req, |message, earlier| match message.role {
        Role::User => json!({"role": "user", "content": message.content}),
        Role::Tool => {
            let id = message.tool_call_id.clone().unwrap_or_default();
            let mut wire = json!({
                "role": "tool",
                "tool_call_id": id,
                "content": message.content,
            });
            if host == Host::Gemini
                && let Some(name) = called_tool(earlier, &id)
            {
                wire["name"] = json!(name);
            }
            wire
        }
        Role::Assistant if message.tool_calls.is_empty() => {
            json!({"role": "assistant", "content": message.content})
        }
        Role::Assistant => assistant_with_calls(message),
    })
}

fn assistant_with_calls(message: &Message) -> Value {
    let extra = message
        .provider_state
        .as_ref()
        .and_then(|s| s.get(TOOL_EXTRA));
    let calls: Vec<Value> = message
        .tool_calls
        .iter()
        .map(|call| {
            let mut wire = json!({
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            });
            if let Some(extra) = extra.and_then(|e| e.get(&call.id)) {
                wire["extra_content"] = extra.clone();
            }
            wire
        })
        .collect();
    let content = if message.content.is_empty() {
        Value::Null
    } else {
        json!(message.content)
    };
    json!({"role": "assistant", "content": content, "tool_calls": calls})
}

/// A non-streaming `chat.completion` body.
pub(super) fn parse_completion(value: &Value) -> Result<ChatResponse, LlmError> {
    if let Some(error) = value.get("error").filter(|e| !e.is_null()) {
        return Err(in_band::error_object(error));
    }
    let Some(choice) = value.get("choices").and_then(|c| c.get(0)) else {
        return Err(LlmError::Fatal(format!(
            "the provider answered without any choice: {}",
            super::errors::excerpt(&value.to_string())
        )));
    };
    let message = &choice["message"];
    let mut extra = Map::new();
    let tool_calls = message["tool_calls"]
        .as_array()
        .map(|calls| {
            calls
                .iter()
                .map(|call| {
                    let call_id = call["id"].as_str().unwrap_or_default().to_string();
                    if let Some(e) = call.get("extra_content").filter(|e| !e.is_null()) {
                        extra.insert(call_id.clone(), e.clone());
                    }
                    ToolCall {
                        id: call_id,
                        name: call["function"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                        arguments: arguments_text(&call["function"]["arguments"]),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(ChatResponse {
        text: content_text(&message["content"]),
        tool_calls,
        usage: parse_usage(&value["usage"]).unwrap_or_default(),
        finish_reason: choice["finish_reason"].as_str().map(str::to_string),
        provider_state: tool_extra_state(extra),
        ..ChatResponse::default()
    })
}

fn tool_extra_state(extra: Map<String, Value>) -> Option<Value> {
    (!extra.is_empty()).then(|| json!({ TOOL_EXTRA: extra }))
}

/// `content` as a string, or as text parts (some proxies send the Responses-style array).
fn content_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str().or_else(|| p.as_str()))
            .collect(),
        _ => String::new(),
    }
}

/// Arguments are a JSON string on the wire; a few servers send an object instead.
fn arguments_text(arguments: &Value) -> String {
    match arguments {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `prompt_tokens` counts every prompt token, cached ones included; the cached part is
/// `prompt_tokens_details.cached_tokens` (DeepSeek: `prompt_cache_hit_tokens`).
fn parse_usage(usage: &Value) -> Option<Usage> {
    let input = usage.get("prompt_tokens")?.as_u64()?;
    let count = |v: &Value| v.as_u64().unwrap_or_default();
    let details = &usage["prompt_tokens_details"];
    let cached = match details.get("cached_tokens") {
        Some(n) => count(n),
        None => count(&usage["prompt_cache_hit_tokens"]),
    };
    Some(Usage {
        input_tokens: input,
        output_tokens: count(&usage["completion_tokens"]),
        cache_read_tokens: cached.min(input),
        cache_write_tokens: count(&details["cache_write_tokens"]).min(input - cached.min(input)),
    })
}

/// One tool call being assembled from stream fragments.
#[derive(Debug, Default)]
struct PartialCall {
    index: u64,
    id: String,
    name: String,
    arguments: String,
    extra: Option<Value>,
}

impl PartialCall {
    /// Whether the arguments so far are a whole JSON object (the call could be complete).
    fn has_whole_arguments(&self) -> bool {
        let text = self.arguments.trim();
        text.starts_with('{') && serde_json::from_str::<Value>(text).is_ok()
    }
}

/// Folds `chat.completion.chunk` events into a response.
#[derive(Debug, Default)]
pub(super) struct StreamState {
    text: String,
    calls: Vec<PartialCall>,
    usage: Option<Usage>,
    finish_reason: Option<String>,
    done: bool,
    /// How many of `calls` were told to the sink as complete.
    announced: usize,
}

impl StreamDecoder for StreamState {
    fn has_stop_reason(&self) -> bool {
        self.finish_reason.is_some()
    }

    /// Applies one event's data; `Ok(true)` once `[DONE]` arrived.
    fn apply(&mut self, data: &str, on_delta: DeltaSink<'_>) -> Result<bool, LlmError> {
        let data = data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(true);
        }
        if data.is_empty() {
            return Ok(false);
        }
        // A chunk that is not JSON is a broken server, not a bad moment: not retried.
        let chunk: Value = serde_json::from_str(data).map_err(|e| {
            LlmError::Fatal(format!(
                "the provider sent a malformed stream: a chunk that is not JSON ({e}): {}",
                super::errors::excerpt(data)
            ))
        })?;
        if let Some(error) = chunk.get("error").filter(|e| !e.is_null()) {
            return Err(in_band::error_object(error));
        }
        if let Some(usage) = chunk.get("usage").and_then(parse_usage) {
            self.usage = Some(usage);
        }
        let Some(choice) = chunk.get("choices").and_then(|c| c.get(0)) else {
            return Ok(false);
        };
        let delta = &choice["delta"];
        let text = content_text(&delta["content"]);
        if !text.is_empty() {
            self.text.push_str(&text);
            on_delta(Delta::Text(&text));
        }
        if let Some(fragments) = delta["tool_calls"].as_array() {
            for (position, fragment) in fragments.iter().enumerate() {
                self.add_fragment(position, fragment);
            }
        }
        if let Some(reason) = choice["finish_reason"].as_str() {
            self.finish_reason = Some(reason.to_string());
        }
        // A call is complete once the next one has started, or the choice has finished.
        let complete = if self.finish_reason.is_some() {
            self.calls.len()
        } else {
            self.calls.len().saturating_sub(1)
        };
        self.announce(complete, on_delta);
        Ok(false)
    }

    /// The assembled response; a stream with neither `[DONE]` nor a finish reason was cut.
    fn finish(self) -> Result<ChatResponse, LlmError> {
        if !self.done && self.finish_reason.is_none() {
            return Err(stream_ended_early());
        }
        let mut extra = Map::new();
        let tool_calls = self
            .calls
            .into_iter()
            .map(|call| {
                if let Some(e) = call.extra {
                    extra.insert(call.id.clone(), e);
                }
                ToolCall {
                    id: call.id,
                    name: call.name,
                    arguments: call.arguments,
                }
            })
            .collect();
        Ok(ChatResponse {
            text: self.text,
            tool_calls,
            usage: self.usage.unwrap_or_default(),
            finish_reason: self.finish_reason,
            provider_state: tool_extra_state(extra),
            ..ChatResponse::default()
        })
    }
}

impl StreamState {
    /// Tell the sink about calls `announced..complete` whose arguments are whole JSON (one
    /// that is not is left to the finished response, which says what is wrong with it).
    fn announce(&mut self, complete: usize, on_delta: DeltaSink<'_>) {
        while self.announced < complete {
            let call = &self.calls[self.announced];
            self.announced += 1;
            if call.has_whole_arguments() && !call.name.is_empty() {
                on_delta(Delta::ToolCall(&ToolCall {
                    id: call.id.clone(),
                    name: call.name.clone(),
                    arguments: call.arguments.clone(),
                }));
            }
        }
    }

    /// The first fragment of a call carries its id and name; later ones carry argument text
    /// under the same `index`. Some servers send each call whole in one fragment, and some
    /// reuse index 0 for every call of a turn, with or without ids.
    fn add_fragment(&mut self, position: usize, fragment: &Value) {
        let index = fragment["index"].as_u64().unwrap_or(position as u64);
        let id = fragment["id"].as_str().filter(|id| !id.is_empty());
        let function = &fragment["function"];
        let name = function["name"].as_str().filter(|n| !n.is_empty());
        let arguments = arguments_text(&function["arguments"]);
        let existing = self.calls.iter().rposition(|c| c.index == index);
        let slot = existing.filter(|&at| {
            let call = &self.calls[at];
            let other_id = matches!(id, Some(id) if !call.id.is_empty() && call.id != id);
            // A name arriving for a call that already has one and whole arguments starts a
            // new call, unless it is the same name repeated with nothing more.
            let new_whole_call = name.is_some()
                && !call.name.is_empty()
                && call.has_whole_arguments()
                && (name != Some(call.name.as_str()) || !arguments.trim().is_empty());
            !other_id && !new_whole_call
        });
        let call = match slot {
            Some(at) => &mut self.calls[at],
            None => {
                self.calls.push(PartialCall {
                    index,
                    ..PartialCall::default()
                });
                self.calls.last_mut().expect("just pushed")
            }
        };
        if let Some(id) = id {
            call.id = id.to_string();
        }
        // The name comes whole in the first fragment; some servers repeat it in later ones.
        if let Some(name) = name
            && call.name.is_empty()
        {
            call.name = name.to_string();
        }
        if let Some(extra) = fragment.get("extra_content").filter(|e| !e.is_null()) {
            call.extra = Some(extra.clone());
        }
        call.arguments.push_str(&arguments);
    }
}

#[cfg(test)]
mod tests;
