//! `delm mcp SESSION|RUN-ID`: a stdio MCP server (rmcp) for clients that prefer to spawn
//! their servers. It reads the run's board file and forwards `tools/list` and `tools/call`
//! to the board's Streamable HTTP endpoint with the bearer token, so it is one more client
//! of the same board. A call keeps its JSON-RPC id upstream, so the board recognises a
//! client's retry within this bridge's session.

use super::board_file::BoardFile;
use super::server::{server_config, to_result};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ErrorCode, ListToolsResult,
    PaginatedRequestParams, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The protocol revision the bridge speaks upstream (the board serves it with sessions).
const UPSTREAM_VERSION: &str = "2025-11-25";
/// Bound on one upstream answer (the board's replies are a few KB).
const MAX_ANSWER_BYTES: usize = 8 << 20;
/// Bound on one upstream call: a `read_board` wait plus a judge's verification, with room.
const CALL_TIMEOUT: Duration = Duration::from_secs(600);

/// Serve MCP on stdin/stdout for the board described by `board_file`, until stdin closes.
pub async fn bridge_stdio(board_file: &Path) -> Result<(), String> {
    let file = BoardFile::read(board_file)?;
    if !file.writer_alive() {
        return Err(format!(
            "the run that wrote {} (pid {}) is not running any more; continue it with \
             `delm resume <session> --serve`",
            board_file.display(),
            file.pid
        ));
    }
    let upstream = Arc::new(Upstream::new(file.url, file.token)?);
    let instructions = upstream.connect().await?;
    let bridge = Bridge {
        upstream,
        instructions,
    };
    let running = bridge
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| format!("the MCP client on stdin did not complete the handshake: {e}"))?;
    running
        .waiting()
        .await
        .map_err(|e| format!("the stdio server stopped unexpectedly: {e}"))?;
    Ok(())
}

#[derive(Clone)]
struct Bridge {
    upstream: Arc<Upstream>,
    instructions: String,
}

impl ServerHandler for Bridge {
    fn get_info(&self) -> ServerConfig {
        server_config(&self.instructions)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let result = self
            .upstream
            .call("tools/list", json!({}), None)
            .await
            .map_err(Failure::into_error)?;
        serde_json::from_value(result).map_err(|e| {
            ErrorData::internal_error(format!("bad tools/list from the board: {e}"), None)
        })
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let mut arguments = request.arguments.unwrap_or_default();
        // The board names an agent after the client that joined; here that is this
        // bridge's client, not the bridge.
        if request.name == super::tools::JOIN
            && !arguments.contains_key("name")
            && let Some(info) = context.peer.peer_info()
        {
            arguments.insert("name".into(), Value::String(info.client_info.name.clone()));
        }
        let params = json!({"name": request.name, "arguments": arguments});
        let id = context.id.clone().into_json_value();
        let call = self.upstream.call("tools/call", params, Some(id));
        let outcome = tokio::select! {
            r = call => r,
            _ = context.ct.cancelled() => return Err(ErrorData::new(
                ErrorCode::INTERNAL_ERROR, "the call was cancelled", None)),
        };
        match outcome {
            Ok(result) => serde_json::from_value::<CallToolResult>(result)
                .map(Into::into)
                .map_err(|e| {
                    ErrorData::internal_error(format!("bad tools/call from the board: {e}"), None)
                }),
            Err(Failure::Rpc(e)) => Err(e),
            // The model should read why the board cannot be reached.
            Err(Failure::Transport(why)) => Ok(to_result(why, true).into()),
        }
    }
}

/// Why an upstream call failed.
enum Failure {
    /// The board answered with a JSON-RPC error.
    Rpc(ErrorData),
    /// No answer: the board is unreachable, refused the token, or answered nonsense.
    Transport(String),
}

impl Failure {
    fn into_error(self) -> ErrorData {
        match self {
            Failure::Rpc(e) => e,
            Failure::Transport(why) => ErrorData::internal_error(why, None),
        }
    }
}

/// Why one HTTP exchange failed.
enum Exchange {
    /// The session is gone (the board restarted it): initialize again.
    SessionGone,
    Failed(Failure),
}

/// A minimal Streamable HTTP client for the board: one session, JSON or SSE answers.
struct Upstream {
    http: reqwest::Client,
    url: String,
    token: String,
    session: tokio::sync::Mutex<Option<String>>,
    next_id: AtomicU64,
}

impl Upstream {
    fn new(url: String, token: String) -> Result<Upstream, String> {
        let http = reqwest::Client::builder()
            // The board is on this machine or one the user named: never through a proxy.
            .no_proxy()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Upstream {
            http,
            url,
            token,
            session: tokio::sync::Mutex::new(None),
            next_id: AtomicU64::new(1),
        })
    }

    fn own_id(&self) -> Value {
        json!(format!(
            "delm-bridge-{}",
            self.next_id.fetch_add(1, Ordering::Relaxed)
        ))
    }

    /// Open a session; returns the board's instructions.
    async fn connect(&self) -> Result<String, String> {
        let mut session = self.session.lock().await;
        let result = self.initialize(&mut session).await.map_err(|f| match f {
            Failure::Rpc(e) => format!("the board refused the handshake: {}", e.message),
            Failure::Transport(why) => why,
        })?;
        Ok(result["instructions"]
            .as_str()
            .unwrap_or(super::tools::INSTRUCTIONS)
            .to_string())
    }

    async fn initialize(&self, session: &mut Option<String>) -> Result<Value, Failure> {
        *session = None;
        let body = json!({"jsonrpc": "2.0", "id": self.own_id(), "method": "initialize",
            "params": {"protocolVersion": UPSTREAM_VERSION, "capabilities": {},
                "clientInfo": {"name": "delm-mcp-bridge", "version": env!("CARGO_PKG_VERSION")}}});
        let (result, id) = match self.exchange(&body, None).await {
            Ok(answer) => answer,
            Err(Exchange::SessionGone) => {
                return Err(Failure::Transport("the board has no such session".into()));
            }
            Err(Exchange::Failed(f)) => return Err(f),
        };
        *session = id;
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        match self.exchange(&note, session.as_deref()).await {
            Ok(_) => Ok(result.unwrap_or(Value::Null)),
            Err(Exchange::SessionGone) => Err(Failure::Transport(
                "the board dropped the session at once".into(),
            )),
            Err(Exchange::Failed(f)) => Err(f),
        }
    }

    /// Call `method` upstream (under `id`, or an id of the bridge's own), opening a new
    /// session once if the board forgot this one.
    async fn call(&self, method: &str, params: Value, id: Option<Value>) -> Result<Value, Failure> {
        let body = json!({"jsonrpc": "2.0", "id": id.unwrap_or_else(|| self.own_id()),
            "method": method, "params": params});
        for attempt in 0..2 {
            let current = self.session.lock().await.clone();
            match self.exchange(&body, current.as_deref()).await {
                Ok((result, _)) => {
                    return result.ok_or_else(|| {
                        Failure::Transport(format!("the board sent no answer to {method}"))
                    });
                }
                Err(Exchange::SessionGone) if attempt == 0 => {
                    let mut session = self.session.lock().await;
                    // Another call may have opened a new session meanwhile.
                    if *session == current {
                        self.initialize(&mut session).await?;
                    }
                }
                Err(Exchange::SessionGone) => {
                    return Err(Failure::Transport(
                        "the board keeps losing the session".into(),
                    ));
                }
                Err(Exchange::Failed(f)) => return Err(f),
            }
        }
        unreachable!("the loop returns on its second attempt")
    }

    /// POST one message; the answer's `result` (`None` for an accepted notification) and
    /// the session id the board gave.
    async fn exchange(
        &self,
        body: &Value,
        session: Option<&str>,
    ) -> Result<(Option<Value>, Option<String>), Exchange> {
        let transport = |why: String| Exchange::Failed(Failure::Transport(why));
        let mut req = self
            .http
            .post(&self.url)
            .timeout(CALL_TIMEOUT)
            .bearer_auth(&self.token)
            .header("Accept", "application/json, text/event-stream")
            .json(body);
        if let Some(s) = session {
            req = req
                .header("Mcp-Session-Id", s)
                .header("MCP-Protocol-Version", UPSTREAM_VERSION);
        }
        let mut resp = req.send().await.map_err(|e| {
            transport(format!(
                "cannot reach the board at {} ({}): is the run still live?",
                self.url,
                crate::redact::redact(&e.to_string())
            ))
        })?;
        let status = resp.status();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(transport(
                "the board refused the token: the board file is from another run; run `delm \
                 mcp` again"
                    .into(),
            ));
        }
        if status == reqwest::StatusCode::NOT_FOUND && session.is_some() {
            return Err(Exchange::SessionGone);
        }
        let new_session = resp
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or_else(|| session.map(str::to_string));
        if status == reqwest::StatusCode::ACCEPTED {
            return Ok((None, new_session));
        }
        let sse = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/event-stream"));
        let want = body.get("id").cloned().unwrap_or(Value::Null);
        let mut buf: Vec<u8> = Vec::new();
        let mut message = None;
        while message.is_none() {
            let chunk = resp
                .chunk()
                .await
                .map_err(|e| transport(format!("the board's answer was cut off: {e}")))?;
            let Some(chunk) = chunk else { break };
            buf.extend_from_slice(&chunk);
            if buf.len() > MAX_ANSWER_BYTES {
                return Err(transport("the board's answer is too large".into()));
            }
            if sse {
                message = find_in_sse(&mut buf, &want);
            }
        }
        if !sse {
            message = serde_json::from_slice::<Value>(&buf).ok();
        }
        if !status.is_success() && message.is_none() {
            let text = String::from_utf8_lossy(&buf);
            return Err(transport(format!(
                "the board answered HTTP {status}: {}",
                crate::text::clip(text.trim(), 300)
            )));
        }
        let Some(message) = message else {
            return Err(transport(
                "the board's answer held no JSON-RPC message".into(),
            ));
        };
        if let Some(error) = message.get("error") {
            let error = serde_json::from_value::<ErrorData>(error.clone()).unwrap_or_else(|_| {
                ErrorData::internal_error(format!("the board answered an error: {error}"), None)
            });
            return Err(Exchange::Failed(Failure::Rpc(error)));
        }
        Ok((message.get("result").cloned(), new_session))
    }
}

/// The first complete SSE event in `buf` (taken off it), without its blank-line end.
fn next_event(buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    let find = |pat: &[u8]| {
        buf.windows(pat.len())
            .position(|w| w == pat)
            .map(|i| (i, pat.len()))
    };
    let (end, sep) = match (find(b"\n\n"), find(b"\r\n\r\n")) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b)?,
    };
    let event = buf[..end].to_vec();
    buf.drain(..end + sep);
    Some(event)
}

/// Take complete SSE events off the front of `buf`; the JSON-RPC response with id `want`,
/// if one was among them (pings, priming events and notifications are skipped).
fn find_in_sse(buf: &mut Vec<u8>, want: &Value) -> Option<Value> {
    while let Some(event) = next_event(buf) {
        let event = String::from_utf8_lossy(&event);
        let data: Vec<&str> = event
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|d| d.strip_prefix(' ').unwrap_or(d))
            .collect();
        if data.is_empty() {
            continue;
        }
        if let Ok(message) = serde_json::from_str::<Value>(&data.join("\n"))
            && message.get("id") == Some(want)
            && (message.get("result").is_some() || message.get("error").is_some())
        {
            return Some(message);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_answers_are_found_among_pings_and_notifications() {
        let mut buf = b"id: 0\nretry: 3000\ndata:\n\n: ping\n\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\r\n\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"ok\":true}}\n\ndata: {\"partial".to_vec();
        let found = find_in_sse(&mut buf, &json!(7)).unwrap();
        assert_eq!(found["result"]["ok"], true);
        assert_eq!(buf, b"data: {\"partial");
        let mut other = b"data: {\"jsonrpc\":\"2.0\",\"id\":8,\"result\":{}}\n\n".to_vec();
        assert!(find_in_sse(&mut other, &json!(7)).is_none());
        assert!(other.is_empty());
    }
}
