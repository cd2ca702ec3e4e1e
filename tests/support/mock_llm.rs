//! A scripted LLM server for tests: a real HTTP/1.1 server on 127.0.0.1 that answers in the
//! OpenAI chat-completions or the Anthropic messages wire format, streaming (SSE, chunked) or
//! not, exactly as the request asked. Every request is recorded so tests can assert on what
//! the client sent (prompts, tools, headers).
//!
//! Usage numbers are deterministic: input tokens are the request body's characters / 4 (see
//! [`RecordedRequest::estimated_input_tokens`]), output tokens the reply's characters / 4.

use serde_json::{Value, json};
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// The wire format the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// `POST /v1/chat/completions`
    OpenAi,
    /// `POST /v1/messages`
    Anthropic,
}

impl Wire {
    fn path(self) -> &'static str {
        match self {
            Wire::OpenAi => "/v1/chat/completions",
            Wire::Anthropic => "/v1/messages",
        }
    }
}

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub path: String,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    /// The JSON body (a JSON string holding the raw text if the body was not JSON).
    pub body: Value,
}

impl RecordedRequest {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn is_stream(&self) -> bool {
        self.body["stream"].as_bool().unwrap_or(false)
    }

    pub fn model(&self) -> &str {
        self.body["model"].as_str().unwrap_or("")
    }

    /// Names of the tools offered, in either wire format.
    pub fn tool_names(&self) -> Vec<String> {
        let Some(tools) = self.body["tools"].as_array() else {
            return vec![];
        };
        tools
            .iter()
            .filter_map(|t| {
                t["function"]["name"]
                    .as_str()
                    .or_else(|| t["name"].as_str())
                    .map(str::to_string)
            })
            .collect()
    }

    /// Everything the model would read: the system prompt and the text of every message,
    /// tool results included (tool-call arguments are not), joined by newlines.
    pub fn prompt_text(&self) -> String {
        let mut parts = Vec::new();
        collect_text(&self.body["system"], &mut parts);
        if let Some(messages) = self.body["messages"].as_array() {
            for message in messages {
                collect_text(&message["content"], &mut parts);
            }
        }
        parts.join("\n")
    }

    /// The tool results sent back to the model, in order: (call id, text).
    pub fn tool_results(&self) -> Vec<(String, String)> {
        let mut results = Vec::new();
        for message in self.body["messages"].as_array().into_iter().flatten() {
            if message["role"] == "tool" {
                let mut text = Vec::new();
                collect_text(&message["content"], &mut text);
                let id = message["tool_call_id"].as_str().unwrap_or("").to_string();
                results.push((id, text.join("\n")));
            }
            for block in message["content"].as_array().into_iter().flatten() {
                if block["type"] == "tool_result" {
                    let mut text = Vec::new();
                    collect_text(&block["content"], &mut text);
                    let id = block["tool_use_id"].as_str().unwrap_or("").to_string();
                    results.push((id, text.join("\n")));
                }
            }
        }
        results
    }

    /// The input token count the server reports for this request: body characters / 4.
    pub fn estimated_input_tokens(&self) -> u64 {
        let chars = serde_json::to_string(&self.body)
            .map(|s| s.chars().count())
            .unwrap_or(0);
        (chars as u64 / 4).max(1)
    }

    fn wants_usage_chunk(&self) -> bool {
        self.body["stream_options"]["include_usage"]
            .as_bool()
            .unwrap_or(false)
    }
}

/// Text of a `content`/`system` value in either wire format: a string, or an array of parts
/// (`text`, and `tool_result` whose content is itself a string or parts).
fn collect_text(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(parts) => {
            for part in parts {
                match part["type"].as_str() {
                    Some("text") | None => {
                        if let Some(t) = part["text"].as_str() {
                            out.push(t.to_string());
                        }
                    }
                    Some("tool_result") => collect_text(&part["content"], out),
                    Some(_) => {}
                }
            }
        }
        _ => {}
    }
}

/// What the server answers to one call.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A plain assistant answer.
    Text(String),
    /// Tool calls (name, arguments); ids are generated.
    Tools(Vec<(String, Value)>),
    TextAndTools(String, Vec<(String, Value)>),
    /// Tool calls with raw (possibly malformed) argument text. The Anthropic non-streaming
    /// format cannot carry malformed JSON: there the raw text is sent as a JSON string in
    /// `input`.
    RawTools(Vec<(String, String)>),
    /// An HTTP status with headers and a body, sent as is.
    Status {
        code: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Starts answering with this text, then closes the connection without finishing.
    CutStream(String),
    /// Wait, then reply.
    Delay(Duration, Box<Reply>),
    /// Hold the reply until the test opens the gate (so a test can act while a call is in
    /// flight: stop a process, restart a server), then reply.
    Gated(Gate, Box<Reply>),
}

/// A gate a test opens; replies behind it wait until then.
#[derive(Clone, Default)]
pub struct Gate(Arc<(std::sync::atomic::AtomicBool, tokio::sync::Notify)>);

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gate(open: {})", self.is_open())
    }
}

impl Gate {
    pub fn open(&self) {
        self.0.0.store(true, std::sync::atomic::Ordering::SeqCst);
        self.0.1.notify_waiters();
    }

    pub fn is_open(&self) -> bool {
        self.0.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    async fn wait(&self) {
        loop {
            let notified = self.0.1.notified();
            if self.is_open() {
                return;
            }
            notified.await;
        }
    }
}

impl Reply {
    pub fn text(text: impl Into<String>) -> Reply {
        Reply::Text(text.into())
    }

    /// One tool call.
    pub fn tool(name: impl Into<String>, args: Value) -> Reply {
        Reply::Tools(vec![(name.into(), args)])
    }

    /// An error status with a JSON body in the usual `{"error": {"message": ..}}` shape.
    pub fn error(code: u16, message: &str) -> Reply {
        Reply::Status {
            code,
            headers: vec![],
            body: json!({"error": {"type": "error", "message": message}}).to_string(),
        }
    }
}

type Script = dyn Fn(&RecordedRequest, usize) -> Reply + Send + Sync;

struct Shared {
    wire: Wire,
    script: Box<Script>,
    requests: Mutex<Vec<RecordedRequest>>,
    shutdown: CancellationToken,
}

/// A running mock server; it stops when dropped.
pub struct MockLlm {
    /// e.g. `http://127.0.0.1:PORT/v1`: pass it as the provider's base URL.
    pub base_url: String,
    shared: Arc<Shared>,
}

impl MockLlm {
    /// Start a server on the current tokio runtime. `script` is called once per request
    /// with the request and its 0-based index.
    pub async fn start(
        wire: Wire,
        script: impl Fn(&RecordedRequest, usize) -> Reply + Send + Sync + 'static,
    ) -> MockLlm {
        Self::start_on(0, wire, script).await
    }

    /// [`MockLlm::start`] on a chosen port of 127.0.0.1 (0: any free port).
    pub async fn start_on(
        port: u16,
        wire: Wire,
        script: impl Fn(&RecordedRequest, usize) -> Reply + Send + Sync + 'static,
    ) -> MockLlm {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap_or_else(|e| panic!("mock LLM: cannot bind 127.0.0.1:{port}: {e}"));
        let port = listener
            .local_addr()
            .expect("mock LLM: no local address")
            .port();
        let shared = Arc::new(Shared {
            wire,
            script: Box::new(script),
            requests: Mutex::new(Vec::new()),
            shutdown: CancellationToken::new(),
        });
        tokio::spawn(accept_loop(listener, shared.clone()));
        MockLlm {
            base_url: format!("http://127.0.0.1:{port}/v1"),
            shared,
        }
    }

    /// Start a server on its own thread and runtime, for plain `#[test]`s (e.g. ones that
    /// spawn the real binary).
    pub fn start_blocking(
        wire: Wire,
        script: impl Fn(&RecordedRequest, usize) -> Reply + Send + Sync + 'static,
    ) -> MockLlm {
        Self::start_blocking_on(0, wire, script)
    }

    /// [`MockLlm::start_blocking`] on a chosen port of 127.0.0.1 (0: any free port), e.g. for
    /// a standalone server a person points delm at.
    pub fn start_blocking_on(
        port: u16,
        wire: Wire,
        script: impl Fn(&RecordedRequest, usize) -> Reply + Send + Sync + 'static,
    ) -> MockLlm {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("mock-llm".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("mock LLM: cannot build a tokio runtime");
                runtime.block_on(async move {
                    let mock = MockLlm::start_on(port, wire, script).await;
                    let handle = MockLlm {
                        base_url: mock.base_url.clone(),
                        shared: mock.shared.clone(),
                    };
                    let shutdown = mock.shared.shutdown.clone();
                    if tx.send(handle).is_ok() {
                        shutdown.cancelled().await;
                    }
                });
            })
            .expect("mock LLM: cannot spawn the server thread");
        rx.recv()
            .expect("mock LLM: the server thread failed to start")
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    pub fn call_count(&self) -> usize {
        lock(&self.shared.requests).len()
    }
}

impl Drop for MockLlm {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else { continue };
        let shared = shared.clone();
        tokio::spawn(async move {
            let token = shared.shutdown.clone();
            tokio::select! {
                _ = token.cancelled() => {}
                // A client that hangs up mid-answer is normal here (cancellation tests).
                _ = serve_connection(stream, shared) => {}
            }
        });
    }
}

async fn serve_connection(mut stream: TcpStream, shared: Arc<Shared>) -> io::Result<()> {
    let Some(request) = read_request(&mut stream).await? else {
        return Ok(());
    };
    if request.path != shared.wire.path() {
        let message = format!(
            "mock LLM: no route for POST {}; this server speaks {:?} at {}",
            request.path,
            shared.wire,
            shared.wire.path()
        );
        return write_status(
            &mut stream,
            404,
            &[],
            &json!({"error": {"message": message}}).to_string(),
        )
        .await;
    }
    let index = {
        let mut requests = lock(&shared.requests);
        requests.push(request.clone());
        requests.len() - 1
    };
    let reply = match catch_unwind(AssertUnwindSafe(|| (shared.script)(&request, index))) {
        Ok(reply) => reply,
        // A 400 is not retried, so a broken script fails the test quickly and visibly.
        Err(_) => Reply::error(
            400,
            &format!("mock LLM: the test script panicked at call {index}"),
        ),
    };
    write_reply(&mut stream, shared.wire, &request, index, reply).await
}

/// Read one HTTP/1.1 request: request line, headers, `Content-Length` body.
async fn read_request(stream: &mut TcpStream) -> io::Result<Option<RecordedRequest>> {
    let mut buf = Vec::with_capacity(8192);
    let header_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
        if buf.len() > 1 << 20 {
            return Err(io::Error::other("mock LLM: request headers too large"));
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    let path = request_line.split(' ').nth(1).unwrap_or("").to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[header_end + 4..].to_vec();
    while body.len() < length {
        let mut chunk = vec![0u8; (length - body.len()).min(65536)];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    let body = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).to_string()));
    Ok(Some(RecordedRequest {
        path,
        headers,
        body,
    }))
}

/// The assistant turn a reply describes, with generated tool-call ids.
struct Turn {
    text: String,
    /// (id, name, raw argument text)
    calls: Vec<(String, String, String)>,
}

impl Turn {
    fn new(wire: Wire, index: usize, text: String, calls: Vec<(String, String)>) -> Turn {
        let prefix = match wire {
            Wire::OpenAi => "call",
            Wire::Anthropic => "toolu",
        };
        let calls = calls
            .into_iter()
            .enumerate()
            .map(|(i, (name, args))| (format!("{prefix}_{index}_{i}"), name, args))
            .collect();
        Turn { text, calls }
    }

    fn output_tokens(&self) -> u64 {
        let chars = self.text.chars().count()
            + self
                .calls
                .iter()
                .map(|(_, name, args)| name.chars().count() + args.chars().count())
                .sum::<usize>();
        (chars as u64 / 4).max(1)
    }
}

fn json_args(calls: Vec<(String, Value)>) -> Vec<(String, String)> {
    calls
        .into_iter()
        .map(|(name, args)| (name, args.to_string()))
        .collect()
}

async fn write_reply(
    stream: &mut TcpStream,
    wire: Wire,
    request: &RecordedRequest,
    index: usize,
    mut reply: Reply,
) -> io::Result<()> {
    loop {
        match reply {
            Reply::Delay(wait, inner) => {
                tokio::time::sleep(wait).await;
                reply = *inner;
            }
            Reply::Gated(gate, inner) => {
                gate.wait().await;
                reply = *inner;
            }
            _ => break,
        }
    }
    let (turn, cut) = match reply {
        Reply::Status {
            code,
            headers,
            body,
        } => return write_status(stream, code, &headers, &body).await,
        Reply::Text(text) => (Turn::new(wire, index, text, vec![]), false),
        Reply::Tools(calls) => (
            Turn::new(wire, index, String::new(), json_args(calls)),
            false,
        ),
        Reply::TextAndTools(text, calls) => (Turn::new(wire, index, text, json_args(calls)), false),
        Reply::RawTools(calls) => (Turn::new(wire, index, String::new(), calls), false),
        Reply::CutStream(text) => (Turn::new(wire, index, text, vec![]), true),
        Reply::Delay(..) | Reply::Gated(..) => unreachable!("delays and gates are unwrapped above"),
    };
    if request.is_stream() {
        let events = match wire {
            Wire::OpenAi => openai_stream(request, index, &turn),
            Wire::Anthropic => anthropic_stream(request, index, &turn),
        };
        write_sse(stream, events, cut).await
    } else {
        let body = match wire {
            Wire::OpenAi => openai_body(request, index, &turn),
            Wire::Anthropic => anthropic_body(request, index, &turn),
        };
        write_json(stream, &body.to_string(), cut).await
    }
}

/// `text` in about three pieces (at least one character each), on char boundaries.
fn pieces(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return vec![];
    }
    let size = chars.len().div_ceil(3).max(1);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

fn openai_usage(request: &RecordedRequest, turn: &Turn) -> Value {
    let input = request.estimated_input_tokens();
    let output = turn.output_tokens();
    json!({"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output})
}

fn openai_finish(turn: &Turn) -> &'static str {
    if turn.calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    }
}

fn openai_body(request: &RecordedRequest, index: usize, turn: &Turn) -> Value {
    let mut message = json!({
        "role": "assistant",
        "content": if turn.text.is_empty() { Value::Null } else { json!(turn.text) },
    });
    if !turn.calls.is_empty() {
        message["tool_calls"] = turn
            .calls
            .iter()
            .map(|(id, name, args)| {
                json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}})
            })
            .collect();
    }
    json!({
        "id": format!("chatcmpl-mock-{index}"),
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": request.model(),
        "choices": [{"index": 0, "message": message, "finish_reason": openai_finish(turn)}],
        "usage": openai_usage(request, turn),
    })
}

/// SSE events (already framed) for an OpenAI streaming answer; when cut, the caller stops
/// after the text.
fn openai_stream(request: &RecordedRequest, index: usize, turn: &Turn) -> Vec<SseFrame> {
    let id = format!("chatcmpl-mock-{index}");
    let chunk = |delta: Value, finish: Option<&str>| {
        let body = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": request.model(),
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        });
        SseFrame::body(format!("data: {body}\n\n"))
    };
    let mut frames = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
    for piece in pieces(&turn.text) {
        frames.push(chunk(json!({"content": piece}), None));
    }
    frames.push(SseFrame::CutPoint);
    for (i, (call_id, name, args)) in turn.calls.iter().enumerate() {
        frames.push(chunk(
            json!({"tool_calls": [{"index": i, "id": call_id, "type": "function",
                    "function": {"name": name, "arguments": ""}}]}),
            None,
        ));
        for piece in pieces(args) {
            frames.push(chunk(
                json!({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}),
                None,
            ));
        }
    }
    frames.push(chunk(json!({}), Some(openai_finish(turn))));
    if request.wants_usage_chunk() {
        let usage = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": request.model(),
            "choices": [],
            "usage": openai_usage(request, turn),
        });
        frames.push(SseFrame::body(format!("data: {usage}\n\n")));
    }
    frames.push(SseFrame::body("data: [DONE]\n\n".to_string()));
    frames
}

fn anthropic_stop(turn: &Turn) -> &'static str {
    if turn.calls.is_empty() {
        "end_turn"
    } else {
        "tool_use"
    }
}

fn anthropic_body(request: &RecordedRequest, index: usize, turn: &Turn) -> Value {
    let mut content = Vec::new();
    if !turn.text.is_empty() {
        content.push(json!({"type": "text", "text": turn.text}));
    }
    for (id, name, args) in &turn.calls {
        let input = match serde_json::from_str::<Value>(args) {
            Ok(v @ Value::Object(_)) => v,
            _ => Value::String(args.clone()),
        };
        content.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
    }
    json!({
        "id": format!("msg_mock_{index}"),
        "type": "message",
        "role": "assistant",
        "model": request.model(),
        "content": content,
        "stop_reason": anthropic_stop(turn),
        "stop_sequence": null,
        "usage": {
            "input_tokens": request.estimated_input_tokens(),
            "output_tokens": turn.output_tokens(),
        },
    })
}

fn anthropic_stream(request: &RecordedRequest, index: usize, turn: &Turn) -> Vec<SseFrame> {
    let event = |data: Value| {
        let kind = data["type"].as_str().unwrap_or("message").to_string();
        SseFrame::body(format!("event: {kind}\ndata: {data}\n\n"))
    };
    let mut frames = vec![
        event(json!({
            "type": "message_start",
            "message": {
                "id": format!("msg_mock_{index}"),
                "type": "message",
                "role": "assistant",
                "model": request.model(),
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                "usage": {"input_tokens": request.estimated_input_tokens(), "output_tokens": 1},
            },
        })),
        event(json!({"type": "ping"})),
    ];
    let mut block = 0;
    if !turn.text.is_empty() {
        frames.push(event(json!({"type": "content_block_start", "index": block,
            "content_block": {"type": "text", "text": ""}})));
        for piece in pieces(&turn.text) {
            frames.push(event(json!({"type": "content_block_delta", "index": block,
                "delta": {"type": "text_delta", "text": piece}})));
        }
        frames.push(SseFrame::CutPoint);
        frames.push(event(json!({"type": "content_block_stop", "index": block})));
        block += 1;
    } else {
        frames.push(SseFrame::CutPoint);
    }
    for (id, name, args) in &turn.calls {
        frames.push(event(json!({"type": "content_block_start", "index": block,
            "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}})));
        for piece in pieces(args) {
            frames.push(event(json!({"type": "content_block_delta", "index": block,
                "delta": {"type": "input_json_delta", "partial_json": piece}})));
        }
        frames.push(event(json!({"type": "content_block_stop", "index": block})));
        block += 1;
    }
    frames.push(event(json!({
        "type": "message_delta",
        "delta": {"stop_reason": anthropic_stop(turn), "stop_sequence": null},
        "usage": {"output_tokens": turn.output_tokens()},
    })));
    frames.push(event(json!({"type": "message_stop"})));
    frames
}

/// One piece of an SSE body, or the place where a cut stream stops.
enum SseFrame {
    Body(String),
    CutPoint,
}

impl SseFrame {
    fn body(text: String) -> SseFrame {
        SseFrame::Body(text)
    }
}

/// Stream `frames` as a chunked `text/event-stream` body. A cut stream stops at the cut
/// point and drops the connection without the final chunk, as a broken proxy would.
async fn write_sse(stream: &mut TcpStream, frames: Vec<SseFrame>, cut: bool) -> io::Result<()> {
    stream
        .write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\
              Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        )
        .await?;
    for frame in frames {
        match frame {
            SseFrame::CutPoint if cut => {
                stream.flush().await?;
                return Ok(());
            }
            SseFrame::CutPoint => {}
            SseFrame::Body(text) => {
                let chunk = format!("{:x}\r\n{text}\r\n", text.len());
                stream.write_all(chunk.as_bytes()).await?;
                stream.flush().await?;
            }
        }
    }
    stream.write_all(b"0\r\n\r\n").await?;
    stream.flush().await?;
    stream.shutdown().await
}

async fn write_json(stream: &mut TcpStream, body: &str, cut: bool) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    if cut {
        // Promise the whole body, deliver half of it, hang up.
        stream.write_all(&body.as_bytes()[..body.len() / 2]).await?;
        return stream.flush().await;
    }
    stream.write_all(body.as_bytes()).await?;
    stream.flush().await?;
    stream.shutdown().await
}

async fn write_status(
    stream: &mut TcpStream,
    code: u16,
    headers: &[(String, String)],
    body: &str,
) -> io::Result<()> {
    let reason = match code {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        529 => "Overloaded",
        _ => "Status",
    };
    let content_type = if body.trim_start().starts_with('{') {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    let mut head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.flush().await?;
    stream.shutdown().await
}
