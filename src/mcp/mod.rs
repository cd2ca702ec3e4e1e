//! The board over MCP: outside agents (Claude Code, Codex, Cursor, a script) join a live run,
//! claim tasks, read the shared context and publish points that the board verifies like a
//! native agent's.
//!
//! - [`bind`] then [`Binding::serve`] (or [`serve`]): Streamable HTTP at `http://ADDR/mcp`,
//!   a bearer token on every request, `<session>.board.json` (mode 0600) with the URL and
//!   the token, a `board_serving` event with the URL only. Serving stops, and the board file
//!   is removed, when the run ends or [`ServingBoard::shutdown`] is called.
//! - [`bridge_stdio`]: `delm mcp`, a stdio MCP server that forwards to a live board.
//!
//! The engine knows nothing of this module: each outside agent is a board participant
//! (`EngineHandle::participant`) that joined with kind `mcp`.

mod auth;
mod board_file;
mod bridge;
mod http;
mod read;
mod server;
mod swarm;
mod tools;
mod work;

pub use auth::Seat;
pub use board_file::{BoardFile, board_file_for};
pub use bridge::bridge_stdio;
pub use swarm::{BoardSettings, MAX_OUTSIDE_AGENTS};
pub use tools::MAX_WAIT_S;

use crate::engine::EngineHandle;
use crate::engine::tools::Workspace;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Where `--serve` listens when no address is given: loopback, any free port.
pub const DEFAULT_ADDR: &str = "127.0.0.1:0";

/// Read a `--serve` address leniently: `HOST:PORT`, `[V6]:PORT`, `localhost:PORT`, `:PORT`
/// or a bare `PORT` (the last three on 127.0.0.1).
pub fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    let t = text.trim();
    let bad = || {
        format!(
            "--serve `{t}` is not an address: give HOST:PORT (127.0.0.1:7777), :PORT or \
             PORT (loopback), or leave it out for 127.0.0.1 and a free port"
        )
    };
    if let Ok(addr) = t.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let loopback = |port: &str| {
        port.parse::<u16>()
            .map(|p| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), p))
            .map_err(|_| bad())
    };
    if let Some(port) = t.strip_prefix("localhost:").or_else(|| t.strip_prefix(':')) {
        return loopback(port);
    }
    if t.bytes().all(|b| b.is_ascii_digit()) && !t.is_empty() {
        return loopback(t);
    }
    Err(bad())
}

/// The board file `delm mcp ARG` means: ARG itself if it is one, else the board file of the
/// session ARG names (a file, or a run id looked up in `sessions_dir`).
pub fn resolve_board_file(arg: &str, sessions_dir: &Path) -> Result<PathBuf, String> {
    let given = Path::new(arg);
    if arg.ends_with(".board.json") && given.is_file() {
        return Ok(given.to_path_buf());
    }
    let session = crate::session::resolve_session_arg(arg, sessions_dir);
    if !session.exists() {
        return Err(format!(
            "no session `{arg}`: give a session file or a run id from `delm sessions`"
        ));
    }
    Ok(board_file_for(&session))
}

/// A bound listener, its token and its board file, before the run is served on it (bind
/// first, so a taken port is a usage error before the run starts).
pub struct Binding {
    listener: tokio::net::TcpListener,
    url: String,
    loopback: bool,
    file: FileGuard,
}

/// The board file this process wrote and its token: the file goes when the guard does.
struct FileGuard {
    path: PathBuf,
    token: String,
}

impl Drop for FileGuard {
    fn drop(&mut self) {
        board_file::remove_if_ours(&self.path, &self.token);
    }
}

/// Bind `addr`, make a token and write the board file next to `session` for `run_id`.
pub async fn bind(addr: &str, session: &Path, run_id: &str) -> Result<Binding, String> {
    let wanted = parse_addr(addr)?;
    let listener = tokio::net::TcpListener::bind(wanted)
        .await
        .map_err(|e| format!("--serve cannot listen on {wanted}: {e}"))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("--serve: no local address: {e}"))?;
    let loopback = local.ip().is_loopback();
    // A wildcard bind is reached locally over loopback; remote clients use the host's name.
    let shown = if local.ip().is_unspecified() {
        let ip = match local.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        };
        SocketAddr::new(ip, local.port())
    } else {
        local
    };
    let url = format!("http://{shown}/mcp");
    let token = auth::new_token()?;
    let board_file = board_file_for(session);
    BoardFile {
        url: url.clone(),
        token: token.clone(),
        run_id: run_id.to_string(),
        pid: std::process::id(),
    }
    .write(&board_file)?;
    if !loopback {
        tracing::warn!(%local, "the board is served beyond loopback; anyone with the token can take part");
    }
    Ok(Binding {
        listener,
        url,
        loopback,
        file: FileGuard {
            path: board_file,
            token,
        },
    })
}

impl Binding {
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn board_file(&self) -> &Path {
        &self.file.path
    }

    /// Serve the run's board here until the run ends (or [`ServingBoard::shutdown`]); records
    /// the `board_serving` event.
    pub fn serve(
        self,
        engine: EngineHandle,
        workspace: Arc<dyn Workspace>,
        settings: BoardSettings,
    ) -> ServingBoard {
        engine.announce_serving(&self.url);
        let tokens = Arc::new(auth::Tokens::new(self.file.token.clone()));
        let swarm = Arc::new(swarm::Swarm::new(engine.clone(), workspace, settings));
        let stop = CancellationToken::new();
        let task = tokio::spawn(serve_while_live(
            Served {
                listener: self.listener,
                swarm: swarm.clone(),
                tokens: tokens.clone(),
                loopback: self.loopback,
                board_file: self.file.path.clone(),
                token: self.file.token.clone(),
            },
            stop.clone(),
            engine,
        ));
        ServingBoard {
            url: self.url,
            file: self.file,
            tokens,
            swarm,
            stop,
            task: Some(task),
        }
    }
}

/// What the serving task owns.
struct Served {
    listener: tokio::net::TcpListener,
    swarm: Arc<swarm::Swarm>,
    tokens: Arc<auth::Tokens>,
    loopback: bool,
    board_file: PathBuf,
    token: String,
}

/// Serve until `stop` fires or the run ends; then the board file goes (a client reading it
/// later is told the run is not served instead of trying a dead address).
async fn serve_while_live(served: Served, stop: CancellationToken, engine: EngineHandle) {
    let Served {
        listener,
        swarm,
        tokens,
        loopback,
        board_file,
        token,
    } = served;
    let mut finished = crate::engine::EngineClient::finished(&engine);
    let run_ended = async move {
        while !*finished.borrow_and_update() {
            if finished.changed().await.is_err() {
                break;
            }
        }
    };
    tokio::select! {
        _ = http::serve(listener, swarm, tokens, loopback, stop.clone()) => {}
        _ = run_ended => {}
        _ = stop.cancelled() => {}
    }
    // Open connections (a waiting read_board) are told to finish.
    stop.cancel();
    board_file::remove_if_ours(&board_file, &token);
}

/// [`bind`] and [`Binding::serve`] in one step.
pub async fn serve(
    engine: EngineHandle,
    workspace: Arc<dyn Workspace>,
    settings: BoardSettings,
    addr: &str,
    session: &Path,
) -> Result<ServingBoard, String> {
    let run_id = crate::engine::store::read(engine.view())
        .state
        .run_id
        .clone();
    Ok(bind(addr, session, &run_id)
        .await?
        .serve(engine, workspace, settings))
}

/// The board being served. Dropping it stops serving and removes the board file too.
pub struct ServingBoard {
    url: String,
    file: FileGuard,
    tokens: Arc<auth::Tokens>,
    swarm: Arc<swarm::Swarm>,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ServingBoard {
    /// `http://HOST:PORT/mcp`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `<session>.board.json`: the URL and the token, mode 0600.
    pub fn board_file(&self) -> &Path {
        &self.file.path
    }

    /// One more accepted bearer token (a worker delm launches gets its own), registered for
    /// redaction.
    pub fn issue_token(&self) -> Result<String, String> {
        let token = auth::new_token()?;
        self.tokens.add(token.clone());
        Ok(token)
    }

    /// Put a worker delm launches on the board as `seat.handle` (an agent row at once; a
    /// worker that left joins again) and issue a token that acts only as that agent,
    /// registered for redaction.
    pub async fn seat_worker(&self, seat: &Seat) -> Result<String, String> {
        self.swarm.seat(seat).await?;
        let token = auth::new_token()?;
        self.tokens.add_seated(token.clone(), seat.clone());
        Ok(token)
    }

    /// Record what a seated worker's own output says it did (text, its own tool calls,
    /// its model calls) as its agent's events.
    pub fn worker_report(&self, handle: &str, report: crate::engine::protocol::Report) {
        self.swarm.report_for(handle, report);
    }

    /// Text a seated worker's model is writing now, shown live (lossy, not logged).
    pub fn worker_stream(&self, handle: &str, text: &str) {
        self.swarm.stream_for(handle, text);
    }

    /// A seated worker's process is gone: it leaves the board, so its claim goes back to
    /// the queue.
    pub async fn worker_left(&self, handle: &str) {
        self.swarm.leave(handle).await;
    }

    /// Stop accepting a token from [`ServingBoard::issue_token`].
    pub fn revoke_token(&self, token: &str) {
        self.tokens.revoke(token);
    }

    /// The names of the tools the board serves (for a worker's allow-list).
    pub fn tool_names(&self) -> Vec<String> {
        self.swarm
            .tools()
            .into_iter()
            .map(|t| t.spec.name)
            .collect()
    }

    /// Whether the server still runs (it stops by itself when the run ends).
    pub fn is_serving(&self) -> bool {
        self.task.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stop serving (open connections get a moment to finish) and remove the board file.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

impl Drop for ServingBoard {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_addresses_are_read_leniently() {
        let local = |port| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
        assert_eq!(parse_addr("127.0.0.1:0").unwrap(), local(0));
        assert_eq!(parse_addr(" 7777 ").unwrap(), local(7777));
        assert_eq!(parse_addr(":7777").unwrap(), local(7777));
        assert_eq!(parse_addr("localhost:7777").unwrap(), local(7777));
        assert_eq!(parse_addr("[::1]:9").unwrap().to_string(), "[::1]:9");
        assert!(parse_addr("0.0.0.0:7777").unwrap().ip().is_unspecified());
        let err = parse_addr("Why does the test fail?").unwrap_err();
        assert!(err.contains("is not an address"), "{err}");
        assert!(parse_addr("localhost:http").is_err());
    }

    #[test]
    fn the_board_file_of_a_run_id_or_a_session() {
        let dir = tempfile::tempdir().unwrap();
        let session = dir.path().join("20260101-000000-abcd.jsonl");
        std::fs::write(&session, "").unwrap();
        let board = dir.path().join("20260101-000000-abcd.board.json");
        assert_eq!(
            resolve_board_file("20260101-000000-abcd", dir.path()).unwrap(),
            board
        );
        assert_eq!(
            resolve_board_file(session.to_str().unwrap(), dir.path()).unwrap(),
            board
        );
        std::fs::write(&board, "{}").unwrap();
        assert_eq!(
            resolve_board_file(board.to_str().unwrap(), dir.path()).unwrap(),
            board
        );
        let err = resolve_board_file("no-such-run", dir.path()).unwrap_err();
        assert!(err.contains("no session `no-such-run`"), "{err}");
    }
}
