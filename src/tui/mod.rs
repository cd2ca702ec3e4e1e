//! The terminal UI: watch and steer a live swarm, or replay a recorded session.
//!
//! Shape (after codex-rs/tui, gitui, television and yazi):
//! - keys and mouse become [`Action`]s through a TOML [`Keymap`] (defaults embedded, the
//!   user's `keymap.toml` merged over them);
//! - [`update`] applies an action to the [`AppState`] and returns [`Command`]s (engine
//!   controls, clipboard copies, quit) for the runner to carry out;
//! - engine [`Envelope`](crate::event::Envelope)s are folded with the same reducer the
//!   engine uses, so live and replayed views agree;
//! - [`draw`] is a pure function of the state.

mod action;
mod app;
mod clipboard;
mod context_tree;
mod fold;
mod hints;
mod keymap;
mod layout;
mod replay;
mod runner;
mod source;
mod stream;
mod terminal;
mod theme;
mod ui;
mod update;

pub use action::Action;
pub use app::{AppState, Command, Popup, Subject};
pub use clipboard::osc52_sequence;
pub use context_tree::{Grouping, NodeId};
pub use fold::{TranscriptEntry, UiFold};
pub use keymap::{KeyBinding, Keymap};
pub use layout::Pane;
pub use theme::{Theme, builtin_theme_names};
pub use ui::draw;
pub use update::{handle_event, handle_key, update};

use crate::engine::EngineClient;
use crate::event::Envelope;
use std::path::PathBuf;

/// How the UI looks; from the command line and the config.
#[derive(Debug, Clone, Default)]
pub struct TuiOptions {
    /// A theme name (`dark`, `light`, `high-contrast`, or one in `<config>/themes/`) or a
    /// path to a theme file.
    pub theme: Option<String>,
    /// Monochrome output (also when the `NO_COLOR` environment variable is set).
    pub no_color: bool,
    /// Where `keymap.toml` and `themes/` are looked up.
    pub config_dir: Option<PathBuf>,
}

impl TuiOptions {
    /// Check the keymap and theme load, so a typo is reported before a run starts.
    pub fn check(&self) -> anyhow::Result<()> {
        self.load().map(|_| ())
    }

    /// Load the keymap and theme, with errors that name the file and the fix.
    fn load(&self) -> anyhow::Result<(Keymap, Theme)> {
        let keymap = Keymap::load(self.config_dir.as_deref())?;
        let theme = Theme::resolve(
            self.theme.as_deref(),
            self.config_dir.as_deref(),
            self.no_color,
        )?;
        Ok((keymap, theme))
    }
}

/// Watch and steer a live run. Returns when the user quits (after confirming while the run
/// is still going); the caller stops the engine, whose session log is safe either way.
pub async fn run_live(
    handle: std::sync::Arc<dyn EngineClient>,
    opts: TuiOptions,
) -> anyhow::Result<()> {
    let (keymap, theme) = opts.load()?;
    let mut state = AppState::live(keymap, theme);
    let link = runner::EngineLink::attach(handle, &mut state);
    runner::run(&mut state, Some(link)).await
}

/// Browse a recorded session read-only, with a timeline (←/→ step, [ ] jump between task and
/// point events, space plays, Home/End).
pub async fn run_replay(events: Vec<Envelope>, opts: TuiOptions) -> anyhow::Result<()> {
    let (keymap, theme) = opts.load()?;
    let mut state = AppState::replay(events, keymap, theme);
    runner::run(&mut state, None).await
}
