//! Writing the session log as the run goes.
//!
//! Durability policy: every event is written to the kernel at once (no userspace buffer, so
//! a crash of delm loses nothing that was written); the data reaches the disk with
//! `fdatasync` at most a second later, and always with `fsync` on `run_finished`.
//!
//! The writer accepts [`Envelope`]s only, never raw text: whatever is secret (API keys,
//! `Authorization` headers) lives in the provider and has no event to travel in.

use super::reader::{SessionError, check_is_session, scan};
use crate::engine::EventSink;
use crate::event::{Envelope, Event};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The longest time written events may wait for `fdatasync` while the run goes on.
const SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// A JSONL session log open for appending. Implements [`EventSink`] for the engine.
#[derive(Debug)]
pub struct SessionWriter {
    file: File,
    path: PathBuf,
    /// Bytes in the file after the last complete line (to undo a partial write).
    len: u64,
    /// Written since the last sync.
    dirty: bool,
    last_sync: Instant,
    /// Reused serialisation buffer: one allocation for the whole run.
    line: Vec<u8>,
}

impl SessionWriter {
    /// Start a new session file, creating its directory. An existing empty file is reused;
    /// an existing non-empty one is refused, so a recorded run is never overwritten.
    pub fn create(path: &Path) -> Result<Self, SessionError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| SessionError::io("create the directory of", path, e))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| SessionError::io("create", path, e))?;
        let len = file
            .metadata()
            .map_err(|e| SessionError::io("inspect", path, e))?
            .len();
        if len > 0 {
            return Err(SessionError::AlreadyExists {
                path: path.to_path_buf(),
            });
        }
        sync_parent_dir(path);
        Ok(Self::from_file(file, path, 0))
    }

    /// Reopen a recorded session to continue it (resume). A torn last line left by a crash
    /// is cut off first, and a complete last line missing its newline gets one, so the
    /// file stays valid JSONL with the new events after the old ones.
    pub fn append(path: &Path) -> Result<Self, SessionError> {
        let bytes = std::fs::read(path).map_err(|e| SessionError::reading(path, e))?;
        let (log, clean) = scan(&bytes);
        check_is_session(path, &log, bytes.is_empty())?;
        let mut file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| SessionError::io("open for appending", path, e))?;
        let mut len = clean.len as u64;
        if len < bytes.len() as u64 {
            file.set_len(len)
                .map_err(|e| SessionError::io("cut the torn last line of", path, e))?;
        }
        if clean.needs_newline {
            file.write_all(b"\n")
                .map_err(|e| SessionError::io("write to", path, e))?;
            len += 1;
        }
        // The repair must be durable before new events depend on it.
        file.sync_all()
            .map_err(|e| SessionError::io("sync", path, e))?;
        Ok(Self::from_file(file, path, len))
    }

    fn from_file(file: File, path: &Path, len: u64) -> Self {
        SessionWriter {
            file,
            path: path.to_path_buf(),
            len,
            dirty: false,
            last_sync: Instant::now(),
            line: Vec::with_capacity(1024),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Events were written since the last sync: the engine calls [`EventSink::sync`] on a
    /// one-second tick while this is true, so a quiet run still reaches the disk.
    pub fn needs_sync(&self) -> bool {
        self.dirty
    }

    fn write_line(&mut self) -> std::io::Result<()> {
        if let Err(e) = self.file.write_all(&self.line) {
            // A short write (disk full) would leave half a line that the next event turns
            // into a damaged middle line; cut it so the file keeps only whole events.
            let _ = self.file.set_len(self.len);
            return Err(e);
        }
        self.len += self.line.len() as u64;
        Ok(())
    }

    fn sync_data(&mut self) -> std::io::Result<()> {
        self.file.sync_data()?;
        self.mark_synced();
        Ok(())
    }

    fn mark_synced(&mut self) {
        self.dirty = false;
        self.last_sync = Instant::now();
    }
}

impl EventSink for SessionWriter {
    fn write(&mut self, env: &Envelope) -> std::io::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, env).map_err(std::io::Error::other)?;
        self.line.push(b'\n');
        self.write_line()?;
        self.dirty = true;
        if matches!(env.event, Event::RunFinished { .. }) {
            self.sync()
        } else if self.last_sync.elapsed() >= SYNC_INTERVAL {
            self.sync_data()
        } else {
            Ok(())
        }
    }

    fn sync(&mut self) -> std::io::Result<()> {
        self.file.sync_all()?;
        self.mark_synced();
        Ok(())
    }
}

/// Make the new directory entry itself durable, so a crash soon after the start does not
/// lose the whole file. Best effort: some platforms and file systems cannot open or sync a
/// directory, and the run is fine without it.
fn sync_parent_dir(path: &Path) {
    #[cfg(unix)]
    if let Some(parent) = path.parent() {
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        if let Ok(dir) = File::open(parent) {
            let _ = dir.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paused(seq: u64) -> Envelope {
        Envelope {
            seq,
            ts: "2026-01-01T00:00:00Z".into(),
            event: Event::Paused {},
        }
    }

    #[test]
    fn create_refuses_a_non_empty_file_and_reuses_an_empty_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/deeper/run.jsonl");
        let mut w = SessionWriter::create(&path).unwrap();
        w.write(&paused(1)).unwrap();
        assert!(w.needs_sync());
        w.sync().unwrap();
        assert!(!w.needs_sync());
        drop(w);
        let err = SessionWriter::create(&path).unwrap_err().to_string();
        assert!(
            err.contains("already exists") && err.contains("delm resume"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);

        let empty = dir.path().join("empty.jsonl");
        std::fs::write(&empty, "").unwrap();
        assert!(SessionWriter::create(&empty).is_ok());
    }

    #[test]
    fn append_to_a_missing_file_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let err = SessionWriter::append(&dir.path().join("gone.jsonl")).unwrap_err();
        assert!(matches!(err, SessionError::NotFound { .. }), "{err}");
    }
}
