//! Repository mode: reading tools over a source tree, plus commands and edits when the
//! user allows them (see `sandbox`).
//!
//! The file listing is built once at open with `.gitignore` rules (the `ignore` crate), and
//! that listing is what the agents can see: `list_dir` and `grep` walk it, and `read_file`
//! refuses files outside it (ignored files, `.git`). Every path goes through `confine`, so
//! `..`, absolute paths and symbolic links that leave the root are refused. An agent that
//! has its own worktree (`--allow-edit`) reads that instead, through a listing rebuilt after
//! each change it makes.

mod evidence;
mod read;

use super::confine::Root;
use super::sandbox::Sandbox;
use super::{ResolvedEvidence, ToolContext, ToolResult, Workspace, WorkspaceOptions};
use crate::event::{AssembledResult, Evidence, PinnedPatch, PointId, RunState};
use crate::llm::ToolSpec;
use futures_util::future::BoxFuture;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// Files larger than this are not read or searched.
const MAX_FILE_BYTES: u64 = 2 * 1024 * 1024;
/// `read_file` returns at most this many lines, and this many characters, per call.
const MAX_READ_LINES: usize = 400;
/// Below the 16,000 bytes of tool output a model gets back, so the "read on from line N"
/// note at the end of a long read is never cut off.
const MAX_READ_CHARS: usize = 14_000;
/// Longer lines are cut in tool output.
const MAX_LINE_CHARS: usize = 1_000;
const MAX_LIST_ENTRIES: usize = 300;
const MAX_GREP_MATCHES: usize = 100;
const MAX_GREP_LINE_CHARS: usize = 240;
/// A bound on the index for very large trees (the listing says when it was reached).
const MAX_INDEXED_FILES: usize = 200_000;

#[derive(Debug)]
struct FileEntry {
    rel: String,
    size: u64,
}

#[derive(Debug)]
struct RepoIndex {
    root: Root,
    name: String,
    /// Visible files, sorted by path.
    files: Vec<FileEntry>,
    by_path: HashMap<String, usize>,
    /// Visible directories (root excluded), sorted.
    dirs: BTreeSet<String>,
    truncated: bool,
}

/// An agent's view of its own worktree: the listing, and the worktree generation it was
/// built at.
type Views = Mutex<HashMap<String, (u64, Arc<RepoIndex>)>>;

/// A repository opened for reading, and for commands and edits when allowed.
pub struct RepoWorkspace {
    index: Arc<RepoIndex>,
    sandbox: Option<Arc<Sandbox>>,
    views: Arc<Views>,
}

impl RepoWorkspace {
    /// Open `root` read-only and index its visible files. The error names the path when it
    /// is missing or not a directory.
    pub fn open(root: &str) -> Result<Self, String> {
        Self::open_with(root, &WorkspaceOptions::default())
    }

    /// [`RepoWorkspace::open`], with commands and edits as `options` allow.
    pub fn open_with(root: &str, options: &WorkspaceOptions) -> Result<Self, String> {
        let root = Root::open(root, "repository")?;
        let name = root
            .path()
            .file_name()
            .map_or_else(|| "/".to_string(), |n| n.to_string_lossy().into_owned());
        let index = RepoIndex::build(root, name);
        let visible = index.files.iter().map(|f| f.rel.clone()).collect();
        let sandbox = Sandbox::new(index.root.path(), visible, options)?.map(Arc::new);
        Ok(RepoWorkspace {
            index: Arc::new(index),
            sandbox,
            views: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// The canonical root directory.
    pub fn root(&self) -> &Path {
        self.index.root.path()
    }

    /// Visible (not ignored) files, relative to the root, sorted.
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.index.files.iter().map(|f| f.rel.as_str())
    }
}

impl RepoIndex {
    fn build(root: Root, name: String) -> RepoIndex {
        let mut index = RepoIndex {
            root,
            name,
            files: Vec::new(),
            by_path: HashMap::new(),
            dirs: BTreeSet::new(),
            truncated: false,
        };
        index.scan();
        index
    }

    fn scan(&mut self) {
        let root = self.root.path().to_path_buf();
        let walker = ignore::WalkBuilder::new(&root)
            // Hidden files such as `.github/` or `.cargo/config.toml` are part of a project;
            // only version-control internals are not.
            .hidden(false)
            // Apply `.gitignore` even when the tree is not (yet) a git repository.
            .require_git(false)
            .follow_links(false)
            .filter_entry(|e| !matches!(e.file_name().to_str(), Some(".git" | ".hg" | ".svn")))
            .sort_by_file_name(|a, b| a.cmp(b))
            .build();
        for entry in walker.flatten() {
            let Some(rel) = self.root.relative(entry.path()) else {
                continue;
            };
            if rel.is_empty() {
                continue;
            }
            let Some(kind) = entry.file_type() else {
                continue;
            };
            let size = if kind.is_dir() {
                self.dirs.insert(rel);
                continue;
            } else if kind.is_file() {
                entry.metadata().map_or(0, |m| m.len())
            } else if kind.is_symlink() {
                // A link is visible when it leads to a file inside the root; links to
                // directories are not followed (no cycles, no duplicates).
                match std::fs::canonicalize(entry.path()) {
                    Ok(target) if target.starts_with(&root) && target.is_file() => {
                        std::fs::metadata(&target).map_or(0, |m| m.len())
                    }
                    _ => continue,
                }
            } else {
                continue;
            };
            if self.files.len() >= MAX_INDEXED_FILES {
                self.truncated = true;
                break;
            }
            self.by_path.insert(rel.clone(), self.files.len());
            self.files.push(FileEntry { rel, size });
        }
    }

    /// A visible file by requested path, or why it cannot be read.
    fn file(&self, requested: &str) -> Result<&FileEntry, String> {
        let confined = self.root.resolve(requested).map_err(|e| {
            if e.contains("does not exist") {
                format!("{e}{}", self.did_you_mean(requested))
            } else {
                e
            }
        })?;
        let rel = confined.rel;
        if confined.abs.is_dir() {
            return Err(format!(
                "`{}` is a directory; use list_dir to see its files",
                if rel.is_empty() { "." } else { &rel }
            ));
        }
        match self.by_path.get(&rel) {
            Some(&i) => Ok(&self.files[i]),
            None => Err(format!(
                "`{rel}` is excluded from the repository view (ignored by .gitignore or part \
                 of version-control data); read the project's own files instead"
            )),
        }
    }

    /// " (did you mean `a`, `b`?)" for files with the same name elsewhere.
    fn did_you_mean(&self, requested: &str) -> String {
        let name = requested.trim().rsplit('/').next().unwrap_or("");
        if name.is_empty() {
            return String::new();
        }
        let same: Vec<String> = self
            .files
            .iter()
            .filter(|f| f.rel.rsplit('/').next() == Some(name))
            .take(5)
            .map(|f| format!("`{}`", f.rel))
            .collect();
        if same.is_empty() {
            "; use list_dir or grep to find the right path".to_string()
        } else {
            format!("; did you mean {}?", same.join(", "))
        }
    }

    /// The text of a visible file, refusing big and binary files politely.
    fn load(&self, file: &FileEntry) -> Result<String, String> {
        if file.size > MAX_FILE_BYTES {
            return Err(format!(
                "`{}` is {}, over the {} limit for reading; use grep to find the lines you \
                 need in smaller files",
                file.rel,
                human_size(file.size),
                human_size(MAX_FILE_BYTES)
            ));
        }
        let bytes = std::fs::read(self.root.path().join(&file.rel))
            .map_err(|e| format!("cannot read `{}`: {e}", file.rel))?;
        text_of(&bytes).ok_or_else(|| {
            format!(
                "`{}` is a binary file ({}); only text files can be read",
                file.rel,
                human_size(file.size)
            )
        })
    }

    fn top_level(&self) -> String {
        let dirs = self
            .dirs
            .iter()
            .filter(|d| !d.contains('/'))
            .map(|d| format!("{d}/"));
        let files = self
            .files
            .iter()
            .filter(|f| !f.rel.contains('/'))
            .map(|f| f.rel.clone());
        let all: Vec<String> = dirs.chain(files).collect();
        let mut s = all.iter().take(30).cloned().collect::<Vec<_>>().join(", ");
        if all.len() > 30 {
            s.push_str(&format!(", ... ({} entries)", all.len()));
        }
        s
    }
}

impl Workspace for RepoWorkspace {
    fn describe(&self) -> String {
        let ix = &self.index;
        let truncated = if ix.truncated {
            format!(" (only the first {MAX_INDEXED_FILES} files are indexed)")
        } else {
            String::new()
        };
        let allowed = self
            .sandbox
            .as_ref()
            .map(|s| s.describe())
            .unwrap_or_default();
        format!(
            "A code repository `{}` with {} files{truncated}; top level: {}. Files ignored by \
             .gitignore are not shown. Paths are relative to the repository root. Explore with \
             list_dir, grep and read_file. {}{allowed}",
            ix.name,
            ix.files.len(),
            ix.top_level(),
            evidence::FILE_CITATION
        )
    }

    fn citation_help(&self) -> String {
        let mut help = evidence::FILE_CITATION.to_string();
        if let Some(sandbox) = &self.sandbox {
            help.push_str(&sandbox.citation_help());
        }
        help.push(' ');
        help.push_str(super::POINT_CITATION);
        help
    }

    fn tool_specs(&self) -> Vec<ToolSpec> {
        let mut specs = self.reading_tool_specs();
        if let Some(sandbox) = &self.sandbox {
            specs.extend(sandbox.tool_specs());
        }
        specs
    }

    fn call<'a>(
        &'a self,
        ctx: &'a ToolContext,
        name: &'a str,
        args: &'a Value,
    ) -> BoxFuture<'a, Option<ToolResult>> {
        if !matches!(name, "read_file" | "list_dir" | "grep") {
            return match &self.sandbox {
                Some(sandbox) => {
                    let call = Arc::clone(sandbox).call(ctx.agent.clone(), name, args.clone());
                    Box::pin(async move { call.await.map(super::redacted) })
                }
                None => Box::pin(async { None }),
            };
        }
        let this = self.reader();
        let agent = ctx.agent.clone();
        let name = name.to_string();
        let args = args.clone();
        Box::pin(async move {
            let run = move || {
                let index = this.view_for(&agent);
                match name.as_str() {
                    "read_file" => index.read_file(&args),
                    "list_dir" => index.list_dir(&args),
                    _ => index.grep(&args),
                }
            };
            // File reads and searches block; keep them off the async workers.
            match tokio::task::spawn_blocking(run).await {
                Ok(result) => Some(super::redacted(result)),
                Err(e) => Some(Err(format!("the tool failed unexpectedly: {e}"))),
            }
        })
    }

    fn resolve(&self, evidence: &Evidence) -> Result<ResolvedEvidence, String> {
        if let Some(resolved) = self.sandbox.as_ref().and_then(|s| s.resolve(evidence)) {
            return resolved;
        }
        self.index.resolve(evidence)
    }

    fn check_point(&self, evidence: &[Evidence]) -> Result<(), String> {
        match &self.sandbox {
            Some(sandbox) => sandbox.check_point(evidence),
            None => Ok(()),
        }
    }

    fn pinned_patches(&self, point: &PointId, evidence: &[Evidence]) -> Vec<PinnedPatch> {
        self.sandbox
            .as_ref()
            .map(|s| s.pinned_patches(point, evidence))
            .unwrap_or_default()
    }

    fn deliver(
        &self,
        state: &RunState,
        cited: &[PointId],
        run_checks: bool,
        stop: CancellationToken,
    ) -> Option<BoxFuture<'static, AssembledResult>> {
        let sandbox = self.sandbox.as_ref().filter(|s| s.allows_edit())?;
        super::delivery::deliver(Arc::clone(sandbox), state, cited, run_checks, stop)
    }

    fn private_copy(&self, agent: &str) -> Option<Result<std::path::PathBuf, String>> {
        let sandbox = self.sandbox.as_ref().filter(|s| s.allows_edit())?;
        Some(sandbox.private_copy(agent))
    }

    fn export_records(
        &self,
        agent: &str,
        evidence: &[Evidence],
    ) -> Result<super::records::Records, String> {
        match &self.sandbox {
            Some(sandbox) => sandbox.export_records(agent, evidence),
            None => super::records::none_kept(evidence),
        }
    }

    fn import_records(&self, agent: &str, records: super::records::Records) -> Result<(), String> {
        match &self.sandbox {
            Some(sandbox) => sandbox.import_records(agent, records),
            None if records.is_empty() => Ok(()),
            None => Err(super::records::NO_RUNS_HERE.into()),
        }
    }

    fn cleanup(&self) {
        if let Some(sandbox) = &self.sandbox {
            sandbox.cleanup();
        }
    }

    fn initial_tasks(&self, goal: &str) -> Vec<(String, String)> {
        // One planning task that explores and splits; it is a task like any other.
        let exec = self.sandbox.as_ref().is_some_and(|s| s.allows_exec());
        let edit = self.sandbox.as_ref().is_some_and(|s| s.allows_edit());
        let mut detail = format!(
            "Goal: {goal}\n\nExplore the repository first: `list_dir` the root, read the \
README and the files the goal names, `grep` for the symbols involved."
        );
        if exec {
            detail.push_str(
                " Run the failing test or command with `run_command` to see its real output, \
and record what it shows as a point citing the run (`cmd:<id>`).",
            );
        }
        detail.push_str(
            "\nThen add focused, independent tasks with `add_task` (one suspect, one file or one \
hypothesis each, with the paths and symbols an agent needs), and finish with a short plan. \
If the goal is small, do it yourself instead.",
        );
        if edit {
            detail.push_str(
                " Tasks that fix something should say which test proves the fix: a fix is \
only accepted with a passing run on the patched code.",
            );
        }
        vec![(
            "Plan: explore the repository and split the goal".to_string(),
            detail,
        )]
    }
}

/// What the reading tools need, cheap to move onto a blocking thread.
struct Reader {
    index: Arc<RepoIndex>,
    sandbox: Option<Arc<Sandbox>>,
    views: Arc<Views>,
}

impl Reader {
    /// The listing `agent` reads: its worktree's when it has one (rebuilt after changes),
    /// else the repository's.
    fn view_for(&self, agent: &str) -> Arc<RepoIndex> {
        let Some(wt) = self.sandbox.as_ref().and_then(|s| s.worktree(agent)) else {
            return Arc::clone(&self.index);
        };
        let generation = wt.generation();
        if let Some((built_at, view)) = self
            .views
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(agent)
            && *built_at == generation
        {
            return Arc::clone(view);
        }
        // Built outside the lock: a scan reads the disk, other agents need not wait for it.
        let view = Arc::new(RepoIndex::build(wt.root().clone(), self.index.name.clone()));
        self.views
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(agent.to_string(), (generation, Arc::clone(&view)));
        view
    }
}

impl RepoWorkspace {
    fn reader(&self) -> Reader {
        Reader {
            index: Arc::clone(&self.index),
            sandbox: self.sandbox.clone(),
            views: Arc::clone(&self.views),
        }
    }
}

/// Decode file bytes as text; `None` for binary data (a NUL byte near the start).
fn text_of(bytes: &[u8]) -> Option<String> {
    if bytes[..bytes.len().min(8192)].contains(&0) {
        return None;
    }
    Some(String::from_utf8_lossy(bytes).into_owned())
}

fn number_line(n: usize, line: &str, total: usize) -> String {
    let width = total.to_string().len().max(4);
    let line = line.strip_suffix('\r').unwrap_or(line);
    format!(
        "{n:>width$} | {}\n",
        crate::text::clip(line, MAX_LINE_CHARS)
    )
}

fn human_size(bytes: u64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{:.1} KB", b as f64 / 1024.0),
        b => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_detection_and_sizes() {
        assert!(text_of(b"fn main() {}\n").is_some());
        assert!(text_of(b"\x7fELF\0\0").is_none());
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(2048), "2.0 KB");
    }
}
