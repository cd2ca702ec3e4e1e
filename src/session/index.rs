//! The index of every run, wherever its session file lives: `--session FILE` runs are
//! recorded here when they start, so `delm sessions` lists them and their run ids work in
//! `replay`, `resume` and `compare` like those in the sessions directory.
//!
//! `<data dir>/runs.jsonl`, one `{"run_id", "path", "ts"}` object per line, appended (each
//! line one `write`, so runs starting at once do not interleave). It is compacted (entries
//! whose files are gone dropped, repeats merged) when it grows past a size.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

const FILE: &str = "runs.jsonl";
/// Compact the index when it grows past this.
const COMPACT_OVER_BYTES: u64 = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub run_id: String,
    pub path: PathBuf,
    /// When the run was recorded (RFC 3339).
    #[serde(default)]
    pub ts: String,
}

/// The index file under the data dir (`$DELM_DATA_DIR` or the platform's).
pub fn default_path() -> Option<PathBuf> {
    super::data_dir().map(|d| d.join(FILE))
}

/// Record that `run_id` writes its session at `path`. Called when a run starts (and on
/// resume: harmless, the latest entry wins). Failing to index is reported, not fatal.
pub fn record(run_id: &str, path: &Path) -> std::io::Result<()> {
    match default_path() {
        Some(index) => record_in(&index, run_id, path),
        None => Ok(()),
    }
}

/// [`record`] into an explicit index file.
pub fn record_in(index: &Path, run_id: &str, path: &Path) -> std::io::Result<()> {
    let path = std::path::absolute(path)?;
    let path = path.canonicalize().unwrap_or(path);
    let entry = Entry {
        run_id: run_id.to_string(),
        path,
        ts: crate::event::now_rfc3339(),
    };
    if let Some(dir) = index.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut line = serde_json::to_vec(&entry)?;
    line.push(b'\n');
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(index)?
        .write_all(&line)?;
    if std::fs::metadata(index).is_ok_and(|m| m.len() > COMPACT_OVER_BYTES) {
        compact(index)?;
    }
    Ok(())
}

/// Every indexed run whose file still exists, one entry per file (the latest record).
pub fn entries(index: &Path) -> Vec<Entry> {
    let Ok(text) = std::fs::read_to_string(index) else {
        return Vec::new();
    };
    let mut by_path: BTreeMap<PathBuf, Entry> = BTreeMap::new();
    for line in text.lines() {
        if let Ok(entry) = serde_json::from_str::<Entry>(line) {
            by_path.insert(entry.path.clone(), entry);
        }
    }
    by_path.into_values().filter(|e| e.path.is_file()).collect()
}

/// The session file of `run_id`, if the index knows exactly one file for it.
pub fn lookup(index: &Path, run_id: &str) -> Option<PathBuf> {
    let found: Vec<PathBuf> = entries(index)
        .into_iter()
        .filter(|e| e.run_id == run_id)
        .map(|e| e.path)
        .collect();
    match found.as_slice() {
        [only] => Some(only.clone()),
        _ => None,
    }
}

fn compact(index: &Path) -> std::io::Result<()> {
    let mut text = String::new();
    for entry in entries(index) {
        text.push_str(&serde_json::to_string(&entry)?);
        text.push('\n');
    }
    let tmp = index.with_extension("jsonl.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_anywhere_are_found_by_id() {
        let dir = tempfile::tempdir().unwrap();
        let index = dir.path().join("data/runs.jsonl");
        let elsewhere = dir.path().join("work/tui.jsonl");
        std::fs::create_dir_all(elsewhere.parent().unwrap()).unwrap();
        std::fs::write(&elsewhere, "{}").unwrap();
        record_in(&index, "20260101-000000-abcd", &elsewhere).unwrap();
        record_in(&index, "20260101-000000-abcd", &elsewhere).unwrap();
        record_in(&index, "gone", &dir.path().join("work/deleted.jsonl")).unwrap();
        let all = entries(&index);
        assert_eq!(all.len(), 1, "one entry per file, missing files left out");
        assert_eq!(
            lookup(&index, "20260101-000000-abcd"),
            Some(elsewhere.canonicalize().unwrap())
        );
        assert_eq!(lookup(&index, "gone"), None);
        compact(&index).unwrap();
        assert_eq!(std::fs::read_to_string(&index).unwrap().lines().count(), 1);
    }
}
