//! Ollama's native chat API (`POST {root}/api/chat`), used when a context window is set
//! (`num_ctx`): Ollama's OpenAI-compatible `/v1` route ignores any context size and
//! silently cuts prompts to the model's default window, while `options.num_ctx` here is
//! honoured. Streaming is newline-delimited JSON; tool calls come whole, without ids, with
//! arguments as objects.

use super::config::ProviderConfig;
use super::errors::stream_ended_early;
use super::in_band;
use super::transport::{StreamDecoder, Transport};
use super::wire::{arguments_object, called_tool, input_text, system_first};
use super::{ChatRequest, ChatResponse, Delta, DeltaSink, LlmError, Role, ToolCall, Usage};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

#[derive(Debug)]
pub struct OllamaProvider {
    model: String,
    stream: bool,
    num_ctx: Option<u32>,
    transport: Transport,
}

impl OllamaProvider {
    /// `cfg.base_url` is the OpenAI-style one (`http://host:11434/v1`) or the server root.
    pub fn new(mut cfg: ProviderConfig) -> Self {
        cfg.base_url = native_root(&cfg.base_url);
        OllamaProvider {
            transport: Transport::new(&cfg),
            model: cfg.model,
            stream: cfg.stream,
            num_ctx: cfg.num_ctx,
        }
    }

    /// The JSON body for `req`.
    pub fn request_body(&self, req: &ChatRequest) -> Value {
        let mut options = json!({"num_predict": req.max_tokens});
        if let Some(n) = self.num_ctx {
            options["num_ctx"] = json!(n);
        }
        if let Some(t) = req.temperature {
            options["temperature"] = json!(t);
        }
        let mut body = json!({
            "model": self.model,
            "messages": wire_messages(req),
            "stream": self.stream,
            "options": options,
        });
        if !req.tools.is_empty() {
            body["tools"] = req
                .tools
                .iter()
                .map(|tool| {
                    json!({"type": "function", "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": tool.parameters,
                    }})
                })
                .collect();
        }
        body
    }

    /// Ollama needs no key; one given is for a proxy in front of it.
    fn headers(&self) -> HeaderMap {
        self.transport.bearer_headers()
    }
}

super::http_provider!(OllamaProvider, "/api/chat", StreamState, parse_chat);

/// `http://host:11434/v1` → `http://host:11434`.
fn native_root(base_url: &str) -> String {
    let trimmed = base_url.trim_end_matches('/');
    trimmed.strip_suffix("/v1").unwrap_or(trimmed).to_string()
}

fn wire_messages(req: &ChatRequest) -> Vec<Value> {
    system_first(req, |message, earlier| match message.role {
        Role::User => json!({"role": "user", "content": message.content}),
        Role::Tool => {
            let id = message.tool_call_id.as_deref().unwrap_or_default();
            let name = called_tool(earlier, id).unwrap_or_default();
            json!({"role": "tool", "content": message.content, "tool_name": name})
        }
        Role::Assistant => {
            let calls: Vec<Value> = message
                .tool_calls
                .iter()
                .map(|c| {
                    json!({"function": {"name": c.name, "arguments": arguments_object(&c.arguments)}})
                })
                .collect();
            let mut wire = json!({"role": "assistant", "content": message.content});
            if !calls.is_empty() {
                wire["tool_calls"] = json!(calls);
            }
            wire
        }
    })
}

/// Tool calls of one `message` object (ids are assigned later, for every wire alike).
fn message_calls(message: &Value) -> impl Iterator<Item = ToolCall> + '_ {
    message["tool_calls"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|call| ToolCall {
            id: call["id"].as_str().unwrap_or_default().to_string(),
            name: call["function"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            arguments: input_text(&call["function"]["arguments"]),
        })
}

fn usage_of(value: &Value) -> Usage {
    let count = |key: &str| value[key].as_u64().unwrap_or_default();
    Usage {
        input_tokens: count("prompt_eval_count"),
        output_tokens: count("eval_count"),
        ..Usage::default()
    }
}

/// A non-streaming answer.
pub(super) fn parse_chat(value: &Value) -> Result<ChatResponse, LlmError> {
    if let Some(error) = value.get("error").filter(|e| !e.is_null()) {
        return Err(in_band::error_object(error));
    }
    let message = &value["message"];
    if !message.is_object() {
        return Err(LlmError::Fatal(format!(
            "the provider answered without a message: {}",
            value.to_string().chars().take(300).collect::<String>()
        )));
    }
    Ok(ChatResponse {
        text: message["content"].as_str().unwrap_or_default().to_string(),
        tool_calls: message_calls(message).collect(),
        usage: usage_of(value),
        finish_reason: value["done_reason"].as_str().map(str::to_string),
        ..ChatResponse::default()
    })
}

/// Folds the JSON lines of a streamed answer.
#[derive(Debug, Default)]
pub(super) struct StreamState {
    reply: ChatResponse,
    done: bool,
}

impl StreamDecoder for StreamState {
    fn has_stop_reason(&self) -> bool {
        self.done
    }

    fn apply(&mut self, data: &str, on_delta: DeltaSink<'_>) -> Result<bool, LlmError> {
        let line: Value = serde_json::from_str(data).map_err(|e| {
            LlmError::Fatal(format!(
                "the provider sent a malformed stream: a line that is not JSON ({e}): {}",
                data.chars().take(300).collect::<String>()
            ))
        })?;
        if let Some(error) = line.get("error").filter(|e| !e.is_null()) {
            return Err(in_band::error_object(error));
        }
        let message = &line["message"];
        if let Some(text) = message["content"].as_str()
            && !text.is_empty()
        {
            self.reply.text.push_str(text);
            on_delta(Delta::Text(text));
        }
        // Ollama sends each call whole in one line.
        for call in message_calls(message) {
            on_delta(Delta::ToolCall(&call));
            self.reply.tool_calls.push(call);
        }
        if line["done"].as_bool() == Some(true) {
            self.done = true;
            self.reply.usage = usage_of(&line);
            self.reply.finish_reason = line["done_reason"].as_str().map(str::to_string);
            return Ok(true);
        }
        Ok(false)
    }

    fn finish(self) -> Result<ChatResponse, LlmError> {
        if !self.done {
            return Err(stream_ended_early());
        }
        Ok(self.reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::config::ProviderKind;
    use crate::llm::{CallPurpose, Message, ToolSpec};

    fn provider(stream: bool) -> OllamaProvider {
        let mut cfg = ProviderConfig::new(ProviderKind::OpenAi, "qwen3:8b", "http://gpu:11434/v1/");
        cfg.num_ctx = Some(32768);
        cfg.stream = stream;
        OllamaProvider::new(cfg)
    }

    #[test]
    fn the_native_root_drops_the_openai_suffix() {
        assert_eq!(native_root("http://gpu:11434/v1/"), "http://gpu:11434");
        assert_eq!(native_root("http://gpu:11434"), "http://gpu:11434");
    }

    #[test]
    fn request_body_carries_the_context_window_and_object_arguments() {
        let req = ChatRequest {
            temperature: Some(0.1),
            ..ChatRequest::new(
                CallPurpose::Work,
                "sys",
                vec![
                    Message::user("q"),
                    Message::assistant(
                        "",
                        vec![ToolCall {
                            id: "c1".into(),
                            name: "read_doc".into(),
                            arguments: r#"{"doc":"a"}"#.into(),
                        }],
                    ),
                    Message::tool("c1", "text of a"),
                ],
                vec![ToolSpec {
                    name: "read_doc".into(),
                    description: "read".into(),
                    parameters: json!({"type": "object"}),
                }]
                .into(),
                500,
            )
        };
        let body = provider(true).request_body(&req);
        assert_eq!(
            body["options"],
            json!({"num_ctx": 32768, "num_predict": 500, "temperature": 0.1f32})
        );
        assert_eq!(body["messages"][0]["role"], "system");
        assert_eq!(
            body["messages"][2]["tool_calls"][0]["function"]["arguments"],
            json!({"doc": "a"})
        );
        assert_eq!(body["messages"][3]["tool_name"], "read_doc");
        assert_eq!(body["stream"], true);
        assert_eq!(body["tools"][0]["function"]["name"], "read_doc");
    }

    #[test]
    fn streamed_lines_fold_into_a_reply() {
        let mut state = StreamState::default();
        for line in [
            r#"{"message":{"role":"assistant","content":"Reading"},"done":false}"#,
            r#"{"message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"read_doc","arguments":{"doc":"a"}}},{"function":{"name":"read_doc","arguments":{"doc":"b"}}}]},"done":false}"#,
            r#"{"message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","prompt_eval_count":900,"eval_count":40}"#,
        ] {
            if state.apply(line, &|_| {}).unwrap() {
                break;
            }
        }
        let reply = state.finish().unwrap();
        assert_eq!(reply.text, "Reading");
        assert_eq!(reply.tool_calls.len(), 2);
        assert_eq!(reply.tool_calls[1].arguments, r#"{"doc":"b"}"#);
        assert_eq!(reply.usage.input_tokens, 900);
        assert_eq!(reply.finish_reason.as_deref(), Some("stop"));
        let err = StreamState::default().apply(r#"{"error":"model 'x' not found"}"#, &|_| {});
        assert!(err.is_err());
    }
}
