//! What an agent may do to a repository beyond reading it, when the user allows it:
//! run commands (`--allow-exec`) and edit files in its own worktree (`--allow-edit`).
//!
//! The sandbox owns the per-agent worktrees (made on an agent's first edit or command), the
//! record of command runs and the pinned patches, and it resolves the evidence that cites
//! them (`cmd:<id>`, `patch:<agent>`). Its one cross-evidence rule: a point that cites a
//! patch must also cite a command that ran green on exactly that patch's code.
//!
//! It is over 600 lines because each of its four tools carries its schema and the messages
//! that tell a model how to fix a refused patch, and it is the one place that pins a
//! patch with its checks and runs the checks of an assembled result (`delivery`); the
//! mechanisms it drives live in `exec`, `jail`, `sweep`, `worktree`, `commands` and `patch`,
//! and what a worker ships to a board (and the board files here) in `records`.

use super::args;
use super::commands::{self, CommandLog, CommandRun};
use super::exec;
use super::jail::{self, Jail};
use super::patch::{self, PatchLog};
use super::quote;
use super::worktree::{self, Worktree};
use super::{ResolvedEvidence, ToolResult};
use super::{SandboxKind, WorkspaceOptions};
use crate::event::{Evidence, PinnedPatch, PointId};
use crate::llm::ToolSpec;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const DEFAULT_TIMEOUT_S: usize = 60;
const MAX_TIMEOUT_S: usize = 600;
/// `show_patch` and the judge's view of a patch show at most this much of the diff.
const MAX_DIFF_SHOWN: usize = 12_000;
/// A patch larger than this is not accepted (it is kept whole in the log).
const MAX_PATCH_BYTES: usize = 1024 * 1024;

/// What `--sandbox bwrap` allows beyond the defaults.
#[derive(Debug, Clone)]
struct BwrapPolicy {
    program: PathBuf,
    allow_net: bool,
}

/// One agent's worktree, made on first use.
type Slot = Arc<Mutex<Option<Arc<Worktree>>>>;

pub(crate) struct Sandbox {
    /// The user's repository (canonical); commands run here when edits are not allowed.
    repo: PathBuf,
    /// Its visible files, relative: what a worktree copies.
    visible: Arc<Vec<String>>,
    exec: bool,
    edit: bool,
    /// The environment commands get (secrets removed; minimal under bubblewrap).
    env: Vec<(OsString, OsString)>,
    /// `--sandbox bwrap`: run commands in bubblewrap, with the network when allowed.
    bwrap: Option<BwrapPolicy>,
    /// The directory that holds this run's worktrees (made with the first one).
    base: PathBuf,
    slots: Mutex<HashMap<String, Slot>>,
    commands: CommandLog,
    patches: PatchLog,
    closed: AtomicBool,
}

impl Sandbox {
    /// `None` when the options allow nothing beyond reading.
    pub fn new(
        repo: &Path,
        visible: Vec<String>,
        opts: &WorkspaceOptions,
    ) -> Result<Option<Sandbox>, String> {
        if !opts.allow_exec && !opts.allow_edit {
            return Ok(None);
        }
        if opts.allow_edit {
            worktree::git(repo, &["--version"]).map_err(|e| {
                format!("--allow-edit keeps each agent's changes with git, which cannot run: {e}")
            })?;
        }
        let mut env = exec::scrubbed_env(std::env::vars_os(), &opts.secret_env);
        // Keep worktrees free of bytecode files that would otherwise end up in patches.
        env.push(("PYTHONDONTWRITEBYTECODE".into(), "1".into()));
        let bwrap = match opts.sandbox {
            SandboxKind::None => None,
            SandboxKind::Bwrap => {
                let program = jail::check_bwrap()?;
                env = jail::minimal_env(&env);
                Some(BwrapPolicy {
                    program,
                    allow_net: opts.allow_net,
                })
            }
        };
        Ok(Some(Sandbox {
            repo: repo.to_path_buf(),
            visible: Arc::new(visible),
            exec: opts.allow_exec,
            edit: opts.allow_edit,
            env,
            bwrap,
            base: unique_base_dir(),
            slots: Mutex::new(HashMap::new()),
            commands: CommandLog::default(),
            patches: PatchLog::default(),
            closed: AtomicBool::new(false),
        }))
    }

    /// How commands are confined, as a clause for descriptions ("" without a sandbox).
    fn confinement(&self) -> String {
        match (&self.bwrap, self.edit) {
            (None, _) => String::new(),
            (Some(p), edit) => format!(
                "; it runs in a sandbox: {} writable, the rest of the file system read-only, \
                 a private /tmp{}",
                if edit {
                    "only your worktree is"
                } else {
                    "nothing but /tmp is"
                },
                if p.allow_net { "" } else { ", no network" }
            ),
        }
    }

    /// What a command may touch under bubblewrap: the agent's worktree (written), the
    /// repository (read, even when it lies under /tmp).
    fn jail(&self, worktree: Option<&Path>) -> Option<Jail> {
        let policy = self.bwrap.as_ref()?;
        Some(Jail {
            program: policy.program.clone(),
            writable: worktree.map(Path::to_path_buf),
            readable: vec![self.repo.clone()],
            allow_net: policy.allow_net,
        })
    }

    /// May agents run commands?
    pub fn allows_exec(&self) -> bool {
        self.exec
    }

    /// May agents edit (their own copies)?
    pub fn allows_edit(&self) -> bool {
        self.edit
    }

    pub fn describe(&self) -> String {
        let mut s = String::new();
        if self.edit {
            s.push_str(
                " You may change files: edit_file and write_file work in your own private \
worktree (a copy of the repository made on your first edit or command); the reading tools show \
you your worktree, other agents never see it, and the user's files are never touched. \
show_patch shows your changes as a diff. File citations (source = a path) refer to the \
original repository.",
            );
        }
        if self.exec {
            let place = if self.edit {
                "your worktree"
            } else {
                "the repository"
            };
            s.push_str(&format!(
                " run_command runs a shell command in {place} (no stdin, secrets removed from \
the environment{}); each run gets an id (c1, c2, ...) to cite as source \"cmd:c3\" with a quote \
from its output.",
                self.confinement()
            ));
        }
        if self.edit {
            s.push_str(
                " To propose a fix: edit, run the relevant test with run_command until it \
passes, then record a finding citing BOTH source \"patch:<your agent id>\" (quote a changed \
line from show_patch) and the green run \"cmd:<id>\" (quote its output). A patch is accepted \
only with a command that exited 0 on exactly the patched code, so run the test again after \
your last edit. In the final answer, name the point that carries the patch.",
            );
        }
        s
    }

    /// How this sandbox's records are cited (appended to the file citation help).
    pub fn citation_help(&self) -> String {
        let mut s = String::new();
        if self.exec {
            s.push_str(
                " A command run is cited with source = its run id (\"cmd:c3\") and quote = a \
                 line copied from its output.",
            );
        }
        if self.edit {
            s.push_str(
                " Your changes are cited with source = \"patch:<your agent id>\" and quote = \
                 a changed line as show_patch prints it.",
            );
        }
        s
    }

    pub fn tool_specs(&self) -> Vec<ToolSpec> {
        let mut specs = Vec::new();
        if self.exec {
            let place = if self.edit {
                "your private worktree"
            } else {
                "the repository root"
            };
            let confinement = self.confinement();
            specs.push(ToolSpec {
                name: "run_command".into(),
                description: format!(
                    "Run a shell command (`sh -c`) in {place}, e.g. the tests. No stdin; secrets \
                     are removed from the environment{confinement}; the command and everything \
                     it starts are killed at the timeout. Returns a run id to cite as \
                     \"cmd:<id>\", the exit code and the output (start and end when long)."
                ),
                parameters: json!({
                    "type": "object",
                    "properties": {
                        "cmd": {"type": "string", "description": "The command line, e.g. \"python3 -m unittest -v\"."},
                        "timeout_s": {"type": "integer", "minimum": 1, "maximum": MAX_TIMEOUT_S,
                            "description": format!("Seconds before the command is killed (default {DEFAULT_TIMEOUT_S}).")}
                    },
                    "required": ["cmd"],
                    "additionalProperties": false
                }),
            });
        }
        if self.edit {
            specs.push(ToolSpec {
                name: "edit_file".into(),
                description: "Replace text in a file of your worktree: `old` must match the \
                              file exactly (indentation included, no line-number prefixes) \
                              and exactly once; include surrounding lines to make it unique."
                    .into(),
                parameters: json!({
                    "type": "object",
                    "properties": {
                        "path": {"type": "string", "description": "File path relative to the repository root."},
                        "old": {"type": "string", "description": "The exact text to replace."},
                        "new": {"type": "string", "description": "The text to put in its place."}
                    },
                    "required": ["path", "old", "new"],
                    "additionalProperties": false
                }),
            });
            specs.push(ToolSpec {
                name: "write_file".into(),
                description: "Create or overwrite a file of your worktree with `content` \
                              (directories are created as needed)."
                    .into(),
                parameters: json!({
                    "type": "object",
                    "properties": {
                        "path": {"type": "string", "description": "File path relative to the repository root."},
                        "content": {"type": "string", "description": "The whole new content of the file."}
                    },
                    "required": ["path", "content"],
                    "additionalProperties": false
                }),
            });
            specs.push(ToolSpec {
                name: "show_patch".into(),
                description: "Show your changes so far as a unified diff against the \
                              repository (what \"patch:<your agent id>\" cites)."
                    .into(),
                parameters: json!({"type": "object", "properties": {}, "additionalProperties": false}),
            });
        }
        specs
    }

    /// Run one of the sandbox's tools for `agent`; `None` if `name` is not one of them.
    pub async fn call(
        self: Arc<Self>,
        agent: String,
        name: &str,
        args: Value,
    ) -> Option<ToolResult> {
        match name {
            "run_command" if self.exec => Some(self.run_command(&agent, &args).await),
            "edit_file" if self.edit => Some(
                self.in_worktree(agent, move |wt| {
                    let path = args::required_str(&args, "path")?;
                    let old = string_arg(&args, "old")?;
                    let new = string_arg(&args, "new")?;
                    wt.edit_file(path, old, new)
                })
                .await,
            ),
            "write_file" if self.edit => Some(
                self.in_worktree(agent, move |wt| {
                    let path = args::required_str(&args, "path")?;
                    let content = string_arg(&args, "content")?;
                    wt.write_file(path, content)
                })
                .await,
            ),
            "show_patch" if self.edit => Some(self.show_patch(agent).await),
            _ => None,
        }
    }

    async fn show_patch(self: Arc<Self>, agent: String) -> ToolResult {
        let Some(wt) = self.worktree(&agent) else {
            return Ok("No changes yet: you have not edited any file.".into());
        };
        let snap = blocking(move || wt.snapshot()).await?;
        if snap.diff.is_empty() {
            return Ok("No changes yet: your worktree matches the repository.".into());
        }
        Ok(format!(
            "Your changes ({}); cite them as source \"{}{agent}\":\n{}",
            patch::diff_stats(&snap.diff),
            patch::SOURCE_PREFIX,
            exec::head_and_tail(&snap.diff, MAX_DIFF_SHOWN)
        ))
    }

    /// The agent's worktree if it has one (the reading tools then show it).
    /// `agent`'s changes now, for a `patch:` citation: an error the model can act on when
    /// it has no worktree or no change.
    pub(crate) fn changes_of(&self, agent: &str) -> Result<super::worktree::Snapshot, String> {
        let wt = self.worktree(agent).ok_or_else(|| {
            format!("{agent} has no worktree (it has made no edits), so there is no patch to cite")
        })?;
        let snap = wt.snapshot()?;
        if snap.diff.is_empty() {
            return Err(format!(
                "{agent}'s worktree has no changes, so the patch is empty; edit files first"
            ));
        }
        Ok(snap)
    }

    pub fn worktree(&self, agent: &str) -> Option<Arc<Worktree>> {
        let slot = self
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(agent)
            .cloned()?;
        let guard = slot.lock().unwrap_or_else(|e| e.into_inner());
        guard.clone()
    }

    /// The directory of the agent's worktree, made now if it has none (blocking: copies the
    /// repository), for a worker that edits it with its own tools.
    pub fn private_copy(&self, agent: &str) -> Result<std::path::PathBuf, String> {
        self.worktree_or_create(agent)
            .map(|wt| wt.path().to_path_buf())
    }

    /// The agent's worktree, made now if it has none (blocking: copies the repository).
    pub(crate) fn worktree_or_create(&self, agent: &str) -> Result<Arc<Worktree>, String> {
        if self.closed.load(Ordering::SeqCst) {
            return Err("the run is over; its worktrees were removed".into());
        }
        let slot = Arc::clone(
            self.slots
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(agent.to_string())
                .or_default(),
        );
        let mut guard = slot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(wt) = guard.as_ref() {
            return Ok(Arc::clone(wt));
        }
        let dir = self.base.join(safe_dir_name(agent));
        let wt = Arc::new(Worktree::create(&dir, agent, &self.repo, &self.visible)?);
        tracing::info!(agent, dir = %wt.path().display(), "worktree created");
        *guard = Some(Arc::clone(&wt));
        Ok(wt)
    }

    /// Run blocking work on the agent's worktree off the async workers.
    async fn in_worktree(
        self: Arc<Self>,
        agent: String,
        work: impl FnOnce(&Worktree) -> ToolResult + Send + 'static,
    ) -> ToolResult {
        blocking(move || work(&*self.worktree_or_create(&agent)?)).await
    }

    async fn run_command(self: Arc<Self>, agent: &str, args: &Value) -> ToolResult {
        let cmd = args::required_str(args, "cmd")?.to_string();
        let mut note = String::new();
        let timeout_s = match args::optional_usize(args, "timeout_s")? {
            None => DEFAULT_TIMEOUT_S,
            Some(0) => return Err("`timeout_s` must be at least 1".into()),
            Some(n) if n > MAX_TIMEOUT_S => {
                note = format!(
                    "\n(timeout_s {n} is over the {MAX_TIMEOUT_S} s maximum; {MAX_TIMEOUT_S} s \
                     was used)"
                );
                MAX_TIMEOUT_S
            }
            Some(n) => n,
        };
        let timeout = Duration::from_secs(timeout_s as u64);
        let wt = if self.edit {
            let me = Arc::clone(&self);
            let who = agent.to_string();
            Some(blocking(move || me.worktree_or_create(&who)).await?)
        } else {
            None
        };
        let run = self.execute(agent, cmd, timeout, wt).await?;
        CommandLog::report(&run).map(|text| format!("{text}{note}"))
    }

    /// Run `cmd` for `agent` in `wt` (the repository itself without one), inside the
    /// sandbox, and record it with the trees it tested.
    pub(crate) async fn execute(
        &self,
        agent: &str,
        cmd: String,
        timeout: Duration,
        wt: Option<Arc<Worktree>>,
    ) -> Result<Arc<CommandRun>, String> {
        let before = match &wt {
            Some(wt) => {
                let wt = Arc::clone(wt);
                Some(blocking(move || wt.tree()).await?)
            }
            None => None,
        };
        let cwd = wt
            .as_ref()
            .map_or_else(|| self.repo.clone(), |w| w.path().to_path_buf());
        let jail = self.jail(wt.as_ref().map(|w| w.path()));
        let outcome = exec::run(&cmd, &cwd, timeout, &self.env, jail.as_ref()).await?;
        let mut tested_trees = Vec::new();
        if let (Some(wt), Some(before)) = (&wt, before) {
            wt.touch();
            let wt = Arc::clone(wt);
            let after = blocking(move || wt.tree()).await?;
            if after != before {
                let wt_path = cwd.clone();
                let (b, a) = (before.clone(), after.clone());
                // Files the command only added (artifacts) leave the tested code as it was;
                // files it changed do not count as tested.
                let only_added = blocking(move || only_additions(&wt_path, &b, &a))
                    .await
                    .unwrap_or(false);
                if only_added {
                    tested_trees.push(after);
                }
            }
            tested_trees.push(before);
        }
        let run = self.commands.record(CommandRun {
            id: String::new(),
            agent: agent.to_string(),
            cmd,
            worktree: wt.map(|w| w.agent.clone()),
            timeout,
            ending: outcome.ending,
            duration: outcome.duration,
            output: outcome.output,
            output_bytes: outcome.output_bytes,
            tested_trees,
            remote: false,
        });
        tracing::info!(agent, id = %run.id, ending = %run.ending_text(), "command run");
        Ok(run)
    }

    /// The record of command runs (this process's, and those workers shipped).
    pub(crate) fn command_log(&self) -> &CommandLog {
        &self.commands
    }

    /// The latest green run of exactly `cmd` on files whose git tree is `tree`.
    pub(crate) fn find_green(&self, cmd: &str, tree: &str) -> Option<Arc<CommandRun>> {
        self.commands.find_green(cmd, tree)
    }

    /// The repository and its visible files: what a fresh copy holds.
    pub(crate) fn source(&self) -> (&Path, &[String]) {
        (&self.repo, &self.visible)
    }

    /// A directory for delm's own copy called `name`, beside the agents' worktrees (agent
    /// directory names never start with a dot) and removed with them.
    pub(crate) fn scratch_dir(&self, name: &str) -> Result<PathBuf, String> {
        if self.closed.load(Ordering::SeqCst) {
            return Err("the run is over; its worktrees were removed".into());
        }
        Ok(self.base.join(format!(".{}", safe_dir_name(name))))
    }

    /// Resolve `cmd:` and `patch:` evidence; `None` for other sources.
    pub fn resolve(&self, evidence: &Evidence) -> Option<Result<ResolvedEvidence, String>> {
        let source = evidence.source.trim();
        if commands::is_command_source(source) {
            return Some(if self.exec {
                self.commands.resolve(evidence)
            } else {
                Err(commands::no_runs_recorded())
            });
        }
        if patch::is_patch_source(source) {
            return Some(if self.edit {
                self.resolve_patch(evidence)
            } else {
                Err("patches exist only when edits are allowed (--allow-edit)".into())
            });
        }
        None
    }

    fn resolve_patch(&self, evidence: &Evidence) -> Result<ResolvedEvidence, String> {
        // Accept the pinned form (`patch:a1@3f2a...`) too: the agent part is what counts.
        let agent = patch::cited_agent(&evidence.source);
        if agent.len() > 64 {
            return Err(format!(
                "`{}` is not an agent id; cite your own changes as \"patch:<your agent id>\"",
                crate::engine::point_args::clip_echo(agent)
            ));
        }
        if agent.is_empty() {
            return Err(
                "name the agent whose changes you cite: source \"patch:<agent id>\", e.g. \
                 \"patch:a1\""
                    .into(),
            );
        }
        let snap = self.changes_of(agent)?;
        if snap.diff.len() > MAX_PATCH_BYTES {
            return Err(format!(
                "{agent}'s patch is {} KB, over the {} KB one patch may be; keep build output \
                 and generated files out of the worktree (or in .gitignore) and cite a focused \
                 change",
                snap.diff.len() / 1024,
                MAX_PATCH_BYTES / 1024
            ));
        }
        if let Some(link) = patch::symlink_in(&snap.diff) {
            return Err(format!(
                "{agent}'s patch makes `{link}` a symbolic link; a patch may only change regular \
                 files (a link could lead out of the repository): remove it from the worktree"
            ));
        }
        quote::check_quote(&evidence.quote)?;
        if quote::find(&snap.diff, &evidence.quote).is_none() {
            return Err(format!(
                "quote not found in {agent}'s patch; quote a changed line as show_patch prints \
                 it (for example the added line after `+`)"
            ));
        }
        patch::check_applies(&self.repo, &snap.diff).map_err(|e| {
            format!(
                "{agent}'s patch does not apply cleanly to the repository ({e}); the files it \
                 changes may have changed since the worktree was made"
            )
        })?;
        let stats = patch::diff_stats(&snap.diff);
        let reference = self.patches.keep(agent, &snap);
        let mut resolved = evidence.clone();
        resolved.resolved = Some(format!("{reference} ({stats})"));
        Ok(ResolvedEvidence::exact(
            resolved,
            format!(
                "patch by {agent} ({stats}); applies cleanly to the repository\n{}",
                exec::head_and_tail(&snap.diff, MAX_DIFF_SHOWN)
            ),
        ))
    }

    /// A point that cites a patch must cite a command that exited 0 on exactly the patched
    /// code: files whose git tree is the patch's (a content hash of the visible files, so
    /// an earlier run on identical files counts, wherever it ran).
    pub fn check_point(&self, evidence: &[Evidence]) -> Result<(), String> {
        for ev in evidence {
            let Some(record) = ev.resolved.as_deref().and_then(|r| self.patches.get(r)) else {
                continue;
            };
            let runs = self.cited_runs(evidence);
            let agent = &record.agent;
            if runs.iter().any(|r| tests(r, &record.tree)) {
                continue;
            }
            let why = match runs.first() {
                None => format!(
                    "it cites {agent}'s patch but no command run; a fix must cite a command \
                     that ran green on it (for example the failing test, now passing): run it \
                     with run_command and cite source \"cmd:<id>\" with a quote from its output"
                ),
                Some(r) if r.worktree.as_deref() != Some(agent.as_str()) => format!(
                    "{} did not run in {agent}'s worktree and the files it ran on are not the \
                     patched ones, so it does not test the patch; run the test there and cite \
                     that run",
                    r.id
                ),
                Some(r) if !r.green() => format!(
                    "{} {}, so it does not show the patch works; a fix needs a run that exits 0",
                    r.id,
                    r.ending_text()
                ),
                Some(r) if r.remote => format!(
                    "{}'s record names files (git tree {}) other than the patched ones (tree \
                     {}), so it did not test this patch; run the test again after the last \
                     edit and cite the new run",
                    r.id,
                    r.tested_trees
                        .first()
                        .map_or("none", |t| &t[..t.len().min(10)]),
                    &record.tree[..record.tree.len().min(10)]
                ),
                Some(r) => format!(
                    "{} ran before {agent}'s last change to the files, so it did not test this \
                     patch; run the test again and cite the new run",
                    r.id
                ),
            };
            return Err(why);
        }
        Ok(())
    }

    /// The command runs `evidence` cites.
    fn cited_runs(&self, evidence: &[Evidence]) -> Vec<Arc<CommandRun>> {
        evidence
            .iter()
            .filter(|e| commands::is_command_source(&e.source))
            .filter_map(|e| self.commands.get(&e.source).ok())
            .collect()
    }

    /// The patches a verified point's resolved evidence pins, with the cited runs that
    /// passed on exactly their files.
    pub fn pinned_patches(&self, point: &PointId, evidence: &[Evidence]) -> Vec<PinnedPatch> {
        let runs = self.cited_runs(evidence);
        evidence
            .iter()
            .filter_map(|ev| {
                let resolved = ev
                    .resolved
                    .as_deref()
                    .filter(|r| patch::is_patch_source(r))?;
                let reference = resolved.split_whitespace().next()?.to_string();
                let record = self.patches.get(&reference)?;
                let checks = runs
                    .iter()
                    .filter(|r| tests(r, &record.tree))
                    .map(|r| r.check_run(&record.tree, false))
                    .collect();
                Some(PinnedPatch {
                    point: point.clone(),
                    agent: record.agent.clone(),
                    reference,
                    tree: record.tree.clone(),
                    diff: record.diff.clone(),
                    checks,
                })
            })
            .collect()
    }

    /// Remove the worktrees (the end of the run). Pinned patches stay readable.
    pub fn cleanup(&self) {
        self.closed.store(true, Ordering::SeqCst);
        if self.base.exists()
            && let Err(e) = std::fs::remove_dir_all(&self.base)
        {
            tracing::warn!(dir = %self.base.display(), "cannot remove the worktrees: {e}");
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// Whether `run` exited 0 on files whose git tree is `tree`.
fn tests(run: &CommandRun, tree: &str) -> bool {
    run.green() && run.tested_trees.iter().any(|t| t == tree)
}

fn string_arg<'a>(args: &'a Value, key: &str) -> Result<&'a str, String> {
    match args.get(key) {
        Some(Value::String(s)) => Ok(s),
        None | Some(Value::Null) => Err(format!("missing argument `{key}` (a string)")),
        Some(other) => Err(format!("argument `{key}` must be a string, got {other}")),
    }
}

/// Whether going from tree `a` to tree `b` only added files.
fn only_additions(dir: &Path, a: &str, b: &str) -> Result<bool, String> {
    let changes = worktree::git(
        dir,
        &["diff-tree", "-r", "--no-renames", "--name-status", a, b],
    )?;
    Ok(changes.lines().all(|l| l.starts_with('A')))
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| format!("the tool failed unexpectedly: {e}"))?
}

/// A fresh directory name under the system temp dir for this run's worktrees.
fn unique_base_dir() -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    std::env::temp_dir().join(format!(
        "delm-worktrees-{}-{nanos:08x}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ))
}

/// Agent ids are short and alphanumeric; anything else is replaced so it cannot form a path.
fn safe_dir_name(agent: &str) -> String {
    let name: String = agent
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() {
        "agent".into()
    } else {
        name
    }
}
