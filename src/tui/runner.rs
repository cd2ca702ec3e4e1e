//! The event loop: one `select!` over terminal input, engine events, stream deltas, a
//! replay clock and a draw deadline. Redraws are coalesced to at most one per frame
//! interval while events pour in, and none happen while nothing changes.

use super::app::{AppState, Command};
use super::clipboard::copy_to_clipboard;
use super::terminal::TerminalGuard;
use super::update::{clock_running, handle_event, play_tick};
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

/// The engine side of a live session.
pub(crate) struct EngineLink {
    pub handle: Arc<dyn EngineClient>,
    events: Option<broadcast::Receiver<Envelope>>,
    deltas: Option<broadcast::Receiver<StreamDelta>>,
}

impl EngineLink {
    /// Subscribe first, then fold the history, so no event falls between the two.
    pub fn attach(handle: Arc<dyn EngineClient>, state: &mut AppState) -> Self {
        let events = handle.subscribe();
        let deltas = handle.subscribe_deltas();
        for env in handle.events_since(0) {
            state.apply(&env);
        }
        EngineLink {
            handle,
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

pub(crate) async fn run(state: &mut AppState, link: Option<EngineLink>) -> anyhow::Result<()> {
    let (handle, mut events, mut deltas) = match link {
        Some(l) => (Some(l.handle), l.events, l.deltas),
        None => (None, None, None),
    };
    let mut guard = TerminalGuard::enter()?;
    let size = guard.terminal.size()?;
    state.resize(size.width, size.height);
    let mut input = crossterm::event::EventStream::new();
    let mut dirty = true;
    let mut last_draw: Option<Instant> = None;
    let mut next_play: Option<Instant> = None;
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);

    loop {
        if dirty && last_draw.is_none_or(|t| t.elapsed() >= FRAME) {
            if !state.is_replay() {
                state.now = Some(time::OffsetDateTime::now_utc());
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
            next_play = Some(Instant::now() + play_interval(state));
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
                    if execute(state, handle.as_ref(), commands)? {
                        return Ok(());
                    }
                    dirty = true;
                }
                Some(Err(e)) => return Err(anyhow::anyhow!("reading the terminal failed: {e}")),
                None => return Ok(()),
            },
            received = recv_opt(&mut events) => {
                match received {
                    Ok(env) => state.apply(&env),
                    Err(RecvError::Lagged(missed)) => {
                        tracing::debug!(missed, "ui lagged behind the engine; resynchronising");
                        resync(state, handle.as_ref());
                    }
                    Err(RecvError::Closed) => {
                        resync(state, handle.as_ref());
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
                if let Some(handle) = &handle
                    && handle.is_finished()
                {
                    resync(state, Some(handle));
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
fn resync(state: &mut AppState, handle: Option<&Arc<dyn EngineClient>>) {
    if let Some(handle) = handle {
        for env in handle.events_since(state.run().last_seq) {
            state.apply(&env);
        }
    }
}

fn play_interval(state: &AppState) -> Duration {
    let per_second = state.timeline().map_or(4.0, |t| t.events_per_second());
    Duration::from_secs_f64(1.0 / per_second)
}

/// Carry out commands; returns true when the UI should exit.
fn execute(
    state: &mut AppState,
    handle: Option<&Arc<dyn EngineClient>>,
    commands: Vec<Command>,
) -> anyhow::Result<bool> {
    for command in commands {
        match command {
            Command::Quit => return Ok(true),
            Command::Engine(control) => match handle {
                Some(handle) => handle.control(control),
                None => state.flash_error("replay is read-only"),
            },
            Command::Copy { what, text } => {
                match copy_to_clipboard(&mut std::io::stdout(), &text) {
                    Ok(()) => state.flash(format!("copied {what} to the clipboard (OSC 52)")),
                    Err(e) => state.flash_error(format!("copy failed: {e}")),
                }
            }
        }
    }
    Ok(false)
}
