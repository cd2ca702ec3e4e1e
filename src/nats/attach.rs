//! A run that lives elsewhere, as a front end sees it: [`RemoteEngine`] implements
//! [`EngineClient`] by mirroring the run's stream and sending controls to its board, so
//! the TUI and the headless printer work on it exactly as on a run in this process.

use super::mirror::Mirror;
use super::names::RunNames;
use super::url::{BoardUrl, NatsAuth};
use super::wire::{self, ControlAck};
use crate::engine::protocol::Control;
use crate::engine::{EngineClient, StreamDelta};
use crate::event::Envelope;
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// How long a control may wait for the board to acknowledge it.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(10);

pub struct RemoteEngine {
    mirror: Mirror,
    client: async_nats::Client,
    names: RunNames,
    /// Streamed model text does not travel over NATS (display only, high rate): an
    /// attached terminal shows finished messages, not deltas.
    deltas: broadcast::Sender<StreamDelta>,
}

impl RemoteEngine {
    /// Attach to the run `url` names, or the only live run on that board.
    pub async fn attach(url: &BoardUrl, auth: &NatsAuth) -> Result<RemoteEngine, String> {
        let client = super::url::connect(url, auth, "delm attach").await?;
        let js = async_nats::jetstream::new(client.clone());
        let run = super::runs::pick(&js, &url.display(), url.run.as_deref(), "attach").await?;
        let names = RunNames::new(&run)?;
        let mirror = Mirror::start(js, names.clone(), None);
        let (deltas, _) = broadcast::channel(16);
        Ok(RemoteEngine {
            mirror,
            client,
            names,
            deltas,
        })
    }

    pub fn run_id(&self) -> &str {
        &self.names.run
    }

    /// Send a control and wait for the board to take it.
    pub async fn send_control(&self, control: &Control) -> Result<(), String> {
        send_control(&self.client, self.names.controls(), control).await
    }
}

async fn send_control(
    client: &async_nats::Client,
    subject: String,
    control: &Control,
) -> Result<(), String> {
    let reply = tokio::time::timeout(
        CONTROL_TIMEOUT,
        client.request(subject, wire::encode(control)),
    )
    .await
    .map_err(|_| "the board did not answer the control in time".to_string())?
    .map_err(|e| format!("the board did not take the control: {e}"))?;
    let ack: ControlAck = wire::decode(&reply.payload, 4096)?;
    if ack.ok {
        Ok(())
    } else {
        Err(ack.reason.unwrap_or_else(|| "refused".into()))
    }
}

impl EngineClient for RemoteEngine {
    fn control(&self, control: Control) {
        let (client, subject) = (self.client.clone(), self.names.controls());
        tokio::spawn(async move {
            if let Err(why) = send_control(&client, subject, &control).await {
                tracing::warn!(?control, "a control was not taken: {why}");
            }
        });
    }
    fn subscribe(&self) -> broadcast::Receiver<Envelope> {
        self.mirror.subscribe()
    }
    fn subscribe_deltas(&self) -> broadcast::Receiver<StreamDelta> {
        self.deltas.subscribe()
    }
    fn events_since(&self, after: u64) -> Vec<Envelope> {
        self.mirror.events_since(after)
    }
    fn finished(&self) -> watch::Receiver<bool> {
        self.mirror.finished()
    }
}

/// Print the run as `--headless` does (progress on stderr; with `json` its events as JSONL
/// on stdout) from its first event until it finishes or `stop` fires; the state reached.
pub async fn follow_headless(
    engine: &RemoteEngine,
    json: bool,
    stop: impl std::future::Future<Output = ()>,
) -> crate::event::RunState {
    use crate::engine::EventSink;
    use crate::sinks::{JsonLines, Story, Tee};
    use tokio::sync::broadcast::error::RecvError;
    let mut sinks: Vec<Box<dyn EventSink>> = vec![Box::new(Story::new(std::io::stderr()))];
    if json {
        sinks.push(Box::new(JsonLines(std::io::stdout())));
    }
    let mut out = Tee(sinks);
    let mut state = crate::event::RunState::default();
    let mut feed = |envs: Vec<Envelope>, state: &mut crate::event::RunState| {
        for env in envs {
            if env.seq <= state.last_seq {
                continue;
            }
            // A closed stdout (`| head`) must not stop the follower from reaching the end.
            let _ = out.write(&env);
            state.apply(&env);
        }
    };
    let mut events = engine.subscribe();
    feed(engine.events_since(0), &mut state);
    tokio::pin!(stop);
    while state.answer.is_none() {
        tokio::select! {
            received = events.recv() => match received {
                Ok(env) => feed(vec![env], &mut state),
                Err(RecvError::Lagged(_)) => feed(engine.events_since(state.last_seq), &mut state),
                Err(RecvError::Closed) => break,
            },
            _ = &mut stop => break,
        }
    }
    let _ = out.sync();
    state
}
