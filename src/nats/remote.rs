//! A remote participant's side of the board: [`RemoteClient`], the [`BoardClient`] a worker's
//! agents use. Requests are the protocol's, sent by NATS request/reply over one
//! [`Link`] per process; what in-process agents get from the board's channels (pause,
//! wake-ups, the end, a claim's revocation) a worker derives from the run's stream, which
//! it folds once for all its agents ([`RemoteSignals`]).
//!
//! Requests of one process go out in the order they were made (one publisher task), are
//! re-sent with the same id until answered (the board answers a repeated id once), and a
//! reply is handed to the agent only once the worker's fold has reached the log position
//! the reply reflects, so the agent never reads a context older than its claim.
//!
//! A proposal whose points cite the agent's command runs or patch carries their records
//! (see `engine::tools::records`): they happened here, and the board verifies them.
//!
//! It is over 600 lines because its test replays the board's revocation rules event by
//! event (a fifth of the file), and requests carry the records of a proposal.

use super::mirror::{Mirror, Observer};
use super::wire::{self, GIVE_UP_AFTER, RETRY_EVERY, WireReply, WireRequest};
use crate::engine::client::{BoardClient, Revocation, SignalSource, Signals, granted_claim};
use crate::engine::context::BoardView;
use crate::engine::protocol::{Claim, Reply, Report, Request, RequestEnvelope};
use crate::engine::store::SharedView;
use crate::engine::tools::Workspace;
use crate::engine::tools::records::{self, Records};
use crate::event::{AgentStatus, Envelope, Event, Origin, TaskState};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// Replies larger than this are dropped (the board's replies are small).
const MAX_REPLY_BYTES: usize = 1024 * 1024;

/// One process's request channel to the board: ordered publishing, one reply inbox, and
/// replies routed back to their requests.
pub struct Link {
    client: async_nats::Client,
    subject: String,
    inbox: String,
    next: AtomicU64,
    pending: Mutex<HashMap<u64, oneshot::Sender<WireReply>>>,
    out: mpsc::UnboundedSender<(String, Bytes)>,
}

/// A request on its way: its reply, or a re-send when none comes.
pub struct Pending {
    link: Arc<Link>,
    n: u64,
    reply_to: String,
    payload: Bytes,
    rx: oneshot::Receiver<WireReply>,
}

impl Link {
    pub async fn open(client: async_nats::Client, subject: String) -> Result<Arc<Link>, String> {
        let inbox = client.new_inbox();
        let mut replies = client
            .subscribe(format!("{inbox}.*"))
            .await
            .map_err(|e| format!("cannot subscribe to the board's replies: {e}"))?;
        let (out, mut out_rx) = mpsc::unbounded_channel::<(String, Bytes)>();
        let link = Arc::new(Link {
            client: client.clone(),
            subject,
            inbox,
            next: AtomicU64::new(1),
            pending: Mutex::new(HashMap::new()),
            out,
        });
        let publisher = link.clone();
        tokio::spawn(async move {
            while let Some((reply_to, payload)) = out_rx.recv().await {
                // A failed publish (the connection is down) is re-sent by the retry timer.
                let _ = publisher
                    .client
                    .publish_with_reply(publisher.subject.clone(), reply_to, payload)
                    .await;
            }
        });
        let router = Arc::downgrade(&link);
        tokio::spawn(async move {
            while let Some(msg) = replies.next().await {
                let Some(link) = router.upgrade() else { return };
                let n = msg
                    .subject
                    .rsplit('.')
                    .next()
                    .and_then(|n| n.parse::<u64>().ok());
                let reply = wire::decode::<WireReply>(&msg.payload, MAX_REPLY_BYTES);
                if let (Some(n), Ok(reply)) = (n, reply)
                    && let Some(tx) = lock(&link.pending).remove(&n)
                {
                    let _ = tx.send(reply);
                }
            }
        });
        Ok(link)
    }

    /// The largest request this link may send: the proposal cap, or the NATS server's
    /// message limit when that is lower.
    fn max_request(&self) -> usize {
        wire::MAX_PROPOSAL_BYTES.min(self.client.max_payload())
    }

    /// Queue a request now (so requests leave in the order they were made).
    pub fn enqueue(self: &Arc<Self>, payload: Bytes) -> Pending {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(n, tx);
        let reply_to = format!("{}.{n}", self.inbox);
        let _ = self.out.send((reply_to.clone(), payload.clone()));
        Pending {
            link: self.clone(),
            n,
            reply_to,
            payload,
            rx,
        }
    }
}

impl Pending {
    /// The reply; `None` when the run ended first or the board stayed silent past
    /// [`GIVE_UP_AFTER`].
    pub async fn wait(mut self, signals: &Signals) -> Option<WireReply> {
        let started = tokio::time::Instant::now();
        let result = loop {
            tokio::select! {
                reply = &mut self.rx => break reply.ok(),
                _ = signals.over() => break None,
                _ = tokio::time::sleep(RETRY_EVERY) => {
                    if started.elapsed() >= GIVE_UP_AFTER {
                        tracing::error!("the board did not answer for {} s; giving up", GIVE_UP_AFTER.as_secs());
                        break None;
                    }
                    let _ = self.link.out.send((self.reply_to.clone(), self.payload.clone()));
                }
            }
        };
        lock(&self.link.pending).remove(&self.n);
        result
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The claims a worker's agents hold, each with the token that revokes it.
#[derive(Default)]
pub struct Claims {
    open: Mutex<HashMap<String, (Claim, CancellationToken)>>,
}

impl Claims {
    /// Record a granted claim; revoked at once if the fold already shows it lost.
    fn grant(
        &self,
        agent: &str,
        claim: Claim,
        view: &BoardView,
        run: &CancellationToken,
    ) -> Revocation {
        let token = run.child_token();
        // Right after the grant a finalise turn is also in the finalising phase: new work
        // that arrived meanwhile ended it.
        let finalising = !matches!(claim, Claim::Finalise { .. })
            || view.state.phase == crate::event::Phase::Finalising;
        if !(finalising && still_held(view, agent, &claim)) {
            token.cancel();
        }
        lock(&self.open).insert(agent.to_string(), (claim, token.clone()));
        Revocation::new(token)
    }

    /// Agents that hold a claim now (they heartbeat).
    pub fn holders(&self) -> Vec<String> {
        lock(&self.open)
            .iter()
            .filter(|(_, (_, t))| !t.is_cancelled())
            .map(|(a, _)| a.clone())
            .collect()
    }

    fn release(&self, agent: &str) {
        lock(&self.open).remove(agent);
    }

    /// Revoke the claims the batch took away.
    fn revoke(&self, view: &BoardView, batch: &[Envelope]) {
        let open = lock(&self.open);
        for (agent, (claim, token)) in open.iter() {
            if token.is_cancelled() {
                continue;
            }
            if batch.iter().any(|env| revokes(&env.event, agent, claim))
                || !still_held(view, agent, claim)
            {
                token.cancel();
            }
        }
    }
}

/// Whether the fold still shows `agent` holding `claim`.
fn still_held(view: &BoardView, agent: &str, claim: &Claim) -> bool {
    let state = &view.state;
    match claim {
        Claim::Task { task, attempt } => state.task(task).is_some_and(|t| {
            t.attempts == *attempt
                && t.state
                    == TaskState::Claimed {
                        agent: agent.to_string(),
                    }
        }),
        // A finaliser that adds tasks itself keeps its turn, so the phase alone cannot
        // say; the events do (see `revokes`).
        Claim::Finalise { .. } => {
            state.answer.is_none() && state.finaliser.as_deref() == Some(agent)
        }
    }
}

/// Whether `event` revokes `agent`'s `claim` (the board's rules, as the log shows them).
fn revokes(event: &Event, agent: &str, claim: &Claim) -> bool {
    match (claim, event) {
        (_, Event::RunFinished { .. } | Event::RunResumed { .. }) => true,
        (Claim::Task { task, .. }, Event::TaskRequeued { task: t, .. })
        | (Claim::Task { task, .. }, Event::TaskCancelled { task: t, .. }) => t == task,
        (
            Claim::Task { task, .. },
            Event::ClaimExpired {
                task: t, agent: a, ..
            },
        ) => t == task && a == agent,
        // New work from anyone but the finaliser interrupts the finalise turn.
        (Claim::Finalise { .. }, Event::TaskRequeued { .. }) => true,
        (Claim::Finalise { .. }, Event::TaskAdded { origin, .. }) => {
            !matches!(origin, Origin::Agent { agent: a } if a == agent)
        }
        _ => false,
    }
}

/// A worker's signals, fed from the stream: pause, wake-ups, the end of the run, and the
/// revocation of its agents' claims.
pub struct RemoteSignals {
    source: Arc<SignalSource>,
    claims: Arc<Claims>,
}

impl RemoteSignals {
    /// The observer to give the mirror, the signals agents wait on, their claims, and the
    /// source itself (the worker wakes waiting agents now and then, see `worker`).
    pub fn new() -> (RemoteSignals, Signals, Arc<Claims>, Arc<SignalSource>) {
        let (source, signals) = SignalSource::new();
        let source = Arc::new(source);
        let claims = Arc::new(Claims::default());
        (
            RemoteSignals {
                source: source.clone(),
                claims: claims.clone(),
            },
            signals,
            claims,
            source,
        )
    }
}

impl Observer for RemoteSignals {
    fn on_batch(&mut self, view: &BoardView, batch: &[Envelope]) {
        let state = &view.state;
        let mut wake_all = false;
        for env in batch {
            match &env.event {
                // One queued task wakes one waiting agent, as on the board.
                Event::TaskAdded { .. } | Event::TaskRequeued { .. } => self.source.wake_one(),
                Event::TaskFinished { .. } => {
                    wake_all |= state.count_tasks(|s| matches!(s, TaskState::Claimed { .. })) == 0
                }
                Event::AgentStatus { agent, status, .. } => {
                    wake_all |= *status == AgentStatus::Stopped
                        || (*status == AgentStatus::Idle
                            && state.finaliser.as_deref() == Some(agent))
                }
                Event::Resumed {}
                | Event::RunResumed { .. }
                | Event::AgentsChanged { .. }
                | Event::TaskCancelled { .. }
                | Event::Error { agent: None, .. } => wake_all = true,
                _ => {}
            }
        }
        self.claims.revoke(view, batch);
        self.source.set_paused(state.paused);
        if state.answer.is_some() {
            self.source.end();
        } else if wake_all {
            self.source.wake_all();
        }
    }
}

/// What every agent of one worker shares.
pub struct Shared {
    pub link: Arc<Link>,
    /// The worker's copy of the run's workspace (where its agents' runs and patches are).
    pub workspace: Arc<dyn Workspace>,
    pub mirror: Arc<Mirror>,
    pub signals: Signals,
    pub claims: Arc<Claims>,
    /// Parent of every claim's revocation: cancelled when the worker stops.
    pub stop: CancellationToken,
    pub claim_times: ClaimTimes,
}

/// How long each granted claim took as the agent saw it: from the request to the reply,
/// the worker's fold caught up with it. Kept for the worker's summary and the benchmark.
#[derive(Default)]
pub struct ClaimTimes(Mutex<Vec<u32>>);

impl ClaimTimes {
    /// Samples kept (later ones are dropped: the summary is of the first million).
    const MAX: usize = 1_000_000;

    fn record(&self, took: Duration) {
        let mut samples = lock(&self.0);
        if samples.len() < Self::MAX {
            samples.push(took.as_micros().min(u32::MAX as u128) as u32);
        }
    }

    /// Every sample, in microseconds.
    pub fn samples(&self) -> Vec<u32> {
        lock(&self.0).clone()
    }
}

/// One agent of a worker, as the board sees it.
pub struct RemoteClient {
    agent: String,
    next_id: AtomicU64,
    shared: Arc<Shared>,
    /// Set when the agent left (its provider failed, or the worker stops).
    left: AtomicBool,
}

impl RemoteClient {
    pub fn new(agent: String, shared: Arc<Shared>) -> RemoteClient {
        RemoteClient {
            agent,
            next_id: AtomicU64::new(1),
            shared,
            left: AtomicBool::new(false),
        }
    }

    fn enqueue(&self, request: Request) -> Pending {
        self.enqueue_with(request, Records::default())
            .expect("a request without records is never refused here")
    }

    /// Queue `request` with the records it carries; `Err` when together they are larger
    /// than a request may be (then nothing is sent).
    fn enqueue_with(&self, request: Request, records: Records) -> Result<Pending, String> {
        let carries = !records.is_empty();
        let wire = WireRequest {
            envelope: RequestEnvelope {
                agent: self.agent.clone(),
                id: self.next_id.fetch_add(1, Ordering::Relaxed),
                request,
            },
            records,
        };
        let payload = wire::encode(&wire);
        let max = self.shared.link.max_request();
        if carries && payload.len() > max {
            return Err(format!(
                "the proposal with its command runs and patch is {} KB; a worker sends the \
                 board at most {} KB at once: cite fewer runs, or a smaller patch",
                payload.len() / 1024,
                max / 1024
            ));
        }
        Ok(self.shared.link.enqueue(payload))
    }

    /// The records a proposal's points cite from this worker: its command runs and the
    /// agent's patch. Empty for other requests.
    async fn records_for(&self, request: &Request) -> Result<Records, String> {
        let Request::Propose { points, .. } = request else {
            return Ok(Records::default());
        };
        let cited: Vec<_> = points
            .iter()
            .flat_map(|p| &p.evidence)
            .filter(|e| records::cites_records(e))
            .cloned()
            .collect();
        if cited.is_empty() {
            return Ok(Records::default());
        }
        let (workspace, agent) = (self.shared.workspace.clone(), self.agent.clone());
        tokio::task::spawn_blocking(move || workspace.export_records(&agent, &cited))
            .await
            .map_err(|e| format!("gathering the cited runs failed: {e}"))?
    }

    /// Send and wait for the reply, then for the fold to reach what it reflects.
    pub async fn request(&self, request: Request) -> Option<Reply> {
        self.request_with(request, Records::default()).await
    }

    async fn request_with(&self, request: Request, records: Records) -> Option<Reply> {
        let pending = match self.enqueue_with(request, records) {
            Ok(p) => p,
            Err(reason) => return Some(Reply::refused(reason)),
        };
        let wire = pending.wait(&self.shared.signals).await?;
        tokio::select! {
            _ = self.shared.mirror.wait_folded(wire.seq) => {}
            _ = self.shared.signals.over() => {}
        }
        Some(wire.reply)
    }

    /// Leave the run: the board hands this agent's claim back to the queue.
    pub async fn leave(&self) {
        if !self.left.swap(true, Ordering::SeqCst) {
            self.shared.claims.release(&self.agent);
            let wire = self.enqueue(Request::Leave);
            // Bounded: a worker that stops must not wait for a board that is gone.
            let _ = tokio::time::timeout(Duration::from_secs(10), wire.wait(&self.shared.signals))
                .await;
        }
    }

    pub fn has_left(&self) -> bool {
        self.left.load(Ordering::SeqCst)
    }
}

impl BoardClient for RemoteClient {
    fn agent(&self) -> &str {
        &self.agent
    }

    fn send(&self, request: Request) -> BoxFuture<'_, Option<(Reply, Option<Revocation>)>> {
        Box::pin(async move {
            if self.has_left() || self.shared.stop.is_cancelled() {
                return None;
            }
            if let Request::Fatal { message } = request {
                // A worker's provider failing is that worker's problem, not the run's: its
                // agent says why and leaves, and the swarm goes on without it.
                eprintln!("delm worker: {}: {message}", self.agent);
                self.notify(Request::Report {
                    report: Report::Message {
                        text: format!("leaving the run: {message}"),
                    },
                });
                self.leave().await;
                return Some((Reply::Ok, None));
            }
            let asked = matches!(request, Request::Claim).then(tokio::time::Instant::now);
            // After a finish or an abandon the agent holds no claim, whatever the reply; a
            // refused final answer leaves the finalise turn open.
            let ends_task = matches!(request, Request::Abandon { .. } | Request::Finish { .. });
            let ends_turn = matches!(
                request,
                Request::FinalAnswer { .. } | Request::DeclineFinalise { .. }
            );
            if let Request::Abandon { claim } = &request {
                tracing::info!(agent = %self.agent, "claim {claim} was revoked; abandoning it");
            }
            // What the points cite from this machine goes with them; what cannot go is said
            // to the agent as the board would say it.
            let records = match self.records_for(&request).await {
                Ok(records) => records,
                Err(reason) => return Some((Reply::refused(reason), None)),
            };
            let reply = self.request_with(request, records).await?;
            if let Reply::Refused { reason } = &reply {
                tracing::info!(agent = %self.agent, "the board refused a request: {reason}");
            }
            if ends_task || (ends_turn && reply == Reply::Ok) {
                self.shared.claims.release(&self.agent);
            }
            if let (Some(asked), Some(_)) = (asked, granted_claim(&reply)) {
                self.shared.claim_times.record(asked.elapsed());
            }
            let revocation = granted_claim(&reply).map(|claim| {
                let view = crate::engine::store::read(self.shared.mirror.view());
                self.shared
                    .claims
                    .grant(&self.agent, claim.clone(), &view, &self.shared.stop)
            });
            Some((reply, revocation))
        })
    }

    fn notify(&self, request: Request) {
        if self.has_left() {
            return;
        }
        let pending = self.enqueue(request);
        let signals = self.shared.signals.clone();
        tokio::spawn(async move {
            pending.wait(&signals).await;
        });
    }

    fn view(&self) -> &SharedView {
        self.shared.mirror.view()
    }

    fn signals(&self) -> &Signals {
        &self.shared.signals
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Mode, VerifyMode};

    fn env(seq: u64, event: Event) -> Envelope {
        Envelope {
            seq,
            ts: "2026-01-01T00:00:00Z".into(),
            event,
        }
    }

    fn fold(view: &mut BoardView, seq: &mut u64, event: Event) -> Envelope {
        use crate::engine::context::Projection;
        *seq += 1;
        let e = env(*seq, event);
        view.apply(&e);
        e
    }

    #[test]
    fn the_stream_revokes_claims_as_the_board_does() {
        let mut view = BoardView::default();
        let mut seq = 0;
        fold(
            &mut view,
            &mut seq,
            Event::RunStarted {
                run_id: "r".into(),
                goal: "g".into(),
                mode: Mode::Plain,
                model: "m".into(),
                agents: 0,
                verify: VerifyMode::Evidence,
                budgets: Default::default(),
                coordination: Default::default(),
                endpoint: None,
            },
        );
        for t in ["T1", "T2"] {
            fold(
                &mut view,
                &mut seq,
                Event::TaskAdded {
                    task: t.into(),
                    title: t.into(),
                    detail: String::new(),
                    origin: Origin::Initial,
                },
            );
        }
        for (t, a) in [("T1", "w1.a1"), ("T2", "w1.a2")] {
            fold(
                &mut view,
                &mut seq,
                Event::TaskClaimed {
                    task: t.into(),
                    agent: a.into(),
                    attempt: 1,
                },
            );
        }
        let run = CancellationToken::new();
        let claims = Claims::default();
        let claim = |t: &str| Claim::Task {
            task: t.into(),
            attempt: 1,
        };
        let r1 = claims.grant("w1.a1", claim("T1"), &view, &run);
        let r2 = claims.grant("w1.a2", claim("T2"), &view, &run);
        let stale = claims.grant(
            "w1.a3",
            Claim::Task {
                task: "T1".into(),
                attempt: 1,
            },
            &view,
            &run,
        );
        assert!(
            stale.is_revoked(),
            "a claim the fold shows held by another is lost at once"
        );
        assert!(!r1.is_revoked() && !r2.is_revoked());
        let expired = fold(
            &mut view,
            &mut seq,
            Event::ClaimExpired {
                task: "T1".into(),
                agent: "w1.a1".into(),
                attempt: 1,
            },
        );
        let requeued = fold(
            &mut view,
            &mut seq,
            Event::TaskRequeued {
                task: "T1".into(),
                by: "lease".into(),
                note: None,
            },
        );
        claims.revoke(&view, &[expired, requeued]);
        assert!(r1.is_revoked(), "the expired claim is revoked");
        assert!(!r2.is_revoked(), "the other claim is not");
        assert_eq!(claims.holders(), vec!["w1.a2".to_string()]);

        // The finaliser keeps its turn when it adds tasks itself, not when others do.
        let fin = Claim::Finalise { round: 1 };
        let own = Event::TaskAdded {
            task: "T3".into(),
            title: "t".into(),
            detail: String::new(),
            origin: Origin::Agent {
                agent: "w2.a1".into(),
            },
        };
        assert!(!revokes(&own, "w2.a1", &fin));
        assert!(revokes(&own, "w3.a1", &fin));
        assert!(revokes(
            &Event::TaskRequeued {
                task: "T1".into(),
                by: "human".into(),
                note: None
            },
            "w2.a1",
            &fin
        ));
    }
}
