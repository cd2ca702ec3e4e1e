//! The board as an rmcp server handler: tools/list and tools/call, with the retry key of
//! each call taken from its `request_id` argument or its JSON-RPC id within the client's MCP
//! session. rmcp does the protocol: the 2025-11-25 `initialize` handshake with sessions,
//! and the stateless 2026-07-28 revision (`server/discover`, per-request `_meta`).

use super::auth::Tokens;
use super::swarm::{Call, Swarm};
use super::tools::{BoardTool, Effect, INSTRUCTIONS};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use std::sync::Arc;

/// One MCP session's (or one stateless request's) view of the board: all share the swarm.
#[derive(Clone)]
pub(crate) struct BoardServer {
    pub swarm: Arc<Swarm>,
    /// To tell which agent a worker's token is seated as.
    pub tokens: Arc<Tokens>,
}

/// The server's identity and capabilities at the handshake (also the stdio bridge's).
pub(crate) fn server_config(instructions: &str) -> ServerConfig {
    ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
        .with_server_info(Implementation::new("delm", env!("CARGO_PKG_VERSION")))
        .with_instructions(instructions)
}

fn to_tool(t: BoardTool) -> Tool {
    let schema = match t.spec.parameters {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    let mut tool = Tool::new(t.spec.name, t.spec.description, Arc::new(schema));
    tool.annotations = Some(ToolAnnotations::from_raw(
        None,
        Some(t.effect == Effect::Reads),
        Some(false),
        Some(t.effect != Effect::Runs),
        Some(false),
    ));
    tool
}

/// A tool reply as MCP carries it: text content, flagged as an error when it is one.
pub(crate) fn to_result(text: String, is_error: bool) -> CallToolResult {
    let content = vec![ContentBlock::text(text)];
    if is_error {
        CallToolResult::error(content)
    } else {
        CallToolResult::success(content)
    }
}

impl ServerHandler for BoardServer {
    fn get_info(&self) -> ServerConfig {
        server_config(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(
            self.swarm.tools().into_iter().map(to_tool).collect(),
        ))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = request.arguments.unwrap_or_default();
        // A JSON-RPC id is unique only within one session: without a session (stateless
        // requests, 2026-07-28) only an explicit `request_id` identifies a retry.
        let parts = context.extensions.get::<hyper::http::request::Parts>();
        let seat = parts.and_then(|p| {
            let authorization = p.headers.get(hyper::header::AUTHORIZATION);
            self.tokens.seat_of(authorization.map(|v| v.as_bytes()))
        });
        let session = parts
            .and_then(|p| p.headers.get("mcp-session-id"))
            .and_then(|v| v.to_str().ok())
            .map(|s| format!("j:{s}:{}", context.id));
        let call = Call {
            tool: request.name.to_string(),
            key: Call::retry_key(&args, session),
            client_name: context.peer.peer_info().map(|i| i.client_info.name.clone()),
            cancel: context.ct.clone(),
            seat,
            args,
        };
        let reply = self.swarm.call(call).await;
        Ok(to_result(reply.text, reply.is_error).into())
    }
}
