//! Colour themes: TOML files mapping role names to colours.
//!
//! Three themes ship embedded (`dark`, the default, `light`, `high-contrast`). A user theme
//! lives in `<config dir>/themes/NAME.toml` or anywhere as a file passed to `--theme`; it may
//! set only some colours, the rest come from its `base` theme. With `NO_COLOR` (or
//! `no_color`) every colour is dropped and the UI relies on modifiers alone.

use anyhow::{Context, bail};
use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

const EMBEDDED: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
];

/// Names of the themes built into the binary.
pub fn builtin_theme_names() -> Vec<&'static str> {
    EMBEDDED.iter().map(|(name, _)| *name).collect()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    base: Option<String>,
    #[serde(default)]
    colors: BTreeMap<String, String>,
}

macro_rules! palette {
    ($($field:ident),* $(,)?) => {
        /// One colour per role. Every field can be set from a theme file by its name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct Palette { $(pub $field: Color,)* }

        impl Palette {
            const NAMES: &'static [&'static str] = &[$(stringify!($field)),*];

            fn set(&mut self, key: &str, color: Color) -> bool {
                match key {
                    $(stringify!($field) => { self.$field = color; true })*
                    _ => false,
                }
            }

            fn monochrome() -> Self {
                Palette { $($field: Color::Reset,)* }
            }
        }
    };
}

palette!(
    text,
    dim,
    accent,
    border,
    border_focus,
    title,
    selection_bg,
    selection_fg,
    ok,
    warn,
    error,
    constraint,
    finding,
    partial,
    failure,
    quote_bg,
    line_number,
    badge_fg,
    running,
    paused,
    finalising,
    done,
    popup_bg,
);

/// A resolved theme: a palette plus whether colour is allowed at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub palette: Palette,
    pub color: bool,
}

impl Default for Theme {
    fn default() -> Self {
        Theme::builtin("dark").expect("the embedded dark theme parses")
    }
}

impl Theme {
    /// One of the embedded themes by name.
    pub fn builtin(name: &str) -> anyhow::Result<Theme> {
        let Some((_, text)) = EMBEDDED.iter().find(|(n, _)| *n == name) else {
            bail!(
                "unknown theme `{name}`; built-in themes are: {}",
                builtin_theme_names().join(", ")
            );
        };
        let palette = parse_theme(text, &mut Vec::new())
            .with_context(|| format!("embedded theme `{name}`"))?;
        Ok(Theme {
            palette,
            color: true,
        })
    }

    /// A monochrome theme: no colours, only bold/dim/reverse/underline.
    pub fn monochrome() -> Theme {
        Theme {
            palette: Palette::monochrome(),
            color: false,
        }
    }

    /// Resolve `--theme NAME|FILE` (or the default when `None`), honouring `no_color` and
    /// the `NO_COLOR` environment variable.
    pub fn resolve(
        spec: Option<&str>,
        config_dir: Option<&Path>,
        no_color: bool,
    ) -> anyhow::Result<Theme> {
        let no_color_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        // Still parse the requested theme so a typo is reported even in monochrome.
        let theme = match spec {
            None => Theme::default(),
            Some(spec) => Theme::load(spec, config_dir)?,
        };
        if no_color || no_color_env {
            return Ok(Theme::monochrome());
        }
        Ok(theme)
    }

    fn load(spec: &str, config_dir: Option<&Path>) -> anyhow::Result<Theme> {
        let as_path = PathBuf::from(spec);
        let looks_like_file = spec.ends_with(".toml") || spec.contains(std::path::MAIN_SEPARATOR);
        let user_file = config_dir.map(|d| d.join("themes").join(format!("{spec}.toml")));
        let file = if looks_like_file || as_path.is_file() {
            Some(as_path)
        } else {
            user_file.filter(|p| p.is_file())
        };
        match file {
            Some(path) => {
                let text = std::fs::read_to_string(&path).with_context(|| {
                    format!("cannot read theme file {}; check the path", path.display())
                })?;
                let palette = parse_theme(&text, &mut Vec::new())
                    .with_context(|| format!("theme file {}", path.display()))?;
                Ok(Theme {
                    palette,
                    color: true,
                })
            }
            None => Theme::builtin(spec).map_err(|e| {
                let hint = match config_dir {
                    Some(dir) => format!(" or a file in {}", dir.join("themes").display()),
                    None => String::new(),
                };
                anyhow::anyhow!("{e}{hint}, or pass a path to a .toml theme file")
            }),
        }
    }

    pub fn text(&self) -> Style {
        self.fg(self.palette.text)
    }
    pub fn dim(&self) -> Style {
        if self.color {
            self.fg(self.palette.dim)
        } else {
            Style::new().add_modifier(Modifier::DIM)
        }
    }
    pub fn accent(&self) -> Style {
        self.fg(self.palette.accent).add_modifier(Modifier::BOLD)
    }
    pub fn title(&self) -> Style {
        self.fg(self.palette.title).add_modifier(Modifier::BOLD)
    }
    pub fn border(&self, focused: bool) -> Style {
        if focused {
            self.fg(self.palette.border_focus)
                .add_modifier(Modifier::BOLD)
        } else if self.color {
            self.fg(self.palette.border)
        } else {
            Style::new().add_modifier(Modifier::DIM)
        }
    }
    /// The highlighted row of the focused pane.
    pub fn selection(&self, focused: bool) -> Style {
        if !self.color {
            return if focused {
                Style::new().add_modifier(Modifier::REVERSED)
            } else {
                Style::new().add_modifier(Modifier::UNDERLINED)
            };
        }
        let style = Style::new().bg(self.palette.selection_bg);
        if focused {
            style
                .fg(self.palette.selection_fg)
                .add_modifier(Modifier::BOLD)
        } else {
            style
        }
    }
    pub fn ok(&self) -> Style {
        self.fg(self.palette.ok)
    }
    pub fn warn(&self) -> Style {
        self.fg(self.palette.warn)
    }
    pub fn error(&self) -> Style {
        self.fg(self.palette.error)
    }
    pub fn role(&self, color: Color) -> Style {
        self.fg(color)
    }
    pub fn quote(&self) -> Style {
        if self.color {
            Style::new().bg(self.palette.quote_bg).fg(self.palette.text)
        } else {
            Style::new().add_modifier(Modifier::UNDERLINED)
        }
    }
    pub fn line_number(&self) -> Style {
        self.dim().fg(self.palette.line_number)
    }
    /// A solid badge such as the run state in the status bar.
    pub fn badge(&self, color: Color) -> Style {
        if self.color {
            Style::new()
                .bg(color)
                .fg(self.palette.badge_fg)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        }
    }
    /// A search match in a text view.
    pub fn search_match(&self) -> Style {
        if self.color {
            Style::new()
                .bg(self.palette.warn)
                .fg(self.palette.badge_fg)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        }
    }
    pub fn popup(&self) -> Style {
        if self.color {
            Style::new().bg(self.palette.popup_bg).fg(self.palette.text)
        } else {
            Style::new()
        }
    }

    fn fg(&self, color: Color) -> Style {
        if self.color {
            Style::new().fg(color)
        } else {
            Style::new()
        }
    }
}

/// Parse a theme file, resolving `base` chains (with a guard against cycles).
fn parse_theme(text: &str, seen: &mut Vec<String>) -> anyhow::Result<Palette> {
    let file: ThemeFile = toml::from_str(text).context("invalid theme TOML")?;
    let base_name = file.base.clone();
    let mut palette = match base_name.as_deref() {
        Some(base) => {
            if seen.iter().any(|s| s == base) {
                bail!("theme `base` chain loops through `{base}`");
            }
            seen.push(base.to_string());
            let Some((_, base_text)) = EMBEDDED.iter().find(|(n, _)| *n == base) else {
                bail!(
                    "unknown base theme `{base}`; use one of: {}",
                    builtin_theme_names().join(", ")
                );
            };
            parse_theme(base_text, seen)?
        }
        None if seen.is_empty() && !is_complete(&file) => {
            seen.push("dark".into());
            parse_theme(EMBEDDED[0].1, seen)?
        }
        None => Palette::monochrome(),
    };
    for (key, value) in &file.colors {
        let color = Color::from_str(value).map_err(|_| {
            anyhow::anyhow!(
                "colour `{value}` for `{key}` is not valid; use a name (red, lightblue, reset...), \
                 an index 0-255 or #rrggbb"
            )
        })?;
        if !palette.set(key, color) {
            bail!(
                "unknown colour key `{key}`; valid keys are: {}",
                Palette::NAMES.join(", ")
            );
        }
    }
    Ok(palette)
}

fn is_complete(file: &ThemeFile) -> bool {
    Palette::NAMES.iter().all(|n| file.colors.contains_key(*n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_themes_set_every_colour() {
        for (name, text) in EMBEDDED {
            let file: ThemeFile = toml::from_str(text).unwrap();
            assert!(is_complete(&file), "{name} misses a colour");
            Theme::builtin(name).unwrap();
        }
    }

    #[test]
    fn partial_user_theme_overrides_only_its_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mine.toml");
        std::fs::write(&path, "base = \"light\"\n[colors]\naccent = \"#ff0000\"\n").unwrap();
        let theme = Theme::load(path.to_str().unwrap(), None).unwrap();
        let light = Theme::builtin("light").unwrap();
        assert_eq!(theme.palette.accent, Color::Rgb(255, 0, 0));
        assert_eq!(theme.palette.text, light.palette.text);
    }

    #[test]
    fn user_theme_by_name_from_config_dir_defaults_to_dark_base() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("themes")).unwrap();
        std::fs::write(
            dir.path().join("themes/ocean.toml"),
            "[colors]\nok = \"cyan\"\n",
        )
        .unwrap();
        let theme = Theme::load("ocean", Some(dir.path())).unwrap();
        assert_eq!(theme.palette.ok, Color::Cyan);
        assert_eq!(theme.palette.text, Theme::default().palette.text);
    }

    #[test]
    fn bad_keys_and_names_say_what_is_valid() {
        let err = parse_theme("[colors]\nacent = \"red\"\n", &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("valid keys are"), "{err}");
        let err = Theme::load("solarised", None).unwrap_err();
        assert!(
            err.to_string().contains("dark, light, high-contrast"),
            "{err}"
        );
    }

    #[test]
    fn monochrome_has_no_colours() {
        let t = Theme::monochrome();
        assert_eq!(t.ok().fg, None);
        assert!(t.selection(true).add_modifier.contains(Modifier::REVERSED));
    }
}
