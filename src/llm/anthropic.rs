//! The Anthropic messages API (`POST {base}/messages`), streaming and not.

use super::in_band;
use super::spec::ProviderConfig;
use super::transport::{self, StreamDecoder, Transport};
use super::{
    ChatRequest, ChatResponse, DeltaSink, LlmError, Message, Provider, Role, ToolCall, Usage,
};
use futures_util::future::BoxFuture;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};
use std::collections::BTreeMap;

const API_VERSION: &str = "2023-06-01";

#[derive(Debug)]
pub struct AnthropicProvider {
    model: String,
    stream: bool,
    transport: Transport,
}

impl AnthropicProvider {
    pub fn new(cfg: ProviderConfig) -> Self {
        AnthropicProvider {
            transport: Transport::new(&cfg),
            model: cfg.model,
            stream: cfg.stream,
        }
    }

    /// The JSON body for `req`.
    pub fn request_body(&self, req: &ChatRequest) -> Value {
        let mut body = json!({
            "model": self.model,
            "max_tokens": req.max_tokens,
            "messages": wire_messages(&req.messages),
        });
        if !req.system.is_empty() {
            body["system"] = json!(req.system);
        }
        if let Some(t) = req.temperature {
            body["temperature"] = json!(t);
        }
        if !req.tools.is_empty() {
            body["tools"] = req
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

    async fn call(
        &self,
        req: &ChatRequest,
        on_delta: DeltaSink<'_>,
    ) -> Result<ChatResponse, LlmError> {
        let body = self.request_body(req);
        self.transport
            .exchange::<StreamState>(
                "/messages",
                self.headers(),
                &body,
                self.stream,
                on_delta,
                parse_message,
            )
            .await
    }
}

impl Provider for AnthropicProvider {
    fn model(&self) -> &str {
        &self.model
    }

    fn chat<'a>(
        &'a self,
        req: &'a ChatRequest,
        on_delta: DeltaSink<'a>,
    ) -> BoxFuture<'a, Result<ChatResponse, LlmError>> {
        Box::pin(
            self.transport
                .within_request_timeout(self.call(req, on_delta)),
        )
    }
}

/// Converts the conversation to content blocks. The API wants strictly alternating roles,
/// tool results as `user` blocks, and those results first in their message, so consecutive
/// same-role messages are merged and tool results moved to the front.
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
                let mut blocks = text_block(message.content.trim_end());
                blocks.extend(message.tool_calls.iter().map(|call| {
                    json!({
                        "type": "tool_use",
                        "id": call.id,
                        "name": call.name,
                        "input": input_object(&call.arguments),
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
            // Stable: tool results keep their order, and so does the rest.
            blocks.sort_by_key(|b| b["type"] != "tool_result");
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

/// `tool_use.input` must be an object. Arguments the model once produced malformed are kept
/// visible to it under `_unparsed_arguments` rather than silently dropped.
fn input_object(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return json!({});
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(value @ Value::Object(_)) => value,
        _ => json!({"_unparsed_arguments": arguments}),
    }
}

/// Tool input as raw JSON text; empty input becomes `{}`.
fn input_text(input: &Value) -> String {
    match input {
        Value::Null => "{}".to_string(),
        Value::String(raw) if raw.trim().is_empty() => "{}".to_string(),
        Value::String(raw) => raw.clone(),
        other => other.to_string(),
    }
}

/// A non-streaming `message` body.
fn parse_message(value: &Value) -> Result<ChatResponse, LlmError> {
    if value["type"] == "error" {
        return Err(in_band::error_object(&value["error"]));
    }
    let Some(content) = value["content"].as_array() else {
        return Err(LlmError::Fatal(format!(
            "the provider answered without content: {}",
            value.to_string().chars().take(300).collect::<String>()
        )));
    };
    let mut reply = ChatResponse {
        finish_reason: value["stop_reason"].as_str().map(str::to_string),
        usage: parse_usage(&value["usage"], Usage::default()),
        ..ChatResponse::default()
    };
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
            _ => {}
        }
    }
    Ok(reply)
}

/// Reads a `usage` object over `base`. Input counts cached prompt tokens too: they are part of
/// the prompt the model read (pricing differences for caching are not modelled).
fn parse_usage(usage: &Value, base: Usage) -> Usage {
    let field = |name: &str| usage.get(name).and_then(Value::as_u64);
    let input = [
        "input_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    ]
    .iter()
    .filter_map(|name| field(name))
    .reduce(|a, b| a + b);
    Usage {
        input_tokens: input.unwrap_or(base.input_tokens),
        output_tokens: field("output_tokens").unwrap_or(base.output_tokens),
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
    /// Thinking and server-side blocks: not part of the answer.
    Other,
}

/// Folds the streaming events into a response.
#[derive(Debug, Default)]
struct StreamState {
    blocks: BTreeMap<u64, Block>,
    usage: Usage,
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
        let event: Value = serde_json::from_str(data).map_err(|e| {
            transport::transient(format!(
                "the provider sent a stream event that is not JSON ({e}): {}",
                data.chars().take(300).collect::<String>()
            ))
        })?;
        let index = event["index"].as_u64().unwrap_or_default();
        match event["type"].as_str().unwrap_or_default() {
            "message_start" => self.usage = parse_usage(&event["message"]["usage"], self.usage),
            "content_block_start" => {
                let block = &event["content_block"];
                let block = match block["type"].as_str() {
                    Some("text") => {
                        let text = block["text"].as_str().unwrap_or_default();
                        if !text.is_empty() {
                            on_delta(text);
                        }
                        Block::Text(text.to_string())
                    }
                    Some("tool_use") => Block::ToolUse {
                        id: block["id"].as_str().unwrap_or_default().to_string(),
                        name: block["name"].as_str().unwrap_or_default().to_string(),
                        initial: block["input"].clone(),
                        json: String::new(),
                    },
                    _ => Block::Other,
                };
                self.blocks.insert(index, block);
            }
            "content_block_delta" => {
                let delta = &event["delta"];
                match (self.blocks.get_mut(&index), delta["type"].as_str()) {
                    (Some(Block::Text(text)), Some("text_delta")) => {
                        let piece = delta["text"].as_str().unwrap_or_default();
                        text.push_str(piece);
                        on_delta(piece);
                    }
                    (Some(Block::ToolUse { json, .. }), Some("input_json_delta")) => {
                        json.push_str(delta["partial_json"].as_str().unwrap_or_default());
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(reason) = event["delta"]["stop_reason"].as_str() {
                    self.stop_reason = Some(reason.to_string());
                }
                self.usage = parse_usage(&event["usage"], self.usage);
            }
            "message_stop" => {
                self.stopped = true;
                return Ok(true);
            }
            "error" => return Err(in_band::error_object(&event["error"])),
            // ping, content_block_stop, and event types added to the API later.
            _ => {}
        }
        Ok(false)
    }

    fn finish(self) -> Result<ChatResponse, LlmError> {
        if !self.stopped && self.stop_reason.is_none() {
            return Err(transport::stream_ended_early());
        }
        let mut reply = ChatResponse {
            usage: self.usage,
            finish_reason: self.stop_reason,
            ..ChatResponse::default()
        };
        for block in self.blocks.into_values() {
            match block {
                Block::Text(text) => reply.text.push_str(&text),
                Block::ToolUse {
                    id,
                    name,
                    initial,
                    json,
                } => reply.tool_calls.push(ToolCall {
                    id,
                    name,
                    arguments: if json.trim().is_empty() {
                        input_text(&initial)
                    } else {
                        json
                    },
                }),
                Block::Other => {}
            }
        }
        Ok(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::ToolSpec;
    use crate::llm::spec::{ProviderKind, Secret};
    use std::sync::Mutex;
    use std::time::Duration;

    fn provider(stream: bool) -> AnthropicProvider {
        AnthropicProvider::new(ProviderConfig {
            kind: ProviderKind::Anthropic,
            model: "claude-sonnet-4-5".into(),
            base_url: "https://api.anthropic.com/v1".into(),
            api_key: Some(Secret::new("sk-ant-test")),
            stream,
            request_timeout: Duration::from_secs(5),
            stream_idle_timeout: Duration::from_secs(5),
        })
    }

    fn call(id: &str, name: &str, arguments: &str) -> ToolCall {
        ToolCall {
            id: id.into(),
            name: name.into(),
            arguments: arguments.into(),
        }
    }

    #[test]
    fn request_body_merges_roles_and_maps_tools() {
        let req = ChatRequest {
            system: "be brief".into(),
            messages: vec![
                Message::user("question"),
                Message::user("constraint: be kind"),
                Message::assistant(
                    "looking ",
                    vec![
                        call("t1", "grep", r#"{"pattern":"x"}"#),
                        call("t2", "list_dir", ""),
                    ],
                ),
                Message::tool("t1", "3 matches"),
                Message::tool("t2", "a.rs"),
                Message::user("new constraint"),
                Message::assistant("", vec![call("t3", "grep", "{not json")]),
            ],
            tools: vec![ToolSpec {
                name: "grep".into(),
                description: "search".into(),
                parameters: json!({"type": "object"}),
            }]
            .into(),
            max_tokens: 64,
            temperature: None,
        };
        let body = provider(true).request_body(&req);
        assert_eq!(body["system"], "be brief");
        assert_eq!(body["max_tokens"], 64);
        assert_eq!(body["stream"], true);
        assert_eq!(
            body["tools"][0],
            json!({"name": "grep", "description": "search", "input_schema": {"type": "object"}})
        );
        let messages = body["messages"].as_array().unwrap();
        let roles: Vec<_> = messages
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["user", "assistant", "user", "assistant"]);
        assert_eq!(messages[0]["content"].as_array().unwrap().len(), 2);
        let assistant = &messages[1]["content"];
        assert_eq!(assistant[0], json!({"type": "text", "text": "looking"}));
        assert_eq!(assistant[1]["input"], json!({"pattern": "x"}));
        assert_eq!(assistant[2]["input"], json!({}));
        let results = messages[2]["content"].as_array().unwrap();
        assert_eq!(results[0]["type"], "tool_result");
        assert_eq!(results[0]["tool_use_id"], "t1");
        assert_eq!(results[1]["tool_use_id"], "t2");
        assert_eq!(results[2]["type"], "text");
        assert_eq!(
            messages[3]["content"][0]["input"]["_unparsed_arguments"],
            "{not json"
        );
    }

    #[test]
    fn assembles_a_streamed_message() {
        let seen = Mutex::new(String::new());
        let sink = |t: &str| seen.lock().unwrap().push_str(t);
        let mut state = StreamState::default();
        let events = [
            r#"{"type":"message_start","message":{"usage":{"input_tokens":25,"output_tokens":1}}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"ping"}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let me "}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"look."}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"grep","input":{}}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"pattern\": \"fo"}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"o\"}"}}"#,
            r#"{"type":"content_block_stop","index":1}"#,
            r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_2","name":"list_dir","input":{}}}"#,
            r#"{"type":"content_block_stop","index":2}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":42}}"#,
            r#"{"type":"message_stop"}"#,
        ];
        for event in events {
            if state.apply(event, &sink).unwrap() {
                break;
            }
        }
        let reply = state.finish().unwrap();
        assert_eq!(seen.into_inner().unwrap(), "Let me look.");
        assert_eq!(reply.text, "Let me look.");
        assert_eq!(reply.tool_calls[0].arguments, r#"{"pattern": "foo"}"#);
        assert_eq!(reply.tool_calls[1].arguments, "{}");
        assert_eq!(
            reply.usage,
            Usage {
                input_tokens: 25,
                output_tokens: 42
            }
        );
        assert_eq!(reply.finish_reason.as_deref(), Some("tool_use"));
    }

    #[test]
    fn error_event_and_cut_stream() {
        let mut state = StreamState::default();
        let err = state
            .apply(
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
                &|_| {},
            )
            .unwrap_err();
        assert!(err.is_transient(), "{err:?}");

        let mut state = StreamState::default();
        state
            .apply(
                r#"{"type":"message_start","message":{"usage":{"input_tokens":3}}}"#,
                &|_| {},
            )
            .unwrap();
        assert!(state.finish().unwrap_err().is_transient());
    }

    #[test]
    fn parses_a_whole_message() {
        let reply = parse_message(&json!({
            "type": "message",
            "content": [
                {"type": "text", "text": "ok"},
                {"type": "tool_use", "id": "t", "name": "expand", "input": {"point": "P1"}},
                {"type": "tool_use", "id": "u", "name": "finish_task", "input": ""}
            ],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 2}
        }))
        .unwrap();
        assert_eq!(reply.text, "ok");
        assert_eq!(reply.tool_calls[0].arguments, r#"{"point":"P1"}"#);
        assert_eq!(reply.tool_calls[1].arguments, "{}");
        assert_eq!(
            reply.usage,
            Usage {
                input_tokens: 12,
                output_tokens: 5
            }
        );
    }
}
