//! Session logs: one JSONL event log per run.

pub mod listing;
pub mod reader;
pub mod writer;

pub use listing::{
    SessionStatus, SessionSummary, default_sessions_dir, format_sessions_listing,
    format_sessions_table, list_sessions, resolve_session_arg,
};
pub use reader::{BadLine, SessionError, SessionLog, read_session, read_session_str};
pub use writer::SessionWriter;
