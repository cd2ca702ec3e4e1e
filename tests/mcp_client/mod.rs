//! A plain MCP client for the tests, written from the protocol (JSON-RPC 2.0 over
//! Streamable HTTP, or newline-delimited over stdio), not with rmcp's client: what the tests
//! check is that an independent client can speak to delm's board.
#![allow(dead_code)]

use serde_json::{Value, json};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};

pub const LEGACY: &str = "2025-11-25";
pub const STATELESS: &str = "2026-07-28";

/// A tool call's answer: its text, and whether the server flagged it as an error.
#[derive(Debug, Clone)]
pub struct ToolAnswer {
    pub text: String,
    pub is_error: bool,
}

impl ToolAnswer {
    fn of(result: &Value) -> ToolAnswer {
        let text = result["content"]
            .as_array()
            .map(|blocks| {
                blocks
                    .iter()
                    .filter_map(|b| b["text"].as_str())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default();
        ToolAnswer {
            text,
            is_error: result["isError"].as_bool().unwrap_or(false),
        }
    }
}

/// The agent handle in a `join_swarm` answer (`x1-` and 16 hex digits).
pub fn handle_in(text: &str) -> String {
    let start = text
        .find(" as agent x")
        .map(|i| i + " as agent ".len())
        .unwrap_or_else(|| panic!("no agent handle in: {text}"));
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect()
}

/// One HTTP answer: status, headers we care about, and the JSON-RPC messages it carried
/// (from a JSON body or from SSE `data:` lines).
#[derive(Debug)]
pub struct HttpAnswer {
    pub status: u16,
    pub session: Option<String>,
    pub www_authenticate: Option<String>,
    pub body: String,
    pub messages: Vec<Value>,
}

impl HttpAnswer {
    /// The response to request `id`.
    pub fn response(&self, id: &Value) -> &Value {
        self.messages
            .iter()
            .find(|m| &m["id"] == id && (m.get("result").is_some() || m.get("error").is_some()))
            .unwrap_or_else(|| panic!("no response to id {id} in: {}", self.body))
    }
}

fn messages_in(content_type: &str, body: &str) -> Vec<Value> {
    if content_type.starts_with("application/json") {
        return serde_json::from_str(body)
            .map(|v| vec![v])
            .unwrap_or_default();
    }
    body.replace("\r\n", "\n")
        .split("\n\n")
        .filter_map(|event| {
            let data: Vec<&str> = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim_start)
                .collect();
            serde_json::from_str(&data.join("\n")).ok()
        })
        .collect()
}

/// MCP over Streamable HTTP.
pub struct HttpMcp {
    http: reqwest::Client,
    pub url: String,
    pub token: String,
    pub session: Option<String>,
    next_id: i64,
}

impl HttpMcp {
    pub fn new(url: &str, token: &str) -> HttpMcp {
        HttpMcp {
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            url: url.to_string(),
            token: token.to_string(),
            session: None,
            next_id: 1,
        }
    }

    pub fn fresh_id(&mut self) -> Value {
        self.next_id += 1;
        json!(self.next_id)
    }

    /// POST one message with `authorization` as the Authorization header (`None`: none).
    pub async fn post(
        &self,
        body: &Value,
        authorization: Option<&str>,
        headers: &[(&str, &str)],
    ) -> HttpAnswer {
        let mut req = self
            .http
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream")
            .body(body.to_string());
        if let Some(a) = authorization {
            req = req.header("Authorization", a);
        }
        if let Some(s) = &self.session {
            req = req
                .header("Mcp-Session-Id", s)
                .header("MCP-Protocol-Version", LEGACY);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("the board answers HTTP");
        let status = resp.status().as_u16();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let session = header("mcp-session-id");
        let www_authenticate = header("www-authenticate");
        let content_type = header("content-type").unwrap_or_default();
        let body = resp.text().await.unwrap_or_default();
        let messages = messages_in(&content_type, &body);
        HttpAnswer {
            status,
            session,
            www_authenticate,
            body,
            messages,
        }
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.token)
    }

    /// The 2025-11-25 handshake: `initialize`, then `notifications/initialized`.
    pub async fn initialize(&mut self, client: &str) -> Value {
        let id = self.fresh_id();
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
            "protocolVersion": LEGACY, "capabilities": {},
            "clientInfo": {"name": client, "version": "0.0.1"}}});
        let answer = self.post(&body, Some(&self.bearer()), &[]).await;
        assert_eq!(answer.status, 200, "initialize: {}", answer.body);
        self.session = Some(answer.session.clone().expect("a session id"));
        let result = answer.response(&id)["result"].clone();
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let ack = self.post(&note, Some(&self.bearer()), &[]).await;
        assert_eq!(ack.status, 202, "initialized: {}", ack.body);
        result
    }

    pub async fn request(&mut self, id: Value, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let answer = self.post(&body, Some(&self.bearer()), &[]).await;
        assert_eq!(answer.status, 200, "{method}: {}", answer.body);
        answer.response(&id).clone()
    }

    pub async fn tool_names(&mut self) -> Vec<String> {
        let id = self.fresh_id();
        let r = self.request(id, "tools/list", json!({})).await;
        r["result"]["tools"]
            .as_array()
            .expect("a tool list")
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect()
    }

    pub async fn call(&mut self, tool: &str, args: Value) -> ToolAnswer {
        let id = self.fresh_id();
        self.call_with_id(id, tool, args).await
    }

    /// A tool call under a chosen JSON-RPC id (to send the same call again).
    pub async fn call_with_id(&mut self, id: Value, tool: &str, args: Value) -> ToolAnswer {
        let r = self
            .request(id, "tools/call", json!({"name": tool, "arguments": args}))
            .await;
        assert!(r.get("error").is_none(), "{tool}: protocol error {r}");
        ToolAnswer::of(&r["result"])
    }

    /// One tool call in the stateless 2026-07-28 revision: no session, the protocol
    /// version and client context in the request's `_meta`, the standard headers.
    pub async fn stateless_call(&self, tool: &str, args: Value) -> (HttpAnswer, Value) {
        let id = json!(9001);
        let meta = json!({
            "io.modelcontextprotocol/protocolVersion": STATELESS,
            "io.modelcontextprotocol/clientInfo": {"name": "stateless-test", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {}});
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": tool, "arguments": args, "_meta": meta}});
        let plain = HttpMcp::new(&self.url, &self.token);
        let answer = plain
            .post(
                &body,
                Some(&self.bearer()),
                &[
                    ("MCP-Protocol-Version", STATELESS),
                    ("Mcp-Method", "tools/call"),
                    ("Mcp-Name", tool),
                ],
            )
            .await;
        let response = answer
            .messages
            .iter()
            .find(|m| m["id"] == id)
            .cloned()
            .unwrap_or(Value::Null);
        (answer, response)
    }
}

/// MCP over stdio with a spawned `delm mcp`.
pub struct StdioMcp {
    pub child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: i64,
    /// Every line the server wrote, in order.
    pub transcript: Vec<String>,
}

impl StdioMcp {
    pub fn spawn(mut cmd: tokio::process::Command) -> StdioMcp {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("delm mcp starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        StdioMcp {
            child,
            stdin,
            stdout,
            next_id: 0,
            transcript: Vec::new(),
        }
    }

    async fn send(&mut self, message: &Value) {
        let mut line = message.to_string();
        line.push('\n');
        self.stdin.write_all(line.as_bytes()).await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    /// Send a request and read lines until its response (generous bound: verification
    /// may call the scripted judge).
    pub async fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = json!(self.next_id);
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        let read = async {
            loop {
                let mut line = String::new();
                let n = self.stdout.read_line(&mut line).await.unwrap();
                assert!(
                    n > 0,
                    "delm mcp closed stdout; it wrote: {:?}",
                    self.transcript
                );
                self.transcript.push(line.trim_end().to_string());
                let Ok(message) = serde_json::from_str::<Value>(&line) else {
                    panic!("delm mcp wrote a line that is not JSON-RPC: {line}");
                };
                if message["id"] == id {
                    return message;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(180), read)
            .await
            .unwrap_or_else(|_| panic!("no answer to {method}"))
    }

    pub async fn initialize(&mut self, client: &str) -> Value {
        let r = self
            .request(
                "initialize",
                json!({"protocolVersion": LEGACY, "capabilities": {},
                    "clientInfo": {"name": client, "version": "0.0.1"}}),
            )
            .await;
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        r
    }

    pub async fn call(&mut self, tool: &str, args: Value) -> ToolAnswer {
        let r = self
            .request("tools/call", json!({"name": tool, "arguments": args}))
            .await;
        assert!(r.get("error").is_none(), "{tool}: protocol error {r}");
        ToolAnswer::of(&r["result"])
    }

    /// Close stdin (the client goes away) and collect how the bridge ended.
    pub async fn close(mut self) -> (std::process::ExitStatus, String) {
        drop(self.stdin);
        let mut rest = String::new();
        let _ = tokio::io::AsyncReadExt::read_to_string(&mut self.stdout, &mut rest).await;
        let mut stderr = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = tokio::io::AsyncReadExt::read_to_string(&mut err, &mut stderr).await;
        }
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("delm mcp exits when stdin closes")
            .unwrap();
        (status, format!("{rest}{stderr}"))
    }
}
