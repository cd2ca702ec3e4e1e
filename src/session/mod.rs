//! Session logs: one JSONL event log per run, and the index of every run wherever its log
//! lives.

pub mod index;
pub mod listing;
pub mod reader;
pub mod writer;

pub use listing::{
    SessionStatus, SessionSummary, clip_middle, data_dir, default_sessions_dir,
    format_sessions_listing, format_sessions_table, list_all_runs, list_runs, list_sessions,
    resolve_session_arg, resolve_session_arg_in, summarize,
};
pub use reader::{
    BadLine, SessionError, SessionLog, StreamedSession, read_session, read_session_str,
    stream_session,
};
pub use writer::SessionWriter;
