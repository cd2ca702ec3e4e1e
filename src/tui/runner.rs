//! The event loop: one `select!` over terminal input, engine events, stream deltas, a
//! replay clock, signals and a draw deadline. Redraws are coalesced to at most one per
//! frame interval while events pour in, and none happen while nothing changes.

use super::app::{AppState, Command};
use super::attention;
use super::clipboard::copy_to_clipboard;
use super::input::handle_event;
use super::terminal::{TerminalGuard, stop_self};
use super::update::{clock_running, play_tick};
use crate::engine::{EngineClient, StreamDelta};
use crate::event::{AgentStatus, Envelope};
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::Instant;

/// ~30 frames per second at most.
const FRAME: Duration = Duration::from_millis(33);
/// How long a footer message stays.
const FLASH_FOR: Duration = Duration::from_secs(4);

/// How the UI ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TuiExit {
    /// The user quit.
    Quit,
    /// A termination signal (SIGTERM, SIGHUP, SIGINT) arrived; the terminal is restored.
    Signal(i32),
}

/// The engine side of a live session.
pub(crate) struct EngineLink {
    pub client: Arc<dyn EngineClient>,
    events: Option<broadcast::Receiver<Envelope>>,
    deltas: Option<broadcast::Receiver<StreamDelta>>,
}

impl EngineLink {
    /// Subscribe first, then fold the history, so no event falls between the two.
    pub fn attach(client: Arc<dyn EngineClient>, state: &mut AppState) -> Self {
        let events = client.subscribe();
        let deltas = client.subscribe_deltas();
        for env in client.events_since(0) {
            state.apply(&env);
        }
        EngineLink {
            client,
            events: Some(events),
            deltas: Some(deltas),
        }
    }
}

async fn recv_opt<T: Clone>(rx: &mut Option<broadcast::Receiver<T>>) -> Result<T, RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Termination, suspend and continue signals, as a stream of raw signal numbers.
struct Signals {
    #[cfg(unix)]
    streams: Vec<(i32, tokio::signal::unix::Signal)>,
}

impl Signals {
    fn listen() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let wanted = [
                libc::SIGTERM,
                libc::SIGHUP,
                libc::SIGINT,
                libc::SIGTSTP,
                libc::SIGCONT,
            ];
            let streams = wanted
                .into_iter()
                .filter_map(|n| signal(SignalKind::from_raw(n)).ok().map(|s| (n, s)))
                .collect();
            Signals { streams }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    async fn next(&mut self) -> i32 {
        #[cfg(unix)]
        {
            if self.streams.is_empty() {
                return std::future::pending().await;
            }
            let waits = self
                .streams
                .iter_mut()
                .map(|(n, s)| Box::pin(async move { s.recv().await.map(|_| *n) }));
            match futures_util::future::select_all(waits).await.0 {
                Some(n) => n,
                None => std::future::pending().await,
            }
        }
        #[cfg(not(unix))]
        std::future::pending().await
    }
}

pub(crate) async fn run(state: &mut AppState, link: Option<EngineLink>) -> anyhow::Result<TuiExit> {
    let (client, mut events, mut deltas) = match link {
        Some(l) => (Some(l.client), l.events, l.deltas),
        None => (None, None, None),
    };
    let mut guard = TerminalGuard::enter()?;
    let size = guard.terminal.size()?;
    state.resize(size.width, size.height);
    let mut input = crossterm::event::EventStream::new();
    let mut signals = Signals::listen();
    let mut dirty = true;
    let mut last_draw: Option<Instant> = None;
    let mut next_play: Option<Instant> = None;
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);

    loop {
        if dirty && last_draw.is_none_or(|t| t.elapsed() >= FRAME) {
            if !state.is_replay() {
                state.now = Some(time::OffsetDateTime::now_utc());
                let mut attention = std::mem::take(&mut state.attention);
                let seq = attention.update(&attention::snapshot(state));
                state.attention = attention;
                if !seq.is_empty() {
                    guard.write_raw(&seq);
                }
            }
            state.refresh_if_stale();
            state.load_sources();
            guard.terminal.draw(|frame| super::ui::draw(frame, state))?;
            last_draw = Some(Instant::now());
            dirty = false;
        }
        let draw_at = if dirty {
            last_draw.map(|t| t + FRAME)
        } else {
            None
        };
        let playing = state.timeline().is_some_and(|t| t.playing);
        if playing && next_play.is_none() {
            let delay = state.timeline().map_or(FRAME, |t| t.next_delay(&state.log));
            next_play = Some(Instant::now() + delay);
        } else if !playing {
            next_play = None;
        }
        let needs_clock = clock_running(state)
            || state.flash.is_some()
            || state
                .run()
                .agents
                .values()
                .any(|a| a.status == AgentStatus::Retrying);

        tokio::select! {
            maybe = input.next() => match maybe {
                Some(Ok(event)) => {
                    let commands = handle_event(state, &event);
                    if execute(state, &mut guard, client.as_deref(), commands)? {
                        return Ok(TuiExit::Quit);
                    }
                    dirty = true;
                }
                Some(Err(e)) => return Err(anyhow::anyhow!("reading the terminal failed: {e}")),
                None => return Ok(TuiExit::Quit),
            },
            signal = signals.next() => {
                match signal {
                    #[cfg(unix)]
                    libc::SIGTSTP => suspend(&mut guard)?,
                    #[cfg(unix)]
                    libc::SIGCONT => guard.reclaim()?,
                    other => {
                        drop(guard);
                        return Ok(TuiExit::Signal(other));
                    }
                }
                dirty = true;
            },
            received = recv_opt(&mut events) => {
                match received {
                    Ok(env) => state.apply(&env),
                    Err(RecvError::Lagged(missed)) => {
                        tracing::debug!(missed, "ui lagged behind the engine; resynchronising");
                        resync(state, client.as_deref());
                    }
                    Err(RecvError::Closed) => {
                        resync(state, client.as_deref());
                        events = None;
                        state.engine_closed();
                    }
                }
                dirty = true;
            },
            delta = recv_opt(&mut deltas) => {
                match delta {
                    Ok(delta) => {
                        state.push_delta(&delta);
                        dirty = true;
                    }
                    // Deltas are display-only and lossy by design; finished messages are events.
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => deltas = None,
                }
            },
            _ = sleep_until_opt(draw_at) => {},
            _ = sleep_until_opt(next_play) => {
                play_tick(state);
                next_play = None;
                dirty = true;
            },
            _ = clock.tick(), if needs_clock => {
                if state.flash.as_ref().is_some_and(|f| f.since.elapsed() >= FLASH_FOR) {
                    state.flash = None;
                }
                if let Some(client) = &client
                    && client.is_finished()
                {
                    resync(state, Some(client.as_ref()));
                    if state.run().phase != crate::event::Phase::Done {
                        state.engine_closed();
                    }
                }
                dirty = true;
            },
        }
    }
}

/// Fold every logged event the state has not seen (after a lag, or at the end).
fn resync(state: &mut AppState, client: Option<&dyn EngineClient>) {
    if let Some(client) = client {
        for env in client.events_since(state.run().last_seq) {
            state.apply(&env);
        }
    }
}

fn suspend(guard: &mut TerminalGuard) -> anyhow::Result<()> {
    guard.hand_over(stop_self)
}

/// Run a blocking program with the terminal handed over, without stalling other tasks of
/// the runtime (the engine keeps working meanwhile).
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

/// Carry out commands; returns true when the UI should exit.
fn execute(
    state: &mut AppState,
    guard: &mut TerminalGuard,
    client: Option<&dyn EngineClient>,
    commands: Vec<Command>,
) -> anyhow::Result<bool> {
    for command in commands {
        match command {
            Command::Quit => return Ok(true),
            Command::Engine(control) => match client {
                Some(client) => client.control(control),
                None => state.flash_error("replay is read-only"),
            },
            Command::Copy { what, text } => {
                match copy_to_clipboard(guard.terminal.backend_mut(), &text) {
                    Ok(()) => state.flash(format!("copied {what} to the clipboard (OSC 52)")),
                    Err(e) => state.flash_error(format!("copy failed: {e}")),
                }
            }
            Command::OpenEditor(at) => {
                let editor = super::editor::editor_from_env();
                let Some(mut cmd) = super::editor::command_for(&editor, &at) else {
                    state.flash_error("set $EDITOR to open files");
                    continue;
                };
                let status = guard.hand_over(|| blocking(|| cmd.status()))?;
                match status {
                    Ok(s) if s.success() => state.flash(format!("back from {}", editor[0])),
                    Ok(s) => state.flash_error(format!("{} exited with {s}", editor[0])),
                    Err(e) => state.flash_error(format!(
                        "cannot start `{}` ({e}); set $VISUAL or $EDITOR",
                        editor.join(" ")
                    )),
                }
            }
            Command::Export { path, text } => match std::fs::write(&path, text) {
                Ok(()) => {
                    let shown = std::fs::canonicalize(&path).unwrap_or(path);
                    state.flash(format!("exported the run to {}", shown.display()));
                }
                Err(e) => state.flash_error(format!("cannot write {}: {e}", path.display())),
            },
            Command::Suspend => suspend(guard)?,
        }
    }
    Ok(false)
}
