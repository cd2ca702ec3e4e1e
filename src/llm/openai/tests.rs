use super::*;
use crate::llm::config::{ProviderKind, Secret};
use crate::llm::recorded::Recorded;
use crate::llm::{CallPurpose, Message, Provider, ToolSpec};
use std::time::Duration;

fn provider_on(base_url: &str, model: &str, stream: bool) -> OpenAiProvider {
    let mut cfg = ProviderConfig::new(ProviderKind::OpenAi, model, base_url);
    cfg.api_key = Some(Secret::new("sk-test"));
    cfg.stream = stream;
    cfg.request_timeout = Duration::from_secs(5);
    cfg.stream_idle_timeout = Duration::from_secs(5);
    OpenAiProvider::new(cfg)
}

fn provider(base_url: &str, stream: bool) -> OpenAiProvider {
    provider_on(base_url, "gpt-4.1-mini", stream)
}

fn run(state: &mut StreamState, chunks: &[&str]) -> String {
    let seen = Recorded::default();
    for chunk in chunks {
        if state.apply(chunk, &seen.sink()).unwrap() {
            break;
        }
    }
    seen.text()
}

fn tool(name: &str, parameters: Value) -> ToolSpec {
    ToolSpec {
        name: name.into(),
        description: "search".into(),
        parameters,
    }
}

fn conversation() -> ChatRequest {
    ChatRequest {
        temperature: Some(0.2),
        ..ChatRequest::new(
            CallPurpose::Work,
            "be brief",
            vec![
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
            vec![tool("grep", json!({"type": "object"}))].into(),
            100,
        )
    }
}

#[test]
fn request_body_maps_roles_tools_and_streaming() {
    let req = conversation();
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
    // Local servers get no tool_choice (vLLM refuses "auto" without a tool parser).
    assert!(body.get("tool_choice").is_none());

    let official = provider("https://api.openai.com/v1", false).request_body(&req);
    assert_eq!(official["max_completion_tokens"], 100);
    assert!(official.get("max_tokens").is_none());
    assert!(official.get("stream").is_none());
    assert_eq!(official["tool_choice"], "auto");
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
fn reasoning_models_on_any_host_get_completion_tokens_and_no_temperature() {
    let req = conversation();
    for base in ["https://openrouter.ai/api/v1", "http://litellm:4000/v1"] {
        let body = provider_on(base, "openai/o4-mini", true).request_body(&req);
        assert_eq!(body["max_completion_tokens"], 100, "{base}");
        assert!(body.get("max_tokens").is_none(), "{base}");
        assert!(body.get("temperature").is_none(), "{base}");
    }
    let mut cfg = ProviderConfig::new(ProviderKind::OpenAi, "gpt-5", "https://api.openai.com/v1");
    cfg.reasoning_effort = Some("low".into());
    let body = OpenAiProvider::new(cfg).request_body(&req);
    assert_eq!(body["reasoning_effort"], "low");
    // Not set, not sent.
    assert!(
        provider("https://api.openai.com/v1", true)
            .request_body(&req)
            .get("reasoning_effort")
            .is_none()
    );
}

#[test]
fn the_cache_key_goes_only_to_openai_itself() {
    let req = ChatRequest {
        cache_key: Some("run-42".into()),
        ..conversation()
    };
    let official = provider("https://api.openai.com/v1", true).request_body(&req);
    assert_eq!(official["prompt_cache_key"], "run-42");
    for base in [
        "https://generativelanguage.googleapis.com/v1beta/openai",
        "http://localhost:8000/v1",
    ] {
        let body = provider(base, true).request_body(&req);
        assert!(body.get("prompt_cache_key").is_none(), "{base}");
    }
}

#[test]
fn gemini_gets_plain_schemas_named_tool_results_and_its_signatures_back() {
    let gemini = provider_on(
        "https://generativelanguage.googleapis.com/v1beta/openai",
        "gemini-2.5-flash",
        false,
    );
    let schema = json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {"evidence": {"type": "array", "items": {"type": "object", "additionalProperties": false}}}
    });
    let mut req = conversation();
    req.tools = vec![tool("grep", schema.clone())].into();
    let signature = json!({"google": {"thought_signature": "c2lnbmF0dXJl"}});
    req.messages[1].provider_state = Some(json!({"tool_extra": {"c1": signature}}));
    let body = gemini.request_body(&req);
    let sent = body["tools"][0]["function"]["parameters"].to_string();
    assert!(!sent.contains("additionalProperties"), "{sent}");
    assert_eq!(body["messages"][3]["name"], "grep");
    assert_eq!(
        body["messages"][2]["tool_calls"][0]["extra_content"],
        signature
    );
    assert_eq!(body["tool_choice"], "auto");
    // Other hosts keep the schema as given and need no name on tool messages.
    let other = provider("http://localhost:8000/v1", false).request_body(&req);
    assert_eq!(other["tools"][0]["function"]["parameters"], schema);
    assert!(other["messages"][3].get("name").is_none());

    // The signature is read off the reply and carried in the assistant message.
    let reply = parse_completion(&json!({"choices": [{"message": {"content": null,
        "tool_calls": [{"id": "g1", "type": "function", "extra_content": signature,
            "function": {"name": "grep", "arguments": "{}"}}]}, "finish_reason": "tool_calls"}]}))
    .unwrap();
    let message = reply.assistant_message();
    assert_eq!(
        message.provider_state,
        Some(json!({"tool_extra": {"g1": signature}}))
    );
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
            output_tokens: 7,
            ..Usage::default()
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

/// Ollama: each call whole in one chunk, index 0 every time, no ids, arguments as an
/// object, and `finish_reason: "stop"`.
#[test]
fn whole_calls_without_ids_under_one_index_stay_apart() {
    let mut state = StreamState::default();
    run(
        &mut state,
        &[
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"read_doc","arguments":{"doc":"a"}}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"read_doc","arguments":{"doc":"b"}}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"finish_task","arguments":"{\"result\":\"ok\"}"}}]}}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#,
        ],
    );
    let reply = state.finish().unwrap();
    let args: Vec<_> = reply
        .tool_calls
        .iter()
        .map(|c| c.arguments.as_str())
        .collect();
    assert_eq!(
        args,
        [r#"{"doc":"a"}"#, r#"{"doc":"b"}"#, r#"{"result":"ok"}"#]
    );
    // A repeated name with no new arguments is the same call.
    let mut state = StreamState::default();
    run(
        &mut state,
        &[
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"grep","arguments":"{\"p\":1}"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"grep","arguments":""}}]},"finish_reason":"tool_calls"}]}"#,
        ],
    );
    assert_eq!(state.finish().unwrap().tool_calls.len(), 1);
}

#[test]
fn cached_prompt_tokens_are_read_in_both_forms() {
    let usage = parse_usage(&json!({"prompt_tokens": 2006, "completion_tokens": 300,
        "prompt_tokens_details": {"cached_tokens": 1920}}))
    .unwrap();
    assert_eq!(
        usage,
        Usage {
            input_tokens: 2006,
            output_tokens: 300,
            cache_read_tokens: 1920,
            cache_write_tokens: 0
        }
    );
    let deepseek = parse_usage(&json!({"prompt_tokens": 100, "completion_tokens": 1,
        "prompt_cache_hit_tokens": 64, "prompt_cache_miss_tokens": 36}))
    .unwrap();
    assert_eq!(deepseek.cache_read_tokens, 64);
    // A server claiming more cached than sent is held to what was sent.
    let odd =
        parse_usage(&json!({"prompt_tokens": 10, "prompt_tokens_details": {"cached_tokens": 50}}))
            .unwrap();
    assert_eq!(odd.cache_read_tokens, 10);
    assert_eq!(odd.uncached_input_tokens(), 0);
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
fn a_chunk_that_is_not_json_is_fatal() {
    let mut state = StreamState::default();
    let err = state
        .apply("<html>502 Bad Gateway</html>", &|_| {})
        .unwrap_err();
    assert!(
        matches!(err, LlmError::Fatal(ref m) if m.contains("malformed stream")),
        "{err:?}"
    );
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
            output_tokens: 3,
            ..Usage::default()
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

    let req = ChatRequest::new(
        CallPurpose::Work,
        "",
        vec![Message::user("hi")],
        Vec::new().into(),
        10,
    );
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

/// The sink hears of each call once the stream has moved past it, before the reply ends,
/// and only of calls whose arguments are whole JSON.
#[test]
fn each_call_is_announced_once_the_next_one_starts() {
    let announced = Recorded::default();
    let sink = announced.sink();
    let mut state = StreamState::default();
    let chunks = [
        r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"add_task","arguments":"{\"title\":"}}]}}]}"#,
        r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"x\"}"}}]}}]}"#,
        r#"{"choices":[{"delta":{"tool_calls":[{"index":1,"id":"b","function":{"name":"add_task","arguments":"{\"title\""}}]}}]}"#,
        r#"{"choices":[{"delta":{"tool_calls":[{"index":2,"id":"c","function":{"name":"finish_task","arguments":"{}"}}]}}]}"#,
        r#"{"choices":[{"delta":{},"finish_reason":"tool_calls"}]}"#,
    ];
    let count = |state: &mut StreamState, chunk: &str| {
        state.apply(chunk, &sink).unwrap();
        announced.calls().len()
    };
    assert_eq!(count(&mut state, chunks[0]), 0);
    assert_eq!(count(&mut state, chunks[1]), 0, "the call may still grow");
    assert_eq!(count(&mut state, chunks[2]), 1, "the next call started");
    // Call b's arguments never became JSON: the finished reply carries it, unannounced.
    assert_eq!(count(&mut state, chunks[3]), 1);
    assert_eq!(count(&mut state, chunks[4]), 2, "the choice finished");
    let calls: Vec<String> = announced
        .calls()
        .iter()
        .map(|c| format!("{} {}", c.name, c.arguments))
        .collect();
    assert_eq!(calls, [r#"add_task {"title":"x"}"#, "finish_task {}"]);
    assert_eq!(state.finish().unwrap().tool_calls.len(), 3);
}
