//! The provider adapters against a real HTTP server on loopback (the scripted mock), in both
//! wire formats, streaming and not: replies, tool calls, usage, the error kinds, retries,
//! timeouts, cancellation and keeping the API key secret; then what real servers and models
//! do (tool calls in every shape, reasoning, prompt caching) and what hostile ones do
//! (huge, malformed or trickling answers, proxies, keys echoed back).

mod support;

use delm::llm::anthropic::AnthropicProvider;
use delm::llm::config::{Host, ProviderConfig, ProviderKind, ProxyEnv, Secret};
use delm::llm::openai::OpenAiProvider;
use delm::llm::pricing::Pricing;
use delm::llm::retry::{RetryNotice, RetryPolicy, RetryingProvider};
use delm::llm::{
    CallPurpose, ChatRequest, ChatResponse, Delta, LlmError, Message, Provider, StopReason,
    ToolCall, ToolSpec, Usage, build_provider,
};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{Habits, MockLlm, MockOptions, RecordedRequest, Reply, Wire};
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
        Wire::OpenAi | Wire::Ollama => ProviderKind::OpenAi,
        Wire::Anthropic => ProviderKind::Anthropic,
        Wire::Responses => unreachable!("delm's agents do not speak the Responses wire"),
    };
    let mut cfg = ProviderConfig::new(kind, "test-model", mock.base_url.clone());
    // Nothing in the test's environment may route loopback calls through a proxy.
    cfg.proxy = ProxyEnv::default();
    if wire == Wire::Ollama {
        cfg.host = Host::Ollama;
        cfg.num_ctx = Some(16384);
    }
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
    let sink = |d: Delta<'_>| {
        if let Delta::Text(t) = d {
            seen.lock().unwrap().push_str(t)
        }
    };
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
            Wire::Ollama | Wire::Responses => unreachable!("not in MODES"),
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
            Wire::Ollama | Wire::Responses => unreachable!("not in the loop"),
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
    let port = closed_port();
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

// ---- Tool calls as real servers send them -------------------------------------------------

fn tool_names(reply: &ChatResponse) -> Vec<&str> {
    reply.tool_calls.iter().map(|c| c.name.as_str()).collect()
}

fn assert_distinct_ids(reply: &ChatResponse, mode: &str) {
    let ids: std::collections::HashSet<_> = reply.tool_calls.iter().map(|c| &c.id).collect();
    assert_eq!(
        ids.len(),
        reply.tool_calls.len(),
        "{mode}: {:?}",
        reply.tool_calls
    );
    assert!(reply.tool_calls.iter().all(|c| !c.id.is_empty()), "{mode}");
}

/// Ollama's way: each call whole in one chunk, all under index 0, no ids, arguments as
/// objects, and `finish_reason: "stop"` although the reply is tool calls.
#[tokio::test]
async fn whole_calls_without_ids_and_a_stop_reason_are_tool_calls() {
    let habits = Habits {
        whole_calls: true,
        same_index: true,
        no_ids: true,
        object_arguments: true,
        finish_reason: Some("stop".into()),
        ..Habits::default()
    };
    for (wire, stream) in MODES {
        let mode = mode_name(wire, stream);
        let habits = Habits {
            // Anthropic's own word for a plain end.
            finish_reason: Some(
                if wire == Wire::Anthropic {
                    "end_turn"
                } else {
                    "stop"
                }
                .into(),
            ),
            ..habits.clone()
        };
        let mock = MockLlm::start(wire, move |_, _| {
            Reply::Tools(vec![
                ("read_file".into(), json!({"path": "a.rs"})),
                ("read_file".into(), json!({"path": "b.rs"})),
            ])
            .with(habits.clone())
        })
        .await;
        let (result, _) = chat(provider(&mock, wire, stream).as_ref(), &request()).await;
        let reply = result.unwrap_or_else(|e| panic!("{mode}: {e}"));
        assert_eq!(tool_names(&reply), ["read_file", "read_file"], "{mode}");
        assert_eq!(
            parsed(&reply.tool_calls[0]),
            json!({"path": "a.rs"}),
            "{mode}"
        );
        assert_eq!(
            parsed(&reply.tool_calls[1]),
            json!({"path": "b.rs"}),
            "{mode}"
        );
        assert_distinct_ids(&reply, &mode);
        assert_eq!(reply.stop, StopReason::ToolCalls, "{mode}");
        assert!(
            matches!(reply.finish_reason.as_deref(), Some("stop" | "end_turn")),
            "{mode}"
        );
    }
}

#[tokio::test]
async fn a_reply_cut_at_the_token_limit_is_length_not_final() {
    for (wire, stream) in MODES {
        let mode = mode_name(wire, stream);
        let reason = if wire == Wire::Anthropic {
            "max_tokens"
        } else {
            "length"
        };
        let mock = MockLlm::start(wire, move |_, _| {
            Reply::text("The answer starts with").with(Habits {
                finish_reason: Some(reason.into()),
                ..Habits::default()
            })
        })
        .await;
        let (result, _) = chat(provider(&mock, wire, stream).as_ref(), &request()).await;
        let reply = result.unwrap_or_else(|e| panic!("{mode}: {e}"));
        assert_eq!(reply.stop, StopReason::Length, "{mode}");
        assert_eq!(reply.finish_reason.as_deref(), Some(reason), "{mode}");
        assert_eq!(reply.text, "The answer starts with", "{mode}");
    }
}

/// vLLM without a tool parser passes the model's own call syntax on as text.
#[tokio::test]
async fn tool_calls_written_as_text_become_calls() {
    let texts = [
        "Reading it.\n<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"x.rs\"}}\n</tool_call>",
        "```json\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"x.rs\"}}\n```",
        "<think>The user wants x.rs.</think>{\"name\": \"read_file\", \"parameters\": {\"path\": \"x.rs\"}}",
    ];
    for (wire, stream) in MODES {
        for text in texts {
            let mode = format!("{} {text:?}", mode_name(wire, stream));
            let mock = MockLlm::start(wire, move |_, _| Reply::text(text)).await;
            let (result, _) = chat(provider(&mock, wire, stream).as_ref(), &request()).await;
            let reply = result.unwrap_or_else(|e| panic!("{mode}: {e}"));
            assert_eq!(tool_names(&reply), ["read_file"], "{mode}");
            assert_eq!(
                parsed(&reply.tool_calls[0]),
                json!({"path": "x.rs"}),
                "{mode}"
            );
            assert_distinct_ids(&reply, &mode);
            assert_eq!(reply.stop, StopReason::ToolCalls, "{mode}");
            assert!(!reply.text.contains("read_file"), "{mode}: {}", reply.text);
        }
        // A tool that was not offered stays text.
        let other = "<tool_call>{\"name\": \"rm_rf\", \"arguments\": {}}</tool_call>";
        let mock = MockLlm::start(wire, move |_, _| Reply::text(other)).await;
        let (result, _) = chat(provider(&mock, wire, stream).as_ref(), &request()).await;
        let reply = result.unwrap();
        assert!(reply.tool_calls.is_empty());
        assert_eq!(reply.text, other);
    }
}

#[tokio::test]
async fn reasoning_is_stripped_from_the_answer() {
    for (wire, stream) in MODES {
        let mode = mode_name(wire, stream);
        let mock = MockLlm::start(wire, |_, _| {
            Reply::text("<think>Six sevens... 42, not 41.</think>\n\nThe answer is 42.")
        })
        .await;
        let (result, _) = chat(provider(&mock, wire, stream).as_ref(), &request()).await;
        let reply = result.unwrap_or_else(|e| panic!("{mode}: {e}"));
        assert_eq!(reply.text, "The answer is 42.", "{mode}");
    }
}

#[tokio::test]
async fn reasoning_models_get_their_own_parameters_on_any_host() {
    let mock = MockLlm::start(Wire::OpenAi, |_, _| Reply::text("ok")).await;
    let mut cfg = config(&mock, Wire::OpenAi, true);
    cfg.model = "o4-mini".into();
    cfg.reasoning_effort = Some("high".into());
    let (result, _) = chat(build_provider(cfg).as_ref(), &request()).await;
    result.unwrap();
    let sent = &mock.requests()[0];
    assert_eq!(sent.body["max_completion_tokens"], 256);
    assert!(sent.body.get("max_tokens").is_none());
    assert!(sent.body.get("temperature").is_none());
    assert_eq!(sent.body["reasoning_effort"], "high");
}

#[tokio::test]
async fn openai_itself_gets_tool_choice_and_the_cache_key_others_do_not() {
    let req = ChatRequest {
        cache_key: Some("run-7".into()),
        ..request()
    };
    for (host, expect) in [(Host::OpenAi, true), (Host::Other, false)] {
        let mock = MockLlm::start(Wire::OpenAi, |_, _| Reply::text("ok")).await;
        let mut cfg = config(&mock, Wire::OpenAi, false);
        cfg.host = host;
        let (result, _) = chat(build_provider(cfg).as_ref(), &req).await;
        result.unwrap();
        let body = &mock.requests()[0].body;
        assert_eq!(body.get("tool_choice").is_some(), expect, "{host:?}");
        assert_eq!(
            body.get("prompt_cache_key").and_then(Value::as_str),
            expect.then_some("run-7"),
            "{host:?}"
        );
    }
}

/// Anthropic extended thinking: the blocks (with signatures) come back in the assistant
/// message and go out again, first in that turn, on the next call of the tool loop.
#[tokio::test]
async fn thinking_blocks_are_passed_back_in_the_tool_loop() {
    for stream in [true, false] {
        let mock = MockLlm::start(Wire::Anthropic, |_, n| match n {
            0 => Reply::Thinking {
                thinking: "The file will say.".into(),
                signature: "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds".into(),
                then: Box::new(Reply::tool("read_file", json!({"path": "a.rs"}))),
            },
            _ => Reply::text("It is 42."),
        })
        .await;
        let mut cfg = config(&mock, Wire::Anthropic, stream);
        cfg.thinking_budget_tokens = Some(2048);
        let provider = build_provider(cfg);
        let (first, streamed) = chat(provider.as_ref(), &request()).await;
        let first = first.unwrap();
        assert_eq!(streamed, "", "thinking is not shown as text");
        let state = first.provider_state.clone().expect("thinking kept");
        assert_eq!(
            state["thinking"][0]["signature"],
            "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"
        );
        assert_eq!(state["thinking"][1]["type"], "redacted_thinking");

        let mut next = request();
        next.messages.push(first.assistant_message());
        next.messages.push(Message::tool(
            first.tool_calls[0].id.clone(),
            "fn a() -> u8 { 42 }",
        ));
        let (second, _) = chat(provider.as_ref(), &next).await;
        assert_eq!(second.unwrap().text, "It is 42.");
        let sent = &mock.requests()[1].body;
        assert_eq!(
            sent["thinking"],
            json!({"type": "enabled", "budget_tokens": 2048})
        );
        assert_eq!(sent["max_tokens"], 256 + 2048);
        assert!(sent.get("temperature").is_none());
        let turn = sent["messages"][1]["content"].as_array().unwrap();
        assert_eq!(turn[0], state["thinking"][0], "stream={stream}");
        assert_eq!(turn[1], state["thinking"][1]);
        assert_eq!(turn[2]["type"], "tool_use");
    }
}

/// Gemini's OpenAI-compatible endpoint: thought signatures ride on the tool calls and must
/// come back; schemas without `additionalProperties`; tool results name their tool.
#[tokio::test]
async fn gemini_thought_signatures_go_back_with_their_calls() {
    let signature = json!({"google": {"thought_signature": "CrgBAdHtim9xyz"}});
    for stream in [true, false] {
        let extra = signature.clone();
        let mock = MockLlm::start(Wire::OpenAi, move |_, n| match n {
            0 => Reply::tool("read_file", json!({"path": "a.rs"})).with(Habits {
                extra_content: Some(extra.clone()),
                ..Habits::default()
            }),
            _ => Reply::text("done"),
        })
        .await;
        let mut cfg = config(&mock, Wire::OpenAi, stream);
        cfg.host = Host::Gemini;
        let provider = build_provider(cfg);
        let mut req = request();
        req.tools = vec![ToolSpec {
            parameters: json!({"type": "object", "additionalProperties": false,
                "properties": {"path": {"type": "string"}}}),
            ..read_file_tool()
        }]
        .into();
        let (first, _) = chat(provider.as_ref(), &req).await;
        let first = first.unwrap();
        let id = first.tool_calls[0].id.clone();
        req.messages.push(first.assistant_message());
        req.messages.push(Message::tool(id.clone(), "fn a() {}"));
        chat(provider.as_ref(), &req).await.0.unwrap();
        let sent = &mock.requests()[1].body;
        let call = &sent["messages"][2]["tool_calls"][0];
        assert_eq!(call["id"], id.as_str());
        assert_eq!(call["extra_content"], signature, "stream={stream}");
        assert_eq!(sent["messages"][3]["name"], "read_file");
        assert!(!sent["tools"].to_string().contains("additionalProperties"));
    }
}

/// With `num_ctx` set, Ollama is spoken to natively: its `/v1` route would ignore it.
#[tokio::test]
async fn ollama_gets_its_context_window_through_the_native_api() {
    for stream in [true, false] {
        let mock = MockLlm::start(Wire::Ollama, |_, n| match n {
            0 => Reply::TextAndTools(
                "Reading.".into(),
                vec![
                    ("read_file".into(), json!({"path": "a.rs"})),
                    ("read_file".into(), json!({"path": "b.rs"})),
                ],
            ),
            _ => Reply::text("done"),
        })
        .await;
        let provider = build_provider(config(&mock, Wire::Ollama, stream));
        let (result, streamed) = chat(provider.as_ref(), &request()).await;
        let reply = result.unwrap_or_else(|e| panic!("stream={stream}: {e}"));
        assert_eq!(reply.text, "Reading.");
        assert_eq!(streamed, "Reading.");
        assert_eq!(tool_names(&reply), ["read_file", "read_file"]);
        assert_distinct_ids(&reply, "ollama");
        assert_eq!(reply.stop, StopReason::ToolCalls);
        let sent = &mock.requests()[0];
        assert_eq!(sent.path, "/api/chat");
        assert_eq!(sent.body["options"]["num_ctx"], 16384);
        assert_eq!(sent.body["options"]["num_predict"], 256);
        assert_eq!(sent.body["stream"], stream);
        assert_eq!(reply.usage.input_tokens, sent.estimated_input_tokens());

        let mut next = request();
        next.messages.push(reply.assistant_message());
        next.messages
            .push(Message::tool(reply.tool_calls[0].id.clone(), "fn a() {}"));
        chat(provider.as_ref(), &next).await.0.unwrap();
        let second = &mock.requests()[1].body;
        assert_eq!(
            second["messages"][2]["tool_calls"][0]["function"]["arguments"],
            json!({"path": "a.rs"})
        );
        assert_eq!(second["messages"][3]["tool_name"], "read_file");
    }
}

// ---- Prompt caching and usage as billed ------------------------------------------------------

/// A request whose tools and system prompt are long enough to be cached (over 1,024 tokens).
fn cacheable_request(task: &str) -> ChatRequest {
    ChatRequest::new(
        CallPurpose::Work,
        format!(
            "You are an agent of a swarm. {}",
            "Follow the evidence rules. ".repeat(400)
        ),
        vec![Message::user(task)],
        vec![read_file_tool()].into(),
        256,
    )
}

#[tokio::test]
async fn openai_prefix_caching_is_reported_and_parsed() {
    for stream in [true, false] {
        let mock = MockLlm::start_with(Wire::OpenAi, MockOptions { prompt_cache: true }, |_, _| {
            Reply::text("ok")
        })
        .await;
        let provider = provider(&mock, Wire::OpenAi, stream);
        let first = chat(provider.as_ref(), &cacheable_request("Task one"))
            .await
            .0
            .unwrap();
        assert_eq!(first.usage.cache_read_tokens, 0, "stream={stream}");
        let second = chat(provider.as_ref(), &cacheable_request("Task two"))
            .await
            .0
            .unwrap();
        let sent = &mock.requests()[1];
        assert_eq!(second.usage.input_tokens, sent.estimated_input_tokens());
        let cached = second.usage.cache_read_tokens;
        assert!(cached >= 1024 && (cached - 1024) % 128 == 0, "{cached}");
        assert!(cached < second.usage.input_tokens);
        assert_eq!(second.usage.cache_write_tokens, 0);
        // Billed at the cached rate: cheaper than the same prompt uncached.
        let pricing = Pricing::default();
        let billed = pricing.cost("openai", "gpt-4.1", second.usage).unwrap();
        let uncached = Usage {
            cache_read_tokens: 0,
            ..second.usage
        };
        assert!(billed < pricing.cost("openai", "gpt-4.1", uncached).unwrap());
    }
}

#[tokio::test]
async fn anthropic_breakpoint_caching_is_reported_and_parsed() {
    for stream in [true, false] {
        let mock = MockLlm::start_with(
            Wire::Anthropic,
            MockOptions { prompt_cache: true },
            |_, _| Reply::text("ok"),
        )
        .await;
        let provider = provider(&mock, Wire::Anthropic, stream);
        let first = chat(provider.as_ref(), &cacheable_request("Task one"))
            .await
            .0
            .unwrap();
        assert_eq!(first.usage.cache_read_tokens, 0, "stream={stream}");
        assert!(first.usage.cache_write_tokens > 1024, "{:?}", first.usage);
        let second = chat(provider.as_ref(), &cacheable_request("Task two"))
            .await
            .0
            .unwrap();
        let requests = mock.requests();
        assert_eq!(
            requests[1].cache_breakpoints(),
            3,
            "tools, system, latest message"
        );
        assert_eq!(
            requests[0].tools_and_system(),
            requests[1].tools_and_system()
        );
        // Input counts every prompt token, the cached ones included.
        assert_eq!(
            second.usage.input_tokens,
            requests[1].estimated_input_tokens()
        );
        assert!(second.usage.cache_read_tokens > 1024, "{:?}", second.usage);
        assert!(
            second.usage.cache_write_tokens > 0,
            "the new task is written"
        );
        assert!(second.usage.uncached_input_tokens() < second.usage.input_tokens / 2);
        let pricing = Pricing::default();
        let billed = pricing
            .cost("anthropic", "claude-sonnet-4-5", second.usage)
            .unwrap();
        let plain = Usage {
            input_tokens: second.usage.input_tokens,
            output_tokens: second.usage.output_tokens,
            ..Usage::default()
        };
        assert!(
            billed
                < pricing
                    .cost("anthropic", "claude-sonnet-4-5", plain)
                    .unwrap()
        );
    }
}

// ---- Hostile providers -------------------------------------------------------------------

/// A reply over the cap is one clear error, naming the cap and its key: never retried.
#[tokio::test]
async fn an_oversized_response_is_one_clear_error() {
    let huge = "x".repeat(300 * 1024);
    for (wire, stream) in MODES {
        let mode = mode_name(wire, stream);
        let text = huge.clone();
        let mock = MockLlm::start(wire, move |_, _| Reply::text(text.clone())).await;
        let mut cfg = config(&mock, wire, stream);
        cfg.max_response_bytes = 64 * 1024;
        let retrying = RetryingProvider::new(build_provider(cfg), fast_policy(4));
        let (result, notices) = chat_retrying(&retrying, &CancellationToken::new()).await;
        let err = result.unwrap_err();
        assert!(matches!(err, LlmError::Fatal(_)), "{mode}: {err:?}");
        let message = err.to_string();
        assert!(message.contains("max_response_bytes"), "{mode}: {message}");
        assert!(message.contains("65536"), "{mode}: {message}");
        assert!(notices.is_empty(), "{mode}");
        assert_eq!(mock.call_count(), 1, "{mode}");
    }
    // A body without Content-Length is counted as it arrives.
    let chunks = vec![vec![b'{'; 16 * 1024]; 8];
    let mock = MockLlm::start(Wire::OpenAi, move |_, _| Reply::Raw {
        content_type: "application/json".into(),
        chunks: chunks.clone(),
    })
    .await;
    let mut cfg = config(&mock, Wire::OpenAi, false);
    cfg.max_response_bytes = 64 * 1024;
    let err = chat(build_provider(cfg).as_ref(), &request())
        .await
        .0
        .unwrap_err();
    assert!(err.to_string().contains("max_response_bytes"), "{err}");
}

/// A stream that is not what it claims is the provider's fault: one error with the cause.
#[tokio::test]
async fn a_malformed_stream_fails_once_with_its_cause() {
    let cases: Vec<(Wire, Reply, &str)> = vec![
        (
            Wire::OpenAi,
            Reply::sse(&[
                r#"{"choices":[{"delta":{"content":"Hel"}}]}"#,
                "<html>502</html>",
            ]),
            "not JSON",
        ),
        (
            Wire::Anthropic,
            Reply::sse(&[
                r#"{"type":"message_start","message":{"usage":{"input_tokens":3}}}"#,
                "{\"type\": \"content_blo",
            ]),
            "not JSON",
        ),
        (
            Wire::OpenAi,
            Reply::Raw {
                content_type: "text/event-stream".into(),
                chunks: vec![
                    b"data: {\"choices\":[{\"delta\":{\"content\":\"\xff\xfe\"}}]}\n\n".to_vec(),
                ],
            },
            "UTF-8",
        ),
    ];
    for (wire, reply, cause) in cases {
        let mock = MockLlm::start(wire, move |_, _| reply.clone()).await;
        let retrying = RetryingProvider::new(provider(&mock, wire, true), fast_policy(4));
        let (result, notices) = chat_retrying(&retrying, &CancellationToken::new()).await;
        let err = result.unwrap_err();
        assert!(matches!(err, LlmError::Fatal(_)), "{wire:?}: {err:?}");
        assert!(err.to_string().contains("malformed stream"), "{err}");
        assert!(err.to_string().contains(cause), "{err}");
        assert!(notices.is_empty());
        assert_eq!(mock.call_count(), 1, "{wire:?}: not retried");
    }
}

/// A server that keeps the stream alive with a chunk every so often cannot hold a call past
/// its deadline, whatever the idle and request timeouts.
#[tokio::test]
async fn a_trickling_stream_is_cut_at_the_call_deadline() {
    let mock = MockLlm::start(Wire::OpenAi, |_, _| {
        Reply::Trickle(
            Duration::from_secs(2),
            Box::new(Reply::text("slow but alive")),
        )
    })
    .await;
    let policy = RetryPolicy {
        call_deadline: Duration::from_millis(500),
        ..fast_policy(6)
    };
    let retrying = RetryingProvider::new(provider(&mock, Wire::OpenAi, true), policy);
    let started = Instant::now();
    let (result, _) = chat_retrying(&retrying, &CancellationToken::new()).await;
    let err = result.unwrap_err();
    assert!(
        matches!(&err, LlmError::Deadline(m) if m.contains("call_deadline_secs")),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(mock.call_count(), 1);
}

#[tokio::test]
async fn an_absurd_retry_after_is_capped_and_the_notice_says_so() {
    let mock = MockLlm::start(Wire::OpenAi, |_, _| Reply::Status {
        code: 429,
        headers: vec![("Retry-After".into(), "999999999".into())],
        body: r#"{"error":{"message":"slow down"}}"#.into(),
    })
    .await;
    let retrying = RetryingProvider::new(provider(&mock, Wire::OpenAi, true), fast_policy(6));
    let cancel = CancellationToken::new();
    let notices = Mutex::new(Vec::new());
    let on_retry = |n: RetryNotice| {
        notices.lock().unwrap().push(n);
        cancel.cancel();
    };
    let err = retrying
        .chat(&request(), &|_| {}, &on_retry, &cancel)
        .await
        .unwrap_err();
    assert_eq!(err, LlmError::Cancelled);
    let notices = notices.into_inner().unwrap();
    assert_eq!(notices[0].delay, Duration::from_secs(60));
    assert!(
        notices[0].reason.contains("60s cap"),
        "{}",
        notices[0].reason
    );
}

#[tokio::test]
async fn a_key_echoed_back_in_another_case_is_masked() {
    for (wire, stream) in MODES {
        let mode = mode_name(wire, stream);
        let mock = MockLlm::start(wire, |_, _| {
            Reply::error(
                403,
                &format!("key {} may not use this model", KEY.to_uppercase()),
            )
        })
        .await;
        let (result, _) = chat(provider(&mock, wire, stream).as_ref(), &request()).await;
        let err = result.unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(matches!(err, LlmError::Auth(_)), "{mode}: {err:?}");
        assert!(
            !text.to_lowercase().contains(&KEY.to_lowercase()),
            "{mode}: {text}"
        );
        assert!(text.contains("***"), "{mode}: {text}");
    }
}

#[tokio::test]
async fn credentials_in_the_base_url_are_used_but_never_shown() {
    let mock = MockLlm::start(Wire::OpenAi, |_, _| Reply::text("ok")).await;
    let with_creds = mock
        .base_url
        .replace("http://", "http://alice:url-pw-SECRET-77@");
    let mut cfg = config(&mock, Wire::OpenAi, false);
    cfg.base_url = with_creds;
    cfg.api_key = None;
    chat(build_provider(cfg).as_ref(), &request())
        .await
        .0
        .unwrap();
    let auth = mock.requests()[0]
        .header("authorization")
        .unwrap_or("")
        .to_string();
    assert!(auth.starts_with("Basic "), "sent as basic auth: {auth}");

    let port = closed_port();
    let mut cfg = ProviderConfig::new(
        ProviderKind::OpenAi,
        "m",
        format!("http://alice:url-pw-SECRET-77@127.0.0.1:{port}/v1"),
    );
    cfg.stream = false;
    let err = chat(build_provider(cfg).as_ref(), &request())
        .await
        .0
        .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains("url-pw-SECRET-77"), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
}

/// A port nothing listens on: bound, then freed.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn a_loopback_endpoint_is_never_proxied() {
    let mock = MockLlm::start(Wire::OpenAi, |_, _| Reply::text("direct")).await;
    let mut cfg = config(&mock, Wire::OpenAi, true);
    let dead_proxy = format!("http://127.0.0.1:{}", closed_port());
    cfg.proxy = ProxyEnv {
        http: Some(dead_proxy.clone()),
        https: Some(dead_proxy.clone()),
        all: Some(dead_proxy),
        no_proxy: None,
    };
    let (result, _) = chat(build_provider(cfg).as_ref(), &request()).await;
    assert_eq!(result.unwrap().text, "direct");
    assert_eq!(mock.requests()[0].proxied_for, None);
}

#[tokio::test]
async fn a_remote_endpoint_goes_through_the_proxy_and_a_dead_proxy_is_named() {
    // The mock plays the proxy: it receives the absolute URL of the remote endpoint.
    let proxy = MockLlm::start(Wire::OpenAi, |_, _| Reply::text("via proxy")).await;
    let proxy_root = proxy.base_url.trim_end_matches("/v1").to_string();
    let mut cfg = ProviderConfig::new(ProviderKind::OpenAi, "m", "http://llm.example.test/v1");
    cfg.proxy = ProxyEnv {
        http: Some(proxy_root),
        ..ProxyEnv::default()
    };
    let (result, _) = chat(build_provider(cfg.clone()).as_ref(), &request()).await;
    assert_eq!(result.unwrap().text, "via proxy");
    assert_eq!(
        proxy.requests()[0].proxied_for.as_deref(),
        Some("llm.example.test")
    );

    let dead = closed_port();
    cfg.proxy.http = Some(format!("http://bob:proxy-pw-SECRET-9@127.0.0.1:{dead}"));
    let (result, _) = chat(build_provider(cfg).as_ref(), &request()).await;
    let err = result.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(err.is_transient(), "{err:?}");
    assert!(
        text.contains(&format!("proxy http://127.0.0.1:{dead}")),
        "{text}"
    );
    assert!(text.contains("HTTP_PROXY"), "{text}");
    assert!(!text.contains("proxy-pw-SECRET-9"), "{text}");
}
