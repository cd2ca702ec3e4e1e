//! Patches (`--allow-edit`): the diff of an agent's worktree as verified evidence
//! (`patch:<agent>`), and applying the run's assembled result to the user's repository
//! (`--apply`; see `delivery` for how the result is assembled).
//!
//! A patch citation is pinned when it resolves: the diff at that moment is kept under a
//! reference naming the agent and the worktree's git tree (`patch:a1@3f2a1b9c0d`), which is
//! what the verified point records. Later edits in the worktree do not change it.

use super::worktree::{self, Snapshot};
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The source prefix of patch evidence.
pub(crate) const SOURCE_PREFIX: &str = "patch:";

pub(crate) fn is_patch_source(source: &str) -> bool {
    source.trim_start().starts_with(SOURCE_PREFIX)
}

/// The agent a `patch:` source names: `a1` in `patch:a1` and in the pinned
/// `patch:a1@3f2a1b9c0d`.
pub(crate) fn cited_agent(source: &str) -> &str {
    let named = source.trim();
    let named = named.strip_prefix(SOURCE_PREFIX).unwrap_or(named).trim();
    named.split('@').next().unwrap_or("").trim()
}

/// One pinned patch.
#[derive(Debug)]
pub(crate) struct PatchRecord {
    pub agent: String,
    /// The git tree of the worktree the diff was taken from.
    pub tree: String,
    pub diff: String,
}

/// Every patch that was cited and resolved in this run, by reference.
#[derive(Default)]
pub(crate) struct PatchLog {
    records: Mutex<HashMap<String, Arc<PatchRecord>>>,
}

impl PatchLog {
    /// Pin a worktree snapshot; returns its reference (`patch:a1@3f2a1b9c0d`).
    pub fn keep(&self, agent: &str, snapshot: &Snapshot) -> String {
        let short: String = snapshot.tree.chars().take(10).collect();
        let reference = format!("{SOURCE_PREFIX}{agent}@{short}");
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                reference.clone(),
                Arc::new(PatchRecord {
                    agent: agent.to_string(),
                    tree: snapshot.tree.clone(),
                    diff: snapshot.diff.clone(),
                }),
            );
        reference
    }

    /// The patch a reference (or a resolved-evidence text that starts with one) names.
    pub fn get(&self, reference: &str) -> Option<Arc<PatchRecord>> {
        let key = reference.split_whitespace().next()?;
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }
}

/// Files changed and lines added and removed by a diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DiffStats {
    pub files: usize,
    pub added: usize,
    pub removed: usize,
}

impl fmt::Display for DiffStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let files = if self.files == 1 { "file" } else { "files" };
        write!(
            f,
            "{} {files}, +{} -{}",
            self.files, self.added, self.removed
        )
    }
}

pub fn diff_stats(diff: &str) -> DiffStats {
    let mut stats = DiffStats::default();
    for line in diff.lines() {
        if line.starts_with("diff --git ") {
            stats.files += 1;
        } else if line.starts_with('+') && !line.starts_with("+++ ") {
            stats.added += 1;
        } else if line.starts_with('-') && !line.starts_with("--- ") {
            stats.removed += 1;
        }
    }
    stats
}

/// The first path a diff turns into a symbolic link (git mode 120000), if any.
pub(crate) fn symlink_in(diff: &str) -> Option<String> {
    let mut path = None;
    for line in diff.lines() {
        if let Some(rest) = line.strip_prefix("diff --git a/") {
            path = rest.split(" b/").next().map(str::to_string);
        } else if line == "new file mode 120000" || line == "new mode 120000" {
            return path.or_else(|| Some("a file".to_string()));
        }
    }
    None
}

/// Whether `diff` applies cleanly to the files in `root` (`git apply --check`).
pub(crate) fn check_applies(root: &Path, diff: &str) -> Result<(), String> {
    worktree::git_with_input(root, &["apply", "--check", "-"], Some(diff.as_bytes())).map(|_| ())
}

/// Apply a patch file to the repository at `root` (`--apply`). All or nothing: when any
/// part does not apply, nothing is changed and the error says why. Text before the first
/// diff (the result's summary) is skipped, as `git apply` skips it.
pub fn apply_to(root: &Path, patch_file: &Path) -> Result<DiffStats, String> {
    let diff = std::fs::read_to_string(patch_file)
        .map_err(|e| format!("cannot read {}: {e}", patch_file.display()))?;
    worktree::git_with_input(root, &["apply", "-"], Some(diff.as_bytes())).map_err(|e| {
        format!(
            "the patch does not apply to {} ({e}); nothing was changed, the patch is at {}",
            root.display(),
            patch_file.display()
        )
    })?;
    Ok(diff_stats(&diff))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIFF: &str = "diff --git a/x.py b/x.py\nindex 1..2 100644\n--- a/x.py\n+++ b/x.py\n\
@@ -1 +1,2 @@\n-a = 1\n+a = 2\n+b = 3\n";

    #[test]
    fn stats_count_files_and_lines() {
        let s = diff_stats(DIFF);
        assert_eq!(
            s,
            DiffStats {
                files: 1,
                added: 2,
                removed: 1
            }
        );
        assert_eq!(s.to_string(), "1 file, +2 -1");
    }

    #[test]
    fn apply_works_in_a_subdirectory_of_a_repository_and_is_all_or_nothing() {
        let top = tempfile::tempdir().unwrap();
        worktree::git(top.path(), &["init", "-q"]).unwrap();
        let sub = top.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("x.py"), "a = 1\n").unwrap();
        let patch_file = top.path().join("fix.patch");
        // The result's summary comes first; `git apply` reads past it.
        let summary = "# delm: the assembled result of run r\n#\n# --- a/x.py is quoted\n\n";
        std::fs::write(&patch_file, format!("{summary}{DIFF}")).unwrap();
        check_applies(&sub, DIFF).unwrap();
        assert_eq!(apply_to(&sub, &patch_file).unwrap().files, 1);
        assert_eq!(
            std::fs::read_to_string(sub.join("x.py")).unwrap(),
            "a = 2\nb = 3\n"
        );
        // Applied once, it no longer applies; the error says nothing changed.
        let err = apply_to(&sub, &patch_file).unwrap_err();
        assert!(err.contains("nothing was changed"), "{err}");
        assert!(check_applies(&sub, DIFF).is_err());
    }

    #[test]
    fn symbolic_links_in_a_diff_are_found() {
        assert_eq!(symlink_in(DIFF), None);
        let link = "diff --git a/out b/out\nnew file mode 120000\nindex 0..1\n--- /dev/null\n\
+++ b/out\n@@ -0,0 +1 @@\n+/etc\n";
        assert_eq!(symlink_in(&format!("{DIFF}{link}")).as_deref(), Some("out"));
    }

    #[test]
    fn kept_patches_are_found_by_resolved_text() {
        let log = PatchLog::default();
        let snap = Snapshot {
            tree: "0123456789abcdef".into(),
            diff: DIFF.into(),
        };
        let reference = log.keep("a1", &snap);
        assert_eq!(reference, "patch:a1@0123456789");
        let rec = log.get("patch:a1@0123456789 (1 file, +2 -1)").unwrap();
        assert_eq!(rec.agent, "a1");
        assert!(log.get("patch:a2@0123456789").is_none());
    }
}
