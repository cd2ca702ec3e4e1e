//! Key bindings: TOML sections mapping each [`Action`] to its keys.
//!
//! The defaults are embedded (`keymap.toml` next to this file); a user `keymap.toml` in the
//! config directory is merged over them action by action. The same tables drive key lookup,
//! the footer hints and the help overlay, so what is shown is what is bound.

use super::action::Action;
use anyhow::{Context, bail};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

const DEFAULT_KEYMAP: &str = include_str!("keymap.toml");

/// A key with its modifiers, normalised so that lookups match what terminals send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyBinding {
    pub code: KeyCode,
    pub modifiers: KeyModifiers,
}

impl KeyBinding {
    pub fn new(code: KeyCode, modifiers: KeyModifiers) -> Self {
        // A character already carries its case, and terminals disagree on whether they also
        // report SHIFT for `G` or `+`; BackTab is Shift-Tab by definition.
        let modifiers = match code {
            KeyCode::Char(_) | KeyCode::BackTab => modifiers.difference(KeyModifiers::SHIFT),
            _ => modifiers,
        };
        let modifiers =
            modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        KeyBinding { code, modifiers }
    }

    pub fn from_event(key: &KeyEvent) -> Self {
        KeyBinding::new(key.code, key.modifiers)
    }

    /// Parse `ctrl-s`, `shift-tab`, `pageup`, `G`, `?`, `space`, ...
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let mut modifiers = KeyModifiers::NONE;
        let mut rest = text;
        loop {
            let lower = rest.to_ascii_lowercase();
            let (prefix, m) = if lower.starts_with("ctrl-") {
                ("ctrl-", KeyModifiers::CONTROL)
            } else if lower.starts_with("alt-") {
                ("alt-", KeyModifiers::ALT)
            } else if lower.starts_with("shift-") && rest.len() > "shift-".len() {
                ("shift-", KeyModifiers::SHIFT)
            } else {
                break;
            };
            modifiers |= m;
            rest = &rest[prefix.len()..];
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) => KeyCode::Char(c),
            _ => match rest.to_ascii_lowercase().as_str() {
                "up" => KeyCode::Up,
                "down" => KeyCode::Down,
                "left" => KeyCode::Left,
                "right" => KeyCode::Right,
                "enter" | "return" => KeyCode::Enter,
                "esc" | "escape" => KeyCode::Esc,
                "tab" if modifiers.contains(KeyModifiers::SHIFT) => KeyCode::BackTab,
                "tab" => KeyCode::Tab,
                "backtab" => KeyCode::BackTab,
                "space" => KeyCode::Char(' '),
                "backspace" => KeyCode::Backspace,
                "delete" | "del" => KeyCode::Delete,
                "insert" | "ins" => KeyCode::Insert,
                "home" => KeyCode::Home,
                "end" => KeyCode::End,
                "pageup" | "pgup" => KeyCode::PageUp,
                "pagedown" | "pgdn" | "pgdown" => KeyCode::PageDown,
                f if f.starts_with('f')
                    && f[1..].parse::<u8>().is_ok_and(|n| (1..=24).contains(&n)) =>
                {
                    KeyCode::F(f[1..].parse().unwrap_or(1))
                }
                _ => bail!(
                    "unknown key `{text}`; use a single character or one of: up down left right \
                     enter esc tab shift-tab space backspace delete insert home end pageup \
                     pagedown f1..f24, with optional ctrl-/alt- prefixes"
                ),
            },
        };
        Ok(KeyBinding::new(code, modifiers))
    }
}

impl fmt::Display for KeyBinding {
    /// The compact form shown in hints: `↑`, `C-s`, `S-Tab`, `PgDn`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.modifiers.contains(KeyModifiers::CONTROL) {
            f.write_str("C-")?;
        }
        if self.modifiers.contains(KeyModifiers::ALT) {
            f.write_str("M-")?;
        }
        if self.modifiers.contains(KeyModifiers::SHIFT) {
            f.write_str("S-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("Space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::Enter => f.write_str("Enter"),
            KeyCode::Esc => f.write_str("Esc"),
            KeyCode::Tab => f.write_str("Tab"),
            KeyCode::BackTab => f.write_str("S-Tab"),
            KeyCode::Backspace => f.write_str("Bksp"),
            KeyCode::Delete => f.write_str("Del"),
            KeyCode::Insert => f.write_str("Ins"),
            KeyCode::Home => f.write_str("Home"),
            KeyCode::End => f.write_str("End"),
            KeyCode::PageUp => f.write_str("PgUp"),
            KeyCode::PageDown => f.write_str("PgDn"),
            KeyCode::F(n) => write!(f, "F{n}"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// Which table a lookup uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    Global,
    Replay,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeymapFile {
    #[serde(default)]
    global: BTreeMap<Action, Vec<String>>,
    #[serde(default)]
    replay: BTreeMap<Action, Vec<String>>,
}

/// The effective bindings.
#[derive(Debug, Clone)]
pub struct Keymap {
    global: BTreeMap<Action, Vec<KeyBinding>>,
    replay: BTreeMap<Action, Vec<KeyBinding>>,
    global_lookup: HashMap<KeyBinding, Action>,
    replay_lookup: HashMap<KeyBinding, Action>,
}

impl Default for Keymap {
    fn default() -> Self {
        Keymap::from_toml(DEFAULT_KEYMAP, None).expect("the embedded keymap parses")
    }
}

impl Keymap {
    /// The defaults with `<config_dir>/keymap.toml` merged over them, when that file exists.
    pub fn load(config_dir: Option<&Path>) -> anyhow::Result<Keymap> {
        let Some(path) = config_dir
            .map(|d| d.join("keymap.toml"))
            .filter(|p| p.is_file())
        else {
            return Ok(Keymap::default());
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Keymap::from_toml(DEFAULT_KEYMAP, Some(&text)).with_context(|| {
            format!(
                "invalid key bindings in {}; fix or remove the file (the defaults are listed \
                 in the `?` help)",
                path.display()
            )
        })
    }

    /// Build from the default TOML and an optional user TOML merged over it.
    pub fn from_toml(defaults: &str, user: Option<&str>) -> anyhow::Result<Keymap> {
        let defaults: KeymapFile = toml::from_str(defaults).context("default keymap")?;
        let mut global = parse_section(&defaults.global)?;
        let mut replay = parse_section(&defaults.replay)?;
        if let Some(user) = user {
            let user: KeymapFile = toml::from_str(user)?;
            merge(&mut global, parse_section(&user.global)?);
            merge(&mut replay, parse_section(&user.replay)?);
        }
        let global_lookup = lookup_table(&global);
        let replay_lookup = lookup_table(&replay);
        Ok(Keymap {
            global,
            replay,
            global_lookup,
            replay_lookup,
        })
    }

    /// The action bound to `key`: the replay table first when replaying, then the global one.
    pub fn action_for(&self, key: &KeyEvent, replaying: bool) -> Option<Action> {
        let binding = KeyBinding::from_event(key);
        if replaying && let Some(action) = self.replay_lookup.get(&binding) {
            return Some(*action);
        }
        self.global_lookup.get(&binding).copied()
    }

    /// The keys that trigger `action` in the given mode, in declaration order. Global keys
    /// shadowed by a replay binding of another action are left out while replaying.
    pub fn keys_for(&self, action: Action, replaying: bool) -> Vec<KeyBinding> {
        let mut keys = Vec::new();
        if replaying && let Some(replay_keys) = self.replay.get(&action) {
            keys.extend(replay_keys.iter().copied());
        }
        if let Some(global_keys) = self.global.get(&action) {
            keys.extend(global_keys.iter().copied().filter(|k| {
                !replaying
                    || self
                        .replay_lookup
                        .get(k)
                        .is_none_or(|bound| *bound == action)
            }));
        }
        keys.dedup();
        keys
    }

    /// The first key of `action` formatted for a hint, if bound.
    pub fn hint_key(&self, action: Action, replaying: bool) -> Option<String> {
        self.keys_for(action, replaying)
            .first()
            .map(|k| k.to_string())
    }

    /// Actions of a layer in declaration order, for the help overlay.
    pub fn layer(&self, layer: Layer) -> impl Iterator<Item = (Action, &[KeyBinding])> {
        let table = match layer {
            Layer::Global => &self.global,
            Layer::Replay => &self.replay,
        };
        table
            .iter()
            .filter(|(_, keys)| !keys.is_empty())
            .map(|(a, keys)| (*a, keys.as_slice()))
    }
}

fn parse_section(
    section: &BTreeMap<Action, Vec<String>>,
) -> anyhow::Result<BTreeMap<Action, Vec<KeyBinding>>> {
    let mut out = BTreeMap::new();
    for (action, keys) in section {
        let parsed = keys
            .iter()
            .map(|k| KeyBinding::parse(k))
            .collect::<anyhow::Result<Vec<_>>>()
            .with_context(|| format!("in the keys of `{}`", serde_name(*action)))?;
        out.insert(*action, parsed);
    }
    Ok(out)
}

/// The user's keys for an action replace the defaults, and are taken from other actions.
fn merge(base: &mut BTreeMap<Action, Vec<KeyBinding>>, user: BTreeMap<Action, Vec<KeyBinding>>) {
    for (action, keys) in &user {
        for (other, other_keys) in base.iter_mut() {
            if other != action {
                other_keys.retain(|k| !keys.contains(k));
            }
        }
    }
    base.extend(user);
}

fn lookup_table(table: &BTreeMap<Action, Vec<KeyBinding>>) -> HashMap<KeyBinding, Action> {
    let mut lookup = HashMap::new();
    for (action, keys) in table {
        for key in keys {
            lookup.entry(*key).or_insert(*action);
        }
    }
    lookup
}

fn serde_name(action: Action) -> String {
    serde_json::to_value(action)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{action:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn defaults_bind_the_documented_keys() {
        let km = Keymap::default();
        let none = KeyModifiers::NONE;
        assert_eq!(
            km.action_for(&key(KeyCode::Char('p'), none), false),
            Some(Action::TogglePause)
        );
        assert_eq!(
            km.action_for(&key(KeyCode::Char('G'), KeyModifiers::SHIFT), false),
            Some(Action::Bottom)
        );
        assert_eq!(
            km.action_for(&key(KeyCode::BackTab, KeyModifiers::SHIFT), false),
            Some(Action::FocusPrev)
        );
        assert_eq!(
            km.action_for(&key(KeyCode::Left, none), false),
            Some(Action::Collapse)
        );
        assert_eq!(
            km.action_for(&key(KeyCode::Left, none), true),
            Some(Action::StepBack)
        );
        assert_eq!(
            km.action_for(&key(KeyCode::Char('+'), none), true),
            Some(Action::Faster)
        );
    }

    #[test]
    fn user_bindings_replace_and_steal_keys() {
        let km = Keymap::from_toml(DEFAULT_KEYMAP, Some("[global]\nquit = [\"x\"]\n")).unwrap();
        let none = KeyModifiers::NONE;
        assert_eq!(
            km.action_for(&key(KeyCode::Char('x'), none), false),
            Some(Action::Quit)
        );
        assert_eq!(km.action_for(&key(KeyCode::Char('q'), none), false), None);
        assert!(km.keys_for(Action::CancelTask, false).is_empty());
    }

    #[test]
    fn hints_hide_keys_shadowed_in_replay() {
        let km = Keymap::default();
        assert_eq!(km.hint_key(Action::Collapse, false).as_deref(), Some("←"));
        assert_eq!(km.hint_key(Action::Collapse, true).as_deref(), Some("h"));
        assert_eq!(
            km.hint_key(Action::PlayPause, true).as_deref(),
            Some("Space")
        );
    }

    #[test]
    fn bad_user_keymap_names_the_problem() {
        let err = Keymap::from_toml(DEFAULT_KEYMAP, Some("[global]\nquit = [\"ctrl-foo\"]\n"))
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("unknown key `ctrl-foo`"),
            "{err:#}"
        );
        let err = Keymap::from_toml(DEFAULT_KEYMAP, Some("[global]\nfly = [\"f\"]\n")).unwrap_err();
        assert!(
            format!("{err:#}").contains("unknown variant `fly`"),
            "{err:#}"
        );
    }

    #[test]
    fn parse_round_trips_through_display() {
        for (text, shown) in [
            ("ctrl-s", "C-s"),
            ("shift-tab", "S-Tab"),
            ("pagedown", "PgDn"),
            ("space", "Space"),
        ] {
            assert_eq!(KeyBinding::parse(text).unwrap().to_string(), shown);
        }
    }
}
