//! The terminal UI: watch and steer a live swarm, or replay a recorded session.
//!
//! Shape (after codex-rs/tui, gitui, television and yazi):
//! - keys and mouse become [`Action`]s through a TOML [`Keymap`] of layers (a prompt or
//!   popup over the focused pane over replay over global; defaults embedded, the user's
//!   `keymap.toml` merged over them), and the footer and help come from the same tables;
//! - [`update`] applies an action to the [`AppState`] and returns [`Command`]s (engine
//!   controls, clipboard copies, the editor, quit) for the runner to carry out;
//! - engine [`Envelope`]s are folded with the same reducer the engine uses, so live and
//!   replayed views agree; the event log is kept beside the fold for views of history
//!   (transcripts, the events pane, sparklines, the scrubber);
//! - [`draw`] is a pure function of the state.
//!
//! The engine is reached through [`EngineClient`] only, so the UI can attach to a run that
//! lives in another process as easily as to one in this process.

mod action;
mod app;
mod attention;
mod clipboard;
mod command;
mod context_tree;
mod copy;
mod display;
mod editor;
mod export;
mod fold;
mod hints;
mod input;
mod keymap;
mod layout;
mod log;
mod markdown;
mod remember;
mod replay;
mod runner;
mod search;
mod source;
mod stream;
mod terminal;
mod theme;
mod transcript;
mod ui;
mod update;

pub use action::Action;
pub use app::{AppState, Command, Popup, Prompt, PromptKind, Subject};
pub use attention::Notify;
pub use clipboard::osc52_sequence;
pub use context_tree::{Grouping, NodeId};
pub use display::{RunDisplayState, display_state};
pub use fold::UiFold;
pub use hints::keys_markdown;
pub use input::{handle_event, handle_key};
pub use keymap::{KeyBinding, Keymap, Layer};
pub use layout::Pane;
pub use log::EventKind;
pub use runner::TuiExit;
pub use search::View;
pub use theme::{Theme, builtin_theme_names};
pub use transcript::TranscriptEntry;
pub use ui::draw;
pub use update::update;

use crate::engine::EngineClient;
use crate::event::{Envelope, RunState};
use std::path::PathBuf;
use std::sync::Arc;

/// How the UI looks and behaves; from the command line and the config.
#[derive(Debug, Clone, Default)]
pub struct TuiOptions {
    /// A theme name (`dark`, `light`, `high-contrast`, or one in `<config>/themes/`) or a
    /// path to a theme file.
    pub theme: Option<String>,
    /// Monochrome output (also when the `NO_COLOR` environment variable is set).
    pub no_color: bool,
    /// Where `keymap.toml` and `themes/` are looked up.
    pub config_dir: Option<PathBuf>,
    /// `notify` from the config: `auto` (default), `always` or `never`.
    pub notify: Option<String>,
}

impl TuiOptions {
    /// Check the keymap, theme and notify setting load, so a typo is reported before a run
    /// starts.
    pub fn check(&self) -> anyhow::Result<()> {
        self.load().map(|_| ())
    }

    /// Load the keymap and theme, with errors that name the file and the fix.
    fn load(&self) -> anyhow::Result<(Keymap, Theme, Notify)> {
        let keymap = Keymap::load(self.config_dir.as_deref())?;
        let theme = Theme::resolve(
            self.theme.as_deref(),
            self.config_dir.as_deref(),
            self.no_color,
        )?;
        let notify = match &self.notify {
            Some(value) => {
                Notify::parse(value).map_err(|e| anyhow::anyhow!("{e} (config.toml)"))?
            }
            None => Notify::Auto,
        };
        Ok((keymap, theme, notify))
    }

    fn state(&self, state: AppState) -> anyhow::Result<AppState> {
        let (keymap, theme, notify) = self.load()?;
        let mut state = state;
        state.keymap = keymap;
        state.theme = theme;
        state.config_dir = self.config_dir.clone();
        state.attention = attention::Attention::new(notify);
        Ok(state)
    }
}

/// Watch and steer a live run. Returns when the user quits (after confirming while the run
/// is still going) or a termination signal arrives; the caller stops or detaches the
/// engine, whose session log is safe either way.
pub async fn run_live(client: Arc<dyn EngineClient>, opts: TuiOptions) -> anyhow::Result<TuiExit> {
    let mut state = opts.state(AppState::live(Keymap::default(), Theme::default()))?;
    let link = runner::EngineLink::attach(client, &mut state);
    runner::run(&mut state, Some(link)).await
}

/// Browse a recorded session read-only, with a timeline. It opens where the user left it
/// last time (kept per run in the data dir), or at the start.
pub async fn run_replay(events: Vec<Envelope>, opts: TuiOptions) -> anyhow::Result<TuiExit> {
    let run_id = RunState::from_events(events.iter().take(1)).run_id;
    let mut state = opts.state(AppState::replay(
        events,
        Keymap::default(),
        Theme::default(),
    ))?;
    let data_dir = crate::session::data_dir();
    let layers = [Layer::Replay];
    let key = |state: &AppState, a: Action| state.keymap.hint_key(a, &layers).unwrap_or_default();
    if let Some(dir) = &data_dir
        && let Some(position) = remember::load(dir, &run_id)
    {
        state.seek_to(position, false);
        let home = key(&state, Action::JumpStart);
        state.flash(format!(
            "back where you left this run: event {position} ({home} goes to the start)"
        ));
    } else {
        let hint = format!(
            "replay from the start: {} plays, {} steps, {} plays in real time",
            key(&state, Action::PlayPause),
            key(&state, Action::StepForward),
            key(&state, Action::PlayMode)
        );
        state.flash(hint);
    }
    let exit = runner::run(&mut state, None).await;
    if let (Some(dir), Some(t)) = (&data_dir, state.timeline()) {
        remember::save(dir, &run_id, t.position());
    }
    exit
}
