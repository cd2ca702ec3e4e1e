//! Merging the candidates into one fresh copy of the repository, as git merges: each patch
//! goes in with `git apply --3way`, which applies it directly when its context still
//! matches and otherwise merges each file three ways (the repository's version as the
//! base, the result so far as ours, the patch's version as theirs) with git's own merge
//! machinery, the one behind `git merge-file`. A patch goes in whole or not at all: one that
//! leaves a conflicting file is rolled back (it was verified as a whole, never in part) and
//! reported with the conflicting regions, as git marks them, naming both sides.
//!
//! Blocking: it copies files and runs git.

use super::plan::{Span, changed_spans, overlap, patch_ref};
use crate::engine::tools::commands::RESULT_COPY;
use crate::engine::tools::worktree::{self, Snapshot, Worktree};
use crate::event::{ConflictFile, PatchLeftOut, PinnedPatch};
use std::path::Path;
use std::sync::Arc;

/// Lines shown around each conflicting region.
const CONFLICT_CONTEXT: usize = 3;
/// A conflicting file's report is cut at this many bytes.
const MAX_CONFLICT_BYTES: usize = 16 * 1024;
/// At most this many conflicting files are reported per patch.
const MAX_CONFLICT_FILES: usize = 8;
/// The conflicting regions of one result, in all, are cut at this many bytes (they are
/// kept in one event of the log).
const MAX_CONFLICTS_BYTES: usize = 1024 * 1024;

/// The candidates merged into a copy.
pub(super) struct Assembly {
    pub copy: Arc<Worktree>,
    pub merged: Vec<Arc<PinnedPatch>>,
    pub conflicts: Vec<PatchLeftOut>,
    /// The assembled files' tree and their diff against the repository.
    pub snapshot: Snapshot,
}

/// Copy the repository's visible `files` from `repo` into `dir` and merge `candidates` into
/// it in order.
pub(super) fn assemble(
    dir: &Path,
    repo: &Path,
    files: &[String],
    candidates: &[Arc<PinnedPatch>],
) -> Result<Assembly, String> {
    let copy = Arc::new(Worktree::create(dir, RESULT_COPY, repo, files)?);
    let mut merged: Vec<Arc<PinnedPatch>> = Vec::new();
    let mut conflicts = Vec::new();
    let mut shown = 0usize;
    for patch in candidates {
        match merge_one(copy.path(), patch, &merged) {
            Ok(()) => merged.push(Arc::clone(patch)),
            Err(mut conflict) => {
                // Back to the result so far: the patch goes in whole or not at all.
                worktree::git(copy.path(), &["reset", "-q", "--hard", "HEAD"])?;
                worktree::git(copy.path(), &["clean", "-fdq"])?;
                for file in &mut conflict.files {
                    shown += file.text.len();
                    if shown > MAX_CONFLICTS_BYTES {
                        file.text = "(not shown: the conflicts of this result are over 1 MB; \
                                     its whole diff is in the conflicts report)"
                            .to_string();
                    }
                }
                conflicts.push(conflict);
            }
        }
    }
    let snapshot = copy.snapshot()?;
    Ok(Assembly {
        copy,
        merged,
        conflicts,
        snapshot,
    })
}

/// Merge one patch into the copy at `dir` and commit it; the conflict if it does not go in.
fn merge_one(
    dir: &Path,
    patch: &PinnedPatch,
    merged: &[Arc<PinnedPatch>],
) -> Result<(), PatchLeftOut> {
    let applied = worktree::git_with_input(
        dir,
        &[
            "-c",
            "merge.conflictStyle=diff3",
            "apply",
            "--3way",
            "--whitespace=nowarn",
            "-",
        ],
        Some(patch.diff.as_bytes()),
    );
    let left_out = |reason: String, files: Vec<ConflictFile>| PatchLeftOut {
        patch: patch_ref(patch),
        reason,
        files,
    };
    if let Err(error) = applied {
        let unmerged = worktree::git(dir, &["diff", "--name-only", "-z", "--diff-filter=U"])
            .unwrap_or_default();
        let paths: Vec<&str> = unmerged.split('\0').filter(|p| !p.is_empty()).collect();
        let why = error
            .split_once(" failed: ")
            .map_or(error.as_str(), |(_, e)| e);
        if paths.is_empty() {
            let onto = if merged.is_empty() {
                "the repository as it is now"
            } else {
                "the repository with the patches merged before it"
            };
            return Err(left_out(
                format!("it does not apply to {onto}: {why}"),
                Vec::new(),
            ));
        }
        let ours = owners(merged, patch, &paths);
        let theirs = format!("{} by {}", patch.point, patch.agent);
        let files = paths
            .iter()
            .take(MAX_CONFLICT_FILES)
            .map(|path| ConflictFile {
                path: path.to_string(),
                text: match std::fs::read(dir.join(path)) {
                    Ok(bytes) => regions(&String::from_utf8_lossy(&bytes), &ours, &theirs),
                    Err(e) => format!("(cannot read the merged file: {e})"),
                },
            })
            .collect();
        let shown: Vec<String> = paths.iter().map(|p| format!("`{p}`")).collect();
        return Err(left_out(
            format!(
                "it changes the same lines as {ours} in {}",
                crate::text::clip(&shown.join(", "), 300)
            ),
            files,
        ));
    }
    worktree::git(
        dir,
        &[
            "commit",
            "-q",
            "--no-verify",
            "--allow-empty",
            "-m",
            &patch.reference,
        ],
    )
    .map_err(|e| {
        left_out(
            format!("it could not be recorded in the copy: {e}"),
            Vec::new(),
        )
    })?;
    Ok(())
}

/// The merged patches `patch` conflicts with in `paths`, named for a conflict marker:
/// those that change the same lines, else those that change those files.
fn owners(merged: &[Arc<PinnedPatch>], patch: &PinnedPatch, paths: &[&str]) -> String {
    let in_paths = |diff: &str| -> Vec<Span> {
        changed_spans(diff)
            .into_iter()
            .filter(|s| paths.contains(&s.0.as_str()))
            .collect()
    };
    let mine = in_paths(&patch.diff);
    let touching: Vec<(&Arc<PinnedPatch>, bool)> = merged
        .iter()
        .filter_map(|m| {
            let spans = in_paths(&m.diff);
            let same_lines = spans.iter().any(|a| mine.iter().any(|b| overlap(a, b)));
            (!spans.is_empty()).then_some((m, same_lines))
        })
        .collect();
    let same_lines = touching.iter().any(|(_, same)| *same);
    let named: Vec<String> = touching
        .iter()
        .filter(|(_, same)| *same || !same_lines)
        .map(|(m, _)| name(m))
        .collect();
    if named.is_empty() {
        "the result".to_string()
    } else {
        named.join(", ")
    }
}

fn name(p: &Arc<PinnedPatch>) -> String {
    format!("{} by {}", p.point, p.agent)
}

/// The conflicting regions of a merged file, each with a few lines around it and its line
/// numbers, the markers naming both sides.
pub(super) fn regions(text: &str, ours: &str, theirs: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut blocks: Vec<(usize, usize)> = Vec::new();
    let mut start = None;
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("<<<<<<< ") && start.is_none() {
            start = Some(i);
        } else if line.starts_with(">>>>>>> ")
            && let Some(s) = start.take()
        {
            let from = s.saturating_sub(CONFLICT_CONTEXT);
            let to = (i + CONFLICT_CONTEXT).min(lines.len() - 1);
            match blocks.last_mut() {
                Some(last) if from <= last.1 + 1 => last.1 = to,
                _ => blocks.push((from, to)),
            }
        }
    }
    if blocks.is_empty() {
        return "(no conflict markers: a binary file, or one side deletes or renames it)"
            .to_string();
    }
    let mut out = String::new();
    for (from, to) in blocks {
        out.push_str(&format!("@@ lines {}-{} @@\n", from + 1, to + 1));
        for line in &lines[from..=to] {
            let marked = match line.trim_end_matches('\r') {
                "<<<<<<< ours" => format!("<<<<<<< {ours} (delivered)"),
                "||||||| base" => "||||||| the repository".to_string(),
                ">>>>>>> theirs" => format!(">>>>>>> {theirs} (kept out)"),
                other => other.to_string(),
            };
            out.push_str(&marked);
            out.push('\n');
        }
        if out.len() > MAX_CONFLICT_BYTES {
            let mut cut = MAX_CONFLICT_BYTES;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push_str("\n[... cut ...]\n");
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n";

    /// A repository with `x.txt`, and the diff of `edit` applied to it in another copy.
    fn repo_and_patch(edits: &[(&str, &str)]) -> (tempfile::TempDir, Vec<String>) {
        let repo = tempfile::tempdir().unwrap();
        std::fs::write(repo.path().join("x.txt"), BASE).unwrap();
        let files = vec!["x.txt".to_string()];
        let diffs = edits
            .iter()
            .enumerate()
            .map(|(i, (path, content))| {
                let dir = tempfile::tempdir().unwrap();
                let wt =
                    Worktree::create(&dir.path().join(format!("w{i}")), "a1", repo.path(), &files)
                        .unwrap();
                std::fs::write(wt.path().join(path), content).unwrap();
                wt.snapshot().unwrap().diff
            })
            .collect();
        (repo, diffs)
    }

    fn pinned(n: usize, diff: &str) -> Arc<PinnedPatch> {
        Arc::new(PinnedPatch {
            point: format!("P{n}"),
            agent: format!("a{n}"),
            reference: format!("patch:a{n}@{n}"),
            tree: String::new(),
            diff: diff.to_string(),
            checks: Vec::new(),
        })
    }

    #[test]
    fn nearby_edits_merge_and_the_same_line_conflicts() {
        let (repo, diffs) = repo_and_patch(&[
            ("x.txt", "a\nb\nC1\nd\ne\nf\ng\nh\ni\nj\n"),
            // Two lines below the first edit: its context overlaps, its change does not.
            ("x.txt", "a\nb\nc\nd\nE\nf\ng\nh\ni\nj\n"),
            ("x.txt", "a\nb\nC3\nd\ne\nf\ng\nh\ni\nj\n"),
            ("new.txt", "fresh\n"),
        ]);
        let candidates: Vec<_> = diffs
            .iter()
            .enumerate()
            .map(|(i, d)| pinned(i + 1, d))
            .collect();
        let out = tempfile::tempdir().unwrap();
        let files = vec!["x.txt".to_string()];
        let a = assemble(&out.path().join("r"), repo.path(), &files, &candidates).unwrap();
        let merged: Vec<&str> = a.merged.iter().map(|p| p.point.as_str()).collect();
        assert_eq!(merged, vec!["P1", "P2", "P4"]);
        assert_eq!(
            std::fs::read_to_string(a.copy.path().join("x.txt")).unwrap(),
            "a\nb\nC1\nd\nE\nf\ng\nh\ni\nj\n"
        );
        assert!(a.snapshot.diff.contains("+fresh"), "{}", a.snapshot.diff);
        assert_eq!(a.conflicts.len(), 1);
        let c = &a.conflicts[0];
        assert_eq!(c.patch.point, "P3");
        assert!(
            c.reason.contains("same lines as P1 by a1 in `x.txt`"),
            "{}",
            c.reason
        );
        let text = &c.files[0].text;
        assert!(text.contains("<<<<<<< P1 by a1 (delivered)\nC1\n||||||| the repository\nc\n=======\nC3\n>>>>>>> P3 by a3 (kept out)"), "{text}");
        assert!(text.starts_with("@@ lines "), "{text}");
        // Nothing of the conflicting patch is left in the copy.
        let status = worktree::git(a.copy.path(), &["status", "--porcelain"]).unwrap();
        assert_eq!(status, "");
    }

    #[test]
    fn a_patch_for_files_that_changed_since_is_reported() {
        let (repo, diffs) = repo_and_patch(&[("x.txt", "A\nb\nc\nd\ne\nf\ng\nh\ni\nj\n")]);
        // The user rewrote the file in the meantime: the patch's base is gone.
        std::fs::write(repo.path().join("x.txt"), "something else entirely\n").unwrap();
        let out = tempfile::tempdir().unwrap();
        let a = assemble(
            &out.path().join("r"),
            repo.path(),
            &["x.txt".to_string()],
            &[pinned(1, &diffs[0])],
        )
        .unwrap();
        assert!(a.merged.is_empty());
        let reason = &a.conflicts[0].reason;
        assert!(
            reason.contains("does not apply to the repository as it is now")
                && reason.contains("x.txt: patch does not apply"),
            "{reason}"
        );
        assert!(a.conflicts[0].files.is_empty());
        assert_eq!(a.snapshot.diff, "");
    }
}
