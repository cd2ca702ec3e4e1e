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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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
    let mut scanner = LineScanner::default();
    // A session line is rarely shorter than ~100 bytes; this avoids most regrowth.
    let mut events = Vec::with_capacity(bytes.len() / 128);
    let mut start = 0;
    while start < bytes.len() {
        let (end, terminated) = match bytes[start..].iter().position(|&b| b == b'\n') {
            Some(i) => (start + i, true),
            None => (bytes.len(), false),
        };
        let next = if terminated { end + 1 } else { end };
        let line = &bytes[start..end];
        let line = if line.len() > MAX_LINE_BYTES {
            Line::TooLong(line.len())
        } else {
            Line::Text(line)
        };
        if let Some(env) = scanner.feed(line, terminated, next) {
            events.push(env);
        }
        start = next;
    }
    let (bad_lines, torn_tail, clean) = scanner.finish();
    (
        SessionLog {
            events,
            bad_lines,
            torn_tail,
        },
        clean,
    )
}

/// What a session file held, read as a stream: its events went to the caller one by one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamedSession {
    pub events: usize,
    /// Damaged lines other than the last one, in file order.
    pub bad_lines: Vec<BadLine>,
    /// The last line was cut short (a crash mid-write) and was left out.
    pub torn_tail: bool,
}

/// [`read_session`] without holding the file or its events: each event goes to `on_event`
/// as it is read, so memory stays flat whatever the file's size (`replay --headless` of a
/// gigabyte log). The same rules: damaged lines reported, a torn tail tolerated, the first
/// event must be `run_started`.
pub fn stream_session(
    path: &Path,
    mut on_event: impl FnMut(Envelope),
) -> Result<StreamedSession, SessionError> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).map_err(|e| SessionError::reading(path, e))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
    let mut scanner = LineScanner::default();
    let mut line: Vec<u8> = Vec::new();
    let mut offset = 0usize;
    let mut events = 0usize;
    let mut any_byte = false;
    loop {
        // One line, never holding more than MAX_LINE_BYTES of it.
        line.clear();
        let mut length = 0usize;
        let mut terminated = false;
        loop {
            let buf = reader
                .fill_buf()
                .map_err(|e| SessionError::io("read", path, e))?;
            if buf.is_empty() {
                break;
            }
            any_byte = true;
            let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (&buf[..i], true),
                None => (buf, false),
            };
            length += chunk.len();
            if length <= MAX_LINE_BYTES {
                line.extend_from_slice(chunk);
            } else {
                line.clear();
            }
            let used = chunk.len() + usize::from(done);
            reader.consume(used);
            if done {
                terminated = true;
                break;
            }
        }
        if length == 0 && !terminated {
            break;
        }
        offset += length + usize::from(terminated);
        let text = if length > MAX_LINE_BYTES {
            Line::TooLong(length)
        } else {
            Line::Text(&line)
        };
        if let Some(env) = scanner.feed(text, terminated, offset) {
            if events == 0 && !matches!(env.event, Event::RunStarted { .. }) {
                return Err(SessionError::NotASession {
                    path: path.to_path_buf(),
                    reason: format!(
                        "its first event is `{}`, where a session starts with `run_started`",
                        env.event.type_name()
                    ),
                });
            }
            events += 1;
            on_event(env);
        }
    }
    let (bad_lines, torn_tail, _) = scanner.finish();
    if events == 0 {
        return Err(SessionError::NotASession {
            path: path.to_path_buf(),
            reason: if any_byte {
                "no line in it is a delm event".to_string()
            } else {
                "the file is empty".to_string()
            },
        });
    }
    Ok(StreamedSession {
        events,
        bad_lines,
        torn_tail,
    })
}

/// One line of a session file as the scanner sees it.
enum Line<'a> {
    Text(&'a [u8]),
    /// Over [`MAX_LINE_BYTES`]: its length only (its bytes were not kept).
    TooLong(usize),
}

/// The rules of reading a session line by line, shared by [`scan`] (a file in memory) and
/// [`stream_session`] (a file read as it goes).
#[derive(Default)]
struct LineScanner {
    line_no: usize,
    bad_lines: Vec<BadLine>,
    /// Whether the last non-blank line failed to parse (it is the last entry of bad_lines).
    last_was_bad: bool,
    /// Sequence numbers must rise: a duplicated or reordered line would double-count or
    /// rewind the fold, so it is reported and skipped like any other bad line.
    last_seq: Option<u64>,
    clean: CleanPrefix,
}

impl LineScanner {
    /// Take the next line (`next`: the byte offset just past it); its event if it is one.
    fn feed(&mut self, line: Line<'_>, terminated: bool, next: usize) -> Option<Envelope> {
        self.line_no += 1;
        let line = match line {
            Line::TooLong(length) => {
                self.bad_lines.push(BadLine {
                    line: self.line_no,
                    error: format!(
                        "the line is {length} bytes, over the {} MB a session line may hold",
                        MAX_LINE_BYTES >> 20
                    ),
                });
                self.last_was_bad = false;
                return None;
            }
            Line::Text(line) => line,
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        match serde_json::from_slice::<Envelope>(line) {
            Ok(env) if self.last_seq.is_some_and(|last| env.seq <= last) => {
                self.bad_lines.push(BadLine {
                    line: self.line_no,
                    error: format!(
                        "sequence number {} does not follow {} (a duplicated or reordered \
line)",
                        env.seq,
                        self.last_seq.unwrap_or_default()
                    ),
                });
                self.last_was_bad = false;
                None
            }
            Ok(env) => {
                self.last_seq = Some(env.seq);
                self.last_was_bad = false;
                self.clean = CleanPrefix {
                    len: next,
                    needs_newline: !terminated,
                };
                Some(env)
            }
            Err(e) => {
                self.bad_lines.push(BadLine {
                    line: self.line_no,
                    error: describe_json_error(&e),
                });
                self.last_was_bad = true;
                None
            }
        }
    }

    /// The damaged lines, whether the tail was torn (a damaged last line), and the clean
    /// prefix.
    fn finish(mut self) -> (Vec<BadLine>, bool, CleanPrefix) {
        let torn = self.last_was_bad;
        if torn {
            self.bad_lines.pop();
        }
        (self.bad_lines, torn, self.clean)
    }
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

    #[test]
    fn streaming_reads_what_scanning_reads() {
        let reordered = PAUSED.replace("\"seq\":2", "\"seq\":1");
        let texts = [
            format!("{STARTED}\n{PAUSED}\n"),
            format!("{STARTED}\n{PAUSED}"),
            format!("{STARTED}\nnot json\n{PAUSED}\n"),
            format!("{STARTED}\n{PAUSED}\n{{\"seq\":3,\"ts"),
            format!("{STARTED}\n{reordered}\n\n  \n{PAUSED}\n"),
            format!("{STARTED}\n{}\n{PAUSED}\n", "x".repeat(MAX_LINE_BYTES + 10)),
        ];
        let dir = tempfile::tempdir().unwrap();
        for (n, text) in texts.iter().enumerate() {
            let path = dir.path().join(format!("{n}.jsonl"));
            std::fs::write(&path, text).unwrap();
            let (scanned, _) = scan(text.as_bytes());
            let mut events = Vec::new();
            let streamed = stream_session(&path, |env| events.push(env)).unwrap();
            assert_eq!(events, scanned.events, "case {n}");
            assert_eq!(streamed.events, scanned.events.len(), "case {n}");
            assert_eq!(streamed.bad_lines, scanned.bad_lines, "case {n}");
            assert_eq!(streamed.torn_tail, scanned.torn_tail, "case {n}");
        }
        let empty = dir.path().join("empty.jsonl");
        std::fs::write(&empty, "").unwrap();
        assert!(matches!(
            stream_session(&empty, |_| {}),
            Err(SessionError::NotASession { .. })
        ));
        let headless = dir.path().join("headless.jsonl");
        std::fs::write(&headless, format!("{PAUSED}\n")).unwrap();
        let err = stream_session(&headless, |_| {}).unwrap_err().to_string();
        assert!(err.contains("run_started"), "{err}");
    }
}
