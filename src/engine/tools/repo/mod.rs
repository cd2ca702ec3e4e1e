//! Repository mode: reading tools over a source tree, plus commands and edits when the
//! user allows them (see `sandbox`).
//!
//! The file listing is built once at open with `.gitignore` rules (the `ignore` crate), and
//! that listing is what the agents can see: `list_dir` and `grep` walk it, and `read_file`
//! refuses files outside it (ignored files, `.git`). Every path goes through `confine`, so
//! `..`, absolute paths and symbolic links that leave the root are refused. An agent that
//! has its own worktree (`--allow-edit`) reads that instead, through a listing rebuilt after
//! each change it makes.

use super::args;
use super::commands;
use super::confine::Root;
use super::patch;
use super::quote;
use super::sandbox::Sandbox;
use super::{ResolvedEvidence, ToolContext, ToolResult, Workspace, WorkspaceOptions};
use crate::event::Evidence;
use crate::llm::ToolSpec;
use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Files larger than this are not read or searched.
const MAX_FILE_BYTES: u64 = 2 * 1024 * 1024;
/// `read_file` returns at most this many lines, and this many characters, per call.
const MAX_READ_LINES: usize = 400;
const MAX_READ_CHARS: usize = 40_000;
/// Longer lines are cut in tool output.
const MAX_LINE_CHARS: usize = 1_000;
const MAX_LIST_ENTRIES: usize = 300;
const MAX_GREP_MATCHES: usize = 100;
const MAX_GREP_LINE_CHARS: usize = 240;
/// A bound on the index for very large trees (the listing says when it was reached).
const MAX_INDEXED_FILES: usize = 200_000;
/// Lines of context shown around resolved evidence.
const CONTEXT_LINES: usize = 2;

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

    fn read_file(&self, args: &Value) -> ToolResult {
        let path = args::required_str(args, "path")?;
        let start = args::optional_usize(args, "start")?;
        let end = args::optional_usize(args, "end")?;
        let file = self.file(path)?;
        let text = self.load(file)?;
        let lines: Vec<&str> = text.lines().collect();
        let total = lines.len();
        if total == 0 {
            return Ok(format!("`{}` is empty", file.rel));
        }
        let start = start.unwrap_or(1).max(1);
        if start > total {
            return Err(format!(
                "`{}` has {total} lines; `start` must be between 1 and {total}",
                file.rel
            ));
        }
        if let Some(end) = end
            && end < start
        {
            return Err(format!(
                "`end` ({end}) is before `start` ({start}); lines are 1-based and inclusive"
            ));
        }
        let wanted_end = end.unwrap_or(usize::MAX).min(total);
        let cap_end = wanted_end.min(start + MAX_READ_LINES - 1);
        let mut body = String::new();
        let mut last = start - 1;
        for n in start..=cap_end {
            let line = number_line(n, lines[n - 1], total);
            if !body.is_empty() && body.len() + line.len() > MAX_READ_CHARS {
                break;
            }
            body.push_str(&line);
            last = n;
        }
        let mut out = format!("{} (lines {start}-{last} of {total})\n{body}", file.rel);
        if last < wanted_end {
            out.push_str(&format!(
                "[cut after line {last}: at most {MAX_READ_LINES} lines or {MAX_READ_CHARS} \
                 characters per call; read on with start={}]",
                last + 1
            ));
        } else if last < total && end.is_none() {
            out.push_str(&format!(
                "[{} more lines; read on with start={}]",
                total - last,
                last + 1
            ));
        }
        Ok(out)
    }

    fn list_dir(&self, args: &Value) -> ToolResult {
        let path = args::optional_str(args, "path")?.unwrap_or(".");
        let confined = self.root.resolve(path)?;
        let rel = confined.rel;
        if !rel.is_empty() && !self.dirs.contains(&rel) {
            if self.by_path.contains_key(&rel) {
                return Err(format!("`{rel}` is a file; use read_file to read it"));
            }
            return Err(format!(
                "`{rel}` is excluded from the repository view (ignored by .gitignore)"
            ));
        }
        let prefix = if rel.is_empty() {
            String::new()
        } else {
            format!("{rel}/")
        };
        let shown = if rel.is_empty() {
            ".".to_string()
        } else {
            rel.clone()
        };
        let under = |p: &&String| p.starts_with(&prefix);
        let dirs: Vec<&String> = self.dirs.iter().filter(under).collect();
        let files: Vec<&FileEntry> = self
            .files
            .iter()
            .filter(|f| f.rel.starts_with(&prefix))
            .collect();
        let mut entries: Vec<(String, String)> = dirs
            .iter()
            .map(|d| (format!("{}/", &d[prefix.len()..]), String::new()))
            .chain(
                files
                    .iter()
                    .map(|f| (f.rel[prefix.len()..].to_string(), human_size(f.size))),
            )
            .collect();
        let mut out = format!(
            "{shown}/ ({} files, {} directories",
            files.len(),
            dirs.len()
        );
        if entries.len() <= MAX_LIST_ENTRIES {
            // The whole subtree fits: list it recursively.
            entries.sort();
            out.push_str(")\n");
            for (name, size) in entries {
                out.push_str(&listing_line(&name, &size));
            }
            return Ok(out);
        }
        // Too many to list: show the immediate children, directories with their counts.
        out.push_str("; showing the top level only)\n");
        let mut children: Vec<(String, String)> = Vec::new();
        for d in dirs
            .iter()
            .map(|d| &d[prefix.len()..])
            .filter(|d| !d.contains('/'))
        {
            let inner = format!("{prefix}{d}/");
            let count = files.iter().filter(|f| f.rel.starts_with(&inner)).count();
            children.push((format!("{d}/"), format!("{count} files")));
        }
        for f in files
            .iter()
            .filter(|f| !f.rel[prefix.len()..].contains('/'))
        {
            children.push((f.rel[prefix.len()..].to_string(), human_size(f.size)));
        }
        children.sort();
        let total = children.len();
        for (name, size) in children.iter().take(MAX_LIST_ENTRIES) {
            out.push_str(&listing_line(name, size));
        }
        if total > MAX_LIST_ENTRIES {
            out.push_str(&format!(
                "[{} more entries cut; use grep with a glob path (e.g. \"{prefix}**/*.rs\") to \
                 find files]\n",
                total - MAX_LIST_ENTRIES
            ));
        } else {
            out.push_str("[call list_dir on a subdirectory to see inside it]\n");
        }
        Ok(out)
    }

    fn grep(&self, args: &Value) -> ToolResult {
        let pattern = args::required_str(args, "pattern")?;
        let scope = args::optional_str(args, "path")?;
        let build = |whole_text: bool| {
            regex::RegexBuilder::new(pattern)
                .multi_line(whole_text)
                .crlf(whole_text)
                .size_limit(4 * 1024 * 1024)
                .build()
        };
        let regex = build(false).map_err(|e| {
            format!(
                "`{pattern}` is not a valid regular expression: {e}; escape special \
                 characters such as ( [ . * with a backslash to match them literally"
            )
        })?;
        // One search over the whole file rules most files out quickly; only files that may
        // match are searched line by line. Multi-line mode keeps `^` and `$` meaning line
        // boundaries there, so no file with a matching line is ruled out.
        let prefilter = build(true).map_err(|e| e.to_string())?;
        let (selected, scope_label) = self.grep_scope(scope)?;
        let mut matches = Vec::new();
        let mut total = 0usize;
        let mut files_with = 0usize;
        let mut skipped = 0usize;
        for file in &selected {
            let Ok(text) = self.load(file) else {
                skipped += 1;
                continue;
            };
            if !prefilter.is_match(&text) {
                continue;
            }
            let mut found_here = false;
            for (i, line) in text.lines().enumerate() {
                let Some(m) = regex.find(line) else {
                    continue;
                };
                total += 1;
                found_here = true;
                if matches.len() < MAX_GREP_MATCHES {
                    matches.push(format!(
                        "{}:{}: {}",
                        file.rel,
                        i + 1,
                        excerpt(line, m.start())
                    ));
                }
            }
            files_with += usize::from(found_here);
        }
        let skipped_note = if skipped > 0 {
            format!(" ({skipped} large or binary files skipped)")
        } else {
            String::new()
        };
        if total == 0 {
            return Ok(format!(
                "no matches for `{pattern}` in {scope_label} ({} files searched){skipped_note}",
                selected.len()
            ));
        }
        let mut out = matches.join("\n");
        out.push('\n');
        if total > matches.len() {
            out.push_str(&format!(
                "[{} of {total} matching lines shown, in {files_with} files; narrow the pattern \
                 or the path to see the rest]{skipped_note}\n",
                matches.len()
            ));
        } else {
            out.push_str(&format!(
                "[{total} matching lines in {files_with} files]{skipped_note}\n"
            ));
        }
        Ok(out)
    }

    /// The files `grep` searches: all, a directory, one file, or a glob.
    fn grep_scope(&self, scope: Option<&str>) -> Result<(Vec<&FileEntry>, String), String> {
        let Some(scope) = scope.map(str::trim) else {
            return Ok((self.files.iter().collect(), "the repository".to_string()));
        };
        if scope.contains(['*', '?', '[', '{']) {
            // Globs only ever match indexed files, so they cannot reach outside the root;
            // `..` and absolute globs are refused to keep the message honest.
            let normalized = self.root.normalize(scope)?;
            let mut builder = ignore::overrides::OverrideBuilder::new(self.root.path());
            builder
                .add(&normalized)
                .map_err(|e| format!("`{scope}` is not a valid glob: {e}"))?;
            let glob = builder
                .build()
                .map_err(|e| format!("`{scope}` is not a valid glob: {e}"))?;
            let files = self
                .files
                .iter()
                .filter(|f| glob.matched(Path::new(&f.rel), false).is_whitelist())
                .collect();
            return Ok((files, format!("files matching `{normalized}`")));
        }
        let confined = self.root.resolve(scope)?;
        let rel = confined.rel;
        if rel.is_empty() {
            return Ok((self.files.iter().collect(), "the repository".to_string()));
        }
        if let Some(&i) = self.by_path.get(&rel) {
            return Ok((vec![&self.files[i]], format!("`{rel}`")));
        }
        if !self.dirs.contains(&rel) {
            return Err(format!(
                "`{rel}` is excluded from the repository view (ignored by .gitignore)"
            ));
        }
        let prefix = format!("{rel}/");
        let files = self
            .files
            .iter()
            .filter(|f| f.rel.starts_with(&prefix))
            .collect();
        Ok((files, format!("`{rel}/`")))
    }

    fn resolve(&self, evidence: &Evidence) -> Result<ResolvedEvidence, String> {
        let source = evidence.source.trim();
        if commands::is_command_source(source) {
            return Err(commands::no_runs_recorded());
        }
        if patch::is_patch_source(source) {
            return Err("patches exist only when edits are allowed (--allow-edit)".into());
        }
        // Accept `path:141-150` in `source` when `lines` is empty and the whole string is
        // not itself a file.
        let (file, lines_text) = match (self.file(source), evidence.lines.as_deref()) {
            (Ok(file), lines) => (file, lines),
            (Err(e), None) => match source.rsplit_once(':') {
                Some((path, lines)) if parse_lines(lines).is_ok() => {
                    (self.file(path).map_err(|_| e)?, Some(lines))
                }
                _ => return Err(e),
            },
            (Err(e), Some(_)) => return Err(e),
        };
        quote::check_quote(&evidence.quote)?;
        let text = self.load(file)?;
        let line_starts = line_starts(&text);
        let total = line_starts.len();
        let (first, last) = match lines_text {
            None => (1, total),
            Some(s) => {
                let (a, b) = parse_lines(s)?;
                if b > total {
                    return Err(format!(
                        "lines {s} do not exist in {}: it has {total} lines",
                        file.rel
                    ));
                }
                (a, b)
            }
        };
        let span_start = line_starts[first - 1];
        let span_end = line_starts.get(last).copied().unwrap_or(text.len());
        let span = &text[span_start..span_end];
        let find = |hay: &str| {
            quote::find(hay, &evidence.quote).or_else(|| {
                quote::strip_line_numbers(&evidence.quote).and_then(|q| quote::find(hay, &q))
            })
        };
        let cited = match lines_text {
            Some(_) => format!("{}:{}", file.rel, range_label(first, last)),
            None => file.rel.clone(),
        };
        let Some((s, e)) = find(span) else {
            if lines_text.is_some()
                && let Some((s, e)) = find(&text)
            {
                let (a, b) = (line_of(&line_starts, s), line_of(&line_starts, e - 1));
                return Err(format!(
                    "quote not found in {cited}; it is at lines {}: cite lines \"{}\"",
                    range_label(a, b),
                    range_label(a, b)
                ));
            }
            let hint = match quote::closest_line(span, &evidence.quote) {
                Some((i, line)) => format!(
                    "the closest line there is {}: `{}`",
                    first + i,
                    quote::clip(line.trim(), 200)
                ),
                None => "no line there shares words with the quote; read the file again and \
                         copy the text exactly"
                    .to_string(),
            };
            return Err(format!("quote not found in {cited}; {hint}"));
        };
        let (a, b) = (
            line_of(&line_starts, span_start + s),
            line_of(&line_starts, span_start + e - 1),
        );
        let mut resolved = evidence.clone();
        resolved.resolved = Some(format!("{}:{}", file.rel, range_label(a, b)));
        let lines: Vec<&str> = text.lines().collect();
        let from = a.saturating_sub(CONTEXT_LINES).max(1);
        let to = (b + CONTEXT_LINES).min(lines.len());
        let context: String = (from..=to)
            .map(|n| number_line(n, lines[n - 1], total))
            .collect();
        Ok(ResolvedEvidence {
            evidence: resolved,
            context: format!("{} (lines {from}-{to})\n{context}", file.rel),
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
             list_dir, grep and read_file. Cite evidence with source = the file path, lines = \
             \"a-b\" (the lines that hold the quote, as read_file numbers them) and quote = \
             the text copied exactly from those lines, without the line-number prefix.{allowed}",
            ix.name,
            ix.files.len(),
            ix.top_level()
        )
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
                    Box::pin(Arc::clone(sandbox).call(ctx.agent.clone(), name, args.clone()))
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
                Ok(result) => Some(result),
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

    fn patch_text(&self, reference: &str) -> Option<String> {
        self.sandbox.as_ref()?.patch_text(reference)
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

    fn reading_tool_specs(&self) -> Vec<ToolSpec> {
        vec![
            ToolSpec {
                name: "read_file".into(),
                description: format!(
                    "Read a text file of the repository. Lines come numbered (1-based); give \
                     `start` and `end` (inclusive) to read a range. At most {MAX_READ_LINES} \
                     lines per call; the output says how to read on."
                ),
                parameters: json!({
                    "type": "object",
                    "properties": {
                        "path": {"type": "string", "description": "File path relative to the repository root, e.g. \"src/main.rs\"."},
                        "start": {"type": "integer", "minimum": 1, "description": "First line to read (1-based, default 1)."},
                        "end": {"type": "integer", "minimum": 1, "description": "Last line to read (inclusive)."}
                    },
                    "required": ["path"],
                    "additionalProperties": false
                }),
            },
            ToolSpec {
                name: "list_dir".into(),
                description: "List the files and directories under a directory of the \
                              repository (recursively when it is small, else the top level \
                              with file counts). Directories end with `/`; ignored files are \
                              not shown."
                    .into(),
                parameters: json!({
                    "type": "object",
                    "properties": {
                        "path": {"type": "string", "description": "Directory relative to the repository root; \".\" for the root."}
                    },
                    "required": ["path"],
                    "additionalProperties": false
                }),
            },
            ToolSpec {
                name: "grep".into(),
                description: format!(
                    "Search file contents with a regular expression (Rust regex syntax; \
                     `(?i)` for case-insensitive). Results are `path:line: text`, at most \
                     {MAX_GREP_MATCHES} lines. Limit the search with `path`: a directory, a \
                     file, or a glob such as \"src/**/*.rs\" or \"*.py\"."
                ),
                parameters: json!({
                    "type": "object",
                    "properties": {
                        "pattern": {"type": "string", "description": "Regular expression, matched line by line."},
                        "path": {"type": "string", "description": "Directory, file or glob to search (default: the whole repository)."}
                    },
                    "required": ["pattern"],
                    "additionalProperties": false
                }),
            },
        ]
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
    format!("{n:>width$} | {}\n", quote::clip(line, MAX_LINE_CHARS))
}

fn listing_line(name: &str, size: &str) -> String {
    if size.is_empty() {
        format!("{name}\n")
    } else {
        format!("{name}  ({size})\n")
    }
}

/// A grep result line, cut to a window that shows the match.
fn excerpt(line: &str, match_start: usize) -> String {
    let line = line.trim_end();
    if line.chars().count() <= MAX_GREP_LINE_CHARS {
        return line.trim_start().to_string();
    }
    let mut from = match_start.saturating_sub(60);
    while !line.is_char_boundary(from) {
        from -= 1;
    }
    let body = quote::clip(&line[from..], MAX_GREP_LINE_CHARS);
    if from > 0 { format!("…{body}") } else { body }
}

/// Parse `a-b` or `a` (1-based, inclusive); `L10-L20` and en dashes are accepted.
fn parse_lines(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("`{s}` is not a line range; write \"141-150\" or \"141\"");
    let t = s.trim().replace(['\u{2013}', '\u{2014}'], "-");
    let num = |x: &str| {
        x.trim()
            .trim_start_matches(['L', 'l'])
            .parse::<usize>()
            .map_err(|_| bad())
    };
    let (a, b) = match t.split_once('-') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => {
            let a = num(&t)?;
            (a, a)
        }
    };
    if a == 0 {
        return Err(format!("`{s}`: line numbers start at 1"));
    }
    if b < a {
        return Err(format!("`{s}`: the range ends before it starts"));
    }
    Ok((a, b))
}

fn range_label(a: usize, b: usize) -> String {
    if a == b {
        a.to_string()
    } else {
        format!("{a}-{b}")
    }
}

/// Byte offset of the start of each line (as `str::lines` splits them).
fn line_starts(text: &str) -> Vec<usize> {
    let mut starts = vec![0];
    starts.extend(
        text.match_indices('\n')
            .map(|(i, _)| i + 1)
            .filter(|&i| i < text.len()),
    );
    starts
}

/// 1-based line of a byte offset.
fn line_of(starts: &[usize], byte: usize) -> usize {
    starts.partition_point(|&s| s <= byte)
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
    fn line_ranges_parse() {
        assert_eq!(parse_lines("141-150").unwrap(), (141, 150));
        assert_eq!(parse_lines(" 7 ").unwrap(), (7, 7));
        assert_eq!(parse_lines("L10-L12").unwrap(), (10, 12));
        assert_eq!(parse_lines("3\u{2013}4").unwrap(), (3, 4));
        assert!(parse_lines("0-3").is_err());
        assert!(parse_lines("9-3").is_err());
        assert!(parse_lines("abc").is_err());
    }

    #[test]
    fn line_of_maps_bytes_to_lines() {
        let text = "a\nbb\n\nccc";
        let starts = line_starts(text);
        assert_eq!(starts, vec![0, 2, 5, 6]);
        assert_eq!(line_of(&starts, 0), 1);
        assert_eq!(line_of(&starts, 3), 2);
        assert_eq!(line_of(&starts, 8), 4);
        assert_eq!(line_starts("a\n"), vec![0]);
    }

    #[test]
    fn binary_detection_and_sizes() {
        assert!(text_of(b"fn main() {}\n").is_some());
        assert!(text_of(b"\x7fELF\0\0").is_none());
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(2048), "2.0 KB");
    }

    #[test]
    fn long_grep_lines_keep_the_match_visible() {
        let line = format!("{}NEEDLE{}", "x".repeat(500), "y".repeat(500));
        let e = excerpt(&line, 500);
        assert!(e.contains("NEEDLE"));
        assert!(e.starts_with('…'));
    }
}
