//! The provider adapters against a real HTTP server on loopback (the scripted mock), in both
//! wire formats, streaming and not: replies, tool calls, usage, the error kinds, retries,
//! timeouts, cancellation and keeping the API key secret.

mod support;

use delm::llm::anthropic::AnthropicProvider;
use delm::llm::config::{ProviderConfig, ProviderKind, Secret};
use delm::llm::openai::OpenAiProvider;
use delm::llm::retry::{RetryNotice, RetryPolicy, RetryingProvider};
use delm::llm::{
    CallPurpose, ChatRequest, ChatResponse, LlmError, Message, Provider, ToolCall, ToolSpec,
    build_provider,
};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{MockLlm, RecordedRequest, Reply, Wire};
use tokio_util::sync::CancellationToken;

const KEY: &str = "sk-test-SECRET-4242-do-not-leak";

/// Every wire format in both modes.
const MODES: [(Wire, bool); 4] = [
    (Wire::OpenAi, true),
    (Wire::OpenAi, false),
    (Wire::Anthropic, true),
    (Wire::Anthropic, false),
];

fn config(mock: &MockLlm, wire: Wire, stream: bool) -> ProviderConfig {
    let kind = match wire {
        Wire::OpenAi => ProviderKind::OpenAi,
        Wire::Anthropic => ProviderKind::Anthropic,
    };
    let mut cfg = ProviderConfig::new(kind, "test-model", mock.base_url.clone());
    cfg.api_key = Some(Secret::new(KEY));
    cfg.stream = stream;
    cfg.request_timeout = Duration::from_secs(10);
    cfg.stream_idle_timeout = Duration::from_secs(10);
    cfg
}

fn provider(mock: &MockLlm, wire: Wire, stream: bool) -> Arc<dyn Provider> {
    build_provider(config(mock, wire, stream))
}

fn read_file_tool() -> ToolSpec {
    ToolSpec {
        name: "read_file".into(),
        description: "Read lines of a file".into(),
        parameters: json!({
            "type": "object",
            "properties": {"path": {"type": "string"}},
            "required": ["path"],
        }),
    }
}

fn request() -> ChatRequest {
    ChatRequest {
        temperature: Some(0.0),
        ..ChatRequest::new(
            CallPurpose::Work,
            "You are agent a1 of a test swarm.",
            vec![Message::user("What is six times seven?")],
            vec![read_file_tool()].into(),
            256,
        )
    }
}

/// One call; returns the result and the streamed text.
async fn chat(
    provider: &dyn Provider,
    req: &ChatRequest,
) -> (Result<ChatResponse, LlmError>, String) {
    let seen = Mutex::new(String::new());
    let sink = |t: &str| seen.lock().unwrap().push_str(t);
    let result = provider.chat(req, &sink).await;
    (result, seen.into_inner().unwrap())
}

fn fast_policy(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
        max_concurrency: 4,
        ..RetryPolicy::default()
    }
}

/// A call through the retrying wrapper; returns the result and the retry notices.
async fn chat_retrying(
    retrying: &RetryingProvider,
    cancel: &CancellationToken,
) -> (Result<ChatResponse, LlmError>, Vec<RetryNotice>) {
    let notices = Mutex::new(Vec::new());
    let on_retry = |n: RetryNotice| notices.lock().unwrap().push(n);
    let result = retrying.chat(&request(), &|_| {}, &on_retry, cancel).await;
    (result, notices.into_inner().unwrap())
}

fn mode_name(wire: Wire, stream: bool) -> String {
    format!("{wire:?}/{}", if stream { "stream" } else { "json" })
}

fn parsed(call: &ToolCall) -> Value {
    serde_json::from_str(&call.arguments).unwrap_or_else(|e| {
        panic!(
            "arguments of {} are not JSON ({e}): {}",
            call.name, call.arguments
        )
    })
}

#[tokio::test]
async fn text_reply_headers_and_usage_in_every_mode() {
    for (wire, stream) in MODES {
        let mode = mode_name(wire, stream);
        let mock = MockLlm::start(wire, |_, _| Reply::text("The answer is 42.")).await;
        let (result, streamed) = chat(provider(&mock, wire, stream).as_ref(), &request()).await;
        let reply = result.unwrap_or_else(|e| panic!("{mode}: {e}"));
        assert_eq!(reply.text, "The answer is 42.", "{mode}");
        assert_eq!(streamed, "The answer is 42.", "{mode}: deltas");
        assert!(reply.tool_calls.is_empty(), "{mode}");
        assert!(reply.finish_reason.is_some(), "{mode}");

        let requests = mock.requests();
        assert_eq!(requests.len(), 1, "{mode}");
        let sent = &requests[0];
        assert_eq!(sent.is_stream(), stream, "{mode}");
        assert_eq!(sent.model(), "test-model", "{mode}");
        assert_eq!(sent.tool_names(), ["read_file"], "{mode}");
        assert!(sent.prompt_text().contains("You are agent a1"), "{mode}");
        assert!(sent.prompt_text().contains("six times seven"), "{mode}");
        // Usage is the provider's own count, not an estimate.
        assert_eq!(
            reply.usage.input_tokens,
            sent.estimated_input_tokens(),
            "{mode}"
        );
        assert_eq!(reply.usage.output_tokens, 17 / 4, "{mode}");
        match wire {
            Wire::OpenAi => {
                assert_eq!(sent.path, "/v1/chat/completions");
                assert_eq!(
                    sent.header("authorization"),
                    Some(format!("Bearer {KEY}").as_str())
                );
                assert_eq!(sent.body["messages"][0]["role"], "system", "{mode}");
                if stream {
                    assert_eq!(sent.body["stream_options"]["include_usage"], true);
                }
            }
            Wire::Anthropic => {
                assert_eq!(sent.path, "/v1/messages");
                assert_eq!(sent.header("x-api-key"), Some(KEY));
                assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
                assert_eq!(sent.header("authorization"), None);
                // One system block, marked as a cache breakpoint.
                assert_eq!(
                    sent.body["system"],
                    json!([{"type": "text", "text": "You are agent a1 of a test swarm.",
                        "cache_control": {"type": "ephemeral"}}])
                );
                assert_eq!(sent.body["max_tokens"], 256);
                assert!(sent.body["tools"][0]["input_schema"].is_object(), "{mode}");
            }
        }
    }
}

#[tokio::test]
async fn fragmented_tool_calls_are_assembled_in_every_mode() {
    let calls = vec![
        (
            "read_file".to_string(),
            json!({"path": "src/lib.rs", "start": 1, "end": 40}),
        ),
        (
            "grep".to_string(),
            json!({"pattern": "fn main", "path": "src/**/*.rs"}),
        ),
    ];
    for (wire, stream) in MODES {
        let mode = mode_name(wire, stream);
        let script_calls = calls.clone();
        let mock = MockLlm::start(wire, move |_, _| {
            Reply::TextAndTools("Let me look.".into(), script_calls.clone())
        })
        .await;
        let (result, streamed) = chat(provider(&mock, wire, stream).as_ref(), &request()).await;
        let reply = result.unwrap_or_else(|e| panic!("{mode}: {e}"));
        assert_eq!(reply.text, "Let me look.", "{mode}");
        assert_eq!(streamed, "Let me look.", "{mode}");
        assert_eq!(reply.tool_calls.len(), 2, "{mode}: {:?}", reply.tool_calls);
        for (got, (name, args)) in reply.tool_calls.iter().zip(&calls) {
            assert_eq!(&got.name, name, "{mode}");
            assert_eq!(&parsed(got), args, "{mode}");
            assert!(!got.id.is_empty(), "{mode}");
        }
        assert_ne!(reply.tool_calls[0].id, reply.tool_calls[1].id, "{mode}");
        assert!(reply.usage.output_tokens > 0, "{mode}");
    }
}

#[tokio::test]
async fn malformed_tool_arguments_pass_through_raw() {
    let raw = r#"{"kind": "finding", "headline": "unterminated"#;
    for (wire, stream) in MODES {
        let mode = mode_name(wire, stream);
        let mock = MockLlm::start(wire, move |_, _| {
            Reply::RawTools(vec![("record_point".into(), raw.into())])
        })
        .await;
        let (result, _) = chat(provider(&mock, wire, stream).as_ref(), &request()).await;
        let reply = result.unwrap_or_else(|e| panic!("{mode}: {e}"));
        assert_eq!(reply.tool_calls.len(), 1, "{mode}");
        assert_eq!(reply.tool_calls[0].name, "record_point", "{mode}");
        assert_eq!(reply.tool_calls[0].arguments, raw, "{mode}");
    }
}

#[tokio::test]
async fn a_conversation_with_tool_results_is_mapped_to_each_wire() {
    let conversation = ChatRequest {
        messages: vec![
            Message::user("Find the bug."),
            Message::assistant(
                "Reading two files.",
                vec![
                    ToolCall {
                        id: "c1".into(),
                        name: "read_file".into(),
                        arguments: r#"{"path":"a.rs"}"#.into(),
                    },
                    ToolCall {
                        id: "c2".into(),
                        name: "read_file".into(),
                        arguments: String::new(),
                    },
                ],
            ),
            Message::tool("c1", "fn a() {}"),
            Message::tool("c2", "fn b() {}"),
            Message::user("Constraint C1: do not touch the public API."),
        ],
        ..request()
    };
    for wire in [Wire::OpenAi, Wire::Anthropic] {
        let mock = MockLlm::start(wire, |_, _| Reply::text("ok")).await;
        let (result, _) = chat(provider(&mock, wire, false).as_ref(), &conversation).await;
        result.unwrap();
        let sent = &mock.requests()[0];
        let messages = sent.body["messages"].as_array().unwrap();
        let roles: Vec<&str> = messages
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        let results: Vec<String> = sent
            .tool_results()
            .into_iter()
            .map(|(_, text)| text)
            .collect();
        assert_eq!(results, ["fn a() {}", "fn b() {}"], "{wire:?}");
        assert!(sent.prompt_text().contains("Constraint C1"), "{wire:?}");
        match wire {
            Wire::OpenAi => {
                assert_eq!(
                    roles,
                    ["system", "user", "assistant", "tool", "tool", "user"]
                );
                assert_eq!(
                    messages[2]["tool_calls"][1]["function"]["name"],
                    "read_file"
                );
                assert_eq!(messages[3]["tool_call_id"], "c1");
            }
            Wire::Anthropic => {
                // Tool results and the following user text merge into one user turn.
                assert_eq!(roles, ["user", "assistant", "user"]);
                let blocks = messages[2]["content"].as_array().unwrap();
                assert_eq!(blocks[0]["type"], "tool_result");
                assert_eq!(blocks[0]["tool_use_id"], "c1");
                assert_eq!(blocks[1]["tool_use_id"], "c2");
                assert_eq!(blocks[2]["type"], "text");
                let uses = messages[1]["content"].as_array().unwrap();
                assert_eq!(uses[1]["type"], "tool_use");
                assert_eq!(uses[1]["input"], json!({"path": "a.rs"}));
                // Empty arguments become an empty object.
                assert_eq!(uses[2]["input"], json!({}));
            }
        }
    }
}

#[tokio::test]
async fn no_key_means_no_auth_header() {
    let mock = MockLlm::start(Wire::OpenAi, |_, _| Reply::text("local")).await;
    let mut cfg = config(&mock, Wire::OpenAi, true);
    cfg.api_key = None;
    let (result, _) = chat(build_provider(cfg).as_ref(), &request()).await;
    assert_eq!(result.unwrap().text, "local");
    assert_eq!(mock.requests()[0].header("authorization"), None);
}

#[tokio::test]
async fn rate_limit_with_retry_after_then_success() {
    let rate_limited = |wire: Wire, code: u16| async move {
        let mock = MockLlm::start(wire, move |_, n| match n {
            0 => Reply::Status {
                code,
                headers: vec![("Retry-After".into(), "1".into())],
                body: json!({"error": {"type": "rate_limit_error", "message": "slow down"}})
                    .to_string(),
            },
            _ => Reply::text("after the wait"),
        })
        .await;
        let retrying = RetryingProvider::new(provider(&mock, wire, true), fast_policy(4));
        let started = Instant::now();
        let (result, notices) = chat_retrying(&retrying, &CancellationToken::new()).await;
        assert_eq!(result.unwrap().text, "after the wait", "{wire:?}");
        assert_eq!(notices.len(), 1, "{wire:?}");
        assert_eq!(notices[0].attempt, 1);
        assert!(
            notices[0].delay >= Duration::from_secs(1),
            "{:?}",
            notices[0]
        );
        assert!(
            notices[0].reason.contains(&code.to_string()),
            "{}",
            notices[0].reason
        );
        assert!(started.elapsed() >= Duration::from_secs(1));
        assert_eq!(mock.call_count(), 2);
    };
    // Both wires at once: each waits the one second the server asked for.
    tokio::join!(
        rate_limited(Wire::OpenAi, 429),
        rate_limited(Wire::Anthropic, 529)
    );
}

#[tokio::test]
async fn server_error_then_success() {
    for (wire, stream) in MODES {
        let mode = mode_name(wire, stream);
        let mock = MockLlm::start(wire, |_, n| match n {
            0 => Reply::error(500, "internal error"),
            1 => Reply::error(502, "bad gateway"),
            _ => Reply::text("recovered"),
        })
        .await;
        let retrying = RetryingProvider::new(provider(&mock, wire, stream), fast_policy(4));
        let (result, notices) = chat_retrying(&retrying, &CancellationToken::new()).await;
        assert_eq!(result.unwrap().text, "recovered", "{mode}");
        let attempts: Vec<u32> = notices.iter().map(|n| n.attempt).collect();
        assert_eq!(attempts, [1, 2], "{mode}");
        assert!(
            notices.iter().all(|n| n.delay <= Duration::from_millis(40)),
            "{mode}"
        );
        assert_eq!(mock.call_count(), 3, "{mode}");
    }
}

#[tokio::test]
async fn cut_stream_then_success() {
    for (wire, stream) in MODES {
        let mode = mode_name(wire, stream);
        let mock = MockLlm::start(wire, |_, n| match n {
            0 => Reply::CutStream("The answer is".into()),
            _ => Reply::text("The answer is 42."),
        })
        .await;

        // The adapter alone reports the cut as transient.
        let (first, _) = chat(provider(&mock, wire, stream).as_ref(), &request()).await;
        let err = first.expect_err(&mode);
        assert!(err.is_transient(), "{mode}: {err:?}");

        // The retrying wrapper gets past it.
        let mock = MockLlm::start(wire, |_, n| match n {
            0 => Reply::CutStream("The answer is".into()),
            _ => Reply::text("The answer is 42."),
        })
        .await;
        let retrying = RetryingProvider::new(provider(&mock, wire, stream), fast_policy(3));
        let (result, notices) = chat_retrying(&retrying, &CancellationToken::new()).await;
        assert_eq!(result.unwrap().text, "The answer is 42.", "{mode}");
        assert_eq!(notices.len(), 1, "{mode}");
    }
}

#[tokio::test]
async fn a_stream_without_its_end_marker_is_transient() {
    // A stream cut after some text: the adapter must not take the partial text for an
    // answer, though the text was shown as it arrived.
    for wire in [Wire::OpenAi, Wire::Anthropic] {
        let mock = MockLlm::start(wire, |_, _| Reply::CutStream("Partial".into())).await;
        let (result, streamed) = chat(provider(&mock, wire, true).as_ref(), &request()).await;
        let err = result.unwrap_err();
        assert!(err.is_transient(), "{wire:?}: {err:?}");
        assert_eq!(
            streamed, "Partial",
            "{wire:?}: the text before the cut was streamed"
        );
    }
}

#[tokio::test]
async fn bad_key_is_an_auth_error_without_the_key() {
    for (wire, stream) in MODES {
        let mode = mode_name(wire, stream);
        // Servers do echo keys back; the error must not repeat it.
        let mock = MockLlm::start(wire, |_, _| {
            Reply::error(401, &format!("Incorrect API key provided: {KEY}"))
        })
        .await;
        let retrying = RetryingProvider::new(provider(&mock, wire, stream), fast_policy(4));
        let (result, notices) = chat_retrying(&retrying, &CancellationToken::new()).await;
        let err = result.unwrap_err();
        let LlmError::Auth(message) = &err else {
            panic!("{mode}: expected Auth, got {err:?}");
        };
        assert!(!message.contains(KEY), "{mode}: {message}");
        assert!(!format!("{err:?}").contains(KEY), "{mode}");
        assert!(message.contains("401"), "{mode}: {message}");
        assert!(message.contains("check the variable"), "{mode}: {message}");
        assert!(notices.is_empty(), "{mode}: auth errors are not retried");
        assert_eq!(mock.call_count(), 1, "{mode}");
    }
}

#[tokio::test]
async fn the_key_never_shows_in_debug_output() {
    let mock = MockLlm::start(Wire::OpenAi, |_, _| Reply::text("x")).await;
    let openai_cfg = config(&mock, Wire::OpenAi, true);
    let anthropic_cfg = config(&mock, Wire::Anthropic, true);
    let shown = [
        format!("{openai_cfg:?}"),
        format!("{anthropic_cfg:?}"),
        format!("{:?}", OpenAiProvider::new(openai_cfg.clone())),
        format!("{:?}", AnthropicProvider::new(anthropic_cfg)),
        format!(
            "{:?}",
            RetryingProvider::new(build_provider(openai_cfg), fast_policy(2))
        ),
        format!("{:?}", Secret::new(KEY)),
    ];
    for text in shown {
        assert!(!text.contains(KEY), "{text}");
        assert!(!text.contains("SECRET"), "{text}");
    }
}

#[tokio::test]
async fn cancellation_during_backoff_is_prompt() {
    let mock = MockLlm::start(Wire::OpenAi, |_, _| Reply::Status {
        code: 503,
        headers: vec![("Retry-After".into(), "30".into())],
        body: r#"{"error":{"message":"overloaded"}}"#.into(),
    })
    .await;
    let retrying = RetryingProvider::new(provider(&mock, Wire::OpenAi, true), fast_policy(6));
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        trigger.cancel();
    });
    let started = Instant::now();
    let (result, notices) = chat_retrying(&retrying, &cancel).await;
    assert_eq!(result.unwrap_err(), LlmError::Cancelled);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].delay, Duration::from_secs(30));
    assert_eq!(mock.call_count(), 1);
}

#[tokio::test]
async fn cancellation_during_a_call_is_prompt() {
    let mock = MockLlm::start(Wire::Anthropic, |_, _| {
        Reply::Delay(Duration::from_secs(30), Box::new(Reply::text("too late")))
    })
    .await;
    let retrying = RetryingProvider::new(provider(&mock, Wire::Anthropic, true), fast_policy(6));
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        trigger.cancel();
    });
    let started = Instant::now();
    let (result, _) = chat_retrying(&retrying, &cancel).await;
    assert_eq!(result.unwrap_err(), LlmError::Cancelled);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn context_length_errors_are_recognised_and_not_retried() {
    let openai_body = json!({"error": {
        "message": "This model's maximum context length is 128000 tokens. However, your messages resulted in 130512 tokens.",
        "type": "invalid_request_error",
        "code": "context_length_exceeded",
    }})
    .to_string();
    let anthropic_body = json!({"type": "error", "error": {
        "type": "invalid_request_error",
        "message": "prompt is too long: 212345 tokens > 200000 maximum",
    }})
    .to_string();
    for (wire, body) in [
        (Wire::OpenAi, openai_body),
        (Wire::Anthropic, anthropic_body),
    ] {
        let mock = MockLlm::start(wire, move |_, _| Reply::Status {
            code: 400,
            headers: vec![],
            body: body.clone(),
        })
        .await;
        let retrying = RetryingProvider::new(provider(&mock, wire, true), fast_policy(4));
        let (result, notices) = chat_retrying(&retrying, &CancellationToken::new()).await;
        assert!(
            matches!(result, Err(LlmError::ContextLength(_))),
            "{wire:?}: {result:?}"
        );
        assert!(notices.is_empty());
        assert_eq!(mock.call_count(), 1);
    }
}

#[tokio::test]
async fn other_client_errors_are_fatal_with_the_providers_message() {
    let mock = MockLlm::start(Wire::OpenAi, |_, _| {
        Reply::error(404, "The model `gpt-9` does not exist")
    })
    .await;
    let retrying = RetryingProvider::new(provider(&mock, Wire::OpenAi, false), fast_policy(4));
    let (result, _) = chat_retrying(&retrying, &CancellationToken::new()).await;
    match result {
        Err(LlmError::Fatal(message)) => {
            assert!(message.contains("gpt-9"), "{message}");
            assert!(message.contains("404"), "{message}");
        }
        other => panic!("expected Fatal, got {other:?}"),
    }
    assert_eq!(mock.call_count(), 1);
}

#[tokio::test]
async fn retries_give_up_after_the_attempt_limit() {
    let mock = MockLlm::start(Wire::Anthropic, |_, _| Reply::error(503, "down")).await;
    let retrying = RetryingProvider::new(provider(&mock, Wire::Anthropic, false), fast_policy(3));
    let (result, notices) = chat_retrying(&retrying, &CancellationToken::new()).await;
    let err = result.unwrap_err();
    assert!(err.is_transient());
    assert!(
        err.to_string().contains("gave up after 3 attempts"),
        "{err}"
    );
    assert_eq!(notices.len(), 2);
    assert_eq!(mock.call_count(), 3);
}

#[tokio::test]
async fn a_silent_stream_hits_the_idle_timeout() {
    let mock = MockLlm::start(Wire::OpenAi, |_, _| {
        Reply::Delay(Duration::from_secs(5), Box::new(Reply::text("late")))
    })
    .await;
    let mut cfg = config(&mock, Wire::OpenAi, true);
    cfg.stream_idle_timeout = Duration::from_millis(300);
    let started = Instant::now();
    let (result, _) = chat(build_provider(cfg).as_ref(), &request()).await;
    let err = result.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.to_string().contains("idle"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_slow_answer_hits_the_request_timeout() {
    let mock = MockLlm::start(Wire::Anthropic, |_, _| {
        Reply::Delay(Duration::from_secs(5), Box::new(Reply::text("late")))
    })
    .await;
    let mut cfg = config(&mock, Wire::Anthropic, false);
    cfg.request_timeout = Duration::from_millis(300);
    let started = Instant::now();
    let (result, _) = chat(build_provider(cfg).as_ref(), &request()).await;
    let err = result.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.to_string().contains("request timeout"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn an_unreachable_server_is_transient_and_says_where() {
    // Bind a port, then free it: nothing listens there any more.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut cfg = ProviderConfig::new(
        ProviderKind::OpenAi,
        "m",
        format!("http://127.0.0.1:{port}/v1"),
    );
    cfg.stream = false;
    let (result, _) = chat(build_provider(cfg).as_ref(), &request()).await;
    let err = result.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
}

#[test]
fn the_blocking_mock_serves_plain_tests() {
    let mock = MockLlm::start_blocking(Wire::OpenAi, |req: &RecordedRequest, n| {
        Reply::text(format!("call {n} for {}", req.model()))
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (result, _) = runtime.block_on(chat(
        provider(&mock, Wire::OpenAi, true).as_ref(),
        &request(),
    ));
    assert_eq!(result.unwrap().text, "call 0 for test-model");
    assert_eq!(mock.call_count(), 1);
}
