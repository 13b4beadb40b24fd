//! Colours and emphasis, with `NO_COLOR` honoured: without colour every
//! distinction falls back to bold, reverse video or a glyph. The colours
//! come from the config file's `[theme]` (defaults below).

use ratatui::style::{Color, Modifier, Style};

/// The colour of each role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Palette {
    /// Border of the focused pane, keys.
    pub focus: Color,
    /// Border of other panes.
    pub border: Color,
    /// Column headers and titles.
    pub header: Color,
    /// Success.
    pub ok: Color,
    /// Warnings (duplicates, countdowns).
    pub warn: Color,
    /// Errors and failures.
    pub error: Color,
    /// Secondary text.
    pub dim: Color,
    /// Keys in the hint bar and help.
    pub key: Color,
}

impl Default for Palette {
    fn default() -> Self {
        Palette {
            focus: Color::Cyan,
            border: Color::DarkGray,
            header: Color::Yellow,
            ok: Color::Green,
            warn: Color::Yellow,
            error: Color::Red,
            dim: Color::DarkGray,
            key: Color::Cyan,
        }
    }
}

impl Palette {
    /// The roles by their config names, with a way to set each.
    pub const ROLES: [&'static str; 8] = [
        "focus", "border", "header", "ok", "warn", "error", "dim", "key",
    ];

    /// The colour of role `name`, to change it.
    pub fn role_mut(&mut self, name: &str) -> Option<&mut Color> {
        Some(match name {
            "focus" => &mut self.focus,
            "border" => &mut self.border,
            "header" => &mut self.header,
            "ok" => &mut self.ok,
            "warn" => &mut self.warn,
            "error" => &mut self.error,
            "dim" => &mut self.dim,
            "key" => &mut self.key,
            _ => return None,
        })
    }
}

/// The styles the views use. Cheap to copy.
#[derive(Debug, Clone, Copy)]
pub struct Theme {
    /// Whether colours may be used (false when `NO_COLOR` is set).
    pub color: bool,
    /// The colours.
    pub palette: Palette,
}

impl Theme {
    /// Colour unless `NO_COLOR` is set to a non-empty value, default colours.
    pub fn from_env() -> Theme {
        Theme::with_palette(Palette::default())
    }

    /// `palette`, unless `NO_COLOR` is set.
    pub fn with_palette(palette: Palette) -> Theme {
        Theme::with_palette_unless(palette, super::edge::no_color())
    }

    /// `palette` (a config file's colours), no colour at all when
    /// `no_color`: `NO_COLOR` wins over the config.
    fn with_palette_unless(palette: Palette, no_color: bool) -> Theme {
        Theme {
            color: !no_color,
            palette,
        }
    }

    /// No colour at all (tests, `NO_COLOR`).
    pub fn plain() -> Theme {
        Theme {
            color: false,
            palette: Palette::default(),
        }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    /// Border of the focused pane.
    pub fn focus(&self) -> Style {
        self.fg(self.palette.focus).add_modifier(Modifier::BOLD)
    }
    /// Border of other panes.
    pub fn border(&self) -> Style {
        self.fg(self.palette.border)
    }
    /// The selected row.
    pub fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }
    /// Column headers and titles.
    pub fn header(&self) -> Style {
        self.fg(self.palette.header).add_modifier(Modifier::BOLD)
    }
    /// Success.
    pub fn ok(&self) -> Style {
        self.fg(self.palette.ok)
    }
    /// Warnings (duplicates, countdowns).
    pub fn warn(&self) -> Style {
        self.fg(self.palette.warn).add_modifier(Modifier::BOLD)
    }
    /// Errors and failures.
    pub fn error(&self) -> Style {
        self.fg(self.palette.error).add_modifier(Modifier::BOLD)
    }
    /// Secondary text.
    pub fn dim(&self) -> Style {
        if self.color {
            self.fg(self.palette.dim)
        } else {
            Style::new().add_modifier(Modifier::DIM)
        }
    }
    /// Keys in the hint bar and help.
    pub fn key(&self) -> Style {
        self.fg(self.palette.key).add_modifier(Modifier::BOLD)
    }
    /// A search match.
    pub fn found(&self) -> Style {
        self.warn().add_modifier(Modifier::UNDERLINED)
    }
    /// The current search match.
    pub fn found_here(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_turns_colour_off_over_the_config() {
        let configured = Palette {
            ok: Color::Magenta,
            ..Palette::default()
        };
        let t = Theme::with_palette_unless(configured, true);
        for style in [
            t.focus(),
            t.border(),
            t.header(),
            t.ok(),
            t.warn(),
            t.error(),
            t.dim(),
            t.key(),
        ] {
            assert_eq!((style.fg, style.bg), (None, None), "{style:?}");
        }
        // Emphasis stays, so the screen still reads.
        assert!(t.error().add_modifier.contains(Modifier::BOLD));
        let t = Theme::with_palette_unless(configured, false);
        assert_eq!(t.ok().fg, Some(Color::Magenta));
    }
}
