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
mod stream;

use crate::engine::EngineHandle;
use crate::engine::protocol::Report;
use crate::engine::tools::Workspace;
use crate::event::PointStatus;
use crate::mcp::{Seat, ServingBoard};
use serde_json::Value;
use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

/// Workers one run launches in all.
pub const MAX_WORKERS: usize = 16;
/// Restarts of a worker whose process exited while the run went on.
const RESTARTS: u32 = 1;
/// Characters of one message or tool output kept in the log.
const OUTPUT_CHARS: usize = 4_000;
/// Bytes of a worker's stderr kept for its report (the tail).
const STDERR_TAIL: usize = 2_000;
/// How long a worker gets to exit on SIGTERM before its group is killed.
const KILL_GRACE: Duration = Duration::from_secs(3);
/// How long the rest of a worker's output is read after it exited.
const DRAIN: Duration = Duration::from_secs(5);

/// A coding-agent CLI delm can launch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    ClaudeCode,
    Codex,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::ClaudeCode, Kind::Codex];

    /// Its name in `--worker` and in the config (`[workers.claude-code]`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::ClaudeCode => "claude-code",
            Kind::Codex => "codex",
        }
    }

    /// Its workers' agent ids: `claude-1`, `codex-2`.
    fn handle_prefix(self) -> &'static str {
        match self {
            Kind::ClaudeCode => "claude",
            Kind::Codex => "codex",
        }
    }

    /// The binary looked up on PATH when the config names none.
    pub fn default_command(self) -> &'static str {
        match self {
            Kind::ClaudeCode => "claude",
            Kind::Codex => "codex",
        }
    }

    fn install_hint(self) -> &'static str {
        match self {
            Kind::ClaudeCode => "npm install -g @anthropic-ai/claude-code",
            Kind::Codex => "npm install -g @openai/codex",
        }
    }

    /// A kind from its name, leniently (`Claude-Code`, `claude_code`, `claude`, `cc`).
    pub fn parse(text: &str) -> Option<Kind> {
        let t: String = text
            .trim()
            .to_ascii_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        match t.as_str() {
            "claudecode" | "claude" | "cc" => Some(Kind::ClaudeCode),
            "codex" | "codexcli" => Some(Kind::Codex),
            _ => None,
        }
    }
}

/// `--worker KIND:N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerSpec {
    pub kind: Kind,
    pub count: usize,
}

/// Read `--worker KIND:N` leniently: `claude-code:2`, `codex=1`, ` Codex : 3 `, or a kind
/// alone for one worker.
pub fn parse_spec(text: &str) -> Result<WorkerSpec, String> {
    let (kind_text, count_text) = match text.split_once([':', '=']) {
        Some((k, n)) => (k, Some(n.trim())),
        None => (text, None),
    };
    let kind = Kind::parse(kind_text).ok_or_else(|| {
        format!(
            "--worker `{}`: unknown worker `{}`; use claude-code or codex, e.g. --worker \
             claude-code:2",
            text.trim(),
            kind_text.trim()
        )
    })?;
    let count = match count_text {
        None | Some("") => 1,
        Some(n) => n.parse::<usize>().map_err(|_| {
            format!(
                "--worker `{}`: `{n}` is not a number of workers; write {}:N with N of 1 to \
                 {MAX_WORKERS}",
                text.trim(),
                kind.name()
            )
        })?,
    };
    if !(1..=MAX_WORKERS).contains(&count) {
        return Err(format!(
            "--worker `{}`: the number of workers must be 1 to {MAX_WORKERS}",
            text.trim()
        ));
    }
    Ok(WorkerSpec { kind, count })
}

/// The binary of `kind`: the configured command (a path, or a name on PATH), else its
/// default name on PATH. `Err` says how to install it or point at it.
pub fn resolve_command(kind: Kind, configured: Option<&str>) -> Result<PathBuf, String> {
    let wanted = configured
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .unwrap_or(kind.default_command());
    let found = if wanted.contains('/') {
        Some(PathBuf::from(wanted)).filter(|p| p.is_file())
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(wanted))
                .find(|p| p.is_file())
        })
    };
    found.ok_or_else(|| {
        let how = match configured {
            Some(_) => format!("the config's [workers.{}] command", kind.name()),
            None => "PATH".to_string(),
        };
        format!(
            "--worker {}: `{wanted}` was not found (looked in {how}); install it ({}) or set \
             [workers.{}] command = \"/path/to/{}\" in the config file",
            kind.name(),
            kind.install_hint(),
            kind.name(),
            kind.default_command()
        )
    })
}

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

/// Write `text` to a new file only the user can read (mode 0600).
pub(crate) fn write_private(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
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
                    Seen::Problem(message) => {
                        engine.report_problem(Some(&handle), &format!("{handle}: {message}"))
                    }
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
        signal_group(pid, libc::SIGKILL);
    }
    ended
}

/// The user's environment without anything that looks secret (`delm` sealed those at start;
/// the filter holds for a library caller too), proxies kept, plus this CLI's own login
/// variables (`login` reads them from the sealed store) and what delm sets for it.
fn child_env(
    user: impl IntoIterator<Item = (OsString, OsString)>,
    login: impl Fn(&str) -> Option<String>,
    prepared: &Prepared,
    extra: &[(String, String)],
) -> Vec<(OsString, OsString)> {
    use crate::secrets::{is_proxy_var, looks_secret};
    let mut env: Vec<_> = user
        .into_iter()
        .filter(|(name, value)| is_proxy_var(name) || !looks_secret(name, value))
        .collect();
    for name in prepared.login_vars {
        if let Some(value) = login(name) {
            env.push((name.into(), value.into()));
        }
    }
    for (name, value) in extra.iter().chain(&prepared.env) {
        env.push((name.into(), value.into()));
    }
    env
}

/// The last [`STDERR_TAIL`] bytes of a worker's stderr.
async fn read_tail(stderr: Option<tokio::process::ChildStderr>) -> String {
    let Some(mut stderr) = stderr else {
        return String::new();
    };
    let mut tail: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 8192];
    while let Ok(n) = stderr.read(&mut buf).await {
        if n == 0 {
            break;
        }
        tail.extend_from_slice(&buf[..n]);
        if tail.len() > 2 * STDERR_TAIL {
            tail.drain(..tail.len() - STDERR_TAIL);
        }
    }
    let start = tail.len().saturating_sub(STDERR_TAIL);
    String::from_utf8_lossy(&tail[start..]).into_owned()
}

/// "exit code 1: <its last stderr line>", redacted later with the event.
fn describe_exit(status: std::io::Result<ExitStatus>, stderr: &str) -> String {
    use std::os::unix::process::ExitStatusExt;
    let how = match status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            _ => "ended".to_string(),
        },
        Err(e) => format!("lost: {e}"),
    };
    match stderr.lines().rev().map(str::trim).find(|l| !l.is_empty()) {
        Some(line) => format!(
            "{how}: {}",
            crate::text::escape_controls(&crate::text::clip(line, 300))
        ),
        None => how,
    }
}

/// SIGTERM to the worker's process group, SIGKILL after [`KILL_GRACE`].
async fn kill_group(pid: Option<u32>, child: &mut tokio::process::Child) {
    let Some(pid) = pid else { return };
    signal_group(pid, libc::SIGTERM);
    if tokio::time::timeout(KILL_GRACE, child.wait())
        .await
        .is_err()
    {
        signal_group(pid, libc::SIGKILL);
        let _ = child.wait().await;
    }
}

fn signal_group(pid: u32, signal: libc::c_int) {
    if let Ok(pgid) = libc::pid_t::try_from(pid) {
        // SAFETY: killpg only sends a signal; the group was made for this worker
        // (process_group(0) makes the child's pid its group id).
        unsafe {
            libc::killpg(pgid, signal);
        }
    }
}

/// A directory only the user can enter (mode 0700), removed when the worker is done.
struct PrivateDir(PathBuf);

impl PrivateDir {
    fn create(handle: &str) -> Result<PrivateDir, String> {
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).map_err(|e| format!("no randomness for a directory: {e}"))?;
        let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let dir = std::env::temp_dir().join(format!(
            "delm-worker-{}-{handle}-{suffix}",
            std::process::id()
        ));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder
            .create(&dir)
            .map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
        Ok(PrivateDir(dir))
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_flags_are_read_leniently_with_clear_errors() {
        let spec = |t| parse_spec(t).unwrap();
        assert_eq!(
            spec("claude-code:2"),
            WorkerSpec {
                kind: Kind::ClaudeCode,
                count: 2
            }
        );
        assert_eq!(
            spec(" Codex : 3 "),
            WorkerSpec {
                kind: Kind::Codex,
                count: 3
            }
        );
        assert_eq!(spec("claude_code=1").kind, Kind::ClaudeCode);
        assert_eq!(spec("codex").count, 1);
        let err = parse_spec("cursor:2").unwrap_err();
        assert!(
            err.contains("unknown worker `cursor`") && err.contains("claude-code or codex"),
            "{err}"
        );
        assert!(parse_spec("codex:0").unwrap_err().contains("1 to 16"));
        assert!(parse_spec("codex:99").unwrap_err().contains("1 to 16"));
        assert!(
            parse_spec("codex:two")
                .unwrap_err()
                .contains("not a number")
        );
    }

    #[test]
    fn a_worker_gets_no_secret_but_its_own_login() {
        let prepared = Prepared {
            args: Vec::new(),
            env: vec![("DELM_MCP_TOKEN".into(), "delm_t".into())],
            login_vars: &["ANTHROPIC_API_KEY"],
        };
        let user = [
            ("PATH", "/usr/bin"),
            ("GITHUB_TOKEN", "ghp_0123456789abcdefghij"),
            ("AWS_SECRET_ACCESS_KEY", "x"),
            ("HTTPS_PROXY", "http://user:pw@proxy:3128"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let login = |name: &str| (name == "ANTHROPIC_API_KEY").then(|| "sk-ant-user".to_string());
        let env = child_env(user, login, &prepared, &[]);
        let names: Vec<String> = env
            .iter()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            ["PATH", "HTTPS_PROXY", "ANTHROPIC_API_KEY", "DELM_MCP_TOKEN"]
        );
    }

    #[test]
    fn a_missing_binary_says_how_to_install_it() {
        let err = resolve_command(Kind::Codex, Some("/nonexistent/codex")).unwrap_err();
        assert!(err.contains("[workers.codex] command"), "{err}");
        assert!(err.contains("npm install -g @openai/codex"), "{err}");
        assert!(resolve_command(Kind::ClaudeCode, Some("/bin/sh")).is_ok());
    }
}
