use super::*;
use crate::llm::config::{ProviderKind, Secret};
use crate::llm::recorded::Recorded;
use crate::llm::{CallPurpose, ToolSpec};
use std::time::Duration;

fn provider_with(stream: bool, thinking_budget: Option<u32>) -> AnthropicProvider {
    let mut cfg = ProviderConfig::new(
        ProviderKind::Anthropic,
        "claude-sonnet-4-5",
        "https://api.anthropic.com/v1",
    );
    cfg.api_key = Some(Secret::new("sk-ant-test"));
    cfg.stream = stream;
    cfg.request_timeout = Duration::from_secs(5);
    cfg.stream_idle_timeout = Duration::from_secs(5);
    cfg.thinking_budget_tokens = thinking_budget;
    AnthropicProvider::new(cfg)
}

fn provider(stream: bool) -> AnthropicProvider {
    provider_with(stream, None)
}

fn apply_all(state: &mut StreamState, events: &[&str], sink: DeltaSink<'_>) {
    for event in events {
        if state.apply(event, sink).unwrap() {
            break;
        }
    }
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
    let req = ChatRequest::new(
        CallPurpose::Work,
        "be brief",
        vec![
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
        vec![ToolSpec {
            name: "grep".into(),
            description: "search".into(),
            parameters: json!({"type": "object"}),
        }]
        .into(),
        64,
    );
    let body = provider(true).request_body(&req);
    assert_eq!(
        body["system"],
        json!([{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}])
    );
    assert_eq!(body["max_tokens"], 64);
    assert_eq!(body["stream"], true);
    assert_eq!(
        body["tools"][0],
        json!({"name": "grep", "description": "search", "input_schema": {"type": "object"},
            "cache_control": {"type": "ephemeral"}})
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
    let seen = Recorded::default();
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
    apply_all(&mut state, &events, &seen.sink());
    let reply = state.finish().unwrap();
    assert_eq!(seen.text(), "Let me look.");
    assert_eq!(reply.text, "Let me look.");
    assert_eq!(reply.tool_calls[0].arguments, r#"{"pattern": "foo"}"#);
    assert_eq!(reply.tool_calls[1].arguments, "{}");
    assert_eq!(
        reply.usage,
        Usage {
            input_tokens: 25,
            output_tokens: 42,
            ..Usage::default()
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
            output_tokens: 5,
            cache_read_tokens: 2,
            cache_write_tokens: 0
        }
    );
}

#[test]
fn at_most_four_breakpoints_and_none_on_thinking() {
    let mut assistant = Message::assistant("", vec![call("t1", "grep", "{}")]);
    assistant.provider_state = Some(json!({"thinking": [
        {"type": "thinking", "thinking": "let me search", "signature": "sig-1"},
        {"type": "redacted_thinking", "data": "opaque"}
    ]}));
    let req = ChatRequest::new(
        CallPurpose::Work,
        "sys",
        vec![Message::user("q"), assistant, Message::tool("t1", "found")],
        vec![
            ToolSpec {
                name: "a".into(),
                description: String::new(),
                parameters: json!({"type": "object"}),
            },
            ToolSpec {
                name: "b".into(),
                description: String::new(),
                parameters: json!({"type": "object"}),
            },
        ]
        .into(),
        100,
    );
    let body = provider(false).request_body(&req);
    let text = body.to_string();
    assert_eq!(text.matches("cache_control").count(), 3, "{text}");
    assert!(body["tools"][0].get("cache_control").is_none());
    assert_eq!(body["tools"][1]["cache_control"]["type"], "ephemeral");
    let messages = body["messages"].as_array().unwrap();
    // The thinking blocks go back first in their turn, exactly as received.
    let turn = messages[1]["content"].as_array().unwrap();
    assert_eq!(
        turn[0],
        json!({"type": "thinking", "thinking": "let me search", "signature": "sig-1"})
    );
    assert_eq!(
        turn[1],
        json!({"type": "redacted_thinking", "data": "opaque"})
    );
    assert_eq!(turn[2]["type"], "tool_use");
    // The latest message's last block is the breakpoint.
    assert_eq!(
        messages[2]["content"][0]["cache_control"]["type"],
        "ephemeral"
    );
}

#[test]
fn extended_thinking_is_requested_within_max_tokens() {
    let req = ChatRequest {
        temperature: Some(0.0),
        ..ChatRequest::new(
            CallPurpose::Judge,
            "",
            vec![Message::user("q")],
            Vec::new().into(),
            300,
        )
    };
    let body = provider_with(true, Some(2048)).request_body(&req);
    assert_eq!(
        body["thinking"],
        json!({"type": "enabled", "budget_tokens": 2048})
    );
    assert_eq!(body["max_tokens"], 2348);
    assert!(body.get("temperature").is_none());
    let plain = provider(true).request_body(&req);
    assert!(plain.get("thinking").is_none());
    assert_eq!(plain["temperature"], 0.0);
}

#[test]
fn streamed_thinking_blocks_come_back_with_their_signatures() {
    let mut state = StreamState::default();
    let seen = Recorded::default();
    let events = [
        r#"{"type":"message_start","message":{"usage":{"input_tokens":5,"cache_read_input_tokens":2000,"cache_creation_input_tokens":300,"output_tokens":1}}}"#,
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"The file "}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"says 42."}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAh"}}"#,
        r#"{"type":"content_block_stop","index":0}"#,
        r#"{"type":"content_block_start","index":1,"content_block":{"type":"redacted_thinking","data":"EmwKAhgB"}}"#,
        r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_9","name":"finish_task","input":{}}}"#,
        r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"result\":\"42\"}"}}"#,
        r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":80}}"#,
        r#"{"type":"message_stop"}"#,
    ];
    apply_all(&mut state, &events, &seen.sink());
    let reply = state.finish().unwrap();
    assert_eq!(seen.text(), "", "thinking is never streamed as text");
    assert_eq!(reply.text, "");
    assert_eq!(
        reply.provider_state,
        Some(json!({"thinking": [
            {"type": "thinking", "thinking": "The file says 42.", "signature": "EqQBCgIYAh"},
            {"type": "redacted_thinking", "data": "EmwKAhgB"}
        ]}))
    );
    assert_eq!(
        reply.usage,
        Usage {
            input_tokens: 2305,
            output_tokens: 80,
            cache_read_tokens: 2000,
            cache_write_tokens: 300
        }
    );
    // Sent back, the turn starts with them.
    let req = ChatRequest::new(
        CallPurpose::Work,
        "",
        vec![
            Message::user("q"),
            reply.assistant_message(),
            Message::tool("toolu_9", "ok"),
        ],
        Vec::new().into(),
        10,
    );
    let body = provider(false).request_body(&req);
    assert_eq!(body["messages"][1]["content"][0]["signature"], "EqQBCgIYAh");
    assert_eq!(body["messages"][1]["content"][2]["id"], "toolu_9");
}

#[test]
fn an_event_that_is_not_json_is_fatal() {
    let mut state = StreamState::default();
    let err = state
        .apply("{\"type\": \"content_block_del", &|_| {})
        .unwrap_err();
    assert!(
        matches!(err, LlmError::Fatal(ref m) if m.contains("malformed stream")),
        "{err:?}"
    );
}

/// A `tool_use` block is announced at its `content_block_stop`, before the message ends.
#[test]
fn each_tool_use_is_announced_when_its_block_stops() {
    let recorded = Recorded::default();
    let sink = recorded.sink();
    let announced = || -> Vec<String> {
        recorded
            .calls()
            .iter()
            .map(|c| format!("{} {} {}", c.id, c.name, c.arguments))
            .collect()
    };
    let mut state = StreamState::default();
    let head = [
        r#"{"type":"message_start","message":{"usage":{"input_tokens":25,"output_tokens":1}}}"#,
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"add_task","input":{}}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"title\": \"x\"}"}}"#,
    ];
    apply_all(&mut state, &head, &sink);
    assert!(announced().is_empty());
    let rest = [
        r#"{"type":"content_block_stop","index":0}"#,
        r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_2","name":"finish_task","input":{"result":"ok"}}}"#,
    ];
    apply_all(&mut state, &rest, &sink);
    assert_eq!(announced(), [r#"toolu_1 add_task {"title": "x"}"#]);
    let tail = [
        r#"{"type":"content_block_stop","index":1}"#,
        r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":42}}"#,
        r#"{"type":"message_stop"}"#,
    ];
    apply_all(&mut state, &tail, &sink);
    assert_eq!(announced().len(), 2);
    assert_eq!(announced()[1], r#"toolu_2 finish_task {"result":"ok"}"#);
    assert_eq!(state.finish().unwrap().tool_calls.len(), 2);
}
