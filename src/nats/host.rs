//! A board that lives on NATS: [`BoardHost`] ties the pieces together for `delm run
//! --board` and `delm resume nats://…`: the connection, the leadership key, the run's
//! stream (the sink the event store writes to), the workspace in the object store, and
//! the subjects workers and terminals talk to. The engine itself is unchanged: the host
//! hands it a sink and posts requests into its inbox.

use super::leader::{self, Leadership};
use super::log::{self, JetStreamSink, LogWriter, StepDown};
use super::names::RunNames;
use super::url::{BoardUrl, NatsAuth};
use super::{serve, transfer};
use crate::engine::{EngineHandle, RunConfig};
use crate::event::{Envelope, Mode};
use async_nats::jetstream;
use std::path::Path;
use std::time::Duration;
use tokio::task::JoinSet;

/// How long the last events may take to reach the stream once the run is over.
const FINISH_WAIT: Duration = Duration::from_secs(60);

pub struct BoardHost {
    client: async_nats::Client,
    js: jetstream::Context,
    names: RunNames,
    url: BoardUrl,
    leadership: Option<Leadership>,
    writer: Option<LogWriter>,
    sink: Option<JetStreamSink>,
    lease: Duration,
    tasks: JoinSet<()>,
}

impl BoardHost {
    /// A new run's board: create its stream, take the lead, and put its workspace where
    /// workers find it.
    pub async fn create(
        url: &BoardUrl,
        auth: &NatsAuth,
        cfg: &RunConfig,
    ) -> Result<BoardHost, String> {
        let names = RunNames::new(&cfg.run_id)?;
        let (client, js) = open(url, auth, &names).await?;
        let me = leader::me();
        let leadership = leader::acquire(&js, &names, &me, Duration::ZERO).await?;
        log::create_stream(&js, &names).await?;
        transfer::upload(&js, &names, &cfg.mode).await?;
        let (sink, writer) = LogWriter::start(
            js.clone(),
            names.clone(),
            me.board,
            0,
            0,
            client.max_payload(),
        );
        Ok(BoardHost {
            client,
            js,
            url: url.with_run(&names.run),
            names,
            leadership: Some(leadership),
            writer: Some(writer),
            sink: Some(sink),
            lease: cfg.lease,
            tasks: JoinSet::new(),
        })
    }

    /// Take over an interrupted run (its board died or was stopped): wait for the old
    /// board's key to expire, then read the whole stream. The events are what the board
    /// resumes from.
    pub async fn resume(
        url: &BoardUrl,
        auth: &NatsAuth,
    ) -> Result<(BoardHost, Vec<Envelope>), String> {
        let run = url.run.clone().ok_or_else(|| {
            format!(
                "name the run to resume: {}/RUN-ID (`delm runs --board {}` lists them)",
                url.display(),
                url.display()
            )
        })?;
        let names = RunNames::new(&run)?;
        let (client, js) = open(url, auth, &names).await?;
        // Fail fast on a run that does not exist, before waiting for any key.
        log::last_sequence(&js, &names).await?;
        let me = leader::me();
        let leadership =
            leader::acquire(&js, &names, &me, leader::TTL + Duration::from_secs(5)).await?;
        let (events, last) = log::read_all(&js, &names).await?;
        let durable = events.last().map_or(0, |e| e.seq);
        let (sink, writer) = LogWriter::start(
            js.clone(),
            names.clone(),
            me.board,
            last,
            durable,
            client.max_payload(),
        );
        let host = BoardHost {
            client,
            js,
            url: url.clone(),
            names,
            leadership: Some(leadership),
            writer: Some(writer),
            sink: Some(sink),
            lease: Duration::from_secs(120),
            tasks: JoinSet::new(),
        };
        Ok((host, events))
    }

    pub fn run_id(&self) -> &str {
        &self.names.run
    }

    /// Messages appended to the run's stream so far (each one or more board steps), and
    /// the time spent appending them.
    pub fn appends(&self) -> (u64, Duration) {
        let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        self.writer.as_ref().map_or((0, Duration::ZERO), |w| {
            (load(&w.appends), Duration::from_nanos(load(&w.append_ns)))
        })
    }

    /// The run's address for workers and terminals (no credentials).
    pub fn url(&self) -> String {
        self.url.display()
    }

    /// The claim lease the board's workers are told (the run config's).
    pub fn set_lease(&mut self, lease: Duration) {
        self.lease = lease;
    }

    /// The sink the event store writes the run's steps to (once).
    pub fn take_sink(&mut self) -> Box<dyn crate::engine::EventSink> {
        Box::new(self.sink.take().expect("the board's sink is taken once"))
    }

    /// The run's workspace, unpacked into `dest` (a board resuming on another machine).
    pub async fn fetch_workspace(&self, dest: &Path) -> Result<Mode, String> {
        transfer::download(&self.js, &self.names, dest).await
    }

    /// Start serving workers and terminals, and step down (detach the run) if another
    /// board takes the lead or the stream cannot be written.
    pub async fn serve(&mut self, handle: &EngineHandle) -> Result<(), String> {
        let writer = self.writer.as_ref().expect("serve before close");
        self.tasks = serve::start(
            self.client.clone(),
            &self.names,
            handle.clone(),
            writer.durable.clone(),
            self.lease,
        )
        .await?;
        let stopped = writer.stopped();
        let mut lost = self
            .leadership
            .as_ref()
            .map(|l| l.lost.clone())
            .expect("serve before close");
        let watcher = handle.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                _ = stopped => {}
                _ = lost.wait_for(|l| *l) => {}
            }
            if !watcher.is_finished() {
                eprintln!("delm: this board stopped leading the run; the run goes on under the other board");
                watcher.detach();
            }
        });
        handle.announce_serving(&self.url.display());
        Ok(())
    }

    /// After the run: wait for its last events to reach the stream, stop serving, give up
    /// the lead. `Err` when this board had to step down or could not write its log.
    pub async fn close(mut self) -> Result<(), String> {
        let writer = self.writer.take().expect("closed once");
        drop(self.sink.take());
        let written = match tokio::time::timeout(FINISH_WAIT, writer.finish()).await {
            Ok(result) => result,
            Err(_) => Err(StepDown::Failed(format!(
                "its last events did not reach the server within {} s (they are in the session file)",
                FINISH_WAIT.as_secs()
            ))),
        };
        self.tasks.abort_all();
        let _ = self.client.flush().await;
        if let Some(leadership) = self.leadership.take()
            && written != Err(StepDown::Deposed)
        {
            leadership.release().await;
        }
        written.map_err(|e| e.to_string())
    }
}

async fn open(
    url: &BoardUrl,
    auth: &NatsAuth,
    names: &RunNames,
) -> Result<(async_nats::Client, jetstream::Context), String> {
    let client = super::url::connect(url, auth, &format!("delm board {}", names.run)).await?;
    let js = jetstream::new(client.clone());
    Ok((client, js))
}
