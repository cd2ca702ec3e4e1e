//! A private copy of a case's repository for each run that may edit it (a `check` case):
//! the run applies its verified result there and the check runs there, so the user's files
//! and the other runs' copies are never touched. Only the visible files are copied (the
//! files the reading tools show, `.gitignore` applied), within bounds.

use crate::engine::tools::repo::RepoWorkspace;
use std::path::{Path, PathBuf};

/// The most files, and bytes, a repository copy may take.
pub const MAX_COPY_FILES: usize = 50_000;
pub const MAX_COPY_BYTES: u64 = 1024 * 1024 * 1024;

/// Copy the visible files of `repo` to `to/<repo's name>` and return that directory.
pub fn copy_repo(repo: &Path, to: &Path) -> Result<PathBuf, String> {
    let ws = RepoWorkspace::open(&repo.to_string_lossy())?;
    let name = ws
        .root()
        .file_name()
        .map_or_else(|| "repo".into(), |n| n.to_os_string());
    let dest = to.join(name);
    let files: Vec<&str> = ws.files().collect();
    if files.len() > MAX_COPY_FILES {
        return Err(format!(
            "{} has {} visible files; an eval copies at most {MAX_COPY_FILES} per run",
            repo.display(),
            files.len()
        ));
    }
    let mut bytes = 0u64;
    for rel in files {
        let from = ws.root().join(rel);
        if !from.is_file() {
            continue;
        }
        bytes += std::fs::metadata(&from).map_or(0, |m| m.len());
        if bytes > MAX_COPY_BYTES {
            return Err(format!(
                "{} holds more than {} MiB of visible files; an eval copies at most that per run",
                repo.display(),
                MAX_COPY_BYTES >> 20
            ));
        }
        let target = dest.join(rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::copy(&from, &target).map_err(|e| {
            format!(
                "cannot copy {} to {}: {e}",
                from.display(),
                target.display()
            )
        })?;
    }
    Ok(dest)
}
