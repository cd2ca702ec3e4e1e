//! Coding-agent CLIs as workers of a run (`--worker claude-code:2 --worker codex:1`): each
//! worker is a process of that CLI, with the user's own login and model settings, connected
//! to the run's board over MCP with a token of its own that is seated as its agent
//! (`claude-1`, `codex-2`), working in its own private copy of the repository.
//!
//! - [`start`] seats every worker on the board, spawns it and supervises it: its JSON
//!   output becomes its agent's events (text, its own tool calls, its model usage); a
//!   process that exits while the run goes on leaves the board (its claim goes back to the
//!   queue) and is restarted once, then reported with what it did on the board (never
//!   judged by its exit code: the CLIs exit 0 even when every call was denied).
//! - [`Workers::shutdown`] (or the run's end) kills every worker's process group and
//!   revokes its token.
//!
//! The engine knows nothing of this module.

mod claude;
mod codex;
mod instructions;
mod process;
mod spec;
mod stream;

pub use spec::{Kind, MAX_WORKERS, WorkerSpec, parse_spec, resolve_command};

use crate::engine::EngineHandle;
use crate::engine::protocol::Report;
use crate::engine::tools::Workspace;
use crate::event::PointStatus;
use crate::mcp::{Seat, ServingBoard};
use process::{KILL_GRACE, PrivateDir, child_env, describe_exit, kill_group, read_tail};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Restarts of a worker whose process exited while the run went on.
const RESTARTS: u32 = 1;
/// Characters of one message or tool output kept in the log.
const OUTPUT_CHARS: usize = 4_000;
/// How long the rest of a worker's output is read after it exited.
const DRAIN: Duration = Duration::from_secs(5);

/// What the run lets a worker do with its own tools.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Allowed {
    /// Read the repository (a `--repo` run).
    pub read: bool,
    /// Run commands (`--allow-exec`).
    pub exec: bool,
    /// Edit its private copy (`--allow-edit`).
    pub edit: bool,
}

/// Everything [`start`] needs besides the run.
pub struct Setup {
    pub specs: Vec<WorkerSpec>,
    /// The binary of each kind in `specs`.
    pub commands: HashMap<Kind, PathBuf>,
    pub allow: Allowed,
    /// The repository (the worker's directory when the run makes no private copies).
    pub repo: Option<PathBuf>,
    pub goal: String,
    /// Variables set for every worker on top of the user's environment (a library caller
    /// pointing the CLIs at another model server); empty for `delm run`.
    pub env: Vec<(String, String)>,
}

/// The supervised workers of a run.
pub struct Workers {
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// What one worker process needs to be launched.
pub(crate) struct Launch<'a> {
    pub board_url: &'a str,
    pub token: &'a str,
    pub prompt: &'a str,
    /// A directory only this worker (and delm) reads: its MCP config lives there.
    pub private_dir: &'a Path,
    /// The board's tools, as the MCP server names them.
    pub board_tools: &'a [String],
    pub allow: Allowed,
}

/// A CLI's command line and the variables it gets besides the user's environment.
pub(crate) struct Prepared {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// The user's login variables for this CLI (sealed from delm's own environment).
    pub login_vars: &'static [&'static str],
}

/// What one line of a worker's output means.
pub(crate) enum Seen {
    Report(Report),
    /// Text as the model writes it (the TUI's live view; the whole message follows).
    Delta(String),
    /// Something the human should know (an error event naming the worker).
    Problem(String),
}

/// A CLI's JSON events, one line at a time.
pub(crate) trait Parser: Send {
    fn line(&mut self, value: &Value) -> Vec<Seen>;
}

pub(crate) fn clip_output(text: &str) -> String {
    crate::text::clip(text, OUTPUT_CHARS)
}

/// What the workers share.
struct Shared {
    engine: EngineHandle,
    board: Arc<ServingBoard>,
    workspace: Arc<dyn Workspace>,
    allow: Allowed,
    repo: Option<PathBuf>,
    goal: String,
    env: Vec<(String, String)>,
    board_tools: Vec<String>,
}

/// One worker.
struct Worker {
    kind: Kind,
    handle: String,
    command: PathBuf,
}

/// Seat, spawn and supervise every worker of `setup` on `board` (the run's MCP server).
pub fn start(
    setup: Setup,
    engine: EngineHandle,
    board: Arc<ServingBoard>,
    workspace: Arc<dyn Workspace>,
) -> Workers {
    let board_tools = board.tool_names();
    let shared = Arc::new(Shared {
        engine,
        board,
        workspace,
        allow: setup.allow,
        repo: setup.repo,
        goal: setup.goal,
        env: setup.env,
        board_tools,
    });
    let stop = CancellationToken::new();
    let mut tasks = Vec::new();
    for spec in &setup.specs {
        let Some(command) = setup.commands.get(&spec.kind) else {
            continue;
        };
        for n in 1..=spec.count {
            let worker = Worker {
                kind: spec.kind,
                handle: format!("{}-{n}", spec.kind.handle_prefix()),
                command: command.clone(),
            };
            tasks.push(tokio::spawn(supervise(
                worker,
                shared.clone(),
                stop.clone(),
            )));
        }
    }
    Workers { stop, tasks }
}

impl Workers {
    /// Kill every worker (its process group) and revoke its token.
    pub async fn shutdown(self) {
        self.stop.cancel();
        for task in self.tasks {
            let _ = tokio::time::timeout(KILL_GRACE + DRAIN + Duration::from_secs(2), task).await;
        }
    }
}

/// How one process of a worker ended.
enum Ended {
    /// The run ended, or delm is shutting down: not a failure.
    Stopped,
    /// It could not be started.
    Failed(String),
    /// It exited by itself while the run went on.
    Exited(String),
}

async fn supervise(worker: Worker, shared: Arc<Shared>, stop: CancellationToken) {
    let seat = Seat {
        handle: worker.handle.clone(),
        name: worker.kind.name().to_string(),
    };
    let private = match PrivateDir::create(&worker.handle) {
        Ok(dir) => dir,
        Err(e) => return shared.engine.report_problem(Some(&worker.handle), &e),
    };
    let mut starts = 0;
    loop {
        starts += 1;
        let ended = run_once(&worker, &seat, &shared, &private.0, &stop).await;
        let problem = match ended {
            Ended::Stopped => return,
            Ended::Failed(why) => {
                let message = format!(
                    "{} ({}) could not start: {why}",
                    worker.handle,
                    worker.kind.name()
                );
                shared.engine.report_problem(Some(&worker.handle), &message);
                return;
            }
            Ended::Exited(how) => how,
        };
        if shared.engine.is_finished() || stop.is_cancelled() {
            return;
        }
        let did = on_the_board(&shared.engine, &worker.handle);
        if starts <= RESTARTS {
            let message = format!(
                "{} ({}) exited while the run goes on ({problem}); {did}. Its claim went back \
                 to the queue; restarting it once",
                worker.handle,
                worker.kind.name()
            );
            shared.engine.report_problem(Some(&worker.handle), &message);
            continue;
        }
        let message = format!(
            "{} ({}) exited again ({problem}); {did}. It is not restarted: check its login \
             and model settings by running `{}` yourself",
            worker.handle,
            worker.kind.name(),
            worker.kind.default_command()
        );
        shared.engine.report_problem(Some(&worker.handle), &message);
        return;
    }
}

/// What a worker did on the board, in words: how it is judged (not by its exit code).
fn on_the_board(engine: &EngineHandle, handle: &str) -> String {
    let view = crate::engine::store::read(engine.view());
    let mine = view
        .state
        .points
        .iter()
        .filter(|p| p.point.author == handle);
    let (mut verified, mut other) = (0, 0);
    for p in mine {
        if p.status == PointStatus::Verified {
            verified += 1;
        } else {
            other += 1;
        }
    }
    let calls = view.state.agents.get(handle).map_or(0, |a| a.calls);
    if verified + other == 0 {
        format!("it published no point ({calls} model calls reported)")
    } else {
        format!("it published {verified} verified point(s) and {other} other(s)")
    }
}

/// Seat the worker, start its process in its directory and follow it until it exits or
/// the run ends.
async fn run_once(
    worker: &Worker,
    seat: &Seat,
    shared: &Shared,
    private_dir: &Path,
    stop: &CancellationToken,
) -> Ended {
    let token = match shared.board.seat_worker(seat).await {
        Ok(t) => t,
        Err(e) if shared.engine.is_finished() => {
            tracing::debug!("{}: not started, the run is over: {e}", worker.handle);
            return Ended::Stopped;
        }
        Err(e) => return Ended::Failed(e),
    };
    let ended = run_process(worker, shared, private_dir, &token, stop).await;
    shared.board.revoke_token(&token);
    shared.board.worker_left(&worker.handle).await;
    ended
}

async fn run_process(
    worker: &Worker,
    shared: &Shared,
    private_dir: &Path,
    token: &str,
    stop: &CancellationToken,
) -> Ended {
    // Its private copy (`--allow-edit`; made now, blocking), else the repository (read-only
    // tools), else its private directory.
    let workspace = shared.workspace.clone();
    let handle = worker.handle.clone();
    let fallback = shared
        .repo
        .clone()
        .unwrap_or_else(|| private_dir.to_path_buf());
    let dir = tokio::task::spawn_blocking(move || match workspace.private_copy(&handle) {
        Some(copy) => copy.map(|dir| (dir, true)),
        None => Ok((fallback, false)),
    })
    .await;
    let (cwd, private_copy) = match dir {
        Ok(Ok(dir)) => dir,
        Ok(Err(e)) => return Ended::Failed(e),
        Err(e) => return Ended::Failed(format!("its directory could not be made: {e}")),
    };
    let prompt = instructions::prompt(&instructions::Facts {
        handle: &worker.handle,
        name: worker.kind.name(),
        goal: &shared.goal,
        allow: shared.allow,
        private_copy,
    });
    let launch = Launch {
        board_url: shared.board.url(),
        token,
        prompt: &prompt,
        private_dir,
        board_tools: &shared.board_tools,
        allow: shared.allow,
    };
    let (prepared, mut parser): (Prepared, Box<dyn Parser>) = match worker.kind {
        Kind::ClaudeCode => match claude::prepare(&launch) {
            Ok(p) => (p, Box::new(claude::Parser::default())),
            Err(e) => return Ended::Failed(e),
        },
        Kind::Codex => match codex::prepare(&launch) {
            Ok(p) => (p, Box::new(codex::Parser::default())),
            Err(e) => return Ended::Failed(e),
        },
    };
    let mut command = tokio::process::Command::new(&worker.command);
    command
        .args(&prepared.args)
        .current_dir(&cwd)
        .env_clear()
        .envs(child_env(
            std::env::vars_os(),
            crate::secrets::env_var,
            &prepared,
            &shared.env,
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    process::die_with_parent(&mut command);
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => return Ended::Failed(format!("{}: {e}", worker.command.display())),
    };
    tracing::info!(worker = %worker.handle, dir = %cwd.display(), "worker started");
    let pid = child.id();
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let board = shared.board.clone();
    let engine = shared.engine.clone();
    let handle = worker.handle.clone();
    let reader = tokio::spawn(async move {
        let Some(stdout) = stdout else { return };
        let skipped = stream::read_lines(stdout, |value| {
            for seen in parser.line(&value) {
                match seen {
                    Seen::Report(report) => board.worker_report(&handle, report),
                    Seen::Delta(text) => board.worker_stream(&handle, &text),
                    Seen::Problem(message) => engine.report_problem(Some(&handle), &message),
                }
            }
        })
        .await;
        if skipped != stream::Skipped::default() {
            tracing::warn!(worker = %handle, ?skipped, "worker output lines skipped");
        }
    });
    let stderr_tail = tokio::spawn(read_tail(stderr));
    let mut finished = crate::engine::EngineClient::finished(&shared.engine);
    let run_over = async move {
        while !*finished.borrow_and_update() {
            if finished.changed().await.is_err() {
                break;
            }
        }
    };
    let ended = tokio::select! {
        status = child.wait() => Some(status),
        _ = stop.cancelled() => None,
        _ = run_over => None,
    };
    let ended = match ended {
        Some(status) => {
            let _ = tokio::time::timeout(DRAIN, reader).await;
            let tail = tokio::time::timeout(DRAIN, stderr_tail)
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            Ended::Exited(describe_exit(status, &tail))
        }
        None => {
            kill_group(pid, &mut child).await;
            let _ = tokio::time::timeout(DRAIN, reader).await;
            stderr_tail.abort();
            Ended::Stopped
        }
    };
    // Whatever it started itself (a test run in the background) goes with it.
    if let Some(pid) = pid {
        process::signal_group(pid, libc::SIGKILL);
    }
    ended
}
