//! The event store: the board's single writer of the log. It numbers and timestamps each
//! event, redacts known secrets from it, folds it into the shared view, writes it to the
//! session sink, keeps it for late subscribers and broadcasts it.

use super::EventSink;
use super::context::{BoardView, Projection};
use crate::event::{Envelope, Event, EventClock};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::broadcast;

/// The fold every in-process participant reads: one for the whole process (256 agents
/// folding every event each would cost far more than the engine's budget per task).
pub type SharedView = Arc<RwLock<BoardView>>;

/// Read the shared view, whatever a panicking writer left behind (a poisoned lock still
/// holds a consistent fold: events are applied whole).
pub fn read(view: &SharedView) -> std::sync::RwLockReadGuard<'_, BoardView> {
    view.read().unwrap_or_else(|e| e.into_inner())
}

/// Every event of `log` with `seq > after`, in order (start-up and resynchronisation).
pub fn events_since(log: &Mutex<Vec<Envelope>>, after: u64) -> Vec<Envelope> {
    let log = log.lock().unwrap_or_else(|e| e.into_inner());
    let start = log.partition_point(|e| e.seq <= after);
    log[start..].to_vec()
}

pub struct EventStore {
    seq: u64,
    clock: EventClock,
    sink: Box<dyn EventSink>,
    sink_failed: bool,
    broadcast: broadcast::Sender<Envelope>,
    /// Every event of the run so far, for subscribers that join late or lag.
    log: Arc<Mutex<Vec<Envelope>>>,
    view: SharedView,
}

impl EventStore {
    /// A store continuing after `prior` events (empty for a fresh run).
    pub fn new(sink: Box<dyn EventSink>, prior: Vec<Envelope>) -> Self {
        let view = BoardView::from_events(&prior);
        let (broadcast, _) = broadcast::channel(4096);
        EventStore {
            seq: prior.last().map_or(0, |e| e.seq),
            clock: EventClock::default(),
            sink,
            sink_failed: false,
            broadcast,
            log: Arc::new(Mutex::new(prior)),
            view: Arc::new(RwLock::new(view)),
        }
    }

    pub fn view(&self) -> &SharedView {
        &self.view
    }

    pub fn log(&self) -> &Arc<Mutex<Vec<Envelope>>> {
        &self.log
    }

    pub fn broadcaster(&self) -> &broadcast::Sender<Envelope> {
        &self.broadcast
    }

    pub fn last_seq(&self) -> u64 {
        self.seq
    }

    /// Append `events` in order; the view is updated under one lock for the batch.
    pub fn append(&mut self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let redacting = crate::redact::has_secrets();
        let envelopes: Vec<Envelope> = events
            .into_iter()
            .map(|event| {
                self.seq += 1;
                Envelope {
                    seq: self.seq,
                    ts: self.clock.now(),
                    event: if redacting {
                        redact_event(event)
                    } else {
                        event
                    },
                }
            })
            .collect();
        {
            let mut view = self.view.write().unwrap_or_else(|e| e.into_inner());
            for env in &envelopes {
                view.apply(env);
            }
        }
        if let Err(e) = self.sink.write_batch(&envelopes)
            && !self.sink_failed
        {
            // Keep running (the events are still broadcast and kept in memory), but say so.
            self.sink_failed = true;
            tracing::error!("cannot write the session log: {e}");
        }
        // Subscribers get a copy; with none (a headless run) the log keeps the only one.
        if self.broadcast.receiver_count() > 0 {
            for env in &envelopes {
                let _ = self.broadcast.send(env.clone());
            }
        }
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(envelopes);
    }

    pub fn sync(&mut self) {
        if let Err(e) = self.sink.sync() {
            tracing::error!("cannot sync the session log: {e}");
        }
    }
}

/// `event` with every registered secret masked in its text. Events are serde data, so the
/// check runs on the serialized form and only an event that held a secret is rebuilt.
fn redact_event(event: Event) -> Event {
    let Ok(text) = serde_json::to_string(&event) else {
        return event;
    };
    match crate::redact::redact(&text) {
        std::borrow::Cow::Borrowed(_) => event,
        std::borrow::Cow::Owned(clean) => serde_json::from_str(&clean).unwrap_or(event),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Memory(Arc<Mutex<Vec<String>>>);
    impl EventSink for Memory {
        fn write(&mut self, env: &Envelope) -> std::io::Result<()> {
            self.0
                .lock()
                .unwrap()
                .push(serde_json::to_string(env).unwrap());
            Ok(())
        }
        fn sync(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn appends_number_fold_and_redact() {
        crate::redact::register("sk-store-test-SECRET-99");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let mut store = EventStore::new(Box::new(Memory(lines.clone())), Vec::new());
        store.append(vec![
            Event::Paused {},
            Event::Error {
                agent: None,
                task: None,
                message: "provider said: bad key SK-STORE-TEST-SECRET-99".into(),
            },
        ]);
        assert_eq!(store.last_seq(), 2);
        assert!(read(store.view()).state.paused);
        let lines = lines.lock().unwrap();
        assert!(lines[1].contains("bad key ***"), "{}", lines[1]);
        assert!(
            !lines
                .iter()
                .any(|l| l.to_lowercase().contains("sk-store-test"))
        );
        let log = store.log().lock().unwrap();
        assert_eq!(log.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2]);
    }
}
