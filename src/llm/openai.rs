//! The chat-completions wire format (`POST {base}/chat/completions`), spoken by OpenAI and by
//! most local and proxy servers: Ollama, vLLM, LiteLLM, OpenRouter, llama.cpp, LM Studio.

use super::in_band;
use super::spec::ProviderConfig;
use super::transport::{self, StreamDecoder, Transport};
use super::{ChatRequest, ChatResponse, DeltaSink, LlmError, Provider, Role, ToolCall, Usage};
use futures_util::future::BoxFuture;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde_json::{Value, json};

#[derive(Debug)]
pub struct OpenAiProvider {
    model: String,
    stream: bool,
    /// OpenAI itself wants `max_completion_tokens`; other servers know only `max_tokens`.
    official_api: bool,
    transport: Transport,
}

impl OpenAiProvider {
    pub fn new(cfg: ProviderConfig) -> Self {
        let official_api = cfg.base_url.contains("api.openai.com");
        OpenAiProvider {
            transport: Transport::new(&cfg),
            model: cfg.model,
            stream: cfg.stream,
            official_api,
        }
    }

    /// The JSON body for `req`.
    pub fn request_body(&self, req: &ChatRequest) -> Value {
        let mut body = json!({
            "model": self.model,
            "messages": wire_messages(req),
        });
        let token_field = if self.official_api {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        body[token_field] = json!(req.max_tokens);
        // Reasoning models reject any temperature but the default.
        if let Some(t) = req.temperature
            && !is_reasoning_model(&self.model)
        {
            body["temperature"] = json!(t);
        }
        if !req.tools.is_empty() {
            body["tools"] = req
                .tools
                .iter()
                .map(|tool| {
                    json!({
                        "type": "function",
                        "function": {
                            "name": tool.name,
                            "description": tool.description,
                            "parameters": tool.parameters,
                        }
                    })
                })
                .collect();
        }
        if self.stream {
            body["stream"] = json!(true);
            body["stream_options"] = json!({"include_usage": true});
        }
        body
    }

    fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(key) = self.transport.api_key()
            && let Ok(mut value) = HeaderValue::from_str(&format!("Bearer {}", key.expose()))
        {
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
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
                "/chat/completions",
                self.headers(),
                &body,
                self.stream,
                on_delta,
                parse_completion,
            )
            .await
    }
}

impl Provider for OpenAiProvider {
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

/// o1/o3/o4 and gpt-5 models take no `temperature`.
fn is_reasoning_model(model: &str) -> bool {
    let name = model.rsplit('/').next().unwrap_or(model);
    name.starts_with("gpt-5")
        || (name.starts_with('o') && name[1..].starts_with(|c: char| c.is_ascii_digit()))
}

fn wire_messages(req: &ChatRequest) -> Vec<Value> {
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if !req.system.is_empty() {
        messages.push(json!({"role": "system", "content": req.system}));
    }
    for message in &req.messages {
        messages.push(match message.role {
            Role::User => json!({"role": "user", "content": message.content}),
            Role::Tool => json!({
                "role": "tool",
                "tool_call_id": message.tool_call_id.clone().unwrap_or_default(),
                "content": message.content,
            }),
            Role::Assistant if message.tool_calls.is_empty() => {
                json!({"role": "assistant", "content": message.content})
            }
            Role::Assistant => {
                let calls: Vec<Value> = message
                    .tool_calls
                    .iter()
                    .map(|call| {
                        json!({
                            "id": call.id,
                            "type": "function",
                            "function": {"name": call.name, "arguments": call.arguments},
                        })
                    })
                    .collect();
                let content = if message.content.is_empty() {
                    Value::Null
                } else {
                    json!(message.content)
                };
                json!({"role": "assistant", "content": content, "tool_calls": calls})
            }
        });
    }
    messages
}

/// A non-streaming `chat.completion` body.
fn parse_completion(value: &Value) -> Result<ChatResponse, LlmError> {
    if let Some(error) = value.get("error") {
        return Err(in_band::error_object(error));
    }
    let Some(choice) = value.get("choices").and_then(|c| c.get(0)) else {
        return Err(LlmError::Fatal(format!(
            "the provider answered without any choice: {}",
            truncate(&value.to_string())
        )));
    };
    let message = &choice["message"];
    let tool_calls = message["tool_calls"]
        .as_array()
        .map(|calls| {
            calls
                .iter()
                .enumerate()
                .map(|(i, call)| ToolCall {
                    id: call["id"]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("call_{i}")),
                    name: call["function"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    arguments: arguments_text(&call["function"]["arguments"]),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(ChatResponse {
        text: message["content"].as_str().unwrap_or_default().to_string(),
        tool_calls,
        usage: parse_usage(&value["usage"]).unwrap_or_default(),
        finish_reason: choice["finish_reason"].as_str().map(str::to_string),
    })
}

/// Arguments are a JSON string on the wire; a few servers send an object instead.
fn arguments_text(arguments: &Value) -> String {
    match arguments {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn parse_usage(usage: &Value) -> Option<Usage> {
    let input = usage.get("prompt_tokens")?.as_u64()?;
    Some(Usage {
        input_tokens: input,
        output_tokens: usage
            .get("completion_tokens")
            .and_then(Value::as_u64)
            .unwrap_or_default(),
    })
}

fn truncate(text: &str) -> String {
    text.chars().take(300).collect()
}

/// One tool call being assembled from stream fragments.
#[derive(Debug, Default)]
struct PartialCall {
    index: u64,
    id: String,
    name: String,
    arguments: String,
}

/// Folds `chat.completion.chunk` events into a response.
#[derive(Debug, Default)]
struct StreamState {
    text: String,
    calls: Vec<PartialCall>,
    usage: Option<Usage>,
    finish_reason: Option<String>,
    done: bool,
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
        let chunk: Value = serde_json::from_str(data).map_err(|e| {
            transport::transient(format!(
                "the provider sent a stream chunk that is not JSON ({e}): {}",
                truncate(data)
            ))
        })?;
        if let Some(error) = chunk.get("error") {
            return Err(in_band::error_object(error));
        }
        if let Some(usage) = chunk.get("usage").and_then(parse_usage) {
            self.usage = Some(usage);
        }
        let Some(choice) = chunk.get("choices").and_then(|c| c.get(0)) else {
            return Ok(false);
        };
        let delta = &choice["delta"];
        if let Some(text) = delta["content"].as_str()
            && !text.is_empty()
        {
            self.text.push_str(text);
            on_delta(text);
        }
        if let Some(fragments) = delta["tool_calls"].as_array() {
            for (position, fragment) in fragments.iter().enumerate() {
                self.add_fragment(position, fragment);
            }
        }
        if let Some(reason) = choice["finish_reason"].as_str() {
            self.finish_reason = Some(reason.to_string());
        }
        Ok(false)
    }

    /// The assembled response; a stream with neither `[DONE]` nor a finish reason was cut.
    fn finish(self) -> Result<ChatResponse, LlmError> {
        if !self.done && self.finish_reason.is_none() {
            return Err(transport::stream_ended_early());
        }
        let tool_calls = self
            .calls
            .into_iter()
            .enumerate()
            .map(|(i, call)| ToolCall {
                id: if call.id.is_empty() {
                    format!("call_{i}")
                } else {
                    call.id
                },
                name: call.name,
                arguments: call.arguments,
            })
            .collect();
        Ok(ChatResponse {
            text: self.text,
            tool_calls,
            usage: self.usage.unwrap_or_default(),
            finish_reason: self.finish_reason,
        })
    }
}

impl StreamState {
    /// The first fragment of a call carries its id and name; later ones carry argument text
    /// under the same `index`.
    fn add_fragment(&mut self, position: usize, fragment: &Value) {
        let index = fragment["index"].as_u64().unwrap_or(position as u64);
        let id = fragment["id"].as_str().filter(|id| !id.is_empty());
        let function = &fragment["function"];
        // Some servers reuse index 0 for every call of a turn; a new id then means a new call.
        let existing = self.calls.iter().rposition(|c| c.index == index);
        let slot = match (existing, id) {
            (Some(at), Some(id)) if !self.calls[at].id.is_empty() && self.calls[at].id != id => {
                None
            }
            (found, _) => found,
        };
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
        if let Some(name) = function["name"].as_str()
            && call.name.is_empty()
        {
            call.name = name.to_string();
        }
        call.arguments
            .push_str(&arguments_text(&function["arguments"]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::spec::{ProviderKind, Secret};
    use crate::llm::{Message, ToolSpec};
    use std::sync::Mutex;
    use std::time::Duration;

    fn provider(base_url: &str, stream: bool) -> OpenAiProvider {
        OpenAiProvider::new(ProviderConfig {
            kind: ProviderKind::OpenAi,
            model: "gpt-4.1-mini".into(),
            base_url: base_url.into(),
            api_key: Some(Secret::new("sk-test")),
            stream,
            request_timeout: Duration::from_secs(5),
            stream_idle_timeout: Duration::from_secs(5),
        })
    }

    fn run(state: &mut StreamState, chunks: &[&str]) -> String {
        let seen = Mutex::new(String::new());
        let sink = |t: &str| seen.lock().unwrap().push_str(t);
        for chunk in chunks {
            if state.apply(chunk, &sink).unwrap() {
                break;
            }
        }
        seen.into_inner().unwrap()
    }

    #[test]
    fn request_body_maps_roles_tools_and_streaming() {
        let req = ChatRequest {
            system: "be brief".into(),
            messages: vec![
                Message::user("hi"),
                Message::assistant(
                    "",
                    vec![ToolCall {
                        id: "c1".into(),
                        name: "grep".into(),
                        arguments: "{\"pattern\":\"x\"}".into(),
                    }],
                ),
                Message::tool("c1", "no matches"),
            ],
            tools: vec![ToolSpec {
                name: "grep".into(),
                description: "search".into(),
                parameters: json!({"type": "object"}),
            }]
            .into(),
            max_tokens: 100,
            temperature: Some(0.2),
        };
        let body = provider("http://localhost:11434/v1/", true).request_body(&req);
        assert_eq!(
            body["messages"][0],
            json!({"role": "system", "content": "be brief"})
        );
        assert_eq!(body["messages"][1]["role"], "user");
        assert_eq!(body["messages"][2]["content"], Value::Null);
        assert_eq!(body["messages"][2]["tool_calls"][0]["type"], "function");
        assert_eq!(
            body["messages"][2]["tool_calls"][0]["function"]["name"],
            "grep"
        );
        assert_eq!(
            body["messages"][3],
            json!({"role": "tool", "tool_call_id": "c1", "content": "no matches"})
        );
        assert_eq!(
            body["tools"][0]["function"]["parameters"],
            json!({"type": "object"})
        );
        assert_eq!(body["max_tokens"], 100);
        assert!(body["temperature"].as_f64().is_some());
        assert_eq!(body["stream_options"]["include_usage"], true);

        let official = provider("https://api.openai.com/v1", false).request_body(&req);
        assert_eq!(official["max_completion_tokens"], 100);
        assert!(official.get("max_tokens").is_none());
        assert!(official.get("stream").is_none());
    }

    #[test]
    fn reasoning_models_are_recognised() {
        for m in ["o3", "o4-mini", "o1-preview", "gpt-5-mini", "openai/gpt-5"] {
            assert!(is_reasoning_model(m), "{m}");
        }
        for m in ["gpt-4.1", "llama3.1", "olmo-2", "qwen2.5:7b"] {
            assert!(!is_reasoning_model(m), "{m}");
        }
    }

    #[test]
    fn assembles_text_and_fragmented_tool_calls() {
        let mut state = StreamState::default();
        let seen = run(
            &mut state,
            &[
                r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"content":"lo"}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","type":"function","function":{"name":"grep","arguments":""}}]}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"b","type":"function","function":{"name":"list_dir","arguments":"{\"pa"}}]}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"pattern\":"}}]}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"x\"}"}}]}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"th\":\".\"}"}}]}}]}"#,
                r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
                r#"{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":7}}"#,
                "[DONE]",
            ],
        );
        assert_eq!(seen, "Hello");
        let reply = state.finish().unwrap();
        assert_eq!(reply.text, "Hello");
        assert_eq!(reply.tool_calls.len(), 2);
        assert_eq!(reply.tool_calls[0].id, "a");
        assert_eq!(reply.tool_calls[0].arguments, r#"{"pattern":"x"}"#);
        assert_eq!(reply.tool_calls[1].name, "list_dir");
        assert_eq!(reply.tool_calls[1].arguments, r#"{"path":"."}"#);
        assert_eq!(
            reply.usage,
            Usage {
                input_tokens: 12,
                output_tokens: 7
            }
        );
        assert_eq!(reply.finish_reason.as_deref(), Some("tool_calls"));
    }

    #[test]
    fn calls_sharing_an_index_are_split_by_id() {
        let mut state = StreamState::default();
        run(
            &mut state,
            &[
                r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"x","arguments":"{}"}}]}}]}"#,
                r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"b","function":{"name":"y","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}"#,
            ],
        );
        let reply = state.finish().unwrap();
        let names: Vec<_> = reply.tool_calls.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["x", "y"]);
    }

    #[test]
    fn a_stream_without_an_end_is_transient() {
        let mut state = StreamState::default();
        run(
            &mut state,
            &[r#"{"choices":[{"delta":{"content":"par"}}]}"#],
        );
        let err = state.finish().unwrap_err();
        assert!(err.is_transient());
        assert!(err.to_string().contains("stream ended before completion"));

        // A finish reason without [DONE] is complete enough (some servers omit [DONE]).
        let mut state = StreamState::default();
        run(
            &mut state,
            &[r#"{"choices":[{"delta":{"content":"ok"},"finish_reason":"stop"}]}"#],
        );
        assert_eq!(state.finish().unwrap().text, "ok");
    }

    #[test]
    fn mid_stream_error_object_is_reported() {
        let mut state = StreamState::default();
        let err = state
            .apply(
                r#"{"error":{"message":"upstream overloaded","type":"server_error"}}"#,
                &|_| {},
            )
            .unwrap_err();
        assert!(err.is_transient());
    }

    #[test]
    fn missing_usage_is_estimated() {
        let mut reply = parse_completion(
            &json!({"choices":[{"message":{"content":"four score"},"finish_reason":"stop"}]}),
        )
        .unwrap();
        in_band::estimate_missing_usage(&mut reply, &json!("x".repeat(398)));
        assert_eq!(
            reply.usage,
            Usage {
                input_tokens: 100,
                output_tokens: 3
            }
        );
    }

    /// A connection that breaks after the finish reason arrived still yields the answer (no
    /// retry, no second paid call); one that breaks before it is a transient error.
    #[tokio::test]
    async fn a_break_after_the_finish_reason_keeps_the_answer() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        async fn serve_once(events: &'static [&'static str]) -> String {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
            tokio::spawn(async move {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut request = vec![0u8; 64 * 1024];
                let _ = socket.read(&mut request).await;
                let mut reply = String::from(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                     transfer-encoding: chunked\r\n\r\n",
                );
                for event in events {
                    let data = format!("data: {event}\n\n");
                    reply.push_str(&format!("{:x}\r\n{data}\r\n", data.len()));
                }
                // No terminating chunk: the connection just ends.
                let _ = socket.write_all(reply.as_bytes()).await;
            });
            base_url
        }

        let req = ChatRequest {
            system: String::new(),
            messages: vec![Message::user("hi")],
            tools: Vec::new().into(),
            max_tokens: 10,
            temperature: None,
        };
        let finished = serve_once(&[
            r#"{"choices":[{"delta":{"content":"done"}}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#,
        ])
        .await;
        let reply = provider(&finished, true).chat(&req, &|_| {}).await.unwrap();
        assert_eq!(reply.text, "done");
        assert!(
            reply.usage.input_tokens > 0,
            "usage is estimated when missing"
        );

        let cut = serve_once(&[r#"{"choices":[{"delta":{"content":"do"}}]}"#]).await;
        let err = provider(&cut, true).chat(&req, &|_| {}).await.unwrap_err();
        assert!(err.is_transient(), "{err:?}");
    }
}
