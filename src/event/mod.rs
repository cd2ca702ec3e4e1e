//! The event log is the single source of truth.
//!
//! Every change in a run is an [`Event`], wrapped in an [`Envelope`] with a sequence number
//! and a timestamp, appended to the session log and broadcast to subscribers. The state of a
//! run is `fold(events)` through [`RunState::apply`]; the engine, the TUI, replay and resume
//! all use this one reducer, so a replayed run looks exactly as it looked live.
//!
//! `schema` is the log's types, `state` the reducer, `time` the timestamp format.

mod schema;
mod state;
mod time;

pub use schema::*;
pub use state::*;
pub use time::*;

/// Test fixtures: `events` as a log, numbered from 1 at a fixed time.
#[cfg(test)]
pub(crate) fn numbered(events: impl IntoIterator<Item = Event>) -> Vec<Envelope> {
    events
        .into_iter()
        .enumerate()
        .map(|(i, event)| Envelope {
            seq: i as u64 + 1,
            ts: "2026-01-01T00:00:00Z".into(),
            event,
        })
        .collect()
}
