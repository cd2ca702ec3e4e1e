//! The board's NATS front door: protocol requests from workers' agents, controls from
//! attached terminals, and workers introducing themselves. Each request goes into the same
//! inbox the board's own agents use, under the sender's id and request id (so a repeated
//! request gets its first answer, never a second application); its reply goes back once
//! the step that produced it is durable in the stream, so no participant ever acts on a
//! decision the log could still lose.
//!
//! A proposal may carry the command runs and the patch its points cite from the worker's
//! machine (`engine::tools::records`): they are filed in the board's workspace, under the
//! worker's ids, before the proposal goes in, so the verifier checks them by its own rules.
//!
//! What a peer sends is bounded: message sizes, requests in flight per agent, workers and
//! agents per board. Agent ids are the board's to give: a request is taken only from an
//! agent of a worker this board (or an earlier board of the run) admitted.

use super::names::RunNames;
use super::wire::{self, ControlAck, Hello, Welcome, WireReply, WireRequest};
use crate::engine::EngineHandle;
use crate::engine::client::Inbound;
use crate::engine::protocol::{Control, ParticipantKind, Reply, Request, RequestEnvelope};
use crate::engine::scheduler::worker_agent;
use crate::engine::store;
use crate::engine::tools::records;
use crate::event::AgentStatus;
use futures_util::StreamExt;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;

/// Serve the run's subjects until the tasks are aborted (the caller holds the set).
pub async fn start(
    client: async_nats::Client,
    names: &RunNames,
    handle: EngineHandle,
    durable: watch::Receiver<u64>,
    lease: Duration,
) -> Result<JoinSet<()>, String> {
    let subscribe = |subject: String| {
        let client = client.clone();
        async move {
            client
                .subscribe(subject.clone())
                .await
                .map_err(|e| format!("cannot serve {subject}: {e}"))
        }
    };
    let requests = subscribe(names.requests()).await?;
    let controls = subscribe(names.controls()).await?;
    let hellos = subscribe(names.hello()).await?;
    let door = Arc::new(Door {
        client: client.clone(),
        handle,
        durable,
        lease,
        book: Mutex::new(WorkerBook::default()),
        in_flight: Mutex::new(HashMap::new()),
    });
    door.book_from_log();
    // Replies must reach the server before the caller announces the board.
    client
        .flush()
        .await
        .map_err(|e| format!("cannot reach the NATS server: {e}"))?;
    let mut tasks = JoinSet::new();
    tasks.spawn(door.clone().serve_requests(requests));
    tasks.spawn(door.clone().serve_controls(controls));
    tasks.spawn(door.serve_hellos(hellos));
    Ok(tasks)
}

/// A worker agent's `cmd:c3` is its own run, which the board files as `w2:c3`.
fn name_own_runs(envelope: &mut RequestEnvelope) {
    if let Request::Propose { points, .. } = &mut envelope.request {
        for ev in points.iter_mut().flat_map(|p| p.evidence.iter_mut()) {
            records::name_own_runs(&envelope.agent, ev);
        }
    }
}

enum Admission {
    New,
    InFlight,
    TooMany,
}

/// The workers this board admitted: worker number → its agent count.
#[derive(Default)]
struct WorkerBook {
    workers: HashMap<usize, usize>,
}

struct Door {
    client: async_nats::Client,
    handle: EngineHandle,
    durable: watch::Receiver<u64>,
    lease: Duration,
    book: Mutex<WorkerBook>,
    /// Request ids being worked on, per agent (a re-sent one is not applied again).
    in_flight: Mutex<HashMap<String, HashSet<u64>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Door {
    /// Workers an earlier board of this run admitted keep their ids.
    fn book_from_log(&self) {
        let view = store::read(self.handle.view());
        let mut book = lock(&self.book);
        for id in view.state.agents.keys() {
            if let Some((w, a)) = worker_agent(id) {
                let n = book.workers.entry(w).or_default();
                *n = (*n).max(a);
            }
        }
    }

    async fn respond<T: serde::Serialize>(&self, to: Option<async_nats::Subject>, value: &T) {
        if let Some(to) = to {
            let _ = self.client.publish(to, wire::encode(value)).await;
        }
    }

    async fn serve_requests(self: Arc<Self>, mut sub: async_nats::Subscriber) {
        while let Some(msg) = sub.next().await {
            let refuse = |reason: String| WireReply {
                seq: 0,
                reply: Reply::refused(reason),
            };
            let WireRequest {
                mut envelope,
                records,
            } = match self.decode(&msg.payload) {
                Ok(r) => r,
                Err(why) => {
                    self.respond(msg.reply, &refuse(why)).await;
                    continue;
                }
            };
            if let Err(why) = self.admit(&envelope) {
                self.respond(msg.reply, &refuse(why)).await;
                continue;
            }
            name_own_runs(&mut envelope);
            let (agent, id) = (envelope.agent.clone(), envelope.id);
            match self.start_request(&agent, id) {
                // A re-send of a request still being worked on: its reply goes to the same
                // reply subject when it is ready.
                Admission::InFlight => continue,
                Admission::TooMany => {
                    let why = format!(
                        "{agent} has {} requests in flight; wait for their replies",
                        wire::MAX_IN_FLIGHT_PER_AGENT
                    );
                    self.respond(msg.reply, &refuse(why)).await;
                    continue;
                }
                Admission::New => {}
            }
            if records.is_empty() {
                if !self.post(envelope, msg.reply) {
                    return;
                }
                continue;
            }
            // Filing a worker's patch copies the repository and runs git: off this loop, so
            // other agents' requests are not held up; the proposal goes in once it is filed.
            let door = self.clone();
            tokio::spawn(async move {
                let workspace = door.handle.workspace().clone();
                let who = agent.clone();
                let filed =
                    tokio::task::spawn_blocking(move || workspace.import_records(&who, records))
                        .await
                        .unwrap_or_else(|e| Err(format!("filing the records failed: {e}")));
                match filed {
                    Ok(()) => {
                        door.post(envelope, msg.reply);
                    }
                    Err(why) => {
                        tracing::info!(%agent, "a worker's records were refused: {why}");
                        door.finish_request(&agent, id);
                        door.respond(msg.reply, &refuse(why)).await;
                    }
                }
            });
        }
    }

    /// A request of a remote agent: `records` only with a proposal, the rest within the
    /// request cap.
    fn decode(&self, payload: &[u8]) -> Result<WireRequest, String> {
        let request = wire::decode::<WireRequest>(payload, wire::MAX_PROPOSAL_BYTES)?;
        let proposal = matches!(request.envelope.request, Request::Propose { .. });
        if !request.records.is_empty() && !proposal {
            return Err("only a proposal carries command runs and patches".into());
        }
        if request.records.is_empty() && payload.len() > wire::MAX_REQUEST_BYTES {
            return Err(format!(
                "the message is {} bytes; the board takes at most {}",
                payload.len(),
                wire::MAX_REQUEST_BYTES
            ));
        }
        Ok(request)
    }

    /// Hand a request to the board; its reply goes back once the step that made it is
    /// durable. `false`: the board is gone.
    fn post(self: &Arc<Self>, envelope: RequestEnvelope, to: Option<async_nats::Subject>) -> bool {
        let (agent, id) = (envelope.agent.clone(), envelope.id);
        let (tx, rx) = oneshot::channel();
        let posted = self.handle.inbox.send(Inbound {
            envelope,
            reply: Some(tx),
            wants_token: false,
        });
        if posted.is_err() {
            return false;
        }
        let door = self.clone();
        tokio::spawn(async move {
            let reply = rx.await;
            door.finish_request(&agent, id);
            let Ok(reply) = reply else { return };
            let seq = store::read(door.handle.view()).state.last_seq;
            // Durable before visible: a reply never announces what the log could lose.
            let mut durable = door.durable.clone();
            while *durable.borrow_and_update() < seq {
                if durable.changed().await.is_err() {
                    return;
                }
            }
            let wire = WireReply {
                seq,
                reply: reply.reply,
            };
            door.respond(to, &wire).await;
        });
        true
    }

    fn start_request(&self, agent: &str, id: u64) -> Admission {
        let mut in_flight = lock(&self.in_flight);
        let mine = in_flight.entry(agent.to_string()).or_default();
        if mine.contains(&id) {
            Admission::InFlight
        } else if mine.len() >= wire::MAX_IN_FLIGHT_PER_AGENT {
            Admission::TooMany
        } else {
            mine.insert(id);
            Admission::New
        }
    }

    fn finish_request(&self, agent: &str, id: u64) {
        let mut in_flight = lock(&self.in_flight);
        if let Some(mine) = in_flight.get_mut(agent) {
            mine.remove(&id);
            if mine.is_empty() {
                in_flight.remove(agent);
            }
        }
    }

    /// Only agents of admitted workers, and each joins (as a remote agent) before anything
    /// else.
    fn admit(&self, envelope: &RequestEnvelope) -> Result<(), String> {
        let agent = &envelope.agent;
        let known = worker_agent(agent).is_some_and(|(w, a)| {
            lock(&self.book)
                .workers
                .get(&w)
                .is_some_and(|&count| a >= 1 && a <= count)
        });
        if !known {
            return Err(format!(
                "`{}` is not an agent of a worker of this run; start `delm worker`",
                crate::text::clip(agent, 40)
            ));
        }
        match &envelope.request {
            Request::Join { kind, .. } if *kind != ParticipantKind::Remote => {
                Err("a worker's agents join as remote participants".into())
            }
            Request::Join { .. } => Ok(()),
            // A worker's failing provider is the worker's problem: its agent leaves, the
            // run goes on (the worker sends `leave`; a `fatal` would fail the whole run).
            Request::Fatal { .. } => {
                Err("a worker's agent cannot fail the run; leave instead".into())
            }
            _ => {
                let view = store::read(self.handle.view());
                match view.state.agents.get(agent.as_str()) {
                    Some(a) if a.kind.is_some() => Ok(()),
                    _ => Err(format!("{agent} must join first")),
                }
            }
        }
    }

    async fn serve_controls(self: Arc<Self>, mut sub: async_nats::Subscriber) {
        while let Some(msg) = sub.next().await {
            let ack = match wire::decode::<Control>(&msg.payload, wire::MAX_CONTROL_BYTES) {
                // Leaving the run unfinished ends the board's process: that is for whoever
                // runs it, not for a terminal attached from elsewhere.
                Ok(Control::Detach) => ControlAck {
                    ok: false,
                    reason: Some("detach is for the board's own terminal".into()),
                },
                Ok(control) => {
                    tracing::info!(?control, "control from an attached terminal");
                    self.handle.control(control);
                    ControlAck {
                        ok: true,
                        reason: None,
                    }
                }
                Err(why) => ControlAck {
                    ok: false,
                    reason: Some(why),
                },
            };
            self.respond(msg.reply, &ack).await;
        }
    }

    async fn serve_hellos(self: Arc<Self>, mut sub: async_nats::Subscriber) {
        while let Some(msg) = sub.next().await {
            let welcome = match wire::decode::<Hello>(&msg.payload, 4096) {
                Ok(hello) => self.welcome(&hello),
                Err(reason) => Welcome::Refused { reason },
            };
            self.respond(msg.reply, &welcome).await;
        }
    }

    fn welcome(&self, hello: &Hello) -> Welcome {
        if hello.agents == 0 || hello.agents > wire::MAX_AGENTS_PER_WORKER {
            return Welcome::Refused {
                reason: format!("a worker runs 1 to {} agents", wire::MAX_AGENTS_PER_WORKER),
            };
        }
        let live = {
            let view = store::read(self.handle.view());
            view.state
                .agents
                .iter()
                .filter(|(id, a)| worker_agent(id).is_some() && a.status != AgentStatus::Stopped)
                .count()
        };
        if live + hello.agents > wire::MAX_REMOTE_AGENTS {
            return Welcome::Refused {
                reason: format!(
                    "the run has {live} remote agents; a board takes at most {}",
                    wire::MAX_REMOTE_AGENTS
                ),
            };
        }
        let mut book = lock(&self.book);
        if book.workers.len() >= wire::MAX_WORKERS * 16 {
            return Welcome::Refused {
                reason: "this run admitted too many workers over its life".into(),
            };
        }
        let number = book.workers.keys().max().copied().unwrap_or(0) + 1;
        book.workers.insert(number, hello.agents);
        let worker = format!("w{number}");
        tracing::info!(%worker, name = %crate::text::clip(&hello.name, 80), agents = hello.agents, "worker admitted");
        Welcome::Accepted {
            worker,
            lease_ms: self.lease.as_millis() as u64,
        }
    }
}
