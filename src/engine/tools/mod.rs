//! Workspace tools: what an agent can look at (a repository, a document set) and how
//! evidence that cites it is resolved. The protocol tools (`expand`, `record_point`, ...)
//! live in the agent; these are the workspace's own.

mod args;
mod bm25;
mod charmap;
mod commands;
mod confine;
pub mod delivery;
pub mod docs;
mod exec;
pub(crate) mod html;
pub(crate) mod ingest;
mod jail;
mod layout;
pub mod patch;
mod quote;
pub mod records;
pub mod repo;
mod sandbox;
pub mod span;
mod sweep;
mod worktree;

pub use jail::SandboxKind;
pub use quote::{find as quote_in, meaningful as quote_is_meaningful};

use crate::event::{AssembledResult, Evidence, Mode, PinnedPatch, PointId, RunState};
use crate::llm::ToolSpec;
use futures_util::future::BoxFuture;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Who is calling a tool (commands and worktrees are per agent).
#[derive(Debug, Clone, Default)]
pub struct ToolContext {
    pub agent: String,
    pub task: Option<String>,
}

/// What a tool call produced. `Err` text goes back to the model as an error message; it is
/// never a crash.
pub type ToolResult = Result<String, String>;

/// Evidence that verification resolved: the evidence with `resolved` filled in, and the
/// source text around the quote (shown to the judge and in the TUI).
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedEvidence {
    pub evidence: Evidence,
    pub context: String,
    /// What resolution had to correct, in words for the author ("quote found at lines
    /// 40-41, not 12-15"); `None` when the citation was right as given.
    pub note: Option<String>,
}

impl ResolvedEvidence {
    /// Resolved as cited, nothing corrected.
    pub fn exact(evidence: Evidence, context: String) -> Self {
        ResolvedEvidence {
            evidence,
            context,
            note: None,
        }
    }
}

/// What a point-citing evidence item looks like, worded once for every workspace.
pub const POINT_CITATION: &str = "A verified point is cited with source = its id (\"P3\") and \
quote = words copied from its headline or summary.";

/// Every tool output and error passes through here before it goes back to the model: a
/// command printing `.env`, or a file holding the provider key, returns `***` instead.
pub(crate) fn redacted(result: ToolResult) -> ToolResult {
    match result {
        Ok(text) => Ok(crate::redact::redact_owned(text)),
        Err(text) => Err(crate::redact::redact_owned(text)),
    }
}

pub trait Workspace: Send + Sync {
    /// One paragraph for the system prompt: what the workspace is and how to cite it.
    fn describe(&self) -> String;
    /// One or two sentences: how evidence cites this workspace (sources and the span
    /// vocabulary), worded as in [`Workspace::describe`], the tool outputs and the
    /// verifier's messages. For the `record_point` schema and the system prompt.
    fn citation_help(&self) -> String {
        POINT_CITATION.to_string()
    }
    /// Files found but not used (unsupported type, over the size cap, not a regular file,
    /// unreadable), as (path, reason). Empty for workspaces that skip nothing.
    fn skipped(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    /// The tools this workspace offers.
    fn tool_specs(&self) -> Vec<ToolSpec>;
    /// Run one of this workspace's tools. `None`: not a tool of this workspace.
    fn call<'a>(
        &'a self,
        ctx: &'a ToolContext,
        name: &'a str,
        args: &'a serde_json::Value,
    ) -> BoxFuture<'a, Option<ToolResult>>;
    /// Mechanical check of one evidence item: the source exists and the quote is found in it
    /// (see `quote` for what is forgiven). The span is a hint: a quote outside it is looked
    /// for in the whole source, and the corrected location goes in the `note`. `Err` says
    /// why not and how to fix it.
    fn resolve(&self, evidence: &Evidence) -> Result<ResolvedEvidence, String>;
    /// The initial tasks for `goal` as (title, detail); empty means the engine's default
    /// single planning task.
    fn initial_tasks(&self, goal: &str) -> Vec<(String, String)>;
    /// Checks across a point's evidence once every item resolved (for example: a cited
    /// patch needs a green command run on it). `Err` says why the point is rejected.
    fn check_point(&self, _evidence: &[Evidence]) -> Result<(), String> {
        Ok(())
    }
    /// The patches a just-verified point carries (its resolved `patch:` evidence), pinned:
    /// the diff and the cited checks that passed on exactly its files, for the
    /// `patch_pinned` event. Empty when it carries none.
    fn pinned_patches(&self, _point: &PointId, _evidence: &[Evidence]) -> Vec<PinnedPatch> {
        Vec::new()
    }
    /// The run's answer is in: the work that assembles one result from the verified
    /// patches in `state` (see [`delivery`]), in merge order: those `cited` by the answer
    /// first. `run_checks`: re-run the checks on the assembled files where no earlier run
    /// covers them; `stop` cancelled: finish promptly with what is known. `None` when the
    /// workspace has nothing to deliver.
    fn deliver(
        &self,
        _state: &RunState,
        _cited: &[PointId],
        _run_checks: bool,
        _stop: CancellationToken,
    ) -> Option<BoxFuture<'static, AssembledResult>> {
        None
    }
    /// A private copy of the repository for `agent` to edit with its own tools (a worker
    /// delm launches works in it), made now if it has none: the same worktree its
    /// `run_command` runs in and its `patch:` evidence is taken from. `None` when the run
    /// makes no copies (no `--allow-edit`).
    fn private_copy(&self, _agent: &str) -> Option<Result<std::path::PathBuf, String>> {
        None
    }
    /// A worker's side: the command runs and the patch `agent`'s evidence cites, to ship
    /// with its proposal (see [`records`]); empty when it cites none. Blocking.
    fn export_records(
        &self,
        _agent: &str,
        evidence: &[Evidence],
    ) -> Result<records::Records, String> {
        records::none_kept(evidence)
    }
    /// The board's side: file what worker agent `agent` shipped, so its evidence resolves
    /// by the board's own rules (see [`records`]). Blocking.
    fn import_records(&self, _agent: &str, records: records::Records) -> Result<(), String> {
        if records.is_empty() {
            Ok(())
        } else {
            Err(records::NO_RUNS_HERE.into())
        }
    }
    /// The run is over: remove what the workspace made (agents' worktrees).
    fn cleanup(&self) {}
}

/// What a run allows agents to do beyond reading (repository mode only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkspaceOptions {
    /// `run_command` (`--allow-exec`).
    pub allow_exec: bool,
    /// Per-agent worktrees with `edit_file` and `write_file` (`--allow-edit`).
    pub allow_edit: bool,
    /// Environment variables never passed to commands, besides every one that looks like a
    /// secret: the provider's key variable (`--api-key-env`).
    pub secret_env: Vec<String>,
    /// How commands are confined (`--sandbox none|bwrap`).
    pub sandbox: SandboxKind,
    /// With `--sandbox bwrap`: keep the network (`--allow-net`); without it commands see
    /// only a private loopback.
    pub allow_net: bool,
}

/// A question with no workspace: no tools, and no source can be cited.
pub struct NoWorkspace;

impl Workspace for NoWorkspace {
    fn describe(&self) -> String {
        format!(
            "There is no repository or document set for this run: reason from the question \
             and the shared context. {POINT_CITATION}"
        )
    }
    fn tool_specs(&self) -> Vec<ToolSpec> {
        Vec::new()
    }
    fn call<'a>(
        &'a self,
        _ctx: &'a ToolContext,
        _name: &'a str,
        _args: &'a serde_json::Value,
    ) -> BoxFuture<'a, Option<ToolResult>> {
        Box::pin(async { None })
    }
    fn resolve(&self, evidence: &Evidence) -> Result<ResolvedEvidence, String> {
        Err(format!(
            "`{}` cannot be resolved: this run has no repository or documents",
            evidence.source
        ))
    }
    fn initial_tasks(&self, _goal: &str) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// Whether commands can be confined as `kind` asks on this machine (bubblewrap installed
/// and able to create its namespaces). The error names the fix.
pub fn check_sandbox(kind: SandboxKind) -> Result<(), String> {
    match kind {
        SandboxKind::None => Ok(()),
        SandboxKind::Bwrap => jail::check_bwrap().map(|_| ()),
    }
}

/// How a command run outside any agent ended (see [`run_command_outside`]).
#[derive(Debug, Clone)]
pub struct CommandEnding {
    /// `None`: its timeout or a signal ended it.
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    /// Its combined output, as head and tail when long.
    pub output: String,
}

/// Run `cmd` once outside any agent (`delm eval`'s `check`), the way agents' commands run:
/// `sh -c` in `dir`, no stdin, the environment without secrets (and without the variables
/// named in `secret_env`), and everything it started killed at `timeout`.
pub async fn run_command_outside(
    cmd: &str,
    dir: &std::path::Path,
    timeout: std::time::Duration,
    secret_env: &[String],
) -> Result<CommandEnding, String> {
    let env = exec::scrubbed_env(std::env::vars_os(), secret_env);
    let out = exec::run(cmd, dir, timeout, &env, None).await?;
    Ok(CommandEnding {
        exit_code: match out.ending {
            exec::Ending::Exited(code) => Some(code),
            _ => None,
        },
        timed_out: out.ending == exec::Ending::TimedOut,
        output: out.output,
    })
}

/// Open the workspace for a run mode; errors name the bad path.
pub fn open(mode: &Mode) -> Result<Arc<dyn Workspace>, String> {
    open_with(mode, &WorkspaceOptions::default())
}

/// [`open`], allowing commands and edits as `options` say (repository mode only).
pub fn open_with(mode: &Mode, options: &WorkspaceOptions) -> Result<Arc<dyn Workspace>, String> {
    if (options.allow_exec || options.allow_edit) && !matches!(mode, Mode::Repo { .. }) {
        return Err(
            "--allow-exec and --allow-edit work on a repository: add --repo DIR (documents \
             and plain questions have nothing to run or edit)"
                .into(),
        );
    }
    if options.sandbox != SandboxKind::None && !options.allow_exec {
        return Err(
            "--sandbox confines commands, so it needs --allow-exec (without it agents run no \
             commands)"
                .into(),
        );
    }
    if options.allow_net && options.sandbox == SandboxKind::None {
        return Err(
            "--allow-net only means something inside --sandbox bwrap (without a sandbox \
             commands already have the network)"
                .into(),
        );
    }
    if options.allow_edit && !options.allow_exec {
        return Err(
            "--allow-edit needs --allow-exec: a change is accepted only with a command (a \
             test) that passes on it"
                .into(),
        );
    }
    match mode {
        Mode::Plain => Ok(Arc::new(NoWorkspace)),
        Mode::Repo { root } => Ok(Arc::new(repo::RepoWorkspace::open_with(root, options)?)),
        Mode::Docs { roots } => Ok(Arc::new(docs::DocsWorkspace::open(roots)?)),
    }
}
