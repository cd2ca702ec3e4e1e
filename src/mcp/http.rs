//! Streamable HTTP: a hyper server on the bound address that checks the bearer token on
//! every request (HTTP 401 before any MCP processing), routes `/mcp` to rmcp's Streamable
//! HTTP service and answers 404 elsewhere. Connections are bounded in number and in how
//! long they may take to send their headers.

use super::auth::Tokens;
use super::server::BoardServer;
use super::swarm::Swarm;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode, header};
use hyper_util::rt::{TokioIo, TokioTimer};
use rmcp::transport::streamable_http_server::session::local::{LocalSessionManager, SessionConfig};
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Connections served at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 256;
/// A request body larger than this is refused (413) by rmcp.
const MAX_BODY_BYTES: usize = 1 << 20;
/// How long a client may take to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long open connections (SSE streams) get to finish when the board stops.
const DRAIN: Duration = Duration::from_secs(2);
/// An MCP session with no traffic this long is closed (its client starts a new one). Longer
/// than rmcp's 5 minutes: a coding agent may think, or wait for its human, that long.
const SESSION_IDLE: Duration = Duration::from_secs(30 * 60);

type Body = BoxBody<Bytes, Infallible>;
type Mcp = StreamableHttpService<BoardServer, LocalSessionManager>;

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn unauthorized() -> Response<Body> {
    let mut response = plain(
        StatusCode::UNAUTHORIZED,
        "missing or wrong bearer token: send `Authorization: Bearer <token>` with the token \
from the run's board file (<session>.board.json)\n",
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer realm=\"delm\""),
    );
    response
}

fn sessions() -> LocalSessionManager {
    let mut manager = LocalSessionManager::default();
    let mut config = SessionConfig::default();
    config.keep_alive = Some(SESSION_IDLE);
    manager.session_config = config;
    manager
}

async fn route(
    req: Request<Incoming>,
    tokens: Arc<Tokens>,
    mut mcp: Mcp,
) -> Result<Response<Body>, Infallible> {
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    if !tokens.allows(authorization) {
        return Ok(unauthorized());
    }
    if !matches!(req.uri().path(), "/mcp" | "/mcp/") {
        return Ok(plain(
            StatusCode::NOT_FOUND,
            "not found: the board is served at /mcp\n",
        ));
    }
    tower_service::Service::call(&mut mcp, req).await
}

/// Serve until `stop` fires. `loopback`: the address is on loopback, so rmcp's Host check
/// (against DNS rebinding) stays on; a user-named other address turns it off (the bearer
/// token is what protects the board there).
pub(crate) async fn serve(
    listener: TcpListener,
    swarm: Arc<Swarm>,
    tokens: Arc<Tokens>,
    loopback: bool,
    stop: CancellationToken,
) {
    let mut config = StreamableHttpServerConfig::default()
        .with_cancellation_token(stop.child_token())
        .with_max_request_body_bytes(MAX_BODY_BYTES);
    if !loopback {
        config = config.disable_allowed_hosts();
    }
    let seats = tokens.clone();
    let mcp: Mcp = StreamableHttpService::new(
        move || {
            Ok(BoardServer {
                swarm: swarm.clone(),
                tokens: seats.clone(),
            })
        },
        Arc::new(sessions()),
        config,
    );
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = stop.cancelled() => return,
        };
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little, keep serving.
                    tracing::warn!("the board cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.cancelled() => return,
        };
        let (tokens, mcp, stop) = (tokens.clone(), mcp.clone(), stop.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let service =
                hyper::service::service_fn(move |req| route(req, tokens.clone(), mcp.clone()));
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!("board connection ended: {e}");
                    }
                }
                _ = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(DRAIN, conn).await;
                }
            }
        });
    }
}
