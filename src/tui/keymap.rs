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

/// A keymap section. Input goes to the top layer first (yazi-style): an open popup's layer,
/// else the focused pane's, then the replay timeline's while replaying, then the global one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    Global,
    Replay,
    Queue,
    Agents,
    Context,
    Detail,
    Events,
    Patches,
    Help,
    Answer,
    Editor,
    Note,
    Filter,
    Search,
    Command,
    Confirm,
}

impl Layer {
    pub const ALL: [Layer; 16] = [
        Layer::Global,
        Layer::Replay,
        Layer::Queue,
        Layer::Agents,
        Layer::Context,
        Layer::Detail,
        Layer::Events,
        Layer::Patches,
        Layer::Help,
        Layer::Answer,
        Layer::Editor,
        Layer::Note,
        Layer::Filter,
        Layer::Search,
        Layer::Command,
        Layer::Confirm,
    ];

    /// The section name in `keymap.toml`.
    pub fn name(self) -> &'static str {
        match self {
            Layer::Global => "global",
            Layer::Replay => "replay",
            Layer::Queue => "queue",
            Layer::Agents => "agents",
            Layer::Context => "context",
            Layer::Detail => "detail",
            Layer::Events => "events",
            Layer::Patches => "patches",
            Layer::Help => "help",
            Layer::Answer => "answer",
            Layer::Editor => "editor",
            Layer::Note => "note",
            Layer::Filter => "filter",
            Layer::Search => "search",
            Layer::Command => "command",
            Layer::Confirm => "confirm",
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct KeymapFile(BTreeMap<Layer, BTreeMap<Action, Vec<String>>>);

#[derive(Debug, Clone, Default)]
struct Table {
    keys: BTreeMap<Action, Vec<KeyBinding>>,
    lookup: HashMap<KeyBinding, Action>,
}

/// The effective bindings of every layer.
#[derive(Debug, Clone)]
pub struct Keymap {
    tables: BTreeMap<Layer, Table>,
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
        let mut tables: BTreeMap<Layer, BTreeMap<Action, Vec<KeyBinding>>> = BTreeMap::new();
        for (layer, section) in &defaults.0 {
            tables.insert(*layer, parse_section(*layer, section)?);
        }
        if let Some(user) = user {
            let user: KeymapFile = toml::from_str(user)?;
            for (layer, section) in &user.0 {
                let parsed = parse_section(*layer, section)?;
                merge(tables.entry(*layer).or_default(), parsed);
            }
        }
        let quit = tables
            .get(&Layer::Global)
            .and_then(|t| t.get(&Action::Quit))
            .is_some_and(|keys| !keys.is_empty());
        if !quit {
            bail!("`quit` in [global] has no key left, so delm could not be left; give it one");
        }
        let tables = tables
            .into_iter()
            .map(|(layer, keys)| {
                let lookup = lookup_table(&keys);
                (layer, Table { keys, lookup })
            })
            .collect();
        Ok(Keymap { tables })
    }

    /// The action bound to `key` in the first of `layers` that binds it, with that layer.
    pub fn lookup(&self, layers: &[Layer], key: &KeyEvent) -> Option<(Layer, Action)> {
        let binding = KeyBinding::from_event(key);
        layers.iter().find_map(|layer| {
            self.tables
                .get(layer)
                .and_then(|t| t.lookup.get(&binding))
                .map(|a| (*layer, *a))
        })
    }

    /// The action bound to `key` in `layers`, without the layer.
    pub fn action_in(&self, layers: &[Layer], key: &KeyEvent) -> Option<Action> {
        self.lookup(layers, key).map(|(_, a)| a)
    }

    /// The keys that trigger `action` through the stack `layers` (top first): the keys of the
    /// first layer that declares it, minus keys an earlier layer binds to something else.
    pub fn keys_for(&self, action: Action, layers: &[Layer]) -> Vec<KeyBinding> {
        for (i, layer) in layers.iter().enumerate() {
            let Some(keys) = self.tables.get(layer).and_then(|t| t.keys.get(&action)) else {
                continue;
            };
            let mut out: Vec<KeyBinding> = keys
                .iter()
                .copied()
                .filter(|k| {
                    layers[..i].iter().all(|above| {
                        self.tables
                            .get(above)
                            .and_then(|t| t.lookup.get(k))
                            .is_none_or(|bound| *bound == action)
                    })
                })
                .collect();
            out.dedup();
            return out;
        }
        Vec::new()
    }

    /// The first key of `action` through `layers`, formatted for a hint, if bound.
    pub fn hint_key(&self, action: Action, layers: &[Layer]) -> Option<String> {
        self.keys_for(action, layers).first().map(|k| k.to_string())
    }
}

fn parse_section(
    layer: Layer,
    section: &BTreeMap<Action, Vec<String>>,
) -> anyhow::Result<BTreeMap<Action, Vec<KeyBinding>>> {
    let offered = super::hints::offers(layer);
    let mut out = BTreeMap::new();
    for (action, keys) in section {
        if !offered.contains(action) {
            let names: Vec<String> = offered.iter().map(|a| serde_name(*a)).collect();
            bail!(
                "`{}` is not an action of [{}]; it offers: {}",
                serde_name(*action),
                layer.name(),
                names.join(", ")
            );
        }
        let parsed = keys
            .iter()
            .map(|k| KeyBinding::parse(k))
            .collect::<anyhow::Result<Vec<_>>>()
            .with_context(|| {
                format!(
                    "in the keys of `{}` in [{}]",
                    serde_name(*action),
                    layer.name()
                )
            })?;
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

/// An action's name as written in `keymap.toml`.
pub fn serde_name(action: Action) -> String {
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

    const LIVE: &[Layer] = &[Layer::Queue, Layer::Global];
    const REPLAY: &[Layer] = &[Layer::Queue, Layer::Replay, Layer::Global];

    #[test]
    fn defaults_bind_the_documented_keys() {
        let km = Keymap::default();
        let none = KeyModifiers::NONE;
        assert_eq!(
            km.action_in(LIVE, &key(KeyCode::Char('p'), none)),
            Some(Action::TogglePause)
        );
        assert_eq!(
            km.action_in(LIVE, &key(KeyCode::Char('G'), KeyModifiers::SHIFT)),
            Some(Action::Bottom)
        );
        assert_eq!(
            km.action_in(LIVE, &key(KeyCode::BackTab, KeyModifiers::SHIFT)),
            Some(Action::FocusPrev)
        );
        assert_eq!(
            km.action_in(LIVE, &key(KeyCode::Left, none)),
            Some(Action::Collapse)
        );
        assert_eq!(
            km.action_in(REPLAY, &key(KeyCode::Left, none)),
            Some(Action::StepBack)
        );
        assert_eq!(
            km.action_in(REPLAY, &key(KeyCode::Char('+'), none)),
            Some(Action::Faster)
        );
        // A pane layer sits over the global one: `/` filters a list but searches the detail.
        assert_eq!(
            km.action_in(
                &[Layer::Detail, Layer::Global],
                &key(KeyCode::Char('/'), none)
            ),
            Some(Action::Search)
        );
        assert_eq!(
            km.action_in(LIVE, &key(KeyCode::Char('/'), none)),
            Some(Action::Filter)
        );
    }

    #[test]
    fn user_bindings_replace_and_steal_keys() {
        let km = Keymap::from_toml(DEFAULT_KEYMAP, Some("[global]\nquit = [\"x\"]\n")).unwrap();
        let none = KeyModifiers::NONE;
        assert_eq!(
            km.action_in(LIVE, &key(KeyCode::Char('x'), none)),
            Some(Action::Quit)
        );
        assert_eq!(km.action_in(LIVE, &key(KeyCode::Char('q'), none)), None);
        assert!(km.keys_for(Action::CancelTask, LIVE).is_empty());
        // Popup keys are rebindable the same way.
        let km =
            Keymap::from_toml(DEFAULT_KEYMAP, Some("[editor]\nsubmit = [\"ctrl-d\"]\n")).unwrap();
        assert_eq!(
            km.action_in(
                &[Layer::Editor],
                &key(KeyCode::Char('d'), KeyModifiers::CONTROL)
            ),
            Some(Action::Submit)
        );
        assert_eq!(
            km.hint_key(Action::Submit, &[Layer::Editor]).as_deref(),
            Some("C-d")
        );
    }

    #[test]
    fn hints_hide_keys_shadowed_by_a_layer_above() {
        let km = Keymap::default();
        assert_eq!(km.hint_key(Action::Collapse, LIVE).as_deref(), Some("←"));
        assert_eq!(km.hint_key(Action::Collapse, REPLAY).as_deref(), Some("h"));
        assert_eq!(
            km.hint_key(Action::PlayPause, REPLAY).as_deref(),
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
        let err =
            Keymap::from_toml(DEFAULT_KEYMAP, Some("[confirm]\nzoom = [\"z\"]\n")).unwrap_err();
        assert!(
            format!("{err:#}").contains("not an action of [confirm]"),
            "{err:#}"
        );
        let err = Keymap::from_toml(DEFAULT_KEYMAP, Some("[global]\nquit = []\n")).unwrap_err();
        assert!(format!("{err:#}").contains("could not be left"), "{err:#}");
    }

    #[test]
    fn parse_round_trips_through_display() {
        for (text, shown) in [
            ("ctrl-s", "C-s"),
            ("shift-tab", "S-Tab"),
            ("pagedown", "PgDn"),
            ("space", "Space"),
            ("alt-u", "M-u"),
        ] {
            assert_eq!(KeyBinding::parse(text).unwrap().to_string(), shown);
        }
    }
}
