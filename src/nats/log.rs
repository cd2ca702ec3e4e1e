//! The run's event log on JetStream: one stream per run, one subject, one message per board
//! step (the step's envelopes as JSON lines, the session file's format). The stream's
//! sequence is the run's total order.
//!
//! The board is the only writer. Each append says which message it expects to follow
//! (`Nats-Expected-Last-Subject-Sequence`): if another board appended meanwhile the append
//! fails and this board steps down. Each append has a message id (`Nats-Msg-Id`) made of the
//! board's id and the envelopes' seqs, so a retry after a lost acknowledgement (a server
//! restart, a timeout) is stored once. Appends are pipelined through one task that merges
//! the steps waiting at that moment into one message (their fsync is shared); the board's
//! replies wait for [`LogWriter::durable`] to pass their step.

use super::names::RunNames;
use crate::engine::EventSink;
use crate::event::Envelope;
use async_nats::jetstream::{self, consumer, context::PublishErrorKind, stream};
use futures_util::StreamExt;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// A run's stream keeps at most this many bytes; an append beyond is refused and the
/// board stops with a clear message rather than dropping history.
const MAX_STREAM_BYTES: i64 = 4 * 1024 * 1024 * 1024;
/// An append that cannot reach the server for this long makes the board step down.
const WRITE_GIVE_UP: Duration = Duration::from_secs(10 * 60);
/// Room left in a message for headers and framing.
const HEADROOM: usize = 4 * 1024;

/// Why a board stops writing the log.
#[derive(Debug, Clone, PartialEq)]
pub enum StepDown {
    /// Another board appended to the run's stream: it leads now.
    Deposed,
    /// The log could not be written (the reason says why).
    Failed(String),
}

impl std::fmt::Display for StepDown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepDown::Deposed => {
                f.write_str("another board appended to this run's stream, so this one stepped down")
            }
            StepDown::Failed(why) => write!(f, "the run's stream cannot be written: {why}"),
        }
    }
}

/// Create the stream of a new run. A run id that already has a stream is refused.
pub async fn create_stream(js: &jetstream::Context, names: &RunNames) -> Result<(), String> {
    if let Ok(mut existing) = js.get_stream(names.stream()).await
        && existing.info().await.is_ok_and(|i| i.state.messages > 0)
    {
        return Err(format!(
            "run {} already has a stream on this server; resume it with `delm resume \
             nats://HOST/{}` instead",
            names.run, names.run
        ));
    }
    js.create_stream(stream::Config {
        name: names.stream(),
        description: Some(format!("delm run {}: its event log", names.run)),
        subjects: vec![names.events()],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        discard: stream::DiscardPolicy::New,
        max_bytes: MAX_STREAM_BYTES,
        duplicate_window: Duration::from_secs(120),
        allow_direct: true,
        deny_delete: true,
        ..Default::default()
    })
    .await
    .map_err(|e| format!("cannot create the run's stream (is JetStream enabled, `-js`?): {e}"))?;
    Ok(())
}

/// A stream position and the envelopes of the message there.
pub type Batch = (u64, Vec<Envelope>);

/// The envelopes of one message (JSON lines). A line that is not an envelope is an error:
/// only boards write here.
pub fn decode(payload: &[u8]) -> Result<Vec<Envelope>, String> {
    payload
        .split(|&b| b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .map(|line| {
            serde_json::from_slice(line)
                .map_err(|e| format!("a message of the run's stream is not an event: {e}"))
        })
        .collect()
}

/// Follow the run's stream from `after` (a stream sequence): every message in order, as
/// long as the receiver lives. An ordered consumer; when it breaks (the server restarted,
/// the connection dropped) it is created again from the last message seen, so nothing is
/// skipped and nothing comes twice.
pub fn follow(js: jetstream::Context, names: RunNames, after: u64) -> mpsc::Receiver<Batch> {
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(async move {
        let mut last = after;
        let mut delay = Duration::from_millis(50);
        loop {
            if tx.is_closed() {
                return;
            }
            match read_from(&js, &names, &mut last, &tx).await {
                Ok(()) => return,
                Err(why) => {
                    tracing::debug!(run = %names.run, "following the stream again after: {why}");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
    });
    rx
}

/// One ordered consumer's life. `Ok` when the receiver is gone.
async fn read_from(
    js: &jetstream::Context,
    names: &RunNames,
    last: &mut u64,
    tx: &mpsc::Sender<Batch>,
) -> Result<(), String> {
    let stream = js
        .get_stream(names.stream())
        .await
        .map_err(|e| e.to_string())?;
    let deliver_policy = match *last {
        0 => consumer::DeliverPolicy::All,
        n => consumer::DeliverPolicy::ByStartSequence {
            start_sequence: n + 1,
        },
    };
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: names.events(),
            deliver_policy,
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    let mut messages = consumer.messages().await.map_err(|e| e.to_string())?;
    while let Some(message) = messages.next().await {
        let message = message.map_err(|e| e.to_string())?;
        let seq = message.info().map_err(|e| e.to_string())?.stream_sequence;
        if seq <= *last {
            continue;
        }
        let envelopes = match decode(&message.payload) {
            Ok(e) => e,
            Err(why) => {
                tracing::error!(run = %names.run, seq, "{why}");
                Vec::new()
            }
        };
        *last = seq;
        if tx.send((seq, envelopes)).await.is_err() {
            return Ok(());
        }
    }
    Err("the consumer ended".into())
}

/// The stream's last sequence now (0 for an empty stream).
pub async fn last_sequence(js: &jetstream::Context, names: &RunNames) -> Result<u64, String> {
    let mut stream = js.get_stream(names.stream()).await.map_err(|e| {
        format!(
            "run {} has no stream on this board ({e}); `delm runs --board URL` lists the runs",
            names.run
        )
    })?;
    let info = stream.info().await.map_err(|e| e.to_string())?;
    Ok(info.state.last_sequence)
}

/// Every event of the run, and the stream sequence of the last message.
pub async fn read_all(
    js: &jetstream::Context,
    names: &RunNames,
) -> Result<(Vec<Envelope>, u64), String> {
    let end = last_sequence(js, names).await?;
    let mut events = Vec::new();
    if end == 0 {
        return Ok((events, 0));
    }
    let mut rx = follow(js.clone(), names.clone(), 0);
    while let Some((seq, batch)) = rx.recv().await {
        events.extend(batch);
        if seq >= end {
            return Ok((events, seq));
        }
    }
    Err("the run's stream could not be read to its end".into())
}

/// The board's side of the log: the sink the event store writes to, and the task that
/// appends to the stream.
pub struct LogWriter {
    /// The highest event seq known to be stored in the stream.
    pub durable: watch::Receiver<u64>,
    /// Messages appended so far (each holds one or more board steps), and the time spent
    /// appending them (publish to acknowledgement).
    pub appends: Arc<AtomicU64>,
    pub append_ns: Arc<AtomicU64>,
    task: JoinHandle<Result<(), StepDown>>,
}

/// The sink half: hands each board step to the writer task without waiting.
pub struct JetStreamSink {
    steps: mpsc::UnboundedSender<Vec<Envelope>>,
}

impl EventSink for JetStreamSink {
    fn write(&mut self, env: &Envelope) -> std::io::Result<()> {
        self.write_batch(std::slice::from_ref(env))
    }
    fn write_batch(&mut self, envs: &[Envelope]) -> std::io::Result<()> {
        self.steps
            .send(envs.to_vec())
            .map_err(|_| std::io::Error::other("the JetStream writer stopped"))
    }
    fn sync(&mut self) -> std::io::Result<()> {
        // Durability is the writer's: each append is acknowledged by the server.
        Ok(())
    }
}

impl LogWriter {
    /// Start appending after stream sequence `last` (0 for a new run). `board` names this
    /// board in message ids; `durable_seq` is the seq of the last event already stored.
    pub fn start(
        js: jetstream::Context,
        names: RunNames,
        board: String,
        last: u64,
        durable_seq: u64,
        max_payload: usize,
    ) -> (JetStreamSink, LogWriter) {
        let (steps_tx, steps) = mpsc::unbounded_channel();
        let (durable_tx, durable) = watch::channel(durable_seq);
        let appends = Arc::new(AtomicU64::new(0));
        let append_ns = Arc::new(AtomicU64::new(0));
        let appender = Appender {
            js,
            names,
            board,
            last,
            max_bytes: max_payload.saturating_sub(HEADROOM).max(HEADROOM),
            appends: appends.clone(),
            append_ns: append_ns.clone(),
        };
        let task = tokio::spawn(appender.run(steps, durable_tx));
        let writer = LogWriter {
            durable,
            appends,
            append_ns,
            task,
        };
        (JetStreamSink { steps: steps_tx }, writer)
    }

    /// Wait until every step the board wrote is in the stream (the board is done and its
    /// sink dropped), or the writer stepped down.
    pub async fn finish(self) -> Result<(), StepDown> {
        self.task
            .await
            .unwrap_or_else(|e| Err(StepDown::Failed(format!("the writer task failed: {e}"))))
    }

    /// Resolves when the writer stopped for good (stepped down, or done).
    pub fn stopped(&self) -> impl std::future::Future<Output = ()> + use<> {
        let mut durable = self.durable.clone();
        async move { while durable.changed().await.is_ok() {} }
    }
}

struct Appender {
    js: jetstream::Context,
    names: RunNames,
    board: String,
    /// The stream sequence of the last message stored (ours or before us).
    last: u64,
    max_bytes: usize,
    appends: Arc<AtomicU64>,
    append_ns: Arc<AtomicU64>,
}

impl Appender {
    async fn run(
        mut self,
        mut steps: mpsc::UnboundedReceiver<Vec<Envelope>>,
        durable: watch::Sender<u64>,
    ) -> Result<(), StepDown> {
        let mut pending: VecDeque<Vec<u8>> = VecDeque::new();
        let mut pending_seqs: VecDeque<(u64, u64)> = VecDeque::new();
        let mut open = true;
        loop {
            if pending.is_empty() {
                if !open {
                    return Ok(());
                }
                match steps.recv().await {
                    Some(step) => push_step(&mut pending, &mut pending_seqs, &step),
                    None => return Ok(()),
                }
            }
            // Group commit: whatever else is waiting goes into the same append.
            loop {
                match steps.try_recv() {
                    Ok(step) => push_step(&mut pending, &mut pending_seqs, &step),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        open = false;
                        break;
                    }
                }
            }
            let mut payload = Vec::new();
            let mut taken = 0;
            while let Some(step) = pending.get(taken) {
                if taken > 0 && payload.len() + step.len() > self.max_bytes {
                    break;
                }
                payload.extend_from_slice(step);
                taken += 1;
            }
            let first = pending_seqs[0].0;
            let last_seq = pending_seqs[taken - 1].1;
            let id = format!("{}.{first}-{last_seq}", self.board);
            let started = std::time::Instant::now();
            self.last = self.append(payload.into(), &id).await?;
            self.appends.fetch_add(1, Ordering::Relaxed);
            self.append_ns
                .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
            pending.drain(..taken);
            pending_seqs.drain(..taken);
            durable.send_replace(last_seq);
        }
    }

    /// Append one message, retrying what can be retried; the stream sequence it got.
    async fn append(&self, payload: bytes::Bytes, id: &str) -> Result<u64, StepDown> {
        let deadline = tokio::time::Instant::now() + WRITE_GIVE_UP;
        let mut delay = Duration::from_millis(50);
        let mut warned = false;
        loop {
            let publish = jetstream::message::PublishMessage::build()
                .payload(payload.clone())
                .message_id(id)
                .expected_last_subject_sequence(self.last);
            let result = match self.js.send_publish(self.names.events(), publish).await {
                Ok(ack) => ack.await,
                Err(e) => Err(e),
            };
            let err = match result {
                Ok(ack) => return Ok(ack.sequence),
                Err(e) => e,
            };
            match err.kind() {
                PublishErrorKind::WrongLastSequence => return self.ours_or_deposed(id).await,
                PublishErrorKind::MaxPayloadExceeded => {
                    return Err(StepDown::Failed(format!(
                        "one board step is larger than the server's message limit: {err}"
                    )));
                }
                _ => {}
            }
            if !warned {
                warned = true;
                tracing::warn!(run = %self.names.run, "appending to the run's stream failed, retrying: {err}");
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StepDown::Failed(format!(
                    "no append succeeded for {} minutes (last error: {err})",
                    WRITE_GIVE_UP.as_secs() / 60
                )));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    /// The stream moved past what this board expected: either our own earlier attempt of
    /// this message was stored (its acknowledgement was lost) or another board wrote.
    async fn ours_or_deposed(&self, id: &str) -> Result<u64, StepDown> {
        let stream = self
            .js
            .get_stream(self.names.stream())
            .await
            .map_err(|e| StepDown::Failed(e.to_string()))?;
        let last = stream
            .get_last_raw_message_by_subject(&self.names.events())
            .await
            .map_err(|e| StepDown::Failed(e.to_string()))?;
        let stored_id = last
            .headers
            .get(async_nats::header::NATS_MESSAGE_ID)
            .map(|v| v.as_str().to_string());
        if stored_id.as_deref() == Some(id) {
            Ok(last.sequence)
        } else {
            Err(StepDown::Deposed)
        }
    }
}

fn push_step(pending: &mut VecDeque<Vec<u8>>, seqs: &mut VecDeque<(u64, u64)>, step: &[Envelope]) {
    let (Some(first), Some(last)) = (step.first(), step.last()) else {
        return;
    };
    let mut bytes = Vec::with_capacity(256 * step.len());
    for env in step {
        serde_json::to_writer(&mut bytes, env).expect("events always serialize");
        bytes.push(b'\n');
    }
    pending.push_back(bytes);
    seqs.push_back((first.seq, last.seq));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;

    #[test]
    fn a_message_is_the_json_lines_of_its_envelopes() {
        let envs: Vec<Envelope> = (1..=2)
            .map(|seq| Envelope {
                seq,
                ts: "2026-01-01T00:00:00Z".into(),
                event: Event::Paused {},
            })
            .collect();
        let (mut pending, mut seqs) = (VecDeque::new(), VecDeque::new());
        push_step(&mut pending, &mut seqs, &envs);
        push_step(&mut pending, &mut seqs, &[]);
        assert_eq!(seqs, VecDeque::from([(1, 2)]));
        assert_eq!(decode(&pending[0]).unwrap(), envs);
        assert!(decode(b"{\"not\": \"an event\"}\n").is_err());
        assert_eq!(decode(b"\n \n").unwrap(), vec![]);
    }
}
