//! Themes: named styles for every part of the UI, read from TOML.
//!
//! Built-in themes live in `themes/*.toml` (embedded); a user theme is
//! `$XDG_CONFIG_HOME/rota/themes/NAME.toml` and may set only some styles (the rest come
//! from `default-dark`). Colours are ANSI names, 256-colour indexes (`"208"`) or `#rrggbb`.
//! With `NO_COLOR` set, [`Theme::no_color`] uses only modifiers (bold, reverse, …).

use crate::engine::EntryState;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Padding};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The built-in themes: (name, TOML text).
pub const BUILTIN: [(&str, &str); 3] = [
    (
        "default-dark",
        include_str!("../../themes/default-dark.toml"),
    ),
    ("light", include_str!("../../themes/light.toml")),
    ("16-color", include_str!("../../themes/16-color.toml")),
];

/// How many colours the code highlighter may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum Depth {
    /// 24-bit colour.
    #[serde(rename = "truecolor")]
    TrueColor,
    /// The xterm 256-colour palette.
    #[serde(rename = "256")]
    Indexed,
    /// The 16 ANSI colours.
    #[serde(rename = "16")]
    Ansi,
}

/// Why a theme could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    /// No built-in or user theme has the name.
    #[error(
        "no theme named `{name}`: use one of {builtin} or put {name}.toml in {dir}",
        builtin = builtin_names().join(", "),
        dir = user_dir().map(|d| d.display().to_string()).unwrap_or_else(|| "$XDG_CONFIG_HOME/rota/themes".into())
    )]
    NotFound {
        /// The name asked for.
        name: String,
    },
    /// The file could not be read.
    #[error("cannot read theme {path}: {source}; check the file's permissions")]
    Read {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The file is not a valid theme.
    #[error("invalid theme {origin}: {message}")]
    Invalid {
        /// The file or built-in name.
        origin: String,
        /// What is wrong (with line and column when TOML reports them).
        message: String,
    },
}

/// The styles of every part of the UI.
#[derive(Clone, Debug, PartialEq)]
pub struct Theme {
    /// The theme's name.
    pub name: String,
    /// Colour depth for highlighted code.
    pub depth: Depth,
    /// The syntect theme for code blocks; `None` turns highlighting off (NO_COLOR).
    pub syntax: Option<String>,
    /// Plain text.
    pub text: Style,
    /// Secondary text (hints, units).
    pub dim: Style,
    /// Highlights (the selected task, titles).
    pub accent: Style,
    /// Pane borders.
    pub border: Style,
    /// The focused pane's border.
    pub border_focus: Style,
    /// Pane titles.
    pub title: Style,
    /// The "you" header.
    pub user: Style,
    /// The assistant header.
    pub assistant: Style,
    /// Rotation notices in the chat.
    pub notice: Style,
    /// Errors.
    pub error: Style,
    /// Markdown headings.
    pub heading: Style,
    /// Markdown emphasis.
    pub emphasis: Style,
    /// Markdown strong.
    pub strong: Style,
    /// Inline code.
    pub code_inline: Style,
    /// Code blocks when not highlighted.
    pub code_block: Style,
    /// Links.
    pub link: Style,
    /// Block quotes.
    pub quote: Style,
    /// A selected item (task, key row).
    pub selected: Style,
    /// Gauge state: available.
    pub available: Style,
    /// Gauge state: at capacity.
    pub at_capacity: Style,
    /// Gauge state: cooling.
    pub cooling: Style,
    /// Gauge state: failed.
    pub failed: Style,
    /// Gauge state: no key.
    pub no_key: Style,
    /// Gauge state: disabled.
    pub disabled: Style,
    /// The empty part of a gauge bar.
    pub bar_empty: Style,
    /// The status line.
    pub status: Style,
    /// The footer hint.
    pub footer: Style,
    /// Key names in hints and help.
    pub key: Style,
}

/// One style as written in TOML.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StyleSpec {
    fg: Option<String>,
    bg: Option<String>,
    #[serde(default)]
    bold: bool,
    #[serde(default)]
    italic: bool,
    #[serde(default)]
    underline: bool,
    #[serde(default)]
    reversed: bool,
    #[serde(default)]
    dim: bool,
}

/// A theme file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: Option<String>,
    depth: Option<Depth>,
    syntax: Option<String>,
    #[serde(default)]
    styles: BTreeMap<String, StyleSpec>,
}

/// The names of the built-in themes.
pub fn builtin_names() -> Vec<&'static str> {
    BUILTIN.iter().map(|(n, _)| *n).collect()
}

/// Where user themes live: `$XDG_CONFIG_HOME/rota/themes`.
pub fn user_dir() -> Option<PathBuf> {
    directories::BaseDirs::new().map(|b| b.config_dir().join("rota").join("themes"))
}

/// Whether `NO_COLOR` asks for no colours (set and not empty).
pub fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

fn parse_color(s: &str, origin: &str, slot: &str) -> Result<Color, ThemeError> {
    s.parse::<Color>().map_err(|_| ThemeError::Invalid {
        origin: origin.to_string(),
        message: format!(
            "`{slot}`: `{s}` is not a colour; write a name (cyan), an index 0-255 (\"208\") or #rrggbb"
        ),
    })
}

impl StyleSpec {
    fn to_style(&self, origin: &str, slot: &str) -> Result<Style, ThemeError> {
        let mut st = Style::default();
        if let Some(fg) = &self.fg {
            st = st.fg(parse_color(fg, origin, slot)?);
        }
        if let Some(bg) = &self.bg {
            st = st.bg(parse_color(bg, origin, slot)?);
        }
        let mut m = Modifier::empty();
        for (on, bit) in [
            (self.bold, Modifier::BOLD),
            (self.italic, Modifier::ITALIC),
            (self.underline, Modifier::UNDERLINED),
            (self.reversed, Modifier::REVERSED),
            (self.dim, Modifier::DIM),
        ] {
            if on {
                m |= bit;
            }
        }
        Ok(st.add_modifier(m))
    }
}

impl Theme {
    /// The frame of a full-screen view: focused border, `title` on top, its keys at the
    /// bottom, a column of padding on each side.
    pub fn view_block<'a>(&self, title: &'a str, keys: &'a str) -> Block<'a> {
        Block::default()
            .borders(Borders::ALL)
            .border_style(self.border_focus)
            .padding(Padding::horizontal(1))
            .title(Span::styled(title, self.title))
            .title_bottom(Span::styled(keys, self.footer))
    }

    /// The default theme (`default-dark`).
    pub fn default_dark() -> Self {
        Self::from_builtin("default-dark").unwrap_or_else(|_| Self::no_color())
    }

    /// A built-in theme by name (`default` is `default-dark`).
    pub fn from_builtin(name: &str) -> Result<Self, ThemeError> {
        let name = if name == "default" {
            "default-dark"
        } else {
            name
        };
        let text = BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| *t)
            .ok_or_else(|| ThemeError::NotFound {
                name: name.to_string(),
            })?;
        Self::parse(text, name, &Self::no_color())
    }

    /// Loads a theme by name: the user's file first, then the built-in one. With
    /// `no_color` (e.g. from [`no_color_env`]) the result is [`Theme::no_color`].
    pub fn load(name: &str, no_color: bool) -> Result<Self, ThemeError> {
        if no_color {
            return Ok(Self::no_color());
        }
        if let Some(dir) = user_dir() {
            let path = dir.join(format!("{name}.toml"));
            if path.is_file() {
                return Self::load_file(&path);
            }
        }
        Self::from_builtin(name)
    }

    /// Loads a theme file; styles it does not set come from `default-dark`.
    pub fn load_file(path: &Path) -> Result<Self, ThemeError> {
        let text = std::fs::read_to_string(path).map_err(|source| ThemeError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string(), &Self::default_dark())
    }

    /// Parses theme TOML over a base theme. `origin` names the source in errors.
    pub fn parse(text: &str, origin: &str, base: &Theme) -> Result<Self, ThemeError> {
        let file: ThemeFile = toml::from_str(text).map_err(|e| ThemeError::Invalid {
            origin: origin.to_string(),
            message: e.to_string().trim().to_string(),
        })?;
        let mut t = base.clone();
        t.name = file.name.unwrap_or_else(|| origin.to_string());
        if let Some(d) = file.depth {
            t.depth = d;
        }
        if let Some(syn) = file.syntax {
            let known = super::markdown::syntax_themes();
            if !known.contains(&syn) {
                return Err(ThemeError::Invalid {
                    origin: origin.to_string(),
                    message: format!(
                        "unknown syntax theme `{syn}`; use one of {}",
                        known.join(", ")
                    ),
                });
            }
            t.syntax = Some(syn);
        }
        for (slot, spec) in &file.styles {
            let style = spec.to_style(origin, slot)?;
            let target = t.slot_mut(slot).ok_or_else(|| ThemeError::Invalid {
                origin: origin.to_string(),
                message: format!("unknown style `{slot}`; known: {}", SLOTS.join(", ")),
            })?;
            *target = style;
        }
        Ok(t)
    }

    /// The theme used with `NO_COLOR`: no colours at all, only modifiers.
    pub fn no_color() -> Self {
        let plain = Style::default();
        let bold = Style::default().add_modifier(Modifier::BOLD);
        let dim = Style::default().add_modifier(Modifier::DIM);
        let rev = Style::default().add_modifier(Modifier::REVERSED);
        Self {
            name: "no-color".into(),
            depth: Depth::Ansi,
            syntax: None,
            text: plain,
            dim,
            accent: bold,
            border: plain,
            border_focus: bold,
            title: bold,
            user: bold,
            assistant: bold,
            notice: Style::default().add_modifier(Modifier::ITALIC),
            error: bold.add_modifier(Modifier::UNDERLINED),
            heading: bold.add_modifier(Modifier::UNDERLINED),
            emphasis: Style::default().add_modifier(Modifier::ITALIC),
            strong: bold,
            code_inline: bold,
            code_block: plain,
            link: Style::default().add_modifier(Modifier::UNDERLINED),
            quote: Style::default().add_modifier(Modifier::ITALIC),
            selected: rev,
            available: bold,
            at_capacity: plain,
            cooling: Style::default().add_modifier(Modifier::ITALIC),
            failed: rev,
            no_key: dim,
            disabled: dim,
            bar_empty: dim,
            status: rev,
            footer: dim,
            key: bold,
        }
    }

    /// The style of a gauge state.
    pub fn state(&self, s: EntryState) -> Style {
        match s {
            EntryState::Available => self.available,
            EntryState::AtCapacity => self.at_capacity,
            EntryState::Cooling => self.cooling,
            EntryState::Unavailable => self.no_key,
            EntryState::Failed => self.failed,
            EntryState::NoKey => self.no_key,
            EntryState::Disabled => self.disabled,
        }
    }

    /// Whether this theme uses colour (false for NO_COLOR).
    pub fn has_color(&self) -> bool {
        self.syntax.is_some()
    }

    fn slot_mut(&mut self, slot: &str) -> Option<&mut Style> {
        Some(match slot {
            "text" => &mut self.text,
            "dim" => &mut self.dim,
            "accent" => &mut self.accent,
            "border" => &mut self.border,
            "border_focus" => &mut self.border_focus,
            "title" => &mut self.title,
            "user" => &mut self.user,
            "assistant" => &mut self.assistant,
            "notice" => &mut self.notice,
            "error" => &mut self.error,
            "heading" => &mut self.heading,
            "emphasis" => &mut self.emphasis,
            "strong" => &mut self.strong,
            "code_inline" => &mut self.code_inline,
            "code_block" => &mut self.code_block,
            "link" => &mut self.link,
            "quote" => &mut self.quote,
            "selected" => &mut self.selected,
            "available" => &mut self.available,
            "at_capacity" => &mut self.at_capacity,
            "cooling" => &mut self.cooling,
            "failed" => &mut self.failed,
            "no_key" => &mut self.no_key,
            "disabled" => &mut self.disabled,
            "bar_empty" => &mut self.bar_empty,
            "status" => &mut self.status,
            "footer" => &mut self.footer,
            "key" => &mut self.key,
            _ => return None,
        })
    }

    /// Reduces a 24-bit colour to what the theme's depth allows.
    pub fn reduce(&self, r: u8, g: u8, b: u8) -> Color {
        match self.depth {
            Depth::TrueColor => Color::Rgb(r, g, b),
            Depth::Indexed => Color::Indexed(rgb_to_256(r, g, b)),
            Depth::Ansi => rgb_to_16(r, g, b),
        }
    }
}

/// Every style slot a theme file may set.
pub const SLOTS: [&str; 28] = [
    "text",
    "dim",
    "accent",
    "border",
    "border_focus",
    "title",
    "user",
    "assistant",
    "notice",
    "error",
    "heading",
    "emphasis",
    "strong",
    "code_inline",
    "code_block",
    "link",
    "quote",
    "selected",
    "available",
    "at_capacity",
    "cooling",
    "failed",
    "no_key",
    "disabled",
    "bar_empty",
    "status",
    "footer",
    "key",
];

/// The nearest xterm-256 colour (the 6×6×6 cube or the grey ramp).
pub fn rgb_to_256(r: u8, g: u8, b: u8) -> u8 {
    const STEPS: [u8; 6] = [0, 95, 135, 175, 215, 255];
    let cube = |v: u8| -> usize {
        let mut best = 0;
        for (i, s) in STEPS.iter().enumerate() {
            if (*s as i32 - v as i32).abs() < (STEPS[best] as i32 - v as i32).abs() {
                best = i;
            }
        }
        best
    };
    let (ri, gi, bi) = (cube(r), cube(g), cube(b));
    let cube_rgb = (STEPS[ri], STEPS[gi], STEPS[bi]);
    let avg = (r as u32 + g as u32 + b as u32) / 3;
    let grey_i = ((avg.saturating_sub(8)) / 10).min(23) as u8;
    let grey_v = 8 + grey_i * 10;
    let dist = |a: (u8, u8, u8)| {
        let d = |x: u8, y: u8| (x as i32 - y as i32).pow(2);
        d(a.0, r) + d(a.1, g) + d(a.2, b)
    };
    if dist((grey_v, grey_v, grey_v)) < dist(cube_rgb) {
        232 + grey_i
    } else {
        16 + 36 * ri as u8 + 6 * gi as u8 + bi as u8
    }
}

/// The nearest of the 16 ANSI colours (by their usual xterm values).
pub fn rgb_to_16(r: u8, g: u8, b: u8) -> Color {
    const PAL: [(Color, (u8, u8, u8)); 16] = [
        (Color::Black, (0, 0, 0)),
        (Color::Red, (205, 0, 0)),
        (Color::Green, (0, 205, 0)),
        (Color::Yellow, (205, 205, 0)),
        (Color::Blue, (0, 0, 238)),
        (Color::Magenta, (205, 0, 205)),
        (Color::Cyan, (0, 205, 205)),
        (Color::Gray, (229, 229, 229)),
        (Color::DarkGray, (127, 127, 127)),
        (Color::LightRed, (255, 0, 0)),
        (Color::LightGreen, (0, 255, 0)),
        (Color::LightYellow, (255, 255, 0)),
        (Color::LightBlue, (92, 92, 255)),
        (Color::LightMagenta, (255, 0, 255)),
        (Color::LightCyan, (0, 255, 255)),
        (Color::White, (255, 255, 255)),
    ];
    let d = |x: u8, y: u8| (x as i32 - y as i32).pow(2);
    PAL.iter()
        .min_by_key(|(_, (pr, pg, pb))| d(*pr, r) + d(*pg, g) + d(*pb, b))
        .map(|(c, _)| *c)
        .unwrap_or(Color::Reset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_theme_parses_and_sets_every_slot() {
        for (name, text) in BUILTIN {
            let t = Theme::from_builtin(name).unwrap();
            assert_eq!(t.name, name);
            assert!(t.syntax.is_some());
            // Every slot is named in the file, so none is left at the no-color base.
            for slot in SLOTS {
                assert!(
                    text.contains(&format!("\n{slot} = ")),
                    "{name} lacks {slot}"
                );
            }
        }
        assert_eq!(
            Theme::from_builtin("default").unwrap(),
            Theme::default_dark()
        );
    }

    #[test]
    fn builtin_themes_use_no_truecolor_styles() {
        for (name, _) in BUILTIN {
            let t = Theme::from_builtin(name).unwrap();
            let mut tt = t.clone();
            for slot in SLOTS {
                let st = *tt.slot_mut(slot).unwrap();
                for c in [st.fg, st.bg].into_iter().flatten() {
                    assert!(!matches!(c, Color::Rgb(..)), "{name}.{slot} is truecolour");
                }
            }
            if name == "16-color" {
                assert!(!matches!(t.accent.fg, Some(Color::Indexed(_))));
            }
        }
    }

    #[test]
    fn user_theme_overrides_some_slots_and_rejects_unknown() {
        let base = Theme::default_dark();
        let t = Theme::parse(
            "name = \"mine\"\n[styles]\naccent = { fg = \"#ff8800\", bold = true }\n",
            "mine.toml",
            &base,
        )
        .unwrap();
        assert_eq!(t.accent.fg, Some(Color::Rgb(0xff, 0x88, 0)));
        assert_eq!(t.user, base.user);
        let err = Theme::parse("[styles]\nnope = { fg = \"red\" }\n", "x.toml", &base)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown style `nope`"), "{err}");
        let err = Theme::parse("[styles]\ntext = { fg = \"mauve\" }\n", "x.toml", &base)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a colour"), "{err}");
        let err = Theme::from_builtin("nosuch").unwrap_err().to_string();
        assert!(err.contains("default-dark"), "{err}");
    }

    #[test]
    fn theme_files_load_and_report_bad_toml_with_position() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("mine.toml");
        std::fs::write(
            &good,
            "name = \"mine\"\ndepth = \"16\"\n[styles]\nuser = { fg = \"magenta\" }\n",
        )
        .unwrap();
        let t = Theme::load_file(&good).unwrap();
        assert_eq!(t.name, "mine");
        assert_eq!(t.depth, Depth::Ansi);
        assert_eq!(t.user.fg, Some(Color::Magenta));
        assert_eq!(t.accent, Theme::default_dark().accent);
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "name = \"x\"\ncolour = 3\n").unwrap();
        let err = Theme::load_file(&bad).unwrap_err().to_string();
        assert!(err.contains("bad.toml") && err.contains("line 2"), "{err}");
        std::fs::write(&bad, "syntax = \"nope\"\n").unwrap();
        let err = Theme::load_file(&bad).unwrap_err().to_string();
        assert!(
            err.contains("unknown syntax theme `nope`") && err.contains("InspiredGitHub"),
            "{err}"
        );
        let missing = Theme::load_file(&dir.path().join("none.toml")).unwrap_err();
        assert!(matches!(missing, ThemeError::Read { .. }));
        assert_eq!(Theme::load("light", true).unwrap(), Theme::no_color());
    }

    #[test]
    fn no_color_theme_has_no_colours() {
        let mut t = Theme::no_color();
        for slot in SLOTS {
            let st = *t.slot_mut(slot).unwrap();
            assert!(st.fg.is_none() && st.bg.is_none(), "{slot}");
        }
        assert!(!t.has_color());
    }

    #[test]
    fn colour_reduction_picks_near_colours() {
        assert_eq!(rgb_to_256(0, 0, 0), 16);
        assert_eq!(rgb_to_256(255, 255, 255), 231);
        assert_eq!(rgb_to_256(128, 128, 128), 244);
        assert_eq!(rgb_to_256(255, 0, 0), 196);
        assert_eq!(rgb_to_16(250, 10, 10), Color::LightRed);
        assert_eq!(rgb_to_16(0, 190, 0), Color::Green);
    }
}
