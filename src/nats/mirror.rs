//! A run's log mirrored from its stream: one fold per process (a worker's agents share it,
//! as in-process agents share the board's), the log itself for late subscribers, and a
//! broadcast of each event. Workers and attached terminals read the run through this.

use super::log;
use super::names::RunNames;
use crate::engine::context::{BoardView, Projection};
use crate::engine::store::SharedView;
use crate::event::{Envelope, Event};
use async_nats::jetstream;
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::{broadcast, watch};

/// Told of every batch of events after it is folded (a worker's signals and revocations).
pub trait Observer: Send + 'static {
    fn on_batch(&mut self, view: &BoardView, batch: &[Envelope]);
}

/// The mirror of one run's log.
pub struct Mirror {
    view: SharedView,
    log: Arc<Mutex<Vec<Envelope>>>,
    events: broadcast::Sender<Envelope>,
    folded: watch::Receiver<u64>,
    finished: watch::Receiver<bool>,
}

impl Mirror {
    /// Follow the run's stream from its start.
    pub fn start(
        js: jetstream::Context,
        names: RunNames,
        mut observer: Option<Box<dyn Observer>>,
    ) -> Mirror {
        let view: SharedView = Arc::new(RwLock::new(BoardView::default()));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (events, _) = broadcast::channel(4096);
        let (folded_tx, folded) = watch::channel(0u64);
        let (finished_tx, finished) = watch::channel(false);
        let mut batches = log::follow(js, names.clone(), 0);
        let (v, l, e) = (view.clone(), log.clone(), events.clone());
        tokio::spawn(async move {
            let mut last = 0u64;
            while let Some((_, batch)) = batches.recv().await {
                // Seqs are contiguous from 1; a repeat (a board that retried) is skipped.
                let fresh: Vec<Envelope> = batch.into_iter().filter(|env| env.seq > last).collect();
                let Some(end) = fresh.last().map(|env| env.seq) else {
                    continue;
                };
                if fresh[0].seq != last + 1 {
                    tracing::warn!(run = %names.run, "the run's log jumps from seq {last} to {}", fresh[0].seq);
                }
                last = end;
                let over = fresh
                    .iter()
                    .any(|env| matches!(env.event, Event::RunFinished { .. }));
                {
                    let mut view = v.write().unwrap_or_else(|e| e.into_inner());
                    for env in &fresh {
                        view.apply(env);
                    }
                    if let Some(observer) = observer.as_mut() {
                        observer.on_batch(&view, &fresh);
                    }
                }
                if e.receiver_count() > 0 {
                    for env in &fresh {
                        let _ = e.send(env.clone());
                    }
                }
                l.lock().unwrap_or_else(|e| e.into_inner()).extend(fresh);
                folded_tx.send_replace(end);
                if over {
                    finished_tx.send_replace(true);
                }
            }
        });
        Mirror {
            view,
            log,
            events,
            folded,
            finished,
        }
    }

    pub fn view(&self) -> &SharedView {
        &self.view
    }

    /// The highest seq folded so far.
    pub fn folded(&self) -> u64 {
        *self.folded.borrow()
    }

    /// Wait until the fold has reached `seq`.
    pub async fn wait_folded(&self, seq: u64) {
        let mut folded = self.folded.clone();
        while *folded.borrow_and_update() < seq {
            if folded.changed().await.is_err() {
                return;
            }
        }
    }

    /// Wait until the fold holds the run's start (a worker needs its goal and workspace).
    pub async fn wait_started(&self) {
        let mut folded = self.folded.clone();
        loop {
            if !crate::engine::store::read(&self.view)
                .state
                .run_id
                .is_empty()
            {
                return;
            }
            if folded.changed().await.is_err() {
                return;
            }
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Envelope> {
        self.events.subscribe()
    }

    pub fn events_since(&self, after: u64) -> Vec<Envelope> {
        crate::engine::store::events_since(&self.log, after)
    }

    /// Flips to `true` once `run_finished` was folded.
    pub fn finished(&self) -> watch::Receiver<bool> {
        self.finished.clone()
    }
}
