//! `<session>.board.json`: where a live run's board is served and the token to use. Written
//! (mode 0600, atomically) when serving starts, removed when it stops; a file left behind
//! by a crashed run names a process that is gone, which `delm mcp` reports.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Board files are tiny; anything bigger is not one.
const MAX_FILE_BYTES: u64 = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoardFile {
    /// `http://HOST:PORT/mcp`.
    pub url: String,
    /// The bearer token (`Authorization: Bearer <token>`).
    pub token: String,
    /// The run served there.
    #[serde(default)]
    pub run_id: String,
    /// The process serving it (to tell a live board from a crashed run's leftover).
    #[serde(default)]
    pub pid: u32,
}

/// The board file of a session log: `run.jsonl` → `run.board.json`.
pub fn board_file_for(session: &Path) -> PathBuf {
    session.with_extension("board.json")
}

impl BoardFile {
    /// Write the file readable by its owner only, replacing an old one atomically (a reader
    /// never sees a half-written token, and the token is never in a file others can read).
    pub fn write(&self, path: &Path) -> Result<(), String> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| format!("cannot encode the board file: {e}"))?;
        let tmp = path.with_extension(format!("board.json.{}.tmp", std::process::id()));
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let _ = std::fs::remove_file(&tmp);
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut file = options.open(&tmp)?;
            file.write_all(text.as_bytes())?;
            file.write_all(b"\n")?;
            file.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("cannot write the board file {}: {e}", path.display())
        })
    }

    pub fn read(path: &Path) -> Result<BoardFile, String> {
        let meta = std::fs::metadata(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "{} does not exist: the run is not being served (start it with `--serve`, \
                     or it has ended)",
                    path.display()
                )
            } else {
                format!("cannot read {}: {e}", path.display())
            }
        })?;
        if meta.len() > MAX_FILE_BYTES {
            return Err(format!(
                "{} is too large to be a board file",
                path.display()
            ));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let file: BoardFile = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not a board file: {e}", path.display()))?;
        crate::redact::register(&file.token);
        if file.url.trim().is_empty() || file.token.trim().is_empty() {
            return Err(format!("{} has no url or no token", path.display()));
        }
        Ok(file)
    }

    /// Whether the process that wrote the file still runs (`true` when it cannot be told).
    pub fn writer_alive(&self) -> bool {
        #[cfg(unix)]
        {
            if self.pid == 0 {
                return true;
            }
            let Ok(pid) = libc::pid_t::try_from(self.pid) else {
                return true;
            };
            // Signal 0 checks existence; EPERM means it exists under another user.
            // SAFETY: kill with signal 0 sends nothing; it only reports on the pid.
            let rc = unsafe { libc::kill(pid, 0) };
            rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
        }
        #[cfg(not(unix))]
        {
            true
        }
    }
}

/// Remove the board file if it is still the one this process wrote (a newer run of the same
/// session may have replaced it).
pub fn remove_if_ours(path: &Path, token: &str) {
    if let Ok(file) = BoardFile::read(path)
        && file.token == token
    {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_for_the_owner_only_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let session = dir.path().join("run-1.jsonl");
        let path = board_file_for(&session);
        assert_eq!(path, dir.path().join("run-1.board.json"));
        let file = BoardFile {
            url: "http://127.0.0.1:9/mcp".into(),
            token: "delm_board-file-test-token".into(),
            run_id: "run-1".into(),
            pid: std::process::id(),
        };
        file.write(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(BoardFile::read(&path).unwrap(), file);
        assert!(file.writer_alive());
        remove_if_ours(&path, "delm_some-other-token-0");
        assert!(path.exists(), "another run's file stays");
        remove_if_ours(&path, &file.token);
        assert!(!path.exists());
        let err = BoardFile::read(&path).unwrap_err();
        assert!(err.contains("not being served"), "{err}");
        std::fs::write(&path, "{}").unwrap();
        assert!(
            BoardFile::read(&path)
                .unwrap_err()
                .contains("not a board file")
        );
    }
}
