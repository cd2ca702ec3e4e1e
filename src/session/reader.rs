//! Reading a session log back: one [`Envelope`] per line.
//!
//! A crash can leave the last line half written (or, after a power loss, padded with zero
//! bytes). That tail is tolerated silently: the log is still usable for replay and resume.
//! Any other damaged line is reported with its line number and skipped, keeping every good
//! line around it.

use crate::event::{Envelope, Event};
use std::path::{Path, PathBuf};

/// Everything that can go wrong with a session file, worded for the person at the terminal.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(
        "no session file at {}: check the path, or run `delm sessions` to list recorded runs",
        path.display()
    )]
    NotFound { path: PathBuf },

    #[error("{} is not a delm session log: {reason}", path.display())]
    NotASession { path: PathBuf, reason: String },

    #[error(
        "{} already exists and is not empty: choose another --session file, or continue that \
         run with `delm resume {}`",
        path.display(),
        path.display()
    )]
    AlreadyExists { path: PathBuf },

    #[error("could not {action} {}: {source}", path.display())]
    Io {
        /// What delm was doing, as a verb phrase ("read", "create the directory of", ...).
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl SessionError {
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        SessionError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    /// Reading an existing session: a missing file gets the friendlier `NotFound`.
    pub(crate) fn reading(path: &Path, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::NotFound {
            SessionError::NotFound {
                path: path.to_path_buf(),
            }
        } else {
            SessionError::io("read", path, source)
        }
    }
}

/// A line that could not be read as an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based line number in the file.
    pub line: usize,
    pub error: String,
}

/// The readable content of a session file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionLog {
    pub events: Vec<Envelope>,
    /// Damaged lines other than the last one, in file order.
    pub bad_lines: Vec<BadLine>,
    /// The last line was cut short (a crash mid-write) and was left out.
    pub torn_tail: bool,
}

/// Where the trustworthy part of a file ends, for [`super::writer::SessionWriter::append`].
/// A damaged middle line stays inside it (reported, never cut): only what follows the last
/// good event is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CleanPrefix {
    /// Byte length of the content up to and including the last line worth keeping.
    pub len: usize,
    /// That last kept line is complete JSON but lacks its newline.
    pub needs_newline: bool,
}

/// No event is this large (every text an event stores is capped far below it): a longer
/// line is damage, and parsing it would cost memory for nothing.
const MAX_LINE_BYTES: usize = 16 << 20;

/// Read and parse a session file. Fails when the file is missing, unreadable, or holds no
/// delm run (no valid event, or a first event other than `run_started`).
pub fn read_session(path: &Path) -> Result<SessionLog, SessionError> {
    let bytes = std::fs::read(path).map_err(|e| SessionError::reading(path, e))?;
    let (log, _) = scan(&bytes);
    check_is_session(path, &log, bytes.is_empty())?;
    Ok(log)
}

/// Parse session text that is already in memory (no validation of the first event).
pub fn read_session_str(text: &str) -> SessionLog {
    scan(text.as_bytes()).0
}

pub(crate) fn check_is_session(
    path: &Path,
    log: &SessionLog,
    empty_file: bool,
) -> Result<(), SessionError> {
    let reason = match log.events.first() {
        None if empty_file => "the file is empty".to_string(),
        None => "no line in it is a delm event".to_string(),
        Some(first) if !matches!(first.event, Event::RunStarted { .. }) => format!(
            "its first event is `{}`, where a session starts with `run_started`",
            first.event.type_name()
        ),
        Some(_) => return Ok(()),
    };
    Err(SessionError::NotASession {
        path: path.to_path_buf(),
        reason,
    })
}

/// Parse every line, then decide about the last non-blank one: damaged means torn.
pub(crate) fn scan(bytes: &[u8]) -> (SessionLog, CleanPrefix) {
    let mut log = SessionLog {
        // A session line is rarely shorter than ~100 bytes; this avoids most regrowth.
        events: Vec::with_capacity(bytes.len() / 128),
        ..SessionLog::default()
    };
    let mut clean = CleanPrefix {
        len: 0,
        needs_newline: false,
    };
    // Whether the last non-blank line failed to parse (it is the last entry of bad_lines).
    let mut last_was_bad = false;
    // Sequence numbers must rise: a duplicated or reordered line would double-count or
    // rewind the fold, so it is reported and skipped like any other bad line.
    let mut last_seq: Option<u64> = None;
    let mut start = 0;
    let mut line_no = 0;
    while start < bytes.len() {
        line_no += 1;
        let (end, terminated) = match bytes[start..].iter().position(|&b| b == b'\n') {
            Some(i) => (start + i, true),
            None => (bytes.len(), false),
        };
        let line = &bytes[start..end];
        let next = if terminated { end + 1 } else { end };
        if line.len() > MAX_LINE_BYTES {
            log.bad_lines.push(BadLine {
                line: line_no,
                error: format!(
                    "the line is {} bytes, over the {} MB a session line may hold",
                    line.len(),
                    MAX_LINE_BYTES >> 20
                ),
            });
            last_was_bad = false;
        } else if !line.iter().all(u8::is_ascii_whitespace) {
            match serde_json::from_slice::<Envelope>(line) {
                Ok(env) if last_seq.is_some_and(|last| env.seq <= last) => {
                    log.bad_lines.push(BadLine {
                        line: line_no,
                        error: format!(
                            "sequence number {} does not follow {} (a duplicated or reordered \
line)",
                            env.seq,
                            last_seq.unwrap_or_default()
                        ),
                    });
                    last_was_bad = false;
                }
                Ok(env) => {
                    last_seq = Some(env.seq);
                    log.events.push(env);
                    last_was_bad = false;
                    clean = CleanPrefix {
                        len: next,
                        needs_newline: !terminated,
                    };
                }
                Err(e) => {
                    log.bad_lines.push(BadLine {
                        line: line_no,
                        error: describe_json_error(&e),
                    });
                    last_was_bad = true;
                }
            }
        }
        start = next;
    }
    if last_was_bad {
        log.bad_lines.pop();
        log.torn_tail = true;
    }
    (log, clean)
}

/// serde_json positions errors as "at line 1 column N" of the single line we gave it; keep
/// the column (useful) and drop the line (misleading), and cut the long list of expected
/// event types.
fn describe_json_error(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let mut message = match full.rfind(" at line ") {
        Some(i) => full[..i].to_string(),
        None => full,
    };
    if let Some(i) = message.find(", expected one of") {
        message.truncate(i);
    }
    if e.column() > 0 {
        format!("{message} (column {})", e.column())
    } else {
        message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STARTED: &str = r#"{"seq":1,"ts":"2026-01-01T00:00:00Z","type":"run_started","run_id":"r","goal":"g","mode":{"kind":"plain"},"model":"m","agents":1,"verify":"off"}"#;
    const PAUSED: &str = r#"{"seq":2,"ts":"2026-01-01T00:00:01Z","type":"paused"}"#;

    #[test]
    fn clean_file_keeps_everything() {
        let text = format!("{STARTED}\n{PAUSED}\n");
        let (log, clean) = scan(text.as_bytes());
        assert_eq!(log.events.len(), 2);
        assert!(!log.torn_tail);
        assert!(log.bad_lines.is_empty());
        assert_eq!(clean.len, text.len());
        assert!(!clean.needs_newline);
    }

    #[test]
    fn unterminated_complete_line_is_kept_and_needs_a_newline() {
        let text = format!("{STARTED}\n{PAUSED}");
        let (log, clean) = scan(text.as_bytes());
        assert_eq!(log.events.len(), 2);
        assert!(!log.torn_tail);
        assert_eq!(clean.len, text.len());
        assert!(clean.needs_newline);
    }

    #[test]
    fn zero_padding_after_a_power_loss_is_a_torn_tail() {
        let mut bytes = format!("{STARTED}\n").into_bytes();
        let keep = bytes.len();
        bytes.extend_from_slice(&[0u8; 64]);
        let (log, clean) = scan(&bytes);
        assert_eq!(log.events.len(), 1);
        assert!(log.torn_tail);
        assert!(log.bad_lines.is_empty());
        assert_eq!(clean.len, keep);
    }

    #[test]
    fn blank_lines_are_ignored_but_counted() {
        let text = format!("{STARTED}\n\n   \nnot json\n{PAUSED}\n");
        let log = read_session_str(&text);
        assert_eq!(log.events.len(), 2);
        assert_eq!(log.bad_lines.len(), 1);
        assert_eq!(log.bad_lines[0].line, 4);
        assert!(!log.torn_tail);
    }

    #[test]
    fn duplicated_and_reordered_sequence_numbers_are_bad_lines() {
        let third = PAUSED.replace("\"seq\":2", "\"seq\":3");
        let text = format!("{STARTED}\n{PAUSED}\n{PAUSED}\n{STARTED}\n{third}\n");
        let log = read_session_str(&text);
        let seqs: Vec<u64> = log.events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![1, 2, 3]);
        let lines: Vec<usize> = log.bad_lines.iter().map(|b| b.line).collect();
        assert_eq!(lines, vec![3, 4]);
        assert!(
            log.bad_lines[0]
                .error
                .contains("sequence number 2 does not follow 2")
        );
        assert!(!log.torn_tail);
        // A reversed log keeps only its first line.
        let reversed = format!("{PAUSED}\n{STARTED}\n");
        let log = read_session_str(&reversed);
        assert_eq!(log.events.len(), 1);
        assert_eq!(log.bad_lines.len(), 1);
    }

    #[test]
    fn error_messages_name_the_column_not_the_line() {
        let log = read_session_str(&format!("{{\"seq\": }}\n{PAUSED}\n"));
        let error = &log.bad_lines[0].error;
        assert!(!error.contains("line 1"), "{error}");
        assert!(error.contains("column"), "{error}");

        let log = read_session_str(&format!(
            "{{\"seq\":1,\"ts\":\"t\",\"type\":\"nope\"}}\n{PAUSED}\n"
        ));
        let error = &log.bad_lines[0].error;
        assert!(error.starts_with("unknown variant `nope`"), "{error}");
        assert!(!error.contains("expected one of"), "{error}");
    }

    #[test]
    fn missing_and_foreign_files_have_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.jsonl");
        let err = read_session(&missing).unwrap_err().to_string();
        assert!(
            err.contains("nope.jsonl") && err.contains("delm sessions"),
            "{err}"
        );

        let foreign = dir.path().join("paused.jsonl");
        std::fs::write(&foreign, format!("{PAUSED}\n")).unwrap();
        let err = read_session(&foreign).unwrap_err().to_string();
        assert!(
            err.contains("not a delm session") && err.contains("`paused`"),
            "{err}"
        );

        let empty = dir.path().join("empty.jsonl");
        std::fs::write(&empty, "").unwrap();
        let err = read_session(&empty).unwrap_err().to_string();
        assert!(err.contains("empty"), "{err}");
    }
}
