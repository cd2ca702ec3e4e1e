//! How a participant talks to the board: the [`BoardClient`] trait, and its in-process
//! implementation over channels. Agents use only this: they never hold a channel, a
//! `Notify` or a cancellation token of the board's. A remote board (NATS) implements the
//! same trait by carrying the same protocol requests over the network and folding the
//! event stream into a local view.

use super::StreamDelta;
use super::protocol::{Claim, Reply, Request, RequestEnvelope};
use super::store::SharedView;
use futures_util::future::BoxFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{Notify, broadcast, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

/// A claim's revocation, seen by its holder: the board re-enqueued or cancelled the task,
/// the claim's lease expired, the finalise turn was interrupted, or the run ended.
#[derive(Debug, Clone, Default)]
pub struct Revocation(CancellationToken);

impl Revocation {
    pub fn new(token: CancellationToken) -> Self {
        Revocation(token)
    }
    pub fn is_revoked(&self) -> bool {
        self.0.is_cancelled()
    }
    /// Resolves when the claim is revoked.
    pub async fn revoked(&self) {
        self.0.cancelled().await
    }
    /// A token that fires with the revocation, for calls that take one (a model call).
    pub fn token(&self) -> CancellationToken {
        self.0.clone()
    }
}

/// What a participant waits on: the swarm's pause, a change that may turn a "wait" into
/// work, a newly queued task, and the end of the run. Fed by the board in process, or by a
/// follower of the event stream remotely.
#[derive(Clone)]
pub struct Signals {
    paused: watch::Receiver<bool>,
    changed: watch::Receiver<u64>,
    /// One permit per queued task: wakes one waiting participant to claim it (waking every
    /// idle agent for each `add_task` cost a claim round trip per idle agent per task).
    work: Arc<Notify>,
    over: CancellationToken,
}

/// The board's side of [`Signals`].
pub struct SignalSource {
    paused: watch::Sender<bool>,
    changed: watch::Sender<u64>,
    work: Arc<Notify>,
    over: CancellationToken,
}

impl SignalSource {
    pub fn new() -> (SignalSource, Signals) {
        let (paused, paused_rx) = watch::channel(false);
        let (changed, changed_rx) = watch::channel(0);
        let work = Arc::new(Notify::new());
        let over = CancellationToken::new();
        let signals = Signals {
            paused: paused_rx,
            changed: changed_rx,
            work: work.clone(),
            over: over.clone(),
        };
        (
            SignalSource {
                paused,
                changed,
                work,
                over,
            },
            signals,
        )
    }
    pub fn set_paused(&self, paused: bool) {
        self.paused
            .send_if_modified(|p| std::mem::replace(p, paused) != paused);
    }
    pub fn wake_all(&self) {
        self.changed.send_modify(|n| *n += 1);
    }
    pub fn wake_one(&self) {
        self.work.notify_one();
    }
    pub fn end(&self) {
        self.over.cancel();
        self.wake_all();
    }
    /// A token cancelled with the run (parent of every claim's revocation).
    pub fn run_token(&self) -> &CancellationToken {
        &self.over
    }
}

/// A snapshot of the change counter, taken before asking for work, so a change that lands
/// between the answer and the wait is not missed.
pub struct ChangeWatch(watch::Receiver<u64>);

impl Signals {
    pub fn is_paused(&self) -> bool {
        *self.paused.borrow()
    }
    pub fn is_over(&self) -> bool {
        self.over.is_cancelled()
    }
    pub async fn over(&self) {
        self.over.cancelled().await
    }

    /// A step boundary: return at once when not paused, else wait for the resume. `Err`
    /// when the claim is revoked (or the run ends) first.
    pub async fn unpaused(&self, claim: Option<&Revocation>) -> Result<(), ()> {
        let revoked = || claim.is_some_and(Revocation::is_revoked) || self.is_over();
        if !self.is_paused() {
            return if revoked() { Err(()) } else { Ok(()) };
        }
        let mut paused = self.paused.clone();
        while *paused.borrow_and_update() {
            let claim_revoked = async {
                match claim {
                    Some(c) => c.revoked().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = paused.changed() => if r.is_err() { return Err(()) },
                _ = claim_revoked => return Err(()),
                _ = self.over.cancelled() => return Err(()),
            }
        }
        if revoked() { Err(()) } else { Ok(()) }
    }

    pub fn watch_changes(&self) -> ChangeWatch {
        let mut rx = self.changed.clone();
        rx.borrow_and_update();
        ChangeWatch(rx)
    }

    /// After a "wait": until something changed since `watch` was taken, a task is queued
    /// (when the waiter takes work), or the run ends. `false` when the run ended.
    pub async fn wait_for_change(&self, mut watch: ChangeWatch, takes_work: bool) -> bool {
        tokio::select! {
            r = watch.0.changed() => r.is_ok() && !self.is_over(),
            _ = self.work.notified(), if takes_work => !self.is_over(),
            _ = self.over.cancelled() => false,
        }
    }
}

/// What a participant uses to take part in a run.
pub trait BoardClient: Send + Sync {
    /// The participant's id on the board (`a3`, `x1-…`, `w2.a3`).
    fn agent(&self) -> &str;
    /// Send a request and wait for the reply; `None` when the board is gone. A reply that
    /// grants a claim comes with that claim's revocation signal.
    fn send(&self, request: Request) -> BoxFuture<'_, Option<(Reply, Option<Revocation>)>>;
    /// Send a request whose reply does not matter (reports): never waits for the board.
    fn notify(&self, request: Request);
    /// The folded state of the run, as far as this participant has seen it.
    fn view(&self) -> &SharedView;
    fn signals(&self) -> &Signals;
    /// Streamed model text for the UI (lossy, display only).
    fn stream(&self, _text: &str) {}
    /// Whether anyone watches the stream (to skip building deltas nobody reads).
    fn streaming(&self) -> bool {
        false
    }
}

/// A request as the board's inbox receives it.
pub struct Inbound {
    pub envelope: RequestEnvelope,
    /// Where the reply goes; `None` for a notification.
    pub reply: Option<oneshot::Sender<InboundReply>>,
    /// The sender wants a revocation token with a granted claim (in-process participants).
    pub wants_token: bool,
}

pub struct InboundReply {
    pub reply: Reply,
    pub revocation: Option<Revocation>,
}

/// A participant in the board's own process.
pub struct InProcessClient {
    agent: String,
    next_id: AtomicU64,
    inbox: mpsc::UnboundedSender<Inbound>,
    view: SharedView,
    signals: Signals,
    deltas: broadcast::Sender<StreamDelta>,
}

impl InProcessClient {
    pub fn new(
        agent: String,
        inbox: mpsc::UnboundedSender<Inbound>,
        view: SharedView,
        signals: Signals,
        deltas: broadcast::Sender<StreamDelta>,
    ) -> Self {
        InProcessClient {
            agent,
            next_id: AtomicU64::new(1),
            inbox,
            view,
            signals,
            deltas,
        }
    }

    fn envelope(&self, request: Request) -> RequestEnvelope {
        RequestEnvelope {
            agent: self.agent.clone(),
            id: self.next_request_id(),
            request,
        }
    }

    /// A fresh request id of this client (ids are unique per participant).
    pub fn next_request_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// [`BoardClient::send`] under an id the caller chose, for transports whose clients
    /// retry (MCP): a request sent again with the same id gets the first reply and is
    /// applied once. Take ids from [`InProcessClient::next_request_id`], so they never
    /// collide with this client's own.
    pub fn send_with_id(
        &self,
        id: u64,
        request: Request,
    ) -> BoxFuture<'_, Option<(Reply, Option<Revocation>)>> {
        let envelope = RequestEnvelope {
            agent: self.agent.clone(),
            id,
            request,
        };
        let (tx, rx) = oneshot::channel();
        let sent = self.inbox.send(Inbound {
            envelope,
            reply: Some(tx),
            wants_token: true,
        });
        Box::pin(async move {
            sent.ok()?;
            let r = rx.await.ok()?;
            Some((r.reply, r.revocation))
        })
    }
}

impl BoardClient for InProcessClient {
    fn agent(&self) -> &str {
        &self.agent
    }

    fn send(&self, request: Request) -> BoxFuture<'_, Option<(Reply, Option<Revocation>)>> {
        self.send_with_id(self.next_request_id(), request)
    }

    fn notify(&self, request: Request) {
        let _ = self.inbox.send(Inbound {
            envelope: self.envelope(request),
            reply: None,
            wants_token: false,
        });
    }

    fn view(&self) -> &SharedView {
        &self.view
    }

    fn signals(&self) -> &Signals {
        &self.signals
    }

    fn stream(&self, text: &str) {
        if self.deltas.receiver_count() > 0 {
            let _ = self.deltas.send(StreamDelta {
                agent: self.agent.clone(),
                text: text.to_string(),
            });
        }
    }

    fn streaming(&self) -> bool {
        self.deltas.receiver_count() > 0
    }
}

/// The claim a reply grants, if any.
pub fn granted_claim(reply: &Reply) -> Option<&Claim> {
    use super::protocol::ClaimReply;
    match reply {
        Reply::Claim(ClaimReply::Task { claim, .. } | ClaimReply::Finalise { claim, .. }) => {
            Some(claim)
        }
        _ => None,
    }
}
