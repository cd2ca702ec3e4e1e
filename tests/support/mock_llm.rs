//! A scripted LLM server for tests: a real HTTP/1.1 server on 127.0.0.1 that answers in the
//! OpenAI chat-completions or the Anthropic messages wire format, streaming (SSE, chunked) or
//! not, exactly as the request asked. Every request is recorded so tests can assert on what
//! the client sent (prompts, tools, headers).
//!
//! Usage numbers are deterministic: input tokens are the request body's characters / 4 (see
//! [`RecordedRequest::estimated_input_tokens`]), output tokens the reply's characters / 4.
//! Started with [`MockOptions::prompt_cache`], the server also emulates each provider's
//! prompt caching ([`delm::llm::scripted::PrefixCache`]) and reports the cached part of the
//! prompt the way that API does.
//!
//! Beyond plain answers it can play what real servers do: tool calls whole in one chunk,
//! without ids, with object arguments or a wrong finish reason ([`Habits`]), thinking
//! blocks with signatures ([`Reply::Thinking`]), raw bytes (malformed streams, invalid
//! UTF-8: [`Reply::Raw`]), slow trickles ([`Reply::Trickle`]), and answer as an HTTP proxy
//! (absolute-form request targets are served too, and recorded as proxied). It also speaks
//! the OpenAI Responses wire Codex uses ([`Wire::Responses`]).

mod responses;

use delm::llm::scripted::prefix_cache::{
    self, CacheBlock, CacheUse, PrefixCache, strip_cache_control,
};
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
    /// Ollama's native `POST /api/chat` (JSON lines when streaming).
    Ollama,
    /// OpenAI Responses, `POST /v1/responses` (what Codex speaks; see `responses`).
    Responses,
}

impl Wire {
    fn path(self) -> &'static str {
        match self {
            Wire::OpenAi => "/v1/chat/completions",
            Wire::Anthropic => "/v1/messages",
            Wire::Ollama => "/api/chat",
            Wire::Responses => "/v1/responses",
        }
    }
}

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub path: String,
    /// When the request came as to a proxy (`POST http://host/...`): the host it was for.
    pub proxied_for: Option<String>,
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

    /// How many `cache_control` breakpoints the request carries (Anthropic wire).
    pub fn cache_breakpoints(&self) -> usize {
        self.body.to_string().matches("\"cache_control\"").count()
    }

    /// The tools and the system prompt as sent, without cache markers: the prefix agents of
    /// one run should share byte for byte.
    pub fn tools_and_system(&self) -> String {
        let mut tools = self.body["tools"].clone();
        let mut system = self.body["system"].clone();
        strip_cache_control(&mut tools);
        strip_cache_control(&mut system);
        let openai_system = self.body["messages"][0].clone();
        if openai_system["role"] == "system" {
            system = openai_system;
        }
        format!("{tools}{system}")
    }

    /// The prompt as cacheable blocks in prompt order (Anthropic's view): tools, system
    /// blocks, message blocks.
    fn cache_blocks(&self) -> Vec<CacheBlock> {
        prefix_cache::anthropic_blocks(&self.body)
    }

    /// The prompt as OpenAI reads it for caching: tools, then the messages, serialized.
    fn cache_text(&self) -> String {
        prefix_cache::openai_prompt(&self.body)
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
    /// The inner answer, sent the way some servers do (see [`Habits`]).
    WithHabits(Habits, Box<Reply>),
    /// Anthropic wire: a thinking block (with its signature) and a redacted one before the
    /// inner answer. Other wires send the inner answer alone.
    Thinking {
        thinking: String,
        signature: String,
        then: Box<Reply>,
    },
    /// HTTP 200 with this content type and these body chunks, byte for byte (chunked).
    Raw {
        content_type: String,
        chunks: Vec<Vec<u8>>,
    },
    /// The inner answer with a pause before each piece of it (stream frames, or pieces of a
    /// JSON body).
    Trickle(Duration, Box<Reply>),
    /// Reply once the test opens the gate (a model "thinking" until the test has done its
    /// part: a state, not a time).
    Hold(Gate, Box<Reply>),
    /// Send the first half of the answer, open the gate (the bytes are on the wire), then
    /// never send the rest: a process killed now is killed mid-stream.
    StallMidStream(Gate, Box<Reply>),
}

/// A latch a test opens once; [`Reply::Hold`] waits for it. Works across runtimes (the
/// blocking mock has its own).
#[derive(Debug, Clone)]
pub struct Gate(Arc<tokio::sync::watch::Sender<bool>>);

impl Default for Gate {
    fn default() -> Self {
        Gate(Arc::new(tokio::sync::watch::Sender::new(false)))
    }
}

impl Gate {
    pub fn new() -> Gate {
        Gate::default()
    }

    pub fn open(&self) {
        self.0.send_replace(true);
    }

    pub fn is_open(&self) -> bool {
        *self.0.borrow()
    }

    pub async fn opened(&self) {
        let mut rx = self.0.subscribe();
        let _ = rx.wait_for(|open| *open).await;
    }
}

/// How a server deviates from the reference wire format when it sends tool calls.
#[derive(Debug, Clone, Default)]
pub struct Habits {
    /// Each call whole in one chunk (id, name, complete arguments), as Ollama streams them.
    pub whole_calls: bool,
    /// Every call under index 0 (OpenAI wire, streaming).
    pub same_index: bool,
    /// Calls without ids.
    pub no_ids: bool,
    /// Arguments as a JSON object instead of a string (OpenAI wire).
    pub object_arguments: bool,
    /// This finish reason (OpenAI) or stop reason (Anthropic) instead of the right one,
    /// e.g. "stop" with tool calls (Ollama), "length" or "max_tokens".
    pub finish_reason: Option<String>,
    /// `extra_content` on every tool call (Gemini's thought signatures; OpenAI wire).
    pub extra_content: Option<Value>,
}

/// How the server behaves beyond its script.
#[derive(Debug, Clone, Default)]
pub struct MockOptions {
    /// Emulate the provider's prompt caching and report cached tokens as its API does.
    pub prompt_cache: bool,
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

    /// A server-sent event stream of these `data:` payloads, exactly as given.
    pub fn sse(data: &[&str]) -> Reply {
        Reply::Raw {
            content_type: "text/event-stream".into(),
            chunks: data
                .iter()
                .map(|d| format!("data: {d}\n\n").into_bytes())
                .collect(),
        }
    }

    /// The inner answer with these habits.
    pub fn with(self, habits: Habits) -> Reply {
        Reply::WithHabits(habits, Box::new(self))
    }
}

type Script = dyn Fn(&RecordedRequest, usize) -> Reply + Send + Sync;

struct Shared {
    wire: Wire,
    options: MockOptions,
    script: Box<Script>,
    requests: Mutex<Vec<RecordedRequest>>,
    cache: Mutex<PrefixCache>,
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

    /// [`MockLlm::start`] with options (e.g. prompt caching).
    pub async fn start_with(
        wire: Wire,
        options: MockOptions,
        script: impl Fn(&RecordedRequest, usize) -> Reply + Send + Sync + 'static,
    ) -> MockLlm {
        Self::start_on_with(0, wire, options, script).await
    }

    /// [`MockLlm::start`] on a chosen port of 127.0.0.1 (0: any free port).
    pub async fn start_on(
        port: u16,
        wire: Wire,
        script: impl Fn(&RecordedRequest, usize) -> Reply + Send + Sync + 'static,
    ) -> MockLlm {
        Self::start_on_with(port, wire, MockOptions::default(), script).await
    }

    async fn start_on_with(
        port: u16,
        wire: Wire,
        options: MockOptions,
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
            options,
            script: Box::new(script),
            requests: Mutex::new(Vec::new()),
            cache: Mutex::new(PrefixCache::new()),
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
        Self::start_blocking_with(port, wire, MockOptions::default(), script)
    }

    /// [`MockLlm::start_blocking_on`] with options (e.g. prompt caching).
    pub fn start_blocking_with(
        port: u16,
        wire: Wire,
        options: MockOptions,
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
                    let mock = MockLlm::start_on_with(port, wire, options, script).await;
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
    // A query (`/v1/messages?beta=true`, as Claude Code sends) does not change the route.
    if request.path.split('?').next() != Some(shared.wire.path()) {
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
    write_reply(&mut stream, &shared, &request, index, reply).await
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
    let target = request_line.split(' ').nth(1).unwrap_or("");
    // A proxy gets the absolute URL: `POST http://host:port/v1/... HTTP/1.1`.
    let (path, proxied_for) = match target.split_once("://") {
        Some((_, rest)) => {
            let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            (path.to_string(), Some(host.to_string()))
        }
        None => (target.to_string(), None),
    };
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
        proxied_for,
        headers,
        body,
    }))
}

/// The assistant turn a reply describes, with generated tool-call ids.
struct Turn {
    text: String,
    /// (id, name, raw argument text); ids are empty when the habits say so.
    calls: Vec<(String, String, String)>,
    habits: Habits,
    /// (thinking, signature): Anthropic thinking before the answer.
    thinking: Option<(String, String)>,
}

/// The redacted thinking block sent after a scripted thinking block (opaque, as the API's).
const REDACTED_THINKING: &str = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIw";

impl Turn {
    fn new(wire: Wire, index: usize, text: String, calls: Vec<(String, String)>) -> Turn {
        let prefix = match wire {
            Wire::OpenAi | Wire::Ollama | Wire::Responses => "call",
            Wire::Anthropic => "toolu",
        };
        let calls = calls
            .into_iter()
            .enumerate()
            .map(|(i, (name, args))| (format!("{prefix}_{index}_{i}"), name, args))
            .collect();
        Turn {
            text,
            calls,
            habits: Habits::default(),
            thinking: None,
        }
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

    /// The call's id on the wire (none when the habits drop ids).
    fn id<'a>(&self, id: &'a str) -> Option<&'a str> {
        (!self.habits.no_ids).then_some(id)
    }

    /// Arguments as the OpenAI wire carries them: a string, or an object when the habits
    /// say so and the text is one.
    fn openai_arguments(&self, args: &str) -> Value {
        match serde_json::from_str::<Value>(args) {
            Ok(object @ Value::Object(_)) if self.habits.object_arguments => object,
            _ => json!(args),
        }
    }
}

fn json_args(calls: Vec<(String, Value)>) -> Vec<(String, String)> {
    calls
        .into_iter()
        .map(|(name, args)| (name, args.to_string()))
        .collect()
}

/// The usage of one answered request, as the provider would bill it.
struct Billed {
    /// Every prompt token.
    input: u64,
    cache_read: u64,
    cache_write: u64,
    output: u64,
}

fn bill(shared: &Shared, request: &RecordedRequest, turn: &Turn) -> Billed {
    let input = request.estimated_input_tokens();
    let cache = if shared.options.prompt_cache {
        let mut cache = lock(&shared.cache);
        match shared.wire {
            Wire::OpenAi => cache.openai(&request.cache_text()),
            Wire::Anthropic => cache.anthropic(&request.cache_blocks()),
            Wire::Ollama | Wire::Responses => CacheUse::default(),
        }
    } else {
        CacheUse::default()
    };
    // Never more cached than was sent.
    let cache_read = cache.read_tokens.min(input);
    Billed {
        input,
        cache_read,
        cache_write: cache.write_tokens.min(input - cache_read),
        output: turn.output_tokens(),
    }
}

async fn write_reply(
    stream: &mut TcpStream,
    shared: &Shared,
    request: &RecordedRequest,
    index: usize,
    mut reply: Reply,
) -> io::Result<()> {
    let wire = shared.wire;
    let mut habits = Habits::default();
    let mut thinking = None;
    let mut pause = Duration::ZERO;
    let mut stall: Option<Gate> = None;
    let reply = loop {
        reply = match reply {
            Reply::Delay(wait, inner) => {
                tokio::time::sleep(wait).await;
                *inner
            }
            Reply::WithHabits(h, inner) => {
                habits = h;
                *inner
            }
            Reply::Thinking {
                thinking: t,
                signature,
                then,
            } => {
                thinking = Some((t, signature));
                *then
            }
            Reply::Trickle(every, inner) => {
                pause = every;
                *inner
            }
            Reply::Hold(gate, inner) => {
                gate.opened().await;
                *inner
            }
            Reply::StallMidStream(gate, inner) => {
                stall = Some(gate);
                *inner
            }
            other => break other,
        };
    };
    let (mut turn, cut) = match reply {
        Reply::Status {
            code,
            headers,
            body,
        } => return write_status(stream, code, &headers, &body).await,
        Reply::Raw {
            content_type,
            chunks,
        } => {
            let frames = chunks.into_iter().map(Frame::Body).collect();
            return write_frames(stream, &content_type, frames, false, pause, stall).await;
        }
        Reply::Text(text) => (Turn::new(wire, index, text, vec![]), false),
        Reply::Tools(calls) => (
            Turn::new(wire, index, String::new(), json_args(calls)),
            false,
        ),
        Reply::TextAndTools(text, calls) => (Turn::new(wire, index, text, json_args(calls)), false),
        Reply::RawTools(calls) => (Turn::new(wire, index, String::new(), calls), false),
        Reply::CutStream(text) => (Turn::new(wire, index, text, vec![]), true),
        Reply::Delay(..)
        | Reply::WithHabits(..)
        | Reply::Thinking { .. }
        | Reply::Trickle(..)
        | Reply::Hold(..)
        | Reply::StallMidStream(..) => {
            unreachable!("wrappers are unwrapped above")
        }
    };
    turn.habits = habits;
    turn.thinking = thinking;
    let billed = bill(shared, request, &turn);
    if request.is_stream() {
        let (content_type, frames) = match wire {
            Wire::OpenAi => (
                "text/event-stream",
                openai_stream(request, index, &turn, &billed),
            ),
            Wire::Anthropic => (
                "text/event-stream",
                anthropic_stream(request, index, &turn, &billed),
            ),
            Wire::Ollama => (
                "application/x-ndjson",
                ollama_stream(request, &turn, &billed),
            ),
            Wire::Responses => (
                "text/event-stream",
                responses::stream(request, index, &turn, &billed),
            ),
        };
        write_frames(stream, content_type, frames, cut, pause, stall).await
    } else {
        let body = match wire {
            Wire::OpenAi => openai_body(request, index, &turn, &billed),
            Wire::Anthropic => anthropic_body(request, index, &turn, &billed),
            Wire::Ollama => ollama_line(
                request,
                &turn.text,
                ollama_calls(&turn),
                Some(&billed),
                &turn,
            ),
            Wire::Responses => responses::body(request, index, &turn, &billed),
        };
        write_json(stream, &body.to_string(), cut, pause, stall).await
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

fn openai_usage(billed: &Billed) -> Value {
    json!({
        "prompt_tokens": billed.input,
        "completion_tokens": billed.output,
        "total_tokens": billed.input + billed.output,
        "prompt_tokens_details": {"cached_tokens": billed.cache_read},
    })
}

fn openai_finish(turn: &Turn) -> String {
    if let Some(reason) = &turn.habits.finish_reason {
        return reason.clone();
    }
    if turn.calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    }
    .to_string()
}

/// One whole call as the OpenAI wire carries it (in a message, or in one stream chunk).
fn openai_call(turn: &Turn, position: Option<usize>, call: &(String, String, String)) -> Value {
    let (id, name, args) = call;
    let mut wire = json!({
        "type": "function",
        "function": {"name": name, "arguments": turn.openai_arguments(args)},
    });
    if let Some(id) = turn.id(id) {
        wire["id"] = json!(id);
    }
    if let Some(i) = position {
        wire["index"] = json!(i);
    }
    if let Some(extra) = &turn.habits.extra_content {
        wire["extra_content"] = extra.clone();
    }
    wire
}

fn openai_body(request: &RecordedRequest, index: usize, turn: &Turn, billed: &Billed) -> Value {
    let mut message = json!({
        "role": "assistant",
        "content": if turn.text.is_empty() { Value::Null } else { json!(turn.text) },
    });
    if !turn.calls.is_empty() {
        message["tool_calls"] = turn
            .calls
            .iter()
            .map(|call| openai_call(turn, None, call))
            .collect();
    }
    json!({
        "id": format!("chatcmpl-mock-{index}"),
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": request.model(),
        "choices": [{"index": 0, "message": message, "finish_reason": openai_finish(turn)}],
        "usage": openai_usage(billed),
    })
}

/// SSE events (already framed) for an OpenAI streaming answer; when cut, the caller stops
/// after the text.
fn openai_stream(
    request: &RecordedRequest,
    index: usize,
    turn: &Turn,
    billed: &Billed,
) -> Vec<Frame> {
    let id = format!("chatcmpl-mock-{index}");
    let chunk = |delta: Value, finish: Option<&str>| {
        let body = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": request.model(),
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        });
        Frame::sse(&body)
    };
    let mut frames = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
    for piece in pieces(&turn.text) {
        frames.push(chunk(json!({"content": piece}), None));
    }
    frames.push(Frame::CutPoint);
    for (i, call) in turn.calls.iter().enumerate() {
        let position = if turn.habits.same_index { 0 } else { i };
        if turn.habits.whole_calls {
            frames.push(chunk(
                json!({"tool_calls": [openai_call(turn, Some(position), call)]}),
                None,
            ));
            continue;
        }
        let (call_id, name, args) = call;
        let mut first = json!({"index": position, "type": "function",
            "function": {"name": name, "arguments": ""}});
        if let Some(id) = turn.id(call_id) {
            first["id"] = json!(id);
        }
        if let Some(extra) = &turn.habits.extra_content {
            first["extra_content"] = extra.clone();
        }
        frames.push(chunk(json!({"tool_calls": [first]}), None));
        for piece in pieces(args) {
            frames.push(chunk(
                json!({"tool_calls": [{"index": position, "function": {"arguments": piece}}]}),
                None,
            ));
        }
    }
    frames.push(chunk(json!({}), Some(&openai_finish(turn))));
    if request.wants_usage_chunk() {
        let usage = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": request.model(),
            "choices": [],
            "usage": openai_usage(billed),
        });
        frames.push(Frame::sse(&usage));
    }
    frames.push(Frame::Body(b"data: [DONE]\n\n".to_vec()));
    frames
}

fn anthropic_stop(turn: &Turn) -> String {
    if let Some(reason) = &turn.habits.finish_reason {
        return reason.clone();
    }
    if turn.calls.is_empty() {
        "end_turn"
    } else {
        "tool_use"
    }
    .to_string()
}

/// Anthropic's `input_tokens` leaves out cache reads and writes.
fn anthropic_usage(billed: &Billed, output: u64) -> Value {
    json!({
        "input_tokens": billed.input - billed.cache_read - billed.cache_write,
        "cache_read_input_tokens": billed.cache_read,
        "cache_creation_input_tokens": billed.cache_write,
        "output_tokens": output,
    })
}

fn anthropic_input(args: &str) -> Value {
    match serde_json::from_str::<Value>(args) {
        Ok(v @ Value::Object(_)) => v,
        _ => Value::String(args.to_string()),
    }
}

fn anthropic_body(request: &RecordedRequest, index: usize, turn: &Turn, billed: &Billed) -> Value {
    let mut content = Vec::new();
    if let Some((thinking, signature)) = &turn.thinking {
        content.push(json!({"type": "thinking", "thinking": thinking, "signature": signature}));
        content.push(json!({"type": "redacted_thinking", "data": REDACTED_THINKING}));
    }
    if !turn.text.is_empty() {
        content.push(json!({"type": "text", "text": turn.text}));
    }
    for (id, name, args) in &turn.calls {
        content.push(
            json!({"type": "tool_use", "id": turn.id(id).unwrap_or(""), "name": name,
            "input": anthropic_input(args)}),
        );
    }
    json!({
        "id": format!("msg_mock_{index}"),
        "type": "message",
        "role": "assistant",
        "model": request.model(),
        "content": content,
        "stop_reason": anthropic_stop(turn),
        "stop_sequence": null,
        "usage": anthropic_usage(billed, billed.output),
    })
}

fn anthropic_stream(
    request: &RecordedRequest,
    index: usize,
    turn: &Turn,
    billed: &Billed,
) -> Vec<Frame> {
    let event = |data: Value| {
        let kind = data["type"].as_str().unwrap_or("message").to_string();
        Frame::Body(format!("event: {kind}\ndata: {data}\n\n").into_bytes())
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
                "usage": anthropic_usage(billed, 1),
            },
        })),
        event(json!({"type": "ping"})),
    ];
    let mut block = 0;
    if let Some((thinking, signature)) = &turn.thinking {
        frames.push(event(json!({"type": "content_block_start", "index": block,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""}})));
        for piece in pieces(thinking) {
            frames.push(event(json!({"type": "content_block_delta", "index": block,
                "delta": {"type": "thinking_delta", "thinking": piece}})));
        }
        frames.push(event(json!({"type": "content_block_delta", "index": block,
            "delta": {"type": "signature_delta", "signature": signature}})));
        frames.push(event(json!({"type": "content_block_stop", "index": block})));
        frames.push(event(
            json!({"type": "content_block_start", "index": block + 1,
            "content_block": {"type": "redacted_thinking", "data": REDACTED_THINKING}}),
        ));
        frames.push(event(
            json!({"type": "content_block_stop", "index": block + 1}),
        ));
        block += 2;
    }
    if !turn.text.is_empty() {
        frames.push(event(json!({"type": "content_block_start", "index": block,
            "content_block": {"type": "text", "text": ""}})));
        for piece in pieces(&turn.text) {
            frames.push(event(json!({"type": "content_block_delta", "index": block,
                "delta": {"type": "text_delta", "text": piece}})));
        }
        frames.push(Frame::CutPoint);
        frames.push(event(json!({"type": "content_block_stop", "index": block})));
        block += 1;
    } else {
        frames.push(Frame::CutPoint);
    }
    for (id, name, args) in &turn.calls {
        let id = turn.id(id).unwrap_or("");
        if turn.habits.whole_calls {
            frames.push(event(json!({"type": "content_block_start", "index": block,
                "content_block": {"type": "tool_use", "id": id, "name": name,
                    "input": anthropic_input(args)}})));
        } else {
            frames.push(event(json!({"type": "content_block_start", "index": block,
                "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}})));
            for piece in pieces(args) {
                frames.push(event(json!({"type": "content_block_delta", "index": block,
                    "delta": {"type": "input_json_delta", "partial_json": piece}})));
            }
        }
        frames.push(event(json!({"type": "content_block_stop", "index": block})));
        block += 1;
    }
    frames.push(event(json!({
        "type": "message_delta",
        "delta": {"stop_reason": anthropic_stop(turn), "stop_sequence": null},
        "usage": {"output_tokens": billed.output},
    })));
    frames.push(event(json!({"type": "message_stop"})));
    frames
}

/// Ollama sends calls without ids, arguments as objects.
fn ollama_calls(turn: &Turn) -> Vec<Value> {
    turn.calls
        .iter()
        .map(|(_, name, args)| json!({"function": {"name": name, "arguments": anthropic_input(args)}}))
        .collect()
}

/// One Ollama native answer line: `billed` set, it is the last (`done: true`).
fn ollama_line(
    request: &RecordedRequest,
    text: &str,
    calls: Vec<Value>,
    billed: Option<&Billed>,
    turn: &Turn,
) -> Value {
    let mut message = json!({"role": "assistant", "content": text});
    if !calls.is_empty() {
        message["tool_calls"] = json!(calls);
    }
    let mut line = json!({
        "model": request.model(),
        "created_at": "2025-01-01T00:00:00Z",
        "message": message,
        "done": billed.is_some(),
    });
    if let Some(billed) = billed {
        line["done_reason"] = json!(
            turn.habits
                .finish_reason
                .clone()
                .unwrap_or_else(|| "stop".into())
        );
        line["prompt_eval_count"] = json!(billed.input);
        line["eval_count"] = json!(billed.output);
    }
    line
}

fn ollama_stream(request: &RecordedRequest, turn: &Turn, billed: &Billed) -> Vec<Frame> {
    let line = |value: Value| Frame::Body(format!("{value}\n").into_bytes());
    let mut frames: Vec<Frame> = pieces(&turn.text)
        .iter()
        .map(|piece| line(ollama_line(request, piece, vec![], None, turn)))
        .collect();
    frames.push(Frame::CutPoint);
    if !turn.calls.is_empty() {
        frames.push(line(ollama_line(
            request,
            "",
            ollama_calls(turn),
            None,
            turn,
        )));
    }
    frames.push(line(ollama_line(request, "", vec![], Some(billed), turn)));
    frames
}

/// One piece of a streamed body, or the place where a cut stream stops.
enum Frame {
    Body(Vec<u8>),
    CutPoint,
}

impl Frame {
    fn sse(data: &Value) -> Frame {
        Frame::Body(format!("data: {data}\n\n").into_bytes())
    }
}

/// Stream `frames` as a chunked body of `content_type`, pausing `pause` before each. A cut
/// stream stops at the cut point and drops the connection without the final chunk, as a
/// broken proxy would.
async fn write_frames(
    stream: &mut TcpStream,
    content_type: &str,
    frames: Vec<Frame>,
    cut: bool,
    pause: Duration,
    stall: Option<Gate>,
) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nCache-Control: no-cache\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await?;
    let bodies = frames
        .iter()
        .filter(|f| matches!(f, Frame::Body(_)))
        .count();
    let mut sent = 0;
    for frame in frames {
        if let Some(gate) = &stall
            && sent >= bodies.div_ceil(2).max(1)
        {
            gate.open();
            return std::future::pending().await;
        }
        match frame {
            Frame::CutPoint if cut => {
                stream.flush().await?;
                return Ok(());
            }
            Frame::CutPoint => {}
            Frame::Body(bytes) => {
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
                stream
                    .write_all(format!("{:x}\r\n", bytes.len()).as_bytes())
                    .await?;
                stream.write_all(&bytes).await?;
                stream.write_all(b"\r\n").await?;
                stream.flush().await?;
                sent += 1;
            }
        }
    }
    stream.write_all(b"0\r\n\r\n").await?;
    stream.flush().await?;
    stream.shutdown().await
}

async fn write_json(
    stream: &mut TcpStream,
    body: &str,
    cut: bool,
    pause: Duration,
    stall: Option<Gate>,
) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    if let Some(gate) = stall {
        stream.write_all(&body.as_bytes()[..body.len() / 2]).await?;
        stream.flush().await?;
        gate.open();
        return std::future::pending().await;
    }
    if cut {
        // Promise the whole body, deliver half of it, hang up.
        stream.write_all(&body.as_bytes()[..body.len() / 2]).await?;
        return stream.flush().await;
    }
    if pause.is_zero() {
        stream.write_all(body.as_bytes()).await?;
    } else {
        for piece in body.as_bytes().chunks(body.len().div_ceil(8).max(1)) {
            tokio::time::sleep(pause).await;
            stream.write_all(piece).await?;
            stream.flush().await?;
        }
    }
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
        407 => "Proxy Authentication Required",
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
