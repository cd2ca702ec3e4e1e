//! Where the user last was in each replayed run, so `delm replay` reopens there (and at the
//! start the first time). Kept in `<data dir>/replay-positions.json`, bounded to the most
//! recent runs; a missing or damaged file just means "start at the beginning".

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const FILE: &str = "replay-positions.json";
/// Runs remembered; the least recently replayed are forgotten first.
const MAX_RUNS: usize = 500;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    position: usize,
    /// Unix seconds of the last save (for forgetting the oldest).
    at: i64,
}

fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE)
}

fn read(data_dir: &Path) -> BTreeMap<String, Entry> {
    std::fs::read_to_string(path(data_dir))
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

/// The position (events applied) the user left `run_id` at, if remembered.
pub fn load(data_dir: &Path, run_id: &str) -> Option<usize> {
    read(data_dir).get(run_id).map(|e| e.position)
}

/// Remember `position` for `run_id`. Failing to write is not worth interrupting anyone for.
pub fn save(data_dir: &Path, run_id: &str, position: usize) {
    if run_id.is_empty() {
        return;
    }
    let mut all = read(data_dir);
    all.insert(
        run_id.to_string(),
        Entry {
            position,
            at: time::OffsetDateTime::now_utc().unix_timestamp(),
        },
    );
    while all.len() > MAX_RUNS {
        let Some(oldest) = all.iter().min_by_key(|(_, e)| e.at).map(|(k, _)| k.clone()) else {
            break;
        };
        all.remove(&oldest);
    }
    let Ok(text) = serde_json::to_string(&all) else {
        return;
    };
    if std::fs::create_dir_all(data_dir).is_err() {
        return;
    }
    // Write then rename, so a crash never leaves half a file.
    let tmp = data_dir.join(format!("{FILE}.tmp"));
    if std::fs::write(&tmp, text).is_ok() && std::fs::rename(&tmp, path(data_dir)).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_per_run() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path(), "r1"), None);
        save(dir.path(), "r1", 42);
        save(dir.path(), "r2", 7);
        assert_eq!(load(dir.path(), "r1"), Some(42));
        assert_eq!(load(dir.path(), "r2"), Some(7));
        std::fs::write(path(dir.path()), "not json").unwrap();
        assert_eq!(
            load(dir.path(), "r1"),
            None,
            "a damaged file is a fresh start"
        );
    }
}
