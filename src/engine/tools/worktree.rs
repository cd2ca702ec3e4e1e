//! An agent's private worktree (`--allow-edit`): a copy of the repository's visible files
//! with its own git history, so parallel agents never edit the same files and each agent's
//! changes are exactly `git diff <baseline>`.
//!
//! Why a copy with a private git repository rather than `git worktree add`: the copy starts
//! from the user's working tree as it is (uncommitted changes included), works the same for
//! a repository, a subdirectory of one, or a plain directory, and never writes into the
//! user's `.git`. Only visible files are copied (`.gitignore` applied), the same files the
//! reading tools show.

use super::confine::Root;
use super::quote;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

/// `write_file` refuses content larger than this.
const MAX_WRITE_BYTES: usize = 1024 * 1024;
/// Lines shown around an edit in `edit_file`'s answer.
const EDIT_CONTEXT_LINES: usize = 2;
/// Identity and settings for the commits delm makes in a worktree.
const GIT_SETTINGS: &[&str] = &[
    "-c",
    "user.name=delm",
    "-c",
    "user.email=delm@localhost",
    "-c",
    "commit.gpgsign=false",
    "-c",
    "core.autocrlf=false",
    "-c",
    "core.hooksPath=/dev/null",
];

/// Run git in `dir` with a neutral configuration (no system or user config, no repository
/// redirection from the environment, no discovery above `dir`'s parent). Returns stdout.
pub(crate) fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    git_with_input(dir, args, None)
}

/// [`git`] with bytes on stdin.
pub(crate) fn git_with_input(
    dir: &Path,
    args: &[&str],
    input: Option<&[u8]>,
) -> Result<String, String> {
    use std::io::Write;
    let mut command = Command::new("git");
    command.args(GIT_SETTINGS).args(args).current_dir(dir);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("GIT_") {
            command.env_remove(name);
        }
    }
    command
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C");
    if let Some(parent) = dir.parent() {
        command.env("GIT_CEILING_DIRECTORIES", parent);
    }
    command
        .stdin(if input.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().map_err(|e| {
        format!("cannot run git ({e}); --allow-edit needs git installed and on PATH")
    })?;
    if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(bytes)
            .map_err(|e| format!("cannot pass the patch to git: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("git failed: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(format!(
            "`git {}` failed: {}",
            args.join(" "),
            stderr.trim().lines().take(8).collect::<Vec<_>>().join("; ")
        ))
    }
}

/// The state of a worktree at one moment: the git tree of its files, and its diff against
/// the baseline (a patch `git apply` accepts, binary files included).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Snapshot {
    pub tree: String,
    pub diff: String,
}

/// One agent's private copy of the repository.
pub(crate) struct Worktree {
    pub agent: String,
    root: Root,
    baseline: String,
    /// Bumped on every change (edit, write, command), so cached views can be rebuilt.
    generation: AtomicU64,
}

impl Worktree {
    /// Copy `files` (relative paths of the visible files) from `source` into `dir` and
    /// commit them as the baseline.
    pub fn create(
        dir: &Path,
        agent: &str,
        source: &Path,
        files: &[String],
    ) -> Result<Worktree, String> {
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            format!(
                "cannot set up {agent}'s worktree at {}: {what}: {e}",
                dir.display()
            )
        };
        std::fs::create_dir_all(dir).map_err(|e| fail("creating it", &e))?;
        for rel in files {
            let to = dir.join(rel);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(|e| fail(rel, &e))?;
            }
            // `copy` follows links: a link to a file inside the repository becomes a copy,
            // so no path in the worktree leads back into the user's tree.
            std::fs::copy(source.join(rel), &to).map_err(|e| fail(rel, &e))?;
        }
        let root = Root::open(&dir.to_string_lossy(), "repository")?;
        let git_here = |args: &[&str]| git(root.path(), args).map_err(|e| fail("git", &e));
        git_here(&["init", "-q"])?;
        git_here(&["add", "-A"])?;
        git_here(&[
            "commit",
            "-q",
            "--no-verify",
            "--allow-empty",
            "-m",
            "delm baseline",
        ])?;
        let baseline = git_here(&["rev-parse", "HEAD"])?.trim().to_string();
        Ok(Worktree {
            agent: agent.to_string(),
            root,
            baseline,
            generation: AtomicU64::new(0),
        })
    }

    pub fn path(&self) -> &Path {
        self.root.path()
    }

    pub fn root(&self) -> &Root {
        &self.root
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Note that the files may have changed.
    pub fn touch(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The git tree of the current files (what a command runs on).
    pub fn tree(&self) -> Result<String, String> {
        git(self.path(), &["add", "-A"])?;
        Ok(git(self.path(), &["write-tree"])?.trim().to_string())
    }

    /// The current tree and the diff against the baseline.
    pub fn snapshot(&self) -> Result<Snapshot, String> {
        let tree = self.tree()?;
        let diff = git(
            self.path(),
            &[
                "diff",
                "--cached",
                "--binary",
                "--no-color",
                "--no-ext-diff",
                "--no-renames",
                &self.baseline,
            ],
        )?;
        Ok(Snapshot { tree, diff })
    }

    /// Make the files the baseline plus `diff` (a worker's patch, landed in the board's
    /// copy), discarding whatever else this copy held.
    pub fn replace_changes(&self, diff: &str) -> Result<(), String> {
        self.touch();
        git(self.path(), &["reset", "-q", "--hard", &self.baseline])?;
        git(self.path(), &["clean", "-fdqx"])?;
        if !diff.is_empty() {
            git_with_input(self.path(), &["apply", "-"], Some(diff.as_bytes()))?;
        }
        Ok(())
    }

    /// `edit_file`: replace the one occurrence of `old` with `new`.
    pub fn edit_file(&self, path: &str, old: &str, new: &str) -> Result<String, String> {
        if old.is_empty() {
            return Err(
                "`old` is empty: give the exact text to replace (use write_file to create or \
                 overwrite a whole file)"
                    .into(),
            );
        }
        let (rel, abs) = self.writable(path)?;
        if !abs.exists() {
            return Err(format!(
                "`{rel}` does not exist in your worktree; use write_file to create it"
            ));
        }
        let bytes = std::fs::read(&abs).map_err(|e| format!("cannot read `{rel}`: {e}"))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| format!("`{rel}` is not UTF-8 text; only text files can be edited"))?;
        let (old, new) = match text.matches(old).count() {
            0 if text.contains("\r\n") && !old.contains('\r') => {
                // Models write `\n`; the file uses CRLF line ends.
                (old.replace('\n', "\r\n"), new.replace('\n', "\r\n"))
            }
            _ => (old.to_string(), new.to_string()),
        };
        let positions: Vec<usize> = text.match_indices(old.as_str()).map(|(i, _)| i).collect();
        match positions.len() {
            0 => return Err(no_match(&rel, &text, &old)),
            1 => {}
            n => {
                let lines: Vec<String> = positions
                    .iter()
                    .take(10)
                    .map(|&at| (text[..at].matches('\n').count() + 1).to_string())
                    .collect();
                return Err(format!(
                    "`old` matches {n} times in `{rel}` (at lines {}); include more of the \
                     surrounding lines so that it matches exactly once",
                    lines.join(", ")
                ));
            }
        }
        let at = positions[0];
        let edited = format!("{}{new}{}", &text[..at], &text[at + old.len()..]);
        std::fs::write(&abs, &edited).map_err(|e| format!("cannot write `{rel}`: {e}"))?;
        self.touch();
        let first = edited[..at].matches('\n').count() + 1;
        let last = first + new.matches('\n').count();
        Ok(format!(
            "Edited `{rel}` in your worktree. Lines {first}-{last} now read:\n{}",
            numbered(&edited, first, last)
        ))
    }

    /// `write_file`: create or overwrite a file with `content`.
    pub fn write_file(&self, path: &str, content: &str) -> Result<String, String> {
        if content.len() > MAX_WRITE_BYTES {
            return Err(format!(
                "the content is {} bytes, over the {MAX_WRITE_BYTES}-byte limit for write_file",
                content.len()
            ));
        }
        let (rel, abs) = self.writable(path)?;
        let existed = abs.exists();
        if let Some(parent) = abs.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create the directory for `{rel}`: {e}"))?;
        }
        std::fs::write(&abs, content).map_err(|e| format!("cannot write `{rel}`: {e}"))?;
        self.touch();
        Ok(format!(
            "{} `{rel}` in your worktree ({} lines, {} bytes).",
            if existed { "Overwrote" } else { "Created" },
            content.lines().count(),
            content.len()
        ))
    }

    /// Where a write to `requested` may go: inside the worktree, not in `.git`, not through
    /// a symbolic link that leaves the worktree. Returns (relative path, path to write).
    fn writable(&self, requested: &str) -> Result<(String, PathBuf), String> {
        let rel = self.root.normalize(requested)?;
        if rel.is_empty() {
            return Err(format!(
                "`{requested}` is the repository root; name a file inside it"
            ));
        }
        let parts: Vec<&str> = rel.split('/').collect();
        if parts[0] == ".git" {
            return Err(format!(
                "`{rel}` is version-control data; only the project's own files can be edited"
            ));
        }
        let mut at = self.root.path().to_path_buf();
        for (i, part) in parts.iter().enumerate() {
            at.push(part);
            let shown = parts[..=i].join("/");
            let meta = match std::fs::symlink_metadata(&at) {
                Ok(meta) => meta,
                // The rest does not exist yet and will be created as plain directories.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) => return Err(format!("cannot open `{shown}`: {e}")),
            };
            if meta.file_type().is_symlink() {
                match std::fs::canonicalize(&at) {
                    Ok(target) if target.starts_with(self.root.path()) => {}
                    Ok(_) => {
                        return Err(format!(
                            "`{shown}` is a symbolic link to a place outside the repository; \
                             files can only be written inside it"
                        ));
                    }
                    Err(_) => {
                        return Err(format!(
                            "`{shown}` is a symbolic link whose target does not exist"
                        ));
                    }
                }
            }
            let is_last = i + 1 == parts.len();
            let is_dir = at.is_dir();
            if !is_last && !is_dir {
                return Err(format!("`{shown}` is a file, not a directory"));
            }
            if is_last && is_dir {
                return Err(format!("`{rel}` is a directory; name a file"));
            }
        }
        let abs = self.root.path().join(&rel);
        Ok((rel, abs))
    }
}

/// Why `old` was not found, with the nearest thing that was.
fn no_match(rel: &str, text: &str, old: &str) -> String {
    if let Some((start, _)) = quote::find(text, old) {
        let line = text[..start].matches('\n').count() + 1;
        return format!(
            "`old` is not in `{rel}` exactly, but matches at line {line} if whitespace or case \
             is ignored; copy the text exactly as read_file shows it (without the line-number \
             prefix), indentation included"
        );
    }
    let first_line = old.lines().find(|l| !l.trim().is_empty()).unwrap_or(old);
    match quote::closest_line(text, first_line) {
        Some((i, line)) => format!(
            "`old` was not found in `{rel}`; the closest line is {}: `{}`. Read the file \
             again and copy the text exactly",
            i + 1,
            crate::text::clip(line.trim(), 160)
        ),
        None => format!("`old` was not found in `{rel}`; read the file and copy the text exactly"),
    }
}

/// Lines `first..=last` of `text` (plus context), numbered as read_file numbers them.
fn numbered(text: &str, first: usize, last: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let from = first.saturating_sub(EDIT_CONTEXT_LINES).max(1);
    let to = (last + EDIT_CONTEXT_LINES).min(lines.len());
    let width = lines.len().to_string().len().max(4);
    (from..=to)
        .map(|n| format!("{n:>width$} | {}\n", crate::text::clip(lines[n - 1], 300)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worktree() -> (tempfile::TempDir, tempfile::TempDir, Worktree) {
        let src = tempfile::tempdir().unwrap();
        std::fs::create_dir(src.path().join("src")).unwrap();
        std::fs::write(src.path().join("src/a.py"), "x = 1\ny = 2\nx = 1\n").unwrap();
        std::fs::write(src.path().join("README"), "hello\n").unwrap();
        let base = tempfile::tempdir().unwrap();
        let files = vec!["README".to_string(), "src/a.py".to_string()];
        let wt = Worktree::create(&base.path().join("a1"), "a1", src.path(), &files).unwrap();
        (src, base, wt)
    }

    #[test]
    fn edits_show_in_the_diff_and_leave_the_source_alone() {
        let (src, _base, wt) = worktree();
        assert_eq!(wt.snapshot().unwrap().diff, "");
        let out = wt.edit_file("src/a.py", "y = 2", "y = 3").unwrap();
        assert!(out.contains("   2 | y = 3"), "{out}");
        wt.write_file("src/new/b.py", "z = 0\n").unwrap();
        let snap = wt.snapshot().unwrap();
        assert!(snap.diff.contains("-y = 2\n+y = 3"), "{}", snap.diff);
        assert!(snap.diff.contains("+++ b/src/new/b.py"), "{}", snap.diff);
        assert_eq!(
            std::fs::read_to_string(src.path().join("src/a.py")).unwrap(),
            "x = 1\ny = 2\nx = 1\n"
        );
        assert_eq!(wt.generation(), 2);
    }

    #[test]
    fn ambiguous_and_missing_edits_are_explained() {
        let (_src, _base, wt) = worktree();
        let err = wt.edit_file("src/a.py", "x = 1", "x = 5").unwrap_err();
        assert!(
            err.contains("matches 2 times") && err.contains("lines 1, 3"),
            "{err}"
        );
        let err = wt.edit_file("src/a.py", "Y  =  2", "y = 5").unwrap_err();
        assert!(err.contains("matches at line 2 if whitespace"), "{err}");
        let err = wt.edit_file("src/zz.py", "a", "b").unwrap_err();
        assert!(err.contains("use write_file"), "{err}");
        let err = wt.edit_file("src/a.py", "", "b").unwrap_err();
        assert!(err.contains("`old` is empty"), "{err}");
    }

    #[test]
    fn writes_stay_inside_the_worktree() {
        let (_src, _base, wt) = worktree();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), wt.path().join("out")).unwrap();
        for (path, why) in [
            ("../escape.txt", "leaves the repository root"),
            ("/etc/passwd", "absolute path"),
            ("out/x.txt", "symbolic link to a place outside"),
            (".git/config", "version-control data"),
            ("README/x", "is a file, not a directory"),
            ("src", "is a directory"),
        ] {
            let err = wt.write_file(path, "x").unwrap_err();
            assert!(err.contains(why), "{path}: {err}");
        }
        assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none());
    }
}
